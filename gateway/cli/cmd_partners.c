/*
 * clearway partners: what a node's configuration registers, read with
 * the daemon's own loader, and whether its certificates will still do:
 * this node's signing certificate (and its TLS listener and route client
 * certificates), every partner's registered certificates, their expiry,
 * key, and the partner's pinned tls-fingerprint against them.
 *
 * The loader resolves relative paths from the configuration file's folder,
 * exactly as for clearwayd, so the files looked at are the daemon's.
 */
#include <getopt.h>
#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#include "adapters.h"
#include "internal.h"

#define DAYS_DEFAULT 30
#define DAYS_MAX     36500
/* The JSON document: about 2 KiB per certificate, 4 certificates for each
 * of at most 1024 partners, plus the node's. */
#define JSON_BYTES_MAX (64u * 1024u * 1024u)
/* Problem lines, one per finding. */
#define PROBLEMS_BYTES_MAX (16u * 1024u * 1024u)
/* A SHA-256 fingerprint in hex. */
#define FP_HEX_LEN 64

static void partners_usage(FILE *f)
{
    fputs("usage: clearway partners --config FILE [--days N] [--json]\n"
          "\n"
          "Loads FILE with clearwayd's loader (relative paths from FILE's folder) and\n"
          "lists this node's certificates (signing, TLS listeners, route clients) and\n"
          "every partner's: file, subject, not-after, days left, key, whether its\n"
          "SHA-256 matches the partner's tls-fingerprint, its adapter and the routes\n"
          "to it. Each problem is one line on stderr naming the node or partner: a\n"
          "certificate expired, expiring within N days (default 30), unreadable or\n"
          "with a key clearwayd refuses; a node key that is not its certificate's;\n"
          "a tls-fingerprint that matches none of the partner's certificates.\n"
          "--json prints one JSON document instead of the table.\n"
          "Exit: 0 no problem, 1 problems, 2 usage, 3 the configuration does not load.\n",
          f);
}

typedef enum fp_match_e {
    FP_NOT_SET = 0, /* the partner pins no fingerprint */
    FP_NO = 1,
    FP_YES = 2,
} fp_match_e;

typedef struct cert_row {
    const cw_conf_partner_t *partner; /* NULL: one of this node's */
    const char *role;                 /* static: "node", "listen", "route-client", "partner" */
    const char *name;                 /* listener name or route destination, else NULL */
    const char *url;                  /* route-client: its route's URL, else NULL */
    const char *path;                 /* resolved by the loader; NULL: none configured */
    int readable;                     /* 1: ci is filled */
    cw_cli_cert_info_t ci;
    int64_t days_left;
    fp_match_e fp;
    char error[256]; /* why it is unreadable */
} cert_row_t;

typedef struct report {
    const cw_config_t *cfg;
    uint64_t days;
    int64_t now_s;
    cert_row_t *rows; /* owned */
    size_t row_count;
    cw_buf_t problems; /* lines, each "node ID: ..." or "partner ID: ...\n" */
    size_t problem_count;
} report_t;

/* ==== Findings ==== */

static int problem(report_t *r, const cw_conf_partner_t *p, const char *fmt, ...) CW_PRINTF(3, 4);

static int problem(report_t *r, const cw_conf_partner_t *p, const char *fmt, ...)
{
    va_list ap;
    int rc;

    rc = cw_buf_appendf(&r->problems, "%s %s: ", p != NULL ? "partner" : "node",
                        p != NULL ? p->id : r->cfg->node_id);
    if (rc == 0) {
        va_start(ap, fmt);
        rc = cw_buf_vappendf(&r->problems, fmt, ap);
        va_end(ap);
    }
    if (rc == 0) {
        rc = cw_buf_append(&r->problems, "\n", 1);
    }
    r->problem_count++;
    return rc;
}

/* The lower-case hex of a configured fingerprint (colons dropped, either
 * case, as net/tls.c compares it), or -1 when it is not 32 bytes of hex. */
