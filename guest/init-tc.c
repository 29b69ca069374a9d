/* vr-init's policers and shapers: the tc batch that installs them, and their drop
 * counters read back. Libc only (see init-util.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "init-tc.h"
#include "init-util.h"

/* Police action indexes name the port and direction, so counters find them. */
unsigned police_index(size_t port, bool egress) {
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
size_t tc_batch(const struct config *cfg, char *buf, size_t size) {
        size_t len = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < cfg->n_ports; i++) {
                const struct port *p = &cfg->ports[i];
                bool egress_police = p->shape.value && p->shape.pps;
                if (!p->up || (!p->police.value && !p->shape.value))
                        continue;
                if (p->police.value || egress_police)
                        len = append(buf, size, len, "qdisc add dev %s clsact\n", p->name);
                /* ARP first and unpoliced: a router kept at its rate, or overloaded,
                 * must still resolve its neighbours. */
                if (p->police.value) {
                        len = append(buf, size, len,
                                     "filter add dev %s ingress pref 1 protocol arp matchall action ok\n", p->name);
                        len = append(buf, size, len, "filter add dev %s ingress pref 2 matchall action ", p->name);
                        len = police_action(buf, size, len, p, &p->police, police_index(i, false));
                }
                if (egress_police) {
                        len = append(buf, size, len,
                                     "filter add dev %s egress pref 1 protocol arp matchall action ok\n", p->name);
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

bool need_tc(const struct config *cfg) {
        for (size_t i = 0; i < cfg->n_ports; i++)
                if (cfg->ports[i].police.value || cfg->ports[i].shape.value)
                        return true;
        return false;
}

/* Drops per police action index from `tc -s -j actions list action police`:
 * each action object has "index" before its "stats" with "drops". */
uint64_t police_drops(const char *json, unsigned index) {
        char key[32];
        const char *p;
        snprintf(key, sizeof(key), "\"index\":%u,", index);
        if (!json || !(p = strstr(json, key)) || !(p = strstr(p, "\"drops\":")))
                return 0;
        return strtoull(p + 8, NULL, 10);
}
