/*
 * Fuzz target: envelope verification, cw_sec_xml_parse then
 * cw_sec_envelope_verify (sec/xmldsig.c) with XSD validation, against a
 * trust snapshot built once at start-up.
 *
 * The keys are made in memory with OpenSSL at start-up and never leave the
 * process except as PEM files in a private temp dir, removed as soon as
 * cw_sec_keys_new (which takes paths only) has read them. No key is
 * committed and nothing touches the network. The snapshot registers:
 *   alice  ECDSA P-256; two certificates, an expired one (other key) and
 *          the current one, as during a rollover
 *   bob    RSA 2048, legacy-sha1 (RSA-SHA1 and SHA-1 digests allowed)
 *   carol  only an expired certificate (alice's old one)
 * The clock is fixed at FUZZ_NOW_S (2026-01-15T10:00:00Z), the Timestamp
 * of the seeds, so that a run depends on the input only.
 *
 * Each input is verified as it is. When that stops at "signature-missing"
 * (header readable, From registered, no signature), the harness signs the
 * document as From with cw_sec_doc_sign, serialises and re-parses it and
 * verifies again: mutated but genuinely signed documents reach the
 * cryptography, the timestamp window and the schema, which a byte mutator
 * could never reach by forging a signature. That second pass also checks
 * a property: what this node signs as a partner, the verifier authenticates.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "fuzz_common.h"
#include "sec.h"
#include "sec/internal.h" /* cw_sec__verify_xmlsec_only */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW_S      INT64_C(1768471200) /* 2026-01-15T10:00:00Z */
#define TARGET          "fuzz_xmldsig_verify"
#define CERT_FROM_S     INT64_C(1577836800) /* 2020-01-01T00:00:00Z */
#define CERT_UNTIL_S    INT64_C(4102444800) /* 2100-01-01T00:00:00Z */
#define EXPIRED_UNTIL_S (CERT_FROM_S + 86400)

/* Built once by LLVMFuzzerInitialize, read-only afterwards. */
static struct {
    cw_conf_limits_t limits;
    cw_sec_schemas_t *schemas;
    cw_sec_keys_t *alice; /* node alice (can sign as alice), the three partners */
    cw_sec_keys_t *bob;   /* node bob, the same partners */
} fz;

static void contract_fail(const char *what, const cw_error_t *err)
{
    fprintf(stderr, "fuzz_xmldsig_verify: contract broken: %s (last error %s: %s)\n", what,
            cw_err_name(err->code), err->msg);
    abort();
}

/* ==== Start-up: keys made in memory ==== */

static void init_fail(const char *what)
{
    fprintf(stderr, "fuzz_xmldsig_verify: start-up failed: %s\n", what);
    exit(1);
}

/* The files pki_write puts into the temp dir. */
typedef enum pki_file_e {
    PKI_ALICE_KEY = 0,
    PKI_ALICE_PEM = 1,
    PKI_ALICE_OLD_PEM = 2,
    PKI_BOB_KEY = 3,
    PKI_BOB_PEM = 4,
    PKI_FILE_COUNT = 5,
} pki_file_e;

#define PKI_PATH_BYTES 600

/*
 * Makes the keys and certificates of the header comment and writes them
 * as PEM into paths (in dir, which only this process can read).
 */
static void pki_write(char paths[PKI_FILE_COUNT][PKI_PATH_BYTES], const char *dir)
{
    static const char *const names[PKI_FILE_COUNT] = { "alice.key", "alice.pem", "alice-old.pem",
                                                       "bob.key", "bob.pem" };
    EVP_PKEY *alice = EVP_EC_gen("P-256");
    EVP_PKEY *alice_old = EVP_EC_gen("P-256");
    EVP_PKEY *bob = EVP_RSA_gen(2048);
    X509 *alice_cert = NULL;
    X509 *alice_old_cert = NULL;
    X509 *bob_cert = NULL;
    size_t i;

    if (alice == NULL || alice_old == NULL || bob == NULL) {
        init_fail("key generation");
    }
    alice_cert =
        cw_fuzz_cert_make(TARGET, alice, "alice", 1, NULL, NULL, CERT_FROM_S, CERT_UNTIL_S);
    alice_old_cert =
        cw_fuzz_cert_make(TARGET, alice_old, "alice", 2, NULL, NULL, CERT_FROM_S, EXPIRED_UNTIL_S);
    bob_cert = cw_fuzz_cert_make(TARGET, bob, "bob", 3, NULL, NULL, CERT_FROM_S, CERT_UNTIL_S);
    for (i = 0; i < PKI_FILE_COUNT; i++) {
        if ((size_t)snprintf(paths[i], PKI_PATH_BYTES, "%s/%s", dir, names[i]) >= PKI_PATH_BYTES) {
            init_fail("temp path too long");
        }
    }
    cw_fuzz_pem_write(TARGET, paths[PKI_ALICE_KEY], alice, NULL);
    cw_fuzz_pem_write(TARGET, paths[PKI_ALICE_PEM], NULL, alice_cert);
    cw_fuzz_pem_write(TARGET, paths[PKI_ALICE_OLD_PEM], NULL, alice_old_cert);
    cw_fuzz_pem_write(TARGET, paths[PKI_BOB_KEY], bob, NULL);
    cw_fuzz_pem_write(TARGET, paths[PKI_BOB_PEM], NULL, bob_cert);
    X509_free(alice_cert);
    X509_free(alice_old_cert);
    X509_free(bob_cert);
    EVP_PKEY_free(alice);
    EVP_PKEY_free(alice_old);
    EVP_PKEY_free(bob);
}

