/*
 * The envelope model (gateway/msg/msg.c). Test input is trusted and parsed
 * with plain xmlReadMemory; in the gateway, sec/xml parses.
 */
#include <openssl/evp.h>
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

/* Text of the first element named name in doc (xmlFree), or NULL. */
static xmlChar *text_of(xmlDoc *doc, const char *name)
{
    xmlNode *n = xmlDocGetRootElement(doc);

    while (n != NULL) {
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0) {
            return xmlNodeGetContent(n);
        }
        if (n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != NULL && n->next == NULL) {
            n = n->parent;
        }
        if (n != NULL) {
            n = n->next;
        }
    }
    return NULL;
}

static void test_msg__forward_wraps_received_as_evidence(void **state)
{
    const char *received =
        "<Envelope xmlns=\"urn:clearway:envelope:1\"><Header><MessageId>m-1</MessageId>"
        "<ConversationId>c-1</ConversationId><From>platform</From><To>customs</To>"
        "<Service>ecommerce</Service><Action>order</Action>"
        "<Timestamp>2026-11-29T10:00:00Z</Timestamp></Header><Payload>"
        "<c:Consignment xmlns:c=\"urn:clearway:consignment:1\"><c:Id>C-1</c:Id></c:Consignment>"
        "<Assessment node=\"hub\"><a:A xmlns:a=\"urn:a\">green</a:A></Assessment>"
        "</Payload></Envelope>";
    cw_msg_forward_params_t p = { 0 };
    cw_msg_header_t in_hdr;
    cw_msg_header_t out_hdr;
    xmlDoc *in = doc_of(received);
    xmlDoc *out = NULL;
    cw_error_t err;
    xmlChar *content;
    xmlChar *sha;
    unsigned char decoded[2048];
    int n;

    (void)state;
    assert_int_equal(cw_msg_header_read(&in_hdr, in, &err), 0);
    p.node_id = "customs";
    p.to = "customs-cn";
    p.message_id = "fwd-1";
    p.now_s = 1795946400;
    p.received = received;
    p.received_len = strlen(received);
    assert_int_equal(cw_msg_forward_new(&out, in, &in_hdr, &p, &err), 0);
    assert_int_equal(cw_msg_header_read(&out_hdr, out, &err), 0);
    assert_string_equal(out_hdr.message_id, "fwd-1");
    assert_string_equal(out_hdr.from, "customs");
    assert_string_equal(out_hdr.to, "customs-cn");
    assert_string_equal(out_hdr.original_sender, "platform");
    assert_string_equal(out_hdr.conversation_id, "c-1");
    assert_string_equal(out_hdr.action, "order");
    assert_string_equal((const char *)cw_msg_business_doc(out)->name, "Consignment");
    content = text_of(out, "A");
    assert_string_equal((const char *)content, "green");
    xmlFree(content);
    /* The evidence is the received bytes, exactly. */
    content = text_of(out, "Content");
    assert_non_null(content);
    n = EVP_DecodeBlock(decoded, content, (int)xmlStrlen(content));
    assert_true(n >= (int)strlen(received));
    assert_memory_equal(decoded, received, strlen(received));
    xmlFree(content);
    sha = text_of(out, "Sha256");
    assert_int_equal(xmlStrlen(sha), 64);
    xmlFree(sha);
    content = text_of(out, "OriginalMessageId");
    assert_string_equal((const char *)content, "m-1");
    xmlFree(content);
    xmlFreeDoc(out);
    xmlFreeDoc(in);
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
        cmocka_unit_test(test_msg__forward_wraps_received_as_evidence),
        cmocka_unit_test(test_msg__ids_are_uuid4_and_distinct),
    };
    int rc = cmocka_run_group_tests_name("msg_msg", tests, NULL, NULL);

    xmlCleanupParser();
    return rc;
}
