/*
 * csv-manifest: RFC 4180 through libcsv (BOM, CRLF, quotes, embedded
 * newlines), per-row errors with line numbers and column names, limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "adapters.h"
#include "fixture.h"

#define HEADER                                                                                  \
    "tracking_number,recipient_name,destination_country,weight_kg,currency,item_description_1," \
    "item_quantity_1,item_value_1,item_hs_code_1,item_origin_1\n"

static void test_csv_manifest__valid_rows_field_by_field(void **state)
{
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len, i;
    char *csv = fx_read("manifest-valid.csv", &len);

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, len, "text/csv", &r, &err), 0);
    assert_int_equal(r.doc_count, 4);
    assert_int_equal(r.error_count, 0);
    assert_int_equal(r.item_count, 4);
    /* Lines: header 1, rows at 2, 3 (spans 3-4: embedded newline), 5, 6. */
    assert_int_equal(r.docs[0].line, 2);
    assert_int_equal(r.docs[1].line, 3);
    assert_int_equal(r.docs[2].line, 5);
    assert_int_equal(r.docs[3].line, 6);
    for (i = 0; i < r.doc_count; i++) {
        assert_int_equal(fx_validate(r.docs[i].doc), 0);
        assert_int_equal(r.docs[i].item, i);
    }
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:ConsignmentId", "LX204518337CN");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:TransportDocument", "LX204518337CN");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Seller/c:Name", "Shenzhen Lumen Electronics Co., Ltd");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Seller/c:Address/c:Country", "CN");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Buyer/c:Name", "Ingrid Halvorsen");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Buyer/c:Address/c:PostalCode", "0155");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Buyer/c:Phone", "+47 912 34 567");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Buyer/c:Email", "ingrid.h@example.no");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:DispatchCountry", "CN");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:DestinationCountry", "NO");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:ContentType", "sale");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Order/c:Number", "SO-88121");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Currency", "EUR");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:GoodsValue", "38.50");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Freight", "4.90");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:GrossWeightKg", "0.742");
    FX_EQ(r.docs[0].doc, "count(/c:Consignment/c:Item)", "1");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:Description", "LED desk lamp, aluminium, USB-C");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:HsCode", "940521");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:Quantity", "1");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:LineValue", "38.50");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:NetWeightKg", "0.61");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:Origin", "CN");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:Sku", "LDL-220-AL");
    /* Quoted field with an embedded newline; lower-case country; two items. */
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:Buyer/c:Address/c:Line[1]", "Keizersgracht 221\nHuis 3");
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:DestinationCountry", "NL");
    FX_EQ(r.docs[1].doc, "count(/c:Consignment/c:Item)", "2");
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:Item[2]/@line", "2");
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:Item[2]/c:HsCode", "851830");
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:GoodsValue", "54.96");
    /* Doubled quotes inside a quoted field; empty freight stays absent. */
    FX_EQ(r.docs[2].doc, "/c:Consignment/c:Buyer/c:Name", "Marie \"Mimi\" Laurent");
    FX_EQ(r.docs[2].doc, "count(/c:Consignment/c:Freight)", "0");
    FX_EQ(r.docs[2].doc, "/c:Consignment/c:ContentType", "gift");
    /* No order number: no Order element. */
    FX_EQ(r.docs[3].doc, "count(/c:Consignment/c:Order)", "0");
    FX_EQ(r.docs[3].doc, "/c:Consignment/c:ContentType", "documents");
    cw_adapter_result_fini(&r);
    cw_free(csv);
    cw_adapter_free(a);
}

static void expect_error(const cw_adapter_result_t *r,
                         size_t i,
                         size_t item,
                         size_t line,
                         const char *field,
                         const char *msg_part)
{
    assert_true(i < r->error_count);
    assert_int_equal(r->errors[i].item, item);
    assert_int_equal(r->errors[i].line, line);
    assert_string_equal(r->errors[i].field, field);
    if (strstr(r->errors[i].msg, msg_part) == NULL) {
        fail_msg("error %zu: '%s' lacks '%s'", i, r->errors[i].msg, msg_part);
    }
}

