#include "config.h"

#include <string.h>

#include "vr-error.h"
#include "vr-json.h"
#include "vr-policy.h"

/* The policy model: keyword tables, objects, and the JSON form the tuner reads (no
 * libxml2 here: the tuner links this without it). The XML parser is vr-policy-xml.c. */

const char *const vr_domain_type_names[] = {"kvm", "qemu", "lxc", NULL};
const char *const vr_placement_names[] = {"shared", "dedicated", NULL};
const char *const vr_thread_names[] = {"vcpu", "vhost", "emulator", "iothread", "napi", NULL};
const char *const vr_sched_class_names[] = {"other", "batch", "idle", "fifo", "rr", "deadline", NULL};
const char *const vr_port_mode_names[] = {"vf", "macvtap", "macvlan", NULL};
const char *const vr_backend_names[] = {"default", "vhost", "qemu", NULL};
const char *const vr_macvtap_mode_names[] = {"bridge", "vepa", "private", "passthrough", NULL};
const char *const vr_strip_names[] = {"sound", "graphics", "video", "input", "usb",
                                      "memballoon", "redirdev", "watchdog", "smartcard", NULL};

int vr_enum_from_string(const char *const *table, const char *s) {
        for (int i = 0; s && table[i]; i++)
                if (g_str_equal(table[i], s))
                        return i;
        return -1;
}

void vr_domain_clear(VrDomain *d) {
        g_clear_pointer(&d->name, g_free);
        g_clear_pointer(&d->nova_flavor, g_free);
}

static void port_free(gpointer p) {
        VrPort *port = p;
        g_free(port->name);
        g_free(port->dev);
        g_free(port->pf);
        g_free(port->network);
        g_free(port->vf);
        g_free(port->mac);
        g_free(port->macvtap_mode);
        g_free(port);
}

static void address_free(gpointer p) {
        VrAddress *a = p;
        g_free(a->port);
        g_free(a->ip);
        g_free(a->addr);
        g_free(a);
}

static void route_free(gpointer p) {
        VrRoute *r = p;
        g_free(r->to);
        g_free(r->to_addr);
        g_free(r->via);
        g_free(r->port);
        g_free(r);
}

void vr_policy_free(VrPolicy *p) {
        if (!p)
                return;
        vr_domain_clear(&p->dom);
        g_free(p->profile);
        g_free(p->rule);
        vr_cpuset_free(p->cpus);
        vr_cpuset_free(p->housekeeping);
        g_ptr_array_unref(p->sched);
        g_ptr_array_unref(p->ports);
        g_ptr_array_unref(p->addresses);
        g_ptr_array_unref(p->routes);
        g_free(p);
}

VrPolicy *vr_policy_new(void) {
        VrPolicy *p = g_new0(VrPolicy, 1);
        p->sched = g_ptr_array_new_with_free_func(g_free);
        p->ports = g_ptr_array_new_with_free_func(port_free);
        p->addresses = g_ptr_array_new_with_free_func(address_free);
        p->routes = g_ptr_array_new_with_free_func(route_free);
        return p;
}

const VrPort *vr_policy_port(const VrPolicy *p, const char *name) {
        for (guint i = 0; i < p->ports->len; i++) {
                const VrPort *port = p->ports->pdata[i];
                if (g_str_equal(port->name, name))
                        return port;
        }
        return NULL;
}

/* ------------------------------------------------------------------------ */
/* JSON view                                                                */


static void json_cpuset(VrJson *j, const char *key, const VrCpuSet *s) {
        g_autofree char *f = s ? vr_cpuset_format(s) : NULL;
        vr_json_key(j, key);
        vr_json_string(j, f);
}

static void json_flags(VrJson *j, const char *key, guint mask, const char *const *names) {
        vr_json_key(j, key);
        vr_json_begin_array(j);
        for (int i = 0; names[i]; i++)
                if (mask & (1u << i))
                        vr_json_string(j, names[i]);
        vr_json_end_array(j);
}

