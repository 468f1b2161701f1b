/*
 * Revenue per profile (gateway/checks/revenue.c): intrinsic and customs
 * value, FX, duty (relief, flat EU 2026 duty, ad valorem), VAT/GST with
 * half-even rounding, the collection model and what is due at the border.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "checks.h"
#include "support.h"

typedef void (*mut_fn)(cw_checks_consignment_t *c);

typedef struct rev_case {
    const char *name;                  /* what the row shows */
    const char *dest;                  /* DestinationCountry of the baseline */
    const char *value;                 /* one item, destination currency unless mut changes it */
    const char *date;                  /* reference date */
    mut_fn mut;                        /* changes to the baseline, or NULL */
    const char *intrinsic;             /* expected, destination currency */
    const char *customs;               /* expected customs value */
    const char *duty;                  /* expected duty */
    const char *tax;                   /* expected VAT/GST */
    cw_checks_collection_e collection; /* expected collection model */
    const char *due;                   /* expected amount due at the border */
} rev_case_t;

static cw_checks_rules_t *rules;

static void no_collector(cw_checks_consignment_t *c)
{
    memset(&c->tax_registration, 0, sizeof(c->tax_registration));
}
static void freight_4(cw_checks_consignment_t *c)
{
    c->freight_minor = 400;
    ct_totals(c);
}
static void two_subheadings(cw_checks_consignment_t *c)
{
    ct_item_add(c);
    (void)cw_strlcpy(c->items[1].hs_code, "6110200000", sizeof(c->items[1].hs_code));
    (void)cw_strlcpy(c->items[1].description, "Cotton pullover", sizeof(c->items[1].description));
    ct_item_add(c);
    ct_totals(c);
}
static void usd(cw_checks_consignment_t *c)
{
    (void)cw_strlcpy(c->currency, "USD", sizeof(c->currency));
    (void)cw_strlcpy(c->items[0].currency, "USD", sizeof(c->items[0].currency));
}
static void france(cw_checks_consignment_t *c)
{
    (void)cw_strlcpy(c->destination_country, "FR", sizeof(c->destination_country));
}
static void gift_c2c(cw_checks_consignment_t *c)
{
    c->content = CW_CHECKS_CONTENT_GIFT;
    c->platform.present = 0;
    c->order_number[0] = '\0';
    no_collector(c);
}
static void air_from_us(cw_checks_consignment_t *c)
{
    c->mode = CW_CHECKS_MODE_AIR;
    (void)cw_strlcpy(c->dispatch_country, "US", sizeof(c->dispatch_country));
}
static void seller_reg(cw_checks_consignment_t *c)
{
    /* the IOSS number is the seller's own, not the platform's */
    c->seller.regs[0] = c->platform.regs[0];
    c->seller.regs_len = 1;
    c->platform.regs_len = 0;
}

