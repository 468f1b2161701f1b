/*
 * Shared fixtures of the checks unit tests: the real rules/ snapshot and a
 * clean baseline consignment per destination that every profile assesses
 * green (US from 2025-08-29: yellow, no low-value regime).
 */
#ifndef CW_TEST_CHECKS_SUPPORT_H
#define CW_TEST_CHECKS_SUPPORT_H

#include "checks.h"

/* Loads $CLEARWAY_SRC/rules (fails the test when it does not load). */
cw_checks_rules_t *ct_rules(void);
/* $CLEARWAY_SRC joined with rel into out. */
void ct_path(char *out, size_t size, const char *rel);

/*
 * Fills c with a clean sale to dest ("DE", "US", "GB", "AU", "CA", "CN"):
 * one item, Quantity 1, value `value` (a decimal string) in the
 * destination's currency, every mandatory field of every profile present,
 * a bound collector registration where the profile has collection at sale.
 * Release with cw_checks_consignment_fini.
 */
void ct_base(cw_checks_consignment_t *c, const char *dest, const char *value);
/* Sets item i's quantity, unit and line value (decimal strings) and keeps
 * GoodsValue and Payment/Amount consistent. */
void ct_item_value(cw_checks_consignment_t *c, size_t i, const char *qty, const char *unit);
/* Appends one more item copying item 0. */
void ct_item_add(cw_checks_consignment_t *c);
/* Recomputes GoodsValue and Payment/Amount from the lines. */
void ct_totals(cw_checks_consignment_t *c);
/* A context for reference date date ("YYYY-MM-DD") and sender. */
void ct_ctx(cw_checks_context_t *ctx, const char *date, const char *sender);
/* Minor units of a decimal string at exponent 2. */
int64_t ct_minor(const char *s);
/* The finding with code in a, or NULL. */
const cw_checks_finding_t *ct_find(const cw_checks_assessment_t *a, const char *code);

#endif
