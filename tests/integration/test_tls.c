/*
 * TLS and mutual TLS on a real clearwayd: who may connect, how the TLS
 * client's identity binds the envelope's From, the partner agreement, and
 * the server's TLS behaviour (timeouts, plaintext, resumption, many
 * connections). Refusals are checked with real clients (curl, openssl) and
 * with a small OpenSSL client written here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cw_test.h"
#include "util.h"

static cw_test_daemon_t daemon_;
static char pki[256];        /* the node's PKI; pki/other holds a second CA */
static char node_xml[1024];  /* the daemon's <node> */
static char extra_xml[4096]; /* its listeners, limits and partners */

static int group_setup(void **state)
{
    const char *src = getenv("CLEARWAY_SRC");
    char *node = node_xml;
    char *extra = extra_xml;
    char fp[256];
    char cmd[1024];

    (void)state;
    signal(SIGPIPE, SIG_IGN);
    cw_test_nofile_raise(4096);
    snprintf(pki, sizeof(pki), "/tmp/cw-tls-XXXXXX");
    if (src == NULL || mkdtemp(pki) == NULL) {
        return -1;
    }
    /* The listener serves tls.pem/tls.key, copies of hub's, so that a test
     * can swap them for hub2's and reload. */
    if (cw_test_sh("'%s/certs/make-dev-pki' '%s' hub hub2 alice bob carol >/dev/null 2>&1", src,
                   pki)
            != 0
        || cw_test_sh("cp '%s/hub.pem' '%s/tls.pem' && cp '%s/hub.key' '%s/tls.key'", pki, pki, pki,
                      pki)
               != 0
        || cw_test_sh("'%s/certs/make-dev-pki' --expired '%s' old >/dev/null 2>&1", src, pki) != 0
        || cw_test_sh("'%s/certs/make-dev-pki' '%s/other' eve >/dev/null 2>&1", src, pki) != 0) {
        return -1;
    }
    /* bob is registered by the SHA-256 fingerprint of his certificate. */
    snprintf(cmd, sizeof(cmd),
             "openssl x509 -in '%s/bob.pem' -noout -fingerprint -sha256 | sed 's/.*=//'", pki);
    if (cw_test_sh_out(fp, sizeof(fp), cmd) != 0 || strlen(fp) != 95) {
        return -1;
    }
    snprintf(node, sizeof(node_xml), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>",
             pki, pki);
    snprintf(
        extra, sizeof(extra_xml),
        "  <listen name=\"tls\" address=\"127.0.0.1\" port=\"0\" tls=\"true\"\n"
        "          cert=\"%s/tls.pem\" key=\"%s/tls.key\" client-ca=\"%s/ca.pem\"/>\n"
        "  <limits><handshake-timeout-ms>1500</handshake-timeout-ms></limits>\n"
        "  <partner id=\"alice\" certs=\"%s/alice.pem\" tls-subject=\"CN=alice,O=Clearway dev\"\n"
        "           actions=\"ecommerce/order\" destinations=\"hub\"/>\n"
        "  <partner id=\"bob\" certs=\"%s/bob.pem\" tls-fingerprint=\"%s\"\n"
        "           actions=\"*\" destinations=\"*\"/>\n"
        "  <partner id=\"old\" certs=\"%s/old.pem\" tls-subject=\"CN=old,O=Clearway dev\"\n"
        "           actions=\"*\" destinations=\"*\"/>\n",
        pki, pki, pki, pki, pki, fp, pki);
    if (cw_test_daemon_start_as(&daemon_, node, extra) < 0) {
        return -1;
    }
    /* The TLS listener is the second one; its port is in the log. */
    return 0;
}

static int group_teardown(void **state)
{
    int status;

    (void)state;
    status = cw_test_daemon_stop(&daemon_, SIGTERM, 10000);
    cw_test_daemon_cleanup(&daemon_);
    (void)cw_test_sh("rm -rf '%s'", pki);
    return status == 0 ? 0 : -1;
}

/* The port of the listener named "tls", read from the daemon's log. */
static int tls_port(void)
{
    static int port;
    FILE *f;
    char line[4096];

    if (port > 0) {
        return port;
    }
    f = fopen(daemon_.log, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *p;

        if (strstr(line, "\"listener\":\"tls\"") == NULL) {
            continue;
        }
        p = strstr(line, "\"port\":");
        if (p != NULL) {
            port = (int)strtol(p + 7, NULL, 10);
        }
    }
    fclose(f);
    assert_true(port > 0);
    return port;
}

