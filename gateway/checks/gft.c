/*
 * checks/gft.c: gifts (GFT-001, yellow, soft).
 *   ContentType "gift" on a platform B2C sale (a platform, an order number
 *   or a payment is present), or a gift above the profile's allowance.
 */
#include "checks.h"
#include "internal.h"

int cw_checks__gft(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    const cw_checks_profile_t *p = run->profile;
    char v[48], a[48];

    if (c->content != CW_CHECKS_CONTENT_GIFT) {
        return 0;
    }
    if (c->platform.present || c->order_number[0] != '\0' || c->payment_reference[0] != '\0'
        || c->has_payment_amount) {
        cw_checks__finding(run, "GFT-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, "ContentType",
                           NULL, "ContentType gift on a platform sale (order or payment present)");
    }
    if (run->out->revenue.intrinsic_minor > p->gift_allowance_minor) {
        cw_checks__money_str(v, sizeof(v), run->out->revenue.intrinsic_minor, p);
        cw_checks__money_str(a, sizeof(a), p->gift_allowance_minor, p);
        cw_checks__finding(run, "GFT-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, "ContentType",
                           NULL, "gift of %s is above the gift allowance %s", v, a);
    }
    return 0;
}
