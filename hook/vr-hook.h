/* What virt-router-hook does for each libvirt hook operation. The program's main only
 * reads arguments and stdin and prints; tests drive this directly. */
#pragma once

#include <stdbool.h>

#include "vr-hostconf.h"
#include "vr-hostops.h"

typedef struct {
        const char *root;        /* "/" on a host; a fake tree in tests */
        const VrHostConf *conf;
        const char *state_dir;   /* NULL: conf->state_dir */
        const char *tune_path;   /* virt-router-tune */
        const char *tc_path;     /* tc for the host policer; NULL: none is installed */
        const char *domain;      /* argv[1] */
        const char *op;          /* argv[2]: prepare, start, started, stopped, release, reconnect, migrate, restore, attach */
        const char *subop;       /* argv[3] */
        const char *xml;         /* stdin */
        size_t xml_len;
        int lock_wait_ms;
        bool no_tuner;           /* tests: do not launch the tuner */
        const VrHostOps *ops;    /* every host change; NULL: the real host (tests: a recorder) */
} VrHookRequest;

/* 0: done (for migrate/restore *ret_stdout may hold the rewritten XML, NULL when
 * nothing changes). -1: the operation must fail; error says why, naming the domain. */
int vr_hook_run(const VrHookRequest *req, char **ret_stdout, GError **error);
/* The host changes OP would make (stopped, release: the undos its journal holds), one
 * line each (vr_hook_plan_format), without making them; "" for a domain that is no
 * router. 0, or -1 with error. */
int vr_hook_plan_text(const VrHookRequest *req, char **ret, GError **error);
/* True when libvirt lets a failing hook stop this operation (and so exit 1 matters). */
bool vr_hook_op_can_fail(const char *op);
