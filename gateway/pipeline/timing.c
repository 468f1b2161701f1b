/*
 * Where intake's time goes: one histogram per stage of a signed envelope's
 * way from the request to the answer, rendered with the node's metrics as
 * clearway_intake_stage_seconds{stage="..."}; and a delivery's, from the
 * claim to the receipt checked, as clearway_delivery_stage_seconds. Wall
 * time, so a stage that waits (for a worker, for the store's thread, for
 * the loop) counts its waiting: that is what a sender's latency is made
 * of. Loop thread only.
 */
#include <string.h>

#include "internal.h"

/* Upper bounds in seconds; finer than the request histogram's, since one
 * stage is a fraction of a request. The last bucket is +Inf. */
static const double stage_bounds[CW_STAGE_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5,
};

static const char *const stage_bound_labels[CW_STAGE_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
    "0.025",  "0.05",    "0.1",    "0.25",  "1",      "5",
};

static const char *const stage_names[CW_STAGE_COUNT] = {
    [CW_STAGE_WAIT_VERIFY] = "wait_verify",
    [CW_STAGE_VERIFY] = "verify",
    [CW_STAGE_LEDGER] = "ledger",
    [CW_STAGE_SEAL] = "seal",
    [CW_STAGE_COMMIT] = "commit",
    [CW_STAGE_HANDOFF] = "handoff",
    [CW_STAGE_TOTAL] = "total",
};

static const char *const dstage_names[CW_DSTAGE_COUNT] = {
    [CW_DSTAGE_CLAIM] = "claim", [CW_DSTAGE_PREPARE] = "prepare", [CW_DSTAGE_EXCHANGE] = "exchange",
    [CW_DSTAGE_CHECK] = "check", [CW_DSTAGE_TOTAL] = "total",
};

static void hist_observe(cw_pipeline_hist_t *h, uint64_t ns)
{
    double seconds = (double)ns / 1e9;
    size_t i;

    for (i = 0; i < CW_STAGE_BUCKETS; i++) {
        if (seconds <= stage_bounds[i]) {
            break;
        }
    }
    h->buckets[i]++; /* per bucket; accumulated when rendered */
    h->sum_ns += ns;
    h->count++;
}

void cw_pipeline__stage_observe(cw_pipeline_t *pl, cw_stage_e stage, uint64_t ns)
{
    if (CW_NEVER((unsigned)stage >= CW_STAGE_COUNT)) {
        return;
    }
    hist_observe(&pl->stages[stage], ns);
}

/* The span from a to b, or nothing when either end was not reached. */
void cw_pipeline__stage_span(cw_pipeline_t *pl, cw_stage_e stage, uint64_t a, uint64_t b)
{
    if (a != 0 && b >= a) {
        cw_pipeline__stage_observe(pl, stage, b - a);
    }
}

void cw_pipeline__dstage_span(cw_pipeline_t *pl, cw_dstage_e stage, uint64_t a, uint64_t b)
{
    if (CW_NEVER((unsigned)stage >= CW_DSTAGE_COUNT)) {
        return;
    }
    if (a != 0 && b >= a) {
        hist_observe(&pl->dstages[stage], b - a);
    }
}

/* Appends the histograms hists[0..n) as metric name, one per stage. */
static int hists_render(cw_buf_t *out,
                        const char *name,
                        const char *help,
                        const cw_pipeline_hist_t *hists,
                        const char *const *names,
                        size_t n)
{
    int rc = 0;

    CW_TRY(cw_buf_appendf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name));
    for (size_t s = 0; s < n; s++) {
        const cw_pipeline_hist_t *h = &hists[s];
        uint64_t cum = 0;

        for (size_t i = 0; i < CW_STAGE_BUCKETS; i++) {
            cum += h->buckets[i];
            CW_TRY(cw_buf_appendf(out, "%s_bucket{stage=\"%s\",le=\"%s\"} %llu\n", name, names[s],
                                  stage_bound_labels[i], (unsigned long long)cum));
        }
        CW_TRY(cw_buf_appendf(out,
                              "%s_bucket{stage=\"%s\",le=\"+Inf\"} %llu\n"
                              "%s_sum{stage=\"%s\"} %.6f\n"
                              "%s_count{stage=\"%s\"} %llu\n",
                              name, names[s], (unsigned long long)h->count, name, names[s],
                              (double)h->sum_ns / 1e9, name, names[s],
                              (unsigned long long)h->count));
    }
out:
    return rc;
}

int cw_pipeline__stages_render(const cw_pipeline_t *pl, cw_buf_t *out)
{
    int rc = 0;

    CW_TRY(hists_render(out, "clearway_intake_stage_seconds",
                        "Time a signed envelope spent in each stage of intake, waiting included.",
                        pl->stages, stage_names, CW_STAGE_COUNT));
    CW_TRY(hists_render(out, "clearway_delivery_stage_seconds",
                        "Time a delivered attempt spent in each stage, waiting included.",
                        pl->dstages, dstage_names, CW_DSTAGE_COUNT));
out:
    return rc;
}
