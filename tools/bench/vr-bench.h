/* `virt-router bench`: the papers' method (offered load stepped up, each point repeated,
 * mean and 95% confidence interval) over routers already running between network
 * namespaces. The scenario file and the statistics are pure; vr-bench-run spawns the
 * generators. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-macros.h"

typedef enum { VR_GEN_BUILTIN, VR_GEN_TRAFGEN, VR_GEN_PKTGEN } VrGenerator;
extern const char *const vr_generator_names[];

typedef struct {
        char *name;
        char *source_netns, *sink_netns;
        char *dst;          /* the sink's address: where traffic goes, through the router */
        GArray *loads;      /* uint64_t pps per step; one value: the same at every step */
        uint64_t bucket_rate; /* 0: do not measure burstiness */
} VrBenchRouter;

typedef struct {
        VrGenerator generator;
        unsigned size, flows, repeat, steps;
        uint64_t duration_ns;
        char *generator_cpus; /* taskset list for the generators, NULL: anywhere */
        char *title;
        GPtrArray *routers;   /* VrBenchRouter */
} VrBench;

VrBench *vr_bench_new(void);
void vr_bench_free(VrBench *b);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VrBench, vr_bench_free)

/* Parse a scenario (GKeyFile: [bench] and one [router NAME] group each). Every problem
 * is reported, one per line, with the file, group and key. */
VrBench *vr_bench_parse(const char *data, const char *what, GError **error);
uint64_t vr_bench_load(const VrBench *b, guint router, guint step);
/* The router whose load is stepped (the x axis); the first one with several loads. */
guint vr_bench_swept(const VrBench *b);

/* One measured point: a router at one step, one repetition. */
typedef struct {
        guint step, rep, router;
        uint64_t offered_pps;       /* asked for */
        double sent_pps, forwarded_pps;
        double p50_ms, p90_ms, p99_ms; /* NAN when not measured */
        double bucket_depth;           /* NAN when not measured */
} VrBenchSample;

/* A run whose generator sent less than this share of the offered load did not measure
 * the router at that load (a generator that blocks or runs out of CPU offers less than
 * the step says): the step is invalid. */
#define VR_BENCH_SENT_MIN_PCT 98
/* Whether sent_pps is enough for offered_pps: at least VR_BENCH_SENT_MIN_PCT percent of
 * it, exactly 98% included. Offered 0 always is; an unknown sent rate (NAN) never is. */
bool vr_bench_sent_enough(uint64_t offered_pps, double sent_pps);

/* Results: raw samples in, summaries out. */
typedef struct {
        guint step, router;
        uint64_t offered_pps;
        double sent, sent_ci, forwarded, forwarded_ci, ratio, ratio_ci;
        double p50, p99, p99_ci, bucket, bucket_max;
        guint n;
        /* mean sent / offered and the lowest run's; NAN when nothing was offered */
        double sent_fraction, sent_fraction_min;
        guint short_runs; /* runs that sent too little (vr_bench_sent_enough) */
        bool valid;       /* offered 0, or at least one run and none of them short */
} VrBenchSummary;

GArray *vr_bench_summarize(const VrBench *b, const GArray *samples); /* of VrBenchSummary */
char *vr_bench_samples_csv(const VrBench *b, const GArray *samples);
char *vr_bench_summary_csv(const VrBench *b, const GArray *summary);
/* "INVALID: sent 71% of offered, 5 of 5 runs under 98% (lowest 69%)" for an invalid
 * step, NULL for a valid one. */
char *vr_bench_invalid_note(const VrBenchSummary *x);
/* The summary as the table `virt-router bench` prints, invalid steps marked. */
char *vr_bench_summary_table(const VrBench *b, const GArray *summary);
/* gnuplot script drawing forwarded against offered load (the swept router's) with
 * confidence intervals, from the summary CSV at csv_path, into png_path. */
char *vr_bench_gnuplot(const VrBench *b, const char *csv_path, const char *png_path);
