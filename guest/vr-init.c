/* vr-init: PID 1 of the virt-router guest, /init in the initramfs `make guest` builds.
 *
 * The only program that runs at boot (no shell): it mounts the API file systems,
 * loads the kernel modules the router needs, reads its configuration from QEMU's
 * fw_cfg, names the NICs after the ports by MAC, sets addresses and routes (ip),
 * tunes for forwarding, installs policers and shapers (tc), says VR-READY on the
 * console and then serves counters until it powers the guest off. Static, libc only.
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
 *   counters-every SECONDS                     print counters periodically
 *
 * Console lines (one write each, for the host to parse):
 *   VR-READY name=NAME uptime_ms=N ports=P1,P2
 *   VR-ERROR msg=TEXT
 *   VR-COUNTERS port=P rx_packets=N tx_packets=N rx_dropped=N tx_dropped=N police_drops=N shape_drops=N
 *   VR-POWEROFF reason=power-button|TERM|INT|PWR   (ACPI button, signals, Ctrl-Alt-Del)
 * Counters are printed on SIGUSR1, every counters-every seconds, and for a line
 * "counters" read from the serial console, /dev/hvc0 or the virtio-serial port
 * org.virt-router.0 (there the reply also goes back to the asker).
 *
 * Run as an ordinary process (not PID 1) it is a build and test helper:
 *   vr-init --modules       the modules it may load, as "WHEN NAME" lines
 *   vr-init --dry-run FILE  parse a config, print the ip and tc batches it would run */
#define _GNU_SOURCE
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/input.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define CONFIG_PATH "/sys/firmware/qemu_fw_cfg/by_name/opt/org.virt-router/config/raw"
#define CHANNEL_NAME "org.virt-router.0"
#define IP_PATH "/sbin/ip"
#define TC_PATH "/sbin/tc"

enum { MAX_PORTS = 16, MAX_ADDRS = 64, MAX_ROUTES = 64, MAX_CHANNELS = 8, MAX_MODULES = 128 };

/* ---------------------------------------------------------------------------
 * Modules: which, and when. The image build asks for this list (--modules), so it
 * is written down once. */
enum when { AT_BOOT, FOR_PCI, FOR_TC };
static const char *const when_names[] = {"boot", "pci", "tc"};

static const struct wanted {
        const char *name;
        enum when when;
} wanted[] = {
        /* fw_cfg first: the configuration is there as soon as it loads */
        {"qemu_fw_cfg", AT_BOOT},
        /* virtio-net, in the order that works (virtio_net's deps resolve the rest) */
        {"virtio_ring", AT_BOOT},
        {"virtio", AT_BOOT},
        {"virtio_pci_modern_dev", AT_BOOT},
        {"virtio_pci_legacy_dev", AT_BOOT},
        {"virtio_pci", AT_BOOT},
        {"failover", AT_BOOT},
        {"net_failover", AT_BOOT},
        {"virtio_net", AT_BOOT},
        /* hvc0 and named virtio-serial ports: the host's counters channel */
        {"virtio_console", AT_BOOT},
        /* ACPI power button as an input device: what `virsh shutdown` presses */
        {"button", AT_BOOT},
        {"evdev", AT_BOOT},
        /* VF drivers: loaded only for a PCI device they claim (modules.alias) */
        {"ixgbevf", FOR_PCI},
        {"iavf", FOR_PCI},
        {"igbvf", FOR_PCI},
        {"mlx5_core", FOR_PCI},
        /* tc: clsact lives in sch_ingress; loaded only when a port is policed or shaped */
        {"sch_ingress", FOR_TC},
        {"cls_matchall", FOR_TC},
        {"act_police", FOR_TC},
        {"act_gact", FOR_TC}, /* "action ok": ARP passes the policers */
        {"sch_tbf", FOR_TC},
        {"cls_u32", FOR_TC},
        {"sch_htb", FOR_TC},
};

/* ---------------------------------------------------------------------------
 * Configuration model */
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
        bool up; /* its NIC was found, named and brought up */
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

static struct config cfg = {.name = "router"};
static int out_fd = STDOUT_FILENO;

/* ---------------------------------------------------------------------------
 * Output: every message is one line, written with one write(2). */
static void emit_fd(int fd, const char *line) {
        size_t len = strlen(line);
        while (len > 0) {
                ssize_t n = write(fd, line, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN) { /* a channel's reader is slow: wait a little */
                        struct pollfd pfd = {fd, POLLOUT, 0};
                        if (poll(&pfd, 1, 100) > 0)
                                continue;
                }
                if (n <= 0)
                        return;
                line += n;
                len -= (size_t) n;
        }
}

__attribute__((format(printf, 1, 2))) static void report_error(const char *fmt, ...) {
        char msg[512], line[600];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        for (char *p = msg; *p; p++) /* one line, whatever the message holds */
                if (*p == '\n' || *p == '\r')
                        *p = ' ';
        snprintf(line, sizeof(line), "VR-ERROR msg=%s\n", msg);
        emit_fd(out_fd, line);
}

/* ---------------------------------------------------------------------------
 * Small file helpers */
static int write_file(const char *path, const char *value) {
        int fd = open(path, O_WRONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, value, strlen(value));
        if (n < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        close(fd);
        return 0;
}

/* Reads up to size-1 bytes, NUL-terminated; returns the length or -errno. */
static ssize_t read_file(const char *path, char *buf, size_t size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        size_t len = 0;

        if (fd < 0)
                return -errno;
        while (len + 1 < size) {
                ssize_t n = read(fd, buf + len, size - 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        int r = -errno;
                        close(fd);
                        return r;
                }
                if (n == 0)
                        break;
                len += (size_t) n;
        }
        close(fd);
        buf[len] = '\0';
        return (ssize_t) len;
}

static uint64_t read_u64(const char *path) {
        char buf[32];
        return read_file(path, buf, sizeof(buf)) > 0 ? strtoull(buf, NULL, 10) : 0;
}

/* ---------------------------------------------------------------------------
 * Configuration parser. Every problem is one VR-ERROR; the rest still applies. */
static bool valid_name(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n >= IFNAMSIZ)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && *s != '_' && *s != '-' && *s != '.')
                        return false;
        return true;
}

static int find_port(const char *name) {
        for (size_t i = 0; i < cfg.n_ports; i++)
                if (strcmp(cfg.ports[i].name, name) == 0)
                        return (int) i;
        return -1;
}

static bool parse_mac(const char *s, unsigned char mac[6]) {
        if (strlen(s) != 17)
                return false;
        for (int i = 0; i < 6; i++) {
                const char *h = s + 3 * i;
                if (!isxdigit((unsigned char) h[0]) || !isxdigit((unsigned char) h[1]) || (i < 5 && h[2] != ':'))
                        return false;
                mac[i] = (unsigned char) strtoul((char[3]){h[0], h[1], '\0'}, NULL, 16);
        }
        return true;
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *ret) {
        char *end;
        uint64_t v;
        if (!isdigit((unsigned char) *s))
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v > max)
                return false;
        *ret = v;
        return true;
}

