#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "vr-policy-xml.h"
#include "vr-error.h"
#include "vr-pci.h"
#include "vr-rewrite.h"
#include "vr-xml.h"

/* ------------------------------------------------------------------------ */
/* <cputune> and <vcpu>                                                      */

static xmlNode *ensure_cputune(xmlNode *root) {
        xmlNode *ct = vr_xml_child(root, NULL, "cputune");
        xmlNode *after;

        if (ct)
                return ct;
        /* Where libvirt itself writes it: after <vcpu> (and <iothreads>). */
        after = vr_xml_child(root, NULL, "iothreads");
        if (!after)
                after = vr_xml_child(root, NULL, "vcpu");
        if (!after)
                after = vr_xml_child(root, NULL, "currentMemory");
        if (!after)
                after = vr_xml_child(root, NULL, "memory");
        ct = vr_xml_new("cputune", NULL);
        vr_xml_insert(root, after, ct);
        return ct;
}

static xmlNode *find_by_attr(xmlNode *parent, const char *name, const char *attr,
                             const char *value) {
        for (xmlNode *c = vr_xml_first(parent); c; c = vr_xml_next(c)) {
                g_autofree char *v = NULL;
                if (!vr_xml_is(c, NULL, name))
                        continue;
                v = vr_xml_prop(c, attr);
                if (g_strcmp0(v, value) == 0)
                        return c;
        }
        return NULL;
}

static xmlNode *last_child_named(xmlNode *parent, const char *name) {
        xmlNode *last = NULL;
        for (xmlNode *c = vr_xml_first(parent); c; c = vr_xml_next(c))
                if (vr_xml_is(c, NULL, name))
                        last = c;
        return last;
}

/* libvirt's scheduling elements in <cputune>, by the thread kind they set. */
static const struct {
        const char *element;
        VrThreadKind kind;
} libvirt_sched[] = {
        {"vcpusched", VR_THREAD_VCPU},
        {"emulatorsched", VR_THREAD_EMULATOR},
        {"iothreadsched", VR_THREAD_IOTHREAD},
};

static void remove_libvirt_sched(xmlNode *root, guint kinds) {
        xmlNode *ct = vr_xml_child(root, NULL, "cputune");
        bool removed = false;

        for (xmlNode *n = vr_xml_first(ct), *next; n; n = next) {
                next = vr_xml_next(n);
                for (size_t i = 0; i < G_N_ELEMENTS(libvirt_sched); i++) {
                        if ((kinds & libvirt_sched[i].kind) && vr_xml_is(n, NULL, libvirt_sched[i].element)) {
                                vr_xml_remove(n);
                                removed = true;
                                break;
                        }
                }
        }
        /* A <cputune> that held only those goes too, as libvirt would drop it. */
        if (removed && !vr_xml_first(ct))
                vr_xml_remove(ct);
}

static void rewrite_cpu(xmlNode *root, const VrPlan *plan) {
        xmlNode *ct;

        remove_libvirt_sched(root, plan->drop_sched);

        if (plan->vcpu_cpuset) {
                xmlNode *vcpu = vr_xml_child(root, NULL, "vcpu");
                if (!vcpu) {
                        vcpu = vr_xml_new("vcpu", NULL);
                        xmlNodeAddContent(vcpu, BAD_CAST "1");
                        vr_xml_insert(root, vr_xml_child(root, NULL, "memory"), vcpu);
                }
                vr_xml_set_prop(vcpu, "placement", "static");
                vr_xml_set_prop(vcpu, "cpuset", plan->vcpu_cpuset);
        }
        if (!plan->vcpupin->len && !plan->emulatorpin && !plan->shares)
                return;
        ct = ensure_cputune(root);
        if (plan->shares) {
                g_autofree char *s = g_strdup_printf("%d", plan->shares);
                xmlNode *sh = vr_xml_child(ct, NULL, "shares");
                if (!sh) {
                        sh = vr_xml_new("shares", NULL);
                        vr_xml_insert(ct, NULL, sh);
                }
                vr_xml_set_text(sh, s);
        }
        for (guint i = 0; i < plan->vcpupin->len; i++) {
                g_autofree char *id = g_strdup_printf("%u", i);
                xmlNode *pin = find_by_attr(ct, "vcpupin", "vcpu", id);
                if (!pin) {
                        pin = vr_xml_new("vcpupin", "vcpu", id, NULL);
                        vr_xml_insert(ct, last_child_named(ct, "vcpupin"), pin);
                }
                vr_xml_set_prop(pin, "cpuset", plan->vcpupin->pdata[i]);
        }
        if (plan->emulatorpin) {
                xmlNode *ep = vr_xml_child(ct, NULL, "emulatorpin");
                if (!ep) {
                        ep = vr_xml_new("emulatorpin", NULL);
                        vr_xml_insert(ct, last_child_named(ct, "vcpupin"), ep);
                }
                vr_xml_set_prop(ep, "cpuset", plan->emulatorpin);
        }
}

/* ------------------------------------------------------------------------ */
/* Router ports                                                             */

char *vr_rewrite_device_alias(xmlNode *dev) {
        return vr_xml_prop(vr_xml_child(dev, NULL, "alias"), "name");
}

bool vr_rewrite_is_router_device(xmlNode *dev) {
        g_autofree char *alias = NULL;
        if (!vr_xml_is(dev, NULL, "interface") && !vr_xml_is(dev, NULL, "hostdev"))
                return false;
        alias = vr_rewrite_device_alias(dev);
        return alias && g_str_has_prefix(alias, VR_ALIAS_PREFIX);
}

static xmlNode *pci_address_node(const char *pci) {
        xmlNode *addr = vr_xml_new("address", "type", "pci", NULL);
        vr_xml_set_pci_address(addr, pci);
        return addr;
}

static void add(xmlNode *parent, xmlNode *child) {
        xmlAddChild(parent, child);
}

/* 52:54:00 (QEMU's prefix) and three bytes of a hash of domain and port. */
static char *port_mac(const char *domain, const char *port) {
        g_autofree char *key = g_strconcat(domain, "/", port, NULL);
        g_autofree char *hex = g_compute_checksum_for_string(G_CHECKSUM_SHA256, key, -1);
        return g_strdup_printf("52:54:00:%.2s:%.2s:%.2s", hex, hex + 2, hex + 4);
}

/* A container's addresses and routes go on its port's device, for every kind of port. */
static void add_ips_routes(xmlNode *dev, const VrPlanIface *pi) {
        for (guint i = 0; i < pi->ips->len; i++) {
                const VrAddress *a = pi->ips->pdata[i];
                g_autofree char *prefix = g_strdup_printf("%d", a->prefix);
                /* libvirt's own form (family always given), so a round trip matches. */
                add(dev, vr_xml_new("ip", "address", a->addr, "family", a->family == 6 ? "ipv6" : "ipv4",
                                    "prefix", prefix, NULL));
        }
        for (guint i = 0; i < pi->routes->len; i++) {
                const VrRoute *r = pi->routes->pdata[i];
                g_autofree char *prefix = g_strdup_printf("%d", r->to_prefix);
                add(dev, vr_xml_new("route", "family", r->family == 6 ? "ipv6" : "ipv4",
                                    "address", r->to_addr, "prefix", prefix, "gateway", r->via, NULL));
        }
}

