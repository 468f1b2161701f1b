/*
 * Request parsing: Debian's http-parser does the parsing; this file feeds
 * it, collects the request, enforces our limits and refuses the framing
 * shapes that lead to request smuggling.
 */
#include <string.h>

#include "internal.h"

/* ==== Pre-scan ==== */

/*
 * The request line must end in " HTTP/<digit>.<digit>". Debian builds
 * http-parser without HTTP_PARSER_STRICT, and the lenient parser does not
 * check the protocol name. tail holds the last 10 bytes, the CR last.
 */
static int request_line_ends_well(const char *tail)
{
    return tail[0] == ' ' && memcmp(tail + 1, "HTTP/", 5) == 0 && tail[6] >= '0' && tail[6] <= '9'
           && tail[7] == '.' && tail[8] >= '0' && tail[8] <= '9';
}

/*
 * http-parser (2.9) accepts obsolete line folding, and bare LF line ends
 * unless built strict. Both let two parsers disagree on where a header ends,
 * which is how requests are smuggled (RFC 9112 §2.2, §5.2), so the header
 * block is scanned for them, and for NUL bytes, before the parser sees it.
 * This is a filter on line ends only; all parsing stays with http-parser.
 * Returns the number of bytes that belong to the header block (the whole of
 * len when the block has not ended), or -1 with the problem recorded.
 */
static ssize_t prescan(cw_http_conn_t *conn, const char *data, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        char c = data[i];

        if (conn->scan == CW_SCAN_DONE) {
            return (ssize_t)i;
        }
        if (c == '\0') {
            conn->error_detail = "NUL byte in the request head";
            return -1;
        }
        memmove(conn->scan_tail, conn->scan_tail + 1, sizeof(conn->scan_tail) - 1);
        conn->scan_tail[sizeof(conn->scan_tail) - 1] = c;
        switch (conn->scan) {
        case CW_SCAN_LINE_START:
            /* RFC 9112 §2.2: empty lines before the request line may be ignored. */
            if (c == '\r') {
                conn->scan = CW_SCAN_AFTER_CR;
                conn->scan_blank = 1;
                continue;
            }
            if (c == '\n') {
                conn->error_detail = "bare LF in the request head";
                return -1;
            }
            conn->scan = CW_SCAN_IN_LINE;
            break;
        case CW_SCAN_IN_LINE:
            if (c == '\r') {
                if (!conn->scan_seen_line && !request_line_ends_well(conn->scan_tail)) {
                    conn->error_detail = "malformed request line";
                    return -1;
                }
                conn->scan = CW_SCAN_AFTER_CR;
                conn->scan_blank = 0;
            } else if (c == '\n') {
                conn->error_detail = "bare LF in the request head";
                return -1;
            }
            break;
        case CW_SCAN_AFTER_CR:
            if (c != '\n') {
                conn->error_detail = "bare CR in the request head";
                return -1;
            }
            if (conn->scan_blank && conn->scan_seen_line) {
                conn->scan = CW_SCAN_DONE;
                return (ssize_t)(i + 1);
            }
            if (conn->scan_blank) {
                conn->scan = CW_SCAN_LINE_START;
            } else {
                conn->scan_seen_line = 1;
                conn->scan = CW_SCAN_HDR_LINE_START;
            }
            break;
        case CW_SCAN_HDR_LINE_START:
            if (c == ' ' || c == '\t') {
                conn->error_detail = "obsolete line folding in a header field";
                return -1;
            }
            if (c == '\r') {
                conn->scan = CW_SCAN_AFTER_CR;
                conn->scan_blank = 1;
            } else if (c == '\n') {
                conn->error_detail = "bare LF in the request head";
                return -1;
            } else {
                conn->scan = CW_SCAN_IN_LINE;
            }
            break;
        case CW_SCAN_DONE:
            break;
        }
    }
    return (ssize_t)len;
}

