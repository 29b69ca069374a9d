#include "config.h"

/* Parsing and validating the <vr:router> metadata of a domain XML. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "vr-error.h"
#include "vr-guarantee.h"
#include "vr-policy-xml.h"
#include "vr-json.h"
#include "vr-units.h"
#include "vr-xml.h"

#define NOVA_NS_PREFIX "http://openstack.org/xmlns/libvirt/nova/"
/* Kernel limits (kernel/sched/deadline.c): runtime >= 2^DL_SCALE ns, period bounded by
 * the sched_deadline_period_{min,max}_us sysctls whose defaults are 100us and 4s. */
#define DL_MIN_RUNTIME_NS 1024ULL
#define DL_MIN_PERIOD_NS 100000ULL
#define DL_MAX_PERIOD_NS 4000000000ULL
/* A guarantee's rate becomes `tc ... police pkts_rate RATE` on the host (hook/vr-hook-plan.c)
 * and in the guest (guest/init-tc.c). The kernel's act_police takes it as a 64-bit
 * attribute (TCA_POLICE_PKTRATE64) on kernels that have it, but its width is not
 * something to lean on across kernels and tc versions: bounded by a u32, which is also
 * 29 times the packet rate of a 100 Gbit/s link. Its delay reaches no kernel as such
 * (the derivation caps the period it makes of it, vr-guarantee.c): bounded by what the
 * unit parser reads exactly, 2^63-1 ns, like every duration. */
#define GUARANTEE_MAX_PPS 4294967295ULL
/* A bit rate as a 64-bit count (tc's rate64): what the unit parser reads at most. */
#define GUARANTEE_MAX_BPS 9223372036854775807ULL

static char *enum_expected(const char *const *table, int skip_first) {
        g_autofree char *list = g_strjoinv(", ", (char **) table + skip_first);
        return g_strdup_printf("one of: %s", list);
}

/* ------------------------------------------------------------------------ */
/* Diagnostics: every problem is collected, then reported together.          */

/* Where a value came from, for messages: the element's attribute, a profile's key or a
 * [host] key (value NULL: none of them gave one). */
typedef struct {
        char *value;
        const xmlNode *el;
        const char *attr;
        const char *profile_key; /* set when the value came from the profile */
        const char *host_key;    /* set when the value is a [host] default */
} Val;

