/*
 * checks: internal pieces shared by the files of the module (never included
 * from outside it, except by its unit tests).
 */
#ifndef CW_CHECKS_INTERNAL_H
#define CW_CHECKS_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/tree.h>
#include <libxml/xmlschemas.h>

#include "checks.h"

/* ==== Rules snapshot ==== */

#define CW_CHECKS_WORD_SIZE 65 /* a rules word or phrase (Token64) */
#define CW_CHECKS_LIST_MAX  40 /* countries/chapters in one list attribute */
#define CW_CHECKS_TIERS_MAX 8  /* Threshold elements per profile */
_Static_assert(CW_CHECKS_TIERS_MAX <= CW_CHECKS_BANDS_MAX, "a THR-002 band for every tier");
#define CW_CHECKS_TAX_RATES_MAX 64        /* Tax/Rate elements per profile */
#define CW_CHECKS_PHRASES_MAX   8         /* keyword phrases per restriction */
#define CW_CHECKS_SOURCE_SIZE   513       /* source attribute */
#define CW_CHECKS_DATE_OPEN     INT32_MAX /* an open-ended validity */

/* A provenance: where a rules file comes from and its edition. */
typedef struct cw_checks_prov {
    char file[64];                      /* file name under rules/ */
    char version[CW_CHECKS_WORD_SIZE];  /* version attribute */
    char source[CW_CHECKS_SOURCE_SIZE]; /* source attribute */
} cw_checks_prov_t;

/* A list of two-letter codes (countries) or two-digit chapters. */
typedef struct cw_checks_codes2 {
    char v[CW_CHECKS_LIST_MAX][3]; /* NUL-terminated entries */
    size_t len;                    /* used entries */
} cw_checks_codes2_t;

/* Bit masks of transport modes: 1u << cw_checks_mode_e; 0 = every mode. */
typedef unsigned cw_checks_modes_t;

/* One low-value tier (Threshold). Amounts in profile minor units. */
typedef struct cw_checks_tier {
    int64_t value_minor;         /* THR-001: inside iff intrinsic <= value */
    int64_t duty_free_minor;     /* no duty iff intrinsic <= this */
    int64_t tax_free_minor;      /* no tax iff intrinsic <= this */
    cw_checks_modes_t modes;     /* applies to these modes; 0 = all */
    cw_checks_codes2_t dispatch; /* applies to these dispatch countries; empty = all */
} cw_checks_tier_t;

/* A reduced tax rate for one country of the profile (EU member states). */
typedef struct cw_checks_tax_rate {
    char country[3]; /* ISO 3166-1 alpha-2 */
    int32_t bp;      /* basis points */
} cw_checks_tax_rate_t;

/* Mandatory-field bits (Data/@mandatory). */
typedef enum cw_checks_field_e {
    CW_CHECKS_F_TRANSPORT_DOC = 1u << 0,
    CW_CHECKS_F_SELLER_NAME = 1u << 1,
    CW_CHECKS_F_SELLER_ADDRESS = 1u << 2,
    CW_CHECKS_F_SELLER_COUNTRY = 1u << 3,
    CW_CHECKS_F_BUYER_NAME = 1u << 4,
    CW_CHECKS_F_BUYER_ADDRESS = 1u << 5,
    CW_CHECKS_F_BUYER_PHONE = 1u << 6,
    CW_CHECKS_F_BUYER_ID = 1u << 7,
    CW_CHECKS_F_PLATFORM = 1u << 8,
    CW_CHECKS_F_DISPATCH = 1u << 9,
    CW_CHECKS_F_MODE = 1u << 10,
    CW_CHECKS_F_CONTENT = 1u << 11,
    CW_CHECKS_F_ORDER_NUMBER = 1u << 12,
    CW_CHECKS_F_ORDER_DATE = 1u << 13,
    CW_CHECKS_F_PAYMENT_REF = 1u << 14,
    CW_CHECKS_F_PAYMENT_AMOUNT = 1u << 15,
    CW_CHECKS_F_CURRENCY = 1u << 16,
    CW_CHECKS_F_GROSS_WEIGHT = 1u << 17,
    CW_CHECKS_F_ITEM_DESCRIPTION = 1u << 18,
    CW_CHECKS_F_ITEM_HS = 1u << 19,
    CW_CHECKS_F_ITEM_QUANTITY = 1u << 20,
    CW_CHECKS_F_ITEM_VALUE = 1u << 21,
    CW_CHECKS_F_ITEM_NET_WEIGHT = 1u << 22,
    CW_CHECKS_F_ITEM_ORIGIN = 1u << 23,
} cw_checks_field_e;

