/*
 * The clearway tool, run as a program: sign, verify and send, keys and
 * partners, with the exit codes of docs/cli.md. send talks to a one-shot
 * HTTP responder in this test that answers with a receipt built by
 * cw_sec_receipt_build. What keys and partners print is checked against
 * the openssl command and OpenSSL's own APIs.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
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

/* ==== keys ==== */

static char *err_text(void)
{
    size_t len;
    char *s = fx_read(&fx, "err.txt", &len);

    assert_non_null(s);
    return s;
}

/* The number of lines in s. */
static size_t line_count(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        n += *s == '\n';
    }
    return n;
}

/* The value after "label " on the line that starts with label in out. */
static void field(const char *out, const char *label, char *val, size_t size)
{
    const char *p = out;
    size_t n = strlen(label);
    size_t v;

    val[0] = '\0';
    while (p != NULL && *p != '\0') {
        if (strncmp(p, label, n) == 0 && p[n] == ' ') {
            p += n + strspn(p + n, " ");
            v = strcspn(p, "\n");
            assert_true(v < size);
            memcpy(val, p, v);
            val[v] = '\0';
            return;
        }
        p = strchr(p, '\n');
        p = p != NULL ? p + 1 : NULL;
    }
    fail_msg("no '%s' line in:\n%s", label, out);
}

/* What `openssl x509 -fingerprint -sha256` says of dir/pem: AB:CD:... */
static void openssl_fingerprint(const char *pem, char *out, size_t size)
{
    char *text;
    const char *eq;

    assert_int_equal(
        fx_run("cd '%s' && openssl x509 -in '%s' -noout -fingerprint -sha256 >fp.txt", fx.dir, pem),
        0);
    text = fx_read(&fx, "fp.txt", NULL);
    assert_non_null(text);
    eq = strchr(text, '=');
    assert_non_null(eq);
    (void)cw_strlcpy(out, eq + 1, size);
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(strlen(out), 95);
    cw_free(text);
}

static X509 *cert_of(const char *name)
{
    char p[512];
    FILE *f = fopen(fx_path(&fx, name, p, sizeof(p)), "r");
    X509 *x;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    (void)fclose(f);
    assert_non_null(x);
    return x;
}

static EVP_PKEY *key_of(const char *name)
{
    char p[512];
    FILE *f = fopen(fx_path(&fx, name, p, sizeof(p)), "r");
    EVP_PKEY *k;

    assert_non_null(f);
    k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    (void)fclose(f);
    assert_non_null(k);
    return k;
}

static mode_t mode_of(const char *name)
{
    char p[512];
    struct stat st;

    assert_int_equal(stat(fx_path(&fx, name, p, sizeof(p)), &st), 0);
    return st.st_mode & 07777;
}

static int exists(const char *name)
{
    char p[512];

    return access(fx_path(&fx, name, p, sizeof(p)), F_OK) == 0;
}

static void test_cli__keys_and_partners_usage(void **state)
{
    (void)state;
    assert_int_equal(run_cli("keys --help"), 0);
    assert_int_equal(run_cli("keys new --help"), 0);
    assert_int_equal(run_cli("keys show --help"), 0);
    assert_int_equal(run_cli("keys check --help"), 0);
    assert_int_equal(run_cli("partners --help"), 0);
    assert_int_equal(run_cli("keys"), 2);
    assert_int_equal(run_cli("keys bogus"), 2);
    assert_int_equal(run_cli("keys new --out u.key"), 2);
    assert_int_equal(run_cli("keys new --type dsa-1024 --out u.key"), 2);
    assert_int_equal(run_cli("keys new --type rsa-1024 --out u.key"), 2);
    assert_int_equal(run_cli("keys new --type ecdsa-p256 --out u.key --csr u.csr"), 2);
    assert_int_equal(run_cli("keys new --type ecdsa-p256 --out u.key --party u"), 2);
    assert_int_equal(run_cli("keys new --type ecdsa-p256 --out u.key --csr u.csr --party 'a b'"),
                     2);
    assert_false(exists("u.key"));
    assert_false(exists("u.csr"));
    assert_int_equal(run_cli("keys show"), 2);
    assert_int_equal(run_cli("keys show a.pem b.pem"), 2);
    assert_int_equal(run_cli("keys check --key alice.key"), 2);
    assert_int_equal(run_cli("partners"), 2);
    assert_int_equal(run_cli("partners --config c.xml --days -1"), 2);
    assert_int_equal(run_cli("partners --config c.xml --days 40000"), 2);
}

