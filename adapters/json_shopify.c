/*
 * shopify-order: platform order JSON in the shape of a Shopify order
 * ({"order": {...}}, {"orders": [...]} or a bare order object), parsed by
 * jansson. One consignment per order: customs declare the order; a split
 * shipment is declared again per parcel by the carrier's manifest.
 *
 * HS code, origin and customs description come from the line item
 * (harmonized_system_code, country_code_of_origin, customs_description)
 * where present, else from the partner's product catalogue by SKU
 * (docs/adapters.md, "Product catalogue"). Missing data become absent
 * elements; a value of the wrong JSON type makes its order an item error
 * naming the JSON path, and the other orders still translate.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <libxml/tree.h>

#include "adapters.h"
#include "internal.h"

/* The catalogue file is read whole; 16 MiB holds ~100,000 products. */
#define CATALOG_BYTES_MAX (16u * 1024u * 1024u)

typedef struct shopify_state {
    json_t *catalog; /* the parsed catalogue (read-only), or NULL */
} shopify_state_t;

/* One order being translated. */
typedef struct jctx {
    cw_adapter_result_t *out;
    const shopify_state_t *state;
    const cw_adapter_t *adapter;
    size_t item;
    int bad; /* type errors recorded for this order */
    int rc;  /* CW_ENOMEM from recording */
} jctx_t;

/* ==== Typed access with JSON paths ==== */

/* snprintf for paths and ids: a longer value is cut, which only shortens a message. */
static void path_fmt(char *out, size_t size, const char *fmt, ...) CW_PRINTF(3, 4);

static void path_fmt(char *out, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    (void)vsnprintf(out, size, fmt, ap);
    va_end(ap);
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

static void
type_error(jctx_t *c, const char *base, const char *key, const char *want, const char *got)
{
    char path[256];

    path_fmt(path, sizeof(path), "%s%s%s", base, key[0] != '\0' ? "." : "", key);
    c->bad++;
    if (cw_adapters__result_add_error(c->out, c->item, 0, path, "expected %s, got %s", want, got)
        < 0) {
        c->rc = CW_ENOMEM;
    }
}

/* A member that must be an object (absent or null: NULL). */
static json_t *jobj(jctx_t *c, const json_t *obj, const char *key, const char *base)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (!json_is_object(v)) {
        type_error(c, base, key, "an object", type_name(v));
        return NULL;
    }
    return v;
}

static json_t *jarr(jctx_t *c, const json_t *obj, const char *key, const char *base)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (!json_is_array(v)) {
        type_error(c, base, key, "an array", type_name(v));
        return NULL;
    }
    return v;
}

static const char *jstr(jctx_t *c, const json_t *obj, const char *key, const char *base)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;

    if (v == NULL || json_is_null(v)) {
        return NULL;
    }
    if (!json_is_string(v)) {
        type_error(c, base, key, "a string", type_name(v));
        return NULL;
    }
    if (!cw_adapters__xml_text_ok(json_string_value(v))) {
        type_error(c, base, key, "a string", "one with a control character");
        return NULL;
    }
    return json_string_value(v);
}

/* An identifier: a string or an integer, written into buf ("" when absent). */
static const char *
jid(jctx_t *c, const json_t *obj, const char *key, const char *base, char *buf, size_t size)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;

    buf[0] = '\0';
    if (v == NULL || json_is_null(v)) {
        return buf;
    }
    if (json_is_integer(v)) {
        path_fmt(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_string(v) && cw_adapters__xml_text_ok(json_string_value(v))) {
        (void)cw_strlcpy(buf, json_string_value(v), size);
        cw_adapters__utf8_trim(buf);
    } else if (json_is_string(v)) {
        type_error(c, base, key, "a string", "one with a control character");
    } else {
        type_error(c, base, key, "a string or integer", type_name(v));
    }
    return buf;
}

/*
 * A decimal amount: a decimal string ("199.00") or a JSON number. Returns 1
 * with *out (units of 1e-4) when present and good, else 0.
 */
