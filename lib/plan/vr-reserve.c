#include "config.h"

#include "vr-error.h"
#include "vr-reserve.h"

VrCpuSet *vr_reserve_instance_cpus(const VrPolicy *p, const VrCpuSet *pinned, const VrCpuSet *taken,
                                   const char *holders, GError **error) {
        g_autoptr(VrCpuSet) free_cpus = vr_cpuset_new(), chosen = vr_cpuset_new();
        g_autofree char *pool = NULL, *free_s = NULL;
        unsigned want = MAX(p->dom.vcpus, 1u);

        if (!p->rule || p->placement != VR_PLACEMENT_DEDICATED || !p->cpus_from_pool || !p->cpus)
                return NULL;
        /* Nova chose the CPUs already: they are what the instance runs on. */
        if (pinned && vr_cpuset_is_subset(pinned, p->cpus) && vr_cpuset_count(pinned) >= want)
                return vr_cpuset_copy(pinned);
        for (int n = 0, cpu; (cpu = vr_cpuset_nth(p->cpus, (unsigned) n)) >= 0; n++) {
                if (taken && vr_cpuset_test(taken, (unsigned) cpu))
                        continue;
                vr_cpuset_set(free_cpus, (unsigned) cpu);
                if (vr_cpuset_count(chosen) < want)
                        vr_cpuset_set(chosen, (unsigned) cpu);
        }
        if (vr_cpuset_count(chosen) >= want)
                return g_steal_pointer(&chosen);
        pool = vr_cpuset_format(p->cpus);
        free_s = vr_cpuset_format(free_cpus);
        /* The numbers an operator needs: how many, of which pool, what is free, who
         * holds the rest. */
        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                    "domain '%s' (bound by [rule %s] to [profile %s]): needs %u dedicated CPU%s of router-cpus=%s, %u free%s%s%s%s%s: expected a free CPU of the pool per vCPU (fewer routers, or a larger router-cpus)",
                    p->dom.name, p->rule, p->profile ? p->profile : "?", want, want == 1 ? "" : "s", pool,
                    vr_cpuset_count(free_cpus), vr_cpuset_count(free_cpus) ? " (" : "",
                    vr_cpuset_count(free_cpus) ? free_s : "", vr_cpuset_count(free_cpus) ? ")" : "",
                    holders && *holders ? "; reserved: " : "", holders && *holders ? holders : "");
        return NULL;
}
