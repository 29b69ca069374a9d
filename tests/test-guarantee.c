/* Guarantees: the derivation (guarantee -> reservation, queues, buckets) and admission.
 * Data-driven: tests/data/guarantee/NAME.routers is a key file of [router NAME] groups,
 * read with the host config NAME.conf. Each router is parsed as a domain would be, its
 * plan derived, then admitted to (or refused by) a ledger the routers before it fill,
 * in file order. The lines must equal NAME.expected. Keys of a router group: type
 * (kvm/qemu), vcpus, threads (the deadline rule's; empty: no rule), runtime, period
 * (explicit reservation), ports (macvtap ports), cpus, rate, burst, delay. */
#include "config.h"

#include <string.h>
#include <glib/gstdio.h>

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
        g_autofree char *rate = g_key_file_get_string(kf, group, "rate", NULL);
        g_autofree char *burst = g_key_file_get_string(kf, group, "burst", NULL);
        g_autofree char *delay = g_key_file_get_string(kf, group, "delay", NULL);
        int vcpus = g_key_file_has_key(kf, group, "vcpus", NULL) ? g_key_file_get_integer(kf, group, "vcpus", NULL) : 1;
        int ports = g_key_file_has_key(kf, group, "ports", NULL) ? g_key_file_get_integer(kf, group, "ports", NULL) : 2;

        g_string_append_printf(x, "<domain type='%s'><name>%s</name><vcpu>%d</vcpu><metadata>\n"
                               "<vr:router xmlns:vr='urn:virt-router:1' mode='best-effort'>\n",
                               type ? type : "qemu", name, vcpus);
        if (cpus)
                g_string_append_printf(x, "<vr:cpu placement='shared' cpus='%s'/>\n", cpus);
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
        if (!vr_ledger_reserve(ledger, entry, conf->deadline_cap_ppm, domain_cpus, &err)) {
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

int main(void) {
        g_autoptr(GPtrArray) cases = vr_test_list_cases("guarantee", ".routers", NULL);
        unsigned failed = 0;

        if (!cases->len) {
                g_printerr("no cases under tests/data/guarantee\n");
                return 1;
        }
        for (guint i = 0; i < cases->len; i++)
                failed += !vr_test_run_forked(run_case, cases->pdata[i]);
        g_print("%u passed, %u failed\n", cases->len - failed, failed);
        return failed ? 1 : 0;
}
