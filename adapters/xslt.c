/*
 * Declarative adapters: an XML format in, a canonical consignment out (or
 * the reverse), described by an XSLT 1.0 stylesheet and no C code.
 *
 * Stylesheets are trusted files from the adapter's folder, loaded and
 * compiled once by cw_adapter_new. Each translation runs a fresh transform
 * context on the calling thread, with:
 *   - libxslt security preferences that forbid writing files, creating
 *     folders and all network access, and allow reading only files inside
 *     the adapter's own folder (document() cannot reach outside it);
 *   - a step budget (libxml2's XPath operation limit, counted over the
 *     whole run), a template depth and a variable limit, so a pathological
 *     input cannot run for ever;
 *   - a bound on the nodes of the result tree and on serialised output;
 *   - input parsed by cw_sec_xml_parse, the only parser of untrusted XML.
 *
 * A stylesheet for input produces either one canonical Consignment, or a
 * {urn:clearway:adapter:1}Result holding Document elements (attributes
 * item and line, one Consignment inside) and Error elements (attributes
 * item, line and field; text: the message) for a message that carries
 * several consignments. The extension function cwa:line(node-set) gives
 * the source line of a node. docs/adapters.md shows both forms.
 */
/* realpath(3) is XSI; the rest of the file needs only POSIX 2008. */
#define _XOPEN_SOURCE 700

#include <libxslt/extensions.h>
#include <libxslt/security.h>
#include <libxslt/transform.h>
#include <libxslt/variables.h>
#include <libxslt/xslt.h>
#include <libxslt/xsltInternals.h>
#include <libxslt/xsltutils.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "adapters.h"
#include "config.h"
#include "internal.h"
#include "msg.h"
#include "sec.h"

/* realpath(3) writes at most PATH_MAX (4096 on Linux) bytes. */
#define CW_XSLT_PATH_MAX 4096
#define CW_XSLT_NS       "urn:clearway:adapter:1"
#define CEB_NS           "http://www.chinaport.gov.cn/ceb"
#define UBL_ORDER        "urn:oasis:names:specification:ubl:schema:xsd:Order-2"
#define UBL_WAYBIL       "urn:oasis:names:specification:ubl:schema:xsd:Waybill-2"

/* ==== Kinds ==== */

typedef struct xslt_kind {
    const struct cw_adapter_ops *ops;
    const char *in_xsl;  /* file in the adapter folder; NULL: no input side */
    const char *out_xsl; /* NULL: no output side */
    const char *root_ns; /* expected root of the input; NULL: not checked */
    const char *root_name;
} xslt_kind_t;

static const xslt_kind_t kinds[] = {
    { &cw_adapters__ubl_order_ops, "ubl-order.xsl", NULL, UBL_ORDER, "Order" },
    { &cw_adapters__ubl_waybill_ops, "ubl-waybill.xsl", NULL, UBL_WAYBIL, "Waybill" },
    { &cw_adapters__ceb311_ops, "ceb311-in.xsl", NULL, CEB_NS, "CEB311Message" },
    { &cw_adapters__ceb411_ops, "ceb411-in.xsl", NULL, CEB_NS, "CEB411Message" },
    { &cw_adapters__ceb511_ops, "ceb511-in.xsl", NULL, CEB_NS, "CEB511Message" },
    { &cw_adapters__ceb621_ops, "ceb621-in.xsl", "ceb621-out.xsl", CEB_NS, "CEB621Message" },
    { &cw_adapters__xslt_ops, NULL, NULL, NULL, NULL },
};

typedef struct xslt_state {
    const xslt_kind_t *kind;
    xsltStylesheetPtr in; /* compiled; shared read-only by every call */
    xsltStylesheetPtr out;
    xsltSecurityPrefsPtr prefs;
    char dir[CW_XSLT_PATH_MAX]; /* the adapter folder, resolved (realpath) */
} xslt_state_t;

