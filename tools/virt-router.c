/* virt-router: the command users type. Parses options, calls the library, prints one
 * clear message per problem and maps errors to exit codes. */
#include "config.h"

#include <errno.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <libxml/parser.h>

#include "vr-drift.h"
#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-json.h"
#include "vr-plan.h"
#include "vr-proc.h"
#include "vr-guarantee.h"
#include "vr-policy-xml.h"
#include "vr-render.h"
#include "vr-rewrite.h"
#include "vr-spec.h"
#include "vr-state.h"
#include "vr-sysfs.h"
#include "vr-units.h"
#include "vr-xml.h"
#include "virt-router-bench.h"
#include "virt-router-libvirt.h"

enum { EXIT_INVALID = 1, EXIT_USAGE = 2, EXIT_HOST = 3, EXIT_NOT_ROUTER = 4 };

/* Options shared by the commands that read domains. */
typedef struct {
        char *config;
        char *sysroot;
        char *output;
        gboolean json;
} CommonOptions;

static void common_options_clear(CommonOptions *o) {
        g_clear_pointer(&o->config, g_free);
        g_clear_pointer(&o->sysroot, g_free);
        g_clear_pointer(&o->output, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(CommonOptions, common_options_clear)

static int report(GError *error) {
        g_auto(GStrv) lines = g_strsplit(error->message, "\n", -1);

        for (char **l = lines; *l; l++)
                fprintf(stderr, "virt-router: %s\n", *l);
        if (error->domain != VR_ERROR)
                return EXIT_HOST;
        return error->code == VR_ERROR_INVALID || error->code == VR_ERROR_CONFLICT ? EXIT_INVALID
             : error->code == VR_ERROR_USAGE   ? EXIT_USAGE
                                               : EXIT_HOST;
}

static int usage_error(const char *cmd, const char *fmt, ...) _printf_(2, 3);
static int usage_error(const char *cmd, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        fprintf(stderr, "virt-router %s: %s\nTry 'virt-router %s --help'.\n", cmd, msg, cmd);
        return EXIT_USAGE;
}

/* Parse a command's options; returns -1 on success, else an exit code. */
static int parse_options(const char *cmd, const char *params, const char *summary,
                         const char *description, GOptionEntry *entries, int *argc,
                         char ***argv) {
        g_autoptr(GOptionContext) ctx = g_option_context_new(params);
        g_autoptr(GError) err = NULL;

        g_option_context_set_summary(ctx, summary);
        if (description)
                g_option_context_set_description(ctx, description);
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, argc, argv, &err))
                return usage_error(cmd, "%s", err->message);
        return -1;
}

static GOptionEntry common_entry(const char *long_name, char short_name, gpointer arg,
                                 const char *desc, const char *arg_desc) {
        GOptionEntry e = {long_name, short_name, 0, G_OPTION_ARG_FILENAME, arg, desc, arg_desc};
        return e;
}

static VrHostConf *load_conf(const char *path, int *ret_exit) {
        g_autoptr(GError) err = NULL;
        VrHostConf *c = vr_host_conf_load(path, &err);

        if (!c)
                *ret_exit = report(err);
        return c;
}

static bool read_input(const char *file, char **ret_buf, gsize *ret_len, GError **error) {
        if (!file || g_str_equal(file, "-")) {
                g_autoptr(GString) s = g_string_new(NULL);
                char buf[65536];
                size_t n;

                if (isatty(STDIN_FILENO))
                        fprintf(stderr, "virt-router: reading domain XML from standard input (Ctrl-D to end)\n");
                while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0) {
                        g_string_append_len(s, buf, (gssize) n);
                        if (s->len > VR_XML_MAX_SIZE)
                                break;
                }
                if (ferror(stdin)) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "<stdin>: read error: %s", g_strerror(errno));
                        return false;
                }
                *ret_len = s->len;
                *ret_buf = g_string_free(g_steal_pointer(&s), FALSE);
                return true;
        }
        if (!g_file_get_contents(file, ret_buf, ret_len, error)) {
                (*error)->domain = VR_ERROR;
                (*error)->code = VR_ERROR_HOST;
                return false;
        }
        return true;
}

static int write_output(const char *file, const char *buf, size_t len) {
        g_autoptr(GError) err = NULL;

        if (file && !g_str_equal(file, "-")) {
                if (!g_file_set_contents(file, buf, (gssize) len, &err))
                        return report(err);
                return 0;
        }
        if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
                fprintf(stderr, "virt-router: writing output: %s\n", g_strerror(errno));
                return EXIT_HOST;
        }
        return 0;
}

/* ------------------------------------------------------------------------ */

/* `apply --domain NAME`: the persistent definition through libvirt, the change as a
 * unified diff on standard output, a redefine only when something changed. uri_option:
 * -c, or NULL (as virsh picks). */
