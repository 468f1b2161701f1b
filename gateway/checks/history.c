/*
 * checks/history.c: one fact against a history query's rules.
 *   cw_checks_history_add counts a fact the store does not hold yet (an
 *   earlier item of the same manifest) into the totals exactly as the
 *   store sums its own facts (cw_checks_history_query_t), and says whether
 *   the checks still need the fact as a row. SPL-001 by buyer and THR-002
 *   read the totals; DUP-002 and SPL-001 by order read rows.
 */
#include <string.h>

#include "checks.h"
#include "internal.h"

static int same_shipment(const cw_checks_fact_t *f, const cw_checks_history_query_t *q)
{
    return strcmp(f->consignment_id, q->consignment_id) == 0
           || (q->transport_doc[0] != '\0' && strcmp(f->transport_doc, q->transport_doc) == 0);
}

int cw_checks_history_add(cw_checks_history_t *h,
                          const cw_checks_history_query_t *q,
                          const cw_checks_fact_t *f)
{
    int dated = f->date <= q->until_date && strcmp(f->currency, q->currency) == 0;

    if (dated && f->date >= q->split_since_date && strcmp(f->buyer_key, q->buyer_key) == 0
        && !same_shipment(f, q)) {
        h->buyer_count++;
        h->buyer_total_minor += f->value_minor;
    }
    if (dated && f->date >= q->cluster_since_date && strcmp(f->seller_key, q->seller_key) == 0
        && strcmp(f->consignment_id, q->consignment_id) != 0) {
        for (size_t i = 0; i < q->bands_len && i < CW_CHECKS_BANDS_MAX; i++) {
            h->band_count[i] +=
                f->value_minor >= q->bands[i].lo && f->value_minor <= q->bands[i].hi;
        }
    }
    /* The store's year total counts this buyer's facts for the destination
     * outside the red lane, which an earlier item that was accepted is. */
    if (h->has_year_total && strcmp(f->buyer_key, q->buyer_key) == 0
        && strcmp(f->destination, q->destination) == 0 && f->date >= q->year_start
        && f->date <= q->until_date && strcmp(f->consignment_id, q->consignment_id) != 0) {
        h->buyer_year_total_minor += f->value_minor;
    }
    return strcmp(f->business_key, q->business_key) == 0
           || (q->order_number[0] != '\0' && strcmp(f->order_number, q->order_number) == 0);
}
