#include "config.h"

#include <string.h>

#include "vr-cpuset.h"
#include "vr-drift.h"
#include "vr-pci.h"
#include "vr-rewrite.h"
#include "vr-xml.h"

/* One item the plan decides, as found in a document, normalized so that libvirt's way of
 * writing it (cpuset lists, hex PCI numbers, MAC case) does not count as a difference. */
typedef struct {
        char *key;         /* the same item in both documents */
        char *port;        /* the port it belongs to; NULL for the domain's items */
        char *subject;     /* "vcpu 0", "port 'wan'" */
        const char *has;   /* "is pinned to", "has" */
        const char *lacks; /* "is not pinned", "has no <model>" */
        char *gone;        /* said when the policy drops it; NULL: "the policy leaves it out" */
        char *kind;        /* a port's device: element and type (another kind replaces it) */
        char *value;       /* NULL: absent */
        bool lines;        /* a text compared line by line */
} Fact;

static void fact_free(gpointer p) {
        Fact *f = p;
        g_free(f->key);
        g_free(f->port);
        g_free(f->subject);
        g_free(f->gone);
        g_free(f->kind);
        g_free(f->value);
        g_free(f);
}

static Fact *add_fact(GPtrArray *facts, const char *port, char *key, char *subject, const char *has, const char *lacks,
                      char *value) {
        Fact *f = g_new0(Fact, 1);
        f->port = g_strdup(port);
        f->key = key;
        f->subject = subject;
        f->has = has;
        f->lacks = lacks;
        f->value = value;
        g_ptr_array_add(facts, f);
        return f;
}

static char *norm_cpuset(const char *s) {
        g_autoptr(VrCpuSet) set = NULL;
        if (!s)
                return NULL;
        if (vr_cpuset_parse(s, &set) < 0)
                return g_strdup(s);
        return vr_cpuset_format(set);
}

/* "0000:03:10.0" from <address domain='0x0000' bus='0x03' slot='0x10' function='0x0'>. */
static char *norm_pci(const xmlNode *addr) {
        char *pci = vr_xml_pci_address(addr);
        return pci ? pci : g_strdup("?");
}

/* ------------------------------------------------------------------------ */
/* CPU: pins, shares, a container's CPU set                                  */

static void cpu_facts(xmlNode *root, GPtrArray *facts) {
        xmlNode *cputune = vr_xml_child(root, NULL, "cputune");
        xmlNode *vcpu = vr_xml_child(root, NULL, "vcpu");
        g_autofree char *cpuset = vr_xml_prop(vcpu, "cpuset");

        for (xmlNode *n = vr_xml_first(cputune); n; n = vr_xml_next(n)) {
                g_autofree char *id = NULL, *set = NULL;
                if (!vr_xml_is(n, NULL, "vcpupin") || !(id = vr_xml_prop(n, "vcpu")))
                        continue;
                set = vr_xml_prop(n, "cpuset");
                add_fact(facts, NULL, g_strdup_printf("vcpupin %s", id), g_strdup_printf("vcpu %s", id), "is pinned to",
                         "is not pinned", norm_cpuset(set));
        }
        {
                g_autofree char *set = vr_xml_prop(vr_xml_child(cputune, NULL, "emulatorpin"), "cpuset");
                add_fact(facts, NULL, g_strdup("emulatorpin"), g_strdup("the emulator"), "is pinned to",
                         "is not pinned", norm_cpuset(set));
        }
        {
                g_autofree char *shares = vr_xml_text(vr_xml_child(cputune, NULL, "shares"));
                add_fact(facts, NULL, g_strdup("shares"), g_strdup("the domain"), "has", "has no CPU shares",
                         shares ? g_strdup_printf("CPU shares %s", shares) : NULL);
        }
        add_fact(facts, NULL, g_strdup("vcpu cpuset"), g_strdup("the domain's CPU set (<vcpu cpuset>)"), "is",
                 "is not set", norm_cpuset(cpuset));
        /* libvirt's own scheduling of a thread kind: the rewrite removes it where the
         * policy schedules that kind (the tuner does), so one left there is drift. */
        for (xmlNode *n = vr_xml_first(cputune); n; n = vr_xml_next(n)) {
                static const char *const elements[] = {"vcpusched", "emulatorsched", "iothreadsched", NULL};
                static const char *const attrs[] = {"vcpus", "iothreads", "scheduler", "priority", NULL};
                g_autoptr(GString) desc = NULL;
                Fact *f;
                if (!g_strv_contains(elements, (const char *) n->name) || !vr_xml_is(n, NULL, (const char *) n->name))
                        continue;
                desc = g_string_new(NULL);
                g_string_append_printf(desc, "<%s", (const char *) n->name);
                for (const char *const *a = attrs; *a; a++) {
                        g_autofree char *v = vr_xml_prop(n, *a);
                        if (v)
                                g_string_append_printf(desc, " %s='%s'", *a, v);
                }
                g_string_append(desc, ">");
                f = add_fact(facts, NULL, g_strdup_printf("sched %s", desc->str), g_strdup("<cputune>"), "has",
                             "lacks it", g_strdup(desc->str));
                f->gone = g_strdup("the router policy schedules those threads: virt-router-tune sets their class, apply removes it");
        }
}

