/*
 * Delivery: one attempt to hand a sealed envelope to the next hop. The POST
 * goes out through the loop's HTTP client with the route's TLS material;
 * the receiver's answer is checked on a worker thread (a signed receipt, by
 * the destination's registered certificate, for exactly the envelope sent),
 * and the outcome goes back to the scheduler, which records it durably.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A receipt is small; anything bigger is not one. */
#define RECEIPT_BYTES_MAX (256u * 1024u)

/* CW_DELIVERY_FAULT=translate-slow holds each output translation this long on
 * its worker, so that a test can stop the node while one runs. */
#define TRANSLATE_SLOW_MS 3000u

typedef struct cw_delivery {
    cw_pipeline_t *pl;
    cw_pipeline_adapters_t *adapters; /* referenced: the route's output adapter */
    const cw_adapter_t *adapter;      /* NULL: our envelope and a signed receipt */
    char *native;                     /* the translated document, owned */
    size_t native_len;
    const char *native_type; /* its media type (static) */
    int sign_ceb;            /* sign the native document (CEB profile) */
    unsigned hold_ms;        /* test hook: the translation's delay, read on the loop */
    cw_egress_job_t *job;    /* borrowed from egress until cw_egress_job_done */
    cw_config_t *cfg;        /* referenced: the route and limits in force */
    cw_sec_keys_t *keys;     /* referenced: the receiver's registered certificates */
    char to[128];            /* the destination party */
    int http_status;         /* 0: no HTTP answer */
    char *response;          /* response body, owned */
    size_t response_len;
    uint64_t posted_ns;   /* cw_time_mono_ns() at the POST; 0: not sent */
    uint64_t answered_ns; /* ... at its answer */
    /* The worker's verdict. */
    cw_egress_outcome_e outcome;
    char error[256];
} cw_delivery_t;

static void delivery_free(cw_delivery_t *d)
{
    cw_free(d->native);
    cw_pipeline_adapters_unref(d->adapters);
    cw_free(d->response);
    cw_sec_keys_unref(d->keys);
    cw_config_unref(d->cfg);
    cw_free(d);
}

static void finish(cw_delivery_t *d)
{
    const char *receipt = d->outcome == CW_EGRESS_DELIVERED ? d->response : NULL;

    if (receipt == NULL && d->outcome == CW_EGRESS_DELIVERED) {
        receipt = "";
    }
    size_t receipt_len = receipt != NULL ? d->response_len : 0;

    if (d->outcome == CW_EGRESS_DELIVERED) {
        const cw_egress_job_t *j = d->job;
        uint64_t now = cw_time_mono_ns();

        cw_pipeline__dstage_span(d->pl, CW_DSTAGE_CLAIM, j->claim_asked_ns, j->claimed_ns);
        cw_pipeline__dstage_span(d->pl, CW_DSTAGE_PREPARE, j->claimed_ns, d->posted_ns);
        cw_pipeline__dstage_span(d->pl, CW_DSTAGE_EXCHANGE, d->posted_ns, d->answered_ns);
        cw_pipeline__dstage_span(d->pl, CW_DSTAGE_CHECK, d->answered_ns, now);
        cw_pipeline__dstage_span(d->pl, CW_DSTAGE_TOTAL, j->claim_asked_ns, now);
        CW_LOG_INFO("pipeline", "delivered %s/%s to %s (attempt %u)", d->job->from,
                    d->job->message_id, d->to, (unsigned)d->job->attempt);
    } else {
        CW_LOG_INFO("pipeline", "delivery of %s/%s to %s (attempt %u): %s: %s", d->job->from,
                    d->job->message_id, d->to, (unsigned)d->job->attempt,
                    d->outcome == CW_EGRESS_FAILED ? "failed" : "retry", d->error);
    }
    cw_egress_job_done(d->job, d->outcome, d->http_status, d->error[0] != '\0' ? d->error : NULL,
                       receipt, receipt_len);
    delivery_free(d);
}

static void post(cw_delivery_t *d, const cw_conf_route_t *route);
static void translate_work(void *arg);
static void translate_done(int status, void *arg);

