/*
 * checks/history.c: one fact against a history query's rules.
 *   cw_checks_history_add counts a fact the store does not hold yet (an
 *   earlier item of the same manifest) into the totals exactly as the
 *   store sums its own facts (cw_checks_history_query_t), and says whether
 *   the checks still need the fact as a row. SPL-001 by buyer and THR-002
 *   read the totals; DUP-002 and SPL-001 by order read rows.
 *   cw_checks_recent_t applies the same rules to many facts, with their
 *   strings interned as numbers.
 */
#include <stdint.h>
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

/* ==== The facts of one input's earlier items, interned ==== */

#define NAME_NONE UINT32_MAX /* a string no added fact holds */

typedef struct recent_name {
    const char *s; /* in a borrowed fact; NULL: a free slot */
    uint32_t hash;
    uint32_t id;
} recent_name_t;

typedef struct recent_fact {
    const cw_checks_fact_t *f; /* borrowed */
    int64_t value_minor;       /* f's, here so that counting reads f only for rows */
    int32_t date;
    uint32_t buyer;
    uint32_t seller;
    uint32_t business;
    uint32_t consignment;
    uint32_t transport;
    uint32_t order;
    uint32_t destination;
    uint32_t currency;
} recent_fact_t;

struct cw_checks_recent {
    recent_name_t *names; /* open addressing, linear probing */
    size_t names_cap;     /* a power of two, at least twice names_len */
    size_t names_len;
    recent_fact_t *facts;
    size_t facts_len;
    size_t facts_cap;
};

/* FNV-1a: the keys are hex digests and identifiers, not chosen to collide
 * with each other within one input that the node itself keyed. */
static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;

    for (; *s != '\0'; s++) {
        h = (h ^ (unsigned char)*s) * 16777619u;
    }
    return h;
}

/* The slot holding s, or the free slot where it would go. */
static recent_name_t *name_slot(const cw_checks_recent_t *r, const char *s, uint32_t hash)
{
    size_t mask = r->names_cap - 1;
    size_t i = hash & mask;

    for (;;) {
        recent_name_t *n = &r->names[i];

        if (n->s == NULL || (n->hash == hash && strcmp(n->s, s) == 0)) {
            return n;
        }
        i = (i + 1) & mask;
    }
}

static uint32_t name_find(const cw_checks_recent_t *r, const char *s)
{
    const recent_name_t *n = name_slot(r, s, name_hash(s));

    return n->s != NULL ? n->id : NAME_NONE;
}

static int names_grow(cw_checks_recent_t *r)
{
    size_t cap = r->names_cap * 2;
    recent_name_t *old = r->names;
    size_t old_cap = r->names_cap;

    if (cap > SIZE_MAX / sizeof(*old) || r->names_len >= NAME_NONE / 2) {
        return CW_ENOMEM;
    }
    r->names = cw_calloc(cap, sizeof(*r->names));
    if (r->names == NULL) {
        r->names = old;
        return CW_ENOMEM;
    }
    r->names_cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].s != NULL) {
            *name_slot(r, old[i].s, old[i].hash) = old[i];
        }
    }
    cw_free(old);
    return 0;
}

/* s's id, given a new one when no fact held s. Room for it is reserved
 * (cw_checks_recent_add grows the table first), so this cannot fail. */
static uint32_t name_intern(cw_checks_recent_t *r, const char *s)
{
    uint32_t hash = name_hash(s);
    recent_name_t *n = name_slot(r, s, hash);

    if (n->s == NULL) {
        n->s = s;
        n->hash = hash;
        n->id = (uint32_t)r->names_len++;
    }
    return n->id;
}

#define FACT_NAMES 8 /* the string fields a fact is compared by */

int cw_checks_recent_new(cw_checks_recent_t **out)
{
    cw_checks_recent_t *r = cw_calloc(1, sizeof(*r));

    *out = NULL;
    if (r == NULL) {
        return CW_ENOMEM;
    }
    r->names_cap = 64;
    r->names = cw_calloc(r->names_cap, sizeof(*r->names));
    if (r->names == NULL) {
        cw_free(r);
        return CW_ENOMEM;
    }
    *out = r;
    return 0;
}

