/*
 * csv-manifest: a carrier manifest, one parcel per row (RFC 4180, parsed by
 * libcsv in strict mode), item columns repeated with _1, _2, ... suffixes.
 * The header row names the columns (docs/adapters.md lists them); unknown
 * columns are ignored, so carriers may add their own.
 *
 * Each row is translated on its own: a row with the wrong number of fields,
 * a bad number or a code of the wrong shape becomes a per-item error with
 * its line number and column name, and the other rows still translate. The
 * line of a row is where it starts: the input is fed to libcsv line by
 * line, so a quoted field with embedded newlines keeps its row's first line.
 */
#include <csv.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <libxml/tree.h>

#include "adapters.h"
#include "internal.h"

/* ==== Columns ==== */

enum pcol {
    P_TRACKING,
    P_ORDER,
    P_SENDER_NAME,
    P_SENDER_COUNTRY,
    P_NAME,
    P_ADDR1,
    P_ADDR2,
    P_CITY,
    P_POSTCODE,
    P_REGION,
    P_PHONE,
    P_EMAIL,
    P_DEST,
    P_WEIGHT,
    P_CURRENCY,
    P_CONTENT,
    P_FREIGHT,
    P_MODE,
    P_COUNT
};

static const char *const pcol_names[P_COUNT] = {
    "tracking_number",     "order_number",    "sender_name",
    "sender_country",      "recipient_name",  "recipient_address1",
    "recipient_address2",  "recipient_city",  "recipient_postcode",
    "recipient_region",    "recipient_phone", "recipient_email",
    "destination_country", "weight_kg",       "currency",
    "content_type",        "freight",         "transport_mode",
};

enum icol { I_DESC, I_QTY, I_NET, I_VALUE, I_HS, I_ORIGIN, I_SKU, I_COUNT };

static const char *const icol_names[I_COUNT] = {
    "item_description", "item_quantity", "item_net_weight_kg", "item_value",
    "item_hs_code",     "item_origin",   "item_sku",
};

#define GROUPS_MAX 99u  /* item_*_1 .. item_*_99 */
#define FIELDS_MAX 2048 /* fields in one row; more is not a manifest */

static const char *const content_types[] = { "sale", "gift", "sample", "return", "documents" };

/* ==== Parse state ==== */

typedef struct csv_state {
    const cw_adapter_t *adapter;
    cw_adapter_result_t *out;
    cw_error_t *err;
    char **fields; /* the row being read; owned */
    size_t nfields;
    size_t line;     /* line of the chunk being fed (1-based) */
    size_t row_line; /* line where the current row started */
    int in_row;
    int have_header;
    char **header; /* owned column names */
    size_t header_count;
    int pcol[P_COUNT];             /* field index or -1 */
    int icol[GROUPS_MAX][I_COUNT]; /* field index or -1 */
    unsigned groups;               /* highest item group seen */
    size_t rows;                   /* data rows seen */
    int rc;                        /* a fatal error from a callback */
} csv_state_t;

static void fields_clear(csv_state_t *st)
{
    size_t i;

    if (st->fields == NULL) {
        st->nfields = 0;
        return;
    }
    for (i = 0; i < st->nfields; i++) {
        cw_free(st->fields[i]);
    }
    st->nfields = 0;
}

static void on_field(void *data, size_t len, void *arg)
{
    csv_state_t *st = arg;
    char *copy;

    if (st->rc < 0 || st->fields == NULL) {
        return;
    }
    if (st->nfields >= FIELDS_MAX) {
        st->rc = cw_error_set(st->err, CW_EPARSE, CW_ADAPTERS_MOD,
                              "line %zu: more than %d fields in a row", st->row_line, FIELDS_MAX);
        return;
    }
    copy = cw_strndup(data != NULL ? data : "", data != NULL ? len : 0);
    if (copy == NULL) {
        st->rc = CW_ENOMEM;
        return;
    }
    st->fields[st->nfields++] = copy;
}

