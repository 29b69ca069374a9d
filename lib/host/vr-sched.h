/* The raw sched_setattr/sched_getattr syscalls (glibc in bookworm has no wrapper) and
 * the constants older headers lack. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#ifndef SCHED_BATCH
#define SCHED_BATCH 3
#endif
#ifndef SCHED_IDLE
#define SCHED_IDLE 5
#endif
#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif

struct vr_sched_attr {
        uint32_t size;
        uint32_t sched_policy;
        uint64_t sched_flags;
        int32_t sched_nice;
        uint32_t sched_priority;
        uint64_t sched_runtime;
        uint64_t sched_deadline;
        uint64_t sched_period;
};

int vr_sched_setattr(pid_t tid, const struct vr_sched_attr *attr);
