/*
 * The canonical consignment read into the model (gateway/checks/consignment.c),
 * its schema, and the normalised keys and digests of the facts table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "checks.h"
#include "support.h"

static cw_checks_rules_t *rules;

static xmlDoc *fixture(const char *name)
{
    char rel[256], path[1024];
    xmlDoc *doc;

    (void)snprintf(rel, sizeof(rel), "tests/data/consignments/%s", name);
    ct_path(path, sizeof(path), rel);
    doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    return doc;
}

static xmlDoc *doc_of(const char *xml)
{
    xmlDoc *doc = xmlReadMemory(xml, (int)strlen(xml), "t.xml", NULL, XML_PARSE_NONET);

    assert_non_null(doc);
    return doc;
}

static void test_read_fixture(void **state)
{
    xmlDoc *doc = fixture("eu-ioss-tshirts.xml");
    cw_checks_consignment_t c;
    cw_error_t err;
    char d[16];

    (void)state;
    assert_int_equal(cw_checks_consignment_validate(rules, xmlDocGetRootElement(doc), &err), 0);
    assert_int_equal(cw_checks_consignment_read(&c, xmlDocGetRootElement(doc), &err), 0);
    assert_string_equal(c.consignment_id, "CW-2026-000101");
    assert_string_equal(c.transport_doc, "LP123456789CN");
    assert_string_equal(c.platform.name, "ShopSquare Marketplace B.V.");
    assert_int_equal(c.platform.regs_len, 1);
    assert_string_equal(c.platform.regs[0].scheme, "IOSS");
    assert_string_equal(c.platform.regs[0].id, "IM5280000123");
    assert_string_equal(c.seller.id_scheme, "USCI");
    assert_string_equal(c.seller.address.country, "CN");
    assert_string_equal(c.buyer.address.line1, "Lindenstraße 5");
    assert_string_equal(c.buyer.phone, "+49 30 1234567");
    assert_string_equal(c.consignee.name, "Anna Schmidt"); /* defaults to the buyer */
    assert_string_equal(c.dispatch_country, "CN");
    assert_string_equal(c.destination_country, "DE");
    assert_int_equal(c.mode, CW_CHECKS_MODE_POST);
    assert_int_equal(c.content, CW_CHECKS_CONTENT_SALE);
    assert_string_equal(c.order_number, "SQ-88812");
    cw_checks_date_format(d, sizeof(d), c.order_date);
    assert_string_equal(d, "2026-05-02");
    assert_int_equal(c.payment_amount_minor, 5450);
    assert_string_equal(c.currency, "EUR");
    assert_int_equal(c.goods_value_minor, 4180);
    assert_int_equal(c.freight_minor, 400);
    assert_int_equal(c.tax_collected_minor, 870);
    assert_string_equal(c.tax_registration.id, "IM5280000123");
    assert_int_equal(c.gross_weight_g, 520);
    assert_int_equal(c.items_len, 2);
    assert_string_equal(c.items[0].hs_code, "610910");
    assert_int_equal(c.items[0].quantity_milli, 2000);
    assert_int_equal(c.items[0].unit_value_minor, 1290);
    assert_int_equal(c.items[0].line_value_minor, 2580);
    assert_int_equal(c.items[0].net_weight_g, 360);
    assert_string_equal(c.items[0].currency, "EUR");
    assert_string_equal(c.items[0].sku, "TS-CREW-M-BLK");
    assert_string_equal(c.items[1].quantity_unit, "H87");
    assert_int_equal(c.items[1].line, 2);
    cw_checks_consignment_fini(&c);
    cw_checks_consignment_fini(&c); /* idempotent */
    xmlFreeDoc(doc);
}

#define NS "<Consignment xmlns=\"urn:clearway:consignment:1\"><ConsignmentId>c</ConsignmentId>"

/* Item currencies use their own exponent; amounts round half-even. */
static void test_read_exponents(void **state)
{
    xmlDoc *doc = doc_of(NS "<DestinationCountry>DE</DestinationCountry><Currency>eur</Currency>"
                            "<Freight>1.005</Freight>"
                            "<Item><LineValue>1250.5</LineValue><Currency>JPY</Currency></Item>"
                            "<Item><Quantity>0.5</Quantity><LineValue>0.125</LineValue></Item>"
                            "</Consignment>");
    cw_checks_consignment_t c;
    cw_error_t err;

    (void)state;
    assert_int_equal(cw_checks_consignment_validate(rules, xmlDocGetRootElement(doc), &err), 0);
    assert_int_equal(cw_checks_consignment_read(&c, xmlDocGetRootElement(doc), &err), 0);
    assert_string_equal(c.currency, "EUR");
    assert_int_equal(c.freight_minor, 100); /* 100.5 -> 100 */
    assert_int_equal(c.items[0].line_value_minor, 1250);
    assert_string_equal(c.items[0].currency, "JPY");
    assert_int_equal(c.items[1].line_value_minor, 12); /* 12.5 -> 12 */
    assert_int_equal(c.items[1].quantity_milli, 500);
    cw_checks_consignment_fini(&c);
    xmlFreeDoc(doc);
}