static void test_cli__keys_new_ecdsa_with_csr(void **state)
{
    char p[512];
    char cn[256];
    char *out;
    char *pem;
    FILE *f;
    X509_REQ *req;
    EVP_PKEY *key;
    char fp[128];

    (void)state;
    /* With no umask the key would be 0666: its 0600 is the tool's. */
    assert_int_equal(fx_run("cd '%s' && umask 000 && '%s' keys new --type ecdsa-p256 --out n.key "
                            "--csr n.csr --party carrier-9 >out.txt 2>err.txt",
                            fx.dir, cli),
                     0);
    assert_int_equal(mode_of("n.key"), 0600);
    assert_int_equal(mode_of("n.csr"), 0644);
    pem = fx_read(&fx, "n.key", NULL);
    assert_non_null(pem);
    /* PKCS#8, unencrypted. */
    assert_true(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    cw_free(pem);
    key = key_of("n.key");
    assert_true(EVP_PKEY_is_a(key, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(key), 256);

    /* The CSR: CN is the party, signed by the key just made. */
    f = fopen(fx_path(&fx, "n.csr", p, sizeof(p)), "r");
    assert_non_null(f);
    req = PEM_read_X509_REQ(f, NULL, NULL, NULL);
    (void)fclose(f);
    assert_non_null(req);
    assert_int_equal(X509_REQ_verify(req, key), 1);
    assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(req), key), 1);
    assert_true(
        X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof(cn))
        > 0);
    assert_string_equal(cn, "carrier-9");
    X509_REQ_free(req);
    EVP_PKEY_free(key);

    out = out_text();
    field(out, "key", fp, sizeof(fp));
    assert_string_equal(fp, "n.key (EC P-256, 256 bits)");
    cw_free(out);
    /* openssl agrees the request's self-signature is good. */
    assert_int_equal(
        fx_run("cd '%s' && openssl req -in n.csr -noout -verify >/dev/null 2>&1", fx.dir), 0);
}

static void test_cli__keys_new_rsa_3072(void **state)
{
    EVP_PKEY *key;
    char *out;
    char v[128];

    (void)state;
    assert_int_equal(run_cli("keys new --type rsa-3072 --out r3072.key"), 0);
    assert_int_equal(mode_of("r3072.key"), 0600);
    key = key_of("r3072.key");
    assert_true(EVP_PKEY_is_a(key, "RSA"));
    assert_int_equal(EVP_PKEY_get_bits(key), 3072);
    EVP_PKEY_free(key);
    assert_int_equal(run_cli("keys show r3072.key"), 0);
    out = out_text();
    field(out, "private-key", v, sizeof(v));
    assert_string_equal(v, "r3072.key");
    field(out, "key", v, sizeof(v));
    assert_string_equal(v, "RSA, 3072 bits");
    cw_free(out);
}

static void test_cli__keys_new_refuses_to_overwrite(void **state)
{
    static const char keep[] = "not to be overwritten\n";
    char *s;

    (void)state;
    assert_int_equal(fx_write(&fx, "exist.key", keep, strlen(keep)), 0);
    assert_int_equal(run_cli("keys new --type ecdsa-p256 --out exist.key"), 3);
    s = fx_read(&fx, "exist.key", NULL);
    assert_string_equal(s, keep);
    cw_free(s);
    s = err_text();
    assert_non_null(strstr(s, "exist.key already exists"));
    assert_int_equal(line_count(s), 1);
    cw_free(s);

    /* An existing CSR stops the run before the key is written: no key
     * file is left behind. */
    assert_int_equal(
        run_cli("keys new --type ecdsa-p256 --out fresh.key --csr exist.key --party p"), 3);
    assert_false(exists("fresh.key"));
    s = fx_read(&fx, "exist.key", NULL);
    assert_string_equal(s, keep);
    cw_free(s);

    /* A symlink is not followed to create its target. */
    assert_int_equal(fx_run("cd '%s' && ln -s target.key link.key", fx.dir), 0);
    assert_int_equal(run_cli("keys new --type ecdsa-p256 --out link.key"), 3);
    assert_false(exists("target.key"));
}

/*
 * A run killed while it makes a slow key leaves neither file under its
 * name (each is written under a temporary name and named last), so the
 * next run is not refused. When the machine made the key before the kill
 * arrived, the run completed and there is nothing to check.
 */
