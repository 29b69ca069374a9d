#include "config.h"

#include <errno.h>

#include "vr-error.h"
#include "vr-plan.h"

void vr_host_facts_free(VrHostFacts *f) {
        if (!f)
                return;
        g_free(f->root);
        g_hash_table_unref(f->pf_vfs);
        g_hash_table_unref(f->netdevs);
        g_clear_pointer(&f->held_vfs, g_hash_table_unref);
        g_free(f);
}

static void iface_free(gpointer p) {
        VrPlanIface *i = p;
        g_free(i->alias);
        g_free(i->pci);
        g_free(i->netdev);
        g_ptr_array_unref(i->ips);
        g_ptr_array_unref(i->routes);
        g_free(i);
}

void vr_plan_free(VrPlan *p) {
        if (!p)
                return;
        g_ptr_array_unref(p->vcpupin);
        g_free(p->emulatorpin);
        g_free(p->vcpu_cpuset);
        g_ptr_array_unref(p->ifaces);
        if (p->vf_netdevs)
                g_hash_table_unref(p->vf_netdevs);
        g_free(p);
}

static bool vf_in_use(GPtrArray *ifaces, const char *pci) {
        for (guint i = 0; i < ifaces->len; i++) {
                const VrPlanIface *o = ifaces->pdata[i];
                if (g_strcmp0(o->pci, pci) == 0)
                        return true;
        }
        return false;
}

static void port_error(GString *errs, const char *what, const VrPolicy *p, const VrPort *port,
                       const char *fmt, ...) _printf_(5, 6);
static void port_error(GString *errs, const char *what, const VrPolicy *p, const VrPort *port,
                       const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (errs->len)
                g_string_append_c(errs, '\n');
        if (port->line > 0)
                g_string_append_printf(errs, "%s:%ld: ", what, port->line);
        else
                g_string_append_printf(errs, "%s: ", what);
        g_string_append_printf(errs, "domain '%s': <vr:port name='%s'> %s", p->dom.name,
                               port->name, msg);
}

/* A VF another port of this policy names with vf=: a pf= port does not take it first. */
static bool vf_named_by_policy(const VrPolicy *p, const char *pci) {
        for (guint i = 0; i < p->ports->len; i++) {
                const VrPort *o = p->ports->pdata[i];
                if (o->mode == VR_PORT_VF && g_strcmp0(o->vf, pci) == 0)
                        return true;
        }
        return false;
}

static const char *other_device(const VrPlanDomain *dom, const char *pci) {
        return dom && dom->other_vfs ? g_hash_table_lookup(dom->other_vfs, pci) : NULL;
}

/* A VF a pf= port may take: none of this router's ports or other devices has it. */
/* A VF the domain gives another port now: that port keeps it. */
static bool vf_current_elsewhere(const VrPlanDomain *dom, const VrPort *port, const char *pci) {
        GHashTableIter it;
        gpointer name, cur;

        if (!dom || !dom->current_vfs)
                return false;
        g_hash_table_iter_init(&it, dom->current_vfs);
        while (g_hash_table_iter_next(&it, &name, &cur))
                if (g_strcmp0(cur, pci) == 0 && !g_str_equal(name, port->name))
                        return true;
        return false;
}

static bool vf_free(const VrPolicy *p, const VrPort *port, const VrPlanDomain *dom, const VrHostFacts *facts,
                    GPtrArray *ifaces, const char *pci) {
        return !(facts->held_vfs && g_hash_table_contains(facts->held_vfs, pci)) && !vf_in_use(ifaces, pci) && !vf_named_by_policy(p, pci) && !other_device(dom, pci) &&
               !vf_current_elsewhere(dom, port, pci);
}

/* Choose the VF of a vf-mode port: an explicit address, the one the XML already has
 * (if it still belongs to the PF), else the first of the PF's VFs this domain does not
 * use yet. A VF that another device of the domain has is never taken: the domain would
 * not start (libvirt refuses a PCI device assigned twice), so an explicit one is a
 * conflict (in `conflicts`). Ledger-level conflicts between domains are the hook's
 * business at prepare. */