static void test_read_refuses(void **state)
{
    static const char *const bad[] = {
        "<Consignment xmlns=\"urn:other\"/>",
        NS "<Currency>EUR</Currency><Freight>abc</Freight></Consignment>",
        NS "<Item><Quantity>1.2.3</Quantity></Item></Consignment>",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        xmlDoc *doc = doc_of(bad[i]);
        cw_checks_consignment_t c;
        cw_error_t err;
        cw_error_clear(&err);
        assert_int_equal(cw_checks_consignment_read(&c, xmlDocGetRootElement(doc), &err),
                         CW_EPROTO);
        assert_null(c.items);
        assert_true(err.msg[0] != '\0');
        xmlFreeDoc(doc);
    }
}

static void test_schema(void **state)
{
    static const struct {
        const char *xml;
        int valid;
    } cases[] = {
        { NS "<DestinationCountry>DE</DestinationCountry><Item/></Consignment>", 1 },
        { NS "<DestinationCountry>DE</DestinationCountry></Consignment>", 0 },
        { NS "<Item/></Consignment>", 0 },
        { NS "<DestinationCountry>DEU</DestinationCountry><Item/></Consignment>", 0 },
        { NS "<DestinationCountry>DE</DestinationCountry><TransportMode>drone</TransportMode>"
             "<Item/></Consignment>",
          0 },
        { NS "<DestinationCountry>DE</DestinationCountry><Item><HsCode>6109.10</HsCode></Item>"
             "</Consignment>",
          0 },
        { NS "<DestinationCountry>DE</DestinationCountry><Item><LineValue>1.23456</LineValue>"
             "</Item></Consignment>",
          0 },
        /* An envelope element nested in it, which the envelope's schema
         * leaves alone (test_xmldsig__schema_leaves_business_document_alone). */
        { NS "<DestinationCountry>DE</DestinationCountry><Item/>"
             "<Evidence xmlns=\"urn:clearway:envelope:1\"/></Consignment>",
          0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xmlDoc *doc = doc_of(cases[i].xml);
        cw_error_t err;
        int rc;
        cw_error_clear(&err);
        rc = cw_checks_consignment_validate(rules, xmlDocGetRootElement(doc), &err);
        if ((rc == 0) != cases[i].valid) {
            fail_msg("schema case %zu: rc %d (%s)", i, rc, err.msg);
        }
        xmlFreeDoc(doc);
    }
}

/* A consignment inside an envelope payload validates as an element. */
static void test_schema_in_envelope(void **state)
{
    xmlDoc *doc = doc_of("<Envelope xmlns=\"urn:clearway:envelope:1\"><Payload>" NS
                         "<DestinationCountry>DE</DestinationCountry><Item/></Consignment>"
                         "</Payload></Envelope>");
    xmlNode *payload = xmlDocGetRootElement(doc)->children;
    cw_error_t err;

    (void)state;
    assert_int_equal(cw_checks_consignment_validate(rules, payload->children, &err), 0);
    xmlFreeDoc(doc);
}

static void test_normalise(void **state)
{
    char out[64];

    (void)state;
    cw_checks_normalise(out, sizeof(out), "  Anna--Schmidt,  Lindenstr. 5 ");
    assert_string_equal(out, "ANNA SCHMIDT LINDENSTR 5");
    cw_checks_normalise(out, sizeof(out), "N/A");
    assert_string_equal(out, "N A");
    cw_checks_normalise(out, 5, "abcdefgh");
    assert_string_equal(out, "ABCD");
}

static void test_buyer_key(void **state)
{
    cw_checks_party_t a, b;
    char ka[CW_CHECKS_HEX_SIZE], kb[CW_CHECKS_HEX_SIZE];

    (void)state;
    memset(&a, 0, sizeof(a));
    (void)cw_strlcpy(a.name, "Anna Schmidt", sizeof(a.name));
    (void)cw_strlcpy(a.address.line1, "Lindenstraße 5", sizeof(a.address.line1));
    (void)cw_strlcpy(a.address.postal_code, "10115", sizeof(a.address.postal_code));
    (void)cw_strlcpy(a.address.country, "DE", sizeof(a.address.country));
    (void)cw_strlcpy(a.phone, "+49 30 1234567", sizeof(a.phone));
    b = a;
    (void)cw_strlcpy(b.name, "  anna   SCHMIDT ", sizeof(b.name));
    (void)cw_strlcpy(b.phone, "+49-30-123 45 67", sizeof(b.phone));
    assert_int_equal(cw_checks_buyer_key(ka, &a), 0);
    assert_int_equal(cw_checks_buyer_key(kb, &b), 0);
    assert_string_equal(ka, kb); /* same person, written differently */
    (void)cw_strlcpy(b.address.postal_code, "10117", sizeof(b.address.postal_code));
    assert_int_equal(cw_checks_buyer_key(kb, &b), 0);
    assert_string_not_equal(ka, kb);
    (void)cw_strlcpy(a.id, "110101199003074514", sizeof(a.id));
    (void)cw_strlcpy(b.id, "110101199003074514", sizeof(b.id));
    assert_int_equal(cw_checks_buyer_key(ka, &a), 0);
    assert_int_equal(cw_checks_buyer_key(kb, &b), 0);
    assert_string_equal(ka, kb); /* an id wins over name and address */
    assert_int_equal(strlen(ka), 64);
}

static void test_business_key_and_digest(void **state)
{
    cw_checks_consignment_t c;
    char k1[CW_CHECKS_HEX_SIZE], k2[CW_CHECKS_HEX_SIZE];
    char d1[CW_CHECKS_HEX_SIZE], d2[CW_CHECKS_HEX_SIZE];

    (void)state;
    ct_base(&c, "DE", "20.00");
    assert_int_equal(cw_checks_business_key(k1, "s1", &c), 0);
    assert_int_equal(cw_checks_business_key(k2, "s2", &c), 0);
    assert_string_not_equal(k1, k2); /* per sender */
    assert_int_equal(cw_checks_content_digest(d1, &c), 0);
    c.items[0].line_value_minor++;
    assert_int_equal(cw_checks_content_digest(d2, &c), 0);
    assert_string_not_equal(d1, d2);
    assert_int_equal(cw_checks_business_key(k2, "s1", &c), 0);
    assert_string_equal(k1, k2); /* the key ignores content */
    /* With an order number, another consignment id and transport document
     * keep the key: the store finds a sender's earlier facts of the same
     * order by this key alone (schema version 11). */
    (void)cw_strlcpy(c.consignment_id, "another-consignment", sizeof(c.consignment_id));
    (void)cw_strlcpy(c.transport_doc, "another-transport-doc", sizeof(c.transport_doc));
    assert_int_equal(cw_checks_business_key(k2, "s1", &c), 0);
    assert_string_equal(k1, k2);
    c.order_number[0] = '\0';
    assert_int_equal(cw_checks_business_key(k2, "s1", &c), 0);
    assert_string_not_equal(k1, k2); /* falls back to the transport document */
    cw_checks_consignment_fini(&c);
}

/* The run is pure: the same input gives the same assessment, byte for byte. */
static void test_deterministic(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_context_t x;
    cw_checks_assessment_t *a = cw_calloc(2, sizeof(*a));
    cw_error_t err;

    (void)state;
    assert_non_null(a);
    ct_base(&c, "DE", "149.00");
    (void)cw_strlcpy(c.buyer.phone, "030 123", sizeof(c.buyer.phone));
    ct_ctx(&x, "2026-07-02", "s");
    assert_int_equal(cw_checks_run(&a[0], rules, &c, &x, NULL, &err), 0);
    assert_int_equal(cw_checks_run(&a[1], rules, &c, &x, NULL, &err), 0);
    assert_memory_equal(&a[0], &a[1], sizeof(a[0]));
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* Allocation failures in read and run give CW_ENOMEM and leak nothing. */
static void test_oom(void **state)
{
    xmlDoc *doc = fixture("eu-ioss-tshirts.xml");
    cw_checks_context_t x;
    cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));

    (void)state;
    assert_non_null(a);
    ct_ctx(&x, "2026-05-03", "s");
    for (long n = 0; n < 50; n++) {
        cw_checks_consignment_t c;
        cw_error_t err;
        int rc;
        cw_alloc_fail_after(n);
        rc = cw_checks_consignment_read(&c, xmlDocGetRootElement(doc), &err);
        if (rc == 0) {
            rc = cw_checks_run(a, rules, &c, &x, NULL, &err);
            cw_checks_consignment_fini(&c);
        }
        cw_alloc_fail_reset();
        assert_true(rc == 0 || rc == CW_ENOMEM);
    }
    cw_free(a);
    xmlFreeDoc(doc);
}

static int setup(void **state)
{
    (void)state;
    rules = ct_rules();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cw_checks_rules_unref(rules);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_fixture),       cmocka_unit_test(test_read_exponents),
        cmocka_unit_test(test_read_refuses),       cmocka_unit_test(test_schema),
        cmocka_unit_test(test_schema_in_envelope), cmocka_unit_test(test_normalise),
        cmocka_unit_test(test_buyer_key),          cmocka_unit_test(test_business_key_and_digest),
        cmocka_unit_test(test_deterministic),      cmocka_unit_test(test_oom),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
