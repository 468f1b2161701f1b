/*
 * The facilitation ledger on PostgreSQL: the same facts, totals and
 * statistics as the SQLite ledger (sqlite_ledger.c), over libpq. A fact is
 * written in its message's transaction (postgres.c opens it), read by the
 * stateful checks (three statements, each in its own snapshot:
 * cw_store__pg_facts), and summed by the statistics.
 *
 * Choices that differ from SQLite, and why:
 *  - No buyer_days table and no triggers: the buyer's totals are summed
 *    from facts itself, through facts_buyer, an index on (buyer_key, date)
 *    that carries the columns the sums read, so a buyer's year of facts is
 *    one index-only range scan. Under MVCC the sum of the snapshot's facts
 *    is right by construction, while a per-day table would be one more row
 *    that every node's intake updates (a hot row under the buyer's lock)
 *    and one more thing a purge's cascade must keep in step.
 *  - The resend exclusions (the same consignment id, or transport
 *    document) are subtracted inside the totals' statements, from the
 *    facts the exclusion indexes find, instead of in C after a third read.
 *  - Every string column is NOT NULL (a NULL string of a fact is stored
 *    as '', as the SQLite ledger binds it) and COLLATE "C": keys compare
 *    byte for byte, as they do in SQLite, so the statistics come out in
 *    SQLite's order (BINARY) whatever the database's locale, and the
 *    indexes on hex keys compare with memcmp.
 *  - The codes of a fact go in with the fact, in one statement.
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* Bytes of the text of any int64 ("-9223372036854775808") with its NUL. */
#define I64_TEXT 24

/* The bands as two bigint[] literals, "{lo,lo,...}": CW_STORE_BANDS_MAX
 * values of at most 20 characters, their commas and braces. */
#define BANDS_TEXT (CW_STORE_BANDS_MAX * (I64_TEXT - 3) + 8)

/* ==== Schema ==== */

const char *const cw_store__pg_ledger_schema[] = {
    /* One row per assessed consignment; its id is its message's. */
    "CREATE TABLE facts ("
    " id BIGINT PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,"
    " consignment_id TEXT COLLATE \"C\" NOT NULL,"
    " sender TEXT COLLATE \"C\" NOT NULL,"
    " buyer_key TEXT COLLATE \"C\" NOT NULL,"
    " seller_key TEXT COLLATE \"C\" NOT NULL,"
    " business_key TEXT COLLATE \"C\" NOT NULL,"
    " content_digest TEXT COLLATE \"C\" NOT NULL,"
    " order_number TEXT COLLATE \"C\" NOT NULL,"
    " transport_doc TEXT COLLATE \"C\" NOT NULL,"
    " destination TEXT COLLATE \"C\" NOT NULL,"
    " currency TEXT COLLATE \"C\" NOT NULL,"
    " value_minor BIGINT NOT NULL,"
    " date INTEGER NOT NULL,"
    " amendment INTEGER NOT NULL,"
    " lane TEXT COLLATE \"C\" NOT NULL,"
    " collection TEXT COLLATE \"C\" NOT NULL,"
    " duty_minor BIGINT NOT NULL,"
    " tax_minor BIGINT NOT NULL,"
    " due_minor BIGINT NOT NULL,"
    " at_ms BIGINT NOT NULL)",
    /* The finding codes, in the order given; the key serves the codes
     * read, the statistics' join and the cascade. */
    "CREATE TABLE fact_codes ("
    " fact BIGINT NOT NULL REFERENCES facts (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " code TEXT COLLATE \"C\" NOT NULL,"
    " PRIMARY KEY (fact, seq))",
    /* The rows of the facts read: by business key, and by seller and
     * order number (only facts with an order number are ever sought). */
    "CREATE INDEX facts_business ON facts (business_key)",
    "CREATE INDEX facts_seller_order ON facts (seller_key, order_number)"
    " WHERE order_number <> ''",
    /* The seller's value bands, counted from the index alone. */
    "CREATE INDEX facts_seller_band ON facts (seller_key, currency, value_minor, date)",
    /* The buyer's year and window totals, summed from the index alone. */
    "CREATE INDEX facts_buyer ON facts (buyer_key, date)"
    " INCLUDE (currency, destination, lane, value_minor)",
    /* The resend exclusions. A consignment id of '' is sought like any
     * other (as in SQLite); a transport document of '' never is. */
    "CREATE INDEX facts_consignment ON facts (consignment_id)",
    "CREATE INDEX facts_transport ON facts (transport_doc) WHERE transport_doc <> ''",
    /* The statistics' time range. */
    "CREATE INDEX facts_at ON facts (at_ms)",
    NULL,
};

