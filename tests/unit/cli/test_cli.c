/*
 * The clearway tool, run as a program: sign, verify and send, with the exit
 * codes of docs/cli.md. send talks to a one-shot HTTP responder in this
 * test that answers with a receipt built by cw_sec_receipt_build.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "../sec/fixture.h"
#include "msg.h"
#include "sec.h"

static fx_t fx;
static const char *cli;
static cw_sec_keys_t *hub;

#define PAYLOAD \
    "<c:Consignment xmlns:c=\"urn:clearway:consignment:1\"><c:Value>5</c:Value></c:Consignment>"

static int run_cli(const char *args)
{
    return fx_run("cd '%s' && '%s' %s >out.txt 2>err.txt", fx.dir, cli, args);
}

/* Keeps the last command's stdout as dir/name. */
static void save_out(const char *name)
{
    assert_int_equal(fx_run("cd '%s' && cp out.txt '%s'", fx.dir, name), 0);
}

static char *out_text(void)
{
    size_t len;
    char *s = fx_read(&fx, "out.txt", &len);

    assert_non_null(s);
    return s;
}

static int group_setup(void **state)
{
    const char *certs[1];
    char p[3][512];
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_error_t err;

    (void)state;
    cli = getenv("CLEARWAY_CLI");
    if (cli == NULL || cw_sec_lib_init(&err) < 0 || fx_init(&fx, "hub alice mallory", NULL) < 0
        || fx_write(&fx, "p.xml", PAYLOAD, strlen(PAYLOAD)) < 0) {
        return -1;
    }
    certs[0] = fx_path(&fx, "alice.pem", p[0], sizeof(p[0]));
    partner = (cw_sec_partner_conf_t){ "alice", certs, 1, 0 };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = "hub";
    conf.key_path = fx_path(&fx, "hub.key", p[1], sizeof(p[1]));
    conf.cert_path = fx_path(&fx, "hub.pem", p[2], sizeof(p[2]));
    conf.partners = &partner;
    conf.partner_count = 1;
    return cw_sec_keys_new(&hub, &conf, &err);
}

static int group_teardown(void **state)
{
    (void)state;
    cw_sec_keys_unref(hub);
    fx_fini(&fx);
    cw_sec_lib_fini();
    return 0;
}

static void test_cli__usage_and_help(void **state)
{
    (void)state;
    assert_int_equal(run_cli(""), 2);
    assert_int_equal(run_cli("bogus"), 2);
    assert_int_equal(run_cli("--help"), 0);
    assert_int_equal(run_cli("version"), 0);
    assert_int_equal(run_cli("version --help"), 0);
    assert_int_equal(run_cli("sign --help"), 0);
    assert_int_equal(run_cli("verify --help"), 0);
    assert_int_equal(run_cli("send --help"), 0);
    assert_int_equal(run_cli("sign --key alice.key p.xml"), 2);
    assert_int_equal(run_cli("verify env.xml"), 2);
    assert_int_equal(run_cli("send --url http://127.0.0.1:1/ --key alice.key --cert alice.pem "
                             "--receipt-cert hub.pem p.xml"),
                     2);
}

/* clearway adapter test with --transport-mode: what a partner's
 * adapter-transport-mode gives its consignments, tried without a node. */
static void test_cli__adapter_test_transport_mode(void **state)
{
    static const char csv[] = "tracking_number,destination_country,item_description_1\n"
                              "T1,DE,Lithium cells\n";
    char *out;

    (void)state;
    assert_int_equal(fx_write(&fx, "m.csv", csv, strlen(csv)), 0);
    assert_int_equal(run_cli("adapter test csv-manifest m.csv --transport-mode post"), 0);
    out = out_text();
    assert_non_null(strstr(out, "TransportMode>post</"));
    cw_free(out);
    assert_int_equal(run_cli("adapter test csv-manifest m.csv"), 0);
    out = out_text();
    assert_null(strstr(out, "TransportMode"));
    cw_free(out);
    assert_int_equal(run_cli("adapter test csv-manifest m.csv --transport-mode ship"), 3);
}

