/* `virt-router bench SCENARIO`: runs the scenario's steps and repetitions with
 * virt-router-traffic as source and sink, and writes the samples, the summary (mean and
 * 95% confidence interval), a gnuplot script and its PNG. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vr-bench.h"
#include "vr-error.h"
#include "vr-json.h"
#include "vr-policy.h"
#include "vr-sysfs.h"
#include "vr-traffic.h"
#include "vr-units.h"
#include "virt-router-bench.h"

typedef struct {
        GPid pid;
        int out_fd, err_fd;
} Child;

static bool spawn(GPtrArray *argv, Child *c, GError **error) {
        g_ptr_array_add(argv, NULL);
        return g_spawn_async_with_pipes(NULL, (char **)argv->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                        NULL, NULL, &c->pid,
                                        NULL, &c->out_fd, &c->err_fd, error);
}

static char *read_all(int fd) {
        GString *s = g_string_new(NULL);
        char buf[4096];
        ssize_t n;

        while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
                if (n > 0)
                        g_string_append_len(s, buf, n);
        close(fd);
        return g_string_free(s, FALSE);
}

/* Reap a child; its stdout as JSON, or an error quoting its stderr. */
static VrJsonNode *finish(Child *c, const char *what, GError **error) {
        g_autofree char *out = read_all(c->out_fd), *err = read_all(c->err_fd);
        g_autoptr(GError) e = NULL;
        int status;
        VrJsonNode *n;

        while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR)
                ;
        g_spawn_close_pid(c->pid);
        g_strstrip(err);
        if (!g_spawn_check_wait_status(status, &e) || !(n = vr_json_parse(out, NULL))) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "%s failed: %s", what,
                            *err ? err : (e ? e->message : "no output"));
                return NULL;
        }
        return n;
}

/* Block until the receiver says it listens (its first stderr line). */
static bool wait_ready(Child *c, const char *what, GError **error) {
        char buf[256];
        size_t len = 0;

        while (len < sizeof(buf) - 1) {
                ssize_t n = read(c->err_fd, buf + len, 1);
                if (n <= 0)
                        break;
                if (buf[len++] == '\n') {
                        buf[len] = 0;
                        if (g_str_has_prefix(buf, "ready"))
                                return true;
                        break;
                }
        }
        buf[len] = 0;
        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "%s: %s", what, *buf ? g_strstrip(buf) : "exited before listening");
        return false;
}

static double member_double(const VrJsonNode *n, const char *key) {
        const VrJsonNode *m = vr_json_member(n, key);
        return m && m->type == VR_JSON_NUMBER ? m->number : NAN;
}

/* argv for a traffic tool; under taskset when the bench names CPUs for the tools. Sinks
 * go there too: a sink left free ran on the routers' CPU and took up to half of it from
 * the machine cgroup (one root-level task against all domains), which moved VR1's
 * forwarded rate by 10% from run to run. taskset rather than a child setup function:
 * GLib forbids non-async-signal-safe code there, and this keeps it visible in ps. */
static GPtrArray *argv_new(const VrBench *b, const char *prog, const char *cmd) {
        GPtrArray *a = g_ptr_array_new_with_free_func(g_free);

        if (b->generator_cpus) {
                g_ptr_array_add(a, g_strdup("taskset"));
                g_ptr_array_add(a, g_strdup("-c"));
                g_ptr_array_add(a, g_strdup(b->generator_cpus));
        }
        g_ptr_array_add(a, g_strdup(prog));
        g_ptr_array_add(a, g_strdup(cmd));
        return a;
}

static void add(GPtrArray *a, const char *opt, const char *fmt, ...) _printf_(3, 4);
static void add(GPtrArray *a, const char *opt, const char *fmt, ...) {
        va_list ap;

        g_ptr_array_add(a, g_strdup(opt));
        va_start(ap, fmt);
        g_ptr_array_add(a, g_strdup_vprintf(fmt, ap));
        va_end(ap);
}

