/*
 * fake-qemu: a stand-in for QEMU in the tuner's integration test and benchmark.
 *
 * It names its threads the way QEMU and the kernel do ("CPU 0/KVM", "CPU 0/TCG",
 * "IO iothread1", and "vhost-<pid>" for vhost workers in the vhost_task form of
 * kernels >= 6.4, where they are threads of the QEMU process). Each name is set from
 * inside the new thread after it starts, as QEMU does, so a watcher sees the thread
 * appear first with the parent's name and then a comm change.
 *
 * Normal mode:
 *   fake-qemu [--vcpus N] [--tcg] [--vhost M] [--iothreads K] [--busy]
 *             [--pidfile FILE] [--main-name NAME]
 *   Prints "READY <pid>" once every thread is named, then sleeps (or spins with
 *   --busy) until SIGTERM or SIGINT, and exits 0. SIGUSR1 starts one more
 *   "vhost-<pid>" thread and prints "VHOST <tid>" once it is named.
 *
 * Bench mode:
 *   fake-qemu --bench COUNT --expect-policy POLICY [--expect-cpus LIST]
 *             [--expect-cgroup PATH] [--arrivals back-to-back|lone]
 *             [--pause-ms MIN-MAX] [--seed N] [--timeout-ms T] [--csv FILE]
 *             [normal-mode options]
 *   After READY, reads one line from stdin ("go"), then creates COUNT "vhost-<pid>"
 *   threads, one at a time: back to back (the next as soon as the last is done), or
 *   with --arrivals lone each after a pause drawn uniformly from MIN-MAX ms (default
 *   20-220) counted from the moment the last one was done, so that each thread
 *   arrives alone. The pauses come from a generator seeded with N (default 1): two
 *   fake-qemus with the same seed see the same pauses. Each thread polls its own
 *   policy and affinity, and with --expect-cgroup the cpu cgroup it is in (from
 *   /proc/thread-self/cgroup), every ~20 us for the first millisecond and less often
 *   later (at most 1% of the time waited), until all match or T ms have passed. It
 *   records the time from just before pthread_create to the policy and affinity
 *   matching, and to the cgroup matching (-1 on a timeout). Prints
 *   "BENCH count=N ok=K timeouts=T median_us=X p99_us=Y max_us=Z" and, with
 *   --expect-cgroup, " cgroup_ok=K cgroup_timeouts=T cgroup_median_us=X
 *   cgroup_p99_us=Y cgroup_max_us=Z"; exits 0 if there was no timeout, 1 otherwise.
 *   The CSV has one line per thread: index,tid,pause_us,started_us,latency_us,
 *   cgroup_us; started_us is the time until the new thread first ran: it then names
 *   itself, as QEMU's threads do, and no watcher can know it for what it is before.
 *
 * Exit status 2 on a usage error, 1 on any other error.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#ifndef SCHED_DEADLINE
#define SCHED_DEADLINE 6
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif

static const char *prog = "fake-qemu";

static void __attribute__((format(printf, 1, 2))) err(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s: ", prog);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* ---------------------------------------------------------------- worker threads */

