/*
 * GET /dashboard: one server-rendered HTML page for the operator, on admin
 * listeners only (DESIGN.md, Operations; docs/operations.md, "Dashboard").
 *
 * The page shows the node, the message flow since the start (what
 * /metrics counts: requests, intake, deliveries by route), the messages in
 * the store by state, and the measurement figures of the ledger for the
 * last 24 hours and 30 days by lane and by destination (what /v1/stats
 * sums), and the trust snapshot's certificates with their days left. The store is read in a chain
 * of asynchronous reads, one at a time, each copying what the page needs into the request's pool;
 * the page is rendered when the last one answers.
 *
 * A read that fails leaves its section saying so and the page is still
 * 200: what the node knows in memory (readiness, requests, deliveries) is
 * what an operator needs most when the store is failing, and /readyz is
 * what a probe watches. The page has no script, loads nothing and allows
 * only its own inline style; every string that comes from the store or
 * the config goes through html_str.
 */
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

/* The page's hard size: the tables below are capped, so it never comes near. */
#define DASH_BODY_MAX (1024u * 1024u)
/* Rows one table shows; the rest are counted in an "N more" line. */
#define DASH_ROWS_MAX 50u
#define DASH_DAY_MS   (24 * 60 * 60 * 1000LL)

static const char dash_headers[] =
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n"
    "X-Content-Type-Options: nosniff\r\n"
    "Cache-Control: no-store\r\n";

/* ==== The reads ==== */

/* The ledger's tables, in the order they are read (after the counts). */
typedef enum dash_table_e {
    DASH_DAY_LANE = 0,
    DASH_DAY_DESTINATION = 1,
    DASH_MONTH_LANE = 2,
    DASH_MONTH_DESTINATION = 3,
    DASH_TABLES = 4
} dash_table_e;

typedef struct dash_table {
    int status;                           /* 0, or the CW_E* the read failed with */
    cw_store_tally_t rows[DASH_ROWS_MAX]; /* the first rows; strings in the request's pool */
    size_t count;                         /* rows kept */
    size_t total;                         /* rows the store answered */
} dash_table_t;

typedef struct dash_ctx {
    cw_api_t *api;
    cw_http_request_t *req;
    int64_t now_ms;                   /* the clock every window ends at */
    size_t step;                      /* 0: the counts; 1 + dash_table_e: a table */
    int counts_status;                /* 0, or the CW_E* the count failed with */
    cw_store_state_counts_t counts;   /* messages by state */
    dash_table_t tables[DASH_TABLES]; /* by dash_table_e */
} dash_ctx_t;

#define DASH_STEPS (1 + DASH_TABLES)

static void dash_render(dash_ctx_t *ctx);
static void dash_next(dash_ctx_t *ctx);

static void on_counts(int status, const cw_store_state_counts_t *counts, void *arg)
{
    dash_ctx_t *ctx = arg;

    ctx->counts_status = status;
    if (status == 0) {
        ctx->counts = *counts;
    }
    ctx->step++;
    dash_next(ctx);
}

static void on_tallies(int status, const cw_store_tallies_t *t, void *arg)
{
    dash_ctx_t *ctx = arg;
    dash_table_t *tab = &ctx->tables[ctx->step - 1];
    size_t i;

    tab->status = status;
    if (status == 0) {
        tab->total = t->count;
        for (i = 0; i < t->count && i < DASH_ROWS_MAX; i++) {
            cw_store_tally_t *row = &tab->rows[i];

            *row = t->items[i];
            row->group = cw_pool_strndup(ctx->req->pool, row->group, strlen(row->group));
            row->currency = cw_pool_strndup(ctx->req->pool, row->currency, strlen(row->currency));
            if (row->group == NULL || row->currency == NULL) {
                tab->status = CW_ENOMEM;
                break;
            }
            tab->count++;
        }
    }
    ctx->step++;
    dash_next(ctx);
}

/* The store attached now, or NULL (a node without one, or shutting down). */
static cw_store_t *dash_store(const cw_api_t *api)
{
    return api->pipeline != NULL ? cw_pipeline_store(api->pipeline) : NULL;
}

