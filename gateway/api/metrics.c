/*
 * Request metrics and their Prometheus text rendering.
 */
#include <string.h>

#include "internal.h"

static const double bucket_bounds[CW_API_BUCKET_COUNT] = {
#define XX(b) b,
    CW_API_BUCKETS(XX)
#undef XX
};

static const char *const bucket_labels[CW_API_BUCKET_COUNT] = {
#define XX(b) #b,
    CW_API_BUCKETS(XX)
#undef XX
};

void cw_api__metrics_observe(cw_api_t *api, const char *route, int status, uint64_t duration_ns)
{
    double seconds = (double)duration_ns / 1e9;
    cw_api_hist_t *h = NULL;
    size_t i;

    for (i = 0; i < api->series_count; i++) {
        if (api->series[i].status == status && strcmp(api->series[i].route, route) == 0) {
            break;
        }
    }
    if (i == api->series_count) {
        if (api->series_count < CW_API_SERIES_MAX) {
            api->series[i].route = route;
            api->series[i].status = status;
            api->series_count++;
        } else {
            api->series_dropped++;
            i = CW_API_SERIES_MAX;
        }
    }
    if (i < CW_API_SERIES_MAX) {
        api->series[i].count++;
    }

    for (i = 0; i < CW_ARRAY_SIZE(api->hists); i++) {
        if (api->hists[i].route == NULL) {
            api->hists[i].route = route;
        }
        if (strcmp(api->hists[i].route, route) == 0) {
            h = &api->hists[i];
            break;
        }
    }
    if (h == NULL) {
        return;
    }
    for (i = 0; i < CW_API_BUCKET_COUNT; i++) {
        if (seconds <= bucket_bounds[i]) {
            break;
        }
    }
    /* Stored per bucket and accumulated when rendered. */
    h->buckets[i]++;
    h->sum_ns += duration_ns;
    h->count++;
}

static int render_http(const cw_api_t *api, cw_buf_t *out)
{
    cw_http_metrics_t total;
    size_t i;
    int rc = 0;

    memset(&total, 0, sizeof(total));
    for (i = 0; i < api->server_count; i++) {
        const cw_http_metrics_t *m = cw_http_server_metrics(api->servers[i]);

        total.connections_open += m->connections_open;
        total.connections_total += m->connections_total;
        total.connections_rejected += m->connections_rejected;
        total.requests_in_flight += m->requests_in_flight;
        total.bytes_in += m->bytes_in;
        total.bytes_out += m->bytes_out;
    }
    CW_TRY(cw_buf_appendf(out,
                          "# HELP clearway_http_connections_open Client connections open now.\n"
                          "# TYPE clearway_http_connections_open gauge\n"
                          "clearway_http_connections_open %llu\n"
                          "# HELP clearway_http_connections_total Client connections accepted.\n"
                          "# TYPE clearway_http_connections_total counter\n"
                          "clearway_http_connections_total %llu\n"
                          "# HELP clearway_http_connections_rejected_total Connections refused at "
                          "connections-max.\n"
                          "# TYPE clearway_http_connections_rejected_total counter\n"
                          "clearway_http_connections_rejected_total %llu\n"
                          "# HELP clearway_http_requests_in_flight Requests received and not yet "
                          "answered.\n"
                          "# TYPE clearway_http_requests_in_flight gauge\n"
                          "clearway_http_requests_in_flight %llu\n"
                          "# HELP clearway_http_received_bytes_total Bytes read from clients.\n"
                          "# TYPE clearway_http_received_bytes_total counter\n"
                          "clearway_http_received_bytes_total %llu\n"
                          "# HELP clearway_http_sent_bytes_total Bytes written to clients.\n"
                          "# TYPE clearway_http_sent_bytes_total counter\n"
                          "clearway_http_sent_bytes_total %llu\n",
                          (unsigned long long)total.connections_open,
                          (unsigned long long)total.connections_total,
                          (unsigned long long)total.connections_rejected,
                          (unsigned long long)total.requests_in_flight,
                          (unsigned long long)total.bytes_in, (unsigned long long)total.bytes_out));
out:
    return rc;
}

