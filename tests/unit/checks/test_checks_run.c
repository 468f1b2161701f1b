/*
 * Every check of CHECKS.md (except MAT and RET) against every profile it
 * applies to: one table row per case, each naming the destination, the
 * reference date, how the clean baseline is changed, and the expected
 * finding (or its absence) and overall lane. Boundaries sit exactly at a
 * threshold and one minor unit above.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "checks.h"
#include "support.h"

#define FACTS_MAX 8

/* The history a case builds (copied into cw_checks_history_t). */
typedef struct hist {
    cw_checks_fact_t facts[FACTS_MAX]; /* prior facts */
    size_t len;                        /* used entries */
    int has_year_total;                /* year_total is set (CN ledger) */
    int64_t year_total;                /* buyer's total this year, minor units */
} hist_t;

typedef void (*mut_fn)(cw_checks_consignment_t *c, cw_checks_context_t *x, hist_t *h);

/* Expected lane of a finding: ABSENT means the code must not be there. */
#define ABSENT (-1)
#define ANY    (-2)
#define GREEN  CW_CHECKS_LANE_GREEN
#define YELLOW CW_CHECKS_LANE_YELLOW
#define RED    CW_CHECKS_LANE_RED

typedef struct check_case {
    const char *name;  /* what the row shows */
    const char *dest;  /* DestinationCountry of the baseline */
    const char *value; /* item value in the destination currency */
    const char *date;  /* reference date */
    mut_fn mut;        /* changes to the baseline, or NULL */
    const char *code;  /* finding looked at, or NULL */
    int lane;          /* its expected lane, or ABSENT */
    int overall;       /* expected assessment lane, or ANY */
} check_case_t;

static cw_checks_rules_t *rules;

/* A prior fact like the current consignment's, with another id. */
static cw_checks_fact_t *prior(hist_t *h,
                               const cw_checks_consignment_t *c,
                               const char *cid,
                               const char *value,
                               int days_ago,
                               const cw_checks_context_t *x)
{
    cw_checks_fact_t *f = &h->facts[h->len++];

    memset(f, 0, sizeof(*f));
    assert_int_equal(cw_checks_buyer_key(f->buyer_key, &c->buyer), 0);
    assert_int_equal(cw_checks_seller_key(f->seller_key, &c->seller), 0);
    (void)cw_strlcpy(f->consignment_id, cid, sizeof(f->consignment_id));
    (void)snprintf(f->transport_doc, sizeof(f->transport_doc), "TD-%s", cid);
    (void)snprintf(f->order_number, sizeof(f->order_number), "O-%s", cid);
    (void)snprintf(f->business_key, sizeof(f->business_key), "other-%s", cid);
    (void)cw_strlcpy(f->currency, c->currency, sizeof(f->currency));
    f->value_minor = ct_minor(value);
    f->date = x->reference_date - days_ago;
    return f;
}

/* ==== Mutators ==== */

#define MUT(n) static void n(cw_checks_consignment_t *c, cw_checks_context_t *x, hist_t *h)
#define UNUSED_ALL \
    (void)c;       \
    (void)x;       \
    (void)h

