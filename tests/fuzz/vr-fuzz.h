/* What the libFuzzer harnesses share (tests/fuzz, docs/fuzzing.md). Each harness is one
 * LLVMFuzzerTestOneInput with an oracle: a broken oracle is a fault like a sanitizer
 * report, so it aborts with the reason, and libFuzzer keeps the input as crash-*. */
#pragma once

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VR_FUZZ_FAIL(...)                                                                                  \
        do {                                                                                               \
                fprintf(stderr, "vr-fuzz: oracle failed: " __VA_ARGS__);                                   \
                fputc('\n', stderr);                                                                       \
                abort();                                                                                   \
        } while (0)

/* A GLib critical or warning is a caller's broken precondition (g_return_if_fail): a
 * fault, as G_DEBUG=fatal-criticals makes it in make check. */
static inline void vr_fuzz_glib_fatal(void) {
        g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

/* The input as a C string: a copy, NUL-terminated, cut at the first NUL the way a
 * reader of a file through g_file_get_contents() and a char* API sees it. */
static inline char *vr_fuzz_cstr(const uint8_t *data, size_t size) {
        return g_strndup((const char *) data, size);
}

static char *vr_fuzz_tmp;

static inline int vr_fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st, (void) flag, (void) ftw;
        remove(path); /* best effort: a temp dir */
        return 0;
}

static inline void vr_fuzz_rm_tmp(void) {
        if (vr_fuzz_tmp)
                nftw(vr_fuzz_tmp, vr_fuzz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* The input as a file, plainly written: g_file_set_contents() syncs an existing file to
 * disk each time, which would cost more than the input's parse. */
static inline void vr_fuzz_write_file(const char *path, const uint8_t *data, size_t size) {
        FILE *f = fopen(path, "wb");
        if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
}

/* A private directory for the harnesses that need files (host config, ledger), removed
 * at exit (a crash leaves it for the post-mortem). */
static inline char *vr_fuzz_tmpdir(const char *what) {
        g_autoptr(GError) err = NULL;
        g_autofree char *tmpl = g_strdup_printf("vr-fuzz-%s-XXXXXX", what);
        char *dir = g_dir_make_tmp(tmpl, &err);
        if (!dir) {
                fprintf(stderr, "vr-fuzz: %s\n", err->message);
                exit(1);
        }
        vr_fuzz_tmp = dir;
        atexit(vr_fuzz_rm_tmp);
        return dir;
}