/* ==== Receipt check (worker) ==== */

/*
 * What was sent, read from the envelope itself: its MessageId and digest,
 * which the receipt must name. For deliveries queued before the store
 * recorded them at sealing (schema 8), and to double-check a receipt that
 * does not name what was recorded. 0, or -1 with d->error set.
 */
static int sent_read(cw_delivery_t *d, char *id, size_t id_size, unsigned char digest[32])
{
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    cw_msg_header_t hdr;
    cw_error_t err = { 0 };
    xmlDoc *sent = NULL;
    int rc;

    rc = cw_sec_xml_parse(&sent, d->job->body, d->job->body_len, &d->cfg->limits, &problem, &err);
    if (rc == 0) {
        rc = cw_msg_header_read(&hdr, sent, &err);
    }
    if (rc == 0) {
        rc = cw_sec_doc_sha256(digest, sent, &err);
    }
    xmlFreeDoc(sent);
    if (rc < 0) {
        (void)snprintf(d->error, sizeof(d->error), "stored envelope unreadable: %.200s", err.msg);
        return -1;
    }
    cw_strlcpy(id, hdr.message_id, id_size);
    return 0;
}

/*
 * Decides the outcome from the receiver's answer: a 2xx with a positive
 * receipt for what was sent is delivered; a 4xx with a valid negative
 * receipt, or any other 4xx, is a dead letter (the receiver refuses the
 * message and will refuse it again); anything else is worth retrying.
 */
static void verify_work(void *arg)
{
    cw_delivery_t *d = arg;
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    cw_sec_receipt_t receipt;
    char sent_id[sizeof(((cw_msg_header_t *)0)->message_id)];
    unsigned char sent_digest[32];
    cw_error_t err = { 0 };
    xmlDoc *doc = NULL;
    int recorded = d->job->body_id != NULL;
    int is_4xx = d->http_status >= 400 && d->http_status < 500;
    int rc;

    d->outcome = CW_EGRESS_RETRY;
    /* What was sent: recorded when it was sealed, or read from it. */
    if (recorded) {
        cw_strlcpy(sent_id, d->job->body_id, sizeof(sent_id));
        memcpy(sent_digest, d->job->body_digest, sizeof(sent_digest));
    } else if (sent_read(d, sent_id, sizeof(sent_id), sent_digest) < 0) {
        /* Our own stored envelope should always parse: keep it for a human. */
        d->outcome = CW_EGRESS_FAILED;
        goto out;
    }
    rc = cw_sec_xml_parse(&doc, d->response, d->response_len, &d->cfg->limits, &problem, &err);
    if (rc < 0) {
        (void)snprintf(d->error, sizeof(d->error), "HTTP %d without a readable receipt: %.160s",
                       d->http_status, err.msg);
        d->outcome = is_4xx ? CW_EGRESS_FAILED : CW_EGRESS_RETRY;
        goto out;
    }
    opts.skew_s = d->cfg->limits.timestamp_skew_s;
    rc = cw_sec_receipt_verify(&receipt, d->keys, doc, d->to, sent_id, sent_digest, &opts, &problem,
                               &err);
    if (rc < 0 && recorded && receipt.names_other) {
        /*
         * A receipt signed by the receiver for another message or digest
         * than recorded: the envelope itself decides, so that a wrong
         * record costs a parse, never a delivery. Only a receipt whose
         * signature verified gets here, and only a wrong record (a bug,
         * logged) costs a second check.
         */
        char id[sizeof(sent_id)];
        unsigned char digest[32];

        if (sent_read(d, id, sizeof(id), digest) < 0) {
            d->outcome = CW_EGRESS_FAILED;
            goto out;
        }
        if (strcmp(id, sent_id) != 0 || memcmp(digest, sent_digest, 32) != 0) {
            CW_LOG_WARN("pipeline",
                        "delivery of %s/%s: the store's record of what was sent"
                        " differs from the envelope; checking the receipt against the envelope",
                        d->job->from, d->job->message_id);
            problem = CW_SEC_PROBLEM_NONE;
            rc = cw_sec_receipt_verify(&receipt, d->keys, doc, d->to, id, digest, &opts, &problem,
                                       &err);
        }
    }
    if (rc < 0) {
        (void)snprintf(d->error, sizeof(d->error), "receipt refused: %s: %.180s",
                       cw_sec_problem_slug(problem), err.msg);
        d->outcome = is_4xx ? CW_EGRESS_FAILED : CW_EGRESS_RETRY;
        goto out;
    }
    if (receipt.status == CW_SEC_RECEIPT_ACCEPTED && d->http_status >= 200
        && d->http_status < 300) {
        d->outcome = CW_EGRESS_DELIVERED;
        goto out;
    }
    (void)snprintf(d->error, sizeof(d->error), "refused by %s: %s (HTTP %d)", d->to,
                   cw_sec_problem_slug(receipt.problem), d->http_status);
    d->outcome = CW_EGRESS_FAILED;
out:
    xmlFreeDoc(doc);
}

