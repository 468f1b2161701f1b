/*
 * The forwarded envelope: a node that passes a message on wraps it in a new
 * envelope of its own (From = this node), and carries the bytes it received
 * as Evidence, so the next hop can still check the original sender's
 * signature although nobody's signature was broken by re-wrapping
 * (DESIGN.md, "Hop by hop").
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <string.h>

#include "msg.h"

#define EVIDENCE_MEDIA_TYPE "application/xml"

/* SHA-256 fetched from OpenSSL's providers once: SHA256() fetches it on
 * every call. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static int is_env_elem(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL
           && strcmp((const char *)n->ns->href, CW_MSG_NS) == 0
           && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *payload_of(const xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *n;

    if (root == NULL) {
        return NULL;
    }
    for (n = root->children; n != NULL; n = n->next) {
        if (is_env_elem(n, "Payload")) {
            return n;
        }
    }
    return NULL;
}

/* Adds <name>text</name> in the envelope namespace under parent. */
static int add_text(xmlNode *parent, xmlNs *ns, const char *name, const char *text)
{
    return xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text) != NULL
               ? 0
               : CW_ENOMEM;
}

/* The hex SHA-256 and the base64 content of the Evidence. */
static int evidence_make(cw_msg_forward_parts_t *parts, const cw_msg_forward_params_t *params)
{
    const char *bytes = params->received;
    size_t len = bytes != NULL ? params->received_len : 0;
    static const char hex[] = "0123456789abcdef";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    size_t i;

    if (len > (size_t)INT32_MAX / 2) {
        return CW_E2BIG;
    }
    if (params->evidence_sha256 != NULL) {
        memcpy(digest, params->evidence_sha256, sizeof(digest));
    } else {
        (void)pthread_once(&sha256_once, sha256_fetch);
        if (EVP_Digest(bytes != NULL ? bytes : "", len, digest, NULL,
                       sha256_md != NULL ? sha256_md : EVP_sha256(), NULL)
            != 1) {
            return CW_ECRYPTO;
        }
    }
    for (i = 0; i < sizeof(digest); i++) {
        parts->sha256_hex[2 * i] = hex[digest[i] >> 4];
        parts->sha256_hex[2 * i + 1] = hex[digest[i] & 0xf];
    }
    parts->sha256_hex[sizeof(parts->sha256_hex) - 1] = '\0';
    parts->content_b64 = cw_malloc(4 * ((len + 2) / 3) + 1);
    if (parts->content_b64 == NULL) {
        return CW_ENOMEM;
    }
    parts->content_b64[0] = '\0';
    if (len > 0) {
        (void)EVP_EncodeBlock((unsigned char *)parts->content_b64, (const unsigned char *)bytes,
                              (int)len);
    }
    return 0;
}

int cw_msg_forward_parts_init(cw_msg_forward_parts_t *parts,
                              const xmlDoc *received,
                              const cw_msg_header_t *in_hdr,
                              const cw_msg_forward_params_t *params,
                              cw_error_t *err)
{
    cw_msg_header_t *hdr = &parts->hdr;
    int rc = 0;

    memset(parts, 0, sizeof(*parts));
    parts->business = cw_msg_business_doc(received);
    parts->in_payload = payload_of(received);
    if (parts->business == NULL || parts->in_payload == NULL) {
        return cw_error_set(err, CW_EINVAL, "msg", "the envelope has no business document");
    }
    *hdr = *in_hdr;
    if (params->message_id != NULL) {
        cw_strlcpy(hdr->message_id, params->message_id, sizeof(hdr->message_id));
    } else {
        CW_TRY(cw_msg_id_new(hdr->message_id, sizeof(hdr->message_id)));
    }
    cw_strlcpy(hdr->from, params->node_id, sizeof(hdr->from));
    cw_strlcpy(hdr->to, params->to, sizeof(hdr->to));
    /* The party the data came from survives every hop. */
    if (in_hdr->original_sender[0] == '\0') {
        cw_strlcpy(hdr->original_sender, in_hdr->from, sizeof(hdr->original_sender));
    }
    cw_msg_timestamp_format(hdr->timestamp, sizeof(hdr->timestamp), params->now_s);
    CW_TRY(cw_msg_header_check(hdr, err));
    parts->node_id = params->node_id;
    parts->assessment = params->assessment;
    parts->original_id =
        params->evidence_original_id != NULL ? params->evidence_original_id : in_hdr->message_id;
    parts->original_sender = in_hdr->from;
    parts->media_type =
        params->evidence_media_type != NULL ? params->evidence_media_type : EVIDENCE_MEDIA_TYPE;
    CW_TRY(evidence_make(parts, params));
out:
    if (rc < 0) {
        cw_msg_forward_parts_fini(parts);
        if (err != NULL && err->code == 0) {
            (void)cw_error_set(err, rc, "msg", "cannot build the forwarded envelope: %s",
                               cw_strerror(rc));
        }
    }
    return rc;
}

