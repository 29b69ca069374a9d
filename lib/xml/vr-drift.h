/* Drift: where a domain's definition does not honour its router policy (the policy was
 * edited with `virsh edit` and never applied). Pure: the answer is what `apply` would
 * change, found by running the same rewrite on a copy, so the two never disagree. */
#pragma once

#include <libxml/tree.h>

#include "vr-plan.h"

/* What differs between doc and doc rewritten to match the plan, one readable line per
 * item, ports first: "port 'wan' has no device, the policy says ...", "vcpu 0 is
 * pinned to 0-3, the policy says 2". Only what the plan decides counts: CPU pins,
 * shares, the container's CPU set and, where the plan manages ports, each port's device
 * (kind, source, model, driver and ring sizes, MAC, VLAN, addresses) and the guest's
 * configuration; runtime additions (aliases, targets, PCI slots, libvirt's MACs) do
 * not. An empty array: the definition honours the policy. doc is not changed. */
GPtrArray *vr_plan_drift(const VrPlan *plan, xmlDoc *doc);
