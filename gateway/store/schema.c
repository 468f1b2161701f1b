/*
 * The SQLite file: opening it, proving it is ours, checking it, and
 * migrating its schema. Runs once at start-up on the opening thread.
 *
 * Versioning: PRAGMA user_version is the schema version; PRAGMA
 * application_id marks the file as a Clearway store. Each migration step is a
 * list of SQL statements applied in one transaction together with the new
 * user_version and a row in schema_migrations, so a crash mid-migration
 * leaves the previous version intact. Steps are append-only: a released step
 * is never edited, a change is a new step.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ==== Migrations ==== */

/* Version 1: the base schema. */
static const char *const schema_v1[] = {
    "CREATE TABLE schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " applied_at_ms INTEGER NOT NULL)",

    /* One row per message received, accepted or rejected. */
    "CREATE TABLE messages ("
    " id INTEGER PRIMARY KEY,"
    " from_party TEXT NOT NULL,"
    " message_id TEXT NOT NULL,"
    " digest BLOB NOT NULL CHECK (length(digest) = 32),"
    " to_party TEXT NOT NULL DEFAULT '',"
    " service TEXT NOT NULL DEFAULT '',"
    " action TEXT NOT NULL DEFAULT '',"
    " conversation_id TEXT NOT NULL DEFAULT '',"
    " timestamp TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK (state IN"
    "  ('received','queued','delivered','failed','rejected')),"
    " problem TEXT NOT NULL DEFAULT '',"
    " received BLOB,"
    " receipt_given BLOB,"
    " receipt_received BLOB,"
    " created_at_ms INTEGER NOT NULL,"
    " updated_at_ms INTEGER NOT NULL)",

    /* The dedupe key: accepted messages only, so a rejected message never
     * blocks the corrected one. */
    "CREATE UNIQUE INDEX messages_dedupe ON messages (from_party, message_id)"
    " WHERE state <> 'rejected'",
    "CREATE INDEX messages_purge ON messages (state, updated_at_ms)",

    "CREATE TABLE message_states ("
    " id INTEGER PRIMARY KEY,"
    " message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " state TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL,"
    " note TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX message_states_message ON message_states (message)",

    /* The delivery schedule: one row per message and route. */
    "CREATE TABLE deliveries ("
    " id INTEGER PRIMARY KEY,"
    " message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " route TEXT NOT NULL,"
    " outgoing BLOB NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('queued','delivered','failed')),"
    " attempts INTEGER NOT NULL DEFAULT 0,"
    " next_attempt_at_ms INTEGER NOT NULL,"
    " first_queued_at_ms INTEGER NOT NULL,"
    " lease_owner TEXT,"
    " lease_until_ms INTEGER NOT NULL DEFAULT 0,"
    " last_error TEXT NOT NULL DEFAULT '',"
    " UNIQUE (message, route))",
    "CREATE INDEX deliveries_due ON deliveries (state, next_attempt_at_ms)",

    "CREATE TABLE attempts ("
    " id INTEGER PRIMARY KEY,"
    " delivery INTEGER NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,"
    " at_ms INTEGER NOT NULL,"
    " owner TEXT NOT NULL,"
    " outcome TEXT NOT NULL,"
    " http_status INTEGER NOT NULL,"
    " error TEXT NOT NULL DEFAULT '')",
    "CREATE INDEX attempts_delivery ON attempts (delivery)",
    NULL,
};

/* Version 2: the status API looks messages up by key whatever their state
 * (the dedupe index covers accepted ones only) and lists them by destination
 * party, newest first. */
static const char *const schema_v2[] = {
    "CREATE INDEX messages_key ON messages (from_party, message_id)",
    "CREATE INDEX messages_to ON messages (to_party, id)",
    NULL,
};

/* Version 3: the facilitation core's ledger. One row of facts per assessed
 * consignment (keys are SHA-256 hex of normalised data, never personal data
 * in clear), recorded in the message's transaction, read by the stateful
 * checks and summed by the statistics; finding codes in their own table so
 * that statistics can group by code. Rows go with their message. */
