/*
 * The XML-DSig verification policy of docs/security.md and the node's
 * signing. Every rule is checked on the tree before any cryptography, then
 * the signature is verified with the key we chose (never one KeyInfo
 * names). With SHA-256 throughout (what Clearway nodes sign with), the
 * policy leaves one way to read the signature, and it is verified here:
 * the document without the Signature in exclusive C14N (c14n.c) against
 * DigestValue, then SignedInfo in exclusive C14N against SignatureValue,
 * through OpenSSL. Anything else (SHA-384/512, a partner's legacy SHA-1)
 * goes through xmlsec, and its outcome is accepted only if the return
 * code, the context status and the reference checks all agree (STYLE.md
 * rules 49 and 50). Tests and fuzz_xmldsig_verify check that both ways
 * agree.
 */
#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <xmlsec/base64.h>
#include <xmlsec/crypto.h>
#include <xmlsec/io.h>
#include <xmlsec/list.h>
#include <xmlsec/membuf.h>
#include <xmlsec/templates.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>

#include "internal.h"
#include "sec.h"

#define ENVELOPE_NS "urn:clearway:envelope:1"

/* The canonical form cw_sec_doc_sign_c14n hands out: what xmlDocDumpMemory
 * could give at most (its size is an int). */
#define SIGN_C14N_MAX ((size_t)INT_MAX)

#define HREF_EXC_C14N  "http://www.w3.org/2001/10/xml-exc-c14n#"
#define HREF_ENVELOPED "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
#define HREF_SHA256    "http://www.w3.org/2001/04/xmlenc#sha256"
#define HREF_RSA256    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
#define HREF_ECDSA256  "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"

/* Test hook (cw_sec__verify_xmlsec_only): every verification through xmlsec. */
static atomic_int xmlsec_only;

void cw_sec__verify_xmlsec_only(int on)
{
    atomic_store(&xmlsec_only, on);
}

/* ==== Algorithms ==== */

typedef enum alg_kind_e {
    ALG_SIG_RSA = 0,
    ALG_SIG_EC = 1,
    ALG_DIGEST = 2,
} alg_kind_e;

typedef struct alg {
    const char *href;
    alg_kind_e kind;
    int legacy; /* allowed only for partners with CW_SEC_PARTNER_LEGACY_SHA1 */
} alg_t;

/*
 * The allow-list. Anything else (HMAC, DSA, MD5, SHA-224, RSA-PSS, GOST...)
 * is refused before xmlsec sees it. SHA-1 stays only for partners whose
 * profile says legacy-sha1 (China customs CEB messages need it).
 */
static const alg_t algs[] = {
    { "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", ALG_SIG_RSA, 0 },
    { "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384", ALG_SIG_RSA, 0 },
    { "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", ALG_SIG_RSA, 0 },
    { "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256", ALG_SIG_EC, 0 },
    { "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384", ALG_SIG_EC, 0 },
    { "http://www.w3.org/2000/09/xmldsig#rsa-sha1", ALG_SIG_RSA, 1 },
    { "http://www.w3.org/2001/04/xmlenc#sha256", ALG_DIGEST, 0 },
    { "http://www.w3.org/2001/04/xmldsig-more#sha384", ALG_DIGEST, 0 },
    { "http://www.w3.org/2001/04/xmlenc#sha512", ALG_DIGEST, 0 },
    { "http://www.w3.org/2000/09/xmldsig#sha1", ALG_DIGEST, 1 },
};

static const alg_t *alg_find(const xmlChar *href, int legacy_ok)
{
    size_t i;

    if (href == NULL) {
        return NULL;
    }
    for (i = 0; i < CW_ARRAY_SIZE(algs); i++) {
        if (xmlStrEqual(href, (const xmlChar *)algs[i].href)) {
            return (algs[i].legacy && !legacy_ok) ? NULL : &algs[i];
        }
    }
    return NULL;
}

/* The same allow-list, as xmlsec transform ids, for the context. */
static int ctx_enable(xmlSecDSigCtx *ctx, int legacy_ok)
{
    int r = 0;

    r |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformExclC14NId);
    r |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha256Id);
    r |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha384Id);
    r |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha512Id);
    r |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha256Id);
    r |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformEcdsaSha384Id);
    r |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId);
    r |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformExclC14NId);
    r |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha256Id);
    r |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha384Id);
    r |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha512Id);
    if (legacy_ok) {
        r |= xmlSecDSigCtxEnableSignatureTransform(ctx, xmlSecTransformRsaSha1Id);
        r |= xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformSha1Id);
    }
    /* Only URI="": no external, no same-document #id references. */
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
    ctx->flags |= XMLSEC_DSIG_FLAGS_IGNORE_MANIFESTS;
    return r < 0 ? CW_ECRYPTO : 0;
}

/* ==== Structure ==== */

static int policy_fail(cw_sec_problem_e *problem_out, cw_error_t *err, const char *fmt, ...)
    CW_PRINTF(3, 4);

static int policy_fail(cw_sec_problem_e *problem_out, cw_error_t *err, const char *fmt, ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    *problem_out = CW_SEC_PROBLEM_SIGNATURE_POLICY;
    return cw_error_set(err, CW_ESIG, CW_SEC_MOD, "%s", msg);
}

/* An element with an Algorithm attribute and no element children. */
static int algorithm_of(const xmlNode *elem, xmlChar **out)
{
    *out = NULL;
    if (cw_sec__first_elem(elem) != NULL) {
        return CW_ESIG;
    }
    *out = xmlGetNoNsProp(elem, (const xmlChar *)"Algorithm");
    return *out != NULL ? 0 : CW_ESIG;
}

/*
 * XMLDSig §4.4.3: the one Reference. URI="" (§4.4.3.2: the whole document,
 * comments removed); Transforms exactly enveloped-signature then exclusive
 * C14N, neither with parameters; an allowed DigestMethod.
 */
