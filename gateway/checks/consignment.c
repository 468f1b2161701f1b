/*
 * checks/consignment.c: the canonical consignment (urn:clearway:consignment:1)
 * read into the C model, and the normalised keys and digests the stateful
 * checks and the facts table use.
 *
 * The reader never parses bytes: the caller hands it an element of a tree
 * that sec/ parsed safely. It walks the children in document order and
 * ignores elements it does not know, so a document that passed the schema
 * is always readable; one that did not (SYN-001) is read as far as it goes.
 */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"
#include "sec.h"

/* ==== XML helpers ==== */

static int is_el(const xmlNode *n, const char *name)
{
    /* the local name first: it differs in the first byte most of the time */
    return n != NULL && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0
           && n->ns != NULL && strcmp((const char *)n->ns->href, CW_CHECKS_NS) == 0;
}

xmlNode *cw_checks__child(const xmlNode *node, const char *ns, const char *name)
{
    for (xmlNode *k = node != NULL ? node->children : NULL; k != NULL; k = k->next) {
        if (k->type == XML_ELEMENT_NODE && k->ns != NULL
            && strcmp((const char *)k->ns->href, ns) == 0
            && strcmp((const char *)k->name, name) == 0) {
            return k;
        }
    }
    return NULL;
}

static int copy_trimmed(char *out, size_t size, const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') {
        s++;
    }
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n')) {
        n--;
    }
    if (n >= size) {
        out[0] = '\0';
        return CW_E2BIG;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int cw_checks__text(char *out, size_t size, const xmlNode *node)
{
    xmlChar *t;
    int rc;

    out[0] = '\0';
    if (node == NULL) {
        return 0;
    }
    /* the common case, one text child: no copy through the heap */
    if (node->children != NULL && node->children->next == NULL
        && node->children->type == XML_TEXT_NODE && node->children->content != NULL) {
        return copy_trimmed(out, size, (const char *)node->children->content);
    }
    if (node->children == NULL) {
        return 0;
    }
    t = xmlNodeGetContent(node);
    if (t == NULL) {
        return 0;
    }
    rc = copy_trimmed(out, size, (const char *)t);
    xmlFree(t);
    return rc;
}

int cw_checks__attr(char *out, size_t size, const xmlNode *node, const char *name)
{
    xmlChar *t;
    int rc;

    out[0] = '\0';
    t = xmlGetNoNsProp(node, (const xmlChar *)name);
    if (t == NULL) {
        return 0;
    }
    rc = copy_trimmed(out, size, (const char *)t);
    xmlFree(t);
    return rc;
}

/* ==== Reader ==== */

typedef struct reader {
    cw_checks_consignment_t *c; /* being filled */
    cw_error_t *err;            /* first problem */
} reader_t;

static int too_long(reader_t *rd, const xmlNode *n)
{
    return cw_error_set(rd->err, CW_EPROTO, "checks", "line %d: %s is too long",
                        (int)xmlGetLineNo(n), (const char *)n->name);
}

static int text_of(reader_t *rd, char *out, size_t size, const xmlNode *n)
{
    return cw_checks__text(out, size, n) < 0 ? too_long(rd, n) : 0;
}

static void upper(char *s)
{
    for (; *s != '\0'; s++) {
        *s = (char)toupper((unsigned char)*s);
    }
}

/* Reads a decimal element as minor units with exponent exp. */
static int amount_of(reader_t *rd, int64_t *out, int *has, const xmlNode *n, int exp)
{
    char buf[64];
    int rc;

    if (text_of(rd, buf, sizeof(buf), n) < 0) {
        return CW_EPROTO;
    }
    rc = cw_checks_money_parse(out, buf, exp);
    if (rc < 0) {
        return cw_error_set(rd->err, CW_EPROTO, "checks", "line %d: %s \"%s\" is not an amount",
                            (int)xmlGetLineNo(n), (const char *)n->name, buf);
    }
    if (has != NULL) {
        *has = 1;
    }
    return 0;
}

static int registration_of(reader_t *rd, cw_checks_registration_t *reg, const xmlNode *n)
{
    if (cw_checks__attr(reg->scheme, sizeof(reg->scheme), n, "scheme") < 0) {
        return too_long(rd, n);
    }
    if (text_of(rd, reg->id, sizeof(reg->id), n) < 0) {
        return CW_EPROTO;
    }
    upper(reg->id);
    return 0;
}

static int address_of(reader_t *rd, cw_checks_address_t *a, const xmlNode *n)
{
    int lines = 0;
    int rc = 0;

    for (const xmlNode *k = n->children; k != NULL; k = k->next) {
        if (is_el(k, "Line")) {
            CW_TRY(text_of(rd, lines++ == 0 ? a->line1 : a->line2, sizeof(a->line1), k));
        } else if (is_el(k, "City")) {
            CW_TRY(text_of(rd, a->city, sizeof(a->city), k));
        } else if (is_el(k, "PostalCode")) {
            CW_TRY(text_of(rd, a->postal_code, sizeof(a->postal_code), k));
        } else if (is_el(k, "Region")) {
            CW_TRY(text_of(rd, a->region, sizeof(a->region), k));
        } else if (is_el(k, "Country")) {
            CW_TRY(text_of(rd, a->country, sizeof(a->country), k));
            upper(a->country);
        }
    }
out:
    return rc;
}

static int party_of(reader_t *rd, cw_checks_party_t *p, const xmlNode *n)
{
    int rc = 0;

    p->present = 1;
    for (const xmlNode *k = n->children; k != NULL; k = k->next) {
        if (is_el(k, "Id")) {
            CW_TRY(text_of(rd, p->id, sizeof(p->id), k));
            if (cw_checks__attr(p->id_scheme, sizeof(p->id_scheme), k, "scheme") < 0) {
                rc = too_long(rd, k);
                goto out;
            }
        } else if (is_el(k, "Name")) {
            CW_TRY(text_of(rd, p->name, sizeof(p->name), k));
        } else if (is_el(k, "Address")) {
            p->has_address = 1;
            CW_TRY(address_of(rd, &p->address, k));
        } else if (is_el(k, "Phone")) {
            CW_TRY(text_of(rd, p->phone, sizeof(p->phone), k));
        } else if (is_el(k, "Email")) {
            CW_TRY(text_of(rd, p->email, sizeof(p->email), k));
        } else if (is_el(k, "Registration") && p->regs_len < CW_CHECKS_REGS_MAX) {
            CW_TRY(registration_of(rd, &p->regs[p->regs_len++], k));
        }
    }
out:
    return rc;
}

static int quantity_of(reader_t *rd, cw_checks_item_t *it, const xmlNode *n)
{
    char buf[64];
    int rc = 0;

    CW_TRY(text_of(rd, buf, sizeof(buf), n));
    if (cw_checks_money_parse(&it->quantity_milli, buf, 3) < 0) {
        rc = cw_error_set(rd->err, CW_EPROTO, "checks", "line %d: Quantity \"%s\" unreadable",
                          (int)xmlGetLineNo(n), buf);
        goto out;
    }
    it->has_quantity = 1;
    if (cw_checks__attr(buf, sizeof(it->quantity_unit), n, "unit") < 0) {
        rc = too_long(rd, n);
        goto out;
    }
    if (buf[0] != '\0') {
        (void)cw_strlcpy(it->quantity_unit, buf, sizeof(it->quantity_unit));
    }
out:
    return rc;
}

static int weight_of(reader_t *rd, int64_t *out_g, int *has, const xmlNode *n)
{
    return amount_of(rd, out_g, has, n, 3);
}

/* The item's currency is needed before its amounts: look ahead for it. */
static int item_of(reader_t *rd, cw_checks_item_t *it, const xmlNode *n, int pos)
{
    const xmlNode *cur = cw_checks__child(n, CW_CHECKS_NS, "Currency");
    char line[16];
    uint64_t v;
    int exp = rd->c->currency_exponent;
    int rc = 0;

    it->line = pos;
    if (cw_checks__attr(line, sizeof(line), n, "line") == 0 && line[0] != '\0'
        && cw_parse_uint(line, 1, 100000, &v) == 0) {
        it->line = (int)v;
    }
    (void)cw_strlcpy(it->currency, rd->c->currency, sizeof(it->currency));
    (void)cw_strlcpy(it->quantity_unit, "H87", sizeof(it->quantity_unit));
    if (cur != NULL) {
        CW_TRY(text_of(rd, it->currency, sizeof(it->currency), cur));
        upper(it->currency);
        exp = cw_checks_currency_exponent(it->currency);
    }
    for (const xmlNode *k = n->children; k != NULL; k = k->next) {
        if (is_el(k, "Description")) {
            CW_TRY(text_of(rd, it->description, sizeof(it->description), k));
        } else if (is_el(k, "HsCode")) {
            CW_TRY(text_of(rd, it->hs_code, sizeof(it->hs_code), k));
        } else if (is_el(k, "Quantity")) {
            CW_TRY(quantity_of(rd, it, k));
        } else if (is_el(k, "UnitValue")) {
            CW_TRY(amount_of(rd, &it->unit_value_minor, &it->has_unit_value, k, exp));
        } else if (is_el(k, "LineValue")) {
            CW_TRY(amount_of(rd, &it->line_value_minor, &it->has_line_value, k, exp));
        } else if (is_el(k, "NetWeightKg")) {
            CW_TRY(weight_of(rd, &it->net_weight_g, &it->has_net_weight, k));
        } else if (is_el(k, "Origin")) {
            CW_TRY(text_of(rd, it->origin, sizeof(it->origin), k));
            upper(it->origin);
        } else if (is_el(k, "Sku")) {
            CW_TRY(text_of(rd, it->sku, sizeof(it->sku), k));
        } else if (is_el(k, "Url")) {
            CW_TRY(text_of(rd, it->url, sizeof(it->url), k));
        }
    }
out:
    return rc;
}

static cw_checks_mode_e mode_of(const char *s)
{
    static const char *const names[] = { "", "air", "road", "rail", "sea", "post" };

    for (size_t i = 1; i < CW_ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            return (cw_checks_mode_e)i;
        }
    }
    return CW_CHECKS_MODE_UNKNOWN;
}