static int apply_domain(const char *name, const char *uri_option, bool dry_run, const VrRewriteOptions *ao) {
        g_autoptr(VrLibvirtDomain) d = NULL;
        g_autoptr(GError) err = NULL;
        g_autofree char *xml = NULL, *out = NULL, *shown = NULL, *shown_out = NULL;
        size_t out_len = 0, shown_len = 0;
        int r;

        /* The definition twice: the redefine needs its secrets (without them a graphics
         * password would be lost), the diff on stdout must not show them (it ends up in
         * terminals, logs and bug reports). Both get the same policy, so the diff of the
         * one without secrets is the change made to the one with them. */
        if (!(d = vr_libvirt_domain_open(uri_option, name, &err)) || !(xml = vr_libvirt_domain_xml(d, true, &err)) ||
            !(shown = vr_libvirt_domain_xml(d, false, &err)))
                return report(err);
        r = vr_rewrite_xml(xml, strlen(xml), ao, &out, &out_len, NULL, &err);
        if (r < 0 || (r == VR_REWRITE_CHANGED && vr_rewrite_xml(shown, strlen(shown), ao, &shown_out, &shown_len, NULL, &err) < 0))
                return report(err);
        if (r == VR_REWRITE_NOT_ROUTER) {
                fprintf(stderr, "virt-router: domain '%s' has no router policy (no <vr:router> in its metadata, no host config rule matches): attach one with virsh metadata %s " VR_NS " --key vr --set '<router>...</router>' --config (see virt-router.xml(5))\n",
                        name, name);
                return EXIT_NOT_ROUTER;
        }
        if (r == VR_REWRITE_UNCHANGED) {
                fprintf(stderr, "virt-router: domain '%s' already honours its router policy: nothing to change\n", name);
                return 0;
        }
        if (!vr_diff_print(name, shown, shown_out, &err))
                return report(err);
        if (dry_run) {
                fprintf(stderr, "virt-router: domain '%s': --dry-run: its definition is left as it was\n", name);
                return 0;
        }
        if (!vr_libvirt_domain_define(d, out, &err))
                return report(err);
        fprintf(stderr, "virt-router: domain '%s' redefined\n", name);
        if (vr_libvirt_domain_is_active(d))
                fprintf(stderr, "virt-router: domain '%s' is running: the new definition takes effect at its next start\n", name);
        return 0;
}

static int cmd_apply(int argc, char **argv) {
        g_auto(CommonOptions) o = {0};
        g_autofree char *domain = NULL, *uri = NULL;
        gboolean dry_run = FALSE;
        GOptionEntry entries[] = {
                {"domain", 'd', 0, G_OPTION_ARG_STRING, &domain, "Rewrite this libvirt domain's persistent definition in place", "NAME"},
                {"connect", 'c', 0, G_OPTION_ARG_STRING, &uri, "With --domain: libvirt URI, as virsh -c (default: $LIBVIRT_DEFAULT_URI, else qemu:///system)", "URI"},
                {"dry-run", 'n', 0, G_OPTION_ARG_NONE, &dry_run, "With --domain: show the diff, redefine nothing", NULL},
                common_entry("config", 0, &o.config, "Host config (default " VR_HOSTCONF_DEFAULT_PATH ")", "FILE"),
                common_entry("sysroot", 0, &o.sysroot, "Look up VFs of a PF under DIR/sys (use / for this host)", "DIR"),
                common_entry("output", 'o', &o.output, "Write the result to FILE (default: standard output)", "FILE"),
                {NULL},
        };
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(GError) err = NULL;
        g_autofree char *in = NULL, *out = NULL;
        gsize in_len = 0, out_len = 0;
        const char *file;
        VrRewriteOptions ao;
        int r = parse_options("apply", "[FILE|-] | --domain NAME",
                              "Rewrite a libvirt domain XML so it honours its router policy.",
                              "The policy is the <vr:router xmlns:vr='urn:virt-router:1'> element in the\n"
                              "domain's <metadata> (see virt-router.xml(5)), or a host config rule.\n"
                              "Ports become <interface>/<hostdev> elements marked <alias name='ua-vr-PORT'/>;\n"
                              "CPUs become <cputune> pins. Everything else is kept as written. A domain\n"
                              "without policy is printed unchanged. Applying twice gives the same bytes.\n\n"
                              "With --domain NAME the domain's persistent definition is read from libvirt,\n"
                              "what changes is shown as a unified diff on standard output, and the domain is\n"
                              "redefined (not with --dry-run). A running domain gets the new definition at\n"
                              "its next start. -c is --connect, as in virsh; the host config is --config.\n\n"
                              "Exit status: 0 done (or nothing to change), 1 invalid policy or XML, 2 usage,\n"
                              "3 host or libvirt error, 4 (--domain) the domain has no router policy.\n\n"
                              "Examples:\n"
                              "  virsh metadata vr1 urn:virt-router:1 --key vr --config \\\n"
                              "      --set \"<router><port name='wan' mode='macvtap' dev='eth0'/></router>\"\n"
                              "  virt-router apply --domain vr1 --dry-run && virt-router apply --domain vr1\n"
                              "  virsh dumpxml vr1 | virt-router apply - > vr1.xml && virsh define vr1.xml",
                              entries, &argc, &argv);
        if (r >= 0)
                return r;
        /* Before --domain existed, -c was --config here: a file name is no URI (every
         * libvirt URI has a scheme), so say what changed instead of failing to connect. */
        if (uri && !strchr(uri, ':'))
                return usage_error("apply", "-c/--connect '%s' is not a libvirt URI: -c is --connect URI, as in virsh; give the host config as --config FILE", uri);
        if (!domain && (uri || dry_run))
                return usage_error("apply", "%s works with --domain NAME only", uri ? "--connect" : "--dry-run");
        if (domain && argc > 1)
                return usage_error("apply", "--domain %s reads the domain from libvirt: expected no input FILE, got '%s'", domain, argv[1]);
        if (domain && o.output)
                return usage_error("apply", "--domain %s redefines the domain: -o is for the FILE form (--dry-run shows the change)", domain);
        if (argc > 2)
                return usage_error("apply", "expected at most one input file, got %d", argc - 1);
        if (!(conf = load_conf(o.config, &r)))
                return r;
        if (domain) {
                ao = (VrRewriteOptions){conf, o.sysroot, "<libvirt>"};
                return apply_domain(domain, uri, dry_run, &ao);
        }
        file = argc == 2 ? argv[1] : "-";
        if (!read_input(file, &in, &in_len, &err))
                return report(err);
        ao = (VrRewriteOptions){conf, o.sysroot, g_str_equal(file, "-") ? "<stdin>" : file};
        if (vr_rewrite_xml(in, in_len, &ao, &out, &out_len, NULL, &err) < 0)
                return report(err);
        return write_output(o.output, out, out_len);
}

