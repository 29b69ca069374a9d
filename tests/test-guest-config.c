/* The guest's configuration parser (guest/init-config.c, linked as the guest links it)
 * against its writer (guest_config() in lib/xml/vr-rewrite.c), a round trip from render
 * and apply. For every case of tests/data/xml and tests/data/render whose
 * NAME.expected.xml (test-xml keeps them equal to what the rewrite writes) carries the
 * <sysinfo type='fwcfg'> entry, the entry's text is parsed as vr-init parses it at
 * boot: no directive may be refused and no comma written (QEMU splits the text there);
 * what the guest then holds must be what the domain says (its policy's ports with the
 * MACs of their devices, addresses, routes, policer and shaper); and its canonical form
 * must be tests/data/guest-config/DIR-NAME.expected. Hand-written texts,
 * tests/data/guest-config/NAME.conf, give NAME.expected: the errors the guest reports,
 * as comments, then what it keeps. The canonical form is itself a configuration, read
 * back the same. Each case runs in a forked child; VR_TEST_REGENERATE=1 rewrites the
 * expected files. */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "init-config.h"
#include "vr-hostconf.h"
#include "vr-policy-xml.h"
#include "vr-rewrite.h"
#include "vr-test.h"
#include "vr-xml.h"

/* vr-init reads the fw_cfg file into a buffer of this size (read_config()). */
#define GUEST_CONFIG_MAX 65536

/* The errors as vr-init prints them (VR-ERROR), as comments. */
static void collect_error(unsigned lineno, const char *directive, const char *msg, void *data) {
        g_string_append_printf(data, "# VR-ERROR msg=config line %u: %s: %s\n", lineno, directive, msg);
}

static void parse(const char *text, struct config *ret_cfg, GString *errors) {
        g_autofree char *copy = g_strdup(text); /* parsed in place, as in the guest */

        config_init(ret_cfg);
        config_parse(ret_cfg, copy, collect_error, errors);
}

static void append_rate(GString *s, const char *directive, const struct port *p, const struct rate *r) {
        if (r->value)
                g_string_append_printf(s, "%s %s rate %" PRIu64 "%s burst %" PRIu32 "\n", directive, p->name, r->value,
                                       r->pps ? "pps" : "bit", r->burst);
}

/* Everything the guest acts on, one directive a line, in the guest's own syntax. */
static char *canonical(const struct config *cfg) {
        GString *s = g_string_new("version 1\n");

        g_string_append_printf(s, "name %s\n", cfg->name);
        for (size_t i = 0; i < cfg->n_ports; i++) {
                const struct port *p = &cfg->ports[i];
                g_string_append_printf(s, "port %s", p->name);
                if (p->has_mac)
                        g_string_append_printf(s, " mac %02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1], p->mac[2],
                                               p->mac[3], p->mac[4], p->mac[5]);
                if (p->mtu)
                        g_string_append_printf(s, " mtu %u", p->mtu);
                g_string_append(s, "\n");
        }
        for (size_t i = 0; i < cfg->n_addrs; i++)
                g_string_append_printf(s, "addr %s %s\n", cfg->ports[cfg->addrs[i].port].name, cfg->addrs[i].cidr);
        for (size_t i = 0; i < cfg->n_routes; i++) {
                const struct route *r = &cfg->routes[i];
                g_string_append_printf(s, "route %s", r->dst);
                if (r->via[0])
                        g_string_append_printf(s, " via %s", r->via);
                if (r->port >= 0)
                        g_string_append_printf(s, " dev %s", cfg->ports[r->port].name);
                g_string_append(s, "\n");
        }
        for (size_t i = 0; i < cfg->n_ports; i++) {
                append_rate(s, "police", &cfg->ports[i], &cfg->ports[i].police);
                append_rate(s, "shape", &cfg->ports[i], &cfg->ports[i].shape);
        }
        g_string_append_printf(s, "rps %s\ncounters-every %u\n", cfg->rps ? "on" : "off", cfg->counters_every);
        return g_string_free(s, FALSE);
}