/* Registration scheme bits (Collector/@schemes). */
typedef enum cw_checks_scheme_e {
    CW_CHECKS_SCHEME_IOSS = 1u << 0,
    CW_CHECKS_SCHEME_UKVAT = 1u << 1,
    CW_CHECKS_SCHEME_ABN = 1u << 2,
    CW_CHECKS_SCHEME_ARN = 1u << 3,
    CW_CHECKS_SCHEME_CNEBP = 1u << 4,
} cw_checks_scheme_e;

/* One dated country profile (rules/profiles/<id>.xml). Amounts in minor
 * units of `currency`. */
struct cw_checks_profile {
    char id[32];                                 /* "EU-2021" */
    cw_checks_prov_t prov;                       /* file, version, source */
    cw_checks_codes2_t countries;                /* destinations it covers */
    int32_t valid_from;                          /* days, inclusive */
    int32_t valid_to;                            /* days, inclusive; CW_CHECKS_DATE_OPEN */
    char currency[4];                            /* profile currency */
    int exponent;                                /* its ISO 4217 exponent */
    int strict;                                  /* DAT-001 red */
    int hs_digits;                               /* DAT-002 minimum HS length */
    unsigned mandatory;                          /* cw_checks_field_e bits */
    int cif;                                     /* 1: duty base includes freight+insurance */
    cw_checks_tier_t tiers[CW_CHECKS_TIERS_MAX]; /* first match wins */
    size_t tiers_len;                            /* 0: no low-value regime */
    cw_checks_codes2_t exclude;                  /* HS chapters outside the regime */
    char exclude_reason[CW_CHECKS_SOURCE_SIZE];  /* why */
    char tariff[16];                             /* DutyRates tariff id */
    int32_t duty_default_bp;                     /* heading not listed */
    int has_flat;                                /* EU 2026 flat duty */
    int64_t flat_per_subheading_minor;           /* flat duty per distinct subheading */
    int64_t flat_below_minor;                    /* applies iff intrinsic < this */
    char tax_name[16];                           /* "VAT", "GST", "none" */
    int32_t tax_bp;                              /* default rate */
    cw_checks_tax_rate_t tax_rates[CW_CHECKS_TAX_RATES_MAX]; /* per country */
    size_t tax_rates_len;                                    /* used entries */
    unsigned schemes;                                        /* cw_checks_scheme_e bits; 0: none */
    int has_collector_max;                                   /* collector_max_minor is set */
    int64_t collector_max_minor;                             /* vendor collection up to this */
    int collects_duty;                                       /* the collector also collects duty */
    cw_checks_collection_e fallback;                         /* who collects otherwise */
    int64_t gift_allowance_minor;                            /* GFT-001 */
    int gift_tax_free;                   /* gifts within the allowance are untaxed */
    int32_t split_window_days;           /* SPL-001 */
    int32_t cluster_margin_bp;           /* THR-002 margin under the threshold */
    int32_t cluster_min_count;           /* THR-002 consignments incl. this one */
    int32_t cluster_window_days;         /* THR-002 window */
    int32_t tolerance_bp;                /* VAL-001 relative tolerance */
    int64_t tolerance_abs4;              /* VAL-001 absolute, major unit × 10^4 */
    int has_limits;                      /* CN limits present */
    int64_t limit_single_minor;          /* LIM-002 */
    int64_t limit_annual_minor;          /* LIM-001 */
    cw_checks_codes2_t special_measures; /* ORG-001 origins */
    int ss_red;                          /* DSC-001 red for safety-security */
    int64_t min_per_kg_minor;            /* WGT-001 plausibility band */
    int64_t max_per_kg_minor;            /* WGT-001 plausibility band */
};

/* One FX rate against the table's base. */
typedef struct cw_checks_fx_rate {
    char currency[4];       /* ISO 4217 */
    int64_t per_base_micro; /* units per base unit × 10^6 */
} cw_checks_fx_rate_t;

/* One dated FX table. */
typedef struct cw_checks_fx_table {
    int32_t date;               /* days */
    cw_checks_fx_rate_t *rates; /* owned */
    size_t rates_len;           /* used entries */
} cw_checks_fx_table_t;

/* A duty rate by tariff and heading. */
typedef struct cw_checks_duty {
    char tariff[16];   /* profile tariff id */
    char heading[5];   /* four digits */
    int32_t bp;        /* ad valorem rate */
    int has_band;      /* unit band present (both bounds) */
    int64_t unit_min4; /* band, major × 10^4 in the tariff's profile currency */
    int64_t unit_max4; /* band, major × 10^4 */
} cw_checks_duty_t;

