/*
 * checks: the facilitation core. Reads the canonical consignment
 * (urn:clearway:consignment:1, schemas/consignment.xsd) into a C model,
 * runs every check of CHECKS.md (except MAT-* and RET-*) against the
 * destination country's dated profile, and produces an assessment
 * (urn:clearway:assessment:1, schemas/assessment.xsd): a lane, findings,
 * revenue, the profile used and the facts to record for stateful checks.
 *
 *   registry.c     the table of checks, cw_checks_run, lane aggregation
 *   profile.c      loading rules/ (every file validated by its XSD) into an
 *                  immutable, refcounted snapshot; profile selection
 *   consignment.c  XML -> model; normalisation keys and digests
 *   money.c        decimal minor units, FX conversion, rounding
 *   assessment.c   assessment -> XML and text
 *   syn.c dat.c dsc.c val.c thr.c spl.c lim.c tax.c wgt.c org.c prh.c
 *   gft.c pty.c tru.c dup.c   one file per check family
 *
 * Purity: cw_checks_run is a pure function of (model, rules, context,
 * history): no clock, no I/O, no globals; the same input gives the same
 * assessment byte for byte. Stateful checks (DUP-002, SPL-001, THR-002,
 * LIM-001/002) read a cw_checks_history_t that the CALLER fills from its
 * store (cw_checks_history_query_make says what to fetch), and the
 * assessment carries the cw_checks_fact_t to record for this consignment.
 *
 * Money is never binary floating point: int64 minor units of the currency
 * (ISO 4217 exponent); FX rates are integers scaled by 10^6; every rounding
 * is HALF-EVEN (banker's rounding) to the minor unit of the target currency.
 *
 * Threads: a rules snapshot is immutable after load and may be shared by any
 * number of worker threads; _ref/_unref are atomic. Everything else works on
 * caller-owned storage and may run on any thread.
 *
 * Dependencies: util, config, sec (safe parse options and schemas), msg,
 * libxml2, OpenSSL (SHA-256 of keys).
 */
#ifndef CW_CHECKS_H
#define CW_CHECKS_H

#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>

#include "util.h"

#define CW_CHECKS_NS            "urn:clearway:consignment:1"
#define CW_CHECKS_ASSESSMENT_NS "urn:clearway:assessment:1"

/* Text sizes including the terminator; they match schemas/consignment.xsd. */
#define CW_CHECKS_ID_SIZE      65  /* Id: 64 characters */
#define CW_CHECKS_TEXT_SIZE    129 /* ShortText: 128 characters */
#define CW_CHECKS_LONG_SIZE    513 /* LongText: 512 characters */
#define CW_CHECKS_HEX_SIZE     65  /* a SHA-256 in lower-case hex */
#define CW_CHECKS_ITEMS_MAX    999 /* Item maxOccurs */
#define CW_CHECKS_REGS_MAX     4   /* Registration maxOccurs per party */
#define CW_CHECKS_FINDINGS_MAX 48  /* one finding per code; room to spare */
#define CW_CHECKS_BANDS_MAX    8   /* THR-002 value bands: one per low-value tier */

/* ==== Dates ==== */

/*
 * A calendar date as days since 1970-01-01 (proleptic Gregorian, UTC).
 * Parses exactly "YYYY-MM-DD" (a full RFC 3339 timestamp is also accepted
 * and its date part used). Returns 0 or CW_EPARSE.
 */
CW_MUST_CHECK int cw_checks_date_parse(int32_t *out_days, const char *s);
/*
 * The UTC calendar day of an RFC 3339 instant, "YYYY-MM-DDTHH:MM:SS" with
 * optional fraction and "Z" or "+HH:MM"/"-HH:MM": its offset applied, so
 * that the same instant written with any offset falls on the same day (a
 * message Timestamp's, whose offset its sender chooses). Returns 0 or
 * CW_EPARSE (a bare date included).
 */
CW_MUST_CHECK int cw_checks_instant_day(int32_t *out_days, const char *s);
/* Formats days as "YYYY-MM-DD" into out (at least 11 bytes). */
void cw_checks_date_format(char *out, size_t size, int32_t days);
/* The calendar year of days (for per-year ledgers). */
int cw_checks_date_year(int32_t days);

/* ==== Money (money.c) ==== */

