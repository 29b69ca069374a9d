/* `virt-router bench`: see virt-router-bench.c. */
#pragma once

int vr_cmd_bench(int argc, char **argv);