/* ==== Statements ==== */

#define FACT_FIELDS 19

/* The rows: by seller and order number, or by business key; "" matches
 * nothing. The codes column is rebuilt from fact_codes, in seq order. */
static const char facts_sql[] =
    "SELECT consignment_id, sender, buyer_key, seller_key, business_key, content_digest,"
    " order_number, transport_doc, destination, currency, value_minor, date, amendment, lane,"
    " coalesce((SELECT string_agg(c.code, ' ' ORDER BY c.seq) FROM fact_codes c"
    " WHERE c.fact = f.id), ''),"
    " collection, duty_minor, tax_minor, due_minor FROM facts f"
    " WHERE ($1::text <> '' AND $2::text <> '' AND f.order_number <> ''"
    " AND f.seller_key = $1 AND f.order_number = $2)"
    " OR ($3::text <> '' AND f.business_key = $3)"
    " LIMIT $4::bigint";

/*
 * The buyer's totals (cw_store_facts_t), in one pass over the buyer's
 * facts from the earlier of the two starts: the year's for the
 * destination outside the red lane, and the window's in the currency.
 * From the window's are taken the facts of this shipment (the same
 * consignment id, or the same transport document when there is one),
 * found through their own indexes; without a currency there is no
 * window total and nothing is sought.
 *   $1 buyer_key, $2 destination, $3 year_start, $4 until_date,
 *   $5 split_since_date, $6 currency, $7 consignment_id, $8 transport_doc
 */
static const char buyer_sql[] =
    "SELECT t.year_minor, t.n - s.n, t.total_minor - s.total_minor FROM"
    " (SELECT coalesce(sum(value_minor) FILTER (WHERE destination = $2::text"
    " AND date >= $3::integer AND lane <> 'red'), 0)::bigint AS year_minor,"
    " count(*) FILTER (WHERE currency = $6::text AND date >= $5::integer) AS n,"
    " coalesce(sum(value_minor) FILTER (WHERE currency = $6 AND date >= $5), 0)::bigint"
    " AS total_minor"
    " FROM facts WHERE buyer_key = $1::text AND date BETWEEN least($3, $5) AND $4::integer) t,"
    " (SELECT count(*) AS n, coalesce(sum(value_minor), 0)::bigint AS total_minor FROM facts"
    " WHERE $6 <> '' AND (consignment_id = $7::text"
    " OR ($8::text <> '' AND transport_doc <> '' AND transport_doc = $8))"
    " AND buyer_key = $1 AND currency = $6 AND date BETWEEN $5 AND $4) s";

/*
 * The seller's facts per value band, in the bands' order, less those of
 * this consignment id (its own earlier facts, read once).
 *   $1 seller_key, $2 currency, $3 lo[], $4 hi[], $5 cluster_since_date,
 *   $6 until_date, $7 consignment_id
 */
static const char bands_sql[] =
    "WITH s AS MATERIALIZED (SELECT value_minor FROM facts WHERE consignment_id = $7::text"
    " AND seller_key = $1::text AND currency = $2::text"
    " AND date BETWEEN $5::integer AND $6::integer)"
    " SELECT (SELECT count(*) FROM facts f WHERE f.seller_key = $1 AND f.currency = $2"
    " AND f.value_minor BETWEEN b.lo AND b.hi AND f.date BETWEEN $5 AND $6)"
    " - (SELECT count(*) FROM s WHERE s.value_minor BETWEEN b.lo AND b.hi)"
    " FROM unnest($3::bigint[], $4::bigint[]) WITH ORDINALITY AS b (lo, hi, i)"
    " ORDER BY b.i";

/* Sums per group and currency in [$1, $2), at most $3 lines; the order is
 * that of bytes (every text column is COLLATE "C"). */
#define STATS_SQL(col, from)                                                            \
    "SELECT " col ", f.currency, count(*), sum(f.value_minor)::bigint,"                 \
    " sum(f.duty_minor)::bigint, sum(f.tax_minor)::bigint, sum(f.due_minor)::bigint"    \
    " FROM " from " WHERE f.at_ms >= $1::bigint AND f.at_ms < $2::bigint GROUP BY 1, 2" \
    " ORDER BY 1, 2 LIMIT $3::bigint"