static int fp_normalize(const char *s, size_t n, char out[FP_HEX_LEN + 1])
{
    size_t i;
    size_t k = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == ':') {
            continue;
        }
        if (cw_hex_digit(s[i]) < 0 || k == FP_HEX_LEN) {
            return -1;
        }
        out[k++] = (char)(s[i] >= 'A' && s[i] <= 'F' ? s[i] - 'A' + 'a' : s[i]);
    }
    out[k] = '\0';
    return k == FP_HEX_LEN ? 0 : -1;
}

/* Whether the partner's tls-fingerprint list names the certificate. */
static int fp_listed(const char *list, const char *sha256)
{
    char want[FP_HEX_LEN + 1];
    char have[FP_HEX_LEN + 1];
    const char *p = list;
    size_t n;

    if (fp_normalize(sha256, strlen(sha256), have) < 0) {
        return 0;
    }
    while (*p != '\0') {
        p += strspn(p, " \t\n");
        n = strcspn(p, " \t\n");
        if (n > 0 && fp_normalize(p, n, want) == 0 && strcmp(want, have) == 0) {
            return 1;
        }
        p += n;
    }
    return 0;
}

/* What names a row in a problem line after "node ID: " or "partner ID: ":
 * nothing for the node's signing certificate and a partner's. */
static void row_label(const cert_row_t *row, char *out, size_t size)
{
    out[0] = '\0';
    if (row->partner == NULL && row->name != NULL) {
        (void)snprintf(out, size, "%s %s: ", row->role, row->name);
    }
}

/* Reads one certificate into row and reports what is wrong with it. */
static int row_check(report_t *r, cert_row_t *row)
{
    char label[256];
    cw_error_t err;
    X509 *cert = NULL;
    EVP_PKEY *none = NULL;
    int rc = 0;

    if (row->path == NULL) {
        return 0;
    }
    row_label(row, label, sizeof(label));
    cw_error_clear(&err);
    if (cw_cli__pem_load(row->path, CW_CLI_PEM_CERT, &cert, &none, &err) < 0) {
        (void)cw_strlcpy(row->error, err.msg, sizeof(row->error));
        /* The message names the file. */
        rc = problem(r, row->partner, "%s%s", label, err.msg);
        goto out;
    }
    if (cw_cli__cert_info(&row->ci, cert, &err) < 0) {
        (void)cw_strlcpy(row->error, err.msg, sizeof(row->error));
        rc = problem(r, row->partner, "%s%s: %s", label, row->path, err.msg);
        goto out;
    }
    row->readable = 1;
    row->days_left = cw_cli__days_left(row->ci.not_after_s, r->now_s);
    if (row->ci.not_after_s <= r->now_s) {
        CW_TRY(
            problem(r, row->partner, "%s%s: expired on %s", label, row->path, row->ci.not_after));
    } else if ((uint64_t)(row->ci.not_after_s - r->now_s) < r->days * 86400u) {
        CW_TRY(problem(r, row->partner, "%s%s: expires on %s, in %lld day%s (--days %llu)", label,
                       row->path, row->ci.not_after, (long long)row->days_left,
                       row->days_left == 1 ? "" : "s", (unsigned long long)r->days));
    }
    if (!row->ci.key.accepted) {
        CW_TRY(problem(r, row->partner, "%s%s: key %s, %d bits is not accepted by clearwayd (%s)",
                       label, row->path, row->ci.key.type, row->ci.key.bits, CW_CLI_KEYS_ACCEPTED));
    }
    if (row->partner != NULL && row->partner->tls_fingerprints[0] != '\0') {
        row->fp = fp_listed(row->partner->tls_fingerprints, row->ci.sha256) ? FP_YES : FP_NO;
    }
out:
    X509_free(cert);
    EVP_PKEY_free(none);
    return rc;
}

