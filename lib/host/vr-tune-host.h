/* The host's scheduling facts for the tuning plan: cgroup mounts, RT limits, online
 * CPUs and cpuset partitions, read through ROOT. */
#pragma once

#include "vr-tuning.h"

/* Read the facts from ROOT (proc, sys). */
int vr_tune_host_read(const char *root, VrTuneHost *ret) _must_check_;
