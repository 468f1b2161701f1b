/*
 * bench_store: intake rate of the SQLite store with group commit against one
 * commit per message, through the public asynchronous interface on a real
 * loop, with synchronous=FULL (a callback means the WAL was fsynced).
 *
 *   bench_store [--count N] [--window W] [--group G] [--payload BYTES] [--dir DIR]
 *   bench_store --purge P --ledger N [--payload BYTES] [--dir DIR]
 *
 * Each message is a QUEUED put (message row, history row, delivery row) with
 * BYTES of evidence (2048), BYTES/2 of receipt and BYTES of outgoing envelope. At most
 * W puts are outstanding, as W concurrent senders would keep them.
 *
 * --purge: the retention purge. N messages, each with its fact in the
 * ledger (unique keys), of which P are queued, delivered and then purged in
 * batches of 500 as the daemon's retention does; prints the purge's time
 * per message. Run with two N to see whether it grows with the ledger.
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
    int with_fact;        /* each put records a fact */
    uint64_t queued;      /* puts below this index are QUEUED, the rest RECEIVED */
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

/* A fact with keys of its own for message n (the checks' lookups each
 * find nothing but it). */
static void fact_fill(cw_store_fact_t *f, char keys[6][32], uint64_t n)
{
    static const char *const prefix[6] = { "c-", "b-", "s-", "k-", "o-", "t-" };
    int i;

    for (i = 0; i < 6; i++) {
        (void)snprintf(keys[i], sizeof(keys[i]), "%s%" PRIu64, prefix[i], n);
    }
    memset(f, 0, sizeof(*f));
    f->consignment_id = keys[0];
    f->sender = "platform-a";
    f->buyer_key = keys[1];
    f->seller_key = keys[2];
    f->business_key = keys[3];
    f->order_number = keys[4];
    f->transport_doc = keys[5];
    f->destination = "DE";
    f->currency = "EUR";
    f->value_minor = 2500;
    f->date = 20786;
    f->lane = "green";
    f->codes = "LOW-001";
    f->collection = "ioss";
    f->tax_minor = 475;
}

static void issue(bench_t *b)
{
    cw_store_msg_t m;
    cw_store_fact_t f;
    char keys[6][32];
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
        m.state = CW_STORE_STATE_RECEIVED;
        if (b->issued < b->queued) {
            m.state = CW_STORE_STATE_QUEUED;
            m.route = "to-customs";
            m.outgoing = b->outgoing;
            m.outgoing_len = b->payload_bytes;
        }
        m.created_at_ms = cw_store_clock_ms();
        m.next_attempt_at_ms = m.created_at_ms;
        if (b->with_fact) {
            fact_fill(&f, keys, b->issued);
            m.fact = &f;
        }
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

/* Removes the store's files at path: the database, its WAL, shm and lock. */
static void store_files_remove(const char *path)
{
    char side[1100];

    (void)unlink(path);
    (void)snprintf(side, sizeof(side), "%s-wal", path);
    (void)unlink(side);
    (void)snprintf(side, sizeof(side), "%s-shm", path);
    (void)unlink(side);
    (void)snprintf(side, sizeof(side), "%s-lock", path);
    (void)unlink(side);
}

/* A fresh store at path on a new loop, and b's payload buffers. */
static void
bench_open(bench_t *b, uv_loop_t *loop, const char *path, uint32_t group_max, size_t payload_bytes)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_error_t err;

    store_files_remove(path);
    if (uv_loop_init(loop) != 0) {
        exit(1);
    }
    memset(b, 0, sizeof(*b));
    b->payload_bytes = payload_bytes;
    b->evidence = cw_malloc(payload_bytes);
    b->receipt = cw_malloc(payload_bytes / 2 + 1);
    b->outgoing = cw_malloc(payload_bytes);
    if (b->evidence == NULL || b->receipt == NULL || b->outgoing == NULL) {
        exit(1);
    }
    memset(b->evidence, 'e', payload_bytes);
    memset(b->receipt, 'r', payload_bytes / 2 + 1);
    memset(b->outgoing, 'o', payload_bytes);
    opts.path = path;
    opts.group_max = group_max;
    if (cw_store_open(&b->store, loop, &opts, &err) != 0) {
        fprintf(stderr, "bench_store: %s\n", err.msg);
        exit(1);
    }
    b->loop = loop;
}

