/*
 * The only place untrusted XML is parsed (DESIGN.md data flow step 2,
 * STYLE.md rules 45 and 46), plus the small tree helpers every other file
 * of the module uses to read what was parsed.
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include <libxml/SAX2.h>
#include <libxml/c14n.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlversion.h>

#include "internal.h"
#include "sec.h"

/*
 * XML_PARSE_NONET: never fetch anything. Deliberately absent: NOENT (it
 * substitutes entities), DTDLOAD, DTDATTR, DTDVALID, XINCLUDE, HUGE (keeps
 * libxml2's own depth and text limits) and RECOVER (a broken document is
 * refused, not repaired). libxml2 >= 2.13 can also refuse external entities
 * itself; on Debian 12 (2.9.14) the DOCTYPE hook below is what protects us.
 */
#if LIBXML_VERSION >= 21300
#define PARSE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NO_XXE)
#else
#define PARSE_OPTIONS (XML_PARSE_NONET)
#endif

/* ==== Parsing ==== */

/* Per-parse state, reached from the SAX hooks through ctxt->_private. */
typedef struct parse_state {
    const cw_conf_limits_t *limits;
    uint32_t depth;           /* current element nesting */
    uint64_t nodes;           /* elements, comments and PIs seen so far */
    cw_sec_problem_e problem; /* set by a hook that stopped the parser */
    char first_err[200];      /* libxml2's first error message */
    int first_err_line;
    char detail[200]; /* what a hook that stopped the parser saw, with its line */
    startElementNsSAX2Func start_element; /* libxml2's SAX2 tree builders */
    endElementNsSAX2Func end_element;
    commentSAXFunc comment;
    processingInstructionSAXFunc pi;
} parse_state_t;

static void stop(xmlParserCtxtPtr ctxt, parse_state_t *st, cw_sec_problem_e problem)
{
    if (st->problem == CW_SEC_PROBLEM_NONE) {
        st->problem = problem;
    }
    xmlStopParser(ctxt);
}

/*
 * Called at "<!DOCTYPE name ...", before any declaration of the internal
 * subset is read: stopping here makes entity bombs and external entities
 * cost nothing.
 */
static void on_internal_subset(void *ctx,
                               const xmlChar *name,
                               const xmlChar *external_id,
                               const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = ctx;

    (void)name;
    (void)external_id;
    (void)system_id;
    stop(ctxt, ctxt->_private, CW_SEC_PROBLEM_DOCTYPE_FORBIDDEN);
}

/* Counts one node; returns 0, or stops the parser past the limit. */
static int count_node(xmlParserCtxtPtr ctxt, parse_state_t *st)
{
    st->nodes++;
    if (st->nodes > st->limits->xml_nodes_max) {
        stop(ctxt, st, CW_SEC_PROBLEM_XML_TOO_MANY_NODES);
        return -1;
    }
    return 0;
}

/*
 * A namespace URI with '&', '<', '"' or a control character. Canonical XML
 * escapes these in attribute values, but libxml2's C14N (2.9.14, Debian
 * 12) writes namespace URIs as they are, and c14n.c must match it byte for
 * byte: a sealed envelope carrying one would not be well-formed, or would
 * name another namespace, at the next hop. Only '&' may appear in a URI
 * (RFC 3986); the others cannot. Returns the character, or 0.
 */
static int ns_uri_unsafe(const xmlChar *uri)
{
    const xmlChar *c;

    for (c = uri; c != NULL && *c != '\0'; c++) {
        if (*c == '&' || *c == '<' || *c == '"' || *c < 0x20u || *c == 0x7fu) {
            return *c;
        }
    }
    return 0;
}

