/*
 * store: the PostgreSQL backend through the public interface, on a real loop
 * and a real PostgreSQL server: opening (migration, foreign and newer
 * databases, an unreachable one), dedupe, get with history, paging, retry,
 * purge, claims shared by two nodes on one database, leases that expire,
 * outcomes, the ledger (both read paths) and its statistics, the commit
 * fault, durability across reopen and the drain on close.
 *
 * The server comes from the ctest fixture (scripts/pg-test-cluster), which
 * writes its URL to the file named by CW_TEST_PG_URL_FILE; CW_TEST_PG_URL
 * may give it directly. Without either the suite fails: the fixture always
 * provides one. Each test gets a database of its own, created from the
 * URL's database and dropped WITH (FORCE) after it.
 *
 * Callbacks only copy what they are given; every assertion runs outside the
 * loop, and every wait has a deadline, so a failure never leaves the loop
 * half-run or the suite hanging.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "store.h"

#define URL_SIZE   1024
#define WAIT_MS    20000 /* longest wait for one callback */
#define STORES_MAX 4     /* stores one test has open at once */
#define KEEP_MAX   64    /* claimed deliveries one claim_res_t keeps */

static uv_loop_t loop;
static uv_timer_t wait_timer;
static int wait_expired;
static char base_url[URL_SIZE]; /* the fixture's: the maintenance database */
static char db_name[64];        /* this test's database */
static char db_url[URL_SIZE];   /* and its URL */
static int db_seq;
static cw_store_t *open_stores[STORES_MAX];

/* ==== The server and the test's database ==== */

/*
 * Writes to out the URL url with its database replaced by db: the path after
 * the authority (postgresql://[userspec@][hostspec][/dbname][?paramspec])
 * becomes "/db", and a dbname= parameter, which libpq would let override the
 * path, is dropped. 0, or -1 when url is not a PostgreSQL URL or out is too
 * small.
 */
static int url_with_db(char *out, size_t size, const char *url, const char *db)
{
    const char *auth;
    const char *auth_end;
    const char *q;
    const char *p;
    size_t used;
    int first = 1;
    int n;

    if (strncmp(url, "postgresql://", 13) == 0) {
        auth = url + 13;
    } else if (strncmp(url, "postgres://", 11) == 0) {
        auth = url + 11;
    } else {
        return -1;
    }
    auth_end = auth + strcspn(auth, "/?");
    q = auth_end + strcspn(auth_end, "?");
    n = snprintf(out, size, "%.*s/%s", (int)(auth_end - url), url, db);
    if (n < 0 || (size_t)n >= size) {
        return -1;
    }
    used = (size_t)n;
    for (p = *q == '?' ? q + 1 : q; *p != '\0';) {
        size_t len = strcspn(p, "&");

        if (len > 0 && strncmp(p, "dbname=", 7) != 0) {
            n = snprintf(out + used, size - used, "%c%.*s", first ? '?' : '&', (int)len, p);
            if (n < 0 || (size_t)n >= size - used) {
                return -1;
            }
            used += (size_t)n;
            first = 0;
        }
        p += len;
        if (*p == '&') {
            p++;
        }
    }
    return 0;
}

/* Reads the server's URL into base_url: 0, or -1 with why. */
static int url_load(char *why, size_t why_size)
{
    const char *file = getenv("CW_TEST_PG_URL_FILE");
    const char *direct = getenv("CW_TEST_PG_URL");
    size_t n;
    FILE *f;

    if (file != NULL && file[0] != '\0') {
        f = fopen(file, "r");
        if (f == NULL) {
            (void)snprintf(why, why_size,
                           "CW_TEST_PG_URL_FILE=%s: %s (did the pg_cluster_start fixture run?)",
                           file, strerror(errno));
            return -1;
        }
        n = fread(base_url, 1, sizeof(base_url) - 1, f);
        (void)fclose(f);
        base_url[n] = '\0';
        base_url[strcspn(base_url, "\r\n")] = '\0';
    } else if (direct != NULL && direct[0] != '\0') {
        (void)snprintf(base_url, sizeof(base_url), "%s", direct);
    } else {
        (void)snprintf(why, why_size,
                       "no PostgreSQL to test against: neither CW_TEST_PG_URL_FILE (written by "
                       "the ctest fixture scripts/pg-test-cluster) nor CW_TEST_PG_URL is set");
        return -1;
    }
    if (strncmp(base_url, "postgres://", 11) != 0 && strncmp(base_url, "postgresql://", 13) != 0) {
        (void)snprintf(why, why_size, "not a PostgreSQL URL: \"%.200s\"", base_url);
        return -1;
    }
    return 0;
}

/* Runs sql on the database at url: 0, or -1 with the server's message. */
static int sql_try(const char *url, const char *sql, char *why, size_t why_size)
{
    PGconn *conn = PQconnectdb(url);
    PGresult *res = NULL;
    int rc = -1;

    if (PQstatus(conn) != CONNECTION_OK) {
        (void)snprintf(why, why_size, "connect %s: %s", url, PQerrorMessage(conn));
        goto out;
    }
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        (void)snprintf(why, why_size, "%s: %s", sql, PQerrorMessage(conn));
        goto out;
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(conn);
    return rc;
}

/* Runs sql on the test's database; the test fails if it fails. */
static void sql_run(const char *sql)
{
    char why[512];

    if (sql_try(db_url, sql, why, sizeof(why)) < 0) {
        fail_msg("%s", why);
    }
}

/* The first column of the first row of sql on the test's database. */
static int64_t sql_int(const char *sql)
{
    PGconn *conn = PQconnectdb(db_url);
    PGresult *res = NULL;
    char why[512] = "";
    int64_t v = 0;

    if (PQstatus(conn) != CONNECTION_OK) {
        (void)snprintf(why, sizeof(why), "connect: %s", PQerrorMessage(conn));
    } else {
        res = PQexec(conn, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            (void)snprintf(why, sizeof(why), "%s: %s", sql, PQerrorMessage(conn));
        } else {
            v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        }
    }
    PQclear(res);
    PQfinish(conn);
    if (why[0] != '\0') {
        fail_msg("%s", why);
    }
    return v;
}

/* ==== The loop ==== */

static void on_wait_timer(uv_timer_t *t)
{
    (void)t;
    wait_expired = 1;
}

/* Runs the loop until *count reaches n or ms pass; returns whether it did. */
static int wait_count(const int *count, int n, uint64_t ms)
{
    wait_expired = 0;
    if (uv_timer_start(&wait_timer, on_wait_timer, ms, 0) != 0) {
        return 0;
    }
    while (*count < n && !wait_expired) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    (void)uv_timer_stop(&wait_timer);
    return *count >= n;
}

static void run_until_count(const int *count, int n)
{
    if (!wait_count(count, n, WAIT_MS)) {
        fail_msg("the store called back %d of %d times in %d ms", *count, n, WAIT_MS);
    }
}

static void run_until(const int *flag)
{
    run_until_count(flag, 1);
}

/* ==== Opening and closing ==== */

static void on_closed(void *arg)
{
    int *flag = arg;

    *flag = 1;
}

static void stores_forget(cw_store_t *store)
{
    for (size_t i = 0; i < STORES_MAX; i++) {
        if (open_stores[i] == store) {
            open_stores[i] = NULL;
        }
    }
}

static void stores_remember(cw_store_t *store)
{
    for (size_t i = 0; i < STORES_MAX; i++) {
        if (open_stores[i] == NULL) {
            open_stores[i] = store;
            return;
        }
    }
    fail_msg("more than %d stores open", STORES_MAX);
}

/* cw_store_open on url; returns its code, the store (remembered) in *out. */
static int store_try(const char *url, cw_store_t **out, cw_error_t *err)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    int rc;

    cw_error_clear(err);
    opts.path = url;
    rc = cw_store_open(out, &loop, &opts, err);
    if (rc == 0 && *out != NULL) {
        stores_remember(*out);
    }
    return rc;
}

static cw_store_t *store_open(void)
{
    cw_store_t *store = NULL;
    cw_error_t err;

    if (store_try(db_url, &store, &err) != 0) {
        fail_msg("open %s: %s", db_url, err.msg);
    }
    assert_non_null(store);
    return store;
}

static void store_close(cw_store_t *store)
{
    int closed = 0;

    stores_forget(store);
    cw_store_close(store, on_closed, &closed);
    run_until(&closed);
}

/* ==== Fixtures ==== */

static int setup(void **state)
{
    char why[768];
    char sql[128];

    (void)state;
    memset(open_stores, 0, sizeof(open_stores));
    if (url_load(why, sizeof(why)) < 0) {
        print_error("test_pg: %s\n", why);
        return -1;
    }
    (void)snprintf(db_name, sizeof(db_name), "cw_t_%ld_%d", (long)getpid(), ++db_seq);
    if (url_with_db(db_url, sizeof(db_url), base_url, db_name) < 0) {
        print_error("test_pg: cannot make a database URL from \"%s\"\n", base_url);
        return -1;
    }
    (void)snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_name);
    if (sql_try(base_url, sql, why, sizeof(why)) < 0) {
        print_error("test_pg: %s\n", why);
        return -1;
    }
    if (uv_loop_init(&loop) != 0 || uv_timer_init(&loop, &wait_timer) != 0) {
        return -1;
    }
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
}

static int teardown(void **state)
{
    char why[512];
    char sql[160];
    int rc = 0;

    (void)state;
    /* A failed test may have left stores open: close them, or give up on
     * the loop (and leak) rather than hang. */
    for (size_t i = 0; i < STORES_MAX; i++) {
        int closed = 0;

        if (open_stores[i] == NULL) {
            continue;
        }
        cw_store_close(open_stores[i], on_closed, &closed);
        open_stores[i] = NULL;
        if (!wait_count(&closed, 1, WAIT_MS)) {
            print_error("test_pg: a store did not close in %d ms\n", WAIT_MS);
            rc = -1;
        }
    }
    uv_close((uv_handle_t *)&wait_timer, on_timer_closed);
    for (int i = 0; i < 100 && uv_loop_alive(&loop); i++) {
        (void)uv_run(&loop, UV_RUN_NOWAIT);
    }
    if (rc == 0 && uv_loop_close(&loop) != 0) {
        print_error("test_pg: the loop still has handles\n");
        rc = -1;
    }
    (void)snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    if (sql_try(base_url, sql, why, sizeof(why)) < 0) {
        print_error("test_pg: %s\n", why);
        rc = -1;
    }
    return rc;
}

/* ==== Copies of what the store hands a callback ==== */

/* Copies the string src ("<null>" for NULL, so that a NULL never passes
 * for ""). */
static void keep_str(char *dst, size_t cap, const char *src)
{
    (void)snprintf(dst, cap, "%s", src == NULL ? "<null>" : src);
}

/* Copies len bytes of src, NUL-terminated; returns len (kept or not, so a
 * length check fails when they did not fit). */
static size_t keep_bytes(char *dst, size_t cap, const char *src, size_t len)
{
    size_t n = len < cap - 1 ? len : cap - 1;

    if (n > 0 && src != NULL) {
        memcpy(dst, src, n);
    } else {
        n = 0;
    }
    dst[n] = '\0';
    return len;
}

/* ==== Messages ==== */

static const char envelope[] = "<Envelope>sealed</Envelope>";

/* A RECEIVED message from platform-a to customs-b, created at 1000. */
static void msg_fill(cw_store_msg_t *m, const char *id, int digest_byte, const char *receipt)
{
    memset(m, 0, sizeof(*m));
    m->from = "platform-a";
    m->message_id = id;
    memset(m->digest_sha256, digest_byte, sizeof(m->digest_sha256));
    m->to = "customs-b";
    m->service = "consignment";
    m->action = "submit";
    m->conversation_id = "conv-1";
    m->timestamp = "2026-11-29T10:00:00Z";
    m->received = "<Envelope>in</Envelope>";
    m->received_len = strlen(m->received);
    m->receipt = receipt;
    m->receipt_len = strlen(receipt);
    m->state = CW_STORE_STATE_RECEIVED;
    m->created_at_ms = 1000;
}

/* Makes m QUEUED on route, due (and created) at at_ms. */
static void msg_queue(cw_store_msg_t *m, const char *route, int64_t at_ms)
{
    m->state = CW_STORE_STATE_QUEUED;
    m->route = route;
    m->outgoing = envelope;
    m->outgoing_len = strlen(envelope);
    m->next_attempt_at_ms = at_ms;
    m->created_at_ms = at_ms;
}

typedef struct put_res {
    int done;
    int status;
    int res_null; /* the result pointer was NULL */
    cw_store_put_e kind;
    int64_t msg_row;
    cw_store_state_e state;
    char receipt[64];
    size_t receipt_len;
} put_res_t;

static void on_put(int status, const cw_store_put_result_t *res, void *arg)
{
    put_res_t *r = arg;

    r->status = status;
    r->res_null = res == NULL;
    if (res != NULL) {
        r->kind = res->kind;
        r->msg_row = res->msg_row;
        r->state = res->state;
        r->receipt_len = keep_bytes(r->receipt, sizeof(r->receipt), res->receipt, res->receipt_len);
    }
    r->done++;
}

static put_res_t put_on(cw_store_t *store, const cw_store_msg_t *m)
{
    put_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_put(store, m, on_put, &r), 0);
    run_until(&r.done);
    return r;
}

/* Puts m and expects it stored as a new message. */
static void put_new(cw_store_t *store, const cw_store_msg_t *m)
{
    put_res_t r = put_on(store, m);

    if (r.status != 0 || r.kind != CW_STORE_PUT_NEW) {
        fail_msg("put %s: status %d kind %d", m->message_id, r.status, (int)r.kind);
    }
}

typedef struct hist_keep {
    cw_store_state_e state;
    int64_t at_ms;
    char note[64];
} hist_keep_t;

typedef struct get_res {
    int done;
    int status;
    int info_null;
    int64_t row;
    char from[32];
    char message_id[32];
    char to[32];
    char service[32];
    char action[32];
    char conversation_id[32];
    char timestamp[32];
    uint8_t digest[CW_STORE_DIGEST_BYTES];
    cw_store_state_e state;
    char problem[32];
    char route[32];
    uint32_t attempts;
    char last_error[64];
    int64_t created_at_ms;
    int64_t updated_at_ms;
    int64_t next_attempt_at_ms;
    char receipt_given[64];
    size_t receipt_given_len;
    char receipt_received[64];
    size_t receipt_received_len;
    char received[64];
    size_t received_len;
    size_t history_count;
    hist_keep_t history[8];
} get_res_t;