static int jamount(jctx_t *c, const json_t *obj, const char *key, const char *base, int64_t *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    double d;

    *out = 0;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) {
            return 0;
        }
        if (cw_adapters__decimal_parse(json_string_value(v), 4, 1, out) == 0) {
            return 1;
        }
        type_error(c, base, key, "a decimal amount", "a string that is not one");
        return 0;
    }
    if (json_is_number(v)) {
        d = json_number_value(v);
        if (d > -1e12 && d < 1e12) {
            *out = (int64_t)(d * 10000.0 + (d < 0 ? -0.5 : 0.5));
            return 1;
        }
        type_error(c, base, key, "an amount below 1e12", "a larger number");
        return 0;
    }
    type_error(c, base, key, "a decimal amount", type_name(v));
    return 0;
}

/* A non-negative integer (quantity, grams). Returns 1 with *out when present and good. */
static int jcount(jctx_t *c, const json_t *obj, const char *key, const char *base, int64_t *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;

    *out = 0;
    if (v == NULL || json_is_null(v)) {
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < 1000000000) {
        *out = json_integer_value(v);
        return 1;
    }
    type_error(c, base, key, "a non-negative integer", type_name(v));
    return 0;
}

static int add_amount(xmlNode *parent, const char *name, int64_t v)
{
    char buf[40];

    cw_adapters__decimal_format(buf, sizeof(buf), v, 2);
    return cw_adapters__text(parent, name, buf, NULL);
}

/* ==== Parties ==== */

static int add_address(jctx_t *c, xmlNode *party, const json_t *a, const char *base)
{
    xmlNode *addr;
    char cc[4];
    const char *region;
    int rc = 0;

    if (a == NULL) {
        return 0;
    }
    addr = cw_adapters__el(party, "Address");
    CW_CHECK_ALLOC(addr);
    CW_TRY(cw_adapters__text(addr, "Line", jstr(c, a, "address1", base), NULL));
    CW_TRY(cw_adapters__text(addr, "Line", jstr(c, a, "address2", base), NULL));
    CW_TRY(cw_adapters__text(addr, "City", jstr(c, a, "city", base), NULL));
    CW_TRY(cw_adapters__text(addr, "PostalCode", jstr(c, a, "zip", base), NULL));
    region = jstr(c, a, "province_code", base);
    CW_TRY(cw_adapters__text(addr, "Region", region != NULL ? region : jstr(c, a, "province", base),
                             NULL));
    cw_adapters__country_normalize(cc, sizeof(cc), jstr(c, a, "country_code", base));
    CW_TRY(cw_adapters__text(addr, "Country", cc, NULL));
out:
    return rc;
}

/* "first last" of an object, or its "name". */
static void person_name(jctx_t *c, const json_t *o, const char *base, char *buf, size_t size)
{
    const char *first = jstr(c, o, "first_name", base);
    const char *last = jstr(c, o, "last_name", base);
    const char *name = jstr(c, o, "name", base);

    buf[0] = '\0';
    if (name != NULL && name[0] != '\0') {
        (void)cw_strlcpy(buf, name, size);
    } else if (first != NULL || last != NULL) {
        path_fmt(buf, size, "%s%s%s", first != NULL ? first : "",
                 first != NULL && last != NULL ? " " : "", last != NULL ? last : "");
    }
    cw_adapters__utf8_trim(buf); /* a long name is cut, never inside a character */
}