static void test_cli__keys_new_killed_leaves_nothing(void **state)
{
    char *rc_text;
    int rc;

    (void)state;
    assert_int_equal(fx_run("cd '%s' && { '%s' keys new --type rsa-4096 --out killed.key "
                            "--csr killed.csr --party p >/dev/null 2>&1 & pid=$!; sleep 0.05; "
                            "kill -TERM $pid; wait $pid; echo $? > killed.rc; }",
                            fx.dir, cli),
                     0);
    rc_text = fx_read(&fx, "killed.rc", NULL);
    assert_non_null(rc_text);
    rc = (int)strtol(rc_text, NULL, 10);
    cw_free(rc_text);
    if (rc == 128 + SIGTERM) {
        assert_false(exists("killed.key"));
        assert_false(exists("killed.csr"));
    } else {
        print_message("keys new finished before the kill (exit %d): nothing to check\n", rc);
        assert_int_equal(rc, 0);
        assert_int_equal(fx_run("cd '%s' && rm -f killed.key killed.csr", fx.dir), 0);
    }
    assert_int_equal(fx_run("cd '%s' && rm -f killed.key.tmp-* killed.csr.tmp-*", fx.dir), 0);
    assert_int_equal(
        run_cli("keys new --type ecdsa-p256 --out killed.key --csr killed.csr --party p"), 0);
    assert_true(exists("killed.key"));
    assert_true(exists("killed.csr"));
    assert_int_equal(mode_of("killed.key"), 0600);
}

/* A subject too long to show whole (and to be a tls-subject) is shown cut
 * and said so; a serial past RFC 5280's 20 octets is shown cut, not
 * refused. */
static void test_cli__keys_show_long_subject_and_serial(void **state)
{
    char got[600];
    char *out;
    char *err;

    (void)state;
    assert_int_equal(fx_run("cd '%s' && OU=$(printf 'a%%.0s' $(seq 1 60)) && openssl req -x509 "
                            "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout long.key "
                            "-out long.pem -days 30 -set_serial 0x$(printf '1%%.0s' $(seq 1 120)) "
                            "-subj \"/CN=long$(for i in 1 2 3 4 5 6 7 8 9 10; do "
                            "printf '/OU=%%s' $OU; done)\" >/dev/null 2>&1",
                            fx.dir),
                     0);
    assert_int_equal(run_cli("keys show long.pem"), 0);
    out = out_text();
    field(out, "subject", got, sizeof(got));
    assert_int_equal(strlen(got), 511);
    assert_string_equal(got + 508, "...");
    field(out, "serial", got, sizeof(got));
    assert_string_equal(got + strlen(got) - 3, "...");
    assert_int_equal(strspn(got, "1"), strlen(got) - 3);
    cw_free(out);
    err = err_text();
    assert_non_null(strstr(err, "the subject is longer than 511 bytes and was cut"));
    assert_int_equal(line_count(err), 1);
    cw_free(err);
}

static void test_cli__keys_show_certificate(void **state)
{
    char want[128];
    char got[600];
    char serial[128];
    char *out;
    char *s;
    X509 *x;
    struct tm tm;
    char when[32];
    int days;
    int secs;
    long long left;

    (void)state;
    assert_int_equal(run_cli("keys show alice.pem"), 0);
    out = out_text();

    /* The fingerprint is openssl's, in the form tls-fingerprint takes. */
    openssl_fingerprint("alice.pem", want, sizeof(want));
    field(out, "tls-fingerprint", got, sizeof(got));
    assert_string_equal(got, want);

    field(out, "subject", got, sizeof(got));
    assert_string_equal(got, "CN=alice,O=Clearway dev");
    field(out, "issuer", got, sizeof(got));
    assert_string_equal(got, "CN=Clearway dev CA,O=Clearway dev");
    field(out, "key", got, sizeof(got));
    assert_string_equal(got, "EC P-256, 256 bits");

    assert_int_equal(
        fx_run("cd '%s' && openssl x509 -in alice.pem -noout -serial >serial.txt", fx.dir), 0);
    s = fx_read(&fx, "serial.txt", NULL);
    assert_non_null(s);
    (void)snprintf(serial, sizeof(serial), "%s", strchr(s, '=') + 1);
    serial[strcspn(serial, "\n")] = '\0';
    cw_free(s);
    field(out, "serial", got, sizeof(got));
    assert_string_equal(got, serial);

    /* Dates in RFC 3339 UTC, days left rounded down. */
    x = cert_of("alice.pem");
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm), 1);
    assert_true(strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
    field(out, "not-after", got, sizeof(got));
    assert_string_equal(got, when);
    assert_int_equal(ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm), 1);
    assert_true(strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0);
    field(out, "not-before", got, sizeof(got));
    assert_string_equal(got, when);
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x)), 1);
    field(out, "days-left", got, sizeof(got));
    left = strtoll(got, NULL, 10);
    /* A day boundary may pass between the two readings of the clock. */
    assert_true(left == days || left == days - 1);
    assert_true(left > 800);
    X509_free(x);
    cw_free(out);

    /* The RSA one is another key and another fingerprint. */
    assert_int_equal(run_cli("keys show alice-rsa.pem"), 0);
    out = out_text();
    openssl_fingerprint("alice-rsa.pem", want, sizeof(want));
    field(out, "tls-fingerprint", got, sizeof(got));
    assert_string_equal(got, want);
    field(out, "key", got, sizeof(got));
    assert_string_equal(got, "RSA, 2048 bits");
    cw_free(out);
}