MUT(schema_failed)
{
    UNUSED_ALL;
    x->schema_failed = 1;
    x->schema_error = "line 3: element Foo not expected";
}
MUT(dup_other_content)
{
    cw_checks_fact_t *f;
    UNUSED_ALL;
    f = prior(h, c, "C-0", "10.00", 1, x);
    assert_int_equal(cw_checks_business_key(f->business_key, x->sender, c), 0);
    (void)cw_strlcpy(f->content_digest, "0000", sizeof(f->content_digest));
}
MUT(dup_same_content)
{
    cw_checks_fact_t *f;
    UNUSED_ALL;
    f = prior(h, c, "C-0", "10.00", 1, x);
    assert_int_equal(cw_checks_business_key(f->business_key, x->sender, c), 0);
    assert_int_equal(cw_checks_content_digest(f->content_digest, c), 0);
}
MUT(dup_amendment)
{
    dup_other_content(c, x, h);
    c->amendment = 1;
}
MUT(no_buyer_name)
{
    UNUSED_ALL;
    c->buyer.name[0] = '\0';
}
MUT(no_buyer_phone)
{
    UNUSED_ALL;
    c->buyer.phone[0] = '\0';
}
MUT(no_origin)
{
    UNUSED_ALL;
    c->items[0].origin[0] = '\0';
}
MUT(no_hs)
{
    UNUSED_ALL;
    c->items[0].hs_code[0] = '\0';
}
MUT(bad_currency)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->currency, "XXY", sizeof(c->currency));
    (void)cw_strlcpy(c->items[0].currency, "XXY", sizeof(c->items[0].currency));
}
MUT(bad_country)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->dispatch_country, "ZZ", sizeof(c->dispatch_country));
}
MUT(hs4)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].hs_code, "6109", sizeof(c->items[0].hs_code));
}
MUT(hs8)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].hs_code, "61091000", sizeof(c->items[0].hs_code));
}
MUT(hs6)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].hs_code, "610910", sizeof(c->items[0].hs_code));
}
MUT(hs_chapter99)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].hs_code, "9999000000", sizeof(c->items[0].hs_code));
}
MUT(desc_gift)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "Gift", sizeof(c->items[0].description));
}
MUT(desc_gift_ss)
{
    desc_gift(c, x, h);
    c->filing = CW_CHECKS_FILING_SAFETY_SECURITY;
}
MUT(desc_as_ordered)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "As ordered", sizeof(c->items[0].description));
}
MUT(desc_one_word)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "Shirts", sizeof(c->items[0].description));
}
MUT(desc_parts_for_car)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "parts for", sizeof(c->items[0].description));
}
MUT(desc_shirt_hs_phone)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].hs_code, "8517130000", sizeof(c->items[0].hs_code));
}
MUT(desc_unknown_word_hs_phone)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "Blue ceramic vase", sizeof(c->items[0].description));
    (void)cw_strlcpy(c->items[0].hs_code, "8517130000", sizeof(c->items[0].hs_code));
}
MUT(line_off_1ct)
{
    UNUSED_ALL;
    ct_item_value(c, 0, "2", "20.00");
    c->items[0].line_value_minor += 1;
    ct_totals(c);
}
MUT(line_off_2ct)
{
    UNUSED_ALL;
    ct_item_value(c, 0, "2", "20.00");
    c->items[0].line_value_minor += 2;
    ct_totals(c);
}
MUT(goods_off)
{
    UNUSED_ALL;
    c->goods_value_minor += 100;
}
MUT(paid_off)
{
    UNUSED_ALL;
    c->payment_amount_minor -= 500;
}
MUT(paid_with_freight_tax_discount)
{
    UNUSED_ALL;
    c->freight_minor = 500;
    c->discount_minor = 200;
    c->has_tax_collected = 1;
    c->tax_collected_minor = 380;
    ct_totals(c);
}
MUT(paid_off_4pct)
{
    UNUSED_ALL;
    c->payment_amount_minor -= c->payment_amount_minor * 4 / 100;
}
MUT(paid_off_6pct)
{
    UNUSED_ALL;
    c->payment_amount_minor -= c->payment_amount_minor * 6 / 100;
}
MUT(zero_price)
{
    UNUSED_ALL;
    ct_item_value(c, 0, "1", "0.00");
}
MUT(zero_price_gift)
{
    zero_price(c, x, h);
    c->content = CW_CHECKS_CONTENT_GIFT;
    c->platform.present = 0;
    c->order_number[0] = '\0';
    c->payment_reference[0] = '\0';
    c->has_payment_amount = 0;
}
MUT(usd_item)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->currency, "USD", sizeof(c->currency));
    (void)cw_strlcpy(c->items[0].currency, "USD", sizeof(c->items[0].currency));
}
MUT(freight_20)
{
    UNUSED_ALL;
    c->freight_minor = 2000;
    c->insurance_minor = 500;
    ct_totals(c);
}
MUT(mode_air_from_us)
{
    UNUSED_ALL;
    c->mode = CW_CHECKS_MODE_AIR;
    (void)cw_strlcpy(c->dispatch_country, "US", sizeof(c->dispatch_country));
}
MUT(mode_air_from_cn)
{
    UNUSED_ALL;
    c->mode = CW_CHECKS_MODE_AIR;
}
MUT(wine)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "Red wine Shiraz 750 ml",
                     sizeof(c->items[0].description));
    (void)cw_strlcpy(c->items[0].hs_code, "2204210000", sizeof(c->items[0].hs_code));
}
MUT(cluster_two_priors)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "145.00", 3, x);
    (void)prior(h, c, "C-b", "142.50", 20, x);
}
MUT(cluster_one_prior)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "145.00", 3, x);
}
MUT(cluster_prior_too_old)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "145.00", 3, x);
    (void)prior(h, c, "C-b", "145.00", 30, x);
}
MUT(cluster_prior_too_low)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "145.00", 3, x);
    (void)prior(h, c, "C-b", "142.49", 4, x);
}
MUT(split_same_day)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "100.00", 0, x);
}
MUT(split_yesterday)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "100.00", 1, x);
}
MUT(split_same_order)
{
    cw_checks_fact_t *f;
    UNUSED_ALL;
    f = prior(h, c, "C-a", "100.00", 5, x);
    (void)cw_strlcpy(f->order_number, c->order_number, sizeof(f->order_number));
    (void)cw_strlcpy(f->buyer_key, "another-buyer", sizeof(f->buyer_key));
}
MUT(split_resend)
{
    cw_checks_fact_t *f;
    UNUSED_ALL;
    f = prior(h, c, "C-a", "100.00", 0, x);
    (void)cw_strlcpy(f->transport_doc, c->transport_doc, sizeof(f->transport_doc));
}
MUT(split_exactly_at)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "90.00", 0, x);
}
MUT(split_us_same_day)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "500.00", 0, x);
}
MUT(year_total_25000)
{
    UNUSED_ALL;
    h->has_year_total = 1;
    h->year_total = ct_minor("25000.00");
}
MUT(year_facts)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "20000.00", 60, x);
    (void)prior(h, c, "C-b", "5000.00", 30, x);
}
MUT(year_facts_last_year)
{
    UNUSED_ALL;
    (void)prior(h, c, "C-a", "20000.00", 200, x);
    (void)prior(h, c, "C-b", "5000.00", 30, x);
}
MUT(ioss_intermediary)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->tax_registration.id, "IN2760000001", sizeof(c->tax_registration.id));
}
MUT(ioss_short)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->tax_registration.id, "IM27600001", sizeof(c->tax_registration.id));
}
MUT(ioss_bad_state)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->tax_registration.id, "IM9990000001", sizeof(c->tax_registration.id));
    (void)cw_strlcpy(c->platform.regs[0].id, "IM9990000001", sizeof(c->platform.regs[0].id));
}
MUT(no_collector)
{
    UNUSED_ALL;
    memset(&c->tax_registration, 0, sizeof(c->tax_registration));
}
MUT(collector_unbound)
{
    UNUSED_ALL;
    c->platform.regs_len = 0;
    c->seller.regs_len = 0;
}
MUT(abn_bad_checksum)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->tax_registration.id, "51824753557", sizeof(c->tax_registration.id));
    (void)cw_strlcpy(c->seller.regs[0].id, "51824753557", sizeof(c->seller.regs[0].id));
}
MUT(gross_below_net)
{
    UNUSED_ALL;
    c->gross_weight_g = 399;
}
MUT(gross_equals_net)
{
    UNUSED_ALL;
    c->gross_weight_g = 400;
}
MUT(heavy_cheap)
{
    UNUSED_ALL;
    c->gross_weight_g = 100000;
    c->items[0].net_weight_g = 99000;
}
MUT(origin_ru)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].origin, "RU", sizeof(c->items[0].origin));
}
MUT(battery_post)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "Lithium-ion battery pack for e-bike",
                     sizeof(c->items[0].description));
    (void)cw_strlcpy(c->items[0].hs_code, "8507600000", sizeof(c->items[0].hs_code));
}
MUT(battery_air)
{
    battery_post(c, x, h);
    c->mode = CW_CHECKS_MODE_AIR;
}
MUT(battery_road)
{
    battery_post(c, x, h);
    c->mode = CW_CHECKS_MODE_ROAD;
}
MUT(medicine)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "Ibuprofen tablets 200 mg",
                     sizeof(c->items[0].description));
    (void)cw_strlcpy(c->items[0].hs_code, "3004900000", sizeof(c->items[0].hs_code));
}
MUT(cosmetics)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->items[0].description, "Face moisturising cream 50 ml",
                     sizeof(c->items[0].description));
    (void)cw_strlcpy(c->items[0].hs_code, "3304990000", sizeof(c->items[0].hs_code));
}
MUT(gift_platform)
{
    UNUSED_ALL;
    c->content = CW_CHECKS_CONTENT_GIFT;
}
MUT(gift_c2c)
{
    UNUSED_ALL;
    c->content = CW_CHECKS_CONTENT_GIFT;
    c->platform.present = 0;
    c->order_number[0] = '\0';
    c->payment_reference[0] = '\0';
    c->has_payment_amount = 0;
    memset(&c->tax_registration, 0, sizeof(c->tax_registration));
}
MUT(name_private)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->buyer.name, "Private", sizeof(c->buyer.name));
    c->consignee = c->buyer;
}
MUT(name_na)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->seller.name, "N/A", sizeof(c->seller.name));
}
MUT(phone_local)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->buyer.phone, "030 1234567", sizeof(c->buyer.phone));
    c->consignee = c->buyer;
}
MUT(phone_dashes)
{
    UNUSED_ALL;
    (void)cw_strlcpy(c->buyer.phone, "+49-30-1234567", sizeof(c->buyer.phone));
    c->consignee = c->buyer;
}
MUT(trusted_sender)
{
    UNUSED_ALL;
    x->sender = "carrier-trusted";
}
MUT(trusted_soft)
{
    trusted_sender(c, x, h);
    phone_local(c, x, h);
}
MUT(trusted_red)
{
    trusted_sender(c, x, h);
    battery_post(c, x, h);
}
MUT(trusted_hard_yellow)
{
    trusted_sender(c, x, h);
    medicine(c, x, h);
}
MUT(expired_trusted)
{
    UNUSED_ALL;
    x->sender = "carrier-expired";
    phone_local(c, x, h);
}

