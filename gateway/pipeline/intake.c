/*
 * Intake: the stages one signed envelope goes through before the sender is
 * answered. Parse (sec/xml, the only parser of untrusted XML), verify
 * against the sender's registered certificate, and answer with a signed
 * receipt: positive, or negative with the problem when the sender is
 * authenticated but the message is refused. Everything here runs on a
 * worker thread except the final callback.
 */
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "internal.h"
#include "msg.h"

/* Monotonic ns at each hand-over, for clearway_intake_stage_seconds; 0:
 * not reached. A worker's are written before its done callback runs. */
typedef struct cw_intake_times {
    uint64_t submit;
    uint64_t verify_start;
    uint64_t verify_end;
    uint64_t ledger_sent;
    uint64_t ledger_back;
    uint64_t seal_start;
    uint64_t seal_end;
    uint64_t work_end; /* the worker's last instant */
    uint64_t sealed;   /* the worker's done callback on the loop */
    uint64_t commit_sent;
    uint64_t commit_back;
} cw_intake_times_t;

typedef struct cw_intake_job {
    cw_pipeline_t *pl;
    const cw_config_t *cfg;          /* borrowed; the request holds a reference */
    cw_sec_keys_t *keys;             /* referenced for the job */
    const cw_sec_schemas_t *schemas; /* borrowed; outlives the pipeline */
    const char *body;
    size_t len;
    char peer_party[128]; /* "" when there is no TLS identity */
    cw_intake_done_cb done;
    void *arg;
    cw_intake_result_t res;
    /* Between the two worker stages. */
    xmlDoc *doc;                    /* the verified envelope (owned) */
    int authenticated;              /* the signature is From's */
    int go_on;                      /* accepted so far: assess, route, seal */
    int stored_new;                 /* committed now, not a duplicate of an earlier one */
    cw_checks_rules_t *rules;       /* referenced when the core is on */
    cw_checks_consignment_t *model; /* the consignment to assess, owned; NULL: none */
    cw_checks_context_t ctx;        /* for cw_checks_run */
    cw_checks_history_query_t hq;   /* what the stateful checks need from the store */
    cw_checks_fact_t *history;      /* facts from the store, owned */
    size_t history_len;
    cw_checks_history_t totals;             /* the store's totals (has_totals: it answered) */
    cw_checks_assessment_t *assessment;     /* owned; NULL until assessed */
    xmlDoc *assessment_doc;                 /* holds the assessment XML (owned) */
    char codes[CW_CHECKS_FINDINGS_MAX * 9]; /* finding codes, space separated */
    char schema_error[256];                 /* first consignment XSD violation */
    cw_intake_times_t t;
} cw_intake_job_t;

static void set_problem(cw_intake_result_t *res, cw_sec_problem_e problem, const char *detail)
{
    res->problem = problem;
    res->status = cw_sec_problem_status(problem);
    cw_strlcpy(res->detail,
               detail != NULL && detail[0] != '\0' ? detail : cw_sec_problem_title(problem),
               sizeof(res->detail));
}

/* Whether the space-separated pattern list allows value ("*" matches all). */
static int word_listed(const char *list, const char *value)
{
    size_t vlen = strlen(value);
    const char *p = list;

    while (*p != '\0') {
        size_t n;

        while (*p == ' ') {
            p++;
        }
        n = strcspn(p, " ");
        if ((n == 1 && p[0] == '*') || (n == vlen && memcmp(p, value, n) == 0)) {
            return 1;
        }
        p += n;
    }
    return 0;
}

/* Whether "Service/Action" patterns allow the pair; "*" matches either side. */
static int action_listed(const char *list, const char *service, const char *action)
{
    const char *p = list;

    while (*p != '\0') {
        size_t n;
        const char *slash;

        while (*p == ' ') {
            p++;
        }
        n = strcspn(p, " ");
        slash = memchr(p, '/', n);
        if (n == 1 && p[0] == '*') {
            return 1;
        }
        if (slash != NULL) {
            size_t sn = (size_t)(slash - p);
            size_t an = n - sn - 1;

            if (((sn == 1 && p[0] == '*') || (sn == strlen(service) && memcmp(p, service, sn) == 0))
                && ((an == 1 && slash[1] == '*')
                    || (an == strlen(action) && memcmp(slash + 1, action, an) == 0))) {
                return 1;
            }
        }
        p += n;
    }
    return 0;
}

