/* The plan: what a policy means on this host, decided without side effects. Facts about
 * the host (VFs of a PF, their netdevs) are read beforehand into VrHostFacts, so
 * building a plan is pure and testable. */
#pragma once

#include "vr-policy.h"

typedef struct {
        char *root;          /* root prefix facts were read from; NULL: none were read */
        GHashTable *pf_vfs;  /* PF netdev -> GPtrArray of VF PCI addresses */
        GHashTable *netdevs; /* PCI address -> netdev name */
        GHashTable *held_vfs; /* PCI address -> domain: VFs the ledger gives other routers;
                               * NULL: not known (apply and check plan without the ledger) */
} VrHostFacts;

/* Read what the policy's VF ports need from ROOT/sys. Missing PFs are not an error
 * here: the plan reports them with the port named. */
VrHostFacts *vr_host_facts_read(const char *root, const VrPolicy *p);
void vr_host_facts_free(VrHostFacts *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrHostFacts, vr_host_facts_free)

typedef enum {
        VR_IFACE_DIRECT,      /* <interface type='direct'>: macvtap (KVM) / macvlan (LXC) */
        VR_IFACE_HOSTDEV,     /* <interface type='hostdev' managed='yes'>: VF via VFIO */
        VR_IFACE_NETWORK,     /* <interface type='network'>: VF from a libvirt hostdev pool */
        VR_IFACE_LXC_HOSTDEV, /* <hostdev mode='capabilities' type='net'>: VF moved into a container */
} VrIfaceKind;

typedef struct {
        const VrPort *port;
        const char *domain; /* for a stable generated MAC */
        char *alias;
        VrIfaceKind kind;
        char *pci;       /* HOSTDEV */
        char *netdev;    /* LXC_HOSTDEV */
        const char *guest_name; /* LXC macvlan: the device's name in the container (<guest dev>) */
        const char *network;
        const char *driver_name; /* "vhost", "qemu", or NULL for libvirt's choice */
        bool virtio;
        GPtrArray *ips;    /* borrowed VrAddress */
        GPtrArray *routes; /* borrowed VrRoute */
} VrPlanIface;

typedef struct {
        const VrPolicy *policy;
        GPtrArray *vcpupin;   /* char* cpuset per vCPU index; empty: leave pinning alone */
        char *emulatorpin;    /* NULL: leave alone */
        char *vcpu_cpuset;    /* LXC: <vcpu cpuset>, the container's CPUs; NULL: leave alone */
        int shares;           /* 0: leave alone */
        guint drop_sched;     /* VrThreadKind: libvirt's <vcpusched>/<emulatorsched>/<iothreadsched> to remove */
        bool manage_ports;    /* false for domains bound by a host config rule */
        GPtrArray *ifaces;    /* VrPlanIface in policy order */
        guint strip;
        /* LXC: netdevs of the VFs of this router's PFs and of its vf= ports, but the user's
         * (VrPlanDomain.other_vfs): one that no port has is a VF a port had before, apply's
         * to take back */
        GHashTable *vf_netdevs;
} VrPlan;

void vr_plan_free(VrPlan *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrPlan, vr_plan_free)

/* What the domain's XML already says, as far as the plan depends on it. */
typedef struct {
        /* port name -> PCI address the domain's XML already gives that port (kept when
         * still valid, so re-applying never moves a router to another VF) */
        GHashTable *current_vfs;
        /* PCI address -> "<hostdev ...> (line N)": VFs that devices of the domain other
         * than its ports hold (in a container, VF netdevs that are the user's). A port
         * never gets one of them. */
        GHashTable *other_vfs;
} VrPlanDomain;

/* `dom` and its tables may be NULL. Errors where the policy meets the domain's own
 * devices (a VF another device has) are VR_ERROR_CONFLICT when they are all there is. */
VrPlan *vr_plan_build(const VrPolicy *policy, const VrHostConf *conf, const VrHostFacts *facts,
                      const VrPlanDomain *dom, const char *what, GError **error);