/* ==== A small OpenSSL client ==== */

typedef struct tls_client {
    SSL_CTX *ctx;
    SSL *ssl;
    int fd;
} tls_client_t;

/* Connects as name (its cert and key from the PKI; NULL: no client cert)
 * to port. */
static int tls_connect_to(tls_client_t *c, const char *name, SSL_SESSION *resume, int port)
{
    char cert[512];
    char key[512];
    char ca[512];

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->ctx = SSL_CTX_new(TLS_client_method());
    if (c->ctx == NULL) {
        return -1;
    }
    snprintf(ca, sizeof(ca), "%s/ca.pem", pki);
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(c->ctx, ca, NULL) != 1) {
        return -1;
    }
    if (name != NULL) {
        snprintf(cert, sizeof(cert), "%s/%s.pem", pki, name);
        snprintf(key, sizeof(key), "%s/%s.key", pki, name);
        if (SSL_CTX_use_certificate_file(c->ctx, cert, SSL_FILETYPE_PEM) != 1
            || SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1) {
            return -1;
        }
    }
    c->fd = cw_test_connect(port);
    c->ssl = SSL_new(c->ctx);
    if (c->fd < 0 || c->ssl == NULL) {
        return -1;
    }
    SSL_set_fd(c->ssl, c->fd);
    (void)SSL_set_tlsext_host_name(c->ssl, "localhost");
    if (resume != NULL) {
        SSL_set_session(c->ssl, resume);
    }
    return SSL_connect(c->ssl) == 1 ? 0 : -1;
}

/* Connects as name to the TLS listener. */
static int tls_connect(tls_client_t *c, const char *name, SSL_SESSION *resume)
{
    return tls_connect_to(c, name, resume, tls_port());
}

static int tls_connect_port(tls_client_t *c, const char *name, int port)
{
    return tls_connect_to(c, name, NULL, port);
}

static void tls_close(tls_client_t *c)
{
    if (c->ssl != NULL) {
        (void)SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    SSL_CTX_free(c->ctx);
    ERR_clear_error();
    memset(c, 0, sizeof(*c));
}

/* Reads one Content-Length framed response; returns the status. */
static int tls_read_response(tls_client_t *c, char *body, size_t body_size)
{
    char buf[65536];
    size_t len = 0;
    char *end = NULL;
    long clen = 0;
    int status = -1;

    for (;;) {
        int n = SSL_read(c->ssl, buf + len, (int)(sizeof(buf) - 1 - len));

        if (n <= 0) {
            return -1;
        }
        len += (size_t)n;
        buf[len] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end != NULL) {
            const char *cl = strstr(buf, "Content-Length: ");

            clen = cl != NULL ? strtol(cl + 16, NULL, 10) : 0;
            if ((size_t)(end + 4 - buf) + (size_t)clen <= len) {
                break;
            }
        }
    }
    (void)sscanf(buf, "HTTP/1.1 %d", &status);
    if (body != NULL) {
        cw_strlcpy(body, end + 4, body_size);
    }
    return status;
}

/* Sends req and reads one Content-Length framed response; returns the status. */
static int tls_request(tls_client_t *c, const char *req, char *body, size_t body_size)
{
    if (SSL_write(c->ssl, req, (int)strlen(req)) != (int)strlen(req)) {
        return -1;
    }
    return tls_read_response(c, body, body_size);
}

/* A signed envelope from from (signed with signer's key) to hub. */
static char *signed_envelope(const char *signer, const char *from, const char *action)
{
    char cmd[2048];
    char path[512];
    FILE *f;
    char *out;
    size_t n;

    snprintf(path, sizeof(path), "%s/payload.xml", pki);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("<c:Consignment xmlns:c=\"urn:clearway:consignment:1\"><c:Id>C-1</c:Id>"
          "</c:Consignment>",
          f);
    fclose(f);
    snprintf(cmd, sizeof(cmd),
             "'%s' sign --key '%s/%s.key' --cert '%s/%s.pem' --from %s --to hub "
             "--service ecommerce --action %s '%s' > '%s/env.xml'",
             getenv("CLEARWAY_CLI"), pki, signer, pki, signer, from, action, path, pki);
    assert_int_equal(cw_test_sh("%s", cmd), 0);
    snprintf(path, sizeof(path), "%s/env.xml", pki);
    f = fopen(path, "r");
    assert_non_null(f);
    out = cw_malloc(1u << 16);
    assert_non_null(out);
    n = fread(out, 1, (1u << 16) - 1, f);
    out[n] = '\0';
    fclose(f);
    return out;
}

