/*
 * Inbound adapters: a partner that cannot produce signed XML sends its own
 * format (an order JSON, a CSV manifest, UBL, CEB) over mutual TLS to
 * POST /v1/inbound/{adapter}. The adapter translates it into canonical
 * consignments; each is assessed, sealed by this node on the partner's
 * behalf (From = this node, OriginalSender = the partner) with the
 * original's digest as evidence, and committed; the partner gets a JSON
 * list of what happened to each item.
 */
/* malloc_trim(3) is a glibc extension; the rest of the file needs only
 * POSIX 2008. */
#define _DEFAULT_SOURCE

#include <openssl/sha.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __GLIBC__ /* defined by the headers above */
#include <malloc.h>
#endif

#include "internal.h"

/* Original documents up to this size travel inside each envelope's
 * Evidence, as long as all the input's envelopes together carry at most
 * EVIDENCE_INLINE_TOTAL of them; otherwise (a big manifest) the original is
 * kept once at this node under its batch id and the Evidence carries its
 * digest only. Without the total, a 300-row manifest of 71 KB made 300
 * sealed envelopes of 100 KB each: 30 MB stored and sent for 71 KB. */
#define EVIDENCE_INLINE_MAX   (256u * 1024u)
#define EVIDENCE_INLINE_TOTAL (1024u * 1024u)

/*
 * The second pass goes this many items at a time: their histories are
 * fetched, then they are assessed and sealed and their histories freed.
 * A history is up to CW_STORE_FACTS_MAX facts (5.4 MB); fetched for every
 * item first, a 10,000-row manifest for a buyer the ledger already knew
 * 10,000 times needed 54 GB and the daemon was killed.
 */
#define SEAL_CHUNK_ITEMS 16u

/* Inputs of at least this many items give their memory back when done. */
#define TRIM_ITEMS_MIN 1000u

/* Store puts of one input outstanding at once. Each holds a request and a
 * copy of the sealed envelope, some 13 KB: all 10,000 of a big manifest at
 * once were 128 MB of its 187 MB heap peak (bench/README.md, "A manifest's
 * puts in a window"); the writer's groups need far fewer to fill. */
#define PUTS_IN_FLIGHT 128u

/* ==== The adapter set ==== */

struct cw_pipeline_adapters {
    atomic_int refcount;
    size_t count;
    struct {
        char partner[128]; /* inbound: the partner; outbound: the route's party */
        int outbound;      /* 1: a route's output adapter */
        cw_adapter_t *adapter;
    } items[]; /* count entries */
};

static int adapter_make(cw_adapter_t **out,
                        const char *name,
                        const char *partner,
                        const char *catalog,
                        const char *xslt_dir,
                        const char *xslt_in,
                        const char *xslt_out,
                        const char *transport_mode,
                        cw_error_t *err)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;

    conf.name = name;
    conf.partner_id = partner;
    conf.catalog_path = catalog != NULL && catalog[0] != '\0' ? catalog : NULL;
    conf.xslt_dir = xslt_dir != NULL && xslt_dir[0] != '\0' ? xslt_dir : NULL;
    conf.xslt_in = xslt_in != NULL && xslt_in[0] != '\0' ? xslt_in : NULL;
    conf.xslt_out = xslt_out != NULL && xslt_out[0] != '\0' ? xslt_out : NULL;
    conf.transport_mode = transport_mode;
    return cw_adapter_new(out, &conf, err);
}

int cw_pipeline_adapters_load(cw_pipeline_adapters_t **out, const cw_config_t *cfg, cw_error_t *err)
{
    cw_pipeline_adapters_t *set;
    size_t n = 0;
    size_t i;
    int rc = 0;

    *out = NULL;
    for (i = 0; i < cfg->partner_count; i++) {
        n += cfg->partners[i].adapter[0] != '\0';
    }
    for (i = 0; i < cfg->route_count; i++) {
        n += cfg->routes[i].adapter[0] != '\0';
    }
    set = cw_calloc(1, sizeof(*set) + n * sizeof(set->items[0]));
    if (set == NULL) {
        return CW_ENOMEM;
    }
    atomic_init(&set->refcount, 1);
    for (i = 0; i < cfg->partner_count && rc == 0; i++) {
        const cw_conf_partner_t *p = &cfg->partners[i];

        if (p->adapter[0] == '\0') {
            continue;
        }
        rc = adapter_make(&set->items[set->count].adapter, p->adapter, p->id, p->adapter_catalog,
                          p->adapter_xslt_dir, p->adapter_xslt, NULL,
                          cw_config_transport_mode_name(p->adapter_transport_mode), err);
        if (rc == 0) {
            cw_strlcpy(set->items[set->count].partner, p->id, sizeof(set->items[0].partner));
            set->count++;
        }
    }
    for (i = 0; i < cfg->route_count && rc == 0; i++) {
        const cw_conf_route_t *r = &cfg->routes[i];

        if (r->adapter[0] == '\0') {
            continue;
        }
        rc = adapter_make(&set->items[set->count].adapter, r->adapter, r->to, NULL,
                          r->adapter_xslt_dir, NULL, r->adapter_xslt, NULL, err);
        if (rc == 0) {
            cw_strlcpy(set->items[set->count].partner, r->to, sizeof(set->items[0].partner));
            set->items[set->count].outbound = 1;
            set->count++;
        }
    }
    if (rc < 0) {
        cw_pipeline_adapters_unref(set);
        return rc;
    }
    *out = set;
    return 0;
}

cw_pipeline_adapters_t *cw_pipeline_adapters_ref(cw_pipeline_adapters_t *set)
{
    if (set != NULL) {
        atomic_fetch_add(&set->refcount, 1);
    }
    return set;
}

void cw_pipeline_adapters_unref(cw_pipeline_adapters_t *set)
{
    size_t i;

    if (set == NULL || atomic_fetch_sub(&set->refcount, 1) != 1) {
        return;
    }
    for (i = 0; i < set->count; i++) {
        cw_adapter_free(set->items[i].adapter);
    }
    cw_free(set);
}

const cw_adapter_t *
cw_pipeline__adapter_find(const cw_pipeline_adapters_t *set, const char *party, int outbound)
{
    size_t i;

    for (i = 0; set != NULL && i < set->count; i++) {
        if (set->items[i].outbound == outbound && strcmp(set->items[i].partner, party) == 0) {
            return set->items[i].adapter;
        }
    }
    return NULL;
}