/* clearway adapter test --rules: each document followed by its assessment. */
static void test_cli__adapter_test_with_rules(void **state)
{
    static const char csv[] = "tracking_number,destination_country,currency,transport_mode,"
                              "item_description_1,item_quantity_1,item_value_1,item_hs_code_1,"
                              "item_origin_1\n"
                              "T1,DE,EUR,post,Lithium cells 18650,4,12.00,850650,CN\n"
                              "T2,FR,EUR,air,Cotton T-shirt,1,9.00,610910,CN\n";
    char args[1024];
    char *out;
    const char *a1;
    const char *a2;

    (void)state;
    assert_int_equal(fx_write(&fx, "r.csv", csv, strlen(csv)), 0);
    snprintf(args, sizeof(args),
             "adapter test csv-manifest r.csv --partner carrier --rules '%s/rules'",
             getenv("CLEARWAY_SRC"));
    assert_int_equal(run_cli(args), 0);
    out = out_text();
    /* In document order: the cells by post are prohibited, the shirt is not. */
    a1 = strstr(out, "<!-- assessment: lane red; findings ");
    assert_non_null(a1);
    assert_non_null(strstr(a1, "PRH-001"));
    assert_true(strstr(a1, "PRH-001") < strstr(a1, "-->"));
    a2 = strstr(a1 + 1, "<!-- assessment: lane ");
    assert_non_null(a2);
    assert_null(strstr(a2, "PRH-00"));
    assert_non_null(strstr(a2, "profile EU-2026 -->"));
    cw_free(out);
    assert_int_equal(run_cli("adapter test csv-manifest r.csv --rules /nonexistent-rules"), 3);
}

/*
 * A value the reader refuses, shaped to end the comment early: the
 * document fails its schema, so it is assessed as the daemon would
 * (SYN-001, red), and the line is still one well-formed comment.
 */
static void test_cli__adapter_test_rules_hostile_value(void **state)
{
    char args[2048];
    char *out;
    const char *a;
    const char *end;
    const char *p;

    (void)state;
    assert_int_equal(fx_run("cd '%s' && sed 's|>924.00</cbc:LineExtensionAmount>|"
                            ">1--\\&gt;\\&lt;x/\\&gt;\\&lt;!--</cbc:LineExtensionAmount>|' "
                            "'%s/tests/data/adapters/ubl-order.xml' >u.xml && grep -q 'x/' u.xml",
                            fx.dir, getenv("CLEARWAY_SRC")),
                     0);
    snprintf(args, sizeof(args), "adapter test ubl-order u.xml --rules '%s/rules'",
             getenv("CLEARWAY_SRC"));
    assert_int_equal(run_cli(args), 0);
    out = out_text();
    a = strstr(out, "<!-- assessment: lane red; findings ");
    assert_non_null(a);
    end = strstr(a + 4, "-->");
    assert_non_null(end);
    assert_true(strchr(a, '\n') > end);
    for (p = a + 4; p < end; p++) {
        assert_false(p[0] == '-' && p[1] == '-');
    }
    assert_non_null(strstr(a, "SYN-001"));
    cw_free(out);
}

static void test_cli__sign_then_verify(void **state)
{
    char *out;

    (void)state;
    assert_int_equal(run_cli("sign --key alice.key --cert alice.pem --from alice --to hub "
                             "--service ecommerce --action consignment --message-id m-42 p.xml"),
                     0);
    save_out("env.xml");
    assert_int_equal(run_cli("verify --cert alice-rsa.pem --cert alice.pem env.xml"), 0);
    out = out_text();
    assert_non_null(strstr(out, "valid from=alice to=hub message-id=m-42 cert=alice.pem"));
    cw_free(out);
    /* Interop: the command-line xmlsec1 accepts it too. */
    assert_int_equal(fx_run("cd '%s' && xmlsec1 --verify --trusted-pem ca.pem env.xml "
                            ">/dev/null 2>&1",
                            fx.dir),
                     0);
}

