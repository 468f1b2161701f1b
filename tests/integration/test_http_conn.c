/*
 * Connection behaviour of a real clearwayd: keep-alive, pipelining,
 * 100-continue, chunked bodies, slow clients, back-pressure, many
 * connections, and draining on SIGTERM and reloading on SIGHUP.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "config.h"
#include "cw_test.h"
#include "net.h"
#include "util.h"

#define LIMITS_XML                                     \
    "  <limits>\n"                                     \
    "    <header-timeout-ms>600</header-timeout-ms>\n" \
    "    <body-timeout-ms>600</body-timeout-ms>\n"     \
    "    <idle-timeout-ms>800</idle-timeout-ms>\n"     \
    "    <drain-timeout-ms>5000</drain-timeout-ms>\n"  \
    "  </limits>\n"

static cw_test_daemon_t daemon_;

static int group_setup(void **state)
{
    (void)state;
    cw_test_nofile_raise(4096);
    signal(SIGPIPE, SIG_IGN);
    return cw_test_daemon_start(&daemon_, LIMITS_XML);
}

static int group_teardown(void **state)
{
    int status;

    (void)state;
    status = cw_test_daemon_stop(&daemon_, SIGTERM, 10000);
    cw_test_daemon_cleanup(&daemon_);
    return status == 0 ? 0 : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static void test_http_conn__keep_alive_reuses_the_connection(void **state)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;
    int fd = cw_test_connect(daemon_.port);
    int i;

    (void)state;
    assert_true(fd >= 0);
    for (i = 0; i < 5; i++) {
        assert_int_equal(cw_test_send(fd, req, strlen(req)), 0);
        assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
        assert_int_equal(r.status, 200);
        assert_false(r.closed);
        cw_test_response_fini(&r);
    }
    close(fd);
}

static void test_http_conn__http10_closes_unless_keep_alive(void **state)
{
    const char *req = "GET /healthz HTTP/1.0\r\n\r\n";
    cw_test_response_t r;
    int fd = cw_test_connect(daemon_.port);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, req, strlen(req)), 0);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.headers, "HTTP/1.0 200", 12) == 0);
    cw_test_response_fini(&r);
    assert_int_equal(cw_test_wait_closed(fd, 3000), 0);
    close(fd);
}

/* A request refused before its head is complete is answered in the
 * client's version when its request line was read, else in HTTP/1.1. */
static void test_http_conn__early_refusal_speaks_the_right_version(void **state)
{
    static const char *const reqs[] = { "GET /healthz HTTP/1.0\r\nBad Name: x\r\n\r\n",
                                        "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n",
                                        "\x01\x02 garbage\r\n\r\n" };
    static const char *const lines[] = { "HTTP/1.0 400", "HTTP/1.1 400", "HTTP/1.1 400" };
    cw_test_response_t r;
    size_t i;

    (void)state;
    for (i = 0; i < 3; i++) {
        int fd = cw_test_connect(daemon_.port);

        assert_true(fd >= 0);
        assert_int_equal(cw_test_send(fd, reqs[i], strlen(reqs[i])), 0);
        assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
        assert_int_equal(r.status, 400);
        if (strncmp(r.headers, lines[i], 12) != 0) {
            fail_msg("request %zu answered with %.12s, not %s", i, r.headers, lines[i]);
        }
        cw_test_response_fini(&r);
        close(fd);
    }
}

static void test_http_conn__connection_close_is_honoured(void **state)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    cw_test_response_t r;
    int fd = cw_test_connect(daemon_.port);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, req, strlen(req)), 0);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.closed);
    cw_test_response_fini(&r);
    assert_int_equal(cw_test_wait_closed(fd, 3000), 0);
    close(fd);
}

static void test_http_conn__pipelined_requests_answer_in_order(void **state)
{
    /* Three different routes in one write: the answers must come back in
     * the same order (RFC 9112 §9.3.2). */
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /v1/version HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;
    int fd = cw_test_connect(daemon_.port);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, req, strlen(req)), 0);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"status\":\"ok\""));
    cw_test_response_fini(&r);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 404);
    cw_test_response_fini(&r);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"node\""));
    cw_test_response_fini(&r);
    close(fd);
}