/* The canonical form read back must be itself, without an error. */
static bool check_fixed_point(const char *case_name, const char *canon) {
        g_autoptr(GString) errors = g_string_new(NULL);
        g_autofree char *again = NULL;
        struct config cfg;

        parse(canon, &cfg, errors);
        again = canonical(&cfg);
        if (errors->len || !g_str_equal(again, canon)) {
                fprintf(stderr, "%s: the canonical form read back differs:\n%s--- read back:\n%s%s", case_name, canon,
                        errors->str, again);
                return false;
        }
        return true;
}

/* ------------------------------------------------------------------------ */
/* What the guest holds against what the domain says                        */

/* An address as text ("192.0.2.1", or the host part of "192.0.2.1/24") in binary. */
static bool ip_bytes(const char *text, guint8 ret[16], int *ret_family) {
        g_autofree char *host = g_strndup(text, strcspn(text, "/"));
        int family = strchr(host, ':') ? AF_INET6 : AF_INET;

        memset(ret, 0, 16);
        *ret_family = family == AF_INET6 ? 6 : 4;
        return inet_pton(family, host, ret) == 1;
}

static bool same_ip(const char *a, const char *b) {
        guint8 ba[16], bb[16];
        int fa, fb;
        return ip_bytes(a, ba, &fa) && ip_bytes(b, bb, &fb) && fa == fb && memcmp(ba, bb, 16) == 0;
}

static int prefix_of(const char *cidr) {
        const char *slash = strchr(cidr, '/');
        return slash ? atoi(slash + 1) : -1;
}

/* The MAC of the router device apply made for the port (alias ua-vr-PORT), NULL if
 * the device has none (a VF from a pool: libvirt chooses it). */
static char *device_mac(xmlNode *devices, const char *port, bool *ret_found) {
        g_autofree char *want = g_strconcat(VR_ALIAS_PREFIX, port, NULL);

        *ret_found = false;
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *alias = vr_rewrite_device_alias(d);
                if (vr_rewrite_is_router_device(d) && g_strcmp0(alias, want) == 0) {
                        *ret_found = true;
                        return vr_xml_prop(vr_xml_child(d, NULL, "mac"), "address");
                }
        }
        return NULL;
}

#define MISMATCH(...)                                                                                                  \
        do {                                                                                                           \
                fprintf(stderr, "%s: ", case_name);                                                                    \
                fprintf(stderr, __VA_ARGS__);                                                                          \
                fputc('\n', stderr);                                                                                   \
                ok = false;                                                                                            \
        } while (0)

static bool check_rate(const char *case_name, const char *directive, const struct port *p, const struct rate *got,
                       const VrGuarantee *g, uint64_t burst) {
        bool ok = true;

        if (!g->set && got->value)
                MISMATCH("%s %s: the guest has rate %" PRIu64 ", the policy has no guarantee", directive, p->name,
                         got->value);
        if (g->set && (got->value != g->rate_pps || !got->pps || got->burst != burst))
                MISMATCH("%s %s: the guest has %" PRIu64 "%s burst %" PRIu32 ", the policy %" PRIu64
                         "pps burst %" PRIu64,
                         directive, p->name, got->value, got->pps ? "pps" : "bit", got->burst, g->rate_pps, burst);
        return ok;
}

