/*
 * Safe parsing (gateway/sec/xml.c): every limit and every refusal, and the
 * small readers the verifier relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "sec.h"
#include "sec/internal.h"

static cw_conf_limits_t limits;

static int parse(const char *xml, size_t len, cw_sec_problem_e *problem)
{
    xmlDoc *doc = NULL;
    cw_error_t err;
    int rc;

    rc = cw_sec_xml_parse(&doc, xml, len, &limits, problem, &err);
    if (rc == 0) {
        assert_non_null(doc);
        xmlFreeDoc(doc);
    } else {
        assert_null(doc);
        assert_true(err.msg[0] != '\0');
    }
    return rc;
}

static int parse_str(const char *xml, cw_sec_problem_e *problem)
{
    return parse(xml, strlen(xml), problem);
}

static int group_setup(void **state)
{
    cw_error_t err;

    (void)state;
    cw_config_limits_default(&limits);
    return cw_sec_lib_init(&err);
}

static int group_teardown(void **state)
{
    (void)state;
    cw_sec_lib_fini();
    return 0;
}

static int reset_limits(void **state)
{
    (void)state;
    cw_config_limits_default(&limits);
    return 0;
}

static void test_xml__parses_plain_document(void **state)
{
    cw_sec_problem_e p;

    (void)state;
    assert_int_equal(parse_str("<?xml version=\"1.0\"?><a xmlns=\"urn:x\"><b c=\"1\">t&amp;t</b>"
                               "<!-- c --><?pi x?></a>",
                               &p),
                     0);
    assert_int_equal(p, CW_SEC_PROBLEM_NONE);
}

static void test_xml__rejects_malformed(void **state)
{
    cw_sec_problem_e p;
    xmlDoc *doc = NULL;
    cw_error_t err;

    (void)state;
    assert_int_equal(parse_str("<a><b></a>", &p), CW_EPARSE);
    assert_int_equal(p, CW_SEC_PROBLEM_MALFORMED_XML);
    assert_int_equal(cw_sec_problem_status(p), 400);
    assert_int_equal(parse_str("", &p), CW_EPARSE);
    assert_int_equal(parse_str("not xml", &p), CW_EPARSE);
    /* An undeclared namespace prefix is malformed too. */
    assert_int_equal(parse_str("<p:r/>", &p), CW_EPARSE);
    assert_int_equal(p, CW_SEC_PROBLEM_MALFORMED_XML);
    /* The detail names the line. */
    assert_int_equal(cw_sec_xml_parse(&doc, "<a>\n<b>\n</a>", 12, &limits, &p, &err), CW_EPARSE);
    assert_non_null(strstr(err.msg, "line "));
    /* A byte that is not UTF-8: libxml2's message has a newline inside
     * ("...indicate encoding !\nBytes: 0xC0 ..."); the detail is one line
     * all the same, with nothing trailing. */
    assert_int_equal(cw_sec_xml_parse(&doc, "<a>\xC0</a>", 8, &limits, &p, &err), CW_EPARSE);
    assert_int_equal(p, CW_SEC_PROBLEM_MALFORMED_XML);
    assert_non_null(strstr(err.msg, "Bytes:"));
    assert_null(strchr(err.msg, '\n'));
    assert_true(err.msg[strlen(err.msg) - 1] != ' ');
}

static void test_xml__rejects_oversize_before_parsing(void **state)
{
    char buf[200];
    cw_sec_problem_e p;

    (void)state;
    memset(buf, ' ', sizeof(buf));
    memcpy(buf, "<a>", 3);
    memcpy(buf + sizeof(buf) - 4, "</a>", 4);
    limits.xml_bytes_max = 199;
    assert_int_equal(parse(buf, sizeof(buf), &p), CW_E2BIG);
    assert_int_equal(p, CW_SEC_PROBLEM_XML_TOO_LARGE);
    assert_int_equal(cw_sec_problem_status(p), 413);
    limits.xml_bytes_max = 200;
    assert_int_equal(parse(buf, sizeof(buf), &p), 0);
}

