#include "config.h"

#include <string.h>

#include "vr-policy-xml.h"
#include "vr-error.h"
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
        g_auto(GStrv) p = g_strsplit_set(pci, ":.", 4);
        g_autofree char *d = g_strdup_printf("0x%s", p[0]);
        g_autofree char *b = g_strdup_printf("0x%s", p[1]);
        g_autofree char *s = g_strdup_printf("0x%s", p[2]);
        g_autofree char *f = g_strdup_printf("0x%s", p[3]);
        return vr_xml_new("address", "type", "pci", "domain", d, "bus", b, "slot", s,
                          "function", f, NULL);
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
        } else if (pi->kind != VR_IFACE_LXC_HOSTDEV && pi->virtio) {
                /* The guest finds its ports by MAC: a stable one, not libvirt's random. */
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

/* Devices end with <alias> by libvirt's habit; new children go before it. */
static void insert_before_alias(xmlNode *dev, xmlNode *child) {
        xmlNode *alias = vr_xml_child(dev, NULL, "alias");
        xmlNode *after = NULL;

        if (!alias) {
                vr_xml_insert(dev, NULL, child);
                return;
        }
        for (xmlNode *c = vr_xml_first(dev); c && c != alias; c = vr_xml_next(c))
                after = c;
        if (after) {
                vr_xml_insert(dev, after, child);
        } else {
                /* alias is the first element: put the child in front of it, same indent. */
                xmlNode *ws = alias->prev && alias->prev->type == XML_TEXT_NODE ? xmlCopyNode(alias->prev, 1) : NULL;
                xmlSetTreeDoc(child, dev->doc);
                xmlAddPrevSibling(alias, child);
                if (ws)
                        xmlAddPrevSibling(alias, ws);
        }
}

/* Bring an existing device of the right kind in line with `want`, keeping what the
 * user added (PCI slot, boot order, <driver><host .../></driver>, ...). */
static void merge_device(xmlNode *have, xmlNode *want, bool policy_mac) {
        bool want_lists = vr_xml_child(want, NULL, "ip") || vr_xml_child(want, NULL, "route");

        for (xmlAttr *a = want->properties; a; a = a->next) {
                g_autoptr(xmlChar) v = xmlNodeGetContent((xmlNode *) a);
                vr_xml_set_prop(have, (const char *) a->name, (const char *) v);
        }
        /* ip/route are lists owned by the policy when it gives any. */
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
                if (!h) {
                        insert_before_alias(have, xmlCopyNode(w, 1));
                } else if (g_str_equal(name, "driver")) {
                        /* Attributes only: the user's <host>/<guest> offload settings stay. */
                        for (xmlAttr *a = w->properties; a; a = a->next) {
                                g_autoptr(xmlChar) v = xmlNodeGetContent((xmlNode *) a);
                                vr_xml_set_prop(h, (const char *) a->name, (const char *) v);
                        }
                        if (!xmlHasNsProp(w, BAD_CAST "name", NULL))
                                vr_xml_unset_prop(h, "name");
                        if (!xmlHasNsProp(w, BAD_CAST "queues", NULL))
                                vr_xml_unset_prop(h, "queues");
                } else if (!vr_xml_equal(h, w)) {
                        vr_xml_replace(h, xmlCopyNode(w, 1));
                }
        }
}

/* libvirt's LXC driver drops user aliases, so a container's port is known by what it
 * is: a macvlan on the port's dev, or the VF netdev handed to it. */
xmlNode *vr_rewrite_find_lxc_port(xmlNode *devices, const VrPort *port, const char *vf_netdev,
                                  GHashTable *claimed) {
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                xmlNode *src = vr_xml_child(d, NULL, "source");
                g_autofree char *type = vr_xml_prop(d, "type"), *dev = vr_xml_prop(src, "dev");
                g_autofree char *netdev = vr_xml_text(vr_xml_child(src, NULL, "interface"));
                if (claimed && g_hash_table_contains(claimed, d))
                        continue;
                if (port->mode != VR_PORT_VF && vr_xml_is(d, NULL, "interface") &&
                    g_strcmp0(type, "direct") == 0 && g_strcmp0(dev, port->dev) == 0)
                        return d;
                if (port->mode == VR_PORT_VF && vf_netdev && vr_xml_is(d, NULL, "hostdev") &&
                    g_strcmp0(netdev, vf_netdev) == 0)
                        return d;
        }
        return NULL;
}

