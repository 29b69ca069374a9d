/* Guarantees: the derivation (guarantee -> reservation, queues, buckets) and admission.
 * Data-driven: tests/data/guarantee/NAME.routers is a key file of [router NAME] groups,
 * read with the host config NAME.conf. Each router is parsed as a domain would be, its
 * plan derived, then admitted to (or refused by) a ledger the routers before it fill,
 * in file order. The lines must equal NAME.expected. Keys of a router group: type
 * (kvm/qemu), vcpus, threads (the deadline rule's; empty: no rule), runtime, period
 * (explicit reservation), ports (macvtap ports), cpus, housekeeping, rate, burst, delay. */
#include "config.h"

#include <math.h>
#include <stdlib.h>

#include <string.h>
#include <glib/gstdio.h>

#include "vr-policy-xml.h"
#include "vr-calibrate.h"
#include "vr-guarantee.h"
#include "vr-ledger.h"
#include "vr-test.h"
#include "vr-xml.h"

static char *domain_xml(GKeyFile *kf, const char *group, const char *name) {
        GString *x = g_string_new(NULL);
        g_autofree char *type = g_key_file_get_string(kf, group, "type", NULL);
        g_autofree char *threads = g_key_file_get_string(kf, group, "threads", NULL);
        g_autofree char *runtime = g_key_file_get_string(kf, group, "runtime", NULL);
        g_autofree char *period = g_key_file_get_string(kf, group, "period", NULL);
        g_autofree char *cpus = g_key_file_get_string(kf, group, "cpus", NULL);
        g_autofree char *housekeeping = g_key_file_get_string(kf, group, "housekeeping", NULL);
        g_autofree char *rate = g_key_file_get_string(kf, group, "rate", NULL);
        g_autofree char *burst = g_key_file_get_string(kf, group, "burst", NULL);
        g_autofree char *delay = g_key_file_get_string(kf, group, "delay", NULL);
        int vcpus = g_key_file_has_key(kf, group, "vcpus", NULL) ? g_key_file_get_integer(kf, group, "vcpus", NULL) : 1;
        int ports = g_key_file_has_key(kf, group, "ports", NULL) ? g_key_file_get_integer(kf, group, "ports", NULL) : 2;

        g_string_append_printf(x, "<domain type='%s'><name>%s</name><vcpu>%d</vcpu><metadata>\n"
                               "<vr:router xmlns:vr='urn:virt-router:1' mode='best-effort'>\n",
                               type ? type : "qemu", name, vcpus);
        if (cpus)
                g_string_append_printf(x, "<vr:cpu placement='shared' cpus='%s'%s%s%s/>\n", cpus,
                                       housekeeping ? " housekeeping='" : "", housekeeping ? housekeeping : "",
                                       housekeeping ? "'" : "");
        if (threads && *threads) {
                g_string_append_printf(x, "<vr:sched threads='%s' class='deadline'", threads);
                if (runtime)
                        g_string_append_printf(x, " runtime='%s' period='%s'", runtime, period);
                g_string_append(x, "/>\n");
        }
        if (rate) {
                g_string_append_printf(x, "<vr:guarantee rate='%s' delay='%s'", rate, delay);
                if (burst)
                        g_string_append_printf(x, " burst='%s'", burst);
                g_string_append(x, "/>\n");
        }
        for (int i = 0; i < ports; i++)
                g_string_append_printf(x, "<vr:port name='p%d' mode='macvtap' dev='eth%d'/>\n", i, i);
        g_string_append(x, "</vr:router></metadata></domain>\n");
        return g_string_free(x, FALSE);
}

