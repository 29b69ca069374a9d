/* The bench's pure parts: frames, statistics, generator commands, scenarios.
 * Data-driven: tests/data/bench/NAME.conf -> NAME.expected (the steps, the pktgen
 * writes, the trafgen configuration and the gnuplot script) or NAME.err. A case with
 * NAME.samples.csv (runs as `virt-router bench` writes them) also shows the summary CSV
 * and table made of them: which steps are valid. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <arpa/inet.h>
#include <glib/gstdio.h>

#include "vr-bench.h"
#include "vr-traffic.h"
#include "vr-test.h"

static void test_frame(void) {
        VrFrameSpec s = {.dst_mac = {0x52, 0x54, 0, 1, 2, 3}, .src_mac = {2, 0, 0, 0, 0, 1}, .dst_port = 9999, .size = 64, .flows = 4};
        uint8_t buf[VR_FRAME_MAX];
        VrPayload p;
        size_t len;
        uint32_t sum = 0;

        inet_pton(AF_INET, "198.18.1.2", &s.src);
        inet_pton(AF_INET, "198.19.1.2", &s.dst);
        len = vr_frame_build(buf, sizeof(buf), &s, 5);
        g_assert_cmpuint(len, ==, 60);
        g_assert_cmpmem(buf, 6, s.dst_mac, 6);
        g_assert_cmpuint(buf[12] << 8 | buf[13], ==, 0x0800);
        /* A correct IPv4 header sums to 0xffff with its checksum. */
        for (int i = 0; i < 20; i += 2)
                sum += (uint32_t)(buf[14 + i] << 8 | buf[15 + i]);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        g_assert_cmpuint(sum, ==, 0xffff);
        g_assert_cmpuint(buf[16] << 8 | buf[17], ==, 46);                   /* IP total length */
        g_assert_cmpuint(buf[34] << 8 | buf[35], ==, VR_UDP_SRC_BASE + 1); /* flow 5 of 4 */
        g_assert_cmpuint(buf[38] << 8 | buf[39], ==, 26);                   /* UDP length */
        vr_frame_stamp(buf, 0xdeadbeef, 0x0102030405060708ull);
        g_assert_true(vr_payload_parse(buf + 42, len - 42, &p));
        g_assert_cmpuint(p.seq, ==, 0xdeadbeef);
        g_assert_cmpuint(p.ts_ns, ==, 0x0102030405060708ull);
        g_assert_cmpuint(p.flow, ==, 1);
        g_assert_false(vr_payload_parse(buf + 42, 10, &p));
        buf[42] = 0;
        g_assert_false(vr_payload_parse(buf + 42, len - 42, &p));
        s.size = 63;
        g_test_expect_message(G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*size*");
        g_assert_cmpuint(vr_frame_build(buf, sizeof(buf), &s, 0), ==, 0);
        g_test_assert_expected_messages();
}

static void test_stats(void) {
        double v[] = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
        double one[] = {42}, mean, half;
        /* arrivals: 10 packets at once, then one every 1 ms */
        uint64_t burst[20];

        vr_stats_sort(v, 10);
        g_assert_cmpfloat(vr_stats_percentile(v, 10, 50), ==, 5);
        g_assert_cmpfloat(vr_stats_percentile(v, 10, 99), ==, 10);
        g_assert_cmpfloat(vr_stats_percentile(v, 10, 0), ==, 1);
        g_assert_true(isnan(vr_stats_percentile(v, 0, 50)));
        vr_stats_mean_ci95(v, 10, &mean, &half);
        g_assert_cmpfloat_with_epsilon(mean, 5.5, 1e-9);
        /* sd of 1..10 is 3.02765; t(9) = 2.262; half = 2.262 * 3.02765 / sqrt(10) */
        g_assert_cmpfloat_with_epsilon(half, 2.262 * 3.0276504 / sqrt(10), 1e-4);
        vr_stats_mean_ci95(one, 1, &mean, &half);
        g_assert_cmpfloat(mean, ==, 42);
        g_assert_cmpfloat(half, ==, 0);
        for (int i = 0; i < 20; i++)
                burst[i] = i < 10 ? 0 : (uint64_t)(i - 9) * 1000000u;
        /* At 1000 pps the 10 at once need a bucket of 10; the steady tail adds nothing. */
        g_assert_cmpfloat_with_epsilon(vr_stats_bucket_depth(burst, 20, 1000), 10, 1e-6);
        /* At 500 pps the tail (1 per ms) builds up: 10 + 10 * (1 - 0.5) */
        g_assert_cmpfloat_with_epsilon(vr_stats_bucket_depth(burst, 20, 500), 15, 1e-6);
        /* Evenly spaced at exactly the rate: a bucket of one packet. */
        for (int i = 0; i < 20; i++)
                burst[i] = (uint64_t)i * 1000000u;
        g_assert_cmpfloat_with_epsilon(vr_stats_bucket_depth(burst, 20, 1000), 1, 1e-6);
}