static int render_requests(const cw_api_t *api, cw_buf_t *out)
{
    size_t i;
    size_t j;
    int rc = 0;

    CW_TRY(cw_buf_appends(out, "# HELP clearway_http_requests_total Requests answered, by route "
                               "and status.\n"
                               "# TYPE clearway_http_requests_total counter\n"));
    for (i = 0; i < api->series_count; i++) {
        CW_TRY(cw_buf_appendf(
            out, "clearway_http_requests_total{route=\"%s\",status=\"%d\"} %llu\n",
            api->series[i].route, api->series[i].status, (unsigned long long)api->series[i].count));
    }
    CW_TRY(cw_buf_appends(out, "# HELP clearway_http_request_duration_seconds Time from the first "
                               "byte of a request to the end of its response.\n"
                               "# TYPE clearway_http_request_duration_seconds histogram\n"));
    for (i = 0; i < CW_ARRAY_SIZE(api->hists); i++) {
        const cw_api_hist_t *h = &api->hists[i];
        uint64_t cum = 0;

        if (h->route == NULL) {
            break;
        }
        for (j = 0; j < CW_API_BUCKET_COUNT; j++) {
            cum += h->buckets[j];
            CW_TRY(cw_buf_appendf(out,
                                  "clearway_http_request_duration_seconds_bucket{route=\"%s\","
                                  "le=\"%s\"} %llu\n",
                                  h->route, bucket_labels[j], (unsigned long long)cum));
        }
        CW_TRY(cw_buf_appendf(out,
                              "clearway_http_request_duration_seconds_bucket{route=\"%s\","
                              "le=\"+Inf\"} %llu\n"
                              "clearway_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                              "clearway_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                              h->route, (unsigned long long)h->count, h->route,
                              (double)h->sum_ns / 1e9, h->route, (unsigned long long)h->count));
    }
out:
    return rc;
}

/* The store's fsyncs, by file, as a histogram. */
static int render_store_syncs(const cw_store_stats_t *st, cw_buf_t *out)
{
    static const char *const files[CW_STORE_SYNC_KINDS] = { "wal", "database" };
    int rc = 0;

    CW_TRY(cw_buf_appends(out, "# HELP clearway_store_sync_seconds Time in each fsync of the "
                               "SQLite store's files: the WAL at every commit (synchronous=full), "
                               "the database at every checkpoint that caught up.\n"
                               "# TYPE clearway_store_sync_seconds histogram\n"));
    for (size_t k = 0; k < CW_STORE_SYNC_KINDS; k++) {
        uint64_t cum = 0;

        for (size_t i = 0; i < CW_STORE_SYNC_BUCKETS; i++) {
            cum += st->sync_buckets[k][i];
            CW_TRY(cw_buf_appendf(
                out, "clearway_store_sync_seconds_bucket{file=\"%s\",le=\"%g\"} %llu\n", files[k],
                (double)cw_store_sync_bounds_ns[i] / 1e9, (unsigned long long)cum));
        }
        CW_TRY(cw_buf_appendf(out,
                              "clearway_store_sync_seconds_bucket{file=\"%s\",le=\"+Inf\"} %llu\n"
                              "clearway_store_sync_seconds_sum{file=\"%s\"} %.6f\n"
                              "clearway_store_sync_seconds_count{file=\"%s\"} %llu\n",
                              files[k], (unsigned long long)st->sync_count[k], files[k],
                              (double)st->sync_ns[k] / 1e9, files[k],
                              (unsigned long long)st->sync_count[k]));
    }
out:
    return rc;
}

/* Where the store's write requests spend their time, by part, as a histogram. */
static int render_store_parts(const cw_store_stats_t *st, cw_buf_t *out)
{
    int rc = 0;

    CW_TRY(cw_buf_appends(out, "# HELP clearway_store_write_request_seconds Time of each write "
                               "request in the SQLite store, by part: waiting for the writer "
                               "thread (queue), its group's statements and COMMIT (write), "
                               "waiting for the flush of the WAL that covers it (flush), and "
                               "back to the event loop (handback).\n"
                               "# TYPE clearway_store_write_request_seconds histogram\n"));
    for (size_t k = 0; k < CW_STORE_PARTS; k++) {
        const char *part = cw_store_part_name((cw_store_part_e)k);
        uint64_t cum = 0;

        for (size_t i = 0; i < CW_STORE_SYNC_BUCKETS; i++) {
            cum += st->part_buckets[k][i];
            CW_TRY(cw_buf_appendf(
                out, "clearway_store_write_request_seconds_bucket{part=\"%s\",le=\"%g\"} %llu\n",
                part, (double)cw_store_sync_bounds_ns[i] / 1e9, (unsigned long long)cum));
        }
        CW_TRY(
            cw_buf_appendf(out,
                           "clearway_store_write_request_seconds_bucket{part=\"%s\",le=\"+Inf\"} "
                           "%llu\n"
                           "clearway_store_write_request_seconds_sum{part=\"%s\"} %.6f\n"
                           "clearway_store_write_request_seconds_count{part=\"%s\"} %llu\n",
                           part, (unsigned long long)st->part_count, part,
                           (double)st->part_ns[k] / 1e9, part, (unsigned long long)st->part_count));
    }
out:
    return rc;
}

