/*
 * Fuzz target: the receipt a node gets back from a peer after a delivery,
 * hostile input from the network. cw_sec_xml_parse then
 * cw_sec_receipt_verify (sec/receipt.c), called as verify_work in
 * pipeline/delivery.c calls it: node alice sent MessageId SENT_ID whose
 * digest is sent_sha, and expects a receipt from the peer it delivered to.
 *
 * Keys: the receipts in corpus/receipt/ are real, signed receipts, so the
 * keys must be the same on every run. LLVMFuzzerInitialize therefore derives
 * them from fixed labels (a hash stream), not from a random generator:
 *   hub    ECDSA P-256; certificate issued by depot's key
 *   depot  RSA 2048; self-signed certificate
 * Both certificates are signed with PKCS#1 v1.5, so their bytes (which a
 * KeyInfo must match) are the same on every run too. These keys are public
 * by construction: they exist for this target only and must never be
 * trusted anywhere else. No key file is committed; the PEM files that
 * cw_sec_keys_new reads live in a private mkdtemp directory for the
 * duration of the start-up only. The clock is fixed at FUZZ_NOW_S
 * (2026-01-15T10:00:00Z), the Timestamp of the seeds.
 *
 * Each input is verified with alice's trust snapshot, with hub and with
 * depot as the expected peer, and checked against the contracts of sec.h
 * (see the "contract broken" lines). A receipt that stops at
 * "signature-missing" (readable, From is the expected peer, unsigned) is
 * signed with that peer's key and verified again, so that mutated receipts
 * with genuine signatures reach the MessageId, digest, timestamp and schema
 * checks, which a byte mutator could never reach by forging a signature.
 *
 * With CW_FUZZ_RECEIPT_SEEDS=<dir> in the environment, the start-up writes
 * the seed receipts into dir and exits (fuzz/README.md).
 */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>
#include <xmlsec/base64.h>

#include "fuzz_common.h"
#include "sec.h"
#include "sec/internal.h" /* cw_sec__verify_xmlsec_only */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TARGET       "fuzz_receipt"
#define FUZZ_NOW_S   INT64_C(1768471200) /* 2026-01-15T10:00:00Z */
#define CERT_FROM_S  INT64_C(1577836800) /* 2020-01-01T00:00:00Z */
#define CERT_UNTIL_S INT64_C(4102444800) /* 2100-01-01T00:00:00Z */
#define SENT_ID      "m-fuzz-1"
#define SENT_LABEL   "clearway fuzz_receipt: the envelope alice sent"

/* Built once by LLVMFuzzerInitialize, read-only afterwards. */
static struct {
    cw_conf_limits_t limits;
    cw_sec_schemas_t *schemas;
    cw_sec_keys_t *alice; /* node alice (no key); partners hub and depot */
    cw_sec_keys_t *hub;   /* node hub, ECDSA key: signs hub's receipts */
    cw_sec_keys_t *depot; /* node depot, RSA key: signs depot's receipts */
    unsigned char sent_sha[32];
} fz;

_Noreturn static void init_fail(const char *what)
{
    fprintf(stderr, TARGET ": start-up failed: %s\n", what);
    exit(1);
}

static void contract_fail(const char *what, const char *expected, const cw_error_t *err)
{
    fprintf(stderr, TARGET ": contract broken: %s (expected From %s; last error %s: %s)\n", what,
            expected, cw_err_name(err->code), err->msg);
    abort();
}

/* ==== Start-up: keys derived from fixed labels ==== */

/* len bytes of SHA-256(label || counter) blocks. */
static void stream_bytes(unsigned char *out, size_t len, const char *label)
{
    unsigned char block[32];
    unsigned char ctr[4];
    uint32_t i;
    size_t n;
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    for (i = 0; len > 0 && md != NULL; i++) {
        ctr[0] = (unsigned char)(i >> 24);
        ctr[1] = (unsigned char)(i >> 16);
        ctr[2] = (unsigned char)(i >> 8);
        ctr[3] = (unsigned char)i;
        if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1
            || EVP_DigestUpdate(md, label, strlen(label)) != 1
            || EVP_DigestUpdate(md, ctr, sizeof(ctr)) != 1
            || EVP_DigestFinal_ex(md, block, NULL) != 1) {
            init_fail("SHA-256");
        }
        n = len < sizeof(block) ? len : sizeof(block);
        memcpy(out, block, n);
        out += n;
        len -= n;
    }
    if (md == NULL) {
        init_fail("EVP_MD_CTX_new");
    }
    EVP_MD_CTX_free(md);
}

static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *pkey = NULL;

    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1
        || EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params) != 1) {
        init_fail(type);
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return pkey;
}

/* A P-256 key whose private scalar is SHA-256(label) (reduced into range). */
static EVP_PKEY *ec_key_derive(const char *label)
{
    unsigned char seed[32];
    unsigned char pub[65];
    EC_GROUP *group = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_POINT *point = group != NULL ? EC_POINT_new(group) : NULL;
    BIGNUM *d = BN_new();
    BIGNUM *order_1 = BN_new();
    BN_CTX *bn = BN_CTX_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey;

    stream_bytes(seed, sizeof(seed), label);
    /* d in [1, order - 1]. */
    if (point == NULL || d == NULL || order_1 == NULL || bn == NULL || bld == NULL
        || BN_bin2bn(seed, (int)sizeof(seed), d) == NULL
        || BN_copy(order_1, EC_GROUP_get0_order(group)) == NULL || BN_sub_word(order_1, 1) != 1
        || BN_nnmod(d, d, order_1, bn) != 1 || BN_add_word(d, 1) != 1
        || EC_POINT_mul(group, point, d, NULL, NULL, bn) != 1
        || EC_POINT_point2oct(group, point, POINT_CONVERSION_UNCOMPRESSED, pub, sizeof(pub), bn)
               != sizeof(pub)
        || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1
        || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub)) != 1) {
        init_fail("EC key derivation");
    }
    pkey = pkey_from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_CTX_free(bn);
    BN_free(order_1);
    BN_clear_free(d);
    EC_POINT_free(point);
    EC_GROUP_free(group);
    return pkey;
}

