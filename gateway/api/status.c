/*
 * The status and admin API over the message store:
 *   GET  /v1/messages/{id}?from=PARTY        one message (state, attempts, receipts, history)
 *   GET  /v1/messages?state=&to=&since=&limit=&cursor=   a page, newest first (admin)
 *   POST /v1/messages/{id}/retry?from=PARTY  a dead letter back in the queue (admin)
 * On a partner-facing listener a partner may only look at its own messages;
 * the list and retry are on admin listeners only.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

#define STATUS_BODY_MAX (8u * 1024u * 1024u)

/* ==== Query strings ==== */

/*
 * Percent-decodes src (n bytes) into out. Returns 0, or -1 on a bad escape,
 * a NUL byte or an overlong value.
 */
static int url_decode(char *out, size_t size, const char *src, size_t n)
{
    size_t o = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        char c = src[i];

        if (c == '%') {
            int hi = i + 2 < n ? cw_hex_digit(src[i + 1]) : -1;
            int lo = i + 2 < n ? cw_hex_digit(src[i + 2]) : -1;

            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (o + 1 >= size) {
            return -1;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

/* Finds name in the query; 1 found (decoded into out), 0 absent, -1 malformed. */
static int query_get(const char *query, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    const char *p = query;

    while (*p != '\0') {
        size_t len = strcspn(p, "&");

        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            return url_decode(out, size, p + nlen + 1, len - nlen - 1) == 0 ? 1 : -1;
        }
        p += len;
        if (*p == '&') {
            p++;
        }
    }
    return 0;
}

/* "since" is an RFC 3339 instant (2026-11-29T10:00:00Z) or epoch seconds. */
static int parse_since_ms(const char *s, int64_t *out)
{
    uint64_t v;
    int64_t t;

    if (cw_parse_uint(s, 0, 32503680000u, &v) == 0) {
        *out = (int64_t)v * 1000;
        return 0;
    }
    if (cw_time_parse_rfc3339(s, &t) < 0 || t < 0 || t > 32503680000) {
        return -1;
    }
    *out = t * 1000;
    return 0;
}

/* ==== JSON ==== */

static int json_str(cw_buf_t *b, const char *key, const char *value, size_t len)
{
    int rc = 0;

    CW_TRY(cw_buf_appendf(b, "\"%s\":\"", key));
    CW_TRY(cw_buf_append_json_str(b, value != NULL ? value : "", value != NULL ? len : 0));
    CW_TRY(cw_buf_appends(b, "\","));
out:
    return rc;
}

static int json_time(cw_buf_t *b, const char *key, int64_t ms)
{
    char ts[32];

    if (ms <= 0) {
        return cw_buf_appendf(b, "\"%s\":null,", key);
    }
    cw_time_format_utc(ts, sizeof(ts), ms / 1000);
    return cw_buf_appendf(b, "\"%s\":\"%s\",", key, ts);
}

static int render_info(cw_buf_t *b, const cw_store_msg_info_t *m, int full)
{
    static const char hex[] = "0123456789abcdef";
    char digest[2 * CW_STORE_DIGEST_BYTES + 1];
    size_t i;
    int rc = 0;

    for (i = 0; i < CW_STORE_DIGEST_BYTES; i++) {
        digest[2 * i] = hex[m->digest_sha256[i] >> 4];
        digest[2 * i + 1] = hex[m->digest_sha256[i] & 0xf];
    }
    digest[sizeof(digest) - 1] = '\0';
    CW_TRY(cw_buf_appends(b, "{"));
    CW_TRY(json_str(b, "from", m->from, strlen(m->from)));
    CW_TRY(json_str(b, "message_id", m->message_id, strlen(m->message_id)));
    CW_TRY(json_str(b, "to", m->to, strlen(m->to)));
    CW_TRY(json_str(b, "service", m->service, strlen(m->service)));
    CW_TRY(json_str(b, "action", m->action, strlen(m->action)));
    CW_TRY(json_str(b, "conversation_id", m->conversation_id, strlen(m->conversation_id)));
    CW_TRY(json_str(b, "timestamp", m->timestamp, strlen(m->timestamp)));
    CW_TRY(
        json_str(b, "state", cw_store_state_name(m->state), strlen(cw_store_state_name(m->state))));
    CW_TRY(json_str(b, "problem", m->problem, strlen(m->problem)));
    CW_TRY(json_str(b, "route", m->route, strlen(m->route)));
    CW_TRY(cw_buf_appendf(b, "\"attempts\":%u,", (unsigned)m->attempts));
    CW_TRY(json_str(b, "last_error", m->last_error, strlen(m->last_error)));
    CW_TRY(json_time(b, "created_at", m->created_at_ms));
    CW_TRY(json_time(b, "updated_at", m->updated_at_ms));
    CW_TRY(json_time(b, "next_attempt_at", m->next_attempt_at_ms));
    if (full) {
        CW_TRY(cw_buf_appendf(b, "\"received_bytes\":%zu,", m->received_len));
        CW_TRY(json_str(b, "receipt_given", m->receipt_given, m->receipt_given_len));
        CW_TRY(json_str(b, "receipt_received", m->receipt_received, m->receipt_received_len));
        CW_TRY(cw_buf_appends(b, "\"history\":["));
        for (i = 0; i < m->history_count; i++) {
            const cw_store_history_t *h = &m->history[i];

            CW_TRY(cw_buf_appends(b, i == 0 ? "{" : ",{"));
            CW_TRY(json_str(b, "state", cw_store_state_name(h->state),
                            strlen(cw_store_state_name(h->state))));
            CW_TRY(json_str(b, "note", h->note, strlen(h->note)));
            CW_TRY(json_time(b, "at", h->at_ms));
            b->len--; /* the trailing comma */
            CW_TRY(cw_buf_appends(b, "}"));
        }
        CW_TRY(cw_buf_appends(b, "],"));
    }
    CW_TRY(cw_buf_appendf(b, "\"digest_sha256\":\"%s\"}", digest));
out:
    return rc;
}

static void respond_buf(cw_http_request_t *req, int rc, cw_buf_t *b)
{
    if (rc < 0) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_INTERNAL, "cannot render the answer");
    } else {
        (void)cw_http_respond(req, 200, "application/json", NULL, b->data, b->len);
    }
    cw_buf_fini(b);
}