/* Submits the read of the current step: 0, or the CW_E* it was refused with. */
static int dash_submit(dash_ctx_t *ctx, cw_store_t *store)
{
    static const cw_store_group_e group[DASH_TABLES] = {
        CW_STORE_GROUP_LANE,
        CW_STORE_GROUP_DESTINATION,
        CW_STORE_GROUP_LANE,
        CW_STORE_GROUP_DESTINATION,
    };
    static const int64_t days[DASH_TABLES] = { 1, 1, 30, 30 };
    cw_store_stats_query_t q;
    size_t t;

    if (store == NULL) {
        return CW_ECLOSED;
    }
    if (ctx->step == 0) {
        return cw_store_msg_count(store, on_counts, ctx);
    }
    t = ctx->step - 1;
    /* As /v1/stats: the window ends just after now, so a consignment
     * accepted this millisecond is in it. */
    q.from_ms = ctx->now_ms - days[t] * DASH_DAY_MS;
    q.to_ms = ctx->now_ms + 1;
    q.group_by = group[t];
    return cw_store_stats_query(store, &q, on_tallies, ctx);
}

/* Runs the chain on from the current step; renders after the last one. A
 * read refused at once (the store closing) fails its section only. */
static void dash_next(dash_ctx_t *ctx)
{
    while (ctx->step < DASH_STEPS) {
        cw_store_t *store = dash_store(ctx->api);
        int rc = dash_submit(ctx, store);

        if (rc == 0) {
            return;
        }
        if (ctx->step == 0) {
            ctx->counts_status = rc;
        } else {
            ctx->tables[ctx->step - 1].status = rc;
        }
        ctx->step++;
    }
    dash_render(ctx);
}

/* ==== HTML ==== */

/* Appends s with the characters that are markup in text and in quoted
 * attribute values replaced by character references: & < > " '. */
static int html_str(cw_buf_t *b, const char *s)
{
    const char *run = s;
    const char *p;
    int rc = 0;

    for (p = s; *p != '\0'; p++) {
        const char *ref;

        switch (*p) {
        case '&':
            ref = "&amp;";
            break;
        case '<':
            ref = "&lt;";
            break;
        case '>':
            ref = "&gt;";
            break;
        case '"':
            ref = "&quot;";
            break;
        case '\'':
            ref = "&#39;";
            break;
        default:
            continue;
        }
        CW_TRY(cw_buf_append(b, run, (size_t)(p - run)));
        CW_TRY(cw_buf_appends(b, ref));
        run = p + 1;
    }
    CW_TRY(cw_buf_append(b, run, (size_t)(p - run)));
out:
    return rc;
}

/* A row of name and value (the value escaped). */
static int html_kv(cw_buf_t *b, const char *name, const char *value)
{
    int rc = 0;

    CW_TRY(cw_buf_appendf(b, "<tr><th>%s</th><td>", name));
    CW_TRY(html_str(b, value));
    CW_TRY(cw_buf_appends(b, "</td></tr>\n"));
out:
    return rc;
}

/* The line under a table cut at DASH_ROWS_MAX rows. */
static int html_more(cw_buf_t *b, size_t shown, size_t total)
{
    if (total <= shown) {
        return 0;
    }
    return cw_buf_appendf(b, "<p class=\"more\">%zu more not shown</p>\n", total - shown);
}

/* A section the store could not give. */
static int html_unread(cw_buf_t *b, int status)
{
    return cw_buf_appendf(b,
                          "<p class=\"bad\">The store could not be read (%s); the rest of "
                          "the page is current.</p>\n",
                          cw_strerror(status));
}

static const char dash_style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}"
    "h3{font-size:1em}table{border-collapse:collapse;margin:.4em 0}"
    "th,td{border:1px solid #ddd;padding:.2em .6em;text-align:left}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}"
    "thead th{background:#f3f3f3}.ok{color:#060}.bad{color:#a00;font-weight:bold}"
    ".more,.note{color:#666}";

/* ==== Sections ==== */

/* Why the node is not ready, as /readyz decides it; NULL when it is. */
static const char *not_ready_reason(cw_api_readiness_e r)
{
    switch (r) {
    case CW_API_READY:
        return NULL;
    case CW_API_DRAINING:
        return "draining";
    case CW_API_STORE_BROKEN:
        return "store broken (a WAL flush failed; restart clearwayd)";
    case CW_API_STORE_UNREACHABLE:
        return "store unreachable (PostgreSQL server)";
    }
    return "unknown";
}