/* "800000pps", "800kpps", "100000000bit", "1Gbit": SI multipliers, as tc. */
static bool parse_rate(const char *s, struct rate *r) {
        char *end;
        uint64_t v, mult = 1;

        if (!isdigit((unsigned char) *s))
                return false;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || v == 0)
                return false;
        switch (*end) {
        case 'k':
        case 'K':
                mult = 1000;
                end++;
                break;
        case 'm':
        case 'M':
                mult = 1000000;
                end++;
                break;
        case 'g':
        case 'G':
                mult = 1000000000;
                end++;
                break;
        default:
                break;
        }
        if (strcmp(end, "pps") == 0)
                r->pps = true;
        else if (strcmp(end, "bit") == 0)
                r->pps = false;
        else
                return false;
        if (v > UINT64_MAX / mult)
                return false;
        r->value = v * mult;
        return true;
}

/* Address with prefix; returns the family or 0. */
static int parse_cidr(const char *s, char *out, size_t out_size) {
        char host[INET6_ADDRSTRLEN + 1];
        unsigned char bin[16];
        const char *slash = strchr(s, '/');
        size_t hl = slash ? (size_t) (slash - s) : strlen(s);
        uint64_t plen;
        int family;

        if (hl == 0 || hl >= sizeof(host) || !slash)
                return 0;
        memcpy(host, s, hl);
        host[hl] = '\0';
        family = strchr(host, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(family, host, bin) != 1)
                return 0;
        if (!parse_uint(slash + 1, family == AF_INET6 ? 128 : 32, &plen))
                return 0;
        snprintf(out, out_size, "%s/%" PRIu64, host, plen);
        return family;
}

static int parse_ip(const char *s, char *out, size_t out_size) {
        unsigned char bin[16];
        int family = strchr(s, ':') ? AF_INET6 : AF_INET;
        if (strlen(s) >= out_size || inet_pton(family, s, bin) != 1)
                return 0;
        strcpy(out, s);
        return family;
}

/* Rate directives: "police|shape PORT rate R burst B". */
static const char *parse_rate_directive(char **tok, int ntok, struct rate *r) {
        uint64_t burst;
        if (ntok != 6 || strcmp(tok[2], "rate") != 0 || strcmp(tok[4], "burst") != 0)
                return "expected PORT rate RATE burst PACKETS";
        if (!parse_rate(tok[3], r))
                return "rate: expected a number with pps or bit (e.g. 800000pps, 100000000bit)";
        if (!parse_uint(tok[5], UINT32_MAX, &burst) || burst == 0) {
                r->value = 0;
                return "burst: expected a number of packets above 0";
        }
        r->burst = (uint32_t) burst;
        return NULL;
}

static const char *parse_directive(char **tok, int ntok) {
        const char *d = tok[0];
        uint64_t v;
        int p;

        if (strcmp(d, "version") == 0) {
                if (ntok != 2 || strcmp(tok[1], "1") != 0)
                        return "unsupported version (this guest reads version 1)";
        } else if (strcmp(d, "name") == 0) {
                if (ntok != 2 || strlen(tok[1]) >= sizeof(cfg.name))
                        return "expected one name of at most 64 characters";
                for (const char *c = tok[1]; *c; c++) /* it becomes the host name */
                        if (!isgraph((unsigned char) *c))
                                return "name: printable characters only";
                strcpy(cfg.name, tok[1]);
        } else if (strcmp(d, "port") == 0) {
                struct port *port = &cfg.ports[cfg.n_ports];
                if (ntok < 2 || ntok % 2 != 0)
                        return "expected port NAME [mac MAC] [mtu N]";
                if (!valid_name(tok[1]) || strcmp(tok[1], "lo") == 0)
                        return "port name: 1-15 letters, digits, '_', '-', '.'";
                if (find_port(tok[1]) >= 0)
                        return "port defined twice";
                if (cfg.n_ports == MAX_PORTS)
                        return "too many ports";
                memset(port, 0, sizeof(*port));
                for (int i = 2; i < ntok; i += 2) {
                        if (strcmp(tok[i], "mac") == 0) {
                                if (!parse_mac(tok[i + 1], port->mac))
                                        return "mac: expected xx:xx:xx:xx:xx:xx";
                                port->has_mac = true;
                        } else if (strcmp(tok[i], "mtu") == 0) {
                                if (!parse_uint(tok[i + 1], 65535, &v) || v < 68)
                                        return "mtu: expected 68-65535";
                                port->mtu = (unsigned) v;
                        } else {
                                return "expected port NAME [mac MAC] [mtu N]";
                        }
                }
                strcpy(port->name, tok[1]);
                cfg.n_ports++;
        } else if (strcmp(d, "addr") == 0) {
                struct addr *a = &cfg.addrs[cfg.n_addrs];
                int family;
                if (ntok != 3)
                        return "expected addr PORT ADDRESS/PREFIX";
                if ((p = find_port(tok[1])) < 0)
                        return "unknown port (declare it with 'port' first)";
                if (cfg.n_addrs == MAX_ADDRS)
                        return "too many addresses";
                if (!(family = parse_cidr(tok[2], a->cidr, sizeof(a->cidr))))
                        return "expected an IPv4 or IPv6 address with a prefix length";
                a->port = p;
                a->v6 = family == AF_INET6;
                cfg.n_addrs++;
        } else if (strcmp(d, "route") == 0) {
                struct route *rt = &cfg.routes[cfg.n_routes];
                int fdst = 0, fvia = 0, i = 2;
                if (ntok < 4)
                        return "expected route DST via GATEWAY [dev PORT] or route DST dev PORT";
                if (cfg.n_routes == MAX_ROUTES)
                        return "too many routes";
                memset(rt, 0, sizeof(*rt));
                rt->port = -1;
                if (strcmp(tok[i], "via") == 0 && i + 1 < ntok) {
                        if (!(fvia = parse_ip(tok[i + 1], rt->via, sizeof(rt->via))))
                                return "via: expected an IPv4 or IPv6 address";
                        i += 2;
                }
                if (i + 1 < ntok && strcmp(tok[i], "dev") == 0) {
                        if ((rt->port = find_port(tok[i + 1])) < 0)
                                return "dev: unknown port";
                        i += 2;
                }
                if (i != ntok || (!fvia && rt->port < 0))
                        return "expected route DST via GATEWAY [dev PORT] or route DST dev PORT";
                if (strcmp(tok[1], "default") == 0) {
                        /* spelled out in the gateway's family, so ip never has to guess it */
                        fdst = fvia == AF_INET6 ? AF_INET6 : AF_INET;
                        strcpy(rt->dst, fdst == AF_INET6 ? "::/0" : "0.0.0.0/0");
                } else if (!(fdst = parse_cidr(tok[1], rt->dst, sizeof(rt->dst)))) {
                        return "destination: expected default or ADDRESS/PREFIX";
                }
                if (fvia && fvia != fdst)
                        return "gateway and destination are of different address families";
                cfg.n_routes++;
        } else if (strcmp(d, "police") == 0 || strcmp(d, "shape") == 0) {
                struct rate r = {0};
                const char *err;
                if (ntok < 2 || (p = find_port(tok[1])) < 0)
                        return "unknown port (declare it with 'port' first)";
                if ((err = parse_rate_directive(tok, ntok, &r)))
                        return err;
                if (d[0] == 'p')
                        cfg.ports[p].police = r;
                else
                        cfg.ports[p].shape = r;
        } else if (strcmp(d, "rps") == 0) {
                if (ntok != 2 || (strcmp(tok[1], "on") != 0 && strcmp(tok[1], "off") != 0))
                        return "expected rps on or rps off";
                cfg.rps = strcmp(tok[1], "on") == 0;
        } else if (strcmp(d, "counters-every") == 0) {
                if (ntok != 2 || !parse_uint(tok[1], 86400, &v))
                        return "expected counters-every SECONDS (0-86400)";
                cfg.counters_every = (unsigned) v;
        } else {
                return "unknown directive";
        }
        return NULL;
}

