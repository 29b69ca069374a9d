#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libxml/parser.h>

#include "vr-policy-xml.h"
#include "vr-test.h"

char *vr_test_data_path(const char *sub, const char *name) {
        const char *top = g_getenv("top_srcdir");
        return g_build_filename(top ? top : ".", "tests", "data", sub, name, NULL);
}

char *vr_test_case_file(const char *sub, const char *base, const char *suffix) {
        g_autofree char *name = g_strconcat(base, suffix, NULL);
        return vr_test_data_path(sub, name);
}

bool vr_test_regenerate(void) {
        return g_strcmp0(g_getenv("VR_TEST_REGENERATE"), "1") == 0;
}

bool vr_test_check_expected(const char *case_name, const char *path, const char *got,
                            const char *other_path) {
        g_autofree char *want = NULL;

        if (vr_test_regenerate()) {
                if (!g_file_set_contents(path, got, -1, NULL)) {
                        fprintf(stderr, "%s: cannot write %s\n", case_name, path);
                        return false;
                }
                if (other_path)
                        (void) unlink(other_path);
                return true;
        }
        if (!g_file_get_contents(path, &want, NULL, NULL)) {
                fprintf(stderr, "%s: no %s (run make regen-expected and review it)\n--- got:\n%s\n",
                        case_name, path, got);
                return false;
        }
        if (!g_str_equal(want, got)) {
                fprintf(stderr, "%s: output differs from %s\n--- expected:\n%s\n--- got:\n%s\n",
                        case_name, path, want, got);
                return false;
        }
        return true;
}

bool vr_test_check_result(const char *case_name, const char *exp_path, const char *err_path,
                          const char *out, const char *error_message) {
        bool want_error = g_file_test(err_path, G_FILE_TEST_EXISTS);

        if (error_message) {
                g_autofree char *msg = vr_test_relative(error_message);
                g_autofree char *got = g_strconcat(msg, "\n", NULL);
                if (!vr_test_regenerate() && !want_error) {
                        fprintf(stderr, "%s: unexpected error:\n%s", case_name, got);
                        return false;
                }
                return vr_test_check_expected(case_name, err_path, got, exp_path);
        }
        if (!vr_test_regenerate() && want_error) {
                fprintf(stderr, "%s: expected an error (%s), got output:\n%s\n", case_name, err_path, out);
                return false;
        }
        return vr_test_check_expected(case_name, exp_path, out, err_path);
}

static int compare_names(gconstpointer a, gconstpointer b) {
        return g_strcmp0(*(char *const *) a, *(char *const *) b);
}

GPtrArray *vr_test_list_cases(const char *sub, const char *suffix, const char *exclude) {
        g_autofree char *dir = vr_test_data_path(sub, "");
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *n;

        while (d && (n = g_dir_read_name(d))) {
                if (!g_str_has_suffix(n, suffix) || (exclude && g_str_has_suffix(n, exclude)))
                        continue;
                g_ptr_array_add(names, g_strndup(n, strlen(n) - strlen(suffix)));
        }
        g_ptr_array_sort(names, compare_names);
        return names;
}

VrHostConf *vr_test_case_conf(const char *sub, const char *base) {
        g_autoptr(GError) err = NULL;
        VrHostConf *c = vr_test_case_conf_error(sub, base, &err);

        if (!c)
                fprintf(stderr, "%s: host config: %s\n", base, err->message);
        return c;
}

VrHostConf *vr_test_case_conf_error(const char *sub, const char *base, GError **error) {
        g_autofree char *render = vr_test_case_file(sub, base, ".render");
        g_autofree char *named = NULL, *own = NULL;
        g_autofree char *shared = vr_test_data_path(sub, "host.conf");
        g_autoptr(GKeyFile) kf = g_key_file_new();
        const char *path;

        if (g_key_file_load_from_file(kf, render, G_KEY_FILE_NONE, NULL))
                named = g_key_file_get_string(kf, "render", "config", NULL);
        own = named ? vr_test_data_path(sub, named) : vr_test_case_file(sub, base, ".conf");
        path = g_file_test(own, G_FILE_TEST_EXISTS) ? own : g_file_test(shared, G_FILE_TEST_EXISTS) ? shared : NULL;
        if (!path)
                return vr_host_conf_new_default();
        return vr_host_conf_load(path, error);
}

