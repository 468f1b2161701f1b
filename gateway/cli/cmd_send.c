/*
 * clearway send: sign if needed, POST to a node's /v1/messages, verify the
 * signed receipt that comes back. libcurl's easy interface is enough for a
 * one-shot command (the daemon uses the multi interface on its loop).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "internal.h"

#define REPLY_BYTES_MAX (1024u * 1024u) /* a receipt or problem is a few KiB */

typedef struct send_args {
    cw_cli_envelope_opts_t env; /* key, cert, from, to... when signing */
    const char *url;
    const char *receipt_cert; /* the receiving node's certificate */
    const char *cacert;
    const char *client_cert;
    const char *client_key;
    int insecure_http_ok;
    uint64_t timeout_s;
    const char *path;
} send_args_t;

static void send_usage(FILE *f)
{
    fprintf(f, "usage: clearway send --url URL --key K --cert C --receipt-cert R\n"
               "                     [--from P --to Q --service S --action A ...]\n"
               "                     [--cacert CA] [--client-cert X --client-key Y]\n"
               "                     [--insecure-http-ok] [--timeout SECONDS] FILE\n"
               "\n"
               "Sends FILE to URL (a node's /v1/messages). A FILE that is not yet an\n"
               "envelope is wrapped and signed first, as `clearway sign` does (then --from,\n"
               "--to, --service and --action are required). The reply must be a receipt\n"
               "signed with certificate R, for this message and its digest.\n"
               "TLS: --cacert verifies the server, --client-cert/--client-key authenticate\n"
               "us. Plain http:// is refused unless --insecure-http-ok.\n"
               "Prints one line: \"accepted ...\", \"rejected <problem> ...\" or an error.\n"
               "Exit: 0 accepted, 1 rejected or bad receipt, 2 usage, 3 unreadable file or\n"
               "key, 4 transport failure or unexpected reply.\n");
}

static int send_parse(send_args_t *a, int argc, char **argv)
{
    static const struct option longopts[] = {
        { "url", required_argument, NULL, 'u' },
        { "key", required_argument, NULL, 'k' },
        { "cert", required_argument, NULL, 'c' },
        { "receipt-cert", required_argument, NULL, 'R' },
        { "from", required_argument, NULL, 'f' },
        { "to", required_argument, NULL, 't' },
        { "service", required_argument, NULL, 's' },
        { "action", required_argument, NULL, 'a' },
        { "conversation-id", required_argument, NULL, 'C' },
        { "message-id", required_argument, NULL, 'm' },
        { "cacert", required_argument, NULL, 'A' },
        { "client-cert", required_argument, NULL, 'X' },
        { "client-key", required_argument, NULL, 'Y' },
        { "insecure-http-ok", no_argument, NULL, 'I' },
        { "timeout", required_argument, NULL, 'T' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    memset(a, 0, sizeof(*a));
    a->timeout_s = 30;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'u':
            a->url = optarg;
            break;
        case 'k':
            a->env.key = optarg;
            break;
        case 'c':
            a->env.cert = optarg;
            break;
        case 'R':
            a->receipt_cert = optarg;
            break;
        case 'f':
            a->env.from = optarg;
            break;
        case 't':
            a->env.to = optarg;
            break;
        case 's':
            a->env.service = optarg;
            break;
        case 'a':
            a->env.action = optarg;
            break;
        case 'C':
            a->env.conversation_id = optarg;
            break;
        case 'm':
            a->env.message_id = optarg;
            break;
        case 'A':
            a->cacert = optarg;
            break;
        case 'X':
            a->client_cert = optarg;
            break;
        case 'Y':
            a->client_key = optarg;
            break;
        case 'I':
            a->insecure_http_ok = 1;
            break;
        case 'T':
            if (cw_parse_uint(optarg, 1, 3600, &a->timeout_s) < 0) {
                return CW_CLI_USAGE;
            }
            break;
        case 'h':
            send_usage(stdout);
            return -1;
        default:
            send_usage(stderr);
            return CW_CLI_USAGE;
        }
    }
    if (optind != argc - 1 || a->url == NULL || a->env.key == NULL || a->env.cert == NULL
        || a->receipt_cert == NULL || (a->client_cert == NULL) != (a->client_key == NULL)) {
        send_usage(stderr);
        return CW_CLI_USAGE;
    }
    if (strncmp(a->url, "https://", 8) != 0
        && !(a->insecure_http_ok && strncmp(a->url, "http://", 7) == 0)) {
        fprintf(stderr, "clearway send: %s is not https:// (see --insecure-http-ok)\n", a->url);
        return CW_CLI_USAGE;
    }
    a->path = argv[optind];
    return CW_CLI_OK;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    cw_buf_t *b = arg;

    /* Returning less than given makes curl fail with CURLE_WRITE_ERROR. */
    if (cw_buf_append(b, data, size * n) < 0) {
        return 0;
    }
    return size * n;
}

