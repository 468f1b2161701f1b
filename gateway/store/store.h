/*
 * store: the durable record of every message, its state, its outgoing copy,
 * the receipts given and received, and the delivery schedule.
 *
 * Design
 * ------
 * Every operation is asynchronous. The caller, on the loop thread, hands the
 * store a request and a callback; the store copies every input before the
 * call returns (the caller may free its buffers at once), does the work on a
 * thread of its own, and calls back ON THE LOOP THREAD, never synchronously
 * from inside the submitting call. A write's callback runs only after the
 * transaction that holds it has committed to disk, so a callback with status
 * 0 is a durability promise: the sender may be answered 200.
 *
 * Results handed to a callback are owned by the store and valid only for the
 * duration of the callback; copy what must be kept. On failure (status < 0)
 * the result pointer is NULL.
 *
 * Errors are CW_E* codes: CW_EIO when the store is full or failing (the caller
 * answers 503 with Retry-After: nothing was stored), CW_EBUSY when the
 * database stayed locked past the busy timeout, CW_ECLOSED after
 * cw_store_close, CW_ENOENT / CW_EPERM / CW_ESTALE as documented per call.
 *
 * Backends
 * --------
 * The operations are dispatched through an ops table (struct cw_store_ops,
 * store/internal.h); SQLite (sqlite.c) is the first backend and the default:
 * one file, WAL, one writer thread with group commit, fit for one node.
 * PostgreSQL (postgres.c, postgres_ledger.c) is the second, selected by a
 * postgres:// URL as the path, where several nodes of one organisation
 * share one database:
 *  - nothing in the interface assumes one process: the dedupe key
 *    (from, message_id) is a unique index, so two nodes accepting the same
 *    message race on the index and the loser sees DUPLICATE or CONFLICT;
 *  - deliveries are claimed, not read: a claim sets lease_owner and
 *    lease_until_ms on the rows it returns, which PostgreSQL implements as
 *    "SELECT ... WHERE due ... ORDER BY next_attempt_at_ms LIMIT n
 *    FOR UPDATE SKIP LOCKED" followed by an UPDATE of the lease in the same
 *    transaction, so two nodes never claim the same row and a node killed
 *    mid-delivery loses its rows only until the lease expires;
 *  - recording an outcome names the lease owner, and a record whose lease was
 *    lost (expired and claimed by another node) is refused with CW_ESTALE,
 *    so a slow node cannot overwrite a newer attempt;
 *  - all times are wall-clock milliseconds chosen by the caller (now_ms
 *    arguments), never the database's clock, so tests are deterministic and
 *    nodes agree within their NTP skew (leases are much longer than that);
 *  - the list cursor is an opaque string, so a backend may encode whatever
 *    keyset it pages on.
 * Each operation is one transaction in every backend; a backend may group
 * several operations into one transaction (SQLite's group commit) as long as
 * each operation's effects are all-or-nothing.
 */
#ifndef CW_STORE_H
#define CW_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "util.h"

/* ==== Opening and closing ==== */

typedef struct cw_store cw_store_t;

/* How hard each commit waits for the disk (SQLite PRAGMA synchronous). */
typedef enum cw_store_sync_e {
    CW_STORE_SYNC_FULL = 0,   /* fsync on every commit: a callback means on disk */
    CW_STORE_SYNC_NORMAL = 1, /* WAL NORMAL: survives a crash of the process, not of the OS */
} cw_store_sync_e;

typedef struct cw_store_options {
    const char *path;         /* database file, created when missing; borrowed for the call */
    cw_store_sync_e sync;     /* CW_STORE_SYNC_FULL unless a benchmark says otherwise */
    uint32_t group_max;       /* write operations per transaction, 1..4096 (64) */
    uint32_t busy_timeout_ms; /* wait for a lock held by another connection (5000) */
    uint32_t page_count_max;  /* 0: unlimited; else a hard size cap (tests simulate a full disk) */
    uint32_t close_grace_ms;  /* PostgreSQL: at close, a statement the server has not finished
                                 this long after is cancelled (10000; 0: never) */
} cw_store_options_t;

#define CW_STORE_OPTIONS_INIT                        \
    {                                                \
        NULL, CW_STORE_SYNC_FULL, 64, 5000, 0, 10000 \
    }

