/*
 * The backend-independent front of the store: argument checks, deep copies
 * of the inputs into a request, dispatch through the ops table, and the
 * completion queue that brings every result back to the loop thread through
 * one uv_async_t (STYLE.md rule 36). Many completions coalesce into one
 * wake-up: the async callback drains the whole queue.
 */
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"

/* Pool block size of one request: most inputs and results fit in one block. */
#define REQ_POOL_BYTES     4096u
#define PURGE_BATCH_MAX    10000u
#define LIST_LIMIT_DEFAULT 100u
#define GROUP_MAX_LIMIT    4096u

/* ==== Names and clock ==== */

static const char *const state_names[CW_STORE_STATE_COUNT] = {
    "received", "queued", "delivered", "failed", "rejected",
};

const char *cw_store_state_name(cw_store_state_e state)
{
    if ((unsigned)state >= CW_STORE_STATE_COUNT) {
        return "unknown";
    }
    return state_names[state];
}

int cw_store_state_parse(const char *name, cw_store_state_e *out)
{
    size_t i;

    for (i = 0; name != NULL && i < CW_STORE_STATE_COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (cw_store_state_e)i;
            return 0;
        }
    }
    return CW_EINVAL;
}

int64_t cw_store_clock_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return 0;
    }
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ==== Completion on the loop thread ==== */

void cw_store__req_done(cw_store_t *store, cw_store_req_t *req)
{
    req->t_answered = cw_time_mono_ns();
    req->next = NULL;
    uv_mutex_lock(&store->done_lock);
    if (store->done_tail != NULL) {
        store->done_tail->next = req;
    } else {
        store->done_head = req;
    }
    store->done_tail = req;
    uv_mutex_unlock(&store->done_lock);
    (void)uv_async_send(&store->done_async);
}

void cw_store__backend_closed(cw_store_t *store)
{
    uv_mutex_lock(&store->done_lock);
    store->backend_closed = 1;
    uv_mutex_unlock(&store->done_lock);
    (void)uv_async_send(&store->done_async);
}

static void req_free(cw_store_req_t *req)
{
    /* The request itself lives in its pool. */
    cw_pool_free(req->pool);
}

static void req_callback(cw_store_req_t *req)
{
    int ok = req->status == 0;

    switch (req->kind) {
    case CW_STORE_REQ_PUT:
        req->cb.put(req->status, ok ? &req->out.put : NULL, req->arg);
        break;
    case CW_STORE_REQ_GET:
        req->cb.get(req->status, ok ? &req->out.get : NULL, req->arg);
        break;
    case CW_STORE_REQ_LIST:
        req->cb.list(req->status, ok ? &req->out.list : NULL, req->arg);
        break;
    case CW_STORE_REQ_RETRY:
    case CW_STORE_REQ_RECORD:
        req->cb.done(req->status, req->arg);
        break;
    case CW_STORE_REQ_PURGE:
        req->cb.purge(req->status, req->out.purged, req->arg);
        break;
    case CW_STORE_REQ_CLAIM:
        req->cb.claim(req->status, ok ? &req->out.claim : NULL, req->arg);
        break;
    case CW_STORE_REQ_FACTS:
        req->cb.facts(req->status, ok ? &req->out.facts : NULL, req->arg);
        break;
    case CW_STORE_REQ_STATS:
        req->cb.stats(req->status, ok ? &req->out.stats : NULL, req->arg);
        break;
    case CW_STORE_REQ_COUNT:
        req->cb.count(req->status, ok ? &req->out.counts : NULL, req->arg);
        break;
    }
}

static void on_store_handle_close(uv_handle_t *handle)
{
    cw_store_t *store = cw_container_of((uv_async_t *)handle, cw_store_t, done_async);
    cw_store_close_cb cb = store->close_cb;
    void *arg = store->close_arg;

    store->ops->release(store);
    uv_mutex_destroy(&store->done_lock);
    cw_free(store);
    if (cb != NULL) {
        cb(arg);
    }
}

const char *cw_store_part_name(cw_store_part_e part)
{
    static const char *const names[CW_STORE_PARTS] = {
        [CW_STORE_PART_QUEUE] = "queue",
        [CW_STORE_PART_WRITE] = "write",
        [CW_STORE_PART_FLUSH] = "flush",
        [CW_STORE_PART_HANDBACK] = "handback",
    };

    return (unsigned)part < CW_STORE_PARTS ? names[part] : NULL;
}