static void respond_store_error(cw_http_request_t *req, int status)
{
    if (status == CW_ENOENT) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_NOT_FOUND, "no such message");
    } else {
        (void)cw_http_respond_problem_ex(req, CW_PROBLEM_UNAVAILABLE, "the message store failed",
                                         "Retry-After: 5\r\n");
    }
}

/* ==== Handlers ==== */

static void on_got(int status, const cw_store_msg_info_t *info, void *arg)
{
    cw_http_request_t *req = arg;
    cw_buf_t b;

    if (status < 0) {
        respond_store_error(req, status);
        return;
    }
    cw_buf_init(&b, STATUS_BODY_MAX);
    status = render_info(&b, info, 1);
    if (status == 0) {
        status = cw_buf_appends(&b, "\n");
    }
    respond_buf(req, status, &b);
}

static void on_listed(int status, const cw_store_page_t *page, void *arg)
{
    cw_http_request_t *req = arg;
    cw_buf_t b;
    size_t i;
    int rc = 0;

    if (status < 0) {
        respond_store_error(req, status);
        return;
    }
    cw_buf_init(&b, STATUS_BODY_MAX);
    CW_TRY(cw_buf_appends(&b, "{\"messages\":["));
    for (i = 0; i < page->count; i++) {
        if (i > 0) {
            CW_TRY(cw_buf_appends(&b, ","));
        }
        CW_TRY(render_info(&b, &page->items[i], 0));
    }
    CW_TRY(cw_buf_appends(&b, "],\"next_cursor\":"));
    if (page->next_cursor != NULL) {
        CW_TRY(cw_buf_appends(&b, "\""));
        CW_TRY(cw_buf_append_json_str(&b, page->next_cursor, strlen(page->next_cursor)));
        CW_TRY(cw_buf_appends(&b, "\"}\n"));
    } else {
        CW_TRY(cw_buf_appends(&b, "null}\n"));
    }
out:
    respond_buf(req, rc, &b);
}

