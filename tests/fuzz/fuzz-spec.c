/* The tuner's spec reader (vr_tune_spec_from_json) on arbitrary text, as it reads
 * STATE_DIR/DOMAIN.spec.json. Oracle: a spec it reads, written again, reads back and
 * writes the same text (write -> read -> write), so the hook and the tuner agree on
 * every field that the reader accepts. */
#include "config.h"

#include "vr-fuzz.h"
#include "vr-tune-spec.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc, (void) argv;
        vr_fuzz_glib_fatal();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *text = vr_fuzz_cstr(data, size);
        g_autofree char *w1 = NULL, *w2 = NULL;
        g_autoptr(VrTuneSpec) s = NULL, back = NULL;
        g_autoptr(GError) err = NULL;

        s = vr_tune_spec_from_json(text, &err);
        if (!s) {
                if (!err || !err->message || !*err->message)
                        VR_FUZZ_FAIL("the reader failed without a message");
                return 0;
        }
        w1 = vr_tune_spec_to_json(s);
        back = vr_tune_spec_from_json(w1, &err);
        if (!back)
                VR_FUZZ_FAIL("the reader refuses what the writer wrote: %s\n%s", err->message, w1);
        w2 = vr_tune_spec_to_json(back);
        if (!g_str_equal(w1, w2))
                VR_FUZZ_FAIL("write -> read -> write differs\n--- first:\n%s--- second:\n%s", w1, w2);
        return 0;
}
