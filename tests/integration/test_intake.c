/*
 * POST /v1/messages on a real clearwayd: good envelopes get a signed receipt
 * that verifies; every breach of the verification policy gets a 4xx with its
 * problem type (never a 5xx), and the daemon keeps serving.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "cw_test.h"
#include "fixture.h"
#include "sec.h"
#include "util.h"

static fx_t fx;
static cw_test_daemon_t daemon_;
static cw_sec_keys_t *sender; /* alice's view: hub registered, for receipts */

static int group_setup(void **state)
{
    char node[1024];
    char extra[2048];
    cw_error_t err = { 0 };
    cw_sec_keys_conf_t conf = { 0 };
    cw_sec_partner_conf_t hub = { 0 };
    char hub_pem[512];
    const char *hub_certs[1];

    (void)state;
    if (cw_sec_lib_init(&err) < 0 || fx_init(&fx, "hub alice bob mallory", "old") < 0) {
        return -1;
    }
    if (fx_run("head -c 32 /dev/urandom > '%s/hmac.bin'", fx.dir) != 0) {
        return -1;
    }
    snprintf(node, sizeof(node), "<node id=\"hub\" key=\"%s/hub.key\" cert=\"%s/hub.pem\"/>",
             fx.dir, fx.dir);
    snprintf(extra, sizeof(extra),
             "  <limits><xml-bytes-max>1048576</xml-bytes-max></limits>\n"
             "  <partner id=\"alice\" certs=\"%s/alice.pem %s/alice-rsa.pem\" actions=\"*\"\n"
             "           destinations=\"*\"/>\n"
             "  <partner id=\"bob\" certs=\"%s/bob.pem\" actions=\"*\" destinations=\"*\"/>\n"
             "  <partner id=\"old\" certs=\"%s/old.pem\" actions=\"*\" destinations=\"*\"/>\n",
             fx.dir, fx.dir, fx.dir, fx.dir);
    if (cw_test_daemon_start_as(&daemon_, node, extra) < 0) {
        return -1;
    }
    hub_certs[0] = fx_path(&fx, "hub.pem", hub_pem, sizeof(hub_pem));
    hub.party_id = "hub";
    hub.cert_paths = hub_certs;
    hub.cert_count = 1;
    conf.node_id = "alice";
    conf.partners = &hub;
    conf.partner_count = 1;
    return cw_sec_keys_new(&sender, &conf, &err) < 0 ? -1 : 0;
}

static int group_teardown(void **state)
{
    int status;

    (void)state;
    status = cw_test_daemon_stop(&daemon_, SIGTERM, 10000);
    cw_test_daemon_cleanup(&daemon_);
    cw_sec_keys_unref(sender);
    fx_fini(&fx);
    cw_sec_lib_fini();
    return status == 0 ? 0 : -1;
}

/* POSTs xml as a message; the response is left in r. */
static void post(const char *xml, cw_test_response_t *r)
{
    cw_buf_t b;

    assert_non_null(xml);
    cw_buf_init(&b, 4u << 20);
    assert_int_equal(cw_buf_appendf(&b,
                                    "POST /v1/messages HTTP/1.1\r\nHost: hub\r\n"
                                    "Content-Type: application/xml\r\nContent-Length: %zu\r\n\r\n",
                                    strlen(xml)),
                     0);
    assert_int_equal(cw_buf_appends(&b, xml), 0);
    assert_int_equal(cw_test_roundtrip(daemon_.port, b.data, b.len, r), 0);
    cw_buf_fini(&b);
}

/* Expects a problem document (not a receipt) of slug with status. */
static void expect_problem(const char *xml, int status, const char *slug)
{
    cw_test_response_t r;
    char type[128];

    post(xml, &r);
    snprintf(type, sizeof(type), "urn:clearway:problem:%s", slug);
    if (r.status != status || strstr(r.body, type) == NULL) {
        fail_msg("expected %d %s, got %d: %s", status, slug, r.status, r.body);
    }
    assert_non_null(strstr(r.headers, "Content-Type: application/problem+json"));
    cw_test_response_fini(&r);
}

/* The MessageId of an envelope's text, copied into out. */
static const char *message_id_of(const char *xml, char *out, size_t size)
{
    const char *p = strstr(xml, "<MessageId>");
    const char *q;

    assert_non_null(p);
    p += strlen("<MessageId>");
    q = strstr(p, "</MessageId>");
    assert_non_null(q);
    assert_true((size_t)(q - p) < size);
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
    return out;
}

