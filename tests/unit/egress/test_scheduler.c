/*
 * egress: the delivery scheduler on a real loop and a real SQLite store,
 * with a test clock: full-jitter bounds, delivery, per-route concurrency,
 * retries into a dead letter, max age, pause and resume, and resuming after
 * a restart; local failures that never dead-letter, leases that outlast the
 * longest attempt, and routes that change under a running scheduler.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "egress.h"
#include "store.h"

static uv_loop_t loop;
static char dir[256];
static char db_path[512];
static cw_store_t *store;
static cw_egress_t *open_eg; /* closed by teardown when a test fails midway */

/* The test clock: advances clock_step_ms on every read. */
static int64_t clock_now_ms;
static int64_t clock_step_ms;

static int64_t test_clock(void *arg)
{
    (void)arg;
    clock_now_ms += clock_step_ms;
    return clock_now_ms;
}

/* What the fake deliverer does with each job. */
typedef enum mode_e {
    MODE_DELIVER = 0, /* DELIVERED at once */
    MODE_RETRY = 1,   /* RETRY at once (HTTP 500) */
    MODE_FAIL = 2,    /* FAILED at once (HTTP 400) */
    MODE_HOLD = 3,    /* keep the job in held[] */
    MODE_LOCAL = 4,   /* RETRY_LOCAL at once (this node's failure: cancelled) */
} mode_e;

static mode_e mode;
static cw_egress_job_t *held[64];
static size_t held_count;
static int deliver_calls;
static uint32_t max_attempt_seen;

static void on_deliver(cw_egress_job_t *job, void *arg)
{
    (void)arg;
    deliver_calls++;
    assert_string_equal(job->body, "<Envelope>sealed</Envelope>");
    if (job->attempt > max_attempt_seen) {
        max_attempt_seen = job->attempt;
    }
    switch (mode) {
    case MODE_DELIVER:
        cw_egress_job_done(job, CW_EGRESS_DELIVERED, 200, NULL, "receipt", 7);
        break;
    case MODE_RETRY:
        cw_egress_job_done(job, CW_EGRESS_RETRY, 500, "HTTP 500", NULL, 0);
        break;
    case MODE_FAIL:
        cw_egress_job_done(job, CW_EGRESS_FAILED, 400, "HTTP 400: bad", NULL, 0);
        break;
    case MODE_LOCAL:
        cw_egress_job_done(job, CW_EGRESS_RETRY_LOCAL, 0, "cancelled by this node", NULL, 0);
        break;
    case MODE_HOLD:
        assert_true(held_count < 64);
        held[held_count++] = job;
        break;
    }
}

/* ==== Helpers ==== */

static int flag_closed;

static void on_closed(void *arg)
{
    (void)arg;
    flag_closed = 1;
}

static void run_until_closed(void)
{
    while (!flag_closed) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
}

static void store_open_now(void)
{
    cw_store_options_t opts = CW_STORE_OPTIONS_INIT;
    cw_error_t err;

    opts.path = db_path;
    if (cw_store_open(&store, &loop, &opts, &err) != 0) {
        fail_msg("open: %s", err.msg);
    }
}

static void store_close_now(void)
{
    flag_closed = 0;
    cw_store_close(store, on_closed, NULL);
    run_until_closed();
    store = NULL;
}

static int put_done;
static int put_seq; /* message ids are unique within a test */

static void on_put(int status, const cw_store_put_result_t *res, void *arg)
{
    (void)res;
    (void)arg;
    assert_int_equal(status, 0);
    put_done++;
}

static void put_queued(int n, const char *route, int64_t at_ms)
{
    cw_store_msg_t m;
    char id[32];
    int i;

    put_done = 0;
    for (i = 0; i < n; i++) {
        memset(&m, 0, sizeof(m));
        (void)snprintf(id, sizeof(id), "%s-%d", route, put_seq++);
        m.from = "platform-a";
        m.message_id = id;
        m.to = "customs-b";
        m.receipt = "r";
        m.receipt_len = 1;
        m.state = CW_STORE_STATE_QUEUED;
        m.route = route;
        m.outgoing = "<Envelope>sealed</Envelope>";
        m.outgoing_len = strlen(m.outgoing);
        m.next_attempt_at_ms = at_ms;
        m.created_at_ms = at_ms;
        assert_int_equal(cw_store_msg_put(store, &m, on_put, NULL), 0);
    }
    while (put_done < n) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
}