static int reference_check(const xmlNode *ref,
                           int legacy_ok,
                           const xmlNode **dv_out,
                           int *sha256_out,
                           cw_sec_problem_e *problem_out,
                           cw_error_t *err)
{
    const xmlNode *tr;
    const xmlNode *t1;
    const xmlNode *t2;
    const xmlNode *dm;
    const xmlNode *dv;
    const alg_t *alg;
    xmlChar *href = NULL;
    xmlChar *uri = NULL;
    int rc = 0;

    uri = xmlGetNoNsProp(ref, (const xmlChar *)"URI");
    if (uri == NULL || uri[0] != '\0') {
        rc = policy_fail(problem_out, err, "Reference URI \"%s\" not allowed (only \"\")",
                         uri != NULL ? (const char *)uri : "(absent)");
        goto out;
    }
    tr = cw_sec__first_elem(ref);
    dm = tr != NULL ? cw_sec__next_elem(tr) : NULL;
    dv = dm != NULL ? cw_sec__next_elem(dm) : NULL;
    if (!cw_sec__is_elem(tr, CW_SEC_DS_NS, "Transforms")
        || !cw_sec__is_elem(dm, CW_SEC_DS_NS, "DigestMethod")
        || !cw_sec__is_elem(dv, CW_SEC_DS_NS, "DigestValue") || cw_sec__next_elem(dv) != NULL) {
        rc = policy_fail(problem_out, err, "%s",
                         "Reference must be Transforms, DigestMethod, DigestValue");
        goto out;
    }
    t1 = cw_sec__first_elem(tr);
    t2 = t1 != NULL ? cw_sec__next_elem(t1) : NULL;
    if (!cw_sec__is_elem(t1, CW_SEC_DS_NS, "Transform")
        || !cw_sec__is_elem(t2, CW_SEC_DS_NS, "Transform") || cw_sec__next_elem(t2) != NULL) {
        rc = policy_fail(problem_out, err, "%s", "exactly two Transforms are required");
        goto out;
    }
    if (algorithm_of(t1, &href) < 0 || !xmlStrEqual(href, (const xmlChar *)HREF_ENVELOPED)) {
        rc = policy_fail(problem_out, err, "first Transform %s not allowed (enveloped-signature)",
                         href != NULL ? (const char *)href : "(with children)");
        goto out;
    }
    xmlFree(href);
    href = NULL;
    if (algorithm_of(t2, &href) < 0 || !xmlStrEqual(href, (const xmlChar *)HREF_EXC_C14N)) {
        rc = policy_fail(problem_out, err, "second Transform %s not allowed (exclusive C14N)",
                         href != NULL ? (const char *)href : "(with children)");
        goto out;
    }
    xmlFree(href);
    href = NULL;
    if (algorithm_of(dm, &href) < 0 || (alg = alg_find(href, legacy_ok)) == NULL
        || alg->kind != ALG_DIGEST) {
        rc = policy_fail(problem_out, err, "DigestMethod %s not allowed",
                         href != NULL ? (const char *)href : "(with children)");
        goto out;
    }
    *dv_out = dv;
    *sha256_out = xmlStrEqual(href, (const xmlChar *)HREF_SHA256);
out:
    if (href != NULL) {
        xmlFree(href);
    }
    if (uri != NULL) {
        xmlFree(uri);
    }
    return rc;
}

/*
 * XMLDSig §4: Signature = SignedInfo, SignatureValue, KeyInfo? and nothing
 * else (no Object, so no Manifest). SignedInfo = exclusive C14N, one
 * allowed SignatureMethod, exactly one Reference with URI="" whose
 * Transforms are exactly enveloped-signature then exclusive C14N, and an
 * allowed DigestMethod. Fills *parts.
 */
typedef struct sig_parts {
    const xmlNode *signed_info;
    const xmlNode *signature_value;
    const xmlNode *digest_value;
    int rsa;    /* the SignatureMethod needs an RSA key (else EC) */
    int sha256; /* SHA-256 in both methods: verified without xmlsec */
} sig_parts_t;

static int structure_check(const xmlNode *sig,
                           int legacy_ok,
                           sig_parts_t *parts,
                           cw_sec_problem_e *problem_out,
                           cw_error_t *err)
{
    const xmlNode *si = cw_sec__first_elem(sig);
    const xmlNode *sv = si != NULL ? cw_sec__next_elem(si) : NULL;
    const xmlNode *ki = sv != NULL ? cw_sec__next_elem(sv) : NULL;
    const xmlNode *c14n;
    const xmlNode *sm;
    const xmlNode *ref;
    const alg_t *alg;
    xmlChar *href = NULL;
    int digest_sha256 = 0;
    int rc = 0;

    memset(parts, 0, sizeof(*parts));
    if (!cw_sec__is_elem(si, CW_SEC_DS_NS, "SignedInfo")
        || !cw_sec__is_elem(sv, CW_SEC_DS_NS, "SignatureValue")
        || (ki != NULL && !cw_sec__is_elem(ki, CW_SEC_DS_NS, "KeyInfo"))
        || (ki != NULL && cw_sec__next_elem(ki) != NULL)) {
        rc = policy_fail(problem_out, err, "%s",
                         "Signature must be SignedInfo, SignatureValue, KeyInfo?");
        goto out;
    }
    c14n = cw_sec__first_elem(si);
    sm = c14n != NULL ? cw_sec__next_elem(c14n) : NULL;
    ref = sm != NULL ? cw_sec__next_elem(sm) : NULL;
    if (!cw_sec__is_elem(c14n, CW_SEC_DS_NS, "CanonicalizationMethod")
        || !cw_sec__is_elem(sm, CW_SEC_DS_NS, "SignatureMethod")
        || !cw_sec__is_elem(ref, CW_SEC_DS_NS, "Reference")) {
        rc = policy_fail(problem_out, err, "%s", "malformed SignedInfo");
        goto out;
    }
    if (cw_sec__next_elem(ref) != NULL) {
        rc = policy_fail(problem_out, err, "%s", "exactly one Reference is allowed");
        goto out;
    }
    if (algorithm_of(c14n, &href) < 0 || !xmlStrEqual(href, (const xmlChar *)HREF_EXC_C14N)) {
        rc = policy_fail(problem_out, err, "CanonicalizationMethod %s not allowed",
                         href != NULL ? (const char *)href : "(none)");
        goto out;
    }
    xmlFree(href);
    href = NULL;
    if (algorithm_of(sm, &href) < 0 || (alg = alg_find(href, legacy_ok)) == NULL
        || alg->kind == ALG_DIGEST) {
        rc = policy_fail(problem_out, err, "SignatureMethod %s not allowed",
                         href != NULL ? (const char *)href : "(with children)");
        goto out;
    }
    parts->rsa = alg->kind == ALG_SIG_RSA;
    parts->sha256 = xmlStrEqual(href, (const xmlChar *)(parts->rsa ? HREF_RSA256 : HREF_ECDSA256));
    parts->signed_info = si;
    parts->signature_value = sv;
    xmlFree(href);
    href = NULL;

    rc = reference_check(ref, legacy_ok, &parts->digest_value, &digest_sha256, problem_out, err);
    parts->sha256 = parts->sha256 && digest_sha256;
out:
    if (href != NULL) {
        xmlFree(href);
    }
    return rc;
}

/* Counts ds:Signature elements anywhere in the document (iteratively). */
static size_t signature_count(const xmlNode *root)
{
    const xmlNode *n = root;
    size_t count = 0;

    while (n != NULL) {
        if (cw_sec__is_elem(n, CW_SEC_DS_NS, "Signature")) {
            count++;
        }
        if (n->type == XML_ELEMENT_NODE && n->children != NULL) {
            n = n->children;
            continue;
        }
        while (n != NULL && n != root && n->next == NULL) {
            n = n->parent;
        }
        if (n == NULL || n == root) {
            break;
        }
        n = n->next;
    }
    return count;
}

