#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "vr-error.h"
#include "vr-state.h"
#include "vr-sysfs.h"

/* One table: a file's name is spelled here and nowhere else. */
static const struct {
        const char *name; /* suffix after the domain, or the whole name */
        bool per_domain;
        bool durable;
} files[VR_STATE_FILE_COUNT] = {
        [VR_STATE_TUNER] = {".json", true, false},
        [VR_STATE_TUNER_PID] = {".tuner.pid", true, true},
        [VR_STATE_SPEC] = {".spec.json", true, true},
        [VR_STATE_HOOK] = {".hook.json", true, true},
        [VR_STATE_LEDGER] = {"ledger", false, true},
        [VR_STATE_LEDGER_LOCK] = {"ledger.lock", false, false},
};

const char *vr_state_domain_problem(const char *domain) {
        const char *why = vr_name_problem(domain, VR_STATE_DOMAIN_MAX);

        if (why)
                return why;
        return domain[0] == '.' ? "begins with '.'" : NULL;
}

/* The file's name in the directory, NULL when DOMAIN cannot be part of one. */
static char *file_name(VrStateFile f, const char *domain) {
        if (!files[f].per_domain)
                return g_strdup(files[f].name);
        return vr_state_domain_problem(domain) ? NULL : g_strconcat(domain, files[f].name, NULL);
}

/* The error of a function given a name that cannot name a state file. */
static bool bad_domain(const char *domain, GError **error) {
        g_set_error(error, VR_ERROR, VR_ERROR_INVALID,
                    "domain name '%s' %s: expected a name of at most %d bytes, without '/', not beginning with '.', to name its files in the state directory",
                    domain ? domain : "", vr_state_domain_problem(domain), VR_STATE_DOMAIN_MAX);
        return false;
}

char *vr_state_path(const char *state_dir, VrStateFile f, const char *domain) {
        g_autofree char *name = file_name(f, domain);
        return name ? g_build_filename(state_dir, name, NULL) : NULL;
}

bool vr_state_name_parse(const char *name, VrStateFile *ret_f, char **ret_domain) {
        size_t len = strlen(name), best_len = 0;
        int best = -1;

        if (name[0] == '.')
                return false; /* a temporary file */
        /* The longest suffix wins: "vr1.spec.json" is vr1's spec, not "vr1.spec"'s state. */
        for (int f = 0; f < VR_STATE_FILE_COUNT; f++) {
                size_t n = strlen(files[f].name);
                if (files[f].per_domain && len > n && n > best_len && g_str_has_suffix(name, files[f].name)) {
                        best = f;
                        best_len = n;
                }
        }
        if (best < 0)
                return false;
        *ret_f = (VrStateFile) best;
        *ret_domain = g_strndup(name, len - best_len);
        return true;
}

static int compare_names(gconstpointer a, gconstpointer b) {
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *vr_state_domains(const char *state_dir, VrStateFile f) {
        GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(GDir) d = g_dir_open(state_dir, 0, NULL);
        const char *name;

        while (d && (name = g_dir_read_name(d))) {
                VrStateFile kind;
                char *domain = NULL;
                if (!vr_state_name_parse(name, &kind, &domain))
                        continue;
                if (kind == f)
                        g_ptr_array_add(out, domain);
                else
                        g_free(domain);
        }
        g_ptr_array_sort(out, compare_names);
        return out;
}

static int write_all(int fd, const char *text, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, text, len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                text += n;
                len -= (size_t) n;
        }
        return 0;
}

static int fsync_dir(const char *dir) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        close(fd);
        return r;
}

/* Temporary file, fsync when durable, rename. Not g_file_set_contents: it fsyncs
 * whenever it renames (G_FILE_SET_CONTENTS_CONSISTENT), and the tuner state needs the
 * rename (readers never see half a file) without the fsync (milliseconds on the path
 * of every new thread); and its temporary "FILE.XXXXXX" sits beside the state files
 * under a name a reader of the directory could take for one. */
static int write_atomic(const char *dir, const char *name, const char *text, bool durable) {
        g_autofree char *path = g_build_filename(dir, name, NULL);
        g_autofree char *tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, name);
        int fd, r;

        fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = write_all(fd, text, strlen(text));
        if (r == 0 && durable && fsync(fd) < 0)
                r = -errno;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r == 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        return durable ? fsync_dir(dir) : 0;
}

bool vr_state_write(const char *state_dir, VrStateFile f, const char *domain, const char *text, GError **error) {
        g_autofree char *name = file_name(f, domain);
        g_autofree char *who = NULL;
        int r;

        if (!name)
                return bad_domain(domain, error);
        who = files[f].per_domain ? g_strdup_printf("domain '%s': ", domain) : g_strdup("");
        r = g_mkdir_with_parents(state_dir, 0755) < 0 ? -errno : 0;
        if (r < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "%scannot create state directory %s: %s%s", who, state_dir,
                            g_strerror(-r), r == -EROFS ? " (a read-only file system)" : "");
                return false;
        }
        r = write_atomic(state_dir, name, text, files[f].durable);
        if (r < 0) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "%scannot write %s/%s: %s%s", who, state_dir, name,
                            g_strerror(-r), r == -EROFS ? " (a read-only file system)" : "");
                return false;
        }
        return true;
}

