/*
 * The PostgreSQL backend's internals, shared by postgres.c (connections,
 * threads, messages and deliveries) and postgres_ledger.c (the facilitation
 * ledger). Used only inside gateway/store and by its unit tests.
 *
 * Every function here runs on one thread with one connection of its own and
 * never blocks on another connection. Statements are sent with
 * PQexecParams and text parameters; bytea columns travel as binary
 * parameters and results (format 1) so that nothing is escaped.
 */
#ifndef CW_STORE_PG_H
#define CW_STORE_PG_H

#include <libpq-fe.h>
#include <stdint.h>

#include "internal.h"

/*
 * Maps a failed result (res may be NULL: the connection failed) onto CW_E*:
 * a lost connection, an I/O, disk-full or resource error CW_EIO; a
 * serialization failure, a deadlock or a lock timeout CW_EBUSY; a unique
 * violation CW_EEXIST; anything else CW_EINTERNAL. Logs the server's
 * message with what (the operation) once.
 */
int cw_store__pg_err(PGconn *conn, const PGresult *res, const char *what);

/*
 * Runs sql with n text parameters (NULL: SQL NULL) and returns the result
 * when its status is PGRES_COMMAND_OK or PGRES_TUPLES_OK; otherwise clears
 * it, sets *rc from cw_store__pg_err and returns NULL. formats (may be
 * NULL: all text) and lengths give binary parameters; binary_result asks
 * for binary columns. The caller PQclear()s the result.
 */
PGresult *cw_store__pg_exec(PGconn *conn,
                            const char *sql,
                            int n,
                            const char *const *values,
                            const int *lengths,
                            const int *formats,
                            int binary_result,
                            int *rc);

/*
 * Pipelined statements (libpq's pipeline mode): several statements sent in
 * one round trip and their results read in order. Each statement runs in a
 * snapshot of its own, as when sent one at a time.
 *
 * cw_store__pg_pipe_begin prepares each of the n statements sqls[i] (with
 * nparams[i] parameters) that this connection has not prepared yet, then
 * enters pipeline mode: 0, or CW_E* with the connection out of pipeline
 * mode. cw_store__pg_pipe_send queues one statement (0 or CW_EIO);
 * cw_store__pg_pipe_sync sends them all; cw_store__pg_pipe_result returns
 * the next statement's result, as cw_store__pg_exec does (NULL and *rc on
 * failure; a statement after a failed one fails too);
 * cw_store__pg_pipe_end reads what is left up to the sync and leaves
 * pipeline mode: 0, or CW_EIO when the connection is no longer usable.
 */
CW_MUST_CHECK int
cw_store__pg_pipe_begin(PGconn *conn, const char *const *sqls, const int *nparams, size_t n);
CW_MUST_CHECK int
cw_store__pg_pipe_send(PGconn *conn, const char *sql, int n, const char *const *values);
CW_MUST_CHECK int cw_store__pg_pipe_sync(PGconn *conn);
PGresult *cw_store__pg_pipe_result(PGconn *conn, const char *sql, int *rc);
CW_MUST_CHECK int cw_store__pg_pipe_end(PGconn *conn);

/* Room for a decimal int64 and its terminator. */
#define CW_STORE_PG_I64_SIZE 24

/* Runs a statement without parameters or results: 0 or CW_E*. */
int cw_store__pg_exec_plain(PGconn *conn, const char *sql);
/* The same with n text parameters; the rows it changed in *changed (may
 * be NULL). */
CW_MUST_CHECK int cw_store__pg_exec_n(
    PGconn *conn, const char *sql, int n, const char *const *values, int64_t *changed);
/* v in decimal, for a text parameter. */
void cw_store__pg_i64(char out[CW_STORE_PG_I64_SIZE], int64_t v);
/* A column as int64 (0 for NULL); CW_EINTERNAL when it is not a number. */
CW_MUST_CHECK int cw_store__pg_col_i64(const PGresult *res, int row, int col, int64_t *out);

/* ==== The operations (postgres_sql.c) ==== */