typedef struct retry_ctx {
    cw_api_t *api;
    cw_http_request_t *req;
} retry_ctx_t;

static void on_retried(int status, void *arg)
{
    retry_ctx_t *ctx = arg;
    cw_http_request_t *req = ctx->req;

    if (status == 0) {
        cw_pipeline_kick(ctx->api->pipeline);
        (void)cw_http_respond(req, 200, "application/json", NULL, "{\"state\":\"queued\"}\n", 19);
    } else if (status == CW_EPERM) {
        (void)cw_http_respond_problem_slug(req, 409, "not-retryable", "Not retryable",
                                           "only a failed (dead-lettered) message can be retried");
    } else {
        respond_store_error(req, status);
    }
}

/* Splits "/v1/messages/{id}[/retry]" into the decoded id; 1 ok, 0 no match, -1 bad. */
static int message_path(const char *path, char *id, size_t size, int *retry)
{
    static const char prefix[] = "/v1/messages/";
    const char *p;
    const char *slash;
    size_t n;

    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0) {
        return 0;
    }
    p = path + sizeof(prefix) - 1;
    slash = strchr(p, '/');
    *retry = 0;
    n = slash != NULL ? (size_t)(slash - p) : strlen(p);
    if (slash != NULL) {
        if (strcmp(slash, "/retry") != 0) {
            return 0;
        }
        *retry = 1;
    }
    if (n == 0 || url_decode(id, size, p, n) < 0) {
        return -1;
    }
    return 1;
}

static int store_ready(cw_api_t *api, cw_http_request_t *req)
{
    if (cw_pipeline_store(api->pipeline) == NULL) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE, "this node has no store");
        return 0;
    }
    return 1;
}

static int messages_route(cw_api_t *api, cw_http_request_t *req);

/* ==== /v1/stats ==== */

static const char *const group_names[] = {
    [CW_STORE_GROUP_DESTINATION] = "destination",
    [CW_STORE_GROUP_LANE] = "lane",
    [CW_STORE_GROUP_CODE] = "code",
    [CW_STORE_GROUP_SENDER] = "sender",
    [CW_STORE_GROUP_COLLECTION] = "collection",
};

typedef struct stats_ctx {
    cw_http_request_t *req;
    cw_store_stats_query_t q;
} stats_ctx_t;

static void on_stats(int status, const cw_store_tallies_t *t, void *arg)
{
    stats_ctx_t *ctx = arg;
    char from[32];
    char to[32];
    cw_buf_t b;
    size_t i;
    int rc = 0;

    if (status < 0) {
        respond_store_error(ctx->req, status);
        return;
    }
    cw_time_format_utc(from, sizeof(from), ctx->q.from_ms / 1000);
    cw_time_format_utc(to, sizeof(to), ctx->q.to_ms / 1000);
    cw_buf_init(&b, STATUS_BODY_MAX);
    CW_TRY(cw_buf_appendf(&b, "{\"from\":\"%s\",\"to\":\"%s\",\"group_by\":\"%s\",\"groups\":[",
                          from, to, group_names[ctx->q.group_by]));
    for (i = 0; i < t->count; i++) {
        const cw_store_tally_t *x = &t->items[i];

        CW_TRY(cw_buf_appends(&b, i == 0 ? "{\"group\":\"" : ",{\"group\":\""));
        CW_TRY(cw_buf_append_json_str(&b, x->group, strlen(x->group)));
        CW_TRY(cw_buf_appends(&b, "\",\"currency\":\""));
        CW_TRY(cw_buf_append_json_str(&b, x->currency, strlen(x->currency)));
        CW_TRY(cw_buf_appendf(
            &b,
            "\",\"consignments\":%llu,\"declared_minor\":%lld,"
            "\"duty_minor\":%lld,\"tax_minor\":%lld,\"due_at_border_minor\":%lld}",
            (unsigned long long)x->count, (long long)x->declared_minor, (long long)x->duty_minor,
            (long long)x->tax_minor, (long long)x->due_minor));
    }
    CW_TRY(cw_buf_appends(&b, "]}\n"));
out:
    respond_buf(ctx->req, rc, &b);
}

