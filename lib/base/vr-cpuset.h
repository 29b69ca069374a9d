/* CPU sets as the kernel and libvirt write them: "0-3,8,10-11". */
#pragma once

#include <stdbool.h>

#include "vr-macros.h"

#define VR_CPUSET_MAX 8192 /* matches the kernel's NR_CPUS ceiling on x86_64 */

typedef struct VrCpuSet VrCpuSet;

VrCpuSet *vr_cpuset_new(void);
void vr_cpuset_free(VrCpuSet *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrCpuSet, vr_cpuset_free)

/* 0 or -EINVAL (syntax) / -ERANGE (CPU >= VR_CPUSET_MAX, reversed range). An empty
 * string is -EINVAL: an empty set is never what a user meant. */
int vr_cpuset_parse(const char *s, VrCpuSet **ret) _must_check_;
VrCpuSet *vr_cpuset_copy(const VrCpuSet *s);
void vr_cpuset_set(VrCpuSet *s, unsigned cpu);
bool vr_cpuset_test(const VrCpuSet *s, unsigned cpu);
unsigned vr_cpuset_count(const VrCpuSet *s);
/* The n-th set CPU (0-based) or -1. */
int vr_cpuset_nth(const VrCpuSet *s, unsigned n);
/* Highest set CPU or -1. */
int vr_cpuset_last(const VrCpuSet *s);
bool vr_cpuset_is_subset(const VrCpuSet *a, const VrCpuSet *b);
bool vr_cpuset_intersects(const VrCpuSet *a, const VrCpuSet *b);
bool vr_cpuset_equal(const VrCpuSet *a, const VrCpuSet *b);
/* Canonical list form, ranges merged: "0-3,8". Caller frees. */
char *vr_cpuset_format(const VrCpuSet *s);
