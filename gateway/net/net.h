/*
 * net: the HTTP/1.1 server on libuv (requests parsed by Debian's
 * http-parser), RFC 9457 problem documents and the server's metrics.
 *
 * Threading: everything here runs on the loop thread. A handler that hands
 * work to another thread must come back to the loop (uv_queue_work's after
 * callback or uv_async) before calling cw_http_respond.
 */
#ifndef CW_NET_H
#define CW_NET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "util.h"

typedef struct cw_http_server cw_http_server_t;
typedef struct cw_http_conn cw_http_conn_t;
typedef struct cw_http_request cw_http_request_t;

/* ==== Problem documents (RFC 9457) ==== */

/*
 * Every error kind Clearway answers with. The slug makes the stable type URI
 * "urn:clearway:problem:<slug>"; docs/problems.md lists them. Append only.
 */
#define CW_PROBLEM_MAP(XX)                                                                       \
    XX(BAD_REQUEST, "bad-request", 400, "Malformed request")                                     \
    XX(REQUEST_SMUGGLING, "ambiguous-framing", 400, "Ambiguous message framing")                 \
    XX(NOT_FOUND, "not-found", 404, "No such resource")                                          \
    XX(METHOD_NOT_ALLOWED, "method-not-allowed", 405, "Method not allowed")                      \
    XX(NOT_ACCEPTABLE, "not-acceptable", 406, "Not acceptable")                                  \
    XX(REQUEST_TIMEOUT, "request-timeout", 408, "Request timeout")                               \
    XX(LENGTH_REQUIRED, "length-required", 411, "Length required")                               \
    XX(BODY_TOO_LARGE, "body-too-large", 413, "Content too large")                               \
    XX(URI_TOO_LONG, "uri-too-long", 414, "URI too long")                                        \
    XX(UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", 415, "Unsupported media type")          \
    XX(CLIENT_NOT_REGISTERED, "client-not-registered", 403, "Client certificate not registered") \
    XX(EXPECTATION_FAILED, "expectation-failed", 417, "Expectation failed")                      \
    XX(HEADERS_TOO_LARGE, "headers-too-large", 431, "Request header fields too large")           \
    XX(INTERNAL, "internal-error", 500, "Internal error")                                        \
    XX(NOT_IMPLEMENTED, "not-implemented", 501, "Not implemented")                               \
    XX(UNAVAILABLE, "unavailable", 503, "Service unavailable")                                   \
    XX(VERSION_NOT_SUPPORTED, "http-version-not-supported", 505, "HTTP version not supported")

typedef enum cw_problem_e {
#define XX(name, slug, status, title) CW_PROBLEM_##name,
    CW_PROBLEM_MAP(XX)
#undef XX
        CW_PROBLEM__COUNT
} cw_problem_e;

/* Stable slug ("bad-request"), HTTP status and title of a problem kind. */
const char *cw_problem_slug(cw_problem_e kind);
int cw_problem_status(cw_problem_e kind);
const char *cw_problem_title(cw_problem_e kind);

typedef enum cw_problem_format_e {
    CW_PROBLEM_JSON = 0, /* application/problem+json (the default) */
    CW_PROBLEM_XML = 1,  /* application/problem+xml */
} cw_problem_format_e;

/*
 * Picks the problem format from an Accept header value (may be NULL):
 * +xml when the client asks for application/problem+xml or application/xml
 * (or text/xml) and not for JSON with a higher preference; JSON otherwise.
 */
cw_problem_format_e cw_problem_format_from_accept(const char *accept);

/*
 * Renders a problem document into out (appended). type_slug is the part
 * after "urn:clearway:problem:"; detail and instance may be NULL. Text is
 * escaped for the format. Returns 0, CW_E2BIG or CW_ENOMEM.
 */
CW_MUST_CHECK int cw_problem_render(cw_buf_t *out,
                                    cw_problem_format_e fmt,
                                    const char *type_slug,
                                    const char *title,
                                    int status,
                                    const char *detail,
                                    const char *instance);

/* Media type string for fmt. */
const char *cw_problem_media_type(cw_problem_format_e fmt);

/* ==== Requests ==== */

typedef struct cw_http_header {
    const char *name;  /* NUL-terminated, as received; owned by the request */
    const char *value; /* NUL-terminated, surrounding blanks removed */
} cw_http_header_t;

/*
 * One parsed request. Owned by the server until the handler's response has
 * been written; the handler borrows it and must call cw_http_respond (or
 * cw_http_respond_problem) exactly once. Fields are valid until then.
 */
struct cw_http_request {
    cw_pool_t *pool;    /* per-request arena, freed with the request */
    const char *method; /* "GET", "POST", ... */
    const char *target; /* raw request target */
    const char *path;   /* target without the query */
    const char *query;  /* after '?', or "" */
    int http_minor;     /* 0 or 1 (the major is always 1) */
    cw_http_header_t *headers;
    size_t header_count;
    const char *body; /* decoded body, NUL-terminated; "" when empty */
    size_t body_len;
    char id[24];                  /* request id, echoed as X-Request-Id */
    char peer[64];                /* "addr:port" of the client */
    cw_listen_kind_e listen_kind; /* which kind of listener accepted it */
    int tls;                      /* 1: arrived over TLS */
    int client_cert;              /* 1: the TLS client presented a verified certificate */
    char peer_party[128];         /* the partner that certificate is registered for, or "" */
    const char *route;            /* metrics label set by the handler; static string */
    uint64_t start_ns;            /* monotonic time of the first byte */
    const cw_config_t *cfg;       /* config snapshot in force (referenced) */
    void *arg;                    /* free for the handler's use */

    /* Private to the server. */
    cw_http_server_t *server;
    cw_http_conn_t *conn; /* NULL when the client went away */
    struct cw_http_request *next;
    cw_buf_t out;          /* rendered response */
    int status;            /* response status, 0 until responded */
    int keep_alive;        /* whether the connection stays open after it */
    int is_head;           /* HEAD: no body in the response */
    size_t body_bytes_out; /* response body length, for the access log */
};

/* Value of the first header named name (case-insensitive), or NULL. */
const char *cw_http_request_header(const cw_http_request_t *req, const char *name);

/*
 * Sends a response. content_type may be NULL when body_len is 0;
 * extra_headers, if not NULL, is zero or more complete "Name: value\r\n"
 * lines. Returns 0, or CW_ENOMEM (the connection is then closed). After this
 * call the request belongs to the server again. Loop thread only; never
 * calls back synchronously into the handler.
 */
int cw_http_respond(cw_http_request_t *req,
                    int status,
                    const char *content_type,
                    const char *extra_headers,
                    const void *body,
                    size_t body_len);

/* Responds with a problem document of kind, in the format the client's Accept asks for. */
int cw_http_respond_problem(cw_http_request_t *req, cw_problem_e kind, const char *detail);

/* Same, with extra header lines ("Retry-After: 5\r\n"), which may be NULL. */
int cw_http_respond_problem_ex(cw_http_request_t *req,
                               cw_problem_e kind,
                               const char *detail,
                               const char *extra_headers);

/* Same, for a kind slug and status not in cw_problem_e (e.g. from sec/). */
int cw_http_respond_problem_slug(
    cw_http_request_t *req, int status, const char *slug, const char *title, const char *detail);

/* ==== TLS server contexts ==== */

/*
 * A listener's TLS configuration (OpenSSL SSL_CTX): TLS 1.2 and 1.3 only,
 * ECDHE with AES-GCM or ChaCha20, the certificate and key, the client CAs
 * and policy, session resumption and ALPN http/1.1. Immutable once built
 * and reference counted: connections keep the context they started with
 * when a reload swaps in a new one.
 */
typedef struct cw_tls_ctx cw_tls_ctx_t;

/*
 * Builds the context listen describes (listen->tls must be set). Reads the
 * files: call at start-up or on a worker. *out has one reference owned by
 * the caller (cw_tls_ctx_unref). Returns 0 or CW_ECONFIG / CW_ECRYPTO with
 * the file and OpenSSL's reason in err. Any thread.
 */
CW_MUST_CHECK int
cw_tls_ctx_new(cw_tls_ctx_t **out, const cw_conf_listen_t *listen, cw_error_t *err);
cw_tls_ctx_t *cw_tls_ctx_ref(cw_tls_ctx_t *ctx);
/* Drops a reference; NULL is allowed. Any thread. */
void cw_tls_ctx_unref(cw_tls_ctx_t *ctx);

/* ==== Server ==== */

/* Called on the loop thread for every complete, well-formed request. */
typedef void (*cw_http_handler_cb)(cw_http_request_t *req, void *arg);
/* Called once when the server has closed every handle and may be freed. */
typedef void (*cw_http_closed_cb)(cw_http_server_t *server, void *arg);

/* Counters kept by the server; read on the loop thread. */
typedef struct cw_http_metrics {
    uint64_t connections_open;     /* gauge */
    uint64_t connections_total;    /* accepted */
    uint64_t connections_rejected; /* refused at connections-max */
    uint64_t requests_in_flight;   /* gauge: parsed, not yet written */
    uint64_t bytes_in;
    uint64_t bytes_out;
} cw_http_metrics_t;

/* Called once per finished request (response written or client gone). */
typedef void (*cw_http_done_cb)(const cw_http_request_t *req, uint64_t duration_ns, void *arg);

typedef struct cw_http_server_options {
    const cw_conf_listen_t *listen; /* where to listen (copied) */
    cw_config_t *cfg;               /* initial snapshot (a reference is taken) */
    cw_http_handler_cb on_request;  /* required */
    cw_http_done_cb on_done;        /* optional: metrics and access log */
    void *arg;                      /* passed to both callbacks */
    cw_tls_ctx_t *tls;              /* TLS context (a reference is taken); NULL: plain */
} cw_http_server_options_t;

/*
 * Creates a server and binds and listens at once. On success *out is owned
 * by the caller and must be closed with cw_http_server_close. Errors:
 * CW_ESYS (bind/listen failed; err says why), CW_ENOMEM. Loop thread.
 */
CW_MUST_CHECK int cw_http_server_new(cw_http_server_t **out,
                                     uv_loop_t *loop,
                                     const cw_http_server_options_t *opts,
                                     cw_error_t *err);

/* The port actually bound (useful with port 0). */
uint16_t cw_http_server_port(const cw_http_server_t *server);

/*
 * Replaces the config snapshot used for new requests (takes a reference)
 * and, when tls is not NULL, the TLS context for new connections (takes a
 * reference; connections already open keep theirs). Loop thread.
 */
void cw_http_server_set_config(cw_http_server_t *server, cw_config_t *cfg, cw_tls_ctx_t *tls);

/*
 * Stops accepting and lets in-flight requests finish: idle connections are
 * closed now, busy ones after their current response. When no connection is
 * left, or after drain_timeout_ms, every handle is closed and on_closed runs.
 * Idempotent. Loop thread.
 */
void cw_http_server_close(cw_http_server_t *server,
                          uint32_t drain_timeout_ms,
                          cw_http_closed_cb on_closed,
                          void *arg);

/* Frees a server whose on_closed has run. */
void cw_http_server_free(cw_http_server_t *server);

const cw_http_metrics_t *cw_http_server_metrics(const cw_http_server_t *server);

/* ==== HTTP client ==== */

/*
 * The outbound HTTP(S) client: libcurl's multi_socket interface driven by
 * the node's libuv loop (STYLE.md 3.6). One client per loop holds one CURLM
 * (and so one connection cache: requests to the same host reuse keep-alive
 * connections) and one uv_timer_t.
 *
 * Threading: every function below except cw_http_client_lib_init/fini is
 * called on the loop thread of the client's loop, and every callback runs
 * there. Nothing here exposes a libcurl type or code: failures arrive as
 * CW_E* codes.
 */
typedef struct cw_http_client cw_http_client_t;

/*
 * Process-wide libcurl initialisation. Call cw_http_client_lib_init once in
 * main, on the main thread, before any other thread starts and before the
 * first cw_http_client_new; call cw_http_client_lib_fini once at exit, after
 * every client has been closed and every thread has stopped. Neither is
 * thread-safe. lib_init returns 0, or CW_ECONFIG when this libcurl cannot do
 * HTTPS (no TLS backend), or CW_ENOMEM / CW_EINTERNAL when it failed to
 * initialise. Never calls back.
 */
CW_MUST_CHECK int cw_http_client_lib_init(void);
void cw_http_client_lib_fini(void);

/* Lowest TLS version a request accepts. Verification is always on. */
typedef enum cw_http_client_tls_e {
    CW_HTTP_CLIENT_TLS_1_2 = 0, /* the default */
    CW_HTTP_CLIENT_TLS_1_3 = 1,
} cw_http_client_tls_e;

/*
 * One POST. Every pointer is borrowed: strings are copied by
 * cw_http_client_post, except body, which must stay valid and unchanged
 * until on_done has run. Start from CW_HTTP_CLIENT_POST_OPTIONS_INIT.
 */
typedef struct cw_http_client_post_options {
    const char *url;              /* https://host[:port]/path (required) */
    const void *body;             /* request body; NULL when body_len is 0 */
    size_t body_len;              /* bytes of body */
    const char *content_type;     /* Content-Type of body, or NULL */
    const char *const *headers;   /* extra "Name: value" lines (no CR/LF) */
    size_t header_count;          /* entries in headers */
    uint32_t connect_timeout_ms;  /* TCP + TLS handshake; 1..INT32_MAX */
    uint32_t total_timeout_ms;    /* whole transfer; 1..INT32_MAX */
    size_t response_bytes_max;    /* larger response bodies fail with CW_E2BIG; not 0 */
    const char *ca_file;          /* PEM trust anchors; NULL = system store */
    const char *client_cert_file; /* PEM client certificate (mutual TLS) */
    const char *client_key_file;  /* PEM key of client_cert_file */
    const char *pinned_pubkey;    /* "sha256//<base64>[;sha256//...]", or NULL */
    cw_http_client_tls_e tls_min; /* lowest TLS version */
    int allow_plain_http;         /* 1: http:// is allowed too (loopback, insecure nodes) */
} cw_http_client_post_options_t;

#define CW_HTTP_CLIENT_CONNECT_TIMEOUT_MS_DEFAULT 10000u
#define CW_HTTP_CLIENT_TOTAL_TIMEOUT_MS_DEFAULT   60000u
#define CW_HTTP_CLIENT_RESPONSE_BYTES_DEFAULT     ((size_t)1024 * 1024)

/* Defaults; 0 is refused for any of them (curl would read it as "no limit"). */
#define CW_HTTP_CLIENT_POST_OPTIONS_INIT                                 \
    {                                                                    \
        .connect_timeout_ms = CW_HTTP_CLIENT_CONNECT_TIMEOUT_MS_DEFAULT, \
        .total_timeout_ms = CW_HTTP_CLIENT_TOTAL_TIMEOUT_MS_DEFAULT,     \
        .response_bytes_max = CW_HTTP_CLIENT_RESPONSE_BYTES_DEFAULT,     \
        .tls_min = CW_HTTP_CLIENT_TLS_1_2,                               \
    }

/* How long the phases of a transfer took, from its start, in microseconds. */
typedef struct cw_http_client_timing {
    uint64_t name_lookup_us; /* DNS done */
    uint64_t connect_us;     /* TCP connected */
    uint64_t tls_us;         /* TLS handshake done; 0 for http:// */
    uint64_t first_byte_us;  /* first response byte */
    uint64_t total_us;       /* transfer done */
} cw_http_client_timing_t;

/*
 * The outcome of one request, borrowed by on_done for the duration of the
 * call: copy what must outlive it. A response with any HTTP status is a
 * success at this level (status 0, http_status e.g. 500). status is one of
 * CW_ETIMEDOUT (connect or total timeout), CW_EIO (refused, reset, DNS,
 * truncated), CW_ECRYPTO (TLS handshake, certificate verification, pinned
 * key, TLS version), CW_E2BIG (response over response_bytes_max), CW_EPERM
 * (URL scheme not allowed), CW_EPROTO (malformed response), CW_EINVAL (bad
 * URL), CW_ECLOSED (cw_http_client_close), CW_ENOMEM or CW_ESYS (the socket
 * could not be watched).
 */
typedef struct cw_http_client_result {
    int status;                     /* 0 or a CW_E* code, as above */
    cw_error_t error;               /* code == status; msg is one line, "" on success */
    int http_status;                /* final HTTP status, 0 when no response was read */
    const char *body;               /* response body, NUL-terminated; "" when empty */
    size_t body_len;                /* bytes of body */
    const char *content_type;       /* response Content-Type, or NULL */
    long new_connections;           /* connections opened for it (0: a kept-alive one was reused) */
    cw_http_client_timing_t timing; /* phases of the transfer */
} cw_http_client_result_t;

/* Called exactly once per accepted request, on the loop thread. */
typedef void (*cw_http_client_done_cb)(const cw_http_client_result_t *res, void *arg);
/* Called once when a closed client has released everything (it is freed by then). */
typedef void (*cw_http_client_closed_cb)(void *arg);

/*
 * Creates a client on loop. On success returns 0 and *out is owned by the
 * caller, to be released with cw_http_client_close. Errors: CW_ENOMEM,
 * CW_EINTERNAL (libcurl refused its setup; err says why). err may be NULL.
 * Loop thread; never calls back.
 */
CW_MUST_CHECK int cw_http_client_new(cw_http_client_t **out, uv_loop_t *loop, cw_error_t *err);

/*
 * Caps the connections kept to one host (0, the default, is no cap):
 * requests beyond it wait for a free connection. Returns 0 or CW_EINVAL
 * (client closing). Loop thread; never calls back.
 */
CW_MUST_CHECK int cw_http_client_set_host_connections_max(cw_http_client_t *client,
                                                          uint32_t host_connections_max);

/*
 * How many idle connections the client keeps open for reuse, all hosts
 * together (libcurl's connection cache). Without it libcurl sizes the cache
 * at 4 times the transfers running at that moment, so a window of requests
 * that each end before the next begins (a delivery route) keeps closing
 * connections and paying for new TLS handshakes. Set it to at least the
 * requests the caller keeps in flight. Returns 0 or CW_EINVAL (client
 * closing, or 0 or above INT32_MAX). Loop thread; never calls back.
 */
CW_MUST_CHECK int cw_http_client_set_idle_connections_max(cw_http_client_t *client,
                                                          uint32_t idle_connections_max);

/*
 * Starts a POST of opts->body to opts->url. On success returns 0, and
 * on_done(res, arg) will run exactly once on the loop thread, never from
 * within this call. On failure returns CW_EINVAL (missing URL, header with
 * CR/LF or no colon, a zero limit), CW_ECLOSED (client closing), CW_ENOMEM
 * or CW_EINTERNAL (libcurl refused an option), and on_done never runs. opts is borrowed for the
 * call only, except opts->body (see above). TLS is always verified (peer and host name), with at
 * least opts->tls_min; redirects are never followed; environment proxies are ignored.
 */
CW_MUST_CHECK int cw_http_client_post(cw_http_client_t *client,
                                      const cw_http_client_post_options_t *opts,
                                      cw_http_client_done_cb on_done,
                                      void *arg);

/* Requests started whose on_done has not run yet. Loop thread. */
size_t cw_http_client_in_flight(const cw_http_client_t *client);

/*
 * Tears the client down asynchronously (STYLE.md rule 35): every request in
 * flight finishes with CW_ECLOSED (its on_done runs synchronously, inside
 * this call), the connection cache is dropped, then the timer and socket
 * handles are closed; when the last one has closed, the client is freed and
 * on_closed(arg) runs (on_closed may be NULL); client must not be used
 * after that. Until then a second call does nothing. Loop thread; may be
 * called from inside an on_done callback.
 */
void cw_http_client_close(cw_http_client_t *client, cw_http_client_closed_cb on_closed, void *arg);

#endif /* CW_NET_H */
