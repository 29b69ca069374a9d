/* virt-router-hook: the libvirt hook for the qemu and lxc drivers, installed as
 * $sysconfdir/libvirt/hooks/{qemu.d,lxc.d}/virt-router and called as
 *   NAME OP SUBOP EXTRA   with the domain XML on stdin.
 *
 * libvirt runs every hook for every domain, synchronously. This front links only
 * libc: loading GLib and libxml2 (with ICU) alone takes ~0.6 ms, more than a hook of
 * a domain that is no router may cost. It reads the XML, and only when the domain
 * carries virt-router metadata or the host config has rules that could bind it does
 * it hand the XML to virt-router-hook-full (beside it) through a memfd. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <syslog.h>
#include <unistd.h>

#define NS_MARK "urn:virt-router:"
#define MAX_XML (10 * 1024 * 1024 + 1)

static char *read_all(int fd, size_t *ret_len) {
        size_t cap = 65536, len = 0;
        char *buf = malloc(cap + 1);

        if (!buf)
                return NULL;
        for (;;) {
                ssize_t n;
                if (len == cap) {
                        char *b;
                        if (cap >= MAX_XML) { /* keep draining: libvirt must not see EPIPE */
                                char sink[65536];
                                while ((n = read(fd, sink, sizeof(sink))) > 0 || (n < 0 && errno == EINTR))
                                        ;
                                break;
                        }
                        cap *= 2;
                        b = realloc(buf, cap + 1);
                        if (!b) {
                                free(buf);
                                return NULL;
                        }
                        buf = b;
                }
                n = read(fd, buf + len, cap - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                len += (size_t) n;
        }
        buf[len] = '\0';
        *ret_len = len;
        return buf;
}

/* Whether the host config has [rule ...] groups (which bind domains without
 * metadata, e.g. Nova's, to a profile). An unreadable config counts as none: a
 * broken config must not stop domains that are no routers. */
static int config_has_rules(void) {
        const char *path = getenv("VIRT_ROUTER_CONFIG");
        char line[4096];
        FILE *f;
        int found = 0;

        f = fopen(path && *path ? path : SYSCONFDIR "/virt-router/virt-router.conf", "re");
        if (!f)
                return 0;
        while (!found && fgets(line, sizeof(line), f)) {
                const char *p = line;
                while (*p == ' ' || *p == '\t')
                        p++;
                found = strncmp(p, "[rule ", 6) == 0;
        }
        fclose(f);
        return found;
}

/* The operations libvirt fails when the hook fails (virt-router-hook-full's list). */
static int can_fail(int argc, char **argv) {
        return argc >= 3 && (!strcmp(argv[2], "prepare") || !strcmp(argv[2], "start") ||
                             !strcmp(argv[2], "started") || !strcmp(argv[2], "migrate") ||
                             !strcmp(argv[2], "restore"));
}

/* Once per channel, as the full hook: stderr where libvirt shows it (the operation
 * fails) or no libvirt runs us (too few arguments, VIRT_ROUTER_LOG=stderr), syslog
 * where libvirt drops it. Returns the exit status. */
static int report(int argc, char **argv, const char *fmt, ...) {
        const char *log = getenv("VIRT_ROUTER_LOG");
        va_list ap;

        va_start(ap, fmt);
        if (can_fail(argc, argv) || argc < 3 || (log && !strcmp(log, "stderr"))) {
                fputs("virt-router-hook: ", stderr);
                vfprintf(stderr, fmt, ap);
                fputc('\n', stderr);
        } else {
                openlog("virt-router-hook", LOG_PID, LOG_DAEMON);
                vsyslog(LOG_ERR, fmt, ap);
        }
        va_end(ap);
        return can_fail(argc, argv);
}

int main(int argc, char **argv) {
        char self[PATH_MAX], full[PATH_MAX + 32];
        const char *override = getenv("VIRT_ROUTER_HOOK_FULL");
        size_t len = 0;
        char *xml;
        ssize_t n;
        int fd;

        /* The full hook prints the help and the usage error (exit 2); libvirt always
         * passes DOMAIN OPERATION SUB-OPERATION EXTRA, so this costs it nothing. */
        if (argc < 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
                goto full;
        xml = read_all(STDIN_FILENO, &len);
        if (!xml)
                return report(argc, argv, "out of memory reading the domain XML");
        /* libvirt hands hooks its XML as a C string: a NUL byte cannot come from it, and
         * UTF-16 or UTF-32 has one in every ASCII character, so the namespace would go
         * unseen. Refused here and in the full hook (vr_xml_check_text) alike. */
        if (memchr(xml, '\0', len)) {
                size_t at = (size_t) ((char *) memchr(xml, '\0', len) - xml);
                free(xml);
                return report(argc, argv, "domain '%s': domain XML: a NUL byte at offset %zu: expected a domain XML in UTF-8, which has none (UTF-16 and UTF-32 are not read)",
                              argv[1], at);
        }
        if (!memmem(xml, len, NS_MARK, strlen(NS_MARK)) && !config_has_rules()) {
                free(xml);
                return 0; /* no router: nothing to do, nothing printed */
        }
        fd = memfd_create("domain-xml", MFD_CLOEXEC);
        if (fd < 0 || (len && write(fd, xml, len) != (ssize_t) len) || lseek(fd, 0, SEEK_SET) < 0 ||
            dup2(fd, STDIN_FILENO) < 0)
                return report(argc, argv, "cannot pass the domain XML on: %s", strerror(errno));
        close(fd);
        free(xml);
full:
        if (override && *override) {
                snprintf(full, sizeof(full), "%s", override);
        } else {
                n = readlink("/proc/self/exe", self, sizeof(self) - 1);
                if (n < 0) {
                        snprintf(full, sizeof(full), "%s/virt-router-hook-full", PKGLIBEXECDIR);
                } else {
                        char *slash;
                        self[n] = '\0';
                        slash = strrchr(self, '/');
                        *slash = '\0';
                        snprintf(full, sizeof(full), "%s/virt-router-hook-full", self);
                }
        }
        execv(full, argv);
        /* Only a router domain gets here: fail the operations that can fail. */
        return report(argc, argv, "cannot run %s: %s", full, strerror(errno));
}
