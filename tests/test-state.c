/* The state directory module (lib/host/vr-state) and process identity (VrProcId) on a
 * temporary directory and a fake /proc made here: names, atomic writes that leave no
 * temporary file, removal of a domain's files, and pid files whose process is told
 * from a later one with the same pid. No root needed. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vr-error.h"
#include "vr-ledger.h"
#include "vr-proc.h"
#include "vr-state.h"
#include "vr-test.h"

/* A temporary directory, removed (with what is in it) at the end of the test. */
static char *tmp_dir(void) {
        g_autoptr(GError) err = NULL;
        char *d = g_dir_make_tmp("vr-state-XXXXXX", &err);
        g_assert_no_error(err);
        return d;
}

static void remove_tree(const char *dir) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
        g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
}

/* ROOT/proc/PID/stat as the kernel writes it: 52 fields, the comm in parentheses,
 * STATE field 3, START field 22. */
static void fake_process_named(const char *root, pid_t pid, const char *comm, char state, uint64_t start) {
        g_autofree char *dir = g_strdup_printf("%s/proc/%d", root, (int) pid);
        g_autofree char *path = g_build_filename(dir, "stat", NULL);
        g_autoptr(GString) s = g_string_new(NULL);

        g_string_append_printf(s, "%d (%s) %c 1", (int) pid, comm, state);
        for (int field = 5; field <= 52; field++)
                g_string_append_printf(s, " %" G_GUINT64_FORMAT, field == 22 ? start : (uint64_t) 0);
        g_string_append_c(s, '\n');
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(path, s->str, -1, NULL));
}

/* A tuner as the kernel names it. */
static void fake_process(const char *root, pid_t pid, char state, uint64_t start) {
        fake_process_named(root, pid, VR_TUNER_COMM, state, start);
}

static int compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* The entries of DIR, sorted, joined with spaces. */
static char *listing(const char *dir) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *name;

        while (d && (name = g_dir_read_name(d)))
                g_ptr_array_add(names, g_strdup(name));
        g_ptr_array_sort(names, compare_names);
        g_ptr_array_add(names, NULL);
        return g_strjoinv(" ", (char **) names->pdata);
}

static void test_paths(void) {
        static const struct {
                VrStateFile f;
                const char *name;
        } cases[] = {
                {VR_STATE_TUNER, "/s/vr1.json"},
                {VR_STATE_TUNER_PID, "/s/vr1.tuner.pid"},
                {VR_STATE_SPEC, "/s/vr1.spec.json"},
                {VR_STATE_HOOK, "/s/vr1.hook.json"},
                {VR_STATE_LEDGER, "/s/ledger"},
                {VR_STATE_LEDGER_LOCK, "/s/ledger.lock"},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *p = vr_state_path("/s", cases[i].f, "vr1");
                g_autofree char *base = g_path_get_basename(p);
                g_autofree char *domain = NULL;
                VrStateFile f;
                bool per_domain = cases[i].f != VR_STATE_LEDGER && cases[i].f != VR_STATE_LEDGER_LOCK;
                g_assert_cmpstr(p, ==, cases[i].name);
                /* Every per-domain name reads back as what it is; the host's do not. */
                g_assert_cmpint(vr_state_name_parse(base, &f, &domain), ==, per_domain);
                if (per_domain) {
                        g_assert_cmpint(f, ==, cases[i].f);
                        g_assert_cmpstr(domain, ==, "vr1");
                }
        }
        {
                g_autofree char *domain = NULL;
                VrStateFile f;
                /* A dotted domain name keeps its dots; the longest suffix wins. */
                g_assert_true(vr_state_name_parse("a.b.spec.json", &f, &domain));
                g_assert_cmpint(f, ==, VR_STATE_SPEC);
                g_assert_cmpstr(domain, ==, "a.b");
                g_clear_pointer(&domain, g_free);
                g_assert_true(vr_state_name_parse("a.b.json", &f, &domain));
                g_assert_cmpint(f, ==, VR_STATE_TUNER);
                g_assert_cmpstr(domain, ==, "a.b");
                /* Not state files: a temporary file, a bare suffix, something else. */
                g_assert_false(vr_state_name_parse(".vr1.json.Ab12Cd", &f, &domain));
                g_assert_false(vr_state_name_parse(".json", &f, &domain));
                g_assert_false(vr_state_name_parse("notes.txt", &f, &domain));
        }
}