/* The node's key must be its certificate's, or clearwayd does not start. */
static int node_key_check(report_t *r, const cert_row_t *node)
{
    const cw_config_t *cfg = r->cfg;
    cw_cli_key_info_t ki;
    cw_error_t err;
    X509 *unused = NULL;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    EVP_PKEY *none = NULL;
    int rc = 0;

    if (cfg->node_key_path[0] == '\0') {
        return 0;
    }
    cw_error_clear(&err);
    if (cw_cli__pem_load(cfg->node_key_path, CW_CLI_PEM_KEY, &unused, &key, &err) < 0) {
        rc = problem(r, NULL, "key %s", err.msg);
        goto out;
    }
    if (cw_cli__key_info(&ki, key) == 0 && !ki.accepted) {
        CW_TRY(problem(r, NULL, "key %s: %s, %d bits is not accepted by clearwayd (%s)",
                       cfg->node_key_path, ki.type, ki.bits, CW_CLI_KEYS_ACCEPTED));
    }
    if (!node->readable || cw_cli__pem_load(node->path, CW_CLI_PEM_CERT, &cert, &none, &err) < 0) {
        goto out;
    }
    if (EVP_PKEY_eq(key, X509_get0_pubkey(cert)) != 1) {
        rc = problem(r, NULL, "key %s is not the key of certificate %s", cfg->node_key_path,
                     node->path);
    }
out:
    X509_free(unused);
    X509_free(cert);
    EVP_PKEY_free(key);
    EVP_PKEY_free(none);
    ERR_clear_error();
    return rc;
}

/* Each pinned fingerprint must name one of the partner's certificates:
 * one that names none is a typo, a stale pin or a separate TLS
 * certificate this command cannot see. */
static int fingerprints_check(report_t *r, const cw_conf_partner_t *p)
{
    char want[FP_HEX_LEN + 1];
    const char *s = p->tls_fingerprints;
    size_t n;
    size_t i;
    int found;
    int rc = 0;

    while (*s != '\0') {
        s += strspn(s, " \t\n");
        n = strcspn(s, " \t\n");
        if (n == 0) {
            break;
        }
        if (fp_normalize(s, n, want) < 0) {
            CW_TRY(problem(r, p, "tls-fingerprint '%.*s' is not a SHA-256 fingerprint", (int)n, s));
            s += n;
            continue;
        }
        found = 0;
        for (i = 0; i < r->row_count && !found; i++) {
            const cert_row_t *row = &r->rows[i];

            found = row->partner == p && row->readable && fp_listed(want, row->ci.sha256);
        }
        if (!found) {
            CW_TRY(
                problem(r, p, "tls-fingerprint %.*s matches none of its certificates", (int)n, s));
        }
        s += n;
    }
out:
    return rc;
}

/* ==== Gathering ==== */

static cert_row_t *row_add(report_t *r, const cw_conf_partner_t *p, const char *role)
{
    cert_row_t *row = &r->rows[r->row_count++];

    row->partner = p;
    row->role = role;
    return row;
}

static int report_build(report_t *r)
{
    const cw_config_t *cfg = r->cfg;
    cert_row_t *node;
    cert_row_t *row;
    size_t count = 1 + cfg->listen_count + cfg->route_count;
    size_t i;
    size_t j;
    int rc = 0;

    for (i = 0; i < cfg->partner_count; i++) {
        count += cfg->partners[i].cert_count;
    }
    r->rows = cw_calloc(count, sizeof(*r->rows));
    CW_CHECK_ALLOC(r->rows);
    node = row_add(r, NULL, "node");
    node->path = cfg->node_cert_path[0] != '\0' ? cfg->node_cert_path : NULL;
    for (i = 0; i < cfg->listen_count; i++) {
        if (cfg->listens[i].tls && cfg->listens[i].cert_path[0] != '\0') {
            row = row_add(r, NULL, "listen");
            row->name = cfg->listens[i].name;
            row->path = cfg->listens[i].cert_path;
        }
    }
    for (i = 0; i < cfg->route_count; i++) {
        if (cfg->routes[i].client_cert_path[0] != '\0') {
            row = row_add(r, NULL, "route-client");
            row->name = cfg->routes[i].to;
            row->url = cfg->routes[i].url;
            row->path = cfg->routes[i].client_cert_path;
        }
    }
    for (i = 0; i < cfg->partner_count; i++) {
        for (j = 0; j < cfg->partners[i].cert_count; j++) {
            row = row_add(r, &cfg->partners[i], "partner");
            row->path = cfg->partners[i].certs[j];
        }
    }
    for (i = 0; i < r->row_count; i++) {
        CW_TRY(row_check(r, &r->rows[i]));
    }
    CW_TRY(node_key_check(r, node));
    for (i = 0; i < cfg->partner_count; i++) {
        CW_TRY(fingerprints_check(r, &cfg->partners[i]));
    }
out:
    return rc;
}

