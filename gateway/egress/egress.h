/*
 * egress: the delivery scheduler. On the loop thread it claims due
 * deliveries from the store (leased, so a dead process's rows come back when
 * the lease expires), hands each one to the caller's deliver callback (libcurl
 * and receipt verification live there, not here), turns each outcome into a
 * store record (delivered, retry with exponential backoff and full jitter, or
 * dead letter past the route's limits), and keeps the number of deliveries in
 * flight per route within the route's concurrency.
 *
 * The schedule lives in the store, so a restart resumes it: nothing here is
 * durable state.
 */
#ifndef CW_EGRESS_H
#define CW_EGRESS_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "store.h"
#include "util.h"

/* Retry policy of one route (the lead maps config <route> onto it). */
typedef struct cw_egress_policy {
    uint32_t max_attempts;        /* attempts before dead letter, >= 1 */
    uint64_t max_age_ms;          /* dead letter when the next attempt would be later than
                                     first queued + this; 0: no age limit */
    uint64_t base_delay_ms;       /* backoff cap after the first failed attempt, >= 1 */
    uint64_t max_delay_ms;        /* backoff cap never exceeds this, >= base_delay_ms */
    uint32_t concurrency;         /* the most deliveries in flight on the route, 1..1000 */
    uint32_t initial_concurrency; /* the limit the route starts at, 1..concurrency; 0:
                                     concurrency (no ramp). See "The window" below */
    uint64_t attempt_ms_max;      /* the longest one attempt may wait for its peer (the
                                     route's connect + total timeouts); the route's claims
                                     are leased for at least this + CW_EGRESS_LEASE_MARGIN_MS.
                                     0: the options' lease_ms alone */
} cw_egress_policy_t;

#define CW_EGRESS_POLICY_INIT                                    \
    {                                                            \
        10, 24u * 3600u * 1000u, 1000, 5u * 60u * 1000u, 4, 0, 0 \
    }

/*
 * What a lease covers beyond the POST itself: the wait for a worker before
 * (an output adapter's translation) and after it (the receipt check), and
 * the record on the store's writer.
 */
#define CW_EGRESS_LEASE_MARGIN_MS (60u * 1000u)

/*
 * The window: how many deliveries a route may have in flight adapts to the
 * peer, additive increase and multiplicative decrease as in TCP's congestion
 * control (and Postfix's per-destination concurrency). It starts at
 * initial_concurrency, grows by one for each window's worth of delivered
 * attempts (1/limit per delivery) up to concurrency, and halves, to no less
 * than 1, when an attempt ends in a retry (5xx, timeout, refused connection,
 * bad receipt); the other failures of attempts claimed before that do not
 * halve it again. It grows only while at least half of it is in use, so a
 * quiet route does not reach concurrency without having needed it. A
 * refusal (4xx, negative receipt) or CW_EGRESS_RETRY_LOCAL leaves it as it
 * is. A retry with the window already at 1 also holds the route (nothing
 * claimed) for min(max_delay_ms, base_delay_ms * 2^holds): a peer that is
 * down gets one probe at a time, not every queued message in turn.
 */

typedef struct cw_egress_route {
    const char *name;          /* the route name stored with each delivery; copied */
    cw_egress_policy_t policy; /* its retry policy */
} cw_egress_route_t;

/* ==== Jobs ==== */

typedef struct cw_egress cw_egress_t;

/*
 * One delivery attempt handed to the deliver callback. The job and every
 * pointer in it are owned by egress and stay valid until the caller passes it
 * to cw_egress_job_done, after which it must not be touched.
 */
typedef struct cw_egress_job {
    int64_t delivery_id;           /* the store's delivery row */
    const char *from;              /* original sender of the message */
    const char *message_id;        /* its MessageId */
    const char *to;                /* destination party, "" when unknown */
    const char *route;             /* route name */
    const char *body;              /* the sealed envelope to POST */
    size_t body_len;               /* bytes in body */
    const char *body_id;           /* its MessageId, NULL when the store has none */
    unsigned char body_digest[32]; /* with body_id: what a receipt for body names */
    uint32_t attempt;              /* number of this attempt: 1 for the first */
    int64_t first_queued_at_ms;    /* start of the max-age clock */
    uint64_t claim_asked_ns;       /* cw_time_mono_ns() when its claim was asked for */
    uint64_t claimed_ns;           /* ... and when the claim came back */
    /* Private to egress. */
    cw_egress_t *egress;                  /* the scheduler that made it */
    size_t route_index;                   /* index of its route in the scheduler */
    uint32_t epoch;                       /* its route's window epoch when it was claimed */
    int done;                             /* cw_egress_job_done was called */
    struct cw_egress_job *in_flight_next; /* its route's jobs handed out, not yet done */
    struct cw_egress_job *in_flight_prev;
} cw_egress_job_t;

