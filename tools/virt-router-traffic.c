/* virt-router-traffic: the bench's packet source and sink.
 *
 *   virt-router-traffic send --netns NS --dst IP --rate PPS --duration S [--size 64] [--flows 8]
 *   virt-router-traffic recv --netns NS --addr IP --duration S [--bucket-rate PPS]
 *   virt-router-traffic pktgen|trafgen ... (the same frames from the kernel's pktgen or
 *                                          netsniff-ng's trafgen)
 *
 * send writes whole Ethernet frames on an AF_PACKET socket (no UDP socket, route or qdisc
 * in the way: what the papers' pktgen does, from user space); each carries a sequence
 * number and its send time. recv counts them on a UDP socket and measures one-way delay
 * and how bursty the arrivals are. Both print one JSON object on stdout. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <linux/net_tstamp.h>
#include <net/ethernet.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vr-json.h"
#include "vr-macros.h"
#include "vr-traffic.h"
#include "vr-units.h"

#define BATCH 64

typedef struct {
        char *netns, *dev, *dst, *src, *dst_mac, *addr, *root;
        int port, size, flows, threads;
        char *rate, *duration, *bucket_rate;
} Opts;

static volatile sig_atomic_t stop;

static void on_signal(int sig _unused_) {
        stop = 1;
}

static uint64_t now_ns(clockid_t c) {
        struct timespec ts;

        clock_gettime(c, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int die(const char *fmt, ...) _printf_(1, 2);
static int die(const char *fmt, ...) {
        va_list ap;

        fputs("virt-router-traffic: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

static int enter_netns(const char *name) {
        g_autofree char *p = NULL;
        int fd, r;

        if (!name)
                return 0;
        p = strchr(name, '/') ? g_strdup(name) : g_strdup_printf("/run/netns/%s", name);
        fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return die("network namespace %s: %s", p, g_strerror(errno));
        r = setns(fd, CLONE_NEWNET);
        close(fd);
        if (r < 0)
                return die("entering network namespace %s: %s", p, g_strerror(errno));
        return 0;
}

/* Next hop for dst from /proc/net/route of this namespace (procfs follows the reader's
 * namespace); dst itself when on-link. */
static int next_hop(struct in_addr dst, char **ret_dev, struct in_addr *ret_hop) {
        g_autofree char *text = NULL;
        g_auto(GStrv) lines = NULL;
        int best = -1;

        if (!g_file_get_contents("/proc/net/route", &text, NULL, NULL))
                return -ENOENT;
        lines = g_strsplit(text, "\n", -1);
        for (guint i = 1; lines[i]; i++) {
                char dev[IFNAMSIZ + 1];
                unsigned d, gw, flags, mask;
                int plen;

                if (sscanf(lines[i], "%16s %x %x %x %*d %*d %*d %x", dev, &d, &gw, &flags, &mask) != 5)
                        continue;
                if ((dst.s_addr & mask) != d || !(flags & 1))
                        continue;
                plen = __builtin_popcount(mask);
                if (plen <= best)
                        continue;
                best = plen;
                g_free(*ret_dev);
                *ret_dev = g_strdup(dev);
                ret_hop->s_addr = gw ? gw : dst.s_addr;
        }
        return best < 0 ? -ENETUNREACH : 0;
}

/* The next hop's MAC from the neighbour table, after a UDP packet made the kernel ask. */
static int resolve_mac(struct in_addr dst, struct in_addr hop, int port, uint8_t mac[6]) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr = dst, .sin_port = htons((uint16_t)port)};
        int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        char want[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &hop, want, sizeof(want));
        for (int k = 0; k < 60; k++) {
                g_autofree char *text = NULL;
                g_auto(GStrv) lines = NULL;

                if (k % 10 == 0 && s >= 0)
                        (void)!sendto(s, "", 0, 0, (struct sockaddr *)&sa, sizeof(sa));
                if (g_file_get_contents("/proc/net/arp", &text, NULL, NULL)) {
                        lines = g_strsplit(text, "\n", -1);
                        for (guint i = 1; lines[i]; i++) {
                                char ip[64], hw[64];
                                unsigned flags;

                                if (sscanf(lines[i], "%63s %*s %x %63s", ip, &flags, hw) == 3 && g_str_equal(ip, want) &&
                                    (flags & 2) && vr_parse_mac(hw, mac) == 0) {
                                        if (s >= 0)
                                                close(s);
                                        return 0;
                                }
                        }
                }
                g_usleep(50000);
        }
        if (s >= 0)
                close(s);
        return -EHOSTUNREACH;
}