/* text is modified in place. ';' separates directives like a newline (for configs
 * written on one line); '#' comments out the rest of the line. */
static void parse_config(char *text) {
        unsigned lineno = 0;

        for (char *line = text, *next; line; line = next) {
                char *hash, *parts = NULL;

                lineno++;
                if ((next = strchr(line, '\n'))) /* not strtok: blank lines count */
                        *next++ = '\0';
                if ((hash = strchr(line, '#')))
                        *hash = '\0';
                for (char *d = strtok_r(line, ";", &parts); d; d = strtok_r(NULL, ";", &parts)) {
                        char *tok[16], *ts = NULL;
                        const char *err;
                        int ntok = 0;

                        for (char *t = strtok_r(d, " \t\r", &ts); t && ntok < 16; t = strtok_r(NULL, " \t\r", &ts))
                                tok[ntok++] = t;
                        if (ntok > 0 && (err = parse_directive(tok, ntok)))
                                report_error("config line %u: %s: %s", lineno, tok[0], err);
                }
        }
}

/* ---------------------------------------------------------------------------
 * What to run: the ip and tc batches follow from the configuration alone. */
__attribute__((format(printf, 4, 5))) static size_t append(char *buf, size_t size, size_t len, const char *fmt, ...) {
        va_list ap;
        int n;
        if (len >= size)
                return len;
        va_start(ap, fmt);
        n = vsnprintf(buf + len, size - len, fmt, ap);
        va_end(ap);
        return n < 0 ? len : len + (size_t) n;
}

/* Addresses and routes of the ports that came up. */
static size_t ip_batch(char *buf, size_t size) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < cfg.n_addrs; i++) {
                const struct addr *a = &cfg.addrs[i];
                if (!cfg.ports[a->port].up)
                        continue;
                /* a router must answer at once: no duplicate address detection delay */
                len = append(buf, size, len, "address add %s dev %s%s\n", a->cidr, cfg.ports[a->port].name,
                             a->v6 ? " nodad" : "");
        }
        for (size_t i = 0; i < cfg.n_routes; i++) {
                const struct route *rt = &cfg.routes[i];
                if (rt->port >= 0 && !cfg.ports[rt->port].up)
                        continue;
                len = append(buf, size, len, "route add %s", rt->dst);
                if (rt->via[0])
                        len = append(buf, size, len, " via %s", rt->via);
                if (rt->port >= 0)
                        len = append(buf, size, len, " dev %s", cfg.ports[rt->port].name);
                len = append(buf, size, len, "\n");
        }
        return len;
}

/* Police action indexes name the port and direction, so counters find them. */
static unsigned police_index(size_t port, bool egress) {
        return (unsigned) (2 * port + (egress ? 2 : 1));
}

static size_t police_action(char *buf, size_t size, size_t len, const struct port *p, const struct rate *r,
                            unsigned index) {
        if (r->pps)
                len = append(buf, size, len, "police pkts_rate %" PRIu64 " pkts_burst %" PRIu32, r->value, r->burst);
        else /* a bit-rate bucket holds burst full-size frames */
                len = append(buf, size, len, "police rate %" PRIu64 "bit burst %" PRIu64, r->value,
                             (uint64_t) r->burst * ((p->mtu ? p->mtu : 1500) + 14));
        return append(buf, size, len, " conform-exceed drop/ok index %u\n", index);
}

/* Policer: clsact ingress, matchall, police (drops before any forwarding work).
 * Shaper: tbf for a bit rate; for a packet rate tc has no queueing discipline, so
 * an egress police on clsact enforces it (drops instead of delaying). */
static size_t tc_batch(char *buf, size_t size) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < cfg.n_ports; i++) {
                const struct port *p = &cfg.ports[i];
                bool egress_police = p->shape.value && p->shape.pps;
                if (!p->up || (!p->police.value && !p->shape.value))
                        continue;
                if (p->police.value || egress_police)
                        len = append(buf, size, len, "qdisc add dev %s clsact\n", p->name);
                /* ARP first and unpoliced: a router kept at its rate, or overloaded,
                 * must still resolve its neighbours. */
                if (p->police.value) {
                        len = append(buf, size, len, "filter add dev %s ingress pref 1 protocol arp matchall action ok\n", p->name);
                        len = append(buf, size, len, "filter add dev %s ingress pref 2 matchall action ", p->name);
                        len = police_action(buf, size, len, p, &p->police, police_index(i, false));
                }
                if (egress_police) {
                        len = append(buf, size, len, "filter add dev %s egress pref 1 protocol arp matchall action ok\n", p->name);
                        len = append(buf, size, len, "filter add dev %s egress pref 2 matchall action ", p->name);
                        len = police_action(buf, size, len, p, &p->shape, police_index(i, true));
                } else if (p->shape.value) {
                        uint64_t bucket = (uint64_t) p->shape.burst * ((p->mtu ? p->mtu : 1500) + 14);
                        len = append(buf, size, len, "qdisc add dev %s root tbf rate %" PRIu64 "bit", p->name,
                                     p->shape.value);
                        /* as many bytes may wait as one burst holds */
                        len = append(buf, size, len, " burst %" PRIu64 " limit %" PRIu64 "\n", bucket, bucket);
                }
        }
        return len;
}

static bool need_tc(void) {
        for (size_t i = 0; i < cfg.n_ports; i++)
                if (cfg.ports[i].police.value || cfg.ports[i].shape.value)
                        return true;
        return false;
}

/* ---------------------------------------------------------------------------
 * Child processes: ip and tc, fed on stdin; stderr lines become VR-ERROR. */
static sigset_t handled_signals;

static void report_stderr(const char *prog, char *text) {
        char *save = NULL;
        for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
                report_error("%s: %s", prog, l);
}

