#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "vr-error.h"
#include "vr-json.h"
#include "vr-ledger.h"
#include "vr-proc.h"
#include "vr-state.h"
#include "vr-sysfs.h"

#define PREPARE_GRACE_US ((gint64) VR_LEDGER_PREPARE_GRACE_S * G_USEC_PER_SEC)

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

/* A ledger that is not what the writer writes is corrupt: read as far as it goes, it
 * would hand a second router what the first holds. Every refusal names the file, the
 * entry and the field, and says what to do. */
static bool corrupt(const VrLedger *l, GError **error, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static bool corrupt(const VrLedger *l, GError **error, const char *fmt, ...) {
        g_autofree char *what = NULL;
        va_list ap;

        va_start(ap, fmt);
        what = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                    "ledger %s is corrupt: %s: with no router running, remove it; otherwise restore it from the state files in its directory",
                    l->path, what);
        return false;
}

/* An integer member KEY of entry N from MIN to MAX into *ret; absent leaves *ret. */
static bool entry_int(const VrLedger *l, const VrJsonNode *n, const char *who, const char *key, int64_t min,
                      int64_t max, int64_t *ret, GError **error) {
        int r = vr_json_member_int(n, key, min, max, ret);

        if (r == 0 || r == -ENOENT)
                return true;
        return corrupt(l, error, "%s: \"%s\": expected a whole number from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
                       who, key, min, max);
}

/* One entry of the "domains" array, added to l->entries. */
static bool parse_entry(VrLedger *l, const VrJsonNode *n, guint i, GError **error) {
        const VrJsonNode *name_n = vr_json_member(n, "domain"), *driver_n = vr_json_member(n, "driver");
        const VrJsonNode *cpus = vr_json_member(n, "cpus"), *vfs = vr_json_member(n, "vfs");
        const VrJsonNode *dl = vr_json_member(n, "deadline_ppm");
        g_autofree char *who = g_strdup_printf("entry %u", i + 1);
        const char *name, *why;
        VrLedgerEntry *e;
        int64_t v;

        if (n->type != VR_JSON_OBJECT)
                return corrupt(l, error, "%s: expected an object", who);
        if (!name_n || name_n->type != VR_JSON_STRING)
                return corrupt(l, error, "%s: \"domain\": expected the domain's name", who);
        name = name_n->string;
        /* Its name goes into paths (libvirt's pid file of it). */
        if ((why = vr_state_domain_problem(name)))
                return corrupt(l, error, "%s: \"domain\": '%s' %s: expected a domain name", who, name, why);
        g_free(who);
        who = g_strdup_printf("entry %u (domain '%s')", i + 1, name);
        if (vr_ledger_find(l, name))
                return corrupt(l, error, "%s: \"domain\": a second entry for '%s'", who, name);
        if (driver_n && (driver_n->type != VR_JSON_STRING ||
                         (!g_str_equal(driver_n->string, "qemu") && !g_str_equal(driver_n->string, "lxc"))))
                return corrupt(l, error, "%s: \"driver\": expected \"qemu\" or \"lxc\"", who);
        e = vr_ledger_entry_new(name, driver_n ? driver_n->string : NULL);
        g_ptr_array_add(l->entries, e);
        v = 0;
        if (!entry_int(l, n, who, "pid", 0, G_MAXINT32, &v, error))
                return false;
        e->pid = (pid_t) v;
        v = 0;
        if (!entry_int(l, n, who, "pid_start", 0, VR_JSON_INT_MAX, &v, error))
                return false;
        e->pid_start = (uint64_t) v;
        if (!entry_int(l, n, who, "since_us", 0, VR_JSON_INT_MAX, &e->since_us, error))
                return false;
        if (cpus && cpus->type != VR_JSON_NULL &&
            (cpus->type != VR_JSON_STRING || vr_cpuset_parse(cpus->string, &e->cpus) < 0))
                return corrupt(l, error, "%s: \"cpus\": expected a CPU list such as \"2-5,8\", or null", who);
        if (vfs && vfs->type != VR_JSON_ARRAY)
                return corrupt(l, error, "%s: \"vfs\": expected an array of PCI addresses", who);
        for (guint k = 0; vfs && k < vfs->items->len; k++) {
                const VrJsonNode *a = vfs->items->pdata[k];
                if (a->type != VR_JSON_STRING || vr_name_problem(a->string, NAME_MAX))
                        return corrupt(l, error, "%s: \"vfs\"[%u]: expected a PCI address", who, k);
                g_ptr_array_add(e->vfs, g_strdup(a->string));
        }
        if (dl && dl->type != VR_JSON_OBJECT)
                return corrupt(l, error, "%s: \"deadline_ppm\": expected an object of millionths of a CPU", who);
        for (guint k = 0; dl && k < dl->keys->len; k++) {
                /* Bounded so that the sum over every router cannot overflow. */
                if (vr_json_get_int(dl->items->pdata[k], 0, G_MAXUINT32, &v) < 0)
                        return corrupt(l, error, "%s: \"deadline_ppm\": \"%s\": expected a whole number from 0 to %u",
                                       who, (char *) dl->keys->pdata[k], G_MAXUINT32);
                g_hash_table_insert(e->dl_ppm, g_strdup(dl->keys->pdata[k]), GSIZE_TO_POINTER((gsize) v));
        }
        return true;
}

static bool parse_entries(VrLedger *l, const char *text, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(VrJsonNode) doc = vr_json_parse(text, &local);
        const VrJsonNode *list;
        int64_t version = 0;

        if (!doc)
                return corrupt(l, error, "%s", local->message);
        list = vr_json_member(doc, "domains");
        if (vr_json_member_int(doc, "version", 1, 1, &version) < 0 || !list || list->type != VR_JSON_ARRAY)
                return corrupt(l, error, "expected {\"version\": 1, \"domains\": [...]}");
        for (guint i = 0; i < list->items->len; i++)
                if (!parse_entry(l, list->items->pdata[i], i, error))
                        return false;
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
        /* Every writer of the ledger holds the lock: a temporary file seen now is one a
         * writer killed mid-write left, and nothing else would ever remove it. */
        vr_state_remove_temporaries(state_dir, VR_STATE_LEDGER, NULL);
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
        VrProcId id = {vr_libvirt_pid(root, e->driver, e->domain), 0, NULL};
        return vr_proc_id_alive(root, &id) ? id.pid : 0;
}

GPtrArray *vr_ledger_reclaim(VrLedger *l) {
        GPtrArray *gone = g_ptr_array_new_with_free_func(g_free);
        gint64 now = g_get_real_time();

        for (guint i = l->entries->len; i-- > 0;) {
                VrLedgerEntry *e = l->entries->pdata[i];
                bool alive;
                if (e->pid && e->pid_start)
                        alive = vr_proc_id_alive(l->root, &(VrProcId){e->pid, e->pid_start, NULL});
                else if (e->pid) /* an older ledger's: the pid alone may by now be any process's */
                        alive = libvirt_pid(l->root, e) == e->pid;
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
