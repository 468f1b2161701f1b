/*
 * Loading a configuration file: reading it, parsing it with libxml2,
 * validating it against the embedded schema, and handing the tree to the
 * directive walk (directives.c). Also the snapshot's lifecycle and the
 * collected error lines.
 *
 * The configuration file is trusted operator input, so it is parsed here
 * rather than in sec/xml.c, which is the only place for untrusted XML
 * (STYLE.md rule 45). It still gets the same safe parser options and the
 * same DOCTYPE rejection: a mistaken or tampered file must not be able to
 * reach the network or expand entities.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libxml/SAX2.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "internal.h"

/* The schema, compiled in by embed_file() in CMakeLists.txt. */
extern const char cw_schema_config[];
extern const size_t cw_schema_config_len;

/*
 * Never NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE, HUGE or RECOVER
 * (STYLE.md rule 45). NOBLANKS drops indentation so the tree holds only
 * what the operator wrote; BIG_LINES keeps line numbers right past 65535.
 */
#if LIBXML_VERSION >= 21300
#define CW_CONFIG_XML_OPTIONS \
    (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_BIG_LINES | XML_PARSE_NO_XXE)
#else
#define CW_CONFIG_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_BIG_LINES)
#endif

/* libxml2 2.12 made the error passed to structured handlers const. */
#if LIBXML_VERSION >= 21200
typedef const xmlError cw_xml_error_t;
#else
typedef xmlError cw_xml_error_t;
#endif

/* A broken file can produce an error per element; after this many the
 * operator has enough to start fixing, and the rest are only counted. */
#define CW_CONFIG_ERRORS_SHOWN_MAX 100

/* One message line: the file name (up to PATH_MAX) plus a libxml2 message
 * with its quoted values stays well below this. */
#define CW_CONFIG_ERROR_BYTES_MAX 16384

/* ==== Error lines ==== */

void cw_config_errors_init(cw_config_errors_t *errs)
{
    errs->lines = NULL;
    errs->count = 0;
    errs->cap = 0;
}

void cw_config_errors_fini(cw_config_errors_t *errs)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        cw_free(errs->lines[i]);
    }
    cw_free_null(errs->lines);
    errs->count = 0;
    errs->cap = 0;
}

/* Appends line, taking ownership of it on success only. */
static int errors_push(cw_config_errors_t *errs, char *line)
{
    char **lines;
    size_t cap;

    if (errs->count == errs->cap) {
        cap = errs->cap == 0 ? 8 : errs->cap * 2;
        lines = cw_realloc(errs->lines, cap * sizeof(*lines));
        if (lines == NULL) {
            return CW_ENOMEM;
        }
        errs->lines = lines;
        errs->cap = cap;
    }
    errs->lines[errs->count++] = line;
    return 0;
}

/* Keeps every message on one line, whatever a value or a libxml2 message
 * contained, so that tools can read the output line by line. */
static void flatten(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            *s = ' ';
        }
    }
}

static void store_line(cw_conf_load_t *ld, long line, const char *fmt, va_list ap) CW_PRINTF(3, 0);

static void store_line(cw_conf_load_t *ld, long line, const char *fmt, va_list ap)
{
    cw_buf_t b;
    char *text = NULL;
    int rc;

    cw_buf_init(&b, CW_CONFIG_ERROR_BYTES_MAX);
    if (line > 0) {
        rc = cw_buf_appendf(&b, "%s:%ld: ", ld->name, line);
    } else {
        rc = cw_buf_appendf(&b, "%s: ", ld->name);
    }
    if (rc == 0) {
        rc = cw_buf_vappendf(&b, fmt, ap);
        if (rc == CW_E2BIG) {
            rc = cw_buf_appends(&b, "(message too long)");
        }
    }
    if (rc == 0) {
        text = cw_buf_detach(&b, NULL);
        flatten(text);
        rc = errors_push(ld->errs, text);
    }
    if (rc < 0) {
        cw_free(text);
        ld->rc = CW_ENOMEM;
    }
    cw_buf_fini(&b);
}

static void store_linef(cw_conf_load_t *ld, long line, const char *fmt, ...) CW_PRINTF(3, 4);

static void store_linef(cw_conf_load_t *ld, long line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    store_line(ld, line, fmt, ap);
    va_end(ap);
}

void cw_config__problem(cw_conf_load_t *ld, long line, const char *fmt, ...)
{
    va_list ap;

    ld->problem_count++;
    if (ld->errs == NULL || ld->rc < 0 || ld->shown_count >= CW_CONFIG_ERRORS_SHOWN_MAX) {
        return;
    }
    ld->shown_count++;
    va_start(ap, fmt);
    store_line(ld, line, fmt, ap);
    va_end(ap);
}

