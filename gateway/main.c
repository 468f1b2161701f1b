/*
 * clearwayd: options, configuration, library start-up, signals, start and
 * stop. Everything else lives in the modules.
 */
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <uv.h>

#include "adapters.h"
#include "api.h"
#include "checks.h"
#include "config.h"
#include "egress.h"
#include "net.h"
#include "pipeline.h"
#include "sec.h"
#include "store.h"
#include "util.h"

/* Exit codes, documented in docs/operations.md. */
#define EXIT_USAGE  64 /* bad command line (as sysexits EX_USAGE) */
#define EXIT_CONFIG 78 /* bad configuration (as sysexits EX_CONFIG) */
#define EXIT_START  70 /* could not start (as sysexits EX_SOFTWARE) */

#define NODE_LISTENERS_MAX 16
/* Retention: purge delivered messages every hour, first a minute after start. */
#define RETENTION_FIRST_MS    60000u
#define RETENTION_INTERVAL_MS 3600000u
#define RETENTION_BATCH       500u

/* Everything one running node owns; lives on main's stack. */
typedef struct cw_node {
    uv_loop_t loop;
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    uv_signal_t sig_hup;
    unsigned signals_open;  /* of sig_term, sig_int, sig_hup, in that order: initialised */
    uv_timer_t retention;   /* purges delivered messages past retention-days */
    uv_prepare_t log_flush; /* writes the loop thread's gathered log lines */
    int retention_started;
    cw_config_t *cfg;
    cw_store_t *store;        /* the message store */
    cw_http_client_t *client; /* outbound HTTP for deliveries */
    cw_egress_t *egress;      /* the delivery scheduler */
    int services_closing;
    cw_sec_keys_t *keys;              /* trust snapshot in force */
    cw_checks_rules_t *rules;         /* facilitation rules in force; NULL: core off */
    cw_pipeline_adapters_t *adapters; /* adapter instances in force */
    cw_sec_schemas_t *schemas;        /* compiled once */
    cw_pipeline_t *pipeline;
    cw_api_t *api;
    cw_http_server_t *servers[NODE_LISTENERS_MAX];
    cw_tls_ctx_t *tls[NODE_LISTENERS_MAX]; /* per listener; NULL: plain */
    size_t server_count;
    size_t servers_open;
    int stopping;
    int reloading;
} cw_node_t;

/* A reload in progress: the file is read on a worker thread. */
typedef struct cw_reload {
    cw_node_t *node;
    char path[4096];
    cw_config_t *cfg;
    cw_sec_keys_t *keys;
    cw_checks_rules_t *rules;
    cw_pipeline_adapters_t *adapters;
    cw_tls_ctx_t *tls[NODE_LISTENERS_MAX];
    cw_config_errors_t errs;
    cw_error_t err;
    int rc;
} cw_reload_t;

static void usage(FILE *out)
{
    fputs("usage: clearwayd --config FILE [--check]\n"
          "       clearwayd --version | --help\n"
          "\n"
          "  --config FILE  the XML configuration (see examples/clearway.xml)\n"
          "  --check        validate the configuration, print every error, and exit\n"
          "  --version      print the version and exit\n"
          "  --help         print this help and exit\n"
          "\n"
          "Signals: SIGTERM/SIGINT drain and stop; SIGHUP reloads the configuration.\n"
          "Exit status: 0 ok, 64 usage, 70 start-up failure, 78 configuration error.\n",
          out);
}

static void print_config_errors(const cw_config_errors_t *errs)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        fprintf(stderr, "%s\n", errs->lines[i]);
    }
}

/* The adapter registry, as cw_config_adapters_check asks for it: config
 * sits below adapters (STYLE.md rule 3) and cannot look names up itself. */
static int adapter_sides(const char *name, void *arg)
{
    (void)arg;
    return cw_adapters_registry_sides(name, CW_CONFIG_ADAPTER_IN, CW_CONFIG_ADAPTER_OUT);
}

/*
 * Builds the TLS context of every TLS listener of cfg into tls[] (NULL for
 * plain ones). Reads certificate files: start-up or a worker thread.
 */