static void test_cli__verify_rejects_with_problem(void **state)
{
    char *out;

    (void)state;
    assert_int_equal(run_cli("sign --key mallory.key --cert mallory.pem --from alice --to hub "
                             "--service s --action a p.xml"),
                     0);
    save_out("evil.xml");
    assert_int_equal(run_cli("verify --cert alice.pem evil.xml"), 1);
    out = out_text();
    assert_non_null(strstr(out, "invalid signer-not-sender"));
    cw_free(out);
    assert_int_equal(run_cli("verify --cert alice.pem p.xml"), 1);
    assert_int_equal(run_cli("verify --cert missing.pem evil.xml"), 3);
    assert_int_equal(run_cli("verify --cert alice.pem missing.xml"), 3);
}

/* ==== send ==== */

typedef enum responder_mode_e {
    REPLY_ACCEPT = 0,
    REPLY_REJECT = 1,
    REPLY_WRONG_REF = 2,
} responder_mode_e;

typedef struct responder {
    int fd;
    uint16_t port;
    responder_mode_e mode;
    uv_thread_t thread;
} responder_t;

static int read_request(int fd, cw_buf_t *req, size_t *body_at, size_t *body_len)
{
    char chunk[4096];
    ssize_t n;
    const char *end;
    const char *cl;
    uint64_t len = 0;

    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n <= 0 || cw_buf_append(req, chunk, (size_t)n) < 0) {
            return -1;
        }
        end = strstr(req->data, "\r\n\r\n");
        if (end == NULL) {
            continue;
        }
        cl = strstr(req->data, "Content-Length: ");
        if (cl == NULL || cl > end) {
            return -1;
        }
        cl += strlen("Content-Length: ");
        if (cw_parse_uintn(cl, strcspn(cl, "\r"), 0, 1u << 24, &len) < 0) {
            return -1;
        }
        *body_at = (size_t)(end + 4 - req->data);
        *body_len = (size_t)len;
        if (req->len >= *body_at + *body_len) {
            return 0;
        }
    }
}

static void respond(void *arg)
{
    responder_t *r = arg;
    int fd = accept(r->fd, NULL, NULL);
    cw_buf_t req;
    cw_buf_t resp;
    size_t at = 0;
    size_t len = 0;
    xmlDoc *doc = NULL;
    cw_sec_problem_e problem;
    cw_msg_header_t hdr;
    cw_sec_receipt_params_t params;
    cw_conf_limits_t limits;
    cw_error_t err;
    char *receipt = NULL;
    size_t receipt_len = 0;

    cw_buf_init(&req, 1u << 24);
    cw_buf_init(&resp, 1u << 24);
    cw_config_limits_default(&limits);
    if (fd < 0 || read_request(fd, &req, &at, &len) < 0
        || cw_sec_xml_parse(&doc, req.data + at, len, &limits, &problem, &err) < 0
        || cw_msg_header_read(&hdr, doc, &err) < 0) {
        goto out;
    }
    memset(&params, 0, sizeof(params));
    params.ref_message_id = r->mode == REPLY_WRONG_REF ? "other" : hdr.message_id;
    params.to = hdr.from;
    params.problem = r->mode == REPLY_REJECT ? CW_SEC_PROBLEM_STALE_MESSAGE : CW_SEC_PROBLEM_NONE;
    if (cw_sec_receipt_build(&receipt, &receipt_len, hub, doc, &params, &err) < 0) {
        goto out;
    }
    if (cw_buf_appendf(&resp,
                       "HTTP/1.1 %s\r\nContent-Type: application/xml\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                       r->mode == REPLY_REJECT ? "400 Bad Request" : "200 OK", receipt_len)
            < 0
        || cw_buf_append(&resp, receipt, receipt_len) < 0) {
        goto out;
    }
    if (write(fd, resp.data, resp.len) != (ssize_t)resp.len) {
        goto out;
    }
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    cw_free(receipt);
    cw_buf_fini(&req);
    cw_buf_fini(&resp);
    if (fd >= 0) {
        (void)close(fd);
    }
}

static void responder_start(responder_t *r, responder_mode_e mode)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->mode = mode;
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->fd >= 0);
    assert_int_equal(bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(r->fd, 1), 0);
    assert_int_equal(getsockname(r->fd, (struct sockaddr *)&sa, &sl), 0);
    r->port = ntohs(sa.sin_port);
    assert_int_equal(uv_thread_create(&r->thread, respond, r), 0);
}