typedef struct info {
    int done;
    int status;
    cw_store_state_e state;
    uint32_t attempts;
    char last_error[256];
} info_t;

static void on_get(int status, const cw_store_msg_info_t *m, void *arg)
{
    info_t *r = arg;

    r->done = 1;
    r->status = status;
    if (status == 0) {
        r->state = m->state;
        r->attempts = m->attempts;
        (void)cw_strlcpy(r->last_error, m->last_error, sizeof(r->last_error));
    }
}

static info_t get_info(const char *id)
{
    info_t r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(cw_store_msg_get(store, "platform-a", id, on_get, &r), 0);
    while (!r.done) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    return r;
}

static cw_egress_t *egress_new(const cw_egress_route_t *routes, size_t n, int paused);

/* Routes taken from a reload; fails the test on an error. */
static void routes_set(cw_egress_t *eg, const cw_egress_route_t *routes, size_t n)
{
    cw_error_t err;

    if (cw_egress_routes_set(eg, routes, n, &err) != 0) {
        fail_msg("routes: %s", err.msg);
    }
}

static cw_egress_t *egress_new(const cw_egress_route_t *routes, size_t n, int paused)
{
    cw_egress_options_t opts = CW_EGRESS_OPTIONS_INIT;
    cw_egress_t *eg = NULL;
    cw_error_t err;

    opts.owner = "test-node";
    opts.routes = routes;
    opts.route_count = n;
    opts.poll_interval_ms = 1;
    opts.lease_ms = 60000;
    opts.seed = 42;
    opts.start_paused = paused;
    opts.deliver = on_deliver;
    opts.clock = test_clock;
    if (cw_egress_new(&eg, &loop, store, &opts, &err) != 0) {
        fail_msg("egress: %s", err.msg);
    }
    open_eg = eg;
    return eg;
}

static void egress_close(cw_egress_t *eg)
{
    flag_closed = 0;
    open_eg = NULL;
    cw_egress_close(eg, on_closed, NULL);
    run_until_closed();
}

/* Runs the loop until the stat reaches want (bounded by turns and 10 s). */
static void run_until_stat(cw_egress_t *eg, size_t offset, uint64_t want)
{
    cw_egress_stats_t s;
    uint64_t deadline = uv_now(&loop) + 10000;
    int turns = 0;

    for (;;) {
        cw_egress_stats_get(eg, &s);
        if (*(uint64_t *)((char *)&s + offset) >= want) {
            return;
        }
        (void)uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
        assert_true(++turns < 200000);
        /* Not reached in 10 s: fail rather than hang until ctest's timeout. */
        assert_true(uv_now(&loop) < deadline);
    }
}

/* Lets the loop turn for about ms of real time. */
static void run_for_ms(uint64_t ms)
{
    uint64_t end = uv_now(&loop) + ms;

    while (uv_now(&loop) < end) {
        (void)uv_run(&loop, UV_RUN_NOWAIT);
        uv_update_time(&loop);
    }
}

/* ==== Fixtures ==== */

static int setup(void **state)
{
    (void)state;
    (void)snprintf(dir, sizeof(dir), "/tmp/cw-egress-XXXXXX");
    if (mkdtemp(dir) == NULL) {
        return -1;
    }
    (void)snprintf(db_path, sizeof(db_path), "%s/store.db", dir);
    clock_now_ms = 1000000;
    clock_step_ms = 0;
    mode = MODE_DELIVER;
    held_count = 0;
    deliver_calls = 0;
    max_attempt_seen = 0;
    put_seq = 0;
    if (uv_loop_init(&loop) != 0) {
        return -1;
    }
    store_open_now();
    return 0;
}

