/*
 * Fuzz target: the partner-facing adapters (adapters/) on hostile input,
 * through cw_adapter_translate_in: the CSV manifest (libcsv), the platform
 * order JSON (jansson) and the six built-in XSLT kinds on untrusted XML
 * (cw_sec_xml_parse, then libxslt with the stylesheets in adapters/xsl).
 *
 * An input is a two-byte header and the body the adapter reads:
 *
 *   byte 0, bits 0-2  the kind: csv-manifest, shopify-order, ubl-order,
 *                     ubl-waybill, ceb311, ceb411, ceb511, ceb621
 *           bit 3     the instance with tight limits (and, for
 *                     shopify-order, no catalogue, and a partner transport
 *                     mode, post) instead of the defaults
 *           bits 4-5  how results are taken: stored; stored, then every
 *                     document taken with cw_adapter_result_take; streamed
 *                     to on_doc; streamed, on_doc failing with CW_ENOMEM
 *                     (as the inbound pipeline's does) after byte 1 % 8
 *                     documents
 *           bit 6     the first documents made are also translated out by
 *                     ceb621 (canonical -> CEB621Message)
 *           bit 7     the cw_ allocator fails after byte 1 allocations
 *   byte 1            the parameter of bits 4-5 and 7
 *
 * Besides crashes, leaks and undefined behaviour, it checks what
 * adapters.h promises: the return code is one the header lists, and a
 * failure leaves no document and a one-line message in err with the same
 * code; input over input_bytes_max is refused; every document (stored or
 * streamed) is a non-NULL {urn:clearway:consignment:1}Consignment, in
 * input order, that serialises to XML cw_sec_xml_parse accepts (the first
 * 8 of an input); item indexes are below item_count, line numbers within
 * the input, an item is a document or an error but not both; item_count,
 * stored errors and (XSLT) result nodes stay within the limits; on_doc
 * stops the translation with its code and is not called again; with the
 * partner's transport mode, a document has at most one TransportMode and
 * has one whenever it has a DestinationCountry;
 * translate_out leaves the canonical document unchanged and returns a
 * NUL-terminated text within output_bytes_max, or NULL and a message.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "adapters.h"
#include "fuzz_common.h"
#include "sec.h"

#ifndef CW_FUZZ_SRC_DIR
#error "CW_FUZZ_SRC_DIR (the source tree) is set by fuzz/CMakeLists.txt"
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEADER_BYTES  2u
#define KIND_MASK     0x07u
#define TIGHT_BIT     0x08u
#define MODE_SHIFT    4
#define MODE_MASK     0x03u
#define OUT_BIT       0x40u
#define OOM_BIT       0x80u
#define OUT_DOCS_MAX  2u /* documents translated out per input */
#define XML_DOCS_MAX  8u /* documents serialised and parsed again per input */
#define KIND_CSV      0u
#define KIND_JSON     1u
#define KIND_CEB621   7u
#define CATALOG_PATH  CW_FUZZ_SRC_DIR "/tests/data/adapters/catalog.json"
#define XSL_DIR       CW_FUZZ_SRC_DIR "/adapters/xsl"
#define ERR_MSG_BYTES sizeof(((cw_error_t *)0)->msg)

enum { MODE_STORE, MODE_TAKE, MODE_STREAM, MODE_STREAM_STOP };

static const char *const kind_names[KIND_MASK + 1] = {
    "csv-manifest", "shopify-order", "ubl-order", "ubl-waybill",
    "ceb311",       "ceb411",        "ceb511",    "ceb621",
};

/* Set once by LLVMFuzzerInitialize, read-only afterwards. */
static cw_adapter_t *instances[2][KIND_MASK + 1]; /* [tight][kind] */
static cw_adapter_limits_t limits_of[2];          /* [tight] */
static cw_conf_limits_t sec_limits;               /* cw_sec_xml_parse defaults */