static void verify_done(int status, void *arg)
{
    cw_delivery_t *d = arg;

    if (status < 0) {
        d->outcome = CW_EGRESS_RETRY_LOCAL;
        cw_strlcpy(d->error, "the receipt check was cancelled", sizeof(d->error));
    }
    finish(d);
}

/* ==== The POST (loop) ==== */

static void on_posted(const cw_http_client_result_t *res, void *arg)
{
    cw_delivery_t *d = arg;

    d->answered_ns = cw_time_mono_ns();
    d->http_status = res->http_status;
    if (d->adapter != NULL && res->status == 0) {
        /* A partner's native interface answers in its own terms: judged
         * by the HTTP status (there is no signed receipt to verify). */
        if (d->http_status >= 200 && d->http_status < 300) {
            d->outcome = CW_EGRESS_DELIVERED;
        } else if (d->http_status >= 400 && d->http_status < 500) {
            d->outcome = CW_EGRESS_FAILED;
            (void)snprintf(d->error, sizeof(d->error), "refused by %s: HTTP %d", d->to,
                           d->http_status);
        } else {
            d->outcome = CW_EGRESS_RETRY;
            (void)snprintf(d->error, sizeof(d->error), "HTTP %d", d->http_status);
        }
        d->response = cw_strndup(res->body, res->body_len);
        d->response_len = d->response != NULL ? res->body_len : 0;
        finish(d);
        return;
    }
    if (res->status == CW_ECLOSED) {
        /* Our own client closed under it (shutdown): the peer was not
         * asked, so this is no failure of its. */
        d->outcome = CW_EGRESS_RETRY_LOCAL;
        (void)snprintf(d->error, sizeof(d->error), "cancelled by this node: %.200s",
                       res->error.msg);
        finish(d);
        return;
    }
    if (res->status < 0) {
        /* Refused, reset, timed out, TLS failure: the next hop may be back later. */
        d->outcome = CW_EGRESS_RETRY;
        (void)snprintf(d->error, sizeof(d->error), "%s: %.200s", cw_err_name(res->status),
                       res->error.msg);
        finish(d);
        return;
    }
    if (d->http_status >= 500 || (d->http_status >= 300 && d->http_status < 400)) {
        d->outcome = CW_EGRESS_RETRY;
        (void)snprintf(d->error, sizeof(d->error), "HTTP %d", d->http_status);
        finish(d);
        return;
    }
    d->response = cw_strndup(res->body, res->body_len);
    d->response_len = res->body_len;
    if (d->response == NULL || cw_pipeline_work_submit(d->pl, verify_work, verify_done, d) < 0) {
        d->outcome = CW_EGRESS_RETRY;
        cw_strlcpy(d->error, "out of memory", sizeof(d->error));
        finish(d);
    }
}

/* ==== Output adapters ==== */

/*
 * Signs the translated document the way its ecosystem verifies it (the
 * route's adapter-sign): an enveloped signature with the CEB profile.
 */