static int teardown(void **state)
{
    char cmd[600];

    (void)state;
    if (open_eg != NULL) {
        /* Give held jobs back so that close can finish. */
        while (held_count > 0) {
            cw_egress_job_done(held[--held_count], CW_EGRESS_RETRY, 0, "teardown", NULL, 0);
        }
        egress_close(open_eg);
    }
    if (store != NULL) {
        store_close_now();
    }
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ==== Tests ==== */

static void test_scheduler__backoff_full_jitter_bounds(void **state)
{
    cw_egress_policy_t p = { 10, 0, 100, 5000, 1, 0, 0 };
    uint64_t seed = 7;
    uint64_t cap;
    uint64_t d;
    uint64_t top;
    uint32_t n;
    int i;

    (void)state;
    for (n = 0; n < 70; n++) {
        cap = n < 6 ? 100u << n : 5000u;
        cap = cap > 5000 ? 5000 : cap;
        top = 0;
        for (i = 0; i < 2000; i++) {
            /* A deterministic sequence (LCG) stands in for the PRNG. */
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            d = cw_egress_backoff_ms(&p, n, seed);
            assert_true(d <= cap);
            top = d > top ? d : top;
        }
        /* Full jitter spreads over the whole window, not just its top. */
        assert_true(top > cap / 2);
    }
    /* Same input, same delay. */
    assert_int_equal(cw_egress_backoff_ms(&p, 3, 123456789),
                     cw_egress_backoff_ms(&p, 3, 123456789));
    assert_int_equal(cw_egress_backoff_ms(&p, 3, 0), 0);
    assert_int_equal(cw_egress_backoff_ms(&p, 0, 100), 100);
    assert_int_equal(cw_egress_backoff_ms(&p, 0, 101), 0);
}

static void test_scheduler__delivers_and_records(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_egress_stats_t s;
    cw_egress_t *eg;

    (void)state;
    put_queued(5, "to-customs", clock_now_ms);
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 5);
    while (cw_egress_stats_get(eg, &s), s.in_flight > 0) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    assert_int_equal(s.claimed, 5);
    assert_int_equal(get_info("to-customs-3").state, CW_STORE_STATE_DELIVERED);
    assert_int_equal(get_info("to-customs-3").attempts, 1);
    egress_close(eg);
}

static void test_scheduler__concurrency_per_route(void **state)
{
    cw_egress_route_t routes[2] = { { "a", CW_EGRESS_POLICY_INIT },
                                    { "b", CW_EGRESS_POLICY_INIT } };
    cw_egress_stats_t s;
    cw_egress_t *eg;
    size_t i;

    (void)state;
    routes[0].policy.concurrency = 2;
    routes[1].policy.concurrency = 3;
    put_queued(6, "a", clock_now_ms);
    put_queued(6, "b", clock_now_ms);
    mode = MODE_HOLD;
    eg = egress_new(routes, 2, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), 5);
    run_for_ms(30);
    cw_egress_stats_get(eg, &s);
    /* Two on a, three on b, and no more while they are held. */
    assert_int_equal(s.claimed, 5);
    assert_int_equal(held_count, 5);
    /* Finishing them lets the rest through, never above the limits. */
    mode = MODE_DELIVER;
    for (i = 0; i < 5; i++) {
        cw_egress_job_done(held[i], CW_EGRESS_DELIVERED, 200, NULL, "rc", 2);
    }
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 12);
    egress_close(eg);
}

/* Gives back every held job with outcome; held[] is empty afterwards. */
static void release_held(cw_egress_outcome_e outcome)
{
    size_t n = held_count;
    size_t i;

    held_count = 0;
    for (i = 0; i < n; i++) {
        cw_egress_job_done(held[i], outcome, outcome == CW_EGRESS_DELIVERED ? 200 : 503, NULL, "rc",
                           2);
    }
}

/* The route's window now (cw_egress_route_stats_t.limit). */
static uint32_t route_limit(const cw_egress_t *eg)
{
    cw_egress_route_stats_t r;

    cw_egress_route_stats_get(eg, 0, &r);
    return r.limit;
}

/* Gives back the held jobs with outcome and waits for the next claim to
 * bring the total handed out to claimed; returns the window then. */
static uint32_t release_and_claim(cw_egress_t *eg, cw_egress_outcome_e outcome, uint64_t claimed)
{
    cw_egress_stats_t s;

    release_held(outcome);
    run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), claimed);
    run_for_ms(30);
    cw_egress_stats_get(eg, &s);
    assert_int_equal(s.claimed, claimed);
    return route_limit(eg);
}

