/*
 * The SQLite backend: one writer connection owned by one writer thread, with
 * group commit, and one read-only connection owned by a reader thread for
 * the ledger's queries.
 *
 * Lookups on the writer: SQLite allows one writer at a time anyway, and a
 * status lookup by key is cheap next to the fsync of a commit. Serving it
 * on the writer, between transactions, gives it a view that includes every
 * write acknowledged before it. List pages go to the reader: a page
 * filtered on a rare state or an old date walks the whole messages table
 * (its rows reach past their blobs for created_at_ms), seconds to minutes
 * on a large store, and on the writer every commit waited behind it. The
 * reader sees every committed transaction, so every acknowledged write.
 * The count of messages by state (the dashboard's) walks the whole table
 * too, and goes to the reader for the same reason.
 *
 * Ledger reads on the reader: intake asks the ledger for a consignment's
 * history before it can assess it, on every message. Queued behind the
 * writer, that read waited for up to two group commits; in the ingest
 * benchmark (bench/README.md) it was the largest part of the p99 latency.
 * WAL lets a reader run while the writer commits, so the facts and stats
 * queries go to their own connection and thread. They see every committed
 * transaction, which includes every acknowledged write; a message still in
 * flight is not in the ledger yet either way. Intake's own ledger read goes
 * further: its worker thread borrows a read-only connection for the call
 * (sqlite_facts_here), saving the hand-overs to the reader and back.
 *
 * Checkpoints on the checkpointer: SQLite's automatic checkpoint runs in the
 * connection that commits, so every ~1,000 WAL pages one group commit also
 * copied the WAL into the database and fsynced it, and every request queued
 * behind it waited (in the benchmark, 20 % of the writer's time). The
 * writer's WAL hook now only wakes a checkpointer thread with its own
 * connection, which runs PASSIVE checkpoints: they never block the writer,
 * and the WAL restarts from its beginning once one has caught up.
 *
 * Group commit: the writer takes every request queued when it wakes (up to
 * group_max), runs all the writes among them in one BEGIN IMMEDIATE ...
 * COMMIT, each inside its own SAVEPOINT so that one failing operation rolls
 * back only itself, and completes them only after the WAL holding the
 * commit was fsynced (synchronous=FULL). If the commit fails, or SQLite
 * rolled the whole transaction back on an I/O error or a full disk, every
 * write of the group fails with CW_EIO and nothing of it is visible.
 *
 * The syncer: under synchronous=FULL the commit's fsync is not the
 * writer's. COMMIT writes the group's frames to the WAL (walbuf.c) and
 * returns, so the commit is visible to the other connections; the syncer
 * thread fdatasyncs the WAL and only then completes the group's requests,
 * while the writer already runs the next group. The writer's busy time in
 * the benchmark's open loop fell from ~70 % to ~30 % (bench/README.md,
 * "The commit's fsync on its own thread"). What was visible before it was
 * durable must not be answered for before it is: every request the writer
 * or the reader answers is tagged with the last commit begun when it ran
 * (after its own commit, for a write) and completed only once a sync has
 * covered that commit. Intake's ledger read on a lent connection may see a
 * commit not yet synced; what it decides is itself written by a later
 * commit, answered after a later sync. A failed fdatasync leaves the file's
 * state unknown (the kernel may have dropped the pages it could not
 * write), so the store stops answering anything but CW_EIO until it is
 * reopened, when SQLite recovers the WAL as it stands.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "internal.h"

/* ==== Statements ==== */

typedef enum stmt_e {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_DEDUPE,
    S_MSG_INSERT,
    S_HIST_INSERT,
    S_DELIV_INSERT,
    S_BODY_INSERT,
    S_GET,
    S_HISTORY,
    S_LIST,
    S_LIST_TO,
    S_LIST_ATTENTION,
    S_KEY_STATE,
    S_DELIV_REQUEUE,
    S_MSG_SET_STATE,
    S_PURGE,
    S_CLAIM_SELECT,
    S_CLAIM_LEASE,
    S_DELIV_GET,
    S_ATTEMPT_INSERT,
    S_DELIV_DONE,
    S_MSG_DELIVERED,
    S_STATE_COUNTS,
    S_COUNT
} stmt_e;

/* The columns of a status row, shared by GET and LIST (indexes in info_read). */
#define INFO_COLUMNS                                                                        \
    "m.id, m.from_party, m.message_id, m.to_party, m.service, m.action, m.conversation_id," \
    " m.timestamp, m.digest, m.state, m.problem, m.created_at_ms, m.updated_at_ms,"         \
    " d.route, d.attempts, d.last_error, d.next_attempt_at_ms"
/* The first delivery of a message (one per message today; one per route later). */
#define INFO_JOIN                                       \
    " FROM messages m LEFT JOIN deliveries d ON d.id =" \
    " (SELECT min(id) FROM deliveries WHERE message = m.id)"

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_DEDUPE] = "SELECT id, digest, receipt_given, state FROM messages"
                 " WHERE from_party = ?1 AND message_id = ?2 AND state <> 'rejected'",
    [S_MSG_INSERT] = "INSERT INTO messages (from_party, message_id, digest, to_party, service,"
                     " action, conversation_id, timestamp, state, problem, received,"
                     " receipt_given, created_at_ms, updated_at_ms)"
                     " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
    /* The next sequence number of the message's history: a seek in the
     * table's own key (message, seq). */
    [S_HIST_INSERT] = "INSERT INTO message_states (message, seq, state, at_ms, note)"
                      " VALUES (?1, (SELECT coalesce(max(seq), 0) + 1 FROM message_states"
                      " WHERE message = ?1), ?2, ?3, ?4)",
    /* deliveries.outgoing stays empty: the sealed envelope goes beside its
     * delivery, not in its row (schema version 9), so that the row's
     * updates leave the envelope's pages alone. */
    [S_DELIV_INSERT] = "INSERT INTO deliveries (message, route, outgoing, state,"
                       " next_attempt_at_ms, first_queued_at_ms, outgoing_id, outgoing_digest)"
                       " VALUES (?1, ?2, x'', 'queued', ?3, ?4, ?5, ?6)",
    [S_BODY_INSERT] = "INSERT INTO delivery_bodies (delivery, outgoing, evidence_at)"
                      " VALUES (?1, ?2, ?3)",
    [S_GET] = "SELECT " INFO_COLUMNS ", m.receipt_given, m.receipt_received, m.received" INFO_JOIN
              " WHERE m.from_party = ?1 AND m.message_id = ?2"
              " ORDER BY (m.state = 'rejected'), m.id DESC LIMIT 1",
    [S_HISTORY] = "SELECT state, at_ms, note FROM message_states WHERE message = ?1 ORDER BY seq",
    [S_LIST] = "SELECT " INFO_COLUMNS INFO_JOIN " WHERE m.id < ?1"
               " AND (?2 = '' OR instr(?2, ',' || m.state || ',') > 0)"
               " AND (?3 IS NULL OR m.to_party = ?3) AND m.created_at_ms >= ?4"
               " ORDER BY m.id DESC LIMIT ?5",
    /* By destination: walks messages_to (to_party, id) instead of the rowid. */
    [S_LIST_TO] = "SELECT " INFO_COLUMNS INFO_JOIN " WHERE m.to_party = ?3 AND m.id < ?1"
                  " AND (?2 = '' OR instr(?2, ',' || m.state || ',') > 0)"
                  " AND m.created_at_ms >= ?4"
                  " ORDER BY m.id DESC LIMIT ?5",
    /* Failed or rejected only: walks messages_attention (schema 7). */
    [S_LIST_ATTENTION] = "SELECT " INFO_COLUMNS INFO_JOIN " WHERE m.id < ?1"
                         " AND m.state IN ('failed', 'rejected')"
                         " AND instr(?2, ',' || m.state || ',') > 0"
                         " AND m.created_at_ms >= ?4"
                         " ORDER BY m.id DESC LIMIT ?5",
    [S_KEY_STATE] = "SELECT id, state FROM messages"
                    " WHERE from_party = ?1 AND message_id = ?2 AND state <> 'rejected'",
    [S_DELIV_REQUEUE] = "UPDATE deliveries SET state = 'queued', attempts = 0,"
                        " next_attempt_at_ms = ?2, first_queued_at_ms = ?2,"
                        " lease_owner = NULL, lease_until_ms = 0"
                        " WHERE message = ?1 AND state = 'failed'",
    [S_MSG_SET_STATE] = "UPDATE messages SET state = ?2, updated_at_ms = ?3 WHERE id = ?1",
    [S_PURGE] = "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
                " WHERE state = 'delivered' AND updated_at_ms < ?1"
                " ORDER BY updated_at_ms LIMIT ?2)",
    [S_CLAIM_SELECT] = "SELECT d.id, m.from_party, m.message_id, m.to_party, d.route,"
                       " coalesce(b.outgoing, d.outgoing), d.attempts, d.first_queued_at_ms,"
                       " d.outgoing_id, d.outgoing_digest, b.evidence_at,"
                       " CASE WHEN b.evidence_at IS NOT NULL THEN m.received END"
                       " FROM deliveries d JOIN messages m ON m.id = d.message"
                       " LEFT JOIN delivery_bodies b ON b.delivery = d.id"
                       " WHERE d.state = 'queued' AND d.next_attempt_at_ms <= ?1"
                       " AND (d.lease_owner IS NULL OR d.lease_until_ms <= ?1)"
                       " AND (?2 IS NULL OR d.route = ?2)"
                       " ORDER BY d.next_attempt_at_ms, d.id LIMIT ?3",
    [S_CLAIM_LEASE] = "UPDATE deliveries SET lease_owner = ?2, lease_until_ms = ?3 WHERE id = ?1",
    [S_DELIV_GET] = "SELECT message, state, lease_owner FROM deliveries WHERE id = ?1",
    [S_ATTEMPT_INSERT] = "INSERT INTO attempts (delivery, at_ms, owner, outcome, http_status,"
                         " error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    /* ?5: 1, or 0 for an attempt that never reached the peer (RETRY_LOCAL). */
    [S_DELIV_DONE] = "UPDATE deliveries SET state = ?2, attempts = attempts + ?5,"
                     " lease_owner = NULL, lease_until_ms = 0, last_error = ?3,"
                     " next_attempt_at_ms = coalesce(?4, next_attempt_at_ms) WHERE id = ?1",
    [S_MSG_DELIVERED] = "UPDATE messages SET state = 'delivered', receipt_received = ?2,"
                        " updated_at_ms = ?3 WHERE id = ?1",
    /* No index holds the state, so this visits every message (the
     * reader's connection does it: no commit waits for it). */
    [S_STATE_COUNTS] = "SELECT state, count(*) FROM messages GROUP BY state",
};

