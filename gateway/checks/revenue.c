/*
 * checks/revenue.c: values, FX, low-value tier, duty, tax and the collection
 * model, computed once per run before the check families read them.
 *
 * - Line value: LineValue, else Quantity × UnitValue (half-even), range-
 *   checked (CW_CHECKS_AMOUNT_MAX; beyond it VAL-001 is red).
 * - Intrinsic value: Σ positive line values converted to the profile
 *   currency at the exact cross rate of the FX table (one conversion per
 *   line, rounded half-even once); GoodsValue only when no line has a
 *   value. Negative lines, freight and insurance never lower a base
 *   (VAL-002). Freight and insurance are never part of it.
 * - A value that cannot be converted (no currency, no FX rate) or is out
 *   of range leaves everything uncomputed (revenue.computed 0): never low
 *   value, THR-001 yellow, collection by the profile's fallback.
 * - Customs value (duty base): intrinsic + freight + insurance for a CIF
 *   profile, intrinsic for FOB.
 * - Duty: 0 for a gift within the allowance (excise chapters excepted), the flat amount per
 * distinct 6-digit subheading below flat-below (EU 2026), 0 up to the tier's duty-free value, else
 * ad valorem per item (freight and insurance apportioned to items by value for CIF).
 * - Tax: (customs value + duty) × rate, unless within the tier's tax-free
 *   value or a tax-free gift.
 */
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

/* The first tier whose mode and dispatch filters match. */
static const cw_checks_tier_t *tier_select(const cw_checks_profile_t *p,
                                           const cw_checks_consignment_t *c)
{
    for (size_t i = 0; i < p->tiers_len; i++) {
        const cw_checks_tier_t *t = &p->tiers[i];
        if (t->modes != 0 && (t->modes & cw_checks__mode_bit(c->mode)) == 0) {
            continue;
        }
        if (t->dispatch.len > 0 && !cw_checks__codes2_has(&t->dispatch, c->dispatch_country)) {
            continue;
        }
        return t;
    }
    return NULL;
}

/* Notes the first value that cannot be converted (THR-001 names it). */
static void no_fx_note(cw_checks_run_t *run, const char *currency, const char *field, int32_t date)
{
    if (run->no_fx) {
        return;
    }
    run->no_fx = 1;
    (void)cw_strlcpy(run->no_fx_currency, currency, sizeof(run->no_fx_currency));
    (void)cw_strlcpy(run->no_fx_field, field, sizeof(run->no_fx_field));
    run->no_fx_date = date;
}

/* Notes the first header amount or total beyond CW_CHECKS_AMOUNT_MAX (VAL-001). */
static void range_note(cw_checks_run_t *run, const char *field)
{
    if (!run->out_of_range) {
        (void)cw_strlcpy(run->range_field, field, sizeof(run->range_field));
    }
    run->out_of_range = 1;
}

/* The line value in the item currency: LineValue, else Quantity × UnitValue. */
static void line_value(cw_checks_line_t *ln, const cw_checks_item_t *it)
{
    ln->exponent = cw_checks_currency_exponent(it->currency);
    if (it->has_line_value) {
        ln->value_minor = it->line_value_minor;
        ln->has_value = 1;
        ln->out_of_range = it->line_value_minor > CW_CHECKS_AMOUNT_MAX
                           || it->line_value_minor < -CW_CHECKS_AMOUNT_MAX;
    } else if (it->has_unit_value && it->has_quantity) {
        ln->has_value = 1;
        ln->out_of_range =
            cw_checks__line_value(&ln->value_minor, it->unit_value_minor, it->quantity_milli) < 0;
    }
}

/*
 * Line values in the item currency and in the profile currency; the
 * intrinsic value is the sum of the positive converted lines (a negative
 * line never lowers it: VAL-002 reports it). A valued line that cannot be
 * converted (no currency, no FX rate) or is out of range leaves the value
 * unknown (no_fx, out_of_range); *any_out says whether any line has a value.
 */