static int tls_load(cw_tls_ctx_t **tls, const cw_config_t *cfg, cw_error_t *err)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < cfg->listen_count && i < NODE_LISTENERS_MAX; i++) {
        tls[i] = NULL;
        if (cfg->listens[i].tls) {
            CW_TRY(cw_tls_ctx_new(&tls[i], &cfg->listens[i], err));
        }
    }
out:
    return rc;
}

static void tls_unref_all(cw_tls_ctx_t **tls)
{
    size_t i;

    for (i = 0; i < NODE_LISTENERS_MAX; i++) {
        cw_tls_ctx_unref(tls[i]);
        tls[i] = NULL;
    }
}

/* ==== Shutdown ==== */

static void on_handle_walk_close(uv_handle_t *handle, void *arg)
{
    (void)arg;
    if (!uv_is_closing(handle)) {
        uv_close(handle, NULL);
    }
}

/* Closes the signal handles start-up got to (none when it failed before
 * them: uv_close on a handle never initialised aborts). */
static void signals_close(cw_node_t *node)
{
    uv_signal_t *const sigs[] = { &node->sig_term, &node->sig_int, &node->sig_hup };
    unsigned i;

    for (i = 0; i < node->signals_open; i++) {
        if (!uv_is_closing((uv_handle_t *)sigs[i])) {
            uv_close((uv_handle_t *)sigs[i], NULL);
        }
    }
}

/*
 * After the listeners: the HTTP client (deliveries in flight end as
 * retries), then the scheduler (waits for those outcomes), then the store
 * (commits what is queued), then the signals. STYLE.md rule 35.
 */
static void on_store_closed(void *arg)
{
    cw_node_t *node = arg;

    node->store = NULL;
    if (node->retention_started) {
        (void)uv_timer_stop(&node->retention);
        uv_close((uv_handle_t *)&node->retention, NULL);
    }
    signals_close(node);
}

static void on_egress_closed(void *arg)
{
    cw_node_t *node = arg;

    node->egress = NULL;
    if (node->pipeline != NULL) {
        /* Freed: an admin retry or a late commit must not notify it. */
        cw_pipeline_attach(node->pipeline, node->store, NULL, NULL);
    }
    if (node->store != NULL) {
        cw_store_close(node->store, on_store_closed, node);
        return;
    }
    on_store_closed(node);
}

static void on_client_closed(void *arg)
{
    cw_node_t *node = arg;

    node->client = NULL;
    if (node->egress != NULL) {
        cw_egress_close(node->egress, on_egress_closed, node);
        return;
    }
    on_egress_closed(node);
}

static void services_close(cw_node_t *node)
{
    if (node->services_closing) {
        return;
    }
    node->services_closing = 1;
    if (node->pipeline != NULL) {
        /* Deliveries still being prepared (an output translation on a
         * worker) finish after the client is freed: they must find none,
         * and end as local retries with nothing sent. */
        cw_pipeline_attach(node->pipeline, node->store, node->egress, NULL);
    }
    if (node->client != NULL) {
        cw_http_client_close(node->client, on_client_closed, node);
        return;
    }
    on_client_closed(node);
}

static void on_server_closed(cw_http_server_t *server, void *arg)
{
    cw_node_t *node = arg;

    (void)server;
    if (--node->servers_open > 0) {
        return;
    }
    CW_LOG_INFO("main", "all listeners drained; stopping");
    services_close(node);
}

static void node_stop(cw_node_t *node, const char *why)
{
    size_t i;

    if (node->stopping) {
        return;
    }
    node->stopping = 1;
    CW_LOG_INFO("main", "%s: draining for up to %u ms", why,
                (unsigned)node->cfg->limits.drain_timeout_ms);
    cw_api_set_draining(node->api);
    if (node->pipeline != NULL) {
        size_t n = cw_pipeline_inbound_cancel_waiting(node->pipeline);

        if (n > 0) {
            CW_LOG_INFO("main", "%zu inbound document(s) waiting for a worker answered 503", n);
        }
    }
    if (node->servers_open == 0) {
        services_close(node);
        return;
    }
    for (i = 0; i < node->server_count; i++) {
        cw_http_server_close(node->servers[i], node->cfg->limits.drain_timeout_ms, on_server_closed,
                             node);
    }
}

