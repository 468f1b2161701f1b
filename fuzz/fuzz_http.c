/*
 * Fuzz target: the HTTP/1.1 server's request parsing (net/http_parse.c:
 * cw_net__parse_input and the http-parser callbacks) on what a hostile
 * client sends, through a real cw_http_server on an in-process libuv loop.
 *
 * LLVMFuzzerInitialize starts two servers on 127.0.0.1 (port 0): one with
 * the default limits, one with every request limit at its minimum and a
 * pipeline of 2. Their timeouts are at the maximum, so an input that would
 * need a deadline to finish hangs and is reported as a timeout. For each
 * input, the harness connects a plain socket, writes the bytes in up to
 * four pieces (the loop runs until the server has taken each piece, so
 * parsing resumes across reads), half-closes, and runs the loop until the
 * server has answered and closed. An input is a four-byte header and the
 * bytes the client sends:
 *
 *   byte 0, bit 0   the server with the tight limits instead of the defaults
 *           bit 1   the handler answers on the next loop iteration (uv_idle)
 *                   instead of inside the callback
 *   bytes 1-3       where the bytes are split: piece ends at len * b / 256
 *
 * The handler answers every request 200 with its dispatch number. Besides
 * crashes, leaks and undefined behaviour, it checks:
 *   - a request handed to the handler has a method, a target, a path, and
 *     headers and a body within the configured limits; it is the message
 *     the client sent: re-read from the input bytes the server consumed
 *     for it, with a strict RFC 9112 reading, its request line, header
 *     fields and body are the same, and the body is the Content-Length
 *     bytes or the decoded chunks (CRLF after every chunk line and chunk);
 *   - no more requests are dispatched than there are request lines in the
 *     input, and none after a refused request on the connection;
 *   - every byte the client receives parses as a sequence of responses:
 *     "HTTP/1.x" status lines with a valid code, one Content-Length, the
 *     X-Request-Id of the request it answers, in the order the server
 *     finished them, and a body unless it answers HEAD; "100 Continue"
 *     interim responses may come between them;
 *   - a refused request gets a 4xx or 5xx with a problem document
 *     (application/problem+json or +xml) whose type is a known kind with
 *     that status, and "Connection: close", and nothing is written after
 *     it or after any other "Connection: close" answer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <uv.h>

#include "config.h"
#include "net.h"
#include "net/internal.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER_BYTES 4u
#define TIGHT_BIT    0x01u
#define DEFER_BIT    0x02u
#define PIECES_MAX   4u
#define QUIET_ROUNDS 2 /* loop rounds without progress before a piece counts as taken */
#define RECEIVED_MAX (64u * 1024u * 1024u)
#define SOURCE_ADDRS 253u /* client addresses 127.0.0.2 and up */
#define LIMITS_TIMEOUTS                                    \
    "    <header-timeout-ms>3600000</header-timeout-ms>\n" \
    "    <body-timeout-ms>3600000</body-timeout-ms>\n"     \
    "    <idle-timeout-ms>3600000</idle-timeout-ms>\n"     \
    "    <write-timeout-ms>3600000</write-timeout-ms>\n"

static const char config_default_xml[] =
    "<clearway xmlns=\"urn:clearway:config:1\">\n"
    "  <node id=\"fuzz-http\"/>\n"
    "  <listen name=\"public\" address=\"127.0.0.1\" port=\"0\"/>\n"
    "  <limits>\n" LIMITS_TIMEOUTS "  </limits>\n"
    "</clearway>\n";

static const char config_tight_xml[] =
    "<clearway xmlns=\"urn:clearway:config:1\">\n"
    "  <node id=\"fuzz-http\"/>\n"
    "  <listen name=\"public\" address=\"127.0.0.1\" port=\"0\"/>\n"
    "  <limits>\n" LIMITS_TIMEOUTS "    <header-bytes-max>1024</header-bytes-max>\n"
    "    <header-count-max>8</header-count-max>\n"
    "    <url-bytes-max>256</url-bytes-max>\n"
    "    <body-bytes-max>1024</body-bytes-max>\n"
    "    <xml-bytes-max>1024</xml-bytes-max>\n"
    "    <pipeline-max>2</pipeline-max>\n"
    "    <write-buffer-bytes-max>4096</write-buffer-bytes-max>\n"
    "  </limits>\n"
    "</clearway>\n";

