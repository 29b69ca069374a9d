/* vr-init's ports and forwarding: each port's NIC found by MAC (or the next one left),
 * named, its rings sized and brought up; forwarding sysctls, RPS and interrupt
 * affinity; the ip batch of addresses and routes. Libc only (see init-util.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "init-links.h"
#include "init-util.h"

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
        return config_parse_mac(buf, mac);
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
static size_t match_nics(const struct config *cfg, char found[][IFNAMSIZ]) {
        static struct nic nics[64];
        bool claimed[64] = {false};
        size_t n = list_nics(nics, 64), matched = 0, next = 0;

        for (size_t i = 0; i < cfg->n_ports; i++) {
                found[i][0] = '\0';
                for (size_t j = 0; cfg->ports[i].has_mac && j < n && !found[i][0]; j++)
                        if (!claimed[j] && memcmp(nics[j].mac, cfg->ports[i].mac, 6) == 0) {
                                claimed[j] = true;
                                strcpy(found[i], nics[j].name);
                                matched++;
                        }
        }
        for (size_t i = 0; i < cfg->n_ports; i++) {
                if (cfg->ports[i].has_mac)
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
void setup_ports(struct config *cfg) {
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
        for (int tries = 0; match_nics(cfg, found) < cfg->n_ports && tries < 200; tries++)
                usleep(10000);
        /* Through temporary names, so ports may take names NICs have now (eth1 <-> eth0). */
        for (size_t i = 0; i < cfg->n_ports; i++) {
                char tmp[IFNAMSIZ];
                int r;
                if (!found[i][0] || strcmp(found[i], cfg->ports[i].name) == 0)
                        continue;
                snprintf(tmp, sizeof(tmp), "vrtmp%zu", i);
                if ((r = rename_nic(sock, found[i], tmp)) < 0) {
                        report_error("port %s: cannot rename %s: %s", cfg->ports[i].name, found[i], strerror(-r));
                        found[i][0] = '\0';
                        continue;
                }
                strcpy(found[i], tmp);
        }
        for (size_t i = 0; i < cfg->n_ports; i++) {
                struct port *p = &cfg->ports[i];
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
void set_sysctl(const char *path, const char *value) {
        int r = write_file(path, value);
        if (r < 0)
                report_error("%s: %s", path, strerror(-r));
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

void tune_forwarding(const struct config *cfg) {
        long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
        struct irq_spread spread = {.ncpu = ncpu > 0 ? ncpu : 1};
        char mask[256];

        if (cfg->rps)
                cpu_mask(spread.ncpu, mask, sizeof(mask));
        else
                strcpy(mask, "0");
        for (size_t i = 0; i < cfg->n_ports; i++) {
                char path[PATH_MAX + 16], dev[PATH_MAX];
                if (!cfg->ports[i].up)
                        continue;
                snprintf(path, sizeof(path), "/sys/class/net/%s/queues", cfg->ports[i].name);
                for_each_entry(path, set_rps, mask);
                if (spread.ncpu < 2)
                        continue;
                /* MSI vectors belong to the PCI device: the NIC's device (a VF) or its
                 * parent (virtio-net sits on a virtio device on a PCI device). */
                snprintf(path, sizeof(path), "/sys/class/net/%s/device", cfg->ports[i].name);
                if (!realpath(path, dev))
                        continue;
                snprintf(path, sizeof(path), "%s/msi_irqs", dev);
                if (access(path, F_OK) != 0)
                        snprintf(path, sizeof(path), "%s/../msi_irqs", dev);
                for_each_entry(path, set_irq, &spread);
        }
}

/* ---------------------------------------------------------------------------
 * What ip runs follows from the configuration alone: addresses and routes of the
 * ports that came up. */
size_t ip_batch(const struct config *cfg, char *buf, size_t size) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < cfg->n_addrs; i++) {
                const struct addr *a = &cfg->addrs[i];
                if (!cfg->ports[a->port].up)
                        continue;
                /* a router must answer at once: no duplicate address detection delay */
                len = append(buf, size, len, "address add %s dev %s%s\n", a->cidr, cfg->ports[a->port].name,
                             a->v6 ? " nodad" : "");
        }
        for (size_t i = 0; i < cfg->n_routes; i++) {
                const struct route *rt = &cfg->routes[i];
                if (rt->port >= 0 && !cfg->ports[rt->port].up)
                        continue;
                len = append(buf, size, len, "route add %s", rt->dst);
                if (rt->via[0])
                        len = append(buf, size, len, " via %s", rt->via);
                if (rt->port >= 0)
                        len = append(buf, size, len, " dev %s", cfg->ports[rt->port].name);
                len = append(buf, size, len, "\n");
        }
        return len;
}