static void val_clear(Val *v) {
        g_clear_pointer(&v->value, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Val, val_clear)

typedef struct {
        const char *what;       /* input name */
        const char *dom;        /* domain name */
        const VrHostConf *conf;
        const VrProfile *profile;
        const VrRule *rule;     /* the [rule] that bound a domain without metadata */
        GPtrArray *errors; /* CtxError, sorted by line before they are reported */
        /* Values checked after parsing, kept with their source so that an error about
         * them names the host config when they came from there. */
        Val placement, cpus, housekeeping;
        const VrSchedRule *profile_sched; /* the rule made of the profile's sched-* keys */
        Val sched_threads, sched_class;
        Val g_rate, g_delay, g_burst;
        /* The guarantee's own errors, and whether rate, delay and burst could all be
         * read: the derivation runs when only the guarantee's other attributes erred. */
        guint g_errors;
        bool g_readable;
        /* Lookups that would otherwise scan every address once per address or route. */
        GHashTable *addr_seen; /* GBytes (family, address) -> the VrAddress that has it */
        GHashTable *subnets;   /* GBytes (family, prefix, network) -> 1 + index of its first address */
        bool prefix_used[2][129]; /* [family 4/6][prefix]: the prefix lengths in subnets */
} Ctx;

static void ctx_clear(Ctx *c) {
        Val *vals[] = {&c->placement, &c->cpus, &c->housekeeping, &c->sched_threads, &c->sched_class,
                       &c->g_rate, &c->g_delay, &c->g_burst};
        for (size_t i = 0; i < G_N_ELEMENTS(vals); i++)
                val_clear(vals[i]);
        g_clear_pointer(&c->addr_seen, g_hash_table_unref);
        g_clear_pointer(&c->subnets, g_hash_table_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Ctx, ctx_clear)

static void val_copy(Val *dst, const Val *src) {
        val_clear(dst);
        *dst = *src;
        dst->value = g_strdup(src->value);
}

/* Sorted by line, then element (one line may hold several, and a document built in
 * memory has no lines), then attribute: document order. */
typedef struct {
        long line;
        long el;  /* the element's place in document order, -1 for none */
        int attr; /* the attribute's place in its element, -1 for the element as a whole */
        char *msg;
} CtxError;

static void ctx_error_free(gpointer p) {
        CtxError *e = p;
        g_free(e->msg);
        g_free(e);
}

static int ctx_error_cmp(gconstpointer a, gconstpointer b) {
        const CtxError *x = *(CtxError *const *) a, *y = *(CtxError *const *) b;
        if (x->line != y->line)
                return (x->line > y->line) - (x->line < y->line);
        if (x->el != y->el)
                return (x->el > y->el) - (x->el < y->el);
        return (x->attr > y->attr) - (x->attr < y->attr);
}

/* All problems, one per line, in document order (profile problems first). */
static char *ctx_errors_join(GPtrArray *errors) {
        GString *s = g_string_new(NULL);

        /* Stable: errors of one element, or one attribute, keep the order found. */
        g_ptr_array_sort(errors, ctx_error_cmp);
        for (guint i = 0; i < errors->len; i++) {
                const CtxError *e = errors->pdata[i];
                if (i)
                        g_string_append_c(s, '\n');
                g_string_append(s, e->msg);
        }
        return g_string_free(s, FALSE);
}

static char *describe_el(const xmlNode *el) {
        g_autofree char *name = vr_xml_prop(el, "name");
        const char *prefix = el->ns && el->ns->prefix ? (const char *) el->ns->prefix : NULL;
        g_autofree char *qname = prefix ? g_strdup_printf("%s:%s", prefix, el->name)
                                        : g_strdup((const char *) el->name);
        if (name)
                return g_strdup_printf("<%s name='%s'>", qname, name);
        return g_strdup_printf("<%s>", qname);
}

/* An attribute's place among its element's, for document order; -1 if it has none. */
static int attr_position(const xmlNode *el, const char *name) {
        int i = 0;

        for (const xmlAttr *a = el && name ? el->properties : NULL; a; a = a->next, i++)
                if (!a->ns && xmlStrEqual(a->name, BAD_CAST name))
                        return i;
        return -1;
}

/* Counts the elements before el in document order from x on; true once it is found. */
static bool count_before(const xmlNode *x, const xmlNode *el, long *n) {
        for (; x; x = x->next) {
                if (x->type != XML_ELEMENT_NODE)
                        continue;
                if (x == el)
                        return true;
                (*n)++;
                if (count_before(x->children, el, n))
                        return true;
        }
        return false;
}

/* The element's place in document order (a walk: errors are few). */
static long el_order(const xmlNode *el) {
        long n = 0;

        count_before(el->doc ? el->doc->children : el, el, &n);
        return n;
}

static void add_error(Ctx *c, long line, long el, int attr, char *msg) {
        CtxError *e = g_new0(CtxError, 1);
        e->line = line;
        e->el = el;
        e->attr = attr;
        e->msg = msg;
        g_ptr_array_add(c->errors, e);
}

/* msg about el, or about its attribute attr (NULL: the element as a whole). */
static void el_add(Ctx *c, const xmlNode *el, const char *attr, const char *msg) {
        if (el) {
                long line = vr_xml_line(el);
                g_autofree char *where = line > 0 ? g_strdup_printf("%s:%ld", c->what, line)
                                                  : g_strdup(c->what); /* built in memory */
                g_autofree char *desc = describe_el(el);
                add_error(c, line, el_order(el), attr_position(el, attr),
                          g_strdup_printf("%s: domain '%s': %s %s", where, c->dom, desc, msg));
        } else {
                add_error(c, 0, -1, -1, g_strdup_printf("%s: domain '%s': %s", c->what, c->dom, msg));
        }
}

static void el_error(Ctx *c, const xmlNode *el, const char *fmt, ...) _printf_(3, 4);
static void el_error(Ctx *c, const xmlNode *el, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        el_add(c, el, NULL, msg);
}

static const char *conf_path(const Ctx *c) {
        return c->conf->path ? c->conf->path : "host config";
}

/* "FILE: [profile edge] sched-threads='vcpu vhost' (profile of domain 'x', bound by
 * [rule nova])": the operator finds the value in the host config, not in the domain. */
static char *conf_source(const Ctx *c, const Val *v) {
        g_autofree char *bound = c->rule ? g_strdup_printf(", bound by [rule %s]", c->rule->name) : g_strdup("");

        if (v->profile_key)
                return g_strdup_printf("%s: [profile %s] %s='%s' (profile of domain '%s'%s)", conf_path(c),
                                       c->profile->name, v->profile_key, v->value, c->dom, bound);
        return g_strdup_printf("%s: [host] %s='%s' (default of domain '%s'%s)", conf_path(c), v->host_key,
                               v->value, c->dom, bound);
}

static bool val_from_conf(const Val *v) {
        return v->value && (v->profile_key || v->host_key);
}

static void val_error(Ctx *c, const Val *v, const char *fmt, ...) _printf_(3, 4);
static void val_error(Ctx *c, const Val *v, const char *fmt, ...) {
        g_autofree char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        msg = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        if (v->profile_key || v->host_key) {
                g_autofree char *src = conf_source(c, v);
                add_error(c, 0, -1, -1, g_strdup_printf("%s: %s", src, msg));
        } else {
                g_autofree char *about = g_strdup_printf("attribute %s='%s': %s", v->attr, v->value, msg);
                el_add(c, v->el, v->attr, about);
        }
}

/* The attribute if the element has it, else the profile's key; value NULL if neither. */
static Val get_val(Ctx *c, const xmlNode *el, const char *attr, const char *profile_key) {
        Val v = {NULL, el, attr, NULL, NULL};

        if (el)
                v.value = vr_xml_prop(el, attr);
        if (!v.value && profile_key && c->profile) {
                const char *pv = vr_profile_get(c->profile, profile_key);
                if (pv) {
                        v.value = g_strdup(pv);
                        v.profile_key = profile_key;
                }
        }
        return v;
}

/* Typed readers: return true if a valid value was found (and stored), false if absent
 * or invalid (an error is recorded for invalid). */
static bool read_enum(Ctx *c, const Val *v, const char *const *table, int *ret) {
        int i;

        if (!v->value)
                return false;
        i = vr_enum_from_string(table, v->value);
        if (i < 0) {
                g_autofree char *exp = enum_expected(table, 0);
                val_error(c, v, "expected %s", exp);
                return false;
        }
        *ret = i;
        return true;
}

static bool read_int(Ctx *c, const Val *v, int64_t min, int64_t max, const char *what,
                     int *ret) {
        int64_t n;

        if (!v->value)
                return false;
        if (vr_parse_int(v->value, min, max, &n) < 0) {
                val_error(c, v, "expected %s, %" G_GINT64_FORMAT "-%" G_GINT64_FORMAT, what, min,
                          max);
                return false;
        }
        *ret = (int) n;
        return true;
}

static bool read_duration(Ctx *c, const Val *v, uint64_t *ret) {
        int r;

        if (!v->value)
                return false;
        if ((r = vr_parse_duration(v->value, ret)) == -ERANGE) {
                val_error(c, v, "out of range: expected a duration from 1ns to 9223372036s");
                return false;
        }
        if (r < 0) {
                val_error(c, v, "expected a duration with a unit: ns, us, ms or s (e.g. '300us')");
                return false;
        }
        return true;
}

static bool read_cpuset(Ctx *c, const Val *v, VrCpuSet **ret) {
        if (!v->value)
                return false;
        if (vr_cpuset_parse(v->value, ret) < 0) {
                val_error(c, v, "expected a CPU list such as '2-3,6'");
                return false;
        }
        return true;
}

static bool read_tristate(Ctx *c, const Val *v, VrTristate *ret) {
        if (!v->value)
                return false;
        if (!g_str_equal(v->value, "yes") && !g_str_equal(v->value, "no")) {
                val_error(c, v, "expected yes or no");
                return false;
        }
        *ret = g_str_equal(v->value, "yes") ? VR_TRI_YES : VR_TRI_NO;
        return true;
}

/* Space- or comma-separated keywords into a flag mask. */
static bool read_flags(Ctx *c, const Val *v, const char *const *table, guint *ret) {
        g_auto(GStrv) words = NULL;
        guint mask = 0;

        if (!v->value)
                return false;
        words = g_strsplit_set(v->value, " ,\t\n", -1);
        for (char **w = words; *w; w++) {
                int i;
                if (!**w)
                        continue;
                i = vr_enum_from_string(table, *w);
                if (i < 0) {
                        g_autofree char *exp = enum_expected(table, 0);
                        val_error(c, v, "'%s' is not known: expected a list of %s", *w, exp);
                        return false;
                }
                mask |= 1u << i;
        }
        if (!mask) {
                g_autofree char *exp = enum_expected(table, 0);
                val_error(c, v, "expected a list of %s", exp);
                return false;
        }
        *ret = mask;
        return true;
}

/* Attributes an element may carry; anything else in no namespace is an error. */
static void check_attrs(Ctx *c, const xmlNode *el, const char *const *allowed) {
        for (xmlAttr *a = el->properties; a; a = a->next) {
                if (a->ns && !g_str_has_prefix((const char *) a->ns->href, VR_NS_PREFIX))
                        continue; /* xml:lang and friends: not ours to judge */
                if (a->ns) {
                        el_error(c, el, "attribute '%s:%s' is namespaced: expected virt-router attributes without a prefix",
                                 a->ns->prefix ? (const char *) a->ns->prefix : "", a->name);
                        continue;
                }
                if (!g_strv_contains(allowed, (const char *) a->name)) {
                        g_autofree char *list = g_strjoinv(", ", (char **) allowed);
                        el_error(c, el, "unknown attribute '%s': expected %s%s", a->name,
                                 allowed[0] ? "one of: " : "no attributes", list);
                }
        }
}

/* ------------------------------------------------------------------------ */
/* Domain facts                                                             */

static char *find_nova_flavor(xmlNode *metadata);

char *vr_domain_nova_flavor(xmlDoc *doc) {
        xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
        return root ? find_nova_flavor(vr_xml_child(root, NULL, "metadata")) : NULL;
}

static char *find_nova_flavor(xmlNode *metadata) {
        for (xmlNode *m = vr_xml_first(metadata); m; m = vr_xml_next(m)) {
                if (!m->ns || !g_str_has_prefix((const char *) m->ns->href, NOVA_NS_PREFIX) ||
                    !xmlStrEqual(m->name, BAD_CAST "instance"))
                        continue;
                for (xmlNode *f = vr_xml_first(m); f; f = vr_xml_next(f))
                        if (xmlStrEqual(f->name, BAD_CAST "flavor") && f->ns &&
                            xmlStrEqual(f->ns->href, m->ns->href))
                                return vr_xml_prop(f, "name");
        }
        return NULL;
}

bool vr_domain_read(xmlDoc *doc, const char *what, VrDomain *ret, GError **error) {
        xmlNode *root = xmlDocGetRootElement(doc);
        g_autofree char *type = NULL, *name = NULL, *vcpu_text = NULL;
        xmlNode *vcpu;
        int64_t n = 1;
        int t;

        if (!vr_xml_is(root, NULL, "domain")) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s:%ld: root element <%s>: expected a libvirt <domain>", what,
                            vr_xml_line(root), root->name);
                return false;
        }
        name = vr_xml_text(vr_xml_child(root, NULL, "name"));
        if (!name || !*name) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s:%ld: <domain> has no <name>: expected the domain's name", what,
                            vr_xml_line(root));
                return false;
        }
        type = vr_xml_prop(root, "type");
        t = vr_enum_from_string(vr_domain_type_names, type);
        if (t < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s:%ld: domain '%s': <domain type='%s'>: expected kvm, qemu or lxc",
                            what, vr_xml_line(root), name, type ? type : "");
                return false;
        }
        vcpu = vr_xml_child(root, NULL, "vcpu");
        vcpu_text = vr_xml_text(vcpu);
        if (vcpu && vr_parse_int(vcpu_text, 1, 4096, &n) < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "%s:%ld: domain '%s': <vcpu>%s</vcpu>: expected a vCPU count 1-4096",
                            what, vr_xml_line(vcpu), name, vcpu_text);
                return false;
        }
        ret->name = g_steal_pointer(&name);
        ret->type = (VrDomainType) t;
        ret->vcpus = (unsigned) n;
        ret->nova_flavor = find_nova_flavor(vr_xml_child(root, NULL, "metadata"));
        return true;
}