static void on_stop_signal(uv_signal_t *sig, int signum)
{
    cw_node_t *node = sig->data;

    node_stop(node, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

/* ==== Routes for the scheduler ==== */

/*
 * The scheduler's routes (name = destination party) and retry policies from
 * cfg: *out (cw_free; NULL when cfg has no routes), and in *idle_max the
 * connections the HTTP client should keep, one per delivery slot.
 */
static int egress_routes_build(cw_egress_route_t **out, uint32_t *idle_max, const cw_config_t *cfg)
{
    cw_egress_route_t *routes = NULL;
    size_t i;
    int rc = 0;

    *out = NULL;
    *idle_max = 0;
    if (cfg->route_count == 0) {
        goto out;
    }
    routes = cw_calloc(cfg->route_count, sizeof(*routes));
    CW_CHECK_ALLOC(routes);
    for (i = 0; i < cfg->route_count; i++) {
        const cw_conf_route_t *r = &cfg->routes[i];

        *idle_max += r->concurrency;
        routes[i].name = r->to;
        routes[i].policy.max_attempts = r->max_attempts;
        routes[i].policy.max_age_ms = (uint64_t)r->max_age_s * 1000u;
        routes[i].policy.base_delay_ms = r->base_delay_ms;
        routes[i].policy.max_delay_ms = r->max_delay_ms;
        routes[i].policy.concurrency = r->concurrency;
        /* Above concurrency it is clamped: concurrency="2" alone works. */
        routes[i].policy.initial_concurrency = r->initial_concurrency;
        /* The lease outlasts the longest the POST may take (egress.h). */
        routes[i].policy.attempt_ms_max = (uint64_t)r->connect_timeout_ms + r->timeout_ms;
    }
    *out = routes;
    routes = NULL;
out:
    cw_free(routes);
    return rc;
}

/* The scheduler, created for cfg's routes; the node has none yet. */
static int egress_start(cw_node_t *node,
                        const cw_config_t *cfg,
                        const cw_egress_route_t *routes,
                        cw_error_t *err)
{
    cw_egress_options_t eopts = CW_EGRESS_OPTIONS_INIT;
    int rc;

    eopts.routes = routes;
    eopts.route_count = cfg->route_count;
    eopts.deliver = cw_pipeline_deliver;
    eopts.deliver_arg = node->pipeline;
    eopts.start_paused = cfg->delivery_paused;
    rc = cw_egress_new(&node->egress, &node->loop, node->store, &eopts, err);
    if (rc == 0) {
        cw_pipeline_attach(node->pipeline, node->store, node->egress, node->client);
    }
    return rc;
}

/*
 * A reload's routes go to the scheduler too: policies of known routes
 * change in place, new routes are claimed from at once (the scheduler is
 * created if the node had none), a removed route's deliveries stay
 * queued, and <delivery paused> pauses or resumes claiming. Before anything else is swapped: on
 * failure (logged) the running configuration stays whole.
 */
static int egress_reload(cw_node_t *node, const cw_config_t *cfg)
{
    cw_egress_route_t *routes = NULL;
    cw_error_t err = { 0 };
    uint32_t idle_max = 0;
    int rc = 0;

    rc = egress_routes_build(&routes, &idle_max, cfg);
    if (rc < 0) {
        (void)cw_error_set(&err, rc, "main", "out of memory");
        goto out;
    }
    if (node->egress != NULL) {
        rc = cw_egress_routes_set(node->egress, routes, cfg->route_count, &err);
    } else if (cfg->route_count > 0) {
        rc = egress_start(node, cfg, routes, &err);
    }
    if (rc < 0) {
        goto out;
    }
    /* <delivery paused> too: a maintenance window opens and closes by
     * SIGHUP, without a restart. */
    if (node->egress != NULL
        && (cfg->delivery_paused != 0) != (cw_egress_paused_get(node->egress) != 0)) {
        if (cfg->delivery_paused) {
            cw_egress_pause(node->egress);
            CW_LOG_INFO("main", "delivery paused by the reloaded configuration");
        } else {
            cw_egress_resume(node->egress);
            CW_LOG_INFO("main", "delivery resumed by the reloaded configuration");
        }
    }
    if (idle_max > 0 && cw_http_client_set_idle_connections_max(node->client, idle_max) < 0) {
        CW_LOG_WARN("main", "cannot keep %u idle connections; keeping the previous number",
                    (unsigned)idle_max);
    }
out:
    if (rc < 0) {
        CW_LOG_ERROR("main",
                     "reload refused: the routes cannot be applied: %s; the running "
                     "configuration stays",
                     err.msg);
    }
    cw_free(routes);
    return rc;
}

/* ==== Reload ==== */

static void reload_work(void *arg)
{
    cw_reload_t *r = arg;

    r->rc = cw_config_load(&r->cfg, r->path, &r->errs);
    if (r->rc == 0) {
        /* As at start: adapter names and sides, with their lines. */
        r->rc = cw_config_adapters_check(r->cfg, adapter_sides, NULL, &r->errs);
    }
    if (r->rc == 0) {
        /* SIGHUP reloads trust too: certificates are read again. */
        r->rc = cw_pipeline_trust_load(&r->keys, r->cfg, &r->err);
    }
    if (r->rc == 0) {
        r->rc = tls_load(r->tls, r->cfg, &r->err);
    }
    if (r->rc == 0 && r->cfg->rules_path[0] != '\0') {
        r->rc = cw_checks_rules_load(&r->rules, r->cfg->rules_path, &r->err);
    }
    if (r->rc == 0) {
        r->rc = cw_pipeline_adapters_load(&r->adapters, r->cfg, &r->err);
    }
}

static int listeners_equal(const cw_config_t *a, const cw_config_t *b)
{
    size_t i;

    if (a->listen_count != b->listen_count) {
        return 0;
    }
    for (i = 0; i < a->listen_count; i++) {
        const cw_conf_listen_t *x = &a->listens[i];
        const cw_conf_listen_t *y = &b->listens[i];

        if (strcmp(x->name, y->name) != 0 || strcmp(x->address, y->address) != 0
            || x->port != y->port || x->kind != y->kind) {
            return 0;
        }
    }
    return 1;
}

static void reload_done(int status, void *arg)
{
    cw_reload_t *r = arg;
    cw_node_t *node = r->node;
    size_t i;

    node->reloading = 0;
    if (status < 0 || r->rc < 0) {
        CW_LOG_ERROR("main", "reload of %s failed; the running configuration stays", r->path);
        for (i = 0; i < r->errs.count; i++) {
            CW_LOG_ERROR("config", "%s", r->errs.lines[i]);
        }
        if (r->err.msg[0] != '\0') {
            CW_LOG_ERROR("config", "%s", r->err.msg);
        }
        goto out;
    }
    if (node->stopping) {
        goto out;
    }
    if (strcmp(r->cfg->node_id, node->cfg->node_id) != 0) {
        CW_LOG_ERROR("main", "reload refused: node id changed from %s to %s; restart instead",
                     node->cfg->node_id, r->cfg->node_id);
        goto out;
    }
    if (egress_reload(node, r->cfg) < 0) {
        goto out;
    }
    if (!listeners_equal(node->cfg, r->cfg)) {
        CW_LOG_WARN("main", "listener changes take effect at the next restart");
        tls_unref_all(r->tls);
    }
    cw_log_set_level(r->cfg->log_level);
    for (i = 0; i < node->server_count; i++) {
        /* New connections use the reloaded certificate; open ones keep theirs. */
        cw_http_server_set_config(node->servers[i], r->cfg, r->tls[i]);
    }
    cw_api_set_config(node->api, r->cfg);
    cw_pipeline_trust_set(node->pipeline, r->keys, node->schemas);
    cw_pipeline_config_set(node->pipeline, r->cfg);
    cw_pipeline_rules_set(node->pipeline, r->rules);
    cw_checks_rules_unref(node->rules);
    node->rules = r->rules;
    r->rules = NULL;
    cw_pipeline_adapters_set(node->pipeline, r->adapters);
    cw_pipeline_adapters_unref(node->adapters);
    node->adapters = r->adapters;
    r->adapters = NULL;
    cw_sec_keys_unref(node->keys);
    node->keys = r->keys;
    r->keys = NULL;
    cw_config_unref(node->cfg);
    node->cfg = r->cfg;
    r->cfg = NULL;
    CW_LOG_INFO("main", "configuration reloaded from %s", r->path);
out:
    tls_unref_all(r->tls);
    cw_pipeline_adapters_unref(r->adapters);
    cw_checks_rules_unref(r->rules);
    cw_sec_keys_unref(r->keys);
    cw_config_unref(r->cfg);
    cw_config_errors_fini(&r->errs);
    cw_free(r);
}

static void on_hup(uv_signal_t *sig, int signum)
{
    cw_node_t *node = sig->data;
    cw_reload_t *r;

    (void)signum;
    if (node->stopping || node->reloading) {
        return;
    }
    r = cw_calloc(1, sizeof(*r));
    if (r == NULL) {
        CW_LOG_ERROR("main", "SIGHUP: out of memory; reload skipped");
        return;
    }
    r->node = node;
    cw_strlcpy(r->path, node->cfg->path, sizeof(r->path));
    cw_config_errors_init(&r->errs);
    /* Reading and validating the file is blocking work: off the loop. */
    if (cw_pipeline_work_submit(node->pipeline, reload_work, reload_done, r) < 0) {
        CW_LOG_ERROR("main", "SIGHUP: cannot queue the reload");
        cw_config_errors_fini(&r->errs);
        cw_free(r);
        return;
    }
    node->reloading = 1;
    CW_LOG_INFO("main", "SIGHUP: reloading %s", r->path);
}

/* ==== Start-up ==== */

static int node_listen(cw_node_t *node)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < node->cfg->listen_count && i < NODE_LISTENERS_MAX; i++) {
        const cw_conf_listen_t *l = &node->cfg->listens[i];
        cw_http_server_options_t opts = { 0 };
        cw_error_t err = { 0 };
        cw_http_server_t *server = NULL;
        char fields[256];

        opts.listen = l;
        opts.cfg = node->cfg;
        opts.on_request = cw_api_on_request;
        opts.on_done = cw_api_on_done;
        opts.arg = node->api;
        opts.tls = node->tls[i];
        rc = cw_http_server_new(&server, &node->loop, &opts, &err);
        if (rc < 0) {
            CW_LOG_ERROR("main", "%s", err.msg);
            return rc;
        }
        node->servers[node->server_count++] = server;
        node->servers_open++;
        CW_TRY(cw_api_server_add(node->api, server));
        (void)snprintf(fields, sizeof(fields),
                       "\"event\":\"listening\",\"listener\":\"%s\",\"address\":\"%s\",\"port\":%u,"
                       "\"kind\":\"%s\",\"tls\":%s",
                       l->name, l->address, (unsigned)cw_http_server_port(server),
                       l->kind == CW_LISTEN_ADMIN ? "admin" : "public", l->tls ? "true" : "false");
        cw_log_fields(CW_LOG_INFO, "main", __func__, fields, "listening on %s port %u", l->address,
                      (unsigned)cw_http_server_port(server));
    }
out:
    return rc;
}

