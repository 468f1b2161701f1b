/*
 * Adapter instances, translation results, and the helpers every adapter
 * uses to build a canonical consignment.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "adapters.h"
#include "internal.h"

/* ==== Instances ==== */

/*
 * Messages are one line (adapters.h), but some quote the input or a
 * library's text, which may hold a newline ("invalid escape near '"\<LF>'"
 * from jansson, a quoted CSV value, libxml2's "...!\nBytes: 0xC0"): every
 * control character becomes a space.
 */
static void one_line(char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20u || *s == 0x7f) {
            *s = ' ';
        }
    }
}

const char *const cw_adapters__transport_modes[CW_ADAPTERS_TRANSPORT_MODES] = {
    "air", "road", "rail", "sea", "post",
};

static int dup_opt(char **out, const char *s)
{
    *out = NULL;
    if (s == NULL) {
        return 0;
    }
    *out = cw_strdup(s);
    return *out == NULL ? CW_ENOMEM : 0;
}

int cw_adapter_new(cw_adapter_t **out, const cw_adapter_conf_t *conf, cw_error_t *err)
{
    const struct cw_adapter_ops *ops;
    cw_adapter_t *a = NULL;
    int rc = 0;

    *out = NULL;
    ops = cw_adapters_registry_find(conf->name);
    if (ops == NULL) {
        return cw_error_set(err, CW_ENOENT, CW_ADAPTERS_MOD, "no adapter called '%s'",
                            conf->name != NULL ? conf->name : "(null)");
    }
    a = cw_calloc(1, sizeof(*a));
    CW_CHECK_ALLOC(a);
    a->ops = ops;
    a->limits = conf->limits;
    CW_TRY(dup_opt(&a->partner_id, conf->partner_id));
    CW_TRY(dup_opt(&a->catalog_path, conf->catalog_path));
    CW_TRY(dup_opt(&a->xslt_dir, conf->xslt_dir != NULL ? conf->xslt_dir : CW_ADAPTERS_XSL_DIR));
    CW_TRY(dup_opt(&a->xslt_in, conf->xslt_in));
    CW_TRY(dup_opt(&a->xslt_out, conf->xslt_out));
    if (conf->transport_mode != NULL) {
        const char *const *modes = cw_adapters__transport_modes;
        size_t i = 0;

        while (i < CW_ADAPTERS_TRANSPORT_MODES && strcmp(conf->transport_mode, modes[i]) != 0) {
            i++;
        }
        if (i == CW_ADAPTERS_TRANSPORT_MODES) {
            rc = cw_error_set(err, CW_EINVAL, CW_ADAPTERS_MOD,
                              "transport mode '%.16s' is not air, road, rail, sea or post",
                              conf->transport_mode);
            goto out;
        }
        CW_TRY(dup_opt(&a->transport_mode, modes[i]));
    }
    if (ops->init != NULL) {
        CW_TRY(ops->init(a, err));
    }
    *out = a;
    a = NULL;
out:
    if (rc == CW_ENOMEM && (err == NULL || err->code == 0)) {
        (void)cw_error_set(err, rc, CW_ADAPTERS_MOD, "out of memory creating adapter");
    }
    cw_adapter_free(a);
    return rc;
}

void cw_adapter_free(cw_adapter_t *adapter)
{
    if (adapter == NULL) {
        return;
    }
    if (adapter->ops->destroy != NULL && adapter->state != NULL) {
        adapter->ops->destroy(adapter);
    }
    cw_free(adapter->partner_id);
    cw_free(adapter->catalog_path);
    cw_free(adapter->xslt_dir);
    cw_free(adapter->xslt_in);
    cw_free(adapter->xslt_out);
    cw_free(adapter->transport_mode);
    cw_free(adapter);
}

const char *cw_adapter_name(const cw_adapter_t *adapter)
{
    return adapter->ops->name;
}

int cw_adapter_can_in(const cw_adapter_t *adapter)
{
    return adapter->ops->translate_in != NULL;
}

int cw_adapter_can_out(const cw_adapter_t *adapter)
{
    return adapter->ops->translate_out != NULL;
}

