/*
 * XSLT adapters: UBL and CEB in, CEB621 out and round trips, the generic
 * "xslt" kind, and the safety rules (no file outside the folder, no
 * writes, no network, bounded run time), and concurrent use.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "adapters.h"
#include "fixture.h"

/* Translates a fixture; asserts rc 0, no item errors and XSD validity. */
static void translate_ok(cw_adapter_t *a, const char *fixture, cw_adapter_result_t *r)
{
    cw_error_t err;
    size_t len, i;
    char *xml = fx_read(fixture, &len);

    cw_error_clear(&err);
    cw_adapter_result_init(r);
    if (cw_adapter_translate_in(a, xml, len, "application/xml", r, &err) != 0) {
        fail_msg("%s: %s", fixture, err.msg);
    }
    assert_int_equal(r->error_count, 0);
    for (i = 0; i < r->doc_count; i++) {
        assert_int_equal(fx_validate(r->docs[i].doc), 0);
    }
    cw_free(xml);
}

static void test_xslt__ubl_order(void **state)
{
    cw_adapter_t *a = fx_adapter("ubl-order", NULL);
    cw_adapter_result_t r;
    xmlDoc *d;

    (void)state;
    translate_ok(a, "ubl-order.xml", &r);
    assert_int_equal(r.doc_count, 1);
    d = r.docs[0].doc;
    FX_EQ(d, "/c:Consignment/c:ConsignmentId", "PO-2026-00731");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Id", "TW-GIANTPARTS-01");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Name", "Taichung Cycle Components Co.");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Address/c:Country", "TW");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Id/@scheme", "EORI");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Id", "IE8251947Q");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Address/c:Line[1]", "Pearse Street 112");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Phone", "+353 1 555 0142");
    FX_EQ(d, "/c:Consignment/c:Consignee/c:Name", "Dublin Bike Works Warehouse");
    FX_EQ(d, "/c:Consignment/c:Consignee/c:Address/c:PostalCode", "D12 R2K7");
    FX_EQ(d, "/c:Consignment/c:DispatchCountry", "TW");
    FX_EQ(d, "/c:Consignment/c:DestinationCountry", "IE");
    FX_EQ(d, "/c:Consignment/c:Order/c:Date", "2026-11-25");
    FX_EQ(d, "/c:Consignment/c:Currency", "EUR");
    FX_EQ(d, "/c:Consignment/c:GoodsValue", "1284.00");
    FX_EQ(d, "/c:Consignment/c:Freight", "85");
    FX_EQ(d, "count(/c:Consignment/c:Item)", "2");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Description", "Bicycle disc brake caliper, hydraulic");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:HsCode", "871494");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Quantity", "40");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Quantity/@unit", "C62");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:UnitValue", "23.10");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:LineValue", "924.00");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Origin", "TW");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Description", "Inner tube 700x28c, Presta valve");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Sku", "TUBE-70028P");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

static void test_xslt__ubl_waybill(void **state)
{
    cw_adapter_t *a = fx_adapter("ubl-waybill", NULL);
    cw_adapter_result_t r;
    xmlDoc *d;

    (void)state;
    translate_ok(a, "ubl-waybill.xml", &r);
    assert_int_equal(r.doc_count, 1);
    d = r.docs[0].doc;
    FX_EQ(d, "/c:Consignment/c:ConsignmentId", "AWB-176-44120983");
    FX_EQ(d, "/c:Consignment/c:TransportDocument", "176-44120983");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Name", "Kyoto Tea Merchants KK");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Name", "Pacific Leaf Tea Co");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Address/c:Region", "OR");
    FX_EQ(d, "/c:Consignment/c:DispatchCountry", "JP");
    FX_EQ(d, "/c:Consignment/c:DestinationCountry", "US");
    FX_EQ(d, "/c:Consignment/c:TransportMode", "air");
    FX_EQ(d, "/c:Consignment/c:Currency", "USD");
    FX_EQ(d, "/c:Consignment/c:GoodsValue", "860.00");
    FX_EQ(d, "/c:Consignment/c:Insurance", "12.00");
    FX_EQ(d, "/c:Consignment/c:GrossWeightKg", "12.400");
    FX_EQ(d, "count(/c:Consignment/c:Item)", "2");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:HsCode", "090210");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:NetWeightKg", "8.000");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Description", "Cast iron teapot 0.6 l");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Origin", "JP");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