/* Builds fz.alice and fz.bob from freshly made keys, then deletes the files. */
static void keys_build(void)
{
    char paths[PKI_FILE_COUNT][PKI_PATH_BYTES];
    char dir[512];
    const char *alice_certs[2];
    const char *bob_certs[1];
    const char *carol_certs[1];
    cw_sec_partner_conf_t partners[3];
    cw_sec_keys_conf_t conf;
    cw_error_t err;
    size_t i;

    cw_fuzz_tempdir(TARGET, dir, sizeof(dir));
    pki_write(paths, dir);

    alice_certs[0] = paths[PKI_ALICE_OLD_PEM];
    alice_certs[1] = paths[PKI_ALICE_PEM];
    bob_certs[0] = paths[PKI_BOB_PEM];
    carol_certs[0] = paths[PKI_ALICE_OLD_PEM];
    memset(partners, 0, sizeof(partners));
    partners[0].party_id = "alice";
    partners[0].cert_paths = alice_certs;
    partners[0].cert_count = CW_ARRAY_SIZE(alice_certs);
    partners[1].party_id = "bob";
    partners[1].cert_paths = bob_certs;
    partners[1].cert_count = CW_ARRAY_SIZE(bob_certs);
    partners[1].flags = CW_SEC_PARTNER_LEGACY_SHA1;
    partners[2].party_id = "carol";
    partners[2].cert_paths = carol_certs;
    partners[2].cert_count = CW_ARRAY_SIZE(carol_certs);

    memset(&conf, 0, sizeof(conf));
    conf.partners = partners;
    conf.partner_count = CW_ARRAY_SIZE(partners);
    conf.node_id = "alice";
    conf.key_path = paths[PKI_ALICE_KEY];
    conf.cert_path = paths[PKI_ALICE_PEM];
    cw_error_clear(&err);
    if (cw_sec_keys_new(&fz.alice, &conf, &err) < 0) {
        init_fail(err.msg);
    }
    conf.node_id = "bob";
    conf.key_path = paths[PKI_BOB_KEY];
    conf.cert_path = paths[PKI_BOB_PEM];
    if (cw_sec_keys_new(&fz.bob, &conf, &err) < 0) {
        init_fail(err.msg);
    }

    for (i = 0; i < PKI_FILE_COUNT; i++) {
        (void)unlink(paths[i]);
    }
    (void)rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    cw_error_t err;

    (void)argc;
    (void)argv;
    cw_fuzz_sec_init("fuzz_xmldsig_verify", &fz.limits);
    cw_error_clear(&err);
    if (cw_sec_schemas_new(&fz.schemas, &err) < 0) {
        init_fail(err.msg);
    }
    keys_build();
    return 0;
}

/* ==== One input ==== */

/* sec.h: a problem kind exactly when verification failed; authenticated on success. */
static void verified_check(int rc, const cw_sec_verified_t *v, const cw_error_t *err)
{
    if (rc == 0 && (v->problem != CW_SEC_PROBLEM_NONE || !v->authenticated)) {
        contract_fail("success with a problem kind, or not authenticated", err);
    }
    if (rc < 0 && rc != CW_ENOMEM && v->problem == CW_SEC_PROBLEM_NONE) {
        contract_fail("refused without a problem kind", err);
    }
    if (rc < 0 && err->code != rc) {
        contract_fail("error detail does not match the return code", err);
    }
    if (memchr(v->from, '\0', sizeof(v->from)) == NULL) {
        contract_fail("From not terminated", err);
    }
}