/* A name that would make a path elsewhere is refused by every function, not built into
 * one (defence in depth: the hook refuses it first). */
static void test_bad_names(void) {
        g_autofree char *top = tmp_dir(), *dir = g_build_filename(top, "state", NULL);
        g_autofree char *victim = g_build_filename(top, "victim", NULL), *files = NULL;
        g_autofree char *long_name = g_strnfill(VR_STATE_DOMAIN_MAX + 1, 'n');
        g_autofree char *longest = g_strnfill(VR_STATE_DOMAIN_MAX, 'n');
        const char *const bad[] = {"../victim/x", "..", ".", "a/b", "", ".hidden", long_name};
        g_autofree char *ok_path = vr_state_path(dir, VR_STATE_TUNER_PID, longest);
        VrProcId id;

        g_assert_cmpint(g_mkdir_with_parents(victim, 0755), ==, 0);
        /* The longest name still makes names the file system takes, temporaries too. */
        g_assert_nonnull(ok_path);
        g_assert_true(vr_state_write(dir, VR_STATE_TUNER_PID, longest, "1\n", NULL));
        g_assert_cmpint(vr_state_remove(dir, VR_STATE_TUNER_PID, longest), ==, 0);
        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
                g_autoptr(GError) err = NULL;
                g_autofree char *text = NULL;
                g_test_message("bad name '%s'", bad[i]);
                g_assert_nonnull(vr_state_domain_problem(bad[i]));
                for (int f = 0; f < VR_STATE_FILE_COUNT; f++) {
                        g_autofree char *p = vr_state_path(dir, (VrStateFile) f, bad[i]);
                        bool host_file = f == VR_STATE_LEDGER || f == VR_STATE_LEDGER_LOCK;
                        g_assert_true(host_file ? p != NULL : p == NULL);
                }
                g_assert_false(vr_state_write(dir, VR_STATE_HOOK, bad[i], "{}", &err));
                g_assert_error(err, VR_ERROR, VR_ERROR_INVALID);
                g_assert_nonnull(strstr(err->message, "to name its files in the state directory"));
                g_clear_error(&err);
                g_assert_false(vr_state_write_pid("/", dir, VR_STATE_TUNER_PID, bad[i], getpid(), &err));
                g_assert_cmpint(vr_state_read(dir, VR_STATE_SPEC, bad[i], &text), ==, -EINVAL);
                g_assert_cmpint(vr_state_read_pid(dir, VR_STATE_TUNER_PID, bad[i], &id), ==, -EINVAL);
                g_assert_cmpint(vr_state_remove(dir, VR_STATE_HOOK, bad[i]), ==, -EINVAL);
                g_assert_false(vr_state_pid_alive("/", dir, VR_STATE_TUNER_PID, bad[i], NULL));
                vr_state_remove_domain(dir, bad[i]);
        }
        files = listing(victim);
        g_assert_cmpstr(files, ==, ""); /* nothing written outside */
        g_clear_pointer(&files, g_free);
        files = listing(top);
        g_assert_cmpstr(files, ==, "state victim");
        remove_tree(top);
}

