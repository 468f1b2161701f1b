/*
 * bench/lg_http: the load generator's URL parsing and the framing of the
 * HTTP/1.x responses it reads, whole, a byte at a time, and malformed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "lg_http.h"
#include "util.h"

static void test_url__https_address_with_port_and_path(void **state)
{
    lg_url_t u;
    char err[128];

    (void)state;
    assert_int_equal(lg_url_parse("https://127.0.0.1:8443/v1/messages", &u, err, sizeof(err)), 0);
    assert_true(u.tls);
    assert_true(u.ip_literal);
    assert_string_equal(u.host, "127.0.0.1");
    assert_string_equal(u.port, "8443");
    assert_string_equal(u.authority, "127.0.0.1:8443");
    assert_string_equal(u.path, "/v1/messages");
}

static void test_url__defaults_ipv6_query_and_fragment(void **state)
{
    lg_url_t u;
    char err[128];

    (void)state;
    assert_int_equal(lg_url_parse("http://example.org", &u, err, sizeof(err)), 0);
    assert_false(u.tls);
    assert_false(u.ip_literal);
    assert_string_equal(u.host, "example.org");
    assert_string_equal(u.port, "80");
    assert_string_equal(u.authority, "example.org");
    assert_string_equal(u.path, "/");

    assert_int_equal(lg_url_parse("HTTPS://[::1]:9/x?y=1#frag", &u, err, sizeof(err)), 0);
    assert_true(u.tls);
    assert_true(u.ip_literal);
    assert_string_equal(u.host, "::1");
    assert_string_equal(u.port, "9");
    assert_string_equal(u.authority, "[::1]:9");
    assert_string_equal(u.path, "/x?y=1");

    assert_int_equal(lg_url_parse("https://gw.example?q=2", &u, err, sizeof(err)), 0);
    assert_string_equal(u.port, "443");
    assert_string_equal(u.path, "/?q=2");
}

static void test_url__rejects_what_it_cannot_send(void **state)
{
    static const char *const bad[] = {
        "ftp://example.org/", "http://",         "http:///path", "http://user@example.org/",
        "http://h:0/",        "http://h:70000/", "http://h:/",   "http://h:8x/",
        "http://[::1/",       "http://[::1]x/",  "http://h/a b", "http://h/a\r\nX: y",
        "example.org",
    };
    lg_url_t u;
    char err[128];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        if (lg_url_parse(bad[i], &u, err, sizeof(err)) != -1) {
            fail_msg("accepted %s", bad[i]);
        }
        assert_true(err[0] != '\0');
    }
}

static void test_url__host_length_bounded(void **state)
{
    char url[8 + LG_HOST_MAX + 16];
    lg_url_t u;
    char err[128];

    (void)state;
    memcpy(url, "http://", 7);
    memset(url + 7, 'h', LG_HOST_MAX);
    memcpy(url + 7 + LG_HOST_MAX, "/x", 3);
    assert_int_equal(lg_url_parse(url, &u, err, sizeof(err)), 0);
    assert_int_equal(strlen(u.host), LG_HOST_MAX);
    assert_string_equal(u.port, "80");
    /* One more, with and without a port, and bracketed. */
    memset(url + 7, 'h', LG_HOST_MAX + 1);
    memcpy(url + 8 + LG_HOST_MAX, ":81/x", 6);
    assert_int_equal(lg_url_parse(url, &u, err, sizeof(err)), -1);
    memcpy(url + 8 + LG_HOST_MAX, "/x", 3);
    assert_int_equal(lg_url_parse(url, &u, err, sizeof(err)), -1);
    url[7] = '[';
    memset(url + 8, 'h', LG_HOST_MAX + 1);
    memcpy(url + 9 + LG_HOST_MAX, "]:1/", 5);
    assert_int_equal(lg_url_parse(url, &u, err, sizeof(err)), -1);
}

static void test_url__long_path_refused_not_cut(void **state)
{
    size_t n = 7 + 1 + LG_PATH_MAX + 1;
    char *url = cw_malloc(n + 1);
    lg_url_t u;
    char err[128];

    (void)state;
    assert_non_null(url);
    memcpy(url, "http://h/", 9);
    memset(url + 9, 'a', n - 9);
    url[n] = '\0';
    assert_int_equal(lg_url_parse(url, &u, err, sizeof(err)), -1);
    url[7 + 1 + LG_PATH_MAX] = '\0'; /* a path of exactly LG_PATH_MAX bytes */
    assert_int_equal(lg_url_parse(url, &u, err, sizeof(err)), 0);
    assert_int_equal(strlen(u.path), LG_PATH_MAX);
    cw_free(url);
}