static void test_scheduler__window_grows_and_halves(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_egress_stats_t s;
    cw_egress_t *eg;

    (void)state;
    r.policy.concurrency = 8;
    r.policy.initial_concurrency = 2;
    put_queued(100, "to-customs", clock_now_ms);
    mode = MODE_HOLD;
    eg = egress_new(&r, 1, 0);
    /* It starts at 2 in flight, not 8. */
    run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), 2);
    run_for_ms(30);
    cw_egress_stats_get(eg, &s);
    assert_int_equal(s.claimed, 2);
    assert_int_equal(route_limit(eg), 2);
    /* Delivered attempts add 1/window each while half of it is in use (the
     * jobs are given back one by one, so the last of a flight does not):
     * 2.9, 3.24, 3.83, 4.34. */
    assert_int_equal(release_and_claim(eg, CW_EGRESS_DELIVERED, 4), 2);
    assert_int_equal(held_count, 2);
    assert_int_equal(release_and_claim(eg, CW_EGRESS_DELIVERED, 7), 3);
    assert_int_equal(held_count, 3);
    assert_int_equal(release_and_claim(eg, CW_EGRESS_DELIVERED, 10), 3);
    assert_int_equal(release_and_claim(eg, CW_EGRESS_DELIVERED, 14), 4);
    assert_int_equal(held_count, 4);
    /* All four of that claim fail: halved once (to 2.17), not four times. */
    assert_int_equal(release_and_claim(eg, CW_EGRESS_RETRY, 16), 2);
    assert_int_equal(held_count, 2);
    /* A refusal (4xx) and a local failure leave it where it is. */
    assert_int_equal(release_and_claim(eg, CW_EGRESS_FAILED, 18), 2);
    assert_int_equal(release_and_claim(eg, CW_EGRESS_RETRY_LOCAL, 20), 2);
}

static void test_scheduler__window_stays_within_concurrency(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_egress_t *eg;
    uint64_t round;

    (void)state;
    r.policy.concurrency = 3;
    r.policy.initial_concurrency = 3;
    put_queued(40, "to-customs", clock_now_ms);
    mode = MODE_HOLD;
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), 3);
    for (round = 2; round <= 10; round++) {
        assert_int_equal(release_and_claim(eg, CW_EGRESS_DELIVERED, 3 * round), 3);
        assert_int_equal(held_count, 3);
    }
}

static void test_scheduler__quiet_route_keeps_its_window(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_egress_t *eg;
    uint64_t n;

    (void)state;
    r.policy.concurrency = 8;
    r.policy.initial_concurrency = 4;
    mode = MODE_HOLD;
    eg = egress_new(&r, 1, 0);
    /* One message at a time uses a quarter of the window: delivering many
     * of them does not widen it. */
    for (n = 1; n <= 12; n++) {
        put_queued(1, "to-customs", clock_now_ms);
        cw_egress_notify(eg);
        run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), n);
        release_held(CW_EGRESS_DELIVERED);
    }
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 12);
    assert_int_equal(route_limit(eg), 4);
}

/* Queues n messages on r's route and starts the scheduler with every
 * attempt answered 500; returns once the first has been retried. */
static cw_egress_t *start_failing(const cw_egress_route_t *r, int n)
{
    cw_egress_t *eg;

    put_queued(n, r->name, clock_now_ms);
    mode = MODE_RETRY;
    eg = egress_new(r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, retried), 1);
    return eg;
}

static void test_scheduler__failures_of_one_claim_halve_once(void **state)
{
    cw_egress_route_t r = { "to-customs", { 100, 0, 1000, 4000, 4, 4, 0 } };
    cw_egress_stats_t s;
    cw_egress_t *eg;

    (void)state;
    put_queued(4, "to-customs", clock_now_ms);
    /* The four of one claim fail as they are handed out, one after the
     * other: one flight, so 4 becomes 2, not 1 and a hold. */
    mode = MODE_RETRY;
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, retried), 4);
    cw_egress_stats_get(eg, &s);
    assert_int_equal(s.claimed, 4);
    assert_int_equal(route_limit(eg), 2);
    egress_close(eg);
}