/* ------------------------------------------------------------------------ */
/* Ports                                                                     */


/* What a device is and where it goes out, as a user would recognise it. */
static char *device_desc(xmlNode *d, char **ret_kind) {
        xmlNode *src = vr_xml_child(d, NULL, "source");
        g_autofree char *type = vr_xml_prop(d, "type"), *mode = vr_xml_prop(d, "mode");
        g_autofree char *sdev = vr_xml_prop(src, "dev"), *smode = vr_xml_prop(src, "mode");
        g_autofree char *net = vr_xml_prop(src, "network"), *bridge = vr_xml_prop(src, "bridge");
        xmlNode *addr = vr_xml_child(src, NULL, "address");

        *ret_kind = g_strdup_printf("%s %s %s", (const char *) d->name, type ? type : "", mode ? mode : "");
        if (vr_xml_is(d, NULL, "hostdev")) {
                g_autofree char *netdev = vr_xml_text(vr_xml_child(src, NULL, "interface"));
                g_autofree char *pci = addr ? norm_pci(addr) : NULL;
                if (netdev)
                        return g_strdup_printf("<hostdev type='%s'> of %s", type ? type : "", netdev);
                return g_strdup_printf("<hostdev type='%s'>%s%s", type ? type : "", pci ? " of " : "", pci ? pci : "");
        }
        if (g_strcmp0(type, "direct") == 0)
                return smode ? g_strdup_printf("<interface type='direct'> on %s in mode %s", sdev ? sdev : "?", smode)
                             : g_strdup_printf("<interface type='direct'> on %s", sdev ? sdev : "?");
        if (g_strcmp0(type, "hostdev") == 0) {
                g_autofree char *pci = addr ? norm_pci(addr) : g_strdup("?");
                return g_strdup_printf("<interface type='hostdev'> of VF %s", pci);
        }
        if (g_strcmp0(type, "network") == 0)
                return g_strdup_printf("<interface type='network'> from network '%s'", net ? net : "?");
        if (bridge)
                return g_strdup_printf("<interface type='%s'> on bridge %s", type ? type : "", bridge);
        return g_strdup_printf("<interface type='%s'>", type ? type : "");
}

/* Attribute of a child element, written as the XML says it: "<driver rx_queue_size='1024'>". */
static char *child_attr(xmlNode *d, const char *child, const char *attr) {
        g_autofree char *v = vr_xml_prop(vr_xml_child(d, NULL, child), attr);
        return v ? g_strdup_printf("<%s %s='%s'>", child, attr, v) : NULL;
}

static char *own_attr(xmlNode *d, const char *attr) {
        g_autofree char *v = vr_xml_prop(d, attr);
        return v ? g_strdup_printf("%s='%s'", attr, v) : NULL;
}