/* A keyword -> chapters row. */
typedef struct cw_checks_keyword {
    char word[CW_CHECKS_WORD_SIZE]; /* normalised (upper case, spaces) */
    cw_checks_codes2_t chapters;    /* plausible chapters */
} cw_checks_keyword_t;

/* A prohibited or restricted goods rule. */
typedef struct cw_checks_restriction {
    char id[CW_CHECKS_WORD_SIZE];                             /* rule id */
    int prohibited;                                           /* 1: PRH-001, 0: PRH-002 */
    char hs[CW_CHECKS_LIST_MAX][11];                          /* HS prefixes */
    size_t hs_len;                                            /* used */
    char phrases[CW_CHECKS_PHRASES_MAX][CW_CHECKS_WORD_SIZE]; /* normalised */
    size_t phrases_len;                                       /* used */
    cw_checks_modes_t modes;                                  /* 0: every mode */
    cw_checks_codes2_t destinations;                          /* empty: everywhere */
    char reason[CW_CHECKS_SOURCE_SIZE];                       /* human reason */
} cw_checks_restriction_t;

/* A trusted operator. */
typedef struct cw_checks_trusted {
    char party[CW_CHECKS_WORD_SIZE]; /* party id (envelope From) */
    char aeo[CW_CHECKS_WORD_SIZE];   /* AEO authorisation */
    int32_t from;                    /* days, inclusive */
    int32_t to;                      /* days, inclusive */
} cw_checks_trusted_t;

/* An ISO 4217 currency. */
typedef struct cw_checks_currency {
    char code[4]; /* alpha-3 */
    int exponent; /* minor-unit digits */
} cw_checks_currency_t;

/* The snapshot. Immutable after cw_checks_rules_load returns. */
struct cw_checks_rules {
    atomic_int refs;                         /* references */
    char version[512];                       /* summary of every file's version */
    cw_checks_prov_t codes_prov;             /* codes.xml */
    char (*countries)[3];                    /* ISO 3166-1 alpha-2, sorted */
    size_t countries_len;                    /* entries */
    cw_checks_currency_t *currencies;        /* ISO 4217, sorted */
    size_t currencies_len;                   /* entries */
    cw_checks_prov_t fx_prov;                /* fx-rates.xml */
    char fx_base[4];                         /* base currency */
    cw_checks_fx_table_t *fx;                /* sorted by date */
    size_t fx_len;                           /* tables */
    cw_checks_prov_t duty_prov;              /* duty-rates.xml */
    cw_checks_duty_t *duty;                  /* rows */
    size_t duty_len;                         /* rows */
    cw_checks_prov_t stop_prov;              /* stop-words.xml */
    char (*stop_words)[CW_CHECKS_WORD_SIZE]; /* normalised */
    size_t stop_words_len;                   /* entries */
    char (*fillers)[CW_CHECKS_WORD_SIZE];    /* normalised */
    size_t fillers_len;                      /* entries */
    cw_checks_prov_t kw_prov;                /* hs-keywords.xml */
    cw_checks_keyword_t *keywords;           /* rows, sorted by word */
    size_t keywords_len;                     /* rows */
    size_t kw_first[257];                    /* first keyword per leading byte; [256] = len */
    cw_checks_prov_t restr_prov;             /* restricted.xml */
    cw_checks_restriction_t *restrictions;   /* rows */
    size_t restrictions_len;                 /* rows */
    cw_checks_prov_t trusted_prov;           /* trusted.xml */
    cw_checks_trusted_t *trusted;            /* rows */
    size_t trusted_len;                      /* rows */
    cw_checks_profile_t *profiles;           /* sorted by id */
    size_t profiles_len;                     /* entries */
    xmlSchema *consignment_schema;           /* compiled schemas/consignment.xsd */
};

/* ==== Lookups (profile.c) ==== */

/* The exponent of currency, or -1 when it is not an ISO 4217 code. */
int cw_checks__currency_exponent(const cw_checks_rules_t *rules, const char *currency);
/* 1 when country is an ISO 3166-1 alpha-2 code. */
int cw_checks__country_known(const cw_checks_rules_t *rules, const char *country);
/* An exact FX cross rate from -> to: to_micro / from_micro. */
typedef struct cw_checks_fx {
    int64_t from_micro; /* units of `from` per base unit × 10^6 (> 0) */
    int64_t to_micro;   /* units of `to` per base unit × 10^6 (> 0) */
    int32_t date;       /* date of the table (days) */
} cw_checks_fx_t;

/* The rate from -> to in the newest table dated <= date (the oldest table
 * before the first). Returns 0, or CW_ENOENT when there is no table or
 * either currency has no rate in it; out->date is the table's date
 * whenever there is a table. */