static int add_buyer(jctx_t *c, xmlNode *root, const json_t *order, const char *base)
{
    char b[128], name[128];
    json_t *cust, *bill;
    const char *phone, *email;
    xmlNode *buyer;
    int rc = 0;

    path_fmt(b, sizeof(b), "%s.customer", base);
    cust = jobj(c, order, "customer", base);
    bill = jobj(c, order, "billing_address", base);
    person_name(c, cust, b, name, sizeof(name));
    if (name[0] == '\0') {
        path_fmt(b, sizeof(b), "%s.billing_address", base);
        person_name(c, bill, b, name, sizeof(name));
    }
    buyer = cw_adapters__el(root, "Buyer");
    CW_CHECK_ALLOC(buyer);
    CW_TRY(cw_adapters__text(buyer, "Name", name, NULL));
    path_fmt(b, sizeof(b), "%s.billing_address", base);
    CW_TRY(add_address(c, buyer, bill, b));
    phone = jstr(c, bill, "phone", b);
    path_fmt(b, sizeof(b), "%s.customer", base);
    CW_TRY(
        cw_adapters__text(buyer, "Phone", phone != NULL ? phone : jstr(c, cust, "phone", b), NULL));
    email = jstr(c, order, "email", base);
    CW_TRY(
        cw_adapters__text(buyer, "Email", email != NULL ? email : jstr(c, cust, "email", b), NULL));
out:
    return rc;
}

static int add_consignee(jctx_t *c, xmlNode *root, const json_t *ship, const char *base)
{
    char name[128];
    xmlNode *cons;
    int rc = 0;

    if (ship == NULL) {
        return 0;
    }
    cons = cw_adapters__el(root, "Consignee");
    CW_CHECK_ALLOC(cons);
    person_name(c, ship, base, name, sizeof(name));
    CW_TRY(cw_adapters__text(cons, "Name", name, NULL));
    CW_TRY(add_address(c, cons, ship, base));
    CW_TRY(cw_adapters__text(cons, "Phone", jstr(c, ship, "phone", base), NULL));
out:
    return rc;
}

/* The seller: the catalogue's "seller" object, with the partner id as its Id. */
static int add_seller(jctx_t *c, xmlNode *root, const json_t *seller)
{
    xmlNode *party, *addr, *reg;
    json_t *regs, *r;
    const char *id;
    char cc[4];
    size_t i;
    int rc = 0;

    party = cw_adapters__el(root, "Seller");
    CW_CHECK_ALLOC(party);
    id = jstr(c, seller, "id", "$catalog.seller");
    if (id == NULL) {
        id = c->adapter->partner_id;
    }
    CW_TRY(cw_adapters__text(party, "Id", id, NULL));
    CW_TRY(cw_adapters__text(party, "Name", jstr(c, seller, "name", "$catalog.seller"), NULL));
    cw_adapters__country_normalize(cc, sizeof(cc), jstr(c, seller, "country", "$catalog.seller"));
    if (cc[0] != '\0') {
        addr = cw_adapters__el(party, "Address");
        CW_CHECK_ALLOC(addr);
        CW_TRY(cw_adapters__text(addr, "Country", cc, NULL));
    }
    regs = jarr(c, seller, "registrations", "$catalog.seller");
    for (i = 0; regs != NULL && i < json_array_size(regs) && i < 4; i++) {
        r = json_array_get(regs, i);
        if (json_is_object(r) && json_is_string(json_object_get(r, "scheme"))
            && json_is_string(json_object_get(r, "id"))) {
            CW_TRY(cw_adapters__text(party, "Registration",
                                     json_string_value(json_object_get(r, "id")), &reg));
            if (reg != NULL
                && xmlNewProp(reg, BAD_CAST "scheme",
                              BAD_CAST json_string_value(json_object_get(r, "scheme")))
                       == NULL) {
                rc = CW_ENOMEM;
                goto out;
            }
        }
    }
    if (party->children == NULL) {
        /* Neither a catalogue seller nor a partner id: leave Seller absent. */
        xmlUnlinkNode(party);
        xmlFreeNode(party);
    }
out:
    return rc;
}

/* ==== Items ==== */

static const json_t *catalog_product(const jctx_t *c, const char *sku)
{
    json_t *products;

    if (c->state->catalog == NULL || sku == NULL) {
        return NULL;
    }
    products = json_object_get(c->state->catalog, "products");
    return json_is_object(products) ? json_object_get(products, sku) : NULL;
}

