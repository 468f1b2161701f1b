/*
 * loadgen: an HTTP(S) load generator on the libcurl multi interface, for
 * benchmarking clearwayd (issue 9, and the TLS-against-plain ratio of issue 5).
 *
 *   loadgen --url URL [--concurrency N] [--duration S | --requests N] [--rate R]
 *           [--warmup S] [--method GET|POST] [--body FILE | --body-dir DIR]
 *           [--content-type T] [--cacert F --cert F --key F] [--timeout-ms MS]
 *           [--pid PID] [--hold S] [--realtime] [--json]
 *
 * One easy handle per slot, reused for the whole run, so every slot keeps its
 * connection alive (HTTP/1.1 keep-alive; the connection cache lives in the
 * multi handle and holds one connection per slot). Without --rate the run is
 * a closed loop: a slot starts its next request as soon as the previous one
 * is answered, and latency runs from the start of the request. With --rate
 * the run is an open loop: request i is due at t0 + i/R whether or not the
 * previous ones were answered, and its latency runs from that scheduled time,
 * so a stall of the server shows up in the latencies of every request that
 * should have been sent during it (no coordinated omission). When every slot
 * is busy a due request waits for a slot, and the wait counts.
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
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "util.h"

/* ==== Limits ==== */

#define LG_CONCURRENCY_MAX 10000u       /* slots (connections) */
#define LG_DURATION_MAX_S  3600u        /* one hour */
#define LG_REQUESTS_MAX    1000000000u  /* measured requests */
#define LG_RATE_MAX        1000000u     /* requests per second */
#define LG_BODY_FILES_MAX  1000000u     /* files read from --body-dir */
#define LG_BODY_FILE_MAX   (64u << 20)  /* bytes per body file */
#define LG_BODY_TOTAL_MAX  (512u << 20) /* bytes of all bodies together */
#define LG_TIMEOUT_MS_MAX  600000u      /* per request */
#define LG_PROC_FILE_MAX   8192u        /* bytes read from /proc/PID/{stat,status} */
#define LG_LATE_NS         1000000u     /* open loop: a start this late is counted late */
#define LG_STATUS_MAX      600          /* HTTP status codes counted one by one */

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
} lg_opts_t;