/* ==== Backend state ==== */

/* Idle read connections kept for callers' threads: as many as have ever
 * read at once (the worker pool's size bounds that, at most 130 threads),
 * up to this; past it a caller opens one for the call. */
#define LEND_MAX 256
/* Page cache of a lent connection (512 KiB). Every commit of the writer
 * invalidates it for the next read anyway, so it only needs to hold one
 * query's pages. */
#define LEND_CACHE_PRAGMA "PRAGMA cache_size = -512"

typedef struct cw_sqlite {
    sqlite3 *db;                  /* the connection; writer thread only once started */
    sqlite3_stmt *stmts[S_COUNT]; /* prepared lazily, finalized at close */
    int lock_fd;                  /* holds the fcntl lock on "<path>-lock"; -1 if none */
    uv_thread_t thread;           /* the writer */
    int thread_started;           /* thread must be joined */
    uv_mutex_t lock;              /* guards head, tail, stopping */
    uv_cond_t wake;               /* signalled on submit and close */
    cw_store_req_t *head;         /* pending requests, oldest first */
    cw_store_req_t *tail;         /* last pending request */
    int stopping;                 /* close requested: drain, then exit */
    uint32_t group_max;           /* requests per batch */
    cw_store_req_t **batch;       /* group_max slots, writer thread only */
    cw_store_ledger_t *ledger;    /* the ledger's statements (sqlite_ledger.c) */
    int copies_in_file;           /* temp_store in force: -1 not set yet, 0 MEMORY, 1 FILE */
    /* The reader: the same lock and stopping flag, its own queue. */
    sqlite3 *rdb;                  /* read-only connection; reader thread only once started */
    cw_store_ledger_t *rledger;    /* its ledger statements */
    sqlite3_stmt *rstmts[S_COUNT]; /* its own statements (lists), finalized at release */
    uv_thread_t rthread;           /* the reader */
    int rthread_started;           /* joined by the writer before it reports closed */
    uv_cond_t rwake;               /* signalled on a reader submit and close */
    cw_store_req_t *rhead;         /* pending reads, oldest first */
    cw_store_req_t *rtail;
    /* The checkpointer: the same lock and stopping flag. */
    sqlite3 *cdb;        /* its connection; checkpointer thread only once started */
    uv_thread_t cthread; /* the checkpointer */
    int cthread_started; /* joined by the writer before it reports closed */
    uv_cond_t cwake;     /* signalled by the WAL hook and on close */
    int ckpt_wanted;     /* the WAL has grown past CHECKPOINT_PAGES */
    /* Odd while a checkpoint runs (either thread's): bumped before and
     * after each one, so that the writer can tell whether a COMMIT had
     * one beside it. */
    atomic_uint_least64_t ckpt_seq;
    /* Read connections lent to callers' threads (sqlite_facts_here), under
     * lock. */
    sqlite3 *lend_db[LEND_MAX];               /* idle, ready to lend */
    cw_store_ledger_t *lend_ledger[LEND_MAX]; /* their statements */
    unsigned lend_idle;                       /* idle ones */
    unsigned lend_out;                        /* lent right now */
    char *path;                               /* the file, to open more */
    /* The syncer (synchronous=FULL with the writer's WAL through walbuf.c):
     * the same lock. */
    int sync_fd;                         /* the WAL, for fdatasync; -1: no syncer */
    uv_thread_t sthread;                 /* the syncer */
    int sthread_started;                 /* joined by the writer before it reports closed */
    uv_cond_t swake;                     /* signalled on a handover and on stop */
    cw_store_req_t *shead;               /* answered, waiting for their commit's sync */
    cw_store_req_t *stail;               /* (req->seq: that commit) */
    uint64_t sync_want;                  /* the last commit ended whose sync is owed */
    int sstop;                           /* the writer is done: sync, answer, exit */
    atomic_uint_least64_t commit_begun;  /* commits the writer began, counted */
    atomic_uint_least64_t commit_synced; /* commits known to be in the WAL on disk */
    atomic_int sync_failed;              /* a flush failed (store_fail): CW_EIO from now on */
    uint32_t busy_timeout_ms;            /* for them */
} cw_sqlite_t;

/* WAL pages after which a checkpoint is asked for (SQLite's own default). */
#define CHECKPOINT_PAGES 1000
/*
 * The WAL restarts from its beginning only when a write transaction begins
 * after a checkpoint has caught up. Under a steady stream of commits a
 * checkpoint running beside the writer may never quite catch up, so past
 * this many pages the writer checkpoints itself, between two transactions,
 * as SQLite would have done at 1,000: the WAL stays bounded (~16 MB).
 */
#define CHECKPOINT_PAGES_WRITER 4000
/* How soon a checkpoint that was left behind by new commits tries again. */
#define CHECKPOINT_RETRY_NS (20 * 1000 * 1000)

static cw_sqlite_t *backend_of(cw_store_t *store)
{
    return store->backend;
}

/* Returns the cached statement, reset and unbound, or NULL (error in *rc). */
/* Statement id of db's cache stmts (prepared on first use), reset. */
static sqlite3_stmt *stmt_of(sqlite3 *db, sqlite3_stmt **stmts, stmt_e id, int *rc)
{
    int src;

    if (stmts[id] == NULL) {
        src = sqlite3_prepare_v3(db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &stmts[id], NULL);
        if (src != SQLITE_OK) {
            CW_LOG_ERROR(CW_STORE_MOD, "prepare failed: %s", sqlite3_errmsg(db));
            *rc = cw_store__err_from_sqlite(src);
            return NULL;
        }
    }
    (void)sqlite3_reset(stmts[id]);
    (void)sqlite3_clear_bindings(stmts[id]);
    return stmts[id];
}

/* The writer's statement id. */
static sqlite3_stmt *stmt_get(cw_sqlite_t *be, stmt_e id, int *rc)
{
    return stmt_of(be->db, be->stmts, id, rc);
}

/* Runs a statement that returns no rows; 0 or CW_E*. Resets it. */
static int step_done(cw_sqlite_t *be, sqlite3_stmt *st)
{
    int src = sqlite3_step(st);
    int rc = 0;

    if (src != SQLITE_DONE) {
        rc = cw_store__err_from_sqlite(src == SQLITE_ROW ? SQLITE_MISUSE : src);
        CW_LOG_WARN(CW_STORE_MOD, "step failed: %s", sqlite3_errmsg(be->db));
    }
    (void)sqlite3_reset(st);
    return rc;
}

static int exec_stmt(cw_sqlite_t *be, stmt_e id)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    st = stmt_get(be, id, &rc);
    if (st != NULL) {
        rc = step_done(be, st);
    }
    return rc;
}

static void bind_str(sqlite3_stmt *st, int i, const char *s)
{
    (void)sqlite3_bind_text(st, i, s != NULL ? s : "", -1, SQLITE_STATIC);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t len)
{
    if (p == NULL) {
        (void)sqlite3_bind_null(st, i);
        return;
    }
    (void)sqlite3_bind_blob64(st, i, p, len, SQLITE_STATIC);
}

/* Copies a text column into the pool ("" for NULL); NULL on OOM. */
static const char *col_str(cw_pool_t *pool, sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    int n = sqlite3_column_bytes(st, i);

    return cw_pool_strndup(pool, s != NULL ? (const char *)s : "", s != NULL ? (size_t)n : 0);
}

/* Copies a blob column into the pool; NULL data means an empty column. */
static int col_blob(cw_pool_t *pool, sqlite3_stmt *st, int i, const char **out, size_t *len)
{
    const void *p = sqlite3_column_blob(st, i);
    int n = sqlite3_column_bytes(st, i);
    char *copy;

    *out = NULL;
    *len = 0;
    if (p == NULL || n <= 0) {
        return 0;
    }
    copy = cw_pool_alloc(pool, (size_t)n);
    if (copy == NULL) {
        return CW_ENOMEM;
    }
    memcpy(copy, p, (size_t)n);
    *out = copy;
    *len = (size_t)n;
    return 0;
}

static int state_col(sqlite3_stmt *st, int i, cw_store_state_e *out)
{
    return cw_store_state_parse((const char *)sqlite3_column_text(st, i), out) < 0 ? CW_EINTERNAL
                                                                                   : 0;
}

static int history_add(
    cw_sqlite_t *be, int64_t msg_row, cw_store_state_e state, int64_t at_ms, const char *note)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    st = stmt_get(be, S_HIST_INSERT, &rc);
    if (st == NULL) {
        return rc;
    }
    (void)sqlite3_bind_int64(st, 1, msg_row);
    bind_str(st, 2, cw_store_state_name(state));
    (void)sqlite3_bind_int64(st, 3, at_ms);
    bind_str(st, 4, note);
    return step_done(be, st);
}

static int msg_set_state(cw_sqlite_t *be, int64_t row, cw_store_state_e state, int64_t at_ms)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;

    st = stmt_get(be, S_MSG_SET_STATE, &rc);
    if (st == NULL) {
        return rc;
    }
    (void)sqlite3_bind_int64(st, 1, row);
    bind_str(st, 2, cw_store_state_name(state));
    (void)sqlite3_bind_int64(st, 3, at_ms);
    return step_done(be, st);
}

/* ==== Operations (writer thread) ==== */

