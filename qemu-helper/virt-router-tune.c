/* virt-router-tune: keeps a router's threads where its policy says, for as long as
 * the domain runs. Learns about new threads from the kernel's process-event connector
 * (no polling), applies the plan to each at once, and exits with the domain. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>

#include "vr-error.h"
#include "vr-hostconf.h"
#include "vr-log.h"
#include "vr-proc.h"
#include "vr-state.h"
#include "vr-sysfs.h"
#include "vr-tune-spec.h"
#include "vr-tuner.h"

typedef struct {
        char *domain;
        char *spec;
        char *config;
        char *root;
        char *state_dir;
        gint pid;
        gint poll_ms;
        gint rt_priority;
        gboolean once;
        gboolean daemon;
        gboolean no_connector;
        gboolean debug;
} Options;

static void options_clear(Options *o) {
        g_free(o->domain);
        g_free(o->spec);
        g_free(o->config);
        g_free(o->root);
        g_free(o->state_dir);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Options, options_clear)

/* ------------------------------------------------------------------------ */
/* The process-event connector                                               */

#define STATE_DEBOUNCE_MS 100

static int connector_open(void) {
        struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = CN_IDX_PROC, .nl_pid = 0};
        struct __attribute__((packed)) {
                struct nlmsghdr nl;
                struct cn_msg cn;
                enum proc_cn_mcast_op op;
        } msg;
        int fd, size = 4 * 1024 * 1024;

        fd = socket(PF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_CONNECTOR);
        if (fd < 0)
                return -errno;
        /* A burst of thread creations must not overflow the socket: with root, take a
         * large buffer regardless of net.core.rmem_max. */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                goto fail;
        memset(&msg, 0, sizeof(msg));
        msg.nl.nlmsg_len = sizeof(msg);
        msg.nl.nlmsg_type = NLMSG_DONE;
        msg.nl.nlmsg_pid = 0;
        msg.cn.id.idx = CN_IDX_PROC;
        msg.cn.id.val = CN_VAL_PROC;
        msg.cn.len = sizeof(enum proc_cn_mcast_op);
        msg.op = PROC_CN_MCAST_LISTEN;
        if (send(fd, &msg, sizeof(msg), 0) < 0)
                goto fail;
        return fd;
fail: {
        int r = -errno;
        close(fd);
        return r;
}
}

/* Handle what the socket has. Returns false when the domain's process has exited. */
static bool connector_drain(int fd, VrTuner *t, bool *ret_overrun) {
        char buf[65536] __attribute__((aligned(NLMSG_ALIGNTO)));
        pid_t vm = vr_tuner_pid(t);

        for (;;) {
                ssize_t n = recv(fd, buf, sizeof(buf), 0);
                if (n < 0) {
                        if (errno == ENOBUFS) {
                                *ret_overrun = true; /* events were lost: rescan */
                                continue;
                        }
                        return true; /* EAGAIN: drained */
                }
                for (struct nlmsghdr *nh = (struct nlmsghdr *) buf; NLMSG_OK(nh, (size_t) n);
                     nh = NLMSG_NEXT(nh, n)) {
                        struct cn_msg *cn = NLMSG_DATA(nh);
                        struct proc_event *ev = (struct proc_event *) cn->data;

                        if (nh->nlmsg_type != NLMSG_DONE || cn->id.idx != CN_IDX_PROC)
                                continue;
                        switch (ev->what) {
                        case PROC_EVENT_FORK:
                                /* A new thread of the VM, or a new kthread (vhost before
                                 * 6.4 is created by kthreadd and named at once). */
                                if (ev->event_data.fork.child_tgid == vm ||
                                    ev->event_data.fork.parent_tgid == 2)
                                        vr_tuner_thread_event(t, ev->event_data.fork.child_pid,
                                                              ev->event_data.fork.child_tgid);
                                break;
                        case PROC_EVENT_COMM:
                                /* QEMU names its threads after creating them. */
                                vr_tuner_thread_event(t, ev->event_data.comm.process_pid,
                                                      ev->event_data.comm.process_tgid);
                                break;
                        case PROC_EVENT_EXIT:
                                if (ev->event_data.exit.process_tgid == vm) {
                                        if (ev->event_data.exit.process_pid == vm)
                                                return false;
                                        vr_tuner_thread_exit(t, ev->event_data.exit.process_pid);
                                }
                                break;
                        default:
                                break;
                        }
                }
        }
}

