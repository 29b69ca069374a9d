/* Unit tests of the small parsers: units, CPU lists, the JSON writer, host config; the XML
 * serializer's keeping of the input's bytes. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vr-cpuset.h"
#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-json.h"
#include "vr-render.h"
#include "vr-units.h"
#include "vr-xml.h"

typedef struct {
        const char *in;
        int ret;
        uint64_t want;
} UnitCase;

static void test_duration(void) {
        static const UnitCase cases[] = {
                {"300us", 0, 300000}, {"1ms", 0, 1000000}, {"1.5ms", 0, 1500000},
                {"2s", 0, 2000000000ULL}, {"500ns", 0, 500}, {"0ms", 0, 0},
                {"300", -EINVAL, 0}, {"", -EINVAL, 0}, {"ms", -EINVAL, 0}, {"-1ms", -EINVAL, 0},
                {" 1ms", -EINVAL, 0}, {"1 ms", -EINVAL, 0}, {"1MS", -EINVAL, 0},
                {"0x10ms", -EINVAL, 0}, {"1e3us", -EINVAL, 0}, {"0.5ns", -ERANGE, 0},
                {"99999999999999999999s", -ERANGE, 0}, {"1.2.3ms", -EINVAL, 0},
                /* 2^63 ns and more: refused, not clamped to 2^63 (issue 15) */
                {"10000000000s", -ERANGE, 0}, {"9223372036854775808ns", -ERANGE, 0},
                {"9223372036s", 0, 9223372036000000000ULL},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                uint64_t v = 42;
                int r = vr_parse_duration(cases[i].in, &v);
                g_test_message("duration '%s' -> %d %" G_GUINT64_FORMAT, cases[i].in, r, v);
                g_assert_cmpint(r, ==, cases[i].ret);
                g_assert_cmpuint(v, ==, r == 0 ? cases[i].want : 42);
        }
}

static void test_rates(void) {
        uint64_t v;
        g_assert_cmpint(vr_parse_pkt_rate("800kpps", &v), ==, 0);
        g_assert_cmpuint(v, ==, 800000);
        g_assert_cmpint(vr_parse_pkt_rate("1.2Mpps", &v), ==, 0);
        g_assert_cmpuint(v, ==, 1200000);
        g_assert_cmpint(vr_parse_pkt_rate("50000pps", &v), ==, 0);
        g_assert_cmpuint(v, ==, 50000);
        g_assert_cmpint(vr_parse_pkt_rate("800k", &v), ==, -EINVAL);
        g_assert_cmpint(vr_parse_pkt_rate("800Kpps", &v), ==, -EINVAL);
        g_assert_cmpint(vr_parse_bit_rate("100Mbit/s", &v), ==, 0);
        g_assert_cmpuint(v, ==, 100000000);
        g_assert_cmpint(vr_parse_bit_rate("1Gbit", &v), ==, 0);
        g_assert_cmpuint(v, ==, 1000000000);
        g_assert_cmpint(vr_parse_bit_rate("500kbps", &v), ==, 0);
        g_assert_cmpuint(v, ==, 500000);
        g_assert_cmpint(vr_parse_bit_rate("100MB/s", &v), ==, -EINVAL);
        /* 2^63 and more: refused and v untouched, where it used to read 2^63 (issue 15) */
        v = 42;
        g_assert_cmpint(vr_parse_pkt_rate("18000000000000Mpps", &v), ==, -ERANGE);
        g_assert_cmpint(vr_parse_pkt_rate("9223372036854775808pps", &v), ==, -ERANGE);
        g_assert_cmpint(vr_parse_bit_rate("9300000000Gbit/s", &v), ==, -ERANGE);
        g_assert_cmpuint(v, ==, 42);
        g_assert_cmpint(vr_parse_pkt_rate("4294967297pps", &v), ==, 0); /* in range here: the policy bounds it */
        g_assert_cmpuint(v, ==, 4294967297ULL);
}

