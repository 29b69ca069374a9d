#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "vr-sysfs.h"

char *vr_root_path(const char *root, const char *fmt, ...) {
        g_autofree char *rel = NULL;
        va_list ap;

        va_start(ap, fmt);
        rel = g_strdup_vprintf(fmt, ap);
        va_end(ap);
        while (*rel == '/')
                memmove(rel, rel + 1, strlen(rel));
        return g_build_filename(root && *root ? root : "/", rel, NULL);
}

int vr_read_line(const char *root, const char *relpath, char **ret) {
        g_autofree char *path = vr_root_path(root, "%s", relpath);
        g_autofree char *buf = NULL;
        g_autoptr(GError) err = NULL;

        if (!g_file_get_contents(path, &buf, NULL, &err))
                return g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_NOENT) ? -ENOENT
                     : g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_ACCES) ? -EACCES : -EIO;
        g_strchomp(buf);
        *ret = g_steal_pointer(&buf);
        return 0;
}

int vr_write_file(const char *root, const char *relpath, const char *value) {
        g_autofree char *path = vr_root_path(root, "%s", relpath);
        /* O_TRUNC: meaningless on sysfs, right on a fake tree of plain files. */
        int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
        size_t len = strlen(value);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = write(fd, value, len);
        if (n < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        if (close(fd) < 0)
                return -errno;
        return (size_t) n == len ? 0 : -EIO;
}

const char *vr_name_problem(const char *name, size_t max) {
        if (!name || !*name)
                return "is empty";
        if (strchr(name, '/'))
                return "contains '/'";
        if (g_str_equal(name, ".") || g_str_equal(name, ".."))
                return "is '.' or '..'";
        if (strlen(name) > max)
                return "is too long";
        return NULL;
}

const char *vr_netdev_name_problem(const char *name) {
        const char *why = vr_name_problem(name, IFNAMSIZ - 1);

        if (why)
                return why;
        for (const char *s = name; *s; s++)
                if (*s == ':' || g_ascii_isspace(*s))
                        return "contains ':' or a blank";
        return NULL;
}

static bool valid_component(const char *s) {
        return !vr_name_problem(s, NAME_MAX);
}

bool vr_netdev_exists(const char *root, const char *dev) {
        g_autofree char *path = NULL;

        if (!valid_component(dev))
                return false;
        path = vr_root_path(root, "sys/class/net/%s", dev);
        return access(path, F_OK) == 0;
}

int vr_pf_vfs(const char *root, const char *pf, GPtrArray **ret_addrs) {
        g_autoptr(GPtrArray) addrs = g_ptr_array_new_with_free_func(g_free);
        g_autofree char *dev = NULL;

        if (!vr_netdev_exists(root, pf))
                return -ENOENT;
        dev = vr_root_path(root, "sys/class/net/%s/device", pf);
        for (unsigned i = 0;; i++) {
                g_autofree char *link = g_strdup_printf("%s/virtfn%u", dev, i);
                g_autofree char *target = g_file_read_link(link, NULL);
                if (!target)
                        break;
                g_ptr_array_add(addrs, g_path_get_basename(target));
        }
        if (addrs->len == 0)
                return -ENOTSUP;
        *ret_addrs = g_steal_pointer(&addrs);
        return 0;
}

static int first_entry(const char *dir, char **ret) {
        g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
        const char *name;

        if (!d)
                return -ENOENT;
        name = g_dir_read_name(d);
        if (!name)
                return -ENOENT;
        *ret = g_strdup(name);
        return 0;
}

int vr_pci_netdev(const char *root, const char *addr, char **ret) {
        g_autofree char *dir = NULL;

        if (!valid_component(addr))
                return -EINVAL;
        dir = vr_root_path(root, "sys/bus/pci/devices/%s/net", addr);
        return first_entry(dir, ret);
}

int vr_vf_pf(const char *root, const char *addr, char **ret) {
        g_autofree char *dir = NULL;

        if (!valid_component(addr))
                return -EINVAL;
        dir = vr_root_path(root, "sys/bus/pci/devices/%s/physfn/net", addr);
        return first_entry(dir, ret);
}

char *vr_program_path(const char *env_var, const char *name, const char *installed_dir) {
        const char *env = g_getenv(env_var);
        g_autofree char *self = NULL, *dir = NULL, *sibling = NULL;

        if (env && *env)
                return g_strdup(env);
        self = g_file_read_link("/proc/self/exe", NULL);
        dir = self ? g_path_get_dirname(self) : NULL;
        sibling = dir ? g_build_filename(dir, name, NULL) : NULL;
        if (sibling && g_file_test(sibling, G_FILE_TEST_IS_EXECUTABLE))
                return g_steal_pointer(&sibling); /* the build tree */
        return g_build_filename(installed_dir, name, NULL);
}
