#include "config.h"

#include <string.h>
#include <unistd.h>

#include "vr-cgroup.h"
#include "vr-proc.h"
#include "vr-sysfs.h"
#include "vr-tune-host.h"
#include "vr-units.h"

static uint64_t read_u64(const char *root, const char *rel, uint64_t dflt) {
        g_autofree char *s = NULL;
        int64_t v;
        if (vr_read_line(root, rel, &s) < 0 || vr_parse_int(s, -1, G_MAXINT64, &v) < 0)
                return dflt;
        return v < 0 ? 0 : (uint64_t) v;
}

/* Root domains made by cpusets (kernel/cgroup/cpuset.c, generate_sched_domains): each
 * cpuset with sched_load_balance=1 whose ancestors all have it 0 spans a domain, and
 * overlapping ones are merged. So an exclusive one that overlaps no other is a root
 * domain of its own: a partition. */
typedef struct {
        char *path;
        VrCpuSet *cpus;
        bool exclusive;
} DomainSet;

static void domain_set_free(gpointer p) {
        DomainSet *d = p;
        g_free(d->path);
        vr_cpuset_free(d->cpus);
        g_free(d);
}

static void find_domain_sets(const char *root, const VrCgroupLayout *l, const char *rel, int depth,
                             GPtrArray *out) {
        const VrCgroupBackend *b = l->backend[VR_CGROUP_CPUSET];
        g_autofree char *top = vr_cgroup_path(l, VR_CGROUP_CPUSET, rel, NULL);
        g_autofree char *dir = vr_root_path(root, "%s", top);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d && depth < 4 && (name = g_dir_read_name(d))) {
                g_autofree char *child = g_strdup_printf("%s/%s", rel, name);
                g_autofree char *lb_f = vr_cgroup_path(l, VR_CGROUP_CPUSET, child, b->load_balance_file);
                g_autofree char *ex_f = vr_cgroup_path(l, VR_CGROUP_CPUSET, child, b->partition_file);
                g_autofree char *cpus_f = vr_cgroup_path(l, VR_CGROUP_CPUSET, child, b->cpus_file);
                g_autofree char *cpus = NULL, *ex = NULL;
                VrCpuSet *set = NULL;
                uint64_t lb = read_u64(root, lb_f, 2);
                DomainSet *ds;

                if (lb == 2)
                        continue; /* a control file, not a cpuset directory */
                if (lb == 0) {
                        find_domain_sets(root, l, child, depth + 1, out);
                        continue;
                }
                if (vr_read_line(root, cpus_f, &cpus) < 0 || !*cpus || vr_cpuset_parse(cpus, &set) < 0)
                        continue; /* no CPUs: no domain */
                ds = g_new0(DomainSet, 1);
                ds->path = g_steal_pointer(&child);
                ds->cpus = set;
                ds->exclusive = vr_read_line(root, ex_f, &ex) == 0 && g_str_equal(g_strstrip(ex), b->partition_value);
                g_ptr_array_add(out, ds);
        }
}

/* v1 only: a v2 host's partitions (cpuset.cpus.partition "root") are not read, so a
 * deadline thread there is never moved into one (moving it would take a cgroup.procs
 * write, i.e. its whole process). */
static void find_partitions(const char *root, const VrCgroupLayout *l, GPtrArray *out) {
        g_autoptr(GPtrArray) sets = g_ptr_array_new_with_free_func(domain_set_free);

        find_domain_sets(root, l, "", 0, sets);
        for (guint i = 0; i < sets->len; i++) {
                DomainSet *a = sets->pdata[i];
                bool alone = a->exclusive;
                for (guint k = 0; alone && k < sets->len; k++)
                        if (k != i && vr_cpuset_intersects(a->cpus, ((DomainSet *) sets->pdata[k])->cpus))
                                alone = false;
                if (alone) {
                        VrPartition *p = g_new0(VrPartition, 1);
                        p->path = g_strdup(a->path);
                        p->cpus = vr_cpuset_copy(a->cpus);
                        g_ptr_array_add(out, p);
                }
        }
}

/* CAP_SYS_NICE (capability 23) in the tuner's effective set. A tree without the file
 * stands for a host where the tuner runs as libvirt's hooks do: as root. */
static bool may_set_rt(const char *root) {
        g_autofree char *path = vr_root_path(root, "proc/self/status"), *text = NULL;
        const char *cap;

        if (!g_file_get_contents(path, &text, NULL, NULL) || !(cap = strstr(text, "\nCapEff:")))
                return true;
        return (g_ascii_strtoull(cap + strlen("\nCapEff:"), NULL, 16) >> 23) & 1;
}

int vr_tune_host_read(const char *root, VrTuneHost *ret) {
        g_autofree char *online = NULL;
        const VrCgroupBackend *cpu, *cpuset;
        VrTuneHost h = {0};
        int r;

        r = vr_cgroup_layout_read(root, &h.cgroups);
        if (r < 0)
                return r;
        cpu = h.cgroups.backend[VR_CGROUP_CPU];
        cpuset = h.cgroups.backend[VR_CGROUP_CPUSET];
        h.partitions = g_ptr_array_new_with_free_func(vr_partition_free);
        if (cpuset && cpuset->load_balance_file) {
                g_autofree char *top_lb = vr_cgroup_path(&h.cgroups, VR_CGROUP_CPUSET, "/", cpuset->load_balance_file);
                if (read_u64(root, top_lb, 1) == 0)
                        find_partitions(root, &h.cgroups, h.partitions);
        }
        h.cap_sys_nice = may_set_rt(root);
        h.rt_period_us = read_u64(root, "proc/sys/kernel/sched_rt_period_us", 1000000);
        h.rt_runtime_us = read_u64(root, "proc/sys/kernel/sched_rt_runtime_us", 950000);
        if (cpu && cpu->rt_runtime_file) {
                g_autofree char *f = vr_cgroup_path(&h.cgroups, VR_CGROUP_CPU, "/", cpu->rt_runtime_file);
                g_autofree char *abs = vr_root_path(root, "%s", f);
                g_autofree char *top = vr_cgroup_path(&h.cgroups, VR_CGROUP_CPU, "/", NULL);
                g_autofree char *dir = vr_root_path(root, "%s", top);
                g_autoptr(GDir) d = NULL;
                const char *name;

                h.rt_group_sched = access(abs, F_OK) == 0;
                d = h.rt_group_sched ? g_dir_open(dir, 0, NULL) : NULL;
                while (d && (name = g_dir_read_name(d))) {
                        g_autofree char *rel = vr_cgroup_path(&h.cgroups, VR_CGROUP_CPU, name, cpu->rt_runtime_file);
                        if (!g_str_equal(name, VR_RT_CGROUP))
                                h.rt_siblings_us += read_u64(root, rel, 0);
                }
        }
        if (vr_read_line(root, "sys/devices/system/cpu/online", &online) < 0 ||
            vr_cpuset_parse(online, &h.online) < 0)
                h.online = NULL;
        *ret = h;
        return 0;
}

