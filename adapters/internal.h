/*
 * adapters: definitions shared by the files of the module only. Nothing
 * outside adapters/ (except its unit tests) includes this header.
 */
#ifndef CW_ADAPTERS_INTERNAL_H
#define CW_ADAPTERS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "adapters.h"

#define CW_ADAPTERS_MOD "adapters"

/* Compiled-in default folder of the stylesheets (set by CMake). */
#ifndef CW_ADAPTERS_XSL_DIR
#define CW_ADAPTERS_XSL_DIR "adapters/xsl"
#endif

/* An instance: immutable after cw_adapter_new. */
struct cw_adapter {
    const struct cw_adapter_ops *ops;
    char *partner_id;     /* owned; NULL when not configured */
    char *catalog_path;   /* owned; NULL when not configured */
    char *xslt_dir;       /* owned; never NULL after new */
    char *xslt_in;        /* owned; "xslt" kind only */
    char *xslt_out;       /* owned; "xslt" kind only */
    char *transport_mode; /* owned; NULL when not configured */
    cw_adapter_limits_t limits;
    void *state; /* the kind's own, built by ops->init */
};

/* ==== Kinds (registry.c lists them) ==== */

extern const struct cw_adapter_ops cw_adapters__csv_manifest_ops;
extern const struct cw_adapter_ops cw_adapters__shopify_order_ops;
extern const struct cw_adapter_ops cw_adapters__ubl_order_ops;
extern const struct cw_adapter_ops cw_adapters__ubl_waybill_ops;
extern const struct cw_adapter_ops cw_adapters__ceb311_ops;
extern const struct cw_adapter_ops cw_adapters__ceb411_ops;
extern const struct cw_adapter_ops cw_adapters__ceb511_ops;
extern const struct cw_adapter_ops cw_adapters__ceb621_ops;
extern const struct cw_adapter_ops cw_adapters__xslt_ops;

/* ==== Results (adapter.c) ==== */

/* Appends doc (ownership passes to r, even on failure). 0 or CW_ENOMEM. */
CW_MUST_CHECK int
cw_adapters__result_add_doc(cw_adapter_result_t *r, xmlDoc *doc, size_t item, size_t line);
/* Records a per-item error (beyond r->errors_max only counted). 0 or CW_ENOMEM. */
CW_MUST_CHECK int cw_adapters__result_add_error(
    cw_adapter_result_t *r, size_t item, size_t line, const char *field, const char *fmt, ...)
    CW_PRINTF(5, 6);
/* Frees every document and error and re-initialises r (keeps errors_max). */
void cw_adapters__result_clear(cw_adapter_result_t *r);

/* ==== Canonical document helpers (adapter.c) ==== */

/* A new document with an empty {CW_ADAPTER_CANONICAL_NS}Consignment root. */
CW_MUST_CHECK int cw_adapters__doc_new(xmlDoc **out, xmlNode **root_out);
/* Appends an empty child element in the parent's namespace; NULL on OOM. */
xmlNode *cw_adapters__el(xmlNode *parent, const char *name);
/*
 * Appends <name>value</name> (escaped) when value is non-NULL and not only
 * white space, trimmed. Returns 0 or CW_ENOMEM; *out (may be NULL) gets the
 * element or NULL when skipped.
 */
CW_MUST_CHECK int
cw_adapters__text(xmlNode *parent, const char *name, const char *value, xmlNode **out);

/*
 * Parses a decimal string ("12.50", " 3 ") into units of 1e-4. At most
 * frac_max (<= 4) fraction digits; a sign only when allow_neg. Returns 0
 * or CW_EPARSE.
 */
CW_MUST_CHECK int
cw_adapters__decimal_parse(const char *s, int frac_max, int allow_neg, int64_t *out);
/* Writes v (units of 1e-4) with the fewest fraction digits (at least min_frac). */
void cw_adapters__decimal_format(char *out, size_t size, int64_t v, int min_frac);
/* Copies an HS code keeping its digits only ("8517.62" -> "851762"). */
void cw_adapters__hs_normalize(char *out, size_t size, const char *in);
/* Copies a two-letter country code upper-cased; "" when in is not one. */
void cw_adapters__country_normalize(char *out, size_t size, const char *in);
/*
 * 1 when s is UTF-8 made only of XML 1.0 characters (no C0 control but tab,
 * LF and CR, no U+FFFE or U+FFFF), so that a canonical document holding it
 * serialises to well-formed XML; else 0.
 */
int cw_adapters__xml_text_ok(const char *s);
/* Cuts an incomplete UTF-8 sequence off the end of s (left by truncation). */
void cw_adapters__utf8_trim(char *s);

/* The consignment schema's TransportMode values (adapter.c). */
#define CW_ADAPTERS_TRANSPORT_MODES 5
extern const char *const cw_adapters__transport_modes[CW_ADAPTERS_TRANSPORT_MODES];

#endif /* CW_ADAPTERS_INTERNAL_H */
