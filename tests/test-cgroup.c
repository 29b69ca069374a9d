/* The cgroup module (model/vr-cgroup-layout, host/vr-cgroup) on the committed fake
 * trees of a v1 host (vhost-task-v1, partitioned-v1) and a v2 host (vhost-kthread-v2):
 * which backend each controller gets, which file holds what, and the changes made
 * through the recording table of host operations (vr_host_ops_recorder_new), in order,
 * with the errors they give. Nothing is written: the trees are read only. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "vr-cgroup.h"
#include "vr-test.h"
#include "vr-tune-host.h"

typedef struct {
        VrHostOps *ops; /* the shared recorder (lib/host/vr-hostops-record.c): records only */
        char *root;
        VrCgroupLayout layout;
} Fixture;

static void fixture_open(Fixture *f, const char *tree) {
        memset(f, 0, sizeof(*f));
        f->ops = vr_host_ops_recorder_new(NULL);
        f->root = vr_test_data_path("proc", tree);
        g_assert_cmpint(vr_cgroup_layout_read(f->root, &f->layout), ==, 0);
}

static void fixture_close(Fixture *f) {
        vr_host_ops_recorder_free(f->ops);
        g_free(f->root);
        vr_cgroup_layout_clear(&f->layout);
}

/* The log so far, and start a new one. */
static char *take_log(Fixture *f) {
        return vr_host_ops_recorder_take_log(f->ops);
}

static VrCgroupWrite *write_new(const char *file, const char *value, bool mkdir) {
        VrCgroupWrite *w = g_new0(VrCgroupWrite, 1);
        w->file = g_strdup(file);
        w->value = g_strdup(value);
        w->mkdir = mkdir;
        return w;
}

static void test_layout(void) {
        Fixture v1, v2;
        g_autofree char *rt = NULL, *shares = NULL, *weight = NULL, *top = NULL;

        /* Hybrid v1: the v1 hierarchies win over the empty cgroup2 mount. */
        fixture_open(&v1, "vhost-task-v1");
        g_assert_true(v1.layout.backend[VR_CGROUP_CPU] == &vr_cgroup_v1);
        g_assert_true(v1.layout.backend[VR_CGROUP_CPUSET] == &vr_cgroup_v1);
        g_assert_cmpstr(v1.layout.mount[VR_CGROUP_CPU], ==, "/sys/fs/cgroup/cpu,cpuacct");
        g_assert_cmpstr(v1.layout.mount[VR_CGROUP_CPUSET], ==, "/sys/fs/cgroup/cpuset");
        rt = vr_cgroup_path(&v1.layout, VR_CGROUP_CPU, VR_RT_CGROUP, vr_cgroup_v1.rt_runtime_file);
        g_assert_cmpstr(rt, ==, "sys/fs/cgroup/cpu,cpuacct/virt-router-rt/cpu.rt_runtime_us");
        shares = vr_cgroup_path(&v1.layout, VR_CGROUP_CPU, "/machine/qemu-1-vr1.libvirt-qemu", vr_cgroup_v1.weight_file);
        g_assert_cmpstr(shares, ==, "sys/fs/cgroup/cpu,cpuacct/machine/qemu-1-vr1.libvirt-qemu/cpu.shares");
        top = vr_cgroup_path(&v1.layout, VR_CGROUP_CPUSET, "/", NULL);
        g_assert_cmpstr(top, ==, "sys/fs/cgroup/cpuset");
        g_assert_cmpuint(vr_cgroup_v1.weight_from_shares(2048), ==, 2048);
        fixture_close(&v1);

        /* Pure v2: both controllers on the one mount; weights on their own scale, no
         * RT group budget, threads of other processes not taken. */
        fixture_open(&v2, "vhost-kthread-v2");
        g_assert_true(v2.layout.backend[VR_CGROUP_CPU] == &vr_cgroup_v2);
        g_assert_true(v2.layout.backend[VR_CGROUP_CPUSET] == &vr_cgroup_v2);
        g_assert_cmpstr(v2.layout.mount[VR_CGROUP_CPU], ==, "/sys/fs/cgroup");
        weight = vr_cgroup_path(&v2.layout, VR_CGROUP_CPU, "/machine.slice", vr_cgroup_v2.weight_file);
        g_assert_cmpstr(weight, ==, "sys/fs/cgroup/machine.slice/cpu.weight");
        g_assert_cmpuint(vr_cgroup_v2.weight_from_shares(1024), ==, 39);
        g_assert_cmpuint(vr_cgroup_v2.weight_from_shares(2), ==, 1);
        g_assert_cmpuint(vr_cgroup_v2.weight_from_shares(1000000), ==, 10000);
        g_assert_null(vr_cgroup_v2.rt_runtime_file);
        g_assert_false(vr_cgroup_v2.moves_other_processes);
        fixture_close(&v2);

        /* Neither: no backend, no path. */
        {
                VrCgroupMounts none = {0};
                g_auto(VrCgroupLayout) l = {0};
                vr_cgroup_layout_from_mounts(&none, &l);
                g_assert_null(l.backend[VR_CGROUP_CPU]);
                g_assert_null(vr_cgroup_path(&l, VR_CGROUP_CPU, "/x", "cpu.weight"));
        }
}

