/* vr-init's answers to the host: VR-COUNTERS lines, and the channels the host asks on
 * (the serial console, /dev/hvc0, the virtio-serial port org.virt-router.0). Libc
 * only (see init-util.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "init-counters.h"
#include "init-tc.h"
#include "init-util.h"

#define CHANNEL_NAME "org.virt-router.0"

/* ---------------------------------------------------------------------------
 * Counters */
void print_counters(const struct config *cfg, int reply_fd) {
        static char json[65536];
        bool have_json = false;

        if (need_tc(cfg)) {
                const char *argv[] = {TC_PATH, "-s", "-j", "actions", "list", "action", "police", NULL};
                have_json = run(argv, NULL, json, sizeof(json)) == 0;
        }
        for (size_t i = 0; i < cfg->n_ports; i++) {
                const struct port *p = &cfg->ports[i];
                static const char *const stat[] = {"rx_packets", "tx_packets", "rx_dropped", "tx_dropped"};
                uint64_t v[4];
                char line[512], path[PATH_MAX];
                if (!p->up)
                        continue;
                for (int k = 0; k < 4; k++) {
                        snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/%s", p->name, stat[k]);
                        v[k] = read_u64(path);
                }
                snprintf(line, sizeof(line),
                         "VR-COUNTERS port=%s rx_packets=%" PRIu64 " tx_packets=%" PRIu64 " rx_dropped=%" PRIu64
                         " tx_dropped=%" PRIu64 " police_drops=%" PRIu64 " shape_drops=%" PRIu64 "\n",
                         p->name, v[0], v[1], v[2], v[3], have_json ? police_drops(json, police_index(i, false)) : 0,
                         have_json ? police_drops(json, police_index(i, true)) : 0);
                emit_fd(out_fd, line);
                if (reply_fd >= 0 && reply_fd != out_fd)
                        emit_fd(reply_fd, line);
        }
}

/* ---------------------------------------------------------------------------
 * Channels the host may ask on */
struct channel channels[MAX_CHANNELS];
size_t n_channels;

void channel_add(int fd, const char *dev) {
        struct channel *c = &channels[n_channels++];
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        snprintf(c->dev, sizeof(c->dev), "%s", dev);
}

static void channel_open(const char *dev) {
        struct termios t;
        int fd;

        for (size_t i = 0; i < n_channels; i++)
                if (strcmp(channels[i].dev, dev) == 0)
                        return;
        if (n_channels == MAX_CHANNELS || (fd = open(dev, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)) < 0)
                return;
        if (tcgetattr(fd, &t) == 0) { /* hvc0: no echo, no line editing */
                cfmakeraw(&t);
                tcsetattr(fd, TCSANOW, &t);
        }
        channel_add(fd, dev);
}

static void find_named_port(const char *dir, const char *name, void *data) {
        char path[PATH_MAX], pname[128], dev[64];
        (void) data;
        snprintf(path, sizeof(path), "%s/%s/name", dir, name);
        if (read_file(path, pname, sizeof(pname)) <= 0)
                return;
        pname[strcspn(pname, "\n")] = '\0';
        if (strcmp(pname, CHANNEL_NAME) != 0)
                return;
        snprintf(dev, sizeof(dev), "/dev/%s", name);
        channel_open(dev);
}

/* Virtio ports appear asynchronously after their driver loads: called on uevents. */
void scan_channels(void) {
        if (access("/dev/hvc0", F_OK) == 0)
                channel_open("/dev/hvc0");
        for_each_entry("/sys/class/virtio-ports", find_named_port, NULL);
}

static void handle_command(const struct config *cfg, struct channel *c, int reply_fd) {
        char *line = c->buf;
        line[strcspn(line, "\r\n")] = '\0';
        while (*line == ' ' || *line == '\t')
                line++;
        if (strcmp(line, "counters") == 0)
                print_counters(cfg, reply_fd);
        else if (*line)
                report_error("unknown command '%.64s' (known: counters)", line);
}

/* Collects lines and runs them; returns false when the channel is gone. One read
 * per wakeup: the console is a blocking tty (it shares its file with our output). */
bool channel_read(const struct config *cfg, struct channel *c, int reply_fd) {
        char *nl;
        ssize_t n = read(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);

        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        if (n == 0) { /* nobody on the other side (yet): look again later */
                c->idle = true;
                return true;
        }
        c->len += (size_t) n;
        c->buf[c->len] = '\0';
        while ((nl = strpbrk(c->buf, "\r\n"))) {
                size_t used = (size_t) (nl - c->buf) + 1;
                *nl = '\0';
                handle_command(cfg, c, reply_fd);
                memmove(c->buf, c->buf + used, c->len - used + 1);
                c->len -= used;
        }
        if (c->len == sizeof(c->buf) - 1) /* no command is that long */
                c->len = 0;
        return true;
}
