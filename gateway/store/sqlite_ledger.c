/*
 * The facilitation ledger on SQLite: one row of facts per assessed
 * consignment, written in the message's own transaction (so a fact exists
 * exactly when its message does), read by the stateful checks and summed
 * by the statistics. Writes run on the writer thread; reads on the reader
 * thread or on a caller's thread with a lent connection (sqlite.c).
 */
#include <sqlite3.h>
#include <string.h>

#include "internal.h"

typedef enum ledger_stmt_e {
    L_FACT_INSERT,
    L_CODE_INSERT,
    L_FACTS,
    L_BUYER_DAYS,
    L_SHIPMENT,
    L_BAND_COUNT,
    L_STATS_DESTINATION,
    L_STATS_LANE,
    L_STATS_CODE,
    L_STATS_SENDER,
    L_STATS_COLLECTION,
    L_READ_BEGIN,
    L_READ_END,
    L_COUNT
} ledger_stmt_e;

#define FACT_COLUMNS                                                                     \
    "consignment_id, sender, buyer_key, seller_key, business_key, content_digest,"       \
    " order_number, transport_doc, destination, currency, value_minor, date, amendment," \
    " lane, codes, collection, duty_minor, tax_minor, due_minor"

/* Sums per group and currency; ?1/?2 bound the assessment time. */
#define STATS_SQL(col, from)                                                                 \
    "SELECT " col ", f.currency, count(*), sum(f.value_minor), sum(f.duty_minor),"           \
    " sum(f.tax_minor), sum(f.due_minor) FROM " from " WHERE f.at_ms >= ?1 AND f.at_ms < ?2" \
    " GROUP BY 1, 2 ORDER BY 1, 2"

static const char *const ledger_sql[L_COUNT] = {
    /* A fact's id is its message's id (schema version 6). */
    [L_FACT_INSERT] = "INSERT INTO facts (id, consignment_id, sender, buyer_key, seller_key,"
                      " business_key, content_digest, order_number, transport_doc, destination,"
                      " currency, value_minor, date, amendment, lane, collection, duty_minor,"
                      " tax_minor, due_minor, at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
                      " ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
    [L_CODE_INSERT] = "INSERT INTO fact_codes (fact, seq, code) VALUES (?1, ?2, ?3)",
    /* The codes column is rebuilt from fact_codes for the reader. */
    [L_FACTS] = "SELECT consignment_id, sender, buyer_key, seller_key, business_key,"
                " content_digest, order_number, transport_doc, destination, currency,"
                " value_minor, date, amendment, lane,"
                " (SELECT group_concat(code, ' ') FROM fact_codes WHERE fact = f.id),"
                " collection, duty_minor, tax_minor, due_minor FROM facts f"
                " WHERE (?1 <> '' AND ?2 <> '' AND seller_key = ?1 AND order_number = ?2)"
                " OR (?3 <> '' AND business_key = ?3)"
                " LIMIT ?4",
    /* The totals (cw_store_facts_t): a buyer's from buyer_days (one row per
     * day, destination and currency), the year's and the window's in one
     * pass over the buyer's rows from the earlier of the two starts; a
     * seller's band from the covering index facts_seller_band. */
    [L_BUYER_DAYS] =
        "SELECT coalesce(sum(CASE WHEN destination = ?2 AND date >= ?3"
        " THEN kept_minor END), 0),"
        " coalesce(sum(CASE WHEN currency = ?6 AND date >= ?5 THEN n END), 0),"
        " coalesce(sum(CASE WHEN currency = ?6 AND date >= ?5 THEN total_minor END), 0)"
        " FROM buyer_days WHERE buyer_key = ?1 AND date BETWEEN min(?3, ?5) AND ?4",
    /* This shipment's own facts (a resend: the same consignment id, or the
     * same transport document), which the totals above counted and must
     * not: read once for the buyer's total and every band, each fact once
     * through both indexes (a multi-index OR, without the temporary B-tree
     * a UNION built). */
    [L_SHIPMENT] = "SELECT buyer_key, seller_key, currency, value_minor, date, consignment_id = ?1"
                   " FROM facts WHERE consignment_id = ?1 OR (?2 <> '' AND transport_doc = ?2)",
    [L_BAND_COUNT] = "SELECT count(*) FROM facts WHERE seller_key = ?1 AND currency = ?2"
                     " AND value_minor BETWEEN ?3 AND ?4 AND date BETWEEN ?5 AND ?6",
    [L_STATS_DESTINATION] = STATS_SQL("f.destination", "facts f"),
    [L_STATS_LANE] = STATS_SQL("f.lane", "facts f"),
    [L_STATS_CODE] = STATS_SQL("c.code", "facts f JOIN fact_codes c ON c.fact = f.id"),
    [L_STATS_SENDER] = STATS_SQL("f.sender", "facts f"),
    [L_STATS_COLLECTION] = STATS_SQL("f.collection", "facts f"),
    /* A read of several statements in one snapshot (cw_store__ledger_facts). */
    [L_READ_BEGIN] = "BEGIN",
    [L_READ_END] = "COMMIT",
};

