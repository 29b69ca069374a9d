/* The bench's scenario and statistics: pure. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>
#include <arpa/inet.h>

#include "vr-bench.h"
#include "vr-cpuset.h"
#include "vr-error.h"
#include "vr-policy.h"
#include "vr-traffic.h"
#include "vr-units.h"

const char *const vr_generator_names[] = {"builtin", "trafgen", "pktgen", NULL};

VrBench *vr_bench_new(void) {
        VrBench *b = g_new0(VrBench, 1);

        b->generator = VR_GEN_BUILTIN;
        b->size = 64;
        b->flows = 8;
        b->repeat = 5;
        b->duration_ns = 3000000000u;
        b->routers = g_ptr_array_new();
        return b;
}

static void router_free(VrBenchRouter *r) {
        g_free(r->name);
        g_free(r->source_netns);
        g_free(r->sink_netns);
        g_free(r->dst);
        if (r->loads)
                g_array_unref(r->loads);
        g_free(r);
}

void vr_bench_free(VrBench *b) {
        if (!b)
                return;
        g_ptr_array_foreach(b->routers, (GFunc)(void (*)(void))router_free, NULL);
        g_ptr_array_unref(b->routers);
        g_free(b->generator_cpus);
        g_free(b->title);
        g_free(b);
}

/* "20000", "5k 10k 20kpps" (a list) or "10000..80000/8" (8 steps, evenly spaced). */
static bool parse_loads(const char *s, GArray *out) {
        g_auto(GStrv) words = NULL;
        const char *dots = strstr(s, "..");

        if (dots) {
                g_autofree char *lo_s = g_strstrip(g_strndup(s, (gsize)(dots - s)));
                const char *slash = strchr(dots, '/');
                g_autofree char *hi_s = slash ? g_strstrip(g_strndup(dots + 2, (gsize)(slash - dots - 2))) : NULL;
                uint64_t lo, hi;
                int64_t n;

                if (!slash || vr_parse_pkt_rate_cli(lo_s, &lo) < 0 || vr_parse_pkt_rate_cli(hi_s, &hi) < 0 ||
                    vr_parse_int(slash + 1, 2, 100, &n) < 0 || hi <= lo)
                        return false;
                for (int64_t i = 0; i < n; i++) {
                        uint64_t v = lo + (uint64_t)llround((double)(hi - lo) * (double)i / (double)(n - 1));
                        g_array_append_val(out, v);
                }
                return true;
        }
        words = g_strsplit_set(s, " \t,", -1);
        for (guint i = 0; words[i]; i++) {
                uint64_t v;
                if (!*words[i])
                        continue;
                if (vr_parse_pkt_rate_cli(words[i], &v) < 0)
                        return false;
                g_array_append_val(out, v);
        }
        return out->len > 0;
}

#define PROBLEM(fmt, ...) g_string_append_printf(problems, "%s: " fmt "\n", what, __VA_ARGS__)

static void parse_bench_group(VrBench *b, GKeyFile *kf, const char *what, GString *problems) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, "bench", NULL, NULL);

        for (guint i = 0; keys && keys[i]; i++) {
                const char *k = keys[i];
                g_autofree char *v = g_strstrip(g_key_file_get_value(kf, "bench", k, NULL));
                int64_t n;

                if (g_str_equal(k, "generator")) {
                        int g = vr_enum_from_string(vr_generator_names, v);
                        if (g < 0)
                                PROBLEM("[bench] generator='%s': expected builtin, trafgen or pktgen", v);
                        else
                                b->generator = (VrGenerator)g;
                } else if (g_str_equal(k, "size")) {
                        if (vr_parse_int(v, VR_FRAME_MIN, VR_FRAME_MAX, &n) < 0)
                                PROBLEM("[bench] size='%s': expected a frame size of %d..%d bytes", v, VR_FRAME_MIN, VR_FRAME_MAX);
                        else
                                b->size = (unsigned)n;
                } else if (g_str_equal(k, "flows")) {
                        if (vr_parse_int(v, 1, 4096, &n) < 0)
                                PROBLEM("[bench] flows='%s': expected 1..%d", v, 4096);
                        else
                                b->flows = (unsigned)n;
                } else if (g_str_equal(k, "repeat")) {
                        if (vr_parse_int(v, 1, 100, &n) < 0)
                                PROBLEM("[bench] repeat='%s': expected 1..%d repetitions", v, 100);
                        else
                                b->repeat = (unsigned)n;
                } else if (g_str_equal(k, "duration")) {
                        if (vr_parse_duration(v, &b->duration_ns) < 0 || b->duration_ns < 100000000u)
                                PROBLEM("[bench] duration='%s': expected a duration of at least %s", v, "100ms");
                } else if (g_str_equal(k, "generator-cpus")) {
                        g_autoptr(VrCpuSet) cs = NULL;
                        if (vr_cpuset_parse(v, &cs) < 0)
                                PROBLEM("[bench] generator-cpus='%s': expected a CPU list such as %s", v, "0 or 0-3");
                        else
                                b->generator_cpus = g_strdup(v);
                } else if (g_str_equal(k, "title")) {
                        b->title = g_strdup(v);
                } else {
                        PROBLEM("[bench] unknown key '%s' (expected generator, size, flows, repeat, duration, generator-cpus, %s)", k, "title");
                }
        }
}

