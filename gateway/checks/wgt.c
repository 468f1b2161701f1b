/*
 * checks/wgt.c: weights (WGT-001, yellow, soft).
 *   The gross weight is less than the sum of the items' net weights, or the
 *   value per kilogram (intrinsic value / gross weight, else Σ net) is
 *   outside the profile's plausibility band.
 */
#include "checks.h"
#include "internal.h"

int cw_checks__wgt(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    int64_t net_g = 0, weight_g, per_kg;
    char a[48], lo[48], hi[48];

    for (size_t i = 0; i < c->items_len; i++) {
        net_g += c->items[i].has_net_weight ? c->items[i].net_weight_g : 0;
    }
    if (c->has_gross_weight && c->gross_weight_g < net_g) {
        cw_checks__finding(run, "WGT-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, "GrossWeightKg",
                           NULL, "GrossWeightKg %lld g is less than the items' net weight %lld g",
                           (long long)c->gross_weight_g, (long long)net_g);
    }
    weight_g = c->has_gross_weight && c->gross_weight_g > 0 ? c->gross_weight_g : net_g;
    if (weight_g <= 0 || run->out->revenue.intrinsic_minor <= 0) {
        return 0;
    }
    per_kg = cw_checks__ratio_sat((__int128)run->out->revenue.intrinsic_minor * 1000, weight_g);
    if (per_kg < p->min_per_kg_minor || per_kg > p->max_per_kg_minor) {
        cw_checks__money_str(a, sizeof(a), per_kg, p);
        cw_checks__money_str(lo, sizeof(lo), p->min_per_kg_minor, p);
        cw_checks__money_str(hi, sizeof(hi), p->max_per_kg_minor, p);
        cw_checks__finding(run, "WGT-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, "GrossWeightKg",
                           NULL, "value per kg %s is outside the plausible band %s to %s", a, lo,
                           hi);
    }
    return 0;
}
