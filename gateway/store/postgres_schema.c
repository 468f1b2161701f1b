/*
 * The PostgreSQL store's schema: proving a database ours (or empty) and
 * migrating it, under an advisory lock so that of several nodes starting
 * at once one migrates and the others wait. Steps are append-only, as
 * SQLite's (schema.c): a released step is never edited, a change is a new
 * step.
 */
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "pg.h"

/* The schema version this binary writes (schema_migrations). */
#define PG_SCHEMA_VERSION 1
/* Key of the advisory lock under which one node at a time migrates. */
#define PG_MIGRATE_LOCK "4851090561893941593"
/* Oldest server supported: identity columns, SKIP LOCKED, to_regclass. */
#define PG_SERVER_MIN 120000

static const char *const schema_v1[] = {
    /* Marks the database as a Clearway store, as SQLite's application_id. */
    "CREATE TABLE clearway_store (application_id INTEGER NOT NULL)",
    "INSERT INTO clearway_store (application_id) VALUES (1129728345)",
    "CREATE TABLE schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " applied_at_ms BIGINT NOT NULL)",

    "CREATE TABLE messages ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " from_party TEXT NOT NULL,"
    " message_id TEXT NOT NULL,"
    " digest BYTEA NOT NULL CHECK (length(digest) = 32),"
    " to_party TEXT NOT NULL DEFAULT '',"
    " service TEXT NOT NULL DEFAULT '',"
    " action TEXT NOT NULL DEFAULT '',"
    " conversation_id TEXT NOT NULL DEFAULT '',"
    " timestamp TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('received','queued','delivered','failed','rejected')),"
    " problem TEXT NOT NULL DEFAULT '',"
    " received BYTEA,"
    " receipt_given BYTEA,"
    " receipt_received BYTEA,"
    " created_at_ms BIGINT NOT NULL,"
    " updated_at_ms BIGINT NOT NULL)",
    /* The dedupe key: accepted messages only, so a rejected message never
     * blocks the corrected one. */
    "CREATE UNIQUE INDEX messages_dedupe ON messages (from_party, message_id)"
    " WHERE state <> 'rejected'",
    "CREATE INDEX messages_key ON messages (from_party, message_id)",
    "CREATE INDEX messages_to ON messages (to_party, id)",
    "CREATE INDEX messages_delivered ON messages (updated_at_ms) WHERE state = 'delivered'",
    "CREATE INDEX messages_attention ON messages (id) WHERE state IN ('failed', 'rejected')",

    "CREATE TABLE message_states ("
    " message BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " at_ms BIGINT NOT NULL,"
    " note TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (message, seq))",

    /* The sealed envelope stays in the row: PostgreSQL keeps a large value
     * out of line (TOAST) and an UPDATE of the other columns leaves it
     * where it is. */
    "CREATE TABLE deliveries ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " message BIGINT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " route TEXT NOT NULL,"
    " outgoing BYTEA NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('queued','delivered','failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at_ms BIGINT NOT NULL,"
    " first_queued_at_ms BIGINT NOT NULL,"
    " lease_owner TEXT,"
    " lease_until_ms BIGINT NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " outgoing_id TEXT,"
    " outgoing_digest BYTEA,"
    /* Where the base64 of the message's received bytes goes back into
     * outgoing, which is kept without it (store.c, outgoing_copy); NULL
     * when outgoing is whole. */
    " evidence_at BIGINT,"
    " UNIQUE (message, route))",
    "CREATE INDEX deliveries_due ON deliveries (next_attempt_at_ms, id) WHERE state = 'queued'",

    "CREATE TABLE attempts ("
    " id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " delivery BIGINT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,"
    " at_ms BIGINT NOT NULL,"
    " owner TEXT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " http_status INTEGER NOT NULL,"
    " error TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX attempts_delivery ON attempts (delivery)",
    /* The envelopes and receipts out of line but not compressed: pglz
     * compression of the evidence and the sealed envelope took most of
     * an intake insert's time on the server (bench/README.md, "The
     * PostgreSQL store"), and SQLite keeps them as they are too. */
    "ALTER TABLE messages ALTER COLUMN received SET STORAGE EXTERNAL,"
    " ALTER COLUMN receipt_given SET STORAGE EXTERNAL,"
    " ALTER COLUMN receipt_received SET STORAGE EXTERNAL",
    "ALTER TABLE deliveries ALTER COLUMN outgoing SET STORAGE EXTERNAL",
    NULL,
};

/* ==== Opening: proving it ours and migrating ==== */