/* clang-format off */
static const rev_case_t cases[] = {
    { "EU-2021 IOSS platform, VAT at sale", "DE", "41.80", "2026-05-01", freight_4,
      "41.80", "45.80", "0.00", "8.70", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2021 IOSS of the seller: vendor", "DE", "41.80", "2026-05-01", seller_reg,
      "41.80", "41.80", "0.00", "7.94", CW_CHECKS_COLLECT_VENDOR, "0.00" },
    { "EU-2021 no IOSS: carrier collects VAT", "DE", "41.80", "2026-05-01", no_collector,
      "41.80", "41.80", "0.00", "7.94", CW_CHECKS_COLLECT_CARRIER, "7.94" },
    { "EU-2021 VAT 2.375 rounds half-even to 2.38", "DE", "12.50", "2026-05-01", NULL,
      "12.50", "12.50", "0.00", "2.38", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2021 VAT 2.565 rounds half-even to 2.56", "DE", "13.50", "2026-05-01", NULL,
      "13.50", "13.50", "0.00", "2.56", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2021 FR 20 %", "DE", "50.00", "2026-05-01", france,
      "50.00", "50.00", "0.00", "10.00", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2021 above 150: 12 % duty on 6109, carrier", "DE", "200.00", "2026-05-01", no_collector,
      "200.00", "200.00", "24.00", "42.56", CW_CHECKS_COLLECT_CARRIER, "66.56" },
    { "EU-2026 USD 100.00 at 1.16/EUR, flat duty", "DE", "100.00", "2026-11-28", usd,
      "86.21", "86.21", "3.00", "16.95", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2021 USD at the 2025-01-02 table", "DE", "100.00", "2026-05-01", usd,
      "96.89", "96.89", "0.00", "18.41", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2026 flat EUR 3 x 2 subheadings", "DE", "20.00", "2026-07-01", two_subheadings,
      "60.00", "60.00", "6.00", "12.54", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2026 149.99: flat EUR 3", "DE", "149.99", "2026-07-01", NULL,
      "149.99", "149.99", "3.00", "29.07", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2026 150.00: no relief, 12 %", "DE", "150.00", "2026-07-01", NULL,
      "150.00", "150.00", "18.00", "31.92", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "EU-2026 flat duty at the border without IOSS", "DE", "20.00", "2026-07-01", no_collector,
      "20.00", "20.00", "3.00", "4.37", CW_CHECKS_COLLECT_CARRIER, "7.37" },
    { "EU C2C gift 45.00: no duty, no VAT", "DE", "45.00", "2026-05-01", gift_c2c,
      "45.00", "45.00", "0.00", "0.00", CW_CHECKS_COLLECT_NONE, "0.00" },
    { "EU C2C gift 45.01: VAT", "DE", "45.01", "2026-05-01", gift_c2c,
      "45.01", "45.01", "0.00", "8.55", CW_CHECKS_COLLECT_CARRIER, "8.55" },
    { "US-2016 inside de minimis: nothing", "US", "500.00", "2025-08-28", NULL,
      "500.00", "500.00", "0.00", "0.00", CW_CHECKS_COLLECT_NONE, "0.00" },
    { "US-2016 800.01: 16.5 % duty", "US", "800.01", "2025-08-28", NULL,
      "800.01", "800.01", "132.00", "0.00", CW_CHECKS_COLLECT_CARRIER, "132.00" },
    { "US-2025 USD 100: 16.5 % duty by the carrier", "US", "100.00", "2025-08-29", NULL,
      "100.00", "100.00", "16.50", "0.00", CW_CHECKS_COLLECT_CARRIER, "16.50" },
    { "US-2025 gift 100.00 exempt", "US", "100.00", "2025-08-29", gift_c2c,
      "100.00", "100.00", "0.00", "0.00", CW_CHECKS_COLLECT_NONE, "0.00" },
    { "UK 100 with UK VAT: vendor", "GB", "100.00", "2026-05-01", NULL,
      "100.00", "100.00", "0.00", "20.00", CW_CHECKS_COLLECT_VENDOR, "0.00" },
    { "UK 200: duty and import VAT at the border", "GB", "200.00", "2026-05-01", NULL,
      "200.00", "200.00", "24.00", "44.80", CW_CHECKS_COLLECT_CARRIER, "68.80" },
    { "AU 500 with ABN: GST at sale", "AU", "500.00", "2026-05-01", NULL,
      "500.00", "500.00", "0.00", "50.00", CW_CHECKS_COLLECT_VENDOR, "0.00" },
    { "AU 1000.01: 5 % duty, GST at the border", "AU", "1000.01", "2026-05-01", NULL,
      "1000.01", "1000.01", "50.00", "105.00", CW_CHECKS_COLLECT_CARRIER, "155.00" },
    { "CA post 20.00: nothing", "CA", "20.00", "2026-05-01", NULL,
      "20.00", "20.00", "0.00", "0.00", CW_CHECKS_COLLECT_NONE, "0.00" },
    { "CA post 50: 18 % duty + 5 % GST, consumer", "CA", "50.00", "2026-05-01", NULL,
      "50.00", "50.00", "9.00", "2.95", CW_CHECKS_COLLECT_CONSUMER, "11.95" },
    { "CA courier from US 100: GST only", "CA", "100.00", "2026-05-01", air_from_us,
      "100.00", "100.00", "0.00", "5.00", CW_CHECKS_COLLECT_CONSUMER, "5.00" },
    { "CA courier from US 40.00: nothing", "CA", "40.00", "2026-05-01", air_from_us,
      "40.00", "40.00", "0.00", "0.00", CW_CHECKS_COLLECT_NONE, "0.00" },
    { "CN 1000: 9.1 % withheld by the platform", "CN", "1000.00", "2026-05-01", NULL,
      "1000.00", "1000.00", "0.00", "91.00", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
    { "CN without platform code: still the platform", "CN", "1000.00", "2026-05-01", no_collector,
      "1000.00", "1000.00", "0.00", "91.00", CW_CHECKS_COLLECT_PLATFORM, "0.00" },
};
/* clang-format on */

static int check_amount(const char *what, const char *expect, int64_t got, char *why, size_t n)
{
    char buf[48];

    if (ct_minor(expect) == got) {
        return 1;
    }
    cw_checks_money_format(buf, sizeof(buf), got, 2);
    (void)snprintf(why, n, "%s %s, expected %s", what, buf, expect);
    return 0;
}

static void test_revenue(void **state)
{
    char why[256];
    int failed = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const rev_case_t *k = &cases[i];
        cw_checks_consignment_t c;
        cw_checks_context_t x;
        cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));
        const cw_checks_revenue_t *rv;
        cw_error_t err;
        int ok;

        assert_non_null(a);
        ct_base(&c, k->dest, k->value);
        ct_ctx(&x, k->date, "platform-x");
        if (k->mut != NULL) {
            k->mut(&c);
        }
        assert_int_equal(cw_checks_run(a, rules, &c, &x, NULL, &err), 0);
        rv = &a->revenue;
        why[0] = '\0';
        ok = check_amount("intrinsic", k->intrinsic, rv->intrinsic_minor, why, sizeof(why))
             && check_amount("customs value", k->customs, rv->customs_value_minor, why, sizeof(why))
             && check_amount("duty", k->duty, rv->duty_minor, why, sizeof(why))
             && check_amount("tax", k->tax, rv->tax_minor, why, sizeof(why))
             && check_amount("due", k->due, rv->due_at_border_minor, why, sizeof(why));
        if (ok && rv->collection != k->collection) {
            (void)snprintf(why, sizeof(why), "collection %s, expected %s",
                           cw_checks_collection_name(rv->collection),
                           cw_checks_collection_name(k->collection));
            ok = 0;
        }
        if (ok && rv->due_at_border != (ct_minor(k->due) > 0)) {
            (void)snprintf(why, sizeof(why), "due_at_border flag wrong");
            ok = 0;
        }
        if (!ok) {
            print_error("FAIL %s (%s): %s\n", k->name, a->profile_id, why);
            failed++;
        }
        cw_checks_consignment_fini(&c);
        cw_free(a);
    }
    print_message("%zu revenue cases, %d failed\n", sizeof(cases) / sizeof(cases[0]), failed);
    assert_int_equal(failed, 0);
}