static int if_info(int fd, const char *dev, int *ret_index, uint8_t mac[6], struct in_addr *ret_addr) {
        struct ifreq ifr = {0};

        g_strlcpy(ifr.ifr_name, dev, sizeof(ifr.ifr_name));
        if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0)
                return -errno;
        *ret_index = ifr.ifr_ifindex;
        if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
                return -errno;
        memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
        ifr.ifr_addr.sa_family = AF_INET;
        if (ret_addr->s_addr == 0 && ioctl(fd, SIOCGIFADDR, &ifr) == 0)
                *ret_addr = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
        return 0;
}

/* Resolve what a frame needs: device, MACs, addresses. */
static int frame_setup(const Opts *o, int fd, VrFrameSpec *f, char **ret_dev, int *ret_index) {
        struct in_addr hop = {0};
        int r;

        if (!o->dst || inet_pton(AF_INET, o->dst, &f->dst) != 1)
                return die("--dst: expected an IPv4 address, got '%s'", o->dst ? o->dst : "(none)");
        if (o->src && inet_pton(AF_INET, o->src, &f->src) != 1)
                return die("--src: expected an IPv4 address, got '%s'", o->src);
        if (o->size < VR_FRAME_MIN || o->size > VR_FRAME_MAX)
                return die("--size: expected %d..%d bytes (a frame with its FCS), got %d", VR_FRAME_MIN, VR_FRAME_MAX, o->size);
        if (o->flows < 1 || o->flows > 4096)
                return die("--flows: expected 1..4096, got %d", o->flows);
        f->size = (unsigned)o->size;
        f->flows = (unsigned)o->flows;
        f->dst_port = (uint16_t)o->port;
        *ret_dev = g_strdup(o->dev);
        if (next_hop(f->dst, ret_dev, &hop) < 0 && !o->dst_mac)
                return die("no route to %s in %s", o->dst, o->netns ? o->netns : "this namespace");
        if (!*ret_dev)
                return die("--dev: no device given and no route to %s", o->dst);
        r = if_info(fd, *ret_dev, ret_index, f->src_mac, &f->src);
        if (r < 0)
                return die("interface %s: %s", *ret_dev, g_strerror(-r));
        if (o->dst_mac) {
                if (vr_parse_mac(o->dst_mac, f->dst_mac) < 0)
                        return die("--dst-mac: expected xx:xx:xx:xx:xx:xx, got '%s'", o->dst_mac);
        } else if (resolve_mac(f->dst, hop, o->port, f->dst_mac) < 0) {
                char h[INET_ADDRSTRLEN];
                inet_ntop(AF_INET, &hop, h, sizeof(h));
                return die("next hop %s (towards %s) did not answer ARP on %s within 3 s", h, o->dst, *ret_dev);
        }
        return 0;
}

static int parse_rate_duration(const Opts *o, uint64_t *rate, uint64_t *dur_ns) {
        if (o->rate && vr_parse_pkt_rate_cli(o->rate, rate) < 0)
                return die("--rate: expected packets per second (e.g. 20000, 20kpps), got '%s'", o->rate);
        if (!o->duration || vr_parse_duration(o->duration, dur_ns) < 0 || *dur_ns == 0)
                return die("--duration: expected a duration (e.g. 3s, 500ms), got '%s'", o->duration ? o->duration : "(none)");
        return 0;
}

static void emit(VrJson *j) {
        g_autofree char *s = vr_json_finish(j);

        fputs(s, stdout);
        fflush(stdout);
}