/* POSTs an envelope over c; returns the status and the body in body. */
static int tls_post(tls_client_t *c, const char *xml, char *body, size_t body_size)
{
    cw_buf_t b;
    int status;

    cw_buf_init(&b, 1u << 20);
    assert_int_equal(
        cw_buf_appendf(&b,
                       "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                       "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n%s",
                       strlen(xml), xml),
        0);
    status = tls_request(c, b.data, body, body_size);
    cw_buf_fini(&b);
    return status;
}

/* curl against the TLS port with extra options; returns curl's exit code. */
static int curl(const char *opts, char *out, size_t size)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd),
             "curl -sS --max-time 5 --cacert '%s/ca.pem' %s https://127.0.0.1:%d/healthz 2>&1", pki,
             opts, tls_port());
    return cw_test_sh_out(out, size, cmd);
}

/* ==== Who may connect ==== */

static void test_tls__registered_client_is_served(void **state)
{
    char opts[1024];
    char out[1024];

    (void)state;
    snprintf(opts, sizeof(opts), "--cert '%s/alice.pem' --key '%s/alice.key'", pki, pki);
    assert_int_equal(curl(opts, out, sizeof(out)), 0);
    assert_string_equal(out, "{\"status\":\"ok\"}");
}

static void test_tls__no_client_certificate_is_refused(void **state)
{
    char out[1024];

    (void)state;
    assert_true(curl("", out, sizeof(out)) != 0);
    assert_null(strstr(out, "status"));
}

static void test_tls__certificate_from_another_ca_is_refused(void **state)
{
    char opts[1024];
    char out[1024];

    (void)state;
    snprintf(opts, sizeof(opts), "--cert '%s/other/eve.pem' --key '%s/other/eve.key'", pki, pki);
    assert_true(curl(opts, out, sizeof(out)) != 0);
    assert_non_null(strstr(out, "unknown ca"));
}

static void test_tls__expired_certificate_is_refused(void **state)
{
    char opts[1024];
    char out[1024];

    (void)state;
    snprintf(opts, sizeof(opts), "--cert '%s/old.pem' --key '%s/old.key'", pki, pki);
    assert_true(curl(opts, out, sizeof(out)) != 0);
    assert_non_null(strstr(out, "expired"));
}

static void test_tls__unregistered_certificate_gets_403(void **state)
{
    /* carol's certificate is from the right CA but no partner pins it. */
    tls_client_t c;
    char body[4096];
    char *xml = signed_envelope("alice", "alice", "order");

    (void)state;
    assert_int_equal(tls_connect(&c, "carol", NULL), 0);
    assert_int_equal(tls_post(&c, xml, body, sizeof(body)), 403);
    assert_non_null(strstr(body, "urn:clearway:problem:client-not-registered"));
    tls_close(&c);
    cw_free(xml);
}

static void test_tls__plaintext_to_tls_port_gets_400(void **state)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;

    (void)state;
    assert_int_equal(cw_test_roundtrip(tls_port(), req, strlen(req), &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "plain HTTP was sent to a TLS port"));
    cw_test_response_fini(&r);
}

static void test_tls__stalled_handshake_is_cut(void **state)
{
    long long start = cw_test_now_ms();
    int fd = cw_test_connect(tls_port());

    (void)state;
    assert_true(fd >= 0);
    /* Nothing is sent: the handshake timeout (1.5 s here) closes it. */
    assert_int_equal(cw_test_wait_closed(fd, 5000), 0);
    assert_true(cw_test_now_ms() - start >= 1400);
    close(fd);
}

/* ==== Identity and agreement ==== */

static void test_tls__from_must_be_the_tls_party(void **state)
{
    tls_client_t c;
    char body[4096];
    char *xml = signed_envelope("bob", "bob", "order");

    (void)state;
    /* alice's TLS connection carries an envelope from bob. */
    assert_int_equal(tls_connect(&c, "alice", NULL), 0);
    assert_int_equal(tls_post(&c, xml, body, sizeof(body)), 403);
    assert_non_null(strstr(body, "sender-mismatch"));
    tls_close(&c);
    cw_free(xml);
}