static void test_csv_manifest__bad_rows_reported_others_translate(void **state)
{
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *csv = fx_read("manifest-bad.csv", &len);

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, len, NULL, &r, &err), 0);
    assert_int_equal(r.item_count, 8);
    assert_int_equal(r.doc_count, 2);
    assert_int_equal(r.docs[0].line, 2);
    assert_int_equal(r.docs[1].line, 6); /* the row after the broken quoting */
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:ConsignmentId", "LX300000005CN");
    assert_int_equal(r.error_count, 7);
    expect_error(&r, 0, 1, 3, "freight", "16 fields, the header has 31");
    expect_error(&r, 1, 2, 4, "weight_kg", "'0.5kg' is not a non-negative number");
    expect_error(&r, 2, 2, 4, "item_quantity_1", "'two'");
    expect_error(&r, 3, 3, 5, "recipient_name", "malformed quoting");
    expect_error(&r, 4, 5, 7, "", "32 fields, the header has 31");
    expect_error(&r, 5, 6, 8, "destination_country", "'NOR' is not an ISO 3166");
    expect_error(&r, 6, 7, 9, "recipient_name", "unterminated quoted field");
    cw_adapter_result_fini(&r);
    cw_free(csv);
    cw_adapter_free(a);
}

static void test_csv_manifest__missing_data_absent_not_error(void **state)
{
    static const char csv[] = HEADER "TRK1,,,,,,,,,\n"
                                     "TRK2,Ann Lee,GB,,GBP,Tea,1,4.5,,\n";
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, sizeof(csv) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.doc_count, 2);
    assert_int_equal(r.error_count, 0);
    /* No destination, no items: absent elements and one empty Item; the checks
     * engine reports what is missing. */
    FX_EQ(r.docs[0].doc, "count(/c:Consignment/c:DestinationCountry)", "0");
    FX_EQ(r.docs[0].doc, "count(/c:Consignment/c:Item/*)", "0");
    FX_EQ(r.docs[0].doc, "count(/c:Consignment/c:Buyer/*)", "0");
    FX_EQ(r.docs[1].doc, "count(/c:Consignment/c:Item/c:HsCode)", "0");
    assert_int_equal(fx_validate(r.docs[1].doc), 0);
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

static void test_csv_manifest__not_a_manifest(void **state)
{
    static const char no_header[] = "foo,bar\n1,2\n";
    static const char bad_header_quote[] = "tracking_number,\"recip\"x\n";
    static const char nul[] = "tracking_number\nA\0B\n";
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, no_header, sizeof(no_header) - 1, NULL, &r, &err),
                     CW_EPARSE);
    assert_non_null(strstr(err.msg, "no tracking_number column"));
    assert_int_equal(cw_adapter_translate_in(a, "", 0, NULL, &r, &err), CW_EPARSE);
    assert_int_equal(
        cw_adapter_translate_in(a, bad_header_quote, sizeof(bad_header_quote) - 1, NULL, &r, &err),
        CW_EPARSE);
    assert_int_equal(cw_adapter_translate_in(a, nul, sizeof(nul) - 1, NULL, &r, &err), CW_EPARSE);
    assert_int_equal(r.doc_count, 0);
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

/*
 * The international leg, for the mode-specific rules (lithium batteries
 * are prohibited by post and restricted by air): any case, blank is
 * absent, anything else is a row error naming the column and the other
 * rows still translate.
 */
static void test_csv_manifest__transport_mode(void **state)
{
    static const char csv[] = "tracking_number,destination_country,transport_mode,content_type,"
                              "item_description_1,item_hs_code_1\n"
                              "T1,DE,AIR,sale,Power bank 10000 mAh,850760\n"
                              "T2,DE,post,,Lithium cells,850650\n"
                              "T3,DE,,gift,Scarf,611710\n"
                              "T4,DE,courier,sale,Mug,691200\n"
                              "T5,DE, Sea ,sale,Mug,691200\n";
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t i;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, sizeof(csv) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.doc_count, 4);
    assert_int_equal(r.error_count, 1);
    expect_error(&r, 0, 3, 5, "transport_mode",
                 "'courier' is not one of air, road, rail, sea, post");
    for (i = 0; i < r.doc_count; i++) {
        assert_int_equal(fx_validate(r.docs[i].doc), 0);
    }
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:TransportMode", "air");
    FX_EQ(r.docs[0].doc, "local-name(/c:Consignment/c:TransportMode/following-sibling::*[1])",
          "ContentType");
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:TransportMode", "post");
    FX_EQ(r.docs[2].doc, "count(/c:Consignment/c:TransportMode)", "0");
    /* libcsv drops the spaces around an unquoted field. */
    FX_EQ(r.docs[3].doc, "/c:Consignment/c:TransportMode", "sea");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

