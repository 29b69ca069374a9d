/* Finding a router's threads: vCPUs ("CPU n/KVM", "CPU n/TCG"), vhost workers in all
 * three kernel forms, the emulator and iothreads, and for containers the processes in
 * the container plus the NAPI kthreads of its devices. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vr-policy.h"

typedef struct {
        pid_t tid;
        pid_t tgid;         /* the process it belongs to (a kthread is its own) */
        VrThreadKind kind;
        int index;          /* vCPU number; ordinal among vhost/iothread/napi threads */
        char *comm;
        bool kthread;
        uint64_t cpu_ticks; /* utime + stime */
        char *cgroup;       /* the thread's v1 cpu cgroup, else its v2 cgroup; NULL unknown */
} VrThread;

void vr_thread_free(VrThread *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrThread, vr_thread_free)

/* What a thread of name `comm` is to the router whose QEMU (or container init) is
 * vm_pid, 0 if it is none of the router's. `in_process`: the thread belongs to vm_pid.
 * napi_devs: the host netdevs whose NAPI threads belong to the router (NULL: none). */
VrThreadKind vr_thread_classify(const char *comm, pid_t vm_pid, bool kthread, bool in_process,
                                const char *const *napi_devs, int *ret_index);

/* Every thread of the router, sorted by kind then tid; indexes of vhost, iothread and
 * napi threads are ordinals in tid order. -ENOENT if vm_pid does not exist. */
int vr_threads_discover(const char *root, pid_t vm_pid, VrDomainType type,
                        const char *const *napi_devs, GPtrArray **ret) _must_check_;

/* Sort by kind, vCPU number, tid; number vhost/iothread/napi threads in tid order. */
void vr_threads_sort_and_number(GPtrArray *threads);

/* Human form: "vcpu0", "vhost1", "emulator", "iothread0", "napi0". Caller frees. */
char *vr_thread_role(const VrThread *t);
const char *vr_thread_kind_name(VrThreadKind k);