#define STATS_FIELDS 7

static const char *const stats_sql[] = {
    [CW_STORE_GROUP_DESTINATION] = STATS_SQL("f.destination", "facts f"),
    [CW_STORE_GROUP_LANE] = STATS_SQL("f.lane", "facts f"),
    [CW_STORE_GROUP_CODE] = STATS_SQL("c.code", "facts f JOIN fact_codes c ON c.fact = f.id"),
    [CW_STORE_GROUP_SENDER] = STATS_SQL("f.sender", "facts f"),
    [CW_STORE_GROUP_COLLECTION] = STATS_SQL("f.collection", "facts f"),
};

/* ==== Values in and out ==== */

static const char *text_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static int is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void i64_text(char out[I64_TEXT], int64_t v)
{
    (void)snprintf(out, I64_TEXT, "%" PRId64, v);
}

/* The bands' lows or highs as a bigint[] literal: 0 or CW_EINTERNAL. */
static int bands_text(char out[BANDS_TEXT], const cw_store_facts_query_t *q, int high)
{
    size_t len = 0;
    size_t n = q->bands_len < CW_STORE_BANDS_MAX ? q->bands_len : CW_STORE_BANDS_MAX;

    out[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + len, BANDS_TEXT - len, "%s%" PRId64, i > 0 ? "," : "",
                         high ? q->bands[i].hi : q->bands[i].lo);

        if (CW_NEVER(w < 0 || (size_t)w >= BANDS_TEXT - len - 1)) {
            return CW_EINTERNAL;
        }
        len += (size_t)w;
    }
    out[len++] = '}';
    out[len] = '\0';
    return 0;
}

/* Does res have the shape a statement of ours promised? */
static int shape_ok(const PGresult *res, int fields, const char *what)
{
    if (PQnfields(res) != fields) {
        CW_LOG_ERROR(CW_STORE_MOD, "store: PostgreSQL: %s: %d columns, not %d", what,
                     PQnfields(res), fields);
        return 0;
    }
    return 1;
}

/* Column c of row r as an integer in [min, max]: 0, or CW_EINTERNAL for a
 * NULL or anything but a whole decimal number in range. */
static int col_int(const PGresult *res, int r, int c, int64_t min, int64_t max, int64_t *out)
{
    const char *s = PQgetvalue(res, r, c);
    char *end = NULL;
    long long v;

    if (PQgetisnull(res, r, c) || s == NULL || s[0] == '\0') {
        goto bad;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        goto bad;
    }
    *out = (int64_t)v;
    return 0;
bad:
    CW_LOG_ERROR(CW_STORE_MOD, "store: PostgreSQL: malformed integer in column %d: \"%.32s\"", c,
                 s != NULL ? s : "(null)");
    return CW_EINTERNAL;
}

static int col_i64(const PGresult *res, int r, int c, int64_t *out)
{
    return col_int(res, r, c, INT64_MIN, INT64_MAX, out);
}

static int col_i32(const PGresult *res, int r, int c, int32_t *out)
{
    int64_t v = 0;
    int rc = col_int(res, r, c, INT32_MIN, INT32_MAX, &v);

    *out = rc == 0 ? (int32_t)v : 0;
    return rc;
}

/* Column c of row r copied into pool ("" for a NULL); NULL on OOM. */
static const char *col_str(cw_pool_t *pool, const PGresult *res, int r, int c)
{
    return cw_pool_strndup(pool, PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c));
}

/* ==== Writing ==== */

void cw_store__pg_fact_params(const cw_store_fact_t *f,
                              int64_t at_ms,
                              cw_store_pg_fact_text_t *buf,
                              const char *values[CW_STORE_PG_FACT_PARAMS])
{
    i64_text(buf->n[0], f->value_minor);
    i64_text(buf->n[1], f->date);
    i64_text(buf->n[2], f->amendment);
    i64_text(buf->n[3], f->duty_minor);
    i64_text(buf->n[4], f->tax_minor);
    i64_text(buf->n[5], f->due_minor);
    i64_text(buf->n[6], at_ms);
    values[0] = text_or_empty(f->consignment_id);
    values[1] = text_or_empty(f->sender);
    values[2] = text_or_empty(f->buyer_key);
    values[3] = text_or_empty(f->seller_key);
    values[4] = text_or_empty(f->business_key);
    values[5] = text_or_empty(f->content_digest);
    values[6] = text_or_empty(f->order_number);
    values[7] = text_or_empty(f->transport_doc);
    values[8] = text_or_empty(f->destination);
    values[9] = text_or_empty(f->currency);
    values[10] = buf->n[0];
    values[11] = buf->n[1];
    values[12] = buf->n[2];
    values[13] = text_or_empty(f->lane);
    values[14] = text_or_empty(f->collection);
    values[15] = buf->n[3];
    values[16] = buf->n[4];
    values[17] = buf->n[5];
    values[18] = buf->n[6];
    values[19] = text_or_empty(f->codes);
}