/* The FX rate and its table date are reported with the assessment. */
static void test_fx_reported(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_context_t x;
    cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));
    cw_error_t err;
    char date[16];

    (void)state;
    assert_non_null(a);
    ct_base(&c, "DE", "100.00");
    usd(&c);
    ct_ctx(&x, "2026-11-28", "p");
    assert_int_equal(cw_checks_run(a, rules, &c, &x, NULL, &err), 0);
    assert_int_equal(a->revenue.fx_rate_micro, 862069); /* 1 / 1.16, half-even */
    cw_checks_date_format(date, sizeof(date), a->revenue.fx_date);
    assert_string_equal(date, "2026-11-27");
    assert_string_equal(a->revenue.declared_currency, "USD");
    assert_int_equal(a->revenue.declared_minor, 10000);
    assert_string_equal(a->fact.currency, "EUR");
    assert_int_equal(a->fact.value_minor, 8621);
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* ==== Values that cannot be converted, out of range, negative; exact FX ==== */

/* Runs c on date (sender "platform-x", untrusted); the caller frees. */
static cw_checks_assessment_t *assess(const cw_checks_consignment_t *c, const char *date)
{
    cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));
    cw_checks_context_t x;
    cw_error_t err;

    assert_non_null(a);
    ct_ctx(&x, date, "platform-x");
    assert_int_equal(cw_checks_run(a, rules, c, &x, NULL, &err), 0);
    return a;
}