void cw_pipeline_adapters_set(cw_pipeline_t *pl, cw_pipeline_adapters_t *set)
{
    cw_pipeline_adapters_t *old = pl->adapters;

    pl->adapters = cw_pipeline_adapters_ref(set);
    cw_pipeline_adapters_unref(old);
}

/* ==== One inbound document ==== */

/* The parts of an assessment that the ledger, the measures and the answer
 * read (cw_pipeline__fact_from, cw_pipeline__measure, render). */
typedef struct inbound_outcome {
    cw_checks_lane_e lane;
    char destination[3];
    char sender[CW_CHECKS_ID_SIZE];
    char profile_id[32];
    cw_checks_revenue_t revenue;
    cw_checks_fact_t fact;
} inbound_outcome_t;

typedef struct inbound_item {
    size_t item;              /* index in the input */
    size_t line;              /* line in the input, 0 unknown */
    char message_id[160];     /* (partner, message_id) is the dedupe key */
    unsigned char digest[32]; /* of the translated consignment: what a resend must match */
    char *outgoing;           /* sealed envelope, owned; NULL: ends here or refused */
    size_t outgoing_len;
    char outgoing_id[CW_MSG_ID_MAX];   /* its MessageId */
    unsigned char outgoing_digest[32]; /* its cw_sec_doc_sha256: what its receipt names */
    int queued; /* outgoing went to the store (which copied it; freed then) */
    /* What is kept of the assessment once sealed (owned; NULL: not assessed).
     * The full one is 33 KB (48 findings with their texts): 10,000 of them
     * were half of a big manifest's peak. The findings' codes are in codes. */
    struct inbound_outcome *outcome;
    /* Between the two worker passes (prepare, then assess and seal) the
     * consignment waits as text, a few KB, not as its tree (14 KB) and
     * model (8 KB): 10,000 of those were most of a big manifest's peak. */
    char *xml; /* the canonical consignment, serialised (owned) */
    size_t xml_len;
    char destination[3]; /* its DestinationCountry, for the ledger query */
    /* In a pass (owned): */
    xmlDoc *doc;                    /* the canonical consignment */
    cw_checks_consignment_t *model; /* read from doc; NULL: no checks */
    cw_checks_context_t ctx;        /* points into this item */
    char schema_error[256];         /* ctx.schema_error's text */
    cw_checks_history_query_t hq;   /* what the stateful checks need */
    cw_checks_fact_t *history;      /* the ledger's rows, owned */
    size_t history_len;
    cw_checks_history_t totals; /* the ledger's totals (no rows) */
    char codes[CW_CHECKS_FINDINGS_MAX * 9];
    char status[16]; /* accepted, refused, duplicate, conflict, error */
    char detail[200];
} inbound_item_t;

typedef struct inbound_job {
    cw_pipeline_t *pl;
    const cw_config_t *cfg;           /* borrowed: the request holds it */
    cw_sec_keys_t *keys;              /* referenced */
    cw_checks_rules_t *rules;         /* referenced, may be NULL */
    cw_pipeline_adapters_t *adapters; /* referenced */
    const cw_conf_partner_t *partner; /* in cfg */
    const char *body;
    size_t len;
    const char *media_type;
    char batch_id[80];        /* "batch-<sha256>" */
    unsigned char digest[32]; /* of the original bytes */
    int whole_rc;             /* a whole-input failure */
    char whole_error[256];
    inbound_item_t *items;
    size_t item_count;
    size_t item_cap;                 /* entries allocated in items */
    cw_adapter_item_error_t *errors; /* copied from the result */
    size_t error_count;
    size_t pending;    /* store puts outstanding (and, while submitting, one more) */
    size_t next_put;   /* the next item to put (puts_next) */
    size_t next_known; /* a resend: the next item to look up in the store */
    size_t seal_from;  /* the chunk the second pass works on: [seal_from, seal_to) */
    size_t seal_to;
    cw_checks_assessment_t *scratch; /* an outcome expanded for the store (owned) */
    /* The facts of the items accepted so far in the second pass (owned;
     * NULL until the first chunk): the next items' history. */
    cw_checks_recent_t *recent;
    cw_inbound_done_cb done;
    void *arg;
    int running;                   /* counted in pl->inbound_running */
    struct inbound_job *next_wait; /* in pl's waiting list */
} inbound_job_t;

static void hex(char *out, const unsigned char *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0xf];
    }
    out[2 * n] = '\0';
}

/* The canonical header this node gives a translated consignment. */
static void item_header(cw_msg_header_t *h, const inbound_job_t *job, const inbound_item_t *it)
{
    memset(h, 0, sizeof(*h));
    cw_strlcpy(h->message_id, it->message_id, sizeof(h->message_id));
    cw_strlcpy(h->conversation_id, it->message_id, sizeof(h->conversation_id));
    cw_strlcpy(h->from, job->partner->id, sizeof(h->from));
    cw_strlcpy(h->to, job->partner->adapter_to, sizeof(h->to));
    cw_strlcpy(h->service, "ecommerce", sizeof(h->service));
    cw_strlcpy(h->action, "consignment", sizeof(h->action));
    cw_msg_timestamp_format(h->timestamp, sizeof(h->timestamp), cw_time_wall_s());
}

/*
 * First pass (worker): names one canonical consignment (its MessageId from
 * its own id, so the same document posted twice is deduplicated), digests
 * it, reads it into the model and works out what the stateful checks need
 * from the ledger. Takes ownership of canonical.
 */