/* One point: every router's sink, then every router's source at once. */
bool vr_bench_run_point(const VrBench *b, const char *prog, guint step, guint rep, GArray *samples, GError **error) {
        guint n = b->routers->len;
        g_autofree Child *sinks = g_new0(Child, n), *sources = g_new0(Child, n);
        g_autofree VrBenchSample *x = g_new0(VrBenchSample, n);
        double secs = (double)b->duration_ns / 1e9;
        bool ok = true;
        guint started_sinks = 0, started_sources = 0;

        for (guint i = 0; i < n && ok; i++) {
                const VrBenchRouter *r = b->routers->pdata[i];
                g_autoptr(GPtrArray) a = argv_new(b, prog, "recv");
                add(a, "--netns", "%s", r->sink_netns);
                add(a, "--addr", "%s", r->dst);
                add(a, "--duration", "%.0fms", secs * 1000 + 30000); /* ended by SIGINT */
                if (r->bucket_rate)
                        add(a, "--bucket-rate", "%" PRIu64, r->bucket_rate);
                ok = spawn(a, &sinks[i], error) && wait_ready(&sinks[i], r->name, error);
                started_sinks += ok || sinks[i].pid;
        }
        for (guint i = 0; i < n && ok; i++) {
                const VrBenchRouter *r = b->routers->pdata[i];
                const char *cmd = b->generator == VR_GEN_BUILTIN ? "send" : vr_generator_names[b->generator];
                g_autoptr(GPtrArray) a = NULL;

                if (vr_bench_load(b, i, step) == 0) {
                        /* An idle router at this step (the generator reads 0 as "no limit"). */
                        sources[i].pid = 0;
                        started_sources++;
                        continue;
                }
                a = argv_new(b, prog, cmd);
                add(a, "--netns", "%s", r->source_netns);
                add(a, "--dst", "%s", r->dst);
                add(a, "--rate", "%" PRIu64, vr_bench_load(b, i, step));
                add(a, "--duration", "%.0fms", secs * 1000);
                add(a, "--size", "%u", b->size);
                add(a, "--flows", "%u", b->flows);
                g_ptr_array_add(a, NULL);
                ok = g_spawn_async_with_pipes(NULL, (char **)a->pdata, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
                                              NULL, NULL, &sources[i].pid, NULL, &sources[i].out_fd, &sources[i].err_fd, error);
                started_sources += ok;
        }
        for (guint i = 0; i < started_sources; i++) {
                const VrBenchRouter *r = b->routers->pdata[i];
                g_autofree char *what = g_strdup_printf("the source of %s", r->name);
                g_autoptr(GError) e = NULL;
                g_autoptr(VrJsonNode) j = NULL;

                if (sources[i].pid == 0)
                        continue;
                j = finish(&sources[i], what, &e);
                if (!j) {
                        if (ok)
                                g_propagate_error(error, g_steal_pointer(&e));
                        ok = false;
                        continue;
                }
                x[i].sent_pps = member_double(j, "rate_pps");
        }
        /* Let what the routers still hold drain, then stop the sinks. */
        g_usleep(300000);
        for (guint i = 0; i < started_sinks; i++)
                kill(sinks[i].pid, SIGINT);
        for (guint i = 0; i < started_sinks; i++) {
                const VrBenchRouter *r = b->routers->pdata[i];
                g_autofree char *what = g_strdup_printf("the sink of %s", r->name);
                g_autoptr(GError) e = NULL;
                g_autoptr(VrJsonNode) j = finish(&sinks[i], what, &e);
                const VrJsonNode *lat;

                if (!j) {
                        if (ok)
                                g_propagate_error(error, g_steal_pointer(&e));
                        ok = false;
                        continue;
                }
                lat = vr_json_member(j, "latency_ms");
                x[i] = (VrBenchSample){
                        .step = step, .rep = rep, .router = i, .offered_pps = vr_bench_load(b, i, step),
                        .sent_pps = x[i].sent_pps,
                        .forwarded_pps = member_double(j, "received") / secs,
                        .p50_ms = lat ? member_double(lat, "p50") : NAN,
                        .p90_ms = lat ? member_double(lat, "p90") : NAN,
                        .p99_ms = lat ? member_double(lat, "p99") : NAN,
                        .bucket_depth = r->bucket_rate ? member_double(j, "bucket_depth") : NAN,
                };
        }
        if (ok)
                g_array_append_vals(samples, x, n);
        return ok;
}