static void parse_router_group(VrBench *b, GKeyFile *kf, const char *group, const char *what, GString *problems) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
        VrBenchRouter *r = g_new0(VrBenchRouter, 1);
        struct in_addr a;

        r->name = g_strstrip(g_strdup(group + strlen("router ")));
        r->loads = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        g_ptr_array_add(b->routers, r);
        for (guint i = 0; keys && keys[i]; i++) {
                const char *k = keys[i];
                g_autofree char *v = g_strstrip(g_key_file_get_value(kf, group, k, NULL));

                if (g_str_equal(k, "source-netns"))
                        r->source_netns = g_strdup(v);
                else if (g_str_equal(k, "sink-netns"))
                        r->sink_netns = g_strdup(v);
                else if (g_str_equal(k, "dst")) {
                        if (inet_pton(AF_INET, v, &a) != 1)
                                PROBLEM("[%s] dst='%s': expected the sink's IPv4 address", group, v);
                        else
                                r->dst = g_strdup(v);
                } else if (g_str_equal(k, "load")) {
                        if (!parse_loads(v, r->loads))
                                PROBLEM("[%s] load='%s': expected a rate (20000 or 20kpps), a list (5k 10k 20k) or a "
                                        "range with its number of steps (10k..80k/8)", group, v);
                } else if (g_str_equal(k, "bucket-rate")) {
                        if (vr_parse_pkt_rate_cli(v, &r->bucket_rate) < 0)
                                PROBLEM("[%s] bucket-rate='%s': expected packets per second", group, v);
                } else
                        PROBLEM("[%s] unknown key '%s' (expected source-netns, sink-netns, dst, load, %s)", group, k, "bucket-rate");
        }
        if (!r->source_netns)
                PROBLEM("[%s] no source-netns: the namespace that %s", group, "sends into the router");
        if (!r->sink_netns)
                PROBLEM("[%s] no sink-netns: the namespace that %s", group, "receives what the router forwards");
        if (!r->dst && !g_key_file_has_key(kf, group, "dst", NULL))
                PROBLEM("[%s] no dst: the sink's address, %s", group, "routed through the router");
        if (r->loads->len == 0 && !g_key_file_has_key(kf, group, "load", NULL))
                PROBLEM("[%s] no load: %s", group, "packets per second to offer");
}

