/* Rewriting a domain XML so it honours its router policy. The only code that edits
 * domain XML: the CLI's apply/render and the hook's migrate/restore filter share it. */
#pragma once

#include <stdbool.h>
#include <libxml/tree.h>

#include "vr-hostconf.h"
#include "vr-plan.h"

/* The <sysinfo type='fwcfg'> entry that carries the guest's configuration. */
#define VR_GUEST_CONFIG_ENTRY "opt/org.virt-router/config"

/* The <sysinfo type='fwcfg'> entry VR_GUEST_CONFIG_ENTRY of a domain (root: its
 * <domain>), NULL if it has none; *ret_sysinfo (may be NULL) gets the first fwcfg
 * <sysinfo>, NULL if none. */
xmlNode *vr_rewrite_guest_config_entry(xmlNode *root, xmlNode **ret_sysinfo);

/* Edit doc in place to match the plan. Everything the plan does not name is kept. */
void vr_rewrite_doc(xmlDoc *doc, const VrPlan *plan);

/* A container's devices indexed by how its ports are found, built in one pass. */
typedef struct VrLxcIndex VrLxcIndex;
VrLxcIndex *vr_rewrite_lxc_index_new(xmlNode *devices);
void vr_rewrite_lxc_index_free(VrLxcIndex *ix);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrLxcIndex, vr_rewrite_lxc_index_free)
/* A container's device for a port (LXC keeps no aliases): the macvlan on port->dev,
 * or the hostdev of vf_netdev; devices in `claimed` (may be NULL) are skipped. A
 * lookup, not a scan: callers find thousands of ports. */
xmlNode *vr_rewrite_find_lxc_port(VrLxcIndex *ix, const VrPort *port, const char *vf_netdev, GHashTable *claimed);
/* Router devices (vr_rewrite_is_router_device) by alias: the first of an alias, or with
 * `last` the last one. Caller unrefs. */
GHashTable *vr_rewrite_alias_index(xmlNode *devices, bool last);
/* The device's <alias name>, or NULL. */
char *vr_rewrite_device_alias(xmlNode *dev);
/* An <interface> or <hostdev> that apply marked as a port (alias ua-vr-PORT). */
bool vr_rewrite_is_router_device(xmlNode *dev);
/* PCI addresses the doc's router interfaces use now: port name -> "DDDD:BB:DD.F". */
GHashTable *vr_rewrite_current_vfs(xmlDoc *doc);

/* The plan for doc's policy on this host: the host facts its VF ports need read under
 * sysroot (NULL: none), the VFs doc gives its ports now kept. NULL with error set. */
VrPlan *vr_rewrite_plan(xmlDoc *doc, const VrPolicy *policy, const VrHostConf *conf, const char *sysroot,
                        const char *what, GError **error);

/* The same, and the VFs the ledger gives other routers (PCI address -> domain, may be
 * NULL) are not taken: what the migrate/restore filter plans with. */
VrPlan *vr_rewrite_plan_held(xmlDoc *doc, const VrPolicy *policy, const VrHostConf *conf, const char *sysroot,
                             GHashTable *held_vfs, const char *what, GError **error);

typedef struct {
        const VrHostConf *conf;
        const char *sysroot; /* NULL: read no sysfs (VF ports need vf= or a pool) */
        const char *what;    /* input name for messages */
        /* What other routers hold on this host (the ledger), for the migrate/restore
         * filter; NULL: not known. */
        GHashTable *held_vfs;       /* PCI address -> domain */
        const VrCpuSet *held_cpus;  /* dedicated CPUs */
        const char *cpu_holders;    /* "2 by 'a', 3 by 'b'" for messages */
} VrRewriteOptions;

typedef enum {
        VR_REWRITE_NOT_ROUTER = 0, /* no policy: *ret_out is the input, byte for byte */
        VR_REWRITE_UNCHANGED = 1,  /* a router already as its policy says: input bytes */
        VR_REWRITE_CHANGED = 2,
} VrRewriteResult;

/* Parse, plan and rewrite a whole document. Returns a VrRewriteResult, or -1 with error
 * set (nothing written). *ret_policy, if non-NULL, receives the policy (NULL for a
 * domain that is not a router). */
int vr_rewrite_xml(const char *buf, size_t len, const VrRewriteOptions *opts, char **ret_out,
                   size_t *ret_len, VrPolicy **ret_policy, GError **error) _must_check_;

/* Same, on a parsed document (render uses it): edits doc, returns -1 or a VrRewriteResult. */
int vr_rewrite_parsed(xmlDoc *doc, const VrRewriteOptions *opts, VrPolicy **ret_policy,
                      GError **error) _must_check_;