static cw_checks_content_e content_of(const char *s)
{
    static const char *const names[] = { "", "sale", "gift", "sample", "return", "documents" };

    for (size_t i = 1; i < CW_ARRAY_SIZE(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            return (cw_checks_content_e)i;
        }
    }
    return CW_CHECKS_CONTENT_UNKNOWN;
}

/* Order, Payment and TaxCollected. */
static int header_group_of(reader_t *rd, const xmlNode *k)
{
    cw_checks_consignment_t *c = rd->c;
    char buf[32];
    int rc = 0;

    for (const xmlNode *g = k->children; g != NULL; g = g->next) {
        if (is_el(g, "Number")) {
            CW_TRY(text_of(rd, c->order_number, sizeof(c->order_number), g));
        } else if (is_el(g, "Date")) {
            CW_TRY(text_of(rd, buf, sizeof(buf), g));
            if (cw_checks_date_parse(&c->order_date, buf) < 0) {
                c->order_date = -1;
            }
        } else if (is_el(g, "Reference")) {
            CW_TRY(text_of(rd, c->payment_reference, sizeof(c->payment_reference), g));
        } else if (is_el(g, "Amount") && is_el(k, "Payment")) {
            CW_TRY(amount_of(rd, &c->payment_amount_minor, &c->has_payment_amount, g,
                             c->currency_exponent));
        } else if (is_el(g, "Payer")) {
            CW_TRY(text_of(rd, c->payer, sizeof(c->payer), g));
        } else if (is_el(g, "Registration")) {
            CW_TRY(registration_of(rd, &c->tax_registration, g));
        } else if (is_el(g, "Amount")) {
            CW_TRY(amount_of(rd, &c->tax_collected_minor, &c->has_tax_collected, g,
                             c->currency_exponent));
        }
    }
out:
    return rc;
}