/* clang-format off */
static const check_case_t cases[] = {
    /* baselines: every profile, clean consignment */
    { "EU-2021 baseline green", "DE", "20.00", "2026-05-01", NULL, "THR-001", GREEN, GREEN },
    { "EU-2026 baseline green", "DE", "20.00", "2026-07-01", NULL, "THR-001", GREEN, GREEN },
    { "US-2016 baseline green", "US", "20.00", "2025-08-28", NULL, "THR-001", GREEN, GREEN },
    { "US-2025 no de minimis", "US", "20.00", "2025-08-29", NULL, "THR-001", YELLOW, YELLOW },
    { "UK baseline green", "GB", "20.00", "2026-05-01", NULL, "THR-001", GREEN, GREEN },
    { "AU baseline green", "AU", "20.00", "2026-05-01", NULL, "THR-001", GREEN, GREEN },
    { "CA baseline green (post, at CAD 20)", "CA", "20.00", "2026-05-01", NULL, "THR-001", GREEN, GREEN },
    { "CN baseline green", "CN", "20.00", "2026-05-01", NULL, "THR-001", GREEN, GREEN },
    /* SYN-001 */
    { "SYN-001 schema failed", "DE", "20.00", "2026-05-01", schema_failed, "SYN-001", RED, RED },
    { "SYN-001 schema ok", "DE", "20.00", "2026-05-01", NULL, "SYN-001", ABSENT, GREEN },
    /* DUP-002 */
    { "DUP-002 other content", "DE", "20.00", "2026-05-01", dup_other_content, "DUP-002", RED, RED },
    { "DUP-002 same content resent", "DE", "20.00", "2026-05-01", dup_same_content, "DUP-002", ABSENT, GREEN },
    { "DUP-002 amendment", "DE", "20.00", "2026-05-01", dup_amendment, "DUP-002", ABSENT, GREEN },
    /* DAT-001 */
    { "DAT-001 EU buyer name yellow", "DE", "20.00", "2026-05-01", no_buyer_name, "DAT-001", YELLOW, YELLOW },
    { "DAT-001 CN buyer phone red (strict)", "CN", "20.00", "2026-05-01", no_buyer_phone, "DAT-001", RED, RED },
    { "DAT-001 EU buyer phone not mandatory", "DE", "20.00", "2026-05-01", no_buyer_phone, "DAT-001", ABSENT, GREEN },
    { "DAT-001 US-2025 origin mandatory", "US", "20.00", "2025-08-29", no_origin, "DAT-001", YELLOW, YELLOW },
    { "DAT-001 US-2016 origin not mandatory", "US", "20.00", "2025-08-28", no_origin, "DAT-001", ABSENT, ANY },
    { "DAT-001 UK hs code", "GB", "20.00", "2026-05-01", no_hs, "DAT-001", YELLOW, YELLOW },
    { "DAT-001 AU hs code not mandatory", "AU", "20.00", "2026-05-01", no_hs, "DAT-001", ABSENT, GREEN },
    { "DAT-001 CA origin", "CA", "20.00", "2026-05-01", no_origin, "DAT-001", YELLOW, YELLOW },
    /* DAT-002 */
    { "DAT-002 currency XXY", "DE", "20.00", "2026-05-01", bad_currency, "DAT-002", RED, RED },
    { "DAT-002 country ZZ", "DE", "20.00", "2026-05-01", bad_country, "DAT-002", RED, RED },
    { "DAT-002 HS 4 digits", "DE", "20.00", "2026-05-01", hs4, "DAT-002", RED, RED },
    { "DAT-002 HS 6 digits fine in EU", "DE", "20.00", "2026-05-01", hs6, "DAT-002", ABSENT, GREEN },
    { "DAT-002 HS 8 digits short for US-2025", "US", "20.00", "2025-08-29", hs8, "DAT-002", RED, RED },
    { "DAT-002 HS 8 digits short for CN", "CN", "20.00", "2026-05-01", hs8, "DAT-002", RED, RED },
    { "DAT-002 HS chapter 99", "DE", "20.00", "2026-05-01", hs_chapter99, "DAT-002", RED, RED },
    /* DSC-001 */
    { "DSC-001 'Gift' EU import yellow", "DE", "20.00", "2026-05-01", desc_gift, "DSC-001", YELLOW, YELLOW },
    { "DSC-001 'Gift' EU safety-security red", "DE", "20.00", "2026-05-01", desc_gift_ss, "DSC-001", RED, RED },
    { "DSC-001 'Gift' US safety-security yellow", "US", "20.00", "2025-08-28", desc_gift_ss, "DSC-001", YELLOW, YELLOW },
    { "DSC-001 'As ordered'", "GB", "20.00", "2026-05-01", desc_as_ordered, "DSC-001", YELLOW, YELLOW },
    { "DSC-001 one word", "AU", "20.00", "2026-05-01", desc_one_word, "DSC-001", YELLOW, YELLOW },
    { "DSC-001 stop word plus filler", "CA", "20.00", "2026-05-01", desc_parts_for_car, "DSC-001", YELLOW, YELLOW },
    { "DSC-001 good description", "DE", "20.00", "2026-05-01", NULL, "DSC-001", ABSENT, GREEN },
    /* DSC-002 */
    { "DSC-002 T-shirt under chapter 85", "DE", "20.00", "2026-05-01", desc_shirt_hs_phone, "DSC-002", YELLOW, ANY },
    { "DSC-002 no keyword, no finding", "DE", "20.00", "2026-05-01", desc_unknown_word_hs_phone, "DSC-002", ABSENT, ANY },
    { "DSC-002 consistent", "CN", "20.00", "2026-05-01", NULL, "DSC-002", ABSENT, GREEN },
    /* VAL-001 */
    { "VAL-001 line off by 0.01 tolerated", "DE", "20.00", "2026-05-01", line_off_1ct, "VAL-001", ABSENT, GREEN },
    { "VAL-001 line off by 0.02", "DE", "20.00", "2026-05-01", line_off_2ct, "VAL-001", RED, RED },
    { "VAL-001 goods value off", "GB", "20.00", "2026-05-01", goods_off, "VAL-001", RED, RED },
    { "VAL-001 paid off", "AU", "20.00", "2026-05-01", paid_off, "VAL-001", RED, RED },
    { "VAL-001 paid = goods+freight+tax-discount", "DE", "20.00", "2026-05-01", paid_with_freight_tax_discount, "VAL-001", ABSENT, GREEN },
    { "VAL-001 CN 4 % off within 5 %", "CN", "1000.00", "2026-05-01", paid_off_4pct, "VAL-001", ABSENT, GREEN },
    { "VAL-001 CN 6 % off", "CN", "1000.00", "2026-05-01", paid_off_6pct, "VAL-001", RED, RED },
    { "VAL-001 EU 4 % off (no 5 % outside CN)", "DE", "100.00", "2026-05-01", paid_off_4pct, "VAL-001", RED, RED },
    /* VAL-002 */
    { "VAL-002 zero price on a sale", "DE", "20.00", "2026-05-01", zero_price, "VAL-002", YELLOW, ANY },
    { "VAL-002 zero price on a gift", "DE", "20.00", "2026-05-01", zero_price_gift, "VAL-002", ABSENT, ANY },
    { "VAL-002 unit below band (0.99 < 1.00)", "DE", "0.99", "2026-05-01", NULL, "VAL-002", YELLOW, ANY },
    { "VAL-002 unit at band floor 1.00", "DE", "1.00", "2026-05-01", NULL, "VAL-002", ABSENT, ANY },
    { "VAL-002 unit above band (400.01)", "DE", "400.01", "2026-05-01", NULL, "VAL-002", YELLOW, ANY },
    { "VAL-002 unit at band ceiling 400.00", "DE", "400.00", "2026-05-01", NULL, "VAL-002", ABSENT, ANY },
    /* THR-001: exactly at the threshold and one cent above, per profile */
    { "THR-001 EU-2021 150.00 inside", "DE", "150.00", "2026-05-01", NULL, "THR-001", GREEN, ANY },
    { "THR-001 EU-2021 150.01 above", "DE", "150.01", "2026-05-01", NULL, "THR-001", YELLOW, ANY },
    { "THR-001 EU-2026 150.00 inside", "DE", "150.00", "2026-07-01", NULL, "THR-001", GREEN, ANY },
    { "THR-001 EU-2026 150.01 above", "DE", "150.01", "2026-07-01", NULL, "THR-001", YELLOW, ANY },
    { "THR-001 EU freight excluded", "DE", "150.00", "2026-05-01", freight_20, "THR-001", GREEN, ANY },
    { "THR-001 EU USD 174.00 = EUR 150.00", "DE", "174.00", "2026-11-28", usd_item, "THR-001", GREEN, ANY },
    { "THR-001 EU USD 174.02 = EUR 150.02", "DE", "174.02", "2026-11-28", usd_item, "THR-001", YELLOW, ANY },
    { "THR-001 US-2016 800.00 inside", "US", "800.00", "2025-08-28", NULL, "THR-001", GREEN, ANY },
    { "THR-001 US-2016 800.01 above", "US", "800.01", "2025-08-28", NULL, "THR-001", YELLOW, ANY },
    { "THR-001 US-2025 1.00 still above", "US", "1.00", "2025-08-29", NULL, "THR-001", YELLOW, ANY },
    { "THR-001 UK 135.00 inside", "GB", "135.00", "2026-05-01", NULL, "THR-001", GREEN, ANY },
    { "THR-001 UK 135.01 above", "GB", "135.01", "2026-05-01", NULL, "THR-001", YELLOW, ANY },
    { "THR-001 AU 1000.00 inside", "AU", "1000.00", "2026-05-01", NULL, "THR-001", GREEN, ANY },
    { "THR-001 AU 1000.01 above", "AU", "1000.01", "2026-05-01", NULL, "THR-001", YELLOW, ANY },
    { "THR-001 AU wine excluded", "AU", "30.00", "2026-05-01", wine, "THR-001", YELLOW, ANY },
    { "THR-001 CA post 20.01 above", "CA", "20.01", "2026-05-01", NULL, "THR-001", YELLOW, ANY },
    { "THR-001 CA courier from US 150.00 inside", "CA", "150.00", "2026-05-01", mode_air_from_us, "THR-001", GREEN, ANY },
    { "THR-001 CA courier from US 150.01 above", "CA", "150.01", "2026-05-01", mode_air_from_us, "THR-001", YELLOW, ANY },
    { "THR-001 CA courier from CN 20.01 above", "CA", "20.01", "2026-05-01", mode_air_from_cn, "THR-001", YELLOW, ANY },
    { "THR-001 CN 5000.00 inside", "CN", "5000.00", "2026-05-01", NULL, "THR-001", GREEN, ANY },
    { "THR-001 no profile for JP: nothing said", "JP", "20.00", "2026-05-01", NULL, "THR-001", ABSENT, RED },
    { "DAT-002 no profile for JP", "JP", "20.00", "2026-05-01", NULL, "DAT-002", RED, RED },
    { "DAT-002 no EU profile after 2028-06-30", "DE", "20.00", "2028-07-01", NULL, "DAT-002", RED, RED },
    { "THR-001 CN 5000.01 above", "CN", "5000.01", "2026-05-01", NULL, "THR-001", YELLOW, ANY },
    /* THR-002 */
    { "THR-002 third near-threshold consignment", "DE", "146.00", "2026-05-01", cluster_two_priors, "THR-002", YELLOW, YELLOW },
    { "THR-002 only two", "DE", "146.00", "2026-05-01", cluster_one_prior, "THR-002", ABSENT, GREEN },
    { "THR-002 prior outside 30 days", "DE", "146.00", "2026-05-01", cluster_prior_too_old, "THR-002", ABSENT, GREEN },
    { "THR-002 prior 142.49 below the margin", "DE", "146.00", "2026-05-01", cluster_prior_too_low, "THR-002", ABSENT, GREEN },
    { "THR-002 current below the margin", "DE", "142.49", "2026-05-01", cluster_two_priors, "THR-002", ABSENT, GREEN },
    { "THR-002 UK near 135", "GB", "130.00", "2026-05-01", cluster_two_priors, "THR-002", ABSENT, GREEN },
    /* SPL-001 */
    { "SPL-001 same buyer same day", "DE", "60.00", "2026-05-01", split_same_day, "SPL-001", YELLOW, YELLOW },
    { "SPL-001 same buyer yesterday", "DE", "60.00", "2026-05-01", split_yesterday, "SPL-001", ABSENT, GREEN },
    { "SPL-001 same order other transport doc", "DE", "60.00", "2026-05-01", split_same_order, "SPL-001", RED, RED },
    { "SPL-001 resend is not a split", "DE", "60.00", "2026-05-01", split_resend, "SPL-001", ABSENT, GREEN },
    { "SPL-001 together exactly 150.00", "DE", "60.00", "2026-05-01", split_exactly_at, "SPL-001", ABSENT, GREEN },
    { "SPL-001 together 150.01", "DE", "60.01", "2026-05-01", split_exactly_at, "SPL-001", YELLOW, YELLOW },
    { "SPL-001 US-2016 one person one day", "US", "400.00", "2025-08-28", split_us_same_day, "SPL-001", YELLOW, YELLOW },
    { "SPL-001 US-2025 nothing to split", "US", "400.00", "2025-08-29", split_us_same_day, "SPL-001", ABSENT, YELLOW },
    /* LIM-001 / LIM-002 */
    { "LIM-001 ledger 25000 + 1000.01", "CN", "1000.01", "2026-05-01", year_total_25000, "LIM-001", RED, RED },
    { "LIM-001 ledger 25000 + 1000.00", "CN", "1000.00", "2026-05-01", year_total_25000, "LIM-001", ABSENT, GREEN },
    { "LIM-001 facts this year", "CN", "1000.01", "2026-05-01", year_facts, "LIM-001", RED, RED },
    { "LIM-001 facts of last year ignored", "CN", "1000.01", "2026-05-01", year_facts_last_year, "LIM-001", ABSENT, GREEN },
    { "LIM-001 not a CN profile", "DE", "100.00", "2026-05-01", year_total_25000, "LIM-001", ABSENT, GREEN },
    { "LIM-002 CN 5000.01", "CN", "5000.01", "2026-05-01", NULL, "LIM-002", YELLOW, YELLOW },
    { "LIM-002 CN 5000.00", "CN", "5000.00", "2026-05-01", NULL, "LIM-002", ABSENT, ANY },
    /* TAX-001 */
    { "TAX-001 intermediary number", "DE", "20.00", "2026-05-01", ioss_intermediary, "TAX-001", RED, RED },
    { "TAX-001 IOSS too short", "DE", "20.00", "2026-05-01", ioss_short, "TAX-001", RED, RED },
    { "TAX-001 IOSS digits 3-5 not a member state", "DE", "20.00", "2026-05-01", ioss_bad_state, "TAX-001", RED, RED },
    { "TAX-001 IOSS above EUR 150", "DE", "150.01", "2026-05-01", NULL, "TAX-001", RED, RED },
    { "TAX-001 IOSS at EUR 150.00", "DE", "150.00", "2026-05-01", NULL, "TAX-001", ABSENT, GREEN },
    { "TAX-001 EU-2026 IOSS at 150.00", "DE", "150.00", "2026-07-01", NULL, "TAX-001", ABSENT, GREEN },
    /* TAX-002 */
    { "TAX-002 EU no IOSS", "DE", "20.00", "2026-05-01", no_collector, "TAX-002", YELLOW, YELLOW },
    { "TAX-002 EU IOSS not bound", "DE", "20.00", "2026-05-01", collector_unbound, "TAX-002", YELLOW, YELLOW },
    { "TAX-002 UK no VAT id", "GB", "20.00", "2026-05-01", no_collector, "TAX-002", YELLOW, YELLOW },
    { "TAX-002 UK above 135: border anyway", "GB", "135.01", "2026-05-01", no_collector, "TAX-002", ABSENT, YELLOW },
    { "TAX-002 AU ABN checksum", "AU", "20.00", "2026-05-01", abn_bad_checksum, "TAX-002", YELLOW, YELLOW },
    { "TAX-002 AU ABN bound", "AU", "20.00", "2026-05-01", NULL, "TAX-002", ABSENT, GREEN },
    { "TAX-002 CN no platform code", "CN", "20.00", "2026-05-01", no_collector, "TAX-002", YELLOW, YELLOW },
    { "TAX-002 US: no collection at sale", "US", "20.00", "2025-08-29", no_collector, "TAX-002", ABSENT, YELLOW },
    /* WGT-001 */
    { "WGT-001 gross below net", "DE", "20.00", "2026-05-01", gross_below_net, "WGT-001", YELLOW, YELLOW },
    { "WGT-001 gross equals net", "DE", "20.00", "2026-05-01", gross_equals_net, "WGT-001", ABSENT, GREEN },
    { "WGT-001 EUR 20 for 100 kg", "DE", "20.00", "2026-05-01", heavy_cheap, "WGT-001", YELLOW, YELLOW },
    /* ORG-001 */
    { "ORG-001 origin missing", "DE", "20.00", "2026-05-01", no_origin, "ORG-001", YELLOW, YELLOW },
    { "ORG-001 EU special measures RU", "DE", "20.00", "2026-05-01", origin_ru, "ORG-001", YELLOW, YELLOW },
    { "ORG-001 CN has no special measures", "CN", "20.00", "2026-05-01", origin_ru, "ORG-001", ABSENT, GREEN },
    /* PRH-001 / PRH-002 */
    { "PRH-001 lithium battery by post", "DE", "20.00", "2026-05-01", battery_post, "PRH-001", RED, RED },
    { "PRH-001 lithium battery by air: not prohibited", "DE", "20.00", "2026-05-01", battery_air, "PRH-001", ABSENT, YELLOW },
    { "PRH-002 lithium battery by air: restricted", "DE", "20.00", "2026-05-01", battery_air, "PRH-002", YELLOW, YELLOW },
    { "PRH-002 lithium battery by road: neither", "DE", "20.00", "2026-05-01", battery_road, "PRH-002", ABSENT, GREEN },
    { "PRH-002 medicine", "GB", "20.00", "2026-05-01", medicine, "PRH-002", YELLOW, YELLOW },
    { "PRH-002 cosmetics to CN", "CN", "200.00", "2026-05-01", cosmetics, "PRH-002", YELLOW, YELLOW },
    { "PRH-002 cosmetics to DE", "DE", "20.00", "2026-05-01", cosmetics, "PRH-002", ABSENT, GREEN },
    /* GFT-001 */
    { "GFT-001 gift on a platform sale", "DE", "20.00", "2026-05-01", gift_platform, "GFT-001", YELLOW, YELLOW },
    { "GFT-001 C2C gift 45.00", "DE", "45.00", "2026-05-01", gift_c2c, "GFT-001", ABSENT, GREEN },
    { "GFT-001 C2C gift 45.01", "DE", "45.01", "2026-05-01", gift_c2c, "GFT-001", YELLOW, YELLOW },
    { "GFT-001 UK gift 39.01", "GB", "39.01", "2026-05-01", gift_c2c, "GFT-001", YELLOW, YELLOW },
    { "GFT-001 US gift 100.00", "US", "100.00", "2025-08-29", gift_c2c, "GFT-001", ABSENT, YELLOW },
    /* PTY-001 */
    { "PTY-001 buyer 'Private'", "DE", "20.00", "2026-05-01", name_private, "PTY-001", YELLOW, YELLOW },
    { "PTY-001 seller 'N/A'", "GB", "20.00", "2026-05-01", name_na, "PTY-001", YELLOW, YELLOW },
    { "PTY-001 local phone", "DE", "20.00", "2026-05-01", phone_local, "PTY-001", YELLOW, YELLOW },
    { "PTY-001 phone with dashes", "AU", "20.00", "2026-05-01", phone_dashes, "PTY-001", YELLOW, YELLOW },
    { "PTY-001 clean parties", "DE", "20.00", "2026-05-01", NULL, "PTY-001", ABSENT, GREEN },
    /* TRU-001 and lane aggregation */
    { "TRU-001 trusted sender", "DE", "20.00", "2026-05-01", trusted_sender, "TRU-001", GREEN, GREEN },
    { "TRU-001 skips soft yellow", "DE", "20.00", "2026-05-01", trusted_soft, "PTY-001", ABSENT, GREEN },
    { "TRU-001 red still wins", "DE", "20.00", "2026-05-01", trusted_red, "PRH-001", RED, RED },
    { "TRU-001 hard yellow stays", "DE", "20.00", "2026-05-01", trusted_hard_yellow, "PRH-002", YELLOW, YELLOW },
    { "TRU-001 above threshold stays yellow", "DE", "150.01", "2026-05-01", trusted_sender, "THR-001", YELLOW, RED },
    { "TRU-001 expired operator", "DE", "20.00", "2026-05-01", expired_trusted, "PTY-001", YELLOW, YELLOW },
    { "TRU-001 untrusted sender", "DE", "20.00", "2026-05-01", phone_local, "TRU-001", ABSENT, YELLOW },
};
/* clang-format on */

