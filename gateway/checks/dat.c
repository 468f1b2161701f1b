/*
 * checks/dat.c: data completeness and codes.
 *   DAT-001  a mandatory element of the destination profile is missing:
 *            yellow (soft), red when the profile is strict (bound to a
 *            message schema that requires it, e.g. CN).
 *   DAT-002  a bad code: ISO 4217 currency, ISO 3166 country, an HS code
 *            shorter than the profile needs (6 minimum) or with an invalid
 *            chapter: red. (No profile for the destination: registry.c.)
 */
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

static void missing(cw_checks_run_t *run, const char *field)
{
    int strict = run->profile->strict;

    cw_checks__finding(run, "DAT-001", strict ? CW_CHECKS_LANE_RED : CW_CHECKS_LANE_YELLOW,
                       strict ? CW_CHECKS_HARD : CW_CHECKS_SOFT, field, NULL,
                       "mandatory data missing for %s: %s", run->profile->id, field);
}

static int address_empty(const cw_checks_party_t *p)
{
    return !p->has_address || (p->address.line1[0] == '\0' && p->address.city[0] == '\0');
}

static void header_fields(cw_checks_run_t *run, unsigned m)
{
    const cw_checks_consignment_t *c = run->c;
    const struct {
        unsigned bit;      /* mandatory bit */
        int absent;        /* 1 when missing */
        const char *field; /* path */
    } rows[] = {
        { CW_CHECKS_F_TRANSPORT_DOC, c->transport_doc[0] == '\0', "TransportDocument" },
        { CW_CHECKS_F_SELLER_NAME, c->seller.name[0] == '\0', "Seller/Name" },
        { CW_CHECKS_F_SELLER_ADDRESS, address_empty(&c->seller), "Seller/Address" },
        { CW_CHECKS_F_SELLER_COUNTRY, c->seller.address.country[0] == '\0',
          "Seller/Address/Country" },
        { CW_CHECKS_F_BUYER_NAME, c->buyer.name[0] == '\0', "Buyer/Name" },
        { CW_CHECKS_F_BUYER_ADDRESS, address_empty(&c->buyer), "Buyer/Address" },
        { CW_CHECKS_F_BUYER_PHONE, c->buyer.phone[0] == '\0', "Buyer/Phone" },
        { CW_CHECKS_F_BUYER_ID, c->buyer.id[0] == '\0', "Buyer/Id" },
        { CW_CHECKS_F_PLATFORM, !c->platform.present || c->platform.name[0] == '\0',
          "Platform/Name" },
        { CW_CHECKS_F_DISPATCH, c->dispatch_country[0] == '\0', "DispatchCountry" },
        { CW_CHECKS_F_MODE, c->mode == CW_CHECKS_MODE_UNKNOWN, "TransportMode" },
        { CW_CHECKS_F_CONTENT, c->content == CW_CHECKS_CONTENT_UNKNOWN, "ContentType" },
        { CW_CHECKS_F_ORDER_NUMBER, c->order_number[0] == '\0', "Order/Number" },
        { CW_CHECKS_F_ORDER_DATE, c->order_date < 0, "Order/Date" },
        { CW_CHECKS_F_PAYMENT_REF, c->payment_reference[0] == '\0', "Payment/Reference" },
        { CW_CHECKS_F_PAYMENT_AMOUNT, !c->has_payment_amount, "Payment/Amount" },
        { CW_CHECKS_F_CURRENCY, c->currency[0] == '\0', "Currency" },
        { CW_CHECKS_F_GROSS_WEIGHT, !c->has_gross_weight, "GrossWeightKg" },
    };

    for (size_t i = 0; i < CW_ARRAY_SIZE(rows); i++) {
        if ((m & rows[i].bit) != 0 && rows[i].absent) {
            missing(run, rows[i].field);
        }
    }
}

