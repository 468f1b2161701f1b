/*
 * Responses: rendering, in-order writing of pipelined responses, and the
 * bookkeeping when a response has been written.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

const char *cw_http_request_header(const cw_http_request_t *req, const char *name)
{
    size_t i;

    for (i = 0; i < req->header_count; i++) {
        if (cw_strncaseeq(req->headers[i].name, strlen(req->headers[i].name), name)) {
            return req->headers[i].value;
        }
    }
    return NULL;
}

/* ==== Writing ==== */

static void request_done(cw_http_request_t *req)
{
    cw_http_server_t *server = req->server;

    if (server->on_done != NULL) {
        server->on_done(req, cw_time_mono_ns() - req->start_ns, server->arg);
    }
    server->metrics.requests_in_flight--;
    cw_net__request_free(req);
    cw_net__server_maybe_finish(server);
}

static void on_write(uv_write_t *wr, int status)
{
    cw_http_conn_t *conn = cw_container_of(wr, cw_http_conn_t, write_req);
    cw_http_request_t *req = conn->queue;

    conn->writing = 0;
    if (req == NULL || req->conn == NULL) {
        /* The connection was closed while this write was in flight; the
         * request was left for us to free. */
        cw_http_request_t *orphan = wr->data;

        if (orphan != NULL) {
            request_done(orphan);
        }
        return;
    }
    conn->write_bytes_pending -= req->out.len;
    conn->server->metrics.bytes_out += req->out.len;
    conn->queue = req->next;
    if (conn->queue == NULL) {
        conn->queue_tail = NULL;
    }
    conn->queue_len--;
    if (!req->keep_alive) {
        conn->close_after = 1;
    }
    request_done(req);
    if (status < 0) {
        cw_net__conn_close(conn);
        return;
    }
    cw_net__flush(conn);
    cw_net__conn_update(conn);
}

void cw_net__flush(cw_http_conn_t *conn)
{
    cw_http_request_t *req = conn->queue;
    uv_buf_t buf;

    if (conn->closing || conn->writing || req == NULL || req->status == 0) {
        return;
    }
    buf = uv_buf_init(req->out.data, (unsigned)req->out.len);
    if (conn->ssl != NULL) {
        cw_buf_reset(&conn->cipher);
        /* Room for this answer's records: the answer was bounded by the
         * limits when its request began, which a reload may have raised
         * since this connection was accepted. */
        if (conn->cipher.max_len < cw_net__cipher_room(req->out.len)) {
            conn->cipher.max_len = cw_net__cipher_room(req->out.len);
        }
        if (cw_net__tls_encrypt(conn, req->out.data, req->out.len, &conn->cipher) < 0) {
            cw_net__conn_close(conn);
            return;
        }
        buf = uv_buf_init(conn->cipher.data, (unsigned)conn->cipher.len);
    }
    conn->write_req.data = req;
    if (uv_write(&conn->write_req, (uv_stream_t *)&conn->tcp, &buf, 1, on_write) != 0) {
        cw_net__conn_close(conn);
        return;
    }
    conn->writing = 1;
    conn->write_start_ns = cw_time_mono_ns(); /* the write deadline counts from here */
    conn->write_bytes_pending += req->out.len;
    cw_net__conn_arm_timer(conn);
}

typedef struct raw_write {
    uv_write_t req;
    size_t len;
    char data[]; /* len bytes */
} raw_write_t;

static void on_raw_written(uv_write_t *wr, int status)
{
    raw_write_t *w = cw_container_of(wr, raw_write_t, req);

    (void)status;
    cw_free(w);
}

int cw_net__raw_write(cw_http_conn_t *conn, const char *data, size_t len)
{
    raw_write_t *w;
    uv_buf_t buf;

    if (conn->closing) {
        return CW_ECLOSED;
    }
    w = cw_malloc(sizeof(*w) + len);
    if (w == NULL) {
        return CW_ENOMEM;
    }
    w->len = len;
    memcpy(w->data, data, len);
    buf = uv_buf_init(w->data, (unsigned)len);
    if (uv_write(&w->req, (uv_stream_t *)&conn->tcp, &buf, 1, on_raw_written) != 0) {
        cw_free(w);
        return CW_EIO;
    }
    return 0;
}

void cw_net__write_continue(cw_http_conn_t *conn)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    cw_buf_t cipher;
    int rc;

    /* An interim response may only go out when every earlier response on
     * the connection has: with responses still queued, the client sends
     * its body after its own wait instead (RFC 9110 §10.1.1). */
    if (conn->queue != NULL || conn->writing) {
        return;
    }
    if (conn->ssl == NULL) {
        rc = cw_net__raw_write(conn, line, sizeof(line) - 1);
    } else {
        cw_buf_init(&cipher, 4096);
        rc = cw_net__tls_encrypt(conn, line, sizeof(line) - 1, &cipher);
        if (rc == 0) {
            rc = cw_net__raw_write(conn, cipher.data, cipher.len);
        }
        cw_buf_fini(&cipher);
    }
    if (rc < 0) {
        cw_net__conn_close(conn);
    }
}

/* ==== Rendering ==== */

