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

#endif /* CW_PIPELINE_H */