static void test_summary(void) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VrBench) b = vr_bench_parse("[bench]\nrepeat=2\n[router A]\nsource-netns=s\nsink-netns=k\ndst=10.0.0.1\nload=100 200\n",
                                              "t", &err);
        g_autoptr(GArray) samples = g_array_new(FALSE, TRUE, sizeof(VrBenchSample));
        g_autoptr(GArray) sum = NULL;
        VrBenchSample x[] = {
                {.step = 0, .rep = 0, .offered_pps = 100, .sent_pps = 100, .forwarded_pps = 90, .p50_ms = 1, .p99_ms = 2, .bucket_depth = NAN},
                {.step = 0, .rep = 1, .offered_pps = 100, .sent_pps = 100, .forwarded_pps = 100, .p50_ms = 1, .p99_ms = 4, .bucket_depth = NAN},
                {.step = 1, .rep = 0, .offered_pps = 200, .sent_pps = 0, .forwarded_pps = 0, .p50_ms = NAN, .p99_ms = NAN, .bucket_depth = NAN},
        };
        const VrBenchSummary *s0, *s1;

        g_assert_no_error(err);
        g_array_append_vals(samples, x, G_N_ELEMENTS(x));
        sum = vr_bench_summarize(b, samples);
        g_assert_cmpuint(sum->len, ==, 2);
        s0 = &g_array_index(sum, VrBenchSummary, 0);
        s1 = &g_array_index(sum, VrBenchSummary, 1);
        g_assert_cmpfloat_with_epsilon(s0->forwarded, 95, 1e-9);
        g_assert_cmpfloat_with_epsilon(s0->ratio, 0.95, 1e-9);
        g_assert_cmpfloat_with_epsilon(s0->forwarded_ci, 12.706 * 5 * M_SQRT2 / M_SQRT2, 1e-3);
        g_assert_cmpfloat_with_epsilon(s0->p99, 3, 1e-9);
        /* nothing sent: no ratio, no latency */
        g_assert_true(isnan(s1->ratio));
        g_assert_true(isnan(s1->p99));
}

static void test_sent_enough(void) {
        /* exactly 98% is enough, at any rate; a hair under is not */
        g_assert_true(vr_bench_sent_enough(100, 98));
        g_assert_true(vr_bench_sent_enough(1000, 980));
        g_assert_true(vr_bench_sent_enough(136000, 133280));
        g_assert_true(vr_bench_sent_enough(50, 49));
        g_assert_false(vr_bench_sent_enough(136000, 133279.9));
        g_assert_false(vr_bench_sent_enough(100, 97.999));
        g_assert_true(vr_bench_sent_enough(1000, 1200)); /* more than asked is no problem */
        /* nothing offered: always valid; an unknown sent rate never is */
        g_assert_true(vr_bench_sent_enough(0, 0));
        g_assert_true(vr_bench_sent_enough(0, NAN));
        g_assert_false(vr_bench_sent_enough(1000, NAN));
        g_assert_false(vr_bench_sent_enough(1000, 0));
}

