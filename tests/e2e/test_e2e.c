/*
 * End to end, the demo's topology (examples/demo): four clearwayd nodes on
 * loopback with mutual TLS between them.
 *
 *   shop (client)        -> platform   -> customs-eu
 *   carrier-ops (CSV)    -> carrier    -> customs-eu
 *   eu-ops (client)      -> customs-eu -> customs-cn   (bilateral, both ways)
 *   cn-ops (client)      -> customs-cn -> customs-eu
 *
 * What arrived is read from the destination's own SQLite store: every
 * message exactly once, its hop signature valid for the node that forwarded
 * it, and the original sender's bytes in Evidence with a matching digest and
 * (for signed envelopes) a valid signature. Then the platform is killed with
 * kill -9 mid-traffic and customs-eu is down for a while: nothing accepted
 * is lost and nothing arrives twice.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cw_test.h"
#include "e2e.h"
#include "util.h"

static char pki[256];
static cw_test_daemon_t platform;
static cw_test_daemon_t carrier;
static cw_test_daemon_t eu;
static cw_test_daemon_t cn;

/* ==== Helpers ==== */

/* The shared helpers (e2e.c) with this file's PKI. */
static char *
consignment(const char *who, const char *to, const char *sed_expr, char *id, size_t id_size)
{
    return e2e_consignment(pki, who, to, sed_expr, id, id_size);
}

#define post       e2e_post
#define wait_state e2e_wait_state