static const char *const schema_v3[] = {
    "CREATE TABLE facts ("
    " id INTEGER PRIMARY KEY,"
    " message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " consignment_id TEXT, sender TEXT, buyer_key TEXT, seller_key TEXT,"
    " business_key TEXT, content_digest TEXT, order_number TEXT, transport_doc TEXT,"
    " destination TEXT, currency TEXT, value_minor INTEGER NOT NULL DEFAULT 0,"
    " date INTEGER NOT NULL, amendment INTEGER NOT NULL DEFAULT 0,"
    " lane TEXT, collection TEXT, duty_minor INTEGER NOT NULL DEFAULT 0,"
    " tax_minor INTEGER NOT NULL DEFAULT 0, due_minor INTEGER NOT NULL DEFAULT 0,"
    " at_ms INTEGER NOT NULL)",
    "CREATE INDEX facts_buyer ON facts (buyer_key, date)",
    "CREATE INDEX facts_seller ON facts (seller_key, date)",
    "CREATE INDEX facts_business ON facts (business_key)",
    "CREATE INDEX facts_order ON facts (sender, order_number)",
    "CREATE INDEX facts_at ON facts (at_ms)",
    "CREATE TABLE fact_codes ("
    " fact INTEGER NOT NULL REFERENCES facts (id) ON DELETE CASCADE,"
    " code TEXT NOT NULL)",
    "CREATE INDEX fact_codes_fact ON fact_codes (fact)",
    NULL,
};

/* Version 4: the seller's facts are read by value band (THR-002) and by
 * order number (SPL-001), never all of them: indexes that seek straight to
 * those, so a large seller costs the same as a small one. */
static const char *const schema_v4[] = {
    "CREATE INDEX facts_seller_value ON facts (seller_key, value_minor, date)",
    "CREATE INDEX facts_seller_order ON facts (seller_key, order_number)",
    "DROP INDEX facts_seller",
    NULL,
};

/* Version 5: the stateful checks sum a buyer's and a seller's facts
 * instead of reading them back, so that the cost of one consignment does
 * not grow with its buyer's or seller's history. buyer_days keeps each
 * buyer's count and value per day, destination and currency (kept_minor:
 * without the red lane, for the annual total), maintained by triggers on
 * every insert and delete of a fact (a purge's cascade included) and
 * filled from the facts already there. The seller's value bands are
 * counted from a covering index; the two resend exclusions (the same
 * consignment id or transport document) are looked up by their own
 * indexes. */
static const char *const schema_v5[] = {
    "CREATE TABLE buyer_days ("
    " buyer_key TEXT NOT NULL, date INTEGER NOT NULL, destination TEXT NOT NULL,"
    " currency TEXT NOT NULL, n INTEGER NOT NULL, total_minor INTEGER NOT NULL,"
    " kept_minor INTEGER NOT NULL,"
    " PRIMARY KEY (buyer_key, date, destination, currency)) WITHOUT ROWID",
    "INSERT INTO buyer_days (buyer_key, date, destination, currency, n, total_minor, kept_minor)"
    " SELECT buyer_key, date, coalesce(destination, ''), coalesce(currency, ''), count(*),"
    " sum(value_minor), sum(CASE WHEN lane <> 'red' THEN value_minor ELSE 0 END)"
    " FROM facts WHERE buyer_key <> '' GROUP BY 1, 2, 3, 4",
    "CREATE TRIGGER facts_buyer_days_insert AFTER INSERT ON facts WHEN NEW.buyer_key <> ''"
    " BEGIN"
    " INSERT INTO buyer_days (buyer_key, date, destination, currency, n, total_minor,"
    " kept_minor) VALUES (NEW.buyer_key, NEW.date, coalesce(NEW.destination, ''),"
    " coalesce(NEW.currency, ''), 1, NEW.value_minor,"
    " CASE WHEN NEW.lane <> 'red' THEN NEW.value_minor ELSE 0 END)"
    " ON CONFLICT (buyer_key, date, destination, currency) DO UPDATE SET n = n + 1,"
    " total_minor = total_minor + excluded.total_minor,"
    " kept_minor = kept_minor + excluded.kept_minor;"
    " END",
    "CREATE TRIGGER facts_buyer_days_delete AFTER DELETE ON facts WHEN OLD.buyer_key <> ''"
    " BEGIN"
    " UPDATE buyer_days SET n = n - 1, total_minor = total_minor - OLD.value_minor,"
    " kept_minor = kept_minor - CASE WHEN OLD.lane <> 'red' THEN OLD.value_minor ELSE 0 END"
    " WHERE buyer_key = OLD.buyer_key AND date = OLD.date"
    " AND destination = coalesce(OLD.destination, '') AND currency = coalesce(OLD.currency, '');"
    " DELETE FROM buyer_days WHERE buyer_key = OLD.buyer_key AND date = OLD.date"
    " AND destination = coalesce(OLD.destination, '') AND currency = coalesce(OLD.currency, '')"
    " AND n <= 0;"
    " END",
    "CREATE INDEX facts_seller_band ON facts (seller_key, currency, value_minor, date)",
    "DROP INDEX facts_seller_value",
    "CREATE INDEX facts_consignment ON facts (consignment_id)",
    "CREATE INDEX facts_transport ON facts (transport_doc)",
    "DROP INDEX facts_buyer",
    NULL,
};