/* One short run makes a step invalid, even when the mean is above 98%. */
static void test_validity(void) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VrBench) b = vr_bench_parse("[bench]\nrepeat=3\n[router A]\nsource-netns=s\nsink-netns=k\ndst=10.0.0.1\nload=0 1000 1000 1000\n",
                                              "t", &err);
        g_autoptr(GArray) samples = g_array_new(FALSE, TRUE, sizeof(VrBenchSample));
        g_autoptr(GArray) sum = NULL;
        g_autofree char *csv = NULL, *note = NULL;
        double sent[4][3] = {{0, 0, 0}, {980, 980, 980}, {1000, 1000, 970}, {700, 720, 710}};
        const VrBenchSummary *x;

        g_assert_no_error(err);
        for (guint s = 0; s < 4; s++)
                for (guint r = 0; r < 3; r++) {
                        VrBenchSample v = {.step = s, .rep = r, .offered_pps = vr_bench_load(b, 0, s), .sent_pps = sent[s][r],
                                           .forwarded_pps = sent[s][r], .p50_ms = NAN, .p90_ms = NAN, .p99_ms = NAN,
                                           .bucket_depth = NAN};
                        g_array_append_val(samples, v);
                }
        sum = vr_bench_summarize(b, samples);
        g_assert_cmpuint(sum->len, ==, 4);
        x = &g_array_index(sum, VrBenchSummary, 0); /* 0 pps */
        g_assert_true(x->valid);
        g_assert_cmpuint(x->short_runs, ==, 0);
        g_assert_true(isnan(x->sent_fraction));
        g_assert_null(vr_bench_invalid_note(x));
        x = &g_array_index(sum, VrBenchSummary, 1); /* exactly 98% */
        g_assert_true(x->valid);
        g_assert_cmpfloat_with_epsilon(x->sent_fraction, 0.98, 1e-9);
        x = &g_array_index(sum, VrBenchSummary, 2); /* mean 99%, one run 97% */
        g_assert_false(x->valid);
        g_assert_cmpuint(x->short_runs, ==, 1);
        g_assert_cmpfloat_with_epsilon(x->sent_fraction, 0.99, 1e-9);
        g_assert_cmpfloat_with_epsilon(x->sent_fraction_min, 0.97, 1e-9);
        note = vr_bench_invalid_note(x);
        g_assert_cmpstr(note, ==, "INVALID: sent 99% of offered, 1 of 3 runs under 98% (lowest 97%)");
        x = &g_array_index(sum, VrBenchSummary, 3);
        g_assert_false(x->valid);
        g_assert_cmpuint(x->short_runs, ==, 3);
        /* No run at all is no measurement of an offered load. */
        g_array_set_size(samples, 0);
        g_array_unref(sum);
        sum = vr_bench_summarize(b, samples);
        g_assert_true(g_array_index(sum, VrBenchSummary, 0).valid);
        g_assert_false(g_array_index(sum, VrBenchSummary, 1).valid);
        /* The summary's first 16 columns are where scripts read them by number
         * (the scripts of tests/bench, scripts/demo): new ones only after them. */
        csv = vr_bench_summary_csv(b, sum);
        g_assert_true(g_str_has_prefix(csv, "step,router,x_offered_pps,offered_pps,sent_pps,sent_ci95,forwarded_pps,"
                                            "forwarded_ci95,ratio,ratio_ci95,p50_ms,p99_ms,p99_ci95,bucket_depth,"
                                            "bucket_depth_max,n,sent_fraction,sent_fraction_min,short_runs,valid\n"));
}