/* What vr_tune_host_read makes of each tree through the layout. */
static void test_host_facts(void) {
        g_auto(VrTuneHost) v1 = {0}, v2 = {0}, part = {0};
        g_autofree char *r1 = vr_test_data_path("proc", "vhost-task-v1");
        g_autofree char *r2 = vr_test_data_path("proc", "vhost-kthread-v2");
        g_autofree char *rp = vr_test_data_path("proc", "partitioned-v1");

        g_assert_cmpint(vr_tune_host_read(r1, &v1), ==, 0);
        g_assert_true(v1.rt_group_sched);
        g_assert_cmpuint(v1.partitions->len, ==, 0);
        g_assert_cmpint(vr_tune_host_read(r2, &v2), ==, 0);
        g_assert_false(v2.rt_group_sched);
        g_assert_cmpuint(v2.partitions->len, ==, 0); /* v2 partitions are not read */
        g_assert_cmpint(vr_tune_host_read(rp, &part), ==, 0);
        g_assert_cmpuint(part.partitions->len, ==, 3);
        for (guint i = 0; i < part.partitions->len; i++) {
                const VrPartition *p = part.partitions->pdata[i];
                g_autofree char *cpus = vr_cpuset_format(p->cpus);
                g_autofree char *want = g_strdup_printf("/virt-router/cpu%s", cpus); /* one CPU each */
                g_assert_cmpstr(p->path, ==, want);
        }
}