/*
 * The partner agreement: which Service/Action pairs From may send, and to
 * whom (config <partner actions destinations>). Nothing is allowed unless
 * listed. Returns 0, or sets not-authorized.
 */
static int authorize(cw_intake_job_t *job, const cw_msg_header_t *hdr)
{
    const cw_config_t *cfg = job->cfg;
    char detail[1024];
    size_t i;

    for (i = 0; i < cfg->partner_count; i++) {
        const cw_conf_partner_t *p = &cfg->partners[i];

        if (strcmp(p->id, hdr->from) != 0) {
            continue;
        }
        if (!action_listed(p->actions, hdr->service, hdr->action)) {
            (void)snprintf(detail, sizeof(detail), "%s may not send %s/%s", hdr->from, hdr->service,
                           hdr->action);
            set_problem(&job->res, CW_SEC_PROBLEM_NOT_AUTHORIZED, detail);
            return -1;
        }
        if (!word_listed(p->destinations, hdr->to)) {
            (void)snprintf(detail, sizeof(detail), "%s may not send to %s", hdr->from, hdr->to);
            set_problem(&job->res, CW_SEC_PROBLEM_NOT_AUTHORIZED, detail);
            return -1;
        }
        return 0;
    }
    set_problem(&job->res, CW_SEC_PROBLEM_NOT_AUTHORIZED, "the sender has no agreement");
    return -1;
}

int cw_pipeline__seal_finish(const cw_sec_keys_t *keys,
                             xmlDoc *env,
                             char **out,
                             size_t *out_len,
                             char id[CW_MSG_ID_MAX],
                             unsigned char digest[32],
                             cw_error_t *err)
{
    cw_msg_header_t hdr;
    int rc;

    *out = NULL;
    *out_len = 0;
    rc = cw_msg_header_read(&hdr, env, err);
    if (rc == 0) {
        cw_strlcpy(id, hdr.message_id, CW_MSG_ID_MAX);
        rc = cw_sec_doc_sign_c14n(keys, env, out, out_len, digest, err);
    }
    return rc;
}

/*
 * Routes an accepted message: one addressed to this node ends here; one for
 * a party with a route is sealed (a new envelope from this node carrying
 * the received bytes as evidence, signed with the node key) for delivery;
 * anything else is refused with no-route.
 */
static void route_and_seal(cw_intake_job_t *job, xmlDoc *doc, const cw_msg_header_t *hdr)
{
    cw_intake_result_t *res = &job->res;
    cw_msg_forward_params_t params = { 0 };
    cw_error_t err = { 0 };
    int rc;

    if (strcmp(hdr->to, job->cfg->node_id) == 0) {
        return;
    }
    if (cw_config_route_find(job->cfg, hdr->to) == NULL) {
        char detail[256];

        (void)snprintf(detail, sizeof(detail), "this node has no route to %s", hdr->to);
        set_problem(res, CW_SEC_PROBLEM_NO_ROUTE, detail);
        return;
    }
    params.node_id = job->cfg->node_id;
    params.to = hdr->to;
    params.now_s = cw_time_wall_s();
    params.received = job->body;
    params.received_len = job->len;
    params.assessment =
        job->assessment_doc != NULL ? xmlDocGetRootElement(job->assessment_doc) : NULL;
    rc =
        cw_pipeline__seal(job->keys, doc, hdr, &params, &res->outgoing, &res->outgoing_len,
                          res->outgoing_id, res->outgoing_digest, &res->outgoing_evidence_at, &err);
    if (rc < 0) {
        CW_LOG_ERROR("pipeline", "cannot seal %s/%s for %s: %s", hdr->from, hdr->message_id,
                     hdr->to, err.msg);
        set_problem(res, CW_SEC_PROBLEM_INTERNAL, "the node cannot seal the message");
    }
}

