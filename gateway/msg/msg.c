/*
 * The envelope model: header reading, envelope building, ids and times.
 */
#include "msg.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

/* ==== Reading ==== */

typedef struct field {
    const char *name;
    size_t offset; /* into cw_msg_header_t */
    size_t size;
    int required;
} field_t;

/* schemas/envelope.xsd Header, in order. */
static const field_t fields[] = {
    { "MessageId", offsetof(cw_msg_header_t, message_id), CW_MSG_ID_MAX, 1 },
    { "ConversationId", offsetof(cw_msg_header_t, conversation_id), CW_MSG_ID_MAX, 1 },
    { "RefToMessageId", offsetof(cw_msg_header_t, ref_to_message_id), CW_MSG_ID_MAX, 0 },
    { "From", offsetof(cw_msg_header_t, from), CW_MSG_ID_MAX, 1 },
    { "To", offsetof(cw_msg_header_t, to), CW_MSG_ID_MAX, 1 },
    { "OriginalSender", offsetof(cw_msg_header_t, original_sender), CW_MSG_ID_MAX, 0 },
    { "Service", offsetof(cw_msg_header_t, service), CW_MSG_NAME_MAX, 1 },
    { "Action", offsetof(cw_msg_header_t, action), CW_MSG_NAME_MAX, 1 },
    { "Timestamp", offsetof(cw_msg_header_t, timestamp), CW_MSG_ID_MAX, 1 },
};

static int is_elem(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL
           && xmlStrEqual(n->ns->href, (const xmlChar *)CW_MSG_NS)
           && xmlStrEqual(n->name, (const xmlChar *)name);
}

static xmlNode *next_elem(xmlNode *n)
{
    while (n != NULL && n->type != XML_ELEMENT_NODE) {
        n = n->next;
    }
    return n;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The full text of a leaf: every text and CDATA child joined, so that
 * "<From>al<!-- -->ice</From>" reads "alice" (xmlNodeGetContent would join
 * them too, but would also take the text of child elements, which a header
 * field must not have). Trimmed like xs:token.
 */
static int leaf_text(char *out, size_t size, const xmlNode *elem)
{
    const xmlNode *n;
    size_t len = 0;
    size_t part;
    size_t start = 0;

    out[0] = '\0';
    for (n = elem->children; n != NULL; n = n->next) {
        if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE) {
            continue;
        }
        if (n->type != XML_TEXT_NODE && n->type != XML_CDATA_SECTION_NODE) {
            return CW_EPROTO;
        }
        part = n->content != NULL ? strlen((const char *)n->content) : 0;
        if (len + part >= size) {
            return CW_EPROTO;
        }
        memcpy(out + len, n->content, part);
        len += part;
        out[len] = '\0';
    }
    while (len > 0 && is_space(out[len - 1])) {
        out[--len] = '\0';
    }
    while (start < len && is_space(out[start])) {
        start++;
    }
    memmove(out, out + start, len - start + 1);
    return 0;
}

int cw_msg_is_envelope(const xmlDoc *doc)
{
    return is_elem(xmlDocGetRootElement(doc), "Envelope");
}

int cw_msg_header_read(cw_msg_header_t *out, const xmlDoc *doc, cw_error_t *err)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *header = root != NULL ? next_elem(root->children) : NULL;
    xmlNode *n;
    size_t i;
    char *dst;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (!is_elem(root, "Envelope") || !is_elem(header, "Header")) {
        rc = cw_error_set(err, CW_EPROTO, "msg", "not an envelope with a Header");
        goto out;
    }
    n = next_elem(header->children);
    for (i = 0; i < CW_ARRAY_SIZE(fields); i++) {
        dst = (char *)out + fields[i].offset;
        if (!is_elem(n, fields[i].name)) {
            if (fields[i].required) {
                rc = cw_error_set(err, CW_EPROTO, "msg", "Header/%s missing", fields[i].name);
                goto out;
            }
            continue;
        }
        if (leaf_text(dst, fields[i].size, n) < 0) {
            rc = cw_error_set(err, CW_EPROTO, "msg", "Header/%s is not plain text or too long",
                              fields[i].name);
            goto out;
        }
        if (fields[i].required && dst[0] == '\0') {
            rc = cw_error_set(err, CW_EPROTO, "msg", "Header/%s is empty", fields[i].name);
            goto out;
        }
        n = next_elem(n->next);
    }
    if (n != NULL) {
        rc = cw_error_set(err, CW_EPROTO, "msg", "unexpected Header/%s", (const char *)n->name);
        goto out;
    }
