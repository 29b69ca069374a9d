#include "config.h"

#include <limits.h>
#include <stddef.h>
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

struct VrPortIndex {
        GHashTable *by_name; /* port name -> the first VrPort of that name */
        guint indexed;       /* ports[0..indexed) are in it */
};

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
        if (p->port_index)
                g_hash_table_unref(p->port_index->by_name);
        g_free(p->port_index);
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
        p->port_index = g_new0(struct VrPortIndex, 1);
        p->port_index->by_name = g_hash_table_new(g_str_hash, g_str_equal);
        return p;
}

/* Callers look ports up once per port, address, route and device: a scan of the ports
 * each time made thousands of ports cost seconds. The index catches up with ports
 * appended since the last lookup, so it holds through parsing and from_json alike. */
const VrPort *vr_policy_port(const VrPolicy *p, const char *name) {
        struct VrPortIndex *ix = p->port_index;

        for (; ix->indexed < p->ports->len; ix->indexed++) {
                VrPort *port = p->ports->pdata[ix->indexed];
                if (port->name && !g_hash_table_contains(ix->by_name, port->name))
                        g_hash_table_insert(ix->by_name, port->name, port);
        }
        return name ? g_hash_table_lookup(ix->by_name, name) : NULL;
}

/* ------------------------------------------------------------------------ */
/* The JSON form (`virt-router check --json`, and the policy in the tuner's spec)      */

/* One table per JSON object gives each field's key, kind and place once; the writer
 * and the reader both walk these tables, so what the tuner reads back is exactly what
 * the hook wrote (tests/test-spec.c: policy -> JSON -> policy -> JSON is identical).
 * A full reader rather than a tuner-only projection: `check --json` prints the same
 * form, and a projection would define the names of the tuner's fields a second time.
 * Every value of the model is in the form (check promises to show them all); not in
 * it is only where a value came from, which nothing after the parser reads: VrPort
 * line, queue_given and ring_given; and what is parsed again from a field the form
 * has: VrAddress addr, family, prefix and bytes (from ip), VrRoute to_addr, to_prefix
 * and family (from to). */

typedef enum {
        F_STRING,   /* char *, NULL as null */
        F_INT,      /* int */
        F_UINT,     /* unsigned */
        F_U64,      /* uint64_t */
        F_BOOL,     /* bool */
        F_TRI,      /* VrTristate: null when unset */
        F_ENUM,     /* an enum stored as int: its keyword from names */
        F_ENUM_OPT, /* as F_ENUM, with 0 (the default) as null */
        F_FLAGS,    /* a guint mask: an array of names, by bit number */
        F_CPUSET,   /* VrCpuSet *, NULL as null */
        F_OBJECT,   /* fields of the same struct in a nested object (sub) */
        F_ARRAY,    /* GPtrArray * of elem_size structs, each an object (sub) */
} FieldKind;

typedef struct Field Field;
struct Field {
        const char *key; /* NULL ends a table */
        FieldKind kind;
        size_t offset;
        const char *const *names; /* F_ENUM, F_ENUM_OPT, F_FLAGS */
        const Field *sub;         /* F_OBJECT, F_ARRAY */
        size_t elem_size;         /* F_ARRAY */
        /* Written only when this holds (and then also the only case it is read in). */
        bool (*when)(const void *obj, const VrPolicy *p);
        /* Offset of a bool saying the field is given (0: none, as no such flag comes
         * first in its struct). Unset, a scalar is left out and an object is null. */
        size_t given;
        int64_t dflt; /* when absent */
        bool required;
};

G_STATIC_ASSERT(sizeof(VrDomainType) == sizeof(int) && sizeof(VrMode) == sizeof(int));
G_STATIC_ASSERT(sizeof(VrPlacement) == sizeof(int) && sizeof(VrSchedClass) == sizeof(int));
G_STATIC_ASSERT(sizeof(VrPortMode) == sizeof(int) && sizeof(VrBackend) == sizeof(int));
G_STATIC_ASSERT(sizeof(VrTristate) == sizeof(int));

#define AT(obj, f, T) ((T *) (void *) ((char *) (obj) + (f)->offset))
#define CAT(obj, f, T) ((const T *) (const void *) ((const char *) (obj) + (f)->offset))

