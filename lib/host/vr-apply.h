/* Applying a tuning plan: the only code that changes scheduling and cgroups. Thread
 * operations are real syscalls; cgroup files go through the root prefix. */
#pragma once

#include "vr-tuning.h"

/* The plan's cgroup files are written by vr_cgroup_apply_writes (vr-cgroup.h). */

/* Apply one thread's action. Returns 0, or a negative errno with *ret_error saying
 * what the kernel refused and the likely cause. */
int vr_apply_action(const char *root, const VrTuneHost *host, const VrTuneAction *a,
                    char **ret_error);
