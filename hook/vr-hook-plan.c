#include "config.h"

#include <string.h>

#include "vr-error.h"
#include "vr-hook-plan.h"
#include "vr-json.h"

void vr_hook_device_free(VrHookDevice *d) {
        if (!d)
                return;
        g_free(d->port);
        g_free(d->target);
        g_free(d->guest);
        g_free(d->pci);
        g_free(d->pf);
        g_free(d->driver);
        g_free(d);
}

void vr_hook_step_free(VrHookStep *s) {
        if (!s)
                return;
        g_free(s->port);
        vr_host_op_free(s->op);
        vr_host_op_free(s->undo);
        g_free(s->undo_if);
        g_free(s->what);
        g_free(s->consequence);
        g_free(s->done);
        g_free(s);
}

VrHookPlan *vr_hook_plan_new(void) {
        VrHookPlan *plan = g_new0(VrHookPlan, 1);
        plan->steps = g_ptr_array_new_with_free_func((GDestroyNotify) vr_hook_step_free);
        plan->notes = g_ptr_array_new_with_free_func(g_free);
        return plan;
}

void vr_hook_plan_free(VrHookPlan *plan) {
        if (!plan)
                return;
        g_ptr_array_unref(plan->steps);
        g_ptr_array_unref(plan->notes);
        g_free(plan);
}

static VrHookStep *add_step(VrHookPlan *plan, const char *port, VrHostOp *op, VrStepNeed need, unsigned group) {
        VrHookStep *s = g_new0(VrHookStep, 1);
        s->port = g_strdup(port);
        s->op = op;
        s->need = need;
        s->group = group;
        g_ptr_array_add(plan->steps, s);
        return s;
}

