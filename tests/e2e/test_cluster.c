/*
 * Several nodes of one organisation on one PostgreSQL store (DESIGN.md,
 * "Scaling"): two clearwayd processes of node "platform", the same
 * identity and configuration, one database, in front of customs-eu on its
 * own SQLite store.
 *
 *   shop (client) -> platform #1 \
 *                                 > PostgreSQL -> customs-eu
 *   shop (client) -> platform #2 /
 *
 * Any node accepts, any node delivers, each delivery is made once (counted
 * in the shared store's attempts and at customs-eu), one message sent to
 * both nodes is one message, and what a node accepted before it was killed
 * with kill -9 is delivered by the other.
 *
 * The database comes from the ctest fixture cw_pg (scripts/pg-test-cluster):
 * CW_TEST_PG_URL_FILE names the file holding the cluster's URL; the test
 * makes a database of its own there and drops it at the end.
 */
#include <libpq-fe.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cw_test.h"
#include "e2e.h"
#include "util.h"

static char pki[256];
static char admin_url[1024]; /* the cluster's maintenance database */
static char db_url[1024];    /* this test's database */
static char db_name[64];
static cw_test_daemon_t one;
static cw_test_daemon_t two;
static cw_test_daemon_t eu;
static int tls_port[3]; /* platform #1, platform #2, customs-eu */

/* ==== The database ==== */

/* The URL with its database (the path after the authority) replaced. */
static int url_with_db(const char *url, const char *db, char *out, size_t size)
{
    const char *auth = strstr(url, "://");
    const char *path;
    const char *rest;

    if (auth == NULL) {
        return -1;
    }
    path = strchr(auth + 3, '/');
    if (path == NULL) {
        return -1;
    }
    rest = path + 1 + strcspn(path + 1, "?");
    if ((size_t)snprintf(out, size, "%.*s/%s%s", (int)(path - url), url, db, rest) >= size) {
        return -1;
    }
    return 0;
}

