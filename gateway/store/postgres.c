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
 *
 * Closing: the writer drains its queue and the reader its own, then both
 * end. A statement the server does not finish (a COMMIT waiting for a
 * synchronous standby that is down, a lock held by hand) would hold the
 * shutdown until statement_timeout; a watchdog thread started by the close
 * cancels whatever still runs close_grace_ms later (PQcancel, which is
 * meant to be called from another thread), and every write not yet run
 * then fails with CW_EIO instead of being tried against the same server.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "pg.h"

/* Connections lent to workers at once (pg_facts_here); more wait. Every
 * node holds up to this many plus two, against the server's
 * max_connections (100 by default). */
#define PG_LEND_MAX 16
/* The longest any statement may run: a server that hangs (a full disk
 * being freed, a lock held by hand) holds a thread for at most this long
 * (a shutdown: close_grace_ms, watch_main). Far above what any of the
 * store's statements needs. */
#define PG_STATEMENT_TIMEOUT_MS 300000
/* How often a writer whose server is out of reach tries it again. */
#define PG_RETRY_NS (1000ull * 1000 * 1000)
/* Statements prepared on one connection at most (more run unprepared). */
#define PG_PREPARED_MAX 48

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
    uint32_t close_grace_ms;  /* at close, what still runs this long after is cancelled */
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
    int stopping;           /* close requested: drain, then exit */
    uv_mutex_t cancel_lock; /* guards the two below; held while one is used */
    PGcancel *wcancel;      /* the writer's session, for the watchdog */
    PGcancel *rcancel;      /* the reader's */
    int wdone;              /* the writer's loop has ended */
    int rdone;              /* the reader's */
    uv_cond_t xwake;        /* wdone or rdone was set */
    uv_thread_t watch;      /* the close's watchdog (watch_main) */
    int watch_started;
    atomic_int cancelled;                 /* the watchdog cancelled: run nothing more */
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

/*
 * The name sql is prepared under on this thread's connection ("cw<i>"),
 * preparing it first if it is not yet: 1 and the name, 0 when it runs
 * unprepared (no table, or the table is full), or -1 with *rc.
 */
static int prepared_name(PGconn *conn, const char *sql, int n, char name[16], int *rc)
{
    pg_prepared_t *prep = tls_prepared;
    PGresult *res;
    unsigned i;

    if (prep == NULL || n == 0) {
        return 0;
    }
    for (i = 0; i < prep->n && prep->sql[i] != sql; i++) {
    }
    if (i == PG_PREPARED_MAX) {
        return 0;
    }
    (void)snprintf(name, 16, "cw%u", i);
    if (i == prep->n) {
        res = PQprepare(conn, name, sql, n, NULL);
        if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
            /* Its own error, not the one a second try would get in
             * the transaction it aborted. */
            *rc = cw_store__pg_err(conn, res, sql);
            PQclear(res);
            return -1;
        }
        PQclear(res);
        prep->sql[prep->n++] = sql;
    }
    return 1;
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
    PGresult *res = NULL;
    ExecStatusType st;
    char name[16];
    int prepared = prepared_name(conn, sql, n, name, rc);

    if (prepared < 0) {
        return NULL;
    }
    if (prepared) {
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

/* ==== Pipelines ==== */

int cw_store__pg_pipe_begin(PGconn *conn, const char *const *sqls, const int *nparams, size_t n)
{
    char name[16];
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        if (prepared_name(conn, sqls[i], nparams[i], name, &rc) < 0) {
            return rc;
        }
    }
    return PQenterPipelineMode(conn) == 1 ? 0 : CW_EIO;
}

int cw_store__pg_pipe_send(PGconn *conn, const char *sql, int n, const char *const *values)
{
    char name[16];
    int rc = 0;
    int sent;

    /* Prepared by cw_store__pg_pipe_begin: this finds the name only. */
    switch (prepared_name(conn, sql, n, name, &rc)) {
    case 1:
        sent = PQsendQueryPrepared(conn, name, n, values, NULL, NULL, 0);
        break;
    case 0:
        sent = PQsendQueryParams(conn, sql, n, NULL, values, NULL, NULL, 0);
        break;
    default:
        return rc;
    }
    return sent == 1 ? 0 : CW_EIO;
}

