#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vr-proc.h"
#include "vr-sysfs.h"

int vr_proc_stat_parse(const char *text, VrProcStat *ret) {
        const char *open = strchr(text, '('), *close = strrchr(text, ')');
        g_autofree char *rest = NULL;
        g_auto(GStrv) f = NULL;
        VrProcStat st = {0};
        size_t n;
        char *end;

        if (!open || !close || close < open)
                return -EINVAL;
        st.pid = (pid_t) strtol(text, &end, 10);
        if (end == text || st.pid <= 0)
                return -EINVAL;
        n = MIN((size_t) (close - open - 1), sizeof(st.comm) - 1);
        memcpy(st.comm, open + 1, n);
        st.comm[n] = '\0';
        /* After the comm: f[0] is field 3 (state), f[k] is field k+3. */
        rest = g_strstrip(g_strdup(close + 1));
        f = g_strsplit(rest, " ", -1);
        if (g_strv_length(f) < 39)
                return -EINVAL;
        st.state = f[0][0];
        st.ppid = (pid_t) strtol(f[1], NULL, 10);
        st.flags = (unsigned) strtoul(f[6], NULL, 10);
        st.utime = g_ascii_strtoull(f[11], NULL, 10);
        st.stime = g_ascii_strtoull(f[12], NULL, 10);
        st.num_threads = strtol(f[17], NULL, 10);
        st.starttime = g_ascii_strtoull(f[19], NULL, 10);
        st.processor = (int) strtol(f[36], NULL, 10);
        st.rt_priority = (unsigned) strtoul(f[37], NULL, 10);
        st.policy = (unsigned) strtoul(f[38], NULL, 10);
        *ret = st;
        return 0;
}

static char *task_file(pid_t pid, pid_t tid, const char *name) {
        if (tid > 0)
                return g_strdup_printf("proc/%d/task/%d/%s", (int) pid, (int) tid, name);
        return g_strdup_printf("proc/%d/%s", (int) pid, name);
}

int vr_proc_read_stat(const char *root, pid_t pid, pid_t tid, VrProcStat *ret) {
        g_autofree char *rel = task_file(pid, tid, "stat");
        g_autofree char *text = NULL;
        int r = vr_read_line(root, rel, &text);

        if (r < 0)
                return r;
        return vr_proc_stat_parse(text, ret);
}

bool vr_proc_is_kthread(const VrProcStat *st) {
        return (st->flags & VR_PF_KTHREAD) != 0;
}

int vr_proc_id_read(const char *root, pid_t pid, VrProcId *ret) {
        VrProcStat st;
        int r;

        if (pid <= 0)
                return -ENOENT;
        r = vr_proc_read_stat(root, pid, 0, &st);
        if (r < 0)
                return r;
        *ret = (VrProcId){pid, st.starttime, NULL};
        return 0;
}

bool vr_proc_id_alive(const char *root, const VrProcId *id) {
        VrProcStat st;

        if (id->pid <= 0 || vr_proc_read_stat(root, id->pid, 0, &st) < 0 || st.state == 'Z')
                return false;
        if (id->comm && !g_str_equal(st.comm, id->comm))
                return false;
        return !id->starttime || st.starttime == id->starttime;
}

static int compare_pid(gconstpointer a, gconstpointer b) {
        pid_t x = *(const pid_t *) a, y = *(const pid_t *) b;
        return (x > y) - (x < y);
}

static int list_numeric(const char *dir, GArray **ret) {
        g_autoptr(GDir) d = NULL;
        g_autoptr(GArray) ids = g_array_new(FALSE, FALSE, sizeof(pid_t));
        const char *name;

        d = g_dir_open(dir, 0, NULL);
        if (!d)
                return -ENOENT;
        while ((name = g_dir_read_name(d))) {
                char *end;
                long v = strtol(name, &end, 10);
                pid_t p;
                if (*end || v <= 0 || !g_ascii_isdigit(name[0]))
                        continue;
                p = (pid_t) v;
                g_array_append_val(ids, p);
        }
        g_array_sort(ids, compare_pid);
        *ret = g_steal_pointer(&ids);
        return 0;
}

int vr_proc_list_tasks(const char *root, pid_t pid, GArray **ret_tids) {
        g_autofree char *dir = vr_root_path(root, "proc/%d/task", (int) pid);
        return list_numeric(dir, ret_tids);
}

int vr_proc_list_pids(const char *root, GArray **ret_pids) {
        g_autofree char *dir = vr_root_path(root, "proc");
        return list_numeric(dir, ret_pids);
}

