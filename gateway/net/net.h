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
#define CW_PROBLEM_MAP(XX)                                                              \
    XX(BAD_REQUEST, "bad-request", 400, "Malformed request")                            \
    XX(REQUEST_SMUGGLING, "ambiguous-framing", 400, "Ambiguous message framing")        \
    XX(NOT_FOUND, "not-found", 404, "No such resource")                                 \
    XX(METHOD_NOT_ALLOWED, "method-not-allowed", 405, "Method not allowed")             \
    XX(NOT_ACCEPTABLE, "not-acceptable", 406, "Not acceptable")                         \
    XX(REQUEST_TIMEOUT, "request-timeout", 408, "Request timeout")                      \
    XX(LENGTH_REQUIRED, "length-required", 411, "Length required")                      \
    XX(BODY_TOO_LARGE, "body-too-large", 413, "Content too large")                      \
    XX(URI_TOO_LONG, "uri-too-long", 414, "URI too long")                               \
    XX(UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", 415, "Unsupported media type") \
    XX(EXPECTATION_FAILED, "expectation-failed", 417, "Expectation failed")             \
    XX(HEADERS_TOO_LARGE, "headers-too-large", 431, "Request header fields too large")  \
    XX(INTERNAL, "internal-error", 500, "Internal error")                               \
    XX(NOT_IMPLEMENTED, "not-implemented", 501, "Not implemented")                      \
    XX(UNAVAILABLE, "unavailable", 503, "Service unavailable")                          \
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

/* Same, for a kind slug and status not in cw_problem_e (e.g. from sec/). */
int cw_http_respond_problem_slug(
    cw_http_request_t *req, int status, const char *slug, const char *title, const char *detail);

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

/* Replaces the config snapshot used for new requests (takes a reference). */
void cw_http_server_set_config(cw_http_server_t *server, cw_config_t *cfg);

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

#endif /* CW_NET_H */