static void usage(FILE *f)
{
    fprintf(f, "usage: loadgen --url URL [--concurrency N] [--duration S | --requests N]\n"
               "               [--rate R] [--warmup S] [--method GET|POST]\n"
               "               [--body FILE | --body-dir DIR] [--content-type T]\n"
               "               [--cacert F] [--cert F] [--key F] [--timeout-ms MS]\n"
               "               [--pid PID] [--hold S] [--realtime] [--json]\n"
               "  --concurrency N  requests in flight and connections (default 1)\n"
               "  --duration S     measured seconds (default 10), or --requests N\n"
               "  --rate R         open loop at R requests/s, latency from the schedule\n"
               "  --warmup S       unmeasured seconds before the measurement (default 0)\n"
               "  --body-dir DIR   POST each file of DIR in turn (sorted by name)\n"
               "  --pid PID        report that process's CPU time and RSS from /proc\n"
               "  --hold S         keep the connections idle S seconds afterwards, then\n"
               "                   report the daemon's RSS and open descriptors\n"
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

typedef struct lg_proc {
    double cpu_s;     /* utime + stime */
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

/* utime and stime are fields 14 and 15; the comm field (2) may hold spaces, so
 * counting starts after its closing parenthesis (proc(5)). */
static int proc_cpu(uint64_t pid, double *cpu_s_out)
{
    char path[64];
    char buf[LG_PROC_FILE_MAX];
    const char *p;
    uint64_t utime;
    uint64_t stime;
    long hz = sysconf(_SC_CLK_TCK);

    (void)snprintf(path, sizeof(path), "/proc/%" PRIu64 "/stat", pid);
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
    *cpu_s_out = (double)(utime + stime) / (double)hz;
    return 0;
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
    if (pid == 0 || proc_cpu(pid, &out->cpu_s) < 0) {
        return;
    }
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

/* ==== The run ==== */

typedef struct lg lg_t;

typedef struct lg_slot {
    lg_t *lg;          /* owner */
    CURL *easy;        /* reused for every request of this slot */
    uint64_t start_ns; /* closed loop: sent; open loop: scheduled */
    int measured;      /* started inside the measured window */
    int in_multi;      /* added to the multi handle */
} lg_slot_t;

struct lg {
    lg_opts_t opts;
    lg_bodies_t bodies;
    CURLM *multi;
    int timer_fd;               /* open loop: wakes the loop when a request is due */
    struct curl_slist *headers; /* shared by every easy handle */
    lg_slot_t *slots;           /* opts.concurrency of them */
    lg_slot_t **idle;           /* stack of slots without a request */
    size_t n_idle;
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
    uint64_t curl_errors[CURL_LAST]; /* per CURLcode */
    uint64_t status[LG_STATUS_MAX];  /* non-2xx per HTTP status */
    uint64_t status_other;           /* non-2xx outside 0..599 */
    uint64_t connects;               /* connections opened (all requests) */
    uint64_t late;                   /* open loop: started over 1 ms after schedule */
    int realtime;                    /* --realtime was granted */
    uint64_t unsent;                 /* open loop: due but never started */
    uint64_t rx_bytes;               /* response bodies, all requests */
    int measuring;                   /* measure_ns has passed and was sampled */
    uint64_t finish_ns;              /* last measured request finished */
    double self_cpu0_s;
    double self_cpu1_s;
    double machine_busy0_s; /* cpu_machine_busy_s() at the measured window's start */
    double machine_busy1_s; /* and at its end */
    lg_proc_t proc0;        /* daemon at the start of the measured window */
    lg_proc_t proc1;        /* and at its end */
    lg_proc_t proc_hold;    /* after --hold */
    lg_hist_t hist;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int easy_ok(CURLcode c, const char *what)
{
    if (c != CURLE_OK) {
        fprintf(stderr, "loadgen: curl_easy_setopt(%s): %s\n", what, curl_easy_strerror(c));
        return -1;
    }
    return 0;
}

static int multi_ok(CURLMcode c, const char *what)
{
    if (c != CURLM_OK) {
        fprintf(stderr, "loadgen: %s: %s\n", what, curl_multi_strerror(c));
        return -1;
    }
    return 0;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *arg)
{
    lg_slot_t *s = arg;

    (void)data;
    s->lg->rx_bytes += size * nmemb;
    return size * nmemb;
}

/* Options that stay the same for every request of a slot. */
static int slot_setup(lg_t *lg, lg_slot_t *s)
{
    const lg_opts_t *o = &lg->opts;
    CURL *e = s->easy;
    int rc = 0;

    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_URL, o->url), "URL"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"), "PROTOCOLS_STR"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L), "FOLLOWLOCATION"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1),
                   "HTTP_VERSION"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L), "NOSIGNAL"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms), "TIMEOUT_MS"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms),
                   "CONNECTTIMEOUT_MS"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write), "WRITEFUNCTION"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_WRITEDATA, s), "WRITEDATA"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_PRIVATE, s), "PRIVATE"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_HTTPHEADER, lg->headers), "HTTPHEADER"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2),
                   "SSLVERSION"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L), "SSL_VERIFYPEER"));
    CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L), "SSL_VERIFYHOST"));
    if (o->cacert != NULL) {
        CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_CAINFO, o->cacert), "CAINFO"));
    }
    if (o->cert != NULL) {
        CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_SSLCERT, o->cert), "SSLCERT"));
    }
    if (o->key != NULL) {
        CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_SSLKEY, o->key), "SSLKEY"));
    }
    if (lg->bodies.n == 0) {
        CW_TRY(easy_ok(curl_easy_setopt(e, CURLOPT_HTTPGET, 1L), "HTTPGET"));
    }
out:
    return rc;
}

/* Starts a request on an idle slot; start_ns is its send or scheduled time. */
static int slot_start(lg_t *lg, uint64_t start_ns)
{
    lg_slot_t *s = lg->idle[--lg->n_idle];
    int rc = 0;

    if (lg->bodies.n > 0) {
        const lg_body_t *b = &lg->bodies.items[lg->next_body++ % lg->bodies.n];

        CW_TRY(easy_ok(curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)b->len),
                       "POSTFIELDSIZE_LARGE"));
        CW_TRY(easy_ok(curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, b->data), "POSTFIELDS"));
    }
    s->start_ns = start_ns;
    s->measured = start_ns >= lg->measure_ns;
    CW_TRY(multi_ok(curl_multi_add_handle(lg->multi, s->easy), "curl_multi_add_handle"));
    s->in_multi = 1;
    if (s->measured) {
        lg->started++;
    }