/* What one transform run records; reached from callbacks via ctxt->_private. */
typedef struct xslt_call {
    const xslt_state_t *state;
    int denied;    /* a forbidden file or network access was attempted */
    int runtime;   /* libxslt reported a runtime error (not an xsl:message) */
    char msg[200]; /* the first error message */
} xslt_call_t;

static pthread_once_t xslt_once = PTHREAD_ONCE_INIT;

/*
 * libxslt reports some errors (stack dumps after a recursion error, messages
 * while compiling) through its process-wide generic handler rather than the
 * transform context's: send them to the debug log instead of stderr. The
 * failure itself reaches the caller through the context's handler.
 */
static void on_generic_error(void *arg, const char *fmt, ...) CW_PRINTF(2, 3);

static void on_generic_error(void *arg, const char *fmt, ...)
{
    char line[256];
    va_list ap;

    (void)arg;
    if (cw_log_get_level() > CW_LOG_DEBUG) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    CW_LOG_DEBUG(CW_ADAPTERS_MOD, "libxslt: %s", line);
}

static void xslt_global_init(void)
{
    xsltInit();
    xsltSetGenericErrorFunc(NULL, on_generic_error);
}

/* ==== Security callbacks ==== */

static void call_note(xslt_call_t *call, const char *what, const char *value)
{
    if (call == NULL) {
        return;
    }
    call->denied = 1;
    if (call->msg[0] == '\0') {
        (void)snprintf(call->msg, sizeof(call->msg), "stylesheet %s of '%.120s' refused", what,
                       value != NULL ? value : "");
    }
}

static xslt_call_t *call_of(xsltTransformContextPtr ctxt)
{
    return ctxt != NULL ? ctxt->_private : NULL;
}

/* Allows reading a file only when its real path is inside the adapter folder. */
static int on_read_file(xsltSecurityPrefsPtr sec, xsltTransformContextPtr ctxt, const char *value)
{
    xslt_call_t *call = call_of(ctxt);
    char real[CW_XSLT_PATH_MAX];
    const char *path = value;
    xmlURIPtr uri = NULL;
    size_t n;
    int ok = 0;

    (void)sec;
    if (call == NULL || value == NULL) {
        return 0;
    }
    if (strncmp(value, "file:", 5) == 0) {
        uri = xmlParseURI(value);
        path = uri != NULL ? uri->path : NULL;
    }
    if (path != NULL && realpath(path, real) != NULL) {
        n = strlen(call->state->dir);
        ok = strncmp(real, call->state->dir, n) == 0 && real[n] == '/';
    }
    if (uri != NULL) {
        xmlFreeURI(uri);
    }
    if (!ok) {
        call_note(call, "read", value);
    }
    return ok;
}

static int on_write_file(xsltSecurityPrefsPtr sec, xsltTransformContextPtr ctxt, const char *value)
{
    call_note(call_of(ctxt), "write", value);
    return xsltSecurityForbid(sec, ctxt, value);
}

static int on_create_dir(xsltSecurityPrefsPtr sec, xsltTransformContextPtr ctxt, const char *value)
{
    call_note(call_of(ctxt), "directory creation", value);
    return xsltSecurityForbid(sec, ctxt, value);
}

static int on_network(xsltSecurityPrefsPtr sec, xsltTransformContextPtr ctxt, const char *value)
{
    call_note(call_of(ctxt), "network access", value);
    return xsltSecurityForbid(sec, ctxt, value);
}

/* ==== Error capture ==== */

static void on_xslt_error(void *arg, const char *fmt, ...) CW_PRINTF(2, 3);

static void on_xslt_error(void *arg, const char *fmt, ...)
{
    xslt_call_t *call = arg;
    char text[sizeof(call->msg)];
    size_t n;
    va_list ap;

    if (call == NULL) {
        return;
    }
    va_start(ap, fmt);
    (void)vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    /* libxslt prefixes its own errors with their context ("runtime error:
     * file ... line ..."); <xsl:message> text comes through bare. */
    if (strncmp(text, "runtime error", 13) == 0) {
        call->runtime = 1;
    }
    if (call->msg[0] != '\0') {
        return;
    }
    n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) {
        text[--n] = '\0';
    }
    (void)cw_strlcpy(call->msg, text, sizeof(call->msg));
}

