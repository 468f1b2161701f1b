/*
 * loadgen: an HTTP(S) load generator on libuv and OpenSSL, for benchmarking
 * clearwayd (issue 9, and the TLS-against-plain ratio of issue 5).
 *
 *   loadgen --url URL [--concurrency N] [--duration S | --requests N] [--rate R]
 *           [--warmup S] [--method GET|POST] [--body FILE | --body-dir DIR]
 *           [--content-type T] [--cacert F --cert F --key F] [--timeout-ms MS]
 *           [--pid PID] [--hold S] [--connect-first] [--realtime] [--json]
 *
 * One connection per slot, kept alive for the whole run (HTTP/1.1, one
 * request at a time, no pipelining), driven by one libuv loop: each request
 * is one write of bytes prepared at start-up (request line, header, body),
 * its response is read into the slot's buffer and framed by Content-Length
 * (or chunked, or the connection's end). A connection the server closes is
 * opened again for the slot's next request, and a request that fails before
 * a byte of its answer on a connection that had served one is sent once
 * more on a new one, as curl does. Until 2026-11-30 this was libcurl's multi
 * interface, which took 90-200 us of CPU a request on the 2 cores it shares
 * with the daemon (bench/README.md, "Load generator").
 *
 * Without --rate the run is a closed loop: a slot starts its next request as soon as the previous
 * one is answered, and latency runs from the start of the request. With --rate the run is an open
 * loop: request i is due at t0 + i/R whether or not the previous ones were answered, and its
 * latency runs from that scheduled time, so a stall of the server shows up in the latencies of
 * every request that should have been sent during it (no coordinated omission). When every slot is
 * busy a due request waits for a slot, and the wait counts.
 *
 * Latencies go into a log-linear histogram (HdrHistogram's layout: 128 linear
 * sub-buckets per power of two, in microseconds), so memory is fixed (34 KiB)
 * whatever the number of requests, and every percentile is within 1/128
 * (0.8 %) of the exact value; the maximum is kept exactly.
 *
 * With --pid the daemon's CPU time (utime + stime from /proc/PID/stat) is
 * sampled at the start and the end of the measured window, and its resident
 * set (VmRSS) and peak (VmHWM, since the process started) from
 * /proc/PID/status at the end. --hold S keeps the connections open and idle
 * for S seconds after the run and samples the daemon's RSS and open file
 * descriptors then (the idle-connections scenario).
 *
 * --realtime asks for SCHED_FIFO (priority 1) for the process, which runs on
 * one thread: a load generator sharing the cores with the daemon would
 * otherwise wait behind the daemon's workers to send on schedule and to
 * read its answers, and in an open loop that wait is counted as the
 * server's latency. Where it is refused (no CAP_SYS_NICE) the run goes on
 * at normal priority; the output says which it was.
 *
 * --connect-first opens every slot's connection (TCP, and the TLS handshake
 * with its session tickets) before the run starts: t0, the warm-up, the
 * measured window and the daemon's CPU sample all begin once they are open
 * (or have failed, or --timeout-ms has passed), so that a closed loop
 * measures the keep-alive steady state and not, besides it, one burst of
 * handshakes, which run-tls-bench measures on its own.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "lg_http.h"
#include "util.h"

/* ==== Limits ==== */

#define LG_CONCURRENCY_MAX  10000u       /* slots (connections) */
#define LG_DURATION_MAX_S   3600u        /* one hour */
#define LG_REQUESTS_MAX     1000000000u  /* measured requests */
#define LG_RATE_MAX         1000000u     /* requests per second */
#define LG_BODY_FILES_MAX   1000000u     /* files read from --body-dir */
#define LG_BODY_FILE_MAX    (64u << 20)  /* bytes per body file */
#define LG_BODY_TOTAL_MAX   (512u << 20) /* bytes of all bodies together */
#define LG_TIMEOUT_MS_MAX   600000u      /* per request */
#define LG_PROC_FILE_MAX    8192u        /* bytes read from /proc/PID/{stat,status} */
#define LG_THREAD_NAMES_MAX 16u          /* the daemon's thread names reported */
#define LG_LATE_NS          1000000u     /* open loop: a start this late is counted late */
#define LG_STATUS_MAX       600          /* HTTP status codes counted one by one */

/* ==== Latency histogram ==== */

#define LG_HIST_SUB_BITS 7
#define LG_HIST_SUB      (1u << LG_HIST_SUB_BITS)
#define LG_HIST_MAX_BITS 40 /* 2^40 us: 12.7 days, far past any timeout */
#define LG_HIST_BUCKETS  ((LG_HIST_MAX_BITS - LG_HIST_SUB_BITS + 1) * LG_HIST_SUB)

typedef struct lg_hist {
    uint64_t counts[LG_HIST_BUCKETS]; /* requests per bucket */
    uint64_t total;                   /* requests recorded */
    uint64_t max_us;                  /* exact maximum */
    double sum_us;                    /* for the mean */
} lg_hist_t;

static unsigned hist_index(uint64_t v_us)
{
    unsigned msb = 0;

    if (v_us >= ((uint64_t)1 << LG_HIST_MAX_BITS)) {
        v_us = ((uint64_t)1 << LG_HIST_MAX_BITS) - 1;
    }
    if (v_us < LG_HIST_SUB) {
        return (unsigned)v_us;
    }
    for (uint64_t x = v_us; x > 1; x >>= 1) {
        msb++;
    }
    /* Group g = msb - SUB_BITS + 1 covers [2^msb, 2^(msb+1)) in SUB steps. */
    return (msb - LG_HIST_SUB_BITS + 1) * LG_HIST_SUB
           + (unsigned)((v_us >> (msb - LG_HIST_SUB_BITS)) & (LG_HIST_SUB - 1));
}

/* The highest value that falls into bucket i (what HdrHistogram reports). */
static uint64_t hist_bucket_high(unsigned i)
{
    unsigned g = i / LG_HIST_SUB;
    uint64_t sub = i % LG_HIST_SUB;

    if (g == 0) {
        return sub;
    }
    return ((LG_HIST_SUB + sub + 1) << (g - 1)) - 1;
}

static void hist_record(lg_hist_t *h, uint64_t v_us)
{
    h->counts[hist_index(v_us)]++;
    h->total++;
    h->sum_us += (double)v_us;
    if (v_us > h->max_us) {
        h->max_us = v_us;
    }
}

/* The value at percentile p (0 < p <= 100), in microseconds. */
static uint64_t hist_percentile(const lg_hist_t *h, double p)
{
    uint64_t want;
    uint64_t seen = 0;

    if (h->total == 0) {
        return 0;
    }
    want = (uint64_t)((p / 100.0) * (double)h->total + 0.999999);
    if (want == 0) {
        want = 1;
    }
    for (unsigned i = 0; i < LG_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= want) {
            uint64_t high = hist_bucket_high(i);

            return high < h->max_us ? high : h->max_us;
        }
    }
    return h->max_us;
}

/* ==== Options ==== */

typedef struct lg_opts {
    const char *url;          /* target */
    const char *method;       /* "GET" or "POST" */
    const char *body_file;    /* one body for every request */
    const char *body_dir;     /* or one file per request, round-robin */
    const char *content_type; /* POST Content-Type */
    const char *cacert;       /* CA bundle for the server certificate */
    const char *cert;         /* client certificate (PEM) */
    const char *key;          /* client key (PEM) */
    uint64_t concurrency;     /* slots = requests in flight = connections */
    uint64_t duration_s;      /* measured seconds (0: use requests) */
    uint64_t requests;        /* measured requests (0: use duration) */
    uint64_t rate;            /* open loop requests per second (0: closed loop) */
    uint64_t warmup_s;        /* unmeasured seconds first */
    uint64_t timeout_ms;      /* per request */
    uint64_t pid;             /* daemon to sample (0: none) */
    uint64_t hold_s;          /* keep the connections idle this long after the run */
    int json;                 /* one JSON line instead of text */
    int realtime;             /* ask for SCHED_FIFO */
    int connect_first;        /* open every connection before t0 */
} lg_opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: loadgen --url URL [--concurrency N] [--duration S | --requests N]\n"
               "               [--rate R] [--warmup S] [--method GET|POST]\n"
               "               [--body FILE | --body-dir DIR] [--content-type T]\n"
               "               [--cacert F] [--cert F] [--key F] [--timeout-ms MS]\n"
               "               [--pid PID] [--hold S] [--connect-first] [--realtime] [--json]\n"
               "  --concurrency N  requests in flight and connections (default 1)\n"
               "  --duration S     measured seconds (default 10), or --requests N\n"
               "  --rate R         open loop at R requests/s, latency from the schedule\n"
               "  --warmup S       unmeasured seconds before the measurement (default 0)\n"
               "  --body-dir DIR   POST each file of DIR in turn (sorted by name)\n"
               "  --pid PID        report that process's CPU time and RSS from /proc\n"
               "  --hold S         keep the connections idle S seconds afterwards, then\n"
               "                   report the daemon's RSS and open descriptors\n"
               "  --connect-first  open every connection (TLS handshake included) before\n"
               "                   the run, its warm-up and its measurement start\n"
               "  --realtime       run SCHED_FIFO if allowed, so that sharing the cores\n"
               "                   with the daemon does not delay sends and reads\n");
}

