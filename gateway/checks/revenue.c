/*
 * checks/revenue.c: values, FX, low-value tier, duty, tax and the collection
 * model, computed once per run before the check families read them.
 *
 * - Line value: LineValue, else Quantity × UnitValue (half-even).
 * - Intrinsic value: Σ line values converted to the profile currency (one
 *   conversion per line, each rounded half-even); GoodsValue only when no
 *   line has a value. Freight and insurance are never part of it.
 * - Customs value (duty base): intrinsic + freight + insurance for a CIF
 *   profile, intrinsic for FOB.
 * - Duty: 0 for a gift within the allowance (excise chapters excepted), the flat amount per
 * distinct 6-digit subheading below flat-below (EU 2026), 0 up to the tier's duty-free value, else
 * ad valorem per item (freight and insurance apportioned to items by value for CIF).
 * - Tax: (customs value + duty) × rate, unless within the tier's tax-free
 *   value or a tax-free gift.
 */
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

/* Line values in item currency and in the profile currency. */
static int lines_compute(cw_checks_run_t *run, int64_t *intrinsic_out, int *any_out)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    int64_t sum = 0;
    int rc = 0;

    *any_out = 0;
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_item_t *it = &c->items[i];
        cw_checks_line_t *ln = &run->lines[i];
        int64_t rate;
        int32_t date;
        ln->exponent = cw_checks_currency_exponent(it->currency);
        if (it->has_line_value) {
            ln->value_minor = it->line_value_minor;
            ln->has_value = 1;
        } else if (it->has_unit_value && it->has_quantity) {
            ln->value_minor =
                cw_checks__div_half_even((__int128)it->unit_value_minor * it->quantity_milli, 1000);
            ln->has_value = 1;
        }
        if (!ln->has_value || it->currency[0] == '\0'
            || cw_checks__fx_rate(&rate, &date, run->rules, it->currency, p->currency,
                                  run->ctx->reference_date)
                   < 0) {
            continue;
        }
        rc = cw_checks_money_convert(&ln->dest_minor, ln->value_minor, ln->exponent, rate,
                                     p->exponent);
        if (rc < 0) {
            rc = 0; /* an absurd amount: left unconverted, VAL reports it */
            continue;
        }
        ln->converted = 1;
        sum += ln->dest_minor;
        *any_out = 1;
    }
    *intrinsic_out = sum;
    return rc;
}

/* Σ per item of (value + apportioned freight/insurance) × the heading rate. */
static int64_t duty_ad_valorem(cw_checks_run_t *run, int64_t intrinsic, int64_t fi)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    int64_t duty = 0, fi_left = fi;
    size_t last = 0;

    for (size_t i = 0; i < c->items_len; i++) {
        last = run->lines[i].converted ? i : last;
    }
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_duty_t *d;
        int64_t base, share = 0;
        if (!run->lines[i].converted) {
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

int cw_checks__revenue(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    cw_checks_revenue_t *rv = &run->out->revenue;
    int64_t intrinsic = 0, fi = 0, declared = 0, fi_doc;
    int any = 0, gift_relief;
    int rc = 0;

    (void)cw_strlcpy(rv->currency, p->currency, sizeof(rv->currency));
    rv->exponent = p->exponent;
    (void)cw_strlcpy(rv->declared_currency, c->currency, sizeof(rv->declared_currency));
    run->doc_exponent = c->currency_exponent;
    if (c->currency[0] != '\0'
        && cw_checks__fx_rate(&run->fx_micro, &rv->fx_date, run->rules, c->currency, p->currency,
                              run->ctx->reference_date)
               == 0) {
        rv->fx_rate_micro = run->fx_micro;
    }
    CW_TRY(lines_compute(run, &intrinsic, &any));
    for (size_t i = 0; i < c->items_len; i++) {
        if (run->lines[i].has_value && strcmp(c->items[i].currency, c->currency) == 0) {
            declared += run->lines[i].value_minor;
        }
    }
    if (!any && c->has_goods_value && run->fx_micro > 0) {
        if (cw_checks_money_convert(&intrinsic, c->goods_value_minor, run->doc_exponent,
                                    run->fx_micro, p->exponent)
            < 0) {
            intrinsic = 0;
        }
        declared = c->goods_value_minor;
    }
    fi_doc = c->freight_minor + c->insurance_minor;
    if (run->fx_micro > 0 && fi_doc != 0) {
        if (cw_checks_money_convert(&fi, fi_doc, run->doc_exponent, run->fx_micro, p->exponent)
            < 0) {
            fi = 0;
        }
    }
    rv->declared_minor = declared;
    rv->intrinsic_minor = intrinsic;
    rv->customs_value_minor = intrinsic + (p->cif ? fi : 0);
    run->tier = tier_select(p, c);
    excluded_find(run);
    rv->low_value = run->tier != NULL && !run->excluded && intrinsic <= run->tier->value_minor;
    gift_relief = c->content == CW_CHECKS_CONTENT_GIFT && !run->excluded
                  && intrinsic <= p->gift_allowance_minor;
    if (gift_relief) {
        rv->duty_minor = 0;
    } else if (run->tier != NULL && !run->excluded && p->has_flat
               && intrinsic < p->flat_below_minor) {
        rv->duty_minor = p->flat_per_subheading_minor * subheadings(c);
    } else if (run->tier != NULL && !run->excluded && intrinsic <= run->tier->duty_free_minor) {
        rv->duty_minor = 0;
    } else {
        rv->duty_minor = duty_ad_valorem(run, intrinsic, p->cif ? fi : 0);
    }
    if ((gift_relief && p->gift_tax_free)
        || (run->tier != NULL && !run->excluded && intrinsic <= run->tier->tax_free_minor)) {
        rv->tax_minor = 0;
    } else {
        rv->tax_minor = cw_checks_money_percent(rv->customs_value_minor + rv->duty_minor,
                                                tax_rate(p, c->destination_country));
    }
    collection_decide(run, intrinsic);
    run->out->fact.value_minor = intrinsic;
    (void)cw_strlcpy(run->out->fact.currency, p->currency, sizeof(run->out->fact.currency));
out:
    return rc;
}