/* Looks the dedupe key up; *found is 0 when the key is free. */
static int put_dedupe(cw_sqlite_t *be, cw_store_req_t *req, int *found)
{
    const cw_store_msg_t *m = &req->in.put;
    cw_store_put_result_t *res = &req->out.put;
    const void *digest;
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    *found = 0;
    st = stmt_get(be, S_DEDUPE, &rc);
    if (st == NULL) {
        goto out;
    }
    bind_str(st, 1, m->from);
    bind_str(st, 2, m->message_id);
    src = sqlite3_step(st);
    if (src == SQLITE_DONE) {
        goto out;
    }
    if (src != SQLITE_ROW) {
        rc = cw_store__err_from_sqlite(src);
        goto out;
    }
    *found = 1;
    res->msg_row = sqlite3_column_int64(st, 0);
    digest = sqlite3_column_blob(st, 1);
    CW_TRY(state_col(st, 3, &res->state));
    if (digest != NULL && sqlite3_column_bytes(st, 1) == CW_STORE_DIGEST_BYTES
        && memcmp(digest, m->digest_sha256, CW_STORE_DIGEST_BYTES) == 0) {
        res->kind = CW_STORE_PUT_DUPLICATE;
        CW_TRY(col_blob(req->pool, st, 2, &res->receipt, &res->receipt_len));
    } else {
        res->kind = CW_STORE_PUT_CONFLICT;
    }
out:
    if (st != NULL) {
        (void)sqlite3_reset(st);
    }
    return rc;
}

static int op_put(cw_sqlite_t *be, cw_store_req_t *req)
{
    const cw_store_msg_t *m = &req->in.put;
    cw_store_put_result_t *res = &req->out.put;
    sqlite3_stmt *st = NULL;
    int64_t delivery;
    int found = 0;
    int rc = 0;

    if (m->state != CW_STORE_STATE_REJECTED) {
        CW_TRY(put_dedupe(be, req, &found));
        if (found) {
            goto out;
        }
    }
    st = stmt_get(be, S_MSG_INSERT, &rc);
    if (st == NULL) {
        goto out;
    }
    bind_str(st, 1, m->from);
    bind_str(st, 2, m->message_id);
    bind_blob(st, 3, m->digest_sha256, CW_STORE_DIGEST_BYTES);
    bind_str(st, 4, m->to);
    bind_str(st, 5, m->service);
    bind_str(st, 6, m->action);
    bind_str(st, 7, m->conversation_id);
    bind_str(st, 8, m->timestamp);
    bind_str(st, 9, cw_store_state_name(m->state));
    bind_str(st, 10, m->problem);
    bind_blob(st, 11, m->received, m->received_len);
    bind_blob(st, 12, m->receipt, m->receipt_len);
    (void)sqlite3_bind_int64(st, 13, m->created_at_ms);
    CW_TRY(step_done(be, st));
    res->msg_row = sqlite3_last_insert_rowid(be->db);
    res->kind = CW_STORE_PUT_NEW;
    res->state = m->state;
    res->receipt = m->receipt;
    res->receipt_len = m->receipt_len;
    CW_TRY(history_add(be, res->msg_row, m->state, m->created_at_ms,
                       m->state == CW_STORE_STATE_REJECTED ? m->problem : ""));
    if (m->state == CW_STORE_STATE_QUEUED) {
        st = stmt_get(be, S_DELIV_INSERT, &rc);
        if (st == NULL) {
            goto out;
        }
        (void)sqlite3_bind_int64(st, 1, res->msg_row);
        bind_str(st, 2, m->route);
        (void)sqlite3_bind_int64(st, 3, m->next_attempt_at_ms);
        (void)sqlite3_bind_int64(st, 4, m->created_at_ms);
        if (m->outgoing_id != NULL && m->outgoing_digest != NULL) {
            bind_str(st, 5, m->outgoing_id);
            bind_blob(st, 6, (const char *)m->outgoing_digest, 32);
        }
        CW_TRY(step_done(be, st));
        delivery = sqlite3_last_insert_rowid(be->db);
        st = stmt_get(be, S_BODY_INSERT, &rc);
        if (st == NULL) {
            goto out;
        }
        (void)sqlite3_bind_int64(st, 1, delivery);
        bind_blob(st, 2, m->outgoing, m->outgoing_len);
        if (m->outgoing_evidence_at > 0) {
            (void)sqlite3_bind_int64(st, 3, (sqlite3_int64)m->outgoing_evidence_at);
        }
        CW_TRY(step_done(be, st));
    }
    if (m->fact != NULL) {
        CW_TRY(cw_store__ledger_fact_insert(be->db, &be->ledger, res->msg_row, m->fact,
                                            m->created_at_ms));
    }
out:
    return rc;
}

/* Fills info from a row of INFO_COLUMNS. */
static int info_read(cw_pool_t *pool, sqlite3_stmt *st, cw_store_msg_info_t *info)
{
    const void *digest;
    int rc = 0;

    info->row = sqlite3_column_int64(st, 0);
    info->from = col_str(pool, st, 1);
    info->message_id = col_str(pool, st, 2);
    info->to = col_str(pool, st, 3);
    info->service = col_str(pool, st, 4);
    info->action = col_str(pool, st, 5);
    info->conversation_id = col_str(pool, st, 6);
    info->timestamp = col_str(pool, st, 7);
    digest = sqlite3_column_blob(st, 8);
    if (digest != NULL && sqlite3_column_bytes(st, 8) == CW_STORE_DIGEST_BYTES) {
        memcpy(info->digest_sha256, digest, CW_STORE_DIGEST_BYTES);
    }
    CW_TRY(state_col(st, 9, &info->state));
    info->problem = col_str(pool, st, 10);
    info->created_at_ms = sqlite3_column_int64(st, 11);
    info->updated_at_ms = sqlite3_column_int64(st, 12);
    info->route = col_str(pool, st, 13);
    info->attempts = (uint32_t)sqlite3_column_int64(st, 14);
    info->last_error = col_str(pool, st, 15);
    info->next_attempt_at_ms =
        info->state == CW_STORE_STATE_QUEUED ? sqlite3_column_int64(st, 16) : 0;
    if (info->from == NULL || info->message_id == NULL || info->to == NULL || info->service == NULL
        || info->action == NULL || info->conversation_id == NULL || info->timestamp == NULL
        || info->problem == NULL || info->route == NULL || info->last_error == NULL) {
        rc = CW_ENOMEM;
    }
out:
    return rc;
}

static int get_history(cw_sqlite_t *be, cw_store_req_t *req)
{
    cw_store_msg_info_t *info = &req->out.get;
    cw_store_history_t *hist = NULL;
    size_t count = 0;
    size_t cap = 0;
    cw_store_history_t *grown;
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    st = stmt_get(be, S_HISTORY, &rc);
    if (st == NULL) {
        goto out;
    }
    (void)sqlite3_bind_int64(st, 1, info->row);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == cap) {
            /* Pool memory cannot grow in place: copy into a bigger block. */
            cap = cap == 0 ? 8 : cap * 2;
            grown = cw_pool_alloc(req->pool, cap * sizeof(*grown));
            CW_CHECK_ALLOC(grown);
            if (count > 0) {
                memcpy(grown, hist, count * sizeof(*grown));
            }
            hist = grown;
        }
        CW_TRY(state_col(st, 0, &hist[count].state));
        hist[count].at_ms = sqlite3_column_int64(st, 1);
        hist[count].note = col_str(req->pool, st, 2);
        CW_CHECK_ALLOC(hist[count].note);
        count++;
    }
    if (src != SQLITE_DONE) {
        rc = cw_store__err_from_sqlite(src);
        goto out;
    }
    info->history = hist;
    info->history_count = count;
out:
    if (st != NULL) {
        (void)sqlite3_reset(st);
    }
    return rc;
}

static int op_get(cw_sqlite_t *be, cw_store_req_t *req)
{
    cw_store_msg_info_t *info = &req->out.get;
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    st = stmt_get(be, S_GET, &rc);
    if (st == NULL) {
        goto out;
    }
    bind_str(st, 1, req->in.key.from);
    bind_str(st, 2, req->in.key.message_id);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? CW_ENOENT : cw_store__err_from_sqlite(src);
        goto out;
    }
    CW_TRY(info_read(req->pool, st, info));
    CW_TRY(col_blob(req->pool, st, 17, &info->receipt_given, &info->receipt_given_len));
    CW_TRY(col_blob(req->pool, st, 18, &info->receipt_received, &info->receipt_received_len));
    CW_TRY(col_blob(req->pool, st, 19, &info->received, &info->received_len));
    (void)sqlite3_reset(st);
    st = NULL;
    CW_TRY(get_history(be, req));
out:
    if (st != NULL) {
        (void)sqlite3_reset(st);
    }
    return rc;
}

/* The list statement for f: by destination, or failed and rejected only
 * through their own index, or the walk of every message. */
static stmt_e list_stmt(const cw_store_filter_t *f)
{
    const uint32_t attention = (1u << CW_STORE_STATE_FAILED) | (1u << CW_STORE_STATE_REJECTED);

    if (f->to != NULL) {
        return S_LIST_TO;
    }
    if (f->states_mask != 0 && (f->states_mask & ~attention) == 0) {
        return S_LIST_ATTENTION;
    }
    return S_LIST;
}

const char *cw_store__sqlite_list_sql(const cw_store_filter_t *f)
{
    return stmt_sql[list_stmt(f)];
}

/* A page of messages, on db with its statement cache stmts: the writer's,
 * or the reader's (sqlite_submit sends lists there when it runs). */
static int op_list(sqlite3 *db, sqlite3_stmt **stmts, cw_store_req_t *req)
{
    const cw_store_filter_t *f = &req->in.list.filter;
    cw_store_page_t *page = &req->out.list;
    cw_store_msg_info_t *items;
    char states[96];
    char *cursor;
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    items = cw_pool_alloc(req->pool, (size_t)f->limit * sizeof(*items));
    CW_CHECK_ALLOC(items);
    page->items = items;
    st = stmt_of(db, stmts, list_stmt(f), &rc);
    if (st == NULL) {
        goto out;
    }
    cw_store__states_csv(f->states_mask, states, sizeof(states));
    (void)sqlite3_bind_int64(st, 1, req->in.list.cursor_row);
    bind_str(st, 2, states);
    if (f->to != NULL) {
        bind_str(st, 3, f->to);
    }
    (void)sqlite3_bind_int64(st, 4, f->since_ms);
    /* One row more than the page tells whether another page follows. */
    (void)sqlite3_bind_int64(st, 5, (int64_t)f->limit + 1);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        if (page->count == f->limit) {
            cursor = cw_pool_alloc(req->pool, CW_STORE_CURSOR_SIZE);
            CW_CHECK_ALLOC(cursor);
            (void)snprintf(cursor, CW_STORE_CURSOR_SIZE, "r%" PRId64, items[page->count - 1].row);
            page->next_cursor = cursor;
            src = SQLITE_DONE;
            break;
        }
        CW_TRY(info_read(req->pool, st, &items[page->count]));
        page->count++;
    }
    if (src != SQLITE_DONE) {
        rc = cw_store__err_from_sqlite(src);
    }
