/*
 * net internals shared by http_server.c, http_parse.c and http_response.c.
 * Not part of the module's interface.
 */
#ifndef CW_NET_INTERNAL_H
#define CW_NET_INTERNAL_H

#include <http_parser.h>
#include <openssl/ssl.h>

#include "net.h"

/* Bytes read from a socket in one go. */
#define CW_NET_READ_CHUNK 65536
/* The longest chunk-size line of a chunked body (size and extensions,
 * before the CRLF). No extension is defined for HTTP/1.1 and this node uses
 * none; the cap stops a client from holding a request open with an endless
 * extension (nginx and h2o refuse far shorter lines). */
#define CW_NET_CHUNK_LINE_BYTES_MAX 4096

/* Where a connection is in its current request. */
typedef enum cw_conn_phase_e {
    CW_PHASE_IDLE = 0,    /* between requests (keep-alive) */
    CW_PHASE_HEADERS = 1, /* first byte seen, headers not complete */
    CW_PHASE_BODY = 2,    /* headers complete, body not complete */
} cw_conn_phase_e;

/* The pre-scan of header bytes for shapes the parser would accept. */
typedef enum cw_scan_e {
    CW_SCAN_LINE_START = 0, /* at the start of the request line */
    CW_SCAN_IN_LINE = 1,
    CW_SCAN_AFTER_CR = 2,
    CW_SCAN_HDR_LINE_START = 3, /* just after a CRLF inside the header block */
    CW_SCAN_DONE = 4,           /* the blank line was seen; body follows */
} cw_scan_e;

/* The scan of a chunked body's framing lines (RFC 9112 §7.1). */
typedef enum cw_chunk_scan_e {
    CW_CHUNK_SIZE_START = 0, /* the first hex digit of a chunk size */
    CW_CHUNK_SIZE = 1,       /* more digits, an extension, or the CR */
    CW_CHUNK_EXT = 2,        /* a chunk extension, up to the CR */
    CW_CHUNK_SIZE_LF = 3,    /* the LF of a chunk-size line */
    CW_CHUNK_DATA = 4,       /* chunk_left bytes of data */
    CW_CHUNK_DATA_CR = 5,    /* the CRLF after the data */
    CW_CHUNK_DATA_LF = 6,
    CW_CHUNK_TRAILER_START = 7, /* a trailer line or the final empty line */
    CW_CHUNK_TRAILER = 8,
    CW_CHUNK_TRAILER_LF = 9,
    CW_CHUNK_END_LF = 10, /* the LF of the final empty line */
    CW_CHUNK_DONE = 11,   /* the message has ended */
} cw_chunk_scan_e;

struct cw_http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t drain_timer;
    cw_conf_listen_t listen; /* copy of the listener's configuration */
    cw_config_t *cfg;        /* snapshot for new requests (referenced) */
    cw_http_handler_cb on_request;
    cw_http_done_cb on_done;
    void *arg;
    cw_http_metrics_t metrics;
    cw_http_conn_t *conns; /* every open connection, doubly linked */
    uint64_t next_request_id;
    uint64_t id_salt;   /* random per server: request ids differ across restarts */
    uint16_t port;      /* bound port */
    int closing;        /* cw_http_server_close was called */
    int pending_closes; /* listener and drain timer not yet closed */
    cw_http_closed_cb on_closed;
    void *closed_arg;
    cw_tls_ctx_t *tls;          /* TLS context for new connections (referenced); NULL: plain */
    cw_http_conn_t *spare_conn; /* allocated ahead for the next connection, or NULL */
    uv_tcp_t reject_tcp;        /* reserve handle to refuse a connection without memory */
    int reject_busy;            /* reject_tcp is in use until its close callback */
    char read_buf[CW_NET_READ_CHUNK]; /* shared by every connection's reads */
};

struct cw_http_conn {
    uv_tcp_t tcp;
    uv_timer_t timer; /* header, body, idle or write deadline */
    cw_http_server_t *server;
    cw_http_conn_t *prev;
    cw_http_conn_t *next;
    http_parser parser;
    cw_conn_phase_e phase;
    cw_scan_e scan;
    int scan_blank;     /* the line the scan is in is empty so far */
    int scan_seen_line; /* the request line has been seen */
    char scan_tail[10]; /* the last bytes scanned, to check the request line */
    int chunked;        /* the current request's body is chunked */
    cw_chunk_scan_e chunk_scan;
    uint64_t chunk_left;     /* data bytes of the current chunk not yet scanned */
    size_t chunk_line_bytes; /* bytes of the current chunk-size line so far */
    uv_write_t write_req;    /* the one response write in flight */
    uint64_t accepted_ns;    /* when the connection was accepted (handshake deadline) */
    uint64_t body_start_ns;  /* when the current request's headers completed */
    uint64_t write_start_ns; /* when the write in flight started (flush) */
    uint64_t idle_start_ns;  /* when the connection last fell idle; 0: it is busy */

