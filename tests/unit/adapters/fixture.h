/*
 * Shared pieces of the adapter tests: fixtures from tests/data/adapters,
 * validation against schemas/consignment.xsd, and XPath probes of a
 * canonical document.
 */
#ifndef CW_TEST_ADAPTERS_FIXTURE_H
#define CW_TEST_ADAPTERS_FIXTURE_H

#include <stddef.h>

#include <libxml/tree.h>

#include "adapters.h"

/* Reads $CLEARWAY_SRC/tests/data/adapters/<name> (cw_free); fails the test if missing. */
char *fx_read(const char *name, size_t *len_out);
/* Full path of a file or folder under tests/data/adapters (static buffer). */
const char *fx_path(const char *name);
/* Compiles schemas/consignment.xsd once (group setup) and frees it (teardown). */
int fx_schema_setup(void **state);
int fx_schema_teardown(void **state);
/* 0 when doc is valid against the canonical schema; prints the first error. */
int fx_validate(xmlDoc *doc);
/* string(expr) on doc, with prefix c bound to the canonical namespace (cw_free). */
char *fx_xpath(xmlDoc *doc, const char *expr);
/* Asserts that string(expr) equals want. */
#define FX_EQ(doc, expr, want)                                              \
    do {                                                                    \
        char *got_ = fx_xpath((doc), (expr));                               \
        if (strcmp(got_, (want)) != 0) {                                    \
            print_error("%s: got '%s', want '%s'\n", (expr), got_, (want)); \
        }                                                                   \
        assert_string_equal(got_, (want));                                  \
        cw_free(got_);                                                      \
    } while (0)
/* A new adapter of kind name with default limits (and the catalogue, or NULL). */
cw_adapter_t *fx_adapter(const char *name, const char *catalog);

#endif