/* Parses "--name value" or "--name=value"; returns the value or NULL. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0) {
        return NULL;
    }
    if (argv[*i][n] == '=') {
        return argv[*i] + n + 1;
    }
    if (argv[*i][n] != '\0' || *i + 1 >= argc) {
        return NULL;
    }
    (*i)++;
    return argv[*i];
}

static int opt_uint(const char *name, const char *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (cw_parse_uint(v, min, max, out) < 0) {
        fprintf(stderr,
                "loadgen: %s wants a whole number from %" PRIu64 " to %" PRIu64 ", not '%s'\n",
                name, min, max, v);
        return -1;
    }
    return 0;
}

/* Matches one numeric option; returns 1 if argv[*i] was it, 0 if not, -1 on a bad value. */
static int
opt_num(int argc, char **argv, int *i, const char *name, uint64_t min, uint64_t max, uint64_t *out)
{
    int at = *i;
    const char *v = opt_value(argc, argv, i, name);

    if (v == NULL) {
        *i = at;
        return 0;
    }
    return opt_uint(name, v, min, max, out) < 0 ? -1 : 1;
}

/* Matches one string option; returns 1 if argv[*i] was it, else 0. */
static int opt_str(int argc, char **argv, int *i, const char *name, const char **out)
{
    const char *v = opt_value(argc, argv, i, name);

    if (v == NULL) {
        return 0;
    }
    *out = v;
    return 1;
}

static int parse_opt(lg_opts_t *o, int argc, char **argv, int *i)
{
    int r;

    if (strcmp(argv[*i], "--json") == 0) {
        o->json = 1;
        return 1;
    }
    if (strcmp(argv[*i], "--realtime") == 0) {
        o->realtime = 1;
        return 1;
    }
    if (strcmp(argv[*i], "--connect-first") == 0) {
        o->connect_first = 1;
        return 1;
    }
    if (opt_str(argc, argv, i, "--url", &o->url) || opt_str(argc, argv, i, "--method", &o->method)
        || opt_str(argc, argv, i, "--body", &o->body_file)
        || opt_str(argc, argv, i, "--body-dir", &o->body_dir)
        || opt_str(argc, argv, i, "--content-type", &o->content_type)
        || opt_str(argc, argv, i, "--cacert", &o->cacert)
        || opt_str(argc, argv, i, "--cert", &o->cert) || opt_str(argc, argv, i, "--key", &o->key)) {
        return 1;
    }
    if ((r = opt_num(argc, argv, i, "--concurrency", 1, LG_CONCURRENCY_MAX, &o->concurrency)) != 0
        || (r = opt_num(argc, argv, i, "--duration", 1, LG_DURATION_MAX_S, &o->duration_s)) != 0
        || (r = opt_num(argc, argv, i, "--requests", 1, LG_REQUESTS_MAX, &o->requests)) != 0
        || (r = opt_num(argc, argv, i, "--rate", 1, LG_RATE_MAX, &o->rate)) != 0
        || (r = opt_num(argc, argv, i, "--warmup", 0, LG_DURATION_MAX_S, &o->warmup_s)) != 0
        || (r = opt_num(argc, argv, i, "--timeout-ms", 1, LG_TIMEOUT_MS_MAX, &o->timeout_ms)) != 0
        || (r = opt_num(argc, argv, i, "--pid", 1, 4194304, &o->pid)) != 0
        || (r = opt_num(argc, argv, i, "--hold", 0, LG_DURATION_MAX_S, &o->hold_s)) != 0) {
        return r;
    }
    return 0;
}

static int parse_args(lg_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof(*o));
    o->method = "GET";
    o->content_type = "application/xml";
    o->concurrency = 1;
    o->timeout_ms = 30000;
    for (int i = 1; i < argc; i++) {
        int r;

        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        r = parse_opt(o, argc, argv, &i);
        if (r < 0) {
            return -1;
        }
        if (r == 0) {
            fprintf(stderr, "loadgen: unknown option or missing value: %s\n", argv[i]);
            usage(stderr);
            return -1;
        }
    }
    if (o->url == NULL) {
        fprintf(stderr, "loadgen: --url is required\n");
        return -1;
    }
    if (strcmp(o->method, "GET") != 0 && strcmp(o->method, "POST") != 0) {
        fprintf(stderr, "loadgen: --method is GET or POST\n");
        return -1;
    }
    if (o->body_file != NULL && o->body_dir != NULL) {
        fprintf(stderr, "loadgen: --body and --body-dir exclude each other\n");
        return -1;
    }
    if (strcmp(o->method, "POST") == 0 && o->body_file == NULL && o->body_dir == NULL) {
        fprintf(stderr, "loadgen: POST needs --body or --body-dir\n");
        return -1;
    }
    if (o->duration_s != 0 && o->requests != 0) {
        fprintf(stderr, "loadgen: give --duration or --requests, not both\n");
        return -1;
    }
    if (o->duration_s == 0 && o->requests == 0) {
        o->duration_s = 10;
    }
    return 0;
}

/* ==== Request bodies ==== */

typedef struct lg_body {
    char *data; /* owned */
    size_t len;
} lg_body_t;

typedef struct lg_bodies {
    lg_body_t *items; /* owned */
    size_t n;         /* loaded */
    size_t cap;       /* allocated */
    size_t total_len; /* bytes of all items */
} lg_bodies_t;

static void bodies_fini(lg_bodies_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        cw_free(b->items[i].data);
    }
    cw_free_null(b->items);
    b->n = b->cap = b->total_len = 0;
}

/* Reads path whole into a new item of b. */
static int bodies_add_file(lg_bodies_t *b, const char *path)
{
    FILE *f = NULL;
    char *data = NULL;
    struct stat st;
    size_t len;
    int rc = -1;

    f = fopen(path, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "loadgen: cannot read %s: %s\n", path, strerror(errno));
        goto out;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > LG_BODY_FILE_MAX
        || b->total_len + (size_t)st.st_size > LG_BODY_TOTAL_MAX) {
        fprintf(stderr, "loadgen: %s: bodies are limited to %u MiB each and %u MiB in all\n", path,
                LG_BODY_FILE_MAX >> 20, LG_BODY_TOTAL_MAX >> 20);
        goto out;
    }
    len = (size_t)st.st_size;
    data = cw_malloc(len + 1);
    if (data == NULL || fread(data, 1, len, f) != len) {
        fprintf(stderr, "loadgen: cannot read %s\n", path);
        goto out;
    }
    if (b->n == b->cap) {
        size_t cap = b->cap == 0 ? 64 : b->cap * 2;
        lg_body_t *items = cw_realloc(b->items, cap * sizeof(*items));

        if (items == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            goto out;
        }
        b->items = items;
        b->cap = cap;
    }
    b->items[b->n].data = data;
    b->items[b->n].len = len;
    b->n++;
    b->total_len += len;
    data = NULL;
    rc = 0;
out:
    cw_free(data);
    if (f != NULL) {
        (void)fclose(f);
    }
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads every regular file of dir (not starting with '.') in name order. */
static int bodies_load_dir(lg_bodies_t *b, const char *dir)
{
    DIR *d = NULL;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    size_t cap = 0;
    char path[4096];
    int rc = -1;

    d = opendir(dir);
    if (d == NULL) {
        fprintf(stderr, "loadgen: cannot open %s: %s\n", dir, strerror(errno));
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        if (n == LG_BODY_FILES_MAX) {
            fprintf(stderr, "loadgen: %s has more than %u files\n", dir, LG_BODY_FILES_MAX);
            goto out;
        }
        if (n == cap) {
            size_t ncap = cap == 0 ? 256 : cap * 2;
            char **nn = cw_realloc(names, ncap * sizeof(*nn));

            if (nn == NULL) {
                goto out;
            }
            names = nn;
            cap = ncap;
        }
        names[n] = cw_strdup(e->d_name);
        if (names[n] == NULL) {
            goto out;
        }
        n++;
    }
    qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n; i++) {
        struct stat st;

        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, names[i]) >= sizeof(path)) {
            goto out;
        }
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        if (bodies_add_file(b, path) < 0) {
            goto out;
        }
    }
    if (b->n == 0) {
        fprintf(stderr, "loadgen: %s holds no files\n", dir);
        goto out;
    }
    rc = 0;
out:
    for (size_t i = 0; i < n; i++) {
        cw_free(names[i]);
    }
    cw_free(names);
    if (d != NULL) {
        (void)closedir(d);
    }
    return rc;
}

/* ==== /proc sampling ==== */

/* One name of the daemon's threads (comm, at most 15 bytes) and the CPU
 * its threads of that name have had, user and system. */
typedef struct lg_thread_cpu {
    char name[16];
    double cpu_s;
} lg_thread_cpu_t;

typedef struct lg_proc {
    double cpu_s;                                 /* utime + stime */
    double user_s;                                /* utime */
    double sys_s;                                 /* stime */
    lg_thread_cpu_t threads[LG_THREAD_NAMES_MAX]; /* by name; the rest uncounted */
    size_t n_threads;
    uint64_t rss_kib; /* VmRSS */
    uint64_t hwm_kib; /* VmHWM: peak RSS since the process started */
    uint64_t fds;     /* entries of /proc/PID/fd */
    int ok;           /* the sample was taken */
} lg_proc_t;