CW_MUST_CHECK int cw_checks__fx_find(cw_checks_fx_t *out,
                                     const cw_checks_rules_t *rules,
                                     const char *from,
                                     const char *to,
                                     int32_t date);
/* The duty row for (tariff, first 4 digits of hs), or NULL. */
const cw_checks_duty_t *
cw_checks__duty_find(const cw_checks_rules_t *rules, const char *tariff, const char *hs);
/* The trusted-operator row for party valid on date, or NULL. */
const cw_checks_trusted_t *
cw_checks__trusted_find(const cw_checks_rules_t *rules, const char *party, int32_t date);
/* 1 when code (2 chars) is in list. */
int cw_checks__codes2_has(const cw_checks_codes2_t *list, const char *code);

/* ==== XML helpers (consignment.c) ==== */

/* First element child of node named name in namespace ns, or NULL. */
xmlNode *cw_checks__child(const xmlNode *node, const char *ns, const char *name);
/* Copies the trimmed text content of node into out (size bytes); returns
 * 0 or CW_E2BIG when it does not fit. node NULL gives "". */
CW_MUST_CHECK int cw_checks__text(char *out, size_t size, const xmlNode *node);
/* Copies attribute name (no namespace) trimmed; "" when absent. */
CW_MUST_CHECK int cw_checks__attr(char *out, size_t size, const xmlNode *node, const char *name);
/* Days since 1970-01-01 of a proleptic Gregorian date (no validation). */
int32_t cw_checks__days_from_civil(int y, int m, int d);

/* Decimal "12.3456" into major × 10^4 (exactly; more digits: CW_EPARSE). */
CW_MUST_CHECK int cw_checks__parse_scale4(int64_t *out, const char *s);
/* major × 10^4 to minor units of exponent, half-even. */
int64_t cw_checks__scale4_to_minor(int64_t v4, int exponent);
/* a / b rounded half-even (b > 0), in 128 bits. */
int64_t cw_checks__div_half_even(__int128 a, __int128 b);
/* a / b rounded half-even (b > 0), saturated at ±INT64_MAX (for comparisons). */
int64_t cw_checks__ratio_sat(__int128 a, __int128 b);

/*
 * The largest magnitude, in minor units, of a line value, a sum of values
 * or a converted amount: the largest Amount schemas/consignment.xsd allows
 * at exponent 4 (999999999999.9999). Keeping values inside it keeps every
 * duty and tax product inside int64 (rates are at most 100000 bp). A value
 * beyond it is out of range: VAL-001 (red), revenue not computed.
 */
#define CW_CHECKS_AMOUNT_MAX ((int64_t)10000000000000000LL)

/* amount converted exactly at fx (one 128-bit product, rounded half-even
 * once). Returns 0, CW_EINVAL or CW_E2BIG (beyond CW_CHECKS_AMOUNT_MAX). */
CW_MUST_CHECK int cw_checks__fx_convert(
    int64_t *out_minor, int64_t amount_minor, int from_exp, const cw_checks_fx_t *fx, int to_exp);
/* fx as a rate × 10^6, half-even: for display only, never to convert. */
int64_t cw_checks__fx_micro(const cw_checks_fx_t *fx);
/* Quantity × UnitValue, half-even: 0, or CW_E2BIG beyond CW_CHECKS_AMOUNT_MAX. */
CW_MUST_CHECK int
cw_checks__line_value(int64_t *out_minor, int64_t unit_minor, int64_t quantity_milli);
/* *acc += v: 0, or CW_E2BIG (acc unchanged) beyond CW_CHECKS_AMOUNT_MAX. */
CW_MUST_CHECK int cw_checks__amount_add(int64_t *acc_minor, int64_t v_minor);

/* ==== One run ==== */

/* Whether a yellow finding is a soft (data-quality) one TRU may skip. */
typedef enum cw_checks_soft_e {
    CW_CHECKS_HARD = 0,
    CW_CHECKS_SOFT = 1,
} cw_checks_soft_e;

/* The per-item derived values a run computes once. */
typedef struct cw_checks_line {
    int64_t value_minor; /* line value (or qty × unit) in the item currency */
    int has_value;       /* value_minor is known */
    int exponent;        /* item currency exponent (2 when unknown) */
    int64_t dest_minor;  /* value in the profile currency */
    int converted;       /* dest_minor is known */
    int no_fx;           /* valued, but its currency has no FX rate (THR-001) */
    int out_of_range;    /* its value is beyond CW_CHECKS_AMOUNT_MAX (VAL-001) */
} cw_checks_line_t;