/* Closes b's store and loop, frees its buffers, removes the files. */
static void bench_close(bench_t *b, const char *path)
{
    closed = 0;
    cw_store_close(b->store, on_closed, NULL);
    while (!closed) {
        (void)uv_run(b->loop, UV_RUN_ONCE);
    }
    (void)uv_loop_close(b->loop);
    store_files_remove(path);
    cw_free(b->evidence);
    cw_free(b->receipt);
    cw_free(b->outgoing);
}

/* Runs one configuration; returns messages per second. */
static double
run(const char *dir, uint32_t group_max, uint64_t count, uint64_t window, size_t payload_bytes)
{
    cw_store_stats_t stats;
    static bench_t b;
    char path[1024];
    uv_loop_t loop;
    uint64_t t0;
    uint64_t t1;
    double rate;

    (void)snprintf(path, sizeof(path), "%s/bench-store-%u.db", dir, (unsigned)group_max);
    bench_open(&b, &loop, path, group_max, payload_bytes);
    b.count = count;
    b.queued = count;
    b.window = window;
    t0 = cw_time_mono_ns();
    issue(&b);
    while (b.done < b.count) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    t1 = cw_time_mono_ns();
    cw_store_stats_get(b.store, &stats);
    bench_close(&b, path);
    rate = (double)count / ((double)(t1 - t0) / 1e9);
    printf("group_max %4u: %8" PRIu64 " messages in %7.3f s = %9.0f messages/s, "
           "%" PRIu64 " transactions (%.1f messages each), %" PRIu64 " errors\n",
           (unsigned)group_max, count, (double)(t1 - t0) / 1e9, rate, stats.transactions,
           stats.transactions > 0 ? (double)stats.writes / (double)stats.transactions : 0.0,
           b.errors);
    return rate;
}

typedef struct deliver {
    cw_store_t *store; /* the store under test */
    int claim_done;    /* the last claim answered */
    uint64_t claimed;  /* deliveries the last claim returned */
    uint64_t recorded; /* records answered */
    uint64_t failed;   /* claims or records that failed */
    int purge_done;    /* the purge answered */
    int purge_status;  /* its status */
    uint64_t purged;   /* messages it deleted */
} deliver_t;

static void on_recorded(int status, void *arg)
{
    deliver_t *d = arg;

    d->recorded++;
    if (status != 0) {
        d->failed++;
    }
}

/* Records every claimed delivery as delivered, as a receipt would. */
static void on_claimed(int status, const cw_store_claimed_t *c, void *arg)
{
    deliver_t *d = arg;
    cw_store_attempt_t a;
    size_t i;

    d->claim_done = 1;
    d->claimed = 0;
    if (status != 0) {
        d->failed++;
        return;
    }
    for (i = 0; i < c->count; i++) {
        memset(&a, 0, sizeof(a));
        a.delivery_id = c->items[i].id;
        a.owner = "bench";
        a.outcome = CW_STORE_OUTCOME_DELIVERED;
        a.at_ms = cw_store_clock_ms();
        a.http_status = 200;
        a.receipt = "receipt";
        a.receipt_len = 7;
        if (cw_store_delivery_record(d->store, &a, on_recorded, d) != 0) {
            fprintf(stderr, "bench_store: record refused\n");
            exit(1);
        }
        d->claimed++;
    }
}

static void on_purged(int status, uint64_t purged, void *arg)
{
    deliver_t *d = arg;

    d->purge_done = 1;
    d->purge_status = status;
    d->purged = purged;
}

