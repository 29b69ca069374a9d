#include "config.h"

#include <errno.h>
#include <string.h>

#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-policy.h"
#include "vr-units.h"

const char *const vr_profile_keys[] = {
        "placement", "cpus", "housekeeping", "shares",
        "queue", "rx-queue-size",
        "sched-threads", "sched-class", "sched-priority", "sched-nice",
        "sched-runtime", "sched-deadline", "sched-period",
        "rate", "burst", "delay", "bandwidth", "strip",
        NULL,
};

static const char *const host_keys[] = {
        "router-cpus", "housekeeping-cpus", "mode", "deadline-cap", "default-queue",
        "image-dir", "state-dir", "debug", NULL,
};

const char *const vr_mode_names[] = {"strict", "best-effort", NULL};

const char *vr_mode_to_string(VrMode m) {
        return vr_mode_names[m == VR_MODE_BEST_EFFORT ? VR_MODE_BEST_EFFORT : VR_MODE_STRICT];
}

int vr_mode_from_string(const char *s) {
        for (int i = 0; s && vr_mode_names[i]; i++)
                if (g_str_equal(vr_mode_names[i], s))
                        return i;
        return -1;
}

static void profile_free(gpointer p) {
        VrProfile *pr = p;
        if (!pr)
                return;
        g_free(pr->name);
        g_hash_table_unref(pr->values);
        g_free(pr);
}

static void rule_free(gpointer p) {
        VrRule *r = p;
        if (!r)
                return;
        g_free(r->name);
        g_free(r->nova_flavor);
        g_free(r->domain_name);
        g_free(r->profile);
        g_free(r);
}

VrHostConf *vr_host_conf_new_default(void) {
        VrHostConf *c = g_new0(VrHostConf, 1);

        c->mode = VR_MODE_STRICT;
        c->deadline_cap_ppm = 900000;
        /* Paper 002: a macvtap queue of 35-50 packets stayed stable under overload where
         * the default 500 collapsed. */
        c->default_queue = 50;
        c->image_dir = g_strdup(LOCALSTATEDIR "/lib/virt-router/images");
        c->state_dir = g_strdup(RUNSTATEDIR "/virt-router");
        c->pf_networks = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        c->profiles = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, profile_free);
        c->rules = g_ptr_array_new_with_free_func(rule_free);
        /* Uncalibrated: about what a KVM router with vhost-net spends per packet on a
         * current server core; Debian's kernels tick at 250 Hz. */
        c->cost.vcpu_ns = 1000;
        c->cost.backend_ns = 1000;
        c->cost.vcpu_idle_ppm = 20000;
        c->cost.backend_idle_ppm = 20000;
        c->cost.margin_ppm = 200000;
        c->cost.tick_ns = 4000000;
        return c;
}

void vr_host_conf_free(VrHostConf *c) {
        if (!c)
                return;
        g_free(c->path);
        vr_cpuset_free(c->router_cpus);
        vr_cpuset_free(c->housekeeping_cpus);
        g_free(c->image_dir);
        g_free(c->state_dir);
        g_hash_table_unref(c->pf_networks);
        g_hash_table_unref(c->profiles);
        g_ptr_array_unref(c->rules);
        g_free(c->cost.measured_on);
        g_free(c);
}

static bool conf_fail(GError **error, const char *path, const char *group, const char *key,
                      const char *value, const char *expected) {
        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                    "%s: [%s] %s='%s': expected %s", path, group, key, value ? value : "",
                    expected);
        return false;
}

