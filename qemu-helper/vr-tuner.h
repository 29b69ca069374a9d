/* One tuning session for one domain: what virt-router-tune runs. Loads the domain and
 * its policy, finds the threads, plans, applies what changed, and writes the state file
 * read by `virt-router status`. The event loop lives in the program; this is the part
 * tests can drive. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vr-apply.h"
#include "vr-hostconf.h"
#include "vr-policy.h"

typedef struct {
        const char *root;      /* "/" on a host */
        const char *domain;    /* name, checked against the spec; NULL: the spec's */
        const char *spec;      /* the tuning spec (JSON text, see vr-spec.h) */
        pid_t pid;             /* 0: the spec's */
        const VrHostConf *conf;
        const char *state_dir; /* NULL: conf->state_dir */
        const VrHostOps *ops;  /* thread changes; NULL: the real host */
} VrTunerOptions;

typedef struct VrTuner VrTuner;



/* Returns NULL with error (VR_ERROR_INVALID: the spec; VR_ERROR_HOST: the process or
 * the host). */
VrTuner *vr_tuner_new(const VrTunerOptions *o, GError **error);
void vr_tuner_free(VrTuner *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrTuner, vr_tuner_free)

pid_t vr_tuner_pid(const VrTuner *t);
const char *vr_tuner_domain(const VrTuner *t);
const VrPolicy *vr_tuner_policy(const VrTuner *t);

/* Find every thread again, plan, apply what changed. Returns the number of threads
 * whose action failed (their errors go into the state). -ESRCH: the domain is gone. */
int vr_tuner_refresh(VrTuner *t);
/* A thread was created or renamed (from the process-event connector): classify it
 * and apply its part of the plan. tgid == tid for a kernel thread. */
int vr_tuner_thread_event(VrTuner *t, pid_t tid, pid_t tgid);
/* A thread exited. */
void vr_tuner_thread_exit(VrTuner *t, pid_t tid);
void vr_tuner_set_mode(VrTuner *t, const char *how_events_arrive);
/* vCPU threads held back until libvirt places them: poll timeout to use (ms, -1 for
 * none) and the retry to call when it expires. */
int vr_tuner_pending_timeout_ms(const VrTuner *t);
void vr_tuner_retry_pending(VrTuner *t);
/* -1 if the state is written; else ms until it is due (changed at least debounce_ms
 * ago: 0), so that a host full of unrelated events still sees it written. */
int vr_tuner_state_due_ms(const VrTuner *t, int debounce_ms);
/* Write the state if anything changed since it was last written. */
void vr_tuner_flush(VrTuner *t);
/* Write ROOT-less state file STATE_DIR/DOMAIN.json (atomically). */
int vr_tuner_write_state(VrTuner *t);
/* Remove the state file (the domain is gone). */
void vr_tuner_remove_state(VrTuner *t);
unsigned vr_tuner_thread_count(const VrTuner *t);
/* Undo host changes the domain no longer needs (cgroups the plan created). */
void vr_tuner_cleanup(VrTuner *t);