/* The retention purge of `purge` delivered messages out of a ledger of
 * `ledger` messages with facts; returns microseconds per message purged. */
static double run_purge(const char *dir, uint64_t ledger, uint64_t purge, size_t payload_bytes)
{
    cw_store_options_t defaults = CW_STORE_OPTIONS_INIT;
    cw_store_claim_t claim;
    static bench_t b;
    deliver_t d;
    char path[1024];
    uv_loop_t loop;
    uint64_t t0;
    uint64_t t1;
    uint64_t want;
    double us;

    (void)snprintf(path, sizeof(path), "%s/bench-store-purge.db", dir);
    bench_open(&b, &loop, path, defaults.group_max, payload_bytes);
    b.count = ledger;
    b.queued = purge;
    b.window = 256;
    b.with_fact = 1;
    t0 = cw_time_mono_ns();
    issue(&b);
    while (b.done < b.count) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    t1 = cw_time_mono_ns();
    printf("ledger: %" PRIu64 " messages with their facts in %.3f s, %" PRIu64 " errors\n", ledger,
           (double)(t1 - t0) / 1e9, b.errors);

    memset(&d, 0, sizeof(d));
    d.store = b.store;
    do {
        memset(&claim, 0, sizeof(claim));
        claim.owner = "bench";
        claim.limit = 256;
        claim.now_ms = cw_store_clock_ms();
        claim.lease_ms = 60000;
        d.claim_done = 0;
        if (cw_store_delivery_claim(b.store, &claim, on_claimed, &d) != 0) {
            exit(1);
        }
        while (!d.claim_done) {
            (void)uv_run(&loop, UV_RUN_ONCE);
        }
        want = d.recorded + d.claimed;
        while (d.recorded < want) {
            (void)uv_run(&loop, UV_RUN_ONCE);
        }
    } while (d.claimed > 0 && d.failed == 0);

    /* Everything delivered so far is older than a second from now. */
    t0 = cw_time_mono_ns();
    if (cw_store_msg_purge(b.store, cw_store_clock_ms() + 1000, 500, on_purged, &d) != 0) {
        exit(1);
    }
    while (!d.purge_done) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    t1 = cw_time_mono_ns();
    us = d.purged > 0 ? (double)(t1 - t0) / 1e3 / (double)d.purged : 0.0;
    printf("purge: %" PRIu64 " delivered messages of %" PRIu64
           " (each with its fact) in %.3f s = %.1f us per message, batches of 500, "
           "status %d, %" PRIu64 " errors\n",
           d.purged, ledger, (double)(t1 - t0) / 1e9, us, d.purge_status, d.failed);
    bench_close(&b, path);
    if (d.purge_status != 0 || d.purged != purge || d.failed != 0 || b.errors != 0) {
        fprintf(stderr, "bench_store: purged %" PRIu64 " of %" PRIu64 "\n", d.purged, purge);
        exit(1);
    }
    return us;
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
    uint64_t purge = 0;
    uint64_t ledger = 0;
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
        } else if (strcmp(argv[i], "--purge") == 0 && i + 1 < argc) {
            purge = arg_uint(argv[++i], 10000000);
        } else if (strcmp(argv[i], "--ledger") == 0 && i + 1 < argc) {
            ledger = arg_uint(argv[++i], 100000000);
        } else {
            fprintf(stderr, "usage: bench_store [--count N] [--window W] [--group G] "
                            "[--payload BYTES] [--dir D]\n"
                            "       bench_store --purge P --ledger N [--payload BYTES] "
                            "[--dir D]\n");
            return 2;
        }
    }
    if (purge > 0) {
        if (ledger < purge) {
            fprintf(stderr, "bench_store: --ledger must be at least --purge\n");
            return 2;
        }
        printf("bench_store: retention purge, synchronous=FULL, in %s\n", dir);
        (void)run_purge(dir, ledger, purge, (size_t)payload);
        return 0;
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
