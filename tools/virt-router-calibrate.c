/* `virt-router calibrate SCENARIO`: measure what forwarding one packet costs a router
 * on this host. The scenario is a bench scenario with one router; around every point
 * the CPU time of the router's threads is read from /proc (schedstat, nanoseconds):
 * vCPU threads, and the backend (vhost workers and QEMU's own threads). The cost per
 * forwarded packet above idle is stored in the host config's [calibration] group. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "vr-calibrate.h"
#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-json.h"
#include "vr-proc.h"
#include "vr-sysfs.h"
#include "vr-threads.h"
#include "vr-units.h"
#include "virt-router-bench.h"

typedef struct {
        double vcpu_s, backend_s;
        GHashTable *tids; /* tid -> ns, to count only what each thread used in between */
} CpuReading;

static void reading_clear(CpuReading *r) {
        g_clear_pointer(&r->tids, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CpuReading, reading_clear)

static uint64_t thread_ns(pid_t pid, pid_t tid) {
        g_autofree char *rel = g_strdup_printf("proc/%d/task/%d/schedstat", (int) pid, (int) tid);
        g_autofree char *s = NULL;
        return vr_read_line("/", rel, &s) == 0 ? g_ascii_strtoull(s, NULL, 10) : 0;
}

/* CPU time of the router's threads since `before` (all of it when before is NULL). */
static bool read_cpu(pid_t pid, const CpuReading *before, CpuReading *ret, GError **error) {
        g_autoptr(GPtrArray) threads = NULL;
        int r = vr_threads_discover("/", pid, VR_DOMAIN_QEMU, NULL, &threads);

        if (r < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "cannot read the threads of process %d: %s", (int) pid,
                            g_strerror(-r));
                return false;
        }
        ret->vcpu_s = ret->backend_s = 0;
        ret->tids = g_hash_table_new(g_direct_hash, g_direct_equal);
        for (guint i = 0; i < threads->len; i++) {
                const VrThread *t = threads->pdata[i];
                /* vhost kthreads are their own tgid; QEMU's threads live under its pid */
                uint64_t ns = thread_ns(t->kthread ? t->tid : pid, t->tid), was = 0;
                gpointer old;
                g_hash_table_insert(ret->tids, GINT_TO_POINTER(t->tid), GSIZE_TO_POINTER((gsize) ns));
                if (before && g_hash_table_lookup_extended(before->tids, GINT_TO_POINTER(t->tid), NULL, &old))
                        was = GPOINTER_TO_SIZE(old);
                if (t->kind == VR_THREAD_VCPU)
                        ret->vcpu_s += (ns - MIN(was, ns)) / 1e9;
                else
                        ret->backend_s += (ns - MIN(was, ns)) / 1e9;
        }
        return true;
}

/* 1/CONFIG_HZ from the running kernel's config, when the distribution ships it. */
static bool kernel_tick(uint64_t *ret_ns, char **ret_from) {
        struct utsname u;
        g_autofree char *path = NULL, *text = NULL;
        const char *p;

        if (uname(&u) < 0)
                return false;
        path = g_strdup_printf("/boot/config-%s", u.release);
        if (!g_file_get_contents(path, &text, NULL, NULL) || !(p = strstr(text, "\nCONFIG_HZ=")))
                return false;
        *ret_ns = 1000000000ULL / MAX(g_ascii_strtoull(p + 11, NULL, 10), 1);
        *ret_from = g_steal_pointer(&path);
        return true;
}