static void stats_route(cw_api_t *api, cw_http_request_t *req)
{
    stats_ctx_t *ctx;
    char value[64];
    size_t i;
    int rc;

    if (req->listen_kind != CW_LISTEN_ADMIN) {
        (void)cw_http_respond_problem_slug(req, 403, "not-authorized", "Not authorized",
                                           "statistics are on the admin listener");
        return;
    }
    if (!store_ready(api, req)) {
        return;
    }
    ctx = cw_pool_alloc(req->pool, sizeof(*ctx));
    if (ctx == NULL) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE, "out of memory");
        return;
    }
    ctx->req = req;
    ctx->q.from_ms = 0;
    ctx->q.to_ms = cw_store_clock_ms() + 1;
    ctx->q.group_by = CW_STORE_GROUP_DESTINATION;
    if ((query_get(req->query, "from", value, sizeof(value)) == 1
         && parse_since_ms(value, &ctx->q.from_ms) < 0)
        || (query_get(req->query, "to", value, sizeof(value)) == 1
            && parse_since_ms(value, &ctx->q.to_ms) < 0)) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_BAD_REQUEST,
                                      "from and to are 2026-11-29T10:00:00Z or epoch seconds");
        return;
    }
    if (query_get(req->query, "group_by", value, sizeof(value)) == 1) {
        for (i = 0; i < CW_ARRAY_SIZE(group_names); i++) {
            if (strcmp(value, group_names[i]) == 0) {
                break;
            }
        }
        if (i == CW_ARRAY_SIZE(group_names)) {
            (void)cw_http_respond_problem(req, CW_PROBLEM_BAD_REQUEST,
                                          "group_by is destination, lane, code, sender or "
                                          "collection");
            return;
        }
        ctx->q.group_by = (cw_store_group_e)i;
    }
    rc = cw_store_stats_query(cw_pipeline_store(api->pipeline), &ctx->q, on_stats, ctx);
    if (rc < 0) {
        respond_store_error(req, rc);
    }
}

/* A 405 is a problem document like every other error (docs/http.md), with
 * the Allow header RFC 9110 §15.5.6 requires; the detail is api.c's. */
static void respond_method_not_allowed(cw_http_request_t *req, const char *allow_header)
{
    (void)cw_http_respond_problem_ex(req, CW_PROBLEM_METHOD_NOT_ALLOWED,
                                     "this resource does not support the method", allow_header);
}

int cw_api__status_route(cw_api_t *api, cw_http_request_t *req)
{
    static const char inbound[] = "/v1/inbound/";

    if (strncmp(req->path, inbound, sizeof(inbound) - 1) == 0) {
        const char *name = req->path + sizeof(inbound) - 1;

        req->route = "/v1/inbound/{adapter}";
        if (strcmp(req->method, "POST") != 0) {
            respond_method_not_allowed(req, "Allow: POST\r\n");
        } else if (name[0] == '\0' || strlen(name) > 63 || strchr(name, '/') != NULL) {
            (void)cw_http_respond_problem(req, CW_PROBLEM_NOT_FOUND, "no such adapter");
        } else {
            cw_api__inbound_submit(api, req, name);
        }
        return 1;
    }
    if (strcmp(req->path, "/v1/stats") == 0) {
        req->route = "/v1/stats";
        if (strcmp(req->method, "GET") != 0) {
            respond_method_not_allowed(req, "Allow: GET\r\n");
            return 1;
        }
        stats_route(api, req);
        return 1;
    }
    return messages_route(api, req);
}