/* One child of Consignment other than the parties and items. */
static int header_of(reader_t *rd, const xmlNode *k)
{
    cw_checks_consignment_t *c = rd->c;
    int exp = c->currency_exponent;
    char buf[32];
    int rc = 0;

    if (is_el(k, "ConsignmentId")) {
        CW_TRY(text_of(rd, c->consignment_id, sizeof(c->consignment_id), k));
    } else if (is_el(k, "TransportDocument")) {
        CW_TRY(text_of(rd, c->transport_doc, sizeof(c->transport_doc), k));
    } else if (is_el(k, "Amendment")) {
        CW_TRY(text_of(rd, buf, sizeof(buf), k));
        c->amendment = strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0;
    } else if (is_el(k, "Filing")) {
        CW_TRY(text_of(rd, buf, sizeof(buf), k));
        c->filing = strcmp(buf, "safety-security") == 0 ? CW_CHECKS_FILING_SAFETY_SECURITY
                                                        : CW_CHECKS_FILING_IMPORT;
    } else if (is_el(k, "DispatchCountry")) {
        CW_TRY(text_of(rd, c->dispatch_country, sizeof(c->dispatch_country), k));
        upper(c->dispatch_country);
    } else if (is_el(k, "DestinationCountry")) {
        CW_TRY(text_of(rd, c->destination_country, sizeof(c->destination_country), k));
        upper(c->destination_country);
    } else if (is_el(k, "TransportMode")) {
        CW_TRY(text_of(rd, buf, sizeof(buf), k));
        c->mode = mode_of(buf);
    } else if (is_el(k, "ContentType")) {
        CW_TRY(text_of(rd, buf, sizeof(buf), k));
        c->content = content_of(buf);
    } else if (is_el(k, "OriginalTransportDocument")) {
        CW_TRY(text_of(rd, c->original_transport_doc, sizeof(c->original_transport_doc), k));
    } else if (is_el(k, "Order") || is_el(k, "Payment") || is_el(k, "TaxCollected")) {
        CW_TRY(header_group_of(rd, k));
    } else if (is_el(k, "GoodsValue")) {
        CW_TRY(amount_of(rd, &c->goods_value_minor, &c->has_goods_value, k, exp));
    } else if (is_el(k, "Freight")) {
        CW_TRY(amount_of(rd, &c->freight_minor, NULL, k, exp));
    } else if (is_el(k, "Insurance")) {
        CW_TRY(amount_of(rd, &c->insurance_minor, NULL, k, exp));
    } else if (is_el(k, "Discount")) {
        CW_TRY(amount_of(rd, &c->discount_minor, NULL, k, exp));
    } else if (is_el(k, "GrossWeightKg")) {
        CW_TRY(weight_of(rd, &c->gross_weight_g, &c->has_gross_weight, k));
    }
out:
    return rc;
}

