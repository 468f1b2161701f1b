/*
 * POST /v1/messages: the signed-envelope intake. The work (parse, verify,
 * sign a receipt) runs in the pipeline on a worker thread; this file turns
 * its result into the HTTP answer.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void on_intake_done(cw_intake_result_t *res, void *arg)
{
    cw_http_request_t *req = arg;

    if (res->problem == CW_SEC_PROBLEM_NONE) {
        CW_LOG_INFO("api", "request %s: accepted %s/%s", req->id, res->from, res->message_id);
    } else {
        CW_LOG_INFO("api", "request %s: refused %s/%s: %s (%s)", req->id,
                    res->from[0] != '\0' ? res->from : "-",
                    res->message_id[0] != '\0' ? res->message_id : "-",
                    cw_sec_problem_slug(res->problem), res->detail);
    }
    if (res->unavailable) {
        char retry_after[64];

        (void)snprintf(retry_after, sizeof(retry_after), "Retry-After: %d\r\n", res->retry_after_s);
        (void)cw_http_respond_problem_ex(req, CW_PROBLEM_UNAVAILABLE, res->detail, retry_after);
        return;
    }
    if (res->is_receipt) {
        /* A signed receipt, positive or negative: the sender can prove
         * what this node said about its message. */
        (void)cw_http_respond(req, res->status, "application/xml", NULL, res->body, res->body_len);
        return;
    }
    (void)cw_http_respond_problem_slug(req, res->status, cw_sec_problem_slug(res->problem),
                                       cw_sec_problem_title(res->problem), res->detail);
}

void cw_api__messages_submit(cw_api_t *api, cw_http_request_t *req)
{
    int rc;

    (void)api;
    if (req->client_cert && req->peer_party[0] == '\0') {
        /* A certificate from our CA that no partner registration names. */
        (void)cw_http_respond_problem(req, CW_PROBLEM_CLIENT_NOT_REGISTERED,
                                      "the TLS client certificate is not registered for a partner");
        return;
    }
    rc = cw_pipeline_intake_submit(api->pipeline, req->cfg, req->body, req->body_len,
                                   req->tls ? req->peer_party : NULL, on_intake_done, req);
    if (rc == CW_EINVAL) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE,
                                      "this node has no trust store configured");
    } else if (rc < 0) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE, "cannot queue the message");
    }
}

/* ==== POST /v1/inbound/{adapter} ==== */

static void
on_inbound_done(int http_status, const char *json, size_t json_len, const char *error, void *arg)
{
    cw_http_request_t *req = arg;

    if (http_status == 0) {
        /* A whole-input failure: nothing was translated or stored. */
        CW_LOG_INFO("api", "request %s: inbound document from %s refused: %s", req->id,
                    req->peer_party, error != NULL ? error : "");
        (void)cw_http_respond_problem_slug(req, 422, "inbound-refused",
                                           "The document could not be translated",
                                           error != NULL ? error : "");
        return;
    }
    if (json == NULL) {
        /* This node failed (the store, memory): nothing was accepted. */
        CW_LOG_WARN("api", "request %s: inbound document from %s not taken: %s", req->id,
                    req->peer_party, error != NULL ? error : "");
        (void)cw_http_respond_problem_slug(req, http_status, "unavailable",
                                           "Nothing was accepted; send it again later",
                                           error != NULL ? error : "");
        return;
    }
    (void)cw_http_respond(req, http_status, "application/json", NULL, json, json_len);
}

/* The longest media type an envelope carries (envelope.xsd, MediaType). */
#define MEDIA_TYPE_BYTES_MAX 255

/* RFC 9110 §5.6.2 tchar. */
static int is_tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * Whether a Content-Type can be sealed as the evidence's MediaType: at most
 * 255 bytes of printable ASCII, "type/subtype" tokens (RFC 9110 §8.3.1),
 * then nothing or parameters. Anything else would make an envelope that the
 * next node's schema check refuses after this one answered 200.
 */
static int media_type_sealable(const char *ctype)
{
    size_t len = strlen(ctype);
    size_t i;
    size_t n = 0;

    if (len == 0 || len > MEDIA_TYPE_BYTES_MAX) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)ctype[i];

        if (c < 0x20 || c > 0x7e) {
            return 0;
        }
    }
    while (is_tchar(ctype[n])) {
        n++;
    }
    if (n == 0 || ctype[n] != '/') {
        return 0;
    }
    ctype += n + 1;
    n = 0;
    while (is_tchar(ctype[n])) {
        n++;
    }
    return n > 0 && (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

void cw_api__inbound_submit(cw_api_t *api, cw_http_request_t *req, const char *adapter)
{
    const char *ctype = cw_http_request_header(req, "content-type");
    int rc;

    if (!req->tls || req->peer_party[0] == '\0') {
        /* The partner is the TLS client's party: nothing else names it. */
        (void)cw_http_respond_problem(req, CW_PROBLEM_CLIENT_NOT_REGISTERED,
                                      "inbound documents need a registered TLS client "
                                      "certificate");
        return;
    }
    if (ctype != NULL && !media_type_sealable(ctype)) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNSUPPORTED_MEDIA_TYPE,
                                      "Content-Type must be type/subtype with optional parameters, "
                                      "in at most 255 bytes of printable ASCII");
        return;
    }
    rc = cw_pipeline_inbound_submit(api->pipeline, req->cfg, req->peer_party, adapter, req->body,
                                    req->body_len, ctype, on_inbound_done, req);
    if (rc == CW_EPERM) {
        (void)cw_http_respond_problem_slug(req, 403, "not-authorized", "Not authorized",
                                           "this partner has no such adapter");
    } else if (rc == CW_EBUSY) {
        (void)cw_http_respond_problem_ex(req, CW_PROBLEM_UNAVAILABLE,
                                         "too many documents are waiting for a worker;"
                                         " send it again later",
                                         "Retry-After: 5\r\n");
    } else if (rc < 0) {
        (void)cw_http_respond_problem(req, CW_PROBLEM_UNAVAILABLE, "cannot queue the document");
    }
}