static bool load_host_group(VrHostConf *c, GKeyFile *kf, const char *path, GError **error) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, "host", NULL, NULL);

        for (char **k = keys; k && *k; k++) {
                g_autofree char *v = g_key_file_get_string(kf, "host", *k, NULL);
                int64_t n;
                int m;

                if (!g_strv_contains(host_keys, *k)) {
                        g_autofree char *known = g_strjoinv(", ", (char **) host_keys);
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "%s: [host] unknown key '%s': expected one of %s", path, *k,
                                    known);
                        return false;
                }
                if (!v)
                        return conf_fail(error, path, "host", *k, NULL, "a value");
                if (g_str_equal(*k, "router-cpus") || g_str_equal(*k, "housekeeping-cpus")) {
                        VrCpuSet **dst = g_str_equal(*k, "router-cpus") ? &c->router_cpus
                                                                       : &c->housekeeping_cpus;
                        vr_cpuset_free(*dst);
                        *dst = NULL;
                        if (vr_cpuset_parse(v, dst) < 0)
                                return conf_fail(error, path, "host", *k, v,
                                                 "a CPU list such as '2-3,6'");
                } else if (g_str_equal(*k, "mode")) {
                        m = vr_mode_from_string(v);
                        if (m < 0)
                                return conf_fail(error, path, "host", *k, v,
                                                 "'strict' or 'best-effort'");
                        c->mode = (VrMode) m;
                } else if (g_str_equal(*k, "deadline-cap")) {
                        if (vr_parse_fraction_ppm(v, &c->deadline_cap_ppm) < 0 ||
                            c->deadline_cap_ppm == 0)
                                return conf_fail(error, path, "host", *k, v,
                                                 "a share of a CPU such as '90%' or '0.9'");
                } else if (g_str_equal(*k, "default-queue")) {
                        if (vr_parse_int(v, 1, 100000, &n) < 0)
                                return conf_fail(error, path, "host", *k, v,
                                                 "a queue length in packets, 1-100000");
                        c->default_queue = (int) n;
                } else if (g_str_equal(*k, "image-dir") || g_str_equal(*k, "state-dir")) {
                        char **dst = g_str_equal(*k, "image-dir") ? &c->image_dir : &c->state_dir;
                        if (!g_path_is_absolute(v))
                                return conf_fail(error, path, "host", *k, v, "an absolute path");
                        g_free(*dst);
                        *dst = g_steal_pointer(&v);
                } else if (g_str_equal(*k, "debug")) {
                        if (vr_parse_bool(v, &c->debug) < 0)
                                return conf_fail(error, path, "host", *k, v, "yes or no");
                }
        }
        return true;
}

static const char *const calibration_keys[] = {
        "vcpu-packet-cost", "backend-packet-cost", "vcpu-idle", "backend-idle", "margin",
        "tick", "measured", NULL,
};

static bool load_calibration_group(VrHostConf *c, GKeyFile *kf, const char *path, GError **error) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, "calibration", NULL, NULL);
        /* Which costs the file gives, not how many lines: GKeyFile lists a key written
         * twice twice, and two vcpu-packet-cost lines are no calibrated backend. */
        bool vcpu = false, backend = false;

        for (char **k = keys; k && *k; k++) {
                g_autofree char *v = g_key_file_get_string(kf, "calibration", *k, NULL);
                if (!g_strv_contains(calibration_keys, *k)) {
                        g_autofree char *known = g_strjoinv(", ", (char **) calibration_keys);
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "%s: [calibration] unknown key '%s': expected one of %s", path, *k, known);
                        return false;
                }
                if (!v)
                        return conf_fail(error, path, "calibration", *k, NULL, "a value");
                if (g_str_equal(*k, "vcpu-packet-cost") || g_str_equal(*k, "backend-packet-cost")) {
                        uint64_t *dst = **k == 'v' ? &c->cost.vcpu_ns : &c->cost.backend_ns;
                        if (vr_parse_duration(v, dst) < 0 || *dst > 1000000000)
                                return conf_fail(error, path, "calibration", *k, v,
                                                 "CPU time per packet such as '1500ns' or '12us'");
                        *(**k == 'v' ? &vcpu : &backend) = true;
                } else if (g_str_equal(*k, "vcpu-idle") || g_str_equal(*k, "backend-idle") ||
                           g_str_equal(*k, "margin")) {
                        uint32_t *dst = g_str_equal(*k, "margin") ? &c->cost.margin_ppm
                                        : **k == 'v' ? &c->cost.vcpu_idle_ppm : &c->cost.backend_idle_ppm;
                        if (vr_parse_fraction_ppm(v, dst) < 0)
                                return conf_fail(error, path, "calibration", *k, v, "a share such as '3%'");
                } else if (g_str_equal(*k, "tick")) {
                        if (vr_parse_duration(v, &c->cost.tick_ns) < 0 || c->cost.tick_ns > 100000000)
                                return conf_fail(error, path, "calibration", *k, v,
                                                 "the scheduler tick such as '4ms' (1/CONFIG_HZ), at most 100ms");
                } else {
                        g_free(c->cost.measured_on);
                        c->cost.measured_on = g_steal_pointer(&v);
                }
        }
        c->cost.measured = vcpu && backend;
        return true;
}