static void test_http_conn__backpressure_keeps_every_response(void **state)
{
    /* 300 pipelined /metrics requests (several KiB each) sent without
     * reading: the server must stop reading rather than buffer without
     * bound, and every response must still arrive, in order. */
    const char *one = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_buf_t b;
    cw_test_response_t r;
    int fd = cw_test_connect(daemon_.port);
    int i;

    (void)state;
    assert_true(fd >= 0);
    cw_buf_init(&b, 1u << 20);
    for (i = 0; i < 300; i++) {
        assert_int_equal(cw_buf_appends(&b, one), 0);
    }
    assert_int_equal(cw_test_send(fd, b.data, b.len), 0);
    cw_buf_fini(&b);
    sleep_ms(200);
    for (i = 0; i < 300; i++) {
        assert_int_equal(cw_test_read_response(fd, &r, 10000), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "clearway_build_info"));
        cw_test_response_fini(&r);
    }
    close(fd);
}

static void test_http_conn__expect_100_continue(void **state)
{
    const char *head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 2\r\nExpect: 100-continue\r\n\r\n";
    char buf[256];
    cw_test_response_t r;
    struct pollfd pfd;
    ssize_t n;
    int fd = cw_test_connect(daemon_.port);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, head, strlen(head)), 0);
    pfd.fd = fd;
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 3000), 1);
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(cw_test_send(fd, "{}", 2), 0);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 415);
    cw_test_response_fini(&r);
    close(fd);
}

static void test_http_conn__expect_other_is_417(void **state)
{
    const char *req = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
                      "Content-Length: 2\r\nExpect: something\r\n\r\n<a";
    cw_test_response_t r;

    (void)state;
    assert_int_equal(cw_test_roundtrip(daemon_.port, req, strlen(req), &r), 0);
    assert_int_equal(r.status, 417);
    assert_non_null(strstr(r.body, "urn:clearway:problem:expectation-failed"));
    cw_test_response_fini(&r);
}

static void test_http_conn__chunked_body_is_read(void **state)
{
    /* The body arrives in chunks split across writes; the answer (415 for
     * JSON) comes only after the final chunk, on a connection kept open. */
    const char *parts[] = {
        ("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
         "Transfer-Encoding: chunked\r\n\r\n"),
        "3\r\n{\"a",
        "\r\n4\r\n\":1}\r\n",
        "0\r\n\r\n",
    };
    const char *next = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;
    size_t i;
    int fd = cw_test_connect(daemon_.port);

    (void)state;
    assert_true(fd >= 0);
    for (i = 0; i < CW_ARRAY_SIZE(parts); i++) {
        assert_int_equal(cw_test_send(fd, parts[i], strlen(parts[i])), 0);
        sleep_ms(30);
    }
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 415);
    cw_test_response_fini(&r);
    assert_int_equal(cw_test_send(fd, next, strlen(next)), 0);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 200);
    cw_test_response_fini(&r);
    close(fd);
}

static void test_http_conn__slowloris_is_cut_at_header_timeout(void **state)
{
    /* One header byte every 100 ms: the deadline runs from the first byte
     * and is not extended, so the client gets 408 after about 600 ms. */
    const char *req =
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    cw_test_response_t r;
    long long start = cw_test_now_ms();
    size_t i;
    int fd = cw_test_connect(daemon_.port);

    (void)state;
    assert_true(fd >= 0);
    for (i = 0; i < strlen(req); i++) {
        if (cw_test_send(fd, req + i, 1) < 0) {
            break;
        }
        sleep_ms(100);
        if (cw_test_now_ms() - start > 1500) {
            break;
        }
    }
    assert_int_equal(cw_test_read_response(fd, &r, 3000), 0);
    assert_int_equal(r.status, 408);
    assert_non_null(strstr(r.body, "urn:clearway:problem:request-timeout"));
    assert_true(r.closed);
    cw_test_response_fini(&r);
    assert_int_equal(cw_test_wait_closed(fd, 3000), 0);
    close(fd);
}

static void test_http_conn__slow_body_is_408(void **state)
{
    const char *head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
                       "Content-Length: 100\r\n\r\n<a/>";
    cw_test_response_t r;
    int fd = cw_test_connect(daemon_.port);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, head, strlen(head)), 0);
    assert_int_equal(cw_test_read_response(fd, &r, 3000), 0);
    assert_int_equal(r.status, 408);
    cw_test_response_fini(&r);
    close(fd);
}