out:
    if (st != NULL) {
        (void)sqlite3_reset(st);
    }
    return rc;
}

/* The messages by state, on db with its statement cache stmts (the
 * reader's, or the writer's before the reader runs). */
static int op_count(sqlite3 *db, sqlite3_stmt **stmts, cw_store_req_t *req)
{
    cw_store_state_counts_t *c = &req->out.counts;
    cw_store_state_e state;
    sqlite3_stmt *st;
    int src;
    int rc = 0;

    st = stmt_of(db, stmts, S_STATE_COUNTS, &rc);
    if (st == NULL) {
        return rc;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(st, 1);

        CW_TRY(state_col(st, 0, &state));
        c->n[state] = n > 0 ? (uint64_t)n : 0;
        c->total += c->n[state];
    }
    if (src != SQLITE_DONE) {
        rc = cw_store__err_from_sqlite(src);
    }
out:
    (void)sqlite3_reset(st);
    return rc;
}

static int op_retry(cw_sqlite_t *be, cw_store_req_t *req)
{
    cw_store_state_e state = CW_STORE_STATE_RECEIVED;
    int64_t row = 0;
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    st = stmt_get(be, S_KEY_STATE, &rc);
    if (st == NULL) {
        goto out;
    }
    bind_str(st, 1, req->in.key.from);
    bind_str(st, 2, req->in.key.message_id);
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        row = sqlite3_column_int64(st, 0);
        rc = state_col(st, 1, &state);
    } else {
        rc = src == SQLITE_DONE ? CW_ENOENT : cw_store__err_from_sqlite(src);
    }
    (void)sqlite3_reset(st);
    if (rc < 0) {
        goto out;
    }
    if (state != CW_STORE_STATE_FAILED) {
        rc = CW_EPERM;
        goto out;
    }
    st = stmt_get(be, S_DELIV_REQUEUE, &rc);
    if (st == NULL) {
        goto out;
    }
    (void)sqlite3_bind_int64(st, 1, row);
    (void)sqlite3_bind_int64(st, 2, req->in.key.now_ms);
    CW_TRY(step_done(be, st));
    if (sqlite3_changes(be->db) == 0) {
        /* Failed without a delivery row: nothing to send again. */
        rc = CW_EPERM;
        goto out;
    }
    CW_TRY(msg_set_state(be, row, CW_STORE_STATE_QUEUED, req->in.key.now_ms));
    CW_TRY(history_add(be, row, CW_STORE_STATE_QUEUED, req->in.key.now_ms, "retry requested"));
out:
    return rc;
}

static int op_purge(cw_sqlite_t *be, cw_store_req_t *req)
{
    sqlite3_stmt *st = NULL;
    int changes;
    int rc = 0;

    req->in.purge.batch_last = 0;
    st = stmt_get(be, S_PURGE, &rc);
    if (st == NULL) {
        goto out;
    }
    (void)sqlite3_bind_int64(st, 1, req->in.purge.before_ms);
    (void)sqlite3_bind_int64(st, 2, req->in.purge.batch_max);
    CW_TRY(step_done(be, st));
    changes = sqlite3_changes(be->db);
    /* Counted now, taken back if the transaction does not commit. */
    req->in.purge.batch_last = (uint32_t)changes;
    req->out.purged += (uint64_t)changes;
    /* A full batch means there may be more: go to the back of the queue. */
    req->again = (uint32_t)changes == req->in.purge.batch_max;
out:
    return rc;
}

/*
 * A claimed envelope kept without its evidence (schema version 10): the
 * stored bytes (column 5) with the base64 of the message's received bytes
 * (column 11) put back at evidence_at (column 10).
 */
static int outgoing_whole(cw_pool_t *pool, sqlite3_stmt *st, cw_store_delivery_t *d)
{
    return cw_store__outgoing_whole(
        pool, d->id, sqlite3_column_blob(st, 5), (size_t)sqlite3_column_bytes(st, 5),
        sqlite3_column_int64(st, 10), sqlite3_column_blob(st, 11),
        (size_t)sqlite3_column_bytes(st, 11), &d->outgoing, &d->outgoing_len);
}

static int claim_row(cw_store_req_t *req, sqlite3_stmt *st, cw_store_delivery_t *d)
{
    int rc = 0;

    d->id = sqlite3_column_int64(st, 0);
    d->from = col_str(req->pool, st, 1);
    d->message_id = col_str(req->pool, st, 2);
    d->to = col_str(req->pool, st, 3);
    d->route = col_str(req->pool, st, 4);
    if (d->from == NULL || d->message_id == NULL || d->to == NULL || d->route == NULL) {
        rc = CW_ENOMEM;
        goto out;
    }
    if (sqlite3_column_type(st, 10) == SQLITE_NULL) {
        CW_TRY(col_blob(req->pool, st, 5, &d->outgoing, &d->outgoing_len));
    } else {
        CW_TRY(outgoing_whole(req->pool, st, d));
    }
    d->attempts = (uint32_t)sqlite3_column_int64(st, 6);
    d->first_queued_at_ms = sqlite3_column_int64(st, 7);
    d->outgoing_id = NULL;
    d->outgoing_digest = NULL;
    if (sqlite3_column_type(st, 8) == SQLITE_TEXT && sqlite3_column_bytes(st, 9) == 32) {
        const char *digest = NULL;
        size_t len = 0;

        d->outgoing_id = col_str(req->pool, st, 8);
        CW_TRY(col_blob(req->pool, st, 9, &digest, &len));
        if (d->outgoing_id == NULL || digest == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        d->outgoing_digest = (const unsigned char *)digest;
    }
    d->lease_until_ms = req->in.claim.now_ms + req->in.claim.lease_ms;
out:
    return rc;
}

static int op_claim(cw_sqlite_t *be, cw_store_req_t *req)
{
    const cw_store_claim_t *c = &req->in.claim;
    cw_store_claimed_t *res = &req->out.claim;
    cw_store_delivery_t *items;
    sqlite3_stmt *st = NULL;
    size_t i;
    int src;
    int rc = 0;

    items = cw_pool_alloc(req->pool, (size_t)c->limit * sizeof(*items));
    CW_CHECK_ALLOC(items);
    res->items = items;
    st = stmt_get(be, S_CLAIM_SELECT, &rc);
    if (st == NULL) {
        goto out;
    }
    (void)sqlite3_bind_int64(st, 1, c->now_ms);
    if (c->route != NULL) {
        bind_str(st, 2, c->route);
    }
    (void)sqlite3_bind_int64(st, 3, c->limit);
    while (res->count < c->limit && (src = sqlite3_step(st)) == SQLITE_ROW) {
        rc = claim_row(req, st, &items[res->count]);
        if (rc < 0) {
            break;
        }
        res->count++;
    }
    (void)sqlite3_reset(st);
    if (rc < 0) {
        goto out;
    }
    /* The rows are read first and leased afterwards, so that the scan never
     * sees its own updates. The transaction makes the pair atomic. */
    for (i = 0; i < res->count; i++) {
        st = stmt_get(be, S_CLAIM_LEASE, &rc);
        if (st == NULL) {
            goto out;
        }
        (void)sqlite3_bind_int64(st, 1, items[i].id);
        bind_str(st, 2, c->owner);
        (void)sqlite3_bind_int64(st, 3, items[i].lease_until_ms);
        CW_TRY(step_done(be, st));
    }
out:
    return rc;
}

/* Checks that the delivery is still queued and leased to owner. */
static int record_check(cw_sqlite_t *be, const cw_store_attempt_t *a, int64_t *msg_row)
{
    const unsigned char *state;
    const unsigned char *owner;
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    st = stmt_get(be, S_DELIV_GET, &rc);
    if (st == NULL) {
        goto out;
    }
    (void)sqlite3_bind_int64(st, 1, a->delivery_id);
    src = sqlite3_step(st);
    if (src != SQLITE_ROW) {
        rc = src == SQLITE_DONE ? CW_ENOENT : cw_store__err_from_sqlite(src);
        goto out;
    }
    *msg_row = sqlite3_column_int64(st, 0);
    state = sqlite3_column_text(st, 1);
    owner = sqlite3_column_text(st, 2);
    if (state == NULL || strcmp((const char *)state, "queued") != 0 || owner == NULL
        || strcmp((const char *)owner, a->owner) != 0) {
        rc = CW_ESTALE;
    }
out:
    if (st != NULL) {
        (void)sqlite3_reset(st);
    }
    return rc;
}

static int op_record(cw_sqlite_t *be, cw_store_req_t *req)
{
    const cw_store_attempt_t *a = &req->in.attempt;
    int64_t msg_row = 0;
    sqlite3_stmt *st = NULL;
    char note[128];
    int rc = 0;

    CW_TRY(record_check(be, a, &msg_row));
    st = stmt_get(be, S_ATTEMPT_INSERT, &rc);
    if (st == NULL) {
        goto out;
    }
    (void)sqlite3_bind_int64(st, 1, a->delivery_id);
    (void)sqlite3_bind_int64(st, 2, a->at_ms);
    bind_str(st, 3, a->owner);
    bind_str(st, 4, cw_store__outcome_name(a->outcome));
    (void)sqlite3_bind_int(st, 5, a->http_status);
    bind_str(st, 6, a->error);
    CW_TRY(step_done(be, st));

    st = stmt_get(be, S_DELIV_DONE, &rc);
    if (st == NULL) {
        goto out;
    }
    (void)sqlite3_bind_int64(st, 1, a->delivery_id);
    bind_str(st, 2,
             a->outcome == CW_STORE_OUTCOME_DELIVERED ? "delivered"
             : a->outcome == CW_STORE_OUTCOME_FAILED  ? "failed"
                                                      : "queued");
    bind_str(st, 3, a->outcome == CW_STORE_OUTCOME_DELIVERED ? "" : a->error);
    if (a->outcome == CW_STORE_OUTCOME_RETRY || a->outcome == CW_STORE_OUTCOME_RETRY_LOCAL) {
        (void)sqlite3_bind_int64(st, 4, a->next_attempt_at_ms);
    }
    (void)sqlite3_bind_int(st, 5, a->outcome != CW_STORE_OUTCOME_RETRY_LOCAL);
    CW_TRY(step_done(be, st));

    switch (a->outcome) {
    case CW_STORE_OUTCOME_DELIVERED:
        st = stmt_get(be, S_MSG_DELIVERED, &rc);
        if (st == NULL) {
            goto out;
        }
        (void)sqlite3_bind_int64(st, 1, msg_row);
        bind_blob(st, 2, a->receipt, a->receipt_len);
        (void)sqlite3_bind_int64(st, 3, a->at_ms);
        CW_TRY(step_done(be, st));
        (void)snprintf(note, sizeof(note), "receipt received (HTTP %d)", a->http_status);
        CW_TRY(history_add(be, msg_row, CW_STORE_STATE_DELIVERED, a->at_ms, note));
        break;
    case CW_STORE_OUTCOME_FAILED:
        CW_TRY(msg_set_state(be, msg_row, CW_STORE_STATE_FAILED, a->at_ms));
        CW_TRY(history_add(be, msg_row, CW_STORE_STATE_FAILED, a->at_ms, a->error));
        break;
    case CW_STORE_OUTCOME_RETRY:
    case CW_STORE_OUTCOME_RETRY_LOCAL:
        break;
    }
out:
    return rc;
}

/* The test fault hook for ledger reads, wherever they run. */
static int facts_faulted(cw_store_t *store, const cw_store_req_t *req)
{
    return req->kind == CW_STORE_REQ_FACTS
           && atomic_load(&store->fault) == CW_STORE_FAULT_READ_FAIL;
}

static int op_exec(cw_sqlite_t *be, cw_store_req_t *req)
{
    switch (req->kind) {
    case CW_STORE_REQ_PUT:
        return op_put(be, req);
    case CW_STORE_REQ_GET:
        return op_get(be, req);
    case CW_STORE_REQ_LIST:
        return op_list(be->db, be->stmts, req);
    case CW_STORE_REQ_RETRY:
        return op_retry(be, req);
    case CW_STORE_REQ_PURGE:
        return op_purge(be, req);
    case CW_STORE_REQ_CLAIM:
        return op_claim(be, req);
    case CW_STORE_REQ_RECORD:
        return op_record(be, req);
    case CW_STORE_REQ_FACTS:
        return cw_store__ledger_facts(be->db, &be->ledger, req);
    case CW_STORE_REQ_STATS:
        return cw_store__ledger_stats(be->db, &be->ledger, req);
    case CW_STORE_REQ_COUNT:
        return op_count(be->db, be->stmts, req);
    }
    return CW_EINTERNAL;
}

/* ==== Group commit (writer thread) ==== */

/* Runs one write inside its own savepoint. Returns 0, or < 0 when the
 * whole transaction was lost (SQLite rolled it back). */
static int write_one(cw_sqlite_t *be, cw_store_req_t *req)
{
    int rc;

    rc = exec_stmt(be, S_SAVEPOINT);
    if (rc < 0) {
        req->status = rc;
        return sqlite3_get_autocommit(be->db) ? rc : 0;
    }
    req->status = op_exec(be, req);
    if (req->status == 0) {
        return exec_stmt(be, S_RELEASE);
    }
    req->again = 0;
    if (sqlite3_get_autocommit(be->db)) {
        /* SQLITE_FULL or an I/O error rolled the whole transaction back. */
        return req->status;
    }
    rc = exec_stmt(be, S_ROLLBACK_TO);
    if (rc == 0) {
        rc = exec_stmt(be, S_RELEASE);
    }
    return rc;
}

/*
 * Where the next transaction keeps its savepoints' rollback copies (SQLite's
 * sub-journal: the original of every page a write changes, until its
 * RELEASE). SQLite moves that copy to a temporary file once it passes 64
 * KiB, which a message with its evidence, receipt and outgoing envelope
 * does; that file took most of the writer's I/O. So it stays in memory
 * (temp_store = MEMORY), where it holds one write's pages, bounded by the
 * body limit, and is emptied at each RELEASE; except for a transaction with
 * a purge, whose one write frees a whole batch of messages and keeps a copy
 * of all of it: that one goes to a file, as before. (Raising SQLite's spill
 * threshold instead, SQLITE_CONFIG_STMTJRNL_SPILL, made every write whose
 * copy then passed it fail with SQLITE_FULL on SQLite 3.40.)
 */
static void copies_place(cw_sqlite_t *be, cw_store_req_t **batch, size_t n)
{
    int in_file = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (batch[i]->kind == CW_STORE_REQ_PURGE) {
            in_file = 1;
        }
    }
    if (in_file == be->copies_in_file) {
        return;
    }
    if (sqlite3_exec(be->db, in_file ? "PRAGMA temp_store = FILE" : "PRAGMA temp_store = MEMORY",
                     NULL, NULL, NULL)
        == SQLITE_OK) {
        be->copies_in_file = in_file;
    } else {
        CW_LOG_WARN(CW_STORE_MOD, "cannot set temp_store: %s", sqlite3_errmsg(be->db));
    }
}

