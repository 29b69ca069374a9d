/* vr-init's kernel modules: which, when, and loading them after their dependencies.
 * Libc only (see init-util.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "init-modules.h"
#include "init-util.h"

enum { MAX_MODULES = 128 };

/* ---------------------------------------------------------------------------
 * Modules: which, and when. The image build asks for this list (--modules), so it
 * is written down once. */
static const char *const when_names[] = {"boot", "pci", "tc"};

static const struct wanted {
        const char *name;
        enum when when;
} wanted[] = {
        /* fw_cfg first: the configuration is there as soon as it loads */
        {"qemu_fw_cfg", AT_BOOT},
        /* virtio-net, in the order that works (virtio_net's deps resolve the rest) */
        {"virtio_ring", AT_BOOT},
        {"virtio", AT_BOOT},
        {"virtio_pci_modern_dev", AT_BOOT},
        {"virtio_pci_legacy_dev", AT_BOOT},
        {"virtio_pci", AT_BOOT},
        {"failover", AT_BOOT},
        {"net_failover", AT_BOOT},
        {"virtio_net", AT_BOOT},
        /* hvc0 and named virtio-serial ports: the host's counters channel */
        {"virtio_console", AT_BOOT},
        /* ACPI power button as an input device: what `virsh shutdown` presses */
        {"button", AT_BOOT},
        {"evdev", AT_BOOT},
        /* VF drivers: loaded only for a PCI device they claim (modules.alias) */
        {"ixgbevf", FOR_PCI},
        {"iavf", FOR_PCI},
        {"igbvf", FOR_PCI},
        {"mlx5_core", FOR_PCI},
        /* tc: clsact lives in sch_ingress; loaded only when a port is policed or shaped */
        {"sch_ingress", FOR_TC},
        {"cls_matchall", FOR_TC},
        {"act_police", FOR_TC},
        {"act_gact", FOR_TC}, /* "action ok": ARP passes the policers */
        {"sch_tbf", FOR_TC},
        {"cls_u32", FOR_TC},
        {"sch_htb", FOR_TC},
};

/* ---------------------------------------------------------------------------
 * Loading: modules.dep in the image lists only what the image holds. */
struct module {
        char name[64];
        char *path; /* relative to the modules dir */
        char *deps; /* space-separated paths */
        bool loaded, visiting;
};

static struct module modules[MAX_MODULES];
static size_t n_modules;
static char modules_dir[PATH_MAX];
static char *modules_dep;

static void module_name(const char *path, char *name, size_t size) {
        const char *base = strrchr(path, '/');
        size_t n;
        base = base ? base + 1 : path;
        n = strcspn(base, ".");
        if (n >= size)
                n = size - 1;
        for (size_t i = 0; i < n; i++) /* the kernel treats '-' and '_' alike */
                name[i] = base[i] == '-' ? '_' : base[i];
        name[n] = '\0';
}

void modules_init(void) {
        struct utsname u;
        char path[PATH_MAX + 16];
        struct stat st;
        int fd;

        uname(&u);
        snprintf(modules_dir, sizeof(modules_dir), "/lib/modules/%s", u.release);
        snprintf(path, sizeof(path), "%s/modules.dep", modules_dir);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0) {
                report_error("no modules for kernel %s in the image (%s: %s)", u.release, path, strerror(errno));
                if (fd >= 0)
                        close(fd);
                return;
        }
        modules_dep = calloc(1, (size_t) st.st_size + 1);
        if (!modules_dep || read(fd, modules_dep, (size_t) st.st_size) != st.st_size) {
                report_error("%s: cannot read it", path);
                close(fd);
                return;
        }
        close(fd);
        for (char *save = NULL, *l = strtok_r(modules_dep, "\n", &save); l && n_modules < MAX_MODULES;
             l = strtok_r(NULL, "\n", &save)) {
                char *colon = strchr(l, ':');
                struct module *m = &modules[n_modules];
                if (!colon)
                        continue;
                *colon = '\0';
                m->path = l;
                m->deps = colon + 1;
                module_name(l, m->name, sizeof(m->name));
                n_modules++;
        }
}

static struct module *module_find(const char *name) {
        char norm[64];
        module_name(name, norm, sizeof(norm));
        for (size_t i = 0; i < n_modules; i++)
                if (strcmp(modules[i].name, norm) == 0)
                        return &modules[i];
        return NULL;
}

/* Loads a module after its dependencies. Returns 0, or -ENOENT when the image
 * does not hold it (a driver this kernel lacks), or another -errno. */
static int module_load(const char *name) {
        struct module *m = module_find(name);
        char path[PATH_MAX * 2], deps[1024], *save = NULL;
        int fd, r = 0;

        if (!m)
                return -ENOENT;
        if (m->loaded || m->visiting)
                return 0;
        m->visiting = true;
        snprintf(deps, sizeof(deps), "%s", m->deps);
        for (char *d = strtok_r(deps, " ", &save); d; d = strtok_r(NULL, " ", &save))
                if ((r = module_load(d)) < 0 && r != -EEXIST)
                        report_error("module %s: dependency %s: %s", m->name, d, strerror(-r));
        snprintf(path, sizeof(path), "%s/%s", modules_dir, m->path);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                r = -errno;
        } else {
                r = syscall(SYS_finit_module, fd, "", 0) < 0 ? -errno : 0;
                close(fd);
        }
        m->visiting = false;
        m->loaded = r == 0 || r == -EEXIST;
        return m->loaded ? 0 : r;
}

void load_modules(enum when when) {
        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++) {
                int r;
                if (wanted[i].when != when)
                        continue;
                r = module_load(wanted[i].name);
                /* A boot module may be built in; a tc one must be there. */
                if (r < 0 && !(r == -ENOENT && when == AT_BOOT))
                        report_error("module %s: %s", wanted[i].name, strerror(-r));
        }
}

/* VF drivers only for devices they claim: a VF-less router loads none of them. */
void load_pci_drivers(void) {
        static char alias[65536], copy[sizeof(alias)];
        char path[PATH_MAX + 32], modalias[256];
        DIR *dir;
        struct dirent *de;

        snprintf(path, sizeof(path), "%s/modules.alias", modules_dir);
        if (read_file(path, alias, sizeof(alias)) <= 0 || !(dir = opendir("/sys/bus/pci/devices")))
                return;
        while ((de = readdir(dir))) {
                char *save = NULL;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", de->d_name);
                if (access(path, F_OK) == 0)
                        continue;
                snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/modalias", de->d_name);
                if (read_file(path, modalias, sizeof(modalias)) <= 0)
                        continue;
                modalias[strcspn(modalias, "\n")] = '\0';
                memcpy(copy, alias, sizeof(copy));
                /* lines: alias PATTERN MODULE */
                for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
                        char pattern[256], mod[64];
                        int r;
                        if (sscanf(l, "alias %255s %63s", pattern, mod) != 2 || fnmatch(pattern, modalias, 0) != 0)
                                continue;
                        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
                                if (wanted[i].when == FOR_PCI && strcmp(wanted[i].name, mod) == 0 &&
                                    (r = module_load(mod)) < 0)
                                        report_error("module %s for PCI device %s: %s", mod, de->d_name, strerror(-r));
                }
        }
        closedir(dir);
}

/* The build asks for this list (build-image.sh: vr-init --modules). */
int modules_list(void) {
        for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]); i++)
                printf("%s %s\n", when_names[wanted[i].when], wanted[i].name);
        return 0;
}