static void test_xslt__ceb311_orders(void **state)
{
    cw_adapter_t *a = fx_adapter("ceb311", NULL);
    cw_adapter_result_t r;
    xmlDoc *d;

    (void)state;
    translate_ok(a, "ceb311.xml", &r);
    assert_int_equal(r.doc_count, 2);
    assert_int_equal(r.item_count, 2);
    assert_int_equal(r.docs[0].item, 0);
    assert_int_equal(r.docs[0].line, 4);
    assert_int_equal(r.docs[1].item, 1);
    assert_int_equal(r.docs[1].line, 60);
    d = r.docs[0].doc;
    FX_EQ(d, "/c:Consignment/c:ConsignmentId", "HZ20261126000871");
    FX_EQ(d, "/c:Consignment/c:Filing", "import");
    FX_EQ(d, "/c:Consignment/c:Platform/c:Id", "3301960ABC");
    FX_EQ(d, "/c:Consignment/c:Platform/c:Registration[@scheme='CNEBP']", "3301960ABC");
    FX_EQ(d, "/c:Consignment/c:Seller/c:Name", "杭州优品贸易有限公司");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Id[@scheme='CN-ID']", "330106199001011234");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Name", "王丽");
    FX_EQ(d, "/c:Consignment/c:Consignee/c:Address/c:Line", "浙江省杭州市西湖区文三路90号");
    FX_EQ(d, "/c:Consignment/c:DestinationCountry", "CN");
    FX_EQ(d, "/c:Consignment/c:Order/c:Date", "2026-11-26");
    FX_EQ(d, "/c:Consignment/c:Payment/c:Reference", "PAY2026112614300512");
    FX_EQ(d, "/c:Consignment/c:Payment/c:Amount", "390.46");
    FX_EQ(d, "/c:Consignment/c:Currency", "CNY");
    FX_EQ(d, "/c:Consignment/c:GoodsValue", "356.00");
    FX_EQ(d, "/c:Consignment/c:Discount", "10.00");
    FX_EQ(d, "/c:Consignment/c:TaxCollected/c:Amount", "32.46");
    FX_EQ(d, "count(/c:Consignment/c:Item)", "2");
    FX_EQ(d, "/c:Consignment/c:Item[1]/c:Origin", "JP");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Origin", "AU");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:Description", "羊奶粉 800g");
    FX_EQ(d, "/c:Consignment/c:Item[2]/c:LineValue", "100.00");
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:Item/c:Origin", "DE");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
}

static void test_xslt__ceb411_and_ceb511(void **state)
{
    cw_adapter_t *pay = fx_adapter("ceb411", NULL);
    cw_adapter_t *way = fx_adapter("ceb511", NULL);
    cw_adapter_result_t r;
    xmlDoc *d;

    (void)state;
    translate_ok(pay, "ceb411.xml", &r);
    assert_int_equal(r.doc_count, 1);
    d = r.docs[0].doc;
    FX_EQ(d, "/c:Consignment/c:ConsignmentId", "HZ20261126000871");
    FX_EQ(d, "/c:Consignment/c:Payment/c:Reference", "PAY2026112614300512");
    FX_EQ(d, "/c:Consignment/c:Payment/c:Amount", "390.46");
    FX_EQ(d, "/c:Consignment/c:Payment/c:Payer", "王丽");
    FX_EQ(d, "/c:Consignment/c:Buyer/c:Phone", "13905710000");
    cw_adapter_result_fini(&r);

    translate_ok(way, "ceb511.xml", &r);
    assert_int_equal(r.doc_count, 2);
    d = r.docs[1].doc;
    FX_EQ(d, "/c:Consignment/c:ConsignmentId", "HZ20261126000872");
    FX_EQ(d, "/c:Consignment/c:TransportDocument", "HZKY8800012872");
    FX_EQ(d, "/c:Consignment/c:Consignee/c:Name", "陈刚");
    FX_EQ(d, "/c:Consignment/c:GrossWeightKg", "0.120");
    FX_EQ(d, "/c:Consignment/c:Item/c:Description", "维生素");
    cw_adapter_result_fini(&r);
    cw_adapter_free(pay);
    cw_adapter_free(way);
}

