/*
 * POST /v1/messages: the signed-envelope intake.
 */
#include "internal.h"

void cw_api__messages_submit(cw_api_t *api, cw_http_request_t *req)
{
    (void)api;
    (void)cw_http_respond_problem(req, CW_PROBLEM_NOT_IMPLEMENTED,
                                  "message intake is wired in with the signed-envelope module");
}
