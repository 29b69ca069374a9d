#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "vr-error.h"
#include "vr-json.h"
#include "vr-ledger.h"
#include "vr-proc.h"
#include "vr-state.h"
#include "vr-sysfs.h"

/* A domain that has prepared but not started for this long has failed to start
 * without its release hook running (libvirtd killed): its entry is reclaimed. */
#define PREPARE_GRACE_US (300LL * G_USEC_PER_SEC)

struct VrLedger {
        char *root;
        char *state_dir;
        char *path;
        int lock_fd;
        GPtrArray *entries; /* VrLedgerEntry */
};

VrLedgerEntry *vr_ledger_entry_new(const char *domain, const char *driver) {
        VrLedgerEntry *e = g_new0(VrLedgerEntry, 1);
        e->domain = g_strdup(domain);
        e->driver = g_strdup(driver ? driver : "qemu");
        e->since_us = g_get_real_time();
        e->vfs = g_ptr_array_new_with_free_func(g_free);
        e->dl_ppm = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
        return e;
}

void vr_ledger_entry_free(VrLedgerEntry *e) {
        if (!e)
                return;
        g_free(e->domain);
        g_free(e->driver);
        vr_cpuset_free(e->cpus);
        g_ptr_array_unref(e->vfs);
        g_hash_table_unref(e->dl_ppm);
        g_free(e);
}

static bool parse_entries(VrLedger *l, const char *text, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(VrJsonNode) doc = vr_json_parse(text, &local);
        const VrJsonNode *list;

        if (!doc) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                            "ledger %s is corrupt (%s): with no router running, remove it; otherwise restore it from the state files in its directory",
                            l->path, local->message);
                return false;
        }
        list = vr_json_member(doc, "domains");
        if (vr_json_member_int(doc, "version", 0) != 1 || !list || list->type != VR_JSON_ARRAY) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                            "ledger %s is corrupt: expected {\"version\": 1, \"domains\": [...]}", l->path);
                return false;
        }
        for (guint i = 0; i < list->items->len; i++) {
                const VrJsonNode *n = list->items->pdata[i];
                const char *name = vr_json_member_string(n, "domain");
                const char *cpus = vr_json_member_string(n, "cpus");
                const VrJsonNode *vfs = vr_json_member(n, "vfs");
                const VrJsonNode *dl = vr_json_member(n, "deadline_ppm");
                VrLedgerEntry *e;

                if (!name || !*name) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                                    "ledger %s is corrupt: entry %u has no domain name", l->path, i);
                        return false;
                }
                e = vr_ledger_entry_new(name, vr_json_member_string(n, "driver"));
                g_ptr_array_add(l->entries, e);
                e->pid = (pid_t) vr_json_member_int(n, "pid", 0);
                e->pid_start = (uint64_t) vr_json_member_int(n, "pid_start", 0);
                e->since_us = vr_json_member_int(n, "since_us", e->since_us);
                if (cpus && vr_cpuset_parse(cpus, &e->cpus) < 0) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                                    "ledger %s is corrupt: domain '%s' has cpus '%s'", l->path, name, cpus);
                        return false;
                }
                for (guint k = 0; vfs && vfs->type == VR_JSON_ARRAY && k < vfs->items->len; k++) {
                        const VrJsonNode *v = vfs->items->pdata[k];
                        if (v->type == VR_JSON_STRING)
                                g_ptr_array_add(e->vfs, g_strdup(v->string));
                }
                for (guint k = 0; dl && dl->type == VR_JSON_OBJECT && k < dl->keys->len; k++) {
                        const VrJsonNode *v = dl->items->pdata[k];
                        if (v->type == VR_JSON_NUMBER && v->number >= 0)
                                g_hash_table_insert(e->dl_ppm, g_strdup(dl->keys->pdata[k]),
                                                    GSIZE_TO_POINTER((gsize) v->number));
                }
        }
        return true;
}

