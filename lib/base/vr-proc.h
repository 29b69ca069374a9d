/* Reading processes and threads from ROOT/proc. Thread names contain spaces and
 * parentheses ("CPU 0/KVM"), so stat is split at the last ')'. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vr-macros.h"

#define VR_PF_KTHREAD 0x00200000u /* include/linux/sched.h */

typedef struct {
        pid_t pid;
        char comm[64];
        char state;
        pid_t ppid;
        unsigned flags;
        uint64_t utime, stime; /* clock ticks */
        uint64_t starttime;
        long num_threads;
        int processor;
        unsigned rt_priority;
        unsigned policy;
} VrProcStat;

/* Parse one stat line. 0 or -EINVAL. */
int vr_proc_stat_parse(const char *text, VrProcStat *ret) _must_check_;
/* ROOT/proc/PID/stat (tid 0) or ROOT/proc/PID/task/TID/stat. */
int vr_proc_read_stat(const char *root, pid_t pid, pid_t tid, VrProcStat *ret) _must_check_;
/* Thread ids of PID, ascending. -ENOENT if the process is gone. */
int vr_proc_list_tasks(const char *root, pid_t pid, GArray **ret_tids) _must_check_;
/* Every process id under ROOT/proc, ascending. */
int vr_proc_list_pids(const char *root, GArray **ret_pids) _must_check_;
bool vr_proc_is_kthread(const VrProcStat *st);
/* The first process (lowest pid, not a kernel thread) whose parent is PARENT: a
 * container's init under libvirt's LXC controller. 0 if there is none. */
pid_t vr_proc_child_of(const char *root, pid_t parent);

/* What identifies a process across pid reuse: its pid and its start time (field 22 of
 * stat, clock ticks after boot). starttime 0: not known (an old pid file held only the
 * pid), so only the pid is compared, and the comm when one is given: a pid alone may by
 * now be any process's, a name at least tells the tuner from a shell. */
typedef struct {
        pid_t pid;
        uint64_t starttime;
        const char *comm; /* NULL: any; else the name the process must have (as in stat) */
} VrProcId;
/* The identity of process PID under ROOT: 0, or -ENOENT when it is gone, -EINVAL when
 * its stat does not parse. */
int vr_proc_id_read(const char *root, pid_t pid, VrProcId *ret) _must_check_;
/* Whether the process ID names still runs under ROOT: its stat is there, it is not a
 * zombie, (when ID's start time is known) it started when ID says, so that a reused pid
 * reads as gone, and (when ID has a comm) it has that name. */
bool vr_proc_id_alive(const char *root, const VrProcId *id);

/* A task's cgroups: the v1 "cpu" hierarchy path and the v2 path (NULL if absent). */
typedef struct {
        char *cpu_v1;    /* e.g. /machine/qemu-1-vr1.libvirt-qemu/vcpu0 */
        char *cpuset_v1;
        char *unified;   /* the "0::" line */
} VrProcCgroup;
void vr_proc_cgroup_clear(VrProcCgroup *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VrProcCgroup, vr_proc_cgroup_clear)
int vr_proc_read_cgroup(const char *root, pid_t pid, pid_t tid, VrProcCgroup *ret) _must_check_;

/* Where the cgroup file systems are mounted, from ROOT/proc/self/mountinfo (paths as
 * seen on the host, without ROOT). */
typedef struct {
        char *cpu_v1;    /* mount point of the v1 hierarchy holding "cpu", or NULL */
        char *cpuset_v1;
        char *unified;   /* cgroup2 mount point, or NULL */
} VrCgroupMounts;
void vr_cgroup_mounts_clear(VrCgroupMounts *m);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VrCgroupMounts, vr_cgroup_mounts_clear)
int vr_cgroup_mounts_read(const char *root, VrCgroupMounts *ret) _must_check_;

/* The pid libvirt recorded for a running domain (ROOT/run/libvirt/DRIVER/DOMAIN.pid;
 * driver NULL: qemu, then lxc), 0 if there is none, or DOMAIN cannot be a file name
 * (vr_name_problem). */
pid_t vr_libvirt_pid(const char *root, const char *driver, const char *domain);

/* pidfd_open(2) of PID (glibc 2.36 in bookworm has no wrapper): a descriptor that keeps
 * naming this process, whatever later reuses its pid. The fd, or -errno (-ENOSYS
 * before Linux 5.3). */
int vr_pidfd_open(pid_t pid);
