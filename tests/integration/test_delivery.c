/*
 * Store and forward between two real clearwayd nodes on loopback: a 200 is
 * a promise. alice sends to "hub" (node A) messages for "customs" (node B);
 * A commits, seals, delivers over mutual TLS and verifies B's receipts. Duplicates,
 * conflicts, a receiver that is down, kill -9 of the sender mid-burst, a
 * receiver that answers 500, hangs, sends garbage or refuses, and a failing
 * store are all checked against what each node's status API says. A node
 * stopped while a delivery is being translated or is on the wire keeps the
 * message queued, and a reload that adds a route delivers on it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cw_test.h"
#include "util.h"

static char pki[256];
static cw_test_daemon_t node_a; /* "hub": alice's entry point, forwards */
static cw_test_daemon_t node_b; /* "customs": the destination */
static int b_tls_port;          /* B's mutual-TLS listener, stable across restarts */

/* ==== A fake receiver: answers deliveries as told ==== */

typedef enum fake_mode_e {
    FAKE_500 = 0,     /* HTTP 500 */
    FAKE_HANG = 1,    /* reads the request, never answers */
    FAKE_GARBAGE = 2, /* 200 with a body that is no receipt */
    FAKE_400 = 3,     /* 400 problem document */
} fake_mode_e;

static struct {
    int fd;
    int port;
    atomic_int mode;
    atomic_int requests;
    atomic_int stop;
    pthread_t thread;
} fake;

static void reply(int c, const char *text)
{
    (void)!write(c, text, strlen(text));
}

/* Reads one request and answers as told; 1 when c is to be held open. */
static int fake_serve(int c)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    long clen = 0;

    while (len < sizeof(buf) - 1) {
        struct pollfd pfd = { c, POLLIN, 0 };
        ssize_t n;

        if (poll(&pfd, 1, 2000) <= 0) {
            return 0;
        }
        n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
        if (n <= 0) {
            return 0;
        }
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strstr(buf, "Content-Length:");

            clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
            if ((size_t)(end + 4 - buf) + (size_t)clen <= len) {
                break;
            }
        }
    }
    fake.requests++;
    switch (fake.mode) {
    case FAKE_500:
        reply(c, "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n");
        break;
    case FAKE_HANG:
        /* Never answered: held open (not slept on, so that the next
         * attempts are read and counted at once) until the sender gives up. */
        return 1;
    case FAKE_GARBAGE:
        reply(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
        break;
    case FAKE_400:
        reply(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        break;
    }
    return 0;
}

static void *fake_main(void *arg)
{
    int held[64];
    size_t held_len = 0;
    size_t i;

    (void)arg;
    while (!fake.stop) {
        struct pollfd pfd = { fake.fd, POLLIN, 0 };
        int c;

        if (poll(&pfd, 1, 100) <= 0) {
            if (fake.mode != FAKE_HANG) {
                for (i = 0; i < held_len; i++) {
                    close(held[i]);
                }
                held_len = 0;
            }
            continue;
        }
        c = accept(fake.fd, NULL, NULL);
        if (c >= 0) {
            if (fake_serve(c) && held_len < CW_ARRAY_SIZE(held)) {
                held[held_len++] = c;
            } else {
                close(c);
            }
        }
    }
    for (i = 0; i < held_len; i++) {
        close(held[i]);
    }
    return NULL;
}

static int fake_start(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    fake.fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fake.fd < 0 || bind(fake.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0
        || listen(fake.fd, 64) < 0 || getsockname(fake.fd, (struct sockaddr *)&sin, &len) < 0) {
        return -1;
    }
    fake.port = ntohs(sin.sin_port);
    return pthread_create(&fake.thread, NULL, fake_main, NULL) == 0 ? 0 : -1;
}

/* ==== Helpers ==== */

/* An envelope signed by alice for party to around the payload in file
 * path; its MessageId in id. */
static char *envelope_of(const char *to, const char *path, char *id, size_t id_size)
{
    FILE *f;
    char *out;
    size_t n;
    const char *p;
    char env[512];

    assert_int_equal(
        cw_test_sh("'%s' sign --key '%s/alice.key' --cert '%s/alice.pem' --from alice "
                   "--to %s --service ecommerce --action order %s%s '%s' > '%s/env.xml'",
                   getenv("CLEARWAY_CLI"), pki, pki, to, id[0] != '\0' ? "--message-id " : "", id,
                   path, pki),
        0);
    snprintf(env, sizeof(env), "%s/env.xml", pki);
    f = fopen(env, "r");
    assert_non_null(f);
    out = cw_malloc(1u << 16);
    assert_non_null(out);
    n = fread(out, 1, (1u << 16) - 1, f);
    out[n] = '\0';
    fclose(f);
    p = strstr(out, "<MessageId>");
    assert_non_null(p);
    p += strlen("<MessageId>");
    n = strcspn(p, "<");
    assert_true(n < id_size);
    memcpy(id, p, n);
    id[n] = '\0';
    return out;
}

/* A fresh envelope signed by alice for party to; its MessageId in id. */
static char *envelope(const char *to, const char *content, char *id, size_t id_size)
{
    static unsigned serial;
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/payload.xml", pki);
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "<c:Consignment xmlns:c=\"urn:clearway:consignment:1\"><c:Id>%s-%u</c:Id>"
            "</c:Consignment>",
            content, ++serial);
    fclose(f);
    return envelope_of(to, path, id, id_size);
}