/* The first string of the line item's key, else of the catalogue's. */
static const char *pick(jctx_t *c,
                        const json_t *li,
                        const char *key,
                        const char *base,
                        const json_t *prod,
                        const char *ckey)
{
    const char *v = jstr(c, li, key, base);
    json_t *p;

    if (v != NULL && v[0] != '\0') {
        return v;
    }
    p = prod != NULL ? json_object_get(prod, ckey) : NULL;
    return json_is_string(p) ? json_string_value(p) : NULL;
}

static int
add_item(jctx_t *c, xmlNode *root, const json_t *li, size_t i, const char *base, int64_t *sum)
{
    char b[128], buf[64];
    const char *sku, *desc;
    const json_t *prod;
    int64_t price, qty, grams, line_value = 0, weight = 0;
    int has_price, has_qty, has_grams, rc = 0;
    xmlNode *item;

    path_fmt(b, sizeof(b), "%s.line_items[%zu]", base, i);
    if (!json_is_object(li)) {
        type_error(c, b, "", "an object", type_name(li));
        return 0;
    }
    sku = jstr(c, li, "sku", b);
    prod = catalog_product(c, sku);
    item = cw_adapters__el(root, "Item");
    CW_CHECK_ALLOC(item);
    path_fmt(buf, sizeof(buf), "%zu", i + 1);
    if (xmlNewProp(item, BAD_CAST "line", BAD_CAST buf) == NULL) {
        rc = CW_ENOMEM;
        goto out;
    }
    desc = pick(c, li, "customs_description", b, prod, "description");
    CW_TRY(
        cw_adapters__text(item, "Description", desc != NULL ? desc : jstr(c, li, "name", b), NULL));
    cw_adapters__hs_normalize(buf, sizeof(buf),
                              pick(c, li, "harmonized_system_code", b, prod, "hs_code"));
    CW_TRY(cw_adapters__text(item, "HsCode", strlen(buf) <= 12 ? buf : NULL, NULL));
    has_qty = jcount(c, li, "quantity", b, &qty);
    has_price = jamount(c, li, "price", b, &price);
    has_grams = jcount(c, li, "grams", b, &grams);
    if (has_qty) {
        path_fmt(buf, sizeof(buf), "%lld", (long long)qty);
        CW_TRY(cw_adapters__text(item, "Quantity", buf, NULL));
    }
    if (has_price) {
        CW_TRY(add_amount(item, "UnitValue", price));
    }
    if (has_price && has_qty && __builtin_mul_overflow(price, qty, &line_value)) {
        type_error(c, b, "price", "an amount whose line value fits in 64 bits", "a larger one");
        has_price = 0;
    }
    if (has_price && has_qty) {
        CW_TRY(add_amount(item, "LineValue", line_value));
        if (*sum < 0 || __builtin_add_overflow(*sum, line_value, sum)) {
            *sum = -1; /* unknown, or beyond 64 bits: GoodsValue left out */
        }
    } else {
        *sum = -1;
    }
    /* grams and quantity are below 1e9: their product fits, ten times it may not. */
    if (has_grams && has_qty && grams > 0 && __builtin_mul_overflow(grams * qty, 10, &weight)) {
        type_error(c, b, "grams", "a weight whose line total fits in 64 bits", "a larger one");
        has_grams = 0;
    }
    if (has_grams && has_qty && grams > 0) {
        cw_adapters__decimal_format(buf, sizeof(buf), weight, 0);
        CW_TRY(cw_adapters__text(item, "NetWeightKg", buf, NULL));
    }
    cw_adapters__country_normalize(buf, sizeof(buf),
                                   pick(c, li, "country_code_of_origin", b, prod, "origin"));
    CW_TRY(cw_adapters__text(item, "Origin", buf, NULL));
    CW_TRY(cw_adapters__text(item, "Sku", sku, NULL));
out:
    return rc;
}

/* ==== One order ==== */

