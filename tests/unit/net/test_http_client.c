/*
 * net/http_client: the outbound client on a real loop, against the node's
 * own HTTP server run in-process on loopback.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "net.h"
#include "util.h"

/* No test may wait longer than this for its callbacks. */
#define WATCHDOG_MS 20000

#define MANY 200

static const char config_xml[] = "<clearway xmlns=\"urn:clearway:config:1\">\n"
                                 "  <node id=\"client-test\"/>\n"
                                 "  <listen name=\"public\" address=\"127.0.0.1\" port=\"0\"/>\n"
                                 "</clearway>\n";

/* One request's outcome, copied out of its callback. */
typedef struct outcome {
    int done;          /* callbacks received */
    int status;        /* CW_E* */
    int http_status;   /* HTTP status */
    char body[256];    /* start of the response body */
    size_t body_len;   /* full length of the response body */
    char ctype[128];   /* response Content-Type, "" when none */
    char msg[256];     /* error message */
    long new_conns;    /* connections opened for it */
    uint64_t total_us; /* timing.total_us */
    uint64_t tls_us;   /* timing.tls_us */
    int post_rc_after; /* cw_http_client_post from inside the callback */
    char req_body[32]; /* request body (must outlive the request) */
} outcome_t;

typedef struct fixture {
    uv_loop_t loop;
    uv_timer_t watchdog;
    cw_config_t *cfg;
    cw_http_server_t *server;
    cw_http_client_t *client;
    uint16_t port;
    char url[128];     /* http://127.0.0.1:<port> */
    int *wait_counter; /* uv_stop once *wait_counter >= wait_target */
    int wait_target;
    int watchdog_fired;
    int done_total;    /* every client callback */
    int client_closed; /* on_client_closed ran */
    int server_closed;
    int requests;                     /* requests the server handed to us */
    cw_http_request_t *held;          /* a /hold request not yet answered */
    int close_client_on_hold;         /* /hold closes the client at once */
    cw_http_client_t *closing_client; /* valid until on_client_closed */
    int tls_requests;                 /* requests that arrived over TLS with a client cert */
    int tls_server_closed;            /* the TLS server's on_closed ran */
    outcome_t many[MANY];
} fixture_t;

static fixture_t fx;
static char big_body[64 * 1024];

static void maybe_stop(void);
static void on_client_closed(void *arg);

/* ==== Server side ==== */

static void on_request(cw_http_request_t *req, void *arg)
{
    (void)arg;
    fx.requests++;
    if (req->tls && req->client_cert) {
        fx.tls_requests++;
    }
    if (strcmp(req->path, "/echo") == 0) {
        const char *ct = cw_http_request_header(req, "content-type");

        (void)cw_http_respond(req, 200, ct != NULL ? ct : "application/octet-stream", NULL,
                              req->body, req->body_len);
        return;
    }
    if (strcmp(req->path, "/big") == 0) {
        (void)cw_http_respond(req, 200, "text/plain", NULL, big_body, sizeof(big_body));
        return;
    }
    if (strcmp(req->path, "/hold") == 0) {
        fx.held = req;
        if (fx.close_client_on_hold) {
            fx.closing_client = fx.client;
            fx.client = NULL;
            cw_http_client_close(fx.closing_client, on_client_closed, NULL);
        }
        maybe_stop();
        return;
    }
    (void)cw_http_respond(req, 404, NULL, NULL, NULL, 0);
}

static void release_held(void)
{
    if (fx.held != NULL) {
        cw_http_request_t *req = fx.held;

        fx.held = NULL;
        (void)cw_http_respond(req, 200, "text/plain", NULL, "late\n", 5);
    }
}

static void on_server_closed(cw_http_server_t *server, void *arg)
{
    (void)server;
    (void)arg;
    fx.server_closed++;
}

static void on_tls_server_closed(cw_http_server_t *server, void *arg)
{
    (void)server;
    (void)arg;
    fx.tls_server_closed++;
    maybe_stop();
}

/* ==== A raw test server on a thread (TLS or plain) ==== */

/*
 * The node's server speaks neither TLS (yet) nor unframed bodies, so these
 * cases use a minimal blocking server on its own thread: one connection at
 * a time, one request per connection, then close.
 */
typedef enum raw_mode_e {
    RAW_ECHO = 0,     /* 200 with the request body, Content-Length framed */
    RAW_UNFRAMED = 1, /* 200 with 64 KiB and no Content-Length: read until close */
} raw_mode_e;

typedef struct raw_server {
    int listen_fd;
    uint16_t port;
    SSL_CTX *ctx; /* NULL: plain TCP */
    raw_mode_e mode;
    pthread_t thread;
    atomic_int stop;  /* set before shutdown(listen_fd); read after accept */
    int handshakes;   /* read after join only */
    int client_certs; /* connections that presented a client certificate */
} raw_server_t;

static char pki_dir[256];

static int raw_read(raw_server_t *rs, SSL *ssl, int fd, char *buf, size_t n)
{
    if (rs->ctx != NULL) {
        return SSL_read(ssl, buf, (int)n);
    }
    return (int)read(fd, buf, n);
}

