#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "vr-drift.h"
#include "vr-error.h"
#include "vr-guarantee.h"
#include "vr-hook.h"
#include "vr-hook-plan.h"
#include "vr-hostops.h"
#include "vr-incoming.h"
#include "vr-json.h"
#include "vr-launch.h"
#include "vr-ledger.h"
#include "vr-log.h"
#include "vr-netdev.h"
#include "vr-pci.h"
#include "vr-plan.h"
#include "vr-policy-xml.h"
#include "vr-proc.h"
#include "vr-reserve.h"
#include "vr-rewrite.h"
#include "vr-spec.h"
#include "vr-state.h"
#include "vr-sysfs.h"
#include "vr-xml.h"

bool vr_hook_op_can_fail(const char *op) {
        static const char *const ops[] = {"prepare", "start", "started", "migrate", "restore", NULL};
        return g_strv_contains(ops, op);
}

typedef struct {
        const VrHookRequest *req;
        const char *state_dir;
        xmlDoc *doc;
        VrPolicy *policy;
        const char *driver; /* "qemu" / "lxc" */
        const VrHostOps *ops;
        GPtrArray *devices; /* VrHookDevice: the router's devices in the XML, read once */
} Hook;

/* The journal of host changes that stopped and release undo. */
static char *hook_state_path(const Hook *h) {
        return vr_state_path(h->state_dir, VR_STATE_HOOK, h->policy->dom.name);
}

/* ------------------------------------------------------------------------ */
/* What the domain's XML says now                                            */

/* The router's devices in the XML, with what the host says of them now (reads only:
 * the plan is made from these). */
static GPtrArray *read_devices(xmlDoc *doc, const VrPolicy *p, const char *root, GError **error) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify) vr_hook_device_free);
        xmlNode *devices = vr_xml_child(xmlDocGetRootElement(doc), NULL, "devices");
        g_autoptr(GHashTable) lxc_ports = g_hash_table_new(g_direct_hash, g_direct_equal); /* node -> port */
        g_autoptr(VrLxcIndex) lxc = p->dom.type == VR_DOMAIN_LXC ? vr_rewrite_lxc_index_new(devices) : NULL;

        /* A container's devices carry no alias (libvirt drops them): match by source. */
        for (guint i = 0; p->dom.type == VR_DOMAIN_LXC && i < p->ports->len; i++) {
                const VrPort *port = p->ports->pdata[i];
                xmlNode *d = vr_rewrite_find_lxc_port(lxc, port, NULL, lxc_ports);
                if (d)
                        g_hash_table_insert(lxc_ports, d, (gpointer) port->name);
        }
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *alias = vr_xml_prop(vr_xml_child(d, NULL, "alias"), "name");
                g_autofree char *managed = vr_xml_prop(d, "managed");
                xmlNode *addr = vr_xml_child(vr_xml_child(d, NULL, "source"), NULL, "address");
                const char *lxc_port = g_hash_table_lookup(lxc_ports, d);
                VrHookDevice *ld;
                if (!lxc_port && (!alias || !g_str_has_prefix(alias, VR_ALIAS_PREFIX)))
                        continue;
                ld = g_new0(VrHookDevice, 1);
                ld->port = g_strdup(lxc_port ? lxc_port : alias + strlen(VR_ALIAS_PREFIX));
                ld->target = vr_xml_prop(vr_xml_child(d, NULL, "target"), "dev");
                if (!ld->target) /* LXC: <guest dev='eth0' actual='macvlan0'/> */
                        ld->target = vr_xml_prop(vr_xml_child(d, NULL, "guest"), "actual");
                ld->guest = vr_xml_prop(vr_xml_child(d, NULL, "guest"), "dev");
                ld->managed = g_strcmp0(managed, "no") != 0;
                ld->bandwidth = vr_xml_child(d, NULL, "bandwidth") != NULL;
                ld->txqlen = -1;
                ld->vf = -1;
                ld->pci = vr_xml_pci_address(addr);
                g_ptr_array_add(out, ld);
                /* Both become paths (sys/class/net/TARGET) or kernel interface names: one
                 * with a '/' would write outside its device's directory. */
                for (int k = 0; k < 2; k++) {
                        const char *dev = k ? ld->guest : ld->target;
                        const char *why = dev ? vr_netdev_name_problem(dev) : NULL;
                        if (!why)
                                continue;
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "domain '%s': port '%s': device name '%s' %s: expected a network interface name (1-%d bytes, no '/', ':' or blanks, not '.' or '..')",
                                    p->dom.name, ld->port, dev, why, IFNAMSIZ - 1);
                        return NULL;
                }
                if (ld->target && vr_netdev_get_txqlen(root, ld->target, &ld->txqlen) < 0)
                        ld->txqlen = -1;
                if (ld->pci) {
                        g_autofree char *drv = vr_root_path(root, "sys/bus/pci/devices/%s/driver", ld->pci);
                        g_autofree char *cur = g_file_read_link(drv, NULL);
                        if (cur)
                                ld->driver = g_path_get_basename(cur);
                        if (vr_vf_pf(root, ld->pci, &ld->pf) == 0 && vr_vf_index(root, ld->pf, ld->pci, &ld->vf) < 0)
                                ld->vf = -1;
                }
        }
        return g_steal_pointer(&out);
}

