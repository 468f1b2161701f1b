/*
 * pipeline: the stages a message goes through, and the worker pool that runs
 * the CPU-heavy ones off the loop thread.
 *
 * The pool is libuv's threadpool, sized once at startup by
 * cw_pipeline_pool_size_set (before the loop runs any work), so that sign,
 * verify and schema work never runs on the loop thread (STYLE.md rule 37).
 */
#ifndef CW_PIPELINE_H
#define CW_PIPELINE_H

#include <stddef.h>

#include <uv.h>

#include "adapters.h"
#include "checks.h"
#include "config.h"
#include "egress.h"
#include "msg.h"
#include "net.h"
#include "sec.h"
#include "store.h"
#include "util.h"

/*
 * Sizes libuv's threadpool to two threads per CPU worker (workers; 0: one
 * per core) plus two for file-system work. Must run before the first
 * uv_queue_work in the process; returns the number of CPU workers chosen.
 * Main thread only.
 */
unsigned cw_pipeline_pool_size_set(unsigned workers);

/* Runs on a worker thread; must not touch the loop. */
typedef void (*cw_work_cb)(void *arg);
/* Runs on the loop thread afterwards; status is 0 or CW_ECLOSED when the
 * work was cancelled before it started. */
typedef void (*cw_work_done_cb)(int status, void *arg);

typedef struct cw_pipeline cw_pipeline_t;

/* Returns a new pipeline bound to loop (owned by the caller), or NULL. */
cw_pipeline_t *cw_pipeline_new(uv_loop_t *loop);
/* Frees a pipeline with no work in flight (see cw_pipeline_in_flight). */
void cw_pipeline_free(cw_pipeline_t *pl);

/*
 * Runs work(arg) on a worker thread, then done(status, arg) on the loop
 * thread. Returns 0, or CW_ENOMEM / CW_ESYS, in which case neither callback
 * runs. Loop thread only; never calls back synchronously.
 */
CW_MUST_CHECK int
cw_pipeline_work_submit(cw_pipeline_t *pl, cw_work_cb work, cw_work_done_cb done, void *arg);

/* Work items submitted and not yet done. */
size_t cw_pipeline_in_flight(const cw_pipeline_t *pl);
/* Inbound inputs accepted and waiting for their turn (see
 * cw_pipeline_inbound_submit). */
size_t cw_pipeline_inbound_waiting(const cw_pipeline_t *pl);
/* Answers every input still waiting for its turn 503 (nothing of it was
 * translated or stored) and forgets it: the node is stopping, and would
 * otherwise run them all before it could exit. Returns how many. Loop
 * thread. */
size_t cw_pipeline_inbound_cancel_waiting(cw_pipeline_t *pl);

/* ==== Trust ==== */

/*
 * Builds the trust snapshot (node key and certificate, every partner's
 * certificates) that cfg describes. *out has one reference owned by the
 * caller (cw_sec_keys_unref). Returns 0, or CW_ECONFIG / CW_EIO / CW_ENOMEM
 * with "path: reason" in err. Blocking file I/O: start-up or a worker.
 */
CW_MUST_CHECK int
cw_pipeline_trust_load(cw_sec_keys_t **out, const cw_config_t *cfg, cw_error_t *err);

/*
 * Gives the pipeline the trust snapshot and the compiled schemas used by
 * every message from now on. keys is referenced (the previous snapshot is
 * released once the jobs using it finish); schemas is borrowed and must
 * outlive the pipeline. Loop thread.
 */
void cw_pipeline_trust_set(cw_pipeline_t *pl, cw_sec_keys_t *keys, const cw_sec_schemas_t *schemas);

/* ==== The node's services ==== */

/*
 * Gives the pipeline the store (intake persists there), the delivery
 * scheduler (notified of new work) and the HTTP client (deliveries). All
 * borrowed; each must stay valid until it is attached again in its place.
 * store may be NULL in tests that only exercise verification. Called again
 * to replace any of them: a scheduler created by a reload, and NULL for the
 * client and the scheduler before they close at shutdown (a delivery that
 * finishes preparing after that ends as CW_EGRESS_RETRY_LOCAL, nothing
 * sent). The environment variable CW_DELIVERY_FAULT=translate-slow holds
 * each output adapter's translation for 3 s on its worker (tests of a
 * whole daemon). Loop thread.
 */
void cw_pipeline_attach(cw_pipeline_t *pl,
                        cw_store_t *store,
                        cw_egress_t *egress,
                        cw_http_client_t *client);

/*
 * The facilitation rules every consignment is assessed with from now on
 * (a reference is taken; NULL turns the core off). Jobs in flight keep the
 * snapshot they started with. Loop thread.
 */
void cw_pipeline_rules_set(cw_pipeline_t *pl, cw_checks_rules_t *rules);

/*
 * Appends the measurement counters (assessed consignments by destination,
 * lane, finding code, sender and collection model; declared value and
 * revenue by destination) in the Prometheus text format. Loop thread.
 */
CW_MUST_CHECK int cw_pipeline_metrics_render(const cw_pipeline_t *pl, cw_buf_t *out);

/* The store attached, or NULL (borrowed). Loop thread. */
cw_store_t *cw_pipeline_store(const cw_pipeline_t *pl);
/* The trust snapshot in force, or NULL before the first (borrowed until
 * the loop next runs a reload). Loop thread. */
const cw_sec_keys_t *cw_pipeline_keys(const cw_pipeline_t *pl);
/* The delivery scheduler attached, or NULL when the node has no routes
 * (borrowed). Loop thread. */
cw_egress_t *cw_pipeline_egress(const cw_pipeline_t *pl);