/* Whether the definition already is what the policy says, as the hook's prepare checks
 * it (strict mode refuses a start otherwise): the lines apply would change. A policy that
 * conflicts with the domain's own devices is refused as apply refuses it (exit 1). */
static int print_drift(const VrPolicy *policy, const VrHostConf *conf, const char *sysroot, xmlDoc *doc,
                       const char *what) {
        g_autoptr(GError) err = NULL;
        g_autoptr(VrPlan) plan = vr_rewrite_plan(doc, policy, conf, sysroot, what, &err);
        g_autoptr(GPtrArray) drift = NULL;

        if (!plan && g_error_matches(err, VR_ERROR, VR_ERROR_CONFLICT)) {
                printf("  definition: conflicts with the policy (apply refuses it):\n");
                fflush(stdout);
                return report(err);
        }
        if (!plan) {
                printf("  definition: not compared with the policy (%s)\n", err->message);
                return 0;
        }
        drift = vr_plan_drift(plan, doc);
        if (drift->len == 0) {
                printf("  definition: as the policy says\n");
                return 0;
        }
        printf("  definition: differs from the policy (run virt-router apply; a strict host refuses to start it):\n");
        for (guint i = 0; i < drift->len; i++)
                printf("    %s\n", (const char *)drift->pdata[i]);
        return 0;
}

/* A port's VF flag as check shows it: unset leaves the PF's setting alone. */
static const char *tristate_word(VrTristate t) {
        return t == VR_TRI_UNSET ? "(unchanged)" : t == VR_TRI_YES ? "yes" : "no";
}