bool vr_host_conf_store_calibration(const char *path, const VrPacketCost *cost, GError **error) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;
        g_autofree char *text = NULL;
        g_autofree char *dir = g_path_get_dirname(path);
        char buf[64];

        if (!g_key_file_load_from_file(kf, path, G_KEY_FILE_KEEP_COMMENTS, &local) &&
            !g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s: %s", path, local->message);
                return false;
        }
#define SET_NS(key, v) (g_snprintf(buf, sizeof buf, "%.3fus", (v) / 1e3), g_key_file_set_string(kf, "calibration", key, buf))
#define SET_PPM(key, v) (g_snprintf(buf, sizeof buf, "%.2f%%", (v) / 1e4), g_key_file_set_string(kf, "calibration", key, buf))
        SET_NS("vcpu-packet-cost", cost->vcpu_ns);
        SET_NS("backend-packet-cost", cost->backend_ns);
        SET_PPM("vcpu-idle", cost->vcpu_idle_ppm);
        SET_PPM("backend-idle", cost->backend_idle_ppm);
        SET_PPM("margin", cost->margin_ppm);
        g_snprintf(buf, sizeof buf, "%.3fms", cost->tick_ns / 1e6);
        g_key_file_set_string(kf, "calibration", "tick", buf);
#undef SET_NS
#undef SET_PPM
        if (cost->measured_on)
                g_key_file_set_string(kf, "calibration", "measured", cost->measured_on);
        text = g_key_file_to_data(kf, NULL, NULL);
        if (g_mkdir_with_parents(dir, 0755) < 0 || !g_file_set_contents(path, text, -1, &local)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "cannot write %s: %s", path,
                            local ? local->message : g_strerror(errno));
                return false;
        }
        return true;
}

static bool load_pf_group(VrHostConf *c, GKeyFile *kf, const char *path, const char *group,
                          const char *pf, GError **error) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);

        for (char **k = keys; k && *k; k++) {
                g_autofree char *v = g_key_file_get_string(kf, group, *k, NULL);
                if (!g_str_equal(*k, "network")) {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "%s: [%s] unknown key '%s': expected 'network'", path, group,
                                    *k);
                        return false;
                }
                if (!v || !*v)
                        return conf_fail(error, path, group, *k, v,
                                         "the name of a libvirt network with <forward mode='hostdev'>");
                g_hash_table_replace(c->pf_networks, g_strdup(pf), g_steal_pointer(&v));
        }
        return true;
}

static char *expected_one_of(const char *const *table) {
        g_autofree char *list = g_strjoinv(", ", (char **) table);
        return g_strdup_printf("one of: %s", list);
}

/* A space- or comma-separated list of at least one of table's names. */
static bool names_list(const char *v, const char *const *table) {
        g_auto(GStrv) words = g_strsplit_set(v, " ,\t\n", -1);
        bool any = false;

        for (char **w = words; *w; w++) {
                if (!**w)
                        continue;
                if (vr_enum_from_string(table, *w) < 0)
                        return false;
                any = true;
        }
        return any;
}