/* What one translation is checked against; on_doc's arg. */
typedef struct run {
    const cw_adapter_t *adapter;
    const cw_adapter_t *out_adapter;   /* ceb621, or NULL: no translate_out */
    const cw_adapter_limits_t *limits; /* of adapter and out_adapter */
    unsigned kind;
    size_t len;       /* body bytes */
    size_t lines_max; /* a line number above this is outside the input */
    int mode;
    size_t stop_after; /* MODE_STREAM_STOP: documents before on_doc fails */
    size_t streamed;   /* documents handed to on_doc */
    int stopped;       /* on_doc has returned an error */
    size_t last_item;  /* item of the last document seen (valid when docs_seen) */
    size_t docs_seen;
    size_t out_done; /* documents translated out */
    size_t xml_done; /* documents serialised and parsed again */
    int oom;         /* allocation failures injected */
} run_t;

/* A broken contract is a finding: report it the way a sanitizer would. */
static void contract_fail(const run_t *r, const char *what, const cw_error_t *err)
{
    fprintf(stderr, "fuzz_adapters: contract broken: %s (adapter %s, last error %s: %s)\n", what,
            r != NULL ? cw_adapter_name(r->adapter) : "-",
            err != NULL ? cw_err_name(err->code) : "-", err != NULL ? err->msg : "");
    abort();
}

static int is_xslt_kind(unsigned kind)
{
    return kind != KIND_CSV && kind != KIND_JSON;
}

/* The failure codes adapters.h lists for translate_in. */
static int in_code_ok(const run_t *r, int rc)
{
    switch (rc) {
    case CW_E2BIG:
    case CW_EPARSE:
    case CW_ETIMEDOUT:
    case CW_ENOMEM:
        return 1;
    case CW_EPROTO:
        /* A built-in stylesheet that fails at run time (its template depth
         * limit): listed for translate_out, reported by translate_in too. */
        return is_xslt_kind(r->kind);
    default:
        /* CW_EINVAL: every kind here has an input side. CW_EPERM: the
         * built-in stylesheets read only their own folder, and no input
         * may steer them elsewhere. */
        return 0;
    }
}

/* A failure: the code in err too, with one line of text. */
static void failure_check(const run_t *r, int rc, const cw_error_t *err, const char *where)
{
    char what[128];

    if (err->code == rc && memchr(err->msg, '\0', ERR_MSG_BYTES) != NULL && err->msg[0] != '\0'
        && strpbrk(err->msg, "\r\n") == NULL) {
        return;
    }
    (void)snprintf(what, sizeof(what), "%s failed with %s but err does not hold one line for it",
                   where, cw_err_name(rc));
    contract_fail(r, what, err);
}

/* Nodes under root, as xslt.c counts the result tree (attributes aside). */
static size_t nodes_count(const xmlNode *root)
{
    const xmlNode *cur = root;
    size_t count = 0;

    while (cur != NULL) {
        count++;
        if (cur->type == XML_ELEMENT_NODE && cur->children != NULL) {
            cur = cur->children;
            continue;
        }
        while (cur != NULL && cur != root && cur->next == NULL) {
            cur = cur->parent;
        }
        if (cur == NULL || cur == root) {
            break;
        }
        cur = cur->next;
    }
    return count;
}

static char *doc_dump(xmlDoc *doc, int *len_out)
{
    xmlChar *text = NULL;

    xmlDocDumpMemory(doc, &text, len_out);
    return (char *)text;
}