const char *cw_store__ledger_read_sql(size_t i)
{
    static const ledger_stmt_e reads[] = { L_FACTS, L_BUYER_DAYS, L_SHIPMENT, L_BAND_COUNT };

    return i < sizeof(reads) / sizeof(reads[0]) ? ledger_sql[reads[i]] : NULL;
}

struct cw_store_ledger {
    sqlite3_stmt *stmts[L_COUNT]; /* prepared on first use */
};

static sqlite3_stmt *ledger_stmt(sqlite3 *db, cw_store_ledger_t **ledger, ledger_stmt_e id, int *rc)
{
    sqlite3_stmt *st;

    if (*ledger == NULL) {
        *ledger = cw_calloc(1, sizeof(**ledger));
        if (*ledger == NULL) {
            *rc = CW_ENOMEM;
            return NULL;
        }
    }
    st = (*ledger)->stmts[id];
    if (st == NULL) {
        int src = sqlite3_prepare_v3(db, ledger_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);

        if (src != SQLITE_OK) {
            *rc = cw_store__err_from_sqlite(src);
            return NULL;
        }
        (*ledger)->stmts[id] = st;
    }
    (void)sqlite3_reset(st);
    (void)sqlite3_clear_bindings(st);
    return st;
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    (void)sqlite3_bind_text(st, i, s != NULL ? s : "", -1, SQLITE_STATIC);
}

static int step_done(sqlite3_stmt *st)
{
    int src = sqlite3_step(st);

    (void)sqlite3_reset(st);
    return src == SQLITE_DONE ? 0 : cw_store__err_from_sqlite(src);
}

int cw_store__ledger_fact_insert(sqlite3 *db,
                                 cw_store_ledger_t **ledger,
                                 int64_t msg_row,
                                 const cw_store_fact_t *f,
                                 int64_t at_ms)
{
    sqlite3_stmt *st;
    int64_t seq = 0;
    const char *p;
    int rc = 0;

    st = ledger_stmt(db, ledger, L_FACT_INSERT, &rc);
    if (st == NULL) {
        return rc;
    }
    (void)sqlite3_bind_int64(st, 1, msg_row);
    bind_text(st, 2, f->consignment_id);
    bind_text(st, 3, f->sender);
    bind_text(st, 4, f->buyer_key);
    bind_text(st, 5, f->seller_key);
    bind_text(st, 6, f->business_key);
    bind_text(st, 7, f->content_digest);
    bind_text(st, 8, f->order_number);
    bind_text(st, 9, f->transport_doc);
    bind_text(st, 10, f->destination);
    bind_text(st, 11, f->currency);
    (void)sqlite3_bind_int64(st, 12, f->value_minor);
    (void)sqlite3_bind_int(st, 13, f->date);
    (void)sqlite3_bind_int(st, 14, f->amendment);
    bind_text(st, 15, f->lane);
    bind_text(st, 16, f->collection);
    (void)sqlite3_bind_int64(st, 17, f->duty_minor);
    (void)sqlite3_bind_int64(st, 18, f->tax_minor);
    (void)sqlite3_bind_int64(st, 19, f->due_minor);
    (void)sqlite3_bind_int64(st, 20, at_ms);
    CW_TRY(step_done(st));
    for (p = f->codes != NULL ? f->codes : ""; *p != '\0';) {
        size_t n;

        while (*p == ' ') {
            p++;
        }
        n = strcspn(p, " ");
        if (n == 0) {
            break;
        }
        st = ledger_stmt(db, ledger, L_CODE_INSERT, &rc);
        if (st == NULL) {
            goto out;
        }
        (void)sqlite3_bind_int64(st, 1, msg_row);
        (void)sqlite3_bind_int64(st, 2, ++seq);
        (void)sqlite3_bind_text(st, 3, p, (int)n, SQLITE_STATIC);
        CW_TRY(step_done(st));
        p += n;
    }
out:
    return rc;
}