/* The device element the plan asks for, built fresh. */
static xmlNode *build_device(const VrPlanIface *pi, bool lxc) {
        const VrPort *port = pi->port;
        xmlNode *dev, *src;

        if (pi->kind == VR_IFACE_LXC_HOSTDEV) {
                dev = vr_xml_new("hostdev", "mode", "capabilities", "type", "net", NULL);
                src = vr_xml_new("source", NULL);
                add(dev, src);
                add(src, vr_xml_new("interface", NULL));
                xmlNodeAddContent(src->children, BAD_CAST pi->netdev);
                add_ips_routes(dev, pi);
                return dev; /* no alias: libvirt's LXC driver drops user aliases */
        }
        switch (pi->kind) {
        case VR_IFACE_HOSTDEV:
                dev = vr_xml_new("interface", "type", "hostdev", "managed", "yes", NULL);
                break;
        case VR_IFACE_NETWORK:
                dev = vr_xml_new("interface", "type", "network", NULL);
                break;
        case VR_IFACE_DIRECT:
        case VR_IFACE_LXC_HOSTDEV:
        default:
                /* A router needs the multicast a macvtap filters by default (IPv6
                 * neighbour discovery, routing protocols): let the guest's receive
                 * filter through. */
                dev = vr_xml_new("interface", "type", "direct", "trustGuestRxFilters",
                                 lxc ? NULL : "yes", NULL);
                break;
        }
        if (port->mac) {
                add(dev, vr_xml_new("mac", "address", port->mac, NULL));
        } else if (pi->virtio || pi->guest_name) {
                /* The guest finds its ports by MAC: a stable one, not libvirt's random. A
                 * container's is apply's mark on a device it made (see ours_unclaimed()). */
                g_autofree char *mac = port_mac(pi->domain, port->name);
                add(dev, vr_xml_new("mac", "address", mac, NULL));
        }
        if (pi->kind == VR_IFACE_HOSTDEV) {
                src = vr_xml_new("source", NULL);
                add(src, pci_address_node(pi->pci));
                add(dev, src);
        } else if (pi->kind == VR_IFACE_NETWORK) {
                add(dev, vr_xml_new("source", "network", pi->network, NULL));
        } else {
                add(dev, vr_xml_new("source", "dev", port->dev, "mode", port->macvtap_mode, NULL));
        }
        if (port->vlan) {
                g_autofree char *id = g_strdup_printf("%d", port->vlan);
                xmlNode *vlan = vr_xml_new("vlan", NULL);
                add(vlan, vr_xml_new("tag", "id", id, NULL));
                add(dev, vlan);
        }
        if (pi->virtio) {
                g_autofree char *q = port->queues > 1 ? g_strdup_printf("%d", port->queues) : NULL;
                g_autofree char *rx = port->rx_queue_size ? g_strdup_printf("%d", port->rx_queue_size) : NULL;
                g_autofree char *tx = port->tx_queue_size ? g_strdup_printf("%d", port->tx_queue_size) : NULL;
                add(dev, vr_xml_new("model", "type", "virtio", NULL));
                add(dev, vr_xml_new("driver", "name", pi->driver_name, "queues", q,
                                    "rx_queue_size", rx, "tx_queue_size", tx, NULL));
        }
        add_ips_routes(dev, pi);
        if (pi->guest_name)
                add(dev, vr_xml_new("guest", "dev", pi->guest_name, NULL));
        if (pi->ips->len && pi->kind == VR_IFACE_DIRECT)
                add(dev, vr_xml_new("link", "state", "up", NULL));
        if (!lxc)
                add(dev, vr_xml_new("alias", "name", pi->alias, NULL));
        return dev;
}

static bool same_kind(xmlNode *have, xmlNode *want) {
        static const char *const keys[] = {"type", "mode", NULL};
        if (!xmlStrEqual(have->name, want->name))
                return false;
        for (const char *const *k = keys; *k; k++) {
                g_autofree char *a = vr_xml_prop(have, *k);
                g_autofree char *b = vr_xml_prop(want, *k);
                if (g_strcmp0(a, b) != 0)
                        return false;
        }
        return true;
}

/* Insert child in front of `before` (NULL: as the last element), indented as its siblings. */
static void insert_before(xmlNode *dev, xmlNode *before, xmlNode *child) {
        xmlNode *after = NULL;

        if (!before) {
                vr_xml_insert(dev, NULL, child);
                return;
        }
        for (xmlNode *c = vr_xml_first(dev); c && c != before; c = vr_xml_next(c))
                after = c;
        if (after) {
                vr_xml_insert(dev, after, child);
        } else {
                /* `before` is the first element: put the child in front of it, same indent. */
                xmlNode *ws = before->prev && before->prev->type == XML_TEXT_NODE ? xmlCopyNode(before->prev, 1) : NULL;
                xmlSetTreeDoc(child, dev->doc);
                xmlAddPrevSibling(before, child);
                if (ws)
                        xmlAddPrevSibling(before, ws);
        }
}

/* Devices end with <alias> by libvirt's habit; new children go before it. */
static void insert_before_alias(xmlNode *dev, xmlNode *child) {
        insert_before(dev, vr_xml_child(dev, NULL, "alias"), child);
}

static const char *const port_driver_attrs[] = {"name", "queues", "rx_queue_size", "tx_queue_size", NULL};

/* Bring an existing device of the right kind in line with `want`, keeping what the
 * user added (PCI slot, boot order, <driver><host .../></driver>, ...). */
static void merge_device(xmlNode *have, xmlNode *want, bool policy_mac, bool own_lists) {
        bool want_lists = own_lists || vr_xml_child(want, NULL, "ip") || vr_xml_child(want, NULL, "route");

        for (xmlAttr *a = want->properties; a; a = a->next) {
                g_autoptr(xmlChar) v = xmlNodeGetContent((xmlNode *) a);
                vr_xml_set_prop(have, (const char *) a->name, (const char *) v);
        }
        /* ip/route are lists owned by the policy when it gives any, and on a container,
         * where apply writes every port's addresses, always. */
        if (want_lists) {
                bool same = true;
                xmlNode *h = vr_xml_first(have), *w = vr_xml_first(want);
                GPtrArray *old = g_ptr_array_new();
                for (; h; h = vr_xml_next(h))
                        if (vr_xml_is(h, NULL, "ip") || vr_xml_is(h, NULL, "route"))
                                g_ptr_array_add(old, h);
                for (guint i = 0; w; w = vr_xml_next(w)) {
                        if (!vr_xml_is(w, NULL, "ip") && !vr_xml_is(w, NULL, "route"))
                                continue;
                        if (i >= old->len || !vr_xml_equal(old->pdata[i], w))
                                same = false;
                        i++;
                }
                {
                        guint n_want = 0;
                        for (w = vr_xml_first(want); w; w = vr_xml_next(w))
                                n_want += vr_xml_is(w, NULL, "ip") || vr_xml_is(w, NULL, "route");
                        if (n_want != old->len)
                                same = false;
                }
                if (!same) {
                        for (guint i = 0; i < old->len; i++)
                                vr_xml_remove(old->pdata[i]);
                        for (w = vr_xml_first(want); w; w = vr_xml_next(w))
                                if (vr_xml_is(w, NULL, "ip") || vr_xml_is(w, NULL, "route"))
                                        insert_before_alias(have, xmlCopyNode(w, 1));
                }
                g_ptr_array_unref(old);
        }
        for (xmlNode *w = vr_xml_first(want); w; w = vr_xml_next(w)) {
                const char *name = (const char *) w->name;
                xmlNode *h;
                if (g_str_equal(name, "ip") || g_str_equal(name, "route") || g_str_equal(name, "alias"))
                        continue;
                h = vr_xml_child(have, NULL, name);
                if (h && g_str_equal(name, "mac") && !policy_mac)
                        continue; /* the MAC it has: ours from before, or libvirt's */
                if (h && g_str_equal(name, "mac")) {
                        /* The same MAC in other letters is the same MAC: kept as written, so
                         * a second apply does not respell what the first kept. */
                        g_autofree char *hm = vr_xml_prop(h, "address"), *wm = vr_xml_prop(w, "address");
                        if (hm && wm && g_ascii_strcasecmp(hm, wm) == 0)
                                continue;
                }
                if (!h && g_str_equal(name, "mac")) {
                        insert_before(have, vr_xml_first(have), xmlCopyNode(w, 1)); /* first, as libvirt writes it */
                } else if (!h) {
                        insert_before_alias(have, xmlCopyNode(w, 1));
                } else if (g_str_equal(name, "driver")) {
                        /* Attributes only: the user's <host>/<guest> offload settings stay. */
                        for (xmlAttr *a = w->properties; a; a = a->next) {
                                g_autoptr(xmlChar) v = xmlNodeGetContent((xmlNode *) a);
                                vr_xml_set_prop(h, (const char *) a->name, (const char *) v);
                        }
                        /* The back end and its rings are the port's, also where it leaves
                         * them to QEMU: an adopted tx_queue_size='1024' (tuning guides paste
                         * it) makes QEMU refuse a tap/macvtap back end ("must be a power of 2
                         * between 256 and 256"), an odd rx_queue_size makes libvirt refuse
                         * the definition, and queues belong to the port's vhost workers. */
                        for (const char *const *k = port_driver_attrs; *k; k++)
                                if (!xmlHasNsProp(w, BAD_CAST *k, NULL))
                                        vr_xml_unset_prop(h, *k);
                } else if (!vr_xml_equal(h, w)) {
                        vr_xml_replace(h, xmlCopyNode(w, 1));
                }
        }
}

static bool prop_is(const xmlNode *n, const char *attr, const char *value) {
        g_autofree char *v = vr_xml_prop(n, attr);
        return g_strcmp0(v, value) == 0;
}

/* "<hostdev mode='subsystem' type='usb'> (line 31)": the device as a user finds it. */
static char *device_label(const xmlNode *d) {
        static const char *const attrs[] = {"type", "mode", "device", "model", "bus", NULL};
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "<%s", (const char *) d->name);
        for (const xmlAttr *a = d->properties; a; a = a->next) {
                g_autofree char *v = NULL;
                if (a->ns || !g_strv_contains(attrs, (const char *) a->name))
                        continue;
                v = vr_xml_prop(d, (const char *) a->name);
                g_string_append_printf(s, " %s='%s'", (const char *) a->name, v);
        }
        g_string_append_c(s, '>');
        if (vr_xml_line(d) > 0)
                g_string_append_printf(s, " (line %ld)", vr_xml_line(d));
        return g_string_free(s, FALSE);
}