/*
 * A partner's adapter-transport-mode: every consignment its adapter makes
 * without a mode gets it, in the schema's place; one that names its own
 * keeps it. The same for a kind with no mode field (shopify-order).
 */
static void test_csv_manifest__partner_transport_mode(void **state)
{
    static const char csv[] = "tracking_number,destination_country,transport_mode,"
                              "item_description_1,item_hs_code_1\n"
                              "T1,DE,,Lithium cells,850650\n"
                              "T2,DE,air,Lithium cells,850650\n";
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_adapter_result_t r;
    cw_error_t err;
    char cat[4096];
    char *json;
    size_t len;

    (void)state;
    conf.name = "csv-manifest";
    conf.partner_id = "partner-test";
    conf.transport_mode = "ship";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), CW_EINVAL);
    assert_null(a);
    assert_non_null(strstr(err.msg, "'ship' is not air, road, rail, sea or post"));
    conf.transport_mode = "post";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, sizeof(csv) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.doc_count, 2);
    assert_int_equal(fx_validate(r.docs[0].doc), 0);
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:TransportMode", "post");
    FX_EQ(r.docs[0].doc, "local-name(/c:Consignment/c:TransportMode/preceding-sibling::*[1])",
          "DestinationCountry");
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:TransportMode", "air");
    FX_EQ(r.docs[1].doc, "count(/c:Consignment/c:TransportMode)", "1");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);

    conf.name = "shopify-order";
    (void)cw_strlcpy(cat, fx_path("catalog.json"), sizeof(cat));
    conf.catalog_path = cat;
    conf.transport_mode = "road";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    json = fx_read("shopify-order.json", &len);
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, json, len, "application/json", &r, &err), 0);
    assert_true(r.doc_count >= 1);
    assert_int_equal(fx_validate(r.docs[0].doc), 0);
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:TransportMode", "road");
    cw_adapter_result_fini(&r);
    cw_free(json);
    cw_adapter_free(a);
}

/* A manifest of n rows (3 items each), like a carrier's daily file. */
static char *big_manifest(size_t n, size_t *len_out)
{
    cw_buf_t b;
    size_t i;

    cw_buf_init(&b, 64u * 1024u * 1024u);
    assert_int_equal(
        cw_buf_appends(&b, "tracking_number,recipient_name,recipient_address1,recipient_city,"
                           "recipient_postcode,destination_country,weight_kg,currency,"
                           "content_type,item_description_1,item_quantity_1,item_value_1,"
                           "item_hs_code_1,item_origin_1,item_description_2,item_quantity_2,"
                           "item_value_2,item_hs_code_2,item_origin_2\r\n"),
        0);
    for (i = 0; i < n; i++) {
        assert_int_equal(cw_buf_appendf(&b,
                                        "TRK%08zu,Customer %zu,\"%zu High Street, Flat 2\","
                                        "London,SW1A 1AA,GB,1.25%zu,GBP,sale,Cotton T-shirt,2,"
                                        "19.98,610910,BD,\"Mug, ceramic\",1,8.50,691200,CN\r\n",
                                        i, i, i % 300, i % 10),
                         0);
    }
    return cw_buf_detach(&b, len_out);
}

static void test_csv_manifest__ten_thousand_rows_within_limits(void **state)
{
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *csv = big_manifest(10000, &len);

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, len, NULL, &r, &err), 0);
    assert_int_equal(r.doc_count, 10000);
    assert_int_equal(r.error_count, 0);
    assert_int_equal(r.docs[9999].line, 10001);
    FX_EQ(r.docs[9999].doc, "/c:Consignment/c:ConsignmentId", "TRK00009999");
    assert_int_equal(fx_validate(r.docs[9999].doc), 0);
    cw_adapter_result_fini(&r);
    cw_free(csv);
    cw_adapter_free(a);
}

typedef struct counter {
    size_t docs;
    size_t stop_at; /* 0: never */
} counter_t;

