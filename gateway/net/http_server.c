/*
 * The HTTP/1.1 server: listener, connection lifecycle, reads, deadlines and
 * draining. Parsing is in http_parse.c, responses in http_response.c.
 */
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "net.h"

/* ==== Helpers ==== */

static const cw_conf_limits_t *conn_limits(const cw_http_conn_t *conn)
{
    return &conn->server->cfg->limits;
}

/* An answer may be as large as the largest request the node accepts, the
 * write buffer, or the largest answer the node renders itself (an inbound
 * document's per-item list: CW_LIMIT_ANSWER_BYTES_FLOOR), whichever is
 * larger, plus its head; beyond that it is a 500. */
static size_t answer_cap(const cw_conf_limits_t *lim)
{
    uint64_t cap = CW_LIMIT_ANSWER_BYTES_FLOOR;

    if (lim->body_bytes_max > cap) {
        cap = lim->body_bytes_max;
    }
    if (lim->write_buffer_bytes_max > cap) {
        cap = lim->write_buffer_bytes_max;
    }
    return (size_t)cap + 65536u;
}

size_t cw_net__cipher_room(size_t plain_len)
{
    /* TLS records add at most a few dozen bytes per 16 KiB. */
    return plain_len + plain_len / 64u + 131072u;
}

static void on_server_handle_closed(uv_handle_t *handle);

/* ==== Requests ==== */

int cw_net__request_new(cw_http_conn_t *conn, cw_http_request_t **out)
{
    cw_http_server_t *server = conn->server;
    cw_pool_t *pool;
    cw_http_request_t *req;

    *out = NULL;
    pool = cw_pool_new(4096);
    if (pool == NULL) {
        return CW_ENOMEM;
    }
    req = cw_pool_alloc(pool, sizeof(*req));
    if (req == NULL) {
        cw_pool_free(pool);
        return CW_ENOMEM;
    }
    req->pool = pool;
    req->method = "";
    req->target = "";
    req->path = "";
    req->query = "";
    req->body = "";
    req->route = "other";
    req->start_ns = cw_time_mono_ns();
    req->cfg = cw_config_ref(server->cfg);
    req->listen_kind = server->listen.kind;
    req->tls = conn->ssl != NULL;
    req->client_cert = conn->client_cert;
    cw_strlcpy(req->peer_party, conn->peer_party, sizeof(req->peer_party));
    req->conn = conn;
    req->server = server;
    cw_strlcpy(req->peer, conn->peer, sizeof(req->peer));
    (void)snprintf(req->id, sizeof(req->id), "%08x%08llx", (unsigned)server->id_salt,
                   (unsigned long long)++server->next_request_id);
    cw_buf_init(&req->out, answer_cap(conn_limits(conn)));
    server->metrics.requests_in_flight++;
    *out = req;
    return 0;
}

void cw_net__request_free(cw_http_request_t *req)
{
    cw_config_t *cfg = (cw_config_t *)req->cfg;

    cw_buf_fini(&req->out);
    cw_config_unref(cfg);
    cw_pool_free(req->pool);
}

void cw_net__request_dispatch(cw_http_conn_t *conn, cw_http_request_t *req)
{
    req->next = NULL;
    if (conn->queue_tail != NULL) {
        conn->queue_tail->next = req;
    } else {
        conn->queue = req;
    }
    conn->queue_tail = req;
    conn->queue_len++;
    conn->server->on_request(req, conn->server->arg);
}

/* ==== Connection lifecycle ==== */

static void on_conn_closed(uv_handle_t *handle)
{
    cw_http_conn_t *conn = handle->data;
    cw_http_server_t *server = conn->server;

    if (--conn->pending_closes > 0) {
        return;
    }
    cw_buf_fini(&conn->inbuf);
    cw_buf_fini(&conn->hdrs);
    cw_buf_fini(&conn->body);
    cw_buf_fini(&conn->cipher);
    cw_net__tls_conn_free(conn);
    cw_free(conn);
    cw_net__server_maybe_finish(server);
}

static void unlink_conn(cw_http_conn_t *conn)
{
    cw_http_server_t *server = conn->server;

    if (conn->prev != NULL) {
        conn->prev->next = conn->next;
    } else if (server->conns == conn) {
        server->conns = conn->next;
    }
    if (conn->next != NULL) {
        conn->next->prev = conn->prev;
    }
    conn->prev = NULL;
    conn->next = NULL;
}