static void on_start_element(void *ctx,
                             const xmlChar *localname,
                             const xmlChar *prefix,
                             const xmlChar *uri,
                             int nb_namespaces,
                             const xmlChar **namespaces,
                             int nb_attributes,
                             int nb_defaulted,
                             const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = ctx;
    parse_state_t *st = ctxt->_private;
    int i;

    /* Attributes are nodes too: they cost memory like elements do. */
    st->nodes += (uint64_t)nb_attributes;
    if (count_node(ctxt, st) < 0) {
        return;
    }
    st->depth++;
    if (st->depth > st->limits->xml_depth_max) {
        stop(ctxt, st, CW_SEC_PROBLEM_XML_TOO_DEEP);
        return;
    }
    for (i = 0; i < nb_namespaces; i++) {
        int c = ns_uri_unsafe(namespaces[2 * i + 1]);

        if (c != 0) {
            const char *ns_prefix = (const char *)namespaces[2 * i];
            char shown[16];

            if (c > 0x20 && c != 0x7f) {
                (void)snprintf(shown, sizeof(shown), "'%c'", c);
            } else {
                (void)snprintf(shown, sizeof(shown), "0x%02x", (unsigned)c & 0xffu);
            }
            /* The prefix is the sender's text: named only when short, so
             * that the detail is never cut inside a UTF-8 character. */
            if (ns_prefix != NULL && strlen(ns_prefix) > 40) {
                ns_prefix = "(a long prefix)";
            }
            (void)snprintf(st->detail, sizeof(st->detail),
                           "line %d: the URI of xmlns%s%s holds %s, which a sealed envelope"
                           " cannot carry",
                           xmlSAX2GetLineNumber(ctx), ns_prefix != NULL ? ":" : "",
                           ns_prefix != NULL ? ns_prefix : "", shown);
            stop(ctxt, st, CW_SEC_PROBLEM_NAMESPACE_URI_REFUSED);
            return;
        }
    }
    st->start_element(ctx, localname, prefix, uri, nb_namespaces, namespaces, nb_attributes,
                      nb_defaulted, attributes);
}

static void
on_end_element(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ctx;
    parse_state_t *st = ctxt->_private;

    if (st->depth > 0) {
        st->depth--;
    }
    st->end_element(ctx, localname, prefix, uri);
}

static void on_comment(void *ctx, const xmlChar *value)
{
    xmlParserCtxtPtr ctxt = ctx;
    parse_state_t *st = ctxt->_private;

    if (count_node(ctxt, st) == 0) {
        st->comment(ctx, value);
    }
}

static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    xmlParserCtxtPtr ctxt = ctx;
    parse_state_t *st = ctxt->_private;

    if (count_node(ctxt, st) == 0) {
        st->pi(ctx, target, data);
    }
}

/* Records libxml2's first error of this parse instead of printing it. */
static void on_parse_error(void *ctx, xmlErrorPtr error)
{
    xmlParserCtxtPtr ctxt = ctx;
    parse_state_t *st = ctxt != NULL ? ctxt->_private : NULL;
    char *c;
    size_t n;

    if (st == NULL || error == NULL || st->first_err[0] != '\0' || error->message == NULL) {
        return;
    }
    (void)cw_strlcpy(st->first_err, error->message, sizeof(st->first_err));
    /* The message goes into one log line and a problem's detail: libxml2's
     * end with a newline, and some have one inside ("...encoding !\nBytes:
     * 0xC0 ..."). Control characters become spaces, trailing ones go. */
    for (c = st->first_err; *c != '\0'; c++) {
        if ((unsigned char)*c < 0x20u || *c == 0x7f) {
            *c = ' ';
        }
    }
    n = strlen(st->first_err);
    while (n > 0 && st->first_err[n - 1] == ' ') {
        st->first_err[--n] = '\0';
    }
    st->first_err_line = error->line;
}

/*
 * One iterative walk over the finished tree: depth and node count once
 * more (text nodes are not seen by the element hooks), and no entity
 * references, which cannot exist without a DOCTYPE.
 */