static void item_prepare(inbound_job_t *job, inbound_item_t *it, xmlDoc *canonical)
{
    xmlNode *business = xmlDocGetRootElement(canonical);
    cw_error_t err = { 0 };
    xmlChar *cid = NULL;

    it->doc = canonical;
    if (business != NULL && business->children != NULL) {
        xmlNode *n;

        for (n = business->children; n != NULL; n = n->next) {
            if (n->type == XML_ELEMENT_NODE && xmlStrEqual(n->name, BAD_CAST "ConsignmentId")) {
                cid = xmlNodeGetContent(n);
                break;
            }
        }
    }
    (void)snprintf(it->message_id, sizeof(it->message_id), "%s:%s", job->partner->adapter,
                   cid != NULL && cid[0] != '\0' ? (const char *)cid : job->batch_id);
    if (cid == NULL || cid[0] == '\0') {
        size_t len = strlen(it->message_id);

        (void)snprintf(it->message_id + len, sizeof(it->message_id) - len, ":%zu", it->item);
    }
    if (cid != NULL) {
        xmlFree(cid);
    }
    /* The translation is deterministic, so the same document posted again
     * has the same digest (a duplicate) whatever its sealing time. */
    if (cw_sec_doc_sha256(it->digest, canonical, &err) < 0) {
        cw_strlcpy(it->status, "error", sizeof(it->status));
        cw_strlcpy(it->detail, err.msg, sizeof(it->detail));
        return;
    }
    if (job->rules == NULL) {
        return;
    }
    it->model = cw_calloc(1, sizeof(*it->model));
    if (it->model == NULL) {
        cw_strlcpy(it->status, "error", sizeof(it->status));
        cw_strlcpy(it->detail, "out of memory", sizeof(it->detail));
        return;
    }
    it->ctx.sender = job->partner->id;
    it->ctx.message_id = it->message_id;
    it->ctx.reference_date = (int32_t)(cw_time_wall_s() / 86400);
    if (cw_checks_consignment_validate(job->rules, business, &err) < 0) {
        it->ctx.schema_failed = 1;
        cw_strlcpy(it->schema_error, err.msg, sizeof(it->schema_error));
        it->ctx.schema_error = it->schema_error;
    }
    if (cw_checks_consignment_read(it->model, business, &err) < 0) {
        if (!it->ctx.schema_failed) {
            cw_strlcpy(it->status, "error", sizeof(it->status));
            cw_strlcpy(it->detail, err.msg, sizeof(it->detail));
        }
        /* Else the run reports SYN-001 on what could be read, without
         * history. */
        return;
    }
    if (cw_checks_history_query_make(&it->hq, job->rules, it->model, &it->ctx) < 0) {
        memset(&it->hq, 0, sizeof(it->hq)); /* no profile: DAT-002, no history */
    }
}

/* Frees the consignment's tree and model. */
static void item_drop_tree(inbound_item_t *it)
{
    if (it->model != NULL) {
        cw_checks_consignment_fini(it->model);
        cw_free_null(it->model);
    }
    if (it->doc != NULL) {
        xmlFreeDoc(it->doc);
        it->doc = NULL;
    }
}

/* Frees what only the passes need: the text, tree, model and history. */
static void item_drop_work(inbound_item_t *it)
{
    cw_free_null(it->xml);
    it->xml_len = 0;
    cw_free_null(it->history);
    it->history_len = 0;
    item_drop_tree(it);
}

/* End of the first pass: the consignment waits as text (see xml). */
static void item_park(inbound_item_t *it)
{
    if (strcmp(it->status, "error") != 0 && it->doc != NULL) {
        if (it->model != NULL) {
            memcpy(it->destination, it->model->destination_country, sizeof(it->destination));
        }
        if (cw_sec_xml_serialize(&it->xml, &it->xml_len, it->doc) < 0) {
            cw_strlcpy(it->status, "error", sizeof(it->status));
            cw_strlcpy(it->detail, "out of memory", sizeof(it->detail));
        }
    }
    item_drop_tree(it);
}

/*
 * Second pass: the tree and the model again, from the text the first pass
 * made of them (the same model: reading is deterministic, and a document
 * that failed its schema reads as partially as it did). 0 or CW_E*.
 */
static int item_unpark(inbound_job_t *job, inbound_item_t *it, cw_error_t *err)
{
    cw_sec_problem_e problem;
    int rc;

    rc = cw_sec_xml_parse(&it->doc, it->xml, it->xml_len, &job->cfg->limits, &problem, err);
    cw_free_null(it->xml);
    it->xml_len = 0;
    if (rc < 0 || job->rules == NULL) {
        return rc;
    }
    it->model = cw_calloc(1, sizeof(*it->model));
    if (it->model == NULL) {
        return CW_ENOMEM;
    }
    rc = cw_checks_consignment_read(it->model, xmlDocGetRootElement(it->doc), err);
    return rc < 0 && it->ctx.schema_failed ? 0 : rc;
}

/* Keeps what the commit and the answer need of a; 0 or CW_ENOMEM. */
static int outcome_keep(inbound_item_t *it, const cw_checks_assessment_t *a)
{
    inbound_outcome_t *o = cw_calloc(1, sizeof(*o));

    if (o == NULL) {
        return CW_ENOMEM;
    }
    o->lane = a->lane;
    memcpy(o->destination, a->destination, sizeof(o->destination));
    memcpy(o->sender, a->sender, sizeof(o->sender));
    memcpy(o->profile_id, a->profile_id, sizeof(o->profile_id));
    o->revenue = a->revenue;
    o->fact = a->fact;
    it->outcome = o;
    return 0;
}

/* The outcome as an assessment for cw_pipeline__fact_from and
 * cw_pipeline__measure, in the job's scratch (no findings: they read codes). */
static const cw_checks_assessment_t *outcome_expand(inbound_job_t *job, const inbound_outcome_t *o)
{
    cw_checks_assessment_t *a = job->scratch;

    a->lane = o->lane;
    a->findings_len = 0;
    memcpy(a->destination, o->destination, sizeof(a->destination));
    memcpy(a->sender, o->sender, sizeof(a->sender));
    memcpy(a->profile_id, o->profile_id, sizeof(a->profile_id));
    a->revenue = o->revenue;
    a->fact = o->fact;
    return a;
}

/* The rows of a history being made (history_make). */
typedef struct history_rows {
    cw_checks_fact_t *facts; /* owned */
    size_t len;
    size_t cap;
} history_rows_t;

static int history_row(void *arg, const cw_checks_fact_t *f)
{
    history_rows_t *rows = arg;

    if (rows->len == rows->cap) {
        cw_checks_fact_t *more;

        if (rows->cap > SIZE_MAX / 2 / sizeof(*more)) {
            return CW_ENOMEM;
        }
        more = cw_realloc(rows->facts, 2 * rows->cap * sizeof(*more));
        if (more == NULL) {
            return CW_ENOMEM;
        }
        rows->facts = more;
        rows->cap *= 2;
    }
    rows->facts[rows->len++] = *f;
    return 0;
}

