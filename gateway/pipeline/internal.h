/*
 * pipeline internals shared by pool.c, trust.c, intake.c and delivery.c.
 */
#ifndef CW_PIPELINE_INTERNAL_H
#define CW_PIPELINE_INTERNAL_H

#include "pipeline.h"

/* Distinct (dimension, value, currency) series kept; senders and codes are
 * bounded by configuration and CHECKS.md, destinations by the profiles. */
#define CW_PIPELINE_COUNTERS_MAX 512

typedef enum cw_pipeline_dim_e {
    CW_DIM_DESTINATION = 0,
    CW_DIM_LANE,
    CW_DIM_CODE,
    CW_DIM_SENDER,
    CW_DIM_COLLECTION,
    CW_DIM_DECLARED, /* value summed per destination and currency */
    CW_DIM_DUTY,
    CW_DIM_TAX,
    CW_DIM_DUE,
} cw_pipeline_dim_e;

typedef struct cw_pipeline_counter {
    cw_pipeline_dim_e dim; /* what is counted */
    char value[72];        /* the label value */
    char currency[4];      /* for sums; "" for counts */
    int64_t n;             /* count, or sum in minor units */
} cw_pipeline_counter_t;

/* The stages of intake timed for clearway_intake_stage_seconds (timing.c). */
typedef enum {
    CW_STAGE_WAIT_VERIFY, /* submitted, waiting for a worker */
    CW_STAGE_VERIFY,      /* parse, verify, prepare the checks (worker) */
    CW_STAGE_LEDGER,      /* the ledger's history for the checks (the same worker) */
    CW_STAGE_SEAL,        /* checks, seal for the next hop, receipt (the same worker) */
    CW_STAGE_COMMIT,      /* the durable commit (writer thread, group commit) */
    CW_STAGE_HANDOFF,     /* from the worker's end to the loop's callback */
    CW_STAGE_TOTAL,       /* submitted to answered */
    CW_STAGE_COUNT
} cw_stage_e;

/* The stages of a delivery attempt timed for clearway_delivery_stage_seconds
 * (timing.c), for attempts that ended delivered. */
typedef enum {
    CW_DSTAGE_CLAIM,    /* the claim on the store's writer that handed it out */
    CW_DSTAGE_PREPARE,  /* claimed to POSTed (an output adapter's translation) */
    CW_DSTAGE_EXCHANGE, /* POSTed to the receiver's answer (its intake included) */
    CW_DSTAGE_CHECK,    /* the answer to its receipt checked (waiting for a worker) */
    CW_DSTAGE_TOTAL,    /* the claim asked for to the receipt checked */
    CW_DSTAGE_COUNT
} cw_dstage_e;

#define CW_STAGE_BUCKETS 13

typedef struct cw_pipeline_hist {
    uint64_t buckets[CW_STAGE_BUCKETS + 1]; /* the last one is +Inf */
    uint64_t sum_ns;
    uint64_t count;
} cw_pipeline_hist_t;

struct cw_pipeline {
    uv_loop_t *loop;
    size_t in_flight;                 /* submitted, done callback not yet run */
    cw_sec_keys_t *keys;              /* trust snapshot for new messages (referenced) */
    const cw_sec_schemas_t *schemas;  /* compiled schemas (borrowed) */
    cw_store_t *store;                /* message store (borrowed); NULL: not persisted */
    cw_egress_t *egress;              /* delivery scheduler (borrowed) */
    cw_http_client_t *client;         /* outbound HTTP (borrowed); NULL once it closes */
    unsigned translate_delay_ms;      /* test hook: CW_DELIVERY_FAULT=translate-slow */
    cw_config_t *cfg;                 /* snapshot for deliveries (referenced) */
    cw_checks_rules_t *rules;         /* facilitation rules (referenced); NULL: core off */
    cw_pipeline_adapters_t *adapters; /* adapter instances (referenced) */
    cw_pipeline_counter_t counters[CW_PIPELINE_COUNTERS_MAX]; /* measurement */
    size_t counter_count;                                     /* used entries */
    uint64_t counters_dropped;                   /* observations past the table's size */
    cw_pipeline_hist_t stages[CW_STAGE_COUNT];   /* intake timing (timing.c) */
    cw_pipeline_hist_t dstages[CW_DSTAGE_COUNT]; /* delivery timing (timing.c) */
    /* Inbound inputs (inbound.c): at most one per CPU worker is translated,
     * assessed, sealed and committed at a time; the others wait in order. */
    size_t inbound_running;
    size_t inbound_waiting;
    struct inbound_job *inbound_first; /* the next to run */
    struct inbound_job *inbound_last;
};

/* The adapter of party (inbound: the partner; outbound: the route's party). */
const cw_adapter_t *
cw_pipeline__adapter_find(const cw_pipeline_adapters_t *set, const char *party, int outbound);