struct worker {
        pthread_t thread;
        char name[32];          /* at most 15 chars are used (TASK_COMM_LEN) */
        pid_t tid;              /* set by the thread once named, under lock */
        int started;            /* pthread_create succeeded: must be joined */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t named_cond = PTHREAD_COND_INITIALIZER;   /* a worker got named */
static pthread_cond_t stop_cond = PTHREAD_COND_INITIALIZER;    /* stop was set */
static atomic_int stop;         /* read lock-free by busy workers */
static int busy;

static struct worker **workers; /* grows on SIGUSR1 */
static size_t n_workers, cap_workers;

static void *worker_main(void *arg)
{
        struct worker *w = arg;
        int rc = pthread_setname_np(pthread_self(), w->name);

        if (rc != 0)
                err("pthread_setname_np(\"%s\"): %s", w->name, strerror(rc));
        pthread_mutex_lock(&lock);
        w->tid = gettid();
        pthread_cond_broadcast(&named_cond);
        pthread_mutex_unlock(&lock);

        if (busy) {
                volatile unsigned long sink = 0;

                while (!atomic_load_explicit(&stop, memory_order_relaxed))
                        for (unsigned i = 0; i < 10000; i++)
                                sink += i;
                (void)sink;
        } else {
                pthread_mutex_lock(&lock);
                while (!atomic_load(&stop))
                        pthread_cond_wait(&stop_cond, &lock);
                pthread_mutex_unlock(&lock);
        }
        return NULL;
}

/* Starts a worker named NAME; returns it, or NULL after printing why. Does not wait. */
static struct worker *start_worker(const char *name)
{
        struct worker *w;
        int rc;

        if (n_workers == cap_workers) {
                size_t cap = cap_workers ? 2 * cap_workers : 16;
                struct worker **nw = realloc(workers, cap * sizeof(*nw));

                if (!nw) {
                        err("out of memory");
                        return NULL;
                }
                workers = nw;
                cap_workers = cap;
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
                err("out of memory");
                return NULL;
        }
        snprintf(w->name, sizeof(w->name), "%s", name);
        rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
                err("pthread_create for \"%s\": %s", name, strerror(rc));
                free(w);
                return NULL;
        }
        w->started = 1;
        workers[n_workers++] = w;
        return w;
}

/* Waits until every started worker has named itself. */
static void wait_named(void)
{
        pthread_mutex_lock(&lock);
        for (size_t i = 0; i < n_workers; i++)
                while (workers[i]->tid == 0)
                        pthread_cond_wait(&named_cond, &lock);
        pthread_mutex_unlock(&lock);
}

static void stop_workers(void)
{
        pthread_mutex_lock(&lock);
        atomic_store(&stop, 1);
        pthread_cond_broadcast(&stop_cond);
        pthread_mutex_unlock(&lock);
        for (size_t i = 0; i < n_workers; i++) {
                if (workers[i]->started)
                        pthread_join(workers[i]->thread, NULL);
                free(workers[i]);
        }
        free(workers);
        workers = NULL;
        n_workers = cap_workers = 0;
}

/* ---------------------------------------------------------------- bench threads */

struct probe {
        struct timespec t0;     /* CLOCK_MONOTONIC just before pthread_create */
        int policy;
        const cpu_set_t *cpus;  /* NULL: affinity not checked */
        const char *cgroup;     /* cpu cgroup expected, NULL: not checked */
        long timeout_us;
        char name[32];
        pid_t tid;              /* out */
        long long pause_us;     /* the pause before this thread (lone arrivals) */
        long long started_us;   /* out: to the thread's first instruction (before it names itself) */
        long long latency_us;   /* out: to policy and affinity, -1 on timeout */
        long long cgroup_us;    /* out: to the cgroup, -1 on timeout or not checked */
};

static long long us_since(const struct timespec *t0)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (long long)(now.tv_sec - t0->tv_sec) * 1000000LL +
               (now.tv_nsec - t0->tv_nsec) / 1000;
}

static int probe_matches(const struct probe *p)
{
        int pol = sched_getscheduler(0);
        cpu_set_t cur;

        if (pol < 0 || (pol & ~SCHED_RESET_ON_FORK) != p->policy)
                return 0;
        if (!p->cpus)
                return 1;
        CPU_ZERO(&cur);
        if (sched_getaffinity(0, sizeof(cur), &cur) != 0)
                return 0;
        return CPU_EQUAL(&cur, p->cpus);
}

/* The calling thread's cgroup of the cpu controller (v1: the line whose controller
 * list holds "cpu"; v2: the "0::" line) equals WANT. */
