/*
 * Shared fixtures of the checks unit tests (support.h).
 */
#include "support.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void ct_path(char *out, size_t size, const char *rel)
{
    const char *src = getenv("CLEARWAY_SRC");

    (void)snprintf(out, size, "%s/%s", src != NULL ? src : ".", rel);
}

cw_checks_rules_t *ct_rules(void)
{
    cw_checks_rules_t *r = NULL;
    cw_error_t err;
    char dir[1024];

    cw_error_clear(&err);
    ct_path(dir, sizeof(dir), "rules");
    if (cw_checks_rules_load(&r, dir, &err) < 0) {
        fail_msg("rules did not load: %s", err.msg);
    }
    return r;
}

int64_t ct_minor(const char *s)
{
    int64_t v = 0;

    assert_int_equal(cw_checks_money_parse(&v, s, 2), 0);
    return v;
}

static const char *currency_of(const char *dest)
{
    static const char *const map[][2] = { { "DE", "EUR" }, { "FR", "EUR" }, { "US", "USD" },
                                          { "GB", "GBP" }, { "AU", "AUD" }, { "CA", "CAD" },
                                          { "CN", "CNY" } };

    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i][0], dest) == 0) {
            return map[i][1];
        }
    }
    return "EUR";
}

static void party(
    cw_checks_party_t *p, const char *id, const char *name, const char *country, const char *phone)
{
    memset(p, 0, sizeof(*p));
    p->present = 1;
    (void)cw_strlcpy(p->id, id, sizeof(p->id));
    (void)cw_strlcpy(p->id_scheme, "TEST", sizeof(p->id_scheme));
    (void)cw_strlcpy(p->name, name, sizeof(p->name));
    p->has_address = 1;
    (void)cw_strlcpy(p->address.line1, "1 Main Street", sizeof(p->address.line1));
    (void)cw_strlcpy(p->address.city, "Capital", sizeof(p->address.city));
    (void)cw_strlcpy(p->address.postal_code, "10001", sizeof(p->address.postal_code));
    (void)cw_strlcpy(p->address.country, country, sizeof(p->address.country));
    (void)cw_strlcpy(p->phone, phone, sizeof(p->phone));
}

static void reg(cw_checks_registration_t *r, const char *scheme, const char *id)
{
    (void)cw_strlcpy(r->scheme, scheme, sizeof(r->scheme));
    (void)cw_strlcpy(r->id, id, sizeof(r->id));
}

static void collector(cw_checks_consignment_t *c, const char *dest)
{
    const char *scheme = NULL, *id = NULL;
    cw_checks_party_t *holder = &c->platform;

    if (strcmp(dest, "DE") == 0 || strcmp(dest, "FR") == 0) {
        scheme = "IOSS";
        id = "IM2760000001";
    } else if (strcmp(dest, "GB") == 0) {
        scheme = "UKVAT";
        id = "GB123456789";
        holder = &c->seller;
    } else if (strcmp(dest, "AU") == 0) {
        scheme = "ABN";
        id = "51824753556";
        holder = &c->seller;
    } else if (strcmp(dest, "CN") == 0) {
        scheme = "CNEBP";
        id = "3120961234";
    }
    if (scheme == NULL) {
        return;
    }
    reg(&holder->regs[0], scheme, id);
    holder->regs_len = 1;
    reg(&c->tax_registration, scheme, id);
}

void ct_totals(cw_checks_consignment_t *c)
{
    int64_t sum = 0;

    for (size_t i = 0; i < c->items_len; i++) {
        sum += c->items[i].line_value_minor;
    }
    c->has_goods_value = 1;
    c->goods_value_minor = sum;
    c->has_payment_amount = 1;
    c->payment_amount_minor = sum + c->freight_minor + c->insurance_minor
                              + (c->has_tax_collected ? c->tax_collected_minor : 0)
                              - c->discount_minor;
}

