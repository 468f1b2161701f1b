/*
 * The directive table and the walk that applies a configuration tree to a
 * snapshot (STYLE.md rule 52, after nginx's ngx_command_t tables).
 *
 * Division of work with schemas/config.xsd: the schema owns the structure
 * (which elements and attributes exist, where and how often, and keyword
 * values); this file owns every value (number syntax, ranges from limits.h,
 * identifiers, addresses) and the checks that span several values. Each
 * problem therefore has exactly one place that reports it. The walk still
 * re-checks structure defensively, but reports it only when the schema
 * passed, which can happen only if the schema and this table disagree.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <libxml/tree.h>

#include "internal.h"

/* ==== The table ==== */

/* How a directive's text is checked and stored. */
typedef enum cw_conf_type_e {
    CW_CONF_UINT16,   /* uint16_t in [min, max] */
    CW_CONF_UINT32,   /* uint32_t in [min, max] */
    CW_CONF_UINT64,   /* uint64_t in [min, max] */
    CW_CONF_INT,      /* int in [min, max], for values passed to int APIs */
    CW_CONF_PARTY_ID, /* char[size]: 1..size-1 of A-Z a-z 0-9 . _ : - */
    CW_CONF_NAME,     /* char[size]: 1..size-1 of A-Z a-z 0-9 . _ - */
    CW_CONF_ADDRESS,  /* char[size]: a numeric IPv4 or IPv6 address */
    CW_CONF_KEYWORD,  /* an int-sized enum, from the keyword list */
    CW_CONF_BOOL,     /* int: "true" or "false" */
    CW_CONF_PATH,     /* char[size]: a path, resolved from the config file's folder */
    CW_CONF_PATHS,    /* cw_conf_partner_t certs: 1..4 paths separated by spaces */
    CW_CONF_URL,      /* char[size]: an http:// or https:// URL without spaces */
    CW_CONF_TEXT,     /* char[size]: 1..size-1 printable ASCII characters, no spaces */
    CW_CONF_LIST,     /* char[size]: printable ASCII words separated by single spaces */
} cw_conf_type_e;

/* The record a directive writes into. */
typedef enum cw_conf_record_e {
    CW_CONF_RECORD_CONFIG,  /* the snapshot itself */
    CW_CONF_RECORD_LISTEN,  /* the entry of the <listen> being walked */
    CW_CONF_RECORD_PARTNER, /* the entry of the <partner> being walked */
    CW_CONF_RECORD_ROUTE,   /* the entry of the <route> being walked */
} cw_conf_record_e;

typedef struct cw_conf_keyword {
    const char *name; /* NULL ends a list */
    int value;
} cw_conf_keyword_t;

/* A directive flag: the walk reports the attribute as missing. */
#define CW_CONF_REQUIRED 0x1u
/* CW_CONF_PATH: a PostgreSQL URL ("postgres://", "postgresql://") is taken
 * as written, not resolved as a path (store/@path). */
#define CW_CONF_PG_URL 0x2u

typedef struct cw_conf_directive {
    const char *path;        /* "limits/url-bytes-max", or "listen/@port" for an attribute */
    cw_conf_type_e type;     /* how the value is checked and stored */
    cw_conf_record_e record; /* which struct offset is relative to */
    size_t offset;           /* of the field in its record */
    size_t size;             /* of the field, checked against the type */
    uint64_t min;            /* numbers: inclusive bounds */
    uint64_t max;            /* numbers: inclusive bounds */
    const cw_conf_keyword_t *keywords; /* CW_CONF_KEYWORD only */
    unsigned flags;                    /* CW_CONF_REQUIRED, CW_CONF_PG_URL */
} cw_conf_directive_t;

/* Elements that may repeat; each occurrence fills a new record. */
typedef struct cw_conf_list {
    const char *path;        /* the repeated element */
    cw_conf_record_e record; /* the record each occurrence fills */
} cw_conf_list_t;

#define CW_FIELD_SIZE(type, field) sizeof(((type *)0)->field)
#define CONFIG_FIELD(field) \
    CW_CONF_RECORD_CONFIG, offsetof(cw_config_t, field), CW_FIELD_SIZE(cw_config_t, field)
#define PARTNER_FIELD(field)                                    \
    CW_CONF_RECORD_PARTNER, offsetof(cw_conf_partner_t, field), \
        CW_FIELD_SIZE(cw_conf_partner_t, field)
#define ROUTE_FIELD(field) \
    CW_CONF_RECORD_ROUTE, offsetof(cw_conf_route_t, field), CW_FIELD_SIZE(cw_conf_route_t, field)
#define LISTEN_FIELD(field) \
    CW_CONF_RECORD_LISTEN, offsetof(cw_conf_listen_t, field), CW_FIELD_SIZE(cw_conf_listen_t, field)

/* Keyword lists also appear as enumerations in schemas/config.xsd. */
static const cw_conf_keyword_t log_levels[] = {
    { "debug", CW_LOG_DEBUG },
    { "info", CW_LOG_INFO },
    { "warn", CW_LOG_WARN },
    { "error", CW_LOG_ERROR },
    { NULL, 0 },
};

static const cw_conf_keyword_t client_auths[] = {
    { "none", CW_CLIENT_AUTH_NONE },
    { "optional", CW_CLIENT_AUTH_OPTIONAL },
    { "required", CW_CLIENT_AUTH_REQUIRED },
    { NULL, 0 },
};

static const cw_conf_keyword_t sign_profiles[] = {
    { "none", 0 },
    { "ceb", 1 },
    { NULL, 0 },
};

/* The consignment schema's TransportMode values, 1-based (0: none). */
static const cw_conf_keyword_t transport_modes[] = {
    { "air", 1 }, { "road", 2 }, { "rail", 3 }, { "sea", 4 }, { "post", 5 }, { NULL, 0 },
};

const char *cw_config_transport_mode_name(int mode)
{
    const cw_conf_keyword_t *k;

    for (k = transport_modes; k->name != NULL; k++) {
        if (k->value == mode) {
            return k->name;
        }
    }
    return NULL;
}

static const cw_conf_keyword_t sync_modes[] = {
    { "full", 1 },
    { "normal", 0 },
    { NULL, 0 },
};

static const cw_conf_keyword_t listen_kinds[] = {
    { "public", CW_LISTEN_PUBLIC },
    { "admin", CW_LISTEN_ADMIN },
    { NULL, 0 },
};

/*
 * Every value the file can set. Ranges come from limits.h only, so that the
 * rationale for each bound is written down once. Defaults are not here:
 * cw_config_limits_default and the record initialisers apply them before
 * the walk, so an absent element keeps its default.
 */