/*
 * Each connection is a descriptor: raise the soft limit to the hard limit so
 * that connections-max, not a default of 1,024, is what bounds them.
 */
static void raise_fd_limit(uint32_t connections_max)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (rlim_t)connections_max + 64u) {
        CW_LOG_WARN("main",
                    "open-file limit %llu is below connections-max %u; raise it (ulimit -n)",
                    (unsigned long long)rl.rlim_cur, (unsigned)connections_max);
    }
}

static void on_purged(int status, uint64_t purged, void *arg)
{
    (void)arg;
    if (status < 0) {
        CW_LOG_ERROR("main", "retention purge failed after %llu message(s): %s",
                     (unsigned long long)purged, cw_strerror(status));
    } else if (purged > 0) {
        CW_LOG_INFO("main", "retention: purged %llu delivered message(s)",
                    (unsigned long long)purged);
    }
}

static void on_retention(uv_timer_t *timer)
{
    cw_node_t *node = cw_container_of(timer, cw_node_t, retention);
    uint32_t days = node->cfg->store.retention_days;
    int64_t before_ms;

    if (days == 0 || node->store == NULL || node->stopping) {
        return;
    }
    before_ms = cw_store_clock_ms() - (int64_t)days * 86400000;
    if (cw_store_msg_purge(node->store, before_ms, RETENTION_BATCH, on_purged, node) < 0) {
        CW_LOG_ERROR("main", "cannot start the retention purge");
    }
}