typedef enum cw_egress_outcome_e {
    CW_EGRESS_DELIVERED = 0,   /* 2xx and the receiver's signed receipt verified */
    CW_EGRESS_RETRY = 1,       /* 5xx, timeout, refused, missing or invalid receipt */
    CW_EGRESS_FAILED = 2,      /* negative receipt or another 4xx: dead letter now */
    CW_EGRESS_RETRY_LOCAL = 3, /* the failure was this node's, not the peer's (out of
                                  memory, a queue full, no route after a reload, the
                                  node's own shutdown cancelling the request): retried
                                  after the backoff like RETRY, but the peer's window is
                                  left as it is and it never dead-letters (see
                                  cw_egress_job_done) */
} cw_egress_outcome_e;

/* Runs on the loop thread; must eventually call cw_egress_job_done(job, ...)
 * exactly once (it may do so before returning). */
typedef void (*cw_egress_deliver_cb)(cw_egress_job_t *job, void *arg);

/* Wall-clock milliseconds; tests substitute their own clock. */
typedef int64_t (*cw_egress_clock_cb)(void *arg);

/*
 * Reports the outcome of job. RETRY becomes a dead letter when the route's
 * max_attempts or max_age_ms is reached, else a retry after a full-jitter
 * backoff. RETRY_LOCAL is always a retry: the peer was not asked, so
 * neither limit applies to it, and the store records it without counting
 * it among the delivery's attempts (CW_STORE_OUTCOME_RETRY_LOCAL); the next
 * attempt that reaches the peer applies both. http_status is 0 when there was
 * no HTTP answer; error (borrowed, may be NULL) is the reason kept for the status API; receipt
 * (borrowed, receipt_len bytes) is the receiver's receipt for DELIVERED. The record is written
 * asynchronously; if it cannot be (store failing), the lease expires and the delivery is attempted
 * again (at-least-once; the receiver dedupes). Loop thread; never calls back synchronously.
 */
void cw_egress_job_done(cw_egress_job_t *job,
                        cw_egress_outcome_e outcome,
                        int http_status,
                        const char *error,
                        const char *receipt,
                        size_t receipt_len);

/* ==== The scheduler ==== */

typedef struct cw_egress_options {
    const char *owner;               /* lease owner; NULL: "<host>:<pid>:<start ms>" */
    const cw_egress_route_t *routes; /* the routes to deliver; copied */
    size_t route_count;              /* entries in routes, 1..256 */
    uint64_t poll_interval_ms;       /* how often due deliveries are looked for (1000) */
    uint64_t lease_ms;               /* claim lease, at least (300000); a route whose
                                        policy.attempt_ms_max needs more gets more */
    uint64_t seed;                   /* jitter PRNG seed; 0: from the clock */
    int start_paused;                /* 1: claim nothing until cw_egress_resume */
    cw_egress_deliver_cb deliver;    /* required */
    void *deliver_arg;               /* its argument */
    cw_egress_clock_cb clock;        /* NULL: cw_store_clock_ms */
    void *clock_arg;                 /* its argument */
} cw_egress_options_t;

#define CW_EGRESS_OPTIONS_INIT                                    \
    {                                                             \
        NULL, NULL, 0, 1000, 300000, 0, 0, NULL, NULL, NULL, NULL \
    }

/*
 * Creates a scheduler on loop that claims from store (borrowed; it must
 * outlive the scheduler) and starts polling (unless opts->start_paused).
 * Deliveries of routes not in opts->routes stay queued, visible in the status
 * API. Returns 0 and *out (owned by the caller, released by cw_egress_close),
 * or CW_EINVAL (bad policy: message in err) / CW_ENOMEM. Loop thread; never
 * calls back synchronously.
 */