static void on_xpath_error(void *arg, xmlErrorPtr e)
{
    xslt_call_t *call = arg;
    size_t n;

    if (call == NULL || call->msg[0] != '\0' || e == NULL || e->message == NULL) {
        return;
    }
    (void)cw_strlcpy(call->msg, e->message, sizeof(call->msg));
    n = strlen(call->msg);
    while (n > 0 && call->msg[n - 1] == '\n') {
        call->msg[--n] = '\0';
    }
}

/* cwa:line(node-set): the source line of the first node (0 when unknown). */
static void fn_line(xmlXPathParserContextPtr ctxt, int nargs)
{
    xmlXPathObjectPtr obj;
    long line = 0;

    if (nargs != 1) {
        xmlXPathSetArityError(ctxt);
        return;
    }
    obj = valuePop(ctxt);
    if (obj != NULL && obj->type == XPATH_NODESET && obj->nodesetval != NULL
        && obj->nodesetval->nodeNr > 0) {
        line = xmlGetLineNo(obj->nodesetval->nodeTab[0]);
    }
    xmlXPathFreeObject(obj);
    valuePush(ctxt, xmlXPathNewFloat(line > 0 ? (double)line : 0.0));
}

/* ==== Running a stylesheet ==== */

static size_t count_nodes(const xmlNode *n, size_t max)
{
    size_t count = 0;
    const xmlNode *cur = n;

    /* Iterative pre-order walk: the result tree may be deep. */
    while (cur != NULL && count <= max) {
        count++;
        if (cur->type == XML_ELEMENT_NODE && cur->children != NULL) {
            cur = cur->children;
            continue;
        }
        while (cur != NULL && cur != n && cur->next == NULL) {
            cur = cur->parent;
        }
        if (cur == NULL || cur == n) {
            break;
        }
        cur = cur->next;
    }
    return count;
}

/*
 * Applies style to doc with the limits and prefs of adapter. params are
 * name/value pairs of literal strings (NULL-terminated) or NULL. *out is the
 * result tree (xmlFreeDoc). Returns 0, CW_EPERM, CW_ETIMEDOUT, CW_E2BIG,
 * CW_EPROTO or CW_ENOMEM.
 */