static int sign_native(cw_delivery_t *d, cw_error_t *err)
{
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    xmlDoc *doc = NULL;
    char *signed_doc = NULL;
    size_t len = 0;
    int rc;

    rc = cw_sec_xml_parse(&doc, d->native, d->native_len, &d->cfg->limits, &problem, err);
    if (rc == 0) {
        rc = cw_sec_doc_sign_profile(d->keys, doc, CW_SEC_SIGN_CEB, err);
    }
    if (rc == 0) {
        rc = cw_sec_xml_serialize(&signed_doc, &len, doc);
    }
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    if (rc < 0) {
        return rc;
    }
    cw_free(d->native);
    d->native = signed_doc;
    d->native_len = len;
    return 0;
}

/* Worker: the sealed envelope's consignment in the destination's format. */
static void translate_work(void *arg)
{
    cw_delivery_t *d = arg;
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    cw_error_t err = { 0 };
    xmlDoc *env = NULL;
    xmlDoc *canonical = NULL;
    xmlNode *business;
    int rc;

    d->outcome = CW_EGRESS_FAILED;
    if (d->hold_ms > 0) {
        CW_LOG_WARN("pipeline", "test hook: translation of %s/%s held for %u ms", d->job->from,
                    d->job->message_id, d->hold_ms);
        uv_sleep(d->hold_ms);
    }
    rc = cw_sec_xml_parse(&env, d->job->body, d->job->body_len, &d->cfg->limits, &problem, &err);
    business = rc == 0 ? cw_msg_business_doc(env) : NULL;
    if (business == NULL) {
        (void)snprintf(d->error, sizeof(d->error), "stored envelope unreadable: %.200s", err.msg);
        goto out;
    }
    canonical = xmlNewDoc((const xmlChar *)"1.0");
    if (canonical == NULL) {
        goto out;
    }
    (void)xmlDocSetRootElement(canonical, xmlDocCopyNode(business, canonical, 1));
    if (xmlDocGetRootElement(canonical) == NULL) {
        goto out;
    }
    (void)xmlReconciliateNs(canonical, xmlDocGetRootElement(canonical));
    rc = cw_adapter_translate_out(d->adapter, canonical, &d->native, &d->native_len,
                                  &d->native_type, &err);
    if (rc < 0) {
        /* The same document will not translate next time either. */
        (void)snprintf(d->error, sizeof(d->error), "output adapter %s: %.200s",
                       cw_adapter_name(d->adapter), err.msg);
        goto out;
    }
    if (d->sign_ceb) {
        rc = sign_native(d, &err);
        if (rc < 0) {
            (void)snprintf(d->error, sizeof(d->error), "cannot sign the %s output: %.200s",
                           cw_adapter_name(d->adapter), err.msg);
            goto out;
        }
    }
    d->outcome = CW_EGRESS_RETRY;
out:
    if (canonical != NULL) {
        xmlFreeDoc(canonical);
    }
    if (env != NULL) {
        xmlFreeDoc(env);
    }
}

static void translate_done(int status, void *arg)
{
    cw_delivery_t *d = arg;
    const cw_conf_route_t *route = cw_config_route_find(d->cfg, d->to);

    if (status < 0 || d->native == NULL || route == NULL) {
        if (d->error[0] == '\0') {
            d->outcome = CW_EGRESS_RETRY_LOCAL;
            cw_strlcpy(d->error, "the translation did not run", sizeof(d->error));
        }
        finish(d);
        return;
    }
    post(d, route);
}