/* Returns the line number in a stored "NAME:LINE: message", or 0 for a
 * message without one. */
static unsigned long line_of(const cw_conf_load_t *ld, const char *text)
{
    size_t n = strlen(ld->name);
    unsigned long line = 0;
    const char *p;

    if (strncmp(text, ld->name, n) != 0 || text[n] != ':') {
        return 0;
    }
    for (p = text + n + 1; *p >= '0' && *p <= '9'; p++) {
        line = line * 10 + (unsigned long)(*p - '0');
    }
    return *p == ':' ? line : 0;
}

/*
 * Orders this load's lines by line number, as a compiler would: the
 * stages (parser, schema, directives) find problems in different orders,
 * but the operator fixes the file from top to bottom. Insertion sort keeps
 * equal lines in the order they were found, and there are at most
 * CW_CONFIG_ERRORS_SHOWN_MAX of them.
 */
static void sort_lines(const cw_conf_load_t *ld)
{
    char **lines = ld->errs->lines;
    size_t i;
    size_t j;

    for (i = ld->first + 1; i < ld->errs->count; i++) {
        char *cur = lines[i];
        unsigned long key = line_of(ld, cur);

        for (j = i; j > ld->first && line_of(ld, lines[j - 1]) > key; j--) {
            lines[j] = lines[j - 1];
        }
        lines[j] = cur;
    }
}

/*
 * Turns the state of a finished load into its result: CW_ENOMEM if a
 * message was lost (the list would be incomplete), else rc, else
 * CW_ECONFIG if anything was found. Says how many problems were not shown.
 */
static int load_result(cw_conf_load_t *ld, int rc)
{
    size_t hidden = ld->problem_count - ld->shown_count;

    if (ld->errs != NULL) {
        sort_lines(ld);
    }
    /* The summary is not a problem of its own, so it is not counted. */
    if (hidden > 0 && ld->errs != NULL && ld->rc == 0) {
        store_linef(ld, 0, "%zu more problem%s not shown", hidden, hidden == 1 ? "" : "s");
    }
    if (ld->rc < 0) {
        return ld->rc;
    }
    if (rc == 0 && ld->problem_count > 0) {
        return CW_ECONFIG;
    }
    return rc;
}

/* ==== Snapshot lifecycle ==== */

void cw_config_limits_default(cw_conf_limits_t *lim)
{
    lim->header_bytes_max = CW_LIMIT_HEADER_BYTES_DEFAULT;
    lim->header_count_max = CW_LIMIT_HEADER_COUNT_DEFAULT;
    lim->url_bytes_max = CW_LIMIT_URL_BYTES_DEFAULT;
    lim->body_bytes_max = CW_LIMIT_BODY_BYTES_DEFAULT;
    lim->connections_max = CW_LIMIT_CONNECTIONS_DEFAULT;
    lim->pipeline_max = CW_LIMIT_PIPELINE_DEFAULT;
    lim->header_timeout_ms = CW_LIMIT_HEADER_TIMEOUT_MS_DEFAULT;
    lim->body_timeout_ms = CW_LIMIT_BODY_TIMEOUT_MS_DEFAULT;
    lim->idle_timeout_ms = CW_LIMIT_IDLE_TIMEOUT_MS_DEFAULT;
    lim->write_timeout_ms = CW_LIMIT_WRITE_TIMEOUT_MS_DEFAULT;
    lim->drain_timeout_ms = CW_LIMIT_DRAIN_TIMEOUT_MS_DEFAULT;
    lim->write_buffer_bytes_max = CW_LIMIT_WRITE_BUFFER_DEFAULT;
    lim->xml_bytes_max = CW_LIMIT_XML_BYTES_DEFAULT;
    lim->xml_depth_max = CW_LIMIT_XML_DEPTH_DEFAULT;
    lim->xml_nodes_max = CW_LIMIT_XML_NODES_DEFAULT;
    lim->timestamp_skew_s = CW_LIMIT_TIMESTAMP_SKEW_S_DEFAULT;
    lim->handshake_timeout_ms = CW_LIMIT_HANDSHAKE_TIMEOUT_MS_DEFAULT;
}

const cw_conf_route_t *cw_config_route_find(const cw_config_t *cfg, const char *to)
{
    size_t i;

    for (i = 0; i < cfg->route_count; i++) {
        if (strcmp(cfg->routes[i].to, to) == 0) {
            return &cfg->routes[i];
        }
    }
    return NULL;
}