static const cw_conf_directive_t directives[] = {
    { "node/@id", CW_CONF_PARTY_ID, CONFIG_FIELD(node_id), 0, 0, NULL, CW_CONF_REQUIRED },
    { "node/@key", CW_CONF_PATH, CONFIG_FIELD(node_key_path), 0, 0, NULL, 0 },
    { "node/@cert", CW_CONF_PATH, CONFIG_FIELD(node_cert_path), 0, 0, NULL, 0 },
    { "log/@level", CW_CONF_KEYWORD, CONFIG_FIELD(log_level), 0, 0, log_levels, 0 },
    { "workers", CW_CONF_UINT32, CONFIG_FIELD(workers), CW_LIMIT_WORKERS_MIN, CW_LIMIT_WORKERS_MAX,
      NULL, 0 },

    { "listen/@name", CW_CONF_NAME, LISTEN_FIELD(name), 0, 0, NULL, CW_CONF_REQUIRED },
    { "listen/@address", CW_CONF_ADDRESS, LISTEN_FIELD(address), 0, 0, NULL, CW_CONF_REQUIRED },
    { "listen/@port", CW_CONF_UINT16, LISTEN_FIELD(port), 0, UINT16_MAX, NULL, CW_CONF_REQUIRED },
    { "listen/@kind", CW_CONF_KEYWORD, LISTEN_FIELD(kind), 0, 0, listen_kinds, 0 },
    { "listen/@backlog", CW_CONF_INT, LISTEN_FIELD(backlog), CW_LIMIT_BACKLOG_MIN,
      CW_LIMIT_BACKLOG_MAX, NULL, 0 },
    { "listen/@tls", CW_CONF_BOOL, LISTEN_FIELD(tls), 0, 0, NULL, 0 },
    { "listen/@insecure", CW_CONF_BOOL, LISTEN_FIELD(insecure), 0, 0, NULL, 0 },
    { "listen/@cert", CW_CONF_PATH, LISTEN_FIELD(cert_path), 0, 0, NULL, 0 },
    { "listen/@key", CW_CONF_PATH, LISTEN_FIELD(key_path), 0, 0, NULL, 0 },
    { "listen/@client-ca", CW_CONF_PATH, LISTEN_FIELD(client_ca_path), 0, 0, NULL, 0 },
    { "listen/@client-auth", CW_CONF_KEYWORD, LISTEN_FIELD(client_auth), 0, 0, client_auths, 0 },

    { "limits/header-bytes-max", CW_CONF_UINT32, CONFIG_FIELD(limits.header_bytes_max),
      CW_LIMIT_HEADER_BYTES_MIN, CW_LIMIT_HEADER_BYTES_MAX, NULL, 0 },
    { "limits/header-count-max", CW_CONF_UINT32, CONFIG_FIELD(limits.header_count_max),
      CW_LIMIT_HEADER_COUNT_MIN, CW_LIMIT_HEADER_COUNT_MAX, NULL, 0 },
    { "limits/url-bytes-max", CW_CONF_UINT32, CONFIG_FIELD(limits.url_bytes_max),
      CW_LIMIT_URL_BYTES_MIN, CW_LIMIT_URL_BYTES_MAX, NULL, 0 },
    { "limits/body-bytes-max", CW_CONF_UINT64, CONFIG_FIELD(limits.body_bytes_max),
      CW_LIMIT_BODY_BYTES_MIN, CW_LIMIT_BODY_BYTES_MAX, NULL, 0 },
    { "limits/connections-max", CW_CONF_UINT32, CONFIG_FIELD(limits.connections_max),
      CW_LIMIT_CONNECTIONS_MIN, CW_LIMIT_CONNECTIONS_MAX, NULL, 0 },
    { "limits/pipeline-max", CW_CONF_UINT32, CONFIG_FIELD(limits.pipeline_max),
      CW_LIMIT_PIPELINE_MIN, CW_LIMIT_PIPELINE_MAX, NULL, 0 },
    { "limits/header-timeout-ms", CW_CONF_UINT32, CONFIG_FIELD(limits.header_timeout_ms),
      CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "limits/body-timeout-ms", CW_CONF_UINT32, CONFIG_FIELD(limits.body_timeout_ms),
      CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "limits/idle-timeout-ms", CW_CONF_UINT32, CONFIG_FIELD(limits.idle_timeout_ms),
      CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "limits/write-timeout-ms", CW_CONF_UINT32, CONFIG_FIELD(limits.write_timeout_ms),
      CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "limits/drain-timeout-ms", CW_CONF_UINT32, CONFIG_FIELD(limits.drain_timeout_ms),
      CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "limits/write-buffer-bytes-max", CW_CONF_UINT32, CONFIG_FIELD(limits.write_buffer_bytes_max),
      CW_LIMIT_WRITE_BUFFER_MIN, CW_LIMIT_WRITE_BUFFER_MAX, NULL, 0 },
    { "limits/xml-bytes-max", CW_CONF_UINT32, CONFIG_FIELD(limits.xml_bytes_max),
      CW_LIMIT_XML_BYTES_MIN, CW_LIMIT_XML_BYTES_MAX, NULL, 0 },
    { "limits/xml-depth-max", CW_CONF_UINT32, CONFIG_FIELD(limits.xml_depth_max),
      CW_LIMIT_XML_DEPTH_MIN, CW_LIMIT_XML_DEPTH_MAX, NULL, 0 },
    { "limits/xml-nodes-max", CW_CONF_UINT32, CONFIG_FIELD(limits.xml_nodes_max),
      CW_LIMIT_XML_NODES_MIN, CW_LIMIT_XML_NODES_MAX, NULL, 0 },
    { "limits/timestamp-skew-s", CW_CONF_UINT32, CONFIG_FIELD(limits.timestamp_skew_s),
      CW_LIMIT_TIMESTAMP_SKEW_S_MIN, CW_LIMIT_TIMESTAMP_SKEW_S_MAX, NULL, 0 },
    { "limits/handshake-timeout-ms", CW_CONF_UINT32, CONFIG_FIELD(limits.handshake_timeout_ms),
      CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },

    { "partner/@id", CW_CONF_PARTY_ID, PARTNER_FIELD(id), 0, 0, NULL, CW_CONF_REQUIRED },
    { "partner/@certs", CW_CONF_PATHS, PARTNER_FIELD(certs), 0, 0, NULL, CW_CONF_REQUIRED },
    { "partner/@legacy-sha1", CW_CONF_BOOL, PARTNER_FIELD(legacy_sha1), 0, 0, NULL, 0 },
    { "partner/@tls-fingerprint", CW_CONF_LIST, PARTNER_FIELD(tls_fingerprints), 0, 0, NULL, 0 },
    { "partner/@tls-subject", CW_CONF_LIST, PARTNER_FIELD(tls_subject), 0, 0, NULL, 0 },
    { "partner/@actions", CW_CONF_LIST, PARTNER_FIELD(actions), 0, 0, NULL, 0 },
    { "partner/@destinations", CW_CONF_LIST, PARTNER_FIELD(destinations), 0, 0, NULL, 0 },
    { "partner/@adapter", CW_CONF_NAME, PARTNER_FIELD(adapter), 0, 0, NULL, 0 },
    { "partner/@adapter-to", CW_CONF_PARTY_ID, PARTNER_FIELD(adapter_to), 0, 0, NULL, 0 },
    { "partner/@adapter-catalog", CW_CONF_PATH, PARTNER_FIELD(adapter_catalog), 0, 0, NULL, 0 },
    { "partner/@adapter-xslt-dir", CW_CONF_PATH, PARTNER_FIELD(adapter_xslt_dir), 0, 0, NULL, 0 },
    { "partner/@adapter-xslt", CW_CONF_TEXT, PARTNER_FIELD(adapter_xslt), 0, 0, NULL, 0 },
    { "partner/@adapter-transport-mode", CW_CONF_KEYWORD, PARTNER_FIELD(adapter_transport_mode), 0,
      0, transport_modes, 0 },

    { "store/@path", CW_CONF_PATH, CONFIG_FIELD(store.path), 0, 0, NULL, CW_CONF_PG_URL },
    { "rules/@path", CW_CONF_PATH, CONFIG_FIELD(rules_path), 0, 0, NULL, 0 },
    { "delivery/@paused", CW_CONF_BOOL, CONFIG_FIELD(delivery_paused), 0, 0, NULL, 0 },
    { "store/@synchronous", CW_CONF_KEYWORD, CONFIG_FIELD(store.synchronous_full), 0, 0, sync_modes,
      0 },
    { "store/@group-max", CW_CONF_UINT32, CONFIG_FIELD(store.group_max), 1,
      CW_LIMIT_STORE_GROUP_MAX, NULL, 0 },
    { "store/@retention-days", CW_CONF_UINT32, CONFIG_FIELD(store.retention_days), 0,
      CW_LIMIT_STORE_RETENTION_DAYS_MAX, NULL, 0 },

    { "route/@to", CW_CONF_PARTY_ID, ROUTE_FIELD(to), 0, 0, NULL, CW_CONF_REQUIRED },
    { "route/@url", CW_CONF_URL, ROUTE_FIELD(url), 0, 0, NULL, CW_CONF_REQUIRED },
    { "route/@insecure-http", CW_CONF_BOOL, ROUTE_FIELD(insecure_http), 0, 0, NULL, 0 },
    { "route/@ca", CW_CONF_PATH, ROUTE_FIELD(ca_path), 0, 0, NULL, 0 },
    { "route/@client-cert", CW_CONF_PATH, ROUTE_FIELD(client_cert_path), 0, 0, NULL, 0 },
    { "route/@client-key", CW_CONF_PATH, ROUTE_FIELD(client_key_path), 0, 0, NULL, 0 },
    { "route/@pinned-pubkey", CW_CONF_TEXT, ROUTE_FIELD(pinned_pubkey), 0, 0, NULL, 0 },
    { "route/@adapter", CW_CONF_NAME, ROUTE_FIELD(adapter), 0, 0, NULL, 0 },
    { "route/@adapter-sign", CW_CONF_KEYWORD, ROUTE_FIELD(adapter_sign), 0, 0, sign_profiles, 0 },
    { "route/@adapter-xslt-dir", CW_CONF_PATH, ROUTE_FIELD(adapter_xslt_dir), 0, 0, NULL, 0 },
    { "route/@adapter-xslt", CW_CONF_TEXT, ROUTE_FIELD(adapter_xslt), 0, 0, NULL, 0 },
    { "route/@connect-timeout-ms", CW_CONF_UINT32, ROUTE_FIELD(connect_timeout_ms),
      CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "route/@timeout-ms", CW_CONF_UINT32, ROUTE_FIELD(timeout_ms), CW_LIMIT_TIMEOUT_MS_MIN,
      CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "route/@max-attempts", CW_CONF_UINT32, ROUTE_FIELD(max_attempts), 1,
      CW_LIMIT_ROUTE_MAX_ATTEMPTS_MAX, NULL, 0 },
    { "route/@max-age-s", CW_CONF_UINT32, ROUTE_FIELD(max_age_s), 1, CW_LIMIT_ROUTE_MAX_AGE_S_MAX,
      NULL, 0 },
    { "route/@base-delay-ms", CW_CONF_UINT32, ROUTE_FIELD(base_delay_ms), 1,
      CW_LIMIT_TIMEOUT_MS_MAX, NULL, 0 },
    { "route/@max-delay-ms", CW_CONF_UINT32, ROUTE_FIELD(max_delay_ms), 1, CW_LIMIT_TIMEOUT_MS_MAX,
      NULL, 0 },
    { "route/@concurrency", CW_CONF_UINT32, ROUTE_FIELD(concurrency), 1,
      CW_LIMIT_ROUTE_CONCURRENCY_MAX, NULL, 0 },
    { "route/@initial-concurrency", CW_CONF_UINT32, ROUTE_FIELD(initial_concurrency), 1,
      CW_LIMIT_ROUTE_CONCURRENCY_MAX, NULL, 0 },
};