/* The store's counters: group commit and write volume. */
static int render_store(cw_store_t *store, cw_buf_t *out)
{
    cw_store_stats_t st;
    int rc;

    cw_store_stats_get(store, &st);
    rc = render_store_syncs(&st, out);
    if (rc == 0) {
        rc = render_store_parts(&st, out);
    }
    if (rc < 0) {
        return rc;
    }
    return cw_buf_appendf(
        out,
        "# HELP clearway_store_transactions_total Write transactions committed (group commits).\n"
        "# TYPE clearway_store_transactions_total counter\n"
        "clearway_store_transactions_total %llu\n"
        "# HELP clearway_store_writes_total Write operations committed (messages, attempts, "
        "purges).\n"
        "# TYPE clearway_store_writes_total counter\n"
        "clearway_store_writes_total %llu\n"
        "# HELP clearway_store_pages_written_total Database pages the commits wrote to the WAL.\n"
        "# TYPE clearway_store_pages_written_total counter\n"
        "clearway_store_pages_written_total %llu\n"
        "# HELP clearway_store_write_seconds_total Time the writer spent running the writes of "
        "committed transactions.\n"
        "# TYPE clearway_store_write_seconds_total counter\n"
        "clearway_store_write_seconds_total %.6f\n"
        "# HELP clearway_store_commit_seconds_total Time the writer spent committing them (the WAL "
        "write; with synchronous=full the syncer flushes it after).\n"
        "# TYPE clearway_store_commit_seconds_total counter\n"
        "clearway_store_commit_seconds_total %.6f\n"
        "# HELP clearway_store_commit_failures_total Transactions rolled back because a commit "
        "failed.\n"
        "# TYPE clearway_store_commit_failures_total counter\n"
        "clearway_store_commit_failures_total %llu\n"
        "# HELP clearway_store_checkpoints_total WAL checkpoints run.\n"
        "# TYPE clearway_store_checkpoints_total counter\n"
        "clearway_store_checkpoints_total %llu\n"
        "# HELP clearway_store_checkpoint_seconds_total Time spent in WAL checkpoints.\n"
        "# TYPE clearway_store_checkpoint_seconds_total counter\n"
        "clearway_store_checkpoint_seconds_total %.6f\n"
        "# HELP clearway_store_transactions_beside_checkpoint_total Transactions whose commit "
        "had a WAL checkpoint running beside it.\n"
        "# TYPE clearway_store_transactions_beside_checkpoint_total counter\n"
        "clearway_store_transactions_beside_checkpoint_total %llu\n"
        "# HELP clearway_store_commit_beside_checkpoint_seconds_total The part of "
        "clearway_store_commit_seconds_total spent in those commits.\n"
        "# TYPE clearway_store_commit_beside_checkpoint_seconds_total counter\n"
        "clearway_store_commit_beside_checkpoint_seconds_total %.6f\n"
        "# HELP clearway_store_operations_pending Store operations queued now.\n"
        "# TYPE clearway_store_operations_pending gauge\n"
        "clearway_store_operations_pending %llu\n"
        "# HELP clearway_store_broken 1 once a flush of the WAL failed: the store answers "
        "nothing but errors until clearwayd is restarted.\n"
        "# TYPE clearway_store_broken gauge\n"
        "clearway_store_broken %d\n"
        "# HELP clearway_store_unreachable 1 while the PostgreSQL store's server cannot be "
        "reached: writes fail until it is back (always 0 on SQLite).\n"
        "# TYPE clearway_store_unreachable gauge\n"
        "clearway_store_unreachable %d\n",
        (unsigned long long)st.transactions, (unsigned long long)st.writes,
        (unsigned long long)st.pages_written, (double)st.exec_ns / 1e9, (double)st.commit_ns / 1e9,
        (unsigned long long)st.commit_failures, (unsigned long long)st.checkpoints,
        (double)st.checkpoint_ns / 1e9, (unsigned long long)st.transactions_beside_checkpoint,
        (double)st.commit_beside_checkpoint_ns / 1e9, (unsigned long long)st.pending, st.broken,
        st.unreachable);
}