static void on_get(int status, const cw_store_msg_info_t *info, void *arg)
{
    get_res_t *r = arg;

    r->status = status;
    r->info_null = info == NULL;
    if (info != NULL) {
        r->row = info->row;
        keep_str(r->from, sizeof(r->from), info->from);
        keep_str(r->message_id, sizeof(r->message_id), info->message_id);
        keep_str(r->to, sizeof(r->to), info->to);
        keep_str(r->service, sizeof(r->service), info->service);
        keep_str(r->action, sizeof(r->action), info->action);
        keep_str(r->conversation_id, sizeof(r->conversation_id), info->conversation_id);
        keep_str(r->timestamp, sizeof(r->timestamp), info->timestamp);
        memcpy(r->digest, info->digest_sha256, sizeof(r->digest));
        r->state = info->state;
        keep_str(r->problem, sizeof(r->problem), info->problem);
        keep_str(r->route, sizeof(r->route), info->route);
        r->attempts = info->attempts;
        keep_str(r->last_error, sizeof(r->last_error), info->last_error);
        r->created_at_ms = info->created_at_ms;
        r->updated_at_ms = info->updated_at_ms;
        r->next_attempt_at_ms = info->next_attempt_at_ms;
        r->receipt_given_len = keep_bytes(r->receipt_given, sizeof(r->receipt_given),
                                          info->receipt_given, info->receipt_given_len);
        r->receipt_received_len = keep_bytes(r->receipt_received, sizeof(r->receipt_received),
                                             info->receipt_received, info->receipt_received_len);
        r->received_len =
            keep_bytes(r->received, sizeof(r->received), info->received, info->received_len);
        r->history_count = info->history_count;
        for (size_t i = 0; i < info->history_count && i < 8; i++) {
            r->history[i].state = info->history[i].state;
            r->history[i].at_ms = info->history[i].at_ms;
            keep_str(r->history[i].note, sizeof(r->history[i].note), info->history[i].note);
        }
    }
    r->done++;
}

static get_res_t get_on(cw_store_t *store, const char *id)
{
    get_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_get(store, "platform-a", id, on_get, &r), 0);
    run_until(&r.done);
    if (r.status != 0) {
        assert_true(r.info_null);
    }
    return r;
}

/* Asserts that message id is there in state. */
static void expect_state(cw_store_t *store, const char *id, cw_store_state_e state)
{
    get_res_t g = get_on(store, id);

    if (g.status != 0 || g.state != state) {
        fail_msg("%s: status %d state %s, want %s", id, g.status,
                 g.status == 0 ? cw_store_state_name(g.state) : "-", cw_store_state_name(state));
    }
}

/* ==== Deliveries ==== */

typedef struct claimed_keep {
    int64_t id;
    char from[32];
    char message_id[32];
    char to[32];
    char route[32];
    char outgoing[96];
    size_t outgoing_len;
    char outgoing_id[32]; /* "<null>" when NULL */
    int has_digest;
    unsigned char outgoing_digest[32];
    uint32_t attempts;
    int64_t first_queued_at_ms;
    int64_t lease_until_ms;
} claimed_keep_t;

typedef struct claim_res {
    int done;
    int status;
    int claimed_null;
    size_t count;
    claimed_keep_t items[KEEP_MAX];
} claim_res_t;

static void on_claim(int status, const cw_store_claimed_t *c, void *arg)
{
    claim_res_t *r = arg;

    r->status = status;
    r->claimed_null = c == NULL;
    for (size_t i = 0; c != NULL && i < c->count && i < KEEP_MAX; i++) {
        const cw_store_delivery_t *d = &c->items[i];
        claimed_keep_t *k = &r->items[i];

        k->id = d->id;
        keep_str(k->from, sizeof(k->from), d->from);
        keep_str(k->message_id, sizeof(k->message_id), d->message_id);
        keep_str(k->to, sizeof(k->to), d->to);
        keep_str(k->route, sizeof(k->route), d->route);
        k->outgoing_len =
            keep_bytes(k->outgoing, sizeof(k->outgoing), d->outgoing, d->outgoing_len);
        keep_str(k->outgoing_id, sizeof(k->outgoing_id), d->outgoing_id);
        k->has_digest = d->outgoing_digest != NULL;
        if (d->outgoing_digest != NULL) {
            memcpy(k->outgoing_digest, d->outgoing_digest, 32);
        }
        k->attempts = d->attempts;
        k->first_queued_at_ms = d->first_queued_at_ms;
        k->lease_until_ms = d->lease_until_ms;
    }
    r->count = c != NULL ? c->count : 0;
    r->done++;
}

/* Heap storage: a claim_res_t is large. */
static claim_res_t *claim_new(void)
{
    claim_res_t *r = cw_calloc(1, sizeof(*r));

    assert_non_null(r);
    return r;
}

/* owner claims up to limit deliveries due at now_ms on any route; the
 * result is the caller's to free. */
static claim_res_t *
claim_on(cw_store_t *store, const char *owner, int64_t now_ms, uint32_t limit, int64_t lease_ms)
{
    cw_store_claim_t c = { owner, NULL, limit, now_ms, lease_ms };
    claim_res_t *r = claim_new();

    assert_int_equal(cw_store_delivery_claim(store, &c, on_claim, r), 0);
    run_until(&r->done);
    if (r->status != 0) {
        fail_msg("claim by %s at %" PRId64 ": status %d", owner, now_ms, r->status);
    }
    return r;
}

/* How many deliveries owner claims at now_ms (limit 100). */
static size_t claim_count(cw_store_t *store, const char *owner, int64_t now_ms, int64_t lease_ms)
{
    claim_res_t *r = claim_on(store, owner, now_ms, 100, lease_ms);
    size_t n = r->count;

    cw_free(r);
    return n;
}

typedef struct done_res {
    int done;
    int status;
} done_res_t;

static void on_done(int status, void *arg)
{
    done_res_t *r = arg;

    r->status = status;
    r->done++;
}

static int record_on(cw_store_t *store, const cw_store_attempt_t *a)
{
    done_res_t r = { 0, 0 };

    assert_int_equal(cw_store_delivery_record(store, a, on_done, &r), 0);
    run_until(&r.done);
    return r.status;
}

/* owner's attempt at delivery id ended at at_ms with outcome. */
static int record_outcome(cw_store_t *store,
                          int64_t id,
                          const char *owner,
                          cw_store_outcome_e outcome,
                          int64_t at_ms,
                          int64_t next_attempt_at_ms)
{
    cw_store_attempt_t a;

    memset(&a, 0, sizeof(a));
    a.delivery_id = id;
    a.owner = owner;
    a.outcome = outcome;
    a.at_ms = at_ms;
    switch (outcome) {
    case CW_STORE_OUTCOME_DELIVERED:
        a.http_status = 200;
        a.receipt = "their-receipt";
        a.receipt_len = strlen(a.receipt);
        break;
    case CW_STORE_OUTCOME_RETRY_LOCAL:
    case CW_STORE_OUTCOME_RETRY:
        a.http_status = 503;
        a.error = "HTTP 503";
        a.next_attempt_at_ms = next_attempt_at_ms;
        break;
    case CW_STORE_OUTCOME_FAILED:
        a.http_status = 400;
        a.error = "HTTP 400: schema-invalid";
        break;
    }
    return record_on(store, &a);
}

static int retry_on(cw_store_t *store, const char *id, int64_t now_ms)
{
    done_res_t r = { 0, 0 };

    assert_int_equal(cw_store_msg_retry(store, "platform-a", id, now_ms, on_done, &r), 0);
    run_until(&r.done);
    return r.status;
}

/* Dead-letters the only delivery due at now_ms (message id). */
static void fail_only_due(cw_store_t *store, const char *id, int64_t now_ms)
{
    claim_res_t *c = claim_on(store, "X", now_ms, 10, 1000);

    assert_int_equal(c->count, 1);
    assert_string_equal(c->items[0].message_id, id);
    assert_int_equal(record_outcome(store, c->items[0].id, "X", CW_STORE_OUTCOME_FAILED, now_ms, 0),
                     0);
    cw_free(c);
    expect_state(store, id, CW_STORE_STATE_FAILED);
}

/* Claims and delivers everything due at now_ms. */
static void deliver_due(cw_store_t *store, int64_t now_ms)
{
    size_t n;

    do {
        claim_res_t *c = claim_on(store, "P", now_ms, 16, 1000);

        n = c->count;
        for (size_t i = 0; i < c->count; i++) {
            assert_int_equal(
                record_outcome(store, c->items[i].id, "P", CW_STORE_OUTCOME_DELIVERED, now_ms, 0),
                0);
        }
        cw_free(c);
    } while (n > 0);
}

/* ==== Listing ==== */

typedef struct list_res {
    int done;
    int status;
    size_t count;
    int has_cursor;
    char cursor[CW_STORE_CURSOR_SIZE + 8];
    int64_t rows[64];
    char ids[64][16];
    char to[64][16];
    int get_only_empty; /* every item's bytes and history empty */
} list_res_t;

static void on_list(int status, const cw_store_page_t *page, void *arg)
{
    list_res_t *r = arg;

    r->status = status;
    r->get_only_empty = 1;
    if (page != NULL) {
        r->count = page->count;
        r->has_cursor = page->next_cursor != NULL;
        keep_str(r->cursor, sizeof(r->cursor), page->next_cursor);
        for (size_t i = 0; i < page->count; i++) {
            const cw_store_msg_info_t *it = &page->items[i];

            if (it->receipt_given_len != 0 || it->receipt_received_len != 0 || it->received_len != 0
                || it->history_count != 0) {
                r->get_only_empty = 0;
            }
            if (i < 64) {
                r->rows[i] = it->row;
                keep_str(r->ids[i], sizeof(r->ids[i]), it->message_id);
                keep_str(r->to[i], sizeof(r->to[i]), it->to);
            }
        }
    }
    r->done++;
}

static list_res_t list_on(cw_store_t *store, const cw_store_filter_t *f)
{
    list_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_list(store, f, on_list, &r), 0);
    run_until(&r.done);
    assert_int_equal(r.status, 0);
    return r;
}

/* How many messages match states (mask), to and since_ms, in one page. */
static size_t list_count(cw_store_t *store, uint32_t states, const char *to, int64_t since_ms)
{
    cw_store_filter_t f;

    memset(&f, 0, sizeof(f));
    f.states_mask = states;
    f.to = to;
    f.since_ms = since_ms;
    f.limit = CW_STORE_LIST_MAX;
    return list_on(store, &f).count;
}

/* ==== The ledger ==== */

typedef struct fact_keep {
    char consignment_id[32];
    char sender[32];
    char buyer_key[32];
    char seller_key[32];
    char business_key[32];
    char content_digest[32];
    char order_number[32];
    char transport_doc[32];
    char destination[16];
    char currency[16];
    int64_t value_minor;
    int32_t date;
    int amendment;
    char lane[16];
    char codes[64];
    char collection[32];
    int64_t duty_minor;
    int64_t tax_minor;
    int64_t due_minor;
} fact_keep_t;

typedef struct facts_res {
    int done;
    int status;
    int facts_null;
    size_t count;
    int64_t year_total;
    int64_t buyer_count;
    int64_t buyer_total;
    int64_t bands[CW_STORE_BANDS_MAX];
    fact_keep_t items[8];
} facts_res_t;

static void facts_keep(facts_res_t *r, const cw_store_facts_t *facts)
{
    r->count = facts->count;
    r->year_total = facts->buyer_year_total_minor;
    r->buyer_count = facts->buyer_count;
    r->buyer_total = facts->buyer_total_minor;
    memcpy(r->bands, facts->band_count, sizeof(r->bands));
    for (size_t i = 0; i < facts->count && i < 8; i++) {
        const cw_store_fact_t *f = &facts->items[i];
        fact_keep_t *k = &r->items[i];

        keep_str(k->consignment_id, sizeof(k->consignment_id), f->consignment_id);
        keep_str(k->sender, sizeof(k->sender), f->sender);
        keep_str(k->buyer_key, sizeof(k->buyer_key), f->buyer_key);
        keep_str(k->seller_key, sizeof(k->seller_key), f->seller_key);
        keep_str(k->business_key, sizeof(k->business_key), f->business_key);
        keep_str(k->content_digest, sizeof(k->content_digest), f->content_digest);
        keep_str(k->order_number, sizeof(k->order_number), f->order_number);
        keep_str(k->transport_doc, sizeof(k->transport_doc), f->transport_doc);
        keep_str(k->destination, sizeof(k->destination), f->destination);
        keep_str(k->currency, sizeof(k->currency), f->currency);
        k->value_minor = f->value_minor;
        k->date = f->date;
        k->amendment = f->amendment;
        keep_str(k->lane, sizeof(k->lane), f->lane);
        keep_str(k->codes, sizeof(k->codes), f->codes);
        keep_str(k->collection, sizeof(k->collection), f->collection);
        k->duty_minor = f->duty_minor;
        k->tax_minor = f->tax_minor;
        k->due_minor = f->due_minor;
    }
}

static void on_facts(int status, const cw_store_facts_t *facts, void *arg)
{
    facts_res_t *r = arg;

    r->status = status;
    r->facts_null = facts == NULL;
    if (facts != NULL) {
        facts_keep(r, facts);
    }
    r->done++;
}

static facts_res_t facts_on(cw_store_t *store, const cw_store_facts_query_t *q)
{
    facts_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_facts_query(store, q, on_facts, &r), 0);
    run_until(&r.done);
    if (r.status != 0) {
        fail_msg("facts query: status %d", r.status);
    }
    return r;
}

/* The same read through cw_store_facts_query_here, on this thread. */
static facts_res_t facts_here(cw_store_t *store, const cw_store_facts_query_t *q)
{
    cw_pool_t *pool = cw_pool_new(4096);
    cw_store_facts_t out;
    facts_res_t r;

    assert_non_null(pool);
    memset(&r, 0, sizeof(r));
    memset(&out, 0, sizeof(out));
    r.status = cw_store_facts_query_here(store, q, pool, &out);
    if (r.status == 0) {
        facts_keep(&r, &out);
    }
    cw_pool_free(pool);
    if (r.status != 0) {
        fail_msg("facts query here: status %d", r.status);
    }
    return r;
}