static void config_free(cw_config_t *cfg)
{
    cw_free(cfg->listens);
    cw_free(cfg->partners);
    cw_free(cfg->routes);
    cw_free(cfg);
}

cw_config_t *cw_config_ref(cw_config_t *cfg)
{
    assert(cfg != NULL && cfg->refcount > 0);
    cfg->refcount++;
    return cfg;
}

void cw_config_unref(cw_config_t *cfg)
{
    /* A count already at zero is a double release; leaking beats a
     * double free in release builds. */
    if (cfg != NULL && !CW_NEVER(cfg->refcount <= 0) && --cfg->refcount == 0) {
        config_free(cfg);
    }
}

/* Returns a snapshot holding every default, with refcount 1. */
static int config_new(cw_config_t **out, cw_conf_load_t *ld)
{
    cw_config_t *cfg = NULL;
    int rc = 0;

    cfg = cw_calloc(1, sizeof(*cfg));
    CW_CHECK_ALLOC(cfg);
    cfg->refcount = 1;
    cfg->log_level = CW_LOG_INFO;
    cfg->workers = 0;
    cw_config_limits_default(&cfg->limits);
    cfg->store.synchronous_full = 1;
    cfg->store.group_max = CW_LIMIT_STORE_GROUP_DEFAULT;
    cfg->store.retention_days = CW_LIMIT_STORE_RETENTION_DAYS_DEFAULT;
    /* The path is kept for reloads, so a cut one would be wrong. */
    if (cw_strlcpy(cfg->path, ld->name, sizeof(cfg->path)) >= sizeof(cfg->path)) {
        cw_config__problem(ld, 0, "the path is longer than %zu bytes", sizeof(cfg->path) - 1);
    }
out:
    *out = cfg;
    return rc;
}

/* ==== libxml2 messages ==== */

/* Drops "{urn:clearway:config:1}" from libxml2's qualified names: every
 * element of the file is in that namespace, so it only adds noise. */
static void strip_namespace(char *s)
{
    static const char ns[] = "{" CW_CONFIG_NS "}";
    char *p;

    while ((p = strstr(s, ns)) != NULL) {
        memmove(p, p + sizeof(ns) - 1, strlen(p + sizeof(ns) - 1) + 1);
    }
}

static void report_xml_error(cw_conf_load_t *ld, cw_xml_error_t *err)
{
    const xmlNode *node = err->node;
    long line = err->line;
    char *msg;
    size_t len;

    /* A node's own line is right even past 65535, where libxml2's error
     * line saturates. */
    if (node != NULL && node->type == XML_ELEMENT_NODE) {
        line = xmlGetLineNo(node);
    }
    msg = cw_strdup(err->message != NULL ? err->message : "unknown libxml2 error");
    if (msg == NULL) {
        ld->problem_count++;
        ld->rc = CW_ENOMEM;
        return;
    }
    strip_namespace(msg);
    len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == '\r' || msg[len - 1] == ' ')) {
        msg[--len] = '\0';
    }
    cw_config__problem(ld, line, "%s", msg);
    cw_free(msg);
}

/* ==== Parsing ==== */

/* What the parser callbacks of one parse share, through ctxt->_private. */
typedef struct cw_conf_parse {
    cw_conf_load_t *ld; /* where problems go */
    long doctype_line;  /* line of the DOCTYPE, 0 when there is none */
} cw_conf_parse_t;

/*
 * The parser calls this with its own context (ctxt->userData is the
 * context itself, which the SAX2 tree builder needs), so the load state
 * travels in ctxt->_private, which libxml2 never touches. Being set on one
 * parser context, it is safe with parses running on other threads.
 */
static void on_parse_error(void *arg, cw_xml_error_t *err)
{
    xmlParserCtxt *ctxt = arg;
    cw_conf_parse_t *ps = ctxt->_private;

    report_xml_error(ps->ld, err);
}

/* Records where a DOCTYPE starts, for a line-numbered rejection, and then
 * lets the tree builder record it as doc->intSubset, which is what the
 * rejection itself checks. */
static void on_internal_subset(void *arg,
                               const xmlChar *name,
                               const xmlChar *external_id,
                               const xmlChar *system_id)
{
    xmlParserCtxt *ctxt = arg;
    cw_conf_parse_t *ps = ctxt->_private;

    if (ps->doctype_line == 0 && ctxt->input != NULL) {
        ps->doctype_line = ctxt->input->line;
    }
    xmlSAX2InternalSubset(arg, name, external_id, system_id);
}