static int in_cgroup(const char *want)
{
        char line[512];
        int found = 0;
        FILE *f = fopen("/proc/thread-self/cgroup", "re");

        if (!f)
                return 0;
        while (!found && fgets(line, sizeof(line), f)) {
                char *ctl = strchr(line, ':'), *path, *tok, *save = NULL;
                int cpu = 0;

                if (!ctl || !(path = strchr(ctl + 1, ':')))
                        continue;
                *path++ = '\0';
                path[strcspn(path, "\n")] = '\0';
                ctl++;
                if (!*ctl)
                        cpu = 1;        /* v2 */
                for (tok = strtok_r(ctl, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
                        cpu |= strcmp(tok, "cpu") == 0;
                if (cpu && strcmp(path, want) == 0)
                        found = 1;
        }
        fclose(f);
        return found;
}

static void *probe_main(void *arg)
{
        struct probe *p = arg;
        int rc;

        p->started_us = us_since(&p->t0);
        p->tid = gettid();
        p->latency_us = p->cgroup_us = -1;
        /* 20 us sleeps must not become 70 us (default timer slack is 50 us) */
        prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
        rc = pthread_setname_np(pthread_self(), p->name);
        if (rc != 0)
                err("pthread_setname_np(\"%s\"): %s", p->name, strerror(rc));
        for (;;) {
                long long t = us_since(&p->t0);
                /* every 20 us at first; later every 1% of the time waited, so that a
                 * slow tuner's thread does not take a CPU from it while it waits */
                struct timespec pause = { 0, 1000L * (t < 2000 ? 20 : t / 100) };

                if (p->latency_us < 0 && probe_matches(p))
                        p->latency_us = us_since(&p->t0);
                if (p->cgroup && p->cgroup_us < 0 && in_cgroup(p->cgroup))
                        p->cgroup_us = us_since(&p->t0);
                if (p->latency_us >= 0 && (!p->cgroup || p->cgroup_us >= 0))
                        return NULL;
                if (t >= p->timeout_us)
                        return NULL;
                nanosleep(&pause, NULL);
        }
}

static int cmp_ll(const void *a, const void *b)
{
        long long x = *(const long long *)a, y = *(const long long *)b;

        return (x > y) - (x < y);
}

/* splitmix64: the same pauses for the same seed, whatever the libc */
static uint64_t next_random(uint64_t *state)
{
        uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
}

/* Median, p99 (nearest rank) and max of the N values >= 0 of V (sorted in place
 * after they are gathered at its front); -1 for each when there is none. */
static long summarize(long long *v, long n, long long *med, long long *p99, long long *max)
{
        long k = 0;

        for (long i = 0; i < n; i++)
                if (v[i] >= 0)
                        v[k++] = v[i];
        *med = *p99 = *max = -1;
        if (k == 0)
                return 0;
        if (k > 1) /* never qsort(NULL, 0): undefined, and UBSan stops there */
                qsort(v, (size_t)k, sizeof(*v), cmp_ll);
        *med = v[(k - 1) / 2];
        *p99 = v[(99 * k + 99) / 100 - 1];      /* nearest rank, ceil */
        *max = v[k - 1];
        return k;
}

struct bench_opts {
        long count;
        int policy;
        const cpu_set_t *cpus;  /* NULL: affinity not checked */
        const char *cgroup;     /* NULL: cgroup not checked */
        int lone;               /* pauses between arrivals */
        long pause_min_ms, pause_max_ms;
        uint64_t seed;
        long timeout_ms;
        const char *csv;
};

static int run_bench(const struct bench_opts *o)
{
        struct probe *res = calloc((size_t)o->count, sizeof(*res));
        long long *lat = calloc((size_t)o->count, sizeof(*lat));
        long long *cg = calloc((size_t)o->count, sizeof(*cg));
        uint64_t rng = o->seed;
        char line[256];
        long n_ok = 0, cg_ok = 0, timeouts = 0, cg_timeouts = 0, done = 0;
        int ret = 1;
        FILE *f = NULL;

        if (!res || !lat || !cg) {
                err("out of memory");
                goto out;
        }
        if (o->csv) {   /* open it now: a bad path fails before the run, not after */
                f = fopen(o->csv, "w");
                if (!f) {
                        err("%s: %s", o->csv, strerror(errno));
                        goto out;
                }
        }
        if (!fgets(line, sizeof(line), stdin)) {
                err("expected a line (\"go\") on stdin, got end of file");
                goto out;
        }
        for (long i = 0; i < o->count; i++) {
                struct probe *p = &res[i];
                pthread_t t;
                int rc;

                if (o->lone) {
                        uint64_t span = (uint64_t)(o->pause_max_ms - o->pause_min_ms) * 1000 + 1;
                        long long us = o->pause_min_ms * 1000LL + (long long)(next_random(&rng) % span);
                        struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

                        p->pause_us = us;
                        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
                                ;
                }
                p->policy = o->policy;
                p->cpus = o->cpus;
                p->cgroup = o->cgroup;
                p->timeout_us = o->timeout_ms * 1000L;
                snprintf(p->name, sizeof(p->name), "vhost-%ld", (long)getpid());
                clock_gettime(CLOCK_MONOTONIC, &p->t0);
                rc = pthread_create(&t, NULL, probe_main, p);
                if (rc != 0) {
                        err("pthread_create: %s%s", strerror(rc),
                            rc == EAGAIN && (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_DEADLINE
                            ? " (a SCHED_DEADLINE task cannot create threads; set deadline on the new thread instead)"
                            : "");
                        goto out;
                }
                pthread_join(t, NULL);
                done++;
                lat[i] = p->latency_us;
                cg[i] = p->cgroup_us;
                timeouts += p->latency_us < 0;
                cg_timeouts += o->cgroup && p->cgroup_us < 0;
        }
        if (f) {
                fprintf(f, "index,tid,pause_us,started_us,latency_us,cgroup_us\n");
                for (long i = 0; i < done; i++)
                        fprintf(f, "%ld,%ld,%lld,%lld,%lld,%lld\n", i, (long)res[i].tid, res[i].pause_us,
                                res[i].started_us, res[i].latency_us, res[i].cgroup_us);
                if (fclose(f) != 0) {
                        f = NULL;
                        err("%s: %s", o->csv, strerror(errno));
                        goto out;
                }
                f = NULL;
        }
        {
                long long med, p99, max;

                n_ok = summarize(lat, done, &med, &p99, &max);
                printf("BENCH count=%ld ok=%ld timeouts=%ld median_us=%lld p99_us=%lld max_us=%lld",
                       done, n_ok, timeouts, med, p99, max);
                if (o->cgroup) {
                        cg_ok = summarize(cg, done, &med, &p99, &max);
                        printf(" cgroup_ok=%ld cgroup_timeouts=%ld cgroup_median_us=%lld cgroup_p99_us=%lld cgroup_max_us=%lld",
                               cg_ok, cg_timeouts, med, p99, max);
                }
                printf("\n");
                fflush(stdout);
        }
        ret = timeouts || cg_timeouts ? 1 : 0;
out:
        if (f)
                fclose(f);
        free(res);
        free(lat);
        free(cg);
        return ret;
}

/* ---------------------------------------------------------------- options */

static int parse_long(const char *s, long min, long max, long *out)
{
        char *end;
        long v;

        errno = 0;
        v = strtol(s, &end, 10);
        if (errno || end == s || *end || v < min || v > max)
                return -1;
        *out = v;
        return 0;
}

/* "MIN-MAX" (ms) -> both; -1 unless 0 <= MIN <= MAX <= 3600000 */
static int parse_range(const char *s, long *min, long *max)
{
        char *end;

        errno = 0;
        *min = strtol(s, &end, 10);
        if (errno || end == s || *end != '-' || *min < 0)
                return -1;
        s = end + 1;
        *max = strtol(s, &end, 10);
        if (errno || end == s || *end || *max < *min || *max > 3600000)
                return -1;
        return 0;
}

static int parse_policy(const char *s)
{
        static const struct { const char *name; int policy; } tab[] = {
                { "other", SCHED_OTHER }, { "fifo", SCHED_FIFO }, { "rr", SCHED_RR },
                { "batch", SCHED_BATCH }, { "idle", SCHED_IDLE },
                { "deadline", SCHED_DEADLINE },
        };

        for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
                if (strcmp(s, tab[i].name) == 0)
                        return tab[i].policy;
        return -1;
}

/* "0-2,5" -> set; -1 on a syntax error or an empty list */
static int parse_cpus(const char *s, cpu_set_t *set)
{
        const char *p = s;

        CPU_ZERO(set);
        while (*p) {
                char *end;
                long a, b;

                if (*p < '0' || *p > '9')
                        return -1;
                a = strtol(p, &end, 10);
                b = a;
                if (*end == '-') {
                        p = end + 1;
                        if (*p < '0' || *p > '9')
                                return -1;
                        b = strtol(p, &end, 10);
                }
                if (a > b || b >= CPU_SETSIZE)
                        return -1;
                for (long c = a; c <= b; c++)
                        CPU_SET((int)c, set);
                p = end;
                if (*p == ',')
                        p++;
                else if (*p)
                        return -1;
        }
        return CPU_COUNT(set) ? 0 : -1;
}

static int write_pidfile(const char *path)
{
        char tmp[PATH_MAX];
        FILE *f;

        if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
                err("%s: path too long", path);
                return -1;
        }
        f = fopen(tmp, "w");
        if (!f) {
                err("%s: %s", tmp, strerror(errno));
                return -1;
        }
        fprintf(f, "%ld\n", (long)getpid());
        if (fclose(f) != 0 || rename(tmp, path) != 0) {
                err("%s: %s", path, strerror(errno));
                unlink(tmp);
                return -1;
        }
        return 0;
}

static void usage(FILE *out)
{
        fprintf(out,
                "Usage: %s [--vcpus N] [--tcg] [--vhost M] [--iothreads K] [--busy]\n"
                "                 [--pidfile FILE] [--main-name NAME]\n"
                "       %s --bench COUNT --expect-policy POLICY [--expect-cpus LIST]\n"
                "                 [--expect-cgroup PATH] [--arrivals back-to-back|lone]\n"
                "                 [--pause-ms MIN-MAX] [--seed N] [--timeout-ms T]\n"
                "                 [--csv FILE] [options above]\n"
                "Names its threads like QEMU: \"CPU i/KVM\" (\"CPU i/TCG\" with --tcg),\n"
                "\"vhost-<pid>\", \"IO iothreadK\". Defaults: 1 vCPU, 1 vhost, 0 iothreads\n"
                "(0, 0, 0 with --bench). SIGUSR1 adds a vhost thread, SIGTERM exits 0.\n"
                "POLICY: other, fifo, rr, batch, idle or deadline.\n",
                prog, prog);
}

int main(int argc, char **argv)
{
        enum { O_VCPUS = 256, O_TCG, O_VHOST, O_IOTHREADS, O_BUSY, O_PIDFILE, O_BENCH,
               O_POLICY, O_CPUS, O_TIMEOUT, O_CSV, O_MAINNAME, O_CGROUP, O_ARRIVALS, O_PAUSE,
               O_SEED, O_HELP };
        static const struct option opts[] = {
                { "vcpus", required_argument, NULL, O_VCPUS },
                { "tcg", no_argument, NULL, O_TCG },
                { "vhost", required_argument, NULL, O_VHOST },
                { "iothreads", required_argument, NULL, O_IOTHREADS },
                { "busy", no_argument, NULL, O_BUSY },
                { "pidfile", required_argument, NULL, O_PIDFILE },
                { "main-name", required_argument, NULL, O_MAINNAME },
                { "bench", required_argument, NULL, O_BENCH },
                { "expect-policy", required_argument, NULL, O_POLICY },
                { "expect-cpus", required_argument, NULL, O_CPUS },
                { "timeout-ms", required_argument, NULL, O_TIMEOUT },
                { "csv", required_argument, NULL, O_CSV },
                { "expect-cgroup", required_argument, NULL, O_CGROUP },
                { "arrivals", required_argument, NULL, O_ARRIVALS },
                { "pause-ms", required_argument, NULL, O_PAUSE },
                { "seed", required_argument, NULL, O_SEED },
                { "help", no_argument, NULL, O_HELP },
                { NULL, 0, NULL, 0 },
        };
        long vcpus = -1, vhost = -1, iothreads = -1, bench = -1, timeout_ms = 1000;
        int tcg = 0, policy = -1, have_cpus = 0, c, ret = 0;
        const char *pidfile = NULL, *csv = NULL, *main_name = NULL, *cgroup = NULL;
        long pause_min = 20, pause_max = 220, seed = 1;
        int lone = 0, have_arrivals = 0;
        static cpu_set_t cpus;
        sigset_t sigs;
        char name[32];

        if (argv[0] && argv[0][0]) {
                const char *slash = strrchr(argv[0], '/');

                prog = slash ? slash + 1 : argv[0];
        }
        while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
                switch (c) {
                case O_VCPUS:
                        if (parse_long(optarg, 0, 4096, &vcpus) < 0)
                                goto bad_num;
                        break;
                case O_TCG:
                        tcg = 1;
                        break;
                case O_VHOST:
                        if (parse_long(optarg, 0, 4096, &vhost) < 0)
                                goto bad_num;
                        break;
                case O_IOTHREADS:
                        if (parse_long(optarg, 0, 9999, &iothreads) < 0)
                                goto bad_num;
                        break;
                case O_BUSY:
                        busy = 1;
                        break;
                case O_PIDFILE:
                        pidfile = optarg;
                        break;
                case O_MAINNAME:
                        main_name = optarg;
                        break;
                case O_BENCH:
                        if (parse_long(optarg, 1, 10000000, &bench) < 0)
                                goto bad_num;
                        break;
                case O_POLICY:
                        policy = parse_policy(optarg);
                        if (policy < 0) {
                                err("unknown policy '%s' (other, fifo, rr, batch, idle, deadline)", optarg);
                                goto bad;
                        }
                        break;
                case O_CPUS:
                        if (parse_cpus(optarg, &cpus) < 0) {
                                err("bad CPU list '%s' (e.g. 0-2,5)", optarg);
                                goto bad;
                        }
                        have_cpus = 1;
                        break;
                case O_TIMEOUT:
                        if (parse_long(optarg, 1, 3600000, &timeout_ms) < 0)
                                goto bad_num;
                        break;
                case O_CSV:
                        csv = optarg;
                        break;
                case O_CGROUP:
                        if (optarg[0] != '/') {
                                err("bad cgroup '%s': expected a path from the hierarchy's root, e.g. /virt-router-rt", optarg);
                                goto bad;
                        }
                        cgroup = optarg;
                        break;
                case O_ARRIVALS:
                        if (strcmp(optarg, "lone") != 0 && strcmp(optarg, "back-to-back") != 0) {
                                err("unknown arrivals '%s' (back-to-back, lone)", optarg);
                                goto bad;
                        }
                        lone = strcmp(optarg, "lone") == 0;
                        have_arrivals = 1;
                        break;
                case O_PAUSE:
                        if (parse_range(optarg, &pause_min, &pause_max) < 0) {
                                err("bad pause range '%s' (MIN-MAX in ms, e.g. 20-220)", optarg);
                                goto bad;
                        }
                        have_arrivals = 1;
                        break;
                case O_SEED:
                        if (parse_long(optarg, 0, LONG_MAX, &seed) < 0)
                                goto bad_num;
                        break;
                case O_HELP:
                        usage(stdout);
                        return 0;
                default:
                        goto bad;
                }
        }
        if (optind < argc) {
                err("unexpected argument '%s'", argv[optind]);
                goto bad;
        }
        if (bench < 0 && (policy >= 0 || have_cpus || csv || cgroup || have_arrivals)) {
                err("--expect-policy, --expect-cpus, --expect-cgroup, --arrivals, --pause-ms and --csv need --bench");
                goto bad;
        }
        if (bench >= 0 && policy < 0) {
                err("--bench needs --expect-policy");
                goto bad;
        }
        if (vcpus < 0)
                vcpus = bench < 0 ? 1 : 0;
        if (vhost < 0)
                vhost = bench < 0 ? 1 : 0;
        if (iothreads < 0)
                iothreads = 0;

        if (main_name && prctl(PR_SET_NAME, main_name, 0, 0, 0) != 0) {
                err("PR_SET_NAME: %s", strerror(errno));
                return 1;
        }
        /* Block the signals main waits for before any thread exists: threads inherit
         * the mask, so only main's sigwaitinfo() ever takes them. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGUSR1);
        if (bench < 0)
                pthread_sigmask(SIG_BLOCK, &sigs, NULL);

        for (long i = 0; i < vcpus; i++) {
                snprintf(name, sizeof(name), "CPU %ld/%s", i, tcg ? "TCG" : "KVM");
                if (!start_worker(name))
                        goto fail;
        }
        for (long i = 0; i < vhost; i++) {
                snprintf(name, sizeof(name), "vhost-%ld", (long)getpid());
                if (!start_worker(name))
                        goto fail;
        }
        for (long i = 1; i <= iothreads; i++) {
                snprintf(name, sizeof(name), "IO iothread%ld", i);
                if (!start_worker(name))
                        goto fail;
        }
        wait_named();
        if (pidfile && write_pidfile(pidfile) < 0)
                goto fail;
        printf("READY %ld\n", (long)getpid());
        if (fflush(stdout) != 0) {
                err("stdout: %s", strerror(errno));
                goto fail;
        }

        if (bench >= 0) {
                struct bench_opts bo = {
                        .count = bench, .policy = policy, .cpus = have_cpus ? &cpus : NULL,
                        .cgroup = cgroup, .lone = lone, .pause_min_ms = pause_min,
                        .pause_max_ms = pause_max, .seed = (uint64_t)seed,
                        .timeout_ms = timeout_ms, .csv = csv,
                };

                ret = run_bench(&bo);
                stop_workers();
                return ret;
        }

        for (;;) {
                siginfo_t si;
                int sig = sigwaitinfo(&sigs, &si);

                if (sig < 0) {
                        if (errno == EINTR)
                                continue;
                        err("sigwaitinfo: %s", strerror(errno));
                        goto fail;
                }
                if (sig == SIGUSR1) {
                        struct worker *w;

                        snprintf(name, sizeof(name), "vhost-%ld", (long)getpid());
                        w = start_worker(name);
                        if (!w)
                                continue;       /* keep running; the error is on stderr */
                        wait_named();
                        printf("VHOST %ld\n", (long)w->tid);
                        fflush(stdout);
                        continue;
                }
                break;  /* SIGTERM, SIGINT */
        }
        stop_workers();
        return 0;

bad_num:
        for (size_t i = 0; opts[i].name; i++)
                if (opts[i].val == c)
                        err("bad number '%s' for --%s", optarg, opts[i].name);
bad:
        fprintf(stderr, "Try '%s --help'.\n", prog);
        return 2;
fail:
        stop_workers();
        return 1;
}