int cw_checks_consignment_read(cw_checks_consignment_t *out, const xmlNode *node, cw_error_t *err)
{
    reader_t rd = { out, err };
    const xmlNode *cur;
    size_t items = 0;
    int rc = 0;

    memset(out, 0, sizeof(*out));
    out->order_date = -1;
    if (!is_el(node, "Consignment")) {
        rc = cw_error_set(err, CW_EPROTO, "checks", "not a {%s}Consignment", CW_CHECKS_NS);
        goto out;
    }
    /* the currency first: every amount is read with its exponent */
    cur = cw_checks__child(node, CW_CHECKS_NS, "Currency");
    CW_TRY(text_of(&rd, out->currency, sizeof(out->currency), cur));
    upper(out->currency);
    out->currency_exponent = cw_checks_currency_exponent(out->currency);
    for (const xmlNode *k = node->children; k != NULL; k = k->next) {
        items += is_el(k, "Item") ? 1 : 0;
    }
    if (items > CW_CHECKS_ITEMS_MAX) {
        rc = cw_error_set(err, CW_EPROTO, "checks", "more than %d items", CW_CHECKS_ITEMS_MAX);
        goto out;
    }
    out->items = cw_calloc(items > 0 ? items : 1, sizeof(*out->items));
    CW_CHECK_ALLOC(out->items);
    for (const xmlNode *k = node->children; k != NULL; k = k->next) {
        if (is_el(k, "Platform")) {
            CW_TRY(party_of(&rd, &out->platform, k));
        } else if (is_el(k, "Seller")) {
            CW_TRY(party_of(&rd, &out->seller, k));
        } else if (is_el(k, "Buyer")) {
            CW_TRY(party_of(&rd, &out->buyer, k));
        } else if (is_el(k, "Consignee")) {
            CW_TRY(party_of(&rd, &out->consignee, k));
        } else if (is_el(k, "Item")) {
            CW_TRY(item_of(&rd, &out->items[out->items_len], k, (int)out->items_len + 1));
            out->items_len++;
        } else {
            CW_TRY(header_of(&rd, k));
        }
    }
    if (!out->consignee.present) {
        out->consignee = out->buyer;
    }
out:
    if (rc < 0) {
        if (rc == CW_ENOMEM) {
            (void)cw_error_set(err, rc, "checks", "out of memory reading the consignment");
        }
        cw_checks_consignment_fini(out);
    }
    return rc;
}