static void item_fields(cw_checks_run_t *run, unsigned m, const cw_checks_item_t *it)
{
    const struct {
        unsigned bit;
        int absent;
        const char *name;
    } rows[] = {
        { CW_CHECKS_F_ITEM_DESCRIPTION, it->description[0] == '\0', "Description" },
        { CW_CHECKS_F_ITEM_HS, it->hs_code[0] == '\0', "HsCode" },
        { CW_CHECKS_F_ITEM_QUANTITY, !it->has_quantity, "Quantity" },
        { CW_CHECKS_F_ITEM_VALUE, !it->has_line_value && !it->has_unit_value, "LineValue" },
        { CW_CHECKS_F_ITEM_NET_WEIGHT, !it->has_net_weight, "NetWeightKg" },
        { CW_CHECKS_F_ITEM_ORIGIN, it->origin[0] == '\0', "Origin" },
    };
    char field[48];

    for (size_t i = 0; i < CW_ARRAY_SIZE(rows); i++) {
        if ((m & rows[i].bit) != 0 && rows[i].absent) {
            (void)snprintf(field, sizeof(field), "Item[%d]/%s", it->line, rows[i].name);
            missing(run, field);
        }
    }
}

static void bad_code(cw_checks_run_t *run, const char *field, const char *what, const char *v)
{
    cw_checks__finding(run, "DAT-002", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, field, "rules/codes.xml",
                       "%s: \"%s\" is not a valid %s", field, v, what);
}

static void country(cw_checks_run_t *run, const char *field, const char *v)
{
    if (v[0] != '\0' && !cw_checks__country_known(run->rules, v)) {
        bad_code(run, field, "ISO 3166-1 country code", v);
    }
}

static void currency(cw_checks_run_t *run, const char *field, const char *v)
{
    if (v[0] != '\0' && cw_checks__currency_exponent(run->rules, v) < 0) {
        bad_code(run, field, "ISO 4217 currency code", v);
    }
}

static void hs_code(cw_checks_run_t *run, const cw_checks_item_t *it)
{
    size_t n = strlen(it->hs_code);
    int chapter;
    char field[48];

    if (n == 0) {
        return;
    }
    (void)snprintf(field, sizeof(field), "Item[%d]/HsCode", it->line);
    chapter = n >= 2 ? (it->hs_code[0] - '0') * 10 + (it->hs_code[1] - '0') : 0;
    if ((int)n < run->profile->hs_digits || (n != 6 && n != 8 && n != 10)) {
        cw_checks__finding(run, "DAT-002", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, field, NULL,
                           "%s: HS code \"%s\" has %zu digits; %s needs %d (6, 8 or 10)", field,
                           it->hs_code, n, run->profile->id, run->profile->hs_digits);
    } else if (chapter < 1 || chapter > 97 || chapter == 77) {
        cw_checks__finding(run, "DAT-002", CW_CHECKS_LANE_RED, CW_CHECKS_HARD, field, NULL,
                           "%s: HS code \"%s\" has no valid chapter", field, it->hs_code);
    }
}

int cw_checks__dat(cw_checks_run_t *run)
{
    const cw_checks_consignment_t *c = run->c;
    unsigned m = run->profile->mandatory;
    char field[48];

    header_fields(run, m);
    for (size_t i = 0; i < c->items_len; i++) {
        item_fields(run, m, &c->items[i]);
    }
    currency(run, "Currency", c->currency);
    country(run, "DispatchCountry", c->dispatch_country);
    country(run, "DestinationCountry", c->destination_country);
    country(run, "Seller/Address/Country", c->seller.address.country);
    country(run, "Buyer/Address/Country", c->buyer.address.country);
    for (size_t i = 0; i < c->items_len; i++) {
        const cw_checks_item_t *it = &c->items[i];
        if (strcmp(it->currency, c->currency) != 0) {
            (void)snprintf(field, sizeof(field), "Item[%d]/Currency", it->line);
            currency(run, field, it->currency);
        }
        (void)snprintf(field, sizeof(field), "Item[%d]/Origin", it->line);
        country(run, field, it->origin);
        hs_code(run, it);
    }
    return 0;
}