static int raw_write(raw_server_t *rs, SSL *ssl, int fd, const char *buf, size_t n)
{
    size_t off = 0;

    while (off < n) {
        int w = rs->ctx != NULL ? SSL_write(ssl, buf + off, (int)(n - off))
                                : (int)write(fd, buf + off, n - off);

        if (w <= 0) {
            return -1;
        }
        off += (size_t)w;
    }
    return 0;
}

/* Reads one request (headers and a Content-Length body) and answers it. */
static void raw_serve(raw_server_t *rs, SSL *ssl, int fd)
{
    char req[8192];
    char head[256];
    size_t len = 0;
    const char *eoh = NULL;
    size_t body_len = 0;
    const char *cl;

    while (len < sizeof(req) - 1) {
        int r = raw_read(rs, ssl, fd, req + len, sizeof(req) - 1 - len);

        if (r <= 0) {
            return;
        }
        len += (size_t)r;
        req[len] = '\0';
        eoh = strstr(req, "\r\n\r\n");
        if (eoh == NULL) {
            continue;
        }
        cl = strstr(req, "Content-Length: ");
        body_len = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
        if (len >= (size_t)(eoh + 4 - req) + body_len) {
            break;
        }
    }
    if (eoh == NULL || body_len > sizeof(req)) {
        return;
    }
    if (rs->mode == RAW_UNFRAMED) {
        const char *h = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n";

        if (raw_write(rs, ssl, fd, h, strlen(h)) == 0) {
            (void)raw_write(rs, ssl, fd, big_body, sizeof(big_body));
        }
        return;
    }
    (void)snprintf(head, sizeof(head),
                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   body_len);
    if (raw_write(rs, ssl, fd, head, strlen(head)) == 0) {
        (void)raw_write(rs, ssl, fd, eoh + 4, body_len);
    }
}

static void *raw_server_main(void *arg)
{
    raw_server_t *rs = arg;

    for (;;) {
        struct timeval tv = { 5, 0 };
        SSL *ssl = NULL;
        int fd = accept(rs->listen_fd, NULL, NULL);

        if (fd < 0 || rs->stop) {
            if (fd >= 0) {
                (void)close(fd);
            }
            break;
        }
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (rs->ctx != NULL) {
            ssl = SSL_new(rs->ctx);
            if (ssl == NULL || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1) {
                ERR_clear_error();
                SSL_free(ssl);
                (void)close(fd);
                continue;
            }
            rs->handshakes++;
            {
                X509 *peer = SSL_get1_peer_certificate(ssl);

                if (peer != NULL) {
                    rs->client_certs++;
                    X509_free(peer);
                }
            }
        }
        raw_serve(rs, ssl, fd);
        if (ssl != NULL) {
            (void)SSL_shutdown(ssl);
            SSL_free(ssl);
        }
        (void)close(fd);
    }
    return NULL;
}

typedef struct raw_tls {
    const char *cert;        /* file in pki_dir, or NULL for plain TCP */
    const char *key;         /* file in pki_dir */
    int tls_max_1_2;         /* refuse TLS 1.3 */
    int require_client_cert; /* mutual TLS against pki_dir/ca.pem */
} raw_tls_t;

static void raw_server_start(raw_server_t *rs, const raw_tls_t *tls, raw_mode_e mode)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char path[512];

    memset(rs, 0, sizeof(*rs));
    rs->mode = mode;
    if (tls != NULL) {
        rs->ctx = SSL_CTX_new(TLS_server_method());
        assert_non_null(rs->ctx);
        (void)snprintf(path, sizeof(path), "%s/%s", pki_dir, tls->cert);
        assert_int_equal(SSL_CTX_use_certificate_chain_file(rs->ctx, path), 1);
        (void)snprintf(path, sizeof(path), "%s/%s", pki_dir, tls->key);
        assert_int_equal(SSL_CTX_use_PrivateKey_file(rs->ctx, path, SSL_FILETYPE_PEM), 1);
        if (tls->tls_max_1_2) {
            assert_int_equal(SSL_CTX_set_max_proto_version(rs->ctx, TLS1_2_VERSION), 1);
        }
        if (tls->require_client_cert) {
            (void)snprintf(path, sizeof(path), "%s/ca.pem", pki_dir);
            assert_int_equal(SSL_CTX_load_verify_locations(rs->ctx, path, NULL), 1);
            SSL_CTX_set_verify(rs->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        }
    }
    rs->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(rs->listen_fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(rs->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(rs->listen_fd, 16), 0);
    assert_int_equal(getsockname(rs->listen_fd, (struct sockaddr *)&sa, &len), 0);
    rs->port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&rs->thread, NULL, raw_server_main, rs), 0);
}

static void raw_server_stop(raw_server_t *rs)
{
    rs->stop = 1;
    (void)shutdown(rs->listen_fd, SHUT_RDWR);
    assert_int_equal(pthread_join(rs->thread, NULL), 0);
    (void)close(rs->listen_fd);
    SSL_CTX_free(rs->ctx);
}