static const cw_conf_list_t lists[] = {
    { "listen", CW_CONF_RECORD_LISTEN },
    { "partner", CW_CONF_RECORD_PARTNER },
    { "route", CW_CONF_RECORD_ROUTE },
};

/* Values longer than this are cut in messages, so one bad value cannot
 * flood the output. */
#define VALUE_SHOWN_MAX 64

/* Element paths are short ("limits/write-buffer-bytes-max"); a longer one is
 * unknown by construction. */
#define PATH_BYTES_MAX 128

/* ==== Walk state ==== */

typedef struct cw_conf_walk {
    cw_conf_load_t *ld;                            /* problems go here */
    cw_config_t *cfg;                              /* the snapshot being filled */
    size_t listen_cap;                             /* entries allocated in cfg->listens */
    size_t partner_cap;                            /* entries allocated in cfg->partners */
    size_t route_cap;                              /* entries allocated in cfg->routes */
    unsigned char seen[CW_ARRAY_SIZE(directives)]; /* directive given at least once */
    long node_line;                                /* line of <node>; 0 before it is seen */
    int rc;                                        /* CW_ENOMEM from libxml2 accessors */
} cw_conf_walk_t;

/*
 * Reports a problem the schema owns. When the schema failed, it has
 * already reported this problem in its own words, so repeating it would
 * only add noise. When the schema passed, the schema and the directive
 * table disagree; the problem is reported so that the file is still refused.
 */
static void structure_problem(cw_conf_walk_t *w, long line, const char *what, const char *name)
{
    if (w->ld->schema_ok) {
        cw_config__problem(w->ld, line, "%s '%s' is not allowed here", what, name);
    }
}

/* ==== Values ==== */

/* Bytes of a value shown in a message: at most VALUE_SHOWN_MAX, cut on a
 * UTF-8 character boundary. */
static int shown_len(const char *s, size_t n)
{
    if (n <= VALUE_SHOWN_MAX) {
        return (int)n;
    }
    n = VALUE_SHOWN_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) {
        n--;
    }
    return (int)n;
}

static const char *shown_more(size_t n)
{
    return n > VALUE_SHOWN_MAX ? "..." : "";
}

