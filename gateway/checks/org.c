/*
 * checks/org.c: origin (ORG-001, yellow).
 *   An item has no origin (soft), or its origin is on the profile's
 *   special-measures list (hard: sanctions, anti-dumping, import bans).
 */
#include <stdio.h>

#include "checks.h"
#include "internal.h"

int cw_checks__org(cw_checks_run_t *run)
{
    char field[48];

    for (size_t i = 0; i < run->c->items_len; i++) {
        const cw_checks_item_t *it = &run->c->items[i];
        (void)snprintf(field, sizeof(field), "Item[%d]/Origin", it->line);
        if (it->origin[0] == '\0') {
            cw_checks__finding(run, "ORG-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_SOFT, field, NULL,
                               "%s is missing", field);
        } else if (cw_checks__codes2_has(&run->profile->special_measures, it->origin)) {
            cw_checks__finding(run, "ORG-001", CW_CHECKS_LANE_YELLOW, CW_CHECKS_HARD, field, NULL,
                               "%s %s is on the special-measures list of %s", field, it->origin,
                               run->profile->id);
        }
    }
    return 0;
}