/* Appends the URLs of the routes to party id, space separated. */
static int routes_to(cw_buf_t *b, const cw_config_t *cfg, const char *id, const char *sep)
{
    size_t i;
    int first = 1;
    int rc = 0;

    for (i = 0; i < cfg->route_count; i++) {
        if (strcmp(cfg->routes[i].to, id) == 0) {
            CW_TRY(cw_buf_appendf(b, "%s%s", first ? "" : sep, cfg->routes[i].url));
            first = 0;
        }
    }
out:
    return rc;
}

/* ==== The table ==== */

enum {
    COL_PARTY,
    COL_ROLE,
    COL_DAYS,
    COL_NOT_AFTER,
    COL_KEY,
    COL_FP,
    COL_ADAPTER,
    COL_ROUTE,
    COL_CERT,
    COL_SUBJECT,
    COL_COUNT
};

static const char *const col_names[COL_COUNT] = {
    "PARTY", "ROLE", "DAYS", "NOT-AFTER", "KEY", "TLS-FP", "ADAPTER", "ROUTE", "CERT", "SUBJECT",
};

#define CELL_BYTES 1200

/* The cells of one row (or of the header when row is NULL). */
static void row_cells(const report_t *r, const cert_row_t *row, char cells[COL_COUNT][CELL_BYTES])
{
    const cw_conf_partner_t *p;
    cw_buf_t b;
    size_t i;

    if (row == NULL) {
        for (i = 0; i < COL_COUNT; i++) {
            (void)cw_strlcpy(cells[i], col_names[i], CELL_BYTES);
        }
        return;
    }
    for (i = 0; i < COL_COUNT; i++) {
        (void)cw_strlcpy(cells[i], "-", CELL_BYTES);
    }
    p = row->partner;
    (void)cw_strlcpy(cells[COL_PARTY], p != NULL ? p->id : r->cfg->node_id, CELL_BYTES);
    (void)snprintf(cells[COL_ROLE], CELL_BYTES, "%s%s%s", row->role, row->name != NULL ? ":" : "",
                   row->name != NULL ? row->name : "");
    if (p != NULL && p->adapter[0] != '\0') {
        (void)snprintf(cells[COL_ADAPTER], CELL_BYTES, "%s>%s", p->adapter, p->adapter_to);
    }
    if (row->url != NULL) {
        (void)cw_strlcpy(cells[COL_ROUTE], row->url, CELL_BYTES);
    } else if (p != NULL) {
        cw_buf_init(&b, CELL_BYTES - 1);
        if (routes_to(&b, r->cfg, p->id, ",") == 0 && b.len > 0) {
            (void)cw_strlcpy(cells[COL_ROUTE], b.data, CELL_BYTES);
        }
        cw_buf_fini(&b);
    }
    if (row->path == NULL) {
        (void)cw_strlcpy(cells[COL_SUBJECT], "(no node key: messages are answered 503)",
                         CELL_BYTES);
        return;
    }
    (void)cw_strlcpy(cells[COL_CERT], row->path, CELL_BYTES);
    if (!row->readable) {
        (void)cw_strlcpy(cells[COL_DAYS], "?", CELL_BYTES);
        (void)snprintf(cells[COL_SUBJECT], CELL_BYTES, "(unreadable: %s)", row->error);
        return;
    }
    (void)snprintf(cells[COL_DAYS], CELL_BYTES, "%lld", (long long)row->days_left);
    (void)cw_strlcpy(cells[COL_NOT_AFTER], row->ci.not_after, CELL_BYTES);
    if (strncmp(row->ci.key.type, "EC ", 3) == 0) {
        (void)cw_strlcpy(cells[COL_KEY], row->ci.key.type, CELL_BYTES);
    } else {
        (void)snprintf(cells[COL_KEY], CELL_BYTES, "%s %d", row->ci.key.type, row->ci.key.bits);
    }
    if (row->fp != FP_NOT_SET) {
        (void)cw_strlcpy(cells[COL_FP], row->fp == FP_YES ? "match" : "no", CELL_BYTES);
    }
    (void)cw_strlcpy(cells[COL_SUBJECT], row->ci.subject, CELL_BYTES);
}