/* Version 6: fewer B-trees written per message, and a purge that costs
 * the same however many facts the store holds. Each B-tree an insert
 * touches is at least one page of the WAL per commit, and at the rates
 * where a group commit holds one message that is most of what a commit
 * writes (bench/README.md). Four go from intake's path:
 * - one key index instead of two: unique on (from_party, message_id) for
 *   accepted messages and, through the third column, a distinct entry for
 *   each rejected one (its own id), so the dedupe lookup and the status
 *   lookup of any state both seek on its first two columns;
 * - the purge index holds delivered messages only, the only ones a purge
 *   takes, so intake (queued, rejected) never writes it;
 * - the state history and the finding codes are WITHOUT ROWID tables keyed
 *   by their parent and a sequence number: the parent's rows sit together
 *   in the table itself, which needs no index for the history read, the
 *   codes read or the cascade of a purge. The sequence keeps the order
 *   the rows were written in.
 * A message has at most one fact, and a fact's id is now its message's id
 * (the message column goes): deleting a message found its fact by
 * scanning every fact, since nothing indexed facts.message, so a purge
 * batch took time in proportion to the whole ledger; now it is a rowid
 * lookup. The table is rebuilt, and with it its indexes and triggers.
 * (IF EXISTS: stores made by development builds before version 2 took its
 * final form lack messages_key.) */