static int read_small_file(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        return -1;
    }
    n = fread(buf, 1, size - 1, f);
    (void)fclose(f);
    buf[n] = '\0';
    return 0;
}

/* The whole decimal number starting at s (after spaces), or -1. */
static int parse_num_at(const char *s, uint64_t *out)
{
    size_t n = 0;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    while (s[n] >= '0' && s[n] <= '9') {
        n++;
    }
    return cw_parse_uintn(s, n, 0, UINT64_MAX, out) < 0 ? -1 : 0;
}

/* utime and stime are fields 14 and 15 of a stat file (/proc/PID/stat, or
 * a thread's /proc/PID/task/TID/stat); the comm field (2) may hold spaces,
 * so counting starts after its closing parenthesis (proc(5)). */
static int stat_cpu(const char *path, double *user_s, double *sys_s)
{
    char buf[LG_PROC_FILE_MAX];
    const char *p;
    uint64_t utime;
    uint64_t stime;
    long hz = sysconf(_SC_CLK_TCK);

    if (hz <= 0 || read_small_file(path, buf, sizeof(buf)) < 0) {
        return -1;
    }
    p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    for (int field = 3; field <= 14; field++) {
        p = strchr(p + 1, ' ');
        if (p == NULL) {
            return -1;
        }
    }
    if (parse_num_at(p + 1, &utime) < 0) {
        return -1;
    }
    p = strchr(p + 1, ' ');
    if (p == NULL || parse_num_at(p + 1, &stime) < 0) {
        return -1;
    }
    *user_s = (double)utime / (double)hz;
    *sys_s = (double)stime / (double)hz;
    return 0;
}

/* Each of the process's threads' CPU, summed by thread name (the daemon's
 * pool threads share one); a thread gone by then is not counted. */
static void proc_threads(uint64_t pid, lg_proc_t *out)
{
    char path[sizeof("/proc//task//comm") + 20 + NAME_MAX + 1]; /* 20: a uint64's digits */
    DIR *d;
    struct dirent *e;

    (void)snprintf(path, sizeof(path), "/proc/%" PRIu64 "/task", pid);
    d = opendir(path);
    if (d == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char comm[sizeof(out->threads[0].name)];
        double user_s;
        double sys_s;
        size_t i;

        if (e->d_name[0] == '.' || strlen(e->d_name) > 20) {
            continue;
        }
        (void)snprintf(path, sizeof(path), "/proc/%" PRIu64 "/task/%s/comm", pid, e->d_name);
        if (read_small_file(path, comm, sizeof(comm)) < 0) {
            continue;
        }
        comm[strcspn(comm, "\n")] = '\0';
        (void)snprintf(path, sizeof(path), "/proc/%" PRIu64 "/task/%s/stat", pid, e->d_name);
        if (stat_cpu(path, &user_s, &sys_s) < 0) {
            continue;
        }
        for (i = 0; i < out->n_threads; i++) {
            if (strcmp(out->threads[i].name, comm) == 0) {
                break;
            }
        }
        if (i == out->n_threads) {
            if (i == LG_THREAD_NAMES_MAX) {
                continue;
            }
            memcpy(out->threads[i].name, comm, sizeof(comm));
            out->n_threads++;
        }
        out->threads[i].cpu_s += user_s + sys_s;
    }
    (void)closedir(d);
}

static int status_field(const char *buf, const char *name, uint64_t *out)
{
    const char *p = strstr(buf, name);

    if (p == NULL) {
        return -1;
    }
    return parse_num_at(p + strlen(name), out);
}

static uint64_t proc_fd_count(uint64_t pid)
{
    char path[64];
    DIR *d;
    struct dirent *e;
    uint64_t n = 0;

    (void)snprintf(path, sizeof(path), "/proc/%" PRIu64 "/fd", pid);
    d = opendir(path);
    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    (void)closedir(d);
    return n;
}

static void proc_sample(uint64_t pid, lg_proc_t *out)
{
    char path[64];
    char buf[LG_PROC_FILE_MAX];

    memset(out, 0, sizeof(*out));
    (void)snprintf(path, sizeof(path), "/proc/%" PRIu64 "/stat", pid);
    if (pid == 0 || stat_cpu(path, &out->user_s, &out->sys_s) < 0) {
        return;
    }
    out->cpu_s = out->user_s + out->sys_s;
    proc_threads(pid, out);
    (void)snprintf(path, sizeof(path), "/proc/%" PRIu64 "/status", pid);
    if (read_small_file(path, buf, sizeof(buf)) < 0
        || status_field(buf, "\nVmRSS:", &out->rss_kib) < 0
        || status_field(buf, "\nVmHWM:", &out->hwm_kib) < 0) {
        return;
    }
    out->fds = proc_fd_count(pid);
    out->ok = 1;
}

/* CPU seconds all processors spent busy (not idle or waiting for I/O), from
 * the first line of /proc/stat; the benchmark shares the machine, and this
 * shows how much of it went to other processes. */
static double cpu_machine_busy_s(void)
{
    char buf[LG_PROC_FILE_MAX];
    const char *p = buf + 3;
    uint64_t v[8];
    long hz = sysconf(_SC_CLK_TCK);

    if (hz <= 0 || read_small_file("/proc/stat", buf, sizeof(buf)) < 0
        || strncmp(buf, "cpu ", 4) != 0) {
        return 0.0;
    }
    /* user nice system idle iowait irq softirq steal */
    for (size_t i = 0; i < CW_ARRAY_SIZE(v); i++) {
        while (*p == ' ') {
            p++;
        }
        if (parse_num_at(p, &v[i]) < 0) {
            return 0.0;
        }
        while (*p >= '0' && *p <= '9') {
            p++;
        }
    }
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)hz;
}

static double cpu_self_s(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) {
        return 0.0;
    }
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = { .tv_sec = (time_t)(ns / 1000000000u),
                           .tv_nsec = (long)(ns % 1000000000u) };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

#define LG_RBUF_MIN 8192u /* each slot's response buffer to begin with */
#define LG_SWEEP_MS 20u   /* how often timeouts are looked for */

/* ==== The run ==== */

/* What went wrong with a request that got no complete response. */
typedef enum lg_err {
    LG_E_CONNECT,   /* the TCP connection was refused or failed */
    LG_E_TLS,       /* the handshake failed (certificate, protocol) */
    LG_E_SEND,      /* writing the request failed */
    LG_E_RECV,      /* reading the response failed */
    LG_E_CLOSED,    /* the server closed before the response was complete */
    LG_E_PROTOCOL,  /* not an HTTP/1.x response */
    LG_E_TOO_LARGE, /* a response over LG_RESP_MAX */
    LG_E_TIMEOUT,   /* --timeout-ms passed */
    LG_E_COUNT
} lg_err_e;

static const char *const lg_err_names[LG_E_COUNT] = {
    [LG_E_CONNECT] = "connect",
    [LG_E_TLS] = "TLS handshake",
    [LG_E_SEND] = "send",
    [LG_E_RECV] = "receive",
    [LG_E_CLOSED] = "closed before the response",
    [LG_E_PROTOCOL] = "malformed response",
    [LG_E_TOO_LARGE] = "response over 1 MiB",
    [LG_E_TIMEOUT] = "timeout",
};

typedef enum lg_conn_state {
    LG_C_CLOSED,
    LG_C_CONNECTING, /* connect(2) in progress */
    LG_C_HANDSHAKE,  /* TLS */
    LG_C_OPEN        /* ready for a request, or carrying one */
} lg_conn_state_e;

typedef struct lg lg_t;
typedef struct lg_slot lg_slot_t;

/* One request at a time on one kept-alive connection. */
struct lg_slot {
    lg_t *lg;              /* owner */
    uv_poll_t *poll;       /* owned; freed by its close callback */
    int fd;                /* -1 when closed */
    SSL *ssl;              /* owned; NULL over plain HTTP */
    lg_conn_state_e state; /* of the connection */
    int events;            /* what poll was started for */
    uint64_t served;       /* responses this connection carried */
    int busy;              /* a request is in flight */
    int measured;          /* started inside the measured window */
    int retried;           /* resent once on a new connection */
    int got_bytes;         /* any byte of an answer (an interim one too) */
    int broken;            /* the socket reported an error: not reused */
    int deferred;          /* failed before any I/O; in lg->cooling, not counted yet */
    lg_err_e deferred_err; /* why */
    const char *req;       /* the request's bytes (a body's, not owned) */
    size_t req_len;        /* bytes */
    size_t sent;           /* of them written */
    uint64_t start_ns;     /* closed loop: sent; open loop: scheduled */
    uint64_t began_ns;     /* when it really started (the timeout's origin) */
    char *rbuf;            /* owned: the response */
    size_t rlen;           /* bytes in rbuf */
    size_t rcap;           /* rbuf's size */
    lg_resp_t resp;        /* its parse */
    lg_slot_t *next_cool;  /* lg->cooling */
};