/* SHA-256 of the DER SubjectPublicKeyInfo, as AB:CD:..., and its pin. */
static void spki_sha256(EVP_PKEY *k, char *hex, size_t size, char *pin, size_t pin_size)
{
    unsigned char *der = NULL;
    unsigned char md[32];
    unsigned int md_len = 0;
    char b64[64];
    int len = i2d_PUBKEY(k, &der);
    size_t i;

    assert_true(len > 0);
    assert_int_equal(EVP_Digest(der, (size_t)len, md, &md_len, EVP_sha256(), NULL), 1);
    OPENSSL_free(der);
    assert_true(size >= 96);
    for (i = 0; i < md_len; i++) {
        (void)snprintf(hex + 3 * i, size - 3 * i, "%02X%s", md[i], i + 1 < md_len ? ":" : "");
    }
    b64[cw_base64_encode(b64, md, md_len)] = '\0';
    (void)snprintf(pin, pin_size, "sha256//%s", b64);
}

static void test_cli__keys_show_private_key(void **state)
{
    char want[128];
    char want_pin[128];
    char got[256];
    char *out;
    X509 *x;

    (void)state;
    x = cert_of("alice.pem");
    spki_sha256(X509_get0_pubkey(x), want, sizeof(want), want_pin, sizeof(want_pin));
    X509_free(x);
    assert_int_equal(run_cli("keys show alice.key"), 0);
    out = out_text();
    field(out, "private-key", got, sizeof(got));
    assert_string_equal(got, "alice.key");
    field(out, "key", got, sizeof(got));
    assert_string_equal(got, "EC P-256, 256 bits");
    field(out, "pubkey-sha256", got, sizeof(got));
    assert_string_equal(got, want);
    field(out, "pinned-pubkey", got, sizeof(got));
    assert_string_equal(got, want_pin);
    cw_free(out);
    /* The certificate shows the same public-key fingerprint. */
    assert_int_equal(run_cli("keys show alice.pem"), 0);
    out = out_text();
    field(out, "pubkey-sha256", got, sizeof(got));
    assert_string_equal(got, want);
    cw_free(out);
}

static void test_cli__keys_check_pair(void **state)
{
    char *out;

    (void)state;
    assert_int_equal(run_cli("keys check --key alice.key --cert alice.pem"), 0);
    out = out_text();
    assert_true(strncmp(out, "match ", 6) == 0);
    cw_free(out);
    assert_int_equal(run_cli("keys check --key alice-rsa.key --cert alice-rsa.pem"), 0);
    assert_int_equal(run_cli("keys check --key alice.key --cert mallory.pem"), 1);
    out = out_text();
    assert_true(strncmp(out, "mismatch ", 9) == 0);
    cw_free(out);
    /* Same party, another key type: still not the pair. */
    assert_int_equal(run_cli("keys check --key alice.key --cert alice-rsa.pem"), 1);
    assert_int_equal(run_cli("keys check --key missing.key --cert alice.pem"), 3);
    assert_int_equal(run_cli("keys check --key alice.key --cert missing.pem"), 3);
    /* A certificate is not a key, a key is not a certificate. */
    assert_int_equal(run_cli("keys check --key alice.pem --cert alice.pem"), 3);
    assert_int_equal(run_cli("keys check --key alice.key --cert alice.key"), 3);
}