/* Runs as vr_bench_samples_csv writes them, back into VrBenchSamples. */
static bool read_samples(const VrBench *b, const char *text, GArray *out) {
        g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

        for (guint i = 1; lines[i]; i++) {
                g_auto(GStrv) f = NULL;
                VrBenchSample x = {0};
                double *num[] = {&x.sent_pps, &x.forwarded_pps, &x.p50_ms, &x.p90_ms, &x.p99_ms, &x.bucket_depth};
                bool found = false;

                if (!*lines[i])
                        continue;
                f = g_strsplit(lines[i], ",", -1);
                if (g_strv_length(f) != 10) {
                        fprintf(stderr, "samples line %u: %u fields, expected 10\n", i + 1, g_strv_length(f));
                        return false;
                }
                x.step = (guint)g_ascii_strtoull(f[0], NULL, 10) - 1;
                x.rep = (guint)g_ascii_strtoull(f[1], NULL, 10) - 1;
                for (guint r = 0; r < b->routers->len; r++)
                        if (g_str_equal(((VrBenchRouter *)b->routers->pdata[r])->name, f[2]))
                                x.router = r, found = true;
                if (!found) {
                        fprintf(stderr, "samples line %u: no router '%s' in the scenario\n", i + 1, f[2]);
                        return false;
                }
                x.offered_pps = g_ascii_strtoull(f[3], NULL, 10);
                for (guint k = 0; k < G_N_ELEMENTS(num); k++)
                        *num[k] = *f[4 + k] ? g_ascii_strtod(f[4 + k], NULL) : NAN;
                g_array_append_val(out, x);
        }
        return true;
}

static bool run_case(const char *base) {
        g_autofree char *conf_path = vr_test_case_file("bench", base, ".conf");
        g_autofree char *exp = vr_test_case_file("bench", base, ".expected");
        g_autofree char *errp = vr_test_case_file("bench", base, ".err");
        g_autofree char *samples_path = vr_test_case_file("bench", base, ".samples.csv");
        g_autofree char *data = NULL, *rel = vr_test_relative(conf_path);
        g_autoptr(GError) err = NULL;
        g_autoptr(VrBench) b = NULL;
        g_autoptr(GString) out = g_string_new(NULL);

        g_assert_true(g_file_get_contents(conf_path, &data, NULL, NULL));
        b = vr_bench_parse(data, rel, &err);
        if (b) {
                VrGenSpec g = {.dev = "vrs-eth0", .rate_pps = 0, .count = 0, .threads = 2};
                const VrBenchRouter *r0 = b->routers->pdata[0];
                g_autoptr(GPtrArray) cmds = NULL;
                g_autofree char *tg = NULL, *gp = NULL;

                g_string_append_printf(out, "generator %s, %u-byte frames, %u flows, %u x %.1f s\n",
                                       vr_generator_names[b->generator], b->size, b->flows, b->repeat,
                                       (double)b->duration_ns / 1e9);
                for (guint s = 0; s < b->steps; s++) {
                        g_string_append_printf(out, "step %u:", s + 1);
                        for (guint i = 0; i < b->routers->len; i++)
                                g_string_append_printf(out, " %s=%" G_GUINT64_FORMAT,
                                                       ((VrBenchRouter *)b->routers->pdata[i])->name, vr_bench_load(b, i, s));
                        g_string_append_c(out, '\n');
                }
                g.frame = (VrFrameSpec){.dst_mac = {0x52, 0x54, 0, 0xaa, 0xbb, 0xcc}, .src_mac = {2, 0, 0, 0, 0, 1},
                                        .dst_port = 9999, .size = b->size, .flows = b->flows};
                inet_pton(AF_INET, "198.18.1.2", &g.frame.src);
                inet_pton(AF_INET, r0->dst, &g.frame.dst);
                g.rate_pps = vr_bench_load(b, 0, b->steps - 1);
                g.count = g.rate_pps * b->duration_ns / 1000000000u;
                cmds = vr_pktgen_commands(&g);
                g_string_append(out, "-- pktgen (last step of the first router)\n");
                for (guint i = 0; i < cmds->len; i++)
                        g_string_append_printf(out, "%s\n", (char *)cmds->pdata[i]);
                tg = vr_trafgen_config(&g);
                g_string_append_printf(out, "-- trafgen\n%s", tg);
                gp = vr_bench_gnuplot(b, "out-summary.csv", "out.png");
                g_string_append_printf(out, "-- gnuplot\n%s", gp);
                if (g_file_test(samples_path, G_FILE_TEST_EXISTS)) {
                        g_autoptr(GArray) samples = g_array_new(FALSE, TRUE, sizeof(VrBenchSample));
                        g_autoptr(GArray) sum = NULL;
                        g_autofree char *text = NULL, *again = NULL, *csv = NULL, *table = NULL;

                        g_assert_true(g_file_get_contents(samples_path, &text, NULL, NULL));
                        if (!read_samples(b, text, samples))
                                return false;
                        /* The case's runs are in the bench's own format. */
                        again = vr_bench_samples_csv(b, samples);
                        if (!g_str_equal(again, text)) {
                                fprintf(stderr, "%s.samples.csv is not as virt-router bench writes it:\n%s", base, again);
                                return false;
                        }
                        sum = vr_bench_summarize(b, samples);
                        csv = vr_bench_summary_csv(b, sum);
                        table = vr_bench_summary_table(b, sum);
                        g_string_append_printf(out, "-- summary\n%s-- table\n%s", csv, table);
                }
        }
        return vr_test_check_result(base, exp, errp, out->str, err ? err->message : NULL);
}

