/* The hook's plans and what carrying them out does, without root. A case is
 * tests/data/hook-plan/NAME.case (a key file):
 *
 *   [case]
 *   xml=FILE         the domain XML libvirt hands over (default NAME.xml)
 *   sysroot=TREE     a fake tree under tests/data/sysroot, copied (default: an empty one)
 *   ops=start;stopped  the hook operations, in order
 *   fail=TEXT        the first host operation whose recorded line contains TEXT ...
 *   errno=NAME       ... is refused with this errno (EPERM, EBUSY, EOPNOTSUPP, ...)
 *   unwritable-state=true  the state directory is a plain file: no journal can be written
 *   [files]
 *   RELPATH=TEXT     files made in the copied tree first (queue lengths, /proc, pid files)
 *
 * with the host config of NAME.conf or host.conf. For each operation NAME.expected
 * holds the plan (vr_hook_plan_text: each change and its undo), the host operations
 * the recording table saw, what the hook logged, its result and the journal after it.
 * Each case runs in a forked child; VR_TEST_REGENERATE=1 rewrites the expected files. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "vr-hook.h"
#include "vr-hook-plan.h"
#include "vr-hostops.h"
#include "vr-test.h"

static int errno_named(const char *name) {
        static const struct {
                const char *name;
                int err;
        } names[] = {{"EPERM", EPERM}, {"EBUSY", EBUSY}, {"EINVAL", EINVAL}, {"EIO", EIO},
                     {"ENODEV", ENODEV}, {"EOPNOTSUPP", EOPNOTSUPP}, {"ENOENT", ENOENT}};
        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                if (g_str_equal(names[i].name, name))
                        return names[i].err;
        return 0;
}

/* The journal's steps (the one DOMAIN.hook.json in STATE) in the plan's one-line form;
 * "(none)" when there is no journal. */
static char *journal_text(const char *state) {
        g_autoptr(GDir) d = g_dir_open(state, 0, NULL);
        g_autofree char *path = NULL, *text = NULL;
        g_autoptr(GError) e = NULL;
        g_autoptr(VrHookPlan) plan = NULL;
        GPtrArray *steps;
        const char *n;

        while (d && !path && (n = g_dir_read_name(d)))
                if (g_str_has_suffix(n, ".hook.json"))
                        path = g_build_filename(state, n, NULL);
        if (!path || !g_file_get_contents(path, &text, NULL, NULL))
                return g_strdup("(none)\n");
        steps = vr_hook_journal_parse(text, &e);
        if (!steps)
                return g_strdup_printf("(not a journal: %s)\n", e->message);
        plan = vr_hook_plan_new();
        g_ptr_array_extend_and_steal(plan->steps, steps);
        return plan->steps->len ? vr_hook_plan_format(plan) : g_strdup("(no steps)\n");
}

/* Run one operation with stderr (the hook's log) captured into *ret_log. */
static int run_captured(const VrHookRequest *req, const char *log_path, char **ret_log, GError **error) {
        g_autofree char *out = NULL;
        int saved = dup(STDERR_FILENO), fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        int r;

        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        r = vr_hook_run(req, &out, error);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        close(fd);
        if (!g_file_get_contents(log_path, ret_log, NULL, NULL))
                *ret_log = g_strdup("");
        return r;
}

static void append_prefixed(GString *s, const char *prefix, const char *text) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                if (**l)
                        g_string_append_printf(s, "%s%s\n", prefix, *l);
}