/* Hostile files: every one is refused with exit 3 and one line. */
static void test_cli__keys_garbage_pem(void **state)
{
    static const char *const names[] = {
        "g-random.pem",  "g-empty.pem", "g-header.pem", "g-base64.pem",
        "g-flipped.pem", "g-big.pem",   "g-enc.key",    "/",
    };
    static const char header[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    static const char base64[] = "-----BEGIN PRIVATE KEY-----\n!!!not*base64!!!\n"
                                 "-----END PRIVATE KEY-----\n";
    unsigned char rnd[4096];
    uint32_t x = 2463534242u;
    char *pem;
    char *s;
    size_t len;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(rnd); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        rnd[i] = (unsigned char)x;
    }
    assert_int_equal(fx_write(&fx, "g-random.pem", (const char *)rnd, sizeof(rnd)), 0);
    assert_int_equal(fx_write(&fx, "g-empty.pem", "", 0), 0);
    assert_int_equal(fx_write(&fx, "g-header.pem", header, strlen(header)), 0);
    assert_int_equal(fx_write(&fx, "g-base64.pem", base64, strlen(base64)), 0);
    /* A real certificate with one base64 character changed in its body. */
    pem = fx_read(&fx, "alice.pem", &len);
    assert_non_null(pem);
    pem[200] = pem[200] == 'A' ? 'B' : 'A';
    assert_int_equal(fx_write(&fx, "g-flipped.pem", pem, len), 0);
    cw_free(pem);
    assert_int_equal(fx_run("cd '%s' && head -c 2097152 /dev/zero >g-big.pem", fx.dir), 0);
    /* An encrypted key is reported, never prompted for. */
    assert_int_equal(fx_run("cd '%s' && openssl pkey -in alice.key -aes256 -passout pass:x "
                            "-out g-enc.key",
                            fx.dir),
                     0);
    for (i = 0; i < CW_ARRAY_SIZE(names); i++) {
        char args[600];

        (void)snprintf(args, sizeof(args), "keys show '%s' </dev/null", names[i]);
        assert_int_equal(run_cli(args), 3);
        s = err_text();
        assert_true(strncmp(s, "clearway keys show: ", 20) == 0);
        assert_int_equal(line_count(s), 1);
        if (strcmp(names[i], "g-enc.key") == 0) {
            assert_non_null(strstr(s, "encrypted"));
        }
        cw_free(s);
        (void)snprintf(args, sizeof(args), "keys check --key '%s' --cert alice.pem </dev/null",
                       names[i]);
        assert_int_equal(run_cli(args), 3);
        (void)snprintf(args, sizeof(args), "keys check --key alice.key --cert '%s'", names[i]);
        assert_int_equal(run_cli(args), 3);
    }
}

/* ==== partners ==== */

#define CFG_HEAD                                                                \
    "<clearway xmlns=\"urn:clearway:config:1\">\n"                              \
    "  <node id=\"hub\" key=\"hub.key\" cert=\"hub.pem\"/>\n"                   \
    "  <listen name=\"public\" address=\"127.0.0.1\" port=\"0\" tls=\"true\"\n" \
    "          cert=\"hub.pem\" key=\"hub.key\" client-ca=\"ca.pem\"\n"         \
    "          client-auth=\"required\"/>\n"

/* Writes dir/name: CFG_HEAD, then body, then the end. */
static void config_write(const char *name, const char *body)
{
    cw_buf_t b;

    cw_buf_init(&b, 1u << 20);
    assert_int_equal(cw_buf_appendf(&b, "%s%s</clearway>\n", CFG_HEAD, body), 0);
    assert_int_equal(fx_write(&fx, name, b.data, b.len), 0);
    cw_buf_fini(&b);
}

/* The line of out that has all of the words, or NULL. */
static const char *line_with(const char *out, const char *a, const char *b, const char *c)
{
    const char *p;
    const char *end;

    for (p = out; *p != '\0'; p = end + 1) {
        char line[4096];
        size_t n;

        end = strchr(p, '\n');
        if (end == NULL) {
            break;
        }
        n = (size_t)(end - p) < sizeof(line) - 1 ? (size_t)(end - p) : sizeof(line) - 1;
        memcpy(line, p, n);
        line[n] = '\0';
        if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL)
            && (c == NULL || strstr(line, c) != NULL)) {
            return p;
        }
    }
    return NULL;
}

/* alice pinned by openssl's fingerprint (AB:CD:... form), mallory by the
 * lower-case hex of its own: both forms the daemon takes. */