static void test_xslt__wrong_namespace_doctype_malformed(void **state)
{
    cw_adapter_t *order = fx_adapter("ceb311", NULL);
    cw_adapter_t *pay = fx_adapter("ceb411", NULL);
    cw_adapter_t *ubl = fx_adapter("ubl-order", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *xml;

    (void)state;
    cw_adapter_result_init(&r);
    xml = fx_read("ceb311-wrong-ns.xml", &len);
    assert_int_equal(cw_adapter_translate_in(order, xml, len, NULL, &r, &err), CW_EPARSE);
    assert_non_null(strstr(err.msg, "http://www.chinaport.gov.cn/ceb/v2"));
    cw_free(xml);
    xml = fx_read("ceb311.xml", &len);
    assert_int_equal(cw_adapter_translate_in(pay, xml, len, NULL, &r, &err), CW_EPARSE);
    assert_non_null(strstr(err.msg, "CEB411Message"));
    assert_int_equal(cw_adapter_translate_in(ubl, xml, len, NULL, &r, &err), CW_EPARSE);
    cw_free(xml);
    xml = fx_read("ubl-order-doctype.xml", &len);
    assert_int_equal(cw_adapter_translate_in(ubl, xml, len, NULL, &r, &err), CW_EPARSE);
    cw_free(xml);
    assert_int_equal(cw_adapter_translate_in(ubl, "<Order", 6, NULL, &r, &err), CW_EPARSE);
    assert_int_equal(cw_adapter_translate_in(ubl, "{\"json\":1}", 10, NULL, &r, &err), CW_EPARSE);
    /* Found by fuzz_adapters: libxml2's text for a bad byte is two lines
     * ("...indicate encoding !\nBytes: 0xC0 ..."); err.msg is one. */
    assert_int_equal(cw_adapter_translate_in(ubl, "<a>\xc0</a>", 8, NULL, &r, &err), CW_EPARSE);
    assert_non_null(strstr(err.msg, "Bytes: 0xC0"));
    assert_null(strpbrk(err.msg, "\r\n"));
    assert_int_equal(r.doc_count, 0);
    cw_adapter_result_fini(&r);
    cw_adapter_free(order);
    cw_adapter_free(pay);
    cw_adapter_free(ubl);
}

/* canonical -> CEB621 text -> canonical again through ceb621 in. */
static xmlDoc *ceb621_round_trip(cw_adapter_t *ceb, xmlDoc *canonical, char **text_out)
{
    cw_adapter_result_t back;
    cw_error_t err;
    const char *media = NULL;
    size_t len = 0;
    char *text = NULL;
    xmlDoc *d;

    cw_error_clear(&err);
    if (cw_adapter_translate_out(ceb, canonical, &text, &len, &media, &err) != 0) {
        fail_msg("translate_out: %s", err.msg);
    }
    assert_string_equal(media, "application/xml");
    assert_int_equal(strlen(text), len);
    cw_adapter_result_init(&back);
    if (cw_adapter_translate_in(ceb, text, len, NULL, &back, &err) != 0) {
        fail_msg("translate_in: %s", err.msg);
    }
    assert_int_equal(back.doc_count, 1);
    assert_int_equal(fx_validate(back.docs[0].doc), 0);
    d = cw_adapter_result_take(&back, 0);
    assert_null(cw_adapter_result_take(&back, 0));
    cw_adapter_result_fini(&back);
    *text_out = text;
    return d;
}

static void test_xslt__round_trip_ceb311_to_ceb621_and_back(void **state)
{
    cw_adapter_t *in = fx_adapter("ceb311", NULL);
    cw_adapter_t *ceb = fx_adapter("ceb621", NULL);
    cw_adapter_result_t r;
    xmlDoc *back, *out_doc;
    char *text = NULL;

    (void)state;
    translate_ok(in, "ceb311.xml", &r);
    back = ceb621_round_trip(ceb, r.docs[0].doc, &text);
    /* The CEB621 itself: head and list fields, customs codes. */
    out_doc = xmlReadMemory(text, (int)strlen(text), "ceb621.xml", NULL, XML_PARSE_NONET);
    assert_non_null(out_doc);
    FX_EQ(out_doc, "/ceb:CEB621Message/ceb:Inventory/ceb:InventoryHead/ceb:orderNo",
          "HZ20261126000871");
    FX_EQ(out_doc, "/ceb:CEB621Message/ceb:Inventory/ceb:InventoryHead/ceb:currency", "142");
    FX_EQ(out_doc, "/ceb:CEB621Message/ceb:Inventory/ceb:InventoryHead/ceb:buyerIdType", "1");
    FX_EQ(out_doc, "/ceb:CEB621Message/ceb:Inventory/ceb:InventoryHead/ceb:copNo",
          "HZ20261126000871");
    FX_EQ(out_doc, "string-length(/ceb:CEB621Message/@guid)", "36");
    FX_EQ(out_doc, "/ceb:CEB621Message/ceb:Inventory/ceb:InventoryList[2]/ceb:country", "601");
    FX_EQ(out_doc, "/ceb:CEB621Message/ceb:BaseTransfer/ceb:copCode", "partner-test");
    FX_EQ(out_doc, "count(/ceb:CEB621Message/*[local-name()='Signature'])", "0");
    xmlFreeDoc(out_doc);
    /* And back: the fields CEB621 carries survive. */
    FX_EQ(back, "/c:Consignment/c:Order/c:Number", "HZ20261126000871");
    FX_EQ(back, "/c:Consignment/c:Platform/c:Id", "3301960ABC");
    FX_EQ(back, "/c:Consignment/c:Seller/c:Id", "3301960XYZ");
    FX_EQ(back, "/c:Consignment/c:Buyer/c:Id[@scheme='CN-ID']", "330106199001011234");
    FX_EQ(back, "/c:Consignment/c:Buyer/c:Name", "王丽");
    /* consigneeAddress is the buyer's address too (CN-2019 requires it). */
    FX_EQ(back, "count(/c:Consignment/c:Buyer/c:Address/c:Line)", "1");
    FX_EQ(back,
          "/c:Consignment/c:Buyer/c:Address/c:Line = /c:Consignment/c:Consignee/c:Address/c:Line",
          "true");
    FX_EQ(back, "/c:Consignment/c:Currency", "CNY");
    FX_EQ(back, "/c:Consignment/c:Freight", "12.00");
    FX_EQ(back, "count(/c:Consignment/c:Item)", "2");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:Description", "保湿面霜 50g");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:Quantity", "2");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:UnitValue", "128.00");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:LineValue", "256.00");
    FX_EQ(back, "/c:Consignment/c:Item[2]/c:Origin", "AU");
    FX_EQ(back, "/c:Consignment/c:GoodsValue", "356");
    xmlFreeDoc(back);
    cw_free(text);
    cw_adapter_result_fini(&r);
    cw_adapter_free(in);
    cw_adapter_free(ceb);
}

