/* One host change as data: what a plan asks the host layer to do (and to undo later),
 * in the one-line text form that plans print, journals keep and the recording table of
 * host operations logs (lib/host/vr-hostops.h). Here, below plan and host, because the
 * hook's plan makes them and the host layer carries them out.
 *
 *   write RELPATH VALUE                         a sysfs/procfs/cgroup attribute
 *   vf_flags PF vf=N [spoofchk=0|1] [trust=0|1]  flags of VF index N on PF
 *   netns_txqlen PID DEV QLEN                   a queue length in PID's netns
 *   tc ARG...                                   tc with these arguments */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "vr-macros.h"

typedef enum {
        VR_HOST_OP_WRITE,
        VR_HOST_OP_VF_FLAGS,
        VR_HOST_OP_NETNS_TXQLEN,
        VR_HOST_OP_TC,
} VrHostOpKind;

typedef struct {
        VrHostOpKind kind;
        char *path;     /* write: relative to the root prefix */
        char *value;    /* write */
        char *dev;      /* vf_flags: the PF; netns_txqlen: the device inside */
        int vf;         /* vf_flags */
        int spoofchk;   /* vf_flags: <0 leaves it */
        int trust;      /* vf_flags: <0 leaves it */
        pid_t pid;      /* netns_txqlen */
        int qlen;       /* netns_txqlen */
        char **args;    /* tc: NULL-terminated, without the program */
} VrHostOp;

VrHostOp *vr_host_op_write(const char *relpath, const char *value);
VrHostOp *vr_host_op_vf_flags(const char *pf, int vf, int spoofchk, int trust);
VrHostOp *vr_host_op_netns_txqlen(pid_t pid, const char *dev, int qlen);
/* tc arguments given as one line split at spaces (none of tc's words here has one). */
VrHostOp *vr_host_op_tc(const char *fmt, ...) _printf_(1, 2);
VrHostOp *vr_host_op_copy(const VrHostOp *op);
void vr_host_op_free(VrHostOp *op);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrHostOp, vr_host_op_free)

/* The one-line text form. Caller frees. */
char *vr_host_op_format(const VrHostOp *op);
/* Back from the text form (a journal): NULL with error naming the line. */
VrHostOp *vr_host_op_parse(const char *line, GError **error);
