/*
 * Signed receipts (urn:clearway:receipt:1): non-repudiation of receipt.
 * The receiver states which envelope it got (RefToMessageId and the
 * SHA-256 of the envelope's exclusive canonical form), when, and whether it
 * accepted it, and signs that statement with its node key.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <xmlsec/base64.h>

#include "internal.h"
#include "sec.h"

#define DIGEST_ALG     "http://www.w3.org/2001/04/xmlenc#sha256"
#define PROBLEM_PREFIX "urn:clearway:problem:"

/* ==== Building ==== */

/* A random (version 4) UUID, lower-case, into out (at least 37 bytes). */
static int uuid_new(char *out, size_t size)
{
    unsigned char b[16];

    if (size < CW_UUID_SIZE || RAND_bytes(b, (int)sizeof(b)) != 1) {
        return CW_ECRYPTO;
    }
    cw_uuid4_format(out, b);
    return 0;
}

/* Test hook (cw_sec__receipt_tree_only): every receipt built as a tree. */
static atomic_int tree_only;

void cw_sec__receipt_tree_only(int on)
{
    atomic_store(&tree_only, on);
}

/* What a receipt says, worked out once for both ways of making it. */
typedef struct fields {
    const char *id;
    const char *ref;
    const char *from;
    const char *to;
    const char *status;
    char ts[32];
    char digest[48]; /* base64 of the SHA-256 */
    char type[96];   /* the problem type, "" when accepted */
    const char *detail;
    const xmlNode *attachment;
} fields_t;

static int add_text(xmlNode *parent, xmlNs *ns, const char *name, const char *text, xmlNode **out)
{
    /* xmlNewTextChild escapes the text, so any value is safe to put here. */
    xmlNode *n = xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text);

    if (out != NULL) {
        *out = n;
    }
    return n != NULL ? 0 : CW_ENOMEM;
}

/* The receipt as a tree, for cw_sec_doc_sign_c14n. */
static int receipt_tree(xmlDoc **out, const fields_t *f)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    xmlNode *digest = NULL;
    xmlNode *problem;
    xmlNs *ns;
    int rc = 0;

    *out = NULL;
    doc = xmlNewDoc((const xmlChar *)"1.0");
    CW_CHECK_ALLOC(doc);
    root = xmlNewDocNode(doc, NULL, (const xmlChar *)"Receipt", NULL);
    CW_CHECK_ALLOC(root);
    (void)xmlDocSetRootElement(doc, root);
    ns = xmlNewNs(root, (const xmlChar *)CW_SEC_RECEIPT_NS, NULL);
    CW_CHECK_ALLOC(ns);
    xmlSetNs(root, ns);
    CW_TRY(add_text(root, ns, "MessageId", f->id, NULL));
    CW_TRY(add_text(root, ns, "RefToMessageId", f->ref, NULL));
    CW_TRY(add_text(root, ns, "From", f->from, NULL));
    CW_TRY(add_text(root, ns, "To", f->to, NULL));
    CW_TRY(add_text(root, ns, "Timestamp", f->ts, NULL));
    CW_TRY(add_text(root, ns, "Status", f->status, NULL));
    CW_TRY(add_text(root, ns, "Digest", f->digest, &digest));
    if (xmlNewProp(digest, (const xmlChar *)"Algorithm", (const xmlChar *)DIGEST_ALG) == NULL) {
        rc = CW_ENOMEM;
        goto out;
    }
    if (f->type[0] != '\0') {
        problem = xmlNewChild(root, ns, (const xmlChar *)"Problem", NULL);
        CW_CHECK_ALLOC(problem);
        CW_TRY(add_text(problem, ns, "Type", f->type, NULL));
        if (f->detail != NULL && f->detail[0] != '\0') {
            CW_TRY(add_text(problem, ns, "Detail", f->detail, NULL));
        }
    }
    if (f->attachment != NULL) {
        xmlNode *att = xmlNewChild(root, ns, (const xmlChar *)"Attachment", NULL);
        xmlNode *copy;

        CW_CHECK_ALLOC(att);
        copy = xmlDocCopyNode((xmlNode *)f->attachment, doc, 1);
        CW_CHECK_ALLOC(copy);
        if (xmlAddChild(att, copy) == NULL) {
            xmlFreeNode(copy);
            rc = CW_ENOMEM;
            goto out;
        }
        (void)xmlReconciliateNs(doc, copy);
    }
    *out = doc;
    doc = NULL;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