static void test_tls__fingerprint_and_subject_identify_partners(void **state)
{
    tls_client_t c;
    char body[8192];
    char *from_alice = signed_envelope("alice", "alice", "order");
    char *from_bob = signed_envelope("bob", "bob", "anything");

    (void)state;
    assert_int_equal(tls_connect(&c, "alice", NULL), 0);
    assert_int_equal(tls_post(&c, from_alice, body, sizeof(body)), 200);
    assert_non_null(strstr(body, "<Status>accepted</Status>"));
    tls_close(&c);
    assert_int_equal(tls_connect(&c, "bob", NULL), 0);
    assert_int_equal(tls_post(&c, from_bob, body, sizeof(body)), 200);
    tls_close(&c);
    cw_free(from_alice);
    cw_free(from_bob);
}

static void test_tls__action_not_in_agreement_is_403(void **state)
{
    tls_client_t c;
    char body[8192];
    char *xml = signed_envelope("alice", "alice", "payment");

    (void)state;
    /* alice may send ecommerce/order only: a signed negative receipt. */
    assert_int_equal(tls_connect(&c, "alice", NULL), 0);
    assert_int_equal(tls_post(&c, xml, body, sizeof(body)), 403);
    assert_non_null(strstr(body, "<Status>rejected</Status>"));
    assert_non_null(strstr(body, "not-authorized"));
    tls_close(&c);
    cw_free(xml);
}

/* ==== Server behaviour ==== */

static void test_tls__session_resumption(void **state)
{
    tls_client_t c;
    SSL_SESSION *session;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    (void)state;
    assert_int_equal(tls_connect(&c, "alice", NULL), 0);
    /* TLS 1.3 tickets arrive after the handshake: read one response first. */
    assert_int_equal(tls_request(&c, req, NULL, 0), 200);
    session = SSL_get1_session(c.ssl);
    assert_non_null(session);
    tls_close(&c);
    assert_int_equal(tls_connect(&c, "alice", session), 0);
    assert_int_equal(SSL_session_reused(c.ssl), 1);
    assert_int_equal(tls_request(&c, req, NULL, 0), 200);
    tls_close(&c);
    SSL_SESSION_free(session);
}

static void test_tls__alpn_is_http11(void **state)
{
    char cmd[2048];
    char out[256];

    (void)state;
    snprintf(cmd, sizeof(cmd),
             "openssl s_client -connect 127.0.0.1:%d -CAfile '%s/ca.pem' -cert '%s/alice.pem' "
             "-key '%s/alice.key' -alpn h2,http/1.1 </dev/null 2>/dev/null | grep 'ALPN protocol'",
             tls_port(), pki, pki, pki);
    assert_int_equal(cw_test_sh_out(out, sizeof(out), cmd), 0);
    assert_string_equal(out, "ALPN protocol: http/1.1");
}

static void test_tls__thousand_keep_alive_connections(void **state)
{
    enum { N = 1000 };
    static tls_client_t clients[N];
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    SSL_SESSION *session;
    int ok = 0;
    int i;

    (void)state;
    /* Resumed handshakes keep the test quick; every connection is a real
     * TLS connection held open at the same time. */
    assert_int_equal(tls_connect(&clients[0], "alice", NULL), 0);
    assert_int_equal(tls_request(&clients[0], req, NULL, 0), 200);
    session = SSL_get1_session(clients[0].ssl);
    for (i = 1; i < N; i++) {
        assert_int_equal(tls_connect(&clients[i], "alice", session), 0);
    }
    for (i = 0; i < N; i++) {
        if (tls_request(&clients[i], req, NULL, 0) == 200) {
            ok++;
        }
    }
    /* Keep-alive: a second request on every connection. */
    for (i = 0; i < N; i++) {
        if (tls_request(&clients[i], req, NULL, 0) == 200) {
            ok++;
        }
    }
    for (i = 0; i < N; i++) {
        tls_close(&clients[i]);
    }
    SSL_SESSION_free(session);
    assert_int_equal(ok, 2 * N);
}