static int render_node(const dash_ctx_t *ctx, cw_buf_t *b)
{
    const cw_api_t *api = ctx->api;
    const cw_config_t *cfg = ctx->req->cfg;
    const char *why = not_ready_reason(cw_api__readiness(api));
    int64_t up_s = ctx->now_ms / 1000 - api->started_s;
    char started[32];
    char now[32];
    char uptime[64];
    int rc = 0;

    if (up_s < 0) {
        up_s = 0;
    }
    cw_time_format_utc(started, sizeof(started), api->started_s);
    cw_time_format_utc(now, sizeof(now), ctx->now_ms / 1000);
    (void)snprintf(uptime, sizeof(uptime), "%lldd %02lld:%02lld:%02lld", (long long)(up_s / 86400),
                   (long long)(up_s / 3600 % 24), (long long)(up_s / 60 % 60),
                   (long long)(up_s % 60));
    CW_TRY(cw_buf_appends(b, "<h2>Node</h2>\n<table>\n"));
    CW_TRY(html_kv(b, "id", cfg->node_id));
    CW_TRY(html_kv(b, "version", CW_VERSION));
    CW_TRY(html_kv(b, "started", started));
    CW_TRY(html_kv(b, "uptime", uptime));
    if (why == NULL) {
        CW_TRY(cw_buf_appends(b, "<tr><th>ready</th><td class=\"ok\">ready</td></tr>\n"));
    } else {
        CW_TRY(cw_buf_appends(b, "<tr><th>ready</th><td class=\"bad\">not ready: "));
        CW_TRY(html_str(b, why));
        CW_TRY(cw_buf_appends(b, "</td></tr>\n"));
    }
    /* The kind only: a PostgreSQL URL may hold a password. */
    CW_TRY(html_kv(b, "store",
                   dash_store(api) == NULL                      ? "none"
                   : cw_store_path_is_postgres(cfg->store.path) ? "PostgreSQL"
                                                                : "SQLite"));
    CW_TRY(html_kv(b, "page rendered", now));
    CW_TRY(cw_buf_appends(b, "</table>\n"));
out:
    return rc;
}

/* Answers on route (NULL: every route) by status class: out[c] for c = 1..5, out[0] for
 * a status outside 100..599. */
static void requests_by_class(const cw_api_t *api, const char *route, uint64_t out[6])
{
    size_t i;

    memset(out, 0, 6 * sizeof(out[0]));
    for (i = 0; i < api->series_count; i++) {
        const cw_api_series_t *s = &api->series[i];
        int cls = s->status / 100;

        if (route != NULL && strcmp(s->route, route) != 0) {
            continue;
        }
        out[cls >= 1 && cls <= 5 ? cls : 0] += s->count;
    }
}

static int render_requests(const dash_ctx_t *ctx, cw_buf_t *b)
{
    static const struct {
        const char *route; /* a route label of api.c and status.c; NULL: all */
        const char *name;
    } rows[] = {
        { NULL, "all requests" },
        { "/v1/messages", "POST /v1/messages (signed envelopes)" },
        { "/v1/inbound/{adapter}", "POST /v1/inbound/{adapter} (native documents)" },
    };
    const cw_api_t *api = ctx->api;
    uint64_t n[6];
    size_t i;
    int rc = 0;

    CW_TRY(cw_buf_appends(b, "<h3>Requests answered since the start, by status class</h3>\n"
                             "<table><thead><tr><th></th><th>2xx</th><th>3xx</th><th>4xx</th>"
                             "<th>5xx</th><th>total</th></tr></thead>\n"));
    for (i = 0; i < CW_ARRAY_SIZE(rows); i++) {
        requests_by_class(api, rows[i].route, n);
        CW_TRY(cw_buf_appendf(b,
                              "<tr><th>%s</th><td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
                              "<td class=\"n\">%llu</td><td class=\"n\">%llu</td>"
                              "<td class=\"n\">%llu</td></tr>\n",
                              rows[i].name, (unsigned long long)n[2], (unsigned long long)n[3],
                              (unsigned long long)n[4], (unsigned long long)n[5],
                              (unsigned long long)(n[0] + n[1] + n[2] + n[3] + n[4] + n[5])));
    }
    CW_TRY(cw_buf_appends(b, "</table>\n"));
    if (api->series_dropped > 0) {
        CW_TRY(cw_buf_appendf(b,
                              "<p class=\"more\">%llu more answers not classified (too many "
                              "route and status pairs)</p>\n",
                              (unsigned long long)api->series_dropped));
    }
    CW_TRY(cw_buf_appendf(
        b,
        "<p class=\"note\">Intake: 2xx accepted (or a duplicate answered with its original "
        "receipt), 4xx refused, 5xx not taken (the sender retries). Now: %zu CPU jobs queued or "
        "running, %zu inbound documents waiting for a worker.</p>\n",
        api->pipeline != NULL ? cw_pipeline_in_flight(api->pipeline) : 0,
        api->pipeline != NULL ? cw_pipeline_inbound_waiting(api->pipeline) : 0));
out:
    return rc;
}