/* Sends tail one byte every 100 ms after head until an answer can be read
 * (or 2.5 s pass); returns the ms from the end of head to the answer. */
static long long trickle_until_answer(int fd, const char *head, const char *tail)
{
    long long start;
    size_t i = 0;

    assert_int_equal(cw_test_send(fd, head, strlen(head)), 0);
    start = cw_test_now_ms();
    while (cw_test_now_ms() - start < 2500) {
        struct pollfd pfd = { fd, POLLIN, 0 };

        if (poll(&pfd, 1, 100) > 0) {
            break;
        }
        if (tail[i] != '\0' && cw_test_send(fd, tail + i, 1) == 0) {
            i++;
        }
    }
    return cw_test_now_ms() - start;
}

static void test_http_conn__trickled_body_is_cut_at_body_timeout(void **state)
{
    /* The body deadline runs from the end of the headers: each trickled
     * byte used to restart it, so a client sending a byte every 100 ms
     * (or a chunk extension, byte by byte) held the request open. */
    static const char *const heads[] = {
        ("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
         "Content-Length: 100\r\n\r\n"),
        ("POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/xml\r\n"
         "Transfer-Encoding: chunked\r\n\r\n1;"),
    };
    static const char tail[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    cw_test_response_t r;
    size_t i;

    (void)state;
    for (i = 0; i < CW_ARRAY_SIZE(heads); i++) {
        int fd = cw_test_connect(daemon_.port);
        long long ms;

        assert_true(fd >= 0);
        ms = trickle_until_answer(fd, heads[i], tail);
        assert_int_equal(cw_test_read_response(fd, &r, 3000), 0);
        assert_int_equal(r.status, 408);
        assert_true(r.closed);
        cw_test_response_fini(&r);
        /* body-timeout-ms is 600 here. */
        if (ms < 500 || ms > 1300) {
            fail_msg("body %zu: 408 after %lld ms, not about 600", i, ms);
        }
        close(fd);
    }
}

static void test_http_conn__idle_keep_alive_is_closed(void **state)
{
    int fd = cw_test_connect(daemon_.port);
    long long start = cw_test_now_ms();

    (void)state;
    assert_true(fd >= 0);
    /* No request at all: the connection is closed at the header timeout or
     * the idle timeout, quietly. */
    assert_int_equal(cw_test_wait_closed(fd, 4000), 0);
    assert_true(cw_test_now_ms() - start >= 500);
    close(fd);
}

static void test_http_conn__thousand_concurrent_connections(void **state)
{
    enum { N = 1000 };
    static int fds[N];
    cw_test_daemon_t d;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;
    int i;
    int ok = 0;

    (void)state;
    /* A daemon of its own with the default timeouts: opening 1,000
     * connections on a loaded machine can take longer than the short idle
     * timeout the other tests use. */
    assert_int_equal(cw_test_daemon_start(&d, NULL), 0);
    /* All 1,000 are open at once before any request is sent. */
    for (i = 0; i < N; i++) {
        fds[i] = cw_test_connect(d.port);
        assert_true(fds[i] >= 0);
    }
    for (i = 0; i < N; i++) {
        assert_int_equal(cw_test_send(fds[i], req, strlen(req)), 0);
    }
    for (i = 0; i < N; i++) {
        if (cw_test_read_response(fds[i], &r, 10000) == 0 && r.status == 200) {
            ok++;
        }
        cw_test_response_fini(&r);
    }
    for (i = 0; i < N; i++) {
        close(fds[i]);
    }
    assert_int_equal(ok, N);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    cw_test_daemon_cleanup(&d);
}

static void test_http_conn__sighup_with_broken_config_keeps_serving(void **state)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;
    long long deadline;

    (void)state;
    assert_int_equal(cw_test_daemon_write_config(&daemon_, LIMITS_XML, 0), 0);
    assert_int_equal(kill(daemon_.pid, SIGHUP), 0);
    deadline = cw_test_now_ms() + 5000;
    while (cw_test_log_count(&daemon_, "failed; the running configuration stays") < 1
           && cw_test_now_ms() < deadline) {
        sleep_ms(20);
    }
    assert_int_equal(cw_test_log_count(&daemon_, "failed; the running configuration stays"), 1);
    /* The reason is logged with its line number. */
    assert_true(cw_test_log_count(&daemon_, "clearway.xml:") >= 1);
    assert_int_equal(cw_test_roundtrip(daemon_.port, req, strlen(req), &r), 0);
    assert_int_equal(r.status, 200);
    cw_test_response_fini(&r);
    /* Put the good file back for the tests after this one. */
    assert_int_equal(cw_test_daemon_write_config(&daemon_, LIMITS_XML, 1), 0);
}