void cw_net__conn_close(cw_http_conn_t *conn)
{
    cw_http_server_t *server = conn->server;
    cw_http_request_t *req;
    cw_http_request_t *next;

    if (conn->closing) {
        return;
    }
    conn->closing = 1;
    unlink_conn(conn);
    server->metrics.connections_open--;
    (void)uv_read_stop((uv_stream_t *)&conn->tcp);
    (void)uv_timer_stop(&conn->timer);

    if (conn->cur != NULL) {
        server->metrics.requests_in_flight--;
        cw_net__request_free(conn->cur);
        conn->cur = NULL;
    }
    for (req = conn->queue; req != NULL; req = next) {
        next = req->next;
        req->next = NULL;
        if (conn->writing && req == conn->queue) {
            /* The write callback (UV_ECANCELED) still reads req->out; it
             * frees the request. */
            req->conn = NULL;
            continue;
        }
        if (req->status == 0) {
            /* The handler still holds it and will respond: orphan it. */
            req->conn = NULL;
            continue;
        }
        if (server->on_done != NULL) {
            server->on_done(req, cw_time_mono_ns() - req->start_ns, server->arg);
        }
        server->metrics.requests_in_flight--;
        cw_net__request_free(req);
    }
    conn->queue = NULL;
    conn->queue_tail = NULL;
    conn->queue_len = 0;
    cw_net__tls_shutdown(conn);
    uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
    uv_close((uv_handle_t *)&conn->timer, on_conn_closed);
}

/* ==== Deadlines ==== */

/* The deadline a connection's timer waits for. */
typedef enum cw_deadline_e {
    CW_DEADLINE_NONE = 0,
    CW_DEADLINE_HANDSHAKE = 1, /* accept to end of the TLS handshake */
    CW_DEADLINE_HEADERS = 2,   /* first byte to end of headers */
    CW_DEADLINE_BODY = 3,      /* end of headers to end of body */
    CW_DEADLINE_WRITE = 4,     /* start to end of the response write in flight */
    CW_DEADLINE_IDLE = 5,      /* keep-alive wait for the next request */
} cw_deadline_e;

static uint64_t after_ms(uint64_t start_ns, uint64_t ms)
{
    return start_ns + ms * 1000000u;
}

/*
 * The earliest deadline that applies to conn now, in monotonic ns (0 with
 * CW_DEADLINE_NONE). Every deadline counts from a fixed start that bytes
 * arriving do not move, so a client cannot hold a connection by trickling
 * bytes, partial TLS records or chunk extensions; and a response stuck
 * behind a client that does not read never extends the deadline of the
 * request being received, and the other way round.
 */
static cw_deadline_e next_deadline(cw_http_conn_t *conn, uint64_t now_ns, uint64_t *out_ns)
{
    const cw_conf_limits_t *lim = conn_limits(conn);
    cw_deadline_e kind = CW_DEADLINE_NONE;
    uint64_t at = 0;

    if (conn->writing) {
        /* flush() stamps each write as it starts (http_response.c). */
        kind = CW_DEADLINE_WRITE;
        at = after_ms(conn->write_start_ns, lim->write_timeout_ms);
    }
    if (conn->ssl != NULL && !conn->tls_ready) {
        uint64_t t = after_ms(conn->accepted_ns, lim->handshake_timeout_ms);

        if (kind == CW_DEADLINE_NONE || t < at) {
            kind = CW_DEADLINE_HANDSHAKE;
            at = t;
        }
    } else if (conn->phase == CW_PHASE_HEADERS && conn->cur != NULL) {
        uint64_t t = after_ms(conn->cur->start_ns, lim->header_timeout_ms);

        if (kind == CW_DEADLINE_NONE || t < at) {
            kind = CW_DEADLINE_HEADERS;
            at = t;
        }
    } else if (conn->phase == CW_PHASE_BODY) {
        uint64_t t = after_ms(conn->body_start_ns, lim->body_timeout_ms);

        if (kind == CW_DEADLINE_NONE || t < at) {
            kind = CW_DEADLINE_BODY;
            at = t;
        }
    }
    /* Idle: nothing received, nothing to answer. The wait counts from when
     * the connection fell idle; only plaintext (a request) ends it. */
    if (kind == CW_DEADLINE_NONE && conn->phase == CW_PHASE_IDLE && conn->queue == NULL) {
        if (conn->idle_start_ns == 0) {
            conn->idle_start_ns = now_ns;
        }
        kind = CW_DEADLINE_IDLE;
        at = after_ms(conn->idle_start_ns, lim->idle_timeout_ms);
    } else {
        conn->idle_start_ns = 0;
    }
    *out_ns = at;
    return kind;
}

