/*
 * checks/syn.c: SYN-001, the canonical document violates
 * schemas/consignment.xsd: red. The caller validates (with
 * cw_checks_consignment_validate) and passes the outcome in the context;
 * the document is still read as far as it goes, so the other checks can
 * say more than "invalid".
 */
#include "checks.h"
#include "internal.h"

int cw_checks__syn(cw_checks_run_t *run)
{
    if (run->ctx->schema_failed) {
        cw_checks__finding(run, "SYN-001", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, "Consignment",
                           "schemas/consignment.xsd", "the consignment violates its schema: %s",
                           run->ctx->schema_error != NULL ? run->ctx->schema_error : "(no detail)");
    }
    return 0;
}
