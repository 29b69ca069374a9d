/* vr-init: PID 1 of the virt-router guest, /init in the initramfs `make guest` builds.
 *
 * The only program that runs at boot (no shell): it mounts the API file systems,
 * loads the kernel modules the router needs, reads its configuration from QEMU's
 * fw_cfg, names the NICs after the ports by MAC, sets addresses and routes (ip),
 * tunes for forwarding, installs policers and shapers (tc), says VR-READY on the
 * console and then serves counters until it powers the guest off. Static, libc only:
 * no GLib or other library in any of its files, as nothing else is in the initramfs.
 *
 * This file is the boot sequence and the run-time loop; the rest, by concern:
 *   init-config   the configuration (fw_cfg opt/org.virt-router/config) and its parser,
 *                 pure: make check runs it on the host (tests/test-guest-config.c)
 *   init-modules  which kernel modules, when, and loading them
 *   init-links    ports found by MAC, named and brought up; forwarding; the ip batch
 *   init-tc       policers and shapers: the tc batch, their drops
 *   init-counters VR-COUNTERS and the channels the host asks on
 *   init-util     one-line output and VR-ERROR, file helpers, running ip and tc
 *
 * Console lines (one write each, for the host to parse):
 *   VR-READY name=NAME uptime_ms=N ports=P1,P2
 *   VR-ERROR msg=TEXT
 *   VR-COUNTERS port=P rx_packets=N tx_packets=N rx_dropped=N tx_dropped=N police_drops=N shape_drops=N
 *   VR-POWEROFF reason=power-button|TERM|INT|PWR   (ACPI button, signals, Ctrl-Alt-Del)
 * Counters are printed on SIGUSR1, every counters-every seconds, and for a line
 * "counters" read from the serial console, /dev/hvc0 or the virtio-serial port
 * org.virt-router.0 (there the reply also goes back to the asker).
 *
 * Run as an ordinary process (not PID 1) it is a build and test helper:
 *   vr-init --modules       the modules it may load, as "WHEN NAME" lines
 *   vr-init --dry-run FILE  parse a config, print the ip and tc batches it would run */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/input.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "init-config.h"
#include "init-counters.h"
#include "init-links.h"
#include "init-modules.h"
#include "init-tc.h"
#include "init-util.h"

#define CONFIG_PATH "/sys/firmware/qemu_fw_cfg/by_name/opt/org.virt-router/config/raw"

static struct config cfg;
static int power_fd = -1;

/* Each refused directive is one VR-ERROR; the rest still applies. */
static void report_config_error(unsigned lineno, const char *directive, const char *msg, void *data) {
        (void) data;
        report_error("config line %u: %s: %s", lineno, directive, msg);
}

/* ---------------------------------------------------------------------------
 * Boot */
static void mount_api(void) {
        static const struct {
                const char *src, *dir, *type;
                unsigned long flags;
        } m[] = {
                {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC},
                {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC},
                {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID},
                {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV},
        };
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
                mkdir(m[i].dir, 0755);
                if (mount(m[i].src, m[i].dir, m[i].type, m[i].flags, NULL) < 0 && errno != EBUSY)
                        report_error("mount %s: %s", m[i].dir, strerror(errno));
        }
}

/* The kernel opens the console for init when the initramfs has /dev/console; make
 * sure of it now that devtmpfs is there, and stop it echoing what the host types. */
static void setup_console(void) {
        struct termios t;
        if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
                int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
                if (fd >= 0) {
                        dup2(fd, 0), dup2(fd, 1), dup2(fd, 2);
                        if (fd > 2)
                                close(fd);
                }
        }
        if (tcgetattr(STDIN_FILENO, &t) == 0) {
                t.c_lflag &= ~(tcflag_t) (ECHO | ECHONL | ISIG);
                t.c_lflag |= ICANON;
                tcsetattr(STDIN_FILENO, TCSANOW, &t);
        }
}

static void read_config(void) {
        static char text[65536];
        ssize_t n = read_file(CONFIG_PATH, text, sizeof(text));
        if (n < 0) {
                report_error("no configuration: %s: %s (give the domain <sysinfo type='fwcfg'> with entry "
                             "opt/org.virt-router/config)",
                             CONFIG_PATH, strerror((int) -n));
                return;
        }
        config_parse(&cfg, text, report_config_error, NULL);
}