static int add_head(jctx_t *c, xmlNode *root, const json_t *order, const char *base)
{
    char id[160], b[128], cc[4];
    json_t *ful, *ship;
    const char *s;
    int rc = 0;

    jid(c, order, "id", base, b, sizeof(b));
    if (b[0] != '\0') {
        path_fmt(id, sizeof(id), "shopify-%s", b);
    } else {
        path_fmt(id, sizeof(id), "shopify-order-%zu", c->item + 1);
    }
    CW_TRY(cw_adapters__text(root, "ConsignmentId", id, NULL));
    ful = jarr(c, order, "fulfillments", base);
    if (ful != NULL && json_array_size(ful) > 0) {
        path_fmt(b, sizeof(b), "%s.fulfillments[0]", base);
        CW_TRY(cw_adapters__text(root, "TransportDocument",
                                 jstr(c, json_array_get(ful, 0), "tracking_number", b), NULL));
    }
    CW_TRY(add_seller(
        c, root, c->state->catalog != NULL ? json_object_get(c->state->catalog, "seller") : NULL));
    CW_TRY(add_buyer(c, root, order, base));
    ship = jobj(c, order, "shipping_address", base);
    path_fmt(b, sizeof(b), "%s.shipping_address", base);
    CW_TRY(add_consignee(c, root, ship, b));
    s = c->state->catalog != NULL
            ? json_string_value(json_object_get(c->state->catalog, "dispatch_country"))
            : NULL;
    cw_adapters__country_normalize(cc, sizeof(cc), s);
    CW_TRY(cw_adapters__text(root, "DispatchCountry", cc, NULL));
    cw_adapters__country_normalize(cc, sizeof(cc), jstr(c, ship, "country_code", b));
    CW_TRY(cw_adapters__text(root, "DestinationCountry", cc, NULL));
    CW_TRY(cw_adapters__text(root, "ContentType", "sale", NULL));
out:
    return rc;
}

static int add_order_payment(jctx_t *c, xmlNode *root, const json_t *order, const char *base)
{
    char b[128];
    const char *date;
    xmlNode *el;
    int64_t v;
    int rc = 0;

    el = cw_adapters__el(root, "Order");
    CW_CHECK_ALLOC(el);
    CW_TRY(cw_adapters__text(el, "Number", jid(c, order, "name", base, b, sizeof(b)), NULL));
    date = jstr(c, order, "created_at", base);
    if (date != NULL && strlen(date) >= 10 && date[4] == '-' && date[7] == '-') {
        (void)cw_strlcpy(b, date, 11);
        cw_adapters__utf8_trim(b);
        CW_TRY(cw_adapters__text(el, "Date", b, NULL));
    }
    el = cw_adapters__el(root, "Payment");
    CW_CHECK_ALLOC(el);
    CW_TRY(cw_adapters__text(el, "Reference", jstr(c, order, "checkout_token", base), NULL));
    if (jamount(c, order, "total_price", base, &v)) {
        CW_TRY(add_amount(el, "Amount", v));
    }
out:
    return rc;
}