/* The values of one kind of child, space separated; NULL when there is none. */
static char *list_of(xmlNode *d, const char *child, const char *label) {
        g_autoptr(GString) s = g_string_new(NULL);
        for (xmlNode *c = vr_xml_first(d); c; c = vr_xml_next(c)) {
                g_autofree char *addr = NULL, *prefix = NULL, *gw = NULL, *id = NULL;
                if (!vr_xml_is(c, NULL, child))
                        continue;
                addr = vr_xml_prop(c, "address");
                prefix = vr_xml_prop(c, "prefix");
                gw = vr_xml_prop(c, "gateway");
                id = vr_xml_prop(c, "id");
                g_string_append(s, s->len ? ", " : label);
                if (id)
                        g_string_append(s, id);
                if (addr) {
                        g_autofree char *low = g_ascii_strdown(addr, -1);
                        g_string_append(s, low);
                }
                if (prefix)
                        g_string_append_printf(s, "/%s", prefix);
                if (gw) {
                        g_autofree char *low = g_ascii_strdown(gw, -1);
                        g_string_append_printf(s, " via %s", low);
                }
        }
        return s->len ? g_strdup(s->str) : NULL;
}

static void port_facts(const char *name, xmlNode *d, bool lxc, GPtrArray *facts) {
        g_autofree char *kind = NULL;
        g_autofree char *mac = d ? vr_xml_prop(vr_xml_child(d, NULL, "mac"), "address") : NULL;
        g_autofree char *mac_low = mac ? g_ascii_strdown(mac, -1) : NULL;
        const char *p = name;
        Fact *f;

#define SUBJ g_strdup_printf("port '%s'", p)
#define KEY(k) g_strdup_printf("port %s %s", p, k)
        f = add_fact(facts, p, KEY("device"), SUBJ, "is", "has no device", d ? device_desc(d, &kind) : NULL);
        f->kind = g_steal_pointer(&kind);
        if (!d)
                return;
        /* The hook finds a guest's ports by their alias at start (a container's by
         * the name inside, <guest dev>: libvirt's LXC driver drops aliases). */
        if (!lxc)
                add_fact(facts, p, KEY("alias"), SUBJ, "is marked", "is not marked as the router's port",
                         child_attr(d, "alias", "name"));
        /* Not `managed`: a VF the user manages (managed='no') is one the hook binds to
         * vfio-pci at prepare, a choice rather than a difference. */
        add_fact(facts, p, KEY("trust"), SUBJ, "has", "has no trustGuestRxFilters", own_attr(d, "trustGuestRxFilters"));
        add_fact(facts, p, KEY("mac"), SUBJ, "has", "has no MAC", mac_low ? g_strdup_printf("MAC %s", mac_low) : NULL);
        add_fact(facts, p, KEY("vlan"), SUBJ, "has", "has no VLAN",
                 list_of(vr_xml_child(d, NULL, "vlan"), "tag", "VLAN "));
        add_fact(facts, p, KEY("model"), SUBJ, "has", "has no <model>", child_attr(d, "model", "type"));
        add_fact(facts, p, KEY("driver name"), SUBJ, "has", "has no <driver name>", child_attr(d, "driver", "name"));
        add_fact(facts, p, KEY("queues"), SUBJ, "has", "has no <driver queues>", child_attr(d, "driver", "queues"));
        add_fact(facts, p, KEY("rx"), SUBJ, "has", "has no <driver rx_queue_size>",
                 child_attr(d, "driver", "rx_queue_size"));
        add_fact(facts, p, KEY("tx"), SUBJ, "has", "has no <driver tx_queue_size>",
                 child_attr(d, "driver", "tx_queue_size"));
        add_fact(facts, p, KEY("ip"), SUBJ, "has", "has no addresses", list_of(d, "ip", "addresses "));
        add_fact(facts, p, KEY("route"), SUBJ, "has", "has no routes", list_of(d, "route", "routes "));
        add_fact(facts, p, KEY("link"), SUBJ, "has", "has no <link state>", child_attr(d, "link", "state"));
#undef SUBJ
#undef KEY
}

/* Every element of the copy points (_private) at the element of the definition it was
 * copied from; elements the rewrite makes point nowhere. */
static void link_copy(xmlNode *orig, xmlNode *copy) {
        for (; orig && copy; orig = orig->next, copy = copy->next) {
                if (copy->type != XML_ELEMENT_NODE)
                        continue;
                copy->_private = orig;
                link_copy(orig->children, copy->children);
        }
}

/* Each port's device in the rewritten copy, found as the hook finds it later, and the
 * device of the definition apply made it from (whichever way apply chose that one), or
 * for a port whose device apply replaced, the one that has its alias now. Devices of the
 * definition that apply removes are reported as well. */