/* ==== The facts read ==== */

/* Row r of res into f, its strings in pool. */
static int fact_from_row(cw_store_fact_t *f, const PGresult *res, int r, cw_pool_t *pool)
{
    const char **strs[] = {
        [0] = &f->consignment_id, [1] = &f->sender,        [2] = &f->buyer_key,
        [3] = &f->seller_key,     [4] = &f->business_key,  [5] = &f->content_digest,
        [6] = &f->order_number,   [7] = &f->transport_doc, [8] = &f->destination,
        [9] = &f->currency,       [13] = &f->lane,         [14] = &f->codes,
        [15] = &f->collection,
    };
    int64_t amendment = 0;
    int rc = 0;

    for (int c = 0; c < (int)CW_ARRAY_SIZE(strs); c++) {
        if (strs[c] != NULL) {
            *strs[c] = col_str(pool, res, r, c);
            CW_CHECK_ALLOC(*strs[c]);
        }
    }
    CW_TRY(col_i64(res, r, 10, &f->value_minor));
    CW_TRY(col_i32(res, r, 11, &f->date));
    CW_TRY(col_int(res, r, 12, INT32_MIN, INT32_MAX, &amendment));
    f->amendment = (int)amendment;
    CW_TRY(col_i64(res, r, 16, &f->duty_minor));
    CW_TRY(col_i64(res, r, 17, &f->tax_minor));
    CW_TRY(col_i64(res, r, 18, &f->due_minor));
out:
    return rc;
}

/*
 * The three reads of cw_store__pg_facts, each as the statement, its text
 * parameters (their buffers live here until the results are read) and the
 * reading of its result.
 */
typedef struct facts_params {
    char limit[I64_TEXT];
    char year_start[I64_TEXT];
    char until[I64_TEXT];
    char since[I64_TEXT];
    char cluster_since[I64_TEXT];
    char lo[BANDS_TEXT];
    char hi[BANDS_TEXT];
    const char *rows[4];
    const char *buyer[8];
    const char *bands[7];
} facts_params_t;

/* Which of the three reads q needs: rows (something to match), the
 * buyer's totals (a buyer) and the seller's bands (a seller and bands). */
static int want_rows(const cw_store_facts_query_t *q)
{
    return (is_set(q->seller_key) && is_set(q->order_number)) || is_set(q->business_key);
}

static int want_buyer(const cw_store_facts_query_t *q)
{
    return is_set(q->buyer_key);
}

static int want_bands(const cw_store_facts_query_t *q)
{
    return is_set(q->seller_key) && q->bands_len > 0;
}

static int facts_params(facts_params_t *p, const cw_store_facts_query_t *q)
{
    int rc = 0;

    i64_text(p->limit, (int64_t)CW_STORE_FACTS_MAX);
    p->rows[0] = text_or_empty(q->seller_key);
    p->rows[1] = text_or_empty(q->order_number);
    p->rows[2] = text_or_empty(q->business_key);
    p->rows[3] = p->limit;

    i64_text(p->year_start, q->year_start);
    i64_text(p->until, q->until_date);
    i64_text(p->since, q->split_since_date);
    p->buyer[0] = text_or_empty(q->buyer_key);
    p->buyer[1] = text_or_empty(q->destination);
    p->buyer[2] = p->year_start;
    p->buyer[3] = p->until;
    p->buyer[4] = p->since;
    p->buyer[5] = text_or_empty(q->currency);
    p->buyer[6] = text_or_empty(q->consignment_id);
    p->buyer[7] = text_or_empty(q->transport_doc);

    if (want_bands(q)) {
        CW_TRY(bands_text(p->lo, q, 0));
        CW_TRY(bands_text(p->hi, q, 1));
    }
    i64_text(p->cluster_since, q->cluster_since_date);
    p->bands[0] = text_or_empty(q->seller_key);
    p->bands[1] = text_or_empty(q->currency);
    p->bands[2] = p->lo;
    p->bands[3] = p->hi;
    p->bands[4] = p->cluster_since;
    p->bands[5] = p->until;
    p->bands[6] = text_or_empty(q->consignment_id);
out:
    return rc;
}