static void configure_network(void) {
        static char batch[65536];

        /* forwarding before the ports come up: a router takes no addresses from router
         * advertisements, only those it is given */
        set_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
        set_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
        set_sysctl("/proc/sys/net/ipv6/conf/default/forwarding", "1");
        /* loose: asymmetric routes through a router are normal */
        set_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "2");
        set_sysctl("/proc/sys/net/ipv4/conf/default/rp_filter", "2");
        setup_ports(&cfg);
        tune_forwarding(&cfg);
        if (ip_batch(&cfg, batch, sizeof(batch)) > 0) {
                const char *argv[] = {IP_PATH, "-force", "-batch", "-", NULL};
                int r = run(argv, batch, NULL, 0);
                if (r < 0)
                        report_error("%s: %s", IP_PATH, strerror(-r));
        }
        if (tc_batch(&cfg, batch, sizeof(batch)) > 0) {
                const char *argv[] = {TC_PATH, "-force", "-batch", "-", NULL};
                int r = run(argv, batch, NULL, 0);
                if (r < 0)
                        report_error("%s: %s", TC_PATH, strerror(-r));
        }
}

static uint64_t uptime_ms(void) {
        char buf[64], *dot;
        uint64_t ms;
        if (read_file("/proc/uptime", buf, sizeof(buf)) <= 0)
                return 0;
        ms = strtoull(buf, &dot, 10) * 1000;
        if (*dot == '.')
                ms += strtoull(dot + 1, NULL, 10) * 10; /* centiseconds */
        return ms;
}

static void report_ready(void) {
        char line[512];
        size_t len = 0;
        len = append(line, sizeof(line), len, "VR-READY name=%s uptime_ms=%" PRIu64 " ports=", cfg.name, uptime_ms());
        for (size_t i = 0, n = 0; i < cfg.n_ports; i++)
                if (cfg.ports[i].up)
                        len = append(line, sizeof(line), len, "%s%s", n++ ? "," : "", cfg.ports[i].name);
        append(line, sizeof(line), len, "\n");
        emit_fd(out_fd, line);
}

/* ---------------------------------------------------------------------------
 * Run time: signals, uevents, the power button and the channels the host may ask on. */
static void find_power_button(const char *dir, const char *name, void *data) {
        char path[PATH_MAX], dname[128];
        (void) data;
        if (power_fd >= 0 || strncmp(name, "event", 5) != 0)
                return;
        snprintf(path, sizeof(path), "%s/%s/device/name", dir, name);
        if (read_file(path, dname, sizeof(dname)) <= 0 || strncmp(dname, "Power Button", 12) != 0)
                return;
        snprintf(path, sizeof(path), "/dev/input/%s", name);
        power_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
}

static void power_off(const char *why) {
        char line[128];
        snprintf(line, sizeof(line), "VR-POWEROFF reason=%s\n", why);
        emit_fd(out_fd, line);
        sync();
        for (;;) {
                reboot(RB_POWER_OFF);
                pause(); /* PID 1 must never exit, even if the kernel refuses */
        }
}

static void reap_children(void) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
}

static void noop_handler(int sig) {
        (void) sig;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void serve(int sigfd, int uevent_fd) {
        int timer_fd = -1;

        if (cfg.counters_every > 0 && (timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) >= 0) {
                struct itimerspec its = {.it_interval = {cfg.counters_every, 0}, .it_value = {cfg.counters_every, 0}};
                timerfd_settime(timer_fd, 0, &its, NULL);
        }
        for (uint64_t idle_since = 0;;) {
                struct pollfd pfd[4 + MAX_CHANNELS];
                size_t slot[MAX_CHANNELS], n = 0, n_polled = 0;
                bool idle = false;
                int r;

                pfd[n++] = (struct pollfd){sigfd, POLLIN, 0};
                pfd[n++] = (struct pollfd){uevent_fd, POLLIN, 0};
                pfd[n++] = (struct pollfd){timer_fd, POLLIN, 0};
                pfd[n++] = (struct pollfd){power_fd, POLLIN, 0};
                for (size_t i = 0; i < n_channels; i++) {
                        if (channels[i].idle) {
                                idle = true;
                                continue;
                        }
                        slot[n_polled++] = i;
                        pfd[n++] = (struct pollfd){channels[i].fd, POLLIN, 0};
                }
                /* an unconnected virtio port reports HUP until the host opens it: look once a second */
                if (idle && !idle_since)
                        idle_since = now_ms();
                r = poll(pfd, n, idle ? 1000 : -1);
                if (r < 0) {
                        if (errno != EINTR)
                                usleep(100000); /* never spin */
                        continue;
                }
                if (idle && now_ms() - idle_since >= 1000) {
                        for (size_t i = 0; i < n_channels; i++)
                                channels[i].idle = false;
                        idle_since = 0;
                }
                if (pfd[0].revents & POLLIN) {
                        struct signalfd_siginfo si;
                        while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
                                if (si.ssi_signo == SIGCHLD)
                                        reap_children();
                                else if (si.ssi_signo == SIGUSR1)
                                        print_counters(&cfg, -1);
                                else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT || si.ssi_signo == SIGPWR)
                                        power_off(sigabbrev_np((int) si.ssi_signo));
                        }
                }
                if (pfd[1].revents & POLLIN) {
                        char buf[4096];
                        bool added = false;
                        ssize_t got;
                        while ((got = recv(uevent_fd, buf, sizeof(buf) - 1, 0)) > 0 || (got < 0 && errno == ENOBUFS))
                                added = added || got < 0 || strncmp(buf, "add@", 4) == 0;
                        if (added) {
                                scan_channels();
                                if (power_fd < 0)
                                        for_each_entry("/sys/class/input", find_power_button, NULL);
                        }
                }
                if (pfd[2].revents & POLLIN) {
                        uint64_t ticks;
                        if (read(timer_fd, &ticks, sizeof(ticks)) == sizeof(ticks))
                                print_counters(&cfg, -1);
                }
                if (pfd[3].revents & POLLIN) {
                        struct input_event ev;
                        while (read(power_fd, &ev, sizeof(ev)) == sizeof(ev))
                                if (ev.type == EV_KEY && ev.code == KEY_POWER && ev.value == 1)
                                        power_off("power-button");
                }
                for (size_t k = n_polled; k-- > 0;) { /* backwards: removal moves the last one */
                        struct channel *c = &channels[slot[k]];
                        if (!pfd[4 + k].revents)
                                continue;
                        /* the serial console's replies already go to the console */
                        if (!channel_read(&cfg, c, c->fd == STDIN_FILENO ? -1 : c->fd)) {
                                close(c->fd);
                                *c = channels[--n_channels];
                        }
                }
        }
}

