/*
 * bench_disk: how long the disk under the store takes to make one group
 * commit durable, measured without the store. Each round writes P pages
 * at the next offset of a file that is reused from its start, as SQLite
 * reuses its WAL, and then calls fdatasync; every fdatasync is timed.
 *
 * Two series: the file alone, then with a second thread doing what the
 * store's checkpointer does meanwhile (B pages copied to scattered
 * offsets of a second file, that file fdatasynced, a pause of M ms,
 * again). A durable answer waits for at least one flush of the first
 * kind, so the p99 printed here is a floor under the daemon's p99 at any
 * rate on this disk (bench/README.md, "The disk's own flush").
 *
 * --busy K adds a third series, the second's with K more threads using
 * the CPU, each busy PCT % of every 2 ms (--busy-pct, 100 by default): a
 * flush that has completed still needs a core to return on, and the
 * daemon's threads and its load generator share the machine's.
 *
 *   bench_disk [--dir DIR] [--count N] [--pages P] [--beside-pages B]
 *              [--beside-pause-ms M] [--busy K [--busy-pct PCT]]
 *
 * Both files are unlinked as soon as they are open: nothing is left
 * behind, whatever stops the run.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "util.h"

#define PAGE           4096u
#define WAL_BYTES      (16u * 1024u * 1024u) /* the first file: a WAL of 4,096 pages */
#define DB_BYTES       (64u * 1024u * 1024u) /* the second: the database */
#define BUSY_MAX       64u                   /* --busy */
#define BUSY_PERIOD_NS 2000000u              /* a busy thread's cycle */

typedef struct series {
    double *ms;   /* each fdatasync, milliseconds */
    size_t count; /* entries of ms */
} series_t;

typedef struct beside {
    int fd;             /* the second file */
    unsigned pages;     /* pages written before each fdatasync */
    unsigned pause_ms;  /* between rounds */
    atomic_int stop;    /* set by the main thread */
    series_t syncs;     /* its fdatasyncs, up to cap */
    size_t cap;         /* room in syncs.ms */
    int failed;         /* errno of a failed write or sync; 0: none */
    unsigned char *buf; /* one page */
} beside_t;

/* The threads that use the CPU (--busy). */
typedef struct busy {
    atomic_int stop;    /* set by the main thread */
    unsigned pct;       /* busy this share of each period */
    atomic_ulong spins; /* work done, so that the loop is not optimised away */
} busy_t;

static void die(const char *what, int e)
{
    fprintf(stderr, "bench_disk: %s: %s\n", what, strerror(e));
    exit(1);
}

/* A file of size bytes in dir, written through and synced once so that
 * the rounds overwrite blocks the file system has already allocated;
 * unlinked at once. */
static int file_make(const char *dir, size_t size, unsigned char *page)
{
    char path[4096];
    size_t off;
    int fd;

    if (snprintf(path, sizeof(path), "%s/bench_disk.XXXXXX", dir) >= (int)sizeof(path)) {
        die("--dir", ENAMETOOLONG);
    }
    fd = mkstemp(path);
    if (fd < 0) {
        die(path, errno);
    }
    (void)unlink(path);
    memset(page, 0, PAGE);
    for (off = 0; off < size; off += PAGE) {
        if (pwrite(fd, page, PAGE, (off_t)off) != (ssize_t)PAGE) {
            die("writing the file", errno != 0 ? errno : EIO);
        }
    }
    if (fdatasync(fd) != 0) {
        die("fdatasync", errno);
    }
    return fd;
}

