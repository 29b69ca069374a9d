/* The router policy: parsed from the domain's <vr:router> metadata (or bound by a host
 * config rule), validated, defaults filled. Pure: no host access. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-cpuset.h"
#include "vr-hostconf.h"
#include "vr-json.h"
#include "vr-macros.h"

typedef enum { VR_DOMAIN_KVM, VR_DOMAIN_QEMU, VR_DOMAIN_LXC } VrDomainType;
typedef enum { VR_PLACEMENT_SHARED, VR_PLACEMENT_DEDICATED } VrPlacement;
typedef enum {
        VR_THREAD_VCPU = 1 << 0,
        VR_THREAD_VHOST = 1 << 1,
        VR_THREAD_EMULATOR = 1 << 2,
        VR_THREAD_IOTHREAD = 1 << 3,
        VR_THREAD_NAPI = 1 << 4,
} VrThreadKind;
typedef enum {
        VR_SCHED_OTHER, VR_SCHED_BATCH, VR_SCHED_IDLE,
        VR_SCHED_FIFO, VR_SCHED_RR, VR_SCHED_DEADLINE,
} VrSchedClass;
typedef enum { VR_PORT_VF, VR_PORT_MACVTAP, VR_PORT_MACVLAN } VrPortMode;
typedef enum { VR_BACKEND_DEFAULT, VR_BACKEND_VHOST, VR_BACKEND_QEMU } VrBackend;
typedef enum { VR_TRI_UNSET = -1, VR_TRI_NO = 0, VR_TRI_YES = 1 } VrTristate;
typedef enum {
        VR_STRIP_SOUND = 1 << 0, VR_STRIP_GRAPHICS = 1 << 1, VR_STRIP_VIDEO = 1 << 2,
        VR_STRIP_INPUT = 1 << 3, VR_STRIP_USB = 1 << 4, VR_STRIP_MEMBALLOON = 1 << 5,
        VR_STRIP_REDIRDEV = 1 << 6, VR_STRIP_WATCHDOG = 1 << 7, VR_STRIP_SMARTCARD = 1 << 8,
} VrStrip;

/* Keyword tables, NULL-terminated, indexed by the enums above (flags: by bit number). */
extern const char *const vr_domain_type_names[];
extern const char *const vr_placement_names[];
extern const char *const vr_thread_names[];
extern const char *const vr_sched_class_names[];
extern const char *const vr_port_mode_names[];
extern const char *const vr_backend_names[]; /* index 0 unused ("default") */
extern const char *const vr_macvtap_mode_names[];
extern const char *const vr_strip_names[];

/* How many of each a policy may give, refused at parse with the count and the limit
 * (docs/virt-router.xml.5). Ports: a KVM/QEMU port is a PCI function, and libvirt gives
 * each NIC a slot of its own: 256 buses of 32 slots (libvirt's <address bus='0x00-0xff'
 * slot='0x00-0x1f'>) is every slot a guest can have; a container is held to the same.
 * Addresses and routes: an IPv4 and an IPv6 address and a route of each family for every
 * port. Beyond any router's need, and small enough that every step stays well under a
 * second (make bench-scale). */
#define VR_MAX_PORTS 8192
#define VR_MAX_ADDRESSES (2 * VR_MAX_PORTS)
#define VR_MAX_ROUTES (2 * VR_MAX_PORTS)

typedef struct {
        char *name;
        VrDomainType type;
        unsigned vcpus;    /* maximum vCPUs: every one of them is pinned */
        char *nova_flavor; /* from Nova's metadata, NULL if none */
} VrDomain;

typedef struct {
        guint threads; /* VrThreadKind mask */
        VrSchedClass cls;
        int priority;  /* fifo/rr */
        int nice;      /* other/batch */
        bool has_nice;
        uint64_t runtime_ns, deadline_ns, period_ns; /* 0 with derive: from the guarantee */
        bool derive;
} VrSchedRule;

typedef struct {
        char *name;
        VrPortMode mode;
        char *dev, *pf, *network, *vf, *mac;
        int vlan;          /* 0: none */
        int queue;         /* host queue length, packets */
        int rx_queue_size; /* 0 for LXC */
        bool queue_given, ring_given; /* by the policy; otherwise a guarantee may size them */
        int tx_queue_size; /* 0: unset */
        int queues;
        char *macvtap_mode;
        VrBackend backend;
        VrTristate trust, spoofchk;
        long line;
} VrPort;

typedef struct {
        bool set;
        uint64_t rate_pps, burst, delay_ns, bandwidth_bps;
        uint64_t police_burst, shape_burst; /* derived at parse (vr-guarantee.h) */
} VrGuarantee;

typedef struct {
        char *port;
        char *ip;  /* as written, "192.0.2.1/24" */
        char *addr; /* "192.0.2.1" */
        int family; /* 4 or 6 */
        int prefix;
        guint8 bytes[16];
} VrAddress;

typedef struct {
        char *to;  /* "0.0.0.0/0" */
        char *to_addr;
        int to_prefix;
        int family;
        char *via;
        char *port; /* the port whose address subnet holds via */
} VrRoute;

typedef struct {
        VrDomain dom;
        char *profile;   /* NULL if none */
        char *rule;      /* host config rule that bound a domain without metadata */
        VrMode mode;
        VrPlacement placement;
        VrCpuSet *cpus;         /* NULL: no pinning */
        bool cpus_from_pool;    /* cpus is [host] router-cpus: the policy and its profile gave none */
        VrCpuSet *housekeeping; /* NULL: emulator not pinned */
        int shares;             /* 0: unset */
        GPtrArray *sched;       /* VrSchedRule */
        GPtrArray *ports;       /* VrPort */
        VrGuarantee guarantee;
        GPtrArray *addresses;   /* VrAddress */
        GPtrArray *routes;      /* VrRoute */
        guint strip;            /* VrStrip mask */
        struct VrPortIndex *port_index; /* vr_policy_port's lookup, kept up to date as ports are added */
} VrPolicy;

VrPolicy *vr_policy_new(void);
void vr_policy_free(VrPolicy *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrPolicy, vr_policy_free)
void vr_domain_clear(VrDomain *d);

/* The first port of this name, or NULL; a hash lookup (ports are only ever appended). */
const VrPort *vr_policy_port(const VrPolicy *p, const char *name);
/* Port modes and types as shown to users: "vf", "macvtap", ... */
int vr_enum_from_string(const char *const *table, const char *s);
/* The policy's JSON form: `virt-router check --json`, and the policy in the tuner's
 * spec (vr-tune-spec.h). Every field it carries is read back, so writing what was read
 * gives the same text. Caller frees. */
char *vr_policy_to_json(const VrPolicy *p);
/* The same form as the next value of j (in an object: after its key). */
void vr_policy_write_json(VrJson *j, const VrPolicy *p);
/* NULL with error (VR_ERROR_INVALID) naming the field, "policy.ports[1].vlan: ...". */
VrPolicy *vr_policy_from_json(const VrJsonNode *n, GError **error);