/* POSTs body; fills reply and *status_out. Returns 0 or CW_CLI_NET. */
static int
post(const send_args_t *a, const char *body, size_t len, cw_buf_t *reply, long *status_out)
{
    CURL *curl = curl_easy_init();
    struct curl_slist *headers = NULL;
    CURLcode cc = CURLE_OK;
    int rc = CW_CLI_OK;

    if (curl == NULL) {
        return CW_CLI_INTERNAL;
    }
    headers = curl_slist_append(headers, "Content-Type: application/xml");
    headers = headers != NULL ? curl_slist_append(headers, "Accept: application/xml") : NULL;
    if (headers == NULL) {
        rc = CW_CLI_INTERNAL;
        goto out;
    }
#define SET(opt, val)                          \
    if (cc == CURLE_OK) {                      \
        cc = curl_easy_setopt(curl, opt, val); \
    }
    SET(CURLOPT_URL, a->url);
    SET(CURLOPT_PROTOCOLS_STR, a->insecure_http_ok ? "http,https" : "https");
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDS, body);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_CONNECTTIMEOUT, 10L);
    SET(CURLOPT_TIMEOUT, (long)a->timeout_s);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, reply);
    SET(CURLOPT_NOSIGNAL, 1L);
    if (a->cacert != NULL) {
        SET(CURLOPT_CAINFO, a->cacert);
    }
    if (a->client_cert != NULL) {
        SET(CURLOPT_SSLCERT, a->client_cert);
        SET(CURLOPT_SSLKEY, a->client_key);
    }
#undef SET
    if (cc == CURLE_OK) {
        cc = curl_easy_perform(curl);
    }
    if (cc != CURLE_OK) {
        printf("error %s: %s\n", a->url, curl_easy_strerror(cc));
        rc = CW_CLI_NET;
        goto out;
    }
    (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status_out);
out:
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

