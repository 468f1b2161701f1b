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
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