static int on_doc(xmlDoc *doc, size_t item, size_t line, void *arg)
{
    counter_t *c = arg;

    assert_int_equal(item, c->docs);
    assert_int_equal(line, c->docs + 2);
    xmlFreeDoc(doc);
    if (++c->docs == c->stop_at) {
        return CW_EBUSY;
    }
    return 0;
}

static void test_csv_manifest__streaming_hands_over_each_document(void **state)
{
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    counter_t c = { 0, 0 };
    cw_error_t err;
    size_t len;
    char *csv = big_manifest(2000, &len);

    (void)state;
    cw_adapter_result_init(&r);
    r.on_doc = on_doc;
    r.arg = &c;
    assert_int_equal(cw_adapter_translate_in(a, csv, len, NULL, &r, &err), 0);
    assert_int_equal(c.docs, 2000);
    assert_int_equal(r.doc_count, 0);
    assert_int_equal(r.item_count, 2000);
    /* The callback can stop the translation. */
    c.docs = 0;
    c.stop_at = 10;
    assert_int_equal(cw_adapter_translate_in(a, csv, len, NULL, &r, &err), CW_EBUSY);
    assert_int_equal(c.docs, 10);
    cw_adapter_result_fini(&r);
    cw_free(csv);
    cw_adapter_free(a);
}

static void test_csv_manifest__over_limits_refused(void **state)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *csv = big_manifest(101, &len);

    (void)state;
    conf.name = "csv-manifest";
    conf.limits.items_max = 100;
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, len, NULL, &r, &err), CW_E2BIG);
    assert_non_null(strstr(err.msg, "more than 100 parcels"));
    assert_int_equal(r.doc_count, 0); /* nothing half-done */
    cw_adapter_free(a);

    /* Input bytes: refused before parsing. */
    conf.limits.items_max = 1000;
    conf.limits.input_bytes_max = len - 1;
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    assert_int_equal(cw_adapter_translate_in(a, csv, len, NULL, &r, &err), CW_E2BIG);
    assert_int_equal(r.doc_count, 0);
    cw_adapter_free(a);

    /* Stored errors are capped; the rest are counted. */
    conf.limits.input_bytes_max = CW_ADAPTER_INPUT_BYTES_DEFAULT;
    conf.limits.errors_max = 2;
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    assert_int_equal(
        cw_adapter_translate_in(a, HEADER "a\nb\nc\nd\n", sizeof(HEADER) + 7, NULL, &r, &err), 0);
    assert_int_equal(r.error_count, 2);
    assert_int_equal(r.errors_dropped, 2);
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
    cw_free(csv);
}