/* ------------------------------------------------------------------------ */
/* Policy objects                                                           */

/* ------------------------------------------------------------------------ */
/* Element parsers                                                          */

static void parse_cpu(Ctx *c, VrPolicy *p, const xmlNode *el) {
        static const char *const attrs[] = {"placement", "cpus", "housekeeping", "shares", NULL};
        g_auto(Val) placement = get_val(c, el, "placement", "placement");
        g_auto(Val) cpus = get_val(c, el, "cpus", "cpus");
        g_auto(Val) hk = get_val(c, el, "housekeeping", "housekeeping");
        g_auto(Val) shares = get_val(c, el, "shares", "shares");
        int i;

        if (el)
                check_attrs(c, el, attrs);
        if (read_enum(c, &placement, vr_placement_names, &i))
                p->placement = (VrPlacement) i;
        read_cpuset(c, &cpus, &p->cpus);
        read_cpuset(c, &hk, &p->housekeeping);
        val_copy(&c->placement, &placement);
        val_copy(&c->cpus, &cpus);
        val_copy(&c->housekeeping, &hk);
        /* cpu.shares limits of cgroup v1 (kernel: MIN_SHARES 2, MAX_SHARES 2^18). */
        read_int(c, &shares, 2, 262144, "CFS CPU shares", &p->shares);
}

static void parse_sched(Ctx *c, VrPolicy *p, const xmlNode *el, guint *seen_threads) {
        static const char *const attrs[] = {"threads", "class", "priority", "nice",
                                            "runtime", "deadline", "period", NULL};
        bool from_profile = el == NULL;
        g_auto(Val) threads = get_val(c, el, "threads", from_profile ? "sched-threads" : NULL);
        g_auto(Val) cls = get_val(c, el, "class", from_profile ? "sched-class" : NULL);
        g_auto(Val) prio = get_val(c, el, "priority", from_profile ? "sched-priority" : NULL);
        g_auto(Val) nice = get_val(c, el, "nice", from_profile ? "sched-nice" : NULL);
        g_auto(Val) runtime = get_val(c, el, "runtime", from_profile ? "sched-runtime" : NULL);
        g_auto(Val) deadline = get_val(c, el, "deadline", from_profile ? "sched-deadline" : NULL);
        g_auto(Val) period = get_val(c, el, "period", from_profile ? "sched-period" : NULL);
        g_autofree VrSchedRule *r = g_new0(VrSchedRule, 1);
        const xmlNode *where = el;
        int i;
        bool ok = true;

        if (el)
                check_attrs(c, el, attrs);
        if (!threads.value && from_profile) {
                val_error(c, &cls, "needs sched-threads= in the same profile: expected a list of vcpu, vhost, emulator, iothread, napi");
                ok = false;
        } else if (!threads.value) {
                el_error(c, where, "has no 'threads': expected a list of vcpu, vhost, emulator, iothread, napi");
                ok = false;
        } else if (!read_flags(c, &threads, vr_thread_names, &r->threads)) {
                ok = false;
        }
        if (!cls.value && from_profile) {
                if (threads.value)
                        val_error(c, &threads, "needs sched-class= in the same profile: expected one of: other, batch, idle, fifo, rr, deadline");
                ok = false;
        } else if (!cls.value) {
                el_error(c, where, "has no 'class': expected one of: other, batch, idle, fifo, rr, deadline");
                ok = false;
        } else if (read_enum(c, &cls, vr_sched_class_names, &i)) {
                r->cls = (VrSchedClass) i;
        } else {
                ok = false;
        }
        if (!ok)
                return;
        if (r->threads & *seen_threads) {
                el_error(c, where, "attribute threads='%s': a thread kind may appear in one <vr:sched> only",
                         threads.value);
                return;
        }
        *seen_threads |= r->threads;

        if (prio.value) {
                if (r->cls != VR_SCHED_FIFO && r->cls != VR_SCHED_RR)
                        val_error(c, &prio, "priority applies to class fifo or rr only");
                else
                        read_int(c, &prio, 1, 99, "a real-time priority", &r->priority);
        } else if (r->cls == VR_SCHED_FIFO || r->cls == VR_SCHED_RR) {
                /* Paper 002: vCPU and vhost at equal priority; any value works as long as
                 * they share it, and 10 leaves room above for the host's own RT work. */
                r->priority = 10;
        }
        if (nice.value) {
                if (r->cls != VR_SCHED_OTHER && r->cls != VR_SCHED_BATCH)
                        val_error(c, &nice, "nice applies to class other or batch only");
                else if (read_int(c, &nice, -20, 19, "a nice value", &r->nice))
                        r->has_nice = true;
        }
        if (r->cls != VR_SCHED_DEADLINE) {
                const Val *dl[] = {&runtime, &deadline, &period};
                for (size_t k = 0; k < G_N_ELEMENTS(dl); k++)
                        if (dl[k]->value)
                                val_error(c, dl[k], "applies to class deadline only");
        } else {
                bool have_rt = read_duration(c, &runtime, &r->runtime_ns);
                bool have_p = read_duration(c, &period, &r->period_ns);
                bool have_dl = read_duration(c, &deadline, &r->deadline_ns);

                if (!runtime.value && !period.value) {
                        r->derive = true; /* checked against the guarantee later */
                } else if (!runtime.value || !period.value) {
                        if (from_profile)
                                val_error(c, runtime.value ? &runtime : &period, "class deadline needs both sched-runtime= and sched-period= (or neither, with a guarantee to derive them from)");
                        else
                                el_error(c, where, "class deadline needs both runtime and period (or neither, with a <vr:guarantee> to derive them from)");
                } else if (have_rt && have_p) {
                        if (!have_dl && !deadline.value)
                                r->deadline_ns = r->period_ns;
                        if (r->runtime_ns < DL_MIN_RUNTIME_NS)
                                val_error(c, &runtime, "expected at least 1024ns (the kernel's minimum runtime)");
                        else if (r->period_ns < DL_MIN_PERIOD_NS || r->period_ns > DL_MAX_PERIOD_NS)
                                val_error(c, &period, "expected a period from 100us to 4s (the kernel's sched_deadline_period limits)");
                        else if (deadline.value && !have_dl)
                                ; /* already reported */
                        else if (r->runtime_ns > r->deadline_ns || r->deadline_ns > r->period_ns) {
                                g_autofree char *a = vr_format_duration(r->runtime_ns);
                                g_autofree char *b = vr_format_duration(r->deadline_ns);
                                g_autofree char *d = vr_format_duration(r->period_ns);
                                if (from_profile)
                                        val_error(c, &runtime, "runtime %s, deadline %s, period %s: expected runtime <= deadline <= period",
                                                  a, b, d);
                                else
                                        el_error(c, where, "runtime %s, deadline %s, period %s: expected runtime <= deadline <= period",
                                                 a, b, d);
                        }
                }
        }
        if (from_profile) {
                c->profile_sched = r;
                val_copy(&c->sched_threads, &threads);
                val_copy(&c->sched_class, &cls);
        }
        g_ptr_array_add(p->sched, g_steal_pointer(&r));
}

