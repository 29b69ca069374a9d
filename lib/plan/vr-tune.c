#include "config.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "vr-error.h"
#include "vr-guarantee.h"
#include "vr-tune.h"
#include "vr-units.h"

/* The per-packet CPU cost assumed until `virt-router calibrate` measures this host:
 * about 1 us per 64-byte packet through a vhost+virtio router (paper 002 forwarded
 * ~1 Mpps on one core with vhost at the bottleneck). */
#define DL_MIN_RUNTIME_NS 1024ULL
#define DL_MIN_PERIOD_NS 100000ULL
#define DL_MAX_PERIOD_NS 100000000ULL /* keep the delay a reservation adds small */

static const VrPartition *partition_for(const VrTuneHost *host, const VrCpuSet *cpus) {
        for (guint i = 0; host->partitions && i < host->partitions->len; i++) {
                const VrPartition *p = host->partitions->pdata[i];
                if (vr_cpuset_equal(p->cpus, cpus))
                        return p;
        }
        return NULL;
}

char *vr_domain_cgroup(const char *thread_cgroup) {
        g_autofree char *base = NULL;
        g_autofree char *dir = NULL;

        if (!thread_cgroup || g_str_equal(thread_cgroup, "/"))
                return NULL;
        base = g_path_get_basename(thread_cgroup);
        /* libvirt's per-thread groups: vcpuN, emulator, iothreadN (under "libvirt/" on v2). */
        if (!g_str_has_prefix(base, "vcpu") && !g_str_equal(base, "emulator") &&
            !g_str_has_prefix(base, "iothread"))
                return g_strdup(thread_cgroup); /* a container's processes: the group itself */
        dir = g_path_get_dirname(thread_cgroup);
        if (g_str_has_suffix(dir, "/libvirt")) {
                char *up = g_path_get_dirname(dir);
                g_free(dir);
                dir = up;
        }
        return g_steal_pointer(&dir);
}

static const VrSchedRule *rule_for(const VrPolicy *p, VrThreadKind kind) {
        for (guint i = 0; i < p->sched->len; i++) {
                const VrSchedRule *r = p->sched->pdata[i];
                if (r->threads & kind)
                        return r;
        }
        return NULL;
}

static VrCpuSet *single(int cpu) {
        VrCpuSet *s = vr_cpuset_new();
        if (cpu >= 0)
                vr_cpuset_set(s, (unsigned) cpu);
        return s;
}

static guint count_kind(GPtrArray *threads, VrThreadKind kind) {
        guint n = 0;
        for (guint i = 0; i < threads->len; i++)
                n += ((VrThread *) threads->pdata[i])->kind == kind;
        return n;
}

/* Where a thread runs. Paper 002: tight binding (vCPU on one core, its vhost worker on
 * another) gives the same mean throughput as loose binding but near-deterministic
 * results; where cores run short, a vhost worker shares its vCPU's core. */
static VrCpuSet *affinity_for(const VrPolicy *p, const VrThread *t, guint n_vcpus) {
        const VrCpuSet *cpus = p->cpus;
        unsigned n = cpus ? vr_cpuset_count(cpus) : 0;
        bool dedicated = p->placement == VR_PLACEMENT_DEDICATED && n > 0;

        switch (t->kind) {
        case VR_THREAD_VCPU:
                if (!cpus)
                        return NULL;
                return dedicated ? single(vr_cpuset_nth(cpus, (unsigned) t->index % n)) : vr_cpuset_copy(cpus);
        case VR_THREAD_VHOST:
                if (!cpus)
                        return NULL;
                if (!dedicated)
                        return vr_cpuset_copy(cpus);
                if (n >= n_vcpus + (unsigned) t->index + 1)
                        return single(vr_cpuset_nth(cpus, n_vcpus + (unsigned) t->index));
                return single(vr_cpuset_nth(cpus, (unsigned) t->index % MAX(n_vcpus, 1u) % n));
        case VR_THREAD_NAPI:
                if (!cpus)
                        return NULL;
                return dedicated ? single(vr_cpuset_nth(cpus, (unsigned) t->index % n)) : vr_cpuset_copy(cpus);
        case VR_THREAD_EMULATOR:
                if (p->dom.type == VR_DOMAIN_LXC)
                        return cpus ? vr_cpuset_copy(cpus) : NULL;
                return p->housekeeping ? vr_cpuset_copy(p->housekeeping) : NULL;
        case VR_THREAD_IOTHREAD:
        default:
                return p->housekeeping ? vr_cpuset_copy(p->housekeeping) : NULL;
        }
}

