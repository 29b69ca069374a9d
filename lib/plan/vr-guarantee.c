#include "config.h"

#include <math.h>
#include <stdarg.h>

#include "vr-error.h"
#include "vr-guarantee.h"

/* vhost workers: one per queue pair of each macvtap port; libvirt gives vhost-net to
 * KVM domains only, and not to ports with backend='qemu'. */
static unsigned count_vhosts(const VrPolicy *p) {
        unsigned vhosts = 0;

        for (guint i = 0; i < p->ports->len; i++) {
                const VrPort *port = p->ports->pdata[i];
                if (port->mode == VR_PORT_MACVTAP && port->backend != VR_BACKEND_QEMU &&
                    p->dom.type == VR_DOMAIN_KVM)
                        vhosts += (unsigned) MAX(port->queues, 1);
        }
        return vhosts;
}

/* Which threads hold derived reservations: those of the deadline rules without
 * runtime. Without vhost (TCG, backend='qemu') QEMU's main thread is the virtio
 * backend. */
static void count_threads(const VrPolicy *p, unsigned *vcpus, unsigned *backends, bool *backend_stage) {
        guint mask = 0;
        unsigned vhosts = count_vhosts(p);
        bool has_backend = false;

        for (guint i = 0; i < p->sched->len; i++) {
                const VrSchedRule *r = p->sched->pdata[i];
                if (r->cls == VR_SCHED_DEADLINE && r->derive)
                        mask |= r->threads;
        }
        for (guint i = 0; i < p->ports->len; i++)
                has_backend |= ((const VrPort *) p->ports->pdata[i])->mode == VR_PORT_MACVTAP;
        *vcpus = (mask & VR_THREAD_VCPU) ? p->dom.vcpus : 0;
        *backends = ((mask & VR_THREAD_VHOST) ? vhosts : 0) + ((mask & VR_THREAD_EMULATOR) ? 1 : 0);
        /* A path through VFs only has no backend stage: the NIC writes to the guest. */
        *backend_stage = *backends > 0 && has_backend;
        if (!has_backend)
                *backends = 0;
}

static uint64_t pow2_at_least(uint64_t v) {
        uint64_t r = 1;
        while (r < v)
                r <<= 1;
        return r;
}

/* Millionths of a CPU a thread needs: idle use plus the rate times the measured cost,
 * with the margin on top of the traffic part. */
static double util_needed(uint64_t rate, uint64_t cost_ns, uint32_t idle_ppm, uint32_t margin_ppm) {
        return idle_ppm / 1e6 + (double) rate * (double) cost_ns / 1e9 * (1.0 + margin_ppm / 1e6);
}

void vr_guarantee_problem_free(VrGuaranteeProblem *pr) {
        if (!pr)
                return;
        g_free(pr->message);
        g_free(pr);
}

static void add_problem(GPtrArray *problems, const char *attr, const char *fmt, ...) _printf_(3, 4);
static void add_problem(GPtrArray *problems, const char *attr, const char *fmt, ...) {
        VrGuaranteeProblem *pr = g_new0(VrGuaranteeProblem, 1);
        va_list ap;

        va_start(ap, fmt);
        pr->attr = attr;
        pr->message = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_ptr_array_add(problems, pr);
}

static void check_util(const VrPolicy *p, const VrHostConf *conf, const char *what, double u,
                       uint64_t cost_ns, uint32_t idle_ppm, GPtrArray *problems) {
        if (u * 1e6 <= conf->deadline_cap_ppm)
                return;
        /* The cost and the cap are the host config's: say where, so the operator knows
         * which file to look at besides the policy. */
        g_autofree char *from = conf->path ? g_strdup_printf(" of %s", conf->path) : g_strdup(" (built in)");
        add_problem(problems, "rate",
                    "%" G_GUINT64_FORMAT " pps needs %.1f%% of a CPU for each %s thread (%.3f us per packet%s, idle %.1f%%, margin %.0f%%), more than the %.0f%% a thread may hold ([host] deadline-cap%s): lower the rate, or forward with more queues or vCPUs",
                    p->guarantee.rate_pps, u * 100, what, cost_ns / 1e3,
                    conf->cost.measured ? " by [calibration]" : " uncalibrated", idle_ppm / 1e4,
                    conf->cost.margin_ppm / 1e4, conf->deadline_cap_ppm / 1e4, from);
}

/* Seconds as milliseconds for "expected at least": rounded up to the microsecond, so
 * that the value shown, given back, is enough. */
