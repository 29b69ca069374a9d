/* One GError domain for the library; the codes map to the CLI's exit codes. */
#pragma once

#include <glib.h>

#define VR_ERROR (vr_error_quark())
GQuark vr_error_quark(void);

typedef enum {
        VR_ERROR_INVALID = 1, /* bad input: policy, XML, options (exit 1) */
        VR_ERROR_USAGE = 2,   /* command line misuse (exit 2) */
        VR_ERROR_HOST = 3,    /* host/system state (exit 3) */
        VR_ERROR_CONFLICT = 4, /* the policy conflicts with the domain's own devices (exit 1), not a
                                * question of this host: check reports it as apply does */
} VrErrorCode;