static void test_http_conn__sighup_applies_new_limits(void **state)
{
    const char *small = "  <limits>\n    <url-bytes-max>256</url-bytes-max>\n"
                        "    <drain-timeout-ms>5000</drain-timeout-ms>\n  </limits>\n";
    char req[1024];
    char path[400];
    cw_test_response_t r;
    long long deadline;

    (void)state;
    memset(path, 'p', sizeof(path) - 1);
    path[0] = '/';
    path[sizeof(path) - 1] = '\0';
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path);
    assert_int_equal(cw_test_roundtrip(daemon_.port, req, strlen(req), &r), 0);
    assert_int_equal(r.status, 404);
    cw_test_response_fini(&r);

    assert_int_equal(cw_test_daemon_write_config(&daemon_, small, 1), 0);
    assert_int_equal(kill(daemon_.pid, SIGHUP), 0);
    deadline = cw_test_now_ms() + 5000;
    while (cw_test_log_count(&daemon_, "configuration reloaded") < 1
           && cw_test_now_ms() < deadline) {
        sleep_ms(20);
    }
    assert_int_equal(cw_test_log_count(&daemon_, "configuration reloaded"), 1);
    assert_int_equal(cw_test_roundtrip(daemon_.port, req, strlen(req), &r), 0);
    assert_int_equal(r.status, 414);
    cw_test_response_fini(&r);
}

static void test_http_conn__sigterm_finishes_in_flight_request(void **state)
{
    /* A request is half sent when SIGTERM arrives: the daemon stops
     * accepting, still answers it, then exits 0. */
    cw_test_daemon_t d;
    const char *head = "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       "Content-Length: 4\r\n\r\n{}";
    cw_test_response_t r;
    int fd;
    int fd2;
    int status;

    (void)state;
    assert_int_equal(cw_test_daemon_start(&d, NULL), 0);
    fd = cw_test_connect(d.port);
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, head, strlen(head)), 0);
    sleep_ms(100);
    assert_int_equal(kill(d.pid, SIGTERM), 0);
    sleep_ms(200);
    /* The listener is closed: a new connection is refused. */
    fd2 = cw_test_connect(d.port);
    assert_true(fd2 < 0);
    assert_int_equal(cw_test_send(fd, "{}", 2), 0);
    assert_int_equal(cw_test_read_response(fd, &r, 5000), 0);
    assert_int_equal(r.status, 415);
    assert_true(r.closed);
    cw_test_response_fini(&r);
    close(fd);
    status = cw_test_daemon_stop(&d, 0, 5000);
    assert_int_equal(status, 0);
    assert_true(cw_test_log_count(&d, "all listeners drained") == 1);
    cw_test_daemon_cleanup(&d);
}

/* ==== In process: a late answer ahead of a pipelined "close" ==== */

typedef struct late_fx {
    uv_loop_t loop;
    cw_http_server_t *server;
    cw_http_request_t *held; /* the first request, answered after the second */
    int requests;
    int closed;
} late_fx_t;

static void late_on_request(cw_http_request_t *req, void *arg)
{
    late_fx_t *f = arg;

    if (f->requests++ == 0) {
        f->held = req;
        return;
    }
    (void)cw_http_respond(req, 200, "text/plain", NULL, "b\n", 2);
}

static void late_on_closed(cw_http_server_t *server, void *arg)
{
    late_fx_t *f = arg;

    (void)server;
    f->closed = 1;
}