/*
 * The lenient http-parser takes any two bytes for the CRLF after chunk
 * data, any byte for the LF of a chunk-size line, bare LF inside a chunk
 * extension and bare LF in trailer lines. A front end that reads those
 * bytes differently ends the body elsewhere, and the rest is smuggled as
 * the next request, so the chunked framing is scanned as strictly as the
 * head (RFC 9112 §7.1). The data itself is skipped, not read. Returns the
 * number of bytes that belong to the body (up to the end of the message),
 * or -1 with the problem recorded.
 */
static ssize_t chunk_prescan(cw_http_conn_t *conn, const char *data, size_t len)
{
    size_t i = 0;

    while (i < len && conn->chunk_scan != CW_CHUNK_DONE) {
        char c = data[i];
        int v;

        if (conn->chunk_scan == CW_CHUNK_DATA) {
            size_t n = len - i;

            if ((uint64_t)n > conn->chunk_left) {
                n = (size_t)conn->chunk_left;
            }
            i += n;
            conn->chunk_left -= n;
            if (conn->chunk_left == 0) {
                conn->chunk_scan = CW_CHUNK_DATA_CR;
            }
            continue;
        }
        i++;
        if (c == '\0'
            || (c == '\n' && conn->chunk_scan != CW_CHUNK_SIZE_LF
                && conn->chunk_scan != CW_CHUNK_DATA_LF && conn->chunk_scan != CW_CHUNK_TRAILER_LF
                && conn->chunk_scan != CW_CHUNK_END_LF)) {
            conn->error_detail = "NUL byte or bare LF in the chunked framing";
            return -1;
        }
        if (conn->chunk_scan == CW_CHUNK_SIZE_START || conn->chunk_scan == CW_CHUNK_SIZE
            || conn->chunk_scan == CW_CHUNK_EXT) {
            /* Leading zeros and extensions could otherwise run on for as
             * long as the body deadline allows. */
            if (++conn->chunk_line_bytes > CW_NET_CHUNK_LINE_BYTES_MAX) {
                conn->error_detail = "chunk-size line too long";
                return -1;
            }
        }
        switch (conn->chunk_scan) {
        case CW_CHUNK_SIZE_START:
        case CW_CHUNK_SIZE:
            v = cw_hex_digit(c);
            if (v >= 0) {
                if (conn->chunk_left > (UINT64_MAX >> 4)) {
                    conn->error_detail = "chunk size too large";
                    return -1;
                }
                conn->chunk_left = (conn->chunk_left << 4) | (uint64_t)v;
                conn->chunk_scan = CW_CHUNK_SIZE;
            } else if (conn->chunk_scan == CW_CHUNK_SIZE && c == '\r') {
                conn->chunk_scan = CW_CHUNK_SIZE_LF;
            } else if (conn->chunk_scan == CW_CHUNK_SIZE && (c == ';' || c == ' ')) {
                conn->chunk_scan = CW_CHUNK_EXT;
            } else {
                conn->error_detail = "invalid chunk size";
                return -1;
            }
            break;
        case CW_CHUNK_EXT:
            if (c == '\r') {
                conn->chunk_scan = CW_CHUNK_SIZE_LF;
            }
            break;
        case CW_CHUNK_SIZE_LF:
        case CW_CHUNK_DATA_LF:
        case CW_CHUNK_TRAILER_LF:
        case CW_CHUNK_END_LF:
            if (c != '\n') {
                conn->error_detail = "bare CR in the chunked framing";
                return -1;
            }
            conn->chunk_line_bytes = 0;
            if (conn->chunk_scan == CW_CHUNK_END_LF) {
                conn->chunk_scan = CW_CHUNK_DONE;
            } else if (conn->chunk_scan == CW_CHUNK_DATA_LF) {
                conn->chunk_scan = CW_CHUNK_SIZE_START;
            } else if (conn->chunk_scan == CW_CHUNK_SIZE_LF && conn->chunk_left > 0) {
                conn->chunk_scan = CW_CHUNK_DATA;
            } else {
                conn->chunk_scan = CW_CHUNK_TRAILER_START;
            }
            break;
        case CW_CHUNK_DATA_CR:
            if (c != '\r') {
                conn->error_detail = "chunk data not followed by CRLF";
                return -1;
            }
            conn->chunk_scan = CW_CHUNK_DATA_LF;
            break;
        case CW_CHUNK_TRAILER_START:
            if (c == ' ' || c == '\t') {
                conn->error_detail = "obsolete line folding in a trailer field";
                return -1;
            }
            conn->chunk_scan = c == '\r' ? CW_CHUNK_END_LF : CW_CHUNK_TRAILER;
            break;
        case CW_CHUNK_TRAILER:
            if (c == '\r') {
                conn->chunk_scan = CW_CHUNK_TRAILER_LF;
            }
            break;
        case CW_CHUNK_DATA:
        case CW_CHUNK_DONE:
            break;
        }
    }
    return (ssize_t)i;
}