/* One response the server finished (its on_done), in that order. */
typedef struct answer {
    char id[24];
    int status;
    int is_head;
    int refused;    /* answered by the parser (route "invalid"), not the handler */
    int keep_alive; /* no "Connection: close" */
    int http_minor;
    int surely_out; /* written on an open connection; otherwise it may or may not have gone out */
} answer_t;

typedef struct server_slot {
    cw_config_t *cfg;
    cw_http_server_t *server;
    uint16_t port;
} server_slot_t;

/* The connection of the input being run. */
typedef struct run {
    server_slot_t *slot;
    const uint8_t *in; /* the bytes the client sends */
    size_t in_len;
    size_t request_lines; /* lines ending in " HTTP/d.d" */
    uint64_t bytes_in_base;
    size_t consumed; /* input bytes the server has parsed into dispatched requests */
    size_t dispatched;
    int defer;
    cw_http_request_t *deferred; /* chained through req->arg, answered in order */
    cw_http_request_t *deferred_tail;
    size_t answer_count; /* in answers */
    int fd;
    uv_poll_t poll;
    cw_buf_t got; /* what the client received */
    int eof;
} run_t;

static uv_loop_t loop;
static uv_idle_t idle;
static server_slot_t slots[2];
static run_t run;
static answer_t *answers; /* kept across inputs, to be reused */
static size_t answer_cap;

static void contract_fail(const char *what)
{
    fprintf(stderr, "fuzz_http: contract broken: %s\n", what);
    abort();
}

static void setup_fail(const char *what)
{
    fprintf(stderr, "fuzz_http: %s\n", what);
    exit(1);
}

/* ==== Reading the input the strict way (RFC 9112) ==== */

static const char *find_bytes(const char *p, size_t len, const char *what, size_t what_len)
{
    size_t i;

    for (i = 0; what_len <= len && i <= len - what_len; i++) {
        if (memcmp(p + i, what, what_len) == 0) {
            return p + i;
        }
    }
    return NULL;
}

static const char *find_crlf(const char *p, const char *end)
{
    for (; p + 1 < end; p++) {
        if (p[0] == '\r' && p[1] == '\n') {
            return p;
        }
    }
    return NULL;
}

/* A line without CR, LF or NUL inside. */
static int line_clean(const char *p, const char *end)
{
    for (; p < end; p++) {
        if (*p == '\r' || *p == '\n' || *p == '\0') {
            return 0;
        }
    }
    return 1;
}

/*
 * Decodes a chunked body (RFC 9112 §7.1) that must fill [p, end) exactly,
 * and compares it with what the server decoded. Chunk extensions are not
 * read (both sides ignore them), but every line must end in CRLF.
 */
static int chunked_matches(const char *p, const char *end, const char *body, size_t body_len)
{
    size_t off = 0;

    for (;;) {
        const char *eol = find_crlf(p, end);
        uint64_t size = 0;
        int digits = 0;
        int v;

        if (eol == NULL || !line_clean(p, eol)) {
            return 0;
        }
        while (p < eol && (v = cw_hex_digit(*p)) >= 0) {
            if (size > (UINT64_MAX >> 4)) {
                return 0;
            }
            size = (size << 4) | (uint64_t)v;
            digits++;
            p++;
        }
        if (digits == 0) {
            return 0;
        }
        p = eol + 2;
        if (size == 0) {
            break;
        }
        if (size > (uint64_t)(end - p) || size > body_len - off
            || memcmp(p, body + off, (size_t)size) != 0) {
            return 0;
        }
        off += (size_t)size;
        p += size;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            return 0;
        }
        p += 2;
    }
    /* Trailer fields, then the empty line that ends the message. */
    for (;;) {
        const char *eol = find_crlf(p, end);

        if (eol == NULL || !line_clean(p, eol)) {
            return 0;
        }
        if (eol == p) {
            return eol + 2 == end && off == body_len;
        }
        p = eol + 2;
    }
}

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Whether [p, end), the bytes the server consumed for req, are that
 * request: optional empty lines, the request line, one field line per
 * header, the empty line, then exactly the body.
 */