static void test_format(void) {
        g_autofree char *a = vr_format_duration(300000);
        g_autofree char *b = vr_format_duration(1500000);
        g_autofree char *c = vr_format_pkt_rate(800000);
        g_autofree char *d = vr_format_bit_rate(1000000000);
        g_assert_cmpstr(a, ==, "300us");
        g_assert_cmpstr(b, ==, "1500us");
        g_assert_cmpstr(c, ==, "800kpps");
        g_assert_cmpstr(d, ==, "1Gbit/s");
}

static void test_int_bool_fraction(void) {
        int64_t n;
        bool b;
        uint32_t ppm;
        g_assert_cmpint(vr_parse_int("42", 0, 100, &n), ==, 0);
        g_assert_cmpint(n, ==, 42);
        g_assert_cmpint(vr_parse_int("-5", -10, 10, &n), ==, 0);
        g_assert_cmpint(n, ==, -5);
        g_assert_cmpint(vr_parse_int("101", 0, 100, &n), ==, -ERANGE);
        g_assert_cmpint(vr_parse_int("4x", 0, 100, &n), ==, -EINVAL);
        g_assert_cmpint(vr_parse_int(" 4", 0, 100, &n), ==, -EINVAL);
        g_assert_cmpint(vr_parse_int("99999999999999999999", 0, 100, &n), ==, -ERANGE);
        g_assert_cmpint(vr_parse_bool("yes", &b), ==, 0);
        g_assert_true(b);
        g_assert_cmpint(vr_parse_bool("off", &b), ==, 0);
        g_assert_false(b);
        g_assert_cmpint(vr_parse_bool("maybe", &b), ==, -EINVAL);
        g_assert_cmpint(vr_parse_fraction_ppm("90%", &ppm), ==, 0);
        g_assert_cmpuint(ppm, ==, 900000);
        g_assert_cmpint(vr_parse_fraction_ppm("0.95", &ppm), ==, 0);
        g_assert_cmpuint(ppm, ==, 950000);
        g_assert_cmpint(vr_parse_fraction_ppm("120%", &ppm), ==, -ERANGE);
}

static void test_cpuset(void) {
        static const struct {
                const char *in;
                int ret;
                const char *canon;
                unsigned count;
        } cases[] = {
                {"0", 0, "0", 1}, {"2-3", 0, "2-3", 2}, {"0-3,8,10-11", 0, "0-3,8,10-11", 7},
                {"3,2,1", 0, "1-3", 3}, {"1, 2", 0, "1-2", 2}, {"", -EINVAL, NULL, 0},
                {"a", -EINVAL, NULL, 0}, {"3-1", -ERANGE, NULL, 0}, {"1-2-3", -EINVAL, NULL, 0},
                {"-1", -EINVAL, NULL, 0}, {"+1", -EINVAL, NULL, 0}, {"1-+2", -EINVAL, NULL, 0},
                {"8192", -ERANGE, NULL, 0}, {"1,,2", -EINVAL, NULL, 0},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autoptr(VrCpuSet) s = NULL;
                int r = vr_cpuset_parse(cases[i].in, &s);
                g_test_message("cpuset '%s' -> %d", cases[i].in, r);
                g_assert_cmpint(r, ==, cases[i].ret);
                if (r == 0) {
                        g_autofree char *f = vr_cpuset_format(s);
                        g_assert_cmpstr(f, ==, cases[i].canon);
                        g_assert_cmpuint(vr_cpuset_count(s), ==, cases[i].count);
                } else {
                        g_assert_null(s);
                }
        }
}