static pid_t domain_pid(const Hook *h);

/* The host changes of this operation: a pure function of the devices read once, the
 * VFs the XML plan gives hostdev ports (prepare) and the container's controller
 * (started), whose child is its init. */
static VrHookPlan *build_plan(const Hook *h, const VrPlan *xml_plan, pid_t controller) {
        g_autoptr(GPtrArray) vfio = g_ptr_array_new();
        VrHookPlanInput in = {.op = h->req->op, .policy = h->policy, .devices = h->devices,
                              .tc = h->req->tc_path != NULL};

        for (guint i = 0; xml_plan && i < xml_plan->ifaces->len; i++) {
                const VrPlanIface *pi = xml_plan->ifaces->pdata[i];
                if (pi->kind == VR_IFACE_HOSTDEV && pi->pci)
                        g_ptr_array_add(vfio, pi->pci);
        }
        g_ptr_array_add(vfio, NULL);
        in.vfio_vfs = (const char *const *) vfio->pdata;
        if (controller > 0 && h->policy->dom.type == VR_DOMAIN_LXC)
                in.container_init = vr_proc_child_of(h->req->root, controller);
        return vr_hook_plan_build(&in);
}

/* ------------------------------------------------------------------------ */
/* Carrying out a plan through the journal                                   */

static bool fail_or_degrade(const Hook *h, GError **error, GError *cause);

/* The journal as it is on disk (empty when there is none, or it is not one). */
static GPtrArray *journal_load(const Hook *h) {
        g_autofree char *path = hook_state_path(h), *text = NULL;
        g_autoptr(GError) e = NULL;
        GPtrArray *steps;

        if (!g_file_get_contents(path, &text, NULL, NULL))
                return g_ptr_array_new_with_free_func((GDestroyNotify) vr_hook_step_free);
        steps = vr_hook_journal_parse(text, &e);
        if (!steps) {
                vr_log(LOG_WARNING, "domain '%s': journal %s: %s: its changes cannot be undone", h->policy->dom.name,
                       path, e->message);
                return g_ptr_array_new_with_free_func((GDestroyNotify) vr_hook_step_free);
        }
        return steps;
}

/* Written whole and atomically (rename), before each change: a change is made only
 * once its undo is on disk, so that stopped and release can undo it even after a crash.
 * An empty journal is removed, which needs no space on a full file system. */
static bool journal_save(const Hook *h, GPtrArray *steps, GError **error) {
        g_autofree char *text = NULL;
        int r;

        if (!steps->len) {
                r = vr_state_remove(h->state_dir, VR_STATE_HOOK, h->policy->dom.name);
                if (r < 0)
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': cannot remove its journal: %s",
                                    h->policy->dom.name, g_strerror(-r));
                return r == 0;
        }
        text = vr_hook_journal_format(h->policy->dom.name, steps);
        return vr_state_write(h->state_dir, VR_STATE_HOOK, h->policy->dom.name, text, error);
}

/* The journal after an undo: what it lists was undone or never made. One that cannot be
 * written now lists changes already undone; undoing them again at stopped writes old
 * values back, which is harmless, so a warning is all. */
static void journal_resave(const Hook *h, GPtrArray *steps) {
        g_autoptr(GError) e = NULL;

        if (!journal_save(h, steps, &e))
                vr_log(LOG_WARNING, "%s (stopped may undo some changes twice)", e->message);
}

/* Undo one step: its undo, if the thing it changed is still there. Undo failures are
 * warnings: what is left cannot be helped by failing the operation. */
static void undo_step(const Hook *h, const VrHookStep *s, const VrHostOp *undo) {
        g_autofree char *guard = s->undo_if ? vr_root_path(h->req->root, "%s", s->undo_if) : NULL;
        g_autoptr(GError) e = NULL;

        if (!undo || (guard && !g_file_test(guard, G_FILE_TEST_EXISTS)))
                return;
        if (undo->kind == VR_HOST_OP_TC && !h->req->tc_path)
                return; /* without tc nothing could have installed it */
        if (vr_host_op_run(h->ops, h->req->root, h->req->tc_path, undo, &e) < 0) {
                g_autofree char *text = vr_host_op_format(undo);
                vr_log(LOG_WARNING, "domain '%s': port '%s': cannot undo with '%s': %s", h->policy->dom.name, s->port,
                       text, e->message);
        }
}