/* Runs req (any kind) on conn, inside the caller's transaction for a
 * write: 0, a refusal (CW_ESTALE, CW_EPERM, CW_ENOENT: nothing written),
 * or another CW_E*. Results in req->out, memory in req->pool. */
CW_MUST_CHECK int cw_store__pg_op(PGconn *conn, cw_store_req_t *req);

/* ==== The schema (postgres_schema.c) ==== */

/*
 * Checks that conn's database is a Clearway store or empty and migrates it
 * to this binary's version; where names the database in messages. 0, or
 * CW_ECONFIG (not a Clearway store, newer schema, server too old) / CW_EIO
 * with err set. Blocking; at open.
 */
CW_MUST_CHECK int cw_store__pg_schema_check(PGconn *conn, const char *where, cw_error_t *err);

/* ==== The ledger (postgres_ledger.c) ==== */

/*
 * The ledger's DDL, NULL-terminated: its tables, indexes and any
 * functions or triggers, applied by postgres.c in schema version 1 after
 * the messages table (facts.id references messages (id) ON DELETE
 * CASCADE, so a purge takes a message's fact with it).
 */
extern const char *const cw_store__pg_ledger_schema[];

/*
 * A put's fact in the put's own statement (postgres_sql.c), one round trip
 * for the message and its fact: a WITH item inserting the fact of message
 * row m (the statement's first item) and one inserting its codes. Takes
 * parameters $21 to $40 (cw_store__pg_fact_params); with $21 NULL nothing
 * is inserted. The columns are those of the ledger's schema above.
 */
#define CW_STORE_PG_FACT_CTE                                                                     \
    " f AS (INSERT INTO facts (id, consignment_id, sender, buyer_key, seller_key, business_key," \
    " content_digest, order_number, transport_doc, destination, currency, value_minor, date,"    \
    " amendment, lane, collection, duty_minor, tax_minor, due_minor, at_ms)"                     \
    " SELECT id, $21::text, $22::text, $23::text, $24::text, $25::text, $26::text, $27::text,"   \
    " $28::text, $29::text, $30::text, $31::bigint, $32::integer, $33::integer, $34::text,"      \
    " $35::text, $36::bigint, $37::bigint, $38::bigint, $39::bigint FROM m"                      \
    " WHERE $21::text IS NOT NULL RETURNING id),"                                                \
    " fc AS (INSERT INTO fact_codes (fact, seq, code)"                                           \
    " SELECT f.id, row_number() OVER (ORDER BY k.o), k.code"                                     \
    " FROM f, unnest(string_to_array($40::text, ' ')) WITH ORDINALITY AS k (code, o)"            \
    " WHERE k.code <> '')"

/* Parameters of CW_STORE_PG_FACT_CTE, and room for the numbers among them. */
#define CW_STORE_PG_FACT_PARAMS 20
typedef struct cw_store_pg_fact_text {
    char n[7][CW_STORE_PG_I64_SIZE];
} cw_store_pg_fact_text_t;

/* Fills values[0..CW_STORE_PG_FACT_PARAMS) for fact f recorded at at_ms
 * (the numbers written into buf, which must outlive the call that sends
 * them). */
void cw_store__pg_fact_params(const cw_store_fact_t *f,
                              int64_t at_ms,
                              cw_store_pg_fact_text_t *buf,
                              const char *values[CW_STORE_PG_FACT_PARAMS]);

/* The FACTS query of q: results in *out, every string and array in pool.
 * Outside any transaction: its statements each read a snapshot of their
 * own (postgres_ledger.c says why). */
CW_MUST_CHECK int cw_store__pg_facts(PGconn *conn,
                                     const cw_store_facts_query_t *q,
                                     cw_pool_t *pool,
                                     cw_store_facts_t *out);

/* The STATS request: req->in.stats in, req->out.stats out, memory in
 * req->pool. */
CW_MUST_CHECK int cw_store__pg_stats(PGconn *conn, cw_store_req_t *req);

#endif /* CW_STORE_PG_H */
