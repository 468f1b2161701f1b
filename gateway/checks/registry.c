/*
 * checks/registry.c: the table of check families, cw_checks_run and the
 * lane aggregation rule of CHECKS.md: the lane is the worst lane of all
 * findings, except that a trusted operator (TRU-001) skips soft yellow
 * findings (data-quality checks); red always applies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

/* Every family in the order it runs. Order matters only for revenue, which
 * runs first; findings are sorted by code at the end. */
static const struct {
    const char *family;     /* code prefix */
    cw_checks_family_fn fn; /* the family */
} registry[] = {
    { "SYN", cw_checks__syn }, { "DUP", cw_checks__dup }, { "DAT", cw_checks__dat },
    { "DSC", cw_checks__dsc }, { "VAL", cw_checks__val }, { "THR", cw_checks__thr },
    { "SPL", cw_checks__spl }, { "LIM", cw_checks__lim }, { "TAX", cw_checks__tax },
    { "WGT", cw_checks__wgt }, { "ORG", cw_checks__org }, { "PRH", cw_checks__prh },
    { "GFT", cw_checks__gft }, { "PTY", cw_checks__pty }, { "TRU", cw_checks__tru },
};

const char *cw_checks_lane_name(cw_checks_lane_e lane)
{
    switch (lane) {
    case CW_CHECKS_LANE_GREEN:
        return "green";
    case CW_CHECKS_LANE_YELLOW:
        return "yellow";
    case CW_CHECKS_LANE_RED:
        return "red";
    }
    return "red";
}

const char *cw_checks_collection_name(cw_checks_collection_e model)
{
    static const char *const names[] = { "none", "vendor", "platform", "carrier", "consumer" };

    return (size_t)model < CW_ARRAY_SIZE(names) ? names[model] : "none";
}

/* ==== Findings ==== */

void cw_checks__prov_format(char *out, size_t size, const cw_checks_prov_t *prov)
{
    (void)snprintf(out, size, "%s@%s", prov->file, prov->version);
}

static void fields_add(char *fields, size_t size, const char *field)
{
    size_t n = strlen(fields), f;
    const char *p = fields;

    if (field == NULL || field[0] == '\0') {
        return;
    }
    f = strlen(field);
    while ((p = strstr(p, field)) != NULL) {
        if ((p == fields || p[-1] == ',') && (p[f] == '\0' || p[f] == ',')) {
            return; /* already listed */
        }
        p += f;
    }
    if (n + (n > 0) + f + 1 > size) {
        if (n + 4 < size && strcmp(fields + (n >= 3 ? n - 3 : 0), "...") != 0) {
            (void)cw_strlcpy(fields + n, n > 0 ? ",..." : "...", size - n);
        }
        return;
    }
    if (n > 0) {
        fields[n++] = ',';
    }
    memcpy(fields + n, field, f + 1);
}

void cw_checks__finding(cw_checks_run_t *run,
                        const char *code,
                        cw_checks_lane_e lane,
                        cw_checks_soft_e soft,
                        const char *field,
                        const char *source,
                        const char *fmt,
                        ...)
{
    cw_checks_assessment_t *a = run->out;
    cw_checks_finding_t *f = NULL;
    size_t i;
    va_list ap;

    for (i = 0; i < a->findings_len; i++) {
        if (strcmp(a->findings[i].code, code) == 0) {
            f = &a->findings[i];
            break;
        }
    }
    if (f == NULL) {
        if (CW_NEVER(a->findings_len >= CW_CHECKS_FINDINGS_MAX)) {
            return;
        }
        i = a->findings_len++;
        f = &a->findings[i];
        memset(f, 0, sizeof(*f));
        (void)cw_strlcpy(f->code, code, sizeof(f->code));
        f->lane = lane;
        run->soft[i] = soft == CW_CHECKS_SOFT;
        if (source != NULL) {
            (void)cw_strlcpy(f->source, source, sizeof(f->source));
        } else if (run->profile != NULL) {
            (void)snprintf(f->source, sizeof(f->source), "%s@%s", run->profile->id,
                           run->profile->prov.version);
        }
        va_start(ap, fmt);
        (void)vsnprintf(f->message, sizeof(f->message), fmt, ap);
        va_end(ap);
    } else {
        if (lane > f->lane) {
            f->lane = lane;
            va_start(ap, fmt);
            (void)vsnprintf(f->message, sizeof(f->message), fmt, ap);
            va_end(ap);
        }
        run->soft[i] = run->soft[i] && soft == CW_CHECKS_SOFT;
    }
    fields_add(f->fields, sizeof(f->fields), field);
}

