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
#include "vr-pci.h"
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
                /* across and at the ends of the 64-bit words the search skips */
                {"63-64,127,128,4000,8191", 0, "63-64,127-128,4000,8191", 6}, {"0-8191", 0, "0-8191", 8192},
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
        g_clear_pointer(&a, vr_cpuset_free);
        g_assert_cmpint(vr_cpuset_parse("63,64,4000,8191", &a), ==, 0);
        g_assert_cmpint(vr_cpuset_nth(a, 1), ==, 64);
        g_assert_cmpint(vr_cpuset_nth(a, 3), ==, 8191);
        g_assert_cmpint(vr_cpuset_nth(a, 4), ==, -1);
        g_assert_cmpint(vr_cpuset_last(a), ==, 8191);
        g_assert_cmpint(vr_cpuset_last(c), ==, 1);
        g_assert_cmpint(vr_cpuset_last(NULL), ==, -1);
        g_assert_cmpint(vr_cpuset_nth(NULL, 0), ==, -1);
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

/* The reader's numbers: RFC 8259's only, and whole numbers read only when they fit,
 * never converted from a double out of range (1e30 as an int64 is undefined). */
static void test_json_numbers(void) {
        static const struct {
                const char *text;
                int64_t min, max;
                int want; /* 0, -EINVAL, -ERANGE; 1: the text does not parse */
                int64_t value;
        } cases[] = {
                {"42", 0, 100, 0, 42},
                {"-7", -10, 10, 0, -7},
                {"4.2e1", 0, 100, 0, 42},
                {"4294967297", 0, G_MAXINT32, -ERANGE, 0},
                {"1e30", G_MININT64, G_MAXINT64, -ERANGE, 0},
                {"1e999", G_MININT64, G_MAXINT64, -ERANGE, 0},
                {"-1e999", G_MININT64, G_MAXINT64, -ERANGE, 0},
                {"9007199254740994", 0, G_MAXINT64, -ERANGE, 0}, /* beyond 2^53: not exact */
                {"9007199254740992", 0, G_MAXINT64, 0, 9007199254740992LL},
                {"4242.5", 0, G_MAXINT32, -ERANGE, 0},
                {"-1", 0, 10, -ERANGE, 0},
                {"\"42\"", 0, 100, -EINVAL, 0},
                {"true", 0, 100, -EINVAL, 0},
                {"-nan", 0, 100, 1, 0},
                {"-inf", 0, 100, 1, 0},
                {"0x10", 0, 100, 1, 0},
                {"012", 0, 100, 1, 0},
                {"1.", 0, 100, 1, 0},
                {"1e", 0, 100, 1, 0},
                {"-", 0, 100, 1, 0},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *doc = g_strdup_printf("{\"n\": %s}", cases[i].text);
                g_autoptr(GError) err = NULL;
                g_autoptr(VrJsonNode) n = vr_json_parse(doc, &err);
                int64_t v = -12345;
                g_test_message("json number %s", cases[i].text);
                if (cases[i].want == 1) {
                        g_assert_null(n);
                        g_assert_nonnull(err);
                        continue;
                }
                g_assert_no_error(err);
                g_assert_cmpint(vr_json_member_int(n, "n", cases[i].min, cases[i].max, &v), ==, cases[i].want);
                g_assert_cmpint(v, ==, cases[i].want == 0 ? cases[i].value : -12345); /* untouched on failure */
                g_assert_cmpint(vr_json_member_int(n, "absent", 0, 1, &v), ==, -ENOENT);
        }
}