/*
 * The same receipt written straight in its canonical form without the
 * Signature, for cw_sec_sign_written (the tree's bytes: test_receipt holds
 * the two ways together). CW_EINVAL: the attachment is libxml2's to
 * canonicalise; build the tree.
 */
static int receipt_write(cw_buf_t *b, size_t *sig_at, const fields_t *f)
{
    int rc = 0;

    CW_TRY(cw_buf_reserve(b, 2048));
    CW_TRY(cw_buf_appends(b, "<Receipt xmlns=\"" CW_SEC_RECEIPT_NS "\">"));
    CW_TRY(cw_sec_c14n_put_leaf(b, "MessageId", f->id));
    CW_TRY(cw_sec_c14n_put_leaf(b, "RefToMessageId", f->ref));
    CW_TRY(cw_sec_c14n_put_leaf(b, "From", f->from));
    CW_TRY(cw_sec_c14n_put_leaf(b, "To", f->to));
    CW_TRY(cw_sec_c14n_put_leaf(b, "Timestamp", f->ts));
    CW_TRY(cw_sec_c14n_put_leaf(b, "Status", f->status));
    CW_TRY(cw_buf_appends(b, "<Digest Algorithm=\"" DIGEST_ALG "\">"));
    CW_TRY(cw_sec_c14n_put_text(b, f->digest));
    CW_TRY(cw_buf_appends(b, "</Digest>"));
    if (f->type[0] != '\0') {
        CW_TRY(cw_buf_appends(b, "<Problem>"));
        CW_TRY(cw_sec_c14n_put_leaf(b, "Type", f->type));
        if (f->detail != NULL && f->detail[0] != '\0') {
            CW_TRY(cw_sec_c14n_put_leaf(b, "Detail", f->detail));
        }
        CW_TRY(cw_buf_appends(b, "</Problem>"));
    }
    if (f->attachment != NULL) {
        CW_TRY(cw_buf_appends(b, "<Attachment>"));
        CW_TRY(cw_sec_c14n_put_elem(b, f->attachment, CW_SEC_RECEIPT_NS));
        CW_TRY(cw_buf_appends(b, "</Attachment>"));
    }
    *sig_at = b->len;
    CW_TRY(cw_buf_appends(b, "</Receipt>"));
out:
    return rc;
}

int cw_sec_receipt_build(char **out,
                         size_t *len_out,
                         const cw_sec_keys_t *keys,
                         xmlDoc *received,
                         const cw_sec_receipt_params_t *params,
                         cw_error_t *err)
{
    fields_t f;
    xmlDoc *doc = NULL;
    cw_buf_t b;
    size_t sig_at = 0;
    unsigned char sha[32];
    char id[40];
    int rc = 0;

    *out = NULL;
    *len_out = 0;
    cw_buf_init(&b, (size_t)INT32_MAX);
    if (params->ref_message_id == NULL || params->to == NULL) {
        rc = cw_error_set(err, CW_EINVAL, CW_SEC_MOD, "receipt needs RefToMessageId and To");
        goto out;
    }
    if (params->digest != NULL) {
        memcpy(sha, params->digest, sizeof(sha));
    } else {
        CW_TRY(cw_sec_doc_sha256(sha, received, err));
    }
    memset(&f, 0, sizeof(f));
    (void)EVP_EncodeBlock((unsigned char *)f.digest, sha, (int)sizeof(sha));
    if (params->receipt_id == NULL) {
        rc = uuid_new(id, sizeof(id));
        if (rc < 0) {
            rc = cw_error_set(err, rc, CW_SEC_MOD, "RAND_bytes failed");
            goto out;
        }
    }
    f.id = params->receipt_id != NULL ? params->receipt_id : id;
    f.ref = params->ref_message_id;
    f.from = cw_sec_keys_node_id(keys);
    f.to = params->to;
    f.status = params->problem == CW_SEC_PROBLEM_NONE ? "accepted" : "rejected";
    cw_time_format_utc(f.ts, sizeof(f.ts), params->now_s != 0 ? params->now_s : cw_time_wall_s());
    if (params->problem != CW_SEC_PROBLEM_NONE) {
        (void)snprintf(f.type, sizeof(f.type), PROBLEM_PREFIX "%s",
                       cw_sec_problem_slug(params->problem));
    }
    f.detail = params->detail;
    f.attachment = params->attachment;

    /* Sent as signed: its canonical form, written without a tree unless
     * the attachment needs libxml2. */
    rc = atomic_load(&tree_only) ? CW_EINVAL : receipt_write(&b, &sig_at, &f);
    if (rc == 0) {
        rc = cw_sec_sign_written(keys, b.data, b.len, sig_at, out, len_out, NULL, err);
        goto out;
    }
    if (rc != CW_EINVAL) {
        rc = cw_error_set(err, rc, CW_SEC_MOD, "cannot write the receipt: %s", cw_strerror(rc));
        goto out;
    }
    rc = receipt_tree(&doc, &f);
    if (rc < 0) {
        rc = cw_error_set(err, rc, CW_SEC_MOD, "cannot build the receipt: %s", cw_strerror(rc));
        goto out;
    }
    CW_TRY(cw_sec_doc_sign_c14n(keys, doc, out, len_out, NULL, err));
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    cw_buf_fini(&b);
    return rc;
}

