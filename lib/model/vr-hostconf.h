/* The host config (GKeyFile, default /etc/virt-router/virt-router.conf): host facts,
 * defaults, profiles and rules that bind domains without metadata to a profile. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-cpuset.h"
#include "vr-macros.h"

#define VR_HOSTCONF_DEFAULT_PATH SYSCONFDIR "/virt-router/virt-router.conf"

typedef enum {
        VR_MODE_STRICT,
        VR_MODE_BEST_EFFORT,
} VrMode;

/* A profile keeps its values as written, each checked on its own when the file loads;
 * the policy parser reads them with the same code as element attributes, so that what
 * depends on the domain gets the same checks and the same messages. */
typedef struct {
        char *name;
        GHashTable *values; /* key (string) -> value (string) */
} VrProfile;

typedef struct {
        char *name;
        char *nova_flavor; /* glob or NULL */
        char *domain_name; /* glob or NULL */
        char *profile;
} VrRule;

/* What forwarding costs on this host ([calibration], written by `virt-router
 * calibrate`): CPU time per forwarded packet and idle use, per kind of thread. */
typedef struct {
        uint64_t vcpu_ns, backend_ns;              /* per forwarded packet */
        uint32_t vcpu_idle_ppm, backend_idle_ppm;  /* with no traffic, millionths of a CPU */
        uint32_t margin_ppm;                       /* headroom over the measured cost */
        uint64_t tick_ns;                          /* deadline budgets are enforced per tick */
        bool measured;                             /* both costs came from the file */
        char *measured_on;                         /* calibrate's note: when, which router */
} VrPacketCost;

typedef struct {
        char *path; /* file read, NULL when built-in defaults only */
        VrCpuSet *router_cpus;       /* NULL: not configured */
        VrCpuSet *housekeeping_cpus; /* NULL: not configured */
        VrMode mode;
        uint32_t deadline_cap_ppm;
        int default_queue;
        char *image_dir;
        char *state_dir;
        bool debug;
        GHashTable *pf_networks; /* PF netdev -> libvirt network */
        GHashTable *profiles;    /* name -> VrProfile */
        GPtrArray *rules;        /* VrRule, file order */
        VrPacketCost cost;
} VrHostConf;

/* Defaults when no file exists. */
VrHostConf *vr_host_conf_new_default(void);
/* path NULL: the default path, whose absence is not an error. An explicit path must exist.
 * Every [profile] value is checked on its own here, used or not: all bad ones are in
 * the error, one line each ("FILE: [profile NAME] KEY='VALUE': expected ..."). */
VrHostConf *vr_host_conf_load(const char *path, GError **error);
void vr_host_conf_free(VrHostConf *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrHostConf, vr_host_conf_free)

const VrProfile *vr_host_conf_profile(const VrHostConf *c, const char *name);
const char *vr_profile_get(const VrProfile *p, const char *key);
/* The first rule matching a domain without metadata, or NULL. */
const VrRule *vr_host_conf_match_rule(const VrHostConf *c, const char *domain_name,
                                      const char *nova_flavor);

/* Whether a [rule] of the host config at PATH (NULL: the default path) could bind a
 * domain named NAME with Nova flavor FLAVOR (may be NULL), read leniently: for a file
 * vr_host_conf_load refuses, so that the hook can tell the domains a broken config
 * concerns. 1: a rule's globs match; 0: none could (or no file); -1: unknown (the file
 * is no key file at all, yet holds [rule] groups). */
int vr_host_conf_could_bind(const char *path, const char *name, const char *flavor);

/* Write COST into the [calibration] group of the host config at PATH (created if
 * missing), keeping every other group, key and comment; atomically. */
bool vr_host_conf_store_calibration(const char *path, const VrPacketCost *cost, GError **error);

extern const char *const vr_mode_names[]; /* indexed by VrMode, NULL-terminated */
const char *vr_mode_to_string(VrMode m);
int vr_mode_from_string(const char *s); /* -1 if unknown */

/* Keys a [profile] group may hold, NULL-terminated. */
extern const char *const vr_profile_keys[];