/* A member name given twice is refused: which one counts would be a guess. */
static void test_json_duplicate_key(void) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VrJsonNode) ok = vr_json_parse("{\"a\": {\"b\": 1}, \"c\": {\"b\": 2}}", &err);
        g_autoptr(VrJsonNode) dup = NULL;

        g_assert_no_error(err);
        g_assert_nonnull(ok);
        dup = vr_json_parse("{\"pid\": 1, \"cpus\": \"2\", \"pid\": 2}", &err);
        g_assert_null(dup);
        g_assert_nonnull(err);
        g_assert_nonnull(strstr(err->message, "member 'pid' given twice"));
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
                /* Every profile value is checked as the file loads, used by a domain or not. */
                {"[profile p]\nplacement=dedicated\ncpus=2-3\nhousekeeping=0\nshares=2048\nqueue=40\n"
                 "rx-queue-size=512\nsched-threads=vcpu,vhost\nsched-class=deadline\nsched-priority=20\n"
                 "sched-nice=-5\nsched-runtime=200us\nsched-deadline=800us\nsched-period=1ms\nrate=100kpps\n"
                 "burst=64\ndelay=30ms\nbandwidth=1Gbit/s\nstrip=sound usb\n", NULL},
                {"[profile p]\nqueue=0\n", "[profile p] queue='0': expected a queue length in packets, 1-100000"},
                {"[profile p]\nqueue=\n", "[profile p] queue='': expected a queue length"},
                {"[profile p]\nplacement=sometimes\n", "placement='sometimes': expected one of: shared, dedicated"},
                {"[profile p]\ncpus=2-\n", "cpus='2-': expected a CPU list"},
                {"[profile p]\nshares=1\n", "shares='1': expected CFS CPU shares, 2-262144"},
                {"[profile p]\nrx-queue-size=300\n", "rx-queue-size='300': expected a virtio ring size, a power of two"},
                {"[profile p]\nsched-threads=vcpu gpu\n", "sched-threads='vcpu gpu': expected a list of vcpu"},
                {"[profile p]\nsched-class=hard\n", "sched-class='hard': expected one of: other, batch"},
                {"[profile p]\nsched-priority=0\n", "sched-priority='0': expected a real-time priority, 1-99"},
                {"[profile p]\nsched-nice=20\n", "sched-nice='20': expected a nice value"},
                {"[profile p]\nsched-runtime=1ns\n", "sched-runtime='1ns': expected a duration of at least 1024ns"},
                {"[profile p]\nsched-period=5s\n", "sched-period='5s': expected a period from 100us to 4s"},
                {"[profile p]\nsched-deadline=soon\n", "sched-deadline='soon': expected a duration"},
                {"[profile p]\nrate=0pps\n", "rate='0pps': expected a packet rate above zero"},
                {"[profile p]\nburst=0\n", "burst='0': expected a burst in packets, 1-1000000"},
                {"[profile p]\ndelay=0ms\n", "delay='0ms': expected a delay bound above zero"},
                {"[profile p]\nbandwidth=fast\n", "bandwidth='fast': expected a bit rate above zero"},
                {"[profile p]\nstrip=sound floppy\n", "strip='sound floppy': expected a list of sound, graphics"},
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

/* All bad profile values at once, one line each in file order, naming file, group and
 * key; the profile that holds them need not be used by any domain or rule. */
static void test_hostconf_profile_values(void) {
        g_autofree char *path = write_conf("[host]\nrouter-cpus=2-3\n[profile p1]\nqueue=0\nplacement=shared\n"
                                           "[profile p2]\nrate=fast\ndelay=2\n");
        g_autofree char *want = g_strdup_printf("%s: [profile p1] queue='0': expected a queue length in packets, 1-100000\n"
                                                "%s: [profile p2] rate='fast': expected a packet rate above zero with a unit: pps, kpps or Mpps (e.g. '800kpps')\n"
                                                "%s: [profile p2] delay='2': expected a delay bound above zero with a unit: ns, us, ms or s (e.g. '2ms')",
                                                path, path, path);
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) c = vr_host_conf_load(path, &err);

        g_assert_null(c);
        g_assert_error(err, VR_ERROR, VR_ERROR_INVALID);
        g_assert_cmpstr(err->message, ==, want);
        unlink(path);
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

/* Parse text, let edit change it, and return what the serializer makes of it. */
static char *reserialize_text(const char *text, void (*edit)(xmlNode *root)) {
        g_autoptr(GError) err = NULL;
        g_autoptr(xmlDoc) doc = vr_xml_parse(text, strlen(text), "odd", &err);
        g_auto(VrXmlStyle) style = {0};

        g_assert_no_error(err);
        vr_xml_style_detect(text, strlen(text), &style);
        if (edit)
                edit(xmlDocGetRootElement(doc));
        return vr_xml_serialize(doc, &style, NULL);
}