/* Returns the exit status, or -errno when it could not run. out may be NULL. */
static int run(const char *const argv[], const char *input, char *out, size_t out_size) {
        int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}}, *in = pipes[0], *o = pipes[1], *e = pipes[2], status;
        size_t in_len = input ? strlen(input) : 0, in_off = 0, out_len = 0, err_len = 0;
        char err[4096];
        pid_t pid = -1;

        for (int k = 0; k < 3; k++)
                if (pipe2(pipes[k], O_CLOEXEC) < 0)
                        goto fail;
        if ((pid = fork()) < 0)
                goto fail;
        if (pid == 0) {
                sigprocmask(SIG_UNBLOCK, &handled_signals, NULL);
                signal(SIGPIPE, SIG_DFL);
                dup2(in[0], STDIN_FILENO);
                dup2(o[1], STDOUT_FILENO);
                dup2(e[1], STDERR_FILENO);
                execv(argv[0], (char *const *) argv);
                dprintf(STDERR_FILENO, "cannot run %s: %s\n", argv[0], strerror(errno));
                _exit(127);
        }
        close(in[0]), close(o[1]), close(e[1]);
        fcntl(in[1], F_SETFL, O_NONBLOCK);
        if (in_len == 0) {
                close(in[1]);
                in[1] = -1;
        }
        /* Write and read together: a child that answers while reading must not block us. */
        while (o[0] >= 0 || e[0] >= 0) {
                struct pollfd pfd[3] = {{in[1], POLLOUT, 0}, {o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
                if (poll(pfd, 3, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (pfd[0].revents) {
                        ssize_t n = write(in[1], input + in_off, in_len - in_off);
                        if (n > 0)
                                in_off += (size_t) n;
                        if (n < 0 || in_off == in_len) {
                                close(in[1]);
                                in[1] = -1;
                        }
                }
                for (int k = 1; k <= 2; k++) {
                        char sink[1024], *dst = sink;
                        size_t room = sizeof(sink), *len = NULL;
                        ssize_t n;
                        if (!pfd[k].revents)
                                continue;
                        if (k == 1 && out && out_len + 1 < out_size)
                                dst = out + out_len, room = out_size - 1 - out_len, len = &out_len;
                        else if (k == 2 && err_len + 1 < sizeof(err))
                                dst = err + err_len, room = sizeof(err) - 1 - err_len, len = &err_len;
                        n = read(pfd[k].fd, dst, room);
                        if (n > 0 && len)
                                *len += (size_t) n;
                        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                                close(pfd[k].fd);
                                if (k == 1)
                                        o[0] = -1;
                                else
                                        e[0] = -1;
                        }
                }
        }
        if (in[1] >= 0)
                close(in[1]);
        if (out)
                out[out_len] = '\0';
        err[err_len] = '\0';
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        report_stderr(strrchr(argv[0], '/') + 1, err);
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);

fail:
        status = -errno;
        for (int k = 0; k < 3; k++)
                for (int j = 0; j < 2; j++)
                        if (pipes[k][j] >= 0)
                                close(pipes[k][j]);
        return status;
}

/* ---------------------------------------------------------------------------
 * Kernel modules: modules.dep in the image lists only what the image holds. */
struct module {
        char name[64];
        char *path; /* relative to the modules dir */
        char *deps; /* space-separated paths */
        bool loaded, visiting;
};

static struct module modules[MAX_MODULES];
static size_t n_modules;
static char modules_dir[PATH_MAX];
static char *modules_dep;

static void module_name(const char *path, char *name, size_t size) {
        const char *base = strrchr(path, '/');
        size_t n;
        base = base ? base + 1 : path;
        n = strcspn(base, ".");
        if (n >= size)
                n = size - 1;
        for (size_t i = 0; i < n; i++) /* the kernel treats '-' and '_' alike */
                name[i] = base[i] == '-' ? '_' : base[i];
        name[n] = '\0';
}

static void modules_init(void) {
        struct utsname u;
        char path[PATH_MAX + 16];
        struct stat st;
        int fd;

        uname(&u);
        snprintf(modules_dir, sizeof(modules_dir), "/lib/modules/%s", u.release);
        snprintf(path, sizeof(path), "%s/modules.dep", modules_dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                report_error("no modules for kernel %s in the image (%s: %s)", u.release, path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return;
        }
        modules_dep = calloc(1, (size_t) st.st_size + 1);
        if (!modules_dep || read(fd, modules_dep, (size_t) st.st_size) != st.st_size) {
                report_error("%s: cannot read it", path);
                close(fd);
                return;
        }
        close(fd);
        for (char *save = NULL, *l = strtok_r(modules_dep, "\n", &save); l && n_modules < MAX_MODULES;
             l = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(l, ':');
                struct module *m = &modules[n_modules];
                if (!colon)
                        continue;
                *colon = '\0';
                m->path = l;
                m->deps = colon + 1;
                module_name(l, m->name, sizeof(m->name));
                n_modules++;
        }
}

static struct module *module_find(const char *name) {
        char norm[64];
        module_name(name, norm, sizeof(norm));
        for (size_t i = 0; i < n_modules; i++)
                if (strcmp(modules[i].name, norm) == 0)
                        return &modules[i];
        return NULL;
}

/* Loads a module after its dependencies. Returns 0, or -ENOENT when the image
 * does not hold it (a driver this kernel lacks), or another -errno. */
static int module_load(const char *name) {
        struct module *m = module_find(name);
        char path[PATH_MAX * 2], deps[1024], *save = NULL;
        int fd, r = 0;

        if (!m)
                return -ENOENT;
        if (m->loaded || m->visiting)
                return 0;
        m->visiting = true;
        snprintf(deps, sizeof(deps), "%s", m->deps);
        for (char *d = strtok_r(deps, " ", &save); d; d = strtok_r(NULL, " ", &save))
                if ((r = module_load(d)) < 0 && r != -EEXIST)
                        report_error("module %s: dependency %s: %s", m->name, d, strerror(-r));
        snprintf(path, sizeof(path), "%s/%s", modules_dir, m->path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
        } else {
                r = syscall(SYS_finit_module, fd, "", 0) < 0 ? -errno : 0;
                close(fd);
        }
        m->visiting = false;
        m->loaded = r == 0 || r == -EEXIST;
        return m->loaded ? 0 : r;
}

static void load_modules(enum when when) {
        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
                int r;
                if (wanted[i].when != when)
                        continue;
                r = module_load(wanted[i].name);
                /* A boot module may be built in; a tc one must be there. */
                if (r < 0 && !(r == -ENOENT && when == AT_BOOT))
                        report_error("module %s: %s", wanted[i].name, strerror(-r));
        }
}

/* VF drivers only for devices they claim: a VF-less router loads none of them. */
static void load_pci_drivers(void) {
        static char alias[65536], copy[sizeof(alias)];
        char path[PATH_MAX + 32], modalias[256];
        DIR *dir;
        struct dirent *de;

        snprintf(path, sizeof(path), "%s/modules.alias", modules_dir);
        if (read_file(path, alias, sizeof(alias)) <= 0 || !(dir = opendir("/sys/bus/pci/devices")))
                return;
        while ((de = readdir(dir))) {
                char *save = NULL;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", de->d_name);
                if (access(path, F_OK) == 0)
                        continue;
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/modalias", de->d_name);
                if (read_file(path, modalias, sizeof(modalias)) <= 0)
                        continue;
                modalias[strcspn(modalias, "\n")] = '\0';
                memcpy(copy, alias, sizeof(copy));
                /* lines: alias PATTERN MODULE */
                for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                        char pattern[256], mod[64];
                        int r;
                        if (sscanf(l, "alias %255s %63s", pattern, mod) != 2 || fnmatch(pattern, modalias, 0) != 0)
                                continue;
                        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
                                if (wanted[i].when == FOR_PCI && strcmp(wanted[i].name, mod) == 0 &&
                                    (r = module_load(mod)) < 0)
                                        report_error("module %s for PCI device %s: %s", mod, de->d_name, strerror(-r));
                }
        }
        closedir(dir);
}

