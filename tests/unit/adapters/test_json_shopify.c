/*
 * shopify-order: field-by-field translation, the product catalogue, wrong
 * JSON types reported with their path, bad JSON, limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "adapters.h"
#include "fixture.h"

static void test_json_shopify__order_with_catalogue(void **state)
{
    cw_adapter_t *a = fx_adapter("shopify-order", "catalog.json");
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *json = fx_read("shopify-order.json", &len);
    xmlDoc *d;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, json, len, "application/json", &r, &err), 0);
    assert_int_equal(r.doc_count, 1);
    assert_int_equal(r.error_count, 0);
    d = r.docs[0].doc;
    assert_int_equal(fx_validate(d), 0);
    FX_EQ(d, "/c:Consignment/c:ConsignmentId", "shopify-5830122946601");
    FX_EQ(d, "/c:Consignment/c:TransportDocument", "6A21890344711");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Id", "GB-LISBON-HOMEWARES");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Name", "Atelier Lisboa Homewares Lda");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Address/c:Country", "PT");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Registration[@scheme='IOSS']", "IM6200012345");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Name", "Sophie Moreau");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Address/c:Line[2]", "Appartement 14");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Address/c:Region", "Occitanie");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Email", "s.moreau@example.fr");
    FX_EQ(d, "/c:Consignment/c:Consignee/c:Name", "Sophie Moreau");
    FX_EQ(d, "/c:Consignment/c:Consignee/c:Address/c:City", "Bordeaux");
    FX_EQ(d, "/c:Consignment/c:Consignee/c:Address/c:Region", "NAQ");
    FX_EQ(d, "count(/c:Consignment/c:Consignee/c:Address/c:Line)", "1");
    FX_EQ(d, "/c:Consignment/c:DispatchCountry", "PT");
    FX_EQ(d, "/c:Consignment/c:DestinationCountry", "FR");
    FX_EQ(d, "/c:Consignment/c:ContentType", "sale");
    FX_EQ(d, "/c:Consignment/c:Order/c:Number", "#4127");
    FX_EQ(d, "/c:Consignment/c:Order/c:Date", "2026-11-27");
    FX_EQ(d, "/c:Consignment/c:Payment/c:Reference", "c7e1a0f2b9d34e5f8a61");
    FX_EQ(d, "/c:Consignment/c:Payment/c:Amount", "136.66");
    FX_EQ(d, "/c:Consignment/c:Currency", "EUR");
    FX_EQ(d, "/c:Consignment/c:GoodsValue", "114.80");
    FX_EQ(d, "/c:Consignment/c:Freight", "5.90");
    FX_EQ(d, "/c:Consignment/c:Discount", "5.00");
    FX_EQ(d, "/c:Consignment/c:TaxCollected/c:Registration[@scheme='IOSS']", "IM6200012345");
    FX_EQ(d, "/c:Consignment/c:TaxCollected/c:Amount", "21.96");
    FX_EQ(d, "/c:Consignment/c:GrossWeightKg", "1.46");
    FX_EQ(d, "count(/c:Consignment/c:Item)", "4");
    /* Item 1: everything from the line item, the catalogue entry is not used. */
    FX_EQ(d, "/c:Consignment/c:Item[1]/@line", "1");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Description", "Stoneware mug, glazed, 350 ml");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:HsCode", "691200");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Origin", "PT");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Quantity", "2");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:UnitValue", "18.90");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:LineValue", "37.80");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:NetWeightKg", "0.84");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Sku", "CER-MUG-350-SAGE");
    /* Item 2: HS, origin and description from the catalogue by SKU. */
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Description", "Tea towel of woven flax (linen), 45x70 cm");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:HsCode", "630259");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Origin", "LT");
    /* Item 3: price given as a JSON number. */
    FX_EQ(d, "/c:Consignment/c:Item[3]/c:UnitValue", "48.00");
    FX_EQ(d, "/c:Consignment/c:Item[3]/c:HsCode", "441990");
    /* Item 4: not in the catalogue: the product name, no HS code or origin. */
    FX_EQ(d, "/c:Consignment/c:Item[4]/c:Description", "Handwritten card");
    FX_EQ(d, "count(/c:Consignment/c:Item[4]/c:HsCode)", "0");
    FX_EQ(d, "count(/c:Consignment/c:Item[4]/c:Origin)", "0");
    FX_EQ(d, "count(/c:Consignment/c:Item[4]/c:NetWeightKg)", "0");
    cw_adapter_result_fini(&r);
    cw_free(json);
    cw_adapter_free(a);
}