static char *reserialize(void (*edit)(xmlNode *root)) {
        return reserialize_text(odd_doc, edit);
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

/* PCI addresses as libvirt's virPCIDeviceAddressParseXML() reads them. */
static void test_pci_address(void) {
        static const struct {
                const char *attrs;
                const char *want; /* NULL: not an address libvirt takes */
        } cases[] = {
                {"type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x2'", "0000:03:10.2"},
                {"bus='0x03' slot='0x10' function='0x2'", "0000:03:10.2"}, /* domain defaults to 0 */
                {"bus='0x03' slot='0x10'", "0000:03:10.0"},
                {"domain='0' bus='3' slot='16' function='2'", "0000:03:10.2"}, /* decimal */
                {"bus='0X3B' slot='0x1F' function='07'", "0000:3b:1f.7"},     /* upper case, octal */
                {"domain='0x10000' bus='0x03' slot='0x10'", NULL},
                {"bus='0x100' slot='0x10'", NULL},
                {"bus='0x03' slot='0x20'", NULL},
                {"bus='0x03' slot='0x10' function='8'", NULL},
                {"bus='0x03' slot='0x10' function='-1'", NULL},
                {"bus='3x' slot='0x10'", NULL},
                {"bus='' slot='0x10'", NULL},
                {"function='0x2'", NULL}, /* empty: libvirt picks one */
                {"type='drive' bus='0x03' slot='0x10'", NULL},
        };
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
                g_autofree char *xml = g_strdup_printf("<address %s/>", cases[i].attrs);
                g_autoptr(GError) err = NULL;
                g_autoptr(xmlDoc) doc = vr_xml_parse(xml, strlen(xml), "pci", &err);
                g_autofree char *got = NULL;
                g_assert_nonnull(doc);
                got = vr_xml_pci_address(xmlDocGetRootElement(doc));
                g_test_message("%s -> %s", cases[i].attrs, got ? got : "(none)");
                g_assert_cmpstr(got, ==, cases[i].want);
        }
        g_assert_null(vr_xml_pci_address(NULL));
}

static char *with_line_ends(const char *s, const char *nl) {
        g_autoptr(GString) g = g_string_new(s);

        g_string_replace(g, "\n", nl, 0);
        return g_string_free(g_steal_pointer(&g), FALSE);
}

static void edit_add_lines(xmlNode *root) {
        xmlNode *d = vr_xml_new("description", NULL);

        xmlNodeAddContent(d, BAD_CAST "two\nlines");
        vr_xml_insert(root, vr_xml_child(root, NULL, "name"), d);
        vr_xml_set_prop(vr_xml_child(root, NULL, "vcpu"), "cpuset", "2");
}

/* libxml2 reads CRLF and CR as LF: new lines are written with the input's own line end
 * (its most common one), and kept lines keep theirs. */
static void test_serialize_line_ends(void) {
        static const char in[] = "<domain type='kvm'>\n  <name>a</name>\n  <vcpu>1</vcpu>\n</domain>\n";
        static const char want[] = "<domain type='kvm'>\n  <name>a</name>\n  <description>two\nlines</description>\n"
                                   "  <vcpu cpuset='2'>1</vcpu>\n</domain>\n";
        static const char *const nls[] = {"\n", "\r\n", "\r"};
        /* Mostly LF: the CRLF line stays so, new lines are LF. */
        static const char mixed[] = "<domain type='kvm'>\r\n  <name>a</name>\n  <vcpu>1</vcpu>\n</domain>\n";
        g_autofree char *mixed_out = reserialize_text(mixed, edit_add_lines);
        g_autofree char *mixed_want = g_strconcat("<domain type='kvm'>\r", want + strlen("<domain type='kvm'>"), NULL);

        for (size_t i = 0; i < G_N_ELEMENTS(nls); i++) {
                g_autofree char *text = with_line_ends(in, nls[i]);
                g_autofree char *expect = with_line_ends(want, nls[i]);
                g_autofree char *out = reserialize_text(text, edit_add_lines);
                g_assert_cmpstr(out, ==, expect);
        }
        g_assert_cmpstr(mixed_out, ==, mixed_want);
}

static void edit_replace_and_attrs(xmlNode *root) {
        xmlNode *drv = vr_xml_child(root, NULL, "driver");

        vr_xml_replace(vr_xml_child(root, NULL, "source"), vr_xml_new("source", "dev", "a", "mode", "bridge", NULL));
        vr_xml_replace(vr_xml_child(root, NULL, "model"), vr_xml_new("model", "type", "virtio", NULL));
        vr_xml_set_prop(drv, "name", "vhost");
        vr_xml_unset_prop(drv, "queues");
        vr_xml_set_prop(drv, "rx_queue_size", "1024");
        vr_xml_unset_prop(vr_xml_child(root, NULL, "x"), "b");
        vr_xml_unset_prop(vr_xml_child(root, NULL, "y"), "b");
        vr_xml_unset_prop(vr_xml_child(root, NULL, "z"), "a");
}