static int render_routes(const dash_ctx_t *ctx, cw_buf_t *b)
{
    const cw_egress_t *eg =
        ctx->api->pipeline != NULL ? cw_pipeline_egress(ctx->api->pipeline) : NULL;
    cw_egress_route_stats_t st;
    size_t count;
    size_t i;
    int rc = 0;

    CW_TRY(cw_buf_appends(b, "<h3>Deliveries by route</h3>\n"));
    if (eg == NULL) {
        return cw_buf_appends(b, "<p class=\"note\">This node has no routes.</p>\n");
    }
    CW_TRY(cw_buf_appendf(b, "<p>Delivery is %s.</p>\n",
                          cw_egress_paused_get(eg)
                              ? "<span class=\"bad\">paused</span> (messages are queued, "
                                "none is sent)"
                              : "<span class=\"ok\">running</span>"));
    count = cw_egress_route_count(eg);
    CW_TRY(cw_buf_appends(b, "<table><thead><tr><th>route</th><th>in flight</th>"
                             "<th>window</th><th>concurrency</th><th>delivered</th>"
                             "<th>retry</th><th>failed</th></tr></thead>\n"));
    for (i = 0; i < count && i < DASH_ROWS_MAX; i++) {
        cw_egress_route_stats_get(eg, i, &st);
        CW_TRY(cw_buf_appends(b, "<tr><td>"));
        CW_TRY(html_str(b, st.route));
        CW_TRY(cw_buf_appendf(b,
                              "</td><td class=\"n\">%u</td><td class=\"n\">%u</td>"
                              "<td class=\"n\">%u</td><td class=\"n\">%llu</td>"
                              "<td class=\"n\">%llu</td><td class=\"n\">%llu</td></tr>\n",
                              (unsigned)st.in_flight, (unsigned)st.limit, (unsigned)st.concurrency,
                              (unsigned long long)st.delivered, (unsigned long long)st.retried,
                              (unsigned long long)st.dead_lettered));
    }
    CW_TRY(cw_buf_appends(b, "</table>\n"));
    CW_TRY(html_more(b, i, count));
    CW_TRY(cw_buf_appends(b, "<p class=\"note\">Attempts since the start, by how each ended "
                             "(retry: another attempt is due; failed: a dead letter).</p>\n"));
out:
    return rc;
}

/* Certificates closer to their end than this are shown as a problem. */
#define DASH_CERT_WARN_DAYS 30

typedef struct dash_certs {
    const dash_ctx_t *ctx;
    cw_buf_t *b;
    size_t shown;
    size_t total;
} dash_certs_t;

static int render_cert_row(const cw_sec_cert_info_t *c, void *arg)
{
    dash_certs_t *dc = arg;
    cw_buf_t *b = dc->b;
    int64_t left_s = c->not_after_s - dc->ctx->now_ms / 1000;
    /* Whole days left, rounded down (an expired one is negative). */
    int64_t days = left_s >= 0 ? left_s / 86400 : -((-left_s + 86399) / 86400);
    char until[32];
    int rc = 0;

    if (dc->total++ >= DASH_ROWS_MAX) {
        return 0;
    }
    dc->shown++;
    cw_time_format_utc(until, sizeof(until), c->not_after_s);
    CW_TRY(cw_buf_appends(b, "<tr><td>"));
    CW_TRY(html_str(b, c->party));
    CW_TRY(cw_buf_appendf(b, "</td><td>%s</td><td>%s</td><td class=\"n%s\">%lld</td><td>", c->role,
                          until, left_s < (int64_t)DASH_CERT_WARN_DAYS * 86400 ? " bad" : "",
                          (long long)days));
    CW_TRY(html_str(b, c->path));
    CW_TRY(cw_buf_appends(b, "</td></tr>\n"));
out:
    return rc;
}