VrBench *vr_bench_parse(const char *data, const char *what, GError **error) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(VrBench) b = vr_bench_new();
        g_autoptr(GString) problems = g_string_new(NULL);
        g_autoptr(GError) err = NULL;
        g_auto(GStrv) groups = NULL;

        if (!g_key_file_load_from_data(kf, data, (gsize)-1, G_KEY_FILE_NONE, &err)) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s: %s", what, err->message);
                return NULL;
        }
        groups = g_key_file_get_groups(kf, NULL);
        for (guint i = 0; groups[i]; i++) {
                if (g_str_equal(groups[i], "bench"))
                        parse_bench_group(b, kf, what, problems);
                else if (g_str_has_prefix(groups[i], "router ") && groups[i][7])
                        parse_router_group(b, kf, groups[i], what, problems);
                else
                        PROBLEM("unknown group [%s] (expected [bench] and [router NAME])", groups[i]);
        }
        if (b->routers->len == 0)
                PROBLEM("no [router NAME] group: %s", "nothing to send traffic through");
        b->steps = 1;
        for (guint i = 0; i < b->routers->len; i++) {
                const VrBenchRouter *r = b->routers->pdata[i];
                if (r->loads->len <= 1)
                        continue;
                if (b->steps > 1 && r->loads->len != b->steps)
                        PROBLEM("[router %s] load has %u steps, another router has %u: stepped loads must have as "
                                "many steps (or use one fixed rate)", r->name, r->loads->len, b->steps);
                b->steps = MAX(b->steps, r->loads->len);
        }
        if (problems->len) {
                g_string_truncate(problems, problems->len - 1);
                g_set_error_literal(error, VR_ERROR, VR_ERROR_INVALID, problems->str);
                return NULL;
        }
        return g_steal_pointer(&b);
}

uint64_t vr_bench_load(const VrBench *b, guint router, guint step) {
        const VrBenchRouter *r = b->routers->pdata[router];
        return g_array_index(r->loads, uint64_t, MIN(step, r->loads->len - 1));
}

guint vr_bench_swept(const VrBench *b) {
        for (guint i = 0; i < b->routers->len; i++)
                if (((VrBenchRouter *)b->routers->pdata[i])->loads->len > 1)
                        return i;
        return 0;
}

bool vr_bench_sent_enough(uint64_t offered_pps, double sent_pps) {
        /* In whole percent, so that exactly 98% of any rate is enough: 0.98 is no double. */
        return offered_pps == 0 || sent_pps * 100 >= (double)offered_pps * VR_BENCH_SENT_MIN_PCT;
}

GArray *vr_bench_summarize(const VrBench *b, const GArray *samples) {
        GArray *out = g_array_new(FALSE, TRUE, sizeof(VrBenchSummary));

        for (guint s = 0; s < b->steps; s++)
                for (guint r = 0; r < b->routers->len; r++) {
                        g_autoptr(GArray) sent = g_array_new(FALSE, FALSE, sizeof(double));
                        g_autoptr(GArray) fwd = g_array_new(FALSE, FALSE, sizeof(double));
                        g_autoptr(GArray) ratio = g_array_new(FALSE, FALSE, sizeof(double));
                        g_autoptr(GArray) p50 = g_array_new(FALSE, FALSE, sizeof(double));
                        g_autoptr(GArray) p99 = g_array_new(FALSE, FALSE, sizeof(double));
                        g_autoptr(GArray) bucket = g_array_new(FALSE, FALSE, sizeof(double));
                        VrBenchSummary sum = {.step = s, .router = r, .offered_pps = vr_bench_load(b, r, s),
                                              .sent_fraction_min = NAN};
                        double unused;

                        for (guint i = 0; i < samples->len; i++) {
                                const VrBenchSample *x = &g_array_index(samples, VrBenchSample, i);
                                double q;
                                if (x->step != s || x->router != r)
                                        continue;
                                g_array_append_val(sent, x->sent_pps);
                                g_array_append_val(fwd, x->forwarded_pps);
                                if (!vr_bench_sent_enough(x->offered_pps, x->sent_pps))
                                        sum.short_runs++;
                                if (x->offered_pps > 0 && !isnan(x->sent_pps)) {
                                        q = x->sent_pps / (double)x->offered_pps;
                                        if (isnan(sum.sent_fraction_min) || q < sum.sent_fraction_min)
                                                sum.sent_fraction_min = q;
                                }
                                if (x->sent_pps > 0) {
                                        q = x->forwarded_pps / x->sent_pps;
                                        g_array_append_val(ratio, q);
                                }
                                if (!isnan(x->p50_ms)) {
                                        g_array_append_val(p50, x->p50_ms);
                                        g_array_append_val(p99, x->p99_ms);
                                }
                                if (!isnan(x->bucket_depth))
                                        g_array_append_val(bucket, x->bucket_depth);
                        }
                        sum.n = fwd->len;
                        vr_stats_mean_ci95((double *)sent->data, sent->len, &sum.sent, &sum.sent_ci);
                        vr_stats_mean_ci95((double *)fwd->data, fwd->len, &sum.forwarded, &sum.forwarded_ci);
                        vr_stats_mean_ci95((double *)ratio->data, ratio->len, &sum.ratio, &sum.ratio_ci);
                        vr_stats_mean_ci95((double *)p50->data, p50->len, &sum.p50, &unused);
                        vr_stats_mean_ci95((double *)p99->data, p99->len, &sum.p99, &sum.p99_ci);
                        vr_stats_mean_ci95((double *)bucket->data, bucket->len, &sum.bucket, &unused);
                        vr_stats_sort((double *)bucket->data, bucket->len);
                        sum.bucket_max = bucket->len ? vr_stats_percentile((double *)bucket->data, bucket->len, 100) : NAN;
                        sum.sent_fraction = sum.offered_pps > 0 ? sum.sent / (double)sum.offered_pps : NAN;
                        /* One short run is enough: a mean over runs would hide a generator
                         * that delivered in some runs and not in others. */
                        sum.valid = sum.offered_pps == 0 || (sum.n > 0 && sum.short_runs == 0);
                        g_array_append_val(out, sum);
                }
        return out;
}