static int run(xmlDoc **out,
               const cw_adapter_t *adapter,
               xsltStylesheetPtr style,
               xmlDoc *doc,
               const char **params,
               cw_error_t *err)
{
    const xslt_state_t *st = adapter->state;
    xsltTransformContextPtr ctxt = NULL;
    xslt_call_t call;
    xmlDoc *res = NULL;
    int rc = 0;

    *out = NULL;
    memset(&call, 0, sizeof(call));
    call.state = st;
    ctxt = xsltNewTransformContext(style, doc);
    CW_CHECK_ALLOC(ctxt);
    ctxt->_private = &call;
    if (xsltSetCtxtSecurityPrefs(st->prefs, ctxt) != 0) {
        rc = CW_ENOMEM;
        goto out;
    }
    ctxt->maxTemplateDepth = (int)adapter->limits.xslt_depth_max;
    ctxt->maxTemplateVars = (int)adapter->limits.xslt_vars_max;
    /* document() reads only our folder's files, still never with entities or DTDs. */
    ctxt->parserOptions = XML_PARSE_NONET | XML_PARSE_NOCDATA;
    xsltSetTransformErrorFunc(ctxt, &call, on_xslt_error);
    if (ctxt->xpathCtxt != NULL) {
        ctxt->xpathCtxt->opLimit = adapter->limits.xslt_steps_max;
        ctxt->xpathCtxt->opCount = 0;
        ctxt->xpathCtxt->error = on_xpath_error;
        ctxt->xpathCtxt->userData = &call;
    }
    if (xsltRegisterExtFunction(ctxt, BAD_CAST "line", BAD_CAST CW_XSLT_NS, fn_line) != 0
        || (params != NULL && xsltQuoteUserParams(ctxt, params) != 0)) {
        rc = CW_ENOMEM;
        goto out;
    }
    res = xsltApplyStylesheetUser(style, doc, NULL, NULL, NULL, ctxt);
    if (call.denied) {
        rc = cw_error_set(err, CW_EPERM, CW_ADAPTERS_MOD, "%s", call.msg);
        goto out;
    }
    if (ctxt->xpathCtxt != NULL && ctxt->xpathCtxt->opCount >= ctxt->xpathCtxt->opLimit) {
        rc = cw_error_set(err, CW_ETIMEDOUT, CW_ADAPTERS_MOD,
                          "stylesheet exceeded its budget of %u steps",
                          adapter->limits.xslt_steps_max);
        goto out;
    }
    if (ctxt->state == XSLT_STATE_STOPPED && !call.runtime) {
        /* <xsl:message terminate="yes">: the stylesheet refused its input. */
        rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD, "input refused by the stylesheet: %s",
                          call.msg[0] != '\0' ? call.msg : "terminated");
        goto out;
    }
    if (res == NULL || ctxt->state != XSLT_STATE_OK) {
        rc = cw_error_set(err, CW_EPROTO, CW_ADAPTERS_MOD, "stylesheet failed: %s",
                          call.msg[0] != '\0' ? call.msg : "no result");
        goto out;
    }
    if (count_nodes(xmlDocGetRootElement(res), adapter->limits.xslt_out_nodes_max)
        > adapter->limits.xslt_out_nodes_max) {
        rc = cw_error_set(err, CW_E2BIG, CW_ADAPTERS_MOD,
                          "stylesheet result has more than %zu nodes",
                          adapter->limits.xslt_out_nodes_max);
        goto out;
    }
    *out = res;
    res = NULL;
out:
    if (res != NULL) {
        xmlFreeDoc(res);
    }
    if (ctxt != NULL) {
        xsltFreeTransformContext(ctxt);
    }
    return rc;
}

/* ==== Input ==== */

static int is_el(const xmlNode *n, const char *ns, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL
           && strcmp((const char *)n->ns->href, ns) == 0
           && strcmp((const char *)n->name, name) == 0;
}

static size_t attr_size(const xmlNode *n, const char *name)
{
    xmlChar *v = xmlGetProp(n, BAD_CAST name);
    uint64_t u = 0;

    if (v != NULL) {
        if (cw_parse_uint((const char *)v, 0, SIZE_MAX / 2, &u) < 0) {
            u = 0;
        }
        xmlFree(v);
    }
    return (size_t)u;
}