/* An amount in integer minor units of an ISO 4217 currency. */
typedef struct cw_checks_money {
    int64_t minor;    /* e.g. 1250 for EUR 12.50, 1250 for JPY 1250 */
    char currency[4]; /* ISO 4217 alpha-3, upper case; "" when unknown */
} cw_checks_money_t;

/*
 * Parses a decimal string ("-12.5", "0.125") into minor units of a currency
 * with `exponent` fraction digits, rounding half-even when the string has
 * more fraction digits. Returns 0, CW_EPARSE or CW_E2BIG (overflow).
 */
CW_MUST_CHECK int cw_checks_money_parse(int64_t *out_minor, const char *s, int exponent);
/* Formats minor units with `exponent` fraction digits ("12.50"). */
void cw_checks_money_format(char *out, size_t size, int64_t minor, int exponent);
/*
 * Converts amount_minor (exponent from_exp) at rate_micro (how many target
 * major units one source major unit buys, times 10^6) to minor units of the
 * target (exponent to_exp), rounding half-even once at the end. Returns 0 or
 * CW_E2BIG on overflow.
 */
CW_MUST_CHECK int cw_checks_money_convert(
    int64_t *out_minor, int64_t amount_minor, int from_exp, int64_t rate_micro, int to_exp);
/*
 * The ISO 4217 minor-unit exponent of currency (0 for JPY, 3 for KWD, ...);
 * 2 for any other code, known or not (rules/codes.xml says which codes
 * exist; the load checks it agrees with this table).
 */
int cw_checks_currency_exponent(const char *currency);
/* amount × rate_bp / 10000 rounded half-even (a percentage in basis points). */
int64_t cw_checks_money_percent(int64_t amount_minor, int32_t rate_bp);

/* ==== The canonical consignment (consignment.c) ==== */

typedef enum cw_checks_mode_e {
    CW_CHECKS_MODE_UNKNOWN = 0,
    CW_CHECKS_MODE_AIR,
    CW_CHECKS_MODE_ROAD,
    CW_CHECKS_MODE_RAIL,
    CW_CHECKS_MODE_SEA,
    CW_CHECKS_MODE_POST,
} cw_checks_mode_e;

typedef enum cw_checks_content_e {
    CW_CHECKS_CONTENT_UNKNOWN = 0,
    CW_CHECKS_CONTENT_SALE,
    CW_CHECKS_CONTENT_GIFT,
    CW_CHECKS_CONTENT_SAMPLE,
    CW_CHECKS_CONTENT_RETURN,
    CW_CHECKS_CONTENT_DOCUMENTS,
} cw_checks_content_e;

typedef enum cw_checks_filing_e {
    CW_CHECKS_FILING_IMPORT = 0,      /* customs (import) data; the default */
    CW_CHECKS_FILING_SAFETY_SECURITY, /* EU ICS2 entry summary */
} cw_checks_filing_e;

/* A tax registration (Registration element). */
typedef struct cw_checks_registration {
    char scheme[8];             /* IOSS, UKVAT, ABN, ARN, CNEBP, OTHER; "" = none */
    char id[CW_CHECKS_ID_SIZE]; /* as written, trimmed */
} cw_checks_registration_t;

typedef struct cw_checks_address {
    char line1[CW_CHECKS_TEXT_SIZE];       /* first Line */
    char line2[CW_CHECKS_TEXT_SIZE];       /* second Line, or "" */
    char city[CW_CHECKS_TEXT_SIZE];        /* City */
    char postal_code[CW_CHECKS_TEXT_SIZE]; /* PostalCode */
    char region[CW_CHECKS_TEXT_SIZE];      /* Region (state, province) */
    char country[3];                       /* ISO 3166-1 alpha-2, upper case */
} cw_checks_address_t;

/* A party; every text field is "" when absent. */
typedef struct cw_checks_party {
    int present;                                       /* 1 when the element was there */
    char id[CW_CHECKS_ID_SIZE];                        /* Id */
    char id_scheme[CW_CHECKS_ID_SIZE];                 /* Id/@scheme (EORI, VAT, CN-ID, ...) */
    char name[CW_CHECKS_TEXT_SIZE];                    /* Name */
    int has_address;                                   /* 1 when Address was there */
    cw_checks_address_t address;                       /* Address */
    char phone[CW_CHECKS_TEXT_SIZE];                   /* Phone, E.123 expected */
    char email[CW_CHECKS_TEXT_SIZE];                   /* Email */
    cw_checks_registration_t regs[CW_CHECKS_REGS_MAX]; /* Registration */
    size_t regs_len;                                   /* used entries of regs */
} cw_checks_party_t;