/* translate_out of a canonical document by ceb621 (adapters.h contract). */
static void out_check(run_t *r, xmlDoc *doc)
{
    const char *media_type = NULL;
    char *before = NULL, *after = NULL, *text = NULL;
    int before_len = 0, after_len = 0, rc;
    size_t len = 1;
    cw_error_t err;

    if (r->out_adapter == NULL || r->out_done >= OUT_DOCS_MAX) {
        return;
    }
    r->out_done++;
    before = doc_dump(doc, &before_len);
    cw_error_clear(&err);
    rc = cw_adapter_translate_out(r->out_adapter, doc, &text, &len, &media_type, &err);
    if (rc == 0) {
        if (text == NULL || text[len] != '\0' || media_type == NULL) {
            contract_fail(r, "translate_out succeeded without a NUL-terminated text", &err);
        }
        if (len > r->limits->output_bytes_max) {
            contract_fail(r, "translate_out text over output_bytes_max", &err);
        }
    } else {
        if (text != NULL || len != 0) {
            contract_fail(r, "translate_out failed with a text in *out", &err);
        }
        if (rc != CW_E2BIG && rc != CW_ETIMEDOUT && rc != CW_EPROTO && rc != CW_ENOMEM) {
            contract_fail(r, "translate_out failed with a code adapters.h does not list", &err);
        }
        failure_check(r, rc, &err, "translate_out");
    }
    after = doc_dump(doc, &after_len);
    if (before != NULL && after != NULL
        && (before_len != after_len || memcmp(before, after, (size_t)before_len) != 0)) {
        contract_fail(r, "translate_out modified the canonical document", &err);
    }
    xmlFree(before);
    xmlFree(after);
    cw_free(text);
}

/* Items that became documents, to find one that is also an error. */
static uint8_t doc_items[(CW_ADAPTER_ITEMS_DEFAULT + 7) / 8];

static void doc_item_mark(const run_t *r, size_t item)
{
    if (item >= r->limits->items_max || item >= CW_ADAPTER_ITEMS_DEFAULT) {
        contract_fail(r, "a document's item index is over items_max", NULL);
    }
    doc_items[item / 8] |= (uint8_t)(1u << (item % 8));
}

static int doc_item_has(size_t item)
{
    return item < CW_ADAPTER_ITEMS_DEFAULT && (doc_items[item / 8] & (1u << (item % 8))) != 0;
}

/*
 * A canonical consignment is an XML document: what cw_sec_xml_serialize
 * writes of it must be well-formed, or the sealed message it becomes
 * cannot be read by the next node (cw_sec_xml_parse).
 */
static void xml_check(run_t *r, xmlDoc *doc)
{
    cw_sec_problem_e problem;
    xmlDoc *again = NULL;
    char *text = NULL;
    size_t len = 0;
    cw_error_t err;
    int rc;

    if (r->xml_done >= XML_DOCS_MAX) {
        return;
    }
    r->xml_done++;
    cw_error_clear(&err);
    rc = cw_sec_xml_serialize(&text, &len, doc);
    if (rc == 0) {
        rc = cw_sec_xml_parse(&again, text, len, &sec_limits, &problem, &err);
    }
    if (rc == CW_EPARSE) {
        contract_fail(r, "a document that is not well-formed XML once serialised", &err);
    }
    if (again != NULL) {
        xmlFreeDoc(again);
    }
    cw_free(text);
}

/* The partner's transport mode (the tight instances have one). */
static void mode_check(run_t *r, const xmlNode *root)
{
    const xmlNode *n;
    int modes = 0;
    int dest = 0;

    for (n = root->children; n != NULL; n = n->next) {
        if (n->type == XML_ELEMENT_NODE && n->ns != NULL
            && strcmp((const char *)n->ns->href, CW_ADAPTER_CANONICAL_NS) == 0) {
            modes += strcmp((const char *)n->name, "TransportMode") == 0;
            dest += strcmp((const char *)n->name, "DestinationCountry") == 0;
        }
    }
    if (modes > 1 || (dest > 0 && modes == 0)) {
        contract_fail(r, "the partner's transport mode missing or given twice", NULL);
    }
}

/* Every document made, stored or streamed. */
static void doc_check(run_t *r, xmlDoc *doc, size_t item, size_t line)
{
    const xmlNode *root;

    if (doc == NULL) {
        contract_fail(r, "a NULL document", NULL);
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || root->ns == NULL || strcmp((const char *)root->name, "Consignment") != 0
        || strcmp((const char *)root->ns->href, CW_ADAPTER_CANONICAL_NS) != 0) {
        contract_fail(r, "a document that is not a canonical Consignment", NULL);
    }
    if (r->docs_seen > 0 && item <= r->last_item) {
        contract_fail(r, "documents not in input order (item indexes do not grow)", NULL);
    }
    r->last_item = item;
    r->docs_seen++;
    doc_item_mark(r, item);
    if (line > r->lines_max || (r->kind == KIND_CSV && line == 0)) {
        contract_fail(r, "a document's line is outside the input", NULL);
    }
    /* The partner's transport mode (tight instances) may add an element
     * and its text after the XSLT run. */
    if (is_xslt_kind(r->kind)
        && nodes_count(root)
               > r->limits->xslt_out_nodes_max + (r->limits == &limits_of[1] ? 2u : 0u)) {
        contract_fail(r, "a document over xslt_out_nodes_max", NULL);
    }
    if (r->limits == &limits_of[1]) {
        mode_check(r, root);
    }
    xml_check(r, doc);
    out_check(r, doc);
}