static bool is_lxc_macvlan(const xmlNode *d) {
        return vr_xml_is(d, NULL, "interface") && prop_is(d, "type", "direct");
}

static bool is_lxc_netdev(const xmlNode *d) {
        return vr_xml_is(d, NULL, "hostdev") && prop_is(d, "mode", "capabilities") && prop_is(d, "type", "net");
}

/* The name a container's device has inside (<guest dev>), which libvirt keeps. */
static char *guest_name(const xmlNode *d) {
        return vr_xml_prop(vr_xml_child(d, NULL, "guest"), "dev");
}

/* A running container's macvlan that was given no name: libvirt names it ethN itself
 * and shows the host side as actual= (status XML only). The hook sees ports that apply
 * wrote before it named them so. */
static bool libvirt_named(const xmlNode *d) {
        xmlNode *g = vr_xml_child(d, NULL, "guest");
        g_autofree char *name = vr_xml_prop(g, "dev"), *actual = vr_xml_prop(g, "actual");
        return name && actual && g_str_has_prefix(name, "eth") && name[3] &&
               strspn(name + 3, "0123456789") == strlen(name + 3);
}

/* ------------------------------------------------------------------------ */
/* Finding devices by key: one pass over the devices builds the indexes, so that a port
 * costs a lookup, not a scan of every device (thousands of ports took seconds).        */

/* key -> GQueue of devices in document order. A lookup drops the claimed devices at the
 * head (claimed ones stay claimed), so the first unclaimed device in document order is
 * found in constant time amortised, as the scans it replaces found it. */
static GHashTable *dev_index_new(void) {
        return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_queue_free);
}

static void dev_index_add(GHashTable *ix, const char *key, xmlNode *d) {
        GQueue *q;

        if (!key)
                return;
        if (!(q = g_hash_table_lookup(ix, key)))
                g_hash_table_insert(ix, g_strdup(key), (q = g_queue_new()));
        g_queue_push_tail(q, d);
}

static xmlNode *dev_index_head(GHashTable *ix, const char *key, GHashTable *claimed) {
        GQueue *q = key ? g_hash_table_lookup(ix, key) : NULL;

        while (q && !g_queue_is_empty(q) && claimed && g_hash_table_contains(claimed, g_queue_peek_head(q)))
                g_queue_pop_head(q);
        return q ? g_queue_peek_head(q) : NULL;
}

/* An address as a key: the family and its bytes, so that libvirt's respelling of an IPv6
 * address matches. NULL for no address. */
static char *ip_key(const char *addr) {
        guint8 b[16] = {0};

        if (addr && inet_pton(AF_INET, addr, b) == 1)
                return g_strdup_printf("4/%u.%u.%u.%u", b[0], b[1], b[2], b[3]);
        if (addr && inet_pton(AF_INET6, addr, b) == 1) {
                char text[INET6_ADDRSTRLEN];
                return g_strdup_printf("6/%s", inet_ntop(AF_INET6, b, text, sizeof(text)));
        }
        return NULL;
}

static char *policy_ip_key(const VrAddress *a) {
        char text[INET6_ADDRSTRLEN];

        if (!inet_ntop(a->family == 6 ? AF_INET6 : AF_INET, a->bytes, text, sizeof(text)))
                return NULL;
        return ip_key(text);
}

/* A container's devices, indexed by every mark a port is found by (lxc_match and
 * vr_rewrite_find_lxc_port). */
struct VrLxcIndex {
        GHashTable *pos;      /* device -> 1 + its place among the devices */
        GHashTable *alias;    /* <alias name> */
        GHashTable *name;     /* a macvlan's <guest dev> */
        GHashTable *netdev;   /* a VF netdev's <source><interface> */
        GHashTable *ip;       /* ip_key of each <ip address> */
        GHashTable *dev;      /* a macvlan without a name of its own (or libvirt's ethN), by <source dev> */
        GHashTable *orphan;   /* "" -> apply's devices of ports the policy no longer has */
};

void vr_rewrite_lxc_index_free(VrLxcIndex *ix) {
        if (!ix)
                return;
        g_hash_table_unref(ix->pos);
        g_hash_table_unref(ix->alias);
        g_hash_table_unref(ix->name);
        g_hash_table_unref(ix->netdev);
        g_hash_table_unref(ix->ip);
        g_hash_table_unref(ix->dev);
        g_hash_table_unref(ix->orphan);
        g_free(ix);
}

static bool lxc_orphan(const xmlNode *d, const VrPlan *plan);

/* plan NULL: no orphans (only vr_rewrite_find_lxc_port's marks are wanted). */
static VrLxcIndex *lxc_index_new(xmlNode *devices, const VrPlan *plan) {
        VrLxcIndex *ix = g_new0(VrLxcIndex, 1);
        guint n = 0;

        ix->pos = g_hash_table_new(g_direct_hash, g_direct_equal);
        ix->alias = dev_index_new();
        ix->name = dev_index_new();
        ix->netdev = dev_index_new();
        ix->ip = dev_index_new();
        ix->dev = dev_index_new();
        ix->orphan = dev_index_new();
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *alias = NULL, *name = NULL, *netdev = NULL, *dev = NULL;
                xmlNode *src = vr_xml_child(d, NULL, "source");
                bool macvlan = is_lxc_macvlan(d);
                if (!macvlan && !is_lxc_netdev(d))
                        continue;
                g_hash_table_insert(ix->pos, d, GUINT_TO_POINTER(++n));
                alias = vr_rewrite_device_alias(d);
                dev_index_add(ix->alias, alias, d);
                if (macvlan) {
                        name = guest_name(d);
                        dev_index_add(ix->name, name, d);
                        dev = vr_xml_prop(src, "dev");
                        if (!name || libvirt_named(d))
                                dev_index_add(ix->dev, dev, d);
                        if (plan && lxc_orphan(d, plan))
                                dev_index_add(ix->orphan, "", d);
                } else {
                        netdev = vr_xml_text(vr_xml_child(src, NULL, "interface"));
                        dev_index_add(ix->netdev, netdev, d);
                }
                for (xmlNode *c = vr_xml_first(d); c; c = vr_xml_next(c)) {
                        g_autofree char *addr = vr_xml_is(c, NULL, "ip") ? vr_xml_prop(c, "address") : NULL;
                        g_autofree char *key = ip_key(addr);
                        dev_index_add(ix->ip, key, d);
                }
        }
        return ix;
}

VrLxcIndex *vr_rewrite_lxc_index_new(xmlNode *devices) {
        return lxc_index_new(devices, NULL);
}

/* Of two candidates, the one earlier in the document. */
static xmlNode *earlier(const VrLxcIndex *ix, xmlNode *a, xmlNode *b) {
        if (!a || !b)
                return a ? a : b;
        return GPOINTER_TO_UINT(g_hash_table_lookup(ix->pos, a)) <= GPOINTER_TO_UINT(g_hash_table_lookup(ix->pos, b))
                       ? a : b;
}

/* libvirt's LXC driver drops user aliases, so a container's port is known by the name
 * apply gives its device inside (<guest dev='PORT'/>), or by the VF netdev handed to it;
 * failing those, as apply wrote ports before it named them: a macvlan on the port's dev
 * without a name of its own (or, running, the ethN libvirt gave it). */
xmlNode *vr_rewrite_find_lxc_port(VrLxcIndex *ix, const VrPort *port, const char *vf_netdev, GHashTable *claimed) {
        xmlNode *d;

        if ((d = dev_index_head(ix->name, port->name, claimed)))
                return d;
        if (port->mode == VR_PORT_VF && vf_netdev && (d = dev_index_head(ix->netdev, vf_netdev, claimed)))
                return d;
        if (port->mode != VR_PORT_VF && port->dev)
                return dev_index_head(ix->dev, port->dev, claimed);
        return NULL;
}

/* Whether a device carries one of the addresses the plan gives the port (compared as
 * addresses: libvirt may respell an IPv6 one). */
static bool has_port_address(const xmlNode *d, const VrPlanIface *pi) {
        for (xmlNode *c = vr_xml_first(d); c; c = vr_xml_next(c)) {
                g_autofree char *addr = NULL;
                guint8 bytes[16] = {0};
                if (!vr_xml_is(c, NULL, "ip") || !(addr = vr_xml_prop(c, "address")))
                        continue;
                for (guint i = 0; i < pi->ips->len; i++) {
                        const VrAddress *a = pi->ips->pdata[i];
                        if (inet_pton(a->family == 6 ? AF_INET6 : AF_INET, addr, bytes) == 1 &&
                            memcmp(bytes, a->bytes, a->family == 6 ? 16 : 4) == 0)
                                return true;
                }
        }
        return false;
}

/* A container's macvlan that apply made: named as a port (<guest dev='NAME'/>) and with
 * the MAC apply derives from that name. A device with a MAC of the user's or libvirt's
 * (as apply left them before it named devices) carries no such mark. */
