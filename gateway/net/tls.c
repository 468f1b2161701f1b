/*
 * TLS for the HTTP server: OpenSSL over memory BIOs on libuv streams. The
 * socket's bytes go into an input BIO, OpenSSL's output comes out of an
 * output BIO and is written with uv_write, so the loop never blocks in
 * OpenSSL and the same connection code serves plain and TLS listeners.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* TLS 1.2 suites: forward secrecy and AEAD only (TLS 1.3 suites are all
 * AEAD with forward secrecy, OpenSSL's defaults). */
#define TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"
/* Client certificate chains are short: partner certificate, maybe one
 * intermediate, the CA. */
#define VERIFY_DEPTH 4
/* Plaintext produced per SSL_read call. */
#define TLS_READ_CHUNK 16384

struct cw_tls_ctx {
    SSL_CTX *ssl_ctx;
    atomic_int refcount;
};

/* ==== Contexts ==== */

static void ssl_error_text(char *out, size_t size)
{
    unsigned long e = ERR_get_error();

    if (e == 0) {
        cw_strlcpy(out, "unknown OpenSSL error", size);
    } else {
        ERR_error_string_n(e, out, size);
    }
    ERR_clear_error();
}

/* ALPN: this server speaks HTTP/1.1 only (RFC 7301). */
static int on_alpn_select(SSL *ssl,
                          const unsigned char **out,
                          unsigned char *out_len,
                          const unsigned char *in,
                          unsigned int in_len,
                          void *arg)
{
    unsigned int i = 0;

    (void)ssl;
    (void)arg;
    while (i < in_len) {
        unsigned int len = in[i];

        if (len == 8 && i + 1 + len <= in_len && memcmp(in + i + 1, "http/1.1", 8) == 0) {
            *out = in + i + 1;
            *out_len = 8;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    /* No common protocol: go on without ALPN rather than fail. */
    return SSL_TLSEXT_ERR_NOACK;
}

int cw_tls_ctx_new(cw_tls_ctx_t **out, const cw_conf_listen_t *listen, cw_error_t *err)
{
    static const unsigned char sid_ctx[] = "clearway";
    cw_tls_ctx_t *ctx = NULL;
    SSL_CTX *c = NULL;
    char why[256];
    int rc = 0;

    *out = NULL;
    ERR_clear_error();
    c = SSL_CTX_new(TLS_server_method());
    if (c == NULL) {
        rc = CW_ENOMEM;
        goto out;
    }
    if (SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) != 1
        || SSL_CTX_set_cipher_list(c, TLS12_CIPHERS) != 1) {
        ssl_error_text(why, sizeof(why));
        rc = cw_error_set(err, CW_ECRYPTO, "net", "listen %s: TLS set-up: %s", listen->name, why);
        goto out;
    }
    (void)SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE
                                     | SSL_OP_NO_COMPRESSION);
    /* Idle connections give their read and write buffers back. */
    (void)SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_use_certificate_chain_file(c, listen->cert_path) != 1) {
        ssl_error_text(why, sizeof(why));
        rc = cw_error_set(err, CW_ECONFIG, "net", "%s: cannot use as certificate: %s",
                          listen->cert_path, why);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey_file(c, listen->key_path, SSL_FILETYPE_PEM) != 1
        || SSL_CTX_check_private_key(c) != 1) {
        ssl_error_text(why, sizeof(why));
        rc = cw_error_set(err, CW_ECONFIG, "net", "%s: cannot use as key of %s: %s",
                          listen->key_path, listen->cert_path, why);
        goto out;
    }
    if (listen->client_auth != CW_CLIENT_AUTH_NONE) {
        STACK_OF(X509_NAME) * names;
        int mode = SSL_VERIFY_PEER;

        if (SSL_CTX_load_verify_locations(c, listen->client_ca_path, NULL) != 1
            || (names = SSL_load_client_CA_file(listen->client_ca_path)) == NULL) {
            ssl_error_text(why, sizeof(why));
            rc = cw_error_set(err, CW_ECONFIG, "net", "%s: cannot use as client CAs: %s",
                              listen->client_ca_path, why);
            goto out;
        }
        SSL_CTX_set_client_CA_list(c, names);
        if (listen->client_auth == CW_CLIENT_AUTH_REQUIRED) {
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        }
        SSL_CTX_set_verify(c, mode, NULL);
        SSL_CTX_set_verify_depth(c, VERIFY_DEPTH);
    }
    /* Resumption with client certificates needs a session id context. */
    (void)SSL_CTX_set_session_id_context(c, sid_ctx, sizeof(sid_ctx) - 1);
    (void)SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_SERVER);
    SSL_CTX_set_alpn_select_cb(c, on_alpn_select, NULL);

    ctx = cw_calloc(1, sizeof(*ctx));
    CW_CHECK_ALLOC(ctx);
    ctx->ssl_ctx = c;
    atomic_init(&ctx->refcount, 1);
    c = NULL;
    *out = ctx;
