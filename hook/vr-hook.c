#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "vr-drift.h"
#include "vr-error.h"
#include "vr-guarantee.h"
#include "vr-hook.h"
#include "vr-incoming.h"
#include "vr-json.h"
#include "vr-launch.h"
#include "vr-ledger.h"
#include "vr-log.h"
#include "vr-netdev.h"
#include "vr-plan.h"
#include "vr-policy-xml.h"
#include "vr-proc.h"
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
} Hook;

static char *hook_state_path(const Hook *h) {
        return vr_state_path(h->state_dir, VR_STATE_HOOK, h->policy->dom.name);
}

/* ------------------------------------------------------------------------ */
/* What the domain's XML says now                                            */

typedef struct {
        char *port;
        char *target;   /* macvtap/macvlan device, start XML */
        char *guest;    /* LXC: the device's name inside the container */
        char *pci;      /* hostdev VF */
        bool managed;
        bool bandwidth; /* libvirt's <bandwidth> owns the device's qdiscs */
} LiveDevice;

static void live_device_free(gpointer p) {
        LiveDevice *d = p;
        g_free(d->port);
        g_free(d->target);
        g_free(d->guest);
        g_free(d->pci);
        g_free(d);
}

static GPtrArray *live_devices(xmlDoc *doc, const VrPolicy *p) {
        GPtrArray *out = g_ptr_array_new_with_free_func(live_device_free);
        xmlNode *devices = vr_xml_child(xmlDocGetRootElement(doc), NULL, "devices");
        g_autoptr(GHashTable) lxc_ports = g_hash_table_new(g_direct_hash, g_direct_equal); /* node -> port */

        /* A container's devices carry no alias (libvirt drops them): match by source. */
        for (guint i = 0; p->dom.type == VR_DOMAIN_LXC && i < p->ports->len; i++) {
                const VrPort *port = p->ports->pdata[i];
                xmlNode *d = vr_rewrite_find_lxc_port(devices, port, NULL, lxc_ports);
                if (d)
                        g_hash_table_insert(lxc_ports, d, (gpointer) port->name);
        }
        for (xmlNode *d = vr_xml_first(devices); d; d = vr_xml_next(d)) {
                g_autofree char *alias = vr_xml_prop(vr_xml_child(d, NULL, "alias"), "name");
                g_autofree char *managed = vr_xml_prop(d, "managed");
                xmlNode *addr = vr_xml_child(vr_xml_child(d, NULL, "source"), NULL, "address");
                const char *lxc_port = g_hash_table_lookup(lxc_ports, d);
                LiveDevice *ld;
                if (!lxc_port && (!alias || !g_str_has_prefix(alias, VR_ALIAS_PREFIX)))
                        continue;
                ld = g_new0(LiveDevice, 1);
                ld->port = g_strdup(lxc_port ? lxc_port : alias + strlen(VR_ALIAS_PREFIX));
                ld->target = vr_xml_prop(vr_xml_child(d, NULL, "target"), "dev");
                if (!ld->target) /* LXC: <guest dev='eth0' actual='macvlan0'/> */
                        ld->target = vr_xml_prop(vr_xml_child(d, NULL, "guest"), "actual");
                ld->guest = vr_xml_prop(vr_xml_child(d, NULL, "guest"), "dev");
                ld->managed = g_strcmp0(managed, "no") != 0;
                ld->bandwidth = vr_xml_child(d, NULL, "bandwidth") != NULL;
                if (addr) {
                        g_autofree char *dom = vr_xml_prop(addr, "domain"), *bus = vr_xml_prop(addr, "bus");
                        g_autofree char *slot = vr_xml_prop(addr, "slot"), *fn = vr_xml_prop(addr, "function");
                        if (dom && bus && slot && fn)
                                ld->pci = g_strdup_printf("%04x:%02x:%02x.%x", (unsigned) g_ascii_strtoull(dom, NULL, 0),
                                                          (unsigned) g_ascii_strtoull(bus, NULL, 0),
                                                          (unsigned) g_ascii_strtoull(slot, NULL, 0),
                                                          (unsigned) g_ascii_strtoull(fn, NULL, 0));
                }
                g_ptr_array_add(out, ld);
        }
        return out;
}