/* One assessed consignment of the ledger tests. */
typedef struct fact_row {
    const char *id; /* message id, consignment id and business key */
    const char *doc;
    const char *buyer;
    const char *seller;
    const char *order;
    const char *destination;
    const char *currency;
    const char *lane;
    const char *codes;
    int32_t date;
    int64_t value;
} fact_row_t;

/*
 * The ledger of the fact tests, message i created (assessed) at
 * (i + 1) * 1000 ms. buyer-1 buys c1, c2, c4 to c7; c6 goes to DE in EUR,
 * c3 and c7 are red.
 */
static const fact_row_t ledger[] = {
    { "c1", "", "buyer-1", "seller-1", "o-1", "CN", "CNY", "green", "", 20000, 100000 },
    { "c2", "", "buyer-1", "seller-2", "o-2", "CN", "CNY", "yellow", "SPL-001 THR-002", 20010,
      250000 },
    { "c3", "", "buyer-2", "seller-1", "o-1", "CN", "CNY", "red", "LIM-001", 20020, 50000 },
    { "c4", "", "buyer-1", "seller-3", "o-4", "CN", "CNY", "green", "", 19000, 70000 },
    { "c5", "TD-5", "buyer-1", "seller-9", "o-5", "CN", "CNY", "green", "", 20011, 3000 },
    { "c6", "", "buyer-1", "seller-1", "o-6", "DE", "EUR", "green", "", 20015, 40000 },
    { "c7", "", "buyer-1", "seller-4", "o-7", "CN", "CNY", "red", "", 20012, 11000 },
};

#define LEDGER_LEN (sizeof(ledger) / sizeof(ledger[0]))

/* Builds the fact of row into f (strings borrowed from row). */
static void fact_fill(cw_store_fact_t *f, const fact_row_t *row, char *digest, size_t digest_size)
{
    (void)snprintf(digest, digest_size, "dig-%s", row->id);
    memset(f, 0, sizeof(*f));
    f->consignment_id = row->id;
    f->sender = "platform-a";
    f->buyer_key = row->buyer;
    f->seller_key = row->seller;
    f->business_key = row->id;
    f->content_digest = digest;
    f->order_number = row->order;
    f->transport_doc = row->doc;
    f->destination = row->destination;
    f->currency = row->currency;
    f->value_minor = row->value;
    f->date = row->date;
    f->amendment = strcmp(row->id, "c3") == 0;
    f->lane = row->lane;
    f->codes = row->codes;
    f->collection = strcmp(row->destination, "CN") == 0 ? "platform" : "courier";
    f->duty_minor = row->value / 20;
    f->tax_minor = row->value / 10;
    f->due_minor = f->duty_minor + f->tax_minor;
}

static void put_ledger(cw_store_t *store)
{
    for (size_t i = 0; i < LEDGER_LEN; i++) {
        cw_store_msg_t m;
        cw_store_fact_t f;
        char digest[32];

        msg_fill(&m, ledger[i].id, (int)i + 1, "receipt");
        m.created_at_ms = (int64_t)(i + 1) * 1000;
        fact_fill(&f, &ledger[i], digest, sizeof(digest));
        m.fact = &f;
        put_new(store, &m);
    }
}

/* buyer-1's and seller-1's totals in CNY as the checks would ask them. */
static void totals_query(cw_store_facts_query_t *q, const char *consignment, const char *doc)
{
    memset(q, 0, sizeof(*q));
    q->buyer_key = "buyer-1";
    q->seller_key = "seller-1";
    q->currency = "CNY";
    q->consignment_id = consignment;
    q->transport_doc = doc;
    q->split_since_date = 19990;
    q->cluster_since_date = 0;
    q->until_date = 20030;
    q->year_start = 18990;
    q->destination = "CN";
    q->bands_len = 3;
    q->bands[0] = (cw_store_band_t){ 90000, 100000 };
    q->bands[1] = (cw_store_band_t){ 0, 200000 };
    q->bands[2] = (cw_store_band_t){ 60000, 80000 };
}

typedef facts_res_t (*facts_read_fn)(cw_store_t *store, const cw_store_facts_query_t *q);

/* Every figure and row of the ledger above, read through reader. */
static void expect_ledger_answers(cw_store_t *store, facts_read_fn reader)
{
    cw_store_facts_query_t q;
    facts_res_t r;

    /* buyer-1 in CNY within [19990, 20030]: c1, c2, c5 and the red c7, not
     * c4 (older) nor c6 (EUR). The year total since 18990 for CN outside
     * the red lane: c1, c2, c4, c5. seller-1 in CNY: c1 and c3. */
    totals_query(&q, "c-new", "");
    r = reader(store, &q);
    assert_int_equal(r.count, 0); /* a buyer's facts are summed, never rows */
    assert_int_equal(r.buyer_count, 4);
    assert_int_equal(r.buyer_total, 100000 + 250000 + 3000 + 11000);
    assert_int_equal(r.year_total, 100000 + 250000 + 70000 + 3000);
    assert_int_equal(r.bands[0], 1);
    assert_int_equal(r.bands[1], 2);
    assert_int_equal(r.bands[2], 0);

    /* A resend of c2 does not count itself; a resend of c1 leaves c1 out of
     * the bands as well. */
    totals_query(&q, "c2", "");
    r = reader(store, &q);
    assert_int_equal(r.buyer_count, 3);
    assert_int_equal(r.buyer_total, 100000 + 3000 + 11000);
    assert_int_equal(r.year_total, 100000 + 250000 + 70000 + 3000);
    totals_query(&q, "c1", "");
    r = reader(store, &q);
    assert_int_equal(r.buyer_count, 3);
    assert_int_equal(r.bands[0], 0);
    assert_int_equal(r.bands[1], 1);

    /* Shipped under c5's transport document: c5 is not counted for the
     * buyer, whatever the consignment id. */
    totals_query(&q, "c-other", "TD-5");
    r = reader(store, &q);
    assert_int_equal(r.buyer_count, 3);
    assert_int_equal(r.buyer_total, 100000 + 250000 + 11000);

    /* In EUR: c6 only, for the buyer and in seller-1's bands; the year total
     * is in no currency but the destination's. */
    totals_query(&q, "c-new", "");
    q.currency = "EUR";
    r = reader(store, &q);
    assert_int_equal(r.buyer_count, 1);
    assert_int_equal(r.buyer_total, 40000);
    assert_int_equal(r.bands[0], 0);
    assert_int_equal(r.bands[1], 1);
    assert_int_equal(r.year_total, 100000 + 250000 + 70000 + 3000);
    q.destination = "DE";
    assert_int_equal(reader(store, &q).year_total, 40000);

    /* Windows, both ends inclusive: [20010, 20011] holds c2 and c5; the
     * year from 20005 holds c2 and c5 (c7 is red); seller-1's bands from
     * 20001 hold c3 only. */
    totals_query(&q, "c-new", "");
    q.split_since_date = 20010;
    q.until_date = 20011;
    q.year_start = 20005;
    q.cluster_since_date = 20001;
    r = reader(store, &q);
    assert_int_equal(r.buyer_count, 2);
    assert_int_equal(r.buyer_total, 250000 + 3000);
    assert_int_equal(r.year_total, 250000 + 3000);
    assert_int_equal(r.bands[1], 0); /* c3 (20020) is past until_date */
    q.until_date = 20030;
    r = reader(store, &q);
    assert_int_equal(r.bands[1], 1);
    assert_int_equal(r.bands[0], 0);

    /* buyer-2's only fact is red: no year total, but it is in the window. */
    totals_query(&q, "c-new", "");
    q.buyer_key = "buyer-2";
    r = reader(store, &q);
    assert_int_equal(r.year_total, 0);
    assert_int_equal(r.buyer_count, 1);
    assert_int_equal(r.buyer_total, 50000);

    /* The three reads at once (as intake asks them; sent together in one
     * round trip): c2's rows by its business key, with buyer-1's totals
     * and seller-1's bands as in the first query above. */
    totals_query(&q, "c-new", "");
    q.business_key = "c2";
    r = reader(store, &q);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.items[0].consignment_id, "c2");
    assert_string_equal(r.items[0].codes, "SPL-001 THR-002");
    assert_int_equal(r.buyer_count, 4);
    assert_int_equal(r.buyer_total, 100000 + 250000 + 3000 + 11000);
    assert_int_equal(r.year_total, 100000 + 250000 + 70000 + 3000);
    assert_int_equal(r.bands[0], 1);
    assert_int_equal(r.bands[1], 2);
    assert_int_equal(r.bands[2], 0);
    /* Rows and bands without a buyer: two reads together. */
    q.buyer_key = NULL;
    r = reader(store, &q);
    assert_int_equal(r.count, 1);
    assert_int_equal(r.buyer_count, 0);
    assert_int_equal(r.bands[1], 2);

    /* Rows by business key, whole. */
    memset(&q, 0, sizeof(q));
    q.business_key = "c3";
    r = reader(store, &q);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.items[0].consignment_id, "c3");
    assert_string_equal(r.items[0].sender, "platform-a");
    assert_string_equal(r.items[0].buyer_key, "buyer-2");
    assert_string_equal(r.items[0].seller_key, "seller-1");
    assert_string_equal(r.items[0].business_key, "c3");
    assert_string_equal(r.items[0].content_digest, "dig-c3");
    assert_string_equal(r.items[0].order_number, "o-1");
    assert_string_equal(r.items[0].transport_doc, "");
    assert_string_equal(r.items[0].destination, "CN");
    assert_string_equal(r.items[0].currency, "CNY");
    assert_int_equal(r.items[0].value_minor, 50000);
    assert_int_equal(r.items[0].date, 20020);
    assert_true(r.items[0].amendment);
    assert_string_equal(r.items[0].lane, "red");
    assert_string_equal(r.items[0].codes, "LIM-001");
    assert_string_equal(r.items[0].collection, "platform");
    assert_int_equal(r.items[0].duty_minor, 2500);
    assert_int_equal(r.items[0].tax_minor, 5000);
    assert_int_equal(r.items[0].due_minor, 7500);
    q.business_key = "c2";
    r = reader(store, &q);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.items[0].codes, "SPL-001 THR-002");
    assert_false(r.items[0].amendment);
    q.business_key = "c5";
    r = reader(store, &q);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.items[0].transport_doc, "TD-5");
    q.business_key = "nothing";
    assert_int_equal(reader(store, &q).count, 0);

    /* Rows by seller and order number, any date; an order number alone, or
     * with another seller, matches nothing. */
    memset(&q, 0, sizeof(q));
    q.seller_key = "seller-1";
    q.order_number = "o-1";
    assert_int_equal(reader(store, &q).count, 2); /* c1, c3 */
    q.seller_key = "";
    assert_int_equal(reader(store, &q).count, 0);
    q.seller_key = "seller-2";
    assert_int_equal(reader(store, &q).count, 0);
}

typedef struct tally_res {
    int done;
    int status;
    size_t count;
    char line[16][128]; /* "group currency count declared duty tax due" */
} tally_res_t;

static void on_tallies(int status, const cw_store_tallies_t *t, void *arg)
{
    tally_res_t *r = arg;

    r->status = status;
    for (size_t i = 0; t != NULL && i < t->count && i < 16; i++) {
        const cw_store_tally_t *it = &t->items[i];

        (void)snprintf(r->line[i], sizeof(r->line[i]),
                       "%s %s %" PRIu64 " %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64,
                       it->group == NULL ? "<null>" : it->group,
                       it->currency == NULL ? "<null>" : it->currency, it->count,
                       it->declared_minor, it->duty_minor, it->tax_minor, it->due_minor);
    }
    r->count = t != NULL ? t->count : 0;
    r->done++;
}

static tally_res_t stats_on(cw_store_t *store, cw_store_group_e by, int64_t from_ms, int64_t to_ms)
{
    cw_store_stats_query_t q = { from_ms, to_ms, by };
    tally_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_stats_query(store, &q, on_tallies, &r), 0);
    run_until(&r.done);
    assert_int_equal(r.status, 0);
    return r;
}

/* ==== Tests: the helpers themselves ==== */

/* The database URLs every other test connects to. */
static void test_pg__url_with_db(void **state)
{
    static const char *const cases[][2] = {
        { "postgresql:///postgres?host=/tmp/xyz&user=postgres",
          "postgresql:///cw_x?host=/tmp/xyz&user=postgres" },
        { "postgresql://?host=/tmp/a/b", "postgresql:///cw_x?host=/tmp/a/b" },
        { "postgres://u:p@db.example:5433/app?sslmode=disable",
          "postgres://u:p@db.example:5433/cw_x?sslmode=disable" },
        { "postgresql://localhost", "postgresql://localhost/cw_x" },
        { "postgresql://localhost/", "postgresql://localhost/cw_x" },
        { "postgresql://h/app?dbname=other&user=u", "postgresql://h/cw_x?user=u" },
        { "postgresql://%2Ftmp%2Fsock/postgres", "postgresql://%2Ftmp%2Fsock/cw_x" },
    };
    char out[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(url_with_db(out, sizeof(out), cases[i][0], "cw_x"), 0);
        assert_string_equal(out, cases[i][1]);
    }
    assert_int_equal(url_with_db(out, sizeof(out), "/tmp/store.db", "cw_x"), -1);
    assert_int_equal(url_with_db(out, 20, cases[0][0], "cw_x"), -1);
    /* The test's own database is where the URL says. */
    assert_int_equal(strcmp(db_url, base_url) != 0, 1);
    {
        PGconn *conn = PQconnectdb(db_url);

        assert_int_equal(PQstatus(conn), CONNECTION_OK);
        assert_string_equal(PQdb(conn), db_name);
        PQfinish(conn);
    }
}

/* ==== Tests: opening ==== */

/* An empty database is made a Clearway store; several stores (nodes) open
 * it at once. */
static void test_pg__open_migrates_an_empty_database(void **state)
{
    cw_store_t *a;
    cw_store_t *b;
    cw_store_msg_t m;

    (void)state;
    a = store_open();
    assert_int_equal(sql_int("SELECT count(*) FROM information_schema.tables"
                             " WHERE table_schema = 'public' AND table_name = 'clearway_store'"),
                     1);
    assert_true(sql_int("SELECT max(version) FROM schema_migrations") >= 1);
    b = store_open();
    msg_fill(&m, "o-1", 0x11, "r-1");
    put_new(a, &m);
    expect_state(b, "o-1", CW_STORE_STATE_RECEIVED);
    store_close(a);
    store_close(b);
    /* Opened again, it is not migrated twice. */
    a = store_open();
    expect_state(a, "o-1", CW_STORE_STATE_RECEIVED);
    store_close(a);
}

