/*
 * The PostgreSQL backend's operations: the statements and what each
 * request of store.h does with them, on the connection of the thread that
 * runs it (postgres.c decides which and wraps them in transactions).
 * Every statement is a static string with $n parameters, so that a
 * connection prepares it once (cw_store__pg_exec).
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg.h"

/* ==== Statements ==== */

/* The columns of a status row, shared by GET and LIST (see info_read). */
#define INFO_COLUMNS                                                                        \
    "m.id, m.from_party, m.message_id, m.to_party, m.service, m.action, m.conversation_id," \
    " m.timestamp, m.digest, m.state, m.problem, m.created_at_ms, m.updated_at_ms,"         \
    " coalesce(d.route, ''), coalesce(d.attempts, 0), coalesce(d.last_error, ''),"          \
    " coalesce(d.next_attempt_at_ms, 0)"
/* The first delivery of a message (one per message today). */
#define INFO_JOIN                                       \
    " FROM messages m LEFT JOIN deliveries d ON d.id =" \
    " (SELECT min(id) FROM deliveries WHERE message = m.id)"
/* $2: ",queued,failed," or "" for every state. */
#define LIST_STATES " AND ($2 = '' OR position(',' || m.state || ',' IN $2) > 0)"

/*
 * A message, its first state and its delivery in one statement (one round
 * trip). An accepted message gives way to a stored one with the same key
 * (ON CONFLICT DO NOTHING: nothing is returned, and nothing else inserted);
 * a rejected one never takes the key. $15 (the route) is NULL unless the
 * message is queued; $21 to $40 are the fact's (NULL: none).
 */
#define PUT_SQL(conflict)                                                                         \
    "WITH m AS (INSERT INTO messages (from_party, message_id, digest, to_party, service, action," \
    " conversation_id, timestamp, state, problem, received, receipt_given, created_at_ms,"        \
    " updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "            \
    "$13)" conflict " RETURNING id),"                                                             \
    " h AS (INSERT INTO message_states (message, seq, state, at_ms, note)"                        \
    " SELECT id, 1, $9::text, $13::bigint, $14::text FROM m),"                                    \
    " d AS (INSERT INTO deliveries (message, route, outgoing, state, next_attempt_at_ms,"         \
    " first_queued_at_ms, outgoing_id, outgoing_digest, evidence_at)"                             \
    " SELECT id, $15::text, $16::bytea, 'queued', $17::bigint, $13::bigint, $18::text,"           \
    " $19::bytea, $20::bigint FROM m WHERE $15::text IS NOT NULL)," CW_STORE_PG_FACT_CTE          \
    " SELECT id FROM m"
static const char SQL_PUT[] =
    PUT_SQL(" ON CONFLICT (from_party, message_id) WHERE state <> 'rejected' DO NOTHING");
static const char SQL_PUT_REJECTED[] = PUT_SQL("");
static const char SQL_DEDUPE[] = "SELECT id, digest, receipt_given, state FROM messages"
                                 " WHERE from_party = $1 AND message_id = $2"
                                 " AND state <> 'rejected'";
static const char SQL_HIST[] = "INSERT INTO message_states (message, seq, state, at_ms, note)"
                               " VALUES ($1, (SELECT coalesce(max(seq), 0) + 1"
                               " FROM message_states WHERE message = $1), $2, $3, $4)";
static const char SQL_GET[] =
    "SELECT " INFO_COLUMNS ", m.receipt_given, m.receipt_received, m.received" INFO_JOIN
    " WHERE m.from_party = $1 AND m.message_id = $2"
    " ORDER BY (m.state = 'rejected'), m.id DESC LIMIT 1";
static const char SQL_HISTORY[] =
    "SELECT state, at_ms, note FROM message_states WHERE message = $1 ORDER BY seq";
/* Three shapes of a page, as with SQLite, so that each prepared plan can
 * use its index: every message newest first (the primary key), one
 * destination's (messages_to), failed and rejected only
 * (messages_attention). $3 is the destination in the second only. */
static const char SQL_LIST[] =
    "SELECT " INFO_COLUMNS INFO_JOIN " WHERE m.id < $1" LIST_STATES " AND $3::text IS NULL"
    " AND m.created_at_ms >= $4 ORDER BY m.id DESC LIMIT $5";
static const char SQL_LIST_TO[] =
    "SELECT " INFO_COLUMNS INFO_JOIN " WHERE m.to_party = $3 AND m.id < $1" LIST_STATES
    " AND m.created_at_ms >= $4 ORDER BY m.id DESC LIMIT $5";