/* Checks the reply: a receipt from the envelope's To, for what we sent. */
static int receipt_check(const send_args_t *a, xmlDoc *sent, const cw_buf_t *reply, long status)
{
    cw_conf_limits_t limits;
    cw_msg_header_t hdr;
    cw_sec_partner_conf_t partner;
    cw_sec_keys_conf_t conf;
    cw_sec_keys_t *keys = NULL;
    cw_sec_receipt_t r;
    cw_sec_problem_e problem;
    cw_error_t err;
    unsigned char sha[32];
    const char *certs[1] = { a->receipt_cert };
    xmlDoc *doc = NULL;
    int rc = CW_CLI_INVALID;

    cw_config_limits_default(&limits);
    if (cw_msg_header_read(&hdr, sent, &err) < 0 || cw_sec_doc_sha256(sha, sent, &err) < 0) {
        printf("error envelope: %s\n", err.msg);
        goto out;
    }
    if (reply->len == 0
        || cw_sec_xml_parse(&doc, reply->data, reply->len, &limits, &problem, &err) < 0
        || !xmlStrEqual(xmlDocGetRootElement(doc)->name, (const xmlChar *)"Receipt")) {
        printf("error HTTP %ld without a receipt: %.200s\n", status,
               reply->len > 0 ? reply->data : "");
        rc = CW_CLI_NET;
        goto out;
    }
    partner = (cw_sec_partner_conf_t){ hdr.to, certs, 1, 0 };
    memset(&conf, 0, sizeof(conf));
    conf.node_id = hdr.from;
    conf.partners = &partner;
    conf.partner_count = 1;
    if (cw_sec_keys_new(&keys, &conf, &err) < 0) {
        fprintf(stderr, "clearway send: %s\n", err.msg);
        rc = CW_CLI_IO;
        goto out;
    }
    if (cw_sec_receipt_verify(&r, keys, doc, hdr.to, hdr.message_id, sha, NULL, &problem, &err)
        < 0) {
        printf("error bad receipt (%s): %s\n", cw_sec_problem_slug(problem), err.msg);
        goto out;
    }
    if (r.status == CW_SEC_RECEIPT_REJECTED) {
        printf("rejected %s message-id=%s receipt=%s http=%ld\n", cw_sec_problem_slug(r.problem),
               hdr.message_id, r.receipt_id, status);
        goto out;
    }
    printf("accepted message-id=%s receipt=%s http=%ld\n", hdr.message_id, r.receipt_id, status);
    rc = CW_CLI_OK;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    cw_sec_keys_unref(keys);
    return rc;
}

int cw_cli_send(int argc, char **argv)
{
    send_args_t a;
    cw_conf_limits_t limits;
    cw_sec_problem_e problem;
    cw_error_t err;
    cw_buf_t reply;
    xmlDoc *doc = NULL;
    char *data = NULL;
    char *env = NULL;
    size_t len = 0;
    size_t env_len = 0;
    long status = 0;
    int rc;

    cw_buf_init(&reply, REPLY_BYTES_MAX);
    rc = send_parse(&a, argc, argv);
    if (rc != CW_CLI_OK) {
        return rc < 0 ? CW_CLI_OK : rc;
    }
    cw_config_limits_default(&limits);
    if (cw_cli__read_file(&data, &len, a.path, limits.xml_bytes_max) < 0) {
        fprintf(stderr, "clearway send: cannot read %s\n", a.path);
        rc = CW_CLI_IO;
        goto out;
    }
    if (cw_sec_xml_parse(&doc, data, len, &limits, &problem, &err) < 0) {
        fprintf(stderr, "clearway send: %s: %s\n", cw_sec_problem_slug(problem), err.msg);
        rc = CW_CLI_INVALID;
        goto out;
    }
    if (!cw_msg_is_envelope(doc)) {
        if (a.env.from == NULL || a.env.to == NULL || a.env.service == NULL
            || a.env.action == NULL) {
            fprintf(stderr,
                    "clearway send: %s is not an envelope: --from, --to, --service and "
                    "--action are required\n",
                    a.path);
            rc = CW_CLI_USAGE;
            goto out;
        }
        rc = cw_cli__envelope_make(&env, &env_len, &a.env, data, len);
        if (rc != CW_CLI_OK) {
            goto out;
        }
        xmlFreeDoc(doc);
        doc = NULL;
        /* The digest the receipt must carry is that of exactly these bytes. */
        if (cw_sec_xml_parse(&doc, env, env_len, &limits, &problem, &err) < 0) {
            rc = CW_CLI_INTERNAL;
            goto out;
        }
    } else {
        env = data;
        env_len = len;
        data = NULL;
    }
    rc = post(&a, env, env_len, &reply, &status);
    if (rc != CW_CLI_OK) {
        goto out;
    }
    rc = receipt_check(&a, doc, &reply, status);
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    cw_buf_fini(&reply);
    cw_free(data);
    cw_free(env);
    return rc;
}