static void test_xslt__round_trip_csv_to_ceb621_keeps_hs_and_origin(void **state)
{
    cw_adapter_t *csv = fx_adapter("csv-manifest", NULL);
    cw_adapter_t *ceb = fx_adapter("ceb621", NULL);
    cw_adapter_result_t r;
    cw_error_t err;
    size_t len;
    char *data = fx_read("manifest-valid.csv", &len), *text = NULL;
    xmlDoc *back;

    (void)state;
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(csv, data, len, NULL, &r, &err), 0);
    back = ceb621_round_trip(ceb, r.docs[1].doc, &text);
    FX_EQ(back, "/c:Consignment/c:TransportDocument", "LX204518341CN");
    FX_EQ(back, "/c:Consignment/c:ConsignmentId", "LX204518341CN");
    FX_EQ(back, "/c:Consignment/c:DispatchCountry", "CN");
    FX_EQ(back, "/c:Consignment/c:Currency", "EUR");
    FX_EQ(back, "/c:Consignment/c:GrossWeightKg", "1.205");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:HsCode", "610910");
    FX_EQ(back, "/c:Consignment/c:Item[2]/c:HsCode", "851830");
    FX_EQ(back, "/c:Consignment/c:Item[2]/c:Origin", "CN");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:Quantity", "3");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:LineValue", "29.97");
    FX_EQ(back, "/c:Consignment/c:Item[1]/c:UnitValue", "9.99");
    xmlFreeDoc(back);
    cw_free(text);
    cw_free(data);
    cw_adapter_result_fini(&r);
    cw_adapter_free(csv);
    cw_adapter_free(ceb);
}

