/*
 * net/problem: RFC 9457 documents and content negotiation by Accept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "net.h"

static void test_problem__slugs_are_stable(void **state)
{
    (void)state;
    assert_string_equal(cw_problem_slug(CW_PROBLEM_BAD_REQUEST), "bad-request");
    assert_int_equal(cw_problem_status(CW_PROBLEM_HEADERS_TOO_LARGE), 431);
    assert_int_equal(cw_problem_status(CW_PROBLEM_VERSION_NOT_SUPPORTED), 505);
    assert_int_equal(cw_problem_status(CW_PROBLEM_LENGTH_REQUIRED), 411);
    assert_string_equal(cw_problem_slug(CW_PROBLEM_REQUEST_SMUGGLING), "ambiguous-framing");
}

static void test_problem__json_is_escaped(void **state)
{
    cw_buf_t b;

    (void)state;
    cw_buf_init(&b, 4096);
    assert_int_equal(cw_problem_render(&b, CW_PROBLEM_JSON, "bad-request", "Malformed request", 400,
                                       "a \"quoted\"\nvalue", "/v1/x"),
                     0);
    assert_string_equal(b.data,
                        "{\"type\":\"urn:clearway:problem:bad-request\","
                        "\"title\":\"Malformed request\",\"status\":400,"
                        "\"detail\":\"a \\\"quoted\\\"\\nvalue\",\"instance\":\"/v1/x\"}\n");
    cw_buf_fini(&b);
}

static void test_problem__xml_is_escaped(void **state)
{
    cw_buf_t b;

    (void)state;
    cw_buf_init(&b, 4096);
    assert_int_equal(
        cw_problem_render(&b, CW_PROBLEM_XML, "not-found", "No such resource", 404, "<&>", NULL),
        0);
    assert_non_null(strstr(b.data, "<problem xmlns=\"urn:ietf:rfc:7807\">"));
    assert_non_null(strstr(b.data, "<type>urn:clearway:problem:not-found</type>"));
    assert_non_null(strstr(b.data, "<detail>&lt;&amp;&gt;</detail>"));
    assert_null(strstr(b.data, "<instance>"));
    cw_buf_fini(&b);
}

static void test_problem__render_respects_the_buffer_limit(void **state)
{
    cw_buf_t b;

    (void)state;
    cw_buf_init(&b, 32);
    assert_int_equal(
        cw_problem_render(&b, CW_PROBLEM_JSON, "bad-request", "Malformed request", 400, NULL, NULL),
        CW_E2BIG);
    cw_buf_fini(&b);
}

static void test_problem__accept_negotiation(void **state)
{
    (void)state;
    assert_int_equal(cw_problem_format_from_accept(NULL), CW_PROBLEM_JSON);
    assert_int_equal(cw_problem_format_from_accept("*/*"), CW_PROBLEM_JSON);
    assert_int_equal(cw_problem_format_from_accept("application/problem+xml"), CW_PROBLEM_XML);
    assert_int_equal(cw_problem_format_from_accept("application/xml"), CW_PROBLEM_XML);
    assert_int_equal(cw_problem_format_from_accept("text/xml;q=0.5, application/json"),
                     CW_PROBLEM_JSON);
    assert_int_equal(cw_problem_format_from_accept("application/json;q=0.2, application/xml"),
                     CW_PROBLEM_XML);
    assert_int_equal(cw_problem_format_from_accept("application/xml;q=0"), CW_PROBLEM_JSON);
    assert_int_equal(cw_problem_format_from_accept("APPLICATION/PROBLEM+XML ; q=0.9"),
                     CW_PROBLEM_XML);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_problem__slugs_are_stable),
        cmocka_unit_test(test_problem__json_is_escaped),
        cmocka_unit_test(test_problem__xml_is_escaped),
        cmocka_unit_test(test_problem__render_respects_the_buffer_limit),
        cmocka_unit_test(test_problem__accept_negotiation),
    };

    return cmocka_run_group_tests_name("net_problem", tests, NULL, NULL);
}
