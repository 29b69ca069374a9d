/* `virt-router calibrate`: from CPU time measured around stepped load to the per-packet
 * cost the guarantee derivation uses. Pure; the measuring is in the tool. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-hostconf.h"

typedef struct {
        uint64_t offered_pps;
        double sent_pps, forwarded_pps;
        double window_s;            /* wall time between the two CPU readings */
        double traffic_s;           /* of which traffic was offered */
        double vcpu_s, backend_s;   /* CPU time the router's threads used in the window */
        /* results */
        double vcpu_ns, backend_ns; /* per forwarded packet above idle; NAN: not usable */
        bool used;                  /* forwarded >= 99% of sent: not saturated */
} VrCalPoint;

/* Idle use from `idle` (a window without traffic); each point's cost per packet above
 * idle (for display); then, over the points that were not saturated, a line that covers
 * every one of them: the cost stored is its slope, the idle stored its fixed part (at
 * least the measured idle). Fails when no point is usable. */
bool vr_calibrate_fit(const VrCalPoint *idle, GArray *points, VrPacketCost *cost, GError **error) _must_check_;
