/*
 * store internals: the request every public operation becomes, the ops table
 * a backend implements, and the completion path back to the loop thread.
 * Used only inside gateway/store (and by its unit tests).
 */
#ifndef CW_STORE_INTERNAL_H
#define CW_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>

#include <uv.h>

#include "store.h"
#include "util.h"

#define CW_STORE_MOD "store"

/* "CWAY": PRAGMA application_id of every Clearway store file. */
#define CW_STORE_APPLICATION_ID 0x43574159

typedef enum cw_store_req_kind_e {
    CW_STORE_REQ_PUT = 0,
    CW_STORE_REQ_GET = 1,
    CW_STORE_REQ_LIST = 2,
    CW_STORE_REQ_RETRY = 3,
    CW_STORE_REQ_PURGE = 4,
    CW_STORE_REQ_CLAIM = 5,
    CW_STORE_REQ_RECORD = 6,
    CW_STORE_REQ_FACTS = 7,
    CW_STORE_REQ_STATS = 8,
    CW_STORE_REQ_COUNT = 9,
} cw_store_req_kind_e;

typedef struct cw_store_req cw_store_req_t;

/*
 * One operation in flight. Created on the loop thread with copies of every
 * input in pool, owned by the backend until it completes the request with
 * cw_store__req_done (results also go into pool), then owned by the loop
 * thread again, which calls back and frees it.
 */
struct cw_store_req {
    cw_store_req_t *next;     /* queue link (backend queue, then done queue) */
    cw_store_req_kind_e kind; /* which operation */
    cw_pool_t *pool;          /* inputs and results; freed after the callback */
    int status;               /* 0 or CW_E*, set by the backend */
    int again;                /* PURGE: the backend wants another batch */
    uint64_t seq;             /* SQLite: the commit whose sync it waits for */
    /* Monotonic ns, for the parts of cw_store_part_e: handed to the
     * backend, taken by the writer, its group committed (SQLite's writer
     * sets these two; 0 otherwise), handed back to the loop. */
    uint64_t t_submit;
    uint64_t t_taken;
    uint64_t t_written;
    uint64_t t_answered;
    union {
        cw_store_put_cb put;
        cw_store_get_cb get;
        cw_store_list_cb list;
        cw_store_done_cb done;
        cw_store_purge_cb purge;
        cw_store_claim_cb claim;
        cw_store_facts_cb facts;
        cw_store_stats_cb stats;
        cw_store_count_cb count;
    } cb;      /* the caller's callback, by kind */
    void *arg; /* the caller's argument */
    union {
        cw_store_msg_t put; /* PUT: deep copy */
        struct {
            const char *from;       /* GET, RETRY */
            const char *message_id; /* GET, RETRY */
            int64_t now_ms;         /* RETRY */
        } key;
        struct {
            cw_store_filter_t filter; /* LIST: deep copy */
            int64_t cursor_row;       /* rows below this only; INT64_MAX: first page */
        } list;
        struct {
            int64_t before_ms;   /* PURGE */
            uint32_t batch_max;  /* PURGE */
            uint32_t batch_last; /* PURGE: what the batch in the open transaction deleted */
        } purge;
        cw_store_claim_t claim;       /* CLAIM: deep copy */
        cw_store_attempt_t attempt;   /* RECORD: deep copy */
        cw_store_facts_query_t facts; /* FACTS: deep copy */
        cw_store_stats_query_t stats; /* STATS */
    } in;
    union {
        cw_store_put_result_t put;
        cw_store_msg_info_t get;
        cw_store_page_t list;
        cw_store_claimed_t claim;
        uint64_t purged;                /* PURGE: running total */
        cw_store_facts_t facts;         /* FACTS */
        cw_store_tallies_t stats;       /* STATS */
        cw_store_state_counts_t counts; /* COUNT */
    } out;
};

/* Does the request change the database? (Reads run outside transactions.) */
static inline int cw_store__req_is_write(const cw_store_req_t *req)
{
    return req->kind != CW_STORE_REQ_GET && req->kind != CW_STORE_REQ_LIST
           && req->kind != CW_STORE_REQ_FACTS && req->kind != CW_STORE_REQ_STATS
           && req->kind != CW_STORE_REQ_COUNT;
}

/*
 * A backend. Every function runs on the loop thread; the backend then works
 * on threads (or connections) of its own and reports each request exactly
 * once through cw_store__req_done, from any thread.
 */
