/* Data-driven tests of thread discovery and the tuning plan on the committed fake
 * /proc and cgroup trees (tests/data/proc/TREE). tests/data/tune/NAME.case names a
 * tree, a pid and a domain XML; the threads found, the plan and the cgroup files after
 * applying its writes to a copy of the tree must equal NAME.expected (or the error
 * NAME.err). Nothing here touches a real thread: the fake tids may exist on the host. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libxml/parser.h>

#include "vr-policy-xml.h"
#include "vr-apply.h"
#include "vr-cgroup.h"
#include "vr-error.h"
#include "vr-threads.h"
#include "vr-tune-host.h"
#include "vr-tune.h"
#include "vr-spec.h"
#include "vr-sysfs.h"
#include "vr-test.h"
#include "vr-xml.h"

static char *copy_tree(const char *tree) {
        g_autofree char *src = vr_test_data_path("proc", tree);
        g_autofree char *tmp = g_dir_make_tmp("vr-tune-XXXXXX", NULL);
        g_autofree char *cmd = NULL;
        int status = 0;

        if (!tmp)
                return NULL;
        cmd = g_strdup_printf("cp -a '%s/.' '%s/'", src, tmp);
        if (!g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL) || status != 0)
                return NULL;
        return g_steal_pointer(&tmp);
}

static void remove_tree(const char *dir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
        (void) g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL);
}

static void dump_plan(GString *out, GPtrArray *threads, const VrTunePlan *plan) {
        g_string_append(out, "threads:\n");
        for (guint i = 0; i < threads->len; i++) {
                const VrThread *t = threads->pdata[i];
                g_autofree char *role = vr_thread_role(t);
                g_string_append_printf(out, "  %-9s tid=%d%s comm='%s' cgroup=%s\n", role, (int) t->tid,
                                       t->kthread ? " kthread" : "", t->comm, t->cgroup ? t->cgroup : "-");
        }
        g_string_append(out, "actions:\n");
        for (guint i = 0; i < plan->actions->len; i++) {
                const VrTuneAction *a = plan->actions->pdata[i];
                g_autofree char *aff = a->affinity ? vr_cpuset_format(a->affinity) : g_strdup("-");
                g_string_append_printf(out, "  %-9s tid=%d cpus=%s", a->role, (int) a->tid, aff);
                if (a->set_sched) {
                        g_string_append_printf(out, " class=%s", vr_sched_class_names[a->cls]);
                        if (a->cls == VR_SCHED_FIFO || a->cls == VR_SCHED_RR)
                                g_string_append_printf(out, " priority=%d", a->priority);
                        if (a->cls == VR_SCHED_DEADLINE)
                                g_string_append_printf(out, " runtime=%" G_GUINT64_FORMAT "ns deadline=%" G_GUINT64_FORMAT "ns period=%" G_GUINT64_FORMAT "ns",
                                                       a->runtime_ns, a->deadline_ns, a->period_ns);
                        if (a->nice)
                                g_string_append_printf(out, " nice=%d", a->nice);
                }
                if (a->move_to)
                        g_string_append_printf(out, " move-to=%s", a->move_to);
                if (a->move_cpuset)
                        g_string_append_printf(out, " cpuset=%s", a->move_cpuset);
                if (a->error)
                        g_string_append_printf(out, "\n    error: %s", a->error);
                g_string_append_c(out, '\n');
        }
        g_string_append(out, "writes:\n");
        for (guint i = 0; i < plan->writes->len; i++) {
                const VrCgroupWrite *w = plan->writes->pdata[i];
                g_string_append_printf(out, "  /%s = %s%s\n", w->file, w->value, w->mkdir ? " (mkdir)" : "");
        }
        g_string_append(out, "notes:\n");
        for (guint i = 0; i < plan->notes->len; i++)
                g_string_append_printf(out, "  %s\n", (char *) plan->notes->pdata[i]);
}

static bool run_case(const char *base) {
        g_autofree char *case_path = vr_test_case_file("tune", base, ".case");
        g_autofree char *exp_path = vr_test_case_file("tune", base, ".expected");
        g_autofree char *err_path = vr_test_case_file("tune", base, ".err");
        g_autoptr(GKeyFile) kf = NULL;
        g_autoptr(GError) err = NULL;
        g_auto(VrTestTuneCase) c = {0};
        const char *tree;
        g_autofree char *root = NULL, *copy = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(VrPolicy) policy = NULL;
        g_autoptr(GPtrArray) threads = NULL;
        g_autoptr(VrTunePlan) plan = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        g_auto(VrTuneHost) host = {0};
        g_auto(GStrv) napi = NULL;
        pid_t pid;
        int r;

        kf = vr_test_load_tune_case(base, case_path, &c);
        if (!kf)
                return false;
        tree = c.tree, pid = c.pid;
        doc = vr_test_read_router(base, "tune", c.domain, c.conf, &policy, NULL);
        if (!doc)
                return false;
        napi = vr_domain_napi_devices(doc);
        root = vr_test_data_path("proc", tree);
        r = vr_threads_discover(root, pid, policy->dom.type, (const char *const *) napi, &threads);
        if (r < 0) {
                g_autofree char *msg = g_strdup_printf("discover pid %d: %s", (int) pid, g_strerror(-r));
                return vr_test_check_result(base, exp_path, err_path, NULL, msg);
        }
        if (vr_tune_host_read(root, &host) < 0) {
                fprintf(stderr, "%s: cannot read host facts under %s\n", base, root);
                return false;
        }
        plan = vr_tune_plan(policy, c.conf, &host, threads, &err);
        if (!plan)
                return vr_test_check_result(base, exp_path, err_path, NULL, err->message);
        dump_plan(out, threads, plan);

        /* The writes, applied to a copy of the tree: the files must hold the values. */
        copy = copy_tree(tree);
        if (!copy) {
                fprintf(stderr, "%s: cannot copy tree %s\n", base, tree);
                return false;
        }
        /* On cgroupfs, mkdir makes the group's control files appear; a copied tree
         * is a plain directory tree, so do what the kernel would. */
        for (guint i = 0; i < plan->writes->len; i++) {
                const VrCgroupWrite *w = plan->writes->pdata[i];
                g_autofree char *abs = vr_root_path(copy, "%s", w->file);
                g_autofree char *dir = g_path_get_dirname(abs);
                if (w->mkdir && !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
                        g_mkdir_with_parents(dir, 0755);
                        g_file_set_contents(abs, "0\n", -1, NULL);
                }
        }
        {
                g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func((GDestroyNotify) g_error_free);
                (void) vr_cgroup_apply_writes(vr_host_ops_real(), copy, plan->writes, NULL, errors);
                g_string_append_printf(out, "after applying the writes to a copy (%u failed):\n", errors->len);
                for (guint i = 0; i < errors->len; i++) {
                        g_autofree char *rel = NULL;
                        GString *e = g_string_new(((GError *) errors->pdata[i])->message);
                        g_string_replace(e, copy, "ROOT", 0);
                        rel = g_string_free(e, FALSE);
                        g_string_append_printf(out, "  error: %s\n", rel);
                }
                for (guint i = 0; i < plan->writes->len; i++) {
                        const VrCgroupWrite *w = plan->writes->pdata[i];
                        g_autofree char *v = NULL;
                        if (vr_read_line(copy, w->file, &v) < 0)
                                v = g_strdup("(missing)");
                        g_string_append_printf(out, "  /%s: %s\n", w->file, v);
                }
        }
        remove_tree(copy);
        return vr_test_check_result(base, exp_path, err_path, out->str, NULL);
}

static GPtrArray *cases;

int main(int argc, char **argv) {
        const char *only = argc > 1 ? argv[1] : NULL;
        unsigned passed = 0, failed = 0;

        cases = vr_test_list_cases("tune", ".case", NULL);
        for (guint i = 0; i < cases->len; i++) {
                const char *base = cases->pdata[i];
                bool ok;
                if (only && !g_str_equal(only, base))
                        continue;
                ok = vr_test_run_forked(run_case, base);
                printf("%s: tune/%s\n", ok ? "PASS" : "FAIL", base);
                ok ? passed++ : failed++;
        }
        g_ptr_array_unref(cases);
        printf("%u passed, %u failed\n", passed, failed);
        if (passed + failed == 0) {
                fprintf(stderr, "no cases under tests/data/tune\n");
                return 1;
        }
        return failed ? 1 : 0;
}