/* ==== Header ==== */

static int lower_eq(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) {
            return 0;
        }
    }
    return *a == *b;
}

/* 1 when v is one of the n words, in any case. */
static int one_of(const char *v, const char *const *words, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (lower_eq(v, words[i])) {
            return 1;
        }
    }
    return 0;
}

/* Matches "base_N" (N in 1..GROUPS_MAX) case-insensitively; 0 when not. */
static unsigned item_group(const char *name, const char *base)
{
    size_t n = strlen(base);
    uint64_t g;

    if (strlen(name) <= n + 1 || name[n] != '_') {
        return 0;
    }
    if (!cw_strncaseeq(name, n, base) || cw_parse_uint(name + n + 1, 1, GROUPS_MAX, &g) < 0) {
        return 0;
    }
    return (unsigned)g;
}

static int set_col(csv_state_t *st, int *slot, size_t i)
{
    if (*slot >= 0) {
        return cw_error_set(st->err, CW_EPARSE, CW_ADAPTERS_MOD,
                            "line %zu: column '%s' appears twice in the header", st->row_line,
                            st->fields[i]);
    }
    *slot = (int)i;
    return 0;
}

static int header_read(csv_state_t *st)
{
    size_t i;
    unsigned p, k, g;
    int rc = 0;

    for (i = 0; i < st->nfields; i++) {
        for (p = 0; p < P_COUNT; p++) {
            if (lower_eq(st->fields[i], pcol_names[p])) {
                CW_TRY(set_col(st, &st->pcol[p], i));
            }
        }
        for (k = 0; k < I_COUNT; k++) {
            g = item_group(st->fields[i], icol_names[k]);
            if (g > 0) {
                CW_TRY(set_col(st, &st->icol[g - 1][k], i));
                st->groups = g > st->groups ? g : st->groups;
            }
        }
    }
    if (st->pcol[P_TRACKING] < 0) {
        rc = cw_error_set(st->err, CW_EPARSE, CW_ADAPTERS_MOD,
                          "line %zu: not a csv-manifest header (no tracking_number column)",
                          st->row_line);
        goto out;
    }
    /* The header keeps the field strings; the row vector starts afresh. */
    st->header = st->fields;
    st->header_count = st->nfields;
    st->nfields = 0;
    st->fields = cw_calloc(FIELDS_MAX, sizeof(char *));
    CW_CHECK_ALLOC(st->fields);
    st->have_header = 1;
out:
    return rc;
}

/* ==== Rows ==== */

static const char *pval(const csv_state_t *st, enum pcol c)
{
    return st->pcol[c] >= 0 ? st->fields[st->pcol[c]] : NULL;
}

static const char *ival(const csv_state_t *st, unsigned g, enum icol c)
{
    return st->icol[g][c] >= 0 ? st->fields[st->icol[g][c]] : NULL;
}

static int blank(const char *s)
{
    if (s == NULL) {
        return 1;
    }
    for (; *s != '\0'; s++) {
        if (!isspace((unsigned char)*s)) {
            return 0;
        }
    }
    return 1;
}

/*
 * Checks one value against its column's shape. Returns 1 when it is bad
 * (and records the error), 0 when good or blank, CW_ENOMEM on OOM.
 */
typedef enum shape_e {
    S_AMOUNT,
    S_KG,
    S_QTY,
    S_COUNTRY,
    S_CURRENCY,
    S_HS,
    S_CONTENT,
    S_MODE
} shape_e;