/*
 * Opens (creating and migrating when needed) the store at opts->path and
 * binds it to loop. Blocking file I/O: call at start-up, before the loop
 * serves traffic.
 *
 * Checks, in order: an exclusive lock on "<path>-lock" (another clearwayd on
 * the same file: CW_EBUSY); that the file is a SQLite database created by
 * Clearway (application_id) or an empty one (otherwise CW_ECONFIG with "not a
 * Clearway store" in err); PRAGMA quick_check (CW_EIO when damaged); the
 * schema version (newer than this binary: CW_ECONFIG; older: migrated).
 * Leases left by a previous process of this node are released, because the
 * lock proves that process is gone.
 *
 * A path that is a PostgreSQL URL (cw_store_path_is_postgres) opens the
 * PostgreSQL backend instead, which several processes may open at once:
 * no lock; the server unreachable: CW_EIO; a database whose schema holds
 * other tables but no clearway_store table: CW_ECONFIG ("not a Clearway
 * store"); an empty one is migrated, under an advisory lock so that one
 * node at a time does it; a newer schema version: CW_ECONFIG. Leases are
 * left alone (another node may hold them); a dead node's expire.
 * synchronous NORMAL there means synchronous_commit off; page_count_max
 * does not apply.
 *
 * On success *out is a new store owned by the caller (cw_store_close). On
 * failure *out is NULL and err says why. Loop thread; never calls back.
 * The environment variable CW_STORE_FAULT=commit-fail (or read-fail,
 * sync-fail or checkpoint-fail) sets the fault hook (cw_store_fault_set) at
 * open, for tests of a whole daemon.
 */
CW_MUST_CHECK int
cw_store_open(cw_store_t **out, uv_loop_t *loop, const cw_store_options_t *opts, cw_error_t *err);

/* Does path name a PostgreSQL database ("postgres://" or "postgresql://")
 * rather than a SQLite file? Such a URL may hold a password: log it never. */
int cw_store_path_is_postgres(const char *path);

typedef void (*cw_store_close_cb)(void *arg);

/*
 * Stops accepting operations (they fail with CW_ECLOSED, synchronously),
 * lets the writer finish and deliver every operation already submitted, then
 * closes the database and frees the store, and finally calls cb (may be
 * NULL) on the loop thread. The store must not be used after this call.
 * Calling it twice is a programming error. Loop thread.
 */
void cw_store_close(cw_store_t *store, cw_store_close_cb cb, void *arg);

/* ==== Messages ==== */

/* Message states (DESIGN.md "State and durability"). Stored by name. */
typedef enum cw_store_state_e {
    CW_STORE_STATE_RECEIVED = 0,  /* accepted, nothing to forward (or not yet routed) */
    CW_STORE_STATE_QUEUED = 1,    /* accepted, a delivery is scheduled */
    CW_STORE_STATE_DELIVERED = 2, /* the receiver's signed receipt is stored */
    CW_STORE_STATE_FAILED = 3,    /* dead letter: refused, or past the route's limits */
    CW_STORE_STATE_REJECTED = 4,  /* never accepted; recorded for the audit trail */
} cw_store_state_e;

#define CW_STORE_STATE_COUNT 5

/* Returns the stable lower-case name ("queued"). Never NULL. */
const char *cw_store_state_name(cw_store_state_e state);
/* Parses a name written by cw_store_state_name: 0 or CW_EINVAL. */
CW_MUST_CHECK int cw_store_state_parse(const char *name, cw_store_state_e *out);

#define CW_STORE_DIGEST_BYTES 32

/*
 * The facilitation core's record of one assessed consignment: the keys the
 * stateful checks look up (SHA-256 hex of normalised data, never personal
 * data in clear) and the figures the statistics sum. Strings are borrowed
 * for the call that passes them; optional ones may be NULL.
 */
typedef struct cw_store_fact {
    const char *consignment_id; /* ConsignmentId */
    const char *sender;         /* the sending party */
    const char *buyer_key;      /* normalised buyer */
    const char *seller_key;     /* normalised seller */
    const char *business_key;   /* sender + document type + order or transport number */
    const char *content_digest; /* of the consignment's content */
    const char *order_number;   /* or "" */
    const char *transport_doc;  /* or "" */
    const char *destination;    /* ISO 3166 country */
    const char *currency;       /* currency of the amounts (the destination's) */
    int64_t value_minor;        /* intrinsic value */
    int32_t date;               /* reference date, days since 1970-01-01 */
    int amendment;              /* marked as an amendment */
    const char *lane;           /* "green", "yellow", "red" */
    const char *codes;          /* finding codes, space separated */
    const char *collection;     /* collection model */
    int64_t duty_minor;         /* duty computed */
    int64_t tax_minor;          /* VAT/GST computed */
    int64_t due_minor;          /* payable at the border */
} cw_store_fact_t;

