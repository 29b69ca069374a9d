/* Test traffic: the frames the generators send, the statistics the bench reports, and
 * the commands for the kernel's pktgen and netsniff-ng's trafgen. Pure except
 * vr_pktgen_write (which writes under a root prefix). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "vr-macros.h"

/* Frame size on the wire counts the 4-byte FCS, as the papers' "64-byte packets" do. */
#define VR_FRAME_MIN 64
#define VR_FRAME_MAX 1518
#define VR_FCS_LEN 4
#define VR_PAYLOAD_MAGIC 0x5652 /* "VR" */
#define VR_PAYLOAD_LEN 16       /* fits the 18 bytes a 64-byte frame has for UDP data */
#define VR_UDP_SRC_BASE 1024    /* flow k uses source port VR_UDP_SRC_BASE + k */

typedef struct {
        uint8_t src_mac[6], dst_mac[6];
        struct in_addr src, dst;
        uint16_t dst_port;
        unsigned size;  /* frame size with FCS, VR_FRAME_MIN..VR_FRAME_MAX */
        unsigned flows; /* >= 1 */
} VrFrameSpec;

/* The payload each generated packet carries: the receiver measures one-way delay from
 * ts_ns (CLOCK_MONOTONIC: one clock for every network namespace of a host). */
typedef struct {
        uint16_t magic, flow;
        uint32_t seq;
        uint64_t ts_ns;
} VrPayload;

/* Ethernet + IPv4 + UDP frame without FCS (spec->size - 4 bytes) into buf; the IPv4
 * checksum is computed, the UDP one left 0 (allowed for IPv4). Returns its length. */
size_t vr_frame_build(uint8_t *buf, size_t bufsize, const VrFrameSpec *spec, unsigned flow);
/* Stamp seq and time into a frame vr_frame_build made (network byte order). */
void vr_frame_stamp(uint8_t *frame, uint32_t seq, uint64_t ts_ns);
/* Read a payload from UDP data; false if it is not ours. */
bool vr_payload_parse(const uint8_t *data, size_t len, VrPayload *ret);
int vr_parse_mac(const char *s, uint8_t mac[6]) _must_check_;

/* Statistics. */
void vr_stats_sort(double *v, size_t n);
/* Nearest-rank percentile of v, sorted ascending (vr_stats_sort); NAN when n == 0. */
double vr_stats_percentile(const double *v, size_t n, double p);
/* Mean and the half-width of its 95% confidence interval (Student's t; 0 for n < 2). */
void vr_stats_mean_ci95(const double *v, size_t n, double *ret_mean, double *ret_half);
/* The smallest token-bucket depth (packets) that the arrivals (sorted, ns) conform to
 * at `rate_pps`: max over i <= j of (j - i + 1) - rate * (t_j - t_i). */
double vr_stats_bucket_depth(const uint64_t *arrivals_ns, size_t n, double rate_pps);

/* A generator run, as the bench asks for it. */
typedef struct {
        const char *dev;       /* source interface (in the source namespace) */
        VrFrameSpec frame;
        uint64_t rate_pps;     /* 0: as fast as possible */
        uint64_t count;        /* packets to send */
        unsigned threads;      /* pktgen: kernel threads (kpktgend_N) to spread over */
} VrGenSpec;

/* pktgen: the writes that set up and start a run, in order, as "FILE COMMAND" with
 * FILE relative to /proc/net/pktgen. */
GPtrArray *vr_pktgen_commands(const VrGenSpec *g);
/* Carry them out under root (NULL: "/"). pgctrl "start" blocks until the run ends. */
int vr_pktgen_write(const char *root, const VrGenSpec *g, GError **error) _must_check_;
/* trafgen: a configuration file for the same frames (flows as a counter on the UDP
 * source port; no timestamps: trafgen runs give no latency). */
char *vr_trafgen_config(const VrGenSpec *g);