/* ---------------------------------------------------------------------------
 * Ports: find each NIC by MAC, name it, size its rings, bring it up. */
static bool nic_mac(const char *ifname, unsigned char mac[6]) {
        char path[PATH_MAX], buf[64];
        /* an enslaved NIC (net_failover's standby and primary) shares its master's MAC */
        snprintf(path, sizeof(path), "/sys/class/net/%s/master", ifname);
        if (access(path, F_OK) == 0)
                return false;
        snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
        if (read_file(path, buf, sizeof(buf)) <= 0)
                return false;
        buf[strcspn(buf, "\n")] = '\0';
        return parse_mac(buf, mac);
}

struct nic {
        char name[IFNAMSIZ];
        unsigned char mac[6];
        char dev[PATH_MAX]; /* its device in sysfs: PCI order for the ports without a MAC */
};

static int nic_cmp(const void *a, const void *b) {
        return strcmp(((const struct nic *) a)->dev, ((const struct nic *) b)->dev);
}

/* NICs on a bus (no loopback, tunnels or other virtual devices), in PCI order. */
static size_t list_nics(struct nic *nics, size_t max) {
        DIR *dir = opendir("/sys/class/net");
        struct dirent *de;
        size_t n = 0;

        if (!dir)
                return 0;
        while (n < max && (de = readdir(dir))) {
                char path[PATH_MAX];
                if (de->d_name[0] == '.' || strlen(de->d_name) >= IFNAMSIZ || !nic_mac(de->d_name, nics[n].mac))
                        continue;
                snprintf(path, sizeof(path), "/sys/class/net/%s/device", de->d_name);
                if (!realpath(path, nics[n].dev))
                        continue;
                strcpy(nics[n].name, de->d_name);
                n++;
        }
        closedir(dir);
        qsort(nics, n, sizeof(nics[0]), nic_cmp);
        return n;
}

static int if_ioctl(int sock, unsigned long req, struct ifreq *ifr, const char *ifname) {
        size_t n = strnlen(ifname, IFNAMSIZ - 1);
        memcpy(ifr->ifr_name, ifname, n);
        ifr->ifr_name[n] = '\0';
        return ioctl(sock, req, ifr) < 0 ? -errno : 0;
}

static int rename_nic(int sock, const char *from, const char *to) {
        struct ifreq ifr = {0};
        snprintf(ifr.ifr_newname, IFNAMSIZ, "%s", to);
        return if_ioctl(sock, SIOCSIFNAME, &ifr, from);
}

/* Rings as large as the driver allows: a router's bursts must not overflow them. */
static void tune_rings(int sock, const char *ifname) {
        struct ethtool_ringparam ring = {.cmd = ETHTOOL_GRINGPARAM};
        struct ifreq ifr = {.ifr_data = (void *) &ring};
        int r;

        if (if_ioctl(sock, SIOCETHTOOL, &ifr, ifname) < 0)
                return; /* no rings to size */
        if (ring.rx_pending == ring.rx_max_pending && ring.tx_pending == ring.tx_max_pending)
                return;
        ring.cmd = ETHTOOL_SRINGPARAM;
        ring.rx_pending = ring.rx_max_pending;
        ring.tx_pending = ring.tx_max_pending;
        r = if_ioctl(sock, SIOCETHTOOL, &ifr, ifname);
        if (r < 0 && r != -EOPNOTSUPP)
                report_error("port %s: ring sizes rx %u tx %u: %s", ifname, ring.rx_max_pending, ring.tx_max_pending,
                             strerror(-r));
}

static void bring_up(int sock, struct port *p) {
        struct ifreq ifr = {0};
        int r;

        tune_rings(sock, p->name);
        if (p->mtu) {
                ifr.ifr_mtu = (int) p->mtu;
                if ((r = if_ioctl(sock, SIOCSIFMTU, &ifr, p->name)) < 0)
                        report_error("port %s: mtu %u: %s", p->name, p->mtu, strerror(-r));
        }
        if ((r = if_ioctl(sock, SIOCGIFFLAGS, &ifr, p->name)) == 0) {
                ifr.ifr_flags |= IFF_UP;
                r = if_ioctl(sock, SIOCSIFFLAGS, &ifr, p->name);
        }
        if (r < 0) {
                report_error("port %s: cannot bring it up: %s", p->name, strerror(-r));
                return;
        }
        p->up = true;
}

/* Which NIC each port gets: by MAC, then the ports without one take the NICs left,
 * in PCI order. Returns how many ports have one. */
static size_t match_nics(char found[][IFNAMSIZ]) {
        static struct nic nics[64];
        bool claimed[64] = {false};
        size_t n = list_nics(nics, 64), matched = 0, next = 0;

        for (size_t i = 0; i < cfg.n_ports; i++) {
                found[i][0] = '\0';
                for (size_t j = 0; cfg.ports[i].has_mac && j < n && !found[i][0]; j++)
                        if (!claimed[j] && memcmp(nics[j].mac, cfg.ports[i].mac, 6) == 0) {
                                claimed[j] = true;
                                strcpy(found[i], nics[j].name);
                                matched++;
                        }
        }
        for (size_t i = 0; i < cfg.n_ports; i++) {
                if (cfg.ports[i].has_mac)
                        continue;
                while (next < n && claimed[next])
                        next++;
                if (next == n)
                        break;
                claimed[next] = true;
                strcpy(found[i], nics[next].name);
                matched++;
        }
        return matched;
}

