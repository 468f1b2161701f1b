/*
 * api internals shared by api.c, metrics.c, status.c, messages.c and
 * dashboard.c.
 */
#ifndef CW_API_INTERNAL_H
#define CW_API_INTERNAL_H

#include "api.h"

/* Upper bounds (seconds) of the request duration histogram. */
#define CW_API_BUCKETS(XX) \
    XX(0.0005)             \
    XX(0.001)              \
    XX(0.0025)             \
    XX(0.005)              \
    XX(0.01)               \
    XX(0.025)              \
    XX(0.05)               \
    XX(0.1)                \
    XX(0.25)               \
    XX(0.5)                \
    XX(1)                  \
    XX(2.5)                \
    XX(5)                  \
    XX(10)

#define CW_API_BUCKET_COUNT 14
/* Distinct (route, status) pairs kept; routes are a fixed set, so this
 * bounds label cardinality whatever clients send. */
#define CW_API_SERIES_MAX  128
#define CW_API_SERVERS_MAX 16

typedef struct cw_api_series {
    const char *route; /* static string */
    int status;
    uint64_t count;
} cw_api_series_t;

typedef struct cw_api_hist {
    const char *route;                         /* static string; NULL: unused slot */
    uint64_t buckets[CW_API_BUCKET_COUNT + 1]; /* the last one is +Inf */
    uint64_t sum_ns;
    uint64_t count;
} cw_api_hist_t;

struct cw_api {
    uv_loop_t *loop;
    cw_config_t *cfg;
    cw_pipeline_t *pipeline;
    int draining;
    int64_t started_s; /* wall clock at start */
    cw_http_server_t *servers[CW_API_SERVERS_MAX];
    size_t server_count;
    cw_api_series_t series[CW_API_SERIES_MAX];
    size_t series_count;
    uint64_t series_dropped;
    cw_api_hist_t hists[32];
};

/* Whether the node takes work, as /readyz answers (api.c). */
typedef enum cw_api_readiness_e {
    CW_API_READY = 0,
    CW_API_DRAINING = 1,          /* SIGTERM: no new work */
    CW_API_STORE_BROKEN = 2,      /* a WAL flush failed: nothing until a restart */
    CW_API_STORE_UNREACHABLE = 3, /* PostgreSQL: the writer cannot reach the server */
} cw_api_readiness_e;

cw_api_readiness_e cw_api__readiness(const cw_api_t *api);

/* GET /dashboard (dashboard.c): the operator's HTML page, admin only. */
void cw_api__dashboard(cw_api_t *api, cw_http_request_t *req);

/* The status API (status.c): returns 1 when it handled req. */
int cw_api__status_route(cw_api_t *api, cw_http_request_t *req);
void cw_api__status_list(cw_api_t *api, cw_http_request_t *req);

/* POST /v1/inbound/{adapter}: a partner's native document. */
void cw_api__inbound_submit(cw_api_t *api, cw_http_request_t *req, const char *adapter);

/* POST /v1/messages with an XML body: verify, answer with a receipt. */
void cw_api__messages_submit(cw_api_t *api, cw_http_request_t *req);

void cw_api__metrics_observe(cw_api_t *api, const char *route, int status, uint64_t duration_ns);

#endif /* CW_API_INTERNAL_H */