static void test_scheduler__peer_down_holds_the_route(void **state)
{
    cw_egress_route_t r = { "to-customs", { 100, 0, 1000, 4000, 4, 1, 0 } };
    cw_egress_t *eg;

    (void)state;
    /* One attempt at a window of 1 fails: the route waits 1 s (base),
     * rather than trying the other nine messages in turn. */
    eg = start_failing(&r, 10);
    run_for_ms(50);
    assert_int_equal(deliver_calls, 1);
    /* Past the hold, one probe; it fails too: 2 s now. */
    clock_now_ms += 1001;
    run_until_stat(eg, offsetof(cw_egress_stats_t, retried), 2);
    run_for_ms(50);
    assert_int_equal(deliver_calls, 2);
    clock_now_ms += 1001;
    run_for_ms(50);
    assert_int_equal(deliver_calls, 2);
    /* The peer is back: the next probe delivers, the hold is over and
     * every message due goes (the failed ones' own backoff is past too). */
    mode = MODE_DELIVER;
    clock_now_ms += 1000 + 5000;
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 10);
    assert_int_equal(deliver_calls, 12);
    egress_close(eg);
}

static void test_scheduler__retries_then_dead_letters(void **state)
{
    cw_egress_route_t r = { "to-customs", { 3, 0, 10, 1000, 1, 0, 0 } };
    cw_egress_stats_t s;
    cw_egress_t *eg;
    info_t info;

    (void)state;
    put_queued(1, "to-customs", clock_now_ms);
    /* Each clock read moves past any backoff (at most 1 s). */
    clock_step_ms = 2000;
    mode = MODE_RETRY;
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, dead_lettered), 1);
    while (cw_egress_stats_get(eg, &s), s.in_flight > 0) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    run_for_ms(10);
    cw_egress_stats_get(eg, &s);
    assert_int_equal(s.retried, 2);
    assert_int_equal(s.dead_lettered, 1);
    assert_int_equal(deliver_calls, 3);
    assert_int_equal(max_attempt_seen, 3);
    info = get_info("to-customs-0");
    assert_int_equal(info.state, CW_STORE_STATE_FAILED);
    assert_int_equal(info.attempts, 3);
    assert_string_equal(info.last_error, "max attempts (3) reached: HTTP 500");
    egress_close(eg);
}

static void test_scheduler__backoff_delays_next_attempt(void **state)
{
    cw_egress_route_t r = { "to-customs", { 5, 0, 60000, 60000, 1, 0, 0 } };
    cw_egress_t *eg;

    (void)state;
    eg = start_failing(&r, 1);
    /* The clock stands still: the retry waits in the store. */
    run_for_ms(30);
    assert_int_equal(deliver_calls, 1);
    /* Past the largest possible delay it is due again. */
    clock_now_ms += 60001;
    run_until_stat(eg, offsetof(cw_egress_stats_t, retried), 2);
    assert_int_equal(deliver_calls, 2);
    egress_close(eg);
}

static void test_scheduler__max_age_and_refusal_dead_letter(void **state)
{
    cw_egress_route_t routes[2] = { { "old", { 100, 500, 1000, 1000, 1, 0, 0 } },
                                    { "refused", CW_EGRESS_POLICY_INIT } };
    cw_egress_t *eg;
    info_t info;

    (void)state;
    put_queued(1, "old", clock_now_ms - 400);
    mode = MODE_RETRY;
    eg = egress_new(routes, 2, 0);
    /* Any retry delay > 100 ms crosses the 500 ms age; seed 42 gives one
     * well above that. */
    run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), 1);
    while (get_info("old-0").state == CW_STORE_STATE_QUEUED && deliver_calls < 50) {
        clock_now_ms += 2000;
        run_for_ms(2);
    }
    info = get_info("old-0");
    assert_int_equal(info.state, CW_STORE_STATE_FAILED);
    assert_non_null(strstr(info.last_error, "max age (500 ms) reached"));

    mode = MODE_FAIL;
    put_queued(1, "refused", clock_now_ms);
    cw_egress_notify(eg);
    while (get_info("refused-1").state == CW_STORE_STATE_QUEUED) {
        run_for_ms(2);
    }
    info = get_info("refused-1");
    assert_int_equal(info.state, CW_STORE_STATE_FAILED);
    assert_int_equal(info.attempts, 1);
    assert_string_equal(info.last_error, "HTTP 400: bad");
    egress_close(eg);
}