/* POSTs xml to port; returns the status and keeps the body in body. */
static int post(int port, const char *xml, char *body, size_t body_size)
{
    cw_test_response_t r;
    cw_buf_t b;
    int status = -1;

    cw_buf_init(&b, 1u << 20);
    assert_int_equal(
        cw_buf_appendf(&b,
                       "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                       "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(xml), xml),
        0);
    if (cw_test_roundtrip(port, b.data, b.len, &r) == 0) {
        status = r.status;
        if (body != NULL) {
            cw_strlcpy(body, r.body, body_size);
        }
        cw_test_response_fini(&r);
    }
    cw_buf_fini(&b);
    return status;
}

/* GET on an admin listener; the body goes to out. Returns the status. */
static int admin_get(const cw_test_daemon_t *d, const char *target, char *out, size_t size)
{
    char req[1024];
    cw_test_response_t r;
    int status;

    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: x\r\n\r\n",
             strstr(target, "/retry") != NULL ? "POST" : "GET", target);
    if (strstr(target, "/retry") != NULL) {
        snprintf(req, sizeof(req), "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
                 target);
    }
    if (cw_test_roundtrip(cw_test_daemon_listener_port(d, "admin"), req, strlen(req), &r) < 0) {
        return -1;
    }
    status = r.status;
    cw_strlcpy(out, r.body != NULL ? r.body : "", size);
    cw_test_response_fini(&r);
    return status;
}

/* The state of alice's message id at node d ("" when unknown). */
static const char *
state_at(const cw_test_daemon_t *d, const char *id, char *state, size_t size, unsigned *attempts)
{
    static char body[1u << 17];
    char target[512];
    const char *p;

    state[0] = '\0';
    if ((size_t)snprintf(target, sizeof(target), "/v1/messages/%s?from=alice", id)
        >= sizeof(target)) {
        return state;
    }
    if (admin_get(d, target, body, sizeof(body)) != 200) {
        return state;
    }
    p = strstr(body, "\"state\":\"");
    if (p != NULL) {
        p += 9;
        snprintf(state, size, "%.*s", (int)strcspn(p, "\""), p);
    }
    p = strstr(body, "\"attempts\":");
    if (p != NULL && attempts != NULL) {
        *attempts = (unsigned)strtoul(p + 11, NULL, 10);
    }
    return state;
}

/* The state of alice's message id at node A ("" when unknown). */
static const char *state_at_a(const char *id, char *state, size_t size, unsigned *attempts)
{
    return state_at(&node_a, id, state, size, attempts);
}

/* Waits until alice's message at d is in state want; returns 1 if so. */
static int
wait_state_at(const cw_test_daemon_t *d, const char *id, const char *want, int timeout_ms)
{
    long long deadline = cw_test_now_ms() + timeout_ms;
    char state[32];

    while (cw_test_now_ms() < deadline) {
        if (strcmp(state_at(d, id, state, sizeof(state), NULL), want) == 0) {
            return 1;
        }
        cw_test_sleep_ms(50);
    }
    return 0;
}

/* Waits until alice's message at A is in state want; returns 1 if so. */
static int wait_state(const char *id, const char *want, int timeout_ms)
{
    return wait_state_at(&node_a, id, want, timeout_ms);
}

/* Waits until d's log has a line with needle; returns 1 if so. */
static int wait_log(const cw_test_daemon_t *d, const char *needle, int timeout_ms)
{
    long long deadline = cw_test_now_ms() + timeout_ms;

    while (cw_test_now_ms() < deadline) {
        if (cw_test_log_count(d, needle) > 0) {
            return 1;
        }
        cw_test_sleep_ms(20);
    }
    return 0;
}

/* How many messages node B holds whose ConversationId is id (the CLI sets
 * it to alice's MessageId, and forwarding keeps it). */