static int on_doc(xmlDoc *doc, size_t item, size_t line, void *arg)
{
    run_t *r = arg;

    if (r->stopped) {
        contract_fail(r, "on_doc called again after it stopped the translation", NULL);
    }
    doc_check(r, doc, item, line);
    xmlFreeDoc(doc);
    r->streamed++;
    if (r->mode == MODE_STREAM_STOP && r->streamed > r->stop_after) {
        r->stopped = 1;
        return CW_ENOMEM;
    }
    return 0;
}

/* A result that translate_in returned 0 for. */
static void result_check(run_t *r, const cw_adapter_result_t *res)
{
    const cw_adapter_item_error_t *e;
    size_t i;

    if (r->mode >= MODE_STREAM && res->doc_count != 0) {
        contract_fail(r, "documents stored although on_doc is set", NULL);
    }
    if (r->mode < MODE_STREAM && r->streamed != 0) {
        contract_fail(r, "on_doc called although it is not set", NULL);
    }
    if (res->item_count > r->limits->items_max) {
        contract_fail(r, "success with item_count over items_max", NULL);
    }
    for (i = 0; i < res->doc_count; i++) {
        doc_check(r, res->docs[i].doc, res->docs[i].item, res->docs[i].line);
    }
    if (r->docs_seen > 0 && r->last_item >= res->item_count) {
        contract_fail(r, "a document's item index is not below item_count", NULL);
    }
    if (res->error_count > r->limits->errors_max || res->error_count > res->error_cap
        || (res->error_count > 0 && res->errors == NULL)) {
        contract_fail(r, "more stored errors than errors_max", NULL);
    }
    if (res->errors_dropped > 0 && res->error_count != r->limits->errors_max) {
        contract_fail(r, "errors dropped before errors_max were stored", NULL);
    }
    for (i = 0; i < res->error_count; i++) {
        e = &res->errors[i];
        if (e->item >= res->item_count) {
            contract_fail(r, "an item error's index is not below item_count", NULL);
        }
        if (e->line > r->lines_max || (r->kind == KIND_CSV && e->line == 0)) {
            contract_fail(r, "an item error's line is outside the input", NULL);
        }
        if (memchr(e->field, '\0', sizeof(e->field)) == NULL
            || memchr(e->msg, '\0', sizeof(e->msg)) == NULL || e->msg[0] == '\0') {
            contract_fail(r, "an item error without a terminated field and message", NULL);
        }
        if (strpbrk(e->field, "\r\n") != NULL || strpbrk(e->msg, "\r\n") != NULL) {
            contract_fail(r, "an item error's field or message is not one line", NULL);
        }
        if (doc_item_has(e->item)) {
            contract_fail(r, "an item is both a document and an error", NULL);
        }
    }
}

static void take_check(run_t *r, cw_adapter_result_t *res)
{
    xmlDoc *doc, *want;
    size_t i;

    for (i = 0; i < res->doc_count; i++) {
        want = res->docs[i].doc;
        doc = cw_adapter_result_take(res, i);
        if (doc == NULL || doc != want || cw_adapter_result_take(res, i) != NULL) {
            contract_fail(r, "cw_adapter_result_take did not hand over a document once", NULL);
        }
        xmlFreeDoc(doc);
    }
    if (cw_adapter_result_take(res, res->doc_count) != NULL) {
        contract_fail(r, "cw_adapter_result_take past the end returned a document", NULL);
    }
}