/* Steps of this operation (from FIRST on) come out of JOURNAL, undone in reverse:
 * all of them (GROUP 0), or the tail that belongs to GROUP. */
static void undo_tail(Hook *h, GPtrArray *journal, guint first, unsigned group, bool all) {
        while (journal->len > first &&
               (all || ((const VrHookStep *) journal->pdata[journal->len - 1])->group == group)) {
                const VrHookStep *d = g_ptr_array_steal_index(journal, journal->len - 1);
                undo_step(h, d, d->undo);
        }
}

/* Carry out PLAN, journal first: the journal (the earlier operations' steps, unless
 * FRESH) lists every step begun, and is written before each change. A step whose
 * record cannot be written is not made, as one the host refused. A failed step takes
 * its group with it (undone in reverse); a required one, in strict mode, takes every
 * step of this operation and fails it; so does, in strict mode, any step that cannot
 * be recorded (a change nothing could undo). */
static bool carry_out(Hook *h, const VrHookPlan *plan, bool fresh, GError **error) {
        g_autoptr(GPtrArray) earlier = fresh ? g_ptr_array_new_with_free_func((GDestroyNotify) vr_hook_step_free)
                                             : journal_load(h);
        g_autoptr(GPtrArray) journal = g_ptr_array_new(); /* earlier's and plan's steps, not owned */
        guint first = earlier->len; /* this operation's steps begin here */
        bool strict = h->policy->mode != VR_MODE_BEST_EFFORT;

        for (guint i = 0; i < plan->notes->len; i++)
                vr_log(LOG_INFO, "%s", (char *) plan->notes->pdata[i]);
        if (fresh)
                (void) vr_state_remove(h->state_dir, VR_STATE_HOOK, h->policy->dom.name);
        if (!plan->steps->len)
                return true;
        g_ptr_array_extend(journal, earlier, NULL, NULL);
        for (guint i = 0; i < plan->steps->len; i++) {
                const VrHookStep *s = plan->steps->pdata[i];
                g_autoptr(GError) cause = NULL, e = NULL;
                bool unrecorded;

                g_ptr_array_add(journal, (gpointer) s);
                unrecorded = !journal_save(h, journal, &cause);
                if (!unrecorded && vr_host_op_run(h->ops, h->req->root, h->req->tc_path, s->op, &cause) == 0) {
                        if (s->done)
                                vr_log(LOG_INFO, "domain '%s': port '%s': %s", h->policy->dom.name, s->port, s->done);
                        continue;
                }
                g_ptr_array_remove_index(journal, journal->len - 1); /* it did not happen */
                if (unrecorded)
                        e = g_error_new(VR_ERROR, VR_ERROR_HOST,
                                        "domain '%s': port '%s': %s: not made, its undo cannot be recorded: %s",
                                        h->policy->dom.name, s->port, s->what ? s->what : "a host change",
                                        cause->message);
                else
                        e = g_error_new(VR_ERROR, VR_ERROR_HOST, "domain '%s': port '%s': %s: %s%s%s",
                                        h->policy->dom.name, s->port, s->what, cause->message,
                                        s->consequence ? "; " : "", s->consequence ? s->consequence : "");
                if (strict && (s->need == VR_STEP_REQUIRED || unrecorded)) {
                        undo_tail(h, journal, first, 0, true);
                        journal_resave(h, journal);
                        g_propagate_error(error, g_steal_pointer(&e));
                        return false;
                }
                /* The rest of its group falls with it: what went in comes out. */
                if (s->group)
                        undo_tail(h, journal, first, s->group, false);
                while (s->group && i + 1 < plan->steps->len &&
                       ((const VrHookStep *) plan->steps->pdata[i + 1])->group == s->group)
                        i++;
                if (!unrecorded)
                        journal_resave(h, journal);
                if (s->need == VR_STEP_OPTIONAL)
                        vr_log(LOG_WARNING, "%s", e->message);
                else
                        (void) fail_or_degrade(h, NULL, g_steal_pointer(&e));
        }
        return true;
}

/* ------------------------------------------------------------------------ */
/* prepare                                                                   */

