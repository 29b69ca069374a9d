/* Apply, fuzzed for idempotence: generated KVM and LXC policies (port count, modes,
 * devs, VFs, addresses, order) are applied to a domain, the policy is then changed as
 * an operator would (a port renamed, moved to another dev or VF, changed in mode,
 * removed, added, the ports reordered) and applied again. After every apply:
 * applying once more gives the same bytes, and every port has exactly one device and
 * no device is left of a port the policy no longer has. Deterministic: the seed is
 * printed and VR_FUZZ_SEED=N (with VR_FUZZ_ROUNDS=N) replays a run. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-rewrite.h"
#include "vr-test.h"
#include "vr-xml.h"

#define MAX_PORTS 5

typedef enum { GEN_DIRECT, GEN_VF_EXPLICIT, GEN_VF_PF } GenMode;

typedef struct {
        char name[16];
        GenMode mode;
        const char *dev;  /* GEN_DIRECT */
        const char *vf;   /* GEN_VF_EXPLICIT */
        const char *pf;   /* GEN_VF_PF */
        int subnet;       /* 0: no address; else 10.SUBNET.0.1/24 */
} GenPort;

typedef struct {
        bool lxc;
        GenPort ports[MAX_PORTS];
        int n;
        bool route; /* a default route via the first addressed port's subnet */
} GenPolicy;

static const char *const names[] = {"wan", "lan", "up", "down", "mgmt", "eth0", "eth1", "p5", "dmz", "core"};
static const char *const devs[] = {"eth0", "eth1", "eth2", "eth4"};
/* VFs of the fake tree tests/data/sysroot/sriov: eth2 has 03:10.{0,2,4,6}, eth3 04:02.{0,1}. */
static const char *const vfs[] = {"0000:03:10.0", "0000:03:10.2", "0000:04:02.0", "0000:04:02.1"};
static const char *const pfs_kvm[] = {"eth2", "eth3"}; /* eth3 is a VF pool in host.conf */

#define USER_IP "192.168.50.2"

static bool name_used(const GenPolicy *p, const char *name) {
        for (int i = 0; i < p->n; i++)
                if (g_str_equal(p->ports[i].name, name))
                        return true;
        return false;
}

static bool subnet_used(const GenPolicy *p, int subnet) {
        for (int i = 0; i < p->n; i++)
                if (p->ports[i].subnet == subnet)
                        return true;
        return false;
}

static void gen_mode(GRand *r, const GenPolicy *p, GenPort *port) {
        int m = g_rand_int_range(r, 0, 10);

        port->mode = m < 6 ? GEN_DIRECT : m < 8 ? GEN_VF_EXPLICIT : GEN_VF_PF;
        port->dev = devs[g_rand_int_range(r, 0, G_N_ELEMENTS(devs))];
        port->vf = vfs[g_rand_int_range(r, 0, G_N_ELEMENTS(vfs))];
        port->pf = p->lxc ? "eth2" : pfs_kvm[g_rand_int_range(r, 0, G_N_ELEMENTS(pfs_kvm))];
}

static bool gen_port(GRand *r, GenPolicy *p) {
        GenPort *port;
        const char *name;
        int subnet;

        if (p->n >= MAX_PORTS)
                return false;
        do
                name = names[g_rand_int_range(r, 0, G_N_ELEMENTS(names))];
        while (name_used(p, name));
        port = &p->ports[p->n];
        memset(port, 0, sizeof(*port));
        g_strlcpy(port->name, name, sizeof(port->name));
        gen_mode(r, p, port);
        do
                subnet = g_rand_int_range(r, 1, 50);
        while (subnet_used(p, subnet));
        port->subnet = g_rand_boolean(r) ? subnet : 0;
        p->n++;
        return true;
}

static void gen_policy(GRand *r, GenPolicy *p, bool lxc) {
        memset(p, 0, sizeof(*p));
        p->lxc = lxc;
        for (int n = g_rand_int_range(r, 1, MAX_PORTS); n > 0; n--)
                gen_port(r, p);
        p->route = g_rand_boolean(r);
}

