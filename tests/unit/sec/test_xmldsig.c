/*
 * The verification policy of docs/security.md, one test per rule, plus
 * interop with Debian's xmlsec1 command in both directions. The whole group
 * runs twice: as the node verifies (SHA-256 signatures without xmlsec,
 * xmldsig.c), then with every signature through xmlsec; each rule must
 * hold both ways.
 */
#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/c14n.h>
#include <uv.h>

#include "sec.h"
#include "sec/internal.h" /* cw_sec__verify_xmlsec_only; before fixture.h's macros */
/* clang-format off */
#include "fixture.h"
/* clang-format on */

static fx_t fx;
static cw_sec_keys_t *hub;        /* the receiving node's trust snapshot */
static cw_sec_keys_t *hub_strict; /* the same, without carol's legacy-sha1 flag */
static cw_sec_schemas_t *schemas;
static int through_xmlsec; /* the second run of the group */

/* ==== Helpers ==== */

static int verify_with(cw_sec_keys_t *keys,
                       const char *xml,
                       const cw_sec_verify_opts_t *opts,
                       cw_sec_verified_t *out)
{
    cw_sec_verify_opts_t o = CW_SEC_VERIFY_OPTS_INIT;
    xmlDoc *doc = NULL;
    cw_sec_problem_e problem;
    cw_error_t err;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = cw_sec_xml_parse(&doc, xml, strlen(xml), &fx.limits, &problem, &err);
    if (rc < 0) {
        out->problem = problem;
        return rc;
    }
    /* As intake asks: the receipt's digest, when it comes on the way. */
    if (opts != NULL) {
        o = *opts;
    }
    o.want_doc_sha256 = 1;
    rc = cw_sec_envelope_verify(out, keys, doc, &o, &err);
    if (rc < 0 && getenv("CW_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "verify: %s: %s\n", cw_sec_problem_slug(out->problem), err.msg);
    }
    /* A digest the verification made on the way is the document's. */
    if (out->has_doc_sha256) {
        unsigned char sha[32];

        assert_int_equal(cw_sec_doc_sha256(sha, doc, &err), 0);
        assert_memory_equal(out->doc_sha256, sha, sizeof(sha));
    }
    xmlFreeDoc(doc);
    return rc;
}

static cw_sec_problem_e verify_problem(const char *xml)
{
    cw_sec_verified_t v;

    (void)verify_with(hub, xml, NULL, &v);
    return v.problem;
}

/* The base64 text of the X509Certificate in a signed document. */
static char *keyinfo_cert(const char *xml)
{
    const char *p = strstr(xml, "X509Certificate>");
    const char *q;

    assert_non_null(p);
    p += strlen("X509Certificate>");
    q = strstr(p, "</");
    assert_non_null(q);
    return cw_strndup(p, (size_t)(q - p));
}

/* ==== Set-up ==== */

static int keys_for(cw_sec_keys_t **out, int carol_flags)
{
    char p[8][512];
    const char *alice[2];
    const char *bob[2];
    const char *carol[1];
    const char *old[1];
    cw_sec_partner_conf_t partners[4];
    cw_sec_keys_conf_t conf;
    cw_error_t err;
    int rc;

    alice[0] = fx_path(&fx, "alice-rsa.pem", p[0], sizeof(p[0]));
    alice[1] = fx_path(&fx, "alice.pem", p[1], sizeof(p[1]));
    bob[0] = fx_path(&fx, "bob.pem", p[2], sizeof(p[2]));
    bob[1] = fx_path(&fx, "bob-rsa.pem", p[3], sizeof(p[3]));
    carol[0] = fx_path(&fx, "carol-rsa.pem", p[4], sizeof(p[4]));
    old[0] = fx_path(&fx, "old.pem", p[5], sizeof(p[5]));
    memset(partners, 0, sizeof(partners));
    partners[0] = (cw_sec_partner_conf_t){ "alice", alice, 2, 0 };
    partners[1] = (cw_sec_partner_conf_t){ "bob", bob, 2, 0 };
    partners[2] = (cw_sec_partner_conf_t){ "carol", carol, 1, (unsigned)carol_flags };
    partners[3] = (cw_sec_partner_conf_t){ "old", old, 1, 0 };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "hub";
    conf.key_path = fx_path(&fx, "hub.key", p[6], sizeof(p[6]));
    conf.cert_path = fx_path(&fx, "hub.pem", p[7], sizeof(p[7]));
    conf.partners = partners;
    conf.partner_count = 4;
    rc = cw_sec_keys_new(out, &conf, &err);
    if (rc < 0) {
        fprintf(stderr, "keys: %s\n", err.msg);
    }
    return rc;
}

static int group_setup(void **state)
{
    cw_error_t err;

    (void)state;
    if (cw_sec_lib_init(&err) < 0) {
        fprintf(stderr, "init: %s\n", err.msg);
        return -1;
    }
    if (fx_init(&fx, "hub alice bob carol mallory", "old") < 0) {
        return -1;
    }
    if (fx_run("head -c 32 /dev/urandom > '%s/hmac.bin'", fx.dir) != 0) {
        return -1;
    }
    if (keys_for(&hub, CW_SEC_PARTNER_LEGACY_SHA1) < 0 || keys_for(&hub_strict, 0) < 0) {
        return -1;
    }
    if (cw_sec_schemas_new(&schemas, &err) < 0) {
        fprintf(stderr, "schemas: %s\n", err.msg);
        return -1;
    }
    return 0;
}

/* The same group, with every signature verified through xmlsec. */
static int group_setup_xmlsec(void **state)
{
    through_xmlsec = 1;
    cw_sec__verify_xmlsec_only(1);
    return group_setup(state);
}

static int group_teardown(void **state)
{
    (void)state;
    through_xmlsec = 0;
    cw_sec__verify_xmlsec_only(0);
    cw_sec_schemas_free(schemas);
    cw_sec_keys_unref(hub);
    cw_sec_keys_unref(hub_strict);
    fx_fini(&fx);
    cw_sec_lib_fini();
    return 0;
}

/* ==== Accepted ==== */

static void test_xmldsig__accepts_ecdsa_envelope(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    cw_sec_verified_t v;
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;

    (void)state;
    opts.schemas = schemas;
    opts.peer_party_id = "alice";
    assert_int_equal(verify_with(hub, xml, &opts, &v), 0);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_NONE);
    assert_int_equal(v.authenticated, 1);
    assert_string_equal(v.from, "alice");
    assert_int_equal(v.cert_index, 1);
    /* SHA-256 checked without xmlsec: the receipt's digest came with it. */
    assert_int_equal(v.has_doc_sha256, !through_xmlsec);
    /* Not asked for, not made. */
    {
        xmlDoc *doc = NULL;
        cw_sec_problem_e problem;
        cw_error_t err;

        assert_int_equal(cw_sec_xml_parse(&doc, xml, strlen(xml), &fx.limits, &problem, &err), 0);
        assert_int_equal(cw_sec_envelope_verify(&v, hub, doc, &opts, &err), 0);
        assert_int_equal(v.has_doc_sha256, 0);
        xmlFreeDoc(doc);
    }
    assert_non_null(strstr(xml, ECDSA256));
    assert_non_null(strstr(xml, "X509Certificate>MII"));
    cw_free(xml);
}

