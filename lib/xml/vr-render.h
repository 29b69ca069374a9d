/* `virt-router render`: a complete router domain from a template plus options. The
 * template supplies the skeleton and a default policy; the result goes through the same
 * apply path as any user's domain. */
#pragma once

#include <stdbool.h>

#include "vr-rewrite.h"

typedef struct {
        const char *template_name; /* kvm-macvtap, kvm-vf, lxc-macvlan, lxc-vf */
        const char *template_dir;  /* NULL: VIRT_ROUTER_TEMPLATE_DIR or the installed one */
        const char *name;          /* NULL: "router" */
        const char *type;          /* kvm|qemu for KVM templates; NULL: the template's */
        int vcpus;                 /* 0: template's */
        int memory_mib;            /* 0: template's */
        char **ports;              /* NAME[=DEV][,key=value...], NULL-terminated; NULL: template's */
        const char *cpus, *housekeeping, *placement, *profile;
        const char *policy_file;   /* a <vr:router> document replacing the template's policy */
        const char *image_dir;     /* NULL: host config image-dir */
        bool no_image;             /* boot nothing (tests that need only a running QEMU) */
        const char *init;          /* LXC: the container's init */
        const char *uuid;          /* NULL: the template's, else one derived from the name */
} VrRenderOptions;

/* Template names, NULL-terminated. */
extern const char *const vr_template_names[];
const char *vr_template_dir(const char *override);

char *vr_render(const VrRenderOptions *o, const VrRewriteOptions *apply, GError **error);

/* The namespace of the UUIDs render derives from domain names (RFC 9562 version 5: SHA-1
 * of namespace and name), fixed for the project: rendering a router again gives the same
 * <uuid>, so an edited copy can be defined over the one libvirt has. */
#define VR_UUID_NAMESPACE "b84af432-500e-4bb7-829d-c27f67704a1d"
/* The version 5 UUID of name in namespace ns (a UUID string), lower case; NULL if ns is
 * not a UUID. */
char *vr_uuid_v5(const char *ns, const char *name);
