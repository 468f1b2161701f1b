/*
 * checks/tru.c: trusted operators (TRU-001, green).
 *   The sending party is on rules/trusted.xml (an AEO with a clean history,
 *   valid on the reference date): a green finding, and registry.c skips
 *   the soft yellow findings. Red findings always apply.
 */
#include <stdio.h>

#include "checks.h"
#include "internal.h"

int cw_checks__tru(cw_checks_run_t *run)
{
    const cw_checks_trusted_t *t;
    char src[160];

    t = cw_checks__trusted_find(run->rules, run->out->sender, run->ctx->reference_date);
    if (t == NULL) {
        return 0;
    }
    cw_checks__prov_format(src, sizeof(src), &run->rules->trusted_prov);
    cw_checks__finding(run, "TRU-001", CW_CHECKS_LANE_GREEN, CW_CHECKS_HARD, "Sender", src,
                       "sender %s is a trusted operator (AEO %s): soft checks skipped", t->party,
                       t->aeo);
    return 0;
}