static int table_print(const report_t *r)
{
    char cells[COL_COUNT][CELL_BYTES];
    size_t width[COL_COUNT];
    size_t i;
    size_t c;

    memset(width, 0, sizeof(width));
    for (i = 0; i <= r->row_count; i++) {
        row_cells(r, i == 0 ? NULL : &r->rows[i - 1], cells);
        for (c = 0; c < COL_COUNT; c++) {
            size_t n = strlen(cells[c]);

            width[c] = n > width[c] ? n : width[c];
        }
    }
    for (i = 0; i <= r->row_count; i++) {
        row_cells(r, i == 0 ? NULL : &r->rows[i - 1], cells);
        for (c = 0; c + 1 < COL_COUNT; c++) {
            /* Days are numbers: right-aligned. */
            printf(c == COL_DAYS ? "%*s  " : "%-*s  ", (int)width[c], cells[c]);
        }
        printf("%s\n", cells[COL_COUNT - 1]);
    }
    return fflush(stdout) == 0 ? 0 : CW_EIO;
}

/* ==== JSON ==== */

/* "key": then the string s, or null when s is NULL or "". */
static int j_str(cw_buf_t *b, const char *key, const char *s)
{
    int rc;

    rc = cw_buf_appendf(b, "\"%s\":", key);
    if (rc == 0 && (s == NULL || s[0] == '\0')) {
        return cw_buf_appends(b, "null");
    }
    if (rc == 0) {
        rc = cw_buf_append(b, "\"", 1);
    }
    if (rc == 0) {
        rc = cw_buf_append_json_str(b, s, strlen(s));
    }
    if (rc == 0) {
        rc = cw_buf_append(b, "\"", 1);
    }
    return rc;
}

static int j_row(cw_buf_t *b, const cert_row_t *row)
{
    const cw_cli_cert_info_t *ci = &row->ci;
    int rc = 0;

    CW_TRY(cw_buf_append(b, "{", 1));
    CW_TRY(j_str(b, "role", row->role));
    CW_TRY(cw_buf_append(b, ",", 1));
    CW_TRY(j_str(b, "name", row->name));
    CW_TRY(cw_buf_append(b, ",", 1));
    CW_TRY(j_str(b, "file", row->path));
    CW_TRY(cw_buf_appendf(b, ",\"readable\":%s,", row->readable ? "true" : "false"));
    CW_TRY(j_str(b, "error", row->error));
    if (row->readable) {
        CW_TRY(cw_buf_append(b, ",", 1));
        CW_TRY(j_str(b, "subject", ci->subject));
        CW_TRY(cw_buf_append(b, ",", 1));
        CW_TRY(j_str(b, "issuer", ci->issuer));
        CW_TRY(cw_buf_append(b, ",", 1));
        CW_TRY(j_str(b, "serial", ci->serial));
        CW_TRY(cw_buf_append(b, ",", 1));
        CW_TRY(j_str(b, "not_before", ci->not_before));
        CW_TRY(cw_buf_append(b, ",", 1));
        CW_TRY(j_str(b, "not_after", ci->not_after));
        CW_TRY(cw_buf_appendf(b, ",\"days_left\":%lld,", (long long)row->days_left));
        CW_TRY(j_str(b, "key_type", ci->key.type));
        CW_TRY(cw_buf_appendf(b, ",\"key_bits\":%d,\"key_accepted\":%s,", ci->key.bits,
                              ci->key.accepted ? "true" : "false"));
        CW_TRY(j_str(b, "sha256", ci->sha256));
        CW_TRY(cw_buf_append(b, ",", 1));
        CW_TRY(j_str(b, "pubkey_sha256", ci->key.spki_sha256));
        CW_TRY(cw_buf_appendf(b, ",\"tls_fingerprint_match\":%s",
                              row->fp == FP_NOT_SET ? "null"
                              : row->fp == FP_YES   ? "true"
                                                    : "false"));
    }
    CW_TRY(cw_buf_append(b, "}", 1));
out:
    return rc;
}

