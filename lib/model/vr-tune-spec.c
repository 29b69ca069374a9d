#include "config.h"

#include <limits.h>

#include "vr-error.h"
#include "vr-json.h"
#include "vr-tune-spec.h"

/* The spec's own keys, for the writer and the reader; the policy's are vr-policy.c's. */
#define KEY_PID "pid"
#define KEY_NAPI "napi_devs"
#define KEY_POLICY "policy"

VrTuneSpec *vr_tune_spec_new(void) {
        VrTuneSpec *s = g_new0(VrTuneSpec, 1);
        s->napi_devs = g_new0(char *, 1);
        return s;
}

void vr_tune_spec_free(VrTuneSpec *s) {
        if (!s)
                return;
        g_strfreev(s->napi_devs);
        vr_policy_free(s->policy);
        g_free(s);
}

char *vr_tune_spec_to_json(const VrTuneSpec *s) {
        g_autoptr(VrJson) j = vr_json_new();

        vr_json_begin_object(j);
        vr_json_key(j, KEY_PID);
        vr_json_int(j, s->pid);
        vr_json_key(j, KEY_NAPI);
        vr_json_begin_array(j);
        for (char **d = s->napi_devs; d && *d; d++)
                vr_json_string(j, *d);
        vr_json_end_array(j);
        vr_json_key(j, KEY_POLICY);
        vr_policy_write_json(j, s->policy);
        vr_json_end_object(j);
        return vr_json_finish(j);
}

static VrTuneSpec *fail(GError **error, const char *what) {
        g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "tuning spec: %s", what);
        return NULL;
}

VrTuneSpec *vr_tune_spec_from_json(const char *text, GError **error) {
        g_autoptr(VrTuneSpec) s = vr_tune_spec_new();
        g_autoptr(VrJsonNode) n = vr_json_parse(text, error);
        g_autoptr(GPtrArray) devs = g_ptr_array_new_with_free_func(g_free);
        const VrJsonNode *pid, *napi, *pol;
        int64_t v = 0;

        if (!n) {
                g_prefix_error(error, "tuning spec: ");
                return NULL;
        }
        if (n->type != VR_JSON_OBJECT)
                return fail(error, "expected an object with pid, napi_devs and policy");
        for (guint i = 0; i < n->keys->len; i++) {
                const char *k = n->keys->pdata[i];
                if (!g_str_equal(k, KEY_PID) && !g_str_equal(k, KEY_NAPI) && !g_str_equal(k, KEY_POLICY)) {
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "tuning spec: %s: unknown key", k);
                        return NULL;
                }
        }
        pid = vr_json_member(n, KEY_PID);
        if (pid && vr_json_get_int(pid, 0, INT_MAX, &v) < 0)
                return fail(error, KEY_PID ": expected a process id");
        s->pid = (pid_t) v;
        napi = vr_json_member(n, KEY_NAPI);
        if (napi && napi->type != VR_JSON_ARRAY)
                return fail(error, KEY_NAPI ": expected an array of netdev names");
        for (guint i = 0; napi && i < napi->items->len; i++) {
                const VrJsonNode *d = napi->items->pdata[i];
                if (d->type != VR_JSON_STRING)
                        return fail(error, KEY_NAPI ": expected an array of netdev names");
                g_ptr_array_add(devs, g_strdup(d->string));
        }
        g_ptr_array_add(devs, NULL);
        g_strfreev(s->napi_devs);
        s->napi_devs = (char **) g_ptr_array_free(g_steal_pointer(&devs), FALSE);
        pol = vr_json_member(n, KEY_POLICY);
        if (!pol)
                return fail(error, "no policy");
        s->policy = vr_policy_from_json(pol, error);
        if (!s->policy) {
                g_prefix_error(error, "tuning spec: ");
                return NULL;
        }
        return g_steal_pointer(&s);
}
