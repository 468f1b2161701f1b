/*
 * checks/val.c: values.
 *   VAL-001  arithmetic: each line's Quantity × UnitValue = LineValue;
 *            Σ line values = GoodsValue; Payment/Amount = goods + freight +
 *            insurance + tax collected − discount. Tolerance: the larger of
 *            the profile's absolute tolerance (0.01 in the document
 *            currency by default) and its percentage (5 % for CN): red.
 *   VAL-002  zero or negative price on a sale line, or a unit value outside
 *            the reference band of its HS heading (rules/duty-rates.xml):
 *            yellow (soft).
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
    int64_t rel = cw_checks_money_percent(abs64(expected), p->tolerance_bp);

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

static void lines_check(cw_checks_run_t *run, int64_t *sum_out, int *all_out)
{
    const cw_checks_consignment_t *c = run->c;
    char field[48];

    *sum_out = 0;
    *all_out = c->items_len > 0;
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_item_t *it = &c->items[i];
        const cw_checks_line_t *ln = &run->lines[i];
        if (!ln->has_value || strcmp(it->currency, c->currency) != 0) {
            *all_out = 0;
            continue;
        }
        *sum_out += ln->value_minor;
        if (it->has_line_value && it->has_unit_value && it->has_quantity) {
            int64_t expected =
                cw_checks__div_half_even((__int128)it->unit_value_minor * it->quantity_milli, 1000);
            if (abs64(expected - it->line_value_minor)
                > tolerance(run->profile, expected, ln->exponent)) {
                (void)snprintf(field, sizeof(field), "Item[%d]/LineValue", it->line);
                mismatch(run, field, "quantity × unit value", expected, it->line_value_minor,
                         ln->exponent);
            }
        }
    }
}

static void totals_check(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    int exp = run->doc_exponent;
    int64_t sum, goods, paid;
    int all;

    lines_check(run, &sum, &all);
    if (!all) {
        return; /* a line without value or in another currency: no total */
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
    paid = goods + c->freight_minor + c->insurance_minor
           + (c->has_tax_collected ? c->tax_collected_minor : 0) - c->discount_minor;
    if (abs64(paid - c->payment_amount_minor) > tolerance(run->profile, paid, exp)) {
        mismatch(run, "Payment/Amount", "the amount paid", paid, c->payment_amount_minor, exp);
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
    unit = cw_checks__div_half_even((__int128)ln->dest_minor * 1000, it->quantity_milli);
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

int cw_checks__val(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    char field[48];

    totals_check(run);
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_item_t *it = &c->items[i];
        int sale = c->content == CW_CHECKS_CONTENT_SALE || c->content == CW_CHECKS_CONTENT_UNKNOWN;
        if (sale
            && ((it->has_unit_value && it->unit_value_minor <= 0)
                || (run->lines[i].has_value && run->lines[i].value_minor <= 0))) {
            (void)snprintf(field, sizeof(field), "Item[%d]/UnitValue", it->line);
            cw_checks__finding(run, "VAL-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, field, NULL,
                               "%s: zero or negative price on a sale line", field);
            continue;
        }
        band_check(run, it, i);
    }
    return 0;
}