static void on_timer(uv_timer_t *timer)
{
    cw_http_conn_t *conn = cw_container_of(timer, cw_http_conn_t, timer);
    uint64_t now_ns = cw_time_mono_ns();
    uint64_t at_ns;
    cw_deadline_e kind;
    cw_http_request_t *req;

    if (conn->closing) {
        return;
    }
    kind = next_deadline(conn, now_ns, &at_ns);
    if (kind == CW_DEADLINE_NONE) {
        return;
    }
    if (at_ns > now_ns) {
        /* The loop's clock lags the monotonic one: not yet. */
        cw_net__conn_arm_timer(conn);
        return;
    }
    switch (kind) {
    case CW_DEADLINE_NONE:
        return;
    case CW_DEADLINE_WRITE:
        CW_LOG_INFO("net", "%s: write timeout, closing", conn->peer);
        cw_net__conn_close(conn);
        return;
    case CW_DEADLINE_HANDSHAKE:
        CW_LOG_INFO("net", "%s: TLS handshake timeout, closing", conn->peer);
        cw_net__conn_close(conn);
        return;
    case CW_DEADLINE_IDLE:
        cw_net__conn_close(conn);
        return;
    case CW_DEADLINE_HEADERS:
    case CW_DEADLINE_BODY:
        CW_LOG_INFO("net", "%s: %s timeout", conn->peer,
                    kind == CW_DEADLINE_HEADERS ? "header" : "body");
        req = conn->cur;
        (void)uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = 0;
        conn->cur = NULL;
        conn->phase = CW_PHASE_IDLE;
        /* Queued behind any answer in flight; if the client does not read
         * that one, the write deadline closes the connection. */
        cw_net__respond_error(conn, req, CW_PROBLEM_REQUEST_TIMEOUT,
                              kind == CW_DEADLINE_HEADERS
                                  ? "the request headers did not arrive in time"
                                  : "the request body did not arrive in time");
        return;
    }
}

void cw_net__conn_arm_timer(cw_http_conn_t *conn)
{
    uint64_t now_ns;
    uint64_t at_ns;
    uint64_t timeout_ms;

    if (conn->closing) {
        return;
    }
    now_ns = cw_time_mono_ns();
    if (next_deadline(conn, now_ns, &at_ns) == CW_DEADLINE_NONE) {
        (void)uv_timer_stop(&conn->timer);
        return;
    }
    /* Rounded up, so that the timer does not fire just before. */
    timeout_ms = at_ns > now_ns ? (at_ns - now_ns + 999999u) / 1000000u : 0;
    (void)uv_timer_start(&conn->timer, on_timer, timeout_ms > 0 ? timeout_ms : 1, 0);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    cw_http_conn_t *conn = handle->data;

    /* One read buffer per server: libuv calls alloc_cb immediately before
     * read_cb on the loop thread, and on_read copies what it keeps. */
    (void)suggested;
    buf->base = conn->server->read_buf;
    buf->len = sizeof(conn->server->read_buf);
}

/*
 * A plain HTTP request on a TLS port gets a plain answer saying so (as
 * nginx does), written at once if the socket takes it; then the
 * connection closes.
 */
