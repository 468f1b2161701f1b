/*
 * store: the SQLite backend through the public interface, on a real loop:
 * dedupe, durability across reopen, group commit, migrations, foreign files,
 * the commit fault, claims and leases, outcomes, paging, retry, purge and a
 * full store.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "store.h"
#include "store/internal.h"

static uv_loop_t loop;
static char dir[256];
static char db_path[512];

/* ==== Helpers ==== */

/* Runs the loop until *flag is non-zero (the store's async keeps it alive). */
static void run_until(const int *flag)
{
    int turns = 0;

    while (!*flag) {
        (void)uv_run(&loop, UV_RUN_ONCE);
        assert_true(++turns < 1000000);
    }
}

static int timed_out;

static void on_deadline(uv_timer_t *t)
{
    (void)t;
    timed_out = 1;
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
}

/* Like run_until, but gives up after ms; returns *flag. */
static int run_until_or_ms(const int *flag, uint64_t ms)
{
    uv_timer_t deadline;

    timed_out = 0;
    assert_int_equal(uv_timer_init(&loop, &deadline), 0);
    assert_int_equal(uv_timer_start(&deadline, on_deadline, ms, 0), 0);
    while (!*flag && !timed_out) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&deadline, on_timer_closed);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    return *flag;
}

/* Runs the loop until *count reaches n. */
static void run_until_count(const int *count, int n)
{
    int turns = 0;

    while (*count < n) {
        (void)uv_run(&loop, UV_RUN_ONCE);
        assert_true(++turns < 1000000);
    }
}

static int closed;

static void on_closed(void *arg)
{
    (void)arg;
    closed = 1;
}

static void store_close(cw_store_t *store)
{
    closed = 0;
    cw_store_close(store, on_closed, NULL);
    run_until(&closed);
}

static cw_store_t *store_open_opts(cw_store_options_t *opts)
{
    cw_store_t *store = NULL;
    cw_error_t err;

    cw_error_clear(&err);
    opts->path = db_path;
    if (cw_store_open(&store, &loop, opts, &err) != 0) {
        fail_msg("open: %s", err.msg);
    }
    return store;
}

static cw_store_t *store_open(void)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;

    return store_open_opts(&opts);
}

/* The result of the last put. */
typedef struct put_res {
    int done;
    int status;
    cw_store_put_e kind;
    char receipt[64];
} put_res_t;

static void on_put(int status, const cw_store_put_result_t *res, void *arg)
{
    put_res_t *r = arg;

    r->done = 1;
    r->status = status;
    if (status == 0) {
        r->kind = res->kind;
        assert_true(res->receipt_len < sizeof(r->receipt));
        if (res->receipt_len > 0) {
            memcpy(r->receipt, res->receipt, res->receipt_len);
        }
        r->receipt[res->receipt_len] = '\0';
    } else {
        assert_null(res);
    }
}

static void msg_fill(cw_store_msg_t *m, const char *id, char digest_byte, const char *receipt)
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
    m->received = "<Envelope/>";
    m->received_len = strlen(m->received);
    m->receipt = receipt;
    m->receipt_len = strlen(receipt);
    m->state = CW_STORE_STATE_RECEIVED;
    m->created_at_ms = 1000;
}

static void msg_queue(cw_store_msg_t *m, const char *route, int64_t at_ms)
{
    m->state = CW_STORE_STATE_QUEUED;
    m->route = route;
    m->outgoing = "<Envelope>sealed</Envelope>";
    m->outgoing_len = strlen(m->outgoing);
    m->next_attempt_at_ms = at_ms;
    m->created_at_ms = at_ms;
}

static put_res_t put_sync(cw_store_t *store, const cw_store_msg_t *m)
{
    put_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_put(store, m, on_put, &r), 0);
    run_until(&r.done);
    return r;
}

typedef struct get_res {
    int done;
    int status;
    cw_store_state_e state;
    uint32_t attempts;
    char last_error[256];
    char receipt_given[64];
    char receipt_received[64];
    size_t history_count;
    cw_store_state_e history_last;
    int64_t next_attempt_at_ms;
} get_res_t;

static void on_get(int status, const cw_store_msg_info_t *info, void *arg)
{
    get_res_t *r = arg;

    r->done = 1;
    r->status = status;
    if (status != 0) {
        return;
    }
    r->state = info->state;
    r->attempts = info->attempts;
    (void)cw_strlcpy(r->last_error, info->last_error, sizeof(r->last_error));
    assert_true(info->receipt_given_len < sizeof(r->receipt_given));
    if (info->receipt_given_len > 0) {
        memcpy(r->receipt_given, info->receipt_given, info->receipt_given_len);
    }
    r->receipt_given[info->receipt_given_len] = '\0';
    assert_true(info->receipt_received_len < sizeof(r->receipt_received));
    if (info->receipt_received_len > 0) {
        memcpy(r->receipt_received, info->receipt_received, info->receipt_received_len);
    }
    r->receipt_received[info->receipt_received_len] = '\0';
    r->history_count = info->history_count;
    r->history_last = info->history_count > 0 ? info->history[info->history_count - 1].state
                                              : CW_STORE_STATE_RECEIVED;
    r->next_attempt_at_ms = info->next_attempt_at_ms;
}

static get_res_t get_sync(cw_store_t *store, const char *id)
{
    get_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_get(store, "platform-a", id, on_get, &r), 0);
    run_until(&r.done);
    return r;
}

typedef struct claim_res {
    int done;
    int status;
    size_t count;
    int64_t ids[16];
    uint32_t attempts[16];
    char sent_ids[16][64];              /* outgoing_id, "" when NULL */
    unsigned char sent_digests[16][32]; /* outgoing_digest, zeros when NULL */
} claim_res_t;

static void on_claim(int status, const cw_store_claimed_t *c, void *arg)
{
    claim_res_t *r = arg;
    size_t i;

    r->done = 1;
    r->status = status;
    if (status != 0) {
        return;
    }
    r->count = c->count;
    for (i = 0; i < c->count && i < 16; i++) {
        r->ids[i] = c->items[i].id;
        r->attempts[i] = c->items[i].attempts;
        assert_true((c->items[i].outgoing_id == NULL) == (c->items[i].outgoing_digest == NULL));
        if (c->items[i].outgoing_id != NULL) {
            (void)snprintf(r->sent_ids[i], sizeof(r->sent_ids[i]), "%s", c->items[i].outgoing_id);
            memcpy(r->sent_digests[i], c->items[i].outgoing_digest, 32);
        }
        assert_string_equal(c->items[i].from, "platform-a");
        assert_int_equal(c->items[i].outgoing_len, strlen("<Envelope>sealed</Envelope>"));
        assert_memory_equal(c->items[i].outgoing, "<Envelope>sealed</Envelope>",
                            c->items[i].outgoing_len);
    }
}

static claim_res_t
claim_sync(cw_store_t *store, const char *owner, int64_t now_ms, uint32_t limit, int64_t lease_ms)
{
    cw_store_claim_t c = { owner, NULL, limit, now_ms, lease_ms };
    claim_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_delivery_claim(store, &c, on_claim, &r), 0);
    run_until(&r.done);
    return r;
}

typedef struct done_res {
    int done;
    int status;
} done_res_t;

static void on_done(int status, void *arg)
{
    done_res_t *r = arg;

    r->done = 1;
    r->status = status;
}

static int record_sync(cw_store_t *store, const cw_store_attempt_t *a)
{
    done_res_t r = { 0, 0 };

    assert_int_equal(cw_store_delivery_record(store, a, on_done, &r), 0);
    run_until(&r.done);
    return r.status;
}

static int retry_sync(cw_store_t *store, const char *id, int64_t now_ms)
{
    done_res_t r = { 0, 0 };

    assert_int_equal(cw_store_msg_retry(store, "platform-a", id, now_ms, on_done, &r), 0);
    run_until(&r.done);
    return r.status;
}

/* ==== Fixtures ==== */

static int setup(void **state)
{
    (void)state;
    (void)snprintf(dir, sizeof(dir), "/tmp/cw-store-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    (void)snprintf(db_path, sizeof(db_path), "%s/store.db", dir);
    return uv_loop_init(&loop);
}

static int teardown(void **state)
{
    char cmd[600];

    (void)state;
    /* MAKE_VALGRIND_HAPPY: every handle is closed and the loop closes.
     * Not UV_RUN_DEFAULT: a test that failed with a store still open would
     * keep the loop alive, and the suite would hang until ctest's timeout
     * instead of reporting the failure. Ten seconds for the closes. */
    for (int i = 0; i < 1000 && uv_run(&loop, UV_RUN_NOWAIT) != 0; i++) {
        uv_sleep(10);
    }
    if (uv_loop_alive(&loop)) {
        print_error("teardown: the loop still has a store open (a failed test left it)\n");
        return -1;
    }
    assert_int_equal(uv_loop_close(&loop), 0);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ==== Tests ==== */

static void test_sqlite__put_new_duplicate_conflict(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    put_res_t r;

    (void)state;
    msg_fill(&m, "m-1", 0x11, "receipt-1");
    r = put_sync(store, &m);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.kind, CW_STORE_PUT_NEW);

    /* Same digest: the original receipt comes back, not the new one. */
    msg_fill(&m, "m-1", 0x11, "receipt-2");
    r = put_sync(store, &m);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.kind, CW_STORE_PUT_DUPLICATE);
    assert_string_equal(r.receipt, "receipt-1");

    msg_fill(&m, "m-1", 0x22, "receipt-3");
    r = put_sync(store, &m);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.kind, CW_STORE_PUT_CONFLICT);

    /* A rejected message never takes the key. */
    msg_fill(&m, "m-2", 0x33, "");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "signature-invalid";
    assert_int_equal(put_sync(store, &m).kind, CW_STORE_PUT_NEW);
    assert_int_equal(put_sync(store, &m).kind, CW_STORE_PUT_NEW);
    assert_int_equal(get_sync(store, "m-2").state, CW_STORE_STATE_REJECTED);
    msg_fill(&m, "m-2", 0x44, "receipt-4");
    assert_int_equal(put_sync(store, &m).kind, CW_STORE_PUT_NEW);
    assert_int_equal(get_sync(store, "m-2").state, CW_STORE_STATE_RECEIVED);

    /* Bad input is refused before anything is queued. */
    msg_fill(&m, "m-3", 0x11, "r");
    m.state = CW_STORE_STATE_QUEUED;
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &r), CW_EINVAL);
    store_close(store);
}

static void test_sqlite__durable_across_reopen(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    get_res_t g;

    (void)state;
    msg_fill(&m, "d-1", 0x11, "receipt-d1");
    msg_queue(&m, "to-customs", 5000);
    assert_int_equal(put_sync(store, &m).status, 0);
    store_close(store);

    store = store_open();
    g = get_sync(store, "d-1");
    assert_int_equal(g.status, 0);
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_string_equal(g.receipt_given, "receipt-d1");
    assert_int_equal(g.history_count, 1);
    assert_int_equal(g.next_attempt_at_ms, 5000);
    assert_int_equal(get_sync(store, "nope").status, CW_ENOENT);
    store_close(store);
}

static int group_done;

static void on_group_put(int status, const cw_store_put_result_t *res, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    assert_int_equal(res->kind, CW_STORE_PUT_NEW);
    group_done++;
}

static void test_sqlite__group_commit_groups(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t stats;
    cw_store_msg_t m;
    char id[32];
    int i;

    (void)state;
    group_done = 0;
    for (i = 0; i < 200; i++) {
        (void)snprintf(id, sizeof(id), "g-%d", i);
        msg_fill(&m, id, 0x11, "r");
        assert_int_equal(cw_store_msg_put(store, &m, on_group_put, NULL), 0);
    }
    while (group_done < 200) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    cw_store_stats_get(store, &stats);
    assert_int_equal(stats.writes, 200);
    /* 200 writes in groups of at most 64: at least 4 transactions, and far
     * fewer than one per write. */
    assert_true(stats.transactions >= 4);
    assert_true(stats.transactions <= 20);
    assert_true(stats.group_max_seen > 1 && stats.group_max_seen <= 64);
    store_close(store);
}

static void test_sqlite__close_drains_pending(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    char id[32];
    int i;

    (void)state;
    group_done = 0;
    for (i = 0; i < 50; i++) {
        (void)snprintf(id, sizeof(id), "c-%d", i);
        msg_fill(&m, id, 0x11, "r");
        assert_int_equal(cw_store_msg_put(store, &m, on_group_put, NULL), 0);
    }
    store_close(store);
    /* Every callback ran before the close callback. */
    assert_int_equal(group_done, 50);
}

static int64_t pragma_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void test_sqlite__migrates_from_version_0(void **state)
{
    cw_store_t *store;
    cw_error_t err;
    sqlite3 *db = NULL;
    cw_store_msg_t m;

    (void)state;
    /* An empty database (version 0), migrated to version 1 only. */
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(pragma_int(db, "PRAGMA user_version"), 0);
    assert_int_equal(cw_store__sqlite_migrate(db, 1, &err), 0);
    assert_int_equal(pragma_int(db, "PRAGMA user_version"), 1);
    assert_int_equal(pragma_int(db, "PRAGMA application_id"), CW_STORE_APPLICATION_ID);
    assert_int_equal(
        pragma_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'messages_to'"), 0);
    sqlite3_close(db);

    /* Opening finishes the migration. */
    store = store_open();
    msg_fill(&m, "v-1", 0x11, "r");
    assert_int_equal(put_sync(store, &m).status, 0);
    store_close(store);
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(pragma_int(db, "PRAGMA user_version"), CW_STORE_SCHEMA_VERSION);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM schema_migrations"),
                     CW_STORE_SCHEMA_VERSION);
    assert_int_equal(
        pragma_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'messages_to'"), 1);
    /* A schema from a newer clearwayd is refused. */
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    {
        cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
        cw_store_t *s = NULL;

        opts.path = db_path;
        assert_int_equal(cw_store_open(&s, &loop, &opts, &err), CW_ECONFIG);
        assert_null(s);
        assert_non_null(strstr(err.msg, "newer"));
    }
    (void)unlink(db_path);
}

static void expect_not_ours(const char *what)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_t *store = NULL;
    cw_error_t err;

    cw_error_clear(&err);
    opts.path = db_path;
    assert_int_equal(cw_store_open(&store, &loop, &opts, &err), CW_ECONFIG);
    assert_null(store);
    if (strstr(err.msg, "not a Clearway store") == NULL) {
        fail_msg("%s: %s", what, err.msg);
    }
}