static void note(VrHookPlan *plan, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void note(VrHookPlan *plan, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        g_ptr_array_add(plan->notes, g_strdup_vprintf(fmt, ap));
        va_end(ap);
}

/* VFs the XML manages itself (managed='no') must be on vfio-pci before start. No undo:
 * binding them is what the admin's managed='no' asks for, and libvirt never gives them
 * back to their driver either. */
static void plan_prepare(const VrHookPlanInput *in, VrHookPlan *plan) {
        const VrPolicy *p = in->policy;
        unsigned group = 0;

        for (guint i = 0; i < in->devices->len; i++) {
                const VrHookDevice *d = in->devices->pdata[i];
                g_autofree char *override = NULL, *unbind = NULL;
                VrHookStep *s;
                if (!d->pci || d->managed || !in->vfio_vfs || !g_strv_contains(in->vfio_vfs, d->pci))
                        continue;
                if (g_strcmp0(d->driver, "vfio-pci") == 0) {
                        note(plan, "domain '%s': port '%s': VF %s bound to vfio-pci", p->dom.name, d->port, d->pci);
                        continue;
                }
                group++;
                override = g_strdup_printf("sys/bus/pci/devices/%s/driver_override", d->pci);
                unbind = g_strdup_printf("sys/bus/pci/devices/%s/driver/unbind", d->pci);
                s = add_step(plan, d->port, vr_host_op_write(override, "vfio-pci"), VR_STEP_REQUIRED, group);
                if (d->driver)
                        s = add_step(plan, d->port, vr_host_op_write(unbind, d->pci), VR_STEP_REQUIRED, group);
                s = add_step(plan, d->port, vr_host_op_write("sys/bus/pci/drivers_probe", d->pci), VR_STEP_REQUIRED,
                             group);
                s->done = g_strdup_printf("VF %s bound to vfio-pci", d->pci);
                for (guint k = 0; k < plan->steps->len; k++) {
                        VrHookStep *g = plan->steps->pdata[k];
                        if (g->group == group)
                                g->what = g_strdup_printf("cannot bind VF %s to vfio-pci", d->pci);
                }
        }
}

/* The guarantee's first policer, on the macvtap before the tap's queue (docs/
 * derivation.md): a clsact polices what comes in at the guaranteed rate with bucket
 * police_burst, so a router offered more than its profile costs its backend thread no
 * more than its reservation covers; ARP passes unpoliced, so neighbour resolution does
 * not starve. Optional: the guest polices too, so a host that cannot (a kernel without
 * act_police or cls_matchall) gets a warning and keeps the guest's. All or none:
 * deleting the clsact deletes its filters. */
static void plan_police(const VrPolicy *p, const VrHookDevice *d, unsigned group, VrHookPlan *plan) {
        const VrGuarantee *g = &p->guarantee;
        g_autofree char *sys = g_strdup_printf("sys/class/net/%s", d->target);
        VrHookStep *steps[3];
        VrHostOp *ops[] = {
                vr_host_op_tc("qdisc add dev %s clsact", d->target),
                vr_host_op_tc("filter add dev %s ingress pref 1 protocol arp matchall action ok", d->target),
                vr_host_op_tc("filter add dev %s ingress pref 2 protocol all matchall action police pkts_rate %"
                              G_GUINT64_FORMAT " pkts_burst %" G_GUINT64_FORMAT " conform-exceed drop/ok",
                              d->target, g->rate_pps, g->police_burst),
        };

        for (unsigned k = 0; k < G_N_ELEMENTS(ops); k++)
                steps[k] = add_step(plan, d->port, ops[k], VR_STEP_OPTIONAL, group);
        /* A macvtap goes with the domain and takes its policer along; one still there
         * when the domain stops (start failed after us, libvirt keeps it a moment)
         * loses it. */
        steps[0]->undo = vr_host_op_tc("qdisc del dev %s clsact", d->target);
        steps[0]->undo_if = g_strdup(sys);
        steps[0]->undo_at_stop = true;
        for (unsigned k = 0; k < G_N_ELEMENTS(steps); k++) {
                steps[k]->what = g_strdup_printf("no host policer on %s", d->target);
                steps[k]->consequence = g_strdup("the guest polices");
        }
        steps[2]->done = g_strdup_printf("host policer on %s: %" G_GUINT64_FORMAT " pps, bucket %" G_GUINT64_FORMAT
                                         " packets (ARP passes)", d->target, g->rate_pps, g->police_burst);
}

static void plan_start(const VrHookPlanInput *in, VrHookPlan *plan) {
        const VrPolicy *p = in->policy;
        unsigned group = 0;

        for (guint i = 0; i < in->devices->len; i++) {
                const VrHookDevice *d = in->devices->pdata[i];
                const VrPort *port = vr_policy_port(p, d->port);
                g_autofree char *attr = NULL, *qlen = NULL, *old = NULL;
                VrHookStep *s;
                /* An LXC macvlan is in the container already (no txqlen here): started
                 * sets it there. */
                if (!port || port->mode == VR_PORT_VF || !d->target || !port->queue || d->txqlen < 0)
                        continue;
                /* Paper 002: a 500-packet macvtap queue collapsed under overload; 35-50 held. */
                attr = g_strdup_printf("sys/class/net/%s/tx_queue_len", d->target);
                qlen = g_strdup_printf("%d", port->queue);
                old = g_strdup_printf("%d", d->txqlen);
                s = add_step(plan, d->port, vr_host_op_write(attr, qlen), VR_STEP_REQUIRED, 0);
                /* Once the domain stops, its macvtap goes: the old length matters only
                 * if start fails. */
                s->undo = vr_host_op_write(attr, old);
                s->undo_if = g_strdup_printf("sys/class/net/%s", d->target);
                s->what = g_strdup_printf("cannot set the queue length of %s to %d", d->target, port->queue);
                s->done = g_strdup_printf("%s queue %d -> %d packets", d->target, d->txqlen, port->queue);
        }
        for (guint i = 0; p->guarantee.set && p->dom.type != VR_DOMAIN_LXC && i < in->devices->len; i++) {
                const VrHookDevice *d = in->devices->pdata[i];
                const VrPort *port = vr_policy_port(p, d->port);
                if (!port || port->mode != VR_PORT_MACVTAP || !d->target || !in->tc)
                        continue;
                if (d->bandwidth) {
                        note(plan, "domain '%s': port '%s': no host policer on %s: its <bandwidth> owns the qdiscs there; the guest polices",
                             p->dom.name, d->port, d->target);
                        continue;
                }
                plan_police(p, d, ++group, plan);
        }
        for (guint i = 0; i < in->devices->len; i++) {
                const VrHookDevice *d = in->devices->pdata[i];
                const VrPort *port = vr_policy_port(p, d->port);
                VrHookStep *s;
                if (!port || port->mode != VR_PORT_VF || !d->pci || !d->pf || d->vf < 0 ||
                    (port->spoofchk == VR_TRI_UNSET && port->trust == VR_TRI_UNSET))
                        continue;
                s = add_step(plan, d->port, vr_host_op_vf_flags(d->pf, d->vf, port->spoofchk, port->trust),
                             VR_STEP_REQUIRED, 0);
                /* The flags stay on the PF after the domain: back to the kernel's
                 * defaults (spoof checking on, not trusted). */
                s->undo = vr_host_op_vf_flags(d->pf, d->vf, 1, 0);
                s->undo_at_stop = true;
                s->what = g_strdup_printf("cannot set spoofchk/trust of VF %d of %s", d->vf, d->pf);
        }
}

/* A container's macvlans are in its network namespace by the time it runs: their queue
 * lengths are set there, by their names inside (<guest dev=>). Nothing to undo: the
 * namespace goes with the container. */
static void plan_started(const VrHookPlanInput *in, VrHookPlan *plan) {
        for (guint i = 0; in->container_init > 0 && i < in->devices->len; i++) {
                const VrHookDevice *d = in->devices->pdata[i];
                const VrPort *port = vr_policy_port(in->policy, d->port);
                VrHookStep *s;
                if (!port || port->mode == VR_PORT_VF || !d->guest || !port->queue)
                        continue;
                s = add_step(plan, d->port, vr_host_op_netns_txqlen(in->container_init, d->guest, port->queue),
                             VR_STEP_OPTIONAL, 0);
                s->what = g_strdup_printf("cannot set the queue length of %s in the container", d->guest);
                s->done = g_strdup_printf("%s queue %d packets (in the container)", d->guest, port->queue);
        }
}

VrHookPlan *vr_hook_plan_build(const VrHookPlanInput *in) {
        VrHookPlan *plan = vr_hook_plan_new();

        if (g_str_equal(in->op, "prepare"))
                plan_prepare(in, plan);
        else if (g_str_equal(in->op, "start"))
                plan_start(in, plan);
        else if (g_str_equal(in->op, "started"))
                plan_started(in, plan);
        return plan;
}

VrHookPlan *vr_hook_plan_undo(GPtrArray *journal) {
        VrHookPlan *plan = vr_hook_plan_new();

        for (guint i = journal->len; i-- > 0;) {
                const VrHookStep *j = journal->pdata[i];
                g_autofree char *change = NULL;
                VrHookStep *s;
                if (!j->undo || !j->undo_at_stop)
                        continue;
                change = vr_host_op_format(j->op);
                s = add_step(plan, j->port, vr_host_op_copy(j->undo), VR_STEP_OPTIONAL, 0);
                s->undo_if = g_strdup(j->undo_if);
                s->what = g_strdup_printf("cannot undo '%s'", change);
        }
        return plan;
}

char *vr_hook_plan_format(const VrHookPlan *plan) {
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < plan->notes->len; i++)
                g_string_append_printf(s, "note: %s\n", (char *) plan->notes->pdata[i]);
        for (guint i = 0; i < plan->steps->len; i++) {
                const VrHookStep *st = plan->steps->pdata[i];
                g_autofree char *change = vr_host_op_format(st->op);
                g_string_append_printf(s, "%s: %s", st->port, change);
                if (st->need == VR_STEP_OPTIONAL)
                        g_string_append(s, " [optional]");
                if (st->group)
                        g_string_append_printf(s, " [group %u]", st->group);
                if (st->undo_if && !st->undo)
                        g_string_append_printf(s, " [if %s exists]", st->undo_if);
                if (st->undo) {
                        g_autofree char *undo = vr_host_op_format(st->undo);
                        g_autofree char *guard = st->undo_if ? g_strdup_printf("if %s exists", st->undo_if) : NULL;
                        if (!st->undo_at_stop)
                                g_string_append_printf(s, "; undo (on failure%s%s): %s", guard ? ", " : "",
                                                       guard ? guard : "", undo);
                        else if (guard)
                                g_string_append_printf(s, "; undo (%s): %s", guard, undo);
                        else
                                g_string_append_printf(s, "; undo: %s", undo);
                } else {
                        g_string_append(s, "; no undo");
                }
                g_string_append_c(s, '\n');
        }
        return g_string_free(s, FALSE);
}

