/*
 * pipeline internals shared by pool.c, trust.c, intake.c and delivery.c.
 */
#ifndef CW_PIPELINE_INTERNAL_H
#define CW_PIPELINE_INTERNAL_H

#include "pipeline.h"

struct cw_pipeline {
    uv_loop_t *loop;
    size_t in_flight;                /* submitted, done callback not yet run */
    cw_sec_keys_t *keys;             /* trust snapshot for new messages (referenced) */
    const cw_sec_schemas_t *schemas; /* compiled schemas (borrowed) */
    cw_store_t *store;               /* message store (borrowed); NULL: not persisted */
    cw_egress_t *egress;             /* delivery scheduler (borrowed) */
    cw_http_client_t *client;        /* outbound HTTP (borrowed) */
    cw_config_t *cfg;                /* snapshot for deliveries (referenced) */
};

#endif /* CW_PIPELINE_INTERNAL_H */