static void test_xml__rejects_doctype(void **state)
{
    cw_sec_problem_e p;

    (void)state;
    assert_int_equal(parse_str("<!DOCTYPE a><a/>", &p), CW_EPARSE);
    assert_int_equal(p, CW_SEC_PROBLEM_DOCTYPE_FORBIDDEN);
    assert_int_equal(parse_str("<!DOCTYPE a SYSTEM \"http://example.invalid/a.dtd\"><a/>", &p),
                     CW_EPARSE);
    assert_int_equal(p, CW_SEC_PROBLEM_DOCTYPE_FORBIDDEN);
}

static void test_xml__rejects_external_entity(void **state)
{
    cw_sec_problem_e p;

    (void)state;
    assert_int_equal(
        parse_str("<!DOCTYPE a [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><a>&x;</a>", &p),
        CW_EPARSE);
    assert_int_equal(p, CW_SEC_PROBLEM_DOCTYPE_FORBIDDEN);
}

static void test_xml__rejects_entity_bomb_cheaply(void **state)
{
    static const char bomb[] =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
        "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
        "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
        "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
        "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
        "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
        "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">"
        "]><lolz>&lol9;</lolz>";
    cw_sec_problem_e p;
    uint64_t t0 = cw_time_mono_ms();

    (void)state;
    assert_int_equal(parse_str(bomb, &p), CW_EPARSE);
    assert_int_equal(p, CW_SEC_PROBLEM_DOCTYPE_FORBIDDEN);
    assert_true(cw_time_mono_ms() - t0 < 1000);
}

static void test_xml__rejects_100k_deep_nesting_cheaply(void **state)
{
    const size_t depth = 100000;
    cw_buf_t b;
    size_t i;
    cw_sec_problem_e p;
    uint64_t t0;

    (void)state;
    cw_buf_init(&b, 16u * 1024u * 1024u);
    for (i = 0; i < depth; i++) {
        assert_int_equal(cw_buf_append(&b, "<a>", 3), 0);
    }
    for (i = 0; i < depth; i++) {
        assert_int_equal(cw_buf_append(&b, "</a>", 4), 0);
    }
    t0 = cw_time_mono_ms();
    assert_int_equal(parse(b.data, b.len, &p), CW_E2BIG);
    assert_int_equal(p, CW_SEC_PROBLEM_XML_TOO_DEEP);
    assert_true(cw_time_mono_ms() - t0 < 1000);
    cw_buf_fini(&b);
}

static void test_xml__depth_limit_is_exact(void **state)
{
    cw_sec_problem_e p;

    (void)state;
    limits.xml_depth_max = 3;
    assert_int_equal(parse_str("<a><b><c/></b></a>", &p), 0);
    /* Text in the deepest allowed element is not one more level. */
    assert_int_equal(parse_str("<a><b><c>text</c></b></a>", &p), 0);
    assert_int_equal(parse_str("<a><b><c><d/></c></b></a>", &p), CW_E2BIG);
    assert_int_equal(p, CW_SEC_PROBLEM_XML_TOO_DEEP);
}

static void test_xml__rejects_too_many_nodes(void **state)
{
    cw_buf_t b;
    size_t i;
    cw_sec_problem_e p;

    (void)state;
    limits.xml_nodes_max = 100;
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(cw_buf_appends(&b, "<a>"), 0);
    for (i = 0; i < 98; i++) {
        assert_int_equal(cw_buf_appends(&b, "<b/>"), 0);
    }
    assert_int_equal(cw_buf_appends(&b, "</a>"), 0);
    assert_int_equal(parse(b.data, b.len, &p), 0);
    /* Attributes count too. */
    b.len -= 4;
    assert_int_equal(cw_buf_appends(&b, "<b x=\"1\" y=\"2\"/></a>"), 0);
    assert_int_equal(parse(b.data, b.len, &p), CW_E2BIG);
    assert_int_equal(p, CW_SEC_PROBLEM_XML_TOO_MANY_NODES);
    cw_buf_fini(&b);
}

static void test_xml__counts_text_nodes_in_walk(void **state)
{
    cw_buf_t b;
    size_t i;
    cw_sec_problem_e p;

    (void)state;
    /* 60 elements and 61 text nodes: only the tree walk sees the text. */
    limits.xml_nodes_max = 100;
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(cw_buf_appends(&b, "<a>"), 0);
    for (i = 0; i < 59; i++) {
        assert_int_equal(cw_buf_appends(&b, "t<b/>"), 0);
    }
    assert_int_equal(cw_buf_appends(&b, "t</a>"), 0);
    assert_int_equal(parse(b.data, b.len, &p), CW_E2BIG);
    assert_int_equal(p, CW_SEC_PROBLEM_XML_TOO_MANY_NODES);
    cw_buf_fini(&b);
}