/* One goods item (Item). Amounts are in the item's currency. */
typedef struct cw_checks_item {
    int line;                              /* @line, else 1-based position */
    char description[CW_CHECKS_LONG_SIZE]; /* Description */
    char hs_code[16];                      /* HsCode digits, "" when absent */
    int has_quantity;                      /* Quantity present */
    int64_t quantity_milli;                /* Quantity × 1000 */
    char quantity_unit[16];                /* Quantity/@unit, default "H87" */
    int has_unit_value;                    /* UnitValue present */
    int64_t unit_value_minor;              /* UnitValue in minor units */
    int has_line_value;                    /* LineValue present */
    int64_t line_value_minor;              /* LineValue in minor units */
    char currency[4];                      /* Currency, else the consignment's */
    int has_net_weight;                    /* NetWeightKg present */
    int64_t net_weight_g;                  /* NetWeightKg in grams */
    char origin[3];                        /* Origin, ISO 3166-1 alpha-2 */
    char sku[CW_CHECKS_ID_SIZE];           /* Sku */
    char url[CW_CHECKS_LONG_SIZE];         /* Url */
} cw_checks_item_t;

/*
 * The canonical consignment. Caller-provided storage: fill it with
 * cw_checks_consignment_read and release with cw_checks_consignment_fini.
 * All amounts of the header are in `currency`.
 */
typedef struct cw_checks_consignment {
    char consignment_id[CW_CHECKS_ID_SIZE];         /* ConsignmentId */
    char transport_doc[CW_CHECKS_ID_SIZE];          /* TransportDocument (house) */
    int amendment;                                  /* Amendment = true */
    cw_checks_filing_e filing;                      /* Filing */
    cw_checks_party_t platform;                     /* Platform (marketplace) */
    cw_checks_party_t seller;                       /* Seller */
    cw_checks_party_t buyer;                        /* Buyer */
    cw_checks_party_t consignee;                    /* Consignee, else a copy of buyer */
    char dispatch_country[3];                       /* DispatchCountry */
    char destination_country[3];                    /* DestinationCountry */
    cw_checks_mode_e mode;                          /* TransportMode */
    cw_checks_content_e content;                    /* ContentType */
    char original_transport_doc[CW_CHECKS_ID_SIZE]; /* for returns (RET-*) */
    char order_number[CW_CHECKS_ID_SIZE];           /* Order/Number */
    int32_t order_date;                             /* Order/Date in days; -1 absent */
    char payment_reference[CW_CHECKS_ID_SIZE];      /* Payment/Reference */
    int has_payment_amount;                         /* Payment/Amount present */
    int64_t payment_amount_minor;                   /* Payment/Amount */
    char payer[CW_CHECKS_TEXT_SIZE];                /* Payment/Payer */
    char currency[4];                               /* Currency */
    int currency_exponent;                          /* ISO 4217 exponent used to read */
    int has_goods_value;                            /* GoodsValue present */
    int64_t goods_value_minor;                      /* GoodsValue */
    int64_t freight_minor;                          /* Freight, 0 when absent */
    int64_t insurance_minor;                        /* Insurance, 0 when absent */
    int64_t discount_minor;                         /* Discount, 0 when absent */
    cw_checks_registration_t tax_registration;      /* TaxCollected/Registration */
    int has_tax_collected;                          /* TaxCollected/Amount present */
    int64_t tax_collected_minor;                    /* TaxCollected/Amount */
    int has_gross_weight;                           /* GrossWeightKg present */
    int64_t gross_weight_g;                         /* GrossWeightKg in grams */
    cw_checks_item_t *items;                        /* owned (cw_free) */
    size_t items_len;                               /* used entries of items */
} cw_checks_consignment_t;

/*
 * Reads the Consignment element `node` (already parsed safely by the caller
 * and, for SYN-001, validated with cw_checks_consignment_validate) into out.
 * Amount strings are converted with the exponent of the consignment's
 * currency (2 when the currency is unknown: DAT-002 reports it). Returns 0,
 * CW_EPROTO (not a consignment, or a value the model cannot hold, with the
 * element in err) or CW_ENOMEM. On failure out is left finalised.
 */
CW_MUST_CHECK int
cw_checks_consignment_read(cw_checks_consignment_t *out, const xmlNode *node, cw_error_t *err);
void cw_checks_consignment_fini(cw_checks_consignment_t *c);