/* The last element child of the root, if it is the one ds:Signature. */
static int
signature_find(xmlNode **out, const xmlNode *root, cw_sec_problem_e *problem_out, cw_error_t *err)
{
    xmlNode *n;
    xmlNode *last = NULL;
    size_t count = signature_count(root);

    *out = NULL;
    for (n = cw_sec__first_elem(root); n != NULL; n = cw_sec__next_elem(n)) {
        last = n;
    }
    if (count == 0) {
        *problem_out = CW_SEC_PROBLEM_SIGNATURE_MISSING;
        return cw_error_set(err, CW_ESIG, CW_SEC_MOD, "no ds:Signature");
    }
    if (count > 1) {
        *problem_out = CW_SEC_PROBLEM_SIGNATURE_POLICY;
        return cw_error_set(err, CW_ESIG, CW_SEC_MOD, "%zu ds:Signature elements, one allowed",
                            count);
    }
    if (!cw_sec__is_elem(last, CW_SEC_DS_NS, "Signature")) {
        *problem_out = CW_SEC_PROBLEM_SIGNATURE_POLICY;
        return cw_error_set(err, CW_ESIG, CW_SEC_MOD, "ds:Signature must be the root's last child");
    }
    *out = last;
    return 0;
}

/* ==== Certificates ==== */

/*
 * KeyInfo never chooses the key. A certificate it carries must be
 * byte-equal to one of the partner's registered ones; then only those are
 * tried. Anything else in KeyInfo (KeyValue, KeyName, X509IssuerSerial,
 * RetrievalMethod...) is ignored. Sets bit i of *mask_out for each
 * registered certificate that may be tried.
 */
static int keyinfo_match(uint64_t *mask_out,
                         const xmlNode *sig,
                         const cw_sec_partner_t *partner,
                         cw_sec_problem_e *problem_out,
                         cw_error_t *err)
{
    const xmlNode *ki = NULL;
    const xmlNode *xd;
    const xmlNode *xc;
    const xmlNode *n;
    xmlChar *text = NULL;
    xmlSecSize der_len = 0;
    uint64_t mask = 0;
    uint64_t this_mask;
    size_t i;
    int seen = 0;
    int rc = 0;

    for (n = cw_sec__first_elem(sig); n != NULL; n = cw_sec__next_elem(n)) {
        if (cw_sec__is_elem(n, CW_SEC_DS_NS, "KeyInfo")) {
            ki = n;
        }
    }
    for (xd = ki != NULL ? cw_sec__first_elem(ki) : NULL; xd != NULL; xd = cw_sec__next_elem(xd)) {
        if (!cw_sec__is_elem(xd, CW_SEC_DS_NS, "X509Data")) {
            continue;
        }
        for (xc = cw_sec__first_elem(xd); xc != NULL; xc = cw_sec__next_elem(xc)) {
            if (!cw_sec__is_elem(xc, CW_SEC_DS_NS, "X509Certificate")) {
                continue;
            }
            seen = 1;
            text = xmlNodeGetContent(xc);
            CW_CHECK_ALLOC(text);
            /* The certificate as the registered one encodes to, on one
             * line: the same DER without decoding it (1 % of a message's
             * instructions). Any other text is decoded and compared. */
            this_mask = 0;
            for (i = 0; i < partner->cert_count && i < 64; i++) {
                if (partner->certs[i].b64 != NULL
                    && strcmp((const char *)text, partner->certs[i].b64) == 0) {
                    this_mask |= (uint64_t)1 << i;
                }
            }
            if (this_mask != 0) {
                mask |= this_mask;
                xmlFree(text);
                text = NULL;
                continue;
            }
            if (xmlSecBase64DecodeInPlace(text, &der_len) < 0) {
                *problem_out = CW_SEC_PROBLEM_SIGNATURE_POLICY;
                rc = cw_error_set(err, CW_ESIG, CW_SEC_MOD, "KeyInfo certificate is not base64");
                goto out;
            }
            this_mask = 0;
            for (i = 0; i < partner->cert_count && i < 64; i++) {
                if (partner->certs[i].der_len == (size_t)der_len
                    && CRYPTO_memcmp(partner->certs[i].der, text, der_len) == 0) {
                    this_mask |= (uint64_t)1 << i;
                }
            }
            if (this_mask == 0) {
                *problem_out = CW_SEC_PROBLEM_SIGNER_NOT_SENDER;
                rc =
                    cw_error_set(err, CW_ESIG, CW_SEC_MOD,
                                 "KeyInfo certificate is not registered for %s", partner->party_id);
                goto out;
            }
            mask |= this_mask;
            xmlFree(text);
            text = NULL;
        }
    }
    if (!seen) {
        for (i = 0; i < partner->cert_count && i < 64; i++) {
            mask |= (uint64_t)1 << i;
        }
    }
    *mask_out = mask;
out:
    if (text != NULL) {
        xmlFree(text);
    }
    return rc;
}

static int cert_valid_at(const cw_sec_cert_t *c, int64_t now_s)
{
    time_t now = (time_t)now_s;

    return X509_cmp_time(X509_get0_notBefore(c->x509), &now) < 0
           && X509_cmp_time(X509_get0_notAfter(c->x509), &now) > 0;
}

/* ==== Cryptographic verification ==== */

/*
 * Rule 49's third part: exactly one reference, verified, URI="", and its
 * transform chain is enveloped-signature then exclusive C14N (the digest
 * and xmlsec's own buffering transforms follow them).
 */
static int references_ok(xmlSecDSigCtx *ctx)
{
    xmlSecDSigReferenceCtxPtr ref;
    xmlSecTransformPtr t;
    int seen = 0;

    if (ctx->c14nMethod == NULL || ctx->c14nMethod->id != xmlSecTransformExclC14NId) {
        return 0;
    }
    if (xmlSecPtrListGetSize(&ctx->signedInfoReferences) != 1) {
        return 0;
    }
    ref = xmlSecPtrListGetItem(&ctx->signedInfoReferences, 0);
    if (ref == NULL || ref->status != xmlSecDSigStatusSucceeded || ref->uri == NULL
        || ref->uri[0] != '\0') {
        return 0;
    }
    for (t = ref->transformCtx.first; t != NULL; t = t->next) {
        if (t->id == xmlSecTransformEnvelopedId) {
            if (seen != 0) {
                return 0;
            }
            seen = 1;
        } else if (t->id == xmlSecTransformExclC14NId) {
            if (seen != 1) {
                return 0;
            }
            seen = 2;
        } else if (t != ref->digestMethod && t->id != xmlSecTransformMemBufId
                   && t->id != xmlSecTransformInputURIId) {
            return 0;
        }
    }
    return seen == 2;
}

/*
 * The base64 text of elem decoded into out (cap bytes): 0 and *len_out, or
 * CW_ESIG when it is not base64 or longer than cap, CW_ENOMEM.
 */
static int b64_read(const xmlNode *elem, unsigned char *out, size_t cap, size_t *len_out)
{
    xmlChar *text = xmlNodeGetContent(elem);
    xmlSecSize n = 0;
    int rc = CW_ESIG;

    if (text == NULL) {
        return CW_ENOMEM;
    }
    if (xmlSecBase64DecodeInPlace(text, &n) == 0 && (size_t)n <= cap) {
        memcpy(out, text, (size_t)n);
        *len_out = (size_t)n;
        rc = 0;
    }
    xmlFree(text);
    return rc;
}

