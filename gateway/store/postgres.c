/*
 * The PostgreSQL backend: several nodes of one organisation share one
 * database (DESIGN.md, "Scaling"; docs/store.md, "The PostgreSQL store").
 *
 * Threads and connections: a writer thread with one connection runs every
 * write, a reader thread with another runs status lookups, lists, ledger
 * queries and statistics, and intake's ledger read borrows a connection of
 * its own on the worker's thread (pg_facts_here). Each connection belongs
 * to one thread at a time, as libpq requires.
 *
 * Group commit: the writer takes every write queued when it wakes (up to
 * group_max) and runs them in one transaction; when one of them fails,
 * the group is rolled back and each runs again alone, so that one failing
 * operation costs only itself (run_writes). A write is answered only after COMMIT returned: the
 * server has made it durable (synchronous_commit on; off under CW_STORE_SYNC_NORMAL). If COMMIT
 * fails or the connection is lost, every write of the group fails with CW_EIO; one whose COMMIT
 * reached the server before the connection broke may still have committed, which the sender's retry
 * then finds as DUPLICATE.
 *
 * Several nodes: nothing here assumes the only writer. The dedupe key is a
 * unique index, and a put inserts with ON CONFLICT DO NOTHING, which waits
 * for a concurrent insert of the same key to commit or roll back, so of two
 * nodes accepting one message one stores it and the other answers
 * DUPLICATE or CONFLICT. Claims lock their rows with FOR UPDATE SKIP LOCKED
 * and lease them in the same statement, so two nodes never claim one
 * delivery; recording an outcome locks the delivery's row and checks the
 * lease, so a node whose lease expired and was taken cannot overwrite the
 * newer attempt (CW_ESTALE). A node that dies keeps its leases only until
 * they expire: unlike SQLite there is no lock file to prove it gone.
 *
 * A lost connection is reset before the next batch; until the server
 * answers again every operation fails with CW_EIO (the sender gets 503 and
 * retries; nothing already accepted is lost).
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "pg.h"

/* The schema version this binary writes (schema_migrations). */
#define PG_SCHEMA_VERSION 1
/* Key of the advisory lock under which one node at a time migrates. */
#define PG_MIGRATE_LOCK "4851090561893941593"
/* Oldest server supported: identity columns, SKIP LOCKED, to_regclass. */
#define PG_SERVER_MIN 120000
/* Connections lent to workers at once (pg_facts_here); more wait. Every
 * node holds up to this many plus two, against the server's
 * max_connections (100 by default). */
#define PG_LEND_MAX 16
/* How often a writer whose server is out of reach tries it again. */
#define PG_RETRY_NS (1000ull * 1000 * 1000)
/* Statements prepared on one connection at most (more run unprepared). */
#define PG_PREPARED_MAX 48
/* Room for a decimal int64 and its terminator. */
#define I64_SIZE 24

static const char *const schema_v1[] = {
    /* Marks the database as a Clearway store, as SQLite's application_id. */
    "CREATE TABLE clearway_store (application_id INTEGER NOT NULL)",
    "INSERT INTO clearway_store (application_id) VALUES (1129728345)",
    "CREATE TABLE schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " applied_at_ms BIGINT NOT NULL)",

    "CREATE TABLE messages ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " from_party TEXT NOT NULL,"
    " message_id TEXT NOT NULL,"
    " digest BYTEA NOT NULL CHECK (length(digest) = 32),"
    " to_party TEXT NOT NULL DEFAULT '',"
    " service TEXT NOT NULL DEFAULT '',"
    " action TEXT NOT NULL DEFAULT '',"
    " conversation_id TEXT NOT NULL DEFAULT '',"
    " timestamp TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('received','queued','delivered','failed','rejected')),"
    " problem TEXT NOT NULL DEFAULT '',"
    " received BYTEA,"
    " receipt_given BYTEA,"
    " receipt_received BYTEA,"
    " created_at_ms BIGINT NOT NULL,"
    " updated_at_ms BIGINT NOT NULL)",
    /* The dedupe key: accepted messages only, so a rejected message never
     * blocks the corrected one. */
    "CREATE UNIQUE INDEX messages_dedupe ON messages (from_party, message_id)"
    " WHERE state <> 'rejected'",
    "CREATE INDEX messages_key ON messages (from_party, message_id)",
    "CREATE INDEX messages_to ON messages (to_party, id)",
    "CREATE INDEX messages_delivered ON messages (updated_at_ms) WHERE state = 'delivered'",
    "CREATE INDEX messages_attention ON messages (id) WHERE state IN ('failed', 'rejected')",

    "CREATE TABLE message_states ("
    " message BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " at_ms BIGINT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (message, seq))",

    /* The sealed envelope stays in the row: PostgreSQL keeps a large value
     * out of line (TOAST) and an UPDATE of the other columns leaves it
     * where it is. */
    "CREATE TABLE deliveries ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " message BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " route TEXT NOT NULL,"
    " outgoing BYTEA NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('queued','delivered','failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at_ms BIGINT NOT NULL,"
    " first_queued_at_ms BIGINT NOT NULL,"
    " lease_owner TEXT,"
    " lease_until_ms BIGINT NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " outgoing_id TEXT,"
    " outgoing_digest BYTEA,"
    /* Where the base64 of the message's received bytes goes back into
     * outgoing, which is kept without it (store.c, outgoing_copy); NULL
     * when outgoing is whole. */
    " evidence_at BIGINT,"
    " UNIQUE (message, route))",
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at_ms, id) WHERE state = 'queued'",

    "CREATE TABLE attempts ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " delivery BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,"
    " at_ms BIGINT NOT NULL,"
    " owner TEXT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " http_status INTEGER NOT NULL,"
    " error TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX attempts_delivery ON attempts (delivery)",
    /* The envelopes and receipts out of line but not compressed: pglz
     * compression of the evidence and the sealed envelope took most of
     * an intake insert's time on the server (bench/README.md, "The
     * PostgreSQL store"), and SQLite keeps them as they are too. */
    "ALTER TABLE messages ALTER COLUMN received SET STORAGE EXTERNAL,"
    " ALTER COLUMN receipt_given SET STORAGE EXTERNAL,"
    " ALTER COLUMN receipt_received SET STORAGE EXTERNAL",
    "ALTER TABLE deliveries ALTER COLUMN outgoing SET STORAGE EXTERNAL",
    NULL,
};

/* ==== Statements ==== */

/* The columns of a status row, shared by GET and LIST (see info_read). */
#define INFO_COLUMNS                                                                        \
    "m.id, m.from_party, m.message_id, m.to_party, m.service, m.action, m.conversation_id," \
    " m.timestamp, m.digest, m.state, m.problem, m.created_at_ms, m.updated_at_ms,"         \
    " coalesce(d.route, ''), coalesce(d.attempts, 0), coalesce(d.last_error, ''),"          \
    " coalesce(d.next_attempt_at_ms, 0)"
/* The first delivery of a message (one per message today). */
#define INFO_JOIN                                       \
    " FROM messages m LEFT JOIN deliveries d ON d.id =" \
    " (SELECT min(id) FROM deliveries WHERE message = m.id)"
/* $2: ",queued,failed," or "" for every state. */
#define LIST_STATES " AND ($2 = '' OR position(',' || m.state || ',' IN $2) > 0)"

/*
 * A message, its first state and its delivery in one statement (one round
 * trip). An accepted message gives way to a stored one with the same key
 * (ON CONFLICT DO NOTHING: nothing is returned, and nothing else inserted);
 * a rejected one never takes the key. $15 (the route) is NULL unless the
 * message is queued.
 */
#define PUT_SQL(conflict)                                                                         \
    "WITH m AS (INSERT INTO messages (from_party, message_id, digest, to_party, service, action," \
    " conversation_id, timestamp, state, problem, received, receipt_given, created_at_ms,"        \
    " updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "            \
    "$13)" conflict " RETURNING id),"                                                             \
    " h AS (INSERT INTO message_states (message, seq, state, at_ms, note)"                        \
    " SELECT id, 1, $9::text, $13::bigint, $14::text FROM m),"                                    \
    " d AS (INSERT INTO deliveries (message, route, outgoing, state, next_attempt_at_ms,"         \
    " first_queued_at_ms, outgoing_id, outgoing_digest, evidence_at)"                             \
    " SELECT id, $15::text, $16::bytea, 'queued', $17::bigint, $13::bigint, $18::text,"           \
    " $19::bytea, $20::bigint FROM m WHERE $15::text IS NOT NULL)"                                \
    " SELECT id FROM m"
static const char SQL_PUT[] =
    PUT_SQL(" ON CONFLICT (from_party, message_id) WHERE state <> 'rejected' DO NOTHING");
static const char SQL_PUT_REJECTED[] = PUT_SQL("");
static const char SQL_DEDUPE[] = "SELECT id, digest, receipt_given, state FROM messages"
                                 " WHERE from_party = $1 AND message_id = $2"
                                 " AND state <> 'rejected'";
static const char SQL_HIST[] = "INSERT INTO message_states (message, seq, state, at_ms, note)"
                               " VALUES ($1, (SELECT coalesce(max(seq), 0) + 1"
                               " FROM message_states WHERE message = $1), $2, $3, $4)";