/* ==== Rules (profile.c) ==== */

/* The immutable rules snapshot: profiles, FX, duty rates, word lists, ... */
typedef struct cw_checks_rules cw_checks_rules_t;
/* One country profile inside a snapshot (borrowed from it). */
typedef struct cw_checks_profile cw_checks_profile_t;

/*
 * Loads every rules file under dir (docs/checks.md lists them), validating
 * each against its embedded XSD and cross-checking references (a profile's
 * currency must have an FX rate, ...). *out is owned by the caller with one
 * reference (cw_checks_rules_unref). Returns 0, CW_ECONFIG with the file and
 * line in err, CW_EIO or CW_ENOMEM. Any thread; typically startup or SIGHUP.
 */
CW_MUST_CHECK int cw_checks_rules_load(cw_checks_rules_t **out, const char *dir, cw_error_t *err);
/* Takes one more reference; returns rules. */
cw_checks_rules_t *cw_checks_rules_ref(cw_checks_rules_t *rules);
/* Drops one reference; the last frees the snapshot. NULL is ignored. */
void cw_checks_rules_unref(cw_checks_rules_t *rules);
/* "profiles:EU-2021@3,...;fx@2026-11-27" style summary of versions (static
 * inside the snapshot, borrowed). */
const char *cw_checks_rules_version(const cw_checks_rules_t *rules);

/*
 * The profile for destination country `country` valid on `date` (from <=
 * date <= to), or NULL. Borrowed from rules.
 */
const cw_checks_profile_t *
cw_checks_rules_profile_find(const cw_checks_rules_t *rules, const char *country, int32_t date);
/* The profile with this id (e.g. "EU-2026"), or NULL. Borrowed. */
const cw_checks_profile_t *cw_checks_rules_profile_get(const cw_checks_rules_t *rules,
                                                       const char *id);
const char *cw_checks_profile_id(const cw_checks_profile_t *profile);
const char *cw_checks_profile_version(const cw_checks_profile_t *profile);

/* ==== Context, history and facts ==== */

/* What the pipeline knows about the message carrying the consignment. */
typedef struct cw_checks_context {
    const char *sender;       /* the From (or OriginalSender) party; "" unknown */
    const char *message_id;   /* MessageId, for the assessment; may be NULL */
    int32_t reference_date;   /* days; default: the message Timestamp's date */
    const char *profile_id;   /* force this profile; NULL: by destination+date */
    int schema_failed;        /* 1: the document failed its XSD (SYN-001) */
    const char *schema_error; /* first XSD violation when schema_failed */
} cw_checks_context_t;

/*
 * The facts recorded per assessed consignment (the lead's facts table).
 * Keys are SHA-256 in hex of normalised text, so no personal data is stored
 * in clear. Values are in the destination profile's currency.
 */
typedef struct cw_checks_fact {
    char consignment_id[CW_CHECKS_ID_SIZE];  /* ConsignmentId */
    char sender[CW_CHECKS_ID_SIZE];          /* the sending party */
    char buyer_key[CW_CHECKS_HEX_SIZE];      /* cw_checks_buyer_key */
    char seller_key[CW_CHECKS_HEX_SIZE];     /* cw_checks_seller_key */
    char business_key[CW_CHECKS_HEX_SIZE];   /* cw_checks_business_key */
    char content_digest[CW_CHECKS_HEX_SIZE]; /* cw_checks_content_digest */
    char order_number[CW_CHECKS_ID_SIZE];    /* Order/Number or "" */
    char transport_doc[CW_CHECKS_ID_SIZE];   /* TransportDocument or "" */
    char destination[3];                     /* DestinationCountry */
    char currency[4];                        /* currency of value_minor */
    int64_t value_minor;                     /* intrinsic value, destination currency */
    int32_t date;                            /* reference date (days) */
    int amendment;                           /* 1 when marked as an amendment */
} cw_checks_fact_t;

/* A value range in the profile's minor units, both ends inclusive. */
typedef struct cw_checks_band {
    int64_t lo;
    int64_t hi;
} cw_checks_band_t;

