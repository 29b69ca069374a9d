#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vr-cgroup.h"
#include "vr-error.h"
#include "vr-json.h"
#include "vr-log.h"
#include "vr-proc.h"
#include "vr-state.h"
#include "vr-sysfs.h"
#include "vr-threads.h"
#include "vr-tune-host.h"
#include "vr-tune-spec.h"
#include "vr-tune.h"
#include "vr-tuner.h"

struct VrTuner {
        char *root;
        char *state_dir;
        const VrHostConf *conf;
        const VrHostOps *ops;  /* thread changes go through it */
        VrPolicy *policy;
        pid_t pid;
        char **napi_devs;
        VrTuneHost host;
        GPtrArray *threads;    /* VrThread */
        VrTunePlan *plan;      /* last plan */
        GHashTable *applied;   /* tid -> signature of the action applied */
        GHashTable *errors;    /* tid -> message */
        GPtrArray *host_errors;/* plan and cgroup errors */
        char *writes_sig;
        char *mode;            /* how thread events arrive */
        gint64 started;
        bool libvirt_layout;   /* vCPU threads live in libvirt's vcpuN cgroups */
        GHashTable *pending;   /* tid -> first seen (us): vCPUs libvirt has not placed yet */
        bool dirty;            /* state changed since last written */
        gint64 dirty_since;    /* monotonic us */
};

/* libvirt moves a new vCPU thread (vCPU hotplug) into its vcpuN cgroup after QEMU
 * creates it; an RT thread moved elsewhere first would make libvirt's move fail. */
#define PENDING_MAX_US (2 * G_USEC_PER_SEC)

void vr_tuner_free(VrTuner *t) {
        if (!t)
                return;
        g_free(t->root);
        g_free(t->state_dir);
        vr_policy_free(t->policy);
        g_strfreev(t->napi_devs);
        vr_tune_host_clear(&t->host);
        if (t->threads)
                g_ptr_array_unref(t->threads);
        vr_tune_plan_free(t->plan);
        if (t->applied)
                g_hash_table_unref(t->applied);
        if (t->errors)
                g_hash_table_unref(t->errors);
        if (t->host_errors)
                g_ptr_array_unref(t->host_errors);
        g_free(t->writes_sig);
        g_free(t->mode);
        if (t->pending)
                g_hash_table_unref(t->pending);
        g_free(t);
}

pid_t vr_tuner_pid(const VrTuner *t) { return t->pid; }
const char *vr_tuner_domain(const VrTuner *t) { return t->policy->dom.name; }
const VrPolicy *vr_tuner_policy(const VrTuner *t) { return t->policy; }
unsigned vr_tuner_thread_count(const VrTuner *t) { return t->threads ? t->threads->len : 0; }

void vr_tuner_set_mode(VrTuner *t, const char *how) {
        g_free(t->mode);
        t->mode = g_strdup(how);
}

VrTuner *vr_tuner_new(const VrTunerOptions *o, GError **error) {
        g_autoptr(VrTuner) t = g_new0(VrTuner, 1);
        g_autoptr(VrTuneSpec) spec = NULL;
        VrProcStat st;
        pid_t pid = o->pid;
        int r;

        t->root = g_strdup(o->root ? o->root : "/");
        t->conf = o->conf;
        t->ops = vr_host_ops_or_real(o->ops);
        t->state_dir = g_strdup(o->state_dir ? o->state_dir : o->conf->state_dir);
        t->applied = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
        t->errors = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
        t->host_errors = g_ptr_array_new_with_free_func(g_free);
        t->started = g_get_real_time();
        t->mode = g_strdup("proc connector");
        t->pending = g_hash_table_new(g_direct_hash, g_direct_equal);

        spec = vr_tune_spec_from_json(o->spec, error);
        if (!spec)
                return NULL;
        t->policy = g_steal_pointer(&spec->policy);
        if (o->domain && !g_str_equal(o->domain, t->policy->dom.name)) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "domain '%s': the tuning spec describes domain '%s'",
                            o->domain, t->policy->dom.name);
                return NULL;
        }
        t->napi_devs = g_steal_pointer(&spec->napi_devs);
        if (!pid)
                pid = spec->pid;
        if (pid <= 0 || vr_proc_read_stat(t->root, pid, 0, &st) < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                            "domain '%s': process %d not found: expected the running domain's QEMU or container init (--pid)",
                            t->policy->dom.name, (int) pid);
                return NULL;
        }
        t->pid = pid;
        r = vr_tune_host_read(t->root, &t->host);
        if (r < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': reading %s/proc/self/mountinfo: %s",
                            t->policy->dom.name, g_str_equal(t->root, "/") ? "" : t->root, g_strerror(-r));
                return NULL;
        }
        return g_steal_pointer(&t);
}