static void test_sqlite__refuses_foreign_files(void **state)
{
    unsigned char junk[4096];
    sqlite3 *db = NULL;
    FILE *f;
    size_t i;

    (void)state;
    /* Random bytes. */
    for (i = 0; i < sizeof(junk); i++) {
        junk[i] = (unsigned char)(i * 2654435761u >> 13);
    }
    f = fopen(db_path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
    assert_int_equal(fclose(f), 0);
    expect_not_ours("random bytes");
    (void)unlink(db_path);

    /* Another application's SQLite database. */
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE accounts (id INTEGER)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    expect_not_ours("foreign tables");
    (void)unlink(db_path);

    /* An empty database claimed by another application id. */
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA application_id = 42", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    expect_not_ours("foreign application_id");
    (void)unlink(db_path);
}

static void test_sqlite__commit_failure_stores_nothing(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t stats;
    cw_store_msg_t m;

    (void)state;
    cw_store_fault_set(store, CW_STORE_FAULT_COMMIT_FAIL);
    msg_fill(&m, "f-1", 0x11, "receipt-f1");
    msg_queue(&m, "to-customs", 1000);
    assert_int_equal(put_sync(store, &m).status, CW_EIO);
    cw_store_stats_get(store, &stats);
    assert_int_equal(stats.commit_failures, 1);
    assert_int_equal(stats.writes, 0);

    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    assert_int_equal(get_sync(store, "f-1").status, CW_ENOENT);
    /* Nothing partial: no orphan delivery row can be claimed. */
    assert_int_equal(claim_sync(store, "n", 1000, 10, 1000).count, 0);
    assert_int_equal(put_sync(store, &m).kind, CW_STORE_PUT_NEW);
    assert_int_equal(claim_sync(store, "n", 1000, 10, 1000).count, 1);
    store_close(store);
}

/* Messages from this test in the file, read by a connection of its own
 * (the default VFS, as a reader or another tool would). */
static int64_t rows_seen_apart(const char *like)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n;

    assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM messages WHERE message_id LIKE ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, like, -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return n;
}

/* Puts n queued messages id-0.., one commit each, checking after each that
 * a connection of its own sees it; returns the WAL writes SQLite made and
 * those that reached the file meanwhile. */
static void
commits_seen_apart(cw_store_t *store, const char *prefix, int n, uint64_t *in, uint64_t *out)
{
    uint64_t in0;
    uint64_t out0;
    char like[32];
    char id[32];
    cw_store_msg_t m;

    (void)snprintf(like, sizeof(like), "%s-%%", prefix);
    cw_store__walbuf_counts(&in0, &out0);
    for (int i = 0; i < n; i++) {
        (void)snprintf(id, sizeof(id), "%s-%d", prefix, i);
        msg_fill(&m, id, (unsigned char)i, "r");
        msg_queue(&m, "to-customs", 10000 + i);
        assert_int_equal(put_sync(store, &m).status, 0);
        assert_int_equal(rows_seen_apart(like), i + 1);
    }
    cw_store__walbuf_counts(in, out);
    *in -= in0;
    *out -= out0;
}

/*
 * With synchronous=FULL the writer's WAL writes are gathered (walbuf.c):
 * SQLite writes each frame's header and page apart, and the file gets a
 * few writes per commit instead. Every commit is in the file for another
 * connection as soon as the put is acknowledged. With NORMAL, which has no
 * sync per commit to write at, the writer does without it.
 */
static void test_sqlite__wal_writes_gathered_per_commit(void **state)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_t *store;
    uint64_t in;
    uint64_t out;

    (void)state;
    store = store_open();
    commits_seen_apart(store, "full", 40, &in, &out);
    store_close(store);
    /* Each commit is a dozen frames or more, two writes each. */
    assert_true(in >= 40 * 10);
    assert_true(out * 4 <= in);
    assert_true(out >= 40);

    opts.sync = CW_STORE_SYNC_NORMAL;
    store = store_open_opts(&opts);
    commits_seen_apart(store, "normal", 10, &in, &out);
    store_close(store);
    assert_true(in == 0 && out == 0);
}

/* What a receipt must name, recorded with the delivery when the envelope
 * was sealed, comes back with the claim; a delivery queued without it
 * (as before schema 8) comes back without it. */
static void test_sqlite__claim_returns_what_the_receipt_names(void **state)
{
    static const unsigned char zeros[32];
    unsigned char digest[32];
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    claim_res_t c;

    (void)state;
    for (size_t i = 0; i < sizeof(digest); i++) {
        digest[i] = (unsigned char)(0xa0 + i);
    }
    msg_fill(&m, "with", 0x21, "r");
    msg_queue(&m, "to-customs", 10000);
    m.outgoing_id = "sealed-1";
    m.outgoing_digest = digest;
    assert_int_equal(put_sync(store, &m).status, 0);
    msg_fill(&m, "without", 0x22, "r");
    msg_queue(&m, "to-customs", 10001);
    assert_int_equal(put_sync(store, &m).status, 0);

    c = claim_sync(store, "A", 20000, 10, 1000);
    assert_int_equal(c.status, 0);
    assert_int_equal(c.count, 2);
    assert_string_equal(c.sent_ids[0], "sealed-1");
    assert_memory_equal(c.sent_digests[0], digest, 32);
    assert_string_equal(c.sent_ids[1], "");
    assert_memory_equal(c.sent_digests[1], zeros, 32);
    store_close(store);
}

static void test_sqlite__claim_lease_and_expiry(void **state)
{
    cw_store_t *store = store_open();
    cw_store_attempt_t a;
    cw_store_msg_t m;
    claim_res_t c;
    get_res_t g;
    char id[16];
    int i;

    (void)state;
    for (i = 0; i < 3; i++) {
        (void)snprintf(id, sizeof(id), "l-%d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 10000 + i);
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    assert_int_equal(claim_sync(store, "A", 9999, 10, 1000).count, 0);
    c = claim_sync(store, "A", 10001, 10, 1000);
    assert_int_equal(c.count, 2);
    /* B sees only what A does not hold. */
    assert_int_equal(claim_sync(store, "B", 10500, 10, 1000).count, 1);
    assert_int_equal(claim_sync(store, "B", 11000, 10, 1000).count, 0);
    /* A's leases end at 11001. */
    c = claim_sync(store, "B", 11001, 10, 1000);
    assert_int_equal(c.count, 2);

    /* A lost its lease: its record is refused and changes nothing. */
    memset(&a, 0, sizeof(a));
    a.delivery_id = c.ids[0];
    a.owner = "A";
    a.outcome = CW_STORE_OUTCOME_RETRY;
    a.at_ms = 11100;
    a.http_status = 500;
    a.error = "HTTP 500";
    a.next_attempt_at_ms = 20000;
    assert_int_equal(record_sync(store, &a), CW_ESTALE);

    a.owner = "B";
    assert_int_equal(record_sync(store, &a), 0);
    g = get_sync(store, "l-0");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.attempts, 1);
    assert_string_equal(g.last_error, "HTTP 500");
    assert_int_equal(g.next_attempt_at_ms, 20000);
    /* l-0 is not due before 20000 even though its lease was cleared; B's
     * other two leases have expired by then. */
    assert_int_equal(claim_sync(store, "C", 19999, 10, 1000).count, 2);
    c = claim_sync(store, "C", 20000, 10, 1000);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.attempts[0], 1);

    /* Cancelled before it reached the peer (RETRY_LOCAL, the node
     * stopping): rescheduled, its lease cleared, not counted. */
    a.delivery_id = c.ids[0];
    a.owner = "C";
    a.outcome = CW_STORE_OUTCOME_RETRY_LOCAL;
    a.at_ms = 20010;
    a.http_status = 0;
    a.error = "cancelled: the node is stopping";
    a.next_attempt_at_ms = 20050;
    assert_int_equal(record_sync(store, &a), 0);
    g = get_sync(store, "l-0");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.attempts, 1);
    assert_int_equal(g.next_attempt_at_ms, 20050);
    assert_string_equal(g.last_error, "cancelled: the node is stopping");
    c = claim_sync(store, "C", 20100, 10, 1000);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.attempts[0], 1);

    /* Delivered: the receipt is stored and the message leaves the queue. */
    a.delivery_id = c.ids[0];
    a.owner = "C";
    a.outcome = CW_STORE_OUTCOME_DELIVERED;
    a.http_status = 200;
    a.error = NULL;
    a.receipt = "their-receipt";
    a.receipt_len = strlen(a.receipt);
    assert_int_equal(record_sync(store, &a), 0);
    g = get_sync(store, "l-0");
    assert_int_equal(g.state, CW_STORE_STATE_DELIVERED);
    assert_string_equal(g.receipt_received, "their-receipt");
    assert_int_equal(g.attempts, 2);
    assert_int_equal(g.history_count, 2);
    assert_int_equal(g.history_last, CW_STORE_STATE_DELIVERED);
    assert_int_equal(record_sync(store, &a), CW_ESTALE);

    /* Failed: dead letter with the reason. */
    c = claim_sync(store, "D", 90000, 1, 1000);
    assert_int_equal(c.count, 1);
    a.delivery_id = c.ids[0];
    a.owner = "D";
    a.outcome = CW_STORE_OUTCOME_FAILED;
    a.http_status = 400;
    a.error = "HTTP 400: schema-invalid";
    assert_int_equal(record_sync(store, &a), 0);
    /* Only the last one is left to claim; the dead letter never comes back. */
    c = claim_sync(store, "D", 99000, 10, 1000);
    assert_int_equal(c.count, 1);
    assert_true(c.ids[0] != a.delivery_id);
    store_close(store);
}

typedef struct list_res {
    int done;
    int status;
    size_t count;
    char cursor[CW_STORE_CURSOR_SIZE];
    int64_t rows[32];
} list_res_t;

static void on_list(int status, const cw_store_page_t *page, void *arg)
{
    list_res_t *r = arg;
    size_t i;

    r->done = 1;
    r->status = status;
    if (status != 0) {
        return;
    }
    r->count = page->count;
    r->cursor[0] = '\0';
    if (page->next_cursor != NULL) {
        (void)cw_strlcpy(r->cursor, page->next_cursor, sizeof(r->cursor));
    }
    for (i = 0; i < page->count && i < 32; i++) {
        r->rows[i] = page->items[i].row;
    }
}

static list_res_t list_sync(cw_store_t *store, const cw_store_filter_t *f)
{
    list_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_list(store, f, on_list, &r), 0);
    run_until(&r.done);
    return r;
}