/* ==== Parser callbacks ==== */

static cw_http_conn_t *parser_conn(http_parser *p)
{
    return cw_container_of(p, cw_http_conn_t, parser);
}

static int reject(cw_http_conn_t *conn, cw_problem_e kind, const char *detail)
{
    if (conn->error_status == 0) {
        conn->error_status = cw_problem_status(kind);
        conn->error_kind = kind;
        conn->error_detail = detail;
    }
    return -1;
}

static int on_message_begin(http_parser *p)
{
    cw_http_conn_t *conn = parser_conn(p);

    (void)conn;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    cw_http_conn_t *conn = parser_conn(p);
    const cw_conf_limits_t *lim = &conn->server->cfg->limits;

    if (len > lim->url_bytes_max - conn->url_bytes) {
        return reject(conn, CW_PROBLEM_URI_TOO_LONG, "the request target is too long");
    }
    conn->url_bytes += len;
    /* The target is kept with the headers, as the pseudo-header ":target". */
    if (conn->url_bytes == len) {
        if (cw_buf_append(&conn->hdrs, ":target", 8) < 0) {
            return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "the request head is too large");
        }
    }
    if (cw_buf_append(&conn->hdrs, at, len) < 0) {
        return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "the request head is too large");
    }
    return 0;
}

/* RFC 9110 §5.6.2: a field name is a token. */
static int is_token(const char *s, size_t len)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || (c != '\0' && strchr(extra, c) != NULL))) {
            return 0;
        }
    }
    return 1;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    cw_http_conn_t *conn = parser_conn(p);
    const cw_conf_limits_t *lim = &conn->server->cfg->limits;

    /* The lenient parser Debian ships lets other bytes into names. */
    if (!is_token(at, len)) {
        return reject(conn, CW_PROBLEM_BAD_REQUEST, "invalid character in a header field name");
    }

    if (conn->hdr_in_value || conn->hdr_count == 0) {
        /* A new field: terminate the previous value (or the target). */
        if (conn->hdr_count >= lim->header_count_max) {
            return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "too many header fields");
        }
        if (cw_buf_append(&conn->hdrs, "", 1) < 0) {
            return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "the request head is too large");
        }
        conn->hdr_count++;
        conn->hdr_in_value = 0;
    }
    if (cw_buf_append(&conn->hdrs, at, len) < 0) {
        return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "the request head is too large");
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    cw_http_conn_t *conn = parser_conn(p);

    if (!conn->hdr_in_value) {
        if (cw_buf_append(&conn->hdrs, "", 1) < 0) {
            return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "the request head is too large");
        }
        conn->hdr_in_value = 1;
    }
    if (cw_buf_append(&conn->hdrs, at, len) < 0) {
        return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "the request head is too large");
    }
    return 0;
}

static char *trim(char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
    return s;
}