/* "sha256//<base64 of the SHA-256 of the SubjectPublicKeyInfo>" of a PEM certificate. */
static void pin_of(const char *cert_file, char *out, size_t size)
{
    char path[512];
    unsigned char *der = NULL;
    unsigned char digest[32];
    unsigned char b64[64];
    unsigned int dlen = 0;
    FILE *f;
    X509 *x;
    int n;

    (void)snprintf(path, sizeof(path), "%s/%s", pki_dir, cert_file);
    f = fopen(path, "r");
    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    (void)fclose(f);
    assert_non_null(x);
    n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
    assert_true(n > 0);
    assert_int_equal(EVP_Digest(der, (size_t)n, digest, &dlen, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    X509_free(x);
    assert_int_equal(EVP_EncodeBlock(b64, digest, (int)dlen), 44);
    (void)snprintf(out, size, "sha256//%s", (const char *)b64);
}

/* ==== Waiting ==== */

static void maybe_stop(void)
{
    if (fx.wait_counter != NULL && *fx.wait_counter >= fx.wait_target) {
        uv_stop(&fx.loop);
    }
}

static void on_watchdog(uv_timer_t *timer)
{
    (void)timer;
    fx.watchdog_fired = 1;
    uv_stop(&fx.loop);
}

/* Runs the loop until *counter reaches target; fails the test on the watchdog. */
static void wait_for(int *counter, int target)
{
    fx.wait_counter = counter;
    fx.wait_target = target;
    if (*counter < target) {
        assert_int_equal(uv_timer_start(&fx.watchdog, on_watchdog, WATCHDOG_MS, 0), 0);
        (void)uv_run(&fx.loop, UV_RUN_DEFAULT);
        (void)uv_timer_stop(&fx.watchdog);
    }
    fx.wait_counter = NULL;
    assert_false(fx.watchdog_fired);
    assert_true(*counter >= target);
}

/* ==== Client side ==== */

static void on_done(const cw_http_client_result_t *res, void *arg)
{
    outcome_t *o = arg;

    o->done++;
    o->status = res->status;
    o->http_status = res->http_status;
    o->body_len = res->body_len;
    cw_strlcpy(o->body, res->body, sizeof(o->body));
    cw_strlcpy(o->ctype, res->content_type != NULL ? res->content_type : "", sizeof(o->ctype));
    cw_strlcpy(o->msg, res->error.msg, sizeof(o->msg));
    o->new_conns = res->new_connections;
    o->total_us = res->timing.total_us;
    o->tls_us = res->timing.tls_us;
    assert_int_equal(res->error.code, res->status);
    assert_non_null(res->body);
    fx.done_total++;
    maybe_stop();
}

/* A cancelled request tries to post again from its callback. */
static void on_done_repost(const cw_http_client_result_t *res, void *arg)
{
    outcome_t *o = arg;
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;

    opts.url = "http://127.0.0.1:1/";
    opts.allow_plain_http = 1;
    o->post_rc_after = cw_http_client_post(fx.closing_client, &opts, on_done, arg);
    on_done(res, arg);
}

static void on_client_closed(void *arg)
{
    (void)arg;
    fx.client_closed++;
    maybe_stop();
}

static void post_opts(cw_http_client_post_options_t *opts, const char *path, const char *body)
{
    static char url[192];

    (void)snprintf(url, sizeof(url), "%s%s", fx.url, path);
    opts->url = url;
    opts->body = body;
    opts->body_len = body != NULL ? strlen(body) : 0;
    opts->allow_plain_http = 1;
}

static void post(const char *path, const char *body, outcome_t *o)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;

    post_opts(&opts, path, body);
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, o), 0);
}

/* ==== Fixture ==== */

static int setup(void **state)
{
    cw_config_errors_t errs;
    cw_http_server_options_t sopts = { 0 };
    cw_error_t err = { 0 };

    (void)state;
    memset(&fx, 0, sizeof(fx));
    cw_config_errors_init(&errs);
    assert_int_equal(cw_config_load_mem(&fx.cfg, "test.xml", config_xml, strlen(config_xml), &errs),
                     0);
    cw_config_errors_fini(&errs);
    assert_int_equal(uv_loop_init(&fx.loop), 0);
    assert_int_equal(uv_timer_init(&fx.loop, &fx.watchdog), 0);
    sopts.listen = &fx.cfg->listens[0];
    sopts.cfg = fx.cfg;
    sopts.on_request = on_request;
    assert_int_equal(cw_http_server_new(&fx.server, &fx.loop, &sopts, &err), 0);
    fx.port = cw_http_server_port(fx.server);
    (void)snprintf(fx.url, sizeof(fx.url), "http://127.0.0.1:%u", (unsigned)fx.port);
    assert_int_equal(cw_http_client_new(&fx.client, &fx.loop, &err), 0);
    return 0;
}