static void test_cpuset_ops(void) {
        g_autoptr(VrCpuSet) a = NULL, b = NULL, c = NULL;
        g_assert_cmpint(vr_cpuset_parse("2-5", &a), ==, 0);
        g_assert_cmpint(vr_cpuset_parse("3-4", &b), ==, 0);
        g_assert_cmpint(vr_cpuset_parse("0-1", &c), ==, 0);
        g_assert_true(vr_cpuset_is_subset(b, a));
        g_assert_false(vr_cpuset_is_subset(a, b));
        g_assert_true(vr_cpuset_intersects(a, b));
        g_assert_false(vr_cpuset_intersects(a, c));
        g_assert_cmpint(vr_cpuset_nth(a, 0), ==, 2);
        g_assert_cmpint(vr_cpuset_nth(a, 3), ==, 5);
        g_assert_cmpint(vr_cpuset_nth(a, 4), ==, -1);
        g_assert_cmpint(vr_cpuset_last(a), ==, 5);
}

static void test_json(void) {
        g_autoptr(VrJson) j = vr_json_new();
        g_autofree char *out = NULL;
        vr_json_begin_object(j);
        vr_json_key(j, "name");
        vr_json_string(j, "a\"b\\c\n");
        vr_json_key(j, "list");
        vr_json_begin_array(j);
        vr_json_int(j, -1);
        vr_json_bool(j, true);
        vr_json_string(j, NULL);
        vr_json_end_array(j);
        vr_json_key(j, "empty");
        vr_json_begin_object(j);
        vr_json_end_object(j);
        vr_json_end_object(j);
        out = vr_json_finish(j);
        g_assert_cmpstr(out, ==,
                        "{\n  \"name\": \"a\\\"b\\\\c\\n\",\n  \"list\": [\n    -1,\n    true,\n    null\n  ],\n  \"empty\": {}\n}\n");
}

static char *write_conf(const char *text) {
        g_autoptr(GError) err = NULL;
        char *path = NULL;
        int fd = g_file_open_tmp("vr-conf-XXXXXX", &path, &err);
        g_assert_no_error(err);
        close(fd);
        g_assert_true(g_file_set_contents(path, text, -1, NULL));
        return path;
}

static void test_hostconf(void) {
        static const struct {
                const char *text;
                const char *error; /* substring, NULL: must load */
        } cases[] = {
                {"[host]\nrouter-cpus=2-3\nhousekeeping-cpus=0\nmode=best-effort\n", NULL},
                {"[host]\nrouter-cpus=2-3\nhousekeeping-cpus=3\n", "overlap"},
                {"[host]\nrouter-cpus=x\n", "router-cpus='x': expected a CPU list"},
                {"[host]\nbogus=1\n", "unknown key 'bogus'"},
                {"[hots]\n", "unknown group [hots]"},
                {"[host]\nmode=lenient\n", "expected 'strict' or 'best-effort'"},
                {"[host]\ndeadline-cap=150%\n", "deadline-cap='150%'"},
                {"[host]\nimage-dir=relative\n", "expected an absolute path"},
                {"[rule r]\nnova-flavor=vr.*\nprofile=missing\n", "no [profile missing]"},
                {"[profile p]\nrate=1kpps\n[rule r]\nprofile=p\n", "nova-flavor= or name="},
                {"[profile p]\ncolour=red\n", "unknown key 'colour'"},
                {"[pf eth0]\nnetwork=\n", "[pf eth0] network=''"},
                {"not a key file", "host config"},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *path = write_conf(cases[i].text);
                g_autoptr(GError) err = NULL;
                g_autoptr(VrHostConf) c = vr_host_conf_load(path, &err);
                g_test_message("conf case %zu: %s", i, err ? err->message : "ok");
                if (cases[i].error) {
                        g_assert_null(c);
                        g_assert_error(err, VR_ERROR, VR_ERROR_INVALID);
                        g_assert_nonnull(strstr(err->message, cases[i].error));
                        g_assert_nonnull(strstr(err->message, path));
                } else {
                        g_assert_no_error(err);
                        g_assert_nonnull(c);
                }
                unlink(path);
        }
}

