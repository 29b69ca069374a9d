/* Test traffic: frames, statistics and the external generators' commands. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "vr-error.h"
#include "vr-sysfs.h"
#include "vr-traffic.h"

#define ETH_HDR 14
#define IP_HDR 20
#define UDP_HDR 8
#define HDRS (ETH_HDR + IP_HDR + UDP_HDR)

static void put16(uint8_t *p, uint16_t v) {
        p[0] = v >> 8;
        p[1] = v & 0xff;
}

static uint16_t get16(const uint8_t *p) {
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint16_t ip_checksum(const uint8_t *p, size_t len) {
        uint32_t sum = 0;

        for (size_t i = 0; i + 1 < len; i += 2)
                sum += get16(p + i);
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

size_t vr_frame_build(uint8_t *buf, size_t bufsize, const VrFrameSpec *s, unsigned flow) {
        size_t len = s->size - VR_FCS_LEN;
        uint8_t *ip = buf + ETH_HDR, *udp = ip + IP_HDR;

        g_return_val_if_fail(s->size >= VR_FRAME_MIN && s->size <= VR_FRAME_MAX, 0);
        g_return_val_if_fail(bufsize >= len, 0);
        memset(buf, 0, len);
        memcpy(buf, s->dst_mac, 6);
        memcpy(buf + 6, s->src_mac, 6);
        put16(buf + 12, 0x0800);
        ip[0] = 0x45;
        put16(ip + 2, (uint16_t)(len - ETH_HDR));
        put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = 17;
        memcpy(ip + 12, &s->src, 4);
        memcpy(ip + 16, &s->dst, 4);
        put16(ip + 10, ip_checksum(ip, IP_HDR));
        put16(udp, (uint16_t)(VR_UDP_SRC_BASE + flow % MAX(s->flows, 1u)));
        put16(udp + 2, s->dst_port);
        put16(udp + 4, (uint16_t)(len - ETH_HDR - IP_HDR));
        put16(udp + 8, VR_PAYLOAD_MAGIC);
        put16(udp + 10, (uint16_t)(flow % MAX(s->flows, 1u)));
        return len;
}

void vr_frame_stamp(uint8_t *frame, uint32_t seq, uint64_t ts_ns) {
        uint8_t *p = frame + HDRS + 4;

        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t)(seq >> (24 - 8 * i));
        for (int i = 0; i < 8; i++)
                p[4 + i] = (uint8_t)(ts_ns >> (56 - 8 * i));
}

bool vr_payload_parse(const uint8_t *d, size_t len, VrPayload *ret) {
        if (len < VR_PAYLOAD_LEN || get16(d) != VR_PAYLOAD_MAGIC)
                return false;
        ret->magic = VR_PAYLOAD_MAGIC;
        ret->flow = get16(d + 2);
        ret->seq = (uint32_t)d[4] << 24 | (uint32_t)d[5] << 16 | (uint32_t)d[6] << 8 | d[7];
        ret->ts_ns = 0;
        for (int i = 0; i < 8; i++)
                ret->ts_ns = ret->ts_ns << 8 | d[8 + i];
        return true;
}

int vr_parse_mac(const char *s, uint8_t mac[6]) {
        unsigned v[6];
        char end;

        if (!s || sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end) != 6)
                return -EINVAL;
        for (int i = 0; i < 6; i++)
                mac[i] = (uint8_t)v[i];
        return 0;
}

static int cmp_double(const void *a, const void *b) {
        double x = *(const double *)a, y = *(const double *)b;
        return (x > y) - (x < y);
}

void vr_stats_sort(double *v, size_t n) {
        /* qsort's array must be valid even when empty (C11 7.22.5): a step with no
         * samples passes NULL, which UBSan stops at. */
        if (n > 1)
                qsort(v, n, sizeof(double), cmp_double);
}

double vr_stats_percentile(const double *v, size_t n, double p) {
        size_t i;

        if (n == 0)
                return NAN;
        i = (size_t)ceil(p / 100.0 * (double)n);
        return v[i == 0 ? 0 : MIN(i, n) - 1];
}

/* Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom. */
static const double t95[] = {
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
};

void vr_stats_mean_ci95(const double *v, size_t n, double *ret_mean, double *ret_half) {
        double mean = 0, ss = 0;

        for (size_t i = 0; i < n; i++)
                mean += v[i];
        mean = n ? mean / (double)n : NAN;
        *ret_mean = mean;
        *ret_half = 0;
        if (n < 2)
                return;
        for (size_t i = 0; i < n; i++)
                ss += (v[i] - mean) * (v[i] - mean);
        *ret_half = (n - 1 <= G_N_ELEMENTS(t95) ? t95[n - 2] : 1.960) * sqrt(ss / (double)(n - 1)) / sqrt((double)n);
}

double vr_stats_bucket_depth(const uint64_t *t, size_t n, double rate) {
        /* (j - i + 1) - r(t_j - t_i) = (j - r t_j) + (r t_i - i) + 1: keep the best i so far. */
        double best_i = -INFINITY, depth = 0;

        for (size_t j = 0; j < n; j++) {
                double tj = (double)(t[j] - t[0]) / 1e9;
                best_i = MAX(best_i, rate * tj - (double)j);
                depth = MAX(depth, (double)j - rate * tj + best_i + 1);
        }
        return depth;
}

