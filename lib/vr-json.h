/* A small JSON writer for --json output and state files (no parser needed). */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-macros.h"

typedef struct VrJson VrJson;

VrJson *vr_json_new(void);
void vr_json_free(VrJson *j);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrJson, vr_json_free)

void vr_json_begin_object(VrJson *j);
void vr_json_end_object(VrJson *j);
void vr_json_begin_array(VrJson *j);
void vr_json_end_array(VrJson *j);
/* Inside an object: the next value's key. */
void vr_json_key(VrJson *j, const char *key);
void vr_json_string(VrJson *j, const char *s); /* NULL writes null */
void vr_json_int(VrJson *j, int64_t v);
void vr_json_uint(VrJson *j, uint64_t v);
void vr_json_double(VrJson *j, double v);
void vr_json_bool(VrJson *j, bool v);
/* The document so far, two-space indented, ending in a newline. Caller frees. */
char *vr_json_finish(VrJson *j);
