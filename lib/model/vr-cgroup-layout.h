/* cgroup v1 and v2 behind one interface, the pure half: which file of a group holds
 * what, how a value is written there, and where each controller's hierarchy is. The
 * tuning plan (lib/plan/vr-tune) names files with it; lib/host/vr-cgroup reads the
 * mounts and carries the changes out. No other code spells a controller file.
 *
 * One backend per version (as libvirt's vircgroupv1.c and vircgroupv2.c), chosen once
 * per controller from the mounts: a hybrid host (v1 controllers beside an empty
 * cgroup2 mount) uses v1 for every controller a v1 hierarchy holds. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-macros.h"
#include "vr-proc.h"

/* The cpu cgroup router RT threads share where RT time is budgeted per group (v1 with
 * CONFIG_RT_GROUP_SCHED), relative to the cpu mount. */
#define VR_RT_CGROUP "virt-router-rt"

typedef enum {
        VR_CGROUP_V1 = 1,
        VR_CGROUP_V2 = 2,
} VrCgroupVersion;

typedef struct {
        VrCgroupVersion version;
        const char *name;              /* "v1", "v2" */
        /* CPU weight of a group: the file, and its value for a policy's shares (the v1
         * scale, 2-262144, 1024 the default). */
        const char *weight_file;       /* cpu.shares / cpu.weight */
        uint64_t (*weight_from_shares)(uint64_t shares);
        /* What moves one thread: v1 "tasks"; v2 "cgroup.threads" of a threaded group.
         * A v2 domain group takes whole processes only, through "cgroup.procs". */
        const char *thread_file;
        const char *process_file;      /* cgroup.procs */
        const char *type_file;         /* v2 cgroup.type ("threaded", "domain threaded", ...), NULL on v1 */
        /* v1 takes any thread into any group; v2 takes a thread into a threaded group
         * only from a process already in the same threaded subtree. */
        bool moves_other_processes;
        /* RT time per group (CONFIG_RT_GROUP_SCHED): v1 only, NULL on v2. */
        const char *rt_runtime_file;   /* cpu.rt_runtime_us */
        /* cpuset: the CPUs, and what makes a group a root domain of its own. */
        const char *cpus_file;         /* cpuset.cpus */
        const char *load_balance_file; /* v1 cpuset.sched_load_balance, NULL on v2 */
        const char *partition_file;    /* cpuset.cpu_exclusive / cpuset.cpus.partition */
        const char *partition_value;   /* "1" / "root" */
} VrCgroupBackend;

extern const VrCgroupBackend vr_cgroup_v1;
extern const VrCgroupBackend vr_cgroup_v2;

typedef enum {
        VR_CGROUP_CPU,
        VR_CGROUP_CPUSET,
        VR_CGROUP_CONTROLLER_COUNT
} VrCgroupController;

extern const char *const vr_cgroup_controller_names[VR_CGROUP_CONTROLLER_COUNT]; /* "cpu", "cpuset" */

/* Where each controller is, and which backend drives it. */
typedef struct {
        const VrCgroupBackend *backend[VR_CGROUP_CONTROLLER_COUNT]; /* NULL: not mounted */
        char *mount[VR_CGROUP_CONTROLLER_COUNT]; /* as on the host, without ROOT: "/sys/fs/cgroup/cpu,cpuacct" */
} VrCgroupLayout;

/* Choose each controller's backend from the mounts: v1 where a v1 hierarchy holds the
 * controller, else v2 on the cgroup2 mount, else none. */
void vr_cgroup_layout_from_mounts(const VrCgroupMounts *m, VrCgroupLayout *ret);
void vr_cgroup_layout_clear(VrCgroupLayout *l);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VrCgroupLayout, vr_cgroup_layout_clear)

/* GROUP ("/machine/x", "" or "/" for the top) of controller C as a path relative to
 * ROOT, without a leading '/': "sys/fs/cgroup/cpu,cpuacct/machine/x". FILE (may be
 * NULL) is appended: ".../machine/x/cpu.shares". NULL when C is not mounted. */
char *vr_cgroup_path(const VrCgroupLayout *l, VrCgroupController c, const char *group, const char *file);
/* The task's group in the hierarchy that holds the cpu controller (v1 "cpu" line,
 * else the unified "0::" one), as /proc/PID/cgroup says; NULL if neither. */
const char *vr_cgroup_cpu_group(const VrProcCgroup *cg);
/* v1 cpu.shares to v2 cpu.weight: [2, 262144] onto [1, 10000] linearly (1024 -> 39,
 * 2048 -> 79). */
uint64_t vr_shares_to_weight(uint64_t shares);
