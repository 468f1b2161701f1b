/*
 * Partners in their own formats on a running clearwayd: a carrier posts a
 * CSV manifest and a shop a Shopify-style order over mutual TLS to
 * POST /v1/inbound/{adapter}; each consignment is assessed, sealed on the
 * partner's behalf and stored, bad rows are reported by line, a second post
 * is deduplicated, and a route with an output adapter delivers CEB621.
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

/* ==== A receiver that keeps what it got and answers 200 ==== */

static struct {
    int fd;
    int port;
    atomic_int stop;
    atomic_int requests;
    pthread_mutex_t lock;
    char body[1 << 18];
    char content_type[128];
    pthread_t thread;
} sink;

static void *sink_main(void *arg)
{
    static char buf[1 << 18];

    (void)arg;
    while (!sink.stop) {
        struct pollfd pfd = { sink.fd, POLLIN, 0 };
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
                const char *ct = strstr(buf, "Content-Type:");
                long clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;

                if ((size_t)(end + 4 - buf) + (size_t)clen <= len) {
                    pthread_mutex_lock(&sink.lock);
                    cw_strlcpy(sink.body, end + 4, sizeof(sink.body));
                    if (ct != NULL) {
                        snprintf(sink.content_type, sizeof(sink.content_type), "%.*s",
                                 (int)strcspn(ct + 14, "\r"), ct + 14);
                    }
                    sink.requests++;
                    pthread_mutex_unlock(&sink.lock);
                    break;
                }
            }
        }
        (void)!write(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
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
 * POSTs file (under tests/data/adapters) as who, with curl over mutual TLS,
 * to /v1/inbound/adapter. Returns the HTTP status; the body goes to out.
 */
static int post_path_as(const char *who,
                        const char *adapter,
                        const char *file_path,
                        const char *ctype,
                        char *out,
                        size_t size)
{
    char cmd[4096];
    char path[512];
    FILE *f;
    size_t n;
    int status = -1;

    snprintf(path, sizeof(path), "%s/resp.txt", pki);
    snprintf(cmd, sizeof(cmd),
             "curl -sS --max-time 20 --cacert '%s/ca.pem' --cert '%s/%s.pem' --key '%s/%s.key' "
             "-H 'Content-Type: %s' --data-binary @'%s' "
             "-o '%s' -w '%%{http_code}' https://127.0.0.1:%d/v1/inbound/%s 2>&1",
             pki, pki, who, pki, who, ctype, file_path, path,
             cw_test_daemon_listener_port(&hub, "tls"), adapter);
    {
        char code[16];

        if (cw_test_sh_out(code, sizeof(code), cmd) == 0) {
            status = (int)strtol(code, NULL, 10);
        } else {
            print_message("curl: %s\n", code);
        }
    }
    f = fopen(path, "r");
    out[0] = '\0';
    if (f != NULL) {
        n = fread(out, 1, size - 1, f);
        out[n] = '\0';
        fclose(f);
    }
    return status;
}

/* Posts tests/data/adapters/<file>. */
static int post_as(const char *who,
                   const char *adapter,
                   const char *file,
                   const char *ctype,
                   char *out,
                   size_t size)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/tests/data/adapters/%s", getenv("CLEARWAY_SRC"), file);
    return post_path_as(who, adapter, path, ctype, out, size);
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    const char *p;

    for (p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

static int group_setup(void **state)
{
    const char *src = getenv("CLEARWAY_SRC");
    char node[1024];
    char extra[8192];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    snprintf(pki, sizeof(pki), "/tmp/cw-inbound-XXXXXX");
    if (src == NULL || mkdtemp(pki) == NULL
        || cw_test_sh("'%s/certs/make-dev-pki' '%s' hub carrier shop forwarder acme cn shipper "
                      ">/dev/null 2>&1",
                      src, pki)
               != 0
        || sink_start() < 0) {
        return -1;
    }
    /* customs-xx's own format: a stylesheet of the test's, by configuration. */
    if (cw_test_sh("printf '%%s\\n' '<xsl:stylesheet version=\"1.0\"'"
                   " ' xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"'"
                   " ' xmlns:c=\"urn:clearway:consignment:1\" exclude-result-prefixes=\"c\">'"
                   " '<xsl:output method=\"xml\" encoding=\"UTF-8\"/>'"
                   " '<xsl:template match=\"/\"><Declaration xmlns=\"urn:example:xx:1\">'"
                   " '<Ref><xsl:value-of select=\"//c:ConsignmentId\"/></Ref>'"
                   " '<Lines><xsl:value-of select=\"count(//c:Item)\"/></Lines>'"
                   " '</Declaration></xsl:template></xsl:stylesheet>' > '%s/xx-out.xsl'",
                   pki)
        != 0) {
        return -1;
    }
    snprintf(node, sizeof(node), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>", pki,
             pki);
    snprintf(
        extra, sizeof(extra),
        "  <listen name=\"tls\" address=\"127.0.0.1\" port=\"0\" tls=\"true\"\n"
        "          cert=\"%s/hub.pem\" key=\"%s/hub.key\" client-ca=\"%s/ca.pem\"/>\n"
        "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"0\" kind=\"admin\"/>\n"
        "  <limits><write-buffer-bytes-max>4096</write-buffer-bytes-max></limits>\n"
        "  <rules path=\"%s/rules\"/>\n"
        "  <partner id=\"carrier\" certs=\"%s/carrier.pem\" tls-subject=\"CN=carrier,O=Clearway "
        "dev\"\n"
        "           actions=\"*\" destinations=\"*\" adapter=\"csv-manifest\" "
        "adapter-to=\"hub\"\n"
        "           adapter-transport-mode=\"air\"/>\n"
        "  <partner id=\"shop\" certs=\"%s/shop.pem\" tls-subject=\"CN=shop,O=Clearway dev\"\n"
        "           actions=\"*\" destinations=\"*\" adapter=\"shopify-order\"\n"
        "           adapter-to=\"hub\" adapter-catalog=\"%s/tests/data/adapters/"
        "catalog.json\"/>\n"
        "  <partner id=\"forwarder\" certs=\"%s/forwarder.pem\"\n"
        "           tls-subject=\"CN=forwarder,O=Clearway dev\" actions=\"*\" destinations=\"*\"\n"
        "           adapter=\"csv-manifest\" adapter-to=\"customs-cn\"/>\n"
        "  <partner id=\"acme\" certs=\"%s/acme.pem\" tls-subject=\"CN=acme,O=Clearway dev\"\n"
        "           actions=\"*\" destinations=\"*\" adapter=\"xslt\" adapter-to=\"hub\"\n"
        "           adapter-xslt-dir=\"%s/adapters/xsl\" adapter-xslt=\"ubl-order.xsl\"/>\n"
        "  <partner id=\"customs-cn\" certs=\"%s/cn.pem\"/>\n"
        "  <partner id=\"shipper\" certs=\"%s/shipper.pem\"\n"
        "           tls-subject=\"CN=shipper,O=Clearway dev\" actions=\"*\" destinations=\"*\"\n"
        "           adapter=\"csv-manifest\" adapter-to=\"customs-xx\"/>\n"
        "  <partner id=\"customs-xx\" certs=\"%s/cn.pem\"/>\n"
        "  <route to=\"customs-cn\" url=\"http://127.0.0.1:%d/ceb\" insecure-http=\"true\"\n"
        "         adapter=\"ceb621\" adapter-sign=\"ceb\" base-delay-ms=\"100\" "
        "max-delay-ms=\"200\"/>\n"
        "  <route to=\"customs-xx\" url=\"http://127.0.0.1:%d/xx\" insecure-http=\"true\"\n"
        "         adapter=\"xslt\" adapter-xslt-dir=\"%s\" adapter-xslt=\"xx-out.xsl\"\n"
        "         base-delay-ms=\"100\" max-delay-ms=\"200\"/>\n",
        pki, pki, pki, src, pki, pki, src, pki, pki, src, pki, pki, pki, sink.port, sink.port, pki);
    /* One worker: one input at a time (test_inbound__inputs_take_turns). */
    return cw_test_daemon_start_workers(&hub, node, extra, 1);
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

static void test_inbound__csv_manifest_is_translated_assessed_and_stored(void **state)
{
    static char body[1 << 18];
    int accepted;

    (void)state;
    assert_int_equal(
        post_as("carrier", "csv-manifest", "manifest-valid.csv", "text/csv", body, sizeof(body)),
        200);
    accepted = count(body, "\"status\":\"accepted\"");
    assert_true(accepted >= 2);
    assert_non_null(strstr(body, "\"lane\":\""));
    assert_non_null(strstr(body, "\"message_id\":\"csv-manifest:"));
    assert_non_null(strstr(body, "\"batch\":\"batch-"));
    /* The same manifest again: every consignment is a duplicate. */
    assert_int_equal(
        post_as("carrier", "csv-manifest", "manifest-valid.csv", "text/csv", body, sizeof(body)),
        200);
    assert_int_equal(count(body, "\"status\":\"duplicate\""), accepted);
    assert_int_equal(count(body, "\"status\":\"accepted\""), 0);
    /* Found stored before the second pass: not assessed (nor sealed) again. */
    assert_int_equal(count(body, "\"status\":\"duplicate\",\"lane\""), 0);
}

/* The answer's entry for one consignment, copied into out ("" if absent). */
static const char *entry_of(const char *body, const char *message_id, char *out, size_t size)
{
    char key[128];
    const char *p;
    const char *q;

    snprintf(key, sizeof(key), "\"message_id\":\"%s\"", message_id);
    out[0] = '\0';
    p = strstr(body, key);
    if (p != NULL && (q = strchr(p, '}')) != NULL && (size_t)(q - p) < size) {
        memcpy(out, p, (size_t)(q - p));
        out[q - p] = '\0';
    }
    return out;
}

/*
 * A manifest's transport_mode reaches the mode-specific rules: loose
 * lithium cells by post are prohibited (PRH-001, red, refused), by air
 * restricted (PRH-002); a row without a mode takes the carrier's
 * adapter-transport-mode (air here), one with a mode keeps its own.
 */
static void test_inbound__manifest_transport_mode_reaches_the_rules(void **state)
{
    static char body[1 << 16];
    char path[512];
    char e[512];
    FILE *f;

    (void)state;
    snprintf(path, sizeof(path), "%s/manifest-lithium.csv", pki);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("tracking_number,sender_name,sender_country,recipient_name,recipient_address1,"
          "recipient_city,recipient_postcode,destination_country,weight_kg,currency,content_type,"
          "transport_mode,item_description_1,item_quantity_1,item_value_1,item_hs_code_1,"
          "item_origin_1\n",
          f);
    fputs("LI-POST,Cell Shop,CN,Anna Berg,Hauptstr. 1,Berlin,10115,DE,0.3,EUR,sale,POST,"
          "Lithium cells 18650,4,12.00,850650,CN\n",
          f);
    fputs("LI-AIR,Cell Shop,CN,Jonas Berg,Hauptstr. 2,Berlin,10115,DE,0.3,EUR,sale,air,"
          "Lithium cells 18650,4,12.00,850650,CN\n",
          f);
    fputs("LI-NONE,Cell Shop,CN,Lena Berg,Hauptstr. 3,Berlin,10115,DE,0.3,EUR,sale,,"
          "Lithium cells 18650,4,12.00,850650,CN\n",
          f);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(post_path_as("carrier", "csv-manifest", path, "text/csv", body, sizeof(body)),
                     200);
    entry_of(body, "csv-manifest:LI-POST", e, sizeof(e));
    assert_non_null(strstr(e, "\"lane\":\"red\""));
    assert_non_null(strstr(e, "\"PRH-001\""));
    entry_of(body, "csv-manifest:LI-AIR", e, sizeof(e));
    assert_non_null(strstr(e, "\"PRH-002\""));
    assert_null(strstr(e, "\"PRH-001\""));
    entry_of(body, "csv-manifest:LI-NONE", e, sizeof(e));
    assert_non_null(strstr(e, "\"PRH-002\""));
    assert_null(strstr(e, "\"PRH-001\""));
}

/* Reads the header and the first row of tests/data/adapters/<file>. */
static void csv_head(const char *file, char *header, size_t hsize, char *row, size_t rsize)
{
    char path[512];
    FILE *in;

    snprintf(path, sizeof(path), "%s/tests/data/adapters/%s", getenv("CLEARWAY_SRC"), file);
    in = fopen(path, "r");
    assert_non_null(in);
    assert_non_null(fgets(header, (int)hsize, in));
    assert_non_null(fgets(row, (int)rsize, in));
    fclose(in);
}

/* A manifest of rows rows, tracking numbers prefix000000XX..., at path. */
static void manifest_write(const char *path, const char *prefix, int rows)
{
    char header[2048];
    char row[2048];
    const char *comma;
    FILE *out;

    csv_head("manifest-valid.csv", header, sizeof(header), row, sizeof(row));
    comma = strchr(row, ',');
    assert_non_null(comma);
    out = fopen(path, "w");
    assert_non_null(out);
    fputs(header, out);
    for (int i = 0; i < rows; i++) {
        fprintf(out, "%s%06dXX%s", prefix, i, comma);
    }
    assert_int_equal(fclose(out), 0);
}

/*
 * The answer lists every consignment, so it grows with the manifest: 1,200
 * rows give about 180 KB, well past this node's 4 KiB write buffer (plus
 * the 64 KiB of slack an answer always had). It used to fail with a 500
 * after every consignment had been stored; an answer may now be as large
 * as the largest request (body-bytes-max). Over TLS it then failed to
 * encrypt past twice the write buffer + 128 KiB: the client got an empty
 * reply. Its 1,200 puts go to the store in windows (PUTS_IN_FLIGHT).
 */
static void test_inbound__large_manifest_gets_its_whole_answer(void **state)
{
    static char body[1 << 20];
    char csv_path[512];

    (void)state;
    snprintf(csv_path, sizeof(csv_path), "%s/manifest-1200.csv", pki);
    /* Each row its own tracking number, so that no row is a duplicate. */
    manifest_write(csv_path, "BIG", 1200);

    assert_int_equal(
        post_path_as("carrier", "csv-manifest", csv_path, "text/csv", body, sizeof(body)), 200);
    /* Beyond the write buffer and its 64 KiB of head room, and beyond
     * what the TLS side once allowed (twice the write buffer + 128 KiB). */
    assert_true(strlen(body) > 2 * 4096 + 131072);
    assert_int_equal(count(body, "\"item\":"), 1200);
    assert_int_equal(count(body, "\"status\":\"error\""), 0);
    assert_non_null(strstr(body, "\"message_id\":\"csv-manifest:BIG001199XX\""));
    /* Every item was stored, not only the first window of puts: the
     * first, some in between and the last are in the store. */
    for (int k = 0; k < 1200; k += 127) {
        char path[128];
        int item = k + 127 >= 1200 ? 1199 : k;

        snprintf(path, sizeof(path), "/v1/messages/csv-manifest:BIG%06dXX?from=carrier", item);
        if (cw_test_admin_get(&hub, path, body, sizeof(body)) != 200) {
            fail_msg("item %d is not in the store: %.300s", item, body);
        }
    }
}

/*
 * An answer many times its document: 1,000 broken 5-byte rows each get a
 * row error in the answer (about 80 KB) for a body under 8 KiB. With
 * body-bytes-max 8192 the answer was capped at the larger of that and the
 * write buffer plus 64 KiB, and the accepted document got a 500. The hub
 * runs this test with a body limit of 8 KiB, then gets its own back.
 */
static void test_inbound__answer_larger_than_the_body_limit(void **state)
{
    static char body[1 << 18];
    char extra[sizeof(hub.extra) + 128];
    char saved[sizeof(hub.extra)];
    char header[2048];
    char row[2048];
    char path[512];
    const char *limits;
    FILE *out;
    int status;
    int n;

    (void)state;
    snprintf(path, sizeof(path), "%s/short-rows.csv", pki);
    csv_head("manifest-valid.csv", header, sizeof(header), row, sizeof(row));
    out = fopen(path, "w");
    assert_non_null(out);
    fputs(header, out);
    fprintf(out, "ANS000000XX%s", strchr(row, ','));
    for (n = 0; n < 1000; n++) {
        fprintf(out, "%04d\n", n);
    }
    assert_int_equal(fclose(out), 0);

    cw_strlcpy(saved, hub.extra, sizeof(saved));
    limits = strstr(saved, "<limits>");
    assert_non_null(limits);
    n = (int)(limits - saved) + (int)strlen("<limits>");
    assert_true((size_t)snprintf(extra, sizeof(extra),
                                 "%.*s<body-bytes-max>8192</body-bytes-max>%s", n, saved, saved + n)
                < sizeof(hub.extra));
    /* A restart writes the config from hub.extra. */
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    cw_strlcpy(hub.extra, extra, sizeof(hub.extra));
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    status = post_path_as("carrier", "csv-manifest", path, "text/csv", body, sizeof(body));
    /* The hub's own limits back before asserting. */
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    cw_strlcpy(hub.extra, saved, sizeof(hub.extra));
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    assert_int_equal(status, 200);
    assert_true(strlen(body) > 8192 + 65536);
    assert_int_equal(count(body, "\"message_id\":\"csv-manifest:ANS000000XX\""), 1);
    assert_int_equal(count(body, "\"field\":"), 1000);
}

/* The text of the file path + suffix into out (cut to size). */
static void read_text(const char *path, const char *suffix, char *out, size_t size)
{
    char file[600];
    FILE *f;
    size_t len;

    assert_true((size_t)snprintf(file, sizeof(file), "%s%s", path, suffix) < sizeof(file));
    f = fopen(file, "r");
    assert_non_null(f);
    len = fread(out, 1, size - 1, f);
    out[len] = '\0';
    fclose(f);
}

static struct {
    char cmd[8192];
    int rc;
} posts;

static void *posts_main(void *arg)
{
    (void)arg;
    posts.rc = cw_test_sh("%s", posts.cmd);
    return NULL;
}

/* Writes nposts manifests of rows rows named tag-K.csv into path[] and
 * posts them at once on a thread (posts_main); returns that thread. */
static pthread_t posts_start(char path[][512], int nposts, const char *tag, int rows)
{
    size_t n = 0;
    pthread_t thread;

    for (int k = 0; k < nposts; k++) {
        char prefix[16];

        snprintf(path[k], 512, "%s/%s-%d.csv", pki, tag, k);
        snprintf(prefix, sizeof(prefix), "%.3s%d", tag, k);
        manifest_write(path[k], prefix, rows);
    }
    for (int k = 0; k < nposts; k++) {
        n += (size_t)snprintf(posts.cmd + n, sizeof(posts.cmd) - n,
                              "curl -sS --max-time 60 --cacert '%s/ca.pem' --cert '%s/carrier.pem'"
                              " --key '%s/carrier.key' -H 'Content-Type: text/csv'"
                              " --data-binary @'%s' -o '%s.out' -w '%%{http_code}'"
                              " https://127.0.0.1:%d/v1/inbound/csv-manifest >'%s.code' 2>&1 & ",
                              pki, pki, pki, path[k], path[k],
                              cw_test_daemon_listener_port(&hub, "tls"), path[k]);
        assert_true(n < sizeof(posts.cmd));
    }
    n += (size_t)snprintf(posts.cmd + n, sizeof(posts.cmd) - n, "wait");
    assert_true(n < sizeof(posts.cmd));
    assert_int_equal(pthread_create(&thread, NULL, posts_main, NULL), 0);
    return thread;
}

/* The most inputs /metrics showed waiting, polled until want were (at
 * most about 30 s). */
static int waiting_seen(int want)
{
    static char metrics[1 << 16];
    int most = 0;

    for (int i = 0; i < 3000 && most < want; i++) {
        const char *p;

        if (cw_test_admin_get(&hub, "/metrics", metrics, sizeof(metrics)) == 200
            && (p = strstr(metrics, "\nclearway_inbound_inputs_waiting ")) != NULL) {
            int w = (int)strtol(p + strlen("\nclearway_inbound_inputs_waiting "), NULL, 10);

            most = w > most ? w : most;
        }
        cw_test_sleep_ms(10);
    }
    return most;
}

/*
 * Each input holds some 9 KB per consignment while it is processed,
 * so inputs take turns: one per worker (the hub has one). Three manifests
 * posted at once all get their whole answer, while /metrics shows the
 * others waiting.
 */
static void test_inbound__inputs_take_turns(void **state)
{
    static char body[1 << 20];
    static char metrics[1 << 16];
    char path[3][512];
    pthread_t thread;
    int most_waiting;

    (void)state;
    thread = posts_start(path, 3, "turns", 400);
    most_waiting = waiting_seen(1);
    pthread_join(thread, NULL);
    assert_int_equal(posts.rc, 0);
    for (int k = 0; k < 3; k++) {
        read_text(path[k], ".code", body, sizeof(body));
        assert_string_equal(body, "200");
        read_text(path[k], ".out", body, sizeof(body));
        /* The whole answer (the rows share an order number: most are
         * refused as DUP-002, which is not this test's business). */
        assert_int_equal(count(body, "\"item\":"), 400);
        assert_int_equal(count(body, "\"status\":\"error\""), 0);
    }
    /* At least one of the three waited for its turn. */
    assert_true(most_waiting >= 1);
    /* And none is left waiting. */
    assert_int_equal(cw_test_admin_get(&hub, "/metrics", metrics, sizeof(metrics)), 200);
    assert_non_null(strstr(metrics, "\nclearway_inbound_inputs_waiting 0\n"));
}

/*
 * SIGTERM while inputs wait for their turn: those still waiting are
 * answered 503 at once (nothing of them was taken), the one running
 * finishes with 200, and the node exits cleanly instead of running every
 * waiting input first. The hub is started again for the next tests.
 */
static void test_inbound__stopping_answers_the_waiting_503(void **state)
{
    static char body[1 << 20];
    char path[3][512];
    pthread_t thread;
    int ok = 0;
    int unavailable = 0;
    int logged;

    (void)state;
    thread = posts_start(path, 3, "stop", 1500);
    /* All three in: one running, two waiting. */
    assert_int_equal(waiting_seen(2), 2);
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 30000), 0);
    pthread_join(thread, NULL);
    assert_int_equal(posts.rc, 0);
    for (int k = 0; k < 3; k++) {
        read_text(path[k], ".code", body, sizeof(body));
        if (strcmp(body, "200") == 0) {
            /* A running one's answer (about 180 KB) arrives whole. */
            read_text(path[k], ".out", body, sizeof(body));
            ok += count(body, "\"item\":") == 1500;
        } else {
            unavailable += strcmp(body, "503") == 0;
        }
    }
    logged = cw_test_log_count(&hub, "waiting for a worker answered 503");
    /* Start it again before asserting, so that a failure here does not
     * take the next tests with it. */
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    /* One was running when the signal came, the others were waiting (one
     * more may have started in between). */
    assert_true(ok >= 1);
    assert_true(unavailable >= 1);
    assert_int_equal(ok + unavailable, 3);
    assert_int_equal(logged, 1);
}

/*
 * Waiting inputs hold their bodies, so their number is bounded: four per
 * worker. Nine manifests posted at once on a one-worker node: one runs,
 * four wait, and the rest are refused 503 with Retry-After at once
 * instead of queueing without bound; every one accepted is answered in
 * full.
 */
static void test_inbound__too_many_waiting_are_refused(void **state)
{
    static char body[1 << 20];
    char path[9][512];
    pthread_t thread;
    int ok = 0;
    int busy = 0;

    (void)state;
    thread = posts_start(path, 9, "busy", 1500);
    pthread_join(thread, NULL);
    assert_int_equal(posts.rc, 0);
    for (int k = 0; k < 9; k++) {
        read_text(path[k], ".code", body, sizeof(body));
        if (strcmp(body, "200") == 0) {
            read_text(path[k], ".out", body, sizeof(body));
            ok += count(body, "\"item\":") == 1500;
        } else if (strcmp(body, "503") == 0) {
            read_text(path[k], ".out", body, sizeof(body));
            busy += strstr(body, "waiting for a worker") != NULL;
        }
    }
    /* One running and four waiting at least; the rest refused, unless a
     * turn came free while they arrived. */
    assert_true(ok >= 5);
    assert_true(busy >= 1);
    assert_int_equal(ok + busy, 9);
}

/*
 * A store that cannot commit: the manifest is refused whole with 503 (the
 * batch record, whose bytes are every consignment's evidence, is stored
 * before any consignment, and none without it), not answered 200 with
 * per-item errors; once the store works the same file is all processed.
 */
static void test_inbound__store_failure_refuses_the_whole_document(void **state)
{
    static char body[1 << 18];
    char path[512];
    int status;
    int said;

    (void)state;
    /* A manifest of its own, never sent before. */
    snprintf(path, sizeof(path), "%s/store-fail.csv", pki);
    manifest_write(path, "SF", 3);
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    setenv("CW_STORE_FAULT", "commit-fail", 1);
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    unsetenv("CW_STORE_FAULT");
    status = post_path_as("carrier", "csv-manifest", path, "text/csv", body, sizeof(body));
    said = strstr(body, "nothing of this document was stored") != NULL;
    /* The store works again before asserting, so that a failure here does
     * not take the next tests with it. */
    assert_int_equal(cw_test_daemon_stop(&hub, SIGTERM, 10000), 0);
    assert_int_equal(cw_test_daemon_restart(&hub), 0);
    assert_int_equal(status, 503);
    assert_true(said);
    assert_int_equal(post_path_as("carrier", "csv-manifest", path, "text/csv", body, sizeof(body)),
                     200);
    /* Each of the three assessed and stored (this row's old date makes it
     * red: refused, which is stored too), none an error. */
    assert_int_equal(count(body, "\"item\":"), 3);
    assert_int_equal(count(body, "\"status\":\"error\""), 0);
}

static void test_inbound__bad_rows_are_reported_by_line(void **state)
{
    static char body[1 << 18];

    (void)state;
    assert_int_equal(
        post_as("carrier", "csv-manifest", "manifest-bad.csv", "text/csv", body, sizeof(body)),
        200);
    assert_non_null(strstr(body, "\"errors\":[{"));
    assert_non_null(strstr(body, "\"line\":3"));
    /* The good row in the same file still goes through. */
    assert_true(count(body, "\"message_id\":\"csv-manifest:") >= 1);
}

static void test_inbound__refusals(void **state)
{
    static char body[1 << 16];

    (void)state;
    /* Not this partner's adapter. */
    assert_int_equal(post_as("carrier", "shopify-order", "shopify-order.json", "application/json",
                             body, sizeof(body)),
                     403);
    /* Not JSON at all for a JSON adapter: a whole-input refusal. */
    assert_int_equal(post_as("shop", "shopify-order", "manifest-valid.csv", "application/json",
                             body, sizeof(body)),
                     422);
    assert_non_null(strstr(body, "urn:clearway:problem:inbound-refused"));
    /* A plain listener has no TLS identity. */
    {
        const char *req = "POST /v1/inbound/csv-manifest HTTP/1.1\r\nHost: x\r\n"
                          "Content-Type: text/csv\r\nContent-Length: 1\r\n\r\nx";
        cw_test_response_t r;

        assert_int_equal(cw_test_roundtrip(hub.port, req, strlen(req), &r), 0);
        assert_int_equal(r.status, 403);
        assert_non_null(strstr(r.body, "client-not-registered"));
        cw_test_response_fini(&r);
    }
}

static void test_inbound__split_shipment_is_seen_across_files_and_within_one(void **state)
{
    static char body[1 << 16];

    (void)state;
    /* Two parcels of EUR 55 for one buyer: under the EUR 150 threshold. */
    assert_int_equal(
        post_as("carrier", "csv-manifest", "manifest-split-a.csv", "text/csv", body, sizeof(body)),
        200);
    assert_int_equal(count(body, "\"status\":\"accepted\""), 2);
    assert_null(strstr(body, "SPL-001"));
    /* A third in another file the same day: the ledger holds the first two. */
    assert_int_equal(
        post_as("carrier", "csv-manifest", "manifest-split-b.csv", "text/csv", body, sizeof(body)),
        200);
    if (strstr(body, "SPL-001") == NULL) {
        fail_msg("no split finding from the ledger: %s", body);
    }
    /* Three for another buyer in one file: the earlier rows count too. */
    assert_int_equal(post_as("carrier", "csv-manifest", "manifest-split-one-file.csv", "text/csv",
                             body, sizeof(body)),
                     200);
    assert_int_equal(count(body, "SPL-001"), 1);
}

/*
 * The second pass goes 16 items at a time (inbound.c, SEAL_CHUNK_ITEMS):
 * a split shipment whose parcels are rows 5, 20 and 37 of one 40-row file,
 * so in three different chunks, is still seen at the third, and only there.
 */
static void test_inbound__split_shipment_is_seen_across_chunks(void **state)
{
    static char body[1 << 18];
    char csv_path[512];
    char header[2048];
    char row[2048];
    const char *rest;
    const char *p;
    const char *end;
    FILE *out;
    int i;

    (void)state;
    csv_head("manifest-split-one-file.csv", header, sizeof(header), row, sizeof(row));
    /* Everything after the recipient's address stays as it is. */
    rest = strstr(row, "\"Ringstrasse 4\",");
    assert_non_null(rest);
    rest += strlen("\"Ringstrasse 4\",");
    snprintf(csv_path, sizeof(csv_path), "%s/manifest-chunks.csv", pki);
    out = fopen(csv_path, "w");
    assert_non_null(out);
    fputs(header, out);
    for (i = 0; i < 40; i++) {
        int split = i == 5 || i == 20 || i == 37;

        /* Fillers: a buyer each. The split parcels: one buyer, EUR 55 each. */
        fprintf(out, "CHUNK%04dDE,SO-C%04d,Hangzhou Silk House,CN,%s%d,\"%s %d\",%s", i, i,
                split ? "Hanna Chunk" : "Filler Buyer ", split ? 0 : i,
                split ? "Splitweg" : "Fillerstrasse", split ? 9 : i, rest);
    }
    assert_int_equal(fclose(out), 0);

    assert_int_equal(
        post_path_as("carrier", "csv-manifest", csv_path, "text/csv", body, sizeof(body)), 200);
    assert_int_equal(count(body, "\"item\":"), 40);
    assert_int_equal(count(body, "SPL-001"), 1);
    p = strstr(body, "\"message_id\":\"csv-manifest:CHUNK0037DE\"");
    assert_non_null(p);
    end = strchr(p, '}');
    assert_non_null(end);
    if (strstr(p, "SPL-001") == NULL || strstr(p, "SPL-001") > end) {
        fail_msg("the split finding is not on row 37: %s", body);
    }
}

static void test_inbound__shop_order_is_translated(void **state)
{
    static char body[1 << 16];

    (void)state;
    /* The order is translated and assessed; its lane is the checks' verdict. */
    assert_int_equal(post_as("shop", "shopify-order", "shopify-order.json", "application/json",
                             body, sizeof(body)),
                     200);
    assert_non_null(strstr(body, "\"message_id\":\"shopify-order:"));
    assert_non_null(strstr(body, "\"lane\":\""));
}

static void test_inbound__new_xml_format_by_configuration(void **state)
{
    static char body[1 << 16];

    (void)state;
    /* A partner whose XML is mapped by a stylesheet named in the config: no
     * C code (docs/onboarding.md). */
    assert_int_equal(
        post_as("acme", "xslt", "ubl-order.xml", "application/xml", body, sizeof(body)), 200);
    if (strstr(body, "\"message_id\":\"xslt:") == NULL) {
        fail_msg("not translated: %s", body);
    }
}

/* Waits until the receiver has had n requests; 1, or 0 after ms. */
static int sink_wait(int n, int ms)
{
    long long deadline = cw_test_now_ms() + ms;

    while (sink.requests < n && cw_test_now_ms() < deadline) {
        struct timespec ts = { 0, 20 * 1000000L };

        nanosleep(&ts, NULL);
    }
    return sink.requests >= n;
}

static void test_inbound__consignments_go_out_as_ceb621(void **state)
{
    static char body[1 << 18];

    (void)state;
    sink.requests = 0;
    assert_int_equal(
        post_as("forwarder", "csv-manifest", "manifest-valid.csv", "text/csv", body, sizeof(body)),
        200);
    if (strstr(body, "\"status\":\"accepted\"") == NULL) {
        fail_msg("order not accepted: %s", body);
    }
    assert_true(sink_wait(1, 10000));
    pthread_mutex_lock(&sink.lock);
    assert_non_null(strstr(sink.body, "http://www.chinaport.gov.cn/ceb"));
    assert_non_null(strstr(sink.body, "CEB621"));
    /* Signed the way that ecosystem verifies: inclusive C14N, SHA-1. */
    assert_non_null(strstr(sink.body, "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"));
    {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/ceb621.xml", pki);
        f = fopen(path, "w");
        assert_non_null(f);
        fputs(sink.body, f);
        fclose(f);
    }
    pthread_mutex_unlock(&sink.lock);
    /* Any third party can check it with the node's certificate chain. */
    assert_int_equal(cw_test_sh("xmlsec1 --verify --trusted-pem '%s/ca.pem' '%s/ceb621.xml' "
                                ">/dev/null 2>&1",
                                pki, pki),
                     0);
    /* Posted again: sealed at another time with another signature, but the
     * same consignments, so duplicates (not conflicts). */
    assert_int_equal(
        post_as("forwarder", "csv-manifest", "manifest-valid.csv", "text/csv", body, sizeof(body)),
        200);
    if (strstr(body, "\"status\":\"duplicate\"") == NULL
        || strstr(body, "\"status\":\"conflict\"") != NULL) {
        fail_msg("resend not deduplicated: %s", body);
    }
}

/* A destination's own XML format by configuration: the route's stylesheet
 * (adapter="xslt" adapter-xslt=...) writes what is posted to it. */
static void test_inbound__route_stylesheet_writes_the_destination_format(void **state)
{
    static char body[1 << 18];

    (void)state;
    sink.requests = 0;
    assert_int_equal(
        post_as("shipper", "csv-manifest", "manifest-valid.csv", "text/csv", body, sizeof(body)),
        200);
    if (strstr(body, "\"status\":\"accepted\"") == NULL) {
        fail_msg("nothing accepted: %s", body);
    }
    assert_true(sink_wait(1, 10000));
    pthread_mutex_lock(&sink.lock);
    if (strstr(sink.body, "<Declaration xmlns=\"urn:example:xx:1\"><Ref>") == NULL
        || strstr(sink.body, "</Ref><Lines>") == NULL || strstr(sink.body, "Envelope") != NULL) {
        pthread_mutex_unlock(&sink.lock);
        fail_msg("not the stylesheet's output: %s", sink.body);
    }
    assert_non_null(strstr(sink.content_type, "application/xml"));
    pthread_mutex_unlock(&sink.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inbound__csv_manifest_is_translated_assessed_and_stored),
        cmocka_unit_test(test_inbound__manifest_transport_mode_reaches_the_rules),
        cmocka_unit_test(test_inbound__large_manifest_gets_its_whole_answer),
        cmocka_unit_test(test_inbound__answer_larger_than_the_body_limit),
        cmocka_unit_test(test_inbound__inputs_take_turns),
        cmocka_unit_test(test_inbound__stopping_answers_the_waiting_503),
        cmocka_unit_test(test_inbound__too_many_waiting_are_refused),
        cmocka_unit_test(test_inbound__bad_rows_are_reported_by_line),
        cmocka_unit_test(test_inbound__store_failure_refuses_the_whole_document),
        cmocka_unit_test(test_inbound__refusals),
        cmocka_unit_test(test_inbound__split_shipment_is_seen_across_files_and_within_one),
        cmocka_unit_test(test_inbound__split_shipment_is_seen_across_chunks),
        cmocka_unit_test(test_inbound__shop_order_is_translated),
        cmocka_unit_test(test_inbound__new_xml_format_by_configuration),
        cmocka_unit_test(test_inbound__consignments_go_out_as_ceb621),
        cmocka_unit_test(test_inbound__route_stylesheet_writes_the_destination_format),
    };

    return cmocka_run_group_tests_name("integration_inbound", tests, group_setup, group_teardown);
}