static void test_tls__request_with_close_notify_is_answered(void **state)
{
    /* The request and the client's close_notify arrive in one read. The
     * close used to be applied before the request was parsed, and the
     * request was dropped unanswered. */
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    tls_client_t c;
    BIO *mem;
    char wire[4096];
    char body[256];
    int n;

    (void)state;
    assert_int_equal(tls_connect(&c, "alice", NULL), 0);
    /* Both records go to memory first, then to the socket in one send. */
    mem = BIO_new(BIO_s_mem());
    assert_non_null(mem);
    SSL_set0_wbio(c.ssl, mem);
    assert_int_equal(SSL_write(c.ssl, req, (int)strlen(req)), (int)strlen(req));
    assert_int_equal(SSL_shutdown(c.ssl), 0);
    n = BIO_read(mem, wire, (int)sizeof(wire));
    assert_true(n > 0);
    assert_int_equal(BIO_pending(mem), 0);
    assert_int_equal(cw_test_send(c.fd, wire, (size_t)n), 0);
    assert_int_equal(tls_read_response(&c, body, sizeof(body)), 200);
    assert_non_null(strstr(body, "{\"status\":\"ok\"}"));
    /* Then the server closes. */
    assert_int_equal(cw_test_wait_closed(c.fd, 3000), 0);
    SSL_free(c.ssl);
    c.ssl = NULL;
    tls_close(&c);
}

static void test_tls__inbound_content_type_must_be_sealable(void **state)
{
    /* The Content-Type of an inbound document is sealed as the evidence's
     * MediaType (at most 255 bytes of printable ASCII): a longer one made
     * an envelope the next node refused, after a 200 here. */
    char ctype[301];
    char req[1024];
    char body[4096];
    tls_client_t c;
    int status;

    (void)state;
    memset(ctype, 'a', sizeof(ctype) - 1);
    memcpy(ctype, "text/", 5);
    ctype[sizeof(ctype) - 1] = '\0';
    snprintf(req, sizeof(req),
             "POST /v1/inbound/x HTTP/1.1\r\nHost: hub\r\nContent-Type: %s\r\n"
             "Content-Length: 2\r\n\r\nhi",
             ctype);
    assert_int_equal(tls_connect(&c, "alice", NULL), 0);
    status = tls_request(&c, req, body, sizeof(body));
    if (status != 415 || strstr(body, "urn:clearway:problem:unsupported-media-type") == NULL) {
        fail_msg("a 300-byte Content-Type got %d %s", status, body);
    }
    /* Bytes above 0x7f and a bare word are refused the same way. */
    assert_int_equal(tls_request(&c,
                                 "POST /v1/inbound/x HTTP/1.1\r\nHost: hub\r\n"
                                 "Content-Type: text/csv; name=\xc3\xa9\r\n"
                                 "Content-Length: 2\r\n\r\nhi",
                                 body, sizeof(body)),
                     415);
    assert_int_equal(tls_request(&c,
                                 "POST /v1/inbound/x HTTP/1.1\r\nHost: hub\r\n"
                                 "Content-Type: csv\r\nContent-Length: 2\r\n\r\nhi",
                                 body, sizeof(body)),
                     415);
    /* A well-formed one goes on to the adapter check (alice has none). */
    assert_int_equal(tls_request(&c,
                                 "POST /v1/inbound/x HTTP/1.1\r\nHost: hub\r\n"
                                 "Content-Type: text/csv; charset=utf-8\r\n"
                                 "Content-Length: 2\r\n\r\nhi",
                                 body, sizeof(body)),
                     403);
    tls_close(&c);
}