static int render(cw_http_request_t *req,
                  int status,
                  const char *content_type,
                  const char *extra_headers,
                  const void *body,
                  size_t body_len)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    int rc = 0;

    if (gmtime_r(&now, &tm) == NULL
        || strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0) {
        date[0] = '\0';
    }
    cw_buf_reset(&req->out);
    CW_TRY(cw_buf_appendf(&req->out,
                          "HTTP/1.%d %d %s\r\n"
                          "Server: clearway\r\n"
                          "Date: %s\r\n"
                          "X-Request-Id: %s\r\n"
                          "Content-Length: %zu\r\n",
                          req->http_minor == 0 ? 0 : 1, status, reason_phrase(status), date,
                          req->id, body_len));
    if (content_type != NULL) {
        CW_TRY(cw_buf_appendf(&req->out, "Content-Type: %s\r\n", content_type));
    }
    if (!req->keep_alive) {
        CW_TRY(cw_buf_appends(&req->out, "Connection: close\r\n"));
    } else if (req->http_minor == 0) {
        CW_TRY(cw_buf_appends(&req->out, "Connection: keep-alive\r\n"));
    }
    if (extra_headers != NULL) {
        CW_TRY(cw_buf_appends(&req->out, extra_headers));
    }
    CW_TRY(cw_buf_appends(&req->out, "\r\n"));
    if (!req->is_head && body_len > 0) {
        CW_TRY(cw_buf_append(&req->out, body, body_len));
    }
    req->body_bytes_out = body_len;
out:
    return rc;
}

int cw_http_respond(cw_http_request_t *req,
                    int status,
                    const char *content_type,
                    const char *extra_headers,
                    const void *body,
                    size_t body_len)
{
    cw_http_conn_t *conn = req->conn;
    int rc;

    if (CW_NEVER(req->status != 0)) {
        return CW_EINVAL;
    }
    if (conn == NULL) {
        /* The client went away while the handler worked. */
        req->status = status;
        request_done(req);
        return 0;
    }
    /* "Connection: close" goes on the last response only (RFC 9112 §9.6):
     * an earlier one answered late, with pipelined requests queued or
     * being received behind it, is followed by their responses. */
    if ((conn->close_after || conn->server->closing) && req->next == NULL && conn->cur == NULL) {
        req->keep_alive = 0;
    }
    rc = render(req, status, content_type, extra_headers, body, body_len);
    if (rc < 0) {
        CW_LOG_ERROR("net", "request %s: cannot render a %d response: %s", req->id, status,
                     cw_strerror(rc));
        req->keep_alive = 0;
        req->status = 500;
        cw_buf_reset(&req->out);
        if (cw_buf_appends(&req->out, "HTTP/1.1 500 Internal Server Error\r\n"
                                      "Content-Length: 0\r\nConnection: close\r\n\r\n")
            < 0) {
            cw_net__conn_close(conn);
            return rc;
        }
    } else {
        req->status = status;
    }
    cw_net__flush(conn);
    cw_net__conn_update(conn);
    return rc;
}

static int respond_problem(cw_http_request_t *req,
                           int status,
                           const char *slug,
                           const char *title,
                           const char *detail,
                           const char *extra_headers)
{
    cw_problem_format_e fmt = cw_problem_format_from_accept(cw_http_request_header(req, "accept"));
    cw_buf_t body;
    int rc;

    cw_buf_init(&body, 64 * 1024);
    rc = cw_problem_render(&body, fmt, slug, title, status, detail,
                           req->path[0] != '\0' ? req->path : NULL);
    if (rc < 0) {
        cw_buf_fini(&body);
        return cw_http_respond(req, status, NULL, extra_headers, NULL, 0);
    }
    rc = cw_http_respond(req, status, cw_problem_media_type(fmt), extra_headers, body.data,
                         body.len);
    cw_buf_fini(&body);
    return rc;
}

int cw_http_respond_problem_slug(
    cw_http_request_t *req, int status, const char *slug, const char *title, const char *detail)
{
    return respond_problem(req, status, slug, title, detail, NULL);
}

int cw_http_respond_problem_ex(cw_http_request_t *req,
                               cw_problem_e kind,
                               const char *detail,
                               const char *extra_headers)
{
    return respond_problem(req, cw_problem_status(kind), cw_problem_slug(kind),
                           cw_problem_title(kind), detail, extra_headers);
}

int cw_http_respond_problem(cw_http_request_t *req, cw_problem_e kind, const char *detail)
{
    return cw_http_respond_problem_slug(req, cw_problem_status(kind), cw_problem_slug(kind),
                                        cw_problem_title(kind), detail);
}

void cw_net__respond_error(cw_http_conn_t *conn,
                           cw_http_request_t *req,
                           cw_problem_e kind,
                           const char *detail)
{
    int rc;

    if (req == NULL) {
        rc = cw_net__request_new(conn, &req);
        if (rc < 0) {
            cw_net__conn_close(conn);
            return;
        }
    }
    CW_LOG_INFO("net", "%s: request refused: %d %s (%s)", conn->peer, cw_problem_status(kind),
                cw_problem_slug(kind), detail != NULL ? detail : "");
    /* After a framing or protocol error the stream position is unknown:
     * answer and close (RFC 9112 §11.2). */
    req->keep_alive = 0;
    conn->close_after = 1;
    req->route = "invalid";
    req->next = NULL;
    if (conn->queue_tail != NULL) {
        conn->queue_tail->next = req;
    } else {
        conn->queue = req;
    }
    conn->queue_tail = req;
    conn->queue_len++;
    (void)cw_http_respond_problem(req, kind, detail);
}