static const char SQL_GET[] =
    "SELECT " INFO_COLUMNS ", m.receipt_given, m.receipt_received, m.received" INFO_JOIN
    " WHERE m.from_party = $1 AND m.message_id = $2"
    " ORDER BY (m.state = 'rejected'), m.id DESC LIMIT 1";
static const char SQL_HISTORY[] =
    "SELECT state, at_ms, note FROM message_states WHERE message = $1 ORDER BY seq";
/* Three shapes of a page, as with SQLite, so that each prepared plan can
 * use its index: every message newest first (the primary key), one
 * destination's (messages_to), failed and rejected only
 * (messages_attention). $3 is the destination in the second only. */
static const char SQL_LIST[] =
    "SELECT " INFO_COLUMNS INFO_JOIN " WHERE m.id < $1" LIST_STATES " AND $3::text IS NULL"
    " AND m.created_at_ms >= $4 ORDER BY m.id DESC LIMIT $5";
static const char SQL_LIST_TO[] =
    "SELECT " INFO_COLUMNS INFO_JOIN " WHERE m.to_party = $3 AND m.id < $1" LIST_STATES
    " AND m.created_at_ms >= $4 ORDER BY m.id DESC LIMIT $5";
static const char SQL_LIST_ATTENTION[] =
    "SELECT " INFO_COLUMNS INFO_JOIN
    " WHERE m.id < $1 AND m.state IN ('failed', 'rejected')" LIST_STATES " AND $3::text IS NULL"
    " AND m.created_at_ms >= $4 ORDER BY m.id DESC LIMIT $5";
static const char SQL_KEY_STATE[] = "SELECT id, state FROM messages"
                                    " WHERE from_party = $1 AND message_id = $2"
                                    " AND state <> 'rejected' FOR UPDATE";
static const char SQL_REQUEUE[] = "UPDATE deliveries SET state = 'queued', attempts = 0,"
                                  " next_attempt_at_ms = $2, first_queued_at_ms = $2,"
                                  " lease_owner = NULL, lease_until_ms = 0"
                                  " WHERE message = $1 AND state = 'failed'";
static const char SQL_SET_STATE[] = "UPDATE messages SET state = $2, updated_at_ms = $3"
                                    " WHERE id = $1";
static const char SQL_PURGE[] = "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
                                " WHERE state = 'delivered' AND updated_at_ms < $1"
                                " ORDER BY updated_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)";
/* Locks the due rows nobody else is locking and leases them at once. */
static const char SQL_CLAIM[] =
    "WITH due AS (SELECT id FROM deliveries WHERE state = 'queued'"
    " AND next_attempt_at_ms <= $1 AND (lease_owner IS NULL OR lease_until_ms <= $1)"
    " AND ($2::text IS NULL OR route = $2)"
    " ORDER BY next_attempt_at_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
    " UPDATE deliveries d SET lease_owner = $4, lease_until_ms = $5"
    " FROM due, messages m WHERE d.id = due.id AND m.id = d.message"
    " RETURNING d.id, m.from_party, m.message_id, m.to_party, d.route, d.outgoing,"
    " d.attempts, d.first_queued_at_ms, d.outgoing_id, d.outgoing_digest,"
    " d.next_attempt_at_ms, d.evidence_at,"
    " CASE WHEN d.evidence_at IS NOT NULL THEN m.received END";
static const char SQL_DELIV_GET[] = "SELECT message, state, lease_owner FROM deliveries"
                                    " WHERE id = $1 FOR UPDATE";
static const char SQL_ATTEMPT[] = "INSERT INTO attempts (delivery, at_ms, owner, outcome,"
                                  " http_status, error) VALUES ($1, $2, $3, $4, $5, $6)";
static const char SQL_DELIV_DONE[] =
    "UPDATE deliveries SET state = $2, attempts = attempts + 1,"
    " lease_owner = NULL, lease_until_ms = 0, last_error = $3,"
    " next_attempt_at_ms = coalesce($4::bigint, next_attempt_at_ms) WHERE id = $1";
static const char SQL_DELIVERED[] = "UPDATE messages SET state = 'delivered',"
                                    " receipt_received = $2, updated_at_ms = $3 WHERE id = $1";

/* ==== Backend state ==== */

/*
 * The statements prepared on one connection, by their SQL's address (every
 * statement is a static string): the server parses and plans each once per
 * connection instead of at every execution. Named "cw<index>". Emptied when
 * the connection is reset, which drops them on the server.
 */
typedef struct pg_prepared {
    const char *sql[PG_PREPARED_MAX];
    unsigned n;
} pg_prepared_t;

/* The table of the connection this thread works on now (NULL: none, the
 * statements run unprepared, as while opening). */
static _Thread_local pg_prepared_t *tls_prepared;

typedef struct cw_pg {
    char *url;                /* the libpq connection string (may hold a password) */
    char *where;              /* "database D on H": for messages, without the password */
    int sync_normal;          /* synchronous_commit off */
    uint32_t busy_timeout_ms; /* lock_timeout */
    uint32_t group_max;       /* writes per transaction */
    cw_store_req_t **batch;   /* group_max slots, writer thread only */
    PGconn *wconn;            /* the writer's; writer thread once started */
    PGconn *rconn;            /* the reader's; reader thread once started */
    pg_prepared_t wprep;      /* what is prepared on wconn */
    pg_prepared_t rprep;      /* on rconn */
    int wdown;                /* the writer's connection is down (logged once) */
    int rdown;                /* the reader's */
    uint64_t wretry_at_ns;    /* while down, the writer's next reset not before */
    uint64_t rretry_at_ns;    /* the reader's */
    uv_thread_t wthread;
    uv_thread_t rthread;
    int wthread_started;
    int rthread_started;
    int sync_init;         /* lock and the conds are initialised */
    uv_mutex_t lock;       /* guards the queues, stopping and the lent connections */
    uv_cond_t wwake;       /* a write was queued, or stopping */
    uv_cond_t rwake;       /* a read was queued, or stopping */
    uv_cond_t lwake;       /* a lent connection came back */
    cw_store_req_t *whead; /* the writer's queue, oldest first */
    cw_store_req_t *wtail;
    cw_store_req_t *rhead; /* the reader's */
    cw_store_req_t *rtail;
    int stopping;                         /* close requested: drain, then exit */
    PGconn *lend[PG_LEND_MAX];            /* idle connections for pg_facts_here */
    pg_prepared_t lend_prep[PG_LEND_MAX]; /* what is prepared on each */
    unsigned lend_idle;                   /* of them, idle */
    unsigned lend_out;                    /* lent right now */
} cw_pg_t;

static cw_pg_t *backend_of(cw_store_t *store)
{
    return store->backend;
}

int cw_store__pg_is_url(const char *path)
{
    return path != NULL
           && (strncmp(path, "postgres://", 11) == 0 || strncmp(path, "postgresql://", 13) == 0);
}

/* ==== Results and errors ==== */

int cw_store__pg_err(PGconn *conn, const PGresult *res, const char *what)
{
    const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
    int rc = CW_EINTERNAL;

    if (msg == NULL || msg[0] == '\0') {
        msg = PQerrorMessage(conn);
    }
    if (PQstatus(conn) != CONNECTION_OK || state == NULL) {
        rc = CW_EIO;
    } else if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0
               || strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0) {
        /* Serialization failure, deadlock, lock_timeout, statement timeout. */
        rc = CW_EBUSY;
    } else if (strcmp(state, "23505") == 0) {
        rc = CW_EEXIST;
    } else if (strncmp(state, "53", 2) == 0 || strncmp(state, "58", 2) == 0
               || strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0
               || strcmp(state, "25006") == 0) {
        /* Out of resources or disk, an I/O error, a connection problem, an
         * administrator's shutdown, a read-only server (a standby). */
        rc = CW_EIO;
    }
    CW_LOG_WARN(
        CW_STORE_MOD, "store: PostgreSQL: %s: %s%s%.*s", what, state != NULL ? state : "",
        state != NULL ? " " : "",
        /* libpq's messages end with a newline */
        (int)(strlen(msg) > 0 && msg[strlen(msg) - 1] == '\n' ? strlen(msg) - 1 : strlen(msg)),
        msg);
    return rc;
}

PGresult *cw_store__pg_exec(PGconn *conn,
                            const char *sql,
                            int n,
                            const char *const *values,
                            const int *lengths,
                            const int *formats,
                            int binary_result,
                            int *rc)
{
    pg_prepared_t *prep = tls_prepared;
    PGresult *res = NULL;
    ExecStatusType st;
    unsigned i = PG_PREPARED_MAX;
    char name[16];

    if (prep != NULL && n > 0) {
        for (i = 0; i < prep->n && prep->sql[i] != sql; i++) {
        }
        (void)snprintf(name, sizeof(name), "cw%u", i);
        if (i == prep->n && i < PG_PREPARED_MAX) {
            res = PQprepare(conn, name, sql, n, NULL);
            if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
                /* Its own error, not the one a second try would get in
                 * the transaction it aborted. */
                *rc = cw_store__pg_err(conn, res, sql);
                PQclear(res);
                return NULL;
            }
            PQclear(res);
            prep->sql[prep->n++] = sql;
        }
    }
    if (i < PG_PREPARED_MAX) {
        res = PQexecPrepared(conn, name, n, values, lengths, formats, binary_result);
    } else {
        res = PQexecParams(conn, sql, n, NULL, values, lengths, formats, binary_result);
    }
    st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        return res;
    }
    *rc = cw_store__pg_err(conn, res, sql);
    PQclear(res);
    return NULL;
}