static void store(void *record, const cw_conf_directive_t *d, const void *value, size_t size)
{
    /* A size mismatch means the table names the wrong type for the field. */
    if (CW_NEVER(d->size != size)) {
        return;
    }
    memcpy((char *)record + d->offset, value, size);
}

static void apply_number(cw_conf_walk_t *w,
                         const cw_conf_directive_t *d,
                         void *record,
                         const char *s,
                         size_t n,
                         long line)
{
    uint64_t v = 0;
    uint16_t v16;
    uint32_t v32;
    int vint;
    int rc;

    rc = cw_parse_uintn(s, n, d->min, d->max, &v);
    if (rc == CW_E2BIG) {
        cw_config__problem(w->ld, line, "%s: %.*s%s is out of range [%" PRIu64 ", %" PRIu64 "]",
                           d->path, shown_len(s, n), s, shown_more(n), d->min, d->max);
        return;
    }
    if (rc < 0) {
        cw_config__problem(w->ld, line, "%s: '%.*s%s' is not a decimal number", d->path,
                           shown_len(s, n), s, shown_more(n));
        return;
    }
    switch (d->type) {
    case CW_CONF_UINT16:
        v16 = (uint16_t)v;
        store(record, d, &v16, sizeof(v16));
        break;
    case CW_CONF_UINT32:
        v32 = (uint32_t)v;
        store(record, d, &v32, sizeof(v32));
        break;
    case CW_CONF_UINT64:
        store(record, d, &v, sizeof(v));
        break;
    case CW_CONF_INT:
        vint = (int)v;
        store(record, d, &vint, sizeof(vint));
        break;
    case CW_CONF_PARTY_ID:
    case CW_CONF_NAME:
    case CW_CONF_ADDRESS:
    case CW_CONF_KEYWORD:
    case CW_CONF_BOOL:
    case CW_CONF_PATH:
    case CW_CONF_PATHS:
    case CW_CONF_URL:
    case CW_CONF_TEXT:
    case CW_CONF_LIST:
        (void)CW_NEVER(1);
        break;
    }
}

static int is_id_char(char c, const char *punct)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
        return 1;
    }
    return c != '\0' && strchr(punct, c) != NULL;
}

/* Copies a checked string value into its char[] field, which it fits. */
static void store_string(void *record, const cw_conf_directive_t *d, const char *s, size_t n)
{
    char *field = (char *)record + d->offset;

    if (CW_NEVER(n >= d->size)) {
        return;
    }
    memcpy(field, s, n);
    memset(field + n, 0, d->size - n);
}

/* Identifiers end up in logs, metrics labels and, for party ids, in signed
 * message headers, so they are restricted to a small portable alphabet. */
static void apply_id(cw_conf_walk_t *w,
                     const cw_conf_directive_t *d,
                     void *record,
                     const char *s,
                     size_t n,
                     long line,
                     const char *punct,
                     const char *punct_shown)
{
    size_t i;
    int ok = n > 0 && n < d->size;

    for (i = 0; ok && i < n; i++) {
        ok = is_id_char(s[i], punct);
    }
    if (!ok) {
        cw_config__problem(w->ld, line,
                           "%s: '%.*s%s' is not valid: use 1 to %zu characters from A-Z a-z "
                           "0-9 %s",
                           d->path, shown_len(s, n), s, shown_more(n), d->size - 1, punct_shown);
        return;
    }
    store_string(record, d, s, n);
}

/* Only numeric addresses are accepted: resolving a name would block at
 * start-up and make the bound address depend on DNS. */