/* STYLE.md rule 35: client, then server, then the loop must close clean. */
static int teardown(void **state)
{
    (void)state;
    release_held();
    if (fx.client != NULL) {
        cw_http_client_close(fx.client, on_client_closed, NULL);
        fx.client = NULL;
    }
    cw_http_server_close(fx.server, 0, on_server_closed, NULL);
    uv_close((uv_handle_t *)&fx.watchdog, NULL);
    assert_int_equal(uv_run(&fx.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(fx.server_closed, 1);
    cw_http_server_free(fx.server);
    cw_config_unref(fx.cfg);
    assert_int_equal(uv_loop_close(&fx.loop), 0);
    return 0;
}

/* Shell command runner for the PKI script; returns the exit status or -1. */
static int run(const char *fmt, ...) CW_PRINTF(1, 2);
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int st;

    va_start(ap, fmt);
    (void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    return st == -1 ? -1 : (st >> 8) & 0xff;
}

/* A throwaway PKI from certs/make-dev-pki (rule 66); TLS tests skip without it. */
static void make_pki(void)
{
    const char *src = getenv("CLEARWAY_SRC");
    const char *tmp = getenv("TMPDIR");

    pki_dir[0] = '\0';
    if (src == NULL) {
        return;
    }
    (void)snprintf(pki_dir, sizeof(pki_dir), "%s/cw-client-test.XXXXXX",
                   tmp != NULL ? tmp : "/tmp");
    if (mkdtemp(pki_dir) == NULL
        || run("'%s/certs/make-dev-pki' '%s' peer >/dev/null", src, pki_dir) != 0
        || run("'%s/certs/make-dev-pki' --expired '%s' old >/dev/null", src, pki_dir) != 0) {
        (void)fprintf(stderr, "test_http_client: cannot make the dev PKI; TLS tests skip\n");
        pki_dir[0] = '\0';
    }
}

static int group_setup(void **state)
{
    (void)state;
    /* As in clearwayd: the raw server writes to clients that hung up. */
    (void)signal(SIGPIPE, SIG_IGN);
    memset(big_body, 'x', sizeof(big_body));
    make_pki();
    return cw_http_client_lib_init();
}

static int group_teardown(void **state)
{
    (void)state;
    cw_http_client_lib_fini();
    if (pki_dir[0] != '\0') {
        (void)run("rm -rf '%s'", pki_dir);
    }
    return 0;
}

/* ==== Tests ==== */

static void test_http_client__post_round_trip_echoes_the_body(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    const char *hdrs[] = { "X-Test: 1" };
    outcome_t o = { 0 };

    (void)state;
    post_opts(&opts, "/echo", "<hello>world</hello>");
    opts.content_type = "application/xml";
    opts.headers = hdrs;
    opts.header_count = 1;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    assert_int_equal(o.done, 0); /* never synchronously */
    assert_int_equal(cw_http_client_in_flight(fx.client), 1);
    wait_for(&o.done, 1);
    assert_int_equal(o.done, 1);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.msg, "");
    assert_int_equal(o.http_status, 200);
    assert_string_equal(o.body, "<hello>world</hello>");
    assert_int_equal(o.body_len, strlen("<hello>world</hello>"));
    assert_string_equal(o.ctype, "application/xml");
    assert_int_equal(o.new_conns, 1);
    assert_true(o.total_us > 0);
    assert_int_equal(cw_http_client_in_flight(fx.client), 0);
}

static void test_http_client__http_errors_are_not_transport_errors(void **state)
{
    outcome_t o = { 0 };

    (void)state;
    post("/nowhere", "x", &o);
    wait_for(&o.done, 1);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.http_status, 404);
    assert_int_equal(o.body_len, 0);
}

static void test_http_client__keep_alive_reuses_the_connection(void **state)
{
    outcome_t a = { 0 };
    outcome_t b = { 0 };

    (void)state;
    post("/echo", "one", &a);
    wait_for(&a.done, 1);
    post("/echo", "two", &b);
    wait_for(&b.done, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(a.body, "one");
    assert_string_equal(b.body, "two");
    assert_int_equal(a.new_conns, 1);
    assert_int_equal(b.new_conns, 0);
    assert_int_equal(cw_http_server_metrics(fx.server)->connections_total, 1);
}

static void test_http_client__response_too_large_is_e2big(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    outcome_t o = { 0 };
    outcome_t ok = { 0 };

    (void)state;
    post_opts(&opts, "/big", "x");
    opts.response_bytes_max = 1024;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    wait_for(&o.done, 1);
    assert_int_equal(o.status, CW_E2BIG);
    assert_non_null(strstr(o.msg, "1024"));
    assert_null(strchr(o.msg, '\n'));

    /* Exactly at the limit is fine. */
    opts.response_bytes_max = sizeof(big_body);
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &ok), 0);
    wait_for(&ok.done, 1);
    assert_int_equal(ok.status, 0);
    assert_int_equal(ok.body_len, sizeof(big_body));
}