/* Runs a statement without parameters or results. */
static int exec_plain(PGconn *conn, const char *sql)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, sql, 0, NULL, NULL, NULL, 0, &rc);
    PQclear(res);
    return rc;
}

/* Like exec_plain, with text parameters, and the number of rows it
 * changed in *changed (may be NULL). */
static int exec_n(PGconn *conn, const char *sql, int n, const char *const *values, int64_t *changed)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, sql, n, values, NULL, NULL, 0, &rc);
    if (res == NULL) {
        return rc;
    }
    if (changed != NULL) {
        *changed = strtoll(PQcmdTuples(res), NULL, 10);
    }
    PQclear(res);
    return 0;
}

static void i64_put(char out[I64_SIZE], int64_t v)
{
    (void)snprintf(out, I64_SIZE, "%" PRId64, v);
}

/* A column as int64: CW_EINTERNAL when it is not a whole decimal number. */
static int col_i64(const PGresult *res, int row, int col, int64_t *out)
{
    const char *s = PQgetvalue(res, row, col);
    char *end = NULL;
    long long v;

    if (PQgetisnull(res, row, col)) {
        *out = 0;
        return 0;
    }
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        return CW_EINTERNAL;
    }
    *out = v;
    return 0;
}

/* A text column copied into pool ("" for NULL). */
static const char *col_str(cw_pool_t *pool, const PGresult *res, int row, int col)
{
    return cw_pool_strndup(pool, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

/*
 * A bytea column (text format, hex: "\x0a1b...") decoded into pool; NULL
 * and 0 for SQL NULL. CW_EINTERNAL for anything but hex output.
 */
static int
col_bytes(cw_pool_t *pool, const PGresult *res, int row, int col, const char **out, size_t *len)
{
    const char *s = PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col);
    unsigned char *p;
    size_t i;

    *out = NULL;
    *len = 0;
    if (PQgetisnull(res, row, col)) {
        return 0;
    }
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2 != 0) {
        return CW_EINTERNAL;
    }
    /* One byte more, so that an empty value is not NULL and text is
     * terminated for the callers that print it. */
    p = cw_pool_alloc(pool, (n - 2) / 2 + 1);
    if (p == NULL) {
        return CW_ENOMEM;
    }
    for (i = 0; i < (n - 2) / 2; i++) {
        int hi = cw_hex_digit(s[2 + 2 * i]);
        int lo = cw_hex_digit(s[3 + 2 * i]);

        if (hi < 0 || lo < 0) {
            return CW_EINTERNAL;
        }
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = (const char *)p;
    *len = (n - 2) / 2;
    return 0;
}

static int col_state(const PGresult *res, int row, int col, cw_store_state_e *out)
{
    return cw_store_state_parse(PQgetvalue(res, row, col), out) < 0 ? CW_EINTERNAL : 0;
}

/* ==== Operations ==== */

static int
history_add(PGconn *conn, int64_t msg_row, cw_store_state_e state, int64_t at_ms, const char *note)
{
    char row[I64_SIZE];
    char at[I64_SIZE];
    const char *v[4];

    i64_put(row, msg_row);
    i64_put(at, at_ms);
    v[0] = row;
    v[1] = cw_store_state_name(state);
    v[2] = at;
    v[3] = note != NULL ? note : "";
    return exec_n(conn, SQL_HIST, 4, v, NULL);
}

static int msg_set_state(PGconn *conn, int64_t msg_row, cw_store_state_e state, int64_t at_ms)
{
    char row[I64_SIZE];
    char at[I64_SIZE];
    const char *v[3];

    i64_put(row, msg_row);
    i64_put(at, at_ms);
    v[0] = row;
    v[1] = cw_store_state_name(state);
    v[2] = at;
    return exec_n(conn, SQL_SET_STATE, 3, v, NULL);
}

/* The stored message with the key of req: DUPLICATE or CONFLICT. */
static int put_dedupe(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_msg_t *m = &req->in.put;
    cw_store_put_result_t *res = &req->out.put;
    const char *v[2] = { m->from, m->message_id };
    const char *digest = NULL;
    size_t digest_len = 0;
    PGresult *r;
    int rc = 0;

    r = cw_store__pg_exec(conn, SQL_DEDUPE, 2, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        /* The conflicting insert rolled back after ours gave way: the
         * sender's retry stores it. */
        rc = CW_EBUSY;
        goto out;
    }
    CW_TRY(col_i64(r, 0, 0, &res->msg_row));
    CW_TRY(col_bytes(req->pool, r, 0, 1, &digest, &digest_len));
    CW_TRY(col_state(r, 0, 3, &res->state));
    if (digest_len == CW_STORE_DIGEST_BYTES
        && memcmp(digest, m->digest_sha256, CW_STORE_DIGEST_BYTES) == 0) {
        res->kind = CW_STORE_PUT_DUPLICATE;
        CW_TRY(col_bytes(req->pool, r, 0, 2, &res->receipt, &res->receipt_len));
    } else {
        res->kind = CW_STORE_PUT_CONFLICT;
    }
out:
    PQclear(r);
    return rc;
}

static int op_put(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_msg_t *m = &req->in.put;
    cw_store_put_result_t *res = &req->out.put;
    int queued = m->state == CW_STORE_STATE_QUEUED;
    int has_id = queued && m->outgoing_id != NULL && m->outgoing_digest != NULL;
    char created[I64_SIZE];
    char next[I64_SIZE];
    char evidence_at[I64_SIZE];
    const char *v[20];
    int len[20] = { 0 };
    int fmt[20] = { 0 };
    PGresult *r;
    int rc = 0;

    i64_put(created, m->created_at_ms);
    i64_put(next, m->next_attempt_at_ms);
    i64_put(evidence_at, (int64_t)m->outgoing_evidence_at);
    v[0] = m->from;
    v[1] = m->message_id;
    v[2] = (const char *)m->digest_sha256;
    len[2] = CW_STORE_DIGEST_BYTES;
    fmt[2] = 1;
    v[3] = m->to != NULL ? m->to : "";
    v[4] = m->service != NULL ? m->service : "";
    v[5] = m->action != NULL ? m->action : "";
    v[6] = m->conversation_id != NULL ? m->conversation_id : "";
    v[7] = m->timestamp != NULL ? m->timestamp : "";
    v[8] = cw_store_state_name(m->state);
    v[9] = m->problem != NULL ? m->problem : "";
    v[10] = m->received;
    len[10] = (int)m->received_len;
    fmt[10] = 1;
    v[11] = m->receipt;
    len[11] = (int)m->receipt_len;
    fmt[11] = 1;
    v[12] = created;
    v[13] = m->state == CW_STORE_STATE_REJECTED ? v[9] : "";
    v[14] = queued ? m->route : NULL;
    v[15] = queued ? m->outgoing : NULL;
    len[15] = queued ? (int)m->outgoing_len : 0;
    fmt[15] = 1;
    v[16] = next;
    v[17] = has_id ? m->outgoing_id : NULL;
    v[18] = has_id ? (const char *)m->outgoing_digest : NULL;
    len[18] = has_id ? 32 : 0;
    fmt[18] = 1;
    v[19] = queued && m->outgoing_evidence_at > 0 ? evidence_at : NULL;
    r = cw_store__pg_exec(conn, m->state == CW_STORE_STATE_REJECTED ? SQL_PUT_REJECTED : SQL_PUT,
                          20, v, len, fmt, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) == 0) {
        /* The key is taken (ON CONFLICT DO NOTHING inserted nothing). */
        PQclear(r);
        return put_dedupe(conn, req);
    }
    rc = col_i64(r, 0, 0, &res->msg_row);
    PQclear(r);
    if (rc < 0) {
        return rc;
    }
    res->kind = CW_STORE_PUT_NEW;
    res->state = m->state;
    res->receipt = m->receipt;
    res->receipt_len = m->receipt_len;
    if (m->fact != NULL) {
        CW_TRY(cw_store__pg_fact_insert(conn, res->msg_row, m->fact, m->created_at_ms));
    }
out:
    return rc;
}

/* Fills info from row i of a result of INFO_COLUMNS. */
static int info_read(cw_pool_t *pool, const PGresult *r, int i, cw_store_msg_info_t *info)
{
    const char *digest = NULL;
    size_t digest_len = 0;
    int64_t attempts = 0;
    int rc = 0;

    CW_TRY(col_i64(r, i, 0, &info->row));
    info->from = col_str(pool, r, i, 1);
    info->message_id = col_str(pool, r, i, 2);
    info->to = col_str(pool, r, i, 3);
    info->service = col_str(pool, r, i, 4);
    info->action = col_str(pool, r, i, 5);
    info->conversation_id = col_str(pool, r, i, 6);
    info->timestamp = col_str(pool, r, i, 7);
    CW_TRY(col_bytes(pool, r, i, 8, &digest, &digest_len));
    if (digest_len == CW_STORE_DIGEST_BYTES) {
        memcpy(info->digest_sha256, digest, CW_STORE_DIGEST_BYTES);
    }
    CW_TRY(col_state(r, i, 9, &info->state));
    info->problem = col_str(pool, r, i, 10);
    CW_TRY(col_i64(r, i, 11, &info->created_at_ms));
    CW_TRY(col_i64(r, i, 12, &info->updated_at_ms));
    info->route = col_str(pool, r, i, 13);
    CW_TRY(col_i64(r, i, 14, &attempts));
    info->attempts = (uint32_t)attempts;
    info->last_error = col_str(pool, r, i, 15);
    CW_TRY(col_i64(r, i, 16, &info->next_attempt_at_ms));
    if (info->state != CW_STORE_STATE_QUEUED) {
        info->next_attempt_at_ms = 0;
    }
    if (info->from == NULL || info->message_id == NULL || info->to == NULL || info->service == NULL
        || info->action == NULL || info->conversation_id == NULL || info->timestamp == NULL
        || info->problem == NULL || info->route == NULL || info->last_error == NULL) {
        rc = CW_ENOMEM;
    }
out:
    return rc;
}

