/*
 * Exclusive XML Canonicalization 1.0 without comments, for what this node
 * signs and digests (cw_sec__c14n_update): the enveloped Reference (the
 * document without its Signature), SignedInfo, and the receipt's digest of
 * a received envelope.
 *
 * libxml2's xmlC14NExecute gives the same bytes, but spends most of its
 * time on machinery this node never needs: a visibility callback for every
 * node, attribute and namespace (each walking up to the root), a sorted
 * list allocated per element for its namespaces and another for its
 * attributes, every attribute value and text copied twice before it is
 * escaped. In the benchmark that was 12 % of the daemon's CPU. This walk
 * writes straight into one buffer.
 *
 * It is not a second implementation to be trusted on its own: its output
 * must be byte for byte libxml2's (other receivers verify with xmlsec,
 * which canonicalises with libxml2, and the node sends what it signs in
 * this form). tests/unit/sec/test_c14n.c compares the two
 * on every document of the test data and on documents built to hit each
 * rule, and the fuzz target fuzz_c14n does the same on arbitrary input.
 * Whatever it does not handle exactly as libxml2 does (entity references,
 * a namespace URI that needs quoting, very deep or namespace-heavy trees)
 * makes it answer CW_EINVAL without output, and the caller falls back to
 * xmlC14NExecute.
 *
 * The rules (W3C xml-exc-c14n, as libxml2 applies them):
 * - an element renders the namespace of its name and of its prefixed
 *   attributes ("visibly utilised") unless the nearest output ancestor that
 *   rendered that prefix rendered the same URI; xmlns="" when the element
 *   is in no namespace and an output ancestor rendered a default one;
 *   namespaces sorted by prefix (the default first);
 * - attributes sorted by namespace URI (none first), then local name;
 * - text escapes & < > and CR; attribute values & < " TAB LF CR; a
 *   processing instruction CR; comments are left out;
 * - at document level, a PI before the root element is followed by a line
 *   feed, one after it preceded by one; the DTD is left out;
 * - a namespace declared with a relative URI is an error: libxml2 checks
 *   every nsDef of every element it walks, output or not (the whole
 *   document when the apex is an element, the left-out subtree too).
 */
#include <stdint.h>
#include <string.h>

#include <libxml/tree.h>
#include <libxml/uri.h>

#include "internal.h"

/* Beyond these the tree goes to libxml2 (never the case for an envelope). */
#define C14N_DEPTH_MAX    256
#define C14N_RENDERED_MAX 256 /* namespace bindings on the output path */
#define C14N_ELEM_NS_MAX  32  /* namespaces rendered by one element */
#define C14N_ATTRS_MAX    64  /* attributes of one element */

/* A prefix bound to a URI by an output ancestor ("" for none). */
typedef struct binding {
    const xmlChar *prefix;
    const xmlChar *href;
} binding_t;

typedef struct c14n {
    cw_buf_t *out;
    const xmlNode *skip;
    binding_t rendered[C14N_RENDERED_MAX];
    size_t n_rendered;
    size_t skip_at;  /* where skip's subtree would be in out, or SIZE_MAX */
    int after_root;  /* document level: the root element was written */
    int mute;        /* 1: nothing is written (rendering an element's context) */
    int out_of_tree; /* 1: elem written out of its tree (cw_sec_c14n_put_elem) */
    int rc;
} c14n_t;

static const xmlChar empty[] = "";

static const xmlChar *nz(const xmlChar *s)
{
    return s != NULL ? s : empty;
}

/* xmlStrcmp's order: NULL first, then bytes as unsigned. */
static int str_cmp(const xmlChar *a, const xmlChar *b)
{
    if (a == b) {
        return 0;
    }
    if (a == NULL) {
        return -1;
    }
    if (b == NULL) {
        return 1;
    }
    return strcmp((const char *)a, (const char *)b);
}

static void put(c14n_t *c, const void *data, size_t n)
{
    if (c->rc == 0 && n > 0 && !c->mute) {
        c->rc = cw_buf_put(c->out, data, n);
    }
}