/* Feeds text to a fresh parse in pieces of step bytes (0: whole), each
 * time in a heap block of exactly the bytes given so far, so that a read
 * past them is an AddressSanitizer report; returns the first result that
 * is not 0 (or 0), checks that a response is never complete before its
 * last byte, and leaves what the parse kept in buf (up to 512 bytes). */
static int feed(const char *text, size_t step, lg_resp_t *r, char *buf, size_t *len)
{
    size_t total = strlen(text);
    size_t given = 0;
    char *data = NULL;
    int rc = 0;

    lg_resp_reset(r);
    *len = 0;
    if (step == 0) {
        step = total;
    }
    while (given < total) {
        size_t n = total - given < step ? total - given : step;
        char *grown = cw_malloc(*len + n);

        assert_non_null(grown);
        if (*len > 0) {
            memcpy(grown, data, *len);
        }
        memcpy(grown + *len, text + given, n);
        cw_free(data);
        data = grown;
        *len += n;
        given += n;
        rc = lg_resp_parse(r, data, len);
        if (rc != 0) {
            /* A complete response must not be seen before its last byte. */
            if (rc == 1) {
                assert_int_equal(given, total);
            }
            break;
        }
    }
    assert_true(*len <= 512);
    if (*len > 0) {
        memcpy(buf, data, *len);
    }
    cw_free(data);
    return rc;
}

static void test_resp__content_length_whole_and_byte_by_byte(void **state)
{
    static const char text[] = "HTTP/1.1 200 OK\r\nServer: clearway\r\nContent-Length: 5\r\n"
                               "Content-Type: text/plain\r\n\r\nhello";
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    for (size_t step = 0; step <= 7; step += 1) {
        assert_int_equal(feed(text, step, &r, buf, &len), 1);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body, LG_B_LENGTH);
        assert_int_equal(r.body_len, 5);
        assert_false(r.close_after);
        assert_memory_equal(buf + r.head_len, "hello", 5);
    }
}

static void test_resp__connection_close_and_http_1_0(void **state)
{
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    assert_int_equal(feed("HTTP/1.1 413 Too Large\r\nConnection: Close\r\n"
                          "Content-Length: 0\r\n\r\n",
                          0, &r, buf, &len),
                     1);
    assert_int_equal(r.status, 413);
    assert_true(r.close_after);
    assert_int_equal(feed("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, &r, buf, &len), 1);
    assert_true(r.close_after);
    assert_int_equal(feed("HTTP/1.0 200 OK\r\nConnection: foo, keep-alive\r\nContent-Length: 2"
                          "\r\n\r\nok",
                          0, &r, buf, &len),
                     1);
    assert_false(r.close_after);
    /* Bytes after the body: the response counts, the connection does not. */
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP", 0, &r, buf, &len),
                     1);
    assert_true(r.close_after);
    /* No body at all, whatever the length would say. */
    assert_int_equal(feed("HTTP/1.1 204 No Content\r\n\r\n", 0, &r, buf, &len), 1);
    assert_int_equal(r.status, 204);
}

static void test_resp__chunked_with_extension_and_trailer(void **state)
{
    static const char text[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5;name=x\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                               "0\r\nX-Trailer: 1\r\n\r\n";
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    for (size_t step = 0; step <= 5; step++) {
        assert_int_equal(feed(text, step, &r, buf, &len), 1);
        assert_int_equal(r.body, LG_B_CHUNKED);
        assert_false(r.close_after);
    }
    assert_int_equal(
        feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 1, &r, buf, &len),
        1);
}

static void test_resp__interim_response_dropped(void **state)
{
    static const char text[] = "HTTP/1.1 100 Continue\r\n\r\n"
                               "HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\nnew";
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    for (size_t step = 0; step <= 3; step++) {
        assert_int_equal(feed(text, step, &r, buf, &len), 1);
        assert_int_equal(r.status, 201);
        assert_int_equal(len, strlen(text) - strlen("HTTP/1.1 100 Continue\r\n\r\n"));
        assert_memory_equal(buf, "HTTP/1.1 201", 12);
    }
}

static void test_resp__until_close_without_length(void **state)
{
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    assert_int_equal(feed("HTTP/1.1 200 OK\r\n\r\nsome body", 0, &r, buf, &len), 0);
    assert_int_equal(r.body, LG_B_TO_CLOSE);
    assert_true(r.close_after);
}

static void test_resp__malformed_refused(void **state)
{
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n",
        "SSH-2.0-OpenSSH\r\n\r\n",
        "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
    };
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        for (size_t step = 0; step <= 1; step++) {
            int rc = feed(bad[i], step, &r, buf, &len);

            if (rc != LG_RESP_MALFORMED) {
                fail_msg("case %zu, step %zu, gave %d: %s", i, step, rc, bad[i]);
            }
        }
    }
}