/* Appends value as a Prometheus label value: quoted, with \\, \" and \n escaped. */
static int append_label(cw_buf_t *out, const char *value)
{
    const char *p;
    int rc = 0;

    CW_TRY(cw_buf_append(out, "\"", 1));
    for (p = value; *p != '\0'; p++) {
        if (*p == '\\' || *p == '"') {
            CW_TRY(cw_buf_appendf(out, "\\%c", *p));
        } else if (*p == '\n') {
            CW_TRY(cw_buf_append(out, "\\n", 2));
        } else {
            CW_TRY(cw_buf_append(out, p, 1));
        }
    }
    CW_TRY(cw_buf_append(out, "\"", 1));
out:
    return rc;
}

/* One sample of clearway_certificate_not_after_seconds. */
static int render_cert(const cw_sec_cert_info_t *c, void *arg)
{
    cw_buf_t *out = arg;
    int rc = 0;

    CW_TRY(cw_buf_appends(out, "clearway_certificate_not_after_seconds{party="));
    CW_TRY(append_label(out, c->party));
    CW_TRY(cw_buf_appendf(out, ",role=\"%s\",file=", c->role));
    CW_TRY(append_label(out, c->path));
    CW_TRY(cw_buf_appendf(out, "} %lld\n", (long long)c->not_after_s));
out:
    return rc;
}

/* When each certificate of the trust snapshot expires, for an alert well
 * before (docs/operations.md). */
static int render_certs(const cw_sec_keys_t *keys, cw_buf_t *out)
{
    int rc = 0;

    CW_TRY(cw_buf_appends(out, "# HELP clearway_certificate_not_after_seconds When a certificate "
                               "the node signs with or verifies partners with expires (notAfter, "
                               "seconds since the epoch).\n"
                               "# TYPE clearway_certificate_not_after_seconds gauge\n"));
    rc = cw_sec_keys_certs_each(keys, render_cert, out);
out:
    return rc;
}

/* One sample per route of the delivery scheduler. */
typedef enum route_field_e {
    ROUTE_DELIVERED,
    ROUTE_RETRIED,
    ROUTE_FAILED,
    ROUTE_IN_FLIGHT,
    ROUTE_LIMIT,
    ROUTE_CONCURRENCY,
} route_field_e;

static int
render_route_samples(const cw_egress_t *eg, const char *name, route_field_e field, cw_buf_t *out)
{
    static const char *const outcome[] = { "delivered", "retry", "failed" };
    cw_egress_route_stats_t st;
    unsigned long long v = 0;
    size_t i;
    int rc = 0;

    for (i = 0; i < cw_egress_route_count(eg); i++) {
        cw_egress_route_stats_get(eg, i, &st);
        switch (field) {
        case ROUTE_DELIVERED:
            v = st.delivered;
            break;
        case ROUTE_RETRIED:
            v = st.retried;
            break;
        case ROUTE_FAILED:
            v = st.dead_lettered;
            break;
        case ROUTE_IN_FLIGHT:
            v = st.in_flight;
            break;
        case ROUTE_LIMIT:
            v = st.limit;
            break;
        case ROUTE_CONCURRENCY:
            v = st.concurrency;
            break;
        }
        CW_TRY(cw_buf_appendf(out, "%s{route=", name));
        CW_TRY(append_label(out, st.route));
        if (field <= ROUTE_FAILED) {
            CW_TRY(cw_buf_appendf(out, ",outcome=\"%s\"", outcome[field]));
        }
        CW_TRY(cw_buf_appendf(out, "} %llu\n", v));
    }
out:
    return rc;
}

/* The delivery scheduler: outcomes of attempts and deliveries in flight,
 * per route. */