static void note(VrTunePlan *plan, const char *fmt, ...) _printf_(2, 3);
static void note(VrTunePlan *plan, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        g_ptr_array_add(plan->notes, g_strdup_vprintf(fmt, ap));
        va_end(ap);
}

static void add_write(VrTunePlan *plan, bool mkdir, const char *value, const char *fmt, ...) _printf_(4, 5);
static void add_write(VrTunePlan *plan, bool mkdir, const char *value, const char *fmt, ...) {
        VrCgroupWrite *w = g_new0(VrCgroupWrite, 1);
        va_list ap;
        va_start(ap, fmt);
        w->file = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        while (w->file[0] == '/')
                memmove(w->file, w->file + 1, strlen(w->file));
        w->value = g_strdup(value);
        w->mkdir = mkdir;
        g_ptr_array_add(plan->writes, w);
}

/* A deadline task's affinity must span its root domain. A partition of exactly the
 * wanted CPUs (per core for dedicated placement, the pool for shared) makes that hold:
 * the thread moves into it. Without one the root domain is every online CPU: a strict
 * router refuses, a best-effort one runs under global EDF over all of them. */
static void plan_deadline_cpus(VrTunePlan *plan, const VrPolicy *p, const VrTuneHost *host,
                               VrTuneAction *a) {
        const VrPartition *part;
        g_autofree char *want = NULL, *rd = NULL;

        if (!a->affinity || !host->online || vr_cpuset_equal(a->affinity, host->online))
                return;
        part = partition_for(host, a->affinity);
        if (part && host->cgroups.mount[VR_CGROUP_CPUSET]) {
                a->move_cpuset = g_strdup(part->path);
                return;
        }
        want = vr_cpuset_format(a->affinity);
        rd = vr_cpuset_format(host->online);
        if (p->mode == VR_MODE_STRICT) {
                a->error = g_strdup_printf("%s must run on CPUs %s under SCHED_DEADLINE, but those CPUs share a root domain with CPUs %s: deadline threads cannot be pinned to fewer CPUs than their root domain. Give them an exclusive cpuset partition (see virt-router-tune(8)), use placement='shared' over a partitioned pool, or set mode='best-effort' to run under global EDF",
                                           a->role, want, rd);
                a->set_sched = false;
                return;
        }
        note(plan, "%s: deadline threads cannot be pinned to fewer CPUs than their root domain: runs on CPUs %s (global EDF) instead of %s",
             a->role, rd, want);
        vr_cpuset_free(a->affinity);
        a->affinity = vr_cpuset_copy(host->online);
}

static bool derive(const VrPolicy *p, const VrHostConf *conf, VrGuaranteePlan *gp, GError **error) {
        if (!vr_guarantee_plan(p, conf, gp, error)) {
                g_prefix_error(error, "domain '%s': <vr:guarantee>: ", p->dom.name);
                return false;
        }
        if (!gp->period_ns) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "domain '%s': no thread holds a derived deadline reservation", p->dom.name);
                return false;
        }
        return true;
}

