/*
 * config internals shared by config.c (reading, parsing, schema validation)
 * and directives.c (the directive table and the tree walk). Used only inside
 * gateway/config/ (STYLE.md rule 1).
 */
#ifndef CW_CONFIG_INTERNAL_H
#define CW_CONFIG_INTERNAL_H

#include <stddef.h>

#include <libxml/tree.h>

#include "config.h"

/* The namespace of every element of a configuration file. */
#define CW_CONFIG_NS "urn:clearway:config:1"

/*
 * The state of one load, on the loader's stack. Problems found by any stage
 * are counted here; the first CW_CONFIG_ERRORS_SHOWN_MAX are stored as lines.
 */
typedef struct cw_conf_load {
    const char *name;         /* file name used in messages (borrowed) */
    cw_config_errors_t *errs; /* where messages go (borrowed; NULL drops them) */
    size_t problem_count;     /* problems found by this load, stored or not */
    size_t shown_count;       /* problems stored in errs by this load */
    size_t first;             /* index in errs of this load's first line */
    int schema_ok;            /* the document passed XSD validation */
    int rc;                   /* CW_ENOMEM once a message could not be stored */
} cw_conf_load_t;

/*
 * Records one problem as "NAME:LINE: message" (or "NAME: message" when line
 * is 0). Never fails: running out of memory is remembered in ld->rc, which
 * the loader turns into CW_ENOMEM.
 */
void cw_config__problem(cw_conf_load_t *ld, long line, const char *fmt, ...) CW_PRINTF(3, 4);

/*
 * Applies the document under root (the <clearway> element) to cfg through
 * the directive table, then runs the checks that span several values
 * (unique listener names and addresses). Value problems are recorded in ld
 * whether or not the schema passed; structural ones, which the schema owns,
 * only when it passed (see the comment on structure_problem). Returns 0, or
 * CW_ENOMEM. cfg keeps whatever was applied; the caller frees it on failure.
 */
CW_MUST_CHECK int cw_config__walk(cw_conf_load_t *ld, cw_config_t *cfg, const xmlNode *root);

/*
 * Records in ld a problem for every partner adapter that sides does not
 * know or that cannot read, and every route adapter that it does not know
 * or that cannot write (cw_config_adapters_check).
 */
void cw_config__adapters_check(cw_conf_load_t *ld,
                               const cw_config_t *cfg,
                               cw_config_adapter_sides_cb sides,
                               void *arg);

#endif /* CW_CONFIG_INTERNAL_H */
