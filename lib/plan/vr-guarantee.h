/* Service guarantees: from a promised rate, burst and delay bound to SCHED_DEADLINE
 * reservations, queue lengths and token buckets. Pure: the host's measured packet cost
 * comes in the host config. The model and its assumptions: docs/derivation.md. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-policy.h"

/* Kernel limits we keep to: sched_deadline_period_min_us is 100 us, but a period
 * much shorter than a millisecond costs more in switches than it buys in delay. */
#define VR_DL_MIN_PERIOD_NS 1000000ULL
#define VR_DL_MAX_PERIOD_NS 100000000ULL
#define VR_DL_MIN_RUNTIME_NS 1024ULL /* kernel: 1 << DL_SCALE */

typedef struct {
        bool reserved;       /* a <vr:sched class='deadline'> without runtime covers them */
        unsigned threads;    /* how many such threads hold a reservation */
        uint32_t util_ppm;   /* CPU each needs: idle + rate x cost x (1 + margin) */
        uint64_t runtime_ns; /* per period */
        uint64_t blackout_ns;/* longest a backlogged thread waits for CPU: 2(P - Q) + tick */
} VrStage;

typedef struct {
        uint64_t period_ns;      /* 0: no reservation (the guarantee is policed and shaped only) */
        const char *period_by;   /* which bound chose the period: "burst", "delay" or "maximum" */
        VrStage vcpu, backend;   /* backend: vhost workers, or QEMU's main thread without vhost */
        uint32_t total_ppm;      /* every reserved thread together */
        uint64_t burst;          /* the profile's burst (given or derived), packets */
        uint64_t jitter;         /* packets the router may bunch: rate x blackouts on the path */
        uint64_t worst_delay_ns; /* burst/rate + blackouts on the path */
        uint64_t host_queue;     /* macvtap queue, packets */
        int guest_ring;          /* virtio ring, a power of two in 256..1024 */
        uint64_t police_burst;   /* ingress policer bucket, packets */
        uint64_t shape_burst;    /* egress shaper bucket, packets */
        bool calibrated;         /* the packet cost was measured on this host */
} VrGuaranteePlan;

/* One value of a guarantee that cannot be kept. attr is the <vr:guarantee> attribute
 * (and profile key) it is about: "rate", "burst" or "delay"; message gives the numbers
 * and what value would work, worded to follow "attribute delay='2ms': ". */
typedef struct {
        const char *attr;
        char *message;
} VrGuaranteeProblem;
void vr_guarantee_problem_free(VrGuaranteeProblem *pr);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrGuaranteeProblem, vr_guarantee_problem_free)

/* Derive the plan for a policy with a guarantee. When the guarantee cannot be kept (a
 * thread would need more than the deadline cap, the burst is too small for the
 * scheduler's jitter, the delay bound too small for the burst and the scheduler),
 * appends every problem it can see to problems (a GPtrArray that frees them with
 * vr_guarantee_problem_free), in the order rate, burst, delay, and returns false.
 * The values asked for fit together: the delay asked for is for the burst asked for.
 * Callers say which domain and element. */
bool vr_guarantee_plan_check(const VrPolicy *p, const VrHostConf *conf, VrGuaranteePlan *ret,
                             GPtrArray *problems) _must_check_;
/* The same, with the problems in one error: "delay cannot be kept: ...; burst ...". */
bool vr_guarantee_plan(const VrPolicy *p, const VrHostConf *conf, VrGuaranteePlan *ret,
                       GError **error) _must_check_;

/* One line a value, for `virt-router check`, logs and the test tables. Caller frees. */
char *vr_guarantee_plan_format(const VrGuaranteePlan *g);

/* The deadline bandwidth a router will hold, known before it has threads (explicit
 * runtime/period rules and derived ones), by where the kernel and the ledger count
 * it: key "" for the root domain of the online CPUs, "cpuN" for each CPU of the
 * router's cpus (its bandwidth spread evenly over them: the CPUs the operator meant
 * it to use, whatever EDF over the root domain does). Values are millionths of a
 * CPU. *ret_total is the sum over the router's threads; *ret_why says how it adds
 * up, for messages. */
bool vr_deadline_demand(const VrPolicy *p, const VrHostConf *conf, GHashTable *ret, uint64_t *ret_total,
                        char **ret_why, GError **error) _must_check_;
