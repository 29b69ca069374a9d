/* Parsers for the units users write in policies and host configs. All return 0 or a
 * negative errno (-EINVAL syntax, -ERANGE out of range: finer than the base unit, or
 * 2^63 base units or more) and leave ret_* untouched on error. Callers bound values
 * further by what their consumer accepts. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "vr-macros.h"

/* "300us", "1.5ms", "2s", "500ns": nanoseconds. The unit is required. */
int vr_parse_duration(const char *s, uint64_t *ret_ns) _must_check_;
/* "800kpps", "1.2Mpps", "50000pps": packets per second. */
int vr_parse_pkt_rate(const char *s, uint64_t *ret_pps) _must_check_;
/* "100Mbit/s", "1Gbit", "500kbps": bits per second (SI prefixes). */
/* On command lines and bench scenarios: also a bare number (pps) or 20k, 1.5M. */
int vr_parse_pkt_rate_cli(const char *s, uint64_t *ret_pps) _must_check_;
int vr_parse_bit_rate(const char *s, uint64_t *ret_bps) _must_check_;
/* Decimal integer in [min, max], no sign tricks, no trailing garbage. */
int vr_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret) _must_check_;
/* yes/no/true/false/on/off/1/0 */
int vr_parse_bool(const char *s, bool *ret) _must_check_;
/* "90%" or "0.9": a fraction in [0, 1] expressed in parts per million. */
int vr_parse_fraction_ppm(const char *s, uint32_t *ret_ppm) _must_check_;

/* Short canonical forms for printing: "300us", "1ms", "800kpps". Caller frees. */
char *vr_format_duration(uint64_t ns);
char *vr_format_pkt_rate(uint64_t pps);
char *vr_format_bit_rate(uint64_t bps);