static int get_history(PGconn *conn, cw_store_req_t *req)
{
    cw_store_msg_info_t *info = &req->out.get;
    cw_store_history_t *hist;
    char row[I64_SIZE];
    const char *v[1] = { row };
    PGresult *r;
    int n;
    int i;
    int rc = 0;

    i64_put(row, info->row);
    r = cw_store__pg_exec(conn, SQL_HISTORY, 1, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    n = PQntuples(r);
    hist = cw_pool_alloc(req->pool, (size_t)(n > 0 ? n : 1) * sizeof(*hist));
    CW_CHECK_ALLOC(hist);
    for (i = 0; i < n; i++) {
        CW_TRY(col_state(r, i, 0, &hist[i].state));
        CW_TRY(col_i64(r, i, 1, &hist[i].at_ms));
        hist[i].note = col_str(req->pool, r, i, 2);
        CW_CHECK_ALLOC(hist[i].note);
    }
    info->history = hist;
    info->history_count = (size_t)n;
out:
    PQclear(r);
    return rc;
}

static int op_get(PGconn *conn, cw_store_req_t *req)
{
    cw_store_msg_info_t *info = &req->out.get;
    const char *v[2] = { req->in.key.from, req->in.key.message_id };
    PGresult *r;
    int rc = 0;

    r = cw_store__pg_exec(conn, SQL_GET, 2, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        rc = CW_ENOENT;
        goto out;
    }
    CW_TRY(info_read(req->pool, r, 0, info));
    CW_TRY(col_bytes(req->pool, r, 0, 17, &info->receipt_given, &info->receipt_given_len));
    CW_TRY(col_bytes(req->pool, r, 0, 18, &info->receipt_received, &info->receipt_received_len));
    CW_TRY(col_bytes(req->pool, r, 0, 19, &info->received, &info->received_len));
    PQclear(r);
    r = NULL;
    CW_TRY(get_history(conn, req));
out:
    PQclear(r);
    return rc;
}

/* Builds ",queued,failed," from the mask ("" for every state). */
static void states_csv(uint32_t mask, char *out, size_t size)
{
    size_t used = 0;
    unsigned i;

    out[0] = '\0';
    for (i = 0; mask != 0 && i < CW_STORE_STATE_COUNT; i++) {
        if ((mask & (1u << i)) != 0) {
            used += (size_t)snprintf(out + used, size - used, ",%s",
                                     cw_store_state_name((cw_store_state_e)i));
        }
    }
    if (used > 0 && used + 2 <= size) {
        out[used] = ',';
        out[used + 1] = '\0';
    }
}

/* The page's statement for f (see SQL_LIST). */
static const char *list_sql(const cw_store_filter_t *f)
{
    const uint32_t attention = (1u << CW_STORE_STATE_FAILED) | (1u << CW_STORE_STATE_REJECTED);

    if (f->to != NULL) {
        return SQL_LIST_TO;
    }
    if (f->states_mask != 0 && (f->states_mask & ~attention) == 0) {
        return SQL_LIST_ATTENTION;
    }
    return SQL_LIST;
}

static int op_list(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_filter_t *f = &req->in.list.filter;
    cw_store_page_t *page = &req->out.list;
    cw_store_msg_info_t *items;
    char states[96];
    char cursor_row[I64_SIZE];
    char since[I64_SIZE];
    char limit[I64_SIZE];
    const char *v[5];
    char *cursor;
    PGresult *r;
    int n;
    int i;
    int rc = 0;

    items = cw_pool_alloc(req->pool, (size_t)f->limit * sizeof(*items));
    if (items == NULL) {
        return CW_ENOMEM;
    }
    page->items = items;
    states_csv(f->states_mask, states, sizeof(states));
    i64_put(cursor_row, req->in.list.cursor_row);
    i64_put(since, f->since_ms);
    /* One row more than the page tells whether another page follows. */
    i64_put(limit, (int64_t)f->limit + 1);
    v[0] = cursor_row;
    v[1] = states;
    v[2] = f->to;
    v[3] = since;
    v[4] = limit;
    r = cw_store__pg_exec(conn, list_sql(f), 5, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    n = PQntuples(r);
    for (i = 0; i < n && page->count < f->limit; i++) {
        CW_TRY(info_read(req->pool, r, i, &items[page->count]));
        page->count++;
    }
    if (n > (int)f->limit) {
        cursor = cw_pool_alloc(req->pool, CW_STORE_CURSOR_SIZE);
        CW_CHECK_ALLOC(cursor);
        (void)snprintf(cursor, CW_STORE_CURSOR_SIZE, "r%" PRId64, items[page->count - 1].row);
        page->next_cursor = cursor;
    }
out:
    PQclear(r);
    return rc;
}

static int op_retry(PGconn *conn, cw_store_req_t *req)
{
    const char *v[2] = { req->in.key.from, req->in.key.message_id };
    cw_store_state_e state = CW_STORE_STATE_RECEIVED;
    char row_s[I64_SIZE];
    char now[I64_SIZE];
    const char *u[2] = { row_s, now };
    int64_t row = 0;
    int64_t changed = 0;
    PGresult *r;
    int rc = 0;

    r = cw_store__pg_exec(conn, SQL_KEY_STATE, 2, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        rc = CW_ENOENT;
    } else if ((rc = col_i64(r, 0, 0, &row)) == 0) {
        rc = col_state(r, 0, 1, &state);
    }
    PQclear(r);
    if (rc < 0) {
        return rc;
    }
    if (state != CW_STORE_STATE_FAILED) {
        return CW_EPERM;
    }
    i64_put(row_s, row);
    i64_put(now, req->in.key.now_ms);
    CW_TRY(exec_n(conn, SQL_REQUEUE, 2, u, &changed));
    if (changed == 0) {
        /* Failed without a delivery row: nothing to send again. */
        return CW_EPERM;
    }
    CW_TRY(msg_set_state(conn, row, CW_STORE_STATE_QUEUED, req->in.key.now_ms));
    CW_TRY(history_add(conn, row, CW_STORE_STATE_QUEUED, req->in.key.now_ms, "retry requested"));
out:
    return rc;
}

static int op_purge(PGconn *conn, cw_store_req_t *req)
{
    char before[I64_SIZE];
    char batch[I64_SIZE];
    const char *v[2] = { before, batch };
    int64_t changed = 0;
    int rc = 0;

    req->in.purge.batch_last = 0;
    i64_put(before, req->in.purge.before_ms);
    i64_put(batch, req->in.purge.batch_max);
    CW_TRY(exec_n(conn, SQL_PURGE, 2, v, &changed));
    /* Counted now, taken back if the transaction does not commit. */
    req->in.purge.batch_last = (uint32_t)changed;
    req->out.purged += (uint64_t)changed;
    /* A full batch means there may be more: go to the back of the queue. */
    req->again = (uint32_t)changed == req->in.purge.batch_max;
out:
    return rc;
}

/*
 * A claimed envelope kept without its evidence: the stored bytes (column 5)
 * with the base64 of the message's received bytes (column 12) put back at
 * evidence_at (column 11). A row that does not add up (altered by hand) is
 * logged and claimed with no envelope, as with SQLite: its attempt fails at
 * the receiver, visibly, and the rows after it are still delivered.
 */
static int outgoing_whole(cw_pool_t *pool, const PGresult *r, int k, cw_store_delivery_t *d)
{
    const char *kept = NULL;
    const char *raw = NULL;
    size_t kept_len = 0;
    size_t raw_len = 0;
    int64_t at = 0;
    size_t n;
    char *whole;
    int rc = 0;

    CW_TRY(col_bytes(pool, r, k, 5, &kept, &kept_len));
    CW_TRY(col_bytes(pool, r, k, 12, &raw, &raw_len));
    CW_TRY(col_i64(r, k, 11, &at));
    if (kept == NULL || raw == NULL || raw_len == 0 || at <= 0 || (uint64_t)at > kept_len
        || raw_len > (SIZE_MAX - kept_len) / 2) {
        CW_LOG_ERROR(CW_STORE_MOD, "delivery %lld: its envelope's evidence cannot be restored",
                     (long long)d->id);
        d->outgoing = NULL;
        d->outgoing_len = 0;
        return 0;
    }
    n = CW_BASE64_LEN(raw_len);
    whole = cw_pool_alloc(pool, kept_len + n);
    CW_CHECK_ALLOC(whole);
    memcpy(whole, kept, (size_t)at);
    (void)cw_base64_encode(whole + at, raw, raw_len);
    memcpy(whole + at + n, kept + at, kept_len - (size_t)at);
    d->outgoing = whole;
    d->outgoing_len = kept_len + n;
out:
    return rc;
}

/* Oldest due first, as a claim promises; RETURNING keeps no order. */
static int claim_cmp(const void *a, const void *b)
{
    const int64_t *x = a;
    const int64_t *y = b;

    if (x[0] != y[0]) {
        return x[0] < y[0] ? -1 : 1;
    }
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static int op_claim(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_claim_t *c = &req->in.claim;
    cw_store_claimed_t *res = &req->out.claim;
    cw_store_delivery_t *items;
    char now[I64_SIZE];
    char limit[I64_SIZE];
    char until[I64_SIZE];
    const char *v[5];
    int64_t(*order)[3] = NULL;
    PGresult *r;
    int n;
    int i;
    int rc = 0;

    i64_put(now, c->now_ms);
    i64_put(limit, c->limit);
    i64_put(until, c->now_ms + c->lease_ms);
    v[0] = now;
    v[1] = c->route;
    v[2] = limit;
    v[3] = c->owner;
    v[4] = until;
    r = cw_store__pg_exec(conn, SQL_CLAIM, 5, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    n = PQntuples(r);
    if (n > (int)c->limit) {
        rc = CW_EINTERNAL;
        goto out;
    }
    items = cw_pool_alloc(req->pool, (size_t)(n > 0 ? n : 1) * sizeof(*items));
    order = cw_calloc((size_t)(n > 0 ? n : 1), sizeof(*order));
    if (items == NULL || order == NULL) {
        rc = CW_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        CW_TRY(col_i64(r, i, 10, &order[i][0]));
        CW_TRY(col_i64(r, i, 0, &order[i][1]));
        order[i][2] = i;
    }
    qsort(order, (size_t)n, sizeof(*order), claim_cmp);
    for (i = 0; i < n; i++) {
        cw_store_delivery_t *d = &items[i];
        int k = (int)order[i][2];
        const char *digest = NULL;
        size_t digest_len = 0;
        int64_t attempts = 0;

        d->id = order[i][1];
        d->from = col_str(req->pool, r, k, 1);
        d->message_id = col_str(req->pool, r, k, 2);
        d->to = col_str(req->pool, r, k, 3);
        d->route = col_str(req->pool, r, k, 4);
        if (d->from == NULL || d->message_id == NULL || d->to == NULL || d->route == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        if (PQgetisnull(r, k, 11)) {
            CW_TRY(col_bytes(req->pool, r, k, 5, &d->outgoing, &d->outgoing_len));
        } else {
            CW_TRY(outgoing_whole(req->pool, r, k, d));
        }
        CW_TRY(col_i64(r, k, 6, &attempts));
        d->attempts = (uint32_t)attempts;
        CW_TRY(col_i64(r, k, 7, &d->first_queued_at_ms));
        CW_TRY(col_bytes(req->pool, r, k, 9, &digest, &digest_len));
        if (!PQgetisnull(r, k, 8) && digest_len == 32) {
            d->outgoing_id = col_str(req->pool, r, k, 8);
            CW_CHECK_ALLOC(d->outgoing_id);
            d->outgoing_digest = (const unsigned char *)digest;
        }
        d->lease_until_ms = c->now_ms + c->lease_ms;
    }
    res->items = items;
    res->count = (size_t)n;
out:
    cw_free(order);
    PQclear(r);
    return rc;
}

/*
 * An attempt's error as PostgreSQL takes it: its text may quote a peer's
 * answer, and a byte that is not valid UTF-8 would make the server refuse
 * the whole record (and the delivery come back at its lease's end, again
 * and again). Bytes outside printable ASCII become '?'. NULL: "".
 */
static const char *text_clean(cw_pool_t *pool, const char *s)
{
    size_t n;
    size_t i;
    char *out;

    if (s == NULL) {
        return "";
    }
    n = strlen(s);
    out = cw_pool_alloc(pool, n + 1);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
    return out;
}

static const char *outcome_name(cw_store_outcome_e outcome)
{
    switch (outcome) {
    case CW_STORE_OUTCOME_DELIVERED:
        return "delivered";
    case CW_STORE_OUTCOME_RETRY:
        return "retry";
    case CW_STORE_OUTCOME_FAILED:
        return "failed";
    }
    return "unknown";
}

/* Locks the delivery's row and checks that it is queued and leased to
 * owner: the lock orders this against a claim by another node. */
static int record_check(PGconn *conn, const cw_store_attempt_t *a, int64_t *msg_row)
{
    char id[I64_SIZE];
    const char *v[1] = { id };
    PGresult *r;
    int rc = 0;

    i64_put(id, a->delivery_id);
    r = cw_store__pg_exec(conn, SQL_DELIV_GET, 1, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        rc = CW_ENOENT;
        goto out;
    }
    CW_TRY(col_i64(r, 0, 0, msg_row));
    if (strcmp(PQgetvalue(r, 0, 1), "queued") != 0 || PQgetisnull(r, 0, 2)
        || strcmp(PQgetvalue(r, 0, 2), a->owner) != 0) {
        rc = CW_ESTALE;
    }
out:
    PQclear(r);
    return rc;
}

static int op_record(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_attempt_t *a = &req->in.attempt;
    char id[I64_SIZE];
    char at[I64_SIZE];
    char status[I64_SIZE];
    char next[I64_SIZE];
    char row_s[I64_SIZE];
    const char *v[6];
    int len[3] = { 0 };
    int fmt[3] = { 0 };
    char note[128];
    const char *error;
    int64_t msg_row = 0;
    PGresult *r;
    int rc = 0;

    error = text_clean(req->pool, a->error);
    CW_CHECK_ALLOC(error);
    CW_TRY(record_check(conn, a, &msg_row));
    i64_put(id, a->delivery_id);
    i64_put(at, a->at_ms);
    i64_put(status, a->http_status);
    v[0] = id;
    v[1] = at;
    v[2] = a->owner;
    v[3] = outcome_name(a->outcome);
    v[4] = status;
    v[5] = error;
    CW_TRY(exec_n(conn, SQL_ATTEMPT, 6, v, NULL));

    i64_put(next, a->next_attempt_at_ms);
    v[0] = id;
    v[1] = a->outcome == CW_STORE_OUTCOME_DELIVERED ? "delivered"
           : a->outcome == CW_STORE_OUTCOME_FAILED  ? "failed"
                                                    : "queued";
    v[2] = a->outcome == CW_STORE_OUTCOME_DELIVERED ? "" : error;
    v[3] = a->outcome == CW_STORE_OUTCOME_RETRY ? next : NULL;
    CW_TRY(exec_n(conn, SQL_DELIV_DONE, 4, v, NULL));

    switch (a->outcome) {
    case CW_STORE_OUTCOME_DELIVERED:
        i64_put(row_s, msg_row);
        v[0] = row_s;
        v[1] = a->receipt;
        len[1] = (int)a->receipt_len;
        fmt[1] = 1;
        v[2] = at;
        r = cw_store__pg_exec(conn, SQL_DELIVERED, 3, v, len, fmt, 0, &rc);
        if (r == NULL) {
            goto out;
        }
        PQclear(r);
        (void)snprintf(note, sizeof(note), "receipt received (HTTP %d)", a->http_status);
        CW_TRY(history_add(conn, msg_row, CW_STORE_STATE_DELIVERED, a->at_ms, note));
        break;
    case CW_STORE_OUTCOME_FAILED:
        CW_TRY(msg_set_state(conn, msg_row, CW_STORE_STATE_FAILED, a->at_ms));
        CW_TRY(history_add(conn, msg_row, CW_STORE_STATE_FAILED, a->at_ms, error));
        break;
    case CW_STORE_OUTCOME_RETRY:
        break;
    }
out:
    return rc;
}

static int facts_faulted(cw_store_t *store, const cw_store_req_t *req)
{
    return req->kind == CW_STORE_REQ_FACTS
           && atomic_load(&store->fault) == CW_STORE_FAULT_READ_FAIL;
}

static int op_exec(PGconn *conn, cw_store_req_t *req)
{
    switch (req->kind) {
    case CW_STORE_REQ_PUT:
        return op_put(conn, req);
    case CW_STORE_REQ_GET:
        return op_get(conn, req);
    case CW_STORE_REQ_LIST:
        return op_list(conn, req);
    case CW_STORE_REQ_RETRY:
        return op_retry(conn, req);
    case CW_STORE_REQ_PURGE:
        return op_purge(conn, req);
    case CW_STORE_REQ_CLAIM:
        return op_claim(conn, req);
    case CW_STORE_REQ_RECORD:
        return op_record(conn, req);
    case CW_STORE_REQ_FACTS:
        return cw_store__pg_facts(conn, &req->in.facts, req->pool, &req->out.facts);
    case CW_STORE_REQ_STATS:
        return cw_store__pg_stats(conn, req);
    }
    return CW_EINTERNAL;
}

/* ==== Connections ==== */

/* Notices ("relation exists, skipping") would go to stderr, which carries
 * the JSON log lines: they go to the debug log instead. */
static void on_notice(void *arg, const char *message)
{
    (void)arg;
    CW_LOG_DEBUG(CW_STORE_MOD, "store: PostgreSQL: %s", message);
}

/*
 * The session's settings, on every new connection and after every reset
 * (a reset is a new session): commits wait for the server's WAL flush or
 * not, locks wait busy_timeout_ms, bytea comes back as hex (col_bytes),
 * text as UTF-8, whatever the role's or the database's defaults. 0 or
 * CW_EIO.
 */
static int session_setup(cw_pg_t *be, PGconn *conn)
{
    char sql[192];
    PGresult *res;
    int rc = 0;

    (void)PQsetNoticeProcessor(conn, on_notice, NULL);
    (void)snprintf(sql, sizeof(sql),
                   "SET synchronous_commit = %s; SET lock_timeout = %" PRIu32
                   "; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'",
                   be->sync_normal ? "off" : "on", be->busy_timeout_ms);
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        rc = cw_store__pg_err(conn, res, "the session's settings");
        rc = rc == CW_EIO ? rc : CW_EIO;
    }
    PQclear(res);
    return rc;
}

/* Opens a connection with the session settings every one uses. */
static int conn_open(cw_pg_t *be, PGconn **out, cw_error_t *err)
{
    /* Defaults first: what the URL says wins (expand_dbname). A server
     * that stops answering is noticed in about a minute, not in hours:
     * keepalives while idle, tcp_user_timeout while data is unanswered. */
    static const char *const keys[] = { "connect_timeout",  "application_name",
                                        "keepalives_idle",  "keepalives_interval",
                                        "keepalives_count", "tcp_user_timeout",
                                        "dbname",           NULL };
    const char *values[] = { "10", "clearwayd", "30", "10", "3", "60000", be->url, NULL };
    PGconn *conn;
    int rc = 0;

    *out = NULL;
    conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL) {
        return cw_error_set(err, CW_ENOMEM, CW_STORE_MOD, "store: out of memory");
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        const char *msg = PQerrorMessage(conn);
        size_t n = strlen(msg);

        rc = cw_error_set(err, CW_EIO, CW_STORE_MOD, "store: cannot connect to PostgreSQL: %.*s",
                          (int)(n > 0 && msg[n - 1] == '\n' ? n - 1 : n), msg);
        goto out;
    }
    if (session_setup(be, conn) < 0) {
        rc = cw_error_set(err, CW_EIO, CW_STORE_MOD,
                          "store: PostgreSQL: the session's settings were refused (see the log)");
        goto out;
    }
    *out = conn;
    conn = NULL;
out:
    PQfinish(conn);
    return rc;
}

/*
 * One of the store's own connections (the writer's or the reader's) and
 * what goes with it: the statements prepared on it, whether it is down,
 * and when it may be tried again.
 */
typedef struct pg_link {
    PGconn **conn;
    pg_prepared_t *prep;
    int *down;
    uint64_t *retry_at_ns;
    const char *who;
} pg_link_t;

/*
 * Makes sure a connection is up for the next operation: one that libpq
 * knows lost is reset (blocking, connect_timeout), at most once every
 * PG_RETRY_NS while the server stays out of reach; in between, or when the
 * reset fails, CW_EIO at once, so that a queue fails fast instead of each
 * request waiting for its own attempt. The loss and the return are logged
 * once each.
 */
static int conn_ready(cw_pg_t *be, const pg_link_t *l)
{
    uint64_t now = cw_time_mono_ns();

    if (*l->conn != NULL && PQstatus(*l->conn) == CONNECTION_OK
        && PQtransactionStatus(*l->conn) == PQTRANS_IDLE) {
        goto up;
    }
    if (*l->down && now < *l->retry_at_ns) {
        return CW_EIO;
    }
    /* A new session: nothing is prepared on it. */
    l->prep->n = 0;
    if (*l->conn != NULL) {
        PQreset(*l->conn);
    } else {
        cw_error_t err;

        memset(&err, 0, sizeof(err));
        (void)conn_open(be, l->conn, &err);
        cw_error_clear(&err);
    }
    if (*l->conn != NULL && PQstatus(*l->conn) == CONNECTION_OK
        && session_setup(be, *l->conn) == 0) {
        goto up;
    }
    *l->retry_at_ns = cw_time_mono_ns() + PG_RETRY_NS;
    if (!*l->down) {
        *l->down = 1;
        CW_LOG_ERROR(CW_STORE_MOD,
                     "store: %s: the %s connection is lost (%s); every operation fails with"
                     " 503 until it is back",
                     be->where, l->who,
                     *l->conn != NULL ? PQerrorMessage(*l->conn) : "cannot connect");
    }
    return CW_EIO;
up:
    if (*l->down) {
        *l->down = 0;
        CW_LOG_INFO(CW_STORE_MOD, "store: %s: the %s connection is back", be->where, l->who);
    }
    return 0;
}

/* ==== The writer (its own thread) ==== */

static void answer(cw_store_t *store, cw_store_req_t *req, int status)
{
    if (status != 0) {
        req->status = status;
    }
    atomic_fetch_sub(&store->n_pending, 1);
    cw_store__req_done(store, req);
}

static void enqueue_on(
    cw_pg_t *be, cw_store_req_t **head, cw_store_req_t **tail, uv_cond_t *wake, cw_store_req_t *req)
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
    uv_cond_signal(wake);
}

/* Undoes what a write's run put into req, for running it again. */
static void write_reset(cw_store_req_t *req);
static int writer_ready(cw_store_t *store, cw_pg_t *be);

/* Keeps req's own failure but undoes what it counted or claimed. */
static void status_keep(cw_store_req_t *req)
{
    int status = req->status;

    write_reset(req);
    req->status = status;
}

/* Undoes what a write's run put into req, for running it again. */
static void write_reset(cw_store_req_t *req)
{
    if (req->kind == CW_STORE_REQ_PURGE) {
        req->out.purged -= req->in.purge.batch_last;
        req->in.purge.batch_last = 0;
    } else if (req->kind == CW_STORE_REQ_CLAIM) {
        req->out.claim.items = NULL;
        req->out.claim.count = 0;
    }
    req->again = 0;
    req->status = 0;
}

/*
 * A refusal (the delivery's lease is someone else's, the message is not
 * failed, no such row) is the operation's answer and wrote nothing: every
 * operation refuses before its first write, and the transaction is still
 * good, so the rest of the group goes on.
 */
static int refused(PGconn *conn, int status)
{
    return (status == CW_ESTALE || status == CW_EPERM || status == CW_ENOENT)
           && PQtransactionStatus(conn) == PQTRANS_INTRANS;
}

/* COMMIT, and that it committed: of a transaction already aborted,
 * PostgreSQL answers COMMIT with success and the tag ROLLBACK. */
static int commit(PGconn *conn)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, "COMMIT", 0, NULL, NULL, NULL, 0, &rc);
    if (res == NULL) {
        return rc;
    }
    if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        CW_LOG_ERROR(CW_STORE_MOD, "store: PostgreSQL: COMMIT answered %s", PQcmdStatus(res));
        rc = CW_EIO;
    }
    PQclear(res);
    return rc;
}