static bool valid_port_name(const char *s) {
        size_t n = strlen(s);
        if (n < 1 || n > 15)
                return false;
        for (; *s; s++)
                if (!g_ascii_isalnum(*s) && !strchr("_.-", *s))
                        return false;
        return true;
}

static bool valid_mac(const char *s) {
        unsigned b[6];
        char tail;

        if (strlen(s) != 17 ||
            sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &tail) != 6)
                return false;
        for (int i = 0; i < 17; i++)
                if ((i % 3 == 2) != (s[i] == ':') || (i % 3 != 2 && !g_ascii_isxdigit(s[i])))
                        return false;
        return (b[0] & 1) == 0; /* multicast addresses cannot be a NIC's own */
}

static bool valid_pci_addr(const char *s) {
        unsigned d, b, sl, f;
        char tail;
        if (strlen(s) != 12 || sscanf(s, "%4x:%2x:%2x.%1x%c", &d, &b, &sl, &f, &tail) != 4)
                return false;
        for (int i = 0; i < 12; i++)
                if (i != 4 && i != 7 && i != 10 && !g_ascii_isxdigit(s[i]))
                        return false;
        return s[4] == ':' && s[7] == ':' && s[10] == '.' && sl < 32 && f < 8;
}

static bool valid_netdev(const char *s) {
        /* The kernel's dev_valid_name(): 1-15 bytes, no '/', ':' or blanks, not . or .. */
        size_t n = strlen(s);
        if (n < 1 || n > 15 || g_str_equal(s, ".") || g_str_equal(s, ".."))
                return false;
        for (; *s; s++)
                if (*s == '/' || *s == ':' || g_ascii_isspace(*s))
                        return false;
        return true;
}

static void parse_port(Ctx *c, VrPolicy *p, const xmlNode *el) {
        static const char *const attrs[] = {"name", "mode", "dev", "pf", "network", "vf", "vlan",
                                            "mac", "queue", "rx-queue-size", "tx-queue-size",
                                            "queues", "macvtap-mode", "backend", "trust",
                                            "spoofchk", NULL};
        g_auto(Val) name = get_val(c, el, "name", NULL);
        g_auto(Val) mode = get_val(c, el, "mode", NULL);
        g_auto(Val) dev = get_val(c, el, "dev", NULL);
        g_auto(Val) pf = get_val(c, el, "pf", NULL);
        g_auto(Val) network = get_val(c, el, "network", NULL);
        g_auto(Val) vf = get_val(c, el, "vf", NULL);
        g_auto(Val) vlan = get_val(c, el, "vlan", NULL);
        g_auto(Val) mac = get_val(c, el, "mac", NULL);
        g_auto(Val) queue = get_val(c, el, "queue", "queue");
        g_auto(Val) rxq = get_val(c, el, "rx-queue-size", "rx-queue-size");
        g_auto(Val) txq = get_val(c, el, "tx-queue-size", NULL);
        g_auto(Val) queues = get_val(c, el, "queues", NULL);
        g_auto(Val) mmode = get_val(c, el, "macvtap-mode", NULL);
        g_auto(Val) backend = get_val(c, el, "backend", NULL);
        g_auto(Val) trust = get_val(c, el, "trust", NULL);
        g_auto(Val) spoofchk = get_val(c, el, "spoofchk", NULL);
        bool lxc = p->dom.type == VR_DOMAIN_LXC;
        VrPort *port;
        int i;

        check_attrs(c, el, attrs);
        if (!name.value) {
                el_error(c, el, "has no 'name': expected a port name of 1-15 letters, digits, '_', '.' or '-'");
                return;
        }
        if (!valid_port_name(name.value)) {
                val_error(c, &name, "expected a port name of 1-15 letters, digits, '_', '.' or '-'");
                return;
        }
        if (vr_policy_port(p, name.value)) {
                val_error(c, &name, "a port of this name already exists: expected unique port names");
                return;
        }
        if (!mode.value) {
                el_error(c, el, "has no 'mode': expected one of: vf, macvtap, macvlan");
                return;
        }
        if (!read_enum(c, &mode, vr_port_mode_names, &i))
                return;

        port = g_new0(VrPort, 1);
        port->name = g_strdup(name.value);
        g_ptr_array_add(p->ports, port);
        port->mode = (VrPortMode) i;
        port->line = vr_xml_line(el);
        port->trust = port->spoofchk = VR_TRI_UNSET;
        if (lxc && port->mode == VR_PORT_MACVTAP)
                port->mode = VR_PORT_MACVLAN; /* a container's type='direct' is a macvlan */
        if (!lxc && port->mode == VR_PORT_MACVLAN) {
                val_error(c, &mode, "a KVM/QEMU guest gets a macvtap: expected vf or macvtap");
                return;
        }

        if (port->mode == VR_PORT_VF) {
                const Val *not_vf[] = {&dev, &mmode, &backend, &queues, &queue, &txq};
                for (size_t k = 0; k < G_N_ELEMENTS(not_vf); k++)
                        if (not_vf[k]->value && !not_vf[k]->profile_key)
                                val_error(c, not_vf[k], "applies to mode macvtap/macvlan only");
                if (pf.value && !valid_netdev(pf.value))
                        val_error(c, &pf, "expected a network interface name");
                if (vf.value && !valid_pci_addr(vf.value))
                        val_error(c, &vf, "expected a PCI address DDDD:BB:DD.F such as 0000:03:10.1");
                if (network.value && (!*network.value || strpbrk(network.value, "/ \t\n")))
                        val_error(c, &network, "expected a libvirt network name (no '/' or blanks)");
                if (!pf.value && !vf.value && !network.value)
                        el_error(c, el, "mode='vf' needs pf= (the physical function), network= (a libvirt VF pool) or vf= (a VF's PCI address)");
                if (network.value && lxc)
                        val_error(c, &network, "LXC containers cannot use a libvirt VF pool: expected pf= or vf=");
                port->pf = g_strdup(pf.value);
                /* sysfs names PCI devices in lower case, and so do the addresses read from the XML. */
                port->vf = vf.value ? g_ascii_strdown(vf.value, -1) : NULL;
                port->network = g_strdup(network.value);
                if (vlan.value)
                        read_int(c, &vlan, 1, 4094, "a VLAN id", &port->vlan);
                if (lxc && vlan.value)
                        val_error(c, &vlan, "a VF moved into a container cannot be tagged by libvirt: expected no vlan for LXC (set it on the PF)");
                read_tristate(c, &trust, &port->trust);
                read_tristate(c, &spoofchk, &port->spoofchk);
        } else {
                const Val *vf_only[] = {&pf, &network, &vf, &vlan, &trust, &spoofchk};
                for (size_t k = 0; k < G_N_ELEMENTS(vf_only); k++)
                        if (vf_only[k]->value)
                                val_error(c, vf_only[k], "applies to mode vf only%s",
                                          vf_only[k] == &vlan ? " (put the macvtap on a VLAN device instead, e.g. dev='eth0.100')" : "");
                if (!dev.value)
                        el_error(c, el, "mode='%s' needs dev=: the host interface the %s sits on",
                                 vr_port_mode_names[port->mode], vr_port_mode_names[port->mode]);
                else if (!valid_netdev(dev.value))
                        val_error(c, &dev, "expected a network interface name");
                port->dev = g_strdup(dev.value);
                port->queue = c->conf->default_queue;
                read_int(c, &queue, 1, 100000, "a queue length in packets", &port->queue);
                port->queue_given = queue.value != NULL;
                port->macvtap_mode = g_strdup("bridge");
                if (read_enum(c, &mmode, vr_macvtap_mode_names, &i)) {
                        g_free(port->macvtap_mode);
                        port->macvtap_mode = g_strdup(vr_macvtap_mode_names[i]);
                }
        }
        if (mac.value) {
                if (!valid_mac(mac.value))
                        val_error(c, &mac, "expected a unicast MAC address such as 52:54:00:12:34:56");
                else
                        port->mac = g_ascii_strdown(mac.value, -1);
        }

        if (lxc) {
                const Val *kvm_only[] = {&rxq, &txq, &queues, &backend};
                for (size_t k = 0; k < G_N_ELEMENTS(kvm_only); k++)
                        if (kvm_only[k]->value && !kvm_only[k]->profile_key)
                                val_error(c, kvm_only[k], "applies to KVM/QEMU guests only (a container has no virtio queue)");
                return;
        }
        port->queues = 1;
        if (port->mode == VR_PORT_MACVTAP) {
                read_int(c, &queues, 1, 16, "a number of virtio queue pairs", &port->queues);
                if (read_enum(c, &backend, vr_backend_names, &i)) {
                        if (i == VR_BACKEND_DEFAULT)
                                val_error(c, &backend, "expected vhost or qemu");
                        else
                                port->backend = (VrBackend) i;
                }
                /* Larger virtio rings absorb the bursts a descheduled vCPU causes; QEMU caps
                 * rx_queue_size at 1024. */
                port->rx_queue_size = 1024;
                port->ring_given = rxq.value != NULL;
                if (read_int(c, &rxq, 256, 1024, "a virtio ring size, a power of two", &port->rx_queue_size) &&
                    (port->rx_queue_size & (port->rx_queue_size - 1)))
                        val_error(c, &rxq, "expected a power of two: 256, 512 or 1024");
                if (txq.value) {
                        int64_t n;
                        if (vr_parse_int(txq.value, 1, 1024, &n) < 0 || n != 256)
                                val_error(c, &txq, "expected 256: QEMU accepts a larger tx ring only for vhost-user and vDPA backends, and a smaller one not at all");
                        else
                                port->tx_queue_size = 256;
                }
        } else if (rxq.value && !rxq.profile_key) {
                val_error(c, &rxq, "applies to mode macvtap only (a VF's rings are set in the guest driver)");
        }
}