CW_MUST_CHECK int cw_egress_new(cw_egress_t **out,
                                uv_loop_t *loop,
                                cw_store_t *store,
                                const cw_egress_options_t *opts,
                                cw_error_t *err);

typedef void (*cw_egress_close_cb)(void *arg);

/*
 * Stops claiming, waits for every job handed out to come back through
 * cw_egress_job_done and for every store operation to complete, then frees
 * the scheduler and calls cb (may be NULL) on the loop thread. Claims that
 * complete after this are not delivered: their leases expire. Call once.
 * Loop thread.
 */
void cw_egress_close(cw_egress_t *eg, cw_egress_close_cb cb, void *arg);

/*
 * Takes the routes of a reloaded configuration (copied): a route already
 * known by name gets the new policy in place (its window is clamped to the
 * new concurrency; initial_concurrency applies to new routes only), a new
 * one is added and claimed from at once, and a known route missing from
 * routes is no longer claimed from: its queued deliveries stay queued (and
 * are logged) until a later reload brings it back; its jobs in flight
 * finish. All or nothing: 0, or CW_EINVAL (a bad policy, more than 256
 * routes in all: message in err, nothing changed) / CW_ENOMEM. route_count
 * may be 0. Loop thread; never calls back synchronously.
 */
CW_MUST_CHECK int cw_egress_routes_set(cw_egress_t *eg,
                                       const cw_egress_route_t *routes,
                                       size_t route_count,
                                       cw_error_t *err);

/* Stops claiming new deliveries (those in flight finish). Loop thread. */
void cw_egress_pause(cw_egress_t *eg);
/* Claims again, at once. Loop thread. */
void cw_egress_resume(cw_egress_t *eg);
/* New work was queued: look for due deliveries now instead of at the next
 * poll. Cheap; call after every committed QUEUED put. Loop thread. */
void cw_egress_notify(cw_egress_t *eg);

typedef struct cw_egress_stats {
    uint64_t claimed;       /* deliveries claimed and handed out */
    uint64_t delivered;     /* recorded delivered */
    uint64_t retried;       /* recorded for a later retry */
    uint64_t dead_lettered; /* recorded failed (refused or past the limits) */
    uint64_t record_errors; /* records the store refused (stale lease, store failing) */
    uint64_t in_flight;     /* jobs handed out and not yet recorded */
} cw_egress_stats_t;

/* Copies the counters. Loop thread. */
void cw_egress_stats_get(const cw_egress_t *eg, cw_egress_stats_t *out);

/* One route's state and the outcomes of its attempts so far (this process). */
typedef struct cw_egress_route_stats {
    const char *route;      /* its name (borrowed from the scheduler) */
    uint32_t concurrency;   /* the most deliveries it may have in flight (configured) */
    uint32_t limit;         /* what the window allows now, 1..concurrency */
    uint32_t in_flight;     /* handed out and not yet answered */
    uint64_t delivered;     /* attempts that ended delivered (a receipt came back) */
    uint64_t retried;       /* attempts that ended with another attempt due later */
    uint64_t dead_lettered; /* attempts that ended failed (refused, or past the limits) */
} cw_egress_route_stats_t;

/* How many routes the scheduler has (those a reload removed included: their
 * counters stay). Loop thread. */
size_t cw_egress_route_count(const cw_egress_t *eg);
/* Copies route i's counters (i < cw_egress_route_count; the order of the
 * options' routes). Loop thread. */
void cw_egress_route_stats_get(const cw_egress_t *eg, size_t i, cw_egress_route_stats_t *out);
/* 1 while claiming is paused (the config's delivery paused, or
 * cw_egress_pause), else 0. Loop thread. */
int cw_egress_paused_get(const cw_egress_t *eg);

/*
 * The full-jitter backoff: a uniform delay in [0, min(max_delay_ms,
 * base_delay_ms * 2^failed_before)], where failed_before is the number of
 * attempts that failed before the one that just failed (0 after the first).
 * random is a uniformly distributed 64-bit value. Pure; any thread.
 */
uint64_t
cw_egress_backoff_ms(const cw_egress_policy_t *policy, uint32_t failed_before, uint64_t random);

#endif /* CW_EGRESS_H */