static int pid1(void) {
        struct sigaction sa = {.sa_handler = noop_handler};
        int sigfd, uevent_fd;
        struct sockaddr_nl nl = {.nl_family = AF_NETLINK, .nl_groups = 1};

        /* Signals arrive through signalfd; the handlers only make PID 1 accept them. */
        sigemptyset(&handled_signals);
        for (int s = 0, sigs[] = {SIGCHLD, SIGUSR1, SIGTERM, SIGINT, SIGPWR, SIGHUP}; s < 6; s++) {
                sigaddset(&handled_signals, sigs[s]);
                sigaction(sigs[s], &sa, NULL);
        }
        sigprocmask(SIG_BLOCK, &handled_signals, NULL);
        signal(SIGPIPE, SIG_IGN); /* a child that exits before reading its batch */
        sigfd = signalfd(-1, &handled_signals, SFD_CLOEXEC | SFD_NONBLOCK);
        reboot(RB_DISABLE_CAD); /* Ctrl-Alt-Del becomes SIGINT: power off cleanly */

        mount_api();
        setup_console();
        /* before any module loads, so no virtio port's arrival is missed */
        uevent_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
        if (uevent_fd >= 0 && bind(uevent_fd, (struct sockaddr *) &nl, sizeof(nl)) < 0) {
                close(uevent_fd);
                uevent_fd = -1;
        }

        modules_init();
        load_modules(AT_BOOT);
        read_config();
        sethostname(cfg.name, strlen(cfg.name));
        load_pci_drivers();
        if (need_tc(&cfg))
                load_modules(FOR_TC);
        configure_network();
        report_ready();

        channel_add(STDIN_FILENO, "console");
        scan_channels();
        for_each_entry("/sys/class/input", find_power_button, NULL);
        serve(sigfd, uevent_fd);
        return 0;
}

/* ---------------------------------------------------------------------------
 * Helper modes, run on the build host */
static int dry_run(const char *path) {
        static char text[65536], batch[65536];
        ssize_t n = read_file(path, text, sizeof(text));
        if (n < 0) {
                fprintf(stderr, "vr-init: %s: %s\n", path, strerror((int) -n));
                return 1;
        }
        config_parse(&cfg, text, report_config_error, NULL);
        for (size_t i = 0; i < cfg.n_ports; i++)
                cfg.ports[i].up = true;
        printf("# name %s, %zu ports, rps %s, counters every %us\n# ip -force -batch -\n", cfg.name, cfg.n_ports,
               cfg.rps ? "on" : "off", cfg.counters_every);
        ip_batch(&cfg, batch, sizeof(batch));
        fputs(batch, stdout);
        puts("# tc -force -batch -");
        tc_batch(&cfg, batch, sizeof(batch));
        fputs(batch, stdout);
        return 0;
}

int main(int argc, char **argv) {
        config_init(&cfg);
        if (getpid() == 1)
                return pid1();
        if (argc == 2 && strcmp(argv[1], "--modules") == 0)
                return modules_list();
        if (argc == 3 && strcmp(argv[1], "--dry-run") == 0)
                return dry_run(argv[2]);
        fprintf(stderr, "usage: vr-init --modules | --dry-run CONFIG   (as PID 1 it boots the router)\n");
        return 2;
}