static void test_http_conn__late_answer_ahead_of_close_keeps_alive(void **state)
{
    /* A handler answers the first of two pipelined requests only after the
     * second, which asks to close, has been parsed (the pipeline answers
     * from a worker). "Connection: close" belongs on the last response
     * alone (RFC 9112 §9.6): it used to go on the first one too, and a
     * client stops reading there, losing the second answer. Run in process
     * so that the first answer can be held back. */
    static const char config_xml[] =
        "<clearway xmlns=\"urn:clearway:config:1\">\n"
        "  <node id=\"late\"/>\n"
        "  <listen name=\"public\" address=\"127.0.0.1\" port=\"0\"/>\n"
        "</clearway>\n";
    const char *reqs = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    late_fx_t f;
    cw_config_t *cfg = NULL;
    cw_config_errors_t errs;
    cw_http_server_options_t opts = { 0 };
    cw_error_t err = { 0 };
    char buf[4096];
    char first[4096];
    size_t len = 0;
    const char *second;
    uint64_t deadline_ns = cw_time_mono_ns() + 5000000000u;
    int fd;

    (void)state;
    memset(&f, 0, sizeof(f));
    cw_config_errors_init(&errs);
    assert_int_equal(cw_config_load_mem(&cfg, "late.xml", config_xml, strlen(config_xml), &errs),
                     0);
    cw_config_errors_fini(&errs);
    assert_int_equal(uv_loop_init(&f.loop), 0);
    opts.listen = &cfg->listens[0];
    opts.cfg = cfg;
    opts.on_request = late_on_request;
    opts.arg = &f;
    assert_int_equal(cw_http_server_new(&f.server, &f.loop, &opts, &err), 0);
    fd = cw_test_connect(cw_http_server_port(f.server));
    assert_true(fd >= 0);
    assert_int_equal(cw_test_send(fd, reqs, strlen(reqs)), 0);
    while (f.requests < 2 && cw_time_mono_ns() < deadline_ns) {
        (void)uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(f.requests, 2);
    assert_int_equal(cw_http_respond(f.held, 200, "text/plain", NULL, "a\n", 2), 0);
    /* Both answers go out, then the server closes. */
    while (len + 1 < sizeof(buf) && cw_time_mono_ns() < deadline_ns) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        ssize_t n;

        (void)uv_run(&f.loop, UV_RUN_NOWAIT);
        if (poll(&pfd, 1, 1) <= 0) {
            continue;
        }
        n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0) {
            break;
        }
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fd);
    second = strstr(buf + 1, "HTTP/1.1 200 OK\r\n");
    assert_non_null(second);
    memcpy(first, buf, (size_t)(second - buf));
    first[second - buf] = '\0';
    assert_null(strstr(first, "Connection: close"));
    assert_non_null(strstr(second, "Connection: close\r\n"));
    assert_non_null(strstr(second, "\r\n\r\nb\n"));

    cw_http_server_close(f.server, 0, late_on_closed, &f);
    assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f.closed, 1);
    cw_http_server_free(f.server);
    cw_config_unref(cfg);
    assert_int_equal(uv_loop_close(&f.loop), 0);
}

/* ==== In process: a client that reads nothing while it trickles ==== */

typedef struct stuck_fx {
    uv_loop_t loop;
    cw_http_server_t *server;
    int requests;
    int closed;
} stuck_fx_t;

static void stuck_on_request(cw_http_request_t *req, void *arg)
{
    /* Larger than the socket buffers can hold, so that the write stays in
     * flight while the client does not read. */
    enum { BIG = 12 << 20 };
    stuck_fx_t *f = arg;
    char *body = cw_calloc(1, BIG);

    f->requests++;
    assert_non_null(body);
    assert_int_equal(cw_http_respond(req, 200, "text/plain", NULL, body, BIG), 0);
    cw_free(body);
}

static void stuck_on_closed(cw_http_server_t *server, void *arg)
{
    stuck_fx_t *f = arg;

    (void)server;
    f->closed = 1;
}