/*
 * What the caller must fetch from its store before cw_checks_run.
 *
 * Rows: every recorded fact whose business_key equals this one, or whose
 * order_number equals this (non-empty) one with the same seller_key or the
 * same sender (DUP-002, SPL-001 by order).
 *
 * Totals (cw_checks_history_t.has_totals), summed by the store rather than
 * read back row by row, so that a buyer or a seller with thousands of
 * facts costs a few index reads, not thousands of rows per consignment:
 * - buyer_count, buyer_total_minor: the facts of buyer_key dated
 *   [split_since_date, until_date] in currency, except this shipment (the
 *   same consignment_id, or the same non-empty transport_doc) (SPL-001);
 * - band_count[i]: the facts of seller_key dated [cluster_since_date,
 *   until_date] in currency valued within bands[i], except this
 *   consignment_id (THR-002; bands[i] is the margin under tier i);
 * - the buyer's total for the calendar year (LIM-001): facts of buyer_key
 *   for this destination dated [year_start, until_date] not in the red
 *   lane.
 * cw_checks_history_add applies the same rules to one fact.
 */
typedef struct cw_checks_history_query {
    char buyer_key[CW_CHECKS_HEX_SIZE];     /* match facts.buyer_key */
    char seller_key[CW_CHECKS_HEX_SIZE];    /* match facts.seller_key */
    char business_key[CW_CHECKS_HEX_SIZE];  /* match facts.business_key (any date) */
    char order_number[CW_CHECKS_ID_SIZE];   /* match facts.order_number, "" none */
    char consignment_id[CW_CHECKS_ID_SIZE]; /* this consignment: not in the totals */
    char transport_doc[CW_CHECKS_ID_SIZE];  /* this shipment, "" none */
    char currency[4];                       /* the profile's currency */
    char destination[3];                    /* DestinationCountry (the year total's) */
    int32_t split_since_date;               /* SPL-001 window, inclusive, days */
    int32_t cluster_since_date;             /* THR-002 window, inclusive, days */
    int32_t since_date;                     /* the earlier of the two */
    int32_t until_date;                     /* inclusive, days (the reference date) */
    int32_t year_start;                     /* 1 January of the reference year */
    size_t bands_len;                       /* 0: THR-002 needs no count */
    cw_checks_band_t bands[CW_CHECKS_BANDS_MAX];
} cw_checks_history_query_t;

/* Facts from the store. Borrowed for the duration of cw_checks_run. */
typedef struct cw_checks_history {
    const cw_checks_fact_t *facts;  /* any order; checks filter by key and date */
    size_t facts_len;               /* entries of facts */
    int has_year_total;             /* buyer_year_total_minor is known */
    int64_t buyer_year_total_minor; /* buyer's total this calendar year (CN), in
                                       the destination currency, excluding this one */
    /* has_totals: the counts below are known (see cw_checks_history_query_t)
     * and SPL-001 by buyer and THR-002 read them instead of the rows. */
    int has_totals;
    int64_t buyer_count;
    int64_t buyer_total_minor;
    int64_t band_count[CW_CHECKS_BANDS_MAX];
} cw_checks_history_t;

/*
 * Adds fact f (one the store does not hold yet, e.g. an earlier item of
 * the same manifest, and not in the red lane) to h's totals under q's
 * rules, and to the buyer's year total when h has one. Returns 1 when the
 * checks also need f as a row (the same business key or order number), 0
 * when the totals are all they need of it.
 */
int cw_checks_history_add(cw_checks_history_t *h,
                          const cw_checks_history_query_t *q,
                          const cw_checks_fact_t *f);

/*
 * The facts of one input's earlier items (a manifest), each counted into
 * a later item's history exactly as cw_checks_history_add counts it, but
 * with its strings compared as numbers: every string field is interned
 * once when the fact is added. With cw_checks_history_add a 10,000-row
 * manifest for one buyer compared the same 64-character keys 50 million
 * times (half of the manifest's time, bench/README.md).
 *
 *   cw_checks_recent_t *r;
 *   cw_checks_recent_new(&r);
 *   for each item, in order:
 *       h = the ledger's totals for the item's query q;
 *       cw_checks_recent_count(r, &q, &h, keep_row, arg);
 *       ... assess ...; if accepted: cw_checks_recent_add(r, &item_fact);
 *   cw_checks_recent_free(r);
 *
 * Facts are borrowed: each must stay valid, unchanged, until r is freed.
 * Not thread-safe; one input's items are assessed one after another.
 */
typedef struct cw_checks_recent cw_checks_recent_t;

/* 0 or CW_ENOMEM. */
CW_MUST_CHECK int cw_checks_recent_new(cw_checks_recent_t **out);