static int cmd_send(const Opts *o) {
        g_autofree char *dev = NULL;
        g_autofree uint8_t *frames = NULL, *batch = NULL;
        struct mmsghdr msgs[BATCH];
        struct iovec iov[BATCH];
        struct sockaddr_ll sll = {.sll_family = AF_PACKET};
        VrFrameSpec f = {0};
        uint64_t rate = 0, dur = 0, sent = 0, errors = 0, t0, t, seq = 0;
        int fd, ifindex, one = 1, sndbuf = 64 << 20;
        size_t len = 0;
        g_autoptr(VrJson) j = vr_json_new();

        if (parse_rate_duration(o, &rate, &dur) || enter_netns(o->netns))
                return 1;
        fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return die("AF_PACKET socket: %s (needs CAP_NET_RAW)", g_strerror(errno));
        if (frame_setup(o, fd, &f, &dev, &ifindex))
                return 1;
        /* Straight to the driver, as pktgen does: no qdisc between us and the wire. */
        (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
        /* A frame stays charged to this socket while it waits in the router's macvtap
         * queue (a veth does not orphan it): with the default send buffer (~270 such
         * frames) sendmmsg blocked and an overloaded router was sent 22k of 136k pps.
         * Make the buffer far larger than any queue, so a full queue drops, as a wire
         * would, and never slows the sender. FORCE needs CAP_NET_ADMIN (we are root in
         * the namespace); otherwise take what wmem_max allows. */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        sll.sll_ifindex = ifindex;
        sll.sll_halen = 6;
        memcpy(sll.sll_addr, f.dst_mac, 6);
        frames = g_malloc((size_t)f.flows * VR_FRAME_MAX);
        for (unsigned k = 0; k < f.flows; k++)
                len = vr_frame_build(frames + (size_t)k * VR_FRAME_MAX, VR_FRAME_MAX, &f, k);
        batch = g_malloc((size_t)BATCH * VR_FRAME_MAX);
        for (int i = 0; i < BATCH; i++) {
                iov[i] = (struct iovec){batch + (size_t)i * VR_FRAME_MAX, len};
                msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_name = &sll, .msg_namelen = sizeof(sll), .msg_iov = &iov[i], .msg_iovlen = 1}};
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        t0 = now_ns(CLOCK_MONOTONIC);
        while (!stop && (t = now_ns(CLOCK_MONOTONIC)) - t0 < dur) {
                uint64_t due = rate ? (uint64_t)((double)(t - t0) * (double)rate / 1e9) + 1 : seq + BATCH;
                unsigned n = (unsigned)MIN(due > seq ? due - seq : 0, (uint64_t)BATCH);
                int m;

                if (n == 0) {
                        /* Sleep until the next packet is due, at most 1 ms. */
                        uint64_t next = t0 + (uint64_t)((double)(seq) * 1e9 / (double)rate);
                        struct timespec ts = {.tv_nsec = (long)MIN(next > t ? next - t : 1000, 1000000u)};
                        nanosleep(&ts, NULL);
                        continue;
                }
                for (unsigned i = 0; i < n; i++) {
                        memcpy(batch + (size_t)i * VR_FRAME_MAX, frames + (size_t)((seq + i) % f.flows) * VR_FRAME_MAX, len);
                        vr_frame_stamp(batch + (size_t)i * VR_FRAME_MAX, (uint32_t)(seq + i), t);
                }
                m = sendmmsg(fd, msgs, n, 0);
                if (m < 0) {
                        /* A full device queue loses the packets, as a wire would. */
                        if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
                                return die("sending on %s: %s", dev, g_strerror(errno));
                        m = 0;
                }
                sent += (uint64_t)m;
                errors += n - (unsigned)m;
                seq += n;
        }
        t = now_ns(CLOCK_MONOTONIC);
        close(fd);
        vr_json_begin_object(j);
        vr_json_key(j, "generator"), vr_json_string(j, "builtin");
        vr_json_key(j, "dev"), vr_json_string(j, dev);
        vr_json_key(j, "sent"), vr_json_uint(j, sent);
        vr_json_key(j, "dropped_at_source"), vr_json_uint(j, errors);
        vr_json_key(j, "seconds"), vr_json_double(j, (double)(t - t0) / 1e9);
        vr_json_key(j, "rate_pps"), vr_json_double(j, (double)sent * 1e9 / (double)(t - t0));
        vr_json_end_object(j);
        emit(j);
        return 0;
}

