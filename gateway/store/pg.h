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
 * Outside any transaction (one consistent snapshot of its own). */
CW_MUST_CHECK int cw_store__pg_facts(PGconn *conn,
                                     const cw_store_facts_query_t *q,
                                     cw_pool_t *pool,
                                     cw_store_facts_t *out);

/* The STATS request: req->in.stats in, req->out.stats out, memory in
 * req->pool. */
CW_MUST_CHECK int cw_store__pg_stats(PGconn *conn, cw_store_req_t *req);

#endif /* CW_STORE_PG_H */
