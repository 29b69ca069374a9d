#include "config.h"

#include <unistd.h>

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

static void find_domain_sets(const char *root, const char *mount, const char *rel, int depth,
                             GPtrArray *out) {
        g_autofree char *dir = vr_root_path(root, "%s%s", mount, rel);
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        while (d && depth < 4 && (name = g_dir_read_name(d))) {
                g_autofree char *child = g_strdup_printf("%s/%s", rel, name);
                g_autofree char *lb_f = g_strdup_printf("%s%s/cpuset.sched_load_balance", mount, child);
                g_autofree char *ex_f = g_strdup_printf("%s%s/cpuset.cpu_exclusive", mount, child);
                g_autofree char *cpus_f = g_strdup_printf("%s%s/cpuset.cpus", mount, child);
                g_autofree char *cpus = NULL;
                VrCpuSet *set = NULL;
                uint64_t lb = read_u64(root, lb_f, 2);
                DomainSet *ds;

                if (lb == 2)
                        continue; /* a control file, not a cpuset directory */
                if (lb == 0) {
                        find_domain_sets(root, mount, child, depth + 1, out);
                        continue;
                }
                if (vr_read_line(root, cpus_f, &cpus) < 0 || !*cpus || vr_cpuset_parse(cpus, &set) < 0)
                        continue; /* no CPUs: no domain */
                ds = g_new0(DomainSet, 1);
                ds->path = g_steal_pointer(&child);
                ds->cpus = set;
                ds->exclusive = read_u64(root, ex_f, 0) == 1;
                g_ptr_array_add(out, ds);
        }
}

static void find_partitions(const char *root, const char *mount, GPtrArray *out) {
        g_autoptr(GPtrArray) sets = g_ptr_array_new_with_free_func(domain_set_free);

        find_domain_sets(root, mount, "", 0, sets);
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

int vr_tune_host_read(const char *root, VrTuneHost *ret) {
        g_auto(VrCgroupMounts) m = {0};
        g_autofree char *online = NULL;
        VrTuneHost h = {0};
        int r;

        r = vr_cgroup_mounts_read(root, &m);
        if (r < 0)
                return r;
        h.cpu_mount = g_steal_pointer(&m.cpu_v1);
        h.unified_mount = g_steal_pointer(&m.unified);
        h.cpuset_mount = g_steal_pointer(&m.cpuset_v1);
        h.partitions = g_ptr_array_new_with_free_func(vr_partition_free);
        if (h.cpuset_mount) {
                g_autofree char *top_lb = g_strdup_printf("%s/cpuset.sched_load_balance", h.cpuset_mount);
                if (read_u64(root, top_lb, 1) == 0)
                        find_partitions(root, h.cpuset_mount, h.partitions);
        }
        h.rt_period_us = read_u64(root, "proc/sys/kernel/sched_rt_period_us", 1000000);
        h.rt_runtime_us = read_u64(root, "proc/sys/kernel/sched_rt_runtime_us", 950000);
        if (h.cpu_mount) {
                g_autofree char *f = g_strdup_printf("%s/cpu.rt_runtime_us", h.cpu_mount);
                g_autofree char *abs = vr_root_path(root, "%s", f);
                g_autoptr(GDir) d = NULL;
                const char *name;
                g_autofree char *dir = vr_root_path(root, "%s", h.cpu_mount);

                h.rt_group_sched = access(abs, F_OK) == 0;
                d = h.rt_group_sched ? g_dir_open(dir, 0, NULL) : NULL;
                while (d && (name = g_dir_read_name(d))) {
                        g_autofree char *rel = g_strdup_printf("%s/%s/cpu.rt_runtime_us", h.cpu_mount, name);
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