/* Appends the rows of partner p (NULL: the node's) as a JSON array. */
static int j_rows(cw_buf_t *b, const report_t *r, const cw_conf_partner_t *p)
{
    size_t i;
    int first = 1;
    int rc = 0;

    CW_TRY(cw_buf_append(b, "[", 1));
    for (i = 0; i < r->row_count; i++) {
        if (r->rows[i].partner != p) {
            continue;
        }
        if (!first) {
            CW_TRY(cw_buf_append(b, ",", 1));
        }
        first = 0;
        CW_TRY(j_row(b, &r->rows[i]));
    }
    CW_TRY(cw_buf_append(b, "]", 1));
out:
    return rc;
}

/* Appends a space-separated list as a JSON array of strings. */
static int j_words(cw_buf_t *b, const char *list)
{
    size_t n;
    int first = 1;
    int rc = 0;

    CW_TRY(cw_buf_append(b, "[", 1));
    while (*list != '\0') {
        list += strspn(list, " \t\n");
        n = strcspn(list, " \t\n");
        if (n == 0) {
            break;
        }
        CW_TRY(cw_buf_appendf(b, "%s\"", first ? "" : ","));
        CW_TRY(cw_buf_append_json_str(b, list, n));
        CW_TRY(cw_buf_append(b, "\"", 1));
        first = 0;
        list += n;
    }
    CW_TRY(cw_buf_append(b, "]", 1));
out:
    return rc;
}

static int j_partner(cw_buf_t *b, const report_t *r, const cw_conf_partner_t *p)
{
    cw_buf_t urls;
    int rc = 0;

    cw_buf_init(&urls, JSON_BYTES_MAX);
    CW_TRY(cw_buf_append(b, "{", 1));
    CW_TRY(j_str(b, "id", p->id));
    CW_TRY(cw_buf_append(b, ",", 1));
    CW_TRY(j_str(b, "adapter", p->adapter));
    CW_TRY(cw_buf_append(b, ",", 1));
    CW_TRY(j_str(b, "adapter_to", p->adapter_to));
    CW_TRY(cw_buf_appends(b, ",\"routes\":"));
    CW_TRY(routes_to(&urls, r->cfg, p->id, " "));
    CW_TRY(j_words(b, urls.data != NULL ? urls.data : ""));
    CW_TRY(cw_buf_appends(b, ",\"tls_fingerprints\":"));
    CW_TRY(j_words(b, p->tls_fingerprints));
    CW_TRY(cw_buf_append(b, ",", 1));
    CW_TRY(j_str(b, "tls_subject", p->tls_subject));
    CW_TRY(cw_buf_appends(b, ",\"certs\":"));
    CW_TRY(j_rows(b, r, p));
    CW_TRY(cw_buf_append(b, "}", 1));
out:
    cw_buf_fini(&urls);
    return rc;
}

static int json_print(const report_t *r)
{
    const cw_config_t *cfg = r->cfg;
    const char *line;
    const char *end;
    char now[32];
    cw_buf_t b;
    size_t i;
    int rc = 0;

    cw_buf_init(&b, JSON_BYTES_MAX);
    cw_time_format_utc(now, sizeof(now), r->now_s);
    CW_TRY(cw_buf_append(&b, "{", 1));
    CW_TRY(j_str(&b, "config", cfg->path));
    CW_TRY(cw_buf_appendf(&b, ",\"days\":%llu,", (unsigned long long)r->days));
    CW_TRY(j_str(&b, "now", now));
    CW_TRY(cw_buf_appends(&b, ",\"node\":{"));
    CW_TRY(j_str(&b, "id", cfg->node_id));
    CW_TRY(cw_buf_append(&b, ",", 1));
    CW_TRY(j_str(&b, "key", cfg->node_key_path));
    CW_TRY(cw_buf_appends(&b, ",\"certs\":"));
    CW_TRY(j_rows(&b, r, NULL));
    CW_TRY(cw_buf_appends(&b, "},\"partners\":["));
    for (i = 0; i < cfg->partner_count; i++) {
        if (i > 0) {
            CW_TRY(cw_buf_append(&b, ",", 1));
        }
        CW_TRY(j_partner(&b, r, &cfg->partners[i]));
    }
    CW_TRY(cw_buf_appends(&b, "],\"problems\":["));
    for (line = r->problems.data; line != NULL && *line != '\0'; line = end + 1) {
        end = strchr(line, '\n');
        CW_TRY(cw_buf_appendf(&b, "%s\"", line == r->problems.data ? "" : ","));
        CW_TRY(cw_buf_append_json_str(&b, line, (size_t)(end - line)));
        CW_TRY(cw_buf_append(&b, "\"", 1));
    }
    CW_TRY(cw_buf_appendf(&b, "],\"ok\":%s}\n", r->problem_count == 0 ? "true" : "false"));
    if (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
        rc = CW_EIO;
    }
out:
    cw_buf_fini(&b);
    return rc;
}