void cw_checks_consignment_fini(cw_checks_consignment_t *c)
{
    if (c == NULL) {
        return;
    }
    cw_free_null(c->items);
    c->items_len = 0;
}

/* ==== Keys and digests ==== */

void cw_checks_normalise(char *out, size_t size, const char *in)
{
    size_t n = 0;
    int space = 0;

    if (size == 0) {
        return;
    }
    for (; *in != '\0'; in++) {
        unsigned char ch = (unsigned char)*in;
        if (isalnum(ch) || ch >= 0x80) {
            if (space && n > 0 && n + 1 < size) {
                out[n++] = ' ';
            }
            space = 0;
            if (n + 1 < size) {
                out[n++] = (char)toupper(ch);
            }
        } else {
            space = 1;
        }
    }
    out[n] = '\0';
}

static int sha256_hex(char out[CW_CHECKS_HEX_SIZE], const cw_buf_t *b)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(b->data != NULL ? b->data : "", b->len, md, &mdlen, cw_sec_sha256_md(), NULL)
            != 1
        || mdlen != 32) {
        return CW_ECRYPTO;
    }
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* Appends the normalised form of s and a field separator. */
static int append_norm(cw_buf_t *b, const char *s)
{
    char norm[CW_CHECKS_LONG_SIZE];

    cw_checks_normalise(norm, sizeof(norm), s);
    if (cw_buf_appends(b, norm) < 0 || cw_buf_append(b, "\x1f", 1) < 0) {
        return CW_ENOMEM;
    }
    return 0;
}

static int party_id_key(cw_buf_t *b, const cw_checks_party_t *p)
{
    int rc = 0;

    CW_TRY(cw_buf_appends(b, "id\x1f"));
    CW_TRY(append_norm(b, p->id_scheme));
    CW_TRY(append_norm(b, p->id));
out:
    return rc;
}

int cw_checks_buyer_key(char out[CW_CHECKS_HEX_SIZE], const cw_checks_party_t *buyer)
{
    cw_buf_t b;
    char digits[CW_CHECKS_TEXT_SIZE];
    size_t n = 0;
    int rc = 0;

    cw_buf_init(&b, 4096);
    if (buyer->id[0] != '\0') {
        CW_TRY(party_id_key(&b, buyer));
    } else {
        for (const char *p = buyer->phone; *p != '\0' && n + 1 < sizeof(digits); p++) {
            if (*p >= '0' && *p <= '9') {
                digits[n++] = *p;
            }
        }
        digits[n] = '\0';
        CW_TRY(cw_buf_appends(&b, "na\x1f"));
        CW_TRY(append_norm(&b, buyer->name));
        CW_TRY(append_norm(&b, buyer->address.line1));
        CW_TRY(append_norm(&b, buyer->address.postal_code));
        CW_TRY(append_norm(&b, buyer->address.country));
        CW_TRY(append_norm(&b, digits));
    }
    CW_TRY(sha256_hex(out, &b));
out:
    cw_buf_fini(&b);
    return rc == CW_E2BIG ? CW_ENOMEM : rc;
}