/*
 * Parses data into *out. Returns 0 with a document whose root is
 * <clearway> in our namespace (parse problems that libxml2 survives, such as
 * namespace errors, are recorded and the load goes on to find more), or
 * CW_ECONFIG with *out NULL when there is nothing worth validating.
 */
static int parse_doc(cw_conf_load_t *ld, const char *data, size_t len, xmlDoc **out)
{
    xmlParserCtxt *ctxt = NULL;
    xmlDoc *doc = NULL;
    const xmlNode *root;
    cw_conf_parse_t ps = { ld, 0 };
    size_t problems_before = ld->problem_count;
    int rc = 0;

    *out = NULL;
    ctxt = xmlNewParserCtxt();
    CW_CHECK_ALLOC(ctxt);
    ctxt->_private = &ps;
    ctxt->sax->serror = on_parse_error;
    ctxt->sax->internalSubset = on_internal_subset;
    doc = xmlCtxtReadMemory(ctxt, data, (int)len, ld->name, NULL, CW_CONFIG_XML_OPTIONS);
    if (doc == NULL) {
        /* libxml2 has reported why, except when it ran out of memory
         * before it could. */
        if (ld->problem_count == problems_before) {
            cw_config__problem(ld, 0, "cannot parse the file");
        }
        rc = CW_ECONFIG;
        goto out;
    }
    if (doc->intSubset != NULL) {
        cw_config__problem(ld, ps.doctype_line,
                           "a DOCTYPE is not allowed in a Clearway configuration "
                           "(no DTDs, no entities)");
        rc = CW_ECONFIG;
        goto out;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || root->ns == NULL || !xmlStrEqual(root->ns->href, BAD_CAST CW_CONFIG_NS)
        || !xmlStrEqual(root->name, BAD_CAST "clearway")) {
        cw_config__problem(ld, root != NULL ? xmlGetLineNo(root) : 0,
                           "the root element is <%s>%s%s; it must be "
                           "<clearway xmlns=\"" CW_CONFIG_NS "\">",
                           root != NULL ? (const char *)root->name : "",
                           root != NULL && root->ns != NULL ? " in namespace " : " in no namespace",
                           root != NULL && root->ns != NULL ? (const char *)root->ns->href : "");
        rc = CW_ECONFIG;
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    xmlFreeDoc(doc);
    if (ctxt != NULL) {
        ctxt->_private = NULL;
        xmlFreeParserCtxt(ctxt);
    }
    return rc;
}

/* ==== Schema validation ==== */

static void on_schema_error(void *arg, cw_xml_error_t *err)
{
    report_xml_error(arg, err);
}

/*
 * Validates doc against the embedded schema and records every schema
 * problem with its line; sets ld->schema_ok when there was none. Returns 0
 * either way, or CW_ENOMEM / CW_EINTERNAL when validation could not run.
 * The schema is compiled per load: loads are rare (start-up, SIGHUP) and
 * this keeps no global state.
 */
static int validate_doc(cw_conf_load_t *ld, xmlDoc *doc)
{
    xmlSchemaParserCtxt *pctxt = NULL;
    xmlSchema *schema = NULL;
    xmlSchemaValidCtxt *vctxt = NULL;
    size_t problems_before = ld->problem_count;
    int ret;
    int rc = 0;

    pctxt = xmlSchemaNewMemParserCtxt(cw_schema_config, (int)cw_schema_config_len);
    CW_CHECK_ALLOC(pctxt);
    xmlSchemaSetParserStructuredErrors(pctxt, on_schema_error, ld);
    schema = xmlSchemaParse(pctxt);
    if (schema == NULL) {
        /* Our own schema failed to compile: a build defect, not a problem
         * of the operator's file. */
        cw_config__problem(ld, 0, "internal error: the embedded config.xsd does not compile");
        rc = CW_EINTERNAL;
        goto out;
    }
    vctxt = xmlSchemaNewValidCtxt(schema);
    CW_CHECK_ALLOC(vctxt);
    xmlSchemaSetValidStructuredErrors(vctxt, on_schema_error, ld);
    ret = xmlSchemaValidateDoc(vctxt, doc);
    if (ret < 0) {
        cw_config__problem(ld, 0, "internal error: schema validation could not run");
        rc = CW_EINTERNAL;
        goto out;
    }
    ld->schema_ok = ret == 0 && ld->problem_count == problems_before;
out:
    xmlSchemaFreeValidCtxt(vctxt);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pctxt);
    return rc;
}