static void test_sqlite__list_pages_with_cursor(void **state)
{
    cw_store_t *store = store_open();
    cw_store_filter_t f;
    cw_store_msg_t m;
    list_res_t dummy;
    list_res_t r;
    char id[16];
    int i;

    (void)state;
    for (i = 0; i < 25; i++) {
        (void)snprintf(id, sizeof(id), "p-%02d", i);
        msg_fill(&m, id, 0x11, "r");
        m.to = i % 5 == 0 ? "carrier-c" : "customs-b";
        if (i % 2 == 0) {
            msg_queue(&m, "to-customs", 1000 + i);
        }
        m.created_at_ms = 1000 + i;
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    memset(&f, 0, sizeof(f));
    f.limit = 10;
    r = list_sync(store, &f);
    assert_int_equal(r.count, 10);
    assert_true(r.rows[0] > r.rows[9]); /* newest first */
    assert_true(r.cursor[0] != '\0');
    f.cursor = r.cursor;
    r = list_sync(store, &f);
    assert_int_equal(r.count, 10);
    f.cursor = r.cursor;
    r = list_sync(store, &f);
    assert_int_equal(r.count, 5);
    assert_string_equal(r.cursor, "");

    memset(&f, 0, sizeof(f));
    f.states_mask = 1u << CW_STORE_STATE_QUEUED;
    assert_int_equal(list_sync(store, &f).count, 13);
    f.to = "carrier-c";
    assert_int_equal(list_sync(store, &f).count, 3); /* 0, 10, 20 */
    f.states_mask = 0;
    f.since_ms = 1010;
    assert_int_equal(list_sync(store, &f).count, 3); /* 10, 15, 20 */

    memset(&f, 0, sizeof(f));
    f.limit = CW_STORE_LIST_MAX + 1;
    assert_int_equal(cw_store_msg_list(store, &f, on_list, &dummy), CW_EINVAL);
    f.limit = 10;
    f.cursor = "garbage";
    assert_int_equal(cw_store_msg_list(store, &f, on_list, &dummy), CW_EINVAL);
    store_close(store);
}

static void fail_one(cw_store_t *store, const char *id, int64_t now_ms)
{
    cw_store_attempt_t a;
    claim_res_t c;

    c = claim_sync(store, "X", now_ms, 1, 1000);
    assert_int_equal(c.count, 1);
    memset(&a, 0, sizeof(a));
    a.delivery_id = c.ids[0];
    a.owner = "X";
    a.outcome = CW_STORE_OUTCOME_FAILED;
    a.at_ms = now_ms;
    a.error = "gave up";
    assert_int_equal(record_sync(store, &a), 0);
    assert_int_equal(get_sync(store, id).state, CW_STORE_STATE_FAILED);
}

/*
 * Failed and rejected messages, the ones an operator looks for, are listed
 * through their own index (schema 7) rather than a walk of every message:
 * the same pages, newest first, with the cursor, the state and the date
 * filters.
 */
static void test_sqlite__list_failed_and_rejected_by_their_index(void **state)
{
    cw_store_t *store = store_open();
    cw_store_filter_t f;
    cw_store_msg_t m;
    list_res_t page1;
    list_res_t page2;
    list_res_t page3;
    list_res_t failed;
    list_res_t rejected_since;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const unsigned char *detail;
    int uses_index = 0;
    char plan[2048];
    char id[16];
    int i;

    (void)state;
    for (i = 0; i < 10; i++) { /* rows 1..10 */
        (void)snprintf(id, sizeof(id), "q-%02d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 1000 + i);
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    for (i = 0; i < 4; i++) { /* rows 11..14 */
        (void)snprintf(id, sizeof(id), "r-%d", i);
        msg_fill(&m, id, 0x22, "negative");
        m.state = CW_STORE_STATE_REJECTED;
        m.problem = "bad";
        m.created_at_ms = 2000 + i;
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    for (i = 0; i < 3; i++) { /* rows 1..3 become dead letters */
        (void)snprintf(id, sizeof(id), "q-%02d", i);
        fail_one(store, id, 5000);
    }
    memset(&f, 0, sizeof(f));
    f.states_mask = (1u << CW_STORE_STATE_FAILED) | (1u << CW_STORE_STATE_REJECTED);
    f.limit = 3;
    page1 = list_sync(store, &f);
    f.cursor = page1.cursor;
    page2 = list_sync(store, &f);
    f.cursor = page2.cursor;
    page3 = list_sync(store, &f);
    memset(&f, 0, sizeof(f));
    f.states_mask = 1u << CW_STORE_STATE_FAILED;
    failed = list_sync(store, &f);
    f.states_mask = 1u << CW_STORE_STATE_REJECTED;
    f.since_ms = 2002;
    rejected_since = list_sync(store, &f);
    store_close(store);

    assert_int_equal(page1.count, 3);
    assert_int_equal(page1.rows[0], 14);
    assert_int_equal(page1.rows[2], 12);
    assert_int_equal(page2.count, 3);
    assert_int_equal(page2.rows[0], 11);
    assert_int_equal(page2.rows[1], 3);
    assert_int_equal(page2.rows[2], 2);
    assert_int_equal(page3.count, 1);
    assert_int_equal(page3.rows[0], 1);
    assert_string_equal(page3.cursor, "");
    assert_int_equal(failed.count, 3);
    assert_int_equal(failed.rows[0], 3);
    assert_int_equal(failed.rows[2], 1);
    assert_int_equal(rejected_since.count, 2);
    assert_int_equal(rejected_since.rows[0], 14);
    assert_int_equal(rejected_since.rows[1], 13);

    /* The statement the store runs for such a filter seeks the index. */
    memset(&f, 0, sizeof(f));
    f.states_mask = 1u << CW_STORE_STATE_FAILED;
    (void)snprintf(plan, sizeof(plan), "EXPLAIN QUERY PLAN %s", cw_store__sqlite_list_sql(&f));
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, plan, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        detail = sqlite3_column_text(st, 3);
        if (detail != NULL && strstr((const char *)detail, "messages_attention") != NULL) {
            uses_index = 1;
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    assert_true(uses_index);
}

/*
 * Every query of the stateful checks' ledger read seeks an index: no table
 * scan, no temporary B-tree built per consignment, and a resend's own
 * facts found by its consignment id, not by walking the seller's whole
 * value band (the planner has no statistics and preferred the longer
 * index: with one big seller that was every fact of the band, read from
 * the table as well).
 */
static void test_sqlite__ledger_reads_seek_their_indexes(void **state)
{
    cw_store_t *store = store_open();
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    const char *sql;
    char plan[2048];
    char bad[512] = "";
    int by_consignment = 0;
    size_t i;

    (void)state;
    /* The store closes before any assertion: a failure must not leave its
     * threads running under the test's teardown. */
    if (sqlite3_open(db_path, &db) != SQLITE_OK) {
        (void)snprintf(bad, sizeof(bad), "cannot open the store's file");
    }
    for (i = 0; bad[0] == '\0' && (sql = cw_store__ledger_read_sql(i)) != NULL; i++) {
        (void)snprintf(plan, sizeof(plan), "EXPLAIN QUERY PLAN %s", sql);
        if (sqlite3_prepare_v2(db, plan, -1, &st, NULL) != SQLITE_OK) {
            (void)snprintf(bad, sizeof(bad), "query %zu: %s", i, sqlite3_errmsg(db));
            break;
        }
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 3);

            if (d == NULL) {
                continue;
            }
            if ((strncmp(d, "SCAN ", 5) == 0 && strcmp(d, "SCAN CONSTANT ROW") != 0)
                || strstr(d, "TEMP B-TREE") != NULL) {
                (void)snprintf(bad, sizeof(bad), "query %zu: %s", i, d);
            }
            if (strstr(d, "INDEX facts_consignment") != NULL) {
                by_consignment++;
            }
        }
        sqlite3_finalize(st);
        st = NULL;
    }
    sqlite3_close(db);
    store_close(store);
    if (bad[0] != '\0') {
        fail_msg("%s", bad);
    }
    assert_int_equal(i, 4);
    /* This shipment's own facts, read once for the buyer's total and the
     * band counts. */
    assert_int_equal(by_consignment, 1);
}

static void test_sqlite__retry_semantics(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    claim_res_t c;
    get_res_t g;

    (void)state;
    msg_fill(&m, "r-1", 0x11, "r");
    msg_queue(&m, "to-customs", 1000);
    assert_int_equal(put_sync(store, &m).status, 0);
    msg_fill(&m, "r-2", 0x11, "r");
    assert_int_equal(put_sync(store, &m).status, 0);

    assert_int_equal(retry_sync(store, "unknown", 2000), CW_ENOENT);
    assert_int_equal(retry_sync(store, "r-1", 2000), CW_EPERM); /* queued */
    assert_int_equal(retry_sync(store, "r-2", 2000), CW_EPERM); /* received */
    fail_one(store, "r-1", 1500);
    assert_int_equal(retry_sync(store, "r-1", 5000), 0);
    g = get_sync(store, "r-1");
    assert_int_equal(g.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g.history_count, 3);
    /* Due at once, with a fresh attempt count. */
    c = claim_sync(store, "Y", 5000, 10, 1000);
    assert_int_equal(c.count, 1);
    assert_int_equal(c.attempts[0], 0);
    assert_int_equal(retry_sync(store, "r-1", 6000), CW_EPERM);
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

    r->done = 1;
    r->status = status;
    r->purged = purged;
}

/* Records owner's attempt at delivery id: delivered (HTTP 200, receipt
 * "rc") or, when retry_at_ms is positive, a retry due then (HTTP 503). */
static int
record_attempt(cw_store_t *store, int64_t id, const char *owner, int64_t at_ms, int64_t retry_at_ms)
{
    cw_store_attempt_t a;

    memset(&a, 0, sizeof(a));
    a.delivery_id = id;
    a.owner = owner;
    a.at_ms = at_ms;
    if (retry_at_ms > 0) {
        a.outcome = CW_STORE_OUTCOME_RETRY;
        a.http_status = 503;
        a.error = "busy";
        a.next_attempt_at_ms = retry_at_ms;
    } else {
        a.outcome = CW_STORE_OUTCOME_DELIVERED;
        a.http_status = 200;
        a.receipt = "rc";
        a.receipt_len = 2;
    }
    return record_sync(store, &a);
}

static void deliver_all(cw_store_t *store, int64_t now_ms)
{
    claim_res_t c;
    size_t i;

    do {
        c = claim_sync(store, "P", now_ms, 16, 1000);
        for (i = 0; i < c.count; i++) {
            assert_int_equal(record_attempt(store, c.ids[i], "P", now_ms, 0), 0);
        }
    } while (c.count > 0);
}

typedef struct count_res {
    int done;
    int status;
    cw_store_state_counts_t counts;
} count_res_t;

static void on_count(int status, const cw_store_state_counts_t *counts, void *arg)
{
    count_res_t *r = arg;

    r->done = 1;
    r->status = status;
    if (status == 0) {
        r->counts = *counts;
    } else {
        assert_null(counts);
    }
}

static count_res_t count_sync(cw_store_t *store)
{
    count_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_count(store, on_count, &r), 0);
    run_until(&r.done);
    return r;
}

/*
 * The messages by state, as the dashboard shows them: every state counted,
 * a message moving on counted in its new state only, the sum in total; a
 * store that failed a flush answers CW_EIO instead of counts.
 */
static void test_sqlite__count_by_state(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    count_res_t r;
    claim_res_t c;
    char id[16];
    int i;

    (void)state;
    assert_int_equal(cw_store_msg_count(store, NULL, NULL), CW_EINVAL);
    r = count_sync(store);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.counts.total, 0);
    for (i = 0; i < 2; i++) {
        (void)snprintf(id, sizeof(id), "rcv-%d", i);
        msg_fill(&m, id, 0x11, "r");
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    for (i = 0; i < 4; i++) {
        (void)snprintf(id, sizeof(id), "q-%d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 1000 + i);
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    msg_fill(&m, "rej-1", 0x22, "negative");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "bad";
    assert_int_equal(put_sync(store, &m).status, 0);
    r = count_sync(store);
    assert_int_equal(r.counts.n[CW_STORE_STATE_RECEIVED], 2);
    assert_int_equal(r.counts.n[CW_STORE_STATE_QUEUED], 4);
    assert_int_equal(r.counts.n[CW_STORE_STATE_REJECTED], 1);
    assert_int_equal(r.counts.total, 7);

    fail_one(store, "q-0", 5000); /* the oldest due: q-0 */
    c = claim_sync(store, "P", 5000, 1, 1000);
    assert_int_equal(c.count, 1);
    assert_int_equal(record_attempt(store, c.ids[0], "P", 5000, 0), 0);
    r = count_sync(store);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.counts.n[CW_STORE_STATE_RECEIVED], 2);
    assert_int_equal(r.counts.n[CW_STORE_STATE_QUEUED], 2);
    assert_int_equal(r.counts.n[CW_STORE_STATE_DELIVERED], 1);
    assert_int_equal(r.counts.n[CW_STORE_STATE_FAILED], 1);
    assert_int_equal(r.counts.n[CW_STORE_STATE_REJECTED], 1);
    assert_int_equal(r.counts.total, 7);

    cw_store_fault_set(store, CW_STORE_FAULT_SYNC_FAIL);
    msg_fill(&m, "lost-1", 0x33, "r");
    assert_int_equal(put_sync(store, &m).status, CW_EIO);
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    assert_int_equal(count_sync(store).status, CW_EIO);
    store_close(store);
}

static void test_sqlite__purge_in_batches(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t before;
    cw_store_stats_t after;
    cw_store_msg_t m;
    purge_res_t p;
    char id[16];
    int i;

    (void)state;
    for (i = 0; i < 30; i++) {
        (void)snprintf(id, sizeof(id), "old-%d", i);
        msg_fill(&m, id, 0x11, "r");
        msg_queue(&m, "to-customs", 1000);
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    deliver_all(store, 2000);
    msg_fill(&m, "new-1", 0x11, "r");
    msg_queue(&m, "to-customs", 50000);
    assert_int_equal(put_sync(store, &m).status, 0);
    deliver_all(store, 60000);
    msg_fill(&m, "queued-1", 0x11, "r");
    msg_queue(&m, "to-customs", 1000);
    m.next_attempt_at_ms = 999999;
    assert_int_equal(put_sync(store, &m).status, 0);

    /* A batch whose transaction is rolled back is not counted. */
    cw_store_fault_set(store, CW_STORE_FAULT_COMMIT_FAIL);
    memset(&p, 0, sizeof(p));
    assert_int_equal(cw_store_msg_purge(store, 10000, 7, on_purge, &p), 0);
    run_until(&p.done);
    assert_int_equal(p.status, CW_EIO);
    assert_int_equal(p.purged, 0);
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);

    cw_store_stats_get(store, &before);
    memset(&p, 0, sizeof(p));
    assert_int_equal(cw_store_msg_purge(store, 10000, 7, on_purge, &p), 0);
    run_until(&p.done);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.purged, 30);
    cw_store_stats_get(store, &after);
    /* 7+7+7+7+2: five batches, each its own transaction. */
    assert_int_equal(after.transactions - before.transactions, 5);
    assert_int_equal(get_sync(store, "old-3").status, CW_ENOENT);
    assert_int_equal(get_sync(store, "new-1").state, CW_STORE_STATE_DELIVERED);
    assert_int_equal(get_sync(store, "queued-1").state, CW_STORE_STATE_QUEUED);
    store_close(store);
    /* The sealed envelopes went with their deliveries (schema version 9). */
    {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(pragma_int(db, "SELECT count(*) FROM deliveries"), 2);
        assert_int_equal(pragma_int(db, "SELECT count(*) FROM delivery_bodies"), 2);
        sqlite3_close(db);
    }
}

/* Takes a store back from schema version 9 to 8: each delivery's sealed
 * envelope in its row again. */
#define V9_TO_V8_SQL                                                         \
    "UPDATE deliveries SET outgoing ="                                       \
    " (SELECT outgoing FROM delivery_bodies WHERE delivery = deliveries.id)" \
    " WHERE id IN (SELECT delivery FROM delivery_bodies);"                   \
    " DROP TABLE delivery_bodies;"                                           \
    " DELETE FROM schema_migrations WHERE version > 8; PRAGMA user_version = 8;"

/* The length of the envelope in message id's delivery row. */
#define ROW_ENVELOPE_LEN_SQL(id)                                                      \
    "SELECT length(d.outgoing) FROM deliveries d JOIN messages m ON m.id = d.message" \
    " WHERE m.message_id = '" id "'"

/*
 * Version 9 keeps each new delivery's sealed envelope out of its row; the
 * deliveries a version 8 store had queued keep theirs in the row (the
 * migration copies nothing), and both kinds are claimed, retried and
 * delivered with their envelopes byte for byte (on_claim compares them).
 */
static void test_sqlite__migrates_v8_envelopes_out_of_deliveries(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    claim_res_t c;
    sqlite3 *db = NULL;

    (void)state;
    msg_fill(&m, "q-1", 0x31, "r");
    msg_queue(&m, "to-customs", 1000);
    assert_int_equal(put_sync(store, &m).status, 0);
    msg_fill(&m, "q-2", 0x32, "r");
    msg_queue(&m, "to-customs", 1001);
    assert_int_equal(put_sync(store, &m).status, 0);
    store_close(store);

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, V9_TO_V8_SQL, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(pragma_int(db, "PRAGMA user_version"), 8);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM sqlite_schema"
                                    " WHERE name = 'delivery_bodies'"),
                     0);
    assert_int_equal(pragma_int(db, ROW_ENVELOPE_LEN_SQL("q-1")), 27);
    sqlite3_close(db);

    store = store_open(); /* migrates to version 9 */
    c = claim_sync(store, "A", 5000, 10, 1000);
    assert_int_equal(c.status, 0);
    assert_int_equal(c.count, 2);
    assert_int_equal(record_attempt(store, c.ids[0], "A", 5000, 6000), 0); /* q-1 retried */
    assert_int_equal(record_attempt(store, c.ids[1], "A", 5000, 0), 0);    /* q-2 delivered */
    assert_int_equal(get_sync(store, "q-2").state, CW_STORE_STATE_DELIVERED);
    msg_fill(&m, "q-3", 0x33, "r");
    msg_queue(&m, "to-customs", 1002);
    assert_int_equal(put_sync(store, &m).status, 0);
    c = claim_sync(store, "A", 7000, 10, 1000); /* q-3 (due at 1002), q-1 again (6000) */
    assert_int_equal(c.status, 0);
    assert_int_equal(c.count, 2);
    assert_int_equal(c.attempts[0], 0);
    assert_int_equal(c.attempts[1], 1);
    store_close(store);

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(pragma_int(db, "PRAGMA user_version"), CW_STORE_SCHEMA_VERSION);
    assert_int_equal(pragma_int(db, ROW_ENVELOPE_LEN_SQL("q-1")), 27);
    assert_int_equal(pragma_int(db, ROW_ENVELOPE_LEN_SQL("q-3")), 0);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM delivery_bodies"), 1);
    sqlite3_close(db);
}