static void test_xmldsig__accepts_rsa_and_rollover(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice-rsa", "alice");
    cw_sec_verified_t v;

    (void)state;
    assert_int_equal(verify_with(hub, xml, NULL, &v), 0);
    assert_int_equal(v.cert_index, 0);
    assert_int_equal(v.has_doc_sha256, !through_xmlsec);
    assert_non_null(strstr(xml, RSA256));
    cw_free(xml);
}

/*
 * The signing context is initialised once per thread, key and digest and
 * copied for each signature (cw_sec__sign_init): signing with one key,
 * another, and the first again, on one thread, gives three signatures
 * that each verify with their own key.
 */
static void test_xmldsig__signs_with_each_key_in_turn(void **state)
{
    static const char *const bases[] = { "alice", "alice-rsa", "alice", "alice-rsa", "alice" };
    cw_sec_verified_t v;

    (void)state;
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        char *xml = fx_signed_envelope(&fx, bases[i], "alice");

        assert_int_equal(verify_with(hub, xml, NULL, &v), 0);
        assert_int_equal(v.authenticated, 1);
        assert_non_null(strstr(xml, strstr(bases[i], "rsa") != NULL ? RSA256 : ECDSA256));
        cw_free(xml);
    }
}

/*
 * The verification context is also initialised once per thread, key and
 * digest and copied for each check (cw_sec__verify_init), for the
 * CW_SEC_VERIFY_READY (4) keys used last. Five keys, A to E, in an order
 * where the one a new key replaces must be the one unused longest: after
 * A B C D A D, E replaces B (not A, the first kept), so the next A is
 * found; then B, C and D each replace the one unused longest. The count
 * of contexts initialised tells a hit from a miss (first in, first out
 * would initialise 9, and no cache 11; through xmlsec, none). Each
 * verifies, and a tampered payload and a changed signature from a kept
 * key still fail: nothing of one check carries over to the next.
 */
static void test_xmldsig__verifies_with_each_key_in_turn(void **state)
{
    static const char *const keys[][2] = {
        { "alice", "alice" }, { "bob", "bob" },         { "alice-rsa", "alice" },
        { "bob-rsa", "bob" }, { "carol-rsa", "carol" },
    };
    static const struct {
        int key;
        unsigned long inits; /* since the first, after this one */
    } steps[] = {
        { 0, 1 }, { 1, 2 }, { 2, 3 }, { 3, 4 }, { 0, 4 }, { 3, 4 },
        { 4, 5 }, { 0, 5 }, { 1, 6 }, { 2, 7 }, { 3, 8 },
    };
    cw_sec_verified_t v;
    unsigned long base;

    (void)state;
    cw_sec__verify_forget();
    base = cw_sec__verify_inits();
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        const char *const *k = keys[steps[i].key];
        char *xml = fx_signed_envelope(&fx, k[0], k[1]);
        char *tampered = fx_replace(xml, ">100.00<", ">1.00<");
        char *p = strstr(xml, "SignatureValue>");

        assert_non_null(tampered);
        assert_int_equal(verify_with(hub, xml, NULL, &v), 0);
        assert_int_equal(v.authenticated, 1);
        assert_string_equal(v.from, k[1]);
        assert_int_equal(cw_sec__verify_inits() - base, through_xmlsec ? 0 : steps[i].inits);
        assert_int_equal(verify_problem(tampered), CW_SEC_PROBLEM_SIGNATURE_INVALID);
        assert_non_null(p);
        p += strlen("SignatureValue>") + 10;
        *p = *p == 'A' ? 'B' : 'A';
        assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNATURE_INVALID);
        assert_int_equal(cw_sec__verify_inits() - base, through_xmlsec ? 0 : steps[i].inits);
        cw_free(tampered);
        cw_free(xml);
    }
}

static void test_xmldsig__reads_full_text_across_comments(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s(), "al<!-- split -->ice");
    char *xml = fx_sign(&fx, "alice", "alice", env);
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_with(hub, xml, NULL, &v), 0);
    assert_string_equal(v.from, "alice");
    cw_free(env);
    cw_free(xml);
}