static bool fail_or_degrade(const Hook *h, GError **error, GError *cause) {
        if (h->policy->mode == VR_MODE_BEST_EFFORT) {
                /* Most causes name the domain already: once is enough. */
                bool named = g_str_has_prefix(cause->message, "domain '");
                vr_log(LOG_WARNING, "%s%s%s%s (best-effort: starting without it)", named ? "" : "domain '",
                       named ? "" : h->policy->dom.name, named ? "" : "': ", cause->message);
                g_error_free(cause);
                return true;
        }
        g_propagate_error(error, cause);
        return false;
}

/* word as one shell word: as it is when nothing in it is special to a shell, else
 * quoted (g_shell_quote quotes every word, which reads worse for plain names). */
static char *shell_word(const char *word) {
        if (*word && strspn(word, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-:@%/=,") == strlen(word))
                return g_strdup(word);
        return g_shell_quote(word);
}

/* The definition must be what `apply` makes of the policy: one whose policy was added
 * with `virsh edit` and never applied would start without its ports, yet reserved. */
static bool check_drift(const Hook *h, const VrPlan *plan, GError **error) {
        const VrPolicy *p = h->policy;
        g_autoptr(GPtrArray) drift = vr_plan_drift(plan, h->doc);
        g_autofree char *what = NULL, *fix = NULL, *quoted = NULL;

        if (!drift->len)
                return true;
        g_ptr_array_add(drift, NULL);
        what = g_strjoinv("; ", (char **) drift->pdata);
        if (p->rule) {
                /* Its definition is Nova's (or its user's), written again at every hard
                 * reboot, so apply cannot fix it for good; the tuner still places its
                 * threads and sets its shares. */
                vr_log(LOG_WARNING, "domain '%s': its definition does not honour the profile '%s' that host config rule '%s' binds it to: %s (starting it as defined: virt-router-tune places its threads)",
                       p->dom.name, p->profile, p->rule, what);
                return true;
        }
        /* apply --domain talks to qemu:///system unless told otherwise. The command is
         * for copy and paste: a name with a space or a quote goes quoted for a shell. */
        quoted = shell_word(p->dom.name);
        fix = g_strdup_printf("virt-router apply --domain %s%s", quoted,
                              p->dom.type == VR_DOMAIN_LXC ? " -c lxc:///system" : "");
        if (p->mode == VR_MODE_BEST_EFFORT) {
                vr_log(LOG_WARNING, "domain '%s': its definition does not honour its router policy: %s: run '%s' and restart it (best-effort: starting it as defined)",
                       p->dom.name, what, fix);
                return true;
        }
        /* Prepare cannot tell a persistent domain from one `virsh create` starts (the
         * same XML either way), and a transient one has no definition for apply --domain
         * to read: the line says what to do in both cases. */
        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                    "domain '%s': its definition does not honour its router policy: %s: run '%s' and start it again (a transient domain: apply its XML file with 'virt-router apply FILE' before virsh create)",
                    p->dom.name, what, fix);
        return false;
}

/* A rule-bound router without CPUs of its own reserves CPUs of the pool per instance
 * (vr-reserve.h): the policy's cpus become those, for the deadline demand, the drift
 * check and (at started, from the ledger) the tuner's spec. */
static bool instance_cpus(Hook *h, VrLedger *ledger, GError **error) {
        g_autoptr(VrCpuSet) pinned = vr_domain_vcpu_pins(h->doc, h->policy->dom.vcpus);
        g_autofree char *holders = NULL;
        g_autoptr(VrCpuSet) held = vr_ledger_cpus_held(ledger, h->policy->dom.name, &holders);
        VrCpuSet *mine = vr_reserve_instance_cpus(h->policy, pinned, held, holders, error);

        if (!mine)
                return !error || !*error;
        vr_cpuset_free(h->policy->cpus);
        h->policy->cpus = mine;
        return true;
}

/* Whether the XML plan gives a hostdev port the VF at PCI (the ones prepare binds). */
static bool plan_hostdev(const VrPlan *plan, const char *pci) {
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                if (pi->kind == VR_IFACE_HOSTDEV && g_strcmp0(pi->pci, pci) == 0)
                        return true;
        }
        return false;
}

