#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vr-units.h"

typedef struct {
        const char *suffix;
        double factor;
} UnitSuffix;

/* Parse "NUMBER SUFFIX" where NUMBER is a non-negative decimal (fraction allowed) and
 * SUFFIX one of the table's entries (compared case-sensitively: 'M' is not 'm'). */
static int parse_with_suffix(const char *s, const UnitSuffix *units, uint64_t *ret) {
        const char *p = s;
        bool digits = false, dot = false;
        char *end = NULL;
        double v;

        if (!s || !*s)
                return -EINVAL;
        /* strtod would accept hex, inf, nan, exponents and leading blanks: check by hand. */
        for (; *p; p++) {
                if (g_ascii_isdigit(*p))
                        digits = true;
                else if (*p == '.' && !dot)
                        dot = true;
                else
                        break;
        }
        if (!digits)
                return -EINVAL;
        v = g_ascii_strtod(s, &end);
        if (end != p)
                return -EINVAL;
        for (const UnitSuffix *u = units; u->suffix; u++) {
                if (strcmp(p, u->suffix) == 0) {
                        double r = v * u->factor;
                        /* llround() returns a long long: from 2^63 on it would clamp (or
                         * be undefined), so 18000000000000Mpps read as 2^63. Refused. */
                        if (!isfinite(r) || r >= 9223372036854775808.0)
                                return -ERANGE;
                        if (r > 0 && r < 1)
                                return -ERANGE; /* finer than the base unit */
                        *ret = (uint64_t) llround(r);
                        return 0;
                }
        }
        return -EINVAL;
}

int vr_parse_duration(const char *s, uint64_t *ret_ns) {
        static const UnitSuffix units[] = {
                {"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {NULL, 0},
        };
        return parse_with_suffix(s, units, ret_ns);
}

int vr_parse_pkt_rate(const char *s, uint64_t *ret_pps) {
        static const UnitSuffix units[] = {
                {"pps", 1.0}, {"kpps", 1e3}, {"Mpps", 1e6}, {NULL, 0},
        };
        return parse_with_suffix(s, units, ret_pps);
}

int vr_parse_pkt_rate_cli(const char *s, uint64_t *ret_pps) {
        size_t n = s ? strlen(s) : 0;
        g_autofree char *t = NULL;

        if (n && strspn(s, "0123456789.") == n)
                t = g_strconcat(s, "pps", NULL);
        else if (n > 1 && (s[n - 1] == 'k' || s[n - 1] == 'M') && strspn(s, "0123456789.") == n - 1)
                t = g_strconcat(s, "pps", NULL);
        return vr_parse_pkt_rate(t ? t : s, ret_pps);
}

int vr_parse_bit_rate(const char *s, uint64_t *ret_bps) {
        static const UnitSuffix units[] = {
                {"bit/s", 1.0}, {"bps", 1.0}, {"bit", 1.0},
                {"kbit/s", 1e3}, {"kbps", 1e3}, {"kbit", 1e3},
                {"Mbit/s", 1e6}, {"Mbps", 1e6}, {"Mbit", 1e6},
                {"Gbit/s", 1e9}, {"Gbps", 1e9}, {"Gbit", 1e9},
                {NULL, 0},
        };
        return parse_with_suffix(s, units, ret_bps);
}

int vr_parse_int(const char *s, int64_t min, int64_t max, int64_t *ret) {
        const char *p = s;
        char *end = NULL;
        gint64 v;

        if (!s || !*s)
                return -EINVAL;
        if (*p == '-' || *p == '+')
                p++;
        if (!g_ascii_isdigit(*p))
                return -EINVAL;
        if (p[0] == '0' && p[1])
                return -EINVAL; /* "0256": octal to some readers, a typo to most */
        errno = 0;
        v = g_ascii_strtoll(s, &end, 10);
        if (*end)
                return -EINVAL;
        if (errno == ERANGE || v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

int vr_parse_bool(const char *s, bool *ret) {
        static const char *const yes[] = {"yes", "true", "on", "1", NULL};
        static const char *const no[] = {"no", "false", "off", "0", NULL};

        if (!s)
                return -EINVAL;
        if (g_strv_contains(yes, s)) {
                *ret = true;
                return 0;
        }
        if (g_strv_contains(no, s)) {
                *ret = false;
                return 0;
        }
        return -EINVAL;
}

int vr_parse_fraction_ppm(const char *s, uint32_t *ret_ppm) {
        static const UnitSuffix units[] = {{"%", 1e4}, {"", 1e6}, {NULL, 0}};
        uint64_t v;
        int r;

        r = parse_with_suffix(s, units, &v);
        if (r < 0)
                return r;
        if (v > 1000000)
                return -ERANGE;
        *ret_ppm = (uint32_t) v;
        return 0;
}

static char *format_scaled(uint64_t v, const UnitSuffix *units_desc) {
        /* units_desc: largest first; pick the largest unit that divides exactly. */
        for (const UnitSuffix *u = units_desc; u->suffix; u++) {
                uint64_t f = (uint64_t) u->factor;
                if (v != 0 && v % f == 0)
                        return g_strdup_printf("%" G_GUINT64_FORMAT "%s", v / f, u->suffix);
        }
        for (const UnitSuffix *u = units_desc; u->suffix; u++)
                if (!u[1].suffix)
                        return g_strdup_printf("%" G_GUINT64_FORMAT "%s", v, u->suffix);
        return NULL;
}

char *vr_format_duration(uint64_t ns) {
        static const UnitSuffix units[] = {
                {"s", 1e9}, {"ms", 1e6}, {"us", 1e3}, {"ns", 1}, {NULL, 0},
        };
        return format_scaled(ns, units);
}

char *vr_format_pkt_rate(uint64_t pps) {
        static const UnitSuffix units[] = {
                {"Mpps", 1e6}, {"kpps", 1e3}, {"pps", 1}, {NULL, 0},
        };
        return format_scaled(pps, units);
}

char *vr_format_bit_rate(uint64_t bps) {
        static const UnitSuffix units[] = {
                {"Gbit/s", 1e9}, {"Mbit/s", 1e6}, {"kbit/s", 1e3}, {"bit/s", 1}, {NULL, 0},
        };
        return format_scaled(bps, units);
}