int cw_store__pg_pipe_sync(PGconn *conn)
{
    return PQpipelineSync(conn) == 1 ? 0 : CW_EIO;
}

PGresult *cw_store__pg_pipe_result(PGconn *conn, const char *sql, int *rc)
{
    PGresult *res = PQgetResult(conn);
    PGresult *next;
    ExecStatusType st = res != NULL ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    /* Each statement's results end with a NULL. */
    if (res != NULL && st != PGRES_PIPELINE_SYNC) {
        while ((next = PQgetResult(conn)) != NULL) {
            PQclear(next);
        }
    }
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        return res;
    }
    if (st == PGRES_PIPELINE_ABORTED) {
        /* An earlier statement failed and said so. */
        *rc = *rc < 0 ? *rc : CW_EIO;
    } else {
        *rc = cw_store__pg_err(conn, res, sql);
    }
    PQclear(res);
    return NULL;
}

int cw_store__pg_pipe_end(PGconn *conn)
{
    PGresult *res;
    int nulls = 0;

    /* Whatever was not read, up to and including the sync. A NULL ends
     * each statement's results; two in a row, nothing is left (the sync
     * was read already). */
    while (PQstatus(conn) == CONNECTION_OK && nulls < 2) {
        res = PQgetResult(conn);
        if (res == NULL) {
            nulls++;
            continue;
        }
        nulls = 0;
        if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
            PQclear(res);
            break;
        }
        PQclear(res);
    }
    return PQexitPipelineMode(conn) == 1 ? 0 : CW_EIO;
}

static int facts_faulted(cw_store_t *store, const cw_store_req_t *req)
{
    return req->kind == CW_STORE_REQ_FACTS
           && atomic_load(&store->fault) == CW_STORE_FAULT_READ_FAIL;
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
    char sql[256];
    PGresult *res;
    int rc = 0;

    (void)PQsetNoticeProcessor(conn, on_notice, NULL);
    (void)snprintf(sql, sizeof(sql),
                   "SET synchronous_commit = %s; SET lock_timeout = %" PRIu32
                   "; SET statement_timeout = %d"
                   "; SET bytea_output = 'hex'; SET client_encoding = 'UTF8'",
                   be->sync_normal ? "off" : "on", be->busy_timeout_ms, PG_STATEMENT_TIMEOUT_MS);
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
    PGcancel **cancel; /* the session's cancel handle, under the lock */
    const char *who;
} pg_link_t;

/* Takes the cancel handle of the session conn now has into *slot, for the
 * close's watchdog; the old one is freed. Under cancel_lock, which the
 * watchdog holds while it uses one (not the store's lock: a cancel may
 * take as long as a connection to an unwell server). */
static void cancel_refresh(cw_pg_t *be, PGconn *conn, PGcancel **slot)
{
    PGcancel *fresh = conn != NULL && PQstatus(conn) == CONNECTION_OK ? PQgetCancel(conn) : NULL;
    PGcancel *old;

    uv_mutex_lock(&be->cancel_lock);
    old = *slot;
    *slot = fresh;
    uv_mutex_unlock(&be->cancel_lock);
    PQfreeCancel(old);
}

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
        /* A new session, with its own cancel key. */
        cancel_refresh(be, *l->conn, l->cancel);
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

/* ==== Closing: the watchdog (its own thread) ==== */

/* Marks one of the store's threads as ended, for the watchdog. */
static void thread_done(cw_pg_t *be, int *done)
{
    uv_mutex_lock(&be->lock);
    *done = 1;
    uv_mutex_unlock(&be->lock);
    uv_cond_broadcast(&be->xwake);
}