/* ==== Rejected: content and signature value ==== */

static void test_xmldsig__rejects_tampered_payload(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *bad = fx_replace(xml, ">100.00<", ">1.00<");

    (void)state;
    assert_non_null(bad);
    assert_int_equal(verify_problem(bad), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(xml);
    cw_free(bad);
}

static void test_xmldsig__rejects_bad_signature_value(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *p = strstr(xml, "SignatureValue>");

    (void)state;
    assert_non_null(p);
    p += strlen("SignatureValue>") + 10;
    *p = *p == 'A' ? 'B' : 'A';
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(xml);
}

/* A namespace with a relative URI cannot be canonicalised: the signature
 * does not verify (not an internal error), whichever way it is checked. */
static void test_xmldsig__rejects_relative_namespace_uri(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *bad = fx_replace(xml, ">100.00<", "><x:y xmlns:x=\"rel/uri\"/>100.00<");

    (void)state;
    assert_non_null(bad);
    assert_int_equal(verify_problem(bad), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(xml);
    cw_free(bad);
}

/* Values that are not what their methods produce: not base64, the wrong
 * length for the digest or for r || s on the key's curve. */
static void test_xmldsig__rejects_malformed_values(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *dv = strstr(xml, "DigestValue>");
    char *sv = strstr(xml, "SignatureValue>");
    char *bad;

    (void)state;
    assert_non_null(dv);
    assert_non_null(sv);
    /* DigestValue not base64. */
    dv += strlen("DigestValue>");
    bad = cw_strdup(xml);
    assert_non_null(bad);
    bad[dv - xml] = '!';
    assert_int_equal(verify_problem(bad), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(bad);
    /* DigestValue of 3 bytes ("AAAA"), the rest of it left as text after a
     * comment so the element still ends where it did. */
    bad = fx_replace(xml, "<ds:DigestValue>", "<ds:DigestValue>AAAA<!--");
    assert_non_null(bad);
    {
        char *tmp = fx_replace(bad, "</ds:DigestValue>", "--></ds:DigestValue>");

        cw_free(bad);
        bad = tmp;
    }
    assert_non_null(bad);
    assert_int_equal(verify_problem(bad), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(bad);
    /* SignatureValue of 3 bytes: not r || s of P-256. */
    bad = fx_replace(xml, "<ds:SignatureValue>", "<ds:SignatureValue>AAAA<!--");
    assert_non_null(bad);
    {
        char *tmp = fx_replace(bad, "</ds:SignatureValue>", "--></ds:SignatureValue>");

        cw_free(bad);
        bad = tmp;
    }
    assert_non_null(bad);
    assert_int_equal(verify_problem(bad), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(bad);
    cw_free(xml);
}

/* Verifies xml with its KeyInfo certificate text (cert) replaced by
 * before, text and after. problem NONE: it must select alice's first
 * certificate; otherwise the signature must be refused with problem, or
 * with also (text that is no certificate at all is refused as unreadable,
 * signature-policy, where the path that checks it tries to parse it, and
 * as another certificate where it only compares bytes). */
static void keyinfo_text_is(const char *xml,
                            const char *cert,
                            const char *before,
                            const char *text,
                            const char *after,
                            cw_sec_problem_e problem,
                            cw_sec_problem_e also)
{
    cw_buf_t b;
    char *changed;
    cw_sec_verified_t v;

    cw_buf_init(&b, 1u << 16);
    assert_int_equal(cw_buf_appendf(&b, "%s%s%s", before, text, after), 0);
    changed = fx_replace(xml, cert, b.data);
    assert_non_null(changed);
    if (problem == CW_SEC_PROBLEM_NONE) {
        assert_int_equal(verify_with(hub, changed, NULL, &v), 0);
        assert_int_equal(v.authenticated, 1);
        assert_int_equal(v.cert_index, 1);
    } else {
        assert_int_equal(verify_with(hub, changed, NULL, &v), CW_ESIG);
        assert_int_equal(v.authenticated, 0);
        if (v.problem != problem && v.problem != also) {
            fail_msg("KeyInfo text of %zu characters (+%zu before, +%zu after): %s, not %s",
                     strlen(text), strlen(before), strlen(after), cw_sec_problem_slug(v.problem),
                     cw_sec_problem_slug(problem));
        }
    }
    cw_free(changed);
    cw_buf_fini(&b);
}

/*
 * KeyInfo's certificate is matched by its text when it is the registered
 * one's base64 on one line, as Clearway writes it, and by its decoded DER
 * otherwise: the same certificate wrapped at 64 columns with line breaks
 * (as xmlsec1 writes it), or with blank lines around it, still selects the
 * same registered certificate, and a registered certificate's text with
 * one character changed, with more after it, or cut at either end is
 * still refused as not registered.
 */
static void test_xmldsig__keyinfo_cert_matched_as_text_or_der(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *cert = keyinfo_cert(xml);
    cw_buf_t wrapped;
    char *xml_wrapped;
    char *other;
    char *xml_other;
    char *cut;
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(cert);
    assert_null(strchr(cert, '\n'));
    cw_buf_init(&wrapped, 1u << 16);
    for (size_t i = 0; i < strlen(cert); i += 64) {
        assert_int_equal(cw_buf_appendf(&wrapped, "\n%.64s", cert + i), 0);
    }
    assert_int_equal(cw_buf_appendf(&wrapped, "\n"), 0);
    xml_wrapped = fx_replace(xml, cert, wrapped.data);
    assert_non_null(xml_wrapped);
    assert_int_equal(verify_with(hub, xml, NULL, &v), 0);
    assert_int_equal(v.cert_index, 1);
    assert_int_equal(verify_with(hub, xml_wrapped, NULL, &v), 0);
    assert_int_equal(v.cert_index, 1);
    other = cw_strdup(cert);
    assert_non_null(other);
    other[10] = other[10] == 'A' ? 'B' : 'A';
    xml_other = fx_replace(xml, cert, other);
    assert_non_null(xml_other);
    assert_int_equal(verify_with(hub, xml_other, NULL, &v), CW_ESIG);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_SIGNER_NOT_SENDER);
    /* Blank around it is decoded; anything longer or shorter is another
     * DER, or no base64 at all. */
    keyinfo_text_is(xml, cert, " \n", cert, "\n\t", CW_SEC_PROBLEM_NONE, CW_SEC_PROBLEM_NONE);
    keyinfo_text_is(xml, cert, "", cert, "AAAA", CW_SEC_PROBLEM_SIGNER_NOT_SENDER,
                    CW_SEC_PROBLEM_SIGNATURE_POLICY);
    keyinfo_text_is(xml, cert, "", cert + 4, "", CW_SEC_PROBLEM_SIGNER_NOT_SENDER,
                    CW_SEC_PROBLEM_SIGNER_NOT_SENDER);
    cut = cw_strdup(cert);
    assert_non_null(cut);
    cut[strlen(cut) - 4] = '\0';
    keyinfo_text_is(xml, cert, "", cut, "", CW_SEC_PROBLEM_SIGNER_NOT_SENDER,
                    CW_SEC_PROBLEM_SIGNER_NOT_SENDER);
    cut[strlen(cut) - 1] = '\0';
    keyinfo_text_is(xml, cert, "", cut, "", CW_SEC_PROBLEM_SIGNER_NOT_SENDER,
                    CW_SEC_PROBLEM_SIGNATURE_POLICY);
    cw_free(cut);
    cw_buf_fini(&wrapped);
    cw_free(xml_wrapped);
    cw_free(other);
    cw_free(xml_other);
    cw_free(cert);
    cw_free(xml);
}

static void test_xmldsig__rejects_wrong_key_with_registered_cert(void **state)
{
    char *good = fx_signed_envelope(&fx, "alice", "alice");
    char *evil = fx_signed_envelope(&fx, "mallory", "alice");
    char *alice_cert = keyinfo_cert(good);
    char *mallory_cert = keyinfo_cert(evil);
    char *bad = fx_replace(evil, mallory_cert, alice_cert);
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(bad);
    assert_int_equal(verify_with(hub, bad, NULL, &v), CW_ESIG);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_SIGNATURE_INVALID);
    assert_int_equal(v.authenticated, 0);
    cw_free(good);
    cw_free(evil);
    cw_free(alice_cert);
    cw_free(mallory_cert);
    cw_free(bad);
}

static void test_xmldsig__rejects_unregistered_signer_same_ca(void **state)
{
    char *xml = fx_signed_envelope(&fx, "mallory", "alice");

    (void)state;
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNER_NOT_SENDER);
    cw_free(xml);
}

static void test_xmldsig__rejects_from_not_the_signer(void **state)
{
    char *xml = fx_signed_envelope(&fx, "bob", "alice");
    char *cert = keyinfo_cert(xml);
    char *no_keyinfo;
    char *cut = NULL;

    (void)state;
    /* bob is registered, but not as alice. */
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNER_NOT_SENDER);
    /* Without KeyInfo, alice's own certificates are tried, and fail. */
    no_keyinfo = fx_cut(xml, "<ds:KeyInfo>", "</ds:KeyInfo>", &cut);
    assert_non_null(no_keyinfo);
    assert_int_equal(verify_problem(no_keyinfo), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(xml);
    cw_free(cert);
    cw_free(no_keyinfo);
    cw_free(cut);
}

static void test_xmldsig__ignores_keyvalue(void **state)
{
    /* mallory signs and offers her public key as KeyValue: never used. */
    char *xml = fx_xmlsec1_signed(&fx, "alice", RSA256, "", STD_TRANSFORMS, SHA256,
                                  "<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>",
                                  "--privkey-pem mallory-rsa.key");

    (void)state;
    assert_non_null(xml);
    assert_non_null(strstr(xml, "KeyValue><"));
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNATURE_INVALID);
    cw_free(xml);
}

/* ==== Rejected: structure ==== */

static void test_xmldsig__rejects_missing_signature(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s(), NULL);

    (void)state;
    assert_int_equal(verify_problem(env), CW_SEC_PROBLEM_SIGNATURE_MISSING);
    cw_free(env);
}