int cw_adapter_translate_in(const cw_adapter_t *adapter,
                            const char *bytes,
                            size_t len,
                            const char *media_type,
                            cw_adapter_result_t *out,
                            cw_error_t *err)
{
    int rc;

    if (adapter->ops->translate_in == NULL) {
        return cw_error_set(err, CW_EINVAL, CW_ADAPTERS_MOD, "adapter '%s' has no input side",
                            adapter->ops->name);
    }
    if (len > adapter->limits.input_bytes_max) {
        return cw_error_set(err, CW_E2BIG, CW_ADAPTERS_MOD,
                            "input is %zu bytes, more than the limit of %zu", len,
                            adapter->limits.input_bytes_max);
    }
    out->errors_max = adapter->limits.errors_max;
    out->transport_mode = adapter->transport_mode;
    rc = adapter->ops->translate_in(adapter, bytes, len, media_type, out, err);
    if (rc < 0) {
        /* A whole-input failure yields no documents (adapters.h). */
        cw_adapters__result_clear(out);
        if (err != NULL) {
            one_line(err->msg);
        }
    }
    return rc;
}

int cw_adapter_translate_out(const cw_adapter_t *adapter,
                             const xmlDoc *canonical,
                             char **out,
                             size_t *len_out,
                             const char **media_type_out,
                             cw_error_t *err)
{
    xmlNode *root;
    int rc;

    *out = NULL;
    *len_out = 0;
    if (adapter->ops->translate_out == NULL) {
        return cw_error_set(err, CW_EINVAL, CW_ADAPTERS_MOD, "adapter '%s' has no output side",
                            adapter->ops->name);
    }
    root = canonical != NULL ? xmlDocGetRootElement(canonical) : NULL;
    if (root == NULL || root->ns == NULL
        || strcmp((const char *)root->ns->href, CW_ADAPTER_CANONICAL_NS) != 0
        || strcmp((const char *)root->name, "Consignment") != 0) {
        return cw_error_set(err, CW_EINVAL, CW_ADAPTERS_MOD, "not a canonical {%s}Consignment",
                            CW_ADAPTER_CANONICAL_NS);
    }
    rc = adapter->ops->translate_out(adapter, canonical, out, len_out, media_type_out, err);
    if (rc < 0 && err != NULL) {
        one_line(err->msg);
    }
    return rc;
}

/* ==== Results ==== */

void cw_adapter_result_init(cw_adapter_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->errors_max = CW_ADAPTER_ERRORS_DEFAULT;
}

void cw_adapters__result_clear(cw_adapter_result_t *r)
{
    size_t errors_max = r->errors_max;
    cw_adapter_doc_cb on_doc = r->on_doc;
    void *arg = r->arg;
    const char *transport_mode = r->transport_mode;

    cw_adapter_result_fini(r);
    cw_adapter_result_init(r);
    r->errors_max = errors_max;
    r->transport_mode = transport_mode;
    r->on_doc = on_doc;
    r->arg = arg;
}

void cw_adapter_result_fini(cw_adapter_result_t *r)
{
    size_t i;

    for (i = 0; i < r->doc_count; i++) {
        if (r->docs[i].doc != NULL) {
            xmlFreeDoc(r->docs[i].doc);
        }
    }
    cw_free(r->docs);
    cw_free(r->errors);
    memset(r, 0, sizeof(*r));
}

xmlDoc *cw_adapter_result_take(cw_adapter_result_t *r, size_t i)
{
    xmlDoc *doc;

    if (i >= r->doc_count) {
        return NULL;
    }
    doc = r->docs[i].doc;
    r->docs[i].doc = NULL;
    return doc;
}

/*
 * The instance's transport mode, for a consignment that names none: after
 * DestinationCountry, where the schema has it (both in the root's
 * namespace). A document without DestinationCountry is left as it is
 * (validation refuses it anyway).
 */
static int default_mode(xmlDoc *doc, const char *mode)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *n;
    xmlNode *dest = NULL;
    xmlNode *el;

    if (root == NULL || root->ns == NULL) {
        return 0;
    }
    for (n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE || n->ns == NULL
            || !xmlStrEqual(n->ns->href, root->ns->href)) {
            continue;
        }
        if (xmlStrEqual(n->name, BAD_CAST "TransportMode")) {
            return 0;
        }
        if (xmlStrEqual(n->name, BAD_CAST "DestinationCountry")) {
            dest = n;
        }
    }
    if (dest == NULL) {
        return 0;
    }
    el = xmlNewDocNode(doc, root->ns, BAD_CAST "TransportMode", BAD_CAST mode);
    if (el == NULL || el->children == NULL) {
        /* libxml2 out of memory: no element, or one without its text. */
        xmlFreeNode(el);
        return CW_ENOMEM;
    }
    if (xmlAddNextSibling(dest, el) == NULL) {
        xmlFreeNode(el);
        return CW_ENOMEM;
    }
    return 0;
}