/* The bytes and evidence_at of message id's delivery body. */
#define BODY_LEN_SQL(id)                                                 \
    "SELECT length(b.outgoing) FROM delivery_bodies b JOIN deliveries d" \
    " ON d.id = b.delivery JOIN messages m ON m.id = d.message WHERE m.message_id = '" id "'"
#define BODY_AT_SQL(id)                                                           \
    "SELECT coalesce(b.evidence_at, -1) FROM delivery_bodies b JOIN deliveries d" \
    " ON d.id = b.delivery JOIN messages m ON m.id = d.message WHERE m.message_id = '" id "'"

typedef struct bytes_res {
    int done;
    int status;
    size_t count;
    char bytes[16][64]; /* each claimed envelope, terminated; "" when none */
} bytes_res_t;

static void on_claim_bytes(int status, const cw_store_claimed_t *c, void *arg)
{
    bytes_res_t *r = arg;

    r->done = 1;
    r->status = status;
    for (size_t i = 0; status == 0 && i < c->count && i < 16; i++) {
        assert_true(c->items[i].outgoing_len < sizeof(r->bytes[0]));
        if (c->items[i].outgoing_len > 0) {
            memcpy(r->bytes[r->count], c->items[i].outgoing, c->items[i].outgoing_len);
        }
        r->bytes[r->count][c->items[i].outgoing_len] = '\0';
        r->count++;
    }
}

/*
 * Version 10: a sealed envelope whose evidence is the base64 of the bytes
 * received is kept without it, and claimed whole. The received bytes here
 * are those whose base64 is "seal", so that the envelope is msg_queue's
 * (on_claim compares the bytes). An offset that does not point at them
 * keeps the envelope whole; a row altered by hand is claimed without an
 * envelope and does not hold up the others; base64 with padding comes
 * back as it went in.
 */
static void test_sqlite__evidence_kept_once(void **state)
{
    static const char raw[] = "\xb1\xe6\xa5"; /* base64: "seal" */
    static const size_t at[] = { 10, 11, 25, 0 };
    const char *ids[] = { "e-1", "e-2", "e-3", "e-4" };
    static const char padded[] = "<Envelope><Content>c2VhbA==</Content></Envelope>";
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    claim_res_t c;
    bytes_res_t b;
    cw_store_claim_t bc = { "B", NULL, 10, 9000, 1000 };
    sqlite3 *db = NULL;

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        msg_fill(&m, ids[i], (char)(0x41 + i), "r");
        msg_queue(&m, "to-customs", 1000 + (int64_t)i);
        m.received = raw;
        m.received_len = 3;
        m.outgoing_evidence_at = at[i];
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    store_close(store);

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(pragma_int(db, BODY_LEN_SQL("e-1")), 27 - 4);
    assert_int_equal(pragma_int(db, BODY_AT_SQL("e-1")), 10);
    assert_int_equal(pragma_int(db, BODY_LEN_SQL("e-2")), 27); /* "eale" is not it */
    assert_int_equal(pragma_int(db, BODY_AT_SQL("e-2")), -1);
    assert_int_equal(pragma_int(db, BODY_LEN_SQL("e-3")), 27); /* past the end */
    assert_int_equal(pragma_int(db, BODY_AT_SQL("e-3")), -1);
    assert_int_equal(pragma_int(db, BODY_LEN_SQL("e-4")), 27); /* not said */
    assert_int_equal(pragma_int(db, BODY_AT_SQL("e-4")), -1);
    sqlite3_close(db);

    store = store_open();
    c = claim_sync(store, "A", 5000, 10, 1000); /* on_claim: every envelope whole */
    assert_int_equal(c.status, 0);
    assert_int_equal(c.count, 4);
    assert_int_equal(record_attempt(store, c.ids[0], "A", 5000, 6000), 0); /* e-1 retried */
    for (size_t i = 1; i < 4; i++) {
        assert_int_equal(record_attempt(store, c.ids[i], "A", 5000, 0), 0);
    }
    c = claim_sync(store, "A", 7000, 10, 1000); /* e-1 again, still whole */
    assert_int_equal(c.count, 1);
    assert_int_equal(record_attempt(store, c.ids[0], "A", 7000, 8000), 0);
    store_close(store);

    /* evidence_at past the kept bytes: the row no longer adds up. */
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE delivery_bodies SET evidence_at = 24"
                                  " WHERE evidence_at IS NOT NULL",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    store = store_open();
    msg_fill(&m, "e-5", 0x46, "r");
    msg_queue(&m, "to-customs", 8500);
    assert_int_equal(put_sync(store, &m).status, 0);
    msg_fill(&m, "e-6", 0x47, "r"); /* "seal", base64 "c2VhbA==" */
    msg_queue(&m, "to-customs", 8600);
    m.received = "seal";
    m.received_len = 4;
    m.outgoing = padded;
    m.outgoing_len = strlen(padded);
    m.outgoing_evidence_at = strlen("<Envelope><Content>");
    assert_int_equal(put_sync(store, &m).status, 0);
    memset(&b, 0, sizeof(b));
    assert_int_equal(cw_store_delivery_claim(store, &bc, on_claim_bytes, &b), 0);
    run_until(&b.done);
    assert_int_equal(b.status, 0);
    assert_int_equal(b.count, 3);
    assert_string_equal(b.bytes[0], "");                            /* e-1, due at 8000 */
    assert_string_equal(b.bytes[1], "<Envelope>sealed</Envelope>"); /* e-5 */
    assert_string_equal(b.bytes[2], padded);                        /* e-6 */
    store_close(store);

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(pragma_int(db, BODY_LEN_SQL("e-6")), (int64_t)strlen(padded) - 8);
    assert_int_equal(pragma_int(db, BODY_AT_SQL("e-6")), 19);
    sqlite3_close(db);
}

/*
 * The first store opened in a process turns SQLite's memory statistics off
 * (schema.c): its connections hold memory, and none of it is counted. The
 * first test of this file opens a store before anything else uses SQLite.
 */
static void test_sqlite__no_memory_statistics(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    sqlite3_int64 used = -1;
    sqlite3_int64 peak = -1;

    (void)state;
    msg_fill(&m, "stat-1", 0x51, "r");
    assert_int_equal(put_sync(store, &m).status, 0);
    assert_int_equal(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &used, &peak, 0), SQLITE_OK);
    assert_int_equal(used, 0);
    assert_int_equal(peak, 0);
    store_close(store);
}

static void test_sqlite__full_store_fails_with_eio(void **state)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    static char big[16384];
    cw_store_t *store;
    cw_store_msg_t m;
    put_res_t r;
    char id[16];
    int stored = 0;
    int i;

    (void)state;
    memset(big, 'x', sizeof(big));
    opts.page_count_max = 64; /* 256 KiB with 4 KiB pages */
    store = store_open_opts(&opts);
    for (i = 0; i < 100; i++) {
        (void)snprintf(id, sizeof(id), "big-%d", i);
        msg_fill(&m, id, 0x11, "r");
        m.received = big;
        m.received_len = sizeof(big);
        r = put_sync(store, &m);
        if (r.status != 0) {
            break;
        }
        stored++;
    }
    assert_int_equal(r.status, CW_EIO);
    assert_true(stored > 0);
    /* What was acknowledged is still there, and the store still reads. */
    assert_int_equal(get_sync(store, "big-0").status, 0);
    (void)snprintf(id, sizeof(id), "big-%d", stored);
    assert_int_equal(get_sync(store, id).status, CW_ENOENT);
    store_close(store);
}

static void test_sqlite__second_process_is_refused(void **state)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_t *store = NULL;
    char lock_path[600];
    int ready[2];
    int release[2];
    cw_error_t err;
    struct flock fl;
    char c = 0;
    pid_t pid;
    int fd;

    (void)state;
    (void)snprintf(lock_path, sizeof(lock_path), "%s-lock", db_path);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* The other process: holds the lock until told to go. */
        fd = open(lock_path, O_RDWR | O_CREAT, 0600);
        memset(&fl, 0, sizeof(fl));
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0) {
            _exit(1);
        }
        (void)write(ready[1], "r", 1);
        (void)read(release[0], &c, 1);
        _exit(0);
    }
    assert_int_equal(read(ready[0], &c, 1), 1);
    opts.path = db_path;
    assert_int_equal(cw_store_open(&store, &loop, &opts, &err), CW_EBUSY);
    assert_null(store);
    assert_non_null(strstr(err.msg, "in use by another process"));
    assert_int_equal(write(release[1], "g", 1), 1);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    (void)close(ready[0]);
    (void)close(ready[1]);
    (void)close(release[0]);
    (void)close(release[1]);
    /* Once it is gone, the store opens. */
    store = store_open();
    store_close(store);
}

static int oom_done;
static int oom_status;

static void on_oom_put(int status, const cw_store_put_result_t *res, void *arg)
{
    (void)res;
    (void)arg;
    oom_done = 1;
    oom_status = status;
}

/* ==== The ledger ==== */

typedef struct facts_res {
    int done;
    int status;
    size_t count;
    int64_t year_total;
    int64_t buyer_count;
    int64_t buyer_total;
    int64_t bands[CW_STORE_BANDS_MAX];
    char ids[8][32]; /* consignment ids returned */
} facts_res_t;

static void on_facts(int status, const cw_store_facts_t *facts, void *arg)
{
    facts_res_t *r = arg;
    size_t i;

    r->done = 1;
    r->status = status;
    if (status == 0) {
        r->count = facts->count;
        r->year_total = facts->buyer_year_total_minor;
        r->buyer_count = facts->buyer_count;
        r->buyer_total = facts->buyer_total_minor;
        memcpy(r->bands, facts->band_count, sizeof(r->bands));
        for (i = 0; i < facts->count && i < 8; i++) {
            cw_strlcpy(r->ids[i], facts->items[i].consignment_id, sizeof(r->ids[i]));
        }
    }
}

static facts_res_t facts_sync(cw_store_t *store, const cw_store_facts_query_t *q)
{
    facts_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_facts_query(store, q, on_facts, &r), 0);
    run_until(&r.done);
    assert_int_equal(r.status, 0);
    return r;
}

typedef struct tally_res {
    int done;
    size_t count;
    char line[8][96]; /* "group currency count declared" */
} tally_res_t;

static void on_tallies(int status, const cw_store_tallies_t *t, void *arg)
{
    tally_res_t *r = arg;
    size_t i;

    assert_int_equal(status, 0);
    r->done = 1;
    r->count = t->count;
    for (i = 0; i < t->count && i < 8; i++) {
        (void)snprintf(r->line[i], sizeof(r->line[i]), "%s %s %llu %lld %lld", t->items[i].group,
                       t->items[i].currency, (unsigned long long)t->items[i].count,
                       (long long)t->items[i].declared_minor, (long long)t->items[i].tax_minor);
    }
}

static tally_res_t stats_sync(cw_store_t *store, cw_store_group_e by)
{
    cw_store_stats_query_t q = { 0, INT64_MAX, by };
    tally_res_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_stats_query(store, &q, on_tallies, &r), 0);
    run_until(&r.done);
    return r;
}

/* Puts message id with a fact for buyer/seller at date (days), shipped
 * under transport document doc (NULL: none). */
static void put_fact(cw_store_t *store,
                     const char *id,
                     const char *doc,
                     const char *buyer,
                     const char *seller,
                     const char *order,
                     int32_t date,
                     int64_t value,
                     const char *lane,
                     const char *codes)
{
    cw_store_msg_t m;
    cw_store_fact_t f;

    msg_fill(&m, id, 1, "receipt");
    memset(&f, 0, sizeof(f));
    f.consignment_id = id;
    f.sender = "platform-a";
    f.buyer_key = buyer;
    f.seller_key = seller;
    f.business_key = id;
    f.order_number = order;
    f.transport_doc = doc;
    f.destination = "CN";
    f.currency = "CNY";
    f.value_minor = value;
    f.date = date;
    f.lane = lane;
    f.codes = codes;
    f.collection = "platform";
    f.tax_minor = value / 10;
    m.fact = &f;
    assert_int_equal(put_sync(store, &m).status, 0);
}

/* A query for buyer-1's and seller-1's totals as the checks would ask. */
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

/* Takes a store back from schema version 9 to 4 (tables and indexes as
 * version 4 left them, rows kept in their order; fact ids apart from their
 * message's, as they were), to test the migrations from there on data
 * written by this build. */