static void progress(const VrBench *b, guint step, guint rep, const GArray *samples, gint64 t0, bool tty) {
        guint done = step * b->repeat + rep + 1, total = b->steps * b->repeat;
        double per = (double)(g_get_monotonic_time() - t0) / 1e6 / done;
        GString *s = g_string_new(NULL);

        g_string_append_printf(s, "[%u/%u] step %u/%u, run %u/%u:", done, total, step + 1, b->steps, rep + 1, b->repeat);
        for (guint i = samples->len - b->routers->len; i < samples->len; i++) {
                const VrBenchSample *x = &g_array_index(samples, VrBenchSample, i);
                g_string_append_printf(s, "  %s %.0f -> %.0f pps", ((VrBenchRouter *)b->routers->pdata[x->router])->name,
                                       x->sent_pps, x->forwarded_pps);
                if (!vr_bench_sent_enough(x->offered_pps, x->sent_pps))
                        g_string_append_printf(s, " (sent under %d%% of %" PRIu64 ")", VR_BENCH_SENT_MIN_PCT, x->offered_pps);
        }
        g_string_append_printf(s, "  (%.0f s left)", per * (total - done));
        fprintf(stderr, tty ? "\r\033[K%s" : "%s\n", s->str);
        g_string_free(s, TRUE);
}

static bool write_file(const char *path, const char *data, GError **error) {
        return g_file_set_contents(path, data, -1, error);
}

/* JSON has no NaN: an unmeasured value is null. */
static void json_number(VrJson *j, const char *key, double v) {
        vr_json_key(j, key);
        if (isnan(v))
                vr_json_string(j, NULL);
        else
                vr_json_double(j, v);
}

static guint count_invalid(const GArray *summary) {
        guint invalid = 0;

        for (guint i = 0; i < summary->len; i++)
                invalid += !g_array_index(summary, VrBenchSummary, i).valid;
        return invalid;
}

/* One line per invalid step on stderr, then their count: after the table, where a reader
 * of the terminal sees it last. */
static void warn_invalid(const VrBench *b, const GArray *summary, guint invalid, const char *scsv, bool strict) {
        for (guint i = 0; i < summary->len; i++) {
                const VrBenchSummary *x = &g_array_index(summary, VrBenchSummary, i);
                g_autofree char *note = vr_bench_invalid_note(x);

                if (!note)
                        continue;
                fprintf(stderr, "virt-router bench: step %u, router %s, %" PRIu64 " pps offered: %s: the generator could not send that fast (a full queue in front of the router blocks its socket, or its CPU is too slow), so this step does not measure the router at that load\n",
                        x->step + 1, ((VrBenchRouter *)b->routers->pdata[x->router])->name, x->offered_pps, note);
        }
        if (invalid)
                fprintf(stderr, "virt-router bench: %u of %u points invalid (sent under %d%% of offered): marked INVALID in the table and valid=0 in %s%s\n",
                        invalid, summary->len, VR_BENCH_SENT_MIN_PCT, scsv, strict ? "; exit status 5 (--strict)" : "");
}

