/*
 * The trust snapshot: from the configuration's node key and partners to an
 * immutable cw_sec_keys_t, swapped whole on reload.
 */
#include <string.h>

#include "internal.h"

int cw_pipeline_trust_load(cw_sec_keys_t **out, const cw_config_t *cfg, cw_error_t *err)
{
    cw_sec_keys_conf_t conf = { 0 };
    cw_sec_partner_conf_t *partners = NULL;
    cw_sec_watch_conf_t *watched = NULL;
    const char **paths = NULL;
    size_t path_count = 0;
    size_t i;
    size_t j;
    int rc = 0;

    *out = NULL;
    /* The TLS certificates, for their expiry only: each listener's and
     * each route's client certificate, once per role and file. */
    watched = cw_calloc(cfg->listen_count + cfg->route_count + 1, sizeof(*watched));
    CW_CHECK_ALLOC(watched);
    for (i = 0; i < cfg->listen_count + cfg->route_count; i++) {
        const char *path = i < cfg->listen_count
                               ? (cfg->listens[i].tls ? cfg->listens[i].cert_path : "")
                               : cfg->routes[i - cfg->listen_count].client_cert_path;
        const char *role = i < cfg->listen_count ? "tls-server" : "tls-client";

        for (j = 0; j < conf.watched_count; j++) {
            if (strcmp(watched[j].path, path) == 0 && strcmp(watched[j].role, role) == 0) {
                break;
            }
        }
        if (path[0] != '\0' && j == conf.watched_count) {
            watched[conf.watched_count].party = cfg->node_id;
            watched[conf.watched_count].role = role;
            watched[conf.watched_count++].path = path;
        }
    }
    conf.watched = watched;
    if (cfg->partner_count > 0) {
        partners = cw_calloc(cfg->partner_count, sizeof(*partners));
        paths = cw_calloc(cfg->partner_count * CW_CONF_PARTNER_CERTS_MAX, sizeof(*paths));
        CW_CHECK_ALLOC(partners);
        CW_CHECK_ALLOC(paths);
    }
    for (i = 0; i < cfg->partner_count; i++) {
        const cw_conf_partner_t *p = &cfg->partners[i];

        partners[i].party_id = p->id;
        partners[i].cert_paths = &paths[path_count];
        partners[i].cert_count = p->cert_count;
        partners[i].flags = p->legacy_sha1 ? CW_SEC_PARTNER_LEGACY_SHA1 : 0;
        for (j = 0; j < p->cert_count; j++) {
            paths[path_count++] = p->certs[j];
        }
    }
    conf.node_id = cfg->node_id;
    conf.key_path = cfg->node_key_path[0] != '\0' ? cfg->node_key_path : NULL;
    conf.cert_path = cfg->node_cert_path[0] != '\0' ? cfg->node_cert_path : NULL;
    conf.partners = partners;
    conf.partner_count = cfg->partner_count;
    rc = cw_sec_keys_new(out, &conf, err);
out:
    cw_free(watched);
    cw_free(paths);
    cw_free(partners);
    return rc;
}

void cw_pipeline_trust_set(cw_pipeline_t *pl, cw_sec_keys_t *keys, const cw_sec_schemas_t *schemas)
{
    cw_sec_keys_t *old = pl->keys;

    /* Jobs in flight hold their own reference to the snapshot they began
     * with, so dropping ours here never pulls keys from under them. */
    pl->keys = keys != NULL ? cw_sec_keys_ref(keys) : NULL;
    pl->schemas = schemas;
    cw_sec_keys_unref(old);
}