/* Runs sql on url; the first column of the first row as a number, or -1. */
static long long pg_int(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    PGresult *r;
    long long v = -1;

    if (PQstatus(c) != CONNECTION_OK) {
        print_error("PostgreSQL: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    } else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
        v = 0;
    } else {
        print_error("PostgreSQL: %s: %s", sql, PQresultErrorMessage(r));
    }
    PQclear(r);
    PQfinish(c);
    return v;
}

/* ==== Messages ==== */

/* A consignment signed by shop for customs-eu with its own ids (e2e.c). */
static char *consignment(char *id, size_t id_size)
{
    return e2e_consignment(pki, "shop", "customs-eu", "", id, id_size);
}

#define post       e2e_post
#define wait_state e2e_wait_state

/* How many accepted messages from platform with conversation conv
 * customs-eu holds: rows of its own SQLite store, so a duplicate would show. */
static int count_at_eu(const char *conv)
{
    char path[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;

    snprintf(path, sizeof(path), "%s/clearway.db", eu.dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM messages WHERE from_party ="
                                        " 'platform' AND conversation_id = ?1"
                                        " AND state <> 'rejected'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, conv, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* ==== Nodes ==== */

static void platform_xml(char *out, size_t size, int paused);

/* The listeners every node has, then more. */
static void node_extra(char *extra, size_t size, const char *id, int port, const char *more)
{
    int n = snprintf(extra, size,
                     "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
                     "  <listen name=\"tls\" address=\"127.0.0.1\" port=\"%d\" tls=\"true\"\n"
                     "          cert=\"%s/%s.pem\" key=\"%s/%s.key\" client-ca=\"%s/ca.pem\"/>\n%s",
                     port, pki, id, pki, id, pki, more);

    assert_true(n > 0 && (size_t)n < size);
}

static int node_start(cw_test_daemon_t *d, const char *id, int port, const char *more)
{
    char node[1024];
    char extra[8192];

    snprintf(node, sizeof(node), "<node id=\"%s\" key=\"%s/%s.key\" cert=\"%s/%s.pem\"/>", id, pki,
             id, pki, id);
    node_extra(extra, sizeof(extra), id, port, more);
    return cw_test_daemon_start_as(d, node, extra);
}

/* Restarts platform #1 with its deliveries paused or not. */
static void one_restart(int paused)
{
    char more[8192];

    platform_xml(more, sizeof(more), paused);
    node_extra(one.extra, sizeof(one.extra), "platform", tls_port[0], more);
    assert_int_equal(cw_test_daemon_restart(&one), 0);
}

/* The platform's configuration, the same for both of its processes but for
 * paused deliveries; the store's URL escaped for XML. */
static void platform_xml(char *out, size_t size, int paused)
{
    char url[2048];
    size_t i;
    size_t n = 0;

    for (i = 0; db_url[i] != '\0' && n + 6 < sizeof(url); i++) {
        if (db_url[i] == '&') {
            memcpy(url + n, "&amp;", 5);
            n += 5;
        } else {
            url[n++] = db_url[i];
        }
    }
    url[n] = '\0';
    snprintf(
        out, size,
        "  <store path=\"%s\"/>\n"
        "%s"
        "  <partner id=\"shop\" certs=\"%s/shop.pem\" tls-subject=\"CN=shop,O=Clearway dev\"\n"
        "           actions=\"*\" destinations=\"customs-eu\"/>\n"
        "  <partner id=\"customs-eu\" certs=\"%s/customs-eu.pem\"\n"
        "           tls-subject=\"CN=customs-eu,O=Clearway dev\" actions=\"*\"\n"
        "           destinations=\"platform\"/>\n"
        "  <route to=\"customs-eu\" url=\"https://127.0.0.1:%d/v1/messages\" ca=\"%s/ca.pem\"\n"
        "         client-cert=\"%s/platform.pem\" client-key=\"%s/platform.key\"\n"
        "         base-delay-ms=\"100\" max-delay-ms=\"500\" timeout-ms=\"3000\"/>\n",
        url, paused ? "  <delivery paused=\"true\"/>\n" : "", pki, pki, tls_port[2], pki, pki, pki);
}

static int nodes_start(void)
{
    char xml[8192];
    int rc = 0;
    int i;

    for (i = 0; i < 3; i++) {
        tls_port[i] = cw_test_free_port();
        if (tls_port[i] < 0) {
            return -1;
        }
    }
    snprintf(xml, sizeof(xml),
             "  <partner id=\"platform\" certs=\"%s/platform.pem\"\n"
             "           tls-subject=\"CN=platform,O=Clearway dev\" actions=\"*\"\n"
             "           destinations=\"customs-eu\"/>\n",
             pki);
    rc |= node_start(&eu, "customs-eu", tls_port[2], xml);
    platform_xml(xml, sizeof(xml), 0);
    rc |= node_start(&one, "platform", tls_port[0], xml);
    rc |= node_start(&two, "platform", tls_port[1], xml);
    return rc == 0 ? 0 : -1;
}

static int nodes_stop(void)
{
    cw_test_daemon_t *all[] = { &one, &two, &eu };
    int rc = 0;
    size_t i;

    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i]->pid > 0 && cw_test_daemon_stop(all[i], SIGTERM, 10000) != 0) {
            rc = -1;
        }
        cw_test_daemon_cleanup(all[i]);
    }
    return rc;
}

static int group_setup(void **state)
{
    const char *src = getenv("CLEARWAY_SRC");
    const char *url_file = getenv("CW_TEST_PG_URL_FILE");
    char sql[128];
    FILE *f;
    int attempt;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    if (url_file == NULL || (f = fopen(url_file, "r")) == NULL) {
        print_error("no PostgreSQL: CW_TEST_PG_URL_FILE (the ctest fixture cw_pg) is not set or"
                    " cannot be read\n");
        return -1;
    }
    if (fgets(admin_url, sizeof(admin_url), f) == NULL) {
        fclose(f);
        return -1;
    }
    fclose(f);
    admin_url[strcspn(admin_url, "\r\n")] = '\0';
    snprintf(db_name, sizeof(db_name), "cw_cluster_%d", (int)getpid());
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", db_name);
    if (url_with_db(admin_url, db_name, db_url, sizeof(db_url)) < 0
        || pg_int(admin_url, sql) != 0) {
        return -1;
    }
    snprintf(pki, sizeof(pki), "/tmp/cw-cluster-XXXXXX");
    if (src == NULL || mkdtemp(pki) == NULL
        || cw_test_sh("'%s/certs/make-dev-pki' '%s' platform customs-eu shop >/dev/null 2>&1", src,
                      pki)
               != 0) {
        return -1;
    }
    for (attempt = 0; attempt < 3; attempt++) {
        if (nodes_start() == 0) {
            return 0;
        }
        (void)nodes_stop();
    }
    return -1;
}

static int group_teardown(void **state)
{
    char sql[128];
    int rc;

    (void)state;
    rc = nodes_stop();
    (void)cw_test_sh("rm -rf '%s'", pki);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db_name);
    if (pg_int(admin_url, sql) != 0) {
        rc = -1;
    }
    return rc;
}