/* One node opening the store on a loop and thread of its own. */
typedef struct opener {
    int rc;        /* of cw_store_open */
    char msg[256]; /* its err.msg */
    int closed;
    int loop_rc; /* of uv_loop_close */
} opener_t;

static void opener_main(void *arg)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    opener_t *o = arg;
    cw_store_t *store = NULL;
    cw_error_t err;
    uv_loop_t own;

    if (uv_loop_init(&own) != 0) {
        o->rc = CW_ESYS;
        return;
    }
    cw_error_clear(&err);
    opts.path = db_url;
    o->rc = cw_store_open(&store, &own, &opts, &err);
    (void)snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
    if (o->rc == 0) {
        cw_store_close(store, on_closed, &o->closed);
        while (!o->closed) {
            (void)uv_run(&own, UV_RUN_ONCE);
        }
    }
    (void)uv_run(&own, UV_RUN_DEFAULT);
    o->loop_rc = uv_loop_close(&own);
}

/* Several nodes starting at once on an empty database: each opens it, and
 * it is migrated once. */
static void test_pg__concurrent_opens_migrate_once(void **state)
{
    enum { NODES = 4 };
    opener_t o[NODES];
    uv_thread_t threads[NODES];

    (void)state;
    memset(o, 0, sizeof(o));
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(uv_thread_create(&threads[i], opener_main, &o[i]), 0);
    }
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(uv_thread_join(&threads[i]), 0);
    }
    for (int i = 0; i < NODES; i++) {
        if (o[i].rc != 0) {
            fail_msg("node %d: open %d: %s", i, o[i].rc, o[i].msg);
        }
        assert_int_equal(o[i].loop_rc, 0);
    }
    assert_int_equal(sql_int("SELECT count(*) FROM clearway_store"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM schema_migrations"),
                     sql_int("SELECT max(version) FROM schema_migrations"));
}

/* No such database on the server: CW_EIO, saying PostgreSQL. */
static void test_pg__open_unreachable_is_eio(void **state)
{
    char url[URL_SIZE];
    char missing[80];
    cw_store_t *store = NULL;
    cw_error_t err;
    int rc;

    (void)state;
    (void)snprintf(missing, sizeof(missing), "%s_missing", db_name);
    assert_int_equal(url_with_db(url, sizeof(url), base_url, missing), 0);
    rc = store_try(url, &store, &err);
    assert_int_equal(rc, CW_EIO);
    assert_null(store);
    assert_int_equal(err.code, CW_EIO);
    if (strstr(err.msg, "PostgreSQL") == NULL) {
        fail_msg("err.msg does not say PostgreSQL: %s", err.msg);
    }
}

/* Another application's database is refused and left as it was. */
static void test_pg__refuses_a_foreign_database(void **state)
{
    cw_store_t *store = NULL;
    cw_error_t err;

    (void)state;
    sql_run("CREATE TABLE accounts (id integer PRIMARY KEY, owner text)");
    sql_run("INSERT INTO accounts VALUES (1, 'alice')");
    assert_int_equal(store_try(db_url, &store, &err), CW_ECONFIG);
    assert_null(store);
    assert_int_equal(err.code, CW_ECONFIG);
    if (strstr(err.msg, "not a Clearway store") == NULL) {
        fail_msg("err.msg: %s", err.msg);
    }
    assert_int_equal(sql_int("SELECT count(*) FROM information_schema.tables"
                             " WHERE table_schema = 'public'"),
                     1);
    assert_int_equal(sql_int("SELECT count(*) FROM accounts"), 1);

    /* A table that merely looks like ours is no marker. */
    sql_run("DROP TABLE accounts");
    sql_run("CREATE TABLE schema_migrations (version integer, applied_at_ms bigint)");
    assert_int_equal(store_try(db_url, &store, &err), CW_ECONFIG);
    assert_null(store);
    if (strstr(err.msg, "not a Clearway store") == NULL) {
        fail_msg("err.msg: %s", err.msg);
    }
    assert_int_equal(sql_int("SELECT count(*) FROM information_schema.tables"
                             " WHERE table_schema = 'public'"),
                     1);
}

/* A schema written by a newer clearwayd is refused. */
static void test_pg__refuses_a_newer_schema(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    cw_error_t err;

    (void)state;
    msg_fill(&m, "n-1", 0x11, "r");
    put_new(store, &m);
    store_close(store);
    sql_run("UPDATE schema_migrations SET version = version + 1000"
            " WHERE version = (SELECT max(version) FROM schema_migrations)");
    store = NULL;
    assert_int_equal(store_try(db_url, &store, &err), CW_ECONFIG);
    assert_null(store);
    assert_int_equal(err.code, CW_ECONFIG);
    print_message("refused as expected: %s\n", err.msg);
    /* Nothing was dropped on the way. */
    assert_int_equal(sql_int("SELECT count(*) FROM schema_migrations WHERE version > 1000"), 1);
}

/* ==== Tests: messages ==== */

static void test_pg__put_new_duplicate_conflict(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    put_res_t first;
    put_res_t r;
    get_res_t g;
    claim_res_t *c;
    int64_t rejected_row;

    (void)state;
    msg_fill(&m, "m-1", 0x11, "receipt-1");
    msg_queue(&m, "to-customs", 1000);
    first = put_on(store, &m);
    assert_int_equal(first.status, 0);
    assert_int_equal(first.kind, CW_STORE_PUT_NEW);
    assert_int_equal(first.state, CW_STORE_STATE_QUEUED);
    assert_string_equal(first.receipt, "receipt-1");
    assert_true(first.msg_row > 0);

    /* Same digest: nothing changes, the ORIGINAL receipt comes back. */
    msg_fill(&m, "m-1", 0x11, "receipt-2");
    msg_queue(&m, "to-customs", 1000);
    r = put_on(store, &m);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.kind, CW_STORE_PUT_DUPLICATE);
    assert_int_equal(r.msg_row, first.msg_row);
    assert_int_equal(r.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(r.receipt_len, strlen("receipt-1"));
    assert_string_equal(r.receipt, "receipt-1");

    /* Another digest: a conflict, and still nothing changes. */
    msg_fill(&m, "m-1", 0x22, "receipt-3");
    r = put_on(store, &m);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.kind, CW_STORE_PUT_CONFLICT);
    assert_int_equal(r.msg_row, first.msg_row);
    g = get_on(store, "m-1");
    assert_int_equal(g.status, 0);
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_string_equal(g.receipt_given, "receipt-1");
    assert_int_equal(g.digest[0], 0x11);
    assert_int_equal(g.history_count, 1);
    /* One delivery, not one per put. */
    c = claim_on(store, "A", 1000, 10, 1000);
    assert_int_equal(c->count, 1);
    cw_free(c);

    /* The same message id from another sender is another message. */
    msg_fill(&m, "m-1", 0x22, "receipt-x");
    m.from = "platform-z";
    assert_int_equal(put_on(store, &m).kind, CW_STORE_PUT_NEW);

    /* A rejected message never takes the key, and is always new. */
    msg_fill(&m, "m-2", 0x33, "negative");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "signature-invalid";
    r = put_on(store, &m);
    assert_int_equal(r.kind, CW_STORE_PUT_NEW);
    assert_int_equal(r.state, CW_STORE_STATE_REJECTED);
    rejected_row = r.msg_row;
    r = put_on(store, &m);
    assert_int_equal(r.kind, CW_STORE_PUT_NEW);
    assert_true(r.msg_row != rejected_row);
    rejected_row = r.msg_row;
    g = get_on(store, "m-2");
    assert_int_equal(g.state, CW_STORE_STATE_REJECTED);
    assert_int_equal(g.row, rejected_row); /* the most recent rejected one */
    assert_string_equal(g.problem, "signature-invalid");
    /* Fixed and sent again: accepted under the same key. */
    msg_fill(&m, "m-2", 0x44, "receipt-4");
    r = put_on(store, &m);
    assert_int_equal(r.kind, CW_STORE_PUT_NEW);
    assert_int_equal(r.state, CW_STORE_STATE_RECEIVED);
    g = get_on(store, "m-2");
    assert_int_equal(g.state, CW_STORE_STATE_RECEIVED);
    assert_string_equal(g.problem, "");
    /* A bad copy after that is recorded, and the accepted one stays. */
    msg_fill(&m, "m-2", 0x55, "negative");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "schema-invalid";
    assert_int_equal(put_on(store, &m).kind, CW_STORE_PUT_NEW);
    assert_int_equal(get_on(store, "m-2").state, CW_STORE_STATE_RECEIVED);
    msg_fill(&m, "m-2", 0x44, "receipt-5");
    r = put_on(store, &m);
    assert_int_equal(r.kind, CW_STORE_PUT_DUPLICATE);
    assert_string_equal(r.receipt, "receipt-4");

    /* Bad input is refused before anything is queued. */
    msg_fill(&m, "m-3", 0x11, "r");
    m.state = CW_STORE_STATE_QUEUED;
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &r), CW_EINVAL);
    assert_int_equal(get_on(store, "m-3").status, CW_ENOENT);
    assert_int_equal(get_on(store, "never").status, CW_ENOENT);
    store_close(store);
}

/* Everything get shows, after a retry and a delivery. */
static void test_pg__get_with_history_after_delivery(void **state)
{
    static const char raw[] = "<In>\0\xff\x01 bytes</In>"; /* binary evidence */
    static const char given[] = "ours\0\x80";
    cw_store_t *store = store_open();
    cw_store_attempt_t a;
    cw_store_msg_t m;
    claim_res_t *c;
    get_res_t g;

    (void)state;
    msg_fill(&m, "h-1", 0x5a, "");
    msg_queue(&m, "to-customs", 1000);
    m.received = raw;
    m.received_len = sizeof(raw) - 1;
    m.receipt = given;
    m.receipt_len = sizeof(given) - 1;
    put_new(store, &m);
    msg_fill(&m, "h-2", 0x5b, "r");
    m.to = NULL;
    m.service = NULL;
    m.action = NULL;
    m.conversation_id = NULL;
    m.timestamp = NULL;
    put_new(store, &m);

    g = get_on(store, "h-1");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.next_attempt_at_ms, 1000);
    assert_string_equal(g.route, "to-customs");
    assert_int_equal(g.receipt_received_len, 0);

    c = claim_on(store, "A", 2000, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_int_equal(record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_RETRY, 2100, 2500),
                     0);
    cw_free(c);
    c = claim_on(store, "A", 2500, 10, 1000);
    assert_int_equal(c->count, 1);
    memset(&a, 0, sizeof(a));
    a.delivery_id = c->items[0].id;
    a.owner = "A";
    a.outcome = CW_STORE_OUTCOME_DELIVERED;
    a.at_ms = 3000;
    a.http_status = 200;
    a.receipt = "theirs\0\x7f";
    a.receipt_len = 8;
    cw_free(c);
    assert_int_equal(record_on(store, &a), 0);

    g = get_on(store, "h-1");
    assert_int_equal(g.status, 0);
    assert_true(g.row > 0);
    assert_string_equal(g.from, "platform-a");
    assert_string_equal(g.message_id, "h-1");
    assert_string_equal(g.to, "customs-b");
    assert_string_equal(g.service, "consignment");
    assert_string_equal(g.action, "submit");
    assert_string_equal(g.conversation_id, "conv-1");
    assert_string_equal(g.timestamp, "2026-11-29T10:00:00Z");
    for (size_t i = 0; i < CW_STORE_DIGEST_BYTES; i++) {
        assert_int_equal(g.digest[i], 0x5a);
    }
    assert_int_equal(g.state, CW_STORE_STATE_DELIVERED);
    assert_string_equal(g.problem, "");
    assert_string_equal(g.route, "to-customs");
    assert_int_equal(g.attempts, 2);
    assert_int_equal(g.created_at_ms, 1000);
    assert_int_equal(g.updated_at_ms, 3000);
    assert_int_equal(g.next_attempt_at_ms, 0); /* not queued any more */
    assert_int_equal(g.received_len, sizeof(raw) - 1);
    assert_memory_equal(g.received, raw, sizeof(raw) - 1);
    assert_int_equal(g.receipt_given_len, sizeof(given) - 1);
    assert_memory_equal(g.receipt_given, given, sizeof(given) - 1);
    assert_int_equal(g.receipt_received_len, 8);
    assert_memory_equal(g.receipt_received, "theirs\0\x7f", 8);
    /* Oldest first: queued at 1000, delivered at 3000 (a retry changes no
     * state). */
    assert_int_equal(g.history_count, 2);
    assert_int_equal(g.history[0].state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.history[0].at_ms, 1000);
    assert_int_equal(g.history[1].state, CW_STORE_STATE_DELIVERED);
    assert_int_equal(g.history[1].at_ms, 3000);
    assert_string_not_equal(g.history[0].note, "<null>");
    assert_string_not_equal(g.history[1].note, "<null>");

    /* What was not given is "", never NULL. */
    g = get_on(store, "h-2");
    assert_int_equal(g.state, CW_STORE_STATE_RECEIVED);
    assert_string_equal(g.to, "");
    assert_string_equal(g.service, "");
    assert_string_equal(g.action, "");
    assert_string_equal(g.conversation_id, "");
    assert_string_equal(g.timestamp, "");
    assert_string_equal(g.route, "");
    assert_string_equal(g.last_error, "");
    assert_int_equal(g.attempts, 0);
    assert_int_equal(g.next_attempt_at_ms, 0);
    assert_int_equal(g.history_count, 1);
    assert_int_equal(g.history[0].state, CW_STORE_STATE_RECEIVED);
    store_close(store);
}

