/*
 * Request routing and the operational endpoints.
 */
#include "api.h"

#include <stdio.h>
#include <string.h>

#include "internal.h"

/* ==== Handlers ==== */

typedef void (*route_cb)(cw_api_t *api, cw_http_request_t *req);

static void respond_json(cw_http_request_t *req, int status, const char *body)
{
    (void)cw_http_respond(req, status, "application/json", NULL, body, strlen(body));
}

static void on_healthz(cw_api_t *api, cw_http_request_t *req)
{
    (void)api;
    /* Liveness only: the loop thread answered, so the process is alive. */
    respond_json(req, 200, "{\"status\":\"ok\"}\n");
}

cw_api_readiness_e cw_api__readiness(const cw_api_t *api)
{
    cw_store_t *store = api->pipeline != NULL ? cw_pipeline_store(api->pipeline) : NULL;
    cw_store_stats_t st;

    if (api->draining) {
        return CW_API_DRAINING;
    }
    if (store != NULL) {
        cw_store_stats_get(store, &st);
        if (st.broken) {
            return CW_API_STORE_BROKEN;
        }
        if (st.unreachable) {
            return CW_API_STORE_UNREACHABLE;
        }
    }
    return CW_API_READY;
}

static void on_readyz(cw_api_t *api, cw_http_request_t *req)
{
    switch (cw_api__readiness(api)) {
    case CW_API_READY:
        respond_json(req, 200, "{\"status\":\"ready\"}\n");
        return;
    case CW_API_DRAINING:
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE,
                                      "the node is draining and accepts no new work");
        return;
    case CW_API_STORE_BROKEN:
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE,
                                      "the store could not flush its WAL to disk and"
                                      " accepts nothing more; restart clearwayd");
        return;
    case CW_API_STORE_UNREACHABLE:
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE,
                                      "the store's PostgreSQL server cannot be reached;"
                                      " writes are refused until it is back");
        return;
    }
}

static void on_metrics(cw_api_t *api, cw_http_request_t *req)
{
    cw_buf_t out;
    int rc;

    cw_buf_init(&out, 4u * 1024u * 1024u);
    rc = cw_api_metrics_render(api, &out);
    if (rc < 0) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_INTERNAL, "cannot render the metrics");
    } else {
        (void)cw_http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, out.data,
                              out.len);
    }
    cw_buf_fini(&out);
}

static void on_version(cw_api_t *api, cw_http_request_t *req)
{
    cw_buf_t out;
    char started[32];
    int rc = 0;

    cw_time_format_utc(started, sizeof(started), api->started_s);
    cw_buf_init(&out, 4096);
    CW_TRY(
        cw_buf_appends(&out, "{\"name\":\"clearway\",\"version\":\"" CW_VERSION "\",\"node\":\""));
    CW_TRY(cw_buf_append_json_str(&out, req->cfg->node_id, strlen(req->cfg->node_id)));
    CW_TRY(cw_buf_appendf(&out, "\",\"started\":\"%s\"}\n", started));
out:
    if (rc < 0) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_INTERNAL, "cannot render the version");
    } else {
        respond_json(req, 200, out.data);
    }
    cw_buf_fini(&out);
}

/* Whether the Content-Type names an XML media type (parameters ignored). */
static int is_xml_media_type(const char *ctype)
{
    static const char *const types[] = { "application/xml", "text/xml" };
    size_t len;
    size_t i;

    if (ctype == NULL) {
        return 0;
    }
    len = strcspn(ctype, "; \t");
    for (i = 0; i < CW_ARRAY_SIZE(types); i++) {
        if (cw_strncaseeq(ctype, len, types[i])) {
            return 1;
        }
    }
    return 0;
}

static void on_messages_post(cw_api_t *api, cw_http_request_t *req)
{
    if (!is_xml_media_type(cw_http_request_header(req, "content-type"))) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
                                      "messages are signed XML envelopes: send application/xml");
        return;
    }
    cw_api__messages_submit(api, req);
}

/* ==== Routing ==== */

typedef struct route {
    const char *method; /* GET also serves HEAD */
    const char *path;   /* exact path */
    const char *label;  /* metrics label */
    route_cb cb;
} route_t;

static const route_t routes[] = {
    { "GET", "/healthz", "/healthz", on_healthz },
    { "GET", "/readyz", "/readyz", on_readyz },
    { "GET", "/metrics", "/metrics", on_metrics },
    { "GET", "/v1/version", "/v1/version", on_version },
    { "GET", "/dashboard", "/dashboard", cw_api__dashboard },
    { "POST", "/v1/messages", "/v1/messages", on_messages_post },
};

