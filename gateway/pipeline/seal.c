/*
 * The seal: the envelope this node forwards an accepted message in, signed
 * with its key (DESIGN.md, "Hop by hop").
 *
 * It is a document of a fixed shape: a Header of plain fields, the
 * business document and the assessments as received or made, and the
 * Evidence, text. Building it as a tree (cw_msg_forward_new) copied the
 * business document node by node, walked the whole tree to canonicalise
 * it for the signature and freed it again: with its signature, a sixth of
 * the daemon's CPU per message in the benchmark (bench/README.md). cw_pipeline__seal_write
 * writes the same document straight in the exclusive canonical form that
 * is signed and sent: the fields and the Evidence as escaped text, the
 * business document and the assessments by c14n.c from the trees they are
 * already in, as they come out under the envelope's default namespace.
 *
 * The tree stays the reference: tests/unit/pipeline/test_seal.c holds the two
 * ways to the same bytes on every document of the test data, and whatever
 * c14n.c leaves to libxml2 is sealed as a tree (cw_pipeline__seal). Where
 * libxml2's copy of a subtree renames a prefix (xmlReconciliateNs takes the
 * first declaration of a URI in scope), the written form keeps the
 * sender's, and a payload in no namespace under an envelope that binds its
 * namespace to a prefix stays in none (the copy moved it into the
 * envelope's). Either way the bytes sent are what was signed.
 */
#include <string.h>

#include "internal.h"

/* The largest sealed envelope this writes (cw_sec_doc_sign_c14n's bound). */
#define SEAL_MAX ((size_t)INT32_MAX)

/* The envelope without its Signature; *sig_at: where the Signature goes,
 * *content_at: where the Evidence's Content text begins. */
static int
write_unsigned(cw_buf_t *b, const cw_msg_forward_parts_t *parts, size_t *sig_at, size_t *content_at)
{
    const char *name;
    const char *value;
    const xmlNode *n;
    int rc = 0;

    /* The Evidence is most of it. */
    CW_TRY(cw_buf_reserve(b, strlen(parts->content_b64) + 4096));
    CW_TRY(cw_buf_appends(b, "<Envelope xmlns=\"" CW_MSG_NS "\"><Header>"));
    for (size_t i = 0; cw_msg_header_field(&parts->hdr, i, &name, &value); i++) {
        if (value[0] != '\0') {
            CW_TRY(cw_sec_c14n_put_leaf(b, name, value));
        }
    }
    CW_TRY(cw_buf_appends(b, "</Header><Payload>"));
    CW_TRY(cw_sec_c14n_put_elem(b, parts->business, CW_MSG_NS));
    /* Earlier nodes' assessments travel on, as cw_msg_forward_new copies them. */
    for (n = parts->in_payload->children; n != NULL; n = n->next) {
        if (cw_msg_is_assessment(n)) {
            CW_TRY(cw_sec_c14n_put_elem(b, n, CW_MSG_NS));
        }
    }
    if (parts->assessment != NULL) {
        CW_TRY(cw_buf_appends(b, "<Assessment node=\""));
        CW_TRY(cw_sec_c14n_put_attr(b, parts->node_id));
        CW_TRY(cw_buf_appends(b, "\">"));
        CW_TRY(cw_sec_c14n_put_elem(b, parts->assessment, CW_MSG_NS));
        CW_TRY(cw_buf_appends(b, "</Assessment>"));
    }
    CW_TRY(cw_buf_appends(b, "<Evidence>"));
    CW_TRY(cw_sec_c14n_put_leaf(b, "OriginalMessageId", parts->original_id));
    CW_TRY(cw_sec_c14n_put_leaf(b, "OriginalSender", parts->original_sender));
    CW_TRY(cw_sec_c14n_put_leaf(b, "MediaType", parts->media_type));
    CW_TRY(cw_sec_c14n_put_leaf(b, "Sha256", parts->sha256_hex));
    /* Base64 needs no escaping: the text is written as it is. */
    *content_at = b->len + sizeof("<Content>") - 1;
    CW_TRY(cw_sec_c14n_put_leaf(b, "Content", parts->content_b64));
    CW_TRY(cw_buf_appends(b, "</Evidence></Payload>"));
    *sig_at = b->len;
    CW_TRY(cw_buf_appends(b, "</Envelope>"));
out:
    return rc;
}

int cw_pipeline__seal_write(const cw_sec_keys_t *keys,
                            const xmlDoc *received,
                            const cw_msg_header_t *in_hdr,
                            const cw_msg_forward_params_t *params,
                            char **out,
                            size_t *out_len,
                            char id[CW_MSG_ID_MAX],
                            unsigned char digest[32],
                            size_t *evidence_at,
                            cw_error_t *err)
{
    cw_msg_forward_parts_t parts;
    cw_buf_t doc;
    size_t sig_at = 0;
    size_t content_at = 0;
    int rc;

    *out = NULL;
    *out_len = 0;
    if (evidence_at != NULL) {
        *evidence_at = 0;
    }
    rc = cw_msg_forward_parts_init(&parts, received, in_hdr, params, err);
    if (rc < 0) {
        return rc;
    }
    cw_buf_init(&doc, SEAL_MAX);
    rc = write_unsigned(&doc, &parts, &sig_at, &content_at);
    if (rc == CW_EINVAL) {
        rc = cw_error_set(err, CW_EAGAIN, "pipeline",
                          "the payload is canonicalised by libxml2: seal it as a tree");
    } else if (rc < 0) {
        rc = cw_error_set(err, rc, "pipeline", "cannot write the sealed envelope: %s",
                          cw_strerror(rc));
    } else {
        rc = cw_sec_sign_written(keys, doc.data, doc.len, sig_at, out, out_len, digest, err);
    }
    if (rc == 0) {
        cw_strlcpy(id, parts.hdr.message_id, CW_MSG_ID_MAX);
        /* The signed bytes keep the first sig_at bytes as written. */
        if (evidence_at != NULL && params->received != NULL && params->received_len > 0) {
            *evidence_at = content_at;
        }
    }
    cw_buf_fini(&doc);
    cw_msg_forward_parts_fini(&parts);
    return rc;
}

int cw_pipeline__seal(const cw_sec_keys_t *keys,
                      const xmlDoc *received,
                      const cw_msg_header_t *in_hdr,
                      const cw_msg_forward_params_t *params,
                      char **out,
                      size_t *out_len,
                      char id[CW_MSG_ID_MAX],
                      unsigned char digest[32],
                      size_t *evidence_at,
                      cw_error_t *err)
{
    xmlDoc *fwd = NULL;
    int rc;

    rc = cw_pipeline__seal_write(keys, received, in_hdr, params, out, out_len, id, digest,
                                 evidence_at, err);
    if (rc != CW_EAGAIN) {
        return rc;
    }
    cw_error_clear(err);
    rc = cw_msg_forward_new(&fwd, received, in_hdr, params, err);
    if (rc == 0) {
        rc = cw_pipeline__seal_finish(keys, fwd, out, out_len, id, digest, err);
    }
    xmlFreeDoc(fwd);
    return rc;
}