static cw_sec_problem_e tree_check(const xmlDoc *doc, const cw_conf_limits_t *limits)
{
    const xmlNode *n = doc->children;
    uint64_t nodes = 0;
    uint32_t depth = 1;
    const xmlAttr *a;

    while (n != NULL) {
        nodes++;
        /* depth is the level of n; only elements count as nesting, so the
         * text inside the deepest allowed element is fine. */
        if (n->type == XML_ELEMENT_NODE && depth > limits->xml_depth_max) {
            return CW_SEC_PROBLEM_XML_TOO_DEEP;
        }
        if (n->type == XML_ENTITY_REF_NODE || n->type == XML_DTD_NODE
            || n->type == XML_ENTITY_DECL) {
            return CW_SEC_PROBLEM_DOCTYPE_FORBIDDEN;
        }
        if (n->type == XML_ELEMENT_NODE) {
            for (a = n->properties; a != NULL; a = a->next) {
                nodes++;
            }
        }
        if (nodes > limits->xml_nodes_max) {
            return CW_SEC_PROBLEM_XML_TOO_MANY_NODES;
        }
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            depth++;
            continue;
        }
        while (n != NULL && n->next == NULL) {
            n = n->parent;
            if (n == NULL || n == (const xmlNode *)doc) {
                return CW_SEC_PROBLEM_NONE;
            }
            depth--;
        }
        n = n->next;
    }
    return CW_SEC_PROBLEM_NONE;
}

static int problem_code(cw_sec_problem_e problem)
{
    switch (problem) {
    case CW_SEC_PROBLEM_XML_TOO_LARGE:
    case CW_SEC_PROBLEM_XML_TOO_DEEP:
    case CW_SEC_PROBLEM_XML_TOO_MANY_NODES:
        return CW_E2BIG;
    default:
        return CW_EPARSE;
    }
}

int cw_sec_xml_parse(xmlDoc **out,
                     const char *data,
                     size_t len,
                     const cw_conf_limits_t *limits,
                     cw_sec_problem_e *problem_out,
                     cw_error_t *err)
{
    xmlParserCtxtPtr ctxt = NULL;
    xmlDoc *doc = NULL;
    parse_state_t st;
    int rc = 0;

    *out = NULL;
    *problem_out = CW_SEC_PROBLEM_NONE;
    memset(&st, 0, sizeof(st));
    st.limits = limits;

    if (len > limits->xml_bytes_max || len > (size_t)INT_MAX) {
        *problem_out = CW_SEC_PROBLEM_XML_TOO_LARGE;
        rc = cw_error_set(err, CW_E2BIG, CW_SEC_MOD,
                          "XML document of %zu bytes exceeds the limit of %u", len,
                          (unsigned)limits->xml_bytes_max);
        goto out;
    }
    if (len == 0) {
        *problem_out = CW_SEC_PROBLEM_MALFORMED_XML;
        rc = cw_error_set(err, CW_EPARSE, CW_SEC_MOD, "empty XML document");
        goto out;
    }

    ctxt = xmlNewParserCtxt();
    if (ctxt == NULL || ctxt->sax == NULL) {
        rc = cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "xmlNewParserCtxt failed");
        goto out;
    }
    /*
     * The hooks wrap libxml2's own SAX2 tree builders. ctxt->sax belongs to
     * this context alone, so no other parse sees them; the error handler
     * is per context for the same reason (parses run on worker threads).
     */
    ctxt->_private = &st;
    st.start_element = ctxt->sax->startElementNs;
    st.end_element = ctxt->sax->endElementNs;
    st.comment = ctxt->sax->comment;
    st.pi = ctxt->sax->processingInstruction;
    if (st.start_element == NULL || st.end_element == NULL || st.comment == NULL || st.pi == NULL) {
        rc = cw_error_set(err, CW_EINTERNAL, CW_SEC_MOD, "libxml2 SAX2 handlers missing");
        goto out;
    }
    ctxt->sax->startElementNs = on_start_element;
    ctxt->sax->endElementNs = on_end_element;
    ctxt->sax->comment = on_comment;
    ctxt->sax->processingInstruction = on_pi;
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->serror = on_parse_error;
    ctxt->vctxt.error = NULL;
    ctxt->vctxt.warning = NULL;

    doc = xmlCtxtReadMemory(ctxt, data, (int)len, "untrusted.xml", NULL, PARSE_OPTIONS);
    if (st.problem == CW_SEC_PROBLEM_NONE && doc != NULL
        && (doc->intSubset != NULL || doc->extSubset != NULL)) {
        st.problem = CW_SEC_PROBLEM_DOCTYPE_FORBIDDEN;
    }
    /* nsWellFormed: an undeclared prefix is malformed too (Namespaces in
     * XML §5), although libxml2 still builds a tree for it. */
    if (st.problem == CW_SEC_PROBLEM_NONE
        && (doc == NULL || !ctxt->wellFormed || !ctxt->nsWellFormed)) {
        st.problem = CW_SEC_PROBLEM_MALFORMED_XML;
    }
    if (st.problem == CW_SEC_PROBLEM_NONE) {
        st.problem = tree_check(doc, limits);
    }
    if (st.problem != CW_SEC_PROBLEM_NONE) {
        *problem_out = st.problem;
        if (st.problem == CW_SEC_PROBLEM_MALFORMED_XML && st.first_err[0] != '\0') {
            rc = cw_error_set(err, CW_EPARSE, CW_SEC_MOD, "line %d: %s", st.first_err_line,
                              st.first_err);
        } else if (st.detail[0] != '\0') {
            rc = cw_error_set(err, problem_code(st.problem), CW_SEC_MOD, "%s", st.detail);
        } else {
            rc = cw_error_set(err, problem_code(st.problem), CW_SEC_MOD, "%s",
                              cw_sec_problem_title(st.problem));
        }
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    if (ctxt != NULL) {
        ctxt->_private = NULL;
        xmlFreeParserCtxt(ctxt);
    }
    return rc;
}