static void test_write_atomic(void) {
        g_autofree char *top = tmp_dir();
        g_autofree char *dir = g_build_filename(top, "state", NULL); /* made by the write */
        g_autofree char *text = NULL, *files = NULL, *blocker = NULL, *inside = NULL;
        g_autoptr(GError) err = NULL;

        g_assert_true(vr_state_write(dir, VR_STATE_TUNER, "vr1", "{\"a\": 1}", &err));
        g_assert_no_error(err);
        g_assert_true(vr_state_write(dir, VR_STATE_TUNER, "vr1", "{\"a\": 2}", &err));
        g_assert_true(vr_state_write(dir, VR_STATE_LEDGER, NULL, "{}", &err));
        g_assert_cmpint(vr_state_read(dir, VR_STATE_TUNER, "vr1", &text), ==, 0);
        g_assert_cmpstr(text, ==, "{\"a\": 2}");
        files = listing(dir);
        g_assert_cmpstr(files, ==, "ledger vr1.json"); /* no temporary file left */
        g_clear_pointer(&text, g_free);
        g_assert_cmpint(vr_state_read(dir, VR_STATE_SPEC, "vr1", &text), ==, -ENOENT);

        /* A rename that fails (a directory where the file goes) leaves no temporary
         * file either, and the error names the domain and the file. */
        blocker = g_build_filename(dir, "vr2.hook.json", NULL);
        inside = g_build_filename(blocker, "x", NULL);
        g_assert_cmpint(g_mkdir_with_parents(inside, 0755), ==, 0);
        g_assert_false(vr_state_write(dir, VR_STATE_HOOK, "vr2", "{}", &err));
        g_assert_nonnull(err);
        g_test_message("%s", err->message);
        g_assert_nonnull(strstr(err->message, "domain 'vr2': cannot write "));
        g_assert_nonnull(strstr(err->message, "vr2.hook.json"));
        g_clear_pointer(&files, g_free);
        files = listing(dir);
        g_assert_cmpstr(files, ==, "ledger vr1.json vr2.hook.json");
        g_clear_error(&err);

        /* A state directory that cannot be made. */
        {
                g_autofree char *file = g_build_filename(top, "plain", NULL);
                g_autofree char *under = g_build_filename(file, "state", NULL);
                g_assert_true(g_file_set_contents(file, "", -1, NULL));
                g_assert_false(vr_state_write(under, VR_STATE_SPEC, "vr1", "{}", &err));
                g_assert_nonnull(strstr(err->message, "cannot create state directory"));
        }
        remove_tree(top);
}

static void test_remove_domain(void) {
        g_autofree char *dir = tmp_dir();
        g_autofree char *stray = g_build_filename(dir, ".vr1.json.Ab12Cd", NULL);
        g_autofree char *files = NULL;
        g_autoptr(GPtrArray) tuned = NULL;

        for (int f = 0; f < VR_STATE_FILE_COUNT; f++) {
                g_assert_true(vr_state_write(dir, (VrStateFile) f, "vr1", "x", NULL));
                g_assert_true(vr_state_write(dir, (VrStateFile) f, "vr10", "x", NULL));
        }
        g_assert_true(g_file_set_contents(stray, "half", -1, NULL)); /* a crash mid-write */
        tuned = vr_state_domains(dir, VR_STATE_TUNER);
        g_assert_cmpuint(tuned->len, ==, 2);
        g_assert_cmpstr(tuned->pdata[0], ==, "vr1");
        g_assert_cmpstr(tuned->pdata[1], ==, "vr10");

        vr_state_remove_domain(dir, "vr1");
        files = listing(dir);
        g_assert_cmpstr(files, ==, "ledger ledger.lock vr10.hook.json vr10.json vr10.spec.json vr10.tuner.pid");
        g_assert_cmpint(vr_state_remove(dir, VR_STATE_TUNER, "vr1"), ==, 0); /* gone already: fine */
        remove_tree(dir);
}

