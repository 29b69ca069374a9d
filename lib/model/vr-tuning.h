/* What the tuner knows and does: the host's scheduling facts (VrTuneHost) and the
 * tuning plan's actions (VrTunePlan). Here, below both, because the pure plan
 * (lib/plan/vr-tune) makes them and the host layer (lib/host/vr-tune-host reads the
 * facts, lib/host/vr-apply carries out the actions) uses them: neither includes the
 * other. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-cgroup-layout.h"
#include "vr-thread.h"

typedef struct {
        VrCgroupLayout cgroups; /* where the cpu and cpuset controllers are, v1 or v2 */
        bool rt_group_sched;  /* v1 cpu.rt_runtime_us exists: RT tasks need group budget */
        bool cap_sys_nice;    /* the tuner may set RT and deadline classes (CapEff of
                               * ROOT/proc/self/status), so a refusal has another cause */
        uint64_t rt_period_us, rt_runtime_us; /* kernel.sched_rt_{period,runtime}_us */
        uint64_t rt_siblings_us; /* rt_runtime_us already given to other root cpu cgroups */
        VrCpuSet *online;     /* online CPUs: the default root domain */
        GPtrArray *partitions;/* VrPartition: root domains made by exclusive cpusets */
} VrTuneHost;

/* A v1 cpuset that is a root domain of its own: exclusive, load-balanced, with no
 * load-balanced ancestor (so its CPUs are not merged into a larger domain). */
typedef struct {
        char *path;    /* relative to the cpuset mount: "/virt-router/cpu2" */
        VrCpuSet *cpus;
} VrPartition;

void vr_tune_host_clear(VrTuneHost *h);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VrTuneHost, vr_tune_host_clear)
typedef struct {
        pid_t tid;
        VrThreadKind kind;
        char *role;           /* "vcpu0", "vhost1", ... */
        char *comm;
        VrCpuSet *affinity;   /* NULL: leave as it is */
        bool set_sched;
        VrSchedClass cls;
        int priority, nice;
        uint64_t runtime_ns, deadline_ns, period_ns;
        char *cgroup;         /* the thread's cpu cgroup when planned (relative to its mount), or NULL */
        char *move_to;        /* cpu cgroup (relative to its mount) to move into, or NULL */
        char *move_cpuset;    /* cpuset (a partition, relative to its mount) to move into, or NULL */
        char *error;          /* the plan cannot honour the policy for this thread: why */
} VrTuneAction;

typedef struct {
        char *file;  /* cgroup file, relative to ROOT: "sys/fs/cgroup/cpu/machine/.../cpu.shares" */
        char *value;
        bool mkdir;  /* create the file's directory first */
} VrCgroupWrite;

typedef struct {
        GPtrArray *actions; /* VrTuneAction, in thread order */
        GPtrArray *writes;  /* VrCgroupWrite, in order */
        GPtrArray *notes;   /* char*: what the plan chose and why, for logs and status */
} VrTunePlan;

void vr_tune_plan_free(VrTunePlan *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrTunePlan, vr_tune_plan_free)

void vr_partition_free(gpointer p);
void vr_tune_action_free(gpointer p);
void vr_cgroup_write_free(gpointer p);