GKeyFile *vr_test_load_case(const char *case_name, const char *path) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) err = NULL;

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_NONE, &err)) {
                fprintf(stderr, "%s: %s\n", case_name, err->message);
                return NULL;
        }
        return g_steal_pointer(&kf);
}

void vr_test_tune_case_clear(VrTestTuneCase *c) {
        g_clear_pointer(&c->tree, g_free);
        g_clear_pointer(&c->domain, g_free);
        g_clear_pointer(&c->conf, vr_host_conf_free);
}

GKeyFile *vr_test_load_tune_case(const char *case_name, const char *path, VrTestTuneCase *ret) {
        g_autoptr(GKeyFile) kf = vr_test_load_case(case_name, path);
        g_autoptr(GError) err = NULL;
        g_autofree char *config = NULL, *conf_path = NULL;

        if (!kf)
                return NULL;
        ret->tree = g_key_file_get_string(kf, "case", "tree", NULL);
        ret->domain = g_key_file_get_string(kf, "case", "domain", NULL);
        ret->pid = (pid_t) g_key_file_get_integer(kf, "case", "pid", NULL);
        if (!ret->tree || !ret->domain || ret->pid <= 0) {
                fprintf(stderr, "%s: a case needs tree=, domain= and pid=\n", case_name);
                return NULL;
        }
        config = g_key_file_get_string(kf, "case", "config", NULL);
        conf_path = vr_test_data_path("tune", config ? config : "host.conf");
        ret->conf = g_file_test(conf_path, G_FILE_TEST_EXISTS) ? vr_host_conf_load(conf_path, &err)
                                                                : vr_host_conf_new_default();
        if (!ret->conf) {
                fprintf(stderr, "%s: %s\n", case_name, err->message);
                return NULL;
        }
        return g_steal_pointer(&kf);
}

xmlDoc *vr_test_read_router(const char *case_name, const char *sub, const char *name, const VrHostConf *conf,
                            VrPolicy **ret_policy, char **ret_xml) {
        g_autofree char *path = vr_test_data_path(sub, name);
        g_autofree char *xml = NULL;
        g_autoptr(GError) err = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        gsize len = 0;

        if (!g_file_get_contents(path, &xml, &len, NULL)) {
                fprintf(stderr, "%s: cannot read %s\n", case_name, path);
                return NULL;
        }
        doc = vr_xml_parse(xml, len, name, &err);
        if (!doc || vr_policy_parse(doc, name, conf, ret_policy, &err) <= 0) {
                fprintf(stderr, "%s: %s\n", case_name, err ? err->message : "not a router");
                return NULL;
        }
        if (ret_xml)
                *ret_xml = g_steal_pointer(&xml);
        return g_steal_pointer(&doc);
}

bool vr_test_run_forked(bool (*fn)(const char *base), const char *base) {
        int status = 0;
        pid_t pid;

        fflush(NULL);
        pid = fork();
        if (pid < 0)
                return fn(base);
        if (pid == 0) {
                bool ok = fn(base);
                xmlCleanupParser();
                fflush(NULL);
                _exit(ok ? 0 : 1);
        }
        if (waitpid(pid, &status, 0) < 0)
                return false;
        if (WIFSIGNALED(status)) {
                fprintf(stderr, "%s: crashed with signal %d\n", base, WTERMSIG(status));
                return false;
        }
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void vr_test_run_cases(VrTestRun *run, const char *prefix, GPtrArray *cases, bool (*fn)(const char *name)) {
        for (guint i = 0; i < cases->len; i++) {
                const char *name = cases->pdata[i];
                bool ok;
                if (run->only && !g_str_equal(run->only, name))
                        continue;
                ok = vr_test_run_forked(fn, name);
                printf("%s: %s%s\n", ok ? "PASS" : "FAIL", prefix, name);
                ok ? run->passed++ : run->failed++;
        }
}

int vr_test_summary(const VrTestRun *run) {
        printf("%u passed, %u failed\n", run->passed, run->failed);
        if (run->passed + run->failed == 0) {
                fprintf(stderr, "no test cases found under %s/tests/data\n", g_getenv("top_srcdir"));
                return 1;
        }
        return run->failed ? 1 : 0;
}

char *vr_test_relative(const char *msg) {
        const char *top = g_getenv("top_srcdir");
        g_autofree char *prefix = g_strconcat(top ? top : ".", "/", NULL);
        GString *s = g_string_new(msg);
        g_string_replace(s, prefix, "", 0);
        return g_string_free(s, FALSE);
}
