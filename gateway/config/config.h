/*
 * config: loads and validates the XML configuration file into an immutable,
 * reference-counted snapshot.
 *
 * A file is first validated against schemas/config.xsd (compiled into the
 * binary), then every value is range-checked through one directive table.
 * Every problem is reported as "FILE:LINE: message"; a file with any problem
 * yields no snapshot. A reload builds a new snapshot and swaps it in only
 * when it is complete (STYLE.md rule 53).
 */
#ifndef CW_CONFIG_H
#define CW_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Defaults and hard bounds of every limit live in limits.h. */
#include "limits.h"

/* ==== The snapshot ==== */

#define CW_CONF_PATH_BYTES 1024

typedef enum cw_listen_kind_e {
    CW_LISTEN_PUBLIC = 0, /* partner-facing: messages, health, metrics */
    CW_LISTEN_ADMIN = 1,  /* operators: admin API as well (loopback by default) */
} cw_listen_kind_e;

typedef enum cw_client_auth_e {
    CW_CLIENT_AUTH_NONE = 0,     /* no client certificate asked for */
    CW_CLIENT_AUTH_OPTIONAL = 1, /* asked for, verified if sent */
    CW_CLIENT_AUTH_REQUIRED = 2, /* the handshake fails without one */
} cw_client_auth_e;

typedef struct cw_conf_listen {
    char name[64];                           /* unique per file, used in logs and metrics */
    char address[64];                        /* numeric IPv4 or IPv6 address */
    uint16_t port;                           /* 0 picks an ephemeral port (tests) */
    cw_listen_kind_e kind;                   /* public or admin */
    int backlog;                             /* listen(2) backlog */
    int tls;                                 /* 1: TLS 1.2/1.3 on this port */
    int insecure;                            /* 1: plain HTTP allowed off loopback */
    char cert_path[CW_CONF_PATH_BYTES];      /* server certificate chain (PEM) */
    char key_path[CW_CONF_PATH_BYTES];       /* its private key (PEM) */
    char client_ca_path[CW_CONF_PATH_BYTES]; /* CAs that sign client certificates */
    cw_client_auth_e client_auth;            /* client certificate policy */
    int line;                                /* line of the element in the file, for messages */
} cw_conf_listen_t;

/* Certificates one partner may have at a time (a rollover needs two). */
#define CW_CONF_PARTNER_CERTS_MAX 4

typedef struct cw_conf_partner {
    char id[128];                                              /* the From it signs with */
    char certs[CW_CONF_PARTNER_CERTS_MAX][CW_CONF_PATH_BYTES]; /* absolute or as given */
    size_t cert_count;
    int legacy_sha1;            /* accept RSA-SHA1 and SHA-1 digests from it */
    char tls_fingerprints[512]; /* SHA-256 of its TLS client certificates, space separated */
    char tls_subject[512];      /* or: the exact subject (RFC 2253) of its TLS certificate */
    char actions[1024];         /* "Service/Action" pairs it may send ("*" wildcards) */
    char destinations[1024];    /* parties it may send to ("*" for any) */
    char adapter[64];           /* inbound adapter for its native format, "" none */
    char adapter_to[128];       /* the party its translated consignments go to */
    char adapter_catalog[CW_CONF_PATH_BYTES];  /* shopify-order: product catalogue */
    char adapter_xslt_dir[CW_CONF_PATH_BYTES]; /* "xslt": folder of its stylesheets */
    char adapter_xslt[128];                    /* "xslt": the input stylesheet in that folder */
    int adapter_transport_mode;                /* TransportMode for its consignments that name none:
                                                  0 none, else cw_config_transport_mode_name's */
    int line;                                  /* line of the element in the file */
} cw_conf_partner_t;

