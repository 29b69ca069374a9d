/* `virt-router bench` and what `virt-router calibrate` shares of it. */
#pragma once

#include <glib.h>

#include "vr-bench.h"

int vr_cmd_bench(int argc, char **argv);
/* One point of a scenario: start every router's sink, offer the step's load for the
 * scenario's duration, collect a VrBenchSample per router into samples. prog: the
 * virt-router-traffic program. */
bool vr_bench_run_point(const VrBench *b, const char *prog, guint step, guint rep, GArray *samples, GError **error);
int vr_cmd_calibrate(int argc, char **argv);
