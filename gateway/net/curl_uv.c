/*
 * libcurl's multi_socket interface on libuv: curl tells us which sockets to
 * watch and when to wake it; libuv tells curl what happened. The shape is
 * curl's docs/examples/multi-uv.c, hardened as STYLE.md 3.6 asks: every
 * allocation and init is checked, a removed socket's poll handle is gone
 * before curl can reuse its fd, and curl is never called from inside one of
 * its own callbacks.
 */
#include "client_internal.h"
#include "net.h"

/* ==== Socket contexts ==== */

static void on_handle_closed(uv_handle_t *handle)
{
    cw_http_client_t *client = handle->data;

    if (handle->type == UV_POLL) {
        cw_free(cw_container_of((uv_poll_t *)handle, cw_curl_sock_t, poll));
    }
    client->handles_open--;
    if (client->closing && client->handles_open == 0) {
        cw_net__client_finish(client);
    }
}

static void sock_unlink(cw_curl_sock_t *sock)
{
    cw_http_client_t *client = sock->client;

    if (sock->prev != NULL) {
        sock->prev->next = sock->next;
    } else if (client->socks == sock) {
        client->socks = sock->next;
    }
    if (sock->next != NULL) {
        sock->next->prev = sock->prev;
    }
    sock->prev = NULL;
    sock->next = NULL;
}

/* Stops watching and closes the handle; the context is freed in its close callback. */
static void sock_close(cw_curl_sock_t *sock)
{
    if (uv_is_closing((uv_handle_t *)&sock->poll)) {
        return;
    }
    sock_unlink(sock);
    sock->fd = CURL_SOCKET_BAD;
    (void)uv_poll_stop(&sock->poll);
    uv_close((uv_handle_t *)&sock->poll, on_handle_closed);
}

static void on_timer(uv_timer_t *timer);

/* Drains finished transfers (rule 43); stops when the client starts closing. */
static void check_multi_info(cw_http_client_t *client)
{
    CURLMsg *msg;
    int pending = 0;

    while (!client->closing && client->multi != NULL
           && (msg = curl_multi_info_read(client->multi, &pending)) != NULL) {
        CURL *easy;
        CURLcode result;
        char *priv = NULL;

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }
        /* Copy out before the handle is removed: msg is invalid after that. */
        easy = msg->easy_handle;
        result = msg->data.result;
        msg = NULL;
        if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK
            || CW_NEVER(priv == NULL)) {
            CW_LOG_ERROR("net", "finished transfer without its request; dropping it");
            (void)curl_multi_remove_handle(client->multi, easy);
            curl_easy_cleanup(easy);
            continue;
        }
        cw_net__xfer_done((cw_http_xfer_t *)(void *)priv, result);
    }
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
    cw_curl_sock_t *sock = cw_container_of(poll, cw_curl_sock_t, poll);
    cw_http_client_t *client = sock->client;
    curl_socket_t fd = sock->fd;
    int flags = 0;
    int running = 0;

    if (client->closing || client->multi == NULL || fd == CURL_SOCKET_BAD) {
        return;
    }
    if (status < 0) {
        /* libuv stops the handle on POLLERR; curl finds the cause itself. */
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE) {
            flags |= CURL_CSELECT_IN;
        }
        if (events & UV_WRITABLE) {
            flags |= CURL_CSELECT_OUT;
        }
    }
    (void)curl_multi_socket_action(client->multi, fd, flags, &running);
    /*
     * sock is freed only by its close callback, on a later loop turn, so it
     * is still readable here even if curl removed it. libuv stops a handle
     * that saw POLLERR; if curl kept the socket and did not ask again (it
     * only reports changes), watch it again or the transfer would stall.
     */
    if (status < 0 && !uv_is_closing((uv_handle_t *)&sock->poll)
        && !uv_is_active((uv_handle_t *)&sock->poll) && sock->events != 0) {
        int rc = uv_poll_start(&sock->poll, sock->events, on_poll);

        if (rc < 0) {
            /* The transfer's own timeout ends it. */
            CW_LOG_WARN("net", "cannot poll socket %d again: %s", (int)fd, uv_strerror(rc));
        }
    }
    check_multi_info(client);
}

/* Creates, registers and starts the context of a socket curl just announced. */
static int sock_open(cw_http_client_t *client, curl_socket_t s, int uv_events)
{
    cw_curl_sock_t *sock;
    int rc;

    sock = cw_calloc(1, sizeof(*sock));
    if (sock == NULL) {
        CW_LOG_ERROR("net", "out of memory watching socket %d", (int)s);
        return CW_ENOMEM;
    }
    rc = uv_poll_init_socket(client->loop, &sock->poll, s);
    if (rc < 0) {
        CW_LOG_ERROR("net", "cannot watch socket %d: %s", (int)s, uv_strerror(rc));
        cw_free(sock);
        return CW_ESYS;
    }
    sock->poll.data = client;
    sock->fd = s;
    sock->client = client;
    sock->next = client->socks;
    if (client->socks != NULL) {
        client->socks->prev = sock;
    }
    client->socks = sock;
    client->handles_open++;
    if (curl_multi_assign(client->multi, s, sock) != CURLM_OK) {
        CW_LOG_ERROR("net", "cannot attach socket %d to curl", (int)s);
        sock_close(sock);
        return CW_EINTERNAL;
    }
    sock->events = uv_events;
    rc = uv_poll_start(&sock->poll, uv_events, on_poll);
    if (rc < 0) {
        CW_LOG_ERROR("net", "cannot poll socket %d: %s", (int)s, uv_strerror(rc));
        (void)curl_multi_assign(client->multi, s, NULL);
        sock_close(sock);
        return CW_ESYS;
    }
    return 0;
}