static void test_writes(void) {
        Fixture f;
        g_autoptr(GPtrArray) writes = g_ptr_array_new_with_free_func(vr_cgroup_write_free);
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func((GDestroyNotify) g_error_free);
        g_autofree char *log = NULL;
        const GError *e;

        fixture_open(&f, "vhost-task-v1");
        g_ptr_array_add(writes, write_new("sys/fs/cgroup/cpu,cpuacct/virt-router-rt/cpu.rt_runtime_us", "950000", true));
        g_ptr_array_add(writes, write_new("sys/fs/cgroup/cpu,cpuacct/machine/qemu-1-vr1.libvirt-qemu/cpu.shares", "2048", false));
        g_assert_true(vr_cgroup_apply_writes(f.ops, f.root, writes, "vr1", errors));
        log = take_log(&f);
        g_assert_cmpstr(log, ==,
                        "mkdir sys/fs/cgroup/cpu,cpuacct/virt-router-rt\n"
                        "write sys/fs/cgroup/cpu,cpuacct/virt-router-rt/cpu.rt_runtime_us 950000\n"
                        "write sys/fs/cgroup/cpu,cpuacct/machine/qemu-1-vr1.libvirt-qemu/cpu.shares 2048\n");
        g_assert_cmpuint(errors->len, ==, 0);

        /* The budget refused: one error naming domain, value, file and cause; the
         * independent shares write is still made. */
        vr_host_ops_recorder_fail(f.ops, "write sys/fs/cgroup/cpu,cpuacct/virt-router-rt/cpu.rt_runtime_us", EINVAL);
        g_assert_false(vr_cgroup_apply_writes(f.ops, f.root, writes, "vr1", errors));
        g_clear_pointer(&log, g_free);
        log = take_log(&f);
        g_assert_nonnull(strstr(log, "cpu.shares 2048"));
        g_assert_cmpuint(errors->len, ==, 1);
        e = errors->pdata[0];
        g_assert_cmpstr(e->message, ==,
                        "domain 'vr1': cannot write 950000 to /sys/fs/cgroup/cpu,cpuacct/virt-router-rt/cpu.rt_runtime_us: Invalid argument (the parent group's or siblings' real-time budget does not leave that much)");

        /* A group that cannot be made: its write is not tried. */
        vr_host_ops_recorder_fail(f.ops, "mkdir sys/fs/cgroup/cpu,cpuacct/virt-router-rt", EACCES);
        g_ptr_array_set_size(errors, 0);
        g_assert_false(vr_cgroup_apply_writes(f.ops, f.root, writes, NULL, errors));
        g_clear_pointer(&log, g_free);
        log = take_log(&f);
        g_assert_null(strstr(log, "cpu.rt_runtime_us"));
        e = errors->pdata[0];
        g_assert_cmpstr(e->message, ==, "cannot create cgroup /sys/fs/cgroup/cpu,cpuacct/virt-router-rt: Permission denied");
        fixture_close(&f);

        /* v2: a weight the kernel has no file for says why. */
        fixture_open(&f, "vhost-kthread-v2");
        g_ptr_array_set_size(writes, 0);
        g_ptr_array_set_size(errors, 0);
        g_ptr_array_add(writes, write_new("sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvr1.scope/cpu.weight", "79", false));
        vr_host_ops_recorder_fail(f.ops, ((VrCgroupWrite *) writes->pdata[0])->file, ENOENT);
        g_assert_false(vr_cgroup_apply_writes(f.ops, f.root, writes, "vr1", errors));
        e = errors->pdata[0];
        g_assert_nonnull(strstr(e->message, "cpu.weight: No such file or directory (the cpu controller is not enabled for the group"));
        fixture_close(&f);
}