static bool check_admission(const VrPolicy *p, const VrHostConf *conf, const VrTuneHost *host,
                            const VrTunePlan *plan, GError **error) {
        uint64_t kernel_cap = host->rt_period_us ? host->rt_runtime_us * 1000000 / host->rt_period_us : 950000;
        uint64_t cap_per_cpu = MIN(kernel_cap, (uint64_t) conf->deadline_cap_ppm);
        g_autoptr(GHashTable) bw = g_hash_table_new(g_str_hash, g_str_equal); /* domain -> ppm */

        for (guint i = 0; i < plan->actions->len; i++) {
                const VrTuneAction *a = plan->actions->pdata[i];
                const char *dom = a->move_cpuset ? a->move_cpuset : "";
                uint64_t used;
                if (!a->set_sched || a->cls != VR_SCHED_DEADLINE || a->error)
                        continue;
                used = GPOINTER_TO_SIZE(g_hash_table_lookup(bw, dom)) + a->runtime_ns * 1000000 / a->period_ns;
                g_hash_table_insert(bw, (gpointer) dom, GSIZE_TO_POINTER(used));
        }
        {
                GHashTableIter it;
                gpointer key, val;
                g_hash_table_iter_init(&it, bw);
                while (g_hash_table_iter_next(&it, &key, &val)) {
                        const char *dom = key;
                        uint64_t used = GPOINTER_TO_SIZE(val);
                        const VrPartition *part = NULL;
                        unsigned cpus;
                        g_autofree char *list = NULL;
                        for (guint k = 0; *dom && host->partitions && k < host->partitions->len; k++)
                                if (g_str_equal(((VrPartition *) host->partitions->pdata[k])->path, dom))
                                        part = host->partitions->pdata[k];
                        cpus = part ? vr_cpuset_count(part->cpus) : host->online ? vr_cpuset_count(host->online) : 1;
                        list = part ? vr_cpuset_format(part->cpus) : host->online ? vr_cpuset_format(host->online) : g_strdup("?");
                        if (used > cap_per_cpu * cpus) {
                                g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                                            "domain '%s': deadline reservations need %.1f%% of a CPU in the root domain of CPU%s %s, which allows %.1f%% (deadline-cap %.0f%% of each CPU, kernel sched_rt_runtime_us/sched_rt_period_us %.0f%%)",
                                            p->dom.name, used / 1e4, cpus == 1 ? "" : "s", list,
                                            cap_per_cpu * cpus / 1e4, conf->deadline_cap_ppm / 1e4, kernel_cap / 1e4);
                                return false;
                        }
                }
        }
        return true;
}

