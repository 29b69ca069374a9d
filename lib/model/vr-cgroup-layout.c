#include "config.h"

#include <string.h>

#include "vr-cgroup-layout.h"

static uint64_t shares_as_is(uint64_t shares) {
        return shares;
}

uint64_t vr_shares_to_weight(uint64_t shares) {
        shares = CLAMP(shares, 2, 262144);
        return 1 + ((shares - 2) * 9999) / 262142;
}

const VrCgroupBackend vr_cgroup_v1 = {
        .version = VR_CGROUP_V1,
        .name = "v1",
        .weight_file = "cpu.shares",
        .weight_from_shares = shares_as_is,
        .thread_file = "tasks",
        .process_file = "cgroup.procs",
        .type_file = NULL,
        .moves_other_processes = true,
        .rt_runtime_file = "cpu.rt_runtime_us",
        .cpus_file = "cpuset.cpus",
        .load_balance_file = "cpuset.sched_load_balance",
        .partition_file = "cpuset.cpu_exclusive",
        .partition_value = "1",
};

const VrCgroupBackend vr_cgroup_v2 = {
        .version = VR_CGROUP_V2,
        .name = "v2",
        .weight_file = "cpu.weight",
        .weight_from_shares = vr_shares_to_weight,
        .thread_file = "cgroup.threads",
        .process_file = "cgroup.procs",
        .type_file = "cgroup.type",
        .moves_other_processes = false,
        .rt_runtime_file = NULL,
        .cpus_file = "cpuset.cpus",
        .load_balance_file = NULL,
        .partition_file = "cpuset.cpus.partition",
        .partition_value = "root",
};

const char *const vr_cgroup_controller_names[VR_CGROUP_CONTROLLER_COUNT] = {
        [VR_CGROUP_CPU] = "cpu",
        [VR_CGROUP_CPUSET] = "cpuset",
};

void vr_cgroup_layout_from_mounts(const VrCgroupMounts *m, VrCgroupLayout *ret) {
        const char *v1[VR_CGROUP_CONTROLLER_COUNT] = {[VR_CGROUP_CPU] = m->cpu_v1, [VR_CGROUP_CPUSET] = m->cpuset_v1};
        VrCgroupLayout l = {0};

        for (int c = 0; c < VR_CGROUP_CONTROLLER_COUNT; c++) {
                if (v1[c]) {
                        l.backend[c] = &vr_cgroup_v1;
                        l.mount[c] = g_strdup(v1[c]);
                } else if (m->unified) {
                        l.backend[c] = &vr_cgroup_v2;
                        l.mount[c] = g_strdup(m->unified);
                }
        }
        *ret = l;
}

void vr_cgroup_layout_clear(VrCgroupLayout *l) {
        for (int c = 0; c < VR_CGROUP_CONTROLLER_COUNT; c++) {
                g_clear_pointer(&l->mount[c], g_free);
                l->backend[c] = NULL;
        }
}

char *vr_cgroup_path(const VrCgroupLayout *l, VrCgroupController c, const char *group, const char *file) {
        const char *mount = l->mount[c];
        GString *s;

        if (!mount)
                return NULL;
        s = g_string_new(mount);
        if (group && *group && !g_str_equal(group, "/"))
                g_string_append_printf(s, "%s%s", group[0] == '/' ? "" : "/", group);
        if (file)
                g_string_append_printf(s, "/%s", file);
        while (s->len && s->str[0] == '/')
                g_string_erase(s, 0, 1);
        return g_string_free(s, FALSE);
}

const char *vr_cgroup_cpu_group(const VrProcCgroup *cg) {
        return cg->cpu_v1 ? cg->cpu_v1 : cg->unified;
}