static void test_http_client__total_timeout_is_etimedout(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    outcome_t o = { 0 };
    uint64_t start = cw_time_mono_ms();
    uint64_t took;

    (void)state;
    post_opts(&opts, "/hold", "x");
    opts.total_timeout_ms = 300;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    wait_for(&o.done, 1);
    took = cw_time_mono_ms() - start;
    assert_int_equal(o.status, CW_ETIMEDOUT);
    assert_int_equal(o.http_status, 0);
    assert_non_null(fx.held); /* the server got it and never answered in time */
    assert_true(took >= 250);
    assert_true(took < 5000);
}

static void test_http_client__connection_refused_is_eio(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    char url[64];
    outcome_t o = { 0 };
    int fd;

    (void)state;
    /* A bound socket that does not listen: connecting to it is refused. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo", (unsigned)ntohs(sa.sin_port));
    opts.url = url;
    opts.allow_plain_http = 1;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    wait_for(&o.done, 1);
    (void)close(fd);
    assert_int_equal(o.status, CW_EIO);
    assert_int_equal(o.http_status, 0);
    assert_string_not_equal(o.msg, "");
}

static void test_http_client__plain_http_is_refused_by_default(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    outcome_t o = { 0 };

    (void)state;
    post_opts(&opts, "/echo", "x");
    opts.allow_plain_http = 0;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    wait_for(&o.done, 1);
    assert_int_equal(o.status, CW_EPERM);
    assert_int_equal(cw_http_server_metrics(fx.server)->connections_total, 0);
    assert_int_equal(fx.requests, 0);
}

static void test_http_client__tls_to_a_plain_server_is_ecrypto(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    char url[64];
    outcome_t o = { 0 };

    (void)state;
    (void)snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo", (unsigned)fx.port);
    opts.url = url;
    opts.body = "x";
    opts.body_len = 1;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    wait_for(&o.done, 1);
    assert_int_equal(o.status, CW_ECRYPTO);
    assert_int_equal(fx.requests, 0);
}

static void test_http_client__close_cancels_transfers_in_flight(void **state)
{
    outcome_t o = { 0 };
    outcome_t queued = { 0 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;

    (void)state;
    fx.close_client_on_hold = 1;
    post_opts(&opts, "/hold", "x");
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done_repost, &o), 0);
    /* A second one that is still connecting or queued when the client closes. */
    post("/echo", "y", &queued);
    wait_for(&o.done, 1);
    assert_null(fx.client);
    assert_int_equal(o.status, CW_ECLOSED);
    assert_int_equal(o.post_rc_after, CW_ECLOSED);
    assert_int_equal(o.http_status, 0);
    /* The other one either finished first or was cancelled too. */
    if (queued.done == 0) {
        wait_for(&queued.done, 1);
    }
    assert_int_equal(queued.done, 1);
    assert_true(queued.status == 0 || queued.status == CW_ECLOSED);
    wait_for(&fx.client_closed, 1);
    /* teardown checks that every handle closed: uv_loop_close() == 0. */
}

static void test_http_client__close_calls_back_and_frees(void **state)
{
    cw_http_client_t *client = fx.client;
    outcome_t o = { 0 };

    (void)state;
    post("/hold", "x", &o);
    wait_for(&fx.requests, 1);
    fx.client = NULL;
    cw_http_client_close(client, on_client_closed, NULL);
    assert_int_equal(o.done, 1); /* synchronously, inside close */
    assert_int_equal(o.status, CW_ECLOSED);
    assert_int_equal(fx.client_closed, 0);                /* the handles close later */
    cw_http_client_close(client, on_client_closed, NULL); /* idempotent */
    wait_for(&fx.client_closed, 1);
    assert_int_equal(fx.client_closed, 1);
}

static void test_http_client__many_concurrent_posts_complete(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    int i;

    (void)state;
    for (i = 0; i < MANY; i++) {
        outcome_t *o = &fx.many[i];

        (void)snprintf(o->req_body, sizeof(o->req_body), "message-%d", i);
        post_opts(&opts, "/echo", o->req_body);
        assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, o), 0);
    }
    assert_int_equal(cw_http_client_in_flight(fx.client), MANY);
    wait_for(&fx.done_total, MANY);
    for (i = 0; i < MANY; i++) {
        assert_int_equal(fx.many[i].done, 1);
        assert_int_equal(fx.many[i].status, 0);
        assert_int_equal(fx.many[i].http_status, 200);
        assert_string_equal(fx.many[i].body, fx.many[i].req_body);
    }
    assert_int_equal(fx.requests, MANY);
}

static void test_http_client__host_connection_cap_is_honoured(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    int n = 40;
    int i;

    (void)state;
    assert_int_equal(cw_http_client_set_host_connections_max(fx.client, 2), 0);
    for (i = 0; i < n; i++) {
        outcome_t *o = &fx.many[i];

        (void)snprintf(o->req_body, sizeof(o->req_body), "capped-%d", i);
        post_opts(&opts, "/echo", o->req_body);
        assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, o), 0);
    }
    wait_for(&fx.done_total, n);
    for (i = 0; i < n; i++) {
        assert_int_equal(fx.many[i].status, 0);
        assert_string_equal(fx.many[i].body, fx.many[i].req_body);
    }
    assert_true(cw_http_server_metrics(fx.server)->connections_total <= 2);
}