static int cmd_check(int argc, char **argv) {
        g_auto(CommonOptions) o = {0};
        GOptionEntry entries[] = {
                common_entry("config", 'c', &o.config, "Host config (default " VR_HOSTCONF_DEFAULT_PATH ")", "FILE"),
                {"json", 0, 0, G_OPTION_ARG_NONE, &o.json, "Print the policy as JSON", NULL},
                common_entry("sysroot", 0, &o.sysroot, "Look up VFs of a PF under DIR/sys, as apply does", "DIR"),
                {NULL},
        };
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(GError) err = NULL;
        g_autoptr(xmlDoc) doc = NULL;
        g_autoptr(VrPolicy) policy = NULL;
        g_autofree char *in = NULL;
        gsize in_len = 0;
        const char *file, *what;
        int r = parse_options("check", "[FILE|-]",
                              "Validate a domain's router policy and show it with defaults filled in.",
                              "Exit status 0: valid router policy; 1: invalid (every problem is listed);\n"
                              "4: the domain is not a router (no policy, no matching host config rule).",
                              entries, &argc, &argv);
        if (r >= 0)
                return r;
        if (argc > 2)
                return usage_error("check", "expected at most one input file, got %d", argc - 1);
        file = argc == 2 ? argv[1] : "-";
        what = g_str_equal(file, "-") ? "<stdin>" : file;
        if (!(conf = load_conf(o.config, &r)))
                return r;
        if (!read_input(file, &in, &in_len, &err))
                return report(err);
        if (!(doc = vr_xml_parse(in, in_len, what, &err)))
                return report(err);
        r = vr_policy_parse(doc, what, conf, &policy, &err);
        if (r < 0)
                return report(err);
        if (r == 0) {
                if (o.json)
                        printf("null\n");
                else
                        printf("%s: not a router (no <vr:router> metadata and no host config rule matches)\n", what);
                return EXIT_NOT_ROUTER;
        }
        if (o.json) {
                g_autofree char *json = vr_policy_to_json(policy);
                return write_output(NULL, json, strlen(json));
        }
        /* Every field of --json, as "key value" in the policy's own words (test-cli.sh
         * checks each JSON key has its word here). */
        printf("domain '%s' (type %s, vcpus %u, nova-flavor %s): valid router policy\n", policy->dom.name,
               vr_domain_type_names[policy->dom.type], policy->dom.vcpus,
               policy->dom.nova_flavor ? policy->dom.nova_flavor : "(none)");
        printf("  mode %s, profile %s, rule %s\n", vr_mode_to_string(policy->mode),
               policy->profile ? policy->profile : "(none)",
               policy->rule ? policy->rule : "(none: the domain's own <vr:router>)");
        {
                g_autofree char *cpus = policy->cpus ? vr_cpuset_format(policy->cpus) : g_strdup("(not pinned)");
                g_autofree char *hk = policy->housekeeping ? vr_cpuset_format(policy->housekeeping) : g_strdup("(not pinned)");
                g_autofree char *shares = policy->shares ? g_strdup_printf("%d", policy->shares) : g_strdup("(unchanged)");
                printf("  cpu: placement %s, cpus %s, cpus-from-pool %s, housekeeping %s, shares %s\n",
                       vr_placement_names[policy->placement], cpus,
                       policy->cpus_from_pool ? "yes ([host] router-cpus)" : "no", hk, shares);
        }
        for (guint i = 0; i < policy->sched->len; i++) {
                const VrSchedRule *s = policy->sched->pdata[i];
                printf("  sched threads");
                for (int k = 0; vr_thread_names[k]; k++)
                        if (s->threads & (1u << k))
                                printf(" %s", vr_thread_names[k]);
                printf(", class %s", vr_sched_class_names[s->cls]);
                if (s->cls == VR_SCHED_FIFO || s->cls == VR_SCHED_RR)
                        printf(", priority %d", s->priority);
                if (s->has_nice)
                        printf(", nice %d", s->nice);
                if (s->cls == VR_SCHED_DEADLINE && s->derive) {
                        printf(", runtime, deadline and period derived from the guarantee");
                } else if (s->cls == VR_SCHED_DEADLINE) {
                        g_autofree char *rt = vr_format_duration(s->runtime_ns);
                        g_autofree char *dl = vr_format_duration(s->deadline_ns);
                        g_autofree char *pe = vr_format_duration(s->period_ns);
                        printf(", runtime %s, deadline %s, period %s (given, not derived)", rt, dl, pe);
                }
                printf("\n");
        }
        for (guint i = 0; i < policy->ports->len; i++) {
                const VrPort *p = policy->ports->pdata[i];
                printf("  port name %s, mode %s", p->name, vr_port_mode_names[p->mode]);
                if (p->mode == VR_PORT_VF) {
                        /* A KVM port on a PF the host config pools takes the pool. */
                        const char *pool = p->pf && !p->vf && policy->dom.type != VR_DOMAIN_LXC
                                                   ? g_hash_table_lookup(conf->pf_networks, p->pf) : NULL;
                        printf(", pf %s, network %s%s%s%s, vf %s", p->pf ? p->pf : "-",
                               p->network ? p->network : pool ? pool : "- (no VF pool)",
                               !p->network && pool ? " (from [pf " : "", !p->network && pool ? p->pf : "",
                               !p->network && pool ? "] of the host config)" : "",
                               p->vf ? p->vf : p->network || pool ? "(libvirt's choice at start)" : "(chosen by apply)");
                        if (p->vlan)
                                printf(", vlan %d", p->vlan);
                        else
                                printf(", vlan (none)");
                        printf(", trust %s, spoofchk %s", tristate_word(p->trust), tristate_word(p->spoofchk));
                } else {
                        printf(", dev %s, queue %d packets, macvtap-mode %s", p->dev, p->queue, p->macvtap_mode);
                }
                printf(", mac %s", p->mac ? p->mac : "(generated)");
                if (policy->dom.type != VR_DOMAIN_LXC && p->mode == VR_PORT_MACVTAP) {
                        g_autofree char *txq = p->tx_queue_size ? g_strdup_printf("%d", p->tx_queue_size)
                                                                : g_strdup("(QEMU's default)");
                        printf(", rx-queue-size %d, tx-queue-size %s, queues %d, backend %s", p->rx_queue_size, txq,
                               p->queues, p->backend ? vr_backend_names[p->backend] : "(vhost on kvm, libvirt's choice on qemu)");
                }
                printf("\n");
        }
        if (policy->guarantee.set && policy->dom.type == VR_DOMAIN_LXC) {
                const VrGuarantee *g = &policy->guarantee;
                printf("  guarantee: rate %" G_GUINT64_FORMAT " pps, burst %" G_GUINT64_FORMAT "%s, delay %.3f ms", g->rate_pps,
                       g->police_burst, g->burst ? "" : " (derived)", g->delay_ns / 1e6);
                if (g->bandwidth_bps)
                        printf(", bandwidth %" G_GUINT64_FORMAT " bit/s", g->bandwidth_bps);
                printf("\n");
                printf("    police-burst %" G_GUINT64_FORMAT ", shape-burst %" G_GUINT64_FORMAT " packets\n",
                       g->police_burst, g->shape_burst);
        }
        if (policy->guarantee.set && policy->dom.type != VR_DOMAIN_LXC) {
                const VrGuarantee *g = &policy->guarantee;
                VrGuaranteePlan gp;
                if (!vr_guarantee_plan(policy, conf, &gp, &err))
                        return report(err); /* the parser has checked it: not reached */
                printf("  guarantee: rate %" G_GUINT64_FORMAT " pps, burst %" G_GUINT64_FORMAT "%s, delay %.3f ms", g->rate_pps,
                       gp.burst, g->burst ? "" : " (derived)", g->delay_ns / 1e6);
                if (g->bandwidth_bps)
                        printf(", bandwidth %" G_GUINT64_FORMAT " bit/s", g->bandwidth_bps);
                printf("\n");
                if (gp.period_ns) {
                        printf("    reservation: period %.1f ms (set by the %s bound)", gp.period_ns / 1e6, gp.period_by);
                        if (gp.vcpu.reserved)
                                printf(", %u vCPU x %.1f us (%.1f%%)", gp.vcpu.threads, gp.vcpu.runtime_ns / 1e3, gp.vcpu.util_ppm / 1e4);
                        if (gp.backend.reserved)
                                printf(", %u backend x %.1f us (%.1f%%)", gp.backend.threads, gp.backend.runtime_ns / 1e3,
                                       gp.backend.util_ppm / 1e4);
                        printf(": %.1f%% of a CPU\n", gp.total_ppm / 1e4);
                } else {
                        printf("    reservation: none (no <vr:sched class='deadline'> without runtime): policed and shaped only\n");
                }
                printf("    packet cost: vCPU %.3f us, backend %.3f us per packet, %s\n", conf->cost.vcpu_ns / 1e3,
                       conf->cost.backend_ns / 1e3, conf->cost.measured ? "measured by virt-router calibrate" : "defaults (run virt-router calibrate)");
                printf("    worst delay %.2f ms, jitter %" G_GUINT64_FORMAT " packets; host queue %" G_GUINT64_FORMAT ", virtio ring %d\n",
                       gp.worst_delay_ns / 1e6, gp.jitter, gp.host_queue, gp.guest_ring);
                printf("    policer: %" G_GUINT64_FORMAT " pps, police-burst %" G_GUINT64_FORMAT "; shaper: %" G_GUINT64_FORMAT " pps, shape-burst %" G_GUINT64_FORMAT "\n",
                       g->rate_pps, g->police_burst, g->rate_pps, g->shape_burst);
        }
        if (!policy->guarantee.set)
                printf("  guarantee: (none)\n");
        for (guint i = 0; i < policy->addresses->len; i++) {
                const VrAddress *a = policy->addresses->pdata[i];
                printf("  address: port %s, ip %s\n", a->port, a->ip);
        }
        for (guint i = 0; i < policy->routes->len; i++) {
                const VrRoute *rt = policy->routes->pdata[i];
                printf("  route: to %s, via %s, port %s\n", rt->to, rt->via, rt->port ? rt->port : "?");
        }
        printf("  strip:");
        for (int k = 0; vr_strip_names[k]; k++)
                if (policy->strip & (1u << k))
                        printf(" %s", vr_strip_names[k]);
        printf("%s\n", policy->strip ? "" : " (nothing)");
        return print_drift(policy, conf, o.sysroot, doc, what);
}