void ct_item_value(cw_checks_consignment_t *c, size_t i, const char *qty, const char *unit)
{
    cw_checks_item_t *it = &c->items[i];
    int64_t q = 0;

    assert_int_equal(cw_checks_money_parse(&q, qty, 3), 0);
    it->has_quantity = 1;
    it->quantity_milli = q;
    it->has_unit_value = 1;
    it->unit_value_minor = ct_minor(unit);
    it->has_line_value = 1;
    it->line_value_minor = it->unit_value_minor * q / 1000;
    ct_totals(c);
}

void ct_item_add(cw_checks_consignment_t *c)
{
    cw_checks_item_t *items = cw_calloc(c->items_len + 1, sizeof(*items));

    assert_non_null(items);
    memcpy(items, c->items, c->items_len * sizeof(*items));
    items[c->items_len] = c->items[0];
    items[c->items_len].line = (int)c->items_len + 1;
    cw_free(c->items);
    c->items = items;
    c->items_len++;
    ct_totals(c);
}

void ct_base(cw_checks_consignment_t *c, const char *dest, const char *value)
{
    const char *origin = strcmp(dest, "CN") == 0 ? "JP" : "CN";
    cw_checks_item_t *it;

    memset(c, 0, sizeof(*c));
    (void)cw_strlcpy(c->consignment_id, "C-1", sizeof(c->consignment_id));
    (void)cw_strlcpy(c->transport_doc, "TD-1", sizeof(c->transport_doc));
    party(&c->platform, "shop-1", "Shop Square Ltd", "NL", "+31 20 1234567");
    party(&c->seller, "seller-1", "Bright Apparel Co Ltd", origin, "+86 755 88881234");
    party(&c->buyer, "buyer-1", "Anna Schmidt", dest, "+49 30 1234567");
    c->consignee = c->buyer;
    (void)cw_strlcpy(c->dispatch_country, origin, sizeof(c->dispatch_country));
    (void)cw_strlcpy(c->destination_country, dest, sizeof(c->destination_country));
    c->mode = CW_CHECKS_MODE_POST;
    c->content = CW_CHECKS_CONTENT_SALE;
    (void)cw_strlcpy(c->order_number, "O-1", sizeof(c->order_number));
    c->order_date = 20000;
    (void)cw_strlcpy(c->payment_reference, "P-1", sizeof(c->payment_reference));
    (void)cw_strlcpy(c->currency, currency_of(dest), sizeof(c->currency));
    c->currency_exponent = 2;
    c->has_gross_weight = 1;
    c->gross_weight_g = 500;
    c->items = cw_calloc(1, sizeof(*c->items));
    assert_non_null(c->items);
    c->items_len = 1;
    it = &c->items[0];
    it->line = 1;
    (void)cw_strlcpy(it->description, "Men's cotton T-shirt", sizeof(it->description));
    (void)cw_strlcpy(it->hs_code, "6109100010", sizeof(it->hs_code));
    (void)cw_strlcpy(it->quantity_unit, "H87", sizeof(it->quantity_unit));
    (void)cw_strlcpy(it->currency, c->currency, sizeof(it->currency));
    it->has_net_weight = 1;
    it->net_weight_g = 400;
    (void)cw_strlcpy(it->origin, origin, sizeof(it->origin));
    collector(c, dest);
    ct_item_value(c, 0, "1", value);
}

void ct_ctx(cw_checks_context_t *ctx, const char *date, const char *sender)
{
    memset(ctx, 0, sizeof(*ctx));
    assert_int_equal(cw_checks_date_parse(&ctx->reference_date, date), 0);
    ctx->sender = sender;
}

const cw_checks_finding_t *ct_find(const cw_checks_assessment_t *a, const char *code)
{
    for (size_t i = 0; i < a->findings_len; i++) {
        if (strcmp(a->findings[i].code, code) == 0) {
            return &a->findings[i];
        }
    }
    return NULL;
}
