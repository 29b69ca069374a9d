#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr-proc.h"
#include "vr-threads.h"

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

static VrThread *thread_new(const char *root, pid_t tgid, pid_t tid, const VrProcStat *st,
                            VrThreadKind kind, int index) {
        VrThread *t = g_new0(VrThread, 1);
        g_auto(VrProcCgroup) cg = {0};

        t->tid = tid;
        t->tgid = tgid;
        t->kind = kind;
        t->index = index;
        t->comm = g_strdup(st->comm);
        t->kthread = vr_proc_is_kthread(st);
        t->cpu_ticks = st->utime + st->stime;
        if (vr_proc_read_cgroup(root, tgid, tid == tgid ? 0 : tid, &cg) == 0)
                t->cgroup = g_strdup(cg.cpu_v1 ? cg.cpu_v1 : cg.unified);
        return t;
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

/* Threads of one process. */
static void add_process_threads(const char *root, pid_t pid, pid_t vm_pid, VrThreadKind force,
                                GPtrArray *out) {
        g_autoptr(GArray) tids = NULL;

        if (vr_proc_list_tasks(root, pid, &tids) < 0)
                return;
        for (guint i = 0; i < tids->len; i++) {
                pid_t tid = g_array_index(tids, pid_t, i);
                VrProcStat st;
                VrThreadKind kind;
                int index = 0;

                if (vr_proc_read_stat(root, pid, tid, &st) < 0)
                        continue; /* exited meanwhile */
                kind = force ? force : vr_thread_classify(st.comm, vm_pid, false, true, NULL, &index);
                if (kind)
                        g_ptr_array_add(out, thread_new(root, pid, tid, &st, kind, index));
        }
}

int vr_threads_discover(const char *root, pid_t vm_pid, VrDomainType type,
                        const char *const *napi_devs, GPtrArray **ret) {
        g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func((GDestroyNotify) vr_thread_free);
        g_autoptr(GArray) pids = NULL;
        g_auto(VrProcCgroup) vm_cg = {0};
        VrProcStat vm_st;
        int r;

        r = vr_proc_read_stat(root, vm_pid, 0, &vm_st);
        if (r < 0)
                return r == -EINVAL ? r : -ENOENT;
        if (type == VR_DOMAIN_LXC) {
                /* A container's work runs in its processes: every process in the
                 * init's cgroup belongs to the router. */
                if (vr_proc_read_cgroup(root, vm_pid, 0, &vm_cg) < 0)
                        return -ENOENT;
        } else {
                add_process_threads(root, vm_pid, vm_pid, 0, out);
        }
        /* Kernel threads (vhost before 6.4, NAPI) and a container's processes live
         * outside the VM process: one pass over ROOT/proc finds them. */
        r = vr_proc_list_pids(root, &pids);
        if (r < 0)
                return r;
        for (guint i = 0; i < pids->len; i++) {
                pid_t p = g_array_index(pids, pid_t, i);
                VrProcStat st;
                VrThreadKind kind;
                int index;

                if (p == vm_pid && type != VR_DOMAIN_LXC)
                        continue;
                if (vr_proc_read_stat(root, p, 0, &st) < 0)
                        continue;
                if (vr_proc_is_kthread(&st)) {
                        kind = vr_thread_classify(st.comm, vm_pid, true, false, napi_devs, &index);
                        if (kind)
                                g_ptr_array_add(out, thread_new(root, p, p, &st, kind, index));
                } else if (type == VR_DOMAIN_LXC) {
                        g_auto(VrProcCgroup) cg = {0};
                        const char *mine, *theirs;
                        if (vr_proc_read_cgroup(root, p, 0, &cg) < 0)
                                continue;
                        mine = vm_cg.cpu_v1 ? vm_cg.cpu_v1 : vm_cg.unified;
                        theirs = vm_cg.cpu_v1 ? cg.cpu_v1 : cg.unified;
                        if (mine && g_strcmp0(mine, theirs) == 0 && !g_str_equal(mine, "/"))
                                add_process_threads(root, p, vm_pid, VR_THREAD_EMULATOR, out);
                }
        }
        vr_threads_sort_and_number(out);
        *ret = g_steal_pointer(&out);
        return 0;
}
