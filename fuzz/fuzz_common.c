#include "fuzz_common.h"

#include <stdio.h>
#include <stdlib.h>

void cw_fuzz_sec_init(const char *target, cw_conf_limits_t *limits)
{
    cw_error_t err;

    cw_error_clear(&err);
    if (cw_sec_lib_init(&err) < 0) {
        fprintf(stderr, "%s: cw_sec_lib_init: %s\n", target, err.msg);
        exit(1);
    }
    cw_config_limits_default(limits);
}