/* Verifies that r carries hub's signed receipt for xml, returns it parsed. */
static void check_receipt(const cw_test_response_t *r, const char *xml, cw_sec_receipt_t *out)
{
    xmlDoc *sent = NULL;
    xmlDoc *receipt = NULL;
    unsigned char digest[32];
    char id[128];
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    cw_error_t err = { 0 };
    int rc;

    assert_non_null(strstr(r->headers, "Content-Type: application/xml"));
    assert_int_equal(cw_sec_xml_parse(&sent, xml, strlen(xml), &fx.limits, &problem, &err), 0);
    assert_int_equal(cw_sec_doc_sha256(digest, sent, &err), 0);
    assert_int_equal(cw_sec_xml_parse(&receipt, r->body, r->body_len, &fx.limits, &problem, &err),
                     0);
    rc = cw_sec_receipt_verify(out, sender, receipt, "hub", message_id_of(xml, id, sizeof(id)),
                               digest, NULL, &problem, &err);
    if (rc < 0) {
        fail_msg("receipt does not verify: %s: %s", cw_sec_problem_slug(problem), err.msg);
    }
    xmlFreeDoc(receipt);
    xmlFreeDoc(sent);
}

static void expect_accepted(const char *xml)
{
    cw_test_response_t r;
    cw_sec_receipt_t receipt;

    post(xml, &r);
    if (r.status != 200) {
        fail_msg("expected 200, got %d: %s", r.status, r.body);
    }
    check_receipt(&r, xml, &receipt);
    assert_int_equal(receipt.status, CW_SEC_RECEIPT_ACCEPTED);
    assert_string_equal(receipt.from, "hub");
    cw_test_response_fini(&r);
}

/* ==== Accepted ==== */

static void test_intake__ecdsa_envelope_gets_signed_receipt(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");

    (void)state;
    expect_accepted(xml);
    cw_free(xml);
}

static void test_intake__rsa_rollover_certificate_accepted(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice-rsa", "alice");

    (void)state;
    expect_accepted(xml);
    cw_free(xml);
}

static void test_intake__xmlsec1_signed_envelope_accepted(void **state)
{
    char *xml = fx_xmlsec1_signed(&fx, "alice", ECDSA256, "", STD_TRANSFORMS, SHA256, X509_KEYINFO,
                                  "--privkey-pem alice.key,alice.pem");

    (void)state;
    expect_accepted(xml);
    cw_free(xml);
}

/* ==== Refused: content and keys ==== */

static void test_intake__tampered_payload(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *bad = fx_replace(xml, "100.00", "1.00");

    (void)state;
    expect_problem(bad, 401, "signature-invalid");
    cw_free(bad);
    cw_free(xml);
}

static void test_intake__bad_signature_value(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *p = strstr(xml, "<ds:SignatureValue>");

    (void)state;
    assert_non_null(p);
    p += strlen("<ds:SignatureValue>");
    *p = *p == 'A' ? 'B' : 'A';
    expect_problem(xml, 401, "signature-invalid");
    cw_free(xml);
}

static void test_intake__wrong_key_with_registered_cert(void **state)
{
    /* mallory signs as alice and pastes alice's certificate into KeyInfo:
     * the certificate matches, the key does not. */
    char *good = fx_signed_envelope(&fx, "alice", "alice");
    char *evil = fx_signed_envelope(&fx, "mallory", "alice");
    char *cut_good = NULL;
    char *cut_evil = NULL;
    char *rest_good = fx_cut(good, "<ds:X509Certificate>", "</ds:X509Certificate>", &cut_good);
    char *rest_evil = fx_cut(evil, "<ds:X509Certificate>", "</ds:X509Certificate>", &cut_evil);
    char *forged;

    (void)state;
    assert_non_null(rest_good);
    assert_non_null(rest_evil);
    forged = fx_replace(evil, cut_evil, cut_good);
    assert_non_null(forged);
    expect_problem(forged, 401, "signature-invalid");
    cw_free(forged);
    cw_free(rest_good);
    cw_free(rest_evil);
    cw_free(cut_good);
    cw_free(cut_evil);
    cw_free(good);
    cw_free(evil);
}

static void test_intake__unregistered_signer_from_same_ca(void **state)
{
    char *xml = fx_signed_envelope(&fx, "mallory", "alice");

    (void)state;
    expect_problem(xml, 403, "signer-not-sender");
    cw_free(xml);
}