static char *mac_str(const uint8_t m[6]) {
        return g_strdup_printf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

GPtrArray *vr_pktgen_commands(const VrGenSpec *g) {
        GPtrArray *c = g_ptr_array_new_with_free_func(g_free);
        unsigned threads = MAX(g->threads, 1u);
        g_autofree char *dmac = mac_str(g->frame.dst_mac);
        char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];

        inet_ntop(AF_INET, &g->frame.src, src, sizeof(src));
        inet_ntop(AF_INET, &g->frame.dst, dst, sizeof(dst));
        g_ptr_array_add(c, g_strdup("pgctrl reset"));
        for (unsigned t = 0; t < threads; t++) {
                /* One device entry per thread: DEV@N, as the kernel's samples name them. */
                g_autofree char *d = g_strdup_printf("%s@%u", g->dev, t);
                uint64_t count = g->count / threads + (t < g->count % threads);

                g_ptr_array_add(c, g_strdup_printf("kpktgend_%u rem_device_all", t));
                g_ptr_array_add(c, g_strdup_printf("kpktgend_%u add_device %s", t, d));
                g_ptr_array_add(c, g_strdup_printf("%s count %" PRIu64, d, count));
                g_ptr_array_add(c, g_strdup_printf("%s clone_skb 0", d));
                g_ptr_array_add(c, g_strdup_printf("%s pkt_size %u", d, g->frame.size - VR_FCS_LEN));
                if (g->rate_pps)
                        g_ptr_array_add(c, g_strdup_printf("%s ratep %" PRIu64, d, MAX(g->rate_pps / threads, 1u)));
                else
                        g_ptr_array_add(c, g_strdup_printf("%s delay 0", d));
                g_ptr_array_add(c, g_strdup_printf("%s dst_mac %s", d, dmac));
                g_ptr_array_add(c, g_strdup_printf("%s src_min %s", d, src));
                g_ptr_array_add(c, g_strdup_printf("%s src_max %s", d, src));
                g_ptr_array_add(c, g_strdup_printf("%s dst %s", d, dst));
                g_ptr_array_add(c, g_strdup_printf("%s udp_src_min %u", d, VR_UDP_SRC_BASE));
                g_ptr_array_add(c, g_strdup_printf("%s udp_src_max %u", d, VR_UDP_SRC_BASE + MAX(g->frame.flows, 1u) - 1));
                g_ptr_array_add(c, g_strdup_printf("%s udp_dst_min %u", d, g->frame.dst_port));
                g_ptr_array_add(c, g_strdup_printf("%s udp_dst_max %u", d, g->frame.dst_port));
        }
        g_ptr_array_add(c, g_strdup("pgctrl start"));
        return c;
}

int vr_pktgen_write(const char *root, const VrGenSpec *g, GError **error) {
        g_autoptr(GPtrArray) c = vr_pktgen_commands(g);
        g_autofree char *dir = vr_root_path(root, "/proc/net/pktgen");

        if (!g_file_test(dir, G_FILE_TEST_IS_DIR)) {
                g_set_error(error, VR_ERROR, VR_ERROR_HOST,
                            "%s: no such directory: this kernel has no pktgen (modprobe pktgen, or use generator=builtin)", dir);
                return -ENOENT;
        }
        for (guint i = 0; i < c->len; i++) {
                const char *line = c->pdata[i];
                const char *sp = strchr(line, ' ');
                g_autofree char *file = g_strndup(line, (gsize)(sp - line));
                g_autofree char *rel = g_strdup_printf("/proc/net/pktgen/%s", file);
                /* One command a write, newline-terminated as echo writes it: pgctrl drops the
                 * last byte as its newline, so a bare "start" is "star" (EINVAL on 6.12). */
                g_autofree char *cmd = g_strdup_printf("%s\n", sp + 1);
                int r = vr_write_file(root, rel, cmd);

                if (r < 0) {
                        g_set_error(error, VR_ERROR, VR_ERROR_HOST, "pktgen: writing '%s' to %s%s: %s", sp + 1,
                                    root ? root : "", rel, g_strerror(-r));
                        return r;
                }
        }
        return 0;
}

char *vr_trafgen_config(const VrGenSpec *g) {
        GString *s = g_string_new(NULL);
        const uint8_t *d = g->frame.dst_mac, *m = g->frame.src_mac;
        char src[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];
        unsigned fill = g->frame.size - VR_FCS_LEN - HDRS;

        inet_ntop(AF_INET, &g->frame.src, src, sizeof(src));
        inet_ntop(AF_INET, &g->frame.dst, dst, sizeof(dst));
        g_string_append(s, "/* virt-router bench: UDP, one source port per flow */\n{\n");
        g_string_append_printf(s, "  eth(da=%02x:%02x:%02x:%02x:%02x:%02x, sa=%02x:%02x:%02x:%02x:%02x:%02x),\n",
                               d[0], d[1], d[2], d[3], d[4], d[5], m[0], m[1], m[2], m[3], m[4], m[5]);
        g_string_append_printf(s, "  ipv4(saddr=%s, daddr=%s, ttl=64, df),\n", src, dst);
        if (g->frame.flows > 1)
                g_string_append_printf(s, "  udp(sp=dinc(%u, %u), dp=%u),\n", VR_UDP_SRC_BASE,
                                       VR_UDP_SRC_BASE + g->frame.flows - 1, g->frame.dst_port);
        else
                g_string_append_printf(s, "  udp(sp=%u, dp=%u),\n", VR_UDP_SRC_BASE, g->frame.dst_port);
        g_string_append_printf(s, "  fill(0x00, %u)\n}\n", fill);
        return g_string_free(s, FALSE);
}