int cw_adapters__result_add_doc(cw_adapter_result_t *r, xmlDoc *doc, size_t item, size_t line)
{
    cw_adapter_doc_t *grown;
    size_t cap;

    if (r->transport_mode != NULL && default_mode(doc, r->transport_mode) < 0) {
        xmlFreeDoc(doc);
        return CW_ENOMEM;
    }
    if (r->on_doc != NULL) {
        return r->on_doc(doc, item, line, r->arg);
    }
    if (r->doc_count == r->doc_cap) {
        cap = r->doc_cap == 0 ? 16 : r->doc_cap * 2;
        grown = cw_realloc(r->docs, cap * sizeof(*grown));
        if (grown == NULL) {
            xmlFreeDoc(doc);
            return CW_ENOMEM;
        }
        r->docs = grown;
        r->doc_cap = cap;
    }
    r->docs[r->doc_count].doc = doc;
    r->docs[r->doc_count].item = item;
    r->docs[r->doc_count].line = line;
    r->doc_count++;
    return 0;
}

int cw_adapters__result_add_error(
    cw_adapter_result_t *r, size_t item, size_t line, const char *field, const char *fmt, ...)
{
    cw_adapter_item_error_t *e, *grown;
    size_t cap;
    va_list ap;

    if (r->error_count >= r->errors_max) {
        r->errors_dropped++;
        return 0;
    }
    if (r->error_count == r->error_cap) {
        cap = r->error_cap == 0 ? 8 : r->error_cap * 2;
        grown = cw_realloc(r->errors, cap * sizeof(*grown));
        if (grown == NULL) {
            return CW_ENOMEM;
        }
        r->errors = grown;
        r->error_cap = cap;
    }
    e = &r->errors[r->error_count++];
    e->item = item;
    e->line = line;
    (void)cw_strlcpy(e->field, field != NULL ? field : "", sizeof(e->field));
    va_start(ap, fmt);
    (void)vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    one_line(e->field);
    one_line(e->msg);
    return 0;
}

/* ==== Canonical document helpers ==== */

int cw_adapters__doc_new(xmlDoc **out, xmlNode **root_out)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    xmlNs *ns;
    int rc = 0;

    *out = NULL;
    *root_out = NULL;
    doc = xmlNewDoc(BAD_CAST "1.0");
    CW_CHECK_ALLOC(doc);
    root = xmlNewDocNode(doc, NULL, BAD_CAST "Consignment", NULL);
    CW_CHECK_ALLOC(root);
    (void)xmlDocSetRootElement(doc, root);
    ns = xmlNewNs(root, BAD_CAST CW_ADAPTER_CANONICAL_NS, NULL);
    CW_CHECK_ALLOC(ns);
    xmlSetNs(root, ns);
    *out = doc;
    *root_out = root;
    doc = NULL;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

xmlNode *cw_adapters__el(xmlNode *parent, const char *name)
{
    return xmlNewChild(parent, NULL, BAD_CAST name, NULL);
}

int cw_adapters__text(xmlNode *parent, const char *name, const char *value, xmlNode **out)
{
    const char *end;
    char *copy;
    xmlNode *el;

    if (out != NULL) {
        *out = NULL;
    }
    if (value == NULL) {
        return 0;
    }
    while (*value != '\0' && isspace((unsigned char)*value)) {
        value++;
    }
    end = value + strlen(value);
    while (end > value && isspace((unsigned char)end[-1])) {
        end--;
    }
    if (end == value) {
        return 0;
    }
    copy = cw_strndup(value, (size_t)(end - value));
    if (copy == NULL) {
        return CW_ENOMEM;
    }
    el = xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST copy);
    cw_free(copy);
    if (el == NULL) {
        return CW_ENOMEM;
    }
    if (out != NULL) {
        *out = el;
    }
    return 0;
}