/* ------------------------------------------------------------------------ */

static int daemonize(void) {
        pid_t pid = fork();
        int fd;

        if (pid < 0)
                return -errno;
        if (pid > 0)
                _exit(0);
        if (setsid() < 0)
                return -errno;
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid > 0)
                _exit(0);
        /* Hold nothing of the caller: libvirt waits for the hook's stdout and stderr
         * to close, so an inherited descriptor would freeze it. */
        if (chdir("/") < 0)
                return -errno;
        umask(022);
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        for (int i = 0; i < 3; i++)
                if (dup2(fd, i) < 0)
                        return -errno;
        if (fd > 2)
                close(fd);
        for (int i = 3; i < 1024; i++)
                if (i != fd)
                        (void) close(i);
        return 0;
}

/* Routers under FIFO/RR can take 95% of their CPUs; a tuner in the normal class
 * would then wait behind them before it places a new thread. It runs for microseconds
 * per event, so it goes one step above the router's highest RT priority. */
static void raise_priority(VrTuner *t, int requested) {
        const VrPolicy *p = vr_tuner_policy(t);
        struct sched_param sp = {0};
        int prio = requested;

        if (prio < 0) {
                prio = 0;
                for (guint i = 0; i < p->sched->len; i++) {
                        const VrSchedRule *r = p->sched->pdata[i];
                        if ((r->cls == VR_SCHED_FIFO || r->cls == VR_SCHED_RR) && r->priority + 1 > prio)
                                prio = MIN(r->priority + 1, 99);
                }
        }
        if (prio == 0)
                return;
        sp.sched_priority = prio;
        if (sched_setscheduler(0, SCHED_FIFO | SCHED_RESET_ON_FORK, &sp) < 0)
                vr_log(LOG_WARNING, "domain '%s': cannot run the tuner at SCHED_FIFO %d: %s (it may react late while routers are busy)",
                       vr_tuner_domain(t), prio, g_strerror(errno));
}

static int run(const Options *o, VrTuner *t) {
        int conn = -1, pidfd, sfd, r = 0;
        sigset_t mask;
        bool running = true;

        /* The pid file first: whoever sees the state may want to signal the tuner. */
        if (!o->once) {
                g_autoptr(GError) err = NULL;
                if (!vr_state_write_pid(o->root ? o->root : "/", o->state_dir, VR_STATE_TUNER_PID, vr_tuner_domain(t),
                                        getpid(), &err))
                        vr_log(LOG_WARNING, "%s (the hook will not see this tuner running)", err->message);
        }
        /* Subscribe before the first scan: a thread born meanwhile is then either
         * found by the scan or announced by an event (handling it twice is harmless). */
        if (!o->once && !o->no_connector) {
                conn = connector_open();
                if (conn < 0)
                        vr_log(LOG_WARNING, "domain '%s': process-event connector unavailable (%s): rescanning every %d ms instead",
                               vr_tuner_domain(t), g_strerror(-conn), o->poll_ms);
        }
        if (!o->once && conn < 0) {
                g_autofree char *how = g_strdup_printf("rescan every %d ms", o->poll_ms);
                vr_tuner_set_mode(t, how);
        }
        r = vr_tuner_refresh(t);
        if (r == -ESRCH) {
                (void) vr_state_remove(o->state_dir, VR_STATE_TUNER_PID, vr_tuner_domain(t));
                if (conn >= 0)
                        close(conn);
                vr_log(LOG_INFO, "domain '%s': process %d is gone", vr_tuner_domain(t), (int) vr_tuner_pid(t));
                return 0;
        }
        vr_log(LOG_INFO, "domain '%s': tuned %u threads of process %d%s", vr_tuner_domain(t),
               vr_tuner_thread_count(t), (int) vr_tuner_pid(t), r > 0 ? " (some failed, see above)" : "");
        if (o->once)
                return r > 0 ? 1 : 0;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        pidfd = vr_pidfd_open(vr_tuner_pid(t));

        while (running) {
                struct pollfd fds[3] = {
                        {.fd = sfd, .events = POLLIN},
                        {.fd = pidfd, .events = POLLIN},
                        {.fd = conn, .events = POLLIN},
                };
                int pending = vr_tuner_pending_timeout_ms(t);
                int timeout = conn < 0 ? (pending >= 0 ? MIN(pending, o->poll_ms) : o->poll_ms) : pending;
                int n, due;
                bool overrun = false;

                /* The state file waits until events pause: on ext4 replacing a file
                 * flushes it, which must not delay the next thread's placement. */
                due = vr_tuner_state_due_ms(t, STATE_DEBOUNCE_MS);
                if (due == 0) {
                        vr_tuner_flush(t);
                        due = -1;
                }
                if (due > 0)
                        timeout = timeout < 0 ? due : MIN(timeout, due);
                n = poll(fds, 3, timeout);

                if (n < 0 && errno != EINTR) {
                        r = -errno;
                        break;
                }
                if (fds[0].revents) {
                        struct signalfd_siginfo si;
                        if (read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGHUP) {
                                vr_log(LOG_INFO, "domain '%s': SIGHUP: rescanning", vr_tuner_domain(t));
                                vr_tuner_refresh(t);
                        } else {
                                vr_log(LOG_INFO, "domain '%s': stopping on signal", vr_tuner_domain(t));
                                break;
                        }
                }
                if (fds[1].revents) {
                        running = false; /* the domain's process exited */
                        break;
                }
                if (conn >= 0 && fds[2].revents) {
                        running = connector_drain(conn, t, &overrun);
                        if (overrun && running)
                                vr_tuner_refresh(t);
                }
                if (n == 0 && pending >= 0)
                        vr_tuner_retry_pending(t);
                if (conn < 0 && n == 0 && vr_tuner_refresh(t) == -ESRCH)
                        running = false;
                if (vr_tuner_state_due_ms(t, STATE_DEBOUNCE_MS) == 0)
                        vr_tuner_flush(t);
        }
        if (!running) {
                vr_log(LOG_INFO, "domain '%s': process %d exited, tuner done", vr_tuner_domain(t), (int) vr_tuner_pid(t));
                vr_tuner_remove_state(t);
                vr_tuner_cleanup(t);
        }
        (void) vr_state_remove(o->state_dir, VR_STATE_TUNER_PID, vr_tuner_domain(t));
        if (conn >= 0)
                close(conn);
        if (pidfd >= 0)
                close(pidfd);
        close(sfd);
        return r < 0 ? 1 : 0;
}