static int message_matches(const cw_http_request_t *req, const char *p, const char *end)
{
    const char *eol;
    const char *te = cw_http_request_header(req, "transfer-encoding");
    const char *cl = cw_http_request_header(req, "content-length");
    size_t mlen = strlen(req->method);
    size_t i;

    while (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
        p += 2;
    }
    eol = find_crlf(p, end);
    if (eol == NULL || !line_clean(p, eol) || (size_t)(eol - p) < mlen + 1
        || memcmp(p, req->method, mlen) != 0 || p[mlen] != ' ') {
        return 0;
    }
    {
        size_t tlen = strlen(req->target);
        const char *t = p + mlen + 1;

        while (t < eol && *t == ' ') {
            t++;
        }
        if ((size_t)(eol - t) < tlen + 9 || memcmp(t, req->target, tlen) != 0 || t[tlen] != ' ') {
            return 0;
        }
    }
    p = eol + 2;
    for (i = 0; i < req->header_count; i++) {
        const char *name = req->headers[i].name;
        const char *value = req->headers[i].value;
        size_t nlen = strlen(name);
        const char *v;
        const char *ve;

        eol = find_crlf(p, end);
        if (eol == NULL || !line_clean(p, eol) || (size_t)(eol - p) < nlen + 1
            || memcmp(p, name, nlen) != 0 || p[nlen] != ':') {
            return 0;
        }
        v = p + nlen + 1;
        ve = eol;
        while (v < ve && blank(*v)) {
            v++;
        }
        while (ve > v && blank(ve[-1])) {
            ve--;
        }
        if ((size_t)(ve - v) != strlen(value) || memcmp(v, value, (size_t)(ve - v)) != 0) {
            return 0;
        }
        p = eol + 2;
    }
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
        return 0;
    }
    p += 2;
    if (te != NULL) {
        return chunked_matches(p, end, req->body, req->body_len);
    }
    if (cl != NULL) {
        return (size_t)(end - p) == req->body_len && strtoull(cl, NULL, 10) == req->body_len
               && memcmp(p, req->body, req->body_len) == 0;
    }
    return p == end && req->body_len == 0;
}

static size_t count_request_lines(const uint8_t *d, size_t len)
{
    size_t n = 0;
    size_t i;

    for (i = 0; i + 10 <= len; i++) {
        if (memcmp(d + i, " HTTP/", 6) == 0 && d[i + 6] >= '0' && d[i + 6] <= '9' && d[i + 7] == '.'
            && d[i + 8] >= '0' && d[i + 8] <= '9' && d[i + 9] == '\r') {
            n++;
        }
    }
    return n;
}

/* ==== The server's side ==== */

static int is_token(const char *s)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";

    if (*s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || strchr(extra, c) != NULL)) {
            return 0;
        }
    }
    return 1;
}

/* What the handler may rely on in a request, checked as it arrives. */
static void request_check(cw_http_request_t *req)
{
    const cw_conf_limits_t *lim = &run.slot->cfg->limits;
    cw_http_conn_t *conn = req->conn;
    const cw_http_request_t *q;
    size_t head_bytes;
    size_t end;
    size_t i;

    if (conn == NULL || conn->closing) {
        contract_fail("a request dispatched on a closed connection");
    }
    for (q = conn->queue; q != NULL && q != req; q = q->next) {
        if (strcmp(q->route, "invalid") == 0) {
            contract_fail("a request dispatched after a refused one on the connection");
        }
    }
    if (++run.dispatched > run.request_lines) {
        contract_fail("more requests dispatched than request lines sent");
    }
    if (req->method == NULL || req->method[0] == '\0' || req->target == NULL
        || req->target[0] == '\0' || req->path == NULL || req->query == NULL) {
        contract_fail("a request without a method, target or path");
    }
    if (req->http_minor != 0 && req->http_minor != 1) {
        contract_fail("a request of an HTTP version other than 1.0 and 1.1");
    }
    if (strlen(req->target) > lim->url_bytes_max) {
        contract_fail("a request target over url-bytes-max");
    }
    if (req->header_count > lim->header_count_max
        || (req->header_count > 0 && req->headers == NULL)) {
        contract_fail("more header fields than header-count-max");
    }
    head_bytes = strlen(req->target);
    for (i = 0; i < req->header_count; i++) {
        if (!is_token(req->headers[i].name)) {
            contract_fail("a header field name that is not a token");
        }
        head_bytes += strlen(req->headers[i].name) + strlen(req->headers[i].value);
    }
    if (head_bytes > lim->header_bytes_max) {
        contract_fail("a request head over header-bytes-max");
    }
    if (req->body == NULL || req->body_len > lim->body_bytes_max
        || req->body[req->body_len] != '\0') {
        contract_fail("a body over body-bytes-max, or not NUL-terminated");
    }
    /* The bytes the server consumed for this request (a plain connection:
     * what it read, less what is still buffered). */
    end = (size_t)(cw_http_server_metrics(run.slot->server)->bytes_in - run.bytes_in_base)
          - conn->inbuf.len;
    if (end < run.consumed || end > run.in_len) {
        contract_fail("the server consumed bytes it was not sent");
    }
    if (!message_matches(req, (const char *)run.in + run.consumed, (const char *)run.in + end)) {
        contract_fail("a dispatched request differs from the message a strict reading of the "
                      "bytes consumed for it gives (request line, fields or body framing)");
    }
    run.consumed = end;
}