static bool plan_vf(VrPlanIface *pi, const VrPolicy *p, const VrHostConf *conf, const VrHostFacts *facts,
                    const VrPlanDomain *dom, GPtrArray *ifaces, const char *what, GString *errs, GString *conflicts) {
        const VrPort *port = pi->port;
        bool lxc = p->dom.type == VR_DOMAIN_LXC;
        const char *pool = port->network;
        GPtrArray *vfs;

        if (!pool && port->pf && !port->vf && !lxc)
                pool = g_hash_table_lookup(conf->pf_networks, port->pf);
        if (pool && !lxc) {
                pi->kind = VR_IFACE_NETWORK;
                pi->network = pool;
                return true;
        }
        pi->kind = lxc ? VR_IFACE_LXC_HOSTDEV : VR_IFACE_HOSTDEV;
        if (port->vf) {
                const char *other = other_device(dom, port->vf);
                if (other) {
                        port_error(conflicts, what, p, port,
                                   "vf='%s' is the VF of the domain's %s already: expected a VF no other device of the domain has (remove that device, or give the port another VF)",
                                   port->vf, other);
                        return false;
                }
                pi->pci = g_strdup(port->vf);
        } else {
                const char *cur = dom && dom->current_vfs ? g_hash_table_lookup(dom->current_vfs, port->name) : NULL;
                const char *other = NULL, *other_pci = NULL;
                if (!facts->root) {
                        port_error(errs, what, p, port,
                                   "pf='%s' needs a VF chosen on this host: expected vf='DDDD:BB:DD.F', a VF pool (network= here or [pf %s] network= in the host config), or --sysroot / to look one up",
                                   port->pf, port->pf);
                        return false;
                }
                vfs = g_hash_table_lookup(facts->pf_vfs, port->pf);
                if (!vfs) {
                        port_error(errs, what, p, port,
                                   "pf='%s': no SR-IOV physical function of this name under %s/sys/class/net: expected a PF with VFs enabled (sriov_numvfs > 0)",
                                   port->pf, g_str_equal(facts->root, "/") ? "" : facts->root);
                        return false;
                }
                if (cur && g_ptr_array_find_with_equal_func(vfs, cur, g_str_equal, NULL) &&
                    vf_free(p, port, dom, facts, ifaces, cur))
                        pi->pci = g_strdup(cur);
                for (guint k = 0; !pi->pci && k < vfs->len; k++)
                        if (vf_free(p, port, dom, facts, ifaces, vfs->pdata[k]))
                                pi->pci = g_strdup(vfs->pdata[k]);
                for (guint k = 0; !pi->pci && k < vfs->len; k++)
                        if (!other && (other = other_device(dom, vfs->pdata[k])))
                                other_pci = vfs->pdata[k];
                if (!pi->pci && other) {
                        port_error(conflicts, what, p, port,
                                   "pf='%s' has %u VFs and this router's other ports and other devices of the domain have them all (VF %s is the domain's %s): expected a PF with a free VF",
                                   port->pf, vfs->len, other_pci, other);
                        return false;
                }
                if (!pi->pci) {
                        port_error(errs, what, p, port,
                                   "pf='%s' has %u VFs and this router's other ports use them all: expected a PF with a free VF",
                                   port->pf, vfs->len);
                        return false;
                }
        }
        if (vf_in_use(ifaces, pi->pci)) {
                port_error(errs, what, p, port, "vf='%s' is already given to another port: expected one VF per port", pi->pci);
                return false;
        }
        if (lxc) {
                const char *nd = g_hash_table_lookup(facts->netdevs, pi->pci);
                if (!nd) {
                        port_error(errs, what, p, port,
                                   "VF %s: no network interface found for it%s: a container is given the VF's netdev, so expected a VF bound to its network driver (and --sysroot / to look it up)",
                                   pi->pci, facts->root ? "" : " (no --sysroot given)");
                        return false;
                }
                pi->netdev = g_strdup(nd);
        }
        return true;
}

/* In best-effort mode a deadline thread runs under global EDF over its root domain:
 * libvirt's pinning would narrow its cpuset cgroup, and the kernel then refuses
 * SCHED_DEADLINE. Leave those threads to the tuner, which places them. */
static bool unpinned_deadline(const VrPolicy *p, VrThreadKind kind) {
        if (p->mode != VR_MODE_BEST_EFFORT)
                return false;
        for (guint i = 0; i < p->sched->len; i++) {
                const VrSchedRule *r = p->sched->pdata[i];
                if (r->cls == VR_SCHED_DEADLINE && (r->threads & kind))
                        return true;
        }
        return false;
}