/*
 * One message at intake. Every pointer is borrowed for the duration of
 * cw_store_msg_put only (the store copies them). Strings are NUL-terminated;
 * optional ones may be NULL.
 */
typedef struct cw_store_msg {
    const char *from;                             /* authenticated sender party */
    const char *message_id;                       /* its MessageId */
    uint8_t digest_sha256[CW_STORE_DIGEST_BYTES]; /* of what was received */
    const char *to;                               /* optional: To party */
    const char *service;                          /* optional */
    const char *action;                           /* optional */
    const char *conversation_id;                  /* optional */
    const char *timestamp;                        /* optional: header Timestamp as sent */
    const char *received;                         /* the bytes received (evidence) */
    size_t received_len;                          /* bytes in received */
    const char *receipt;                          /* the signed receipt we answer with */
    size_t receipt_len;                           /* bytes in receipt */
    cw_store_state_e state;                       /* RECEIVED, QUEUED or REJECTED */
    const char *problem;                          /* REJECTED: problem slug, else NULL */
    const char *route;                            /* QUEUED: route name, else NULL */
    const char *outgoing;                         /* QUEUED: the sealed envelope to send */
    size_t outgoing_len;                          /* bytes in outgoing */
    const char *outgoing_id;                      /* QUEUED, optional: its MessageId */
    const unsigned char *outgoing_digest;         /* QUEUED, optional (32 bytes): its
                                                     cw_sec_doc_sha256, what a receipt
                                                     for it names */
    size_t outgoing_evidence_at;                  /* QUEUED, optional: where in outgoing the
                                                     base64 of received begins (0: it does
                                                     not; padded, no line breaks); the store
                                                     then keeps those bytes once, as
                                                     received, and a claim gets outgoing
                                                     whole. The caller vouches for them: the
                                                     store checks that they fit and their
                                                     first and last four characters */
    int64_t next_attempt_at_ms;                   /* QUEUED: first attempt (usually now) */
    int64_t created_at_ms;                        /* wall clock of acceptance */
    const cw_store_fact_t *fact;                  /* optional: the assessment's ledger row */
} cw_store_msg_t;

typedef enum cw_store_put_e {
    CW_STORE_PUT_NEW = 0,       /* committed */
    CW_STORE_PUT_DUPLICATE = 1, /* same (from, message_id, digest): nothing changed */
    CW_STORE_PUT_CONFLICT = 2,  /* same (from, message_id), other digest: answer 409 */
} cw_store_put_e;

typedef struct cw_store_put_result {
    cw_store_put_e kind;    /* what happened */
    int64_t msg_row;        /* the stored message's row id (the original one if not NEW) */
    cw_store_state_e state; /* its current state */
    const char *receipt;    /* DUPLICATE: the ORIGINAL receipt bytes; else the one given */
    size_t receipt_len;     /* bytes in receipt */
} cw_store_put_result_t;

/* res is owned by the store and valid during the call; NULL when status < 0. */
typedef void (*cw_store_put_cb)(int status, const cw_store_put_result_t *res, void *arg);

/*
 * Stores one message in one durable transaction: the message row, its first
 * state-history row and, for QUEUED, the delivery row (route, outgoing
 * envelope, next_attempt_at_ms, attempts 0). Dedupes on (from, message_id)
 * among accepted messages; a REJECTED message never takes the key (a sender
 * may fix a message and send it again) and is always NEW.
 *
 * Returns 0 (cb will run on the loop thread after the commit, with status 0
 * or CW_EIO / CW_EBUSY / CW_ENOMEM, in which case nothing of the message is
 * stored), or synchronously CW_EINVAL (bad msg: missing from/message_id,
 * QUEUED without route or outgoing, REJECTED without problem), CW_ENOMEM or
 * CW_ECLOSED, in which case cb never runs. Loop thread.
 */
CW_MUST_CHECK int
cw_store_msg_put(cw_store_t *store, const cw_store_msg_t *msg, cw_store_put_cb cb, void *arg);

/* One entry of a message's state history. */
typedef struct cw_store_history {
    cw_store_state_e state; /* state entered */
    int64_t at_ms;          /* wall clock */
    const char *note;       /* why, or "" */
} cw_store_history_t;

