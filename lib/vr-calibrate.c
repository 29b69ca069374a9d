#include "config.h"

#include <math.h>

#include "vr-calibrate.h"
#include "vr-error.h"

bool vr_calibrate_fit(const VrCalPoint *idle, GArray *points, VrPacketCost *cost, GError **error) {
        double iv, ib, max_v = 0, max_b = 0;
        unsigned used = 0;

        if (idle->window_s <= 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "no idle measurement");
                return false;
        }
        iv = idle->vcpu_s / idle->window_s;
        ib = idle->backend_s / idle->window_s;
        for (guint i = 0; i < points->len; i++) {
                VrCalPoint *x = &g_array_index(points, VrCalPoint, i);
                double n = x->forwarded_pps * x->traffic_s;
                x->vcpu_ns = x->backend_ns = NAN;
                x->used = false;
                if (n < 1)
                        continue;
                /* What the window would have cost idle is not the traffic's. */
                x->vcpu_ns = MAX(0.0, (x->vcpu_s - iv * x->window_s) / n * 1e9);
                x->backend_ns = MAX(0.0, (x->backend_s - ib * x->window_s) / n * 1e9);
                x->used = x->sent_pps > 0 && x->forwarded_pps >= 0.99 * x->sent_pps;
                if (!x->used)
                        continue;
                used++;
                max_v = MAX(max_v, x->vcpu_ns);
                max_b = MAX(max_b, x->backend_ns);
        }
        if (!used) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "no step forwarded at least 99%% of what was sent: the router is saturated at every load; expected lower loads in the scenario");
                return false;
        }
        cost->vcpu_ns = (uint64_t) ceil(max_v);
        cost->backend_ns = (uint64_t) ceil(max_b);
        cost->vcpu_idle_ppm = (uint32_t) MIN(1e6, ceil(iv * 1e6));
        cost->backend_idle_ppm = (uint32_t) MIN(1e6, ceil(ib * 1e6));
        cost->measured = true;
        return true;
}
