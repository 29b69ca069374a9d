/* The hook-to-tuner spec as a round trip, without root. For every domain XML of the
 * corpus (the expected output of each apply and render case, tests/data/xml and
 * tests/data/render, i.e. what libvirt hands the hook at started; each drift case,
 * tests/data/drift, as libvirt hands it over live; and tests/data/spec/NAME.xml for what
 * those leave out), the hook's spec (vr_tune_spec_from_doc) must equal
 * tests/data/spec/DIR-NAME.json (or fail as DIR-NAME.err), and the tuner's reader
 * (vr_tune_spec_from_json) must give it back: written again, the same text. Then the
 * expected specs must exercise every field: each one takes two values or more across
 * the cases, so that a reader that drops a field (and so always gives its default)
 * cannot pass. And tests/data/spec/bad-NAME.spec, a spec the tuner must refuse, gives
 * the message in bad-NAME.err. Each case runs in a forked child; VR_TEST_REGENERATE=1
 * rewrites the expected files. */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-json.h"
#include "vr-spec.h"
#include "vr-test.h"
#include "vr-tune-spec.h"
#include "vr-xml.h"

/* "xml/NAME" -> the domain XML file and the expected file's base, "xml-NAME". */
static char *case_xml(const char *dir, const char *base) {
        if (g_str_equal(dir, "xml") || g_str_equal(dir, "render"))
                return vr_test_case_file(dir, base, ".expected.xml");
        return vr_test_case_file(dir, base, ".xml");
}

static bool run_case(const char *case_name) {
        g_auto(GStrv) parts = g_strsplit(case_name, "/", 2);
        const char *dir = parts[0], *base = parts[1];
        g_autofree char *path = case_xml(dir, base);
        g_autofree char *exp_base = g_str_equal(dir, "spec") ? g_strdup(base) : g_strconcat(dir, "-", base, NULL);
        g_autofree char *exp_path = vr_test_case_file("spec", exp_base, ".json");
        g_autofree char *err_path = vr_test_case_file("spec", exp_base, ".err");
        /* No /proc under it: the pid stays as given (an LXC controller is not made its init). */
        g_autofree char *root = vr_test_data_path("spec", "");
        g_autofree char *xml = NULL, *spec = NULL, *again = NULL;
        g_autoptr(VrHostConf) conf = vr_test_case_conf(dir, base);
        g_autoptr(VrTuneSpec) read = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(GError) err = NULL;
        /* A pid per case, so that a reader dropping it would show. */
        pid_t pid = (pid_t) (1000 + g_str_hash(case_name) % 30000);
        gsize len = 0;

        if (!conf)
                return false;
        if (!g_file_get_contents(path, &xml, &len, &err) || !(doc = vr_xml_parse(xml, len, path, &err))) {
                fprintf(stderr, "%s: %s\n", case_name, err->message);
                return false;
        }
        spec = vr_tune_spec_from_doc(root, doc, case_name, pid, conf, &err);
        if (!spec)
                return vr_test_check_result(case_name, exp_path, err_path, NULL, err->message);
        if (!vr_test_check_result(case_name, exp_path, err_path, spec, NULL))
                return false;
        read = vr_tune_spec_from_json(spec, &err);
        if (!read) {
                fprintf(stderr, "%s: the tuner refuses the hook's spec: %s\n", case_name, err->message);
                return false;
        }
        again = vr_tune_spec_to_json(read);
        if (!g_str_equal(again, spec)) {
                g_autofree char *f1 = g_strdup_printf("vr-spec-%s.hook.json", exp_base);
                g_autofree char *f2 = g_strdup_printf("vr-spec-%s.tuner.json", exp_base);
                g_autofree char *p1 = g_build_filename(g_get_tmp_dir(), f1, NULL);
                g_autofree char *p2 = g_build_filename(g_get_tmp_dir(), f2, NULL);
                (void) g_file_set_contents(p1, spec, -1, NULL);
                (void) g_file_set_contents(p2, again, -1, NULL);
                fprintf(stderr, "%s: the spec the tuner read, written again, differs from the hook's: diff -u %s %s\n",
                        case_name, p1, p2);
                return false;
        }
        return true;
}

/* spec/bad-NAME.spec: a spec the tuner must refuse, naming the field (bad-NAME.err). */
static bool run_bad_case(const char *base) {
        g_autofree char *path = vr_test_case_file("spec", base, ".spec");
        g_autofree char *err_path = vr_test_case_file("spec", base, ".err");
        g_autofree char *text = NULL, *got = NULL;
        g_autoptr(VrTuneSpec) read = NULL;
        g_autoptr(GError) err = NULL;

        if (!g_file_get_contents(path, &text, NULL, &err)) {
                fprintf(stderr, "%s: %s\n", base, err->message);
                return false;
        }
        read = vr_tune_spec_from_json(text, &err);
        if (read) {
                fprintf(stderr, "%s: the tuner's reader accepted it\n", base);
                return false;
        }
        got = g_strconcat(err->message, "\n", NULL);
        return vr_test_check_expected(base, err_path, got, NULL);
}