/* NULL is a no-op. */
void cw_checks_recent_free(cw_checks_recent_t *r);

/* Adds f (borrowed). 0 or CW_ENOMEM, when r is unchanged. */
CW_MUST_CHECK int cw_checks_recent_add(cw_checks_recent_t *r, const cw_checks_fact_t *f);

/* Number of facts added. */
size_t cw_checks_recent_len(const cw_checks_recent_t *r);

/*
 * Counts every fact added so far into h under q, in the order added, as
 * cw_checks_history_add does, and calls row(arg, f) for each fact for
 * which it would return 1. Returns 0, or the first negative value row
 * returned (counting stops there).
 */
typedef int (*cw_checks_row_cb)(void *arg, const cw_checks_fact_t *f);
CW_MUST_CHECK int cw_checks_recent_count(const cw_checks_recent_t *r,
                                         const cw_checks_history_query_t *q,
                                         cw_checks_history_t *h,
                                         cw_checks_row_cb row,
                                         void *arg);

/*
 * Normalisation helpers. Keys are SHA-256 hex of: for a buyer, its
 * "scheme:id" when it has an Id, else name + address line1 + postal code +
 * country + phone digits, each upper-cased with runs of non-alphanumerics
 * folded to one space; for a seller, "scheme:id" else name + country; the
 * business key is sender + "consignment" + (order number, else transport
 * document, else consignment id). The content digest covers every field of
 * the model in a fixed order. All return 0 or CW_ENOMEM / CW_ECRYPTO.
 */
CW_MUST_CHECK int cw_checks_buyer_key(char out[CW_CHECKS_HEX_SIZE], const cw_checks_party_t *buyer);
CW_MUST_CHECK int cw_checks_seller_key(char out[CW_CHECKS_HEX_SIZE],
                                       const cw_checks_party_t *seller);
CW_MUST_CHECK int cw_checks_business_key(char out[CW_CHECKS_HEX_SIZE],
                                         const char *sender,
                                         const cw_checks_consignment_t *c);
CW_MUST_CHECK int cw_checks_content_digest(char out[CW_CHECKS_HEX_SIZE],
                                           const cw_checks_consignment_t *c);
/* Upper-cases ASCII, folds runs of non-alphanumerics into one space and
 * trims; out has room for size bytes. */
void cw_checks_normalise(char *out, size_t size, const char *in);

/*
 * Fills q for consignment c under rules/ctx (the profile's SPL window, the
 * THR-002 window, the calendar year). Returns 0, CW_ENOENT (no profile for
 * the destination and date) or CW_ENOMEM.
 */
CW_MUST_CHECK int cw_checks_history_query_make(cw_checks_history_query_t *q,
                                               const cw_checks_rules_t *rules,
                                               const cw_checks_consignment_t *c,
                                               const cw_checks_context_t *ctx);

/* ==== Assessment ==== */

typedef enum cw_checks_lane_e {
    CW_CHECKS_LANE_GREEN = 0,
    CW_CHECKS_LANE_YELLOW = 1,
    CW_CHECKS_LANE_RED = 2,
} cw_checks_lane_e;

typedef enum cw_checks_collection_e {
    CW_CHECKS_COLLECT_NONE = 0, /* nothing to collect */
    CW_CHECKS_COLLECT_VENDOR,   /* the seller collected at sale (IOSS, UK VAT, ABN) */
    CW_CHECKS_COLLECT_PLATFORM, /* the marketplace collected/withholds */
    CW_CHECKS_COLLECT_CARRIER,  /* the carrier collects at the border */
    CW_CHECKS_COLLECT_CONSUMER, /* the consumer pays at the border */
} cw_checks_collection_e;

/* "green", "yellow", "red"; static. */
const char *cw_checks_lane_name(cw_checks_lane_e lane);
/* "none", "vendor", "platform", "carrier", "consumer"; static. */
const char *cw_checks_collection_name(cw_checks_collection_e model);

/* One triggered rule; at most one per code (fields accumulate). */
typedef struct cw_checks_finding {
    char code[12];         /* stable code, "DAT-001" */
    cw_checks_lane_e lane; /* this finding's lane */
    char fields[256];      /* comma-separated paths: "Item[2]/HsCode,Buyer/Phone" */
    char message[256];     /* short human message naming the field(s) */
    char source[128];      /* rule source: profile id@version or rules file@version */
} cw_checks_finding_t;