/*
 * Runs writes batch[0..n) in one transaction: 0 when it committed (each
 * req->status 0, or a refusal), else < 0 with nothing of it kept. *failed
 * is the index of the write that failed, n when COMMIT did, n + 1 when
 * BEGIN did (nothing was sent).
 */
static int tx_run(cw_store_t *store, PGconn *conn, cw_store_req_t **batch, size_t n, size_t *failed)
{
    size_t i;
    int rc;

    *failed = n + 1;
    rc = exec_plain(conn, "BEGIN");
    if (rc == 0) {
        *failed = n;
    }
    for (i = 0; rc == 0 && i < n; i++) {
        batch[i]->status = op_exec(conn, batch[i]);
        if (batch[i]->status < 0 && !refused(conn, batch[i]->status)) {
            rc = batch[i]->status;
            *failed = i;
        }
    }
    if (rc == 0 && atomic_load(&store->fault) == CW_STORE_FAULT_COMMIT_FAIL) {
        rc = CW_EIO;
    }
    if (rc == 0) {
        rc = commit(conn);
    }
    if (rc < 0 && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        (void)exec_plain(conn, "ROLLBACK");
    }
    return rc;
}

/*
 * Group commit without savepoints: the batch's writes run in one
 * transaction, each a statement or two, so a group of 64 costs about as
 * many round trips to the server as writes and not three times as many.
 * When one fails (a refusal such as CW_ESTALE or CW_EPERM, or an error of
 * the server, which aborts the whole transaction) the group is rolled back
 * and every write of it runs again in a transaction of its own, so that
 * each gets its own answer and none is lost for another's sake. Once
 * COMMIT itself failed, or the connection was lost, nothing runs again:
 * every write of the group fails (CW_EIO, or CW_EBUSY for a conflict).
 */
