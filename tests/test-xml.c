/* Data-driven XML tests, as libvirt's: tests/data/xml/NAME.xml goes through
 * `apply` and must give NAME.expected.xml, or fail with the message in NAME.err;
 * tests/data/render/NAME.render (options) must give NAME.expected.xml or NAME.err.
 * Every output is applied once more and must come back byte for byte (idempotence).
 * Each case runs in a forked child. VR_TEST_REGENERATE=1 rewrites the expected files. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <libxml/parser.h>

#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-render.h"
#include "vr-rewrite.h"

static bool regenerate;

static char *data_path(const char *sub, const char *name) {
        const char *top = g_getenv("top_srcdir");
        return g_build_filename(top ? top : ".", "tests", "data", sub, name, NULL);
}

static char *case_file(const char *sub, const char *base, const char *suffix) {
        g_autofree char *name = g_strconcat(base, suffix, NULL);
        return data_path(sub, name);
}

static bool read_opt(const char *path, char **ret) {
        gsize len;
        if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
                *ret = NULL;
                return true;
        }
        return g_file_get_contents(path, ret, &len, NULL);
}

/* Compare (or regenerate) one expected file. */
static bool check_expected(const char *case_name, const char *path, const char *got,
                           const char *other_path) {
        g_autofree char *want = NULL;

        if (regenerate) {
                if (!g_file_set_contents(path, got, -1, NULL)) {
                        fprintf(stderr, "%s: cannot write %s\n", case_name, path);
                        return false;
                }
                if (other_path)
                        (void) unlink(other_path);
                return true;
        }
        if (!read_opt(path, &want) || !want) {
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

static bool check_idempotent(const char *case_name, const char *out, const VrApplyOptions *ao) {
        g_autoptr(GError) err = NULL;
        g_autofree char *again = NULL;
        size_t len = 0;
        int r = vr_apply_xml(out, strlen(out), ao, &again, &len, NULL, &err);

        if (r < 0) {
                fprintf(stderr, "%s: applying the output again failed: %s\n", case_name, err->message);
                return false;
        }
        if (!g_str_equal(again, out)) {
                fprintf(stderr, "%s: not idempotent; second apply gave:\n%s\n", case_name, again);
                return false;
        }
        return true;
}

static VrHostConf *case_conf(const char *dir, const char *base, const char *explicit_name) {
        g_autofree char *own_name = explicit_name ? g_strdup(explicit_name) : g_strconcat(base, ".conf", NULL);
        g_autofree char *own = data_path(dir, own_name);
        g_autofree char *shared = data_path(dir, "host.conf");
        g_autoptr(GError) err = NULL;
        const char *path;
        VrHostConf *c;

        path = g_file_test(own, G_FILE_TEST_EXISTS) ? own
             : g_file_test(shared, G_FILE_TEST_EXISTS) ? shared : NULL;
        if (!path)
                return vr_host_conf_new_default();
        c = vr_host_conf_load(path, &err);
        if (!c)
                fprintf(stderr, "%s: host config: %s\n", base, err->message);
        return c;
}

/* Host configs are named in messages; keep expected files independent of the checkout. */
static char *relative_messages(const char *msg) {
        const char *top = g_getenv("top_srcdir");
        g_autofree char *prefix = g_strconcat(top ? top : ".", "/", NULL);
        GString *s = g_string_new(msg);
        g_string_replace(s, prefix, "", 0);
        return g_string_free(s, FALSE);
}

static bool run_apply_case(const char *base) {
        g_autofree char *in_path = NULL, *exp_path = NULL, *err_path = NULL, *sys_path = NULL;
        g_autofree char *in = NULL, *out = NULL, *sysroot_rel = NULL, *sysroot = NULL;
        g_autofree char *what = g_strconcat(base, ".xml", NULL);
        g_autoptr(VrHostConf) conf = case_conf("xml", base, NULL);
        g_autoptr(GError) err = NULL;
        VrApplyOptions ao;
        gsize in_len = 0;
        size_t out_len = 0;

        in_path = data_path("xml", what);
        exp_path = case_file("xml", base, ".expected.xml");
        err_path = case_file("xml", base, ".err");
        sys_path = case_file("xml", base, ".sysroot");
        if (!conf)
                return false;
        if (!g_file_get_contents(in_path, &in, &in_len, NULL)) {
                fprintf(stderr, "%s: cannot read %s\n", base, in_path);
                return false;
        }
        if (!read_opt(sys_path, &sysroot_rel))
                return false;
        if (sysroot_rel) {
                g_strstrip(sysroot_rel);
                sysroot = data_path("sysroot", sysroot_rel);
        }
        ao = (VrApplyOptions){conf, sysroot, what};
        if (vr_apply_xml(in, in_len, &ao, &out, &out_len, NULL, &err) < 0) {
                g_autofree char *msg = relative_messages(err->message);
                g_autofree char *got = g_strconcat(msg, "\n", NULL);
                if (!regenerate && !g_file_test(err_path, G_FILE_TEST_EXISTS)) {
                        fprintf(stderr, "%s: unexpected error:\n%s", base, got);
                        return false;
                }
                return check_expected(base, err_path, got, exp_path);
        }
        if (!regenerate && g_file_test(err_path, G_FILE_TEST_EXISTS)) {
                fprintf(stderr, "%s: expected an error (%s), got output:\n%s\n", base, err_path, out);
                return false;
        }
        return check_expected(base, exp_path, out, err_path) && check_idempotent(base, out, &ao);
}

static bool run_render_case(const char *base) {
        g_autofree char *rpath = case_file("render", base, ".render");
        g_autofree char *exp_path = case_file("render", base, ".expected.xml");
        g_autofree char *err_path = case_file("render", base, ".err");
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) conf = NULL;
        g_autofree char *tmpl = NULL, *name = NULL, *type = NULL, *cpus = NULL, *hk = NULL;
        g_autofree char *placement = NULL, *profile = NULL, *policy = NULL, *policy_path = NULL;
        g_autofree char *image_dir = NULL, *init = NULL, *config = NULL, *sysroot = NULL;
        g_autofree char *sysroot_path = NULL, *out = NULL;
        g_auto(GStrv) ports = NULL;
        VrRenderOptions ro;
        VrApplyOptions ao;

        if (!g_key_file_load_from_file(kf, rpath, G_KEY_FILE_NONE, &err)) {
                fprintf(stderr, "%s: %s\n", base, err->message);
                return false;
        }
#define S(k) g_key_file_get_string(kf, "render", k, NULL)
        tmpl = S("template");
        name = S("name");
        type = S("type");
        cpus = S("cpus");
        hk = S("housekeeping");
        placement = S("placement");
        profile = S("profile");
        policy = S("policy");
        image_dir = S("image-dir");
        init = S("init");
        config = S("config");
        sysroot = S("sysroot");
#undef S
        ports = g_key_file_get_string_list(kf, "render", "ports", NULL, NULL);
        conf = case_conf("render", base, config);
        if (!conf)
                return false;
        if (policy)
                policy_path = data_path("render", policy);
        if (sysroot)
                sysroot_path = data_path("sysroot", sysroot);
        ro = (VrRenderOptions){
                .template_name = tmpl, .name = name, .type = type,
                .vcpus = g_key_file_get_integer(kf, "render", "vcpus", NULL),
                .memory_mib = g_key_file_get_integer(kf, "render", "memory", NULL),
                .ports = ports, .cpus = cpus, .housekeeping = hk, .placement = placement,
                .profile = profile, .policy_file = policy_path,
                .image_dir = image_dir ? image_dir : "/var/lib/virt-router/images",
                .no_image = g_key_file_get_boolean(kf, "render", "no-image", NULL), .init = init,
        };
        ao = (VrApplyOptions){conf, sysroot_path, "render"};
        out = vr_render(&ro, &ao, &err);
        if (!out) {
                g_autofree char *msg = relative_messages(err->message);
                g_autofree char *got = g_strconcat(msg, "\n", NULL);
                if (!regenerate && !g_file_test(err_path, G_FILE_TEST_EXISTS)) {
                        fprintf(stderr, "%s: unexpected error:\n%s", base, got);
                        return false;
                }
                return check_expected(base, err_path, got, exp_path);
        }
        if (!regenerate && g_file_test(err_path, G_FILE_TEST_EXISTS)) {
                fprintf(stderr, "%s: expected an error (%s), got output:\n%s\n", base, err_path, out);
                return false;
        }
        return check_expected(base, exp_path, out, err_path) && check_idempotent(base, out, &ao);
}

typedef bool (*CaseFn)(const char *base);

/* Run one case in a child so a crash fails that case, not the suite. */
static bool run_forked(CaseFn fn, const char *base) {
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

static GPtrArray *list_cases(const char *sub, const char *suffix, const char *exclude) {
        g_autofree char *dir = data_path(sub, "");
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
        const char *n;

        while (d && (n = g_dir_read_name(d))) {
                if (!g_str_has_suffix(n, suffix) || (exclude && g_str_has_suffix(n, exclude)))
                        continue;
                g_ptr_array_add(names, g_strndup(n, strlen(n) - strlen(suffix)));
        }
        return names;
}

static int compare_names(gconstpointer a, gconstpointer b) {
        return g_strcmp0(*(char *const *) a, *(char *const *) b);
}

/* File scope: forked children _exit() with these still reachable, not leaked. */
static GPtrArray *apply_cases, *render_cases;

int main(int argc, char **argv) {
        const char *only = argc > 1 ? argv[1] : NULL;
        unsigned passed = 0, failed = 0;

        regenerate = g_strcmp0(g_getenv("VR_TEST_REGENERATE"), "1") == 0;
        apply_cases = list_cases("xml", ".xml", ".expected.xml");
        render_cases = list_cases("render", ".render", NULL);
        g_ptr_array_sort(apply_cases, compare_names);
        g_ptr_array_sort(render_cases, compare_names);
        for (guint i = 0; i < apply_cases->len + render_cases->len; i++) {
                bool is_apply = i < apply_cases->len;
                const char *base = is_apply ? apply_cases->pdata[i] : render_cases->pdata[i - apply_cases->len];
                bool ok;
                if (only && !g_str_equal(only, base))
                        continue;
                ok = run_forked(is_apply ? run_apply_case : run_render_case, base);
                printf("%s: %s/%s\n", ok ? "PASS" : "FAIL", is_apply ? "xml" : "render", base);
                ok ? passed++ : failed++;
        }
        g_ptr_array_unref(apply_cases);
        g_ptr_array_unref(render_cases);
        printf("%u passed, %u failed\n", passed, failed);
        if (passed + failed == 0) {
                fprintf(stderr, "no test cases found under %s/tests/data\n", g_getenv("top_srcdir"));
                return 1;
        }
        return failed ? 1 : 0;
}