static void test_http_conn__stuck_write_does_not_extend_header_deadline(void **state)
{
    /* The first answer is stuck (the client reads nothing) while the next
     * request's headers trickle in. The write deadline used to replace the
     * header deadline and restart with every byte read, so the connection
     * lived as long as the client kept trickling. Now the header deadline
     * queues a 408, and the write deadline, counted from the start of the
     * write, closes the connection. */
    static const char config_xml[] =
        "<clearway xmlns=\"urn:clearway:config:1\">\n"
        "  <node id=\"stuck\"/>\n"
        "  <listen name=\"public\" address=\"127.0.0.1\" port=\"0\"/>\n"
        "  <limits>\n"
        "    <header-timeout-ms>300</header-timeout-ms>\n"
        "    <write-timeout-ms>1000</write-timeout-ms>\n"
        "    <body-bytes-max>16777216</body-bytes-max>\n"
        "    <write-buffer-bytes-max>33554432</write-buffer-bytes-max>\n"
        "  </limits>\n"
        "</clearway>\n";
    static const char first[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char next[] = "GET /next HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa";
    stuck_fx_t f;
    cw_config_t *cfg = NULL;
    cw_config_errors_t errs;
    cw_http_server_options_t opts = { 0 };
    cw_error_t err = { 0 };
    struct sockaddr_in sin;
    int rcvbuf = 4096;
    long long start;
    long long next_byte;
    size_t sent = 0;
    int fd;

    (void)state;
    memset(&f, 0, sizeof(f));
    cw_config_errors_init(&errs);
    assert_int_equal(cw_config_load_mem(&cfg, "stuck.xml", config_xml, strlen(config_xml), &errs),
                     0);
    cw_config_errors_fini(&errs);
    assert_int_equal(uv_loop_init(&f.loop), 0);
    opts.listen = &cfg->listens[0];
    opts.cfg = cfg;
    opts.on_request = stuck_on_request;
    opts.arg = &f;
    assert_int_equal(cw_http_server_new(&f.server, &f.loop, &opts, &err), 0);

    /* A small receive window: the answer cannot all land in the client. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(cw_http_server_port(f.server));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(cw_test_send(fd, first, strlen(first)), 0);
    start = cw_test_now_ms();
    while (f.requests < 1 && cw_test_now_ms() - start < 5000) {
        (void)uv_run(&f.loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(f.requests, 1);

    start = cw_test_now_ms();
    next_byte = start;
    while (cw_http_server_metrics(f.server)->connections_open > 0
           && cw_test_now_ms() - start < 3000) {
        (void)uv_run(&f.loop, UV_RUN_NOWAIT);
        if (cw_test_now_ms() >= next_byte && sent < strlen(next)) {
            if (send(fd, next + sent, 1, MSG_NOSIGNAL) == 1) {
                sent++;
            }
            next_byte += 100;
        }
        sleep_ms(1);
    }
    if (cw_http_server_metrics(f.server)->connections_open > 0) {
        fail_msg("still open after %lld ms of trickled headers", cw_test_now_ms() - start);
    }
    /* Closed at the write deadline, 1 s after the write started. */
    assert_true(cw_test_now_ms() - start < 1800);
    close(fd);

    cw_http_server_close(f.server, 0, stuck_on_closed, &f);
    assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f.closed, 1);
    cw_http_server_free(f.server);
    cw_config_unref(cfg);
    assert_int_equal(uv_loop_close(&f.loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_conn__keep_alive_reuses_the_connection),
        cmocka_unit_test(test_http_conn__http10_closes_unless_keep_alive),
        cmocka_unit_test(test_http_conn__early_refusal_speaks_the_right_version),
        cmocka_unit_test(test_http_conn__connection_close_is_honoured),
        cmocka_unit_test(test_http_conn__pipelined_requests_answer_in_order),
        cmocka_unit_test(test_http_conn__backpressure_keeps_every_response),
        cmocka_unit_test(test_http_conn__expect_100_continue),
        cmocka_unit_test(test_http_conn__expect_other_is_417),
        cmocka_unit_test(test_http_conn__chunked_body_is_read),
        cmocka_unit_test(test_http_conn__slowloris_is_cut_at_header_timeout),
        cmocka_unit_test(test_http_conn__slow_body_is_408),
        cmocka_unit_test(test_http_conn__trickled_body_is_cut_at_body_timeout),
        cmocka_unit_test(test_http_conn__idle_keep_alive_is_closed),
        cmocka_unit_test(test_http_conn__thousand_concurrent_connections),
        cmocka_unit_test(test_http_conn__sighup_with_broken_config_keeps_serving),
        cmocka_unit_test(test_http_conn__sighup_applies_new_limits),
        cmocka_unit_test(test_http_conn__sigterm_finishes_in_flight_request),
        cmocka_unit_test(test_http_conn__late_answer_ahead_of_close_keeps_alive),
        cmocka_unit_test(test_http_conn__stuck_write_does_not_extend_header_deadline),
    };

    return cmocka_run_group_tests_name("integration_http_conn", tests, group_setup, group_teardown);
}