/*
 * Runs case k with its prior facts as rows (totals 0), or as the store
 * gives them (totals 1): each fact counted into the totals by
 * cw_checks_history_add under the consignment's own history query, and
 * kept as a row only when that says the checks read it as one.
 */
static int run_case(const check_case_t *k, int totals, char *why, size_t why_size)
{
    cw_checks_consignment_t c;
    cw_checks_context_t x;
    cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));
    cw_checks_history_t hist;
    hist_t h;
    cw_error_t err;
    const cw_checks_finding_t *f;
    int ok = 1;

    assert_non_null(a);
    memset(&h, 0, sizeof(h));
    ct_base(&c, k->dest, k->value);
    ct_ctx(&x, k->date, "platform-x");
    if (k->mut != NULL) {
        k->mut(&c, &x, &h);
    }
    memset(&hist, 0, sizeof(hist));
    hist.facts = h.facts;
    hist.facts_len = h.len;
    hist.has_year_total = h.has_year_total;
    hist.buyer_year_total_minor = h.year_total;
    if (totals) {
        cw_checks_history_query_t q;
        size_t kept = 0;

        hist.has_totals = 1;
        if (cw_checks_history_query_make(&q, rules, &c, &x) == 0) {
            for (size_t i = 0; i < h.len; i++) {
                /* Without a year total LIM-001 still sums the rows. */
                if (cw_checks_history_add(&hist, &q, &h.facts[i]) || !hist.has_year_total) {
                    h.facts[kept++] = h.facts[i];
                }
            }
        }
        hist.facts_len = kept;
    }
    assert_int_equal(cw_checks_run(a, rules, &c, &x, &hist, &err), 0);
    f = k->code != NULL ? ct_find(a, k->code) : NULL;
    if (k->code != NULL && k->lane == ABSENT && f != NULL) {
        (void)snprintf(why, why_size, "%s present (%s): %s", k->code, cw_checks_lane_name(f->lane),
                       f->message);
        ok = 0;
    } else if (k->code != NULL && k->lane != ABSENT && f == NULL) {
        (void)snprintf(why, why_size, "%s missing", k->code);
        ok = 0;
    } else if (k->code != NULL && k->lane != ABSENT && (int)f->lane != k->lane) {
        (void)snprintf(why, why_size, "%s is %s: %s", k->code, cw_checks_lane_name(f->lane),
                       f->message);
        ok = 0;
    } else if (k->overall != ANY && (int)a->lane != k->overall) {
        size_t n = (size_t)snprintf(why, why_size, "lane %s;", cw_checks_lane_name(a->lane));
        for (size_t i = 0; i < a->findings_len && n < why_size; i++) {
            n += (size_t)snprintf(why + n, why_size - n, " %s(%s): %s;", a->findings[i].code,
                                  cw_checks_lane_name(a->findings[i].lane), a->findings[i].message);
        }
        ok = 0;
    }
    cw_checks_consignment_fini(&c);
    cw_free(a);
    return ok;
}