/* Signs a receipt for doc; on failure the result becomes a plain problem. */
static void answer_with_receipt(cw_intake_job_t *job, xmlDoc *doc, const cw_msg_header_t *hdr)
{
    cw_intake_result_t *res = &job->res;
    cw_sec_receipt_params_t params = { 0 };
    cw_error_t err = { 0 };
    int rc;

    params.ref_message_id = hdr->message_id;
    params.to = hdr->from;
    params.problem = res->problem;
    params.detail = res->problem == CW_SEC_PROBLEM_NONE ? NULL : res->detail;
    params.attachment =
        job->assessment_doc != NULL ? xmlDocGetRootElement(job->assessment_doc) : NULL;
    /* intake_work digested the same document once authenticated. */
    params.digest = job->authenticated ? res->digest : NULL;
    rc = cw_sec_receipt_build(&res->body, &res->body_len, job->keys, doc, &params, &err);
    if (rc < 0) {
        CW_LOG_ERROR("pipeline", "cannot sign a receipt for %s/%s: %s", hdr->from, hdr->message_id,
                     err.msg);
        res->body = NULL;
        res->body_len = 0;
        res->is_receipt = 0;
        set_problem(res, CW_SEC_PROBLEM_INTERNAL, "the node cannot sign receipts");
        res->status = 503;
        return;
    }
    res->is_receipt = 1;
}

/*
 * When the core is on and the business document is a consignment: reads it
 * into the model, validates it against its schema (SYN-001), and works out
 * what the stateful checks need from the store.
 */
static void assess_prepare(cw_intake_job_t *job, const cw_msg_header_t *hdr)
{
    xmlNode *business = cw_msg_business_doc(job->doc);
    cw_error_t err = { 0 };

    if (job->rules == NULL || business == NULL || business->ns == NULL
        || strcmp((const char *)business->ns->href, CW_CHECKS_NS) != 0) {
        return;
    }
    job->model = cw_calloc(1, sizeof(*job->model));
    if (job->model == NULL) {
        return;
    }
    job->ctx.sender = hdr->original_sender[0] != '\0' ? hdr->original_sender : hdr->from;
    job->ctx.message_id = hdr->message_id;
    job->ctx.reference_date = -1;
    /* The UTC day of the Timestamp's instant, not the date as written:
     * its sender chooses the offset, and so could choose the day. */
    if (cw_checks_instant_day(&job->ctx.reference_date, hdr->timestamp) < 0) {
        job->ctx.reference_date = (int32_t)(cw_time_wall_s() / 86400);
    }
    if (cw_checks_consignment_validate(job->rules, business, &err) < 0) {
        job->ctx.schema_failed = 1;
        cw_strlcpy(job->schema_error, err.msg, sizeof(job->schema_error));
        job->ctx.schema_error = job->schema_error;
    }
    if (cw_checks_consignment_read(job->model, business, &err) < 0
        || cw_checks_history_query_make(&job->hq, job->rules, job->model, &job->ctx) < 0) {
        /* Unreadable beyond the schema's verdict, or no profile: the run
         * reports it (SYN-001 / DAT-002) without history. */
        memset(&job->hq, 0, sizeof(job->hq));
    }
}

