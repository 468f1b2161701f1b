/*
 * Between the checks and the ledger: the store query for what the checks
 * asked for, the store's facts as checks facts, an assessment as the fact
 * to record, and its finding codes as text. Shared by intake and inbound.
 */
#include <string.h>

#include "internal.h"

_Static_assert(CW_CHECKS_BANDS_MAX == CW_STORE_BANDS_MAX, "one store band per checks band");

void cw_pipeline__facts_query(cw_store_facts_query_t *q,
                              const cw_checks_history_query_t *hq,
                              const char *destination)
{
    memset(q, 0, sizeof(*q));
    q->buyer_key = hq->buyer_key;
    q->seller_key = hq->seller_key;
    q->business_key = hq->business_key;
    q->order_number = hq->order_number;
    q->currency = hq->currency;
    q->consignment_id = hq->consignment_id;
    q->transport_doc = hq->transport_doc;
    q->split_since_date = hq->split_since_date;
    q->cluster_since_date = hq->cluster_since_date;
    q->until_date = hq->until_date;
    q->year_start = hq->year_start;
    q->destination = destination;
    q->bands_len = hq->bands_len;
    for (size_t i = 0; i < hq->bands_len && i < CW_STORE_BANDS_MAX; i++) {
        q->bands[i].lo = hq->bands[i].lo;
        q->bands[i].hi = hq->bands[i].hi;
    }
}

void cw_pipeline__history_totals(cw_checks_history_t *h, const cw_store_facts_t *facts)
{
    memset(h, 0, sizeof(*h));
    h->has_year_total = 1;
    h->buyer_year_total_minor = facts->buyer_year_total_minor;
    h->has_totals = 1;
    h->buyer_count = facts->buyer_count;
    h->buyer_total_minor = facts->buyer_total_minor;
    for (size_t i = 0; i < CW_STORE_BANDS_MAX; i++) {
        h->band_count[i] = facts->band_count[i];
    }
}

int cw_pipeline__facts_copy(cw_checks_fact_t **out, const cw_store_facts_t *facts)
{
    size_t i;

    *out = NULL;
    if (facts->count == 0) {
        return 0;
    }
    *out = cw_calloc(facts->count, sizeof(**out));
    if (*out == NULL) {
        return CW_ENOMEM;
    }
    for (i = 0; i < facts->count; i++) {
        const cw_store_fact_t *f = &facts->items[i];
        cw_checks_fact_t *h = &(*out)[i];

        cw_strlcpy(h->consignment_id, f->consignment_id, sizeof(h->consignment_id));
        cw_strlcpy(h->sender, f->sender, sizeof(h->sender));
        cw_strlcpy(h->buyer_key, f->buyer_key, sizeof(h->buyer_key));
        cw_strlcpy(h->seller_key, f->seller_key, sizeof(h->seller_key));
        cw_strlcpy(h->business_key, f->business_key, sizeof(h->business_key));
        cw_strlcpy(h->content_digest, f->content_digest, sizeof(h->content_digest));
        cw_strlcpy(h->order_number, f->order_number, sizeof(h->order_number));
        cw_strlcpy(h->transport_doc, f->transport_doc, sizeof(h->transport_doc));
        cw_strlcpy(h->destination, f->destination, sizeof(h->destination));
        cw_strlcpy(h->currency, f->currency, sizeof(h->currency));
        h->value_minor = f->value_minor;
        h->date = f->date;
        h->amendment = f->amendment;
    }
    return 0;
}

/* The finding codes of a, space separated, into out. */
void cw_pipeline__codes_join(char *out, size_t size, const cw_checks_assessment_t *a)
{
    size_t i;

    out[0] = '\0';
    for (i = 0; i < a->findings_len; i++) {
        if (i > 0) {
            (void)strncat(out, " ", size - strlen(out) - 1);
        }
        (void)strncat(out, a->findings[i].code, size - strlen(out) - 1);
    }
}

void cw_pipeline__fact_from(cw_store_fact_t *f, const cw_checks_assessment_t *a, const char *codes)
{
    f->consignment_id = a->fact.consignment_id;
    f->sender = a->fact.sender;
    f->buyer_key = a->fact.buyer_key;
    f->seller_key = a->fact.seller_key;
    f->business_key = a->fact.business_key;
    f->content_digest = a->fact.content_digest;
    f->order_number = a->fact.order_number;
    f->transport_doc = a->fact.transport_doc;
    f->destination = a->fact.destination;
    f->currency = a->fact.currency;
    f->value_minor = a->fact.value_minor;
    f->date = a->fact.date;
    f->amendment = a->fact.amendment;
    f->lane = cw_checks_lane_name(a->lane);
    f->codes = codes;
    f->collection = cw_checks_collection_name(a->revenue.collection);
    f->duty_minor = a->revenue.duty_minor;
    f->tax_minor = a->revenue.tax_minor;
    f->due_minor = a->revenue.due_at_border_minor;
}

/* Bytes per block of the pool the ledger's rows are read into. */
#define LEDGER_POOL_BYTES 4096

int cw_pipeline__history_read(cw_store_t *store,
                              const cw_checks_history_query_t *hq,
                              const char *destination,
                              cw_checks_fact_t **rows,
                              size_t *len,
                              cw_checks_history_t *totals)
{
    cw_store_facts_query_t q;
    cw_store_facts_t facts;
    cw_pool_t *pool;
    int rc;

    cw_pipeline__facts_query(&q, hq, destination);
    pool = cw_pool_new(LEDGER_POOL_BYTES);
    if (pool == NULL) {
        return CW_ENOMEM;
    }
    rc = cw_store_facts_query_here(store, &q, pool, &facts);
    if (rc == 0) {
        rc = cw_pipeline__facts_copy(rows, &facts);
    }
    if (rc == 0) {
        *len = facts.count;
        cw_pipeline__history_totals(totals, &facts);
    }
    cw_pool_free(pool);
    return rc;
}