/*
 * The history of an item: the ledger's rows and totals, plus the facts of
 * the items accepted before it in this input (a split shipment in one
 * manifest, job->recent), counted into the totals by the checks' own rules
 * and kept as rows only when the checks read them as rows (the same
 * business key or order number). A manifest of thousands of items for one
 * buyer thus costs a few integer comparisons per earlier item, not a copy
 * of all of them, nor string comparisons of the same keys.
 */
static int history_make(cw_checks_history_t *h,
                        cw_checks_fact_t **facts_out,
                        const inbound_job_t *job,
                        const inbound_item_t *it)
{
    history_rows_t rows = { .len = it->history_len, .cap = it->history_len + 16 };
    int rc;

    *facts_out = NULL;
    rows.facts = cw_malloc(rows.cap * sizeof(*rows.facts));
    if (rows.facts == NULL) {
        return CW_ENOMEM;
    }
    if (it->history_len > 0) {
        memcpy(rows.facts, it->history, it->history_len * sizeof(*rows.facts));
    }
    *h = it->totals;
    h->has_totals = 1; /* no ledger answer: its totals are 0, like its rows */
    rc = cw_checks_recent_count(job->recent, &it->hq, h, history_row, &rows);
    if (rc < 0) {
        cw_free(rows.facts);
        return rc;
    }
    h->facts = rows.facts;
    h->facts_len = rows.len;
    *facts_out = rows.facts;
    return 0;
}

/*
 * Second pass (worker): assesses one prepared consignment with the ledger's
 * facts and those of the items before it in the same input (a split
 * shipment in one manifest), then seals it.
 */
static void item_process(inbound_job_t *job, inbound_item_t *it, cw_checks_assessment_t *a)
{
    xmlNode *business = NULL;
    cw_checks_history_t history = { 0 };
    cw_checks_fact_t *facts = NULL;
    cw_msg_header_t hdr;
    cw_msg_forward_params_t params = { 0 };
    xmlDoc *assessment_doc = NULL;
    xmlDoc *env = NULL;
    xmlNode *node = NULL;
    cw_error_t err = { 0 };
    int rc;

    if (strcmp(it->status, "error") == 0 || strcmp(it->status, "duplicate") == 0) {
        return;
    }
    if (item_unpark(job, it, &err) < 0) {
        goto fail;
    }
    business = xmlDocGetRootElement(it->doc);
    item_header(&hdr, job, it);
    if (job->rules != NULL) {
        assessment_doc = xmlNewDoc(BAD_CAST "1.0");
        if (a == NULL || assessment_doc == NULL) {
            goto fail;
        }
        rc = history_make(&history, &facts, job, it);
        if (rc == 0) {
            rc = cw_checks_run(a, job->rules, it->model, &it->ctx, &history, &err);
        }
        if (rc == 0) {
            rc = cw_checks_assessment_to_xml(&node, a, job->cfg->node_id, assessment_doc, NULL);
        }
        if (rc < 0) {
            goto fail;
        }
        (void)xmlDocSetRootElement(assessment_doc, node);
        cw_pipeline__codes_join(it->codes, sizeof(it->codes), a);
        if (outcome_keep(it, a) < 0) {
            goto fail;
        }
        if (a->lane == CW_CHECKS_LANE_RED) {
            cw_strlcpy(it->status, "refused", sizeof(it->status));
            goto out;
        }
    }
    cw_strlcpy(it->status, "accepted", sizeof(it->status));
    if (strcmp(hdr.to, job->cfg->node_id) == 0) {
        goto out; /* ends here */
    }
    if (cw_config_route_find(job->cfg, hdr.to) == NULL) {
        cw_strlcpy(it->status, "refused", sizeof(it->status));
        (void)snprintf(it->detail, sizeof(it->detail), "no route to %s", hdr.to);
        goto out;
    }
    /* Sealed by this node; the evidence is the partner's original. */
    params.node_id = job->cfg->node_id;
    params.to = hdr.to;
    params.now_s = cw_time_wall_s();
    params.received =
        job->len <= EVIDENCE_INLINE_MAX && job->len * job->item_count <= EVIDENCE_INLINE_TOTAL
            ? job->body
            : NULL;
    params.received_len = job->len;
    params.evidence_media_type = job->media_type;
    params.evidence_original_id = job->batch_id;
    params.evidence_sha256 = job->digest;
    params.assessment = assessment_doc != NULL ? xmlDocGetRootElement(assessment_doc) : NULL;
    /* The envelope the partner would have sent, sealed as intake seals
     * a received one (seal.c: written straight in canonical form). */
    rc = cw_msg_envelope_new(&env, &hdr, business, &err);
    if (rc == 0) {
        rc = cw_pipeline__seal(job->keys, env, &hdr, &params, &it->outgoing, &it->outgoing_len,
                               it->outgoing_id, it->outgoing_digest, NULL, &err);
    }
    if (rc < 0) {
        goto fail;
    }
    goto out;
fail:
    cw_strlcpy(it->status, "error", sizeof(it->status));
    cw_strlcpy(it->detail, err.msg[0] != '\0' ? err.msg : "internal error", sizeof(it->detail));
out:
    cw_free(facts);
    if (assessment_doc != NULL) {
        xmlFreeDoc(assessment_doc);
    }
    if (env != NULL) {
        xmlFreeDoc(env);
    }
}

/*
 * First pass, one document at a time as the adapter makes it (on_doc): the
 * trees of a whole manifest never exist at once. Before, the adapter
 * returned all 10,000 of a big manifest together: 140 MB of trees.
 */
static int on_doc(xmlDoc *doc, size_t item, size_t line, void *arg)
{
    inbound_job_t *job = arg;
    inbound_item_t *it;

    if (job->item_count == job->item_cap) {
        size_t cap = job->item_cap == 0 ? 64 : 2 * job->item_cap;
        inbound_item_t *more = cw_realloc(job->items, cap * sizeof(*more));

        if (more == NULL) {
            xmlFreeDoc(doc);
            return CW_ENOMEM;
        }
        memset(more + job->item_count, 0, (cap - job->item_count) * sizeof(*more));
        job->items = more;
        job->item_cap = cap;
    }
    it = &job->items[job->item_count++];
    it->item = item;
    it->line = line;
    item_prepare(job, it, doc);
    item_park(it);
    return 0;
}