/* Copies the collected head into the request's pool. */
static int build_head(cw_http_conn_t *conn, cw_http_request_t *req)
{
    char *copy;
    char *p;
    char *end;
    char *q;
    size_t i;

    if (cw_buf_append(&conn->hdrs, "", 1) < 0) {
        return CW_E2BIG;
    }
    copy = cw_pool_alloc(req->pool, conn->hdrs.len);
    req->headers = cw_pool_alloc(req->pool, (conn->hdr_count + 1) * sizeof(*req->headers));
    if (copy == NULL || req->headers == NULL) {
        return CW_ENOMEM;
    }
    memcpy(copy, conn->hdrs.data, conn->hdrs.len);
    end = copy + conn->hdrs.len;
    p = copy + 8; /* skip ":target\0" */
    req->target = p;
    p += strlen(p) + 1;
    for (i = 0; i < conn->hdr_count && p < end; i++) {
        char *name = p;
        char *value;

        p += strlen(p) + 1;
        value = p < end ? p : (char *)"";
        p += strlen(value) + 1;
        req->headers[i].name = name;
        req->headers[i].value = trim(value);
    }
    req->header_count = i;
    req->method = http_method_str((enum http_method)conn->parser.method);
    req->http_minor = conn->parser.http_minor;
    req->is_head = conn->parser.method == HTTP_HEAD;
    q = cw_pool_strndup(req->pool, req->target, strlen(req->target));
    if (q == NULL) {
        return CW_ENOMEM;
    }
    req->path = q;
    q = strchr(q, '?');
    if (q != NULL) {
        *q = '\0';
        req->query = q + 1;
    }
    return 0;
}

/* Counts header fields named name; stores the first value in *first. */
static size_t header_count(const cw_http_request_t *req, const char *name, const char **first)
{
    size_t i;
    size_t n = 0;

    *first = NULL;
    for (i = 0; i < req->header_count; i++) {
        if (cw_strncaseeq(req->headers[i].name, strlen(req->headers[i].name), name)) {
            if (n++ == 0) {
                *first = req->headers[i].value;
            }
        }
    }
    return n;
}

/* Transfer-Encoding: only "chunked" is implemented (RFC 9112 §6.1). */
static int check_framing(cw_http_conn_t *conn, cw_http_request_t *req)
{
    const cw_conf_limits_t *lim = &conn->server->cfg->limits;
    const char *te;
    const char *cl;
    size_t te_n = header_count(req, "transfer-encoding", &te);
    size_t cl_n = header_count(req, "content-length", &cl);
    const char *expect;
    size_t i;

    if (conn->parser.http_major != 1 || conn->parser.http_minor > 1) {
        return reject(conn, CW_PROBLEM_VERSION_NOT_SUPPORTED,
                      "only HTTP/1.0 and HTTP/1.1 are served");
    }
    if (te_n > 0 && cl_n > 0) {
        return reject(conn, CW_PROBLEM_REQUEST_SMUGGLING,
                      "both Content-Length and Transfer-Encoding are present");
    }
    if (te_n > 1 || (te_n == 1 && !cw_strncaseeq(te, strlen(te), "chunked"))) {
        return reject(conn, CW_PROBLEM_NOT_IMPLEMENTED,
                      "only the chunked transfer coding is implemented");
    }
    if (te_n == 1 && conn->parser.http_minor == 0) {
        return reject(conn, CW_PROBLEM_REQUEST_SMUGGLING,
                      "Transfer-Encoding in an HTTP/1.0 request");
    }
    conn->chunked = te_n == 1;
    if (cl_n > 0) {
        const char *v;

        for (i = 0; i < req->header_count; i++) {
            if (!cw_strncaseeq(req->headers[i].name, strlen(req->headers[i].name),
                               "content-length")) {
                continue;
            }
            v = req->headers[i].value;
            if (strcmp(v, cl) != 0 || strspn(v, "0123456789") != strlen(v) || v[0] == '\0') {
                return reject(conn, CW_PROBLEM_REQUEST_SMUGGLING,
                              "conflicting or malformed Content-Length");
            }
        }
        if (conn->parser.content_length > lim->body_bytes_max) {
            return reject(conn, CW_PROBLEM_BODY_TOO_LARGE, "the request body is too large");
        }
    }
    if (te_n == 0 && cl_n == 0
        && (conn->parser.method == HTTP_POST || conn->parser.method == HTTP_PUT
            || conn->parser.method == HTTP_PATCH)) {
        return reject(conn, CW_PROBLEM_LENGTH_REQUIRED,
                      "a request with a body needs Content-Length or chunked encoding");
    }
    if (header_count(req, "expect", &expect) > 0) {
        if (!cw_strncaseeq(expect, strlen(expect), "100-continue")) {
            return reject(conn, CW_PROBLEM_EXPECTATION_FAILED, "only 100-continue is supported");
        }
        if (conn->parser.http_minor == 1
            && (te_n > 0 || (cl_n > 0 && conn->parser.content_length > 0))) {
            conn->expect_continue = 1;
        }
    }
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    cw_http_conn_t *conn = parser_conn(p);
    cw_http_request_t *req = conn->cur;
    int rc;

    if (conn->hdr_in_value == 0 && conn->hdr_count > 0) {
        /* A field without a value cannot come out of http-parser; be safe. */
        return reject(conn, CW_PROBLEM_BAD_REQUEST, "header field without a value");
    }
    rc = build_head(conn, req);
    if (rc == CW_ENOMEM) {
        return reject(conn, CW_PROBLEM_UNAVAILABLE, "out of memory");
    }
    if (rc < 0) {
        return reject(conn, CW_PROBLEM_HEADERS_TOO_LARGE, "the request head is too large");
    }
    if (check_framing(conn, req) < 0) {
        return -1;
    }
    conn->phase = CW_PHASE_BODY;
    /* The body deadline runs from here and is not extended by bytes. */
    conn->body_start_ns = cw_time_mono_ns();
    cw_buf_init(&conn->body, req->cfg->limits.body_bytes_max);
    if (conn->expect_continue) {
        cw_net__write_continue(conn);
        conn->expect_continue = 0;
    }
    cw_net__conn_arm_timer(conn);
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    cw_http_conn_t *conn = parser_conn(p);
    int rc = cw_buf_append(&conn->body, at, len);

    if (rc == CW_E2BIG) {
        return reject(conn, CW_PROBLEM_BODY_TOO_LARGE, "the request body is too large");
    }
    if (rc < 0) {
        return reject(conn, CW_PROBLEM_UNAVAILABLE, "out of memory");
    }
    return 0;
}