/*
 * What the status API shows of one message. In list results the byte fields
 * are NULL/0 and history is empty; cw_store_msg_get fills them.
 */
typedef struct cw_store_msg_info {
    int64_t row;                                  /* row id */
    const char *from;                             /* sender party */
    const char *message_id;                       /* its MessageId */
    const char *to;                               /* "" when unknown */
    const char *service;                          /* "" when unknown */
    const char *action;                           /* "" when unknown */
    const char *conversation_id;                  /* "" when unknown */
    const char *timestamp;                        /* header Timestamp, "" when unknown */
    uint8_t digest_sha256[CW_STORE_DIGEST_BYTES]; /* of what was received */
    cw_store_state_e state;                       /* current state */
    const char *problem;                          /* REJECTED: slug; else "" */
    const char *route;                            /* delivery route, "" when none */
    uint32_t attempts;                            /* delivery attempts made */
    const char *last_error;                       /* last delivery error, "" when none */
    int64_t created_at_ms;                        /* accepted at */
    int64_t updated_at_ms;                        /* last state change */
    int64_t next_attempt_at_ms;                   /* QUEUED: next try; else 0 */
    const char *receipt_given;                    /* our receipt (get only) */
    size_t receipt_given_len;                     /* bytes */
    const char *receipt_received;                 /* the receiver's receipt (get only) */
    size_t receipt_received_len;                  /* bytes; 0 until delivered */
    const char *received;                         /* evidence bytes (get only) */
    size_t received_len;                          /* bytes */
    const cw_store_history_t *history;            /* oldest first (get only) */
    size_t history_count;                         /* entries in history */
} cw_store_msg_info_t;

/* info is owned by the store and valid during the call; NULL when status < 0. */
typedef void (*cw_store_get_cb)(int status, const cw_store_msg_info_t *info, void *arg);

/*
 * Looks up the accepted message (from, message_id), or when there is none the
 * most recent rejected one. cb gets 0 and the info, or CW_ENOENT, CW_EIO,
 * CW_ENOMEM. Returns 0, or synchronously CW_EINVAL / CW_ENOMEM / CW_ECLOSED
 * (cb never runs). The strings are copied. Loop thread.
 */
CW_MUST_CHECK int cw_store_msg_get(
    cw_store_t *store, const char *from, const char *message_id, cw_store_get_cb cb, void *arg);

#define CW_STORE_LIST_MAX    1000u
#define CW_STORE_CURSOR_SIZE 64u

/* Which messages to list; newest first. Pointers borrowed for the call. */
typedef struct cw_store_filter {
    uint32_t states_mask; /* bit (1u << state) per wanted state; 0: every state */
    const char *to;       /* only messages to this party; NULL: any */
    int64_t since_ms;     /* only messages created at or after this; 0: any */
    uint32_t limit;       /* page size, 1..CW_STORE_LIST_MAX (0: 100) */
    const char *cursor;   /* next_cursor of the previous page, or NULL */
} cw_store_filter_t;

typedef struct cw_store_page {
    const cw_store_msg_info_t *items; /* count entries, newest first */
    size_t count;                     /* entries on this page */
    const char *next_cursor;          /* opaque; NULL on the last page */
} cw_store_page_t;

/* page is owned by the store and valid during the call; NULL when status < 0. */
typedef void (*cw_store_list_cb)(int status, const cw_store_page_t *page, void *arg);

/*
 * Lists messages matching filter. cb gets 0 and a page, or CW_EIO /
 * CW_ENOMEM. Returns 0, or synchronously CW_EINVAL (limit above
 * CW_STORE_LIST_MAX, malformed cursor) / CW_ENOMEM / CW_ECLOSED. Loop thread.
 */
CW_MUST_CHECK int cw_store_msg_list(cw_store_t *store,
                                    const cw_store_filter_t *filter,
                                    cw_store_list_cb cb,
                                    void *arg);

/* How many messages the store holds in each state. */
typedef struct cw_store_state_counts {
    uint64_t n[CW_STORE_STATE_COUNT]; /* indexed by cw_store_state_e */
    uint64_t total;                   /* their sum */
} cw_store_state_counts_t;

/* counts is owned by the store and valid during the call; NULL when status < 0. */
typedef void (*cw_store_count_cb)(int status, const cw_store_state_counts_t *counts, void *arg);