VrLedger *vr_ledger_open(const char *root, const char *state_dir, int wait_ms, GError **error) {
        g_autofree char *lock_path = vr_state_path(state_dir, VR_STATE_LEDGER_LOCK, NULL);
        g_autofree char *text = NULL;
        g_autoptr(GError) local = NULL;
        VrLedger *l;
        gint64 deadline = g_get_monotonic_time() + (gint64) wait_ms * 1000;
        int fd;

        if (g_mkdir_with_parents(state_dir, 0755) < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "cannot create state directory %s: %s", state_dir,
                            g_strerror(errno));
                return NULL;
        }
        fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "cannot open %s: %s%s", lock_path, g_strerror(errno),
                            errno == EROFS ? " (the state directory is on a read-only file system)" : "");
                return NULL;
        }
        /* Bounded wait: another hook holds it for milliseconds; a stuck holder must not
         * stop libvirt from starting or stopping domains. */
        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK || g_get_monotonic_time() > deadline) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                                    "ledger %s: still locked after %d ms by another virt-router hook", lock_path, wait_ms);
                        close(fd);
                        return NULL;
                }
                g_usleep(2000);
        }
        l = g_new0(VrLedger, 1);
        l->root = g_strdup(root ? root : "/");
        l->state_dir = g_strdup(state_dir);
        l->path = vr_state_path(state_dir, VR_STATE_LEDGER, NULL);
        l->lock_fd = fd;
        l->entries = g_ptr_array_new_with_free_func((GDestroyNotify) vr_ledger_entry_free);
        if (g_file_get_contents(l->path, &text, NULL, &local)) {
                if (!parse_entries(l, text, error)) {
                        vr_ledger_close(l);
                        return NULL;
                }
        } else if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "ledger %s: %s", l->path, local->message);
                vr_ledger_close(l);
                return NULL;
        }
        return l;
}

void vr_ledger_close(VrLedger *l) {
        if (!l)
                return;
        if (l->lock_fd >= 0)
                close(l->lock_fd); /* releases the flock */
        g_free(l->root);
        g_free(l->state_dir);
        g_free(l->path);
        g_ptr_array_unref(l->entries);
        g_free(l);
}

/* The domain's process per libvirt's pid file, if it runs. */
static pid_t libvirt_pid(const char *root, const VrLedgerEntry *e) {
        VrProcId id = {vr_libvirt_pid(root, e->driver, e->domain), 0};
        return vr_proc_id_alive(root, &id) ? id.pid : 0;
}

GPtrArray *vr_ledger_reclaim(VrLedger *l) {
        GPtrArray *gone = g_ptr_array_new_with_free_func(g_free);
        gint64 now = g_get_real_time();

        for (guint i = l->entries->len; i-- > 0;) {
                VrLedgerEntry *e = l->entries->pdata[i];
                bool alive;
                if (e->pid)
                        alive = vr_proc_id_alive(l->root, &(VrProcId){e->pid, e->pid_start});
                else
                        alive = now - e->since_us < PREPARE_GRACE_US || libvirt_pid(l->root, e) != 0;
                if (!alive) {
                        g_ptr_array_add(gone, g_strdup(e->domain));
                        g_ptr_array_remove_index(l->entries, i);
                }
        }
        return gone;
}

const VrLedgerEntry *vr_ledger_find(VrLedger *l, const char *domain) {
        for (guint i = 0; i < l->entries->len; i++) {
                const VrLedgerEntry *e = l->entries->pdata[i];
                if (g_str_equal(e->domain, domain))
                        return e;
        }
        return NULL;
}