/* Runs the batch's writes in one transaction. Returns 1 when COMMIT left
 * its WAL sync to the syncer, else 0. */
static int run_writes(cw_store_t *store, cw_sqlite_t *be, cw_store_req_t **batch, size_t n)
{
    size_t writes = 0;
    size_t i;
    uint64_t t_begin;
    uint64_t t_commit = 0;
    uint64_t ckpt_seq = 0;
    int deferred = 0;
    int rc;

    for (i = 0; i < n; i++) {
        writes += cw_store__req_is_write(batch[i]);
    }
    if (writes == 0) {
        return 0;
    }
    copies_place(be, batch, n);
    t_begin = cw_time_mono_ns();
    rc = exec_stmt(be, S_BEGIN);
    for (i = 0; rc == 0 && i < n; i++) {
        if (cw_store__req_is_write(batch[i])) {
            rc = write_one(be, batch[i]);
        }
    }
    if (rc == 0 && atomic_load(&store->fault) == CW_STORE_FAULT_COMMIT_FAIL) {
        rc = CW_EIO;
    }
    if (rc == 0) {
        ckpt_seq = atomic_load(&be->ckpt_seq);
        t_commit = cw_time_mono_ns();
        if (be->sync_fd >= 0) {
            /* Counted before COMMIT makes it visible: a read that sees it
             * waits for its sync (reader_main). */
            (void)atomic_fetch_add(&be->commit_begun, 1);
            cw_store__walbuf_defer_begin();
        }
        rc = exec_stmt(be, S_COMMIT);
        if (be->sync_fd >= 0) {
            deferred = cw_store__walbuf_defer_end();
        }
    }
    if (rc == 0) {
        uint64_t t_end = cw_time_mono_ns();
        int pages = 0;
        int unused = 0;

        /* Where a group commit's time goes: its statements, then COMMIT
         * (the WAL write, and its fsync unless the syncer does it). */
        atomic_fetch_add(&store->n_exec_ns, t_commit - t_begin);
        atomic_fetch_add(&store->n_sync_ns, t_end - t_commit);
        /* A checkpoint ran beside it: one was running as it began, or one
         * began or ended before it was done. */
        if ((ckpt_seq & 1) != 0 || atomic_load(&be->ckpt_seq) != ckpt_seq) {
            atomic_fetch_add(&store->n_tx_ckpt, 1);
            atomic_fetch_add(&store->n_sync_ckpt_ns, t_end - t_commit);
        }
        /* Dirty pages the commit wrote, reset for the next one. */
        if (sqlite3_db_status(be->db, SQLITE_DBSTATUS_CACHE_WRITE, &pages, &unused, 1) == SQLITE_OK
            && pages > 0) {
            atomic_fetch_add(&store->n_pages, (uint64_t)pages);
        }
        atomic_fetch_add(&store->n_tx, 1);
        atomic_fetch_add(&store->n_writes, writes);
        if (writes > atomic_load(&store->n_group)) {
            atomic_store(&store->n_group, writes);
        }
        return deferred;
    }
    /* Nothing of the group is durable: fail every write in it. */
    if (!sqlite3_get_autocommit(be->db)) {
        (void)exec_stmt(be, S_ROLLBACK);
    }
    atomic_fetch_add(&store->n_failed, 1);
    CW_LOG_ERROR(CW_STORE_MOD, "transaction of %zu write(s) not committed: %s", writes,
                 cw_err_name(rc));
    for (i = 0; i < n; i++) {
        if (batch[i]->kind == CW_STORE_REQ_PURGE) {
            /* Only the batches committed before count (store.h). */
            batch[i]->out.purged -= batch[i]->in.purge.batch_last;
            batch[i]->in.purge.batch_last = 0;
        }
        if (cw_store__req_is_write(batch[i])) {
            batch[i]->again = 0;
            if (batch[i]->status == 0 || batch[i]->status == CW_EBUSY) {
                batch[i]->status = rc == CW_EBUSY ? CW_EBUSY : CW_EIO;
            }
        }
    }
    return deferred;
}

/* Takes up to group_max pending requests; 0 when stopping and drained. */
static size_t batch_take(cw_sqlite_t *be)
{
    size_t n = 0;

    uv_mutex_lock(&be->lock);
    while (be->head == NULL && !be->stopping) {
        uv_cond_wait(&be->wake, &be->lock);
    }
    while (be->head != NULL && n < be->group_max) {
        be->head->t_taken = cw_time_mono_ns();
        be->batch[n++] = be->head;
        be->head = be->head->next;
    }
    if (be->head == NULL) {
        be->tail = NULL;
    }
    uv_mutex_unlock(&be->lock);
    return n;
}

/* Appends req to a queue (the writer's or the reader's) and wakes its thread. */
static void enqueue_on(cw_sqlite_t *be,
                       cw_store_req_t **head,
                       cw_store_req_t **tail,
                       uv_cond_t *wake,
                       cw_store_req_t *req)
{
    req->next = NULL;
    uv_mutex_lock(&be->lock);
    if (*tail != NULL) {
        (*tail)->next = req;
    } else {
        *head = req;
    }
    *tail = req;
    uv_mutex_unlock(&be->lock);
    /* After the unlock: the thread it wakes does not wake into a held lock. */
    uv_cond_signal(wake);
}

