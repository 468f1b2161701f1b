/*
 * adapters: translators between what a partner speaks and the canonical
 * consignment (urn:clearway:consignment:1, schemas/consignment.xsd).
 *
 *   registry.c      the table of adapter kinds, looked up by name
 *   adapter.c       instances, results, shared canonical-document helpers
 *   csv_manifest.c  carrier CSV manifest (libcsv)          "csv-manifest"
 *   json_shopify.c  platform order JSON (jansson)          "shopify-order"
 *   xslt.c          declarative XSLT adapters (libxslt)    "ubl-order", "ubl-waybill",
 *                   "ceb311", "ceb411", "ceb511", "ceb621", and "xslt" (any stylesheet)
 *
 * An adapter kind is one ops table (STYLE.md rule 4). An instance
 * (cw_adapter_t) binds a kind to its configuration: the partner it serves,
 * a product catalogue, the folder of its stylesheets and its limits. An
 * instance is immutable after cw_adapter_new: translate_in/translate_out
 * may run concurrently on any number of threads, and never call back.
 *
 * libxml2 must be initialised first (cw_sec_lib_init, or xmlInitParser);
 * libxslt is initialised on first use. The module sets libxslt's
 * process-wide generic error handler to the debug log (xslt.c).
 *
 * Adapters depend only on util, msg and sec (STYLE.md rule 3). Untrusted
 * XML is parsed by cw_sec_xml_parse; JSON by jansson and CSV by libcsv,
 * both behind the input size limit.
 *
 * Signing is not done here: the CEB621 an adapter produces is unsigned,
 * and the caller signs it the way the China customs ecosystem verifies
 * (enveloped XML-DSig, RSA-SHA1 when the partner profile allows it) with
 * the node key, because sec.h's cw_sec_doc_sign signs only with SHA-256
 * and exclusive C14N. See docs/adapters.md, "CEB621 out".
 */
#ifndef CW_ADAPTERS_H
#define CW_ADAPTERS_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "util.h"

/* Namespace of the canonical document every adapter produces or reads. */
#define CW_ADAPTER_CANONICAL_NS "urn:clearway:consignment:1"

/* ==== Limits ==== */

/*
 * Input bytes. A 10,000-parcel manifest with 3 items a row is about 4 MiB;
 * equal to the default request body limit (config/limits.h).
 */
#define CW_ADAPTER_INPUT_BYTES_DEFAULT (8u * 1024u * 1024u)
/* Documents (rows, orders) per input: one manifest of a day's parcels. */
#define CW_ADAPTER_ITEMS_DEFAULT 10000u
/* Per-item errors kept in a result; more are counted, not stored. */
#define CW_ADAPTER_ERRORS_DEFAULT 1000u
/* Serialised output of translate_out (a CEB621 of 100 inventories is
 * well under 1 MiB). */
#define CW_ADAPTER_OUTPUT_BYTES_DEFAULT (4u * 1024u * 1024u)
/* XPath operations in one XSLT run (libxml2's opLimit): about 0.5 s of CPU.
 * Our stylesheets need a few hundred per consignment. */
#define CW_ADAPTER_XSLT_STEPS_DEFAULT 10000000u
/* Template recursion and live variables (libxslt's 3000 and 15000 are
 * for general use; our stylesheets recurse less than 10 deep). */
#define CW_ADAPTER_XSLT_DEPTH_DEFAULT 200u
#define CW_ADAPTER_XSLT_VARS_DEFAULT  5000u
/* Nodes in the tree an XSLT run produces (bounds its memory). */
#define CW_ADAPTER_XSLT_OUTPUT_NODES_DEFAULT 2000000u

typedef struct cw_adapter_limits {
    size_t input_bytes_max;    /* larger input: CW_E2BIG, nothing parsed */
    size_t items_max;          /* more documents in one input: CW_E2BIG */
    size_t errors_max;         /* per-item errors stored in a result */
    size_t output_bytes_max;   /* translate_out result; larger: CW_E2BIG */
    uint32_t xslt_steps_max;   /* XPath operations per XSLT run; over: CW_ETIMEDOUT */
    uint32_t xslt_depth_max;   /* template recursion depth */
    uint32_t xslt_vars_max;    /* live variables */
    size_t xslt_out_nodes_max; /* nodes in an XSLT result tree; over: CW_E2BIG */
    uint32_t xml_depth_max;    /* input element nesting (cw_sec_xml_parse) */
    uint32_t xml_nodes_max;    /* input nodes (cw_sec_xml_parse) */
} cw_adapter_limits_t;