struct cw_store_ops {
    const char *name; /* "sqlite", "postgres" */
    /* Opens the database and checks it (blocking); sets store->backend. */
    int (*open)(cw_store_t *store, const cw_store_options_t *opts, cw_error_t *err);
    /* Starts the backend's threads; 0 or CW_ESYS / CW_ENOMEM. */
    int (*start)(cw_store_t *store);
    /* Takes ownership of req; never completes it synchronously. */
    void (*submit)(cw_store_t *store, cw_store_req_t *req);
    /* Finishes every submitted request, then calls cw_store__backend_closed. */
    void (*close)(cw_store_t *store);
    /* Releases what open allocated (threads already stopped, or never started). */
    void (*release)(cw_store_t *store);
    /* cw_store_facts_query_here on the calling thread; NULL: not offered. */
    int (*facts_here)(cw_store_t *store,
                      const cw_store_facts_query_t *q,
                      cw_pool_t *pool,
                      cw_store_facts_t *out);
};

extern const struct cw_store_ops cw_store__sqlite_ops;
extern const struct cw_store_ops cw_store__pg_ops;

/* Does path name a PostgreSQL database (postgres.c)? */
int cw_store__pg_is_url(const char *path);

struct cw_store {
    uv_loop_t *loop;                 /* the loop every callback runs on */
    uv_async_t done_async;           /* wakes the loop to drain the done queue */
    uv_mutex_t done_lock;            /* guards the done queue and backend_closed */
    cw_store_req_t *done_head;       /* completed requests, oldest first */
    cw_store_req_t *done_tail;       /* last completed request */
    int backend_closed;              /* the backend finished closing (under done_lock) */
    const struct cw_store_ops *ops;  /* the backend */
    void *backend;                   /* the backend's own state */
    int closing;                     /* cw_store_close was called (loop thread) */
    int handle_open;                 /* done_async is initialised (loop thread) */
    cw_store_close_cb close_cb;      /* called once everything is released */
    void *close_arg;                 /* its argument */
    atomic_int fault;                /* cw_store_fault_e */
    atomic_uint_least64_t n_tx;      /* stats: transactions */
    atomic_uint_least64_t n_writes;  /* stats: write operations committed */
    atomic_uint_least64_t n_reads;   /* stats: read operations */
    atomic_uint_least64_t n_failed;  /* stats: commit failures */
    atomic_int broken;               /* stats: a WAL flush failed, CW_EIO until reopened */
    atomic_int unreachable;          /* stats: PostgreSQL: the writer's connection is down */
    atomic_uint_least64_t n_group;   /* stats: largest group */
    atomic_uint_least64_t n_pending; /* stats: queued operations */
    atomic_uint_least64_t n_ckpt;    /* stats: checkpoints run (either thread) */
    atomic_uint_least64_t n_ckpt_ns; /* stats: time spent in them */
    atomic_uint_least64_t n_pages;   /* stats: pages the commits wrote (to the WAL) */
    atomic_uint_least64_t n_exec_ns; /* stats: writer time in the groups' statements */
    atomic_uint_least64_t n_sync_ns; /* stats: writer time in COMMIT (WAL write, fsync) */
    atomic_uint_least64_t n_tx_ckpt; /* stats: of n_tx, those with a checkpoint beside COMMIT */
    atomic_uint_least64_t n_sync_ckpt_ns; /* stats: their share of n_sync_ns */
    /* stats: write requests timed by part (cw_store_part_e), counted on the
     * loop thread as their callbacks run; the last bucket is above every
     * bound of cw_store_sync_bounds_ns */
    atomic_uint_least64_t n_part;
    atomic_uint_least64_t n_part_ns[CW_STORE_PARTS];
    atomic_uint_least64_t n_part_at[CW_STORE_PARTS][CW_STORE_SYNC_BUCKETS + 1];
};

/* Hands a finished request back to the loop thread. Any thread. */
void cw_store__req_done(cw_store_t *store, cw_store_req_t *req);
/* Reports that the backend finished closing. Any thread; call once. */
void cw_store__backend_closed(cw_store_t *store);

/* An attempt's outcome as the attempts table stores it ("delivered",
 * "retry", "failed", "local"). Never NULL. */
const char *cw_store__outcome_name(cw_store_outcome_e outcome);

/* A list filter's states as ",queued,failed," ("" for every state), for
 * the list statements of both backends; size 96 holds every state. */
void cw_store__states_csv(uint32_t mask, char *out, size_t size);

/*
 * The sealed envelope a claim hands out when the store kept it without its
 * evidence (store.c, outgoing_copy): kept (kept_len bytes) with the base64
 * of raw (the message's received bytes) put back at offset at, in pool. A
 * row that does not add up (altered by hand) is logged and gives NULL and
 * 0: its attempt then fails at the receiver, visibly, and the rows after it
 * are still delivered. 0 or CW_ENOMEM. Any thread.
 */