static void puts_(c14n_t *c, const char *s)
{
    put(c, s, strlen(s));
}

/*
 * Appends s with the characters of this kind escaped: text (& < > CR),
 * an attribute value (& < " TAB LF CR) or a PI (CR). Runs of plain bytes
 * are found with strcspn and copied whole: a sealed envelope's evidence
 * is one text node of some 5 KB with nothing to escape.
 */
typedef enum esc_e { ESC_TEXT, ESC_ATTR, ESC_PI } esc_e;

static const char *const esc_stops[] = {
    [ESC_TEXT] = "&<>\r",
    [ESC_ATTR] = "&<\"\t\n\r",
    [ESC_PI] = "\r",
};

static const char *esc_of(unsigned char ch)
{
    switch (ch) {
    case '&':
        return "&amp;";
    case '<':
        return "&lt;";
    case '>':
        return "&gt;";
    case '"':
        return "&quot;";
    case '\t':
        return "&#x9;";
    case '\n':
        return "&#xA;";
    default:
        return "&#xD;";
    }
}

static int buf_escaped(cw_buf_t *out, const char *s, esc_e kind)
{
    const char *p = s;
    int rc = 0;

    for (;;) {
        size_t run = strcspn(p, esc_stops[kind]);
        const char *esc;

        if (run > 0) {
            CW_TRY(cw_buf_put(out, p, run));
        }
        p += run;
        if (*p == '\0') {
            break;
        }
        esc = esc_of((unsigned char)*p);
        CW_TRY(cw_buf_put(out, esc, strlen(esc)));
        p++;
    }
out:
    return rc;
}

static void put_escaped(c14n_t *c, const xmlChar *s, esc_e kind)
{
    if (c->rc == 0 && !c->mute) {
        c->rc = buf_escaped(c->out, (const char *)s, kind);
    }
}

static void put_qname(c14n_t *c, const xmlNs *ns, const xmlChar *name)
{
    if (ns != NULL && ns->prefix != NULL && ns->prefix[0] != '\0') {
        puts_(c, (const char *)ns->prefix);
        put(c, ":", 1);
    }
    puts_(c, (const char *)name);
}

static int is_xml_ns(const xmlNs *ns)
{
    return ns->prefix != NULL && xmlStrEqual(ns->prefix, (const xmlChar *)"xml")
           && xmlStrEqual(ns->href, XML_XML_NAMESPACE);
}

/*
 * Whether an output ancestor already rendered this binding: the nearest
 * one that rendered the prefix has the same URI; with no such ancestor,
 * only the empty default namespace counts as rendered.
 */
static int already_rendered(const c14n_t *c, const xmlChar *prefix, const xmlChar *href)
{
    size_t i = c->n_rendered;

    prefix = nz(prefix);
    href = nz(href);
    while (i-- > 0) {
        if (xmlStrEqual(c->rendered[i].prefix, prefix)) {
            return xmlStrEqual(c->rendered[i].href, href);
        }
    }
    return prefix[0] == '\0' && href[0] == '\0';
}

static void push_rendered(c14n_t *c, const xmlNs *ns)
{
    if (c->n_rendered == C14N_RENDERED_MAX) {
        c->rc = c->rc < 0 ? c->rc : CW_EINVAL;
        return;
    }
    c->rendered[c->n_rendered].prefix = nz(ns->prefix);
    c->rendered[c->n_rendered].href = nz(ns->href);
    c->n_rendered++;
}

/*
 * The namespaces of every document the node signs or checks: absolute,
 * so not parsed again for each element that declares them (xmlParseURI
 * allocates). Written out: sec includes neither msg nor checks (STYLE.md
 * rule 3), whose headers name the first three; one missing from here is
 * only parsed.
 */
static const char *const known_absolute[] = {
    "urn:clearway:envelope:1",
    "urn:clearway:consignment:1",
    "urn:clearway:assessment:1",
    "urn:clearway:receipt:1",
    CW_SEC_DS_NS,
};