#define CW_ADAPTER_LIMITS_INIT                                                               \
    {                                                                                        \
        CW_ADAPTER_INPUT_BYTES_DEFAULT, CW_ADAPTER_ITEMS_DEFAULT, CW_ADAPTER_ERRORS_DEFAULT, \
            CW_ADAPTER_OUTPUT_BYTES_DEFAULT, CW_ADAPTER_XSLT_STEPS_DEFAULT,                  \
            CW_ADAPTER_XSLT_DEPTH_DEFAULT, CW_ADAPTER_XSLT_VARS_DEFAULT,                     \
            CW_ADAPTER_XSLT_OUTPUT_NODES_DEFAULT, 64u, 2000000u                              \
    }

/* ==== Configuration ==== */

/*
 * What an instance is built from. Strings are borrowed during
 * cw_adapter_new only (the instance keeps copies). NULL means "not set".
 */
typedef struct cw_adapter_conf {
    const char *name;         /* registry name: "csv-manifest", "ceb621", ... */
    const char *partner_id;   /* the partner this instance serves (party id) */
    const char *catalog_path; /* shopify-order: product catalogue (JSON, docs/adapters.md) */
    const char *xslt_dir;     /* folder of the stylesheets; NULL: CW_ADAPTERS_XSL_DIR */
    const char *xslt_in;      /* "xslt" kind: stylesheet file (in xslt_dir) for input */
    const char *xslt_out;     /* "xslt" kind: stylesheet file (in xslt_dir) for output */
    /* TransportMode ("air", "road", "rail", "sea", "post") given to every
     * consignment translate_in makes that names none; NULL: none. */
    const char *transport_mode;
    cw_adapter_limits_t limits;
} cw_adapter_conf_t;

#define CW_ADAPTER_CONF_INIT                                             \
    {                                                                    \
        NULL, NULL, NULL, NULL, NULL, NULL, NULL, CW_ADAPTER_LIMITS_INIT \
    }

/* ==== Results ==== */

/* One input item (row, order, message) that could not be translated. */
typedef struct cw_adapter_item_error {
    size_t item;    /* 0-based index of the item in the input */
    size_t line;    /* 1-based line where the item starts; 0: unknown */
    char field[96]; /* CSV column name or JSON path ("$.order.line_items[1].quantity");
                       "" when the whole item is wrong */
    char msg[160];  /* one line */
} cw_adapter_item_error_t;

/* One canonical document and where it came from. */
typedef struct cw_adapter_doc {
    xmlDoc *doc; /* owned by the result until cw_adapter_result_take */
    size_t item; /* 0-based index of the source item */
    size_t line; /* 1-based line where it starts; 0: unknown */
} cw_adapter_doc_t;

/*
 * Optional streaming: called synchronously, on the translating thread, for
 * each document as soon as it is made. The callback takes ownership of doc
 * (xmlFreeDoc) and returns 0, or a negative CW_E* to stop the translation
 * (translate_in then returns that code). arg is cw_adapter_result_t.arg.
 */
typedef int (*cw_adapter_doc_cb)(xmlDoc *doc, size_t item, size_t line, void *arg);

/*
 * What translate_in produced: zero or more documents (in input order) and
 * zero or more per-item errors. Caller-provided storage: cw_adapter_result_init
 * before use, cw_adapter_result_fini after (frees every document not taken).
 *
 * With on_doc set, documents are handed to it instead of being stored
 * (docs stays empty): a 10,000-parcel manifest then never holds more than
 * one canonical document at a time (bench/README.md). If translate_in then
 * fails as a whole, documents already handed over belong to a failed input
 * and the caller discards them.
 */
typedef struct cw_adapter_result {
    cw_adapter_doc_t *docs;
    size_t doc_count;
    size_t doc_cap;
    cw_adapter_item_error_t *errors;
    size_t error_count;
    size_t error_cap;
    size_t errors_dropped; /* errors beyond limits.errors_max, counted only */
    size_t item_count;     /* items seen in the input (docs + failed items) */
    size_t errors_max;     /* set by translate_in from the instance limits */
    const char
        *transport_mode;      /* set by translate_in: the instance's default (borrowed), or NULL */
    cw_adapter_doc_cb on_doc; /* NULL: store documents in docs */
    void *arg;                /* for on_doc */
} cw_adapter_result_t;

void cw_adapter_result_init(cw_adapter_result_t *r);
void cw_adapter_result_fini(cw_adapter_result_t *r);
/*
 * Takes document i out of the result: the caller now owns it (xmlFreeDoc)
 * and the slot becomes NULL. Returns NULL if i is out of range or taken.
 */
xmlDoc *cw_adapter_result_take(cw_adapter_result_t *r, size_t i);

/* ==== Adapter kinds (ops table) and instances ==== */

typedef struct cw_adapter cw_adapter_t;