static void enqueue(cw_sqlite_t *be, cw_store_req_t *req)
{
    enqueue_on(be, &be->head, &be->tail, &be->wake, req);
}

/* Completes req with status (if it has none worse) now. */
/*
 * A flush failed, the WAL's or a checkpoint's: what it covered may not be
 * on disk, and Linux reports such an error once, so a later flush of the
 * same file can succeed over pages it lost. From now on nothing is
 * acknowledged (CW_EIO), nothing is checkpointed and no connection
 * checkpoints as it closes (db_close): the next open recovers the store
 * from what its files hold. Any thread; the first failure is logged.
 */
static void store_fail(cw_store_t *store, cw_sqlite_t *be, const char *what, const char *why)
{
    if (atomic_exchange(&be->sync_failed, 1) == 0) {
        CW_LOG_ERROR(CW_STORE_MOD,
                     "store: %s: %s failed (%s): what it held may not be on disk, so nothing"
                     " more is acknowledged; restart clearwayd to recover the store from its"
                     " files",
                     be->path, what, why);
    }
    atomic_store(&store->broken, 1);
    if (be->sthread_started) {
        /* The syncer may hold answers waiting for a flush that will never
         * come now (a checkpoint failed on its own thread): they go, with
         * CW_EIO. No caller holds the lock. */
        uv_mutex_lock(&be->lock);
        uv_cond_signal(&be->swake);
        uv_mutex_unlock(&be->lock);
    }
}

/* Closes one of the store's connections; after a failed flush, without
 * the checkpoint SQLite makes when the last one closes (store_fail). */
static void db_close(cw_sqlite_t *be, sqlite3 *db)
{
    if (db == NULL) {
        return;
    }
    if (atomic_load(&be->sync_failed)) {
        (void)sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
    }
    (void)sqlite3_close_v2(db);
}

static void answer(cw_store_t *store, cw_store_req_t *req, int status)
{
    if (status != 0) {
        req->status = status;
    }
    atomic_fetch_sub(&store->n_pending, 1);
    cw_store__req_done(store, req);
}

/* ==== The syncer (its own thread) ==== */

/* Completes req once commit seq is synced: now if it is (or nothing is
 * deferred), else through the syncer. Writer or reader thread. */
static void answer_after(cw_store_t *store, cw_sqlite_t *be, cw_store_req_t *req, uint64_t seq)
{
    if (!be->sthread_started || atomic_load(&be->commit_synced) >= seq) {
        answer(store, req, atomic_load(&be->sync_failed) ? CW_EIO : 0);
        return;
    }
    req->seq = seq;
    enqueue_on(be, &be->shead, &be->stail, &be->swake, req);
}

/*
 * The writer ended commit seq, and list (linked by next, its last at last;
 * may be NULL) is the group's requests that wait for its sync: handed to
 * the syncer at once, with one lock and one wake-up for the group rather
 * than one for each request, which woke the syncer into a lock the writer
 * held (bench/README.md, "Handing the group to the syncer at once"). If
 * COMMIT deferred its sync, one is owed for it. If not (it wrote nothing,
 * or SQLite synced), it is as durable as the commits before it: at once
 * when no flush is owed, else with the next one.
 */
static void commit_ended(
    cw_sqlite_t *be, uint64_t seq, int deferred, cw_store_req_t *list, cw_store_req_t *last)
{
    int wake = 0;

    uv_mutex_lock(&be->lock);
    if (list != NULL) {
        if (be->stail != NULL) {
            be->stail->next = list;
        } else {
            be->shead = list;
        }
        be->stail = last;
        wake = 1;
    }
    if (atomic_load(&be->commit_synced) < seq) {
        if (!deferred && be->sync_want <= atomic_load(&be->commit_synced)) {
            atomic_store(&be->commit_synced, seq); /* reads it kept may go */
            wake = 1;
        } else if (seq > be->sync_want) {
            be->sync_want = seq;
            wake = 1;
        }
    }
    uv_mutex_unlock(&be->lock);
    if (wake) {
        uv_cond_signal(&be->swake);
    }
}

/* Whether a kept request's commit is synced now. */
static int kept_can_go(const cw_store_req_t *keep, uint64_t synced)
{
    for (; keep != NULL; keep = keep->next) {
        if (keep->seq <= synced) {
            return 1;
        }
    }
    return 0;
}

static void syncer_main(void *arg)
{
    cw_store_t *store = arg;
    cw_sqlite_t *be = backend_of(store);
    cw_store_req_t *keep = NULL;

    cw_thread_name_set("cw-store-sync");
    for (;;) {
        cw_store_req_t *list;
        cw_store_req_t *req;
        cw_store_req_t **tail = &keep;
        uint64_t want;
        uint64_t synced;
        int failed;

        uv_mutex_lock(&be->lock);
        /* Sleeps while nothing came, no flush is owed (after a failure none
         * ever is) and none of the kept ones can go (after a failure, any
         * kept one goes, with CW_EIO: no flush will ever cover it). */
        while (
            be->shead == NULL && !kept_can_go(keep, atomic_load(&be->commit_synced))
            && !(keep != NULL && atomic_load(&be->sync_failed))
            && (be->sync_want <= atomic_load(&be->commit_synced) || atomic_load(&be->sync_failed))
            && !be->sstop) {
            uv_cond_wait(&be->swake, &be->lock);
        }
        while (atomic_load(&store->fault) == CW_STORE_FAULT_SYNC_HOLD && !be->sstop) {
            uv_mutex_unlock(&be->lock);
            uv_sleep(1);
            uv_mutex_lock(&be->lock);
        }
        list = be->shead;
        be->shead = NULL;
        be->stail = NULL;
        want = be->sync_want;
        synced = atomic_load(&be->commit_synced);
        if (list == NULL && keep == NULL && (want <= synced || atomic_load(&be->sync_failed))
            && be->sstop) {
            uv_mutex_unlock(&be->lock);
            break;
        }
        uv_mutex_unlock(&be->lock);

        /* One flush for every commit ended so far: the writer goes on
         * committing meanwhile, and the next flush takes those. */
        failed = atomic_load(&be->sync_failed);
        if (!failed && want > synced) {
            int rc = atomic_load(&store->fault) == CW_STORE_FAULT_SYNC_FAIL
                         ? -EIO
                         : cw_store__walbuf_fdatasync(be->sync_fd);

            if (rc == 0) {
                uv_mutex_lock(&be->lock);
                if (want > atomic_load(&be->commit_synced)) {
                    atomic_store(&be->commit_synced, want);
                }
                synced = atomic_load(&be->commit_synced);
                uv_mutex_unlock(&be->lock);
            } else {
                failed = 1;
                store_fail(store, be, "fdatasync of the WAL", strerror(-rc));
            }
        }
        /* Kept ones first: they waited longest. */
        while (*tail != NULL) {
            tail = &(*tail)->next;
        }
        *tail = list;
        list = keep;
        keep = NULL;
        tail = &keep;
        while ((req = list) != NULL) {
            list = req->next;
            if (failed || req->seq <= synced) {
                answer(store, req, failed ? CW_EIO : 0);
            } else {
                /* A read saw a commit whose end the writer has not
                 * reported yet: the next round. */
                req->next = NULL;
                *tail = req;
                tail = &req->next;
            }
        }
        if (keep != NULL && be->sstop) {
            /* Nothing more will be committed: a last flush covers them. */
            uv_mutex_lock(&be->lock);
            if (be->sync_want < atomic_load(&be->commit_begun)) {
                be->sync_want = atomic_load(&be->commit_begun);
            }
            uv_mutex_unlock(&be->lock);
        }
    }
}

/* Tells the syncer to answer what is left and exit, and joins it. */
static void syncer_stop(cw_sqlite_t *be)
{
    if (!be->sthread_started) {
        return;
    }
    uv_mutex_lock(&be->lock);
    be->sstop = 1;
    uv_cond_signal(&be->swake);
    uv_mutex_unlock(&be->lock);
    (void)uv_thread_join(&be->sthread);
}

static void writer_main(void *arg)
{
    cw_store_t *store = arg;
    cw_sqlite_t *be = backend_of(store);
    cw_store_req_t *req;
    cw_store_req_t *to_sync;      /* the group's requests that wait for its sync */
    cw_store_req_t *to_sync_last; /* its last */
    size_t n;
    size_t i;

    cw_thread_name_set("cw-store-write");
    while ((n = batch_take(be)) > 0) {
        uint64_t seq;
        int deferred;

        if (atomic_load(&be->sync_failed)) {
            for (i = 0; i < n; i++) {
                be->batch[i]->again = 0;
                answer(store, be->batch[i], CW_EIO);
            }
            continue;
        }
        for (i = 0; i < n; i++) {
            be->batch[i]->status = 0;
        }
        deferred = run_writes(store, be, be->batch, n);
        {
            uint64_t written = cw_time_mono_ns();

            for (i = 0; i < n; i++) {
                be->batch[i]->t_written = written;
            }
        }
        /* Every request of the batch waits for the sync of this commit (or
         * of the last one, for reads alone): they may have seen it. */
        seq = atomic_load(&be->commit_begun);
        to_sync = NULL;
        to_sync_last = NULL;
        for (i = 0; i < n; i++) {
            req = be->batch[i];
            if (!cw_store__req_is_write(req)) {
                req->status = facts_faulted(store, req) ? CW_EIO : op_exec(be, req);
                atomic_fetch_add(&store->n_reads, 1);
            }
            if (req->status == 0 && req->again) {
                req->again = 0;
                enqueue(be, req);
                continue;
            }
            if (!be->sthread_started || atomic_load(&be->commit_synced) >= seq) {
                answer(store, req, atomic_load(&be->sync_failed) ? CW_EIO : 0);
                continue;
            }
            req->seq = seq;
            req->next = NULL;
            if (to_sync_last != NULL) {
                to_sync_last->next = req;
            } else {
                to_sync = req;
            }
            to_sync_last = req;
        }
        if (be->sthread_started) {
            commit_ended(be, seq, deferred, to_sync, to_sync_last);
        }
    }
    /* The reader drains its queue too (stopping is set); the store hears
     * "closed" only after both threads' last request. */
    if (be->rthread_started) {
        (void)uv_thread_join(&be->rthread);
    }
    /* Then the syncer, which answers what they left it. */
    syncer_stop(be);
    if (be->cthread_started) {
        (void)uv_thread_join(&be->cthread);
    }
    for (i = 0; i < S_COUNT; i++) {
        (void)sqlite3_finalize(be->stmts[i]);
        be->stmts[i] = NULL;
    }
    db_close(be, be->db);
    be->db = NULL;
    cw_store__backend_closed(store);
}