static void run_writes(cw_store_t *store, cw_pg_t *be, cw_store_req_t **batch, size_t n)
{
    size_t failed;
    size_t i;
    int rc;

    rc = tx_run(store, be->wconn, batch, n, &failed);
    if (rc < 0 && failed == n + 1 && PQstatus(be->wconn) != CONNECTION_OK
        && writer_ready(store, be) == 0) {
        /* The server restarted since the last group (libpq learns of it
         * only now) and nothing of this one was sent: once more. */
        rc = tx_run(store, be->wconn, batch, n, &failed);
    }
    if (rc == 0) {
        atomic_fetch_add(&store->n_tx, 1);
        atomic_fetch_add(&store->n_writes, n);
        if (n > atomic_load(&store->n_group)) {
            atomic_store(&store->n_group, n);
        }
        return;
    }
    if (failed < n && n > 1 && PQstatus(be->wconn) == CONNECTION_OK) {
        for (i = 0; i < n; i++) {
            size_t one;
            int status;

            write_reset(batch[i]);
            if (tx_run(store, be->wconn, &batch[i], 1, &one) == 0) {
                atomic_fetch_add(&store->n_tx, 1);
                atomic_fetch_add(&store->n_writes, 1);
                continue;
            }
            /* Refused, or failed: whatever it counted or claimed was
             * rolled back; a failed COMMIT is an I/O error. */
            status = one == 0 ? batch[i]->status : CW_EIO;
            if (one != 0) {
                atomic_fetch_add(&store->n_failed, 1);
            }
            write_reset(batch[i]);
            batch[i]->status = status;
        }
        return;
    }
    if (failed < n && n == 1) {
        /* One write, refused or failed on its own: its answer. */
        status_keep(batch[0]);
        return;
    }
    /* COMMIT failed or the connection is lost: nothing of the group is
     * durable, so every write of it fails. */
    atomic_fetch_add(&store->n_failed, 1);
    CW_LOG_ERROR(CW_STORE_MOD, "transaction of %zu write(s) not committed: %s", n, cw_err_name(rc));
    for (i = 0; i < n; i++) {
        write_reset(batch[i]);
        batch[i]->status = rc == CW_EBUSY ? CW_EBUSY : CW_EIO;
    }
}