static void apply_address(cw_conf_walk_t *w,
                          const cw_conf_directive_t *d,
                          void *record,
                          const char *s,
                          size_t n,
                          long line)
{
    char buf[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    int ok = n > 0 && n < sizeof(buf) && n < d->size;

    if (ok) {
        memcpy(buf, s, n);
        buf[n] = '\0';
        ok = inet_pton(AF_INET, buf, bin) == 1 || inet_pton(AF_INET6, buf, bin) == 1;
    }
    if (!ok) {
        cw_config__problem(w->ld, line, "%s: '%.*s%s' is not a numeric IPv4 or IPv6 address",
                           d->path, shown_len(s, n), s, shown_more(n));
        return;
    }
    store_string(record, d, s, n);
}

static void apply_keyword(cw_conf_walk_t *w,
                          const cw_conf_directive_t *d,
                          void *record,
                          const char *s,
                          size_t n,
                          long line)
{
    const cw_conf_keyword_t *k;

    for (k = d->keywords; k != NULL && k->name != NULL; k++) {
        if (strlen(k->name) == n && memcmp(k->name, s, n) == 0) {
            store(record, d, &k->value, sizeof(k->value));
            return;
        }
    }
    /* Keywords are enumerations in the schema, which reports a bad one. */
    if (w->ld->schema_ok) {
        cw_config__problem(w->ld, line, "%s: '%.*s%s' is not a known keyword", d->path,
                           shown_len(s, n), s, shown_more(n));
    }
}

static int is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void apply_bool(cw_conf_walk_t *w,
                       const cw_conf_directive_t *d,
                       void *record,
                       const char *s,
                       size_t n,
                       long line)
{
    int value;

    if (n == 4 && memcmp(s, "true", 4) == 0) {
        value = 1;
    } else if (n == 5 && memcmp(s, "false", 5) == 0) {
        value = 0;
    } else {
        /* The schema's enumeration reports it. */
        if (w->ld->schema_ok) {
            cw_config__problem(w->ld, line, "%s: '%.*s%s' is neither true nor false", d->path,
                               shown_len(s, n), s, shown_more(n));
        }
        return;
    }
    store(record, d, &value, sizeof(value));
}

/*
 * Writes the path s (n bytes) into out, taking a relative one from the
 * folder of the configuration file, so that a node's files can sit next to
 * its configuration whatever the working directory. Returns 0 or -1 when it
 * does not fit or is empty.
 */
static int resolve_path(const cw_conf_walk_t *w, const char *s, size_t n, char *out, size_t size)
{
    const char *name = w->ld->name;
    const char *slash = strrchr(name, '/');
    size_t dir_len = 0;

    if (n == 0 || memchr(s, '\0', n) != NULL) {
        return -1;
    }
    if (s[0] != '/' && slash != NULL) {
        dir_len = (size_t)(slash - name) + 1;
    }
    if (dir_len + n >= size) {
        return -1;
    }
    memcpy(out, name, dir_len);
    memcpy(out + dir_len, s, n);
    out[dir_len + n] = '\0';
    return 0;
}

static void apply_path(cw_conf_walk_t *w,
                       const cw_conf_directive_t *d,
                       void *record,
                       const char *s,
                       size_t n,
                       long line)
{
    char *field = (char *)record + d->offset;

    if ((d->flags & CW_CONF_PG_URL) != 0
        && ((n > 11 && memcmp(s, "postgres://", 11) == 0)
            || (n > 13 && memcmp(s, "postgresql://", 13) == 0))) {
        if (n >= d->size || memchr(s, '\0', n) != NULL) {
            /* Not quoted back: a URL may hold a password. */
            field[0] = '\0';
            cw_config__problem(w->ld, line, "%s: the PostgreSQL URL is longer than %zu bytes",
                               d->path, d->size - 1);
            return;
        }
        memcpy(field, s, n);
        field[n] = '\0';
        return;
    }
    if (resolve_path(w, s, n, field, d->size) < 0) {
        field[0] = '\0';
        cw_config__problem(w->ld, line, "%s: '%.*s%s' is empty or longer than %zu bytes", d->path,
                           shown_len(s, n), s, shown_more(n), d->size - 1);
    }
}

static void apply_text(cw_conf_walk_t *w,
                       const cw_conf_directive_t *d,
                       void *record,
                       const char *s,
                       size_t n,
                       long line)
{
    size_t i;
    int ok = n > 0 && n < d->size;

    for (i = 0; ok && d->type != CW_CONF_LIST && i < n; i++) {
        ok = s[i] > ' ' && s[i] < 0x7f;
    }
    if (d->type == CW_CONF_LIST) {
        /* Words separated by single spaces; the schema's xs:token already
         * collapsed runs of white space. */
        ok = n > 0 && n < d->size;
        for (i = 0; ok && i < n; i++) {
            ok = (s[i] > ' ' && s[i] < 0x7f) || (s[i] == ' ' && i > 0 && s[i - 1] != ' ');
        }
    }
    if (ok && d->type == CW_CONF_URL) {
        ok = (n > 8 && strncmp(s, "https://", 8) == 0) || (n > 7 && strncmp(s, "http://", 7) == 0);
    }
    if (!ok) {
        cw_config__problem(w->ld, line, "%s: '%.*s%s' is not %s of at most %zu characters", d->path,
                           shown_len(s, n), s, shown_more(n),
                           d->type == CW_CONF_URL    ? "an http:// or https:// URL"
                           : d->type == CW_CONF_LIST ? "printable words separated by spaces"
                                                     : "printable text without spaces",
                           d->size - 1);
        return;
    }
    store_string(record, d, s, n);
}

static void apply_paths(cw_conf_walk_t *w,
                        const cw_conf_directive_t *d,
                        void *record,
                        const char *s,
                        size_t n,
                        long line)
{
    cw_conf_partner_t *p = record;
    size_t i = 0;

    (void)d;
    p->cert_count = 0;
    while (i < n) {
        size_t start;

        while (i < n && is_xml_space(s[i])) {
            i++;
        }
        start = i;
        while (i < n && !is_xml_space(s[i])) {
            i++;
        }
        if (i == start) {
            break;
        }
        if (p->cert_count == CW_CONF_PARTNER_CERTS_MAX) {
            cw_config__problem(w->ld, line, "%s: at most %d certificates", d->path,
                               CW_CONF_PARTNER_CERTS_MAX);
            return;
        }
        if (resolve_path(w, s + start, i - start, p->certs[p->cert_count], sizeof(p->certs[0]))
            < 0) {
            cw_config__problem(w->ld, line, "%s: a path is longer than %zu bytes", d->path,
                               sizeof(p->certs[0]) - 1);
            return;
        }
        p->cert_count++;
    }
    if (p->cert_count == 0) {
        cw_config__problem(w->ld, line, "%s: at least one certificate is required", d->path);
    }
}

/* Checks one value and stores it into record. Leading and trailing white
 * space is ignored, as the schema's xs:token types do. */
static void apply(cw_conf_walk_t *w, size_t index, void *record, const char *value, long line)
{
    const cw_conf_directive_t *d = &directives[index];
    const char *s = value;
    size_t n = strlen(value);

    w->seen[index] = 1;
    /* Only a <listen> directive outside a <listen> could have no record. */
    if (CW_NEVER(record == NULL)) {
        return;
    }
    while (n > 0 && is_xml_space(s[0])) {
        s++;
        n--;
    }
    while (n > 0 && is_xml_space(s[n - 1])) {
        n--;
    }
    switch (d->type) {
    case CW_CONF_UINT16:
    case CW_CONF_UINT32:
    case CW_CONF_UINT64:
    case CW_CONF_INT:
        apply_number(w, d, record, s, n, line);
        break;
    case CW_CONF_PARTY_ID:
        apply_id(w, d, record, s, n, line, "._:-", ". _ : -");
        break;
    case CW_CONF_NAME:
        apply_id(w, d, record, s, n, line, "._-", ". _ -");
        break;
    case CW_CONF_ADDRESS:
        apply_address(w, d, record, s, n, line);
        break;
    case CW_CONF_KEYWORD:
        apply_keyword(w, d, record, s, n, line);
        break;
    case CW_CONF_BOOL:
        apply_bool(w, d, record, s, n, line);
        break;
    case CW_CONF_PATH:
        apply_path(w, d, record, s, n, line);
        break;
    case CW_CONF_PATHS:
        apply_paths(w, d, record, s, n, line);
        break;
    case CW_CONF_URL:
    case CW_CONF_TEXT:
    case CW_CONF_LIST:
        apply_text(w, d, record, s, n, line);
        break;
    }
}

/* ==== Records ==== */

/* Returns the index of the directive at path, or -1. */
static long directive_find(const char *path)
{
    size_t i;

    for (i = 0; i < CW_ARRAY_SIZE(directives); i++) {
        if (strcmp(directives[i].path, path) == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* An element is known when a directive is its text, one of its attributes
 * or one of its descendants. */
static int element_known(const char *path)
{
    size_t len = strlen(path);
    size_t i;

    for (i = 0; i < CW_ARRAY_SIZE(directives); i++) {
        const char *p = directives[i].path;

        if (strncmp(p, path, len) == 0 && (p[len] == '\0' || p[len] == '/')) {
            return 1;
        }
    }
    return 0;
}

static void route_init(cw_conf_route_t *r, long line)
{
    memset(r, 0, sizeof(*r));
    r->connect_timeout_ms = CW_LIMIT_ROUTE_CONNECT_TIMEOUT_MS_DEFAULT;
    r->timeout_ms = CW_LIMIT_ROUTE_TIMEOUT_MS_DEFAULT;
    r->max_attempts = CW_LIMIT_ROUTE_MAX_ATTEMPTS_DEFAULT;
    r->max_age_s = CW_LIMIT_ROUTE_MAX_AGE_S_DEFAULT;
    r->base_delay_ms = CW_LIMIT_ROUTE_BASE_DELAY_MS_DEFAULT;
    r->max_delay_ms = CW_LIMIT_ROUTE_MAX_DELAY_MS_DEFAULT;
    r->concurrency = CW_LIMIT_ROUTE_CONCURRENCY_DEFAULT;
    r->initial_concurrency = CW_LIMIT_ROUTE_INITIAL_CONCURRENCY_DEFAULT;
    r->line = (int)line;
}

static void listen_init(cw_conf_listen_t *l, long line)
{
    memset(l, 0, sizeof(*l));
    l->kind = CW_LISTEN_PUBLIC;
    l->backlog = CW_LIMIT_BACKLOG_DEFAULT;
    /* Every hop is mutually authenticated unless the file says otherwise. */
    l->client_auth = CW_CLIENT_AUTH_REQUIRED;
    l->line = (int)line;
}

/* Starts the record of one occurrence of a repeated element. Returns NULL
 * when the occurrence is skipped (more of them than allowed). */
static void *list_entry_start(cw_conf_walk_t *w, cw_conf_record_e record, long line)
{
    cw_config_t *cfg = w->cfg;

    switch (record) {
    case CW_CONF_RECORD_CONFIG:
        break;
    case CW_CONF_RECORD_ROUTE:
        if (cfg->route_count >= w->route_cap) {
            if (w->ld->schema_ok) {
                cw_config__problem(w->ld, line, "route: at most %u <route> elements",
                                   CW_LIMIT_ROUTE_MAX);
            }
            return NULL;
        }
        route_init(&cfg->routes[cfg->route_count], line);
        return &cfg->routes[cfg->route_count++];
    case CW_CONF_RECORD_PARTNER:
        if (cfg->partner_count >= w->partner_cap) {
            if (w->ld->schema_ok) {
                cw_config__problem(w->ld, line, "partner: at most %u <partner> elements",
                                   CW_LIMIT_PARTNER_MAX);
            }
            return NULL;
        }
        memset(&cfg->partners[cfg->partner_count], 0, sizeof(cfg->partners[0]));
        cfg->partners[cfg->partner_count].line = (int)line;
        return &cfg->partners[cfg->partner_count++];
    case CW_CONF_RECORD_LISTEN:
        if (cfg->listen_count >= w->listen_cap) {
            if (w->ld->schema_ok) {
                cw_config__problem(w->ld, line, "listen: at most %u <listen> elements",
                                   CW_LIMIT_LISTEN_MAX);
            }
            return NULL;
        }
        listen_init(&cfg->listens[cfg->listen_count], line);
        return &cfg->listens[cfg->listen_count++];
    }
    (void)CW_NEVER(1);
    return NULL;
}

/* Returns the list record an element starts, or CW_CONF_RECORD_CONFIG when
 * the element does not repeat. */
static cw_conf_record_e list_record(const char *path)
{
    size_t i;

    for (i = 0; i < CW_ARRAY_SIZE(lists); i++) {
        if (strcmp(lists[i].path, path) == 0) {
            return lists[i].record;
        }
    }
    return CW_CONF_RECORD_CONFIG;
}

static int in_config_ns(const xmlNode *node)
{
    return node->ns != NULL && xmlStrEqual(node->ns->href, BAD_CAST CW_CONFIG_NS);
}

static void *record_of(cw_conf_walk_t *w, cw_conf_record_e record, void *entry)
{
    switch (record) {
    case CW_CONF_RECORD_CONFIG:
        return w->cfg;
    case CW_CONF_RECORD_LISTEN:
    case CW_CONF_RECORD_PARTNER:
    case CW_CONF_RECORD_ROUTE:
        return entry;
    }
    return NULL;
}

/* ==== The walk ==== */

static void walk_attributes(cw_conf_walk_t *w, const xmlNode *node, const char *path, void *entry)
{
    long line = xmlGetLineNo(node);
    const xmlAttr *a;
    char key[PATH_BYTES_MAX];

    for (a = node->properties; a != NULL && w->rc == 0; a = a->next) {
        xmlChar *value;
        long index = -1;
        int n;

        /* xsi:schemaLocation and friends are for editors; validators
         * accept them everywhere, and so do we. */
        if (a->ns != NULL
            && xmlStrEqual(a->ns->href, BAD_CAST "http://www.w3.org/2001/XMLSchema-instance")) {
            continue;
        }
        n = snprintf(key, sizeof(key), "%s/@%s", path, (const char *)a->name);
        if (a->ns == NULL && n > 0 && (size_t)n < sizeof(key)) {
            index = directive_find(key);
        }
        if (index < 0) {
            structure_problem(w, line, "attribute", (const char *)a->name);
            continue;
        }
        value = xmlNodeGetContent((const xmlNode *)a);
        if (value == NULL) {
            w->rc = CW_ENOMEM;
            break;
        }
        apply(w, (size_t)index, record_of(w, directives[index].record, entry), (const char *)value,
              line);
        xmlFree(value);
    }
}

/* Reports required attributes that an element lacks. */
static void check_required(cw_conf_walk_t *w, const xmlNode *node, const char *path)
{
    size_t len = strlen(path);
    size_t i;

    for (i = 0; i < CW_ARRAY_SIZE(directives); i++) {
        const cw_conf_directive_t *d = &directives[i];

        if ((d->flags & CW_CONF_REQUIRED) == 0 || strncmp(d->path, path, len) != 0
            || strncmp(d->path + len, "/@", 2) != 0) {
            continue;
        }
        if (xmlHasNsProp(node, BAD_CAST(d->path + len + 2), NULL) == NULL && w->ld->schema_ok) {
            cw_config__problem(w->ld, xmlGetLineNo(node), "%s: missing", d->path);
        }
    }
}

static void walk_element(cw_conf_walk_t *w, const xmlNode *node, const char *parent, void *entry)
{
    char path[PATH_BYTES_MAX];
    cw_conf_record_e list;
    const xmlNode *child;
    long line = xmlGetLineNo(node);
    long index;
    int n;

    n = snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "/" : "",
                 (const char *)node->name);
    if (!in_config_ns(node) || n < 0 || (size_t)n >= sizeof(path) || !element_known(path)) {
        structure_problem(w, line, "element", (const char *)node->name);
        return;
    }
    if (strcmp(path, "node") == 0) {
        w->node_line = line;
    }
    list = list_record(path);
    if (list != CW_CONF_RECORD_CONFIG) {
        entry = list_entry_start(w, list, line);
        if (entry == NULL) {
            return;
        }
    }
    walk_attributes(w, node, path, entry);
    check_required(w, node, path);
    index = directive_find(path);
    if (index >= 0 && w->rc == 0) {
        xmlChar *text = xmlNodeGetContent(node);

        if (text == NULL) {
            w->rc = CW_ENOMEM;
            return;
        }
        apply(w, (size_t)index, record_of(w, directives[index].record, entry), (const char *)text,
              line);
        xmlFree(text);
        return;
    }
    for (child = node->children; child != NULL && w->rc == 0; child = child->next) {
        if (child->type == XML_ELEMENT_NODE) {
            walk_element(w, child, path, entry);
        }
    }
}

/* ==== Checks across values ==== */

/* A listener's address in binary, for comparisons that do not depend on
 * how it was spelled ("::1" and "0:0::1" are the same address). */
typedef struct cw_conf_addr {
    int family; /* AF_INET or AF_INET6; 0 when the address was invalid */
    unsigned char bytes[sizeof(struct in6_addr)];
} cw_conf_addr_t;

static void addr_parse(cw_conf_addr_t *a, const char *text)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, text, a->bytes) == 1) {
        a->family = AF_INET;
    } else if (inet_pton(AF_INET6, text, a->bytes) == 1) {
        a->family = AF_INET6;
    }
}

