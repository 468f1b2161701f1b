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

#include "config.h"
#include "msg.h"
#include "sec.h"
#include "util.h"

/*
 * Sizes libuv's threadpool to workers threads (0: one per core) plus room
 * for file-system work. Must run before the first uv_queue_work in the
 * process; returns the number of CPU workers chosen. Main thread only.
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
    char outgoing_id[128]; /* its MessageId (From = this node) */
} cw_intake_result_t;

/* Runs on the loop thread; res is borrowed for the call (take body to keep it). */
typedef void (*cw_intake_done_cb)(cw_intake_result_t *res, void *arg);

/*
 * Parses, verifies and answers one envelope on a worker thread, then calls
 * done on the loop thread. body (len bytes) and cfg are borrowed and must
 * stay valid until done runs; peer_party is the TLS client's party or NULL.
 * Returns 0, or CW_ENOMEM / CW_ESYS (done will not run). Loop thread.
 */
CW_MUST_CHECK int cw_pipeline_intake_submit(cw_pipeline_t *pl,
                                            const cw_config_t *cfg,
                                            const char *body,
                                            size_t len,
                                            const char *peer_party,
                                            cw_intake_done_cb done,
                                            void *arg);

#endif /* CW_PIPELINE_H */