/* The first 1024-bit prime p >= a hash of label with gcd(p - 1, 65537) = 1. */
static BIGNUM *prime_derive(const char *label, BN_CTX *bn)
{
    unsigned char seed[128];
    BIGNUM *p = BN_new();

    stream_bytes(seed, sizeof(seed), label);
    seed[0] |= 0xc0; /* two top bits: the product has exactly 2048 bits */
    seed[sizeof(seed) - 1] |= 1;
    if (p == NULL || BN_bin2bn(seed, (int)sizeof(seed), p) == NULL) {
        init_fail("RSA prime");
    }
    while (BN_check_prime(p, bn, NULL) != 1 || BN_mod_word(p, 65537) == 1) {
        if (BN_add_word(p, 2) != 1) {
            init_fail("RSA prime");
        }
    }
    return p;
}

/* An RSA 2048 key (e = 65537) whose primes are derived from label. */
static EVP_PKEY *rsa_key_derive(const char *label)
{
    char plabel[160];
    BN_CTX *bn = BN_CTX_new();
    BIGNUM *p;
    BIGNUM *q;
    BIGNUM *n = BN_new();
    BIGNUM *e = BN_new();
    BIGNUM *d = BN_new();
    BIGNUM *p1 = BN_new();
    BIGNUM *q1 = BN_new();
    BIGNUM *phi = BN_new();
    BIGNUM *dp = BN_new();
    BIGNUM *dq = BN_new();
    BIGNUM *qinv = BN_new();
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey;

    if (bn == NULL) {
        init_fail("BN_CTX_new");
    }
    (void)snprintf(plabel, sizeof(plabel), "%s p", label);
    p = prime_derive(plabel, bn);
    (void)snprintf(plabel, sizeof(plabel), "%s q", label);
    q = prime_derive(plabel, bn);
    if (BN_cmp(p, q) == 0 || n == NULL || e == NULL || d == NULL || p1 == NULL || q1 == NULL
        || phi == NULL || dp == NULL || dq == NULL || qinv == NULL || bld == NULL
        || BN_mul(n, p, q, bn) != 1 || BN_set_word(e, 65537) != 1
        || BN_sub(p1, p, BN_value_one()) != 1 || BN_sub(q1, q, BN_value_one()) != 1
        || BN_mul(phi, p1, q1, bn) != 1 || BN_mod_inverse(d, e, phi, bn) == NULL
        || BN_mod(dp, d, p1, bn) != 1 || BN_mod(dq, d, q1, bn) != 1
        || BN_mod_inverse(qinv, q, p, bn) == NULL
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) != 1
        || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qinv) != 1) {
        init_fail("RSA key derivation");
    }
    pkey = pkey_from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_clear_free(qinv);
    BN_clear_free(dq);
    BN_clear_free(dp);
    BN_clear_free(phi);
    BN_clear_free(q1);
    BN_clear_free(p1);
    BN_clear_free(d);
    BN_free(e);
    BN_free(n);
    BN_clear_free(q);
    BN_clear_free(p);
    BN_CTX_free(bn);
    return pkey;
}

/* The files pki_write puts into the temp dir. */
typedef enum pki_file_e {
    PKI_HUB_KEY = 0,
    PKI_HUB_PEM = 1,
    PKI_DEPOT_KEY = 2,
    PKI_DEPOT_PEM = 3,
    PKI_FILE_COUNT = 4,
} pki_file_e;

#define PKI_PATH_BYTES 600

static void pki_write(char paths[PKI_FILE_COUNT][PKI_PATH_BYTES], const char *dir)
{
    static const char *const names[PKI_FILE_COUNT] = { "hub.key", "hub.pem", "depot.key",
                                                       "depot.pem" };
    EVP_PKEY *hub = ec_key_derive("clearway fuzz_receipt: hub P-256");
    EVP_PKEY *depot = rsa_key_derive("clearway fuzz_receipt: depot RSA 2048");
    /* Issued with RSA, so the signature and the whole DER are the same
     * on every run. */
    X509 *hub_cert = cw_fuzz_cert_make(TARGET, hub, "hub", 1, depot, "fuzz_receipt CA", CERT_FROM_S,
                                       CERT_UNTIL_S);
    X509 *depot_cert =
        cw_fuzz_cert_make(TARGET, depot, "depot", 2, NULL, NULL, CERT_FROM_S, CERT_UNTIL_S);
    size_t i;

    for (i = 0; i < PKI_FILE_COUNT; i++) {
        if ((size_t)snprintf(paths[i], PKI_PATH_BYTES, "%s/%s", dir, names[i]) >= PKI_PATH_BYTES) {
            init_fail("temp path too long");
        }
    }
    cw_fuzz_pem_write(TARGET, paths[PKI_HUB_KEY], hub, NULL);
    cw_fuzz_pem_write(TARGET, paths[PKI_HUB_PEM], NULL, hub_cert);
    cw_fuzz_pem_write(TARGET, paths[PKI_DEPOT_KEY], depot, NULL);
    cw_fuzz_pem_write(TARGET, paths[PKI_DEPOT_PEM], NULL, depot_cert);
    X509_free(hub_cert);
    X509_free(depot_cert);
    EVP_PKEY_free(hub);
    EVP_PKEY_free(depot);
}

