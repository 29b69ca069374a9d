/* The state directory (host config state-dir, /run/virt-router by default): the one
 * module that names its files, writes them atomically and removes a domain's. No other
 * code spells a state file's name.
 *
 *   DOMAIN.json        tuner state: threads, plan, errors   tuner writes, `status` reads
 *   DOMAIN.tuner.pid   the tuner's pid and start time       tuner writes, hook reads
 *   DOMAIN.spec.json   the tuning spec for the tuner        hook writes, tuner reads
 *   DOMAIN.hook.json   host changes the hook made, to undo  hook writes and reads
 *   ledger             reservations of every router         hook (lib/host/vr-ledger)
 *   ledger.lock        the ledger's flock                   hook
 *
 * Paths are STATE_DIR/NAME with no root prefix: the state directory is ours, not a
 * host attribute. Writes go to a hidden temporary file in the same directory that is
 * renamed over the file, so a reader sees the old or the new text, never a mixture. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "vr-macros.h"
#include "vr-proc.h"

typedef enum {
        VR_STATE_TUNER,       /* DOMAIN.json */
        VR_STATE_TUNER_PID,   /* DOMAIN.tuner.pid */
        VR_STATE_SPEC,        /* DOMAIN.spec.json */
        VR_STATE_HOOK,        /* DOMAIN.hook.json */
        VR_STATE_LEDGER,      /* ledger: one for the host, no domain */
        VR_STATE_LEDGER_LOCK, /* ledger.lock */
        VR_STATE_FILE_COUNT
} VrStateFile;

/* The longest domain name a state file can be named after: NAME_MAX less the longest
 * suffix (".tuner.pid") and what a temporary file adds (".NAME.XXXXXX"). */
#define VR_STATE_DOMAIN_MAX (NAME_MAX - 10 - 8)
/* Why DOMAIN cannot name files in the state directory, NULL when it can: a name becomes
 * part of a path, so it must not hold a '/', be "." or "..", begin with '.' (the
 * directory's temporary files do) or be longer than VR_STATE_DOMAIN_MAX bytes. */
const char *vr_state_domain_problem(const char *domain);
/* STATE_DIR/DOMAIN.SUFFIX, or STATE_DIR/NAME for the host's files (DOMAIN unused, may
 * be NULL). Caller frees. NULL when DOMAIN cannot name a file
 * (vr_state_domain_problem): every function here refuses such a name (-EINVAL, or
 * VR_ERROR_INVALID naming it) rather than build a path out of it. */
char *vr_state_path(const char *state_dir, VrStateFile f, const char *domain);
/* The kind and domain of a file name in the state directory ("vr1.tuner.pid" ->
 * VR_STATE_TUNER_PID, "vr1"). Per-domain files only; false for anything else (the
 * ledger, temporary files, other files). *ret_domain: caller frees. */
bool vr_state_name_parse(const char *name, VrStateFile *ret_f, char **ret_domain);
/* Names of the domains that have file F in STATE_DIR, sorted; empty when the
 * directory does not exist. */
GPtrArray *vr_state_domains(const char *state_dir, VrStateFile f);

/* Replace the file with TEXT: STATE_DIR is made (0755) if missing, TEXT goes to a
 * temporary file there (0644) that is renamed over the file. Durable kinds (pid,
 * spec, hook record, ledger) are fsynced, file and directory, before this returns:
 * they record what the host holds and are written once per start or stop. The tuner
 * state is not: it is rewritten on every thread event and only `status` reads it. On
 * failure no temporary file is left; the error (VR_ERROR_HOST) names the file, the
 * domain when there is one, and the cause. */
bool vr_state_write(const char *state_dir, VrStateFile f, const char *domain, const char *text, GError **error);
/* The whole file: 0, -ENOENT when it does not exist, or another -errno. */
int vr_state_read(const char *state_dir, VrStateFile f, const char *domain, char **ret_text) _must_check_;
/* Remove one file: 0 also when it was not there, else -errno. */
int vr_state_remove(const char *state_dir, VrStateFile f, const char *domain);
/* Remove every per-domain file of DOMAIN, and temporary files a crash left behind. */
void vr_state_remove_domain(const char *state_dir, const char *domain);
/* Remove the temporary files (".NAME.XXXXXX") a writer of file F killed mid-write left:
 * call it only where no other writer of F can be at work (the ledger: under its lock). */
void vr_state_remove_temporaries(const char *state_dir, VrStateFile f, const char *domain);

/* The tuner's comm: "virt-router-tune" as the kernel keeps it (15 bytes). */
#define VR_TUNER_COMM "virt-router-tun"

/* Pid files hold two lines, the pid and its start time (VrProcId), read from
 * ROOT/proc/PID/stat when written; a process that cannot be read there is recorded by
 * its pid alone. Files of older versions hold only the pid and still read: a tuner's
 * then names the tuner only while that process is called VR_TUNER_COMM. */
bool vr_state_write_pid(const char *root, const char *state_dir, VrStateFile f, const char *domain, pid_t pid,
                        GError **error);
/* 0, -ENOENT (no file), -EINVAL (no pid in it). */
int vr_state_read_pid(const char *state_dir, VrStateFile f, const char *domain, VrProcId *ret) _must_check_;
/* Whether the process the pid file names runs under ROOT (vr_proc_id_alive: a pid
 * reused by another process reads as gone). *ret_id (may be NULL) is set when it does. */
bool vr_state_pid_alive(const char *root, const char *state_dir, VrStateFile f, const char *domain,
                        VrProcId *ret_id);