static void parse_guarantee(Ctx *c, VrPolicy *p, const xmlNode *el) {
        static const char *const attrs[] = {"rate", "burst", "delay", "bandwidth", NULL};
        g_auto(Val) rate = get_val(c, el, "rate", "rate");
        g_auto(Val) burst = get_val(c, el, "burst", "burst");
        g_auto(Val) delay = get_val(c, el, "delay", "delay");
        g_auto(Val) bw = get_val(c, el, "bandwidth", "bandwidth");
        VrGuarantee *g = &p->guarantee;
        guint errors_before = c->errors->len;
        bool ok = true;
        uint64_t v;
        int n, r;

        if (el)
                check_attrs(c, el, attrs);
        if (!el && !rate.value && !delay.value && !burst.value && !bw.value)
                return; /* the profile promises nothing either */
        if (!el && (!rate.value || !delay.value)) {
                /* A profile with half a guarantee: say so against the profile. */
                const Val *given = rate.value ? &rate : delay.value ? &delay : burst.value ? &burst : &bw;
                val_error(c, given, "a guarantee needs both rate= and delay= in the profile");
                return;
        }
        g->set = true;
        val_copy(&c->g_rate, &rate);
        val_copy(&c->g_delay, &delay);
        val_copy(&c->g_burst, &burst);
        if (!rate.value) {
                el_error(c, el, "has no 'rate': expected a packet rate such as '800kpps'");
                ok = false;
        } else if ((r = vr_parse_pkt_rate(rate.value, &v)) == -EINVAL) {
                val_error(c, &rate, "expected a packet rate above zero with a unit: pps, kpps or Mpps (e.g. '800kpps')");
                ok = false;
        } else if (r < 0 || v == 0 || v > GUARANTEE_MAX_PPS) {
                val_error(c, &rate, "out of range: expected 1pps to %llupps (tc police pkts_rate)", GUARANTEE_MAX_PPS);
                ok = false;
        } else {
                g->rate_pps = v;
        }
        if (!delay.value) {
                el_error(c, el, "has no 'delay': expected a delay bound such as '2ms'");
                ok = false;
        } else if (!read_duration(c, &delay, &g->delay_ns)) {
                ok = false;
        } else if (g->delay_ns == 0) {
                val_error(c, &delay, "expected a delay bound above zero");
                ok = false;
        }
        if (read_int(c, &burst, 1, 1000000, "a burst in packets", &n))
                g->burst = (uint64_t) n;
        else if (burst.value)
                ok = false;
        if (bw.value && (r = vr_parse_bit_rate(bw.value, &v)) == -EINVAL)
                val_error(c, &bw, "expected a bit rate above zero such as '100Mbit/s' or '1Gbit/s'");
        else if (bw.value && (r < 0 || v == 0 || v > GUARANTEE_MAX_BPS))
                val_error(c, &bw, "out of range: expected 1bit/s to %llubit/s", GUARANTEE_MAX_BPS);
        else if (bw.value)
                g->bandwidth_bps = v;
        c->g_errors = c->errors->len - errors_before;
        c->g_readable = ok;
}

static bool parse_ip(const char *s, int *family, guint8 bytes[16]) {
        if (inet_pton(AF_INET, s, bytes) == 1) {
                *family = 4;
                return true;
        }
        if (inet_pton(AF_INET6, s, bytes) == 1) {
                *family = 6;
                return true;
        }
        return false;
}

/* "ADDR/PREFIX" */
static bool parse_cidr(const char *s, char **ret_addr, int *family, int *prefix, guint8 bytes[16]) {
        g_auto(GStrv) parts = g_strsplit(s, "/", 3);
        int64_t n;

        if (!parts[0] || !parts[1] || parts[2] || !parse_ip(parts[0], family, bytes))
                return false;
        if (vr_parse_int(parts[1], 0, *family == 4 ? 32 : 128, &n) < 0 || parts[1][0] == '+' ||
            parts[1][0] == '-')
                return false;
        *prefix = (int) n;
        *ret_addr = g_strdup(parts[0]);
        return true;
}

/* A hash key of an address (prefix < 0) or of the network of a prefix. */
static GBytes *address_key(int family, int prefix, const guint8 bytes[16]) {
        guint8 k[18] = {(guint8) family, (guint8) (prefix < 0 ? 255 : prefix)};

        memcpy(k + 2, bytes, 16);
        if (prefix >= 0) {
                for (int bit = prefix; bit < 128; bit++)
                        k[2 + bit / 8] &= (guint8) ~(0x80 >> (bit % 8));
        }
        return g_bytes_new(k, sizeof(k));
}

/* The first address (in document order) whose subnet holds a next hop: one lookup per
 * prefix length in use instead of a scan of the addresses for every route. */
static const VrAddress *address_holding(Ctx *c, const VrPolicy *p, int family, const guint8 via[16]) {
        guint best = 0;

        if (!c->subnets) {
                c->subnets = g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
                for (guint i = p->addresses->len; i-- > 0;) { /* backwards: the first one stays */
                        const VrAddress *a = p->addresses->pdata[i];
                        g_hash_table_replace(c->subnets, address_key(a->family, a->prefix, a->bytes),
                                             GUINT_TO_POINTER(i + 1));
                        c->prefix_used[a->family == 6][a->prefix] = true;
                }
        }
        for (int len = 0; len <= (family == 6 ? 128 : 32); len++) {
                g_autoptr(GBytes) key = NULL;
                guint at;
                if (!c->prefix_used[family == 6][len])
                        continue;
                key = address_key(family, len, via);
                at = GPOINTER_TO_UINT(g_hash_table_lookup(c->subnets, key));
                if (at && (!best || at < best))
                        best = at;
        }
        return best ? p->addresses->pdata[best - 1] : NULL;
}

