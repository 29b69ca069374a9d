/* cgroup v1 and v2 behind one interface, the host half: read where the controllers
 * are (choosing each one's backend once, model/vr-cgroup-layout.h), and change groups
 * (make one, write a controller file, move a thread, remove one) through a table of
 * host operations, so tests record the changes instead of making them.
 *
 * Paths are relative to ROOT, as the plan's VrCgroupWrite holds them. Errors name the
 * file, the value, the domain when the caller gives one, and the likely cause; each
 * function returns 0 or a negative errno (so a caller can tell a group that is gone,
 * -ENOENT, from a refusal) and sets ERROR (VR_ERROR_HOST) when it fails. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vr-cgroup-layout.h"
#include "vr-hostops.h"
#include "vr-tuning.h"

/* ROOT/proc/self/mountinfo -> the layout. 0 or -errno (the file cannot be read). */
int vr_cgroup_layout_read(const char *root, VrCgroupLayout *ret) _must_check_;

/* W: make its group first when W->mkdir (a group that exists is fine), then write the
 * value. DOMAIN (may be NULL) prefixes the message. */
int vr_cgroup_write(const VrHostOps *ops, const char *root, const VrCgroupWrite *w, const char *domain,
                    GError **error);
/* Each of WRITES (VrCgroupWrite), in order, all of them even when one fails (they are
 * independent: the RT group's budget, the domain's weight). True when all succeeded;
 * else one GError per failed write is appended to ERRORS (free func g_error_free; may
 * be NULL to drop them). */
bool vr_cgroup_apply_writes(const VrHostOps *ops, const char *root, GPtrArray *writes, const char *domain,
                            GPtrArray *errors);
/* Move thread TID into GROUP (relative to controller C's mount). v1: its "tasks"
 * file. v2: "cgroup.threads" when the group is threaded (its cgroup.type, read under
 * ROOT), else "cgroup.procs", which moves the thread's whole process. */
int vr_cgroup_move_thread(const VrHostOps *ops, const char *root, const VrCgroupLayout *l, VrCgroupController c,
                          const char *group, pid_t tid, GError **error);
/* Remove the group directory DIR (relative to ROOT). A group still busy (threads
 * leaving it, or another router's in it) is retried for up to WAIT_MS ms. Returns 1
 * when removed, 0 when it was not there or is still busy (in use: not an error), or a
 * negative errno with ERROR. */
int vr_cgroup_remove_group(const VrHostOps *ops, const char *root, const char *dir, int wait_ms, GError **error);
