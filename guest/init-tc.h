/* vr-init's policers and shapers (tc): what to install, and their drops read back. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "init-config.h"

/* Whether any port is policed or shaped (then the tc modules load). */
bool need_tc(const struct config *cfg);
/* The `tc -batch` text for the ports up. Returns its length. */
size_t tc_batch(const struct config *cfg, char *buf, size_t size);
/* The police action index of a port's policer (ingress) or packet-rate shaper (egress). */
unsigned police_index(size_t port, bool egress);
/* Drops of police action index in `tc -s -j actions list action police`; 0 if absent. */
uint64_t police_drops(const char *json, unsigned index);