static void answer(cw_http_request_t *req)
{
    char body[32];
    int n = snprintf(body, sizeof(body), "%s\n", req->id);

    (void)cw_http_respond(req, 200, "text/plain", NULL, body, (size_t)n);
}

static void on_idle(uv_idle_t *handle)
{
    cw_http_request_t *req = run.deferred;

    (void)uv_idle_stop(handle);
    run.deferred = NULL;
    run.deferred_tail = NULL;
    while (req != NULL) {
        cw_http_request_t *next = req->arg;

        req->arg = NULL;
        answer(req);
        req = next;
    }
}

static void on_request(cw_http_request_t *req, void *arg)
{
    (void)arg;
    request_check(req);
    req->route = "fuzz";
    if (!run.defer) {
        answer(req);
        return;
    }
    req->arg = NULL;
    if (run.deferred == NULL) {
        run.deferred = req;
    } else {
        run.deferred_tail->arg = req;
    }
    run.deferred_tail = req;
    (void)uv_idle_start(&idle, on_idle);
}

static void on_done(const cw_http_request_t *req, uint64_t duration_ns, void *arg)
{
    answer_t *a;

    (void)duration_ns;
    (void)arg;
    if (run.answer_count == answer_cap) {
        size_t cap = answer_cap == 0 ? 16 : answer_cap * 2;
        answer_t *more = cw_realloc(answers, cap * sizeof(*more));

        if (more == NULL) {
            setup_fail("out of memory");
        }
        answers = more;
        answer_cap = cap;
    }
    a = &answers[run.answer_count++];
    memset(a, 0, sizeof(*a));
    cw_strlcpy(a->id, req->id, sizeof(a->id));
    a->status = req->status;
    a->is_head = req->is_head;
    a->refused = strcmp(req->route, "invalid") == 0;
    a->keep_alive = req->keep_alive;
    a->http_minor = req->http_minor;
    a->surely_out = req->conn != NULL && !req->conn->closing;
}

/* ==== The client's side ==== */

static void on_client_readable(uv_poll_t *handle, int status, int events)
{
    char buf[16384];

    (void)handle;
    (void)events;
    if (status < 0) {
        run.eof = 1;
        return;
    }
    for (;;) {
        ssize_t n = recv(run.fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n > 0) {
            if (cw_buf_append(&run.got, buf, (size_t)n) < 0) {
                contract_fail("the server wrote more than 64 MiB for one input");
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        /* EOF, or a reset after the server closed with bytes unread. */
        run.eof = 1;
        (void)uv_poll_stop(&run.poll);
        return;
    }
}

/* Something that changes whenever the server or the client makes progress. */
static uint64_t progress(void)
{
    const cw_http_metrics_t *m = cw_http_server_metrics(run.slot->server);

    return m->bytes_in + m->bytes_out + m->connections_open + m->connections_total
           + m->requests_in_flight + run.got.len + run.answer_count + run.dispatched
           + (uint64_t)run.eof;
}

/* Runs the loop without blocking until nothing moves any more. */
static void settle(void)
{
    uint64_t last = progress();
    int quiet = 0;

    while (quiet < QUIET_ROUNDS) {
        uint64_t now;

        (void)uv_run(&loop, UV_RUN_NOWAIT);
        now = progress();
        quiet = now == last ? quiet + 1 : 0;
        last = now;
    }
}

/* Sends one piece; returns -1 once the server no longer takes bytes. */
static int send_piece(const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(run.fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            uint64_t before = progress();

            settle();
            if (progress() == before) {
                return -1; /* the server stopped reading; it must still finish */
            }
            continue;
        }
        return -1;
    }
    settle();
    return 0;
}

/*
 * connect(2) without blocking: libFuzzer's SIGALRM (for -timeout) would
 * interrupt a blocking one, which cannot simply be called again. Returns 0,
 * or -1 with errno set.
 */
static int connect_wait(int fd, const struct sockaddr *addr, socklen_t len)
{
    struct pollfd pfd = { fd, POLLOUT, 0 };
    int err = 0;
    socklen_t err_len = sizeof(err);
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        return -1;
    }
    if (connect(fd, addr, len) == 0) {
        return 0;
    }
    if (errno != EINPROGRESS && errno != EINTR) {
        return -1;
    }
    while (poll(&pfd, 1, -1) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) < 0) {
        return -1;
    }
    errno = err;
    return err == 0 ? 0 : -1;
}