static void inbound_work(void *arg)
{
    inbound_job_t *job = arg;
    const cw_adapter_t *adapter;
    cw_adapter_result_t res;
    cw_error_t err = { 0 };
    char digest_hex[65];
    size_t i;
    int rc;

    (void)SHA256((const unsigned char *)job->body, job->len, job->digest);
    hex(digest_hex, job->digest, sizeof(job->digest));
    (void)snprintf(job->batch_id, sizeof(job->batch_id), "batch-%.32s", digest_hex);
    adapter = cw_pipeline__adapter_find(job->adapters, job->partner->id, 0);
    if (adapter == NULL) {
        job->whole_rc = CW_ENOENT;
        cw_strlcpy(job->whole_error, "no adapter is configured for this partner",
                   sizeof(job->whole_error));
        return;
    }
    cw_adapter_result_init(&res);
    res.on_doc = on_doc;
    res.arg = job;
    rc = cw_adapter_translate_in(adapter, job->body, job->len, job->media_type, &res, &err);
    if (rc < 0) {
        /* What on_doc took is discarded with the job. */
        job->whole_rc = rc;
        cw_strlcpy(job->whole_error, err.msg, sizeof(job->whole_error));
        cw_adapter_result_fini(&res);
        return;
    }
    job->errors = cw_calloc(res.error_count + 1, sizeof(*job->errors));
    if (job->errors == NULL) {
        job->whole_rc = CW_ENOMEM;
        cw_adapter_result_fini(&res);
        return;
    }
    if (res.error_count > 0) {
        memcpy(job->errors, res.errors, res.error_count * sizeof(*job->errors));
    }
    job->error_count = res.error_count;
    /* The items array moved as it grew: point each context into its item. */
    for (i = 0; i < job->item_count; i++) {
        inbound_item_t *it = &job->items[i];

        it->ctx.message_id = it->message_id;
        if (it->ctx.schema_error != NULL) {
            it->ctx.schema_error = it->schema_error;
        }
    }
    cw_adapter_result_fini(&res);
}

/*
 * The ledger's facts for each item of the chunk that the checks will
 * assess, read on this worker (cw_store_facts_query_here) rather than one
 * round trip through the loop and the store's reader thread per item. The
 * ledger holds none of this input's items yet (they are committed
 * together at the end), so reading just before sealing sees what it saw
 * before. 0, or the whole input fails (job->whole_rc): without the ledger
 * nothing is accepted, as in intake.
 */
static int chunk_histories(inbound_job_t *job)
{
    size_t i;
    int rc = 0;

    if (job->pl->store == NULL) {
        return 0;
    }
    for (i = job->seal_from; i < job->seal_to && rc == 0; i++) {
        inbound_item_t *it = &job->items[i];

        if (it->hq.until_date == 0 || strcmp(it->status, "error") == 0
            || strcmp(it->status, "duplicate") == 0) {
            continue;
        }
        rc = cw_pipeline__history_read(job->pl->store, &it->hq, it->destination, &it->history,
                                       &it->history_len, &it->totals);
        if (rc == CW_ENOMEM) {
            job->whole_rc = CW_ENOMEM;
            cw_strlcpy(job->whole_error, "out of memory", sizeof(job->whole_error));
        } else if (rc < 0) {
            CW_LOG_ERROR("pipeline", "cannot read the ledger for %s/%s: %s", job->partner->id,
                         it->message_id, cw_strerror(rc));
            job->whole_rc = CW_EIO;
            cw_strlcpy(job->whole_error, "the message store is failing; nothing was accepted",
                       sizeof(job->whole_error));
        }
    }
    return rc;
}

/*
 * Second pass (worker): assess each consignment with its history, seal.
 * Each item's tree goes as soon as it is sealed: what stays until the
 * commit is the sealed envelope, the assessment (the next items' history)
 * and the answer line. A 10,000-row manifest held every tree to the end.
 */
static void inbound_seal_work(void *arg)
{
    inbound_job_t *job = arg;
    cw_checks_assessment_t *a;
    size_t i;

    if (chunk_histories(job) < 0) {
        return;
    }
    if (job->rules != NULL && job->recent == NULL && cw_checks_recent_new(&job->recent) < 0) {
        goto nomem;
    }
    /* One assessment for the chunk (33 KB); items keep an outcome. */
    a = job->rules != NULL ? cw_malloc(sizeof(*a)) : NULL;
    for (i = job->seal_from; i < job->seal_to; i++) {
        inbound_item_t *it = &job->items[i];

        item_process(job, it, a);
        item_drop_work(it);
        /* The next items count it: without it they would be assessed
         * against less than was accepted, so the whole input fails. */
        if (job->recent != NULL && it->outcome != NULL && strcmp(it->status, "accepted") == 0
            && cw_checks_recent_add(job->recent, &it->outcome->fact) < 0) {
            cw_free(a);
            goto nomem;
        }
    }
    cw_free(a);
    return;
nomem:
    job->whole_rc = CW_ENOMEM;
    cw_strlcpy(job->whole_error, "out of memory", sizeof(job->whole_error));
}

#ifdef __GLIBC__
/* Worker: gives the freed pages of every malloc arena back to the system. */
static void trim_work(void *arg)
{
    (void)arg;
    (void)malloc_trim(0);
}

static void trim_done(int status, void *arg)
{
    (void)status;
    (void)arg;
}
#endif

/* ==== Commit and answer (loop) ==== */

static void inbound_turn_next(cw_pipeline_t *pl);

static void inbound_free(inbound_job_t *job)
{
    cw_pipeline_t *pl = job->pl;
    int running = job->running;
    size_t i;

    for (i = 0; i < job->item_count; i++) {
        inbound_item_t *it = &job->items[i];

        cw_free(it->outgoing);
        cw_free(it->outcome);
        item_drop_work(it);
    }
#ifdef __GLIBC__
    /*
     * A big input's trees were freed on a worker, into that thread's malloc
     * arena, which glibc keeps: without this, each 10,000-row manifest left
     * the daemon a few hundred MB larger (measured in bench/README.md).
     * Trimming walks the arenas, so it runs on a worker, not the loop.
     */
    if (job->item_count >= TRIM_ITEMS_MIN
        && cw_pipeline_work_submit(job->pl, trim_work, trim_done, NULL) < 0) {
        CW_LOG_WARN("pipeline", "cannot queue the memory trim after %zu items", job->item_count);
    }
#endif
    cw_checks_recent_free(job->recent);
    cw_free(job->items);
    cw_free(job->scratch);
    cw_free(job->errors);
    cw_pipeline_adapters_unref(job->adapters);
    cw_checks_rules_unref(job->rules);
    cw_sec_keys_unref(job->keys);
    cw_free(job);
    if (running) {
        pl->inbound_running--;
        inbound_turn_next(pl);
    }
}