static int cmd_render(int argc, char **argv) {
        g_auto(CommonOptions) o = {0};
        g_autofree char *name = NULL, *type = NULL, *cpus = NULL, *hk = NULL, *placement = NULL;
        g_autofree char *profile = NULL, *policy = NULL, *image_dir = NULL, *template_dir = NULL;
        g_autofree char *init = NULL, *uuid = NULL;
        g_auto(GStrv) ports = NULL;
        gint vcpus = 0, memory = 0;
        gboolean no_image = FALSE;
        GOptionEntry entries[] = {
                {"name", 'n', 0, G_OPTION_ARG_STRING, &name, "Domain name (default 'router')", "NAME"},
                {"uuid", 0, 0, G_OPTION_ARG_STRING, &uuid, "Domain UUID (default: derived from the name, the same at every render)", "UUID"},
                {"type", 't', 0, G_OPTION_ARG_STRING, &type, "kvm (real hosts, default) or qemu (emulation)", "TYPE"},
                {"vcpus", 0, 0, G_OPTION_ARG_INT, &vcpus, "Number of vCPUs (default 1)", "N"},
                {"memory", 'm', 0, G_OPTION_ARG_INT, &memory, "Memory in MiB", "MIB"},
                {"port", 'p', 0, G_OPTION_ARG_STRING_ARRAY, &ports, "A port; repeat for each (replaces the template's)", "NAME=DEV[,key=value...]"},
                {"cpus", 0, 0, G_OPTION_ARG_STRING, &cpus, "CPUs for the router's vCPUs", "LIST"},
                {"housekeeping", 0, 0, G_OPTION_ARG_STRING, &hk, "CPUs for the emulator thread", "LIST"},
                {"placement", 0, 0, G_OPTION_ARG_STRING, &placement, "dedicated or shared", "P"},
                {"profile", 0, 0, G_OPTION_ARG_STRING, &profile, "Host config profile to use", "NAME"},
                {"policy", 0, 0, G_OPTION_ARG_FILENAME, &policy, "Use the <vr:router> element in FILE as the policy", "FILE"},
                {"image-dir", 0, 0, G_OPTION_ARG_FILENAME, &image_dir, "Guest kernel and initramfs directory", "DIR"},
                {"no-image", 0, 0, G_OPTION_ARG_NONE, &no_image, "Boot no kernel (for tests that need a running QEMU only)", NULL},
                {"init", 0, 0, G_OPTION_ARG_FILENAME, &init, "LXC: the container's init program", "PATH"},
                {"template-dir", 0, 0, G_OPTION_ARG_FILENAME, &template_dir, "Where the templates are", "DIR"},
                common_entry("config", 'c', &o.config, "Host config (default " VR_HOSTCONF_DEFAULT_PATH ")", "FILE"),
                common_entry("sysroot", 0, &o.sysroot, "Look up VFs of a PF under DIR/sys (use / for this host)", "DIR"),
                common_entry("output", 'o', &o.output, "Write the result to FILE (default: standard output)", "FILE"),
                {NULL},
        };
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(GError) err = NULL;
        g_autofree char *out = NULL;
        VrRenderOptions ro;
        VrRewriteOptions ao;
        int r = parse_options("render", "TEMPLATE",
                              "Write a complete libvirt domain XML for a router.",
                              "Templates: kvm-macvtap, kvm-vf, lxc-macvlan, lxc-vf.\n"
                              "A port's DEV is the host interface under a macvtap/macvlan, or the PF of a VF;\n"
                              "key=value pairs are <vr:port> attributes (virt-router.xml(5)), e.g.\n"
                              "  --port wan=eth0,queue=40 --port lan=eth1,vlan=100\n\n"
                              "Example: virt-router render kvm-macvtap -n vr1 --port wan=eth0 --port lan=eth1 \\\n"
                              "           --cpus 2 --placement dedicated > vr1.xml && virsh define vr1.xml",
                              entries, &argc, &argv);
        if (r >= 0)
                return r;
        if (argc != 2)
                return usage_error("render", "expected one TEMPLATE (kvm-macvtap, kvm-vf, lxc-macvlan, lxc-vf)");
        if (vcpus < 0 || vcpus > 4096)
                return usage_error("render", "--vcpus %d: expected 1-4096", vcpus);
        if (memory < 0)
                return usage_error("render", "--memory %d: expected MiB above zero", memory);
        if (!(conf = load_conf(o.config, &r)))
                return r;
        ro = (VrRenderOptions){
                .template_name = argv[1], .template_dir = template_dir, .name = name, .type = type,
                .vcpus = vcpus, .memory_mib = memory, .ports = ports, .cpus = cpus,
                .housekeeping = hk, .placement = placement, .profile = profile,
                .policy_file = policy, .image_dir = image_dir, .no_image = no_image, .init = init,
                .uuid = uuid,
        };
        ao = (VrRewriteOptions){conf, o.sysroot, "render"};
        out = vr_render(&ro, &ao, &err);
        if (!out)
                return report(err);
        return write_output(o.output, out, strlen(out));
}

