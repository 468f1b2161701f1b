/*
 * checks/val.c: values.
 *   VAL-001  arithmetic: each line's Quantity × UnitValue = LineValue;
 *            Σ line values = GoodsValue; Payment/Amount = goods + freight +
 *            insurance + tax collected − discount. Tolerance: the larger of
 *            the profile's absolute tolerance (0.01 in the document
 *            currency by default) and its percentage (5 % for CN): red.
 *            A value or a sum beyond CW_CHECKS_AMOUNT_MAX (e.g. Quantity
 *            9999999 × UnitValue 999999999999) is reported here, red.
 *   VAL-002  zero price on a sale line, or a unit value outside the
 *            reference band of its HS heading (rules/duty-rates.xml):
 *            yellow (soft); a negative line of any content type, or a
 *            negative GoodsValue, Freight, Insurance or Discount: yellow
 *            (hard: revenue.c leaves it out of every base, so a trusted
 *            sender's review must see it).
 */
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

static int64_t abs64(int64_t v)
{
    return v < 0 ? -v : v;
}

/* Allowed difference for an expected amount in a currency of exponent exp. */
static int64_t tolerance(const cw_checks_profile_t *p, int64_t expected, int exp)
{
    int64_t abs_minor = cw_checks__scale4_to_minor(p->tolerance_abs4, exp);
    int64_t rel = cw_checks__ratio_sat((__int128)abs64(expected) * p->tolerance_bp, 10000);

    return rel > abs_minor ? rel : abs_minor;
}

static void mismatch(cw_checks_run_t *run,
                     const char *field,
                     const char *what,
                     int64_t expected,
                     int64_t found,
                     int exp)
{
    char e[48], f[48];

    cw_checks_money_format(e, sizeof(e), expected, exp);
    cw_checks_money_format(f, sizeof(f), found, exp);
    cw_checks__finding(run, "VAL-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, field, NULL,
                       "%s: %s is %s, expected %s", field, what, f, e);
}

/* A value (or a sum) beyond CW_CHECKS_AMOUNT_MAX: the arithmetic cannot hold. */
static void out_of_range(cw_checks_run_t *run, const char *field)
{
    cw_checks__finding(run, "VAL-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, field, NULL,
                       "%s: the value is out of range (more than 999999999999.9999)", field);
}

/* Σ line values in the consignment currency into *sum_out; *all_out: every
 * line has a value in that currency and the sum is in range. */
static void lines_check(cw_checks_run_t *run, int64_t *sum_out, int *all_out)
{
    const cw_checks_consignment_t *c = run->c;
    char field[48];

    *sum_out = 0;
    *all_out = c->items_len > 0;
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_item_t *it = &c->items[i];
        const cw_checks_line_t *ln = &run->lines[i];
        int64_t expected = 0;
        (void)snprintf(field, sizeof(field), "Item[%d]/LineValue", it->line);
        if (ln->out_of_range) {
            out_of_range(run, field);
        }
        if (!ln->has_value || ln->out_of_range || strcmp(it->currency, c->currency) != 0) {
            *all_out = 0;
            continue;
        }
        if (cw_checks__amount_add(sum_out, ln->value_minor) < 0) {
            out_of_range(run, "Item/LineValue");
            *all_out = 0;
        }
        if (!it->has_line_value || !it->has_unit_value || !it->has_quantity) {
            continue;
        }
        if (cw_checks__line_value(&expected, it->unit_value_minor, it->quantity_milli) < 0) {
            out_of_range(run, field);
        } else if (abs64(expected - it->line_value_minor)
                   > tolerance(run->profile, expected, ln->exponent)) {
            mismatch(run, field, "quantity × unit value", expected, it->line_value_minor,
                     ln->exponent);
        }
    }
}

