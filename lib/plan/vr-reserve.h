/* Which dedicated CPUs a router reserves at prepare. Pure: the ledger's holdings and
 * the domain's own pins come in as facts. */
#pragma once

#include "vr-cpuset.h"
#include "vr-policy.h"

/* The CPUs an instance bound by a host config [rule] reserves when its policy names
 * none (placement=dedicated, cpus from [host] router-cpus): routers of one Nova flavor
 * share a host, each on CPUs of its own, instead of each claiming the whole pool.
 *   pinned: the CPUs the domain's <vcpupin> elements give its vCPUs (Nova pins each
 *           vCPU to a CPU of its own for hw:cpu_policy=dedicated), NULL unless every
 *           vCPU is pinned;
 *   taken:  the CPUs the ledger holds for other routers (may be NULL);
 *   holders: who holds them, for the refusal ("2 by 'instance-1', ...", may be NULL).
 * Returns the domain's pinned CPUs when they lie within the pool, else the first free
 * CPUs of the pool, one per vCPU; NULL without error when this does not apply (the
 * policy's own cpus are reserved); NULL with error (VR_ERROR_HOST) when the pool has
 * fewer free CPUs than the domain has vCPUs, with the numbers. */
VrCpuSet *vr_reserve_instance_cpus(const VrPolicy *p, const VrCpuSet *pinned, const VrCpuSet *taken,
                                   const char *holders, GError **error);
