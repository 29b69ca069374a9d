/* The table of host operations: every change virt-router makes to a host goes through
 * one of these, so that tests can swap the real table for a recording one and check
 * which changes happen, in which order, without root. Reads do not go through it
 * (they take a root prefix, lib/base/vr-sysfs.h).
 *
 * Each operation returns 0 or a negative errno and says nothing: the caller turns a
 * failure into a GError that names the domain and the object (kernel refusals into
 * causes, see explain() in vr-apply.c). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vr-cpuset.h"
#include "vr-hostop.h"
#include "vr-macros.h"
#include "vr-sched.h"

typedef struct VrHostOps VrHostOps;
struct VrHostOps {
        /* Write VALUE to ROOT/RELPATH: a sysfs, procfs or cgroup attribute (a v1 "tasks"
         * file moves a thread, driver_override/unbind/drivers_probe bind a PCI function). */
        int (*write_file)(const VrHostOps *ops, const char *root, const char *relpath, const char *value);
        /* Create the directory ROOT/RELPATH (a cgroup); 0 when it exists already. */
        int (*make_dir)(const VrHostOps *ops, const char *root, const char *relpath);
        /* Remove the empty directory ROOT/RELPATH (a cgroup); -EBUSY while tasks are in it. */
        int (*remove_dir)(const VrHostOps *ops, const char *root, const char *relpath);
        /* sched_setaffinity(2) of one thread. */
        int (*set_affinity)(const VrHostOps *ops, pid_t tid, const VrCpuSet *cpus);
        /* sched_setattr(2) of one thread. */
        int (*sched_setattr)(const VrHostOps *ops, pid_t tid, const struct vr_sched_attr *attr);
        /* IFLA_VF_SPOOFCHK / IFLA_VF_TRUST of VF index VF on PF over rtnetlink; <0 leaves
         * a flag as it is. */
        int (*vf_set_flags)(const VrHostOps *ops, const char *pf, int vf, int spoofchk, int trust);
        /* The queue length of DEV inside the network namespace of process PID. */
        int (*netns_set_txqlen)(const VrHostOps *ops, pid_t pid, const char *dev, int qlen);
        /* Run TC with ARGS (NULL-terminated, without the program): -EIO with what tc said
         * as the error, -ENOENT when TC cannot be run. The one operation with words of
         * its own: tc's reason (a missing classifier, a busy qdisc) is not an errno. */
        int (*tc)(const VrHostOps *ops, const char *tc, char *const *args, GError **error);
        void *data; /* the implementation's own */
};

/* The real host: syscalls, netlink, files under the root prefix, tc. */
const VrHostOps *vr_host_ops_real(void);
/* ops, or the real host when NULL: what callers that take an optional table use. */
const VrHostOps *vr_host_ops_or_real(const VrHostOps *ops);

/* Carry out one host change given as data (a plan's step, a journal's undo) through
 * OPS: writes under ROOT, tc as TC. 0, or a negative errno with error saying the cause
 * (strerror, or for tc "'tc ARGS' failed: what tc said"). */
int vr_host_op_run(const VrHostOps *ops, const char *root, const char *tc, const VrHostOp *op,
                   GError **error) _must_check_;

/* A recording table for tests: each call appends one line to its log, in the text form
 * of vr-hostop.h, plus "mkdir RELPATH", "rmdir RELPATH", "affinity TID CPUS" and
 * "sched_setattr TID CLASS [priority=N|nice=N|runtime=NS deadline=NS period=NS]".
 * Writes, mkdirs and rmdirs whose root is CARRY_OUT_ROOT are also done there (see
 * vr-hostops-record.c); NULL: only recorded. */
VrHostOps *vr_host_ops_recorder_new(const char *carry_out_root);
void vr_host_ops_recorder_free(VrHostOps *ops);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrHostOps, vr_host_ops_recorder_free)
/* The log so far, one line a call; a refused call ends in " -> error ERRNO-NAME". */
const char *vr_host_ops_recorder_log(const VrHostOps *ops);
/* The log so far (caller frees), and start a new one: a test's step by step. */
char *vr_host_ops_recorder_take_log(VrHostOps *ops);
/* The next call whose line contains MATCH is refused with -ERR (and not carried out). */
void vr_host_ops_recorder_fail(VrHostOps *ops, const char *match, int err);
/* Likewise the next TIMES such calls (a group busy while its threads leave it); TIMES
 * < 0: every one until the next fail. Either replaces the refusal asked for before. */
void vr_host_ops_recorder_fail_times(VrHostOps *ops, const char *match, int err, int times);