static cw_sec_keys_t *snapshot_new(const char *node_id,
                                   const char *key_path,
                                   const char *cert_path,
                                   const cw_sec_partner_conf_t *partners,
                                   size_t partner_count)
{
    cw_sec_keys_conf_t conf;
    cw_sec_keys_t *keys = NULL;
    cw_error_t err;

    memset(&conf, 0, sizeof(conf));
    conf.node_id = node_id;
    conf.key_path = key_path;
    conf.cert_path = cert_path;
    conf.partners = partners;
    conf.partner_count = partner_count;
    cw_error_clear(&err);
    if (cw_sec_keys_new(&keys, &conf, &err) < 0) {
        init_fail(err.msg);
    }
    return keys;
}

/* Builds fz.alice, fz.hub and fz.depot, then deletes the files. */
static void keys_build(void)
{
    char paths[PKI_FILE_COUNT][PKI_PATH_BYTES];
    char dir[512];
    const char *hub_certs[1];
    const char *depot_certs[1];
    cw_sec_partner_conf_t partners[2];
    size_t i;

    cw_fuzz_tempdir(TARGET, dir, sizeof(dir));
    pki_write(paths, dir);
    hub_certs[0] = paths[PKI_HUB_PEM];
    depot_certs[0] = paths[PKI_DEPOT_PEM];
    memset(partners, 0, sizeof(partners));
    partners[0].party_id = "hub";
    partners[0].cert_paths = hub_certs;
    partners[0].cert_count = CW_ARRAY_SIZE(hub_certs);
    partners[1].party_id = "depot";
    partners[1].cert_paths = depot_certs;
    partners[1].cert_count = CW_ARRAY_SIZE(depot_certs);

    fz.alice = snapshot_new("alice", NULL, NULL, partners, CW_ARRAY_SIZE(partners));
    fz.hub = snapshot_new("hub", paths[PKI_HUB_KEY], paths[PKI_HUB_PEM], NULL, 0);
    fz.depot = snapshot_new("depot", paths[PKI_DEPOT_KEY], paths[PKI_DEPOT_PEM], NULL, 0);

    for (i = 0; i < PKI_FILE_COUNT; i++) {
        (void)unlink(paths[i]);
    }
    (void)rmdir(dir);
}

/* ==== Reading a receipt independently of receipt.c ==== */

#define RECEIPT_FIELD_COUNT 8

/* Schema order; Problem/Type is the eighth, when there is a Problem. */
static const char *const field_names[RECEIPT_FIELD_COUNT] = {
    "MessageId", "RefToMessageId", "From", "To", "Timestamp", "Status", "Digest", "Type"
};

static int is_receipt_elem(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL
           && xmlStrEqual(n->ns->href, (const xmlChar *)CW_SEC_RECEIPT_NS)
           && xmlStrEqual(n->name, (const xmlChar *)name);
}

static xmlNode *elem_next(xmlNode *n)
{
    while (n != NULL && n->type != XML_ELEMENT_NODE) {
        n = n->next;
    }
    return n;
}

/*
 * The field elements of a receipt that receipt.c read successfully (so they
 * are in schema order): fields[i] is field_names[i], NULL for a missing
 * Problem/Type. Returns how many were found.
 */
static size_t fields_find(xmlNode *fields[RECEIPT_FIELD_COUNT], xmlDoc *doc)
{
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *n = root != NULL ? elem_next(root->children) : NULL;
    size_t i;

    memset(fields, 0, RECEIPT_FIELD_COUNT * sizeof(*fields));
    for (i = 0; i < RECEIPT_FIELD_COUNT - 1 && is_receipt_elem(n, field_names[i]); i++) {
        fields[i] = n;
        n = elem_next(n->next);
    }
    if (i == RECEIPT_FIELD_COUNT - 1 && is_receipt_elem(n, "Problem")) {
        n = elem_next(n->children);
        if (is_receipt_elem(n, "Type")) {
            fields[i++] = n;
        }
    }
    return i;
}

/* The text of elem without leading and trailing XML white space (cw_malloc'd). */
static char *field_text(const xmlNode *elem)
{
    xmlChar *c = xmlNodeGetContent(elem);
    const char *s = c != NULL ? (const char *)c : "";
    size_t len = strlen(s);
    char *out;

    while (len > 0 && strchr(" \t\r\n", s[len - 1]) != NULL) {
        len--;
    }
    while (len > 0 && strchr(" \t\r\n", s[0]) != NULL) {
        s++;
        len--;
    }
    out = cw_strndup(s, len);
    if (c != NULL) {
        xmlFree(c);
    }
    return out;
}

/* Decodes the receipt's Digest; 1 when it is 32 bytes (into out), else 0. */
static int digest_read(unsigned char out[32], const xmlNode *digest_elem)
{
    char *text = field_text(digest_elem);
    unsigned char buf[128];
    xmlSecSize len = 0;
    int ok;

    ok = text != NULL && strlen(text) < 160
         && xmlSecBase64Decode_ex((const xmlChar *)text, buf, sizeof(buf), &len) == 0 && len == 32;
    if (ok) {
        memcpy(out, buf, 32);
    }
    cw_free(text);
    return ok;
}

/* ==== Verification and its contracts ==== */

typedef struct outcome {
    int rc;
    cw_sec_problem_e problem;
    cw_sec_receipt_t r;
    cw_error_t err;
} outcome_t;

/* The verifier established that expected signed it (sec.h: the checks after
 * the signature are the schema, MessageId, digest and timestamp). */
static int past_signature(const outcome_t *o)
{
    return o->rc == 0 || o->r.names_other || o->problem == CW_SEC_PROBLEM_STALE_MESSAGE;
}

