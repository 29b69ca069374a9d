/* Every /proc and /sys access goes through a root prefix ("/" on a real host, a fake
 * tree in tests), as lscpu --sysroot does. Functions return 0 or a negative errno. */
#pragma once

#include <stdbool.h>

#include "vr-macros.h"

/* ROOT + "/" + printf(fmt): caller frees. */
char *vr_root_path(const char *root, const char *fmt, ...) _printf_(2, 3);
/* Whole file, trailing newline removed. */
int vr_read_line(const char *root, const char *relpath, char **ret) _must_check_;
/* Write value to ROOT/relpath (a sysfs or cgroup attribute): 0 or -errno. */
int vr_write_file(const char *root, const char *relpath, const char *value) _must_check_;
/* Why NAME cannot be one component of a path (a file under a directory of ours, libvirt's
 * or the kernel's): NULL when it can, else what is wrong, for a message ("contains
 * '/'"). It must not be empty, hold a '/', be "." or "..", or be longer than MAX bytes
 * (NAME_MAX for a file name, less what the caller adds to it). A C string holds no NUL:
 * a name with one in it arrives cut there, so it is the cut name that is checked. */
const char *vr_name_problem(const char *name, size_t max);
/* The same for a network interface: the kernel's dev_valid_name(), at most IFNAMSIZ - 1
 * bytes, and no ':' or blank either. */
const char *vr_netdev_name_problem(const char *name);
bool vr_netdev_exists(const char *root, const char *dev);
/* PCI addresses of a PF's VFs in virtfn order (virtfn0, virtfn1, ...). -ENOENT if no
 * such netdev, -ENOTSUP if it has no SR-IOV. */
int vr_pf_vfs(const char *root, const char *pf, GPtrArray **ret_addrs) _must_check_;
/* The netdev name of a PCI network function (its net/ entry), -ENOENT if none. */
int vr_pci_netdev(const char *root, const char *addr, char **ret) _must_check_;
/* The PF netdev a VF belongs to (through physfn/net), -ENOENT if none. */
int vr_vf_pf(const char *root, const char *addr, char **ret) _must_check_;
/* Where a companion program is: $ENV_VAR when set, else beside the running binary
 * (a build tree), else INSTALLED_DIR/NAME. Caller frees. */
char *vr_program_path(const char *env_var, const char *name, const char *installed_dir);
