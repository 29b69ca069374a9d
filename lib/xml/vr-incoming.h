/* The migrate and restore filter: an incoming domain describes a guest that already
 * runs (migration) or was saved (restore), with its devices in the migration stream or
 * the save image. libvirt checks the filter's output for guest-ABI stability and
 * cancels the operation on any difference the guest could see. So the filter changes
 * only what belongs to this host:
 *   - the PCI address a VF port's <source> names, when that VF is not a VF of the
 *     port's PF here (another host's address): the plan picks one of this host's;
 *   - a macvtap port's host device (<source dev>), when the policy's dev differs;
 *   - the CPU sets of <vcpupin> and <emulatorpin> elements the domain already has; for
 *     an instance a host config [rule] binds (vr-reserve.h), CPUs of the pool that no
 *     other router holds here (opts->held_cpus), one per vCPU;
 *   - a VF another router holds here (opts->held_vfs) is never given to a port.
 * It never adds, removes or re-models a device, and never touches <sysinfo>, <os>,
 * <cpu>, MACs, guest-side addresses or anything else the guest sees. */
#pragma once

#include <stddef.h>

#include "vr-rewrite.h"

/* The CPUs the domain's <vcpupin> elements give its vCPUs, when every vCPU is pinned to
 * one CPU of its own (as Nova pins a hw:cpu_policy=dedicated flavor); else NULL. */
VrCpuSet *vr_domain_vcpu_pins(xmlDoc *doc, unsigned vcpus);

/* Returns a VrRewriteResult (VR_REWRITE_CHANGED with *ret_out set, else the input is
 * right for this host as it is) or -1 with error set: the domain cannot run here (no
 * free VF on the port's PF, a policy this host's config refuses). */
int vr_rewrite_incoming(const char *buf, size_t len, const VrRewriteOptions *opts, char **ret_out,
                        size_t *ret_len, GError **error) _must_check_;