static bool rule_rt(const void *o, const VrPolicy *p) {
        const VrSchedRule *r = o;
        (void) p;
        return r->cls == VR_SCHED_FIFO || r->cls == VR_SCHED_RR;
}

static bool rule_deadline(const void *o, const VrPolicy *p) {
        (void) p;
        return ((const VrSchedRule *) o)->cls == VR_SCHED_DEADLINE;
}

static bool port_vf(const void *o, const VrPolicy *p) {
        (void) p;
        return ((const VrPort *) o)->mode == VR_PORT_VF;
}

static bool port_netdev(const void *o, const VrPolicy *p) {
        return !port_vf(o, p);
}

/* A guest's macvtap: virtio's ring, queues and backend are the policy's. */
static bool port_guest_tap(const void *o, const VrPolicy *p) {
        return p->dom.type != VR_DOMAIN_LXC && ((const VrPort *) o)->mode == VR_PORT_MACVTAP;
}

static const Field cpu_fields[] = {
        {"placement", F_ENUM, offsetof(VrPolicy, placement), .names = vr_placement_names},
        {"cpus", F_CPUSET, offsetof(VrPolicy, cpus)},
        {"cpus_from_pool", F_BOOL, offsetof(VrPolicy, cpus_from_pool)},
        {"housekeeping", F_CPUSET, offsetof(VrPolicy, housekeeping)},
        {"shares", F_INT, offsetof(VrPolicy, shares)},
        {NULL},
};

static const Field sched_fields[] = {
        {"threads", F_FLAGS, offsetof(VrSchedRule, threads), .names = vr_thread_names},
        {"class", F_ENUM, offsetof(VrSchedRule, cls), .names = vr_sched_class_names, .required = true},
        {"priority", F_INT, offsetof(VrSchedRule, priority), .when = rule_rt},
        {"nice", F_INT, offsetof(VrSchedRule, nice), .given = offsetof(VrSchedRule, has_nice)},
        {"derive", F_BOOL, offsetof(VrSchedRule, derive), .when = rule_deadline},
        {"runtime_ns", F_U64, offsetof(VrSchedRule, runtime_ns), .when = rule_deadline},
        {"deadline_ns", F_U64, offsetof(VrSchedRule, deadline_ns), .when = rule_deadline},
        {"period_ns", F_U64, offsetof(VrSchedRule, period_ns), .when = rule_deadline},
        {NULL},
};

static const Field port_fields[] = {
        {"name", F_STRING, offsetof(VrPort, name), .required = true},
        {"mode", F_ENUM, offsetof(VrPort, mode), .names = vr_port_mode_names, .required = true},
        {"pf", F_STRING, offsetof(VrPort, pf), .when = port_vf},
        {"network", F_STRING, offsetof(VrPort, network), .when = port_vf},
        {"vf", F_STRING, offsetof(VrPort, vf), .when = port_vf},
        {"vlan", F_INT, offsetof(VrPort, vlan), .when = port_vf},
        {"trust", F_TRI, offsetof(VrPort, trust), .when = port_vf},
        {"spoofchk", F_TRI, offsetof(VrPort, spoofchk), .when = port_vf},
        {"dev", F_STRING, offsetof(VrPort, dev), .when = port_netdev},
        {"queue", F_INT, offsetof(VrPort, queue), .when = port_netdev},
        {"macvtap_mode", F_STRING, offsetof(VrPort, macvtap_mode), .when = port_netdev},
        {"mac", F_STRING, offsetof(VrPort, mac)},
        {"rx_queue_size", F_INT, offsetof(VrPort, rx_queue_size), .when = port_guest_tap},
        {"tx_queue_size", F_INT, offsetof(VrPort, tx_queue_size), .when = port_guest_tap},
        {"queues", F_INT, offsetof(VrPort, queues), .when = port_guest_tap, .dflt = 1},
        {"backend", F_ENUM_OPT, offsetof(VrPort, backend), .names = vr_backend_names, .when = port_guest_tap},
        {NULL},
};

static const Field guarantee_fields[] = {
        {"rate_pps", F_U64, offsetof(VrPolicy, guarantee.rate_pps)},
        {"burst", F_U64, offsetof(VrPolicy, guarantee.burst)},
        {"delay_ns", F_U64, offsetof(VrPolicy, guarantee.delay_ns)},
        {"bandwidth_bps", F_U64, offsetof(VrPolicy, guarantee.bandwidth_bps)},
        {"police_burst", F_U64, offsetof(VrPolicy, guarantee.police_burst)},
        {"shape_burst", F_U64, offsetof(VrPolicy, guarantee.shape_burst)},
        {NULL},
};