static gint cmp_u64(gconstpointer a, gconstpointer b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return (x > y) - (x < y);
}

static int cmd_recv(const Opts *o) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
        uint8_t bufs[BATCH][2048];
        char ctrl[BATCH][CMSG_SPACE(sizeof(struct timespec))];
        struct mmsghdr msgs[BATCH];
        struct iovec iov[BATCH];
        g_autoptr(GArray) lat = g_array_new(FALSE, FALSE, sizeof(double));
        g_autoptr(GArray) arr = g_array_new(FALSE, FALSE, sizeof(uint64_t));
        uint64_t dur = 0, bucket_rate = 0, unused = 0, foreign = 0, t_end, offset;
        int fd, one = 1, size = 16 << 20;
        g_autoptr(VrJson) j = vr_json_new();

        if (parse_rate_duration(o, &unused, &dur))
                return 1;
        if (o->bucket_rate && vr_parse_pkt_rate_cli(o->bucket_rate, &bucket_rate) < 0)
                return die("--bucket-rate: expected packets per second, got '%s'", o->bucket_rate);
        if (!o->addr || inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1)
                return die("--addr: expected the IPv4 address to receive on, got '%s'", o->addr ? o->addr : "(none)");
        if (enter_netns(o->netns))
                return 1;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return die("UDP socket: %s", g_strerror(errno));
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
                (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
        /* Kernel arrival times: a batch read at once must not look like a burst. */
        (void)setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
                return die("binding %s:%d: %s", o->addr, o->port, g_strerror(errno));
        for (int i = 0; i < BATCH; i++) {
                iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
                msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
        }
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        /* Wake at least every 100 ms to notice the end of --duration. */
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &(struct timeval){0, 100000}, sizeof(struct timeval));
        /* The sender stamps CLOCK_MONOTONIC; the kernel stamps CLOCK_REALTIME. */
        offset = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_MONOTONIC);
        t_end = now_ns(CLOCK_MONOTONIC) + dur;
        /* Ready: the bench starts its senders once it reads this line on stderr. */
        fprintf(stderr, "ready\n");
        while (!stop) {
                uint64_t t = now_ns(CLOCK_MONOTONIC);
                int m;

                if (t >= t_end)
                        break;
                for (int i = 0; i < BATCH; i++) {
                        msgs[i].msg_hdr.msg_control = ctrl[i];
                        msgs[i].msg_hdr.msg_controllen = sizeof(ctrl[i]);
                }
                m = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
                if (m < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                continue;
                        return die("receiving: %s", g_strerror(errno));
                }
                t = now_ns(CLOCK_MONOTONIC);
                for (int i = 0; i < m; i++) {
                        VrPayload p;
                        uint64_t at = t;
                        double ms;

                        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[i].msg_hdr); c; c = CMSG_NXTHDR(&msgs[i].msg_hdr, c))
                                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
                                        struct timespec ts;
                                        memcpy(&ts, CMSG_DATA(c), sizeof(ts));
                                        at = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec - offset;
                                }
                        /* The empty datagram frame_setup sends to resolve the peer's MAC
                         * is not traffic (every generator's frame carries a payload). */
                        if (msgs[i].msg_len == 0)
                                continue;
                        g_array_append_val(arr, at);
                        if (!vr_payload_parse(bufs[i], msgs[i].msg_len, &p)) {
                                foreign++; /* trafgen/pktgen frames: counted, no delay */
                                continue;
                        }
                        ms = ((double)at - (double)p.ts_ns) / 1e6;
                        g_array_append_val(lat, ms);
                }
        }
        close(fd);
        vr_json_begin_object(j);
        vr_json_key(j, "received"), vr_json_uint(j, arr->len);
        vr_json_key(j, "untimed"), vr_json_uint(j, foreign);
        if (arr->len > 1) {
                const uint64_t *a = (const uint64_t *)arr->data;
                double span = (double)(a[arr->len - 1] - a[0]) / 1e9;
                vr_json_key(j, "span_s"), vr_json_double(j, span);
        }
        if (lat->len) {
                double *v = (double *)lat->data;
                vr_stats_sort(v, lat->len);
                vr_json_key(j, "latency_ms");
                vr_json_begin_object(j);
                vr_json_key(j, "p50"), vr_json_double(j, vr_stats_percentile(v, lat->len, 50));
                vr_json_key(j, "p90"), vr_json_double(j, vr_stats_percentile(v, lat->len, 90));
                vr_json_key(j, "p99"), vr_json_double(j, vr_stats_percentile(v, lat->len, 99));
                vr_json_key(j, "max"), vr_json_double(j, vr_stats_percentile(v, lat->len, 100));
                vr_json_end_object(j);
        }
        if (bucket_rate && arr->len) {
                uint64_t *a = (uint64_t *)arr->data;
                /* Kernel stamps come in arrival order per socket; sort anyway for safety. */
                g_array_sort(arr, cmp_u64);
                vr_json_key(j, "bucket_rate_pps"), vr_json_uint(j, bucket_rate);
                vr_json_key(j, "bucket_depth"), vr_json_double(j, vr_stats_bucket_depth(a, arr->len, (double)bucket_rate));
        }
        vr_json_end_object(j);
        emit(j);
        return 0;
}