/* Records ns in the stage's histogram (timing.c). Loop thread. */
void cw_pipeline__stage_observe(cw_pipeline_t *pl, cw_stage_e stage, uint64_t ns);
/* Records b - a (monotonic ns) when a is set and b is not earlier. */
void cw_pipeline__stage_span(cw_pipeline_t *pl, cw_stage_e stage, uint64_t a, uint64_t b);
/* The same for a delivery stage. Loop thread. */
void cw_pipeline__dstage_span(cw_pipeline_t *pl, cw_dstage_e stage, uint64_t a, uint64_t b);
/* Appends clearway_intake_stage_seconds. */
CW_MUST_CHECK int cw_pipeline__stages_render(const cw_pipeline_t *pl, cw_buf_t *out);

/* Counts one assessed consignment (measure.c). Loop thread. */
void cw_pipeline__measure(cw_pipeline_t *pl, const cw_checks_assessment_t *a, const char *codes);

/* The store query for what the checks asked for (hq); points into its
 * arguments, which must outlive it. */
void cw_pipeline__facts_query(cw_store_facts_query_t *q,
                              const cw_checks_history_query_t *hq,
                              const char *destination);

/*
 * Signs env, a sealed envelope (cw_msg_forward_new), with the node key:
 * *out (cw_free) is what goes on the wire, its exclusive canonical form,
 * and digest its SHA-256, what a receipt for it must name
 * (cw_sec_doc_sign_c14n), which the store keeps with the delivery; id is
 * its MessageId. 0 or a negative error with err set.
 */
CW_MUST_CHECK int cw_pipeline__seal_finish(const cw_sec_keys_t *keys,
                                           xmlDoc *env,
                                           char **out,
                                           size_t *out_len,
                                           char id[CW_MSG_ID_MAX],
                                           unsigned char digest[32],
                                           cw_error_t *err);
/* The finding codes of a, space separated, into out (cut to size). */
void cw_pipeline__codes_join(char *out, size_t size, const cw_checks_assessment_t *a);

/*
 * The sealed envelope for received (whose header is in_hdr), as
 * cw_msg_forward_new builds it and cw_pipeline__seal_finish signs it, but
 * written straight in its canonical form (seal.c): *out, out_len, id and
 * digest as cw_pipeline__seal_finish's. *evidence_at (when not NULL): where
 * in *out the Evidence's Content, the base64 of params->received, begins
 * (what the store may keep once, cw_store_msg_t), or 0 when the Evidence
 * does not carry params->received. 0; CW_EAGAIN when the payload
 * holds what only libxml2 canonicalises (seal it as a tree); or another
 * negative error, with err set.
 */
CW_MUST_CHECK int cw_pipeline__seal_write(const cw_sec_keys_t *keys,
                                          const xmlDoc *received,
                                          const cw_msg_header_t *in_hdr,
                                          const cw_msg_forward_params_t *params,
                                          char **out,
                                          size_t *out_len,
                                          char id[CW_MSG_ID_MAX],
                                          unsigned char digest[32],
                                          size_t *evidence_at,
                                          cw_error_t *err);

/* cw_pipeline__seal_write, and the tree when it answers CW_EAGAIN (then
 * *evidence_at is 0). */
CW_MUST_CHECK int cw_pipeline__seal(const cw_sec_keys_t *keys,
                                    const xmlDoc *received,
                                    const cw_msg_header_t *in_hdr,
                                    const cw_msg_forward_params_t *params,
                                    char **out,
                                    size_t *out_len,
                                    char id[CW_MSG_ID_MAX],
                                    unsigned char digest[32],
                                    size_t *evidence_at,
                                    cw_error_t *err);

/* The fact to record for assessment a; points into a and codes. */
void cw_pipeline__fact_from(cw_store_fact_t *f, const cw_checks_assessment_t *a, const char *codes);

/* Copies the ledger's facts into checks facts: *out (cw_free; NULL when
 * there are none). 0 or CW_ENOMEM. */
CW_MUST_CHECK int cw_pipeline__facts_copy(cw_checks_fact_t **out, const cw_store_facts_t *facts);

/* The store's totals as a history (has_year_total, has_totals; no rows). */
void cw_pipeline__history_totals(cw_checks_history_t *h, const cw_store_facts_t *facts);

/*
 * Reads what the checks asked for (hq, for destination) from the ledger on
 * the calling thread (cw_store_facts_query_here): *rows (cw_free; NULL
 * when none), *len, and the totals into *totals. 0, or CW_ENOMEM, or the
 * store's error. Worker threads.
 */
CW_MUST_CHECK int cw_pipeline__history_read(cw_store_t *store,
                                            const cw_checks_history_query_t *hq,
                                            const char *destination,
                                            cw_checks_fact_t **rows,
                                            size_t *len,
                                            cw_checks_history_t *totals);

#endif /* CW_PIPELINE_INTERNAL_H */