static int count_at_b(const char *id)
{
    static char body[8u << 20];
    char needle[256];
    const char *p;
    int n = 0;

    assert_int_equal(admin_get(&node_b, "/v1/messages?limit=1000", body, sizeof(body)), 200);
    assert_true((size_t)snprintf(needle, sizeof(needle), "\"conversation_id\":\"%s\"", id)
                < sizeof(needle));
    for (p = strstr(body, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* ==== Set-up ==== */

static int group_setup(void **state)
{
    const char *src = getenv("CLEARWAY_SRC");
    char node[1024];
    char extra[4096];
    int tls_port;

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(pki, sizeof(pki), "/tmp/cw-dlv-XXXXXX");
    if (src == NULL || mkdtemp(pki) == NULL
        || cw_test_sh("'%s/certs/make-dev-pki' '%s' hub customs alice >/dev/null 2>&1", src, pki)
               != 0
        || fake_start() < 0) {
        return -1;
    }
    snprintf(node, sizeof(node),
             "<node id=\"customs\" key=\"%s/customs.key\" cert=\"%s/customs.pem\"/>", pki, pki);
    /* B takes deliveries over mutual TLS on a port that survives restarts. */
    tls_port = cw_test_free_port();
    b_tls_port = tls_port;
    snprintf(extra, sizeof(extra),
             "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
             "  <listen name=\"tls\" address=\"127.0.0.1\" port=\"%d\" tls=\"true\"\n"
             "          cert=\"%s/customs.pem\" key=\"%s/customs.key\" client-ca=\"%s/ca.pem\"/>\n"
             "  <partner id=\"hub\" certs=\"%s/hub.pem\" tls-subject=\"CN=hub,O=Clearway dev\"\n"
             "           actions=\"*\" destinations=\"customs\"/>\n",
             tls_port, pki, pki, pki, pki);
    if (tls_port < 0 || cw_test_daemon_start_as(&node_b, node, extra) < 0) {
        return -1;
    }
    snprintf(node, sizeof(node), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>", pki,
             pki);
    snprintf(extra, sizeof(extra),
             "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
             "  <partner id=\"alice\" certs=\"%s/alice.pem\" actions=\"*\" destinations=\"*\"/>\n"
             "  <partner id=\"customs\" certs=\"%s/customs.pem\"/>\n"
             "  <partner id=\"fake\" certs=\"%s/customs.pem\"/>\n"
             "  <route to=\"customs\" url=\"https://127.0.0.1:%d/v1/messages\" ca=\"%s/ca.pem\"\n"
             "         client-cert=\"%s/hub.pem\" client-key=\"%s/hub.key\"\n"
             "         base-delay-ms=\"100\" max-delay-ms=\"400\" timeout-ms=\"3000\"/>\n"
             "  <route to=\"fake\" url=\"http://127.0.0.1:%d/v1/messages\" insecure-http=\"true\"\n"
             "         base-delay-ms=\"50\" max-delay-ms=\"100\" timeout-ms=\"500\" "
             "max-attempts=\"3\"/>\n",
             pki, pki, pki, tls_port, pki, pki, pki, fake.port);
    return cw_test_daemon_start_as(&node_a, node, extra);
}

static int group_teardown(void **state)
{
    int a;
    int b;

    (void)state;
    a = cw_test_daemon_stop(&node_a, SIGTERM, 10000);
    b = cw_test_daemon_stop(&node_b, SIGTERM, 10000);
    cw_test_daemon_cleanup(&node_a);
    cw_test_daemon_cleanup(&node_b);
    fake.stop = 1;
    pthread_join(fake.thread, NULL);
    close(fake.fd);
    (void)cw_test_sh("rm -rf '%s'", pki);
    return a == 0 && b == 0 ? 0 : -1;
}

/* ==== Tests ==== */

static void test_delivery__forwarded_and_delivered_once(void **state)
{
    char id[128] = "";
    char *xml = envelope("customs", "fwd", id, sizeof(id));
    char body[65536];

    (void)state;
    assert_int_equal(post(node_a.port, xml, body, sizeof(body)), 200);
    assert_non_null(strstr(body, "<Status>accepted</Status>"));
    assert_true(wait_state(id, "delivered", 10000));
    assert_int_equal(count_at_b(id), 1);
    cw_free(xml);
}

static void test_delivery__duplicate_gets_original_receipt(void **state)
{
    char id[128] = "";
    char *xml = envelope("customs", "dup", id, sizeof(id));
    static char first[65536];
    static char second[65536];
    char *other;

    (void)state;
    assert_int_equal(post(node_a.port, xml, first, sizeof(first)), 200);
    assert_int_equal(post(node_a.port, xml, second, sizeof(second)), 200);
    /* Byte for byte the receipt given the first time. */
    assert_string_equal(first, second);
    /* The same MessageId for other content is a conflict. */
    other = envelope("customs", "dup-other", id, sizeof(id));
    assert_int_equal(post(node_a.port, other, second, sizeof(second)), 409);
    assert_non_null(strstr(second, "urn:clearway:problem:duplicate-message-id"));
    assert_true(wait_state(id, "delivered", 10000));
    assert_int_equal(count_at_b(id), 1);
    cw_free(other);
    cw_free(xml);
}

/* Stops node B, then sends n messages for it through A (each acknowledged);
 * their MessageIds go to ids. */
static void queue_with_b_down(char (*ids)[128], int n, const char *content)
{
    char *xml;
    int i;

    assert_int_equal(cw_test_daemon_stop(&node_b, SIGTERM, 10000), 0);
    for (i = 0; i < n; i++) {
        ids[i][0] = '\0';
        xml = envelope("customs", content, ids[i], sizeof(ids[i]));
        assert_int_equal(post(node_a.port, xml, NULL, 0), 200);
        cw_free(xml);
    }
}

static void test_delivery__receiver_down_then_up(void **state)
{
    enum { N = 5 };
    char ids[N][128];
    char st[32];
    unsigned attempts = 0;
    int i;

    (void)state;
    queue_with_b_down(ids, N, "down");
    /* Refused connections are retried with backoff (100 ms doubling to
     * 400 ms here), so a few seconds of downtime cost a handful of
     * attempts, not hundreds. */
    cw_test_sleep_ms(2500);
    assert_string_equal(state_at_a(ids[0], st, sizeof(st), &attempts), "queued");
    assert_true(attempts >= 2);
    assert_true(attempts <= 30);
    assert_int_equal(cw_test_daemon_restart(&node_b), 0);
    for (i = 0; i < N; i++) {
        assert_true(wait_state(ids[i], "delivered", 15000));
        assert_int_equal(count_at_b(ids[i]), 1);
    }
}

/* Runs sql on A's store (A stopped) with id bound to ?1; returns the rows
 * it changed. */
static int sql_at_a(const char *sql, const char *id)
{
    char path[600];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int changed;

    (void)snprintf(path, sizeof(path), "%s/clearway.db", node_a.dir);
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    changed = sqlite3_changes(db);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return changed;
}

/*
 * A records, when it seals an envelope, what the receipt for it must name
 * (its MessageId and digest), and checks the receipt against that record
 * without reading the envelope again. A delivery without the record (queued
 * by a build before schema 8) is checked against the envelope itself; so is
 * one whose record does not match the receipt, with a warning. All three
 * are delivered. A keeps each envelope without its evidence (schema 10:
 * an empty Content where the base64 of the received bytes was), and what
 * it sends is what it signed: B accepts it, and the receipt names it.
 */
static void test_delivery__receipt_checked_against_the_record(void **state)
{
    enum { N = 3 };
    static const char *const where =
        " WHERE message = (SELECT id FROM messages WHERE from_party = 'alice'"
        " AND message_id = ?1)";
    char sql[512];
    char ids[N][128];
    int warned;
    int i;

    (void)state;
    warned = cw_test_log_count(&node_a, "differs from the envelope");
    queue_with_b_down(ids, N, "record");
    assert_int_equal(cw_test_daemon_stop(&node_a, SIGTERM, 10000), 0);
    (void)snprintf(sql, sizeof(sql),
                   "UPDATE delivery_bodies SET evidence_at = evidence_at"
                   " WHERE delivery = (SELECT id FROM deliveries%s) AND evidence_at > 0"
                   " AND instr(CAST(outgoing AS TEXT), '<Content></Content>') = evidence_at - 8",
                   where);
    for (i = 0; i < N; i++) {
        assert_int_equal(sql_at_a(sql, ids[i]), 1);
    }
    /* Recorded at sealing: this matches only a row with both. */
    (void)snprintf(sql, sizeof(sql),
                   "UPDATE deliveries SET attempts = attempts%s AND length(outgoing_digest) = 32"
                   " AND outgoing_id <> ''",
                   where);
    for (i = 0; i < N; i++) {
        assert_int_equal(sql_at_a(sql, ids[i]), 1);
    }
    (void)snprintf(sql, sizeof(sql),
                   "UPDATE deliveries SET outgoing_id = NULL, outgoing_digest = NULL%s", where);
    assert_int_equal(sql_at_a(sql, ids[0]), 1);
    (void)snprintf(sql, sizeof(sql), "UPDATE deliveries SET outgoing_digest = zeroblob(32)%s",
                   where);
    assert_int_equal(sql_at_a(sql, ids[1]), 1);
    assert_int_equal(cw_test_daemon_restart(&node_a), 0);
    assert_int_equal(cw_test_daemon_restart(&node_b), 0);
    for (i = 0; i < N; i++) {
        assert_true(wait_state(ids[i], "delivered", 15000));
        assert_int_equal(count_at_b(ids[i]), 1);
    }
    assert_int_equal(cw_test_log_count(&node_a, "differs from the envelope"), warned + 1);
}

/* The sum of A's attempts on route that ended in a retry or failed. */
static long long failed_attempts_at_a(const char *route);

static void test_delivery__peer_down_is_probed_not_flooded(void **state)
{
    enum { N = 20 };
    char ids[N][128];
    long long before;
    long long during;
    int i;

    (void)state;
    queue_with_b_down(ids, N, "probed");
    /* Each message alone would be retried every 0-400 ms (base 100, max
     * 400): some 100 attempts in 2 s for 20 of them. The route is held
     * instead, one probe per 100-400 ms. */
    before = failed_attempts_at_a("customs");
    cw_test_sleep_ms(2000);
    during = failed_attempts_at_a("customs") - before;
    /* Back up (before the checks, so that a failure here leaves B running
     * for the next tests): the next probe succeeds and every message goes. */
    assert_int_equal(cw_test_daemon_restart(&node_b), 0);
    assert_true(during >= 1);
    assert_true(during <= 25);
    for (i = 0; i < N; i++) {
        assert_true(wait_state(ids[i], "delivered", 15000));
    }
}

static void test_delivery__kill_9_mid_burst_loses_nothing(void **state)
{
    enum { N = 30 };
    char ids[N][128];
    int acked[N];
    char *xml;
    int i;
    int fd = -1;

    (void)state;
    for (i = 0; i < N; i++) {
        ids[i][0] = '\0';
        xml = envelope("customs", "burst", ids[i], sizeof(ids[i]));
        if (i == N / 2) {
            /* One request in flight when the sender is killed: it may or may
             * not have been committed, but it was never acknowledged. */
            cw_buf_t b;

            cw_buf_init(&b, 1u << 20);
            assert_int_equal(cw_buf_appendf(&b,
                                            "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                                            "Content-Type: application/xml\r\n"
                                            "Content-Length: %zu\r\n\r\n%s",
                                            strlen(xml), xml),
                             0);
            fd = cw_test_connect(node_a.port);
            assert_true(fd >= 0);
            assert_int_equal(cw_test_send(fd, b.data, b.len), 0);
            cw_buf_fini(&b);
            assert_int_equal(cw_test_daemon_stop(&node_a, SIGKILL, 5000), 128 + SIGKILL);
            close(fd);
            acked[i] = 0;
            assert_int_equal(cw_test_daemon_restart(&node_a), 0);
        } else {
            acked[i] = post(node_a.port, xml, NULL, 0) == 200;
            assert_true(acked[i]);
        }
        cw_free(xml);
    }
    for (i = 0; i < N; i++) {
        if (acked[i]) {
            assert_true(wait_state(ids[i], "delivered", 15000));
        }
    }
    cw_test_sleep_ms(300);
    for (i = 0; i < N; i++) {
        int n = count_at_b(ids[i]);

        /* Every acknowledged message exactly once; the unacknowledged one
         * at most once. */
        if (acked[i]) {
            assert_int_equal(n, 1);
        } else {
            assert_true(n <= 1);
        }
    }
}

/* Sends one message to "fake" in mode; returns its id in id. */
static void send_to_fake(fake_mode_e mode, char *id, size_t size)
{
    char *xml;

    fake.mode = mode;
    fake.requests = 0;
    id[0] = '\0';
    xml = envelope("fake", "fake", id, size);
    assert_int_equal(post(node_a.port, xml, NULL, 0), 200);
    cw_free(xml);
}

static void test_delivery__500_timeout_and_garbage_are_retried(void **state)
{
    static const fake_mode_e modes[] = { FAKE_500, FAKE_HANG, FAKE_GARBAGE };
    char id[128];
    char st[32];
    unsigned attempts = 0;
    size_t i;

    (void)state;
    for (i = 0; i < CW_ARRAY_SIZE(modes); i++) {
        send_to_fake(modes[i], id, sizeof(id));
        /* max-attempts 3: retried, then dead-lettered. */
        assert_true(wait_state(id, "failed", 15000));
        assert_string_equal(state_at_a(id, st, sizeof(st), &attempts), "failed");
        assert_int_equal(attempts, 3);
        assert_true(fake.requests >= 3);
    }
}

static void test_delivery__4xx_fails_at_once_and_admin_retry(void **state)
{
    char id[128];
    char st[32];
    char target[512];
    char body[4096];
    unsigned attempts = 0;

    (void)state;
    send_to_fake(FAKE_400, id, sizeof(id));
    assert_true(wait_state(id, "failed", 10000));
    assert_string_equal(state_at_a(id, st, sizeof(st), &attempts), "failed");
    assert_int_equal(attempts, 1);
    assert_int_equal(fake.requests, 1);
    /* The dead letter goes back in the queue by hand, and fails again. */
    snprintf(target, sizeof(target), "/v1/messages/%s/retry?from=alice", id);
    assert_int_equal(admin_get(&node_a, target, body, sizeof(body)), 200);
    assert_true(wait_state(id, "failed", 10000));
    assert_int_equal(fake.requests, 2);
    /* A message that is not failed cannot be retried; an unknown one is 404. */
    snprintf(target, sizeof(target), "/v1/messages/no-such-id/retry?from=alice");
    assert_int_equal(admin_get(&node_a, target, body, sizeof(body)), 404);
}

static void test_delivery__status_api_and_cli(void **state)
{
    char body[1u << 16];
    char cmd[1024];

    (void)state;
    /* The list is admin-only: the public listener says 403. */
    {
        const char *req = "GET /v1/messages HTTP/1.1\r\nHost: x\r\n\r\n";
        cw_test_response_t r;

        assert_int_equal(cw_test_roundtrip(node_a.port, req, strlen(req), &r), 0);
        assert_int_equal(r.status, 403);
        cw_test_response_fini(&r);
    }
    assert_int_equal(admin_get(&node_a, "/v1/messages?state=failed&limit=2", body, sizeof(body)),
                     200);
    assert_non_null(strstr(body, "\"state\":\"failed\""));
    assert_null(strstr(body, "\"state\":\"delivered\""));
    assert_non_null(strstr(body, "\"next_cursor\":\""));
    assert_int_equal(admin_get(&node_a, "/v1/messages?state=bogus", body, sizeof(body)), 400);
    /* since: an RFC 3339 instant with any offset, or epoch seconds. */
    assert_int_equal(admin_get(&node_a, "/v1/messages?state=failed&since=2000-01-01T00:00:00Z",
                               body, sizeof(body)),
                     200);
    assert_non_null(strstr(body, "\"state\":\"failed\""));
    assert_int_equal(admin_get(&node_a,
                               "/v1/messages?state=failed&since=2000-01-01T01:00:00.5%2B01:00",
                               body, sizeof(body)),
                     200);
    assert_non_null(strstr(body, "\"state\":\"failed\""));
    assert_int_equal(
        admin_get(&node_a, "/v1/messages?state=failed&since=946684800", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "\"state\":\"failed\""));
    assert_int_equal(admin_get(&node_a, "/v1/messages?state=failed&since=2999-01-01T00:00:00Z",
                               body, sizeof(body)),
                     200);
    assert_null(strstr(body, "\"state\":\"failed\""));
    assert_int_equal(
        admin_get(&node_a, "/v1/messages?since=2026-02-30T00:00:00Z", body, sizeof(body)), 400);
    assert_int_equal(admin_get(&node_a, "/v1/messages?since=2026-11-29", body, sizeof(body)), 400);
    snprintf(cmd, sizeof(cmd),
             "'%s' messages list --url http://127.0.0.1:%d --state delivered --limit 1 "
             "| grep -q '\"state\":\"delivered\"'",
             getenv("CLEARWAY_CLI"), cw_test_daemon_listener_port(&node_a, "admin"));
    assert_int_equal(cw_test_sh("%s", cmd), 0);
}

/* The value of one sample of node A's /metrics (name with its labels, as
 * rendered); -1 when it is not there. */
static long long metric_at_a(const char *sample)
{
    static char body[1u << 20];
    char needle[256];
    const char *p;

    assert_int_equal(admin_get(&node_a, "/metrics", body, sizeof(body)), 200);
    assert_true((size_t)snprintf(needle, sizeof(needle), "\n%s ", sample) < sizeof(needle));
    p = strstr(body, needle);
    return p != NULL ? strtoll(p + strlen(needle), NULL, 10) : -1;
}

static long long failed_attempts_at_a(const char *route)
{
    char sample[256];
    long long retry;
    long long failed;

    (void)snprintf(sample, sizeof(sample),
                   "clearway_delivery_attempts_total{route=\"%s\",outcome=\"retry\"}", route);
    retry = metric_at_a(sample);
    (void)snprintf(sample, sizeof(sample),
                   "clearway_delivery_attempts_total{route=\"%s\",outcome=\"failed\"}", route);
    failed = metric_at_a(sample);
    assert_true(retry >= 0 && failed >= 0);
    return retry + failed;
}

/* Waits until no delivery of A is in flight (every one answered; its
 * outcome is counted before it leaves the window). */
static void wait_idle_at_a(void)
{
    long long deadline = cw_test_now_ms() + 10000;

    while (metric_at_a("clearway_deliveries_in_flight{route=\"fake\"}") != 0
           || metric_at_a("clearway_deliveries_in_flight{route=\"customs\"}") != 0) {
        assert_true(cw_test_now_ms() < deadline);
        cw_test_sleep_ms(20);
    }
}

static void test_delivery__metrics_count_outcomes_per_route(void **state)
{
    static const char *const samples[] = {
        "clearway_delivery_attempts_total{route=\"customs\",outcome=\"delivered\"}",
        "clearway_delivery_attempts_total{route=\"fake\",outcome=\"retry\"}",
        "clearway_delivery_attempts_total{route=\"fake\",outcome=\"failed\"}",
        "clearway_delivery_attempts_total{route=\"fake\",outcome=\"delivered\"}",
        /* Each stage of a delivered attempt is timed once; attempts that
         * did not deliver are not timed. */
        "clearway_delivery_stage_seconds_count{stage=\"claim\"}",
        "clearway_delivery_stage_seconds_count{stage=\"prepare\"}",
        "clearway_delivery_stage_seconds_count{stage=\"exchange\"}",
        "clearway_delivery_stage_seconds_count{stage=\"check\"}",
        "clearway_delivery_stage_seconds_count{stage=\"total\"}",
        "clearway_delivery_stage_seconds_bucket{stage=\"total\",le=\"+Inf\"}",
    };
    long long before[10];
    long long after[10];
    char id[128] = "";
    char *xml;
    size_t i;

    (void)state;
    assert_int_equal(metric_at_a("clearway_delivery_paused"), 0);
    /* The default concurrency, and a window within it. */
    assert_int_equal(metric_at_a("clearway_route_concurrency{route=\"customs\"}"), 32);
    assert_true(metric_at_a("clearway_route_concurrency_limit{route=\"customs\"}") >= 1);
    assert_true(metric_at_a("clearway_route_concurrency_limit{route=\"customs\"}") <= 32);
    wait_idle_at_a();
    for (i = 0; i < CW_ARRAY_SIZE(samples); i++) {
        before[i] = metric_at_a(samples[i]);
        assert_true(before[i] >= 0);
    }
    /* One delivered to customs; one to fake answered 500 three times
     * (max-attempts 3): two retries, then failed. */
    xml = envelope("customs", "metrics", id, sizeof(id));
    assert_int_equal(post(node_a.port, xml, NULL, 0), 200);
    cw_free(xml);
    assert_true(wait_state(id, "delivered", 10000));
    send_to_fake(FAKE_500, id, sizeof(id));
    assert_true(wait_state(id, "failed", 15000));
    wait_idle_at_a();
    for (i = 0; i < CW_ARRAY_SIZE(samples); i++) {
        after[i] = metric_at_a(samples[i]);
    }
    assert_int_equal(after[0] - before[0], 1);
    assert_int_equal(after[1] - before[1], 2);
    assert_int_equal(after[2] - before[2], 1);
    assert_int_equal(after[3] - before[3], 0);
    for (i = 4; i < CW_ARRAY_SIZE(samples); i++) {
        if (after[i] - before[i] != 1) {
            fail_msg("%s went from %lld to %lld", samples[i], before[i], after[i]);
        }
    }
}

/* Starts node "hub" alone, alice its partner, with the store's fault hook
 * set from the start (CW_STORE_FAULT). */
static void hub_start_with_fault(cw_test_daemon_t *d, const char *fault)
{
    char node[1024];
    char extra[1024];

    snprintf(node, sizeof(node), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>", pki,
             pki);
    snprintf(extra, sizeof(extra),
             "  <partner id=\"alice\" certs=\"%s/alice.pem\" actions=\"*\" destinations=\"*\"/>\n",
             pki);
    setenv("CW_STORE_FAULT", fault, 1);
    assert_int_equal(cw_test_daemon_start_as(d, node, extra), 0);
    unsetenv("CW_STORE_FAULT");
}

static void test_delivery__failing_store_is_503_and_nothing_acked(void **state)
{
    cw_test_daemon_t d;
    char id[128] = "";
    char *xml;
    char body[4096];
    cw_test_response_t r;
    char retry_after[16];
    cw_buf_t b;

    (void)state;
    hub_start_with_fault(&d, "commit-fail");
    xml = envelope("hub", "fault", id, sizeof(id));
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(
        cw_buf_appendf(&b,
                       "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                       "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(xml), xml),
        0);
    assert_int_equal(cw_test_roundtrip(d.port, b.data, b.len, &r), 0);
    assert_int_equal(r.status, 503);
    assert_int_equal(cw_test_response_header(&r, "retry-after", retry_after, sizeof(retry_after)),
                     0);
    assert_non_null(strstr(r.body, "urn:clearway:problem:unavailable"));
    cw_test_response_fini(&r);
    cw_buf_fini(&b);
    /* Restarted without the fault: the message is not there (it was never
     * acknowledged), and sending it again works. */
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    assert_int_equal(cw_test_daemon_restart(&d), 0);
    assert_int_equal(post(d.port, xml, body, sizeof(body)), 200);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    cw_test_daemon_cleanup(&d);
    cw_free(xml);
}

/* A flush of the WAL that fails (the fault hook) leaves what reached the
 * disk unknown: the node answers 503 to the message and from then on says
 * it is not ready, until it is restarted; then it takes the message. */
static void test_delivery__failed_flush_is_503_and_not_ready(void **state)
{
    cw_test_daemon_t d;
    char id[128] = "";
    char body[4096];
    char *xml;
    const char *ready = "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;

    (void)state;
    hub_start_with_fault(&d, "sync-fail");
    assert_int_equal(cw_test_roundtrip(d.port, ready, strlen(ready), &r), 0);
    assert_int_equal(r.status, 200);
    cw_test_response_fini(&r);

    xml = envelope("hub", "flush", id, sizeof(id));
    assert_int_equal(post(d.port, xml, body, sizeof(body)), 503);
    assert_non_null(strstr(body, "urn:clearway:problem:unavailable"));
    assert_int_equal(cw_test_roundtrip(d.port, ready, strlen(ready), &r), 0);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "could not flush its WAL"));
    cw_test_response_fini(&r);

    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    assert_int_equal(cw_test_daemon_restart(&d), 0);
    assert_int_equal(cw_test_roundtrip(d.port, ready, strlen(ready), &r), 0);
    assert_int_equal(r.status, 200);
    cw_test_response_fini(&r);
    assert_int_equal(post(d.port, xml, body, sizeof(body)), 200);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    cw_test_daemon_cleanup(&d);
    cw_free(xml);
}

/* Starts another "hub" (a store of its own), alice its partner, with its
 * admin listener and the routes given (XML, may be ""). */
static void hub_start_with_routes(cw_test_daemon_t *d, const char *routes)
{
    char node[1024];
    char extra[4096];

    snprintf(node, sizeof(node), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>", pki,
             pki);
    assert_true((size_t)snprintf(
                    extra, sizeof(extra),
                    "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
                    "  <partner id=\"alice\" certs=\"%s/alice.pem\" actions=\"*\" "
                    "destinations=\"*\"/>\n"
                    "  <partner id=\"customs\" certs=\"%s/customs.pem\"/>\n"
                    "  <partner id=\"fake\" certs=\"%s/customs.pem\"/>\n"
                    "  <partner id=\"cn\" certs=\"%s/customs.pem\"/>\n%s",
                    pki, pki, pki, pki, routes)
                < sizeof(extra));
    assert_int_equal(cw_test_daemon_start_as(d, node, extra), 0);
}

/* Waits until the fake receiver has read n requests; returns 1 if so. */
static int wait_fake_requests(int n, int timeout_ms)
{
    long long deadline = cw_test_now_ms() + timeout_ms;

    while (fake.requests < n) {
        if (cw_test_now_ms() >= deadline) {
            return 0;
        }
        cw_test_sleep_ms(20);
    }
    return 1;
}

/*
 * SIGTERM while an output adapter's translation runs on a worker: the
 * translation ends after the HTTP client has been freed. It must find
 * none (no use after free: the daemon exits 0 under ASan), send nothing,
 * and leave the message queued (max-attempts 1: an attempt counted
 * against the peer would have dead-lettered it); the next start delivers it.
 */
static void test_delivery__stop_mid_translation_keeps_the_message(void **state)
{
    cw_test_daemon_t d;
    char routes[1024];
    char path[512];
    char id[128] = "";
    char *xml;

    (void)state;
    snprintf(routes, sizeof(routes),
             "  <route to=\"cn\" url=\"http://127.0.0.1:%d/ceb\" insecure-http=\"true\"\n"
             "         adapter=\"ceb621\" max-attempts=\"1\" base-delay-ms=\"50\" "
             "max-delay-ms=\"100\"/>\n",
             fake.port);
    setenv("CW_DELIVERY_FAULT", "translate-slow", 1);
    hub_start_with_routes(&d, routes);
    unsetenv("CW_DELIVERY_FAULT");
    /* A 200: delivered, on a route with an output adapter. */
    fake.mode = FAKE_GARBAGE;
    fake.requests = 0;
    snprintf(path, sizeof(path), "%s/tests/data/consignments/cn-cbec-formula.xml",
             getenv("CLEARWAY_SRC"));
    xml = envelope_of("cn", path, id, sizeof(id));
    assert_int_equal(post(d.port, xml, NULL, 0), 200);
    assert_true(wait_log(&d, "test hook: translation", 10000));
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 20000), 0);
    assert_int_equal(cw_test_log_count(&d, "AddressSanitizer"), 0);
    assert_int_equal(cw_test_log_count(&d, "not sent: the node is stopping"), 1);
    assert_int_equal(fake.requests, 0);
    assert_int_equal(cw_test_daemon_restart(&d), 0);
    assert_true(wait_state_at(&d, id, "delivered", 15000));
    assert_int_equal(fake.requests, 1);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    cw_test_daemon_cleanup(&d);
    cw_free(xml);
}