void cw_msg_forward_parts_fini(cw_msg_forward_parts_t *parts)
{
    cw_free(parts->content_b64);
    parts->content_b64 = NULL;
}

int cw_msg_is_assessment(const xmlNode *n)
{
    return is_env_elem(n, "Assessment");
}

static int add_evidence(xmlNode *payload, const cw_msg_forward_parts_t *parts)
{
    xmlNode *ev;
    int rc = 0;

    ev = xmlNewChild(payload, payload->ns, (const xmlChar *)"Evidence", NULL);
    CW_CHECK_ALLOC(ev);
    CW_TRY(add_text(ev, payload->ns, "OriginalMessageId", parts->original_id));
    CW_TRY(add_text(ev, payload->ns, "OriginalSender", parts->original_sender));
    CW_TRY(add_text(ev, payload->ns, "MediaType", parts->media_type));
    CW_TRY(add_text(ev, payload->ns, "Sha256", parts->sha256_hex));
    CW_TRY(add_text(ev, payload->ns, "Content", parts->content_b64));
out:
    return rc;
}

int cw_msg_forward_new(xmlDoc **out,
                       const xmlDoc *received,
                       const cw_msg_header_t *in_hdr,
                       const cw_msg_forward_params_t *params,
                       cw_error_t *err)
{
    cw_msg_forward_parts_t parts;
    xmlNode *payload;
    xmlNode *n;
    xmlDoc *doc = NULL;
    int rc = 0;

    *out = NULL;
    CW_TRY(cw_msg_forward_parts_init(&parts, received, in_hdr, params, err));
    CW_TRY(cw_msg_envelope_new(&doc, &parts.hdr, parts.business, err));
    payload = payload_of(doc);
    if (CW_NEVER(payload == NULL)) {
        rc = CW_EINTERNAL;
        goto out;
    }
    /* Earlier nodes' assessments travel on. Earlier Evidence does not need
     * copying: it is inside the envelope carried as evidence below. */
    for (n = parts.in_payload->children; n != NULL; n = n->next) {
        xmlNode *copy;

        if (!is_env_elem(n, "Assessment")) {
            continue;
        }
        copy = xmlDocCopyNode(n, doc, 1);
        CW_CHECK_ALLOC(copy);
        if (xmlAddChild(payload, copy) == NULL) {
            xmlFreeNode(copy);
            rc = CW_ENOMEM;
            goto out;
        }
        (void)xmlReconciliateNs(doc, copy);
    }
    if (parts.assessment != NULL) {
        xmlNode *wrap = xmlNewChild(payload, payload->ns, (const xmlChar *)"Assessment", NULL);
        xmlNode *copy;

        CW_CHECK_ALLOC(wrap);
        if (xmlNewProp(wrap, (const xmlChar *)"node", (const xmlChar *)parts.node_id) == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        copy = xmlDocCopyNode((xmlNode *)parts.assessment, doc, 1);
        CW_CHECK_ALLOC(copy);
        if (xmlAddChild(wrap, copy) == NULL) {
            xmlFreeNode(copy);
            rc = CW_ENOMEM;
            goto out;
        }
        (void)xmlReconciliateNs(doc, copy);
    }
    CW_TRY(add_evidence(payload, &parts));
    *out = doc;
    doc = NULL;
out:
    cw_msg_forward_parts_fini(&parts);
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    if (rc < 0 && err != NULL && err->code == 0) {
        (void)cw_error_set(err, rc, "msg", "cannot build the forwarded envelope: %s",
                           cw_strerror(rc));
    }
    return rc;
}