static void ports_facts(xmlDoc *doc, xmlDoc *copy, const VrPlan *plan, GPtrArray *have, GPtrArray *want) {
        xmlNode *devices = vr_xml_child(xmlDocGetRootElement(doc), NULL, "devices");
        xmlNode *cdevices = vr_xml_child(xmlDocGetRootElement(copy), NULL, "devices");
        g_autoptr(GHashTable) claimed = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_autoptr(GHashTable) kept = g_hash_table_new(g_direct_hash, g_direct_equal);
        bool lxc = plan->policy->dom.type == VR_DOMAIN_LXC;
        /* Indexes, not scans per port: the last device of an alias, as the rewrite takes it. */
        g_autoptr(GHashTable) by_alias = lxc ? NULL : vr_rewrite_alias_index(devices, true);
        g_autoptr(GHashTable) cby_alias = lxc ? NULL : vr_rewrite_alias_index(cdevices, true);
        g_autoptr(VrLxcIndex) clxc = lxc ? vr_rewrite_lxc_index_new(cdevices) : NULL;

        for (xmlNode *c = vr_xml_first(cdevices); c; c = vr_xml_next(c))
                if (c->_private)
                        g_hash_table_add(kept, c->_private);
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                xmlNode *c = lxc ? vr_rewrite_find_lxc_port(clxc, pi->port, pi->netdev, claimed)
                                 : g_hash_table_lookup(cby_alias, pi->alias);
                xmlNode *d = c ? c->_private : NULL;
                if (c)
                        g_hash_table_add(claimed, c);
                if (!d && !lxc && (d = g_hash_table_lookup(by_alias, pi->alias)))
                        g_hash_table_add(kept, d); /* reported as the port's, not as removed */
                port_facts(pi->port->name, d, lxc, have);
                port_facts(pi->port->name, c, lxc, want);
        }
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *alias = NULL, *kind = NULL;
                Fact *f;
                if ((!vr_xml_is(d, NULL, "interface") && !vr_xml_is(d, NULL, "hostdev")) ||
                    g_hash_table_contains(kept, d))
                        continue;
                alias = vr_rewrite_device_alias(d);
                f = add_fact(have, NULL, g_strdup_printf("removed %p", (void *) d),
                             alias ? g_strdup_printf("the device with alias '%s'", alias) : g_strdup("a device"), "is",
                             "is missing", device_desc(d, &kind));
                if (alias && g_str_has_prefix(alias, VR_ALIAS_PREFIX))
                        f->gone = g_strdup_printf("the policy has no port '%s'", alias + strlen(VR_ALIAS_PREFIX));
                else
                        f->gone = g_strdup("apply removes it");
        }
}

/* ------------------------------------------------------------------------ */
/* The guest's configuration (fw_cfg)                                        */

/* Port names whose first interface in the plan is a VF's (hostdev or network pool). */
static GHashTable *vf_ports(const VrPlan *plan) {
        GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

        for (guint i = plan->ifaces->len; i-- > 0;) { /* backwards: the first one stays */
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                g_hash_table_insert(h, pi->port->name,
                                    GINT_TO_POINTER(pi->kind == VR_IFACE_HOSTDEV || pi->kind == VR_IFACE_NETWORK));
        }
        return h;
}

static void guest_config_fact(xmlNode *root, const VrPlan *plan, GPtrArray *facts) {
        xmlNode *entry = NULL;
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        g_autoptr(GHashTable) vf = vf_ports(plan);
        Fact *f;

        entry = vr_rewrite_guest_config_entry(root, NULL);
        text = vr_xml_text(entry);
        /* A VF port's MAC is libvirt's, given at define after render or apply wrote the
         * configuration without it; the guest then finds the VF by PCI order. Not a
         * difference from the policy. */
        lines = text ? g_strsplit(text, "\n", -1) : NULL;
        for (char **l = lines; l && *l; l++) {
                g_auto(GStrv) tok = g_strsplit(*l, " ", 4);
                if (g_strv_length(tok) >= 4 && g_str_equal(tok[0], "port") && g_str_equal(tok[2], "mac") &&
                    GPOINTER_TO_INT(g_hash_table_lookup(vf, tok[1]))) {
                        g_free(*l);
                        *l = g_strdup_printf("port %s", tok[1]);
                }
        }
        f = add_fact(facts, NULL, g_strdup("guest config"),
                     g_strdup("the guest configuration (<sysinfo type='fwcfg'> entry " VR_GUEST_CONFIG_ENTRY ")"),
                     "has", "is missing", lines ? g_strjoinv("\n", lines) : NULL);
        f->lines = true;
}