static void test_intake__from_is_not_the_signer(void **state)
{
    char *xml = fx_signed_envelope(&fx, "bob", "alice");

    (void)state;
    expect_problem(xml, 403, "signer-not-sender");
    cw_free(xml);
}

static void test_intake__keyvalue_does_not_choose_the_key(void **state)
{
    /* mallory's own public key as KeyValue: ignored, so verification uses
     * alice's registered keys and fails. */
    char *xml = fx_xmlsec1_signed(&fx, "alice", RSA256, "", STD_TRANSFORMS, SHA256,
                                  "<ds:KeyInfo><ds:KeyValue/></ds:KeyInfo>",
                                  "--privkey-pem mallory-rsa.key");

    (void)state;
    assert_non_null(xml);
    assert_non_null(strstr(xml, "KeyValue><"));
    expect_problem(xml, 401, "signature-invalid");
    cw_free(xml);
}

static void test_intake__unknown_sender(void **state)
{
    char *xml = fx_signed_envelope(&fx, "mallory", "mallory");

    (void)state;
    expect_problem(xml, 403, "unknown-sender");
    cw_free(xml);
}

static void test_intake__expired_certificate(void **state)
{
    char *xml = fx_signed_envelope(&fx, "old", "old");

    (void)state;
    expect_problem(xml, 403, "certificate-expired");
    cw_free(xml);
}

/* ==== Refused: signature structure and algorithms ==== */

static void test_intake__missing_signature(void **state)
{
    char *xml = fx_envelope("alice", cw_time_wall_s(), NULL);

    (void)state;
    expect_problem(xml, 401, "signature-missing");
    cw_free(xml);
}

static void test_intake__reference_to_inner_element(void **state)
{
    char *xml = fx_xmlsec1_signed(&fx, "alice", ECDSA256, "#c1",
                                  "<ds:Transform Algorithm=\"" EXC_C14N "\"/>", SHA256,
                                  X509_KEYINFO, "--privkey-pem alice.key,alice.pem");

    (void)state;
    expect_problem(xml, 401, "signature-policy");
    cw_free(xml);
}

static void test_intake__two_signatures(void **state)
{
    char *xml = fx_signed_envelope(&fx, "alice", "alice");
    char *cut = NULL;
    char *rest = fx_cut(xml, "<ds:Signature", "</ds:Signature>", &cut);
    char *twice;
    cw_buf_t b;

    (void)state;
    assert_non_null(rest);
    cw_buf_init(&b, 1u << 20);
    assert_int_equal(cw_buf_appendf(&b, "%s%s</Envelope>", cut, cut), 0);
    twice = fx_replace(rest, "</Envelope>", b.data);
    expect_problem(twice, 401, "signature-policy");
    cw_buf_fini(&b);
    cw_free(twice);
    cw_free(rest);
    cw_free(cut);
    cw_free(xml);
}

static void test_intake__signature_inside_payload(void **state)
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
    expect_problem(moved, 401, "signature-policy");
    cw_buf_fini(&b);
    cw_free(moved);
    cw_free(rest);
    cw_free(cut);
    cw_free(xml);
}

static void test_intake__xpath_and_xslt_transforms(void **state)
{
    char *xpath = fx_xmlsec1_signed(
        &fx, "alice", ECDSA256, "",
        "<ds:Transform Algorithm=\"" ENVELOPED "\"/>"
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">"
        "<ds:XPath>not(ancestor-or-self::*[local-name()='Value'])</ds:XPath></ds:Transform>"
        "<ds:Transform Algorithm=\"" EXC_C14N "\"/>",
        SHA256, X509_KEYINFO, "--privkey-pem alice.key,alice.pem");
    char *xslt = fx_xmlsec1_signed(
        &fx, "alice", ECDSA256, "",
        "<ds:Transform Algorithm=\"" ENVELOPED "\"/>"
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\">"
        "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">"
        "<xsl:template match=\"/\"><x/></xsl:template></xsl:stylesheet></ds:Transform>",
        SHA256, X509_KEYINFO, "--privkey-pem alice.key,alice.pem");

    (void)state;
    expect_problem(xpath, 401, "signature-policy");
    expect_problem(xslt, 401, "signature-policy");
    cw_free(xpath);
    cw_free(xslt);
}

static void test_intake__hmac(void **state)
{
    char *xml = fx_xmlsec1_signed(&fx, "alice", HMAC256, "", STD_TRANSFORMS, SHA256, "",
                                  "--hmackey hmac.bin");

    (void)state;
    expect_problem(xml, 401, "signature-policy");
    cw_free(xml);
}