/*
 * The Reference, without xmlsec (SHA-256 only): exclusive C14N of the
 * document without the Signature (URI="" then enveloped-signature; the
 * policy allows no other transform) against DigestValue. *match 1 or 0;
 * a negative CW_E* when it could not be computed. With doc_sha (32 bytes)
 * and a match, also cw_sec_doc_sha256(doc): the canonical form with the
 * Signature spliced back in where it was left out (xml.c), so the node
 * does not walk the document again for the digest its receipt names.
 */
static int digest_check(xmlDoc *doc,
                        const xmlNode *sig,
                        const xmlNode *dv,
                        int *match,
                        unsigned char *doc_sha,
                        cw_error_t *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char want[64];
    unsigned char got[EVP_MAX_MD_SIZE];
    unsigned int got_len = 0;
    size_t want_len = 0;
    cw_buf_t kept;
    size_t skip_at = SIZE_MAX;
    int rc;

    *match = 0;
    cw_buf_init(&kept, 0);
    if (md == NULL || EVP_DigestInit_ex(md, cw_sec_sha256_md(), NULL) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "digest init failed");
        goto out;
    }
    rc = b64_read(dv, want, sizeof(want), &want_len);
    if (rc == CW_ESIG) {
        rc = 0; /* not base64, or too long: cannot match */
        goto out;
    }
    CW_TRY(rc);
    if (doc_sha != NULL) {
        cw_buf_fini(&kept);
        rc = cw_sec__c14n_update_kept(md, doc, sig, &kept, &skip_at, err);
    } else {
        rc = cw_sec__c14n_update(md, CW_SEC_SINK_DIGEST, doc, NULL, sig, XML_C14N_EXCLUSIVE_1_0,
                                 err);
    }
    if (rc == CW_ECRYPTO) {
        /* A tree C14N cannot render (a relative namespace URI): nothing
         * can match, as with xmlsec. */
        rc = 0;
        goto out;
    }
    CW_TRY(rc);
    if (EVP_DigestFinal_ex(md, got, &got_len) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "digest failed");
        goto out;
    }
    *match = want_len == got_len && got_len == 32 && CRYPTO_memcmp(want, got, got_len) == 0;
    if (*match && doc_sha != NULL) {
        rc = cw_sec__c14n_spliced_sha256(doc_sha, doc, &kept, skip_at, sig, err);
    }
out:
    cw_buf_fini(&kept);
    EVP_MD_CTX_free(md);
    return rc;
}

/*
 * XML-DSig's ECDSA SignatureValue (r || s, each the size of the group
 * order) as the DER OpenSSL verifies: 0 and *der_len, or CW_ESIG when raw
 * is not that shape (the signature then does not verify).
 */
static int ecdsa_raw_to_der(
    const unsigned char *raw, size_t raw_len, size_t order, unsigned char *der, size_t *der_len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = NULL;
    BIGNUM *s = NULL;
    unsigned char *p = der;
    int n;
    int rc = CW_ESIG;

    if (es == NULL) {
        return CW_ENOMEM;
    }
    if (order == 0 || raw_len != 2 * order) {
        goto out;
    }
    r = BN_bin2bn(raw, (int)order, NULL);
    s = BN_bin2bn(raw + order, (int)order, NULL);
    if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        rc = CW_ENOMEM;
        goto out;
    }
    n = i2d_ECDSA_SIG(es, NULL);
    if (n <= 0 || (size_t)n > *der_len) {
        goto out;
    }
    n = i2d_ECDSA_SIG(es, &p);
    if (n <= 0) {
        goto out;
    }
    *der_len = (size_t)n;
    rc = 0;
out:
    ECDSA_SIG_free(es);
    return rc;
}

/*
 * SignedInfo, without xmlsec (SHA-256 only): its exclusive C14N against
 * SignatureValue with cert's public key. *ok 1 or 0; a negative CW_E* when
 * it could not be computed.
 */
static int value_check(
    xmlDoc *doc, const sig_parts_t *parts, const cw_sec_cert_t *cert, int *ok, cw_error_t *err)
{
    EVP_PKEY *pkey = X509_get0_pubkey(cert->x509);
    EVP_MD_CTX *md = NULL;
    unsigned char *sv = NULL;
    size_t sv_cap;
    unsigned char der[2 * 66 + 16];
    size_t sv_len = 0;
    size_t der_len = sizeof(der);
    const unsigned char *sig;
    size_t sig_len;
    int rc;

    *ok = 0;
    if (pkey == NULL || EVP_PKEY_get_size(pkey) <= 0) {
        return cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "certificate without a public key");
    }
    /* The longest value this key can have made: the modulus for RSA (no
     * upper bound on the key size is set at load), r || s for ECDSA. */
    sv_cap = (size_t)EVP_PKEY_get_size(pkey);
    if (sv_cap < 2 * 66) {
        sv_cap = 2 * 66;
    }
    sv = cw_malloc(sv_cap);
    if (sv == NULL) {
        return cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "out of memory");
    }
    sig = sv;
    rc = b64_read(parts->signature_value, sv, sv_cap, &sv_len);
    if (rc == CW_ESIG) {
        rc = 0; /* not base64, or longer than this key signs */
        goto out;
    }
    CW_TRY(rc);
    sig_len = sv_len;
    if (!cert->is_rsa) {
        rc = ecdsa_raw_to_der(sv, sv_len, (size_t)(EVP_PKEY_get_bits(pkey) + 7) / 8, der, &der_len);
        if (rc == CW_ESIG) {
            rc = 0; /* not r || s for this curve */
            goto out;
        }
        CW_TRY(rc);
        sig = der;
        sig_len = der_len;
    }
    md = EVP_MD_CTX_new();
    if (md == NULL || cw_sec__verify_init(md, cw_sec_sha256_md(), pkey) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "verification init failed");
        goto out;
    }
    rc = cw_sec__c14n_update(md, CW_SEC_SINK_VERIFY, doc, parts->signed_info, NULL,
                             XML_C14N_EXCLUSIVE_1_0, err);
    if (rc == CW_ECRYPTO) {
        rc = 0; /* SignedInfo cannot be rendered: it does not verify */
        goto out;
    }
    CW_TRY(rc);
    EVP_MD_CTX_set_flags(md, EVP_MD_CTX_FLAG_FINALISE); /* as in sign_value */
    *ok = EVP_DigestVerifyFinal(md, sig, sig_len) == 1;
out:
    cw_free(sv);
    EVP_MD_CTX_free(md);
    ERR_clear_error();
    return rc;
}

/* One attempt with one registered certificate. Returns 1 when it verified. */
static int verify_with(
    cw_sec_thread_t *t, const cw_sec_cert_t *cert, xmlNode *sig, int legacy_ok, int *crypto_err_out)
{
    xmlSecDSigCtx *ctx = &t->dsig;
    int ok = 0;

    *crypto_err_out = 0;
    if (xmlSecDSigCtxInitialize(ctx, NULL) < 0) {
        *crypto_err_out = 1;
        return 0;
    }
    if (ctx_enable(ctx, legacy_ok) < 0) {
        *crypto_err_out = 1;
        goto out;
    }
    ctx->signKey = xmlSecKeyDuplicate(cert->key);
    if (ctx->signKey == NULL) {
        *crypto_err_out = 1;
        goto out;
    }
    if (xmlSecDSigCtxVerify(ctx, sig) == 0 && ctx->status == xmlSecDSigStatusSucceeded
        && references_ok(ctx)) {
        ok = 1;
    }
out:
    xmlSecDSigCtxFinalize(ctx);
    return ok;
}