static void one_router(GString *out, const VrHostConf *conf, VrLedger *ledger, GHashTable *domain_cpus,
                       GKeyFile *kf, const char *group, const char *name) {
        g_autofree char *xml = domain_xml(kf, group, name);
        g_autoptr(GError) err = NULL;
        g_autoptr(xmlDoc) doc = vr_xml_parse(xml, strlen(xml), name, &err);
        g_autoptr(VrPolicy) p = NULL;
        g_autoptr(VrLedgerEntry) entry = NULL;
        g_autofree char *why = NULL;
        uint64_t total = 0;
        VrGuaranteePlan gp;

        g_assert_nonnull(doc);
        if (vr_policy_parse(doc, name, conf, &p, &err) < 0) {
                g_autofree char *rel = vr_test_relative(err->message);
                g_string_append_printf(out, "%s: invalid: %s\n", name, rel);
                return;
        }
        if (p->guarantee.set) {
                g_autofree char *line = NULL;
                g_assert_true(vr_guarantee_plan(p, conf, &gp, &err)); /* the parser checked it */
                line = vr_guarantee_plan_format(&gp);
                g_string_append_printf(out, "%s: %s\n", name, line);
        }
        entry = vr_ledger_entry_new(name, "qemu");
        g_assert_true(vr_deadline_demand(p, conf, entry->dl_ppm, &total, &why, &err));
        if (!vr_ledger_reserve(ledger, entry, conf->deadline_cap_ppm, domain_cpus, NULL, &err)) {
                g_string_append_printf(out, "%s: refused: %s (its reservation: %s)\n", name, err->message, why);
                return;
        }
        g_string_append_printf(out, "%s: admitted %.1f%% (%s)\n", name, total / 1e4, *why ? why : "no deadline reservation");
        entry = NULL; /* the ledger has it */
}

static bool run_case(const char *base) {
        g_autofree char *routers = vr_test_case_file("guarantee", base, ".routers");
        g_autofree char *confp = vr_test_case_file("guarantee", base, ".conf");
        g_autofree char *exp = vr_test_case_file("guarantee", base, ".expected");
        g_autofree char *state = g_dir_make_tmp("vr-test-guarantee-XXXXXX", NULL);
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) conf = vr_host_conf_load(confp, &err);
        g_autoptr(VrLedger) ledger = NULL;
        g_autoptr(GString) out = g_string_new(NULL);
        g_auto(GStrv) groups = NULL;
        /* The root domain of a host with CPUs 0-3. */
        g_autoptr(GHashTable) domain_cpus = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                                                  (GDestroyNotify) vr_cpuset_free);
        VrCpuSet *online = NULL;
        bool ok;

        g_assert_nonnull(conf);
        g_assert_true(vr_cpuset_parse("0-3", &online) == 0);
        g_hash_table_insert(domain_cpus, g_strdup(""), online);
        g_assert_true(g_key_file_load_from_file(kf, routers, G_KEY_FILE_NONE, &err));
        ledger = vr_ledger_open("/", state, 1000, &err);
        g_assert_nonnull(ledger);
        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                g_assert_true(g_str_has_prefix(*g, "router "));
                one_router(out, conf, ledger, domain_cpus, kf, *g, *g + 7);
        }
        g_clear_pointer(&ledger, vr_ledger_close);
        for (const char *f = "ledger\0ledger.lock\0"; *f; f += strlen(f) + 1) {
                g_autofree char *path = g_build_filename(state, f, NULL);
                (void) g_unlink(path);
        }
        (void) g_rmdir(state);
        ok = vr_test_check_expected(base, exp, out->str, NULL);
        g_print("%s: %s\n", ok ? "PASS" : "FAIL", base);
        return ok;
}

/* The calibration fit: idle subtracted, saturated steps left out, a line over the rest;
 * and the [calibration] group written into a config without losing the rest of it. */