static void totals_check(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    int exp = run->doc_exponent;
    int64_t sum, goods, paid;
    int all;

    if (run->out_of_range) {
        out_of_range(run, run->range_field);
    }
    lines_check(run, &sum, &all);
    if (!all) {
        return; /* a line without value, in another currency or out of range: no total */
    }
    if (c->has_goods_value
        && abs64(sum - c->goods_value_minor) > tolerance(run->profile, sum, exp)) {
        mismatch(run, "GoodsValue", "the sum of the line values", c->goods_value_minor, sum, exp);
        /* message reads "GoodsValue: ... is <sum>, expected <goods>" */
    }
    goods = c->has_goods_value ? c->goods_value_minor : sum;
    if (!c->has_payment_amount) {
        return;
    }
    /* Each term is at most 10^18 (the reader's bound): no overflow. */
    paid = goods + c->freight_minor + c->insurance_minor
           + (c->has_tax_collected ? c->tax_collected_minor : 0) - c->discount_minor;
    if (abs64(paid - c->payment_amount_minor) > tolerance(run->profile, paid, exp)) {
        mismatch(run, "Payment/Amount", "the amount paid", paid, c->payment_amount_minor, exp);
    }
}

/* Negative header amounts: never a base (revenue.c clamps them at 0). */
static void negatives_check(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    const struct {
        const char *field;
        int64_t v;
    } amounts[] = { { "GoodsValue", c->has_goods_value ? c->goods_value_minor : 0 },
                    { "Freight", c->freight_minor },
                    { "Insurance", c->insurance_minor },
                    { "Discount", c->discount_minor } };

    for (size_t i = 0; i < CW_ARRAY_SIZE(amounts); i++) {
        if (amounts[i].v < 0) {
            cw_checks__finding(run, "VAL-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD,
                               amounts[i].field, NULL, "%s is negative", amounts[i].field);
        }
    }
}

static void band_check(cw_checks_run_t *run, const cw_checks_item_t *it, size_t i)
{
    const cw_checks_profile_t *p = run->profile;
    const cw_checks_duty_t *d = cw_checks__duty_find(run->rules, p->tariff, it->hs_code);
    const cw_checks_line_t *ln = &run->lines[i];
    int64_t unit, lo, hi;
    char field[48], src[160], u[48], l[48], h[48];

    if (d == NULL || !d->has_band || !ln->converted || ln->dest_minor <= 0 || !it->has_quantity
        || it->quantity_milli <= 0) {
        return;
    }
    unit = cw_checks__ratio_sat((__int128)ln->dest_minor * 1000, it->quantity_milli);
    lo = cw_checks__scale4_to_minor(d->unit_min4, p->exponent);
    hi = cw_checks__scale4_to_minor(d->unit_max4, p->exponent);
    if (unit >= lo && unit <= hi) {
        return;
    }
    (void)snprintf(field, sizeof(field), "Item[%d]/UnitValue", it->line);
    cw_checks__prov_format(src, sizeof(src), &run->rules->duty_prov);
    cw_checks__money_str(u, sizeof(u), unit, p);
    cw_checks__money_str(l, sizeof(l), lo, p);
    cw_checks__money_str(h, sizeof(h), hi, p);
    cw_checks__finding(run, "VAL-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, field, src,
                       "%s: %s per unit is outside the band %s to %s for heading %.4s", field, u, l,
                       h, it->hs_code);
}

/* VAL-002 for one line: negative (any content type; hard, since the line is
 * left out of every base) or zero on a sale (soft). Returns 1 when found. */
static int price_check(cw_checks_run_t *run, const cw_checks_item_t *it, const cw_checks_line_t *ln)
{
    const cw_checks_consignment_t *c = run->c;
    int sale = c->content == CW_CHECKS_CONTENT_SALE || c->content == CW_CHECKS_CONTENT_UNKNOWN;
    char field[48];

    (void)snprintf(field, sizeof(field), "Item[%d]/UnitValue", it->line);
    if ((it->has_unit_value && it->unit_value_minor < 0)
        || (ln->has_value && ln->value_minor < 0)) {
        cw_checks__finding(run, "VAL-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, field, NULL,
                           "%s: negative price (not counted in the value)", field);
        return 1;
    }
    if (sale
        && ((it->has_unit_value && it->unit_value_minor == 0)
            || (ln->has_value && ln->value_minor == 0))) {
        cw_checks__finding(run, "VAL-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, field, NULL,
                           "%s: zero price on a sale line", field);
        return 1;
    }
    return 0;
}

int cw_checks__val(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;

    totals_check(run);
    negatives_check(run);
    for (size_t i = 0; i < c->items_len; i++) {
        if (!price_check(run, &c->items[i], &run->lines[i])) {
            band_check(run, &c->items[i], i);
        }
    }
    return 0;
}