/* A changed element keeps its end tag also when the rewrite replaced it by a new one, and
 * attributes wrapped over lines stay on their lines as others come and go. */
static void test_serialize_keeps_wrapping(void) {
        static const char in[] = "<interface>\n"
                                 "  <source dev='a'\n          mode='vepa'></source>\n"
                                 "  <model></model>\n"
                                 "  <driver name='qemu'\n          queues='4'\n          event_idx='off'></driver>\n"
                                 "  <x a='1'\n     b='2' c='3'/>\n"
                                 "  <y a='1' b='2'\n     c='3'/>\n"
                                 "  <z a='1'\n     b='2'/>\n"
                                 "</interface>\n";
        static const char want[] = "<interface>\n"
                                   "  <source dev='a'\n          mode='bridge'></source>\n"
                                   "  <model type='virtio'></model>\n"
                                   "  <driver name='vhost'\n          event_idx='off'\n"
                                   "          rx_queue_size='1024'></driver>\n"
                                   "  <x a='1'\n     c='3'/>\n"
                                   "  <y a='1'\n     c='3'/>\n"
                                   "  <z\n     b='2'/>\n"
                                   "</interface>\n";
        g_autofree char *out = reserialize_text(in, edit_replace_and_attrs);

        g_assert_cmpstr(out, ==, want);
}

static void edit_vcpu(xmlNode *root) {
        vr_xml_set_text(vr_xml_child(root, NULL, "vcpu"), "2");
}

/* An entity stands for text that is not in the document: refused, with where and what was
 * expected. A DOCTYPE without entities is kept as written. */
static void test_parse_refuses_entities(void) {
        static const char declared[] = "<!DOCTYPE d [\n<!ENTITY x SYSTEM 'file:///etc/hostname'>\n]>\n<d>&x;</d>";
        static const char undeclared[] = "<?xml version='1.0'?>\n<!DOCTYPE d SYSTEM 'd.dtd'>\n<d>\n<e a='&y;'/></d>";
        static const char subset[] = "<!DOCTYPE domain [\n  <!-- ] > -->\n  <!ATTLIST vcpu p CDATA 'a]>'>\n]>\n"
                                     "<domain>\n  <vcpu>1</vcpu>\n</domain>\n";
        g_autoptr(GError) e1 = NULL;
        g_autoptr(GError) e2 = NULL;
        g_autoptr(xmlDoc) d1 = vr_xml_parse(declared, strlen(declared), "t.xml", &e1);
        g_autoptr(xmlDoc) d2 = vr_xml_parse(undeclared, strlen(undeclared), "t.xml", &e2);
        g_autofree char *kept = reserialize_text(subset, edit_vcpu);
        g_autoptr(GString) want = g_string_new(subset);

        g_assert_null(d1);
        g_assert_cmpstr(e1->message, ==, "t.xml:1: <!DOCTYPE> declares entity 'x': expected a libvirt domain XML, which declares no entities (libvirt writes no DOCTYPE)");
        g_assert_null(d2);
        g_assert_cmpstr(e2->message, ==, "t.xml:4: entity reference '&y;': expected a libvirt domain XML, whose only references are &lt; &gt; &amp; &apos; &quot; and character references");
        g_string_replace(want, "<vcpu>1</vcpu>", "<vcpu>2</vcpu>", 1);
        g_assert_cmpstr(kept, ==, want->str);
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
        g_test_add_func("/json/numbers", test_json_numbers);
        g_test_add_func("/json/duplicate-key", test_json_duplicate_key);
        g_test_add_func("/hostconf/errors", test_hostconf);
        g_test_add_func("/hostconf/profile-values", test_hostconf_profile_values);
        g_test_add_func("/hostconf/missing", test_hostconf_missing);
        g_test_add_func("/hostconf/rules", test_rules);
        g_test_add_func("/uuid/v5", test_uuid_v5);
        g_test_add_func("/xml/serialize-keeps-layout", test_serialize_keeps_layout);
        g_test_add_func("/xml/pci-address", test_pci_address);
        g_test_add_func("/xml/serialize-line-ends", test_serialize_line_ends);
        g_test_add_func("/xml/serialize-keeps-wrapping", test_serialize_keeps_wrapping);
        g_test_add_func("/xml/parse-refuses-entities", test_parse_refuses_entities);
        return g_test_run();
}