static void refuse_plaintext(cw_http_conn_t *conn)
{
    static char answer[] = "HTTP/1.1 400 Bad Request\r\n"
                           "Content-Type: application/problem+json\r\n"
                           "Connection: close\r\n"
                           "Content-Length: 130\r\n\r\n"
                           "{\"type\":\"urn:clearway:problem:bad-request\",\"title\":\"Malformed "
                           "request\",\"status\":400,\"detail\":\"plain HTTP was sent to a TLS "
                           "port\"}\n";
    uv_buf_t buf = uv_buf_init(answer, sizeof(answer) - 1);

    CW_LOG_INFO("net", "%s: plain HTTP on a TLS port", conn->peer);
    (void)uv_try_write((uv_stream_t *)&conn->tcp, &buf, 1);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    cw_http_conn_t *conn = cw_container_of(stream, cw_http_conn_t, tcp);

    if (nread == 0 || conn->closing) {
        return;
    }
    if (nread < 0) {
        (void)uv_read_stop(stream);
        conn->reading = 0;
        conn->read_eof = 1;
        if (nread != UV_EOF) {
            cw_net__conn_close(conn);
            return;
        }
        /* A half-closed client still gets the responses it asked for. */
        cw_net__conn_update(conn);
        return;
    }
    conn->server->metrics.bytes_in += (uint64_t)nread;
    if (conn->ssl != NULL) {
        int was_ready = conn->tls_ready;
        int rc = cw_net__tls_on_read(conn, buf->base, (size_t)nread);

        if (rc < 0) {
            if (conn->tls_plaintext) {
                refuse_plaintext(conn);
            }
            cw_net__conn_close(conn);
            return;
        }
        if (!was_ready && conn->tls_ready) {
            cw_net__conn_arm_timer(conn);
        }
        if (conn->tls_closed) {
            /* close_notify: like a half-close after what was read. The
             * requests that arrived with it are parsed below and answered
             * before the connection closes (cw_net__conn_update). */
            (void)uv_read_stop(stream);
            conn->reading = 0;
            conn->read_eof = 1;
        }
    } else if (cw_buf_append(&conn->inbuf, buf->base, (size_t)nread) < 0) {
        cw_net__conn_close(conn);
        return;
    }
    if (cw_net__parse_input(conn) < 0) {
        cw_net__conn_close(conn);
        return;
    }
    cw_net__conn_update(conn);
}

/*
 * Whether to read more: not after the last request (close_after) unless one
 * is still half received, and not while the pipeline or the write queue is
 * full (back-pressure).
 */
static int want_more_input(const cw_http_conn_t *conn, const cw_conf_limits_t *lim)
{
    if (conn->read_eof) {
        return 0;
    }
    if (conn->cur != NULL) {
        return 1;
    }
    return !conn->close_after && conn->queue_len < lim->pipeline_max
           && conn->write_bytes_pending <= lim->write_buffer_bytes_max;
}

/*
 * Re-evaluates a connection after a change: parse what is buffered, start
 * or stop reading (pipeline depth and write back-pressure), close when done,
 * and re-arm the deadline.
 */
/*
 * After end of input (EOF or close_notify): a request cut short can never
 * complete and is dropped; the ones received whole are answered, then the
 * connection closes. Requests still buffered behind back-pressure wait
 * until the pipeline drains.
 */
static void settle_eof(cw_http_conn_t *conn)
{
    if (conn->phase == CW_PHASE_IDLE && conn->inbuf.len > 0 && !conn->close_after) {
        return;
    }
    if (conn->cur != NULL) {
        conn->server->metrics.requests_in_flight--;
        cw_net__request_free(conn->cur);
        conn->cur = NULL;
        cw_net__parse_reset(conn);
        cw_buf_reset(&conn->inbuf);
    }
    conn->close_after = 1;
}

/*
 * Re-evaluates a connection after a change: parse what is buffered, start
 * or stop reading (pipeline depth and write back-pressure), close when done,
 * and re-arm the deadline.
 */
void cw_net__conn_update(cw_http_conn_t *conn)
{
    const cw_conf_limits_t *lim;
    int want_read;

    if (conn->closing) {
        return;
    }
    lim = conn_limits(conn);
    if (conn->close_after && conn->queue == NULL && conn->cur == NULL) {
        cw_net__conn_close(conn);
        return;
    }
    want_read = want_more_input(conn, lim);
    if ((want_read || conn->read_eof) && conn->inbuf.len > 0 && conn->phase == CW_PHASE_IDLE) {
        /* Pipelined requests already read wait in inbuf. */
        if (cw_net__parse_input(conn) < 0) {
            cw_net__conn_close(conn);
            return;
        }
        if (conn->closing) {
            return;
        }
    }
    if (conn->read_eof) {
        settle_eof(conn);
    }
    want_read = want_more_input(conn, lim);
    if (want_read && !conn->reading) {
        if (uv_read_start((uv_stream_t *)&conn->tcp, on_alloc, on_read) == 0) {
            conn->reading = 1;
        }
    } else if (!want_read && conn->reading) {
        (void)uv_read_stop((uv_stream_t *)&conn->tcp);
        conn->reading = 0;
    }
    if (conn->close_after && conn->queue == NULL && conn->cur == NULL) {
        cw_net__conn_close(conn);
        return;
    }
    cw_net__conn_arm_timer(conn);
}