static size_t lines_in(const char *body, size_t len)
{
    size_t n = 1, i;

    for (i = 0; i < len; i++) {
        n += body[i] == '\n';
    }
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_limits_t tight = CW_ADAPTER_LIMITS_INIT;
    cw_error_t err;
    unsigned t, k;

    (void)argc;
    (void)argv;
    cw_fuzz_sec_init("fuzz_adapters", &sec_limits);
    /* Small enough that inputs of a few KiB reach every limit. */
    tight.input_bytes_max = 16384;
    tight.items_max = 4;
    tight.errors_max = 3;
    tight.output_bytes_max = 4096;
    tight.xslt_steps_max = 50000;
    tight.xslt_depth_max = 40;
    tight.xslt_vars_max = 400;
    tight.xslt_out_nodes_max = 300;
    tight.xml_depth_max = 12;
    tight.xml_nodes_max = 3000;
    limits_of[0] = conf.limits;
    limits_of[1] = tight;
    for (t = 0; t < 2; t++) {
        for (k = 0; k <= KIND_MASK; k++) {
            cw_error_clear(&err);
            conf.name = kind_names[k];
            conf.partner_id = "partner-fuzz";
            conf.catalog_path = k == KIND_JSON && t == 0 ? CATALOG_PATH : NULL;
            conf.xslt_dir = XSL_DIR;
            conf.limits = limits_of[t];
            conf.transport_mode = t == 1 ? "post" : NULL;
            if (cw_adapter_new(&instances[t][k], &conf, &err) != 0) {
                fprintf(stderr, "fuzz_adapters: cw_adapter_new(%s): %s\n", kind_names[k], err.msg);
                exit(1);
            }
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cw_adapter_result_t res;
    cw_error_t err;
    const char *body;
    unsigned tight;
    uint8_t flags, param;
    run_t r;
    int rc;

    if (size < HEADER_BYTES) {
        return 0;
    }
    flags = data[0];
    param = data[1];
    body = (const char *)data + HEADER_BYTES;
    tight = (flags & TIGHT_BIT) != 0;
    memset(&r, 0, sizeof(r));
    memset(doc_items, 0, sizeof(doc_items));
    r.kind = flags & KIND_MASK;
    r.adapter = instances[tight][r.kind];
    r.out_adapter = (flags & OUT_BIT) != 0 ? instances[tight][KIND_CEB621] : NULL;
    r.limits = &limits_of[tight];
    r.len = size - HEADER_BYTES;
    r.lines_max = r.kind == KIND_CSV ? lines_in(body, r.len) : r.len + 1;
    r.mode = (flags >> MODE_SHIFT) & MODE_MASK;
    r.stop_after = param % 8u;
    r.oom = (flags & OOM_BIT) != 0;

    cw_adapter_result_init(&res);
    if (r.mode >= MODE_STREAM) {
        res.on_doc = on_doc;
        res.arg = &r;
    }
    cw_error_clear(&err);
    if (r.oom) {
        cw_alloc_fail_after(param);
    }
    rc = cw_adapter_translate_in(r.adapter, body, r.len, NULL, &res, &err);
    if (rc < 0) {
        if (res.doc_count != 0) {
            contract_fail(&r, "failure with documents in the result", &err);
        }
        if (r.stopped ? rc != CW_ENOMEM : !in_code_ok(&r, rc)) {
            contract_fail(&r, "translate_in failed with a code adapters.h does not list", &err);
        }
        failure_check(&r, rc, &err, "translate_in");
    } else {
        if (rc != 0) {
            contract_fail(&r, "translate_in returned a positive code", &err);
        }
        if (r.stopped) {
            contract_fail(&r, "on_doc stopped the translation, yet it succeeded", &err);
        }
        if (r.len > r.limits->input_bytes_max) {
            contract_fail(&r, "success on input over input_bytes_max", &err);
        }
        result_check(&r, &res);
        if (r.mode == MODE_TAKE) {
            take_check(&r, &res);
        }
    }
    cw_alloc_fail_reset();
    cw_adapter_result_fini(&res);
    return 0;
}