out:
    if (rc < 0) {
        lg->idle[lg->n_idle++] = s;
    }
    return rc;
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

static int start_due(lg_t *lg, uint64_t now)
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
        if (slot_start(lg, t) < 0) {
            return -1;
        }
    }
    return 0;
}

static void record_done(lg_t *lg, lg_slot_t *s, CURLcode result, uint64_t now)
{
    long code = 0;
    long connects = 0;

    if (curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK) {
        lg->connects += (uint64_t)connects;
    }
    if (!s->measured) {
        return;
    }
    lg->done++;
    lg->finish_ns = now;
    hist_record(&lg->hist, (now - s->start_ns) / 1000u);
    if (result != CURLE_OK) {
        lg->transport_errors++;
        if ((unsigned)result < CURL_LAST) {
            lg->curl_errors[result]++;
        }
        return;
    }
    (void)curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) {
        lg->ok++;
    } else if (code >= 0 && code < LG_STATUS_MAX) {
        lg->status[code]++;
    } else {
        lg->status_other++;
    }
}

static int drain_done(lg_t *lg)
{
    CURLMsg *msg;
    int left;
    uint64_t now = cw_time_mono_ns();

    while ((msg = curl_multi_info_read(lg->multi, &left)) != NULL) {
        char *priv = NULL;
        lg_slot_t *s;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        /* msg is not touched after the handle is removed. */
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || priv == NULL) {
            return -1;
        }
        s = (lg_slot_t *)(void *)priv;
        record_done(lg, s, result, now);
        if (multi_ok(curl_multi_remove_handle(lg->multi, easy), "curl_multi_remove_handle") < 0) {
            return -1;
        }
        s->in_multi = 0;
        lg->idle[lg->n_idle++] = s;
    }
    return 0;
}

/* Waits for curl's sockets and timers and, in an open loop, for the next due
 * request. poll(2) counts in milliseconds, which would start requests up to
 * 1 ms late (or, sleeping in steps, leave answers unread meanwhile), so the
 * due time is a timerfd armed to the nanosecond and handed to curl's poll as
 * one more descriptor. */
