/* The host config loader (vr_host_conf_load) on arbitrary text. Oracles:
 *  - each CPU list read is printed and read back as the same set;
 *  - calibrate's writer (vr_host_conf_store_calibration) over a config that loads gives
 *    a config that loads again, with every other setting and the calibration as read
 *    (the tick to the microsecond calibrate writes);
 *  - each profile, named by a policy, goes through the policy parser and apply with the
 *    same idempotence oracle as fuzz-apply: profile values are read by the same code. */
#include "config.h"

#include "vr-cpuset.h"
#include "vr-fuzz.h"
#include "vr-hostconf.h"
#include "vr-rewrite.h"

static char *conf_path, *copy_path;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        g_autofree char *dir = vr_fuzz_tmpdir("hostconf");

        (void) argc, (void) argv;
        vr_fuzz_glib_fatal();
        conf_path = g_build_filename(dir, "virt-router.conf", NULL);
        copy_path = g_build_filename(dir, "stored.conf", NULL);
        g_steal_pointer(&dir); /* vr_fuzz_tmp keeps it */
        return 0;
}

static bool same_set(const VrCpuSet *a, const VrCpuSet *b) {
        return a && b ? vr_cpuset_equal(a, b) : a == b;
}

static void check_cpuset(const char *what, const VrCpuSet *s) {
        g_autofree char *text = NULL;
        g_autoptr(VrCpuSet) back = NULL;

        if (!s)
                return;
        text = vr_cpuset_format(s);
        if (vr_cpuset_parse(text, &back) < 0 || !vr_cpuset_equal(s, back))
                VR_FUZZ_FAIL("%s: '%s' as printed does not read back as the same set", what, text);
}

static void check_profile(const VrHostConf *c, const char *name) {
        g_autofree char *esc = g_markup_escape_text(name, -1);
        g_autofree char *xml = g_strdup_printf(
                "<domain type='kvm'><name>vr1</name><vcpu>2</vcpu><metadata>"
                "<vr:router xmlns:vr='urn:virt-router:1' profile='%s'>"
                "<vr:port name='wan' mode='macvtap' dev='eth0'/></vr:router></metadata>"
                "<devices/></domain>", esc);
        VrRewriteOptions o = {c, NULL, "profile.xml"};
        g_autofree char *out = NULL, *again = NULL;
        g_autoptr(GError) err = NULL;
        size_t len = 0, len2 = 0;
        int r2;

        if (vr_rewrite_xml(xml, strlen(xml), &o, &out, &len, NULL, &err) < 0)
                return;
        r2 = vr_rewrite_xml(out, len, &o, &again, &len2, NULL, &err);
        if (r2 != VR_REWRITE_UNCHANGED || len2 != len || memcmp(again, out, len) != 0)
                VR_FUZZ_FAIL("profile '%s': apply is not idempotent (%d: %s)", name, r2, err ? err->message : "");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(VrHostConf) c = NULL, stored = NULL;
        g_autoptr(GError) err = NULL;
        GHashTableIter it;
        gpointer key;

        vr_fuzz_write_file(conf_path, data, size);
        c = vr_host_conf_load(conf_path, &err);
        if (!c) {
                if (!err || !err->message || !*err->message)
                        VR_FUZZ_FAIL("the loader failed without a message");
                return 0;
        }
        check_cpuset("router-cpus", c->router_cpus);
        check_cpuset("housekeeping-cpus", c->housekeeping_cpus);

        vr_fuzz_write_file(copy_path, data, size);
        if (!vr_host_conf_store_calibration(copy_path, &c->cost, &err))
                VR_FUZZ_FAIL("calibrate cannot store into a config that loads: %s", err->message);
        stored = vr_host_conf_load(copy_path, &err);
        if (!stored)
                VR_FUZZ_FAIL("the config calibrate stored does not load: %s", err->message);
        if (!same_set(c->router_cpus, stored->router_cpus) ||
            !same_set(c->housekeeping_cpus, stored->housekeeping_cpus) || c->mode != stored->mode ||
            c->deadline_cap_ppm != stored->deadline_cap_ppm || c->default_queue != stored->default_queue ||
            g_strcmp0(c->image_dir, stored->image_dir) || g_strcmp0(c->state_dir, stored->state_dir) ||
            c->debug != stored->debug || g_hash_table_size(c->pf_networks) != g_hash_table_size(stored->pf_networks) ||
            g_hash_table_size(c->profiles) != g_hash_table_size(stored->profiles) ||
            c->rules->len != stored->rules->len)
                VR_FUZZ_FAIL("storing the calibration changed another setting");
        if (c->cost.vcpu_ns != stored->cost.vcpu_ns || c->cost.backend_ns != stored->cost.backend_ns ||
            c->cost.vcpu_idle_ppm != stored->cost.vcpu_idle_ppm ||
            c->cost.backend_idle_ppm != stored->cost.backend_idle_ppm ||
            c->cost.margin_ppm != stored->cost.margin_ppm ||
            (c->cost.tick_ns > stored->cost.tick_ns ? c->cost.tick_ns - stored->cost.tick_ns
                                                     : stored->cost.tick_ns - c->cost.tick_ns) > 500 ||
            g_strcmp0(c->cost.measured_on, stored->cost.measured_on) || !stored->cost.measured)
                VR_FUZZ_FAIL("the calibration stored does not read back as it was");

        g_hash_table_iter_init(&it, c->profiles);
        while (g_hash_table_iter_next(&it, &key, NULL))
                check_profile(c, key);
        return 0;
}