/* Stage 1 (worker): parse, verify, read the header, authorize, prepare. */
static void verify_run(cw_intake_job_t *job)
{
    cw_intake_result_t *res = &job->res;
    cw_sec_verify_opts_t opts = CW_SEC_VERIFY_OPTS_INIT;
    cw_sec_verified_t verified;
    cw_msg_header_t hdr;
    cw_sec_problem_e problem = CW_SEC_PROBLEM_NONE;
    cw_error_t err = { 0 };
    int rc;

    memset(&verified, 0, sizeof(verified));
    memset(&hdr, 0, sizeof(hdr));
    rc = cw_sec_xml_parse(&job->doc, job->body, job->len, &job->cfg->limits, &problem, &err);
    if (rc < 0) {
        set_problem(res, problem != CW_SEC_PROBLEM_NONE ? problem : CW_SEC_PROBLEM_MALFORMED_XML,
                    err.msg);
        return;
    }
    opts.skew_s = job->cfg->limits.timestamp_skew_s;
    opts.peer_party_id = job->peer_party[0] != '\0' ? job->peer_party : NULL;
    opts.schemas = job->schemas;
    opts.want_doc_sha256 = 1; /* for the receipt */
    rc = cw_sec_envelope_verify(&verified, job->keys, job->doc, &opts, &err);
    if (rc < 0) {
        set_problem(res,
                    verified.problem != CW_SEC_PROBLEM_NONE ? verified.problem
                                                            : CW_SEC_PROBLEM_INTERNAL,
                    err.msg);
    } else {
        res->problem = CW_SEC_PROBLEM_NONE;
        res->status = 200;
    }
    if (!verified.authenticated) {
        /* Nobody to sign a receipt for: the answer is a problem document. */
        return;
    }
    cw_strlcpy(res->from, verified.from, sizeof(res->from));
    if (cw_msg_header_read(&hdr, job->doc, &err) < 0) {
        /* The signature verified, so the header is the sender's own; a
         * receipt still needs its MessageId. */
        set_problem(res, CW_SEC_PROBLEM_HEADER_INVALID, err.msg);
        return;
    }
    cw_strlcpy(res->message_id, hdr.message_id, sizeof(res->message_id));
    res->hdr = hdr;
    /* The digest a receipt names: the verification usually made it on the
     * way (sec.h). */
    if (verified.has_doc_sha256) {
        memcpy(res->digest, verified.doc_sha256, sizeof(res->digest));
    } else if (cw_sec_doc_sha256(res->digest, job->doc, &err) < 0) {
        set_problem(res, CW_SEC_PROBLEM_INTERNAL, err.msg);
        return;
    }
    job->authenticated = 1;
    if (res->problem == CW_SEC_PROBLEM_NONE && authorize(job, &hdr) == 0) {
        job->go_on = 1;
        /* res->hdr, not the local copy: the checks run after this returns. */
        assess_prepare(job, &res->hdr);
    }
}

/* Runs the checks; a red lane refuses the message with its findings. */
static void assess_run(cw_intake_job_t *job)
{
    cw_checks_history_t history = { 0 };
    xmlNode *node = NULL;
    cw_error_t err = { 0 };
    int rc;

    /* Not zeroed: cw_checks_run overwrites all of it first (31 KB, whose
     * zeroing here cost as much again, 0.8 % of a message's instructions). */
    job->assessment = cw_malloc(sizeof(*job->assessment));
    job->assessment_doc = xmlNewDoc((const xmlChar *)"1.0");
    if (job->assessment == NULL || job->assessment_doc == NULL) {
        cw_free(job->assessment);
        job->assessment = NULL;
        set_problem(&job->res, CW_SEC_PROBLEM_INTERNAL, "out of memory");
        job->res.status = 503;
        return;
    }
    history = job->totals;
    history.facts = job->history;
    history.facts_len = job->history_len;
    rc = cw_checks_run(job->assessment, job->rules, job->model, &job->ctx, &history, &err);
    if (rc == 0) {
        rc = cw_checks_assessment_to_xml(&node, job->assessment, job->cfg->node_id,
                                         job->assessment_doc, NULL);
    }
    if (rc < 0) {
        CW_LOG_ERROR("pipeline", "cannot assess %s/%s: %s", job->res.from, job->res.message_id,
                     err.msg);
        set_problem(&job->res, CW_SEC_PROBLEM_INTERNAL, "the node cannot assess the consignment");
        job->res.status = 503;
        return;
    }
    (void)xmlDocSetRootElement(job->assessment_doc, node);
    cw_pipeline__codes_join(job->codes, sizeof(job->codes), job->assessment);
    if (job->assessment->lane == CW_CHECKS_LANE_RED) {
        char detail[256];

        (void)snprintf(detail, sizeof(detail), "red lane under %.31s: %.200s",
                       job->assessment->profile_id[0] != '\0' ? job->assessment->profile_id
                                                              : "no profile",
                       job->codes);
        set_problem(&job->res, CW_SEC_PROBLEM_CONSIGNMENT_REFUSED, detail);
    }
}