/*
 * SIGTERM while a POST waits for its peer: the node's own client cancels
 * it, which is no failure of the peer's. On the last allowed attempt the
 * message stays queued instead of being dead-lettered.
 */
static void test_delivery__stop_mid_post_is_no_peer_failure(void **state)
{
    cw_test_daemon_t d;
    char routes[1024];
    char id[128] = "";
    char st[32];
    char *xml;

    (void)state;
    snprintf(routes, sizeof(routes),
             "  <route to=\"fake\" url=\"http://127.0.0.1:%d/v1/messages\" "
             "insecure-http=\"true\"\n"
             "         max-attempts=\"1\" timeout-ms=\"30000\"/>\n",
             fake.port);
    hub_start_with_routes(&d, routes);
    fake.mode = FAKE_HANG;
    fake.requests = 0;
    xml = envelope("fake", "cancelled", id, sizeof(id));
    assert_int_equal(post(d.port, xml, NULL, 0), 200);
    assert_true(wait_fake_requests(1, 10000));
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    assert_int_equal(cw_test_daemon_restart(&d), 0);
    assert_string_equal(state_at(&d, id, st, sizeof(st), NULL), "queued");
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    fake.mode = FAKE_500;
    cw_test_daemon_cleanup(&d);
    cw_free(xml);
}