static double ms_at_least(double s) {
        return ceil(s * 1e6 - 1e-6) / 1e3;
}

bool vr_guarantee_plan(const VrPolicy *p, const VrHostConf *conf, VrGuaranteePlan *ret, GError **error) {
        g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func((GDestroyNotify) vr_guarantee_problem_free);
        g_autoptr(GString) msg = g_string_new(NULL);

        if (vr_guarantee_plan_check(p, conf, ret, problems))
                return true;
        for (guint i = 0; i < problems->len; i++) {
                const VrGuaranteeProblem *pr = problems->pdata[i];
                g_string_append_printf(msg, "%s%s %s", i ? "; " : "", pr->attr, pr->message);
        }
        g_set_error_literal(error, VR_ERROR, VR_ERROR_INVALID, msg->str);
        return false;
}

bool vr_guarantee_plan_check(const VrPolicy *p, const VrHostConf *conf, VrGuaranteePlan *ret, GPtrArray *problems) {
        const VrGuarantee *g = &p->guarantee;
        const VrPacketCost *c = &conf->cost;
        VrGuaranteePlan r = {0};
        double rate = (double) g->rate_pps, D = g->delay_ns / 1e9, tick = c->tick_ns / 1e9;
        double uv, ub, A, T, lead, p_burst = 0, p_delay, P, bo_v = 0, bo_b = 0;
        double pmin = VR_DL_MIN_PERIOD_NS / 1e9;
        uint64_t least, need;
        unsigned stages;
        guint before = problems->len;

        g_return_val_if_fail(g->set && g->rate_pps > 0 && g->delay_ns > 0, false);
        r.calibrated = c->measured;
        count_threads(p, &r.vcpu.threads, &r.backend.threads, &r.backend.reserved);
        r.vcpu.reserved = r.vcpu.threads > 0;
        uv = util_needed(g->rate_pps, c->vcpu_ns, c->vcpu_idle_ppm, c->margin_ppm);
        ub = util_needed(g->rate_pps, c->backend_ns, c->backend_idle_ppm, c->margin_ppm);
        if (r.vcpu.reserved)
                check_util(p, conf, "vCPU", uv, c->vcpu_ns, c->vcpu_idle_ppm, problems);
        if (r.backend.reserved)
                check_util(p, conf, "backend (vhost or QEMU main)", ub, c->backend_ns, c->backend_idle_ppm, problems);
        /* The burst and delay bounds below follow from the share of a CPU the threads
         * hold: there is none to judge them by while the rate cannot be had. */
        if (problems->len > before)
                return false;

        /* A packet waits for the backend on the way in, the vCPU, and the backend on
         * the way out. A reserved thread that has work waits at most 2(P - Q) for CPU,
         * plus one tick by which another task may overrun its budget: the sum over
         * the stages, S(P) = A P + T, is what the router adds to delay and, times the
         * rate, to burstiness. */
        A = 2.0 * ((r.backend.reserved ? 2.0 * (1.0 - ub) : 0) + (r.vcpu.reserved ? 1.0 - uv : 0));
        stages = (r.backend.reserved ? 2 : 0) + (r.vcpu.reserved ? 1 : 0);
        T = tick * stages;
        /* What the scheduler adds at the shortest period, and so the least burst whose
         * half holds what it bunches up. */
        lead = T + A * pmin;
        least = A > 0 ? (uint64_t) ceil(2 * rate * lead) : 1;

        /* Burst when the policy gives none: what lets the period be 10 ms (few switches),
         * or, when the delay bound is too tight for that, the most it leaves room for. */
        r.burst = g->burst;
        if (!r.burst)
                r.burst = (uint64_t) MAX(1.0, floor(MIN(ceil(2 * rate * (T + A * 0.01)), rate * (D - T - A * pmin))));
        if (g->burst && A > 0 && (r.burst / (2.0 * rate) - T) / A < pmin)
                add_problem(problems, "burst",
                            "cannot be kept: at %" G_GUINT64_FORMAT " pps the scheduler bunches up to %.0f packets (tick %.3f ms, period at least %.0f ms), and that must stay within half the burst: expected burst of at least %" G_GUINT64_FORMAT " packets",
                            g->rate_pps, rate * lead, tick * 1e3, pmin * 1e3, least);
        /* The delay is judged with the burst the scheduler needs where the one given is
         * smaller, so that the two values asked for go together. */
        need = MAX(r.burst, least);
        if (T == 0 && rate * D <= r.burst)
                add_problem(problems, "delay",
                            "cannot be kept: draining a burst of %" G_GUINT64_FORMAT " packets at %" G_GUINT64_FORMAT " pps takes %.3f ms: expected delay above %.3f ms, or a smaller burst",
                            r.burst, g->rate_pps, r.burst / rate * 1e3, r.burst / rate * 1e3);
        else if (T > 0 && (A > 0 ? (D - need / rate - T) / A < pmin : rate * D <= r.burst + rate * T)) {
                g_autofree char *burst = NULL;
                if (g->burst)
                        burst = g_strdup_printf("a burst of %" G_GUINT64_FORMAT " packets%s drains in %.3f ms at %" G_GUINT64_FORMAT " pps",
                                                need, need > r.burst ? " (the least the scheduler allows)" : "",
                                                need / rate * 1e3, g->rate_pps);
                else
                        burst = g_strdup_printf("with no burst given, the burst is the least the scheduler allows, %" G_GUINT64_FORMAT " packets (at %" G_GUINT64_FORMAT " pps it bunches up to %.0f, which must stay within half the burst); it drains in %.3f ms",
                                                need, g->rate_pps, rate * lead, need / rate * 1e3);
                add_problem(problems, "delay",
                            "cannot be kept: %s, and the scheduler adds up to %.3f ms (tick %.3f ms x %u stages%s): expected delay of at least %.3f ms",
                            burst, lead * 1e3, tick * 1e3, stages, A > 0 ? ", period at least 1 ms" : "",
                            ms_at_least(need / rate + lead));
        }
        if (problems->len > before)
                return false;
        if (A > 0) {
                /* Jitter at most half the burst, so traffic within (rate, burst/2) passes
                 * the policer and shaper whole, and the output keeps within (rate, burst). */
                p_burst = (r.burst / (2.0 * rate) - T) / A;
                p_delay = (D - r.burst / rate - T) / A;
                P = MIN(p_burst, p_delay);
                r.period_by = p_burst <= p_delay ? "burst" : "delay";
                if (P > VR_DL_MAX_PERIOD_NS / 1e9) {
                        P = VR_DL_MAX_PERIOD_NS / 1e9;
                        r.period_by = "maximum";
                }
                /* Round down to 100 us: readable numbers, still within both bounds (checked
                 * above to leave at least the shortest period, which MAX keeps to). */
                r.period_ns = MAX((uint64_t) floor(P * 1e4) * 100000, VR_DL_MIN_PERIOD_NS);
                P = r.period_ns / 1e9;
                if (r.vcpu.reserved) {
                        r.vcpu.runtime_ns = MAX((uint64_t) ceil(uv * r.period_ns), VR_DL_MIN_RUNTIME_NS);
                        r.vcpu.util_ppm = (uint32_t) (r.vcpu.runtime_ns * 1000000 / r.period_ns);
                        bo_v = 2.0 * (P - r.vcpu.runtime_ns / 1e9) + tick;
                        r.vcpu.blackout_ns = (uint64_t) llround(bo_v * 1e9);
                }
                if (r.backend.reserved) {
                        r.backend.runtime_ns = MAX((uint64_t) ceil(ub * r.period_ns), VR_DL_MIN_RUNTIME_NS);
                        r.backend.util_ppm = (uint32_t) (r.backend.runtime_ns * 1000000 / r.period_ns);
                        bo_b = 2.0 * (P - r.backend.runtime_ns / 1e9) + tick;
                        r.backend.blackout_ns = (uint64_t) llround(bo_b * 1e9);
                }
                r.total_ppm = r.vcpu.threads * r.vcpu.util_ppm + r.backend.threads * r.backend.util_ppm;
        } else {
                r.period_by = "none";
        }
        r.jitter = (uint64_t) ceil(rate * (2 * bo_b + bo_v));
        r.worst_delay_ns = (uint64_t) llround((r.burst / rate + 2 * bo_b + bo_v) * 1e9);
        /* Queues hold what may wait within the bound: a burst plus what arrives while
         * the thread that empties them waits for CPU. */
        r.host_queue = (uint64_t) ceil(r.burst + rate * bo_b);
        r.guest_ring = (int) CLAMP(pow2_at_least((uint64_t) ceil(r.burst + rate * (bo_b + bo_v))), 256, 1024);
        /* The policer sees packets after the backend and vCPU waits: its bucket is the
         * burst. The shaper's output still passes the backend once more, so it keeps
         * the rest of the bucket free for that wait. */
        r.police_burst = r.burst;
        r.shape_burst = r.burst > (uint64_t) ceil(rate * bo_b) ? r.burst - (uint64_t) ceil(rate * bo_b) : 1;
        *ret = r;
        return true;
}