/* Stage 2 (worker): assess, route and seal, sign the receipt. */
static void seal_run(cw_intake_job_t *job)
{
    cw_intake_result_t *res = &job->res;

    if (job->go_on && job->model != NULL) {
        assess_run(job);
        if (res->status == 503) {
            return;
        }
    }
    if (job->go_on && res->problem == CW_SEC_PROBLEM_NONE) {
        route_and_seal(job, job->doc, &res->hdr);
        if (res->problem == CW_SEC_PROBLEM_INTERNAL) {
            res->status = 503;
            return;
        }
    }
    answer_with_receipt(job, job->doc, &res->hdr);
}

/* Seconds a sender should wait before retrying when the store fails. */
#define STORE_RETRY_AFTER_S 5

/*
 * What the stateful checks need from the ledger, read on this worker
 * thread (cw_store_facts_query_here): the read used to go through the
 * loop to the store's reader thread and back, two more hand-overs each way
 * between threads. 0, or the answer is a 503 and the message stops here.
 */
static int ledger_read(cw_intake_job_t *job)
{
    cw_intake_result_t *res = &job->res;
    int rc;

    job->t.ledger_sent = cw_time_mono_ns();
    rc = cw_pipeline__history_read(job->pl->store, &job->hq, job->model->destination_country,
                                   &job->history, &job->history_len, &job->totals);
    job->t.ledger_back = cw_time_mono_ns();
    if (rc == CW_ENOMEM) {
        set_problem(res, CW_SEC_PROBLEM_INTERNAL, "out of memory");
        res->status = 503;
    } else if (rc < 0) {
        CW_LOG_ERROR("pipeline", "cannot read the ledger for %s/%s: %s", res->from, res->message_id,
                     cw_strerror(rc));
        res->unavailable = 1;
        res->retry_after_s = STORE_RETRY_AFTER_S;
        res->status = 503;
        cw_strlcpy(res->detail, "the message store is failing; nothing was accepted",
                   sizeof(res->detail));
    }
    return rc;
}

/* The worker's whole part: verify, read the ledger, assess, seal and sign
 * the receipt. Then the loop commits (intake_done). */
static void intake_work(void *arg)
{
    cw_intake_job_t *job = arg;

    job->t.verify_start = cw_time_mono_ns();
    verify_run(job);
    job->t.verify_end = cw_time_mono_ns();
    job->t.work_end = job->t.verify_end;
    if (!job->authenticated) {
        return;
    }
    if (job->model != NULL && job->pl->store != NULL && job->hq.until_date != 0
        && ledger_read(job) < 0) {
        job->t.work_end = job->t.ledger_back;
        return;
    }
    job->t.seal_start = cw_time_mono_ns();
    seal_run(job);
    /* Nothing past this stage reads the trees: free them on the thread
     * that built them rather than on the loop, which only does I/O. */
    xmlFreeDoc(job->doc);
    job->doc = NULL;
    if (job->assessment_doc != NULL) {
        xmlFreeDoc(job->assessment_doc);
        job->assessment_doc = NULL;
    }
    job->t.seal_end = cw_time_mono_ns();
    job->t.work_end = job->t.seal_end;
}