static int addr_is_any(const cw_conf_addr_t *a)
{
    static const unsigned char zero[sizeof(struct in6_addr)];

    return memcmp(a->bytes, zero, sizeof(zero)) == 0;
}

/*
 * Two listeners conflict when bind(2) would fail for the second: the same
 * port and family, and the same address or a wildcard on either side
 * (Linux refuses 0.0.0.0:80 next to 127.0.0.1:80 without SO_REUSEPORT).
 * Port 0 asks the kernel for a free port, so it never conflicts.
 */
static int listens_conflict(const cw_conf_listen_t *a, const cw_conf_listen_t *b)
{
    cw_conf_addr_t x;
    cw_conf_addr_t y;

    if (a->port == 0 || a->port != b->port) {
        return 0;
    }
    addr_parse(&x, a->address);
    addr_parse(&y, b->address);
    if (x.family == 0 || x.family != y.family) {
        return 0;
    }
    return addr_is_any(&x) || addr_is_any(&y) || memcmp(x.bytes, y.bytes, sizeof(x.bytes)) == 0;
}

static int addr_is_loopback(const cw_conf_addr_t *a)
{
    static const unsigned char v6_loopback[sizeof(struct in6_addr)] = { [15] = 1 };

    if (a->family == AF_INET) {
        return a->bytes[0] == 127;
    }
    return a->family == AF_INET6 && memcmp(a->bytes, v6_loopback, sizeof(v6_loopback)) == 0;
}