void cw_pipeline_deliver(cw_egress_job_t *job, void *arg)
{
    cw_pipeline_t *pl = arg;
    const cw_conf_route_t *route;
    cw_delivery_t *d;

    d = cw_calloc(1, sizeof(*d));
    if (d == NULL) {
        cw_egress_job_done(job, CW_EGRESS_RETRY_LOCAL, 0, "out of memory", NULL, 0);
        return;
    }
    d->pl = pl;
    d->job = job;
    d->cfg = cw_config_ref(pl->cfg);
    d->keys = cw_sec_keys_ref(pl->keys);
    cw_strlcpy(d->to, job->to, sizeof(d->to));
    route = cw_config_route_find(d->cfg, d->to);
    if (route == NULL) {
        /* The route went away in a reload; it may come back. */
        d->outcome = CW_EGRESS_RETRY_LOCAL;
        (void)snprintf(d->error, sizeof(d->error), "no route to %s", d->to);
        finish(d);
        return;
    }
    d->adapter = cw_pipeline__adapter_find(pl->adapters, d->to, 1);
    d->sign_ceb = route->adapter_sign == 1;
    if (d->adapter != NULL) {
        d->adapters = cw_pipeline_adapters_ref(pl->adapters);
        /* Copied here: a worker reads nothing of pl that the loop rewrites
         * (cw_pipeline_attach runs again at shutdown). */
        d->hold_ms = pl->translate_delay_ms;
        if (cw_pipeline_work_submit(pl, translate_work, translate_done, d) < 0) {
            d->outcome = CW_EGRESS_RETRY_LOCAL;
            cw_strlcpy(d->error, "cannot queue the translation", sizeof(d->error));
            finish(d);
        }
        return;
    }
    post(d, route);
}

static void post(cw_delivery_t *d, const cw_conf_route_t *route)
{
    cw_http_client_post_options_t opts = CW_HTTP_CLIENT_POST_OPTIONS_INIT;
    cw_egress_job_t *job = d->job;
    int rc;

    opts.url = route->url;
    opts.body = d->native != NULL ? d->native : job->body;
    opts.body_len = d->native != NULL ? d->native_len : job->body_len;
    opts.content_type = d->native != NULL ? d->native_type : "application/xml";
    opts.connect_timeout_ms = route->connect_timeout_ms;
    opts.total_timeout_ms = route->timeout_ms;
    opts.response_bytes_max = RECEIPT_BYTES_MAX;
    opts.ca_file = route->ca_path[0] != '\0' ? route->ca_path : NULL;
    opts.client_cert_file = route->client_cert_path[0] != '\0' ? route->client_cert_path : NULL;
    opts.client_key_file = route->client_key_path[0] != '\0' ? route->client_key_path : NULL;
    opts.pinned_pubkey = route->pinned_pubkey[0] != '\0' ? route->pinned_pubkey : NULL;
    opts.allow_plain_http = route->insecure_http;
    if (d->pl->client == NULL) {
        /* The client closed (shutdown) while this attempt was being
         * prepared, an output translation on a worker say: nothing was sent. */
        d->outcome = CW_EGRESS_RETRY_LOCAL;
        cw_strlcpy(d->error, "not sent: the node is stopping", sizeof(d->error));
        finish(d);
        return;
    }
    d->posted_ns = cw_time_mono_ns();
    rc = cw_http_client_post(d->pl->client, &opts, on_posted, d);
    if (rc < 0) {
        d->outcome = CW_EGRESS_RETRY_LOCAL;
        (void)snprintf(d->error, sizeof(d->error), "cannot start the request: %s", cw_strerror(rc));
        finish(d);
    }
}

/* ==== Wiring ==== */

void cw_pipeline_attach(cw_pipeline_t *pl,
                        cw_store_t *store,
                        cw_egress_t *egress,
                        cw_http_client_t *client)
{
    const char *fault = getenv("CW_DELIVERY_FAULT");

    pl->store = store;
    pl->egress = egress;
    pl->client = client;
    pl->translate_delay_ms = 0;
    if (fault != NULL && strcmp(fault, "translate-slow") == 0) {
        pl->translate_delay_ms = TRANSLATE_SLOW_MS;
    }
}

cw_store_t *cw_pipeline_store(const cw_pipeline_t *pl)
{
    return pl->store;
}

const cw_sec_keys_t *cw_pipeline_keys(const cw_pipeline_t *pl)
{
    return pl->keys;
}

cw_egress_t *cw_pipeline_egress(const cw_pipeline_t *pl)
{
    return pl->egress;
}

void cw_pipeline_kick(cw_pipeline_t *pl)
{
    if (pl->egress != NULL) {
        cw_egress_notify(pl->egress);
    }
}

void cw_pipeline_config_set(cw_pipeline_t *pl, cw_config_t *cfg)
{
    cw_config_t *old = pl->cfg;

    pl->cfg = cw_config_ref(cfg);
    cw_config_unref(old);
}