static void partners_config(const char *name)
{
    char fa[128];
    char fm[128];
    char hex[128];
    char body[4096];
    size_t i;
    size_t k = 0;

    openssl_fingerprint("alice.pem", fa, sizeof(fa));
    openssl_fingerprint("mallory.pem", fm, sizeof(fm));
    for (i = 0; fm[i] != '\0'; i++) {
        if (fm[i] != ':') {
            hex[k++] = (char)(fm[i] >= 'A' && fm[i] <= 'F' ? fm[i] - 'A' + 'a' : fm[i]);
        }
    }
    hex[k] = '\0';
    (void)snprintf(body, sizeof(body),
                   "  <partner id=\"alice\" certs=\"alice.pem alice-rsa.pem\"\n"
                   "           tls-fingerprint=\"%s\" adapter=\"csv-manifest\" "
                   "adapter-to=\"hub\"/>\n"
                   "  <partner id=\"mallory\" certs=\"mallory.pem\" tls-fingerprint=\"%s\"/>\n"
                   "  <route to=\"alice\" url=\"https://127.0.0.1:9/v1/messages\" ca=\"ca.pem\"\n"
                   "         client-cert=\"hub.pem\" client-key=\"hub.key\"/>\n",
                   fa, hex);
    config_write(name, body);
}

static void test_cli__partners_lists_config(void **state)
{
    char args[1024];
    char *out;
    char *err;

    (void)state;
    partners_config("cfg.xml");
    assert_int_equal(run_cli("partners --config cfg.xml"), 0);
    out = out_text();
    err = err_text();
    assert_string_equal(err, "");
    assert_true(strncmp(out, "PARTY ", 6) == 0);
    assert_non_null(line_with(out, "hub ", " node ", "CN=hub,O=Clearway dev"));
    assert_non_null(line_with(out, "hub ", "listen:public", "hub.pem"));
    assert_non_null(line_with(out, "route-client:alice", "https://127.0.0.1:9/v1/messages", NULL));
    assert_non_null(line_with(out, "alice ", " alice.pem ", " match "));
    assert_non_null(
        line_with(out, "alice ", "csv-manifest>hub", "https://127.0.0.1:9/v1/messages"));
    /* Her RSA certificate is not the pinned one. */
    assert_non_null(line_with(out, " alice-rsa.pem ", " RSA 2048 ", " no "));
    assert_non_null(line_with(out, "mallory ", " match ", "CN=mallory,O=Clearway dev"));
    assert_null(strstr(out, "unreadable"));
    cw_free(out);
    cw_free(err);

    /* Relative paths are the config folder's, wherever it runs from. */
    (void)snprintf(args, sizeof(args),
                   "cd / && '%s' partners --config '%s/cfg.xml' >'%s/out.txt' 2>'%s/err.txt'", cli,
                   fx.dir, fx.dir, fx.dir);
    assert_int_equal(fx_run("%s", args), 0);
    out = out_text();
    assert_non_null(line_with(out, "mallory ", " match ", NULL));
    cw_free(out);
    err = err_text();
    assert_string_equal(err, "");
    cw_free(err);
}

static json_t *json_of_out(void)
{
    json_error_t jerr;
    char *out = out_text();
    json_t *doc = json_loads(out, 0, &jerr);

    if (doc == NULL) {
        fail_msg("not JSON (%s) at %d: %s", jerr.text, jerr.line, out);
    }
    cw_free(out);
    return doc;
}

static void test_cli__partners_json(void **state)
{
    char fa[128];
    json_t *doc;
    json_t *alice;
    json_t *certs;
    json_t *c0;
    json_t *c1;

    (void)state;
    partners_config("cfg-json.xml");
    openssl_fingerprint("alice.pem", fa, sizeof(fa));
    assert_int_equal(run_cli("partners --config cfg-json.xml --json"), 0);
    doc = json_of_out();
    assert_true(json_is_true(json_object_get(doc, "ok")));
    assert_int_equal(json_integer_value(json_object_get(doc, "days")), 30);
    assert_int_equal(json_array_size(json_object_get(doc, "problems")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "node"), "id")),
                        "hub");
    /* node, listen:public, route-client:alice */
    assert_int_equal(json_array_size(json_object_get(json_object_get(doc, "node"), "certs")), 3);
    assert_int_equal(json_array_size(json_object_get(doc, "partners")), 2);
    alice = json_array_get(json_object_get(doc, "partners"), 0);
    assert_string_equal(json_string_value(json_object_get(alice, "id")), "alice");
    assert_string_equal(json_string_value(json_object_get(alice, "adapter")), "csv-manifest");
    assert_string_equal(json_string_value(json_object_get(alice, "adapter_to")), "hub");
    assert_string_equal(json_string_value(json_array_get(json_object_get(alice, "routes"), 0)),
                        "https://127.0.0.1:9/v1/messages");
    certs = json_object_get(alice, "certs");
    assert_int_equal(json_array_size(certs), 2);
    c0 = json_array_get(certs, 0);
    c1 = json_array_get(certs, 1);
    assert_string_equal(json_string_value(json_object_get(c0, "sha256")), fa);
    assert_true(json_is_true(json_object_get(c0, "tls_fingerprint_match")));
    assert_string_equal(json_string_value(json_object_get(c0, "key_type")), "EC P-256");
    assert_string_equal(json_string_value(json_object_get(c0, "subject")),
                        "CN=alice,O=Clearway dev");
    assert_true(json_integer_value(json_object_get(c0, "days_left")) > 800);
    assert_true(json_is_false(json_object_get(c1, "tls_fingerprint_match")));
    assert_string_equal(json_string_value(json_object_get(c1, "key_type")), "RSA");
    assert_int_equal(json_integer_value(json_object_get(c1, "key_bits")), 2048);
    json_decref(doc);
}