/* NICs appear as their drivers probe; give late ones a little time. */
static void setup_ports(void) {
        char found[MAX_PORTS][IFNAMSIZ];
        int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        struct ifreq lo = {0};

        if (sock < 0) {
                report_error("socket: %s", strerror(errno));
                return;
        }
        if (if_ioctl(sock, SIOCGIFFLAGS, &lo, "lo") == 0) {
                lo.ifr_flags |= IFF_UP;
                if_ioctl(sock, SIOCSIFFLAGS, &lo, "lo");
        }
        for (int tries = 0; match_nics(found) < cfg.n_ports && tries < 200; tries++)
                usleep(10000);
        /* Through temporary names, so ports may take names NICs have now (eth1 <-> eth0). */
        for (size_t i = 0; i < cfg.n_ports; i++) {
                char tmp[IFNAMSIZ];
                int r;
                if (!found[i][0] || strcmp(found[i], cfg.ports[i].name) == 0)
                        continue;
                snprintf(tmp, sizeof(tmp), "vrtmp%zu", i);
                if ((r = rename_nic(sock, found[i], tmp)) < 0) {
                        report_error("port %s: cannot rename %s: %s", cfg.ports[i].name, found[i], strerror(-r));
                        found[i][0] = '\0';
                        continue;
                }
                strcpy(found[i], tmp);
        }
        for (size_t i = 0; i < cfg.n_ports; i++) {
                struct port *p = &cfg.ports[i];
                int r;
                if (!found[i][0] && p->has_mac) {
                        report_error("port %s: no NIC with MAC %02x:%02x:%02x:%02x:%02x:%02x", p->name, p->mac[0],
                                     p->mac[1], p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
                        continue;
                }
                if (!found[i][0]) {
                        report_error("port %s: no NIC left for a port without a MAC", p->name);
                        continue;
                }
                if (strcmp(found[i], p->name) != 0 && (r = rename_nic(sock, found[i], p->name)) < 0) {
                        report_error("port %s: cannot rename %s: %s", p->name, found[i], strerror(-r));
                        continue;
                }
                bring_up(sock, p);
        }
        close(sock);
}

/* ---------------------------------------------------------------------------
 * Forwarding: sysctls, RPS, interrupt affinity. */
static void set_sysctl(const char *path, const char *value) {
        int r = write_file(path, value);
        if (r < 0)
                report_error("%s: %s", path, strerror(-r));
}

static void for_each_entry(const char *dir_path, void (*fn)(const char *dir, const char *name, void *data),
                           void *data) {
        DIR *dir = opendir(dir_path);
        struct dirent *de;
        if (!dir)
                return;
        while ((de = readdir(dir)))
                if (de->d_name[0] != '.')
                        fn(dir_path, de->d_name, data);
        closedir(dir);
}

static void set_rps(const char *dir, const char *name, void *data) {
        char path[PATH_MAX * 2];
        if (strncmp(name, "rx-", 3) != 0)
                return;
        snprintf(path, sizeof(path), "%s/%s/rps_cpus", dir, name);
        write_file(path, data);
}

/* A mask of the first ncpu CPUs as the kernel writes it: 32-bit hex words, commas. */
static void cpu_mask(long ncpu, char *buf, size_t size) {
        size_t len = 0;
        long words = (ncpu + 31) / 32;
        buf[0] = '\0';
        for (long w = words - 1; w >= 0; w--) {
                long bits = ncpu - w * 32;
                uint32_t v = bits >= 32 ? UINT32_MAX : (uint32_t) ((1u << bits) - 1);
                len = append(buf, size, len, w == words - 1 ? "%x" : ",%08x", v);
        }
}

struct irq_spread {
        long ncpu, next;
};

static void set_irq(const char *dir, const char *name, void *data) {
        struct irq_spread *s = data;
        char path[sizeof("/proc/irq//smp_affinity_list") + NAME_MAX], cpu[24];
        int r;
        (void) dir;
        snprintf(path, sizeof(path), "/proc/irq/%s/smp_affinity_list", name);
        snprintf(cpu, sizeof(cpu), "%ld", s->next);
        s->next = (s->next + 1) % s->ncpu;
        /* managed interrupts (EIO) are already spread by the kernel */
        if ((r = write_file(path, cpu)) < 0 && r != -EIO)
                report_error("%s: %s", path, strerror(-r));
}

static void tune_forwarding(void) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        struct irq_spread spread = {.ncpu = ncpu > 0 ? ncpu : 1};
        char mask[256];

        if (cfg.rps)
                cpu_mask(spread.ncpu, mask, sizeof(mask));
        else
                strcpy(mask, "0");
        for (size_t i = 0; i < cfg.n_ports; i++) {
                char path[PATH_MAX + 16], dev[PATH_MAX];
                if (!cfg.ports[i].up)
                        continue;
                snprintf(path, sizeof(path), "/sys/class/net/%s/queues", cfg.ports[i].name);
                for_each_entry(path, set_rps, mask);
                if (spread.ncpu < 2)
                        continue;
                /* MSI vectors belong to the PCI device: the NIC's device (a VF) or its
                 * parent (virtio-net sits on a virtio device on a PCI device). */
                snprintf(path, sizeof(path), "/sys/class/net/%s/device", cfg.ports[i].name);
                if (!realpath(path, dev))
                        continue;
                snprintf(path, sizeof(path), "%s/msi_irqs", dev);
                if (access(path, F_OK) != 0)
                        snprintf(path, sizeof(path), "%s/../msi_irqs", dev);
                for_each_entry(path, set_irq, &spread);
        }
}

/* ---------------------------------------------------------------------------
 * Counters */

/* Drops per police action index from `tc -s -j actions list action police`:
 * each action object has "index" before its "stats" with "drops". */
static uint64_t police_drops(const char *json, unsigned index) {
        char key[32];
        const char *p;
        snprintf(key, sizeof(key), "\"index\":%u,", index);
        if (!json || !(p = strstr(json, key)) || !(p = strstr(p, "\"drops\":")))
                return 0;
        return strtoull(p + 8, NULL, 10);
}

static void print_counters(int reply_fd) {
        static char json[65536];
        bool have_json = false;

        if (need_tc()) {
                const char *argv[] = {TC_PATH, "-s", "-j", "actions", "list", "action", "police", NULL};
                have_json = run(argv, NULL, json, sizeof(json)) == 0;
        }
        for (size_t i = 0; i < cfg.n_ports; i++) {
                const struct port *p = &cfg.ports[i];
                static const char *const stat[] = {"rx_packets", "tx_packets", "rx_dropped", "tx_dropped"};
                uint64_t v[4];
                char line[512], path[PATH_MAX];
                if (!p->up)
                        continue;
                for (int k = 0; k < 4; k++) {
                        snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", p->name, stat[k]);
                        v[k] = read_u64(path);
                }
                snprintf(line, sizeof(line),
                         "VR-COUNTERS port=%s rx_packets=%" PRIu64 " tx_packets=%" PRIu64 " rx_dropped=%" PRIu64
                         " tx_dropped=%" PRIu64 " police_drops=%" PRIu64 " shape_drops=%" PRIu64 "\n",
                         p->name, v[0], v[1], v[2], v[3], have_json ? police_drops(json, police_index(i, false)) : 0,
                         have_json ? police_drops(json, police_index(i, true)) : 0);
                emit_fd(out_fd, line);
                if (reply_fd >= 0 && reply_fd != out_fd)
                        emit_fd(reply_fd, line);
        }
}

/* ---------------------------------------------------------------------------
 * Boot */