    /* TLS (NULL ssl on a plain listener). */
    SSL *ssl;
    BIO *tls_in;          /* socket bytes for OpenSSL (owned by ssl) */
    BIO *tls_out;         /* OpenSSL's bytes for the socket (owned by ssl) */
    int tls_ready;        /* the handshake finished */
    int tls_saw_bytes;    /* some bytes were processed (plaintext detection) */
    int tls_plaintext;    /* the client spoke plain HTTP to the TLS port */
    int tls_closed;       /* the client sent close_notify */
    int client_cert;      /* a verified client certificate was presented */
    char peer_party[128]; /* the partner registered for that certificate, or "" */
    cw_buf_t cipher;      /* the encrypted response being written */
    char peer[64];

    cw_buf_t inbuf;           /* read but not yet parsed */
    cw_http_request_t *cur;   /* request being parsed, owned here */
    cw_http_request_t *queue; /* parsed requests in arrival order */
    cw_http_request_t *queue_tail;
    size_t queue_len;           /* requests parsed, response not yet written */
    size_t write_bytes_pending; /* bytes handed to uv_write, not yet done */
    int writing;                /* a uv_write of the queue head is in flight */

    /* Parsing state of the current request. */
    cw_buf_t hdrs; /* ":target\0<target>\0name\0value\0..." */
    cw_buf_t body; /* body of the current request */
    size_t hdr_count;
    int hdr_in_value; /* last callback was a header value */
    size_t url_bytes;
    int message_done; /* on_message_complete ran for cur */
    int error_status; /* set by a callback that rejects the request */
    cw_problem_e error_kind;
    const char *error_detail;
    int expect_continue; /* a 100 Continue is owed before the body */

    int reading;     /* uv_read_start is active */
    int read_eof;    /* the client half-closed */
    int close_after; /* close when the queue has been written */
    int closing;
    int pending_closes;
};

/* ==== http_parse.c ==== */

/* Resets the parser for the next request on conn. */
void cw_net__parse_reset(cw_http_conn_t *conn);
/*
 * Parses what is buffered in conn->inbuf. Complete requests are queued and
 * dispatched; protocol errors answer with a problem and mark the connection
 * to close. Returns 0, or a negative code when the connection must close at
 * once.
 */
int cw_net__parse_input(cw_http_conn_t *conn);

/* ==== http_server.c ==== */

void cw_net__conn_close(cw_http_conn_t *conn);
/* Finishes a closing server once nothing refers to it any more. */
void cw_net__server_maybe_finish(cw_http_server_t *server);
void cw_net__conn_update(cw_http_conn_t *conn);
void cw_net__conn_arm_timer(cw_http_conn_t *conn);
/* Creates the request object for the message being parsed on conn. */
int cw_net__request_new(cw_http_conn_t *conn, cw_http_request_t **out);
void cw_net__request_free(cw_http_request_t *req);
/* Queues req (parsed) on conn and hands it to the handler. */
void cw_net__request_dispatch(cw_http_conn_t *conn, cw_http_request_t *req);

/* ==== tls.c ==== */

int cw_net__tls_conn_start(cw_http_conn_t *conn, cw_tls_ctx_t *ctx);
void cw_net__tls_conn_free(cw_http_conn_t *conn);
int cw_net__tls_drain(cw_http_conn_t *conn, cw_buf_t *b);
/* Feeds socket bytes to OpenSSL: handshake, then plaintext into inbuf. */
int cw_net__tls_on_read(cw_http_conn_t *conn, const char *data, size_t len);
/* Encrypts data and appends the TLS records to cipher. */
int cw_net__tls_encrypt(cw_http_conn_t *conn, const char *data, size_t len, cw_buf_t *cipher);
/* The TLS records' room for an answer of plain_len bytes (conn->cipher's
 * maximum). */
size_t cw_net__cipher_room(size_t plain_len);
/* Sends close_notify if the socket takes it at once. */
void cw_net__tls_shutdown(cw_http_conn_t *conn);

/* ==== http_response.c ==== */

/* Writes a copy of data to the socket as is (TLS records, or plain bytes). */
int cw_net__raw_write(cw_http_conn_t *conn, const char *data, size_t len);

/* Renders and queues a response for a request that failed to parse. */
void cw_net__respond_error(cw_http_conn_t *conn,
                           cw_http_request_t *req,
                           cw_problem_e kind,
                           const char *detail);
/* Writes the head of conn's queue when its response is ready. */
void cw_net__flush(cw_http_conn_t *conn);
/* Writes an interim "100 Continue" (encrypted on TLS connections). */
void cw_net__write_continue(cw_http_conn_t *conn);

#endif /* CW_NET_INTERNAL_H */