/*
 * TLS rules of one listener: TLS needs a certificate and key; a client
 * policy needs CAs; a partner-facing TLS listener must require client
 * certificates (every hop is mutually authenticated, DESIGN.md); and plain
 * HTTP is refused off loopback unless the file says insecure="true".
 */
static void check_listen_tls(cw_conf_walk_t *w, const cw_conf_listen_t *l)
{
    cw_conf_addr_t addr;

    if (l->tls) {
        if (l->cert_path[0] == '\0' || l->key_path[0] == '\0') {
            cw_config__problem(w->ld, l->line, "listen '%s': tls needs cert and key", l->name);
        }
        if (l->client_auth != CW_CLIENT_AUTH_NONE && l->client_ca_path[0] == '\0') {
            cw_config__problem(w->ld, l->line, "listen '%s': client-auth needs client-ca", l->name);
        }
        if (l->kind == CW_LISTEN_PUBLIC && l->client_auth != CW_CLIENT_AUTH_REQUIRED) {
            cw_config__problem(w->ld, l->line,
                               "listen '%s': a partner-facing TLS listener must have "
                               "client-auth=\"required\"",
                               l->name);
        }
        return;
    }
    addr_parse(&addr, l->address);
    if (addr.family != 0 && !addr_is_loopback(&addr) && !l->insecure) {
        cw_config__problem(w->ld, l->line,
                           "listen '%s': plain HTTP on %s is refused; use tls=\"true\", bind to "
                           "loopback, or mark it insecure=\"true\"",
                           l->name, l->address);
    }
}

static void check_listens(cw_conf_walk_t *w)
{
    const cw_config_t *cfg = w->cfg;
    size_t i;
    size_t j;

    for (i = 0; i < cfg->listen_count; i++) {
        check_listen_tls(w, &cfg->listens[i]);
    }
    for (i = 1; i < cfg->listen_count; i++) {
        const cw_conf_listen_t *b = &cfg->listens[i];

        for (j = 0; j < i && b->name[0] != '\0'; j++) {
            if (strcmp(cfg->listens[j].name, b->name) == 0) {
                cw_config__problem(w->ld, b->line,
                                   "listen/@name: '%s' is already used by the listen at line %d",
                                   b->name, cfg->listens[j].line);
                break;
            }
        }
        for (j = 0; j < i; j++) {
            const cw_conf_listen_t *a = &cfg->listens[j];

            if (listens_conflict(a, b)) {
                cw_config__problem(w->ld, b->line,
                                   "listen '%s': %s port %u conflicts with listen '%s' "
                                   "(%s port %u) at line %d",
                                   b->name, b->address, b->port, a->name, a->address, a->port,
                                   a->line);
                break;
            }
        }
    }
}

/* Reports required directives of the snapshot itself that never appeared,
 * such as a missing <node>, and a file without any <listen>. */
static void check_present(cw_conf_walk_t *w, long root_line)
{
    size_t i;

    if (!w->ld->schema_ok) {
        return;
    }
    for (i = 0; i < CW_ARRAY_SIZE(directives); i++) {
        const cw_conf_directive_t *d = &directives[i];

        if ((d->flags & CW_CONF_REQUIRED) != 0 && d->record == CW_CONF_RECORD_CONFIG
            && !w->seen[i]) {
            cw_config__problem(w->ld, root_line, "%s: missing", d->path);
        }
    }
    if (w->cfg->listen_count == 0) {
        cw_config__problem(w->ld, root_line, "listen: at least one <listen> is required");
    }
}

/* Counts the children of root named name (records to allocate). */
static size_t count_children(const xmlNode *root, const char *name)
{
    const xmlNode *c;
    size_t n = 0;

    for (c = root->children; c != NULL; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && in_config_ns(c) && xmlStrEqual(c->name, BAD_CAST name)) {
            n++;
        }
    }
    return n;
}

static void check_routes(cw_conf_walk_t *w)
{
    cw_config_t *cfg = w->cfg;
    size_t i;
    size_t j;

    for (i = 0; i < cfg->route_count; i++) {
        const cw_conf_route_t *r = &cfg->routes[i];

        for (j = 0; j < i; j++) {
            if (strcmp(cfg->routes[j].to, r->to) == 0) {
                cw_config__problem(w->ld, r->line, "route/@to: '%s' already has a route at line %d",
                                   r->to, cfg->routes[j].line);
                break;
            }
        }
        if (strncmp(r->url, "http://", 7) == 0 && !r->insecure_http) {
            cw_config__problem(w->ld, r->line,
                               "route '%s': plain http:// needs insecure-http=\"true\"", r->to);
        }
        if ((r->client_cert_path[0] == '\0') != (r->client_key_path[0] == '\0')) {
            cw_config__problem(w->ld, r->line, "route '%s': client-cert and client-key go together",
                               r->to);
        }
        for (j = 0; j < cfg->partner_count; j++) {
            if (strcmp(cfg->partners[j].id, r->to) == 0) {
                break;
            }
        }
        if (j == cfg->partner_count) {
            /* The destination's receipts are verified with its registered
             * certificate, so it must be a partner. */
            cw_config__problem(w->ld, r->line,
                               "route '%s': register the destination as a <partner> (its "
                               "receipts are verified with its certificate)",
                               r->to);
        }
        if (r->max_delay_ms < r->base_delay_ms) {
            cw_config__problem(w->ld, r->line, "route '%s': max-delay-ms is below base-delay-ms",
                               r->to);
        }
        if (r->adapter_sign != 0 && r->adapter[0] == '\0') {
            cw_config__problem(w->ld, r->line,
                               "route '%s': adapter-sign needs adapter (it signs the output of "
                               "the route's adapter)",
                               r->to);
        }
        if (strcmp(r->adapter, "xslt") == 0
            && (r->adapter_xslt_dir[0] == '\0' || r->adapter_xslt[0] == '\0')) {
            cw_config__problem(w->ld, r->line,
                               "route '%s': adapter=\"xslt\" needs adapter-xslt-dir and "
                               "adapter-xslt (the stylesheet that writes the destination's format)",
                               r->to);
        }
        if ((r->adapter_xslt_dir[0] != '\0' || r->adapter_xslt[0] != '\0')
            && strcmp(r->adapter, "xslt") != 0) {
            cw_config__problem(w->ld, r->line,
                               "route '%s': adapter-xslt-dir and adapter-xslt are for "
                               "adapter=\"xslt\"",
                               r->to);
        }
    }
    /* The store lives next to the configuration unless told otherwise. */
    if (cfg->store.path[0] == '\0'
        && resolve_path(w, "clearway.db", 11, cfg->store.path, sizeof(cfg->store.path)) < 0) {
        cw_config__problem(w->ld, 0, "store/@path: the default path is too long");
    }
}

