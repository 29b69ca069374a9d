/* What `virt-router apply --domain` needs of libvirt, and the diff it shows. The only
 * code that includes libvirt's headers: the library (and so the tuner and the hook)
 * never links libvirt. */
#pragma once

#include <stdbool.h>
#include <glib.h>

typedef struct VrLibvirtDomain VrLibvirtDomain;

/* The URI as virsh picks it: the option, else LIBVIRT_DEFAULT_URI, else qemu:///system. */
const char *vr_libvirt_uri(const char *option);

/* Connect to vr_libvirt_uri(uri_option) and look up the persistent domain `name`. Errors
 * (VR_ERROR_HOST) name the domain and carry libvirt's message; a domain not found on the
 * default URI adds that a container needs -c lxc:///system. */
VrLibvirtDomain *vr_libvirt_domain_open(const char *uri_option, const char *name, GError **error);
void vr_libvirt_domain_free(VrLibvirtDomain *d);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrLibvirtDomain, vr_libvirt_domain_free)

/* The persistent definition; with secure, with its secrets (a redefine without them
 * would lose e.g. a graphics password), which must never be shown. */
char *vr_libvirt_domain_xml(VrLibvirtDomain *d, bool secure, GError **error);
/* Define xml over the domain (libvirt validates it against its schema first). */
bool vr_libvirt_domain_define(VrLibvirtDomain *d, const char *xml, GError **error);
bool vr_libvirt_domain_is_active(VrLibvirtDomain *d);

/* Print a unified diff of old and new to standard output, labelled a/NAME.xml and
 * b/NAME.xml. */
bool vr_diff_print(const char *name, const char *old_xml, const char *new_xml, GError **error);
