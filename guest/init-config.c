/* vr-init's configuration parser (the format is in init-config.h). Pure and libc only:
 * the host's make check links it as it is. Every problem goes to on_error; the rest
 * still applies. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "init-config.h"

void config_init(struct config *cfg) {
        memset(cfg, 0, sizeof(*cfg));
        strcpy(cfg->name, "router");
}

static bool valid_name(const char *s) {
        size_t n = strlen(s);
        if (n == 0 || n >= IFNAMSIZ)
                return false;
        for (; *s; s++)
                if (!isalnum((unsigned char) *s) && *s != '_' && *s != '-' && *s != '.')
                        return false;
        return true;
}

int config_find_port(const struct config *cfg, const char *name) {
        for (size_t i = 0; i < cfg->n_ports; i++)
                if (strcmp(cfg->ports[i].name, name) == 0)
                        return (int) i;
        return -1;
}

bool config_parse_mac(const char *s, unsigned char mac[6]) {
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
        if (r->pps && r->value > UINT32_MAX) { /* the host's bound too (lib/xml/vr-policy-xml.c) */
                r->value = 0;
                return "rate: at most 4294967295pps (tc police pkts_rate)";
        }
        if (!parse_uint(tok[5], UINT32_MAX, &burst) || burst == 0) {
                r->value = 0;
                return "burst: expected a number of packets above 0";
        }
        r->burst = (uint32_t) burst;
        return NULL;
}

static const char *parse_directive(struct config *cfg, char **tok, int ntok) {
        const char *d = tok[0];
        uint64_t v;
        int p;

        if (strcmp(d, "version") == 0) {
                if (ntok != 2 || strcmp(tok[1], "1") != 0)
                        return "unsupported version (this guest reads version 1)";
        } else if (strcmp(d, "name") == 0) {
                if (ntok != 2 || strlen(tok[1]) >= sizeof(cfg->name))
                        return "expected one name of at most 64 characters";
                for (const char *c = tok[1]; *c; c++) /* it becomes the host name */
                        if (!isgraph((unsigned char) *c))
                                return "name: printable characters only";
                strcpy(cfg->name, tok[1]);
        } else if (strcmp(d, "port") == 0) {
                struct port *port = &cfg->ports[cfg->n_ports];
                if (ntok < 2 || ntok % 2 != 0)
                        return "expected port NAME [mac MAC] [mtu N]";
                if (!valid_name(tok[1]) || strcmp(tok[1], "lo") == 0)
                        return "port name: 1-15 letters, digits, '_', '-', '.'";
                if (config_find_port(cfg, tok[1]) >= 0)
                        return "port defined twice";
                if (cfg->n_ports == MAX_PORTS)
                        return "too many ports";
                memset(port, 0, sizeof(*port));
                for (int i = 2; i < ntok; i += 2) {
                        if (strcmp(tok[i], "mac") == 0) {
                                if (!config_parse_mac(tok[i + 1], port->mac))
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
                cfg->n_ports++;
        } else if (strcmp(d, "addr") == 0) {
                struct addr *a = &cfg->addrs[cfg->n_addrs];
                int family;
                if (ntok != 3)
                        return "expected addr PORT ADDRESS/PREFIX";
                if ((p = config_find_port(cfg, tok[1])) < 0)
                        return "unknown port (declare it with 'port' first)";
                if (cfg->n_addrs == MAX_ADDRS)
                        return "too many addresses";
                if (!(family = parse_cidr(tok[2], a->cidr, sizeof(a->cidr))))
                        return "expected an IPv4 or IPv6 address with a prefix length";
                a->port = p;
                a->v6 = family == AF_INET6;
                cfg->n_addrs++;
        } else if (strcmp(d, "route") == 0) {
                struct route *rt = &cfg->routes[cfg->n_routes];
                int fdst = 0, fvia = 0, i = 2;
                if (ntok < 4)
                        return "expected route DST via GATEWAY [dev PORT] or route DST dev PORT";
                if (cfg->n_routes == MAX_ROUTES)
                        return "too many routes";
                memset(rt, 0, sizeof(*rt));
                rt->port = -1;
                if (strcmp(tok[i], "via") == 0 && i + 1 < ntok) {
                        if (!(fvia = parse_ip(tok[i + 1], rt->via, sizeof(rt->via))))
                                return "via: expected an IPv4 or IPv6 address";
                        i += 2;
                }
                if (i + 1 < ntok && strcmp(tok[i], "dev") == 0) {
                        if ((rt->port = config_find_port(cfg, tok[i + 1])) < 0)
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
                cfg->n_routes++;
        } else if (strcmp(d, "police") == 0 || strcmp(d, "shape") == 0) {
                struct rate r = {0};
                const char *err;
                if (ntok < 2 || (p = config_find_port(cfg, tok[1])) < 0)
                        return "unknown port (declare it with 'port' first)";
                if ((err = parse_rate_directive(tok, ntok, &r)))
                        return err;
                if (d[0] == 'p')
                        cfg->ports[p].police = r;
                else
                        cfg->ports[p].shape = r;
        } else if (strcmp(d, "rps") == 0) {
                if (ntok != 2 || (strcmp(tok[1], "on") != 0 && strcmp(tok[1], "off") != 0))
                        return "expected rps on or rps off";
                cfg->rps = strcmp(tok[1], "on") == 0;
        } else if (strcmp(d, "counters-every") == 0) {
                if (ntok != 2 || !parse_uint(tok[1], 86400, &v))
                        return "expected counters-every SECONDS (0-86400)";
                cfg->counters_every = (unsigned) v;
        } else {
                return "unknown directive";
        }
        return NULL;
}

/* text is modified in place. ';' separates directives like a newline (for configs
 * written on one line); '#' comments out the rest of the line. */
void config_parse(struct config *cfg, char *text, config_error_fn *on_error, void *data) {
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
                        if (ntok > 0 && (err = parse_directive(cfg, tok, ntok)))
                                on_error(lineno, tok[0], err, data);
                }
        }
}