static int render(cw_buf_t *b, const inbound_job_t *job)
{
    char digest_hex[65];
    size_t i;
    size_t j;
    int rc = 0;

    hex(digest_hex, job->digest, sizeof(job->digest));
    CW_TRY(cw_buf_appendf(b, "{\"adapter\":\"%s\",\"partner\":\"", job->partner->adapter));
    CW_TRY(cw_buf_append_json_str(b, job->partner->id, strlen(job->partner->id)));
    CW_TRY(cw_buf_appendf(b, "\",\"batch\":\"%s\",\"sha256\":\"%s\",\"consignments\":[",
                          job->batch_id, digest_hex));
    for (i = 0; i < job->item_count; i++) {
        const inbound_item_t *it = &job->items[i];

        CW_TRY(cw_buf_appendf(b, "%s{\"item\":%zu,\"line\":%zu,\"message_id\":\"", i ? "," : "",
                              it->item, it->line));
        CW_TRY(cw_buf_append_json_str(b, it->message_id, strlen(it->message_id)));
        CW_TRY(cw_buf_appendf(b, "\",\"status\":\"%s\"", it->status));
        if (it->outcome != NULL) {
            const char *p = it->codes;

            CW_TRY(cw_buf_appendf(b, ",\"lane\":\"%s\",\"findings\":[",
                                  cw_checks_lane_name(it->outcome->lane)));
            /* codes: the findings' codes, space separated (codes_join). */
            for (j = 0; *p != '\0'; j++) {
                size_t n = strcspn(p, " ");

                CW_TRY(cw_buf_appendf(b, "%s\"%.*s\"", j ? "," : "", (int)n, p));
                p += n;
                p += strspn(p, " ");
            }
            CW_TRY(cw_buf_appends(b, "]"));
        }
        if (it->detail[0] != '\0') {
            CW_TRY(cw_buf_appends(b, ",\"detail\":\""));
            CW_TRY(cw_buf_append_json_str(b, it->detail, strlen(it->detail)));
            CW_TRY(cw_buf_appends(b, "\""));
        }
        CW_TRY(cw_buf_appends(b, "}"));
    }
    CW_TRY(cw_buf_appends(b, "],\"errors\":["));
    for (i = 0; i < job->error_count; i++) {
        const cw_adapter_item_error_t *e = &job->errors[i];

        CW_TRY(cw_buf_appendf(b, "%s{\"item\":%zu,\"line\":%zu,\"field\":\"", i ? "," : "", e->item,
                              e->line));
        CW_TRY(cw_buf_append_json_str(b, e->field, strlen(e->field)));
        CW_TRY(cw_buf_appends(b, "\",\"message\":\""));
        CW_TRY(cw_buf_append_json_str(b, e->msg, strlen(e->msg)));
        CW_TRY(cw_buf_appends(b, "\"}"));
    }
    CW_TRY(cw_buf_appends(b, "]}\n"));
out:
    return rc;
}

static void inbound_answer(inbound_job_t *job)
{
    cw_buf_t b;
    int status = 200;

    cw_buf_init(&b, CW_LIMIT_ANSWER_BYTES_FLOOR);
    if (render(&b, job) < 0) {
        status = 500;
    }
    job->done(status, b.data != NULL ? b.data : "", b.len, NULL, job->arg);
    cw_buf_fini(&b);
    inbound_free(job);
}

typedef struct put_ctx {
    inbound_job_t *job;
    inbound_item_t *it; /* NULL: the batch record */
} put_ctx_t;

static void puts_next(inbound_job_t *job);
static void inbound_done(int status, void *arg);

static void on_item_stored(int status, const cw_store_put_result_t *put, void *arg)
{
    put_ctx_t *ctx = arg;
    inbound_job_t *job = ctx->job;
    inbound_item_t *it = ctx->it;

    if (it == NULL) {
        /* The batch record, alone before any item: the consignments'
         * evidence is its bytes, so none is stored without it. */
        cw_free(ctx);
        job->pending--;
        if (status < 0) {
            job->whole_rc = CW_EIO;
            cw_strlcpy(job->whole_error,
                       "the message store failed; nothing of this document was stored; send"
                       " it again",
                       sizeof(job->whole_error));
            inbound_done(0, job);
            return;
        }
        /* pending starts at 1 so that no callback answers before the
         * first window of puts is submitted; the last decrement below
         * answers if all were synchronous failures. The rest go as the
         * first complete. */
        job->pending = 1;
        job->next_put = 0;
        puts_next(job);
        if (--job->pending == 0) {
            inbound_answer(job);
        }
        return;
    }
    if (status < 0) {
        cw_strlcpy(it->status, "error", sizeof(it->status));
        cw_strlcpy(it->detail, "the message store failed; send it again", sizeof(it->detail));
    } else if (put->kind == CW_STORE_PUT_DUPLICATE) {
        cw_strlcpy(it->status, "duplicate", sizeof(it->status));
    } else if (put->kind == CW_STORE_PUT_CONFLICT) {
        cw_strlcpy(it->status, "conflict", sizeof(it->status));
        cw_strlcpy(it->detail, "this consignment id was sent before with other content",
                   sizeof(it->detail));
    } else if (it->queued && job->pl->egress != NULL) {
        cw_egress_notify(job->pl->egress);
    }
    if (status == 0 && put->kind == CW_STORE_PUT_NEW && it->outcome != NULL) {
        cw_pipeline__measure(job->pl, outcome_expand(job, it->outcome), it->codes);
    }
    cw_free(ctx);
    /* This put still counts in pending while the next are submitted, so
     * that none of theirs answers before the last is submitted. */
    puts_next(job);
    if (--job->pending == 0) {
        inbound_answer(job);
    }
}