static int on_doc_oom(xmlDoc *doc, size_t item, size_t line, void *arg)
{
    (void)item;
    (void)line;
    (void)arg;
    xmlFreeDoc(doc);
    return CW_ENOMEM; /* what the inbound pipeline's on_doc returns when it cannot grow */
}

/*
 * Found by fuzz_adapters: CW_ENOMEM from storing a document or from on_doc,
 * or from an allocation in translate_out, came back with an empty err.
 */
static void test_xslt__out_of_memory_explained(void **state)
{
    cw_adapter_t *in = fx_adapter("ceb311", NULL);
    cw_adapter_t *ceb = fx_adapter("ceb621", NULL);
    cw_adapter_result_t r;
    const char *media = NULL;
    char *xml, *text = NULL;
    size_t len, out_len = 0;
    cw_error_t err;
    long n;
    int rc;

    (void)state;
    xml = fx_read("ceb311.xml", &len);
    cw_adapter_result_init(&r);
    r.on_doc = on_doc_oom;
    cw_error_clear(&err);
    assert_int_equal(cw_adapter_translate_in(in, xml, len, NULL, &r, &err), CW_ENOMEM);
    assert_int_equal(err.code, CW_ENOMEM);
    assert_true(err.msg[0] != '\0');
    cw_adapter_result_fini(&r);

    translate_ok(in, "ceb311.xml", &r);
    for (n = 0; n < 200; n++) {
        cw_error_clear(&err);
        cw_alloc_fail_after(n);
        rc = cw_adapter_translate_out(ceb, r.docs[0].doc, &text, &out_len, &media, &err);
        cw_alloc_fail_reset();
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, CW_ENOMEM);
        assert_int_equal(err.code, CW_ENOMEM);
        assert_true(err.msg[0] != '\0');
    }
    assert_true(n < 200);
    cw_free(text);
    cw_adapter_result_fini(&r);
    cw_free(xml);
    cw_adapter_free(in);
    cw_adapter_free(ceb);
}