/* ==== Loading ==== */

int cw_config_load_mem(
    cw_config_t **out, const char *name, const char *data, size_t len, cw_config_errors_t *errs)
{
    cw_conf_load_t ld;
    cw_config_t *cfg = NULL;
    xmlDoc *doc = NULL;
    int rc = 0;

    assert(out != NULL && name != NULL && (data != NULL || len == 0));
    *out = NULL;
    memset(&ld, 0, sizeof(ld));
    ld.name = name;
    ld.errs = errs;
    ld.first = errs != NULL ? errs->count : 0;
    if (len > CW_LIMIT_CONFIG_BYTES_MAX) {
        cw_config__problem(&ld, 0,
                           "the file is %zu bytes, more than the %u-byte limit for a configuration",
                           len, CW_LIMIT_CONFIG_BYTES_MAX);
        rc = CW_ECONFIG;
        goto out;
    }
    CW_TRY(config_new(&cfg, &ld));
    CW_TRY(parse_doc(&ld, data != NULL ? data : "", len, &doc));
    CW_TRY(validate_doc(&ld, doc));
    CW_TRY(cw_config__walk(&ld, cfg, xmlDocGetRootElement(doc)));
out:
    rc = load_result(&ld, rc);
    xmlFreeDoc(doc);
    if (rc < 0) {
        cw_config_unref(cfg);
        cfg = NULL;
    }
    *out = cfg;
    return rc;
}

/* Formats errno for "cannot read" messages with the thread-safe XSI
 * strerror_r (_POSIX_C_SOURCE is set for every target). */
static void read_problem(cw_conf_load_t *ld, int err)
{
    char text[128];

    if (strerror_r(err, text, sizeof(text)) != 0) {
        (void)snprintf(text, sizeof(text), "error %d", err);
    }
    cw_config__problem(ld, 0, "cannot read: %s", text);
}

/*
 * Reads the whole file into b, refusing one larger than the configuration
 * limit. Returns 0, CW_EIO (recorded as "cannot read"), CW_ECONFIG (too
 * large) or CW_ENOMEM.
 */
static int read_file(cw_conf_load_t *ld, const char *path, cw_buf_t *b)
{
    char chunk[16384];
    ssize_t n;
    int fd = -1;
    int rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        read_problem(ld, errno);
        rc = CW_EIO;
        goto out;
    }
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            read_problem(ld, errno);
            rc = CW_EIO;
            goto out;
        }
        if (n == 0) {
            break;
        }
        rc = cw_buf_append(b, chunk, (size_t)n);
        if (rc == CW_E2BIG) {
            cw_config__problem(ld, 0, "the file is more than the %u-byte limit for a configuration",
                               CW_LIMIT_CONFIG_BYTES_MAX);
            rc = CW_ECONFIG;
        }
        if (rc < 0) {
            goto out;
        }
    }
out:
    if (fd >= 0) {
        (void)close(fd);
    }
    return rc;
}

int cw_config_load(cw_config_t **out, const char *path, cw_config_errors_t *errs)
{
    cw_conf_load_t ld;
    cw_buf_t b;
    int rc = 0;

    assert(out != NULL && path != NULL);
    *out = NULL;
    memset(&ld, 0, sizeof(ld));
    ld.name = path;
    ld.errs = errs;
    ld.first = errs != NULL ? errs->count : 0;
    cw_buf_init(&b, CW_LIMIT_CONFIG_BYTES_MAX);
    rc = read_file(&ld, path, &b);
    if (rc < 0) {
        rc = load_result(&ld, rc);
        goto out;
    }
    rc = cw_config_load_mem(out, path, b.data, b.len, errs);
out:
    cw_buf_fini(&b);
    return rc;
}

/* ==== Adapter names ==== */

int cw_config_adapters_check(const cw_config_t *cfg,
                             cw_config_adapter_sides_cb sides,
                             void *arg,
                             cw_config_errors_t *errs)
{
    cw_conf_load_t ld;

    assert(cfg != NULL && sides != NULL);
    memset(&ld, 0, sizeof(ld));
    /* The snapshot keeps the name it was loaded as, so these lines name the
     * file the way cw_config_load's do. */
    ld.name = cfg->path;
    ld.errs = errs;
    ld.first = errs != NULL ? errs->count : 0;
    cw_config__adapters_check(&ld, cfg, sides, arg);
    return load_result(&ld, 0);
}