/* A delivery route's pattern: a window of requests in flight, and the next
 * ones started a little later (after a store round trip), so that at times
 * few transfers are running. The connections opened for the first window
 * must carry every later request: libcurl's own cache size follows the
 * number of transfers added at the moment, and closes the rest. */
static void test_http_client__idle_connections_are_kept_for_reuse(void **state)
{
    enum { WINDOW = 16, WAVES = 8 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    int wave;
    int i;

    (void)state;
    assert_int_equal(cw_http_client_set_idle_connections_max(fx.client, WINDOW), 0);
    for (wave = 0; wave < WAVES; wave++) {
        for (i = 0; i < WINDOW; i++) {
            outcome_t *o = &fx.many[wave * WINDOW + i];

            (void)snprintf(o->req_body, sizeof(o->req_body), "wave-%d-%d", wave, i);
            post_opts(&opts, "/echo", o->req_body);
            assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, o), 0);
        }
        wait_for(&fx.done_total, (wave + 1) * WINDOW);
    }
    for (i = 0; i < WAVES * WINDOW; i++) {
        assert_int_equal(fx.many[i].status, 0);
        assert_string_equal(fx.many[i].body, fx.many[i].req_body);
    }
    assert_true(cw_http_server_metrics(fx.server)->connections_total <= WINDOW);
}

static void test_http_client__bad_options_are_refused(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    const char *smuggle[] = { "X-A: 1\r\nX-B: 2" };
    const char *no_colon[] = { "X-A" };
    outcome_t o = { 0 };

    (void)state;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), CW_EINVAL);
    post_opts(&opts, "/echo", "x");
    opts.headers = smuggle;
    opts.header_count = 1;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), CW_EINVAL);
    opts.headers = no_colon;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), CW_EINVAL);
    opts.headers = NULL;
    opts.header_count = 0;
    opts.content_type = "text/plain\r\nX-Evil: 1";
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), CW_EINVAL);
    opts.content_type = NULL;
    opts.total_timeout_ms = 0;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), CW_EINVAL);
    opts.total_timeout_ms = 1000;
    opts.response_bytes_max = 0;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), CW_EINVAL);
    assert_int_equal(o.done, 0);
    assert_int_equal(cw_http_client_in_flight(fx.client), 0);
}

static void test_http_client__out_of_memory_fails_cleanly(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    cw_http_client_t *other = NULL;
    outcome_t o = { 0 };
    long n;

    (void)state;
    cw_alloc_fail_after(0);
    assert_int_equal(cw_http_client_new(&other, &fx.loop, NULL), CW_ENOMEM);
    assert_null(other);
    post_opts(&opts, "/echo", "x");
    opts.content_type = "text/plain";
    for (n = 0; n < 3; n++) {
        int rc;

        cw_alloc_fail_after(n);
        rc = cw_http_client_post(fx.client, &opts, on_done, &o);
        cw_alloc_fail_reset();
        if (rc == 0) {
            wait_for(&o.done, 1);
            break;
        }
        assert_int_equal(rc, CW_ENOMEM);
    }
    cw_alloc_fail_reset();
    assert_int_equal(o.done, 1);
}

static void test_http_client__unwatchable_socket_fails_only_its_request(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    raw_server_t rs;
    char url[64];
    outcome_t o = { 0 };
    outcome_t after = { 0 };

    (void)state;
    /* The thread server allocates nothing of ours, so the one allocation
     * that fails is the socket context made when curl connects. */
    raw_server_start(&rs, NULL, RAW_ECHO);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)rs.port);
    opts.url = url;
    opts.allow_plain_http = 1;
    opts.body = "x";
    opts.body_len = 1;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    cw_alloc_fail_after(0);
    wait_for(&o.done, 1);
    cw_alloc_fail_reset();
    assert_int_equal(o.status, CW_ENOMEM);
    assert_non_null(strstr(o.msg, "cannot watch"));
    assert_int_equal(cw_http_client_in_flight(fx.client), 0);
    /* The client itself is fine. */
    opts.body = "again";
    opts.body_len = 5;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &after), 0);
    wait_for(&after.done, 1);
    raw_server_stop(&rs);
    assert_int_equal(after.status, 0);
    assert_string_equal(after.body, "again");
}

static void test_http_client__unframed_response_too_large_is_e2big(void **state)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    raw_server_t rs;
    char url[64];
    outcome_t o = { 0 };
    outcome_t ok = { 0 };

    (void)state;
    /* No Content-Length: only the write callback's bounded buffer can stop it. */
    raw_server_start(&rs, NULL, RAW_UNFRAMED);
    (void)snprintf(url, sizeof(url), "http://127.0.0.1:%u/", (unsigned)rs.port);
    opts.url = url;
    opts.allow_plain_http = 1;
    opts.response_bytes_max = 1024;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &o), 0);
    wait_for(&o.done, 1);
    assert_int_equal(o.status, CW_E2BIG);
    assert_non_null(strstr(o.msg, "1024"));
    opts.response_bytes_max = sizeof(big_body);
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &ok), 0);
    wait_for(&ok.done, 1);
    raw_server_stop(&rs);
    assert_int_equal(ok.status, 0);
    assert_int_equal(ok.body_len, sizeof(big_body));
}

