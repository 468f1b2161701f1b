/*
 * lg_http: URL parsing and HTTP/1.x response framing for bench/loadgen.c.
 */
#define _GNU_SOURCE /* memmem */
#include "lg_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static int fail(char *err, size_t err_size, const char *fmt, ...) CW_PRINTF(3, 4);

static int fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;

    if (err_size > 0) {
        va_start(ap, fmt);
        (void)vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int lg_url_parse(const char *url, lg_url_t *u, char *err, size_t err_size)
{
    const char *auth;
    const char *host;
    const char *port = NULL;
    const char *p;
    size_t auth_len;
    size_t host_len;
    size_t path_len;
    size_t slash;
    unsigned char addr[sizeof(struct in6_addr)];
    uint64_t port_num;

    memset(u, 0, sizeof(*u));
    if (strncasecmp(url, "https://", 8) == 0) {
        u->tls = 1;
        auth = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        auth = url + 7;
    } else {
        return fail(err, err_size, "the URL must start with http:// or https://");
    }
    auth_len = strcspn(auth, "/?#");
    if (auth_len == 0 || auth_len >= sizeof(u->authority)) {
        return fail(err, err_size, "the URL has no host, or one over %u bytes", LG_HOST_MAX);
    }
    if (memchr(auth, '@', auth_len) != NULL) {
        return fail(err, err_size, "the URL holds user information");
    }
    memcpy(u->authority, auth, auth_len);
    host = u->authority;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');

        if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
            return fail(err, err_size, "the URL's IPv6 address is not closed by ]");
        }
        host_len = (size_t)(close - host) - 1;
        host++;
        port = close[1] == ':' ? close + 2 : NULL;
    } else {
        const char *colon = strchr(host, ':');

        host_len = colon != NULL ? (size_t)(colon - host) : auth_len;
        port = colon != NULL ? colon + 1 : NULL;
    }
    if (host_len == 0 || host_len > LG_HOST_MAX) {
        return fail(err, err_size, "the URL has no host, or one over %u bytes", LG_HOST_MAX);
    }
    memcpy(u->host, host, host_len);
    if (port != NULL) {
        if (cw_parse_uint(port, 1, 65535, &port_num) < 0) {
            return fail(err, err_size, "the URL's port is not a number from 1 to 65535");
        }
    } else {
        port_num = u->tls ? 443 : 80;
    }
    (void)snprintf(u->port, sizeof(u->port), "%u", (unsigned)port_num);
    u->ip_literal =
        inet_pton(AF_INET, u->host, addr) == 1 || inet_pton(AF_INET6, u->host, addr) == 1;
    p = auth + auth_len;
    path_len = strcspn(p, "#");
    for (size_t i = 0; i < path_len; i++) {
        if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f) {
            return fail(err, err_size, "the URL's path holds a space or a control character");
        }
    }
    slash = path_len == 0 || p[0] != '/' ? 1 : 0;
    if (slash + path_len > LG_PATH_MAX) {
        return fail(err, err_size, "the URL's path is over %u bytes", LG_PATH_MAX);
    }
    u->path[0] = '/';
    memcpy(u->path + slash, p, path_len);
    return 0;
}

void lg_resp_reset(lg_resp_t *r)
{
    memset(r, 0, sizeof(*r));
    r->body = LG_B_LENGTH;
}

static int ascii_ieq(const char *a, size_t n, const char *b)
{
    return strlen(b) == n && strncasecmp(a, b, n) == 0;
}

/* Whether the comma-separated list v (n bytes) holds token t. */
static int has_token(const char *v, size_t n, const char *t)
{
    size_t i = 0;

    while (i < n) {
        size_t j = i;
        size_t e;

        while (j < n && v[j] != ',') {
            j++;
        }
        e = j;
        while (i < e && (v[i] == ' ' || v[i] == '\t')) {
            i++;
        }
        while (e > i && (v[e - 1] == ' ' || v[e - 1] == '\t')) {
            e--;
        }
        if (ascii_ieq(v + i, e - i, t)) {
            return 1;
        }
        i = j + 1;
    }
    return 0;
}

/* Parses the header block buf[0, head_len): the status line and the fields
 * that say where the body ends and whether the connection stays. Returns 0,
 * LG_RESP_MALFORMED, or LG_RESP_TOO_LARGE for a Content-Length over
 * LG_RESP_MAX. */