/*
 * The client half-closes first, so each connection leaves its port in
 * TIME_WAIT for a minute; at thousands of inputs a second one source
 * address runs out of ports (connect fails with EADDRNOTAVAIL). The source
 * address therefore turns over 127.0.0.2-127.0.0.254, each with its own
 * ports (IP_BIND_ADDRESS_NO_PORT leaves the port to connect).
 */
static int client_connect(uint16_t port)
{
    static unsigned source_next;
    struct sockaddr_in src;
    struct sockaddr_in dst;
    int one = 1;
    unsigned attempt;

    memset(&dst, 0, sizeof(dst));
    dst.sin_family = AF_INET;
    dst.sin_port = htons(port);
    dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (attempt = 0; attempt < SOURCE_ADDRS; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0) {
            setup_fail("socket failed");
        }
        memset(&src, 0, sizeof(src));
        src.sin_family = AF_INET;
        src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1u + source_next++ % SOURCE_ADDRS);
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0
            && connect_wait(fd, (struct sockaddr *)&dst, sizeof(dst)) == 0) {
            return fd;
        }
        if (errno != EADDRNOTAVAIL && errno != EADDRINUSE) {
            fprintf(stderr, "fuzz_http: connect to the server: %s\n", strerror(errno));
            exit(1);
        }
        (void)close(fd);
    }
    setup_fail("connect to the server: no source address has a free port");
    return -1;
}

/* ==== Checking what the client received ==== */

static const char *header_value(const char *head, const char *head_end, const char *name, int *n)
{
    const char *found = NULL;
    size_t nlen = strlen(name);
    const char *p = head;

    *n = 0;
    while (p < head_end) {
        const char *eol = find_crlf(p, head_end + 2);

        if (eol == NULL) {
            break;
        }
        if ((size_t)(eol - p) > nlen + 1 && cw_strncaseeq(p, nlen, name) && p[nlen] == ':') {
            if ((*n)++ == 0) {
                found = p + nlen + 1;
                while (blank(*found)) {
                    found++;
                }
            }
        }
        p = eol + 2;
    }
    return found;
}

static int value_is(const char *v, const char *want)
{
    size_t n = strlen(want);

    return v != NULL && strncmp(v, want, n) == 0 && v[n] == '\r';
}

/* A problem document of a known kind with that status (RFC 9457). */
static void problem_check(const char *ctype, const char *body, size_t len, int status)
{
    char want[64];
    int known = 0;
    int k;

    for (k = 0; k < CW_PROBLEM__COUNT; k++) {
        char type[96];

        if (cw_problem_status((cw_problem_e)k) != status) {
            continue;
        }
        if (value_is(ctype, "application/problem+json")) {
            (void)snprintf(type, sizeof(type), "{\"type\":\"urn:clearway:problem:%s\"",
                           cw_problem_slug((cw_problem_e)k));
        } else {
            (void)snprintf(type, sizeof(type), "<type>urn:clearway:problem:%s</type>",
                           cw_problem_slug((cw_problem_e)k));
        }
        if (find_bytes(body, len, type, strlen(type)) != NULL) {
            known = 1;
        }
    }
    if (!known) {
        contract_fail("a refusal whose problem type is not a known kind with its status");
    }
    if (value_is(ctype, "application/problem+json")) {
        (void)snprintf(want, sizeof(want), "\"status\":%d", status);
    } else {
        (void)snprintf(want, sizeof(want), "<status>%d</status>", status);
    }
    if (find_bytes(body, len, want, strlen(want)) == NULL) {
        contract_fail("a problem document without the response's status");
    }
}