int cw_sec__dsig_verify(const cw_sec_partner_t *partner,
                        xmlDoc *doc,
                        int64_t now_s,
                        size_t *cert_index_out,
                        unsigned char *doc_sha_out,
                        int *doc_sha_set,
                        cw_sec_problem_e *problem_out,
                        cw_error_t *err)
{
    cw_sec_thread_t *t = cw_sec__thread_get();
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *sig = NULL;
    int legacy_ok = (partner->flags & CW_SEC_PARTNER_LEGACY_SHA1) != 0;
    sig_parts_t parts;
    int native;
    int digest_ok = -1; /* -1: not checked yet */
    int ok;
    uint64_t mask = 0;
    size_t tried = 0;
    size_t expired = 0;
    size_t i;
    int crypto_err = 0;
    int rc = 0;

    if (t == NULL) {
        *problem_out = CW_SEC_PROBLEM_INTERNAL;
        rc = cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "no signature state for this thread");
        goto out;
    }
    if (doc_sha_set != NULL) {
        *doc_sha_set = 0;
    }
    cw_sec__thread_reset_errors(t);
    if (root == NULL) {
        *problem_out = CW_SEC_PROBLEM_MALFORMED_XML;
        rc = cw_error_set(err, CW_EPARSE, CW_SEC_MOD, "no root element");
        goto out;
    }
    CW_TRY(signature_find(&sig, root, problem_out, err));
    CW_TRY(structure_check(sig, legacy_ok, &parts, problem_out, err));
    CW_TRY(keyinfo_match(&mask, sig, partner, problem_out, err));
    native = parts.sha256 && !atomic_load(&xmlsec_only);

    for (i = 0; i < partner->cert_count && i < 64; i++) {
        if ((mask & ((uint64_t)1 << i)) == 0 || partner->certs[i].is_rsa != parts.rsa) {
            continue;
        }
        if (!cert_valid_at(&partner->certs[i], now_s)) {
            expired++;
            continue;
        }
        tried++;
        if (native) {
            /* The digest does not depend on the key: checked once. */
            if (digest_ok < 0) {
                rc = digest_check(doc, sig, parts.digest_value, &digest_ok, doc_sha_out, err);
            }
            if (rc == 0 && digest_ok) {
                rc = value_check(doc, &parts, &partner->certs[i], &ok, err);
            }
            if (rc < 0) {
                *problem_out = CW_SEC_PROBLEM_INTERNAL;
                goto out;
            }
            if (!digest_ok) {
                *problem_out = CW_SEC_PROBLEM_SIGNATURE_INVALID;
                rc = cw_error_set(err, CW_ESIG, CW_SEC_MOD,
                                  "signature of %s does not verify: the document's digest is not "
                                  "the Reference's DigestValue",
                                  partner->party_id);
                goto out;
            }
            if (ok) {
                *cert_index_out = i;
                if (doc_sha_set != NULL) {
                    *doc_sha_set = doc_sha_out != NULL;
                }
                goto out;
            }
            continue;
        }
        if (verify_with(t, &partner->certs[i], sig, legacy_ok, &crypto_err)) {
            *cert_index_out = i;
            goto out;
        }
        if (crypto_err) {
            *problem_out = CW_SEC_PROBLEM_INTERNAL;
            rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "xmlsec: %s", t->xmlsec_err);
            goto out;
        }
    }
    if (tried == 0 && expired > 0) {
        *problem_out = CW_SEC_PROBLEM_CERTIFICATE_EXPIRED;
        rc = cw_error_set(err, CW_ESIG, CW_SEC_MOD, "no certificate of %s is valid now",
                          partner->party_id);
        goto out;
    }
    if (tried == 0) {
        *problem_out = CW_SEC_PROBLEM_SIGNATURE_INVALID;
        rc = cw_error_set(err, CW_ESIG, CW_SEC_MOD,
                          "no certificate of %s has the signature's key type", partner->party_id);
        goto out;
    }
    *problem_out = CW_SEC_PROBLEM_SIGNATURE_INVALID;
    rc =
        cw_error_set(err, CW_ESIG, CW_SEC_MOD,
                     "signature does not verify with %zu registered certificate(s) of %s%s%s",
                     tried, partner->party_id, t->xmlsec_err[0] != '\0' ? ": " : "", t->xmlsec_err);
out:
    if (t != NULL) {
        cw_sec__thread_reset_errors(t);
    }
    return rc;
}

/* ==== Envelopes ==== */

/* The one child of Header named name, as text. */
static int header_field(char *out, size_t size, const xmlNode *header, const char *name)
{
    const xmlNode *n;
    const xmlNode *found = NULL;

    for (n = cw_sec__first_elem(header); n != NULL; n = cw_sec__next_elem(n)) {
        if (cw_sec__is_elem(n, ENVELOPE_NS, name)) {
            if (found != NULL) {
                return CW_EPROTO;
            }
            found = n;
        }
    }
    if (found == NULL) {
        return CW_EPROTO;
    }
    if (cw_sec__elem_text(out, size, found) < 0 || out[0] == '\0') {
        return CW_EPROTO;
    }
    return 0;
}