static int put_item(inbound_job_t *job, inbound_item_t *it)
{
    cw_store_msg_t msg;
    cw_store_fact_t fact;
    put_ctx_t *ctx = cw_calloc(1, sizeof(*ctx));
    int rc;

    if (ctx == NULL) {
        return CW_ENOMEM;
    }
    ctx->job = job;
    ctx->it = it;
    memset(&msg, 0, sizeof(msg));
    memset(&fact, 0, sizeof(fact));
    msg.from = job->partner->id;
    msg.message_id = it != NULL ? it->message_id : job->batch_id;
    memcpy(msg.digest_sha256, job->digest, sizeof(msg.digest_sha256));
    msg.created_at_ms = cw_store_clock_ms();
    msg.state = CW_STORE_STATE_RECEIVED;
    if (it == NULL) {
        /* The original, kept once: every consignment's evidence points here. */
        msg.to = job->cfg->node_id;
        msg.service = "inbound";
        msg.action = job->partner->adapter;
        msg.received = job->body;
        msg.received_len = job->len;
    } else {
        /* Each consignment's digest is its own translated content's. */
        memcpy(msg.digest_sha256, it->digest, sizeof(msg.digest_sha256));
        msg.to = job->partner->adapter_to;
        msg.service = "ecommerce";
        msg.action = "consignment";
        msg.conversation_id = it->message_id;
        msg.received = job->batch_id; /* a pointer to the evidence, not a copy */
        msg.received_len = strlen(job->batch_id);
        if (strcmp(it->status, "refused") == 0) {
            msg.state = CW_STORE_STATE_REJECTED;
            msg.problem = "consignment-refused";
        } else if (it->outgoing != NULL) {
            msg.state = CW_STORE_STATE_QUEUED;
            msg.route = job->partner->adapter_to;
            msg.outgoing = it->outgoing;
            msg.outgoing_len = it->outgoing_len;
            msg.outgoing_id = it->outgoing_id;
            msg.outgoing_digest = it->outgoing_digest;
            msg.next_attempt_at_ms = msg.created_at_ms;
        }
        if (it->outcome != NULL) {
            /* fact points into the scratch until cw_store_msg_put copies it. */
            cw_pipeline__fact_from(&fact, outcome_expand(job, it->outcome), it->codes);
            msg.fact = &fact;
        }
    }
    rc = cw_store_msg_put(job->pl->store, &msg, on_item_stored, ctx);
    if (rc < 0) {
        cw_free(ctx);
        return rc;
    }
    if (it != NULL && it->outgoing != NULL) {
        /* The store has its copy: 10,000 sealed envelopes were held twice. */
        cw_free_null(it->outgoing);
        it->outgoing_len = 0;
        it->queued = 1;
    }
    job->pending++;
    return 0;
}

/* Items from index from on (but those found stored before) fail: their puts
 * could not be submitted. */
static void puts_fail_from(inbound_job_t *job, size_t from)
{
    for (size_t i = from; i < job->item_count; i++) {
        if (strcmp(job->items[i].status, "duplicate") != 0) {
            cw_strlcpy(job->items[i].status, "error", sizeof(job->items[i].status));
        }
    }
    job->next_put = job->item_count;
}

/* Submits the next items' puts, up to PUTS_IN_FLIGHT outstanding (pending
 * counts one more: the caller's hold). A put that cannot be submitted
 * fails its item and every one after it. Loop. */
static void puts_next(inbound_job_t *job)
{
    while (job->next_put < job->item_count && job->pending < PUTS_IN_FLIGHT + 1) {
        inbound_item_t *it = &job->items[job->next_put++];

        /* "duplicate" here: found stored before the second pass. */
        if (strcmp(it->status, "error") == 0 || strcmp(it->status, "duplicate") == 0) {
            continue;
        }
        if (put_item(job, it) < 0) {
            puts_fail_from(job, job->next_put - 1);
        }
    }
}

static void inbound_done(int status, void *arg);

static void inbound_chunk_done(int status, void *arg);

/* The second pass for the next chunk, on a worker (inbound_chunk_done goes
 * on with the one after). */
static void chunk_next(inbound_job_t *job)
{
    size_t end = job->seal_from + SEAL_CHUNK_ITEMS;

    if (end > job->item_count) {
        end = job->item_count;
    }
    job->seal_to = end;
    if (cw_pipeline_work_submit(job->pl, inbound_seal_work, inbound_chunk_done, job) < 0) {
        job->whole_rc = CW_ENOMEM;
        cw_strlcpy(job->whole_error, "cannot queue the work", sizeof(job->whole_error));
        inbound_done(0, job);
    }
}

/* The second pass, chunk by chunk, from the first item. */
static void chunks_start(inbound_job_t *job)
{
    job->seal_from = 0;
    if (job->item_count == 0) {
        inbound_done(0, job);
        return;
    }
    chunk_next(job);
}

static void known_next(inbound_job_t *job);

/* The store answered for item next_known - 1 of a resend. */
static void on_item_known(int status, const cw_store_msg_info_t *info, void *arg)
{
    inbound_job_t *job = arg;
    inbound_item_t *it = &job->items[job->next_known - 1];

    /* Accepted before with the same content: nothing to assess, seal or
     * store again. Anything else (not found, refused before, other
     * content, a store error) takes the normal path, which decides. */
    if (status == 0 && info->state != CW_STORE_STATE_REJECTED
        && memcmp(info->digest_sha256, it->digest, sizeof(it->digest)) == 0) {
        cw_strlcpy(it->status, "duplicate", sizeof(it->status));
        item_drop_work(it);
    }
    known_next(job);
}

/* A resend: looks each item up, one at a time; then the second pass. */
static void known_next(inbound_job_t *job)
{
    while (job->next_known < job->item_count) {
        inbound_item_t *it = &job->items[job->next_known++];

        if (strcmp(it->status, "error") != 0
            && cw_store_msg_get(job->pl->store, job->partner->id, it->message_id, on_item_known,
                                job)
                   == 0) {
            return;
        }
    }
    chunks_start(job);
}

/*
 * The batch record (the original bytes, put with every input) answered.
 * The same bytes posted again, as a carrier does after a timeout, used to
 * be assessed and sealed again item by item only for the store to answer
 * duplicate; for a buyer the ledger knew 10,000 times that took 381 s for
 * 10,000 rows (bench/README.md). Now each item is looked up first.
 */
static void on_batch_seen(int status, const cw_store_msg_info_t *info, void *arg)
{
    inbound_job_t *job = arg;

    if (status == 0 && memcmp(info->digest_sha256, job->digest, sizeof(job->digest)) == 0) {
        job->next_known = 0;
        known_next(job);
        return;
    }
    chunks_start(job);
}