/* State of one cw_checks_run, passed to every check family. */
typedef struct cw_checks_run {
    cw_checks_assessment_t *out;                /* being filled */
    const cw_checks_rules_t *rules;             /* snapshot */
    const cw_checks_profile_t *profile;         /* selected profile */
    const cw_checks_consignment_t *c;           /* the consignment */
    const cw_checks_context_t *ctx;             /* message context */
    const cw_checks_history_t *history;         /* prior facts (never NULL inside) */
    cw_checks_line_t *lines;                    /* per item; owned by the run */
    unsigned char soft[CW_CHECKS_FINDINGS_MAX]; /* per finding: only soft emissions */
    int doc_exponent;                           /* exponent of the consignment currency */
    const cw_checks_tier_t *tier;               /* low-value tier that applies, or NULL */
    int excluded;                               /* an item's chapter is excluded */
    char excluded_chapter[3];                   /* the first such chapter */
    int collector_ok;                           /* a usable vendor/platform registration */
    int ioss_bad;                               /* TAX-001 found a problem */
    cw_checks_fx_t fx;                          /* doc -> profile currency */
    int has_fx;                                 /* fx is known */
    int no_fx;                                  /* a value needed has no FX rate */
    char no_fx_currency[4];                     /* the first such currency ("" none given) */
    char no_fx_field[48];                       /* its field ("Item[2]/LineValue", ...) */
    int32_t no_fx_date;                         /* the FX table looked in (days) */
    int out_of_range;                           /* a total or header amount is beyond range */
    char range_field[48];                       /* the first such field */
    int64_t value_floor_minor;                  /* converted part of an unknown value */
} cw_checks_run_t;

/*
 * Adds (or merges into the finding with the same code) a finding: the lane
 * becomes the worse of both, field is appended to the fields list when not
 * there yet, the first message wins. source NULL: the profile's provenance.
 * Returns 0 (a full table is counted, never an error).
 */
void cw_checks__finding(cw_checks_run_t *run,
                        const char *code,
                        cw_checks_lane_e lane,
                        cw_checks_soft_e soft,
                        const char *field,
                        const char *source,
                        const char *fmt,
                        ...) CW_PRINTF(7, 8);
/* "profiles/eu-2021.xml@2026.11.1" style provenance into out. */
void cw_checks__prov_format(char *out, size_t size, const cw_checks_prov_t *prov);
/* Formats minor units of the profile currency, "150.00 EUR". */
void cw_checks__money_str(char *out, size_t size, int64_t minor, const cw_checks_profile_t *p);
/* The chapter (2 digits) of an item's HS code, or "" when shorter. */
void cw_checks__chapter(char out[3], const char *hs);
/* Whole-word phrase search: 1 when normalised phrase occurs in normalised text. */
int cw_checks__phrase_in(const char *text_norm, const char *phrase_norm);
/* The seller's or platform's registration matching reg (same scheme and id):
 * returns 1 for the seller, 2 for the platform, 0 for none. */
int cw_checks__registration_bound(const cw_checks_consignment_t *c,
                                  const cw_checks_registration_t *reg);
/* 1 when id is a well-formed number of scheme (checksum where there is one). */
int cw_checks__registration_wellformed(const char *scheme, const char *id);
/* The mode bit for m. */
cw_checks_modes_t cw_checks__mode_bit(cw_checks_mode_e m);

/* Revenue (revenue.c): tier, FX, values, duty, tax, collection. */
CW_MUST_CHECK int cw_checks__revenue(cw_checks_run_t *run);

/* Check families: each adds findings; returns 0 or a CW_E* error. */
typedef int (*cw_checks_family_fn)(cw_checks_run_t *run);
int cw_checks__syn(cw_checks_run_t *run);
int cw_checks__dat(cw_checks_run_t *run);
int cw_checks__dsc(cw_checks_run_t *run);
int cw_checks__val(cw_checks_run_t *run);
int cw_checks__thr(cw_checks_run_t *run);
int cw_checks__spl(cw_checks_run_t *run);
int cw_checks__lim(cw_checks_run_t *run);
int cw_checks__tax(cw_checks_run_t *run);
int cw_checks__wgt(cw_checks_run_t *run);
int cw_checks__org(cw_checks_run_t *run);
int cw_checks__prh(cw_checks_run_t *run);
int cw_checks__gft(cw_checks_run_t *run);
int cw_checks__pty(cw_checks_run_t *run);
int cw_checks__tru(cw_checks_run_t *run);
int cw_checks__dup(cw_checks_run_t *run);

#endif /* CW_CHECKS_INTERNAL_H */
