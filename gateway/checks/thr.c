/*
 * checks/thr.c: low-value thresholds.
 *   THR-001  the intrinsic value (freight and insurance excluded) converted
 *            at the profile's FX rate, against the low-value tier that
 *            applies (by transport mode and dispatch country): inside ->
 *            green, simplified lane; above, an excluded chapter (excise
 *            goods), or a profile with no low-value regime (US from
 *            2025-08-29) -> yellow, full declaration required. A value
 *            that cannot be converted (no FX rate for its currency on the
 *            reference date) or is out of range is never inside: yellow,
 *            naming the currency and the FX table's date.
 *   THR-002  the value sits within the profile's margin under the threshold
 *            (5 %) and the same seller had at least min-count - 1 such
 *            consignments within the window (30 days): yellow (soft);
 *            counted by the caller per tier (has_totals) or from the rows.
 */
#include <string.h>

#include "checks.h"
#include "internal.h"

/*
 * A value that cannot be converted (no FX rate, no currency) or is out of
 * range is never low value: the intrinsic value is unknown, so a full
 * declaration is required and revenue is not computed.
 */
static void thr001_unknown(cw_checks_run_t *run)
{
    const cw_checks_profile_t *p = run->profile;
    char d[16], src[160];

    if (!run->no_fx) {
        cw_checks__finding(run, "THR-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, "Item/LineValue",
                           NULL,
                           "the value is out of range (VAL-001): full declaration required; "
                           "duty and tax not computed");
        return;
    }
    cw_checks_date_format(d, sizeof(d), run->no_fx_date);
    cw_checks__prov_format(src, sizeof(src), &run->rules->fx_prov);
    cw_checks__finding(run, "THR-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, run->no_fx_field, src,
                       "%s in %s cannot be converted to %s (no rate in the FX table of %s): "
                       "value unknown, full declaration required; duty and tax not computed",
                       run->no_fx_field,
                       run->no_fx_currency[0] != '\0' ? run->no_fx_currency : "no currency",
                       p->currency, d);
}

static void thr001(cw_checks_run_t *run)
{
    const cw_checks_profile_t *p = run->profile;
    const cw_checks_revenue_t *rv = &run->out->revenue;
    char v[48], t[48];

    if (!rv->computed) {
        thr001_unknown(run);
        return;
    }
    cw_checks__money_str(v, sizeof(v), rv->intrinsic_minor, p);
    if (run->tier == NULL) {
        cw_checks__finding(run, "THR-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, "Item", NULL,
                           "%s has no low-value regime: full declaration required (%s)", p->id, v);
        return;
    }
    cw_checks__money_str(t, sizeof(t), run->tier->value_minor, p);
    if (run->excluded) {
        cw_checks__finding(run, "THR-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, "Item/HsCode",
                           NULL,
                           "HS chapter %s is outside the low-value regime (%s): full "
                           "declaration required",
                           run->excluded_chapter, p->exclude_reason);
    } else if (rv->low_value) {
        cw_checks__finding(run, "THR-001", CW_CHECKS_LANE_GREEN, CW_CHECKS_HARD, "Item/LineValue",
                           NULL, "intrinsic value %s is within the low-value regime (<= %s)", v, t);
    } else {
        cw_checks__finding(run, "THR-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, "Item/LineValue",
                           NULL,
                           "intrinsic value %s is above the low-value threshold %s: full "
                           "declaration required",
                           v, t);
    }
}

/* 1 when v is within margin_bp under (and not above) threshold. */
static int near(int64_t v, int64_t threshold, int32_t margin_bp)
{
    int64_t floor = threshold - cw_checks_money_percent(threshold, margin_bp);

    return v >= floor && v <= threshold;
}

static void thr002(cw_checks_run_t *run)
{
    const cw_checks_profile_t *p = run->profile;
    const cw_checks_history_t *h = run->history;
    const cw_checks_fact_t *me = &run->out->fact;
    int64_t threshold;
    int32_t since = run->ctx->reference_date - (p->cluster_window_days - 1);
    int count = 1;
    char t[48];

    if (run->tier == NULL || run->out->revenue.intrinsic_minor <= 0) {
        return;
    }
    threshold = run->tier->value_minor;
    if (!near(me->value_minor, threshold, p->cluster_margin_bp)) {
        return;
    }
    if (h->has_totals) {
        size_t band = (size_t)(run->tier - p->tiers);

        /* The store counted the facts in this tier's band. */
        if (band < CW_CHECKS_BANDS_MAX && h->band_count[band] > 0) {
            count +=
                h->band_count[band] >= INT32_MAX - 1 ? INT32_MAX - 1 : (int)h->band_count[band];
        }
    }
    for (size_t i = 0; !h->has_totals && i < h->facts_len; i++) {
        const cw_checks_fact_t *f = &h->facts[i];
        if (strcmp(f->seller_key, me->seller_key) != 0 || f->date < since
            || f->date > run->ctx->reference_date || strcmp(f->currency, p->currency) != 0
            || strcmp(f->consignment_id, me->consignment_id) == 0) {
            continue;
        }
        count += near(f->value_minor, threshold, p->cluster_margin_bp);
    }
    if (count < p->cluster_min_count) {
        return;
    }
    cw_checks__money_str(t, sizeof(t), threshold, p);
    cw_checks__finding(run, "THR-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, "Seller", NULL,
                       "%d consignments of this seller within %d days valued just under %s", count,
                       p->cluster_window_days, t);
}

int cw_checks__thr(cw_checks_run_t *run)
{
    thr001(run);
    thr002(run);
    return 0;
}