/* 25 messages over three pages, and the filters. */
static void test_pg__list_pages_with_cursor_and_filters(void **state)
{
    const uint32_t queued = 1u << CW_STORE_STATE_QUEUED;
    const uint32_t received = 1u << CW_STORE_STATE_RECEIVED;
    cw_store_t *store = store_open();
    cw_store_filter_t f;
    cw_store_msg_t m;
    list_res_t pages[3];
    list_res_t dummy;
    int64_t last = INT64_MAX;
    char id[16];
    int n = 0;

    (void)state;
    for (int i = 0; i < 25; i++) {
        (void)snprintf(id, sizeof(id), "p-%02d", i);
        msg_fill(&m, id, 0x11, "r");
        m.to = i % 5 == 0 ? "carrier-c" : "customs-b";
        if (i % 2 == 0) {
            msg_queue(&m, "to-customs", 1000 + i);
        }
        m.created_at_ms = 1000 + i;
        put_new(store, &m);
    }
    memset(&f, 0, sizeof(f));
    f.limit = 10;
    for (int p = 0; p < 3; p++) {
        pages[p] = list_on(store, &f);
        f.cursor = pages[p].cursor;
    }
    assert_int_equal(pages[0].count, 10);
    assert_int_equal(pages[1].count, 10);
    assert_int_equal(pages[2].count, 5);
    assert_true(pages[0].has_cursor);
    assert_true(pages[1].has_cursor);
    assert_false(pages[2].has_cursor); /* NULL on the last page */
    /* Newest first, each message once, all of them. */
    assert_string_equal(pages[0].ids[0], "p-24");
    assert_string_equal(pages[1].ids[0], "p-14");
    assert_string_equal(pages[2].ids[4], "p-00");
    for (int p = 0; p < 3; p++) {
        assert_true(pages[p].get_only_empty);
        for (size_t i = 0; i < pages[p].count; i++) {
            assert_true(pages[p].rows[i] < last);
            last = pages[p].rows[i];
            assert_string_not_equal(pages[p].to[i], "<null>");
            n++;
        }
    }
    assert_int_equal(n, 25);

    /* A filtered list pages the same way. */
    memset(&f, 0, sizeof(f));
    f.states_mask = queued;
    f.limit = 5;
    pages[0] = list_on(store, &f);
    f.cursor = pages[0].cursor;
    pages[1] = list_on(store, &f);
    f.cursor = pages[1].cursor;
    pages[2] = list_on(store, &f);
    assert_int_equal(pages[0].count, 5);
    assert_string_equal(pages[0].ids[0], "p-24");
    assert_string_equal(pages[1].ids[0], "p-14");
    assert_int_equal(pages[2].count, 3);
    assert_string_equal(pages[2].ids[2], "p-00");
    assert_false(pages[2].has_cursor);

    assert_int_equal(list_count(store, 0, NULL, 0), 25);
    assert_int_equal(list_count(store, queued, NULL, 0), 13);
    assert_int_equal(list_count(store, received, NULL, 0), 12);
    assert_int_equal(list_count(store, queued | received, NULL, 0), 25);
    assert_int_equal(list_count(store, 1u << CW_STORE_STATE_DELIVERED, NULL, 0), 0);
    assert_int_equal(list_count(store, 0, "carrier-c", 0), 5);           /* 0, 5, 10, 15, 20 */
    assert_int_equal(list_count(store, queued, "carrier-c", 0), 3);      /* 0, 10, 20 */
    assert_int_equal(list_count(store, 0, "carrier-c", 1010), 3);        /* 10, 15, 20 */
    assert_int_equal(list_count(store, received, "carrier-c", 1010), 1); /* 15 */
    assert_int_equal(list_count(store, 0, NULL, 1010), 15);
    assert_int_equal(list_count(store, 0, "nobody", 0), 0);
    memset(&f, 0, sizeof(f)); /* limit 0: 100 */
    assert_int_equal(list_on(store, &f).count, 25);

    memset(&f, 0, sizeof(f));
    f.limit = CW_STORE_LIST_MAX + 1;
    assert_int_equal(cw_store_msg_list(store, &f, on_list, &dummy), CW_EINVAL);
    f.limit = 10;
    f.cursor = "garbage";
    assert_int_equal(cw_store_msg_list(store, &f, on_list, &dummy), CW_EINVAL);
    store_close(store);
}

static void test_pg__retry_requeues_a_failed_message(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    claim_res_t *c;
    get_res_t g;

    (void)state;
    msg_fill(&m, "r-1", 0x11, "r");
    msg_queue(&m, "to-customs", 1000);
    put_new(store, &m);
    msg_fill(&m, "r-2", 0x12, "r");
    put_new(store, &m);

    assert_int_equal(retry_on(store, "unknown", 2000), CW_ENOENT);
    assert_int_equal(retry_on(store, "r-1", 2000), CW_EPERM); /* queued */
    assert_int_equal(retry_on(store, "r-2", 2000), CW_EPERM); /* received */
    c = claim_on(store, "X", 1500, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_int_equal(record_outcome(store, c->items[0].id, "X", CW_STORE_OUTCOME_RETRY, 1500, 1600),
                     0);
    cw_free(c);
    fail_only_due(store, "r-1", 1600);
    g = get_on(store, "r-1");
    assert_int_equal(g.attempts, 2);
    assert_string_equal(g.last_error, "HTTP 400: schema-invalid");

    assert_int_equal(retry_on(store, "r-1", 5000), 0);
    g = get_on(store, "r-1");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.next_attempt_at_ms, 5000);
    assert_int_equal(g.history_count, 3);
    assert_int_equal(g.history[0].state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.history[1].state, CW_STORE_STATE_FAILED);
    assert_int_equal(g.history[2].state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.history[2].at_ms, 5000);
    /* Due at now_ms, with attempts and age reset. */
    assert_int_equal(claim_count(store, "Y", 4999, 1000), 0);
    c = claim_on(store, "Y", 5000, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_string_equal(c->items[0].message_id, "r-1");
    assert_int_equal(c->items[0].attempts, 0);
    assert_int_equal(c->items[0].first_queued_at_ms, 5000);
    assert_int_equal(c->items[0].outgoing_len, strlen(envelope));
    assert_string_equal(c->items[0].outgoing, envelope);
    /* Queued again: a second retry is refused, and so is one once
     * delivered. */
    assert_int_equal(retry_on(store, "r-1", 6000), CW_EPERM);
    assert_int_equal(
        record_outcome(store, c->items[0].id, "Y", CW_STORE_OUTCOME_DELIVERED, 5100, 0), 0);
    cw_free(c);
    assert_int_equal(retry_on(store, "r-1", 6000), CW_EPERM);
    expect_state(store, "r-1", CW_STORE_STATE_DELIVERED);
    store_close(store);
}

typedef struct count_res {
    int done;
    int status;
    cw_store_state_counts_t counts;
} count_res_t;

static void on_count(int status, const cw_store_state_counts_t *counts, void *arg)
{
    count_res_t *r = arg;

    r->status = status;
    if (status == 0) {
        r->counts = *counts;
    } else {
        assert_null(counts);
    }
    r->done++;
}

static count_res_t count_on(cw_store_t *store)
{
    count_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_count(store, on_count, &r), 0);
    run_until(&r.done);
    return r;
}

/*
 * The messages by state, as the dashboard shows them: every state counted,
 * a message moving on counted in its new state only, the sum in total, and
 * the same counts from a second node on the same database.
 */
static void test_pg__count_by_state(void **state)
{
    cw_store_t *store = store_open();
    cw_store_t *other;
    cw_store_msg_t m;
    count_res_t r;
    claim_res_t *c;
    char id[16];
    int i;

    (void)state;
    assert_int_equal(cw_store_msg_count(store, NULL, NULL), CW_EINVAL);
    r = count_on(store);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.counts.total, 0);
    for (i = 0; i < 2; i++) {
        (void)snprintf(id, sizeof(id), "rcv-%d", i);
        msg_fill(&m, id, 0x11, "r");
        put_new(store, &m);
    }
    for (i = 0; i < 3; i++) {
        (void)snprintf(id, sizeof(id), "q-%d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 1000 * (i + 1));
        put_new(store, &m);
    }
    msg_fill(&m, "rej-1", 0x22, "negative");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "bad";
    put_new(store, &m);
    r = count_on(store);
    assert_int_equal(r.counts.n[CW_STORE_STATE_RECEIVED], 2);
    assert_int_equal(r.counts.n[CW_STORE_STATE_QUEUED], 3);
    assert_int_equal(r.counts.n[CW_STORE_STATE_REJECTED], 1);
    assert_int_equal(r.counts.total, 6);

    fail_only_due(store, "q-0", 1000);
    c = claim_on(store, "P", 2000, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_int_equal(
        record_outcome(store, c->items[0].id, "P", CW_STORE_OUTCOME_DELIVERED, 2000, 0), 0);
    cw_free(c);
    other = store_open();
    r = count_on(other);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.counts.n[CW_STORE_STATE_RECEIVED], 2);
    assert_int_equal(r.counts.n[CW_STORE_STATE_QUEUED], 1);
    assert_int_equal(r.counts.n[CW_STORE_STATE_DELIVERED], 1);
    assert_int_equal(r.counts.n[CW_STORE_STATE_FAILED], 1);
    assert_int_equal(r.counts.n[CW_STORE_STATE_REJECTED], 1);
    assert_int_equal(r.counts.total, 6);
    store_close(other);
    store_close(store);
}

typedef struct purge_res {
    int done;
    int status;
    uint64_t purged;
} purge_res_t;

static void on_purge(int status, uint64_t purged, void *arg)
{
    purge_res_t *r = arg;

    r->status = status;
    r->purged = purged;
    r->done++;
}

static purge_res_t purge_on(cw_store_t *store, int64_t before_ms, uint32_t batch_max)
{
    purge_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_purge(store, before_ms, batch_max, on_purge, &r), 0);
    run_until(&r.done);
    return r;
}

/* Delivered messages older than the cut-off go, ten at a time; newer ones
 * and the others stay. */
static void test_pg__purge_in_batches(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t before;
    cw_store_stats_t after;
    cw_store_msg_t m;
    purge_res_t p;
    char id[16];

    (void)state;
    msg_fill(&m, "failed-1", 0x21, "r");
    msg_queue(&m, "to-customs", 1000);
    put_new(store, &m);
    fail_only_due(store, "failed-1", 1000);
    for (int i = 0; i < 25; i++) {
        (void)snprintf(id, sizeof(id), "old-%d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 1000);
        put_new(store, &m);
    }
    deliver_due(store, 2000);
    for (int i = 0; i < 3; i++) {
        (void)snprintf(id, sizeof(id), "new-%d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 50000);
        put_new(store, &m);
    }
    deliver_due(store, 60000);
    msg_fill(&m, "queued-1", 0x22, "r");
    msg_queue(&m, "to-customs", 1000);
    m.next_attempt_at_ms = 999999;
    put_new(store, &m);
    msg_fill(&m, "received-1", 0x23, "r");
    put_new(store, &m);
    assert_int_equal(list_count(store, 1u << CW_STORE_STATE_DELIVERED, NULL, 0), 28);

    assert_int_equal(cw_store_msg_purge(store, 10000, 0, on_purge, &p), CW_EINVAL);
    assert_int_equal(cw_store_msg_purge(store, 10000, 10001, on_purge, &p), CW_EINVAL);

    cw_store_stats_get(store, &before);
    p = purge_on(store, 10000, 10);
    cw_store_stats_get(store, &after);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.purged, 25);
    /* 10 + 10 + 5: three transactions. */
    assert_int_equal(after.transactions - before.transactions, 3);
    for (int i = 0; i < 25; i++) {
        (void)snprintf(id, sizeof(id), "old-%d", i);
        assert_int_equal(get_on(store, id).status, CW_ENOENT);
    }
    for (int i = 0; i < 3; i++) {
        (void)snprintf(id, sizeof(id), "new-%d", i);
        expect_state(store, id, CW_STORE_STATE_DELIVERED);
    }
    expect_state(store, "failed-1", CW_STORE_STATE_FAILED);
    expect_state(store, "queued-1", CW_STORE_STATE_QUEUED);
    expect_state(store, "received-1", CW_STORE_STATE_RECEIVED);
    assert_int_equal(list_count(store, 0, NULL, 0), 6);

    /* Nothing left to purge; a later cut-off takes the newer ones. */
    p = purge_on(store, 10000, 10);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.purged, 0);
    p = purge_on(store, 60001, 2);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.purged, 3);
    assert_int_equal(list_count(store, 0, NULL, 0), 3);

    /* A purged message's key is free again. */
    msg_fill(&m, "old-0", 0x11, "r-again");
    put_new(store, &m);
    store_close(store);
}

/* ==== Tests: two nodes on one database ==== */

typedef struct race {
    int done;         /* callbacks run */
    int failures;     /* callbacks with status < 0 */
    size_t count;     /* ids kept */
    int64_t ids[256]; /* every delivery claimed, by either node */
    int by[256];      /* which node claimed it: 0 (A) or 1 (B) */
} race_t;

typedef struct race_claim {
    race_t *race;
    int node;
} race_claim_t;

static void on_race_claim(int status, const cw_store_claimed_t *c, void *arg)
{
    race_claim_t *rc = arg;
    race_t *r = rc->race;

    if (status != 0 || c == NULL) {
        r->failures++;
    }
    for (size_t i = 0; c != NULL && i < c->count; i++) {
        if (r->count < 256) {
            r->ids[r->count] = c->items[i].id;
            r->by[r->count] = rc->node;
        }
        r->count++;
    }
    r->done++;
}

/* Each due delivery is claimed by exactly one of two nodes claiming at
 * once. */