/* A node started without routes gets one by SIGHUP: a message for it is
 * accepted and delivered (the scheduler takes the reloaded routes). */
static void test_delivery__reload_adds_a_route(void **state)
{
    cw_test_daemon_t d;
    char routes[2048];
    char extra[8192];
    char id[128] = "";
    char *xml;

    (void)state;
    hub_start_with_routes(&d, "");
    snprintf(routes, sizeof(routes),
             "  <route to=\"customs\" url=\"https://127.0.0.1:%d/v1/messages\" ca=\"%s/ca.pem\"\n"
             "         client-cert=\"%s/hub.pem\" client-key=\"%s/hub.key\"/>\n",
             b_tls_port, pki, pki, pki);
    assert_true((size_t)snprintf(extra, sizeof(extra), "%s%s", d.extra, routes) < sizeof(extra));
    cw_strlcpy(d.extra, extra, sizeof(d.extra));
    assert_int_equal(cw_test_daemon_write_config(&d, d.extra, 1), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(wait_log(&d, "configuration reloaded", 10000));
    xml = envelope("customs", "reloaded", id, sizeof(id));
    assert_int_equal(post(d.port, xml, NULL, 0), 200);
    assert_true(wait_state_at(&d, id, "delivered", 15000));
    assert_int_equal(count_at_b(id), 1);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    cw_test_daemon_cleanup(&d);
    cw_free(xml);
}

/* <delivery paused="true"/> and back by SIGHUP: queued while paused,
 * delivered once the reloaded configuration resumes. */
static void test_delivery__reload_pauses_and_resumes_delivery(void **state)
{
    cw_test_daemon_t d;
    char routes[2048];
    char base[8192];
    char extra[8192];
    char id[128] = "";
    char st[32];
    char *xml;
    char *partner;

    (void)state;
    snprintf(routes, sizeof(routes),
             "  <route to=\"customs\" url=\"https://127.0.0.1:%d/v1/messages\" ca=\"%s/ca.pem\"\n"
             "         client-cert=\"%s/hub.pem\" client-key=\"%s/hub.key\"/>\n",
             b_tls_port, pki, pki, pki);
    hub_start_with_routes(&d, routes);
    cw_strlcpy(base, d.extra, sizeof(base));
    /* <delivery> goes before the partners (schemas/config.xsd). */
    partner = strstr(base, "  <partner ");
    assert_non_null(partner);
    assert_true((size_t)snprintf(extra, sizeof(extra), "%.*s  <delivery paused=\"true\"/>\n%s",
                                 (int)(partner - base), base, partner)
                < sizeof(extra));
    cw_strlcpy(d.extra, extra, sizeof(d.extra));
    assert_int_equal(cw_test_daemon_write_config(&d, d.extra, 1), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(wait_log(&d, "delivery paused by the reloaded configuration", 10000));
    xml = envelope("customs", "paused", id, sizeof(id));
    assert_int_equal(post(d.port, xml, NULL, 0), 200);
    cw_test_sleep_ms(1500);
    assert_string_equal(state_at(&d, id, st, sizeof(st), NULL), "queued");
    assert_int_equal(count_at_b(id), 0);
    cw_strlcpy(d.extra, base, sizeof(d.extra));
    assert_int_equal(cw_test_daemon_write_config(&d, d.extra, 1), 0);
    assert_int_equal(kill(d.pid, SIGHUP), 0);
    assert_true(wait_log(&d, "delivery resumed by the reloaded configuration", 10000));
    assert_true(wait_state_at(&d, id, "delivered", 15000));
    assert_int_equal(count_at_b(id), 1);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    cw_test_daemon_cleanup(&d);
    cw_free(xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivery__forwarded_and_delivered_once),
        cmocka_unit_test(test_delivery__duplicate_gets_original_receipt),
        cmocka_unit_test(test_delivery__receiver_down_then_up),
        cmocka_unit_test(test_delivery__peer_down_is_probed_not_flooded),
        cmocka_unit_test(test_delivery__receipt_checked_against_the_record),
        cmocka_unit_test(test_delivery__kill_9_mid_burst_loses_nothing),
        cmocka_unit_test(test_delivery__500_timeout_and_garbage_are_retried),
        cmocka_unit_test(test_delivery__4xx_fails_at_once_and_admin_retry),
        cmocka_unit_test(test_delivery__status_api_and_cli),
        cmocka_unit_test(test_delivery__metrics_count_outcomes_per_route),
        cmocka_unit_test(test_delivery__stop_mid_translation_keeps_the_message),
        cmocka_unit_test(test_delivery__stop_mid_post_is_no_peer_failure),
        cmocka_unit_test(test_delivery__reload_adds_a_route),
        cmocka_unit_test(test_delivery__reload_pauses_and_resumes_delivery),
        cmocka_unit_test(test_delivery__failing_store_is_503_and_nothing_acked),
        cmocka_unit_test(test_delivery__failed_flush_is_503_and_not_ready),
    };

    return cmocka_run_group_tests_name("integration_delivery", tests, group_setup, group_teardown);
}
