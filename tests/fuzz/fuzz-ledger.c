/* The ledger reader (lib/host/vr-ledger.c) on arbitrary text as STATE_DIR/ledger, in a
 * private state directory, under an empty root (no process is alive there). Oracle: a
 * ledger that opens, saved and opened again, opens and saves the same text: save and
 * reopen keep every entry, with its pid, CPUs, VFs and deadline bandwidth. */
#include "config.h"

#include "vr-fuzz.h"
#include "vr-ledger.h"

static char *root, *state_dir, *ledger_path;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        char *dir = vr_fuzz_tmpdir("ledger");

        (void) argc, (void) argv;
        vr_fuzz_glib_fatal();
        root = g_build_filename(dir, "root", NULL);
        state_dir = g_build_filename(dir, "state", NULL);
        ledger_path = g_build_filename(state_dir, "ledger", NULL);
        if (g_mkdir_with_parents(root, 0755) < 0 || g_mkdir_with_parents(state_dir, 0755) < 0) {
                perror("vr-fuzz: mkdir");
                exit(1);
        }
        return 0;
}

static char *saved(VrLedger *l) {
        g_autoptr(GError) err = NULL;
        char *text = NULL;

        if (!vr_ledger_save(l, &err))
                VR_FUZZ_FAIL("a ledger that opened cannot be saved: %s", err->message);
        if (!g_file_get_contents(ledger_path, &text, NULL, &err))
                VR_FUZZ_FAIL("the saved ledger cannot be read: %s", err->message);
        return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autoptr(VrLedger) l = NULL, again = NULL;
        g_autoptr(GError) err = NULL;
        g_autofree char *t1 = NULL, *t2 = NULL;

        vr_fuzz_write_file(ledger_path, data, size);
        l = vr_ledger_open(root, state_dir, 0, &err);
        if (!l) {
                if (!err || !err->message || !*err->message)
                        VR_FUZZ_FAIL("the ledger failed to open without a message");
                return 0;
        }
        t1 = saved(l);
        g_clear_pointer(&l, vr_ledger_close);
        again = vr_ledger_open(root, state_dir, 0, &err);
        if (!again)
                VR_FUZZ_FAIL("the ledger saved does not open: %s\n%s", err->message, t1);
        t2 = saved(again);
        if (!g_str_equal(t1, t2))
                VR_FUZZ_FAIL("save -> open -> save differs\n--- first:\n%s--- second:\n%s", t1, t2);
        return 0;
}