/* ==== Output ==== */

int cw_sec_xml_serialize(char **out, size_t *len_out, xmlDoc *doc)
{
    xmlChar *mem = NULL;
    int size = 0;
    int rc = 0;

    *out = NULL;
    *len_out = 0;
    xmlDocDumpMemoryEnc(doc, &mem, &size, "UTF-8");
    if (mem == NULL || size < 0) {
        rc = CW_ENOMEM;
        goto out;
    }
    *out = cw_strndup((const char *)mem, (size_t)size);
    CW_CHECK_ALLOC(*out);
    *len_out = (size_t)size;
out:
    if (mem != NULL) {
        xmlFree(mem);
    }
    return rc;
}

typedef struct c14n_sink {
    EVP_MD_CTX *md;
    cw_sec_sink_e to;
    int failed;
} c14n_sink_t;

static int sink_update(EVP_MD_CTX *md, cw_sec_sink_e to, const void *data, size_t len)
{
    switch (to) {
    case CW_SEC_SINK_SIGN:
        return EVP_DigestSignUpdate(md, data, len);
    case CW_SEC_SINK_VERIFY:
        return EVP_DigestVerifyUpdate(md, data, len);
    case CW_SEC_SINK_DIGEST:
        break;
    }
    return EVP_DigestUpdate(md, data, len);
}

static int c14n_sink_write(void *ctx, const char *buf, int len)
{
    c14n_sink_t *sink = ctx;

    if (len <= 0) {
        return 0;
    }
    if (sink_update(sink->md, sink->to, buf, (size_t)len) != 1) {
        sink->failed = 1;
        return -1;
    }
    return len;
}

static int c14n_sink_close(void *ctx)
{
    (void)ctx;
    return 0;
}

/* What libxml2 is to canonicalise: top's subtree (all of it for the
 * document) without skip's. */
typedef struct c14n_scope {
    const xmlNode *top;
    const xmlNode *skip;
} c14n_scope_t;

static int scope_visible(void *arg, xmlNode *node, xmlNode *parent)
{
    const c14n_scope_t *scope = arg;
    const xmlNode *n = node;

    if (n == NULL || n->type == XML_NAMESPACE_DECL) {
        n = parent; /* an xmlNs has no parent field; libxml2 passes its element */
    }
    for (; n != NULL; n = n->parent) {
        if (n == scope->skip) {
            return 0;
        }
        if (n == scope->top) {
            return 1;
        }
    }
    return 0;
}