static void test_hostconf_missing(void) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) c = vr_host_conf_load("/nonexistent/virt-router.conf", &err);
        g_assert_null(c);
        g_assert_error(err, VR_ERROR, VR_ERROR_HOST);
}

static void test_rules(void) {
        g_autofree char *path = write_conf("[profile edge]\nplacement=shared\n"
                                           "[rule nova]\nnova-flavor=vr.edge.*\nprofile=edge\n"
                                           "[rule byname]\nname=edge-*\nprofile=edge\n");
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) c = vr_host_conf_load(path, &err);
        g_assert_no_error(err);
        g_assert_cmpstr(vr_host_conf_match_rule(c, "x", "vr.edge.small")->name, ==, "nova");
        g_assert_cmpstr(vr_host_conf_match_rule(c, "edge-1", NULL)->name, ==, "byname");
        g_assert_null(vr_host_conf_match_rule(c, "web", "m1.small"));
        unlink(path);
}

/* Name-based UUIDs as RFC 9562 defines them: its DNS example (also Python's uuid.uuid5),
 * and the project's namespace as render uses it. */
static void test_uuid_v5(void) {
        g_autofree char *dns = vr_uuid_v5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com");
        g_autofree char *vr1 = vr_uuid_v5(VR_UUID_NAMESPACE, "vr1");
        g_autofree char *bad = vr_uuid_v5("not-a-uuid", "vr1");

        g_assert_cmpstr(dns, ==, "2ed6657d-e927-568b-95e1-2665a8aea6a2");
        g_assert_cmpstr(vr1, ==, "4b0c2df0-1bd5-5deb-ad79-515327b3ce74");
        g_assert_null(bad);
}

/* Odd but well-formed layout: a declaration, a comment and a blank line before the root,
 * attributes in both quotes, spaced around '=' and wrapped, entity and character references
 * in text and attributes, <x></x>, CDATA, a PI, elements sharing a line, a trailing comment. */
static const char odd_doc[] =
        "<?xml version=\"1.0\"?>\n"
        "<!-- a comment -->\n"
        "\n"
        "<domain type='kvm'   xmlns:qemu=\"http://libvirt.org/schemas/domain/qemu/1.0\" >\n"
        "  <name>It&apos;s &quot;odd&quot;</name>\n"
        "  <description title=\"a&#10;b &apos;q&apos;\">line&#10;two &lt;x&gt; &#x41;</description>\n"
        "\t<vcpu  placement = \"static\"\n"
        "\t       cpuset='0'>1</vcpu>\n"
        "  <empty></empty><self   />\n"
        "  <![CDATA[ raw <stuff> ]]>\n"
        "  <?pi data?>\n"
        "  <devices><disk type='file'\n"
        "      device='disk'><source file='/a&amp;b'></source></disk>\n"
        "  </devices>\n"
        "</domain>\n"
        "<!-- trailing -->\n";

/* Parse odd_doc, let edit change it, and return what the serializer makes of it. */
static char *reserialize(void (*edit)(xmlNode *root)) {
        g_autoptr(GError) err = NULL;
        g_autoptr(xmlDoc) doc = vr_xml_parse(odd_doc, strlen(odd_doc), "odd", &err);
        g_auto(VrXmlStyle) style = {0};

        g_assert_no_error(err);
        vr_xml_style_detect(odd_doc, strlen(odd_doc), &style);
        if (edit)
                edit(xmlDocGetRootElement(doc));
        return vr_xml_serialize(doc, &style, NULL);
}

/* odd_doc with each `from` replaced by `to`. */
static char *odd_doc_with(const char *from, const char *to, const char *from2, const char *to2) {
        g_autoptr(GString) s = g_string_new(odd_doc);

        g_assert_cmpuint(g_string_replace(s, from, to, 1), ==, 1);
        if (from2)
                g_assert_cmpuint(g_string_replace(s, from2, to2, 1), ==, 1);
        return g_string_free(g_steal_pointer(&s), FALSE);
}