static void test_scheduler__pause_and_resume(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_egress_stats_t s;
    cw_egress_t *eg;

    (void)state;
    put_queued(3, "to-customs", clock_now_ms);
    eg = egress_new(&r, 1, 1);
    run_for_ms(20);
    cw_egress_stats_get(eg, &s);
    assert_int_equal(s.claimed, 0);
    cw_egress_resume(eg);
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 3);
    cw_egress_pause(eg);
    put_queued(2, "to-customs", clock_now_ms);
    cw_egress_notify(eg);
    run_for_ms(20);
    cw_egress_stats_get(eg, &s);
    assert_int_equal(s.claimed, 3);
    cw_egress_resume(eg);
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 5);
    egress_close(eg);
}

static int claimed_by_dead;

static void on_dead_claim(int status, const cw_store_claimed_t *c, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    claimed_by_dead = (int)c->count;
}

static void test_scheduler__restart_resumes_leased_work(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_store_claim_t c = { "dead-process", NULL, 10, 0, 3600000 };
    cw_egress_t *eg;

    (void)state;
    put_queued(4, "to-customs", clock_now_ms);
    /* A process claims everything with an hour-long lease, then dies. */
    c.now_ms = clock_now_ms;
    claimed_by_dead = -1;
    assert_int_equal(cw_store_delivery_claim(store, &c, on_dead_claim, NULL), 0);
    while (claimed_by_dead < 0) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    assert_int_equal(claimed_by_dead, 4);
    store_close_now();

    /* The next process sees them at once: open released the leases. */
    store_open_now();
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 4);
    egress_close(eg);
    assert_int_equal(get_info("to-customs-2").state, CW_STORE_STATE_DELIVERED);
}

/* A failure of this node's own (the node stopping under an attempt) on
 * the last allowed attempt, and past the maximum age, is retried: it never
 * dead-letters a message its peer was never asked about. */
static void test_scheduler__local_failure_never_dead_letters(void **state)
{
    cw_egress_route_t r = { "to-customs", { 1, 500, 10, 10, 1, 0, 0 } };
    cw_egress_stats_t s;
    cw_egress_t *eg;
    info_t info;

    (void)state;
    put_queued(1, "to-customs", clock_now_ms - 400);
    clock_step_ms = 200;
    mode = MODE_LOCAL;
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, retried), 3);
    while (cw_egress_stats_get(eg, &s), s.in_flight > 0) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    assert_int_equal(s.dead_lettered, 0);
    info = get_info("to-customs-0");
    assert_int_equal(info.state, CW_STORE_STATE_QUEUED);
    assert_string_equal(info.last_error, "cancelled by this node");
    /* The next answer from the peer applies the limits again. */
    mode = MODE_RETRY;
    run_until_stat(eg, offsetof(cw_egress_stats_t, dead_lettered), 1);
    egress_close(eg);
    info = get_info("to-customs-0");
    assert_int_equal(info.state, CW_STORE_STATE_FAILED);
}

static int other_claimed;

static void on_other_claim(int status, const cw_store_claimed_t *c, void *arg)
{
    (void)arg;
    assert_int_equal(status, 0);
    other_claimed = (int)c->count;
}

/* How many due rows another process could claim at at_ms. */
static int claimable_by_other(int64_t at_ms)
{
    cw_store_claim_t c = { "other-process", NULL, 10, 0, 1000 };

    c.now_ms = at_ms;
    other_claimed = -1;
    assert_int_equal(cw_store_delivery_claim(store, &c, on_other_claim, NULL), 0);
    while (other_claimed < 0) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    return other_claimed;
}

/* A route whose attempt may take two minutes leases its claims for longer
 * than that, whatever the configured lease (60 s here). */
static void test_scheduler__lease_outlasts_the_longest_attempt(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_egress_t *eg;

    (void)state;
    r.policy.attempt_ms_max = 120000;
    put_queued(1, "to-customs", clock_now_ms);
    mode = MODE_HOLD;
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), 1);
    /* Past the configured lease and the attempt's timeout: still ours. */
    assert_int_equal(claimable_by_other(clock_now_ms + 121000), 0);
    /* Past the attempt and the margin: another process may take it. */
    assert_int_equal(claimable_by_other(clock_now_ms + 120000 + CW_EGRESS_LEASE_MARGIN_MS + 1000),
                     1);
    release_held(CW_EGRESS_DELIVERED);
    egress_close(eg);
}