static void part_record(cw_store_t *store, cw_store_part_e part, uint64_t from, uint64_t to)
{
    uint64_t ns = to > from ? to - from : 0;

    atomic_fetch_add_explicit(&store->n_part_at[part][cw_store__sync_bucket(ns)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&store->n_part_ns[part], ns, memory_order_relaxed);
}

/* A write the SQLite writer committed: its time in the store, by part. */
static void parts_record(cw_store_t *store, const cw_store_req_t *req, uint64_t now)
{
    if (!cw_store__req_is_write(req) || req->t_taken == 0 || req->t_written == 0) {
        return;
    }
    part_record(store, CW_STORE_PART_QUEUE, req->t_submit, req->t_taken);
    part_record(store, CW_STORE_PART_WRITE, req->t_taken, req->t_written);
    part_record(store, CW_STORE_PART_FLUSH, req->t_written, req->t_answered);
    part_record(store, CW_STORE_PART_HANDBACK, req->t_answered, now);
    atomic_fetch_add_explicit(&store->n_part, 1, memory_order_relaxed);
}

static void on_done_async(uv_async_t *handle)
{
    cw_store_t *store = cw_container_of(handle, cw_store_t, done_async);
    cw_store_req_t *list;
    cw_store_req_t *req;
    int closed;

    uv_mutex_lock(&store->done_lock);
    list = store->done_head;
    store->done_head = NULL;
    store->done_tail = NULL;
    closed = store->backend_closed;
    uv_mutex_unlock(&store->done_lock);

    while ((req = list) != NULL) {
        list = req->next;
        parts_record(store, req, cw_time_mono_ns());
        req_callback(req);
        req_free(req);
    }
    /* The backend reports closed only after its last request, and both were
     * queued under the lock in that order, so nothing is left behind. */
    if (closed && store->handle_open) {
        store->handle_open = 0;
        uv_close((uv_handle_t *)&store->done_async, on_store_handle_close);
    }
}

/* ==== Shared by the backends ==== */

const char *cw_store__outcome_name(cw_store_outcome_e outcome)
{
    switch (outcome) {
    case CW_STORE_OUTCOME_DELIVERED:
        return "delivered";
    case CW_STORE_OUTCOME_RETRY:
        return "retry";
    case CW_STORE_OUTCOME_FAILED:
        return "failed";
    case CW_STORE_OUTCOME_RETRY_LOCAL:
        return "local";
    }
    return "unknown";
}

void cw_store__states_csv(uint32_t mask, char *out, size_t size)
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

int cw_store__outgoing_whole(cw_pool_t *pool,
                             int64_t id,
                             const char *kept,
                             size_t kept_len,
                             int64_t at,
                             const void *raw,
                             size_t raw_len,
                             const char **out,
                             size_t *out_len)
{
    size_t n;
    char *whole;

    *out = NULL;
    *out_len = 0;
    if (kept == NULL || raw == NULL || raw_len == 0 || at <= 0 || (uint64_t)at > kept_len
        || raw_len > (SIZE_MAX - kept_len) / 2) {
        CW_LOG_ERROR(CW_STORE_MOD, "delivery %lld: its envelope's evidence cannot be restored",
                     (long long)id);
        return 0;
    }
    n = CW_BASE64_LEN(raw_len);
    whole = cw_pool_alloc(pool, kept_len + n);
    if (whole == NULL) {
        return CW_ENOMEM;
    }
    memcpy(whole, kept, (size_t)at);
    (void)cw_base64_encode(whole + at, raw, raw_len);
    memcpy(whole + at + n, kept + at, kept_len - (size_t)at);
    *out = whole;
    *out_len = kept_len + n;
    return 0;
}

/* ==== Open, close, stats ==== */

int cw_store_path_is_postgres(const char *path)
{
    return cw_store__pg_is_url(path);
}

int cw_store_open(cw_store_t **out,
                  uv_loop_t *loop,
                  const cw_store_options_t *opts,
                  cw_error_t *err)
{
    cw_store_t *store = NULL;
    const char *fault;
    int backend_open = 0;
    int lock_init = 0;
    int rc = 0;

    *out = NULL;
    if (opts == NULL || opts->path == NULL || opts->path[0] == '\0' || opts->group_max == 0
        || opts->group_max > GROUP_MAX_LIMIT) {
        rc = cw_error_set(err, CW_EINVAL, CW_STORE_MOD, "store: path and group_max 1..%u needed",
                          GROUP_MAX_LIMIT);
        goto out;
    }
    store = cw_calloc(1, sizeof(*store));
    CW_CHECK_ALLOC(store);
    store->loop = loop;
    store->ops = cw_store__pg_is_url(opts->path) ? &cw_store__pg_ops : &cw_store__sqlite_ops;
    fault = getenv("CW_STORE_FAULT");
    if (fault != NULL && strcmp(fault, "commit-fail") == 0) {
        atomic_store(&store->fault, CW_STORE_FAULT_COMMIT_FAIL);
    } else if (fault != NULL && strcmp(fault, "read-fail") == 0) {
        atomic_store(&store->fault, CW_STORE_FAULT_READ_FAIL);
    } else if (fault != NULL && strcmp(fault, "sync-fail") == 0) {
        atomic_store(&store->fault, CW_STORE_FAULT_SYNC_FAIL);
    } else if (fault != NULL && strcmp(fault, "checkpoint-fail") == 0) {
        atomic_store(&store->fault, CW_STORE_FAULT_CKPT_FAIL);
    } else if (fault != NULL && strcmp(fault, "commit-hang") == 0) {
        atomic_store(&store->fault, CW_STORE_FAULT_COMMIT_HANG);
    }
    if (uv_mutex_init(&store->done_lock) != 0) {
        rc = cw_error_set(err, CW_ESYS, CW_STORE_MOD, "store: uv_mutex_init failed");
        goto out;
    }
    lock_init = 1;
    CW_TRY(store->ops->open(store, opts, err));
    backend_open = 1;
    if (uv_async_init(loop, &store->done_async, on_done_async) != 0) {
        rc = cw_error_set(err, CW_ESYS, CW_STORE_MOD, "store: uv_async_init failed");
        goto out;
    }
    store->handle_open = 1;
    rc = store->ops->start(store);
    if (rc < 0) {
        (void)cw_error_set(err, rc, CW_STORE_MOD, "store: cannot start the %s writer",
                           store->ops->name);
        /* The handle must be closed through the loop; its close callback
         * releases the backend and the store. */
        store->handle_open = 0;
        uv_close((uv_handle_t *)&store->done_async, on_store_handle_close);
        store = NULL;
        goto out;
    }
    *out = store;
    store = NULL;
out:
    if (store != NULL) {
        if (backend_open) {
            store->ops->release(store);
        }
        if (lock_init) {
            uv_mutex_destroy(&store->done_lock);
        }
        cw_free(store);
    }
    return rc;
}

void cw_store_close(cw_store_t *store, cw_store_close_cb cb, void *arg)
{
    if (store == NULL) {
        return;
    }
    if (CW_NEVER(store->closing)) {
        return;
    }
    store->closing = 1;
    store->close_cb = cb;
    store->close_arg = arg;
    store->ops->close(store);
}

void cw_store_stats_get(cw_store_t *store, cw_store_stats_t *out)
{
    out->transactions = atomic_load(&store->n_tx);
    out->writes = atomic_load(&store->n_writes);
    out->reads = atomic_load(&store->n_reads);
    out->commit_failures = atomic_load(&store->n_failed);
    out->broken = atomic_load(&store->broken);
    out->unreachable = atomic_load(&store->unreachable);
    out->group_max_seen = atomic_load(&store->n_group);
    out->pending = atomic_load(&store->n_pending);
    out->checkpoints = atomic_load(&store->n_ckpt);
    out->pages_written = atomic_load(&store->n_pages);
    out->exec_ns = atomic_load(&store->n_exec_ns);
    out->commit_ns = atomic_load(&store->n_sync_ns);
    out->checkpoint_ns = atomic_load(&store->n_ckpt_ns);
    out->transactions_beside_checkpoint = atomic_load(&store->n_tx_ckpt);
    out->commit_beside_checkpoint_ns = atomic_load(&store->n_sync_ckpt_ns);
    cw_store__sync_stats(out);
    out->part_count = atomic_load(&store->n_part);
    for (size_t k = 0; k < CW_STORE_PARTS; k++) {
        out->part_ns[k] = atomic_load(&store->n_part_ns[k]);
        for (size_t i = 0; i < CW_STORE_SYNC_BUCKETS; i++) {
            out->part_buckets[k][i] = atomic_load(&store->n_part_at[k][i]);
        }
    }
}

void cw_store_fault_set(cw_store_t *store, cw_store_fault_e fault)
{
    atomic_store(&store->fault, (int)fault);
}

/* ==== Request construction ==== */

static int req_new(cw_store_req_t **out, cw_store_t *store, cw_store_req_kind_e kind)
{
    cw_pool_t *pool = NULL;
    cw_store_req_t *req;
    int rc = 0;

    *out = NULL;
    if (store->closing) {
        rc = CW_ECLOSED;
        goto out;
    }
    pool = cw_pool_new(REQ_POOL_BYTES);
    CW_CHECK_ALLOC(pool);
    req = cw_pool_alloc(pool, sizeof(*req));
    CW_CHECK_ALLOC(req);
    req->pool = pool;
    req->kind = kind;
    *out = req;
    pool = NULL;
out:
    cw_pool_free(pool);
    return rc;
}

/* Copies an optional string into the pool; NULL stays NULL. */
static int pool_str(cw_pool_t *pool, const char **dst, const char *src)
{
    if (src == NULL) {
        *dst = NULL;
        return 0;
    }
    *dst = cw_pool_strndup(pool, src, strlen(src));
    return *dst == NULL ? CW_ENOMEM : 0;
}

static int pool_bytes(cw_pool_t *pool, const char **dst, const char *src, size_t len)
{
    char *p;

    if (src == NULL || len == 0) {
        *dst = NULL;
        return 0;
    }
    p = cw_pool_alloc(pool, len);
    if (p == NULL) {
        return CW_ENOMEM;
    }
    memcpy(p, src, len);
    *dst = p;
    return 0;
}

/*
 * Whether the base64 of received (len bytes, n characters) can be where
 * msg says in outgoing: it fits, and its first and last four characters
 * are those of received's first and last bytes. The caller vouches for the
 * rest (intake writes it from the same bytes, seal.c), since checking it
 * all would cost the loop thread, which calls cw_store_msg_put, time in
 * proportion to the message (up to the body limit) for every one.
 */
static int evidence_fits(const cw_store_msg_t *msg, size_t at, size_t n)
{
    size_t len = msg->received_len;
    const char *b64;
    size_t last;

    if (at == 0 || msg->received == NULL || len == 0 || len > SIZE_MAX / 2 || at > msg->outgoing_len
        || n > msg->outgoing_len - at) {
        return 0;
    }
    b64 = msg->outgoing + at;
    last = len - 3 * ((len - 1) / 3); /* the bytes of the last quad: 1 to 3 */
    return cw_base64_is(b64, 4, msg->received, len < 3 ? len : 3)
           && cw_base64_is(b64 + n - 4, 4, msg->received + len - last, last);
}

/*
 * Copies msg's outgoing into the pool as m's. When msg says where the
 * base64 of its received bytes begins in it (evidence_fits), the copy
 * leaves them out and m->outgoing_evidence_at keeps the place: the row
 * holds them once, as received, and a claim writes them back. Otherwise
 * (a wrong offset that evidence_fits sees included) the envelope is kept
 * whole.
 */
static int outgoing_copy(cw_pool_t *p, cw_store_msg_t *m, const cw_store_msg_t *msg)
{
    size_t at = msg->outgoing_evidence_at;
    size_t n = CW_BASE64_LEN(msg->received_len);
    char *dst;

    m->outgoing_evidence_at = 0;
    if (!evidence_fits(msg, at, n)) {
        return pool_bytes(p, &m->outgoing, msg->outgoing, msg->outgoing_len);
    }
    dst = cw_pool_alloc(p, msg->outgoing_len - n);
    if (dst == NULL) {
        return CW_ENOMEM;
    }
    memcpy(dst, msg->outgoing, at);
    memcpy(dst + at, msg->outgoing + at + n, msg->outgoing_len - at - n);
    m->outgoing = dst;
    m->outgoing_len = msg->outgoing_len - n;
    m->outgoing_evidence_at = at;
    return 0;
}

static void req_submit(cw_store_t *store, cw_store_req_t *req)
{
    atomic_fetch_add(&store->n_pending, 1);
    req->t_submit = cw_time_mono_ns();
    store->ops->submit(store, req);
}

static int msg_valid(const cw_store_msg_t *m)
{
    if (m->from == NULL || m->from[0] == '\0' || m->message_id == NULL
        || m->message_id[0] == '\0') {
        return 0;
    }
    switch (m->state) {
    case CW_STORE_STATE_RECEIVED:
        return m->route == NULL;
    case CW_STORE_STATE_QUEUED:
        return m->route != NULL && m->route[0] != '\0' && m->outgoing != NULL
               && m->outgoing_len > 0;
    case CW_STORE_STATE_REJECTED:
        return m->problem != NULL && m->problem[0] != '\0' && m->route == NULL;
    case CW_STORE_STATE_DELIVERED:
    case CW_STORE_STATE_FAILED:
        return 0;
    }
    return 0;
}

/* Copies every string of f (already a shallow copy) into the pool. */
static int fact_copy(cw_pool_t *p, cw_store_fact_t *f)
{
    const char **strs[] = { &f->consignment_id, &f->sender,        &f->buyer_key,
                            &f->seller_key,     &f->business_key,  &f->content_digest,
                            &f->order_number,   &f->transport_doc, &f->destination,
                            &f->currency,       &f->lane,          &f->codes,
                            &f->collection };
    size_t i;
    int rc = 0;

    for (i = 0; i < CW_ARRAY_SIZE(strs); i++) {
        CW_TRY(pool_str(p, strs[i], *strs[i]));
    }
out:
    return rc;
}

int cw_store_facts_query(cw_store_t *store,
                         const cw_store_facts_query_t *query,
                         cw_store_facts_cb cb,
                         void *arg)
{
    cw_store_req_t *req = NULL;
    cw_store_facts_query_t *q;
    int rc = 0;

    if (cb == NULL || query == NULL || query->bands_len > CW_STORE_BANDS_MAX) {
        return CW_EINVAL;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_FACTS));
    q = &req->in.facts;
    *q = *query;
    CW_TRY(pool_str(req->pool, &q->buyer_key, query->buyer_key));
    CW_TRY(pool_str(req->pool, &q->seller_key, query->seller_key));
    CW_TRY(pool_str(req->pool, &q->business_key, query->business_key));
    CW_TRY(pool_str(req->pool, &q->order_number, query->order_number));
    CW_TRY(pool_str(req->pool, &q->destination, query->destination));
    CW_TRY(pool_str(req->pool, &q->currency, query->currency));
    CW_TRY(pool_str(req->pool, &q->consignment_id, query->consignment_id));
    CW_TRY(pool_str(req->pool, &q->transport_doc, query->transport_doc));
    req->cb.facts = cb;
    req->arg = arg;
    req_submit(store, req);
    req = NULL;
out:
    if (req != NULL) {
        req_free(req);
    }
    return rc;
}

