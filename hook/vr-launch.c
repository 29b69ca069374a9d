#include "config.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#endif

#include "vr-error.h"
#include "vr-launch.h"
#include "vr-proc.h"
#include "vr-state.h"
#include "vr-sysfs.h"

char *vr_unit_escape(const char *s) {
        GString *out = g_string_new(NULL);
        for (const char *p = s; *p; p++) {
                if (g_ascii_isalnum(*p) || *p == '_' || *p == ':' || (*p == '.' && p != s))
                        g_string_append_c(out, *p);
                else
                        g_string_append_printf(out, "\\x%02x", (unsigned char) *p);
        }
        return g_string_free(out, FALSE);
}

static GPtrArray *tune_argv(const VrLaunchOptions *o, bool daemon) {
        GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
        g_ptr_array_add(argv, g_strdup(o->tune_path));
        g_ptr_array_add(argv, g_strdup("--domain"));
        g_ptr_array_add(argv, g_strdup(o->domain));
        if (o->config) {
                g_ptr_array_add(argv, g_strdup("--config"));
                g_ptr_array_add(argv, g_strdup(o->config));
        }
        if (o->state_dir) {
                g_ptr_array_add(argv, g_strdup("--state-dir"));
                g_ptr_array_add(argv, g_strdup(o->state_dir));
        }
        g_ptr_array_add(argv, g_strdup("--spec"));
        g_ptr_array_add(argv, g_strdup(o->spec));
        if (daemon)
                g_ptr_array_add(argv, g_strdup("--daemon"));
        g_ptr_array_add(argv, NULL);
        return argv;
}

#ifdef HAVE_LIBSYSTEMD
/* A transient service with a sandbox: it needs CAP_SYS_NICE (other processes'
 * scheduling), CAP_NET_ADMIN (the process-event connector) and write access to
 * cgroups and its state directory, nothing else. */
static int launch_unit(const VrLaunchOptions *o, GError **error) {
        g_autoptr(GPtrArray) argv = tune_argv(o, false);
        g_autofree char *esc = vr_unit_escape(o->domain);
        g_autofree char *unit = g_strdup_printf("virt-router-tune-%s.service", esc);
        g_autofree char *desc = g_strdup_printf("virt-router thread tuner for domain %s", o->domain);
        sd_bus_error e = SD_BUS_ERROR_NULL;
        sd_bus_message *m = NULL, *reply = NULL;
        sd_bus *bus = NULL;
        uint64_t caps = (1ULL << 23) | (1ULL << 12); /* CAP_SYS_NICE, CAP_NET_ADMIN */
        int r;

        r = sd_bus_open_system(&bus);
        if (r < 0)
                goto fail;
        r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "StartTransientUnit");
        if (r < 0)
                goto fail;
        r = sd_bus_message_append(m, "ss", unit, "replace");
        if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sv)");
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "Description", "s", desc);
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "CollectMode", "s", "inactive-or-failed");
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "NoNewPrivileges", "b", 1);
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "ProtectSystem", "s", "strict");
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "ProtectHome", "s", "yes");
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "PrivateTmp", "b", 1);
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "PrivateNetwork", "b", 0);
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "ReadWritePaths", "as", 2,
                                              o->state_dir ? o->state_dir : RUNSTATEDIR "/virt-router", "/sys/fs/cgroup");
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "RestrictAddressFamilies", "(bas)", 1, 2, "AF_NETLINK", "AF_UNIX");
        if (r >= 0) r = sd_bus_message_append(m, "(sv)", "CapabilityBoundingSet", "t", caps);
        if (r >= 0) r = sd_bus_message_open_container(m, 'r', "sv");
        if (r >= 0) r = sd_bus_message_append(m, "s", "ExecStart");
        if (r >= 0) r = sd_bus_message_open_container(m, 'v', "a(sasb)");
        if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sasb)");
        if (r >= 0) r = sd_bus_message_open_container(m, 'r', "sasb");
        if (r >= 0) r = sd_bus_message_append(m, "s", o->tune_path);
        if (r >= 0) r = sd_bus_message_append_strv(m, (char **) argv->pdata);
        if (r >= 0) r = sd_bus_message_append(m, "b", 0);
        if (r >= 0) r = sd_bus_message_close_container(m);
        if (r >= 0) r = sd_bus_message_close_container(m);
        if (r >= 0) r = sd_bus_message_close_container(m);
        if (r >= 0) r = sd_bus_message_close_container(m);
        if (r >= 0) r = sd_bus_message_close_container(m);
        if (r >= 0) r = sd_bus_message_append(m, "a(sa(sv))", 0);
        if (r < 0)
                goto fail;
        r = sd_bus_call(bus, m, 0, &e, &reply);
        if (r < 0 && sd_bus_error_has_name(&e, "org.freedesktop.systemd1.UnitExists"))
                r = 0; /* reconnect: the tuner of this domain runs already */