static const char *const schema_v6[] = {
    "CREATE UNIQUE INDEX messages_from_key ON messages (from_party, message_id,"
    " (CASE WHEN state = 'rejected' THEN id ELSE 0 END))",
    "DROP INDEX IF EXISTS messages_dedupe",
    "DROP INDEX IF EXISTS messages_key",
    "CREATE INDEX messages_delivered ON messages (updated_at_ms) WHERE state = 'delivered'",
    "DROP INDEX IF EXISTS messages_purge",

    "CREATE TABLE message_states_v6 ("
    " message INTEGER NOT NULL REFERENCES messages (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " at_ms INTEGER NOT NULL,"
    " note TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY (message, seq)) WITHOUT ROWID",
    "INSERT INTO message_states_v6 (message, seq, state, at_ms, note)"
    " SELECT message, row_number() OVER (PARTITION BY message ORDER BY id), state, at_ms, note"
    " FROM message_states",
    "DROP TABLE message_states",
    "ALTER TABLE message_states_v6 RENAME TO message_states",

    /* The new tables first; the old ones go children first, so that no
     * cascade reaches a copied row (DROP TABLE fires no triggers). */
    "CREATE TABLE facts_v6 ("
    " id INTEGER PRIMARY KEY REFERENCES messages (id) ON DELETE CASCADE,"
    " consignment_id TEXT, sender TEXT, buyer_key TEXT, seller_key TEXT,"
    " business_key TEXT, content_digest TEXT, order_number TEXT, transport_doc TEXT,"
    " destination TEXT, currency TEXT, value_minor INTEGER NOT NULL DEFAULT 0,"
    " date INTEGER NOT NULL, amendment INTEGER NOT NULL DEFAULT 0,"
    " lane TEXT, collection TEXT, duty_minor INTEGER NOT NULL DEFAULT 0,"
    " tax_minor INTEGER NOT NULL DEFAULT 0, due_minor INTEGER NOT NULL DEFAULT 0,"
    " at_ms INTEGER NOT NULL)",
    "INSERT INTO facts_v6 (id, consignment_id, sender, buyer_key, seller_key, business_key,"
    " content_digest, order_number, transport_doc, destination, currency, value_minor, date,"
    " amendment, lane, collection, duty_minor, tax_minor, due_minor, at_ms)"
    " SELECT message, consignment_id, sender, buyer_key, seller_key, business_key,"
    " content_digest, order_number, transport_doc, destination, currency, value_minor, date,"
    " amendment, lane, collection, duty_minor, tax_minor, due_minor, at_ms FROM facts",
    "CREATE TABLE fact_codes_v6 ("
    " fact INTEGER NOT NULL REFERENCES facts_v6 (id) ON DELETE CASCADE,"
    " seq INTEGER NOT NULL,"
    " code TEXT NOT NULL,"
    " PRIMARY KEY (fact, seq)) WITHOUT ROWID",
    "INSERT INTO fact_codes_v6 (fact, seq, code)"
    " SELECT f.message, row_number() OVER (PARTITION BY c.fact ORDER BY c.rowid), c.code"
    " FROM fact_codes c JOIN facts f ON f.id = c.fact",
    "DROP TABLE fact_codes",
    "DROP TABLE facts",
    "ALTER TABLE facts_v6 RENAME TO facts",
    "ALTER TABLE fact_codes_v6 RENAME TO fact_codes",
    "CREATE INDEX facts_business ON facts (business_key)",
    "CREATE INDEX facts_order ON facts (sender, order_number)",
    "CREATE INDEX facts_at ON facts (at_ms)",
    "CREATE INDEX facts_seller_order ON facts (seller_key, order_number)",
    "CREATE INDEX facts_seller_band ON facts (seller_key, currency, value_minor, date)",
    "CREATE INDEX facts_consignment ON facts (consignment_id)",
    "CREATE INDEX facts_transport ON facts (transport_doc)",
    "CREATE TRIGGER facts_buyer_days_insert AFTER INSERT ON facts WHEN NEW.buyer_key <> ''"
    " BEGIN"
    " INSERT INTO buyer_days (buyer_key, date, destination, currency, n, total_minor,"
    " kept_minor) VALUES (NEW.buyer_key, NEW.date, coalesce(NEW.destination, ''),"
    " coalesce(NEW.currency, ''), 1, NEW.value_minor,"
    " CASE WHEN NEW.lane <> 'red' THEN NEW.value_minor ELSE 0 END)"
    " ON CONFLICT (buyer_key, date, destination, currency) DO UPDATE SET n = n + 1,"
    " total_minor = total_minor + excluded.total_minor,"
    " kept_minor = kept_minor + excluded.kept_minor;"
    " END",
    "CREATE TRIGGER facts_buyer_days_delete AFTER DELETE ON facts WHEN OLD.buyer_key <> ''"
    " BEGIN"
    " UPDATE buyer_days SET n = n - 1, total_minor = total_minor - OLD.value_minor,"
    " kept_minor = kept_minor - CASE WHEN OLD.lane <> 'red' THEN OLD.value_minor ELSE 0 END"
    " WHERE buyer_key = OLD.buyer_key AND date = OLD.date"
    " AND destination = coalesce(OLD.destination, '') AND currency = coalesce(OLD.currency, '');"
    " DELETE FROM buyer_days WHERE buyer_key = OLD.buyer_key AND date = OLD.date"
    " AND destination = coalesce(OLD.destination, '') AND currency = coalesce(OLD.currency, '')"
    " AND n <= 0;"
    " END",
    NULL,
};