static int wait_next(lg_t *lg, uint64_t now)
{
    struct curl_waitfd wfd = { .fd = lg->timer_fd, .events = CURL_WAIT_POLLIN, .revents = 0 };
    unsigned n_extra = 0;

    if (lg->opts.rate != 0 && lg->n_idle > 0 && may_start(lg, lg->sched_ns, now)) {
        struct itimerspec its;

        if (lg->sched_ns <= now) {
            return 0;
        }
        memset(&its, 0, sizeof(its));
        its.it_value.tv_sec = (time_t)(lg->sched_ns / 1000000000u);
        its.it_value.tv_nsec = (long)(lg->sched_ns % 1000000000u);
        if (timerfd_settime(lg->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
            fprintf(stderr, "loadgen: timerfd_settime: %s\n", strerror(errno));
            return -1;
        }
        n_extra = 1;
    }
    if (multi_ok(curl_multi_poll(lg->multi, n_extra ? &wfd : NULL, n_extra, 100, NULL),
                 "curl_multi_poll")
        < 0) {
        return -1;
    }
    if (wfd.revents != 0) {
        uint64_t expirations;

        /* Non-blocking; only clears the readable state. */
        (void)!read(lg->timer_fd, &expirations, sizeof(expirations));
    }
    return 0;
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

static int run_loop(lg_t *lg)
{
    int running = 0;

    for (;;) {
        uint64_t now;

        if (multi_ok(curl_multi_perform(lg->multi, &running), "curl_multi_perform") < 0
            || drain_done(lg) < 0) {
            return -1;
        }
        now = cw_time_mono_ns();
        mark_measure_start(lg, now);
        /* A new handle sets curl's timer to 0, so the poll below returns at once. */
        if (start_due(lg, now) < 0) {
            return -1;
        }
        if (lg->n_idle == lg->opts.concurrency
            && !may_start(lg, lg->opts.rate != 0 ? lg->sched_ns : now, now)) {
            break;
        }
        if (wait_next(lg, now) < 0) {
            return -1;
        }
    }
    if (lg->opts.rate != 0 && !stop_requested) {
        if (lg->opts.requests != 0 && lg->started < lg->opts.requests) {
            lg->unsent = lg->opts.requests - lg->started;
        } else if (lg->opts.duration_s != 0 && lg->sched_ns < lg->end_ns) {
            lg->unsent = (lg->end_ns - lg->sched_ns + lg->interval_ns - 1) / lg->interval_ns;
        }
    }
    return 0;
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

static int lg_init(lg_t *lg)
{
    const lg_opts_t *o = &lg->opts;
    struct curl_slist *h;
    char ct[256];
    int rc = 0;

    if (o->body_file != NULL && bodies_add_file(&lg->bodies, o->body_file) < 0) {
        return -1;
    }
    if (o->body_dir != NULL && bodies_load_dir(&lg->bodies, o->body_dir) < 0) {
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
    lg->multi = curl_multi_init();
    lg->slots = cw_calloc(o->concurrency, sizeof(*lg->slots));
    lg->idle = cw_calloc(o->concurrency, sizeof(*lg->idle));
    if (lg->multi == NULL || lg->slots == NULL || lg->idle == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        return -1;
    }
    /* One cached connection per slot: more would be closed as idle extras. */
    CW_TRY(multi_ok(curl_multi_setopt(lg->multi, CURLMOPT_MAXCONNECTS, (long)o->concurrency),
                    "CURLMOPT_MAXCONNECTS"));
    CW_TRY(multi_ok(curl_multi_setopt(lg->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING),
                    "CURLMOPT_PIPELINING"));
    if (lg->bodies.n > 0) {
        (void)snprintf(ct, sizeof(ct), "Content-Type: %s", o->content_type);
        /* curl 7.88 sends Expect: 100-continue above 1 KiB, costing a round trip. */
        const char *hdrs[] = { ct, "Expect:" };

        for (size_t i = 0; i < CW_ARRAY_SIZE(hdrs); i++) {
            h = curl_slist_append(lg->headers, hdrs[i]);
            if (h == NULL) {
                return -1;
            }
            lg->headers = h;
        }
    }
    for (size_t i = 0; i < o->concurrency; i++) {
        lg_slot_t *s = &lg->slots[i];

        s->lg = lg;
        s->easy = curl_easy_init();
        if (s->easy == NULL) {
            fprintf(stderr, "loadgen: curl_easy_init failed\n");
            return -1;
        }
        CW_TRY(slot_setup(lg, s));
        lg->idle[lg->n_idle++] = s;
    }
out:
    return rc;
}

static void lg_fini(lg_t *lg)
{
    if (lg->slots != NULL) {
        for (size_t i = 0; i < lg->opts.concurrency; i++) {
            lg_slot_t *s = &lg->slots[i];

            if (s->in_multi) {
                (void)curl_multi_remove_handle(lg->multi, s->easy);
            }
            if (s->easy != NULL) {
                curl_easy_cleanup(s->easy);
            }
        }
    }
    if (lg->multi != NULL) {
        (void)curl_multi_cleanup(lg->multi);
    }
    if (lg->timer_fd >= 0) {
        (void)close(lg->timer_fd);
    }
    curl_slist_free_all(lg->headers);
    cw_free(lg->slots);
    cw_free(lg->idle);
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
    printf("},\"curl_errors\":{");
    sep = "";
    for (int i = 0; i < CURL_LAST; i++) {
        if (lg->curl_errors[i] != 0) {
            printf("%s", sep);
            json_str(curl_easy_strerror((CURLcode)i));
            printf(":%" PRIu64, lg->curl_errors[i]);
            sep = ",";
        }
    }
    printf("},\"status_other\":%" PRIu64 ",\"late\":%" PRIu64 ",\"unsent\":%" PRIu64
           ",\"realtime\":%d,\"connections\":%" PRIu64 ",\"elapsed_s\":%.3f,\"rps\":%.1f",
           lg->status_other, lg->late, lg->unsent, lg->realtime, lg->connects, el,
           el > 0 ? (double)lg->done / el : 0.0);
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
    for (int i = 0; i < CURL_LAST; i++) {
        if (lg->curl_errors[i] != 0) {
            printf(" [%s: %" PRIu64 "]", curl_easy_strerror((CURLcode)i), lg->curl_errors[i]);
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
    int curl_inited = 0;
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
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        goto out;
    }
    curl_inited = 1;
    if (lg_init(lg) < 0) {
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
    if (curl_inited) {
        curl_global_cleanup();
    }
    return status;
}