static void mark_dirty(VrTuner *t) {
        if (!t->dirty)
                t->dirty_since = g_get_monotonic_time();
        t->dirty = true;
}

static bool in_vcpu_group(const char *cgroup) {
        const char *base = cgroup ? strrchr(cgroup, '/') : NULL;
        return base && g_str_has_prefix(base + 1, "vcpu");
}

/* Where QEMU creates threads: libvirt's emulator group. */
static bool in_emulator_group(const char *cgroup) {
        const char *base = cgroup ? strrchr(cgroup, '/') : NULL;
        return base && g_str_equal(base + 1, "emulator");
}

/* Hold back a vCPU thread still in the emulator group, where QEMU creates it, until
 * libvirt has moved it into its vcpuN group (for up to PENDING_MAX_US); true if it
 * must wait. One already in a group of ours was placed before. */
static bool hold_back(VrTuner *t, const VrThread *th) {
        gint64 now = g_get_monotonic_time(), first;
        gpointer key = GINT_TO_POINTER(th->tid);

        if (th->kind != VR_THREAD_VCPU || !t->libvirt_layout || !in_emulator_group(th->cgroup)) {
                g_hash_table_remove(t->pending, key);
                return false;
        }
        if (!g_hash_table_contains(t->pending, key))
                g_hash_table_insert(t->pending, key, GSIZE_TO_POINTER((gsize) now));
        first = (gint64) GPOINTER_TO_SIZE(g_hash_table_lookup(t->pending, key));
        if (now - first < PENDING_MAX_US)
                return true;
        g_hash_table_remove(t->pending, key);
        return false;
}

/* Threads that have exited (their exit event may come after a new thread's), and
 * the ordinals of vhost/iothread/napi threads among those alive, in tid order. */
static void prune_and_number(VrTuner *t) {
        for (guint i = t->threads->len; i-- > 0;) {
                const VrThread *th = t->threads->pdata[i];
                VrProcStat st;
                if (vr_proc_read_stat(t->root, th->tgid, th->tgid == th->tid ? 0 : th->tid, &st) < 0 || st.state == 'Z') {
                        g_hash_table_remove(t->applied, GINT_TO_POINTER(th->tid));
                        g_hash_table_remove(t->errors, GINT_TO_POINTER(th->tid));
                        g_ptr_array_remove_index(t->threads, i);
                }
        }
        vr_threads_sort_and_number(t->threads);
}

static char *action_signature(const VrTuneAction *a) {
        g_autofree char *aff = a->affinity ? vr_cpuset_format(a->affinity) : g_strdup("-");
        return g_strdup_printf("%s|%s|%d|%d|%d|%" G_GUINT64_FORMAT "|%" G_GUINT64_FORMAT "|%" G_GUINT64_FORMAT "|%s|%s|%s",
                               aff, a->set_sched ? vr_sched_class_names[a->cls] : "-", a->priority,
                               a->nice, (int) a->kind, a->runtime_ns, a->deadline_ns, a->period_ns,
                               a->move_to ? a->move_to : "-", a->move_cpuset ? a->move_cpuset : "-",
                               a->error ? a->error : "-");
}


static char *writes_signature(const VrTunePlan *p) {
        GString *s = g_string_new(NULL);
        for (guint i = 0; i < p->writes->len; i++) {
                const VrCgroupWrite *w = p->writes->pdata[i];
                g_string_append_printf(s, "%s=%s;", w->file, w->value);
        }
        return g_string_free(s, FALSE);
}

