/* The tuner's host changes in the order it makes them, without root. Each
 * tests/data/tune-ops/NAME.case names a fake tree (tests/data/proc), the domain's
 * process and a domain XML of tests/data/tune; its spec is made as the hook makes it,
 * and a tuning session (qemu-helper/vr-tuner.c) runs on the tree with the recording
 * table of host operations. The recorded operations of each step, the errors the
 * tuner keeps in its state file, and what cleanup removes must equal NAME.expected.
 *
 *   [case]
 *   tree=vhost-task-v1      pid=4242      domain=vr-fifo-dedicated.xml
 *   config=FILE             (of tests/data/tune; default host.conf)
 *   fail=TEXT  errno=NAME   (the next call whose recorded line contains TEXT is refused)
 *   then=XML                (a second session on the same threads under another policy)
 *   cleanup=true            (the session ends: the groups it made go)
 *
 * Nothing is carried out: the trees stay read only, and the fake tids may exist on the
 * host, so the recorder never passes a call on. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "vr-hostops.h"
#include "vr-json.h"
#include "vr-spec.h"
#include "vr-state.h"
#include "vr-test.h"
#include "vr-tuner.h"

static int errno_named(const char *name) {
        static const struct {
                const char *name;
                int err;
        } names[] = {{"EPERM", EPERM}, {"EBUSY", EBUSY}, {"EINVAL", EINVAL}, {"ENOENT", ENOENT}, {"ESRCH", ESRCH}};

        for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
                if (g_strcmp0(name, names[i].name) == 0)
                        return names[i].err;
        return EIO;
}

/* The errors the session keeps for `virt-router status`: per thread, and the host's. */
static void append_state_errors(GString *out, const char *state_dir, const char *domain) {
        g_autofree char *text = NULL;
        g_autoptr(VrJsonNode) state = NULL;
        const VrJsonNode *threads, *errors;

        g_string_append(out, "errors:\n");
        if (vr_state_read(state_dir, VR_STATE_TUNER, domain, &text) < 0 || !(state = vr_json_parse(text, NULL))) {
                g_string_append(out, "  (no state file)\n");
                return;
        }
        threads = vr_json_member(state, "threads");
        for (guint i = 0; threads && threads->items && i < threads->items->len; i++) {
                const char *e = vr_json_member_string(threads->items->pdata[i], "error");
                if (e)
                        g_string_append_printf(out, "  %s\n", e);
        }
        errors = vr_json_member(state, "errors");
        for (guint i = 0; errors && errors->items && i < errors->items->len; i++)
                g_string_append_printf(out, "  %s\n", ((const VrJsonNode *) errors->items->pdata[i])->string);
}

static void append_indented(GString *out, const char *log) {
        g_auto(GStrv) lines = g_strsplit(log, "\n", -1);
        for (guint i = 0; lines[i]; i++)
                if (*lines[i])
                        g_string_append_printf(out, "  %s\n", lines[i]);
}

/* One tuning session of DOMAIN (an XML of tests/data/tune) on ROOT: its refresh, and
 * its cleanup when asked, appended to OUT. False when it cannot run. */
static bool run_session(const char *base, const char *root, pid_t pid, const char *domain, const VrHostConf *conf,
                        VrHostOps *rec, const char *state_dir, bool cleanup, GString *out) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VrPolicy) policy = NULL;
        g_autoptr(xmlDoc) doc = vr_test_read_router(base, "tune", domain, conf, &policy, NULL);
        g_autofree char *spec = NULL, *log = NULL;
        g_autoptr(VrTuner) t = NULL;
        VrTunerOptions o;
        int r;

        if (!doc)
                return false;
        spec = vr_tune_spec_from_policy(root, doc, policy, pid);
        o = (VrTunerOptions){.root = root, .spec = spec, .conf = conf, .state_dir = state_dir, .ops = rec};
        t = vr_tuner_new(&o, &err);
        if (!t) {
                fprintf(stderr, "%s: %s\n", base, err->message);
                return false;
        }
        g_string_append_printf(out, "session %s:\n", domain);
        r = vr_tuner_refresh(t);
        log = vr_host_ops_recorder_take_log(rec);
        g_string_append_printf(out, "refresh (%d failed):\n", r);
        append_indented(out, log);
        append_state_errors(out, state_dir, vr_tuner_domain(t));
        if (cleanup) {
                g_clear_pointer(&log, g_free);
                vr_tuner_cleanup(t);
                log = vr_host_ops_recorder_take_log(rec);
                g_string_append(out, "cleanup:\n");
                append_indented(out, log);
        }
        vr_tuner_remove_state(t);
        return true;
}

static bool run_case(const char *base) {
        g_autofree char *case_path = vr_test_case_file("tune-ops", base, ".case");
        g_autofree char *exp_path = vr_test_case_file("tune-ops", base, ".expected");
        g_autoptr(GKeyFile) kf = NULL;
        g_auto(VrTestTuneCase) c = {0};
        g_autofree char *then = NULL, *fail = NULL, *fail_errno = NULL;
        g_autofree char *root = NULL, *state_dir = NULL;
        g_autoptr(VrHostOps) rec = vr_host_ops_recorder_new(NULL);
        g_autoptr(GString) out = g_string_new(NULL);
        bool cleanup, ok;

        kf = vr_test_load_tune_case(base, case_path, &c);
        if (!kf)
                return false;
        then = g_key_file_get_string(kf, "case", "then", NULL);
        fail = g_key_file_get_string(kf, "case", "fail", NULL);
        fail_errno = g_key_file_get_string(kf, "case", "errno", NULL);
        cleanup = g_key_file_get_boolean(kf, "case", "cleanup", NULL);
        root = vr_test_data_path("proc", c.tree);
        state_dir = g_dir_make_tmp("vr-tuner-ops-XXXXXX", NULL);
        if (!state_dir) {
                fprintf(stderr, "%s: cannot make a state directory\n", base);
                return false;
        }
        if (fail)
                vr_host_ops_recorder_fail(rec, fail, errno_named(fail_errno));
        ok = run_session(base, root, c.pid, c.domain, c.conf, rec, state_dir, cleanup && !then, out) &&
             (!then || run_session(base, root, c.pid, then, c.conf, rec, state_dir, cleanup, out));
        (void) g_rmdir(state_dir);
        return ok && vr_test_check_expected(base, exp_path, out->str, NULL);
}

int main(int argc, char **argv) {
        g_autoptr(GPtrArray) cases = vr_test_list_cases("tune-ops", ".case", NULL);
        VrTestRun run = {.only = argc > 1 ? argv[1] : NULL};

        vr_test_run_cases(&run, "tune-ops/", cases, run_case);
        return vr_test_summary(&run);
}