/* What an operator does to a policy between two applies. */
static void mutate(GRand *r, GenPolicy *p, GString *log) {
        int i = g_rand_int_range(r, 0, p->n);
        GenPort *port = &p->ports[i];

        switch (g_rand_int_range(r, 0, 7)) {
        case 0: {
                const char *name;
                do
                        name = names[g_rand_int_range(r, 0, G_N_ELEMENTS(names))];
                while (name_used(p, name));
                g_string_append_printf(log, " rename %s->%s", port->name, name);
                g_strlcpy(port->name, name, sizeof(port->name));
                break;
        }
        case 1:
                port->dev = devs[g_rand_int_range(r, 0, G_N_ELEMENTS(devs))];
                port->vf = vfs[g_rand_int_range(r, 0, G_N_ELEMENTS(vfs))];
                g_string_append_printf(log, " move %s", port->name);
                break;
        case 2:
                gen_mode(r, p, port);
                g_string_append_printf(log, " mode %s", port->name);
                break;
        case 3:
                if (p->n > 1) {
                        g_string_append_printf(log, " remove %s", port->name);
                        memmove(port, port + 1, (p->n - i - 1) * sizeof(*port));
                        p->n--;
                }
                break;
        case 4:
                if (gen_port(r, p))
                        g_string_append_printf(log, " add %s", p->ports[p->n - 1].name);
                break;
        case 5:
                for (int k = p->n - 1; k > 0; k--) {
                        int j = g_rand_int_range(r, 0, k + 1);
                        GenPort t = p->ports[k];
                        p->ports[k] = p->ports[j];
                        p->ports[j] = t;
                }
                g_string_append(log, " shuffle");
                break;
        default:
                port->subnet = port->subnet ? 0 : 60 + i;
                g_string_append_printf(log, " address %s", port->name);
                break;
        }
}

static char *router_xml(const GenPolicy *p) {
        GString *s = g_string_new("<vr:router xmlns:vr='urn:virt-router:1'>\n");
        int route_subnet = 0;

        for (int i = 0; i < p->n; i++) {
                const GenPort *port = &p->ports[i];
                g_string_append_printf(s, "      <vr:port name='%s'", port->name);
                if (port->mode == GEN_DIRECT)
                        g_string_append_printf(s, " mode='%s' dev='%s'/>\n", p->lxc ? "macvlan" : "macvtap", port->dev);
                else if (port->mode == GEN_VF_EXPLICIT)
                        g_string_append_printf(s, " mode='vf' vf='%s'/>\n", port->vf);
                else
                        g_string_append_printf(s, " mode='vf' pf='%s'/>\n", port->pf);
        }
        for (int i = 0; i < p->n; i++) {
                const GenPort *port = &p->ports[i];
                if (!port->subnet)
                        continue;
                g_string_append_printf(s, "      <vr:address port='%s' ip='10.%d.0.1/24'/>\n", port->name, port->subnet);
                if (!route_subnet)
                        route_subnet = port->subnet;
        }
        if (p->route && route_subnet)
                g_string_append_printf(s, "      <vr:route to='default' via='10.%d.0.254'/>\n", route_subnet);
        g_string_append(s, "    </vr:router>");
        return g_string_free(s, FALSE);
}

static char *domain_xml(const GenPolicy *p, bool user_devices) {
        g_autofree char *router = router_xml(p);
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "<domain type='%s'>\n  <name>fz</name>\n  <memory unit='MiB'>256</memory>\n"
                               "  <vcpu placement='static'>1</vcpu>\n  <metadata>\n    %s\n  </metadata>\n",
                               p->lxc ? "lxc" : "kvm", router);
        if (p->lxc)
                g_string_append(s, "  <os>\n    <type>exe</type>\n    <init>/sbin/init</init>\n  </os>\n");
        g_string_append(s, "  <devices>\n");
        if (user_devices) {
                /* A NIC of the user's, and on KVM one as virt-install writes it on eth0. */
                g_string_append(s, "    <interface type='network'>\n      <source network='default'/>\n    </interface>\n");
                if (!p->lxc)
                        g_string_append(s, "    <interface type='direct'>\n      <mac address='52:54:00:00:00:99'/>\n"
                                           "      <source dev='eth0' mode='bridge'/>\n      <model type='virtio'/>\n"
                                           "    </interface>\n");
                else /* and in a container a VF of eth2 of the user's, with its address */
                        g_string_append(s, "    <hostdev mode='capabilities' type='net'>\n"
                                           "      <source><interface>enp3s16f4</interface></source>\n"
                                           "      <ip address='" USER_IP "' family='ipv4' prefix='24'/>\n"
                                           "    </hostdev>\n");
        }
        g_string_append(s, "  </devices>\n</domain>\n");
        return g_string_free(s, FALSE);
}

/* The document with its <vr:router> replaced by p's: the operator's edit. */
static char *with_policy(const char *xml, const GenPolicy *p) {
        g_autofree char *router = router_xml(p);
        const char *a = strstr(xml, "<vr:router"), *b = strstr(xml, "</vr:router>");

        g_assert(a && b);
        return g_strdup_printf("%.*s%s%s", (int) (a - xml), xml, router, b + strlen("</vr:router>"));
}