/* The finding with code in a has lane and its message contains each of
 * the NULL-terminated words. */
static void assert_finding(const cw_checks_assessment_t *a, const char *code, int lane, ...)
{
    const cw_checks_finding_t *f = ct_find(a, code);
    const char *w;
    va_list ap;

    if (f == NULL) {
        fail_msg("%s missing", code);
    }
    if ((int)f->lane != lane) {
        fail_msg("%s is %s: %s", code, cw_checks_lane_name(f->lane), f->message);
    }
    va_start(ap, lane);
    while ((w = va_arg(ap, const char *)) != NULL) {
        if (strstr(f->message, w) == NULL) {
            va_end(ap);
            fail_msg("%s message lacks \"%s\": %s", code, w, f->message);
        }
    }
    va_end(ap);
}

static void item_currency(cw_checks_consignment_t *c, size_t i, const char *cur)
{
    (void)cw_strlcpy(c->items[i].currency, cur, sizeof(c->items[i].currency));
}

static void doc_currency(cw_checks_consignment_t *c, const char *cur)
{
    (void)cw_strlcpy(c->currency, cur, sizeof(c->currency));
    item_currency(c, 0, cur);
}

/* Revenue says nothing was computed: no amount, never low value. */
/* The assessment as XML is valid against schemas/assessment.xsd, and its
 * Revenue/@computed is want (NULL: absent, the default true). */
static void assert_revenue_xml(const cw_checks_assessment_t *a, const char *want)
{
    char path[1024];
    xmlSchemaParserCtxt *p;
    xmlSchemaValidCtxt *v;
    xmlSchema *xsd;
    xmlNode *node = NULL;
    xmlNode *r;
    xmlChar *got;
    xmlDoc *doc = xmlNewDoc((const xmlChar *)"1.0");

    assert_non_null(doc);
    assert_int_equal(cw_checks_assessment_to_xml(&node, a, "t", doc, NULL), 0);
    xmlDocSetRootElement(doc, node);
    ct_path(path, sizeof(path), "schemas/assessment.xsd");
    p = xmlSchemaNewParserCtxt(path);
    xsd = p != NULL ? xmlSchemaParse(p) : NULL;
    xmlSchemaFreeParserCtxt(p);
    assert_non_null(xsd);
    v = xmlSchemaNewValidCtxt(xsd);
    assert_non_null(v);
    assert_int_equal(xmlSchemaValidateDoc(v, doc), 0);
    xmlSchemaFreeValidCtxt(v);
    xmlSchemaFree(xsd);
    for (r = node->children; r != NULL; r = r->next) {
        if (r->type == XML_ELEMENT_NODE && xmlStrcmp(r->name, (const xmlChar *)"Revenue") == 0) {
            break;
        }
    }
    assert_non_null(r);
    got = xmlGetProp(r, (const xmlChar *)"computed");
    if (want == NULL) {
        assert_null(got);
    } else {
        assert_non_null(got);
        assert_string_equal((const char *)got, want);
    }
    xmlFree(got);
    xmlFreeDoc(doc);
}

