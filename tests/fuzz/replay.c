/* A libFuzzer harness without libFuzzer: each input of its committed corpus and of the
 * faults fixed (or the files and directories given) once, through the harness and its
 * oracle. make check
 * builds it with the project's compiler, so the corpora are regression tests on every
 * build, under the sanitizer pass too, with no clang needed; `make fuzz` is libFuzzer. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned replayed;

static void replay_file(const char *path) {
        g_autoptr(GError) err = NULL;
        g_autofree char *text = NULL;
        g_autofree uint8_t *data = NULL;
        gsize len = 0;

        if (!g_file_get_contents(path, &text, &len, &err)) {
                fprintf(stderr, "replay: %s\n", err->message);
                exit(99);
        }
        /* Exactly the input's bytes, no NUL after them, as libFuzzer passes it: a read
         * past the end is an error under ASan and valgrind. */
        data = g_memdup2(text, len ? len : 1);
        if (g_getenv("VR_FUZZ_VERBOSE"))
                fprintf(stderr, "replay: %s\n", path);
        LLVMFuzzerTestOneInput(data, len);
        replayed++;
}

static void replay_path(const char *path) {
        g_autoptr(GDir) dir = NULL;
        g_autoptr(GPtrArray) names = NULL;
        const char *n;

        if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
                replay_file(path);
                return;
        }
        dir = g_dir_open(path, 0, NULL);
        names = g_ptr_array_new_with_free_func(g_free);
        while (dir && (n = g_dir_read_name(dir)))
                g_ptr_array_add(names, g_build_filename(path, n, NULL));
        g_ptr_array_sort(names, (GCompareFunc) g_strcmp0); /* a stable order to bisect by */
        for (guint i = 0; i < names->len; i++)
                replay_file(names->pdata[i]);
}

/* tests/fuzz/fixed/NAME-*: the inputs of faults fixed, kept apart from the corpus, which
 * a merge minimises by coverage and could drop them from. */
static void replay_fixed(const char *fixed) {
        g_autoptr(GDir) dir = g_dir_open(fixed, 0, NULL);
        g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
        const char *n;

        while (dir && (n = g_dir_read_name(dir)))
                if (g_str_has_prefix(n, VR_FUZZ_NAME "-"))
                        g_ptr_array_add(names, g_build_filename(fixed, n, NULL));
        g_ptr_array_sort(names, (GCompareFunc) g_strcmp0);
        for (guint i = 0; i < names->len; i++)
                replay_file(names->pdata[i]);
}

int main(int argc, char **argv) {
        const char *top = g_getenv("top_srcdir");
        g_autofree char *corpus = g_build_filename(top ? top : ".", "tests", "fuzz", "corpus", VR_FUZZ_NAME, NULL);
        g_autofree char *fixed = g_build_filename(top ? top : ".", "tests", "fuzz", "fixed", NULL);

        LLVMFuzzerInitialize(&argc, &argv);
        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        replay_path(argv[i]);
        } else if (g_file_test(corpus, G_FILE_TEST_IS_DIR)) {
                replay_path(corpus);
                replay_fixed(fixed);
        } else {
                fprintf(stderr, "replay: no corpus %s (set top_srcdir)\n", corpus);
                return 99;
        }
        printf("fuzz-%s: %u inputs replayed, every oracle held\n", VR_FUZZ_NAME, replayed);
        return replayed ? 0 : 99;
}