/* Adds the job's stages to the pipeline's histograms. */
static void intake_times_record(cw_intake_job_t *job)
{
    const cw_intake_times_t *t = &job->t;
    cw_pipeline_t *pl = job->pl;

    cw_pipeline__stage_span(pl, CW_STAGE_WAIT_VERIFY, t->submit, t->verify_start);
    cw_pipeline__stage_span(pl, CW_STAGE_VERIFY, t->verify_start, t->verify_end);
    cw_pipeline__stage_span(pl, CW_STAGE_LEDGER, t->ledger_sent, t->ledger_back);
    cw_pipeline__stage_span(pl, CW_STAGE_SEAL, t->seal_start, t->seal_end);
    cw_pipeline__stage_span(pl, CW_STAGE_COMMIT, t->commit_sent, t->commit_back);
    cw_pipeline__stage_span(pl, CW_STAGE_HANDOFF, t->work_end, t->sealed);
    cw_pipeline__stage_span(pl, CW_STAGE_TOTAL, t->submit, cw_time_mono_ns());
}

static void intake_finish(cw_intake_job_t *job)
{
    /* Counted once per consignment: a resend answered from the store
     * (a retried delivery) was assessed again but is not counted again. */
    if (job->assessment != NULL && job->res.is_receipt && job->stored_new) {
        cw_pipeline__measure(job->pl, job->assessment, job->codes);
    }
    intake_times_record(job);
    job->done(&job->res, job->arg);
    cw_free(job->res.body);
    cw_free(job->res.outgoing);
    if (job->model != NULL) {
        cw_checks_consignment_fini(job->model);
        cw_free(job->model);
    }
    cw_free(job->history);
    cw_free(job->assessment);
    if (job->assessment_doc != NULL) {
        xmlFreeDoc(job->assessment_doc);
    }
    if (job->doc != NULL) {
        xmlFreeDoc(job->doc);
    }
    cw_checks_rules_unref(job->rules);
    cw_sec_keys_unref(job->keys);
    cw_free(job);
}

static void on_stored(int status, const cw_store_put_result_t *put, void *arg)
{
    cw_intake_job_t *job = arg;
    cw_intake_result_t *res = &job->res;

    job->t.commit_back = cw_time_mono_ns();
    if (status < 0) {
        /* Nothing was committed, so nothing is acknowledged. */
        CW_LOG_ERROR("pipeline", "cannot store %s/%s: %s", res->from, res->message_id,
                     cw_strerror(status));
        res->unavailable = 1;
        res->retry_after_s = STORE_RETRY_AFTER_S;
        res->is_receipt = 0;
        res->status = 503;
        cw_strlcpy(res->detail, "the message store is failing; nothing was accepted",
                   sizeof(res->detail));
        intake_finish(job);
        return;
    }
    switch (put->kind) {
    case CW_STORE_PUT_NEW:
        job->stored_new = 1;
        if (res->outgoing != NULL && job->pl->egress != NULL) {
            cw_egress_notify(job->pl->egress);
        }
        break;
    case CW_STORE_PUT_DUPLICATE: {
        /* Exactly-once in effect: the original receipt again, nothing redone. */
        char *original = cw_strndup(put->receipt, put->receipt_len);

        if (original == NULL) {
            res->unavailable = 1;
            res->retry_after_s = 1;
            res->is_receipt = 0;
            res->status = 503;
            cw_strlcpy(res->detail, "out of memory", sizeof(res->detail));
            break;
        }
        CW_LOG_INFO("pipeline", "duplicate %s/%s: answered with the original receipt", res->from,
                    res->message_id);
        cw_free(res->body);
        res->body = original;
        res->body_len = put->receipt_len;
        res->is_receipt = 1;
        res->problem = CW_SEC_PROBLEM_NONE;
        res->status = 200;
        break;
    }
    case CW_STORE_PUT_CONFLICT:
        cw_free(res->body);
        res->body = NULL;
        res->body_len = 0;
        res->is_receipt = 0;
        set_problem(res, CW_SEC_PROBLEM_DUPLICATE_MESSAGE_ID,
                    "this MessageId was already used for other content");
        break;
    }
    intake_finish(job);
}