/* What a profile key's value must be, on its own: checked when the file loads, whether
 * or not a domain uses the profile, so that a bad value is found by `check` of any
 * domain and before a router meets it. NULL: valid. The ranges and words are the policy
 * parser's (vr-policy-xml.c reads these keys as it reads the attributes of the same
 * name); what depends on the domain too (a container's threads, CPUs per vCPU, a
 * guarantee that cannot be kept) is left to it. */
static char *profile_value_expected(const char *key, const char *v) {
        int64_t n;
        uint64_t u;
        VrCpuSet *cpus = NULL;

        if (g_str_equal(key, "placement"))
                return vr_enum_from_string(vr_placement_names, v) < 0 ? expected_one_of(vr_placement_names) : NULL;
        if (g_str_equal(key, "cpus") || g_str_equal(key, "housekeeping")) {
                int r = vr_cpuset_parse(v, &cpus);
                vr_cpuset_free(cpus);
                return r < 0 ? g_strdup("a CPU list such as '2-3,6'") : NULL;
        }
        if (g_str_equal(key, "shares")) /* cgroup v1 cpu.shares: MIN_SHARES 2, MAX_SHARES 2^18 */
                return vr_parse_int(v, 2, 262144, &n) < 0 ? g_strdup("CFS CPU shares, 2-262144") : NULL;
        if (g_str_equal(key, "queue"))
                return vr_parse_int(v, 1, 100000, &n) < 0 ? g_strdup("a queue length in packets, 1-100000") : NULL;
        if (g_str_equal(key, "rx-queue-size"))
                return vr_parse_int(v, 256, 1024, &n) < 0 || (n & (n - 1))
                               ? g_strdup("a virtio ring size, a power of two: 256, 512 or 1024") : NULL;
        if (g_str_equal(key, "sched-threads") || g_str_equal(key, "strip")) {
                const char *const *table = g_str_equal(key, "strip") ? vr_strip_names : vr_thread_names;
                g_autofree char *names = g_strjoinv(", ", (char **) table);
                return names_list(v, table) ? NULL : g_strdup_printf("a list of %s", names);
        }
        if (g_str_equal(key, "sched-class"))
                return vr_enum_from_string(vr_sched_class_names, v) < 0 ? expected_one_of(vr_sched_class_names) : NULL;
        if (g_str_equal(key, "sched-priority"))
                return vr_parse_int(v, 1, 99, &n) < 0 ? g_strdup("a real-time priority, 1-99") : NULL;
        if (g_str_equal(key, "sched-nice"))
                return vr_parse_int(v, -20, 19, &n) < 0 ? g_strdup("a nice value, -20 to 19") : NULL;
        if (g_str_equal(key, "sched-runtime"))
                return vr_parse_duration(v, &u) < 0 || u < 1024
                               ? g_strdup("a duration of at least 1024ns (the kernel's minimum runtime) with a unit: ns, us, ms or s (e.g. '300us')") : NULL;
        if (g_str_equal(key, "sched-period"))
                return vr_parse_duration(v, &u) < 0 || u < 100000 || u > 4000000000ULL
                               ? g_strdup("a period from 100us to 4s (the kernel's sched_deadline_period limits) with a unit: ns, us, ms or s") : NULL;
        if (g_str_equal(key, "sched-deadline"))
                return vr_parse_duration(v, &u) < 0 ? g_strdup("a duration with a unit: ns, us, ms or s (e.g. '300us')") : NULL;
        if (g_str_equal(key, "rate"))
                return vr_parse_pkt_rate(v, &u) < 0 || u == 0
                               ? g_strdup("a packet rate above zero with a unit: pps, kpps or Mpps (e.g. '800kpps')") : NULL;
        if (g_str_equal(key, "burst"))
                return vr_parse_int(v, 1, 1000000, &n) < 0 ? g_strdup("a burst in packets, 1-1000000") : NULL;
        if (g_str_equal(key, "delay"))
                return vr_parse_duration(v, &u) < 0 || u == 0
                               ? g_strdup("a delay bound above zero with a unit: ns, us, ms or s (e.g. '2ms')") : NULL;
        if (g_str_equal(key, "bandwidth"))
                return vr_parse_bit_rate(v, &u) < 0 || u == 0
                               ? g_strdup("a bit rate above zero such as '100Mbit/s' or '1Gbit/s'") : NULL;
        return NULL;
}