static void test_xmldsig__rejects_reference_to_inner_element(void **state)
{
    char *xml = fx_xmlsec1_signed(&fx, "alice", ECDSA256, "#c1",
                                  "<ds:Transform Algorithm=\"" EXC_C14N "\"/>", SHA256,
                                  X509_KEYINFO, "--privkey-pem alice.key,alice.pem");

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNATURE_POLICY);
    cw_free(xml);
}

static void test_xmldsig__rejects_two_signatures(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *cut = NULL;
    char *rest = fx_cut(xml, "<ds:Signature", "</ds:Signature>", &cut);
    char *payload_end;
    char *twice;
    cw_buf_t b;

    (void)state;
    assert_non_null(rest);
    cw_free(rest);
    /* A copy of the signature inside the payload, the original still last. */
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(cw_buf_appendf(&b, "%s</Payload>", cut), 0);
    payload_end = b.data;
    twice = fx_replace(xml, "</Payload>", payload_end);
    assert_non_null(twice);
    assert_int_equal(verify_problem(twice), CW_SEC_PROBLEM_SIGNATURE_POLICY);
    cw_buf_fini(&b);
    cw_free(cut);
    cw_free(twice);
    cw_free(xml);
}

static void test_xmldsig__rejects_signature_inside_payload(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *cut = NULL;
    char *rest = fx_cut(xml, "<ds:Signature", "</ds:Signature>", &cut);
    char *moved;
    cw_buf_t b;

    (void)state;
    assert_non_null(rest);
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(cw_buf_appendf(&b, "%s</Payload>", cut), 0);
    moved = fx_replace(rest, "</Payload>", b.data);
    assert_non_null(moved);
    assert_int_equal(verify_problem(moved), CW_SEC_PROBLEM_SIGNATURE_POLICY);
    cw_buf_fini(&b);
    cw_free(cut);
    cw_free(rest);
    cw_free(moved);
    cw_free(xml);
}

