/* The tuning spec: what virt-router-tune needs of a domain (its policy as JSON, its
 * process, the netdevs whose NAPI threads are its), made from the domain XML on the
 * libxml2 side so the long-running tuner does not load libxml2 at all. Its JSON form
 * is lib/model/vr-tune-spec.h's, which the tuner reads. */
#pragma once

#include <sys/types.h>
#include <libxml/tree.h>

#include "vr-hostconf.h"
#include "vr-policy.h"

/* From a domain XML or libvirt's status XML (file NULL: ROOT/run/libvirt/{qemu,lxc}/
 * DOMAIN.xml). pid: libvirt's pid of the domain (QEMU, or a container's libvirt_lxc
 * controller, whose child the container's init is), 0 to take it from the status XML
 * or libvirt's pid file. Caller frees the JSON text. */
char *vr_tune_spec_from_file(const char *root, const char *domain, const char *file, pid_t pid,
                             const VrHostConf *conf, GError **error);
/* From a parsed domain XML (the hook's stdin). */
char *vr_tune_spec_from_doc(const char *root, xmlDoc *doc, const char *what, pid_t pid,
                            const VrHostConf *conf, GError **error);
/* From a domain XML and its policy, parsed already (the hook parses once). */
char *vr_tune_spec_from_policy(const char *root, xmlDoc *doc, const VrPolicy *policy, pid_t pid);

/* Host netdevs given to a container as VF ports (<hostdev> with a ua-vr- alias): their
 * NAPI kthreads are the router's. NULL-terminated; g_strfreev. */
char **vr_domain_napi_devices(xmlDoc *doc);