int cw_sec__c14n_libxml2(
    xmlOutputBuffer *buf, xmlDoc *doc, const xmlNode *top, const xmlNode *skip, int mode)
{
    c14n_scope_t scope = { top != NULL ? top : (const xmlNode *)doc, skip };
    int whole = scope.top == (const xmlNode *)doc && skip == NULL;

    return xmlC14NExecute(doc, whole ? NULL : scope_visible, whole ? NULL : &scope, mode, NULL, 0,
                          buf);
}

/* The canonical form of an envelope is held whole for one update; past
 * this it is streamed by libxml2 instead. */
#define C14N_BUF_MAX   ((size_t)64 * 1024 * 1024)
#define C14N_BUF_FIRST ((size_t)16 * 1024)

/* The node set through libxml2's xmlC14NExecute, streamed into md. */
static int c14n_update_libxml2(EVP_MD_CTX *md,
                               cw_sec_sink_e to,
                               xmlDoc *doc,
                               const xmlNode *top,
                               const xmlNode *skip,
                               int mode,
                               cw_error_t *err)
{
    c14n_sink_t sink = { md, to, 0 };
    xmlOutputBuffer *buf;
    int n;
    int closed;

    buf = xmlOutputBufferCreateIO(c14n_sink_write, c14n_sink_close, &sink, NULL);
    if (buf == NULL) {
        return cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "out of memory");
    }
    n = cw_sec__c14n_libxml2(buf, doc, top, skip, mode);
    /* Flushes what is left and frees buf whatever n was. */
    closed = xmlOutputBufferClose(buf);
    if (n < 0 || closed < 0 || sink.failed) {
        return cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "canonicalisation failed");
    }
    return 0;
}

int cw_sec__c14n_update(EVP_MD_CTX *md,
                        cw_sec_sink_e to,
                        xmlDoc *doc,
                        const xmlNode *top,
                        const xmlNode *skip,
                        int mode,
                        cw_error_t *err)
{
    if (mode == XML_C14N_EXCLUSIVE_1_0) {
        cw_buf_t out;
        int rc;
        int ok = 0;

        cw_buf_init(&out, C14N_BUF_MAX);
        /* One allocation for an envelope, a sealed one included. */
        rc = cw_buf_reserve(&out, C14N_BUF_FIRST);
        if (rc == 0) {
            rc = cw_sec__exc_c14n(&out, top != NULL ? top : (const xmlNode *)doc, skip);
        }
        if (rc == 0) {
            ok = sink_update(md, to, out.data != NULL ? out.data : "", out.len) == 1;
        }
        cw_buf_fini(&out);
        if (rc == 0) {
            return ok ? 0 : cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "canonicalisation failed");
        }
        /* A tree it leaves to libxml2 (c14n.c), or out of memory: libxml2
         * streams, so it may still manage. */
    }
    return c14n_update_libxml2(md, to, doc, top, skip, mode, err);
}

/* cw_sec_doc_sha256; with libxml2_only, straight through libxml2 (for a
 * tree c14n.c has refused). */
static int doc_sha256(unsigned char out[32], xmlDoc *doc, int libxml2_only, cw_error_t *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int md_len = 0;
    int rc = 0;

    /* Exclusive C14N 1.0 without comments, of the whole document. */
    if (md == NULL || EVP_DigestInit_ex(md, cw_sec_sha256_md(), NULL) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "SHA-256 failed");
        goto out;
    }
    CW_TRY(libxml2_only ? c14n_update_libxml2(md, CW_SEC_SINK_DIGEST, doc, NULL, NULL,
                                              XML_C14N_EXCLUSIVE_1_0, err)
                        : cw_sec__c14n_update(md, CW_SEC_SINK_DIGEST, doc, NULL, NULL,
                                              XML_C14N_EXCLUSIVE_1_0, err));
    if (EVP_DigestFinal_ex(md, out, &md_len) != 1 || md_len != 32) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "SHA-256 failed");
        goto out;
    }