/* Bad values are added to problems, one line each, so that all of them are told at
 * once; an unknown key fails at once, as elsewhere in the file. */
static bool load_profile_group(VrHostConf *c, GKeyFile *kf, const char *path,
                               const char *group, const char *name, GString *problems, GError **error) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
        VrProfile *p = g_new0(VrProfile, 1);

        p->name = g_strdup(name);
        p->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
        g_hash_table_replace(c->profiles, p->name, p);
        for (char **k = keys; k && *k; k++) {
                if (!g_strv_contains(vr_profile_keys, *k)) {
                        g_autofree char *known = g_strjoinv(", ", (char **) vr_profile_keys);
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "%s: [%s] unknown key '%s': expected one of %s", path, group,
                                    *k, known);
                        return false;
                }
                g_autofree char *v = g_key_file_get_string(kf, group, *k, NULL);
                g_autofree char *expected = v ? profile_value_expected(*k, v) : g_strdup("a value");
                if (expected) {
                        g_autoptr(GError) bad = NULL;
                        conf_fail(&bad, path, group, *k, v, expected);
                        g_string_append_printf(problems, "%s%s", problems->len ? "\n" : "", bad->message);
                        continue;
                }
                g_hash_table_replace(p->values, g_strdup(*k), g_steal_pointer(&v));
        }
        return true;
}

static bool load_rule_group(VrHostConf *c, GKeyFile *kf, const char *path, const char *group,
                            const char *name, GError **error) {
        g_auto(GStrv) keys = g_key_file_get_keys(kf, group, NULL, NULL);
        VrRule *r = g_new0(VrRule, 1);

        r->name = g_strdup(name);
        g_ptr_array_add(c->rules, r);
        for (char **k = keys; k && *k; k++) {
                char **dst = NULL;
                if (g_str_equal(*k, "nova-flavor"))
                        dst = &r->nova_flavor;
                else if (g_str_equal(*k, "name"))
                        dst = &r->domain_name;
                else if (g_str_equal(*k, "profile"))
                        dst = &r->profile;
                if (!dst) {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "%s: [%s] unknown key '%s': expected nova-flavor, name or profile",
                                    path, group, *k);
                        return false;
                }
                g_free(*dst);
                *dst = g_key_file_get_string(kf, group, *k, NULL);
        }
        if (!r->profile)
                return conf_fail(error, path, group, "profile", NULL,
                                 "the profile this rule binds domains to");
        if (!r->nova_flavor && !r->domain_name)
                return conf_fail(error, path, group, "nova-flavor", NULL,
                                 "nova-flavor= or name= (a glob) to match domains");
        return true;
}