static void lines_compute(cw_checks_run_t *run, int64_t *intrinsic_out, int *any_out)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    int64_t sum = 0;

    *any_out = 0;
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_item_t *it = &c->items[i];
        cw_checks_line_t *ln = &run->lines[i];
        cw_checks_fx_t fx = { .date = run->ctx->reference_date };
        char field[48];

        line_value(ln, it);
        if (!ln->has_value) {
            continue;
        }
        *any_out = 1;
        if (ln->out_of_range) {
            continue;
        }
        if (it->currency[0] == '\0'
            || cw_checks__fx_find(&fx, run->rules, it->currency, p->currency,
                                  run->ctx->reference_date)
                   < 0) {
            ln->no_fx = 1;
            (void)snprintf(field, sizeof(field), "Item[%d]/LineValue", it->line);
            no_fx_note(run, it->currency, field, fx.date);
            continue;
        }
        if (cw_checks__fx_convert(&ln->dest_minor, ln->value_minor, ln->exponent, &fx, p->exponent)
            < 0) {
            ln->out_of_range = 1;
            continue;
        }
        ln->converted = 1;
        if (ln->dest_minor > 0 && cw_checks__amount_add(&sum, ln->dest_minor) < 0) {
            range_note(run, "Item/LineValue");
        }
    }
    *intrinsic_out = sum;
}

/* 1 when every value needed was converted and is in range. */
static int value_known(const cw_checks_run_t *run)
{
    if (run->no_fx || run->out_of_range) {
        return 0;
    }
    for (size_t i = 0; i < run->c->items_len; i++) {
        if (run->lines[i].out_of_range) {
            return 0;
        }
    }
    return 1;
}

/* Σ per item of (value + apportioned freight/insurance) × the heading rate. */
static int64_t duty_ad_valorem(cw_checks_run_t *run, int64_t intrinsic, int64_t fi)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    int64_t duty = 0, fi_left = fi;
    size_t last = 0;

    /* Only positive lines carry value (and freight): a negative line is
     * no base (VAL-002), so no base is ever negative. */
    for (size_t i = 0; i < c->items_len; i++) {
        last = run->lines[i].converted && run->lines[i].dest_minor > 0 ? i : last;
    }
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_duty_t *d;
        int64_t base, share = 0;
        if (!run->lines[i].converted || run->lines[i].dest_minor <= 0) {
            continue;
        }
        if (intrinsic > 0 && fi != 0) {
            share = i == last ? fi_left
                              : cw_checks__div_half_even((__int128)fi * run->lines[i].dest_minor,
                                                         intrinsic);
            fi_left -= share;
        }
        base = run->lines[i].dest_minor + share;
        d = cw_checks__duty_find(run->rules, p->tariff, c->items[i].hs_code);
        duty += cw_checks_money_percent(base, d != NULL ? d->bp : p->duty_default_bp);
    }
    if (intrinsic == 0 && fi != 0) {
        duty += cw_checks_money_percent(fi, p->duty_default_bp);
    }
    return duty;
}

/* Distinct 6-digit subheadings; an item without one counts on its own. */
static int64_t subheadings(const cw_checks_consignment_t *c)
{
    int64_t n = 0;

    for (size_t i = 0; i < c->items_len; i++) {
        const char *hs = c->items[i].hs_code;
        int seen = 0;
        if (strlen(hs) >= 6) {
            for (size_t j = 0; j < i && !seen; j++) {
                seen = strlen(c->items[j].hs_code) >= 6 && memcmp(c->items[j].hs_code, hs, 6) == 0;
            }
        }
        n += seen ? 0 : 1;
    }
    return n;
}

static int32_t tax_rate(const cw_checks_profile_t *p, const char *country)
{
    for (size_t i = 0; i < p->tax_rates_len; i++) {
        if (strcmp(p->tax_rates[i].country, country) == 0) {
            return p->tax_rates[i].bp;
        }
    }
    return p->tax_bp;
}