/* The adapter interface (STYLE.md rule 4). Every entry but name may be NULL. */
struct cw_adapter_ops {
    const char *name;          /* registry name */
    const char *media_type_in; /* what translate_in expects ("text/csv"); advisory */
    /* Builds the per-instance state (adapter->state); startup, may do file I/O. */
    int (*init)(cw_adapter_t *adapter, cw_error_t *err);
    /* native bytes -> canonical documents; see cw_adapter_translate_in. */
    int (*translate_in)(const cw_adapter_t *adapter,
                        const char *bytes,
                        size_t len,
                        const char *media_type,
                        cw_adapter_result_t *out,
                        cw_error_t *err);
    /* canonical -> native bytes; see cw_adapter_translate_out. */
    int (*translate_out)(const cw_adapter_t *adapter,
                         const xmlDoc *canonical,
                         char **out,
                         size_t *len_out,
                         const char **media_type_out,
                         cw_error_t *err);
    /* Releases adapter->state. */
    void (*destroy)(cw_adapter_t *adapter);
};

/* Number of registered kinds; with _at, lists them (for `clearway adapter list`). */
size_t cw_adapters_registry_count(void);
/* The i-th kind (static, never freed), or NULL when i >= count. */
const struct cw_adapter_ops *cw_adapters_registry_at(size_t i);
/* The kind called name (static), or NULL if there is none. Thread: any. */
const struct cw_adapter_ops *cw_adapters_registry_find(const char *name);
/* Which ways the kind called name translates: in_flag if it reads a
 * partner's input, out_flag if it writes a destination's format, both or
 * neither; CW_ENOENT when there is no such kind. The flags are the
 * caller's (config's CW_CONFIG_ADAPTER_IN/OUT). Thread: any. */
int cw_adapters_registry_sides(const char *name, int in_flag, int out_flag);

/*
 * Builds an instance of conf->name. Loads and compiles what it needs once
 * (catalogue file, stylesheets), so do this at startup or reload, never per
 * request. *out is owned by the caller (cw_adapter_free). Returns 0,
 * CW_ENOENT (unknown name), CW_ECONFIG ("path: reason" in err), CW_EIO or
 * CW_ENOMEM. Thread: any, blocking file I/O.
 */
CW_MUST_CHECK int
cw_adapter_new(cw_adapter_t **out, const cw_adapter_conf_t *conf, cw_error_t *err);
/* Frees an instance; NULL is allowed. No translation may be running on it. */
void cw_adapter_free(cw_adapter_t *adapter);

/* The kind's name (borrowed, static). */
const char *cw_adapter_name(const cw_adapter_t *adapter);
/*
 * 1 when the kind translates in (native -> canonical), else 0. For the
 * generic "xslt" kind both are 1 and a side without a configured
 * stylesheet returns CW_EINVAL when used.
 */
int cw_adapter_can_in(const cw_adapter_t *adapter);
/* 1 when the kind translates out (canonical -> native), else 0. */
int cw_adapter_can_out(const cw_adapter_t *adapter);

/*
 * Translates one native input (bytes, len; media_type may be NULL) into
 * zero or more canonical consignments appended to out (which the caller
 * has initialised). Items that cannot be translated (a ragged row, a bad
 * number, a JSON value of the wrong type) become per-item errors in out and
 * the other items still translate; missing data become absent elements
 * (the checks engine reports DAT-001), never an error.
 * Returns 0 when the input as a whole was readable (even with item errors);
 * otherwise a negative code with a one-line message in err, and out holds
 * no documents: CW_E2BIG (input bytes or items over the limits), CW_EPARSE
 * (not JSON/CSV/XML, or not the expected format or namespace), CW_EPERM
 * (a stylesheet tried a forbidden file or network access), CW_ETIMEDOUT
 * (XSLT step budget), CW_EPROTO (an XSLT kind's stylesheet failed, its
 * recursion limit included, or produced something other than
 * consignments), CW_EINVAL (kind has no input side), CW_ENOMEM.
 * Thread: any, concurrently on one instance. bytes is borrowed.
 */
CW_MUST_CHECK int cw_adapter_translate_in(const cw_adapter_t *adapter,
                                          const char *bytes,
                                          size_t len,
                                          const char *media_type,
                                          cw_adapter_result_t *out,
                                          cw_error_t *err);

/*
 * Translates one canonical consignment into the kind's destination format.
 * *out (NUL-terminated, *len_out bytes) is owned by the caller (cw_free);
 * *media_type_out is static. For "ceb621" the result is an unsigned
 * CEB621Message: the caller signs it (see the top of this header).
 * Returns 0, CW_EINVAL (kind has no output side, or canonical is not a
 * consignment), CW_E2BIG (output over limits.output_bytes_max),
 * CW_ETIMEDOUT, CW_EPROTO (the stylesheet failed), CW_ENOMEM.
 * Thread: any. canonical is borrowed and not modified.
 */
CW_MUST_CHECK int cw_adapter_translate_out(const cw_adapter_t *adapter,
                                           const xmlDoc *canonical,
                                           char **out,
                                           size_t *len_out,
                                           const char **media_type_out,
                                           cw_error_t *err);

#endif /* CW_ADAPTERS_H */