static const char SQL_LIST_ATTENTION[] =
    "SELECT " INFO_COLUMNS INFO_JOIN
    " WHERE m.id < $1 AND m.state IN ('failed', 'rejected')" LIST_STATES " AND $3::text IS NULL"
    " AND m.created_at_ms >= $4 ORDER BY m.id DESC LIMIT $5";
static const char SQL_KEY_STATE[] = "SELECT id, state FROM messages"
                                    " WHERE from_party = $1 AND message_id = $2"
                                    " AND state <> 'rejected' FOR UPDATE";
static const char SQL_REQUEUE[] = "UPDATE deliveries SET state = 'queued', attempts = 0,"
                                  " next_attempt_at_ms = $2, first_queued_at_ms = $2,"
                                  " lease_owner = NULL, lease_until_ms = 0"
                                  " WHERE message = $1 AND state = 'failed'";
static const char SQL_SET_STATE[] = "UPDATE messages SET state = $2, updated_at_ms = $3"
                                    " WHERE id = $1";
static const char SQL_PURGE[] = "DELETE FROM messages WHERE id IN (SELECT id FROM messages"
                                " WHERE state = 'delivered' AND updated_at_ms < $1"
                                " ORDER BY updated_at_ms LIMIT $2 FOR UPDATE SKIP LOCKED)";
/* Locks the due rows nobody else is locking and leases them at once. */
static const char SQL_CLAIM[] =
    "WITH due AS (SELECT id FROM deliveries WHERE state = 'queued'"
    " AND next_attempt_at_ms <= $1 AND (lease_owner IS NULL OR lease_until_ms <= $1)"
    " AND ($2::text IS NULL OR route = $2)"
    " ORDER BY next_attempt_at_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
    " UPDATE deliveries d SET lease_owner = $4, lease_until_ms = $5"
    " FROM due, messages m WHERE d.id = due.id AND m.id = d.message"
    " RETURNING d.id, m.from_party, m.message_id, m.to_party, d.route, d.outgoing,"
    " d.attempts, d.first_queued_at_ms, d.outgoing_id, d.outgoing_digest,"
    " d.next_attempt_at_ms, d.evidence_at,"
    " CASE WHEN d.evidence_at IS NOT NULL THEN m.received END";
static const char SQL_DELIV_GET[] = "SELECT message, state, lease_owner FROM deliveries"
                                    " WHERE id = $1 FOR UPDATE";
static const char SQL_ATTEMPT[] = "INSERT INTO attempts (delivery, at_ms, owner, outcome,"
                                  " http_status, error) VALUES ($1, $2, $3, $4, $5, $6)";
static const char SQL_DELIV_DONE[] =
    "UPDATE deliveries SET state = $2, attempts = attempts + $5::int,"
    " lease_owner = NULL, lease_until_ms = 0, last_error = $3,"
    " next_attempt_at_ms = coalesce($4::bigint, next_attempt_at_ms) WHERE id = $1";
static const char SQL_DELIVERED[] = "UPDATE messages SET state = 'delivered',"
                                    " receipt_received = $2, updated_at_ms = $3 WHERE id = $1";

/* Every message is visited (no index holds the state); on the reader's
 * connection, so no write waits for it. */
static const char SQL_STATE_COUNTS[] = "SELECT state, count(*) FROM messages GROUP BY state";

/* ==== Results ==== */

/* Runs a statement without parameters or results. */
int cw_store__pg_exec_plain(PGconn *conn, const char *sql)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, sql, 0, NULL, NULL, NULL, 0, &rc);
    PQclear(res);
    return rc;
}

/* Like exec_plain, with text parameters, and the number of rows it
 * changed in *changed (may be NULL). */
int cw_store__pg_exec_n(
    PGconn *conn, const char *sql, int n, const char *const *values, int64_t *changed)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, sql, n, values, NULL, NULL, 0, &rc);
    if (res == NULL) {
        return rc;
    }
    if (changed != NULL) {
        *changed = strtoll(PQcmdTuples(res), NULL, 10);
    }
    PQclear(res);
    return 0;
}

void cw_store__pg_i64(char out[CW_STORE_PG_I64_SIZE], int64_t v)
{
    (void)snprintf(out, CW_STORE_PG_I64_SIZE, "%" PRId64, v);
}

/* A column as int64: CW_EINTERNAL when it is not a whole decimal number. */
int cw_store__pg_col_i64(const PGresult *res, int row, int col, int64_t *out)
{
    const char *s = PQgetvalue(res, row, col);
    char *end = NULL;
    long long v;

    if (PQgetisnull(res, row, col)) {
        *out = 0;
        return 0;
    }
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0') {
        return CW_EINTERNAL;
    }
    *out = v;
    return 0;
}