void cw_checks_recent_free(cw_checks_recent_t *r)
{
    if (r == NULL) {
        return;
    }
    cw_free(r->names);
    cw_free(r->facts);
    cw_free(r);
}

size_t cw_checks_recent_len(const cw_checks_recent_t *r)
{
    return r->facts_len;
}

int cw_checks_recent_add(cw_checks_recent_t *r, const cw_checks_fact_t *f)
{
    recent_fact_t *rf;

    /* Room first, so that nothing below fails half-way. */
    while ((r->names_len + FACT_NAMES) * 2 > r->names_cap) {
        if (names_grow(r) < 0) {
            return CW_ENOMEM;
        }
    }
    if (r->facts_len == r->facts_cap) {
        size_t cap = r->facts_cap == 0 ? 64 : r->facts_cap * 2;
        recent_fact_t *more;

        if (cap > SIZE_MAX / sizeof(*more)) {
            return CW_ENOMEM;
        }
        more = cw_realloc(r->facts, cap * sizeof(*more));
        if (more == NULL) {
            return CW_ENOMEM;
        }
        r->facts = more;
        r->facts_cap = cap;
    }
    rf = &r->facts[r->facts_len++];
    rf->f = f;
    rf->value_minor = f->value_minor;
    rf->date = f->date;
    rf->buyer = name_intern(r, f->buyer_key);
    rf->seller = name_intern(r, f->seller_key);
    rf->business = name_intern(r, f->business_key);
    rf->consignment = name_intern(r, f->consignment_id);
    rf->transport = name_intern(r, f->transport_doc);
    rf->order = name_intern(r, f->order_number);
    rf->destination = name_intern(r, f->destination);
    rf->currency = name_intern(r, f->currency);
    return 0;
}

int cw_checks_recent_count(const cw_checks_recent_t *r,
                           const cw_checks_history_query_t *q,
                           cw_checks_history_t *h,
                           cw_checks_row_cb row,
                           void *arg)
{
    /* A query string no fact holds matches none: NAME_NONE is no fact's id.
     * An empty transport document or order number matches none either, as
     * in cw_checks_history_add. */
    uint32_t buyer = name_find(r, q->buyer_key);
    uint32_t seller = name_find(r, q->seller_key);
    uint32_t business = name_find(r, q->business_key);
    uint32_t consignment = name_find(r, q->consignment_id);
    uint32_t transport = q->transport_doc[0] != '\0' ? name_find(r, q->transport_doc) : NAME_NONE;
    uint32_t order = q->order_number[0] != '\0' ? name_find(r, q->order_number) : NAME_NONE;
    uint32_t destination = name_find(r, q->destination);
    uint32_t currency = name_find(r, q->currency);

    for (size_t i = 0; i < r->facts_len; i++) {
        const recent_fact_t *rf = &r->facts[i];
        int32_t date = rf->date;
        int64_t value = rf->value_minor;
        int dated = date <= q->until_date && rf->currency == currency;
        int other = rf->consignment != consignment;

        if (dated && date >= q->split_since_date && rf->buyer == buyer && other
            && rf->transport != transport) {
            h->buyer_count++;
            h->buyer_total_minor += value;
        }
        if (dated && date >= q->cluster_since_date && rf->seller == seller && other) {
            for (size_t b = 0; b < q->bands_len && b < CW_CHECKS_BANDS_MAX; b++) {
                h->band_count[b] += value >= q->bands[b].lo && value <= q->bands[b].hi;
            }
        }
        if (h->has_year_total && rf->buyer == buyer && rf->destination == destination
            && date >= q->year_start && date <= q->until_date && other) {
            h->buyer_year_total_minor += value;
        }
        if (rf->business == business || rf->order == order) {
            int rc = row(arg, rf->f);

            if (rc < 0) {
                return rc;
            }
        }
    }
    return 0;
}
