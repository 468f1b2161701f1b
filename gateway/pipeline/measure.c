/*
 * Measurement: the WCO e-commerce strand that turns every assessment into
 * figures. Counters live on the loop thread and feed /metrics; the
 * persistent figures for /v1/stats are the store's ledger.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static const char *const dim_metric[] = {
    [CW_DIM_DESTINATION] = "clearway_assessments_total",
    [CW_DIM_LANE] = "clearway_assessments_by_lane_total",
    [CW_DIM_CODE] = "clearway_findings_total",
    [CW_DIM_SENDER] = "clearway_assessments_by_sender_total",
    [CW_DIM_COLLECTION] = "clearway_assessments_by_collection_total",
    [CW_DIM_DECLARED] = "clearway_declared_value_minor_total",
    [CW_DIM_DUTY] = "clearway_duty_minor_total",
    [CW_DIM_TAX] = "clearway_tax_minor_total",
    [CW_DIM_DUE] = "clearway_due_at_border_minor_total",
};

static const char *const dim_label[] = {
    [CW_DIM_DESTINATION] = "destination",
    [CW_DIM_LANE] = "lane",
    [CW_DIM_CODE] = "code",
    [CW_DIM_SENDER] = "sender",
    [CW_DIM_COLLECTION] = "collection",
    [CW_DIM_DECLARED] = "destination",
    [CW_DIM_DUTY] = "destination",
    [CW_DIM_TAX] = "destination",
    [CW_DIM_DUE] = "destination",
};

static const char *const dim_help[] = {
    [CW_DIM_DESTINATION] = "Consignments assessed, by destination country.",
    [CW_DIM_LANE] = "Consignments assessed, by lane.",
    [CW_DIM_CODE] = "Findings, by check code.",
    [CW_DIM_SENDER] = "Consignments assessed, by sending party.",
    [CW_DIM_COLLECTION] = "Consignments assessed, by tax collection model.",
    [CW_DIM_DECLARED] = "Intrinsic value declared, in minor units of the destination currency.",
    [CW_DIM_DUTY] = "Duty computed, in minor units of the destination currency.",
    [CW_DIM_TAX] = "VAT/GST computed, in minor units of the destination currency.",
    [CW_DIM_DUE] = "Amounts payable at the border, in minor units of the destination currency.",
};

static void add(cw_pipeline_t *pl,
                cw_pipeline_dim_e dim,
                const char *value,
                size_t value_len,
                const char *currency,
                int64_t n)
{
    size_t i;
    cw_pipeline_counter_t *c;

    for (i = 0; i < pl->counter_count; i++) {
        c = &pl->counters[i];
        if (c->dim == dim && strlen(c->value) == value_len
            && memcmp(c->value, value, value_len) == 0 && strcmp(c->currency, currency) == 0) {
            c->n += n;
            return;
        }
    }
    if (pl->counter_count == CW_PIPELINE_COUNTERS_MAX || value_len >= sizeof(c->value)) {
        pl->counters_dropped++;
        return;
    }
    c = &pl->counters[pl->counter_count++];
    c->dim = dim;
    memcpy(c->value, value, value_len);
    c->value[value_len] = '\0';
    cw_strlcpy(c->currency, currency, sizeof(c->currency));
    c->n = n;
}

void cw_pipeline__measure(cw_pipeline_t *pl, const cw_checks_assessment_t *a, const char *codes)
{
    const char *dest = a->destination[0] != '\0' ? a->destination : "unknown";
    const char *lane = cw_checks_lane_name(a->lane);
    const char *coll = cw_checks_collection_name(a->revenue.collection);
    const char *cur = a->revenue.currency;
    const char *p;

    add(pl, CW_DIM_DESTINATION, dest, strlen(dest), "", 1);
    add(pl, CW_DIM_LANE, lane, strlen(lane), "", 1);
    add(pl, CW_DIM_SENDER, a->sender, strlen(a->sender), "", 1);
    add(pl, CW_DIM_COLLECTION, coll, strlen(coll), "", 1);
    for (p = codes; *p != '\0';) {
        size_t n;

        while (*p == ' ') {
            p++;
        }
        n = strcspn(p, " ");
        if (n == 0) {
            break;
        }
        add(pl, CW_DIM_CODE, p, n, "", 1);
        p += n;
    }
    if (a->profile_id[0] != '\0') {
        add(pl, CW_DIM_DECLARED, dest, strlen(dest), cur, a->revenue.intrinsic_minor);
        add(pl, CW_DIM_DUTY, dest, strlen(dest), cur, a->revenue.duty_minor);
        add(pl, CW_DIM_TAX, dest, strlen(dest), cur, a->revenue.tax_minor);
        add(pl, CW_DIM_DUE, dest, strlen(dest), cur, a->revenue.due_at_border_minor);
    }
}

int cw_pipeline_metrics_render(const cw_pipeline_t *pl, cw_buf_t *out)
{
    size_t d;
    size_t i;
    int rc = 0;

    CW_TRY(cw_pipeline__stages_render(pl, out));
    for (d = 0; d < CW_ARRAY_SIZE(dim_metric); d++) {
        int header = 0;

        for (i = 0; i < pl->counter_count; i++) {
            const cw_pipeline_counter_t *c = &pl->counters[i];

            if ((size_t)c->dim != d) {
                continue;
            }
            if (!header) {
                CW_TRY(cw_buf_appendf(out, "# HELP %s %s\n# TYPE %s counter\n", dim_metric[d],
                                      dim_help[d], dim_metric[d]));
                header = 1;
            }
            CW_TRY(cw_buf_appendf(out, "%s{%s=\"", dim_metric[d], dim_label[d]));
            CW_TRY(cw_buf_append_json_str(out, c->value, strlen(c->value)));
            if (c->currency[0] != '\0') {
                CW_TRY(cw_buf_appendf(out, "\",currency=\"%s", c->currency));
            }
            CW_TRY(cw_buf_appendf(out, "\"} %lld\n", (long long)c->n));
        }
    }
out:
    return rc;
}

void cw_pipeline_rules_set(cw_pipeline_t *pl, cw_checks_rules_t *rules)
{
    cw_checks_rules_t *old = pl->rules;

    pl->rules = rules != NULL ? cw_checks_rules_ref(rules) : NULL;
    cw_checks_rules_unref(old);
}