static void test_every_case(void **state)
{
    char why[2048];
    int failed = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int totals = 0; totals < 2; totals++) {
            if (!run_case(&cases[i], totals, why, sizeof(why))) {
                print_error("FAIL %s (%s): %s\n", cases[i].name, totals ? "totals" : "rows", why);
                failed++;
            }
        }
    }
    print_message("%zu cases, %d failed\n", sizeof(cases) / sizeof(cases[0]), failed);
    assert_int_equal(failed, 0);
}

/*
 * An earlier item of the same manifest, counted by cw_checks_history_add,
 * joins the buyer's year total from the ledger (LIM-001, CN): 24,000 in
 * the ledger, 2,000 earlier in the manifest and 1,000.01 now is over the
 * 26,000 limit; the ledger alone is not, and neither is a fact of another
 * destination, another buyer or last year.
 */
static void test_history_add_counts_the_year(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_context_t x;
    cw_checks_history_query_t q;
    cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));
    cw_error_t err;
    hist_t h;

    (void)state;
    assert_non_null(a);
    ct_base(&c, "CN", "1000.01");
    ct_ctx(&x, "2026-05-01", "platform-x");
    assert_int_equal(cw_checks_history_query_make(&q, rules, &c, &x), 0);
    for (int variant = 0; variant < 5; variant++) {
        cw_checks_history_t hist;
        cw_checks_fact_t *f;

        memset(&h, 0, sizeof(h));
        f = prior(&h, &c, "C-earlier", "2000.00", 10, &x);
        (void)cw_strlcpy(f->destination, "CN", sizeof(f->destination));
        if (variant == 2) {
            (void)cw_strlcpy(f->destination, "DE", sizeof(f->destination));
        } else if (variant == 3) {
            f->buyer_key[0] = 'x';
        } else if (variant == 4) {
            f->date = q.year_start - 1;
        }
        memset(&hist, 0, sizeof(hist));
        hist.has_year_total = 1;
        hist.buyer_year_total_minor = ct_minor("24000.00");
        hist.has_totals = 1;
        if (variant != 1) {
            (void)cw_checks_history_add(&hist, &q, f);
        }
        assert_int_equal(cw_checks_run(a, rules, &c, &x, &hist, &err), 0);
        if (variant == 0) {
            assert_int_equal(hist.buyer_year_total_minor, ct_minor("26000.00"));
            assert_non_null(ct_find(a, "LIM-001"));
        } else {
            assert_null(ct_find(a, "LIM-001"));
        }
    }
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