static void test_pid_identity(void) {
        g_autofree char *root = tmp_dir();
        g_autofree char *dir = g_build_filename(root, "run", NULL);
        g_autofree char *text = NULL;
        VrProcId id = {0};

        /* Written with the start time the process has under the root. */
        fake_process(root, 4321, 'S', 777);
        g_assert_true(vr_state_write_pid(root, dir, VR_STATE_TUNER_PID, "vr1", 4321, NULL));
        g_assert_cmpint(vr_state_read(dir, VR_STATE_TUNER_PID, "vr1", &text), ==, 0);
        g_assert_cmpstr(text, ==, "4321\n777\n");
        g_assert_cmpint(vr_state_read_pid(dir, VR_STATE_TUNER_PID, "vr1", &id), ==, 0);
        g_assert_cmpint(id.pid, ==, 4321);
        g_assert_cmpuint(id.starttime, ==, 777);
        g_assert_true(vr_state_pid_alive(root, dir, VR_STATE_TUNER_PID, "vr1", &id));

        /* The same pid, started later: another process. */
        fake_process(root, 4321, 'S', 900);
        g_assert_false(vr_state_pid_alive(root, dir, VR_STATE_TUNER_PID, "vr1", NULL));
        /* A zombie has exited. */
        fake_process(root, 4321, 'Z', 777);
        g_assert_false(vr_state_pid_alive(root, dir, VR_STATE_TUNER_PID, "vr1", NULL));

        /* An old pid file, the pid alone: compared by pid and the tuner's name. */
        fake_process(root, 4321, 'S', 900);
        g_assert_true(vr_state_write(dir, VR_STATE_TUNER_PID, "old", "4321\n", NULL));
        g_assert_cmpint(vr_state_read_pid(dir, VR_STATE_TUNER_PID, "old", &id), ==, 0);
        g_assert_cmpuint(id.starttime, ==, 0);
        g_assert_true(vr_state_pid_alive(root, dir, VR_STATE_TUNER_PID, "old", NULL));
        /* ... and its pid taken by an unrelated process: gone. */
        fake_process_named(root, 4321, "sshd", 'S', 900);
        g_assert_false(vr_state_pid_alive(root, dir, VR_STATE_TUNER_PID, "old", NULL));
        fake_process(root, 4321, 'S', 900);
        g_assert_false(vr_state_pid_alive(root, dir, VR_STATE_TUNER_PID, "missing", NULL));

        /* A process the root does not show is recorded by its pid alone. */
        g_assert_true(vr_state_write_pid(root, dir, VR_STATE_TUNER_PID, "vr2", 5555, NULL));
        g_clear_pointer(&text, g_free);
        g_assert_cmpint(vr_state_read(dir, VR_STATE_TUNER_PID, "vr2", &text), ==, 0);
        g_assert_cmpstr(text, ==, "5555\n");
        g_assert_false(vr_state_pid_alive(root, dir, VR_STATE_TUNER_PID, "vr2", NULL));

        /* Not a pid file. */
        for (const char *const *bad = (const char *const[]){"", "abc", "1\n", "4321\nsoon\n", NULL}; *bad; bad++) {
                g_assert_true(vr_state_write(dir, VR_STATE_TUNER_PID, "bad", *bad, NULL));
                g_assert_cmpint(vr_state_read_pid(dir, VR_STATE_TUNER_PID, "bad", &id), ==, -EINVAL);
        }
        remove_tree(root);
}

/* The real /proc: this process is alive, and one with its pid but another start time
 * is not it. */
static void test_proc_id_self(void) {
        VrProcId id, other;

        g_assert_cmpint(vr_proc_id_read("/", getpid(), &id), ==, 0);
        g_assert_true(vr_proc_id_alive("/", &id));
        other = (VrProcId){id.pid, id.starttime + 1};
        g_assert_false(vr_proc_id_alive("/", &other));
        other = (VrProcId){id.pid, 0};
        g_assert_true(vr_proc_id_alive("/", &other));
}

/* The ledger keeps the domain's start time beside its pid: a reused pid does not keep
 * a gone router's reservations. */
/* An older ledger's entry holds the pid alone (pid_start 0): it is the domain's only
 * while libvirt's pid file names that pid, whatever process has it now. */
