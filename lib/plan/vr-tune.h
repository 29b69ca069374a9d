/* The tuning plan: which CPUs and which scheduling class each of a router's threads
 * gets, and which cgroup files change. Pure: the host facts come in VrTuneHost. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-tuning.h"

/* The plan for these threads. Errors (a deadline reservation that cannot fit, RT
 * bandwidth that is not there) name the domain, the threads and the numbers. */
VrTunePlan *vr_tune_plan(const VrPolicy *p, const VrHostConf *conf, const VrTuneHost *host,
                         GPtrArray *threads, GError **error);

/* The domain's own cgroup from one of its threads' ("/machine/qemu-1-vr1.libvirt-qemu/vcpu0"
 * -> "/machine/qemu-1-vr1.libvirt-qemu"). Caller frees. */
char *vr_domain_cgroup(const char *thread_cgroup);