static bool lxc_marked(const xmlNode *d, const char *domain) {
        g_autofree char *name = guest_name(d);
        g_autofree char *mac = vr_xml_prop(vr_xml_child(d, NULL, "mac"), "address");
        g_autofree char *ours = NULL;

        if (!is_lxc_macvlan(d) || !name || !mac)
                return false;
        ours = port_mac(domain, name);
        return g_ascii_strcasecmp(mac, ours) == 0;
}

/* A device apply made for a port the policy no longer has: apply's to reuse or remove.
 * The user's devices are not. */
static bool lxc_orphan(const xmlNode *d, const VrPlan *plan) {
        g_autofree char *name = guest_name(d);
        return name && !vr_policy_port(plan->policy, name) && lxc_marked(d, plan->policy->dom.name);
}

/* A container's device that no port took and that apply made: a macvlan with apply's
 * mark (of a port removed, or one that now has another device), the netdev of a VF of
 * this router's PFs or vf= ports, or one with an address the policy gives a port that
 * has another device now (two would clash in the container). The user's own devices
 * stay. */
static bool lxc_stale(const xmlNode *d, const VrPlan *plan, GHashTable *port_ips) {
        g_autofree char *netdev = NULL;

        if (lxc_marked(d, plan->policy->dom.name))
                return true;
        if (is_lxc_macvlan(d) || is_lxc_netdev(d)) {
                for (xmlNode *c = vr_xml_first(d); c; c = vr_xml_next(c)) {
                        g_autofree char *addr = vr_xml_is(c, NULL, "ip") ? vr_xml_prop(c, "address") : NULL;
                        g_autofree char *key = ip_key(addr);
                        if (key && g_hash_table_contains(port_ips, key))
                                return true;
                }
        }
        if (!is_lxc_netdev(d) || !plan->vf_netdevs)
                return false;
        netdev = vr_xml_text(vr_xml_child(vr_xml_child(d, NULL, "source"), NULL, "interface"));
        return netdev && g_hash_table_contains(plan->vf_netdevs, netdev);
}

/* The device of one port in one pass of lxc_match, or NULL. */
static xmlNode *lxc_match_one(VrLxcIndex *ix, const VrPlanIface *pi, int pass, GHashTable *claimed) {
        xmlNode *hit = NULL;

        switch (pass) {
        case 0:
                return dev_index_head(ix->alias, pi->alias, claimed);
        case 1:
                return earlier(ix, dev_index_head(ix->name, pi->port->name, claimed),
                               dev_index_head(ix->netdev, pi->netdev, claimed));
        case 2:
                for (guint i = 0; i < pi->ips->len; i++) {
                        g_autofree char *key = policy_ip_key(pi->ips->pdata[i]);
                        hit = earlier(ix, hit, dev_index_head(ix->ip, key, claimed));
                }
                return hit;
        case 3:
                return pi->kind == VR_IFACE_DIRECT ? dev_index_head(ix->dev, pi->port->dev, claimed) : NULL;
        default:
                return pi->kind == VR_IFACE_DIRECT ? dev_index_head(ix->orphan, "", claimed) : NULL;
        }
}

/* Each port of a container and its device, found in passes from the surest mark to the
 * weakest, so that a weak match never takes a device another port has a sure claim on:
 * the alias (a document apply wrote but libvirt never read), the name inside or the VF
 * netdev, one of the port's addresses (a port whose dev, VF or name changed), a macvlan
 * on its dev without a name (as apply wrote them before), a device apply made for a port
 * the policy no longer has (a renamed port). Within a pass, ports in policy order each
 * take the first unclaimed device in document order that matches. */
static void lxc_match(xmlNode *devices, const VrPlan *plan, GHashTable *found, GHashTable *claimed) {
        g_autoptr(VrLxcIndex) ix = lxc_index_new(devices, plan);

        for (int pass = 0; pass < 5; pass++) {
                for (guint i = 0; i < plan->ifaces->len; i++) {
                        const VrPlanIface *pi = plan->ifaces->pdata[i];
                        xmlNode *hit;
                        if (g_hash_table_contains(found, pi))
                                continue;
                        if ((hit = lxc_match_one(ix, pi, pass, claimed))) {
                                g_hash_table_insert(found, (gpointer) pi, hit);
                                g_hash_table_add(claimed, hit);
                        }
                }
        }
}

/* A guest's device that nobody marked and that is already what the port asks for, as
 * virt-install and virt-manager write them: a macvtap on the port's dev, or an
 * <interface type='hostdev'> of the port's VF. It becomes the port (keeping its MAC and
 * PCI slot) rather than staying beside a second NIC on the same device. User-aliased
 * devices are the user's. */
static GHashTable *unmarked_index(xmlNode *devices) {
        GHashTable *ix = dev_index_new();

        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *key = NULL, *src = NULL;
                if (!vr_xml_is(d, NULL, "interface") || vr_xml_child(d, NULL, "alias"))
                        continue;
                if (prop_is(d, "type", "direct") && (src = vr_xml_prop(vr_xml_child(d, NULL, "source"), "dev")))
                        key = g_strconcat("direct ", src, NULL);
                else if (prop_is(d, "type", "hostdev") && (src = vr_xml_source_pci(d)))
                        key = g_strconcat("hostdev ", src, NULL);
                dev_index_add(ix, key, d);
        }
        return ix;
}

static xmlNode *find_unmarked(GHashTable *unmarked, const VrPlanIface *pi, GHashTable *claimed) {
        g_autofree char *key = NULL;

        if (pi->kind == VR_IFACE_DIRECT && pi->port->dev)
                key = g_strconcat("direct ", pi->port->dev, NULL);
        else if (pi->kind == VR_IFACE_HOSTDEV && pi->pci)
                key = g_strconcat("hostdev ", pi->pci, NULL);
        return dev_index_head(unmarked, key, claimed);
}

/* Mark an adopted device with the port's alias, where libvirt writes it (before the
 * <address>), so that later applies find it by alias. */
static void adopt_device(xmlNode *have, xmlNode *want) {
        xmlNode *alias = xmlCopyNode(vr_xml_child(want, NULL, "alias"), 1);
        xmlNode *after = NULL;

        for (xmlNode *c = vr_xml_first(have); c && !vr_xml_is(c, NULL, "address"); c = vr_xml_next(c))
                after = c;
        vr_xml_insert(have, after, alias);
}

/* Interface types whose <mtu> libvirt's QEMU driver sets; it refuses one on the others
 * ("setting MTU on interface type direct is not supported yet"), hostdev and a VF pool's
 * network (a hostdev once started) among them. */
static bool takes_mtu(const xmlNode *dev) {
        static const char *const types[] = {"bridge", "ethernet", "vhostuser", NULL};
        g_autofree char *type = vr_xml_prop(dev, "type");
        return vr_xml_is(dev, NULL, "interface") && type && g_strv_contains(types, type);
}

static bool is_virtio(const xmlNode *dev) {
        return prop_is(vr_xml_child(dev, NULL, "model"), "type", "virtio");
}

/* A port whose device must change type (macvtap to VF and back, a bridge the user had
 * marked as the port) gets a new device that keeps what the guest sees and the new type
 * takes: the MAC (unless the policy sets one: the guest finds its ports by MAC), the PCI
 * slot and ACPI index (the guest's name for the NIC), the boot order, the MTU where the
 * new type has one, and virtio's <driver> offloads from virtio to virtio. The rest (host
 * side, back end, a VF's or a macvtap's own settings) is the new type's. */
static void carry_over(xmlNode *have, xmlNode *want, const VrPlanIface *pi) {
        static const char *const before_alias[] = {"mtu", "boot", "acpi", NULL};
        xmlNode *mac = vr_xml_child(have, NULL, "mac");
        xmlNode *addr = vr_xml_child(have, NULL, "address");
        xmlNode *hdrv = vr_xml_child(have, NULL, "driver"), *wdrv = vr_xml_child(want, NULL, "driver");

        if (!vr_xml_is(want, NULL, "interface"))
                return;
        if (mac && !pi->port->mac) {
                xmlNode *wmac = vr_xml_child(want, NULL, "mac");
                if (wmac)
                        vr_xml_remove(wmac);
                insert_before(want, vr_xml_first(want), xmlCopyNode(mac, 1));
        }
        for (const char *const *k = before_alias; *k; k++) {
                xmlNode *h = vr_xml_child(have, NULL, *k);
                if (h && (!g_str_equal(*k, "mtu") || takes_mtu(want)))
                        insert_before_alias(want, xmlCopyNode(h, 1));
        }
        if (hdrv && wdrv && is_virtio(have) && is_virtio(want))
                for (xmlNode *c = vr_xml_first(hdrv); c; c = vr_xml_next(c))
                        xmlAddChild(wdrv, xmlCopyNode(c, 1));
        if (addr)
                vr_xml_insert(want, NULL, xmlCopyNode(addr, 1)); /* after <alias>, as libvirt writes it */
}

