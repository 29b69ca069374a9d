/* Starting a domain's tuner the way a hook must: fully detached (libvirt waits until
 * a hook's stdout and stderr close), as a sandboxed transient systemd unit where
 * systemd is PID 1, as a daemon elsewhere. */
#pragma once

#include "vr-macros.h"

typedef struct {
        const char *tune_path;  /* the virt-router-tune binary */
        const char *domain;
        const char *config;     /* host config path, or NULL */
        const char *state_dir;
        const char *spec;       /* tuning spec file (vr-tune-spec.h) */
} VrLaunchOptions;

/* Returns 0 once the tuner runs on its own, or -1 with error saying why it could not
 * start (its own message when it refused the domain). */
int vr_tuner_launch(const VrLaunchOptions *o, GError **error);
/* Stop a domain's tuner: SIGTERM to the process its pid file names (vr-state.h), if
 * that process still runs under ROOT (start time, or the tuner's name for an old file),
 * through a pidfd. 0, -ENOENT (no pid file), -ESRCH (gone, or the pid is another
 * process's now), -EINVAL (no pid in the file), or the signal's -errno. */
int vr_tuner_stop(const char *root, const char *state_dir, const char *domain);
/* systemd's unit name escaping: "vr-1" -> "vr\x2d1". Caller frees. */
char *vr_unit_escape(const char *s);