/* Plan for the current thread list and apply the actions that changed. */
static int replan_and_apply(VrTuner *t) {
        g_autoptr(GError) err = NULL;
        g_autofree char *wsig = NULL;
        VrTunePlan *plan;
        int failures = 0;

        prune_and_number(t);
        mark_dirty(t);
        plan = vr_tune_plan(t->policy, t->conf, &t->host, t->threads, &err);
        g_ptr_array_set_size(t->host_errors, 0);
        if (!plan) {
                vr_log(LOG_ERR, "%s", err->message);
                g_ptr_array_add(t->host_errors, g_strdup(err->message));
                return -1;
        }
        vr_tune_plan_free(t->plan);
        t->plan = plan;
        wsig = writes_signature(plan);
        if (g_strcmp0(wsig, t->writes_sig) != 0) {
                g_autoptr(GPtrArray) errs = g_ptr_array_new_with_free_func((GDestroyNotify) g_error_free);
                if (!vr_cgroup_apply_writes(t->ops, t->root, plan->writes, t->policy->dom.name, errs)) {
                        for (guint i = 0; i < errs->len; i++) {
                                const GError *e = errs->pdata[i];
                                vr_log(LOG_ERR, "%s", e->message);
                                g_ptr_array_add(t->host_errors, g_strdup(e->message));
                        }
                } else {
                        g_free(t->writes_sig);
                        t->writes_sig = g_steal_pointer(&wsig);
                }
        }
        for (guint i = 0; i < plan->actions->len; i++) {
                const VrTuneAction *a = plan->actions->pdata[i];
                g_autofree char *sig = action_signature(a);
                g_autoptr(GError) e = NULL;
                gpointer key = GINT_TO_POINTER(a->tid);
                int r;

                if (g_strcmp0(g_hash_table_lookup(t->applied, key), sig) == 0)
                        continue;
                r = vr_apply_action(t->ops, t->root, &t->host, a, &e);
                if (r == -ENOENT && a->move_to) {
                        /* The RT group went away (removed by hand, or by a tuner that
                         * thought it was the last one): make it again, once. */
                        g_clear_error(&e);
                        if (vr_cgroup_apply_writes(t->ops, t->root, plan->writes, t->policy->dom.name, NULL))
                                r = vr_apply_action(t->ops, t->root, &t->host, a, &e);
                }
                if (r < 0) {
                        vr_log(LOG_WARNING, "domain '%s': %s", t->policy->dom.name, e->message);
                        g_hash_table_replace(t->errors, key, g_strdup(e->message));
                        g_hash_table_remove(t->applied, key);
                        failures++;
                } else if (a->affinity || a->set_sched || a->move_to) {
                        g_autofree char *aff = a->affinity ? vr_cpuset_format(a->affinity) : NULL;
                        vr_log(LOG_INFO, "domain '%s': %s (tid %d, '%s'): %s%s%s%s", t->policy->dom.name,
                               a->role, (int) a->tid, a->comm, aff ? "CPUs " : "", aff ? aff : "",
                               a->set_sched ? ", class " : "", a->set_sched ? vr_sched_class_names[a->cls] : "");
                        g_hash_table_remove(t->errors, key);
                        g_hash_table_replace(t->applied, key, g_steal_pointer(&sig));
                } else {
                        g_hash_table_replace(t->applied, key, g_steal_pointer(&sig)); /* nothing to do */
                }
        }
        return failures;
}

int vr_tuner_refresh(VrTuner *t) {
        GPtrArray *threads = NULL;
        int r = vr_threads_discover(t->root, t->pid, t->policy->dom.type,
                                    (const char *const *) t->napi_devs, &threads);
        if (r < 0)
                return r == -ENOENT ? -ESRCH : r;
        if (t->threads)
                g_ptr_array_unref(t->threads);
        t->threads = threads;
        for (guint i = 0; i < threads->len; i++)
                if (in_vcpu_group(((VrThread *) threads->pdata[i])->cgroup))
                        t->libvirt_layout = true;
        for (guint i = threads->len; i-- > 0;)
                if (hold_back(t, threads->pdata[i]))
                        g_ptr_array_remove_index(threads, i);
        r = replan_and_apply(t);
        vr_tuner_flush(t);
        return r;
}

int vr_tuner_pending_timeout_ms(const VrTuner *t) {
        return g_hash_table_size(t->pending) ? 50 : -1;
}

void vr_tuner_retry_pending(VrTuner *t) {
        g_autofree gpointer *tids = NULL;
        guint n = 0;

        tids = g_hash_table_get_keys_as_array(t->pending, &n);
        for (guint i = 0; i < n; i++)
                vr_tuner_thread_event(t, GPOINTER_TO_INT(tids[i]), t->pid);
}

int vr_tuner_state_due_ms(const VrTuner *t, int debounce_ms) {
        gint64 left;
        if (!t->dirty)
                return -1;
        left = t->dirty_since + (gint64) debounce_ms * 1000 - g_get_monotonic_time();
        return left <= 0 ? 0 : (int) ((left + 999) / 1000);
}

void vr_tuner_flush(VrTuner *t) {
        if (t->dirty && vr_tuner_write_state(t) == 0)
                t->dirty = false;
}

static int find_thread(VrTuner *t, pid_t tid) {
        for (guint i = 0; t->threads && i < t->threads->len; i++)
                if (((VrThread *) t->threads->pdata[i])->tid == tid)
                        return (int) i;
        return -1;
}