VrCpuSet *vr_ledger_cpus_held(VrLedger *l, const char *except, char **ret_holders) {
        g_autoptr(VrCpuSet) held = vr_cpuset_new();
        g_autoptr(GString) who = g_string_new(NULL);

        for (guint i = 0; i < l->entries->len; i++) {
                const VrLedgerEntry *e = l->entries->pdata[i];
                g_autofree char *cpus = NULL;
                if (!e->cpus || (except && g_str_equal(e->domain, except)))
                        continue;
                for (int n = 0, cpu; (cpu = vr_cpuset_nth(e->cpus, (unsigned) n)) >= 0; n++)
                        vr_cpuset_set(held, (unsigned) cpu);
                cpus = vr_cpuset_format(e->cpus);
                g_string_append_printf(who, "%s%s by '%s'", who->len ? ", " : "", cpus, e->domain);
        }
        if (ret_holders)
                *ret_holders = g_string_free(g_steal_pointer(&who), FALSE);
        return g_steal_pointer(&held);
}

GHashTable *vr_ledger_vfs_held(VrLedger *l, const char *except) {
        GHashTable *held = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

        for (guint i = 0; i < l->entries->len; i++) {
                const VrLedgerEntry *e = l->entries->pdata[i];
                if (except && g_str_equal(e->domain, except))
                        continue;
                for (guint k = 0; k < e->vfs->len; k++)
                        g_hash_table_replace(held, g_strdup(e->vfs->pdata[k]), g_strdup(e->domain));
        }
        return held;
}

bool vr_ledger_release(VrLedger *l, const char *domain) {
        for (guint i = 0; i < l->entries->len; i++) {
                if (g_str_equal(((VrLedgerEntry *) l->entries->pdata[i])->domain, domain)) {
                        g_ptr_array_remove_index(l->entries, i);
                        return true;
                }
        }
        return false;
}

bool vr_ledger_set_pid(VrLedger *l, const char *domain, pid_t pid) {
        for (guint i = 0; i < l->entries->len; i++) {
                VrLedgerEntry *e = l->entries->pdata[i];
                if (g_str_equal(e->domain, domain)) {
                        VrProcId id;
                        /* With its start time, so that reclaim tells the domain's
                         * process from a later one with the same pid. */
                        e->pid = pid;
                        e->pid_start = vr_proc_id_read(l->root, pid, &id) == 0 ? id.starttime : 0;
                        return true;
                }
        }
        return false;
}