/* A destination: where messages for party `to` are delivered, and how. */
typedef struct cw_conf_route {
    char to[128];                              /* destination party id */
    char url[CW_CONF_PATH_BYTES];              /* https:// endpoint of its node */
    int insecure_http;                         /* allow plain http:// (tests, loopback) */
    char ca_path[CW_CONF_PATH_BYTES];          /* CA bundle to verify the server; "" system */
    char client_cert_path[CW_CONF_PATH_BYTES]; /* TLS client certificate; "" none */
    char client_key_path[CW_CONF_PATH_BYTES];  /* its key */
    char pinned_pubkey[256];                   /* "sha256//base64..." or "" */
    char adapter[64];                          /* output adapter name, "" none */
    int adapter_sign;                          /* sign its output: 0 no, 1 the CEB profile */
    char adapter_xslt_dir[CW_CONF_PATH_BYTES]; /* "xslt": folder of its stylesheet */
    char adapter_xslt[128];                    /* "xslt": the output stylesheet in that folder */
    uint32_t connect_timeout_ms;               /* TCP + TLS connect */
    uint32_t timeout_ms;                       /* whole request */
    uint32_t max_attempts;                     /* then dead letter */
    uint32_t max_age_s;                        /* then dead letter */
    uint32_t base_delay_ms;                    /* first retry delay (before jitter) */
    uint32_t max_delay_ms;                     /* retry delay cap */
    uint32_t concurrency;                      /* most deliveries in flight to this route */
    uint32_t initial_concurrency;              /* where its window starts (egress.h) */
    int line;                                  /* line of the element in the file */
} cw_conf_route_t;

/* The message store. */
typedef struct cw_conf_store {
    char path[CW_CONF_PATH_BYTES]; /* SQLite file; default clearway.db next to the config */
    int synchronous_full;          /* 1: fsync every commit (default); 0: NORMAL */
    uint32_t group_max;            /* messages per group commit */
    uint32_t retention_days;       /* delivered messages kept this long; 0 forever */
} cw_conf_store_t;

typedef struct cw_conf_limits {
    uint32_t header_bytes_max;       /* request line + headers */
    uint32_t header_count_max;       /* header fields per request */
    uint32_t url_bytes_max;          /* request target; longer gets 414 */
    uint64_t body_bytes_max;         /* decoded request body; larger gets 413 */
    uint32_t connections_max;        /* open client connections per node */
    uint32_t pipeline_max;           /* requests parsed ahead of their responses */
    uint32_t header_timeout_ms;      /* from first byte to end of headers */
    uint32_t body_timeout_ms;        /* from end of headers to end of body */
    uint32_t idle_timeout_ms;        /* keep-alive wait for the next request */
    uint32_t write_timeout_ms;       /* limit on each answer's write, from its start */
    uint32_t drain_timeout_ms;       /* SIGTERM: time allowed for in-flight work */
    uint32_t write_buffer_bytes_max; /* queued response bytes before reads pause */
    uint32_t xml_bytes_max;          /* untrusted XML larger than this is refused unparsed */
    uint32_t xml_depth_max;          /* element nesting */
    uint32_t xml_nodes_max;          /* nodes in one document */
    uint32_t timestamp_skew_s;       /* accepted |message Timestamp - now| */
    uint32_t handshake_timeout_ms;   /* TLS handshake must finish within this */
} cw_conf_limits_t;

typedef struct cw_config {
    char path[4096];                         /* the file this snapshot came from */
    char node_id[128];                       /* this node's party id */
    char node_key_path[CW_CONF_PATH_BYTES];  /* PEM private key; "" when not set */
    char node_cert_path[CW_CONF_PATH_BYTES]; /* PEM certificate of that key */
    cw_log_level_e log_level;                /* minimum level written */
    uint32_t workers;          /* CPU worker threads; 0 in the file means "one per core" */
    cw_conf_limits_t limits;   /* request and document limits */
    cw_conf_listen_t *listens; /* owned array */
    size_t listen_count;
    cw_conf_partner_t *partners; /* owned array */
    size_t partner_count;
    cw_conf_route_t *routes; /* owned array */
    size_t route_count;
    cw_conf_store_t store;
    char rules_path[CW_CONF_PATH_BYTES]; /* facilitation rules folder; "" = core off */
    int delivery_paused;                 /* 1: queue deliveries, send none (benchmarks) */
    int refcount;                        /* snapshot references; touched on the loop thread only */
} cw_config_t;

/* ==== Loading ==== */