static void test_xml__elem_text_joins_and_refuses_children(void **state)
{
    xmlDoc *doc = NULL;
    cw_sec_problem_e p;
    cw_error_t err;
    char out[16];
    xmlNode *root;
    const char *xml =
        "<r><a> ab<!--x-->c<![CDATA[d]]> </a><b>x<i/>y</b><c>0123456789abcdefg</c></r>";

    (void)state;
    assert_int_equal(cw_sec_xml_parse(&doc, xml, strlen(xml), &limits, &p, &err), 0);
    root = xmlDocGetRootElement(doc);
    assert_int_equal(cw_sec__elem_text(out, sizeof(out), cw_sec__first_elem(root)), 0);
    assert_string_equal(out, "abcd");
    assert_int_equal(
        cw_sec__elem_text(out, sizeof(out), cw_sec__next_elem(cw_sec__first_elem(root))),
        CW_EPROTO);
    /* Too long for the buffer is an error, never a silent truncation. */
    assert_int_equal(
        cw_sec__elem_text(out, sizeof(out),
                          cw_sec__next_elem(cw_sec__next_elem(cw_sec__first_elem(root)))),
        CW_EPROTO);
    xmlFreeDoc(doc);
}

/*
 * libxml2's C14N writes namespace URIs unescaped, so a sealed envelope
 * carrying one of these could not be read, or would name another
 * namespace, at the next hop: they are refused at parse, with the line.
 */
static void test_xml__refuses_namespace_uri_it_cannot_carry(void **state)
{
    static const struct {
        const char *xml;
        const char *shown;
    } bad[] = {
        { "<a xmlns:x=\"urn:q?a=1&amp;b=2\"/>", "xmlns:x holds '&'" },
        { "<a>\n<b xmlns=\"urn:&lt;b\"/></a>", "xmlns holds '<'" },
        { "<a xmlns:x='urn:&quot;'/>", "xmlns:x holds '\"'" },
        { "<a xmlns:x=\"urn:a&#9;b\"/>", "xmlns:x holds 0x09" },
        { "<a xmlns:x=\"urn:a&#10;b\"/>", "xmlns:x holds 0x0a" },
    };
    static const char *const good[] = {
        "<a xmlns:x=\"urn:q?a=1;b=2\"/>",
        "<a xmlns:x=\"urn:a'b%26\"/>",
        "<a xmlns=\"urn:a\"><b xmlns=\"\"/></a>",
    };
    xmlDoc *doc = NULL;
    cw_sec_problem_e p;
    cw_error_t err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cw_sec_xml_parse(&doc, bad[i].xml, strlen(bad[i].xml), &limits, &p, &err),
                         CW_EPARSE);
        assert_null(doc);
        assert_int_equal(p, CW_SEC_PROBLEM_NAMESPACE_URI_REFUSED);
        assert_int_equal(cw_sec_problem_status(p), 400);
        assert_non_null(strstr(err.msg, bad[i].shown));
        assert_non_null(strstr(err.msg, i == 1 ? "line 2:" : "line 1:"));
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(parse_str(good[i], &p), 0);
        assert_int_equal(p, CW_SEC_PROBLEM_NONE);
    }
    /* A long prefix is not copied into the detail, which could then end
     * inside one of its UTF-8 characters. */
    {
        const char *xml = "<a xmlns:p\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9=\"urn:&amp;\"/>";

        assert_int_equal(cw_sec_xml_parse(&doc, xml, strlen(xml), &limits, &p, &err), CW_EPARSE);
        assert_int_equal(p, CW_SEC_PROBLEM_NAMESPACE_URI_REFUSED);
        assert_non_null(strstr(err.msg, "xmlns:(a long prefix) holds '&'"));
    }
}

