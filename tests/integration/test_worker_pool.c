/*
 * The loop thread never blocks: while a CPU-heavy job runs on the worker
 * pool, /healthz is still answered. The server, the API and the pool are
 * the daemon's own, run in-process on a real loop; the client is a second
 * thread speaking raw HTTP over loopback.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "api.h"
#include "config.h"
#include "cw_test.h"
#include "net.h"
#include "pipeline.h"
#include "util.h"

/* Long enough that the health check is sure to be sent while it runs. */
#define SLOW_JOB_MS 1500

static const char config_xml[] = "<clearway xmlns=\"urn:clearway:config:1\">\n"
                                 "  <node id=\"pool-test\"/>\n"
                                 "  <workers>2</workers>\n"
                                 "  <listen name=\"public\" address=\"127.0.0.1\" port=\"0\"/>\n"
                                 "</clearway>\n";

typedef struct fixture {
    uv_loop_t loop;
    uv_async_t stop;
    cw_config_t *cfg;
    cw_pipeline_t *pipeline;
    cw_api_t *api;
    cw_http_server_t *server;
    int port;
    /* Filled by the client thread. */
    long long slow_done_ms;
    long long health_done_ms;
    int slow_status;
    int health_status;
    /* Counted on the loop thread. */
    int jobs_started;
    int jobs_done;
} fixture_t;

static fixture_t fx;

static void burn_cpu(void *arg)
{
    long long until = cw_test_now_ms() + SLOW_JOB_MS;
    volatile uint64_t x = 0;

    (void)arg;
    while (cw_test_now_ms() < until) {
        x += 1;
    }
    (void)x;
}

static void on_slow_done(int status, void *arg)
{
    cw_http_request_t *req = arg;

    fx.jobs_done++;
    (void)cw_http_respond(req, status == 0 ? 200 : 503, "text/plain", NULL, "done\n", 5);
}

/* The daemon's router, plus one test-only route that queues CPU work. */
static void on_request(cw_http_request_t *req, void *arg)
{
    if (strcmp(req->path, "/slow") == 0) {
        fx.jobs_started++;
        if (cw_pipeline_work_submit(fx.pipeline, burn_cpu, on_slow_done, req) < 0) {
            (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE, "cannot queue");
        }
        return;
    }
    cw_api_on_request(req, arg);
}

static void on_closed(cw_http_server_t *server, void *arg)
{
    (void)server;
    (void)arg;
}

static void on_stop(uv_async_t *async)
{
    cw_http_server_close(fx.server, 1000, on_closed, NULL);
    uv_close((uv_handle_t *)async, NULL);
}

static int get(int port, const char *path, long long *done_ms)
{
    char req[128];
    cw_test_response_t r;
    int status;

    (void)snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    if (cw_test_roundtrip(port, req, strlen(req), &r) < 0) {
        return -1;
    }
    *done_ms = cw_test_now_ms();
    status = r.status;
    cw_test_response_fini(&r);
    return status;
}

static void *slow_client(void *arg)
{
    (void)arg;
    fx.slow_status = get(fx.port, "/slow", &fx.slow_done_ms);
    return NULL;
}

static void *client(void *arg)
{
    pthread_t slow;
    struct timespec ts = { 0, 200 * 1000000L };

    (void)arg;
    if (pthread_create(&slow, NULL, slow_client, NULL) != 0) {
        return NULL;
    }
    nanosleep(&ts, NULL);
    fx.health_status = get(fx.port, "/healthz", &fx.health_done_ms);
    pthread_join(slow, NULL);
    uv_async_send(&fx.stop);
    return NULL;
}

static void test_worker_pool__healthz_answers_during_slow_job(void **state)
{
    cw_config_errors_t errs;
    cw_http_server_options_t opts = { 0 };
    cw_error_t err = { 0 };
    pthread_t thread;

    (void)state;
    memset(&fx, 0, sizeof(fx));
    cw_config_errors_init(&errs);
    assert_int_equal(cw_config_load_mem(&fx.cfg, "test.xml", config_xml, strlen(config_xml), &errs),
                     0);
    cw_config_errors_fini(&errs);
    (void)cw_pipeline_pool_size_set(fx.cfg->workers);
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    fx.pipeline = cw_pipeline_new(&fx.loop);
    assert_non_null(fx.pipeline);
    assert_int_equal(cw_api_new(&fx.api, &fx.loop, fx.cfg, fx.pipeline), 0);
    opts.listen = &fx.cfg->listens[0];
    opts.cfg = fx.cfg;
    opts.on_request = on_request;
    opts.on_done = cw_api_on_done;
    opts.arg = fx.api;
    assert_int_equal(cw_http_server_new(&fx.server, &fx.loop, &opts, &err), 0);
    fx.port = cw_http_server_port(fx.server);
    assert_int_equal(uv_async_init(&fx.loop, &fx.stop, on_stop), 0);

    assert_int_equal(pthread_create(&thread, NULL, client, NULL), 0);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    pthread_join(thread, NULL);

    assert_int_equal(fx.jobs_started, 1);
    assert_int_equal(fx.jobs_done, 1);
    assert_int_equal(fx.slow_status, 200);
    assert_int_equal(fx.health_status, 200);
    /* The health check was answered while the job was still running. */
    assert_true(fx.health_done_ms < fx.slow_done_ms);

    cw_http_server_free(fx.server);
    cw_api_free(fx.api);
    cw_pipeline_free(fx.pipeline);
    cw_config_unref(fx.cfg);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_pool__healthz_answers_during_slow_job),
    };

    return cmocka_run_group_tests_name("integration_worker_pool", tests, NULL, NULL);
}