int cw_sec_envelope_verify(cw_sec_verified_t *out,
                           const cw_sec_keys_t *keys,
                           xmlDoc *doc,
                           const cw_sec_verify_opts_t *opts,
                           cw_error_t *err)
{
    const cw_sec_verify_opts_t defaults = CW_SEC_VERIFY_OPTS_INIT;
    const cw_sec_partner_t *partner;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *header;
    char ts[64];
    int64_t now_s;
    int64_t skew;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (opts == NULL) {
        opts = &defaults;
    }
    now_s = opts->now_s != 0 ? opts->now_s : cw_time_wall_s();

    header = root != NULL ? cw_sec__first_elem(root) : NULL;
    if (!cw_sec__is_elem(root, ENVELOPE_NS, "Envelope")
        || !cw_sec__is_elem(header, ENVELOPE_NS, "Header")) {
        out->problem = CW_SEC_PROBLEM_HEADER_INVALID;
        rc = cw_error_set(err, CW_EPROTO, CW_SEC_MOD, "not an {%s}Envelope with a Header",
                          ENVELOPE_NS);
        goto out;
    }
    if (header_field(out->from, sizeof(out->from), header, "From") < 0) {
        out->problem = CW_SEC_PROBLEM_HEADER_INVALID;
        rc = cw_error_set(err, CW_EPROTO, CW_SEC_MOD, "Header/From missing, repeated or not text");
        goto out;
    }
    if (header_field(ts, sizeof(ts), header, "Timestamp") < 0
        || cw_sec__time_parse(ts, &out->timestamp_s) < 0) {
        out->problem = CW_SEC_PROBLEM_HEADER_INVALID;
        rc = cw_error_set(err, CW_EPROTO, CW_SEC_MOD, "Header/Timestamp missing or not RFC 3339");
        goto out;
    }
    partner = cw_sec__keys_partner(keys, out->from);
    if (partner == NULL) {
        out->problem = CW_SEC_PROBLEM_UNKNOWN_SENDER;
        rc = cw_error_set(err, CW_EPERM, CW_SEC_MOD, "From %s is not a registered partner",
                          out->from);
        goto out;
    }
    if (opts->peer_party_id != NULL && strcmp(opts->peer_party_id, out->from) != 0) {
        out->problem = CW_SEC_PROBLEM_SENDER_MISMATCH;
        rc = cw_error_set(err, CW_EPERM, CW_SEC_MOD, "From %s but the TLS client is %s", out->from,
                          opts->peer_party_id);
        goto out;
    }
    CW_TRY(cw_sec__dsig_verify(partner, doc, now_s, &out->cert_index,
                               opts->want_doc_sha256 ? out->doc_sha256 : NULL, &out->has_doc_sha256,
                               &out->problem, err));
    out->authenticated = 1;

    skew = out->timestamp_s - now_s;
    if (skew > (int64_t)opts->skew_s || -skew > (int64_t)opts->skew_s) {
        out->problem = CW_SEC_PROBLEM_STALE_MESSAGE;
        rc = cw_error_set(err, CW_ESTALE, CW_SEC_MOD,
                          "Timestamp %s is %lld s from now (window %u s)", ts, (long long)skew,
                          (unsigned)opts->skew_s);
        goto out;
    }
    if (opts->schemas != NULL) {
        rc = cw_sec_schemas_validate(opts->schemas, CW_SEC_SCHEMA_ENVELOPE, doc, err);
        if (rc < 0) {
            out->problem = CW_SEC_PROBLEM_SCHEMA_INVALID;
            goto out;
        }
    }
    out->problem = CW_SEC_PROBLEM_NONE;
out:
    return rc;
}

/* ==== Signing ==== */

int cw_sec_doc_sign(const cw_sec_keys_t *keys, xmlDoc *doc, cw_error_t *err)
{
    return cw_sec_doc_sign_profile(keys, doc, CW_SEC_SIGN_CLEARWAY, err);
}

/*
 * XML-DSig wants an ECDSA SignatureValue as r || s, each left-padded to the
 * size of the group order; EVP_DigestSign gives DER. Rewrites sig in place
 * (cap bytes, what EVP_DigestSignFinal said the DER form may need).
 */
static int
ecdsa_der_to_raw(unsigned char *sig, size_t *len, size_t cap, size_t order, cw_error_t *err)
{
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)*len);
    const BIGNUM *r = NULL;
    const BIGNUM *s = NULL;
    unsigned char raw[2 * 66];
    int rc = 0;

    if (es == NULL || order == 0 || order > 66 || 2 * order > cap) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "ECDSA signature not in DER form");
        goto out;
    }
    ECDSA_SIG_get0(es, &r, &s);
    if (BN_bn2binpad(r, raw, (int)order) < 0 || BN_bn2binpad(s, raw + order, (int)order) < 0) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "ECDSA signature too long for its curve");
        goto out;
    }
    memcpy(sig, raw, 2 * order);
    *len = 2 * order;
out:
    ECDSA_SIG_free(es);
    return rc;
}

/* Sets the text of elem to base64(data), one line. */
static int set_b64(xmlNode *elem, const unsigned char *data, size_t len)
{
    xmlChar *b64 = xmlSecBase64Encode(data, (xmlSecSize)len, 0);

    if (b64 == NULL) {
        return CW_ENOMEM;
    }
    xmlNodeSetContent(elem, b64);
    xmlFree(b64);
    return 0;
}

/* The signature value of what md has been given (cw_sec__sign_init'd
 * with the node key): *sv (OPENSSL_free) and *sv_len, an ECDSA value as
 * r||s as XML-DSig wants it. */
static int sign_value(
    EVP_MD_CTX *md, const cw_sec_keys_t *keys, unsigned char **sv, size_t *sv_len, cw_error_t *err)
{
    size_t cap = 0;
    int rc = 0;

    *sv = NULL;
    *sv_len = 0;
    /* md is finalised once and then freed: without the flag, OpenSSL 3
     * signs with a copy of its key context, made and freed for the call. */
    EVP_MD_CTX_set_flags(md, EVP_MD_CTX_FLAG_FINALISE);
    if (EVP_DigestSignFinal(md, NULL, &cap) != 1) {
        return cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "signing failed");
    }
    *sv = OPENSSL_malloc(cap);
    if (*sv == NULL) {
        return cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "out of memory");
    }
    *sv_len = cap;
    if (EVP_DigestSignFinal(md, *sv, sv_len) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "signing failed");
        goto out;
    }
    if (!keys->node_key_is_rsa) {
        CW_TRY(ecdsa_der_to_raw(*sv, sv_len, cap,
                                (size_t)(EVP_PKEY_get_bits(keys->node_pkey) + 7) / 8, err));
    }
out:
    if (rc < 0) {
        OPENSSL_free(*sv);
        *sv = NULL;
        *sv_len = 0;
    }
    return rc;
}

/* Signs doc; canon (CLEARWAY only), when not NULL, gets the signed
 * document's exclusive canonical form (cw_sec__c14n_spliced). */