static void peer_name(uv_tcp_t *tcp, char *out, size_t size)
{
    struct sockaddr_storage ss;
    int len = (int)sizeof(ss);
    char host[48] = "?";
    int port = 0;

    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET) {
            const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

            (void)uv_ip4_name(sin, host, sizeof(host));
            port = ntohs(sin->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

            (void)uv_ip6_name(sin6, host, sizeof(host));
            port = ntohs(sin6->sin6_port);
        }
    }
    (void)snprintf(out, size, "%s:%d", host, port);
}

static void on_rejected_closed(uv_handle_t *handle)
{
    cw_free(handle);
}

static void on_reserve_closed(uv_handle_t *handle)
{
    cw_http_server_t *server = cw_container_of(handle, cw_http_server_t, reject_tcp);

    server->reject_busy = 0;
    cw_net__server_maybe_finish(server);
}

/*
 * Accepts and closes a connection we cannot serve. libuv stops watching the
 * listener until a pending connection is accepted, so this must accept even
 * when memory is short: the server's embedded handle is the reserve.
 */
static void reject_connection(cw_http_server_t *server)
{
    uv_tcp_t *tcp = cw_malloc(sizeof(*tcp));
    uv_close_cb on_closed = on_rejected_closed;

    server->metrics.connections_rejected++;
    if (tcp == NULL && !server->reject_busy) {
        tcp = &server->reject_tcp;
        server->reject_busy = 1;
        on_closed = on_reserve_closed;
    }
    if (tcp == NULL) {
        CW_LOG_ERROR("net", "listener %s: out of memory; accepting paused", server->listen.name);
        return;
    }
    if (uv_tcp_init(server->loop, tcp) != 0) {
        if (on_closed == on_rejected_closed) {
            cw_free(tcp);
        } else {
            server->reject_busy = 0;
        }
        return;
    }
    (void)uv_accept((uv_stream_t *)&server->listener, (uv_stream_t *)tcp);
    uv_close((uv_handle_t *)tcp, on_closed);
}

static void on_connection(uv_stream_t *listener, int status)
{
    cw_http_server_t *server = cw_container_of(listener, cw_http_server_t, listener);
    const cw_conf_limits_t *lim = &server->cfg->limits;
    cw_http_conn_t *conn;

    if (status < 0 || server->closing) {
        return;
    }
    if (server->metrics.connections_open >= lim->connections_max) {
        CW_LOG_WARN("net", "connections-max (%u) reached; refusing a connection",
                    (unsigned)lim->connections_max);
        reject_connection(server);
        return;
    }
    /* A spare connection allocated ahead of time means one failed
     * allocation never leaves a connection unaccepted. */
    conn = server->spare_conn;
    server->spare_conn = NULL;
    if (conn == NULL) {
        conn = cw_calloc(1, sizeof(*conn));
    }
    if (conn == NULL) {
        reject_connection(server);
        return;
    }
    conn->server = server;
    if (uv_tcp_init(server->loop, &conn->tcp) != 0) {
        cw_free(conn);
        return;
    }
    conn->tcp.data = conn;
    conn->pending_closes = 1;
    if (uv_timer_init(server->loop, &conn->timer) != 0) {
        uv_close((uv_handle_t *)&conn->tcp, on_conn_closed);
        return;
    }
    conn->timer.data = conn;
    conn->pending_closes = 2;
    cw_buf_init(&conn->inbuf, (size_t)CW_NET_READ_CHUNK * 4u);
    cw_buf_init(&conn->hdrs, lim->header_bytes_max);
    /* The largest answer encrypted: TLS adds about 22 bytes per 16 KiB
     * record. Sized for the write buffer alone, an inbound answer of 181 KB
     * behind a 4 KiB write buffer failed to encrypt and the client got an
     * empty reply. */
    cw_buf_init(&conn->cipher, cw_net__cipher_room(answer_cap(lim)));
    conn->accepted_ns = cw_time_mono_ns();
    conn->next = server->conns;
    if (server->conns != NULL) {
        server->conns->prev = conn;
    }
    server->conns = conn;
    server->metrics.connections_open++;
    server->metrics.connections_total++;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) != 0) {
        cw_net__conn_close(conn);
        return;
    }
    (void)uv_tcp_nodelay(&conn->tcp, 1);
    peer_name(&conn->tcp, conn->peer, sizeof(conn->peer));
    if (server->spare_conn == NULL) {
        server->spare_conn = cw_calloc(1, sizeof(*server->spare_conn));
    }
    if (server->tls != NULL && cw_net__tls_conn_start(conn, server->tls) < 0) {
        cw_net__conn_close(conn);
        return;
    }
    cw_net__parse_reset(conn);
    cw_net__conn_update(conn);
}