static void verify(outcome_t *o,
                   xmlDoc *doc,
                   const char *expected,
                   const char *sent_id,
                   const unsigned char sent_sha[32],
                   int with_schema)
{
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_receipt_t other;
    cw_sec_problem_e other_problem = CW_SEC_PROBLEM_NONE;
    cw_error_t other_err;
    int other_rc;

    opts.now_s = FUZZ_NOW_S;
    opts.skew_s = fz.limits.timestamp_skew_s;
    opts.schemas = with_schema ? fz.schemas : NULL;
    memset(&o->r, 0xa5, sizeof(o->r)); /* what the call leaves unset shows */
    o->problem = CW_SEC_PROBLEM_DUPLICATE_MESSAGE_ID;
    cw_error_clear(&o->err);
    o->rc = cw_sec_receipt_verify(&o->r, fz.alice, doc, expected, sent_id, sent_sha, &opts,
                                  &o->problem, &o->err);

    /* The same through xmlsec alone (xmldsig.c verifies SHA-256 signatures
     * without it): the outcome and the problem kind must be the same. */
    cw_sec__verify_xmlsec_only(1);
    cw_error_clear(&other_err);
    other_rc = cw_sec_receipt_verify(&other, fz.alice, doc, expected, sent_id, sent_sha, &opts,
                                     &other_problem, &other_err);
    cw_sec__verify_xmlsec_only(0);
    if (o->rc != CW_ENOMEM && other_rc != CW_ENOMEM
        && (o->rc != other_rc || o->problem != other_problem)) {
        fprintf(stderr, TARGET ": native: %d %s (%s); xmlsec: %d %s (%s)\n", o->rc,
                cw_sec_problem_slug(o->problem), o->err.msg, other_rc,
                cw_sec_problem_slug(other_problem), other_err.msg);
        contract_fail("the native verification and xmlsec disagree", expected, &o->err);
    }
}

/* sec.h: the return code, the problem kind and the output agree. */
static void outcome_check(const outcome_t *o, const char *expected)
{
    const cw_sec_receipt_t *r = &o->r;

    if (o->rc > 0) {
        contract_fail("positive return code", expected, &o->err);
    }
    if (o->rc == 0 && o->problem != CW_SEC_PROBLEM_NONE) {
        contract_fail("verified with a problem kind", expected, &o->err);
    }
    if (o->rc < 0 && o->rc != CW_ENOMEM && o->problem == CW_SEC_PROBLEM_NONE) {
        contract_fail("refused without a problem kind", expected, &o->err);
    }
    if (o->rc < 0 && o->err.code != o->rc) {
        contract_fail("error detail does not match the return code", expected, &o->err);
    }
    if (o->problem == CW_SEC_PROBLEM_RECEIPT_MISMATCH && o->rc != CW_EPROTO) {
        contract_fail("receipt-mismatch without CW_EPROTO", expected, &o->err);
    }
    if (memchr(r->receipt_id, '\0', sizeof(r->receipt_id)) == NULL
        || memchr(r->from, '\0', sizeof(r->from)) == NULL
        || memchr(r->ref_message_id, '\0', sizeof(r->ref_message_id)) == NULL) {
        contract_fail("an output string is not terminated", expected, &o->err);
    }
    if (r->names_other != 0 && r->names_other != 1) {
        contract_fail("names_other is neither 0 nor 1", expected, &o->err);
    }
    if (r->names_other
        && (o->rc != CW_EPROTO || o->problem != CW_SEC_PROBLEM_RECEIPT_MISMATCH
            || strcmp(r->from, expected) != 0)) {
        contract_fail("names_other without receipt-mismatch from the expected party", expected,
                      &o->err);
    }
    if (o->rc == CW_EPERM && o->problem == CW_SEC_PROBLEM_UNKNOWN_SENDER
        && cw_sec_keys_has_partner(fz.alice, expected)) {
        contract_fail("a registered partner reported as unknown", expected, &o->err);
    }
}

/* sec.h: a verified receipt is from expected, to this node, for what was
 * sent, within the window; checked against the document itself. */
static void verified_check(const outcome_t *o,
                           xmlDoc *doc,
                           const char *expected,
                           const char *sent_id,
                           const unsigned char sent_sha[32])
{
    const cw_sec_receipt_t *r = &o->r;
    xmlNode *fields[RECEIPT_FIELD_COUNT];
    unsigned char named[32];
    char *status = NULL;
    char *to = NULL;
    int64_t skew = r->timestamp_s - FUZZ_NOW_S;

    if (r->names_other) {
        contract_fail("verified with names_other set", expected, &o->err);
    }
    if (strcmp(r->from, expected) != 0 || strcmp(r->ref_message_id, sent_id) != 0) {
        contract_fail("verified receipt from another party or for another MessageId", expected,
                      &o->err);
    }
    if (skew > (int64_t)fz.limits.timestamp_skew_s || -skew > (int64_t)fz.limits.timestamp_skew_s) {
        contract_fail("verified receipt outside the timestamp window", expected, &o->err);
    }
    if (r->status != CW_SEC_RECEIPT_ACCEPTED && r->status != CW_SEC_RECEIPT_REJECTED) {
        contract_fail("verified receipt without a status", expected, &o->err);
    }
    if (r->status == CW_SEC_RECEIPT_REJECTED && r->problem == CW_SEC_PROBLEM_NONE) {
        contract_fail("rejected receipt without a problem kind", expected, &o->err);
    }
    if (fields_find(fields, doc) < RECEIPT_FIELD_COUNT - 1) {
        contract_fail("verified receipt without its fields in schema order", expected, &o->err);
    }
    if (!digest_read(named, fields[6]) || memcmp(named, sent_sha, 32) != 0) {
        contract_fail("verified receipt does not name the digest sent", expected, &o->err);
    }
    status = field_text(fields[5]);
    to = field_text(fields[3]);
    if (status == NULL || to == NULL) {
        goto out;
    }
    if (strcmp(status, r->status == CW_SEC_RECEIPT_ACCEPTED ? "accepted" : "rejected") != 0) {
        contract_fail("reported status is not the receipt's Status", expected, &o->err);
    }
    if (strcmp(to, cw_sec_keys_node_id(fz.alice)) != 0) {
        contract_fail("verified receipt addressed to another node", expected, &o->err);
    }
out:
    cw_free(status);
    cw_free(to);
}