/* Takes up to group_max queued writes; 0 when stopping and drained. */
static size_t batch_take(cw_pg_t *be, int down, int *stop)
{
    size_t n = 0;

    *stop = 0;
    uv_mutex_lock(&be->lock);
    while (be->whead == NULL && !be->stopping) {
        if (!down) {
            uv_cond_wait(&be->wwake, &be->lock);
        } else if (uv_cond_timedwait(&be->wwake, &be->lock, PG_RETRY_NS) != 0) {
            /* Time to try the server again. */
            break;
        }
    }
    while (be->whead != NULL && n < be->group_max) {
        be->batch[n++] = be->whead;
        be->whead = be->whead->next;
    }
    if (be->whead == NULL) {
        be->wtail = NULL;
    }
    *stop = n == 0 && be->stopping;
    uv_mutex_unlock(&be->lock);
    return n;
}

/* Is the writer's connection usable for the next group (and so the
 * store reachable)? Resets it when not; writer thread. */
static int writer_ready(cw_store_t *store, cw_pg_t *be)
{
    pg_link_t l = { &be->wconn, &be->wprep, &be->wdown, &be->wretry_at_ns, "writer" };
    int rc = conn_ready(be, &l);

    atomic_store(&store->unreachable, rc < 0);
    return rc;
}

static void writer_main(void *arg)
{
    cw_store_t *store = arg;
    cw_pg_t *be = backend_of(store);
    int stop = 0;
    size_t n;
    size_t i;

    cw_thread_name_set("cw-store-write");
    tls_prepared = &be->wprep;
    for (;;) {
        /* While the server is out of reach, it is tried again every
         * PG_RETRY_NS even without work, so that /readyz recovers. */
        n = batch_take(be, atomic_load(&store->unreachable) || PQstatus(be->wconn) != CONNECTION_OK,
                       &stop);
        if (stop) {
            break;
        }
        if (writer_ready(store, be) < 0) {
            for (i = 0; i < n; i++) {
                be->batch[i]->again = 0;
                answer(store, be->batch[i], CW_EIO);
            }
            continue;
        }
        for (i = 0; i < n; i++) {
            be->batch[i]->status = 0;
            if (be->batch[i]->kind == CW_STORE_REQ_PURGE) {
                /* Its earlier batches committed: counted for good. */
                be->batch[i]->in.purge.batch_last = 0;
            }
        }
        if (n > 0) {
            run_writes(store, be, be->batch, n);
        }
        for (i = 0; i < n; i++) {
            cw_store_req_t *req = be->batch[i];

            if (req->status == 0 && req->again) {
                req->again = 0;
                enqueue_on(be, &be->whead, &be->wtail, &be->wwake, req);
                continue;
            }
            answer(store, req, 0);
        }
    }
    if (be->rthread_started) {
        (void)uv_thread_join(&be->rthread);
    }
    PQfinish(be->wconn);
    be->wconn = NULL;
    cw_store__backend_closed(store);
}

/* ==== The reader (its own thread) ==== */

static cw_store_req_t *reader_take(cw_pg_t *be)
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

/* A read on the reader's connection; a status lookup's row and history
 * in one snapshot, as the SQLite reader sees them. */
static int read_run(PGconn *conn, cw_store_req_t *req)
{
    int rc;

    if (req->kind != CW_STORE_REQ_GET) {
        return op_exec(conn, req);
    }
    rc = exec_plain(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc == 0) {
        rc = op_exec(conn, req);
        if (PQstatus(conn) == CONNECTION_OK) {
            int end = exec_plain(conn, rc == 0 ? "COMMIT" : "ROLLBACK");

            rc = rc == 0 ? end : rc;
        }
    }
    return rc;
}

static void reader_main(void *arg)
{
    cw_store_t *store = arg;
    cw_pg_t *be = backend_of(store);
    pg_link_t l = { &be->rconn, &be->rprep, &be->rdown, &be->rretry_at_ns, "reader" };
    cw_store_req_t *req;

    cw_thread_name_set("cw-store-read");
    tls_prepared = &be->rprep;
    while ((req = reader_take(be)) != NULL) {
        if (facts_faulted(store, req)) {
            req->status = CW_EIO;
        } else if (conn_ready(be, &l) < 0) {
            req->status = CW_EIO;
        } else {
            req->status = read_run(be->rconn, req);
            /* The server restarted since the last read (libpq learns of it
             * only now): a read is safe to run again, once. */
            if (req->status < 0 && PQstatus(be->rconn) != CONNECTION_OK
                && conn_ready(be, &l) == 0) {
                memset(&req->out, 0, sizeof(req->out));
                req->status = read_run(be->rconn, req);
            }
        }
        atomic_fetch_add(&store->n_reads, 1);
        answer(store, req, 0);
    }
    PQfinish(be->rconn);
    be->rconn = NULL;
}

/* ==== Intake's ledger read on the worker's thread ==== */

static int pg_facts_here(cw_store_t *store,
                         const cw_store_facts_query_t *q,
                         cw_pool_t *pool,
                         cw_store_facts_t *out)
{
    cw_pg_t *be = backend_of(store);
    cw_error_t err;
    pg_prepared_t prep;
    PGconn *conn = NULL;
    int rc = 0;

    memset(&err, 0, sizeof(err));
    if (atomic_load(&store->fault) == CW_STORE_FAULT_READ_FAIL) {
        return CW_EIO;
    }
    if (atomic_load(&store->unreachable)) {
        /* The writer cannot reach the server: fail at once rather than
         * hold a pool thread for a connection attempt. */
        return CW_EIO;
    }
    uv_mutex_lock(&be->lock);
    while (!be->stopping && be->lend_idle == 0 && be->lend_out >= PG_LEND_MAX) {
        uv_cond_wait(&be->lwake, &be->lock);
    }
    if (be->stopping) {
        uv_mutex_unlock(&be->lock);
        return CW_ECLOSED;
    }
    prep.n = 0;
    if (be->lend_idle > 0) {
        be->lend_idle--;
        conn = be->lend[be->lend_idle];
        prep = be->lend_prep[be->lend_idle];
    }
    be->lend_out++;
    uv_mutex_unlock(&be->lock);

    if (conn != NULL && PQstatus(conn) != CONNECTION_OK) {
        prep.n = 0;
        PQreset(conn);
        if (PQstatus(conn) == CONNECTION_OK && session_setup(be, conn) < 0) {
            PQfinish(conn);
            conn = NULL;
            rc = CW_EIO;
        }
    }
    if (conn == NULL && rc == 0) {
        rc = conn_open(be, &conn, &err);
        if (rc < 0) {
            CW_LOG_WARN(CW_STORE_MOD, "%s", err.msg);
            cw_error_clear(&err);
            rc = CW_EIO;
        }
    }
    if (rc == 0) {
        tls_prepared = &prep;
        rc = PQstatus(conn) == CONNECTION_OK ? cw_store__pg_facts(conn, q, pool, out) : CW_EIO;
        if (rc < 0 && PQstatus(conn) != CONNECTION_OK) {
            /* Lost since it was last used (a restarted server): the read
             * is safe to run again, once, on the connection reset. */
            prep.n = 0;
            PQreset(conn);
            if (PQstatus(conn) == CONNECTION_OK && session_setup(be, conn) == 0) {
                memset(out, 0, sizeof(*out));
                rc = cw_store__pg_facts(conn, q, pool, out);
            }
        }
        tls_prepared = NULL;
    }

    uv_mutex_lock(&be->lock);
    be->lend_out--;
    if (conn != NULL && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) == PQTRANS_IDLE
        && !be->stopping) {
        be->lend[be->lend_idle] = conn;
        be->lend_prep[be->lend_idle] = prep;
        be->lend_idle++;
        conn = NULL;
    }
    /* Under the lock: once lend_out is 0 and the lock free, lend_close may
     * let the store be freed, condition variable and all. */
    uv_cond_signal(&be->lwake);
    uv_mutex_unlock(&be->lock);
    PQfinish(conn);
    return rc;
}