out:
    return rc;
}

xmlNode *cw_msg_business_doc(const xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *n = root != NULL ? next_elem(root->children) : NULL;

    n = n != NULL ? next_elem(n->next) : NULL;
    if (!is_elem(n, "Payload")) {
        return NULL;
    }
    return next_elem(n->children);
}

/* ==== Building ==== */

int cw_msg_header_field(const cw_msg_header_t *hdr, size_t i, const char **name, const char **value)
{
    if (i >= CW_ARRAY_SIZE(fields)) {
        return 0;
    }
    *name = fields[i].name;
    *value = (const char *)hdr + fields[i].offset;
    return 1;
}

int cw_msg_header_check(const cw_msg_header_t *hdr, cw_error_t *err)
{
    for (size_t i = 0; i < CW_ARRAY_SIZE(fields); i++) {
        if (fields[i].required && ((const char *)hdr + fields[i].offset)[0] == '\0') {
            return cw_error_set(err, CW_EINVAL, "msg", "Header/%s is required", fields[i].name);
        }
    }
    return 0;
}

int cw_msg_envelope_new(xmlDoc **out,
                        const cw_msg_header_t *hdr,
                        const xmlNode *business_doc,
                        cw_error_t *err)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    xmlNode *header;
    xmlNode *payload;
    xmlNode *copy;
    xmlNs *ns;
    const char *value;
    size_t i;
    int rc = 0;

    *out = NULL;
    doc = xmlNewDoc((const xmlChar *)"1.0");
    CW_CHECK_ALLOC(doc);
    root = xmlNewDocNode(doc, NULL, (const xmlChar *)"Envelope", NULL);
    CW_CHECK_ALLOC(root);
    (void)xmlDocSetRootElement(doc, root);
    ns = xmlNewNs(root, (const xmlChar *)CW_MSG_NS, NULL);
    CW_CHECK_ALLOC(ns);
    xmlSetNs(root, ns);
    header = xmlNewChild(root, ns, (const xmlChar *)"Header", NULL);
    CW_CHECK_ALLOC(header);
    CW_TRY(cw_msg_header_check(hdr, err));
    for (i = 0; i < CW_ARRAY_SIZE(fields); i++) {
        value = (const char *)hdr + fields[i].offset;
        if (value[0] == '\0') {
            continue;
        }
        /* xmlNewTextChild escapes the value. */
        if (xmlNewTextChild(header, ns, (const xmlChar *)fields[i].name, (const xmlChar *)value)
            == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
    }
    payload = xmlNewChild(root, ns, (const xmlChar *)"Payload", NULL);
    CW_CHECK_ALLOC(payload);
    copy = xmlDocCopyNode((xmlNode *)business_doc, doc, 1);
    CW_CHECK_ALLOC(copy);
    if (xmlAddChild(payload, copy) == NULL) {
        xmlFreeNode(copy);
        rc = CW_ENOMEM;
        goto out;
    }
    /* Namespaces declared above the copied element move onto the copy. */
    if (xmlReconciliateNs(doc, copy) < 0) {
        rc = cw_error_set(err, CW_EINVAL, "msg", "cannot reconcile payload namespaces");
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

/* ==== Ids and time ==== */

int cw_msg_id_new(char *out, size_t size)
{
    unsigned char b[16];

    if (size < CW_UUID_SIZE || RAND_bytes(b, (int)sizeof(b)) != 1) {
        return CW_ECRYPTO;
    }
    cw_uuid4_format(out, b);
    return 0;
}

void cw_msg_timestamp_format(char *out, size_t size, int64_t t)
{
    cw_time_format_utc(out, size, t);
}