static int cmd_templates(int argc, char **argv) {
        GOptionEntry entries[] = {{NULL}};
        int r = parse_options("templates", "", "List the domain templates `render` knows.", NULL,
                              entries, &argc, &argv);
        static const char *const what[] = {
                "KVM guest, ports are macvtaps (virtio, vhost, 1024-entry rings)",
                "KVM guest, ports are SR-IOV VFs through VFIO (or a libvirt VF pool)",
                "LXC container, ports are macvlans",
                "LXC container, ports are SR-IOV VFs moved into the container",
        };

        if (r >= 0)
                return r;
        if (argc > 1)
                return usage_error("templates", "expected no arguments");
        for (int i = 0; vr_template_names[i]; i++)
                printf("%-12s %s\n", vr_template_names[i], what[i]);
        printf("(from %s)\n", vr_template_dir(NULL));
        return 0;
}

/* ------------------------------------------------------------------------ */
/* status                                                                   */

typedef struct {
        pid_t tid;
        uint64_t ticks0, ticks1;
        bool alive;
        VrProcStat st;
        char *cpus_now; /* Cpus_allowed_list as the kernel has it */
} LiveThread;

static const char *policy_name(unsigned policy) {
        static const char *const names[] = {"other", "fifo", "rr", "batch", "iso", "idle", "deadline"};
        return policy < G_N_ELEMENTS(names) ? names[policy] : "?";
}

static char *read_cpus_allowed(const char *root, pid_t pid, pid_t tid) {
        g_autofree char *rel = g_strdup_printf("proc/%d/task/%d/status", (int) pid, (int) tid);
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;

        if (vr_read_line(root, rel, &text) < 0)
                return NULL;
        lines = g_strsplit(text, "\n", -1);
        for (char **l = lines; *l; l++)
                if (g_str_has_prefix(*l, "Cpus_allowed_list:"))
                        return g_strstrip(g_strdup(*l + strlen("Cpus_allowed_list:")));
        return NULL;
}

static bool pid_alive(const char *root, pid_t pid) {
        return vr_proc_id_alive(root, &(VrProcId){pid, 0, NULL});
}

/* A pid member of the tuner's state, 0 when it is absent or no pid. */
static pid_t member_pid(const VrJsonNode *n, const char *key) {
        int64_t v = 0;
        return vr_json_member_int(n, key, 0, G_MAXINT32, &v) == 0 ? (pid_t) v : 0;
}

typedef struct {
        char *file;
        VrJsonNode *state;
        GArray *live; /* LiveThread */
        pid_t pid, tuner;
        bool tuner_running;
} DomainStatus;

static void domain_status_free(gpointer p) {
        DomainStatus *d = p;
        g_free(d->file);
        vr_json_node_free(d->state);
        for (guint i = 0; d->live && i < d->live->len; i++)
                g_free(g_array_index(d->live, LiveThread, i).cpus_now);
        if (d->live)
                g_array_unref(d->live);
        g_free(d);
}

/* Two samples of every thread's CPU time, `ms` apart, for all domains at once.
 * Returns the real time between them in ms: a busy host can delay the second. */
static double sample(const char *root, GPtrArray *domains, int ms) {
        gint64 t0 = g_get_monotonic_time();
        for (int pass = 0; pass < 2; pass++) {
                if (pass)
                        g_usleep((gulong) ms * 1000);
                for (guint i = 0; i < domains->len; i++) {
                        DomainStatus *d = domains->pdata[i];
                        const VrJsonNode *threads = vr_json_member(d->state, "threads");
                        pid_t pid = d->pid;
                        if (!d->live)
                                d->live = g_array_new(FALSE, TRUE, sizeof(LiveThread));
                        for (guint k = 0; threads && threads->type == VR_JSON_ARRAY && k < threads->items->len; k++) {
                                const VrJsonNode *th = threads->items->pdata[k];
                                pid_t tid = member_pid(th, "tid");
                                bool kthread = vr_json_member_bool(th, "kthread", false);
                                pid_t owner = kthread ? tid : pid;
                                LiveThread *lt;
                                if (!pass) {
                                        LiveThread zero = {0};
                                        g_array_append_val(d->live, zero);
                                }
                                lt = &g_array_index(d->live, LiveThread, k);
                                lt->tid = tid;
                                lt->alive = vr_proc_read_stat(root, owner, tid, &lt->st) == 0;
                                if (!lt->alive)
                                        continue;
                                if (!pass) {
                                        lt->ticks0 = lt->st.utime + lt->st.stime;
                                        lt->cpus_now = read_cpus_allowed(root, owner, tid);
                                } else {
                                        lt->ticks1 = lt->st.utime + lt->st.stime;
                                }
                        }
                }
        }
        return (double) (g_get_monotonic_time() - t0) / 1000.0;
}

static double cpu_percent(const LiveThread *lt, double ms) {
        long hz = sysconf(_SC_CLK_TCK);
        if (!lt->alive || lt->ticks1 < lt->ticks0 || hz <= 0)
                return 0;
        return 100.0 * (double) (lt->ticks1 - lt->ticks0) / (double) hz / (ms / 1000.0);
}