/* The kernel's pktgen or netsniff-ng's trafgen sends the same frames (without our
 * payload: the sink counts them, no delay). */
static int cmd_external(const Opts *o, bool pktgen) {
        g_autofree char *dev = NULL;
        VrGenSpec g = {0};
        uint64_t rate = 0, dur = 0, t0;
        int fd, ifindex;
        g_autoptr(GError) err = NULL;
        g_autoptr(VrJson) j = vr_json_new();

        if (parse_rate_duration(o, &rate, &dur) || enter_netns(o->netns))
                return 1;
        fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || frame_setup(o, fd, &g.frame, &dev, &ifindex))
                return 1;
        close(fd);
        g.dev = dev;
        g.rate_pps = rate;
        g.count = rate ? rate * dur / 1000000000u : 0;
        g.threads = (unsigned)MAX(o->threads, 1);
        if (!rate)
                return die("--rate: %s needs a rate (packets per second)", pktgen ? "pktgen" : "trafgen");
        t0 = now_ns(CLOCK_MONOTONIC);
        if (pktgen) {
                if (vr_pktgen_write(o->root, &g, &err) < 0)
                        return die("%s", err->message);
        } else {
                g_autofree char *conf = vr_trafgen_config(&g);
                g_autofree char *path = g_build_filename(g_get_tmp_dir(), "virt-router-trafgen-XXXXXX", NULL);
                g_autofree char *rate_s = g_strdup_printf("%" PRIu64 "pps", rate);
                g_autofree char *num = g_strdup_printf("%" PRIu64, g.count);
                const char *argv[] = {"trafgen", "--dev", dev, "--conf", path, "--rate", rate_s, "--num", num,
                                      "--cpus", "1", "--silent", NULL};
                int tfd = g_mkstemp(path), status = 0;

                if (tfd < 0 || !g_file_set_contents(path, conf, -1, &err)) {
                        if (tfd >= 0)
                                close(tfd);
                        return die("writing the trafgen configuration: %s", err ? err->message : g_strerror(errno));
                }
                close(tfd);
                if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
                                  NULL, NULL, &status, &err)) {
                        unlink(path);
                        return die("running trafgen (package netsniff-ng): %s", err->message);
                }
                unlink(path);
                if (!g_spawn_check_wait_status(status, &err))
                        return die("trafgen: %s", err->message);
        }
        vr_json_begin_object(j);
        vr_json_key(j, "generator"), vr_json_string(j, pktgen ? "pktgen" : "trafgen");
        vr_json_key(j, "dev"), vr_json_string(j, dev);
        vr_json_key(j, "sent"), vr_json_uint(j, g.count);
        vr_json_key(j, "dropped_at_source"), vr_json_uint(j, 0);
        vr_json_key(j, "seconds"), vr_json_double(j, (double)(now_ns(CLOCK_MONOTONIC) - t0) / 1e9);
        vr_json_key(j, "rate_pps"), vr_json_double(j, (double)rate);
        vr_json_end_object(j);
        emit(j);
        return 0;
}