struct lg {
    lg_opts_t opts;
    lg_url_t url;
    struct sockaddr_storage addr; /* the target, resolved once */
    socklen_t addr_len;
    SSL_CTX *ssl_ctx; /* owned; NULL over plain HTTP */
    lg_bodies_t bodies;
    lg_body_t get_req; /* the request without a body (GET) */
    uv_loop_t loop;
    int loop_inited;
    uv_poll_t timer_poll; /* the open loop's timerfd */
    uv_timer_t sweep;     /* timeouts */
    uv_check_t check;     /* starts due requests after each round of I/O */
    uv_idle_t idle_h;     /* keeps the loop from blocking while work is pending */
    int handles_inited;   /* of timer_poll, sweep, check, idle_h, in that order */
    int timer_fd;         /* open loop: wakes the loop when a request is due */
    lg_slot_t *slots;     /* opts.concurrency of them */
    lg_slot_t **idle;     /* stack of slots without a request */
    size_t n_idle;
    lg_slot_t *cooling;   /* slots whose connection failed, back at the next sweep */
    int tls_reported;     /* the first handshake failure was printed */
    uint64_t next_body;   /* round-robin index into bodies */
    uint64_t t0_ns;       /* run start */
    uint64_t measure_ns;  /* start of the measured window (after warmup) */
    uint64_t end_ns;      /* duration mode: no request starts at or after this */
    uint64_t cutoff_ns;   /* open loop: nothing starts after twice the planned time */
    uint64_t sched_ns;    /* open loop: when the next request is due */
    uint64_t interval_ns; /* open loop: 1e9 / rate */
    uint64_t started;     /* measured requests started */
    uint64_t done;        /* measured requests finished (any outcome) */
    uint64_t ok;          /* measured 2xx */
    uint64_t transport_errors;
    uint64_t errors[LG_E_COUNT];    /* transport errors by kind */
    uint64_t status[LG_STATUS_MAX]; /* non-2xx per HTTP status */
    uint64_t status_other;          /* non-2xx outside 0..599 */
    uint64_t connects;              /* connections opened (all requests) */
    uint64_t late;                  /* open loop: started over 1 ms after schedule */
    int realtime;                   /* --realtime was granted */
    uint64_t unsent;                /* open loop: due but never started */
    int measuring;                  /* measure_ns has passed and was sampled */
    uint64_t finish_ns;             /* last measured request finished */
    double self_cpu0_s;
    double self_cpu1_s;
    double machine_busy0_s; /* cpu_machine_busy_s() at the measured window's start */
    double machine_busy1_s; /* and at its end */
    lg_proc_t proc0;        /* daemon at the start of the measured window */
    lg_proc_t proc1;        /* and at its end */
    lg_proc_t proc_hold;    /* after --hold */
    lg_hist_t hist;
    uint64_t pre_open;     /* --connect-first: connections open at t0 */
    uint64_t pre_ns;       /* and how long opening them took */
    uint64_t pre_deadline; /* when the opening gives up */
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void on_poll(uv_poll_t *poll, int status, int events);

static void on_poll_closed(uv_handle_t *h)
{
    cw_free(h);
}

static void poll_want(lg_slot_t *s, int events)
{
    if (s->poll == NULL || s->events == events) {
        return;
    }
    /* Fails only for a bad handle or descriptor; the request then ends at its timeout. */
    if (uv_poll_start(s->poll, events, on_poll) == 0) {
        s->events = events;
    }
}

static void conn_close(lg_slot_t *s)
{
    if (s->poll != NULL) {
        s->poll->data = NULL;
        uv_close((uv_handle_t *)s->poll, on_poll_closed);
        s->poll = NULL;
    }
    if (s->ssl != NULL) {
        SSL_free(s->ssl);
        s->ssl = NULL;
    }
    if (s->fd >= 0) {
        (void)close(s->fd);
        s->fd = -1;
    }
    s->state = LG_C_CLOSED;
    s->events = 0;
    s->served = 0;
    s->broken = 0;
}

static void resp_reset(lg_slot_t *s)
{
    s->rlen = 0;
    lg_resp_reset(&s->resp);
}

static void record(lg_t *lg, const lg_slot_t *s, int err, uint64_t now)
{
    if (!s->measured) {
        return;
    }
    lg->done++;
    lg->finish_ns = now;
    hist_record(&lg->hist, (now - s->start_ns) / 1000u);
    if (err >= 0) {
        lg->transport_errors++;
        lg->errors[err]++;
    } else if (s->resp.status >= 200 && s->resp.status < 300) {
        lg->ok++;
    } else if (s->resp.status >= 0 && s->resp.status < LG_STATUS_MAX) {
        lg->status[s->resp.status]++;
    } else {
        lg->status_other++;
    }
}

/* The slot's request is over; the next one starts from the check callback. */
static void slot_idle(lg_slot_t *s)
{
    lg_t *lg = s->lg;

    s->busy = 0;
    s->req = NULL;
    resp_reset(s);
    lg->idle[lg->n_idle++] = s;
}

/* A slot whose connection could not be made waits for the next sweep
 * before it is used again, so that a server refusing every connection is
 * not hammered in a busy loop (which, at SCHED_FIFO, would also starve
 * whatever shares the core). */
static void slot_cool(lg_slot_t *s)
{
    lg_t *lg = s->lg;

    s->busy = 0;
    s->req = NULL;
    resp_reset(s);
    s->next_cool = lg->cooling;
    lg->cooling = s;
}

static int conn_open(lg_slot_t *s);

static void slot_fail(lg_slot_t *s, lg_err_e err)
{
    /* A kept-alive connection the server closed meanwhile fails the request
     * before a byte of the answer: it is sent once more on a new one. */
    int retry = s->busy && !s->retried && s->served > 0 && !s->got_bytes
                && (err == LG_E_SEND || err == LG_E_RECV || err == LG_E_CLOSED);

    conn_close(s);
    if (!s->busy) {
        return; /* an idle connection ended: the next request opens another */
    }
    if (retry) {
        s->retried = 1;
        s->sent = 0;
        resp_reset(s);
        if (conn_open(s) == 0) {
            return;
        }
        conn_close(s);
        err = LG_E_CONNECT;
    }
    record(s->lg, s, (int)err, cw_time_mono_ns());
    if (err == LG_E_CONNECT || err == LG_E_TLS) {
        slot_cool(s);
    } else {
        slot_idle(s);
    }
}

static void slot_done(lg_slot_t *s)
{
    s->served++;
    record(s->lg, s, -1, cw_time_mono_ns());
    /* More bytes than the response, still in the buffer or in OpenSSL's, or
     * perhaps in the kernel when the read filled the buffer: whatever they
     * are, they would be taken for the next answer. */
    if (s->resp.close_after || s->broken || s->rlen == s->rcap
        || (s->ssl != NULL && SSL_has_pending(s->ssl))) {
        conn_close(s);
    } else {
        poll_want(s, UV_READABLE); /* an idle connection: only its end is awaited */
    }
    slot_idle(s);
}

/* ---- I/O ---- */

static void tls_step(lg_slot_t *s);

static void send_more(lg_slot_t *s)
{
    while (s->sent < s->req_len) {
        size_t want = s->req_len - s->sent;
        int n;

        if (want > INT_MAX) {
            want = INT_MAX;
        }
        if (s->ssl != NULL) {
            ERR_clear_error();
            n = SSL_write(s->ssl, s->req + s->sent, (int)want);
            if (n <= 0) {
                int e = SSL_get_error(s->ssl, n);

                if (e == SSL_ERROR_WANT_WRITE) {
                    poll_want(s, UV_WRITABLE);
                } else if (e == SSL_ERROR_WANT_READ) {
                    poll_want(s, UV_READABLE);
                } else {
                    slot_fail(s, LG_E_SEND);
                }
                return;
            }
        } else {
            ssize_t w = send(s->fd, s->req + s->sent, want, MSG_NOSIGNAL);

            if (w < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    poll_want(s, UV_WRITABLE);
                } else {
                    slot_fail(s, LG_E_SEND);
                }
                return;
            }
            n = (int)w;
        }
        s->sent += (size_t)n;
    }
    poll_want(s, UV_READABLE);
}

/* Reads what there is; finishes the request when its response is whole. */
static void recv_more(lg_slot_t *s)
{
    for (;;) {
        int n;
        int eof = 0;

        if (s->rlen == s->rcap) {
            size_t cap = s->rcap * 2;
            char *nb;

            if (s->rcap >= LG_RESP_MAX + 1) {
                slot_fail(s, LG_E_TOO_LARGE);
                return;
            }
            if (cap > LG_RESP_MAX + 1) {
                cap = LG_RESP_MAX + 1;
            }
            nb = cw_realloc(s->rbuf, cap);
            if (nb == NULL) {
                slot_fail(s, LG_E_RECV);
                return;
            }
            s->rbuf = nb;
            s->rcap = cap;
        }
        if (s->ssl != NULL) {
            ERR_clear_error();
            n = SSL_read(s->ssl, s->rbuf + s->rlen, (int)(s->rcap - s->rlen));
            if (n <= 0) {
                int e = SSL_get_error(s->ssl, n);

                if (e == SSL_ERROR_WANT_READ) {
                    poll_want(s, UV_READABLE);
                    return;
                }
                if (e == SSL_ERROR_WANT_WRITE) {
                    poll_want(s, UV_WRITABLE | UV_READABLE);
                    return;
                }
                if (e != SSL_ERROR_ZERO_RETURN) {
                    slot_fail(s, LG_E_RECV);
                    return;
                }
                eof = 1;
            }
        } else {
            ssize_t r = recv(s->fd, s->rbuf + s->rlen, s->rcap - s->rlen, 0);

            if (r < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno != EAGAIN && errno != EWOULDBLOCK) {
                    slot_fail(s, LG_E_RECV);
                }
                return;
            }
            eof = r == 0;
            n = (int)r;
        }
        if (eof) {
            if (s->resp.head_len != 0 && s->resp.body == LG_B_TO_CLOSE) {
                s->resp.close_after = 1;
                slot_done(s);
            } else {
                slot_fail(s, LG_E_CLOSED);
            }
            return;
        }
        s->rlen += (size_t)n;
        s->got_bytes = 1;
        switch (lg_resp_parse(&s->resp, s->rbuf, &s->rlen)) {
        case 1:
            slot_done(s);
            return;
        case 0:
            break;
        case LG_RESP_TOO_LARGE:
            slot_fail(s, LG_E_TOO_LARGE);
            return;
        default:
            slot_fail(s, LG_E_PROTOCOL);
            return;
        }
    }
}