/* Posts "tls" to a TLS test server and waits for the outcome. */
static void tls_post(const raw_server_t *rs, cw_http_client_post_options_t *opts, outcome_t *o)
{
    char url[64];
    char ca[512];

    (void)snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/messages", (unsigned)rs->port);
    (void)snprintf(ca, sizeof(ca), "%s/ca.pem", pki_dir);
    opts->url = url;
    if (opts->ca_file != NULL) {
        opts->ca_file = ca;
    }
    opts->body = "tls";
    opts->body_len = 3;
    opts->connect_timeout_ms = 5000;
    opts->total_timeout_ms = 10000;
    assert_int_equal(cw_http_client_post(fx.client, opts, on_done, o), 0);
    wait_for(&o->done, 1);
}

#define SKIP_WITHOUT_PKI()     \
    do {                       \
        if (pki_dir[0] == 0) { \
            skip();            \
        }                      \
    } while (0)

static void test_http_client__tls_verified_round_trip(void **state)
{
    const raw_tls_t tls = { "peer.pem", "peer.key", 0, 0 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    raw_server_t rs;
    outcome_t o = { 0 };

    (void)state;
    SKIP_WITHOUT_PKI();
    raw_server_start(&rs, &tls, RAW_ECHO);
    opts.ca_file = "set";
    tls_post(&rs, &opts, &o);
    raw_server_stop(&rs);
    assert_int_equal(o.status, 0);
    assert_int_equal(o.http_status, 200);
    assert_string_equal(o.body, "tls");
    assert_true(o.tls_us > 0);
    assert_int_equal(rs.handshakes, 1);
}

static void test_http_client__tls_untrusted_or_expired_is_ecrypto(void **state)
{
    const raw_tls_t good = { "peer.pem", "peer.key", 0, 0 };
    const raw_tls_t expired = { "old.pem", "old.key", 0, 0 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    raw_server_t rs;
    outcome_t untrusted = { 0 };
    outcome_t old = { 0 };

    (void)state;
    SKIP_WITHOUT_PKI();
    /* The system store does not know the dev CA: verification is always on. */
    raw_server_start(&rs, &good, RAW_ECHO);
    tls_post(&rs, &opts, &untrusted);
    raw_server_stop(&rs);
    assert_int_equal(untrusted.status, CW_ECRYPTO);
    assert_int_equal(untrusted.http_status, 0);

    raw_server_start(&rs, &expired, RAW_ECHO);
    opts.ca_file = "set";
    tls_post(&rs, &opts, &old);
    raw_server_stop(&rs);
    assert_int_equal(old.status, CW_ECRYPTO);
    assert_int_equal(rs.handshakes, 0);
}

static void test_http_client__tls_pinned_key_is_enforced(void **state)
{
    const raw_tls_t tls = { "peer.pem", "peer.key", 0, 0 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    raw_server_t rs;
    char right[128];
    char wrong[128];
    outcome_t a = { 0 };
    outcome_t b = { 0 };

    (void)state;
    SKIP_WITHOUT_PKI();
    pin_of("peer.pem", right, sizeof(right));
    pin_of("peer-rsa.pem", wrong, sizeof(wrong));
    raw_server_start(&rs, &tls, RAW_ECHO);
    opts.ca_file = "set";
    opts.pinned_pubkey = wrong;
    tls_post(&rs, &opts, &a);
    opts.pinned_pubkey = right;
    tls_post(&rs, &opts, &b);
    raw_server_stop(&rs);
    assert_int_equal(a.status, CW_ECRYPTO);
    assert_int_equal(b.status, 0);
    assert_string_equal(b.body, "tls");
}

static void test_http_client__tls_minimum_version_is_enforced(void **state)
{
    const raw_tls_t tls = { "peer.pem", "peer.key", 1, 0 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    raw_server_t rs;
    outcome_t v13 = { 0 };
    outcome_t v12 = { 0 };

    (void)state;
    SKIP_WITHOUT_PKI();
    raw_server_start(&rs, &tls, RAW_ECHO);
    opts.ca_file = "set";
    opts.tls_min = CW_HTTP_CLIENT_TLS_1_3;
    tls_post(&rs, &opts, &v13);
    opts.tls_min = CW_HTTP_CLIENT_TLS_1_2;
    tls_post(&rs, &opts, &v12);
    raw_server_stop(&rs);
    assert_int_equal(v13.status, CW_ECRYPTO);
    assert_int_equal(v12.status, 0);
}

static void test_http_client__tls_client_certificate_is_sent(void **state)
{
    const raw_tls_t tls = { "peer.pem", "peer.key", 0, 1 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    raw_server_t rs;
    char cert[512];
    char key[512];
    outcome_t o = { 0 };

    (void)state;
    SKIP_WITHOUT_PKI();
    (void)snprintf(cert, sizeof(cert), "%s/peer-rsa.pem", pki_dir);
    (void)snprintf(key, sizeof(key), "%s/peer-rsa.key", pki_dir);
    raw_server_start(&rs, &tls, RAW_ECHO);
    opts.ca_file = "set";
    opts.client_cert_file = cert;
    opts.client_key_file = key;
    tls_post(&rs, &opts, &o);
    raw_server_stop(&rs);
    assert_int_equal(o.status, 0);
    assert_string_equal(o.body, "tls");
    assert_int_equal(rs.client_certs, 1);
}

static void test_http_client__tls_keep_alive_with_the_nodes_server(void **state)
{
    cw_conf_listen_t listen;
    cw_http_server_options_t sopts = { 0 };
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    cw_http_server_t *server = NULL;
    cw_tls_ctx_t *ctx = NULL;
    cw_error_t err = { 0 };
    char url[64];
    char ca[512];
    char cert[512];
    char key[512];
    outcome_t a = { 0 };
    outcome_t b = { 0 };

    (void)state;
    SKIP_WITHOUT_PKI();
    /* clearwayd's own TLS listener, with mutual TLS required. */
    listen = fx.cfg->listens[0];
    cw_strlcpy(listen.name, "tls", sizeof(listen.name));
    listen.tls = 1;
    listen.client_auth = CW_CLIENT_AUTH_REQUIRED;
    (void)snprintf(listen.cert_path, sizeof(listen.cert_path), "%s/peer.pem", pki_dir);
    (void)snprintf(listen.key_path, sizeof(listen.key_path), "%s/peer.key", pki_dir);
    (void)snprintf(listen.client_ca_path, sizeof(listen.client_ca_path), "%s/ca.pem", pki_dir);
    assert_int_equal(cw_tls_ctx_new(&ctx, &listen, &err), 0);
    sopts.listen = &listen;
    sopts.cfg = fx.cfg;
    sopts.on_request = on_request;
    sopts.tls = ctx;
    assert_int_equal(cw_http_server_new(&server, &fx.loop, &sopts, &err), 0);
    cw_tls_ctx_unref(ctx);

    (void)snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo",
                   (unsigned)cw_http_server_port(server));
    (void)snprintf(ca, sizeof(ca), "%s/ca.pem", pki_dir);
    (void)snprintf(cert, sizeof(cert), "%s/peer-rsa.pem", pki_dir);
    (void)snprintf(key, sizeof(key), "%s/peer-rsa.key", pki_dir);
    opts.url = url;
    opts.ca_file = ca;
    opts.client_cert_file = cert;
    opts.client_key_file = key;
    opts.content_type = "application/xml";
    opts.body = "<a/>";
    opts.body_len = 4;
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &a), 0);
    wait_for(&a.done, 1);
    opts.body = "<b/>";
    assert_int_equal(cw_http_client_post(fx.client, &opts, on_done, &b), 0);
    wait_for(&b.done, 1);

    cw_http_server_close(server, 0, on_tls_server_closed, NULL);
    wait_for(&fx.tls_server_closed, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_string_equal(a.body, "<a/>");
    assert_string_equal(b.body, "<b/>");
    assert_string_equal(b.ctype, "application/xml");
    assert_true(a.tls_us > 0);
    assert_int_equal(a.new_conns, 1);
    assert_int_equal(b.new_conns, 0);
    assert_int_equal(cw_http_server_metrics(server)->connections_total, 1);
    assert_int_equal(fx.tls_requests, 2);
    cw_http_server_free(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(test_http_client__##name, setup, teardown)
        T(post_round_trip_echoes_the_body),      T(http_errors_are_not_transport_errors),
        T(keep_alive_reuses_the_connection),     T(response_too_large_is_e2big),
        T(total_timeout_is_etimedout),           T(connection_refused_is_eio),
        T(plain_http_is_refused_by_default),     T(tls_to_a_plain_server_is_ecrypto),
        T(close_cancels_transfers_in_flight),    T(close_calls_back_and_frees),
        T(many_concurrent_posts_complete),       T(host_connection_cap_is_honoured),
        T(idle_connections_are_kept_for_reuse),  T(bad_options_are_refused),
        T(out_of_memory_fails_cleanly),          T(unwatchable_socket_fails_only_its_request),
        T(unframed_response_too_large_is_e2big), T(tls_verified_round_trip),
        T(tls_untrusted_or_expired_is_ecrypto),  T(tls_pinned_key_is_enforced),
        T(tls_minimum_version_is_enforced),      T(tls_client_certificate_is_sent),
        T(tls_keep_alive_with_the_nodes_server),
#undef T
    };

    return cmocka_run_group_tests_name("net_http_client", tests, group_setup, group_teardown);
}