static void rewrite_ports(xmlNode *root, const VrPlan *plan) {
        xmlNode *devices = vr_xml_child(root, NULL, "devices");
        g_autoptr(GHashTable) existing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GHashTable) claimed = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_autoptr(GHashTable) found = g_hash_table_new(g_direct_hash, g_direct_equal); /* LXC: pi -> device */
        g_autoptr(GHashTable) unmarked = NULL;
        g_autoptr(GPtrArray) marked = g_ptr_array_new(); /* every router device, duplicates too */
        bool lxc = plan->policy->dom.type == VR_DOMAIN_LXC;
        xmlNode *anchor = NULL;

        if (!devices) {
                if (!plan->ifaces->len)
                        return;
                devices = vr_xml_new("devices", NULL);
                vr_xml_insert(root, NULL, devices);
        }
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                if (vr_xml_is(d, NULL, "interface") || vr_rewrite_is_router_device(d) || (lxc && is_lxc_netdev(d)))
                        anchor = d;
                if (vr_rewrite_is_router_device(d)) {
                        g_hash_table_insert(existing, vr_rewrite_device_alias(d), d);
                        g_ptr_array_add(marked, d);
                }
        }
        if (lxc)
                lxc_match(devices, plan, found, claimed);
        else
                unmarked = unmarked_index(devices);
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                xmlNode *want = build_device(pi, lxc);
                xmlNode *have = lxc ? g_hash_table_lookup(found, pi) : g_hash_table_lookup(existing, pi->alias);

                if (!have && !lxc && (have = find_unmarked(unmarked, pi, claimed)))
                        adopt_device(have, want);
                if (have) {
                        g_autofree char *alias = vr_rewrite_device_alias(have);
                        g_hash_table_add(claimed, have);
                        if (alias && g_hash_table_lookup(existing, alias) == have)
                                g_hash_table_remove(existing, alias);
                }

                if (have && same_kind(have, want)) {
                        /* A MAC apply derived from the port's (old) name follows its name;
                         * any other stays, as on a guest. */
                        merge_device(have, want, pi->port->mac != NULL || lxc_marked(have, pi->domain), lxc);
                        xmlFreeNode(want);
                } else if (have) {
                        if (!lxc)
                                carry_over(have, want, pi);
                        if (anchor == have)
                                anchor = want;
                        vr_xml_replace(have, want);
                        g_hash_table_add(claimed, want);
                } else {
                        vr_xml_insert(devices, anchor, want);
                        anchor = want;
                        g_hash_table_add(claimed, want);
                }
                g_hash_table_remove(existing, pi->alias);
        }
        /* Router devices whose port left the policy, and a second device with a port's
         * alias (only a file can hold one: libvirt refuses duplicate aliases): ours, marked
         * by alias, so removed. A device a port took is claimed (and may be freed by now:
         * only unclaimed ones are touched). */
        for (guint i = 0; i < marked->len; i++)
                if (!g_hash_table_contains(claimed, marked->pdata[i]))
                        vr_xml_remove(marked->pdata[i]);
        if (lxc) {
                g_autoptr(GHashTable) port_ips = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                for (guint i = 0; i < plan->ifaces->len; i++) {
                        const VrPlanIface *pi = plan->ifaces->pdata[i];
                        for (guint j = 0; j < pi->ips->len; j++) {
                                char *key = policy_ip_key(pi->ips->pdata[j]);
                                if (key)
                                        g_hash_table_add(port_ips, key);
                        }
                }
                for (xmlNode *d = vr_xml_first(devices), *next; d; d = next) {
                        next = vr_xml_next(d);
                        if (!g_hash_table_contains(claimed, d) && lxc_stale(d, plan, port_ips))
                                vr_xml_remove(d);
                }
        }
}

/* ------------------------------------------------------------------------ */
/* Devices a router does not need                                           */

static void remove_all(xmlNode *devices, const char *name, bool (*keep)(xmlNode *)) {
        for (xmlNode *d = vr_xml_first(devices), *next; d; d = next) {
                next = vr_xml_next(d);
                if (vr_xml_is(d, NULL, name) && !(keep && keep(d)))
                        vr_xml_remove(d);
        }
}

static bool is_ps2_input(xmlNode *n) {
        /* libvirt adds PS/2 keyboard and mouse to every x86 guest again at define time. */
        g_autofree char *bus = vr_xml_prop(n, "bus");
        return g_strcmp0(bus, "ps2") == 0;
}

static bool is_none_usb(xmlNode *n) {
        g_autofree char *type = vr_xml_prop(n, "type");
        g_autofree char *model = vr_xml_prop(n, "model");
        return g_strcmp0(type, "usb") != 0 || g_strcmp0(model, "none") == 0;
}

static void set_model_none(xmlNode *devices, const char *name, const char *type) {
        xmlNode *n = type ? find_by_attr(devices, name, "type", type) : vr_xml_child(devices, NULL, name);
        if (!n) {
                n = vr_xml_new(name, "type", type, "model", "none", NULL);
                vr_xml_insert(devices, NULL, n);
                return;
        }
        if (vr_xml_set_prop(n, "model", "none")) {
                /* A disabled device keeps no address or options of its former model. */
                for (xmlNode *c = vr_xml_first(n), *next; c; c = next) {
                        next = vr_xml_next(c);
                        if (!vr_xml_is(c, NULL, "alias"))
                                vr_xml_remove(c);
                }
                for (xmlNode *c = n->children, *next; c; c = next) {
                        next = c->next;
                        if (c->type == XML_TEXT_NODE && !vr_xml_first(n)) {
                                xmlUnlinkNode(c);
                                xmlFreeNode(c);
                        }
                }
        }
}

/* A device on the USB bus, which a USB controller of model 'none' leaves without one
 * (libvirt: "USB is disabled for this domain, but USB devices are present"). */
static bool on_usb(xmlNode *d) {
        g_autofree char *bus = vr_xml_prop(d, "bus");
        xmlNode *target = vr_xml_child(d, NULL, "target");

        if (prop_is(vr_xml_child(d, NULL, "address"), "type", "usb"))
                return true;
        if (vr_xml_is(d, NULL, "input")) /* a tablet without bus is a USB one on every machine */
                return g_strcmp0(bus, "usb") == 0 || (!bus && prop_is(d, "type", "tablet"));
        if (vr_xml_is(d, NULL, "disk"))
                return prop_is(target, "bus", "usb");
        if (vr_xml_is(d, NULL, "hostdev") || vr_xml_is(d, NULL, "hub"))
                return prop_is(d, "type", "usb");
        if (vr_xml_is(d, NULL, "sound"))
                return prop_is(d, "model", "usb");
        if (vr_xml_is(d, NULL, "controller"))
                return prop_is(d, "type", "ccid");
        if (vr_xml_is(d, NULL, "serial"))
                return prop_is(target, "type", "usb-serial");
        return vr_xml_is(d, NULL, "redirdev") || vr_xml_is(d, NULL, "smartcard");
}

/* What `strip usb` does to a device on the USB bus: a router needs none of the USB
 * input, redirection, hubs or sound, so they go with the controller; a smartcard reader
 * (and its CCID controller) goes when smartcard is stripped too. A disk, a host USB
 * device or a USB serial port is the user's: apply refuses rather than drop it. */
static bool usb_removable(xmlNode *d, guint strip) {
        if (vr_xml_is(d, NULL, "smartcard") || (vr_xml_is(d, NULL, "controller") && prop_is(d, "type", "ccid")))
                return strip & VR_STRIP_SMARTCARD;
        return vr_xml_is(d, NULL, "input") || vr_xml_is(d, NULL, "redirdev") || vr_xml_is(d, NULL, "hub") ||
               vr_xml_is(d, NULL, "sound");
}

/* A device that works through a SPICE server only: the vdagent and webdav channels,
 * USB and smartcard redirection, a serial port on a spiceport. libvirt and QEMU refuse
 * them once no <graphics type='spice'> is left. */
static bool needs_spice(xmlNode *d) {
        bool spice = prop_is(d, "type", "spicevmc") || prop_is(d, "type", "spiceport");

        return spice && (vr_xml_is(d, NULL, "channel") || vr_xml_is(d, NULL, "serial") ||
                         vr_xml_is(d, NULL, "console") || vr_xml_is(d, NULL, "parallel") ||
                         vr_xml_is(d, NULL, "redirdev") || vr_xml_is(d, NULL, "smartcard"));
}

/* The devices a strip leaves that libvirt or QEMU would refuse, one line each naming both
 * devices; every other dependent is removed with what it depends on (strip_devices). */