/* Commits an authenticated message (accepted or refused) before answering. */
static int intake_store(cw_intake_job_t *job)
{
    cw_intake_result_t *res = &job->res;
    cw_store_msg_t msg;
    cw_store_fact_t fact;

    memset(&msg, 0, sizeof(msg));
    memset(&fact, 0, sizeof(fact));
    msg.from = res->hdr.from;
    msg.message_id = res->hdr.message_id;
    memcpy(msg.digest_sha256, res->digest, sizeof(msg.digest_sha256));
    msg.to = res->hdr.to;
    msg.service = res->hdr.service;
    msg.action = res->hdr.action;
    msg.conversation_id = res->hdr.conversation_id;
    msg.timestamp = res->hdr.timestamp;
    msg.received = job->body;
    msg.received_len = job->len;
    msg.receipt = res->body;
    msg.receipt_len = res->body_len;
    msg.created_at_ms = cw_store_clock_ms();
    if (res->problem != CW_SEC_PROBLEM_NONE) {
        msg.state = CW_STORE_STATE_REJECTED;
        msg.problem = cw_sec_problem_slug(res->problem);
    } else if (res->outgoing != NULL) {
        msg.state = CW_STORE_STATE_QUEUED;
        msg.route = res->hdr.to;
        msg.outgoing = res->outgoing;
        msg.outgoing_len = res->outgoing_len;
        msg.outgoing_id = res->outgoing_id;
        msg.outgoing_digest = res->outgoing_digest;
        msg.outgoing_evidence_at = res->outgoing_evidence_at; /* the base64 of msg.received */
        msg.next_attempt_at_ms = msg.created_at_ms;
    } else {
        msg.state = CW_STORE_STATE_RECEIVED;
    }
    if (job->assessment != NULL) {
        cw_pipeline__fact_from(&fact, job->assessment, job->codes);
        msg.fact = &fact;
    }
    job->t.commit_sent = cw_time_mono_ns();
    return cw_store_msg_put(job->pl->store, &msg, on_stored, job);
}

/* After stage 2: commit, then answer (on_stored). */
static void intake_done(int status, void *arg)
{
    cw_intake_job_t *job = arg;
    cw_intake_result_t *res = &job->res;

    job->t.sealed = cw_time_mono_ns();
    if (status < 0) {
        set_problem(res, CW_SEC_PROBLEM_INTERNAL, "the job was cancelled");
        res->status = 503;
    } else if (res->is_receipt && job->pl->store != NULL) {
        int rc = intake_store(job);

        if (rc == 0) {
            return; /* on_stored answers */
        }
        CW_LOG_ERROR("pipeline", "cannot queue %s/%s for the store: %s", res->from, res->message_id,
                     cw_strerror(rc));
        res->unavailable = 1;
        res->retry_after_s = STORE_RETRY_AFTER_S;
        res->is_receipt = 0;
        res->status = 503;
        cw_strlcpy(res->detail, "the message store is unavailable", sizeof(res->detail));
    }
    intake_finish(job);
}

int cw_pipeline_intake_submit(cw_pipeline_t *pl,
                              const cw_config_t *cfg,
                              const char *body,
                              size_t len,
                              const char *peer_party,
                              cw_intake_done_cb done,
                              void *arg)
{
    cw_intake_job_t *job;
    int rc;

    if (pl->keys == NULL) {
        return CW_EINVAL;
    }
    job = cw_calloc(1, sizeof(*job));
    if (job == NULL) {
        return CW_ENOMEM;
    }
    job->pl = pl;
    job->cfg = cfg;
    job->keys = cw_sec_keys_ref(pl->keys);
    job->schemas = pl->schemas;
    job->body = body;
    job->len = len;
    if (peer_party != NULL) {
        cw_strlcpy(job->peer_party, peer_party, sizeof(job->peer_party));
    }
    job->done = done;
    job->arg = arg;
    job->rules = pl->rules != NULL ? cw_checks_rules_ref(pl->rules) : NULL;
    job->t.submit = cw_time_mono_ns();
    rc = cw_pipeline_work_submit(pl, intake_work, intake_done, job);
    if (rc < 0) {
        cw_checks_rules_unref(job->rules);
        cw_sec_keys_unref(job->keys);
        cw_free(job);
    }
    return rc;
}
