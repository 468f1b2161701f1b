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

/* Records fact for message row msg_row inside the open transaction. */
CW_MUST_CHECK int
cw_store__pg_fact_insert(PGconn *conn, int64_t msg_row, const cw_store_fact_t *fact, int64_t at_ms);

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