static void test_intake__sha1_without_legacy_flag(void **state)
{
    char *xml = fx_xmlsec1_signed(&fx, "alice", RSA1, "", STD_TRANSFORMS, SHA1, X509_KEYINFO,
                                  "--privkey-pem alice-rsa.key,alice-rsa.pem");

    (void)state;
    expect_problem(xml, 401, "signature-policy");
    cw_free(xml);
}

/* ==== Refused after authentication: a signed negative receipt ==== */

static void test_intake__stale_timestamp_gets_negative_receipt(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s() - 3600, NULL);
    char *xml = fx_sign(&fx, "alice", "alice", env);
    cw_test_response_t r;
    cw_sec_receipt_t receipt;

    (void)state;
    post(xml, &r);
    assert_int_equal(r.status, 400);
    check_receipt(&r, xml, &receipt);
    assert_int_equal(receipt.status, CW_SEC_RECEIPT_REJECTED);
    assert_int_equal(receipt.problem, CW_SEC_PROBLEM_STALE_MESSAGE);
    cw_test_response_fini(&r);
    cw_free(xml);
    cw_free(env);
}

static void test_intake__no_route_gets_negative_receipt(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s(), NULL);
    char *elsewhere = fx_replace(env, "<To>hub</To>", "<To>nowhere</To>");
    char *xml = fx_sign(&fx, "alice", "alice", elsewhere);
    cw_test_response_t r;
    cw_sec_receipt_t receipt;

    (void)state;
    post(xml, &r);
    assert_int_equal(r.status, 422);
    check_receipt(&r, xml, &receipt);
    assert_int_equal(receipt.status, CW_SEC_RECEIPT_REJECTED);
    assert_int_equal(receipt.problem, CW_SEC_PROBLEM_NO_ROUTE);
    cw_test_response_fini(&r);
    cw_free(xml);
    cw_free(elsewhere);
    cw_free(env);
}

/* ==== Refused before parsing or at parse ==== */

static void test_intake__doctype_and_entity_bomb(void **state)
{
    (void)state;
    expect_problem("<!DOCTYPE Envelope><Envelope xmlns=\"urn:clearway:envelope:1\"/>", 400,
                   "doctype-forbidden");
    expect_problem("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                   "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
                   "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
                   "<lolz>&lol3;</lolz>",
                   400, "doctype-forbidden");
}

/*
 * A payload declaring a namespace whose URI holds '&' is well-formed, but
 * the sealed envelope could not be (libxml2's C14N writes namespace URIs
 * unescaped): refused at parse, before the signature is even read.
 */
static void test_intake__namespace_uri_it_cannot_carry(void **state)
{
    char *env = fx_envelope("alice", cw_time_wall_s(), NULL);
    char *xml = fx_replace(env, "Id=\"c1\"", "Id=\"c1\" xmlns:q=\"urn:q?a=1&amp;b=2\"");

    (void)state;
    expect_problem(xml, 400, "namespace-uri-refused");
    cw_free(xml);
    cw_free(env);
}

static void test_intake__hundred_thousand_deep_nesting(void **state)
{
    cw_buf_t b;
    int i;

    (void)state;
    cw_buf_init(&b, 1u << 20);
    for (i = 0; i < 100000; i++) {
        assert_int_equal(cw_buf_append(&b, "<a>", 3), 0);
    }
    expect_problem(b.data, 400, "xml-too-deep");
    cw_buf_fini(&b);
}

static void test_intake__oversize_is_refused_unparsed(void **state)
{
    cw_buf_t b;
    int i;

    (void)state;
    /* Above xml-bytes-max (1 MiB here) but within body-bytes-max (8 MiB). */
    cw_buf_init(&b, 4u << 20);
    assert_int_equal(cw_buf_appends(&b, "<a>"), 0);
    for (i = 0; i < 2 * 1024 * 1024 / 16; i++) {
        assert_int_equal(cw_buf_append(&b, "0123456789abcdef", 16), 0);
    }
    assert_int_equal(cw_buf_appends(&b, "</a>"), 0);
    expect_problem(b.data, 413, "xml-too-large");
    cw_buf_fini(&b);
}

static void test_intake__malformed_xml(void **state)
{
    (void)state;
    expect_problem("<Envelope xmlns=\"urn:clearway:envelope:1\"><Header>", 400, "malformed-xml");
    expect_problem("not xml at all", 400, "malformed-xml");
}