static int
add_totals(jctx_t *c, xmlNode *root, const json_t *order, const char *base, int64_t items_sum)
{
    char b[128];
    json_t *lines, *seller, *regs, *reg;
    xmlNode *tax, *el;
    int64_t v, freight = 0;
    size_t i;
    int rc = 0;

    CW_TRY(cw_adapters__text(root, "Currency", jstr(c, order, "currency", base), NULL));
    if (jamount(c, order, "total_line_items_price", base, &v)) {
        CW_TRY(add_amount(root, "GoodsValue", v));
    } else if (items_sum >= 0) {
        CW_TRY(add_amount(root, "GoodsValue", items_sum));
    }
    lines = jarr(c, order, "shipping_lines", base);
    for (i = 0; lines != NULL && i < json_array_size(lines); i++) {
        path_fmt(b, sizeof(b), "%s.shipping_lines[%zu]", base, i);
        if (jamount(c, json_array_get(lines, i), "price", b, &v)
            && __builtin_add_overflow(freight, v, &freight)) {
            type_error(c, b, "price", "an amount whose total fits in 64 bits", "a larger one");
        }
    }
    if (lines != NULL) {
        CW_TRY(add_amount(root, "Freight", freight));
    }
    if (jamount(c, order, "total_discounts", base, &v)) {
        CW_TRY(add_amount(root, "Discount", v));
    }
    /* Tax collected at sale counts only under a registration (IOSS, UK VAT...). */
    seller = c->state->catalog != NULL ? json_object_get(c->state->catalog, "seller") : NULL;
    regs = seller != NULL ? json_object_get(seller, "registrations") : NULL;
    reg = json_is_array(regs) ? json_array_get(regs, 0) : NULL;
    if (json_is_object(reg) && json_is_string(json_object_get(reg, "id"))
        && json_is_string(json_object_get(reg, "scheme"))
        && jamount(c, order, "total_tax", base, &v)) {
        tax = cw_adapters__el(root, "TaxCollected");
        CW_CHECK_ALLOC(tax);
        CW_TRY(cw_adapters__text(tax, "Registration", json_string_value(json_object_get(reg, "id")),
                                 &el));
        if (el != NULL
            && xmlNewProp(el, BAD_CAST "scheme",
                          BAD_CAST json_string_value(json_object_get(reg, "scheme")))
                   == NULL) {
            rc = CW_ENOMEM;
            goto out;
        }
        CW_TRY(add_amount(tax, "Amount", v));
    }
    if (jcount(c, order, "total_weight", base, &v) && v > 0) {
        cw_adapters__decimal_format(b, sizeof(b), v * 10, 0);
        CW_TRY(cw_adapters__text(root, "GrossWeightKg", b, NULL));
    }
out:
    return rc;
}

static int order_translate(jctx_t *c, const json_t *order, const char *base, xmlDoc **out)
{
    char b[128];
    xmlDoc *doc = NULL;
    xmlNode *root, *items = NULL, *child, *next;
    json_t *lis;
    int64_t sum = 0;
    size_t i;
    int rc = 0;

    *out = NULL;
    CW_TRY(cw_adapters__doc_new(&doc, &root));
    CW_TRY(add_head(c, root, order, base));
    CW_TRY(add_order_payment(c, root, order, base));
    /* Items come last in the schema but feed GoodsValue: build them aside. */
    items = xmlNewNode(root->ns, BAD_CAST "items");
    CW_CHECK_ALLOC(items);
    lis = jarr(c, order, "line_items", base);
    for (i = 0; lis != NULL && i < json_array_size(lis); i++) {
        CW_TRY(add_item(c, items, json_array_get(lis, i), i, base, &sum));
    }
    if (items->children == NULL) {
        CW_CHECK_ALLOC(cw_adapters__el(items, "Item"));
        sum = -1;
    }
    path_fmt(b, sizeof(b), "%s", base);
    CW_TRY(add_totals(c, root, order, b, sum));
    for (child = items->children; child != NULL; child = next) {
        next = child->next;
        xmlUnlinkNode(child);
        if (xmlAddChild(root, child) == NULL) {
            xmlFreeNode(child);
            rc = CW_ENOMEM;
            goto out;
        }
    }
    CW_TRY(c->rc);
    *out = doc;
    doc = NULL;
out:
    if (items != NULL) {
        xmlFreeNode(items);
    }
    if (doc != NULL) {
        xmlFreeDoc(doc);
    }
    return rc;
}

static int order_handle(const cw_adapter_t *a,
                        cw_adapter_result_t *out,
                        const json_t *order,
                        size_t item,
                        const char *base)
{
    jctx_t c = { out, a->state, a, item, 0, 0 };
    xmlDoc *doc = NULL;
    int rc;

    out->item_count = item + 1;
    if (!json_is_object(order)) {
        return cw_adapters__result_add_error(out, item, 0, base, "expected an object, got %s",
                                             type_name(order));
    }
    rc = order_translate(&c, order, base, &doc);
    if (rc < 0) {
        return rc;
    }
    if (c.bad > 0) {
        xmlFreeDoc(doc); /* wrong types: the order is reported, not half-translated */
        return 0;
    }
    return cw_adapters__result_add_doc(out, doc, item, 0);
}