static void test_move(void) {
        Fixture f;
        g_autoptr(GError) err = NULL;
        g_autofree char *log = NULL;

        /* v1: one thread through "tasks", in either controller. */
        fixture_open(&f, "partitioned-v1");
        g_assert_cmpint(vr_cgroup_move_thread(f.ops, f.root, &f.layout, VR_CGROUP_CPUSET, "/virt-router/cpu2", 4246, &err), ==, 0);
        g_assert_cmpint(vr_cgroup_move_thread(f.ops, f.root, &f.layout, VR_CGROUP_CPU, "/" VR_RT_CGROUP, 4246, &err), ==, 0);
        log = take_log(&f);
        g_assert_cmpstr(log, ==,
                        "write sys/fs/cgroup/cpuset/virt-router/cpu2/tasks 4246\n"
                        "write sys/fs/cgroup/cpu,cpuacct/virt-router-rt/tasks 4246\n");
        /* The RT group removed meanwhile: -ENOENT, so the tuner makes it again. */
        vr_host_ops_recorder_fail(f.ops, "write sys/fs/cgroup/cpu,cpuacct/virt-router-rt/tasks", ENOENT);
        g_assert_cmpint(vr_cgroup_move_thread(f.ops, f.root, &f.layout, VR_CGROUP_CPU, "/" VR_RT_CGROUP, 4246, &err), ==, -ENOENT);
        g_assert_cmpstr(err->message, ==,
                        "cannot move thread 4246 into cpu cgroup /virt-router-rt (writing /sys/fs/cgroup/cpu,cpuacct/virt-router-rt/tasks): No such file or directory (the group is gone)");
        g_clear_error(&err);
        fixture_close(&f);

        /* v2: a threaded group takes one thread (cgroup.threads); a domain group only
         * whole processes (cgroup.procs), as cgroup.type under the root says. */
        fixture_open(&f, "vhost-kthread-v2");
        g_assert_cmpint(vr_cgroup_move_thread(f.ops, f.root, &f.layout, VR_CGROUP_CPU,
                                              "/machine.slice/machine-qemu\\x2d1\\x2dvr1.scope/libvirt/emulator", 5002, &err), ==, 0);
        g_assert_cmpint(vr_cgroup_move_thread(f.ops, f.root, &f.layout, VR_CGROUP_CPU,
                                              "/machine.slice/machine-qemu\\x2d1\\x2dvr1.scope", 5002, &err), ==, 0);
        g_clear_pointer(&log, g_free);
        log = take_log(&f);
        g_assert_cmpstr(log, ==,
                        "write sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvr1.scope/libvirt/emulator/cgroup.threads 5002\n"
                        "write sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvr1.scope/cgroup.procs 5002\n");
        /* A kernel thread into the threaded subtree of another process: refused, said why. */
        vr_host_ops_recorder_fail(f.ops, "sys/fs/cgroup/machine.slice/machine-qemu\\x2d1\\x2dvr1.scope/libvirt/emulator/cgroup.threads",
                                  EOPNOTSUPP);
        g_assert_cmpint(vr_cgroup_move_thread(f.ops, f.root, &f.layout, VR_CGROUP_CPU,
                                              "/machine.slice/machine-qemu\\x2d1\\x2dvr1.scope/libvirt/emulator", 5100, &err), ==, -EOPNOTSUPP);
        g_assert_nonnull(strstr(err->message, "only from its own process's threaded subtree"));
        fixture_close(&f);
}

static void test_remove(void) {
        Fixture f;
        g_autoptr(GError) err = NULL;
        g_autofree char *log = NULL;
        const char *rt = "sys/fs/cgroup/cpu,cpuacct/virt-router-rt";

        fixture_open(&f, "vhost-task-v1");
        /* Busy while the domain's threads leave, then removed. */
        vr_host_ops_recorder_fail_times(f.ops, rt, EBUSY, 2);
        g_assert_cmpint(vr_cgroup_remove_group(f.ops, f.root, rt, 2000, &err), ==, 1);
        log = take_log(&f);
        g_assert_cmpstr(log, ==, "rmdir sys/fs/cgroup/cpu,cpuacct/virt-router-rt -> error EBUSY\n"
                                 "rmdir sys/fs/cgroup/cpu,cpuacct/virt-router-rt -> error EBUSY\n"
                                 "rmdir sys/fs/cgroup/cpu,cpuacct/virt-router-rt\n");
        /* Still in use after the wait (another router's threads): left, no error. */
        vr_host_ops_recorder_fail_times(f.ops, rt, EBUSY, -1);
        g_assert_cmpint(vr_cgroup_remove_group(f.ops, f.root, rt, 0, &err), ==, 0);
        g_assert_no_error(err);
        /* Gone already: nothing to do. */
        vr_host_ops_recorder_fail(f.ops, rt, ENOENT);
        g_assert_cmpint(vr_cgroup_remove_group(f.ops, f.root, rt, 0, &err), ==, 0);
        g_assert_no_error(err);
        /* Refused: an error naming the group. */
        vr_host_ops_recorder_fail(f.ops, rt, EACCES);
        g_assert_cmpint(vr_cgroup_remove_group(f.ops, f.root, rt, 0, &err), ==, -EACCES);
        g_assert_cmpstr(err->message, ==, "cannot remove cgroup /sys/fs/cgroup/cpu,cpuacct/virt-router-rt: Permission denied");
        fixture_close(&f);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/cgroup/layout", test_layout);
        g_test_add_func("/cgroup/host-facts", test_host_facts);
        g_test_add_func("/cgroup/writes", test_writes);
        g_test_add_func("/cgroup/move", test_move);
        g_test_add_func("/cgroup/remove", test_remove);
        return g_test_run();
}