CW_MUST_CHECK int cw_store__outgoing_whole(cw_pool_t *pool,
                                           int64_t id,
                                           const char *kept,
                                           size_t kept_len,
                                           int64_t at,
                                           const void *raw,
                                           size_t raw_len,
                                           const char **out,
                                           size_t *out_len);

/* ==== SQLite helpers shared by sqlite.c and schema.c ==== */

/* Maps a SQLite result code onto CW_E* (SQLITE_FULL and I/O errors: CW_EIO). */
int cw_store__err_from_sqlite(int sqlite_rc);

/* ==== The ledger (sqlite_ledger.c) ==== */

typedef struct cw_store_ledger cw_store_ledger_t;

/* Records msg->fact for message row msg_row in the open transaction. */
CW_MUST_CHECK int cw_store__ledger_fact_insert(sqlite3 *db,
                                               cw_store_ledger_t **ledger,
                                               int64_t msg_row,
                                               const cw_store_fact_t *fact,
                                               int64_t at_ms);
/* Runs a FACTS or STATS request; results in req->out, memory in req->pool. */
CW_MUST_CHECK int
cw_store__ledger_facts(sqlite3 *db, cw_store_ledger_t **ledger, cw_store_req_t *req);
CW_MUST_CHECK int
cw_store__ledger_stats(sqlite3 *db, cw_store_ledger_t **ledger, cw_store_req_t *req);
void cw_store__ledger_free(cw_store_ledger_t *ledger);

/*
 * Opens and checks the database file (application id, quick_check, pragmas)
 * and migrates its schema to the latest version. *out is owned by the caller
 * (sqlite3_close_v2). Blocking.
 */
CW_MUST_CHECK int
cw_store__sqlite_db_open(sqlite3 **out, const cw_store_options_t *opts, cw_error_t *err);

/* The schema version this binary writes. */
#define CW_STORE_SCHEMA_VERSION 11

/*
 * walbuf.c: the VFS the writer's connection opens with under
 * synchronous=FULL, which gathers its WAL writes into one per commit.
 * Registers it on the first call (any thread); its name, or NULL when the
 * default VFS cannot carry it (then the store opens without it).
 */
#define CW_STORE__WALBUF_VFS "clearway-walbuf"
const char *cw_store__walbuf_vfs(void);
/* The same VFS without the gathering, for the checkpointer's connection:
 * it only times its syncs. Its name, or NULL (then the default VFS). */
#define CW_STORE__TIMED_VFS "clearway-timed"
const char *cw_store__timed_vfs(void);
/* The syncs timed through either VFS since the process started, into the
 * sync_* fields of out. Any thread. */
void cw_store__sync_stats(cw_store_stats_t *out);
/* The bucket of cw_store_sync_bounds_ns that ns falls in: the first bound it
 * does not exceed, or CW_STORE_SYNC_BUCKETS when it exceeds them all. */
size_t cw_store__sync_bucket(uint64_t ns);
/* The descriptor the syncer flushes db's WAL through: the WAL must be open
 * through the gathering VFS (the writer's connection under
 * synchronous=FULL). -1 when it is not: then no sync is deferred. */
int cw_store__walbuf_sync_fd(sqlite3 *db);
/* Around the writer's COMMIT, on its thread: between _begin and _end a sync
 * of its gathered WAL (one synced before) writes what is held but does not
 * flush; _end says whether one was deferred, which the caller must then
 * flush with cw_store__walbuf_fdatasync before it answers for the commit.
 * _pause stops deferring before _end (a checkpoint inside COMMIT). */
void cw_store__walbuf_defer_begin(void);
void cw_store__walbuf_defer_pause(void);
int cw_store__walbuf_defer_end(void);
/* fdatasync(fd), timed as a WAL sync: 0 or -errno. Any thread. */
int cw_store__walbuf_fdatasync(int fd);
/* WAL writes SQLite made through it, and writes it handed to the files,
 * since the process started (for tests). */
void cw_store__walbuf_counts(uint64_t *writes_in, uint64_t *writes_out);

/* The SQL of the list statement the SQLite backend runs for filter f.
 * Exposed for the tests, which check its query plan. */
const char *cw_store__sqlite_list_sql(const cw_store_filter_t *f);

/* The SQL of the i-th query the ledger read runs for the stateful checks
 * (cw_store__ledger_facts), NULL past the last. For the plan tests. */
const char *cw_store__ledger_read_sql(size_t i);

/*
 * Migrates db from its PRAGMA user_version up to target (<= the latest),
 * each step in its own transaction. Exposed for the migration tests.
 */
CW_MUST_CHECK int cw_store__sqlite_migrate(sqlite3 *db, int target, cw_error_t *err);

#endif /* CW_STORE_INTERNAL_H */