/* A text column copied into pool ("" for NULL). */
static const char *col_str(cw_pool_t *pool, const PGresult *res, int row, int col)
{
    return cw_pool_strndup(pool, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

/*
 * A bytea column (text format, hex: "\x0a1b...") decoded into pool; NULL
 * and 0 for SQL NULL. CW_EINTERNAL for anything but hex output.
 */
static int
col_bytes(cw_pool_t *pool, const PGresult *res, int row, int col, const char **out, size_t *len)
{
    const char *s = PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col);
    unsigned char *p;
    size_t i;

    *out = NULL;
    *len = 0;
    if (PQgetisnull(res, row, col)) {
        return 0;
    }
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2 != 0) {
        return CW_EINTERNAL;
    }
    /* One byte more, so that an empty value is not NULL and text is
     * terminated for the callers that print it. */
    p = cw_pool_alloc(pool, (n - 2) / 2 + 1);
    if (p == NULL) {
        return CW_ENOMEM;
    }
    for (i = 0; i < (n - 2) / 2; i++) {
        int hi = cw_hex_digit(s[2 + 2 * i]);
        int lo = cw_hex_digit(s[3 + 2 * i]);

        if (hi < 0 || lo < 0) {
            return CW_EINTERNAL;
        }
        p[i] = (unsigned char)(hi << 4 | lo);
    }
    *out = (const char *)p;
    *len = (n - 2) / 2;
    return 0;
}

static int col_state(const PGresult *res, int row, int col, cw_store_state_e *out)
{
    return cw_store_state_parse(PQgetvalue(res, row, col), out) < 0 ? CW_EINTERNAL : 0;
}

/* ==== Operations ==== */

static int
history_add(PGconn *conn, int64_t msg_row, cw_store_state_e state, int64_t at_ms, const char *note)
{
    char row[CW_STORE_PG_I64_SIZE];
    char at[CW_STORE_PG_I64_SIZE];
    const char *v[4];

    cw_store__pg_i64(row, msg_row);
    cw_store__pg_i64(at, at_ms);
    v[0] = row;
    v[1] = cw_store_state_name(state);
    v[2] = at;
    v[3] = note != NULL ? note : "";
    return cw_store__pg_exec_n(conn, SQL_HIST, 4, v, NULL);
}

static int msg_set_state(PGconn *conn, int64_t msg_row, cw_store_state_e state, int64_t at_ms)
{
    char row[CW_STORE_PG_I64_SIZE];
    char at[CW_STORE_PG_I64_SIZE];
    const char *v[3];

    cw_store__pg_i64(row, msg_row);
    cw_store__pg_i64(at, at_ms);
    v[0] = row;
    v[1] = cw_store_state_name(state);
    v[2] = at;
    return cw_store__pg_exec_n(conn, SQL_SET_STATE, 3, v, NULL);
}

/* The stored message with the key of req: DUPLICATE or CONFLICT. */
static int put_dedupe(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_msg_t *m = &req->in.put;
    cw_store_put_result_t *res = &req->out.put;
    const char *v[2] = { m->from, m->message_id };
    const char *digest = NULL;
    size_t digest_len = 0;
    PGresult *r;
    int rc = 0;

    r = cw_store__pg_exec(conn, SQL_DEDUPE, 2, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        /* The conflicting insert rolled back after ours gave way: the
         * sender's retry stores it. */
        rc = CW_EBUSY;
        goto out;
    }
    CW_TRY(cw_store__pg_col_i64(r, 0, 0, &res->msg_row));
    CW_TRY(col_bytes(req->pool, r, 0, 1, &digest, &digest_len));
    CW_TRY(col_state(r, 0, 3, &res->state));
    if (digest_len == CW_STORE_DIGEST_BYTES
        && memcmp(digest, m->digest_sha256, CW_STORE_DIGEST_BYTES) == 0) {
        res->kind = CW_STORE_PUT_DUPLICATE;
        CW_TRY(col_bytes(req->pool, r, 0, 2, &res->receipt, &res->receipt_len));
    } else {
        res->kind = CW_STORE_PUT_CONFLICT;
    }
out:
    PQclear(r);
    return rc;
}