/* A kept connection became readable with no request on it: the server
 * closed it (or sent what nobody asked for). Either way it is not reused. */
static void idle_read(lg_slot_t *s)
{
    char buf[256];
    int n;

    if (s->ssl != NULL) {
        ERR_clear_error();
        n = SSL_read(s->ssl, buf, (int)sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(s->ssl, n);

            if (e == SSL_ERROR_WANT_READ) {
                poll_want(s, UV_READABLE);
                return; /* a TLS 1.3 session ticket, say */
            }
            if (e == SSL_ERROR_WANT_WRITE) {
                poll_want(s, UV_READABLE | UV_WRITABLE);
                return; /* answering a key update */
            }
        }
    } else {
        ssize_t r = recv(s->fd, buf, sizeof(buf), 0);

        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return;
        }
    }
    conn_close(s);
}

static void conn_ready(lg_slot_t *s)
{
    s->state = LG_C_OPEN;
    if (s->busy) {
        send_more(s);
    } else {
        poll_want(s, UV_READABLE);
    }
}

static void tls_report(lg_slot_t *s)
{
    lg_t *lg = s->lg;
    unsigned long e = ERR_peek_last_error();
    long verify = SSL_get_verify_result(s->ssl);
    char msg[256];

    if (lg->tls_reported) {
        return;
    }
    lg->tls_reported = 1;
    if (verify != X509_V_OK) {
        fprintf(stderr, "loadgen: TLS handshake with %s: certificate: %s\n", lg->url.authority,
                X509_verify_cert_error_string(verify));
    } else if (e != 0) {
        ERR_error_string_n(e, msg, sizeof(msg));
        fprintf(stderr, "loadgen: TLS handshake with %s: %s\n", lg->url.authority, msg);
    } else {
        fprintf(stderr, "loadgen: TLS handshake with %s failed\n", lg->url.authority);
    }
}

static void tls_step(lg_slot_t *s)
{
    int r;

    ERR_clear_error();
    r = SSL_do_handshake(s->ssl);
    if (r == 1) {
        conn_ready(s);
        return;
    }
    switch (SSL_get_error(s->ssl, r)) {
    case SSL_ERROR_WANT_READ:
        poll_want(s, UV_READABLE);
        return;
    case SSL_ERROR_WANT_WRITE:
        poll_want(s, UV_WRITABLE);
        return;
    default:
        tls_report(s);
        slot_fail(s, LG_E_TLS);
        return;
    }
}

static int tls_begin(lg_slot_t *s)
{
    lg_t *lg = s->lg;

    s->ssl = SSL_new(lg->ssl_ctx);
    if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
        return -1;
    }
    if (lg->url.ip_literal) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(s->ssl), lg->url.host) != 1) {
            return -1;
        }
    } else if (SSL_set1_host(s->ssl, lg->url.host) != 1
               || SSL_set_tlsext_host_name(s->ssl, lg->url.host) != 1) {
        return -1;
    }
    SSL_set_connect_state(s->ssl);
    s->state = LG_C_HANDSHAKE;
    tls_step(s);
    return 0;
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    lg_slot_t *s = poll->data;

    (void)events; /* the state says what to try; a try that would block re-polls */
    if (s == NULL) {
        return;
    }
    if (status < 0) {
        /* An error or a reset on the socket (libuv stops the handle): an
         * answer that arrived before it is still read, then the read fails. */
        s->events = 0; /* libuv stopped the handle */
        s->broken = 1;
        if (s->state == LG_C_OPEN && s->busy && s->sent == s->req_len) {
            recv_more(s);
            if (s->state == LG_C_OPEN && s->busy) {
                slot_fail(s, LG_E_RECV);
            }
            return;
        }
        slot_fail(s, s->state == LG_C_CONNECTING  ? LG_E_CONNECT
                     : s->state == LG_C_HANDSHAKE ? LG_E_TLS
                     : s->busy                    ? LG_E_SEND
                                                  : LG_E_RECV);
        return;
    }
    switch (s->state) {
    case LG_C_CONNECTING: {
        int err = 0;
        socklen_t len = sizeof(err);

        if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            slot_fail(s, LG_E_CONNECT);
        } else if (s->lg->ssl_ctx == NULL) {
            conn_ready(s);
        } else if (tls_begin(s) < 0) {
            slot_fail(s, LG_E_TLS);
        }
        return;
    }
    case LG_C_HANDSHAKE:
        tls_step(s);
        return;
    case LG_C_OPEN:
        if (!s->busy) {
            idle_read(s);
        } else if (s->sent < s->req_len) {
            send_more(s); /* which a TLS read may also unblock */
        } else {
            recv_more(s);
        }
        return;
    case LG_C_CLOSED:
        return;
    }
}

/* Opens the slot's connection; its request goes out once it is ready.
 * Fails only before any I/O (no descriptor, no memory, refused at once). */
static int conn_open(lg_slot_t *s)
{
    lg_t *lg = s->lg;
    int one = 1;

    s->fd = socket(lg->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) {
        return -1;
    }
    lg->connects++;
    (void)setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(s->fd, (const struct sockaddr *)&lg->addr, lg->addr_len) != 0
        && errno != EINPROGRESS) {
        return -1;
    }
    s->poll = cw_malloc(sizeof(*s->poll));
    if (s->poll == NULL) {
        return -1;
    }
    if (uv_poll_init_socket(&lg->loop, s->poll, s->fd) != 0) {
        cw_free_null(s->poll);
        return -1;
    }
    s->poll->data = s;
    s->state = LG_C_CONNECTING;
    s->events = 0;
    poll_want(s, UV_WRITABLE);
    return 0;
}

/* ---- Scheduling ---- */

/* Starts a request on an idle slot; start_ns is its send or scheduled time. */
static void slot_start(lg_t *lg, uint64_t start_ns, uint64_t now)
{
    lg_slot_t *s = lg->idle[--lg->n_idle];
    const lg_body_t *r =
        lg->bodies.n > 0 ? &lg->bodies.items[lg->next_body++ % lg->bodies.n] : &lg->get_req;

    s->busy = 1;
    s->retried = 0;
    s->got_bytes = 0;
    s->req = r->data;
    s->req_len = r->len;
    s->sent = 0;
    resp_reset(s);
    s->start_ns = start_ns;
    s->began_ns = now;
    s->measured = start_ns >= lg->measure_ns;
    if (s->measured) {
        lg->started++;
    }
    if (s->state == LG_C_OPEN) {
        send_more(s);
        return;
    }
    if (s->state == LG_C_CLOSED && conn_open(s) < 0) {
        /* Counted at the next sweep, so that a server refusing every
         * connection at once does not recurse through the starts. */
        conn_close(s);
        s->deferred = 1;
        s->deferred_err = LG_E_CONNECT;
        s->next_cool = lg->cooling;
        lg->cooling = s;
    }
}

/* Whether a request due (or sent) at t may still start at now. */
static int may_start(const lg_t *lg, uint64_t t, uint64_t now)
{
    if (stop_requested || now >= lg->cutoff_ns) {
        return 0;
    }
    if (lg->opts.requests != 0) {
        return t < lg->measure_ns || lg->started < lg->opts.requests;
    }
    return t < lg->end_ns;
}

static void start_due(lg_t *lg, uint64_t now)
{
    while (lg->n_idle > 0) {
        uint64_t t = lg->opts.rate != 0 ? lg->sched_ns : now;

        if ((lg->opts.rate != 0 && t > now) || !may_start(lg, t, now)) {
            break;
        }
        if (lg->opts.rate != 0) {
            if (now - t > LG_LATE_NS && t >= lg->measure_ns) {
                lg->late++;
            }
            lg->sched_ns += lg->interval_ns;
        }
        slot_start(lg, t, now);
    }
}

static void mark_measure_start(lg_t *lg, uint64_t now)
{
    if (lg->measuring || now < lg->measure_ns) {
        return;
    }
    lg->measuring = 1;
    lg->self_cpu0_s = cpu_self_s();
    lg->machine_busy0_s = cpu_machine_busy_s();
    proc_sample(lg->opts.pid, &lg->proc0);
}

/* Arms the timerfd for the next due request of the open loop, to the
 * nanosecond (libuv's timers count in milliseconds, which would start
 * requests up to 1 ms late). */
