/*
 * The facilitation core inside a running clearwayd: a green consignment gets
 * a positive receipt carrying the signed assessment, which also travels in
 * the forwarded envelope; a red one (a lithium battery by air) gets a signed
 * negative receipt listing the findings and is not forwarded; a stateful
 * check (DUP-002) sees an earlier message through the store's ledger; and
 * the measurement figures appear in /metrics and /v1/stats.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cw_test.h"
#include "util.h"

static char pki[256];
static cw_test_daemon_t hub;

/* ==== A receiver that keeps the last body it got ==== */

static struct {
    int fd;
    int port;
    atomic_int stop;
    pthread_mutex_t lock;
    char body[1 << 20];
    atomic_int requests;
    pthread_t thread;
} sink;

static void *sink_main(void *arg)
{
    (void)arg;
    while (!sink.stop) {
        struct pollfd pfd = { sink.fd, POLLIN, 0 };
        char buf[1 << 16];
        size_t len = 0;
        int c;

        if (poll(&pfd, 1, 100) <= 0) {
            continue;
        }
        c = accept(sink.fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        for (;;) {
            struct pollfd cp = { c, POLLIN, 0 };
            ssize_t n;
            char *end;

            if (poll(&cp, 1, 2000) <= 0 || len + 1 >= sizeof(buf)) {
                break;
            }
            n = recv(c, buf + len, sizeof(buf) - 1 - len, 0);
            if (n <= 0) {
                break;
            }
            len += (size_t)n;
            buf[len] = '\0';
            end = strstr(buf, "\r\n\r\n");
            if (end != NULL) {
                const char *cl = strstr(buf, "Content-Length:");
                long clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;

                if ((size_t)(end + 4 - buf) + (size_t)clen <= len) {
                    pthread_mutex_lock(&sink.lock);
                    cw_strlcpy(sink.body, end + 4, sizeof(sink.body));
                    sink.requests++;
                    pthread_mutex_unlock(&sink.lock);
                    break;
                }
            }
        }
        /* No receipt: the delivery will be retried, which is fine here. */
        (void)!write(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", 56);
        close(c);
    }
    return NULL;
}

static int sink_start(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    pthread_mutex_init(&sink.lock, NULL);
    sink.fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (sink.fd < 0 || bind(sink.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0
        || listen(sink.fd, 16) < 0 || getsockname(sink.fd, (struct sockaddr *)&sin, &len) < 0) {
        return -1;
    }
    sink.port = ntohs(sin.sin_port);
    return pthread_create(&sink.thread, NULL, sink_main, NULL) == 0 ? 0 : -1;
}

/* ==== Helpers ==== */

/*
 * Writes a consignment (the IOSS T-shirt fixture with edits applied by sed
 * expression sed_expr, may be "") signed by alice for party to; POSTs it to
 * the hub; returns the status, the body in body.
 */
static int send_consignment(const char *to, const char *sed_expr, char *body, size_t size)
{
    static unsigned serial;
    const char *src = getenv("CLEARWAY_SRC");
    char path[512];
    char *xml;
    size_t n;
    FILE *f;
    cw_test_response_t r;
    cw_buf_t b;
    int status = -1;

    serial++;
    assert_int_equal(
        /* The test's edits first; then every consignment gets its own id and,
         * unless the test set one, its own order number. */
        cw_test_sh("sed %s%s%s -e 's/CW-2026-000101/CW-T-%u/' -e 's/SQ-88812/SQ-T-%u/' "
                   "'%s/tests/data/consignments/eu-ioss-tshirts.xml' > '%s/c.xml' && '%s' sign "
                   "--key '%s/alice.key' --cert '%s/alice.pem' --from alice --to %s "
                   "--service ecommerce --action consignment '%s/c.xml' > '%s/env.xml'",
                   sed_expr[0] != '\0' ? "-e '" : "", sed_expr, sed_expr[0] != '\0' ? "'" : "",
                   serial, serial, src, pki, getenv("CLEARWAY_CLI"), pki, pki, to, pki, pki),
        0);
    snprintf(path, sizeof(path), "%s/env.xml", pki);
    f = fopen(path, "r");
    assert_non_null(f);
    xml = cw_malloc(1u << 18);
    assert_non_null(xml);
    n = fread(xml, 1, (1u << 18) - 1, f);
    xml[n] = '\0';
    fclose(f);
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(
        cw_buf_appendf(&b,
                       "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                       "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n%s",
                       n, xml),
        0);
    if (cw_test_roundtrip(hub.port, b.data, b.len, &r) == 0) {
        status = r.status;
        cw_strlcpy(body, r.body, size);
        cw_test_response_fini(&r);
    }
    cw_buf_fini(&b);
    cw_free(xml);
    return status;
}

static int admin_get(const char *target, char *out, size_t size)
{
    char req[512];
    cw_test_response_t r;
    int status;

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target);
    if (cw_test_roundtrip(cw_test_daemon_listener_port(&hub, "admin"), req, strlen(req), &r) < 0) {
        return -1;
    }
    status = r.status;
    cw_strlcpy(out, r.body, size);
    cw_test_response_fini(&r);
    return status;
}

static int group_setup(void **state)
{
    const char *src = getenv("CLEARWAY_SRC");
    char node[1024];
    char extra[4096];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(pki, sizeof(pki), "/tmp/cw-assess-XXXXXX");
    if (src == NULL || mkdtemp(pki) == NULL
        || cw_test_sh("'%s/certs/make-dev-pki' '%s' hub alice eu >/dev/null 2>&1", src, pki) != 0
        || sink_start() < 0) {
        return -1;
    }
    snprintf(node, sizeof(node), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>", pki,
             pki);
    snprintf(extra, sizeof(extra),
             "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
             "  <rules path=\"%s/rules\"/>\n"
             "  <partner id=\"alice\" certs=\"%s/alice.pem\" actions=\"*\" destinations=\"*\"/>\n"
             "  <partner id=\"customs-eu\" certs=\"%s/eu.pem\"/>\n"
             "  <route to=\"customs-eu\" url=\"http://127.0.0.1:%d/v1/messages\"\n"
             "         insecure-http=\"true\" base-delay-ms=\"60000\" max-delay-ms=\"60000\"/>\n",
             src, pki, pki, sink.port);
    return cw_test_daemon_start_as(&hub, node, extra);
}

static int group_teardown(void **state)
{
    int status;

    (void)state;
    status = cw_test_daemon_stop(&hub, SIGTERM, 10000);
    cw_test_daemon_cleanup(&hub);
    sink.stop = 1;
    pthread_join(sink.thread, NULL);
    close(sink.fd);
    (void)cw_test_sh("rm -rf '%s'", pki);
    return status == 0 ? 0 : -1;
}

/* ==== Tests ==== */

static void test_assess__green_receipt_carries_the_assessment(void **state)
{
    static char body[1 << 16];

    (void)state;
    assert_int_equal(send_consignment("hub", "", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "<Status>accepted</Status>"));
    assert_non_null(strstr(body, "<Attachment>"));
    assert_non_null(strstr(body, "urn:clearway:assessment:1"));
    assert_non_null(strstr(body, "green"));
}

static void test_assess__forwarded_envelope_carries_the_assessment(void **state)
{
    static char body[1 << 16];
    long long deadline;

    (void)state;
    sink.requests = 0;
    assert_int_equal(send_consignment("customs-eu", "", body, sizeof(body)), 200);
    deadline = cw_test_now_ms() + 10000;
    while (sink.requests == 0 && cw_test_now_ms() < deadline) {
        struct timespec ts = { 0, 20 * 1000000L };

        nanosleep(&ts, NULL);
    }
    assert_true(sink.requests >= 1);
    pthread_mutex_lock(&sink.lock);
    /* Sealed by the hub, with its assessment and the original as evidence. */
    assert_non_null(strstr(sink.body, "<From>hub</From>"));
    assert_non_null(strstr(sink.body, "<Assessment node=\"hub\">"));
    assert_non_null(strstr(sink.body, "urn:clearway:assessment:1"));
    assert_non_null(strstr(sink.body, "<Evidence>"));
    pthread_mutex_unlock(&sink.lock);
}

static void test_assess__red_lane_gets_a_negative_receipt(void **state)
{
    static char body[1 << 16];
    int before = sink.requests;

    (void)state;
    /* Loose lithium batteries (HS 850650) in international mail: PRH-001, red. */
    assert_int_equal(send_consignment("customs-eu",
                                      "s/<HsCode>392690</<HsCode>850650</;s/Silicone phone case "
                                      "for smartphone/Lithium batteries, loose CR2032 cells/",
                                      body, sizeof(body)),
                     422);
    assert_non_null(strstr(body, "<Status>rejected</Status>"));
    assert_non_null(strstr(body, "urn:clearway:problem:consignment-refused"));
    assert_non_null(strstr(body, "PRH-001"));
    /* Nothing was forwarded. */
    {
        struct timespec ts = { 0, 300 * 1000000L };

        nanosleep(&ts, NULL);
    }
    assert_int_equal(sink.requests, before);
}

static void test_assess__business_key_reuse_is_seen_across_messages(void **state)
{
    static char body[1 << 16];

    (void)state;
    /* The same order again with another value and no amendment flag: the
     * ledger holds the first one, so DUP-002 stops the second. */
    assert_int_equal(send_consignment("hub", "s/SQ-88812/SQ-DUP-1/", body, sizeof(body)), 200);
    assert_int_equal(send_consignment("hub",
                                      "s/SQ-88812/SQ-DUP-1/;s/<GoodsValue>41.80</"
                                      "<GoodsValue>40.80</;s/<LineValue>16.00</<LineValue>15.00</;"
                                      "s/<UnitValue>16.00</<UnitValue>15.00</",
                                      body, sizeof(body)),
                     422);
    assert_non_null(strstr(body, "DUP-002"));
}

static void test_assess__figures_in_metrics_and_stats(void **state)
{
    static char body[1 << 16];

    (void)state;
    assert_int_equal(admin_get("/metrics", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "clearway_assessments_total{destination=\"DE\"}"));
    assert_non_null(strstr(body, "clearway_findings_total{code=\"PRH-001\"} 1"));
    assert_non_null(
        strstr(body, "clearway_declared_value_minor_total{destination=\"DE\",currency=\"EUR\"}"));
    assert_int_equal(admin_get("/v1/stats?group_by=lane", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "\"group\":\"green\""));
    assert_non_null(strstr(body, "\"group\":\"red\""));
    assert_int_equal(admin_get("/v1/stats?group_by=code", body, sizeof(body)), 200);
    assert_non_null(strstr(body, "\"group\":\"DUP-002\""));
    assert_int_equal(admin_get("/v1/stats?group_by=nonsense", body, sizeof(body)), 400);
}

/* The sum of clearway_assessments_total's samples. */
static long assessments_total(void)
{
    static char body[1 << 16];
    const char *p;
    long sum = 0;

    assert_int_equal(admin_get("/metrics", body, sizeof(body)), 200);
    for (p = strstr(body, "\nclearway_assessments_total{"); p != NULL;
         p = strstr(p + 1, "\nclearway_assessments_total{")) {
        const char *v = strchr(p + 1, ' ');

        assert_non_null(v);
        sum += strtol(v + 1, NULL, 10);
    }
    return sum;
}

static void test_assess__a_resend_is_not_counted_again(void **state)
{
    static char body[1 << 16];
    cw_test_response_t r;
    cw_buf_t b;
    char path[512];
    char *xml;
    size_t n;
    long before;
    FILE *f;

    (void)state;
    assert_int_equal(send_consignment("hub", "", body, sizeof(body)), 200);
    before = assessments_total();
    assert_true(before >= 1);
    /* The same bytes again, as a sender retrying after a lost receipt. */
    snprintf(path, sizeof(path), "%s/env.xml", pki);
    f = fopen(path, "r");
    assert_non_null(f);
    xml = cw_malloc(1u << 18);
    assert_non_null(xml);
    n = fread(xml, 1, (1u << 18) - 1, f);
    xml[n] = '\0';
    fclose(f);
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(
        cw_buf_appendf(&b,
                       "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                       "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n%s",
                       n, xml),
        0);
    assert_int_equal(cw_test_roundtrip(hub.port, b.data, b.len, &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, body); /* the original receipt */
    cw_test_response_fini(&r);
    cw_buf_fini(&b);
    cw_free(xml);
    assert_int_equal(assessments_total(), before);
}

/* clearway_intake_stage_seconds_count of stage in body; -1 when absent. */
static long stage_count(const char *body, const char *stage)
{
    char key[128];
    const char *p;

    snprintf(key, sizeof(key), "\nclearway_intake_stage_seconds_count{stage=\"%s\"} ", stage);
    p = strstr(body, key);
    return p != NULL ? strtol(p + strlen(key), NULL, 10) : -1;
}

/* The value of an unlabelled sample in body; -1 when absent. */
static double metric_value(const char *body, const char *name)
{
    char key[128];
    const char *p;

    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(body, key);
    return p != NULL ? strtod(p + strlen(key), NULL) : -1;
}

static void test_assess__intake_stages_and_store_commits_are_measured(void **state)
{
    static const char *const stages[] = { "wait_verify", "verify",  "ledger", "seal",
                                          "commit",      "handoff", "total" };
    static char body[1 << 17];
    static const char *const store[] = { "clearway_store_transactions_total",
                                         "clearway_store_writes_total",
                                         "clearway_store_pages_written_total" };
    long before[7];
    double store_before[3];
    double write_s_before;
    double commit_s_before;
    double wal_syncs_before;
    double wal_syncs;
    double parts_before;
    double parts;
    double le;
    char inf[128];
    const char *p;
    size_t i;

    (void)state;
    assert_int_equal(admin_get("/metrics", body, sizeof(body)), 200);
    for (i = 0; i < 7; i++) {
        before[i] = stage_count(body, stages[i]);
        assert_true(before[i] >= 0);
    }
    for (i = 0; i < 3; i++) {
        store_before[i] = metric_value(body, store[i]);
        assert_true(store_before[i] >= 0);
    }
    write_s_before = metric_value(body, "clearway_store_write_seconds_total");
    commit_s_before = metric_value(body, "clearway_store_commit_seconds_total");
    assert_true(write_s_before >= 0);
    assert_true(commit_s_before >= 0);
    wal_syncs_before = metric_value(body, "clearway_store_sync_seconds_count{file=\"wal\"}");
    assert_true(wal_syncs_before >= 0);
    parts_before = metric_value(body, "clearway_store_write_request_seconds_count{part=\"flush\"}");
    assert_true(parts_before >= 0);
    /* A consignment for eu goes through every stage, the ledger included. */
    assert_int_equal(send_consignment("hub", "s/SQ-88812/SQ-TIMED-1/", body, sizeof(body)), 200);
    assert_int_equal(admin_get("/metrics", body, sizeof(body)), 200);
    for (i = 0; i < 7; i++) {
        assert_int_equal(stage_count(body, stages[i]), before[i] + 1);
    }
    /* The message's commit: at least one transaction, write and page more
     * (deliveries to eu may have added their own). */
    for (i = 0; i < 3; i++) {
        assert_true(metric_value(body, store[i]) >= store_before[i] + 1);
    }
    assert_true(metric_value(body, "clearway_store_commit_failures_total") == 0);
    /* The writer's time went up with the commit: running the writes, then
     * COMMIT with its fsync (which takes time on any disk). */
    assert_true(metric_value(body, "clearway_store_write_seconds_total") > write_s_before);
    assert_true(metric_value(body, "clearway_store_commit_seconds_total") > commit_s_before);
    /* The checkpoint series are there; the commits beside a checkpoint are
     * a part of all of them, in number and in time. */
    assert_true(metric_value(body, "clearway_store_checkpoints_total") >= 0);
    assert_true(metric_value(body, "clearway_store_checkpoint_seconds_total") >= 0);
    assert_true(metric_value(body, "clearway_store_transactions_beside_checkpoint_total") >= 0);
    assert_true(metric_value(body, "clearway_store_transactions_beside_checkpoint_total")
                <= metric_value(body, "clearway_store_transactions_total"));
    assert_true(metric_value(body, "clearway_store_commit_beside_checkpoint_seconds_total") >= 0);
    assert_true(metric_value(body, "clearway_store_commit_beside_checkpoint_seconds_total")
                <= metric_value(body, "clearway_store_commit_seconds_total"));
    /* Cumulative buckets: +Inf holds every observation. */
    snprintf(inf, sizeof(inf),
             "clearway_intake_stage_seconds_bucket{stage=\"total\",le=\"+Inf\"} %ld\n",
             before[6] + 1);
    assert_non_null(strstr(body, inf));
    /* The commit synced the WAL (synchronous=full): one more fsync in the
     * histogram, whose buckets grow with their bounds up to +Inf, the
     * count; the database's series are there too. */
    wal_syncs = metric_value(body, "clearway_store_sync_seconds_count{file=\"wal\"}");
    assert_true(wal_syncs >= wal_syncs_before + 1);
    le = metric_value(body, "clearway_store_sync_seconds_bucket{file=\"wal\",le=\"0.0001\"}");
    assert_true(le >= 0);
    assert_true(
        le <= metric_value(body, "clearway_store_sync_seconds_bucket{file=\"wal\",le=\"0.001\"}"));
    assert_true(metric_value(body, "clearway_store_sync_seconds_bucket{file=\"wal\",le=\"0.001\"}")
                <= metric_value(body, "clearway_store_sync_seconds_bucket{file=\"wal\",le=\"1\"}"));
    assert_true(metric_value(body, "clearway_store_sync_seconds_bucket{file=\"wal\",le=\"1\"}")
                <= wal_syncs);
    assert_true(metric_value(body, "clearway_store_sync_seconds_bucket{file=\"wal\",le=\"+Inf\"}")
                == wal_syncs);
    assert_true(metric_value(body, "clearway_store_sync_seconds_sum{file=\"wal\"}") > 0);
    assert_true(metric_value(body, "clearway_store_sync_seconds_count{file=\"database\"}") >= 0);
    /* The message's write, timed by part: each part counts it, the same
     * number of requests in each, every one in its +Inf bucket; the write
     * part took some time. */
    parts = metric_value(body, "clearway_store_write_request_seconds_count{part=\"flush\"}");
    assert_true(parts >= parts_before + 1);
    assert_true(metric_value(body, "clearway_store_write_request_seconds_count{part=\"queue\"}")
                == parts);
    assert_true(metric_value(body, "clearway_store_write_request_seconds_count{part=\"handback\"}")
                == parts);
    assert_true(metric_value(
                    body, "clearway_store_write_request_seconds_bucket{part=\"write\",le=\"+Inf\"}")
                == parts);
    assert_true(
        metric_value(body,
                     "clearway_store_write_request_seconds_bucket{part=\"write\",le=\"0.001\"}")
        <= metric_value(body,
                        "clearway_store_write_request_seconds_bucket{part=\"write\",le=\"1\"}"));
    assert_true(metric_value(body, "clearway_store_write_request_seconds_sum{part=\"write\"}") > 0);
    p = strstr(body, "clearway_intake_stage_seconds_sum{stage=\"total\"} ");
    assert_non_null(p);
    assert_true(strtod(p + strlen("clearway_intake_stage_seconds_sum{stage=\"total\"} "), NULL)
                > 0);
}

/*
 * A ledger that cannot be read (the store's read fault, set at start-up):
 * the stateful checks cannot run, so nothing is accepted and the sender is
 * told to come back (503, unavailable, "the message store is failing").
 * Restarted without the fault, the hub accepts again. Last in the group:
 * it restarts the hub.
 */
static void test_assess__unreadable_ledger_is_503_and_nothing_accepted(void **state)
{
    static char body[1 << 16];
    int faulted;
    int after;

    (void)state;
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    setenv("CW_STORE_FAULT", "read-fail", 1);
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    unsetenv("CW_STORE_FAULT");
    faulted = send_consignment("hub", "", body, sizeof(body));
    assert_int_equal(faulted, 503);
    assert_non_null(strstr(body, "urn:clearway:problem:unavailable"));
    assert_non_null(strstr(body, "the message store is failing"));
    assert_null(strstr(body, "<Status>accepted</Status>"));
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    after = send_consignment("hub", "", body, sizeof(body));
    assert_int_equal(after, 200);
    assert_non_null(strstr(body, "<Status>accepted</Status>"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assess__green_receipt_carries_the_assessment),
        cmocka_unit_test(test_assess__forwarded_envelope_carries_the_assessment),
        cmocka_unit_test(test_assess__red_lane_gets_a_negative_receipt),
        cmocka_unit_test(test_assess__business_key_reuse_is_seen_across_messages),
        cmocka_unit_test(test_assess__figures_in_metrics_and_stats),
        cmocka_unit_test(test_assess__a_resend_is_not_counted_again),
        cmocka_unit_test(test_assess__intake_stages_and_store_commits_are_measured),
        cmocka_unit_test(test_assess__unreadable_ledger_is_503_and_nothing_accepted),
    };

    return cmocka_run_group_tests_name("integration_assess", tests, group_setup, group_teardown);
}