/*
 * sec.h: names_other means "signed by the expected party, but for another
 * MessageId or digest". Verifying the same receipt for the MessageId and
 * digest it names (as delivery.c does with the envelope) must then get past
 * the signature and the match.
 */
static void names_other_check(const outcome_t *o, xmlDoc *doc, const char *expected)
{
    xmlNode *fields[RECEIPT_FIELD_COUNT];
    unsigned char named[32];
    outcome_t again;
    int digest_ok;

    if (fields_find(fields, doc) < RECEIPT_FIELD_COUNT - 1) {
        contract_fail("names_other on a receipt without its fields", expected, &o->err);
    }
    digest_ok = digest_read(named, fields[6]);
    verify(&again, doc, expected, o->r.ref_message_id, digest_ok ? named : fz.sent_sha, 0);
    outcome_check(&again, expected);
    if (again.rc == CW_ENOMEM) {
        return;
    }
    if (digest_ok && again.rc != 0 && again.problem != CW_SEC_PROBLEM_STALE_MESSAGE) {
        contract_fail("names_other, but the receipt does not verify for what it names", expected,
                      &again.err);
    }
    if (!digest_ok && !again.r.names_other) {
        contract_fail("names_other, but not again for the MessageId it names", expected,
                      &again.err);
    }
}

/*
 * One field's text changed so that it still reads well (cw_malloc'd). From
 * and To keep their value and only gain white space around it: the
 * verifier would still read the same value, so only the signature can
 * refuse them.
 */
static char *tampered_text(size_t field, const char *text)
{
    size_t len = strlen(text);
    char *s;

    if (field == 5 && (strcmp(text, "accepted") == 0 || strcmp(text, "rejected") == 0)) {
        return cw_strdup(text[0] == 'a' ? "rejected" : "accepted");
    }
    s = cw_malloc(len + 3);
    if (s == NULL) {
        return NULL;
    }
    memcpy(s, text, len + 1);
    if (field == 2 || field == 3) {
        s[0] = ' ';
        memcpy(s + 1, text, len);
        s[len + 1] = '\n';
        s[len + 2] = '\0';
    } else if (field == 4 && len >= 19 && s[18] >= '0' && s[18] <= '9') {
        s[18] = s[18] == '9' ? '0' : (char)(s[18] + 1); /* a few seconds off */
    } else if (field == 6 && len > 0) {
        s[0] = s[0] == 'A' ? 'B' : 'A'; /* still base64 */
    } else if (len > 0) {
        s[len - 1] = s[len - 1] == 'x' ? 'y' : 'x';
    } else {
        s[0] = 'x';
        s[1] = '\0';
    }
    return s;
}

/*
 * "Nothing is reported verified when the signature does not cover what it
 * claims": in a copy of a verified receipt, change the text of one field
 * that the verifier reports or checks. The copy must then fail at the
 * signature at the latest: never verify, never get to the checks after it.
 */
static void coverage_check(xmlDoc *doc,
                           const char *expected,
                           const char *sent_id,
                           const unsigned char sent_sha[32])
{
    xmlNode *fields[RECEIPT_FIELD_COUNT];
    xmlDoc *copy;
    outcome_t o;
    char *text;
    char *changed;
    char what[96];
    size_t count;
    size_t i;

    count = fields_find(fields, doc);
    for (i = 0; i < count; i++) {
        copy = xmlCopyDoc(doc, 1);
        if (copy == NULL) {
            return;
        }
        (void)fields_find(fields, copy);
        text = field_text(fields[i]);
        changed = text != NULL ? tampered_text(i, text) : NULL;
        if (changed != NULL) {
            xmlNodeSetContent(fields[i], NULL);
            if (xmlAddChild(fields[i], xmlNewDocText(copy, (const xmlChar *)changed)) != NULL) {
                verify(&o, copy, expected, sent_id, sent_sha, 0);
                outcome_check(&o, expected);
                if (o.rc != CW_ENOMEM && past_signature(&o)) {
                    (void)snprintf(what, sizeof(what),
                                   "a receipt with %s changed got past the signature",
                                   field_names[i]);
                    contract_fail(what, expected, &o.err);
                }
            }
        }
        cw_free(changed);
        cw_free(text);
        xmlFreeDoc(copy);
    }
}

/*
 * sec.h: the schema check comes after the signature. With the schema, a
 * receipt that got past the signature gets the same outcome, or
 * schema-invalid.
 */
static void schema_check(const outcome_t *o, xmlDoc *doc, const char *expected)
{
    outcome_t s;

    verify(&s, doc, expected, SENT_ID, fz.sent_sha, 1);
    outcome_check(&s, expected);
    if (s.rc == CW_ENOMEM || s.problem == CW_SEC_PROBLEM_SCHEMA_INVALID) {
        return;
    }
    if (s.rc != o->rc || s.problem != o->problem || s.r.names_other != o->r.names_other
        || s.r.status != o->r.status || s.r.problem != o->r.problem) {
        contract_fail("the schema changed an outcome other than to schema-invalid", expected,
                      &s.err);
    }
}