/*
 * Counts the messages in each state, in one read between transactions on
 * the backend's reader (it neither waits behind a commit nor holds one
 * up). No index has the state in it, so the read visits every message: its
 * cost grows with what the store holds, which the purge of delivered
 * messages bounds. cb gets 0 and the counts, or CW_EIO / CW_ENOMEM.
 * Returns 0, or synchronously CW_EINVAL / CW_ENOMEM / CW_ECLOSED (cb never
 * runs). Loop thread.
 */
CW_MUST_CHECK int cw_store_msg_count(cw_store_t *store, cw_store_count_cb cb, void *arg);

/* status is 0 or a CW_E* code documented by the operation. */
typedef void (*cw_store_done_cb)(int status, void *arg);

/*
 * Puts a dead-lettered (FAILED) message back in the queue: its delivery is
 * due at now_ms with attempts and age reset, so the route's policy applies
 * afresh. cb gets 0, CW_ENOENT (no such accepted message), CW_EPERM (the
 * message is not FAILED: delivered, queued, received or rejected) or CW_EIO.
 * Returns 0, or synchronously CW_EINVAL / CW_ENOMEM / CW_ECLOSED. Loop thread.
 */
CW_MUST_CHECK int cw_store_msg_retry(cw_store_t *store,
                                     const char *from,
                                     const char *message_id,
                                     int64_t now_ms,
                                     cw_store_done_cb cb,
                                     void *arg);

typedef void (*cw_store_purge_cb)(int status, uint64_t purged, void *arg);

/*
 * Deletes DELIVERED messages last updated before before_ms, with their
 * evidence, history, delivery and attempts, in transactions of at most
 * batch_max messages (1..10000) so that intake is never stalled behind a
 * long delete: between batches, other queued operations run. cb gets the
 * status and the number of messages purged (also on error: those batches
 * committed). Returns 0, or synchronously CW_EINVAL / CW_ENOMEM / CW_ECLOSED.
 * Loop thread.
 */
CW_MUST_CHECK int cw_store_msg_purge(
    cw_store_t *store, int64_t before_ms, uint32_t batch_max, cw_store_purge_cb cb, void *arg);

/* ==== Deliveries ==== */

/* A claim request; pointers borrowed for the call. */
typedef struct cw_store_claim {
    const char *owner; /* who holds the lease: unique per process (node, pid, start) */
    const char *route; /* only this route; NULL: any route */
    uint32_t limit;    /* rows wanted, 1..CW_STORE_LIST_MAX */
    int64_t now_ms;    /* due means next_attempt_at_ms <= now_ms */
    int64_t lease_ms;  /* the lease lasts until now_ms + lease_ms */
} cw_store_claim_t;

/* One claimed delivery. */
typedef struct cw_store_delivery {
    int64_t id;                           /* delivery row id, the handle for recording */
    const char *from;                     /* original sender */
    const char *message_id;               /* its MessageId */
    const char *to;                       /* destination party, "" when unknown */
    const char *route;                    /* route name */
    const char *outgoing;                 /* the sealed envelope to POST */
    size_t outgoing_len;                  /* bytes in outgoing */
    const char *outgoing_id;              /* its MessageId, NULL when not recorded */
    const unsigned char *outgoing_digest; /* its digest (32 bytes), NULL when not recorded */
    uint32_t attempts;                    /* attempts made before this one */
    int64_t first_queued_at_ms;           /* start of the max-age clock */
    int64_t lease_until_ms;               /* the claim is ours until then */
} cw_store_delivery_t;

typedef struct cw_store_claimed {
    const cw_store_delivery_t *items; /* oldest due first */
    size_t count;                     /* 0..limit */
} cw_store_claimed_t;

/* claimed is owned by the store and valid during the call; NULL when status < 0. */
typedef void (*cw_store_claim_cb)(int status, const cw_store_claimed_t *claimed, void *arg);

/*
 * Claims up to claim->limit due deliveries of QUEUED messages that nobody
 * holds (no lease, or the lease expired at or before now_ms), and leases them
 * to claim->owner until now_ms + lease_ms. The lease is durable when cb runs.
 * Returns 0, or synchronously CW_EINVAL / CW_ENOMEM / CW_ECLOSED. Loop thread.
 */
CW_MUST_CHECK int cw_store_delivery_claim(cw_store_t *store,
                                          const cw_store_claim_t *claim,
                                          cw_store_claim_cb cb,
                                          void *arg);

