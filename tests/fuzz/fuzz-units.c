/* The unit parsers (lib/base/vr-units.c) and CPU lists (lib/base/vr-cpuset.c). The first
 * byte picks the parser, the rest is the text. Oracles:
 *  - what a parser accepts is the number written: within rounding of the decimal times
 *    its unit (a value clamped or wrapped is a fault, not a rounding);
 *  - where a formatter exists, parse -> format -> parse gives the same value, and the
 *    format is canonical (formatting that value again gives the same text);
 *  - vr_parse_int stays within the bounds asked for and prints back as it read. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "vr-cpuset.h"
#include "vr-fuzz.h"
#include "vr-units.h"

typedef struct {
        const char *suffix;
        double factor;
} Unit;

/* The units as virt-router.xml(5) documents them: the oracle's own table. */
static const Unit durations[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {NULL, 0}};
static const Unit pkt_rates[] = {{"pps", 1}, {"kpps", 1e3}, {"Mpps", 1e6}, {NULL, 0}};
static const Unit bit_rates[] = {
        {"bit/s", 1}, {"bps", 1}, {"bit", 1}, {"kbit/s", 1e3}, {"kbps", 1e3}, {"kbit", 1e3},
        {"Mbit/s", 1e6}, {"Mbps", 1e6}, {"Mbit", 1e6}, {"Gbit/s", 1e9}, {"Gbps", 1e9}, {"Gbit", 1e9},
        {NULL, 0},
};
static const Unit fractions[] = {{"%", 1e4}, {"", 1e6}, {NULL, 0}};
static const char *const bool_yes[] = {"yes", "true", "on", "1", NULL};
static const char *const bool_no[] = {"no", "false", "off", "0", NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc, (void) argv;
        vr_fuzz_glib_fatal();
        return 0;
}

static void check_close(const char *s, const Unit *units, uint64_t v) {
        g_autofree char *num = g_strndup(s, strspn(s, "0123456789."));
        long double want = NAN;

        for (const Unit *u = units; u->suffix; u++)
                if (g_str_equal(s + strlen(num), u->suffix))
                        want = strtold(num, NULL) * (long double) u->factor;
        if (isnan(want))
                return;
        /* Rounding to the base unit, and a double's precision in the parser. */
        if (fabsl((long double) v - want) > 0.5L + want * 1e-12L)
                VR_FUZZ_FAIL("'%s' read as %" PRIu64 ", but it writes %.0Lf", s, v, want);
}

typedef int (*ParseFn)(const char *s, uint64_t *ret);
typedef char *(*FormatFn)(uint64_t v);

static void check_unit(const char *s, ParseFn parse, FormatFn format, const Unit *units) {
        uint64_t v = 0, back = 0;
        g_autofree char *text = NULL, *again = NULL;

        if (parse(s, &v) < 0)
                return;
        check_close(s, units, v);
        if (!format)
                return;
        text = format(v);
        if (parse(text, &back) < 0 || back != v)
                VR_FUZZ_FAIL("'%s' read as %" PRIu64 ", printed '%s', reads back as %" PRIu64, s, v, text, back);
        again = format(back);
        if (!g_str_equal(text, again))
                VR_FUZZ_FAIL("'%s' prints as '%s' and then as '%s'", s, text, again);
}

static int parse_fraction(const char *s, uint64_t *ret) {
        uint32_t ppm;
        int r = vr_parse_fraction_ppm(s, &ppm);
        if (r == 0) {
                if (ppm > 1000000)
                        VR_FUZZ_FAIL("'%s': a fraction of %u ppm", s, ppm);
                *ret = ppm;
        }
        return r;
}

static int parse_rate_cli(const char *s, uint64_t *ret) {
        return vr_parse_pkt_rate_cli(s, ret);
}

static void check_int(const char *s, unsigned sel) {
        static const int64_t bounds[][2] = {
                {INT64_MIN, INT64_MAX}, {0, 4094}, {1, 100000}, {-20, 19}, {0, INT32_MAX}, {2, 262144},
        };
        const int64_t *b = bounds[sel % G_N_ELEMENTS(bounds)];
        g_autofree char *text = NULL;
        int64_t v = 0, back = 0;

        if (vr_parse_int(s, b[0], b[1], &v) < 0)
                return;
        if (v < b[0] || v > b[1])
                VR_FUZZ_FAIL("'%s' read as %" PRId64 ", outside [%" PRId64 ", %" PRId64 "]", s, v, b[0], b[1]);
        text = g_strdup_printf("%" PRId64, v);
        if (vr_parse_int(text, b[0], b[1], &back) < 0 || back != v)
                VR_FUZZ_FAIL("'%s' read as %" PRId64 " does not read back from '%s'", s, v, text);
        if (strtoll(s, NULL, 10) != v)
                VR_FUZZ_FAIL("'%s' read as %" PRId64, s, v);
}

static void check_cpuset(const char *s) {
        g_autoptr(VrCpuSet) set = NULL, back = NULL;
        g_autofree char *text = NULL, *again = NULL;

        if (vr_cpuset_parse(s, &set) < 0)
                return;
        if (vr_cpuset_count(set) == 0)
                VR_FUZZ_FAIL("'%s' read as an empty set", s);
        text = vr_cpuset_format(set);
        if (vr_cpuset_parse(text, &back) < 0 || !vr_cpuset_equal(set, back))
                VR_FUZZ_FAIL("'%s' printed as '%s' does not read back as the same set", s, text);
        again = vr_cpuset_format(back);
        if (!g_str_equal(text, again))
                VR_FUZZ_FAIL("'%s' prints as '%s' and then as '%s'", s, text, again);
        if (vr_cpuset_nth(set, vr_cpuset_count(set) - 1) != vr_cpuset_last(set))
                VR_FUZZ_FAIL("'%s': the last CPU is not the last of the count", s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        g_autofree char *s = NULL;
        bool b;

        if (size < 1)
                return 0;
        s = vr_fuzz_cstr(data + 1, size - 1);
        switch (data[0] % 8) {
        case 0:
                check_unit(s, vr_parse_duration, vr_format_duration, durations);
                break;
        case 1:
                check_unit(s, vr_parse_pkt_rate, vr_format_pkt_rate, pkt_rates);
                break;
        case 2:
                check_unit(s, parse_rate_cli, vr_format_pkt_rate, pkt_rates);
                break;
        case 3:
                check_unit(s, vr_parse_bit_rate, vr_format_bit_rate, bit_rates);
                break;
        case 4:
                check_unit(s, parse_fraction, NULL, fractions);
                break;
        case 5:
                check_int(s, data[0] / 8);
                break;
        case 6:
                if (vr_parse_bool(s, &b) == 0 && !g_strv_contains(b ? bool_yes : bool_no, s))
                        VR_FUZZ_FAIL("'%s' read as %s", s, b ? "yes" : "no");
                break;
        default:
                check_cpuset(s);
                break;
        }
        return 0;
}