/* The netdevs of tests/data/sysroot/sriov's VFs. */
static const char *vf_netdev(const char *pci) {
        static const char *const map[][2] = {{"0000:03:10.0", "enp3s16f0"}, {"0000:03:10.2", "enp3s16f2"},
                                             {"0000:03:10.4", "enp3s16f4"}, {"0000:03:10.6", "enp3s16f6"},
                                             {"0000:04:02.0", "enp4s2f0"},  {"0000:04:02.1", "enp4s2f1"}};
        for (size_t i = 0; i < G_N_ELEMENTS(map); i++)
                if (g_str_equal(map[i][0], pci))
                        return map[i][1];
        return NULL;
}

/* A container's VF netdev apply can tell as its own: a VF of a PF of the policy's pf=
 * ports or of a vf= port. Apply cannot know one of a port removed with its PF, nor
 * take it from the user: such leftovers are allowed. */
static bool known_netdev(const GenPolicy *p, const char *netdev) {
        for (int i = 0; i < p->n; i++) {
                const GenPort *port = &p->ports[i];
                if (port->mode == GEN_VF_EXPLICIT && g_strcmp0(vf_netdev(port->vf), netdev) == 0)
                        return true;
                if (port->mode == GEN_VF_PF && g_str_has_prefix(netdev, "enp3s16"))
                        return true;
        }
        return false;
}

static char *ip_of(xmlNode *d) {
        return vr_xml_prop(vr_xml_child(d, NULL, "ip"), "address");
}

/* A VF netdev with addresses of which none is a port's: the user's as apply tells them
 * (a container keeps no alias), so apply leaves it. The VF of a port removed, or of a pf=
 * port whose addresses all changed, is left so. */
static bool users_netdev(xmlNode *d, const GenPolicy *p) {
        g_autofree char *ip = ip_of(d);

        if (!ip)
                return false;
        for (int i = 0; i < p->n; i++) {
                g_autofree char *own = p->ports[i].subnet ? g_strdup_printf("10.%d.0.1", p->ports[i].subnet) : NULL;
                if (g_strcmp0(own, ip) == 0)
                        return false;
        }
        return true;
}

/* Every port has one device, and nothing else looks like a port's device. */
static bool check_devices(const char *xml, const GenPolicy *p, bool user_devices, GString *why) {
        g_autoptr(GError) err = NULL;
        g_autoptr(xmlDoc) doc = vr_xml_parse(xml, strlen(xml), "fuzz", &err);
        xmlNode *devices = vr_xml_child(xmlDocGetRootElement(doc), NULL, "devices");
        int direct = 0, netdevs = 0, aliased = 0, want_direct = 0, want_vf = 0;
        bool ok = true;

        if (!doc) {
                g_string_append_printf(why, "output does not parse: %s", err->message);
                return false;
        }
        for (int i = 0; i < p->n; i++) {
                const GenPort *port = &p->ports[i];
                g_autofree char *alias = g_strconcat(VR_ALIAS_PREFIX, port->name, NULL);
                g_autofree char *ip = port->subnet ? g_strdup_printf("10.%d.0.1", port->subnet) : NULL;
                int n = 0, with_ip = 0;
                *(port->mode == GEN_DIRECT ? &want_direct : &want_vf) += 1;
                for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                        g_autofree char *a = vr_rewrite_device_alias(d);
                        g_autofree char *guest = vr_xml_prop(vr_xml_child(d, NULL, "guest"), "dev");
                        g_autofree char *dip = ip_of(d);
                        if (p->lxc ? (port->mode == GEN_DIRECT && g_strcmp0(guest, port->name) == 0)
                                   : g_strcmp0(a, alias) == 0)
                                n++;
                        if (ip && g_strcmp0(dip, ip) == 0)
                                with_ip++;
                }
                if ((!p->lxc || port->mode == GEN_DIRECT) && n != 1) {
                        g_string_append_printf(why, "port '%s' has %d devices; ", port->name, n);
                        ok = false;
                }
                if (p->lxc && ip && with_ip != 1) {
                        g_string_append_printf(why, "address %s of port '%s' is on %d devices; ", ip, port->name, with_ip);
                        ok = false;
                }
        }
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *type = vr_xml_prop(d, "type");
                g_autofree char *a = vr_rewrite_device_alias(d);
                if (vr_xml_is(d, NULL, "interface") && g_strcmp0(type, "direct") == 0)
                        direct++;
                if (vr_xml_is(d, NULL, "hostdev") && g_strcmp0(type, "net") == 0) {
                        g_autofree char *nd = vr_xml_text(vr_xml_child(vr_xml_child(d, NULL, "source"), NULL, "interface"));
                        netdevs += known_netdev(p, nd) && !users_netdev(d, p);
                }
                aliased += a && g_str_has_prefix(a, VR_ALIAS_PREFIX);
        }
        if (p->lxc && (direct != want_direct || netdevs != want_vf)) {
                g_string_append_printf(why, "%d macvlans and %d VF netdevs of the policy's PFs and VFs for %d macvlan and %d VF ports; ", direct,
                                       netdevs, want_direct, want_vf);
                ok = false;
        }
        if (!p->lxc && aliased != p->n) {
                g_string_append_printf(why, "%d devices marked as ports for %d ports; ", aliased, p->n);
                ok = false;
        }
        if (p->lxc && user_devices) {
                int users = 0;
                for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                        xmlNode *src = vr_xml_child(d, NULL, "source");
                        g_autofree char *nd = vr_xml_text(vr_xml_child(src, NULL, "interface"));
                        g_autofree char *ip = ip_of(d);
                        if (g_strcmp0(nd, "enp3s16f4") == 0)
                                users += g_strcmp0(ip, USER_IP) == 0 ? 1 : 100;
                }
                if (users != 1) {
                        g_string_append(why, "the user's VF enp3s16f4 with its address is not kept as it was; ");
                        ok = false;
                }
        }
        return ok;
}

