/*
 * checks/lim.c: CN cross-border e-commerce limits (profiles with Limits).
 *   LIM-001  the buyer's total for the calendar year (history: the
 *            caller's ledger total, else the sum of the buyer's facts of
 *            that year) plus this consignment exceeds the annual limit
 *            (CNY 26000): red.
 *   LIM-002  this consignment exceeds the single-transaction limit
 *            (CNY 5000), or its value is unknown (not convertible, out
 *            of range): yellow (general trade rules apply). LIM-001 then
 *            adds the part that was converted, a floor.
 */
#include <stdint.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

int cw_checks__lim(cw_checks_run_t *run)
{
    const cw_checks_profile_t *p = run->profile;
    const cw_checks_history_t *h = run->history;
    const cw_checks_fact_t *me = &run->out->fact;
    int year = cw_checks_date_year(run->ctx->reference_date);
    int64_t total = 0;
    char v[48], l[48];

    if (!p->has_limits) {
        return 0;
    }
    if (!run->out->revenue.computed) {
        /* me->value_minor is only the converted part: a floor. */
        cw_checks__finding(run, "LIM-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, "Item/LineValue",
                           NULL,
                           "the value cannot be converted or is out of range: the "
                           "single-transaction limit cannot be verified");
    } else if (me->value_minor > p->limit_single_minor) {
        cw_checks__money_str(v, sizeof(v), me->value_minor, p);
        cw_checks__money_str(l, sizeof(l), p->limit_single_minor, p);
        cw_checks__finding(run, "LIM-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, "Item/LineValue",
                           NULL, "value %s exceeds the single-transaction limit %s", v, l);
    }
    if (h->has_year_total) {
        total = h->buyer_year_total_minor;
    } else {
        for (size_t i = 0; i < h->facts_len; i++) {
            const cw_checks_fact_t *f = &h->facts[i];
            if (strcmp(f->buyer_key, me->buyer_key) == 0 && cw_checks_date_year(f->date) == year
                && f->date <= run->ctx->reference_date && strcmp(f->currency, p->currency) == 0
                && strcmp(f->consignment_id, me->consignment_id) != 0) {
                total += f->value_minor;
            }
        }
    }
    if (__builtin_add_overflow(total, me->value_minor, &total)) {
        total = INT64_MAX; /* a ledger that large is over any limit */
    }
    if (total > p->limit_annual_minor) {
        cw_checks__money_str(v, sizeof(v), total, p);
        cw_checks__money_str(l, sizeof(l), p->limit_annual_minor, p);
        cw_checks__finding(run, "LIM-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, "Buyer/Id", NULL,
                           "the buyer's %d total %s would exceed the annual limit %s", year, v, l);
    }
    return 0;
}