char *vr_guarantee_plan_format(const VrGuaranteePlan *g) {
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "period=%.1fms (by %s)", g->period_ns / 1e6, g->period_by);
        if (g->vcpu.reserved)
                g_string_append_printf(s, " vcpu=%ux%.1fus/%.1f%%", g->vcpu.threads, g->vcpu.runtime_ns / 1e3,
                                       g->vcpu.util_ppm / 1e4);
        if (g->backend.reserved)
                g_string_append_printf(s, " backend=%ux%.1fus/%.1f%%", g->backend.threads,
                                       g->backend.runtime_ns / 1e3, g->backend.util_ppm / 1e4);
        g_string_append_printf(s, " total=%.1f%% burst=%" G_GUINT64_FORMAT " jitter=%" G_GUINT64_FORMAT
                               " worst-delay=%.2fms host-queue=%" G_GUINT64_FORMAT " ring=%d police=%" G_GUINT64_FORMAT
                               " shape=%" G_GUINT64_FORMAT "%s",
                               g->total_ppm / 1e4, g->burst, g->jitter, g->worst_delay_ns / 1e6, g->host_queue,
                               g->guest_ring, g->police_burst, g->shape_burst, g->calibrated ? "" : " uncalibrated");
        return g_string_free(s, FALSE);
}