/* Tells the delivery scheduler that new work is due (after an admin retry). */
void cw_pipeline_kick(cw_pipeline_t *pl);

/* The config snapshot deliveries use (a reference is taken). Loop thread. */
void cw_pipeline_config_set(cw_pipeline_t *pl, cw_config_t *cfg);

/*
 * The egress deliver callback (arg is the pipeline): POSTs the sealed
 * envelope to the route of job->to with the route's TLS material, verifies
 * the receiver's signed receipt on a worker thread, and reports the outcome:
 * delivered (positive receipt for exactly what was sent), failed (negative
 * receipt or another 4xx), or retry (5xx, timeout, refused, missing or bad
 * receipt). Loop thread.
 */
void cw_pipeline_deliver(cw_egress_job_t *job, void *arg);

/* ==== Adapters ==== */

/* The adapter instances of a config: each partner's inbound adapter and
 * each route's output adapter; immutable, reference counted. */
typedef struct cw_pipeline_adapters cw_pipeline_adapters_t;

/* Builds them (reads catalogues and compiles stylesheets: start-up or a
 * worker). Returns 0 or a CW_E* with err. */
CW_MUST_CHECK int
cw_pipeline_adapters_load(cw_pipeline_adapters_t **out, const cw_config_t *cfg, cw_error_t *err);
cw_pipeline_adapters_t *cw_pipeline_adapters_ref(cw_pipeline_adapters_t *set);
void cw_pipeline_adapters_unref(cw_pipeline_adapters_t *set);
/* Used for new work from now on (a reference is taken). Loop thread. */
void cw_pipeline_adapters_set(cw_pipeline_t *pl, cw_pipeline_adapters_t *set);

/*
 * The answer to an inbound document: http_status 200 with the JSON list of
 * consignments and item errors, or http_status 0 and error (a whole-input
 * failure the caller maps to 4xx). Borrowed for the call.
 */
typedef void (*cw_inbound_done_cb)(
    int http_status, const char *json, size_t json_len, const char *error, void *arg);

/*
 * Translates a partner's native document with its adapter, assesses each
 * consignment, seals it on the partner's behalf and commits everything
 * (the original once, as evidence); done runs on the loop thread after the
 * commit. partner is the TLS client's party and must have adapter
 * configured (else CW_EPERM, synchronously). body must stay valid until
 * done. An input holds about 9 KB per consignment while it is processed
 * (bench/README.md, "A manifest's puts in a window"), so at most one input per CPU worker
 * (<workers>) runs at a time and the others wait, in order, holding only
 * their body; at most four per worker wait, and past that a new input is
 * refused with CW_EBUSY (nothing of it taken).
 * Loop thread.
 */
CW_MUST_CHECK int cw_pipeline_inbound_submit(cw_pipeline_t *pl,
                                             const cw_config_t *cfg,
                                             const char *partner,
                                             const char *adapter,
                                             const char *body,
                                             size_t len,
                                             const char *media_type,
                                             cw_inbound_done_cb done,
                                             void *arg);

/* ==== Intake: a signed envelope in, a signed receipt out ==== */

/* What to answer the sender. */
typedef struct cw_intake_result {
    int status;     /* HTTP status */
    int is_receipt; /* body is a signed receipt (application/xml) */
    char *body;     /* receipt bytes, owned (cw_free); NULL for a problem */
    size_t body_len;
    cw_sec_problem_e problem; /* CW_SEC_PROBLEM_NONE when accepted */
    char detail[256];         /* one line for the problem document or the log */
    char from[128];           /* the authenticated sender, or "" */
    char message_id[128];     /* its MessageId, or "" */
    /* Filled for an authenticated sender (accepted or refused): */
    cw_msg_header_t hdr;      /* the verified header */
    unsigned char digest[32]; /* SHA-256 of the envelope's exclusive C14N form */
    /* Filled for an accepted message addressed to another party: */
    char *outgoing; /* the sealed envelope to deliver, owned (cw_free); NULL: ends here */
    size_t outgoing_len;
    char outgoing_id[CW_MSG_ID_MAX];   /* its MessageId (From = this node) */
    unsigned char outgoing_digest[32]; /* its cw_sec_doc_sha256: what its receipt names */
    size_t outgoing_evidence_at;       /* where the received bytes' base64 begins in it, or 0 */
    /* Set when the answer is a problem of the HTTP layer rather than of the
     * message (the store failing: 503 with Retry-After). */
    int unavailable;   /* 1: answer 503 unavailable */
    int retry_after_s; /* Retry-After for it */
} cw_intake_result_t;

/* Runs on the loop thread; res is borrowed for the call (take body to keep it). */
typedef void (*cw_intake_done_cb)(cw_intake_result_t *res, void *arg);

/*
 * Parses, verifies, routes and seals one envelope on a worker thread, then
 * (for an authenticated sender) commits it to the store, and calls done on
 * the loop thread only once the commit is durable: a 200 is a promise.
 * A duplicate (same From, MessageId and digest) gets the original receipt;
 * the same (From, MessageId) with other content gets 409. body (len bytes) and cfg are borrowed and
 * must stay valid until done runs; peer_party is the TLS client's party or NULL. Returns 0, or
 * CW_ENOMEM / CW_ESYS (done will not run). Loop thread.
 */
CW_MUST_CHECK int cw_pipeline_intake_submit(cw_pipeline_t *pl,
                                            const cw_config_t *cfg,
                                            const char *body,
                                            size_t len,
                                            const char *peer_party,
                                            cw_intake_done_cb done,
                                            void *arg);

#endif /* CW_PIPELINE_H */