/* ==== The reader (reader thread): ledger queries, statistics, lists, counts ==== */

/* What the reader serves: reads that may take long and need no view of
 * writes not yet acknowledged. A list filtered on a rare state or an old
 * date walks the whole messages table; on the writer it held up every
 * commit behind it. */
static int is_reader_op(const cw_store_req_t *req)
{
    return req->kind == CW_STORE_REQ_FACTS || req->kind == CW_STORE_REQ_STATS
           || req->kind == CW_STORE_REQ_LIST || req->kind == CW_STORE_REQ_COUNT;
}

/* Takes the oldest read; NULL when stopping and drained. */
static cw_store_req_t *reader_take(cw_sqlite_t *be)
{
    cw_store_req_t *req;

    uv_mutex_lock(&be->lock);
    while (be->rhead == NULL && !be->stopping) {
        uv_cond_wait(&be->rwake, &be->lock);
    }
    req = be->rhead;
    if (req != NULL) {
        be->rhead = req->next;
        if (be->rhead == NULL) {
            be->rtail = NULL;
        }
    }
    uv_mutex_unlock(&be->lock);
    return req;
}

static void reader_main(void *arg)
{
    cw_store_t *store = arg;
    cw_sqlite_t *be = backend_of(store);
    cw_store_req_t *req;

    cw_thread_name_set("cw-store-read");
    while ((req = reader_take(be)) != NULL) {
        if (facts_faulted(store, req) || atomic_load(&be->sync_failed)) {
            req->status = CW_EIO;
        } else if (req->kind == CW_STORE_REQ_LIST) {
            req->status = op_list(be->rdb, be->rstmts, req);
        } else if (req->kind == CW_STORE_REQ_COUNT) {
            req->status = op_count(be->rdb, be->rstmts, req);
        } else {
            req->status = req->kind == CW_STORE_REQ_FACTS
                              ? cw_store__ledger_facts(be->rdb, &be->rledger, req)
                              : cw_store__ledger_stats(be->rdb, &be->rledger, req);
        }
        atomic_fetch_add(&store->n_reads, 1);
        /* It may have seen a commit not yet synced: any begun so far. */
        answer_after(store, be, req, atomic_load(&be->commit_begun));
    }
    /* Its statements are finalized in release; close_v2 waits for them. */
    db_close(be, be->rdb);
    be->rdb = NULL;
}

/* ==== The checkpointer (checkpointer thread) ==== */

/* A PASSIVE checkpoint on db, counted and timed; either thread. */
static int checkpoint_run(
    cw_store_t *store, cw_sqlite_t *be, sqlite3 *db, const char *schema, int *log, int *done)
{
    uint64_t t0 = cw_time_mono_ns();
    int src;

    if (atomic_load(&be->sync_failed)) {
        /* The WAL may not hold on disk what it holds in memory: copying
         * it into the database could mix the two after a crash. */
        return SQLITE_IOERR;
    }
    if (atomic_load(&store->fault) == CW_STORE_FAULT_CKPT_FAIL) {
        store_fail(store, be, "a checkpoint", "injected fault");
        return SQLITE_IOERR_FSYNC;
    }
    atomic_fetch_add(&be->ckpt_seq, 1);
    src = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, log, done);
    atomic_fetch_add(&be->ckpt_seq, 1);
    atomic_fetch_add(&store->n_ckpt, 1);
    atomic_fetch_add(&store->n_ckpt_ns, cw_time_mono_ns() - t0);
    if ((src & 0xff) == SQLITE_IOERR) {
        /* Its writes or its fsync of the database failed: the pages it
         * copied may not be there, and the WAL must not start over. */
        store_fail(store, be, "a checkpoint", sqlite3_errstr(src));
    }
    return src;
}

/* SQLite calls this on the writer thread after each commit. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *schema, int pages)
{
    cw_store_t *store = arg;
    cw_sqlite_t *be = backend_of(store);

    /* The commit is written; a checkpoint's syncs are never deferred. */
    cw_store__walbuf_defer_pause();
    if (pages >= CHECKPOINT_PAGES_WRITER || (!be->cthread_started && pages >= CHECKPOINT_PAGES)) {
        (void)checkpoint_run(store, be, db, schema, NULL, NULL);
        return SQLITE_OK;
    }
    if (pages >= CHECKPOINT_PAGES) {
        uv_mutex_lock(&be->lock);
        be->ckpt_wanted = 1;
        uv_mutex_unlock(&be->lock);
        uv_cond_signal(&be->cwake);
    }
    return SQLITE_OK;
}

static void checkpointer_main(void *arg)
{
    cw_store_t *store = arg;
    cw_sqlite_t *be = backend_of(store);
    int behind = 0; /* the last checkpoint left frames behind */
    int log_pages;
    int done_pages;
    int src;

    cw_thread_name_set("cw-checkpoint");
    for (;;) {
        uv_mutex_lock(&be->lock);
        if (behind) {
            /* Frames were appended while it ran: once the writer pauses,
             * catch up, so that its next transaction restarts the WAL. */
            if (!be->ckpt_wanted && !be->stopping) {
                (void)uv_cond_timedwait(&be->cwake, &be->lock, CHECKPOINT_RETRY_NS);
            }
        } else {
            while (!be->ckpt_wanted && !be->stopping) {
                uv_cond_wait(&be->cwake, &be->lock);
            }
        }
        if (be->stopping) {
            /* The writer's close checkpoints what is left. */
            uv_mutex_unlock(&be->lock);
            break;
        }
        be->ckpt_wanted = 0;
        uv_mutex_unlock(&be->lock);
        log_pages = 0;
        done_pages = 0;
        src = checkpoint_run(store, be, be->cdb, NULL, &log_pages, &done_pages);
        if (src != SQLITE_OK && src != SQLITE_BUSY && (src & 0xff) != SQLITE_IOERR) {
            /* (An I/O error was logged once, by store_fail.) */
            CW_LOG_WARN(CW_STORE_MOD, "checkpoint failed: %s", sqlite3_errmsg(be->cdb));
        }
        behind = src == SQLITE_BUSY || (src == SQLITE_OK && done_pages < log_pages);
    }
    db_close(be, be->cdb);
    be->cdb = NULL;
}

/* ==== Ledger reads on the caller's thread ==== */

static int lend_open(cw_sqlite_t *be, sqlite3 **db)
{
    int src;

    src = sqlite3_open_v2(be->path, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        CW_LOG_WARN(CW_STORE_MOD, "store: %s: cannot open for reading: %s", be->path,
                    *db != NULL ? sqlite3_errmsg(*db) : sqlite3_errstr(src));
        (void)sqlite3_close_v2(*db);
        *db = NULL;
        return CW_EIO;
    }
    /* A reader waits only while a checkpoint restarts the WAL. */
    (void)sqlite3_busy_timeout(*db, (int)be->busy_timeout_ms);
    (void)sqlite3_exec(*db, LEND_CACHE_PRAGMA, NULL, NULL, NULL);
    return 0;
}

/*
 * cw_store_facts_query_here: the ledger read of the reader thread, on the
 * caller's thread with a connection taken from the idle ones (or opened)
 * and given back after. WAL gives each statement the last committed
 * snapshot without waiting for the writer, as on the reader thread.
 */
static int sqlite_facts_here(cw_store_t *store,
                             const cw_store_facts_query_t *q,
                             cw_pool_t *pool,
                             cw_store_facts_t *out)
{
    cw_sqlite_t *be = backend_of(store);
    cw_store_ledger_t *ledger = NULL;
    sqlite3 *db = NULL;
    cw_store_req_t req;
    int rc = 0;

    uv_mutex_lock(&be->lock);
    if (be->stopping) {
        uv_mutex_unlock(&be->lock);
        return CW_ECLOSED;
    }
    if (be->lend_idle > 0) {
        be->lend_idle--;
        db = be->lend_db[be->lend_idle];
        ledger = be->lend_ledger[be->lend_idle];
    }
    be->lend_out++;
    uv_mutex_unlock(&be->lock);

    if (db == NULL) {
        CW_TRY(lend_open(be, &db));
    }
    memset(&req, 0, sizeof(req));
    req.kind = CW_STORE_REQ_FACTS;
    req.pool = pool;
    req.in.facts = *q;
    rc = facts_faulted(store, &req) ? CW_EIO : cw_store__ledger_facts(db, &ledger, &req);
    if (rc == 0) {
        *out = req.out.facts;
    }
out:
    uv_mutex_lock(&be->lock);
    be->lend_out--;
    if (db != NULL && !be->stopping && be->lend_idle < LEND_MAX) {
        be->lend_db[be->lend_idle] = db;
        be->lend_ledger[be->lend_idle] = ledger;
        be->lend_idle++;
        db = NULL;
        ledger = NULL;
    }
    uv_mutex_unlock(&be->lock);
    cw_store__ledger_free(ledger);
    if (db != NULL) {
        db_close(be, db);
    }
    return rc;
}

/* Closes the idle lent connections once every caller gave its back. The
 * pipeline sends no work after it closes the store, so this waits at most
 * for reads already running. */
static void lend_close(cw_sqlite_t *be)
{
    unsigned out;
    unsigned i;

    for (;;) {
        uv_mutex_lock(&be->lock);
        out = be->lend_out;
        uv_mutex_unlock(&be->lock);
        if (out == 0) {
            break;
        }
        uv_sleep(1);
    }
    for (i = 0; i < be->lend_idle; i++) {
        cw_store__ledger_free(be->lend_ledger[i]);
        db_close(be, be->lend_db[i]);
    }
    be->lend_idle = 0;
}