/* The certificates of the trust snapshot in force, with the days left. */
static int render_certs(const dash_ctx_t *ctx, cw_buf_t *b)
{
    const cw_sec_keys_t *keys =
        ctx->api->pipeline != NULL ? cw_pipeline_keys(ctx->api->pipeline) : NULL;
    dash_certs_t dc = { ctx, b, 0, 0 };
    int rc = 0;

    CW_TRY(cw_buf_appends(b, "<h2>Certificates</h2>\n"));
    if (keys == NULL) {
        return cw_buf_appends(b, "<p class=\"note\">No trust snapshot loaded.</p>\n");
    }
    CW_TRY(cw_buf_appends(b, "<table><thead><tr><th>party</th><th>role</th><th>not after</th>"
                             "<th>days left</th><th>file</th></tr></thead>\n"));
    CW_TRY(cw_sec_keys_certs_each(keys, render_cert_row, &dc));
    CW_TRY(cw_buf_appends(b, "</table>\n"));
    CW_TRY(html_more(b, dc.shown, dc.total));
    CW_TRY(cw_buf_appendf(b,
                          "<p class=\"note\">The node's signing certificate, the partners', "
                          "and the TLS certificates of the listeners and routes (fewer than %d "
                          "days left in red; one that cannot be read shows 1970).</p>\n",
                          DASH_CERT_WARN_DAYS));
out:
    return rc;
}

static int render_states(const dash_ctx_t *ctx, cw_buf_t *b)
{
    size_t i;
    int rc = 0;

    CW_TRY(cw_buf_appends(b, "<h2>Messages in the store, by state</h2>\n"));
    if (ctx->counts_status < 0) {
        return html_unread(b, ctx->counts_status);
    }
    CW_TRY(cw_buf_appends(b, "<table><thead><tr><th>state</th><th>messages</th></tr>"
                             "</thead>\n"));
    for (i = 0; i < CW_STORE_STATE_COUNT; i++) {
        CW_TRY(cw_buf_appendf(b, "<tr><td>%s</td><td class=\"n\">%llu</td></tr>\n",
                              cw_store_state_name((cw_store_state_e)i),
                              (unsigned long long)ctx->counts.n[i]));
    }
    CW_TRY(cw_buf_appendf(b, "<tr><th>total</th><td class=\"n\">%llu</td></tr>\n</table>\n",
                          (unsigned long long)ctx->counts.total));
out:
    return rc;
}

/* One amount cell: minor units shown in major units with the currency's
 * ISO 4217 digits. */
static int html_amount(cw_buf_t *b, int64_t minor, const char *currency)
{
    char v[48];

    cw_checks_money_format(v, sizeof(v), minor, cw_checks_currency_exponent(currency));
    return cw_buf_appendf(b, "<td class=\"n\">%s</td>", v);
}

static int render_table(const dash_table_t *tab, const char *title, const char *dim, cw_buf_t *b)
{
    size_t i;
    int rc = 0;

    CW_TRY(cw_buf_appendf(b, "<h3>%s</h3>\n", title));
    if (tab->status < 0) {
        return html_unread(b, tab->status);
    }
    if (tab->total == 0) {
        return cw_buf_appends(b, "<p class=\"note\">No consignment assessed.</p>\n");
    }
    CW_TRY(cw_buf_appendf(b,
                          "<table><thead><tr><th>%s</th><th>currency</th><th>consignments</th>"
                          "<th>declared value</th><th>duty</th><th>tax</th>"
                          "<th>due at border</th></tr></thead>\n",
                          dim));
    for (i = 0; i < tab->count; i++) {
        const cw_store_tally_t *x = &tab->rows[i];

        CW_TRY(cw_buf_appends(b, "<tr><td>"));
        CW_TRY(html_str(b, x->group));
        CW_TRY(cw_buf_appends(b, "</td><td>"));
        CW_TRY(html_str(b, x->currency));
        CW_TRY(cw_buf_appendf(b, "</td><td class=\"n\">%llu</td>", (unsigned long long)x->count));
        CW_TRY(html_amount(b, x->declared_minor, x->currency));
        CW_TRY(html_amount(b, x->duty_minor, x->currency));
        CW_TRY(html_amount(b, x->tax_minor, x->currency));
        CW_TRY(html_amount(b, x->due_minor, x->currency));
        CW_TRY(cw_buf_appends(b, "</tr>\n"));
    }
    CW_TRY(cw_buf_appends(b, "</table>\n"));
    CW_TRY(html_more(b, tab->count, tab->total));
out:
    return rc;
}