static const Field address_fields[] = {
        {"port", F_STRING, offsetof(VrAddress, port)},
        {"ip", F_STRING, offsetof(VrAddress, ip)},
        {NULL},
};

static const Field route_fields[] = {
        {"to", F_STRING, offsetof(VrRoute, to)},
        {"via", F_STRING, offsetof(VrRoute, via)},
        {"port", F_STRING, offsetof(VrRoute, port)},
        {NULL},
};

static const Field policy_fields[] = {
        {"domain", F_STRING, offsetof(VrPolicy, dom.name), .required = true},
        {"type", F_ENUM, offsetof(VrPolicy, dom.type), .names = vr_domain_type_names, .required = true},
        {"vcpus", F_UINT, offsetof(VrPolicy, dom.vcpus), .dflt = 1},
        {"profile", F_STRING, offsetof(VrPolicy, profile)},
        {"rule", F_STRING, offsetof(VrPolicy, rule)},
        {"nova_flavor", F_STRING, offsetof(VrPolicy, dom.nova_flavor)},
        {"mode", F_ENUM, offsetof(VrPolicy, mode), .names = vr_mode_names},
        {"cpu", F_OBJECT, 0, .sub = cpu_fields},
        {"sched", F_ARRAY, offsetof(VrPolicy, sched), .sub = sched_fields, .elem_size = sizeof(VrSchedRule)},
        {"ports", F_ARRAY, offsetof(VrPolicy, ports), .sub = port_fields, .elem_size = sizeof(VrPort)},
        {"guarantee", F_OBJECT, 0, .sub = guarantee_fields, .given = offsetof(VrPolicy, guarantee.set)},
        {"addresses", F_ARRAY, offsetof(VrPolicy, addresses), .sub = address_fields, .elem_size = sizeof(VrAddress)},
        {"routes", F_ARRAY, offsetof(VrPolicy, routes), .sub = route_fields, .elem_size = sizeof(VrRoute)},
        {"strip", F_FLAGS, offsetof(VrPolicy, strip), .names = vr_strip_names},
        {NULL},
};

static bool field_given(const Field *f, const void *obj) {
        return !f->given || *(const bool *) (const void *) ((const char *) obj + f->given);
}

static void write_object(VrJson *j, const Field *fields, const void *obj, const VrPolicy *p);

static void write_field(VrJson *j, const Field *f, const void *obj, const VrPolicy *p) {
        vr_json_key(j, f->key);
        switch (f->kind) {
        case F_STRING:
                vr_json_string(j, *CAT(obj, f, char *));
                break;
        case F_INT:
                vr_json_int(j, *CAT(obj, f, int));
                break;
        case F_UINT:
                vr_json_uint(j, *CAT(obj, f, unsigned));
                break;
        case F_U64:
                vr_json_uint(j, *CAT(obj, f, uint64_t));
                break;
        case F_BOOL:
                vr_json_bool(j, *CAT(obj, f, bool));
                break;
        case F_TRI:
                if (*CAT(obj, f, int) == VR_TRI_UNSET)
                        vr_json_string(j, NULL);
                else
                        vr_json_bool(j, *CAT(obj, f, int) == VR_TRI_YES);
                break;
        case F_ENUM:
        case F_ENUM_OPT: {
                int v = *CAT(obj, f, int);
                vr_json_string(j, f->kind == F_ENUM_OPT && v == 0 ? NULL : f->names[v]);
                break;
        }
        case F_FLAGS: {
                guint mask = *CAT(obj, f, guint);
                vr_json_begin_array(j);
                for (int i = 0; f->names[i]; i++)
                        if (mask & (1u << i))
                                vr_json_string(j, f->names[i]);
                vr_json_end_array(j);
                break;
        }
        case F_CPUSET: {
                const VrCpuSet *s = *CAT(obj, f, VrCpuSet *);
                g_autofree char *text = s ? vr_cpuset_format(s) : NULL;
                vr_json_string(j, text);
                break;
        }
        case F_OBJECT:
                if (field_given(f, obj))
                        write_object(j, f->sub, (const char *) obj + f->offset, p);
                else
                        vr_json_string(j, NULL);
                break;
        case F_ARRAY: {
                const GPtrArray *a = *CAT(obj, f, GPtrArray *);
                vr_json_begin_array(j);
                for (guint i = 0; i < a->len; i++)
                        write_object(j, f->sub, a->pdata[i], p);
                vr_json_end_array(j);
                break;
        }
        }
}