VrHostConf *vr_host_conf_load(const char *path, GError **error) {
        g_autoptr(VrHostConf) c = vr_host_conf_new_default();
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_autoptr(GError) local = NULL;
        g_autoptr(GString) problems = g_string_new(NULL);
        g_auto(GStrv) groups = NULL;
        const char *p = path ? path : VR_HOSTCONF_DEFAULT_PATH;

        if (!g_key_file_load_from_file(kf, p, G_KEY_FILE_NONE, &local)) {
                if (!path && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                        return g_steal_pointer(&c);
                g_set_error(error, VR_ERROR,
                            local->domain == G_KEY_FILE_ERROR ? VR_ERROR_INVALID : VR_ERROR_HOST,
                            "host config %s: %s", p, local->message);
                return NULL;
        }
        c->path = g_strdup(p);
        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                bool ok;
                if (g_str_equal(*g, "host"))
                        ok = load_host_group(c, kf, p, error);
                else if (g_str_equal(*g, "calibration"))
                        ok = load_calibration_group(c, kf, p, error);
                else if (g_str_has_prefix(*g, "pf ") && (*g)[3])
                        ok = load_pf_group(c, kf, p, *g, *g + 3, error);
                else if (g_str_has_prefix(*g, "profile ") && (*g)[8])
                        ok = load_profile_group(c, kf, p, *g, *g + 8, problems, error);
                else if (g_str_has_prefix(*g, "rule ") && (*g)[5])
                        ok = load_rule_group(c, kf, p, *g, *g + 5, error);
                else {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "%s: unknown group [%s]: expected [host], [calibration], [pf NAME], [profile NAME] or [rule NAME]",
                                    p, *g);
                        return NULL;
                }
                if (!ok)
                        return NULL;
        }
        if (problems->len) {
                g_set_error_literal(error, VR_ERROR, VR_ERROR_INVALID, problems->str);
                return NULL;
        }
        for (guint i = 0; i < c->rules->len; i++) {
                VrRule *r = c->rules->pdata[i];
                if (!g_hash_table_contains(c->profiles, r->profile)) {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "%s: [rule %s] profile='%s': no [profile %s] in this file",
                                    p, r->name, r->profile, r->profile);
                        return NULL;
                }
        }
        if (c->router_cpus && c->housekeeping_cpus &&
            vr_cpuset_intersects(c->router_cpus, c->housekeeping_cpus)) {
                g_autofree char *a = vr_cpuset_format(c->router_cpus);
                g_autofree char *b = vr_cpuset_format(c->housekeeping_cpus);
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s: [host] router-cpus=%s and housekeeping-cpus=%s overlap: expected disjoint CPU lists",
                            p, a, b);
                return NULL;
        }
        return g_steal_pointer(&c);
}

const VrProfile *vr_host_conf_profile(const VrHostConf *c, const char *name) {
        return name ? g_hash_table_lookup(c->profiles, name) : NULL;
}

const char *vr_profile_get(const VrProfile *p, const char *key) {
        return p ? g_hash_table_lookup(p->values, key) : NULL;
}

/* A rule's globs against a domain: each glob given must match (a missing value matches
 * no glob). */
static bool rule_globs_match(const char *flavor_glob, const char *name_glob, const char *domain_name,
                             const char *nova_flavor) {
        return (!flavor_glob || (nova_flavor && g_pattern_match_simple(flavor_glob, nova_flavor))) &&
               (!name_glob || (domain_name && g_pattern_match_simple(name_glob, domain_name)));
}

int vr_host_conf_could_bind(const char *path, const char *name, const char *flavor) {
        g_autoptr(GKeyFile) kf = g_key_file_new();
        g_auto(GStrv) groups = NULL;
        g_autofree char *text = NULL;
        const char *p = path ? path : VR_HOSTCONF_DEFAULT_PATH;

        if (!g_file_get_contents(p, &text, NULL, NULL))
                return 0;
        if (!g_key_file_load_from_data(kf, text, (gsize) -1, G_KEY_FILE_NONE, NULL))
                return strstr(text, "[rule ") ? -1 : 0;
        groups = g_key_file_get_groups(kf, NULL);
        for (char **g = groups; *g; g++) {
                g_autofree char *fl = NULL, *nm = NULL;
                if (!g_str_has_prefix(*g, "rule "))
                        continue;
                fl = g_key_file_get_string(kf, *g, "nova-flavor", NULL);
                nm = g_key_file_get_string(kf, *g, "name", NULL);
                if (!fl && !nm)
                        continue; /* refused by the loader anyway: it matches nothing */
                if (rule_globs_match(fl, nm, name, flavor))
                        return 1;
        }
        return 0;
}

const VrRule *vr_host_conf_match_rule(const VrHostConf *c, const char *domain_name,
                                      const char *nova_flavor) {
        for (guint i = 0; i < c->rules->len; i++) {
                const VrRule *r = c->rules->pdata[i];
                if (rule_globs_match(r->nova_flavor, r->domain_name, domain_name, nova_flavor))
                        return r;
        }
        return NULL;
}
