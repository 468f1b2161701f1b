/*
 * checks/prh.c: prohibited and restricted goods (rules/restricted.xml).
 *   PRH-001  prohibited for the transport mode or destination (e.g. loose
 *            lithium batteries, HS 8506/8507, in international mail): red.
 *   PRH-002  restricted: another agency must release it: yellow (hard).
 *   An entry matches an item when its HS prefix or one of its keyword
 *   phrases (whole words) matches, and its modes and destinations (when
 *   given) include the consignment's.
 */
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

static int matches(const cw_checks_restriction_t *x,
                   const cw_checks_consignment_t *c,
                   const cw_checks_item_t *it,
                   const char *norm)
{
    int hit = 0;

    if (x->modes != 0 && (x->modes & cw_checks__mode_bit(c->mode)) == 0) {
        return 0;
    }
    if (x->destinations.len > 0
        && !cw_checks__codes2_has(&x->destinations, c->destination_country)) {
        return 0;
    }
    for (size_t i = 0; i < x->hs_len && !hit; i++) {
        hit = it->hs_code[0] != '\0' && strncmp(it->hs_code, x->hs[i], strlen(x->hs[i])) == 0;
    }
    for (size_t i = 0; i < x->phrases_len && !hit; i++) {
        hit = cw_checks__phrase_in(norm, x->phrases[i]);
    }
    return hit;
}

int cw_checks__prh(cw_checks_run_t *run)
{
    const cw_checks_rules_t *r = run->rules;
    char norm[CW_CHECKS_LONG_SIZE], field[48], src[160];

    cw_checks__prov_format(src, sizeof(src), &r->restr_prov);
    for (size_t i = 0; i < run->c->items_len; i++) {
        const cw_checks_item_t *it = &run->c->items[i];
        cw_checks_normalise(norm, sizeof(norm), it->description);
        (void)snprintf(field, sizeof(field), "Item[%d]", it->line);
        for (size_t k = 0; k < r->restrictions_len; k++) {
            const cw_checks_restriction_t *x = &r->restrictions[k];
            if (!matches(x, run->c, it, norm)) {
                continue;
            }
            cw_checks__finding(run, x->prohibited ? "PRH-001" : "PRH-002",
                               x->prohibited ? CW_CHECKS_LANE_RED : CW_CHECKS_LANE_YELLOW,
                               CW_CHECKS_HARD, field, src, "%s (%s): %s", field, x->id, x->reason);
        }
    }
    return 0;
}