static int render_figures(const dash_ctx_t *ctx, cw_buf_t *b)
{
    int rc = 0;

    CW_TRY(cw_buf_appends(b, "<h2>Measurement figures (the ledger)</h2>\n"));
    if (ctx->req->cfg->rules_path[0] == '\0') {
        CW_TRY(cw_buf_appends(b, "<p class=\"note\">The facilitation core is off (no "
                                 "&lt;rules&gt;): nothing new is assessed.</p>\n"));
    }
    CW_TRY(render_table(&ctx->tables[DASH_DAY_LANE], "Last 24 hours, by lane", "lane", b));
    CW_TRY(render_table(&ctx->tables[DASH_DAY_DESTINATION], "Last 24 hours, by destination",
                        "destination", b));
    CW_TRY(render_table(&ctx->tables[DASH_MONTH_LANE], "Last 30 days, by lane", "lane", b));
    CW_TRY(render_table(&ctx->tables[DASH_MONTH_DESTINATION], "Last 30 days, by destination",
                        "destination", b));
    CW_TRY(cw_buf_appends(b, "<p class=\"note\">Sums per currency (the destination "
                             "profile's), in its major units; the same figures as "
                             "/v1/stats.</p>\n"));
out:
    return rc;
}

static int render_page(const dash_ctx_t *ctx, cw_buf_t *b)
{
    int rc = 0;

    CW_TRY(cw_buf_appends(b,
                          "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                          "<meta http-equiv=\"refresh\" content=\"15\">\n<title>"));
    CW_TRY(html_str(b, ctx->req->cfg->node_id));
    CW_TRY(cw_buf_appendf(b,
                          ": Clearway dashboard</title>\n<style>%s</style>\n</head>\n<body>\n"
                          "<h1>Clearway node ",
                          dash_style));
    CW_TRY(html_str(b, ctx->req->cfg->node_id));
    CW_TRY(cw_buf_appends(b, "</h1>\n"));
    CW_TRY(render_node(ctx, b));
    CW_TRY(cw_buf_appends(b, "<h2>Message flow</h2>\n"));
    CW_TRY(render_requests(ctx, b));
    CW_TRY(render_routes(ctx, b));
    CW_TRY(render_states(ctx, b));
    CW_TRY(render_figures(ctx, b));
    CW_TRY(render_certs(ctx, b));
    CW_TRY(cw_buf_appends(b, "</body>\n</html>\n"));
out:
    return rc;
}

static void dash_render(dash_ctx_t *ctx)
{
    cw_buf_t b;

    cw_buf_init(&b, DASH_BODY_MAX);
    if (render_page(ctx, &b) < 0) {
        (void)cw_http_respond_problem(ctx->req, CW_PROBLEM_INTERNAL, "cannot render the dashboard");
    } else {
        (void)cw_http_respond(ctx->req, 200, "text/html; charset=utf-8", dash_headers, b.data,
                              b.len);
    }
    cw_buf_fini(&b);
}

/* ==== The handler ==== */

void cw_api__dashboard(cw_api_t *api, cw_http_request_t *req)
{
    dash_ctx_t *ctx;

    if (req->listen_kind != CW_LISTEN_ADMIN) {
        (void)cw_http_respond_problem_slug(req, 403, "not-authorized", "Not authorized",
                                           "the dashboard is on the admin listener");
        return;
    }
    ctx = cw_pool_alloc(req->pool, sizeof(*ctx));
    if (ctx == NULL) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE, "out of memory");
        return;
    }
    ctx->api = api;
    ctx->req = req;
    ctx->now_ms = cw_store_clock_ms();
    dash_next(ctx);
}