static void mount_api(void) {
        static const struct {
                const char *src, *dir, *type;
                unsigned long flags;
        } m[] = {
                {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC},
                {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC},
                {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID},
                {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV},
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
                mkdir(m[i].dir, 0755);
                if (mount(m[i].src, m[i].dir, m[i].type, m[i].flags, NULL) < 0 && errno != EBUSY)
                        report_error("mount %s: %s", m[i].dir, strerror(errno));
        }
}

/* The kernel opens the console for init when the initramfs has /dev/console; make
 * sure of it now that devtmpfs is there, and stop it echoing what the host types. */
static void setup_console(void) {
        struct termios t;
        if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
                int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (fd >= 0) {
                        dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
                        if (fd > 2)
                                close(fd);
                }
        }
        if (tcgetattr(STDIN_FILENO, &t) == 0) {
                t.c_lflag &= ~(tcflag_t) (ECHO | ECHONL | ISIG);
                t.c_lflag |= ICANON;
                tcsetattr(STDIN_FILENO, TCSANOW, &t);
        }
}

static void read_config(void) {
        static char text[65536];
        ssize_t n = read_file(CONFIG_PATH, text, sizeof(text));
        if (n < 0) {
                report_error("no configuration: %s: %s (give the domain <sysinfo type='fwcfg'> with entry "
                             "opt/org.virt-router/config)",
                             CONFIG_PATH, strerror((int) -n));
                return;
        }
        parse_config(text);
}

static void configure_network(void) {
        static char batch[65536];

        /* forwarding before the ports come up: a router takes no addresses from router
         * advertisements, only those it is given */
        set_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
        set_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
        set_sysctl("/proc/sys/net/ipv6/conf/default/forwarding", "1");
        /* loose: asymmetric routes through a router are normal */
        set_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "2");
        set_sysctl("/proc/sys/net/ipv4/conf/default/rp_filter", "2");
        setup_ports();
        tune_forwarding();
        if (ip_batch(batch, sizeof(batch)) > 0) {
                const char *argv[] = {IP_PATH, "-force", "-batch", "-", NULL};
                int r = run(argv, batch, NULL, 0);
                if (r < 0)
                        report_error("%s: %s", IP_PATH, strerror(-r));
        }
        if (tc_batch(batch, sizeof(batch)) > 0) {
                const char *argv[] = {TC_PATH, "-force", "-batch", "-", NULL};
                int r = run(argv, batch, NULL, 0);
                if (r < 0)
                        report_error("%s: %s", TC_PATH, strerror(-r));
        }
}

static uint64_t uptime_ms(void) {
        char buf[64], *dot;
        uint64_t ms;
        if (read_file("/proc/uptime", buf, sizeof(buf)) <= 0)
                return 0;
        ms = strtoull(buf, &dot, 10) * 1000;
        if (*dot == '.')
                ms += strtoull(dot + 1, NULL, 10) * 10; /* centiseconds */
        return ms;
}

static void report_ready(void) {
        char line[512];
        size_t len = 0;
        len = append(line, sizeof(line), len, "VR-READY name=%s uptime_ms=%" PRIu64 " ports=", cfg.name, uptime_ms());
        for (size_t i = 0, n = 0; i < cfg.n_ports; i++)
                if (cfg.ports[i].up)
                        len = append(line, sizeof(line), len, "%s%s", n++ ? "," : "", cfg.ports[i].name);
        append(line, sizeof(line), len, "\n");
        emit_fd(out_fd, line);
}

/* ---------------------------------------------------------------------------
 * Run time: channels the host may ask on, the power button, signals. */
struct channel {
        int fd;
        bool idle; /* a virtio port whose host side is not connected: HUP until it is */
        char dev[64];
        char buf[256];
        size_t len;
};

static struct channel channels[MAX_CHANNELS];
static size_t n_channels;
static int power_fd = -1;

static void channel_add(int fd, const char *dev) {
        struct channel *c = &channels[n_channels++];
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        snprintf(c->dev, sizeof(c->dev), "%s", dev);
}

