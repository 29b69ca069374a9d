/* Data-driven XML tests, as libvirt's: tests/data/xml/NAME.xml goes through
 * `apply` and must give NAME.expected.xml, or fail with the message in NAME.err;
 * tests/data/render/NAME.render (options) must give NAME.expected.xml or NAME.err.
 * Every output must be well-formed, namespaces included, to a parser that forgives nothing,
 * and is applied once more and must come back byte for byte (idempotence).
 * Each case runs in a forked child. VR_TEST_REGENERATE=1 rewrites the expected files. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <libxml/parser.h>

#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-render.h"
#include "vr-rewrite.h"
#include "vr-test.h"

static void first_error(void *data, xmlErrorPtr e) {
        GString *msg = data;

        if (!msg->len && e && e->level >= XML_ERR_ERROR) {
                g_string_printf(msg, "line %d: %s", e->line, e->message ? e->message : "?");
                while (msg->len && msg->str[msg->len - 1] == '\n')
                        g_string_truncate(msg, msg->len - 1);
        }
}

/* apply must never write what libvirt would refuse to read (issue 14: an entity kept, its
 * DOCTYPE dropped). libxml2 as libvirt calls it, but any error counts, a namespace one too. */
static bool check_well_formed(const char *case_name, const char *out) {
        g_autoptr(GString) msg = g_string_new(NULL);
        xmlParserCtxtPtr ctx = xmlNewParserCtxt();
        xmlDoc *doc;
        bool ok;

        xmlSetStructuredErrorFunc(msg, first_error);
        doc = xmlCtxtReadMemory(ctx, out, (int) strlen(out), case_name, NULL, XML_PARSE_NONET);
        xmlSetStructuredErrorFunc(NULL, NULL);
        ok = doc && ctx->wellFormed && ctx->nsWellFormed && !msg->len;
        if (!ok)
                fprintf(stderr, "%s: output is not well-formed: %s\n", case_name, msg->len ? msg->str : "no document");
        xmlFreeDoc(doc);
        xmlFreeParserCtxt(ctx);
        return ok;
}

static bool check_idempotent(const char *case_name, const char *out, const VrRewriteOptions *ao) {
        g_autoptr(GError) err = NULL;
        g_autofree char *again = NULL;
        size_t len = 0;
        int r = vr_rewrite_xml(out, strlen(out), ao, &again, &len, NULL, &err);

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

static bool run_apply_case(const char *base) {
        g_autofree char *what = g_strconcat(base, ".xml", NULL);
        g_autofree char *in_path = vr_test_data_path("xml", what);
        g_autofree char *exp_path = vr_test_case_file("xml", base, ".expected.xml");
        g_autofree char *err_path = vr_test_case_file("xml", base, ".err");
        g_autofree char *sys_path = vr_test_case_file("xml", base, ".sysroot");
        g_autofree char *in = NULL, *out = NULL, *sysroot_rel = NULL, *sysroot = NULL;
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) conf = vr_test_case_conf_error("xml", base, &err);
        VrRewriteOptions ao;
        gsize in_len = 0;
        size_t out_len = 0;

        if (!conf) /* a host config that does not load: its error is the case's result */
                return vr_test_check_result(base, exp_path, err_path, NULL, err->message);
        if (!g_file_get_contents(in_path, &in, &in_len, NULL)) {
                fprintf(stderr, "%s: cannot read %s\n", base, in_path);
                return false;
        }
        if (g_file_get_contents(sys_path, &sysroot_rel, NULL, NULL))
                sysroot = vr_test_data_path("sysroot", g_strstrip(sysroot_rel));
        ao = (VrRewriteOptions){conf, sysroot, what};
        if (vr_rewrite_xml(in, in_len, &ao, &out, &out_len, NULL, &err) < 0)
                return vr_test_check_result(base, exp_path, err_path, NULL, err->message);
        return check_well_formed(base, out) && vr_test_check_result(base, exp_path, err_path, out, NULL) &&
               (vr_test_regenerate() || check_idempotent(base, out, &ao));
}

static bool run_render_case(const char *base) {
        g_autofree char *rpath = vr_test_case_file("render", base, ".render");
        g_autofree char *exp_path = vr_test_case_file("render", base, ".expected.xml");
        g_autofree char *err_path = vr_test_case_file("render", base, ".err");
        g_autoptr(GKeyFile) kf = NULL;
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) conf = NULL;
        g_autofree char *tmpl = NULL, *name = NULL, *type = NULL, *cpus = NULL, *hk = NULL;
        g_autofree char *placement = NULL, *profile = NULL, *policy = NULL, *policy_path = NULL;
        g_autofree char *image_dir = NULL, *init = NULL, *sysroot = NULL;
        g_autofree char *sysroot_path = NULL, *out = NULL, *uuid = NULL;
        g_autofree char *template_dir = g_build_filename(g_getenv("top_srcdir") ? g_getenv("top_srcdir") : ".", "xml-templates", NULL);
        g_auto(GStrv) ports = NULL;
        VrRenderOptions ro;
        VrRewriteOptions ao;

        kf = vr_test_load_case(base, rpath);
        if (!kf)
                return false;
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
        sysroot = S("sysroot");
        uuid = S("uuid");
#undef S
        ports = g_key_file_get_string_list(kf, "render", "ports", NULL, NULL);
        conf = vr_test_case_conf("render", base);
        if (!conf)
                return false;
        if (policy)
                policy_path = vr_test_data_path("render", policy);
        if (sysroot)
                sysroot_path = vr_test_data_path("sysroot", sysroot);
        ro = (VrRenderOptions){
                .template_name = tmpl, .template_dir = template_dir, .name = name, .type = type,
                .vcpus = g_key_file_get_integer(kf, "render", "vcpus", NULL),
                .memory_mib = g_key_file_get_integer(kf, "render", "memory", NULL),
                .ports = ports, .cpus = cpus, .housekeeping = hk, .placement = placement,
                .profile = profile, .policy_file = policy_path,
                .image_dir = image_dir ? image_dir : "/var/lib/virt-router/images",
                .no_image = g_key_file_get_boolean(kf, "render", "no-image", NULL), .init = init,
                .uuid = uuid,
        };
        ao = (VrRewriteOptions){conf, sysroot_path, "render"};
        out = vr_render(&ro, &ao, &err);
        if (!out)
                return vr_test_check_result(base, exp_path, err_path, NULL, err->message);
        return check_well_formed(base, out) && vr_test_check_result(base, exp_path, err_path, out, NULL) &&
               (vr_test_regenerate() || check_idempotent(base, out, &ao));
}

/* File scope: forked children _exit() with these still reachable, not leaked. */
static GPtrArray *apply_cases, *render_cases;

int main(int argc, char **argv) {
        VrTestRun run = {.only = argc > 1 ? argv[1] : NULL};

        apply_cases = vr_test_list_cases("xml", ".xml", ".expected.xml");
        render_cases = vr_test_list_cases("render", ".render", NULL);
        vr_test_run_cases(&run, "xml/", apply_cases, run_apply_case);
        vr_test_run_cases(&run, "render/", render_cases, run_render_case);
        g_ptr_array_unref(apply_cases);
        g_ptr_array_unref(render_cases);
        return vr_test_summary(&run);
}
