/*
 * checks/tax.c: tax collection at the point of sale.
 *   TAX-001  EU IOSS: the number is malformed (IM + 10 digits, digits 3-5
 *            the ISO 3166 numeric code of a member state), an intermediary
 *            number (IN...) is used as an IOSS number, or IOSS is used
 *            above the EUR 150 ceiling: red.
 *   TAX-002  within the vendor-collection regime (UK VAT <= GBP 135, AU
 *            ABN/ARN <= AUD 1000, EU IOSS <= EUR 150, CN platform) the
 *            collector's id is missing, of a scheme the profile does not
 *            accept, malformed, or not one of the seller's or platform's
 *            registrations: tax falls back to collection at the border:
 *            yellow.
 */
#include <string.h>

#include "checks.h"
#include "internal.h"

/* ISO 3166-1 numeric codes of the EU member states (IOSS digits 3-5). */
static int ioss_member_state(const char *digits3)
{
    static const char *const codes[] = { "040", "056", "100", "191", "196", "203", "208",
                                         "233", "246", "250", "276", "300", "348", "372",
                                         "380", "428", "440", "442", "470", "528", "616",
                                         "620", "642", "703", "705", "724", "752" };

    for (size_t i = 0; i < CW_ARRAY_SIZE(codes); i++) {
        if (strncmp(digits3, codes[i], 3) == 0) {
            return 1;
        }
    }
    return 0;
}

static void tax001(cw_checks_run_t *run)
{
    const cw_checks_registration_t *reg = &run->c->tax_registration;
    const cw_checks_profile_t *p = run->profile;
    const char *f = "TaxCollected/Registration";
    char v[48], m[48];

    if ((p->schemes & CW_CHECKS_SCHEME_IOSS) == 0 || strcmp(reg->scheme, "IOSS") != 0) {
        return;
    }
    run->ioss_bad = 1;
    if (strncmp(reg->id, "IN", 2) == 0) {
        cw_checks__finding(run, "TAX-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, f, NULL,
                           "%s \"%s\" is an intermediary number, not an IOSS number", f, reg->id);
    } else if (!cw_checks__registration_wellformed("IOSS", reg->id)) {
        cw_checks__finding(run, "TAX-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, f, NULL,
                           "%s \"%s\" is not IM followed by 10 digits", f, reg->id);
    } else if (!ioss_member_state(reg->id + 2)) {
        cw_checks__finding(run, "TAX-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, f, NULL,
                           "%s \"%s\": digits 3-5 are not a member-state code", f, reg->id);
    } else if (p->has_collector_max && run->out->revenue.intrinsic_minor > p->collector_max_minor) {
        cw_checks__money_str(v, sizeof(v), run->out->revenue.intrinsic_minor, p);
        cw_checks__money_str(m, sizeof(m), p->collector_max_minor, p);
        cw_checks__finding(run, "TAX-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, f, NULL,
                           "IOSS used for an intrinsic value of %s, above %s", v, m);
    } else {
        run->ioss_bad = 0;
    }
}

static void tax002(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_registration_t *reg = &c->tax_registration;
    const cw_checks_profile_t *p = run->profile;
    const cw_checks_revenue_t *rv = &run->out->revenue;
    const char *f = "TaxCollected/Registration";
    const char *who = cw_checks_collection_name(p->fallback);

    if (p->schemes == 0 || run->ioss_bad || run->collector_ok || rv->tax_minor == 0 || run->excluded
        || (c->content != CW_CHECKS_CONTENT_SALE && c->content != CW_CHECKS_CONTENT_UNKNOWN)
        || (p->has_collector_max && rv->intrinsic_minor > p->collector_max_minor)) {
        return;
    }
    if (reg->id[0] == '\0') {
        cw_checks__finding(run, "TAX-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, f, NULL,
                           "no vendor-collection id: tax falls back to collection by the %s", who);
    } else if (!cw_checks__registration_wellformed(reg->scheme, reg->id)) {
        cw_checks__finding(run, "TAX-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, f, NULL,
                           "%s \"%s\" is not a valid %s number (or not accepted by %s): "
                           "collection by the %s",
                           f, reg->id, reg->scheme, p->id, who);
    } else {
        cw_checks__finding(run, "TAX-002", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, f, NULL,
                           "%s %s is not a registration of the seller or platform: "
                           "collection by the %s",
                           reg->scheme, reg->id, who);
    }
}

int cw_checks__tax(cw_checks_run_t *run)
{
    tax001(run);
    tax002(run);
    return 0;
}