VrPlan *vr_plan_build(const VrPolicy *policy, const VrHostConf *conf, const VrHostFacts *facts,
                      const VrPlanDomain *dom, const char *what, GError **error) {
        g_autoptr(VrPlan) plan = g_new0(VrPlan, 1);
        g_autoptr(GString) errs = g_string_new(NULL);
        g_autoptr(GString) conflicts = g_string_new(NULL);
        bool lxc = policy->dom.type == VR_DOMAIN_LXC;

        plan->policy = policy;
        plan->vcpupin = g_ptr_array_new_with_free_func(g_free);
        plan->ifaces = g_ptr_array_new_with_free_func(iface_free);
        plan->shares = policy->shares;
        plan->strip = policy->strip;
        plan->manage_ports = policy->rule == NULL;
        /* The tuner gives the thread kinds the policy schedules their class (vCPU and
         * vhost together, deadline too); a class libvirt sets for them at start would
         * disagree, or fail where libvirt's groups have no RT budget. Kinds the policy
         * does not schedule keep libvirt's settings. */
        for (guint i = 0; i < policy->sched->len; i++) {
                const VrSchedRule *r = policy->sched->pdata[i];
                plan->drop_sched |= r->threads & (VR_THREAD_VCPU | VR_THREAD_EMULATOR | VR_THREAD_IOTHREAD);
        }
        if (lxc) {
                GHashTableIter it;
                gpointer pci, nd;
                plan->vf_netdevs = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                g_hash_table_iter_init(&it, facts->netdevs);
                while (g_hash_table_iter_next(&it, &pci, &nd))
                        if (!other_device(dom, pci)) /* the user's stays */
                                g_hash_table_add(plan->vf_netdevs, g_strdup(nd));
        }

        /* Pinning is libvirt's job for vCPUs and the emulator; vhost workers are the
         * tuner's (libvirt does not place them). An LXC container has no vCPU threads,
         * so its CPU set goes to <vcpu cpuset> (the container's cpuset). */
        if (policy->cpus && !lxc && !unpinned_deadline(policy, VR_THREAD_VCPU)) {
                for (unsigned v = 0; v < policy->dom.vcpus; v++) {
                        if (policy->placement == VR_PLACEMENT_DEDICATED)
                                g_ptr_array_add(plan->vcpupin, g_strdup_printf("%d", vr_cpuset_nth(policy->cpus, v)));
                        else
                                g_ptr_array_add(plan->vcpupin, vr_cpuset_format(policy->cpus));
                }
        }
        if (lxc && policy->cpus)
                plan->vcpu_cpuset = vr_cpuset_format(policy->cpus);
        else if (!lxc && policy->housekeeping && !unpinned_deadline(policy, VR_THREAD_EMULATOR))
                plan->emulatorpin = vr_cpuset_format(policy->housekeeping);

        for (guint i = 0; plan->manage_ports && i < policy->ports->len; i++) {
                const VrPort *port = policy->ports->pdata[i];
                VrPlanIface *pi = g_new0(VrPlanIface, 1);

                pi->port = port;
                pi->domain = policy->dom.name;
                pi->alias = g_strconcat(VR_ALIAS_PREFIX, port->name, NULL);
                pi->ips = g_ptr_array_new();
                pi->routes = g_ptr_array_new();
                if (port->mode == VR_PORT_VF) {
                        if (!plan_vf(pi, policy, conf, facts, dom, plan->ifaces, what, errs, conflicts)) {
                                iface_free(pi);
                                continue;
                        }
                } else {
                        pi->kind = VR_IFACE_DIRECT;
                        pi->virtio = !lxc;
                        /* libvirt keeps no alias on a container's devices, but it keeps the
                         * name the device gets inside: the port's name, by which apply and
                         * the hook find the device again and the container's own tools see
                         * the port as the policy calls it. */
                        if (lxc)
                                pi->guest_name = port->name;
                        if (!lxc) {
                                /* Explicit vhost on real KVM hosts: a router silently falling
                                 * back to QEMU's userspace virtio would be several times
                                 * slower. Under emulation libvirt picks what exists. */
                                if (port->backend == VR_BACKEND_VHOST ||
                                    (port->backend == VR_BACKEND_DEFAULT && policy->dom.type == VR_DOMAIN_KVM))
                                        pi->driver_name = "vhost";
                                else if (port->backend == VR_BACKEND_QEMU)
                                        pi->driver_name = "qemu";
                        }
                }
                if (lxc) {
                        for (guint k = 0; k < policy->addresses->len; k++) {
                                VrAddress *a = policy->addresses->pdata[k];
                                if (g_str_equal(a->port, port->name))
                                        g_ptr_array_add(pi->ips, a);
                        }
                        for (guint k = 0; k < policy->routes->len; k++) {
                                VrRoute *r = policy->routes->pdata[k];
                                if (g_strcmp0(r->port, port->name) == 0)
                                        g_ptr_array_add(pi->routes, r);
                        }
                }
                g_ptr_array_add(plan->ifaces, pi);
        }
        if (errs->len) {
                if (conflicts->len)
                        g_string_append_printf(errs, "\n%s", conflicts->str);
                g_set_error_literal(error, VR_ERROR, VR_ERROR_INVALID, errs->str);
                return NULL;
        }
        if (conflicts->len) {
                g_set_error_literal(error, VR_ERROR, VR_ERROR_CONFLICT, conflicts->str);
                return NULL;
        }
        return g_steal_pointer(&plan);
}