static int op_put(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_msg_t *m = &req->in.put;
    cw_store_put_result_t *res = &req->out.put;
    int queued = m->state == CW_STORE_STATE_QUEUED;
    int has_id = queued && m->outgoing_id != NULL && m->outgoing_digest != NULL;
    char created[CW_STORE_PG_I64_SIZE];
    char next[CW_STORE_PG_I64_SIZE];
    char evidence_at[CW_STORE_PG_I64_SIZE];
    cw_store_pg_fact_text_t fact_text;
    const char *v[20 + CW_STORE_PG_FACT_PARAMS] = { NULL };
    int len[20 + CW_STORE_PG_FACT_PARAMS] = { 0 };
    int fmt[20 + CW_STORE_PG_FACT_PARAMS] = { 0 };
    PGresult *r;
    int rc = 0;

    cw_store__pg_i64(created, m->created_at_ms);
    cw_store__pg_i64(next, m->next_attempt_at_ms);
    cw_store__pg_i64(evidence_at, (int64_t)m->outgoing_evidence_at);
    v[0] = m->from;
    v[1] = m->message_id;
    v[2] = (const char *)m->digest_sha256;
    len[2] = CW_STORE_DIGEST_BYTES;
    fmt[2] = 1;
    v[3] = m->to != NULL ? m->to : "";
    v[4] = m->service != NULL ? m->service : "";
    v[5] = m->action != NULL ? m->action : "";
    v[6] = m->conversation_id != NULL ? m->conversation_id : "";
    v[7] = m->timestamp != NULL ? m->timestamp : "";
    v[8] = cw_store_state_name(m->state);
    v[9] = m->problem != NULL ? m->problem : "";
    v[10] = m->received;
    len[10] = (int)m->received_len;
    fmt[10] = 1;
    v[11] = m->receipt;
    len[11] = (int)m->receipt_len;
    fmt[11] = 1;
    v[12] = created;
    v[13] = m->state == CW_STORE_STATE_REJECTED ? v[9] : "";
    v[14] = queued ? m->route : NULL;
    v[15] = queued ? m->outgoing : NULL;
    len[15] = queued ? (int)m->outgoing_len : 0;
    fmt[15] = 1;
    v[16] = next;
    v[17] = has_id ? m->outgoing_id : NULL;
    v[18] = has_id ? (const char *)m->outgoing_digest : NULL;
    len[18] = has_id ? 32 : 0;
    fmt[18] = 1;
    v[19] = queued && m->outgoing_evidence_at > 0 ? evidence_at : NULL;
    if (m->fact != NULL) {
        cw_store__pg_fact_params(m->fact, m->created_at_ms, &fact_text, v + 20);
    }
    r = cw_store__pg_exec(conn, m->state == CW_STORE_STATE_REJECTED ? SQL_PUT_REJECTED : SQL_PUT,
                          20 + CW_STORE_PG_FACT_PARAMS, v, len, fmt, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) == 0) {
        /* The key is taken (ON CONFLICT DO NOTHING inserted nothing). */
        PQclear(r);
        return put_dedupe(conn, req);
    }
    rc = cw_store__pg_col_i64(r, 0, 0, &res->msg_row);
    PQclear(r);
    if (rc < 0) {
        return rc;
    }
    res->kind = CW_STORE_PUT_NEW;
    res->state = m->state;
    res->receipt = m->receipt;
    res->receipt_len = m->receipt_len;
    return 0;
}

/* Fills info from row i of a result of INFO_COLUMNS. */
static int info_read(cw_pool_t *pool, const PGresult *r, int i, cw_store_msg_info_t *info)
{
    const char *digest = NULL;
    size_t digest_len = 0;
    int64_t attempts = 0;
    int rc = 0;

    CW_TRY(cw_store__pg_col_i64(r, i, 0, &info->row));
    info->from = col_str(pool, r, i, 1);
    info->message_id = col_str(pool, r, i, 2);
    info->to = col_str(pool, r, i, 3);
    info->service = col_str(pool, r, i, 4);
    info->action = col_str(pool, r, i, 5);
    info->conversation_id = col_str(pool, r, i, 6);
    info->timestamp = col_str(pool, r, i, 7);
    CW_TRY(col_bytes(pool, r, i, 8, &digest, &digest_len));
    if (digest_len == CW_STORE_DIGEST_BYTES) {
        memcpy(info->digest_sha256, digest, CW_STORE_DIGEST_BYTES);
    }
    CW_TRY(col_state(r, i, 9, &info->state));
    info->problem = col_str(pool, r, i, 10);
    CW_TRY(cw_store__pg_col_i64(r, i, 11, &info->created_at_ms));
    CW_TRY(cw_store__pg_col_i64(r, i, 12, &info->updated_at_ms));
    info->route = col_str(pool, r, i, 13);
    CW_TRY(cw_store__pg_col_i64(r, i, 14, &attempts));
    info->attempts = (uint32_t)attempts;
    info->last_error = col_str(pool, r, i, 15);
    CW_TRY(cw_store__pg_col_i64(r, i, 16, &info->next_attempt_at_ms));
    if (info->state != CW_STORE_STATE_QUEUED) {
        info->next_attempt_at_ms = 0;
    }
    if (info->from == NULL || info->message_id == NULL || info->to == NULL || info->service == NULL
        || info->action == NULL || info->conversation_id == NULL || info->timestamp == NULL
        || info->problem == NULL || info->route == NULL || info->last_error == NULL) {
        rc = CW_ENOMEM;
    }
out:
    return rc;
}