static void test_tls__partial_records_do_not_extend_idle(void **state)
{
    /* A second daemon with a 1 s idle timeout. Bytes of a TLS record that
     * never completes decrypt to nothing: they used to restart the idle
     * timer, one byte at a time. */
    static const unsigned char record[] = { 0x17, 0x03, 0x03, 0x00, 0x40, 0, 0, 0, 0, 0, 0, 0,
                                            0,    0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0 };
    cw_test_daemon_t d;
    char extra[sizeof(extra_xml) + 64];
    const char *limits = strstr(extra_xml, "<limits>");
    tls_client_t c;
    long long start;
    size_t i = 0;
    int closed = 0;
    int port;

    (void)state;
    assert_non_null(limits);
    snprintf(extra, sizeof(extra), "%.*s<limits><idle-timeout-ms>1000</idle-timeout-ms>%s",
             (int)(limits - extra_xml), extra_xml, limits + strlen("<limits>"));
    assert_int_equal(cw_test_daemon_start_as(&d, node_xml, extra), 0);
    port = cw_test_daemon_listener_port(&d, "tls");
    assert_true(port > 0);
    assert_int_equal(tls_connect_port(&c, "alice", port), 0);
    start = cw_test_now_ms();
    while (!closed && cw_test_now_ms() - start < 3000) {
        struct pollfd pfd = { c.fd, POLLIN, 0 };
        char buf[4096];

        if (i < sizeof(record) && send(c.fd, record + i, 1, MSG_NOSIGNAL) == 1) {
            i++;
        }
        if (poll(&pfd, 1, 150) > 0) {
            ssize_t n = recv(c.fd, buf, sizeof(buf), 0);

            closed = n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN);
        }
    }
    if (!closed) {
        fail_msg("still open after %lld ms of partial records", cw_test_now_ms() - start);
    }
    assert_true(cw_test_now_ms() - start < 2000);
    SSL_free(c.ssl);
    c.ssl = NULL;
    tls_close(&c);
    assert_int_equal(cw_test_daemon_stop(&d, SIGTERM, 10000), 0);
    cw_test_daemon_cleanup(&d);
}

/* The subject CN of the certificate the TLS listener presents now. */
static void served_cn(char *out, size_t size)
{
    char cmd[2048];

    snprintf(cmd, sizeof(cmd),
             "openssl s_client -connect 127.0.0.1:%d -CAfile '%s/ca.pem' -cert '%s/alice.pem' "
             "-key '%s/alice.key' </dev/null 2>/dev/null | openssl x509 -noout -subject "
             "-nameopt RFC2253 | sed 's/.*CN=\\([^,]*\\).*/\\1/'",
             tls_port(), pki, pki, pki);
    assert_int_equal(cw_test_sh_out(out, size, cmd), 0);
}

static void test_tls__sighup_reloads_the_certificate(void **state)
{
    tls_client_t c;
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char cn[128];
    long long deadline;

    (void)state;
    served_cn(cn, sizeof(cn));
    assert_string_equal(cn, "hub");
    /* A connection opened before the reload keeps working after it. */
    assert_int_equal(tls_connect(&c, "alice", NULL), 0);
    assert_int_equal(cw_test_sh("cp '%s/hub2.pem' '%s/tls.pem' && cp '%s/hub2.key' '%s/tls.key'",
                                pki, pki, pki, pki),
                     0);
    assert_int_equal(kill(daemon_.pid, SIGHUP), 0);
    deadline = cw_test_now_ms() + 5000;
    while (cw_test_log_count(&daemon_, "configuration reloaded") < 1
           && cw_test_now_ms() < deadline) {
        struct timespec ts = { 0, 20 * 1000000L };

        nanosleep(&ts, NULL);
    }
    assert_int_equal(cw_test_log_count(&daemon_, "configuration reloaded"), 1);
    served_cn(cn, sizeof(cn));
    assert_string_equal(cn, "hub2");
    assert_int_equal(tls_request(&c, req, NULL, 0), 200);
    tls_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls__registered_client_is_served),
        cmocka_unit_test(test_tls__no_client_certificate_is_refused),
        cmocka_unit_test(test_tls__certificate_from_another_ca_is_refused),
        cmocka_unit_test(test_tls__expired_certificate_is_refused),
        cmocka_unit_test(test_tls__unregistered_certificate_gets_403),
        cmocka_unit_test(test_tls__plaintext_to_tls_port_gets_400),
        cmocka_unit_test(test_tls__stalled_handshake_is_cut),
        cmocka_unit_test(test_tls__from_must_be_the_tls_party),
        cmocka_unit_test(test_tls__fingerprint_and_subject_identify_partners),
        cmocka_unit_test(test_tls__action_not_in_agreement_is_403),
        cmocka_unit_test(test_tls__session_resumption),
        cmocka_unit_test(test_tls__alpn_is_http11),
        cmocka_unit_test(test_tls__thousand_keep_alive_connections),
        cmocka_unit_test(test_tls__request_with_close_notify_is_answered),
        cmocka_unit_test(test_tls__inbound_content_type_must_be_sealable),
        cmocka_unit_test(test_tls__partial_records_do_not_extend_idle),
        cmocka_unit_test(test_tls__sighup_reloads_the_certificate),
    };

    return cmocka_run_group_tests_name("integration_tls", tests, group_setup, group_teardown);
}
