/* Drift between a domain's definition and its router policy (what the hook checks at
 * prepare). tests/data/drift/NAME.xml, a domain as libvirt hands it over (with
 * NAME.conf or the directory's host.conf, and NAME.sysroot naming a fake tree), gives
 * the differences in NAME.expected, one per line (empty: it honours its policy). Then
 * the check must agree with apply: every drift case once applied, and the expected
 * output of every apply and render case (tests/data/xml, tests/data/render), shows no
 * drift. Each case runs in a forked child; VR_TEST_REGENERATE=1 rewrites the expected
 * files. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vr-policy-xml.h"
#include "vr-drift.h"
#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-rewrite.h"
#include "vr-test.h"
#include "vr-xml.h"

/* The sysroot a case names in its NAME.sysroot file, as a path; NULL if none. */
static char *case_sysroot(const char *dir, const char *base) {
        g_autofree char *path = vr_test_case_file(dir, base, ".sysroot");
        g_autofree char *rel = NULL;

        if (!g_file_get_contents(path, &rel, NULL, NULL))
                return NULL;
        return vr_test_data_path("sysroot", g_strstrip(rel));
}

/* The drift lines of a document as the hook computes them at prepare, each ending in a
 * newline; "" when it honours its policy or has none. NULL on error (printed). */
static char *drift_text(const char *base, const char *xml, size_t len, const VrHostConf *conf,
                        const char *sysroot) {
        g_autoptr(GError) err = NULL;
        g_autoptr(xmlDoc) doc = vr_xml_parse(xml, len, base, &err);
        g_autoptr(VrPolicy) policy = NULL;
        g_autoptr(VrPlan) plan = NULL;
        g_autoptr(GPtrArray) drift = NULL;
        g_autoptr(GString) s = g_string_new(NULL);
        int r = -1;

        if (doc)
                r = vr_policy_parse(doc, base, conf, &policy, &err);
        if (!doc || r < 0) {
                fprintf(stderr, "%s: %s\n", base, err->message);
                return NULL;
        }
        if (r == 0)
                return g_strdup("");
        plan = vr_rewrite_plan(doc, policy, conf, sysroot, base, &err);
        if (!plan) {
                fprintf(stderr, "%s: %s\n", base, err->message);
                return NULL;
        }
        drift = vr_plan_drift(plan, doc);
        for (guint i = 0; i < drift->len; i++)
                g_string_append_printf(s, "%s\n", (char *) drift->pdata[i]);
        return g_strdup(s->str);
}

static bool expect_none(const char *base, const char *what, const char *xml, const VrHostConf *conf,
                        const char *sysroot) {
        g_autofree char *d = drift_text(base, xml, strlen(xml), conf, sysroot);

        if (!d)
                return false;
        if (*d) {
                fprintf(stderr, "%s: %s shows drift, apply would leave none:\n%s", base, what, d);
                return false;
        }
        return true;
}

static bool run_drift_case(const char *base) {
        g_autofree char *in_path = vr_test_case_file("drift", base, ".xml");
        g_autofree char *exp_path = vr_test_case_file("drift", base, ".expected");
        g_autofree char *sysroot = case_sysroot("drift", base);
        g_autoptr(VrHostConf) conf = vr_test_case_conf("drift", base);
        g_autofree char *in = NULL, *got = NULL, *applied = NULL;
        g_autoptr(GError) err = NULL;
        VrRewriteOptions ao;
        gsize len = 0;
        size_t out_len = 0;

        if (!conf)
                return false;
        if (!g_file_get_contents(in_path, &in, &len, NULL)) {
                fprintf(stderr, "%s: cannot read %s\n", base, in_path);
                return false;
        }
        got = drift_text(base, in, len, conf, sysroot);
        if (!got || !vr_test_check_expected(base, exp_path, got, NULL))
                return false;
        ao = (VrRewriteOptions){conf, sysroot, base};
        if (vr_rewrite_xml(in, len, &ao, &applied, &out_len, NULL, &err) < 0) {
                fprintf(stderr, "%s: apply: %s\n", base, err->message);
                return false;
        }
        return expect_none(base, "its applied form", applied, conf, sysroot);
}

/* The expected output of an apply case (tests/data/xml) or a render case
 * (tests/data/render, whose NAME.render names its config and sysroot). */
static bool run_corpus_case(const char *dir, const char *base) {
        g_autofree char *exp_path = vr_test_case_file(dir, base, ".expected.xml");
        g_autofree char *xml = NULL, *sysroot = NULL, *what = NULL;
        g_autoptr(VrHostConf) conf = NULL;

        if (!g_file_get_contents(exp_path, &xml, NULL, NULL))
                return true; /* a case that expects an error */
        if (g_str_equal(dir, "render")) {
                g_autofree char *rpath = vr_test_case_file("render", base, ".render");
                g_autoptr(GKeyFile) kf = g_key_file_new();
                g_autofree char *sys = NULL;
                if (!g_key_file_load_from_file(kf, rpath, G_KEY_FILE_NONE, NULL)) {
                        fprintf(stderr, "%s: cannot read %s\n", base, rpath);
                        return false;
                }
                sys = g_key_file_get_string(kf, "render", "sysroot", NULL);
                sysroot = sys ? vr_test_data_path("sysroot", sys) : NULL;
        } else {
                sysroot = case_sysroot(dir, base);
        }
        conf = vr_test_case_conf(dir, base);
        if (!conf)
                return false;
        what = g_strconcat(dir, "/", base, ".expected.xml", NULL);
        return expect_none(base, what, xml, conf, sysroot);
}

static bool run_xml_case(const char *base) {
        return run_corpus_case("xml", base);
}

static bool run_render_case(const char *base) {
        return run_corpus_case("render", base);
}

/* File scope: forked children _exit() with these still reachable, not leaked. */
static GPtrArray *drift_cases, *xml_cases, *render_cases;

int main(int argc, char **argv) {
        VrTestRun run = {.only = argc > 1 ? argv[1] : NULL};

        drift_cases = vr_test_list_cases("drift", ".xml", NULL);
        xml_cases = vr_test_list_cases("xml", ".expected.xml", NULL);
        render_cases = vr_test_list_cases("render", ".expected.xml", NULL);
        vr_test_run_cases(&run, "drift/", drift_cases, run_drift_case);
        vr_test_run_cases(&run, "xml/", xml_cases, run_xml_case);
        vr_test_run_cases(&run, "render/", render_cases, run_render_case);
        g_ptr_array_unref(drift_cases);
        g_ptr_array_unref(xml_cases);
        g_ptr_array_unref(render_cases);
        return vr_test_summary(&run);
}