#define V9_TO_V4_SQL                                                                           \
    V9_TO_V8_SQL                                                                               \
    " ALTER TABLE deliveries DROP COLUMN outgoing_id;"                                         \
    " ALTER TABLE deliveries DROP COLUMN outgoing_digest;"                                     \
    " DROP INDEX messages_attention;"                                                          \
    " DROP INDEX messages_from_key; DROP INDEX messages_delivered;"                            \
    " CREATE UNIQUE INDEX messages_dedupe ON messages (from_party, message_id)"                \
    " WHERE state <> 'rejected';"                                                              \
    " CREATE INDEX messages_purge ON messages (state, updated_at_ms);"                         \
    " CREATE INDEX messages_key ON messages (from_party, message_id);"                         \
    " CREATE TABLE ms5 (id INTEGER PRIMARY KEY, message INTEGER NOT NULL REFERENCES"           \
    " messages (id) ON DELETE CASCADE, state TEXT NOT NULL, at_ms INTEGER NOT NULL,"           \
    " note TEXT NOT NULL DEFAULT '');"                                                         \
    " INSERT INTO ms5 (message, state, at_ms, note) SELECT message, state, at_ms, note"        \
    " FROM message_states ORDER BY message, seq;"                                              \
    " DROP TABLE message_states; ALTER TABLE ms5 RENAME TO message_states;"                    \
    " CREATE INDEX message_states_message ON message_states (message);"                        \
    " CREATE TABLE f5 (id INTEGER PRIMARY KEY,"                                                \
    " message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"                    \
    " consignment_id TEXT, sender TEXT, buyer_key TEXT, seller_key TEXT,"                      \
    " business_key TEXT, content_digest TEXT, order_number TEXT, transport_doc TEXT,"          \
    " destination TEXT, currency TEXT, value_minor INTEGER NOT NULL DEFAULT 0,"                \
    " date INTEGER NOT NULL, amendment INTEGER NOT NULL DEFAULT 0,"                            \
    " lane TEXT, collection TEXT, duty_minor INTEGER NOT NULL DEFAULT 0,"                      \
    " tax_minor INTEGER NOT NULL DEFAULT 0, due_minor INTEGER NOT NULL DEFAULT 0,"             \
    " at_ms INTEGER NOT NULL);"                                                                \
    " INSERT INTO f5 SELECT id + 1000, id, consignment_id, sender, buyer_key, seller_key,"     \
    " business_key, content_digest, order_number, transport_doc, destination, currency,"       \
    " value_minor, date, amendment, lane, collection, duty_minor, tax_minor, due_minor, at_ms" \
    " FROM facts;"                                                                             \
    " CREATE TABLE fc5 (fact INTEGER NOT NULL REFERENCES f5 (id) ON DELETE CASCADE,"           \
    " code TEXT NOT NULL);"                                                                    \
    " INSERT INTO fc5 (fact, code) SELECT fact + 1000, code FROM fact_codes"                   \
    " ORDER BY fact, seq;"                                                                     \
    " DROP TABLE fact_codes; DROP TABLE facts;"                                                \
    " ALTER TABLE f5 RENAME TO facts; ALTER TABLE fc5 RENAME TO fact_codes;"                   \
    " CREATE INDEX fact_codes_fact ON fact_codes (fact);"                                      \
    " CREATE INDEX facts_business ON facts (business_key);"                                    \
    " CREATE INDEX facts_order ON facts (sender, order_number);"                               \
    " CREATE INDEX facts_at ON facts (at_ms);"                                                 \
    " CREATE INDEX facts_seller_order ON facts (seller_key, order_number);"                    \
    " CREATE INDEX facts_buyer ON facts (buyer_key, date);"                                    \
    " CREATE INDEX facts_seller_value ON facts (seller_key, value_minor, date);"               \
    " DROP TABLE buyer_days;"                                                                  \
    " DELETE FROM schema_migrations WHERE version > 4; PRAGMA user_version = 4"

/* One fact of the model test below, as written and as the model sums it. */
typedef struct model_fact {
    char msg[16];
    char cid[16];
    char doc[16]; /* "" none */
    const char *buyer;
    const char *seller;
    const char *currency;
    const char *destination;
    const char *lane;
    int32_t date;
    int64_t value;
} model_fact_t;

static uint64_t model_rand(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* What the store's totals must be for q over facts, from their definition
 * (cw_store_facts_t): the year total of the buyer's facts for the
 * destination outside the red lane; the window's count and total in the
 * currency without this shipment (its consignment id or transport
 * document); each band's count of the seller's facts without this
 * consignment id. */
static facts_res_t
model_totals(const model_fact_t *facts, size_t n, const cw_store_facts_query_t *q)
{
    facts_res_t r;

    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < n; i++) {
        const model_fact_t *f = &facts[i];
        int resend = strcmp(f->cid, q->consignment_id) == 0
                     || (q->transport_doc[0] != '\0' && strcmp(f->doc, q->transport_doc) == 0);

        if (strcmp(f->buyer, q->buyer_key) == 0 && strcmp(f->destination, q->destination) == 0
            && f->date >= q->year_start && f->date <= q->until_date
            && strcmp(f->lane, "red") != 0) {
            r.year_total += f->value;
        }
        if (strcmp(f->buyer, q->buyer_key) == 0 && strcmp(f->currency, q->currency) == 0
            && f->date >= q->split_since_date && f->date <= q->until_date && !resend) {
            r.buyer_count++;
            r.buyer_total += f->value;
        }
        for (size_t b = 0; b < q->bands_len; b++) {
            r.bands[b] += strcmp(f->seller, q->seller_key) == 0
                          && strcmp(f->currency, q->currency) == 0
                          && f->date >= q->cluster_since_date && f->date <= q->until_date
                          && f->value >= q->bands[b].lo && f->value <= q->bands[b].hi
                          && strcmp(f->cid, q->consignment_id) != 0;
        }
    }
    return r;
}

/*
 * The buyer's and the seller's totals, read in as few passes as the store
 * can, against a plain count over every fact: random facts (resends under
 * one consignment id, transport documents shared, two currencies and
 * destinations, the red lane) and random queries (windows across the year's
 * start, bands that overlap or hold nothing, resends of either kind).
 */
static void test_sqlite__ledger_totals_match_a_model(void **state)
{
    static const char *const buyers[] = { "b-1", "b-2", "b-3" };
    static const char *const sellers[] = { "s-1", "s-2", "s-3" };
    static const char *const currencies[] = { "CNY", "EUR" };
    static const char *const destinations[] = { "CN", "DE" };
    enum { FACTS = 240, QUERIES = 300 };
    model_fact_t *facts = cw_calloc(FACTS, sizeof(*facts));
    cw_store_t *store;
    uint64_t x = 0x9e3779b97f4a7c15u;
    char bad[256] = "";
    size_t i;

    (void)state;
    assert_non_null(facts);
    store = store_open();
    for (i = 0; i < FACTS; i++) {
        model_fact_t *f = &facts[i];
        cw_store_msg_t m;
        cw_store_fact_t sf;

        (void)snprintf(f->msg, sizeof(f->msg), "m-%zu", i);
        (void)snprintf(f->cid, sizeof(f->cid), "c-%u", (unsigned)(model_rand(&x) % 60));
        if (model_rand(&x) % 3 != 0) {
            (void)snprintf(f->doc, sizeof(f->doc), "t-%u", (unsigned)(model_rand(&x) % 50));
        }
        f->buyer = buyers[model_rand(&x) % 3];
        f->seller = sellers[model_rand(&x) % 3];
        f->currency = currencies[model_rand(&x) % 2];
        f->destination = destinations[model_rand(&x) % 2];
        f->lane = model_rand(&x) % 4 == 0 ? "red" : "green";
        f->date = 19990 + (int32_t)(model_rand(&x) % 40);
        f->value = (int64_t)(model_rand(&x) % 2000) * 100;

        msg_fill(&m, f->msg, 1, "receipt");
        memset(&sf, 0, sizeof(sf));
        sf.consignment_id = f->cid;
        sf.sender = "platform-a";
        sf.buyer_key = f->buyer;
        sf.seller_key = f->seller;
        sf.business_key = f->msg;
        sf.order_number = f->msg;
        sf.transport_doc = f->doc;
        sf.destination = f->destination;
        sf.currency = f->currency;
        sf.value_minor = f->value;
        sf.date = f->date;
        sf.lane = f->lane;
        sf.codes = "";
        sf.collection = "platform";
        m.fact = &sf;
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    for (i = 0; i < QUERIES && bad[0] == '\0'; i++) {
        cw_store_facts_query_t q;
        char cid[16];
        char doc[16] = "";
        facts_res_t want;
        facts_res_t got;

        memset(&q, 0, sizeof(q));
        (void)snprintf(cid, sizeof(cid), "c-%u", (unsigned)(model_rand(&x) % 70));
        if (model_rand(&x) % 2 == 0) {
            (void)snprintf(doc, sizeof(doc), "t-%u", (unsigned)(model_rand(&x) % 60));
        }
        /* Now and then no buyer, no seller or no currency: those totals
         * are not read, and come back 0. */
        q.buyer_key = model_rand(&x) % 6 == 0 ? "" : buyers[model_rand(&x) % 3];
        q.seller_key = model_rand(&x) % 6 == 0 ? "" : sellers[model_rand(&x) % 3];
        q.currency = model_rand(&x) % 8 == 0 ? "" : currencies[model_rand(&x) % 2];
        q.destination = destinations[model_rand(&x) % 2];
        q.consignment_id = cid;
        q.transport_doc = doc;
        q.until_date = 19995 + (int32_t)(model_rand(&x) % 40);
        q.split_since_date = q.until_date - (int32_t)(model_rand(&x) % 30);
        q.cluster_since_date = q.until_date - (int32_t)(model_rand(&x) % 30);
        q.year_start = 19990 + (int32_t)(model_rand(&x) % 30);
        q.bands_len = 1 + model_rand(&x) % CW_STORE_BANDS_MAX;
        for (size_t b = 0; b < q.bands_len; b++) {
            int64_t lo = (int64_t)(model_rand(&x) % 2000) * 100;

            q.bands[b] = (cw_store_band_t){ lo, lo + (int64_t)(model_rand(&x) % 80000) };
        }
        want = model_totals(facts, FACTS, &q);
        got = facts_sync(store, &q);
        if (got.status != 0 || got.year_total != want.year_total
            || got.buyer_count != want.buyer_count || got.buyer_total != want.buyer_total) {
            (void)snprintf(bad, sizeof(bad),
                           "query %zu: status %d, year %" PRId64 " (want %" PRId64
                           "), window %" PRId64 " %" PRId64 " (want %" PRId64 " %" PRId64 ")",
                           i, got.status, got.year_total, want.year_total, got.buyer_count,
                           got.buyer_total, want.buyer_count, want.buyer_total);
        }
        for (size_t b = 0; b < q.bands_len && bad[0] == '\0'; b++) {
            if (got.bands[b] != want.bands[b]) {
                (void)snprintf(bad, sizeof(bad),
                               "query %zu: band %zu %" PRId64 " (want %" PRId64 ")", i, b,
                               got.bands[b], want.bands[b]);
            }
        }
    }
    /* The store closes before any assertion: a failure must not leave its
     * threads running under the test's teardown. */
    store_close(store);
    cw_free(facts);
    if (bad[0] != '\0') {
        fail_msg("%s", bad);
    }
}

static void test_sqlite__ledger_facts_and_stats(void **state)
{
    cw_store_t *store = store_open();
    cw_store_facts_query_t q;
    facts_res_t r;
    tally_res_t t;
    tally_res_t codes_before;
    size_t i;

    (void)state;
    put_fact(store, "c1", NULL, "buyer-1", "seller-1", "o-1", 20000, 100000, "green", "");
    put_fact(store, "c2", NULL, "buyer-1", "seller-2", "o-2", 20010, 250000, "yellow",
             "SPL-001 THR-002");
    put_fact(store, "c3", NULL, "buyer-2", "seller-1", "o-1", 20020, 50000, "red", "LIM-001");
    put_fact(store, "c4", NULL, "buyer-1", "seller-3", "o-4", 19000, 70000, "green", "");

    /* A buyer's facts are summed, never returned: inside the window only
     * (c4 is older), in the currency asked for. */
    totals_query(&q, "c-new", "");
    r = facts_sync(store, &q);
    assert_int_equal(r.count, 0);
    assert_int_equal(r.buyer_count, 2);
    assert_int_equal(r.buyer_total, 100000 + 250000);
    /* The year total counts every fact of the buyer since year_start but
     * those in the red lane. */
    assert_int_equal(r.year_total, 100000 + 250000 + 70000);
    /* A seller's facts are counted per value band, in the window. */
    assert_int_equal(r.bands[0], 1);
    assert_int_equal(r.bands[1], 2);
    assert_int_equal(r.bands[2], 0);
    /* A resend of c2 (the same consignment id) does not count itself; nor
     * does one under c1's transport document for the buyer. */
    totals_query(&q, "c2", "");
    r = facts_sync(store, &q);
    assert_int_equal(r.buyer_count, 1);
    assert_int_equal(r.buyer_total, 100000);
    totals_query(&q, "c1", "");
    r = facts_sync(store, &q);
    assert_int_equal(r.bands[0], 0);
    assert_int_equal(r.bands[1], 1);
    put_fact(store, "c5", "TD-5", "buyer-1", "seller-9", "o-5", 20011, 3000, "green", "");
    totals_query(&q, "c-other", "TD-5");
    r = facts_sync(store, &q);
    assert_int_equal(r.buyer_count, 2);
    assert_int_equal(r.buyer_total, 350000);
    totals_query(&q, "c-other", "");
    assert_int_equal(facts_sync(store, &q).buyer_count, 3);
    q.currency = "EUR";
    r = facts_sync(store, &q);
    assert_int_equal(r.buyer_count, 0);
    assert_int_equal(r.bands[1], 0);
    /* buyer-2's only fact is red: no year total. */
    totals_query(&q, "c-new", "");
    q.buyer_key = "buyer-2";
    r = facts_sync(store, &q);
    assert_int_equal(r.year_total, 0);
    assert_int_equal(r.buyer_count, 1);
    /* Rows: by seller and order number, by business key, whatever the
     * date. An order number alone matches nothing: a sender's own earlier
     * order is found by its business key, which the checks make from the
     * sender and the order number (schema version 11). */
    memset(&q, 0, sizeof(q));
    q.seller_key = "seller-1";
    q.order_number = "o-1";
    assert_int_equal(facts_sync(store, &q).count, 2);
    memset(&q, 0, sizeof(q));
    q.order_number = "o-1";
    assert_int_equal(facts_sync(store, &q).count, 0);
    q.seller_key = "seller-2";
    assert_int_equal(facts_sync(store, &q).count, 0);
    memset(&q, 0, sizeof(q));
    q.business_key = "c3";
    r = facts_sync(store, &q);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.ids[0], "c3");
    q.bands_len = CW_STORE_BANDS_MAX + 1;
    assert_int_equal(cw_store_facts_query(store, &q, on_facts, &r), CW_EINVAL);
    /* c5 is not part of the figures below. */
    store_close(store);
    {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db,
                                      "PRAGMA foreign_keys = ON;"
                                      " DELETE FROM messages WHERE message_id = 'c5'",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
    }
    store = store_open();
    t = stats_sync(store, CW_STORE_GROUP_LANE);
    assert_int_equal(t.count, 3);
    assert_string_equal(t.line[0], "green CNY 2 170000 17000");
    assert_string_equal(t.line[1], "red CNY 1 50000 5000");
    assert_string_equal(t.line[2], "yellow CNY 1 250000 25000");
    t = stats_sync(store, CW_STORE_GROUP_CODE);
    assert_int_equal(t.count, 3);
    assert_string_equal(t.line[0], "LIM-001 CNY 1 50000 5000");
    assert_string_equal(t.line[1], "SPL-001 CNY 1 250000 25000");
    t = stats_sync(store, CW_STORE_GROUP_DESTINATION);
    assert_int_equal(t.count, 1);
    assert_string_equal(t.line[0], "CN CNY 4 470000 47000");
    codes_before = stats_sync(store, CW_STORE_GROUP_CODE);
    store_close(store);

    /* A version 4 store (no buyer_days) gets its totals from the facts
     * already there when it is migrated. */
    {
        sqlite3 *db = NULL;

        assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, V9_TO_V4_SQL, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
    }
    store = store_open();
    totals_query(&q, "c-new", "");
    r = facts_sync(store, &q);
    assert_int_equal(r.buyer_count, 2);
    assert_int_equal(r.buyer_total, 350000);
    assert_int_equal(r.year_total, 420000);
    assert_int_equal(r.bands[1], 2);
    /* The codes follow their fact to its new id (version 6). */
    t = stats_sync(store, CW_STORE_GROUP_CODE);
    store_close(store);
    assert_true(codes_before.count >= 3);
    assert_int_equal(t.count, codes_before.count);
    for (i = 0; i < t.count; i++) {
        assert_string_equal(t.line[i], codes_before.line[i]);
    }
}