static void arm_timer(lg_t *lg, uint64_t now)
{
    struct itimerspec its;

    if (lg->opts.rate == 0 || lg->n_idle == 0 || lg->sched_ns <= now
        || !may_start(lg, lg->sched_ns, now)) {
        return;
    }
    memset(&its, 0, sizeof(its));
    its.it_value.tv_sec = (time_t)(lg->sched_ns / 1000000000u);
    its.it_value.tv_nsec = (long)(lg->sched_ns % 1000000000u);
    if (timerfd_settime(lg->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        fprintf(stderr, "loadgen: timerfd_settime: %s\n", strerror(errno));
        stop_requested = 1;
    }
}

static void on_idle(uv_idle_t *h)
{
    (void)h; /* only keeps the loop's first poll from blocking */
}

/* After each round of I/O: start what is due, and end the run when
 * nothing is left to start. */
static void on_check(uv_check_t *h)
{
    lg_t *lg = h->data;
    uint64_t now = cw_time_mono_ns();

    mark_measure_start(lg, now);
    start_due(lg, now);
    if (lg->n_idle == lg->opts.concurrency
        && !may_start(lg, lg->opts.rate != 0 ? lg->sched_ns : now, now)) {
        uv_stop(&lg->loop);
        return;
    }
    arm_timer(lg, now);
    (void)uv_idle_stop(&lg->idle_h);
}

static void on_timer_fd(uv_poll_t *h, int status, int events)
{
    lg_t *lg = h->data;
    uint64_t expirations;

    (void)status;
    (void)events;
    /* Non-blocking; only clears the readable state. */
    (void)!read(lg->timer_fd, &expirations, sizeof(expirations));
}

static void on_sweep(uv_timer_t *h)
{
    lg_t *lg = h->data;
    uint64_t now = cw_time_mono_ns();
    uint64_t limit = lg->opts.timeout_ms * 1000000u;

    /* The slots that cooled since the last sweep go back to work. */
    while (lg->cooling != NULL) {
        lg_slot_t *s = lg->cooling;

        lg->cooling = s->next_cool;
        s->next_cool = NULL;
        if (s->deferred) {
            s->deferred = 0;
            record(lg, s, (int)s->deferred_err, now);
        }
        slot_idle(s);
    }
    for (size_t i = 0; i < lg->opts.concurrency; i++) {
        lg_slot_t *s = &lg->slots[i];

        if (s->busy && !s->deferred && now - s->began_ns > limit) {
            slot_fail(s, LG_E_TIMEOUT);
        }
    }
}

static int run_loop(lg_t *lg)
{
    if (uv_idle_start(&lg->idle_h, on_idle) != 0 || uv_check_start(&lg->check, on_check) != 0
        || uv_timer_start(&lg->sweep, on_sweep, LG_SWEEP_MS, LG_SWEEP_MS) != 0
        || (lg->opts.rate != 0 && uv_poll_start(&lg->timer_poll, UV_READABLE, on_timer_fd) != 0)) {
        fprintf(stderr, "loadgen: cannot start the event loop\n");
        return -1;
    }
    (void)uv_run(&lg->loop, UV_RUN_DEFAULT);
    (void)uv_idle_stop(&lg->idle_h);
    (void)uv_check_stop(&lg->check);
    (void)uv_timer_stop(&lg->sweep);
    (void)uv_poll_stop(&lg->timer_poll);
    if (lg->opts.rate != 0 && !stop_requested) {
        if (lg->opts.requests != 0 && lg->started < lg->opts.requests) {
            lg->unsent = lg->opts.requests - lg->started;
        } else if (lg->opts.duration_s != 0 && lg->sched_ns < lg->end_ns) {
            lg->unsent = (lg->end_ns - lg->sched_ns + lg->interval_ns - 1) / lg->interval_ns;
        }
    }
    return 0;
}

/* ---- --connect-first ---- */

/* The slots still connecting or in their handshake. */
static size_t pre_pending(const lg_t *lg)
{
    size_t n = 0;

    for (size_t i = 0; i < lg->opts.concurrency; i++) {
        lg_conn_state_e st = lg->slots[i].state;

        n += st == LG_C_CONNECTING || st == LG_C_HANDSHAKE;
    }
    return n;
}

static void pre_maybe_stop(lg_t *lg)
{
    if (stop_requested || pre_pending(lg) == 0 || cw_time_mono_ns() >= lg->pre_deadline) {
        uv_stop(&lg->loop);
    }
}

static void on_pre_check(uv_check_t *h)
{
    pre_maybe_stop(h->data);
}

static void on_pre_timer(uv_timer_t *h)
{
    pre_maybe_stop(h->data); /* the deadline, should no I/O come */
}

/* Opens every slot's connection before the run. A slot whose connection
 * failed, or is not open by the deadline, is closed without a record: its
 * first request opens a new one and is counted as any other. */
static int preconnect(lg_t *lg)
{
    uint64_t t0 = cw_time_mono_ns();

    lg->pre_deadline = t0 + lg->opts.timeout_ms * 1000000u;
    for (size_t i = 0; i < lg->opts.concurrency; i++) {
        lg_slot_t *s = &lg->slots[i];

        if (conn_open(s) < 0) {
            conn_close(s);
        }
    }
    if (uv_check_start(&lg->check, on_pre_check) != 0
        || uv_timer_start(&lg->sweep, on_pre_timer, LG_SWEEP_MS, LG_SWEEP_MS) != 0) {
        fprintf(stderr, "loadgen: cannot start the event loop\n");
        return -1;
    }
    if (pre_pending(lg) > 0) {
        (void)uv_run(&lg->loop, UV_RUN_DEFAULT);
    }
    (void)uv_check_stop(&lg->check);
    (void)uv_timer_stop(&lg->sweep);
    for (size_t i = 0; i < lg->opts.concurrency; i++) {
        lg_slot_t *s = &lg->slots[i];

        if (s->state == LG_C_OPEN) {
            lg->pre_open++;
        } else if (s->state != LG_C_CLOSED) {
            conn_close(s);
        }
    }
    lg->pre_ns = cw_time_mono_ns() - t0;
    return stop_requested ? -1 : 0;
}

/* ==== Setup and teardown ==== */

static int raise_fd_limit(uint64_t want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want) ? want : rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want) {
            fprintf(stderr, "loadgen: warning: only %llu file descriptors allowed\n",
                    (unsigned long long)rl.rlim_cur);
        }
    }
    return 0;
}

/* Whether a TCP connection to ai opens within timeout_ms. */
static int address_answers(const struct addrinfo *ai, uint64_t timeout_ms)
{
    struct pollfd pfd;
    int err = 0;
    socklen_t len = sizeof(err);
    int ok = 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0) {
        return 0;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ok = 1;
    } else if (errno == EINPROGRESS) {
        pfd.fd = fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;
        ok = poll(&pfd, 1, timeout_ms > INT_MAX ? INT_MAX : (int)timeout_ms) == 1
             && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    (void)close(fd);
    return ok;
}

/* The target's address, resolved once: the first of the host's addresses
 * that takes a connection (localhost may give ::1 first to a server that
 * listens on 127.0.0.1 only), else the first, whose failures the run then
 * counts. */
static int resolve(lg_t *lg)
{
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    const struct addrinfo *pick = NULL;
    int r;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    r = getaddrinfo(lg->url.host, lg->url.port, &hints, &res);
    if (r != 0 || res == NULL) {
        fprintf(stderr, "loadgen: cannot resolve %s: %s\n", lg->url.host,
                r != 0 ? gai_strerror(r) : "no address");
        if (res != NULL) {
            freeaddrinfo(res);
        }
        return -1;
    }
    for (const struct addrinfo *ai = res; ai != NULL && pick == NULL; ai = ai->ai_next) {
        if (ai->ai_addrlen <= sizeof(lg->addr) && address_answers(ai, lg->opts.timeout_ms)) {
            pick = ai;
        }
    }
    if (pick == NULL) {
        pick = res;
        fprintf(stderr, "loadgen: warning: no address of %s took a connection\n", lg->url.host);
    }
    if (pick->ai_addrlen > sizeof(lg->addr)) {
        freeaddrinfo(res);
        return -1;
    }
    memcpy(&lg->addr, pick->ai_addr, pick->ai_addrlen);
    lg->addr_len = pick->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void ssl_errors(const char *what, const char *file)
{
    unsigned long e = ERR_get_error();
    char msg[256];

    if (e != 0) {
        ERR_error_string_n(e, msg, sizeof(msg));
    } else {
        (void)snprintf(msg, sizeof(msg), "failed");
    }
    fprintf(stderr, "loadgen: %s %s: %s\n", what, file != NULL ? file : "", msg);
    ERR_clear_error();
}

/* TLS 1.2 or later, the server's certificate verified against --cacert (or
 * the system's store) and matched to the URL's host, the client's
 * certificate and key when given. */
static int tls_init(lg_t *lg)
{
    const lg_opts_t *o = &lg->opts;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    lg->ssl_ctx = ctx;
    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        ssl_errors("TLS context", NULL);
        return -1;
    }
    if ((o->cacert != NULL ? SSL_CTX_load_verify_locations(ctx, o->cacert, NULL)
                           : SSL_CTX_set_default_verify_paths(ctx))
        != 1) {
        ssl_errors("CA certificates", o->cacert);
        return -1;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (o->cert != NULL && SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
        ssl_errors("client certificate", o->cert);
        return -1;
    }
    if (o->key != NULL
        && (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1
            || SSL_CTX_check_private_key(ctx) != 1)) {
        ssl_errors("client key", o->key);
        return -1;
    }
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* A server that closes without close_notify ends a read-to-close body. */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    return 0;
}

/* Turns each body into its whole request (request line, header, body), so
 * that a request is one write of bytes made once. */
static int build_requests(lg_t *lg)
{
    const lg_opts_t *o = &lg->opts;
    const lg_url_t *u = &lg->url;
    char head[LG_PATH_MAX + 1024];
    int n;

    if (strpbrk(o->content_type, "\r\n") != NULL) {
        fprintf(stderr, "loadgen: --content-type holds a line break\n");
        return -1;
    }
    n = snprintf(head, sizeof(head),
                 "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: clearway-loadgen\r\n\r\n", o->method,
                 u->path, u->authority);
    if (n < 0 || (size_t)n >= sizeof(head)) {
        return -1;
    }
    lg->get_req.data = cw_strdup(head);
    lg->get_req.len = (size_t)n;
    if (lg->get_req.data == NULL) {
        return -1;
    }
    for (size_t i = 0; i < lg->bodies.n; i++) {
        lg_body_t *b = &lg->bodies.items[i];
        char *req;

        n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: clearway-loadgen\r\n"
                     "Content-Type: %.256s\r\nContent-Length: %zu\r\n\r\n",
                     o->method, u->path, u->authority, o->content_type, b->len);
        if (n < 0 || (size_t)n >= sizeof(head)) {
            return -1;
        }
        req = cw_malloc((size_t)n + b->len);
        if (req == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            return -1;
        }
        memcpy(req, head, (size_t)n);
        memcpy(req + n, b->data, b->len);
        cw_free(b->data);
        b->data = req;
        b->len += (size_t)n;
    }
    return 0;
}