/* ==== Small shared helpers ==== */

void cw_checks__money_str(char *out, size_t size, int64_t minor, const cw_checks_profile_t *p)
{
    char num[48];

    cw_checks_money_format(num, sizeof(num), minor, p->exponent);
    (void)snprintf(out, size, "%s %s", p->currency, num);
}

void cw_checks__chapter(char out[3], const char *hs)
{
    out[0] = '\0';
    if (strlen(hs) >= 2) {
        out[0] = hs[0];
        out[1] = hs[1];
        out[2] = '\0';
    }
}

int cw_checks__phrase_in(const char *text, const char *phrase)
{
    size_t n = strlen(phrase);
    const char *p = text;

    if (n == 0) {
        return 0;
    }
    while ((p = strstr(p, phrase)) != NULL) {
        if ((p == text || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' ')) {
            return 1;
        }
        p++;
    }
    return 0;
}

cw_checks_modes_t cw_checks__mode_bit(cw_checks_mode_e m)
{
    return 1u << (unsigned)m;
}

int cw_checks__registration_bound(const cw_checks_consignment_t *c,
                                  const cw_checks_registration_t *reg)
{
    const cw_checks_party_t *parties[] = { &c->seller, &c->platform };

    for (size_t k = 0; k < CW_ARRAY_SIZE(parties); k++) {
        for (size_t i = 0; i < parties[k]->regs_len; i++) {
            if (strcmp(parties[k]->regs[i].scheme, reg->scheme) == 0
                && strcmp(parties[k]->regs[i].id, reg->id) == 0) {
                return (int)k + 1;
            }
        }
    }
    return 0;
}

