/* The host resource ledger: which router holds which dedicated CPUs, VFs and deadline
 * bandwidth, so two starts never get the same core or VF. One JSON file under the
 * state directory, changed only under an exclusive flock (waited for a bounded time:
 * a hook must never block libvirt), written atomically. Entries of domains whose
 * process is gone are reclaimed on every change. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vr-cpuset.h"
#include "vr-macros.h"

typedef struct {
        char *domain;
        char *driver;       /* "qemu" or "lxc": where libvirt keeps its pid file */
        pid_t pid;          /* the domain's process once started, 0 while preparing */
        /* its start time (VrProcId); 0, unknown (older ledgers): then the entry lives while libvirt's pid
         * file names the pid, which alone may by now be any process's */
        uint64_t pid_start;
        int64_t since_us;   /* when the entry was made (prepare) */
        VrCpuSet *cpus;     /* dedicated CPUs, or NULL */
        GPtrArray *vfs;     /* char* PCI addresses */
        GHashTable *dl_ppm; /* root domain (cpuset path, "" for the default) -> millionths of a CPU */
} VrLedgerEntry;

typedef struct VrLedger VrLedger;

/* A domain that has prepared but not started for this long (and has no live process
 * by libvirt's pid file) has failed to start without its release hook running
 * (libvirtd killed): its entry is reclaimed. */
#define VR_LEDGER_PREPARE_GRACE_S 300

/* Lock and read STATE_DIR/ledger. ROOT is the prefix under which pid liveness and
 * libvirt's pid files are checked. Fails (VR_ERROR_HOST) when the lock is not had in
 * wait_ms, the directory cannot be written, or the file is corrupt. */
VrLedger *vr_ledger_open(const char *root, const char *state_dir, int wait_ms, GError **error);
void vr_ledger_close(VrLedger *l); /* unlock, without writing */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrLedger, vr_ledger_close)

/* Drop entries whose domain is gone. Returns their names (for logs). */
GPtrArray *vr_ledger_reclaim(VrLedger *l);
const VrLedgerEntry *vr_ledger_find(VrLedger *l, const char *domain);
/* The dedicated CPUs every entry but EXCEPT's holds; *ret_holders (may be NULL) says who
 * holds which ("2 by 'instance-1', 3-4 by 'r2'", caller frees). */
VrCpuSet *vr_ledger_cpus_held(VrLedger *l, const char *except, char **ret_holders);
/* The VFs every entry but EXCEPT's holds: PCI address -> domain. */
GHashTable *vr_ledger_vfs_held(VrLedger *l, const char *except);
/* Reserve for `want` (its domain replaces any earlier entry of the same name).
 * caps: the deadline bandwidth a root domain may give, millionths of a CPU per CPU,
 * and the CPUs of each root domain, for the admission message. Fails with a message
 * naming the holder and the numbers; *ret_deadline (may be NULL) tells whether it
 * was deadline bandwidth that did not fit, rather than a CPU or VF in use. */
bool vr_ledger_reserve(VrLedger *l, VrLedgerEntry *want, uint32_t dl_cap_ppm_per_cpu,
                       GHashTable *domain_cpus, bool *ret_deadline, GError **error);
bool vr_ledger_set_pid(VrLedger *l, const char *domain, pid_t pid);
bool vr_ledger_release(VrLedger *l, const char *domain);
/* Write the ledger (atomically) and keep the lock. */
bool vr_ledger_save(VrLedger *l, GError **error);

VrLedgerEntry *vr_ledger_entry_new(const char *domain, const char *driver);
void vr_ledger_entry_free(VrLedgerEntry *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrLedgerEntry, vr_ledger_entry_free)