/* ------------------------------------------------------------------------ */
/* Does the corpus exercise every field?                                     */

/* Each path ("policy.ports[].vlan") -> the set of values it takes; an object or array
 * counts as the one value "{}" or "[]" (a guarantee is an object or null). */
static void collect(const VrJsonNode *n, const char *path, GHashTable *values) {
        GHashTable *set;
        char *v;

        switch (n->type) {
        case VR_JSON_OBJECT:
                for (guint i = 0; i < n->keys->len; i++) {
                        g_autofree char *sub = g_strconcat(path, ".", n->keys->pdata[i], NULL);
                        collect(n->items->pdata[i], sub, values);
                }
                v = g_strdup("{}");
                break;
        case VR_JSON_ARRAY:
                for (guint i = 0; i < n->items->len; i++) {
                        g_autofree char *sub = g_strconcat(path, "[]", NULL);
                        collect(n->items->pdata[i], sub, values);
                }
                v = g_strdup("[]");
                break;
        case VR_JSON_NULL:
                v = g_strdup("null");
                break;
        case VR_JSON_BOOL:
                v = g_strdup(n->boolean ? "true" : "false");
                break;
        case VR_JSON_NUMBER:
                v = g_strdup_printf("%.17g", n->number);
                break;
        case VR_JSON_STRING:
        default:
                v = g_strdup_printf("\"%s\"", n->string);
                break;
        }
        set = g_hash_table_lookup(values, path);
        if (!set) {
                set = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
                g_hash_table_insert(values, g_strdup(path), set);
        }
        g_hash_table_add(set, v);
}

static bool check_coverage(void) {
        g_autoptr(GPtrArray) names = vr_test_list_cases("spec", ".json", NULL);
        g_autoptr(GHashTable) values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                             (GDestroyNotify) g_hash_table_unref);
        g_autoptr(GList) paths = NULL;
        bool ok = true;

        for (guint i = 0; i < names->len; i++) {
                g_autofree char *path = vr_test_case_file("spec", names->pdata[i], ".json");
                g_autofree char *text = NULL;
                g_autoptr(VrJsonNode) n = NULL;
                g_autoptr(GError) err = NULL;
                if (!g_file_get_contents(path, &text, NULL, &err) || !(n = vr_json_parse(text, &err))) {
                        fprintf(stderr, "%s: %s\n", path, err->message);
                        return false;
                }
                collect(n, "", values);
        }
        paths = g_list_sort(g_hash_table_get_keys(values), (GCompareFunc) strcmp);
        for (GList *l = paths; l; l = l->next) {
                GHashTable *set = g_hash_table_lookup(values, l->data);
                /* Objects and arrays always are: their members are checked. */
                bool container = g_hash_table_contains(set, "{}") || g_hash_table_contains(set, "[]");
                if (g_hash_table_size(set) < 2 && !container) {
                        g_autoptr(GList) one = g_hash_table_get_keys(set);
                        fprintf(stderr, "spec field %s is %s in every case: a reader that dropped it would pass; add a case to tests/data/spec\n",
                                (const char *) l->data + 1, (const char *) one->data);
                        ok = false;
                }
        }
        if (names->len == 0 || g_hash_table_size(values) == 0) {
                fprintf(stderr, "no expected specs under tests/data/spec\n");
                ok = false;
        }
        return ok;
}

static void add_cases(GPtrArray *cases, const char *dir, const char *suffix, const char *exclude) {
        g_autoptr(GPtrArray) names = vr_test_list_cases(dir, suffix, exclude);

        for (guint i = 0; i < names->len; i++)
                g_ptr_array_add(cases, g_strconcat(dir, "/", names->pdata[i], NULL));
}

/* File scope: forked children _exit() with these still reachable, not leaked. */
static GPtrArray *cases, *bad_cases;

int main(int argc, char **argv) {
        VrTestRun run = {.only = argc > 1 ? argv[1] : NULL};

        cases = g_ptr_array_new_with_free_func(g_free);
        add_cases(cases, "xml", ".expected.xml", NULL);
        add_cases(cases, "render", ".expected.xml", NULL);
        add_cases(cases, "drift", ".xml", NULL);
        add_cases(cases, "spec", ".xml", NULL);
        bad_cases = vr_test_list_cases("spec", ".spec", NULL);
        vr_test_run_cases(&run, "", cases, run_case);
        vr_test_run_cases(&run, "spec/", bad_cases, run_bad_case);
        if (!run.only) {
                bool ok = check_coverage();
                printf("%s: spec fields each take two values or more\n", ok ? "PASS" : "FAIL");
                if (ok)
                        run.passed++;
                else
                        run.failed++;
        }
        g_ptr_array_unref(cases);
        g_ptr_array_unref(bad_cases);
        return vr_test_summary(&run);
}