/* ==== Tests ==== */

static void test_cluster__either_node_accepts_and_each_delivery_is_made_once(void **state)
{
    static char body[1 << 16];
    enum { N = 12 };
    char ids[N][128];
    int i;

    (void)state;
    for (i = 0; i < N; i++) {
        char *xml = consignment(ids[i], sizeof(ids[i]));

        assert_int_equal(post(i % 2 == 0 ? &one : &two, xml, body, sizeof(body)), 200);
        cw_free(xml);
    }
    for (i = 0; i < N; i++) {
        /* Each node tells the state of what the other accepted. */
        assert_true(wait_state(i % 2 == 0 ? &two : &one, "shop", ids[i], "delivered", 30000));
        assert_int_equal(count_at_eu(ids[i]), 1);
    }
    /* One successful attempt for each delivery, none twice. */
    assert_int_equal(pg_int(db_url, "SELECT count(*) FROM attempts WHERE outcome = 'delivered'"),
                     N);
    assert_int_equal(pg_int(db_url, "SELECT count(*) FROM (SELECT delivery FROM attempts"
                                    " WHERE outcome = 'delivered' GROUP BY delivery"
                                    " HAVING count(*) > 1) twice"),
                     0);
    assert_int_equal(pg_int(db_url, "SELECT count(*) FROM messages WHERE state = 'delivered'"), N);
}

static void test_cluster__one_message_sent_to_both_nodes_is_one_message(void **state)
{
    static char first[1 << 16];
    static char again[1 << 16];
    char id[128];
    char sql[512];
    char *xml;

    (void)state;
    xml = consignment(id, sizeof(id));
    assert_int_equal(post(&one, xml, first, sizeof(first)), 200);
    /* The other node answers with the receipt the first one gave. */
    assert_int_equal(post(&two, xml, again, sizeof(again)), 200);
    assert_string_equal(first, again);
    cw_free(xml);
    assert_true(wait_state(&two, "shop", id, "delivered", 30000));
    assert_int_equal(count_at_eu(id), 1);
    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM messages WHERE from_party = 'shop' AND message_id = '%s'", id);
    assert_int_equal(pg_int(db_url, sql), 1);
}