static void test_xml__parses_rfc3339(void **state)
{
    int64_t t = 0;

    (void)state;
    assert_int_equal(cw_sec__time_parse("1970-01-01T00:00:00Z", &t), 0);
    assert_int_equal(t, 0);
    assert_int_equal(cw_sec__time_parse("2026-11-29T10:00:00Z", &t), 0);
    assert_int_equal(t, 1795946400);
    assert_int_equal(cw_sec__time_parse("2026-11-29T12:00:00.250+02:00", &t), 0);
    assert_int_equal(t, 1795946400);
    assert_int_equal(cw_sec__time_parse("2026-11-29T10:00:00", &t), CW_EPARSE);
    assert_int_equal(cw_sec__time_parse("2026-13-29T10:00:00Z", &t), CW_EPARSE);
    assert_int_equal(cw_sec__time_parse("2026-11-29T10:00:00Zjunk", &t), CW_EPARSE);
}

static void test_xml__problem_table_is_stable(void **state)
{
    cw_sec_problem_e p;

    (void)state;
    assert_string_equal(cw_sec_problem_slug(CW_SEC_PROBLEM_SIGNATURE_INVALID), "signature-invalid");
    assert_int_equal(cw_sec_problem_status(CW_SEC_PROBLEM_SCHEMA_INVALID), 422);
    assert_int_equal(cw_sec_problem_status(CW_SEC_PROBLEM_UNKNOWN_SENDER), 403);
    assert_int_equal(cw_sec_problem_from_slug(&p, "stale-message"), 0);
    assert_int_equal(p, CW_SEC_PROBLEM_STALE_MESSAGE);
    assert_int_equal(cw_sec_problem_from_slug(&p, "no-such"), CW_ENOENT);
}

/* Parses of good and bad input on several threads keep their own errors. */
static void parse_worker(void *arg)
{
    int *bad_seen = arg;
    int i;
    cw_sec_problem_e p;
    xmlDoc *doc;
    cw_error_t err;

    for (i = 0; i < 200; i++) {
        doc = NULL;
        if (cw_sec_xml_parse(&doc, "<a><b></a>", 10, &limits, &p, &err) < 0
            && p == CW_SEC_PROBLEM_MALFORMED_XML && strstr(err.msg, "line 1") != NULL) {
            (*bad_seen)++;
        }
        if (cw_sec_xml_parse(&doc, "<a><b/></a>", 11, &limits, &p, &err) == 0) {
            xmlFreeDoc(doc);
        } else {
            (*bad_seen) = -100000;
        }
    }
}

static void test_xml__parses_concurrently(void **state)
{
    uv_thread_t th[4];
    int seen[4] = { 0, 0, 0, 0 };
    int i;

    (void)state;
    for (i = 0; i < 4; i++) {
        assert_int_equal(uv_thread_create(&th[i], parse_worker, &seen[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(uv_thread_join(&th[i]), 0);
        assert_int_equal(seen[i], 200);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_xml__parses_plain_document, reset_limits),
        cmocka_unit_test_setup(test_xml__rejects_malformed, reset_limits),
        cmocka_unit_test_setup(test_xml__rejects_oversize_before_parsing, reset_limits),
        cmocka_unit_test_setup(test_xml__rejects_doctype, reset_limits),
        cmocka_unit_test_setup(test_xml__rejects_external_entity, reset_limits),
        cmocka_unit_test_setup(test_xml__rejects_entity_bomb_cheaply, reset_limits),
        cmocka_unit_test_setup(test_xml__rejects_100k_deep_nesting_cheaply, reset_limits),
        cmocka_unit_test_setup(test_xml__depth_limit_is_exact, reset_limits),
        cmocka_unit_test_setup(test_xml__rejects_too_many_nodes, reset_limits),
        cmocka_unit_test_setup(test_xml__counts_text_nodes_in_walk, reset_limits),
        cmocka_unit_test_setup(test_xml__elem_text_joins_and_refuses_children, reset_limits),
        cmocka_unit_test(test_xml__parses_rfc3339),
        cmocka_unit_test(test_xml__problem_table_is_stable),
        cmocka_unit_test_setup(test_xml__refuses_namespace_uri_it_cannot_carry, reset_limits),
        cmocka_unit_test_setup(test_xml__parses_concurrently, reset_limits),
    };

    return cmocka_run_group_tests_name("sec_xml", tests, group_setup, group_teardown);
}
