/*
 * The delivery scheduler: one uv_timer_t on the loop that claims due
 * deliveries per route (never more than the route's free concurrency),
 * hands them to the deliver callback, and records each outcome in the store.
 *
 * Every state change goes through the store, so this file holds only
 * counters: a crash loses nothing but the leases, which expire (and, with
 * the SQLite backend, are released when the next process opens the file).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "egress.h"

#define EGRESS_MOD       "egress"
#define ROUTES_MAX       256u
#define CONCURRENCY_MAX  1000u
#define ROUTE_NAME_BYTES 128u
#define OWNER_BYTES      256u
#define ERROR_BYTES      512u
#define WINDOW_UNIT      1000u /* window_milli per delivery */

typedef struct egress_route {
    char name[ROUTE_NAME_BYTES]; /* route name */
    cw_egress_policy_t policy;   /* its retry policy */
    uint32_t in_flight;          /* jobs handed out and not yet done (on the wire) */
    uint32_t claim_limit;        /* rows asked for by the pending claim; 0: none pending */
    uint32_t window_milli;       /* the window, in thousandths of a delivery */
    uint32_t epoch;              /* bumped at each decrease of the window */
    uint32_t claim_epoch;        /* epoch when the pending claim was asked for */
    uint64_t claim_asked_ns;     /* cw_time_mono_ns() when the pending claim was asked for */
    int64_t hold_until_ms;       /* claim nothing before this (a peer that is down) */
    uint32_t holds;              /* holds in a row, for the doubling */
    uint64_t delivered;          /* attempts that ended delivered */
    uint64_t retried;            /* attempts that ended with a retry due later */
    uint64_t dead_lettered;      /* attempts that ended failed */
    size_t index;                /* its place in the scheduler's routes, for jobs */
    int removed;                 /* a reload dropped it: nothing more is claimed */
    cw_egress_job_t *jobs;       /* its jobs handed out and not yet done */
    cw_egress_t *egress;         /* owner (claim callbacks get the route) */
} egress_route_t;

struct cw_egress {
    uv_loop_t *loop;              /* the loop everything runs on */
    uv_timer_t timer;             /* poll and kick timer */
    cw_store_t *store;            /* borrowed */
    egress_route_t **routes;      /* owned array of owned routes; a route never moves,
                                     since a pending claim holds its address */
    size_t route_count;           /* entries in routes */
    char owner[OWNER_BYTES];      /* lease owner */
    uint64_t poll_interval_ms;    /* timer repeat */
    uint64_t lease_ms;            /* claim lease */
    uint64_t rng;                 /* splitmix64 state for the jitter */
    cw_egress_deliver_cb deliver; /* the caller's delivery */
    void *deliver_arg;            /* its argument */
    cw_egress_clock_cb clock;     /* wall clock */
    void *clock_arg;              /* its argument */
    int paused;                   /* claim nothing */
    int rescan;                   /* work arrived while a claim was pending */
    int closing;                  /* cw_egress_close was called */
    uint64_t store_ops;           /* store operations in flight */
    cw_egress_close_cb close_cb;  /* called after the timer closed */
    void *close_arg;              /* its argument */
    cw_egress_stats_t stats;      /* counters */
};

/* ==== Backoff ==== */

/* splitmix64: small, fast and good enough for spreading retries. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* min(max_delay_ms, base_delay_ms * 2^doublings), without overflow. */
static uint64_t backoff_cap_ms(const cw_egress_policy_t *policy, uint32_t doublings)
{
    uint64_t cap = policy->base_delay_ms;
    uint32_t i;

    /* Doubling stops at the maximum, which also keeps the shift from
     * overflowing after many attempts. */
    for (i = 0; i < doublings && cap < policy->max_delay_ms; i++) {
        cap = cap > UINT64_MAX / 2 ? UINT64_MAX : cap * 2;
    }
    return cap > policy->max_delay_ms ? policy->max_delay_ms : cap;
}

uint64_t
cw_egress_backoff_ms(const cw_egress_policy_t *policy, uint32_t failed_before, uint64_t random)
{
    uint64_t cap = backoff_cap_ms(policy, failed_before);

    if (cap == UINT64_MAX) {
        return random;
    }
    return random % (cap + 1);
}