/* The rows of the facts read (cw_store_facts_query_t), from res. */
static int rows_parse(const PGresult *res, cw_pool_t *pool, cw_store_facts_t *out)
{
    cw_store_fact_t *items = NULL;
    int n = PQntuples(res);
    int rc = 0;

    if (!shape_ok(res, FACT_FIELDS, "facts") || CW_NEVER(n < 0 || n > (int)CW_STORE_FACTS_MAX)) {
        return CW_EINTERNAL;
    }
    if (n > 0) {
        items = cw_pool_alloc(pool, (size_t)n * sizeof(*items));
        CW_CHECK_ALLOC(items);
    }
    for (int r = 0; r < n; r++) {
        CW_TRY(fact_from_row(&items[r], res, r, pool));
    }
    out->items = items;
    out->count = (size_t)n;
out:
    return rc;
}

/* The buyer's year total and window totals (cw_store_facts_t), from res. */
static int buyer_parse(const PGresult *res, const cw_store_facts_query_t *q, cw_store_facts_t *out)
{
    int64_t year = 0;
    int64_t count = 0;
    int64_t total = 0;
    int rc = 0;

    if (!shape_ok(res, 3, "buyer totals") || PQntuples(res) != 1) {
        return CW_EINTERNAL;
    }
    CW_TRY(col_i64(res, 0, 0, &year));
    CW_TRY(col_i64(res, 0, 1, &count));
    CW_TRY(col_i64(res, 0, 2, &total));
    out->buyer_year_total_minor = year;
    /* Without a currency there is no window total. */
    if (is_set(q->currency)) {
        out->buyer_count = count;
        out->buyer_total_minor = total;
    }
out:
    return rc;
}

/* The seller's facts per value band (cw_store_facts_t.band_count), from res. */
static int bands_parse(const PGresult *res, const cw_store_facts_query_t *q, cw_store_facts_t *out)
{
    size_t n = q->bands_len < CW_STORE_BANDS_MAX ? q->bands_len : CW_STORE_BANDS_MAX;
    int rc = 0;

    if (!shape_ok(res, 1, "band counts") || PQntuples(res) != (int)n) {
        return CW_EINTERNAL;
    }
    for (size_t i = 0; i < n; i++) {
        CW_TRY(col_i64(res, (int)i, 0, &out->band_count[i]));
    }
out:
    return rc;
}

/* One read, alone: its round trip. */
static int read_one(PGconn *conn,
                    const char *sql,
                    int n,
                    const char *const *values,
                    int which,
                    const cw_store_facts_query_t *q,
                    cw_pool_t *pool,
                    cw_store_facts_t *out)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, sql, n, values, NULL, NULL, 0, &rc);
    if (res == NULL) {
        return rc;
    }
    rc = which == 0   ? rows_parse(res, pool, out)
         : which == 1 ? buyer_parse(res, q, out)
                      : bands_parse(res, q, out);
    PQclear(res);
    return rc;
}

static int
facts_read(PGconn *conn, const cw_store_facts_query_t *q, cw_pool_t *pool, cw_store_facts_t *out)
{
    facts_params_t p;
    const char *sqls[3];
    const char *const *values[3];
    int nparams[3];
    int which[3];
    size_t n = 0;
    size_t i;
    int end;
    int rc = 0;

    CW_TRY(facts_params(&p, q));
    if (want_rows(q)) {
        sqls[n] = facts_sql, values[n] = p.rows, nparams[n] = 4, which[n++] = 0;
    }
    if (want_buyer(q)) {
        sqls[n] = buyer_sql, values[n] = p.buyer, nparams[n] = 8, which[n++] = 1;
    }
    if (want_bands(q)) {
        sqls[n] = bands_sql, values[n] = p.bands, nparams[n] = 7, which[n++] = 2;
    }
    if (n == 1) {
        return read_one(conn, sqls[0], nparams[0], values[0], which[0], q, pool, out);
    }
    if (n == 0) {
        return 0;
    }
    /* Two or three: sent together, one round trip instead of each its own. */
    CW_TRY(cw_store__pg_pipe_begin(conn, sqls, nparams, n));
    for (i = 0; i < n && rc == 0; i++) {
        rc = cw_store__pg_pipe_send(conn, sqls[i], nparams[i], values[i]);
    }
    if (rc == 0) {
        rc = cw_store__pg_pipe_sync(conn);
    }
    for (i = 0; i < n && rc == 0; i++) {
        PGresult *res = cw_store__pg_pipe_result(conn, sqls[i], &rc);

        if (res == NULL) {
            break;
        }
        rc = which[i] == 0   ? rows_parse(res, pool, out)
             : which[i] == 1 ? buyer_parse(res, q, out)
                             : bands_parse(res, q, out);
        PQclear(res);
    }
    end = cw_store__pg_pipe_end(conn);
    rc = rc < 0 ? rc : end;
out:
    return rc;
}