static void test_pg__two_nodes_claim_each_delivery_once(void **state)
{
    enum { MESSAGES = 60, CLAIMS = 10, LIMIT = 4 };
    static const char *const owners[2] = { "node-a", "node-b" };
    cw_store_t *node[2];
    race_claim_t args[2 * CLAIMS];
    race_t *race = cw_calloc(1, sizeof(*race));
    cw_store_msg_t m;
    char id[16];
    int a_count = 0;

    (void)state;
    assert_non_null(race);
    node[0] = store_open();
    node[1] = store_open();
    for (int i = 0; i < MESSAGES; i++) {
        (void)snprintf(id, sizeof(id), "two-%02d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 1000 + i);
        put_new(node[i % 2], &m);
    }
    /* 2 x 10 claims of 4, all in flight together: room for 80. */
    for (int k = 0; k < CLAIMS; k++) {
        for (int n = 0; n < 2; n++) {
            cw_store_claim_t c = { owners[n], NULL, LIMIT, 5000, 60000 };

            args[2 * k + n].race = race;
            args[2 * k + n].node = n;
            assert_int_equal(cw_store_delivery_claim(node[n], &c, on_race_claim, &args[2 * k + n]),
                             0);
        }
    }
    run_until_count(&race->done, 2 * CLAIMS);
    assert_int_equal(race->failures, 0);
    assert_int_equal(race->count, MESSAGES);
    for (size_t i = 0; i < race->count; i++) {
        for (size_t j = i + 1; j < race->count; j++) {
            if (race->ids[i] == race->ids[j]) {
                fail_msg("delivery %" PRId64 " claimed twice (by %s and %s)", race->ids[i],
                         owners[race->by[i]], owners[race->by[j]]);
            }
        }
        a_count += race->by[i] == 0;
    }
    print_message("node-a claimed %d, node-b %d\n", a_count, MESSAGES - a_count);
    /* Everything is leased: neither node gets more. */
    assert_int_equal(claim_count(node[0], "node-a", 6000, 1000), 0);
    assert_int_equal(claim_count(node[1], "node-b", 6000, 1000), 0);
    /* Each lease is its claimer's only. */
    assert_int_equal(record_outcome(node[0], race->ids[0], owners[1 - race->by[0]],
                                    CW_STORE_OUTCOME_DELIVERED, 6000, 0),
                     CW_ESTALE);
    for (size_t i = 0; i < race->count; i++) {
        int n = race->by[i];

        assert_int_equal(
            record_outcome(node[n], race->ids[i], owners[n], CW_STORE_OUTCOME_DELIVERED, 6000, 0),
            0);
    }
    assert_int_equal(list_count(node[1], 1u << CW_STORE_STATE_DELIVERED, NULL, 0), MESSAGES);
    assert_int_equal(list_count(node[0], 1u << CW_STORE_STATE_QUEUED, NULL, 0), 0);
    store_close(node[0]);
    store_close(node[1]);
    cw_free(race);
}

/* Two nodes accepting the same message at once: one stores it, the other
 * sees DUPLICATE (with the first one's receipt) or CONFLICT. */
static void test_pg__two_nodes_race_on_the_dedupe_key(void **state)
{
    enum { IDS = 20 };
    cw_store_t *node[2];
    put_res_t *res = cw_calloc(4 * IDS, sizeof(*res));
    char receipts[4 * IDS][32];
    cw_store_msg_t m;
    char id[16];
    int done = 0;

    (void)state;
    assert_non_null(res);
    node[0] = store_open();
    node[1] = store_open();
    /* dup-i: both nodes the same bytes; con-i: different bytes. */
    for (int i = 0; i < IDS; i++) {
        for (int n = 0; n < 2; n++) {
            int dup_k = 2 * i + n;
            int con_k = 2 * IDS + 2 * i + n;

            (void)snprintf(id, sizeof(id), "dup-%02d", i);
            (void)snprintf(receipts[dup_k], sizeof(receipts[dup_k]), "receipt-%c-%d", 'a' + n, i);
            msg_fill(&m, id, 0x31, receipts[dup_k]);
            msg_queue(&m, "to-customs", 1000);
            assert_int_equal(cw_store_msg_put(node[n], &m, on_put, &res[dup_k]), 0);
            (void)snprintf(id, sizeof(id), "con-%02d", i);
            (void)snprintf(receipts[con_k], sizeof(receipts[con_k]), "receipt-%c-%d", 'a' + n, i);
            msg_fill(&m, id, 0x40 + n, receipts[con_k]);
            msg_queue(&m, "to-customs", 1000);
            assert_int_equal(cw_store_msg_put(node[n], &m, on_put, &res[con_k]), 0);
        }
    }
    for (int k = 0; k < 4 * IDS; k++) {
        if (!wait_count(&res[k].done, 1, WAIT_MS)) {
            fail_msg("put %d never answered", k);
        }
        done++;
    }
    for (int i = 0; i < IDS; i++) {
        for (int kind = 0; kind < 2; kind++) {
            put_res_t *p = &res[kind * 2 * IDS + 2 * i];
            int winner = p[0].kind == CW_STORE_PUT_NEW ? 0 : 1;
            cw_store_put_e want = kind == 0 ? CW_STORE_PUT_DUPLICATE : CW_STORE_PUT_CONFLICT;

            if (p[0].status != 0 || p[1].status != 0) {
                fail_msg("%s-%02d: status %d and %d", kind == 0 ? "dup" : "con", i, p[0].status,
                         p[1].status);
            }
            if (p[winner].kind != CW_STORE_PUT_NEW || p[1 - winner].kind != want) {
                fail_msg("%s-%02d: kinds %d and %d", kind == 0 ? "dup" : "con", i, (int)p[0].kind,
                         (int)p[1].kind);
            }
            assert_int_equal(p[0].msg_row, p[1].msg_row);
            if (kind == 0) {
                /* The loser answers with the winner's receipt. */
                assert_string_equal(p[1 - winner].receipt,
                                    receipts[kind * 2 * IDS + 2 * i + winner]);
            }
        }
    }
    /* One message and one delivery per id. */
    assert_int_equal(list_count(node[0], 0, NULL, 0), 2 * IDS);
    assert_int_equal(claim_count(node[1], "node-b", 2000, 1000), 2 * IDS);
    store_close(node[0]);
    store_close(node[1]);
    cw_free(res);
    assert_int_equal(done, 4 * IDS);
}

/* A lease lasts until it expires, even for a node that opens later; then the
 * other node may claim, and the first one's record is stale. */
static void test_pg__lease_expiry_passes_the_delivery_on(void **state)
{
    cw_store_t *a = store_open();
    cw_store_t *b;
    cw_store_msg_t m;
    claim_res_t *ca;
    claim_res_t *cb;
    get_res_t g;
    int64_t id0;

    (void)state;
    msg_fill(&m, "l-0", 0x11, "r");
    msg_queue(&m, "to-customs", 10000);
    put_new(a, &m);
    msg_fill(&m, "l-1", 0x12, "r");
    msg_queue(&m, "to-customs", 10001);
    put_new(a, &m);

    ca = claim_on(a, "node-a", 10000, 10, 1000);
    assert_int_equal(ca->count, 1);
    assert_string_equal(ca->items[0].message_id, "l-0");
    assert_int_equal(ca->items[0].lease_until_ms, 11000);
    id0 = ca->items[0].id;
    cw_free(ca);

    /* B opens after A claimed: A's lease stands. */
    b = store_open();
    cb = claim_on(b, "node-b", 10500, 10, 1000);
    assert_int_equal(cb->count, 1);
    assert_string_equal(cb->items[0].message_id, "l-1");
    assert_int_equal(
        record_outcome(b, cb->items[0].id, "node-b", CW_STORE_OUTCOME_DELIVERED, 10600, 0), 0);
    cw_free(cb);
    assert_int_equal(claim_count(b, "node-b", 10999, 1000), 0);
    /* Expired at or before now_ms: B takes it over. */
    cb = claim_on(b, "node-b", 11000, 10, 5000);
    assert_int_equal(cb->count, 1);
    assert_int_equal(cb->items[0].id, id0);
    assert_int_equal(cb->items[0].lease_until_ms, 16000);
    assert_int_equal(cb->items[0].attempts, 0);
    cw_free(cb);
    assert_int_equal(claim_count(a, "node-a", 12000, 1000), 0);

    /* A's late outcomes are refused and change nothing. */
    assert_int_equal(record_outcome(a, id0, "node-a", CW_STORE_OUTCOME_DELIVERED, 11100, 0),
                     CW_ESTALE);
    assert_int_equal(record_outcome(a, id0, "node-a", CW_STORE_OUTCOME_RETRY, 11100, 20000),
                     CW_ESTALE);
    assert_int_equal(record_outcome(a, id0, "node-a", CW_STORE_OUTCOME_FAILED, 11100, 0),
                     CW_ESTALE);
    g = get_on(b, "l-0");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.attempts, 0);
    assert_int_equal(g.receipt_received_len, 0);
    assert_string_equal(g.last_error, "");

    assert_int_equal(record_outcome(b, id0, "node-b", CW_STORE_OUTCOME_DELIVERED, 11200, 0), 0);
    g = get_on(a, "l-0");
    assert_int_equal(g.state, CW_STORE_STATE_DELIVERED);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.receipt_received, "their-receipt");
    /* Delivered: not queued any more, for anyone. */
    assert_int_equal(record_outcome(a, id0, "node-a", CW_STORE_OUTCOME_DELIVERED, 11300, 0),
                     CW_ESTALE);
    assert_int_equal(record_outcome(b, id0, "node-b", CW_STORE_OUTCOME_DELIVERED, 11300, 0),
                     CW_ESTALE);
    store_close(a);
    store_close(b);
}

/* ==== Tests: one node's deliveries ==== */

/* Claims oldest first, by route or any, and each outcome. */
static void test_pg__record_outcomes(void **state)
{
    unsigned char digest[32];
    cw_store_t *store = store_open();
    cw_store_claim_t by_route = { "B", "other-route", 10, 100000, 1000 };
    cw_store_msg_t m;
    claim_res_t *c;
    claim_res_t *rest;
    get_res_t g;
    char id[16];

    (void)state;
    for (size_t i = 0; i < sizeof(digest); i++) {
        digest[i] = (unsigned char)(0xa0 + i);
    }
    /* Put newest first: the claim orders by next_attempt_at_ms, not by
     * row. */
    for (int i = 3; i >= 0; i--) {
        (void)snprintf(id, sizeof(id), "o-%d", i);
        msg_fill(&m, id, 0x30 + i, "r");
        msg_queue(&m, "to-customs", 1000 + i);
        if (i == 3) {
            m.outgoing_id = "sealed-3";
            m.outgoing_digest = digest;
        }
        put_new(store, &m);
    }
    msg_fill(&m, "o-other", 0x3f, "r");
    msg_queue(&m, "other-route", 500);
    put_new(store, &m);

    /* By route. */
    rest = claim_new();
    assert_int_equal(cw_store_delivery_claim(store, &by_route, on_claim, rest), 0);
    run_until(&rest->done);
    assert_int_equal(rest->status, 0);
    assert_int_equal(rest->count, 1);
    assert_string_equal(rest->items[0].message_id, "o-other");
    assert_string_equal(rest->items[0].route, "other-route");
    cw_free(rest);

    assert_int_equal(claim_count(store, "A", 999, 1000), 0);
    c = claim_on(store, "A", 1001, 1, 100000); /* limit 1: the oldest due */
    assert_int_equal(c->count, 1);
    assert_string_equal(c->items[0].message_id, "o-0");
    rest = claim_on(store, "A", 5000, 10, 1000);
    assert_int_equal(rest->count, 3);
    for (size_t i = 0; i < 3; i++) {
        claimed_keep_t *k = &rest->items[i];

        (void)snprintf(id, sizeof(id), "o-%zu", i + 1);
        assert_string_equal(k->message_id, id);
        assert_string_equal(k->from, "platform-a");
        assert_string_equal(k->to, "customs-b");
        assert_string_equal(k->route, "to-customs");
        assert_int_equal(k->outgoing_len, strlen(envelope));
        assert_string_equal(k->outgoing, envelope);
        assert_int_equal(k->attempts, 0);
        assert_int_equal(k->lease_until_ms, 6000);
        assert_int_equal(k->first_queued_at_ms, 1001 + (int64_t)i);
    }
    assert_string_equal(rest->items[0].outgoing_id, "<null>");
    assert_false(rest->items[0].has_digest);
    assert_string_equal(rest->items[2].outgoing_id, "sealed-3");
    assert_true(rest->items[2].has_digest);
    assert_memory_equal(rest->items[2].outgoing_digest, digest, 32);

    /* Unknown id; another owner's lease. */
    assert_int_equal(
        record_outcome(store, rest->items[2].id + 1000, "A", CW_STORE_OUTCOME_RETRY, 1100, 3000),
        CW_ENOENT);
    assert_int_equal(record_outcome(store, c->items[0].id, "Z", CW_STORE_OUTCOME_RETRY, 1100, 3000),
                     CW_ESTALE);

    /* RETRY: counted, rescheduled, the lease cleared (so the same record
     * again is stale). */
    assert_int_equal(record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_RETRY, 1100, 3000),
                     0);
    g = get_on(store, "o-0");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.last_error, "HTTP 503");
    assert_int_equal(g.next_attempt_at_ms, 3000);
    assert_int_equal(record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_RETRY, 1100, 3000),
                     CW_ESTALE);
    assert_int_equal(claim_count(store, "A", 2999, 1000), 0);
    cw_free(c);
    c = claim_on(store, "A", 3000, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_string_equal(c->items[0].message_id, "o-0");
    assert_int_equal(c->items[0].attempts, 1);
    assert_int_equal(c->items[0].first_queued_at_ms, 1000); /* the age runs on */

    /* RETRY_LOCAL (the peer never asked): rescheduled, not counted. */
    assert_int_equal(
        record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_RETRY_LOCAL, 3010, 3050), 0);
    g = get_on(store, "o-0");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.attempts, 1);
    assert_int_equal(g.next_attempt_at_ms, 3050);
    cw_free(c);
    c = claim_on(store, "A", 3100, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_string_equal(c->items[0].message_id, "o-0");
    assert_int_equal(c->items[0].attempts, 1);

    /* FAILED: a dead letter that never comes back. */
    assert_int_equal(
        record_outcome(store, rest->items[0].id, "A", CW_STORE_OUTCOME_FAILED, 5100, 0), 0);
    g = get_on(store, "o-1");
    assert_int_equal(g.state, CW_STORE_STATE_FAILED);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.last_error, "HTTP 400: schema-invalid");
    assert_int_equal(g.history_count, 2);
    assert_int_equal(g.history[1].state, CW_STORE_STATE_FAILED);
    assert_int_equal(
        record_outcome(store, rest->items[0].id, "A", CW_STORE_OUTCOME_DELIVERED, 5100, 0),
        CW_ESTALE);

    /* DELIVERED: the receipt kept, out of the queue. */
    assert_int_equal(
        record_outcome(store, rest->items[1].id, "A", CW_STORE_OUTCOME_DELIVERED, 5200, 0), 0);
    g = get_on(store, "o-2");
    assert_int_equal(g.state, CW_STORE_STATE_DELIVERED);
    assert_string_equal(g.receipt_received, "their-receipt");
    assert_int_equal(g.attempts, 1);
    assert_int_equal(
        record_outcome(store, rest->items[1].id, "A", CW_STORE_OUTCOME_DELIVERED, 5200, 0),
        CW_ESTALE);
    assert_int_equal(
        record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_DELIVERED, 5300, 0), 0);
    g = get_on(store, "o-0");
    assert_int_equal(g.state, CW_STORE_STATE_DELIVERED);
    assert_int_equal(g.attempts, 2);

    /* o-3 retried: claimed again later, as it was. */
    assert_int_equal(
        record_outcome(store, rest->items[2].id, "A", CW_STORE_OUTCOME_RETRY, 5300, 7000), 0);
    cw_free(c);
    c = claim_on(store, "A", 100000, 10, 1000);
    assert_int_equal(c->count, 1); /* not o-1, o-2 nor o-0 */
    assert_string_equal(c->items[0].message_id, "o-3");
    assert_string_equal(c->items[0].outgoing, envelope);
    assert_string_equal(c->items[0].outgoing_id, "sealed-3");
    assert_int_equal(c->items[0].attempts, 1);
    assert_memory_equal(c->items[0].outgoing_digest, digest, 32);
    cw_free(c);
    cw_free(rest);
    store_close(store);
}