char *vr_policy_to_json(const VrPolicy *p) {
        g_autoptr(VrJson) j = vr_json_new();

        vr_json_begin_object(j);
        vr_json_key(j, "domain");
        vr_json_string(j, p->dom.name);
        vr_json_key(j, "type");
        vr_json_string(j, vr_domain_type_names[p->dom.type]);
        vr_json_key(j, "vcpus");
        vr_json_uint(j, p->dom.vcpus);
        vr_json_key(j, "profile");
        vr_json_string(j, p->profile);
        vr_json_key(j, "rule");
        vr_json_string(j, p->rule);
        vr_json_key(j, "mode");
        vr_json_string(j, vr_mode_to_string(p->mode));
        vr_json_key(j, "cpu");
        vr_json_begin_object(j);
        vr_json_key(j, "placement");
        vr_json_string(j, vr_placement_names[p->placement]);
        json_cpuset(j, "cpus", p->cpus);
        json_cpuset(j, "housekeeping", p->housekeeping);
        vr_json_key(j, "shares");
        vr_json_int(j, p->shares);
        vr_json_end_object(j);
        vr_json_key(j, "sched");
        vr_json_begin_array(j);
        for (guint i = 0; i < p->sched->len; i++) {
                const VrSchedRule *r = p->sched->pdata[i];
                vr_json_begin_object(j);
                json_flags(j, "threads", r->threads, vr_thread_names);
                vr_json_key(j, "class");
                vr_json_string(j, vr_sched_class_names[r->cls]);
                if (r->cls == VR_SCHED_FIFO || r->cls == VR_SCHED_RR) {
                        vr_json_key(j, "priority");
                        vr_json_int(j, r->priority);
                }
                if (r->has_nice) {
                        vr_json_key(j, "nice");
                        vr_json_int(j, r->nice);
                }
                if (r->cls == VR_SCHED_DEADLINE) {
                        vr_json_key(j, "derive");
                        vr_json_bool(j, r->derive);
                        vr_json_key(j, "runtime_ns");
                        vr_json_uint(j, r->runtime_ns);
                        vr_json_key(j, "deadline_ns");
                        vr_json_uint(j, r->deadline_ns);
                        vr_json_key(j, "period_ns");
                        vr_json_uint(j, r->period_ns);
                }
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_key(j, "ports");
        vr_json_begin_array(j);
        for (guint i = 0; i < p->ports->len; i++) {
                const VrPort *port = p->ports->pdata[i];
                vr_json_begin_object(j);
                vr_json_key(j, "name");
                vr_json_string(j, port->name);
                vr_json_key(j, "mode");
                vr_json_string(j, vr_port_mode_names[port->mode]);
                if (port->mode == VR_PORT_VF) {
                        vr_json_key(j, "pf");
                        vr_json_string(j, port->pf);
                        vr_json_key(j, "network");
                        vr_json_string(j, port->network);
                        vr_json_key(j, "vf");
                        vr_json_string(j, port->vf);
                        vr_json_key(j, "vlan");
                        vr_json_int(j, port->vlan);
                } else {
                        vr_json_key(j, "dev");
                        vr_json_string(j, port->dev);
                        vr_json_key(j, "queue");
                        vr_json_int(j, port->queue);
                        vr_json_key(j, "macvtap_mode");
                        vr_json_string(j, port->macvtap_mode);
                }
                vr_json_key(j, "mac");
                vr_json_string(j, port->mac);
                if (p->dom.type != VR_DOMAIN_LXC && port->mode == VR_PORT_MACVTAP) {
                        vr_json_key(j, "rx_queue_size");
                        vr_json_int(j, port->rx_queue_size);
                        vr_json_key(j, "queues");
                        vr_json_int(j, port->queues);
                        vr_json_key(j, "backend");
                        vr_json_string(j, port->backend ? vr_backend_names[port->backend] : NULL);
                }
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_key(j, "guarantee");
        if (p->guarantee.set) {
                vr_json_begin_object(j);
                vr_json_key(j, "rate_pps");
                vr_json_uint(j, p->guarantee.rate_pps);
                vr_json_key(j, "burst");
                vr_json_uint(j, p->guarantee.burst);
                vr_json_key(j, "delay_ns");
                vr_json_uint(j, p->guarantee.delay_ns);
                vr_json_key(j, "bandwidth_bps");
                vr_json_uint(j, p->guarantee.bandwidth_bps);
                vr_json_end_object(j);
        } else {
                vr_json_string(j, NULL);
        }
        vr_json_key(j, "addresses");
        vr_json_begin_array(j);
        for (guint i = 0; i < p->addresses->len; i++) {
                const VrAddress *a = p->addresses->pdata[i];
                vr_json_begin_object(j);
                vr_json_key(j, "port");
                vr_json_string(j, a->port);
                vr_json_key(j, "ip");
                vr_json_string(j, a->ip);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_key(j, "routes");
        vr_json_begin_array(j);
        for (guint i = 0; i < p->routes->len; i++) {
                const VrRoute *r = p->routes->pdata[i];
                vr_json_begin_object(j);
                vr_json_key(j, "to");
                vr_json_string(j, r->to);
                vr_json_key(j, "via");
                vr_json_string(j, r->via);
                vr_json_key(j, "port");
                vr_json_string(j, r->port);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        json_flags(j, "strip", p->strip, vr_strip_names);
        vr_json_end_object(j);
        return vr_json_finish(j);
}

/* ------------------------------------------------------------------------ */
/* Reading the JSON form back: the part of a policy the tuner needs (the domain,
 * mode, CPUs, scheduling rules, guarantee, the ports' kinds). Addresses, routes and the
 * rest of the ports stay with the XML and its hook. */

static bool json_fail(GError **error, const char *what) {
        g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "policy JSON: %s", what);
        return false;
}

static bool json_cpuset_read(const VrJsonNode *n, const char *key, VrCpuSet **ret, GError **error) {
        const char *s = vr_json_member_string(n, key);
        if (!s)
                return true;
        if (vr_cpuset_parse(s, ret) < 0)
                return json_fail(error, "a CPU list is not one");
        return true;
}

VrPolicy *vr_policy_from_json(const VrJsonNode *n, GError **error) {
        g_autoptr(VrPolicy) p = vr_policy_new();
        const VrJsonNode *cpu = vr_json_member(n, "cpu"), *sched = vr_json_member(n, "sched");
        const VrJsonNode *g = vr_json_member(n, "guarantee"), *ports = vr_json_member(n, "ports");
        const char *name = vr_json_member_string(n, "domain"), *type = vr_json_member_string(n, "type");
        int t, i;

        if (!name || !type || (t = vr_enum_from_string(vr_domain_type_names, type)) < 0) {
                json_fail(error, "expected a domain name and a type kvm, qemu or lxc");
                return NULL;
        }
        p->dom.name = g_strdup(name);
        p->dom.type = (VrDomainType) t;
        p->dom.vcpus = (unsigned) vr_json_member_int(n, "vcpus", 1);
        p->profile = g_strdup(vr_json_member_string(n, "profile"));
        p->rule = g_strdup(vr_json_member_string(n, "rule"));
        p->mode = g_strcmp0(vr_json_member_string(n, "mode"), "best-effort") == 0 ? VR_MODE_BEST_EFFORT : VR_MODE_STRICT;
        if (cpu) {
                i = vr_enum_from_string(vr_placement_names, vr_json_member_string(cpu, "placement"));
                p->placement = i < 0 ? VR_PLACEMENT_SHARED : (VrPlacement) i;
                if (!json_cpuset_read(cpu, "cpus", &p->cpus, error) ||
                    !json_cpuset_read(cpu, "housekeeping", &p->housekeeping, error))
                        return NULL;
                p->shares = (int) vr_json_member_int(cpu, "shares", 0);
        }
        for (guint k = 0; sched && sched->type == VR_JSON_ARRAY && k < sched->items->len; k++) {
                const VrJsonNode *r = sched->items->pdata[k];
                const VrJsonNode *threads = vr_json_member(r, "threads");
                VrSchedRule *rule = g_new0(VrSchedRule, 1);
                g_ptr_array_add(p->sched, rule);
                i = vr_enum_from_string(vr_sched_class_names, vr_json_member_string(r, "class"));
                if (i < 0) {
                        json_fail(error, "a scheduling rule has no known class");
                        return NULL;
                }
                rule->cls = (VrSchedClass) i;
                for (guint m = 0; threads && threads->type == VR_JSON_ARRAY && m < threads->items->len; m++) {
                        const VrJsonNode *w = threads->items->pdata[m];
                        int bit = w->type == VR_JSON_STRING ? vr_enum_from_string(vr_thread_names, w->string) : -1;
                        if (bit < 0) {
                                json_fail(error, "a scheduling rule names an unknown thread kind");
                                return NULL;
                        }
                        rule->threads |= 1u << bit;
                }
                rule->priority = (int) vr_json_member_int(r, "priority", 0);
                rule->has_nice = vr_json_member(r, "nice") != NULL;
                rule->nice = (int) vr_json_member_int(r, "nice", 0);
                rule->derive = vr_json_member_bool(r, "derive", false);
                rule->runtime_ns = (uint64_t) vr_json_member_int(r, "runtime_ns", 0);
                rule->deadline_ns = (uint64_t) vr_json_member_int(r, "deadline_ns", 0);
                rule->period_ns = (uint64_t) vr_json_member_int(r, "period_ns", 0);
        }
        /* Ports as far as a derived reservation needs them: which have vhost workers. */
        for (guint k = 0; ports && ports->type == VR_JSON_ARRAY && k < ports->items->len; k++) {
                const VrJsonNode *o = ports->items->pdata[k];
                VrPort *port = g_new0(VrPort, 1);
                g_ptr_array_add(p->ports, port);
                port->name = g_strdup(vr_json_member_string(o, "name"));
                i = vr_enum_from_string(vr_port_mode_names, vr_json_member_string(o, "mode"));
                port->mode = i < 0 ? VR_PORT_VF : (VrPortMode) i;
                port->queues = (int) vr_json_member_int(o, "queues", 1);
                i = vr_enum_from_string(vr_backend_names, vr_json_member_string(o, "backend"));
                port->backend = i < 0 ? VR_BACKEND_DEFAULT : (VrBackend) i;
        }
        if (g && g->type == VR_JSON_OBJECT) {
                p->guarantee.set = true;
                p->guarantee.rate_pps = (uint64_t) vr_json_member_int(g, "rate_pps", 0);
                p->guarantee.burst = (uint64_t) vr_json_member_int(g, "burst", 0);
                p->guarantee.delay_ns = (uint64_t) vr_json_member_int(g, "delay_ns", 0);
                p->guarantee.bandwidth_bps = (uint64_t) vr_json_member_int(g, "bandwidth_bps", 0);
        }
        return g_steal_pointer(&p);
}
