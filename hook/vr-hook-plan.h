/* The hook's plan: the host changes one hook operation makes, each with its undo, built
 * by a pure function from the policy and the facts read before (the domain's devices in
 * the XML libvirt hands over, and what sysfs says of them); and the journal that
 * carries them across operations (start's changes are undone by stopped or release).
 *
 * The plan lives in hook/, not lib/plan: its input is the devices of the live domain
 * XML (aliases, targets, a container's guest names), read by the hook; only the hook
 * plans for them. The carrying out is in vr-hook.c, through the table of host
 * operations (lib/host/vr-hostops.h). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vr-hostop.h"
#include "vr-policy.h"

/* A router device of the live XML, with the host facts the plan needs. */
typedef struct {
        char *port;     /* the policy's port */
        char *target;   /* macvtap/macvlan device, start XML */
        char *guest;    /* LXC: the device's name inside the container */
        char *pci;      /* hostdev VF */
        bool managed;
        bool bandwidth; /* libvirt's <bandwidth> owns the device's qdiscs */
        /* facts */
        int txqlen;     /* target's queue length now; -1: not on the host (an LXC macvlan is in its container) */
        char *pf;       /* pci's PF netdev, NULL: none found */
        int vf;         /* pci's VF index under pf, -1: none */
        char *driver;   /* pci's driver now ("vfio-pci", "iavf"), NULL: none */
} VrHookDevice;

void vr_hook_device_free(VrHookDevice *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrHookDevice, vr_hook_device_free)

typedef enum {
        VR_STEP_REQUIRED, /* its failure fails the operation (best-effort: a warning, without it) */
        VR_STEP_OPTIONAL, /* its failure is a warning: the operation goes on without its group */
} VrStepNeed;

typedef struct {
        char *port;
        VrHostOp *op;
        VrHostOp *undo;     /* NULL: nothing to undo, or the group's first step undoes it all */
        char *undo_if;      /* the undo runs only while ROOT/undo_if exists (a device may be gone) */
        bool undo_at_stop;  /* false: undone only when its operation fails (what it changed goes with the domain) */
        VrStepNeed need;
        unsigned group;     /* steps of one group stand or fall together; 0: alone */
        char *what;         /* what failed, for the message: "cannot set the queue length of macvtap7 to 35" */
        char *consequence;  /* said after the cause: "the guest polices"; NULL: nothing */
        char *done;         /* logged when the step (the last of its group) is done; NULL: nothing */
} VrHookStep;

void vr_hook_step_free(VrHookStep *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrHookStep, vr_hook_step_free)

typedef struct {
        GPtrArray *steps; /* VrHookStep, in the order they are carried out */
        GPtrArray *notes; /* char *: decisions the hook logs (no policer beside <bandwidth>) */
} VrHookPlan;

VrHookPlan *vr_hook_plan_new(void);
void vr_hook_plan_free(VrHookPlan *plan);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrHookPlan, vr_hook_plan_free)

typedef struct {
        const char *op;                   /* prepare, start or started */
        const VrPolicy *policy;
        GPtrArray *devices;               /* VrHookDevice */
        const char *const *vfio_vfs;      /* prepare: the VFs the plan gives hostdev ports */
        bool tc;                          /* start: tc is installed, a host policer can be planned */
        pid_t container_init;             /* started of a container: its init (its netns); 0: unknown */
} VrHookPlanInput;

/* Pure: the host changes of one operation, in order. */
VrHookPlan *vr_hook_plan_build(const VrHookPlanInput *in);
/* What stopped and release do: the journal's undos that still apply once the domain has
 * stopped, in reverse order, as steps (optional, without undo of their own). */
VrHookPlan *vr_hook_plan_undo(GPtrArray *journal);
/* One line a step, notes first: "PORT: CHANGE [optional] [group N]; undo (WHEN): UNDO"
 * or "; no undo". WHEN: "on failure" (of its operation only) and "if PATH exists".
 * Caller frees. */
char *vr_hook_plan_format(const VrHookPlan *plan);

/* The journal: JSON, the steps begun so far (their undo and when it applies), written
 * whole and atomically before each change. */
char *vr_hook_journal_format(const char *domain, GPtrArray *steps);
/* The steps of a journal's text (VrHookStep, owned by the array). NULL with error when
 * it is not a journal. */
GPtrArray *vr_hook_journal_parse(const char *text, GError **error);
