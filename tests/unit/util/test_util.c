/*
 * util: bounded buffers, escaping, pools, number parsing, errors, the
 * allocation fault hook and the loop thread's gathered log lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util.h"

static void test_buf__append_stops_at_max(void **state)
{
    cw_buf_t b;

    (void)state;
    cw_buf_init(&b, 8);
    assert_int_equal(cw_buf_append(&b, "12345678", 8), 0);
    assert_int_equal(cw_buf_append(&b, "9", 1), CW_E2BIG);
    /* A failed append leaves the buffer as it was. */
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    assert_int_equal(cw_buf_appendf(&b, "%d", 1), CW_E2BIG);
    cw_buf_fini(&b);
    assert_null(b.data);
}

/* Reserving makes the room in one allocation; past the maximum it fails. */
static void test_buf__reserve_once(void **state)
{
    cw_buf_t b;
    char *data;

    (void)state;
    cw_buf_init(&b, 4096);
    assert_int_equal(cw_buf_reserve(&b, 3000), 0);
    assert_true(b.cap >= 3001);
    data = b.data;
    for (int i = 0; i < 300; i++) {
        assert_int_equal(cw_buf_append(&b, "0123456789", 10), 0);
    }
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.len, 3000);
    assert_int_equal(cw_buf_reserve(&b, 2000), CW_E2BIG);
    assert_int_equal(b.len, 3000);
    cw_buf_fini(&b);
}

/* cw_buf_put is cw_buf_append: from empty, in the room allocated, growing
 * past it, and stopping at the maximum with the buffer unchanged. */
static void test_buf__put_is_append(void **state)
{
    cw_buf_t b;
    char want[301];

    (void)state;
    cw_buf_init(&b, 300);
    assert_int_equal(cw_buf_put(&b, "ab", 2), 0);
    assert_string_equal(b.data, "ab");
    for (int i = 0; i < 29; i++) {
        assert_int_equal(cw_buf_put(&b, "0123456789", 10), 0);
    }
    assert_int_equal(b.len, 292);
    assert_true(b.cap > 300);
    assert_int_equal(cw_buf_put(&b, "0123456789", 9), CW_E2BIG);
    assert_int_equal(cw_buf_put(&b, "01234567", 8), 0);
    assert_int_equal(cw_buf_put(&b, "x", 1), CW_E2BIG);
    assert_int_equal(cw_buf_put(&b, "", 0), 0);
    memcpy(want, "ab", 2);
    for (int i = 0; i < 29; i++) {
        memcpy(want + 2 + 10 * i, "0123456789", 10);
    }
    memcpy(want + 292, "01234567", 8);
    want[300] = '\0';
    assert_int_equal(b.len, 300);
    assert_string_equal(b.data, want);
    cw_buf_fini(&b);
}

