/* The policy parser and apply (vr_rewrite_xml) on the input as a domain XML, with the
 * apply tests' host config and fake SR-IOV tree. Oracles:
 *  - a domain without a policy, or one already as its policy says, comes back byte for
 *    byte (README: "passes through byte for byte");
 *  - apply is idempotent: applying again to what apply wrote succeeds, changes nothing
 *    and returns the same bytes (apply(apply(x)) == apply(x)).
 * The input is passed with its length and no NUL after it, as the hook reads it. */
#include "config.h"

#include "vr-error.h"
#include "vr-fuzz.h"
#include "vr-hostconf.h"
#include "vr-policy.h"
#include "vr-rewrite.h"

static VrHostConf *conf;
static VrRewriteOptions opts;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        g_autoptr(GError) err = NULL;

        (void) argc, (void) argv;
        vr_fuzz_glib_fatal();
        conf = vr_host_conf_load(VR_FUZZ_DATADIR "/xml/host.conf", &err);
        if (!conf) {
                fprintf(stderr, "vr-fuzz: %s\n", err->message);
                exit(1);
        }
        opts = (VrRewriteOptions){conf, VR_FUZZ_DATADIR "/sysroot/sriov", "fuzz.xml"};
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *out = NULL, *again = NULL;
        g_autoptr(VrPolicy) policy = NULL;
        g_autoptr(GError) err = NULL;
        size_t len = 0, len2 = 0;
        int r, r2;

        r = vr_rewrite_xml((const char *) data, size, &opts, &out, &len, &policy, &err);
        if (r < 0) {
                if (!err || !err->message || !*err->message)
                        VR_FUZZ_FAIL("apply failed without a message");
                return 0;
        }
        if ((r == VR_REWRITE_NOT_ROUTER) != (policy == NULL))
                VR_FUZZ_FAIL("apply returned %d with%s a policy", r, policy ? "" : "out");
        if (r != VR_REWRITE_CHANGED && (len != size || memcmp(out, data, size) != 0))
                VR_FUZZ_FAIL("apply returned %d (nothing to change) but not the input bytes", r);
        if (r == VR_REWRITE_NOT_ROUTER)
                return 0;
        r2 = vr_rewrite_xml(out, len, &opts, &again, &len2, NULL, &err);
        if (r2 < 0)
                VR_FUZZ_FAIL("apply refuses what it wrote: %s\n--- first apply:\n%.*s", err->message, (int) len, out);
        if (r2 != VR_REWRITE_UNCHANGED || len2 != len || memcmp(again, out, len) != 0)
                VR_FUZZ_FAIL("apply is not idempotent (second apply returned %d)\n--- first apply:\n%.*s\n--- second:\n%.*s",
                             r2, (int) len, out, (int) len2, again);
        return 0;
}
