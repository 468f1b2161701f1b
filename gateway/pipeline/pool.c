/*
 * The worker pool: a thin, owned layer over uv_queue_work.
 */
#include <stdio.h>
#include <stdlib.h>

#include "pipeline.h"

/* Pool threads per CPU worker: intake work waits now and then (a page of
 * the ledger, an allocator lock, a vCPU the host took back), and a second
 * thread per worker keeps the core busy meanwhile. On the 2-core benchmark
 * VM, 6 threads against 4 gave 8 % more messages a second and 1-15 % less
 * CPU a message in five alternating pairs (bench/README.md, "More pool
 * threads"). */
#define POOL_THREADS_PER_WORKER 2u
/* Threads added to the pool beyond those, for libuv's own file system and
 * DNS work, so that they never queue behind signature work. */
#define POOL_EXTRA_THREADS 2u

#include "internal.h"

typedef struct cw_work {
    uv_work_t req;
    cw_pipeline_t *pl;
    cw_work_cb work;
    cw_work_done_cb done;
    void *arg;
} cw_work_t;

unsigned cw_pipeline_pool_size_set(unsigned workers)
{
    char value[16];

    if (workers == 0) {
        workers = uv_available_parallelism();
    }
    if (workers == 0) {
        workers = 1;
    }
    (void)snprintf(value, sizeof(value), "%u",
                   workers * POOL_THREADS_PER_WORKER + POOL_EXTRA_THREADS);
    /* libuv reads UV_THREADPOOL_SIZE once, when the first work is queued. */
    (void)setenv("UV_THREADPOOL_SIZE", value, 1);
    return workers;
}

cw_pipeline_t *cw_pipeline_new(uv_loop_t *loop)
{
    cw_pipeline_t *pl = cw_calloc(1, sizeof(*pl));

    if (pl != NULL) {
        pl->loop = loop;
    }
    return pl;
}

void cw_pipeline_free(cw_pipeline_t *pl)
{
    if (pl == NULL) {
        return;
    }
    cw_sec_keys_unref(pl->keys);
    cw_config_unref(pl->cfg);
    cw_checks_rules_unref(pl->rules);
    cw_pipeline_adapters_unref(pl->adapters);
    if (CW_NEVER(pl->in_flight != 0 || pl->inbound_waiting != 0)) {
        /* Freeing now would leave the done callbacks a dangling pointer. */
        CW_LOG_ERROR("pipeline",
                     "%zu job(s) still in flight, %zu input(s) waiting; leaking the pipeline",
                     pl->in_flight, pl->inbound_waiting);
        return;
    }
    cw_free(pl);
}

static void on_work(uv_work_t *req)
{
    static _Thread_local int named;
    cw_work_t *w = cw_container_of(req, cw_work_t, req);

    if (!named) {
        /* libuv's pool threads are anonymous: name one when it first
         * takes a job of ours. */
        cw_thread_name_set("cw-worker");
        named = 1;
    }
    w->work(w->arg);
}

static void on_after_work(uv_work_t *req, int status)
{
    cw_work_t *w = cw_container_of(req, cw_work_t, req);
    cw_work_done_cb done = w->done;
    void *arg = w->arg;

    w->pl->in_flight--;
    cw_free(w);
    done(status == UV_ECANCELED ? CW_ECLOSED : 0, arg);
}

int cw_pipeline_work_submit(cw_pipeline_t *pl, cw_work_cb work, cw_work_done_cb done, void *arg)
{
    cw_work_t *w = cw_calloc(1, sizeof(*w));

    if (w == NULL) {
        return CW_ENOMEM;
    }
    w->pl = pl;
    w->work = work;
    w->done = done;
    w->arg = arg;
    if (uv_queue_work(pl->loop, &w->req, on_work, on_after_work) != 0) {
        cw_free(w);
        return CW_ESYS;
    }
    pl->in_flight++;
    return 0;
}

size_t cw_pipeline_in_flight(const cw_pipeline_t *pl)
{
    return pl->in_flight;
}

size_t cw_pipeline_inbound_waiting(const cw_pipeline_t *pl)
{
    return pl->inbound_waiting;
}