static int messages_route(cw_api_t *api, cw_http_request_t *req)
{
    char id[256];
    char from[256];
    int retry = 0;
    int m;
    int rc;

    if (strcmp(req->path, "/v1/messages") == 0 && strcmp(req->method, "GET") == 0) {
        req->route = "/v1/messages (list)";
        cw_api__status_list(api, req);
        return 1;
    }
    m = message_path(req->path, id, sizeof(id), &retry);
    if (m == 0) {
        return 0;
    }
    req->route = retry ? "/v1/messages/{id}/retry" : "/v1/messages/{id}";
    if (m < 0 || query_get(req->query, "from", from, sizeof(from)) != 1 || from[0] == '\0') {
        (void)cw_http_respond_problem(req, CW_PROBLEM_BAD_REQUEST,
                                      "give the message id in the path and ?from=PARTY");
        return 1;
    }
    if (strcmp(req->method, retry ? "POST" : "GET") != 0) {
        respond_method_not_allowed(req, retry ? "Allow: POST\r\n" : "Allow: GET\r\n");
        return 1;
    }
    if (req->listen_kind != CW_LISTEN_ADMIN && (retry || strcmp(from, req->peer_party) != 0)) {
        /* Partners see their own messages (From = their TLS identity). */
        (void)cw_http_respond_problem_slug(req, 403, "not-authorized", "Not authorized",
                                           retry ? "retry is an admin operation"
                                                 : "a partner may look only at its own messages");
        return 1;
    }
    if (!store_ready(api, req)) {
        return 1;
    }
    if (retry) {
        retry_ctx_t *ctx = cw_pool_alloc(req->pool, sizeof(*ctx));

        if (ctx == NULL) {
            (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE, "out of memory");
            return 1;
        }
        ctx->api = api;
        ctx->req = req;
        rc = cw_store_msg_retry(cw_pipeline_store(api->pipeline), from, id, cw_store_clock_ms(),
                                on_retried, ctx);
    } else {
        rc = cw_store_msg_get(cw_pipeline_store(api->pipeline), from, id, on_got, req);
    }
    if (rc < 0) {
        respond_store_error(req, rc);
    }
    return 1;
}

void cw_api__status_list(cw_api_t *api, cw_http_request_t *req)
{
    cw_store_filter_t filter = { 0 };
    char state[256];
    char to[256];
    char since[64];
    char limit[16];
    char cursor[CW_STORE_CURSOR_SIZE * 2];
    uint64_t n;
    int rc;

    if (req->listen_kind != CW_LISTEN_ADMIN) {
        (void)cw_http_respond_problem_slug(req, 403, "not-authorized", "Not authorized",
                                           "listing messages is an admin operation");
        return;
    }
    if (!store_ready(api, req)) {
        return;
    }
    if (query_get(req->query, "state", state, sizeof(state)) == 1) {
        char *p = state;

        while (*p != '\0') {
            size_t len = strcspn(p, ",");
            char save = p[len];
            cw_store_state_e s;

            p[len] = '\0';
            if (cw_store_state_parse(p, &s) < 0) {
                (void)cw_http_respond_problem(req, CW_PROBLEM_BAD_REQUEST,
                                              "state is one or more of received, queued, "
                                              "delivered, failed, rejected");
                return;
            }
            filter.states_mask |= 1u << s;
            p[len] = save;
            p += len + (save == ',' ? 1 : 0);
        }
    }
    if (query_get(req->query, "to", to, sizeof(to)) == 1) {
        filter.to = to;
    }
    if (query_get(req->query, "since", since, sizeof(since)) == 1
        && parse_since_ms(since, &filter.since_ms) < 0) {
        (void)cw_http_respond_problem(
            req, CW_PROBLEM_BAD_REQUEST,
            "since is an RFC 3339 instant (2026-11-29T10:00:00Z) or epoch seconds");
        return;
    }
    if (query_get(req->query, "limit", limit, sizeof(limit)) == 1) {
        if (cw_parse_uint(limit, 1, CW_STORE_LIST_MAX, &n) < 0) {
            (void)cw_http_respond_problem(req, CW_PROBLEM_BAD_REQUEST, "limit is 1 to 1000");
            return;
        }
        filter.limit = (uint32_t)n;
    }
    if (query_get(req->query, "cursor", cursor, sizeof(cursor)) == 1) {
        filter.cursor = cursor;
    }
    rc = cw_store_msg_list(cw_pipeline_store(api->pipeline), &filter, on_listed, req);
    if (rc == CW_EINVAL) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_BAD_REQUEST, "malformed cursor");
    } else if (rc < 0) {
        respond_store_error(req, rc);
    }
}