static void edit_cpuset(xmlNode *root) {
        g_assert_true(vr_xml_set_prop(vr_xml_child(root, NULL, "vcpu"), "cpuset", "2-3"));
}

static void edit_description(xmlNode *root) {
        xmlNode *d = vr_xml_child(root, NULL, "description");

        g_assert_true(vr_xml_set_prop(d, "lang", "en"));
}

static void edit_insert(xmlNode *root) {
        xmlNode *devices = vr_xml_child(root, NULL, "devices");

        vr_xml_insert(devices, NULL, vr_xml_new("interface", "type", "direct", NULL));
        vr_xml_set_text(vr_xml_child(root, NULL, "vcpu"), "2");
        vr_xml_remove(vr_xml_child(root, NULL, "empty"));
}

static void test_serialize_keeps_layout(void) {
        g_autofree char *same = reserialize(NULL);
        g_autofree char *cpuset = reserialize(edit_cpuset);
        g_autofree char *want_cpuset = odd_doc_with("cpuset='0'", "cpuset='2-3'", NULL, NULL);
        g_autofree char *desc = reserialize(edit_description);
        g_autofree char *want_desc = odd_doc_with("&apos;q&apos;\">", "&apos;q&apos;\" lang='en'>", NULL, NULL);
        g_autofree char *inserted = reserialize(edit_insert);
        /* The new element follows its sibling on the same line, as the input has it, in the
         * quote the input uses most; <empty> goes with the whitespace before it. */
        g_autofree char *want_inserted =
                odd_doc_with("'disk'><source file='/a&amp;b'></source></disk>\n  </devices>",
                             "'disk'><source file='/a&amp;b'></source></disk><interface type='direct'/>\n  </devices>",
                             "cpuset='0'>1</vcpu>\n  <empty></empty>", "cpuset='0'>2</vcpu>");

        /* A root without attributes, an element losing its only child, one given its first. */
        static const char small[] = "<a>\n <b x='1'><c/></b><d></d><e/>\n</a>";
        g_autoptr(xmlDoc) sdoc = vr_xml_parse(small, strlen(small), "small", NULL);
        xmlNode *sroot = xmlDocGetRootElement(sdoc);
        g_auto(VrXmlStyle) sstyle = {0};
        g_autofree char *sout = NULL;

        vr_xml_style_detect(small, strlen(small), &sstyle);
        vr_xml_remove(vr_xml_child(vr_xml_child(sroot, NULL, "b"), NULL, "c"));
        vr_xml_insert(vr_xml_child(sroot, NULL, "e"), NULL, vr_xml_new("f", NULL));
        sout = vr_xml_serialize(sdoc, &sstyle, NULL);
        g_assert_cmpstr(sout, ==, "<a>\n <b x='1'/><d></d><e><f/></e>\n</a>");
        g_assert_cmpstr(same, ==, odd_doc);
        g_assert_cmpstr(cpuset, ==, want_cpuset);
        g_assert_cmpstr(desc, ==, want_desc);
        g_assert_cmpstr(inserted, ==, want_inserted);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/units/duration", test_duration);
        g_test_add_func("/units/rates", test_rates);
        g_test_add_func("/units/format", test_format);
        g_test_add_func("/units/int-bool-fraction", test_int_bool_fraction);
        g_test_add_func("/cpuset/parse", test_cpuset);
        g_test_add_func("/cpuset/ops", test_cpuset_ops);
        g_test_add_func("/json/writer", test_json);
        g_test_add_func("/hostconf/errors", test_hostconf);
        g_test_add_func("/hostconf/missing", test_hostconf_missing);
        g_test_add_func("/hostconf/rules", test_rules);
        g_test_add_func("/uuid/v5", test_uuid_v5);
        g_test_add_func("/xml/serialize-keeps-layout", test_serialize_keeps_layout);
        return g_test_run();
}