static int doc_sign(const cw_sec_keys_t *keys,
                    xmlDoc *doc,
                    cw_sec_sign_profile_e profile,
                    cw_buf_t *canon,
                    cw_error_t *err)
{
    /* The CEB profile is what China's cross-border e-commerce platform
     * verifies: inclusive C14N and SHA-1 (RSA-SHA1 with an RSA key). */
    int ceb = profile == CW_SEC_SIGN_CEB;
    xmlSecTransformId c14n = ceb ? xmlSecTransformInclC14NId : xmlSecTransformExclC14NId;
    xmlSecTransformId digest = ceb ? xmlSecTransformSha1Id : xmlSecTransformSha256Id;
    xmlSecTransformId method =
        keys->node_key_is_rsa ? (ceb ? xmlSecTransformRsaSha1Id : xmlSecTransformRsaSha256Id)
                              : (ceb ? xmlSecTransformEcdsaSha1Id : xmlSecTransformEcdsaSha256Id);
    int mode = ceb ? XML_C14N_1_0 : XML_C14N_EXCLUSIVE_1_0;
    const EVP_MD *md_alg = ceb ? cw_sec__sha1() : cw_sec_sha256_md();
    xmlNode *root = xmlDocGetRootElement(doc);
    EVP_MD_CTX *md = NULL;
    unsigned char dv[EVP_MAX_MD_SIZE];
    unsigned int dv_len = 0;
    unsigned char *sv = NULL;
    size_t sv_len = 0;
    xmlNode *sig = NULL;
    xmlNode *si;
    xmlNode *ref;
    xmlNode *dv_node;
    xmlNode *sv_node;
    xmlNode *ki;
    xmlNode *xd;
    xmlNode *xc;
    cw_buf_t kept; /* the Reference's canonical form, for canon */
    size_t skip_at = SIZE_MAX;
    int rc = 0;

    cw_buf_init(&kept, 0);
    if (canon != NULL && ceb) {
        rc = cw_error_set(err, CW_EINVAL, CW_SEC_MOD, "the canonical form is Clearway's profile's");
        goto out;
    }
    if (keys->node_pkey == NULL) {
        rc = cw_error_set(err, CW_EINVAL, CW_SEC_MOD, "this trust snapshot has no node key");
        goto out;
    }
    if (root == NULL || signature_count(root) != 0) {
        rc = cw_error_set(err, CW_EINVAL, CW_SEC_MOD, "document empty or already signed");
        goto out;
    }
    /* The "ds" prefix keeps the envelope's default namespace untouched. */
    sig = xmlSecTmplSignatureCreateNsPref(doc, c14n, method, NULL, (const xmlChar *)"ds");
    CW_CHECK_ALLOC(sig);
    if (xmlAddChild(root, sig) == NULL) {
        xmlFreeNode(sig);
        sig = NULL;
        rc = CW_ENOMEM;
        goto out;
    }
    ref = xmlSecTmplSignatureAddReference(sig, digest, NULL, (const xmlChar *)"", NULL);
    CW_CHECK_ALLOC(ref);
    if (xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) == NULL
        || xmlSecTmplReferenceAddTransform(ref, c14n) == NULL) {
        rc = CW_ENOMEM;
        goto out;
    }
    si = xmlSecFindChild(sig, xmlSecNodeSignedInfo, xmlSecDSigNs);
    dv_node = xmlSecFindChild(ref, xmlSecNodeDigestValue, xmlSecDSigNs);
    sv_node = xmlSecFindChild(sig, xmlSecNodeSignatureValue, xmlSecDSigNs);
    if (si == NULL || dv_node == NULL || sv_node == NULL) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "signature template incomplete");
        goto out;
    }

    /*
     * What xmlsec's sign would do, without its node sets: the Reference is
     * the whole document minus the Signature (enveloped-signature), the
     * signature covers SignedInfo; both canonicalised by c14n.c (the bytes
     * of libxml2's xmlC14NExecute, which it falls back to) into OpenSSL.
     * Other receivers verify with xmlsec (and cw_sec__dsig_verify agrees
     * with it, tested both ways); tests check the
     * round trip and that xmlsec accepts what this writes.
     */
    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, md_alg, NULL) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "digest init failed");
        goto out;
    }
    if (canon != NULL) {
        cw_buf_fini(&kept);
        CW_TRY(cw_sec__c14n_update_kept(md, doc, sig, &kept, &skip_at, err));
    } else {
        CW_TRY(cw_sec__c14n_update(md, CW_SEC_SINK_DIGEST, doc, NULL, sig, mode, err));
    }
    if (EVP_DigestFinal_ex(md, dv, &dv_len) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "digest failed");
        goto out;
    }
    CW_TRY(set_b64(dv_node, dv, dv_len));

    if (EVP_MD_CTX_reset(md) != 1 || cw_sec__sign_init(md, md_alg, keys->node_pkey) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "signing init failed");
        goto out;
    }
    CW_TRY(cw_sec__c14n_update(md, CW_SEC_SINK_SIGN, doc, si, NULL, mode, err));
    CW_TRY(sign_value(md, keys, &sv, &sv_len, err));
    CW_TRY(set_b64(sv_node, sv, sv_len));

    /*
     * KeyInfo is added after signing, with the certificate cached at load:
     * it is outside what the signature covers (the enveloped transform
     * removes the whole Signature).
     */
    ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL);
    xd = ki != NULL ? xmlSecTmplKeyInfoAddX509Data(ki) : NULL;
    xc = xd != NULL ? xmlSecTmplX509DataAddCertificate(xd) : NULL;
    CW_CHECK_ALLOC(xc);
    xmlNodeSetContent(xc, (const xmlChar *)keys->node_cert_b64);
    if (canon != NULL) {
        /* The canonical form above with the Signature, now complete,
         * spliced in where it was left out. */
        CW_TRY(cw_sec__c14n_spliced(canon, doc, &kept, skip_at, sig, err));
    }
    sig = NULL;
out:
    cw_buf_fini(&kept);
    EVP_MD_CTX_free(md);
    OPENSSL_free(sv);
    if (sig != NULL) {
        xmlUnlinkNode(sig);
        xmlFreeNode(sig);
    }
    ERR_clear_error();
    return rc;
}

int cw_sec_doc_sign_profile(const cw_sec_keys_t *keys,
                            xmlDoc *doc,
                            cw_sec_sign_profile_e profile,
                            cw_error_t *err)
{
    return doc_sign(keys, doc, profile, NULL, err);
}

int cw_sec_doc_sign_c14n(const cw_sec_keys_t *keys,
                         xmlDoc *doc,
                         char **out,
                         size_t *out_len,
                         unsigned char digest[32],
                         cw_error_t *err)
{
    cw_buf_t canon;
    int rc;

    *out = NULL;
    *out_len = 0;
    cw_buf_init(&canon, SIGN_C14N_MAX);
    rc = doc_sign(keys, doc, CW_SEC_SIGN_CLEARWAY, &canon, err);
    if (rc == 0 && canon.data == NULL && cw_buf_append(&canon, "", 0) != 0) {
        rc = cw_error_set(err, CW_ENOMEM, CW_SEC_MOD, "out of memory");
    }
    /* SHA-256 as fetched at start-up (SHA256() fetches it on every call). */
    if (rc == 0 && digest != NULL
        && EVP_Digest(canon.data, canon.len, digest, NULL, cw_sec_sha256_md(), NULL) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "SHA-256 failed");
    }
    if (rc == 0) {
        char *fit;

        *out = cw_buf_detach(&canon, out_len);
        /* The buffer grew in powers of two; what is handed out may be held
         * a while (a manifest's envelopes until their commit), so it is
         * given back its slack. */
        fit = cw_realloc(*out, *out_len + 1);
        if (fit != NULL) {
            *out = fit;
        }
    }
    cw_buf_fini(&canon);
    return rc;
}

/* ==== Signing a document written in canonical form ==== */

/* The Signature cw_sec_doc_sign makes, in exclusive canonical form: xmlsec's
 * template puts a line feed before each child element and before each end
 * tag of an element with children. SignedInfo's content (after its start
 * tag), the Signature's tail after SignedInfo, then. */
#define DS_METHOD_HEAD                                        \
    "\n<ds:CanonicalizationMethod Algorithm=\"" HREF_EXC_C14N \
    "\"></ds:CanonicalizationMethod>\n<ds:SignatureMethod Algorithm=\""
#define DS_METHOD_TAIL                                                     \
    "\"></ds:SignatureMethod>\n<ds:Reference URI=\"\">\n<ds:Transforms>\n" \
    "<ds:Transform Algorithm=\"" HREF_ENVELOPED "\"></ds:Transform>\n"     \
    "<ds:Transform Algorithm=\"" HREF_EXC_C14N "\"></ds:Transform>\n"      \
    "</ds:Transforms>\n<ds:DigestMethod Algorithm=\"" HREF_SHA256          \
    "\"></ds:DigestMethod>\n<ds:DigestValue>"