fail:
        if (r < 0)
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': cannot start unit %s: %s", o->domain,
                            unit, e.message ? e.message : g_strerror(-r));
        sd_bus_error_free(&e);
        sd_bus_message_unref(reply);
        sd_bus_message_unref(m);
        sd_bus_flush_close_unref(bus);
        return r < 0 ? -1 : 0;
}
#endif

int vr_tuner_launch(const VrLaunchOptions *o, GError **error) {
        g_autoptr(GPtrArray) argv = NULL;
        g_autofree char *err_out = NULL;
        g_autoptr(GError) local = NULL;
        int status = 0;

#ifdef HAVE_LIBSYSTEMD
        if (sd_booted() > 0)
                return launch_unit(o, error);
#endif
        /* The tuner checks the domain, then forks twice and drops every descriptor it
         * had: this returns when the first process exits, with its stderr (why it
         * refused) and nothing of ours left open in the daemon. */
        argv = tune_argv(o, true);
        if (!g_spawn_sync("/", (char **) argv->pdata, NULL,
                          G_SPAWN_STDIN_FROM_DEV_NULL | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                          &err_out, &status, &local)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': cannot run %s: %s", o->domain,
                            o->tune_path, local->message);
                return -1;
        }
        if (!g_spawn_check_wait_status(status, NULL)) {
                g_strstrip(err_out);
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': the tuner did not start: %s", o->domain,
                            *err_out ? err_out : "no message");
                return -1;
        }
        return 0;
}

static int pidfd_send_signal_(int fd, int sig) {
#ifdef SYS_pidfd_send_signal
        return syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) < 0 ? -errno : 0;
#else
        (void) fd;
        (void) sig;
        return -ENOSYS;
#endif
}

int vr_tuner_stop(const char *root, const char *state_dir, const char *domain) {
        VrProcId id;
        int r = vr_state_read_pid(state_dir, VR_STATE_TUNER_PID, domain, &id), fd;

        if (r < 0)
                return r;
        /* A pid the tuner held once may now be another process's: it is checked by its
         * start time (or, in an old pid file, its name), and signalled through a pidfd
         * opened before the check. The pidfd names the process that had the pid when it
         * was opened; the check after it then proves that process is the tuner, and a
         * signal through it reaches that process or none (ESRCH once it has exited),
         * never one that took the pid between check and kill. */
        fd = vr_pidfd_open(id.pid);
        if (fd < 0 && fd != -ENOSYS)
                return fd == -EINVAL ? -ESRCH : fd;
        if (!vr_proc_id_alive(root, &id)) {
                if (fd >= 0)
                        close(fd);
                return -ESRCH;
        }
        if (fd < 0) /* a kernel before 5.3: the check and kill(), as before */
                return kill(id.pid, SIGTERM) < 0 ? -errno : 0;
        r = pidfd_send_signal_(fd, SIGTERM);
        close(fd);
        return r;
}