static void parse_address(Ctx *c, VrPolicy *p, const xmlNode *el) {
        static const char *const attrs[] = {"port", "ip", NULL};
        g_auto(Val) port = get_val(c, el, "port", NULL);
        g_auto(Val) ip = get_val(c, el, "ip", NULL);
        g_autofree VrAddress *a = g_new0(VrAddress, 1);
        g_autoptr(GBytes) key = NULL;
        const VrAddress *o;

        check_attrs(c, el, attrs);
        if (!port.value || !ip.value) {
                el_error(c, el, "needs port= (a <vr:port> name) and ip= (an address with prefix, e.g. 192.0.2.1/24)");
                return;
        }
        if (!vr_policy_port(p, port.value)) {
                val_error(c, &port, "no <vr:port> of this name: expected one of this router's ports");
                return;
        }
        if (!parse_cidr(ip.value, &a->addr, &a->family, &a->prefix, a->bytes)) {
                val_error(c, &ip, "expected an IPv4 or IPv6 address with prefix length, e.g. 192.0.2.1/24 or 2001:db8::1/64");
                return;
        }
        key = address_key(a->family, -1, a->bytes);
        if ((o = g_hash_table_lookup(c->addr_seen, key))) {
                val_error(c, &ip, "this address is already given to port '%s': expected each address once", o->port);
                g_free(a->addr);
                return;
        }
        a->port = g_strdup(port.value);
        a->ip = g_strdup(ip.value);
        g_hash_table_insert(c->addr_seen, g_steal_pointer(&key), a);
        g_ptr_array_add(p->addresses, g_steal_pointer(&a));
}

static void parse_route(Ctx *c, VrPolicy *p, const xmlNode *el) {
        static const char *const attrs[] = {"to", "via", NULL};
        g_auto(Val) to = get_val(c, el, "to", NULL);
        g_auto(Val) via = get_val(c, el, "via", NULL);
        guint8 to_bytes[16] = {0}, via_bytes[16] = {0};
        int via_family = 0;
        g_autofree char *to_addr = NULL;
        int to_family = 0, to_prefix = 0;
        const VrAddress *a;
        VrRoute *r;

        check_attrs(c, el, attrs);
        if (!to.value || !via.value) {
                el_error(c, el, "needs to= (a prefix or 'default') and via= (the next hop's address)");
                return;
        }
        if (!parse_ip(via.value, &via_family, via_bytes)) {
                val_error(c, &via, "expected an IPv4 or IPv6 address");
                return;
        }
        if (g_str_equal(to.value, "default")) {
                to_family = via_family;
                to_addr = g_strdup(via_family == 4 ? "0.0.0.0" : "::");
        } else if (!parse_cidr(to.value, &to_addr, &to_family, &to_prefix, to_bytes)) {
                val_error(c, &to, "expected a prefix such as 198.51.100.0/24, or 'default'");
                return;
        }
        if (to_family != via_family) {
                el_error(c, el, "to='%s' and via='%s' are of different IP versions: expected both IPv4 or both IPv6",
                         to.value, via.value);
                return;
        }
        r = g_new0(VrRoute, 1);
        r->to = g_strdup(to.value);
        r->to_addr = g_steal_pointer(&to_addr);
        r->to_prefix = to_prefix;
        r->family = to_family;
        r->via = g_strdup(via.value);
        if ((a = address_holding(c, p, via_family, via_bytes)))
                r->port = g_strdup(a->port);
        g_ptr_array_add(p->routes, r);
        if (!r->port)
                val_error(c, &via, "no <vr:address> of this router has a subnet holding this next hop: expected an address on a directly connected network");
}

static void parse_strip(Ctx *c, VrPolicy *p, const xmlNode *el) {
        static const char *const attrs[] = {"devices", NULL};
        g_auto(Val) devices = get_val(c, el, "devices", "strip");

        if (el)
                check_attrs(c, el, attrs);
        if (el && !devices.value) {
                g_autofree char *exp = enum_expected(vr_strip_names, 0);
                el_error(c, el, "has no 'devices': expected a list of %s", exp);
                return;
        }
        read_flags(c, &devices, vr_strip_names, &p->strip);
}

/* ------------------------------------------------------------------------ */
/* Whole policy                                                             */

/* The value of a pair that came from the host config, for a message about both; NULL
 * when both are the domain's own. */
static const Val *conf_val(const Val *a, const Val *b) {
        return val_from_conf(a) ? a : val_from_conf(b) ? b : NULL;
}

static void check_cpus(Ctx *c, VrPolicy *p, const xmlNode *cpu_el) {
        const VrCpuSet *pool = c->conf->router_cpus;
        const Val *src;

        if (!p->cpus && pool) {
                p->cpus = vr_cpuset_copy(pool);
                p->cpus_from_pool = true;
                val_clear(&c->cpus);
                c->cpus = (Val){vr_cpuset_format(pool), NULL, "cpus", NULL, "router-cpus"};
        }
        if (!p->housekeeping && c->conf->housekeeping_cpus) {
                p->housekeeping = vr_cpuset_copy(c->conf->housekeeping_cpus);
                val_clear(&c->housekeeping);
                c->housekeeping = (Val){vr_cpuset_format(c->conf->housekeeping_cpus), NULL, "housekeeping", NULL,
                                        "housekeeping-cpus"};
        }

        if (p->cpus && pool && !vr_cpuset_is_subset(p->cpus, pool)) {
                g_autofree char *a = vr_cpuset_format(p->cpus);
                g_autofree char *b = vr_cpuset_format(pool);
                if (val_from_conf(&c->cpus))
                        val_error(c, &c->cpus, "reaches outside the router pool: expected CPUs within router-cpus=%s of %s",
                                  b, conf_path(c));
                else
                        el_error(c, cpu_el, "cpus '%s' reach outside the router pool: expected CPUs within router-cpus=%s of %s",
                                 a, b, c->conf->path ? c->conf->path : "the host config");
        }
        if (p->placement == VR_PLACEMENT_DEDICATED) {
                if (!p->cpus) {
                        if (val_from_conf(&c->placement))
                                val_error(c, &c->placement, "needs cpus= (in the domain or the profile) or router-cpus= in [host]: expected the CPUs to dedicate");
                        else
                                el_error(c, cpu_el, "placement='dedicated' needs cpus= or router-cpus= in the host config: expected the CPUs to dedicate");
                } else if (vr_cpuset_count(p->cpus) < p->dom.vcpus) {
                        g_autofree char *a = vr_cpuset_format(p->cpus);
                        unsigned n = vr_cpuset_count(p->cpus);
                        /* cpus from [host] and placement from a profile: both named. */
                        bool both = val_from_conf(&c->cpus) && c->placement.profile_key;
                        if ((src = conf_val(&c->cpus, &c->placement)))
                                val_error(c, src, "placement='dedicated'%s%s%s with cpus '%s' (%u CPU%s) for %u vCPUs: expected at least one CPU per vCPU",
                                          both ? " (from [profile " : "", both ? c->profile->name : "", both ? "])" : "",
                                          a, n, n == 1 ? "" : "s", p->dom.vcpus);
                        else
                                el_error(c, cpu_el, "placement='dedicated' with cpus '%s' (%u CPU%s) for %u vCPUs: expected at least one CPU per vCPU",
                                         a, n, n == 1 ? "" : "s", p->dom.vcpus);
                }
                if (p->cpus && p->housekeeping && vr_cpuset_intersects(p->cpus, p->housekeeping)) {
                        g_autofree char *a = vr_cpuset_format(p->cpus);
                        g_autofree char *b = vr_cpuset_format(p->housekeeping);
                        if ((src = conf_val(&c->cpus, &c->housekeeping)) ||
                            (src = val_from_conf(&c->placement) ? &c->placement : NULL))
                                val_error(c, src, "dedicated cpus '%s' overlap housekeeping '%s': expected disjoint CPU lists",
                                          a, b);
                        else
                                el_error(c, cpu_el, "dedicated cpus '%s' overlap housekeeping '%s': expected disjoint CPU lists",
                                         a, b);
                }
        }
}