/*
 * Verifies doc the way the node does (SHA-256 signatures without xmlsec),
 * then again with everything through xmlsec: both ways must come to the
 * same outcome, problem kind and certificate.
 */
static int verify(cw_sec_verified_t *out, xmlDoc *doc, cw_error_t *err)
{
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t other;
    cw_error_t other_err;
    int other_rc;
    int rc;

    opts.now_s = FUZZ_NOW_S;
    opts.schemas = fz.schemas;
    opts.want_doc_sha256 = 1;
    cw_error_clear(err);
    rc = cw_sec_envelope_verify(out, fz.alice, doc, &opts, err);
    verified_check(rc, out, err);

    /* sec.h: a digest made on the way is cw_sec_doc_sha256 of the document. */
    if (out->has_doc_sha256) {
        unsigned char sha[32];

        if (cw_sec_doc_sha256(sha, doc, &other_err) == 0
            && memcmp(sha, out->doc_sha256, sizeof(sha)) != 0) {
            contract_fail("the digest made while verifying is not the document's", err);
        }
    }
    cw_sec__verify_xmlsec_only(1);
    cw_error_clear(&other_err);
    other_rc = cw_sec_envelope_verify(&other, fz.alice, doc, &opts, &other_err);
    cw_sec__verify_xmlsec_only(0);
    if (rc != CW_ENOMEM && other_rc != CW_ENOMEM
        && ((rc == 0) != (other_rc == 0) || out->problem != other.problem
            || (rc == 0 && out->cert_index != other.cert_index))) {
        fprintf(stderr, "fuzz_xmldsig_verify: native: %d %s (%s); xmlsec: %d %s (%s)\n", rc,
                cw_sec_problem_slug(out->problem), err->msg, other_rc,
                cw_sec_problem_slug(other.problem), other_err.msg);
        contract_fail("the native verification and xmlsec disagree", err);
    }
    return rc;
}

/*
 * Signs doc as signer, then checks that the verifier authenticates the
 * re-parsed result. doc is consumed either way.
 */
static void sign_and_verify(xmlDoc *doc, const cw_sec_keys_t *signer)
{
    xmlDoc *signed_doc = NULL;
    cw_sec_verified_t v;
    cw_sec_problem_e problem;
    cw_error_t err;
    char *text = NULL;
    size_t len = 0;
    int rc;

    cw_error_clear(&err);
    rc = cw_sec_doc_sign(signer, doc, &err);
    if (rc < 0) {
        /* C14N refuses relative namespace URIs; anything else is news. */
        if (rc != CW_ECRYPTO && rc != CW_ENOMEM) {
            contract_fail("signing an unsigned document failed unexpectedly", &err);
        }
        goto out;
    }
    rc = cw_sec_xml_serialize(&text, &len, doc);
    if (rc < 0) {
        goto out;
    }
    /* The signature adds depth and nodes: the limits may refuse it now. */
    rc = cw_sec_xml_parse(&signed_doc, text, len, &fz.limits, &problem, &err);
    if (rc < 0) {
        if (problem != CW_SEC_PROBLEM_XML_TOO_DEEP && problem != CW_SEC_PROBLEM_XML_TOO_MANY_NODES
            && problem != CW_SEC_PROBLEM_XML_TOO_LARGE && rc != CW_ENOMEM) {
            contract_fail("a document we serialised does not parse again", &err);
        }
        goto out;
    }
    rc = verify(&v, signed_doc, &err);
    if (rc != CW_ENOMEM && !v.authenticated) {
        contract_fail("a document signed with the sender's registered key was not authenticated",
                      &err);
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
    cw_sec_problem_e problem;
    cw_sec_verified_t v;
    cw_error_t err;
    const cw_sec_keys_t *signer = NULL;
    int rc;

    cw_error_clear(&err);
    rc = cw_sec_xml_parse(&doc, (const char *)data, size, &fz.limits, &problem, &err);
    if (rc < 0) {
        goto out;
    }
    rc = verify(&v, doc, &err);
    if (rc < 0 && v.problem == CW_SEC_PROBLEM_SIGNATURE_MISSING) {
        if (strcmp(v.from, cw_sec_keys_node_id(fz.alice)) == 0) {
            signer = fz.alice;
        } else if (strcmp(v.from, cw_sec_keys_node_id(fz.bob)) == 0) {
            signer = fz.bob;
        }
    }
    if (signer != NULL) {
        sign_and_verify(doc, signer);
        doc = NULL;
    }
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return 0;
}