/* ==== Verifying ==== */

static int mismatch(cw_sec_problem_e *problem_out, cw_error_t *err, const char *what)
{
    *problem_out = CW_SEC_PROBLEM_RECEIPT_MISMATCH;
    return cw_error_set(err, CW_EPROTO, CW_SEC_MOD, "receipt: %s", what);
}

/* Reads the receipt's fields in schema order into out. */
static int receipt_read(cw_sec_receipt_t *out,
                        const char *self,
                        char *digest,
                        size_t digest_size,
                        const xmlNode *root,
                        cw_sec_problem_e *problem_out,
                        cw_error_t *err)
{
    const xmlNode *n = cw_sec__first_elem(root);
    const xmlNode *t;
    char buf[128];
    char type[160];

    if (!cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "MessageId")
        || cw_sec__elem_text(out->receipt_id, sizeof(out->receipt_id), n) < 0) {
        return mismatch(problem_out, err, "MessageId missing");
    }
    n = cw_sec__next_elem(n);
    if (!cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "RefToMessageId")
        || cw_sec__elem_text(out->ref_message_id, sizeof(out->ref_message_id), n) < 0) {
        return mismatch(problem_out, err, "RefToMessageId missing");
    }
    n = cw_sec__next_elem(n);
    if (!cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "From")
        || cw_sec__elem_text(out->from, sizeof(out->from), n) < 0) {
        return mismatch(problem_out, err, "From missing");
    }
    n = cw_sec__next_elem(n);
    if (!cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "To") || cw_sec__elem_text(buf, sizeof(buf), n) < 0
        || strcmp(buf, self) != 0) {
        return mismatch(problem_out, err, "To is not this node");
    }
    n = cw_sec__next_elem(n);
    if (!cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "Timestamp")
        || cw_sec__elem_text(buf, sizeof(buf), n) < 0
        || cw_sec__time_parse(buf, &out->timestamp_s) < 0) {
        return mismatch(problem_out, err, "Timestamp missing or invalid");
    }
    n = cw_sec__next_elem(n);
    if (!cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "Status")
        || cw_sec__elem_text(buf, sizeof(buf), n) < 0
        || (strcmp(buf, "accepted") != 0 && strcmp(buf, "rejected") != 0)) {
        return mismatch(problem_out, err, "Status missing or invalid");
    }
    out->status = strcmp(buf, "accepted") == 0 ? CW_SEC_RECEIPT_ACCEPTED : CW_SEC_RECEIPT_REJECTED;
    n = cw_sec__next_elem(n);
    if (!cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "Digest")
        || cw_sec__elem_text(digest, digest_size, n) < 0) {
        return mismatch(problem_out, err, "Digest missing");
    }
    n = cw_sec__next_elem(n);
    out->problem = CW_SEC_PROBLEM_NONE;
    if (cw_sec__is_elem(n, CW_SEC_RECEIPT_NS, "Problem")) {
        t = cw_sec__first_elem(n);
        if (!cw_sec__is_elem(t, CW_SEC_RECEIPT_NS, "Type")
            || cw_sec__elem_text(type, sizeof(type), t) < 0) {
            return mismatch(problem_out, err, "Problem/Type missing");
        }
        /* A slug we do not know (a newer peer) is kept as "internal-error". */
        if (strncmp(type, PROBLEM_PREFIX, strlen(PROBLEM_PREFIX)) != 0
            || cw_sec_problem_from_slug(&out->problem, type + strlen(PROBLEM_PREFIX)) < 0) {
            out->problem = CW_SEC_PROBLEM_INTERNAL;
        }
    }
    if (out->status == CW_SEC_RECEIPT_REJECTED && out->problem == CW_SEC_PROBLEM_NONE) {
        out->problem = CW_SEC_PROBLEM_INTERNAL;
    }
    return 0;
}