int vr_state_read(const char *state_dir, VrStateFile f, const char *domain, char **ret_text) {
        g_autofree char *path = vr_state_path(state_dir, f, domain);
        g_autoptr(GError) err = NULL;
        char *text = NULL;

        if (!path)
                return -EINVAL;
        if (!g_file_get_contents(path, &text, NULL, &err)) {
                switch (err->code) {
                case G_FILE_ERROR_NOENT: return -ENOENT;
                case G_FILE_ERROR_ACCES: return -EACCES;
                case G_FILE_ERROR_ISDIR: return -EISDIR;
                default: return -EIO;
                }
        }
        *ret_text = text;
        return 0;
}

int vr_state_remove(const char *state_dir, VrStateFile f, const char *domain) {
        g_autofree char *path = vr_state_path(state_dir, f, domain);

        if (!path)
                return -EINVAL;
        /* ENOTDIR: the state directory is no directory, so nothing is in it. */
        return unlink(path) < 0 && errno != ENOENT && errno != ENOTDIR ? -errno : 0;
}

/* ".NAME.XXXXXX", the temporary file of NAME (write_atomic): mkstemp's six letters and
 * digits, so that no state file of another domain ("." + "a.json" + ".b.json" is domain
 * ".a.json.b"'s) reads as one. */
static bool is_temporary_of(const char *entry, const char *name) {
        size_t n = strlen(name);

        if (entry[0] != '.' || strncmp(entry + 1, name, n) != 0 || entry[n + 1] != '.' || strlen(entry + n + 2) != 6)
                return false;
        for (const char *p = entry + n + 2; *p; p++)
                if (!g_ascii_isalnum(*p))
                        return false;
        return true;
}

/* Remove the temporary files of the files of kinds F (per_domain: all of DOMAIN's). */
static void remove_temporaries(const char *state_dir, const bool kinds[VR_STATE_FILE_COUNT], const char *domain) {
        g_autoptr(GDir) d = g_dir_open(state_dir, 0, NULL);
        const char *entry;

        while (d && (entry = g_dir_read_name(d))) {
                for (int f = 0; f < VR_STATE_FILE_COUNT; f++) {
                        g_autofree char *name = NULL, *path = NULL;
                        if (!kinds[f] || !(name = file_name((VrStateFile) f, domain)) || !is_temporary_of(entry, name))
                                continue;
                        path = g_build_filename(state_dir, entry, NULL);
                        (void) unlink(path);
                }
        }
}

void vr_state_remove_temporaries(const char *state_dir, VrStateFile f, const char *domain) {
        bool kinds[VR_STATE_FILE_COUNT] = {false};

        kinds[f] = true;
        remove_temporaries(state_dir, kinds, domain);
}

void vr_state_remove_domain(const char *state_dir, const char *domain) {
        bool kinds[VR_STATE_FILE_COUNT] = {false};

        if (vr_state_domain_problem(domain))
                return; /* nothing of it can be here: no file is named after it */
        for (int f = 0; f < VR_STATE_FILE_COUNT; f++) {
                kinds[f] = files[f].per_domain;
                if (files[f].per_domain)
                        (void) vr_state_remove(state_dir, (VrStateFile) f, domain);
        }
        remove_temporaries(state_dir, kinds, domain);
}

bool vr_state_write_pid(const char *root, const char *state_dir, VrStateFile f, const char *domain, pid_t pid,
                        GError **error) {
        VrProcId id = {pid, 0, NULL};
        g_autofree char *text = NULL;

        if (vr_proc_id_read(root, pid, &id) < 0)
                id = (VrProcId){pid, 0, NULL};
        text = id.starttime ? g_strdup_printf("%d\n%" G_GUINT64_FORMAT "\n", (int) pid, id.starttime)
                            : g_strdup_printf("%d\n", (int) pid);
        return vr_state_write(state_dir, f, domain, text, error);
}

int vr_state_read_pid(const char *state_dir, VrStateFile f, const char *domain, VrProcId *ret) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        guint64 pid = 0, start = 0;
        int r = vr_state_read(state_dir, f, domain, &text);

        if (r < 0)
                return r;
        lines = g_strsplit(text, "\n", 3);
        if (!lines[0] || !g_ascii_string_to_unsigned(g_strstrip(lines[0]), 10, 2, G_MAXINT32, &pid, NULL))
                return -EINVAL;
        /* A second line is the start time; an old file ends after the pid. */
        if (lines[1] && *g_strstrip(lines[1]) &&
            !g_ascii_string_to_unsigned(lines[1], 10, 0, G_MAXUINT64, &start, NULL))
                return -EINVAL;
        /* A file with the pid alone (older versions) names the tuner only if that
         * process is still called so: its pid may by now be any process's. */
        *ret = (VrProcId){(pid_t) pid, start, !start && f == VR_STATE_TUNER_PID ? VR_TUNER_COMM : NULL};
        return 0;
}

bool vr_state_pid_alive(const char *root, const char *state_dir, VrStateFile f, const char *domain,
                        VrProcId *ret_id) {
        VrProcId id;

        if (vr_state_read_pid(state_dir, f, domain, &id) < 0 || !vr_proc_id_alive(root, &id))
                return false;
        if (ret_id)
                *ret_id = id;
        return true;
}
