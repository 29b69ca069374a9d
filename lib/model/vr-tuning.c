#include "config.h"

#include "vr-tuning.h"

void vr_partition_free(gpointer p) {
        VrPartition *part = p;
        g_free(part->path);
        vr_cpuset_free(part->cpus);
        g_free(part);
}

void vr_tune_host_clear(VrTuneHost *h) {
        vr_cgroup_layout_clear(&h->cgroups);
        g_clear_pointer(&h->online, vr_cpuset_free);
        g_clear_pointer(&h->partitions, g_ptr_array_unref);
}

void vr_tune_action_free(gpointer p) {
        VrTuneAction *a = p;
        g_free(a->role);
        g_free(a->comm);
        vr_cpuset_free(a->affinity);
        g_free(a->cgroup);
        g_free(a->move_to);
        g_free(a->move_cpuset);
        g_free(a->error);
        g_free(a);
}

void vr_cgroup_write_free(gpointer p) {
        VrCgroupWrite *w = p;
        g_free(w->file);
        g_free(w->value);
        g_free(w);
}

void vr_tune_plan_free(VrTunePlan *p) {
        if (!p)
                return;
        g_ptr_array_unref(p->actions);
        g_ptr_array_unref(p->writes);
        g_ptr_array_unref(p->notes);
        g_free(p);
}