static void test_cli__partners_expiring_certificates(void **state)
{
    char *err;
    json_t *doc;
    json_t *problems;

    (void)state;
    /* One valid for a day, one that expired in 2020. */
    assert_int_equal(fx_run("cd '%s' && openssl req -x509 -newkey ec "
                            "-pkeyopt ec_paramgen_curve:P-256 -nodes -keyout soon.key "
                            "-out soon.pem -days 1 -subj /CN=soon >/dev/null 2>&1",
                            fx.dir),
                     0);
    assert_int_equal(
        fx_run("'%s/certs/make-dev-pki' --expired '%s' old", getenv("CLEARWAY_SRC"), fx.dir), 0);
    config_write("cfg-soon.xml", "  <partner id=\"alice\" certs=\"alice.pem\"/>\n"
                                 "  <partner id=\"soon\" certs=\"soon.pem\"/>\n");
    assert_int_equal(run_cli("partners --config cfg-soon.xml"), 1);
    err = err_text();
    assert_int_equal(line_count(err), 1);
    assert_non_null(strstr(err, "clearway partners: partner soon: "));
    assert_non_null(strstr(err, "soon.pem: expires on "));
    cw_free(err);
    /* --days 0 flags only what has expired. */
    assert_int_equal(run_cli("partners --config cfg-soon.xml --days 0"), 0);
    err = err_text();
    assert_string_equal(err, "");
    cw_free(err);

    config_write("cfg-old.xml", "  <partner id=\"alice\" certs=\"alice.pem\"/>\n"
                                "  <partner id=\"old\" certs=\"old.pem\"/>\n");
    assert_int_equal(run_cli("partners --config cfg-old.xml --days 0"), 1);
    err = err_text();
    assert_int_equal(line_count(err), 1);
    assert_non_null(strstr(err, "partner old: "));
    assert_non_null(strstr(err, "old.pem: expired on 2020-01-02T00:00:00Z"));
    cw_free(err);
    assert_int_equal(run_cli("partners --config cfg-old.xml --json"), 1);
    doc = json_of_out();
    assert_true(json_is_false(json_object_get(doc, "ok")));
    problems = json_object_get(doc, "problems");
    assert_int_equal(json_array_size(problems), 1);
    assert_non_null(strstr(json_string_value(json_array_get(problems, 0)), "partner old: "));
    json_decref(doc);
}

static void test_cli__partners_fingerprint_mismatch(void **state)
{
    char fm[128];
    char body[1024];
    char *out;
    char *err;

    (void)state;
    /* alice "pinned" with mallory's certificate. */
    openssl_fingerprint("mallory.pem", fm, sizeof(fm));
    (void)snprintf(body, sizeof(body),
                   "  <partner id=\"alice\" certs=\"alice.pem\" tls-fingerprint=\"%s\"/>\n"
                   "  <partner id=\"bob\" certs=\"mallory.pem\" tls-fingerprint=\"AB:CD\"/>\n",
                   fm);
    config_write("cfg-fp.xml", body);
    assert_int_equal(run_cli("partners --config cfg-fp.xml"), 1);
    out = out_text();
    assert_non_null(line_with(out, "alice ", " alice.pem ", " no "));
    cw_free(out);
    err = err_text();
    assert_int_equal(line_count(err), 2);
    assert_non_null(strstr(err, "partner alice: tls-fingerprint "));
    assert_non_null(strstr(err, " matches none of its certificates"));
    assert_non_null(strstr(err, "partner bob: tls-fingerprint 'AB:CD' is not a SHA-256"));
    cw_free(err);
}