/*
 * Collected problems of one load, each a "FILE:LINE: message" line. Owned by
 * the caller; release with cw_config_errors_fini.
 */
typedef struct cw_config_errors {
    char **lines; /* owned strings */
    size_t count;
    size_t cap;
} cw_config_errors_t;

void cw_config_errors_init(cw_config_errors_t *errs);
void cw_config_errors_fini(cw_config_errors_t *errs);

/*
 * Loads, validates and range-checks the file at path.
 * On success returns 0 and *out is a new snapshot with refcount 1, owned by
 * the caller (release with cw_config_unref). On failure returns
 * CW_ECONFIG (or CW_ENOMEM / CW_EIO), *out is NULL, and every problem found
 * is appended to errs. Thread: any; blocking file I/O (call at startup, or on
 * reload, before the loop needs the result). Never calls back.
 *
 * Details: CW_EIO means the file could not be read ("FILE: cannot read:
 * <reason>"); a file over CW_LIMIT_CONFIG_BYTES_MAX is CW_ECONFIG. At most
 * 100 problems are stored, followed by a "FILE: N more problems not shown"
 * line. errs may be NULL when the caller only needs the result code.
 * xmlInitParser() must have run (main does it before any thread starts).
 */
CW_MUST_CHECK int cw_config_load(cw_config_t **out, const char *path, cw_config_errors_t *errs);

/* Same, for a document already in memory; name is used in messages. */
CW_MUST_CHECK int cw_config_load_mem(
    cw_config_t **out, const char *name, const char *data, size_t len, cw_config_errors_t *errs);

/* ==== Adapter names ==== */

/* The sides an adapter kind has, as a bit set. */
typedef enum cw_config_adapter_side_e {
    CW_CONFIG_ADAPTER_IN = 0x1,  /* reads a partner's native format (POST /v1/inbound) */
    CW_CONFIG_ADAPTER_OUT = 0x2, /* writes a destination's native format (route output) */
} cw_config_adapter_side_e;

/*
 * Looks up the adapter kind called name. Returns its sides (a bit set of
 * cw_config_adapter_side_e, possibly 0), or CW_ENOENT when there is no such
 * kind. name is borrowed for the call. Called synchronously by
 * cw_config_adapters_check on the caller's thread; arg is the caller's.
 */
typedef int (*cw_config_adapter_sides_cb)(const char *name, void *arg);

/*
 * Checks the adapter names of a loaded snapshot against the adapter kinds
 * that exist: every partner's adapter must exist and read incoming
 * messages, every route's adapter must exist and write outgoing ones.
 *
 * The kinds live in adapters/, which sits above config in the dependency
 * order (STYLE.md rule 3), so the loader cannot see them; the caller that
 * links both (clearwayd's start-up and --check) passes the lookup. Each
 * problem is appended to errs as "FILE:LINE: message" with the line of the
 * <partner> or <route>, like a problem found by cw_config_load.
 *
 * Returns 0, CW_ECONFIG when a problem was found, or CW_ENOMEM. cfg and
 * sides are borrowed; errs may be NULL. Thread: any. Calls sides back
 * synchronously, once per adapter named in cfg.
 */
CW_MUST_CHECK int cw_config_adapters_check(const cw_config_t *cfg,
                                           cw_config_adapter_sides_cb sides,
                                           void *arg,
                                           cw_config_errors_t *errs);

/* ==== The snapshot's lifecycle and look-ups ==== */

/* Takes one more reference (returns cfg). Loop thread only. */
cw_config_t *cw_config_ref(cw_config_t *cfg);
/* Drops one reference; the last one frees the snapshot. NULL is allowed. */
void cw_config_unref(cw_config_t *cfg);

/* The route for party to, or NULL (borrowed from cfg). */
const cw_conf_route_t *cw_config_route_find(const cw_config_t *cfg, const char *to);

/* "air", "road", "rail", "sea" or "post" for a partner's adapter_transport_mode;
 * NULL for 0 (none) or an unknown value. Static. */
const char *cw_config_transport_mode_name(int mode);

/* Fills lim with every default of limits.h. */
void cw_config_limits_default(cw_conf_limits_t *lim);

#endif /* CW_CONFIG_H */