static void test_ledger_pid_without_start(void) {
        g_autofree char *root = tmp_dir();
        g_autofree char *dir = g_build_filename(root, "run", NULL);
        g_autofree char *ledger = g_build_filename(dir, "ledger", NULL);
        g_autofree char *pidfile = g_build_filename(root, "run/libvirt/qemu/vr1.pid", NULL);
        g_autofree char *piddir = g_path_get_dirname(pidfile);
        g_autoptr(GError) err = NULL;
        g_autoptr(GPtrArray) gone = NULL;
        VrLedger *l;

        fake_process_named(root, 4000, "sleep", 'S', 1234); /* alive, but not the router */
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(ledger, "{\"version\": 1, \"domains\": [{\"domain\": \"vr1\", \"pid\": 4000, \"since_us\": 0, \"cpus\": \"2\"}]}", -1, NULL));
        l = vr_ledger_open(root, dir, 1000, &err);
        g_assert_no_error(err);
        gone = vr_ledger_reclaim(l);
        g_assert_cmpuint(gone->len, ==, 1); /* no libvirt pid file names it: gone */
        vr_ledger_close(l);
        g_clear_pointer(&gone, g_ptr_array_unref);

        g_assert_cmpint(g_mkdir_with_parents(piddir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(pidfile, "4000\n", -1, NULL));
        l = vr_ledger_open(root, dir, 1000, &err);
        gone = vr_ledger_reclaim(l);
        g_assert_cmpuint(gone->len, ==, 0); /* libvirt says 4000 is vr1's */
        vr_ledger_close(l);
        remove_tree(root);
}

static void test_ledger_pid_reuse(void) {
        g_autofree char *root = tmp_dir();
        g_autofree char *dir = g_build_filename(root, "run", NULL);
        g_autoptr(GError) err = NULL;
        g_autoptr(GPtrArray) gone = NULL;
        VrLedger *l;

        fake_process(root, 4000, 'S', 1234);
        l = vr_ledger_open(root, dir, 1000, &err);
        g_assert_no_error(err);
        g_assert_true(vr_ledger_reserve(l, vr_ledger_entry_new("vr1", "qemu"), 950000, NULL, NULL, &err));
        g_assert_true(vr_ledger_set_pid(l, "vr1", 4000));
        g_assert_true(vr_ledger_save(l, &err));
        vr_ledger_close(l);

        l = vr_ledger_open(root, dir, 1000, &err);
        gone = vr_ledger_reclaim(l);
        g_assert_cmpuint(gone->len, ==, 0); /* still the same process */
        g_clear_pointer(&gone, g_ptr_array_unref);
        vr_ledger_close(l);

        fake_process(root, 4000, 'S', 5678); /* the router exited, its pid went to another */
        l = vr_ledger_open(root, dir, 1000, &err);
        gone = vr_ledger_reclaim(l);
        g_assert_cmpuint(gone->len, ==, 1);
        g_assert_cmpstr(gone->pdata[0], ==, "vr1");
        vr_ledger_close(l);
        remove_tree(root);
}

/* tests/data/ledger/NAME.json as the ledger: a bad-* one is refused as corrupt with the
 * message of NAME.err (the ledger's path written LEDGER), naming the entry and the
 * field; a good-* one opens, and what it saves opens again to the same text. */