/* Closes the idle lent connections once every caller gave its back. */
static void lend_close(cw_pg_t *be)
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
        PQfinish(be->lend[i]);
        be->lend[i] = NULL;
    }
    be->lend_idle = 0;
}

/* ==== Opening: proving it ours and migrating ==== */

/* Runs a query whose one row's first column is an integer. */
static int query_i64(PGconn *conn, const char *sql, int64_t *out, cw_error_t *err)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, sql, 0, NULL, NULL, NULL, 0, &rc);
    if (res == NULL) {
        return cw_error_set(err, rc, CW_STORE_MOD, "store: PostgreSQL: %s failed", sql);
    }
    if (PQntuples(res) != 1 || col_i64(res, 0, 0, out) < 0) {
        rc = cw_error_set(err, CW_EINTERNAL, CW_STORE_MOD, "store: PostgreSQL: %s: no answer", sql);
    }
    PQclear(res);
    return rc;
}

/* Applies the steps from version `from` on, each in a transaction. */
static int migrate(PGconn *conn, int64_t from, cw_error_t *err)
{
    static const char *const *const steps[PG_SCHEMA_VERSION] = { schema_v1 };
    char now[I64_SIZE];
    char ver[I64_SIZE];
    const char *v[2] = { ver, now };
    int64_t version;
    size_t i;
    int rc = 0;

    for (version = from; version < PG_SCHEMA_VERSION; version++) {
        rc = exec_plain(conn, "BEGIN");
        for (i = 0; rc == 0 && steps[version][i] != NULL; i++) {
            rc = exec_plain(conn, steps[version][i]);
        }
        for (i = 0; rc == 0 && version == 0 && cw_store__pg_ledger_schema[i] != NULL; i++) {
            rc = exec_plain(conn, cw_store__pg_ledger_schema[i]);
        }
        if (rc == 0) {
            i64_put(ver, version + 1);
            i64_put(now, cw_store_clock_ms());
            rc = exec_n(conn,
                        "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)", 2,
                        v, NULL);
        }
        if (rc == 0) {
            rc = exec_plain(conn, "COMMIT");
        }
        if (rc < 0) {
            (void)exec_plain(conn, "ROLLBACK");
            return cw_error_set(err, rc, CW_STORE_MOD,
                                "store: PostgreSQL: migrating the schema to version %" PRId64
                                " failed (see the log)",
                                version + 1);
        }
        CW_LOG_INFO(CW_STORE_MOD, "store: PostgreSQL schema migrated to version %" PRId64,
                    version + 1);
    }
    return 0;
}

/*
 * Checks that the database is a Clearway store (or empty) and brings its
 * schema to this binary's version, under an advisory lock so that of
 * several nodes starting at once one migrates and the others wait.
 */
static int schema_check(cw_pg_t *be, PGconn *conn, cw_error_t *err)
{
    int64_t ours = 0;
    int64_t tables = 0;
    int64_t version = 0;
    int64_t app = 0;
    int locked = 0;
    int rc = 0;

    if (PQserverVersion(conn) < PG_SERVER_MIN) {
        return cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                            "store: %s: PostgreSQL %d is too old (12 or newer needed)", be->where,
                            PQserverVersion(conn) / 10000);
    }
    rc = exec_plain(conn, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")");
    if (rc < 0) {
        return cw_error_set(err, rc, CW_STORE_MOD, "store: %s: cannot take the migration lock",
                            be->where);
    }
    locked = 1;
    CW_TRY(query_i64(conn, "SELECT (to_regclass('clearway_store') IS NOT NULL)::int", &ours, err));
    if (!ours) {
        CW_TRY(query_i64(conn,
                         "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                         " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                         " AND c.relkind IN ('r', 'v', 'm', 'p', 'f')",
                         &tables, err));
        if (tables > 0) {
            rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                              "store: %s: not a Clearway store (its schema has %" PRId64
                              " other tables and no clearway_store table)",
                              be->where, tables);
            goto out;
        }
        CW_TRY(migrate(conn, 0, err));
        goto out;
    }
    CW_TRY(
        query_i64(conn, "SELECT coalesce(min(application_id), 0) FROM clearway_store", &app, err));
    if (app != 1129728345) {
        rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                          "store: %s: not a Clearway store (clearway_store holds %" PRId64 ")",
                          be->where, app);
        goto out;
    }
    CW_TRY(
        query_i64(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations", &version, err));
    if (version > PG_SCHEMA_VERSION) {
        rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                          "store: %s: schema version %" PRId64
                          " is newer than this clearwayd's (%d): upgrade clearwayd",
                          be->where, version, PG_SCHEMA_VERSION);
        goto out;
    }
    CW_TRY(migrate(conn, version, err));
out:
    if (locked) {
        (void)exec_plain(conn, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")");
    }
    return rc;
}

/* ==== The ops table (loop thread) ==== */

static int pg_open(cw_store_t *store, const cw_store_options_t *opts, cw_error_t *err)
{
    cw_pg_t *be;
    char where[256];
    int rc = 0;

    be = cw_calloc(1, sizeof(*be));
    if (be == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_STORE_MOD, "store: out of memory");
        goto out;
    }
    store->backend = be;
    be->sync_normal = opts->sync == CW_STORE_SYNC_NORMAL;
    be->busy_timeout_ms = opts->busy_timeout_ms;
    be->group_max = opts->group_max;
    be->url = cw_strdup(opts->path);
    be->batch = cw_calloc(opts->group_max, sizeof(*be->batch));
    be->where = cw_strdup("PostgreSQL");
    if (be->url == NULL || be->batch == NULL || be->where == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_STORE_MOD, "store: out of memory");
        goto out;
    }
    CW_TRY(conn_open(be, &be->wconn, err));
    /* Named without the URL, which may hold a password. */
    (void)snprintf(where, sizeof(where), "PostgreSQL database %s on %s", PQdb(be->wconn),
                   PQhost(be->wconn) != NULL ? PQhost(be->wconn) : "localhost");
    cw_free(be->where);
    be->where = cw_strdup(where);
    if (be->where == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_STORE_MOD, "store: out of memory");
        goto out;
    }
    CW_TRY(schema_check(be, be->wconn, err));
    CW_TRY(conn_open(be, &be->rconn, err));
out:
    if (rc < 0 && store->backend != NULL) {
        store->ops->release(store);
    }
    return rc;
}

static int pg_start(cw_store_t *store)
{
    cw_pg_t *be = backend_of(store);

    if (uv_mutex_init(&be->lock) != 0) {
        return CW_ESYS;
    }
    if (uv_cond_init(&be->wwake) != 0) {
        uv_mutex_destroy(&be->lock);
        return CW_ESYS;
    }
    if (uv_cond_init(&be->rwake) != 0) {
        uv_cond_destroy(&be->wwake);
        uv_mutex_destroy(&be->lock);
        return CW_ESYS;
    }
    if (uv_cond_init(&be->lwake) != 0) {
        uv_cond_destroy(&be->rwake);
        uv_cond_destroy(&be->wwake);
        uv_mutex_destroy(&be->lock);
        return CW_ESYS;
    }
    be->sync_init = 1;
    if (uv_thread_create(&be->rthread, reader_main, store) != 0) {
        return CW_ESYS;
    }
    be->rthread_started = 1;
    if (uv_thread_create(&be->wthread, writer_main, store) != 0) {
        uv_mutex_lock(&be->lock);
        be->stopping = 1;
        uv_mutex_unlock(&be->lock);
        uv_cond_signal(&be->rwake);
        (void)uv_thread_join(&be->rthread);
        be->rthread_started = 0;
        return CW_ESYS;
    }
    be->wthread_started = 1;
    return 0;
}

/* Reads go to the reader: they never wait behind a group commit, and any
 * connection sees every write acknowledged (committed) before. */
static void pg_submit(cw_store_t *store, cw_store_req_t *req)
{
    cw_pg_t *be = backend_of(store);

    if (cw_store__req_is_write(req)) {
        enqueue_on(be, &be->whead, &be->wtail, &be->wwake, req);
    } else {
        enqueue_on(be, &be->rhead, &be->rtail, &be->rwake, req);
    }
}

static void pg_close(cw_store_t *store)
{
    cw_pg_t *be = backend_of(store);

    uv_mutex_lock(&be->lock);
    be->stopping = 1;
    uv_mutex_unlock(&be->lock);
    uv_cond_broadcast(&be->wwake);
    uv_cond_broadcast(&be->rwake);
    uv_cond_broadcast(&be->lwake);
}

static void pg_release(cw_store_t *store)
{
    cw_pg_t *be = backend_of(store);

    if (be == NULL) {
        return;
    }
    if (be->wthread_started) {
        lend_close(be);
        /* The writer has reported closed (it joined the reader first). */
        (void)uv_thread_join(&be->wthread);
    }
    if (be->sync_init) {
        uv_cond_destroy(&be->lwake);
        uv_cond_destroy(&be->rwake);
        uv_cond_destroy(&be->wwake);
        uv_mutex_destroy(&be->lock);
    }
    PQfinish(be->wconn);
    PQfinish(be->rconn);
    cw_free(be->batch);
    cw_free(be->url);
    cw_free(be->where);
    cw_free(be);
    store->backend = NULL;
}

const struct cw_store_ops cw_store__pg_ops = {
    "postgres", pg_open, pg_start, pg_submit, pg_close, pg_release, pg_facts_here,
};