/* ------------------------------------------------------------------------ */

/* A text's first differing line, quoted. */
static char *line_diff(const Fact *have, const Fact *want) {
        g_auto(GStrv) h = g_strsplit(have->value, "\n", -1), w = g_strsplit(want->value, "\n", -1);
        guint i = 0;

        while (h[i] && w[i] && g_str_equal(h[i], w[i]))
                i++;
        if (!h[i])
                return g_strdup_printf("%s lacks '%s', which the policy says", have->subject, w[i]);
        if (!w[i])
                return g_strdup_printf("%s has '%s', the policy leaves it out", have->subject, h[i]);
        return g_strdup_printf("%s has '%s', the policy says '%s'", have->subject, h[i], w[i]);
}

static char *difference(const Fact *have, const Fact *want) {
        if (g_strcmp0(have ? have->value : NULL, want ? want->value : NULL) == 0)
                return NULL;
        if (!want || !want->value) /* the rewrite removes it */
                return g_strdup_printf("%s %s %s, %s", have->subject, have->has, have->value,
                                       have->gone ? have->gone : "the policy leaves it out");
        if (!have || !have->value)
                return want->lines
                               ? g_strdup_printf("%s %s", want->subject, want->lacks)
                               : g_strdup_printf("%s %s, the policy says %s", want->subject, want->lacks, want->value);
        if (want->lines)
                return line_diff(have, want);
        return g_strdup_printf("%s %s %s, the policy says %s", have->subject, have->has, have->value, want->value);
}

GPtrArray *vr_plan_drift(const VrPlan *plan, xmlDoc *doc) {
        GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(xmlDoc) copy = xmlCopyDoc(doc, 1);
        g_autoptr(GPtrArray) have = NULL, want = NULL;
        g_autoptr(GHashTable) have_by_key = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) want_keys = g_hash_table_new(g_str_hash, g_str_equal);
        g_autoptr(GHashTable) replaced = g_hash_table_new(g_str_hash, g_str_equal); /* ports */

        /* What apply would make of it: the same rewrite, on a copy. */
        link_copy(xmlDocGetRootElement(doc), xmlDocGetRootElement(copy));
        vr_rewrite_doc(copy, plan);
        have = g_ptr_array_new_with_free_func(fact_free);
        want = g_ptr_array_new_with_free_func(fact_free);
        /* Ports first: a router without its port is what a user notices. */
        ports_facts(doc, copy, plan, have, want);
        cpu_facts(xmlDocGetRootElement(doc), have);
        cpu_facts(xmlDocGetRootElement(copy), want);
        guest_config_fact(xmlDocGetRootElement(doc), plan, have);
        guest_config_fact(xmlDocGetRootElement(copy), plan, want);
        for (guint i = 0; i < have->len; i++) {
                Fact *f = have->pdata[i];
                g_hash_table_insert(have_by_key, f->key, f);
        }
        for (guint i = 0; i < want->len; i++) {
                const Fact *w = want->pdata[i];
                const Fact *h = g_hash_table_lookup(have_by_key, w->key);
                char *d;
                g_hash_table_add(want_keys, w->key);
                /* A port without its device, or with one of another kind that apply
                 * replaces as a whole, is one difference, not one per attribute. */
                if (w->port && g_hash_table_contains(replaced, w->port))
                        continue;
                if (!(d = difference(h, w)))
                        continue;
                g_ptr_array_add(out, d);
                if (w->kind && (!h || g_strcmp0(h->kind, w->kind) != 0))
                        g_hash_table_add(replaced, w->port);
        }
        for (guint i = 0; i < have->len; i++) {
                const Fact *h = have->pdata[i];
                char *d;
                if (g_hash_table_contains(want_keys, h->key) || (h->port && g_hash_table_contains(replaced, h->port)))
                        continue;
                if ((d = difference(h, NULL)))
                        g_ptr_array_add(out, d);
        }
        return out;
}