static bool op_prepare(Hook *h, GError **error) {
        const VrPolicy *p = h->policy;
        const char *root = h->req->root;
        g_autoptr(VrPlan) plan = NULL;
        g_autoptr(VrHookPlan) host_plan = NULL;
        g_autoptr(VrLedger) ledger = NULL;
        g_autoptr(VrLedgerEntry) entry = NULL;
        g_autoptr(GPtrArray) reclaimed = NULL;
        g_autoptr(GHashTable) domain_cpus = NULL;
        g_autoptr(GError) local = NULL;
        g_autofree char *online_s = NULL;
        g_autofree char *dl_why = NULL;
        VrCpuSet *online = NULL;
        uint64_t dl = 0;
        bool dl_refused = false;

        /* The ledger first: what a rule-bound instance reserves depends on what others
         * hold, and the plan and drift check follow from it. */
        ledger = vr_ledger_open(root, h->state_dir, h->req->lock_wait_ms, &local);
        if (!ledger)
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        reclaimed = vr_ledger_reclaim(ledger);
        for (guint i = 0; i < reclaimed->len; i++)
                vr_log(LOG_INFO, "ledger: reclaimed the reservations of domain '%s' (its process is gone)",
                       (char *) reclaimed->pdata[i]);
        if (!instance_cpus(h, ledger, &local))
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        plan = vr_rewrite_plan(h->doc, p, h->req->conf, root, h->req->domain, &local);
        if (!plan)
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        /* Host checks the XML cannot express. */
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                const VrPort *port = pi->port;
                if (pi->kind == VR_IFACE_DIRECT && !vr_netdev_exists(root, port->dev)) {
                        return fail_or_degrade(h, error, g_error_new(VR_ERROR, VR_ERROR_HOST,
                                "domain '%s': port '%s': dev='%s' is no network interface of this host: expected the interface its %s sits on",
                                p->dom.name, port->name, port->dev, p->dom.type == VR_DOMAIN_LXC ? "macvlan" : "macvtap"));
                }
                if (pi->kind == VR_IFACE_HOSTDEV) {
                        int group;
                        if (vr_pci_iommu_group(root, pi->pci, &group) < 0)
                                return fail_or_degrade(h, error, g_error_new(VR_ERROR, VR_ERROR_HOST,
                                        "domain '%s': port '%s': VF %s has no IOMMU group: VFIO needs VT-d/AMD-Vi (boot with intel_iommu=on or amd_iommu=on)",
                                        p->dom.name, port->name, pi->pci));
                }
        }
        /* A VF the hook binds (managed='no') needs the vfio-pci driver loaded: without it
         * the kernel takes the driver_override and the drivers_probe and binds nothing, so
         * the VF would leave its driver for none (seen in the lab on 6.12). Refused in
         * every mode, before anything is written: going on would unbind the VF. */
        for (guint i = 0; i < h->devices->len; i++) {
                const VrHookDevice *d = h->devices->pdata[i];
                g_autofree char *drv = NULL;
                if (!d->pci || d->managed || g_strcmp0(d->driver, "vfio-pci") == 0 || !plan_hostdev(plan, d->pci))
                        continue;
                drv = vr_root_path(root, "sys/bus/pci/drivers/vfio-pci");
                if (!g_file_test(drv, G_FILE_TEST_IS_DIR)) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                                    "domain '%s': port '%s': VF %s cannot be bound to vfio-pci: the vfio-pci driver is not loaded (no %s): expected it loaded before a managed='no' VF starts (modprobe vfio-pci, or list it in /etc/modules-load.d)",
                                    p->dom.name, d->port, d->pci, drv);
                        return false;
                }
        }
        if (!check_drift(h, plan, error))
                return false;
        /* Reserve. */
        entry = vr_ledger_entry_new(p->dom.name, h->driver);
        if (p->placement == VR_PLACEMENT_DEDICATED && p->cpus)
                entry->cpus = vr_cpuset_copy(p->cpus);
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                if (pi->pci)
                        g_ptr_array_add(entry->vfs, g_strdup(pi->pci));
        }
        if (!vr_deadline_demand(p, h->req->conf, entry->dl_ppm, &dl, &dl_why, &local))
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        domain_cpus = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify) vr_cpuset_free);
        if (vr_read_line(root, "sys/devices/system/cpu/online", &online_s) == 0 &&
            vr_cpuset_parse(online_s, &online) == 0)
                g_hash_table_insert(domain_cpus, g_strdup(""), online);
        if (!vr_ledger_reserve(ledger, entry, h->req->conf->deadline_cap_ppm, domain_cpus, &dl_refused, &local)) {
                if (dl_refused) {
                        /* Say what the reservation is made of, so the operator sees which
                         * number to change. Refused in every mode: started anyway, its
                         * threads would still get their reservations from the tuner and
                         * break the guarantees of the routers already admitted. */
                        g_autofree char *m = g_strdup_printf("%s (its reservation: %s; deadline-cap is [host] deadline-cap of %s)",
                                                             local->message, dl_why,
                                                             h->req->conf->path ? h->req->conf->path : "the built-in defaults");
                        g_free(local->message);
                        local->message = g_steal_pointer(&m);
                        g_propagate_error(error, g_steal_pointer(&local));
                        return false;
                }
                if (p->cpus_from_pool && !p->rule && entry->cpus) {
                        /* Its CPUs are the host config's, not its own: say so, and where. */
                        g_autofree char *pool = vr_cpuset_format(p->cpus);
                        g_autofree char *m = g_strdup_printf("%s (its cpus are [host] router-cpus=%s of %s: expected cpus= of its own in <vr:cpu>)",
                                                             local->message, pool,
                                                             h->req->conf->path ? h->req->conf->path : "the built-in defaults");
                        g_free(local->message);
                        local->message = g_steal_pointer(&m);
                }
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        }
        entry = NULL; /* the ledger owns it */
        if (!vr_ledger_save(ledger, &local)) {
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        }
        {
                const VrLedgerEntry *e = vr_ledger_find(ledger, p->dom.name);
                g_autofree char *cpus = e->cpus ? vr_cpuset_format(e->cpus) : g_strdup("none");
                vr_log(LOG_INFO, "domain '%s': prepare: reserved dedicated CPUs %s, %u VF%s, deadline %.1f%% of a CPU",
                       p->dom.name, cpus, e->vfs->len, e->vfs->len == 1 ? "" : "s", dl / 1e4);
        }
        /* A new journal: one a domain left without stopped is stale (the hardening
         * issue's "undo before do" will undo it here first). */
        host_plan = build_plan(h, plan, 0);
        if (!carry_out(h, host_plan, true, error)) { /* strict: nothing of it stays, nor its reservation */
                vr_ledger_release(ledger, p->dom.name);
                if (!vr_ledger_save(ledger, &local))
                        vr_log(LOG_WARNING, "domain '%s': prepare failed, and its reservations stay in the ledger until they are reclaimed (%d s after prepare): %s",
                               p->dom.name, VR_LEDGER_PREPARE_GRACE_S, local->message);
                return false;
        }
        return true;
}