static int cmd_status(int argc, char **argv) {
        g_auto(CommonOptions) o = {0};
        g_autofree char *state_dir = NULL, *root = NULL;
        gint interval = 500;
        double elapsed;
        GOptionEntry entries[] = {
                common_entry("config", 'c', &o.config, "Host config (default " VR_HOSTCONF_DEFAULT_PATH ")", "FILE"),
                {"json", 0, 0, G_OPTION_ARG_NONE, &o.json, "Print JSON", NULL},
                {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "Where the tuners' state is (default: host config state-dir)", "DIR"},
                {"interval", 'i', 0, G_OPTION_ARG_INT, &interval, "Sample CPU use over MS milliseconds (default 500)", "MS"},
                {"root", 0, 0, G_OPTION_ARG_FILENAME, &root, "Root prefix for /proc (tests)", "DIR"},
                {NULL},
        };
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(GPtrArray) domains = g_ptr_array_new_with_free_func(domain_status_free);
        g_autoptr(GPtrArray) names = NULL;
        const char *want;
        int r = parse_options("status", "[DOMAIN]",
                              "Show the routers' threads: role, CPUs, scheduling class, live CPU use.",
                              "Reads the state virt-router-tune keeps in STATE_DIR/DOMAIN.json and samples\n"
                              "/proc for each thread's CPU use and current affinity and class.\n"
                              "Exit status: 0 shown, 1 a named domain has no state, 3 cannot read the state dir.",
                              entries, &argc, &argv);
        if (r >= 0)
                return r;
        if (argc > 2)
                return usage_error("status", "expected at most one DOMAIN");
        if (interval < 10 || interval > 60000)
                return usage_error("status", "--interval %d: expected 10-60000 ms", interval);
        if (!(conf = load_conf(o.config, &r)))
                return r;
        if (!state_dir)
                state_dir = g_strdup(conf->state_dir);
        if (!root)
                root = g_strdup("/");
        want = argc == 2 ? argv[1] : NULL;
        names = vr_state_domains(state_dir, VR_STATE_TUNER);
        for (guint i = 0; i < names->len; i++) {
                const char *name = names->pdata[i];
                g_autofree char *path = NULL, *text = NULL;
                g_autoptr(GError) err = NULL;
                DomainStatus *d;
                VrProcId id;
                if (want && !g_str_equal(name, want))
                        continue;
                path = vr_state_path(state_dir, VR_STATE_TUNER, name);
                if (vr_state_read(state_dir, VR_STATE_TUNER, name, &text) < 0)
                        continue;
                d = g_new0(DomainStatus, 1);
                d->file = g_steal_pointer(&path);
                d->state = vr_json_parse(text, &err);
                if (d->state && !vr_json_member_string(d->state, "domain")) {
                        domain_status_free(d); /* some other JSON file */
                        continue;
                }
                if (!d->state) {
                        fprintf(stderr, "virt-router: %s: %s\n", d->file, err->message);
                        domain_status_free(d);
                        continue;
                }
                d->pid = member_pid(d->state, "pid");
                d->tuner = member_pid(d->state, "tuner_pid");
                /* The tuner runs if its pid file names a live process by pid and start
                 * time, and that is the pid the state names: a pid alone may by now be
                 * any process's. */
                d->tuner_running = vr_state_pid_alive(root, state_dir, VR_STATE_TUNER_PID, name, &id) &&
                                   id.pid == d->tuner;
                g_ptr_array_add(domains, d);
        }
        if (want && !domains->len) {
                fprintf(stderr, "virt-router: domain '%s': no tuner state in %s: expected a running router domain (is virt-router-tune running for it?)\n",
                        want, state_dir);
                return EXIT_INVALID;
        }
        elapsed = sample(root, domains, interval);
        if (o.json) {
                g_autoptr(VrJson) j = vr_json_new();
                g_autofree char *out = NULL;
                vr_json_begin_array(j);
                for (guint i = 0; i < domains->len; i++) {
                        DomainStatus *d = domains->pdata[i];
                        const VrJsonNode *threads = vr_json_member(d->state, "threads");
                        vr_json_begin_object(j);
                        vr_json_key(j, "domain");
                        vr_json_string(j, vr_json_member_string(d->state, "domain"));
                        vr_json_key(j, "pid");
                        vr_json_int(j, d->pid);
                        vr_json_key(j, "running");
                        vr_json_bool(j, pid_alive(root, d->pid));
                        vr_json_key(j, "tuner_pid");
                        vr_json_int(j, d->tuner);
                        vr_json_key(j, "tuner_running");
                        vr_json_bool(j, d->tuner_running);
                        vr_json_key(j, "threads");
                        vr_json_begin_array(j);
                        for (guint k = 0; threads && threads->type == VR_JSON_ARRAY && k < threads->items->len; k++) {
                                const VrJsonNode *th = threads->items->pdata[k];
                                const LiveThread *lt = &g_array_index(d->live, LiveThread, k);
                                vr_json_begin_object(j);
                                vr_json_key(j, "tid");
                                vr_json_int(j, lt->tid);
                                vr_json_key(j, "role");
                                vr_json_string(j, vr_json_member_string(th, "role"));
                                vr_json_key(j, "comm");
                                vr_json_string(j, vr_json_member_string(th, "comm"));
                                vr_json_key(j, "planned_cpus");
                                vr_json_string(j, vr_json_member_string(th, "cpus"));
                                vr_json_key(j, "planned_class");
                                vr_json_string(j, vr_json_member_string(th, "class"));
                                vr_json_key(j, "alive");
                                vr_json_bool(j, lt->alive);
                                vr_json_key(j, "cpus");
                                vr_json_string(j, lt->cpus_now);
                                vr_json_key(j, "class");
                                vr_json_string(j, lt->alive ? policy_name(lt->st.policy) : NULL);
                                vr_json_key(j, "cpu_percent");
                                vr_json_double(j, cpu_percent(lt, elapsed));
                                vr_json_key(j, "error");
                                vr_json_string(j, vr_json_member_string(th, "error"));
                                vr_json_end_object(j);
                        }
                        vr_json_end_array(j);
                        vr_json_end_object(j);
                }
                vr_json_end_array(j);
                out = vr_json_finish(j);
                return write_output(NULL, out, strlen(out));
        }
        if (!domains->len) {
                printf("no router is being tuned (no state in %s)\n", state_dir);
                return 0;
        }
        for (guint i = 0; i < domains->len; i++) {
                DomainStatus *d = domains->pdata[i];
                const VrJsonNode *threads = vr_json_member(d->state, "threads");
                const VrJsonNode *notes = vr_json_member(d->state, "notes");
                const VrJsonNode *errors = vr_json_member(d->state, "errors");
                printf("%s%s (%s, pid %d%s), tuner pid %d%s, events: %s\n", i ? "\n" : "",
                       vr_json_member_string(d->state, "domain"), vr_json_member_string(d->state, "type"),
                       (int) d->pid, pid_alive(root, d->pid) ? "" : ", not running", (int) d->tuner,
                       d->tuner_running ? "" : " (not running)", vr_json_member_string(d->state, "events"));
                printf("  %-10s %7s  %-16s %-8s %-8s %-9s %6s  %s\n", "ROLE", "TID", "NAME", "CPUS", "CLASS", "(PLANNED)", "CPU%", "STATE");
                for (guint k = 0; threads && threads->type == VR_JSON_ARRAY && k < threads->items->len; k++) {
                        const VrJsonNode *th = threads->items->pdata[k];
                        const LiveThread *lt = &g_array_index(d->live, LiveThread, k);
                        const char *planned = vr_json_member_string(th, "class");
                        const char *err = vr_json_member_string(th, "error");
                        printf("  %-10s %7d  %-16s %-8s %-8s %-9s %6.1f  %s\n", vr_json_member_string(th, "role"),
                               (int) lt->tid, vr_json_member_string(th, "comm"),
                               lt->cpus_now ? lt->cpus_now : "-", lt->alive ? policy_name(lt->st.policy) : "-",
                               planned ? planned : "-", cpu_percent(lt, elapsed),
                               !lt->alive ? "exited" : err ? err : vr_json_member_bool(th, "applied", false) ? "ok" : "pending");
                }
                for (guint k = 0; notes && notes->type == VR_JSON_ARRAY && k < notes->items->len; k++)
                        printf("  note: %s\n", ((VrJsonNode *) notes->items->pdata[k])->string);
                for (guint k = 0; errors && errors->type == VR_JSON_ARRAY && k < errors->items->len; k++)
                        printf("  error: %s\n", ((VrJsonNode *) errors->items->pdata[k])->string);
        }
        return 0;
}