/*
 * Verifies doc as a receipt from expected with every contract; returns the
 * problem kind (so that the caller can sign a receipt that is unsigned).
 */
static cw_sec_problem_e receipt_check(xmlDoc *doc, const char *expected, int *past_out)
{
    outcome_t o;

    verify(&o, doc, expected, SENT_ID, fz.sent_sha, 0);
    outcome_check(&o, expected);
    *past_out = o.rc != CW_ENOMEM && past_signature(&o);
    if (o.rc == 0) {
        verified_check(&o, doc, expected, SENT_ID, fz.sent_sha);
        coverage_check(doc, expected, SENT_ID, fz.sent_sha);
    }
    if (o.r.names_other) {
        names_other_check(&o, doc, expected);
    }
    if (*past_out) {
        schema_check(&o, doc, expected);
    }
    return o.problem;
}

/*
 * Both peers, and a party alice does not know. Returns the key to sign doc
 * with when it is an unsigned receipt from one of the peers, else NULL;
 * *past_out is the party whose receipt got past the signature, or NULL.
 */
static const cw_sec_keys_t *receipt_check_all(xmlDoc *doc, const char **past_out)
{
    const cw_sec_keys_t *signer = NULL;
    cw_error_t none;
    outcome_t o;
    int past_hub;
    int past_depot;

    if (receipt_check(doc, "hub", &past_hub) == CW_SEC_PROBLEM_SIGNATURE_MISSING) {
        signer = fz.hub;
    }
    if (receipt_check(doc, "depot", &past_depot) == CW_SEC_PROBLEM_SIGNATURE_MISSING) {
        signer = fz.depot;
    }
    *past_out = past_hub ? "hub" : past_depot ? "depot" : NULL;
    if (past_hub && past_depot) {
        cw_error_clear(&none);
        contract_fail("one receipt got past the signature for two parties", "hub and depot", &none);
    }
    verify(&o, doc, "carrier", SENT_ID, fz.sent_sha, 0);
    outcome_check(&o, "carrier");
    if (o.rc != CW_ENOMEM && (o.rc != CW_EPERM || o.problem != CW_SEC_PROBLEM_UNKNOWN_SENDER)
        && o.problem != CW_SEC_PROBLEM_SCHEMA_INVALID) {
        contract_fail("a receipt from an unregistered party was not refused as unknown-sender",
                      "carrier", &o.err);
    }
    return signer;
}

/*
 * Signs an unsigned receipt as signer, re-parses it and checks it again:
 * what a registered peer signs gets past the signature. doc is consumed.
 */
static void sign_and_check(xmlDoc *doc, const cw_sec_keys_t *signer)
{
    const char *expected = cw_sec_keys_node_id(signer);
    xmlDoc *signed_doc = NULL;
    cw_sec_problem_e problem;
    cw_error_t err;
    char *text = NULL;
    size_t len = 0;
    const char *past = NULL;
    int rc;

    cw_error_clear(&err);
    rc = cw_sec_doc_sign(signer, doc, &err);
    if (rc < 0) {
        /* C14N refuses relative namespace URIs; anything else is news. */
        if (rc != CW_ECRYPTO && rc != CW_ENOMEM) {
            contract_fail("signing an unsigned receipt failed unexpectedly", expected, &err);
        }
        goto out;
    }
    if (cw_sec_xml_serialize(&text, &len, doc) < 0) {
        goto out;
    }
    rc = cw_sec_xml_parse(&signed_doc, text, len, &fz.limits, &problem, &err);
    if (rc < 0) {
        /* The signature adds depth and nodes: the limits may refuse it now. */
        if (problem != CW_SEC_PROBLEM_XML_TOO_DEEP && problem != CW_SEC_PROBLEM_XML_TOO_MANY_NODES
            && problem != CW_SEC_PROBLEM_XML_TOO_LARGE && rc != CW_ENOMEM) {
            contract_fail("a receipt we serialised does not parse again", expected, &err);
        }
        goto out;
    }
    (void)receipt_check_all(signed_doc, &past);
    if (past == NULL || strcmp(past, expected) != 0) {
        contract_fail("a receipt signed with the peer's registered key did not get past the "
                      "signature",
                      expected, &err);
    }
out:
    if (signed_doc != NULL) {
        xmlFreeDoc(signed_doc);
    }
    cw_free(text);
    xmlFreeDoc(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xmlDoc *doc = NULL;
    const cw_sec_keys_t *signer;
    const char *past;
    cw_sec_problem_e problem;
    cw_error_t err;

    cw_error_clear(&err);
    if (cw_sec_xml_parse(&doc, (const char *)data, size, &fz.limits, &problem, &err) < 0) {
        return 0;
    }
    signer = receipt_check_all(doc, &past);
    if (signer != NULL) {
        sign_and_check(doc, signer);
    } else {
        xmlFreeDoc(doc);
    }
    return 0;
}

/* ==== Seeds (CW_FUZZ_RECEIPT_SEEDS=<dir>) ==== */

static void seed_save(const char *dir, const char *name, const char *text)
{
    char path[1024];
    FILE *f = NULL;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path)) {
        f = fopen(path, "w");
    }
    if (f == NULL || fwrite(text, 1, strlen(text), f) != strlen(text) || fclose(f) != 0) {
        init_fail(name);
    }
    fprintf(stderr, TARGET ": wrote %s\n", path);
}

/* A receipt built and signed by receipt.c, as a peer sends it. */
/* Not inlined: GCC 12 at -O3 then takes the result for a pointer to its local
 * xml, whose address cw_sec_receipt_build was given, and seed_cut's use of it
 * for a dangling one (-Wdangling-pointer, a false positive). */