static void test_xmldsig__rejects_xpath_transform(void **state)
{
    char *xml = fx_xmlsec1_signed(
        &fx, "alice", ECDSA256, "",
        "<ds:Transform Algorithm=\"" ENVELOPED "\"/>"
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">"
        "<ds:XPath>not(ancestor-or-self::*[local-name()='Value'])</ds:XPath></ds:Transform>"
        "<ds:Transform Algorithm=\"" EXC_C14N "\"/>",
        SHA256, X509_KEYINFO, "--privkey-pem alice.key,alice.pem");

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNATURE_POLICY);
    cw_free(xml);
}

static void test_xmldsig__rejects_xslt_transform(void **state)
{
    char *xml = fx_xmlsec1_signed(
        &fx, "alice", ECDSA256, "",
        "<ds:Transform Algorithm=\"" ENVELOPED "\"/>"
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\">"
        "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">"
        "<xsl:template match=\"/\"><x/></xsl:template></xsl:stylesheet></ds:Transform>",
        SHA256, X509_KEYINFO, "--privkey-pem alice.key,alice.pem");

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNATURE_POLICY);
    cw_free(xml);
}

static void test_xmldsig__rejects_hmac(void **state)
{
    char *xml = fx_xmlsec1_signed(&fx, "alice", HMAC256, "", STD_TRANSFORMS, SHA256, "",
                                  "--hmackey hmac.bin");

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_SIGNATURE_POLICY);
    cw_free(xml);
}

static void test_xmldsig__sha1_needs_legacy_flag(void **state)
{
    char *xml = fx_xmlsec1_signed(&fx, "carol", RSA1, "", STD_TRANSFORMS, SHA1, X509_KEYINFO,
                                  "--privkey-pem carol-rsa.key,carol-rsa.pem");
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_with(hub_strict, xml, NULL, &v), CW_ESIG);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_SIGNATURE_POLICY);
    assert_int_equal(verify_with(hub, xml, NULL, &v), 0);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_NONE);
    cw_free(xml);
}

/* ==== Rejected: sender, certificate, time, schema ==== */

static void test_xmldsig__rejects_unknown_sender(void **state)
{
    char *xml = fx_signed_envelope(&fx, "mallory", "mallory");

    (void)state;
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_UNKNOWN_SENDER);
    cw_free(xml);
}

static void test_xmldsig__rejects_tls_peer_mismatch(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t v;

    (void)state;
    opts.peer_party_id = "bob";
    assert_int_equal(verify_with(hub, xml, &opts, &v), CW_EPERM);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_SENDER_MISMATCH);
    cw_free(xml);
}

static void test_xmldsig__rejects_expired_certificate(void **state)
{
    char *xml = fx_signed_envelope(&fx, "old", "old");

    (void)state;
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_CERTIFICATE_EXPIRED);
    cw_free(xml);
}

static void test_xmldsig__rejects_stale_timestamp(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s() - 301, NULL);
    char *xml = fx_sign(&fx, "alice", "alice", env);
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_with(hub, xml, NULL, &v), CW_ESTALE);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_STALE_MESSAGE);
    /* Authenticated: the sender gets a signed negative receipt. */
    assert_int_equal(v.authenticated, 1);
    assert_int_equal(cw_sec_problem_status(v.problem) / 100, 4);
    /* The window is configurable. */
    opts.skew_s = 600;
    assert_int_equal(verify_with(hub, xml, &opts, &v), 0);
    cw_free(env);
    cw_free(xml);
}

static void test_xmldsig__rejects_future_timestamp(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s() + 400, NULL);
    char *xml = fx_sign(&fx, "alice", "alice", env);

    (void)state;
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_STALE_MESSAGE);
    cw_free(env);
    cw_free(xml);
}

static void test_xmldsig__rejects_header_with_child_elements(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s(), "alice<b>x</b>");
    char *xml = fx_sign(&fx, "alice", "alice", env);

    (void)state;
    assert_non_null(xml);
    assert_int_equal(verify_problem(xml), CW_SEC_PROBLEM_HEADER_INVALID);
    cw_free(env);
    cw_free(xml);
}

static void test_xmldsig__rejects_schema_invalid_after_auth(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s(), NULL);
    char *no_conv = fx_replace(env, "<ConversationId>c-1</ConversationId>", "");
    char *xml = fx_sign(&fx, "alice", "alice", no_conv);
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(xml);
    opts.schemas = schemas;
    assert_int_equal(verify_with(hub, xml, &opts, &v), CW_EPROTO);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_SCHEMA_INVALID);
    assert_int_equal(v.authenticated, 1);
    assert_int_equal(cw_sec_problem_status(v.problem), 422);
    cw_free(env);
    cw_free(no_conv);
    cw_free(xml);
}

/*
 * The envelope schema does not look inside the business document
 * (processContents="skip"): an element of the envelope's own namespace
 * nested in it, which a lax walk validated against the envelope's
 * declaration (an empty Evidence), is left to the document's own schema,
 * checked by the validation stage (SYN-001; test_checks_consignment's
 * schema cases refuse this one).
 */