typedef enum { STEP_OK, STEP_REFUSED, STEP_FAILED } StepResult;

/* Apply xml; the result must apply to itself and have one device per port. */
static StepResult step(const char *what, const char *xml, const GenPolicy *p, bool user_devices,
                       const VrRewriteOptions *ao, char **ret_out, GString *why) {
        g_autoptr(GError) err = NULL;
        g_autofree char *out = NULL, *again = NULL;
        size_t len = 0;

        if (vr_rewrite_xml(xml, strlen(xml), ao, &out, &len, NULL, &err) < 0) {
                /* A policy the host cannot give (VFs used up, a VF twice): refused, fine. */
                g_string_append_printf(why, "%s refused: %s", what, err->message);
                return STEP_REFUSED;
        }
        if (vr_rewrite_xml(out, len, ao, &again, &len, NULL, &err) < 0) {
                g_string_append_printf(why, "%s: applying the output again failed: %s", what, err->message);
                return STEP_FAILED;
        }
        if (!g_str_equal(out, again)) {
                g_string_append_printf(why, "%s: not idempotent; first apply:\n%s\nsecond apply:\n%s", what, out, again);
                return STEP_FAILED;
        }
        if (!check_devices(out, p, user_devices, why)) {
                g_string_append_printf(why, "\n%s gave:\n%s", what, out);
                return STEP_FAILED;
        }
        *ret_out = g_steal_pointer(&out);
        return STEP_OK;
}

int main(void) {
        const char *seed_env = g_getenv("VR_FUZZ_SEED"), *rounds_env = g_getenv("VR_FUZZ_ROUNDS");
        guint32 seed = seed_env ? (guint32) g_ascii_strtoull(seed_env, NULL, 10) : 14;
        int rounds = rounds_env ? atoi(rounds_env) : 600;
        g_autoptr(GRand) r = g_rand_new_with_seed(seed);
        g_autoptr(VrHostConf) conf = vr_test_case_conf("xml", "fuzz");
        g_autofree char *sysroot = vr_test_data_path("sysroot", "sriov");
        VrRewriteOptions ao = {conf, sysroot, "fuzz"};
        int failed = 0, refused = 0, passed = 0;

        if (!conf)
                return 1;
        printf("seed %u, %d rounds (VR_FUZZ_SEED, VR_FUZZ_ROUNDS)\n", seed, rounds);
        for (int i = 0; i < rounds; i++) {
                GenPolicy p;
                bool lxc = i % 2, user = g_rand_boolean(r);
                g_autofree char *in = NULL, *out1 = NULL, *in2 = NULL, *out2 = NULL;
                g_autoptr(GString) why = g_string_new(NULL);
                g_autoptr(GString) log = g_string_new(NULL);
                StepResult res;

                gen_policy(r, &p, lxc);
                in = domain_xml(&p, user);
                res = step("first apply", in, &p, user, &ao, &out1, why);
                if (res == STEP_OK) {
                        for (int m = g_rand_int_range(r, 1, 4); m > 0; m--)
                                mutate(r, &p, log);
                        in2 = with_policy(out1, &p);
                        res = step("apply after the change", in2, &p, user, &ao, &out2, why);
                }
                if (res == STEP_FAILED) {
                        fprintf(stderr, "FAIL: round %d (%s, changes:%s): %s\n--- input:\n%s%s%s\n", i, lxc ? "lxc" : "kvm",
                                log->str, why->str, in, in2 ? "--- changed input:\n" : "", in2 ? in2 : "");
                        failed++;
                } else if (res == STEP_REFUSED) {
                        refused++;
                } else {
                        passed++;
                }
        }
        printf("%d rounds passed, %d refused by the plan (no free VF and such), %d failed\n", passed, refused, failed);
        /* A generator that only makes refused policies would test nothing. */
        if (passed < rounds / 2) {
                fprintf(stderr, "fewer than half of the rounds got through the plan: the generator is broken\n");
                return 1;
        }
        return failed ? 1 : 0;
}