typedef enum cw_store_outcome_e {
    CW_STORE_OUTCOME_DELIVERED = 0,   /* receipt verified: the message is delivered */
    CW_STORE_OUTCOME_RETRY = 1,       /* try again at next_attempt_at_ms */
    CW_STORE_OUTCOME_FAILED = 2,      /* dead letter, with error as the reason */
    CW_STORE_OUTCOME_RETRY_LOCAL = 3, /* as RETRY, but the peer was never asked (this
                                         node's shutdown cancelled it, say): recorded
                                         (attempts row, outcome "local") and not
                                         counted in the delivery's attempts */
} cw_store_outcome_e;

/* The outcome of one attempt; pointers borrowed for the call. */
typedef struct cw_store_attempt {
    int64_t delivery_id;        /* from cw_store_delivery_t */
    const char *owner;          /* the lease owner that claimed it */
    cw_store_outcome_e outcome; /* what to record */
    int64_t at_ms;              /* when the attempt ended */
    int http_status;            /* 0 when there was no HTTP answer */
    const char *error;          /* why (RETRY/FAILED), or NULL */
    const char *receipt;        /* DELIVERED: the receiver's receipt bytes */
    size_t receipt_len;         /* bytes in receipt */
    int64_t next_attempt_at_ms; /* RETRY, RETRY_LOCAL: when the delivery is due again */
} cw_store_attempt_t;

/*
 * Records an attempt (attempts row) and its outcome, clearing the lease, in
 * one transaction: DELIVERED stores the receipt and moves the message to
 * DELIVERED; RETRY counts the attempt and reschedules; RETRY_LOCAL
 * reschedules without counting it; FAILED dead-letters the message. cb gets 0, CW_ESTALE (the lease
 * is no longer owner's: it expired and was claimed again, or the delivery is no longer queued;
 * nothing was written), CW_ENOENT, or CW_EIO. Returns 0, or synchronously
 * CW_EINVAL / CW_ENOMEM / CW_ECLOSED. Loop thread.
 */
CW_MUST_CHECK int cw_store_delivery_record(cw_store_t *store,
                                           const cw_store_attempt_t *attempt,
                                           cw_store_done_cb cb,
                                           void *arg);

/* ==== The facilitation ledger ==== */

/* Most facts one query returns: bounds memory whatever the history. */
#define CW_STORE_FACTS_MAX 10000u

/* THR-002 value bands a query counts at most. */
#define CW_STORE_BANDS_MAX 8u

/* A value range in minor units, both ends inclusive. */
typedef struct cw_store_band {
    int64_t lo;
    int64_t hi;
} cw_store_band_t;

/*
 * What the stateful checks need; NULL/"" keys are not matched.
 * Rows: the facts with this business_key, or with this order_number and
 * this seller_key (any date). A sender's earlier facts with the same order
 * number are among the first: the checks make the business key from the
 * sender and the order number when there is one (cw_checks_business_key),
 * so the store keeps no index of its own on (sender, order_number). A
 * buyer's or a seller's other facts are never returned as rows, only
 * summed (the totals below), so that a buyer with thousands of
 * consignments costs a few index reads.
 */
typedef struct cw_store_facts_query {
    const char *buyer_key;    /* the buyer of the totals */
    const char *seller_key;   /* rows by order number; the band counts */
    const char *business_key; /* rows with this business key */
    const char *order_number;
    const char *currency;       /* the totals count facts in this currency */
    const char *consignment_id; /* never in the totals (a resend of itself) */
    const char *transport_doc;  /* with it, nor in the buyer's; "" none */
    int32_t split_since_date;   /* buyer window, inclusive, days */
    int32_t cluster_since_date; /* band window, inclusive, days */
    int32_t until_date;         /* both windows end here, inclusive */
    int32_t year_start;         /* buyer's total from this date to until_date */
    const char *destination;    /* the year total counts this destination only */
    size_t bands_len;           /* bands to count (at most CW_STORE_BANDS_MAX) */
    cw_store_band_t bands[CW_STORE_BANDS_MAX];
} cw_store_facts_query_t;