/* ==== The ops table (loop thread) ==== */

/* The reader's connection, after the writer's made and migrated the file. */
static int reader_open(cw_sqlite_t *be, const cw_store_options_t *opts, cw_error_t *err)
{
    int src;

    src = sqlite3_open_v2(opts->path, &be->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (src != SQLITE_OK) {
        int rc = cw_error_set(err, CW_EIO, CW_STORE_MOD, "store: %s: cannot open for reading: %s",
                              opts->path,
                              be->rdb != NULL ? sqlite3_errmsg(be->rdb) : sqlite3_errstr(src));

        db_close(be, be->rdb);
        be->rdb = NULL;
        return rc;
    }
    /* A reader waits only while a checkpoint restarts the WAL. */
    (void)sqlite3_busy_timeout(be->rdb, (int)opts->busy_timeout_ms);
    /* The checkpointer writes into the database file, so read-write; it
     * runs no statement. Without it the writer checkpoints as before. Its
     * syncs are timed (walbuf.c). */
    src = sqlite3_open_v2(opts->path, &be->cdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                          cw_store__timed_vfs());
    if (src != SQLITE_OK) {
        CW_LOG_WARN(CW_STORE_MOD, "store: %s: no checkpointer connection: %s", opts->path,
                    be->cdb != NULL ? sqlite3_errmsg(be->cdb) : sqlite3_errstr(src));
        db_close(be, be->cdb);
        be->cdb = NULL;
    } else {
        (void)sqlite3_busy_timeout(be->cdb, (int)opts->busy_timeout_ms);
        /* It syncs the WAL before it copies frames into the database, which
         * the syncer relies on (the writer's own flush may not have run
         * yet), and the database after: never synchronous=OFF here. */
        (void)sqlite3_exec(be->cdb, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
        /* A connection finds out that the file is in WAL mode when it first
         * reads it; until then a checkpoint does nothing (and says -1). */
        if (sqlite3_exec(be->cdb, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL)
            != SQLITE_OK) {
            CW_LOG_WARN(CW_STORE_MOD, "store: %s: no checkpointer connection: %s", opts->path,
                        sqlite3_errmsg(be->cdb));
            db_close(be, be->cdb);
            be->cdb = NULL;
        }
    }
    return 0;
}

/* One process per store file: the lock also proves that leases left in the
 * file belong to a process that is gone. */
static int lock_take(cw_sqlite_t *be, const char *path, cw_error_t *err)
{
    char lock_path[4200];
    struct flock fl;
    int rc = 0;

    if (snprintf(lock_path, sizeof(lock_path), "%s-lock", path) >= (int)sizeof(lock_path)) {
        rc = cw_error_set(err, CW_EINVAL, CW_STORE_MOD, "store: path too long");
        goto out;
    }
    be->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (be->lock_fd < 0) {
        rc = cw_error_set(err, CW_EIO, CW_STORE_MOD, "store: %s: %s", lock_path, strerror(errno));
        goto out;
    }
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(be->lock_fd, F_SETLK, &fl) != 0) {
        rc = cw_error_set(err, CW_EBUSY, CW_STORE_MOD,
                          "store: %s is in use by another process (lock %s)", path, lock_path);
        goto out;
    }
out:
    return rc;
}

static int sqlite_open(cw_store_t *store, const cw_store_options_t *opts, cw_error_t *err)
{
    cw_sqlite_t *be;
    char *msg = NULL;
    int src;
    int rc = 0;

    be = cw_calloc(1, sizeof(*be));
    if (be == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_STORE_MOD, "store: out of memory");
        goto out;
    }
    be->lock_fd = -1;
    be->sync_fd = -1;
    be->group_max = opts->group_max;
    be->copies_in_file = -1;
    be->busy_timeout_ms = opts->busy_timeout_ms;
    store->backend = be;
    be->path = cw_strdup(opts->path);
    if (be->path == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_STORE_MOD, "store: out of memory");
        goto out;
    }
    be->batch = cw_calloc(opts->group_max, sizeof(*be->batch));
    if (be->batch == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_STORE_MOD, "store: out of memory");
        goto out;
    }
    CW_TRY(lock_take(be, opts->path, err));
    CW_TRY(cw_store__sqlite_db_open(&be->db, opts, err));
    CW_TRY(reader_open(be, opts, err));
    src = sqlite3_exec(be->db,
                       "UPDATE deliveries SET lease_owner = NULL, lease_until_ms = 0"
                       " WHERE lease_owner IS NOT NULL",
                       NULL, NULL, &msg);
    if (src != SQLITE_OK) {
        rc = cw_error_set(err, cw_store__err_from_sqlite(src), CW_STORE_MOD,
                          "store: cannot release old leases: %s", msg != NULL ? msg : "");
        goto out;
    }
out:
    sqlite3_free(msg);
    if (rc < 0) {
        store->ops->release(store);
    }
    return rc;
}

static int sqlite_start(cw_store_t *store)
{
    cw_sqlite_t *be = backend_of(store);
    int rc = 0;

    if (uv_mutex_init(&be->lock) != 0) {
        rc = CW_ESYS;
        goto out;
    }
    if (uv_cond_init(&be->wake) != 0) {
        uv_mutex_destroy(&be->lock);
        rc = CW_ESYS;
        goto out;
    }
    if (uv_cond_init(&be->rwake) != 0) {
        uv_cond_destroy(&be->wake);
        uv_mutex_destroy(&be->lock);
        rc = CW_ESYS;
        goto out;
    }
    if (uv_cond_init(&be->cwake) != 0) {
        uv_cond_destroy(&be->rwake);
        uv_cond_destroy(&be->wake);
        uv_mutex_destroy(&be->lock);
        rc = CW_ESYS;
        goto out;
    }
    /* Without the checkpointer the writer checkpoints, as SQLite's own
     * automatic checkpoint would, but through on_wal_commit, which first
     * stops deferring the WAL's sync: SQLite's hook would copy a commit
     * into the database before the syncer flushed it to the WAL. */
    if (be->cdb != NULL && uv_thread_create(&be->cthread, checkpointer_main, store) == 0) {
        be->cthread_started = 1;
    }
    (void)sqlite3_wal_hook(be->db, on_wal_commit, store);
    /* Without the syncer (synchronous=NORMAL, or the WAL not through
     * walbuf.c) nothing is deferred and the writer answers as before. */
    be->sync_fd = cw_store__walbuf_sync_fd(be->db);
    if (be->sync_fd >= 0 && uv_cond_init(&be->swake) == 0) {
        if (uv_thread_create(&be->sthread, syncer_main, store) == 0) {
            be->sthread_started = 1;
        } else {
            uv_cond_destroy(&be->swake);
        }
    }
    if (!be->sthread_started) {
        be->sync_fd = -1;
    }
    /* Without a read connection (sqlite_open could not make one), ledger
     * reads stay on the writer as before. */
    if (be->rdb != NULL && uv_thread_create(&be->rthread, reader_main, store) == 0) {
        be->rthread_started = 1;
    }
    if (uv_thread_create(&be->thread, writer_main, store) != 0) {
        uv_mutex_lock(&be->lock);
        be->stopping = 1;
        uv_cond_signal(&be->rwake);
        uv_cond_signal(&be->cwake);
        uv_mutex_unlock(&be->lock);
        if (be->rthread_started) {
            (void)uv_thread_join(&be->rthread);
            be->rthread_started = 0;
        }
        if (be->cthread_started) {
            (void)uv_thread_join(&be->cthread);
            be->cthread_started = 0;
        }
        if (be->sthread_started) {
            syncer_stop(be);
            be->sthread_started = 0;
            uv_cond_destroy(&be->swake);
        }
        be->sync_fd = -1;
        uv_cond_destroy(&be->cwake);
        uv_cond_destroy(&be->rwake);
        uv_cond_destroy(&be->wake);
        uv_mutex_destroy(&be->lock);
        rc = CW_ESYS;
        goto out;
    }
    be->thread_started = 1;
out:
    return rc;
}

static void sqlite_submit(cw_store_t *store, cw_store_req_t *req)
{
    cw_sqlite_t *be = backend_of(store);

    if (be->rthread_started && is_reader_op(req)) {
        enqueue_on(be, &be->rhead, &be->rtail, &be->rwake, req);
        return;
    }
    enqueue(be, req);
}

static void sqlite_close(cw_store_t *store)
{
    cw_sqlite_t *be = backend_of(store);

    uv_mutex_lock(&be->lock);
    be->stopping = 1;
    uv_cond_signal(&be->wake);
    uv_cond_signal(&be->rwake);
    uv_cond_signal(&be->cwake);
    uv_mutex_unlock(&be->lock);
}

static void sqlite_release(cw_store_t *store)
{
    cw_sqlite_t *be = backend_of(store);
    size_t i;

    if (be == NULL) {
        return;
    }
    if (be->thread_started) {
        lend_close(be);
        /* The thread has reported closed, so this join does not wait. */
        (void)uv_thread_join(&be->thread);
        if (be->sthread_started) {
            uv_cond_destroy(&be->swake); /* the writer joined the syncer */
        }
        uv_cond_destroy(&be->cwake);
        uv_cond_destroy(&be->rwake);
        uv_cond_destroy(&be->wake);
        uv_mutex_destroy(&be->lock);
    }
    for (i = 0; i < S_COUNT; i++) {
        (void)sqlite3_finalize(be->stmts[i]);
        (void)sqlite3_finalize(be->rstmts[i]);
    }
    cw_store__ledger_free(be->ledger);
    cw_store__ledger_free(be->rledger);
    if (be->db != NULL) {
        db_close(be, be->db);
    }
    if (be->rdb != NULL) {
        db_close(be, be->rdb);
    }
    if (be->cdb != NULL) {
        db_close(be, be->cdb);
    }
    if (be->lock_fd >= 0) {
        (void)close(be->lock_fd);
    }
    cw_free(be->batch);
    cw_free(be->path);
    cw_free(be);
    store->backend = NULL;
}

const struct cw_store_ops cw_store__sqlite_ops = {
    "sqlite",     sqlite_open,    sqlite_start,      sqlite_submit,
    sqlite_close, sqlite_release, sqlite_facts_here,
};