static void test_xslt__translate_out_refuses_non_canonical(void **state)
{
    cw_adapter_t *ceb = fx_adapter("ceb621", NULL);
    cw_adapter_t *ubl = fx_adapter("ubl-order", NULL);
    cw_error_t err;
    const char *media;
    size_t len;
    char *out = NULL;
    xmlDoc *doc = xmlReadMemory("<x/>", 4, "x.xml", NULL, 0);

    (void)state;
    assert_int_equal(cw_adapter_translate_out(ceb, doc, &out, &len, &media, &err), CW_EINVAL);
    assert_int_equal(cw_adapter_translate_out(ubl, doc, &out, &len, &media, &err), CW_EINVAL);
    assert_null(out);
    assert_int_equal(cw_adapter_can_out(ceb), 1);
    assert_int_equal(cw_adapter_can_out(ubl), 0);
    xmlFreeDoc(doc);
    cw_adapter_free(ceb);
    cw_adapter_free(ubl);
}

/* ==== Safety ==== */

static int run_evil(const char *xsl, uint32_t steps, cw_error_t *err)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_adapter_result_t r;
    char dir[4096];
    size_t len;
    char *xml = fx_read("ubl-order.xml", &len);
    int rc;

    (void)cw_strlcpy(dir, fx_path("xsl-test"), sizeof(dir));
    conf.name = "xslt";
    conf.xslt_dir = dir;
    conf.xslt_in = xsl;
    if (steps != 0) {
        conf.limits.xslt_steps_max = steps;
    }
    if (cw_adapter_new(&a, &conf, err) != 0) {
        fail_msg("%s: %s", xsl, err->msg);
    }
    cw_error_clear(err);
    cw_adapter_result_init(&r);
    rc = cw_adapter_translate_in(a, xml, len, NULL, &r, err);
    if (rc < 0) {
        assert_int_equal(r.doc_count, 0);
    }
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);
    cw_free(xml);
    return rc;
}

static void test_xslt__document_outside_folder_refused(void **state)
{
    cw_error_t err;

    (void)state;
    assert_int_equal(run_evil("read-passwd.xsl", 0, &err), CW_EPERM);
    assert_non_null(strstr(err.msg, "/etc/passwd"));
    assert_int_equal(run_evil("escape-folder.xsl", 0, &err), CW_EPERM);
    assert_int_equal(run_evil("network.xsl", 0, &err), CW_EPERM);
    assert_non_null(strstr(err.msg, "network"));
    /* Reading a table from the adapter's own folder is allowed. */
    assert_int_equal(run_evil("own-folder.xsl", 0, &err), 0);
}

static void test_xslt__document_output_refused(void **state)
{
    cw_error_t err;

    (void)state;
    (void)unlink("/tmp/clearway-xslt-escape.txt");
    assert_int_equal(run_evil("write-file.xsl", 0, &err), CW_EPERM);
    assert_non_null(strstr(err.msg, "write"));
    assert_int_not_equal(access("/tmp/clearway-xslt-escape.txt", F_OK), 0);
}

static void test_xslt__run_time_bounded(void **state)
{
    cw_error_t err;

    (void)state;
    assert_int_equal(run_evil("exponential.xsl", 200000, &err), CW_ETIMEDOUT);
    assert_int_equal(run_evil("recursion.xsl", 0, &err), CW_EPROTO);
}

static void test_xslt__stylesheet_refuses_input(void **state)
{
    cw_error_t err;

    (void)state;
    assert_int_equal(run_evil("refuse.xsl", 0, &err), CW_EPARSE);
    assert_non_null(strstr(err.msg, "not a parcels file"));
}