/* Cancels the statement the session in *slot runs, if any. */
static void cancel_send(cw_pg_t *be, PGcancel **slot, const char *who)
{
    char why[256];

    uv_mutex_lock(&be->cancel_lock);
    if (*slot != NULL && !PQcancel(*slot, why, (int)sizeof(why))) {
        CW_LOG_WARN(CW_STORE_MOD, "store: %s: cannot cancel the %s's statement: %s", be->where, who,
                    why);
    }
    uv_mutex_unlock(&be->cancel_lock);
}

/* How often the watchdog cancels again while a thread has not ended: a
 * session made anew after the first cancel (a reset) may run a statement
 * of its own. */
#define PG_CANCEL_AGAIN_NS (1000ull * 1000 * 1000)

/*
 * Started by the close: waits close_grace_ms for the writer and the reader
 * to drain and end, then cancels what either still runs on the server, and
 * again every PG_CANCEL_AGAIN_NS until both have ended. A cancelled
 * statement fails (or a COMMIT ends as the server decides), and from then
 * on every write not yet committed fails with CW_EIO.
 */
static void watch_main(void *arg)
{
    cw_pg_t *be = arg;
    uint64_t deadline = cw_time_mono_ns() + (uint64_t)be->close_grace_ms * 1000000u;
    int wdone;
    int rdone;

    cw_thread_name_set("cw-store-watch");
    uv_mutex_lock(&be->lock);
    for (;;) {
        uint64_t now = cw_time_mono_ns();

        wdone = be->wdone;
        rdone = be->rdone;
        if (wdone && rdone) {
            break;
        }
        if (now < deadline) {
            (void)uv_cond_timedwait(&be->xwake, &be->lock, deadline - now);
            continue;
        }
        /* Past the grace: cancel, outside the store's lock. */
        uv_mutex_unlock(&be->lock);
        if (!atomic_exchange(&be->cancelled, 1)) {
            CW_LOG_WARN(CW_STORE_MOD,
                        "store: %s: still running %" PRIu32 " ms after the close began;"
                        " cancelling (writes not yet committed fail with 503)",
                        be->where, be->close_grace_ms);
        }
        if (!wdone) {
            cancel_send(be, &be->wcancel, "writer");
        }
        if (!rdone) {
            cancel_send(be, &be->rcancel, "reader");
        }
        uv_mutex_lock(&be->lock);
        deadline = cw_time_mono_ns() + PG_CANCEL_AGAIN_NS;
    }
    uv_mutex_unlock(&be->lock);
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
    rc = cw_store__pg_exec_plain(conn, "BEGIN");
    if (rc == 0) {
        *failed = n;
    }
    for (i = 0; rc == 0 && i < n; i++) {
        if (atomic_load(&backend_of(store)->cancelled)) {
            /* Closing, and the server left a statement unfinished. */
            rc = CW_EIO;
            *failed = n;
            break;
        }
        batch[i]->status = cw_store__pg_op(conn, batch[i]);
        if (batch[i]->status < 0 && !refused(conn, batch[i]->status)) {
            rc = batch[i]->status;
            *failed = i;
        }
    }
    if (rc == 0 && atomic_load(&store->fault) == CW_STORE_FAULT_COMMIT_FAIL) {
        rc = CW_EIO;
    }
    if (rc == 0 && atomic_load(&store->fault) == CW_STORE_FAULT_COMMIT_HANG) {
        /* It outlives the first cancel, as a session made anew after a
         * cancel and running a statement of its own would. */
        PQclear(cw_store__pg_exec(conn,
                                  "DO $$BEGIN BEGIN PERFORM pg_sleep(3600); EXCEPTION WHEN"
                                  " query_canceled THEN NULL; END; PERFORM pg_sleep(3600); END$$",
                                  0, NULL, NULL, NULL, 0, &rc));
    }
    if (rc == 0 && atomic_load(&backend_of(store)->cancelled)) {
        rc = CW_EIO;
    }
    if (rc == 0) {
        rc = commit(conn);
    }
    if (rc < 0 && PQstatus(conn) == CONNECTION_OK && PQtransactionStatus(conn) != PQTRANS_IDLE) {
        (void)cw_store__pg_exec_plain(conn, "ROLLBACK");
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
            if (atomic_load(&be->cancelled)) {
                batch[i]->status = CW_EIO;
                continue;
            }
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
    pg_link_t l = { &be->wconn, &be->wprep, &be->wdown, &be->wretry_at_ns, &be->wcancel, "writer" };
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
    cancel_refresh(be, be->wconn, &be->wcancel);
    for (;;) {
        /* While the server is out of reach, it is tried again every
         * PG_RETRY_NS even without work, so that /readyz recovers. */
        n = batch_take(be, atomic_load(&store->unreachable) || PQstatus(be->wconn) != CONNECTION_OK,
                       &stop);
        if (stop) {
            break;
        }
        if (atomic_load(&be->cancelled)) {
            /* Closing, and the server did not finish what it was given:
             * nothing more is tried against it. */
            for (i = 0; i < n; i++) {
                be->batch[i]->again = 0;
                answer(store, be->batch[i], CW_EIO);
            }
            continue;
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

            if (req->status == CW_EBUSY && atomic_load(&be->cancelled)) {
                /* Cancelled by the close's watchdog, not a conflict. */
                req->status = CW_EIO;
            }

            if (req->status == 0 && req->again) {
                req->again = 0;
                enqueue_on(be, &be->whead, &be->wtail, &be->wwake, req);
                continue;
            }
            answer(store, req, 0);
        }
    }
    thread_done(be, &be->wdone);
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
        return cw_store__pg_op(conn, req);
    }
    rc = cw_store__pg_exec_plain(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    if (rc == 0) {
        rc = cw_store__pg_op(conn, req);
        if (PQstatus(conn) == CONNECTION_OK) {
            int end = cw_store__pg_exec_plain(conn, rc == 0 ? "COMMIT" : "ROLLBACK");

            rc = rc == 0 ? end : rc;
        }
    }
    return rc;
}

static void reader_main(void *arg)
{
    cw_store_t *store = arg;
    cw_pg_t *be = backend_of(store);
    pg_link_t l = { &be->rconn, &be->rprep, &be->rdown, &be->rretry_at_ns, &be->rcancel, "reader" };
    cw_store_req_t *req;

    cw_thread_name_set("cw-store-read");
    tls_prepared = &be->rprep;
    cancel_refresh(be, be->rconn, &be->rcancel);
    while ((req = reader_take(be)) != NULL) {
        if (facts_faulted(store, req) || atomic_load(&be->cancelled)) {
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
    thread_done(be, &be->rdone);
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
    be->close_grace_ms = opts->close_grace_ms;
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
    CW_TRY(cw_store__pg_schema_check(be->wconn, be->where, err));
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
    if (uv_cond_init(&be->xwake) != 0) {
        uv_cond_destroy(&be->lwake);
        uv_cond_destroy(&be->rwake);
        uv_cond_destroy(&be->wwake);
        uv_mutex_destroy(&be->lock);
        return CW_ESYS;
    }
    if (uv_mutex_init(&be->cancel_lock) != 0) {
        uv_cond_destroy(&be->xwake);
        uv_cond_destroy(&be->lwake);
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
    if (be->wthread_started && be->close_grace_ms > 0 && !be->watch_started) {
        if (uv_thread_create(&be->watch, watch_main, be) == 0) {
            be->watch_started = 1;
        } else {
            CW_LOG_WARN(CW_STORE_MOD,
                        "store: %s: cannot start the close's watchdog; a statement"
                        " the server does not finish holds the shutdown",
                        be->where);
        }
    }
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
    if (be->watch_started) {
        /* Ends at once: both threads are done. */
        (void)uv_thread_join(&be->watch);
    }
    PQfreeCancel(be->wcancel);
    PQfreeCancel(be->rcancel);
    if (be->sync_init) {
        uv_mutex_destroy(&be->cancel_lock);
        uv_cond_destroy(&be->xwake);
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