/* Moves a copy of the Consignment under node into out as its own document. */
static int take_doc(cw_adapter_result_t *out, const xmlNode *node, size_t item, size_t line)
{
    xmlDoc *doc = NULL;
    xmlNode *copy;
    int rc = 0;

    doc = xmlNewDoc(BAD_CAST "1.0");
    CW_CHECK_ALLOC(doc);
    copy = xmlDocCopyNode((xmlNode *)node, doc, 1);
    CW_CHECK_ALLOC(copy);
    (void)xmlDocSetRootElement(doc, copy);
    rc = cw_adapters__result_add_doc(out, doc, item, line);
    doc = NULL;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

static int add_item_error(cw_adapter_result_t *out, const xmlNode *n)
{
    xmlChar *field = xmlGetProp(n, BAD_CAST "field");
    xmlChar *text = xmlNodeGetContent(n);
    int rc;

    rc = cw_adapters__result_add_error(out, attr_size(n, "item"), attr_size(n, "line"),
                                       field != NULL ? (const char *)field : "", "%s",
                                       text != NULL ? (const char *)text : "");
    xmlFree(field);
    xmlFree(text);
    return rc;
}

static int
collect(const cw_adapter_t *adapter, xmlDoc *res, cw_adapter_result_t *out, cw_error_t *err)
{
    xmlNode *root = xmlDocGetRootElement(res), *n, *c;
    size_t items = 0;
    int rc = 0;

    if (is_el(root, CW_ADAPTER_CANONICAL_NS, "Consignment")) {
        out->item_count = 1;
        return take_doc(out, root, 0, 0);
    }
    if (!is_el(root, CW_XSLT_NS, "Result")) {
        return cw_error_set(err, CW_EPROTO, CW_ADAPTERS_MOD,
                            "stylesheet produced <%s>, not a Consignment or cwa:Result",
                            root != NULL ? (const char *)root->name : "nothing");
    }
    for (n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (++items > adapter->limits.items_max) {
            return cw_error_set(err, CW_E2BIG, CW_ADAPTERS_MOD,
                                "more than %zu documents in one input", adapter->limits.items_max);
        }
        if (is_el(n, CW_XSLT_NS, "Error")) {
            CW_TRY(add_item_error(out, n));
            continue;
        }
        for (c = n->children; c != NULL && c->type != XML_ELEMENT_NODE; c = c->next) {
        }
        if (!is_el(n, CW_XSLT_NS, "Document")
            || !is_el(c, CW_ADAPTER_CANONICAL_NS, "Consignment")) {
            return cw_error_set(err, CW_EPROTO, CW_ADAPTERS_MOD,
                                "stylesheet produced <%s> in its Result", (const char *)n->name);
        }
        CW_TRY(take_doc(out, c, attr_size(n, "item"), attr_size(n, "line")));
    }
    out->item_count = items;
out:
    return rc;
}

static int xslt_translate_in(const cw_adapter_t *adapter,
                             const char *bytes,
                             size_t len,
                             const char *media_type,
                             cw_adapter_result_t *out,
                             cw_error_t *err)
{
    const xslt_state_t *st = adapter->state;
    cw_conf_limits_t limits;
    cw_sec_problem_e problem;
    xmlDoc *doc = NULL, *res = NULL;
    xmlNode *root;
    int rc = 0;

    (void)media_type;
    memset(&limits, 0, sizeof(limits));
    limits.xml_bytes_max =
        (uint32_t)(adapter->limits.input_bytes_max > UINT32_MAX ? UINT32_MAX
                                                                : adapter->limits.input_bytes_max);
    limits.xml_depth_max = adapter->limits.xml_depth_max;
    limits.xml_nodes_max = adapter->limits.xml_nodes_max;
    CW_TRY(cw_sec_xml_parse(&doc, bytes, len, &limits, &problem, err));
    root = xmlDocGetRootElement(doc);
    if (st->kind->root_ns != NULL && !is_el(root, st->kind->root_ns, st->kind->root_name)) {
        rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD, "expected {%s}%s, got {%s}%s",
                          st->kind->root_ns, st->kind->root_name,
                          root != NULL && root->ns != NULL ? (const char *)root->ns->href : "",
                          root != NULL ? (const char *)root->name : "");
        goto out;
    }
    CW_TRY(run(&res, adapter, st->in, doc, NULL, err));
    CW_TRY(collect(adapter, res, out, err));
out:
    /* Storing a document, or the caller's on_doc, can fail with no message. */
    if (rc == CW_ENOMEM && (err == NULL || err->code == 0)) {
        (void)cw_error_set(err, rc, CW_ADAPTERS_MOD, "out of memory translating the XML input");
    }
    if (res != NULL) {
        xmlFreeDoc(res);
    }
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

/* ==== Output ==== */

static int xslt_translate_out(const cw_adapter_t *adapter,
                              const xmlDoc *canonical,
                              char **out,
                              size_t *len_out,
                              const char **media_type_out,
                              cw_error_t *err)
{
    const xslt_state_t *st = adapter->state;
    xmlDoc *copy = NULL, *res = NULL;
    xmlChar *text = NULL;
    char guid[40], app_time[16];
    const char *params[7];
    int64_t now = cw_time_wall_s();
    time_t t = (time_t)now;
    struct tm tm;
    size_t i;
    int len = 0, rc = 0;

    if (st->out == NULL) {
        return cw_error_set(err, CW_EINVAL, CW_ADAPTERS_MOD, "adapter '%s' has no output side",
                            adapter->ops->name);
    }
    /* Stylesheets may strip white space in their source: work on a copy. */
    copy = xmlCopyDoc((xmlDoc *)canonical, 1);
    CW_CHECK_ALLOC(copy);
    CW_TRY(cw_msg_id_new(guid, sizeof(guid)));
    for (i = 0; guid[i] != '\0'; i++) {
        guid[i] = (char)(guid[i] >= 'a' && guid[i] <= 'z' ? guid[i] - 'a' + 'A' : guid[i]);
    }
    (void)gmtime_r(&t, &tm);
    (void)strftime(app_time, sizeof(app_time), "%Y%m%d%H%M%S", &tm);
    params[0] = "guid";
    params[1] = guid;
    params[2] = "app_time";
    params[3] = app_time;
    params[4] = "partner";
    params[5] = adapter->partner_id != NULL ? adapter->partner_id : "";
    params[6] = NULL;
    CW_TRY(run(&res, adapter, st->out, copy, params, err));
    if (xsltSaveResultToString(&text, &len, res, st->out) != 0 || text == NULL) {
        rc = cw_error_set(err, CW_EPROTO, CW_ADAPTERS_MOD, "stylesheet produced no output");
        goto out;
    }
    if ((size_t)len > adapter->limits.output_bytes_max) {
        rc =
            cw_error_set(err, CW_E2BIG, CW_ADAPTERS_MOD, "output of %d bytes over the limit of %zu",
                         len, adapter->limits.output_bytes_max);
        goto out;
    }
    *out = cw_strndup((const char *)text, (size_t)len);
    CW_CHECK_ALLOC(*out);
    *len_out = (size_t)len;
    *media_type_out = "application/xml";
out:
    if (rc == CW_ENOMEM && (err == NULL || err->code == 0)) {
        (void)cw_error_set(err, rc, CW_ADAPTERS_MOD, "out of memory translating the consignment");
    }
    xmlFree(text);
    if (res != NULL) {
        xmlFreeDoc(res);
    }
    if (copy != NULL) {
        xmlFreeDoc(copy);
    }
    return rc;
}

/* ==== Life cycle ==== */

static int load(xsltStylesheetPtr *out, const char *dir, const char *file, cw_error_t *err)
{
    char path[CW_XSLT_PATH_MAX];
    xmlDoc *doc;

    *out = NULL;
    if (strchr(file, '/') != NULL || strcmp(file, "..") == 0) {
        return cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD,
                            "%s: a stylesheet is a file name inside the adapter folder", file);
    }
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
        return cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD, "%s: path too long", file);
    }
    /* Trusted file, still parsed without network, entities or DTD loading. */
    doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
    if (doc == NULL) {
        return cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD, "%s: cannot read or parse", path);
    }
    *out = xsltParseStylesheetDoc(doc);
    if (*out == NULL) {
        xmlFreeDoc(doc);
        return cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD, "%s: not a valid XSLT stylesheet",
                            path);
    }
    return 0;
}