int vr_tuner_thread_event(VrTuner *t, pid_t tid, pid_t tgid) {
        VrProcStat st;
        VrThreadKind kind;
        bool kthread, ours;
        int index = 0, pos, r;
        VrThread *th;

        if (tgid != t->pid && tgid != tid)
                return 0; /* another process's thread */
        if (vr_proc_read_stat(t->root, tgid, tgid == tid ? 0 : tid, &st) < 0)
                return 0; /* already gone */
        kthread = vr_proc_is_kthread(&st);
        if (tgid != t->pid && !kthread)
                return 0;
        kind = vr_thread_classify(st.comm, t->pid, kthread, tgid == t->pid,
                                  (const char *const *) t->napi_devs, &index);
        if (t->policy->dom.type == VR_DOMAIN_LXC)
                return kind ? vr_tuner_refresh(t) : 0; /* containers: rare, rescan */
        pos = find_thread(t, tid);
        ours = kind != 0;
        if (!ours && pos < 0)
                return 0;
        if (pos >= 0) {
                th = t->threads->pdata[pos];
                if (th->kind == kind && g_str_equal(th->comm, st.comm))
                        return 0; /* nothing new */
                g_ptr_array_remove_index(t->threads, (guint) pos);
        }
        if (ours) {
                g_auto(VrProcCgroup) cg = {0};
                th = g_new0(VrThread, 1);
                th->tid = tid;
                th->tgid = tgid;
                th->kind = kind;
                th->comm = g_strdup(st.comm);
                th->kthread = kthread;
                th->cpu_ticks = st.utime + st.stime;
                if (vr_proc_read_cgroup(t->root, tgid, tgid == tid ? 0 : tid, &cg) == 0)
                        th->cgroup = g_strdup(vr_cgroup_cpu_group(&cg));
                /* Ordinals: vhost/iothread/napi threads count in tid order. */
                if (kind != VR_THREAD_VCPU && kind != VR_THREAD_EMULATOR) {
                        index = 0;
                        for (guint i = 0; i < t->threads->len; i++) {
                                VrThread *o = t->threads->pdata[i];
                                index += o->kind == kind && o->tid < tid;
                        }
                }
                th->index = index;
                if (hold_back(t, th)) {
                        vr_thread_free(th);
                        return 0;
                }
                g_ptr_array_add(t->threads, th);
        }
        g_hash_table_remove(t->applied, GINT_TO_POINTER(tid));
        r = replan_and_apply(t);
        return r;
}

void vr_tuner_thread_exit(VrTuner *t, pid_t tid) {
        int pos = find_thread(t, tid);
        if (pos < 0)
                return;
        g_ptr_array_remove_index(t->threads, (guint) pos);
        g_hash_table_remove(t->applied, GINT_TO_POINTER(tid));
        g_hash_table_remove(t->errors, GINT_TO_POINTER(tid));
        g_hash_table_remove(t->pending, GINT_TO_POINTER(tid));
        mark_dirty(t);
}

static const VrTuneAction *action_for(const VrTuner *t, pid_t tid) {
        for (guint i = 0; t->plan && i < t->plan->actions->len; i++) {
                const VrTuneAction *a = t->plan->actions->pdata[i];
                if (a->tid == tid)
                        return a;
        }
        return NULL;
}