static void write_object(VrJson *j, const Field *fields, const void *obj, const VrPolicy *p) {
        vr_json_begin_object(j);
        for (const Field *f = fields; f->key; f++)
                if ((!f->when || f->when(obj, p)) && (f->kind == F_OBJECT || field_given(f, obj)))
                        write_field(j, f, obj, p);
        vr_json_end_object(j);
}

void vr_policy_write_json(VrJson *j, const VrPolicy *p) {
        write_object(j, policy_fields, p, p);
}

char *vr_policy_to_json(const VrPolicy *p) {
        g_autoptr(VrJson) j = vr_json_new();

        vr_policy_write_json(j, p);
        return vr_json_finish(j);
}

static bool bad(GError **error, const char *where, const char *key, const char *what) {
        g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s.%s: %s", where, key, what);
        return false;
}

static bool read_number(const VrJsonNode *v, const char *where, const Field *f, double min, double max,
                        int64_t *ret, GError **error) {
        g_autofree char *range = NULL;

        if (v->type == VR_JSON_NUMBER && v->number >= min && v->number <= max &&
            v->number == (double) (int64_t) v->number) {
                *ret = (int64_t) v->number;
                return true;
        }
        range = g_strdup_printf("expected a whole number from %.0f to %.0f", min, max);
        return bad(error, where, f->key, range);
}

static bool read_name(const VrJsonNode *v, const char *where, const Field *f, int *ret, GError **error) {
        int i = v->type == VR_JSON_STRING ? vr_enum_from_string(f->names, v->string) : -1;
        g_autofree char *list = NULL, *what = NULL;

        if (i >= 0) {
                *ret = i;
                return true;
        }
        list = g_strjoinv(", ", (char **) f->names);
        what = g_strdup_printf("expected one of %s", list);
        return bad(error, where, f->key, what);
}

static bool read_object(const VrJsonNode *n, const Field *fields, void *obj, const VrPolicy *p, const char *where,
                        GError **error);

