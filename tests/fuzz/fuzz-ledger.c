/* The ledger reader (lib/host/vr-ledger.c) on arbitrary text as STATE_DIR/ledger, in a
 * private state directory, under an empty root (no process is alive there). Oracles, for
 * a ledger that opens:
 *  - saved and opened again, it opens and saves the same text: save and reopen keep every
 *    entry, with its pid, CPUs, VFs and deadline bandwidth;
 *  - it was read as written: each field of each entry is saved with the value the input
 *    gave it. A value the reader cannot keep (a pid past pid_t, a fraction, "cpus": 2, a
 *    VF that is no string) must make the ledger corrupt, never a different reservation;
 *  - no domain has two entries (issue 15, kind 4). */
#include "config.h"

#include "vr-cpuset.h"
#include "vr-fuzz.h"
#include "vr-json.h"
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

static bool same_value(const char *key, const VrJsonNode *a, const VrJsonNode *b) {
        if (a->type != b->type)
                return false;
        switch (a->type) {
        case VR_JSON_NULL:
                return true;
        case VR_JSON_BOOL:
                return a->boolean == b->boolean;
        case VR_JSON_NUMBER:
                return a->number == b->number;
        case VR_JSON_STRING:
                if (g_str_equal(key, "cpus")) { /* written canonical: "0,1" comes back "0-1" */
                        g_autoptr(VrCpuSet) x = NULL, y = NULL;
                        return vr_cpuset_parse(a->string, &x) == 0 && vr_cpuset_parse(b->string, &y) == 0 &&
                               vr_cpuset_equal(x, y);
                }
                return g_str_equal(a->string, b->string);
        case VR_JSON_ARRAY:
                if (a->items->len != b->items->len)
                        return false;
                for (guint i = 0; i < a->items->len; i++)
                        if (!same_value(key, a->items->pdata[i], b->items->pdata[i]))
                                return false;
                return true;
        case VR_JSON_OBJECT:
                if (a->keys->len != b->keys->len)
                        return false;
                for (guint i = 0; i < a->keys->len; i++) {
                        const VrJsonNode *m = vr_json_member(b, a->keys->pdata[i]);
                        if (!m || !same_value(a->keys->pdata[i], a->items->pdata[i], m))
                                return false;
                }
                return true;
        }
        return false;
}

/* Each entry's fields as the input wrote them (fields the ledger does not know aside). */
static void check_as_written(const char *input, const char *saved_text) {
        static const char *const fields[] = {"domain", "driver", "pid", "pid_start", "since_us", "cpus", "vfs",
                                             "deadline_ppm", NULL};
        g_autoptr(VrJsonNode) in = vr_json_parse(input, NULL);
        g_autoptr(VrJsonNode) out = vr_json_parse(saved_text, NULL);
        const VrJsonNode *li = vr_json_member(in, "domains"), *lo = vr_json_member(out, "domains");
        g_autoptr(GHashTable) names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

        if (!li || !lo || li->type != VR_JSON_ARRAY || lo->type != VR_JSON_ARRAY)
                VR_FUZZ_FAIL("a ledger that opened has no domains list, or its save has none");
        if (li->items->len != lo->items->len)
                VR_FUZZ_FAIL("%u entries read, %u saved", li->items->len, lo->items->len);
        for (guint i = 0; i < li->items->len; i++) {
                const VrJsonNode *ei = li->items->pdata[i], *eo = lo->items->pdata[i];
                const char *name = vr_json_member_string(eo, "domain");
                /* The second entry of a domain would hold its reservations forever:
                 * release and reserve drop the first only. */
                if (!name || !g_hash_table_add(names, g_strdup(name)))
                        VR_FUZZ_FAIL("entry %u: domain '%s' has two entries", i, name ? name : "(none)");
                for (guint k = 0; ei->type == VR_JSON_OBJECT && k < ei->keys->len; k++) {
                        const char *key = ei->keys->pdata[k];
                        const VrJsonNode *vo = vr_json_member(eo, key);
                        if (!g_strv_contains(fields, key))
                                continue;
                        if (!vo || !same_value(key, ei->items->pdata[k], vo))
                                VR_FUZZ_FAIL("entry %u: \"%s\" was read as something else than written\n--- saved:\n%s",
                                             i, key, saved_text);
                }
        }
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
        {
                g_autofree char *input = vr_fuzz_cstr(data, size);
                check_as_written(input, t1);
        }
        again = vr_ledger_open(root, state_dir, 0, &err);
        if (!again)
                VR_FUZZ_FAIL("the ledger saved does not open: %s\n%s", err->message, t1);
        t2 = saved(again);
        if (!g_str_equal(t1, t2))
                VR_FUZZ_FAIL("save -> open -> save differs\n--- first:\n%s--- second:\n%s", t1, t2);
        return 0;
}