/* Counts the full-table scans in sql's query plan (cascades included). */
static int plan_scans(sqlite3 *db, const char *sql)
{
    char buf[256];
    sqlite3_stmt *st = NULL;
    const unsigned char *detail;
    int scans = 0;

    (void)snprintf(buf, sizeof(buf), "EXPLAIN QUERY PLAN %s", sql);
    assert_int_equal(sqlite3_prepare_v2(db, buf, -1, &st, NULL), SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        detail = sqlite3_column_text(st, 3);
        if (detail != NULL && strncmp((const char *)detail, "SCAN ", 5) == 0) {
            scans++;
        }
    }
    sqlite3_finalize(st);
    return scans;
}

/*
 * Version 6 replaced two key indexes with one, the purge index with one of
 * delivered messages only, and the history and codes tables with tables
 * keyed by their parent, and gave each fact its message's id. A version 5
 * store written row by row (history rows of two messages interleaved,
 * codes not in alphabetical order, fact ids apart from their messages',
 * two rejections under one key) keeps every row, its order and its
 * meaning, and the buyer's totals follow the purge of a fact.
 */
static void test_sqlite__migrates_v5_keys_history_and_codes(void **state)
{
    cw_store_t *store;
    cw_store_msg_t m;
    cw_error_t err;
    get_res_t g1;
    get_res_t g2;
    get_res_t g3;
    put_res_t conflict;
    put_res_t corrected;
    put_res_t again;
    put_res_t rejected;
    purge_res_t p;
    tally_res_t codes;
    sqlite3 *db = NULL;
    char *msg = NULL;
    int dup_rc;
    int rej_rc;
    int scans;

    (void)state;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(cw_store__sqlite_migrate(db, 5, &err), 0);
    assert_int_equal(
        sqlite3_exec(
            db,
            "INSERT INTO messages (id, from_party, message_id, digest, state, received,"
            " receipt_given, created_at_ms, updated_at_ms) VALUES"
            " (1, 'platform-a', 'k-1', zeroblob(32), 'queued', 'e', 'r1', 1000, 1000),"
            " (2, 'platform-a', 'k-2', zeroblob(32), 'rejected', 'e', 'r2', 1000, 1000),"
            " (3, 'platform-a', 'k-2', zeroblob(32), 'rejected', 'e', 'r3', 1100, 1100),"
            " (4, 'platform-a', 'k-3', zeroblob(32), 'delivered', 'e', 'r4', 1000, 1500);"
            " INSERT INTO message_states (id, message, state, at_ms) VALUES"
            " (10, 1, 'received', 1000), (11, 4, 'received', 1000), (12, 1, 'queued', 1000),"
            " (13, 4, 'queued', 1000), (14, 2, 'rejected', 1000), (15, 4, 'delivered', 1500),"
            " (16, 3, 'rejected', 1100);"
            " INSERT INTO facts (id, message, consignment_id, sender, buyer_key, seller_key,"
            " destination, currency, value_minor, date, lane, at_ms) VALUES"
            " (7, 1, 'c-1', 'platform-a', 'b', 's', 'CN', 'CNY', 100, 20000, 'yellow', 1000),"
            " (8, 4, 'c-3', 'platform-a', 'b', 's', 'CN', 'CNY', 200, 20000, 'green', 1000);"
            " INSERT INTO fact_codes (fact, code) VALUES (7, 'THR-002'), (8, 'LIM-001'),"
            " (7, 'SPL-001')",
            NULL, NULL, &msg),
        SQLITE_OK);
    sqlite3_free(msg);
    sqlite3_close(db);

    store = store_open();
    g1 = get_sync(store, "k-1");
    g2 = get_sync(store, "k-2");
    g3 = get_sync(store, "k-3");
    codes = stats_sync(store, CW_STORE_GROUP_CODE);
    /* The key still refuses a second accepted message and still lets a
     * rejected one be corrected. */
    msg_fill(&m, "k-1", 0x22, "r9");
    conflict = put_sync(store, &m);
    msg_fill(&m, "k-2", 0x33, "r5");
    corrected = put_sync(store, &m);
    again = put_sync(store, &m);
    msg_fill(&m, "k-1", 0x44, "r6");
    m.state = CW_STORE_STATE_REJECTED;
    m.problem = "bad";
    rejected = put_sync(store, &m);
    memset(&p, 0, sizeof(p));
    assert_int_equal(cw_store_msg_purge(store, 2000, 10, on_purge, &p), 0);
    run_until(&p.done);
    store_close(store);

    assert_int_equal(g1.status, 0);
    assert_int_equal(g1.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(g1.history_count, 2);
    assert_int_equal(g1.history_last, CW_STORE_STATE_QUEUED);
    assert_int_equal(g2.state, CW_STORE_STATE_REJECTED);
    assert_string_equal(g2.receipt_given, "r3");
    assert_int_equal(g3.history_count, 3);
    assert_int_equal(g3.history_last, CW_STORE_STATE_DELIVERED);
    assert_int_equal(codes.count, 3);
    assert_string_equal(codes.line[0], "LIM-001 CNY 1 200 0");
    assert_string_equal(codes.line[1], "SPL-001 CNY 1 100 0");
    assert_string_equal(codes.line[2], "THR-002 CNY 1 100 0");
    assert_int_equal(conflict.status, 0);
    assert_int_equal(conflict.kind, CW_STORE_PUT_CONFLICT);
    assert_int_equal(corrected.kind, CW_STORE_PUT_NEW);
    assert_int_equal(again.kind, CW_STORE_PUT_DUPLICATE);
    assert_int_equal(rejected.kind, CW_STORE_PUT_NEW);
    /* Only the delivered message is purged, with its history and codes. */
    assert_int_equal(p.status, 0);
    assert_int_equal(p.purged, 1);

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(pragma_int(db, "PRAGMA user_version"), CW_STORE_SCHEMA_VERSION);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN"
                                    " ('messages_dedupe', 'messages_key', 'messages_purge',"
                                    " 'message_states_message', 'fact_codes_fact', 'facts_order')"),
                     0);
    /* A fact's id is its message's; codes and history in the order they
     * were written. */
    assert_int_equal(pragma_int(db, "SELECT group_concat(id) = '1' FROM facts"), 1);
    assert_int_equal(pragma_int(db, "SELECT group_concat(code, ' ') = 'THR-002 SPL-001'"
                                    " FROM fact_codes WHERE fact = 1"),
                     1);
    assert_int_equal(pragma_int(db, "SELECT group_concat(state, ' ') = 'received queued'"
                                    " FROM (SELECT state FROM message_states WHERE message = 1"
                                    " ORDER BY seq)"),
                     1);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM message_states WHERE message = 4"), 0);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM fact_codes WHERE fact = 4"), 0);
    assert_int_equal(pragma_int(db, "SELECT n * 1000 + total_minor FROM buyer_days"
                                    " WHERE buyer_key = 'b'"),
                     1100);
    /* Deleting a message reaches every child row by a key, never by a
     * scan: a purge's cost does not grow with the store. */
    scans = plan_scans(db, "DELETE FROM messages WHERE id = 1");
    /* The index itself, not only the writer's lookup, holds the key. */
    dup_rc = sqlite3_exec(db,
                          "INSERT INTO messages (from_party, message_id, digest, state,"
                          " created_at_ms, updated_at_ms) VALUES ('platform-a', 'k-1',"
                          " zeroblob(32), 'received', 1, 1)",
                          NULL, NULL, NULL);
    rej_rc = sqlite3_exec(db,
                          "INSERT INTO messages (from_party, message_id, digest, state,"
                          " created_at_ms, updated_at_ms) VALUES ('platform-a', 'k-1',"
                          " zeroblob(32), 'rejected', 1, 1)",
                          NULL, NULL, NULL);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
    sqlite3_close(db);
    assert_int_equal(scans, 0);
    assert_int_equal(dup_rc, SQLITE_CONSTRAINT);
    assert_int_equal(rej_rc, SQLITE_OK);
}

/*
 * Ledger reads and list pages have their own connection: while another
 * connection holds the write lock, so that the writer thread is stuck
 * waiting to begin its transaction, a facts query and a list page are
 * still answered from what was committed. On the writer's queue they would
 * have waited behind the stuck put (and a long list held up every commit).
 */
static void test_sqlite__ledger_reads_do_not_wait_for_the_writer(void **state)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_t *store;
    cw_store_facts_query_t q;
    cw_store_msg_t m;
    put_res_t blocked;
    facts_res_t r;
    cw_store_filter_t f;
    list_res_t l;
    sqlite3 *other = NULL;
    int answered;
    int listed;
    int put_waiting;

    (void)state;
    opts.busy_timeout_ms = 5000;
    store = store_open_opts(&opts);
    put_fact(store, "c1", NULL, "buyer-1", "seller-1", "o-1", 20000, 100000, "green", "");
    assert_int_equal(sqlite3_open(db_path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);

    memset(&blocked, 0, sizeof(blocked));
    msg_fill(&m, "behind-the-lock", 2, "receipt");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &blocked), 0);
    memset(&q, 0, sizeof(q));
    q.business_key = "c1";
    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_facts_query(store, &q, on_facts, &r), 0);
    /* Answered well within the writer's 5 s wait for the lock, while the
     * put is still waiting: the read did not queue behind it. */
    answered = run_until_or_ms(&r.done, 2000);
    memset(&f, 0, sizeof(f));
    f.limit = 10;
    memset(&l, 0, sizeof(l));
    assert_int_equal(cw_store_msg_list(store, &f, on_list, &l), 0);
    listed = run_until_or_ms(&l.done, 2000);
    put_waiting = !blocked.done;

    /* Release everything before asserting, so that a failure cannot leave
     * the store open and the teardown waiting for it. */
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(other), SQLITE_OK);
    run_until(&blocked.done);
    run_until(&r.done);
    run_until(&l.done);
    store_close(store);
    assert_true(answered);
    assert_true(listed);
    assert_true(put_waiting);
    /* The page holds what was committed: c1's message, not the stuck put. */
    assert_int_equal(l.status, 0);
    assert_int_equal(l.count, 1);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.count, 1);
    assert_string_equal(r.ids[0], "c1");
    assert_int_equal(blocked.status, 0);
    assert_int_equal(blocked.kind, CW_STORE_PUT_NEW);
}

/* One of the threads reading the ledger at once. */
typedef struct here_thread {
    cw_store_t *store;
    int64_t buyer_total; /* of the last read */
    int failures;        /* reads that did not return 0 */
} here_thread_t;

static void here_thread_main(void *arg)
{
    here_thread_t *h = arg;
    cw_store_facts_query_t q;
    cw_store_facts_t f;
    cw_pool_t *pool;
    int i;

    totals_query(&q, "c-new", "");
    for (i = 0; i < 20; i++) {
        pool = cw_pool_new(4096);
        if (pool == NULL || cw_store_facts_query_here(h->store, &q, pool, &f) != 0) {
            h->failures++;
        } else {
            h->buyer_total = f.buyer_total_minor;
        }
        cw_pool_free(pool);
    }
}

/*
 * cw_store_facts_query_here answers on the calling thread what the reader
 * thread answers; it does not wait for a writer holding the lock; more
 * threads than it keeps connections for all get their answer; the read
 * fault fails it (and the reader thread's) while set; and once the store
 * is closing it refuses.
 */