int cw_store_facts_query_here(cw_store_t *store,
                              const cw_store_facts_query_t *query,
                              cw_pool_t *pool,
                              cw_store_facts_t *out)
{
    if (store == NULL || query == NULL || pool == NULL || out == NULL
        || query->bands_len > CW_STORE_BANDS_MAX) {
        return CW_EINVAL;
    }
    if (store->ops->facts_here == NULL) {
        return CW_EINTERNAL;
    }
    atomic_fetch_add(&store->n_reads, 1);
    return store->ops->facts_here(store, query, pool, out);
}

int cw_store_stats_query(cw_store_t *store,
                         const cw_store_stats_query_t *query,
                         cw_store_stats_cb cb,
                         void *arg)
{
    cw_store_req_t *req = NULL;
    int rc = 0;

    if (cb == NULL || query == NULL || (unsigned)query->group_by > CW_STORE_GROUP_COLLECTION) {
        return CW_EINVAL;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_STATS));
    req->in.stats = *query;
    req->cb.stats = cb;
    req->arg = arg;
    req_submit(store, req);
    req = NULL;
out:
    if (req != NULL) {
        req_free(req);
    }
    return rc;
}

int cw_store_msg_put(cw_store_t *store, const cw_store_msg_t *msg, cw_store_put_cb cb, void *arg)
{
    cw_store_req_t *req = NULL;
    cw_store_msg_t *m;
    cw_pool_t *p;
    int rc = 0;

    if (cb == NULL || !msg_valid(msg)) {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_PUT));
    p = req->pool;
    m = &req->in.put;
    *m = *msg;
    CW_TRY(pool_str(p, &m->from, msg->from));
    CW_TRY(pool_str(p, &m->message_id, msg->message_id));
    CW_TRY(pool_str(p, &m->to, msg->to));
    CW_TRY(pool_str(p, &m->service, msg->service));
    CW_TRY(pool_str(p, &m->action, msg->action));
    CW_TRY(pool_str(p, &m->conversation_id, msg->conversation_id));
    CW_TRY(pool_str(p, &m->timestamp, msg->timestamp));
    CW_TRY(pool_str(p, &m->problem, msg->problem));
    CW_TRY(pool_str(p, &m->route, msg->route));
    CW_TRY(pool_bytes(p, &m->received, msg->received, msg->received_len));
    CW_TRY(pool_bytes(p, &m->receipt, msg->receipt, msg->receipt_len));
    CW_TRY(outgoing_copy(p, m, msg));
    CW_TRY(pool_str(p, &m->outgoing_id, msg->outgoing_id));
    {
        const char *digest = NULL;

        CW_TRY(pool_bytes(p, &digest, (const char *)msg->outgoing_digest,
                          msg->outgoing_digest != NULL ? 32 : 0));
        m->outgoing_digest = (const unsigned char *)digest;
    }
    if (msg->fact != NULL) {
        cw_store_fact_t *f = cw_pool_alloc(p, sizeof(*f));

        CW_CHECK_ALLOC(f);
        *f = *msg->fact;
        CW_TRY(fact_copy(p, f));
        m->fact = f;
    }
    req->cb.put = cb;
    req->arg = arg;
    req_submit(store, req);
    req = NULL;
