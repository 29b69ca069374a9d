/* Small attribute macros shared by every part of virt-router. */
#pragma once

#include <glib.h>

#define _must_check_ G_GNUC_WARN_UNUSED_RESULT
#define _printf_(a, b) G_GNUC_PRINTF(a, b)
#define _unused_ G_GNUC_UNUSED
#define _pure_ G_GNUC_PURE

#define VR_NS "urn:virt-router:1"
#define VR_NS_PREFIX "urn:virt-router:"
#define VR_ALIAS_PREFIX "ua-vr-"