/* ==== cw_checks_recent_t against cw_checks_history_add ==== */

static uint64_t rnd_state = 0x9e3779b97f4a7c15u;

static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned)(rnd_state % n);
}

/* One of n short names, "" when empty is allowed and drawn. */
static void rnd_name(char *out, size_t size, const char *prefix, unsigned n, int empty)
{
    unsigned k = rnd(n + (empty ? 1 : 0));

    if (k == n) {
        out[0] = '\0';
    } else {
        (void)snprintf(out, size, "%s%u", prefix, k);
    }
}

typedef struct rows_seen {
    const cw_checks_fact_t *f[400];
    size_t len;
} rows_seen_t;

static int row_seen(void *arg, const cw_checks_fact_t *f)
{
    rows_seen_t *rows = arg;

    if (rows->len == sizeof(rows->f) / sizeof(rows->f[0])) {
        return -1;
    }
    rows->f[rows->len++] = f;
    return 0;
}

/*
 * The interned counting gives what counting each fact with
 * cw_checks_history_add gives, for every prefix of 300 random facts and
 * random queries: names from small sets so that they match often, dates
 * across every window's edges, a query string no fact holds (b3, s3),
 * empty transport documents and order numbers (which match nothing), and
 * unique consignment ids so that the name table grows several times.
 */