static void strip_conflicts(xmlNode *root, const VrPlan *plan, const char *what, GString *errs) {
        xmlNode *devices = vr_xml_child(root, NULL, "devices");
        g_autofree char *ctrl = NULL;

        if (!(plan->strip & VR_STRIP_USB))
                return;
        for (xmlNode *d = vr_xml_first(devices); d && !ctrl; d = vr_xml_next(d))
                if (vr_xml_is(d, NULL, "controller") && prop_is(d, "type", "usb") && !prop_is(d, "model", "none"))
                        ctrl = device_label(d);
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *dev = NULL;
                if (!on_usb(d) || usb_removable(d, plan->strip) || ((plan->strip & VR_STRIP_GRAPHICS) && needs_spice(d)))
                        continue;
                dev = device_label(d);
                if (errs->len)
                        g_string_append_c(errs, '\n');
                g_string_append_printf(errs,
                                       "%s: domain '%s': <vr:strip> usb disables the USB controller %s, which %s is on: expected usb taken out of <vr:strip devices>, or that device removed from the domain",
                                       what, plan->policy->dom.name, ctrl ? ctrl : "(libvirt's default one)", dev);
        }
}

/* An <audio> backend some remaining device refers to by id (<sound><audio id='1'/>). */
static bool audio_used(xmlNode *devices, const char *id, bool any_sound) {
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                if (vr_xml_is(d, NULL, "sound") && any_sound)
                        return true; /* a sound device without id uses the only backend */
                if ((vr_xml_is(d, NULL, "sound") || vr_xml_is(d, NULL, "graphics")) &&
                    prop_is(vr_xml_child(d, NULL, "audio"), "id", id))
                        return true;
        }
        return false;
}

/* Audio backends after sound or graphics went: a spice one cannot stay without spice
 * graphics (libvirt: "Spice audio is not supported without spice graphics"), so it
 * becomes type 'none' where a sound device still plays into it, and goes otherwise; with
 * no sound and no graphics left, no backend serves anything. */
static void tidy_audio(xmlNode *devices, guint strip) {
        bool graphics_left = vr_xml_child(devices, NULL, "graphics") != NULL;

        if (!(strip & (VR_STRIP_SOUND | VR_STRIP_GRAPHICS)))
                return;
        for (xmlNode *d = vr_xml_first(devices), *next; d; d = next) {
                g_autofree char *id = vr_xml_prop(d, "id");
                bool used;
                next = vr_xml_next(d);
                if (!vr_xml_is(d, NULL, "audio"))
                        continue;
                used = audio_used(devices, id, true);
                if (!used && !graphics_left) {
                        vr_xml_remove(d);
                } else if (!graphics_left && (strip & VR_STRIP_GRAPHICS) && prop_is(d, "type", "spice")) {
                        vr_xml_set_prop(d, "type", "none");
                        for (xmlNode *c = vr_xml_first(d), *cn; c; c = cn) {
                                cn = vr_xml_next(c);
                                vr_xml_remove(c);
                        }
                }
        }
}

static void strip_devices(xmlNode *root, guint strip) {
        xmlNode *devices = vr_xml_child(root, NULL, "devices");

        if (!devices || !strip)
                return;
        if (strip & VR_STRIP_SOUND)
                remove_all(devices, "sound", NULL);
        if (strip & VR_STRIP_GRAPHICS) {
                remove_all(devices, "graphics", NULL);
                for (xmlNode *d = vr_xml_first(devices), *next; d; d = next) {
                        next = vr_xml_next(d);
                        if (needs_spice(d))
                                vr_xml_remove(d);
                }
        }
        if (strip & VR_STRIP_VIDEO)
                remove_all(devices, "video", NULL);
        if (strip & VR_STRIP_INPUT)
                remove_all(devices, "input", is_ps2_input);
        if (strip & VR_STRIP_REDIRDEV)
                remove_all(devices, "redirdev", NULL);
        if (strip & VR_STRIP_WATCHDOG)
                remove_all(devices, "watchdog", NULL);
        if (strip & VR_STRIP_SMARTCARD)
                remove_all(devices, "smartcard", NULL);
        if (strip & VR_STRIP_USB) {
                remove_all(devices, "controller", is_none_usb);
                for (xmlNode *d = vr_xml_first(devices), *next; d; d = next) {
                        next = vr_xml_next(d);
                        if (on_usb(d) && usb_removable(d, strip))
                                vr_xml_remove(d);
                }
                set_model_none(devices, "controller", "usb");
        }
        tidy_audio(devices, strip);
        if (strip & VR_STRIP_MEMBALLOON)
                set_model_none(devices, "memballoon", NULL);
}

/* ------------------------------------------------------------------------ */
/* The guest's configuration (KVM/QEMU): addresses, routes, policer, shaper,  */
/* read by the guest's init from fw_cfg, so a change needs no image rebuild.  */

GHashTable *vr_rewrite_alias_index(xmlNode *devices, bool last) {
        GHashTable *ix = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                char *alias;
                if (!vr_rewrite_is_router_device(d))
                        continue;
                alias = vr_rewrite_device_alias(d);
                if (last || !g_hash_table_contains(ix, alias))
                        g_hash_table_insert(ix, alias, d);
                else
                        g_free(alias);
        }
        return ix;
}

static char *guest_config(xmlNode *root, const VrPlan *plan) {
        const VrPolicy *p = plan->policy;
        xmlNode *devices = vr_xml_child(root, NULL, "devices");
        /* libvirt 9 hands this to QEMU as -fw_cfg name=...,string=TEXT without escaping
         * commas, which QEMU then splits at: no commas anywhere (names, addresses and
         * rates have none; the comment must not either). */
        GString *c = g_string_new("# virt-router guest configuration from the router policy\n");
        g_autoptr(GHashTable) by_alias = vr_rewrite_alias_index(devices, false);

        g_string_append_printf(c, "version 1\nname %s\n", p->dom.name);
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                xmlNode *dev = g_hash_table_lookup(by_alias, pi->alias);
                g_autofree char *mac = dev ? vr_xml_prop(vr_xml_child(dev, NULL, "mac"), "address") : NULL;
                if (mac)
                        g_string_append_printf(c, "port %s mac %s\n", pi->port->name, mac);
                else
                        g_string_append_printf(c, "port %s\n", pi->port->name); /* a pool VF: MAC chosen by libvirt */
        }
        for (guint i = 0; i < p->addresses->len; i++) {
                const VrAddress *a = p->addresses->pdata[i];
                g_string_append_printf(c, "addr %s %s/%d\n", a->port, a->addr, a->prefix);
        }
        for (guint i = 0; i < p->routes->len; i++) {
                const VrRoute *r = p->routes->pdata[i];
                g_string_append_printf(c, "route %s/%d via %s\n", r->to_addr, r->to_prefix, r->via);
        }
        if (p->guarantee.set) {
                for (guint i = 0; i < plan->ifaces->len; i++) {
                        const VrPlanIface *pi = plan->ifaces->pdata[i];
                        g_string_append_printf(c, "police %s rate %" G_GUINT64_FORMAT "pps burst %" G_GUINT64_FORMAT "\n",
                                               pi->port->name, p->guarantee.rate_pps, p->guarantee.police_burst);
                        g_string_append_printf(c, "shape %s rate %" G_GUINT64_FORMAT "pps burst %" G_GUINT64_FORMAT "\n",
                                               pi->port->name, p->guarantee.rate_pps, p->guarantee.shape_burst);
                }
        }
        g_string_append(c, "rps off\n");
        return g_string_free(c, FALSE);
}

xmlNode *vr_rewrite_guest_config_entry(xmlNode *root, xmlNode **ret_sysinfo) {
        xmlNode *first = NULL, *entry = NULL;

        for (xmlNode *n = vr_xml_first(root); n && !entry; n = vr_xml_next(n)) {
                if (!vr_xml_is(n, NULL, "sysinfo") || !prop_is(n, "type", "fwcfg"))
                        continue;
                first = first ? first : n;
                entry = find_by_attr(n, "entry", "name", VR_GUEST_CONFIG_ENTRY);
        }
        if (ret_sysinfo)
                *ret_sysinfo = first;
        return entry;
}

static void rewrite_guest_config(xmlNode *root, const VrPlan *plan) {
        g_autofree char *text = guest_config(root, plan);
        xmlNode *sysinfo = NULL, *entry = vr_rewrite_guest_config_entry(root, &sysinfo);

        if (!sysinfo) {
                xmlNode *os = vr_xml_child(root, NULL, "os"), *before = NULL;
                for (xmlNode *n = vr_xml_first(root); n && n != os; n = vr_xml_next(n))
                        before = n;
                sysinfo = vr_xml_new("sysinfo", "type", "fwcfg", NULL);
                vr_xml_insert(root, os ? before : NULL, sysinfo);
        }
        if (!entry) {
                entry = vr_xml_new("entry", "name", VR_GUEST_CONFIG_ENTRY, NULL);
                vr_xml_insert(sysinfo, NULL, entry);
        }
        vr_xml_set_text(entry, text);
}