/* ==== The window (egress.h) ==== */

static uint32_t window_limit(const egress_route_t *route)
{
    uint32_t n = route->window_milli / WINDOW_UNIT;

    return n < 1 ? 1 : n;
}

/* A delivered attempt (counted in in_flight still): one more in flight per
 * window's worth of them, while at least half of the window is in use. */
static void window_grow(egress_route_t *route)
{
    uint32_t max = route->policy.concurrency * WINDOW_UNIT;
    uint32_t w = route->window_milli;

    route->holds = 0;
    route->hold_until_ms = 0;
    if (2u * route->in_flight < window_limit(route)) {
        return;
    }
    w += WINDOW_UNIT * WINDOW_UNIT / w;
    route->window_milli = w > max ? max : w;
}

/*
 * An attempt to retry: half as many in flight, once per flight. One that
 * fails with the window already at 1 holds the whole route for
 * min(max_delay_ms, base_delay_ms * 2^holds): a peer that is down gets one
 * probe per hold, not every message of the backlog in turn.
 */
static void window_shrink(egress_route_t *route, const cw_egress_job_t *job, int64_t now_ms)
{
    uint64_t hold_ms;

    if (job->epoch != route->epoch) {
        return;
    }
    if (route->window_milli <= WINDOW_UNIT) {
        hold_ms = backoff_cap_ms(&route->policy, route->holds);
        /* The config allows an hour; anything near int64 would overflow. */
        if (hold_ms > (uint64_t)INT64_MAX / 4) {
            hold_ms = (uint64_t)INT64_MAX / 4;
        }
        route->hold_until_ms = now_ms + (int64_t)hold_ms;
        if (route->holds < UINT32_MAX) {
            route->holds++;
        }
        CW_LOG_WARN(EGRESS_MOD,
                    "route %s: failing one delivery at a time; no delivery for %" PRIu64 " ms",
                    route->name, hold_ms);
    }
    route->window_milli /= 2;
    if (route->window_milli < WINDOW_UNIT) {
        route->window_milli = WINDOW_UNIT;
    }
    route->epoch++;
}

/* ==== Policies and the timer ==== */

static int64_t default_clock(void *arg)
{
    (void)arg;
    return cw_store_clock_ms();
}

static void on_tick(uv_timer_t *timer);

static void kick(cw_egress_t *eg)
{
    if (eg->closing || eg->paused) {
        return;
    }
    (void)uv_timer_start(&eg->timer, on_tick, 0, eg->poll_interval_ms);
}

static int policy_check(const cw_egress_route_t *r, cw_error_t *err)
{
    const cw_egress_policy_t *p = &r->policy;

    if (r->name == NULL || r->name[0] == '\0' || strlen(r->name) >= ROUTE_NAME_BYTES) {
        return cw_error_set(err, CW_EINVAL, EGRESS_MOD, "egress: route name empty or too long");
    }
    if (p->max_attempts < 1 || p->base_delay_ms < 1 || p->max_delay_ms < p->base_delay_ms
        || p->concurrency < 1 || p->concurrency > CONCURRENCY_MAX) {
        return cw_error_set(err, CW_EINVAL, EGRESS_MOD,
                            "egress: route %s: need max_attempts >= 1, 1 <= base_delay_ms <= "
                            "max_delay_ms, concurrency 1..%u",
                            r->name, CONCURRENCY_MAX);
    }
    return 0;
}

/* ==== Routes ==== */

static void routes_free(cw_egress_t *eg)
{
    size_t i;

    for (i = 0; i < eg->route_count; i++) {
        cw_free(eg->routes[i]);
    }
    cw_free_null(eg->routes);
    eg->route_count = 0;
}

static egress_route_t *route_find(const cw_egress_t *eg, const char *name)
{
    size_t i;

    for (i = 0; i < eg->route_count; i++) {
        if (strcmp(eg->routes[i]->name, name) == 0) {
            return eg->routes[i];
        }
    }
    return NULL;
}

/* How many of routes the scheduler does not know yet. */
static size_t
routes_new_count(const cw_egress_t *eg, const cw_egress_route_t *routes, size_t route_count)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i < route_count; i++) {
        if (route_find(eg, routes[i].name) == NULL) {
            n++;
        }
    }
    return n;
}