static void test_xmldsig__schema_leaves_business_document_alone(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s(), NULL);
    char *nested = fx_replace(env, "</c:Consignment>", "<Evidence/></c:Consignment>");
    char *xml = fx_sign(&fx, "alice", "alice", nested);
    char *outside = fx_replace(env, "</Payload>", "<Evidence/></Payload>");
    char *xml_outside = fx_sign(&fx, "alice", "alice", outside);
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(xml);
    assert_non_null(xml_outside);
    opts.schemas = schemas;
    assert_int_equal(verify_with(hub, xml, &opts, &v), 0);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_NONE);
    /* The same element where the envelope declares it is still checked. */
    assert_int_equal(verify_with(hub, xml_outside, &opts, &v), CW_EPROTO);
    assert_int_equal(v.problem, CW_SEC_PROBLEM_SCHEMA_INVALID);
    cw_free(env);
    cw_free(nested);
    cw_free(xml);
    cw_free(outside);
    cw_free(xml_outside);
}

static void test_xmldsig__sign_refuses_signed_document(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");

    (void)state;
    /* fx_sign fails on a document that already carries a signature. */
    assert_null(fx_sign(&fx, "alice", "alice", xml));
    cw_free(xml);
}

/*
 * cw_sec_doc_sign_c14n gives, without a second walk or a serialiser, the
 * bytes to send: libxml2's exclusive canonical form of the signed tree, and
 * their SHA-256, the digest a receiver's receipt names (cw_sec_doc_sha256
 * of the signed tree and of what a receiver parses from the bytes). The
 * documents cover a root in a default namespace, a root that already binds
 * and uses the Signature's prefix (so the Signature must not render it
 * again), a root in no namespace, namespaces, PIs and escapes of every
 * kind, and a root with more attributes than c14n.c takes (the bytes then
 * come from libxml2).
 */
static void test_xmldsig__sign_c14n_is_sent_and_named(void **state)
{
    static const char *const bases[] = { "alice", "alice-rsa" };
    char *envelope = fx_envelope("alice", cw_time_wall_s(), NULL);
    cw_buf_t wide;
    const char *docs[] = {
        envelope,
        "<ds:Root xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:A>x</ds:A></ds:Root>",
        "<plain a=\"1\"><b xmlns=\"urn:b\"><c xmlns=\"\"/></b>\n</plain>",
        "<?xml version=\"1.0\"?>\n<?pi x?><r:Doc xmlns:r=\"urn:r\" xmlns=\"urn:default\""
        " z=\"2\" a=\"1 &amp; &lt;&#9;\"><Item><!-- c -->t &#x20AC; <![CDATA[<raw>&]]></Item>"
        "<p:Inner xmlns:p=\"urn:p1\"><p:X xmlns:p=\"urn:p2\" r:attr=\"v\"/></p:Inner>"
        "</r:Doc>\n<?after?>",
        NULL,
    };

    (void)state;
    assert_non_null(envelope);
    cw_buf_init(&wide, 1u << 20);
    assert_int_equal(cw_buf_appends(&wide, "<wide"), 0);
    for (int i = 0; i < 65; i++) {
        assert_int_equal(cw_buf_appendf(&wide, " a%d=\"%d\"", i, i), 0);
    }
    assert_int_equal(cw_buf_appends(&wide, "><x/></wide>"), 0);
    docs[sizeof(docs) / sizeof(docs[0]) - 1] = wide.data;
    for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
        char key[512];
        char cert[512];
        char name[128];
        cw_sec_keys_conf_t conf;
        cw_sec_keys_t *keys = NULL;
        cw_error_t err;

        memset(&conf, 0, sizeof(conf));
        (void)snprintf(name, sizeof(name), "%s.key", bases[b]);
        conf.key_path = fx_path(&fx, name, key, sizeof(key));
        (void)snprintf(name, sizeof(name), "%s.pem", bases[b]);
        conf.cert_path = fx_path(&fx, name, cert, sizeof(cert));
        conf.node_id = "alice";
        assert_int_equal(cw_sec_keys_new(&keys, &conf, &err), 0);
        for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
            unsigned char got[32];
            unsigned char tree[32];
            unsigned char received[32];
            cw_sec_problem_e problem;
            xmlDoc *doc = NULL;
            xmlDoc *again = NULL;
            char *bytes = NULL;
            size_t len = 0;
            xmlChar *ref = NULL;
            int ref_len;

            assert_int_equal(
                cw_sec_xml_parse(&doc, docs[i], strlen(docs[i]), &fx.limits, &problem, &err), 0);
            memset(got, 0, sizeof(got));
            assert_int_equal(cw_sec_doc_sign_c14n(keys, doc, &bytes, &len, got, &err), 0);
            assert_non_null(bytes);
            assert_int_equal(bytes[len], '\0');
            ref_len = xmlC14NDocDumpMemory(doc, NULL, XML_C14N_EXCLUSIVE_1_0, NULL, 0, &ref);
            assert_true(ref_len > 0);
            if ((size_t)ref_len != len || memcmp(bytes, ref, len) != 0) {
                fail_msg("document %zu: sent\n%s\nlibxml2:\n%s", i, bytes, (const char *)ref);
            }
            xmlFree(ref);
            assert_int_equal(EVP_Digest(bytes, len, tree, NULL, EVP_sha256(), NULL), 1);
            assert_memory_equal(got, tree, 32);
            assert_int_equal(cw_sec_doc_sha256(tree, doc, &err), 0);
            assert_memory_equal(got, tree, 32);
            assert_int_equal(cw_sec_xml_parse(&again, bytes, len, &fx.limits, &problem, &err), 0);
            assert_int_equal(cw_sec_doc_sha256(received, again, &err), 0);
            assert_memory_equal(got, received, 32);
            if (i == 0 && b == 0) {
                /* The envelope verifies as sent, with its digest where the
                 * native check makes one (alice's RSA certificate is not
                 * registered at the hub). */
                cw_sec_verified_t v;

                assert_int_equal(verify_with(hub, bytes, NULL, &v), 0);
                assert_true(v.has_doc_sha256 || through_xmlsec);
                if (v.has_doc_sha256) {
                    assert_memory_equal(v.doc_sha256, got, 32);
                }
            }
            xmlFreeDoc(again);
            xmlFreeDoc(doc);
            cw_free(bytes);
        }
        cw_sec_keys_unref(keys);
    }
    cw_buf_fini(&wide);
    cw_free(envelope);
}