/* ------------------------------------------------------------------------ */
/* start: host side of the ports, journaled so stopped/release can undo it   */

static bool op_start(Hook *h, GError **error) {
        g_autoptr(VrHookPlan) plan = build_plan(h, NULL, 0);
        return carry_out(h, plan, false, error);
}

/* ------------------------------------------------------------------------ */

static pid_t domain_pid(const Hook *h) {
        return vr_libvirt_pid(h->req->root, h->driver, h->policy->dom.name);
}

static bool tuner_running(const Hook *h) {
        return vr_state_pid_alive(h->req->root, h->state_dir, VR_STATE_TUNER_PID, h->policy->dom.name, NULL);
}

static bool op_started(Hook *h, bool reconnect, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(VrLedger) ledger = NULL;
        g_autofree char *spec = NULL, *spec_path = NULL;
        pid_t pid = domain_pid(h);
        VrLaunchOptions lo;

        if (h->policy->dom.type == VR_DOMAIN_LXC && !reconnect) {
                g_autoptr(VrHookPlan) plan = build_plan(h, NULL, pid);
                /* Its steps are optional: it fails only where a change could not be
                 * recorded (strict). */
                if (!carry_out(h, plan, false, &local))
                        return fail_or_degrade(h, error, g_steal_pointer(&local));
        }
        ledger = vr_ledger_open(h->req->root, h->state_dir, h->req->lock_wait_ms, &local);
        /* Without its pid the entry is the domain's while libvirt's pid file names a live
         * process (vr_ledger_reclaim): a warning, not a reason to stop a running router. */
        if (!ledger)
                vr_log(LOG_WARNING, "domain '%s': %s: cannot record its pid in the ledger: %s", h->policy->dom.name,
                       reconnect ? "reconnect" : "started", local->message);
        if (ledger && pid > 0 && vr_ledger_set_pid(ledger, h->policy->dom.name, pid) && !vr_ledger_save(ledger, &local))
                vr_log(LOG_WARNING, "domain '%s': %s: cannot record its pid in the ledger: %s", h->policy->dom.name,
                       reconnect ? "reconnect" : "started", local->message);
        if (ledger && h->policy->rule && h->policy->cpus_from_pool) {
                /* The tuner pins to what prepare reserved for this instance: the hook
                 * cannot rewrite a rule-bound domain's XML. */
                const VrLedgerEntry *e = vr_ledger_find(ledger, h->policy->dom.name);
                if (e && e->cpus) {
                        vr_cpuset_free(h->policy->cpus);
                        h->policy->cpus = vr_cpuset_copy(e->cpus);
                }
        }
        g_clear_pointer(&ledger, vr_ledger_close);
        g_clear_error(&local);
        /* The spec from the XML libvirt just gave us: the tuner never parses XML. Written
         * even when no tuner is started (tests), so what the tuner would get is seen. */
        spec = vr_tune_spec_from_policy(h->req->root, h->doc, h->policy, pid);
        spec_path = vr_state_path(h->state_dir, VR_STATE_SPEC, h->policy->dom.name);
        if (!vr_state_write(h->state_dir, VR_STATE_SPEC, h->policy->dom.name, spec, &local))
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        if (h->req->no_tuner || (reconnect && tuner_running(h)))
                return true;
        lo = (VrLaunchOptions){.tune_path = h->req->tune_path, .domain = h->policy->dom.name,
                               .config = h->req->conf->path, .state_dir = h->state_dir, .spec = spec_path};
        if (vr_tuner_launch(&lo, &local) < 0)
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        vr_log(LOG_INFO, "domain '%s': %s: tuner started", h->policy->dom.name, reconnect ? "reconnect" : "started");
        return true;
}