/* Version 7: the messages that need an operator, failed (dead letters)
 * and rejected, in an index of their own. A list of them walked the whole
 * messages table, newest first, to find a few; with the index it reads
 * those few. Intake writes it only for a rejection, delivery only for a
 * dead letter. */
static const char *const schema_v7[] = {
    "CREATE INDEX messages_attention ON messages (id) WHERE state IN ('failed', 'rejected')",
    NULL,
};

/* Version 8: what a receipt for the outgoing envelope must name, its
 * MessageId and the SHA-256 of its exclusive C14N form, recorded when it
 * is sealed, so that checking the receipt need not parse and canonicalise
 * the envelope again. NULL for rows queued before (their check does). */
static const char *const schema_v8[] = {
    "ALTER TABLE deliveries ADD COLUMN outgoing_id TEXT",
    "ALTER TABLE deliveries ADD COLUMN outgoing_digest BLOB",
    NULL,
};

/* Version 9: the sealed envelope in a table of its own. SQLite rewrites a
 * whole row when an UPDATE changes its size, overflow pages included, and a
 * delivery's row changes twice an attempt (its lease, then its outcome):
 * with the envelope (about 11 KB with its evidence) in the row, each
 * attempt wrote it to the WAL twice more, and the checkpoint copied it
 * again (bench/README.md, "The sealed envelope out of the delivery's
 * row"). A delivery queued from now on keeps its envelope there, written
 * once and deleted with it, and an empty deliveries.outgoing; one queued
 * before keeps its envelope where it is, so that the migration copies
 * nothing (a store may hold gigabytes of envelopes within its retention). */
static const char *const schema_v9[] = {
    "CREATE TABLE delivery_bodies ("
    " delivery INTEGER PRIMARY KEY REFERENCES deliveries (id) ON DELETE CASCADE,"
    " outgoing BLOB NOT NULL)",
    NULL,
};

/* Version 10: a sealed envelope without the evidence it carries. Most of
 * the envelope (5.4 KB of its 10.9 in the benchmark) is the base64 of the bytes received,
 * which the message's row holds already; evidence_at, when not NULL, is
 * where they go back in (bench/README.md, "The evidence kept once"). Rows
 * from before keep their whole envelope and a NULL. */
static const char *const schema_v10[] = {
    "ALTER TABLE delivery_bodies ADD COLUMN evidence_at INTEGER",
    NULL,
};

/* Version 11: no index on (sender, order_number). It served the facts read
 * of a sender's earlier facts with the same order number, which are those
 * with the same business key (the checks make it from the sender and the
 * order number when there is one), found through facts_business already;
 * each message wrote one more B-tree for nothing. */
static const char *const schema_v11[] = {
    "DROP INDEX IF EXISTS facts_order",
    NULL,
};

/* steps[i] takes the schema from version i to version i + 1. */
static const char *const *const steps[CW_STORE_SCHEMA_VERSION] = {
    schema_v1, schema_v2, schema_v3, schema_v4,  schema_v5,  schema_v6,
    schema_v7, schema_v8, schema_v9, schema_v10, schema_v11,
};

static int exec_sql(sqlite3 *db, const char *sql, cw_error_t *err)
{
    char *msg = NULL;
    int src;
    int rc = 0;

    src = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (src != SQLITE_OK) {
        rc = cw_error_set(err, cw_store__err_from_sqlite(src), CW_STORE_MOD, "store: %s: %s", sql,
                          msg != NULL ? msg : sqlite3_errstr(src));
    }
    sqlite3_free(msg);
    return rc;
}