static int lg_init(lg_t *lg)
{
    const lg_opts_t *o = &lg->opts;

    char err[256];

    if (lg_url_parse(o->url, &lg->url, err, sizeof(err)) < 0) {
        fprintf(stderr, "loadgen: --url %s: %s\n", o->url, err);
        return -1;
    }
    if (resolve(lg) < 0) {
        return -1;
    }
    if (lg->url.tls && tls_init(lg) < 0) {
        return -1;
    }
    if (o->body_file != NULL && bodies_add_file(&lg->bodies, o->body_file) < 0) {
        return -1;
    }
    if (o->body_dir != NULL && bodies_load_dir(&lg->bodies, o->body_dir) < 0) {
        return -1;
    }
    if (build_requests(lg) < 0) {
        return -1;
    }
    (void)raise_fd_limit(o->concurrency + 64);
    /* The default 50 us timer slack would show up in open-loop latencies. */
    (void)prctl(PR_SET_TIMERSLACK, 1000UL, 0UL, 0UL, 0UL);
    if (o->realtime) {
        struct sched_param sp = { .sched_priority = 1 };

        if (sched_setscheduler(0, SCHED_FIFO, &sp) == 0) {
            lg->realtime = 1;
        } else {
            fprintf(stderr,
                    "loadgen: warning: --realtime: SCHED_FIFO refused (%s); normal priority\n",
                    strerror(errno));
        }
    }
    lg->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (lg->timer_fd < 0) {
        fprintf(stderr, "loadgen: timerfd_create: %s\n", strerror(errno));
        return -1;
    }
    if (uv_loop_init(&lg->loop) != 0) {
        return -1;
    }
    lg->loop_inited = 1;
    /* Each of these fails only for bad arguments; counted so that lg_fini
     * closes exactly the ones made. */
    if (uv_poll_init(&lg->loop, &lg->timer_poll, lg->timer_fd) != 0) {
        return -1;
    }
    lg->handles_inited++;
    if (uv_timer_init(&lg->loop, &lg->sweep) != 0) {
        return -1;
    }
    lg->handles_inited++;
    if (uv_check_init(&lg->loop, &lg->check) != 0) {
        return -1;
    }
    lg->handles_inited++;
    if (uv_idle_init(&lg->loop, &lg->idle_h) != 0) {
        return -1;
    }
    lg->handles_inited++;
    lg->timer_poll.data = lg;
    lg->sweep.data = lg;
    lg->check.data = lg;
    lg->idle_h.data = lg;
    lg->slots = cw_calloc(o->concurrency, sizeof(*lg->slots));
    if (lg->slots == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < o->concurrency; i++) {
        lg->slots[i].lg = lg;
        lg->slots[i].fd = -1; /* before anything can fail: lg_fini closes what is >= 0 */
    }
    lg->idle = cw_calloc(o->concurrency, sizeof(*lg->idle));
    if (lg->idle == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < o->concurrency; i++) {
        lg_slot_t *s = &lg->slots[i];

        s->rbuf = cw_malloc(LG_RBUF_MIN);
        if (s->rbuf == NULL) {
            fprintf(stderr, "loadgen: out of memory\n");
            return -1;
        }
        s->rcap = LG_RBUF_MIN;
        lg->idle[lg->n_idle++] = s;
    }
    return 0;
}

static void lg_fini(lg_t *lg)
{
    if (lg->slots != NULL) {
        for (size_t i = 0; i < lg->opts.concurrency; i++) {
            conn_close(&lg->slots[i]);
            cw_free(lg->slots[i].rbuf);
        }
    }
    if (lg->loop_inited) {
        uv_handle_t *handles[] = { (uv_handle_t *)&lg->timer_poll, (uv_handle_t *)&lg->sweep,
                                   (uv_handle_t *)&lg->check, (uv_handle_t *)&lg->idle_h };

        for (int i = 0; i < lg->handles_inited; i++) {
            uv_close(handles[i], NULL);
        }
        /* Runs the close callbacks (the slots' poll handles are freed there). */
        (void)uv_run(&lg->loop, UV_RUN_DEFAULT);
        (void)uv_loop_close(&lg->loop);
    }
    if (lg->timer_fd >= 0) {
        (void)close(lg->timer_fd);
    }
    SSL_CTX_free(lg->ssl_ctx);
    cw_free(lg->slots);
    cw_free(lg->idle);
    cw_free(lg->get_req.data);
    bodies_fini(&lg->bodies);
}

/* ==== Report ==== */

static void json_str(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\') {
            putchar('\\');
            putchar(*s);
        } else if ((unsigned char)*s < 0x20) {
            printf("\\u%04x", (unsigned)(unsigned char)*s);
        } else {
            putchar(*s);
        }
    }
    putchar('"');
}

static double elapsed_s(const lg_t *lg)
{
    uint64_t end = lg->finish_ns > lg->measure_ns ? lg->finish_ns : lg->measure_ns;

    return (double)(end - lg->measure_ns) / 1e9;
}