static void assert_not_computed(const cw_checks_assessment_t *a)
{
    const cw_checks_revenue_t *rv = &a->revenue;
    cw_buf_t b;

    assert_int_equal(rv->computed, 0);
    assert_int_equal(rv->low_value, 0);
    assert_int_equal(rv->duty_minor, 0);
    assert_int_equal(rv->tax_minor, 0);
    assert_true(a->lane != CW_CHECKS_LANE_GREEN);
    cw_buf_init(&b, 64 * 1024);
    assert_int_equal(cw_checks_assessment_text(&b, a), 0);
    assert_non_null(strstr(b.data, "revenue:     not computed"));
    cw_buf_fini(&b);
    assert_revenue_xml(a, "false");
}

/* SEK is ISO 4217 but has no rate in fx-rates.xml: the value is unknown,
 * never "EUR 0.00 within" the regime. */
static void test_no_fx_rate_not_low_value(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;

    (void)state;
    ct_base(&c, "DE", "5000.00");
    doc_currency(&c, "SEK");
    a = assess(&c, "2026-11-28");
    assert_finding(a, "THR-001", CW_CHECKS_LANE_YELLOW, "SEK", "2026-11-27",
                   "full declaration required", "Item[1]/LineValue", NULL);
    assert_string_equal(ct_find(a, "THR-001")->fields, "Item[1]/LineValue");
    assert_not_computed(a);
    assert_int_equal(a->revenue.collection, CW_CHECKS_COLLECT_CARRIER);
    assert_int_equal(a->revenue.due_at_border, 1);
    assert_null(ct_find(a, "TAX-001"));
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* One item in an unconvertible currency among convertible ones: the sum of
 * the others is not the value. */
static void test_no_fx_rate_one_item(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;

    (void)state;
    ct_base(&c, "DE", "20.00");
    ct_item_add(&c);
    item_currency(&c, 1, "SEK");
    a = assess(&c, "2026-05-01");
    assert_finding(a, "THR-001", CW_CHECKS_LANE_YELLOW, "Item[2]/LineValue in SEK", "2025-01-02",
                   NULL);
    assert_not_computed(a);
    /* the converted part is recorded as a floor */
    assert_int_equal(a->fact.value_minor, 2000);
    cw_checks_consignment_fini(&c);

    /* a line with no currency at all */
    ct_base(&c, "DE", "20.00");
    doc_currency(&c, "");
    cw_free(a);
    a = assess(&c, "2026-05-01");
    assert_finding(a, "THR-001", CW_CHECKS_LANE_YELLOW, "no currency", NULL);
    assert_not_computed(a);
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* CN: a value that cannot be converted cannot be checked against the
 * single-transaction limit. */
static void test_no_fx_rate_cn_limit(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;

    (void)state;
    ct_base(&c, "CN", "100000.00");
    doc_currency(&c, "SEK");
    a = assess(&c, "2026-05-01");
    assert_finding(a, "THR-001", CW_CHECKS_LANE_YELLOW, "SEK", NULL);
    assert_finding(a, "LIM-002", CW_CHECKS_LANE_YELLOW, "cannot be verified", NULL);
    assert_not_computed(a);
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* GoodsValue alone (no line value) in a currency without a rate. */
static void test_no_fx_rate_goods_value(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;

    (void)state;
    ct_base(&c, "DE", "5000.00");
    doc_currency(&c, "SEK");
    c.items[0].has_line_value = 0;
    c.items[0].has_unit_value = 0;
    a = assess(&c, "2026-11-28");
    assert_finding(a, "THR-001", CW_CHECKS_LANE_YELLOW, "GoodsValue in SEK", NULL);
    assert_not_computed(a);
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* Item i: Quantity qty_milli/1000 × UnitValue unit_minor, no LineValue. */
static void
item_product(cw_checks_consignment_t *c, size_t i, int64_t qty_milli, int64_t unit_minor)
{
    cw_checks_item_t *it = &c->items[i];

    it->has_quantity = 1;
    it->quantity_milli = qty_milli;
    it->has_unit_value = 1;
    it->unit_value_minor = unit_minor;
    it->has_line_value = 0;
    c->has_goods_value = 0;
    c->has_payment_amount = 0;
}

#define UNIT_MAX_MINOR ((int64_t)99999999999900LL) /* 999999999999.00 */

/* Out of range values: red VAL-001, never an abort, never low value. */
static void assert_out_of_range(const cw_checks_consignment_t *c)
{
    cw_checks_assessment_t *a = assess(c, "2026-05-01");

    assert_finding(a, "VAL-001", CW_CHECKS_LANE_RED, "out of range", NULL);
    assert_finding(a, "THR-001", CW_CHECKS_LANE_YELLOW, "out of range", NULL);
    assert_int_equal(a->lane, CW_CHECKS_LANE_RED);
    assert_not_computed(a);
    cw_free(a);
}

static void test_line_product_overflow(void **state)
{
    cw_checks_consignment_t c;

    (void)state;
    /* 100000 × 999999999999: the product is above INT64_MAX */
    ct_base(&c, "DE", "20.00");
    item_product(&c, 0, 100000000, UNIT_MAX_MINOR);
    assert_out_of_range(&c);
    /* 50000 × 999999999999: fits int64, beyond what a conversion takes */
    item_product(&c, 0, 50000000, UNIT_MAX_MINOR);
    assert_out_of_range(&c);
    cw_checks_consignment_fini(&c);
}

/* With a LineValue the value is known; VAL-001's own check of
 * Quantity × UnitValue must not overflow either. */
static void test_line_product_overflow_checked(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;

    (void)state;
    ct_base(&c, "DE", "20.00");
    item_product(&c, 0, 100000000, UNIT_MAX_MINOR);
    c.items[0].has_line_value = 1;
    c.items[0].line_value_minor = 100;
    a = assess(&c, "2026-05-01");
    assert_finding(a, "VAL-001", CW_CHECKS_LANE_RED, "Item[1]/LineValue", "out of range", NULL);
    assert_int_equal(a->revenue.computed, 1);
    assert_int_equal(a->revenue.intrinsic_minor, 100);
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

static void test_sum_overflow(void **state)
{
    cw_checks_consignment_t c;

    (void)state;
    /* ten items of 10000 × 999999999999 */
    ct_base(&c, "DE", "20.00");
    item_product(&c, 0, 10000000, UNIT_MAX_MINOR);
    for (int i = 1; i < 10; i++) {
        ct_item_add(&c);
    }
    c.has_goods_value = 0;
    c.has_payment_amount = 0;
    assert_out_of_range(&c);
    cw_checks_consignment_fini(&c);
    /* two lines each in range whose sum is not: 2 × 60 × 999999999999 */
    ct_base(&c, "DE", "20.00");
    item_product(&c, 0, 60000, UNIT_MAX_MINOR);
    ct_item_add(&c);
    c.has_goods_value = 0;
    c.has_payment_amount = 0;
    assert_out_of_range(&c);
    cw_checks_consignment_fini(&c);
}

/* Negative freight or insurance never lowers the customs value, VAT or duty. */
static void test_negative_freight(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;

    (void)state;
    ct_base(&c, "DE", "41.80");
    c.freight_minor = -4000;
    c.insurance_minor = -100;
    c.discount_minor = -50;
    ct_totals(&c);
    a = assess(&c, "2026-05-01");
    assert_int_equal(a->revenue.computed, 1);
    assert_int_equal(a->revenue.customs_value_minor, 4180);
    assert_int_equal(a->revenue.tax_minor, 794);
    assert_finding(a, "VAL-002", CW_CHECKS_LANE_YELLOW, "Freight", NULL);
    assert_string_equal(ct_find(a, "VAL-002")->fields, "Freight,Insurance,Discount");
    assert_int_equal(a->lane, CW_CHECKS_LANE_YELLOW);
    assert_revenue_xml(a, NULL);
    cw_checks_consignment_fini(&c);
    cw_free(a);

    /* a huge negative freight above the duty-free value: no negative duty */
    ct_base(&c, "DE", "200.00");
    c.freight_minor = -100000000;
    ct_totals(&c);
    a = assess(&c, "2026-05-01");
    assert_int_equal(a->revenue.customs_value_minor, 20000);
    assert_int_equal(a->revenue.duty_minor, 2400);
    assert_true(a->revenue.tax_minor > 0);
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* A gift of 500 and -460 is worth 500, not 40: no gift allowance. */
static void test_negative_line_gift(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;
    cw_checks_context_t x;
    cw_error_t err;

    (void)state;
    ct_base(&c, "DE", "500.00");
    c.content = CW_CHECKS_CONTENT_GIFT;
    c.platform.present = 0;
    c.order_number[0] = '\0';
    c.payment_reference[0] = '\0';
    memset(&c.tax_registration, 0, sizeof(c.tax_registration));
    ct_item_add(&c);
    ct_item_value(&c, 1, "1", "-460.00");
    c.has_payment_amount = 0; /* C2C: no payment */
    a = assess(&c, "2026-05-01");
    assert_int_equal(a->revenue.intrinsic_minor, 50000);
    assert_int_equal(a->revenue.low_value, 0);
    assert_true(a->revenue.duty_minor > 0);
    assert_true(a->revenue.tax_minor > 0);
    assert_finding(a, "VAL-002", CW_CHECKS_LANE_YELLOW, NULL);
    assert_non_null(strstr(ct_find(a, "VAL-002")->fields, "Item[2]/UnitValue"));
    assert_finding(a, "GFT-001", CW_CHECKS_LANE_YELLOW, "500.00", NULL);
    cw_free(a);

    /* a trusted sender does not skip it: the line was left out of the value */
    a = cw_calloc(1, sizeof(*a));
    assert_non_null(a);
    ct_ctx(&x, "2026-05-01", "platform-x");
    x.sender = "carrier-trusted";
    assert_int_equal(cw_checks_run(a, rules, &c, &x, NULL, &err), 0);
    assert_int_equal(a->trusted, 1);
    assert_finding(a, "VAL-002", CW_CHECKS_LANE_YELLOW, NULL);
    assert_non_null(strstr(ct_find(a, "VAL-002")->fields, "Item[2]/UnitValue"));
    assert_int_equal(a->lane, CW_CHECKS_LANE_YELLOW);
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* JPY 27076 at 180.50 JPY/EUR is EUR 150.0055: 150.01, above 150 (the
 * rate rounded to 0.005540 gave 150.00, inside, with IOSS allowed). */
static void test_fx_exact_cross_rate(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_assessment_t *a;

    (void)state;
    ct_base(&c, "DE", "20.00");
    doc_currency(&c, "JPY");
    c.currency_exponent = 0;
    c.items[0].unit_value_minor = 27076;
    c.items[0].line_value_minor = 27076;
    ct_totals(&c);
    a = assess(&c, "2026-11-28");
    assert_int_equal(a->revenue.intrinsic_minor, 15001);
    assert_int_equal(a->revenue.low_value, 0);
    assert_int_equal(a->revenue.fx_rate_micro, 5540); /* display only */
    assert_finding(a, "THR-001", CW_CHECKS_LANE_YELLOW, "150.01", NULL);
    assert_finding(a, "TAX-001", CW_CHECKS_LANE_RED, NULL);
    cw_checks_consignment_fini(&c);
    cw_free(a);
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
        cmocka_unit_test(test_revenue),
        cmocka_unit_test(test_fx_reported),
        cmocka_unit_test(test_no_fx_rate_not_low_value),
        cmocka_unit_test(test_no_fx_rate_one_item),
        cmocka_unit_test(test_no_fx_rate_cn_limit),
        cmocka_unit_test(test_no_fx_rate_goods_value),
        cmocka_unit_test(test_line_product_overflow),
        cmocka_unit_test(test_line_product_overflow_checked),
        cmocka_unit_test(test_sum_overflow),
        cmocka_unit_test(test_negative_freight),
        cmocka_unit_test(test_negative_line_gift),
        cmocka_unit_test(test_fx_exact_cross_rate),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