/* Runs the clearway CLI (a shell fragment of arguments); returns its exit
 * status and its output in out. */
static int cli(const char *args, char *out, size_t size)
{
    char cmd[4096];
    FILE *p;
    size_t n;
    int status;

    snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' %s 2>&1", fx.dir, getenv("CLEARWAY_CLI"), args);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_intake__cli_send_gets_verified_receipt(void **state)
{
    char args[2048];
    char out[4096];
    const char *payload = "<c:Consignment xmlns:c=\"urn:clearway:consignment:1\"><c:Id>C-9</c:Id>"
                          "</c:Consignment>";

    (void)state;
    assert_int_equal(fx_write(&fx, "payload.xml", payload, strlen(payload)), 0);
    snprintf(args, sizeof(args),
             "send --url http://127.0.0.1:%d/v1/messages --insecure-http-ok --key alice.key "
             "--cert alice.pem --receipt-cert %s --from alice --to hub --service customs "
             "--action submit payload.xml",
             daemon_.port, "hub.pem");
    if (cli(args, out, sizeof(out)) != 0) {
        fail_msg("clearway send failed: %s", out);
    }
    assert_true(strncmp(out, "accepted ", 9) == 0);
    /* A receipt signed by someone else is refused by the sender. */
    snprintf(args, sizeof(args),
             "send --url http://127.0.0.1:%d/v1/messages --insecure-http-ok --key alice.key "
             "--cert alice.pem --receipt-cert bob.pem --from alice --to hub --service customs "
             "--action submit payload.xml",
             daemon_.port);
    assert_int_equal(cli(args, out, sizeof(out)), 1);
}

static void test_intake__daemon_still_serves(void **state)
{
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    const char *m = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    cw_test_response_t r;

    (void)state;
    assert_int_equal(cw_test_roundtrip(daemon_.port, req, strlen(req), &r), 0);
    assert_int_equal(r.status, 200);
    cw_test_response_fini(&r);
    /* Not one 5xx among all the refusals above. */
    assert_int_equal(cw_test_roundtrip(daemon_.port, m, strlen(m), &r), 0);
    assert_null(strstr(r.body, "route=\"/v1/messages\",status=\"5"));
    assert_non_null(strstr(r.body, "route=\"/v1/messages\",status=\"200\""));
    cw_test_response_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intake__ecdsa_envelope_gets_signed_receipt),
        cmocka_unit_test(test_intake__rsa_rollover_certificate_accepted),
        cmocka_unit_test(test_intake__xmlsec1_signed_envelope_accepted),
        cmocka_unit_test(test_intake__tampered_payload),
        cmocka_unit_test(test_intake__bad_signature_value),
        cmocka_unit_test(test_intake__wrong_key_with_registered_cert),
        cmocka_unit_test(test_intake__unregistered_signer_from_same_ca),
        cmocka_unit_test(test_intake__from_is_not_the_signer),
        cmocka_unit_test(test_intake__keyvalue_does_not_choose_the_key),
        cmocka_unit_test(test_intake__unknown_sender),
        cmocka_unit_test(test_intake__expired_certificate),
        cmocka_unit_test(test_intake__missing_signature),
        cmocka_unit_test(test_intake__reference_to_inner_element),
        cmocka_unit_test(test_intake__two_signatures),
        cmocka_unit_test(test_intake__signature_inside_payload),
        cmocka_unit_test(test_intake__xpath_and_xslt_transforms),
        cmocka_unit_test(test_intake__hmac),
        cmocka_unit_test(test_intake__sha1_without_legacy_flag),
        cmocka_unit_test(test_intake__stale_timestamp_gets_negative_receipt),
        cmocka_unit_test(test_intake__no_route_gets_negative_receipt),
        cmocka_unit_test(test_intake__doctype_and_entity_bomb),
        cmocka_unit_test(test_intake__namespace_uri_it_cannot_carry),
        cmocka_unit_test(test_intake__hundred_thousand_deep_nesting),
        cmocka_unit_test(test_intake__oversize_is_refused_unparsed),
        cmocka_unit_test(test_intake__malformed_xml),
        cmocka_unit_test(test_intake__cli_send_gets_verified_receipt),
        cmocka_unit_test(test_intake__daemon_still_serves),
    };

    return cmocka_run_group_tests_name("integration_intake", tests, group_setup, group_teardown);
}