static void test_cli__partners_unreadable_cert_and_node_key(void **state)
{
    static const char cfg[] = "<clearway xmlns=\"urn:clearway:config:1\">\n"
                              "  <node id=\"hub\" key=\"mallory.key\" cert=\"hub.pem\"/>\n"
                              "  <listen name=\"p\" address=\"127.0.0.1\" port=\"0\"/>\n"
                              "  <partner id=\"x\" certs=\"junk.pem\"/>\n"
                              "  <partner id=\"y\" certs=\"nowhere.pem\"/>\n"
                              "</clearway>\n";
    char *err;

    (void)state;
    assert_int_equal(fx_write(&fx, "junk.pem", "junk\n", 5), 0);
    /* The node's key (mallory.key) is not hub.pem's. */
    assert_int_equal(fx_write(&fx, "cfg-junk.xml", cfg, strlen(cfg)), 0);
    assert_int_equal(run_cli("partners --config cfg-junk.xml"), 1);
    err = err_text();
    assert_int_equal(line_count(err), 3);
    assert_non_null(strstr(err, "partner x: junk.pem: no PEM certificate found"));
    assert_non_null(strstr(err, "partner y: nowhere.pem: cannot read"));
    assert_non_null(strstr(err, "node hub: key mallory.key is not the key of certificate hub.pem"));
    cw_free(err);
}

static void test_cli__partners_bad_config(void **state)
{
    static const char bad[] = "<clearway xmlns=\"urn:clearway:config:1\">\n"
                              "  <node id=\"hub\"/>\n"
                              "  <listen name=\"p\" address=\"127.0.0.1\" port=\"0\"/>\n"
                              "  <partner id=\"a\" certs=\"alice.pem\"/>\n"
                              "  <partner id=\"b\" certs=\"mallory.pem\" colour=\"red\"/>\n"
                              "</clearway>\n";
    static const char bad_adapter[] =
        "<clearway xmlns=\"urn:clearway:config:1\">\n"
        "  <node id=\"hub\"/>\n"
        "  <listen name=\"p\" address=\"127.0.0.1\" port=\"0\"/>\n"
        "  <partner id=\"a\" certs=\"alice.pem\" adapter=\"nope\" adapter-to=\"hub\"/>\n"
        "</clearway>\n";
    char *out;
    char *err;

    (void)state;
    assert_int_equal(fx_write(&fx, "bad.xml", bad, strlen(bad)), 0);
    assert_int_equal(run_cli("partners --config bad.xml"), 3);
    out = out_text();
    assert_string_equal(out, "");
    cw_free(out);
    err = err_text();
    assert_true(strncmp(err, "bad.xml:5: ", 11) == 0);
    assert_non_null(strstr(err, "colour"));
    cw_free(err);
    /* An adapter name the daemon does not have, as clearwayd --check. */
    assert_int_equal(fx_write(&fx, "bad2.xml", bad_adapter, strlen(bad_adapter)), 0);
    assert_int_equal(run_cli("partners --config bad2.xml"), 3);
    err = err_text();
    assert_true(strncmp(err, "bad2.xml:4: ", 12) == 0);
    cw_free(err);
    assert_int_equal(run_cli("partners --config no-such.xml"), 3);
    err = err_text();
    assert_non_null(strstr(err, "no-such.xml"));
    cw_free(err);
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
        cmocka_unit_test(test_cli__keys_and_partners_usage),
        cmocka_unit_test(test_cli__keys_new_ecdsa_with_csr),
        cmocka_unit_test(test_cli__keys_new_rsa_3072),
        cmocka_unit_test(test_cli__keys_new_refuses_to_overwrite),
        cmocka_unit_test(test_cli__keys_new_killed_leaves_nothing),
        cmocka_unit_test(test_cli__keys_show_long_subject_and_serial),
        cmocka_unit_test(test_cli__keys_show_certificate),
        cmocka_unit_test(test_cli__keys_show_private_key),
        cmocka_unit_test(test_cli__keys_check_pair),
        cmocka_unit_test(test_cli__keys_garbage_pem),
        cmocka_unit_test(test_cli__partners_lists_config),
        cmocka_unit_test(test_cli__partners_json),
        cmocka_unit_test(test_cli__partners_expiring_certificates),
        cmocka_unit_test(test_cli__partners_fingerprint_mismatch),
        cmocka_unit_test(test_cli__partners_unreadable_cert_and_node_key),
        cmocka_unit_test(test_cli__partners_bad_config),
    };

    return cmocka_run_group_tests_name("cli_clearway", tests, group_setup, group_teardown);
}
