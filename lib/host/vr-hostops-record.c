/* The recording table of host operations: what tests put in place of the real host.
 *
 * Writes, mkdirs and rmdirs under the recorder's own root (a copy of a fake tree) are
 * carried out there as well as recorded: the code under test reads back what it wrote
 * (a queue length's old value on the next start, whether a device is still there
 * before its undo, a driver binding), and a test then sees the tree the real host
 * would have. Everything else (netlink, syscalls on threads, tc, other namespaces)
 * is only recorded: it has no file a later read would see. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "vr-error.h"
#include "vr-hostops.h"
#include "vr-sysfs.h"

typedef struct {
        char *root;       /* where writes are carried out, NULL: nowhere */
        GString *log;
        char *fail_match; /* the next fail_times calls whose line contains it are refused */
        int fail_err;
        int fail_times;   /* < 0: every such call */
} Recorder;

/* Log LINE; 0, or the refusal asked for (then logged with it, and not carried out). */
static int record(const VrHostOps *ops, char *line) {
        Recorder *rec = ops->data;
        g_autofree char *owned = line;
        int r = 0;

        if (rec->fail_match && strstr(line, rec->fail_match)) {
                r = -rec->fail_err;
                if (rec->fail_times > 0 && --rec->fail_times == 0)
                        g_clear_pointer(&rec->fail_match, g_free);
        }
        g_string_append(rec->log, line);
        if (r < 0)
                g_string_append_printf(rec->log, " -> error %s", strerrorname_np(-r));
        g_string_append_c(rec->log, '\n');
        return r;
}

static bool carry_out(const VrHostOps *ops, const char *root) {
        const Recorder *rec = ops->data;
        return rec->root && g_str_equal(rec->root, root);
}

static int rec_write_file(const VrHostOps *ops, const char *root, const char *relpath, const char *value) {
        VrHostOp op = {.kind = VR_HOST_OP_WRITE, .path = (char *) relpath, .value = (char *) value};
        int r = record(ops, vr_host_op_format(&op));
        if (r < 0 || !carry_out(ops, root))
                return r;
        r = vr_write_file(root, relpath, value);
        if (r == -ENOENT) { /* a fake tree has no kernel behind it: the write makes the attribute */
                g_autofree char *abs = vr_root_path(root, "%s", relpath);
                r = g_file_set_contents(abs, value, -1, NULL) ? 0 : -ENOENT;
        }
        return r;
}

static int rec_make_dir(const VrHostOps *ops, const char *root, const char *relpath) {
        int r = record(ops, g_strdup_printf("mkdir %s", relpath));
        return r < 0 || !carry_out(ops, root) ? r : vr_host_ops_real()->make_dir(ops, root, relpath);
}

static int rec_remove_dir(const VrHostOps *ops, const char *root, const char *relpath) {
        int r = record(ops, g_strdup_printf("rmdir %s", relpath));
        return r < 0 || !carry_out(ops, root) ? r : vr_host_ops_real()->remove_dir(ops, root, relpath);
}

static int rec_set_affinity(const VrHostOps *ops, pid_t tid, const VrCpuSet *cpus) {
        g_autofree char *s = vr_cpuset_format(cpus);
        return record(ops, g_strdup_printf("affinity %d %s", (int) tid, s));
}

static int rec_sched_setattr(const VrHostOps *ops, pid_t tid, const struct vr_sched_attr *a) {
        switch (a->sched_policy) {
        case SCHED_FIFO:
        case SCHED_RR:
                return record(ops, g_strdup_printf("sched_setattr %d %s priority=%u", (int) tid,
                                                   a->sched_policy == SCHED_FIFO ? "fifo" : "rr", a->sched_priority));
        case SCHED_DEADLINE:
                return record(ops, g_strdup_printf("sched_setattr %d deadline runtime=%" G_GUINT64_FORMAT
                                                   " deadline=%" G_GUINT64_FORMAT " period=%" G_GUINT64_FORMAT,
                                                   (int) tid, a->sched_runtime, a->sched_deadline, a->sched_period));
        case SCHED_IDLE:
                return record(ops, g_strdup_printf("sched_setattr %d idle", (int) tid));
        default:
                return record(ops, g_strdup_printf("sched_setattr %d %s nice=%d", (int) tid,
                                                   a->sched_policy == SCHED_BATCH ? "batch" : "other", a->sched_nice));
        }
}

static int rec_vf_set_flags(const VrHostOps *ops, const char *pf, int vf, int spoofchk, int trust) {
        VrHostOp op = {.kind = VR_HOST_OP_VF_FLAGS, .dev = (char *) pf, .vf = vf, .spoofchk = spoofchk, .trust = trust};
        return record(ops, vr_host_op_format(&op));
}

static int rec_netns_set_txqlen(const VrHostOps *ops, pid_t pid, const char *dev, int qlen) {
        VrHostOp op = {.kind = VR_HOST_OP_NETNS_TXQLEN, .pid = pid, .dev = (char *) dev, .qlen = qlen};
        return record(ops, vr_host_op_format(&op));
}

static int rec_tc(const VrHostOps *ops, const char *tc G_GNUC_UNUSED, char *const *args, GError **error) {
        VrHostOp op = {.kind = VR_HOST_OP_TC, .args = (char **) args};
        int r = record(ops, vr_host_op_format(&op));
        if (r < 0) /* what tc would say, in the shape vr_tc_run gives it */
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "Error: %s.", g_strerror(-r));
        return r < 0 ? -EIO : 0;
}

VrHostOps *vr_host_ops_recorder_new(const char *carry_out_root) {
        VrHostOps *ops = g_new0(VrHostOps, 1);
        Recorder *rec = g_new0(Recorder, 1);

        rec->root = g_strdup(carry_out_root);
        rec->log = g_string_new(NULL);
        *ops = (VrHostOps){
                .write_file = rec_write_file,
                .make_dir = rec_make_dir,
                .remove_dir = rec_remove_dir,
                .set_affinity = rec_set_affinity,
                .sched_setattr = rec_sched_setattr,
                .vf_set_flags = rec_vf_set_flags,
                .netns_set_txqlen = rec_netns_set_txqlen,
                .tc = rec_tc,
                .data = rec,
        };
        return ops;
}

void vr_host_ops_recorder_free(VrHostOps *ops) {
        Recorder *rec;

        if (!ops)
                return;
        rec = ops->data;
        g_free(rec->root);
        g_string_free(rec->log, TRUE);
        g_free(rec->fail_match);
        g_free(rec);
        g_free(ops);
}

const char *vr_host_ops_recorder_log(const VrHostOps *ops) {
        return ((const Recorder *) ops->data)->log->str;
}

char *vr_host_ops_recorder_take_log(VrHostOps *ops) {
        Recorder *rec = ops->data;
        char *s = g_strdup(rec->log->str);
        g_string_truncate(rec->log, 0);
        return s;
}

void vr_host_ops_recorder_fail_times(VrHostOps *ops, const char *match, int err, int times) {
        Recorder *rec = ops->data;
        g_free(rec->fail_match);
        rec->fail_match = times != 0 ? g_strdup(match) : NULL;
        rec->fail_err = err;
        rec->fail_times = times;
}

void vr_host_ops_recorder_fail(VrHostOps *ops, const char *match, int err) {
        vr_host_ops_recorder_fail_times(ops, match, err, 1);
}