static void test_json_shopify__without_catalogue_absent_not_error(void **state)
{
    cw_adapter_t *a = fx_adapter("shopify-order", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *json = fx_read("shopify-order.json", &len);
    xmlDoc *d;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, json, len, NULL, &r, &err), 0);
    assert_int_equal(r.doc_count, 1);
    d = r.docs[0].doc;
    assert_int_equal(fx_validate(d), 0);
    FX_EQ(d, "/c:Consignment/c:Seller/c:Id", "partner-test");
    FX_EQ(d, "count(/c:Consignment/c:TaxCollected)", "0");
    FX_EQ(d, "count(/c:Consignment/c:DispatchCountry)", "0");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Description", "Linen tea towel 45x70 - natural");
    FX_EQ(d, "count(/c:Consignment/c:Item[2]/c:HsCode)", "0");
    cw_adapter_result_fini(&r);
    cw_free(json);
    cw_adapter_free(a);
}

static int
has_error(const cw_adapter_result_t *r, size_t item, const char *field, const char *msg_part)
{
    size_t i;

    for (i = 0; i < r->error_count; i++) {
        if (r->errors[i].item == item && strcmp(r->errors[i].field, field) == 0
            && strstr(r->errors[i].msg, msg_part) != NULL) {
            return 1;
        }
    }
    for (i = 0; i < r->error_count; i++) {
        print_error("have: item %zu %s: %s\n", r->errors[i].item, r->errors[i].field,
                    r->errors[i].msg);
    }
    return 0;
}

static void test_json_shopify__wrong_types_with_json_path(void **state)
{
    cw_adapter_t *a = fx_adapter("shopify-order", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *json = fx_read("shopify-orders-bad.json", &len);

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, json, len, NULL, &r, &err), 0);
    assert_int_equal(r.item_count, 5);
    /* Orders 0 and 4 translate (4 has almost nothing: absent elements). */
    assert_int_equal(r.doc_count, 2);
    assert_int_equal(r.docs[0].item, 0);
    assert_int_equal(r.docs[1].item, 4);
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item/c:LineValue", "30.00");
    FX_EQ(r.docs[1].doc, "count(/c:Consignment/c:DestinationCountry)", "0");
    assert_true(has_error(&r, 1, "$.orders[1].shipping_address.country_code",
                          "expected a string, got integer"));
    assert_true(has_error(&r, 1, "$.orders[1].line_items[0].quantity",
                          "expected a non-negative integer, got string"));
    assert_true(has_error(&r, 1, "$.orders[1].line_items[1].price",
                          "expected a decimal amount, got object"));
    assert_true(has_error(&r, 2, "$.orders[2].line_items", "expected an array, got string"));
    assert_true(has_error(&r, 3, "$.orders[3]", "expected an object, got string"));
    cw_adapter_result_fini(&r);
    cw_free(json);
    cw_adapter_free(a);
}