/* ==== Adapter ==== */

static int shopify_translate_in(const cw_adapter_t *adapter,
                                const char *bytes,
                                size_t len,
                                const char *media_type,
                                cw_adapter_result_t *out,
                                cw_error_t *err)
{
    json_error_t jerr;
    json_t *top = NULL, *v;
    char base[32];
    size_t i;
    int rc = 0;

    (void)media_type;
    top = json_loadb(bytes, len, JSON_REJECT_DUPLICATES, &jerr);
    if (top == NULL) {
        rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD, "bad JSON at line %d column %d: %s",
                          jerr.line, jerr.column, jerr.text);
        goto out;
    }
    if (!json_is_object(top)) {
        rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD, "not a Shopify order: $ is %s",
                          type_name(top));
        goto out;
    }
    if ((v = json_object_get(top, "orders")) != NULL) {
        if (!json_is_array(v)) {
            rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD,
                              "$.orders: expected an array, got %s", type_name(v));
            goto out;
        }
        if (json_array_size(v) > adapter->limits.items_max) {
            rc = cw_error_set(err, CW_E2BIG, CW_ADAPTERS_MOD,
                              "%zu orders, more than the limit of %zu", json_array_size(v),
                              adapter->limits.items_max);
            goto out;
        }
        for (i = 0; i < json_array_size(v); i++) {
            path_fmt(base, sizeof(base), "$.orders[%zu]", i);
            CW_TRY(order_handle(adapter, out, json_array_get(v, i), i, base));
        }
    } else if ((v = json_object_get(top, "order")) != NULL) {
        CW_TRY(order_handle(adapter, out, v, 0, "$.order"));
    } else if (json_object_get(top, "line_items") != NULL) {
        CW_TRY(order_handle(adapter, out, top, 0, "$"));
    } else {
        rc = cw_error_set(err, CW_EPARSE, CW_ADAPTERS_MOD,
                          "not a Shopify order: no order, orders or line_items member");
    }
out:
    if (rc == CW_ENOMEM && (err == NULL || err->code == 0)) {
        (void)cw_error_set(err, rc, CW_ADAPTERS_MOD, "out of memory translating the order");
    }
    json_decref(top);
    return rc;
}

static int shopify_init(cw_adapter_t *adapter, cw_error_t *err)
{
    shopify_state_t *st;
    json_error_t jerr;
    struct stat sb;
    int rc = 0;

    st = cw_calloc(1, sizeof(*st));
    if (st == NULL) {
        return CW_ENOMEM;
    }
    adapter->state = st;
    if (adapter->catalog_path == NULL) {
        return 0;
    }
    if (stat(adapter->catalog_path, &sb) != 0 || sb.st_size > (off_t)CATALOG_BYTES_MAX) {
        return cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD, "%s: missing or over %u bytes",
                            adapter->catalog_path, CATALOG_BYTES_MAX);
    }
    st->catalog = json_load_file(adapter->catalog_path, JSON_REJECT_DUPLICATES, &jerr);
    if (st->catalog == NULL) {
        rc = cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD, "%s: line %d: %s",
                          adapter->catalog_path, jerr.line, jerr.text);
        goto out;
    }
    if (!json_is_object(st->catalog) || !json_is_object(json_object_get(st->catalog, "products"))) {
        rc = cw_error_set(err, CW_ECONFIG, CW_ADAPTERS_MOD,
                          "%s: a catalogue is an object with a \"products\" object",
                          adapter->catalog_path);
        goto out;
    }
out:
    return rc;
}

static void shopify_destroy(cw_adapter_t *adapter)
{
    shopify_state_t *st = adapter->state;

    json_decref(st->catalog);
    cw_free(st);
    adapter->state = NULL;
}

const struct cw_adapter_ops cw_adapters__shopify_order_ops = {
    "shopify-order", "application/json", shopify_init, shopify_translate_in, NULL, shopify_destroy,
};