int cw_sec_receipt_verify(cw_sec_receipt_t *out,
                          const cw_sec_keys_t *keys,
                          xmlDoc *receipt,
                          const char *expected_from,
                          const char *sent_message_id,
                          const unsigned char sent_sha256[32],
                          const cw_sec_verify_opts_t *opts,
                          cw_sec_problem_e *problem_out,
                          cw_error_t *err)
{
    const cw_sec_verify_opts_t defaults = CW_SEC_VERIFY_OPTS_INIT;
    const cw_sec_partner_t *partner;
    xmlNode *root = xmlDocGetRootElement(receipt);
    char digest[128];
    xmlSecSize digest_len = 0;
    size_t cert_index = 0;
    int64_t now_s;
    int64_t skew;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    *problem_out = CW_SEC_PROBLEM_NONE;
    if (opts == NULL) {
        opts = &defaults;
    }
    now_s = opts->now_s != 0 ? opts->now_s : cw_time_wall_s();
    if (!cw_sec__is_elem(root, CW_SEC_RECEIPT_NS, "Receipt")) {
        *problem_out = CW_SEC_PROBLEM_SCHEMA_INVALID;
        rc = cw_error_set(err, CW_EPROTO, CW_SEC_MOD, "not a {%s}Receipt", CW_SEC_RECEIPT_NS);
        goto out;
    }
    partner = cw_sec__keys_partner(keys, expected_from);
    if (partner == NULL) {
        *problem_out = CW_SEC_PROBLEM_UNKNOWN_SENDER;
        rc = cw_error_set(err, CW_EPERM, CW_SEC_MOD, "%s is not a registered partner",
                          expected_from);
        goto out;
    }
    CW_TRY(receipt_read(out, cw_sec_keys_node_id(keys), digest, sizeof(digest), root, problem_out,
                        err));
    if (strcmp(out->from, expected_from) != 0) {
        *problem_out = CW_SEC_PROBLEM_SIGNER_NOT_SENDER;
        rc = cw_error_set(err, CW_EPERM, CW_SEC_MOD, "receipt from %s, expected %s", out->from,
                          expected_from);
        goto out;
    }
    CW_TRY(cw_sec__dsig_verify(partner, receipt, now_s, &cert_index, NULL, NULL, problem_out, err));
    if (opts->schemas != NULL) {
        rc = cw_sec_schemas_validate(opts->schemas, CW_SEC_SCHEMA_RECEIPT, receipt, err);
        if (rc < 0) {
            *problem_out = CW_SEC_PROBLEM_SCHEMA_INVALID;
            goto out;
        }
    }
    if (strcmp(out->ref_message_id, sent_message_id) != 0) {
        out->names_other = 1;
        rc = mismatch(problem_out, err, "RefToMessageId is not the message sent");
        goto out;
    }
    if (xmlSecBase64DecodeInPlace((xmlChar *)digest, &digest_len) < 0 || digest_len != 32
        || CRYPTO_memcmp(digest, sent_sha256, 32) != 0) {
        out->names_other = 1;
        rc = mismatch(problem_out, err, "Digest is not that of the envelope sent");
        goto out;
    }
    skew = out->timestamp_s - now_s;
    if (skew > (int64_t)opts->skew_s || -skew > (int64_t)opts->skew_s) {
        *problem_out = CW_SEC_PROBLEM_STALE_MESSAGE;
        rc = cw_error_set(err, CW_ESTALE, CW_SEC_MOD, "receipt Timestamp outside the window");
        goto out;
    }
out:
    return rc;
}