int cw_adapters__decimal_parse(const char *s, int frac_max, int allow_neg, int64_t *out)
{
    int64_t v = 0;
    int neg = 0, frac = 0, digits = 0, seen_dot = 0;

    *out = 0;
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (*s == '-' || *s == '+') {
        if (*s == '-' && !allow_neg) {
            return CW_EPARSE;
        }
        neg = *s == '-';
        s++;
    }
    for (; *s != '\0' && *s != ' ' && *s != '\t'; s++) {
        if (*s == '.' && !seen_dot) {
            seen_dot = 1;
            continue;
        }
        if (*s < '0' || *s > '9') {
            return CW_EPARSE;
        }
        if (seen_dot && ++frac > frac_max) {
            return CW_EPARSE;
        }
        if (v > (INT64_MAX - 9) / 10) {
            return CW_EPARSE;
        }
        v = v * 10 + (*s - '0');
        digits++;
    }
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (*s != '\0' || digits == 0) {
        return CW_EPARSE;
    }
    /* Scaled to 1e-4 units, the value must still fit ("922337203685479" does not). */
    for (; frac < 4; frac++) {
        if (v > INT64_MAX / 10) {
            return CW_EPARSE;
        }
        v *= 10;
    }
    *out = neg ? -v : v;
    return 0;
}

void cw_adapters__decimal_format(char *out, size_t size, int64_t v, int min_frac)
{
    char frac[8];
    uint64_t a = v < 0 ? (uint64_t)(-(v + 1)) + 1u : (uint64_t)v;
    int n = 4;

    (void)snprintf(frac, sizeof(frac), "%04" PRIu64, a % 10000u);
    while (n > min_frac && frac[n - 1] == '0') {
        n--;
    }
    frac[n] = '\0';
    (void)snprintf(out, size, "%s%" PRIu64 "%s%s", v < 0 ? "-" : "", a / 10000u, n > 0 ? "." : "",
                   frac);
}

void cw_adapters__hs_normalize(char *out, size_t size, const char *in)
{
    size_t n = 0;

    if (size == 0) {
        return;
    }
    for (; in != NULL && *in != '\0' && n + 1 < size; in++) {
        if (*in >= '0' && *in <= '9') {
            out[n++] = *in;
        }
    }
    out[n] = '\0';
}

void cw_adapters__country_normalize(char *out, size_t size, const char *in)
{
    const char *s = in;
    char c[2];

    if (size < 3) {
        if (size > 0) {
            out[0] = '\0';
        }
        return;
    }
    out[0] = '\0';
    if (s == NULL) {
        return;
    }
    while (*s == ' ') {
        s++;
    }
    if (!isalpha((unsigned char)s[0]) || !isalpha((unsigned char)s[1])) {
        return;
    }
    c[0] = (char)toupper((unsigned char)s[0]);
    c[1] = (char)toupper((unsigned char)s[1]);
    s += 2;
    while (*s == ' ') {
        s++;
    }
    if (*s != '\0') {
        return;
    }
    out[0] = c[0];
    out[1] = c[1];
    out[2] = '\0';
}

int cw_adapters__xml_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t c;
    int n, i;

    while (*p != '\0') {
        if (*p < 0x80) {
            if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') {
                return 0;
            }
            p++;
            continue;
        }
        if (*p >= 0xC2 && *p <= 0xDF) {
            n = 1;
            c = *p & 0x1Fu;
        } else if (*p >= 0xE0 && *p <= 0xEF) {
            n = 2;
            c = *p & 0x0Fu;
        } else if (*p >= 0xF0 && *p <= 0xF4) {
            n = 3;
            c = *p & 0x07u;
        } else {
            return 0;
        }
        /* A NUL fails the continuation test, so nothing past it is read. */
        for (i = 1; i <= n; i++) {
            if ((p[i] & 0xC0u) != 0x80u) {
                return 0;
            }
            c = (c << 6) | (p[i] & 0x3Fu);
        }
        if ((n == 2 && c < 0x800u) || (n == 3 && (c < 0x10000u || c > 0x10FFFFu))
            || (c >= 0xD800u && c <= 0xDFFFu) || c == 0xFFFEu || c == 0xFFFFu) {
            return 0;
        }
        p += n + 1;
    }
    return 1;
}

void cw_adapters__utf8_trim(char *s)
{
    size_t len = strlen(s), start = len, need;
    unsigned char lead;

    /* Back over at most three continuation bytes to the sequence's lead. */
    while (start > 0 && len - start < 3 && ((unsigned char)s[start - 1] & 0xC0u) == 0x80u) {
        start--;
    }
    if (start == 0) {
        return;
    }
    lead = (unsigned char)s[start - 1];
    need = lead >= 0xF0u ? 4 : lead >= 0xE0u ? 3 : lead >= 0xC0u ? 2 : 1;
    if (lead >= 0xC0u && len - (start - 1) < need) {
        s[start - 1] = '\0';
    }
}