static int method_matches(const route_t *r, const char *method)
{
    return strcmp(r->method, method) == 0
           || (strcmp(r->method, "GET") == 0 && strcmp(method, "HEAD") == 0);
}

void cw_api_on_request(cw_http_request_t *req, void *arg)
{
    cw_api_t *api = arg;
    char allow[128] = "";
    size_t i;

    if (cw_api__status_route(api, req)) {
        return;
    }
    for (i = 0; i < CW_ARRAY_SIZE(routes); i++) {
        const route_t *r = &routes[i];

        if (strcmp(r->path, req->path) != 0) {
            continue;
        }
        req->route = r->label;
        if (method_matches(r, req->method)) {
            r->cb(api, req);
            return;
        }
        if (allow[0] != '\0') {
            (void)strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
        }
        (void)strncat(allow, r->method, sizeof(allow) - strlen(allow) - 1);
        if (strcmp(r->method, "GET") == 0) {
            (void)strncat(allow, ", HEAD", sizeof(allow) - strlen(allow) - 1);
        }
    }
    if (allow[0] != '\0') {
        char hdr[160];
        cw_problem_format_e fmt =
            cw_problem_format_from_accept(cw_http_request_header(req, "accept"));
        cw_buf_t body;

        (void)snprintf(hdr, sizeof(hdr), "Allow: %s\r\n", allow);
        cw_buf_init(&body, 4096);
        if (cw_problem_render(&body, fmt, cw_problem_slug(CW_PROBLEM_METHOD_NOT_ALLOWED),
                              cw_problem_title(CW_PROBLEM_METHOD_NOT_ALLOWED), 405,
                              "this resource does not support the method", req->path)
            < 0) {
            (void)cw_http_respond(req, 405, NULL, hdr, NULL, 0);
        } else {
            (void)cw_http_respond(req, 405, cw_problem_media_type(fmt), hdr, body.data, body.len);
        }
        cw_buf_fini(&body);
        return;
    }
    req->route = "other";
    (void)cw_http_respond_problem(req, CW_PROBLEM_NOT_FOUND, "no resource at this path");
}

/* ==== Access log ==== */

void cw_api_on_done(const cw_http_request_t *req, uint64_t duration_ns, void *arg)
{
    cw_api_t *api = arg;
    char fields[1024];
    cw_buf_t b;

    cw_api__metrics_observe(api, req->route, req->status, duration_ns);

    /* Built on the stack: the access line must not fail for lack of heap. */
    b.data = fields;
    b.len = 0;
    b.cap = sizeof(fields);
    b.max_len = sizeof(fields) - 1;
    if (cw_buf_appendf(&b, "\"request_id\":\"%s\",\"peer\":\"", req->id) < 0
        || cw_buf_append_json_str(&b, req->peer, strlen(req->peer)) < 0
        || cw_buf_appends(&b, "\",\"method\":\"") < 0
        || cw_buf_append_json_str(&b, req->method, strlen(req->method)) < 0
        || cw_buf_appends(&b, "\",\"path\":\"") < 0
        || cw_buf_append_json_str(&b, req->path, strnlen(req->path, 256)) < 0
        || cw_buf_appendf(&b, "\",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f", req->status,
                          req->body_bytes_out, (double)duration_ns / 1e6)
               < 0) {
        return;
    }
    cw_log_fields(CW_LOG_INFO, "api", "access", fields, "access");
}

/* ==== Lifecycle ==== */

int cw_api_new(cw_api_t **out, uv_loop_t *loop, cw_config_t *cfg, cw_pipeline_t *pipeline)
{
    cw_api_t *api = cw_calloc(1, sizeof(*api));

    *out = NULL;
    if (api == NULL) {
        return CW_ENOMEM;
    }
    api->loop = loop;
    api->cfg = cw_config_ref(cfg);
    api->pipeline = pipeline;
    api->started_s = cw_time_wall_s();
    *out = api;
    return 0;
}

void cw_api_free(cw_api_t *api)
{
    if (api == NULL) {
        return;
    }
    cw_config_unref(api->cfg);
    cw_free(api);
}

int cw_api_server_add(cw_api_t *api, cw_http_server_t *server)
{
    if (api->server_count >= CW_API_SERVERS_MAX) {
        return CW_E2BIG;
    }
    api->servers[api->server_count++] = server;
    return 0;
}

void cw_api_servers_clear(cw_api_t *api)
{
    api->server_count = 0;
}

void cw_api_set_config(cw_api_t *api, cw_config_t *cfg)
{
    cw_config_t *old = api->cfg;

    api->cfg = cw_config_ref(cfg);
    cw_config_unref(old);
}

void cw_api_set_draining(cw_api_t *api)
{
    api->draining = 1;
}