/* Who collects: a usable registration makes it the vendor or platform. */
static void collection_decide(cw_checks_run_t *run, int64_t intrinsic)
{
    static const struct {
        const char *scheme;
        unsigned bit;
    } bits[] = { { "IOSS", CW_CHECKS_SCHEME_IOSS },
                 { "UKVAT", CW_CHECKS_SCHEME_UKVAT },
                 { "ABN", CW_CHECKS_SCHEME_ABN },
                 { "ARN", CW_CHECKS_SCHEME_ARN },
                 { "CNEBP", CW_CHECKS_SCHEME_CNEBP } };
    const cw_checks_profile_t *p = run->profile;
    const cw_checks_registration_t *reg = &run->c->tax_registration;
    cw_checks_revenue_t *rv = &run->out->revenue;
    unsigned bit = 0;
    int bound = 0, at_sale;

    for (size_t i = 0; i < CW_ARRAY_SIZE(bits); i++) {
        bit = strcmp(reg->scheme, bits[i].scheme) == 0 ? bits[i].bit : bit;
    }
    if (bit != 0 && (p->schemes & bit) != 0
        && cw_checks__registration_wellformed(reg->scheme, reg->id)
        && (!p->has_collector_max || intrinsic <= p->collector_max_minor) && !run->excluded) {
        bound = cw_checks__registration_bound(run->c, reg);
    }
    run->collector_ok = bound != 0;
    if (rv->duty_minor == 0 && rv->tax_minor == 0) {
        rv->collection = CW_CHECKS_COLLECT_NONE;
    } else if (bound != 0) {
        rv->collection = bound == 1 ? CW_CHECKS_COLLECT_VENDOR : CW_CHECKS_COLLECT_PLATFORM;
        (void)cw_strlcpy(rv->collector_id, reg->id, sizeof(rv->collector_id));
    } else {
        rv->collection = p->fallback;
    }
    at_sale =
        rv->collection == CW_CHECKS_COLLECT_VENDOR || rv->collection == CW_CHECKS_COLLECT_PLATFORM;
    rv->due_at_border_minor =
        (at_sale ? 0 : rv->tax_minor) + (at_sale && p->collects_duty ? 0 : rv->duty_minor);
    rv->due_at_border = rv->due_at_border_minor > 0;
}

static void excluded_find(cw_checks_run_t *run)
{
    for (size_t i = 0; i < run->c->items_len && !run->excluded; i++) {
        char ch[3];
        cw_checks__chapter(ch, run->c->items[i].hs_code);
        if (ch[0] != '\0' && cw_checks__codes2_has(&run->profile->exclude, ch)) {
            run->excluded = 1;
            memcpy(run->excluded_chapter, ch, 3);
        }
    }
}

/*
 * The declared value (Σ lines in the consignment currency), GoodsValue
 * when no line has a value, and freight + insurance in the profile
 * currency when the profile values CIF. A negative GoodsValue, freight or
 * insurance never lowers a base (VAL-002 reports it).
 */
static void header_values(cw_checks_run_t *run, int any, int64_t *intrinsic, int64_t *fi_out)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    int64_t declared = 0, fi_doc;

    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_line_t *ln = &run->lines[i];
        if (ln->has_value && !ln->out_of_range && strcmp(c->items[i].currency, c->currency) == 0
            && cw_checks__amount_add(&declared, ln->value_minor) < 0) {
            range_note(run, "Item/LineValue");
        }
    }
    if (!any && c->has_goods_value) {
        declared = c->goods_value_minor;
        if (!run->has_fx) {
            no_fx_note(run, c->currency, "GoodsValue", run->fx.date);
        } else if (cw_checks__fx_convert(intrinsic, c->goods_value_minor, run->doc_exponent,
                                         &run->fx, p->exponent)
                   < 0) {
            range_note(run, "GoodsValue");
        }
        *intrinsic = *intrinsic < 0 ? 0 : *intrinsic;
    }
    run->out->revenue.declared_minor = declared;
    *fi_out = 0;
    fi_doc = (c->freight_minor > 0 ? c->freight_minor : 0)
             + (c->insurance_minor > 0 ? c->insurance_minor : 0);
    if (!p->cif || fi_doc == 0) {
        return;
    }
    if (!run->has_fx) {
        no_fx_note(run, c->currency, c->freight_minor > 0 ? "Freight" : "Insurance", run->fx.date);
    } else if (cw_checks__fx_convert(fi_out, fi_doc, run->doc_exponent, &run->fx, p->exponent)
               < 0) {
        range_note(run, c->freight_minor > 0 ? "Freight" : "Insurance");
    }
}

