/*
 * Signed receipts (gateway/sec/receipt.c): build, digest, verify, and each
 * way a receipt can fail to match the envelope sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "sec.h"

static fx_t fx;
static cw_sec_keys_t *hub;   /* the receiver: signs receipts */
static cw_sec_keys_t *alice; /* the sender: verifies hub's receipts */
static cw_sec_schemas_t *schemas;
static xmlDoc *envelope; /* what alice sent */
static unsigned char sent_sha[32];

static int keys_make(cw_sec_keys_t **out, const char *self, const char *peer)
{
    char p[3][512];
    char name[64];
    const char *certs[1];
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_error_t err;

    (void)snprintf(name, sizeof(name), "%s.pem", peer);
    certs[0] = fx_path(&fx, name, p[0], sizeof(p[0]));
    partner = (cw_sec_partner_conf_t){ peer, certs, 1, 0 };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = self;
    (void)snprintf(name, sizeof(name), "%s.key", self);
    conf.key_path = fx_path(&fx, name, p[1], sizeof(p[1]));
    (void)snprintf(name, sizeof(name), "%s.pem", self);
    conf.cert_path = fx_path(&fx, name, p[2], sizeof(p[2]));
    conf.partners = &partner;
    conf.partner_count = 1;
    if (cw_sec_keys_new(out, &conf, &err) < 0) {
        fprintf(stderr, "keys: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_setup(void **state)
{
    cw_error_t err;
    cw_sec_problem_e p;
    char *env;
    char *signed_env;

    (void)state;
    if (cw_sec_lib_init(&err) < 0 || fx_init(&fx, "hub alice", NULL) < 0) {
        return -1;
    }
    if (keys_make(&hub, "hub", "alice") < 0 || keys_make(&alice, "alice", "hub") < 0
        || cw_sec_schemas_new(&schemas, &err) < 0) {
        return -1;
    }
    env = fx_envelope("alice", cw_time_wall_s(), NULL);
    signed_env = fx_sign(&fx, "alice", "alice", env);
    if (signed_env == NULL
        || cw_sec_xml_parse(&envelope, signed_env, strlen(signed_env), &fx.limits, &p, &err) < 0
        || cw_sec_doc_sha256(sent_sha, envelope, &err) < 0) {
        return -1;
    }
    cw_free(env);
    cw_free(signed_env);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    xmlFreeDoc(envelope);
    cw_sec_schemas_free(schemas);
    cw_sec_keys_unref(hub);
    cw_sec_keys_unref(alice);
    fx_fini(&fx);
    cw_sec_lib_fini();
    return 0;
}

/* hub's receipt for envelope, verified by alice. */
static int roundtrip(cw_sec_problem_e problem,
                     const char *expected_from,
                     const char *ref,
                     const char *(*mangle)(char *xml),
                     cw_sec_receipt_t *out,
                     cw_sec_problem_e *problem_out)
{
    cw_sec_receipt_params_t params;
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_problem_e p;
    cw_error_t err;
    xmlDoc *doc = NULL;
    char *xml = NULL;
    size_t len = 0;
    int rc;

    memset(&params, 0, sizeof(params));
    params.ref_message_id = "m-1";
    params.to = "alice";
    params.problem = problem;
    params.detail = problem != CW_SEC_PROBLEM_NONE ? "Timestamp <too> old & \"stale\"" : NULL;
    assert_int_equal(cw_sec_receipt_build(&xml, &len, hub, envelope, &params, &err), 0);
    assert_int_equal(strlen(xml), len);
    if (mangle != NULL) {
        (void)mangle(xml);
    }
    assert_int_equal(cw_sec_xml_parse(&doc, xml, len, &fx.limits, &p, &err), 0);
    opts.schemas = schemas;
    rc = cw_sec_receipt_verify(out, alice, doc, expected_from, ref, sent_sha, &opts, problem_out,
                               &err);
    if (rc < 0 && getenv("CW_TEST_VERBOSE") != NULL) {
        fprintf(stderr, "receipt: %s\n", err.msg);
    }
    xmlFreeDoc(doc);
    cw_free(xml);
    return rc;
}

static void test_receipt__positive_roundtrip(void **state)
{
    cw_sec_receipt_t r;
    cw_sec_problem_e p;

    (void)state;
    assert_int_equal(roundtrip(CW_SEC_PROBLEM_NONE, "hub", "m-1", NULL, &r, &p), 0);
    assert_int_equal(p, CW_SEC_PROBLEM_NONE);
    assert_int_equal(r.status, CW_SEC_RECEIPT_ACCEPTED);
    assert_string_equal(r.from, "hub");
    assert_string_equal(r.ref_message_id, "m-1");
    assert_int_equal(strlen(r.receipt_id), 36);
}

static void test_receipt__negative_carries_problem_type(void **state)
{
    cw_sec_receipt_t r;
    cw_sec_problem_e p;

    (void)state;
    assert_int_equal(roundtrip(CW_SEC_PROBLEM_STALE_MESSAGE, "hub", "m-1", NULL, &r, &p), 0);
    assert_int_equal(r.status, CW_SEC_RECEIPT_REJECTED);
    assert_int_equal(r.problem, CW_SEC_PROBLEM_STALE_MESSAGE);
}

static void test_receipt__rejects_other_message_id(void **state)
{
    cw_sec_receipt_t r;
    cw_sec_problem_e p;

    (void)state;
    assert_int_equal(roundtrip(CW_SEC_PROBLEM_NONE, "hub", "m-2", NULL, &r, &p), CW_EPROTO);
    assert_int_equal(p, CW_SEC_PROBLEM_RECEIPT_MISMATCH);
}

static const char *flip_digest(char *xml)
{
    char *d = strstr(xml, "sha256\">");

    assert_non_null(d);
    d += strlen("sha256\">");
    *d = *d == 'A' ? 'B' : 'A';
    return xml;
}

static void test_receipt__rejects_tampered_digest(void **state)
{
    cw_sec_receipt_t r;
    cw_sec_problem_e p;

    (void)state;
    /* Changing the digest breaks hub's signature first. */
    assert_int_equal(roundtrip(CW_SEC_PROBLEM_NONE, "hub", "m-1", flip_digest, &r, &p), CW_ESIG);
    assert_int_equal(p, CW_SEC_PROBLEM_SIGNATURE_INVALID);
}

static void test_receipt__rejects_digest_of_other_envelope(void **state)
{
    cw_sec_receipt_t r;
    cw_sec_problem_e p;
    unsigned char saved[32];

    (void)state;
    memcpy(saved, sent_sha, sizeof(saved));
    sent_sha[0] ^= 1;
    assert_int_equal(roundtrip(CW_SEC_PROBLEM_NONE, "hub", "m-1", NULL, &r, &p), CW_EPROTO);
    assert_int_equal(p, CW_SEC_PROBLEM_RECEIPT_MISMATCH);
    memcpy(sent_sha, saved, sizeof(saved));
}

static void test_receipt__rejects_unexpected_signer(void **state)
{
    cw_sec_receipt_t r;
    cw_sec_problem_e p;

    (void)state;
    assert_int_equal(roundtrip(CW_SEC_PROBLEM_NONE, "carrier", "m-1", NULL, &r, &p), CW_EPERM);
    assert_int_equal(p, CW_SEC_PROBLEM_UNKNOWN_SENDER);
}

static void test_receipt__digest_is_exclusive_c14n(void **state)
{
    cw_error_t err;
    cw_sec_problem_e p;
    unsigned char a[32];
    unsigned char b[32];
    xmlDoc *d1 = NULL;
    xmlDoc *d2 = NULL;
    /* Same canonical form: attribute order, quotes and the XML declaration differ. */
    const char *x1 = "<?xml version=\"1.0\"?><r xmlns=\"urn:x\" b='2' a=\"1\"><e/></r>";
    const char *x2 = "<r xmlns=\"urn:x\" a=\"1\" b=\"2\"><e></e></r>";

    (void)state;
    assert_int_equal(cw_sec_xml_parse(&d1, x1, strlen(x1), &fx.limits, &p, &err), 0);
    assert_int_equal(cw_sec_xml_parse(&d2, x2, strlen(x2), &fx.limits, &p, &err), 0);
    assert_int_equal(cw_sec_doc_sha256(a, d1, &err), 0);
    assert_int_equal(cw_sec_doc_sha256(b, d2, &err), 0);
    assert_memory_equal(a, b, 32);
    xmlFreeDoc(d1);
    xmlFreeDoc(d2);
}

/* Every cw_malloc failure on the receipt path is reported, never a crash
 * or a leak (STYLE.md rule 62). */
static void test_receipt__survives_allocation_failures(void **state)
{
    cw_sec_receipt_params_t params;
    cw_error_t err;
    char *xml = NULL;
    size_t len = 0;
    long n;
    int rc = -1;

    (void)state;
    memset(&params, 0, sizeof(params));
    params.ref_message_id = "m-1";
    params.to = "alice";
    for (n = 0; n < 1000 && rc != 0; n++) {
        cw_alloc_fail_after(n);
        rc = cw_sec_receipt_build(&xml, &len, hub, envelope, &params, &err);
        cw_alloc_fail_reset();
        if (rc != 0) {
            assert_true(rc < 0);
            assert_null(xml);
        }
    }
    assert_int_equal(rc, 0);
    assert_true(n > 1);
    cw_free(xml);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_receipt__positive_roundtrip),
        cmocka_unit_test(test_receipt__negative_carries_problem_type),
        cmocka_unit_test(test_receipt__rejects_other_message_id),
        cmocka_unit_test(test_receipt__rejects_tampered_digest),
        cmocka_unit_test(test_receipt__rejects_digest_of_other_envelope),
        cmocka_unit_test(test_receipt__rejects_unexpected_signer),
        cmocka_unit_test(test_receipt__digest_is_exclusive_c14n),
        cmocka_unit_test(test_receipt__survives_allocation_failures),
    };

    return cmocka_run_group_tests_name("sec_receipt", tests, group_setup, group_teardown);
}