out:
    EVP_MD_CTX_free(md);
    return rc;
}

int cw_sec__c14n_update_kept(EVP_MD_CTX *md,
                             xmlDoc *doc,
                             const xmlNode *skip,
                             cw_buf_t *kept,
                             size_t *skip_at,
                             cw_error_t *err)
{
    int rc;

    cw_buf_init(kept, C14N_BUF_MAX);
    *skip_at = SIZE_MAX;
    rc = cw_buf_reserve(kept, C14N_BUF_FIRST);
    if (rc == 0) {
        rc = cw_sec__exc_c14n_at(kept, (const xmlNode *)doc, skip, skip_at);
    }
    if (rc == 0) {
        if (sink_update(md, CW_SEC_SINK_DIGEST, kept->data != NULL ? kept->data : "", kept->len)
            != 1) {
            return cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "canonicalisation failed");
        }
        return 0;
    }
    /* libxml2's tree (c14n.c would refuse it again), or out of memory:
     * nothing kept to splice into, and its memory given back. */
    cw_buf_fini(kept);
    *skip_at = SIZE_MAX;
    return c14n_update_libxml2(md, CW_SEC_SINK_DIGEST, doc, NULL, skip, XML_C14N_EXCLUSIVE_1_0,
                               err);
}

int cw_sec__c14n_spliced_sha256(unsigned char out[32],
                                xmlDoc *doc,
                                const cw_buf_t *kept,
                                size_t skip_at,
                                const xmlNode *skip,
                                cw_error_t *err)
{
    const char *base = kept->data != NULL ? kept->data : "";
    EVP_MD_CTX *md = NULL;
    unsigned int md_len = 0;
    cw_buf_t mid;
    int ok;

    /* Where c14n.c refused a part, libxml2 does the whole. */
    if (skip_at == SIZE_MAX || skip_at > kept->len) {
        return doc_sha256(out, doc, 1, err);
    }
    cw_buf_init(&mid, C14N_BUF_MAX);
    if (cw_sec__exc_c14n_in_doc(&mid, skip) != 0) {
        cw_buf_fini(&mid);
        return doc_sha256(out, doc, 1, err);
    }
    md = EVP_MD_CTX_new();
    ok = md != NULL && EVP_DigestInit_ex(md, cw_sec_sha256_md(), NULL) == 1
         && EVP_DigestUpdate(md, base, skip_at) == 1
         && EVP_DigestUpdate(md, mid.data != NULL ? mid.data : "", mid.len) == 1
         && EVP_DigestUpdate(md, base + skip_at, kept->len - skip_at) == 1
         && EVP_DigestFinal_ex(md, out, &md_len) == 1 && md_len == 32;
    EVP_MD_CTX_free(md);
    cw_buf_fini(&mid);
    return ok ? 0 : cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "SHA-256 failed");
}

typedef struct buf_sink {
    cw_buf_t *out;
    int rc; /* the first append's error */
} buf_sink_t;

static int buf_sink_write(void *ctx, const char *buf, int len)
{
    buf_sink_t *sink = ctx;

    if (len <= 0) {
        return 0;
    }
    if (sink->rc == 0) {
        sink->rc = cw_buf_append(sink->out, buf, (size_t)len);
    }
    return sink->rc == 0 ? len : -1;
}

/* The whole document's exclusive canonical form through libxml2, into out. */
static int whole_libxml2(cw_buf_t *out, xmlDoc *doc, cw_error_t *err)
{
    buf_sink_t sink = { out, 0 };
    xmlOutputBuffer *buf;
    int n;
    int closed;

    cw_buf_reset(out);
    buf = xmlOutputBufferCreateIO(buf_sink_write, c14n_sink_close, &sink, NULL);
    if (buf == NULL) {
        return cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "out of memory");
    }
    n = cw_sec__c14n_libxml2(buf, doc, NULL, NULL, XML_C14N_EXCLUSIVE_1_0);
    closed = xmlOutputBufferClose(buf);
    if (sink.rc != 0) {
        cw_buf_reset(out);
        return cw_error_set(err, sink.rc, CW_SEC_MOD, "canonical form: %s", cw_strerror(sink.rc));
    }
    if (n < 0 || closed < 0) {
        cw_buf_reset(out);
        return cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "canonicalisation failed");
    }
    return 0;
}