/* ==== Interop with the xmlsec1 command ==== */

static void test_xmldsig__xmlsec1_verifies_ours(void **state)
{
    char *ec = fx_signed_envelope(&fx, "alice", "alice");
    char *rsa = fx_signed_envelope(&fx, "bob-rsa", "bob");

    (void)state;
    assert_int_equal(fx_write(&fx, "ours-ec.xml", ec, strlen(ec)), 0);
    assert_int_equal(fx_write(&fx, "ours-rsa.xml", rsa, strlen(rsa)), 0);
    assert_int_equal(fx_run("cd '%s' && xmlsec1 --verify --trusted-pem ca.pem ours-ec.xml "
                            ">/dev/null 2>&1",
                            fx.dir),
                     0);
    assert_int_equal(fx_run("cd '%s' && xmlsec1 --verify --trusted-pem ca.pem ours-rsa.xml "
                            ">/dev/null 2>&1",
                            fx.dir),
                     0);
    assert_int_equal(fx_run("cd '%s' && xmlsec1 --verify --enabled-key-data rsa,ecdsa "
                            "--pubkey-cert-pem alice.pem ours-ec.xml >/dev/null 2>&1",
                            fx.dir),
                     0);
    /* And it notices tampering, so the checks above can fail. */
    assert_int_equal(fx_run("cd '%s' && sed 's/>100.00</>1.00</' ours-ec.xml > bad.xml && "
                            "xmlsec1 --verify --trusted-pem ca.pem bad.xml >/dev/null 2>&1",
                            fx.dir),
                     1);
    cw_free(ec);
    cw_free(rsa);
}

/* xmlsec1's exit status verifying file (in the fixture's directory) with
 * only the public key of cert. */
static int xmlsec1_verify(const char *key_data, const char *cert, const char *file)
{
    return fx_run("cd '%s' && xmlsec1 --verify --enabled-key-data %s --pubkey-cert-pem %s %s "
                  ">/dev/null 2>&1",
                  fx.dir, key_data, cert, file);
}

/* Copies from to to with the tricky document's r:attr value changed. */
static int tamper(const char *from, const char *to)
{
    return fx_run("cd '%s' && sed 's/r:attr=\"v\"/r:attr=\"w\"/' %s > %s && ! cmp -s %s %s", fx.dir,
                  from, to, from, to);
}

/*
 * The signer canonicalises without xmlsec's node sets (a visibility
 * callback streamed into OpenSSL): xmlsec1 must accept what it writes for
 * both profiles on a document that exercises what canonicalisation
 * rewrites: comments (dropped), namespaces inherited from an ancestor of
 * the signed content, prefix redeclarations, attribute order and escaping,
 * CDATA, character references and whitespace.
 */
static void test_xmldsig__xmlsec1_verifies_ours_tricky_document(void **state)
{
    static const char *doc = "<?xml version=\"1.0\"?>\n"
                             "<!-- before the root -->\n"
                             "<r:Doc xmlns:r=\"urn:r\" xmlns=\"urn:default\" "
                             "xmlns:unused=\"urn:unused\" z=\"2\" a=\"1 &amp; &lt;&#9;\">\n"
                             "  <Item><!-- inside -->text &#x20AC; <![CDATA[<raw>&]]></Item>\n"
                             "  <p:Inner xmlns:p=\"urn:p1\"><p:X xmlns:p=\"urn:p2\" "
                             "r:attr=\"v\"/></p:Inner>\n"
                             "  <Empty></Empty>\r\n"
                             "</r:Doc>\n";
    char *ceb = fx_sign_profile(&fx, "bob-rsa", "bob", doc, CW_SEC_SIGN_CEB);
    char *ours = fx_sign_profile(&fx, "alice", "alice", doc, CW_SEC_SIGN_CLEARWAY);

    (void)state;
    assert_non_null(ceb);
    assert_non_null(ours);
    assert_non_null(strstr(ceb, "xml-c14n-20010315"));
    assert_non_null(strstr(ceb, "rsa-sha1"));
    assert_non_null(strstr(ours, "xml-exc-c14n#"));
    assert_non_null(strstr(ours, "ecdsa-sha256"));
    assert_int_equal(fx_write(&fx, "tricky-ceb.xml", ceb, strlen(ceb)), 0);
    assert_int_equal(fx_write(&fx, "tricky-ours.xml", ours, strlen(ours)), 0);
    assert_int_equal(xmlsec1_verify("rsa", "bob-rsa.pem", "tricky-ceb.xml"), 0);
    assert_int_equal(xmlsec1_verify("ecdsa", "alice.pem", "tricky-ours.xml"), 0);
    /* A changed attribute inside the signed content breaks both. */
    assert_int_equal(tamper("tricky-ceb.xml", "bad-ceb.xml"), 0);
    assert_int_equal(tamper("tricky-ours.xml", "bad-ours.xml"), 0);
    assert_int_equal(xmlsec1_verify("rsa", "bob-rsa.pem", "bad-ceb.xml"), 1);
    assert_int_equal(xmlsec1_verify("ecdsa", "alice.pem", "bad-ours.xml"), 1);
    cw_free(ceb);
    cw_free(ours);
}