static void check_partner_adapters(cw_conf_walk_t *w)
{
    const cw_config_t *cfg = w->cfg;
    size_t i;

    for (i = 0; i < cfg->partner_count; i++) {
        const cw_conf_partner_t *p = &cfg->partners[i];

        if (p->adapter[0] != '\0' && p->adapter_to[0] == '\0') {
            cw_config__problem(w->ld, p->line,
                               "partner '%s': adapter needs adapter-to (where its consignments go)",
                               p->id);
        }
        if (strcmp(p->adapter, "xslt") == 0
            && (p->adapter_xslt_dir[0] == '\0' || p->adapter_xslt[0] == '\0')) {
            cw_config__problem(w->ld, p->line,
                               "partner '%s': adapter=\"xslt\" needs adapter-xslt-dir and "
                               "adapter-xslt",
                               p->id);
        }
        if (p->adapter_transport_mode != 0 && p->adapter[0] == '\0') {
            cw_config__problem(w->ld, p->line,
                               "partner '%s': adapter-transport-mode needs adapter (it is the mode "
                               "of the consignments its adapter makes)",
                               p->id);
        }
    }
}

static void check_partners(cw_conf_walk_t *w)
{
    const cw_config_t *cfg = w->cfg;
    size_t i;
    size_t j;

    if ((cfg->node_key_path[0] == '\0') != (cfg->node_cert_path[0] == '\0')) {
        cw_config__problem(w->ld, w->node_line,
                           "node: key and cert go together: give both or neither");
    }
    for (i = 1; i < cfg->partner_count; i++) {
        for (j = 0; j < i; j++) {
            if (strcmp(cfg->partners[i].id, cfg->partners[j].id) == 0) {
                cw_config__problem(w->ld, cfg->partners[i].line,
                                   "partner/@id: '%s' is already registered at line %d",
                                   cfg->partners[i].id, cfg->partners[j].line);
                break;
            }
        }
    }
}

int cw_config__walk(cw_conf_load_t *ld, cw_config_t *cfg, const xmlNode *root)
{
    cw_conf_walk_t w;
    const xmlNode *child;
    int rc = 0;

    memset(&w, 0, sizeof(w));
    w.ld = ld;
    w.cfg = cfg;
    /* Occurrences past the maximum are skipped (and reported), so the
     * array never grows with a hostile file. */
    w.listen_cap = count_children(root, "listen");
    if (w.listen_cap > CW_LIMIT_LISTEN_MAX) {
        w.listen_cap = CW_LIMIT_LISTEN_MAX;
    }
    if (w.listen_cap > 0) {
        cfg->listens = cw_calloc(w.listen_cap, sizeof(*cfg->listens));
        CW_CHECK_ALLOC(cfg->listens);
    }
    w.route_cap = count_children(root, "route");
    if (w.route_cap > CW_LIMIT_ROUTE_MAX) {
        w.route_cap = CW_LIMIT_ROUTE_MAX;
    }
    if (w.route_cap > 0) {
        cfg->routes = cw_calloc(w.route_cap, sizeof(*cfg->routes));
        CW_CHECK_ALLOC(cfg->routes);
    }
    w.partner_cap = count_children(root, "partner");
    if (w.partner_cap > CW_LIMIT_PARTNER_MAX) {
        w.partner_cap = CW_LIMIT_PARTNER_MAX;
    }
    if (w.partner_cap > 0) {
        cfg->partners = cw_calloc(w.partner_cap, sizeof(*cfg->partners));
        CW_CHECK_ALLOC(cfg->partners);
    }
    walk_attributes(&w, root, "", NULL);
    for (child = root->children; child != NULL && w.rc == 0; child = child->next) {
        if (child->type == XML_ELEMENT_NODE) {
            walk_element(&w, child, "", NULL);
        }
    }
    CW_TRY(w.rc);
    check_present(&w, xmlGetLineNo(root));
    check_listens(&w);
    check_partners(&w);
    check_partner_adapters(&w);
    check_routes(&w);
out:
    return rc;
}

/* ==== Adapter names (cw_config_adapters_check) ==== */

void cw_config__adapters_check(cw_conf_load_t *ld,
                               const cw_config_t *cfg,
                               cw_config_adapter_sides_cb sides,
                               void *arg)
{
    size_t i;
    int got;

    for (i = 0; i < cfg->partner_count; i++) {
        const cw_conf_partner_t *p = &cfg->partners[i];

        if (p->adapter[0] == '\0') {
            continue;
        }
        got = sides(p->adapter, arg);
        if (got < 0) {
            cw_config__problem(ld, p->line,
                               "partner '%s': no adapter called '%s' (clearway adapter list "
                               "names them)",
                               p->id, p->adapter);
        } else if ((got & CW_CONFIG_ADAPTER_IN) == 0) {
            cw_config__problem(ld, p->line,
                               "partner '%s': adapter %s cannot read incoming messages", p->id,
                               p->adapter);
        }
    }
    for (i = 0; i < cfg->route_count; i++) {
        const cw_conf_route_t *r = &cfg->routes[i];

        if (r->adapter[0] == '\0') {
            continue;
        }
        got = sides(r->adapter, arg);
        if (got < 0) {
            cw_config__problem(ld, r->line,
                               "route '%s': no adapter called '%s' (clearway adapter list names "
                               "them)",
                               r->to, r->adapter);
        } else if ((got & CW_CONFIG_ADAPTER_OUT) == 0) {
            /* Every delivery to the route would be dead-lettered. */
            cw_config__problem(ld, r->line, "route '%s': adapter %s cannot write outgoing messages",
                               r->to, r->adapter);
        }
    }
}
