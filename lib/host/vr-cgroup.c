#include "config.h"

#include <errno.h>
#include <string.h>

#include "vr-cgroup.h"
#include "vr-error.h"
#include "vr-sysfs.h"

int vr_cgroup_layout_read(const char *root, VrCgroupLayout *ret) {
        g_auto(VrCgroupMounts) m = {0};
        int r = vr_cgroup_mounts_read(root, &m);

        if (r < 0)
                return r;
        vr_cgroup_layout_from_mounts(&m, ret);
        return 0;
}

static bool is_file(const char *path, const char *name) {
        const char *base = strrchr(path, '/');
        return name && g_str_equal(base ? base + 1 : path, name);
}

/* What the kernel's refusal of a controller file most likely means. */
static const char *write_cause(const char *file, int r) {
        if (r == -EINVAL && is_file(file, vr_cgroup_v1.rt_runtime_file))
                return " (the parent group's or siblings' real-time budget does not leave that much)";
        if (r == -ENOENT && is_file(file, vr_cgroup_v2.weight_file))
                return " (the cpu controller is not enabled for the group: it must be in its parent's cgroup.subtree_control)";
        return "";
}

int vr_cgroup_write(const VrHostOps *ops, const char *root, const VrCgroupWrite *w, const char *domain,
                    GError **error) {
        g_autofree char *who = domain ? g_strdup_printf("domain '%s': ", domain) : g_strdup("");
        int r;

        if (w->mkdir) {
                g_autofree char *dir = g_path_get_dirname(w->file);
                r = ops->make_dir(ops, root, dir);
                if (r < 0) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "%scannot create cgroup /%s: %s", who, dir,
                                    g_strerror(-r));
                        return r;
                }
        }
        r = ops->write_file(ops, root, w->file, w->value);
        if (r < 0)
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "%scannot write %s to /%s: %s%s", who, w->value, w->file,
                            g_strerror(-r), write_cause(w->file, r));
        return r;
}

bool vr_cgroup_apply_writes(const VrHostOps *ops, const char *root, GPtrArray *writes, const char *domain,
                            GPtrArray *errors) {
        bool ok = true;

        for (guint i = 0; i < writes->len; i++) {
                g_autoptr(GError) err = NULL;
                if (vr_cgroup_write(ops, root, writes->pdata[i], domain, &err) < 0) {
                        ok = false;
                        if (errors)
                                g_ptr_array_add(errors, g_steal_pointer(&err));
                }
        }
        return ok;
}

/* A v2 group whose cgroup.type says it is part of a threaded subtree. */
static bool threaded(const char *root, const VrCgroupLayout *l, VrCgroupController c, const char *group) {
        const VrCgroupBackend *b = l->backend[c];
        g_autofree char *type_file = b->type_file ? vr_cgroup_path(l, c, group, b->type_file) : NULL;
        g_autofree char *type = NULL;

        return type_file && vr_read_line(root, type_file, &type) == 0 &&
               (g_str_equal(type, "threaded") || g_str_equal(type, "domain threaded"));
}

static const char *move_cause(const VrCgroupBackend *b, VrCgroupController c, int r) {
        if (r == -ENOENT)
                return " (the group is gone)";
        if (b->version == VR_CGROUP_V2 && (r == -EOPNOTSUPP || r == -EINVAL))
                return " (cgroup v2 takes a thread into a threaded group only from its own process's threaded subtree)";
        if (b->version == VR_CGROUP_V1 && c == VR_CGROUP_CPU && r == -EINVAL)
                return " (a real-time thread needs a group with real-time budget, cpu.rt_runtime_us)";
        return "";
}

int vr_cgroup_move_thread(const VrHostOps *ops, const char *root, const VrCgroupLayout *l, VrCgroupController c,
                          const char *group, pid_t tid, GError **error) {
        const VrCgroupBackend *b = l->backend[c];
        g_autofree char *file = NULL, *value = NULL;
        int r;

        if (!b) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                            "cannot move thread %d into %s cgroup %s: no %s controller is mounted", (int) tid,
                            vr_cgroup_controller_names[c], group, vr_cgroup_controller_names[c]);
                return -ENOENT;
        }
        file = vr_cgroup_path(l, c, group, b->version == VR_CGROUP_V2 && !threaded(root, l, c, group)
                                                   ? b->process_file : b->thread_file);
        value = g_strdup_printf("%d", (int) tid);
        r = ops->write_file(ops, root, file, value);
        if (r < 0)
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "cannot move thread %d into %s cgroup %s (writing /%s): %s%s",
                            (int) tid, vr_cgroup_controller_names[c], group, file, g_strerror(-r),
                            move_cause(b, c, r));
        return r;
}

int vr_cgroup_remove_group(const VrHostOps *ops, const char *root, const char *dir, int wait_ms, GError **error) {
        int r;

        /* The threads of a domain that exited may still be leaving the group (slowly
         * on a loaded host): try again every 50 ms while it is busy. */
        for (int waited = 0;; waited += 50) {
                r = ops->remove_dir(ops, root, dir);
                if (r != -EBUSY || waited >= wait_ms)
                        break;
                g_usleep(50000);
        }
        if (r == 0)
                return 1;
        if (r == -EBUSY || r == -ENOENT)
                return 0;
        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "cannot remove cgroup /%s: %s", dir, g_strerror(-r));
        return r;
}