static int xslt_init(cw_adapter_t *adapter, cw_error_t *err)
{
    xslt_state_t *st;
    const char *in_xsl = NULL, *out_xsl = NULL;
    size_t i;
    int rc = 0;

    (void)pthread_once(&xslt_once, xslt_global_init);
    st = cw_calloc(1, sizeof(*st));
    if (st == NULL) {
        return CW_ENOMEM;
    }
    adapter->state = st;
    for (i = 0; i < CW_ARRAY_SIZE(kinds); i++) {
        if (kinds[i].ops == adapter->ops) {
            st->kind = &kinds[i];
        }
    }
    if (!CW_ALWAYS(st->kind != NULL)) {
        return CW_EINTERNAL;
    }
    in_xsl = st->kind->ops == &cw_adapters__xslt_ops ? adapter->xslt_in : st->kind->in_xsl;
    out_xsl = st->kind->ops == &cw_adapters__xslt_ops ? adapter->xslt_out : st->kind->out_xsl;
    if (in_xsl == NULL && out_xsl == NULL) {
        return cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD,
                            "adapter 'xslt' needs an input or output stylesheet");
    }
    if (realpath(adapter->xslt_dir, st->dir) == NULL) {
        return cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD, "%s: no such folder",
                            adapter->xslt_dir);
    }
    st->prefs = xsltNewSecurityPrefs();
    CW_CHECK_ALLOC(st->prefs);
    if (xsltSetSecurityPrefs(st->prefs, XSLT_SECPREF_READ_FILE, on_read_file) != 0
        || xsltSetSecurityPrefs(st->prefs, XSLT_SECPREF_WRITE_FILE, on_write_file) != 0
        || xsltSetSecurityPrefs(st->prefs, XSLT_SECPREF_CREATE_DIRECTORY, on_create_dir) != 0
        || xsltSetSecurityPrefs(st->prefs, XSLT_SECPREF_READ_NETWORK, on_network) != 0
        || xsltSetSecurityPrefs(st->prefs, XSLT_SECPREF_WRITE_NETWORK, on_network) != 0) {
        rc = CW_ENOMEM;
        goto out;
    }
    if (in_xsl != NULL) {
        CW_TRY(load(&st->in, st->dir, in_xsl, err));
    }
    if (out_xsl != NULL) {
        CW_TRY(load(&st->out, st->dir, out_xsl, err));
    }
