/*
 * checks/spl.c: split shipments (SPL-001).
 *   The same buyer (id, else normalised name + address + phone) within the
 *   profile's window (calendar days of the destination; US: one person, one
 *   day), or one order (same seller and order number) across several
 *   transport documents, together above the low-value threshold while this
 *   consignment alone is inside it: yellow; red when the same order number.
 *   Prior facts come from the caller (cw_checks_history_t); a fact with this
 *   consignment's id or transport document is a resend and never counts.
 *   The buyer's count and total are the caller's totals when it has them
 *   (has_totals: the store sums them), else summed from the rows.
 */
#include <string.h>

#include "checks.h"
#include "internal.h"

static int same_shipment(const cw_checks_fact_t *f, const cw_checks_fact_t *me)
{
    return strcmp(f->consignment_id, me->consignment_id) == 0
           || (me->transport_doc[0] != '\0' && strcmp(f->transport_doc, me->transport_doc) == 0);
}

int cw_checks__spl(cw_checks_run_t *run)
{
    const cw_checks_profile_t *p = run->profile;
    const cw_checks_history_t *h = run->history;
    const cw_checks_fact_t *me = &run->out->fact;
    int32_t since = run->ctx->reference_date - (p->split_window_days - 1);
    int64_t buyer_total = me->value_minor, order_total = me->value_minor;
    int buyer_n = 0, order_n = 0;
    char total[48], t[48];

    if (run->tier == NULL || !run->out->revenue.low_value) {
        return 0; /* already above (or no regime): nothing to gain by splitting */
    }
    for (size_t i = 0; i < h->facts_len; i++) {
        const cw_checks_fact_t *f = &h->facts[i];
        if (same_shipment(f, me) || strcmp(f->currency, p->currency) != 0) {
            continue;
        }
        if (me->order_number[0] != '\0' && strcmp(f->order_number, me->order_number) == 0
            && strcmp(f->seller_key, me->seller_key) == 0) {
            order_total += f->value_minor;
            order_n++;
        }
        if (!h->has_totals && strcmp(f->buyer_key, me->buyer_key) == 0 && f->date >= since
            && f->date <= run->ctx->reference_date) {
            buyer_total += f->value_minor;
            buyer_n++;
        }
    }
    if (h->has_totals) {
        buyer_n = h->buyer_count > INT32_MAX ? INT32_MAX : (int)h->buyer_count;
        buyer_total += h->buyer_total_minor;
    }
    cw_checks__money_str(t, sizeof(t), run->tier->value_minor, p);
    if (order_n > 0 && order_total > run->tier->value_minor) {
        cw_checks__money_str(total, sizeof(total), order_total, p);
        cw_checks__finding(run, "SPL-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, "Order/Number", NULL,
                           "order %s is split over %d transport documents totalling %s (> %s)",
                           me->order_number, order_n + 1, total, t);
    }
    if (buyer_n > 0 && buyer_total > run->tier->value_minor) {
        cw_checks__money_str(total, sizeof(total), buyer_total, p);
        cw_checks__finding(run, "SPL-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, "Buyer", NULL,
                           "the same buyer received %d consignments within %d day(s) totalling "
                           "%s (> %s)",
                           buyer_n + 1, p->split_window_days, total, t);
    }
    return 0;
}