/* xorshift64: scattered offsets and page contents that change. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void beside_run(void *arg)
{
    beside_t *b = arg;
    uint64_t seed = 0x9e3779b97f4a7c15u;
    unsigned i;

    while (!atomic_load(&b->stop)) {
        uint64_t t0;

        for (i = 0; i < b->pages; i++) {
            off_t off = (off_t)(next_rand(&seed) % (DB_BYTES / PAGE)) * PAGE;

            memcpy(b->buf, &seed, sizeof(seed));
            if (pwrite(b->fd, b->buf, PAGE, off) != (ssize_t)PAGE) {
                b->failed = errno != 0 ? errno : EIO;
                return;
            }
        }
        t0 = cw_time_mono_ns();
        if (fdatasync(b->fd) != 0) {
            b->failed = errno;
            return;
        }
        if (b->syncs.count < b->cap) {
            b->syncs.ms[b->syncs.count++] = (double)(cw_time_mono_ns() - t0) / 1e6;
        }
        uv_sleep(b->pause_ms);
    }
}

static void busy_run(void *arg)
{
    busy_t *b = arg;
    uint64_t on = (uint64_t)BUSY_PERIOD_NS * b->pct / 100u;
    struct timespec off = { 0, (long)(BUSY_PERIOD_NS - on) };

    while (!atomic_load(&b->stop)) {
        uint64_t until = cw_time_mono_ns() + on;
        unsigned long n = 0;

        while (cw_time_mono_ns() < until) {
            n++;
        }
        atomic_fetch_add(&b->spins, n);
        if (off.tv_nsec > 0) {
            (void)nanosleep(&off, NULL);
        }
    }
}

/* count rounds of pages written at the next offset, then fdatasync. */
static void rounds(series_t *out, int fd, unsigned pages, unsigned char *buf, uint64_t *seed)
{
    size_t len = (size_t)pages * PAGE;
    size_t off = 0;
    size_t i;

    for (i = 0; i < out->count; i++) {
        uint64_t t0;

        if (off + len > WAL_BYTES) {
            off = 0;
        }
        memcpy(buf, seed, sizeof(*seed));
        (void)next_rand(seed);
        if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len) {
            die("pwrite", errno != 0 ? errno : EIO);
        }
        off += len;
        t0 = cw_time_mono_ns();
        if (fdatasync(fd) != 0) {
            die("fdatasync", errno);
        }
        out->ms[i] = (double)(cw_time_mono_ns() - t0) / 1e6;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The q-quantile of sorted values, by the nearest rank. */
static double quantile(const double *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);

    if (rank == 0) {
        rank = 1;
    }
    return v[(rank > n ? n : rank) - 1];
}

static void report(const char *label, series_t *s, unsigned pages)
{
    double sum = 0;
    size_t i;

    if (s->count == 0) {
        printf("%s: no fdatasync completed\n", label);
        return;
    }
    qsort(s->ms, s->count, sizeof(s->ms[0]), cmp_double);
    for (i = 0; i < s->count; i++) {
        sum += s->ms[i];
    }
    printf("%s: %zu fdatasync of %u pages (%u KiB) each: p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, "
           "p99.9 %.3f ms, max %.3f ms, mean %.3f ms\n",
           label, s->count, pages, pages * (PAGE / 1024u), quantile(s->ms, s->count, 0.50),
           quantile(s->ms, s->count, 0.90), quantile(s->ms, s->count, 0.99),
           quantile(s->ms, s->count, 0.999), s->ms[s->count - 1], sum / (double)s->count);
}

