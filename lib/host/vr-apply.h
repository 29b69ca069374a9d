/* Applying a tuning plan: the only code that changes scheduling and cgroups. Thread
 * operations are real syscalls; cgroup files go through the root prefix. */
#pragma once

#include "vr-hostops.h"
#include "vr-tuning.h"

/* The plan's cgroup files are written by vr_cgroup_apply_writes (vr-cgroup.h). */

/* Apply one thread's action through OPS (NULL: the real host). Returns 0, or the
 * kernel's negative errno (the tuner retries on -ENOENT) with error saying what the
 * kernel refused and the likely cause. */
int vr_apply_action(const VrHostOps *ops, const char *root, const VrTuneHost *host, const VrTuneAction *a,
                    GError **error);