static bool read_field(const VrJsonNode *v, const Field *f, void *obj, const VrPolicy *p, const char *where,
                       GError **error) {
        int64_t num = 0;
        int e = 0;

        switch (f->kind) {
        case F_STRING:
                if (v->type != VR_JSON_STRING && v->type != VR_JSON_NULL)
                        return bad(error, where, f->key, "expected a string or null");
                g_free(*AT(obj, f, char *));
                *AT(obj, f, char *) = g_strdup(v->string);
                return true;
        case F_INT:
                if (!read_number(v, where, f, INT_MIN, INT_MAX, &num, error))
                        return false;
                *AT(obj, f, int) = (int) num;
                return true;
        case F_UINT:
                if (!read_number(v, where, f, 0, UINT_MAX, &num, error))
                        return false;
                *AT(obj, f, unsigned) = (unsigned) num;
                return true;
        case F_U64:
                /* JSON numbers are doubles: whole numbers are exact up to 2^53. */
                if (!read_number(v, where, f, 0, 9007199254740992.0, &num, error))
                        return false;
                *AT(obj, f, uint64_t) = (uint64_t) num;
                return true;
        case F_BOOL:
                if (v->type != VR_JSON_BOOL)
                        return bad(error, where, f->key, "expected true or false");
                *AT(obj, f, bool) = v->boolean;
                return true;
        case F_TRI:
                if (v->type != VR_JSON_BOOL && v->type != VR_JSON_NULL)
                        return bad(error, where, f->key, "expected true, false or null");
                *AT(obj, f, int) = v->type == VR_JSON_NULL ? VR_TRI_UNSET : v->boolean ? VR_TRI_YES : VR_TRI_NO;
                return true;
        case F_ENUM_OPT:
                if (v->type == VR_JSON_NULL) {
                        *AT(obj, f, int) = 0;
                        return true;
                }
                /* fall through */
        case F_ENUM:
                if (!read_name(v, where, f, &e, error))
                        return false;
                *AT(obj, f, int) = e;
                return true;
        case F_FLAGS:
                if (v->type != VR_JSON_ARRAY)
                        return bad(error, where, f->key, "expected an array of names");
                *AT(obj, f, guint) = 0;
                for (guint i = 0; i < v->items->len; i++) {
                        if (!read_name(v->items->pdata[i], where, f, &e, error))
                                return false;
                        *AT(obj, f, guint) |= 1u << e;
                }
                return true;
        case F_CPUSET:
                vr_cpuset_free(*AT(obj, f, VrCpuSet *));
                *AT(obj, f, VrCpuSet *) = NULL;
                if (v->type == VR_JSON_NULL)
                        return true;
                if (v->type != VR_JSON_STRING || vr_cpuset_parse(v->string, AT(obj, f, VrCpuSet *)) < 0)
                        return bad(error, where, f->key, "expected a CPU list such as \"2-5,8\", or null");
                return true;
        case F_OBJECT: {
                g_autofree char *sub = g_strdup_printf("%s.%s", where, f->key);
                if (f->given && v->type == VR_JSON_NULL)
                        return true;
                if (v->type != VR_JSON_OBJECT)
                        return bad(error, where, f->key,
                                   f->given ? "expected an object or null" : "expected an object");
                return read_object(v, f->sub, (char *) obj + f->offset, p, sub, error);
        }
        case F_ARRAY:
                if (v->type != VR_JSON_ARRAY)
                        return bad(error, where, f->key, "expected an array");
                for (guint i = 0; i < v->items->len; i++) {
                        g_autofree char *sub = g_strdup_printf("%s.%s[%u]", where, f->key, i);
                        void *elem = g_malloc0(f->elem_size);
                        g_ptr_array_add(*AT(obj, f, GPtrArray *), elem);
                        if (((const VrJsonNode *) v->items->pdata[i])->type != VR_JSON_OBJECT) {
                                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s: expected an object", sub);
                                return false;
                        }
                        if (!read_object(v->items->pdata[i], f->sub, elem, p, sub, error))
                                return false;
                }
                return true;
        }
        return false;
}

/* Fields in table order (the conditions of later ones read earlier ones); a key the
 * tables do not know, or one the writer would leave out here, is an error: nothing is
 * dropped unnoticed. */
static bool read_object(const VrJsonNode *n, const Field *fields, void *obj, const VrPolicy *p, const char *where,
                        GError **error) {
        for (guint i = 0; i < n->keys->len; i++) {
                const Field *f = fields;
                while (f->key && !g_str_equal(f->key, n->keys->pdata[i]))
                        f++;
                if (!f->key)
                        return bad(error, where, n->keys->pdata[i], "unknown key");
        }
        for (const Field *f = fields; f->key; f++) {
                const VrJsonNode *v = vr_json_member(n, f->key);
                if (!v) {
                        if (f->required)
                                return bad(error, where, f->key, "missing");
                        if (f->kind == F_INT)
                                *AT(obj, f, int) = (int) f->dflt;
                        else if (f->kind == F_UINT)
                                *AT(obj, f, unsigned) = (unsigned) f->dflt;
                        else if (f->kind == F_TRI)
                                *AT(obj, f, int) = VR_TRI_UNSET; /* as the parser leaves it */
                        continue;
                }
                if (!read_field(v, f, obj, p, where, error))
                        return false;
                if (f->given)
                        *(bool *) (void *) ((char *) obj + f->given) = v->type != VR_JSON_NULL || f->kind != F_OBJECT;
        }
        for (const Field *f = fields; f->key; f++)
                if (f->when && vr_json_member(n, f->key) && !f->when(obj, p))
                        return bad(error, where, f->key, "not expected here: the form has it only for other classes, port modes or domain types");
        return true;
}

VrPolicy *vr_policy_from_json(const VrJsonNode *n, GError **error) {
        g_autoptr(VrPolicy) p = vr_policy_new();

        if (!n || n->type != VR_JSON_OBJECT) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "policy: expected an object");
                return NULL;
        }
        if (!read_object(n, policy_fields, p, p, "policy", error))
                return NULL;
        return g_steal_pointer(&p);
}