static void test_json_shopify__bad_json_and_shapes(void **state)
{
    static const char *const bad[] = {
        "{\"order\": {\"id\": 1,}",            /* syntax */
        "[1, 2]",                              /* not an object */
        "{\"customer\": {}}",                  /* no order */
        "{\"orders\": {\"id\": 1}}",           /* orders not an array */
        "{\"order\": {\"id\": 1, \"id\": 2}}", /* duplicate key */
        "",
        "\"\\\n", /* found by fuzz_adapters: jansson quotes the newline in its message */
    };
    cw_adapter_t *a = fx_adapter("shopify-order", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t i;

    (void)state;
    cw_adapter_result_init(&r);
    for (i = 0; i < CW_ARRAY_SIZE(bad); i++) {
        cw_error_clear(&err);
        assert_int_equal(cw_adapter_translate_in(a, bad[i], strlen(bad[i]), NULL, &r, &err),
                         CW_EPARSE);
        assert_true(err.msg[0] != '\0');
        assert_null(strpbrk(err.msg, "\r\n")); /* one line (adapters.h) */
        assert_int_equal(r.doc_count, 0);
    }
    assert_int_equal(cw_adapter_translate_in(a, bad[0], strlen(bad[0]), NULL, &r, &err), CW_EPARSE);
    assert_non_null(strstr(err.msg, "line 1"));
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

/*
 * Found by fuzz_adapters: a control character (U+0001, U+FFFF) went into
 * the canonical document, which then serialised to XML that no parser
 * accepts. Found while fixing it: a long name was cut inside a UTF-8
 * character.
 */
static void test_json_shopify__text_not_xml_is_an_item_error(void **state)
{
    static const char json[] = "{\"orders\": ["
                               "{\"email\": \"a\\u0001b@example.com\", \"line_items\": []},"
                               "{\"line_items\": [{\"name\": \"Tea\\uffff\", \"quantity\": 1}]},"
                               "{\"id\": \"7\\u0002\", \"line_items\": []},"
                               "{\"customer\": {\"name\": \"%s\\u00e9\"}, \"line_items\": []}]}";
    cw_adapter_t *a = fx_adapter("shopify-order", NULL);
    cw_adapter_result_t r;
    char long_name[127], body[512];
    cw_error_t err;

    (void)state;
    /* 126 bytes, then the two of U+00E9: the 128-byte name buffer cuts it. */
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    (void)snprintf(body, sizeof(body), json, long_name);
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, body, strlen(body), NULL, &r, &err), 0);
    assert_int_equal(r.item_count, 4);
    assert_true(has_error(&r, 0, "$.orders[0].email", "got one with a control character"));
    assert_true(
        has_error(&r, 1, "$.orders[1].line_items[0].name", "got one with a control character"));
    assert_true(has_error(&r, 2, "$.orders[2].id", "got one with a control character"));
    assert_int_equal(r.doc_count, 1);
    assert_int_equal(r.docs[0].item, 3);
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Buyer/c:Name", long_name);
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

/*
 * Found while adding fuzz_adapters (UBSan): price x quantity, grams x quantity x 10
 * and the sum of shipping lines overflowed int64.
 */
static void test_json_shopify__huge_numbers_never_overflow(void **state)
{
    static const char json[] =
        "{\"orders\": ["
        "{\"line_items\": [{\"price\": \"999999999999\", \"quantity\": 999999999}]},"
        "{\"line_items\": [{\"grams\": 999999999, \"quantity\": 999999999}]},"
        "{\"shipping_lines\": [{\"price\": \"900000000000000\"},"
        " {\"price\": \"900000000000000\"}], \"line_items\": []},"
        "{\"line_items\": [{\"price\": \"900000000000000\", \"quantity\": 1},"
        " {\"price\": \"900000000000000\", \"quantity\": 1}]}]}";
    cw_adapter_t *a = fx_adapter("shopify-order", NULL);
    cw_adapter_result_t r;
    cw_error_t err;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, json, sizeof(json) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.item_count, 4);
    assert_true(has_error(&r, 0, "$.orders[0].line_items[0].price", "line value fits"));
    assert_true(has_error(&r, 1, "$.orders[1].line_items[0].grams", "line total fits"));
    assert_true(has_error(&r, 2, "$.orders[2].shipping_lines[1].price", "total fits"));
    /* Each line value fits, their sum does not: GoodsValue is left out. */
    assert_int_equal(r.doc_count, 1);
    assert_int_equal(r.docs[0].item, 3);
    FX_EQ(r.docs[0].doc, "count(/c:Consignment/c:GoodsValue)", "0");
    FX_EQ(r.docs[0].doc, "/c:Consignment/c:Item[2]/c:LineValue", "900000000000000.00");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

static void test_json_shopify__limits_and_bad_catalogue(void **state)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_adapter_result_t r;
    cw_error_t err;
    static const char three[] = "{\"orders\": [{}, {}, {}]}";

    (void)state;
    conf.name = "shopify-order";
    conf.limits.items_max = 2;
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, three, sizeof(three) - 1, NULL, &r, &err),
                     CW_E2BIG);
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
    a = NULL;

    conf.limits.items_max = 10;
    conf.catalog_path = fx_path("shopify-order.json"); /* JSON, but not a catalogue */
    assert_int_equal(cw_adapter_new(&a, &conf, &err), CW_ECONFIG);
    assert_null(a);
    conf.catalog_path = fx_path("no-such-catalogue.json");
    assert_int_equal(cw_adapter_new(&a, &conf, &err), CW_ECONFIG);
    assert_null(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_shopify__order_with_catalogue),
        cmocka_unit_test(test_json_shopify__without_catalogue_absent_not_error),
        cmocka_unit_test(test_json_shopify__wrong_types_with_json_path),
        cmocka_unit_test(test_json_shopify__bad_json_and_shapes),
        cmocka_unit_test(test_json_shopify__text_not_xml_is_an_item_error),
        cmocka_unit_test(test_json_shopify__huge_numbers_never_overflow),
        cmocka_unit_test(test_json_shopify__limits_and_bad_catalogue),
    };
    return cmocka_run_group_tests_name("adapters_json_shopify", tests, fx_schema_setup,
                                       fx_schema_teardown);
}
