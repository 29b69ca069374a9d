#include "config.h"

#include <errno.h>
#include <string.h>

#include "vr-cpuset.h"
#include "vr-units.h"

struct VrCpuSet {
        guint64 bits[VR_CPUSET_MAX / 64];
};

VrCpuSet *vr_cpuset_new(void) {
        return g_new0(VrCpuSet, 1);
}

void vr_cpuset_free(VrCpuSet *s) {
        g_free(s);
}

VrCpuSet *vr_cpuset_copy(const VrCpuSet *s) {
        return s ? g_memdup2(s, sizeof(*s)) : NULL;
}

void vr_cpuset_set(VrCpuSet *s, unsigned cpu) {
        g_return_if_fail(cpu < VR_CPUSET_MAX);
        s->bits[cpu / 64] |= G_GUINT64_CONSTANT(1) << (cpu % 64);
}

bool vr_cpuset_test(const VrCpuSet *s, unsigned cpu) {
        if (!s || cpu >= VR_CPUSET_MAX)
                return false;
        return (s->bits[cpu / 64] >> (cpu % 64)) & 1;
}

int vr_cpuset_parse(const char *s, VrCpuSet **ret) {
        g_autoptr(VrCpuSet) set = vr_cpuset_new();
        g_auto(GStrv) parts = NULL;

        if (!s || !*s)
                return -EINVAL;
        parts = g_strsplit(s, ",", -1);
        for (char **p = parts; *p; p++) {
                g_auto(GStrv) range = NULL;
                int64_t lo, hi;
                int r;

                g_strstrip(*p);
                if (!**p || strspn(*p, "0123456789-") != strlen(*p))
                        return -EINVAL;
                range = g_strsplit(*p, "-", 3);

                if (!range[0] || (range[1] && range[2]))
                        return -EINVAL;
                r = vr_parse_int(range[0], 0, VR_CPUSET_MAX - 1, &lo);
                if (r < 0)
                        return r;
                hi = lo;
                if (range[1]) {
                        r = vr_parse_int(range[1], 0, VR_CPUSET_MAX - 1, &hi);
                        if (r < 0)
                                return r;
                        if (hi < lo)
                                return -ERANGE;
                }
                for (int64_t c = lo; c <= hi; c++)
                        vr_cpuset_set(set, (unsigned) c);
        }
        *ret = g_steal_pointer(&set);
        return 0;
}

unsigned vr_cpuset_count(const VrCpuSet *s) {
        unsigned n = 0;
        for (size_t i = 0; s && i < G_N_ELEMENTS(s->bits); i++)
                n += (unsigned) __builtin_popcountll(s->bits[i]);
        return n;
}

/* The first set CPU at or after FROM, or VR_CPUSET_MAX: whole empty words at a time,
 * since the tuner formats and searches sets of a few CPUs out of 8192 on every event. */
static unsigned next_set(const VrCpuSet *s, unsigned from) {
        while (from < VR_CPUSET_MAX) {
                guint64 w = s->bits[from / 64] >> (from % 64);
                if (w)
                        return from + (unsigned) __builtin_ctzll(w);
                from = (from / 64 + 1) * 64;
        }
        return VR_CPUSET_MAX;
}

int vr_cpuset_nth(const VrCpuSet *s, unsigned n) {
        for (unsigned c = s ? next_set(s, 0) : VR_CPUSET_MAX; c < VR_CPUSET_MAX; c = next_set(s, c + 1))
                if (n-- == 0)
                        return (int) c;
        return -1;
}

int vr_cpuset_last(const VrCpuSet *s) {
        for (size_t i = VR_CPUSET_MAX / 64; s && i-- > 0;)
                if (s->bits[i])
                        return (int) (i * 64 + 63 - (unsigned) __builtin_clzll(s->bits[i]));
        return -1;
}

bool vr_cpuset_is_subset(const VrCpuSet *a, const VrCpuSet *b) {
        for (size_t i = 0; i < G_N_ELEMENTS(a->bits); i++)
                if (a->bits[i] & ~b->bits[i])
                        return false;
        return true;
}

bool vr_cpuset_intersects(const VrCpuSet *a, const VrCpuSet *b) {
        for (size_t i = 0; i < G_N_ELEMENTS(a->bits); i++)
                if (a->bits[i] & b->bits[i])
                        return true;
        return false;
}

bool vr_cpuset_equal(const VrCpuSet *a, const VrCpuSet *b) {
        return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}

char *vr_cpuset_format(const VrCpuSet *s) {
        GString *out = g_string_new(NULL);

        for (unsigned c = s ? next_set(s, 0) : VR_CPUSET_MAX; c < VR_CPUSET_MAX; c = next_set(s, c + 1)) {
                unsigned end = c;
                while (end + 1 < VR_CPUSET_MAX && vr_cpuset_test(s, end + 1))
                        end++;
                if (out->len)
                        g_string_append_c(out, ',');
                if (end == c)
                        g_string_append_printf(out, "%u", c);
                else
                        g_string_append_printf(out, "%u-%u", c, end);
                c = end;
        }
        return g_string_free(out, FALSE);
}