typedef struct cw_store_facts {
    const cw_store_fact_t *items;   /* matching rows, any order */
    size_t count;                   /* entries (at most CW_STORE_FACTS_MAX) */
    int64_t buyer_year_total_minor; /* buyer's value since year_start, this destination,
                                       lane not red */
    /* buyer_key's facts in [split_since_date, until_date] and currency,
     * except consignment_id and (if not "") transport_doc: */
    int64_t buyer_count;
    int64_t buyer_total_minor;
    /* seller_key's facts in [cluster_since_date, until_date] and currency,
     * except consignment_id, valued within bands[i]: */
    int64_t band_count[CW_STORE_BANDS_MAX];
} cw_store_facts_t;

/* facts is owned by the store and valid during the call; NULL when status < 0. */
typedef void (*cw_store_facts_cb)(int status, const cw_store_facts_t *facts, void *arg);

/*
 * Reads the facts the stateful checks need (one read, between
 * transactions, so it sees every acknowledged message). Returns 0, or
 * synchronously CW_EINVAL / CW_ENOMEM / CW_ECLOSED. Loop thread.
 */
CW_MUST_CHECK int cw_store_facts_query(cw_store_t *store,
                                       const cw_store_facts_query_t *query,
                                       cw_store_facts_cb cb,
                                       void *arg);

/*
 * The same read answered on the calling thread (a worker), from a
 * read-only connection the store lends it for the call: no hop to the
 * reader thread and back through the loop. *out and its strings live in
 * pool. Blocks for the read (never for the writer; a connection is opened
 * on first use and kept for the next caller: as many as threads ever read
 * at once, up to 256). Returns 0, or
 * CW_EINVAL / CW_ENOMEM / CW_EIO / CW_ECLOSED (closing). Any thread, while
 * the store is open.
 */
CW_MUST_CHECK int cw_store_facts_query_here(cw_store_t *store,
                                            const cw_store_facts_query_t *query,
                                            cw_pool_t *pool,
                                            cw_store_facts_t *out);

typedef enum cw_store_group_e {
    CW_STORE_GROUP_DESTINATION = 0,
    CW_STORE_GROUP_LANE = 1,
    CW_STORE_GROUP_CODE = 2,
    CW_STORE_GROUP_SENDER = 3,
    CW_STORE_GROUP_COLLECTION = 4,
} cw_store_group_e;

typedef struct cw_store_stats_query {
    int64_t from_ms;           /* assessed at or after (wall clock) */
    int64_t to_ms;             /* and before */
    cw_store_group_e group_by; /* the figure's dimension */
} cw_store_stats_query_t;

/* One line of statistics: one group in one currency. */
typedef struct cw_store_tally {
    const char *group;      /* the group's value ("EU"... "green", "DSC-001", a party) */
    const char *currency;   /* currency of the sums */
    uint64_t count;         /* consignments */
    int64_t declared_minor; /* intrinsic value declared, converted */
    int64_t duty_minor;     /* duty computed */
    int64_t tax_minor;      /* VAT/GST computed */
    int64_t due_minor;      /* payable at the border */
} cw_store_tally_t;

typedef struct cw_store_tallies {
    const cw_store_tally_t *items; /* ordered by group, then currency */
    size_t count;
} cw_store_tallies_t;

typedef void (*cw_store_stats_cb)(int status, const cw_store_tallies_t *tallies, void *arg);

/* Sums the ledger for [from_ms, to_ms) by group_by. Loop thread. */
CW_MUST_CHECK int cw_store_stats_query(cw_store_t *store,
                                       const cw_store_stats_query_t *query,
                                       cw_store_stats_cb cb,
                                       void *arg);

/* ==== Observability and tests ==== */

/* The fsync histogram's buckets: each one's upper bound, in ns (100 us to
 * 1 s); a sync above the last one counts only in sync_count. */
#define CW_STORE_SYNC_BUCKETS 12
extern const uint64_t cw_store_sync_bounds_ns[CW_STORE_SYNC_BUCKETS];

/* What a timed sync was of. */
typedef enum cw_store_sync_kind_e {
    CW_STORE_SYNC_WAL = 0,      /* the WAL: every commit, under synchronous=full */
    CW_STORE_SYNC_DATABASE = 1, /* the database file: every checkpoint that caught up */
    CW_STORE_SYNC_KINDS = 2
} cw_store_sync_kind_e;

/*
 * Where a write request's time in the store goes (SQLite), in order: waiting
 * for the writer thread, its group's statements and COMMIT, waiting for the
 * flush of the WAL that covers that COMMIT (synchronous=full; nothing under
 * normal), and the way back to the loop thread until its callback runs.
 */