/* ==== Server ==== */

int cw_http_server_new(cw_http_server_t **out,
                       uv_loop_t *loop,
                       const cw_http_server_options_t *opts,
                       cw_error_t *err)
{
    cw_http_server_t *server = NULL;
    struct sockaddr_storage addr;
    struct sockaddr_storage bound;
    int len = (int)sizeof(bound);
    int rc = 0;
    int uvrc;

    *out = NULL;
    server = cw_calloc(1, sizeof(*server));
    CW_CHECK_ALLOC(server);
    server->loop = loop;
    server->listen = *opts->listen;
    server->cfg = cw_config_ref(opts->cfg);
    server->on_request = opts->on_request;
    server->on_done = opts->on_done;
    server->arg = opts->arg;
    server->tls = opts->tls != NULL ? cw_tls_ctx_ref(opts->tls) : NULL;
    if (RAND_bytes((unsigned char *)&server->id_salt, sizeof(server->id_salt)) != 1) {
        server->id_salt = cw_time_mono_ns();
    }

    if (uv_ip4_addr(server->listen.address, server->listen.port, (struct sockaddr_in *)&addr) != 0
        && uv_ip6_addr(server->listen.address, server->listen.port, (struct sockaddr_in6 *)&addr)
               != 0) {
        rc = cw_error_set(err, CW_EINVAL, "net", "listen %s: bad address %s", server->listen.name,
                          server->listen.address);
        goto out;
    }
    /* Both inits only fail on a broken loop; the timer goes first so that a
     * failure leaves nothing to close. */
    uvrc = uv_timer_init(loop, &server->drain_timer);
    if (uvrc != 0) {
        rc = cw_error_set(err, CW_ESYS, "net", "uv_timer_init: %s", uv_strerror(uvrc));
        goto out;
    }
    uvrc = uv_tcp_init(loop, &server->listener);
    if (uvrc != 0) {
        rc = cw_error_set(err, CW_ESYS, "net", "uv_tcp_init: %s", uv_strerror(uvrc));
        server->drain_timer.data = server;
        server->pending_closes = 1;
        server->closing = 2;
        uv_close((uv_handle_t *)&server->drain_timer, on_server_handle_closed);
        server = NULL;
        goto out;
    }
    server->pending_closes = 2;
    uvrc = uv_tcp_bind(&server->listener, (const struct sockaddr *)&addr, 0);
    if (uvrc == 0) {
        uvrc = uv_listen((uv_stream_t *)&server->listener, server->listen.backlog, on_connection);
    }
    if (uvrc != 0) {
        rc = cw_error_set(err, CW_ESYS, "net", "listen %s on %s port %u: %s", server->listen.name,
                          server->listen.address, (unsigned)server->listen.port, uv_strerror(uvrc));
        goto out;
    }
    if (uv_tcp_getsockname(&server->listener, (struct sockaddr *)&bound, &len) == 0) {
        server->port = bound.ss_family == AF_INET6
                           ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
                           : ntohs(((struct sockaddr_in *)&bound)->sin_port);
    }
    *out = server;
    server = NULL;
out:
    if (server != NULL) {
        if (server->pending_closes > 0) {
            /* Handles were initialised: they must be closed through the
             * loop before the memory goes; closing == 2 frees it then. */
            cw_http_server_close(server, 0, NULL, NULL);
            server->closing = 2;
            cw_net__server_maybe_finish(server);
        } else {
            cw_tls_ctx_unref(server->tls);
            cw_config_unref(server->cfg);
            cw_free(server);
        }
    }
    return rc;
}