static int on_message_complete(http_parser *p)
{
    cw_http_conn_t *conn = parser_conn(p);

    conn->message_done = 1;
    /* One message per http_parser_execute call: the caller dispatches it
     * and decides whether to go on (pipeline depth, back-pressure). */
    http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ==== Driving the parser ==== */

void cw_net__parse_reset(cw_http_conn_t *conn)
{
    http_parser_init(&conn->parser, HTTP_REQUEST);
    conn->parser.data = conn;
    conn->phase = CW_PHASE_IDLE;
    conn->scan = CW_SCAN_LINE_START;
    conn->scan_blank = 0;
    conn->scan_seen_line = 0;
    memset(conn->scan_tail, 0, sizeof(conn->scan_tail));
    conn->chunked = 0;
    conn->chunk_scan = CW_CHUNK_SIZE_START;
    conn->chunk_left = 0;
    conn->chunk_line_bytes = 0;
    cw_buf_reset(&conn->hdrs);
    conn->hdrs.max_len = conn->server->cfg->limits.header_bytes_max;
    conn->hdr_count = 0;
    conn->hdr_in_value = 0;
    conn->url_bytes = 0;
    conn->message_done = 0;
    conn->error_status = 0;
    conn->error_detail = NULL;
    conn->expect_continue = 0;
    cw_buf_fini(&conn->body);
}

/* Maps an http-parser error to our problem kind. */
static cw_problem_e problem_from_parser(enum http_errno e)
{
    switch (e) {
    case HPE_INVALID_METHOD:
        return CW_PROBLEM_NOT_IMPLEMENTED;
    case HPE_HEADER_OVERFLOW:
        return CW_PROBLEM_HEADERS_TOO_LARGE;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        return CW_PROBLEM_REQUEST_SMUGGLING;
    case HPE_INVALID_TRANSFER_ENCODING:
        return CW_PROBLEM_NOT_IMPLEMENTED;
    case HPE_INVALID_VERSION:
        return CW_PROBLEM_VERSION_NOT_SUPPORTED;
    default:
        return CW_PROBLEM_BAD_REQUEST;
    }
}

static void fail_request(cw_http_conn_t *conn, cw_problem_e kind, const char *detail)
{
    cw_http_request_t *req = conn->cur;

    /* Refused before its head was complete: answer in the client's version
     * if its request line got that far, else in ours (RFC 9110 §6.2). */
    if (req != NULL) {
        req->http_minor = conn->parser.http_major == 1 ? (int)conn->parser.http_minor : 1;
    }
    conn->cur = NULL;
    conn->phase = CW_PHASE_IDLE;
    cw_buf_reset(&conn->inbuf);
    cw_net__respond_error(conn, req, kind, detail);
}

static int finish_request(cw_http_conn_t *conn)
{
    cw_http_request_t *req = conn->cur;
    size_t len;

    req->keep_alive = http_should_keep_alive(&conn->parser) && !conn->server->closing;
    req->body = cw_buf_detach(&conn->body, &len);
    req->body_len = len;
    if (req->body == NULL) {
        req->body = "";
    } else if (cw_pool_cleanup_add(req->pool, cw_free, (void *)req->body) < 0) {
        cw_free((void *)req->body);
        req->body = "";
        return CW_ENOMEM;
    }
    if (!req->keep_alive) {
        conn->close_after = 1;
    }
    conn->cur = NULL;
    cw_net__parse_reset(conn);
    cw_net__request_dispatch(conn, req);
    return 0;
}

int cw_net__parse_input(cw_http_conn_t *conn)
{
    const cw_conf_limits_t *lim = &conn->server->cfg->limits;
    int rc;

    while (conn->inbuf.len > 0 && !conn->closing) {
        const char *data = conn->inbuf.data;
        size_t len = conn->inbuf.len;
        size_t parsed;
        enum http_errno e;

        if (conn->phase == CW_PHASE_IDLE) {
            if (conn->close_after) {
                return 0; /* nothing after the last request is read */
            }
            if (conn->queue_len >= lim->pipeline_max
                || conn->write_bytes_pending > lim->write_buffer_bytes_max) {
                return 0; /* back-pressure: leave the bytes buffered */
            }
            rc = cw_net__request_new(conn, &conn->cur);
            if (rc < 0) {
                return rc;
            }
            conn->phase = CW_PHASE_HEADERS;
            cw_net__conn_arm_timer(conn);
        }
        if (conn->scan != CW_SCAN_DONE) {
            ssize_t head = prescan(conn, data, len);

            if (head < 0) {
                fail_request(conn, CW_PROBLEM_BAD_REQUEST, conn->error_detail);
                return 0;
            }
            /* The head alone first: the framing it declares decides how
             * the body is scanned before the parser sees it. */
            len = (size_t)head;
        } else if (conn->chunked) {
            ssize_t body = chunk_prescan(conn, data, len);

            if (body <= 0) {
                fail_request(conn, CW_PROBLEM_BAD_REQUEST,
                             body < 0 ? conn->error_detail : "unparsable request");
                return 0;
            }
            len = (size_t)body;
        }
        parsed = http_parser_execute(&conn->parser, &settings, data, len);
        e = HTTP_PARSER_ERRNO(&conn->parser);
        if (e == HPE_PAUSED) {
            http_parser_pause(&conn->parser, 0);
            e = HPE_OK;
        }
        if (e != HPE_OK || conn->error_status != 0) {
            if (conn->error_status != 0) {
                fail_request(conn, conn->error_kind, conn->error_detail);
            } else {
                fail_request(conn, problem_from_parser(e), http_errno_description(e));
            }
            return 0;
        }
        cw_buf_consume(&conn->inbuf, parsed);
        if (conn->message_done) {
            rc = finish_request(conn);
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        if (parsed < len) {
            /* http-parser stops early only on an error or a pause. */
            fail_request(conn, CW_PROBLEM_BAD_REQUEST, "unparsable request");
            return 0;
        }
    }
    return 0;
}