/*
 * A socket that cannot be watched fails only its own transfer: returning -1
 * would mark the whole multi handle dead and fail every transfer in flight.
 * curl may not be called from here, so the transfer is marked and the timer
 * callback removes it on the next loop turn (curl tolerates being woken
 * earlier than it asked).
 */
static void fail_later(cw_http_client_t *client, CURL *easy, int code)
{
    char *priv = NULL;
    cw_http_xfer_t *xfer;

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK || CW_NEVER(priv == NULL)) {
        return;
    }
    xfer = (cw_http_xfer_t *)(void *)priv;
    if (xfer->fail_rc == 0) {
        xfer->fail_rc = code;
    }
    client->failed_pending = 1;
    if (uv_timer_start(&client->timer, on_timer, 1, 0) < 0) {
        CW_LOG_ERROR("net", "cannot arm the curl timer; the transfer will time out");
    }
}

/* CURLMOPT_SOCKETFUNCTION (rules 39 and 40). */
static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    cw_http_client_t *client = userp;
    cw_curl_sock_t *sock = socketp;
    int uv_events = 0;
    int rc;

    switch (what) {
    case CURL_POLL_IN:
        uv_events = UV_READABLE;
        break;
    case CURL_POLL_OUT:
        uv_events = UV_WRITABLE;
        break;
    case CURL_POLL_INOUT:
        uv_events = UV_READABLE | UV_WRITABLE;
        break;
    case CURL_POLL_REMOVE:
        /* Rule 40: the handle must be gone before curl closes or reuses the
         * fd, since libuv allows one poll handle per fd. */
        if (sock != NULL) {
            sock_close(sock);
            if (client->multi != NULL) {
                (void)curl_multi_assign(client->multi, s, NULL);
            }
        }
        return 0;
    default:
        CW_LOG_ERROR("net", "unknown socket action %d from curl", what);
        fail_later(client, easy, CW_EINTERNAL);
        return 0;
    }
    if (client->closing || client->multi == NULL) {
        /* curl_multi_cleanup is tearing connections down; watch nothing new. */
        return 0;
    }
    if (sock == NULL) {
        rc = sock_open(client, s, uv_events);
        if (rc < 0) {
            fail_later(client, easy, rc);
        }
        return 0;
    }
    sock->events = uv_events;
    rc = uv_poll_start(&sock->poll, uv_events, on_poll);
    if (rc < 0) {
        CW_LOG_ERROR("net", "cannot poll socket %d: %s", (int)s, uv_strerror(rc));
        fail_later(client, easy, CW_ESYS);
    }
    return 0;
}

/* ==== Timer ==== */

static void on_timer(uv_timer_t *timer)
{
    cw_http_client_t *client = cw_container_of(timer, cw_http_client_t, timer);
    int running = 0;

    if (client->closing || client->multi == NULL) {
        return;
    }
    if (client->failed_pending) {
        cw_net__client_reap_failed(client);
        if (client->closing) {
            return;
        }
    }
    (void)curl_multi_socket_action(client->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(client);
}

/*
 * CURLMOPT_TIMERFUNCTION. curl must not be called from here (its docs warn
 * of recursion): we only (re)arm the one-shot uv timer, whose callback does
 * the work on a fresh stack.
 */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    cw_http_client_t *client = userp;
    int rc;

    (void)multi;
    if (client->closing || (timeout_ms < 0 && !client->failed_pending)) {
        (void)uv_timer_stop(&client->timer);
        return 0;
    }
    if (timeout_ms <= 0 || client->failed_pending) {
        /* "As soon as possible", but from the loop, never recursively; and a
         * transfer marked failed is reaped without waiting for curl's timeout. */
        timeout_ms = 1;
    }
    rc = uv_timer_start(&client->timer, on_timer, (uint64_t)timeout_ms, 0);
    if (rc < 0) {
        CW_LOG_ERROR("net", "cannot arm the curl timer: %s", uv_strerror(rc));
        return -1;
    }
    return 0;
}

/* ==== Setup and teardown ==== */

int cw_net__curl_uv_init(cw_http_client_t *client, cw_error_t *err)
{
    int rc;

    if (curl_multi_setopt(client->multi, CURLMOPT_SOCKETFUNCTION, on_curl_socket) != CURLM_OK
        || curl_multi_setopt(client->multi, CURLMOPT_SOCKETDATA, client) != CURLM_OK
        || curl_multi_setopt(client->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer) != CURLM_OK
        || curl_multi_setopt(client->multi, CURLMOPT_TIMERDATA, client) != CURLM_OK) {
        return cw_error_set(err, CW_EINTERNAL, "net", "curl refused the multi callbacks");
    }
    rc = uv_timer_init(client->loop, &client->timer);
    if (rc < 0) {
        return cw_error_set(err, CW_ESYS, "net", "uv_timer_init: %s", uv_strerror(rc));
    }
    client->timer.data = client;
    client->handles_open++;
    return 0;
}

void cw_net__curl_uv_close(cw_http_client_t *client)
{
    /* Sockets curl did not report removed (closed with the connection cache). */
    while (client->socks != NULL) {
        sock_close(client->socks);
    }
    if (!uv_is_closing((uv_handle_t *)&client->timer)) {
        (void)uv_timer_stop(&client->timer);
        uv_close((uv_handle_t *)&client->timer, on_handle_closed);
    }
}
