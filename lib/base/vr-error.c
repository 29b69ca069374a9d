#include "config.h"

#include "vr-error.h"

G_DEFINE_QUARK(virt-router-error-quark, vr_error)