static void test_sqlite__ledger_reads_on_the_callers_thread(void **state)
{
    cw_store_t *store = store_open();
    cw_store_facts_query_t q;
    cw_store_facts_t here;
    here_thread_t h[12];
    uv_thread_t threads[12];
    facts_res_t r;
    cw_pool_t *pool;
    sqlite3 *other = NULL;
    cw_store_facts_t faulted;
    facts_res_t faulted_async;
    int while_locked;
    int after_close;
    int faulted_here;
    int cleared_here;
    int rc;
    size_t i;

    (void)state;
    put_fact(store, "c1", NULL, "buyer-1", "seller-1", "o-1", 20000, 100000, "green", "");
    put_fact(store, "c2", NULL, "buyer-1", "seller-2", "o-2", 20010, 250000, "yellow", "SPL-001");
    put_fact(store, "c4", NULL, "buyer-1", "seller-3", "o-4", 19000, 70000, "green", "");
    totals_query(&q, "c-new", "");
    q.business_key = "c2";
    r = facts_sync(store, &q);

    pool = cw_pool_new(4096);
    assert_non_null(pool);
    rc = cw_store_facts_query_here(store, &q, pool, &here);
    assert_int_equal(sqlite3_open(db_path, &other), SQLITE_OK);
    assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    while_locked = cw_store_facts_query_here(store, &q, pool, &here);
    assert_int_equal(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(other), SQLITE_OK);

    for (i = 0; i < 12; i++) {
        memset(&h[i], 0, sizeof(h[i]));
        h[i].store = store;
        assert_int_equal(uv_thread_create(&threads[i], here_thread_main, &h[i]), 0);
    }
    for (i = 0; i < 12; i++) {
        assert_int_equal(uv_thread_join(&threads[i]), 0);
    }
    /* The test fault fails the read on either path, and only while set. */
    cw_store_fault_set(store, CW_STORE_FAULT_READ_FAIL);
    faulted_here = cw_store_facts_query_here(store, &q, pool, &faulted);
    memset(&faulted_async, 0, sizeof(faulted_async));
    assert_int_equal(cw_store_facts_query(store, &q, on_facts, &faulted_async), 0);
    run_until(&faulted_async.done);
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    cleared_here = cw_store_facts_query_here(store, &q, pool, &faulted);
    closed = 0;
    cw_store_close(store, on_closed, NULL);
    after_close = cw_store_facts_query_here(store, &q, pool, &here);
    run_until(&closed);

    assert_int_equal(rc, 0);
    assert_int_equal(while_locked, 0);
    assert_int_equal(after_close, CW_ECLOSED);
    assert_int_equal(faulted_here, CW_EIO);
    assert_int_equal(faulted_async.status, CW_EIO);
    assert_int_equal(cleared_here, 0);
    /* The last answer (taken while another connection held the write lock)
     * is the reader thread's. */
    assert_int_equal(here.count, r.count);
    assert_int_equal(here.count, 1);
    assert_string_equal(here.items[0].consignment_id, "c2");
    assert_int_equal(here.buyer_count, r.buyer_count);
    assert_int_equal(here.buyer_total_minor, r.buyer_total);
    assert_int_equal(here.buyer_year_total_minor, r.year_total);
    for (i = 0; i < 3; i++) {
        assert_int_equal(here.band_count[i], r.bands[i]);
    }
    for (i = 0; i < 12; i++) {
        assert_int_equal(h[i].failures, 0);
        assert_int_equal(h[i].buyer_total, r.buyer_total);
    }
    cw_pool_free(pool);
}

/* Bytes of the WAL file of the test store. */
static long wal_size(void)
{
    char p[600];
    struct stat st;

    (void)snprintf(p, sizeof(p), "%s-wal", db_path);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/*
 * The checkpoint sequence number in the WAL header (bytes 12-15, big
 * endian; sqlite.org/fileformat2.html#walformat): SQLite rewrites the
 * header with it one higher each time the WAL restarts from its beginning.
 */
static uint32_t wal_restarts(void)
{
    char p[600];
    unsigned char h[16];
    ssize_t n;
    int fd;

    (void)snprintf(p, sizeof(p), "%s-wal", db_path);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = pread(fd, h, sizeof(h), 0);
    (void)close(fd);
    assert_int_equal(n, (ssize_t)sizeof(h));
    return (uint32_t)h[12] << 24 | (uint32_t)h[13] << 16 | (uint32_t)h[14] << 8 | (uint32_t)h[15];
}

/*
 * Whether every frame of the WAL has been copied into the database, from
 * the WAL index (the -shm file; sqlite.org/walformat.html): its header's
 * mxFrame (bytes 16-19) against the checkpoint's nBackfill (bytes 96-99),
 * both in the machine's byte order.
 */
static int wal_caught_up(void)
{
    char p[600];
    unsigned char h[100];
    uint32_t mx_frame;
    uint32_t backfill;
    ssize_t n;
    int fd;

    (void)snprintf(p, sizeof(p), "%s-shm", db_path);
    fd = open(p, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    n = pread(fd, h, sizeof(h), 0);
    (void)close(fd);
    assert_int_equal(n, (ssize_t)sizeof(h));
    memcpy(&mx_frame, h + 16, sizeof(mx_frame));
    memcpy(&backfill, h + 96, sizeof(backfill));
    return mx_frame > 0 && backfill == mx_frame;
}

/* Puts n messages of 16 KiB (ids prefix-<i>) and waits for them. */
static void put_big(cw_store_t *store, const char *prefix, int n, const char *blob)
{
    cw_store_msg_t m;
    char id[32];
    int i;

    group_done = 0;
    for (i = 0; i < n; i++) {
        (void)snprintf(id, sizeof(id), "%s-%d", prefix, i);
        msg_fill(&m, id, 0x21, "r");
        m.received = blob;
        m.received_len = 16384;
        assert_int_equal(cw_store_msg_put(store, &m, on_group_put, NULL), 0);
    }
    run_until_count(&group_done, n);
}

/*
 * Checkpoints run on their own thread: after 4.9 MB of writes (past the
 * 1,000-page threshold) the checkpointer has run and, the writer being
 * idle, caught up; the next write restarts the WAL from its beginning
 * instead of growing it to hold both bursts. A fresh connection reads
 * everything back.
 *
 * The restart is read from the WAL header, not inferred from the file's
 * size: how many frames a burst takes depends on how the writer grouped
 * its commits (every commit rewrites the pages it touched), which depends
 * on the machine's speed. Only the payload is fixed: both bursts together
 * (9.8 MB) cannot fit in a WAL that was never reused.
 */
static void test_sqlite__checkpoints_off_the_writer(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t stats;
    char *blob = cw_malloc(16384);
    sqlite3 *db = NULL;
    uint32_t restarts_idle;
    uint32_t restarts_next;
    long size_first;
    long size_after;

    (void)state;
    assert_non_null(blob);
    memset(blob, 'x', 16384);
    put_big(store, "first", 300, blob);
    /* The writer is idle now: the checkpointer catches up within a few of
     * its 20 ms retries. A fixed second was not always enough under
     * ThreadSanitizer on a busy machine; this waits for it, up to 20 s. */
    for (int i = 0; i < 1000 && !wal_caught_up(); i++) {
        uv_sleep(20);
    }
    assert_true(wal_caught_up());
    cw_store_stats_get(store, &stats);
    size_first = wal_size();
    restarts_idle = wal_restarts();
    /* The first write after it begins the WAL again. */
    put_big(store, "second", 1, blob);
    restarts_next = wal_restarts();
    put_big(store, "third", 299, blob);
    size_after = wal_size();
    store_close(store);
    cw_free(blob);
    assert_true(stats.checkpoints > 0);
    /* Each checkpoint copied pages and fsynced the file: time went by. */
    assert_true(stats.checkpoint_ns > 0);
    /* Commits beside a checkpoint are some of the commits. */
    assert_true(stats.transactions_beside_checkpoint <= stats.transactions);
    assert_true(stats.commit_beside_checkpoint_ns <= stats.commit_ns);
    assert_int_equal(restarts_next, restarts_idle + 1);
    /* The first burst's 4.9 MB went through the WAL; both bursts' 9.8 MB
     * would not fit in it had it not begun again. */
    assert_true(size_first > 300L * 16384);
    assert_true(size_after < 600L * 16384);

    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM messages WHERE length(received) = 16384"),
                     600);
    sqlite3_close(db);
}

/* Syncs of kind counted in the buckets: at most all of them (the rest took
 * over a second). */
static void assert_buckets_within(const cw_store_stats_t *st)
{
    for (int k = 0; k < CW_STORE_SYNC_KINDS; k++) {
        uint64_t n = 0;

        for (int i = 0; i < CW_STORE_SYNC_BUCKETS; i++) {
            n += st->sync_buckets[k][i];
        }
        assert_true(n <= st->sync_count[k]);
    }
}

/* Puts n small messages, one commit each. */
static void put_one_by_one(cw_store_t *store, const char *prefix, int n)
{
    cw_store_msg_t m;
    char id[32];

    for (int i = 0; i < n; i++) {
        (void)snprintf(id, sizeof(id), "%s-%d", prefix, i);
        msg_fill(&m, id, (char)i, "r");
        assert_int_equal(put_sync(store, &m).status, 0);
    }
}

/*
 * Every fsync of the store's files is timed, by file (walbuf.c): under
 * synchronous=FULL one of the WAL for each commit, and one of the database
 * for each checkpoint that caught up, on the checkpointer's own connection
 * (1,200 pages are short of the 4,000 at which the writer checkpoints
 * itself). Under NORMAL a commit syncs nothing (and the writer's few
 * syncs are not timed: it opens through the default VFS).
 */
static void test_sqlite__syncs_are_timed(void **state)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_stats_t s0;
    cw_store_stats_t s1;
    cw_store_stats_t s2;
    cw_store_t *store;
    char *blob = cw_malloc(16384);

    (void)state;
    assert_non_null(blob);
    memset(blob, 'x', 16384);
    store = store_open();
    cw_store_stats_get(store, &s0);
    put_one_by_one(store, "full", 20);
    cw_store_stats_get(store, &s1);
    assert_true(s1.sync_count[CW_STORE_SYNC_WAL] >= s0.sync_count[CW_STORE_SYNC_WAL] + 20);
    assert_true(s1.sync_ns[CW_STORE_SYNC_WAL] > s0.sync_ns[CW_STORE_SYNC_WAL]);
    assert_buckets_within(&s1);
    put_big(store, "big", 300, blob);
    uv_sleep(1000);
    cw_store_stats_get(store, &s2);
    store_close(store);
    cw_free(blob);
    assert_true(s2.checkpoints > s1.checkpoints);
    assert_true(s2.sync_count[CW_STORE_SYNC_DATABASE] > s1.sync_count[CW_STORE_SYNC_DATABASE]);
    assert_true(s2.sync_ns[CW_STORE_SYNC_DATABASE] > s1.sync_ns[CW_STORE_SYNC_DATABASE]);
    assert_buckets_within(&s2);

    opts.sync = CW_STORE_SYNC_NORMAL;
    store = store_open_opts(&opts);
    cw_store_stats_get(store, &s0);
    put_one_by_one(store, "normal", 10);
    cw_store_stats_get(store, &s1);
    store_close(store);
    assert_true(s1.sync_count[CW_STORE_SYNC_WAL] == s0.sync_count[CW_STORE_SYNC_WAL]);
}

/* ==== The syncer ==== */

/*
 * Under synchronous=FULL the commit's fsync is the syncer's: COMMIT writes
 * the WAL and the commit is visible at once, but nothing that could have
 * seen it is answered before the WAL is flushed. With the syncer held
 * (the fault hook), a put is written and visible to another connection,
 * yet neither it nor a status read on the writer nor a list on the reader
 * is answered; let go, all three are, after one more flush of the WAL.
 */
static void test_sqlite__answers_wait_for_the_sync(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t s0;
    cw_store_stats_t s1;
    cw_store_filter_t f;
    cw_store_msg_t m;
    list_res_t lr;
    get_res_t gr;
    put_res_t pr;

    (void)state;
    msg_fill(&m, "first-1", 0x21, "r");
    assert_int_equal(put_sync(store, &m).status, 0); /* the WAL's first sync is SQLite's */
    cw_store_fault_set(store, CW_STORE_FAULT_SYNC_HOLD);
    cw_store_stats_get(store, &s0);

    memset(&pr, 0, sizeof(pr));
    msg_fill(&m, "held-1", 0x22, "receipt-held");
    msg_queue(&m, "to-customs", 1000);
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &pr), 0);
    assert_false(run_until_or_ms(&pr.done, 300));
    assert_int_equal(rows_seen_apart("held-%"), 1);

    memset(&gr, 0, sizeof(gr));
    assert_int_equal(cw_store_msg_get(store, "platform-a", "held-1", on_get, &gr), 0);
    memset(&lr, 0, sizeof(lr));
    memset(&f, 0, sizeof(f));
    f.limit = 10;
    assert_int_equal(cw_store_msg_list(store, &f, on_list, &lr), 0);
    assert_false(run_until_or_ms(&gr.done, 200));
    assert_false(lr.done);
    assert_false(pr.done);

    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    run_until(&pr.done);
    run_until(&gr.done);
    run_until(&lr.done);
    cw_store_stats_get(store, &s1);
    assert_int_equal(pr.status, 0);
    assert_int_equal(pr.kind, CW_STORE_PUT_NEW);
    assert_int_equal(gr.status, 0);
    assert_int_equal(gr.state, CW_STORE_STATE_QUEUED);
    assert_int_equal(lr.status, 0);
    assert_int_equal(lr.count, 2);
    assert_true(s1.sync_count[CW_STORE_SYNC_WAL] > s0.sync_count[CW_STORE_SYNC_WAL]);
    store_close(store);
}

/*
 * clearway_store_write_request_seconds: every write the writer committed is
 * timed in four parts, reads are not, and a write held at its flush shows
 * the hold in the flush part, not in the parts before it.
 */
static void test_sqlite__write_parts_show_where_the_time_went(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t s0;
    cw_store_stats_t s1;
    cw_store_stats_t s2;
    cw_store_msg_t m;
    put_res_t pr;
    uint64_t held_ns = 200u * 1000u * 1000u;

    (void)state;
    assert_string_equal(cw_store_part_name(CW_STORE_PART_QUEUE), "queue");
    assert_string_equal(cw_store_part_name(CW_STORE_PART_HANDBACK), "handback");
    assert_null(cw_store_part_name(CW_STORE_PARTS));
    msg_fill(&m, "parts-first", 0x40, "r");
    assert_int_equal(put_sync(store, &m).status, 0); /* the WAL's first sync is SQLite's */
    cw_store_stats_get(store, &s0);
    put_one_by_one(store, "parts", 5);
    assert_int_equal(get_sync(store, "parts-0").status, 0);
    cw_store_stats_get(store, &s1);
    assert_int_equal(s1.part_count - s0.part_count, 5);
    for (int k = 0; k < CW_STORE_PARTS; k++) {
        uint64_t n = 0;

        for (int i = 0; i < CW_STORE_SYNC_BUCKETS; i++) {
            n += s1.part_buckets[k][i];
        }
        assert_true(n <= s1.part_count);
    }
    assert_true(s1.part_ns[CW_STORE_PART_WRITE] > s0.part_ns[CW_STORE_PART_WRITE]);

    /* One write held at its flush for 200 ms. */
    cw_store_fault_set(store, CW_STORE_FAULT_SYNC_HOLD);
    memset(&pr, 0, sizeof(pr));
    msg_fill(&m, "parts-held", 0x41, "r");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &pr), 0);
    assert_false(run_until_or_ms(&pr.done, held_ns / 1000000u));
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    run_until(&pr.done);
    assert_int_equal(pr.status, 0);
    cw_store_stats_get(store, &s2);
    store_close(store);
    assert_int_equal(s2.part_count - s1.part_count, 1);
    assert_true(s2.part_ns[CW_STORE_PART_FLUSH] - s1.part_ns[CW_STORE_PART_FLUSH] >= held_ns);
    assert_true(s2.part_ns[CW_STORE_PART_QUEUE] - s1.part_ns[CW_STORE_PART_QUEUE] < held_ns);
    assert_true(s2.part_ns[CW_STORE_PART_WRITE] - s1.part_ns[CW_STORE_PART_WRITE] < held_ns);
    /* Counted in a bucket whose bound is at least the hold, never below. */
    for (int i = 0; i < CW_STORE_SYNC_BUCKETS; i++) {
        if (cw_store_sync_bounds_ns[i] < held_ns) {
            assert_int_equal(s2.part_buckets[CW_STORE_PART_FLUSH][i],
                             s1.part_buckets[CW_STORE_PART_FLUSH][i]);
        }
    }
}