out:
    SSL_CTX_free(c);
    if (rc == CW_ENOMEM) {
        (void)cw_error_set(err, rc, "net", "listen %s: out of memory", listen->name);
    }
    return rc;
}

cw_tls_ctx_t *cw_tls_ctx_ref(cw_tls_ctx_t *ctx)
{
    atomic_fetch_add(&ctx->refcount, 1);
    return ctx;
}

void cw_tls_ctx_unref(cw_tls_ctx_t *ctx)
{
    if (ctx == NULL || atomic_fetch_sub(&ctx->refcount, 1) != 1) {
        return;
    }
    SSL_CTX_free(ctx->ssl_ctx);
    cw_free(ctx);
}

/* ==== Connections ==== */

int cw_net__tls_conn_start(cw_http_conn_t *conn, cw_tls_ctx_t *ctx)
{
    BIO *in = NULL;
    BIO *out = NULL;

    conn->ssl = SSL_new(ctx->ssl_ctx);
    in = BIO_new(BIO_s_mem());
    out = BIO_new(BIO_s_mem());
    if (conn->ssl == NULL || in == NULL || out == NULL) {
        BIO_free(in);
        BIO_free(out);
        return CW_ENOMEM;
    }
    /* An empty input BIO means "wait for more", not end of file. */
    BIO_set_mem_eof_return(in, -1);
    SSL_set_bio(conn->ssl, in, out); /* the SSL owns both BIOs now */
    SSL_set_accept_state(conn->ssl);
    conn->tls_in = in;
    conn->tls_out = out;
    return 0;
}

void cw_net__tls_conn_free(cw_http_conn_t *conn)
{
    SSL_free(conn->ssl);
    conn->ssl = NULL;
}

/* Moves what OpenSSL wrote into the output BIO to the end of b. */
int cw_net__tls_drain(cw_http_conn_t *conn, cw_buf_t *b)
{
    char chunk[16384];
    int n;

    while ((n = BIO_read(conn->tls_out, chunk, (int)sizeof(chunk))) > 0) {
        int rc = cw_buf_append(b, chunk, (size_t)n);

        if (rc < 0) {
            return rc;
        }
    }
    return 0;
}

/* Lower-case hex SHA-256 of the certificate's DER encoding. */
static void cert_fingerprint(X509 *cert, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    size_t i;

    out[0] = '\0';
    if (X509_digest(cert, EVP_sha256(), md, &len) != 1 || size < 2 * (size_t)len + 1) {
        return;
    }
    for (i = 0; i < len; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 0xf];
    }
    out[2 * len] = '\0';
}