/* Runs a query whose one row's first column is an integer. */
static int query_i64(PGconn *conn, const char *sql, int64_t *out, cw_error_t *err)
{
    PGresult *res;
    int rc = 0;

    res = cw_store__pg_exec(conn, sql, 0, NULL, NULL, NULL, 0, &rc);
    if (res == NULL) {
        return cw_error_set(err, rc, CW_STORE_MOD, "store: PostgreSQL: %s failed", sql);
    }
    if (PQntuples(res) != 1 || cw_store__pg_col_i64(res, 0, 0, out) < 0) {
        rc = cw_error_set(err, CW_EINTERNAL, CW_STORE_MOD, "store: PostgreSQL: %s: no answer", sql);
    }
    PQclear(res);
    return rc;
}

/* Applies the steps from version `from` on, each in a transaction. */
static int migrate(PGconn *conn, int64_t from, cw_error_t *err)
{
    static const char *const *const steps[PG_SCHEMA_VERSION] = { schema_v1 };
    char now[CW_STORE_PG_I64_SIZE];
    char ver[CW_STORE_PG_I64_SIZE];
    const char *v[2] = { ver, now };
    int64_t version;
    size_t i;
    int rc = 0;

    for (version = from; version < PG_SCHEMA_VERSION; version++) {
        rc = cw_store__pg_exec_plain(conn, "BEGIN");
        for (i = 0; rc == 0 && steps[version][i] != NULL; i++) {
            rc = cw_store__pg_exec_plain(conn, steps[version][i]);
        }
        for (i = 0; rc == 0 && version == 0 && cw_store__pg_ledger_schema[i] != NULL; i++) {
            rc = cw_store__pg_exec_plain(conn, cw_store__pg_ledger_schema[i]);
        }
        if (rc == 0) {
            cw_store__pg_i64(ver, version + 1);
            cw_store__pg_i64(now, cw_store_clock_ms());
            rc = cw_store__pg_exec_n(
                conn, "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)", 2,
                v, NULL);
        }
        if (rc == 0) {
            rc = cw_store__pg_exec_plain(conn, "COMMIT");
        }
        if (rc < 0) {
            (void)cw_store__pg_exec_plain(conn, "ROLLBACK");
            return cw_error_set(err, rc, CW_STORE_MOD,
                                "store: PostgreSQL: migrating the schema to version %" PRId64
                                " failed (see the log)",
                                version + 1);
        }
        CW_LOG_INFO(CW_STORE_MOD, "store: PostgreSQL schema migrated to version %" PRId64,
                    version + 1);
    }
    return 0;
}

/*
 * Checks that the database is a Clearway store (or empty) and brings its
 * schema to this binary's version, under an advisory lock so that of
 * several nodes starting at once one migrates and the others wait.
 */
int cw_store__pg_schema_check(PGconn *conn, const char *where, cw_error_t *err)
{
    int64_t ours = 0;
    int64_t tables = 0;
    int64_t version = 0;
    int64_t app = 0;
    int locked = 0;
    int rc = 0;

    if (PQserverVersion(conn) < PG_SERVER_MIN) {
        return cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                            "store: %s: PostgreSQL %d is too old (12 or newer needed)", where,
                            PQserverVersion(conn) / 10000);
    }
    rc = cw_store__pg_exec_plain(conn, "SELECT pg_advisory_lock(" PG_MIGRATE_LOCK ")");
    if (rc < 0) {
        return cw_error_set(err, rc, CW_STORE_MOD, "store: %s: cannot take the migration lock",
                            where);
    }
    locked = 1;
    CW_TRY(query_i64(conn, "SELECT (to_regclass('clearway_store') IS NOT NULL)::int", &ours, err));
    if (!ours) {
        CW_TRY(query_i64(conn,
                         "SELECT count(*) FROM pg_class c JOIN pg_namespace n"
                         " ON n.oid = c.relnamespace WHERE n.nspname = current_schema()"
                         " AND c.relkind IN ('r', 'v', 'm', 'p', 'f')",
                         &tables, err));
        if (tables > 0) {
            rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                              "store: %s: not a Clearway store (its schema has %" PRId64
                              " other tables and no clearway_store table)",
                              where, tables);
            goto out;
        }
        CW_TRY(migrate(conn, 0, err));
        goto out;
    }
    CW_TRY(
        query_i64(conn, "SELECT coalesce(min(application_id), 0) FROM clearway_store", &app, err));
    if (app != 1129728345) {
        rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                          "store: %s: not a Clearway store (clearway_store holds %" PRId64 ")",
                          where, app);
        goto out;
    }
    CW_TRY(
        query_i64(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations", &version, err));
    if (version > PG_SCHEMA_VERSION) {
        rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                          "store: %s: schema version %" PRId64
                          " is newer than this clearwayd's (%d): upgrade clearwayd",
                          where, version, PG_SCHEMA_VERSION);
        goto out;
    }
    CW_TRY(migrate(conn, version, err));
out:
    if (locked) {
        (void)cw_store__pg_exec_plain(conn, "SELECT pg_advisory_unlock(" PG_MIGRATE_LOCK ")");
    }
    return rc;
}