int vr_cmd_bench(int argc, char **argv) {
        g_autofree char *output = NULL, *duration = NULL, *generator = NULL, *name = NULL;
        gint repeat = 0;
        gboolean json = FALSE, no_plot = FALSE, strict = FALSE;
        GOptionEntry entries[] = {
                {"output", 'o', 0, G_OPTION_ARG_FILENAME, &output, "Directory for the CSV files and the plot (default: .)", "DIR"},
                {"name", 'n', 0, G_OPTION_ARG_STRING, &name, "Base name of the files (default: the scenario's)", "NAME"},
                {"repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "Repetitions per step (overrides the scenario)", "N"},
                {"duration", 't', 0, G_OPTION_ARG_STRING, &duration, "Seconds of traffic per run (overrides the scenario)", "TIME"},
                {"generator", 'g', 0, G_OPTION_ARG_STRING, &generator, "builtin, trafgen or pktgen (overrides the scenario)", "GEN"},
                {"no-plot", 0, 0, G_OPTION_ARG_NONE, &no_plot, "Write neither the gnuplot script nor the PNG", NULL},
                {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the summary as JSON", NULL},
                {"strict", 0, 0, G_OPTION_ARG_NONE, &strict, "Exit with status 5 when a step is invalid (sent under 98% of offered)", NULL},
                {NULL},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("SCENARIO");
        g_autoptr(GError) err = NULL;
        g_autoptr(VrBench) b = NULL;
        g_autoptr(GArray) samples = g_array_new(FALSE, TRUE, sizeof(VrBenchSample));
        g_autoptr(GArray) summary = NULL;
        g_autofree char *data = NULL, *prog = vr_program_path("VIRT_ROUTER_TRAFFIC", "virt-router-traffic", PKGLIBEXECDIR), *base = NULL, *csv = NULL, *scsv = NULL, *gp = NULL,
                        *png = NULL, *text = NULL, *script = NULL;
        bool tty = isatty(STDERR_FILENO);
        gint64 t0;
        guint invalid;

        g_option_context_set_summary(ctx, "Offer stepped load to running routers, repeat each step, and report forwarded\n"
                                          "rate, loss and latency per router with 95% confidence intervals, as CSV and\n"
                                          "a PNG plot. The scenario file is described in virt-router(1).");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2) {
                fprintf(stderr, "virt-router bench: %s\nTry 'virt-router bench --help'.\n",
                        err ? err->message : "expected one scenario file");
                return 2;
        }
        if (!g_file_get_contents(argv[1], &data, NULL, &err))
                return fprintf(stderr, "virt-router bench: %s\n", err->message), 1;
        b = vr_bench_parse(data, argv[1], &err);
        if (!b) {
                g_auto(GStrv) lines = g_strsplit(err->message, "\n", -1);
                for (char **l = lines; *l; l++)
                        fprintf(stderr, "virt-router bench: %s\n", *l);
                return 1;
        }
        if (repeat > 0)
                b->repeat = (unsigned)repeat;
        if (duration) {
                uint64_t ns;
                if (vr_parse_duration(duration, &ns) < 0 || ns < 100000000u)
                        return fprintf(stderr, "virt-router bench: --duration '%s': expected a duration of at least 100ms\n", duration), 2;
                b->duration_ns = ns;
        }
        if (generator) {
                int g = vr_enum_from_string(vr_generator_names, generator);
                if (g < 0)
                        return fprintf(stderr, "virt-router bench: --generator '%s': expected builtin, trafgen or pktgen\n", generator), 2;
                b->generator = (VrGenerator)g;
        }
        if (!g_file_test(prog, G_FILE_TEST_IS_EXECUTABLE))
                return fprintf(stderr, "virt-router bench: %s: not found (set VIRT_ROUTER_TRAFFIC)\n", prog), 3;
        if (!name) {
                g_autofree char *bn = g_path_get_basename(argv[1]);
                char *dot = strrchr(bn, '.');
                if (dot && dot != bn)
                        *dot = 0;
                name = g_strdup(bn);
        }
        base = g_build_filename(output ? output : ".", name, NULL);
        if (output && g_mkdir_with_parents(output, 0755) < 0)
                return fprintf(stderr, "virt-router bench: creating %s: %s\n", output, g_strerror(errno)), 3;
        csv = g_strconcat(base, "-samples.csv", NULL);
        scsv = g_strconcat(base, "-summary.csv", NULL);
        gp = g_strconcat(base, ".gp", NULL);
        png = g_strconcat(base, ".png", NULL);

        fprintf(stderr, "virt-router bench: %u routers, %u steps x %u runs of %.1f s, %u-byte frames, %u flows, generator %s\n",
                b->routers->len, b->steps, b->repeat, (double)b->duration_ns / 1e9, b->size, b->flows,
                vr_generator_names[b->generator]);
        t0 = g_get_monotonic_time();
        for (guint s = 0; s < b->steps; s++)
                for (guint r = 0; r < b->repeat; r++) {
                        if (!vr_bench_run_point(b, prog, s, r, samples, &err)) {
                                if (tty)
                                        fputc('\n', stderr);
                                fprintf(stderr, "virt-router bench: step %u, run %u: %s\n", s + 1, r + 1, err->message);
                                return 3;
                        }
                        progress(b, s, r, samples, t0, tty);
                }
        if (tty)
                fputc('\n', stderr);
        summary = vr_bench_summarize(b, samples);
        text = vr_bench_samples_csv(b, samples);
        if (!write_file(csv, text, &err))
                return fprintf(stderr, "virt-router bench: %s\n", err->message), 3;
        g_free(text);
        text = vr_bench_summary_csv(b, summary);
        if (!write_file(scsv, text, &err))
                return fprintf(stderr, "virt-router bench: %s\n", err->message), 3;
        /* --no-plot writes no gnuplot script either: a .gp beside the CSV would look like a
         * plot that was asked for. */
        if (!no_plot) {
                const char *gargv[] = {"gnuplot", gp, NULL};
                int status;
                script = vr_bench_gnuplot(b, scsv, png);
                if (!write_file(gp, script, &err))
                        return fprintf(stderr, "virt-router bench: %s\n", err->message), 3;
                if (!g_spawn_sync(NULL, (char **)gargv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL, &status, &err) ||
                    !g_spawn_check_wait_status(status, &err))
                        fprintf(stderr, "virt-router bench: no plot (gnuplot: %s); the data is in %s\n", err->message, scsv),
                                g_clear_error(&err);
        }
        invalid = count_invalid(summary);
        if (json) {
                g_autoptr(VrJson) j = vr_json_new();
                g_autofree char *out = NULL;
                vr_json_begin_object(j);
                vr_json_key(j, "samples_csv"), vr_json_string(j, csv);
                vr_json_key(j, "summary_csv"), vr_json_string(j, scsv);
                vr_json_key(j, "plot"), vr_json_string(j, no_plot ? NULL : png);
                vr_json_key(j, "valid"), vr_json_bool(j, invalid == 0);
                vr_json_key(j, "invalid_points"), vr_json_uint(j, invalid);
                vr_json_key(j, "points");
                vr_json_begin_array(j);
                for (guint i = 0; i < summary->len; i++) {
                        const VrBenchSummary *x = &g_array_index(summary, VrBenchSummary, i);
                        vr_json_begin_object(j);
                        vr_json_key(j, "step"), vr_json_uint(j, x->step + 1);
                        vr_json_key(j, "router"), vr_json_string(j, ((VrBenchRouter *)b->routers->pdata[x->router])->name);
                        vr_json_key(j, "offered_pps"), vr_json_uint(j, x->offered_pps);
                        json_number(j, "sent_pps", x->sent);
                        json_number(j, "sent_ci95", x->sent_ci);
                        json_number(j, "sent_fraction", x->sent_fraction);
                        json_number(j, "sent_fraction_min", x->sent_fraction_min);
                        vr_json_key(j, "runs"), vr_json_uint(j, x->n);
                        vr_json_key(j, "short_runs"), vr_json_uint(j, x->short_runs);
                        vr_json_key(j, "valid"), vr_json_bool(j, x->valid);
                        json_number(j, "forwarded_pps", x->forwarded);
                        json_number(j, "forwarded_ci95", x->forwarded_ci);
                        json_number(j, "ratio", x->ratio);
                        json_number(j, "ratio_ci95", x->ratio_ci);
                        if (!isnan(x->p99)) {
                                vr_json_key(j, "p50_ms"), vr_json_double(j, x->p50);
                                vr_json_key(j, "p99_ms"), vr_json_double(j, x->p99);
                        }
                        if (!isnan(x->bucket)) {
                                vr_json_key(j, "bucket_depth"), vr_json_double(j, x->bucket);
                                vr_json_key(j, "bucket_depth_max"), vr_json_double(j, x->bucket_max);
                        }
                        vr_json_end_object(j);
                }
                vr_json_end_array(j);
                vr_json_end_object(j);
                out = vr_json_finish(j);
                fputs(out, stdout);
        } else {
                g_autofree char *table = vr_bench_summary_table(b, summary);
                fputs(table, stdout);
                printf("\nsamples: %s\nsummary: %s\nplot:    %s\n", csv, scsv, no_plot ? "(not drawn)" : png);
        }
        fflush(stdout);
        warn_invalid(b, summary, invalid, scsv, strict);
        /* Without --strict an invalid step is reported, not failed: the capacity probes of
         * bench-isolation and the demo overload on purpose and run under set -e. */
        return strict && invalid ? 5 : 0;
}