static void test_xmldsig__verifies_xmlsec1_signed(void **state)
{
    char *ec = fx_xmlsec1_signed(&fx, "alice", ECDSA256, "", STD_TRANSFORMS, SHA256, X509_KEYINFO,
                                 "--privkey-pem alice.key,alice.pem");
    char *rsa = fx_xmlsec1_signed(&fx, "bob", RSA256, "", STD_TRANSFORMS, SHA256, X509_KEYINFO,
                                  "--privkey-pem bob-rsa.key,bob-rsa.pem");
    cw_sec_verified_t v;

    (void)state;
    assert_non_null(ec);
    assert_non_null(rsa);
    assert_int_equal(verify_with(hub, ec, NULL, &v), 0);
    assert_int_equal(verify_with(hub, rsa, NULL, &v), 0);
    assert_int_equal(v.cert_index, 1);
    cw_free(ec);
    cw_free(rsa);
}

/* ==== Threads ==== */

typedef struct worker {
    const char *xml;
    int ok;
} worker_t;

static void worker_run(void *arg)
{
    worker_t *w = arg;
    cw_sec_verified_t v;
    int i;

    for (i = 0; i < 20; i++) {
        if (verify_with(hub, w->xml, NULL, &v) == 0) {
            w->ok++;
        }
    }
}

static void test_xmldsig__verifies_on_several_threads(void **state)
{
    char *good = fx_signed_envelope(&fx, "alice", "alice");
    char *bad = fx_replace(good, ">100.00<", ">1.00<");
    uv_thread_t th[4];
    worker_t w[4];
    int i;

    (void)state;
    for (i = 0; i < 4; i++) {
        w[i].xml = (i % 2 == 0) ? good : bad;
        w[i].ok = 0;
        assert_int_equal(uv_thread_create(&th[i], worker_run, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        assert_int_equal(uv_thread_join(&th[i]), 0);
        assert_int_equal(w[i].ok, (i % 2 == 0) ? 20 : 0);
    }
    cw_free(good);
    cw_free(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xmldsig__accepts_ecdsa_envelope),
        cmocka_unit_test(test_xmldsig__accepts_rsa_and_rollover),
        cmocka_unit_test(test_xmldsig__signs_with_each_key_in_turn),
        cmocka_unit_test(test_xmldsig__verifies_with_each_key_in_turn),
        cmocka_unit_test(test_xmldsig__reads_full_text_across_comments),
        cmocka_unit_test(test_xmldsig__rejects_tampered_payload),
        cmocka_unit_test(test_xmldsig__rejects_bad_signature_value),
        cmocka_unit_test(test_xmldsig__rejects_malformed_values),
        cmocka_unit_test(test_xmldsig__rejects_relative_namespace_uri),
        cmocka_unit_test(test_xmldsig__keyinfo_cert_matched_as_text_or_der),
        cmocka_unit_test(test_xmldsig__rejects_wrong_key_with_registered_cert),
        cmocka_unit_test(test_xmldsig__rejects_unregistered_signer_same_ca),
        cmocka_unit_test(test_xmldsig__rejects_from_not_the_signer),
        cmocka_unit_test(test_xmldsig__ignores_keyvalue),
        cmocka_unit_test(test_xmldsig__rejects_missing_signature),
        cmocka_unit_test(test_xmldsig__rejects_reference_to_inner_element),
        cmocka_unit_test(test_xmldsig__rejects_two_signatures),
        cmocka_unit_test(test_xmldsig__rejects_signature_inside_payload),
        cmocka_unit_test(test_xmldsig__rejects_xpath_transform),
        cmocka_unit_test(test_xmldsig__rejects_xslt_transform),
        cmocka_unit_test(test_xmldsig__rejects_hmac),
        cmocka_unit_test(test_xmldsig__sha1_needs_legacy_flag),
        cmocka_unit_test(test_xmldsig__rejects_unknown_sender),
        cmocka_unit_test(test_xmldsig__rejects_tls_peer_mismatch),
        cmocka_unit_test(test_xmldsig__rejects_expired_certificate),
        cmocka_unit_test(test_xmldsig__rejects_stale_timestamp),
        cmocka_unit_test(test_xmldsig__rejects_future_timestamp),
        cmocka_unit_test(test_xmldsig__rejects_header_with_child_elements),
        cmocka_unit_test(test_xmldsig__rejects_schema_invalid_after_auth),
        cmocka_unit_test(test_xmldsig__schema_leaves_business_document_alone),
        cmocka_unit_test(test_xmldsig__sign_refuses_signed_document),
        cmocka_unit_test(test_xmldsig__sign_c14n_is_sent_and_named),
        cmocka_unit_test(test_xmldsig__xmlsec1_verifies_ours),
        cmocka_unit_test(test_xmldsig__xmlsec1_verifies_ours_tricky_document),
        cmocka_unit_test(test_xmldsig__verifies_xmlsec1_signed),
        cmocka_unit_test(test_xmldsig__verifies_on_several_threads),
    };

    int failed = cmocka_run_group_tests_name("sec_xmldsig", tests, group_setup, group_teardown);

    failed += cmocka_run_group_tests_name("sec_xmldsig_through_xmlsec", tests, group_setup_xmlsec,
                                          group_teardown);
    return failed;
}