static void test_resp__bounded(void **state)
{
    size_t big = LG_HEAD_MAX + 16;
    char *buf = cw_malloc(LG_RESP_MAX + 64);
    size_t len = 0;
    lg_resp_t r;
    int n;

    (void)state;
    assert_non_null(buf);
    /* A header block that never ends. */
    lg_resp_reset(&r);
    memcpy(buf, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(buf + 20, 'a', big - 20);
    len = big;
    assert_int_equal(lg_resp_parse(&r, buf, &len), LG_RESP_TOO_LARGE);
    /* A body read until the close that outgrows the bound. */
    lg_resp_reset(&r);
    n = snprintf(buf, 64, "HTTP/1.1 200 OK\r\n\r\n");
    memset(buf + n, 'b', LG_RESP_MAX + 1);
    len = (size_t)n + LG_RESP_MAX;
    assert_int_equal(lg_resp_parse(&r, buf, &len), 0);
    len++;
    assert_int_equal(lg_resp_parse(&r, buf, &len), LG_RESP_TOO_LARGE);
    /* A whole header block over the bound, blank line included. */
    lg_resp_reset(&r);
    memcpy(buf, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(buf + 20, 'a', big - 20);
    memcpy(buf + big, "\r\n\r\n", 4);
    len = big + 4;
    assert_int_equal(lg_resp_parse(&r, buf, &len), LG_RESP_TOO_LARGE);
    cw_free(buf);
}

static void test_resp__sizes_over_the_bound(void **state)
{
    static const char *const big[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n",
    };
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        int rc = feed(big[i], 0, &r, buf, &len);

        if (rc != LG_RESP_TOO_LARGE) {
            fail_msg("case %zu gave %d: %s", i, rc, big[i]);
        }
    }
    /* Exactly the bound is fine. */
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n", 0, &r, buf, &len),
                     0);
    assert_int_equal(r.body_len, LG_RESP_MAX);
}

static void test_resp__framing_corners(void **state)
{
    char buf[512];
    size_t len;
    lg_resp_t r;

    (void)state;
    /* Several interim responses, then the real one. */
    assert_int_equal(feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
                          "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
                          1, &r, buf, &len),
                     1);
    assert_int_equal(r.status, 200);
    /* A lone interim response: nothing left, more to come. */
    assert_int_equal(feed("HTTP/1.1 100 Continue\r\n\r\n", 0, &r, buf, &len), 0);
    assert_int_equal(len, 0);
    /* Chunked wins over a Content-Length beside it. */
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked"
                          "\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
                          0, &r, buf, &len),
                     1);
    assert_int_equal(r.body, LG_B_CHUNKED);
    /* Bytes after a chunked body: the connection is not reused. */
    assert_int_equal(
        feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nX", 0, &r, buf, &len),
        1);
    assert_true(r.close_after);
    /* A one-letter trailer line with a bare LF is not the end. */
    assert_int_equal(
        feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX\n", 0, &r, buf, &len), 0);
    /* 304 has no body whatever its Content-Length says. */
    assert_int_equal(
        feed("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", 0, &r, buf, &len), 1);
    /* close among other tokens. */
    assert_int_equal(feed("HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0"
                          "\r\n\r\n",
                          0, &r, buf, &len),
                     1);
    assert_true(r.close_after);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url__https_address_with_port_and_path),
        cmocka_unit_test(test_url__defaults_ipv6_query_and_fragment),
        cmocka_unit_test(test_url__rejects_what_it_cannot_send),
        cmocka_unit_test(test_url__host_length_bounded),
        cmocka_unit_test(test_url__long_path_refused_not_cut),
        cmocka_unit_test(test_resp__content_length_whole_and_byte_by_byte),
        cmocka_unit_test(test_resp__connection_close_and_http_1_0),
        cmocka_unit_test(test_resp__chunked_with_extension_and_trailer),
        cmocka_unit_test(test_resp__interim_response_dropped),
        cmocka_unit_test(test_resp__until_close_without_length),
        cmocka_unit_test(test_resp__malformed_refused),
        cmocka_unit_test(test_resp__bounded),
        cmocka_unit_test(test_resp__sizes_over_the_bound),
        cmocka_unit_test(test_resp__framing_corners),
    };

    return cmocka_run_group_tests_name("bench_lg_http", tests, NULL, NULL);
}