int vr_cmd_calibrate(int argc, char **argv) {
        g_autofree char *config = NULL, *domain = NULL, *duration = NULL, *data = NULL, *tick_from = NULL;
        g_autofree char *prog = vr_program_path("VIRT_ROUTER_TRAFFIC", "virt-router-traffic", PKGLIBEXECDIR);
        gint repeat = 0;
        gboolean dry_run = FALSE, json = FALSE;
        GOptionEntry entries[] = {
                {"config", 'c', 0, G_OPTION_ARG_FILENAME, &config, "Host config to store the result in (default " VR_HOSTCONF_DEFAULT_PATH ")", "FILE"},
                {"domain", 'd', 0, G_OPTION_ARG_STRING, &domain, "The router's libvirt domain (default: the scenario's router name)", "NAME"},
                {"repeat", 'r', 0, G_OPTION_ARG_INT, &repeat, "Repetitions per step (overrides the scenario)", "N"},
                {"duration", 't', 0, G_OPTION_ARG_STRING, &duration, "Traffic per run (overrides the scenario)", "TIME"},
                {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "Measure and print, store nothing", NULL},
                {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print the result as JSON", NULL},
                {NULL},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("SCENARIO");
        g_autoptr(GError) err = NULL;
        g_autoptr(VrBench) b = NULL;
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(GArray) points = g_array_new(FALSE, TRUE, sizeof(VrCalPoint));
        g_autoptr(GArray) samples = g_array_new(FALSE, TRUE, sizeof(VrBenchSample));
        g_auto(CpuReading) r0 = {0}, r1 = {0};
        VrCalPoint idle = {0};
        VrPacketCost cost;
        const VrBenchRouter *router;
        const char *conf_path;
        gint64 t0, t1;
        pid_t pid;

        g_option_context_set_summary(ctx, "Measure the CPU time a running router spends per forwarded packet (vCPU and\n"
                                          "backend threads) under stepped load, and store it in the host config's\n"
                                          "[calibration] group, where guarantees are derived from. The scenario is a\n"
                                          "bench scenario (virt-router(1)) with one router; a step it forwards less than\n"
                                          "99% of is not used.");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2) {
                fprintf(stderr, "virt-router calibrate: %s\nTry 'virt-router calibrate --help'.\n",
                        err ? err->message : "expected one scenario file");
                return 2;
        }
        conf_path = config ? config : VR_HOSTCONF_DEFAULT_PATH;
        conf = vr_host_conf_load(config, &err);
        if (!conf)
                return fprintf(stderr, "virt-router calibrate: %s\n", err->message), 1;
        if (!g_file_get_contents(argv[1], &data, NULL, &err))
                return fprintf(stderr, "virt-router calibrate: %s\n", err->message), 1;
        b = vr_bench_parse(data, argv[1], &err);
        if (!b)
                return fprintf(stderr, "virt-router calibrate: %s\n", err->message), 1;
        if (b->routers->len != 1)
                return fprintf(stderr, "virt-router calibrate: %s: %u [router] groups: expected exactly one, the router to measure\n",
                               argv[1], b->routers->len), 1;
        router = b->routers->pdata[0];
        if (repeat > 0)
                b->repeat = (unsigned) repeat;
        if (duration) {
                uint64_t ns;
                if (vr_parse_duration(duration, &ns) < 0 || ns < 100000000u)
                        return fprintf(stderr, "virt-router calibrate: --duration '%s': expected a duration of at least 100ms\n", duration), 2;
                b->duration_ns = ns;
        }
        if (!domain)
                domain = g_strdup(router->name);
        pid = vr_libvirt_pid("/", "qemu", domain);
        if (pid <= 0)
                return fprintf(stderr, "virt-router calibrate: domain '%s' is not running (no /run/libvirt/qemu/%s.pid): expected a running KVM/QEMU router (--domain NAME)\n",
                               domain, domain), 1;
        if (!g_file_test(prog, G_FILE_TEST_IS_EXECUTABLE))
                return fprintf(stderr, "virt-router calibrate: %s: not found (set VIRT_ROUTER_TRAFFIC)\n", prog), 3;

        fprintf(stderr, "virt-router calibrate: domain '%s' (pid %d): warm-up, idle %.1f s, then %u steps x %u runs of %.1f s\n", domain,
                (int) pid, b->duration_ns / 1e9, b->steps, b->repeat, b->duration_ns / 1e9);
        /* Warm-up, not counted: one run at the first step's load. A router's first
         * packets cost far more (neighbour resolution, cold caches, TCG translating
         * the forwarding path): measured here at 2 kpps, 20 to 100 us a packet. */
        if (!vr_bench_run_point(b, prog, 0, 0, samples, &err))
                return fprintf(stderr, "virt-router calibrate: warm-up: %s\n", err->message), 3;
        g_array_set_size(samples, 0);
        /* Idle: as long as one run, nothing offered. */
        t0 = g_get_monotonic_time();
        if (!read_cpu(pid, NULL, &r0, &err))
                return fprintf(stderr, "virt-router calibrate: %s\n", err->message), 3;
        g_usleep(b->duration_ns / 1000);
        if (!read_cpu(pid, &r0, &r1, &err))
                return fprintf(stderr, "virt-router calibrate: %s\n", err->message), 3;
        idle.window_s = (g_get_monotonic_time() - t0) / 1e6;
        idle.vcpu_s = r1.vcpu_s;
        idle.backend_s = r1.backend_s;
        fprintf(stderr, "idle: vCPU %.1f%%, backend %.1f%% of a CPU\n", 100 * idle.vcpu_s / idle.window_s,
                100 * idle.backend_s / idle.window_s);
        for (guint s = 0; s < b->steps; s++) {
                VrCalPoint x = {.offered_pps = vr_bench_load(b, 0, s)};
                for (guint rep = 0; rep < b->repeat; rep++) {
                        const VrBenchSample *smp;
                        reading_clear(&r0);
                        reading_clear(&r1);
                        t0 = g_get_monotonic_time();
                        if (!read_cpu(pid, NULL, &r0, &err) || !vr_bench_run_point(b, prog, s, rep, samples, &err) ||
                            !read_cpu(pid, &r0, &r1, &err))
                                return fprintf(stderr, "virt-router calibrate: step %u, run %u: %s\n", s + 1, rep + 1, err->message), 3;
                        t1 = g_get_monotonic_time();
                        smp = &g_array_index(samples, VrBenchSample, samples->len - 1);
                        x.window_s += (t1 - t0) / 1e6;
                        x.traffic_s += b->duration_ns / 1e9;
                        x.vcpu_s += r1.vcpu_s;
                        x.backend_s += r1.backend_s;
                        x.sent_pps += smp->sent_pps / b->repeat;
                        x.forwarded_pps += smp->forwarded_pps / b->repeat;
                }
                fprintf(stderr, "[%u/%u] %" PRIu64 " pps offered: %.0f sent, %.0f forwarded; vCPU %.1f%%, backend %.1f%% of a CPU\n", s + 1,
                        b->steps, x.offered_pps, x.sent_pps, x.forwarded_pps, 100 * x.vcpu_s / x.window_s,
                        100 * x.backend_s / x.window_s);
                g_array_append_val(points, x);
        }
        cost = conf->cost;
        cost.measured_on = NULL;
        if (!vr_calibrate_fit(&idle, points, &cost, &err))
                return fprintf(stderr, "virt-router calibrate: domain '%s': %s\n", domain, err->message), 1;
        if (!kernel_tick(&cost.tick_ns, &tick_from))
                tick_from = g_strdup("kept: no /boot/config of the running kernel");
        {
                g_autoptr(GDateTime) now = g_date_time_new_now_local();
                g_autofree char *when = g_date_time_format(now, "%Y-%m-%d %H:%M");
                cost.measured_on = g_strdup_printf("%s by virt-router calibrate: domain %s, %u-byte frames, %u steps x %u runs of %.1f s",
                                                   when, domain, b->size, b->steps, b->repeat, b->duration_ns / 1e9);
        }
        if (json) {
                g_autoptr(VrJson) j = vr_json_new();
                g_autofree char *out = NULL;
                vr_json_begin_object(j);
                vr_json_key(j, "domain"), vr_json_string(j, domain);
                vr_json_key(j, "vcpu_packet_ns"), vr_json_uint(j, cost.vcpu_ns);
                vr_json_key(j, "backend_packet_ns"), vr_json_uint(j, cost.backend_ns);
                vr_json_key(j, "vcpu_idle_ppm"), vr_json_uint(j, cost.vcpu_idle_ppm);
                vr_json_key(j, "backend_idle_ppm"), vr_json_uint(j, cost.backend_idle_ppm);
                vr_json_key(j, "tick_ns"), vr_json_uint(j, cost.tick_ns);
                vr_json_key(j, "stored_in"), vr_json_string(j, dry_run ? NULL : conf_path);
                vr_json_key(j, "steps");
                vr_json_begin_array(j);
                for (guint i = 0; i < points->len; i++) {
                        const VrCalPoint *x = &g_array_index(points, VrCalPoint, i);
                        vr_json_begin_object(j);
                        vr_json_key(j, "offered_pps"), vr_json_uint(j, x->offered_pps);
                        vr_json_key(j, "sent_pps"), vr_json_double(j, x->sent_pps);
                        vr_json_key(j, "forwarded_pps"), vr_json_double(j, x->forwarded_pps);
                        vr_json_key(j, "vcpu_util"), vr_json_double(j, x->vcpu_s / x->window_s);
                        vr_json_key(j, "backend_util"), vr_json_double(j, x->backend_s / x->window_s);
                        if (!isnan(x->vcpu_ns)) {
                                vr_json_key(j, "vcpu_ns"), vr_json_double(j, x->vcpu_ns);
                                vr_json_key(j, "backend_ns"), vr_json_double(j, x->backend_ns);
                        }
                        vr_json_key(j, "used"), vr_json_bool(j, x->used);
                        vr_json_end_object(j);
                }
                vr_json_end_array(j);
                vr_json_end_object(j);
                out = vr_json_finish(j);
                fputs(out, stdout);
        } else {
                printf("%12s %12s %12s %8s %8s %14s %14s  %s\n", "offered", "sent", "forwarded", "vCPU", "backend", "vCPU ns/pkt",
                       "backend ns/pkt", "used");
                for (guint i = 0; i < points->len; i++) {
                        const VrCalPoint *x = &g_array_index(points, VrCalPoint, i);
                        printf("%12" PRIu64 " %12.0f %12.0f %7.1f%% %7.1f%% %14.0f %14.0f  %s\n", x->offered_pps, x->sent_pps,
                               x->forwarded_pps, 100 * x->vcpu_s / x->window_s, 100 * x->backend_s / x->window_s, x->vcpu_ns,
                               x->backend_ns, x->used ? "yes" : "no (saturated)");
                }
                printf("\ncost per packet: vCPU %.3f us, backend %.3f us (the slope of a line over every used step)\n",
                       cost.vcpu_ns / 1e3, cost.backend_ns / 1e3);
                printf("fixed part (idle, and wake-ups at low rates): vCPU %.2f%%, backend %.2f%%; tick %.3f ms (%s); margin %.0f%%\n", cost.vcpu_idle_ppm / 1e4,
                       cost.backend_idle_ppm / 1e4, cost.tick_ns / 1e6, tick_from, cost.margin_ppm / 1e4);
        }
        if (!dry_run) {
                g_autoptr(VrHostConf) check = NULL;
                if (!vr_host_conf_store_calibration(conf_path, &cost, &err))
                        return fprintf(stderr, "virt-router calibrate: %s\n", err->message), 3;
                /* What was written must read back as what was measured. */
                check = vr_host_conf_load(conf_path, &err);
                if (!check || !check->cost.measured)
                        return fprintf(stderr, "virt-router calibrate: %s does not read back: %s\n", conf_path,
                                       err ? err->message : "no [calibration]"), 3;
                if (!json)
                        printf("stored in %s [calibration]\n", conf_path);
        }
        g_free(cost.measured_on);
        return 0;
}