/* libvirt 9 hands the guest configuration to QEMU as one argument, -fw_cfg
 * name=ENTRY,string=TEXT, and Linux refuses an exec with an argument of more than
 * MAX_ARG_STRLEN (32 pages: 131072 bytes with its NUL). A router whose configuration is
 * larger would not start: refused here, naming the size. */
#define GUEST_CONFIG_MAX (131072 - 1 - (sizeof("name=" VR_GUEST_CONFIG_ENTRY ",string=") - 1))

static bool guest_config_fits(xmlDoc *doc, const VrPlan *plan, const char *what, GError **error) {
        xmlNode *entry = vr_rewrite_guest_config_entry(xmlDocGetRootElement(doc), NULL);
        g_autoptr(xmlChar) text = NULL;
        size_t len;

        if (!entry || !(text = xmlNodeGetContent(entry)) || (len = strlen((const char *) text)) <= GUEST_CONFIG_MAX)
                return true;
        g_set_error(error, VR_ERROR, VR_ERROR_CONFLICT,
                    "%s: domain '%s': the guest configuration for %u ports is %zu bytes: expected at most %zu (QEMU gets it as one -fw_cfg argument, and Linux refuses an argument over 128 KiB): fewer ports, addresses or routes",
                    what, plan->policy->dom.name, plan->ifaces->len, len, (size_t) GUEST_CONFIG_MAX);
        return false;
}

void vr_rewrite_doc(xmlDoc *doc, const VrPlan *plan) {
        xmlNode *root = xmlDocGetRootElement(doc);

        rewrite_cpu(root, plan);
        if (plan->manage_ports)
                rewrite_ports(root, plan);
        strip_devices(root, plan->strip);
        if (plan->manage_ports && plan->ifaces->len && plan->policy->dom.type != VR_DOMAIN_LXC)
                rewrite_guest_config(root, plan);
}

GHashTable *vr_rewrite_current_vfs(xmlDoc *doc) {
        GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        xmlNode *devices = vr_xml_child(xmlDocGetRootElement(doc), NULL, "devices");

        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *alias = NULL, *pci = NULL;
                if (!vr_xml_is(d, NULL, "interface") || !vr_rewrite_is_router_device(d) ||
                    !(pci = vr_xml_source_pci(d)))
                        continue;
                alias = vr_rewrite_device_alias(d);
                g_hash_table_insert(h, g_strdup(alias + strlen(VR_ALIAS_PREFIX)), g_steal_pointer(&pci));
        }
        return h;
}

/* The VFs ports name with vf=: PCI address -> the first port naming it. */
static GHashTable *vfs_named(const VrPolicy *policy) {
        GHashTable *h = g_hash_table_new(g_str_hash, g_str_equal);

        for (guint i = 0; i < policy->ports->len; i++) {
                const VrPort *port = policy->ports->pdata[i];
                if (port->mode == VR_PORT_VF && port->vf && !g_hash_table_contains(h, port->vf))
                        g_hash_table_insert(h, port->vf, (gpointer) port);
        }
        return h;
}

/* VFs that devices of a KVM domain other than its ports hold: a <hostdev> of the VF, or
 * an <interface type='hostdev'> not marked as a port's. Not counted: devices of ports
 * that left the policy (apply removes them), and an unmarked interface of a VF a port
 * names with vf=, which that port adopts as virt-install wrote it. */
static GHashTable *other_vfs(xmlNode *devices, const VrPolicy *policy) {
        GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GHashTable) named = vfs_named(policy);

        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *pci = NULL;
                if (!(vr_xml_is(d, NULL, "hostdev") && prop_is(d, "type", "pci")) &&
                    !(vr_xml_is(d, NULL, "interface") && prop_is(d, "type", "hostdev")))
                        continue;
                if (vr_rewrite_is_router_device(d) || !(pci = vr_xml_source_pci(d)))
                        continue;
                if (g_hash_table_contains(named, pci) && vr_xml_is(d, NULL, "interface") && !vr_xml_child(d, NULL, "alias"))
                        continue;
                if (!g_hash_table_contains(h, pci))
                        g_hash_table_insert(h, g_steal_pointer(&pci), device_label(d));
        }
        return h;
}

/* Whether a device carries one of the addresses the policy gives a port. */
static bool carries_policy_address(const xmlNode *d, const VrPolicy *policy, const char *port) {
        g_autoptr(GPtrArray) ips = g_ptr_array_new();
        VrPlanIface pi = {.ips = ips};

        for (guint i = 0; i < policy->addresses->len; i++) {
                VrAddress *a = policy->addresses->pdata[i];
                if (g_str_equal(a->port, port))
                        g_ptr_array_add(ips, a);
        }
        return has_port_address(d, &pi);
}

static char *lxc_netdev(const xmlNode *d) {
        return vr_xml_text(vr_xml_child(vr_xml_child(d, NULL, "source"), NULL, "interface"));
}

/* A container's VF netdev that is the user's, not a port's. LXC keeps no alias, so a
 * port's VF is known by what apply writes: the netdev a vf= port names, the port's
 * addresses, or nothing (a port without addresses). One that carries addresses or routes
 * none of which the policy gives a port is the user's, as a <hostdev> of a KVM guest is:
 * no port takes its VF, and apply leaves it as it is. */
static bool lxc_user_netdev(const xmlNode *d, const VrPolicy *policy, const VrHostFacts *facts) {
        g_autofree char *netdev = NULL;

        if (!is_lxc_netdev(d) || (!vr_xml_child(d, NULL, "ip") && !vr_xml_child(d, NULL, "route")))
                return false;
        netdev = lxc_netdev(d);
        for (guint i = 0; i < policy->ports->len; i++) {
                const VrPort *port = policy->ports->pdata[i];
                if (carries_policy_address(d, policy, port->name) ||
                    (port->vf && g_strcmp0(g_hash_table_lookup(facts->netdevs, port->vf), netdev) == 0))
                        return false;
        }
        return true;
}

/* The container's VFs that are the user's (lxc_user_netdev), by PCI address as the plan
 * knows VFs: those of the router's PFs and vf= ports, the only ones a port could take. */
static GHashTable *lxc_other_vfs(xmlNode *devices, const VrPolicy *policy, const VrHostFacts *facts) {
        GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *netdev = NULL;
                GHashTableIter it;
                gpointer pci, nd;
                if (!lxc_user_netdev(d, policy, facts))
                        continue;
                netdev = lxc_netdev(d);
                g_hash_table_iter_init(&it, facts->netdevs);
                while (g_hash_table_iter_next(&it, &pci, &nd))
                        if (g_strcmp0(nd, netdev) == 0 && !g_hash_table_contains(h, pci))
                                g_hash_table_insert(h, g_strdup(pci), device_label(d));
        }
        return h;
}

/* The VFs a container's pf= ports have now: the netdev of a <hostdev type='net'> that is
 * a VF of the port's PF (LXC keeps no alias to say whose it is), one that carries the
 * port's addresses first. Kept by the plan, so a container's VF does not move when
 * another port comes or goes. */
static GHashTable *lxc_current_vfs(xmlNode *devices, const VrPolicy *policy, const VrHostFacts *facts) {
        GHashTable *h = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_autoptr(GHashTable) taken = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_autoptr(GHashTable) named = vfs_named(policy);

        for (int pass = 0; pass < 2; pass++) {
                for (guint i = 0; i < policy->ports->len; i++) {
                        const VrPort *port = policy->ports->pdata[i];
                        GPtrArray *vfs = port->pf ? g_hash_table_lookup(facts->pf_vfs, port->pf) : NULL;
                        if (port->mode != VR_PORT_VF || port->vf || !vfs || g_hash_table_contains(h, port->name))
                                continue;
                        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                                g_autofree char *netdev = NULL;
                                const char *pci = NULL;
                                if (!is_lxc_netdev(d) || g_hash_table_contains(taken, d) ||
                                    lxc_user_netdev(d, policy, facts) ||
                                    (pass == 0 && !carries_policy_address(d, policy, port->name)))
                                        continue;
                                netdev = vr_xml_text(vr_xml_child(vr_xml_child(d, NULL, "source"), NULL, "interface"));
                                for (guint k = 0; netdev && !pci && k < vfs->len; k++)
                                        if (g_strcmp0(g_hash_table_lookup(facts->netdevs, vfs->pdata[k]), netdev) == 0)
                                                pci = vfs->pdata[k];
                                if (!pci || g_hash_table_contains(named, pci))
                                        continue;
                                g_hash_table_add(taken, d);
                                g_hash_table_insert(h, g_strdup(port->name), g_strdup(pci));
                                break;
                        }
                }
        }
        return h;
}

/* The name a container's network device has inside, as libvirt's LXC driver gives it: an
 * <interface> its <guest dev>, else eth0, eth1, ... in order among the interfaces without
 * one (lxc_process.c); a <hostdev type='net'> the name of the host netdev it moves in.
 * *unnamed counts the interfaces without a name so far. NULL: no network device. */