static void test_recent_counts_as_history_add(void **state)
{
    enum { N = 300, QUERIES = 6 };
    cw_checks_fact_t *facts = cw_calloc(N, sizeof(*facts));
    cw_checks_recent_t *r = NULL;
    size_t rows_total = 0, counted = 0;

    (void)state;
    assert_non_null(facts);
    assert_int_equal(cw_checks_recent_new(&r), 0);
    for (size_t n = 0; n < N; n++) {
        cw_checks_fact_t *f = &facts[n];

        for (int k = 0; k < QUERIES; k++) {
            cw_checks_history_query_t q;
            cw_checks_history_t want, got;
            rows_seen_t want_rows = { .len = 0 }, got_rows = { .len = 0 };

            memset(&q, 0, sizeof(q));
            rnd_name(q.buyer_key, sizeof(q.buyer_key), "b", 4, 0);
            rnd_name(q.seller_key, sizeof(q.seller_key), "s", 4, 0);
            rnd_name(q.business_key, sizeof(q.business_key), "k", 5, 0);
            rnd_name(q.order_number, sizeof(q.order_number), "o", 3, 1);
            rnd_name(q.consignment_id, sizeof(q.consignment_id), "c", 6, 0);
            rnd_name(q.transport_doc, sizeof(q.transport_doc), "t", 3, 1);
            (void)cw_strlcpy(q.currency, rnd(2) ? "EUR" : "CNY", sizeof(q.currency));
            (void)cw_strlcpy(q.destination, rnd(2) ? "FR" : "CN", sizeof(q.destination));
            q.until_date = 110 + (int32_t)rnd(20);
            q.split_since_date = 100 + (int32_t)rnd(20);
            q.cluster_since_date = 100 + (int32_t)rnd(20);
            q.year_start = 95 + (int32_t)rnd(20);
            q.bands_len = rnd(4);
            for (size_t b = 0; b < q.bands_len; b++) {
                q.bands[b].lo = rnd(600);
                q.bands[b].hi = q.bands[b].lo + rnd(600);
            }
            memset(&want, 0, sizeof(want));
            want.has_year_total = (int)rnd(2);
            want.buyer_year_total_minor = 5;
            got = want;
            for (size_t i = 0; i < n; i++) {
                if (cw_checks_history_add(&want, &q, &facts[i])) {
                    assert_int_equal(row_seen(&want_rows, &facts[i]), 0);
                }
            }
            assert_int_equal(cw_checks_recent_count(r, &q, &got, row_seen, &got_rows), 0);
            assert_int_equal(got.buyer_count, want.buyer_count);
            assert_int_equal(got.buyer_total_minor, want.buyer_total_minor);
            assert_int_equal(got.buyer_year_total_minor, want.buyer_year_total_minor);
            assert_memory_equal(got.band_count, want.band_count, sizeof(want.band_count));
            assert_int_equal(got_rows.len, want_rows.len);
            assert_memory_equal(got_rows.f, want_rows.f, want_rows.len * sizeof(want_rows.f[0]));
            rows_total += got_rows.len;
            counted += (size_t)got.buyer_count;
        }
        rnd_name(f->buyer_key, sizeof(f->buyer_key), "b", 3, 0);
        rnd_name(f->seller_key, sizeof(f->seller_key), "s", 3, 0);
        rnd_name(f->business_key, sizeof(f->business_key), "k", 5, 0);
        rnd_name(f->order_number, sizeof(f->order_number), "o", 3, 1);
        rnd_name(f->transport_doc, sizeof(f->transport_doc), "t", 3, 1);
        if (rnd(3) == 0) {
            rnd_name(f->consignment_id, sizeof(f->consignment_id), "c", 6, 0);
        } else {
            (void)snprintf(f->consignment_id, sizeof(f->consignment_id), "u%zu", n);
        }
        (void)cw_strlcpy(f->currency, rnd(2) ? "EUR" : "CNY", sizeof(f->currency));
        (void)cw_strlcpy(f->destination,
                         rnd(3) == 0 ? "DE"
                         : rnd(2)    ? "FR"
                                     : "CN",
                         sizeof(f->destination));
        f->date = 98 + (int32_t)rnd(34);
        f->value_minor = rnd(1000);
        assert_int_equal(cw_checks_recent_add(r, f), 0);
        assert_int_equal(cw_checks_recent_len(r), n + 1);
    }
    /* The comparison saw matches of both kinds, not only zeros. */
    assert_true(rows_total > 1000);
    assert_true(counted > 1000);
    cw_checks_recent_free(r);
    cw_free(facts);
}