static sqlite3 *store_open(const cw_test_daemon_t *d)
{
    char path[512];
    sqlite3 *db = NULL;

    snprintf(path, sizeof(path), "%s/clearway.db", d->dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    return db;
}

/* How many accepted messages node d holds from party from with conversation
 * conv (conv NULL: any). */
static int count_at(const cw_test_daemon_t *d, const char *from, const char *conv)
{
    sqlite3 *db = store_open(d);
    sqlite3_stmt *st = NULL;
    int n = -1;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT count(*) FROM messages WHERE from_party = ?1"
                                        " AND (?2 IS NULL OR conversation_id = ?2)"
                                        " AND state <> 'rejected'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    if (conv != NULL) {
        sqlite3_bind_text(st, 2, conv, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 2);
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        n = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* Waits until count_at reaches want (and stays there 300 ms). */
static int
wait_count(const cw_test_daemon_t *d, const char *from, const char *conv, int want, int timeout_ms)
{
    long long deadline = cw_test_now_ms() + timeout_ms;
    int n = -1;

    while (cw_test_now_ms() < deadline) {
        n = count_at(d, from, conv);
        if (n == want) {
            cw_test_sleep_ms(300);
            n = count_at(d, from, conv);
            if (n == want) {
                return n;
            }
        }
        if (n > want) {
            break;
        }
        cw_test_sleep_ms(100);
    }
    return n;
}

/*
 * Writes the bytes node d received from party from (the row'th such
 * message with conversation conv, or any when conv is NULL) to file.
 */
static void
fetch_at(const cw_test_daemon_t *d, const char *from, const char *conv, int row, const char *file)
{
    sqlite3 *db = store_open(d);
    sqlite3_stmt *st = NULL;
    FILE *f;

    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT received FROM messages WHERE from_party = ?1"
                                        " AND (?2 IS NULL OR conversation_id = ?2)"
                                        " AND state <> 'rejected' ORDER BY id LIMIT 1 OFFSET ?3",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    if (conv != NULL) {
        sqlite3_bind_text(st, 2, conv, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_null(st, 2);
    }
    sqlite3_bind_int(st, 3, row);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    f = fopen(file, "wb");
    assert_non_null(f);
    assert_true(sqlite3_column_bytes(st, 0) > 0);
    assert_int_equal(fwrite(sqlite3_column_blob(st, 0), 1, (size_t)sqlite3_column_bytes(st, 0), f),
                     (size_t)sqlite3_column_bytes(st, 0));
    fclose(f);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The text of the first element named local (any prefix) in file, or "". */
static void element_text(const char *file, const char *local, char *out, size_t size)
{
    char cmd[1024];

    snprintf(
        cmd, sizeof(cmd),
        "tr -d '\\n' < '%s' | sed -n 's/.*<\\([A-Za-z0-9]*:\\)\\{0,1\\}%s>\\([^<]*\\)<.*/\\2/p'",
        file, local);
    if (cw_test_sh_out(out, size, cmd) != 0) {
        out[0] = '\0';
    }
}

/*
 * Checks the signature chain of what node d received from hop (hop's
 * certificate) with conversation conv (row'th of them): the hop signature,
 * and the Evidence: its digest matches its bytes, and when origin is not
 * NULL the bytes are an envelope validly signed by origin.
 */
static void check_chain(
    const cw_test_daemon_t *d, const char *hop, const char *conv, int row, const char *origin)
{
    char file[512];
    char evidence[512];
    char out[1024];
    char want[256];
    char digest[128];
    char sum[128];
    char cmd[2048];

    snprintf(file, sizeof(file), "%s/hop.xml", pki);
    snprintf(evidence, sizeof(evidence), "%s/evidence.bin", pki);
    fetch_at(d, hop, conv, row, file);
    snprintf(cmd, sizeof(cmd), "'%s' verify --cert '%s/%s.pem' '%s' 2>&1", getenv("CLEARWAY_CLI"),
             pki, hop, file);
    assert_int_equal(cw_test_sh_out(out, sizeof(out), cmd), 0);
    snprintf(want, sizeof(want), "valid from=%s ", hop);
    if (strncmp(out, want, strlen(want)) != 0) {
        fail_msg("hop signature of %s: %s", hop, out);
    }
    element_text(file, "Sha256", digest, sizeof(digest));
    assert_int_equal(strlen(digest), 64);
    assert_int_equal(cw_test_sh("tr -d '\\n' < '%s' | sed -n "
                                "'s/.*<\\([A-Za-z0-9]*:\\)\\{0,1\\}Content>\\([^<]*\\)<.*/\\2/p' "
                                "| base64 -d > '%s'",
                                file, evidence),
                     0);
    snprintf(cmd, sizeof(cmd), "sha256sum '%s' | cut -c1-64", evidence);
    assert_int_equal(cw_test_sh_out(sum, sizeof(sum), cmd), 0);
    assert_string_equal(sum, digest);
    if (origin != NULL) {
        snprintf(cmd, sizeof(cmd), "'%s' verify --cert '%s/%s.pem' '%s' 2>&1",
                 getenv("CLEARWAY_CLI"), pki, origin, evidence);
        assert_int_equal(cw_test_sh_out(out, sizeof(out), cmd), 0);
        snprintf(want, sizeof(want), "valid from=%s ", origin);
        if (strncmp(out, want, strlen(want)) != 0) {
            fail_msg("original signature of %s: %s", origin, out);
        }
    }
}

/* The sum of a counter's samples on node d whose line contains sel. */
static long metric(const cw_test_daemon_t *d, const char *name, const char *sel)
{
    static char body[1u << 18];
    long sum = 0;
    char *line;
    char *save = NULL;

    assert_int_equal(cw_test_admin_get(d, "/metrics", body, sizeof(body)), 200);
    for (line = strtok_r(body, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(name);

        if (line[0] == '#' || strncmp(line, name, n) != 0 || (line[n] != '{' && line[n] != ' ')
            || strstr(line, sel) == NULL) {
            continue;
        }
        sum += strtol(strrchr(line, ' ') + 1, NULL, 10);
    }
    return sum;
}

/* ==== Set-up: the four nodes ==== */

static int tls_port[4]; /* platform, carrier, customs-eu, customs-cn */

/* The parts every node has: admin listener, TLS listener, rules. */
static int node_start(cw_test_daemon_t *d, const char *id, int port, int rules, const char *more)
{
    char node[1024];
    char extra[8192];

    snprintf(node, sizeof(node), "<node id=\"%s\" key=\"%s/%s.key\" cert=\"%s/%s.pem\"/>", id, pki,
             id, pki, id);
    snprintf(extra, sizeof(extra),
             "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
             "  <listen name=\"tls\" address=\"127.0.0.1\" port=\"%d\" tls=\"true\"\n"
             "          cert=\"%s/%s.pem\" key=\"%s/%s.key\" client-ca=\"%s/ca.pem\"/>\n"
             "%s%s%s"
             "%s",
             port, pki, id, pki, id, pki, rules ? "  <rules path=\"" : "",
             rules ? getenv("CLEARWAY_SRC") : "", rules ? "/rules\"/>\n" : "", more);
    return cw_test_daemon_start_as(d, node, extra);
}

/* A partner known by its signing certificate and its TLS subject. */
static void partner(cw_buf_t *b, const char *id, const char *attrs)
{
    assert_int_equal(cw_buf_appendf(b,
                                    "  <partner id=\"%s\" certs=\"%s/%s.pem\"\n"
                                    "           tls-subject=\"CN=%s,O=Clearway dev\" %s/>\n",
                                    id, pki, id, id, attrs),
                     0);
}

/* A route to node to (TLS port port) with node self's client certificate. */
static void route(cw_buf_t *b, const char *to, int port, const char *self)
{
    assert_int_equal(
        cw_buf_appendf(
            b,
            "  <route to=\"%s\" url=\"https://127.0.0.1:%d/v1/messages\" "
            "ca=\"%s/ca.pem\"\n"
            "         client-cert=\"%s/%s.pem\" client-key=\"%s/%s.key\"\n"
            "         base-delay-ms=\"100\" max-delay-ms=\"500\" timeout-ms=\"3000\"/>\n",
            to, port, pki, pki, self, pki, self),
        0);
}

/* Starts the four nodes, each on a new port; 0 or -1. */
static int nodes_start(void)
{
    cw_buf_t b;
    int i;
    int rc = 0;

    for (i = 0; i < 4; i++) {
        tls_port[i] = cw_test_free_port();
        if (tls_port[i] < 0) {
            return -1;
        }
    }
    cw_buf_init(&b, 1u << 16);

    /* customs-cn: takes data from customs-eu, sends its own back. */
    partner(&b, "customs-eu", "actions=\"*\" destinations=\"customs-cn\"");
    partner(&b, "cn-ops", "actions=\"*\" destinations=\"customs-eu\"");
    route(&b, "customs-eu", tls_port[2], "customs-cn");
    rc |= node_start(&cn, "customs-cn", tls_port[3], 0, b.data);

    /* customs-eu: advance data from the platform and the carrier, assessed
     * with the rules; bilateral exchange with customs-cn. */
    cw_buf_reset(&b);
    partner(&b, "platform", "actions=\"*\" destinations=\"customs-eu\"");
    partner(&b, "carrier", "actions=\"*\" destinations=\"customs-eu\"");
    partner(&b, "customs-cn", "actions=\"*\" destinations=\"customs-eu\"");
    partner(&b, "eu-ops", "actions=\"*\" destinations=\"customs-cn\"");
    route(&b, "customs-cn", tls_port[3], "customs-eu");
    rc |= node_start(&eu, "customs-eu", tls_port[2], 1, b.data);

    /* platform: the shop's signed orders, checked, forwarded to customs-eu. */
    cw_buf_reset(&b);
    partner(&b, "shop", "actions=\"*\" destinations=\"customs-eu\"");
    partner(&b, "customs-eu", "actions=\"*\" destinations=\"platform\"");
    route(&b, "customs-eu", tls_port[2], "platform");
    rc |= node_start(&platform, "platform", tls_port[0], 1, b.data);

    /* carrier: CSV manifests from its desk through the adapter. */
    cw_buf_reset(&b);
    partner(&b, "carrier-ops",
            "actions=\"*\" destinations=\"customs-eu\" adapter=\"csv-manifest\" "
            "adapter-to=\"customs-eu\"");
    partner(&b, "customs-eu", "actions=\"*\" destinations=\"carrier\"");
    route(&b, "customs-eu", tls_port[2], "carrier");
    rc |= node_start(&carrier, "carrier", tls_port[1], 1, b.data);
    cw_buf_fini(&b);
    return rc == 0 ? 0 : -1;
}

static int nodes_stop(void)
{
    cw_test_daemon_t *all[] = { &platform, &carrier, &eu, &cn };
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
    int attempt;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(pki, sizeof(pki), "/tmp/cw-e2e-XXXXXX");
    if (src == NULL || mkdtemp(pki) == NULL
        || cw_test_sh("'%s/certs/make-dev-pki' '%s' platform carrier customs-eu customs-cn shop "
                      "carrier-ops eu-ops cn-ops >/dev/null 2>&1",
                      src, pki)
               != 0) {
        return -1;
    }
    /* Another test of the suite may take a chosen port before its node
     * binds it (cw_test_free_port); the node then fails to start, and the
     * four start again on other ports. */
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
    int rc;

    (void)state;
    rc = nodes_stop();
    (void)cw_test_sh("rm -rf '%s'", pki);
    return rc;
}

/* ==== Tests ==== */

static void test_e2e__orders_arrive_once_with_their_signature_chain(void **state)
{
    static char body[1 << 16];
    char ids[10][128];
    long green_before = metric(&eu, "clearway_assessments_by_lane_total", "lane=\"green\"");
    char file[512];
    int i;

    (void)state;
    for (i = 0; i < 10; i++) {
        char *xml = consignment("shop", "customs-eu", "", ids[i], sizeof(ids[i]));

        assert_int_equal(post(&platform, xml, body, sizeof(body)), 200);
        assert_non_null(strstr(body, "<Status>accepted</Status>"));
        cw_free(xml);
    }
    for (i = 0; i < 10; i++) {
        assert_true(wait_state(&platform, "shop", ids[i], "delivered", 20000));
        assert_int_equal(wait_count(&eu, "platform", ids[i], 1, 5000), 1);
        check_chain(&eu, "platform", ids[i], 0, "shop");
    }
    /* The platform's assessment travels with the data; customs-eu made its
     * own, green like the platform's, for each of them. */
    snprintf(file, sizeof(file), "%s/hop.xml", pki);
    assert_int_equal(cw_test_sh("grep -q 'Assessment node=\"platform\"' '%s'", file), 0);
    assert_true(metric(&eu, "clearway_assessments_by_lane_total", "lane=\"green\"")
                >= green_before + 10);
}

static void test_e2e__red_consignment_is_refused_at_the_first_node(void **state)
{
    static char body[1 << 16];
    char id[128];
    char *xml;

    (void)state;
    /* Loose lithium cells by air: prohibited (PRH-001), red, never forwarded. */
    xml = consignment("shop", "customs-eu",
                      "s/<HsCode>392690</<HsCode>850650</;s/Silicone phone case "
                      "for smartphone/Lithium batteries, loose CR2032 cells/",
                      id, sizeof(id));
    assert_int_equal(post(&platform, xml, body, sizeof(body)), 422);
    assert_non_null(strstr(body, "<Status>rejected</Status>"));
    assert_non_null(strstr(body, "PRH-001"));
    cw_free(xml);
    cw_test_sleep_ms(500);
    assert_int_equal(count_at(&eu, "platform", id), 0);
}

static void test_e2e__carrier_manifest_arrives_through_the_adapter(void **state)
{
    static char body[1 << 18];
    char cmd[4096];
    char code[16];
    char path[512];
    int before = count_at(&eu, "carrier", NULL);
    int accepted = 0;
    const char *p;
    FILE *f;
    size_t n;
    int i;

    (void)state;
    snprintf(path, sizeof(path), "%s/resp.json", pki);
    snprintf(cmd, sizeof(cmd),
             "curl -sS --max-time 30 --cacert '%s/ca.pem' --cert '%s/carrier-ops.pem' "
             "--key '%s/carrier-ops.key' -H 'Content-Type: text/csv' "
             "--data-binary @'%s/tests/data/adapters/manifest-valid.csv' -o '%s' "
             "-w '%%{http_code}' https://127.0.0.1:%d/v1/inbound/csv-manifest 2>&1",
             pki, pki, pki, getenv("CLEARWAY_SRC"), path, tls_port[1]);
    assert_int_equal(cw_test_sh_out(code, sizeof(code), cmd), 0);
    assert_string_equal(code, "200");
    f = fopen(path, "r");
    assert_non_null(f);
    n = fread(body, 1, sizeof(body) - 1, f);
    body[n] = '\0';
    fclose(f);
    for (p = strstr(body, "\"status\":\"accepted\""); p != NULL;
         p = strstr(p + 1, "\"status\":\"accepted\"")) {
        accepted++;
    }
    assert_true(accepted >= 2);
    /* Each accepted consignment arrives once, signed by the carrier's node,
     * with the manifest's bytes as evidence. */
    assert_int_equal(wait_count(&eu, "carrier", NULL, before + accepted, 20000), before + accepted);
    for (i = before; i < before + accepted; i++) {
        check_chain(&eu, "carrier", NULL, i, NULL);
    }
}

/*
 * A manifest whose bytes, copied into every consignment's Evidence, would
 * exceed the 1 MiB budget of one input (80 rows of 19 KB: 1.5 MB) travels
 * as its digest only: each envelope that arrives names the original's
 * SHA-256 and carries no Content (it is kept once at the carrier's node).
 */
static void test_e2e__big_manifest_evidence_is_its_digest(void **state)
{
    char csv[512];
    char file[512];
    char conv[64];
    char digest[128];
    char sum[128];
    char after[256];
    char cmd[4096];
    char code[16];
    int before = count_at(&eu, "carrier", NULL);

    (void)state;
    snprintf(csv, sizeof(csv), "%s/manifest-80.csv", pki);
    assert_int_equal(
        cw_test_sh("awk 'NR == 1 { print; next } /^LX204518355CN,/ { rest = $0;"
                   " for (f = 0; f < 2; f++) rest = substr(rest, index(rest, \",\") + 1) }"
                   " END { for (k = 0; k < 80; k++) printf \"EVD%%07dXX,SO-EVD%%07d,%%s\\n\", k, k,"
                   " rest }' '%s/tests/data/adapters/manifest-valid.csv' > '%s'",
                   getenv("CLEARWAY_SRC"), csv),
        0);
    snprintf(cmd, sizeof(cmd),
             "curl -sS --max-time 60 --cacert '%s/ca.pem' --cert '%s/carrier-ops.pem' "
             "--key '%s/carrier-ops.key' -H 'Content-Type: text/csv' --data-binary @'%s' "
             "-o /dev/null -w '%%{http_code}' https://127.0.0.1:%d/v1/inbound/csv-manifest 2>&1",
             pki, pki, pki, csv, tls_port[1]);
    assert_int_equal(cw_test_sh_out(code, sizeof(code), cmd), 0);
    assert_string_equal(code, "200");
    assert_int_equal(wait_count(&eu, "carrier", NULL, before + 80, 60000), before + 80);

    snprintf(file, sizeof(file), "%s/hop.xml", pki);
    snprintf(conv, sizeof(conv), "csv-manifest:EVD0000042XX");
    fetch_at(&eu, "carrier", conv, 0, file);
    element_text(file, "Sha256", digest, sizeof(digest));
    snprintf(cmd, sizeof(cmd), "sha256sum '%s' | cut -c1-64", csv);
    assert_int_equal(cw_test_sh_out(sum, sizeof(sum), cmd), 0);
    assert_string_equal(digest, sum);
    /* What follows the digest: an empty Content. */
    snprintf(cmd, sizeof(cmd),
             "tr -d '\\n' < '%s' | grep -o 'Sha256>[0-9a-f]*</[A-Za-z0-9:]*Sha256>.\\{0,60\\}'",
             file);
    assert_int_equal(cw_test_sh_out(after, sizeof(after), cmd), 0);
    if (strstr(after, "Content/>") == NULL && strstr(after, "Content></") == NULL) {
        fail_msg("the evidence carries content: %s", after);
    }
}

static void test_e2e__administrations_exchange_both_ways(void **state)
{
    static char body[1 << 16];
    char to_cn[3][128];
    char to_eu[3][128];
    int i;

    (void)state;
    for (i = 0; i < 3; i++) {
        char *xml = consignment("eu-ops", "customs-cn", "", to_cn[i], sizeof(to_cn[i]));

        assert_int_equal(post(&eu, xml, body, sizeof(body)), 200);
        cw_free(xml);
        xml = consignment("cn-ops", "customs-eu", "", to_eu[i], sizeof(to_eu[i]));
        assert_int_equal(post(&cn, xml, body, sizeof(body)), 200);
        cw_free(xml);
    }
    for (i = 0; i < 3; i++) {
        assert_true(wait_state(&eu, "eu-ops", to_cn[i], "delivered", 20000));
        assert_true(wait_state(&cn, "cn-ops", to_eu[i], "delivered", 20000));
        assert_int_equal(wait_count(&cn, "customs-eu", to_cn[i], 1, 5000), 1);
        assert_int_equal(wait_count(&eu, "customs-cn", to_eu[i], 1, 5000), 1);
        check_chain(&cn, "customs-eu", to_cn[i], 0, "eu-ops");
        check_chain(&eu, "customs-cn", to_eu[i], 0, "cn-ops");
    }
}

static void test_e2e__kill_9_mid_traffic_loses_nothing(void **state)
{
    static char body[1 << 16];
    enum { N = 24 };
    char ids[N][128];
    char *xml[N];
    int ok[N];
    int i;

    (void)state;
    for (i = 0; i < N; i++) {
        xml[i] = consignment("shop", "customs-eu", "", ids[i], sizeof(ids[i]));
        ok[i] = 0;
    }
    for (i = 0; i < N; i++) {
        ok[i] = post(&platform, xml[i], body, sizeof(body)) == 200;
        if (i == N / 3) {
            /* Deliveries of the first third are queued or in flight. */
            assert_int_equal(cw_test_daemon_stop(&platform, SIGKILL, 5000), 128 + SIGKILL);
            /* Traffic keeps coming while the node is down: refused, not lost. */
            assert_int_equal(post(&platform, xml[i + 1], body, sizeof(body)), -1);
            assert_int_equal(cw_test_daemon_restart(&platform), 0);
        }
    }
    /* Whatever did not get its receipt is sent again, as a client would; a
     * duplicate gets the first receipt. */
    for (i = 0; i < N; i++) {
        if (!ok[i]) {
            assert_int_equal(post(&platform, xml[i], body, sizeof(body)), 200);
        }
    }
    for (i = 0; i < N; i++) {
        assert_true(wait_state(&platform, "shop", ids[i], "delivered", 30000));
        assert_int_equal(wait_count(&eu, "platform", ids[i], 1, 5000), 1);
        cw_free(xml[i]);
    }
    check_chain(&eu, "platform", ids[N / 3], 0, "shop");
}

static void test_e2e__destination_down_gets_everything_when_back(void **state)
{
    static char body[1 << 16];
    static char status[1 << 17];
    enum { N = 8 };
    char ids[N][128];
    char target[512];
    int i;

    (void)state;
    assert_int_equal(cw_test_daemon_stop(&eu, SIGTERM, 10000), 0);
    for (i = 0; i < N; i++) {
        char *xml = consignment("shop", "customs-eu", "", ids[i], sizeof(ids[i]));

        assert_int_equal(post(&platform, xml, body, sizeof(body)), 200);
        cw_free(xml);
    }
    /* The platform keeps trying. */
    cw_test_sleep_ms(1500);
    snprintf(target, sizeof(target), "/v1/messages/%s?from=shop", ids[0]);
    assert_int_equal(cw_test_admin_get(&platform, target, status, sizeof(status)), 200);
    assert_non_null(strstr(status, "\"state\":\"queued\""));
    assert_null(strstr(status, "\"attempts\":0"));
    assert_int_equal(cw_test_daemon_restart(&eu), 0);
    for (i = 0; i < N; i++) {
        assert_true(wait_state(&platform, "shop", ids[i], "delivered", 30000));
        assert_int_equal(wait_count(&eu, "platform", ids[i], 1, 5000), 1);
    }
    check_chain(&eu, "platform", ids[N - 1], 0, "shop");
}

/* One integer from sql on node d's store. */
static long long store_int(const cw_test_daemon_t *d, const char *sql)
{
    sqlite3 *db = store_open(d);
    sqlite3_stmt *st = NULL;
    long long n;

    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/*
 * Every envelope sealed in the tests above, by intake (orders, the
 * administrations' exchange) and by the adapters' inbound path (the
 * carrier's manifests), was delivered against the MessageId and digest
 * recorded when it was sealed: none needed the envelope read again.
 */
static void test_e2e__receipts_match_what_was_recorded_at_sealing(void **state)
{
    cw_test_daemon_t *all[] = { &platform, &carrier, &eu, &cn };
    long long delivered = 0;

    (void)state;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        delivered += store_int(all[i], "SELECT count(*) FROM deliveries WHERE state = 'delivered'");
        assert_int_equal(store_int(all[i], "SELECT count(*) FROM deliveries"
                                           " WHERE length(outgoing_digest) IS NOT 32"
                                           " OR coalesce(outgoing_id, '') = ''"),
                         0);
        assert_int_equal(cw_test_log_count(all[i], "differs from the envelope"), 0);
    }
    assert_true(store_int(&carrier, "SELECT count(*) FROM deliveries WHERE state = 'delivered'")
                > 0);
    assert_true(delivered > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_e2e__orders_arrive_once_with_their_signature_chain),
        cmocka_unit_test(test_e2e__red_consignment_is_refused_at_the_first_node),
        cmocka_unit_test(test_e2e__carrier_manifest_arrives_through_the_adapter),
        cmocka_unit_test(test_e2e__big_manifest_evidence_is_its_digest),
        cmocka_unit_test(test_e2e__administrations_exchange_both_ways),
        cmocka_unit_test(test_e2e__kill_9_mid_traffic_loses_nothing),
        cmocka_unit_test(test_e2e__destination_down_gets_everything_when_back),
        cmocka_unit_test(test_e2e__receipts_match_what_was_recorded_at_sealing),
    };

    return cmocka_run_group_tests_name("e2e", tests, group_setup, group_teardown);
}