/*
 * The store, the outbound client and the delivery scheduler, whose routes
 * (name = destination party) and retry policies come from the config.
 */
static int services_start(cw_node_t *node)
{
    cw_store_options_t sopts = CW_STORE_OPTIONS_INIT;
    cw_egress_route_t *routes = NULL;
    cw_error_t err = { 0 };
    uint32_t idle_max = 0;
    int rc = 0;

    sopts.path = node->cfg->store.path;
    sopts.sync = node->cfg->store.synchronous_full ? CW_STORE_SYNC_FULL : CW_STORE_SYNC_NORMAL;
    sopts.group_max = node->cfg->store.group_max;
    /* After the drain, a statement the PostgreSQL server does not finish
     * gets as long again before it is cancelled. */
    sopts.close_grace_ms = node->cfg->limits.drain_timeout_ms;
    rc = cw_store_open(&node->store, &node->loop, &sopts, &err);
    if (rc < 0) {
        /* A PostgreSQL URL may hold a password; err names the database. */
        CW_LOG_ERROR("main", "store %s: %s",
                     cw_store_path_is_postgres(sopts.path) ? "(PostgreSQL)" : sopts.path, err.msg);
        goto out;
    }
    rc = cw_http_client_new(&node->client, &node->loop, &err);
    if (rc < 0) {
        CW_LOG_ERROR("main", "%s", err.msg);
        goto out;
    }
    CW_TRY(egress_routes_build(&routes, &idle_max, node->cfg));
    if (node->cfg->route_count > 0) {
        /* Every delivery slot keeps its connection between deliveries
         * (net.h); at most 1024 routes of at most 256 each. */
        rc = cw_http_client_set_idle_connections_max(node->client, idle_max);
        if (rc < 0) {
            CW_LOG_ERROR("main", "cannot keep %u idle connections: %s", (unsigned)idle_max,
                         cw_strerror(rc));
            goto out;
        }
        rc = egress_start(node, node->cfg, routes, &err);
        if (rc < 0) {
            CW_LOG_ERROR("main", "%s", err.msg);
            goto out;
        }
    }
    cw_pipeline_attach(node->pipeline, node->store, node->egress, node->client);
    cw_pipeline_config_set(node->pipeline, node->cfg);
    if (uv_timer_init(&node->loop, &node->retention) == 0) {
        node->retention_started = 1;
        (void)uv_timer_start(&node->retention, on_retention, RETENTION_FIRST_MS,
                             RETENTION_INTERVAL_MS);
        uv_unref((uv_handle_t *)&node->retention);
    }
out:
    cw_free(routes);
    return rc;
}