static void report_json(const lg_t *lg)
{
    const lg_opts_t *o = &lg->opts;
    double el = elapsed_s(lg);
    const char *sep = "";

    printf("{\"url\":");
    json_str(o->url);
    printf(",\"method\":\"%s\",\"mode\":\"%s\",\"concurrency\":%" PRIu64 ",\"rate\":%" PRIu64
           ",\"warmup_s\":%" PRIu64 ",\"requests\":%" PRIu64 ",\"ok\":%" PRIu64
           ",\"errors\":%" PRIu64 ",\"transport_errors\":%" PRIu64,
           o->method, o->rate != 0 ? "open" : "closed", o->concurrency, o->rate, o->warmup_s,
           lg->done, lg->ok, lg->done - lg->ok, lg->transport_errors);
    printf(",\"status\":{");
    for (int i = 0; i < LG_STATUS_MAX; i++) {
        if (lg->status[i] != 0) {
            printf("%s\"%d\":%" PRIu64, sep, i, lg->status[i]);
            sep = ",";
        }
    }
    printf("},\"transport_error_kinds\":{");
    sep = "";
    for (int i = 0; i < LG_E_COUNT; i++) {
        if (lg->errors[i] != 0) {
            printf("%s", sep);
            json_str(lg_err_names[i]);
            printf(":%" PRIu64, lg->errors[i]);
            sep = ",";
        }
    }
    printf("},\"status_other\":%" PRIu64 ",\"late\":%" PRIu64 ",\"unsent\":%" PRIu64
           ",\"realtime\":%d,\"connections\":%" PRIu64 ",\"elapsed_s\":%.3f,\"rps\":%.1f",
           lg->status_other, lg->late, lg->unsent, lg->realtime, lg->connects, el,
           el > 0 ? (double)lg->done / el : 0.0);
    if (o->connect_first) {
        printf(",\"connected_first\":%" PRIu64 ",\"connect_first_s\":%.3f", lg->pre_open,
               (double)lg->pre_ns / 1e9);
    }
    printf(",\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f"
           ",\"mean_ms\":%.3f",
           (double)hist_percentile(&lg->hist, 50) / 1e3,
           (double)hist_percentile(&lg->hist, 90) / 1e3,
           (double)hist_percentile(&lg->hist, 99) / 1e3,
           (double)hist_percentile(&lg->hist, 99.9) / 1e3, (double)lg->hist.max_us / 1e3,
           lg->hist.total ? lg->hist.sum_us / (double)lg->hist.total / 1e3 : 0.0);
    printf(",\"client_cpu_pct\":%.1f,\"machine_busy_pct\":%.1f,\"cores\":%ld",
           el > 0 ? (lg->self_cpu1_s - lg->self_cpu0_s) / el * 100.0 : 0.0,
           el > 0 ? (lg->machine_busy1_s - lg->machine_busy0_s) / el * 100.0 : 0.0,
           sysconf(_SC_NPROCESSORS_ONLN));
    if (lg->proc0.ok && lg->proc1.ok) {
        double cpu = lg->proc1.cpu_s - lg->proc0.cpu_s;

        printf(",\"daemon_pid\":%" PRIu64 ",\"daemon_cpu_s\":%.2f,\"daemon_cpu_pct\":%.1f"
               ",\"daemon_rss_kib\":%" PRIu64 ",\"daemon_hwm_kib\":%" PRIu64
               ",\"daemon_fds\":%" PRIu64,
               o->pid, cpu, el > 0 ? cpu / el * 100.0 : 0.0, lg->proc1.rss_kib, lg->proc1.hwm_kib,
               lg->proc1.fds);
        printf(",\"daemon_user_s\":%.2f,\"daemon_sys_s\":%.2f,\"daemon_threads_cpu_s\":{",
               lg->proc1.user_s - lg->proc0.user_s, lg->proc1.sys_s - lg->proc0.sys_s);
        sep = "";
        for (size_t i = 0; i < lg->proc1.n_threads; i++) {
            const lg_thread_cpu_t *t1 = &lg->proc1.threads[i];
            double before = 0.0;

            for (size_t j = 0; j < lg->proc0.n_threads; j++) {
                if (strcmp(lg->proc0.threads[j].name, t1->name) == 0) {
                    before = lg->proc0.threads[j].cpu_s;
                }
            }
            printf("%s", sep);
            json_str(t1->name);
            printf(":%.2f", t1->cpu_s - before);
            sep = ",";
        }
        printf("}");
    }
    if (o->hold_s != 0 && lg->proc_hold.ok) {
        printf(",\"hold_s\":%" PRIu64 ",\"hold_rss_kib\":%" PRIu64 ",\"hold_hwm_kib\":%" PRIu64
               ",\"hold_fds\":%" PRIu64,
               o->hold_s, lg->proc_hold.rss_kib, lg->proc_hold.hwm_kib, lg->proc_hold.fds);
    }
    printf("}\n");
}

static void report_errors_text(const lg_t *lg)
{
    int any = 0;

    printf("errors       transport %" PRIu64, lg->transport_errors);
    for (int i = 0; i < LG_E_COUNT; i++) {
        if (lg->errors[i] != 0) {
            printf(" [%s: %" PRIu64 "]", lg_err_names[i], lg->errors[i]);
        }
    }
    printf("; non-2xx:");
    for (int i = 0; i < LG_STATUS_MAX; i++) {
        if (lg->status[i] != 0) {
            printf(" %d x%" PRIu64, i, lg->status[i]);
            any = 1;
        }
    }
    if (lg->status_other != 0) {
        printf(" other x%" PRIu64, lg->status_other);
        any = 1;
    }
    printf("%s\n", any ? "" : " none");
}

static void report_text(const lg_t *lg)
{
    const lg_opts_t *o = &lg->opts;
    double el = elapsed_s(lg);

    printf("loadgen      %s %s, %s loop", o->method, o->url, o->rate != 0 ? "open" : "closed");
    if (o->rate != 0) {
        printf(" at %" PRIu64 " req/s", o->rate);
    }
    printf(", concurrency %" PRIu64 ", warmup %" PRIu64 " s\n", o->concurrency, o->warmup_s);
    if (o->connect_first) {
        printf("connected    %" PRIu64 " of %" PRIu64 " connections before the run, in %.3f s\n",
               lg->pre_open, o->concurrency, (double)lg->pre_ns / 1e9);
    }
    printf("requests     %" PRIu64 " (2xx %" PRIu64 ", errors %" PRIu64
           ") in %.2f s = %.1f req/s\n",
           lg->done, lg->ok, lg->done - lg->ok, el, el > 0 ? (double)lg->done / el : 0.0);
    printf("connections  %" PRIu64 " opened\n", lg->connects);
    printf("latency ms   p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
           (double)hist_percentile(&lg->hist, 50) / 1e3,
           (double)hist_percentile(&lg->hist, 90) / 1e3,
           (double)hist_percentile(&lg->hist, 99) / 1e3,
           (double)hist_percentile(&lg->hist, 99.9) / 1e3, (double)lg->hist.max_us / 1e3,
           lg->hist.total ? lg->hist.sum_us / (double)lg->hist.total / 1e3 : 0.0);
    report_errors_text(lg);
    if (o->rate != 0) {
        printf("schedule     %" PRIu64 " started over 1 ms late, %" PRIu64 " never sent%s\n",
               lg->late, lg->unsent, lg->unsent != 0 ? " (the rate was not sustained)" : "");
    }
    printf("client       cpu %.1f %% of one core%s\n",
           el > 0 ? (lg->self_cpu1_s - lg->self_cpu0_s) / el * 100.0 : 0.0,
           lg->realtime ? ", SCHED_FIFO" : "");
    printf("machine      %ld cores, busy %.1f %% of one core (every process together)\n",
           sysconf(_SC_NPROCESSORS_ONLN),
           el > 0 ? (lg->machine_busy1_s - lg->machine_busy0_s) / el * 100.0 : 0.0);
    if (lg->proc0.ok && lg->proc1.ok) {
        double cpu = lg->proc1.cpu_s - lg->proc0.cpu_s;

        printf("daemon       pid %" PRIu64 ": cpu %.2f s = %.1f %% of one core; rss %" PRIu64
               " KiB, peak (VmHWM) %" PRIu64 " KiB, %" PRIu64 " fds\n",
               o->pid, cpu, el > 0 ? cpu / el * 100.0 : 0.0, lg->proc1.rss_kib, lg->proc1.hwm_kib,
               lg->proc1.fds);
    } else if (o->pid != 0) {
        printf("daemon       pid %" PRIu64 ": /proc could not be read\n", o->pid);
    }
    if (o->hold_s != 0 && lg->proc_hold.ok) {
        printf("hold         after %" PRIu64 " s idle: daemon rss %" PRIu64 " KiB, peak %" PRIu64
               " KiB, %" PRIu64 " fds\n",
               o->hold_s, lg->proc_hold.rss_kib, lg->proc_hold.hwm_kib, lg->proc_hold.fds);
    }
}

/* ==== main ==== */

static void lg_plan(lg_t *lg)
{
    const lg_opts_t *o = &lg->opts;

    lg->t0_ns = cw_time_mono_ns();
    lg->measure_ns = lg->t0_ns + o->warmup_s * 1000000000u;
    lg->end_ns = lg->measure_ns + o->duration_s * 1000000000u;
    lg->sched_ns = lg->t0_ns;
    lg->cutoff_ns = UINT64_MAX;
    if (o->rate != 0) {
        uint64_t planned_ns;

        lg->interval_ns = 1000000000u / o->rate;
        if (lg->interval_ns == 0) {
            lg->interval_ns = 1;
        }
        /* A server slower than the rate leaves a backlog of due requests; they
         * are still sent (their wait counts), but for at most as long again
         * as planned, and whatever is left is reported as never sent. */
        planned_ns =
            o->duration_s != 0 ? o->duration_s * 1000000000u : o->requests * lg->interval_ns;
        lg->cutoff_ns = lg->measure_ns + 2 * planned_ns;
    }
}

int main(int argc, char **argv)
{
    lg_t *lg = NULL;
    struct sigaction sa;
    int status = 1;

    lg = cw_calloc(1, sizeof(*lg));
    if (lg == NULL) {
        goto out;
    }
    lg->timer_fd = -1;
    if (parse_args(&lg->opts, argc, argv) < 0) {
        status = 2;
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    (void)sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, NULL);
    (void)sigaction(SIGTERM, &sa, NULL);
    /* OpenSSL writes to the socket with write(2): a peer gone is EPIPE, not a signal. */
    (void)signal(SIGPIPE, SIG_IGN);
    if (lg_init(lg) < 0) {
        goto out;
    }
    if (lg->opts.connect_first && preconnect(lg) < 0) {
        goto out;
    }
    lg_plan(lg);
    if (run_loop(lg) < 0) {
        goto out;
    }
    lg->self_cpu1_s = cpu_self_s();
    lg->machine_busy1_s = cpu_machine_busy_s();
    proc_sample(lg->opts.pid, &lg->proc1);
    if (lg->opts.hold_s != 0) {
        sleep_ns(lg->opts.hold_s * 1000000000u);
        proc_sample(lg->opts.pid, &lg->proc_hold);
    }
    if (lg->opts.json) {
        report_json(lg);
    } else {
        report_text(lg);
    }
    status = lg->done > 0 && lg->ok == lg->done && lg->unsent == 0 ? 0 : 3;
out:
    if (lg != NULL) {
        lg_fini(lg);
        cw_free(lg);
    }
    return status;
}