/*
 * A failed fdatasync leaves unknown what of the WAL is on disk, so from
 * then on the store answers CW_EIO to everything, the write whose sync
 * failed first, until it is opened again, when it works from the file:
 * what was acknowledged before is there.
 */
static void test_sqlite__failed_sync_answers_eio_until_reopened(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t st;
    cw_store_msg_t m;

    (void)state;
    msg_fill(&m, "ok-1", 0x31, "r");
    assert_int_equal(put_sync(store, &m).status, 0);
    msg_fill(&m, "ok-2", 0x32, "r");
    assert_int_equal(put_sync(store, &m).status, 0);
    cw_store_stats_get(store, &st);
    assert_int_equal(st.broken, 0);

    cw_store_fault_set(store, CW_STORE_FAULT_SYNC_FAIL);
    msg_fill(&m, "lost-1", 0x33, "r");
    assert_int_equal(put_sync(store, &m).status, CW_EIO);
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    msg_fill(&m, "after-1", 0x34, "r");
    assert_int_equal(put_sync(store, &m).status, CW_EIO);
    assert_int_equal(get_sync(store, "ok-1").status, CW_EIO);
    cw_store_stats_get(store, &st);
    assert_int_equal(st.broken, 1);
    store_close(store);

    store = store_open();
    cw_store_stats_get(store, &st);
    assert_int_equal(st.broken, 0);
    assert_int_equal(get_sync(store, "ok-1").status, 0);
    assert_int_equal(get_sync(store, "ok-2").status, 0);
    assert_int_equal(get_sync(store, "after-1").status, CW_ENOENT);
    msg_fill(&m, "again-1", 0x35, "r");
    assert_int_equal(put_sync(store, &m).status, 0);
    store_close(store);
}

/*
 * The WAL starting over: SQLite writes its new header and syncs it before
 * the first frame after it, so that the new frames cannot reach the disk
 * while the old header still does (walbuf.c). That sync is the writer's,
 * at once, even inside a COMMIT whose own flush the syncer owns: with the
 * syncer held, the commit that restarts the WAL still flushes the WAL once,
 * and the next commit, which continues it, does not.
 */
static void test_sqlite__restarted_wal_header_synced_at_once(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t s0;
    cw_store_stats_t s1;
    cw_store_stats_t s2;
    cw_store_msg_t m;
    put_res_t pr;
    put_res_t pr2;
    sqlite3 *db = NULL;
    uint32_t restarts;
    int log = -1;
    int done = -1;

    (void)state;
    msg_fill(&m, "hdr-first", 0x51, "r");
    assert_int_equal(put_sync(store, &m).status, 0); /* the WAL's first sync is SQLite's */
    msg_fill(&m, "hdr-second", 0x52, "r");
    assert_int_equal(put_sync(store, &m).status, 0); /* the syncer's */
    /* Every frame copied into the database: the next write starts over. */
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    /* (A connection learns that the file is in WAL mode by reading it.) */
    assert_int_equal(pragma_int(db, "SELECT count(*) FROM messages"), 2);
    assert_int_equal(sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done),
                     SQLITE_OK);
    (void)sqlite3_close(db);
    assert_true(log > 0);
    assert_int_equal(done, log);
    restarts = wal_restarts();

    cw_store_fault_set(store, CW_STORE_FAULT_SYNC_HOLD);
    cw_store_stats_get(store, &s0);
    memset(&pr, 0, sizeof(pr));
    msg_fill(&m, "hdr-restart", 0x53, "r");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &pr), 0);
    assert_false(run_until_or_ms(&pr.done, 300));
    cw_store_stats_get(store, &s1);
    assert_int_equal(wal_restarts(), restarts + 1);
    assert_int_equal(s1.sync_count[CW_STORE_SYNC_WAL] - s0.sync_count[CW_STORE_SYNC_WAL], 1);

    memset(&pr2, 0, sizeof(pr2));
    msg_fill(&m, "hdr-next", 0x54, "r");
    assert_int_equal(cw_store_msg_put(store, &m, on_put, &pr2), 0);
    assert_false(run_until_or_ms(&pr2.done, 200));
    cw_store_stats_get(store, &s2);
    assert_int_equal(s2.sync_count[CW_STORE_SYNC_WAL], s1.sync_count[CW_STORE_SYNC_WAL]);
    assert_false(pr.done);

    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    run_until(&pr.done);
    run_until(&pr2.done);
    assert_int_equal(pr.status, 0);
    assert_int_equal(pr2.status, 0);
    store_close(store);
}

/*
 * A checkpoint that fails with an I/O error (its fsync of the database, as
 * a rule) leaves unknown what of the database is on disk, as a failed
 * flush of the WAL does, and Linux reports such an error once: the store
 * stops checkpointing and acknowledging (CW_EIO, broken) instead of letting
 * the WAL start over on the next checkpoint's word. Reopened, it has every
 * message it acknowledged.
 */
static void test_sqlite__failed_checkpoint_answers_eio_until_reopened(void **state)
{
    cw_store_t *store = store_open();
    cw_store_stats_t st;
    cw_store_msg_t m;
    char *blob = cw_malloc(16384);
    char id[32];
    int acked = 0;
    int i;

    (void)state;
    assert_non_null(blob);
    memset(blob, 'c', 16384);
    cw_store_fault_set(store, CW_STORE_FAULT_CKPT_FAIL);
    /* Past 1,000 WAL pages the checkpointer is woken, and fails; on its
     * own thread, so the puts may all be answered before it runs (a busy
     * machine): then the store breaks a moment after the last. */
    for (i = 0; i < 600; i++) {
        put_res_t r;

        (void)snprintf(id, sizeof(id), "ckpt-%d", i);
        msg_fill(&m, id, 0x61, "r");
        m.received = blob;
        m.received_len = 16384;
        r = put_sync(store, &m);
        if (r.status != 0) {
            assert_int_equal(r.status, CW_EIO);
            break;
        }
        acked++;
    }
    assert_true(acked > 0);
    for (i = 0; i < 1000; i++) {
        cw_store_stats_get(store, &st);
        if (st.broken) {
            break;
        }
        uv_sleep(10);
    }
    cw_store_fault_set(store, CW_STORE_FAULT_NONE);
    assert_int_equal(st.broken, 1);
    msg_fill(&m, "ckpt-after", 0x62, "r");
    assert_int_equal(put_sync(store, &m).status, CW_EIO);
    store_close(store);

    store = store_open();
    cw_store_stats_get(store, &st);
    assert_int_equal(st.broken, 0);
    for (i = 0; i < acked; i++) {
        (void)snprintf(id, sizeof(id), "ckpt-%d", i);
        assert_int_equal(get_sync(store, id).status, 0);
    }
    assert_int_equal(get_sync(store, "ckpt-after").status, CW_ENOENT);
    store_close(store);
    cw_free(blob);
}

/* ==== Sub-journal spill ==== */

/* A VFS over the default one that counts the sub-journal files SQLite
 * opens: a savepoint's rollback copy that left memory. */
static sqlite3_vfs shim_vfs;
static sqlite3_vfs *shim_base;
static atomic_int subjournal_opens;

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    if ((flags & SQLITE_OPEN_SUBJOURNAL) != 0) {
        atomic_fetch_add(&subjournal_opens, 1);
    }
    return shim_base->xOpen(shim_base, name, f, flags, out);
}

#define COPY_BLOB 131072 /* a message's evidence: 32 pages, past SQLite's 64 KiB spill */

/* Puts n queued messages with COPY_BLOB bytes of evidence and delivers
 * them. */
static void put_delivered(cw_store_t *store, const char *prefix, int n, const char *blob)
{
    cw_store_msg_t m;
    char id[32];
    int i;

    for (i = 0; i < n; i++) {
        (void)snprintf(id, sizeof(id), "%s-%d", prefix, i);
        msg_fill(&m, id, 0x31, "r");
        msg_queue(&m, "to-customs", 1000);
        m.received = blob;
        m.received_len = COPY_BLOB;
        assert_int_equal(put_sync(store, &m).status, 0);
    }
    deliver_all(store, 2000);
}

/* Purges every delivered message in one batch: one write. */
static void purge_all(cw_store_t *store, int n)
{
    purge_res_t p;

    memset(&p, 0, sizeof(p));
    assert_int_equal(cw_store_msg_purge(store, 10000, 1000, on_purge, &p), 0);
    run_until(&p.done);
    assert_int_equal(p.status, 0);
    assert_int_equal(p.purged, n);
}

/*
 * A message's write keeps its rollback copy in memory, even when it reuses
 * freed pages and the copy passes SQLite's 64 KiB spill; a purge, whose one
 * write may free gigabytes, keeps its copy in a file (SQLite's
 * secure_delete overwrites the freed pages, so they are in the copy).
 */
static void test_sqlite__rollback_copies_in_memory_except_purges(void **state)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_store_t *store;
    char *blob = cw_malloc(COPY_BLOB);
    sqlite3 *db = NULL;
    int secure_delete;

    (void)state;
    assert_non_null(blob);
    memset(blob, 'y', COPY_BLOB);
    assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
    secure_delete = pragma_int(db, "PRAGMA secure_delete");
    sqlite3_close(db);
    shim_base = sqlite3_vfs_find(NULL);
    assert_non_null(shim_base);
    shim_vfs = *shim_base;
    shim_vfs.pNext = NULL;
    shim_vfs.zName = "cw-test-shim";
    shim_vfs.xOpen = shim_open;
    assert_int_equal(sqlite3_vfs_register(&shim_vfs, 1), SQLITE_OK);
    atomic_store(&subjournal_opens, 0);

    /* synchronous=NORMAL: the writer then opens its files through the
     * default VFS, the shim, not through walbuf.c's, which wraps the
     * default VFS of its first use. Sub-journals do not depend on it. */
    opts.sync = CW_STORE_SYNC_NORMAL;
    store = store_open_opts(&opts);
    put_delivered(store, "first", 20, blob);
    assert_int_equal(atomic_load(&subjournal_opens), 0);
    purge_all(store, 20); /* 2.6 MB freed in one write */
    if (secure_delete) {
        assert_true(atomic_load(&subjournal_opens) > 0);
    }
    /* The same again, onto the freed pages: each put's copy now holds the
     * 32 pages it reuses, and stays in memory. */
    atomic_store(&subjournal_opens, 0);
    put_delivered(store, "second", 20, blob);
    assert_int_equal(atomic_load(&subjournal_opens), 0);
    purge_all(store, 20);
    store_close(store);
    assert_int_equal(sqlite3_vfs_unregister(&shim_vfs), SQLITE_OK);
    assert_int_equal(sqlite3_vfs_register(shim_base, 1), SQLITE_OK);
    cw_free(blob);
}

static void test_sqlite__allocation_failures_are_clean(void **state)
{
    cw_store_t *store = store_open();
    cw_store_msg_t m;
    get_res_t g;
    long n;
    int rc;

    (void)state;
    msg_fill(&m, "oom-1", 0x11, "receipt-oom");
    msg_queue(&m, "to-customs", 1000);
    /* Every allocation of a put, on the loop or the writer, fails once in
     * turn: the put is refused or fails whole, and nothing leaks. */
    for (n = 0; n < 40; n++) {
        oom_done = 0;
        cw_alloc_fail_after(n);
        rc = cw_store_msg_put(store, &m, on_oom_put, NULL);
        if (rc == 0) {
            run_until(&oom_done);
        }
        cw_alloc_fail_reset();
        assert_true(rc == 0 || rc == CW_ENOMEM);
        assert_true(rc < 0 || oom_status == 0 || oom_status == CW_ENOMEM);
    }
    g = get_sync(store, "oom-1");
    assert_int_equal(g.status, 0);
    assert_string_equal(g.receipt_given, "receipt-oom");
    assert_int_equal(put_sync(store, &m).kind, CW_STORE_PUT_DUPLICATE);
    store_close(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sqlite__put_new_duplicate_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__durable_across_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__group_commit_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__close_drains_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__migrates_from_version_0, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__refuses_foreign_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__commit_failure_stores_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__wal_writes_gathered_per_commit, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__claim_returns_what_the_receipt_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__claim_lease_and_expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__list_pages_with_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__list_failed_and_rejected_by_their_index, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__ledger_reads_seek_their_indexes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__retry_semantics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__count_by_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__purge_in_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__full_store_fails_with_eio, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__second_process_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__ledger_facts_and_stats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__ledger_totals_match_a_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__evidence_kept_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__no_memory_statistics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__migrates_v8_envelopes_out_of_deliveries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__migrates_v5_keys_history_and_codes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__ledger_reads_do_not_wait_for_the_writer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__ledger_reads_on_the_callers_thread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__checkpoints_off_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__syncs_are_timed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__answers_wait_for_the_sync, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__restarted_wal_header_synced_at_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__failed_checkpoint_answers_eio_until_reopened,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__write_parts_show_where_the_time_went, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__failed_sync_answers_eio_until_reopened, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__rollback_copies_in_memory_except_purges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sqlite__allocation_failures_are_clean, setup,
                                        teardown),
    };

    return cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
}
