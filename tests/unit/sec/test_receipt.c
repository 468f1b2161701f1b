/*
 * Signed receipts (gateway/sec/receipt.c): build, digest, verify, and each
 * way a receipt can fail to match the envelope sent.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sec.h"
#include "sec/internal.h" /* cw_sec__receipt_tree_only; before fixture.h's macros */
/* clang-format off */
#include "fixture.h"
/* clang-format on */

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

static int64_t receipt_now; /* one Timestamp for both ways */

/* A receipt of hub's (keys) for envelope with attachment (NULL: none),
 * written or, with tree, built as a tree. */
static char *receipt_of(
    cw_sec_keys_t *keys, int tree, cw_sec_problem_e problem, const xmlNode *attachment, size_t *len)
{
    cw_sec_receipt_params_t params;
    cw_error_t err;
    char *xml = NULL;

    memset(&params, 0, sizeof(params));
    params.receipt_id = "r-1";
    params.ref_message_id = "m-1";
    params.to = "alice";
    params.problem = problem;
    params.detail = "Timestamp <too> old & \"stale\"\r";
    params.now_s = receipt_now;
    params.attachment = attachment;
    params.digest = sent_sha;
    cw_sec__receipt_tree_only(tree);
    assert_int_equal(cw_sec_receipt_build(&xml, len, keys, envelope, &params, &err), 0);
    cw_sec__receipt_tree_only(0);
    return xml;
}

/*
 * Receipts are written straight in canonical form, not built as a tree:
 * with an RSA key (deterministic signatures) the bytes are the tree's, for
 * a positive and a negative receipt and an attachment of every assessment
 * of the test data and of a tricky one; an attachment c14n.c leaves to
 * libxml2 is built as a tree. Written with the ECDSA key, an attachment's
 * receipt verifies.
 */
static void test_receipt__written_as_the_tree_builds_it(void **state)
{
    static const char *const tricky =
        "<a:Assessment xmlns:a=\"urn:clearway:assessment:1\" xmlns:x=\"urn:x\" x:n=\"1&amp;&lt;\">"
        "<a:Lane>red &gt; <![CDATA[&]]></a:Lane><Note xmlns=\"\">t<!-- c --><?pi d?></Note>"
        "<a:Finding code=\"&#9;&#10;\"/></a:Assessment>";
    const char *src = getenv("CLEARWAY_SRC");
    char dir[512];
    char p[4][512];
    const char *certs[1];
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_sec_keys_t *hub_rsa = NULL;
    cw_sec_problem_e problem;
    cw_error_t err;
    DIR *d;
    struct dirent *e;
    cw_buf_t wide;
    xmlDoc *docs[64];
    size_t n_docs = 0;

    (void)state;
    receipt_now = cw_time_wall_s();
    certs[0] = fx_path(&fx, "alice.pem", p[0], sizeof(p[0]));
    partner = (cw_sec_partner_conf_t){ "alice", certs, 1, 0 };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "hub";
    conf.key_path = fx_path(&fx, "hub-rsa.key", p[1], sizeof(p[1]));
    conf.cert_path = fx_path(&fx, "hub-rsa.pem", p[2], sizeof(p[2]));
    conf.partners = &partner;
    conf.partner_count = 1;
    assert_int_equal(cw_sec_keys_new(&hub_rsa, &conf, &err), 0);

    assert_non_null(src);
    (void)snprintf(dir, sizeof(dir), "%s/tests/data/consignments", src);
    d = opendir(dir);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL && n_docs < 60) {
        char path[1024];
        char *text;
        size_t len;
        FILE *f;

        if (strstr(e->d_name, ".assessment.xml") == NULL) {
            continue;
        }
        (void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        f = fopen(path, "rb");
        assert_non_null(f);
        text = cw_malloc(1u << 20);
        assert_non_null(text);
        len = fread(text, 1, (1u << 20) - 1, f);
        fclose(f);
        assert_int_equal(cw_sec_xml_parse(&docs[n_docs], text, len, &fx.limits, &problem, &err), 0);
        n_docs++;
        cw_free(text);
    }
    closedir(d);
    assert_true(n_docs >= 8);
    assert_int_equal(
        cw_sec_xml_parse(&docs[n_docs], tricky, strlen(tricky), &fx.limits, &problem, &err), 0);
    n_docs++;
    cw_buf_init(&wide, 1u << 20);
    assert_int_equal(cw_buf_appends(&wide, "<wide"), 0);
    for (int i = 0; i < 65; i++) {
        assert_int_equal(cw_buf_appendf(&wide, " a%d=\"%d\"", i, i), 0);
    }
    assert_int_equal(cw_buf_appends(&wide, "/>"), 0);
    assert_int_equal(
        cw_sec_xml_parse(&docs[n_docs], wide.data, wide.len, &fx.limits, &problem, &err), 0);
    n_docs++;
    cw_buf_fini(&wide);

    for (size_t i = 0; i <= n_docs; i++) {
        const xmlNode *att = i < n_docs ? xmlDocGetRootElement(docs[i]) : NULL;

        for (int rejected = 0; rejected < 2; rejected++) {
            cw_sec_problem_e pr = rejected ? CW_SEC_PROBLEM_STALE_MESSAGE : CW_SEC_PROBLEM_NONE;
            size_t tree_len;
            size_t written_len;
            char *tree = receipt_of(hub_rsa, 1, pr, att, &tree_len);
            char *written = receipt_of(hub_rsa, 0, pr, att, &written_len);

            if (tree_len != written_len || memcmp(tree, written, tree_len) != 0) {
                fail_msg("attachment %zu: written\n%s\ntree:\n%s", i, written, tree);
            }
            cw_free(tree);
            cw_free(written);
        }
        {
            cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
            cw_sec_receipt_t r;
            xmlDoc *doc = NULL;
            size_t len;
            char *xml = receipt_of(hub, 0, CW_SEC_PROBLEM_NONE, att, &len);
            int rc;

            assert_int_equal(cw_sec_xml_parse(&doc, xml, len, &fx.limits, &problem, &err), 0);
            rc = cw_sec_receipt_verify(&r, alice, doc, "hub", "m-1", sent_sha, &opts, &problem,
                                       &err);
            if (rc < 0) {
                fail_msg("attachment %zu: %s", i, err.msg);
            }
            assert_int_equal(r.status, CW_SEC_RECEIPT_ACCEPTED);
            xmlFreeDoc(doc);
            cw_free(xml);
        }
    }
    for (size_t i = 0; i < n_docs; i++) {
        xmlFreeDoc(docs[i]);
    }
    cw_sec_keys_unref(hub_rsa);
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
        cmocka_unit_test(test_receipt__written_as_the_tree_builds_it),
    };

    return cmocka_run_group_tests_name("sec_receipt", tests, group_setup, group_teardown);
}
