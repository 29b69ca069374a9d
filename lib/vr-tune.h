/* The tuning plan: which CPUs and which scheduling class each of a router's threads
 * gets, and which cgroup files change. Pure: the host facts come in VrTuneHost. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-proc.h"
#include "vr-threads.h"

#define VR_RT_CGROUP "virt-router-rt" /* v1 cpu cgroup holding router RT threads */

typedef struct {
        char *cpu_mount;      /* v1 cpu hierarchy mount point, NULL if none */
        char *unified_mount;  /* cgroup2 mount point, NULL if none */
        bool rt_group_sched;  /* v1 cpu.rt_runtime_us exists: RT tasks need group budget */
        uint64_t rt_period_us, rt_runtime_us; /* kernel.sched_rt_{period,runtime}_us */
        uint64_t rt_siblings_us; /* rt_runtime_us already given to other root cpu cgroups */
        VrCpuSet *online;     /* online CPUs: the default root domain */
        char *cpuset_mount;   /* v1 cpuset hierarchy mount point, NULL if none */
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
/* Read the facts from ROOT (proc, sys). */
int vr_tune_host_read(const char *root, VrTuneHost *ret) _must_check_;

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
        char *move_to;        /* v1 cpu cgroup (relative to the mount) to move into, or NULL */
        char *move_cpuset;    /* v1 cpuset (a partition) to move into, or NULL */
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

/* The plan for these threads. Errors (a deadline reservation that cannot fit, RT
 * bandwidth that is not there) name the domain, the threads and the numbers. */
VrTunePlan *vr_tune_plan(const VrPolicy *p, const VrHostConf *conf, const VrTuneHost *host,
                         GPtrArray *threads, GError **error);

/* The domain's own cgroup from one of its threads' ("/machine/qemu-1-vr1.libvirt-qemu/vcpu0"
 * -> "/machine/qemu-1-vr1.libvirt-qemu"). Caller frees. */
char *vr_domain_cgroup(const char *thread_cgroup);
/* cgroup v1 cpu.shares to v2 cpu.weight, as systemd and the kernel map them. */
uint64_t vr_shares_to_weight(uint64_t shares);