/* What the journal says to undo once the domain has stopped, in reverse; then the
 * journal goes. */
static void undo_host_changes(Hook *h) {
        g_autofree char *path = hook_state_path(h);
        g_autoptr(GPtrArray) journal = NULL;
        g_autoptr(VrHookPlan) plan = NULL;

        if (!g_file_test(path, G_FILE_TEST_EXISTS))
                return;
        journal = journal_load(h);
        plan = vr_hook_plan_undo(journal);
        for (guint i = 0; i < plan->steps->len; i++) {
                const VrHookStep *s = plan->steps->pdata[i];
                undo_step(h, s, s->op);
        }
        (void) vr_state_remove(h->state_dir, VR_STATE_HOOK, h->policy->dom.name);
}

static void op_stopped(Hook *h) {
        int r = vr_tuner_stop(h->req->root, h->state_dir, h->policy->dom.name);
        if (r == 0)
                vr_log(LOG_INFO, "domain '%s': stopped: tuner stopped", h->policy->dom.name);
        undo_host_changes(h);
}

static void op_release(Hook *h) {
        g_autoptr(GError) local = NULL;
        g_autoptr(VrLedger) ledger = vr_ledger_open(h->req->root, h->state_dir, h->req->lock_wait_ms, &local);

        undo_host_changes(h);
        if (!ledger) {
                vr_log(LOG_ERR, "domain '%s': release: %s", h->policy->dom.name, local->message);
        } else if (vr_ledger_release(ledger, h->policy->dom.name)) {
                if (vr_ledger_save(ledger, &local))
                        vr_log(LOG_INFO, "domain '%s': release: reservations released", h->policy->dom.name);
                else
                        vr_log(LOG_ERR, "domain '%s': release: %s", h->policy->dom.name, local->message);
        }
        vr_state_remove_domain(h->state_dir, h->policy->dom.name);
}

/* ------------------------------------------------------------------------ */

static void hook_clear(Hook *h) {
        g_clear_pointer(&h->doc, xmlFreeDoc);
        g_clear_pointer(&h->policy, vr_policy_free);
        g_clear_pointer(&h->devices, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Hook, hook_clear)

/* Parse once: the document, its policy, its devices and what the host says of them.
 * 1: a router; 0: not one; -1: error. */
static int hook_open(const VrHookRequest *req, Hook *h, GError **error) {
        const char *what = req->domain ? req->domain : "<stdin>";
        const char *why;
        int r;

        *h = (Hook){.req = req, .state_dir = req->state_dir ? req->state_dir : req->conf->state_dir,
                    .driver = "qemu", .ops = vr_host_ops_or_real(req->ops)};
        h->doc = vr_xml_parse(req->xml, req->xml_len, what, error);
        if (!h->doc)
                return -1;
        r = vr_policy_parse(h->doc, what, req->conf, &h->policy, error);
        if (r <= 0)
                return r;
        h->driver = h->policy->dom.type == VR_DOMAIN_LXC ? "lxc" : "qemu";
        /* The name libvirt passes is the one it acts on; the XML's must be the same, or
         * the files of one domain would be taken for another's. And it becomes part of
         * paths (the state files, libvirt's pid file): one such as "../victim/x" must
         * not reach them. */
        if (req->domain && !g_str_equal(req->domain, h->policy->dom.name)) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "domain '%s': libvirt runs the hook for domain '%s' but the XML it passes names domain '%s' in <name>: expected the same name",
                            req->domain, req->domain, h->policy->dom.name);
                return -1;
        }
        if ((why = vr_state_domain_problem(h->policy->dom.name))) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "domain '%s': a router's name names its files in %s, and this one %s: expected at most %d bytes, no '/', not '.' or '..' and not beginning with '.'",
                            h->policy->dom.name, h->state_dir, why, VR_STATE_DOMAIN_MAX);
                return -1;
        }
        h->devices = read_devices(h->doc, h->policy, req->root, error);
        return h->devices ? 1 : -1;
}