static bool run_case(const char *base) {
        g_autofree char *case_path = vr_test_case_file("hook-plan", base, ".case");
        g_autofree char *exp_path = vr_test_case_file("hook-plan", base, ".expected");
        g_autoptr(VrHostConf) conf = vr_test_case_conf("hook-plan", base);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) err = NULL;
        g_autofree char *tmp = NULL, *root = NULL, *state = NULL, *xml_name = NULL, *xml_path = NULL;
        g_autofree char *xml = NULL, *sysroot = NULL, *fail = NULL, *fail_errno = NULL, *got = NULL;
        g_autofree char *log_path = NULL, *domain = NULL;
        const char *name, *end;
        g_auto(GStrv) ops = NULL, files = NULL;
        g_autoptr(VrHostOps) rec = NULL;
        g_autoptr(GString) s = g_string_new(NULL);
        g_auto(GStrv) parts = NULL;
        gsize xml_len = 0;

        if (!conf)
                return false;
        if (!g_key_file_load_from_file(kf, case_path, G_KEY_FILE_NONE, &err)) {
                fprintf(stderr, "%s: %s: %s\n", base, case_path, err->message);
                return false;
        }
        xml_name = g_key_file_get_string(kf, "case", "xml", NULL);
        xml_path = xml_name ? vr_test_data_path("hook-plan", xml_name) : vr_test_case_file("hook-plan", base, ".xml");
        ops = g_key_file_get_string_list(kf, "case", "ops", NULL, NULL);
        sysroot = g_key_file_get_string(kf, "case", "sysroot", NULL);
        fail = g_key_file_get_string(kf, "case", "fail", NULL);
        fail_errno = g_key_file_get_string(kf, "case", "errno", NULL);
        if (!ops || !g_file_get_contents(xml_path, &xml, &xml_len, NULL) ||
            (fail && (!fail_errno || !errno_named(fail_errno)))) {
                fprintf(stderr, "%s: expected ops=, a readable %s, and errno=NAME with fail=\n", base, xml_path);
                return false;
        }
        tmp = g_dir_make_tmp("vr-hook-plan-XXXXXX", NULL);
        root = g_build_filename(tmp, "root", NULL);
        state = g_build_filename(tmp, "state", NULL);
        log_path = g_build_filename(tmp, "log", NULL);
        if (sysroot) { /* a symlink tree: copied as links */
                g_autofree char *src = vr_test_data_path("sysroot", sysroot);
                const char *argv[] = {"cp", "-a", src, root, NULL};
                int status = 0;
                if (!g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status,
                                  &err) || !g_spawn_check_wait_status(status, &err)) {
                        fprintf(stderr, "%s: copying %s: %s\n", base, src, err->message);
                        return false;
                }
        }
        g_mkdir_with_parents(root, 0755);
        if (g_key_file_get_boolean(kf, "case", "unwritable-state", NULL) && !g_file_set_contents(state, "", -1, NULL)) {
                fprintf(stderr, "%s: cannot make %s\n", base, state);
                return false;
        }
        files = g_key_file_get_keys(kf, "files", NULL, NULL);
        for (char **f = files; f && *f; f++) {
                g_autofree char *value = g_key_file_get_string(kf, "files", *f, NULL);
                g_autofree char *path = g_build_filename(root, *f, NULL);
                g_autofree char *dir = g_path_get_dirname(path);
                g_mkdir_with_parents(dir, 0755);
                if (!g_file_set_contents(path, value, -1, NULL)) {
                        fprintf(stderr, "%s: cannot make %s\n", base, path);
                        return false;
                }
        }
        /* libvirt passes the domain's name as the hook's first argument. */
        if ((name = strstr(xml, "<name>")) && (end = strstr(name, "</name>")))
                domain = g_strndup(name + strlen("<name>"), (gsize) (end - name - strlen("<name>")));
        rec = vr_host_ops_recorder_new(root);
        if (fail)
                vr_host_ops_recorder_fail(rec, fail, errno_named(fail_errno));
        for (char **op = ops; *op; op++) {
                VrHookRequest req = {.root = root, .conf = conf, .state_dir = state, .tc_path = "tc",
                                     .domain = domain, .op = *op, .subop = "begin", .xml = xml, .xml_len = xml_len,
                                     .lock_wait_ms = 1000, .no_tuner = true, .ops = rec};
                g_autofree char *plan = NULL, *log = NULL, *journal = NULL;
                g_autoptr(GError) e = NULL;
                size_t before = strlen(vr_host_ops_recorder_log(rec));
                int r;

                g_string_append_printf(s, "== %s\nplan:\n", *op);
                if (vr_hook_plan_text(&req, &plan, &e) < 0) {
                        g_string_append_printf(s, "  error: %s\n", e->message);
                        g_clear_error(&e);
                } else {
                        append_prefixed(s, "  ", plan);
                }
                r = run_captured(&req, log_path, &log, &e);
                g_string_append(s, "host:\n");
                append_prefixed(s, "  ", vr_host_ops_recorder_log(rec) + before);
                g_string_append(s, "log:\n");
                append_prefixed(s, "  ", log);
                if (r < 0)
                        g_string_append_printf(s, "result: error: %s\n", e->message);
                else
                        g_string_append(s, "result: ok\n");
                journal = journal_text(state);
                g_string_append(s, "journal:\n");
                append_prefixed(s, "  ", journal);
        }
        {
                const char *argv[] = {"rm", "-rf", tmp, NULL};
                (void) g_spawn_sync(NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, NULL,
                                    NULL);
        }
        /* Paths under the temporary directory change with every run. */
        parts = g_strsplit(s->str, tmp, -1);
        got = g_strjoinv("TMP", parts);
        return vr_test_check_expected(base, exp_path, got, NULL);
}

/* File scope: forked children _exit() with it still reachable, not leaked. */
static GPtrArray *cases;

int main(int argc, char **argv) {
        VrTestRun run = {.only = argc > 1 ? argv[1] : NULL};

        cases = vr_test_list_cases("hook-plan", ".case", NULL);
        vr_test_run_cases(&run, "hook-plan/", cases, run_case);
        g_ptr_array_unref(cases);
        return vr_test_summary(&run);
}