static bool check_against_policy(const char *case_name, const struct config *cfg, const VrPolicy *policy, xmlDoc *doc) {
        xmlNode *devices = vr_xml_child(xmlDocGetRootElement(doc), NULL, "devices");
        bool ok = true;

        if (!g_str_equal(cfg->name, policy->dom.name))
                MISMATCH("name: the guest has '%s', the domain '%s'", cfg->name, policy->dom.name);

        /* Ports: the policy's, in its order, each with the MAC of its device. */
        if (cfg->n_ports != policy->ports->len)
                MISMATCH("the guest has %zu ports, the policy %u", cfg->n_ports, policy->ports->len);
        for (guint i = 0; i < policy->ports->len && i < cfg->n_ports; i++) {
                const VrPort *vp = policy->ports->pdata[i];
                const struct port *p = &cfg->ports[i];
                g_autofree char *mac = NULL;
                unsigned char want[6];
                char got_mac[18] = "none";
                bool found;

                if (!g_str_equal(p->name, vp->name)) {
                        MISMATCH("port %u: the guest has '%s', the policy '%s'", i + 1, p->name, vp->name);
                        continue;
                }
                if (p->has_mac)
                        snprintf(got_mac, sizeof(got_mac), "%02x:%02x:%02x:%02x:%02x:%02x", p->mac[0], p->mac[1],
                                 p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
                mac = device_mac(devices, vp->name, &found);
                if (!found)
                        MISMATCH("port %s: no device with alias " VR_ALIAS_PREFIX "%s in the domain", vp->name,
                                 vp->name);
                if (mac && sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &want[0], &want[1], &want[2], &want[3],
                                  &want[4], &want[5]) != 6)
                        MISMATCH("port %s: the domain's MAC '%s' is not one", vp->name, mac);
                else if (!mac != !p->has_mac || (mac && memcmp(want, p->mac, 6) != 0))
                        MISMATCH("port %s: the guest has MAC %s, the device %s", vp->name, got_mac, mac ? mac : "none");
                if (p->mtu)
                        MISMATCH("port %s: the guest sets mtu %u, the policy none", vp->name, p->mtu);
                if (!check_rate(case_name, "police", p, &p->police, &policy->guarantee, policy->guarantee.police_burst))
                        ok = false;
                if (!check_rate(case_name, "shape", p, &p->shape, &policy->guarantee, policy->guarantee.shape_burst))
                        ok = false;
        }

        /* Addresses, in the policy's order, on their ports. */
        if (cfg->n_addrs != policy->addresses->len)
                MISMATCH("the guest has %zu addresses, the policy %u", cfg->n_addrs, policy->addresses->len);
        for (guint i = 0; i < policy->addresses->len && i < cfg->n_addrs; i++) {
                const VrAddress *va = policy->addresses->pdata[i];
                const struct addr *a = &cfg->addrs[i];
                const char *port = cfg->ports[a->port].name;

                if (!g_str_equal(port, va->port) || !same_ip(a->cidr, va->addr) || prefix_of(a->cidr) != va->prefix ||
                    a->v6 != (va->family == 6))
                        MISMATCH("address %u: the guest has %s on %s, the policy %s on %s", i + 1, a->cidr, port,
                                 va->ip, va->port);
        }

        /* Routes: destination and gateway; the guest finds the port itself. */
        if (cfg->n_routes != policy->routes->len)
                MISMATCH("the guest has %zu routes, the policy %u", cfg->n_routes, policy->routes->len);
        for (guint i = 0; i < policy->routes->len && i < cfg->n_routes; i++) {
                const VrRoute *vr = policy->routes->pdata[i];
                const struct route *r = &cfg->routes[i];

                if (!same_ip(r->dst, vr->to_addr) || prefix_of(r->dst) != vr->to_prefix || !same_ip(r->via, vr->via) ||
                    r->port != -1)
                        MISMATCH("route %u: the guest has %s via %s%s, the policy %s via %s", i + 1, r->dst, r->via,
                                 r->port >= 0 ? " with a port" : "", vr->to, vr->via);
        }
        return ok;
}

/* The entry's text in a domain, NULL if it has none. */
static char *guest_config_text(xmlDoc *doc) {
        xmlNode *e = vr_rewrite_guest_config_entry(xmlDocGetRootElement(doc), NULL);
        g_autoptr(xmlChar) text = e ? xmlNodeGetContent(e) : NULL;
        return text ? g_strdup((const char *) text) : NULL;
}