static int check_shape(csv_state_t *st, const char *v, const char *col, shape_e shape)
{
    char buf[16];
    int64_t n;
    size_t len;
    const char *why = NULL;

    if (blank(v) || !cw_adapters__xml_text_ok(v)) {
        return 0; /* bad text is check_text's to report */
    }
    switch (shape) {
    case S_AMOUNT:
        why = cw_adapters__decimal_parse(v, 4, 1, &n) < 0 ? "is not a decimal amount" : NULL;
        break;
    case S_KG:
    case S_QTY:
        why = cw_adapters__decimal_parse(v, 3, 0, &n) < 0
                  ? "is not a non-negative number with at most 3 decimals"
                  : NULL;
        break;
    case S_COUNTRY:
        cw_adapters__country_normalize(buf, sizeof(buf), v);
        why = buf[0] == '\0' ? "is not an ISO 3166 alpha-2 country code" : NULL;
        break;
    case S_CURRENCY:
        len = strlen(v);
        why = len != 3 || !isalpha((unsigned char)v[0]) || !isalpha((unsigned char)v[1])
                      || !isalpha((unsigned char)v[2])
                  ? "is not an ISO 4217 currency code"
                  : NULL;
        break;
    case S_HS:
        cw_adapters__hs_normalize(buf, sizeof(buf), v);
        len = strlen(buf);
        why = len == 0 || len > 12 || strlen(v) > 20 ? "is not an HS code" : NULL;
        break;
    case S_CONTENT:
        why = one_of(v, content_types, CW_ARRAY_SIZE(content_types))
                  ? NULL
                  : "is not one of sale, gift, sample, return, documents";
        break;
    case S_MODE:
        /* The international leg; express courier is air or road. */
        why = one_of(v, cw_adapters__transport_modes, CW_ADAPTERS_TRANSPORT_MODES)
                  ? NULL
                  : "is not one of air, road, rail, sea, post";
        break;
    }
    if (why == NULL) {
        return 0;
    }
    if (cw_adapters__result_add_error(st->out, st->rows - 1, st->row_line, col, "'%.40s' %s", v,
                                      why)
        < 0) {
        return CW_ENOMEM;
    }
    return 1;
}

/*
 * Text that cannot go into a canonical document (not UTF-8, or a control
 * character): 1 when bad (error recorded), 0 when good, CW_ENOMEM on OOM.
 */
static int check_text(csv_state_t *st, const char *v, const char *col)
{
    if (v == NULL || cw_adapters__xml_text_ok(v)) {
        return 0;
    }
    if (cw_adapters__result_add_error(st->out, st->rows - 1, st->row_line, col,
                                      "is not UTF-8 text, or holds a control character")
        < 0) {
        return CW_ENOMEM;
    }
    return 1;
}

/* Checks every value of the row; returns the number of bad ones, or CW_ENOMEM. */
static int row_check(csv_state_t *st)
{
    static const struct {
        enum pcol col;
        shape_e shape;
    } pchecks[] = {
        { P_SENDER_COUNTRY, S_COUNTRY },
        { P_DEST, S_COUNTRY },
        { P_WEIGHT, S_KG },
        { P_CURRENCY, S_CURRENCY },
        { P_CONTENT, S_CONTENT },
        { P_FREIGHT, S_AMOUNT },
        { P_MODE, S_MODE },
    };
    static const shape_e ishapes[I_COUNT] = { S_CONTENT, S_QTY,     S_KG,     S_AMOUNT,
                                              S_HS,      S_COUNTRY, S_CONTENT };
    char col[64];
    unsigned i, g, k;
    int bad = 0, r;

    for (i = 0; i < P_COUNT; i++) {
        r = check_text(st, pval(st, (enum pcol)i), pcol_names[i]);
        if (r < 0) {
            return r;
        }
        bad += r;
    }
    for (i = 0; i < CW_ARRAY_SIZE(pchecks); i++) {
        r = check_shape(st, pval(st, pchecks[i].col), pcol_names[pchecks[i].col], pchecks[i].shape);
        if (r < 0) {
            return r;
        }
        bad += r;
    }
    for (g = 0; g < st->groups; g++) {
        for (k = 0; k < I_COUNT; k++) {
            (void)snprintf(col, sizeof(col), "%s_%u", icol_names[k], g + 1);
            r = check_text(st, ival(st, g, (enum icol)k), col);
            if (r == 0 && k >= I_QTY && k <= I_ORIGIN) {
                r = check_shape(st, ival(st, g, (enum icol)k), col, ishapes[k]);
            }
            if (r < 0) {
                return r;
            }
            bad += r;
        }
    }
    return bad;
}