/* ==== The command ==== */

/* The adapter registry, as clearwayd's start-up and --check give it to
 * cw_config_adapters_check (config cannot see adapters/). */
static int adapter_sides(const char *name, void *arg)
{
    (void)arg;
    return cw_adapters_registry_sides(name, CW_CONFIG_ADAPTER_IN, CW_CONFIG_ADAPTER_OUT);
}

typedef struct partners_args {
    const char *config;
    uint64_t days;
    int json;
} partners_args_t;

static int partners_parse(partners_args_t *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, NULL, 'c' },
        { "days", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->days = DAYS_DEFAULT;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 'd':
            if (cw_parse_uint(optarg, 0, DAYS_MAX, &a->days) < 0) {
                fprintf(stderr, "clearway partners: bad --days %s (0 to %d)\n", optarg, DAYS_MAX);
                return CW_CLI_USAGE;
            }
            break;
        case 'j':
            a->json = 1;
            break;
        case 'h':
            partners_usage(stdout);
            return -1;
        default:
            partners_usage(stderr);
            return CW_CLI_USAGE;
        }
    }
    if (optind != argc || a->config == NULL) {
        partners_usage(stderr);
        return CW_CLI_USAGE;
    }
    return CW_CLI_OK;
}

/* Loads the file as clearwayd does; prints its problems as it does. */
static int config_load(cw_config_t **cfg, const char *path)
{
    cw_config_errors_t errs;
    size_t i;
    int rc;

    cw_config_errors_init(&errs);
    rc = cw_config_load(cfg, path, &errs);
    if (rc == 0) {
        rc = cw_config_adapters_check(*cfg, adapter_sides, NULL, &errs);
    }
    for (i = 0; i < errs.count; i++) {
        fprintf(stderr, "%s\n", errs.lines[i]);
    }
    cw_config_errors_fini(&errs);
    if (rc == CW_ENOMEM) {
        fprintf(stderr, "clearway partners: out of memory\n");
        return CW_CLI_INTERNAL;
    }
    return rc < 0 ? CW_CLI_IO : CW_CLI_OK;
}

int cw_cli_partners(int argc, char **argv)
{
    partners_args_t a;
    report_t r;
    cw_config_t *cfg = NULL;
    int rc;

    rc = partners_parse(&a, argc, argv);
    if (rc != CW_CLI_OK) {
        return rc < 0 ? CW_CLI_OK : rc;
    }
    memset(&r, 0, sizeof(r));
    cw_buf_init(&r.problems, PROBLEMS_BYTES_MAX);
    rc = config_load(&cfg, a.config);
    if (rc != CW_CLI_OK) {
        goto out;
    }
    r.cfg = cfg;
    r.days = a.days;
    r.now_s = cw_time_wall_s();
    if (report_build(&r) < 0 || (a.json ? json_print(&r) : table_print(&r)) < 0) {
        fprintf(stderr, "clearway partners: out of memory or cannot write the report\n");
        rc = CW_CLI_INTERNAL;
        goto out;
    }
    if (r.problems.len > 0) {
        const char *line = r.problems.data;
        const char *end;

        for (; *line != '\0'; line = end + 1) {
            end = strchr(line, '\n');
            fprintf(stderr, "clearway partners: %.*s\n", (int)(end - line), line);
        }
    }
    rc = r.problem_count > 0 ? CW_CLI_INVALID : CW_CLI_OK;
out:
    cw_free(r.rows);
    cw_buf_fini(&r.problems);
    cw_config_unref(cfg);
    return rc;
}