/* A known route takes a reloaded policy: the window it has earned stays,
 * within the new concurrency. */
static void route_update(egress_route_t *route, const cw_egress_policy_t *policy)
{
    uint32_t max = policy->concurrency * WINDOW_UNIT;

    if (route->removed) {
        CW_LOG_INFO(EGRESS_MOD, "route %s is back: its queued deliveries are claimed again",
                    route->name);
    }
    route->removed = 0;
    route->policy = *policy;
    if (route->window_milli > max) {
        route->window_milli = max;
    }
}

static void route_init(egress_route_t *route, cw_egress_t *eg, const cw_egress_route_t *from)
{
    uint32_t start = from->policy.initial_concurrency;

    (void)cw_strlcpy(route->name, from->name, ROUTE_NAME_BYTES);
    route->policy = from->policy;
    route->egress = eg;
    if (start == 0 || start > from->policy.concurrency) {
        start = from->policy.concurrency;
    }
    route->window_milli = start * WINDOW_UNIT;
}

static int routes_name(const cw_egress_route_t *routes, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(routes[i].name, name) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Known routes that routes no longer names stop being claimed from. */
static void routes_mark_removed(cw_egress_t *eg, const cw_egress_route_t *routes, size_t n)
{
    size_t i;

    for (i = 0; i < eg->route_count; i++) {
        egress_route_t *route = eg->routes[i];

        if (!route->removed && !routes_name(routes, n, route->name)) {
            route->removed = 1;
            CW_LOG_WARN(EGRESS_MOD,
                        "route %s removed from the configuration: its queued deliveries stay "
                        "queued until a route to it comes back",
                        route->name);
        }
    }
}

/* cw_egress_routes_set without the kick (cw_egress_new has no timer yet). */
static int
routes_apply(cw_egress_t *eg, const cw_egress_route_t *routes, size_t route_count, cw_error_t *err)
{
    egress_route_t **grown = NULL;
    size_t added = 0;
    size_t i;
    size_t j;
    int rc = 0;

    for (i = 0; i < route_count; i++) {
        CW_TRY(policy_check(&routes[i], err));
        if (routes_name(routes, i, routes[i].name)) {
            rc = cw_error_set(err, CW_EINVAL, EGRESS_MOD, "egress: route %s given twice",
                              routes[i].name);
            goto out;
        }
    }
    added = routes_new_count(eg, routes, route_count);
    if (eg->route_count + added > ROUTES_MAX) {
        rc = cw_error_set(err, CW_EINVAL, EGRESS_MOD,
                          "egress: at most %u routes in all (removed ones included)", ROUTES_MAX);
        goto out;
    }
    /* Everything that can fail comes first, so that a failure changes nothing. */
    grown = cw_calloc(eg->route_count + added + 1, sizeof(*grown));
    CW_CHECK_ALLOC(grown);
    for (i = 0; i < added; i++) {
        grown[eg->route_count + i] = cw_calloc(1, sizeof(**grown));
        CW_CHECK_ALLOC(grown[eg->route_count + i]);
    }
    if (eg->route_count > 0) {
        memcpy(grown, eg->routes, eg->route_count * sizeof(*grown));
    }
    routes_mark_removed(eg, routes, route_count);
    j = eg->route_count;
    for (i = 0; i < route_count; i++) {
        egress_route_t *known = route_find(eg, routes[i].name);

        if (known != NULL) {
            route_update(known, &routes[i].policy);
        } else {
            route_init(grown[j], eg, &routes[i]);
            grown[j]->index = j;
            j++;
        }
    }
    cw_free(eg->routes);
    eg->routes = grown;
    eg->route_count = j;
    grown = NULL;
out:
    if (grown != NULL) {
        for (i = 0; i < added; i++) {
            cw_free(grown[eg->route_count + i]);
        }
        cw_free(grown);
    }
    return rc;
}

int cw_egress_routes_set(cw_egress_t *eg,
                         const cw_egress_route_t *routes,
                         size_t route_count,
                         cw_error_t *err)
{
    int rc = routes_apply(eg, routes, route_count, err);

    if (rc == 0) {
        kick(eg);
    }
    return rc;
}

/* ==== Lifecycle ==== */

int cw_egress_new(cw_egress_t **out,
                  uv_loop_t *loop,
                  cw_store_t *store,
                  const cw_egress_options_t *opts,
                  cw_error_t *err)
{
    cw_egress_t *eg = NULL;
    char host[128];
    int rc = 0;

    *out = NULL;
    if (opts->deliver == NULL || opts->route_count == 0 || opts->route_count > ROUTES_MAX
        || opts->poll_interval_ms == 0 || opts->lease_ms == 0) {
        rc = cw_error_set(err, CW_EINVAL, EGRESS_MOD,
                          "egress: deliver, 1..%u routes, poll interval and lease needed",
                          ROUTES_MAX);
        goto out;
    }
    eg = cw_calloc(1, sizeof(*eg));
    CW_CHECK_ALLOC(eg);
    CW_TRY(routes_apply(eg, opts->routes, opts->route_count, err));
    eg->loop = loop;
    eg->store = store;
    eg->poll_interval_ms = opts->poll_interval_ms;
    eg->lease_ms = opts->lease_ms;
    eg->deliver = opts->deliver;
    eg->deliver_arg = opts->deliver_arg;
    eg->clock = opts->clock != NULL ? opts->clock : default_clock;
    eg->clock_arg = opts->clock_arg;
    eg->paused = opts->start_paused;
    eg->rng = opts->seed != 0 ? opts->seed : cw_time_mono_ns() ^ (uint64_t)getpid();
    if (opts->owner != NULL) {
        (void)cw_strlcpy(eg->owner, opts->owner, sizeof(eg->owner));
    } else {
        if (gethostname(host, sizeof(host)) != 0) {
            (void)cw_strlcpy(host, "localhost", sizeof(host));
        }
        host[sizeof(host) - 1] = '\0';
        (void)snprintf(eg->owner, sizeof(eg->owner), "%s:%ld:%" PRId64, host, (long)getpid(),
                       eg->clock(eg->clock_arg));
    }
    if (uv_timer_init(loop, &eg->timer) != 0) {
        rc = cw_error_set(err, CW_ESYS, EGRESS_MOD, "egress: uv_timer_init failed");
        goto out;
    }
    if (!eg->paused) {
        (void)uv_timer_start(&eg->timer, on_tick, 0, eg->poll_interval_ms);
    }
    *out = eg;
    eg = NULL;
out:
    if (eg != NULL) {
        routes_free(eg);
        cw_free(eg);
    }
    return rc;
}

static void on_timer_close(uv_handle_t *handle)
{
    cw_egress_t *eg = cw_container_of((uv_timer_t *)handle, cw_egress_t, timer);
    cw_egress_close_cb cb = eg->close_cb;
    void *arg = eg->close_arg;

    routes_free(eg);
    cw_free(eg);
    if (cb != NULL) {
        cb(arg);
    }
}

static void maybe_finish_close(cw_egress_t *eg)
{
    if (!eg->closing || eg->store_ops > 0 || eg->stats.in_flight > 0
        || uv_is_closing((uv_handle_t *)&eg->timer)) {
        return;
    }
    uv_close((uv_handle_t *)&eg->timer, on_timer_close);
}

void cw_egress_close(cw_egress_t *eg, cw_egress_close_cb cb, void *arg)
{
    if (eg == NULL || CW_NEVER(eg->closing)) {
        return;
    }
    eg->closing = 1;
    eg->close_cb = cb;
    eg->close_arg = arg;
    (void)uv_timer_stop(&eg->timer);
    maybe_finish_close(eg);
}

void cw_egress_pause(cw_egress_t *eg)
{
    eg->paused = 1;
    (void)uv_timer_stop(&eg->timer);
}

void cw_egress_resume(cw_egress_t *eg)
{
    eg->paused = 0;
    kick(eg);
}

void cw_egress_notify(cw_egress_t *eg)
{
    size_t i;

    /* A claim in progress may have read the table before the new row was
     * committed: look again when it completes. */
    for (i = 0; i < eg->route_count; i++) {
        if (eg->routes[i]->claim_limit > 0) {
            eg->rescan = 1;
        }
    }
    kick(eg);
}

void cw_egress_stats_get(const cw_egress_t *eg, cw_egress_stats_t *out)
{
    *out = eg->stats;
}

size_t cw_egress_route_count(const cw_egress_t *eg)
{
    return eg->route_count;
}

void cw_egress_route_stats_get(const cw_egress_t *eg, size_t i, cw_egress_route_stats_t *out)
{
    const egress_route_t *r;

    memset(out, 0, sizeof(*out));
    if (CW_NEVER(i >= eg->route_count)) {
        out->route = "";
        return;
    }
    r = eg->routes[i];
    out->route = r->name;
    out->concurrency = r->policy.concurrency;
    out->limit = window_limit(r);
    out->in_flight = r->in_flight;
    out->delivered = r->delivered;
    out->retried = r->retried;
    out->dead_lettered = r->dead_lettered;
}

int cw_egress_paused_get(const cw_egress_t *eg)
{
    return eg->paused;
}

/* ==== Claiming ==== */

/*
 * A claim must outlast the attempt it hands out, or the row comes due again
 * while the first POST is still waiting for its peer and this process (or
 * another) sends it a second time: the route's longest attempt and the
 * margin, never less than the configured lease. Clamped far below int64.
 */
static uint64_t route_lease_ms(const cw_egress_t *eg, const egress_route_t *route)
{
    uint64_t need = route->policy.attempt_ms_max;

    if (need == 0) {
        return eg->lease_ms;
    }
    if (need > (uint64_t)INT64_MAX / 4) {
        need = (uint64_t)INT64_MAX / 4;
    }
    need += CW_EGRESS_LEASE_MARGIN_MS;
    return need > eg->lease_ms ? need : eg->lease_ms;
}

static int route_job_held(const egress_route_t *route, int64_t delivery_id)
{
    const cw_egress_job_t *j;

    for (j = route->jobs; j != NULL; j = j->in_flight_next) {
        if (j->delivery_id == delivery_id) {
            return 1;
        }
    }
    return 0;
}

static void route_job_link(egress_route_t *route, cw_egress_job_t *job)
{
    job->in_flight_prev = NULL;
    job->in_flight_next = route->jobs;
    if (route->jobs != NULL) {
        route->jobs->in_flight_prev = job;
    }
    route->jobs = job;
}

static void route_job_unlink(egress_route_t *route, cw_egress_job_t *job)
{
    if (job->in_flight_prev != NULL) {
        job->in_flight_prev->in_flight_next = job->in_flight_next;
    } else {
        route->jobs = job->in_flight_next;
    }
    if (job->in_flight_next != NULL) {
        job->in_flight_next->in_flight_prev = job->in_flight_prev;
    }
    job->in_flight_next = NULL;
    job->in_flight_prev = NULL;
}

/* Copies a claimed row into one allocation that the caller borrows. */
static cw_egress_job_t *job_new(const cw_store_delivery_t *d)
{
    size_t from_n = strlen(d->from) + 1;
    size_t id_n = strlen(d->message_id) + 1;
    size_t to_n = strlen(d->to) + 1;
    size_t route_n = strlen(d->route) + 1;
    size_t body_id_n =
        d->outgoing_id != NULL && d->outgoing_digest != NULL ? strlen(d->outgoing_id) + 1 : 0;
    cw_egress_job_t *job;
    char *p;

    job =
        cw_malloc(sizeof(*job) + from_n + id_n + to_n + route_n + body_id_n + d->outgoing_len + 1);
    if (job == NULL) {
        return NULL;
    }
    memset(job, 0, sizeof(*job));
    p = (char *)(job + 1);
    job->from = memcpy(p, d->from, from_n);
    p += from_n;
    job->message_id = memcpy(p, d->message_id, id_n);
    p += id_n;
    job->to = memcpy(p, d->to, to_n);
    p += to_n;
    job->route = memcpy(p, d->route, route_n);
    p += route_n;
    if (body_id_n > 0) {
        job->body_id = memcpy(p, d->outgoing_id, body_id_n);
        memcpy(job->body_digest, d->outgoing_digest, sizeof(job->body_digest));
        p += body_id_n;
    }
    if (d->outgoing_len > 0) {
        memcpy(p, d->outgoing, d->outgoing_len);
    }
    p[d->outgoing_len] = '\0';
    job->body = p;
    job->body_len = d->outgoing_len;
    job->delivery_id = d->id;
    job->attempt = d->attempts + 1;
    job->first_queued_at_ms = d->first_queued_at_ms;
    return job;
}

static void on_claimed(int status, const cw_store_claimed_t *claimed, void *arg)
{
    egress_route_t *route = arg;
    cw_egress_t *eg = route->egress;
    uint32_t asked = route->claim_limit;
    uint64_t claimed_ns = cw_time_mono_ns();
    cw_egress_job_t *job;
    size_t i;

    eg->store_ops--;
    route->claim_limit = 0;
    if (status < 0) {
        CW_LOG_WARN(EGRESS_MOD, "claim on route %s failed: %s", route->name, cw_err_name(status));
        goto out;
    }
    for (i = 0; i < claimed->count && !eg->closing; i++) {
        if (route_job_held(route, claimed->items[i].id)) {
            /* Its lease ran out while the attempt is still ours and on the
             * wire: never a second send from here. The claim renewed the
             * lease; the attempt's record clears it. */
            CW_LOG_WARN(EGRESS_MOD,
                        "delivery %" PRId64 " of %s/%s claimed again while in flight; skipped",
                        claimed->items[i].id, claimed->items[i].from, claimed->items[i].message_id);
            continue;
        }
        job = job_new(&claimed->items[i]);
        if (job == NULL) {
            /* The lease expires and the delivery comes back then. */
            CW_LOG_ERROR(EGRESS_MOD, "out of memory; delivery %" PRId64 " deferred to its lease",
                         claimed->items[i].id);
            continue;
        }
        job->egress = eg;
        job->route_index = route->index;
        job->epoch = route->claim_epoch;
        job->claim_asked_ns = route->claim_asked_ns;
        job->claimed_ns = claimed_ns;
        route_job_link(route, job);
        route->in_flight++;
        eg->stats.in_flight++;
        eg->stats.claimed++;
        eg->deliver(job, eg->deliver_arg);
    }
    /* A full page means more may be due: look again at once. */
    if (claimed->count == asked || eg->rescan) {
        eg->rescan = 0;
        kick(eg);
    }
out:
    maybe_finish_close(eg);
}

static void on_tick(uv_timer_t *timer)
{
    cw_egress_t *eg = cw_container_of(timer, cw_egress_t, timer);
    cw_store_claim_t claim;
    egress_route_t *route;
    uint32_t free_slots;
    uint32_t limit;
    int64_t now_ms;
    int64_t wake_ms = -1; /* the nearest end of a hold, ms from now */
    size_t i;
    int rc;

    if (eg->paused || eg->closing) {
        return;
    }
    now_ms = eg->clock(eg->clock_arg);
    for (i = 0; i < eg->route_count; i++) {
        route = eg->routes[i];
        if (route->removed) {
            continue;
        }
        if (route->hold_until_ms > now_ms) {
            if (wake_ms < 0 || route->hold_until_ms - now_ms < wake_ms) {
                wake_ms = route->hold_until_ms - now_ms;
            }
            continue;
        }
        limit = window_limit(route);
        if (route->claim_limit > 0 || route->in_flight >= limit) {
            continue;
        }
        free_slots = limit - route->in_flight;
        claim.owner = eg->owner;
        claim.route = route->name;
        claim.limit = free_slots;
        claim.now_ms = eg->clock(eg->clock_arg);
        claim.lease_ms = (int64_t)route_lease_ms(eg, route);
        route->claim_asked_ns = cw_time_mono_ns();
        rc = cw_store_delivery_claim(eg->store, &claim, on_claimed, route);
        if (rc < 0) {
            CW_LOG_WARN(EGRESS_MOD, "cannot claim on route %s: %s", route->name, cw_err_name(rc));
            continue;
        }
        route->claim_limit = free_slots;
        route->claim_epoch = route->epoch;
        eg->store_ops++;
    }
    /* A hold ending before the next poll: look again then. */
    if (wake_ms >= 0 && (uint64_t)wake_ms < eg->poll_interval_ms) {
        (void)uv_timer_start(&eg->timer, on_tick, (uint64_t)wake_ms + 1, eg->poll_interval_ms);
    }
}

/* ==== Outcomes ==== */

static void on_recorded(int status, void *arg)
{
    cw_egress_job_t *job = arg;
    cw_egress_t *eg = job->egress;

    eg->store_ops--;
    if (status < 0) {
        eg->stats.record_errors++;
        CW_LOG_WARN(EGRESS_MOD,
                    "delivery %" PRId64 " of %s/%s: outcome not recorded (%s); it is retried "
                    "when its lease expires",
                    job->delivery_id, job->from, job->message_id, cw_err_name(status));
    }
    eg->stats.in_flight--;
    cw_free(job);
    maybe_finish_close(eg);
}

void cw_egress_job_done(cw_egress_job_t *job,
                        cw_egress_outcome_e outcome,
                        int http_status,
                        const char *error,
                        const char *receipt,
                        size_t receipt_len)
{
    cw_egress_t *eg = job->egress;
    egress_route_t *route = eg->routes[job->route_index];
    const cw_egress_policy_t *policy = &route->policy;
    cw_store_attempt_t a;
    char reason[ERROR_BYTES];
    uint64_t delay_ms;
    int64_t now_ms = eg->clock(eg->clock_arg);
    int rc;

    if (CW_NEVER(job->done)) {
        return;
    }
    job->done = 1;
    memset(&a, 0, sizeof(a));
    a.delivery_id = job->delivery_id;
    a.owner = eg->owner;
    a.at_ms = now_ms;
    a.http_status = http_status;
    a.error = error != NULL ? error : "";
    switch (outcome) {
    case CW_EGRESS_DELIVERED:
        a.outcome = CW_STORE_OUTCOME_DELIVERED;
        a.receipt = receipt;
        a.receipt_len = receipt_len;
        eg->stats.delivered++;
        route->delivered++;
        window_grow(route);
        break;
    case CW_EGRESS_FAILED:
        a.outcome = CW_STORE_OUTCOME_FAILED;
        eg->stats.dead_lettered++;
        route->dead_lettered++;
        break;
    case CW_EGRESS_RETRY:
    case CW_EGRESS_RETRY_LOCAL:
        if (outcome == CW_EGRESS_RETRY) {
            window_shrink(route, job, now_ms);
        }
        delay_ms = cw_egress_backoff_ms(policy, job->attempt - 1, rng_next(&eg->rng));
        a.outcome = outcome == CW_EGRESS_RETRY_LOCAL ? CW_STORE_OUTCOME_RETRY_LOCAL
                                                     : CW_STORE_OUTCOME_RETRY;
        a.next_attempt_at_ms = now_ms + (int64_t)delay_ms;
        if (outcome == CW_EGRESS_RETRY_LOCAL) {
            /* The peer was never asked (the node's own shutdown, say): a
             * limit reached now would dead-letter a message nobody refused.
             * The next attempt that reaches the peer applies them. */
        } else if (job->attempt >= policy->max_attempts) {
            (void)snprintf(reason, sizeof(reason), "max attempts (%" PRIu32 ") reached: %s",
                           policy->max_attempts, a.error);
            a.outcome = CW_STORE_OUTCOME_FAILED;
            a.error = reason;
        } else if (policy->max_age_ms > 0
                   && a.next_attempt_at_ms - job->first_queued_at_ms
                          > (int64_t)policy->max_age_ms) {
            (void)snprintf(reason, sizeof(reason), "max age (%" PRIu64 " ms) reached: %s",
                           policy->max_age_ms, a.error);
            a.outcome = CW_STORE_OUTCOME_FAILED;
            a.error = reason;
        }
        if (a.outcome == CW_STORE_OUTCOME_FAILED) {
            eg->stats.dead_lettered++;
            route->dead_lettered++;
        } else {
            eg->stats.retried++;
            route->retried++;
        }
        break;
    }
    eg->store_ops++;
    /* The slot is free once the peer has answered: the next claim is queued
     * behind this record on the store's one writer (so it cannot see this
     * row as still due) and both usually share one group commit, instead of
     * the claim waiting for the record's own fsync. */
    route->in_flight--;
    route_job_unlink(route, job);
    rc = cw_store_delivery_record(eg->store, &a, on_recorded, job);
    if (rc < 0) {
        /* Nothing was written; the lease expires and the row comes back. */
        on_recorded(rc, job);
    }
    kick(eg);
}