/* ------------------------------------------------------------------------ */
/* prepare                                                                   */

static bool fail_or_degrade(const Hook *h, GError **error, GError *cause) {
        if (h->policy->mode == VR_MODE_BEST_EFFORT) {
                vr_log(LOG_WARNING, "domain '%s': %s (best-effort: starting without it)", h->policy->dom.name,
                       cause->message);
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

static bool op_prepare(Hook *h, GError **error) {
        const VrPolicy *p = h->policy;
        const char *root = h->req->root;
        g_autoptr(VrPlan) plan = NULL;
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
        if (!check_drift(h, plan, error))
                return false;
        /* Reserve. */
        ledger = vr_ledger_open(root, h->state_dir, h->req->lock_wait_ms, &local);
        if (!ledger)
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        reclaimed = vr_ledger_reclaim(ledger);
        for (guint i = 0; i < reclaimed->len; i++)
                vr_log(LOG_INFO, "ledger: reclaimed the reservations of domain '%s' (its process is gone)",
                       (char *) reclaimed->pdata[i]);
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
                        g_autofree char *m = g_strdup_printf("%s (its reservation: %s)", local->message, dl_why);
                        g_free(local->message);
                        local->message = g_steal_pointer(&m);
                        g_propagate_error(error, g_steal_pointer(&local));
                        return false;
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
        /* VFs the XML manages itself (managed='no') must be on vfio-pci before start. */
        for (guint i = 0; i < plan->ifaces->len; i++) {
                const VrPlanIface *pi = plan->ifaces->pdata[i];
                g_autoptr(GPtrArray) live = NULL;
                if (pi->kind != VR_IFACE_HOSTDEV)
                        continue;
                live = live_devices(h->doc, h->policy);
                for (guint k = 0; k < live->len; k++) {
                        LiveDevice *ld = live->pdata[k];
                        int r;
                        if (!ld->pci || ld->managed || !g_str_equal(ld->pci, pi->pci))
                                continue;
                        r = vr_pci_bind_vfio(root, ld->pci);
                        if (r < 0) {
                                vr_ledger_release(ledger, p->dom.name);
                                (void) vr_ledger_save(ledger, NULL);
                                return fail_or_degrade(h, error, g_error_new(VR_ERROR, VR_ERROR_HOST,
                                        "domain '%s': port '%s': cannot bind VF %s to vfio-pci: %s", p->dom.name,
                                        pi->port->name, ld->pci, g_strerror(-r)));
                        }
                        vr_log(LOG_INFO, "domain '%s': port '%s': VF %s bound to vfio-pci", p->dom.name, pi->port->name, ld->pci);
                }
        }
        return true;
}

/* ------------------------------------------------------------------------ */
/* start: host side of the ports, recorded so stopped/release can undo it    */

/* The guarantee's first policer, on the macvtap before the tap's queue (docs/
 * derivation.md). Optional: the guest polices too, so a host that cannot (no tc, a
 * kernel without act_police or cls_matchall, libvirt's <bandwidth> on the device) gets
 * a warning and keeps the guest's. Either all of it is installed or none. */
static bool host_police(const Hook *h, const VrPort *port, const LiveDevice *ld) {
        const VrPolicy *p = h->policy;
        g_autoptr(GPtrArray) cmds = NULL;
        g_autofree char *msg = NULL;

        if (!h->req->tc_path)
                return false;
        if (ld->bandwidth) {
                vr_log(LOG_INFO, "domain '%s': port '%s': no host policer on %s: its <bandwidth> owns the qdiscs there; the guest polices",
                       p->dom.name, port->name, ld->target);
                return false;
        }
        cmds = vr_host_police_cmds(ld->target, &p->guarantee);
        for (guint i = 0; i < cmds->len; i++) {
                int r = vr_tc_run(h->req->tc_path, cmds->pdata[i], &msg);
                if (r < 0) {
                        g_autofree char *cmd = g_strjoinv(" ", cmds->pdata[i]);
                        if (i > 0) { /* the clsact went in: take it out again */
                                g_auto(GStrv) undo = vr_host_police_undo_cmd(ld->target);
                                (void) vr_tc_run(h->req->tc_path, undo, NULL);
                        }
                        vr_log(LOG_WARNING, "domain '%s': port '%s': no host policer on %s: 'tc %s' failed: %s; the guest polices",
                               p->dom.name, port->name, ld->target, cmd, msg && *msg ? msg : g_strerror(-r));
                        return false;
                }
        }
        vr_log(LOG_INFO, "domain '%s': port '%s': host policer on %s: %" G_GUINT64_FORMAT " pps, bucket %" G_GUINT64_FORMAT
               " packets (ARP passes)", p->dom.name, port->name, ld->target, p->guarantee.rate_pps, p->guarantee.police_burst);
        return true;
}

static bool op_start(Hook *h, GError **error) {
        const VrPolicy *p = h->policy;
        const char *root = h->req->root;
        g_autoptr(GPtrArray) live = live_devices(h->doc, h->policy);
        g_autoptr(VrJson) j = vr_json_new();
        g_autofree char *path = hook_state_path(h), *text = NULL;

        vr_json_begin_object(j);
        vr_json_key(j, "txqlen");
        vr_json_begin_array(j);
        for (guint i = 0; i < live->len; i++) {
                LiveDevice *ld = live->pdata[i];
                const VrPort *port = vr_policy_port(p, ld->port);
                int old = 0, r;
                if (!port || port->mode == VR_PORT_VF || !ld->target || !port->queue)
                        continue;
                /* Paper 002: a 500-packet macvtap queue collapsed under overload; 35-50 held. */
                if (vr_netdev_get_txqlen(root, ld->target, &old) < 0)
                        continue; /* an LXC macvlan is in the container already */
                r = vr_netdev_set_txqlen(root, ld->target, port->queue);
                if (r < 0) {
                        g_autoptr(GError) e = g_error_new(VR_ERROR, VR_ERROR_HOST,
                                "domain '%s': port '%s': cannot set the queue length of %s to %d: %s", p->dom.name,
                                port->name, ld->target, port->queue, g_strerror(-r));
                        if (!fail_or_degrade(h, error, g_steal_pointer(&e)))
                                return false;
                        continue;
                }
                vr_log(LOG_INFO, "domain '%s': port '%s': %s queue %d -> %d packets", p->dom.name, port->name,
                       ld->target, old, port->queue);
                vr_json_begin_object(j);
                vr_json_key(j, "dev");
                vr_json_string(j, ld->target);
                vr_json_key(j, "old");
                vr_json_int(j, old);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_key(j, "police");
        vr_json_begin_array(j);
        for (guint i = 0; p->guarantee.set && p->dom.type != VR_DOMAIN_LXC && i < live->len; i++) {
                LiveDevice *ld = live->pdata[i];
                const VrPort *port = vr_policy_port(p, ld->port);
                if (!port || port->mode != VR_PORT_MACVTAP || !ld->target)
                        continue;
                if (host_police(h, port, ld))
                        vr_json_string(j, ld->target);
        }
        vr_json_end_array(j);
        vr_json_key(j, "vf_flags");
        vr_json_begin_array(j);
        for (guint i = 0; i < live->len; i++) {
                LiveDevice *ld = live->pdata[i];
                const VrPort *port = vr_policy_port(p, ld->port);
                g_autofree char *pf = NULL;
                int index, r;
                if (!port || port->mode != VR_PORT_VF || !ld->pci ||
                    (port->spoofchk == VR_TRI_UNSET && port->trust == VR_TRI_UNSET))
                        continue;
                if (vr_vf_pf(root, ld->pci, &pf) < 0 || vr_vf_index(root, pf, ld->pci, &index) < 0)
                        continue;
                r = g_str_equal(root, "/") ? vr_vf_set_flags(pf, index, port->spoofchk, port->trust) : 0;
                if (r < 0) {
                        g_autoptr(GError) e = g_error_new(VR_ERROR, VR_ERROR_HOST,
                                "domain '%s': port '%s': cannot set spoofchk/trust of VF %d of %s: %s", p->dom.name,
                                port->name, index, pf, g_strerror(-r));
                        if (!fail_or_degrade(h, error, g_steal_pointer(&e)))
                                return false;
                        continue;
                }
                vr_json_begin_object(j);
                vr_json_key(j, "pf");
                vr_json_string(j, pf);
                vr_json_key(j, "vf");
                vr_json_int(j, index);
                vr_json_key(j, "spoofchk");
                vr_json_int(j, port->spoofchk);
                vr_json_key(j, "trust");
                vr_json_int(j, port->trust);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_end_object(j);
        text = vr_json_finish(j);
        if (g_mkdir_with_parents(h->state_dir, 0755) < 0 || !g_file_set_contents(path, text, -1, NULL))
                vr_log(LOG_WARNING, "domain '%s': cannot record host changes in %s", p->dom.name, path);
        return true;
}

/* ------------------------------------------------------------------------ */

static pid_t domain_pid(const Hook *h) {
        return vr_libvirt_pid(h->req->root, h->driver, h->policy->dom.name);
}

static bool tuner_running(const Hook *h) {
        return vr_state_pid_alive(h->req->root, h->state_dir, VR_STATE_TUNER_PID, h->policy->dom.name, NULL);
}

/* A container's macvlans are in its network namespace by the time it runs: set the
 * queue lengths there, by their names inside (<guest dev=>). */
static void lxc_queue_lengths(Hook *h, pid_t controller) {
        g_autoptr(GPtrArray) live = live_devices(h->doc, h->policy);
        pid_t init = 0;
        g_autoptr(GArray) pids = NULL;

        if (controller <= 0 || !g_str_equal(h->req->root, "/") || vr_proc_list_pids(h->req->root, &pids) < 0)
                return;
        for (guint i = 0; i < pids->len && !init; i++) {
                VrProcStat st;
                pid_t p = g_array_index(pids, pid_t, i);
                if (vr_proc_read_stat(h->req->root, p, 0, &st) == 0 && st.ppid == controller)
                        init = p;
        }
        for (guint i = 0; init && i < live->len; i++) {
                LiveDevice *ld = live->pdata[i];
                const VrPort *port = vr_policy_port(h->policy, ld->port);
                int r;
                if (!port || port->mode == VR_PORT_VF || !ld->guest || !port->queue)
                        continue;
                r = vr_netns_set_txqlen(init, ld->guest, port->queue);
                if (r < 0)
                        vr_log(LOG_WARNING, "domain '%s': port '%s': cannot set the queue length of %s in the container: %s",
                               h->policy->dom.name, port->name, ld->guest, g_strerror(-r));
                else
                        vr_log(LOG_INFO, "domain '%s': port '%s': %s queue %d packets (in the container)",
                               h->policy->dom.name, port->name, ld->guest, port->queue);
        }
}

static bool op_started(Hook *h, bool reconnect, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(VrLedger) ledger = NULL;
        g_autofree char *spec = NULL, *spec_path = NULL;
        pid_t pid = domain_pid(h);
        VrLaunchOptions lo;

        if (h->policy->dom.type == VR_DOMAIN_LXC && !reconnect)
                lxc_queue_lengths(h, pid);
        ledger = vr_ledger_open(h->req->root, h->state_dir, h->req->lock_wait_ms, &local);
        if (ledger && pid > 0 && vr_ledger_set_pid(ledger, h->policy->dom.name, pid))
                (void) vr_ledger_save(ledger, NULL);
        g_clear_pointer(&ledger, vr_ledger_close);
        g_clear_error(&local);
        if (h->req->no_tuner || (reconnect && tuner_running(h)))
                return true;
        /* The spec from the XML libvirt just gave us: the tuner never parses XML. */
        spec = vr_tune_spec_from_doc(h->req->root, h->doc, h->policy->dom.name, pid, h->req->conf, &local);
        if (!spec)
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        spec_path = vr_state_path(h->state_dir, VR_STATE_SPEC, h->policy->dom.name);
        if (!vr_state_write(h->state_dir, VR_STATE_SPEC, h->policy->dom.name, spec, &local))
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        lo = (VrLaunchOptions){.tune_path = h->req->tune_path, .domain = h->policy->dom.name,
                               .config = h->req->conf->path, .state_dir = h->state_dir, .spec = spec_path};
        if (vr_tuner_launch(&lo, &local) < 0)
                return fail_or_degrade(h, error, g_steal_pointer(&local));
        vr_log(LOG_INFO, "domain '%s': %s: tuner started", h->policy->dom.name, reconnect ? "reconnect" : "started");
        return true;
}

static void undo_host_changes(Hook *h) {
        g_autofree char *path = hook_state_path(h), *text = NULL;
        g_autoptr(VrJsonNode) st = NULL;
        const VrJsonNode *vfs, *pol;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(st = vr_json_parse(text, NULL)))
                return;
        /* A macvtap goes with the domain and takes its policer along; one that is
         * still there (start failed after us, libvirt keeps it a moment) loses it. */
        pol = vr_json_member(st, "police");
        for (guint i = 0; h->req->tc_path && pol && pol->type == VR_JSON_ARRAY && i < pol->items->len; i++) {
                const VrJsonNode *d = pol->items->pdata[i];
                g_autofree char *sys = NULL;
                if (d->type != VR_JSON_STRING)
                        continue;
                sys = vr_root_path(h->req->root, "sys/class/net/%s", d->string);
                if (g_file_test(sys, G_FILE_TEST_EXISTS)) {
                        g_auto(GStrv) undo = vr_host_police_undo_cmd(d->string);
                        (void) vr_tc_run(h->req->tc_path, undo, NULL);
                }
        }
        /* VF flags stay on the PF: back to the kernel's defaults (spoof checking on,
         * not trusted). */
        vfs = vr_json_member(st, "vf_flags");
        for (guint i = 0; vfs && vfs->type == VR_JSON_ARRAY && i < vfs->items->len; i++) {
                const VrJsonNode *v = vfs->items->pdata[i];
                const char *pf = vr_json_member_string(v, "pf");
                int vf = (int) vr_json_member_int(v, "vf", -1);
                int r = pf && vf >= 0 && g_str_equal(h->req->root, "/") ? vr_vf_set_flags(pf, vf, 1, 0) : 0;
                if (r < 0)
                        vr_log(LOG_WARNING, "domain '%s': cannot restore VF %d of %s: %s", h->policy->dom.name, vf, pf, g_strerror(-r));
        }
        (void) unlink(path);
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

int vr_hook_run(const VrHookRequest *req, char **ret_stdout, GError **error) {
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(VrPolicy) policy = NULL;
        const char *what;
        Hook h = {req, req->state_dir ? req->state_dir : req->conf->state_dir, NULL, NULL, "qemu"};
        int r;

        *ret_stdout = NULL;
        /* The common case costs nothing: no policy in the XML and no rule that could
         * bind the domain to a profile. */
        if (!g_strstr_len(req->xml, (gssize) req->xml_len, VR_NS_PREFIX) && req->conf->rules->len == 0)
                return 0;
        if (g_str_equal(req->op, "attach"))
                return 0;
        if (g_str_equal(req->op, "migrate") || g_str_equal(req->op, "restore")) {
                /* A filter: only what belongs to this host changes (vr-incoming.h); nothing
                 * is printed when the domain is right for this host as it is. */
                VrRewriteOptions ao = {req->conf, req->root, req->domain};
                g_autofree char *out = NULL;
                size_t len = 0;
                r = vr_rewrite_incoming(req->xml, req->xml_len, &ao, &out, &len, error);
                if (r < 0)
                        return -1;
                if (r == VR_REWRITE_CHANGED)
                        *ret_stdout = g_steal_pointer(&out);
                return 0;
        }
        what = req->domain ? req->domain : "<stdin>";
        doc = vr_xml_parse(req->xml, req->xml_len, what, error);
        if (!doc)
                return -1;
        r = vr_policy_parse(doc, what, req->conf, &policy, error);
        if (r < 0)
                return -1;
        if (r == 0)
                return 0;
        h.doc = doc;
        h.policy = policy;
        h.driver = policy->dom.type == VR_DOMAIN_LXC ? "lxc" : "qemu";
        vr_log(LOG_DEBUG, "domain '%s': %s %s", policy->dom.name, req->op, req->subop ? req->subop : "");
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