/* The 8-4-4-4-12 form, lower case, with the version 4 and variant 10 bits. */
static void test_uuid4_format(void **state)
{
    unsigned char b[16];
    char out[CW_UUID_SIZE];

    (void)state;
    for (int i = 0; i < 16; i++) {
        b[i] = (unsigned char)(i * 0x11);
    }
    cw_uuid4_format(out, b);
    assert_string_equal(out, "00112233-4455-4677-8899-aabbccddeeff");
    memset(b, 0xff, sizeof(b));
    cw_uuid4_format(out, b);
    assert_string_equal(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
    memset(b, 0, sizeof(b));
    cw_uuid4_format(out, b);
    assert_string_equal(out, "00000000-0000-4000-8000-000000000000");
}

static void test_buf__consume_and_detach(void **state)
{
    cw_buf_t b;
    size_t len;
    char *p;

    (void)state;
    cw_buf_init(&b, 1024);
    assert_int_equal(cw_buf_appendf(&b, "hello %s", "world"), 0);
    cw_buf_consume(&b, 6);
    assert_string_equal(b.data, "world");
    p = cw_buf_detach(&b, &len);
    assert_int_equal(len, 5);
    assert_string_equal(p, "world");
    assert_null(b.data);
    cw_free(p);
}

static void test_buf__json_escaping(void **state)
{
    cw_buf_t b;
    const char in[] = "a\"b\\c\n\x01\x7f";

    (void)state;
    cw_buf_init(&b, 1024);
    assert_int_equal(cw_buf_append_json_str(&b, in, sizeof(in) - 1), 0);
    assert_string_equal(b.data, "a\\\"b\\\\c\\n\\u0001\\u007f");
    cw_buf_fini(&b);
}

static void test_buf__xml_escaping(void **state)
{
    cw_buf_t b;
    const char *in = "<a href=\"x\">&'</a>";

    (void)state;
    cw_buf_init(&b, 1024);
    assert_int_equal(cw_buf_append_xml_str(&b, in, strlen(in)), 0);
    assert_string_equal(b.data, "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
    cw_buf_fini(&b);
}

/*
 * What is not well-formed UTF-8 (a message cut inside a character, a
 * Latin-1 byte, an overlong form, a surrogate) becomes U+FFFD, and so do
 * the characters XML 1.0 does not allow; whole characters pass as they are.
 */
static void test_buf__escaping_keeps_utf8_well_formed(void **state)
{
    static const struct {
        const char *in;
        const char *json;
        const char *xml;
    } cases[] = {
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6",
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa6" },
        { "cut \xc3", "cut \xef\xbf\xbd", "cut \xef\xbf\xbd" },
        { "latin1 \xe9t\xe9", "latin1 \xef\xbf\xbdt\xef\xbf\xbd",
          "latin1 \xef\xbf\xbdt\xef\xbf\xbd" },
        { "over \xc0\xaf", "over \xef\xbf\xbd\xef\xbf\xbd", "over \xef\xbf\xbd\xef\xbf\xbd" },
        { "sur \xed\xa0\x80", "sur \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
          "sur \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
        { "big \xf4\x90\x80\x80", "big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd",
          "big \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
        { "ctl \x01\t", "ctl \\u0001\\t", "ctl \xef\xbf\xbd\t" },
        { "nonchar \xef\xbf\xbe", "nonchar \xef\xbf\xbe",
          "nonchar \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
    };
    cw_buf_t b;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cw_buf_init(&b, 1024);
        assert_int_equal(cw_buf_append_json_str(&b, cases[i].in, strlen(cases[i].in)), 0);
        assert_string_equal(b.data, cases[i].json);
        cw_buf_fini(&b);
        cw_buf_init(&b, 1024);
        assert_int_equal(cw_buf_append_xml_str(&b, cases[i].in, strlen(cases[i].in)), 0);
        assert_string_equal(b.data, cases[i].xml);
        cw_buf_fini(&b);
    }
}

static int cleanup_calls;

static void on_cleanup(void *arg)
{
    /* Cleanups run newest first. */
    assert_int_equal(*(int *)arg, 2 - cleanup_calls);
    cleanup_calls++;
}

static void test_pool__alloc_and_cleanups(void **state)
{
    cw_pool_t *pool = cw_pool_new(256);
    static int one = 1;
    static int two = 2;
    char *big;
    char *s;

    (void)state;
    assert_non_null(pool);
    s = cw_pool_strndup(pool, "abcdef", 3);
    assert_string_equal(s, "abc");
    assert_int_equal((uintptr_t)s % 16, 0);
    big = cw_pool_alloc(pool, 10000); /* larger than a block */
    assert_non_null(big);
    assert_int_equal(big[9999], 0);
    assert_int_equal(cw_pool_cleanup_add(pool, on_cleanup, &one), 0);
    assert_int_equal(cw_pool_cleanup_add(pool, on_cleanup, &two), 0);
    cleanup_calls = 0;
    cw_pool_free(pool);
    assert_int_equal(cleanup_calls, 2);
}

static void test_str__parse_uint(void **state)
{
    uint64_t v = 0;

    (void)state;
    assert_int_equal(cw_parse_uint("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cw_parse_uint("101", 0, 100, &v), CW_E2BIG);
    assert_int_equal(cw_parse_uint("-1", 0, 100, &v), CW_EINVAL);
    assert_int_equal(cw_parse_uint(" 1", 0, 100, &v), CW_EINVAL);
    assert_int_equal(cw_parse_uint("", 0, 100, &v), CW_EINVAL);
    assert_int_equal(cw_parse_uint("1x", 0, 100, &v), CW_EINVAL);
    assert_int_equal(cw_parse_uint("99999999999999999999999", 0, UINT64_MAX, &v), CW_E2BIG);
    assert_int_equal(cw_parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0);
    assert_true(v == UINT64_MAX);
}

static void test_str__strlcpy_and_caseeq(void **state)
{
    char small[4];

    (void)state;
    assert_int_equal(cw_strlcpy(small, "abcdef", sizeof(small)), 6);
    assert_string_equal(small, "abc");
    assert_true(cw_strncaseeq("Content-Length", 14, "content-length"));
    assert_false(cw_strncaseeq("Content-Len", 11, "content-length"));
    assert_false(cw_strncaseeq("Content-Lengths", 15, "content-length"));
    /* Hex digits of either case; anything else, the bytes around them included, is -1. */
    assert_int_equal(cw_hex_digit('0'), 0);
    assert_int_equal(cw_hex_digit('9'), 9);
    assert_int_equal(cw_hex_digit('a'), 10);
    assert_int_equal(cw_hex_digit('F'), 15);
    assert_int_equal(cw_hex_digit('/'), -1);
    assert_int_equal(cw_hex_digit(':'), -1);
    assert_int_equal(cw_hex_digit('g'), -1);
    assert_int_equal(cw_hex_digit('G'), -1);
    assert_int_equal(cw_hex_digit('@'), -1);
    assert_int_equal(cw_hex_digit('`'), -1);
    assert_int_equal(cw_hex_digit('\0'), -1);
}

/* RFC 4648 §10's vectors, all 256 byte values, and what cw_base64_is refuses. */
static void test_str__base64(void **state)
{
    static const char *const vectors[][2] = {
        { "", "" },
        { "f", "Zg==" },
        { "fo", "Zm8=" },
        { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" },
        { "fooba", "Zm9vYmE=" },
        { "foobar", "Zm9vYmFy" },
    };
    unsigned char all[256];
    char out[CW_BASE64_LEN(sizeof(all))];
    char saved;
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        size_t len = strlen(vectors[i][0]);

        assert_int_equal(CW_BASE64_LEN(len), strlen(vectors[i][1]));
        n = cw_base64_encode(out, vectors[i][0], len);
        assert_int_equal(n, strlen(vectors[i][1]));
        assert_memory_equal(out, vectors[i][1], n);
        assert_true(cw_base64_is(vectors[i][1], n, vectors[i][0], len));
    }
    for (size_t i = 0; i < sizeof(all); i++) {
        all[i] = (unsigned char)i;
    }
    n = cw_base64_encode(out, all, sizeof(all));
    assert_int_equal(n, 344);
    assert_memory_equal(out, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44);
    assert_memory_equal(out + 300, "4eLj5OXm5+jp6uvs7e7v8PHy8/T19vf4+fr7/P3+/w==", 44);
    assert_true(cw_base64_is(out, n, all, sizeof(all)));
    /* One character off, one short, one byte of the raw side changed. */
    saved = out[100];
    out[100] = saved == 'A' ? 'B' : 'A';
    assert_false(cw_base64_is(out, n, all, sizeof(all)));
    out[100] = saved;
    assert_true(cw_base64_is(out, n, all, sizeof(all)));
    assert_false(cw_base64_is(out, n - 4, all, sizeof(all)));
    all[255] = 0;
    assert_false(cw_base64_is(out, n, all, sizeof(all)));
    assert_false(cw_base64_is("Zg==", 4, "g", 1));
    assert_false(cw_base64_is("Zg=", 3, "f", 1));
}

static void test_error__names_and_messages(void **state)
{
    cw_error_t err;

    (void)state;
    assert_string_equal(cw_err_name(CW_ENOMEM), "CW_ENOMEM");
    assert_string_equal(cw_strerror(CW_E2BIG), "limit exceeded");
    assert_string_equal(cw_err_name(-999), "CW_E?");
    assert_int_equal(cw_error_set(&err, CW_EPARSE, "test", "line %d", 7), CW_EPARSE);
    assert_string_equal(err.msg, "line 7");
    assert_string_equal(err.module, "test");
}

static void test_alloc__fault_hook_fails_nth(void **state)
{
    void *a;
    void *b;

    (void)state;
    cw_alloc_fail_after(1);
    a = cw_malloc(8);
    b = cw_malloc(8);
    cw_alloc_fail_reset();
    assert_non_null(a);
    assert_null(b);
    cw_free(a);
}

/* RFC 3339 instants: offsets applied, fractions ignored, days checked
 * against their month (leap years included), anything else CW_EPARSE. */
static void test_time__parse_rfc3339(void **state)
{
    static const struct {
        const char *in;
        int rc;
        int64_t t;
    } cases[] = {
        { "1970-01-01T00:00:00Z", 0, 0 },
        { "2026-11-29T10:00:00Z", 0, 1795946400 },
        { "2026-11-29T11:00:00+01:00", 0, 1795946400 },
        { "2026-11-29T00:30:00.999-09:30", 0, 1795946400 },
        { "2024-02-29T00:00:00Z", 0, 1709164800 },
        { "2000-02-29T00:00:00z", 0, 951782400 },
        { "2025-02-29T00:00:00Z", CW_EPARSE, 0 },
        { "1900-02-29T00:00:00Z", CW_EPARSE, 0 },
        { "2026-04-31T00:00:00Z", CW_EPARSE, 0 },
        { "2026-11-29", CW_EPARSE, 0 },
        { "2026-11-29T10:00:00", CW_EPARSE, 0 },
        { "2026-11-29T10:00:00+1:00", CW_EPARSE, 0 },
        { "2026-11-29T10:00:00.Z", CW_EPARSE, 0 },
        { "2026-11-29T24:00:00Z", CW_EPARSE, 0 },
        { "2026-11-29T10:00:00Zjunk", CW_EPARSE, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t t = -1;
        int rc = cw_time_parse_rfc3339(cases[i].in, &t);

        if (rc != cases[i].rc || (rc == 0 && t != cases[i].t)) {
            fail_msg("\"%s\": rc %d, t %lld", cases[i].in, rc, (long long)t);
        }
    }
    assert_int_equal(cw_time_parse_rfc3339(NULL, NULL), CW_EPARSE);
}

static void test_time__format(void **state)
{
    char out[32];

    (void)state;
    cw_time_format_utc(out, sizeof(out), 0);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    cw_time_format_utc(out, sizeof(out), 1796000000);
    assert_string_equal(out, "2026-11-30T00:53:20Z");
}

/* ==== Gathered log lines ==== */

/* stderr redirected into a non-blocking pipe while a test logs. */
typedef struct log_capture_s {
    int saved;
    int rd;
} log_capture_t;

static void capture_begin(log_capture_t *c)
{
    int p[2];

    assert_int_equal(pipe(p), 0);
    assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    c->saved = dup(STDERR_FILENO);
    assert_true(c->saved >= 0);
    assert_int_equal(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
    (void)close(p[1]);
    c->rd = p[0];
}

static void capture_end(log_capture_t *c)
{
    assert_int_equal(dup2(c->saved, STDERR_FILENO), STDERR_FILENO);
    (void)close(c->saved);
    (void)close(c->rd);
}

/* What the pipe holds now (0 bytes when nothing was written). */
static size_t capture_read(log_capture_t *c, char *out, size_t cap)
{
    size_t len = 0;
    ssize_t n;

    while (len < cap - 1 && (n = read(c->rd, out + len, cap - 1 - len)) > 0) {
        len += (size_t)n;
    }
    assert_true(len < cap - 1);
    out[len] = '\0';
    return len;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

static void *log_from_other_thread(void *arg)
{
    (void)arg;
    CW_LOG_INFO("test", "from another thread");
    return NULL;
}

/*
 * A buffering thread's info lines wait for the flush; another thread's do
 * not; a warning takes what was gathered out with it, in order; stop
 * flushes and the thread writes each line at once again.
 */
static void test_log__gathered_until_flush(void **state)
{
    static char out[16384];
    log_capture_t c;
    pthread_t t;

    (void)state;
    capture_begin(&c);
    assert_int_equal(cw_log_buffer_start(), 0);
    CW_LOG_INFO("test", "first %d", 1);
    CW_LOG_INFO("test", "second %d", 2);
    assert_int_equal(capture_read(&c, out, sizeof(out)), 0);

    assert_int_equal(pthread_create(&t, NULL, log_from_other_thread, NULL), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    (void)capture_read(&c, out, sizeof(out));
    assert_int_equal(count_lines(out), 1);
    assert_non_null(strstr(out, "from another thread"));

    cw_log_flush();
    (void)capture_read(&c, out, sizeof(out));
    assert_int_equal(count_lines(out), 2);
    assert_true(strstr(out, "first 1") < strstr(out, "second 2"));
    cw_log_flush();
    assert_int_equal(capture_read(&c, out, sizeof(out)), 0);

    CW_LOG_INFO("test", "third");
    CW_LOG_WARN("test", "a warning");
    (void)capture_read(&c, out, sizeof(out));
    assert_int_equal(count_lines(out), 2);
    assert_non_null(strstr(out, "\"level\":\"warn\""));
    assert_true(strstr(out, "third") < strstr(out, "a warning"));

    CW_LOG_INFO("test", "fourth");
    cw_log_buffer_stop();
    (void)capture_read(&c, out, sizeof(out));
    assert_non_null(strstr(out, "fourth"));
    CW_LOG_INFO("test", "fifth");
    (void)capture_read(&c, out, sizeof(out));
    assert_non_null(strstr(out, "fifth"));
    capture_end(&c);
}

/*
 * Gathered lines go out before they would pass PIPE_BUF, whole lines only;
 * a line longer than that is written on its own, after what came before.
 */
static void test_log__gathered_lines_stay_under_pipe_buf(void **state)
{
    static char out[65536];
    char big[3000];
    log_capture_t c;
    size_t len;
    int i;

    (void)state;
    capture_begin(&c);
    assert_int_equal(cw_log_buffer_start(), 0);
    for (i = 0; i < 40; i++) {
        CW_LOG_INFO("test", "line %d of forty, padded to about a hundred and fifty bytes", i);
    }
    len = capture_read(&c, out, sizeof(out));
    assert_true(len > 0);
    assert_true(len <= 40 * 250);
    assert_int_equal(out[len - 1], '\n');
    assert_true(count_lines(out) < 40);
    cw_log_flush();
    len += capture_read(&c, out + len, sizeof(out) - len);
    assert_int_equal(count_lines(out), 40);
    assert_non_null(strstr(out, "line 39 of forty"));

    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    CW_LOG_INFO("test", "before");
    CW_LOG_INFO("test", "%s%s", big, big);
    len = capture_read(&c, out, sizeof(out));
    assert_int_equal(count_lines(out), 2);
    assert_true(len > PIPE_BUF);
    assert_non_null(strstr(out, "before"));
    cw_log_buffer_stop();
    capture_end(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf__append_stops_at_max),
        cmocka_unit_test(test_buf__reserve_once),
        cmocka_unit_test(test_buf__put_is_append),
        cmocka_unit_test(test_uuid4_format),
        cmocka_unit_test(test_buf__consume_and_detach),
        cmocka_unit_test(test_buf__json_escaping),
        cmocka_unit_test(test_buf__xml_escaping),
        cmocka_unit_test(test_buf__escaping_keeps_utf8_well_formed),
        cmocka_unit_test(test_pool__alloc_and_cleanups),
        cmocka_unit_test(test_str__parse_uint),
        cmocka_unit_test(test_str__strlcpy_and_caseeq),
        cmocka_unit_test(test_str__base64),
        cmocka_unit_test(test_error__names_and_messages),
        cmocka_unit_test(test_alloc__fault_hook_fails_nth),
        cmocka_unit_test(test_time__format),
        cmocka_unit_test(test_time__parse_rfc3339),
        cmocka_unit_test(test_log__gathered_until_flush),
        cmocka_unit_test(test_log__gathered_lines_stay_under_pipe_buf),
    };

    return cmocka_run_group_tests_name("util_util", tests, NULL, NULL);
}