static void responder_stop(responder_t *r)
{
    assert_int_equal(uv_thread_join(&r->thread), 0);
    (void)close(r->fd);
}

static int send_to(responder_t *r, const char *file)
{
    char args[1024];

    (void)snprintf(args, sizeof(args),
                   "send --url http://127.0.0.1:%u/v1/messages --insecure-http-ok "
                   "--key alice.key --cert alice.pem --receipt-cert hub.pem "
                   "--from alice --to hub --service ecommerce --action consignment %s",
                   (unsigned)r->port, file);
    return run_cli(args);
}

static void test_cli__send_accepted(void **state)
{
    responder_t r;
    char *out;

    (void)state;
    responder_start(&r, REPLY_ACCEPT);
    assert_int_equal(send_to(&r, "p.xml"), 0);
    responder_stop(&r);
    out = out_text();
    assert_non_null(strstr(out, "accepted message-id="));
    cw_free(out);
}

static void test_cli__send_signed_envelope_as_is(void **state)
{
    responder_t r;

    (void)state;
    assert_int_equal(run_cli("sign --key alice.key --cert alice.pem --from alice --to hub "
                             "--service ecommerce --action consignment p.xml"),
                     0);
    save_out("e2.xml");
    responder_start(&r, REPLY_ACCEPT);
    assert_int_equal(send_to(&r, "e2.xml"), 0);
    responder_stop(&r);
}

static void test_cli__send_negative_receipt(void **state)
{
    responder_t r;
    char *out;

    (void)state;
    responder_start(&r, REPLY_REJECT);
    assert_int_equal(send_to(&r, "p.xml"), 1);
    responder_stop(&r);
    out = out_text();
    assert_non_null(strstr(out, "rejected stale-message"));
    cw_free(out);
}

static void test_cli__send_receipt_for_other_message(void **state)
{
    responder_t r;
    char *out;

    (void)state;
    responder_start(&r, REPLY_WRONG_REF);
    assert_int_equal(send_to(&r, "p.xml"), 1);
    responder_stop(&r);
    out = out_text();
    assert_non_null(strstr(out, "receipt-mismatch"));
    cw_free(out);
}

static void test_cli__send_transport_failure(void **state)
{
    responder_t r;
    struct sockaddr_in sa;
    int fd;

    (void)state;
    /* A port nobody listens on once the responder is gone: wake it with an
     * empty connection, then close it. */
    responder_start(&r, REPLY_ACCEPT);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons(r.port);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    (void)close(fd);
    responder_stop(&r);
    assert_int_equal(send_to(&r, "p.xml"), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli__usage_and_help),
        cmocka_unit_test(test_cli__adapter_test_transport_mode),
        cmocka_unit_test(test_cli__adapter_test_with_rules),
        cmocka_unit_test(test_cli__adapter_test_rules_hostile_value),
        cmocka_unit_test(test_cli__sign_then_verify),
        cmocka_unit_test(test_cli__verify_rejects_with_problem),
        cmocka_unit_test(test_cli__send_accepted),
        cmocka_unit_test(test_cli__send_signed_envelope_as_is),
        cmocka_unit_test(test_cli__send_negative_receipt),
        cmocka_unit_test(test_cli__send_receipt_for_other_message),
        cmocka_unit_test(test_cli__send_transport_failure),
    };

    return cmocka_run_group_tests_name("cli_clearway", tests, group_setup, group_teardown);
}