static void test_xslt__generic_result_form(void **state)
{
    static const char xml[] = "<parcels>\n"
                              "  <parcel id=\"P1\" to=\"DE\">Wool hat</parcel>\n"
                              "  <parcel to=\"FR\">No id</parcel>\n"
                              "  <parcel id=\"P3\" to=\"IT\">Leather belt</parcel>\n"
                              "</parcels>\n";
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_adapter_result_t r;
    cw_error_t err;
    char dir[4096];

    (void)state;
    (void)cw_strlcpy(dir, fx_path("xsl-test"), sizeof(dir));
    conf.name = "xslt";
    conf.xslt_dir = dir;
    conf.xslt_in = "multi.xsl";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), 0);
    cw_adapter_result_init(&r);
    assert_int_equal(cw_adapter_translate_in(a, xml, sizeof(xml) - 1, NULL, &r, &err), 0);
    assert_int_equal(r.item_count, 3);
    assert_int_equal(r.doc_count, 2);
    assert_int_equal(r.docs[1].item, 2);
    assert_int_equal(r.docs[1].line, 4);
    FX_EQ(r.docs[1].doc, "/c:Consignment/c:Item/c:Description", "Leather belt");
    assert_int_equal(fx_validate(r.docs[0].doc), 0);
    assert_int_equal(r.error_count, 1);
    assert_int_equal(r.errors[0].item, 1);
    assert_int_equal(r.errors[0].line, 3);
    assert_string_equal(r.errors[0].field, "parcel/@id");
    assert_string_equal(r.errors[0].msg, "the parcel has no id");
    cw_adapter_result_fini(&r);
    cw_adapter_free(a);

    /* A stylesheet name may not leave the folder; a missing one is a config error. */
    conf.xslt_in = "../ubl-order.xml";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), CW_ECONFIG);
    conf.xslt_in = "missing.xsl";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), CW_ECONFIG);
    conf.xslt_in = NULL;
    assert_int_equal(cw_adapter_new(&a, &conf, &err), CW_ECONFIG);
    conf.name = "no-such-adapter";
    assert_int_equal(cw_adapter_new(&a, &conf, &err), CW_ENOENT);
}

/* ==== Threads ==== */

typedef struct worker {
    const cw_adapter_t *a;
    const char *xml;
    size_t len;
    int failures;
} worker_t;

static void *worker_run(void *arg)
{
    worker_t *w = arg;
    cw_adapter_result_t r;
    cw_error_t err;
    int i;

    for (i = 0; i < 25; i++) {
        cw_adapter_result_init(&r);
        if (cw_adapter_translate_in(w->a, w->xml, w->len, NULL, &r, &err) != 0
            || r.doc_count != 2) {
            w->failures++;
        }
        cw_adapter_result_fini(&r);
    }
    return NULL;
}

static void test_xslt__one_instance_many_threads(void **state)
{
    cw_adapter_t *a = fx_adapter("ceb311", NULL);
    pthread_t t[4];
    worker_t w[4];
    size_t len, i;
    char *xml = fx_read("ceb311.xml", &len);

    (void)state;
    for (i = 0; i < 4; i++) {
        w[i].a = a;
        w[i].xml = xml;
        w[i].len = len;
        w[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    cw_free(xml);
    cw_adapter_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xslt__ubl_order),
        cmocka_unit_test(test_xslt__ubl_waybill),
        cmocka_unit_test(test_xslt__ceb311_orders),
        cmocka_unit_test(test_xslt__ceb411_and_ceb511),
        cmocka_unit_test(test_xslt__wrong_namespace_doctype_malformed),
        cmocka_unit_test(test_xslt__round_trip_ceb311_to_ceb621_and_back),
        cmocka_unit_test(test_xslt__round_trip_csv_to_ceb621_keeps_hs_and_origin),
        cmocka_unit_test(test_xslt__out_of_memory_explained),
        cmocka_unit_test(test_xslt__translate_out_refuses_non_canonical),
        cmocka_unit_test(test_xslt__document_outside_folder_refused),
        cmocka_unit_test(test_xslt__document_output_refused),
        cmocka_unit_test(test_xslt__run_time_bounded),
        cmocka_unit_test(test_xslt__stylesheet_refuses_input),
        cmocka_unit_test(test_xslt__generic_result_form),
        cmocka_unit_test(test_xslt__one_instance_many_threads),
    };
    return cmocka_run_group_tests_name("adapters_xslt", tests, fx_schema_setup, fx_schema_teardown);
}