bool vr_ledger_reserve(VrLedger *l, VrLedgerEntry *want, uint32_t dl_cap_ppm_per_cpu,
                       GHashTable *domain_cpus, bool *ret_deadline, GError **error) {
        GHashTableIter it;
        gpointer key, val;

        if (ret_deadline)
                *ret_deadline = false;
        vr_ledger_release(l, want->domain); /* a restart replaces its own entry */
        for (guint i = 0; i < l->entries->len; i++) {
                const VrLedgerEntry *o = l->entries->pdata[i];
                if (want->cpus && o->cpus && vr_cpuset_intersects(want->cpus, o->cpus)) {
                        g_autofree char *a = vr_cpuset_format(want->cpus);
                        g_autofree char *b = vr_cpuset_format(o->cpus);
                        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                    "domain '%s': dedicated CPUs %s overlap CPUs %s reserved by running router '%s'",
                                    want->domain, a, b, o->domain);
                        return false;
                }
                for (guint k = 0; k < want->vfs->len; k++) {
                        if (g_ptr_array_find_with_equal_func(o->vfs, want->vfs->pdata[k], g_str_equal, NULL)) {
                                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                                            "domain '%s': VF %s is in use by running router '%s'", want->domain,
                                            (char *) want->vfs->pdata[k], o->domain);
                                return false;
                        }
                }
        }
        g_hash_table_iter_init(&it, want->dl_ppm);
        while (g_hash_table_iter_next(&it, &key, &val)) {
                uint64_t used = GPOINTER_TO_SIZE(val), others = 0;
                const char *k = key;
                const VrCpuSet *cpus = domain_cpus ? g_hash_table_lookup(domain_cpus, k) : NULL;
                /* "cpuN": one CPU; otherwise a root domain of the CPUs given for it. */
                unsigned n = g_str_has_prefix(k, "cpu") ? 1 : cpus ? vr_cpuset_count(cpus) : 1;
                uint64_t cap = (uint64_t) dl_cap_ppm_per_cpu * n;
                g_autoptr(GString) holders = g_string_new(NULL);
                g_autofree char *where = NULL;
                for (guint i = 0; i < l->entries->len; i++) {
                        const VrLedgerEntry *o = l->entries->pdata[i];
                        uint64_t v = GPOINTER_TO_SIZE(g_hash_table_lookup(o->dl_ppm, k));
                        if (!v)
                                continue;
                        others += v;
                        g_string_append_printf(holders, "%s'%s' %.1f%%", holders->len ? ", " : "", o->domain, v / 1e4);
                }
                if (used + others <= cap)
                        continue;
                if (g_str_has_prefix(k, "cpu")) {
                        where = g_strdup_printf("CPU %s", k + 3);
                } else {
                        g_autofree char *list = cpus ? vr_cpuset_format(cpus) : g_strdup("?");
                        where = g_strdup_printf("the root domain of CPU%s %s", n == 1 ? "" : "s", list);
                }
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                            "domain '%s': deadline reservations do not fit on %s: it needs %.1f%% of a CPU there, other routers hold %.1f%% (%s), and routers may use %.1f%% (deadline-cap %.1f%% x %u CPU%s): %.1f%% is left",
                            want->domain, where, used / 1e4, others / 1e4, holders->len ? holders->str : "none",
                            cap / 1e4, dl_cap_ppm_per_cpu / 1e4, n, n == 1 ? "" : "s",
                            others < cap ? (cap - others) / 1e4 : 0.0);
                if (ret_deadline)
                        *ret_deadline = true;
                return false;
        }
        g_ptr_array_add(l->entries, want);
        return true;
}

bool vr_ledger_save(VrLedger *l, GError **error) {
        g_autoptr(VrJson) j = vr_json_new();
        g_autofree char *text = NULL;

        vr_json_begin_object(j);
        vr_json_key(j, "version");
        vr_json_int(j, 1);
        vr_json_key(j, "domains");
        vr_json_begin_array(j);
        for (guint i = 0; i < l->entries->len; i++) {
                const VrLedgerEntry *e = l->entries->pdata[i];
                g_autofree char *cpus = e->cpus ? vr_cpuset_format(e->cpus) : NULL;
                g_autoptr(GList) keys = g_hash_table_get_keys(e->dl_ppm);
                vr_json_begin_object(j);
                vr_json_key(j, "domain");
                vr_json_string(j, e->domain);
                vr_json_key(j, "driver");
                vr_json_string(j, e->driver);
                vr_json_key(j, "pid");
                vr_json_int(j, e->pid);
                vr_json_key(j, "pid_start");
                vr_json_uint(j, e->pid_start);
                vr_json_key(j, "since_us");
                vr_json_int(j, e->since_us);
                vr_json_key(j, "cpus");
                vr_json_string(j, cpus);
                vr_json_key(j, "vfs");
                vr_json_begin_array(j);
                for (guint k = 0; k < e->vfs->len; k++)
                        vr_json_string(j, e->vfs->pdata[k]);
                vr_json_end_array(j);
                vr_json_key(j, "deadline_ppm");
                vr_json_begin_object(j);
                keys = g_list_sort(keys, (GCompareFunc) g_strcmp0);
                for (GList *k = keys; k; k = k->next) {
                        vr_json_key(j, k->data);
                        vr_json_uint(j, GPOINTER_TO_SIZE(g_hash_table_lookup(e->dl_ppm, k->data)));
                }
                vr_json_end_object(j);
                vr_json_end_object(j);
        }
        vr_json_end_array(j);
        vr_json_end_object(j);
        text = vr_json_finish(j);
        return vr_state_write(l->state_dir, VR_STATE_LEDGER, NULL, text, error);
}