static int resp_head(lg_resp_t *r, const char *b)
{
    const char *end = b + r->head_len - 2; /* the blank line's CRLF */
    const char *line;
    int minor;
    int have_length = 0;
    int chunked = 0;
    int keep_alive = 0;

    if (r->head_len < 16 || strncmp(b, "HTTP/1.", 7) != 0 || (b[7] != '0' && b[7] != '1')
        || b[8] != ' ' || b[9] < '1' || b[9] > '5' || !isdigit((unsigned char)b[10])
        || !isdigit((unsigned char)b[11]) || (b[12] != ' ' && b[12] != '\r')) {
        return LG_RESP_MALFORMED;
    }
    minor = b[7] - '0';
    r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    line = (const char *)memchr(b, '\n', r->head_len) + 1; /* there is one: the blank line's */
    if (line[-2] != '\r') {
        return LG_RESP_MALFORMED;
    }
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line) + 1);
        const char *colon;
        const char *v;
        size_t vn;

        if (eol == NULL || eol == line || eol[-1] != '\r') {
            return LG_RESP_MALFORMED;
        }
        colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL || colon == line) {
            return LG_RESP_MALFORMED;
        }
        v = colon + 1;
        while (v < eol - 1 && (*v == ' ' || *v == '\t')) {
            v++;
        }
        vn = (size_t)(eol - 1 - v);
        while (vn > 0 && (v[vn - 1] == ' ' || v[vn - 1] == '\t')) {
            vn--;
        }
        if (ascii_ieq(line, (size_t)(colon - line), "content-length")) {
            uint64_t len;

            if (vn == 0 || strspn(v, "0123456789") < vn) {
                return LG_RESP_MALFORMED;
            }
            if (cw_parse_uintn(v, vn, 0, LG_RESP_MAX, &len) < 0) {
                return LG_RESP_TOO_LARGE; /* digits only: a number over the bound */
            }
            if (have_length && len != r->body_len) {
                return LG_RESP_MALFORMED;
            }
            r->body_len = len;
            have_length = 1;
        } else if (ascii_ieq(line, (size_t)(colon - line), "transfer-encoding")) {
            if (!ascii_ieq(v, vn, "chunked")) {
                return LG_RESP_MALFORMED; /* a coding this client cannot undo */
            }
            chunked = 1;
        } else if (ascii_ieq(line, (size_t)(colon - line), "connection")) {
            r->close_after |= has_token(v, vn, "close");
            keep_alive |= has_token(v, vn, "keep-alive");
        }
        line = eol + 1;
    }
    if (minor == 0 && !keep_alive) {
        r->close_after = 1;
    }
    if (r->status == 204 || r->status == 304 || r->status < 200) {
        r->body = LG_B_LENGTH;
        r->body_len = 0;
    } else if (chunked) {
        r->body = LG_B_CHUNKED;
    } else if (have_length) {
        r->body = LG_B_LENGTH;
    } else {
        r->body = LG_B_TO_CLOSE;
        r->close_after = 1;
    }
    return 0;
}

/* Whether the chunked body from buf[head_len] is complete: 1, 0 for not yet,
 * LG_RESP_MALFORMED, or LG_RESP_TOO_LARGE (a chunk over LG_RESP_MAX). Bytes
 * after its end set close_after. The whole body is scanned on each read:
 * quadratic for a body trickled in tiny chunks, which LG_RESP_MAX and the
 * request's timeout bound. */
static int chunked_complete(lg_resp_t *r, const char *buf, size_t len)
{
    size_t i = r->head_len;

    for (;;) {
        uint64_t size = 0;
        size_t digits = 0;
        const char *eol;

        while (i < len && isxdigit((unsigned char)buf[i])) {
            int c = (unsigned char)buf[i];

            size = size * 16 + (uint64_t)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
            if (size > LG_RESP_MAX) {
                return LG_RESP_TOO_LARGE;
            }
            digits++;
            i++;
        }
        if (i == len) {
            return 0;
        }
        if (digits == 0 || (buf[i] != '\r' && buf[i] != ';')) {
            return LG_RESP_MALFORMED;
        }
        eol = memchr(buf + i, '\n', len - i);
        if (eol == NULL) {
            return 0;
        }
        i = (size_t)(eol - buf) + 1;
        if (size == 0) {
            /* Trailer fields, then the blank line. */
            for (;;) {
                eol = memchr(buf + i, '\n', len - i);
                if (eol == NULL) {
                    return 0;
                }
                if ((size_t)(eol - buf) == i + 1 && buf[i] == '\r') {
                    if ((size_t)(eol - buf) + 1 < len) {
                        r->close_after = 1; /* bytes nobody asked for */
                    }
                    return 1;
                }
                i = (size_t)(eol - buf) + 1;
            }
        }
        if (len - i < size + 2) {
            return 0;
        }
        i += (size_t)size;
        if (buf[i] != '\r' || buf[i + 1] != '\n') {
            return LG_RESP_MALFORMED;
        }
        i += 2;
    }
}

int lg_resp_parse(lg_resp_t *r, char *buf, size_t *len)
{
    int rc;

    for (;;) {
        if (r->head_len == 0) {
            size_t from = r->scanned >= 3 ? r->scanned - 3 : 0;
            const char *blank = memmem(buf + from, *len - from, "\r\n\r\n", 4);

            if (blank == NULL) {
                r->scanned = *len;
                return *len > LG_HEAD_MAX ? LG_RESP_TOO_LARGE : 0;
            }
            r->head_len = (size_t)(blank - buf) + 4;
            if (r->head_len > LG_HEAD_MAX) {
                return LG_RESP_TOO_LARGE;
            }
            rc = resp_head(r, buf);
            if (rc < 0) {
                return rc;
            }
        }
        if (r->status < 200) {
            /* An interim response (100 Continue): the real one follows. */
            memmove(buf, buf + r->head_len, *len - r->head_len);
            *len -= r->head_len;
            lg_resp_reset(r);
            continue;
        }
        switch (r->body) {
        case LG_B_LENGTH:
            if (*len - r->head_len < r->body_len) {
                return 0;
            }
            if (*len - r->head_len > r->body_len) {
                r->close_after = 1; /* bytes nobody asked for: not this connection again */
            }
            return 1;
        case LG_B_CHUNKED: {
            int c = chunked_complete(r, buf, *len);

            if (c < 0) {
                return c;
            }
            return c == 0 && *len - r->head_len > LG_RESP_MAX ? LG_RESP_TOO_LARGE : c;
        }
        case LG_B_TO_CLOSE:
            return *len - r->head_len > LG_RESP_MAX ? LG_RESP_TOO_LARGE : 0;
        }
        return LG_RESP_MALFORMED;
    }
}