/*
 * A value could not be converted or is out of range: nothing is computed
 * (computed 0, amounts 0), never low value, no collection at sale; the
 * fact records what is known (the converted part; the range's end).
 */
static void revenue_unknown(cw_checks_run_t *run, int64_t converted)
{
    cw_checks_revenue_t *rv = &run->out->revenue;
    const cw_checks_profile_t *p = run->profile;

    rv->computed = 0;
    rv->intrinsic_minor = 0;
    rv->customs_value_minor = 0;
    rv->low_value = 0;
    rv->duty_minor = 0;
    rv->tax_minor = 0;
    rv->collection = p->fallback;
    rv->due_at_border_minor = 0;
    rv->due_at_border =
        p->fallback == CW_CHECKS_COLLECT_CARRIER || p->fallback == CW_CHECKS_COLLECT_CONSUMER;
    run->collector_ok = 0;
    run->value_floor_minor = run->no_fx ? converted : CW_CHECKS_AMOUNT_MAX;
    run->out->fact.value_minor = run->value_floor_minor;
}

/* Duty and tax on known, non-negative values. */
static void duty_tax(cw_checks_run_t *run, int64_t intrinsic, int64_t fi)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    cw_checks_revenue_t *rv = &run->out->revenue;
    int gift_relief = c->content == CW_CHECKS_CONTENT_GIFT && !run->excluded
                      && intrinsic <= p->gift_allowance_minor;

    if (gift_relief) {
        rv->duty_minor = 0;
    } else if (run->tier != NULL && !run->excluded && p->has_flat
               && intrinsic < p->flat_below_minor) {
        rv->duty_minor = p->flat_per_subheading_minor * subheadings(c);
    } else if (run->tier != NULL && !run->excluded && intrinsic <= run->tier->duty_free_minor) {
        rv->duty_minor = 0;
    } else {
        rv->duty_minor = duty_ad_valorem(run, intrinsic, fi);
    }
    if ((gift_relief && p->gift_tax_free)
        || (run->tier != NULL && !run->excluded && intrinsic <= run->tier->tax_free_minor)) {
        rv->tax_minor = 0;
    } else {
        rv->tax_minor = cw_checks_money_percent(rv->customs_value_minor + rv->duty_minor,
                                                tax_rate(p, c->destination_country));
    }
}

int cw_checks__revenue(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    cw_checks_revenue_t *rv = &run->out->revenue;
    int64_t intrinsic = 0, fi = 0;
    int any = 0;

    (void)cw_strlcpy(rv->currency, p->currency, sizeof(rv->currency));
    rv->exponent = p->exponent;
    (void)cw_strlcpy(rv->declared_currency, c->currency, sizeof(rv->declared_currency));
    (void)cw_strlcpy(run->out->fact.currency, p->currency, sizeof(run->out->fact.currency));
    run->doc_exponent = c->currency_exponent;
    run->fx.date = run->ctx->reference_date;
    if (c->currency[0] != '\0') {
        run->has_fx = cw_checks__fx_find(&run->fx, run->rules, c->currency, p->currency,
                                         run->ctx->reference_date)
                      == 0;
        rv->fx_date = run->fx.date;
        rv->fx_rate_micro = run->has_fx ? cw_checks__fx_micro(&run->fx) : 0;
    }
    lines_compute(run, &intrinsic, &any);
    header_values(run, any, &intrinsic, &fi);
    run->tier = tier_select(p, c);
    excluded_find(run);
    if (!value_known(run)) {
        revenue_unknown(run, intrinsic);
        return 0;
    }
    rv->computed = 1;
    rv->intrinsic_minor = intrinsic;
    rv->customs_value_minor = intrinsic + fi;
    rv->low_value = run->tier != NULL && !run->excluded && intrinsic <= run->tier->value_minor;
    duty_tax(run, intrinsic, fi);
    collection_decide(run, intrinsic);
    run->out->fact.value_minor = intrinsic;
    return 0;
}
