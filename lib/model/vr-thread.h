/* A router's threads as found on the host (lib/host/vr-threads finds them): vCPUs
 * ("CPU n/KVM", "CPU n/TCG"), vhost workers in all three kernel forms, the emulator and
 * iothreads, and for containers the processes in the container plus the NAPI kthreads
 * of its devices. Their classification by name is pure, so it lives here. */
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

/* Sort by kind, vCPU number, tid; number vhost/iothread/napi threads in tid order. */
void vr_threads_sort_and_number(GPtrArray *threads);

/* Human form: "vcpu0", "vhost1", "emulator", "iothread0", "napi0". Caller frees. */
char *vr_thread_role(const VrThread *t);
const char *vr_thread_kind_name(VrThreadKind k);