int vr_hook_plan_text(const VrHookRequest *req, char **ret, GError **error) {
        g_auto(Hook) h = {0};
        g_autoptr(VrPlan) xml_plan = NULL;
        g_autoptr(VrHookPlan) plan = NULL;
        int r = hook_open(req, &h, error);

        if (r <= 0) {
                if (r == 0)
                        *ret = g_strdup("");
                return r;
        }
        if (g_str_equal(req->op, "stopped") || g_str_equal(req->op, "release")) {
                g_autoptr(GPtrArray) journal = journal_load(&h);
                plan = vr_hook_plan_undo(journal);
        } else {
                if (g_str_equal(req->op, "prepare")) {
                        xml_plan = vr_rewrite_plan(h.doc, h.policy, req->conf, req->root, req->domain, error);
                        if (!xml_plan)
                                return -1;
                }
                plan = build_plan(&h, xml_plan, g_str_equal(req->op, "started") ? domain_pid(&h) : 0);
        }
        *ret = vr_hook_plan_format(plan);
        return 0;
}

int vr_hook_run(const VrHookRequest *req, char **ret_stdout, GError **error) {
        g_auto(Hook) h = {0};
        g_autofree char *what = g_strdup_printf("domain '%s': domain XML", req->domain);
        int r;

        *ret_stdout = NULL;
        /* Refused before anything else, as the front refuses it: a search that stops at
         * a NUL would see no policy after one, and let a router by unchecked. */
        if (!vr_xml_check_text(req->xml, req->xml_len, what, error))
                return -1;
        /* The common case costs nothing: no policy in the XML and no rule that could
         * bind the domain to a profile. */
        if (!memmem(req->xml, req->xml_len, VR_NS_PREFIX, strlen(VR_NS_PREFIX)) && req->conf->rules->len == 0)
                return 0;
        if (g_str_equal(req->op, "attach"))
                return 0;
        if (g_str_equal(req->op, "migrate") || g_str_equal(req->op, "restore")) {
                /* A filter: only what belongs to this host changes (vr-incoming.h); nothing
                 * is printed when the domain is right for this host as it is. What other
                 * routers hold here is read from the ledger, and the lock let go at once:
                 * the prepare that follows reserves. Without a ledger, nothing is held. */
                VrRewriteOptions ao = {req->conf, req->root, req->domain};
                g_autoptr(VrLedger) ledger = vr_ledger_open(req->root, req->state_dir ? req->state_dir : req->conf->state_dir,
                                                            req->lock_wait_ms, NULL);
                g_autoptr(GHashTable) held_vfs = NULL;
                g_autoptr(VrCpuSet) held_cpus = NULL;
                g_autofree char *out = NULL, *holders = NULL;
                size_t len = 0;
                if (ledger) {
                        (void) g_ptr_array_unref(vr_ledger_reclaim(ledger));
                        held_vfs = vr_ledger_vfs_held(ledger, req->domain);
                        held_cpus = vr_ledger_cpus_held(ledger, req->domain, &holders);
                        g_clear_pointer(&ledger, vr_ledger_close);
                }
                ao.held_vfs = held_vfs;
                ao.held_cpus = held_cpus;
                ao.cpu_holders = holders;
                r = vr_rewrite_incoming(req->xml, req->xml_len, &ao, &out, &len, error);
                if (r < 0)
                        return -1;
                if (r == VR_REWRITE_CHANGED)
                        *ret_stdout = g_steal_pointer(&out);
                return 0;
        }
        r = hook_open(req, &h, error);
        if (r <= 0)
                return r;
        vr_log(LOG_DEBUG, "domain '%s': %s %s", h.policy->dom.name, req->op, req->subop ? req->subop : "");
        if (g_str_equal(req->op, "prepare"))
                return op_prepare(&h, error) ? 0 : -1;
        if (g_str_equal(req->op, "start"))
                return op_start(&h, error) ? 0 : -1;
        if (g_str_equal(req->op, "started"))
                return op_started(&h, false, error) ? 0 : -1;
        if (g_str_equal(req->op, "reconnect"))
                return op_started(&h, true, error) ? 0 : -1;
        if (g_str_equal(req->op, "stopped")) {
                op_stopped(&h);
                return 0;
        }
        if (g_str_equal(req->op, "release")) {
                op_release(&h);
                return 0;
        }
        return 0; /* an operation of a newer libvirt: nothing to do */
}