/* Every code of CHECKS.md in scope appears in at least one case that
 * expects it, so a check that never fires cannot pass unnoticed. */
static void test_every_code_covered(void **state)
{
    static const char *const codes[] = { "SYN-001", "DUP-002", "DAT-001", "DAT-002", "DSC-001",
                                         "DSC-002", "VAL-001", "VAL-002", "THR-001", "THR-002",
                                         "SPL-001", "LIM-001", "LIM-002", "TAX-001", "TAX-002",
                                         "WGT-001", "ORG-001", "PRH-001", "PRH-002", "GFT-001",
                                         "PTY-001", "TRU-001" };

    (void)state;
    for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++) {
        int fires = 0, quiet = 0;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            if (cases[i].code != NULL && strcmp(cases[i].code, codes[k]) == 0) {
                fires |= cases[i].lane != ABSENT;
                quiet |= cases[i].lane == ABSENT;
            }
        }
        if (!fires || !quiet) {
            fail_msg("%s lacks a %s case", codes[k], fires ? "non-triggering" : "triggering");
        }
    }
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
        cmocka_unit_test(test_every_case),
        cmocka_unit_test(test_every_code_covered),
        cmocka_unit_test(test_history_add_counts_the_year),
        cmocka_unit_test(test_recent_counts_as_history_add),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
