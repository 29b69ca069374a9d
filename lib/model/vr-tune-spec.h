/* The tuning spec: what virt-router-tune needs of a domain, as the hook hands it over
 * (STATE_DIR/DOMAIN.spec.json) and `virt-router spec` prints it. Made from domain XML
 * on the libxml2 side (lib/xml/vr-spec.h); written and read here, below both, so the
 * tuner never loads libxml2 and the two sides share one definition of the form. */
#pragma once

#include <sys/types.h>

#include "vr-policy.h"

typedef struct {
        pid_t pid;        /* libvirt's process of the domain: QEMU, or a container's init */
        char **napi_devs; /* host netdevs whose NAPI threads are the router's (NULL-terminated) */
        VrPolicy *policy;
} VrTuneSpec;

VrTuneSpec *vr_tune_spec_new(void);
void vr_tune_spec_free(VrTuneSpec *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrTuneSpec, vr_tune_spec_free)

/* Caller frees. */
char *vr_tune_spec_to_json(const VrTuneSpec *s);
/* NULL with error (VR_ERROR_INVALID) saying which field is wrong. */
VrTuneSpec *vr_tune_spec_from_json(const char *text, GError **error);