/* A guest's macvtap on the port's dev that nobody marked, as virt-install and virt-manager
 * write them: it becomes the port (keeping its MAC and PCI slot) rather than staying
 * beside a second NIC on the same device. User-aliased devices are the user's. */
static xmlNode *find_unmarked_macvtap(xmlNode *devices, const char *dev, GHashTable *claimed) {
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *type = vr_xml_prop(d, "type");
                g_autofree char *src = vr_xml_prop(vr_xml_child(d, NULL, "source"), "dev");
                if (vr_xml_is(d, NULL, "interface") && g_strcmp0(type, "direct") == 0 &&
                    g_strcmp0(src, dev) == 0 && !vr_xml_child(d, NULL, "alias") &&
                    !g_hash_table_contains(claimed, d))
                        return d;
        }
        return NULL;
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

static void rewrite_ports(xmlNode *root, const VrPlan *plan) {
        xmlNode *devices = vr_xml_child(root, NULL, "devices");
        g_autoptr(GHashTable) existing = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autoptr(GHashTable) claimed = g_hash_table_new(g_direct_hash, g_direct_equal);
        bool lxc = plan->policy->dom.type == VR_DOMAIN_LXC;
        xmlNode *anchor = NULL;

        if (!devices) {
                if (!plan->ifaces->len)
                        return;
                devices = vr_xml_new("devices", NULL);
                vr_xml_insert(root, NULL, devices);
        }
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                if (vr_xml_is(d, NULL, "interface") || vr_rewrite_is_router_device(d))
                        anchor = d;
                if (vr_rewrite_is_router_device(d))
                        g_hash_table_insert(existing, vr_rewrite_device_alias(d), d);
        }
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                xmlNode *want = build_device(pi, lxc);
                xmlNode *have = g_hash_table_lookup(existing, pi->alias);

                if (!have && lxc)
                        have = vr_rewrite_find_lxc_port(devices, pi->port, pi->netdev, claimed);
                if (!have && !lxc && pi->kind == VR_IFACE_DIRECT &&
                    (have = find_unmarked_macvtap(devices, pi->port->dev, claimed)))
                        adopt_device(have, want);
                if (have)
                        g_hash_table_add(claimed, have);

                if (have && same_kind(have, want)) {
                        merge_device(have, want, pi->port->mac != NULL);
                        xmlFreeNode(want);
                } else if (have) {
                        /* A port that changed kind: keep the user's MAC and boot order. */
                        xmlNode *mac = vr_xml_child(have, NULL, "mac");
                        xmlNode *boot = vr_xml_child(have, NULL, "boot");
                        if (mac && !vr_xml_child(want, NULL, "mac") && vr_xml_is(want, NULL, "interface"))
                                xmlAddPrevSibling(vr_xml_first(want), xmlCopyNode(mac, 1));
                        if (boot && vr_xml_is(want, NULL, "interface"))
                                xmlAddPrevSibling(vr_xml_child(want, NULL, "alias"), xmlCopyNode(boot, 1));
                        if (anchor == have)
                                anchor = want;
                        vr_xml_replace(have, want);
                } else {
                        vr_xml_insert(devices, anchor, want);
                        anchor = want;
                }
                g_hash_table_remove(existing, pi->alias);
        }
        /* Router devices whose port left the policy: ours (marked by alias), so removed. */
        {
                GHashTableIter it;
                gpointer node;
                g_hash_table_iter_init(&it, existing);
                while (g_hash_table_iter_next(&it, NULL, &node))
                        vr_xml_remove(node);
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

static void strip_devices(xmlNode *root, guint strip) {
        xmlNode *devices = vr_xml_child(root, NULL, "devices");

        if (!devices || !strip)
                return;
        if (strip & VR_STRIP_SOUND)
                remove_all(devices, "sound", NULL);
        if (strip & VR_STRIP_GRAPHICS)
                remove_all(devices, "graphics", NULL);
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
                remove_all(devices, "redirdev", NULL);
                for (xmlNode *d = vr_xml_first(devices), *next; d; d = next) {
                        g_autofree char *bus = vr_xml_prop(d, "bus");
                        next = vr_xml_next(d);
                        if (vr_xml_is(d, NULL, "input") && g_strcmp0(bus, "usb") == 0)
                                vr_xml_remove(d);
                }
                set_model_none(devices, "controller", "usb");
        }
        if (strip & VR_STRIP_MEMBALLOON)
                set_model_none(devices, "memballoon", NULL);
}