static bool ledger_case(const char *name) {
        g_autofree char *src = vr_test_case_file("ledger", name, ".json");
        g_autofree char *err_path = vr_test_case_file("ledger", name, ".err");
        g_autofree char *top = tmp_dir(), *dir = g_build_filename(top, "run", NULL);
        g_autofree char *path = g_build_filename(dir, "ledger", NULL);
        g_autofree char *text = NULL, *saved = NULL, *again = NULL;
        g_autoptr(GError) err = NULL;
        VrLedger *l;
        bool ok = true;

        g_assert_true(g_file_get_contents(src, &text, NULL, NULL));
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        l = vr_ledger_open(top, dir, 1000, &err);
        if (g_str_has_prefix(name, "bad-")) {
                g_auto(GStrv) parts = NULL;
                g_autofree char *msg = NULL, *got = NULL;
                if (l) {
                        fprintf(stderr, "ledger/%s: opened, expected it refused as corrupt\n", name);
                        vr_ledger_close(l);
                        remove_tree(top);
                        return false;
                }
                parts = g_strsplit(err->message, path, -1);
                msg = g_strjoinv("LEDGER", parts);
                got = g_strconcat(msg, "\n", NULL);
                ok = vr_test_check_expected(name, err_path, got, NULL);
        } else {
                if (!l) {
                        fprintf(stderr, "ledger/%s: %s\n", name, err->message);
                        remove_tree(top);
                        return false;
                }
                ok = vr_ledger_save(l, &err) && g_file_get_contents(path, &saved, NULL, NULL);
                vr_ledger_close(l);
                l = ok ? vr_ledger_open(top, dir, 1000, &err) : NULL;
                ok = l && vr_ledger_save(l, &err) && g_file_get_contents(path, &again, NULL, NULL) &&
                     g_str_equal(saved, again);
                if (!ok)
                        fprintf(stderr, "ledger/%s: saved and opened again: %s\n", name,
                                err ? err->message : "a different text");
                vr_ledger_close(l);
        }
        remove_tree(top);
        return ok;
}

static void test_ledger_files(void) {
        g_autoptr(GPtrArray) names = vr_test_list_cases("ledger", ".json", NULL);
        guint failed = 0;

        g_assert_cmpuint(names->len, >, 0);
        for (guint i = 0; i < names->len; i++) {
                bool ok = ledger_case(names->pdata[i]);
                printf("# %s: ledger/%s\n", ok ? "PASS" : "FAIL", (char *) names->pdata[i]);
                failed += !ok;
        }
        g_assert_cmpuint(failed, ==, 0);
}

/* A writer killed between its temporary file and the rename leaves ".ledger.XXXXXX":
 * the next one to hold the lock removes it, and nothing of a domain's. */
static void test_ledger_stale_temporary(void) {
        g_autofree char *top = tmp_dir(), *dir = g_build_filename(top, "run", NULL);
        g_autofree char *files = NULL;
        g_autoptr(GError) err = NULL;
        VrLedger *l;

        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        for (const char *const *f = (const char *const[]){".ledger.Ab12Cd", ".ledger.Zz99yY", ".vr1.json.Ab12Cd",
                                                           ".ledger.lock.Ab12Cd", NULL}; *f; f++) {
                g_autofree char *p = g_build_filename(dir, *f, NULL);
                g_assert_true(g_file_set_contents(p, "{\"version\": 1, \"dom", -1, NULL));
        }
        l = vr_ledger_open(top, dir, 1000, &err);
        g_assert_no_error(err);
        vr_ledger_close(l);
        files = listing(dir);
        g_assert_cmpstr(files, ==, ".ledger.lock.Ab12Cd .vr1.json.Ab12Cd ledger.lock");
        remove_tree(top);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/state/paths", test_paths);
        g_test_add_func("/state/bad-names", test_bad_names);
        g_test_add_func("/state/write-atomic", test_write_atomic);
        g_test_add_func("/state/remove-domain", test_remove_domain);
        g_test_add_func("/state/pid-identity", test_pid_identity);
        g_test_add_func("/state/proc-id-self", test_proc_id_self);
        g_test_add_func("/state/ledger-pid-reuse", test_ledger_pid_reuse);
        g_test_add_func("/state/ledger-pid-without-start", test_ledger_pid_without_start);
        g_test_add_func("/state/ledger-files", test_ledger_files);
        g_test_add_func("/state/ledger-stale-temporary", test_ledger_stale_temporary);
        return g_test_run();
}