/* Revenue; amounts in minor units of `currency` (the destination's). */
typedef struct cw_checks_revenue {
    char currency[4];                     /* destination (profile) currency */
    int exponent;                         /* its ISO 4217 exponent */
    char declared_currency[4];            /* the consignment's currency */
    int64_t declared_minor;               /* intrinsic value as declared (declared currency) */
    int64_t intrinsic_minor;              /* intrinsic value converted (threshold basis) */
    int64_t customs_value_minor;          /* duty basis (intrinsic + freight + insurance
                                             when the profile values CIF) */
    int64_t fx_rate_micro;                /* declared -> destination, × 10^6 */
    int32_t fx_date;                      /* date of the FX table used (days) */
    int64_t duty_minor;                   /* customs duty */
    int64_t tax_minor;                    /* VAT / GST (and CN consumption tax) */
    cw_checks_collection_e collection;    /* who collects */
    char collector_id[CW_CHECKS_ID_SIZE]; /* registration id when vendor/platform */
    int due_at_border;                    /* 1 when anything is payable at the border */
    int64_t due_at_border_minor;          /* what is payable at the border */
    int low_value;                        /* 1 inside the low-value regime (THR-001 green) */
    int computed;                         /* 1: the amounts above were computed; 0: a value
                                             could not be converted (no FX rate, THR-001) or
                                             is out of range (VAL-001): every amount is 0 and
                                             means nothing, low_value is 0 */
} cw_checks_revenue_t;

/* The outcome of cw_checks_run; caller-provided storage, no heap. */
typedef struct cw_checks_assessment {
    cw_checks_lane_e lane;                                /* worst lane after the TRU rule */
    cw_checks_finding_t findings[CW_CHECKS_FINDINGS_MAX]; /* in code order */
    size_t findings_len;                                  /* used entries */
    size_t findings_skipped;        /* soft findings skipped for a trusted sender */
    char profile_id[32];            /* profile used, "" when none matched */
    char profile_version[32];       /* its version */
    char rules_version[512];        /* cw_checks_rules_version */
    int32_t reference_date;         /* days */
    char destination[3];            /* DestinationCountry */
    char sender[CW_CHECKS_ID_SIZE]; /* the sending party */
    int trusted;                    /* sender on the trusted list (TRU-001) */
    cw_checks_revenue_t revenue;    /* valid when profile_id[0] */
    cw_checks_fact_t fact;          /* to record for this consignment */
} cw_checks_assessment_t;

/*
 * Runs every check. out is overwritten: every field, and the findings up to
 * findings_len (the entries past it are left as they were). A consignment
 * with no profile for its destination and date gets one DAT-002 finding
 * (red) naming DestinationCountry. history may be NULL (no prior facts). Returns 0,
 * CW_ENOMEM or CW_ECRYPTO; findings are never errors. Pure and
 * deterministic; any thread.
 */
CW_MUST_CHECK int cw_checks_run(cw_checks_assessment_t *out,
                                const cw_checks_rules_t *rules,
                                const cw_checks_consignment_t *c,
                                const cw_checks_context_t *ctx,
                                const cw_checks_history_t *history,
                                cw_error_t *err);

/*
 * Appends <Assessment node="node_id" xmlns="urn:clearway:assessment:1"> as
 * the last child of parent (in doc), and sets *out to it (borrowed from
 * doc); parent NULL leaves it unlinked (the caller then owns it:
 * xmlFreeNode). Returns 0 or CW_ENOMEM.
 */
CW_MUST_CHECK int cw_checks_assessment_to_xml(xmlNode **out,
                                              const cw_checks_assessment_t *a,
                                              const char *node_id,
                                              xmlDoc *doc,
                                              xmlNode *parent);
/* Appends a human-readable text rendering (the CLI's --format text). */
CW_MUST_CHECK int cw_checks_assessment_text(cw_buf_t *buf, const cw_checks_assessment_t *a);

/*
 * Validates the Consignment element node (inside its document) against the embedded
 * schemas/consignment.xsd with a context of its own. Returns 0, or CW_EPROTO with the first
 * violation in err. Thread: any (the compiled schema lives in the rules snapshot).
 */
CW_MUST_CHECK int
cw_checks_consignment_validate(const cw_checks_rules_t *rules, xmlNode *node, cw_error_t *err);

#endif /* CW_CHECKS_H */