static void check_sched(Ctx *c, VrPolicy *p, const xmlNode *where) {
        for (guint i = 0; i < p->sched->len; i++) {
                VrSchedRule *r = p->sched->pdata[i];
                /* The profile's rule is reported against its keys, the domain's against
                 * the router element. */
                bool prof = r == c->profile_sched;
                if (r->cls == VR_SCHED_DEADLINE && r->derive && !p->guarantee.set) {
                        if (prof)
                                val_error(c, &c->sched_class, "has no sched-runtime= and sched-period= and the router has no guarantee: expected both, or rate= and delay= (or a <vr:guarantee>) to derive them from");
                        else
                                el_error(c, where, "a <vr:sched class='deadline'> has no runtime and period and the router has no <vr:guarantee>: expected runtime= and period=, or a guarantee to derive them from");
                }
                if ((r->threads & VR_THREAD_NAPI) && p->dom.type != VR_DOMAIN_LXC) {
                        if (prof)
                                val_error(c, &c->sched_threads, "threads 'napi' are the host kernel's NAPI threads of an LXC router: expected vcpu, vhost, emulator or iothread for a %s domain",
                                          vr_domain_type_names[p->dom.type]);
                        else
                                el_error(c, where, "threads 'napi' are the host kernel's NAPI threads of an LXC router: expected vcpu, vhost, emulator or iothread for a %s domain",
                                         vr_domain_type_names[p->dom.type]);
                }
                if ((r->threads & (VR_THREAD_VCPU | VR_THREAD_VHOST | VR_THREAD_IOTHREAD)) &&
                    p->dom.type == VR_DOMAIN_LXC) {
                        if (prof)
                                val_error(c, &c->sched_threads, "a container has no vCPU, vhost or iothreads: expected 'emulator' or 'napi'");
                        else
                                el_error(c, where, "a container has no vCPU, vhost or iothreads: expected threads 'emulator' (the container's processes) or 'napi'");
                }
        }
}

static void check_deadline_total(Ctx *c, VrPolicy *p, const xmlNode *where);

/* Where a problem's value came from: the element's attribute or the profile's key. */
static const Val *guarantee_val(Ctx *c, const char *attr) {
        return g_str_equal(attr, "rate") ? &c->g_rate : g_str_equal(attr, "burst") ? &c->g_burst : &c->g_delay;
}

/* A guarantee that cannot be kept is an error here, where the element is known, one
 * line for each value the derivation refuses, against the attribute or profile key it
 * came from; one that can sizes the queues the policy leaves open and the token buckets. */
static void check_guarantee(Ctx *c, VrPolicy *p, const xmlNode *where) {
        g_autoptr(GPtrArray) problems = g_ptr_array_new_with_free_func((GDestroyNotify) vr_guarantee_problem_free);
        VrGuaranteePlan gp;

        /* Errors elsewhere may leave out what the derivation counts (a port, a rule). */
        if (!p->guarantee.set || !c->g_readable || c->errors->len > c->g_errors)
                return;
        if (p->dom.type == VR_DOMAIN_LXC) {
                /* A container's packets are forwarded by the host kernel: only the
                 * reservations of its NAPI threads, given explicitly, apply. */
                p->guarantee.police_burst = p->guarantee.shape_burst = p->guarantee.burst ? p->guarantee.burst : 32;
                return;
        }
        if (!vr_guarantee_plan_check(p, c->conf, &gp, problems)) {
                for (guint i = 0; i < problems->len; i++) {
                        const VrGuaranteeProblem *pr = problems->pdata[i];
                        val_error(c, guarantee_val(c, pr->attr), "%s", pr->message);
                }
                return;
        }
        p->guarantee.police_burst = gp.police_burst;
        p->guarantee.shape_burst = gp.shape_burst;
        for (guint i = 0; i < p->ports->len; i++) {
                VrPort *port = p->ports->pdata[i];
                if (port->mode != VR_PORT_MACVTAP && port->mode != VR_PORT_MACVLAN)
                        continue;
                if (!port->queue_given)
                        port->queue = (int) MIN(gp.host_queue, 100000);
                if (!port->ring_given && port->rx_queue_size)
                        port->rx_queue_size = gp.guest_ring;
        }
}

/* Refuse a policy with more ports, addresses or routes than VR_MAX_* (vr-policy.h) before
 * reading any of them: nothing is parsed, planned or written for it. */
static bool check_counts(Ctx *c, xmlNode *router) {
        static const struct {
                const char *name;
                guint max;
        } limits[] = {{"port", VR_MAX_PORTS}, {"address", VR_MAX_ADDRESSES}, {"route", VR_MAX_ROUTES}};
        guint count[G_N_ELEMENTS(limits)] = {0};
        bool ok = true;

        for (xmlNode *n = vr_xml_first(router); n; n = vr_xml_next(n))
                for (size_t i = 0; i < G_N_ELEMENTS(limits); i++)
                        if (vr_xml_is(n, VR_NS, limits[i].name))
                                count[i]++;
        for (size_t i = 0; i < G_N_ELEMENTS(limits); i++) {
                if (count[i] <= limits[i].max)
                        continue;
                el_error(c, router, "has %u <vr:%s> elements: expected at most %u (see virt-router.xml(5), LIMITS)",
                         count[i], limits[i].name, limits[i].max);
                ok = false;
        }
        return ok;
}

static void parse_router(Ctx *c, VrPolicy *p, xmlNode *router) {
        static const char *const attrs[] = {"profile", "mode", NULL};
        static const char *const once[] = {"cpu", "guarantee", "strip", NULL};
        g_auto(Val) profile = get_val(c, router, "profile", NULL);
        g_auto(Val) mode = get_val(c, router, "mode", NULL);
        xmlNode *cpu_el = NULL, *guarantee_el = NULL, *strip_el = NULL;
        guint seen_threads = 0;
        int i;

        check_attrs(c, router, attrs);
        p->mode = c->conf->mode;
        if (read_enum(c, &mode, (const char *const[]){"strict", "best-effort", NULL}, &i))
                p->mode = (VrMode) i;
        if (profile.value) {
                c->profile = vr_host_conf_profile(c->conf, profile.value);
                if (!c->profile) {
                        g_autofree char *names = NULL;
                        g_autofree const char **keys = (const char **) g_hash_table_get_keys_as_array(c->conf->profiles, NULL);
                        names = g_strjoinv(", ", (char **) keys);
                        val_error(c, &profile, "no [profile %s] in %s: expected one of: %s",
                                  profile.value, c->conf->path ? c->conf->path : "the host config (none read)",
                                  *names ? names : "(no profiles defined)");
                } else {
                        p->profile = g_strdup(profile.value);
                }
        }

        if (!check_counts(c, router))
                return;
        /* First pass: single elements and ports, since addresses and routes refer to ports. */
        for (xmlNode *n = router->children; n; n = n->next) {
                const char *name;
                if (n->type != XML_ELEMENT_NODE)
                        continue;
                name = (const char *) n->name;
                if (!n->ns || !xmlStrEqual(n->ns->href, BAD_CAST VR_NS)) {
                        el_error(c, n, "is not in namespace %s: expected only virt-router elements inside <vr:router>", VR_NS);
                        continue;
                }
                if (g_strv_contains(once, name)) {
                        xmlNode **slot = g_str_equal(name, "cpu") ? &cpu_el
                                       : g_str_equal(name, "guarantee") ? &guarantee_el : &strip_el;
                        if (*slot)
                                el_error(c, n, "appears twice (first at line %ld): expected at most one", vr_xml_line(*slot));
                        else
                                *slot = n;
                } else if (g_str_equal(name, "port")) {
                        parse_port(c, p, n);
                } else if (!g_str_equal(name, "sched") && !g_str_equal(name, "address") &&
                           !g_str_equal(name, "route")) {
                        el_error(c, n, "is not a virt-router element: expected cpu, sched, port, guarantee, address, route or strip");
                }
                if (vr_xml_first(n))
                        el_error(c, vr_xml_first(n), "inside <%s:%s>: expected an empty element",
                                 n->ns->prefix ? (const char *) n->ns->prefix : "vr", name);
        }
        parse_cpu(c, p, cpu_el);
        parse_guarantee(c, p, guarantee_el);
        parse_strip(c, p, strip_el);
        for (xmlNode *n = vr_xml_first(router); n; n = vr_xml_next(n)) {
                if (!n->ns || !xmlStrEqual(n->ns->href, BAD_CAST VR_NS))
                        continue;
                if (xmlStrEqual(n->name, BAD_CAST "sched"))
                        parse_sched(c, p, n, &seen_threads);
                else if (xmlStrEqual(n->name, BAD_CAST "address"))
                        parse_address(c, p, n);
        }
        for (xmlNode *n = vr_xml_first(router); n; n = vr_xml_next(n))
                if (vr_xml_is(n, VR_NS, "route"))
                        parse_route(c, p, n);
        /* A profile's sched rule applies when the domain gives none of its own. */
        if (p->sched->len == 0 && c->profile && (vr_profile_get(c->profile, "sched-class") ||
                                                  vr_profile_get(c->profile, "sched-threads")))
                parse_sched(c, p, NULL, &seen_threads);
        check_cpus(c, p, cpu_el ? cpu_el : router);
        check_sched(c, p, router);
        check_guarantee(c, p, guarantee_el);
        check_deadline_total(c, p, router);
}