static int add_party(xmlNode *root, const csv_state_t *st)
{
    xmlNode *buyer, *addr;
    char cc[4];
    int rc = 0;

    buyer = cw_adapters__el(root, "Buyer");
    CW_CHECK_ALLOC(buyer);
    CW_TRY(cw_adapters__text(buyer, "Name", pval(st, P_NAME), NULL));
    if (!blank(pval(st, P_ADDR1)) || !blank(pval(st, P_ADDR2)) || !blank(pval(st, P_CITY))
        || !blank(pval(st, P_POSTCODE)) || !blank(pval(st, P_REGION)) || !blank(pval(st, P_DEST))) {
        addr = cw_adapters__el(buyer, "Address");
        CW_CHECK_ALLOC(addr);
        CW_TRY(cw_adapters__text(addr, "Line", pval(st, P_ADDR1), NULL));
        CW_TRY(cw_adapters__text(addr, "Line", pval(st, P_ADDR2), NULL));
        CW_TRY(cw_adapters__text(addr, "City", pval(st, P_CITY), NULL));
        CW_TRY(cw_adapters__text(addr, "PostalCode", pval(st, P_POSTCODE), NULL));
        CW_TRY(cw_adapters__text(addr, "Region", pval(st, P_REGION), NULL));
        cw_adapters__country_normalize(cc, sizeof(cc), pval(st, P_DEST));
        CW_TRY(cw_adapters__text(addr, "Country", cc, NULL));
    }
    CW_TRY(cw_adapters__text(buyer, "Phone", pval(st, P_PHONE), NULL));
    CW_TRY(cw_adapters__text(buyer, "Email", pval(st, P_EMAIL), NULL));
out:
    return rc;
}

static int add_seller(xmlNode *root, const csv_state_t *st)
{
    xmlNode *seller, *addr;
    char cc[4];
    int rc = 0;

    if (blank(pval(st, P_SENDER_NAME)) && blank(pval(st, P_SENDER_COUNTRY))) {
        return 0;
    }
    seller = cw_adapters__el(root, "Seller");
    CW_CHECK_ALLOC(seller);
    CW_TRY(cw_adapters__text(seller, "Name", pval(st, P_SENDER_NAME), NULL));
    cw_adapters__country_normalize(cc, sizeof(cc), pval(st, P_SENDER_COUNTRY));
    if (cc[0] != '\0') {
        addr = cw_adapters__el(seller, "Address");
        CW_CHECK_ALLOC(addr);
        CW_TRY(cw_adapters__text(addr, "Country", cc, NULL));
    }
out:
    return rc;
}

static void upper_copy(char *out, size_t size, const char *in)
{
    size_t n = 0;

    for (; in != NULL && *in != '\0' && n + 1 < size; in++) {
        if (!isspace((unsigned char)*in)) {
            out[n++] = (char)toupper((unsigned char)*in);
        }
    }
    out[n] = '\0';
}

static void lower_copy(char *out, size_t size, const char *in)
{
    size_t n = 0;

    for (; in != NULL && *in != '\0' && n + 1 < size; in++) {
        if (!isspace((unsigned char)*in)) {
            out[n++] = (char)tolower((unsigned char)*in);
        }
    }
    out[n] = '\0';
}