/* "xml/NAME" or "render/NAME": the rewrite's output, through the guest's parser. */
static bool run_rewrite_case(const char *case_name) {
        g_auto(GStrv) parts = g_strsplit(case_name, "/", 2);
        const char *dir = parts[0], *base = parts[1];
        g_autofree char *path = vr_test_case_file(dir, base, ".expected.xml");
        g_autofree char *exp_name = g_strconcat(dir, "-", base, NULL);
        g_autofree char *exp_path = vr_test_case_file("guest-config", exp_name, ".expected");
        g_autofree char *xml = NULL, *text = NULL, *canon = NULL;
        g_autoptr(GString) errors = g_string_new(NULL);
        g_autoptr(VrHostConf) conf = vr_test_case_conf(dir, base);
        g_autoptr(VrPolicy) policy = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(GError) err = NULL;
        struct config cfg;
        gsize len = 0;
        bool ok = true;

        if (!conf)
                return false;
        if (!g_file_get_contents(path, &xml, &len, &err) || !(doc = vr_xml_parse(xml, len, path, &err))) {
                fprintf(stderr, "%s: %s\n", case_name, err->message);
                return false;
        }
        text = guest_config_text(doc);
        if (!text) {
                fprintf(stderr, "%s: no <sysinfo type='fwcfg'> entry " VR_GUEST_CONFIG_ENTRY " in %s\n", case_name,
                        path);
                return false;
        }
        if (strlen(text) >= GUEST_CONFIG_MAX)
                MISMATCH("the configuration is %zu bytes, the guest reads %d", strlen(text), GUEST_CONFIG_MAX - 1);
        if (strchr(text, ','))
                MISMATCH("a comma in the configuration (QEMU's -fw_cfg string= would split it there):\n%s", text);
        parse(text, &cfg, errors);
        if (errors->len)
                MISMATCH("the guest refuses what the rewrite wrote:\n%s--- the text:\n%s", errors->str, text);
        if (vr_policy_parse(doc, path, conf, &policy, &err) <= 0) {
                fprintf(stderr, "%s: no policy: %s\n", case_name, err ? err->message : "not a router");
                return false;
        }
        if (!check_against_policy(case_name, &cfg, policy, doc))
                ok = false;
        canon = canonical(&cfg);
        return vr_test_check_expected(case_name, exp_path, canon, NULL) && check_fixed_point(case_name, canon) && ok;
}

/* guest-config/NAME.conf: the errors vr-init reports, then what it keeps. */
static bool run_text_case(const char *base) {
        g_autofree char *path = vr_test_case_file("guest-config", base, ".conf");
        g_autofree char *exp_path = vr_test_case_file("guest-config", base, ".expected");
        g_autofree char *text = NULL, *canon = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        g_autoptr(GError) err = NULL;
        struct config cfg;

        if (!g_file_get_contents(path, &text, NULL, &err)) {
                fprintf(stderr, "%s: %s\n", base, err->message);
                return false;
        }
        parse(text, &cfg, out);
        canon = canonical(&cfg);
        g_string_append(out, canon);
        return vr_test_check_expected(base, exp_path, out->str, NULL) && check_fixed_point(base, canon);
}

/* The apply and render cases whose expected domain has a guest configuration. */
static void add_rewrite_cases(GPtrArray *cases, const char *dir) {
        g_autoptr(GPtrArray) names = vr_test_list_cases(dir, ".expected.xml", NULL);

        for (guint i = 0; i < names->len; i++) {
                g_autofree char *path = vr_test_case_file(dir, names->pdata[i], ".expected.xml");
                g_autofree char *xml = NULL;
                /* In either quote: the entry is written in the one the domain uses. */
                if (g_file_get_contents(path, &xml, NULL, NULL) &&
                    (strstr(xml, "'" VR_GUEST_CONFIG_ENTRY "'") || strstr(xml, "\"" VR_GUEST_CONFIG_ENTRY "\"")))
                        g_ptr_array_add(cases, g_strconcat(dir, "/", names->pdata[i], NULL));
        }
}

/* File scope: forked children _exit() with these still reachable, not leaked. */
static GPtrArray *rewrite_cases, *text_cases;

int main(int argc, char **argv) {
        VrTestRun run = {.only = argc > 1 ? argv[1] : NULL};

        rewrite_cases = g_ptr_array_new_with_free_func(g_free);
        add_rewrite_cases(rewrite_cases, "xml");
        add_rewrite_cases(rewrite_cases, "render");
        text_cases = vr_test_list_cases("guest-config", ".conf", NULL);
        vr_test_run_cases(&run, "", rewrite_cases, run_rewrite_case);
        vr_test_run_cases(&run, "guest-config/", text_cases, run_text_case);
        printf("%u passed, %u failed\n", run.passed, run.failed);
        /* Nothing to compare is a failure: the rewrite stopped writing the entry, or the
         * data moved. */
        if (!run.only && (rewrite_cases->len == 0 || text_cases->len == 0)) {
                fprintf(stderr, "no guest configurations found under %s/tests/data (%u rewrite cases, %u texts)\n",
                        g_getenv("top_srcdir"), rewrite_cases->len, text_cases->len);
                run.failed++;
        }
        g_ptr_array_unref(rewrite_cases);
        g_ptr_array_unref(text_cases);
        return run.failed || run.passed == 0 ? 1 : 0;
}
