/* Shared by the data-driven test programs: paths under tests/data, expected files that
 * VR_TEST_REGENERATE=1 rewrites, and one case per forked child. */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <sys/types.h>

#include "vr-hostconf.h"
#include "vr-policy.h"
#include "vr-xml.h"

/* $top_srcdir/tests/data/SUB/NAME */
char *vr_test_data_path(const char *sub, const char *name);
/* $top_srcdir/tests/data/SUB/BASE + SUFFIX */
char *vr_test_case_file(const char *sub, const char *base, const char *suffix);
bool vr_test_regenerate(void);
/* Compare `got` with the file at path (or rewrite it when regenerating; then the
 * file at other_path, the other kind of expectation, is removed). */
bool vr_test_check_expected(const char *case_name, const char *path, const char *got,
                            const char *other_path);
/* Expected error or output: if the case's .err exists an error is wanted. */
bool vr_test_check_result(const char *case_name, const char *exp_path, const char *err_path,
                          const char *out, const char *error_message);
/* Names BASE of files SUB/BASE+SUFFIX, sorted; those ending in EXCLUDE are skipped. */
GPtrArray *vr_test_list_cases(const char *sub, const char *suffix, const char *exclude);
/* The host config case SUB/BASE is applied with: the file its BASE.render names
 * (config=), else SUB/BASE.conf, else SUB/host.conf, else the built-in defaults. NULL
 * when that file does not load (said on stderr). */
VrHostConf *vr_test_case_conf(const char *sub, const char *base);
/* The same, with the reason a config does not load, for cases that expect it to fail. */
VrHostConf *vr_test_case_conf_error(const char *sub, const char *base, GError **error);
/* The case file at PATH (a key file), or NULL said on stderr naming CASE_NAME. */
GKeyFile *vr_test_load_case(const char *case_name, const char *path);
/* A tuner case (tests/data/tune/NAME.case, tests/data/tune-ops/NAME.case): the fake
 * tree of tests/data/proc, the domain's pid, its domain XML and host config of
 * tests/data/tune (config=, default host.conf, else the built-in defaults). */
typedef struct {
        char *tree, *domain;
        pid_t pid;
        VrHostConf *conf;
} VrTestTuneCase;
void vr_test_tune_case_clear(VrTestTuneCase *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(VrTestTuneCase, vr_test_tune_case_clear)
/* The case file at PATH into *RET: its key file for the case's own keys, or NULL said
 * on stderr (a key missing, a config that does not load). */
GKeyFile *vr_test_load_tune_case(const char *case_name, const char *path, VrTestTuneCase *ret);
/* tests/data/SUB/NAME, a domain XML, and its policy under CONF: the document, or NULL
 * (said on stderr, naming CASE_NAME) when it cannot be read or parsed or is no router.
 * *ret_xml (may be NULL) gets the text. */
xmlDoc *vr_test_read_router(const char *case_name, const char *sub, const char *name, const VrHostConf *conf,
                            VrPolicy **ret_policy, char **ret_xml);
/* Run fn(base) in a child: a crash fails that case, not the suite. */
bool vr_test_run_forked(bool (*fn)(const char *base), const char *base);

/* A test program's run: `only` (its argument) names the one case to run, else all. */
typedef struct {
        const char *only;
        unsigned passed, failed;
} VrTestRun;

/* fn on each of the cases (each in a forked child), printing PASS: or FAIL: and
 * PREFIX NAME for each, and counting them in run. */
void vr_test_run_cases(VrTestRun *run, const char *prefix, GPtrArray *cases, bool (*fn)(const char *name));
/* Prints the counts; returns the exit status: 1 when a case failed or none ran. */
int vr_test_summary(const VrTestRun *run);
/* Paths of the source tree in messages become relative, so expected files do not
 * depend on where the checkout is. */
char *vr_test_relative(const char *msg);