/* Appends the items; *total gets the sum of item values (or -1 if any is missing). */
static int add_items(xmlNode *root, const csv_state_t *st, int64_t *total)
{
    char buf[32], attr[8];
    xmlNode *item;
    unsigned g, k, count = 0;
    int64_t v;
    int rc = 0, empty;

    *total = 0;
    for (g = 0; g < st->groups; g++) {
        for (empty = 1, k = 0; k < I_COUNT; k++) {
            empty = empty && blank(ival(st, g, (enum icol)k));
        }
        if (empty) {
            continue;
        }
        item = cw_adapters__el(root, "Item");
        CW_CHECK_ALLOC(item);
        (void)snprintf(attr, sizeof(attr), "%u", ++count);
        if (xmlNewProp(item, BAD_CAST "line", BAD_CAST attr) == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        CW_TRY(cw_adapters__text(item, "Description", ival(st, g, I_DESC), NULL));
        cw_adapters__hs_normalize(buf, sizeof(buf), ival(st, g, I_HS));
        CW_TRY(cw_adapters__text(item, "HsCode", buf, NULL));
        CW_TRY(cw_adapters__text(item, "Quantity", ival(st, g, I_QTY), NULL));
        CW_TRY(cw_adapters__text(item, "LineValue", ival(st, g, I_VALUE), NULL));
        if (blank(ival(st, g, I_VALUE))
            || cw_adapters__decimal_parse(ival(st, g, I_VALUE), 4, 1, &v) < 0 || *total < 0
            || __builtin_add_overflow(*total, v, total)) {
            *total = -1; /* unknown, or beyond 64 bits: GoodsValue left out */
        }
        CW_TRY(cw_adapters__text(item, "NetWeightKg", ival(st, g, I_NET), NULL));
        cw_adapters__country_normalize(buf, sizeof(buf), ival(st, g, I_ORIGIN));
        CW_TRY(cw_adapters__text(item, "Origin", buf, NULL));
        CW_TRY(cw_adapters__text(item, "Sku", ival(st, g, I_SKU), NULL));
    }
    if (count == 0) {
        /* The schema needs one Item; an empty one lets DAT-001 name what is missing. */
        CW_CHECK_ALLOC(cw_adapters__el(root, "Item"));
        *total = -1;
    }
out:
    return rc;
}

static int row_translate(csv_state_t *st, xmlDoc **out)
{
    xmlDoc *doc = NULL;
    xmlNode *root, *order;
    char id[80], buf[32];
    int64_t total;
    int rc = 0;

    *out = NULL;
    CW_TRY(cw_adapters__doc_new(&doc, &root));
    if (!blank(pval(st, P_TRACKING))) {
        CW_TRY(cw_adapters__text(root, "ConsignmentId", pval(st, P_TRACKING), NULL));
    } else {
        (void)snprintf(id, sizeof(id), "manifest-line-%zu", st->row_line);
        CW_TRY(cw_adapters__text(root, "ConsignmentId", id, NULL));
    }
    CW_TRY(cw_adapters__text(root, "TransportDocument", pval(st, P_TRACKING), NULL));
    CW_TRY(add_seller(root, st));
    CW_TRY(add_party(root, st));
    cw_adapters__country_normalize(buf, sizeof(buf), pval(st, P_SENDER_COUNTRY));
    CW_TRY(cw_adapters__text(root, "DispatchCountry", buf, NULL));
    cw_adapters__country_normalize(buf, sizeof(buf), pval(st, P_DEST));
    CW_TRY(cw_adapters__text(root, "DestinationCountry", buf, NULL));
    lower_copy(buf, sizeof(buf), pval(st, P_MODE));
    CW_TRY(cw_adapters__text(root, "TransportMode", buf, NULL));
    lower_copy(buf, sizeof(buf), pval(st, P_CONTENT));
    CW_TRY(cw_adapters__text(root, "ContentType", buf, NULL));
    if (!blank(pval(st, P_ORDER))) {
        order = cw_adapters__el(root, "Order");
        CW_CHECK_ALLOC(order);
        CW_TRY(cw_adapters__text(order, "Number", pval(st, P_ORDER), NULL));
    }
    upper_copy(buf, sizeof(buf), pval(st, P_CURRENCY));
    CW_TRY(cw_adapters__text(root, "Currency", buf, NULL));
    /* GoodsValue must precede Freight and GrossWeightKg, and Item comes last:
     * build the items on a scratch node, then move them. */
    {
        xmlNode *scratch = xmlNewNode(root->ns, BAD_CAST "scratch");
        xmlNode *child, *next;

        CW_CHECK_ALLOC(scratch);
        rc = add_items(scratch, st, &total);
        if (rc == 0 && total >= 0) {
            cw_adapters__decimal_format(buf, sizeof(buf), total, 2);
            rc = cw_adapters__text(root, "GoodsValue", buf, NULL);
        }
        if (rc == 0) {
            rc = cw_adapters__text(root, "Freight", pval(st, P_FREIGHT), NULL);
        }
        if (rc == 0) {
            rc = cw_adapters__text(root, "GrossWeightKg", pval(st, P_WEIGHT), NULL);
        }
        for (child = scratch->children; rc == 0 && child != NULL; child = next) {
            next = child->next;
            xmlUnlinkNode(child);
            if (xmlAddChild(root, child) == NULL) {
                xmlFreeNode(child);
                rc = CW_ENOMEM;
            }
        }
        xmlFreeNode(scratch);
        CW_TRY(rc);
    }
    *out = doc;
    doc = NULL;
out:
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

static int all_blank(const csv_state_t *st)
{
    size_t i;

    for (i = 0; i < st->nfields; i++) {
        if (!blank(st->fields[i])) {
            return 0;
        }
    }
    return 1;
}

/*
 * Counts the current row as the next item (a parcel, or a row lost to bad
 * quoting): *item_out gets its index. CW_E2BIG over items_max.
 */
static int item_next(csv_state_t *st, size_t *item_out)
{
    *item_out = st->rows++;
    if (st->rows > st->adapter->limits.items_max) {
        return cw_error_set(st->err, CW_E2BIG, CW_ADAPTERS_MOD,
                            "line %zu: the manifest has more than %zu parcels", st->row_line,
                            st->adapter->limits.items_max);
    }
    st->out->item_count = st->rows;
    return 0;
}

static int row_handle(csv_state_t *st)
{
    xmlDoc *doc = NULL;
    size_t item;
    int rc = 0, bad;

    if (all_blank(st)) {
        return 0; /* a trailing ",,,," line from a spreadsheet */
    }
    CW_TRY(item_next(st, &item));
    if (st->nfields != st->header_count) {
        CW_TRY(cw_adapters__result_add_error(
            st->out, item, st->row_line,
            st->nfields < st->header_count ? st->header[st->nfields] : "",
            "%zu fields, the header has %zu", st->nfields, st->header_count));
        goto out;
    }
    bad = row_check(st);
    if (bad != 0) {
        rc = bad < 0 ? bad : 0; /* a bad value: reported, the row skipped */
        goto out;
    }
    CW_TRY(row_translate(st, &doc));
    rc = cw_adapters__result_add_doc(st->out, doc, item, st->row_line);
out:
    return rc;
}

static void on_row(int c, void *arg)
{
    csv_state_t *st = arg;

    (void)c;
    if (st->rc >= 0) {
        st->rc = st->have_header ? row_handle(st) : header_read(st);
    }
    fields_clear(st);
    st->in_row = 0;
}

/* ==== Driver ==== */

static int parser_open(struct csv_parser *p)
{
    if (csv_init(p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0) {
        return CW_ENOMEM;
    }
    csv_set_realloc_func(p, cw_realloc);
    csv_set_free_func(p, cw_free);
    return 0;
}

/* A quoting error: the row is reported and parsing restarts on the next line. */
static int quoting_error(csv_state_t *st, struct csv_parser *p, int at_end)
{
    size_t item;
    int rc = 0;

    if (csv_error(p) != CSV_EPARSE) {
        return csv_error(p) == CSV_ENOMEM ? CW_ENOMEM : CW_E2BIG;
    }
    if (!st->have_header) {
        return cw_error_set(st->err, CW_EPARSE, CW_ADAPTERS_MOD,
                            "line %zu: malformed quoting in the header row", st->row_line);
    }
    CW_TRY(item_next(st, &item));
    CW_TRY(cw_adapters__result_add_error(
        st->out, item, st->row_line, st->nfields < st->header_count ? st->header[st->nfields] : "",
        at_end ? "unterminated quoted field" : "malformed quoting (RFC 4180)"));
    fields_clear(st);
    st->in_row = 0;
    csv_free(p);
    CW_TRY(parser_open(p));
out:
    return rc;
}

static int feed(csv_state_t *st, struct csv_parser *p, const char *data, size_t len)
{
    const char *line, *nl, *end = data + len;
    size_t n, i;
    int rc = 0;

    for (line = data; line < end; line = nl, st->line++) {
        nl = memchr(line, '\n', (size_t)(end - line));
        nl = nl != NULL ? nl + 1 : end;
        n = (size_t)(nl - line);
        if (!st->in_row) {
            for (i = 0; i < n && (line[i] == '\r' || line[i] == '\n'); i++) {
            }
            if (i < n) {
                st->in_row = 1;
                st->row_line = st->line;
            }
        }
        if (csv_parse(p, line, n, on_field, on_row, st) != n) {
            CW_TRY(st->rc);
            CW_TRY(quoting_error(st, p, 0));
        }
        CW_TRY(st->rc);
    }
    if (csv_fini(p, on_field, on_row, st) != 0) {
        CW_TRY(st->rc);
        CW_TRY(quoting_error(st, p, 1));
    }
    rc = st->rc;
out:
    return rc;
}

static int csv_translate_in(const cw_adapter_t *adapter,
                            const char *bytes,
                            size_t len,
                            const char *media_type,
                            cw_adapter_result_t *out,
                            cw_error_t *err)
{
    struct csv_parser p;
    csv_state_t st;
    int rc = 0, parser_ok = 0;
    size_t i;

    (void)media_type;
    memset(&st, 0, sizeof(st));
    memset(st.pcol, 0xff, sizeof(st.pcol));
    memset(st.icol, 0xff, sizeof(st.icol));
    st.adapter = adapter;
    st.out = out;
    st.err = err;
    st.line = 1;
    st.fields = cw_calloc(FIELDS_MAX, sizeof(char *));
    CW_CHECK_ALLOC(st.fields);
    CW_TRY(parser_open(&p));
    parser_ok = 1;
    if (len >= 3 && memcmp(bytes, "\xEF\xBB\xBF", 3) == 0) {
        bytes += 3; /* UTF-8 byte order mark, as spreadsheets write it */
        len -= 3;
    }
    if (memchr(bytes, '\0', len) != NULL) {
        rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD, "not a CSV text: it contains NUL bytes");
        goto out;
    }
    CW_TRY(feed(&st, &p, bytes, len));
    if (!st.have_header) {
        rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD, "empty manifest: no header row");
        goto out;
    }
out:
    if (rc == CW_ENOMEM && (err == NULL || err->code == 0)) {
        (void)cw_error_set(err, rc, CW_ADAPTERS_MOD, "out of memory reading the manifest");
    }
    if (parser_ok) {
        csv_free(&p);
    }
    if (st.fields != NULL) {
        fields_clear(&st);
        cw_free(st.fields);
    }
    for (i = 0; i < st.header_count; i++) {
        cw_free(st.header[i]);
    }
    cw_free(st.header);
    return rc;
}

const struct cw_adapter_ops cw_adapters__csv_manifest_ops = {
    "csv-manifest", "text/csv", NULL, csv_translate_in, NULL, NULL,
};