VrTunePlan *vr_tune_plan(const VrPolicy *p, const VrHostConf *conf, const VrTuneHost *host,
                         GPtrArray *threads, GError **error) {
        g_autoptr(VrTunePlan) plan = g_new0(VrTunePlan, 1);
        guint n_vcpus = count_kind(threads, VR_THREAD_VCPU);
        bool any_rt = false;
        g_autofree char *domain_cg = NULL;
        const char *emulator_cg = NULL;
        VrGuaranteePlan gp;
        bool derived = false;
        const VrCgroupBackend *cpu = host->cgroups.backend[VR_CGROUP_CPU];
        const char *cpu_mount = host->cgroups.mount[VR_CGROUP_CPU];

        plan->actions = g_ptr_array_new_with_free_func(vr_tune_action_free);
        plan->writes = g_ptr_array_new_with_free_func(vr_cgroup_write_free);
        plan->notes = g_ptr_array_new_with_free_func(g_free);

        for (guint i = 0; i < threads->len; i++) {
                const VrThread *t = threads->pdata[i];
                if (!domain_cg && !t->kthread && t->cgroup)
                        domain_cg = vr_domain_cgroup(t->cgroup);
                if (t->kind == VR_THREAD_EMULATOR && t->tid == t->tgid && t->cgroup)
                        emulator_cg = t->cgroup;
        }

        for (guint i = 0; i < threads->len; i++) {
                const VrThread *t = threads->pdata[i];
                const VrSchedRule *rule = rule_for(p, t->kind);
                VrTuneAction *a = g_new0(VrTuneAction, 1);

                a->tid = t->tid;
                a->kind = t->kind;
                a->role = vr_thread_role(t);
                a->comm = g_strdup(t->comm);
                a->cgroup = g_strdup(t->cgroup);
                a->affinity = affinity_for(p, t, n_vcpus);
                g_ptr_array_add(plan->actions, a);
                if (!rule)
                        continue;
                a->set_sched = true;
                a->cls = rule->cls;
                a->priority = rule->priority;
                a->nice = rule->has_nice ? rule->nice : 0;
                if (rule->cls == VR_SCHED_FIFO || rule->cls == VR_SCHED_RR)
                        any_rt = true;
                if (rule->cls == VR_SCHED_DEADLINE) {
                        a->runtime_ns = rule->runtime_ns;
                        a->deadline_ns = rule->deadline_ns;
                        a->period_ns = rule->period_ns;
                        if (rule->derive) {
                                /* QEMU's other emulator threads (RCU, monitor) forward
                                 * nothing: they stay in CFS, outside the reservation. */
                                if (t->kind == VR_THREAD_EMULATOR && t->tid != t->tgid) {
                                        a->set_sched = false;
                                        continue;
                                }
                                if (!derived && !(derived = derive(p, conf, &gp, error)))
                                        return NULL;
                                a->period_ns = a->deadline_ns = gp.period_ns;
                                a->runtime_ns = t->kind == VR_THREAD_VCPU ? gp.vcpu.runtime_ns : gp.backend.runtime_ns;
                        }
                        plan_deadline_cpus(plan, p, host, a);
                }
                /* vhost kthreads (before 6.4) are attached to the owner's cgroups by the
                 * kernel; a vhost worker found elsewhere joins the emulator so the
                 * domain's CPU shares cover it (where the hierarchy takes another
                 * process's thread: v2's threaded emulator group does not). */
                if (t->kind == VR_THREAD_VHOST && t->kthread && cpu && cpu->moves_other_processes && emulator_cg &&
                    g_strcmp0(t->cgroup, emulator_cg) != 0 && !(rule->cls == VR_SCHED_FIFO || rule->cls == VR_SCHED_RR))
                        a->move_to = g_strdup(emulator_cg);
        }

        /* Deadline admission, per root domain: the kernel caps deadline tasks at
         * sched_rt_runtime_us per sched_rt_period_us of each CPU of the domain, and the
         * host config caps routers below that. */
        if (!check_admission(p, conf, host, plan, error))
                return NULL;

        /* RT throttling per group (CONFIG_RT_GROUP_SCHED, cgroup v1): a FIFO/RR thread
         * in a group with cpu.rt_runtime_us 0, as libvirt's machine groups are, cannot
         * be made RT. Router RT threads share one group with the budget the root left. */
        if (any_rt && host->rt_group_sched && cpu && cpu->rt_runtime_file) {
                uint64_t left = host->rt_runtime_us > host->rt_siblings_us ? host->rt_runtime_us - host->rt_siblings_us : 0;
                g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, left);
                g_autofree char *file = NULL;
                if (left == 0) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                                    "domain '%s': FIFO/RR threads need real-time bandwidth in a cgroup, but the cpu cgroups under %s already hold all %" G_GUINT64_FORMAT "us of sched_rt_runtime_us",
                                    p->dom.name, cpu_mount, host->rt_runtime_us);
                        return NULL;
                }
                file = vr_cgroup_path(&host->cgroups, VR_CGROUP_CPU, VR_RT_CGROUP, cpu->rt_runtime_file);
                add_write(plan, true, v, "%s", file);
                for (guint i = 0; i < plan->actions->len; i++) {
                        VrTuneAction *a = plan->actions->pdata[i];
                        if (a->set_sched && (a->cls == VR_SCHED_FIFO || a->cls == VR_SCHED_RR)) {
                                g_free(a->move_to);
                                a->move_to = g_strdup("/" VR_RT_CGROUP);
                        }
                }
                note(plan, "real-time threads moved to cpu cgroup /%s (cpu.rt_runtime_us %s of %" G_GUINT64_FORMAT "): libvirt's groups have no RT budget",
                     VR_RT_CGROUP, v, host->rt_period_us);
        }

        /* CPU shares of the whole domain (vhost workers live with the emulator). */
        if (p->shares && domain_cg && cpu) {
                g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, cpu->weight_from_shares((uint64_t) p->shares));
                g_autofree char *file = vr_cgroup_path(&host->cgroups, VR_CGROUP_CPU, domain_cg, cpu->weight_file);
                add_write(plan, false, v, "%s", file);
        }
        return g_steal_pointer(&plan);
}
