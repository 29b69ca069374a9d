/* A small JSON writer (--json output, state files, the ledger, the tuner spec) and a
 * reader for what it wrote (VrJsonNode trees). */
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

/* Reading JSON back (state files): a small tree, enough for what virt-router writes.
 * Strict: RFC 8259 numbers only (no NaN, Infinity or hex; a number too large for a
 * double reads as infinite, for the reader of its field to refuse), and an object with
 * a member name twice is refused (which one counts would be a guess). */
typedef enum {
        VR_JSON_NULL, VR_JSON_BOOL, VR_JSON_NUMBER, VR_JSON_STRING, VR_JSON_ARRAY, VR_JSON_OBJECT,
} VrJsonType;

typedef struct VrJsonNode VrJsonNode;
struct VrJsonNode {
        VrJsonType type;
        bool boolean;
        double number;
        char *string;
        GPtrArray *items; /* ARRAY: VrJsonNode*; OBJECT: values, keys in `keys` */
        GPtrArray *keys;  /* OBJECT: char* */
};

VrJsonNode *vr_json_parse(const char *text, GError **error);
void vr_json_node_free(VrJsonNode *n);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrJsonNode, vr_json_node_free)
/* Member of an object, NULL if absent or n is no object. */
const VrJsonNode *vr_json_member(const VrJsonNode *n, const char *key);
const char *vr_json_member_string(const VrJsonNode *n, const char *key); /* NULL unless a string */
/* A number as a whole number from MIN to MAX: 0 and *ret set; -EINVAL when V is no
 * number, -ERANGE when it is not whole or outside MIN..MAX (1e30 and 1e999 too: such a
 * double is never converted, a cast out of range being undefined). JSON numbers are
 * doubles, whole ones exact up to 2^53: bounds beyond that are taken as +-2^53
 * (VR_JSON_INT_MAX). */
#define VR_JSON_INT_MAX 9007199254740992LL /* 2^53 */
int vr_json_get_int(const VrJsonNode *v, int64_t min, int64_t max, int64_t *ret) _must_check_;
/* The member KEY likewise; -ENOENT when there is none (*ret untouched). */
int vr_json_member_int(const VrJsonNode *n, const char *key, int64_t min, int64_t max, int64_t *ret) _must_check_;
bool vr_json_member_bool(const VrJsonNode *n, const char *key, bool dflt);