/* Runs a one-value query and returns its integer. */
static int query_int(sqlite3 *db, const char *sql, int64_t *out, cw_error_t *err)
{
    sqlite3_stmt *st = NULL;
    int src;
    int rc = 0;

    src = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
    }
    if (src != SQLITE_ROW) {
        rc = cw_error_set(err, cw_store__err_from_sqlite(src), CW_STORE_MOD, "store: %s: %s", sql,
                          sqlite3_errmsg(db));
        goto out;
    }
    *out = sqlite3_column_int64(st, 0);
out:
    sqlite3_finalize(st);
    return rc;
}

static int migrate_step(sqlite3 *db, int version, cw_error_t *err)
{
    const char *const *sql;
    char buf[128];
    int in_tx = 0;
    int rc = 0;

    CW_TRY(exec_sql(db, "BEGIN IMMEDIATE", err));
    in_tx = 1;
    for (sql = steps[version - 1]; *sql != NULL; sql++) {
        CW_TRY(exec_sql(db, *sql, err));
    }
    if (version == 1) {
        (void)snprintf(buf, sizeof(buf), "PRAGMA application_id = %d", CW_STORE_APPLICATION_ID);
        CW_TRY(exec_sql(db, buf, err));
    }
    (void)snprintf(buf, sizeof(buf),
                   "INSERT INTO schema_migrations (version, applied_at_ms) VALUES (%d, %" PRId64
                   ")",
                   version, cw_store_clock_ms());
    CW_TRY(exec_sql(db, buf, err));
    (void)snprintf(buf, sizeof(buf), "PRAGMA user_version = %d", version);
    CW_TRY(exec_sql(db, buf, err));
    CW_TRY(exec_sql(db, "COMMIT", err));
    in_tx = 0;
out:
    if (in_tx) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    }
    return rc;
}

int cw_store__sqlite_migrate(sqlite3 *db, int target, cw_error_t *err)
{
    int64_t version = 0;
    int rc = 0;

    CW_TRY(query_int(db, "PRAGMA user_version", &version, err));
    if (version > CW_STORE_SCHEMA_VERSION || target > CW_STORE_SCHEMA_VERSION) {
        rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                          "store: schema version %" PRId64
                          " is newer than this clearwayd supports (%d)",
                          version, CW_STORE_SCHEMA_VERSION);
        goto out;
    }
    while (version < target) {
        CW_TRY(migrate_step(db, (int)version + 1, err));
        version++;
        CW_LOG_INFO(CW_STORE_MOD, "store schema migrated to version %" PRId64, version);
    }
out:
    return rc;
}

/* ==== Opening ==== */

/*
 * An empty file (or a new one) has application_id 0 and no schema; anything
 * else must carry our application id. A file that is not SQLite at all fails
 * the first read with SQLITE_NOTADB.
 */
static int check_ours(sqlite3 *db, const char *path, cw_error_t *err)
{
    int64_t app_id = 0;
    int64_t objects = 0;
    int rc = 0;

    rc = query_int(db, "PRAGMA application_id", &app_id, err);
    if (rc == 0) {
        rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &objects, err);
    }
    if (rc < 0 && rc != CW_ECONFIG) {
        /* Locked, unreadable: the message from query_int says why. */
        goto out;
    }
    if (rc < 0) {
        rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                          "store: %s: not a Clearway store (not a SQLite database: %s)", path,
                          sqlite3_errmsg(db));
        goto out;
    }
    if (app_id != CW_STORE_APPLICATION_ID && (app_id != 0 || objects != 0)) {
        rc = cw_error_set(err, CW_ECONFIG, CW_STORE_MOD,
                          "store: %s: not a Clearway store (SQLite database of another "
                          "application, application_id 0x%08" PRIx64 ")",
                          path, (uint64_t)app_id);
        goto out;
    }
out:
    return rc;
}