/* A row whose lease ran out while its attempt is still on the wire here is
 * claimed again, but never handed out a second time. */
static void test_scheduler__in_flight_row_not_sent_twice(void **state)
{
    cw_egress_route_t r = { "to-customs", CW_EGRESS_POLICY_INIT };
    cw_egress_t *eg;

    (void)state;
    put_queued(1, "to-customs", clock_now_ms);
    mode = MODE_HOLD;
    eg = egress_new(&r, 1, 0);
    run_until_stat(eg, offsetof(cw_egress_stats_t, claimed), 1);
    clock_now_ms += 61000;
    cw_egress_notify(eg);
    run_for_ms(30);
    assert_int_equal(deliver_calls, 1);
    assert_int_equal(held_count, 1);
    /* The one attempt's outcome is recorded (the lease is still this
     * process's). */
    release_held(CW_EGRESS_DELIVERED);
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 1);
    egress_close(eg);
    assert_int_equal(get_info("to-customs-0").state, CW_STORE_STATE_DELIVERED);
}

/* A reload adds a route (claimed at once), changes a policy in place, and
 * removes a route (its deliveries stay queued until it comes back). */
static void test_scheduler__routes_change_on_reload(void **state)
{
    cw_egress_route_t first = { "a", CW_EGRESS_POLICY_INIT };
    cw_egress_route_t reloaded[2] = { { "a", { 1, 0, 10, 10, 4, 0, 0 } },
                                      { "b", CW_EGRESS_POLICY_INIT } };
    cw_egress_stats_t s;
    cw_egress_t *eg;

    (void)state;
    put_queued(1, "b", clock_now_ms);
    eg = egress_new(&first, 1, 0);
    run_for_ms(30);
    cw_egress_stats_get(eg, &s);
    assert_int_equal(s.claimed, 0);
    assert_int_equal(get_info("b-0").state, CW_STORE_STATE_QUEUED);
    /* b is new: delivered. */
    routes_set(eg, reloaded, 2);
    assert_int_equal(cw_egress_route_count(eg), 2);
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 1);
    assert_int_equal(get_info("b-0").state, CW_STORE_STATE_DELIVERED);
    /* a's max attempts is 1 now: its first retry is a dead letter. */
    mode = MODE_RETRY;
    put_queued(1, "a", clock_now_ms);
    cw_egress_notify(eg);
    run_until_stat(eg, offsetof(cw_egress_stats_t, dead_lettered), 1);
    assert_int_equal(get_info("a-1").state, CW_STORE_STATE_FAILED);
    /* b removed: nothing of it is claimed; back again, it is. */
    mode = MODE_DELIVER;
    routes_set(eg, &reloaded[0], 1);
    put_queued(1, "b", clock_now_ms);
    cw_egress_notify(eg);
    run_for_ms(30);
    assert_int_equal(get_info("b-2").state, CW_STORE_STATE_QUEUED);
    routes_set(eg, reloaded, 2);
    assert_int_equal(cw_egress_route_count(eg), 2);
    run_until_stat(eg, offsetof(cw_egress_stats_t, delivered), 2);
    assert_int_equal(get_info("b-2").state, CW_STORE_STATE_DELIVERED);
    egress_close(eg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scheduler__backoff_full_jitter_bounds),
        cmocka_unit_test_setup_teardown(test_scheduler__delivers_and_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__concurrency_per_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__window_grows_and_halves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__window_stays_within_concurrency, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__quiet_route_keeps_its_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__failures_of_one_claim_halve_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__peer_down_holds_the_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__retries_then_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__backoff_delays_next_attempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__max_age_and_refusal_dead_letter, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__pause_and_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__restart_resumes_leased_work, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__local_failure_never_dead_letters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__lease_outlasts_the_longest_attempt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__in_flight_row_not_sent_twice, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_scheduler__routes_change_on_reload, setup, teardown),
    };

    return cmocka_run_group_tests_name("egress_scheduler", tests, NULL, NULL);
}