static int get_history(PGconn *conn, cw_store_req_t *req)
{
    cw_store_msg_info_t *info = &req->out.get;
    cw_store_history_t *hist;
    char row[CW_STORE_PG_I64_SIZE];
    const char *v[1] = { row };
    PGresult *r;
    int n;
    int i;
    int rc = 0;

    cw_store__pg_i64(row, info->row);
    r = cw_store__pg_exec(conn, SQL_HISTORY, 1, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    n = PQntuples(r);
    hist = cw_pool_alloc(req->pool, (size_t)(n > 0 ? n : 1) * sizeof(*hist));
    CW_CHECK_ALLOC(hist);
    for (i = 0; i < n; i++) {
        CW_TRY(col_state(r, i, 0, &hist[i].state));
        CW_TRY(cw_store__pg_col_i64(r, i, 1, &hist[i].at_ms));
        hist[i].note = col_str(req->pool, r, i, 2);
        CW_CHECK_ALLOC(hist[i].note);
    }
    info->history = hist;
    info->history_count = (size_t)n;
out:
    PQclear(r);
    return rc;
}

static int op_get(PGconn *conn, cw_store_req_t *req)
{
    cw_store_msg_info_t *info = &req->out.get;
    const char *v[2] = { req->in.key.from, req->in.key.message_id };
    PGresult *r;
    int rc = 0;

    r = cw_store__pg_exec(conn, SQL_GET, 2, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        rc = CW_ENOENT;
        goto out;
    }
    CW_TRY(info_read(req->pool, r, 0, info));
    CW_TRY(col_bytes(req->pool, r, 0, 17, &info->receipt_given, &info->receipt_given_len));
    CW_TRY(col_bytes(req->pool, r, 0, 18, &info->receipt_received, &info->receipt_received_len));
    CW_TRY(col_bytes(req->pool, r, 0, 19, &info->received, &info->received_len));
    PQclear(r);
    r = NULL;
    CW_TRY(get_history(conn, req));
out:
    PQclear(r);
    return rc;
}

/* The page's statement for f (see SQL_LIST). */
static const char *list_sql(const cw_store_filter_t *f)
{
    const uint32_t attention = (1u << CW_STORE_STATE_FAILED) | (1u << CW_STORE_STATE_REJECTED);

    if (f->to != NULL) {
        return SQL_LIST_TO;
    }
    if (f->states_mask != 0 && (f->states_mask & ~attention) == 0) {
        return SQL_LIST_ATTENTION;
    }
    return SQL_LIST;
}

static int op_list(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_filter_t *f = &req->in.list.filter;
    cw_store_page_t *page = &req->out.list;
    cw_store_msg_info_t *items;
    char states[96];
    char cursor_row[CW_STORE_PG_I64_SIZE];
    char since[CW_STORE_PG_I64_SIZE];
    char limit[CW_STORE_PG_I64_SIZE];
    const char *v[5];
    char *cursor;
    PGresult *r;
    int n;
    int i;
    int rc = 0;

    items = cw_pool_alloc(req->pool, (size_t)f->limit * sizeof(*items));
    if (items == NULL) {
        return CW_ENOMEM;
    }
    page->items = items;
    cw_store__states_csv(f->states_mask, states, sizeof(states));
    cw_store__pg_i64(cursor_row, req->in.list.cursor_row);
    cw_store__pg_i64(since, f->since_ms);
    /* One row more than the page tells whether another page follows. */
    cw_store__pg_i64(limit, (int64_t)f->limit + 1);
    v[0] = cursor_row;
    v[1] = states;
    v[2] = f->to;
    v[3] = since;
    v[4] = limit;
    r = cw_store__pg_exec(conn, list_sql(f), 5, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    n = PQntuples(r);
    for (i = 0; i < n && page->count < f->limit; i++) {
        CW_TRY(info_read(req->pool, r, i, &items[page->count]));
        page->count++;
    }
    if (n > (int)f->limit) {
        cursor = cw_pool_alloc(req->pool, CW_STORE_CURSOR_SIZE);
        CW_CHECK_ALLOC(cursor);
        (void)snprintf(cursor, CW_STORE_CURSOR_SIZE, "r%" PRId64, items[page->count - 1].row);
        page->next_cursor = cursor;
    }
out:
    PQclear(r);
    return rc;
}

static int op_count(PGconn *conn, cw_store_req_t *req)
{
    cw_store_state_counts_t *c = &req->out.counts;
    cw_store_state_e state;
    PGresult *r;
    int64_t n;
    int i;
    int rc = 0;

    r = cw_store__pg_exec(conn, SQL_STATE_COUNTS, 0, NULL, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQnfields(r) != 2) {
        rc = CW_EINTERNAL;
        goto out;
    }
    for (i = 0; i < PQntuples(r); i++) {
        CW_TRY(col_state(r, i, 0, &state));
        CW_TRY(cw_store__pg_col_i64(r, i, 1, &n));
        c->n[state] = n > 0 ? (uint64_t)n : 0;
        c->total += c->n[state];
    }
out:
    PQclear(r);
    return rc;
}

static int op_retry(PGconn *conn, cw_store_req_t *req)
{
    const char *v[2] = { req->in.key.from, req->in.key.message_id };
    cw_store_state_e state = CW_STORE_STATE_RECEIVED;
    char row_s[CW_STORE_PG_I64_SIZE];
    char now[CW_STORE_PG_I64_SIZE];
    const char *u[2] = { row_s, now };
    int64_t row = 0;
    int64_t changed = 0;
    PGresult *r;
    int rc = 0;

    r = cw_store__pg_exec(conn, SQL_KEY_STATE, 2, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        rc = CW_ENOENT;
    } else if ((rc = cw_store__pg_col_i64(r, 0, 0, &row)) == 0) {
        rc = col_state(r, 0, 1, &state);
    }
    PQclear(r);
    if (rc < 0) {
        return rc;
    }
    if (state != CW_STORE_STATE_FAILED) {
        return CW_EPERM;
    }
    cw_store__pg_i64(row_s, row);
    cw_store__pg_i64(now, req->in.key.now_ms);
    CW_TRY(cw_store__pg_exec_n(conn, SQL_REQUEUE, 2, u, &changed));
    if (changed == 0) {
        /* Failed without a delivery row: nothing to send again. */
        return CW_EPERM;
    }
    CW_TRY(msg_set_state(conn, row, CW_STORE_STATE_QUEUED, req->in.key.now_ms));
    CW_TRY(history_add(conn, row, CW_STORE_STATE_QUEUED, req->in.key.now_ms, "retry requested"));
out:
    return rc;
}

static int op_purge(PGconn *conn, cw_store_req_t *req)
{
    char before[CW_STORE_PG_I64_SIZE];
    char batch[CW_STORE_PG_I64_SIZE];
    const char *v[2] = { before, batch };
    int64_t changed = 0;
    int rc = 0;

    req->in.purge.batch_last = 0;
    cw_store__pg_i64(before, req->in.purge.before_ms);
    cw_store__pg_i64(batch, req->in.purge.batch_max);
    CW_TRY(cw_store__pg_exec_n(conn, SQL_PURGE, 2, v, &changed));
    /* Counted now, taken back if the transaction does not commit. */
    req->in.purge.batch_last = (uint32_t)changed;
    req->out.purged += (uint64_t)changed;
    /* A full batch means there may be more: go to the back of the queue. */
    req->again = (uint32_t)changed == req->in.purge.batch_max;
out:
    return rc;
}

/* A claimed envelope kept without its evidence: the stored bytes (column
 * 5) with the base64 of the message's received bytes (column 12) put back
 * at evidence_at (column 11). */
static int outgoing_whole(cw_pool_t *pool, const PGresult *r, int k, cw_store_delivery_t *d)
{
    const char *kept = NULL;
    const char *raw = NULL;
    size_t kept_len = 0;
    size_t raw_len = 0;
    int64_t at = 0;
    int rc = 0;

    CW_TRY(col_bytes(pool, r, k, 5, &kept, &kept_len));
    CW_TRY(col_bytes(pool, r, k, 12, &raw, &raw_len));
    CW_TRY(cw_store__pg_col_i64(r, k, 11, &at));
    rc = cw_store__outgoing_whole(pool, d->id, kept, kept_len, at, raw, raw_len, &d->outgoing,
                                  &d->outgoing_len);
out:
    return rc;
}

/* Oldest due first, as a claim promises; RETURNING keeps no order. */
static int claim_cmp(const void *a, const void *b)
{
    const int64_t *x = a;
    const int64_t *y = b;

    if (x[0] != y[0]) {
        return x[0] < y[0] ? -1 : 1;
    }
    return (x[1] > y[1]) - (x[1] < y[1]);
}

static int op_claim(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_claim_t *c = &req->in.claim;
    cw_store_claimed_t *res = &req->out.claim;
    cw_store_delivery_t *items;
    char now[CW_STORE_PG_I64_SIZE];
    char limit[CW_STORE_PG_I64_SIZE];
    char until[CW_STORE_PG_I64_SIZE];
    const char *v[5];
    int64_t(*order)[3] = NULL;
    PGresult *r;
    int n;
    int i;
    int rc = 0;

    cw_store__pg_i64(now, c->now_ms);
    cw_store__pg_i64(limit, c->limit);
    cw_store__pg_i64(until, c->now_ms + c->lease_ms);
    v[0] = now;
    v[1] = c->route;
    v[2] = limit;
    v[3] = c->owner;
    v[4] = until;
    r = cw_store__pg_exec(conn, SQL_CLAIM, 5, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    n = PQntuples(r);
    if (n > (int)c->limit) {
        rc = CW_EINTERNAL;
        goto out;
    }
    items = cw_pool_alloc(req->pool, (size_t)(n > 0 ? n : 1) * sizeof(*items));
    order = cw_calloc((size_t)(n > 0 ? n : 1), sizeof(*order));
    if (items == NULL || order == NULL) {
        rc = CW_ENOMEM;
        goto out;
    }
    for (i = 0; i < n; i++) {
        CW_TRY(cw_store__pg_col_i64(r, i, 10, &order[i][0]));
        CW_TRY(cw_store__pg_col_i64(r, i, 0, &order[i][1]));
        order[i][2] = i;
    }
    qsort(order, (size_t)n, sizeof(*order), claim_cmp);
    for (i = 0; i < n; i++) {
        cw_store_delivery_t *d = &items[i];
        int k = (int)order[i][2];
        const char *digest = NULL;
        size_t digest_len = 0;
        int64_t attempts = 0;

        d->id = order[i][1];
        d->from = col_str(req->pool, r, k, 1);
        d->message_id = col_str(req->pool, r, k, 2);
        d->to = col_str(req->pool, r, k, 3);
        d->route = col_str(req->pool, r, k, 4);
        if (d->from == NULL || d->message_id == NULL || d->to == NULL || d->route == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        if (PQgetisnull(r, k, 11)) {
            CW_TRY(col_bytes(req->pool, r, k, 5, &d->outgoing, &d->outgoing_len));
        } else {
            CW_TRY(outgoing_whole(req->pool, r, k, d));
        }
        CW_TRY(cw_store__pg_col_i64(r, k, 6, &attempts));
        d->attempts = (uint32_t)attempts;
        CW_TRY(cw_store__pg_col_i64(r, k, 7, &d->first_queued_at_ms));
        CW_TRY(col_bytes(req->pool, r, k, 9, &digest, &digest_len));
        if (!PQgetisnull(r, k, 8) && digest_len == 32) {
            d->outgoing_id = col_str(req->pool, r, k, 8);
            CW_CHECK_ALLOC(d->outgoing_id);
            d->outgoing_digest = (const unsigned char *)digest;
        }
        d->lease_until_ms = c->now_ms + c->lease_ms;
    }
    res->items = items;
    res->count = (size_t)n;
out:
    cw_free(order);
    PQclear(r);
    return rc;
}

/*
 * An attempt's error as PostgreSQL takes it: its text may quote a peer's
 * answer, and a byte that is not valid UTF-8 would make the server refuse
 * the whole record (and the delivery come back at its lease's end, again
 * and again). Bytes outside printable ASCII become '?'. NULL: "".
 */
static const char *text_clean(cw_pool_t *pool, const char *s)
{
    size_t n;
    size_t i;
    char *out;

    if (s == NULL) {
        return "";
    }
    n = strlen(s);
    out = cw_pool_alloc(pool, n + 1);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
    return out;
}

/* Locks the delivery's row and checks that it is queued and leased to
 * owner: the lock orders this against a claim by another node. */
static int record_check(PGconn *conn, const cw_store_attempt_t *a, int64_t *msg_row)
{
    char id[CW_STORE_PG_I64_SIZE];
    const char *v[1] = { id };
    PGresult *r;
    int rc = 0;

    cw_store__pg_i64(id, a->delivery_id);
    r = cw_store__pg_exec(conn, SQL_DELIV_GET, 1, v, NULL, NULL, 0, &rc);
    if (r == NULL) {
        return rc;
    }
    if (PQntuples(r) != 1) {
        rc = CW_ENOENT;
        goto out;
    }
    CW_TRY(cw_store__pg_col_i64(r, 0, 0, msg_row));
    if (strcmp(PQgetvalue(r, 0, 1), "queued") != 0 || PQgetisnull(r, 0, 2)
        || strcmp(PQgetvalue(r, 0, 2), a->owner) != 0) {
        rc = CW_ESTALE;
    }
out:
    PQclear(r);
    return rc;
}

static int op_record(PGconn *conn, cw_store_req_t *req)
{
    const cw_store_attempt_t *a = &req->in.attempt;
    char id[CW_STORE_PG_I64_SIZE];
    char at[CW_STORE_PG_I64_SIZE];
    char status[CW_STORE_PG_I64_SIZE];
    char next[CW_STORE_PG_I64_SIZE];
    char row_s[CW_STORE_PG_I64_SIZE];
    const char *v[6];
    int len[3] = { 0 };
    int fmt[3] = { 0 };
    char note[128];
    const char *error;
    int64_t msg_row = 0;
    PGresult *r;
    int rc = 0;

    error = text_clean(req->pool, a->error);
    CW_CHECK_ALLOC(error);
    CW_TRY(record_check(conn, a, &msg_row));
    cw_store__pg_i64(id, a->delivery_id);
    cw_store__pg_i64(at, a->at_ms);
    cw_store__pg_i64(status, a->http_status);
    v[0] = id;
    v[1] = at;
    v[2] = a->owner;
    v[3] = cw_store__outcome_name(a->outcome);
    v[4] = status;
    v[5] = error;
    CW_TRY(cw_store__pg_exec_n(conn, SQL_ATTEMPT, 6, v, NULL));

    cw_store__pg_i64(next, a->next_attempt_at_ms);
    v[0] = id;
    v[1] = a->outcome == CW_STORE_OUTCOME_DELIVERED ? "delivered"
           : a->outcome == CW_STORE_OUTCOME_FAILED  ? "failed"
                                                    : "queued";
    v[2] = a->outcome == CW_STORE_OUTCOME_DELIVERED ? "" : error;
    v[3] = a->outcome == CW_STORE_OUTCOME_RETRY || a->outcome == CW_STORE_OUTCOME_RETRY_LOCAL
               ? next
               : NULL;
    /* An attempt that never reached the peer is not counted. */
    v[4] = a->outcome == CW_STORE_OUTCOME_RETRY_LOCAL ? "0" : "1";
    CW_TRY(cw_store__pg_exec_n(conn, SQL_DELIV_DONE, 5, v, NULL));

    switch (a->outcome) {
    case CW_STORE_OUTCOME_DELIVERED:
        cw_store__pg_i64(row_s, msg_row);
        v[0] = row_s;
        v[1] = a->receipt;
        len[1] = (int)a->receipt_len;
        fmt[1] = 1;
        v[2] = at;
        r = cw_store__pg_exec(conn, SQL_DELIVERED, 3, v, len, fmt, 0, &rc);
        if (r == NULL) {
            goto out;
        }
        PQclear(r);
        (void)snprintf(note, sizeof(note), "receipt received (HTTP %d)", a->http_status);
        CW_TRY(history_add(conn, msg_row, CW_STORE_STATE_DELIVERED, a->at_ms, note));
        break;
    case CW_STORE_OUTCOME_FAILED:
        CW_TRY(msg_set_state(conn, msg_row, CW_STORE_STATE_FAILED, a->at_ms));
        CW_TRY(history_add(conn, msg_row, CW_STORE_STATE_FAILED, a->at_ms, error));
        break;
    case CW_STORE_OUTCOME_RETRY:
    case CW_STORE_OUTCOME_RETRY_LOCAL:
        break;
    }
out:
    return rc;
}

int cw_store__pg_op(PGconn *conn, cw_store_req_t *req)
{
    switch (req->kind) {
    case CW_STORE_REQ_PUT:
        return op_put(conn, req);
    case CW_STORE_REQ_GET:
        return op_get(conn, req);
    case CW_STORE_REQ_LIST:
        return op_list(conn, req);
    case CW_STORE_REQ_RETRY:
        return op_retry(conn, req);
    case CW_STORE_REQ_PURGE:
        return op_purge(conn, req);
    case CW_STORE_REQ_CLAIM:
        return op_claim(conn, req);
    case CW_STORE_REQ_RECORD:
        return op_record(conn, req);
    case CW_STORE_REQ_FACTS:
        return cw_store__pg_facts(conn, &req->in.facts, req->pool, &req->out.facts);
    case CW_STORE_REQ_STATS:
        return cw_store__pg_stats(conn, req);
    case CW_STORE_REQ_COUNT:
        return op_count(conn, req);
    }
    return CW_EINTERNAL;
}
