/*
 * checks/dup.c: duplicates (DUP-002, red).
 *   A prior fact with the same business key (sender, document type, order
 *   number, else transport document, else consignment id) but another
 *   content digest, and this consignment is not marked as an amendment.
 *   The same content again is a resend and passes. DUP-001 (same sender
 *   and MessageId) is answered by the pipeline with the original receipt
 *   before the checks run.
 */
#include <string.h>

#include "checks.h"
#include "internal.h"

int cw_checks__dup(cw_checks_run_t *run)
{
    const cw_checks_history_t *h = run->history;
    const cw_checks_fact_t *me = &run->out->fact;

    if (me->amendment) {
        return 0;
    }
    for (size_t i = 0; i < h->facts_len; i++) {
        const cw_checks_fact_t *f = &h->facts[i];
        if (strcmp(f->business_key, me->business_key) == 0
            && strcmp(f->content_digest, me->content_digest) != 0) {
            cw_checks__finding(run, "DUP-002", CW_CHECKS_LANE_RED, CW_CHECKS_HARD,
                               me->order_number[0] != '\0' ? "Order/Number" : "TransportDocument",
                               NULL,
                               "the same business key (consignment %s) was sent before with "
                               "other content and this is not marked as an amendment",
                               f->consignment_id);
            break;
        }
    }
    return 0;
}
