#include "config.h"

#include <errno.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vr-error.h"
#include "vr-hostops.h"
#include "vr-netdev.h"
#include "vr-sysfs.h"

static int real_write_file(const VrHostOps *ops G_GNUC_UNUSED, const char *root, const char *relpath,
                           const char *value) {
        return vr_write_file(root, relpath, value);
}

static int real_make_dir(const VrHostOps *ops G_GNUC_UNUSED, const char *root, const char *relpath) {
        g_autofree char *abs = vr_root_path(root, "%s", relpath);
        return mkdir(abs, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int real_remove_dir(const VrHostOps *ops G_GNUC_UNUSED, const char *root, const char *relpath) {
        g_autofree char *abs = vr_root_path(root, "%s", relpath);
        return rmdir(abs) < 0 ? -errno : 0;
}

static int real_set_affinity(const VrHostOps *ops G_GNUC_UNUSED, pid_t tid, const VrCpuSet *set) {
        cpu_set_t *mask;
        size_t size;
        int last = vr_cpuset_last(set), r = 0;

        if (last < 0)
                return -EINVAL;
        mask = CPU_ALLOC((size_t) last + 1);
        size = CPU_ALLOC_SIZE((size_t) last + 1);
        CPU_ZERO_S(size, mask);
        for (int c = 0; c <= last; c++)
                if (vr_cpuset_test(set, (unsigned) c))
                        CPU_SET_S((size_t) c, size, mask);
        if (sched_setaffinity(tid, size, mask) < 0)
                r = -errno;
        CPU_FREE(mask);
        return r;
}

static int real_sched_setattr(const VrHostOps *ops G_GNUC_UNUSED, pid_t tid, const struct vr_sched_attr *attr) {
        return vr_sched_setattr(tid, attr);
}

static int real_vf_set_flags(const VrHostOps *ops G_GNUC_UNUSED, const char *pf, int vf, int spoofchk, int trust) {
        return vr_vf_set_flags(pf, vf, spoofchk, trust);
}

static int real_netns_set_txqlen(const VrHostOps *ops G_GNUC_UNUSED, pid_t pid, const char *dev, int qlen) {
        return vr_netns_set_txqlen(pid, dev, qlen);
}

static int real_tc(const VrHostOps *ops G_GNUC_UNUSED, const char *tc, char *const *args, GError **error) {
        return vr_tc_run(tc, args, error);
}

const VrHostOps *vr_host_ops_real(void) {
        static const VrHostOps real = {
                .write_file = real_write_file,
                .make_dir = real_make_dir,
                .remove_dir = real_remove_dir,
                .set_affinity = real_set_affinity,
                .sched_setattr = real_sched_setattr,
                .vf_set_flags = real_vf_set_flags,
                .netns_set_txqlen = real_netns_set_txqlen,
                .tc = real_tc,
        };
        return &real;
}

const VrHostOps *vr_host_ops_or_real(const VrHostOps *ops) {
        return ops ? ops : vr_host_ops_real();
}

int vr_host_op_run(const VrHostOps *ops, const char *root, const char *tc, const VrHostOp *op, GError **error) {
        g_autoptr(GError) said = NULL;
        g_autofree char *args = NULL;
        int r = -EINVAL;

        switch (op->kind) {
        case VR_HOST_OP_WRITE: r = ops->write_file(ops, root, op->path, op->value); break;
        case VR_HOST_OP_VF_FLAGS: r = ops->vf_set_flags(ops, op->dev, op->vf, op->spoofchk, op->trust); break;
        case VR_HOST_OP_NETNS_TXQLEN: r = ops->netns_set_txqlen(ops, op->pid, op->dev, op->qlen); break;
        case VR_HOST_OP_TC:
                r = ops->tc(ops, tc, op->args, &said);
                if (r < 0) {
                        args = g_strjoinv(" ", op->args);
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "'tc %s' failed: %s", args,
                                    said && *said->message ? said->message : g_strerror(-r));
                }
                return r;
        }
        if (r < 0)
                g_set_error_literal(error, VR_ERROR, VR_ERROR_HOST, g_strerror(-r));
        return r;
}
