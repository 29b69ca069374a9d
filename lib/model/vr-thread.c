#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr-thread.h"

void vr_thread_free(VrThread *t) {
        if (!t)
                return;
        g_free(t->comm);
        g_free(t->cgroup);
        g_free(t);
}

const char *vr_thread_kind_name(VrThreadKind k) {
        for (int i = 0; vr_thread_names[i]; i++)
                if (k == (VrThreadKind) (1u << i))
                        return vr_thread_names[i];
        return "other";
}

char *vr_thread_role(const VrThread *t) {
        if (t->kind == VR_THREAD_EMULATOR)
                return g_strdup("emulator");
        return g_strdup_printf("%s%d", vr_thread_kind_name(t->kind), t->index);
}

/* "CPU 12/KVM" -> 12 */
static bool parse_vcpu(const char *comm, int *ret) {
        unsigned n;
        char accel[8], tail;

        if (sscanf(comm, "CPU %u/%7[A-Z]%c", &n, accel, &tail) != 2)
                return false;
        if (!g_str_equal(accel, "KVM") && !g_str_equal(accel, "TCG"))
                return false;
        *ret = (int) n;
        return true;
}

/* "vhost-4242" -> 4242 */
static bool parse_vhost_owner(const char *comm, pid_t *ret) {
        char *end;
        long v;

        if (!g_str_has_prefix(comm, "vhost-") || !g_ascii_isdigit(comm[6]))
                return false;
        v = strtol(comm + 6, &end, 10);
        if (*end || v <= 0)
                return false;
        *ret = (pid_t) v;
        return true;
}

/* "napi/enp3s16f0-8193" -> true if the device is one of devs */
static bool napi_of(const char *comm, const char *const *devs) {
        const char *dash;
        g_autofree char *dev = NULL;

        if (!devs || !g_str_has_prefix(comm, "napi/"))
                return false;
        dash = strrchr(comm, '-');
        if (!dash || dash == comm + 5)
                return false;
        dev = g_strndup(comm + 5, (gsize) (dash - comm - 5));
        return g_strv_contains(devs, dev);
}

VrThreadKind vr_thread_classify(const char *comm, pid_t vm_pid, bool kthread, bool in_process,
                                const char *const *napi_devs, int *ret_index) {
        pid_t owner;
        int n = 0;

        if (ret_index)
                *ret_index = 0;
        if (kthread) {
                /* Before 6.4 (and with fork-owner control set to kthread mode since),
                 * vhost workers are kthreads named after the owner's pid. Threaded NAPI
                 * polls in kthreads named after the device. The names are truncated to
                 * 15 bytes, which still identifies the owner pid. */
                if (parse_vhost_owner(comm, &owner) && owner == vm_pid)
                        return VR_THREAD_VHOST;
                if (napi_of(comm, napi_devs))
                        return VR_THREAD_NAPI;
                return 0;
        }
        if (!in_process)
                return 0;
        if (parse_vcpu(comm, &n)) {
                if (ret_index)
                        *ret_index = n;
                return VR_THREAD_VCPU;
        }
        /* Since 6.4 vhost workers are threads of QEMU itself (vhost_task). */
        if (parse_vhost_owner(comm, &owner) && owner == vm_pid)
                return VR_THREAD_VHOST;
        /* QEMU names iothreads "IO <id>"; the monitor's own is housekeeping. */
        if (g_str_has_prefix(comm, "IO ") && !g_str_equal(comm, "IO mon_iothread"))
                return VR_THREAD_IOTHREAD;
        return VR_THREAD_EMULATOR;
}

static int compare_threads(gconstpointer a, gconstpointer b) {
        const VrThread *x = *(VrThread *const *) a, *y = *(VrThread *const *) b;
        if (x->kind != y->kind)
                return (x->kind > y->kind) - (x->kind < y->kind);
        if (x->kind == VR_THREAD_VCPU && x->index != y->index)
                return (x->index > y->index) - (x->index < y->index);
        return (x->tid > y->tid) - (x->tid < y->tid);
}

void vr_threads_sort_and_number(GPtrArray *threads) {
        int ords[32] = {0};

        g_ptr_array_sort(threads, compare_threads);
        for (guint i = 0; i < threads->len; i++) {
                VrThread *t = threads->pdata[i];
                if (t->kind != VR_THREAD_VCPU && t->kind != VR_THREAD_EMULATOR)
                        t->index = ords[__builtin_ctz((unsigned) t->kind)]++;
        }
}

