/* Finding a router's threads on the host, through ROOT/proc (the types and their
 * classification by name are lib/model/vr-thread.h). */
#pragma once

#include "vr-thread.h"

/* Every thread of the router, sorted by kind then tid; indexes of vhost, iothread and
 * napi threads are ordinals in tid order. -ENOENT if vm_pid does not exist. */
int vr_threads_discover(const char *root, pid_t vm_pid, VrDomainType type,
                        const char *const *napi_devs, GPtrArray **ret) _must_check_;

