#include "config.h"

#include <math.h>

#include "vr-calibrate.h"
#include "vr-error.h"

/* Utilization while traffic was offered: the rest of the window ran idle. */
static double busy(double cpu_s, double idle, const VrCalPoint *x) {
        return (cpu_s - idle * (x->window_s - x->traffic_s)) / x->traffic_s;
}

/* The line u(r) = fixed + slope * r over one kind of thread. Its slope is the larger of
 * the marginal cost between the two highest used rates and the mean cost above idle at
 * the highest: extrapolating past the steps never gets cheaper than what was measured.
 * Its fixed part is raised until the line covers every used step, at least idle: at low
 * rates a router wakes for few packets and pays each wake-up (here 2 kpps used more CPU
 * than 4 kpps), which a cost per packet alone, taken at its largest, would charge to
 * every packet at every rate. */
static void envelope(GArray *points, double idle, bool vcpu, double *ret_slope, double *ret_fixed) {
        const VrCalPoint *hi = NULL, *lo = NULL;
        double slope, fixed = idle;

        for (guint i = 0; i < points->len; i++) {
                const VrCalPoint *x = &g_array_index(points, VrCalPoint, i);
                if (!x->used)
                        continue;
                if (!hi || x->forwarded_pps > hi->forwarded_pps) {
                        lo = hi;
                        hi = x;
                } else if (!lo || x->forwarded_pps > lo->forwarded_pps) {
                        lo = x;
                }
        }
        if (!hi) { /* the caller checked: at least one point is used */
                *ret_slope = 0;
                *ret_fixed = idle;
                return;
        }
#define U(x) busy(vcpu ? (x)->vcpu_s : (x)->backend_s, idle, (x))
        slope = MAX(0.0, (U(hi) - idle) / hi->forwarded_pps);
        if (lo && hi->forwarded_pps > lo->forwarded_pps)
                slope = MAX(slope, (U(hi) - U(lo)) / (hi->forwarded_pps - lo->forwarded_pps));
        for (guint i = 0; i < points->len; i++) {
                const VrCalPoint *x = &g_array_index(points, VrCalPoint, i);
                if (x->used)
                        fixed = MAX(fixed, U(x) - slope * x->forwarded_pps);
        }
#undef U
        *ret_slope = slope;
        *ret_fixed = fixed;
}

bool vr_calibrate_fit(const VrCalPoint *idle, GArray *points, VrPacketCost *cost, GError **error) {
        double iv, ib, slope_v, slope_b, fixed_v, fixed_b;
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
                if (n < 1 || x->traffic_s <= 0)
                        continue;
                /* What the window would have cost idle is not the traffic's. */
                x->vcpu_ns = MAX(0.0, (x->vcpu_s - iv * x->window_s) / n * 1e9);
                x->backend_ns = MAX(0.0, (x->backend_s - ib * x->window_s) / n * 1e9);
                x->used = x->sent_pps > 0 && x->forwarded_pps >= 0.99 * x->sent_pps;
                used += x->used;
        }
        if (!used) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "no step forwarded at least 99%% of what was sent: the router is saturated at every load; expected lower loads in the scenario");
                return false;
        }
        envelope(points, iv, true, &slope_v, &fixed_v);
        envelope(points, ib, false, &slope_b, &fixed_b);
        cost->vcpu_ns = (uint64_t) ceil(slope_v * 1e9);
        cost->backend_ns = (uint64_t) ceil(slope_b * 1e9);
        cost->vcpu_idle_ppm = (uint32_t) MIN(1e6, ceil(fixed_v * 1e6));
        cost->backend_idle_ppm = (uint32_t) MIN(1e6, ceil(fixed_b * 1e6));
        cost->measured = true;
        return true;
}