int cw_checks_seller_key(char out[CW_CHECKS_HEX_SIZE], const cw_checks_party_t *seller)
{
    cw_buf_t b;
    int rc = 0;

    cw_buf_init(&b, 4096);
    if (seller->id[0] != '\0') {
        CW_TRY(party_id_key(&b, seller));
    } else {
        CW_TRY(cw_buf_appends(&b, "nc\x1f"));
        CW_TRY(append_norm(&b, seller->name));
        CW_TRY(append_norm(&b, seller->address.country));
    }
    CW_TRY(sha256_hex(out, &b));
out:
    cw_buf_fini(&b);
    return rc == CW_E2BIG ? CW_ENOMEM : rc;
}

int cw_checks_business_key(char out[CW_CHECKS_HEX_SIZE],
                           const char *sender,
                           const cw_checks_consignment_t *c)
{
    cw_buf_t b;
    int rc = 0;

    cw_buf_init(&b, 4096);
    CW_TRY(cw_buf_appendf(&b,
                          "%s\x1f"
                          "consignment\x1f",
                          sender != NULL ? sender : ""));
    if (c->order_number[0] != '\0') {
        CW_TRY(cw_buf_appendf(&b, "order\x1f%s", c->order_number));
    } else if (c->transport_doc[0] != '\0') {
        CW_TRY(cw_buf_appendf(&b, "tdoc\x1f%s", c->transport_doc));
    } else {
        CW_TRY(cw_buf_appendf(&b, "cid\x1f%s", c->consignment_id));
    }
    CW_TRY(sha256_hex(out, &b));
out:
    cw_buf_fini(&b);
    return rc == CW_E2BIG ? CW_ENOMEM : rc;
}

/* Feeds a string and a separator (0x1f never occurs in our text). */
static void dig_str(EVP_MD_CTX *d, const char *s, int *ok)
{
    *ok &= EVP_DigestUpdate(d, s, strlen(s)) == 1 && EVP_DigestUpdate(d, "\x1f", 1) == 1;
}

/* Feeds an integer as 8 little-endian bytes (platform independent). */
static void dig_int(EVP_MD_CTX *d, int64_t v, int *ok)
{
    unsigned char b[8];
    uint64_t u = (uint64_t)v;

    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(u >> (8 * i));
    }
    *ok &= EVP_DigestUpdate(d, b, sizeof(b)) == 1;
}

static void dig_party(EVP_MD_CTX *d, const cw_checks_party_t *p, int *ok)
{
    const cw_checks_address_t *a = &p->address;
    const char *const fields[] = { p->id,      p->id_scheme, p->name,        a->line1,
                                   a->line2,   a->city,      a->postal_code, a->region,
                                   a->country, p->phone,     p->email };

    dig_int(d, p->present, ok);
    for (size_t i = 0; i < CW_ARRAY_SIZE(fields); i++) {
        dig_str(d, fields[i], ok);
    }
    dig_int(d, (int64_t)p->regs_len, ok);
    for (size_t i = 0; i < p->regs_len; i++) {
        dig_str(d, p->regs[i].scheme, ok);
        dig_str(d, p->regs[i].id, ok);
    }
}

static void dig_item(EVP_MD_CTX *d, const cw_checks_item_t *it, int *ok)
{
    const char *const texts[] = { it->description, it->hs_code, it->quantity_unit,
                                  it->currency,    it->origin,  it->sku,
                                  it->url };
    const int64_t nums[] = { it->line,
                             it->has_quantity,
                             it->quantity_milli,
                             it->has_unit_value,
                             it->unit_value_minor,
                             it->has_line_value,
                             it->line_value_minor,
                             it->has_net_weight,
                             it->net_weight_g };

    for (size_t i = 0; i < CW_ARRAY_SIZE(texts); i++) {
        dig_str(d, texts[i], ok);
    }
    for (size_t i = 0; i < CW_ARRAY_SIZE(nums); i++) {
        dig_int(d, nums[i], ok);
    }
}