static int cmd_spec(int argc, char **argv) {
        g_auto(CommonOptions) o = {0};
        g_autofree char *domain = NULL, *xml = NULL, *root = NULL, *out = NULL;
        gint pid = 0;
        GOptionEntry entries[] = {
                {"domain", 'd', 0, G_OPTION_ARG_STRING, &domain, "The domain (its status XML is read from /run/libvirt)", "NAME"},
                {"xml", 'x', 0, G_OPTION_ARG_FILENAME, &xml, "Domain XML or libvirt status XML to read instead", "FILE"},
                {"pid", 'p', 0, G_OPTION_ARG_INT, &pid, "libvirt's pid of the domain (default: from the status XML or pid file)", "PID"},
                common_entry("config", 'c', &o.config, "Host config (default " VR_HOSTCONF_DEFAULT_PATH ")", "FILE"),
                {"root", 0, 0, G_OPTION_ARG_FILENAME, &root, "Root prefix for /proc and /run (tests)", "DIR"},
                {NULL},
        };
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(GError) err = NULL;
        int r = parse_options("spec", "",
                              "Print the tuning spec of a router domain: what virt-router-tune needs (JSON).",
                              "The policy in the JSON form of `check --json`, the domain's process, and the\n"
                              "netdevs whose NAPI threads are the router's. The tuner reads this instead of\n"
                              "domain XML, so that it never loads libxml2.",
                              entries, &argc, &argv);
        if (r >= 0)
                return r;
        if (argc > 1 || (!domain && !xml))
                return usage_error("spec", "expected --domain NAME or --xml FILE");
        if (!(conf = load_conf(o.config, &r)))
                return r;
        out = vr_tune_spec_from_file(root, domain, xml, (pid_t) pid, conf, &err);
        if (!out)
                return report(err);
        return write_output(NULL, out, strlen(out));
}

typedef struct {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
} Command;

static const Command commands[] = {
        {"render", cmd_render, "write a complete domain XML for a router from a template"},
        {"apply", cmd_apply, "rewrite a domain XML so it honours its router policy"},
        {"check", cmd_check, "validate a domain's router policy and show it"},
        {"status", cmd_status, "show routers' threads, their CPUs, class and CPU use"},
        {"spec", cmd_spec, "print the tuning spec of a router domain (for virt-router-tune)"},
        {"templates", cmd_templates, "list the templates"},
        {"bench", vr_cmd_bench, "offer stepped load to running routers; CSV, CI and a plot"},
        {"calibrate", vr_cmd_calibrate, "measure a router's CPU cost per packet; store it in the host config"},
        {NULL, NULL, NULL},
};

static void main_help(FILE *f) {
        fprintf(f, "Usage: virt-router COMMAND [OPTIONS]\n\n"
                   "Turn libvirt KVM guests and LXC containers into fast, isolated virtual routers.\n\n"
                   "Commands:\n");
        for (const Command *c = commands; c->name; c++)
                fprintf(f, "  %-10s %s\n", c->name, c->summary);
        fprintf(f, "\nRun 'virt-router COMMAND --help' for a command's options.\n"
                   "See virt-router(1), virt-router.xml(5), virt-router.conf(5).\n");
}

int main(int argc, char **argv) {
        int r;

        setlocale(LC_ALL, "");
        if (argc < 2) {
                main_help(stderr);
                return EXIT_USAGE;
        }
        if (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h") || g_str_equal(argv[1], "help")) {
                main_help(stdout);
                return 0;
        }
        if (g_str_equal(argv[1], "--version")) {
                printf("virt-router %s\n", PACKAGE_VERSION);
                return 0;
        }
        for (const Command *c = commands; c->name; c++) {
                if (g_str_equal(argv[1], c->name)) {
                        g_autofree char *prog = g_strdup_printf("virt-router %s", c->name);
                        g_set_prgname(prog);
                        r = c->fn(argc - 1, argv + 1);
                        xmlCleanupParser();
                        return r;
                }
        }
        fprintf(stderr, "virt-router: unknown command '%s'\n\n", argv[1]);
        main_help(stderr);
        return EXIT_USAGE;
}