static int signal_start(cw_node_t *node, uv_signal_t *sig, uv_signal_cb cb, int signum)
{
    int rc = uv_signal_init(&node->loop, sig);

    if (rc != 0) {
        return CW_ESYS;
    }
    node->signals_open++;
    sig->data = node;
    return uv_signal_start(sig, cb, signum) == 0 ? 0 : CW_ESYS;
}

/* Logged once every listener is bound: the line a supervisor or a test waits
 * for before it sends traffic. A listener that cannot bind stops start-up
 * before this line. */
static void log_started(const cw_node_t *node, unsigned workers)
{
    char fields[64];

    (void)snprintf(fields, sizeof(fields), "\"event\":\"started\",\"workers\":%u", workers);
    cw_log_fields(CW_LOG_INFO, "main", __func__, fields,
                  "clearwayd %s node %s started with %u worker(s)", CW_VERSION, node->cfg->node_id,
                  workers);
}

/* Before the loop waits for I/O: the lines this iteration logged go out
 * in one write(2) (util.h, cw_log_buffer_start). */
static void on_log_flush(uv_prepare_t *handle)
{
    (void)handle;
    cw_log_flush();
}

static int node_run(cw_node_t *node)
{
    unsigned workers;
    size_t i;
    int rc = 0;
    int uvrc;

    workers = cw_pipeline_pool_size_set(node->cfg->workers);
    raise_fd_limit(node->cfg->limits.connections_max);
    uvrc = uv_loop_init(&node->loop);
    if (uvrc != 0) {
        CW_LOG_ERROR("main", "uv_loop_init: %s", uv_strerror(uvrc));
        return CW_ESYS;
    }
    /* Unreferenced: it must not keep the loop running on its own. Without
     * a buffer the loop thread writes each line at once, as before. */
    (void)uv_prepare_init(&node->loop, &node->log_flush);
    (void)uv_prepare_start(&node->log_flush, on_log_flush);
    uv_unref((uv_handle_t *)&node->log_flush);
    if (cw_log_buffer_start() != 0) {
        CW_LOG_WARN("main", "no log buffer: the loop thread writes each line at once");
    }
    node->pipeline = cw_pipeline_new(&node->loop);
    CW_CHECK_ALLOC(node->pipeline);
    cw_pipeline_trust_set(node->pipeline, node->keys, node->schemas);
    cw_pipeline_rules_set(node->pipeline, node->rules);
    cw_pipeline_adapters_set(node->pipeline, node->adapters);
    if (node->rules == NULL) {
        CW_LOG_WARN("main", "no <rules path>: consignments are not assessed");
    }
    CW_TRY(services_start(node));
    CW_TRY(cw_api_new(&node->api, &node->loop, node->cfg, node->pipeline));
    /* In the order signals_close counts them. */
    CW_TRY(signal_start(node, &node->sig_term, on_stop_signal, SIGTERM));
    CW_TRY(signal_start(node, &node->sig_int, on_stop_signal, SIGINT));
    CW_TRY(signal_start(node, &node->sig_hup, on_hup, SIGHUP));
    CW_TRY(node_listen(node));
    log_started(node, workers);

    (void)uv_run(&node->loop, UV_RUN_DEFAULT);
out:
    if (rc < 0 && !node->stopping) {
        /* Start-up failed half way: close what was opened. */
        node->stopping = 1;
        for (i = 0; i < node->server_count; i++) {
            cw_http_server_close(node->servers[i], 0, NULL, NULL);
        }
        services_close(node);
        (void)uv_run(&node->loop, UV_RUN_DEFAULT);
    }
    /* STYLE.md rule 35: close whatever is left and run until idle. */
    uv_walk(&node->loop, on_handle_walk_close, NULL);
    (void)uv_run(&node->loop, UV_RUN_DEFAULT);
    for (i = 0; i < node->server_count; i++) {
        cw_http_server_free(node->servers[i]);
    }
    if (node->api != NULL) {
        cw_api_servers_clear(node->api);
        cw_api_free(node->api);
    }
    cw_pipeline_free(node->pipeline);
    uvrc = uv_loop_close(&node->loop);
    cw_log_buffer_stop();
    if (CW_NEVER(uvrc != 0)) {
        CW_LOG_ERROR("main", "uv_loop_close: %s", uv_strerror(uvrc));
    }
    return rc;
}