/* Skips "100 Continue" interim responses at *pos. */
static void skip_interim(size_t *pos)
{
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

    while (run.got.len - *pos >= sizeof(cont) - 1
           && memcmp(run.got.data + *pos, cont, sizeof(cont) - 1) == 0) {
        *pos += sizeof(cont) - 1;
    }
}

/* Whether the response at *pos answers a: it must then be complete and right. */
static int response_check(const answer_t *a, size_t *pos)
{
    const char *p = run.got.data + *pos;
    const char *end = run.got.data + run.got.len;
    const char *head_end;
    const char *v;
    char line[32];
    int n;
    uint64_t clen;
    char *cend;

    head_end = find_bytes(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (head_end == NULL) {
        contract_fail("a response without a complete head");
    }
    v = header_value(p, head_end, "x-request-id", &n);
    if (!a->surely_out && !(n == 1 && value_is(v, a->id))) {
        return 0;
    }
    if (n != 1 || !value_is(v, a->id)) {
        contract_fail("responses out of order, or without the request's X-Request-Id");
    }
    if (a->status < 100 || a->status > 599) {
        contract_fail("a status code outside 100-599");
    }
    (void)snprintf(line, sizeof(line), "HTTP/1.%d %d ", a->http_minor == 0 ? 0 : 1, a->status);
    if ((size_t)(head_end - p) < strlen(line) + 1 || memcmp(p, line, strlen(line)) != 0
        || !line_clean(p, find_crlf(p, head_end + 2))) {
        contract_fail("a status line that is not \"HTTP/1.x <code> <reason>\"");
    }
    v = header_value(p, head_end, "content-length", &n);
    if (n != 1 || v == NULL || *v < '0' || *v > '9') {
        contract_fail("a response without exactly one Content-Length");
    }
    clen = strtoull(v, &cend, 10);
    if (*cend != '\r') {
        contract_fail("a malformed Content-Length in a response");
    }
    if (!a->keep_alive && !value_is(header_value(p, head_end, "connection", &n), "close")) {
        contract_fail("a response that ends the connection without \"Connection: close\"");
    }
    p = head_end + 4;
    if (!a->is_head) {
        if (clen > (uint64_t)(end - p)) {
            contract_fail("a response shorter than its Content-Length");
        }
        if (a->refused) {
            int count;
            const char *ctype = header_value(run.got.data + *pos, head_end, "content-type", &count);

            if (a->status < 400
                || (!value_is(ctype, "application/problem+json")
                    && !value_is(ctype, "application/problem+xml"))) {
                contract_fail("a refusal that is not a 4xx/5xx problem document");
            }
            problem_check(ctype, p, (size_t)clen, a->status);
        }
        p += clen;
    } else if (a->refused && a->status < 400) {
        contract_fail("a refusal that is not a 4xx/5xx");
    }
    *pos = (size_t)(p - run.got.data);
    return 1;
}

static void responses_check(void)
{
    size_t pos = 0;
    size_t i;
    int last = 0; /* a response that closes the connection was written */

    for (i = 0; i < run.answer_count; i++) {
        const answer_t *a = &answers[i];

        if (a->refused && a->keep_alive) {
            contract_fail("a refusal that keeps the connection open");
        }
        skip_interim(&pos);
        if (pos == run.got.len) {
            if (a->surely_out) {
                contract_fail("a response the server wrote did not arrive");
            }
            continue;
        }
        if (last) {
            contract_fail("a response after one with \"Connection: close\"");
        }
        if (response_check(a, &pos) && !a->keep_alive) {
            last = 1;
        }
    }
    skip_interim(&pos);
    if (pos != run.got.len) {
        contract_fail("bytes after the last response, or a response for no request");
    }
}

/* ==== Set-up and one input ==== */

static void slot_start(server_slot_t *slot, const char *xml)
{
    cw_config_errors_t errs;
    cw_http_server_options_t opts;
    cw_error_t err;

    cw_config_errors_init(&errs);
    if (cw_config_load_mem(&slot->cfg, "fuzz-http.xml", xml, strlen(xml), &errs) != 0) {
        fprintf(stderr, "fuzz_http: config: %s\n", errs.count > 0 ? errs.lines[0] : "?");
        exit(1);
    }
    cw_config_errors_fini(&errs);
    memset(&opts, 0, sizeof(opts));
    opts.listen = &slot->cfg->listens[0];
    opts.cfg = slot->cfg;
    opts.on_request = on_request;
    opts.on_done = on_done;
    cw_error_clear(&err);
    if (cw_http_server_new(&slot->server, &loop, &opts, &err) != 0) {
        fprintf(stderr, "fuzz_http: cw_http_server_new: %s\n", err.msg);
        exit(1);
    }
    slot->port = cw_http_server_port(slot->server);
}

/* STYLE.md rule 35: the servers, then the loop, must close clean. */
static void teardown(void)
{
    size_t i;

    for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        cw_http_server_close(slots[i].server, 0, NULL, NULL);
    }
    uv_close((uv_handle_t *)&idle, NULL);
    (void)uv_run(&loop, UV_RUN_DEFAULT);
    for (i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
        cw_http_server_free(slots[i].server);
        cw_config_unref(slots[i].cfg);
    }
    if (uv_loop_close(&loop) != 0) {
        setup_fail("the loop did not close clean");
    }
    cw_free(answers);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* What main does before any thread starts (STYLE.md rule 47). */
    xmlInitParser();
    (void)signal(SIGPIPE, SIG_IGN);
    cw_log_set_level(CW_LOG_ERROR);
    if (uv_loop_init(&loop) != 0 || uv_idle_init(&loop, &idle) != 0) {
        setup_fail("uv_loop_init failed");
    }
    slot_start(&slots[0], config_default_xml);
    slot_start(&slots[1], config_tight_xml);
    if (atexit(teardown) != 0) {
        setup_fail("atexit failed");
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const cw_http_metrics_t *m;
    size_t cuts[PIECES_MAX];
    size_t start = 0;
    size_t i;
    size_t j;

    if (size < HEADER_BYTES) {
        return 0;
    }
    memset(&run, 0, sizeof(run));
    run.slot = &slots[data[0] & TIGHT_BIT ? 1 : 0];
    run.defer = (data[0] & DEFER_BIT) != 0;
    run.in = data + HEADER_BYTES;
    run.in_len = size - HEADER_BYTES;
    run.request_lines = count_request_lines(run.in, run.in_len);
    m = cw_http_server_metrics(run.slot->server);
    run.bytes_in_base = m->bytes_in;
    cw_buf_init(&run.got, RECEIVED_MAX);

    for (i = 0; i + 1 < PIECES_MAX; i++) {
        cuts[i] = run.in_len * data[1 + i] / 256u;
    }
    cuts[PIECES_MAX - 1] = run.in_len;
    for (i = 1; i + 1 < PIECES_MAX; i++) { /* sort the three split points */
        for (j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];

            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    }

    run.fd = client_connect(run.slot->port);
    if (uv_poll_init_socket(&loop, &run.poll, run.fd) != 0
        || uv_poll_start(&run.poll, UV_READABLE, on_client_readable) != 0) {
        setup_fail("uv_poll on the client socket failed");
    }
    settle(); /* the server accepts */
    for (i = 0; i < PIECES_MAX && !run.eof; i++) {
        if (cuts[i] > start && send_piece(run.in + start, cuts[i] - start) < 0) {
            break;
        }
        if (cuts[i] > start) {
            start = cuts[i];
        }
    }
    /* The client is done: the server sees EOF and must answer and close
     * without waiting on a timer. */
    (void)shutdown(run.fd, SHUT_WR);
    while (!run.eof) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    while (m->connections_open > 0 || m->requests_in_flight > 0 || run.deferred != NULL) {
        (void)uv_run(&loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&run.poll, NULL);
    (void)uv_run(&loop, UV_RUN_NOWAIT);
    (void)close(run.fd);

    if (run.dispatched > run.request_lines) {
        contract_fail("more requests dispatched than request lines sent");
    }
    responses_check();
    cw_buf_fini(&run.got);
    return 0;
}