static int render_egress(const cw_egress_t *eg, cw_buf_t *out)
{
    int rc = 0;

    CW_TRY(cw_buf_appendf(
        out,
        "# HELP clearway_delivery_paused 1 while delivery is paused (nothing is claimed).\n"
        "# TYPE clearway_delivery_paused gauge\n"
        "clearway_delivery_paused %d\n"
        "# HELP clearway_delivery_attempts_total Delivery attempts since start, by route and "
        "outcome (delivered: a receipt came back; retry: another attempt is due; failed: "
        "refused or past the route's limits).\n"
        "# TYPE clearway_delivery_attempts_total counter\n",
        cw_egress_paused_get(eg) ? 1 : 0));
    CW_TRY(render_route_samples(eg, "clearway_delivery_attempts_total", ROUTE_DELIVERED, out));
    CW_TRY(render_route_samples(eg, "clearway_delivery_attempts_total", ROUTE_RETRIED, out));
    CW_TRY(render_route_samples(eg, "clearway_delivery_attempts_total", ROUTE_FAILED, out));
    CW_TRY(cw_buf_appendf(out, "# HELP clearway_deliveries_in_flight Deliveries handed out and "
                               "not yet answered, by route.\n"
                               "# TYPE clearway_deliveries_in_flight gauge\n"));
    CW_TRY(render_route_samples(eg, "clearway_deliveries_in_flight", ROUTE_IN_FLIGHT, out));
    CW_TRY(cw_buf_appendf(out, "# HELP clearway_route_concurrency_limit The deliveries a route "
                               "may have in flight now (its window).\n"
                               "# TYPE clearway_route_concurrency_limit gauge\n"));
    CW_TRY(render_route_samples(eg, "clearway_route_concurrency_limit", ROUTE_LIMIT, out));
    CW_TRY(cw_buf_appendf(out, "# HELP clearway_route_concurrency The most deliveries a route "
                               "may have in flight (its concurrency).\n"
                               "# TYPE clearway_route_concurrency gauge\n"));
    CW_TRY(render_route_samples(eg, "clearway_route_concurrency", ROUTE_CONCURRENCY, out));
out:
    return rc;
}

int cw_api_metrics_render(const cw_api_t *api, cw_buf_t *out)
{
    int rc = 0;

    CW_TRY(cw_buf_appendf(out,
                          "# HELP clearway_build_info Version of this node.\n"
                          "# TYPE clearway_build_info gauge\n"
                          "clearway_build_info{version=\"%s\"} 1\n"
                          "# HELP clearway_start_time_seconds Start time, seconds since the "
                          "epoch.\n"
                          "# TYPE clearway_start_time_seconds gauge\n"
                          "clearway_start_time_seconds %lld\n"
                          "# HELP clearway_ready 1 while the node accepts work, 0 when draining.\n"
                          "# TYPE clearway_ready gauge\n"
                          "clearway_ready %d\n"
                          "# HELP clearway_worker_jobs_in_flight CPU jobs queued or running.\n"
                          "# TYPE clearway_worker_jobs_in_flight gauge\n"
                          "clearway_worker_jobs_in_flight %zu\n"
                          "# HELP clearway_inbound_inputs_waiting Inbound documents (manifests,"
                          " orders) waiting for a worker.\n"
                          "# TYPE clearway_inbound_inputs_waiting gauge\n"
                          "clearway_inbound_inputs_waiting %zu\n",
                          CW_VERSION, (long long)api->started_s, api->draining ? 0 : 1,
                          api->pipeline != NULL ? cw_pipeline_in_flight(api->pipeline) : 0,
                          api->pipeline != NULL ? cw_pipeline_inbound_waiting(api->pipeline) : 0));
    CW_TRY(render_http(api, out));
    CW_TRY(render_requests(api, out));
    if (api->pipeline != NULL) {
        CW_TRY(cw_pipeline_metrics_render(api->pipeline, out));
        if (cw_pipeline_store(api->pipeline) != NULL) {
            CW_TRY(render_store(cw_pipeline_store(api->pipeline), out));
        }
        if (cw_pipeline_egress(api->pipeline) != NULL) {
            CW_TRY(render_egress(cw_pipeline_egress(api->pipeline), out));
        }
        if (cw_pipeline_keys(api->pipeline) != NULL) {
            CW_TRY(render_certs(cw_pipeline_keys(api->pipeline), out));
        }
    }
out:
    return rc;
}