/*
 * An envelope that carries the base64 of the bytes received
 * (outgoing_evidence_at) is claimed whole, every time and after a reopen:
 * unpadded and padded base64, and an offset that does not point at it.
 */
static void test_pg__claim_returns_the_envelope_whole(void **state)
{
    static const char raw[] = "\xb1\xe6\xa5"; /* base64: "seal" */
    static const char padded[] = "<Envelope><Content>c2VhbA==</Content></Envelope>";
    static const char *const ids[] = { "e-1", "e-2", "e-3", "e-4" };
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    claim_res_t *c;
    get_res_t g;
    char got[4][96];
    char want[4][96];

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        msg_fill(&m, ids[i], 0x41 + (int)i, "r");
        msg_queue(&m, "to-customs", 1000 + (int64_t)i);
        m.received = raw;
        m.received_len = 3;
        switch (i) {
        case 0: /* "seal" at 10 */
            m.outgoing_evidence_at = 10;
            break;
        case 1: /* "eale" is not it: kept whole as it is */
            m.outgoing_evidence_at = 11;
            break;
        case 2: /* "seal" (of "seal") padded: "c2VhbA==" at 19 */
            m.received = "seal";
            m.received_len = 4;
            m.outgoing = padded;
            m.outgoing_len = strlen(padded);
            m.outgoing_evidence_at = strlen("<Envelope><Content>");
            break;
        default: /* not said */
            break;
        }
        (void)snprintf(want[i], sizeof(want[i]), "%.*s", (int)m.outgoing_len, m.outgoing);
        put_new(store, &m);
    }
    c = claim_on(store, "A", 5000, 10, 1000);
    assert_int_equal(c->count, 4);
    for (size_t i = 0; i < 4; i++) {
        (void)snprintf(got[i], sizeof(got[i]), "%s", c->items[i].outgoing);
        assert_string_equal(c->items[i].message_id, ids[i]);
        assert_int_equal(
            record_outcome(store, c->items[i].id, "A", CW_STORE_OUTCOME_RETRY, 5000, 6000), 0);
    }
    cw_free(c);
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(got[i], want[i]) != 0) {
            fail_msg("%s claimed as \"%s\", sent as \"%s\"", ids[i], got[i], want[i]);
        }
    }
    store_close(store);

    store = store_open();
    c = claim_on(store, "B", 7000, 10, 1000);
    assert_int_equal(c->count, 4);
    for (size_t i = 0; i < 4; i++) {
        (void)snprintf(got[i], sizeof(got[i]), "%s", c->items[i].outgoing);
        assert_int_equal(c->items[i].attempts, 1);
    }
    cw_free(c);
    g = get_on(store, "e-1");
    assert_int_equal(g.received_len, 3);
    assert_memory_equal(g.received, raw, 3);
    g = get_on(store, "e-3");
    assert_int_equal(g.received_len, 4);
    assert_memory_equal(g.received, "seal", 4);
    store_close(store);
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(got[i], want[i]) != 0) {
            fail_msg("%s claimed again as \"%s\", sent as \"%s\"", ids[i], got[i], want[i]);
        }
    }
}

/* ==== Tests: the ledger ==== */

static void test_pg__ledger_facts(void **state)
{
    cw_store_t *store = store_open();
    cw_store_facts_query_t q;
    facts_res_t r;

    (void)state;
    put_ledger(store);
    expect_ledger_answers(store, facts_on);
    /* A resend of c1 (another message, the same consignment) is a second
     * row under its business key. */
    {
        cw_store_msg_t m;
        cw_store_fact_t f;
        char digest[32];

        msg_fill(&m, "c1-again", 0x77, "receipt");
        fact_fill(&f, &ledger[0], digest, sizeof(digest));
        m.fact = &f;
        put_new(store, &m);
    }
    memset(&q, 0, sizeof(q));
    q.business_key = "c1";
    r = facts_on(store, &q);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.items[0].consignment_id, "c1");
    assert_string_equal(r.items[1].consignment_id, "c1");
    totals_query(&q, "c1", "");
    r = facts_on(store, &q);
    assert_int_equal(r.buyer_count, 3); /* neither copy of c1 */
    totals_query(&q, "c-new", "");
    r = facts_on(store, &q);
    assert_int_equal(r.buyer_count, 5); /* both copies */
    assert_int_equal(r.bands[1], 3);

    q.bands_len = CW_STORE_BANDS_MAX + 1;
    assert_int_equal(cw_store_facts_query(store, &q, on_facts, &r), CW_EINVAL);
    store_close(store);
}

typedef struct here_thread {
    cw_store_t *store;
    int failures;
    int64_t buyer_total;
    int64_t year_total;
} here_thread_t;

static void here_thread_main(void *arg)
{
    here_thread_t *h = arg;
    cw_store_facts_query_t q;

    totals_query(&q, "c-new", "");
    for (int i = 0; i < 10; i++) {
        cw_pool_t *pool = cw_pool_new(4096);
        cw_store_facts_t f;

        if (pool == NULL || cw_store_facts_query_here(h->store, &q, pool, &f) != 0) {
            h->failures++;
        } else {
            h->buyer_total = f.buyer_total_minor;
            h->year_total = f.buyer_year_total_minor;
        }
        cw_pool_free(pool);
    }
}

/* The same answers on the caller's thread, from several threads at once;
 * the read fault fails both read paths while set; closing refuses. */