static int quick_check(sqlite3 *db, const char *path, cw_error_t *err)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *text;
    int src;
    int rc = 0;

    src = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
    }
    text = src == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (text == NULL || strcmp((const char *)text, "ok") != 0) {
        rc = cw_error_set(err, CW_EIO, CW_STORE_MOD, "store: %s: integrity check failed: %s", path,
                          text != NULL ? (const char *)text : sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc;
}

static int set_pragmas(sqlite3 *db, const cw_store_options_t *opts, cw_error_t *err)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *mode;
    char buf[96];
    int src;
    int rc = 0;

    /* journal_mode answers with the mode in force; WAL can be refused (for
     * example on a file system without shared memory). */
    src = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (src == SQLITE_OK) {
        src = sqlite3_step(st);
    }
    mode = src == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (mode == NULL || strcmp((const char *)mode, "wal") != 0) {
        rc = cw_error_set(err, CW_EIO, CW_STORE_MOD, "store: %s: cannot enable WAL: %s", opts->path,
                          mode != NULL ? (const char *)mode : sqlite3_errmsg(db));
        goto out;
    }
    CW_TRY(exec_sql(db,
                    opts->sync == CW_STORE_SYNC_FULL ? "PRAGMA synchronous = FULL"
                                                     : "PRAGMA synchronous = NORMAL",
                    err));
    CW_TRY(exec_sql(db, "PRAGMA foreign_keys = ON", err));
    if (opts->page_count_max > 0) {
        (void)snprintf(buf, sizeof(buf), "PRAGMA max_page_count = %" PRIu32, opts->page_count_max);
        CW_TRY(exec_sql(db, buf, err));
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/*
 * Once a process, before SQLite's first use: no memory statistics. With
 * them (SQLite's default) every sqlite3_malloc and sqlite3_free takes one
 * mutex of the whole library to count, and Debian's SQLite is built
 * without its lookaside allocator, so every small allocation of every
 * connection does: the workers' ledger reads and the writer queued on it
 * (bench/README.md, "SQLite's memory statistics"). Nothing here reads
 * them, and no heap limit (which needs them) is set. Fails quietly when
 * the process used SQLite before (SQLITE_MISUSE): the statistics stay on.
 */
static void sqlite_global_init(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    (void)sqlite3_initialize();
}

int cw_store__sqlite_db_open(sqlite3 **out, const cw_store_options_t *opts, cw_error_t *err)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    sqlite3 *db = NULL;
    int src;
    int rc = 0;

    *out = NULL;
    (void)pthread_once(&once, sqlite_global_init);
    /* NOMUTEX: the connection is used by one thread at a time (the opener,
     * then the writer), so SQLite's own connection mutex is not needed.
     * With synchronous=FULL its WAL writes are gathered and its syncs
     * timed (walbuf.c). */
    src = sqlite3_open_v2(opts->path, &db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                          opts->sync == CW_STORE_SYNC_FULL ? cw_store__walbuf_vfs() : NULL);
    if (src != SQLITE_OK) {
        rc = cw_error_set(err, CW_EIO, CW_STORE_MOD, "store: %s: cannot open: %s", opts->path,
                          db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(src));
        goto out;
    }
    (void)sqlite3_extended_result_codes(db, 1);
    (void)sqlite3_busy_timeout(db, (int)opts->busy_timeout_ms);
    CW_TRY(check_ours(db, opts->path, err));
    CW_TRY(quick_check(db, opts->path, err));
    CW_TRY(set_pragmas(db, opts, err));
    CW_TRY(cw_store__sqlite_migrate(db, CW_STORE_SCHEMA_VERSION, err));
    *out = db;
    db = NULL;
out:
    if (db != NULL) {
        (void)sqlite3_close_v2(db);
    }
    return rc;
}

int cw_store__err_from_sqlite(int sqlite_rc)
{
    switch (sqlite_rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return 0;
    case SQLITE_NOMEM:
        return CW_ENOMEM;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return CW_EBUSY;
    case SQLITE_NOTADB:
        return CW_ECONFIG;
    case SQLITE_CONSTRAINT:
        return CW_EEXIST;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
        return CW_EINTERNAL;
    default:
        /* SQLITE_FULL, SQLITE_IOERR_*, SQLITE_CORRUPT, SQLITE_CANTOPEN,
         * SQLITE_READONLY: the store cannot take writes; callers answer 503. */
        return CW_EIO;
    }
}