/* ------------------------------------------------------------------------ */
/* The guest's configuration (KVM/QEMU): addresses, routes, policer, shaper,  */
/* read by the guest's init from fw_cfg, so a change needs no image rebuild.  */

static char *device_mac(xmlNode *devices, const char *alias) {
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *a = vr_rewrite_device_alias(d);
                if (g_strcmp0(a, alias) == 0)
                        return vr_xml_prop(vr_xml_child(d, NULL, "mac"), "address");
        }
        return NULL;
}

static char *guest_config(xmlNode *root, const VrPlan *plan) {
        const VrPolicy *p = plan->policy;
        xmlNode *devices = vr_xml_child(root, NULL, "devices");
        /* libvirt 9 hands this to QEMU as -fw_cfg name=...,string=TEXT without escaping
         * commas, which QEMU then splits at: no commas anywhere (names, addresses and
         * rates have none; the comment must not either). */
        GString *c = g_string_new("# virt-router guest configuration from the router policy\n");

        g_string_append_printf(c, "version 1\nname %s\n", p->dom.name);
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                g_autofree char *mac = device_mac(devices, pi->alias);
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

static void rewrite_guest_config(xmlNode *root, const VrPlan *plan) {
        g_autofree char *text = guest_config(root, plan);
        xmlNode *sysinfo = NULL, *entry = NULL;

        for (xmlNode *n = vr_xml_first(root); n && !sysinfo; n = vr_xml_next(n)) {
                g_autofree char *type = vr_xml_prop(n, "type");
                if (vr_xml_is(n, NULL, "sysinfo") && g_strcmp0(type, "fwcfg") == 0)
                        sysinfo = n;
        }
        if (!sysinfo) {
                xmlNode *os = vr_xml_child(root, NULL, "os"), *before = NULL;
                for (xmlNode *n = vr_xml_first(root); n && n != os; n = vr_xml_next(n))
                        before = n;
                sysinfo = vr_xml_new("sysinfo", "type", "fwcfg", NULL);
                vr_xml_insert(root, os ? before : NULL, sysinfo);
        }
        entry = find_by_attr(sysinfo, "entry", "name", VR_GUEST_CONFIG_ENTRY);
        if (!entry) {
                entry = vr_xml_new("entry", "name", VR_GUEST_CONFIG_ENTRY, NULL);
                vr_xml_insert(sysinfo, NULL, entry);
        }
        vr_xml_set_text(entry, text);
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
                g_autofree char *alias = NULL, *dom = NULL, *bus = NULL, *slot = NULL, *fn = NULL;
                xmlNode *addr;
                if (!vr_xml_is(d, NULL, "interface") || !vr_rewrite_is_router_device(d))
                        continue;
                addr = vr_xml_child(vr_xml_child(d, NULL, "source"), NULL, "address");
                if (!addr)
                        continue;
                alias = vr_rewrite_device_alias(d);
                dom = vr_xml_prop(addr, "domain");
                bus = vr_xml_prop(addr, "bus");
                slot = vr_xml_prop(addr, "slot");
                fn = vr_xml_prop(addr, "function");
                if (!dom || !bus || !slot || !fn)
                        continue;
                g_hash_table_insert(h, g_strdup(alias + strlen(VR_ALIAS_PREFIX)),
                                    g_strdup_printf("%04x:%02x:%02x.%x",
                                                    (unsigned) g_ascii_strtoull(dom, NULL, 0),
                                                    (unsigned) g_ascii_strtoull(bus, NULL, 0),
                                                    (unsigned) g_ascii_strtoull(slot, NULL, 0),
                                                    (unsigned) g_ascii_strtoull(fn, NULL, 0)));
        }
        return h;
}

VrPlan *vr_rewrite_plan(xmlDoc *doc, const VrPolicy *policy, const VrHostConf *conf, const char *sysroot,
                        const char *what, GError **error) {
        g_autoptr(VrHostFacts) facts = vr_host_facts_read(sysroot, policy);
        g_autoptr(GHashTable) current = vr_rewrite_current_vfs(doc);

        return vr_plan_build(policy, conf, facts, current, what, error);
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
                *ret_out = g_strndup(buf, len);
                *ret_len = len;
        }
        return r;
}