static void test_pg__ledger_facts_here(void **state)
{
    cw_store_t *store = store_open();
    cw_store_facts_query_t q;
    cw_store_facts_t out;
    here_thread_t h[6];
    uv_thread_t threads[6];
    facts_res_t async_fault;
    cw_pool_t *pool;
    int here_fault;
    int here_cleared;
    int after_close;
    int closed = 0;

    (void)state;
    put_ledger(store);
    expect_ledger_answers(store, facts_here);
    /* An acknowledged write is seen at once. */
    {
        cw_store_msg_t m;
        cw_store_fact_t f;
        fact_row_t row = ledger[0];
        char digest[32];

        row.id = "c8";
        row.value = 7;
        msg_fill(&m, "c8", 0x78, "receipt");
        fact_fill(&f, &row, digest, sizeof(digest));
        m.fact = &f;
        put_new(store, &m);
    }
    totals_query(&q, "c-new", "");
    assert_int_equal(facts_here(store, &q).buyer_total, 100000 + 250000 + 3000 + 11000 + 7);

    for (int i = 0; i < 6; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        h[i].store = store;
        assert_int_equal(uv_thread_create(&threads[i], here_thread_main, &h[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(uv_thread_join(&threads[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        assert_int_equal(h[i].failures, 0);
        assert_int_equal(h[i].buyer_total, 100000 + 250000 + 3000 + 11000 + 7);
        assert_int_equal(h[i].year_total, 100000 + 250000 + 70000 + 3000 + 7);
    }

    pool = cw_pool_new(4096);
    assert_non_null(pool);
    cw_store_fault_set(store, CW_STORE_FAULT_READ_FAIL);
    here_fault = cw_store_facts_query_here(store, &q, pool, &out);
    memset(&async_fault, 0, sizeof(async_fault));
    assert_int_equal(cw_store_facts_query(store, &q, on_facts, &async_fault), 0);
    run_until(&async_fault.done);
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    here_cleared = cw_store_facts_query_here(store, &q, pool, &out);
    stores_forget(store);
    cw_store_close(store, on_closed, &closed);
    after_close = cw_store_facts_query_here(store, &q, pool, &out);
    run_until(&closed);
    cw_pool_free(pool);

    assert_int_equal(here_fault, CW_EIO);
    assert_int_equal(async_fault.status, CW_EIO);
    assert_true(async_fault.facts_null);
    assert_int_equal(here_cleared, 0);
    assert_int_equal(after_close, CW_ECLOSED);
}

/* The statistics, by lane, code, destination and collection, in a window of
 * assessment times. */
static void test_pg__stats_by_lane_and_code(void **state)
{
    cw_store_t *store = store_open();
    tally_res_t t;

    (void)state;
    put_ledger(store);
    /* Lines: group currency count declared duty tax due; by group, then
     * currency. */
    t = stats_on(store, CW_STORE_GROUP_LANE, 0, INT64_MAX);
    assert_int_equal(t.count, 4);
    assert_string_equal(t.line[0], "green CNY 3 173000 8650 17300 25950");   /* c1 c4 c5 */
    assert_string_equal(t.line[1], "green EUR 1 40000 2000 4000 6000");      /* c6 */
    assert_string_equal(t.line[2], "red CNY 2 61000 3050 6100 9150");        /* c3 c7 */
    assert_string_equal(t.line[3], "yellow CNY 1 250000 12500 25000 37500"); /* c2 */

    t = stats_on(store, CW_STORE_GROUP_CODE, 0, INT64_MAX);
    assert_int_equal(t.count, 3);
    assert_string_equal(t.line[0], "LIM-001 CNY 1 50000 2500 5000 7500");
    assert_string_equal(t.line[1], "SPL-001 CNY 1 250000 12500 25000 37500");
    assert_string_equal(t.line[2], "THR-002 CNY 1 250000 12500 25000 37500");

    t = stats_on(store, CW_STORE_GROUP_DESTINATION, 0, INT64_MAX);
    assert_int_equal(t.count, 2);
    assert_string_equal(t.line[0], "CN CNY 6 484000 24200 48400 72600");
    assert_string_equal(t.line[1], "DE EUR 1 40000 2000 4000 6000");

    t = stats_on(store, CW_STORE_GROUP_COLLECTION, 0, INT64_MAX);
    assert_int_equal(t.count, 2);
    assert_string_equal(t.line[0], "courier EUR 1 40000 2000 4000 6000");
    assert_string_equal(t.line[1], "platform CNY 6 484000 24200 48400 72600");

    /* [2000, 4000): c2 and c3 only (c4 was assessed at 4000). */
    t = stats_on(store, CW_STORE_GROUP_LANE, 2000, 4000);
    assert_int_equal(t.count, 2);
    assert_string_equal(t.line[0], "red CNY 1 50000 2500 5000 7500");
    assert_string_equal(t.line[1], "yellow CNY 1 250000 12500 25000 37500");
    t = stats_on(store, CW_STORE_GROUP_CODE, 2000, 3000);
    assert_int_equal(t.count, 2);
    assert_string_equal(t.line[0], "SPL-001 CNY 1 250000 12500 25000 37500");
    assert_string_equal(t.line[1], "THR-002 CNY 1 250000 12500 25000 37500");
    t = stats_on(store, CW_STORE_GROUP_LANE, 8000, INT64_MAX);
    assert_int_equal(t.count, 0);
    store_close(store);
}

/* ==== Tests: failure, durability, close ==== */

/* Under the commit fault every write fails with CW_EIO and leaves nothing;
 * cleared, the same writes succeed. */
static void test_pg__commit_fail_stores_nothing(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t before;
    cw_store_stats_t after;
    cw_store_facts_query_t q;
    cw_store_claim_t claim = { "A", NULL, 10, 1000, 1000 };
    cw_store_msg_t m;
    cw_store_fact_t f;
    claim_res_t *c;
    put_res_t r;
    get_res_t g;
    char digest[32];

    (void)state;
    msg_fill(&m, "k-0", 0x10, "receipt-k0");
    msg_queue(&m, "to-customs", 1000);
    put_new(store, &m);
    msg_fill(&m, "k-dead", 0x13, "receipt-kd");
    msg_queue(&m, "to-customs", 500);
    put_new(store, &m);
    fail_only_due(store, "k-dead", 500);
    cw_store_stats_get(store, &before);

    cw_store_fault_set(store, CW_STORE_FAULT_COMMIT_FAIL);
    msg_fill(&m, "k-1", 0x11, "receipt-k1");
    msg_queue(&m, "to-customs", 1000);
    fact_fill(&f, &ledger[0], digest, sizeof(digest));
    m.fact = &f;
    r = put_on(store, &m);
    assert_int_equal(r.status, CW_EIO);
    assert_true(r.res_null);
    msg_fill(&m, "k-2", 0x12, "receipt-k2");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "bad";
    assert_int_equal(put_on(store, &m).status, CW_EIO);
    /* A claim is a write: its lease is not kept either. */
    c = claim_new();
    assert_int_equal(cw_store_delivery_claim(store, &claim, on_claim, c), 0);
    run_until(&c->done);
    assert_int_equal(c->status, CW_EIO);
    assert_true(c->claimed_null);
    cw_free(c);
    assert_int_equal(retry_on(store, "k-dead", 1000), CW_EIO);
    cw_store_stats_get(store, &after);
    assert_true(after.commit_failures > before.commit_failures);
    assert_int_equal(after.writes, before.writes);

    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    assert_int_equal(get_on(store, "k-1").status, CW_ENOENT);
    assert_int_equal(get_on(store, "k-2").status, CW_ENOENT);
    expect_state(store, "k-dead", CW_STORE_STATE_FAILED);
    memset(&q, 0, sizeof(q));
    q.business_key = "c1";
    assert_int_equal(facts_on(store, &q).count, 0);
    assert_int_equal(stats_on(store, CW_STORE_GROUP_LANE, 0, INT64_MAX).count, 0);
    assert_int_equal(list_count(store, 0, NULL, 0), 2);

    /* The claim left no lease: k-0 is claimable; its record fails under the
     * fault and then succeeds, the lease still held. */
    c = claim_on(store, "A", 1000, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_string_equal(c->items[0].message_id, "k-0");
    cw_store_fault_set(store, CW_STORE_FAULT_COMMIT_FAIL);
    assert_int_equal(
        record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_DELIVERED, 1100, 0), CW_EIO);
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    g = get_on(store, "k-0");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.attempts, 0);
    assert_int_equal(
        record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_DELIVERED, 1100, 0), 0);
    cw_free(c);

    /* A purge under the fault purges nothing. */
    cw_store_fault_set(store, CW_STORE_FAULT_COMMIT_FAIL);
    {
        purge_res_t p = purge_on(store, 10000, 10);

        assert_int_equal(p.status, CW_EIO);
        assert_int_equal(p.purged, 0);
    }
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    expect_state(store, "k-0", CW_STORE_STATE_DELIVERED);

    /* Cleared: the same message is new. */
    msg_fill(&m, "k-1", 0x11, "receipt-k1");
    msg_queue(&m, "to-customs", 1000);
    m.fact = &f;
    put_new(store, &m);
    assert_int_equal(facts_on(store, &q).count, 1);
    assert_int_equal(retry_on(store, "k-dead", 1000), 0);
    store_close(store);
}

/* Closed and opened again, the store holds everything it acknowledged. */
static void test_pg__reopen_keeps_everything(void **state)
{
    unsigned char digest[32];
    cw_store_t *store = store_open();
    cw_store_facts_query_t q;
    cw_store_msg_t m;
    cw_store_fact_t f;
    claim_res_t *c;
    get_res_t g;
    char fact_digest[32];

    (void)state;
    memset(digest, 0xd7, sizeof(digest));
    msg_fill(&m, "d-queued", 0x11, "receipt-q");
    msg_queue(&m, "to-customs", 5000);
    m.outgoing_id = "sealed-q";
    m.outgoing_digest = digest;
    fact_fill(&f, &ledger[1], fact_digest, sizeof(fact_digest));
    m.fact = &f;
    put_new(store, &m);
    msg_fill(&m, "d-retried", 0x12, "receipt-r");
    msg_queue(&m, "to-customs", 4000);
    put_new(store, &m);
    msg_fill(&m, "d-received", 0x13, "receipt-v");
    put_new(store, &m);
    msg_fill(&m, "d-rejected", 0x14, "negative");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "signature-invalid";
    put_new(store, &m);
    c = claim_on(store, "A", 4000, 10, 1000);
    assert_int_equal(c->count, 1);
    assert_int_equal(record_outcome(store, c->items[0].id, "A", CW_STORE_OUTCOME_RETRY, 4100, 6000),
                     0);
    cw_free(c);
    store_close(store);

    store = store_open();
    g = get_on(store, "d-queued");
    assert_int_equal(g.status, 0);
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_string_equal(g.receipt_given, "receipt-q");
    assert_int_equal(g.next_attempt_at_ms, 5000);
    assert_int_equal(g.history_count, 1);
    g = get_on(store, "d-retried");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.last_error, "HTTP 503");
    assert_int_equal(g.next_attempt_at_ms, 6000);
    expect_state(store, "d-received", CW_STORE_STATE_RECEIVED);
    g = get_on(store, "d-rejected");
    assert_int_equal(g.state, CW_STORE_STATE_REJECTED);
    assert_string_equal(g.problem, "signature-invalid");
    /* The same message again is a duplicate with the receipt given then. */
    msg_fill(&m, "d-received", 0x13, "receipt-new");
    {
        put_res_t r = put_on(store, &m);

        assert_int_equal(r.kind, CW_STORE_PUT_DUPLICATE);
        assert_string_equal(r.receipt, "receipt-v");
    }
    memset(&q, 0, sizeof(q));
    q.business_key = "c2";
    assert_int_equal(facts_on(store, &q).count, 1);
    c = claim_on(store, "B", 6000, 10, 1000);
    assert_int_equal(c->count, 2);
    assert_string_equal(c->items[0].message_id, "d-queued");
    assert_string_equal(c->items[0].outgoing, envelope);
    assert_string_equal(c->items[0].outgoing_id, "sealed-q");
    assert_memory_equal(c->items[0].outgoing_digest, digest, 32);
    assert_string_equal(c->items[1].message_id, "d-retried");
    assert_int_equal(c->items[1].attempts, 1);
    cw_free(c);
    store_close(store);
}

/*
 * Operations in flight together (which a backend may run in one
 * transaction) each get their own answer: a stale record, a refused retry
 * and a duplicate beside them leave the others' effects whole.
 */
static void test_pg__operations_in_flight_together_answer_each(void **state)
{
    cw_store_t *store = store_open();
    cw_store_attempt_t stale;
    cw_store_attempt_t mine;
    cw_store_attempt_t unknown;
    cw_store_claim_t claim = { "B", NULL, 10, 2000, 1000 };
    cw_store_msg_t m;
    claim_res_t *c;
    claim_res_t *cb_claim = claim_new();
    put_res_t put_new_1;
    put_res_t put_dup;
    put_res_t put_new_2;
    done_res_t rec_stale = { 0, 0 };
    done_res_t rec_mine = { 0, 0 };
    done_res_t rec_unknown = { 0, 0 };
    done_res_t retry_received = { 0, 0 };
    done_res_t retry_unknown = { 0, 0 };
    get_res_t g;

    (void)state;
    msg_fill(&m, "q-1", 0x11, "r-q1");
    msg_queue(&m, "to-customs", 1000);
    put_new(store, &m);
    msg_fill(&m, "q-2", 0x12, "r-q2");
    put_new(store, &m);
    c = claim_on(store, "A", 1000, 10, 1000000);
    assert_int_equal(c->count, 1);
    memset(&stale, 0, sizeof(stale));
    stale.delivery_id = c->items[0].id;
    stale.owner = "Z";
    stale.outcome = CW_STORE_OUTCOME_DELIVERED;
    stale.at_ms = 1500;
    stale.receipt = "zz";
    stale.receipt_len = 2;
    mine = stale;
    mine.owner = "A";
    mine.receipt = "their-receipt";
    mine.receipt_len = strlen(mine.receipt);
    unknown = mine;
    unknown.delivery_id = c->items[0].id + 1000;
    cw_free(c);
    memset(&put_new_1, 0, sizeof(put_new_1));
    memset(&put_dup, 0, sizeof(put_dup));
    memset(&put_new_2, 0, sizeof(put_new_2));

    msg_fill(&m, "n-1", 0x21, "r-n1");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &put_new_1), 0);
    assert_int_equal(cw_store_delivery_record(store, &stale, on_done, &rec_stale), 0);
    assert_int_equal(cw_store_msg_retry(store, "platform-a", "q-2", 1500, on_done, &retry_received),
                     0);
    msg_fill(&m, "q-2", 0x12, "r-q2-again");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &put_dup), 0);
    assert_int_equal(
        cw_store_msg_retry(store, "platform-a", "nobody", 1500, on_done, &retry_unknown), 0);
    assert_int_equal(cw_store_delivery_record(store, &unknown, on_done, &rec_unknown), 0);
    msg_fill(&m, "n-2", 0x22, "r-n2");
    msg_queue(&m, "to-customs", 1000);
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &put_new_2), 0);
    assert_int_equal(cw_store_delivery_record(store, &mine, on_done, &rec_mine), 0);
    assert_int_equal(cw_store_delivery_claim(store, &claim, on_claim, cb_claim), 0);
    run_until(&put_new_1.done);
    run_until(&rec_stale.done);
    run_until(&retry_received.done);
    run_until(&put_dup.done);
    run_until(&retry_unknown.done);
    run_until(&rec_unknown.done);
    run_until(&put_new_2.done);
    run_until(&rec_mine.done);
    run_until(&cb_claim->done);

    assert_int_equal(put_new_1.status, 0);
    assert_int_equal(put_new_1.kind, CW_STORE_PUT_NEW);
    assert_int_equal(rec_stale.status, CW_ESTALE);
    assert_int_equal(retry_received.status, CW_EPERM);
    assert_int_equal(put_dup.status, 0);
    assert_int_equal(put_dup.kind, CW_STORE_PUT_DUPLICATE);
    assert_string_equal(put_dup.receipt, "r-q2");
    assert_int_equal(retry_unknown.status, CW_ENOENT);
    assert_int_equal(rec_unknown.status, CW_ENOENT);
    assert_int_equal(put_new_2.status, 0);
    assert_int_equal(put_new_2.kind, CW_STORE_PUT_NEW);
    assert_int_equal(rec_mine.status, 0);
    assert_int_equal(cb_claim->status, 0);
    assert_int_equal(cb_claim->count, 1);
    assert_string_equal(cb_claim->items[0].message_id, "n-2");
    cw_free(cb_claim);

    expect_state(store, "n-1", CW_STORE_STATE_RECEIVED);
    expect_state(store, "n-2", CW_STORE_STATE_QUEUED);
    expect_state(store, "q-2", CW_STORE_STATE_RECEIVED);
    g = get_on(store, "q-1");
    assert_int_equal(g.state, CW_STORE_STATE_DELIVERED);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.receipt_received, "their-receipt");
    store_close(store);
}

static int drained;

static void on_drain_put(int status, const cw_store_put_result_t *res, void *arg)
{
    (void)arg;
    if (status == 0 && res != NULL && res->kind == CW_STORE_PUT_NEW) {
        drained++;
    }
}

/* Every request submitted before cw_store_close is answered before its
 * callback, and stored. */
static void test_pg__close_finishes_submitted_requests(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    char id[16];
    int closed = 0;

    (void)state;
    drained = 0;
    for (int i = 0; i < 40; i++) {
        (void)snprintf(id, sizeof(id), "z-%d", i);
        msg_fill(&m, id, 0x11, "r");
        assert_int_equal(cw_store_msg_put(store, &m, on_drain_put, NULL), 0);
    }
    stores_forget(store);
    cw_store_close(store, on_closed, &closed);
    run_until(&closed);
    assert_int_equal(drained, 40);
    store = store_open();
    assert_int_equal(list_count(store, 0, NULL, 0), 40);
    store_close(store);
}

/* Sessions of this database running the commit-hang fault's statement. */
static int64_t hung_sessions(void)
{
    return sql_int("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                   " AND query LIKE 'DO $$BEGIN BEGIN PERFORM pg_sleep(3600)%'");
}

/*
 * A statement the server does not finish (the commit-hang fault: an hour's
 * pg_sleep before COMMIT, as behind a synchronous standby that is down,
 * and another hour after the first cancel, as a statement of a session
 * made anew would) holds the close only close_grace_ms and a second: it is
 * cancelled, and cancelled again, its write fails,
 * the write queued behind it fails with CW_EIO without being tried, and
 * nothing of either is stored or left running on the server. Without the
 * cancel the close waits the hour and run_until fails.
 */
static void test_pg__close_cancels_a_hung_statement(void **state)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_t *store = NULL;
    cw_error_t err;
    cw_store_msg_t m;
    put_res_t hung;
    put_res_t behind;
    uint64_t t0;
    int closed = 0;
    int i;

    (void)state;
    opts.path = db_url;
    opts.close_grace_ms = 300;
    if (cw_store_open(&store, &loop, &opts, &err) != 0) {
        fail_msg("open %s: %s", db_url, err.msg);
    }
    stores_remember(store);
    cw_store_fault_set(store, CW_STORE_FAULT_COMMIT_HANG);
    memset(&hung, 0, sizeof(hung));
    memset(&behind, 0, sizeof(behind));
    msg_fill(&m, "h-1", 0x21, "r1");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &hung), 0);
    for (i = 0; i < 250 && hung_sessions() == 0; i++) {
        uv_sleep(20);
    }
    assert_int_equal(hung_sessions(), 1);
    msg_fill(&m, "h-2", 0x22, "r2");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &behind), 0);

    t0 = uv_hrtime();
    stores_forget(store);
    cw_store_close(store, on_closed, &closed);
    run_until(&closed);
    assert_true(uv_hrtime() - t0 < 5000ull * 1000 * 1000);
    assert_int_equal(hung.done, 1);
    assert_int_equal(hung.status, CW_EIO);
    assert_int_equal(behind.done, 1);
    assert_int_equal(behind.status, CW_EIO);
    for (i = 0; i < 250 && hung_sessions() > 0; i++) {
        uv_sleep(20);
    }
    assert_int_equal(hung_sessions(), 0);

    store = store_open();
    assert_int_equal(get_on(store, "h-1").status, CW_ENOENT);
    assert_int_equal(get_on(store, "h-2").status, CW_ENOENT);
    store_close(store);
}

int main(void)
{
#define PG_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        PG_TEST(test_pg__url_with_db),
        PG_TEST(test_pg__open_migrates_an_empty_database),
        PG_TEST(test_pg__concurrent_opens_migrate_once),
        PG_TEST(test_pg__open_unreachable_is_eio),
        PG_TEST(test_pg__refuses_a_foreign_database),
        PG_TEST(test_pg__refuses_a_newer_schema),
        PG_TEST(test_pg__put_new_duplicate_conflict),
        PG_TEST(test_pg__get_with_history_after_delivery),
        PG_TEST(test_pg__list_pages_with_cursor_and_filters),
        PG_TEST(test_pg__retry_requeues_a_failed_message),
        PG_TEST(test_pg__count_by_state),
        PG_TEST(test_pg__purge_in_batches),
        PG_TEST(test_pg__two_nodes_claim_each_delivery_once),
        PG_TEST(test_pg__two_nodes_race_on_the_dedupe_key),
        PG_TEST(test_pg__lease_expiry_passes_the_delivery_on),
        PG_TEST(test_pg__record_outcomes),
        PG_TEST(test_pg__claim_returns_the_envelope_whole),
        PG_TEST(test_pg__ledger_facts),
        PG_TEST(test_pg__ledger_facts_here),
        PG_TEST(test_pg__stats_by_lane_and_code),
        PG_TEST(test_pg__commit_fail_stores_nothing),
        PG_TEST(test_pg__reopen_keeps_everything),
        PG_TEST(test_pg__operations_in_flight_together_answer_each),
        PG_TEST(test_pg__close_finishes_submitted_requests),
        PG_TEST(test_pg__close_cancels_a_hung_statement),
    };
#undef PG_TEST

    return cmocka_run_group_tests_name("store_pg", tests, NULL, NULL);
}