pid_t vr_proc_child_of(const char *root, pid_t parent) {
        g_autoptr(GArray) pids = NULL;

        if (parent <= 0 || vr_proc_list_pids(root, &pids) < 0)
                return 0;
        for (guint i = 0; i < pids->len; i++) {
                VrProcStat st;
                pid_t p = g_array_index(pids, pid_t, i);
                if (vr_proc_read_stat(root, p, 0, &st) == 0 && st.ppid == parent && !vr_proc_is_kthread(&st))
                        return p;
        }
        return 0;
}

void vr_proc_cgroup_clear(VrProcCgroup *c) {
        g_clear_pointer(&c->cpu_v1, g_free);
        g_clear_pointer(&c->cpuset_v1, g_free);
        g_clear_pointer(&c->unified, g_free);
}

static void replace_str(char **dst, const char *src) {
        g_free(*dst);
        *dst = g_strdup(src);
}

static bool has_controller(const char *list, const char *ctrl) {
        g_auto(GStrv) parts = g_strsplit(list, ",", -1);
        return g_strv_contains((const char *const *) parts, ctrl);
}

int vr_proc_read_cgroup(const char *root, pid_t pid, pid_t tid, VrProcCgroup *ret) {
        g_autofree char *rel = task_file(pid, tid, "cgroup");
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        VrProcCgroup c = {0};
        int r = vr_read_line(root, rel, &text);

        if (r < 0)
                return r;
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++) {
                /* "hierarchy-ID:controller-list:path"; the path may itself hold ':'. */
                g_auto(GStrv) f = g_strsplit(*l, ":", 3);
                if (!f[0] || !f[1] || !f[2])
                        continue;
                if (g_str_equal(f[0], "0") && !*f[1])
                        replace_str(&c.unified, f[2]);
                else if (has_controller(f[1], "cpu"))
                        replace_str(&c.cpu_v1, f[2]);
                else if (has_controller(f[1], "cpuset"))
                        replace_str(&c.cpuset_v1, f[2]);
        }
        *ret = c;
        return 0;
}

void vr_cgroup_mounts_clear(VrCgroupMounts *m) {
        g_clear_pointer(&m->cpu_v1, g_free);
        g_clear_pointer(&m->cpuset_v1, g_free);
        g_clear_pointer(&m->unified, g_free);
}

int vr_cgroup_mounts_read(const char *root, VrCgroupMounts *ret) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        VrCgroupMounts m = {0};
        int r = vr_read_line(root, "proc/self/mountinfo", &text);

        if (r < 0)
                return r;
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++) {
                /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
                g_auto(GStrv) f = g_strsplit(*l, " ", -1);
                guint n = g_strv_length(f), sep;
                for (sep = 6; sep < n && !g_str_equal(f[sep], "-"); sep++)
                        ;
                if (n < 7 || sep + 3 >= n)
                        continue;
                if (g_str_equal(f[sep + 1], "cgroup2")) {
                        if (!m.unified)
                                m.unified = g_strdup(f[4]);
                } else if (g_str_equal(f[sep + 1], "cgroup")) {
                        if (!m.cpu_v1 && has_controller(f[sep + 3], "cpu"))
                                m.cpu_v1 = g_strdup(f[4]);
                        if (!m.cpuset_v1 && has_controller(f[sep + 3], "cpuset"))
                                m.cpuset_v1 = g_strdup(f[4]);
                }
        }
        *ret = m;
        return 0;
}

pid_t vr_libvirt_pid(const char *root, const char *driver, const char *domain) {
        static const char *const drivers[] = {"qemu", "lxc", NULL};
        const char *const one[] = {driver, NULL};

        /* The name becomes part of a path: "../../run/sshd" would read another daemon's
         * pid file and hand its pid on. */
        if (vr_name_problem(domain, NAME_MAX - strlen(".pid")) || (driver && vr_name_problem(driver, NAME_MAX)))
                return 0;
        for (const char *const *d = driver ? one : drivers; *d; d++) {
                g_autofree char *rel = g_strdup_printf("run/libvirt/%s/%s.pid", *d, domain);
                g_autofree char *s = NULL;
                if (vr_read_line(root, rel, &s) == 0)
                        return (pid_t) g_ascii_strtoll(s, NULL, 10);
        }
        return 0;
}

int vr_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
        int fd = (int) syscall(SYS_pidfd_open, pid, 0);
        return fd < 0 ? -errno : fd;
#else
        (void) pid;
        return -ENOSYS;
#endif
}