static const char *col(cw_pool_t *pool, sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t != NULL ? cw_pool_strndup(pool, (const char *)t, strlen((const char *)t))
                     : cw_pool_strndup(pool, "", 0);
}

/* Steps st to its one row: 0, or CW_E* (no row at all is corruption). */
static int step_row(sqlite3_stmt *st)
{
    int src = sqlite3_step(st);

    return src == SQLITE_ROW ? 0
                             : cw_store__err_from_sqlite(src == SQLITE_DONE ? SQLITE_CORRUPT : src);
}

/* Whether a column holds exactly the text s (an SQL NULL holds none). */
static int col_is(sqlite3_stmt *st, int i, const char *s)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    return t != NULL && strcmp((const char *)t, s != NULL ? s : "") == 0;
}

/* The buyer's year total and window totals (cw_store_facts_t). */
static int buyer_totals(sqlite3 *db,
                        cw_store_ledger_t **ledger,
                        const cw_store_facts_query_t *q,
                        cw_store_facts_t *out)
{
    sqlite3_stmt *st;
    int rc = 0;

    st = ledger_stmt(db, ledger, L_BUYER_DAYS, &rc);
    if (st == NULL) {
        return rc;
    }
    bind_text(st, 1, q->buyer_key);
    bind_text(st, 2, q->destination);
    (void)sqlite3_bind_int(st, 3, q->year_start);
    (void)sqlite3_bind_int(st, 4, q->until_date);
    (void)sqlite3_bind_int(st, 5, q->split_since_date);
    bind_text(st, 6, q->currency);
    rc = step_row(st);
    if (rc == 0) {
        out->buyer_year_total_minor = sqlite3_column_int64(st, 0);
        /* Without a currency there is no window total. */
        if (q->currency != NULL && q->currency[0] != '\0') {
            out->buyer_count = sqlite3_column_int64(st, 1);
            out->buyer_total_minor = sqlite3_column_int64(st, 2);
        }
    }
    (void)sqlite3_reset(st);
    return rc;
}

