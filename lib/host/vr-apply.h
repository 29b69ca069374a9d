/* Applying a tuning plan: the only code that changes scheduling and cgroups. Thread
 * operations are real syscalls; cgroup files go through the root prefix. */
#pragma once

#include "vr-tuning.h"

/* Write the plan's cgroup files. Returns the number of failures; each is described in
 * *errors (appended). */
unsigned vr_apply_cgroup_writes(const char *root, const VrTunePlan *plan, GPtrArray *errors);

/* Apply one thread's action. Returns 0, or a negative errno with *ret_error saying
 * what the kernel refused and the likely cause. */
int vr_apply_action(const char *root, const VrTuneHost *host, const VrTuneAction *a,
                    char **ret_error);