char *vr_hook_journal_format(const char *domain, GPtrArray *steps) {
        g_autoptr(VrJson) j = vr_json_new();

        vr_json_begin_object(j);
        vr_json_key(j, "version");
        vr_json_int(j, 1);
        vr_json_key(j, "domain");
        vr_json_string(j, domain);
        vr_json_key(j, "steps");
        vr_json_begin_array(j);
        for (guint i = 0; i < steps->len; i++) {
                const VrHookStep *s = steps->pdata[i];
                g_autofree char *change = vr_host_op_format(s->op);
                g_autofree char *undo = s->undo ? vr_host_op_format(s->undo) : NULL;
                vr_json_begin_object(j);
                vr_json_key(j, "port");
                vr_json_string(j, s->port);
                vr_json_key(j, "change");
                vr_json_string(j, change);
                vr_json_key(j, "undo");
                vr_json_string(j, undo);
                vr_json_key(j, "undo_if");
                vr_json_string(j, s->undo_if);
                vr_json_key(j, "undo_at_stop");
                vr_json_bool(j, s->undo_at_stop);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_end_object(j);
        return vr_json_finish(j);
}

GPtrArray *vr_hook_journal_parse(const char *text, GError **error) {
        g_autoptr(VrJsonNode) root = vr_json_parse(text, error);
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify) vr_hook_step_free);
        const VrJsonNode *steps;
        int64_t version;

        if (!root)
                return NULL;
        steps = vr_json_member(root, "steps");
        if (vr_json_member_int(root, "version", 1, 1, &version) < 0 || !steps || steps->type != VR_JSON_ARRAY) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "expected a hook journal (version 1, with steps)");
                return NULL;
        }
        for (guint i = 0; i < steps->items->len; i++) {
                const VrJsonNode *n = steps->items->pdata[i];
                const char *change = vr_json_member_string(n, "change"), *undo = vr_json_member_string(n, "undo");
                g_autoptr(VrHookStep) s = g_new0(VrHookStep, 1);
                if (!change) {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "journal step %u: expected a change", i + 1);
                        return NULL;
                }
                s->port = g_strdup(vr_json_member_string(n, "port"));
                s->undo_if = g_strdup(vr_json_member_string(n, "undo_if"));
                s->undo_at_stop = vr_json_member_bool(n, "undo_at_stop", false);
                if (!(s->op = vr_host_op_parse(change, error)) || (undo && !(s->undo = vr_host_op_parse(undo, error))))
                        return NULL;
                g_ptr_array_add(out, g_steal_pointer(&s));
        }
        return g_steal_pointer(&out);
}