int cw_checks_content_digest(char out[CW_CHECKS_HEX_SIZE], const cw_checks_consignment_t *c)
{
    static const char hex[] = "0123456789abcdef";
    const char *const texts[] = { c->consignment_id,
                                  c->transport_doc,
                                  c->original_transport_doc,
                                  c->dispatch_country,
                                  c->destination_country,
                                  c->order_number,
                                  c->payment_reference,
                                  c->payer,
                                  c->currency,
                                  c->tax_registration.scheme,
                                  c->tax_registration.id };
    const int64_t nums[] = { c->amendment,
                             c->filing,
                             c->mode,
                             c->content,
                             c->order_date,
                             c->has_payment_amount,
                             c->payment_amount_minor,
                             c->has_goods_value,
                             c->goods_value_minor,
                             c->freight_minor,
                             c->insurance_minor,
                             c->discount_minor,
                             c->has_tax_collected,
                             c->tax_collected_minor,
                             c->has_gross_weight,
                             c->gross_weight_g,
                             (int64_t)c->items_len };
    EVP_MD_CTX *d = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = d != NULL && EVP_DigestInit_ex(d, cw_sec_sha256_md(), NULL) == 1;

    for (size_t i = 0; ok && i < CW_ARRAY_SIZE(texts); i++) {
        dig_str(d, texts[i], &ok);
    }
    for (size_t i = 0; ok && i < CW_ARRAY_SIZE(nums); i++) {
        dig_int(d, nums[i], &ok);
    }
    if (ok) {
        dig_party(d, &c->platform, &ok);
        dig_party(d, &c->seller, &ok);
        dig_party(d, &c->buyer, &ok);
        dig_party(d, &c->consignee, &ok);
    }
    for (size_t i = 0; ok && i < c->items_len; i++) {
        dig_item(d, &c->items[i], &ok);
    }
    ok = ok && EVP_DigestFinal_ex(d, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(d);
    if (!ok) {
        return d == NULL ? CW_ENOMEM : CW_ECRYPTO;
    }
    for (unsigned int i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

int cw_checks_history_query_make(cw_checks_history_query_t *q,
                                 const cw_checks_rules_t *rules,
                                 const cw_checks_consignment_t *c,
                                 const cw_checks_context_t *ctx)
{
    const cw_checks_profile_t *p;
    int rc = 0;

    memset(q, 0, sizeof(*q));
    p = ctx->profile_id != NULL && ctx->profile_id[0] != '\0'
            ? cw_checks_rules_profile_get(rules, ctx->profile_id)
            : cw_checks_rules_profile_find(rules, c->destination_country, ctx->reference_date);
    if (p == NULL) {
        rc = CW_ENOENT;
        goto out;
    }
    CW_TRY(cw_checks_buyer_key(q->buyer_key, &c->buyer));
    CW_TRY(cw_checks_seller_key(q->seller_key, &c->seller));
    CW_TRY(cw_checks_business_key(q->business_key, ctx->sender, c));
    (void)cw_strlcpy(q->order_number, c->order_number, sizeof(q->order_number));
    (void)cw_strlcpy(q->consignment_id, c->consignment_id, sizeof(q->consignment_id));
    (void)cw_strlcpy(q->transport_doc, c->transport_doc, sizeof(q->transport_doc));
    (void)cw_strlcpy(q->currency, p->currency, sizeof(q->currency));
    (void)cw_strlcpy(q->destination, c->destination_country, sizeof(q->destination));
    q->until_date = ctx->reference_date;
    /* The windows exactly as SPL-001 and THR-002 compute them. */
    q->split_since_date = ctx->reference_date - (p->split_window_days - 1);
    q->cluster_since_date = ctx->reference_date - (p->cluster_window_days - 1);
    q->since_date =
        q->split_since_date < q->cluster_since_date ? q->split_since_date : q->cluster_since_date;
    q->year_start = cw_checks__days_from_civil(cw_checks_date_year(ctx->reference_date), 1, 1);
    /* THR-002 counts the seller's consignments just under the threshold of
     * the tier that applies: one band per tier, in the profile's order
     * (the assessment's tier indexes band_count). */
    if (p->cluster_min_count > 1) {
        for (size_t i = 0; i < p->tiers_len && i < CW_CHECKS_BANDS_MAX; i++) {
            int64_t hi = p->tiers[i].value_minor;

            q->bands[i].hi = hi;
            q->bands[i].lo = hi - cw_checks_money_percent(hi, p->cluster_margin_bp);
        }
        q->bands_len = p->tiers_len < CW_CHECKS_BANDS_MAX ? p->tiers_len : CW_CHECKS_BANDS_MAX;
    }
out:
    return rc;
}