static int known_absolute_ns(const xmlChar *href)
{
    for (size_t i = 0; i < CW_ARRAY_SIZE(known_absolute); i++) {
        if (strcmp((const char *)href, known_absolute[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* libxml2 refuses a namespace URI without a scheme (a relative one). */
static int href_absolute(const xmlChar *href)
{
    xmlURI *uri;
    int ok;

    if (href == NULL || href[0] == '\0' || known_absolute_ns(href)) {
        return 1;
    }
    uri = xmlParseURI((const char *)href);
    ok = uri != NULL && uri->scheme != NULL && uri->scheme[0] != '\0';
    xmlFreeURI(uri);
    return ok;
}

static int ns_defs_absolute(const xmlNode *elem)
{
    const xmlNs *ns;

    for (ns = elem->nsDef; ns != NULL; ns = ns->next) {
        if (!href_absolute(ns->href)) {
            return 0;
        }
    }
    return 1;
}

/*
 * What libxml2 checks in the nodes it walks without outputting them (it
 * walks every node of the document): a namespace URI without a scheme, and
 * a node it refuses (an entity reference, an attribute or namespace where a
 * child belongs, a nested document, which it would walk as a document).
 * 1 when the subtree passes.
 */
static int unwalked_ok(const xmlNode *n, unsigned depth)
{
    for (; n != NULL; n = n->next) {
        switch (n->type) {
        case XML_ENTITY_REF_NODE:
        case XML_ENTITY_NODE:
        case XML_ATTRIBUTE_NODE:
        case XML_NAMESPACE_DECL:
        case XML_DOCUMENT_NODE:
        case XML_DOCUMENT_FRAG_NODE:
        case XML_HTML_DOCUMENT_NODE:
            return 0;
        case XML_ELEMENT_NODE:
            if (depth > C14N_DEPTH_MAX || !ns_defs_absolute(n)
                || !unwalked_ok(n->children, depth + 1)) {
                return 0;
            }
            break;
        default:
            break;
        }
    }
    return 1;
}

static void put_ns(c14n_t *c, const xmlNs *ns)
{
    const xmlChar *href = nz(ns->href);

    if (ns->prefix != NULL) {
        puts_(c, " xmlns:");
        puts_(c, (const char *)ns->prefix);
        puts_(c, "=\"");
    } else {
        puts_(c, " xmlns=\"");
    }
    /* libxml2 writes the URI as it is, switching quotes when it holds a
     * double quote; such a URI is left to libxml2. */
    if (strchr((const char *)href, '"') != NULL) {
        c->rc = c->rc < 0 ? c->rc : CW_EINVAL;
        return;
    }
    /* In its tree, libxml2 checked the declaration where it is; out of
     * it, the declaration is this. */
    if (c->out_of_tree && !href_absolute(href)) {
        c->rc = c->rc < 0 ? c->rc : CW_EINVAL;
        return;
    }
    puts_(c, (const char *)href);
    put(c, "\"", 1);
}

/* The comparators get pointers to the array's slots (const void *). */
static int ns_cmp(const void *a, const void *b)
{
    const xmlNs *x = *(const void *const *)a;
    const xmlNs *y = *(const void *const *)b;

    return str_cmp(x->prefix, y->prefix);
}

/* libxml2's attribute order, its inconsistencies included (two different
 * namespaces without a prefix each come first). */
static int attr_cmp(const void *a, const void *b)
{
    const xmlAttr *x = *(const void *const *)a;
    const xmlAttr *y = *(const void *const *)b;
    int r;

    if (x->ns == y->ns) {
        return str_cmp(x->name, y->name);
    }
    if (x->ns == NULL) {
        return -1;
    }
    if (y->ns == NULL) {
        return 1;
    }
    if (x->ns->prefix == NULL) {
        return -1;
    }
    if (y->ns->prefix == NULL) {
        return 1;
    }
    r = str_cmp(x->ns->href, y->ns->href);
    return r != 0 ? r : str_cmp(x->name, y->name);
}

/*
 * Inserts item where libxml2's sorted list (xmlListInsert) puts it: before
 * the first entry that does not compare below it. Ties therefore come out
 * last first, as in libxml2; only trees built with the tree API have them
 * (duplicate attributes, two bindings of one prefix on one element).
 */
static void
sorted_insert(const void **arr, size_t *n, const void *item, int (*cmp)(const void *, const void *))
{
    size_t i = 0;

    while (i < *n && cmp(&arr[i], &item) < 0) {
        i++;
    }
    memmove(&arr[i + 1], &arr[i], (*n - i) * sizeof(arr[0]));
    arr[i] = item;
    (*n)++;
}

/* The namespace axis of a visible element (see the rules above). */
static void namespaces(c14n_t *c, const xmlNode *elem)
{
    const void *list[C14N_ELEM_NS_MAX];
    size_t n = 0;
    const xmlNs *ns;
    const xmlAttr *a;
    int utilises_empty = 0;
    int has_empty = 0;

    if (elem->ns != NULL) {
        ns = elem->ns;
    } else {
        ns = xmlSearchNs(elem->doc, (xmlNode *)elem, NULL);
        utilises_empty = 1;
    }
    if (ns != NULL && !is_xml_ns(ns)) {
        if (!already_rendered(c, ns->prefix, ns->href)) {
            sorted_insert(list, &n, ns, ns_cmp);
        }
        push_rendered(c, ns);
        if (ns->prefix == NULL || ns->prefix[0] == '\0') {
            has_empty = 1;
        }
    }
    for (a = elem->properties; a != NULL && c->rc == 0; a = a->next) {
        if (a->ns != NULL && !is_xml_ns(a->ns)) {
            int done = already_rendered(c, a->ns->prefix, a->ns->href);

            push_rendered(c, a->ns);
            if (!done) {
                if (n == C14N_ELEM_NS_MAX) {
                    c->rc = CW_EINVAL;
                    return;
                }
                sorted_insert(list, &n, a->ns, ns_cmp);
            }
            if (a->ns->prefix == NULL || a->ns->prefix[0] == '\0') {
                has_empty = 1;
            }
        } else if (a->ns != NULL && nz(a->ns->prefix)[0] == '\0' && nz(a->ns->href)[0] == '\0') {
            utilises_empty = 1;
        }
    }
    if (utilises_empty && !has_empty && !already_rendered(c, NULL, NULL)) {
        /* Not remembered as rendered: libxml2 does not either (in a tree
         * of its own parsing, only an element in no namespace under a
         * default one comes here, and it has xmlns="" in scope). Written
         * out of its tree, the element is such a tree's: its descendants
         * find the xmlns="" it now has. */
        puts_(c, " xmlns=\"\"");
        if (c->out_of_tree) {
            static const xmlNs none = { .href = empty, .prefix = empty };

            push_rendered(c, &none);
        }
    }
    for (size_t i = 0; i < n; i++) {
        put_ns(c, list[i]);
    }
}

/* The attribute axis: every attribute, in order, escaped. */
static void attributes(c14n_t *c, const xmlNode *elem)
{
    const void *list[C14N_ATTRS_MAX];
    size_t n = 0;
    const xmlAttr *a;

    for (a = elem->properties; a != NULL; a = a->next) {
        if (n == C14N_ATTRS_MAX) {
            c->rc = c->rc < 0 ? c->rc : CW_EINVAL;
            return;
        }
        sorted_insert(list, &n, a, attr_cmp);
    }
    for (size_t i = 0; i < n && c->rc == 0; i++) {
        const xmlAttr *at = list[i];
        const xmlNode *t;

        put(c, " ", 1);
        put_qname(c, at->ns, at->name);
        put(c, "=\"", 2);
        for (t = at->children; t != NULL; t = t->next) {
            if (t->type != XML_TEXT_NODE) {
                /* An entity reference in a value: libxml2's case. */
                c->rc = c->rc < 0 ? c->rc : CW_EINVAL;
                return;
            }
            if (t->content != NULL) {
                put_escaped(c, t->content, ESC_ATTR);
            }
        }
        put(c, "\"", 1);
    }
}

static void node_list(c14n_t *c, const xmlNode *first, unsigned depth, int doc_level);

static void element(c14n_t *c, const xmlNode *elem, unsigned depth)
{
    size_t mark = c->n_rendered;

    if (depth > C14N_DEPTH_MAX || !ns_defs_absolute(elem)) {
        c->rc = c->rc < 0 ? c->rc : CW_EINVAL;
        return;
    }
    put(c, "<", 1);
    put_qname(c, elem->ns, elem->name);
    namespaces(c, elem);
    attributes(c, elem);
    put(c, ">", 1);
    node_list(c, elem->children, depth + 1, 0);
    put(c, "</", 2);
    put_qname(c, elem->ns, elem->name);
    put(c, ">", 1);
    c->n_rendered = mark;
}

static void node_list(c14n_t *c, const xmlNode *first, unsigned depth, int doc_level)
{
    const xmlNode *n;

    for (n = first; n != NULL && c->rc == 0; n = n->next) {
        if (n == c->skip) {
            /* Invisible, and so is all it holds (its namespace URIs are
             * checked at the end). */
            c->skip_at = c->out->len;
            continue;
        }
        switch (n->type) {
        case XML_ELEMENT_NODE:
            element(c, n, depth);
            if (doc_level) {
                c->after_root = 1;
            }
            break;
        case XML_TEXT_NODE:
        case XML_CDATA_SECTION_NODE:
            if (n->content != NULL) {
                put_escaped(c, n->content, ESC_TEXT);
            }
            break;
        case XML_PI_NODE:
            puts_(c, doc_level && c->after_root ? "\n<?" : "<?");
            puts_(c, (const char *)n->name);
            if (n->content != NULL && n->content[0] != '\0') {
                put(c, " ", 1);
                put_escaped(c, n->content, ESC_PI);
            }
            puts_(c, doc_level && !c->after_root ? "?>\n" : "?>");
            break;
        case XML_COMMENT_NODE:
        case XML_DTD_NODE:
        case XML_DOCUMENT_TYPE_NODE:
        case XML_NOTATION_NODE:
        case XML_ELEMENT_DECL:
        case XML_ATTRIBUTE_DECL:
        case XML_ENTITY_DECL:
        case XML_XINCLUDE_START:
        case XML_XINCLUDE_END:
            break;
        default:
            /* Entity references and the like: libxml2's to handle. */
            c->rc = CW_EINVAL;
            break;
        }
    }
}

/* Whether top hangs in its document (libxml2 walks from the document). */
static int linked(const xmlNode *top)
{
    const xmlNode *n;

    for (n = top; n != NULL; n = n->parent) {
        if (n == (const xmlNode *)top->doc) {
            return 1;
        }
    }
    return 0;
}

static c14n_t *c14n_new(cw_buf_t *out, const xmlNode *skip)
{
    c14n_t *c = cw_malloc(sizeof(*c));

    if (c != NULL) {
        c->out = out;
        c->skip = skip;
        c->n_rendered = 0;
        c->skip_at = SIZE_MAX;
        c->after_root = 0;
        c->mute = 0;
        c->out_of_tree = 0;
        c->rc = 0;
    }
    return c;
}

int cw_sec__exc_c14n_at(cw_buf_t *out, const xmlNode *top, const xmlNode *skip, size_t *skip_at)
{
    c14n_t *c;
    int rc;

    *skip_at = SIZE_MAX;
    /* Node sets of another shape are libxml2's. */
    if (top == NULL || top->doc == NULL || (skip != NULL && skip->type != XML_ELEMENT_NODE)
        || (top->type != XML_DOCUMENT_NODE && top->type != XML_ELEMENT_NODE) || top == skip
        || !linked(top)) {
        return CW_EINVAL;
    }
    c = c14n_new(out, skip);
    if (c == NULL) {
        return CW_ENOMEM;
    }
    if (top->type == XML_DOCUMENT_NODE) {
        node_list(c, top->children, 0, 1);
        /* skip's subtree is walked by libxml2 without being output. */
        if (c->rc == 0 && skip != NULL
            && (!ns_defs_absolute(skip) || !unwalked_ok(skip->children, 1))) {
            c->rc = CW_EINVAL;
        }
    } else if (!unwalked_ok(top->doc->children, 0)) {
        /* So is the rest of the document around the apex. */
        c->rc = CW_EINVAL;
    } else {
        element(c, top, 0);
    }
    rc = c->rc;
    if (rc == 0) {
        *skip_at = c->skip_at;
    }
    cw_free(c);
    return rc;
}

int cw_sec__exc_c14n(cw_buf_t *out, const xmlNode *top, const xmlNode *skip)
{
    size_t skip_at;

    return cw_sec__exc_c14n_at(out, top, skip, &skip_at);
}

int cw_sec__exc_c14n_in_doc(cw_buf_t *out, const xmlNode *elem)
{
    const xmlNode *chain[C14N_DEPTH_MAX];
    const xmlNode *n;
    size_t depth = 0;
    c14n_t *c;
    int rc;

    /* Not the root: a document without it writes the PIs after it as
     * if they came before (no line feed ahead of them). */
    if (elem == NULL || elem->type != XML_ELEMENT_NODE || elem->doc == NULL || !linked(elem)
        || elem->parent == NULL || elem->parent->type != XML_ELEMENT_NODE) {
        return CW_EINVAL;
    }
    for (n = elem->parent; n != NULL && n->type == XML_ELEMENT_NODE; n = n->parent) {
        if (depth == C14N_DEPTH_MAX) {
            return CW_EINVAL;
        }
        chain[depth++] = n;
    }
    c = c14n_new(out, NULL);
    if (c == NULL) {
        return CW_ENOMEM;
    }
    /*
     * The bindings the whole document's walk holds when it reaches elem:
     * each output ancestor's, outermost first, exactly as element() pushes
     * them (their output is not wanted, only what they leave rendered).
     */
    c->mute = 1;
    for (size_t i = depth; i-- > 0 && c->rc == 0;) {
        if (!ns_defs_absolute(chain[i])) {
            c->rc = CW_EINVAL;
            break;
        }
        namespaces(c, chain[i]);
    }
    c->mute = 0;
    if (c->rc == 0) {
        element(c, elem, (unsigned)depth);
    }
    rc = c->rc;
    cw_free(c);
    return rc;
}

/* ==== Writing a document directly in canonical form ==== */

int cw_sec_c14n_put_text(cw_buf_t *out, const char *s)
{
    return buf_escaped(out, s, ESC_TEXT);
}

int cw_sec_c14n_put_attr(cw_buf_t *out, const char *s)
{
    return buf_escaped(out, s, ESC_ATTR);
}

int cw_sec_c14n_put_leaf(cw_buf_t *out, const char *name, const char *text)
{
    int rc = 0;

    CW_TRY(cw_buf_put(out, "<", 1));
    CW_TRY(cw_buf_appends(out, name));
    CW_TRY(cw_buf_put(out, ">", 1));
    CW_TRY(buf_escaped(out, text, ESC_TEXT));
    CW_TRY(cw_buf_put(out, "</", 2));
    CW_TRY(cw_buf_appends(out, name));
    CW_TRY(cw_buf_put(out, ">", 1));
out:
    return rc;
}

int cw_sec_c14n_put_elem(cw_buf_t *out, const xmlNode *elem, const char *default_ns)
{
    c14n_t *c;
    int rc;

    if (elem == NULL || elem->type != XML_ELEMENT_NODE || elem->doc == NULL) {
        return CW_EINVAL;
    }
    c = c14n_new(out, NULL);
    if (c == NULL) {
        return CW_ENOMEM;
    }
    /* What the output ancestor above left rendered: its default namespace
     * only (the element's own ancestors in its document do not count; an
     * exclusive form renders what it uses). */
    if (default_ns != NULL && default_ns[0] != '\0') {
        c->rendered[0].prefix = empty;
        c->rendered[0].href = (const xmlChar *)default_ns;
        c->n_rendered = 1;
    }
    c->out_of_tree = 1;
    element(c, elem, 0);
    rc = c->rc;
    cw_free(c);
    return rc;
}
