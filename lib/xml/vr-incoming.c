#include "config.h"

#include <string.h>

#include "vr-incoming.h"
#include "vr-pci.h"
#include "vr-policy-xml.h"
#include "vr-reserve.h"
#include "vr-xml.h"

static bool same_pci(xmlNode *addr, const char *pci) {
        g_autofree char *have = vr_xml_pci_address(addr);

        return have && g_ascii_strcasecmp(have, pci) == 0;
}

static bool host_ports(xmlNode *root, const VrPlan *plan) {
        xmlNode *devices = vr_xml_child(root, NULL, "devices");
        /* The router device apply marked for each port (KVM: alias ua-vr-PORT), the first
         * of an alias, looked up rather than scanned for per port. */
        g_autoptr(GHashTable) by_alias = vr_rewrite_alias_index(devices, false);
        bool changed = false;

        for (guint i = 0; plan->manage_ports && i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                xmlNode *dev = g_hash_table_lookup(by_alias, pi->alias);
                xmlNode *src = dev ? vr_xml_child(dev, NULL, "source") : NULL;
                xmlNode *addr = src ? vr_xml_child(src, NULL, "address") : NULL;

                /* A port the guest does not have (never applied) stays absent: adding a
                 * device would change what the guest sees. */
                if (!src)
                        continue;
                if (pi->kind == VR_IFACE_HOSTDEV && pi->pci && addr && !same_pci(addr, pi->pci))
                        changed |= vr_xml_set_pci_address(addr, pi->pci);
                else if (pi->kind == VR_IFACE_DIRECT && pi->port->dev)
                        changed |= vr_xml_set_prop(src, "dev", pi->port->dev);
        }
        return changed;
}

VrCpuSet *vr_domain_vcpu_pins(xmlDoc *doc, unsigned vcpus) {
        xmlNode *ct = vr_xml_child(xmlDocGetRootElement(doc), NULL, "cputune");
        g_autoptr(VrCpuSet) all = vr_cpuset_new(), seen = vr_cpuset_new();

        for (xmlNode *n = vr_xml_first(ct); n; n = vr_xml_next(n)) {
                g_autofree char *id = vr_xml_prop(n, "vcpu"), *cpuset = vr_xml_prop(n, "cpuset");
                g_autoptr(VrCpuSet) cpus = NULL;
                guint64 v;
                if (!vr_xml_is(n, NULL, "vcpupin"))
                        continue;
                /* A vCPU pinned to a range is not a vCPU given a CPU of its own. */
                if (!id || !cpuset || !g_ascii_string_to_unsigned(id, 10, 0, G_MAXUINT - 1, &v, NULL) ||
                    vr_cpuset_parse(cpuset, &cpus) < 0 || vr_cpuset_count(cpus) != 1)
                        return NULL;
                vr_cpuset_set(seen, (unsigned) v);
                vr_cpuset_set(all, (unsigned) vr_cpuset_nth(cpus, 0));
        }
        return vcpus && vr_cpuset_count(seen) >= vcpus ? g_steal_pointer(&all) : NULL;
}

/* The CPUs a rule-bound instance's vCPUs get here: its pins, while they lie in the pool
 * and no other router holds them, else free CPUs of the pool. NULL without error when
 * the plan's pins apply (not rule-bound), NULL with error when the pool is full. */
static VrCpuSet *instance_cpus(xmlDoc *doc, const VrPolicy *p, const VrRewriteOptions *opts, GError **error) {
        g_autoptr(VrCpuSet) pinned = vr_domain_vcpu_pins(doc, p->dom.vcpus);

        if (!p->rule || !p->cpus_from_pool || p->placement != VR_PLACEMENT_DEDICATED)
                return NULL;
        if (pinned && opts->held_cpus && vr_cpuset_intersects(pinned, opts->held_cpus))
                g_clear_pointer(&pinned, vr_cpuset_free);
        return vr_reserve_instance_cpus(p, pinned, opts->held_cpus, opts->cpu_holders, error);
}

/* Only pins the domain has: whether the guest is pinned is the host's business, but a
 * <cputune> the source host's definition did not have is left to the tuner. */
static bool host_cpus(xmlNode *root, const VrPlan *plan, const VrCpuSet *instance) {
        xmlNode *ct = vr_xml_child(root, NULL, "cputune");
        bool changed = false;

        for (xmlNode *n = vr_xml_first(ct); n; n = vr_xml_next(n)) {
                if (vr_xml_is(n, NULL, "vcpupin")) {
                        g_autofree char *id = vr_xml_prop(n, "vcpu");
                        guint64 v;
                        if (!id || !g_ascii_string_to_unsigned(id, 10, 0, G_MAXUINT, &v, NULL))
                                continue;
                        if (instance && (unsigned) v < vr_cpuset_count(instance)) {
                                g_autofree char *one = g_strdup_printf("%d", vr_cpuset_nth(instance, (unsigned) v));
                                changed |= vr_xml_set_prop(n, "cpuset", one);
                        } else if (!instance && v < plan->vcpupin->len) {
                                changed |= vr_xml_set_prop(n, "cpuset", plan->vcpupin->pdata[v]);
                        }
                } else if (vr_xml_is(n, NULL, "emulatorpin") && plan->emulatorpin) {
                        changed |= vr_xml_set_prop(n, "cpuset", plan->emulatorpin);
                }
        }
        return changed;
}

int vr_rewrite_incoming(const char *buf, size_t len, const VrRewriteOptions *opts, char **ret_out,
                        size_t *ret_len, GError **error) {
        g_autoptr(xmlDoc) doc = vr_xml_parse(buf, len, opts->what, error);
        g_autoptr(VrPolicy) policy = NULL;
        g_autoptr(VrPlan) plan = NULL;
        g_autoptr(VrCpuSet) instance = NULL;
        g_autoptr(GError) local = NULL;
        xmlNode *root;
        bool changed;
        int r;

        if (!doc)
                return -1;
        r = vr_policy_parse(doc, opts->what, opts->conf, &policy, error);
        if (r < 0)
                return -1;
        if (r == 0) {
                *ret_out = g_strndup(buf, len);
                *ret_len = len;
                return VR_REWRITE_NOT_ROUTER;
        }
        plan = vr_rewrite_plan_held(doc, policy, opts->conf, opts->sysroot, opts->held_vfs, opts->what, error);
        if (!plan)
                return -1;
        instance = instance_cpus(doc, policy, opts, &local);
        if (local) {
                g_propagate_error(error, g_steal_pointer(&local));
                return -1;
        }
        root = xmlDocGetRootElement(doc);
        changed = host_ports(root, plan);
        changed |= host_cpus(root, plan, instance);
        if (!changed) {
                *ret_out = g_strndup(buf, len);
                *ret_len = len;
                return VR_REWRITE_UNCHANGED;
        }
        {
                g_auto(VrXmlStyle) style = {0};
                vr_xml_style_detect(buf, len, &style);
                *ret_out = vr_xml_serialize(doc, &style, ret_len);
        }
        return VR_REWRITE_CHANGED;
}