bool vr_deadline_demand(const VrPolicy *p, const VrHostConf *conf, GHashTable *ret, uint64_t *ret_total,
                        char **ret_why, GError **error) {
        g_autoptr(GString) why = g_string_new(NULL);
        uint64_t total = 0;
        unsigned vhosts = count_vhosts(p);
        bool derived = false;
        VrGuaranteePlan gp;

        for (guint i = 0; i < p->sched->len; i++) {
                const VrSchedRule *r = p->sched->pdata[i];
                unsigned n = 0;
                uint64_t each;
                if (r->cls != VR_SCHED_DEADLINE)
                        continue;
                if (r->derive) {
                        derived = true;
                        continue;
                }
                /* An explicit emulator rule is counted for QEMU's main thread. */
                n = ((r->threads & VR_THREAD_VCPU) ? p->dom.vcpus : 0) + ((r->threads & VR_THREAD_VHOST) ? vhosts : 0) +
                    ((r->threads & VR_THREAD_EMULATOR) ? 1 : 0);
                each = r->runtime_ns * 1000000 / r->period_ns;
                total += n * each;
                g_string_append_printf(why, "%s%u thread%s x %.1f%% (runtime %.3f ms / period %.3f ms)", why->len ? ", " : "",
                                       n, n == 1 ? "" : "s", each / 1e4, r->runtime_ns / 1e6, r->period_ns / 1e6);
        }
        if (derived) {
                if (!vr_guarantee_plan(p, conf, &gp, error)) {
                        g_prefix_error(error, "domain '%s': <vr:guarantee>: ", p->dom.name);
                        return false;
                }
                total += gp.total_ppm;
                if (gp.vcpu.reserved)
                        g_string_append_printf(why, "%s%u vCPU x %.1f%%", why->len ? ", " : "", gp.vcpu.threads,
                                               gp.vcpu.util_ppm / 1e4);
                if (gp.backend.reserved)
                        g_string_append_printf(why, "%s%u backend x %.1f%%", why->len ? ", " : "", gp.backend.threads,
                                               gp.backend.util_ppm / 1e4);
                g_string_append_printf(why, " for %" G_GUINT64_FORMAT " pps at %.3f/%.3f us per packet%s, period %.1f ms",
                                       p->guarantee.rate_pps, conf->cost.vcpu_ns / 1e3, conf->cost.backend_ns / 1e3,
                                       conf->cost.measured ? "" : " (uncalibrated)", gp.period_ns / 1e6);
        }
        if (total) {
                g_hash_table_insert(ret, g_strdup(""), GSIZE_TO_POINTER((gsize) total));
                if (p->cpus) {
                        unsigned n = vr_cpuset_count(p->cpus);
                        for (unsigned k = 0; k < n; k++)
                                g_hash_table_insert(ret, g_strdup_printf("cpu%d", vr_cpuset_nth(p->cpus, k)),
                                                    GSIZE_TO_POINTER((gsize) ((total + n - 1) / n)));
                }
        }
        *ret_total = total;
        if (ret_why)
                *ret_why = g_string_free(g_steal_pointer(&why), FALSE);
        return true;
}
