/*
 * What the fuzz targets share: the set-up of the sec library and the
 * default limits, failing loudly (a target that cannot start must not
 * look like one that found nothing).
 */
#ifndef CW_FUZZ_COMMON_H
#define CW_FUZZ_COMMON_H

#include "sec.h"

/* cw_sec_lib_init and limits at their defaults; exits 1 with a line naming
 * target on failure. */
void cw_fuzz_sec_init(const char *target, cw_conf_limits_t *limits);

#endif
