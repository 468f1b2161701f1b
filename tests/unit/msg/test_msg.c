/*
 * The envelope model (gateway/msg/msg.c). Test input is trusted and parsed
 * with plain xmlReadMemory; in the gateway, sec/xml parses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "msg.h"

#define HDR_OPEN  "<Envelope xmlns=\"urn:clearway:envelope:1\"><Header>"
#define HDR_CLOSE "</Header><Payload><c:C xmlns:c=\"urn:c\"/></Payload></Envelope>"
#define HDR_FULL                                                         \
    "<MessageId>m-1</MessageId><ConversationId>c-1</ConversationId>"     \
    "<RefToMessageId>m-0</RefToMessageId><From>alice</From><To>hub</To>" \
    "<OriginalSender>shop</OriginalSender><Service>ecommerce</Service>"  \
    "<Action>consignment</Action><Timestamp>2026-11-29T10:00:00Z</Timestamp>"

static xmlDoc *doc_of(const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET);

    assert_non_null(doc);
    return doc;
}

static int read_hdr(const char *xml, cw_msg_header_t *h)
{
    xmlDoc *doc = doc_of(xml);
    cw_error_t err;
    int rc = cw_msg_header_read(h, doc, &err);

    xmlFreeDoc(doc);
    return rc;
}

static void test_msg__reads_full_header(void **state)
{
    cw_msg_header_t h;

    (void)state;
    assert_int_equal(read_hdr(HDR_OPEN HDR_FULL HDR_CLOSE, &h), 0);
    assert_string_equal(h.message_id, "m-1");
    assert_string_equal(h.conversation_id, "c-1");
    assert_string_equal(h.ref_to_message_id, "m-0");
    assert_string_equal(h.from, "alice");
    assert_string_equal(h.to, "hub");
    assert_string_equal(h.original_sender, "shop");
    assert_string_equal(h.service, "ecommerce");
    assert_string_equal(h.action, "consignment");
    assert_string_equal(h.timestamp, "2026-11-29T10:00:00Z");
}

static void test_msg__optional_fields_may_be_absent(void **state)
{
    cw_msg_header_t h;

    (void)state;
    assert_int_equal(read_hdr(HDR_OPEN "<MessageId>m</MessageId><ConversationId>c</ConversationId>"
                                       "<From>a</From><To>b</To><Service>s</Service>"
                                       "<Action>x</Action><Timestamp>t</Timestamp>" HDR_CLOSE,
                              &h),
                     0);
    assert_string_equal(h.ref_to_message_id, "");
    assert_string_equal(h.original_sender, "");
}

static void test_msg__comment_cannot_truncate_a_value(void **state)
{
    cw_msg_header_t h;

    (void)state;
    assert_int_equal(read_hdr(HDR_OPEN "<MessageId>m</MessageId><ConversationId>c</ConversationId>"
                                       "<From>al<!-- x -->ice</From><To>b</To><Service>s</Service>"
                                       "<Action>x</Action><Timestamp>t</Timestamp>" HDR_CLOSE,
                              &h),
                     0);
    assert_string_equal(h.from, "alice");
}

static void test_msg__rejects_child_elements_and_disorder(void **state)
{
    cw_msg_header_t h;

    (void)state;
    assert_int_equal(read_hdr(HDR_OPEN "<MessageId>m</MessageId><ConversationId>c</ConversationId>"
                                       "<From>a<x/></From><To>b</To><Service>s</Service>"
                                       "<Action>x</Action><Timestamp>t</Timestamp>" HDR_CLOSE,
                              &h),
                     CW_EPROTO);
    assert_int_equal(read_hdr(HDR_OPEN "<ConversationId>c</ConversationId><MessageId>m</MessageId>"
                                       "<From>a</From><To>b</To><Service>s</Service>"
                                       "<Action>x</Action><Timestamp>t</Timestamp>" HDR_CLOSE,
                              &h),
                     CW_EPROTO);
    assert_int_equal(read_hdr(HDR_OPEN HDR_FULL "<Extra/>" HDR_CLOSE, &h), CW_EPROTO);
    assert_int_equal(read_hdr(HDR_OPEN "<MessageId>m</MessageId><ConversationId>c</ConversationId>"
                                       "<From> </From><To>b</To><Service>s</Service>"
                                       "<Action>x</Action><Timestamp>t</Timestamp>" HDR_CLOSE,
                              &h),
                     CW_EPROTO);
    assert_int_equal(read_hdr("<Envelope xmlns=\"urn:other\"><Header/></Envelope>", &h), CW_EPROTO);
}

static void test_msg__builds_envelope_that_reads_back(void **state)
{
    xmlDoc *src =
        doc_of("<w xmlns:c=\"urn:c\"><c:Consignment><c:V>1 &amp; 2</c:V></c:Consignment></w>");
    xmlNode *business = xmlDocGetRootElement(src)->children;
    cw_msg_header_t h;
    cw_msg_header_t back;
    xmlDoc *env = NULL;
    cw_error_t err;
    xmlNode *b;

    (void)state;
    memset(&h, 0, sizeof(h));
    assert_int_equal(cw_msg_id_new(h.message_id, sizeof(h.message_id)), 0);
    cw_strlcpy(h.conversation_id, "conv", sizeof(h.conversation_id));
    cw_strlcpy(h.from, "a&b", sizeof(h.from));
    cw_strlcpy(h.to, "hub", sizeof(h.to));
    cw_strlcpy(h.service, "ecommerce", sizeof(h.service));
    cw_strlcpy(h.action, "consignment", sizeof(h.action));
    cw_msg_timestamp_format(h.timestamp, sizeof(h.timestamp), 1795946400);
    assert_string_equal(h.timestamp, "2026-11-29T10:00:00Z");
    assert_int_equal(cw_msg_envelope_new(&env, &h, business, &err), 0);
    assert_true(cw_msg_is_envelope(env));
    assert_int_equal(cw_msg_header_read(&back, env, &err), 0);
    assert_memory_equal(&h, &back, sizeof(h));
    b = cw_msg_business_doc(env);
    assert_non_null(b);
    assert_string_equal((const char *)b->name, "Consignment");
    assert_non_null(b->ns);
    assert_string_equal((const char *)b->ns->href, "urn:c");
    xmlFreeDoc(env);
    /* A required field left empty is refused. */
    h.action[0] = '\0';
    assert_int_equal(cw_msg_envelope_new(&env, &h, business, &err), CW_EINVAL);
    assert_null(env);
    xmlFreeDoc(src);
}

static void test_msg__ids_are_uuid4_and_distinct(void **state)
{
    char a[37];
    char b[37];
    char small[36];

    (void)state;
    assert_int_equal(cw_msg_id_new(a, sizeof(a)), 0);
    assert_int_equal(cw_msg_id_new(b, sizeof(b)), 0);
    assert_int_equal(strlen(a), 36);
    assert_int_equal(a[14], '4');
    assert_true(strchr("89ab", a[19]) != NULL);
    assert_string_not_equal(a, b);
    assert_int_equal(cw_msg_id_new(small, sizeof(small)), CW_ECRYPTO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg__reads_full_header),
        cmocka_unit_test(test_msg__optional_fields_may_be_absent),
        cmocka_unit_test(test_msg__comment_cannot_truncate_a_value),
        cmocka_unit_test(test_msg__rejects_child_elements_and_disorder),
        cmocka_unit_test(test_msg__builds_envelope_that_reads_back),
        cmocka_unit_test(test_msg__ids_are_uuid4_and_distinct),
    };
    int rc = cmocka_run_group_tests_name("msg_msg", tests, NULL, NULL);

    xmlCleanupParser();
    return rc;
}