static void test_cases(void) {
        g_autoptr(GPtrArray) cases = vr_test_list_cases("bench", ".conf", NULL);
        guint failed = 0;

        g_assert_cmpuint(cases->len, >, 0);
        for (guint i = 0; i < cases->len; i++)
                failed += !vr_test_run_forked(run_case, cases->pdata[i]);
        g_assert_cmpuint(failed, ==, 0);
}

/* vr_pktgen_write on a fake /proc/net/pktgen: every command ends in a newline (the real
 * pgctrl strips the last byte as one and refused "reset" without it: the lab, 6.12). */
static void test_pktgen_write(void) {
        g_autofree char *root = g_dir_make_tmp("vrtest-pktgen-XXXXXX", NULL);
        g_autofree char *dir = g_build_filename(root, "proc/net/pktgen", NULL);
        const char *files[] = {"pgctrl", "kpktgend_0", "veth0@0"};
        VrGenSpec g = {.dev = "veth0", .rate_pps = 1000, .count = 2000, .threads = 1};
        g_autoptr(GError) err = NULL;

        g.frame = (VrFrameSpec){.dst_mac = {2, 0, 0, 0, 0, 2}, .dst_port = 9999, .size = 64, .flows = 1};
        inet_pton(AF_INET, "10.0.0.1", &g.frame.src);
        inet_pton(AF_INET, "10.0.0.2", &g.frame.dst);
        g_assert_cmpint(g_mkdir_with_parents(dir, 0755), ==, 0);
        for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
                g_autofree char *f = g_build_filename(dir, files[i], NULL);
                g_assert_true(g_file_set_contents(f, "", 0, NULL));
        }
        g_assert_cmpint(vr_pktgen_write(root, &g, &err), ==, 0);
        g_assert_no_error(err);
        for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
                g_autofree char *f = g_build_filename(dir, files[i], NULL), *text = NULL;
                g_assert_true(g_file_get_contents(f, &text, NULL, NULL));
                /* O_TRUNC on plain files: each holds its last command */
                g_assert_cmpstr(text, ==, i == 0 ? "start\n" : i == 1 ? "add_device veth0@0\n" : "udp_dst_max 9999\n");
                g_unlink(f);
        }
        g_rmdir(dir);
        g_autofree char *net = g_path_get_dirname(dir), *proc = g_path_get_dirname(net);
        g_rmdir(net);
        g_rmdir(proc);
        g_rmdir(root);
}

int main(int argc, char **argv) {
        g_test_init(&argc, &argv, NULL);
        g_test_add_func("/bench/frame", test_frame);
        g_test_add_func("/bench/stats", test_stats);
        g_test_add_func("/bench/summary", test_summary);
        g_test_add_func("/bench/sent-enough", test_sent_enough);
        g_test_add_func("/bench/validity", test_validity);
        g_test_add_func("/bench/cases", test_cases);
        g_test_add_func("/bench/pktgen-write", test_pktgen_write);
        return g_test_run();
}