out:
    if (req != NULL) {
        req_free(req);
    }
    return rc;
}

static int key_req(cw_store_req_t **out,
                   cw_store_t *store,
                   cw_store_req_kind_e kind,
                   const char *from,
                   const char *message_id)
{
    cw_store_req_t *req = NULL;
    int rc = 0;

    *out = NULL;
    if (from == NULL || message_id == NULL || from[0] == '\0' || message_id[0] == '\0') {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(req_new(&req, store, kind));
    CW_TRY(pool_str(req->pool, &req->in.key.from, from));
    CW_TRY(pool_str(req->pool, &req->in.key.message_id, message_id));
    *out = req;
    req = NULL;
out:
    if (req != NULL) {
        req_free(req);
    }
    return rc;
}

int cw_store_msg_get(
    cw_store_t *store, const char *from, const char *message_id, cw_store_get_cb cb, void *arg)
{
    cw_store_req_t *req = NULL;
    int rc = 0;

    if (cb == NULL) {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(key_req(&req, store, CW_STORE_REQ_GET, from, message_id));
    req->cb.get = cb;
    req->arg = arg;
    req_submit(store, req);
out:
    return rc;
}

int cw_store_msg_retry(cw_store_t *store,
                       const char *from,
                       const char *message_id,
                       int64_t now_ms,
                       cw_store_done_cb cb,
                       void *arg)
{
    cw_store_req_t *req = NULL;
    int rc = 0;

    if (cb == NULL) {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(key_req(&req, store, CW_STORE_REQ_RETRY, from, message_id));
    req->in.key.now_ms = now_ms;
    req->cb.done = cb;
    req->arg = arg;
    req_submit(store, req);
out:
    return rc;
}

/*
 * The cursor is "r<row>": the list is keyset-paged on the row id, newest
 * first, so a page is stable while new messages arrive. Callers treat it as
 * opaque; the PostgreSQL backend may encode (created_at, id) instead.
 */
static int cursor_parse(const char *cursor, int64_t *row_out)
{
    uint64_t row;

    if (cursor == NULL || cursor[0] == '\0') {
        *row_out = INT64_MAX;
        return 0;
    }
    if (cursor[0] != 'r' || cw_parse_uint(cursor + 1, 1, INT64_MAX, &row) < 0) {
        return CW_EINVAL;
    }
    *row_out = (int64_t)row;
    return 0;
}

int cw_store_msg_list(cw_store_t *store,
                      const cw_store_filter_t *filter,
                      cw_store_list_cb cb,
                      void *arg)
{
    cw_store_req_t *req = NULL;
    int64_t cursor_row = 0;
    int rc = 0;

    if (cb == NULL || filter == NULL || filter->limit > CW_STORE_LIST_MAX
        || filter->states_mask >= (1u << CW_STORE_STATE_COUNT)
        || cursor_parse(filter->cursor, &cursor_row) < 0) {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_LIST));
    req->in.list.filter = *filter;
    if (req->in.list.filter.limit == 0) {
        req->in.list.filter.limit = LIST_LIMIT_DEFAULT;
    }
    req->in.list.filter.cursor = NULL;
    req->in.list.cursor_row = cursor_row;
    CW_TRY(pool_str(req->pool, &req->in.list.filter.to, filter->to));
    req->cb.list = cb;
    req->arg = arg;
    req_submit(store, req);
    req = NULL;
out:
    if (req != NULL) {
        req_free(req);
    }
    return rc;
}

int cw_store_msg_count(cw_store_t *store, cw_store_count_cb cb, void *arg)
{
    cw_store_req_t *req = NULL;
    int rc = 0;

    if (cb == NULL) {
        return CW_EINVAL;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_COUNT));
    req->cb.count = cb;
    req->arg = arg;
    req_submit(store, req);
out:
    return rc;
}

int cw_store_msg_purge(
    cw_store_t *store, int64_t before_ms, uint32_t batch_max, cw_store_purge_cb cb, void *arg)
{
    cw_store_req_t *req = NULL;
    int rc = 0;

    if (cb == NULL || batch_max == 0 || batch_max > PURGE_BATCH_MAX) {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_PURGE));
    req->in.purge.before_ms = before_ms;
    req->in.purge.batch_max = batch_max;
    req->cb.purge = cb;
    req->arg = arg;
    req_submit(store, req);
out:
    return rc;
}