typedef enum cw_store_part_e {
    CW_STORE_PART_QUEUE = 0,
    CW_STORE_PART_WRITE = 1,
    CW_STORE_PART_FLUSH = 2,
    CW_STORE_PART_HANDBACK = 3,
    CW_STORE_PARTS = 4
} cw_store_part_e;

/* "queue", "write", "flush", "handback"; NULL for anything else. */
const char *cw_store_part_name(cw_store_part_e part);

typedef struct cw_store_stats {
    uint64_t transactions;    /* write transactions committed */
    uint64_t writes;          /* write operations committed (sum of group sizes) */
    uint64_t reads;           /* read operations done */
    uint64_t commit_failures; /* transactions rolled back because a commit failed */
    int broken;               /* a flush of the WAL failed: every operation fails with
                                 CW_EIO until the store is opened again (SQLite) */
    int unreachable;          /* PostgreSQL: the writer's connection is lost and not back
                                 yet: writes fail with CW_EIO until it is (0 on SQLite) */
    uint64_t group_max_seen;  /* largest group committed in one transaction */
    uint64_t pending;         /* operations queued for the backend now */
    uint64_t checkpoints;     /* WAL checkpoints run (by the checkpointer thread, or by the
                                 writer once the WAL is past 4,000 pages) */
    uint64_t checkpoint_ns;   /* time spent in them */
    uint64_t pages_written;   /* database pages the commits wrote (to the WAL) */
    uint64_t exec_ns;         /* time the writer spent running committed groups' writes */
    uint64_t commit_ns;       /* time it spent committing them (WAL write and fsync) */
    uint64_t transactions_beside_checkpoint; /* of transactions, those whose COMMIT had a
                                                checkpoint running beside it */
    uint64_t commit_beside_checkpoint_ns;    /* their share of commit_ns */
    /* The fsyncs (fdatasync) of the SQLite store's files, by kind, counted
     * process-wide (a daemon has one store; none for PostgreSQL, whose
     * server syncs): how many, their total time, and how many took at most
     * each bound of cw_store_sync_bounds_ns and more than the one before.
     * The writer's and the checkpointer's under synchronous=full; only the
     * checkpointer's under normal. */
    uint64_t sync_count[CW_STORE_SYNC_KINDS];
    uint64_t sync_ns[CW_STORE_SYNC_KINDS];
    uint64_t sync_buckets[CW_STORE_SYNC_KINDS][CW_STORE_SYNC_BUCKETS];
    /* Write requests the SQLite backend answered, timed by part (the
     * buckets are those of cw_store_sync_bounds_ns, each counting the
     * parts that took at most its bound and more than the one before): the
     * same count for every part. */
    uint64_t part_count;
    uint64_t part_ns[CW_STORE_PARTS];
    uint64_t part_buckets[CW_STORE_PARTS][CW_STORE_SYNC_BUCKETS];
} cw_store_stats_t;

/* Copies the counters into out. Any thread. */
void cw_store_stats_get(cw_store_t *store, cw_store_stats_t *out);

typedef enum cw_store_fault_e {
    CW_STORE_FAULT_NONE = 0,        /* normal operation */
    CW_STORE_FAULT_COMMIT_FAIL = 1, /* every transaction is rolled back instead of
                                       committed and its operations fail with CW_EIO */
    CW_STORE_FAULT_READ_FAIL = 2,   /* every ledger facts query fails with CW_EIO */
    CW_STORE_FAULT_SYNC_HOLD = 3,   /* SQLite, synchronous=full: the syncer flushes
                                       and answers nothing while this is set */
    CW_STORE_FAULT_SYNC_FAIL = 4,   /* SQLite, synchronous=full: the syncer's next
                                       fdatasync fails as with EIO */
    CW_STORE_FAULT_CKPT_FAIL = 5,   /* SQLite: the next checkpoint fails as with an
                                       fsync's EIO, without running */
    CW_STORE_FAULT_COMMIT_HANG = 6, /* PostgreSQL: every transaction waits an hour on the
                                       server (pg_sleep) before its COMMIT, as behind a
                                       synchronous standby that is down, and an hour
                                       more after the first cancel */
} cw_store_fault_e;

/* Sets the test fault hook; takes effect from the next transaction. Any thread. */
void cw_store_fault_set(cw_store_t *store, cw_store_fault_e fault);

/* Wall-clock milliseconds since the epoch: the clock of every *_ms above. */
int64_t cw_store_clock_ms(void);

#endif /* CW_STORE_H */