static int all_digits(const char *s, size_t n)
{
    if (strlen(s) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* ABN: subtract 1 from the first digit, weight, sum, divisible by 89. */
static int abn_ok(const char *s)
{
    static const int w[11] = { 10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19 };
    int sum = 0;

    if (!all_digits(s, 11)) {
        return 0;
    }
    for (int i = 0; i < 11; i++) {
        sum += ((s[i] - '0') - (i == 0)) * w[i];
    }
    return sum % 89 == 0;
}

int cw_checks__registration_wellformed(const char *scheme, const char *id)
{
    if (strcmp(scheme, "IOSS") == 0) {
        return strncmp(id, "IM", 2) == 0 && all_digits(id + 2, 10);
    }
    if (strcmp(scheme, "UKVAT") == 0) {
        return strncmp(id, "GB", 2) == 0 && (all_digits(id + 2, 9) || all_digits(id + 2, 12));
    }
    if (strcmp(scheme, "ABN") == 0) {
        return abn_ok(id);
    }
    if (strcmp(scheme, "ARN") == 0) {
        return all_digits(id, 12);
    }
    if (strcmp(scheme, "CNEBP") == 0) {
        return strlen(id) == 10;
    }
    return 0;
}

/* ==== Run ==== */

static int cmp_finding(const void *a, const void *b)
{
    return strcmp(((const cw_checks_finding_t *)a)->code, ((const cw_checks_finding_t *)b)->code);
}

/* Applies the TRU rule and computes the lane; sorts findings by code. */
static void aggregate(cw_checks_run_t *run)
{
    cw_checks_assessment_t *a = run->out;
    size_t kept = 0;

    a->lane = CW_CHECKS_LANE_GREEN;
    for (size_t i = 0; i < a->findings_len; i++) {
        const cw_checks_finding_t *f = &a->findings[i];
        if (a->trusted && f->lane == CW_CHECKS_LANE_YELLOW && run->soft[i]) {
            a->findings_skipped++;
            continue;
        }
        if (f->lane > a->lane) {
            a->lane = f->lane;
        }
        if (kept != i) {
            a->findings[kept] = *f;
        }
        kept++;
    }
    a->findings_len = kept;
    qsort(a->findings, a->findings_len, sizeof(a->findings[0]), cmp_finding);
}

static int facts_make(cw_checks_run_t *run)
{
    cw_checks_fact_t *f = &run->out->fact;
    const cw_checks_consignment_t *c = run->c;
    int rc = 0;

    (void)cw_strlcpy(f->consignment_id, c->consignment_id, sizeof(f->consignment_id));
    (void)cw_strlcpy(f->sender, run->out->sender, sizeof(f->sender));
    CW_TRY(cw_checks_buyer_key(f->buyer_key, &c->buyer));
    CW_TRY(cw_checks_seller_key(f->seller_key, &c->seller));
    CW_TRY(cw_checks_business_key(f->business_key, run->out->sender, c));
    CW_TRY(cw_checks_content_digest(f->content_digest, c));
    (void)cw_strlcpy(f->order_number, c->order_number, sizeof(f->order_number));
    (void)cw_strlcpy(f->transport_doc, c->transport_doc, sizeof(f->transport_doc));
    (void)cw_strlcpy(f->destination, c->destination_country, sizeof(f->destination));
    f->date = run->out->reference_date;
    f->amendment = c->amendment;
out:
    return rc;
}

/* Selects the profile; without one only SYN and DAT-002 can be said. */
static void profile_select(cw_checks_run_t *run)
{
    const cw_checks_context_t *ctx = run->ctx;
    const char *dest = run->c->destination_country;

    run->profile = ctx->profile_id != NULL && ctx->profile_id[0] != '\0'
                       ? cw_checks_rules_profile_get(run->rules, ctx->profile_id)
                       : cw_checks_rules_profile_find(run->rules, dest, ctx->reference_date);
    if (run->profile == NULL) {
        char date[16];
        cw_checks_date_format(date, sizeof(date), ctx->reference_date);
        cw_checks__finding(run, "DAT-002", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, "DestinationCountry",
                           "rules/profiles",
                           ctx->profile_id != NULL && ctx->profile_id[0] != '\0'
                               ? "no profile with id %s%s"
                               : "no profile for destination \"%s\" on %s",
                           ctx->profile_id != NULL && ctx->profile_id[0] != '\0' ? ctx->profile_id
                                                                                 : dest,
                           ctx->profile_id != NULL && ctx->profile_id[0] != '\0' ? "" : date);
        return;
    }
    (void)cw_strlcpy(run->out->profile_id, run->profile->id, sizeof(run->out->profile_id));
    (void)cw_strlcpy(run->out->profile_version, run->profile->prov.version,
                     sizeof(run->out->profile_version));
}

int cw_checks_run(cw_checks_assessment_t *out,
                  const cw_checks_rules_t *rules,
                  const cw_checks_consignment_t *c,
                  const cw_checks_context_t *ctx,
                  const cw_checks_history_t *history,
                  cw_error_t *err)
{
    static const cw_checks_history_t no_history = { 0 };
    cw_checks_run_t run;
    int rc = 0;

    /* First, on every path: callers allocate out without clearing it
     * (intake; checks.h says what is overwritten). Every field but the
     * findings, which are nearly all of its 32 KB: each is cleared when it
     * is added (cw_checks__finding), and none past findings_len is read. */
    memset(out, 0, offsetof(cw_checks_assessment_t, findings));
    memset(&out->findings_len, 0, sizeof(*out) - offsetof(cw_checks_assessment_t, findings_len));
    memset(&run, 0, sizeof(run));
    run.out = out;
    run.rules = rules;
    run.c = c;
    run.ctx = ctx;
    run.history = history != NULL ? history : &no_history;
    out->reference_date = ctx->reference_date;
    (void)cw_strlcpy(out->sender, ctx->sender != NULL ? ctx->sender : "", sizeof(out->sender));
    (void)cw_strlcpy(out->destination, c->destination_country, sizeof(out->destination));
    (void)cw_strlcpy(out->rules_version, rules->version, sizeof(out->rules_version));
    out->trusted = cw_checks__trusted_find(rules, out->sender, ctx->reference_date) != NULL;
    CW_TRY(facts_make(&run));
    CW_TRY(cw_checks__syn(&run));
    profile_select(&run);
    if (run.profile != NULL) {
        run.lines = cw_calloc(c->items_len > 0 ? c->items_len : 1, sizeof(*run.lines));
        CW_CHECK_ALLOC(run.lines);
        CW_TRY(cw_checks__revenue(&run));
        for (size_t i = 1; i < CW_ARRAY_SIZE(registry); i++) {
            CW_TRY(registry[i].fn(&run));
        }
    }
    aggregate(&run);
out:
    if (rc < 0) {
        (void)cw_error_set(err, rc, "checks", "checks could not run: %s", cw_strerror(rc));
    }
    cw_free(run.lines);
    return rc;
}
