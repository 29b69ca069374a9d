#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr-apply.h"
#include "vr-cgroup.h"
#include "vr-error.h"
#include "vr-hostops.h"
#include "vr-sched.h"
#include "vr-sysfs.h"
#include "vr-units.h"

static int set_sched(const VrHostOps *ops, const VrTuneAction *a) {
        struct vr_sched_attr attr = {0};

        switch (a->cls) {
        case VR_SCHED_FIFO: attr.sched_policy = SCHED_FIFO; attr.sched_priority = (uint32_t) a->priority; break;
        case VR_SCHED_RR: attr.sched_policy = SCHED_RR; attr.sched_priority = (uint32_t) a->priority; break;
        case VR_SCHED_BATCH: attr.sched_policy = SCHED_BATCH; attr.sched_nice = a->nice; break;
        case VR_SCHED_IDLE: attr.sched_policy = SCHED_IDLE; break;
        case VR_SCHED_DEADLINE:
                attr.sched_policy = SCHED_DEADLINE;
                attr.sched_runtime = a->runtime_ns;
                attr.sched_deadline = a->deadline_ns;
                attr.sched_period = a->period_ns;
                break;
        case VR_SCHED_OTHER:
        default: attr.sched_policy = SCHED_OTHER; attr.sched_nice = a->nice; break;
        }
        return ops->sched_setattr(ops, a->tid, &attr);
}

static char *explain(const VrTuneHost *host, const VrTuneAction *a, const char *what, int r) {
        g_autofree char *cpus = a->affinity ? vr_cpuset_format(a->affinity) : g_strdup("unchanged");
        const char *why = g_strerror(-r);

        if (r == -ESRCH)
                return g_strdup_printf("%s (tid %d): %s: the thread has exited", a->role, (int) a->tid, what);
        if (g_str_equal(what, "affinity") && r == -EINVAL)
                return g_strdup_printf("%s (tid %d): CPUs %s: none of them is online or allowed by the thread's cpuset", a->role, (int) a->tid, cpus);
        if (g_str_equal(what, "affinity") && r == -EBUSY)
                return g_strdup_printf("%s (tid %d): CPUs %s: a deadline thread cannot be pinned to fewer CPUs than its root domain", a->role, (int) a->tid, cpus);
        if (a->cls == VR_SCHED_DEADLINE && r == -EBUSY) {
                return g_strdup_printf("%s (tid %d): SCHED_DEADLINE runtime %" G_GUINT64_FORMAT "us / period %" G_GUINT64_FORMAT "us (%.1f%% of a CPU) refused: not enough deadline bandwidth left in the root domain (deadline tasks may use %" G_GUINT64_FORMAT "us per %" G_GUINT64_FORMAT "us of each CPU)",
                                       a->role, (int) a->tid, a->runtime_ns / 1000, a->period_ns / 1000,
                                       100.0 * (double) a->runtime_ns / (double) a->period_ns,
                                       host->rt_runtime_us, host->rt_period_us);
        }
        if (a->cls == VR_SCHED_DEADLINE && r == -EPERM)
                return g_strdup_printf("%s (tid %d): SCHED_DEADLINE refused: %s", a->role, (int) a->tid,
                                       !host->cap_sys_nice ? "needs root (CAP_SYS_NICE)"
                                                      : "its CPU affinity is narrower than its root domain, or it is in a cgroup with a narrower cpuset");
        if ((a->cls == VR_SCHED_FIFO || a->cls == VR_SCHED_RR) && r == -EPERM)
                return g_strdup_printf("%s (tid %d): %s refused: %s", a->role, (int) a->tid,
                                       a->cls == VR_SCHED_FIFO ? "SCHED_FIFO" : "SCHED_RR",
                                       !host->cap_sys_nice ? "needs root (CAP_SYS_NICE)"
                                                      : "its cpu cgroup has no real-time budget (cpu.rt_runtime_us is 0)");
        return g_strdup_printf("%s (tid %d): %s: %s", a->role, (int) a->tid, what, why);
}

/* Move the thread into a group of controller C (lib/host/vr-cgroup: v1 tasks, v2
 * cgroup.threads), the error said for this thread. */
static int move_task(const VrHostOps *ops, const char *root, const VrTuneHost *host, VrCgroupController c,
                     const char *group, const VrTuneAction *a, GError **error) {
        int r = vr_cgroup_move_thread(ops, root, &host->cgroups, c, group, a->tid, error);

        if (r < 0)
                g_prefix_error(error, "%s (tid %d): ", a->role, (int) a->tid);
        return r;
}

