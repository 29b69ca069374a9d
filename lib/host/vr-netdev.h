/* Host network devices: reading queue lengths, VF indexes and IOMMU groups through
 * sysfs (root prefix), and the wrappers behind the real table of host operations
 * (vr-hostops.h): VF spoofchk/trust over rtnetlink, a queue length in another network
 * namespace, tc. Sysfs writes (queue lengths, vfio-pci binding) are the table's
 * write_file. Each returns 0 or a negative errno. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vr-macros.h"

int vr_netdev_get_txqlen(const char *root, const char *dev, int *ret) _must_check_;
/* Set the queue length of DEV inside the network namespace of process PID (a
 * container's init): a child enters the namespace, so the caller's own stays as it is. */
int vr_netns_set_txqlen(pid_t pid, const char *dev, int qlen) _must_check_;
/* The VF index of a PCI address under its PF (virtfnN), -ENOENT if none. */
int vr_vf_index(const char *root, const char *pf, const char *vf_addr, int *ret) _must_check_;
/* IFLA_VF_SPOOFCHK / IFLA_VF_TRUST on PF for VF index; value <0 leaves it. */
int vr_vf_set_flags(const char *pf, int vf, int spoofchk, int trust) _must_check_;
/* The IOMMU group of a PCI function, -ENOENT without IOMMU. */
int vr_pci_iommu_group(const char *root, const char *addr, int *ret) _must_check_;
/* Run TC with ARGS (a NULL-terminated vector, without the program). 0, or -EIO with
 * what tc said (one line) as the error, -ENOENT when TC cannot be run. */
int vr_tc_run(const char *tc, char *const *args, GError **error);
