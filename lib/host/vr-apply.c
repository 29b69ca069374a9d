#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr-apply.h"
#include "vr-error.h"
#include "vr-hostops.h"
#include "vr-sched.h"
#include "vr-sysfs.h"

unsigned vr_apply_cgroup_writes(const char *root, const VrTunePlan *plan, GPtrArray *errors) {
        unsigned failures = 0;

        for (guint i = 0; i < plan->writes->len; i++) {
                const VrCgroupWrite *w = plan->writes->pdata[i];
                int r;
                if (w->mkdir) {
                        g_autofree char *dir = g_path_get_dirname(w->file);
                        g_autofree char *abs = vr_root_path(root, "%s", dir);
                        if (mkdir(abs, 0755) < 0 && errno != EEXIST) {
                                g_ptr_array_add(errors, g_strdup_printf("cannot create cgroup %s: %s", abs, g_strerror(errno)));
                                failures++;
                                continue;
                        }
                }
                r = vr_write_file(root, w->file, w->value);
                if (r < 0) {
                        g_ptr_array_add(errors, g_strdup_printf("cannot write %s to /%s: %s%s", w->value, w->file, g_strerror(-r),
                                                                r == -EINVAL && g_str_has_suffix(w->file, "rt_runtime_us")
                                                                        ? " (the parent group's or siblings' real-time budget does not leave that much)"
                                                                        : ""));
                        failures++;
                }
        }
        return failures;
}

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
                                       geteuid() != 0 ? "needs root (CAP_SYS_NICE)"
                                                      : "its CPU affinity is narrower than its root domain, or it is in a cgroup with a narrower cpuset");
        if ((a->cls == VR_SCHED_FIFO || a->cls == VR_SCHED_RR) && r == -EPERM)
                return g_strdup_printf("%s (tid %d): %s refused: %s", a->role, (int) a->tid,
                                       a->cls == VR_SCHED_FIFO ? "SCHED_FIFO" : "SCHED_RR",
                                       geteuid() != 0 ? "needs root (CAP_SYS_NICE)"
                                                      : "its cpu cgroup has no real-time budget (cpu.rt_runtime_us is 0)");
        return g_strdup_printf("%s (tid %d): %s: %s", a->role, (int) a->tid, what, why);
}

/* Move the thread into a v1 cgroup (its tasks file takes one thread id). */
static int move_task(const char *root, const char *mount, const char *group, const VrTuneAction *a,
                     const char *what, char **ret_error) {
        g_autofree char *tasks = g_strdup_printf("%s%s/tasks", mount, group);
        g_autofree char *tid = g_strdup_printf("%d", (int) a->tid);
        int r = vr_write_file(root, tasks[0] == '/' ? tasks + 1 : tasks, tid);

        if (r < 0)
                *ret_error = g_strdup_printf("%s (tid %d): cannot move into %s %s: %s", a->role, (int) a->tid,
                                             what, group, g_strerror(-r));
        return r;
}

/* The kernel's refusal as the error: what it refused and the likely cause. */
static int refused(GError **error, char *why, int r) {
        g_autofree char *owned = why;
        g_set_error_literal(error, VR_ERROR, VR_ERROR_HOST, why);
        return r;
}

int vr_apply_action(const VrHostOps *ops, const char *root, const VrTuneHost *host, const VrTuneAction *a,
                    GError **error) {
        bool to_deadline = a->set_sched && a->cls == VR_SCHED_DEADLINE;
        char *msg = NULL;
        int r;

        ops = vr_host_ops_or_real(ops);
        if (a->error)
                return refused(error, g_strdup(a->error), -EINVAL);
        /* Into the partition first: its CPUs are the thread's root domain. */
        if (a->move_cpuset && host->cpuset_mount &&
            (r = move_task(root, host->cpuset_mount, a->move_cpuset, a, "cpuset partition", &msg)) < 0)
                return refused(error, msg, r);
        /* Into the RT group before becoming RT: a group without budget refuses it. */
        if (a->move_to && host->cpu_mount &&
            (r = move_task(root, host->cpu_mount, a->move_to, a, "cpu cgroup", &msg)) < 0)
                return refused(error, msg, r);
        /* A deadline thread's affinity must already span its root domain when the
         * class is set; leaving deadline, the class must go before a narrower pin. */
        if (to_deadline && a->affinity && (r = ops->set_affinity(ops, a->tid, a->affinity)) < 0)
                return refused(error, explain(host, a, "affinity", r), r);
        if (a->set_sched && (r = set_sched(ops, a)) < 0)
                return refused(error, explain(host, a, "scheduling class", r), r);
        if (!to_deadline && a->affinity && (r = ops->set_affinity(ops, a->tid, a->affinity)) < 0)
                return refused(error, explain(host, a, "affinity", r), r);
        return 0;
}