/* After the first pass (loop): a resend's items are looked up, then the
 * histories are fetched chunk by chunk. */
static void inbound_prepared(int status, void *arg)
{
    inbound_job_t *job = arg;

    if (status < 0 || job->whole_rc < 0) {
        inbound_done(status, job);
        return;
    }
    if (job->pl->store != NULL && job->item_count > 0
        && cw_store_msg_get(job->pl->store, job->partner->id, job->batch_id, on_batch_seen, job)
               == 0) {
        return;
    }
    chunks_start(job);
}

/* After a chunk's second pass (loop): the next chunk, or the commit. */
static void inbound_chunk_done(int status, void *arg)
{
    inbound_job_t *job = arg;

    if (status < 0 || job->whole_rc < 0 || job->seal_to >= job->item_count) {
        inbound_done(status, job);
        return;
    }
    job->seal_from = job->seal_to;
    chunk_next(job);
}

static void inbound_done(int status, void *arg)
{
    inbound_job_t *job = arg;

    if (status < 0 && job->whole_rc == 0) {
        job->whole_rc = CW_ECLOSED;
        cw_strlcpy(job->whole_error, "cancelled", sizeof(job->whole_error));
    }
    if (job->whole_rc < 0) {
        /* The document's fault (0: the caller refuses it) or this node's
         * (503: send it again later). */
        int server =
            job->whole_rc == CW_EIO || job->whole_rc == CW_ENOMEM || job->whole_rc == CW_ECLOSED;

        job->done(server ? 503 : 0, NULL, 0, job->whole_error, job->arg);
        inbound_free(job);
        return;
    }
    if (job->pl->store == NULL) {
        inbound_answer(job);
        return;
    }
    /* The batch record first; its callback puts the items
     * (on_item_stored). */
    job->pending = 0;
    job->next_put = 0;
    if (put_item(job, NULL) < 0) {
        job->whole_rc = CW_EIO;
        cw_strlcpy(job->whole_error, "the message store refused the document; send it again",
                   sizeof(job->whole_error));
        inbound_done(0, job);
    }
}

/*
 * Inputs processed at once: one per CPU worker. Each holds its consignments'
 * entries, outcomes and sealed envelopes (about 9 KB per consignment, a
 * peak of 127 MB for 10,000 rows), so without a bound the daemon's memory would
 * grow with the number of partners posting at the same moment.
 */
static size_t inbound_turns(const cw_config_t *cfg)
{
    unsigned n = cfg->workers != 0 ? cfg->workers : uv_available_parallelism();

    return n > 0 ? n : 1;
}

/* Inputs that may wait for a turn, each holding its body (at most
 * body-bytes-max): past this many per turn a new one is refused (503)
 * instead of growing the queue, and so the memory, without bound. */
#define INBOUND_WAITING_PER_TURN 4

static int inbound_start(inbound_job_t *job)
{
    int rc = cw_pipeline_work_submit(job->pl, inbound_work, inbound_prepared, job);

    if (rc == 0) {
        job->running = 1;
        job->pl->inbound_running++;
    }
    return rc;
}

/* A turn is free: start the inputs waiting, in order, while turns last. */
static void inbound_turn_next(cw_pipeline_t *pl)
{
    while (pl->inbound_first != NULL
           && pl->inbound_running < inbound_turns(pl->inbound_first->cfg)) {
        inbound_job_t *job = pl->inbound_first;

        pl->inbound_first = job->next_wait;
        if (pl->inbound_first == NULL) {
            pl->inbound_last = NULL;
        }
        pl->inbound_waiting--;
        job->next_wait = NULL;
        if (inbound_start(job) < 0) {
            job->done(503, NULL, 0, "out of memory", job->arg);
            inbound_free(job);
        }
    }
}

size_t cw_pipeline_inbound_cancel_waiting(cw_pipeline_t *pl)
{
    size_t n = 0;
    inbound_job_t *job;

    while ((job = pl->inbound_first) != NULL) {
        pl->inbound_first = job->next_wait;
        pl->inbound_waiting--;
        job->next_wait = NULL;
        job->done(503, NULL, 0, "the node is stopping", job->arg);
        inbound_free(job); /* not running: frees no turn */
        n++;
    }
    pl->inbound_last = NULL;
    return n;
}

int cw_pipeline_inbound_submit(cw_pipeline_t *pl,
                               const cw_config_t *cfg,
                               const char *partner,
                               const char *adapter,
                               const char *body,
                               size_t len,
                               const char *media_type,
                               cw_inbound_done_cb done,
                               void *arg)
{
    inbound_job_t *job;
    size_t i;
    int rc;

    for (i = 0; i < cfg->partner_count; i++) {
        if (strcmp(cfg->partners[i].id, partner) == 0) {
            break;
        }
    }
    if (i == cfg->partner_count || strcmp(cfg->partners[i].adapter, adapter) != 0
        || pl->keys == NULL) {
        return CW_EPERM;
    }
    if (pl->inbound_running >= inbound_turns(cfg)
        && pl->inbound_waiting >= INBOUND_WAITING_PER_TURN * inbound_turns(cfg)) {
        return CW_EBUSY;
    }
    job = cw_calloc(1, sizeof(*job));
    if (job == NULL) {
        return CW_ENOMEM;
    }
    job->scratch = cw_calloc(1, sizeof(*job->scratch));
    if (job->scratch == NULL) {
        cw_free(job);
        return CW_ENOMEM;
    }
    job->pl = pl;
    job->cfg = cfg;
    job->partner = &cfg->partners[i];
    job->keys = cw_sec_keys_ref(pl->keys);
    job->rules = pl->rules != NULL ? cw_checks_rules_ref(pl->rules) : NULL;
    job->adapters = cw_pipeline_adapters_ref(pl->adapters);
    job->body = body;
    job->len = len;
    job->media_type = media_type != NULL ? media_type : "application/octet-stream";
    job->done = done;
    job->arg = arg;
    if (pl->inbound_running >= inbound_turns(cfg)) {
        /* Its turn comes when a running input is answered. */
        if (pl->inbound_last != NULL) {
            pl->inbound_last->next_wait = job;
        } else {
            pl->inbound_first = job;
        }
        pl->inbound_last = job;
        pl->inbound_waiting++;
        return 0;
    }
    rc = inbound_start(job);
    if (rc < 0) {
        inbound_free(job);
    }
    return rc;
}