int main(int argc, char **argv) {
        Opts o = {.port = 9999, .size = 64, .flows = 8, .threads = 1};
        GOptionEntry entries[] = {
                {"netns", 'N', 0, G_OPTION_ARG_STRING, &o.netns, "Network namespace (name in /run/netns, or a path)", "NS"},
                {"dst", 'd', 0, G_OPTION_ARG_STRING, &o.dst, "send: destination IPv4 address", "IP"},
                {"src", 0, 0, G_OPTION_ARG_STRING, &o.src, "send: source address (default: the device's)", "IP"},
                {"dev", 'i', 0, G_OPTION_ARG_STRING, &o.dev, "send: device (default: the route's)", "DEV"},
                {"dst-mac", 0, 0, G_OPTION_ARG_STRING, &o.dst_mac, "send: next hop's MAC (default: from ARP)", "MAC"},
                {"addr", 'a', 0, G_OPTION_ARG_STRING, &o.addr, "recv: address to receive on", "IP"},
                {"port", 'p', 0, G_OPTION_ARG_INT, &o.port, "UDP destination port (default 9999)", "PORT"},
                {"rate", 'r', 0, G_OPTION_ARG_STRING, &o.rate, "send: packets per second (default: as fast as possible)", "PPS"},
                {"duration", 't', 0, G_OPTION_ARG_STRING, &o.duration, "How long to send or listen (3s, 500ms)", "TIME"},
                {"size", 's', 0, G_OPTION_ARG_INT, &o.size, "send: frame size with FCS (default 64)", "BYTES"},
                {"flows", 'f', 0, G_OPTION_ARG_INT, &o.flows, "send: flows, one UDP source port each (default 8)", "N"},
                {"threads", 0, 0, G_OPTION_ARG_INT, &o.threads, "pktgen: kernel threads (default 1)", "N"},
                {"bucket-rate", 0, 0, G_OPTION_ARG_STRING, &o.bucket_rate, "recv: report the token-bucket depth the arrivals need at this rate", "PPS"},
                {"root", 0, 0, G_OPTION_ARG_FILENAME, &o.root, "pktgen: root prefix for /proc (tests)", "DIR"},
                {NULL},
        };
        g_autoptr(GOptionContext) ctx = g_option_context_new("send|recv|pktgen|trafgen");
        g_autoptr(GError) err = NULL;

        setlocale(LC_ALL, "");
        setlocale(LC_NUMERIC, "C");
        g_option_context_set_summary(ctx, "The bench's traffic source and sink: UDP frames through a router between\n"
                                          "network namespaces; prints one JSON object with what it sent or received.");
        g_option_context_add_main_entries(ctx, entries, NULL);
        if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc != 2) {
                fprintf(stderr, "virt-router-traffic: %s\n", err ? err->message : "expected one command: send, recv, pktgen or trafgen");
                return 2;
        }
        if (o.port < 1 || o.port > 65535)
                return die("--port: expected 1..65535, got %d", o.port);
        if (g_str_equal(argv[1], "send"))
                return cmd_send(&o);
        if (g_str_equal(argv[1], "recv"))
                return cmd_recv(&o);
        if (g_str_equal(argv[1], "pktgen") || g_str_equal(argv[1], "trafgen"))
                return cmd_external(&o, g_str_equal(argv[1], "pktgen"));
        fprintf(stderr, "virt-router-traffic: unknown command '%s': expected send, recv, pktgen or trafgen\n", argv[1]);
        return 2;
}