#define DS_SIGNED_INFO_END "</ds:DigestValue>\n</ds:Reference>\n</ds:SignedInfo>"
#define DS_SIGNATURE_HEAD  "<ds:Signature xmlns:ds=\"" CW_SEC_DS_NS "\">\n<ds:SignedInfo>"
#define DS_KEYINFO_HEAD    "</ds:SignatureValue>\n<ds:KeyInfo>\n<ds:X509Data>\n<ds:X509Certificate>"
#define DS_SIGNATURE_END   "</ds:X509Certificate>\n</ds:X509Data>\n</ds:KeyInfo>\n</ds:Signature>"

/* Appends the base64 of data (no line breaks, as xmlSecBase64Encode with no
 * columns writes it). */
static int buf_put_b64(cw_buf_t *out, const unsigned char *data, size_t len)
{
    size_t need = 4 * ((len + 2) / 3);
    int rc = 0;

    if (len > (size_t)INT_MAX / 2) {
        return CW_E2BIG;
    }
    CW_TRY(cw_buf_reserve(out, need + 1));
    (void)EVP_EncodeBlock((unsigned char *)out->data + out->len, data, (int)len);
    out->len += need;
    out->data[out->len] = '\0';
out:
    return rc;
}

int cw_sec_sign_written(const cw_sec_keys_t *keys,
                        const char *doc,
                        size_t len,
                        size_t sig_at,
                        char **out,
                        size_t *out_len,
                        unsigned char digest[32],
                        cw_error_t *err)
{
    const char *method = keys->node_key_is_rsa ? HREF_RSA256 : HREF_ECDSA256;
    unsigned char dv[32];
    unsigned char *sv = NULL;
    size_t sv_len = 0;
    EVP_MD_CTX *md = NULL;
    EVP_MD_CTX *ref = NULL;  /* the Reference's digest */
    EVP_MD_CTX *sent = NULL; /* the digest of the bytes sent */
    cw_buf_t body;           /* SignedInfo after its start tag */
    cw_buf_t si;             /* SignedInfo as the signature's apex */
    cw_buf_t all;
    int rc = 0;

    *out = NULL;
    *out_len = 0;
    cw_buf_init(&body, SIGN_C14N_MAX);
    cw_buf_init(&si, SIGN_C14N_MAX);
    cw_buf_init(&all, SIGN_C14N_MAX);
    if (keys->node_pkey == NULL) {
        rc = cw_error_set(err, CW_EINVAL, CW_SEC_MOD, "this trust snapshot has no node key");
        goto out;
    }
    if (sig_at > len || len > SIGN_C14N_MAX / 2) {
        rc = cw_error_set(err, CW_EINVAL, CW_SEC_MOD, "no place for the Signature");
        goto out;
    }
    /* The Reference: the document without its Signature, as written. The
     * bytes sent begin with the same sig_at bytes: their digest goes on
     * from a copy of this one's state. */
    ref = EVP_MD_CTX_new();
    if (ref == NULL || EVP_DigestInit_ex(ref, cw_sec_sha256_md(), NULL) != 1
        || EVP_DigestUpdate(ref, doc, sig_at) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "digest failed");
        goto out;
    }
    if (digest != NULL
        && ((sent = EVP_MD_CTX_new()) == NULL || EVP_MD_CTX_copy_ex(sent, ref) != 1)) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "digest failed");
        goto out;
    }
    if (EVP_DigestUpdate(ref, doc + sig_at, len - sig_at) != 1
        || EVP_DigestFinal_ex(ref, dv, NULL) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "digest failed");
        goto out;
    }
    rc = cw_buf_appends(&body, DS_METHOD_HEAD);
    rc = rc == 0 ? cw_buf_appends(&body, method) : rc;
    rc = rc == 0 ? cw_buf_appends(&body, DS_METHOD_TAIL) : rc;
    rc = rc == 0 ? buf_put_b64(&body, dv, sizeof(dv)) : rc;
    rc = rc == 0 ? cw_buf_appends(&body, DS_SIGNED_INFO_END) : rc;
    rc = rc == 0 ? cw_buf_appends(&si, "<ds:SignedInfo xmlns:ds=\"" CW_SEC_DS_NS "\">") : rc;
    rc = rc == 0 ? cw_buf_append(&si, body.data, body.len) : rc;
    if (rc < 0) {
        rc = cw_error_set(err, rc, CW_SEC_MOD, "cannot write the signature: %s", cw_strerror(rc));
        goto out;
    }

    md = EVP_MD_CTX_new();
    if (md == NULL || cw_sec__sign_init(md, cw_sec_sha256_md(), keys->node_pkey) != 1
        || EVP_DigestSignUpdate(md, si.data, si.len) != 1) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "signing failed");
        goto out;
    }
    CW_TRY(sign_value(md, keys, &sv, &sv_len, err));

    /* The Signature spliced in where it goes, in one allocation. */
    rc = cw_buf_reserve(&all,
                        len + body.len + 4 * (sv_len + 2) / 3 + strlen(keys->node_cert_b64) + 512);
    rc = rc == 0 ? cw_buf_append(&all, doc, sig_at) : rc;
    rc = rc == 0 ? cw_buf_appends(&all, DS_SIGNATURE_HEAD) : rc;
    rc = rc == 0 ? cw_buf_append(&all, body.data, body.len) : rc;
    rc = rc == 0 ? cw_buf_appends(&all, "\n<ds:SignatureValue>") : rc;
    rc = rc == 0 ? buf_put_b64(&all, sv, sv_len) : rc;
    rc = rc == 0 ? cw_buf_appends(&all, DS_KEYINFO_HEAD) : rc;
    rc = rc == 0 ? cw_sec_c14n_put_text(&all, keys->node_cert_b64) : rc;
    rc = rc == 0 ? cw_buf_appends(&all, DS_SIGNATURE_END) : rc;
    rc = rc == 0 ? cw_buf_append(&all, doc + sig_at, len - sig_at) : rc;
    if (rc < 0) {
        rc = cw_error_set(err, rc, CW_SEC_MOD, "cannot write the signature: %s", cw_strerror(rc));
        goto out;
    }
    if (digest != NULL
        && (EVP_DigestUpdate(sent, all.data + sig_at, all.len - sig_at) != 1
            || EVP_DigestFinal_ex(sent, digest, NULL) != 1)) {
        rc = cw_error_set(err, CW_ECRYPTO, CW_SEC_MOD, "SHA-256 failed");
        goto out;
    }
    *out = cw_buf_detach(&all, out_len);
    {
        /* Given back its slack, as cw_sec_doc_sign_c14n's. */
        char *fit = cw_realloc(*out, *out_len + 1);

        if (fit != NULL) {
            *out = fit;
        }
    }
out:
    if (rc < 0) {
        /* Nothing of a failure left in this thread's OpenSSL error queue
         * (doc_sign's rule). */
        ERR_clear_error();
    }
    EVP_MD_CTX_free(md);
    EVP_MD_CTX_free(ref);
    EVP_MD_CTX_free(sent);
    OPENSSL_free(sv);
    cw_buf_fini(&all);
    cw_buf_fini(&si);
    cw_buf_fini(&body);
    return rc;
}
