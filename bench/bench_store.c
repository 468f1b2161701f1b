/*
 * bench_store: intake rate of the SQLite store with group commit against one
 * commit per message, through the public asynchronous interface on a real
 * loop, with synchronous=FULL (a callback means the WAL was fsynced).
 *
 *   bench_store [--count N] [--window W] [--group G] [--payload BYTES] [--dir DIR]
 *
 * Each message is a QUEUED put (message row, history row, delivery row) with
 * BYTES of evidence (2048), BYTES/2 of receipt and BYTES of outgoing envelope. At most
 * W puts are outstanding, as W concurrent senders would keep them.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "store.h"
#include "util.h"

typedef struct bench {
    uv_loop_t *loop;      /* the loop */
    cw_store_t *store;    /* the store under test */
    uint64_t count;       /* puts to make */
    uint64_t issued;      /* puts submitted */
    uint64_t done;        /* puts completed */
    uint64_t window;      /* outstanding puts allowed */
    uint64_t errors;      /* puts that failed */
    char *evidence;       /* received bytes, payload_bytes long */
    char *receipt;        /* receipt bytes, half as long */
    char *outgoing;       /* sealed envelope, payload_bytes long */
    size_t payload_bytes; /* size of evidence and outgoing */
} bench_t;

static void issue(bench_t *b);

static void on_put(int status, const cw_store_put_result_t *res, void *arg)
{
    bench_t *b = arg;

    (void)res;
    b->done++;
    if (status != 0) {
        b->errors++;
    }
    issue(b);
}

static void issue(bench_t *b)
{
    cw_store_msg_t m;
    char id[32];

    while (b->issued < b->count && b->issued - b->done < b->window) {
        memset(&m, 0, sizeof(m));
        (void)snprintf(id, sizeof(id), "bench-%" PRIu64, b->issued);
        m.from = "platform-a";
        m.message_id = id;
        memcpy(m.digest_sha256, &b->issued, sizeof(b->issued));
        m.to = "customs-b";
        m.service = "consignment";
        m.action = "submit";
        m.received = b->evidence;
        m.received_len = b->payload_bytes;
        m.receipt = b->receipt;
        m.receipt_len = b->payload_bytes / 2;
        m.state = CW_STORE_STATE_QUEUED;
        m.route = "to-customs";
        m.outgoing = b->outgoing;
        m.outgoing_len = b->payload_bytes;
        m.created_at_ms = cw_store_clock_ms();
        m.next_attempt_at_ms = m.created_at_ms;
        if (cw_store_msg_put(b->store, &m, on_put, b) != 0) {
            fprintf(stderr, "bench_store: put refused\n");
            exit(1);
        }
        b->issued++;
    }
}

static int closed;

static void on_closed(void *arg)
{
    (void)arg;
    closed = 1;
}

/* Runs one configuration; returns messages per second. */
static double
run(const char *dir, uint32_t group_max, uint64_t count, uint64_t window, size_t payload_bytes)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_stats_t stats;
    static bench_t b;
    char path[1024];
    char side[1100];
    cw_error_t err;
    uv_loop_t loop;
    uint64_t t0;
    uint64_t t1;
    double rate;

    (void)snprintf(path, sizeof(path), "%s/bench-store-%u.db", dir, (unsigned)group_max);
    (void)unlink(path);
    (void)snprintf(side, sizeof(side), "%s-wal", path);
    (void)unlink(side);
    (void)snprintf(side, sizeof(side), "%s-shm", path);
    (void)unlink(side);
    if (uv_loop_init(&loop) != 0) {
        exit(1);
    }
    memset(&b, 0, sizeof(b));
    b.payload_bytes = payload_bytes;
    b.evidence = cw_malloc(payload_bytes);
    b.receipt = cw_malloc(payload_bytes / 2 + 1);
    b.outgoing = cw_malloc(payload_bytes);
    if (b.evidence == NULL || b.receipt == NULL || b.outgoing == NULL) {
        exit(1);
    }
    memset(b.evidence, 'e', payload_bytes);
    memset(b.receipt, 'r', payload_bytes / 2 + 1);
    memset(b.outgoing, 'o', payload_bytes);
    opts.path = path;
    opts.group_max = group_max;
    if (cw_store_open(&b.store, &loop, &opts, &err) != 0) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        exit(1);
    }
    b.loop = &loop;
    b.count = count;
    b.window = window;
    t0 = cw_time_mono_ns();
    issue(&b);
    while (b.done < b.count) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    t1 = cw_time_mono_ns();
    cw_store_stats_get(b.store, &stats);
    closed = 0;
    cw_store_close(b.store, on_closed, NULL);
    while (!closed) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    (void)uv_loop_close(&loop);
    rate = (double)count / ((double)(t1 - t0) / 1e9);
    printf("group_max %4u: %8" PRIu64 " messages in %7.3f s = %9.0f messages/s, "
           "%" PRIu64 " transactions (%.1f messages each), %" PRIu64 " errors\n",
           (unsigned)group_max, count, (double)(t1 - t0) / 1e9, rate, stats.transactions,
           stats.transactions > 0 ? (double)stats.writes / (double)stats.transactions : 0.0,
           b.errors);
    (void)unlink(path);
    cw_free(b.evidence);
    cw_free(b.receipt);
    cw_free(b.outgoing);
    return rate;
}

static uint64_t arg_uint(const char *s, uint64_t max)
{
    uint64_t v = 0;

    if (s == NULL || cw_parse_uint(s, 1, max, &v) != 0) {
        fprintf(stderr, "bench_store: bad number\n");
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    const char *dir = ".";
    uint64_t count = 20000;
    uint64_t window = 256;
    uint64_t group = 64;
    uint64_t payload = 2048;
    double grouped;
    double single;
    int i;

    cw_log_set_level(CW_LOG_WARN);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = arg_uint(argv[++i], 10000000);
        } else if (strcmp(argv[i], "--window") == 0 && i + 1 < argc) {
            window = arg_uint(argv[++i], 100000);
        } else if (strcmp(argv[i], "--group") == 0 && i + 1 < argc) {
            group = arg_uint(argv[++i], 4096);
        } else if (strcmp(argv[i], "--payload") == 0 && i + 1 < argc) {
            payload = arg_uint(argv[++i], 1 << 20);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_store [--count N] [--window W] [--group G] "
                            "[--payload BYTES] [--dir D]\n");
            return 2;
        }
    }
    printf("bench_store: %" PRIu64 " QUEUED puts (%" PRIu64 " B evidence + %" PRIu64
           " B outgoing + %" PRIu64 " B receipt), %" PRIu64
           " outstanding, synchronous=FULL, in %s\n",
           count, payload, payload, payload / 2, window, dir);
    grouped = run(dir, (uint32_t)group, count, window, (size_t)payload);
    single = run(dir, 1, count, window, (size_t)payload);
    printf("group commit / one commit per message: %.1fx\n", grouped / single);
    return 0;
}
