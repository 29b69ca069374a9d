#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vr-cgroup-layout.h"
#include "vr-proc.h"
#include "vr-thread.h"
#include "vr-threads.h"

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
                t->cgroup = g_strdup(vr_cgroup_cpu_group(&cg));
        return t;
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