static void csv_num(GString *s, double v, int decimals) {
        g_string_append_c(s, ',');
        if (!isnan(v))
                g_string_append_printf(s, "%.*f", decimals, v);
}

char *vr_bench_samples_csv(const VrBench *b, const GArray *samples) {
        GString *s = g_string_new("step,repetition,router,offered_pps,sent_pps,forwarded_pps,p50_ms,p90_ms,p99_ms,bucket_depth\n");

        for (guint i = 0; i < samples->len; i++) {
                const VrBenchSample *x = &g_array_index(samples, VrBenchSample, i);
                g_string_append_printf(s, "%u,%u,%s,%" PRIu64, x->step + 1, x->rep + 1,
                                       ((VrBenchRouter *)b->routers->pdata[x->router])->name, x->offered_pps);
                csv_num(s, x->sent_pps, 1);
                csv_num(s, x->forwarded_pps, 1);
                csv_num(s, x->p50_ms, 4);
                csv_num(s, x->p90_ms, 4);
                csv_num(s, x->p99_ms, 4);
                csv_num(s, x->bucket_depth, 1);
                g_string_append_c(s, '\n');
        }
        return g_string_free(s, FALSE);
}

char *vr_bench_summary_csv(const VrBench *b, const GArray *summary) {
        GString *s = g_string_new("step,router,x_offered_pps,offered_pps,sent_pps,sent_ci95,forwarded_pps,forwarded_ci95,"
                                  "ratio,ratio_ci95,p50_ms,p99_ms,p99_ci95,bucket_depth,bucket_depth_max,n,"
                                  "sent_fraction,sent_fraction_min,short_runs,valid\n");
        guint swept = vr_bench_swept(b);

        for (guint i = 0; i < summary->len; i++) {
                const VrBenchSummary *x = &g_array_index(summary, VrBenchSummary, i);
                g_string_append_printf(s, "%u,%s,%" PRIu64 ",%" PRIu64, x->step + 1,
                                       ((VrBenchRouter *)b->routers->pdata[x->router])->name,
                                       vr_bench_load(b, swept, x->step), x->offered_pps);
                csv_num(s, x->sent, 1);
                csv_num(s, x->sent_ci, 1);
                csv_num(s, x->forwarded, 1);
                csv_num(s, x->forwarded_ci, 1);
                csv_num(s, x->ratio, 4);
                csv_num(s, x->ratio_ci, 4);
                csv_num(s, x->p50, 4);
                csv_num(s, x->p99, 4);
                csv_num(s, x->p99_ci, 4);
                csv_num(s, x->bucket, 1);
                csv_num(s, x->bucket_max, 1);
                g_string_append_printf(s, ",%u", x->n);
                /* New columns go last: scripts read the ones before by number. */
                csv_num(s, x->sent_fraction, 4);
                csv_num(s, x->sent_fraction_min, 4);
                g_string_append_printf(s, ",%u,%d\n", x->short_runs, x->valid);
        }
        return g_string_free(s, FALSE);
}

/* Percent rounded down: a run at 97.99% must not read as 98%. */
static double pct_down(double fraction) {
        return floor(100 * fraction + 1e-6);
}