static unsigned parse_count(const char *opt, const char *s, unsigned lo, unsigned hi)
{
    char *end = NULL;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "bench_disk: %s wants a whole number from %u to %u, not \"%s\"\n", opt, lo,
                hi, s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    const char *dir = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    unsigned count = 1000;
    unsigned pages = 30;
    beside_t b;
    series_t alone;
    series_t with;
    series_t busy_s;
    busy_t busy;
    unsigned busy_n = 0;
    uv_thread_t busy_tid[BUSY_MAX];
    unsigned char *buf;
    uint64_t seed = 0x2545f4914f6cdd1du;
    uv_thread_t tid;
    unsigned k;
    int fd;
    int i;

    memset(&b, 0, sizeof(b));
    memset(&busy, 0, sizeof(busy));
    busy.pct = 100;
    b.pages = 64;
    b.pause_ms = 10;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = parse_count("--count", argv[++i], 1, 1000000);
        } else if (strcmp(argv[i], "--pages") == 0 && i + 1 < argc) {
            pages = parse_count("--pages", argv[++i], 1, WAL_BYTES / PAGE);
        } else if (strcmp(argv[i], "--beside-pages") == 0 && i + 1 < argc) {
            b.pages = parse_count("--beside-pages", argv[++i], 1, 100000);
        } else if (strcmp(argv[i], "--beside-pause-ms") == 0 && i + 1 < argc) {
            b.pause_ms = parse_count("--beside-pause-ms", argv[++i], 0, 10000);
        } else if (strcmp(argv[i], "--busy") == 0 && i + 1 < argc) {
            busy_n = parse_count("--busy", argv[++i], 0, BUSY_MAX);
        } else if (strcmp(argv[i], "--busy-pct") == 0 && i + 1 < argc) {
            busy.pct = parse_count("--busy-pct", argv[++i], 1, 100);
        } else {
            fprintf(stderr,
                    "usage: bench_disk [--dir DIR] [--count N] [--pages P] "
                    "[--beside-pages B] [--beside-pause-ms M] [--busy K [--busy-pct PCT]]\n");
            return 2;
        }
    }
    buf = cw_malloc((size_t)pages * PAGE);
    b.buf = cw_malloc(PAGE);
    alone.ms = cw_malloc(count * sizeof(double));
    with.ms = cw_malloc(count * sizeof(double));
    busy_s.ms = cw_malloc(count * sizeof(double));
    b.cap = count;
    b.syncs.ms = cw_malloc(count * sizeof(double));
    if (buf == NULL || b.buf == NULL || alone.ms == NULL || with.ms == NULL || busy_s.ms == NULL
        || b.syncs.ms == NULL) {
        die("memory", ENOMEM);
    }
    alone.count = count;
    with.count = count;
    busy_s.count = busy_n > 0 ? count : 0;
    fd = file_make(dir, WAL_BYTES, buf);
    b.fd = file_make(dir, DB_BYTES, b.buf);
    printf("disk under %s; a file of %u MiB reused from its start, and with a second thread "
           "writing %u scattered pages to another of %u MiB and syncing it every %u ms\n",
           dir, WAL_BYTES >> 20, b.pages, DB_BYTES >> 20, b.pause_ms);
    fflush(stdout);

    rounds(&alone, fd, pages, buf, &seed);
    atomic_init(&b.stop, 0);
    if (uv_thread_create(&tid, beside_run, &b) != 0) {
        die("thread", EAGAIN);
    }
    rounds(&with, fd, pages, buf, &seed);
    if (busy_n > 0) {
        atomic_init(&busy.stop, 0);
        atomic_init(&busy.spins, 0);
        for (k = 0; k < busy_n; k++) {
            if (uv_thread_create(&busy_tid[k], busy_run, &busy) != 0) {
                die("thread", EAGAIN);
            }
        }
        rounds(&busy_s, fd, pages, buf, &seed);
        atomic_store(&busy.stop, 1);
        for (k = 0; k < busy_n; k++) {
            (void)uv_thread_join(&busy_tid[k]);
        }
    }
    atomic_store(&b.stop, 1);
    (void)uv_thread_join(&tid);
    if (b.failed != 0) {
        die("the second file", b.failed);
    }
    report("flush alone", &alone, pages);
    report("flush beside", &with, pages);
    if (busy_n > 0) {
        char label[64];

        (void)snprintf(label, sizeof(label), "flush beside, %u threads %u %% busy", busy_n,
                       busy.pct);
        report(label, &busy_s, pages);
    }
    report("the second file's", &b.syncs, b.pages);
    (void)close(fd);
    (void)close(b.fd);
    cw_free(b.syncs.ms);
    cw_free(busy_s.ms);
    cw_free(with.ms);
    cw_free(alone.ms);
    cw_free(b.buf);
    cw_free(buf);
    return 0;
}