int cw_store_delivery_claim(cw_store_t *store,
                            const cw_store_claim_t *claim,
                            cw_store_claim_cb cb,
                            void *arg)
{
    cw_store_req_t *req = NULL;
    int rc = 0;

    if (cb == NULL || claim == NULL || claim->owner == NULL || claim->owner[0] == '\0'
        || claim->limit == 0 || claim->limit > CW_STORE_LIST_MAX || claim->lease_ms <= 0) {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_CLAIM));
    req->in.claim = *claim;
    CW_TRY(pool_str(req->pool, &req->in.claim.owner, claim->owner));
    CW_TRY(pool_str(req->pool, &req->in.claim.route, claim->route));
    req->cb.claim = cb;
    req->arg = arg;
    req_submit(store, req);
    req = NULL;
out:
    if (req != NULL) {
        req_free(req);
    }
    return rc;
}

int cw_store_delivery_record(cw_store_t *store,
                             const cw_store_attempt_t *attempt,
                             cw_store_done_cb cb,
                             void *arg)
{
    cw_store_req_t *req = NULL;
    cw_store_attempt_t *a;
    int rc = 0;

    if (cb == NULL || attempt == NULL || attempt->owner == NULL || attempt->delivery_id <= 0
        || (unsigned)attempt->outcome > CW_STORE_OUTCOME_RETRY_LOCAL) {
        rc = CW_EINVAL;
        goto out;
    }
    CW_TRY(req_new(&req, store, CW_STORE_REQ_RECORD));
    a = &req->in.attempt;
    *a = *attempt;
    CW_TRY(pool_str(req->pool, &a->owner, attempt->owner));
    CW_TRY(pool_str(req->pool, &a->error, attempt->error));
    CW_TRY(pool_bytes(req->pool, &a->receipt, attempt->receipt, attempt->receipt_len));
    req->cb.done = cb;
    req->arg = arg;
    req_submit(store, req);
    req = NULL;
out:
    if (req != NULL) {
        req_free(req);
    }
    return rc;
}
