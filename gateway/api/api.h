/*
 * api: the HTTP handlers (health, readiness, metrics, version; later the
 * message endpoints), request routing, the access log and request metrics.
 */
#ifndef CW_API_H
#define CW_API_H

#include <stdint.h>

#include <uv.h>

#include "config.h"
#include "net.h"
#include "pipeline.h"
#include "util.h"

typedef struct cw_api cw_api_t;

/*
 * Creates the API state for one node. cfg is referenced (not copied);
 * pipeline is borrowed and must outlive the API. *out is owned by the caller
 * (cw_api_free). Loop thread.
 */
CW_MUST_CHECK int
cw_api_new(cw_api_t **out, uv_loop_t *loop, cw_config_t *cfg, cw_pipeline_t *pipeline);
void cw_api_free(cw_api_t *api);

/* Makes server's connection counters part of /metrics (borrowed). */
CW_MUST_CHECK int cw_api_server_add(cw_api_t *api, cw_http_server_t *server);
/* Forgets every server (before they are freed). */
void cw_api_servers_clear(cw_api_t *api);

/* Swaps in a new config snapshot (a reference is taken). */
void cw_api_set_config(cw_api_t *api, cw_config_t *cfg);

/* From now on /readyz answers 503: the node is draining. */
void cw_api_set_draining(cw_api_t *api);

/* The net callbacks; arg is the cw_api_t. */
void cw_api_on_request(cw_http_request_t *req, void *arg);
void cw_api_on_done(const cw_http_request_t *req, uint64_t duration_ns, void *arg);

/*
 * Renders every metric in the Prometheus text format (version 0.0.4) into
 * out. Returns 0, CW_E2BIG or CW_ENOMEM.
 */
CW_MUST_CHECK int cw_api_metrics_render(const cw_api_t *api, cw_buf_t *out);

#endif /* CW_API_H */