/*
 * The rows and every total of one consignment: three statements, each in
 * a snapshot of its own, without a transaction around them. The
 * transaction (BEGIN ... READ ONLY, COMMIT) cost two of five round trips
 * to the server on every message's intake, and bought nothing the checks
 * use: each total is computed inside one statement (the shipment's own
 * facts subtracted there), each check reads one of the three, and a fact
 * committed between two of them is one that a consignment assessed a
 * moment earlier would not have seen either (intake does not serialise a
 * buyer's consignments; neither does SQLite's). Two or three of them go
 * out together in one round trip (pipeline mode, facts_read). The
 * connection must be idle (pg.h).
 */
int cw_store__pg_facts(PGconn *conn,
                       const cw_store_facts_query_t *q,
                       cw_pool_t *pool,
                       cw_store_facts_t *out)
{
    PGTransactionStatusType tx = PQtransactionStatus(conn);
    int rc;

    memset(out, 0, sizeof(*out));
    if (CW_NEVER(tx == PQTRANS_ACTIVE || tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR)) {
        return CW_EINTERNAL;
    }
    rc = facts_read(conn, q, pool, out);
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
    }
    return rc;
}

/* ==== The statistics ==== */

int cw_store__pg_stats(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_stats_query_t *q = &req->in.stats;
    cw_store_tallies_t *out = &req->out.stats;
    cw_store_tally_t *items = NULL;
    char from[I64_TEXT];
    char to[I64_TEXT];
    char limit[I64_TEXT];
    const char *values[3];
    PGresult *res = NULL;
    int n;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (CW_NEVER((size_t)q->group_by >= CW_ARRAY_SIZE(stats_sql))) {
        return CW_EINVAL;
    }
    i64_text(from, q->from_ms);
    i64_text(to, q->to_ms);
    /* Groups are few; a bound all the same. */
    i64_text(limit, (int64_t)CW_STORE_FACTS_MAX);
    values[0] = from;
    values[1] = to;
    values[2] = limit;
    res = cw_store__pg_exec(conn, stats_sql[q->group_by], 3, values, NULL, NULL, 0, &rc);
    if (res == NULL) {
        goto out;
    }
    n = PQntuples(res);
    if (!shape_ok(res, STATS_FIELDS, "stats") || CW_NEVER(n < 0 || n > (int)CW_STORE_FACTS_MAX)) {
        rc = CW_EINTERNAL;
        goto out;
    }
    if (n > 0) {
        items = cw_pool_alloc(req->pool, (size_t)n * sizeof(*items));
        CW_CHECK_ALLOC(items);
    }
    for (int r = 0; r < n; r++) {
        cw_store_tally_t *t = &items[r];
        int64_t count = 0;

        t->group = col_str(req->pool, res, r, 0);
        t->currency = col_str(req->pool, res, r, 1);
        CW_CHECK_ALLOC(t->group);
        CW_CHECK_ALLOC(t->currency);
        CW_TRY(col_int(res, r, 2, 0, INT64_MAX, &count));
        t->count = (uint64_t)count;
        CW_TRY(col_i64(res, r, 3, &t->declared_minor));
        CW_TRY(col_i64(res, r, 4, &t->duty_minor));
        CW_TRY(col_i64(res, r, 5, &t->tax_minor));
        CW_TRY(col_i64(res, r, 6, &t->due_minor));
    }
    out->items = items;
    out->count = (size_t)n;
out:
    if (rc < 0) {
        memset(out, 0, sizeof(*out));
    }
    PQclear(res);
    return rc;
}