/* The seller's facts per value band (cw_store_facts_t.band_count). */
static int band_counts(sqlite3 *db,
                       cw_store_ledger_t **ledger,
                       const cw_store_facts_query_t *q,
                       cw_store_facts_t *out)
{
    sqlite3_stmt *st;
    int rc = 0;

    for (size_t i = 0; i < q->bands_len && i < CW_STORE_BANDS_MAX; i++) {
        st = ledger_stmt(db, ledger, L_BAND_COUNT, &rc);
        if (st == NULL) {
            return rc;
        }
        bind_text(st, 1, q->seller_key);
        bind_text(st, 2, q->currency);
        (void)sqlite3_bind_int64(st, 3, q->bands[i].lo);
        (void)sqlite3_bind_int64(st, 4, q->bands[i].hi);
        (void)sqlite3_bind_int(st, 5, q->cluster_since_date);
        (void)sqlite3_bind_int(st, 6, q->until_date);
        rc = step_row(st);
        out->band_count[i] = rc == 0 ? sqlite3_column_int64(st, 0) : 0;
        (void)sqlite3_reset(st);
        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/*
 * Takes this shipment's own earlier facts out of the totals: from the
 * buyer's window total those with its consignment id or transport
 * document, from each band count those with its consignment id, each
 * under the same conditions as the total counted it (buyer_totals,
 * band_counts).
 */
static int shipment_out(sqlite3 *db,
                        cw_store_ledger_t **ledger,
                        const cw_store_facts_query_t *q,
                        int buyer,
                        int seller,
                        cw_store_facts_t *out)
{
    sqlite3_stmt *st;
    int src;
    int rc = 0;

    st = ledger_stmt(db, ledger, L_SHIPMENT, &rc);
    if (st == NULL) {
        return rc;
    }
    bind_text(st, 1, q->consignment_id);
    /* The bands leave out the consignment id only: without the buyer's
     * total, no walk through every fact of a shared transport document. */
    bind_text(st, 2, buyer ? q->transport_doc : "");
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t value = sqlite3_column_int64(st, 3);
        int64_t date = sqlite3_column_int64(st, 4);

        if (!col_is(st, 2, q->currency)) {
            continue;
        }
        if (buyer && col_is(st, 0, q->buyer_key) && date >= q->split_since_date
            && date <= q->until_date) {
            out->buyer_count--;
            out->buyer_total_minor -= value;
        }
        if (seller && sqlite3_column_int(st, 5) == 1 && col_is(st, 1, q->seller_key)
            && date >= q->cluster_since_date && date <= q->until_date) {
            for (size_t i = 0; i < q->bands_len && i < CW_STORE_BANDS_MAX; i++) {
                out->band_count[i] -= value >= q->bands[i].lo && value <= q->bands[i].hi;
            }
        }
    }
    rc = src == SQLITE_DONE ? 0 : cw_store__err_from_sqlite(src);
    (void)sqlite3_reset(st);
    return rc;
}

static int facts_read(sqlite3 *db, cw_store_ledger_t **ledger, cw_store_req_t *req)
{
    const cw_store_facts_query_t *q = &req->in.facts;
    cw_store_facts_t *out = &req->out.facts;
    cw_store_fact_t *items = NULL;
    size_t cap = 0;
    sqlite3_stmt *st;
    int buyer;
    int seller;
    int src;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    st = ledger_stmt(db, ledger, L_FACTS, &rc);
    if (st == NULL) {
        return rc;
    }
    bind_text(st, 1, q->seller_key);
    bind_text(st, 2, q->order_number);
    bind_text(st, 3, q->business_key);
    (void)sqlite3_bind_int(st, 4, (int)CW_STORE_FACTS_MAX);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cw_store_fact_t *f;

        if (out->count == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            cw_store_fact_t *n = cw_pool_alloc(req->pool, ncap * sizeof(*n));

            if (n == NULL) {
                rc = CW_ENOMEM;
                goto out;
            }
            if (items != NULL) {
                memcpy(n, items, out->count * sizeof(*n));
            }
            items = n;
            cap = ncap;
        }
        f = &items[out->count];
        f->consignment_id = col(req->pool, st, 0);
        f->sender = col(req->pool, st, 1);
        f->buyer_key = col(req->pool, st, 2);
        f->seller_key = col(req->pool, st, 3);
        f->business_key = col(req->pool, st, 4);
        f->content_digest = col(req->pool, st, 5);
        f->order_number = col(req->pool, st, 6);
        f->transport_doc = col(req->pool, st, 7);
        f->destination = col(req->pool, st, 8);
        f->currency = col(req->pool, st, 9);
        f->value_minor = sqlite3_column_int64(st, 10);
        f->date = sqlite3_column_int(st, 11);
        f->amendment = sqlite3_column_int(st, 12);
        f->lane = col(req->pool, st, 13);
        f->codes = col(req->pool, st, 14);
        f->collection = col(req->pool, st, 15);
        f->duty_minor = sqlite3_column_int64(st, 16);
        f->tax_minor = sqlite3_column_int64(st, 17);
        f->due_minor = sqlite3_column_int64(st, 18);
        if (f->lane == NULL || f->collection == NULL || f->codes == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        out->count++;
    }
    if (src != SQLITE_DONE) {
        rc = cw_store__err_from_sqlite(src);
        goto out;
    }
    out->items = items;
    (void)sqlite3_reset(st);
    st = NULL;
    buyer = q->buyer_key != NULL && q->buyer_key[0] != '\0';
    seller = q->seller_key != NULL && q->seller_key[0] != '\0' && q->bands_len > 0;
    if (buyer) {
        CW_TRY(buyer_totals(db, ledger, q, out));
    }
    if (seller) {
        CW_TRY(band_counts(db, ledger, q, out));
    }
    /* Only the window total and the bands leave a resend out. */
    buyer = buyer && q->currency != NULL && q->currency[0] != '\0';
    if (buyer || seller) {
        CW_TRY(shipment_out(db, ledger, q, buyer, seller, out));
    }
out:
    if (st != NULL) {
        (void)sqlite3_reset(st);
    }
    return rc;
}

/*
 * The facts and every total of one consignment in one read transaction:
 * they all come from the same snapshot, even while the writer commits,
 * and SQLite checks its page cache against the WAL once for the read, not
 * once per statement (with commits several hundred times a second, each
 * statement of its own found the database changed and reloaded the pages
 * it needed). A caller already in a transaction reads within it.
 */
int cw_store__ledger_facts(sqlite3 *db, cw_store_ledger_t **ledger, cw_store_req_t *req)
{
    sqlite3_stmt *st;
    int own = sqlite3_get_autocommit(db);
    int rc = 0;
    int end = 0;

    if (own) {
        st = ledger_stmt(db, ledger, L_READ_BEGIN, &rc);
        if (st == NULL) {
            return rc;
        }
        CW_TRY(step_done(st));
    }
    rc = facts_read(db, ledger, req);
    if (own) {
        st = ledger_stmt(db, ledger, L_READ_END, &end);
        end = st != NULL ? step_done(st) : end;
        if (end < 0) {
            /* A read transaction that cannot end leaves nothing behind;
             * the connection must not stay in it. */
            (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            rc = rc < 0 ? rc : end;
        }
    }
out:
    return rc;
}

int cw_store__ledger_stats(sqlite3 *db, cw_store_ledger_t **ledger, cw_store_req_t *req)
{
    static const ledger_stmt_e by_group[] = {
        [CW_STORE_GROUP_DESTINATION] = L_STATS_DESTINATION,
        [CW_STORE_GROUP_LANE] = L_STATS_LANE,
        [CW_STORE_GROUP_CODE] = L_STATS_CODE,
        [CW_STORE_GROUP_SENDER] = L_STATS_SENDER,
        [CW_STORE_GROUP_COLLECTION] = L_STATS_COLLECTION,
    };
    const cw_store_stats_query_t *q = &req->in.stats;
    cw_store_tallies_t *out = &req->out.stats;
    cw_store_tally_t *items = NULL;
    size_t cap = 0;
    sqlite3_stmt *st;
    int src;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    st = ledger_stmt(db, ledger, by_group[q->group_by], &rc);
    if (st == NULL) {
        return rc;
    }
    (void)sqlite3_bind_int64(st, 1, q->from_ms);
    (void)sqlite3_bind_int64(st, 2, q->to_ms);
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        cw_store_tally_t *t;

        if (out->count == cap) {
            size_t ncap = cap == 0 ? 16 : cap * 2;
            cw_store_tally_t *n;

            if (ncap > CW_STORE_FACTS_MAX) {
                break; /* groups are few; a bound all the same */
            }
            n = cw_pool_alloc(req->pool, ncap * sizeof(*n));
            if (n == NULL) {
                rc = CW_ENOMEM;
                goto out;
            }
            if (items != NULL) {
                memcpy(n, items, out->count * sizeof(*n));
            }
            items = n;
            cap = ncap;
        }
        t = &items[out->count];
        t->group = col(req->pool, st, 0);
        t->currency = col(req->pool, st, 1);
        t->count = (uint64_t)sqlite3_column_int64(st, 2);
        t->declared_minor = sqlite3_column_int64(st, 3);
        t->duty_minor = sqlite3_column_int64(st, 4);
        t->tax_minor = sqlite3_column_int64(st, 5);
        t->due_minor = sqlite3_column_int64(st, 6);
        if (t->group == NULL || t->currency == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        out->count++;
    }
    if (src != SQLITE_DONE && src != SQLITE_ROW) {
        rc = cw_store__err_from_sqlite(src);
        goto out;
    }
    out->items = items;
out:
    (void)sqlite3_reset(st);
    return rc;
}

void cw_store__ledger_free(cw_store_ledger_t *ledger)
{
    size_t i;

    if (ledger == NULL) {
        return;
    }
    for (i = 0; i < L_COUNT; i++) {
        (void)sqlite3_finalize(ledger->stmts[i]);
    }
    cw_free(ledger);
}