static void channel_open(const char *dev) {
        struct termios t;
        int fd;

        for (size_t i = 0; i < n_channels; i++)
                if (strcmp(channels[i].dev, dev) == 0)
                        return;
        if (n_channels == MAX_CHANNELS || (fd = open(dev, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
                return;
        if (tcgetattr(fd, &t) == 0) { /* hvc0: no echo, no line editing */
                cfmakeraw(&t);
                tcsetattr(fd, TCSANOW, &t);
        }
        channel_add(fd, dev);
}

static void find_named_port(const char *dir, const char *name, void *data) {
        char path[PATH_MAX], pname[128], dev[64];
        (void) data;
        snprintf(path, sizeof(path), "%s/%s/name", dir, name);
        if (read_file(path, pname, sizeof(pname)) <= 0)
                return;
        pname[strcspn(pname, "\n")] = '\0';
        if (strcmp(pname, CHANNEL_NAME) != 0)
                return;
        snprintf(dev, sizeof(dev), "/dev/%s", name);
        channel_open(dev);
}

/* Virtio ports appear asynchronously after their driver loads: called on uevents. */
static void scan_channels(void) {
        if (access("/dev/hvc0", F_OK) == 0)
                channel_open("/dev/hvc0");
        for_each_entry("/sys/class/virtio-ports", find_named_port, NULL);
}

static void find_power_button(const char *dir, const char *name, void *data) {
        char path[PATH_MAX], dname[128];
        (void) data;
        if (power_fd >= 0 || strncmp(name, "event", 5) != 0)
                return;
        snprintf(path, sizeof(path), "%s/%s/device/name", dir, name);
        if (read_file(path, dname, sizeof(dname)) <= 0 || strncmp(dname, "Power Button", 12) != 0)
                return;
        snprintf(path, sizeof(path), "/dev/input/%s", name);
        power_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

static void handle_command(struct channel *c, int reply_fd) {
        char *line = c->buf;
        line[strcspn(line, "\r\n")] = '\0';
        while (*line == ' ' || *line == '\t')
                line++;
        if (strcmp(line, "counters") == 0)
                print_counters(reply_fd);
        else if (*line)
                report_error("unknown command '%.64s' (known: counters)", line);
}

/* Collects lines and runs them; returns false when the channel is gone. One read
 * per wakeup: the console is a blocking tty (it shares its file with our output). */
static bool channel_read(struct channel *c, int reply_fd) {
        char *nl;
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        if (n == 0) { /* nobody on the other side (yet): look again later */
                c->idle = true;
                return true;
        }
        c->len += (size_t) n;
        c->buf[c->len] = '\0';
        while ((nl = strpbrk(c->buf, "\r\n"))) {
                size_t used = (size_t) (nl - c->buf) + 1;
                *nl = '\0';
                handle_command(c, reply_fd);
                memmove(c->buf, c->buf + used, c->len - used + 1);
                c->len -= used;
        }
        if (c->len == sizeof(c->buf) - 1) /* no command is that long */
                c->len = 0;
        return true;
}

static void power_off(const char *why) {
        char line[128];
        snprintf(line, sizeof(line), "VR-POWEROFF reason=%s\n", why);
        emit_fd(out_fd, line);
        sync();
        for (;;) {
                reboot(RB_POWER_OFF);
                pause(); /* PID 1 must never exit, even if the kernel refuses */
        }
}

static void reap_children(void) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

static void noop_handler(int sig) {
        (void) sig;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void serve(int sigfd, int uevent_fd) {
        int timer_fd = -1;

        if (cfg.counters_every > 0 && (timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) >= 0) {
                struct itimerspec its = {.it_interval = {cfg.counters_every, 0}, .it_value = {cfg.counters_every, 0}};
                timerfd_settime(timer_fd, 0, &its, NULL);
        }
        for (uint64_t idle_since = 0;;) {
                struct pollfd pfd[4 + MAX_CHANNELS];
                size_t slot[MAX_CHANNELS], n = 0, n_polled = 0;
                bool idle = false;
                int r;

                pfd[n++] = (struct pollfd){sigfd, POLLIN, 0};
                pfd[n++] = (struct pollfd){uevent_fd, POLLIN, 0};
                pfd[n++] = (struct pollfd){timer_fd, POLLIN, 0};
                pfd[n++] = (struct pollfd){power_fd, POLLIN, 0};
                for (size_t i = 0; i < n_channels; i++) {
                        if (channels[i].idle) {
                                idle = true;
                                continue;
                        }
                        slot[n_polled++] = i;
                        pfd[n++] = (struct pollfd){channels[i].fd, POLLIN, 0};
                }
                /* an unconnected virtio port reports HUP until the host opens it: look once a second */
                if (idle && !idle_since)
                        idle_since = now_ms();
                r = poll(pfd, n, idle ? 1000 : -1);
                if (r < 0) {
                        if (errno != EINTR)
                                usleep(100000); /* never spin */
                        continue;
                }
                if (idle && now_ms() - idle_since >= 1000) {
                        for (size_t i = 0; i < n_channels; i++)
                                channels[i].idle = false;
                        idle_since = 0;
                }
                if (pfd[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                                if (si.ssi_signo == SIGCHLD)
                                        reap_children();
                                else if (si.ssi_signo == SIGUSR1)
                                        print_counters(-1);
                                else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGPWR)
                                        power_off(sigabbrev_np((int) si.ssi_signo));
                        }
                }
                if (pfd[1].revents & POLLIN) {
                        char buf[4096];
                        bool added = false;
                        ssize_t got;
                        while ((got = recv(uevent_fd, buf, sizeof(buf) - 1, 0)) > 0 || (got < 0 && errno == ENOBUFS))
                                added = added || got < 0 || strncmp(buf, "add@", 4) == 0;
                        if (added) {
                                scan_channels();
                                if (power_fd < 0)
                                        for_each_entry("/sys/class/input", find_power_button, NULL);
                        }
                }
                if (pfd[2].revents & POLLIN) {
                        uint64_t ticks;
                        if (read(timer_fd, &ticks, sizeof(ticks)) == sizeof(ticks))
                                print_counters(-1);
                }
                if (pfd[3].revents & POLLIN) {
                        struct input_event ev;
                        while (read(power_fd, &ev, sizeof(ev)) == sizeof(ev))
                                if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1)
                                        power_off("power-button");
                }
                for (size_t k = n_polled; k-- > 0;) { /* backwards: removal moves the last one */
                        struct channel *c = &channels[slot[k]];
                        if (!pfd[4 + k].revents)
                                continue;
                        /* the serial console's replies already go to the console */
                        if (!channel_read(c, c->fd == STDIN_FILENO ? -1 : c->fd)) {
                                close(c->fd);
                                *c = channels[--n_channels];
                        }
                }
        }
}

static int pid1(void) {
        struct sigaction sa = {.sa_handler = noop_handler};
        int sigfd, uevent_fd;
        struct sockaddr_nl nl = {.nl_family = AF_NETLINK, .nl_groups = 1};

        /* Signals arrive through signalfd; the handlers only make PID 1 accept them. */
        sigemptyset(&handled_signals);
        for (int s = 0, sigs[] = {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGPWR, SIGHUP}; s < 6; s++) {
                sigaddset(&handled_signals, sigs[s]);
                sigaction(sigs[s], &sa, NULL);
        }
        sigprocmask(SIG_BLOCK, &handled_signals, NULL);
        signal(SIGPIPE, SIG_IGN); /* a child that exits before reading its batch */
        sigfd = signalfd(-1, &handled_signals, SFD_CLOEXEC | SFD_NONBLOCK);
        reboot(RB_DISABLE_CAD); /* Ctrl-Alt-Del becomes SIGINT: power off cleanly */

        mount_api();
        setup_console();
        /* before any module loads, so no virtio port's arrival is missed */
        uevent_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (uevent_fd >= 0 && bind(uevent_fd, (struct sockaddr *) &nl, sizeof(nl)) < 0) {
                close(uevent_fd);
                uevent_fd = -1;
        }

        modules_init();
        load_modules(AT_BOOT);
        read_config();
        sethostname(cfg.name, strlen(cfg.name));
        load_pci_drivers();
        if (need_tc())
                load_modules(FOR_TC);
        configure_network();
        report_ready();

        channel_add(STDIN_FILENO, "console");
        scan_channels();
        for_each_entry("/sys/class/input", find_power_button, NULL);
        serve(sigfd, uevent_fd);
        return 0;
}

/* ---------------------------------------------------------------------------
 * Helper modes, run on the build host */
static int list_modules(void) {
        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
                printf("%s %s\n", when_names[wanted[i].when], wanted[i].name);
        return 0;
}

static int dry_run(const char *path) {
        static char text[65536], batch[65536];
        ssize_t n = read_file(path, text, sizeof(text));
        if (n < 0) {
                fprintf(stderr, "vr-init: %s: %s\n", path, strerror((int) -n));
                return 1;
        }
        parse_config(text);
        for (size_t i = 0; i < cfg.n_ports; i++)
                cfg.ports[i].up = true;
        printf("# name %s, %zu ports, rps %s, counters every %us\n# ip -force -batch -\n", cfg.name, cfg.n_ports,
               cfg.rps ? "on" : "off", cfg.counters_every);
        ip_batch(batch, sizeof(batch));
        fputs(batch, stdout);
        puts("# tc -force -batch -");
        tc_batch(batch, sizeof(batch));
        fputs(batch, stdout);
        return 0;
}

int main(int argc, char **argv) {
        if (getpid() == 1)
                return pid1();
        if (argc == 2 && strcmp(argv[1], "--modules") == 0)
                return list_modules();
        if (argc == 3 && strcmp(argv[1], "--dry-run") == 0)
                return dry_run(argv[2]);
        fprintf(stderr, "usage: vr-init --modules | --dry-run CONFIG   (as PID 1 it boots the router)\n");
        return 2;
}
