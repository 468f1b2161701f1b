/*
 * lg_http: the load generator's target URL and the framing of the HTTP/1.x
 * responses it reads (bench/loadgen.c), apart so that they can be tested
 * (tests/unit/bench). Nothing here does I/O or allocates.
 */
#ifndef CW_BENCH_LG_HTTP_H
#define CW_BENCH_LG_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define LG_HOST_MAX 255
#define LG_PATH_MAX 2048
#define LG_RESP_MAX (1u << 20)  /* bytes of one response, header block and body */
#define LG_HEAD_MAX (64u << 10) /* bytes of a response's header block */

typedef struct lg_url {
    int tls;                          /* https */
    int ip_literal;                   /* host is an address, verified as one */
    char host[LG_HOST_MAX + 1];       /* without IPv6 brackets */
    char port[6];                     /* decimal */
    char authority[LG_HOST_MAX + 10]; /* the Host header: as the URL gives it */
    char path[LG_PATH_MAX + 1];       /* with the query; "/" when the URL has none */
} lg_url_t;

/* Parses http[s]://host[:port][/path][?query] (no user information; a
 * fragment is dropped) into u. Returns 0, or -1 with a one-line reason in
 * err (err_size bytes, NUL-terminated). */
int lg_url_parse(const char *url, lg_url_t *u, char *err, size_t err_size);

typedef enum lg_body_mode {
    LG_B_LENGTH,  /* Content-Length (or none: 204, 304) */
    LG_B_CHUNKED, /* Transfer-Encoding: chunked */
    LG_B_TO_CLOSE /* neither: until the server closes */
} lg_body_mode_e;

/* Where the parse of one response stands; the bytes are the caller's. */
typedef struct lg_resp {
    size_t scanned;      /* the blank line is looked for from here on */
    size_t head_len;     /* the header block's length, 0 until complete */
    int status;          /* the status code, once head_len is set */
    int close_after;     /* the connection ends with this response */
    lg_body_mode_e body; /* how the body's end is found */
    uint64_t body_len;   /* LG_B_LENGTH: bytes */
} lg_resp_t;

void lg_resp_reset(lg_resp_t *r);

#define LG_RESP_MALFORMED (-1) /* not HTTP/1.x this client can read */
#define LG_RESP_TOO_LARGE (-2) /* a header block over LG_HEAD_MAX, a body over LG_RESP_MAX */

/* Looks at the *len bytes of buf read so far on the connection. Returns 1
 * when the response is complete, 0 when more is needed (LG_B_TO_CLOSE: until
 * the connection's end), or LG_RESP_MALFORMED or LG_RESP_TOO_LARGE (the
 * connection is then unusable). An interim (1xx) response is dropped
 * from buf, moving what follows it to the front and lowering *len. Bytes
 * after a complete response set close_after. Call again with the same r
 * after each read; lg_resp_reset before the next response. */
int lg_resp_parse(lg_resp_t *r, char *buf, size_t *len);

#endif