/*
 * glibc's allocator, before any thread starts: by default it gives the top
 * of a heap back to the kernel once 128 KiB of it are free, and serves
 * blocks of 128 KiB and more (a threshold that rises as they are freed)
 * with mmap. Every request allocates and frees tens of KiB on the loop
 * thread, a pool thread and the store's writer, so the pages went back and
 * were faulted in again: 2.3-2.8 minor faults a message, and a fault costs
 * about 10 us on the VMs the benchmarks ran on (bench/README.md, "System
 * calls and page faults"). With these the memory stays with the process
 * up to its high-water mark. GLIBC_TUNABLES, when set, decides instead.
 */
#define MALLOC_TRIM_THRESHOLD (64 * 1024 * 1024)
#define MALLOC_MMAP_THRESHOLD (4 * 1024 * 1024)

static void malloc_tune(void)
{
    if (getenv("GLIBC_TUNABLES") != NULL) {
        return;
    }
    (void)mallopt(M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD);
    (void)mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD);
}

int main(int argc, char **argv)
{
    cw_node_t node;
    cw_config_errors_t errs;
    cw_error_t err = { 0 };
    const char *path = NULL;
    int exit_code = 0;
    int check = 0;
    int rc;
    int i;

    malloc_tune();
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--check") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("clearwayd %s\n", CW_VERSION);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "clearwayd: unknown or incomplete option: %s\n", argv[i]);
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (path == NULL) {
        fprintf(stderr, "clearwayd: --config FILE is required\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    /* Process-wide library set-up, once, before any thread (rule 47). */
    (void)signal(SIGPIPE, SIG_IGN);
    if (cw_sec_lib_init(&err) < 0) {
        fprintf(stderr, "clearwayd: %s\n", err.msg);
        return EXIT_START;
    }
    if (cw_http_client_lib_init() < 0) {
        fprintf(stderr, "clearwayd: libcurl cannot be initialised\n");
        cw_sec_lib_fini();
        return EXIT_START;
    }

    memset(&node, 0, sizeof(node));
    cw_config_errors_init(&errs);
    rc = cw_config_load(&node.cfg, path, &errs);
    if (rc == 0) {
        /* Adapter names are checked here, with their lines, rather than
         * found wrong when the adapters are built below (no line there). */
        rc = cw_config_adapters_check(node.cfg, adapter_sides, NULL, &errs);
    }
    print_config_errors(&errs);
    cw_config_errors_fini(&errs);
    if (rc == 0) {
        rc = cw_pipeline_trust_load(&node.keys, node.cfg, &err);
        if (rc == 0) {
            rc = tls_load(node.tls, node.cfg, &err);
        }
        if (rc == 0 && node.cfg->rules_path[0] != '\0') {
            rc = cw_checks_rules_load(&node.rules, node.cfg->rules_path, &err);
        }
        if (rc == 0) {
            rc = cw_pipeline_adapters_load(&node.adapters, node.cfg, &err);
        }
        if (rc < 0) {
            fprintf(stderr, "%s: %s\n", path, err.msg);
        }
    }
    if (rc < 0) {
        exit_code = EXIT_CONFIG;
        goto out;
    }
    if (check) {
        printf("%s: ok\n", path);
        goto out;
    }
    cw_log_set_level(node.cfg->log_level);
    if (cw_sec_schemas_new(&node.schemas, &err) < 0) {
        CW_LOG_ERROR("main", "%s", err.msg);
        exit_code = EXIT_START;
        goto out;
    }

    rc = node_run(&node);
    if (rc < 0) {
        CW_LOG_ERROR("main", "clearwayd stopped on error: %s", cw_strerror(rc));
        exit_code = EXIT_START;
    } else {
        CW_LOG_INFO("main", "clearwayd stopped");
    }
out:
    tls_unref_all(node.tls);
    cw_pipeline_adapters_unref(node.adapters);
    cw_checks_rules_unref(node.rules);
    cw_sec_schemas_free(node.schemas);
    cw_sec_keys_unref(node.keys);
    cw_config_unref(node.cfg);
    cw_http_client_lib_fini();
    cw_sec_lib_fini();
    return exit_code;
}