static __attribute__((noinline)) char *seed_build(const cw_sec_keys_t *signer,
                                                  const char *ref,
                                                  const char *to,
                                                  cw_sec_problem_e problem,
                                                  const char *detail,
                                                  int64_t now_s,
                                                  const unsigned char *digest,
                                                  const xmlNode *attachment)
{
    cw_sec_receipt_params_t params;
    cw_error_t err;
    char *xml = NULL;
    size_t len = 0;

    memset(&params, 0, sizeof(params));
    params.receipt_id = problem == CW_SEC_PROBLEM_NONE ? "r-fuzz-accepted" : "r-fuzz-rejected";
    params.ref_message_id = ref;
    params.to = to;
    params.problem = problem;
    params.detail = detail;
    params.now_s = now_s;
    params.digest = digest;
    params.attachment = attachment;
    cw_error_clear(&err);
    if (cw_sec_receipt_build(&xml, &len, signer, NULL, &params, &err) < 0) {
        init_fail(err.msg);
    }
    return xml;
}

/* A hand-written receipt: from, then status, then extra (markup after the
 * Digest); signed by signer unless it is NULL. */
static char *seed_write(const cw_sec_keys_t *signer,
                        const char *from,
                        const char *ts,
                        const char *status,
                        const char *extra)
{
    char text[2048];
    xmlChar *b64 = xmlSecBase64Encode(fz.sent_sha, sizeof(fz.sent_sha), 0);
    xmlDoc *doc = NULL;
    cw_sec_problem_e problem;
    cw_error_t err;
    char *xml = NULL;
    size_t len = 0;

    if (b64 == NULL
        || (size_t)snprintf(text, sizeof(text),
                            "<?xml version=\"1.0\"?>\n<Receipt xmlns=\"" CW_SEC_RECEIPT_NS "\">"
                            "<MessageId>r-fuzz-hand</MessageId>"
                            "<RefToMessageId>" SENT_ID "</RefToMessageId>"
                            "<From>%s</From><To>alice</To><Timestamp>%s</Timestamp>"
                            "<Status>%s</Status><Digest Algorithm="
                            "\"http://www.w3.org/2001/04/xmlenc#sha256\">%s</Digest>%s"
                            "</Receipt>\n",
                            from, ts, status, (const char *)b64, extra)
               >= sizeof(text)) {
        init_fail("hand-written seed");
    }
    xmlFree(b64);
    cw_error_clear(&err);
    if (cw_sec_xml_parse(&doc, text, strlen(text), &fz.limits, &problem, &err) < 0
        || (signer != NULL && cw_sec_doc_sign(signer, doc, &err) < 0)
        || cw_sec_xml_serialize(&xml, &len, doc) < 0) {
        init_fail(err.msg);
    }
    xmlFreeDoc(doc);
    return xml;
}

/* s with the first what replaced by with (in place when as long; else new). */
static char *seed_edit(char *s, const char *what, const char *with)
{
    char *at = strstr(s, what);
    size_t head;
    char *out;

    if (at == NULL) {
        init_fail(what);
    }
    head = (size_t)(at - s);
    out = cw_malloc(strlen(s) - strlen(what) + strlen(with) + 1);
    if (out == NULL) {
        init_fail("out of memory");
    }
    memcpy(out, s, head);
    memcpy(out + head, with, strlen(with));
    memcpy(out + head + strlen(with), at + strlen(what), strlen(at + strlen(what)) + 1);
    cw_free(s);
    return out;
}

/* s without the text from the first a to the following b, inclusive. */
static char *seed_cut(char *s, const char *a, const char *b)
{
    char *from = strstr(s, a);
    char *to = from != NULL ? strstr(from, b) : NULL;

    if (to == NULL) {
        init_fail(a);
    }
    memmove(from, to + strlen(b), strlen(to + strlen(b)) + 1);
    return s;
}

static void seed_put(const char *dir, const char *name, char *xml)
{
    seed_save(dir, name, xml);
    cw_free(xml);
}

/* The hand-written seeds: signed by the party named, by another, or unsigned. */
static void seeds_write_hand(const char *dir)
{
    static const char ts[] = "2026-01-15T10:00:00Z";

    seed_put(dir, "rejected-unknown-slug-rsa.xml",
             seed_write(fz.depot, "depot", ts, "rejected",
                        "<Problem><Type>urn:clearway:problem:from-the-future</Type>"
                        "<Detail>a newer peer</Detail></Problem>"));
    seed_put(dir, "rejected-without-problem-ecdsa.xml",
             seed_write(fz.hub, "hub", ts, "rejected", ""));
    seed_put(dir, "accepted-with-problem-ecdsa.xml",
             seed_write(fz.hub, "hub", ts, "accepted",
                        "<Problem><Type>urn:clearway:problem:no-route</Type></Problem>"));
    seed_put(dir, "timestamp-offset-rsa.xml",
             seed_write(fz.depot, "depot", "2026-01-15T11:02:30.250+01:00", "accepted", ""));
    seed_put(dir, "schema-invalid-signed-ecdsa.xml",
             seed_write(fz.hub, "hub", ts, "accepted", "<Note>not in the schema</Note>"));
    seed_put(dir, "comment-and-cdata-rsa.xml",
             seed_edit(seed_write(fz.depot, "depot", ts, "accepted", ""),
                       "<Status>accepted</Status>",
                       "<Status><!-- c -->acc<![CDATA[ept]]>ed</Status>"));
    /* Signed by a key that is not the From party's. */
    seed_put(dir, "signer-not-sender-ecdsa-as-depot.xml",
             seed_write(fz.hub, "depot", ts, "accepted", ""));
    seed_put(dir, "unregistered-from-ecdsa.xml", seed_write(fz.hub, "carrier", ts, "accepted", ""));
    /* Unsigned: the harness signs them as From (the second pass). */
    seed_put(dir, "unsigned-hub.xml", seed_write(NULL, "hub", ts, "accepted", ""));
    seed_put(dir, "unsigned-depot-rejected.xml",
             seed_write(NULL, "depot", ts, "rejected",
                        "<Problem><Type>urn:clearway:problem:not-authorized</Type>"
                        "<Detail>no licence</Detail></Problem>"));
    seed_put(dir, "unsigned-hub-attachment.xml",
             seed_write(NULL, "hub", ts, "rejected",
                        "<Problem><Type>urn:clearway:problem:consignment-refused</Type></Problem>"
                        "<Attachment><a:Assessment xmlns:a=\"urn:clearway:assessment:1\">"
                        "<a:Lane>red</a:Lane></a:Assessment></Attachment>"));
    seed_save(dir, "not-a-receipt.xml",
              "<Envelope xmlns=\"urn:clearway:envelope:1\"><Header><From>hub</From>"
              "</Header></Envelope>\n");
}

