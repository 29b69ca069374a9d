/* vr-init's configuration: the model and its parser.
 *
 * Pure: libc only, no system calls, no GLib (vr-init is PID 1 of a minimal initramfs,
 * linked static), so make check links this file into a host test too
 * (tests/test-guest-config.c) and parses what the rewrite writes (guest_config() in
 * lib/xml/vr-rewrite.c).
 *
 * Configuration: fw_cfg file opt/org.virt-router/config (libvirt:
 * <sysinfo type='fwcfg'><entry name='opt/org.virt-router/config'>...), one directive
 * per line (or separated by ';'), '#' starts a comment:
 *   version 1
 *   name vr1
 *   port wan mac 52:54:00:aa:bb:01 [mtu 1500]   the NIC with this MAC becomes "wan"
 *   port lan [mtu 1500]                        no MAC (a pool VF): the next NIC left, PCI order
 *   addr wan 192.0.2.1/24                      IPv4 or IPv6, several allowed
 *   route default|DST via GW [dev PORT]  |  route DST dev PORT
 *   police wan rate 800000pps burst 64         ingress policer (ARP passes); or rate 100000000bit (k, M, G)
 *   shape lan rate 800000pps burst 64          egress: tbf for bit/s, a police for pps;
 *                                              bursts are in packets (of MTU + 14 bytes for bit/s)
 *   rps off|on                                 default off; rp_filter is always loose
 *   counters-every SECONDS                     print counters periodically */
#pragma once

#include <arpa/inet.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MAX_PORTS = 16, MAX_ADDRS = 64, MAX_ROUTES = 64 };

struct rate {
        uint64_t value; /* packets/s when pps, else bit/s; 0: none */
        bool pps;
        uint32_t burst; /* packets */
};

struct port {
        char name[IFNAMSIZ];
        unsigned char mac[6];
        bool has_mac; /* without one (a VF from a pool), the next unclaimed NIC in PCI order */
        unsigned mtu; /* 0: the driver's */
        struct rate police, shape;
        bool up; /* not configuration: set at boot when its NIC was found, named and brought up */
};

struct addr {
        int port;
        char cidr[INET6_ADDRSTRLEN + 5];
        bool v6;
};

struct route {
        char dst[INET6_ADDRSTRLEN + 5];
        char via[INET6_ADDRSTRLEN];
        int port; /* -1: any */
};

struct config {
        char name[65];
        struct port ports[MAX_PORTS];
        size_t n_ports;
        struct addr addrs[MAX_ADDRS];
        size_t n_addrs;
        struct route routes[MAX_ROUTES];
        size_t n_routes;
        bool rps;
        unsigned counters_every;
};

/* One bad directive: its line (from 1), its first word and what was expected. The
 * parser goes on with the next directive; what was good still applies. */
typedef void config_error_fn(unsigned lineno, const char *directive, const char *msg, void *data);

/* The configuration before any directive: name "router", nothing else. */
void config_init(struct config *cfg);
/* Parses text (modified in place) into cfg, which config_init prepared; on_error is
 * called for each directive refused. */
void config_parse(struct config *cfg, char *text, config_error_fn *on_error, void *data);
/* The port's index, or -1. */
int config_find_port(const struct config *cfg, const char *name);
/* "52:54:00:aa:bb:01", as the config and sysfs write a MAC. */
bool config_parse_mac(const char *s, unsigned char mac[6]);