/* The spec is required: the hook writes one at started and reconnect; anyone else makes
 * one with `virt-router spec`. The tuner used to run that command itself when given
 * none, but nothing started it so but tests: it now says what it needs instead. A spec
 * that does not read is said here, naming the file and the domain (the tuner's reader
 * knows neither); reading it twice costs microseconds, once per start. */
static char *load_spec(const Options *o, GError **error) {
        g_autoptr(GError) local = NULL;
        g_autoptr(VrTuneSpec) spec = NULL;
        g_autofree char *text = NULL;

        if (!g_file_get_contents(o->spec, &text, NULL, &local)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST, "domain '%s': %s", o->domain, local->message);
                return NULL;
        }
        if (!(spec = vr_tune_spec_from_json(text, &local))) {
                g_set_error(error, VR_ERROR, VR_ERROR_INVALID, "%s: domain '%s': %s", o->spec, o->domain, local->message);
                return NULL;
        }
        return g_steal_pointer(&text);
}

int main(int argc, char **argv) {
        g_auto(Options) o = {.poll_ms = 1000, .rt_priority = -1};
        GOptionEntry entries[] = {
                {"domain", 'd', 0, G_OPTION_ARG_STRING, &o.domain, "The domain to tune (required)", "NAME"},
                {"pid", 'p', 0, G_OPTION_ARG_INT, &o.pid, "Its QEMU (or container init) pid (default: libvirt's pid file)", "PID"},
                {"spec", 's', 0, G_OPTION_ARG_FILENAME, &o.spec, "Tuning spec (required): the JSON that `virt-router spec --domain NAME` prints; the hook writes STATE_DIR/NAME.spec.json", "FILE"},
                {"config", 'c', 0, G_OPTION_ARG_FILENAME, &o.config, "Host config (default " VR_HOSTCONF_DEFAULT_PATH ")", "FILE"},
                {"root", 0, 0, G_OPTION_ARG_FILENAME, &o.root, "Root prefix for /proc and /sys (tests)", "DIR"},
                {"state-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.state_dir, "Where DOMAIN.json goes (default: host config state-dir)", "DIR"},
                {"once", 0, 0, G_OPTION_ARG_NONE, &o.once, "Apply once and exit", NULL},
                {"daemon", 0, 0, G_OPTION_ARG_NONE, &o.daemon, "Detach: own session, no inherited descriptors, log to syslog", NULL},
                {"no-connector", 0, 0, G_OPTION_ARG_NONE, &o.no_connector, "Do not use the process-event connector (rescan instead)", NULL},
                {"poll-interval", 0, 0, G_OPTION_ARG_INT, &o.poll_ms, "Rescan interval without the connector (default 1000)", "MS"},
                {"rt-priority", 0, 0, G_OPTION_ARG_INT, &o.rt_priority, "Run the tuner itself at this SCHED_FIFO priority (default: one above the router's RT threads; 0: normal class)", "N"},
                {"debug", 0, 0, G_OPTION_ARG_NONE, &o.debug, "Log debug messages", NULL},
                {NULL},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("--domain NAME --spec FILE");
        g_autoptr(GError) err = NULL;
        g_autoptr(VrHostConf) conf = NULL;
        g_autoptr(VrTuner) t = NULL;
        g_autofree char *spec = NULL;
        VrTunerOptions to;
        int r;

        setlocale(LC_ALL, "");
        g_option_context_set_summary(ctx, "Place and schedule a virt-router domain's threads (vCPU, vhost, emulator,\n"
                                          "iothreads, NAPI) as its policy says, and keep them so while it runs.");
        g_option_context_set_description(ctx, "Started by virt-router-hook when a router domain starts, with the spec it\n"
                                              "wrote (STATE_DIR/NAME.spec.json). By hand, make one from the running domain:\n"
                                              "  virt-router spec --domain NAME > NAME.spec.json\n"
                                              "Exits when the domain's process exits. State: STATE_DIR/NAME.json, shown by\n"
                                              "`virt-router status`. Exit status: 0 done, 1 failure, 2 usage, 3 host problem.");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
                fprintf(stderr, "virt-router-tune: %s\nTry 'virt-router-tune --help'.\n", err->message);
                return 2;
        }
        if (!o.domain || argc > 1) {
                fprintf(stderr, "virt-router-tune: expected --domain NAME --spec FILE and no other arguments\nTry 'virt-router-tune --help'.\n");
                return 2;
        }
        if (!o.spec) {
                fprintf(stderr, "virt-router-tune: domain '%s': --spec FILE is required: the domain's tuning spec, as the hook writes it to STATE_DIR/%s.spec.json; make one from the running domain with 'virt-router spec --domain %s > FILE'\n",
                        o.domain, o.domain, o.domain);
                return 2;
        }
        if (o.poll_ms < 100) {
                fprintf(stderr, "virt-router-tune: --poll-interval %d: expected at least 100 ms\n", o.poll_ms);
                return 2;
        }
        conf = vr_host_conf_load(o.config, &err);
        if (!conf) {
                fprintf(stderr, "virt-router-tune: %s\n", err->message);
                return err->code == VR_ERROR_INVALID ? 1 : 3;
        }
        if (!o.state_dir)
                o.state_dir = g_strdup(conf->state_dir);
        /* Until detached, problems go to stderr: the launcher shows them. */
        vr_log_open("virt-router-tune", true, o.debug || conf->debug);
        spec = load_spec(&o, &err);
        if (!spec) {
                vr_log(LOG_ERR, "%s", err->message);
                return err->code == VR_ERROR_INVALID ? 1 : 3;
        }
        to = (VrTunerOptions){o.root, o.domain, spec, (pid_t) o.pid, conf, o.state_dir};
        t = vr_tuner_new(&to, &err);
        if (!t) {
                vr_log(LOG_ERR, "%s", err->message);
                return err->code == VR_ERROR_INVALID ? 1 : 3;
        }
        if (o.rt_priority > 99) {
                vr_log(LOG_ERR, "--rt-priority %d: expected 0-99", o.rt_priority);
                return 2;
        }
        raise_priority(t, o.rt_priority);
        if (o.daemon) {
                if ((r = daemonize()) < 0) {
                        vr_log(LOG_ERR, "domain '%s': cannot detach: %s", o.domain, g_strerror(-r));
                        return 3;
                }
                vr_log_open("virt-router-tune", false, o.debug || conf->debug);
        }
        return run(&o, t);
}