static char *lxc_inside_name(const xmlNode *d, int *unnamed) {
        char *name;

        if (is_lxc_netdev(d))
                return lxc_netdev(d);
        if (!vr_xml_is(d, NULL, "interface"))
                return NULL;
        name = guest_name(d);
        return name ? name : g_strdup_printf("eth%d", (*unnamed)++);
}

/* Names of a container's network devices, once apply made its ports, that would be there
 * twice: libvirt renames every interface inside the container and fails to start it when
 * a name is taken (as by the eth0 it gives an interface without <guest dev> itself).
 * apply does not rename the user's devices: one line for each port whose device's name
 * another device has, naming both. The rewrite runs on a copy, so the names are those
 * of the devices apply keeps, takes and adds. */
static void lxc_name_conflicts(xmlDoc *doc, const VrPlan *plan, const char *what, GString *errs) {
        g_autoptr(xmlDoc) copy = xmlCopyDoc(doc, 1);
        xmlNode *devices = NULL;
        g_autoptr(GHashTable) ports = g_hash_table_new(g_direct_hash, g_direct_equal);   /* device -> pi */
        g_autoptr(GHashTable) numbers = g_hash_table_new(g_direct_hash, g_direct_equal); /* device -> N+1 of ethN */
        g_autoptr(GPtrArray) devs = g_ptr_array_new();
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(VrLxcIndex) ix = NULL;
        int unnamed = 0;

        rewrite_ports(xmlDocGetRootElement(copy), plan);
        devices = vr_xml_child(xmlDocGetRootElement(copy), NULL, "devices");
        ix = vr_rewrite_lxc_index_new(devices);
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                xmlNode *d = vr_rewrite_find_lxc_port(ix, pi->port, pi->netdev, ports);
                if (d)
                        g_hash_table_insert(ports, d, (gpointer) pi);
        }
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                int before = unnamed;
                char *name = lxc_inside_name(d, &unnamed);
                if (!name)
                        continue;
                g_ptr_array_add(devs, d);
                g_ptr_array_add(names, name);
                if (unnamed > before)
                        g_hash_table_insert(numbers, d, GINT_TO_POINTER(unnamed));
        }
        for (guint i = 0; i < devs->len; i++) {
                const VrPlanIface *pi = g_hash_table_lookup(ports, devs->pdata[i]);
                const char *name = names->pdata[i];
                g_autofree char *label = NULL, *other = NULL;
                const char *fix = "another port name", *why = "";
                xmlNode *o = NULL;
                if (!pi)
                        continue;
                /* Two ports of one name are said once, at the first. */
                for (guint k = 0; k < devs->len && !o; k++)
                        if (k != i && g_str_equal(names->pdata[k], name) &&
                            !(k < i && g_hash_table_contains(ports, devs->pdata[k])))
                                o = devs->pdata[k];
                if (o)
                        label = device_label(o);
                if (o && !g_hash_table_contains(ports, o))
                        why = " (apply never renames a device of the user's)";
                if (!o && g_str_equal(name, "lo")) {
                        other = g_strdup("the name of the container's loopback");
                } else if (!o) {
                        continue;
                } else if (g_hash_table_contains(ports, o)) {
                        const VrPlanIface *opi = g_hash_table_lookup(ports, o);
                        other = g_strdup_printf("the name of <vr:port name='%s'>'s device too", opi->port->name);
                } else if (g_hash_table_contains(numbers, o)) {
                        other = g_strdup_printf("the name libvirt gives the domain's %s too, its interface number %d without <guest dev> (libvirt names those eth0, eth1, ... in order)",
                                                label, GPOINTER_TO_INT(g_hash_table_lookup(numbers, o)) - 1);
                        fix = "another port name, or a <guest dev='NAME'/> of another name on that interface";
                } else if (is_lxc_netdev(o)) {
                        other = g_strdup_printf("the name of the host netdev the domain's %s moves in too", label);
                        fix = "another port name, or that device removed";
                } else {
                        other = g_strdup_printf("the name the domain's %s has there too (<guest dev='%s'/>)", label, name);
                        fix = "another port name, or another <guest dev> on that interface";
                }
                if (errs->len)
                        g_string_append_c(errs, '\n');
                if (pi->port->line > 0)
                        g_string_append_printf(errs, "%s:%ld: ", what, pi->port->line);
                else
                        g_string_append_printf(errs, "%s: ", what);
                g_string_append_printf(errs, "domain '%s': <vr:port name='%s'> %s '%s' inside the container, which is %s: expected %s%s",
                                       plan->policy->dom.name, pi->port->name,
                                       pi->kind == VR_IFACE_LXC_HOSTDEV ? "moves its VF in as" : "names its device",
                                       name, other, pi->kind == VR_IFACE_LXC_HOSTDEV ? "another VF for the port" : fix,
                                       why);
        }
}

VrPlan *vr_rewrite_plan(xmlDoc *doc, const VrPolicy *policy, const VrHostConf *conf, const char *sysroot,
                        const char *what, GError **error) {
        return vr_rewrite_plan_held(doc, policy, conf, sysroot, NULL, what, error);
}

VrPlan *vr_rewrite_plan_held(xmlDoc *doc, const VrPolicy *policy, const VrHostConf *conf, const char *sysroot,
                             GHashTable *held_vfs, const char *what, GError **error) {
        xmlNode *root = xmlDocGetRootElement(doc);
        xmlNode *devices = vr_xml_child(root, NULL, "devices");
        g_autoptr(VrHostFacts) facts = vr_host_facts_read(sysroot, policy);
        g_autoptr(GHashTable) current = NULL, others = NULL;
        g_autoptr(VrPlan) plan = NULL;
        g_autoptr(GString) errs = g_string_new(NULL);
        VrPlanDomain dom;

        facts->held_vfs = held_vfs ? g_hash_table_ref(held_vfs) : NULL;

        if (policy->dom.type == VR_DOMAIN_LXC) {
                current = lxc_current_vfs(devices, policy, facts);
                others = lxc_other_vfs(devices, policy, facts);
        } else {
                current = vr_rewrite_current_vfs(doc);
                others = other_vfs(devices, policy);
        }
        dom = (VrPlanDomain){.current_vfs = current, .other_vfs = others};
        plan = vr_plan_build(policy, conf, facts, &dom, what, error);
        if (!plan)
                return NULL;
        /* Refused here, where check, apply and the hook all plan, so that they say the same. */
        strip_conflicts(root, plan, what, errs);
        if (policy->dom.type == VR_DOMAIN_LXC && plan->manage_ports)
                lxc_name_conflicts(doc, plan, what, errs);
        if (errs->len) {
                g_set_error_literal(error, VR_ERROR, VR_ERROR_CONFLICT, errs->str);
                return NULL;
        }
        return g_steal_pointer(&plan);
}

int vr_rewrite_parsed(xmlDoc *doc, const VrRewriteOptions *opts, VrPolicy **ret_policy,
                      GError **error) {
        g_autoptr(VrPolicy) policy = NULL;
        g_autoptr(VrPlan) plan = NULL;
        g_autofree char *before = NULL, *after = NULL;
        int r;

        r = vr_policy_parse(doc, opts->what, opts->conf, &policy, error);
        if (r <= 0)
                return r < 0 ? -1 : VR_REWRITE_NOT_ROUTER;
        plan = vr_rewrite_plan(doc, policy, opts->conf, opts->sysroot, opts->what, error);
        if (!plan)
                return -1;
        before = vr_xml_serialize(doc, NULL, NULL);
        vr_rewrite_doc(doc, plan);
        if (!guest_config_fits(doc, plan, opts->what, error))
                return -1;
        after = vr_xml_serialize(doc, NULL, NULL);
        r = g_str_equal(before, after) ? VR_REWRITE_UNCHANGED : VR_REWRITE_CHANGED;
        if (ret_policy)
                *ret_policy = g_steal_pointer(&policy);
        return r;
}

int vr_rewrite_xml(const char *buf, size_t len, const VrRewriteOptions *opts, char **ret_out,
                   size_t *ret_len, VrPolicy **ret_policy, GError **error) {
        g_autoptr(xmlDoc) doc = vr_xml_parse(buf, len, opts->what, error);
        int r;

        if (!doc)
                return -1;
        r = vr_rewrite_parsed(doc, opts, ret_policy, error);
        if (r < 0)
                return -1;
        if (r == VR_REWRITE_CHANGED) {
                g_auto(VrXmlStyle) style = {0};
                vr_xml_style_detect(buf, len, &style);
                *ret_out = vr_xml_serialize(doc, &style, ret_len);
        } else {
                /* The input's bytes, all of them: g_strndup() would stop at a NUL that
                 * libxml2 left in the epilog and pad the rest with zeros. */
                *ret_out = g_malloc(len + 1);
                memcpy(*ret_out, buf, len);
                (*ret_out)[len] = '\0';
                *ret_len = len;
        }
        return r;
}