char *vr_bench_invalid_note(const VrBenchSummary *x) {
        GString *s;

        if (x->valid)
                return NULL;
        if (x->n == 0)
                return g_strdup("INVALID: no run measured");
        s = g_string_new("INVALID: ");
        if (isnan(x->sent_fraction)) {
                /* a generator that reported no rate: what it sent is unknown */
                g_string_append_printf(s, "sent rate unknown in a run, %u of %u runs under %d%% or unknown", x->short_runs,
                                       x->n, VR_BENCH_SENT_MIN_PCT);
                return g_string_free(s, FALSE);
        }
        g_string_append_printf(s, "sent %.0f%% of offered, %u of %u runs under %d%%", pct_down(x->sent_fraction),
                               x->short_runs, x->n, VR_BENCH_SENT_MIN_PCT);
        if (!isnan(x->sent_fraction_min) && pct_down(x->sent_fraction_min) != pct_down(x->sent_fraction))
                g_string_append_printf(s, " (lowest %.0f%%)", pct_down(x->sent_fraction_min));
        return g_string_free(s, FALSE);
}

char *vr_bench_summary_table(const VrBench *b, const GArray *summary) {
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "%-5s %-12s %12s %12s %18s %14s %10s %10s\n", "step", "router", "offered", "sent",
                               "forwarded (95% CI)", "fwd/sent", "p50 ms", "p99 ms");
        for (guint i = 0; i < summary->len; i++) {
                const VrBenchSummary *x = &g_array_index(summary, VrBenchSummary, i);
                g_autofree char *f = g_strdup_printf("%.0f ±%.0f", x->forwarded, x->forwarded_ci);
                g_autofree char *q = g_strdup_printf("%.1f%% ±%.1f", 100 * x->ratio, 100 * x->ratio_ci);
                g_autofree char *note = vr_bench_invalid_note(x);

                g_string_append_printf(s, "%-5u %-12s %12" PRIu64 " %12.0f %18s %14s %10.3f %10.3f%s%s\n", x->step + 1,
                                       ((VrBenchRouter *)b->routers->pdata[x->router])->name, x->offered_pps, x->sent, f,
                                       q, x->p50, x->p99, note ? "  " : "", note ? note : "");
        }
        return g_string_free(s, FALSE);
}

/* gnuplot strings are single-quoted: double a quote inside. */
static char *gp_quote(const char *s) {
        g_auto(GStrv) parts = g_strsplit(s, "'", -1);
        g_autofree char *j = g_strjoinv("''", parts);
        return g_strdup_printf("'%s'", j);
}

char *vr_bench_gnuplot(const VrBench *b, const char *csv_path, const char *png_path) {
        GString *s = g_string_new(NULL);
        g_autofree char *csv = gp_quote(csv_path), *png = gp_quote(png_path);
        g_autofree char *title = gp_quote(b->title ? b->title : "virt-router bench");
        const VrBenchRouter *sw = b->routers->pdata[vr_bench_swept(b)];
        g_autofree char *xlabel = g_strdup_printf("offered load of %s (packets/s)", sw->name);
        g_autofree char *xl = gp_quote(xlabel);
        g_string_append_printf(s,
                               "set terminal pngcairo size 900,560 noenhanced\n"
                               "set output %s\n"
                               "set datafile separator ','\n"
                               "set title %s\n"
                               "set xlabel %s\n"
                               "set ylabel 'forwarded (packets/s)'\n"
                               "set key top left\n"
                               "set grid\n"
                               "set yrange [0:*]\n"
                               "plot ",
                               png, title, xl);
        for (guint i = 0; i < b->routers->len; i++) {
                const VrBenchRouter *r = b->routers->pdata[i];
                g_autofree char *name = gp_quote(r->name);
                /* column 2 is the router; the rows of the others become NaN and are skipped */
                g_string_append_printf(s,
                                       "%s%s every ::1 using 3:(strcol(2) eq %s ? $7 : NaN):8 with yerrorlines title %s.' forwarded', \\\n"
                                       "  %s every ::1 using 3:(strcol(2) eq %s ? $4 : NaN) with lines dashtype 2 title %s.' offered'",
                                       i ? ", \\\n  " : "", csv, name, name, csv, name, name);
        }
        g_string_append_c(s, '\n');
        return g_string_free(s, FALSE);
}