/* The router's deadline reservations together, derived and explicit, against the cap
 * on the CPUs it is pinned to: what the hook's admission holds at virsh start (the
 * total spread evenly over <vr:cpu cpus>, vr_deadline_demand), were the router alone
 * there. Each thread may fit and the sum not (two TCG threads at 55% and 76% on CPU 1):
 * check and apply say so now, not the hook at start. A container's NAPI threads are not
 * counted (nor by the hook). */
static void check_deadline_total(Ctx *c, VrPolicy *p, const xmlNode *where) {
        g_autoptr(GHashTable) demand = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        g_autofree char *why = NULL, *list = NULL, *from = NULL;
        uint64_t total = 0, cap;
        bool derived_only = true;
        unsigned n;

        if (!p->cpus || c->errors->len || p->dom.type == VR_DOMAIN_LXC)
                return;
        if (!vr_deadline_demand(p, c->conf, demand, &total, &why, NULL))
                return;
        n = vr_cpuset_count(p->cpus);
        cap = (uint64_t) c->conf->deadline_cap_ppm * n;
        if (!total || total <= cap)
                return;
        for (guint i = 0; i < p->sched->len; i++) {
                const VrSchedRule *r = p->sched->pdata[i];
                if (r->cls == VR_SCHED_DEADLINE && !r->derive)
                        derived_only = false;
        }
        list = vr_cpuset_format(p->cpus);
        from = c->conf->path ? g_strdup_printf(" of %s", c->conf->path) : g_strdup(" (built in)");
#define TOTAL_FMT "the router's deadline reservations together need %.1f%% of a CPU on CPU%s %s (%s), more than the %.1f%% routers may hold there ([host] deadline-cap%s: %.1f%% x %u CPU%s): %s"
#define TOTAL_ARGS total / 1e4, n > 1 ? "s" : "", list, why, cap / 1e4, from, c->conf->deadline_cap_ppm / 1e4, n, \
                   n > 1 ? "s" : ""
        if (derived_only && p->guarantee.set)
                val_error(c, &c->g_rate, TOTAL_FMT, TOTAL_ARGS, "expected a lower rate, or more CPUs in <vr:cpu cpus>");
        else
                el_error(c, where, TOTAL_FMT, TOTAL_ARGS, "expected shorter runtimes or a lower rate, or more CPUs in <vr:cpu cpus>");
#undef TOTAL_FMT
#undef TOTAL_ARGS
}

/* Every element in a virt-router namespace anywhere in <metadata>; complain about
 * versions we do not speak. */
static xmlNode *find_router(Ctx *c, xmlNode *metadata) {
        xmlNode *found = NULL;

        for (xmlNode *m = vr_xml_first(metadata); m; m = vr_xml_next(m)) {
                const char *href = m->ns ? (const char *) m->ns->href : NULL;
                if (!href || !g_str_has_prefix(href, VR_NS_PREFIX))
                        continue;
                if (!g_str_equal(href, VR_NS)) {
                        el_error(c, m, "is in namespace '%s': expected %s (this virt-router speaks version 1 of its metadata)",
                                 href, VR_NS);
                        continue;
                }
                if (!xmlStrEqual(m->name, BAD_CAST "router")) {
                        el_error(c, m, "is not a virt-router metadata root: expected <vr:router xmlns:vr='%s'>", VR_NS);
                        continue;
                }
                if (found) {
                        el_error(c, m, "is a second router policy (first at line %ld): expected one <vr:router>",
                                 vr_xml_line(found));
                        continue;
                }
                found = m;
        }
        return found;
}

/* Whether a domain of this type can be a router here: a host config rule binds only
 * domains of the drivers whose hooks run virt-router (QEMU/KVM and LXC). */
static bool supported_type(xmlNode *root) {
        g_autofree char *type = vr_xml_prop(root, "type");
        return vr_enum_from_string(vr_domain_type_names, type) >= 0;
}

int vr_policy_parse(xmlDoc *doc, const char *what, const VrHostConf *conf, VrPolicy **ret,
                    GError **error) {
        g_autoptr(VrPolicy) p = vr_policy_new();
        g_autoptr(GPtrArray) errors = g_ptr_array_new_with_free_func(ctx_error_free);
        g_autofree char *name = NULL, *flavor = NULL;
        xmlNode *root = xmlDocGetRootElement(doc), *router = NULL;
        g_auto(Ctx) c = {.what = what, .conf = conf, .errors = errors,
                         .addr_seen = g_hash_table_new_full(g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL)};
        const VrRule *rule = NULL;

        *ret = NULL;
        if (!vr_xml_is(root, NULL, "domain"))
                return vr_domain_read(doc, what, &p->dom, error) ? 0 : -1; /* says what the root is */
        /* A domain without router policy is none of virt-router's business, whatever
         * its type or shape: it is only looked at closely once it has a policy. */
        name = vr_xml_text(vr_xml_child(root, NULL, "name"));
        c.dom = name && *name ? name : "?";
        router = find_router(&c, vr_xml_child(root, NULL, "metadata"));
        if (!router && !errors->len) {
                flavor = find_nova_flavor(vr_xml_child(root, NULL, "metadata"));
                rule = supported_type(root) ? vr_host_conf_match_rule(conf, name, flavor) : NULL;
                if (!rule)
                        return 0;
        }
        if (!vr_domain_read(doc, what, &p->dom, error))
                return -1;
        c.dom = p->dom.name;
        if (router) {
                parse_router(&c, p, router);
        } else if (rule) {
                /* A rule-bound domain gets the profile's CPU and scheduling policy; its
                 * devices are Nova's (or the user's) and are left alone. */
                p->rule = g_strdup(rule->name);
                p->profile = g_strdup(rule->profile);
                p->mode = conf->mode;
                c.rule = rule;
                c.profile = vr_host_conf_profile(conf, rule->profile);
                parse_cpu(&c, p, NULL);
                parse_guarantee(&c, p, NULL);
                parse_strip(&c, p, NULL);
                if (vr_profile_get(c.profile, "sched-class") || vr_profile_get(c.profile, "sched-threads")) {
                        guint seen = 0;
                        parse_sched(&c, p, NULL, &seen);
                }
                check_cpus(&c, p, NULL);
                check_sched(&c, p, NULL);
                check_guarantee(&c, p, NULL);
                check_deadline_total(&c, p, NULL);
        }
        if (errors->len) {
                g_autofree char *msg = ctx_errors_join(errors);
                g_set_error_literal(error, VR_ERROR, VR_ERROR_INVALID, msg);
                return -1;
        }
        *ret = g_steal_pointer(&p);
        return 1;
}