int cw_sec__c14n_spliced(cw_buf_t *out,
                         xmlDoc *doc,
                         const cw_buf_t *kept,
                         size_t skip_at,
                         const xmlNode *skip,
                         cw_error_t *err)
{
    const char *base = kept->data != NULL ? kept->data : "";
    int rc;

    cw_buf_reset(out);
    /* Where c14n.c refused a part, libxml2 does the whole. */
    if (skip_at == SIZE_MAX || skip_at > kept->len) {
        return whole_libxml2(out, doc, err);
    }
    /* One allocation: the Signature is small beside the rest. */
    rc = cw_buf_reserve(out, kept->len + C14N_BUF_FIRST);
    if (rc == 0) {
        rc = cw_buf_append(out, base, skip_at);
    }
    if (rc == 0 && cw_sec__exc_c14n_in_doc(out, skip) != 0) {
        return whole_libxml2(out, doc, err);
    }
    if (rc == 0) {
        rc = cw_buf_append(out, base + skip_at, kept->len - skip_at);
    }
    if (rc != 0) {
        cw_buf_reset(out);
        return cw_error_set(err, rc, CW_SEC_MOD, "canonical form: %s", cw_strerror(rc));
    }
    return 0;
}

int cw_sec_doc_sha256(unsigned char out[32], xmlDoc *doc, cw_error_t *err)
{
    return doc_sha256(out, doc, 0, err);
}

/* ==== Tree helpers ==== */

int cw_sec__is_elem(const xmlNode *node, const char *ns, const char *name)
{
    if (node == NULL || node->type != XML_ELEMENT_NODE) {
        return 0;
    }
    if (!xmlStrEqual(node->name, (const xmlChar *)name)) {
        return 0;
    }
    if (ns == NULL) {
        return node->ns == NULL;
    }
    return node->ns != NULL && xmlStrEqual(node->ns->href, (const xmlChar *)ns);
}

xmlNode *cw_sec__first_elem(const xmlNode *parent)
{
    xmlNode *n;

    for (n = parent->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            return n;
        }
    }
    return NULL;
}

xmlNode *cw_sec__next_elem(const xmlNode *node)
{
    xmlNode *n;

    for (n = node->next; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE) {
            return n;
        }
    }
    return NULL;
}

static int is_xml_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int cw_sec__elem_text(char *out, size_t size, const xmlNode *elem)
{
    const xmlNode *n;
    size_t len = 0;
    size_t part;
    size_t start = 0;

    out[0] = '\0';
    for (n = elem->children; n != NULL; n = n->next) {
        switch (n->type) {
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            part = n->content != NULL ? strlen((const char *)n->content) : 0;
            if (len + part >= size) {
                return CW_EPROTO;
            }
            memcpy(out + len, n->content, part);
            len += part;
            out[len] = '\0';
            break;
        case XML_COMMENT_NODE:
        case XML_PI_NODE:
            /* Not part of the value, and must not end it either. */
            break;
        default:
            return CW_EPROTO;
        }
    }
    /* Leading and trailing white space is not part of a value (xs:token). */
    while (len > 0 && is_xml_space(out[len - 1])) {
        out[--len] = '\0';
    }
    while (start < len && is_xml_space(out[start])) {
        start++;
    }
    if (start > 0) {
        memmove(out, out + start, len - start + 1);
    }
    return 0;
}

/* ==== Time ==== */

int cw_sec__time_parse(const char *s, int64_t *out)
{
    return cw_time_parse_rfc3339(s, out);
}