static void test_calibrate(void) {
        /* idle: 2% vCPU, 1% backend over 4 s */
        VrCalPoint idle = {.window_s = 4, .vcpu_s = 0.08, .backend_s = 0.04};
        VrCalPoint pts[] = {
                /* 5 s window, 4 s traffic at 10 kpps = 40000 packets: vCPU 0.1 + 0.8 s */
                {.offered_pps = 10000, .sent_pps = 10000, .forwarded_pps = 10000, .window_s = 5, .traffic_s = 4,
                 .vcpu_s = 0.1 + 0.8, .backend_s = 0.05 + 0.4},
                /* batching: cheaper per packet at 20 kpps */
                {.offered_pps = 20000, .sent_pps = 20000, .forwarded_pps = 19900, .window_s = 5, .traffic_s = 4,
                 .vcpu_s = 0.1 + 1.2, .backend_s = 0.05 + 0.6},
                /* saturated: not used, however expensive */
                {.offered_pps = 80000, .sent_pps = 80000, .forwarded_pps = 50000, .window_s = 5, .traffic_s = 4,
                 .vcpu_s = 4.9, .backend_s = 4.9},
        };
        g_autoptr(GArray) points = g_array_new(FALSE, TRUE, sizeof(VrCalPoint));
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) conf = NULL;
        g_autofree char *dir = g_dir_make_tmp("vr-test-cal-XXXXXX", NULL);
        g_autofree char *path = g_build_filename(dir, "virt-router.conf", NULL);
        g_autofree char *text = NULL;
        VrPacketCost cost = {.margin_ppm = 200000, .tick_ns = 4000000, .measured_on = (char *) "test"};

        g_array_append_vals(points, pts, G_N_ELEMENTS(pts));
        g_assert_true(vr_calibrate_fit(&idle, points, &cost, &err));
        {
                /* Busy while offered (the window's idle second taken out): vCPU 22% at
                 * 10 kpps and 32% at 19.9 kpps, backend 11% and 16%. Slope: the mean
                 * above idle at the top beats the marginal cost between the two steps;
                 * the fixed part rises until the line covers 10 kpps too. */
                double v10 = (0.9 - 0.02) / 4, v20 = (1.3 - 0.02) / 4, b10 = (0.45 - 0.01) / 4, b20 = (0.65 - 0.01) / 4;
                double sv = (v20 - 0.02) / 19900, sb = (b20 - 0.01) / 19900;
                g_assert_cmpfloat(sv, >, (v20 - v10) / 9900);
                g_assert_cmpfloat(fabs(cost.vcpu_ns - sv * 1e9), <=, 1);
                g_assert_cmpfloat(fabs(cost.backend_ns - sb * 1e9), <=, 1);
                g_assert_cmpfloat(fabs(cost.vcpu_idle_ppm - (v10 - 10000 * sv) * 1e6), <=, 1);
                g_assert_cmpfloat(fabs(cost.backend_idle_ppm - (b10 - 10000 * sb) * 1e6), <=, 1);
                g_assert_cmpuint(cost.vcpu_idle_ppm, >, 20000); /* above the measured idle */
        }
        g_assert_true(g_array_index(points, VrCalPoint, 1).used);
        g_assert_false(g_array_index(points, VrCalPoint, 2).used);
        g_assert_cmpfloat_with_epsilon(g_array_index(points, VrCalPoint, 1).vcpu_ns, 1.2e9 / 79600, 1e-6);
        /* nothing usable */
        g_array_set_size(points, 0);
        g_array_append_val(points, pts[2]);
        g_assert_false(vr_calibrate_fit(&idle, points, &cost, &err));
        g_assert_nonnull(strstr(err->message, "saturated"));

        g_assert_true(g_file_set_contents(path, "# operator's note\n[host]\nmode=best-effort\n", -1, NULL));
        g_assert_true(vr_host_conf_store_calibration(path, &cost, NULL));
        g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
        g_assert_nonnull(strstr(text, "# operator's note"));
        conf = vr_host_conf_load(path, &err);
        g_assert_nonnull(conf);
        g_assert_true(conf->cost.measured);
        g_assert_cmpuint(conf->cost.vcpu_ns, ==, cost.vcpu_ns); /* written in ns-exact us */
        /* shares are written with two decimals of a percent: 100 ppm steps */
        g_assert_cmpint(abs((int) conf->cost.backend_idle_ppm - (int) cost.backend_idle_ppm), <=, 50);
        g_assert_cmpuint(conf->cost.tick_ns, ==, 4000000);
        g_assert_cmpint(conf->mode, ==, VR_MODE_BEST_EFFORT);
        (void) g_unlink(path);
        (void) g_rmdir(dir);
        g_print("PASS: calibration fit and store\n");
}

int main(void) {
        g_autoptr(GPtrArray) cases = vr_test_list_cases("guarantee", ".routers", NULL);
        unsigned failed = 0;

        test_calibrate();

        if (!cases->len) {
                g_printerr("no cases under tests/data/guarantee\n");
                return 1;
        }
        for (guint i = 0; i < cases->len; i++)
                failed += !vr_test_run_forked(run_case, cases->pdata[i]);
        g_print("%u passed, %u failed\n", cases->len - failed, failed);
        return failed ? 1 : 0;
}