int vr_tuner_write_state(VrTuner *t) {
        g_autoptr(VrJson) j = vr_json_new();
        g_autofree char *json = NULL;
        g_autoptr(GError) err = NULL;

        vr_json_begin_object(j);
        vr_json_key(j, "domain");
        vr_json_string(j, t->policy->dom.name);
        vr_json_key(j, "type");
        vr_json_string(j, vr_domain_type_names[t->policy->dom.type]);
        vr_json_key(j, "pid");
        vr_json_int(j, t->pid);
        vr_json_key(j, "tuner_pid");
        vr_json_int(j, getpid());
        vr_json_key(j, "events");
        vr_json_string(j, t->mode);
        vr_json_key(j, "started_us");
        vr_json_int(j, t->started);
        vr_json_key(j, "updated_us");
        vr_json_int(j, g_get_real_time());
        vr_json_key(j, "threads");
        vr_json_begin_array(j);
        for (guint i = 0; t->threads && i < t->threads->len; i++) {
                const VrThread *th = t->threads->pdata[i];
                const VrTuneAction *a = action_for(t, th->tid);
                const char *e = g_hash_table_lookup(t->errors, GINT_TO_POINTER(th->tid));
                g_autofree char *role = vr_thread_role(th);
                g_autofree char *aff = a && a->affinity ? vr_cpuset_format(a->affinity) : NULL;
                vr_json_begin_object(j);
                vr_json_key(j, "tid");
                vr_json_int(j, th->tid);
                vr_json_key(j, "role");
                vr_json_string(j, role);
                vr_json_key(j, "comm");
                vr_json_string(j, th->comm);
                vr_json_key(j, "kthread");
                vr_json_bool(j, th->kthread);
                vr_json_key(j, "cpus");
                vr_json_string(j, aff);
                vr_json_key(j, "class");
                vr_json_string(j, a && a->set_sched ? vr_sched_class_names[a->cls] : NULL);
                if (a && a->set_sched && (a->cls == VR_SCHED_FIFO || a->cls == VR_SCHED_RR)) {
                        vr_json_key(j, "priority");
                        vr_json_int(j, a->priority);
                }
                if (a && a->set_sched && a->cls == VR_SCHED_DEADLINE) {
                        vr_json_key(j, "runtime_ns");
                        vr_json_uint(j, a->runtime_ns);
                        vr_json_key(j, "deadline_ns");
                        vr_json_uint(j, a->deadline_ns);
                        vr_json_key(j, "period_ns");
                        vr_json_uint(j, a->period_ns);
                }
                vr_json_key(j, "applied");
                vr_json_bool(j, g_hash_table_contains(t->applied, GINT_TO_POINTER(th->tid)));
                vr_json_key(j, "error");
                vr_json_string(j, e);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_key(j, "cgroup_writes");
        vr_json_begin_array(j);
        for (guint i = 0; t->plan && i < t->plan->writes->len; i++) {
                const VrCgroupWrite *w = t->plan->writes->pdata[i];
                g_autofree char *f = g_strconcat("/", w->file, NULL);
                vr_json_begin_object(j);
                vr_json_key(j, "file");
                vr_json_string(j, f);
                vr_json_key(j, "value");
                vr_json_string(j, w->value);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_key(j, "notes");
        vr_json_begin_array(j);
        for (guint i = 0; t->plan && i < t->plan->notes->len; i++)
                vr_json_string(j, t->plan->notes->pdata[i]);
        vr_json_end_array(j);
        vr_json_key(j, "errors");
        vr_json_begin_array(j);
        for (guint i = 0; i < t->host_errors->len; i++)
                vr_json_string(j, t->host_errors->pdata[i]);
        vr_json_end_array(j);
        vr_json_end_object(j);
        json = vr_json_finish(j);

        /* Atomic (rename) but not durable (vr-state.h): an fsync here put milliseconds
         * on the path of each new thread. */
        if (!vr_state_write(t->state_dir, VR_STATE_TUNER, t->policy->dom.name, json, &err)) {
                vr_log(LOG_WARNING, "%s", err->message);
                return -EIO;
        }
        return 0;
}

void vr_tuner_remove_state(VrTuner *t) {
        (void) vr_state_remove(t->state_dir, VR_STATE_TUNER, t->policy->dom.name);
}

/* Another domain's tuner alive in the same state directory? */
static bool other_tuners(const VrTuner *t) {
        g_autoptr(GPtrArray) domains = vr_state_domains(t->state_dir, VR_STATE_TUNER_PID);

        for (guint i = 0; i < domains->len; i++) {
                const char *d = domains->pdata[i];
                if (!g_str_equal(d, t->policy->dom.name) &&
                    vr_state_pid_alive(t->root, t->state_dir, VR_STATE_TUNER_PID, d, NULL))
                        return true;
        }
        return false;
}

void vr_tuner_cleanup(VrTuner *t) {
        /* Groups the plan created (the RT group) are shared by every router's tuner:
         * they go when the last tuner goes (an empty group between two threads of
         * another router is still in use). */
        if (other_tuners(t))
                return;
        for (guint i = 0; t->plan && i < t->plan->writes->len; i++) {
                const VrCgroupWrite *w = t->plan->writes->pdata[i];
                g_autofree char *dir = NULL;
                g_autoptr(GError) err = NULL;
                int r;
                if (!w->mkdir)
                        continue;
                dir = g_path_get_dirname(w->file);
                /* The leader's exit is announced while the other threads of the
                 * domain may still be leaving the group: two seconds. */
                r = vr_cgroup_remove_group(t->ops, t->root, dir, 2000, &err);
                if (r > 0)
                        vr_log(LOG_INFO, "domain '%s': removed cgroup /%s", t->policy->dom.name, dir);
                else if (r < 0)
                        vr_log(LOG_WARNING, "domain '%s': %s", t->policy->dom.name, err->message);
        }
}