/* Found by fuzz_adapters: rows lost to bad quoting were not counted against items_max. */
static void test_csv_manifest__bad_quoting_rows_count_against_items_max(void **state)
{
    static const char csv[] = HEADER "TRK1,\"Ann\"x,GB,,,,,,,\n"
                                     "TRK2,\"Bo\"y,GB,,,,,,,\n"
                                     "TRK3,\"Cy\"z,GB,,,,,,,\n";
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_adapter_result_t r;
    cw_error_t err;

    (void)state;
    conf.name = "csv-manifest";
    conf.limits.items_max = 2;
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    cw_adapter_result_init(&r);
    cw_error_clear(&err);
    assert_int_equal(cw_adapter_translate_in(a, csv, sizeof(csv) - 1, NULL, &r, &err), CW_E2BIG);
    assert_non_null(strstr(err.msg, "more than 2 parcels"));
    assert_int_equal(r.doc_count, 0);
    assert_int_equal(r.error_count, 0);
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

/*
 * Found by fuzz_adapters: bytes that are not UTF-8 (a Latin-1 export) or a
 * control character went into the canonical document, which then
 * serialised to XML that no parser accepts. Such a value is an item error.
 */
static void test_csv_manifest__text_not_utf8_is_an_item_error(void **state)
{
    static const char csv[] = HEADER "TRK1,J\xfcrgen M\xfcller,DE,,,,,,,\n"
                                     "TRK2,Ann Lee,GB,,GBP,Tea\x01,1,4.5,,\n"
                                     "TRK3,J\xc3\xbcrgen,DE,,EUR,Tea\xef\xbf\xbf,1,4.5,,\n"
                                     "TRK4,J\xc3\xbcrgen M\xc3\xbcller,DE,,EUR,Tea,1,4.5,,\n";
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, sizeof(csv) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.item_count, 4);
    assert_int_equal(r.error_count, 3);
    expect_error(&r, 0, 0, 2, "recipient_name", "not UTF-8 text");
    expect_error(&r, 1, 1, 3, "item_description_1", "control character");
    expect_error(&r, 2, 2, 4, "item_description_1", "control character");
    assert_int_equal(r.doc_count, 1);
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Buyer/c:Name", "J\xc3\xbcrgen M\xc3\xbcller");
    assert_int_equal(fx_validate(r.docs[0].doc), 0);
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

/* Found while adding fuzz_adapters: an error quoting a value with a newline was two lines. */
static void test_csv_manifest__error_messages_are_one_line(void **state)
{
    static const char csv[] = HEADER "TRK1,Ann Lee,GB,\"0.5\nkg\",,,,,,\n";
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, sizeof(csv) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.error_count, 1);
    expect_error(&r, 0, 0, 2, "weight_kg", "'0.5 kg' is not a non-negative number");
    assert_null(strpbrk(r.errors[0].msg, "\r\n"));
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

/*
 * Found while adding fuzz_adapters (UBSan): "922337203685479" overflowed int64 when
 * scaled to 1e-4 units, and the sum of the item values could overflow.
 */
static void test_csv_manifest__huge_amounts_never_overflow(void **state)
{
    static const char csv[] = "tracking_number,freight,item_value_1,item_value_2\n"
                              "TRK1,922337203685479,1,1\n"
                              "TRK2,1,900000000000000,900000000000000\n";
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, csv, sizeof(csv) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.error_count, 1);
    expect_error(&r, 0, 0, 2, "freight", "is not a decimal amount");
    assert_int_equal(r.doc_count, 1);
    /* Each value fits, their sum does not: GoodsValue is left out. */
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item[2]/c:LineValue", "900000000000000");
    FX_EQ(r.docs[0].doc, "count(/c:Consignment/c:GoodsValue)", "0");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

static void test_csv_manifest__oom_never_crashes(void **state)
{
    cw_adapter_t *a = fx_adapter("csv-manifest", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *csv = fx_read("manifest-valid.csv", &len);
    long n;
    int rc;

    (void)state;
    for (n = 0; n < 400; n++) {
        cw_adapter_result_init(&r);
        cw_alloc_fail_after(n);
        rc = cw_adapter_translate_in(a, csv, len, NULL, &r, &err);
        cw_alloc_fail_reset();
        assert_true(rc == 0 || rc == CW_ENOMEM);
        if (rc == CW_ENOMEM) {
            assert_int_equal(r.doc_count, 0);
        }
        cw_adapter_result_fini(&r);
        if (rc == 0) {
            break;
        }
    }
    assert_true(n < 400);
    cw_free(csv);
    cw_adapter_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_manifest__valid_rows_field_by_field),
        cmocka_unit_test(test_csv_manifest__bad_rows_reported_others_translate),
        cmocka_unit_test(test_csv_manifest__missing_data_absent_not_error),
        cmocka_unit_test(test_csv_manifest__transport_mode),
        cmocka_unit_test(test_csv_manifest__partner_transport_mode),
        cmocka_unit_test(test_csv_manifest__not_a_manifest),
        cmocka_unit_test(test_csv_manifest__ten_thousand_rows_within_limits),
        cmocka_unit_test(test_csv_manifest__streaming_hands_over_each_document),
        cmocka_unit_test(test_csv_manifest__over_limits_refused),
        cmocka_unit_test(test_csv_manifest__bad_quoting_rows_count_against_items_max),
        cmocka_unit_test(test_csv_manifest__text_not_utf8_is_an_item_error),
        cmocka_unit_test(test_csv_manifest__error_messages_are_one_line),
        cmocka_unit_test(test_csv_manifest__huge_amounts_never_overflow),
        cmocka_unit_test(test_csv_manifest__oom_never_crashes),
    };
    return cmocka_run_group_tests_name("adapters_csv_manifest", tests, fx_schema_setup,
                                       fx_schema_teardown);
}
