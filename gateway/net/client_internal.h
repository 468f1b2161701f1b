/*
 * net internals of the HTTP client, shared by http_client.c (requests and
 * the client's lifecycle) and curl_uv.c (libcurl's multi_socket callbacks
 * on libuv). Not part of the module's interface: libcurl types stop here.
 */
#ifndef CW_NET_CLIENT_INTERNAL_H
#define CW_NET_CLIENT_INTERNAL_H

#include <curl/curl.h>

#include "net.h"

typedef struct cw_http_xfer cw_http_xfer_t;
typedef struct cw_curl_sock cw_curl_sock_t;

/* A socket libcurl asked us to watch (STYLE.md rule 39). */
struct cw_curl_sock {
    uv_poll_t poll;           /* embedded: freed in its close callback */
    curl_socket_t fd;         /* CURL_SOCKET_BAD once curl has removed it */
    int events;               /* UV_READABLE | UV_WRITABLE curl asked for last */
    cw_http_client_t *client; /* owner */
    cw_curl_sock_t *prev;     /* client's list of socket contexts */
    cw_curl_sock_t *next;
};

struct cw_http_client {
    uv_loop_t *loop;
    CURLM *multi;          /* NULL once cleaned up */
    uv_timer_t timer;      /* the one curl timer of this loop (rule 38) */
    cw_http_xfer_t *xfers; /* requests in flight, doubly linked */
    size_t xfer_count;     /* entries in xfers */
    cw_curl_sock_t *socks; /* watched sockets not yet closed */
    int handles_open;      /* uv handles (timer + polls) not yet closed */
    int closing;           /* cw_http_client_close was called */
    int failed_pending;    /* some xfer has fail_rc set, to reap from the timer */
    cw_http_client_closed_cb on_closed;
    void *closed_arg;
};

/* One request in flight; owned by the client until its on_done has run. */
struct cw_http_xfer {
    cw_http_client_t *client;
    CURL *easy;                 /* NULL once cleaned up */
    struct curl_slist *headers; /* request headers, freed with the transfer */
    cw_buf_t response;          /* bounded by response_bytes_max (rule 29) */
    int write_rc;               /* CW_E2BIG or CW_ENOMEM from the write callback */
    int fail_rc;                /* set when its socket could not be watched */
    cw_http_client_done_cb on_done;
    void *arg;
    cw_http_xfer_t *prev; /* client's in-flight list */
    cw_http_xfer_t *next;
    char errbuf[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
};

/* ==== curl_uv.c ==== */

/*
 * Installs the socket and timer callbacks on client->multi and initialises
 * client->timer. Returns 0 or a CW_E* code (nothing to undo then).
 */
CW_MUST_CHECK int cw_net__curl_uv_init(cw_http_client_t *client, cw_error_t *err);
/* Closes the timer and every socket handle left; the last close frees the client. */
void cw_net__curl_uv_close(cw_http_client_t *client);

/* ==== http_client.c ==== */

/* Maps a libcurl result to CW_E* (STYLE.md rule 15). CURLE_OK is 0. */
int cw_err_from_curl(CURLcode code);
/*
 * Finishes a transfer curl reported done: copies the outcome out, removes
 * and cleans up the easy handle, calls on_done and frees the transfer.
 */
void cw_net__xfer_done(cw_http_xfer_t *xfer, CURLcode result);
/*
 * Fails every transfer marked with fail_rc (its socket could not be
 * watched): removes it from curl and calls its on_done. Called from the
 * timer callback, never from inside a curl callback.
 */
void cw_net__client_reap_failed(cw_http_client_t *client);
/* Runs the closed callback and frees the client; called by the last close. */
void cw_net__client_finish(cw_http_client_t *client);

#endif /* CW_NET_CLIENT_INTERNAL_H */