static void cert_subject(X509 *cert, char *out, size_t size)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n;

    out[0] = '\0';
    if (b == NULL) {
        return;
    }
    if (X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        n = BIO_read(b, out, (int)size - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

/* Whether the space-separated fingerprint list names fp (hex, any case,
 * colons ignored). */
static int fingerprint_listed(const char *list, const char *fp)
{
    const char *p = list;

    while (*p != '\0') {
        const char *f = fp;

        while (*p == ' ') {
            p++;
        }
        while (*p != '\0' && *p != ' ') {
            char c = *p++;

            if (c == ':') {
                continue;
            }
            if (c >= 'A' && c <= 'F') {
                c = (char)(c - 'A' + 'a');
            }
            if (*f != c) {
                f = NULL;
                while (*p != '\0' && *p != ' ') {
                    p++;
                }
                break;
            }
            f++;
        }
        if (f != NULL && *f == '\0') {
            return 1;
        }
    }
    return 0;
}

/*
 * After the handshake: who is at the other end? The verified client
 * certificate is looked up among the partners by pinned fingerprint or
 * exact subject.
 */
static void identify_peer(cw_http_conn_t *conn)
{
    const cw_config_t *cfg = conn->server->cfg;
    X509 *cert = SSL_get0_peer_certificate(conn->ssl);
    char fp[2 * EVP_MAX_MD_SIZE + 1];
    char subject[512];
    size_t i;

    if (cert == NULL || SSL_get_verify_result(conn->ssl) != X509_V_OK) {
        return;
    }
    conn->client_cert = 1;
    cert_fingerprint(cert, fp, sizeof(fp));
    cert_subject(cert, subject, sizeof(subject));
    for (i = 0; i < cfg->partner_count; i++) {
        const cw_conf_partner_t *p = &cfg->partners[i];

        if ((p->tls_fingerprints[0] != '\0' && fingerprint_listed(p->tls_fingerprints, fp))
            || (p->tls_subject[0] != '\0' && strcmp(p->tls_subject, subject) == 0)) {
            cw_strlcpy(conn->peer_party, p->id, sizeof(conn->peer_party));
            break;
        }
    }
    if (conn->peer_party[0] == '\0') {
        CW_LOG_WARN("net",
                    "%s: client certificate %s (sha256 %s) is not registered for any "
                    "partner",
                    conn->peer, subject, fp);
    } else {
        CW_LOG_DEBUG("net", "%s: TLS client is %s", conn->peer, conn->peer_party);
    }
}

/* Whether bytes look like a plain HTTP request sent to a TLS port. */
static int looks_like_http(const char *data, size_t len)
{
    static const char *const methods[] = { "GET ", "POST", "HEAD", "PUT ", "DELE", "OPTI", "PATC" };
    size_t i;

    if (len < 4) {
        return 0;
    }
    for (i = 0; i < CW_ARRAY_SIZE(methods); i++) {
        if (memcmp(data, methods[i], 4) == 0) {
            return 1;
        }
    }
    return 0;
}

int cw_net__tls_on_read(cw_http_conn_t *conn, const char *data, size_t len)
{
    char plain[TLS_READ_CHUNK];
    cw_buf_t out;
    int rc = 0;
    int n;

    cw_buf_init(&out, (size_t)CW_NET_READ_CHUNK * 4u);
    if (BIO_write(conn->tls_in, data, (int)len) != (int)len) {
        rc = CW_ENOMEM;
        goto out;
    }
    if (!conn->tls_ready) {
        n = SSL_do_handshake(conn->ssl);
        CW_TRY(cw_net__tls_drain(conn, &out));
        if (n != 1) {
            int e = SSL_get_error(conn->ssl, n);
            char why[256];

            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                goto out; /* more handshake bytes to come */
            }
            if (!conn->tls_saw_bytes && looks_like_http(data, len)) {
                conn->tls_plaintext = 1;
                rc = CW_EPROTO;
                goto out;
            }
            ssl_error_text(why, sizeof(why));
            CW_LOG_INFO("net", "%s: TLS handshake failed: %s", conn->peer, why);
            rc = CW_ECRYPTO;
            goto out;
        }
        conn->tls_ready = 1;
        identify_peer(conn);
    }
    conn->tls_saw_bytes = 1;
    for (;;) {
        n = SSL_read(conn->ssl, plain, (int)sizeof(plain));
        if (n > 0) {
            CW_TRY(cw_buf_append(&conn->inbuf, plain, (size_t)n));
            continue;
        }
        switch (SSL_get_error(conn->ssl, n)) {
        case SSL_ERROR_WANT_READ:
        case SSL_ERROR_WANT_WRITE:
            break;
        case SSL_ERROR_ZERO_RETURN:
            /* close_notify: the client will send nothing more. */
            conn->tls_closed = 1;
            break;
        default:
            ERR_clear_error();
            rc = CW_ECRYPTO;
            goto out;
        }
        break;
    }
    rc = cw_net__tls_drain(conn, &out);
out:
    conn->tls_saw_bytes = 1;
    if (out.len > 0) {
        /* Handshake messages, session tickets or alerts. */
        int wrc = cw_net__raw_write(conn, out.data, out.len);

        if (rc == 0) {
            rc = wrc;
        }
    }
    cw_buf_fini(&out);
    return rc;
}

int cw_net__tls_encrypt(cw_http_conn_t *conn, const char *data, size_t len, cw_buf_t *cipher)
{
    int n;

    if (len == 0) {
        return 0;
    }
    /* A memory BIO never blocks, so one SSL_write takes the whole buffer. */
    n = SSL_write(conn->ssl, data, (int)len);
    if (n != (int)len) {
        ERR_clear_error();
        return CW_ECRYPTO;
    }
    return cw_net__tls_drain(conn, cipher);
}

void cw_net__tls_shutdown(cw_http_conn_t *conn)
{
    cw_buf_t out;

    if (conn->ssl == NULL || !conn->tls_ready) {
        return;
    }
    cw_buf_init(&out, 4096);
    (void)SSL_shutdown(conn->ssl);
    if (cw_net__tls_drain(conn, &out) == 0 && out.len > 0) {
        uv_buf_t buf = uv_buf_init(out.data, (unsigned)out.len);

        /* Best effort: the close_notify goes out if the socket takes it now. */
        (void)uv_try_write((uv_stream_t *)&conn->tcp, &buf, 1);
    }
    ERR_clear_error();
    cw_buf_fini(&out);
}