static void test_cluster__what_a_killed_node_accepted_the_other_delivers(void **state)
{
    static char body[1 << 16];
    enum { N = 8 };
    char ids[N][128];
    int i;

    (void)state;
    /* #2 is away; #1 accepts but does not deliver (paused), then dies. */
    assert_int_equal(cw_test_daemon_stop(&two, SIGTERM, 10000), 0);
    assert_int_equal(cw_test_daemon_stop(&one, SIGTERM, 10000), 0);
    one_restart(1);
    for (i = 0; i < N; i++) {
        char *xml = consignment(ids[i], sizeof(ids[i]));

        assert_int_equal(post(&one, xml, body, sizeof(body)), 200);
        cw_free(xml);
    }
    assert_true(wait_state(&one, "shop", ids[N - 1], "queued", 5000));
    assert_int_equal(cw_test_daemon_stop(&one, SIGKILL, 5000), 128 + SIGKILL);
    /* Nothing of it was lost, and #2 delivers it all, once. */
    assert_int_equal(cw_test_daemon_restart(&two), 0);
    for (i = 0; i < N; i++) {
        assert_true(wait_state(&two, "shop", ids[i], "delivered", 30000));
        assert_int_equal(count_at_eu(ids[i]), 1);
    }
    /* #1 back with deliveries on, for the tests after this one. */
    one_restart(0);
}

/* Waits until node d's /readyz answers want; 1, or 0 after ms. */
static int wait_ready(const cw_test_daemon_t *d, int want, int ms)
{
    char body[4096];
    long long deadline = cw_test_now_ms() + ms;

    while (cw_test_now_ms() < deadline) {
        if (cw_test_admin_get(d, "/readyz", body, sizeof(body)) == want) {
            return 1;
        }
        cw_test_sleep_ms(100);
    }
    return 0;
}

static void test_cluster__database_out_of_reach_is_503_until_it_is_back(void **state)
{
    static char body[1 << 16];
    char sql[512];
    char id[128];
    char *xml;

    (void)state;
    assert_true(wait_ready(&one, 200, 5000));
    /* The database refuses connections, and the ones open are cut. */
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS false", db_name);
    assert_int_equal(pg_int(admin_url, sql), 0);
    snprintf(sql, sizeof(sql),
             "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '%s'",
             db_name);
    assert_true(pg_int(admin_url, sql) > 0);
    xml = consignment(id, sizeof(id));
    /* Refused, not lost: 503, and the node says it is not ready. */
    assert_int_equal(post(&one, xml, body, sizeof(body)), 503);
    assert_true(wait_ready(&one, 503, 5000));
    assert_int_equal(post(&one, xml, body, sizeof(body)), 503);
    /* Back within the writer's retry, without a restart. */
    snprintf(sql, sizeof(sql), "ALTER DATABASE %s ALLOW_CONNECTIONS true", db_name);
    assert_int_equal(pg_int(admin_url, sql), 0);
    assert_true(wait_ready(&one, 200, 10000));
    assert_int_equal(post(&one, xml, body, sizeof(body)), 200);
    cw_free(xml);
    assert_true(wait_state(&two, "shop", id, "delivered", 30000));
    assert_int_equal(count_at_eu(id), 1);
}

/* Connections the server cut (a restart, a failover, an administrator)
 * are found out at their next use and made again: no 503 for it. */
static void test_cluster__cut_connections_are_made_again_without_a_503(void **state)
{
    static char body[1 << 16];
    char sql[512];
    char id[128];
    int round;

    (void)state;
    for (round = 0; round < 3; round++) {
        char *xml = consignment(id, sizeof(id));

        snprintf(sql, sizeof(sql),
                 "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                 " WHERE datname = '%s'",
                 db_name);
        assert_true(pg_int(admin_url, sql) > 0);
        assert_int_equal(post(&one, xml, body, sizeof(body)), 200);
        cw_free(xml);
        assert_true(wait_state(&two, "shop", id, "delivered", 30000));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster__either_node_accepts_and_each_delivery_is_made_once),
        cmocka_unit_test(test_cluster__one_message_sent_to_both_nodes_is_one_message),
        cmocka_unit_test(test_cluster__what_a_killed_node_accepted_the_other_delivers),
        cmocka_unit_test(test_cluster__database_out_of_reach_is_503_until_it_is_back),
        cmocka_unit_test(test_cluster__cut_connections_are_made_again_without_a_503),
    };

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