/* The kernel's refusal as the error: what it refused and the likely cause. */
static int refused(GError **error, char *why, int r) {
        g_autofree char *owned = why;
        g_set_error_literal(error, VR_ERROR, VR_ERROR_HOST, why);
        return r;
}

/* Whether the thread's cpu group (where it was when planned) gives real-time budget,
 * so that the kernel lets it become FIFO/RR there (CONFIG_RT_GROUP_SCHED refuses an RT
 * class in a group whose cpu.rt_runtime_us is 0, as libvirt's are). Unknown: no. */
static bool rt_budget_where_it_is(const char *root, const VrTuneHost *host, const VrTuneAction *a) {
        const VrCgroupBackend *cpu = host->cgroups.backend[VR_CGROUP_CPU];
        g_autofree char *file = NULL, *value = NULL;
        int64_t us;

        if (!host->rt_group_sched)
                return true;
        if (!a->cgroup || !cpu || !cpu->rt_runtime_file)
                return false;
        file = vr_cgroup_path(&host->cgroups, VR_CGROUP_CPU, a->cgroup, cpu->rt_runtime_file);
        return vr_read_line(root, file, &value) == 0 && vr_parse_int(value, -1, G_MAXINT64, &us) == 0 && us > 0;
}

/* The order of a thread's changes. Affinity and class come first, the cgroup moves
 * last: on cgroup v1 a move of a thread waits for an RCU grace period when no other
 * move happened just before (the threadgroup rwsem's writer side), milliseconds that
 * would otherwise delay the part that matters. A move comes first only where the class
 * needs it:
 *   - a deadline thread's partition (cpuset) is its root domain: its affinity must
 *     span that when the class is set, and its current cpuset may not allow the CPUs;
 *   - a FIFO/RR thread in a group without real-time budget (libvirt's) is refused the
 *     class there (EPERM): it joins the RT group first. Where it is has budget (the
 *     root group, or no RT group scheduling), it becomes RT where it is and then moves:
 *     the RT group has budget too, so the kernel lets an RT thread in.
 * A deadline thread's affinity must already span its root domain when the class is
 * set; leaving deadline, the class must go before a narrower pin. */
int vr_apply_action(const VrHostOps *ops, const char *root, const VrTuneHost *host, const VrTuneAction *a,
                    GError **error) {
        bool to_deadline = a->set_sched && a->cls == VR_SCHED_DEADLINE;
        bool to_rt = a->set_sched && (a->cls == VR_SCHED_FIFO || a->cls == VR_SCHED_RR);
        bool move = a->move_to && host->cgroups.backend[VR_CGROUP_CPU];
        int r;

        ops = vr_host_ops_or_real(ops);
        if (a->error)
                return refused(error, g_strdup(a->error), -EINVAL);
        if (a->move_cpuset && host->cgroups.backend[VR_CGROUP_CPUSET] &&
            (r = move_task(ops, root, host, VR_CGROUP_CPUSET, a->move_cpuset, a, error)) < 0)
                return r;
        if (move && to_rt && !rt_budget_where_it_is(root, host, a)) {
                if ((r = move_task(ops, root, host, VR_CGROUP_CPU, a->move_to, a, error)) < 0)
                        return r;
                move = false;
        }
        if (to_deadline && a->affinity && (r = ops->set_affinity(ops, a->tid, a->affinity)) < 0)
                return refused(error, explain(host, a, "affinity", r), r);
        r = a->set_sched ? set_sched(ops, a) : 0;
        if (r == -EPERM && move && to_rt) {
                /* The group had budget when read, but not now (the thread was moved
                 * meanwhile): into the RT group, and once more. */
                if ((r = move_task(ops, root, host, VR_CGROUP_CPU, a->move_to, a, error)) < 0)
                        return r;
                move = false;
                r = set_sched(ops, a);
        }
        if (r < 0)
                return refused(error, explain(host, a, "scheduling class", r), r);
        if (!to_deadline && a->affinity && (r = ops->set_affinity(ops, a->tid, a->affinity)) < 0)
                return refused(error, explain(host, a, "affinity", r), r);
        if (move && (r = move_task(ops, root, host, VR_CGROUP_CPU, a->move_to, a, error)) < 0)
                return r;
        return 0;
}