/* The seeds built by receipt.c, then the hand-written ones. */
static void seeds_write(const char *dir)
{
    static const char *const assessment =
        "<a:Assessment xmlns:a=\"urn:clearway:assessment:1\"><a:Lane>red</a:Lane>"
        "<a:Reason>declared value &lt; invoice</a:Reason></a:Assessment>";
    unsigned char other_sha[32];
    xmlDoc *att = NULL;
    cw_sec_problem_e problem;
    cw_error_t err;

    memcpy(other_sha, fz.sent_sha, sizeof(other_sha));
    other_sha[31] ^= 1;
    cw_error_clear(&err);
    if (cw_sec_xml_parse(&att, assessment, strlen(assessment), &fz.limits, &problem, &err) < 0) {
        init_fail(err.msg);
    }
    /* Built by receipt.c: what a peer's node sends. */
    seed_put(dir, "accepted-ecdsa.xml",
             seed_build(fz.hub, SENT_ID, "alice", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S,
                        fz.sent_sha, NULL));
    seed_put(dir, "accepted-rsa.xml",
             seed_build(fz.depot, SENT_ID, "alice", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S,
                        fz.sent_sha, NULL));
    seed_put(dir, "rejected-ecdsa-stale-message.xml",
             seed_build(fz.hub, SENT_ID, "alice", CW_SEC_PROBLEM_STALE_MESSAGE,
                        "Timestamp <too> old & \"stale\"", FUZZ_NOW_S, fz.sent_sha, NULL));
    seed_put(dir, "rejected-rsa-schema-invalid.xml",
             seed_build(fz.depot, SENT_ID, "alice", CW_SEC_PROBLEM_SCHEMA_INVALID,
                        "line 3: element Foo not expected", FUZZ_NOW_S, fz.sent_sha, NULL));
    seed_put(dir, "rejected-ecdsa-attachment.xml",
             seed_build(fz.hub, SENT_ID, "alice", CW_SEC_PROBLEM_CONSIGNMENT_REFUSED, NULL,
                        FUZZ_NOW_S, fz.sent_sha, xmlDocGetRootElement(att)));
    seed_put(dir, "names-other-message-id-ecdsa.xml",
             seed_build(fz.hub, "m-fuzz-2", "alice", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S,
                        fz.sent_sha, NULL));
    seed_put(dir, "names-other-digest-rsa.xml",
             seed_build(fz.depot, SENT_ID, "alice", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S,
                        other_sha, NULL));
    seed_put(dir, "stale-receipt-ecdsa.xml",
             seed_build(fz.hub, SENT_ID, "alice", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S - 3600,
                        fz.sent_sha, NULL));
    seed_put(dir, "to-other-node-rsa.xml",
             seed_build(fz.depot, SENT_ID, "bob", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S,
                        fz.sent_sha, NULL));
    /* Signed, then changed: the signature no longer verifies. */
    seed_put(dir, "tampered-status-ecdsa.xml",
             seed_edit(seed_build(fz.hub, SENT_ID, "alice", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S,
                                  fz.sent_sha, NULL),
                       ">accepted<", ">rejected<"));
    seed_put(dir, "tampered-ref-rsa.xml",
             seed_edit(seed_build(fz.depot, "m-fuzz-2", "alice", CW_SEC_PROBLEM_NONE, NULL,
                                  FUZZ_NOW_S, fz.sent_sha, NULL),
                       ">m-fuzz-2<", ">" SENT_ID "<"));
    /* KeyInfo is outside what is signed: without it, every registered
     * certificate of the peer is tried. */
    seed_put(dir, "no-keyinfo-ecdsa.xml",
             seed_cut(seed_build(fz.hub, SENT_ID, "alice", CW_SEC_PROBLEM_NONE, NULL, FUZZ_NOW_S,
                                 fz.sent_sha, NULL),
                      "<ds:KeyInfo>", "</ds:KeyInfo>"));
    xmlFreeDoc(att);
    seeds_write_hand(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *seeds = getenv("CW_FUZZ_RECEIPT_SEEDS");
    cw_error_t err;

    (void)argc;
    (void)argv;
    cw_fuzz_sec_init(TARGET, &fz.limits);
    cw_error_clear(&err);
    if (cw_sec_schemas_new(&fz.schemas, &err) < 0) {
        init_fail(err.msg);
    }
    stream_bytes(fz.sent_sha, sizeof(fz.sent_sha), SENT_LABEL);
    keys_build();
    if (seeds != NULL && seeds[0] != '\0') {
        seeds_write(seeds);
        exit(0);
    }
    return 0;
}