out:
    return rc;
}

static void xslt_destroy(cw_adapter_t *adapter)
{
    xslt_state_t *st = adapter->state;

    if (st->in != NULL) {
        xsltFreeStylesheet(st->in);
    }
    if (st->out != NULL) {
        xsltFreeStylesheet(st->out);
    }
    if (st->prefs != NULL) {
        xsltFreeSecurityPrefs(st->prefs);
    }
    cw_free(st);
    adapter->state = NULL;
}

/*
 * The generic "xslt" kind may have either side; translate_in/out check at
 * run time that its stylesheet exists.
 */
static int xslt_in_checked(const cw_adapter_t *adapter,
                           const char *bytes,
                           size_t len,
                           const char *media_type,
                           cw_adapter_result_t *out,
                           cw_error_t *err)
{
    const xslt_state_t *st = adapter->state;

    if (st->in == NULL) {
        return cw_error_set(err, CW_EINVAL, CW_ADAPTERS_MOD, "adapter '%s' has no input side",
                            adapter->ops->name);
    }
    return xslt_translate_in(adapter, bytes, len, media_type, out, err);
}

const struct cw_adapter_ops cw_adapters__ubl_order_ops = {
    "ubl-order", "application/xml", xslt_init, xslt_translate_in, NULL, xslt_destroy,
};

const struct cw_adapter_ops cw_adapters__ubl_waybill_ops = {
    "ubl-waybill", "application/xml", xslt_init, xslt_translate_in, NULL, xslt_destroy,
};

const struct cw_adapter_ops cw_adapters__ceb311_ops = {
    "ceb311", "application/xml", xslt_init, xslt_translate_in, NULL, xslt_destroy,
};

const struct cw_adapter_ops cw_adapters__ceb411_ops = {
    "ceb411", "application/xml", xslt_init, xslt_translate_in, NULL, xslt_destroy,
};

const struct cw_adapter_ops cw_adapters__ceb511_ops = {
    "ceb511", "application/xml", xslt_init, xslt_translate_in, NULL, xslt_destroy,
};

const struct cw_adapter_ops cw_adapters__ceb621_ops = {
    "ceb621", "application/xml", xslt_init, xslt_translate_in, xslt_translate_out, xslt_destroy,
};

const struct cw_adapter_ops cw_adapters__xslt_ops = {
    "xslt", "application/xml", xslt_init, xslt_in_checked, xslt_translate_out, xslt_destroy,
};