uint16_t cw_http_server_port(const cw_http_server_t *server)
{
    return server->port;
}

void cw_http_server_set_config(cw_http_server_t *server, cw_config_t *cfg, cw_tls_ctx_t *tls)
{
    cw_config_t *old = server->cfg;

    server->cfg = cw_config_ref(cfg);
    cw_config_unref(old);
    if (tls != NULL) {
        cw_tls_ctx_t *old_tls = server->tls;

        server->tls = cw_tls_ctx_ref(tls);
        cw_tls_ctx_unref(old_tls);
    }
}

const cw_http_metrics_t *cw_http_server_metrics(const cw_http_server_t *server)
{
    return &server->metrics;
}

static void on_server_handle_closed(uv_handle_t *handle)
{
    cw_http_server_t *server = handle->data;

    server->pending_closes--;
    cw_net__server_maybe_finish(server);
}

void cw_net__server_maybe_finish(cw_http_server_t *server)
{
    /* Requests orphaned by a closed connection still point at the server
     * until their handler responds, so they are waited for too. */
    if (!server->closing || server->conns != NULL || server->metrics.requests_in_flight > 0
        || server->reject_busy) {
        return;
    }
    if (server->closing == 2 && server->pending_closes > 0
        && uv_is_closing((uv_handle_t *)&server->drain_timer)) {
        return;
    }
    if (!uv_is_closing((uv_handle_t *)&server->drain_timer)) {
        server->drain_timer.data = server;
        uv_close((uv_handle_t *)&server->drain_timer, on_server_handle_closed);
        return;
    }
    if (server->pending_closes > 0) {
        return;
    }
    if (server->closing == 2) {
        /* A failed cw_http_server_new: nobody else holds the server. */
        cw_free(server->spare_conn);
        cw_tls_ctx_unref(server->tls);
        cw_config_unref(server->cfg);
        cw_free(server);
        return;
    }
    if (server->on_closed != NULL) {
        cw_http_closed_cb cb = server->on_closed;

        server->on_closed = NULL;
        cb(server, server->closed_arg);
    }
}

static void on_drain_timeout(uv_timer_t *timer)
{
    cw_http_server_t *server = cw_container_of(timer, cw_http_server_t, drain_timer);

    CW_LOG_WARN("net", "listener %s: drain timeout; closing %llu connection(s)",
                server->listen.name, (unsigned long long)server->metrics.connections_open);
    while (server->conns != NULL) {
        cw_net__conn_close(server->conns);
    }
}

void cw_http_server_close(cw_http_server_t *server,
                          uint32_t drain_timeout_ms,
                          cw_http_closed_cb on_closed,
                          void *arg)
{
    cw_http_conn_t *conn;
    cw_http_conn_t *next;

    if (server->closing) {
        return;
    }
    server->closing = 1;
    server->on_closed = on_closed;
    server->closed_arg = arg;
    server->listener.data = server;
    uv_close((uv_handle_t *)&server->listener, on_server_handle_closed);
    for (conn = server->conns; conn != NULL; conn = next) {
        next = conn->next;
        if (conn->queue == NULL && conn->phase == CW_PHASE_IDLE) {
            cw_net__conn_close(conn);
        } else {
            conn->close_after = 1;
            cw_net__conn_update(conn);
        }
    }
    if (server->conns != NULL && drain_timeout_ms > 0) {
        (void)uv_timer_start(&server->drain_timer, on_drain_timeout, drain_timeout_ms, 0);
    } else {
        while (server->conns != NULL) {
            cw_net__conn_close(server->conns);
        }
    }
    cw_net__server_maybe_finish(server);
}

void cw_http_server_free(cw_http_server_t *server)
{
    if (server == NULL) {
        return;
    }
    cw_free(server->spare_conn);
    cw_tls_ctx_unref(server->tls);
    cw_config_unref(server->cfg);
    cw_free(server);
}
