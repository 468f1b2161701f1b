/*
 * checks/profile.c: loads rules/ into an immutable, refcounted snapshot.
 *
 * Every file is trusted operator data, but it is still parsed with the safe
 * options config/ uses (no network, no DTD loading, no entity expansion) and
 * validated against the embedded schemas/rules.xsd before a single value is
 * read; a file that fails stops the load with its name and line, and the
 * previous snapshot stays in use (the caller swaps only on success).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>

#include "checks.h"
#include "internal.h"

extern const char cw_schema_rules[];
extern const size_t cw_schema_rules_len;
extern const char cw_schema_consignment[];
extern const size_t cw_schema_consignment_len;

#define RULES_NS "urn:clearway:rules:1"

#if LIBXML_VERSION >= 21300
#define CW_CHECKS_XML_OPTIONS \
    (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_BIG_LINES | XML_PARSE_NO_XXE)
#else
#define CW_CHECKS_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_BIG_LINES)
#endif

#if LIBXML_VERSION >= 21200
typedef const xmlError cw_xml_error_t;
#else
typedef xmlError cw_xml_error_t;
#endif

/* A rules file larger than this is a mistake (the biggest is ~40 KiB). */
#define CW_CHECKS_RULES_FILE_MAX (4u * 1024u * 1024u)
/* Profiles under rules/profiles/. */
#define CW_CHECKS_PROFILES_MAX 64

/* State of one load. */
typedef struct loader {
    cw_checks_rules_t *rules; /* being built */
    xmlSchema *schema;        /* rules.xsd */
    const char *dir;          /* rules directory */
    const char *file;         /* file being read, for messages */
    cw_error_t *err;          /* first problem */
    int schema_failed;        /* the validation reported a problem */
} loader_t;

static void on_schema_error(void *arg, cw_xml_error_t *e)
{
    loader_t *ld = arg;

    ld->schema_failed = 1;
    if (ld->err != NULL && ld->err->code == 0 && e != NULL) {
        (void)cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: %s", ld->file, e->line,
                           e->message != NULL ? e->message : "schema violation");
    }
}

/* ==== Small readers ==== */

static int attr_str(char *out, size_t size, const xmlNode *n, const char *name, loader_t *ld)
{
    int rc = cw_checks__attr(out, size, n, name);

    if (rc < 0) {
        return cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: attribute %s is too long",
                            ld->file, (int)xmlGetLineNo(n), name);
    }
    return 0;
}

static int attr_money4(int64_t *out, const xmlNode *n, const char *name, loader_t *ld)
{
    char buf[64];

    *out = 0;
    if (attr_str(buf, sizeof(buf), n, name, ld) < 0) {
        return CW_ECONFIG;
    }
    if (buf[0] == '\0') {
        return 0;
    }
    if (cw_checks__parse_scale4(out, buf) < 0) {
        return cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: %s=\"%s\" is not an amount",
                            ld->file, (int)xmlGetLineNo(n), name, buf);
    }
    return 0;
}

static int attr_minor(int64_t *out, const xmlNode *n, const char *name, int exp, loader_t *ld)
{
    int64_t v4;
    int rc = attr_money4(&v4, n, name, ld);

    *out = rc < 0 ? 0 : cw_checks__scale4_to_minor(v4, exp);
    return rc;
}

static int attr_int(int32_t *out, const xmlNode *n, const char *name, loader_t *ld)
{
    char buf[32];
    uint64_t v;

    *out = 0;
    if (attr_str(buf, sizeof(buf), n, name, ld) < 0) {
        return CW_ECONFIG;
    }
    if (buf[0] == '\0') {
        return 0;
    }
    if (cw_parse_uint(buf, 0, INT32_MAX, &v) < 0) {
        return cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: %s=\"%s\" is not a number",
                            ld->file, (int)xmlGetLineNo(n), name, buf);
    }
    *out = (int32_t)v;
    return 0;
}

static int attr_bool(int *out, const xmlNode *n, const char *name, loader_t *ld)
{
    char buf[8];

    if (attr_str(buf, sizeof(buf), n, name, ld) < 0) {
        return CW_ECONFIG;
    }
    *out = strcmp(buf, "true") == 0 || strcmp(buf, "1") == 0;
    return 0;
}

static int attr_date(int32_t *out, const xmlNode *n, const char *name, int32_t dflt, loader_t *ld)
{
    char buf[32];

    if (attr_str(buf, sizeof(buf), n, name, ld) < 0) {
        return CW_ECONFIG;
    }
    if (buf[0] == '\0') {
        *out = dflt;
        return 0;
    }
    if (cw_checks_date_parse(out, buf) < 0) {
        return cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: %s=\"%s\" is not a date",
                            ld->file, (int)xmlGetLineNo(n), name, buf);
    }
    return 0;
}

/* Splits a whitespace list of two-character codes into list. */
static int codes2_parse(cw_checks_codes2_t *list, const char *s, loader_t *ld, int line)
{
    list->len = 0;
    while (*s != '\0') {
        size_t n;
        while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') {
            s++;
        }
        n = strcspn(s, " \t\r\n");
        if (n == 0) {
            break;
        }
        if (n != 2 || list->len >= CW_CHECKS_LIST_MAX) {
            return cw_error_set(ld->err, CW_ECONFIG, "checks",
                                "%s:%d: a list entry is not two characters, or too many", ld->file,
                                line);
        }
        memcpy(list->v[list->len], s, 2);
        list->v[list->len][2] = '\0';
        list->len++;
        s += n;
    }
    return 0;
}

static int attr_codes2(cw_checks_codes2_t *list, const xmlNode *n, const char *name, loader_t *ld)
{
    char buf[CW_CHECKS_SOURCE_SIZE];

    if (attr_str(buf, sizeof(buf), n, name, ld) < 0) {
        return CW_ECONFIG;
    }
    return codes2_parse(list, buf, ld, (int)xmlGetLineNo(n));
}

static cw_checks_modes_t modes_parse(const char *s)
{
    static const struct {
        const char *name;
        cw_checks_mode_e mode;
    } map[] = { { "air", CW_CHECKS_MODE_AIR },
                { "road", CW_CHECKS_MODE_ROAD },
                { "rail", CW_CHECKS_MODE_RAIL },
                { "sea", CW_CHECKS_MODE_SEA },
                { "post", CW_CHECKS_MODE_POST } };
    cw_checks_modes_t m = 0;

    for (size_t i = 0; i < CW_ARRAY_SIZE(map); i++) {
        if (strstr(s, map[i].name) != NULL) {
            m |= cw_checks__mode_bit(map[i].mode);
        }
    }
    return m;
}

static int attr_modes(cw_checks_modes_t *out, const xmlNode *n, loader_t *ld)
{
    char buf[128];

    if (attr_str(buf, sizeof(buf), n, "modes", ld) < 0) {
        return CW_ECONFIG;
    }
    *out = modes_parse(buf);
    return 0;
}

static int prov_read(cw_checks_prov_t *prov, const xmlNode *root, const char *file, loader_t *ld)
{
    int rc = 0;

    (void)cw_strlcpy(prov->file, file, sizeof(prov->file));
    CW_TRY(attr_str(prov->version, sizeof(prov->version), root, "version", ld));
    CW_TRY(attr_str(prov->source, sizeof(prov->source), root, "source", ld));
out:
    return rc;
}

static int is_el(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns != NULL
           && strcmp((const char *)n->ns->href, RULES_NS) == 0
           && strcmp((const char *)n->name, name) == 0;
}

static size_t count_children(const xmlNode *root, const char *name)
{
    size_t n = 0;

    for (const xmlNode *k = root->children; k != NULL; k = k->next) {
        n += is_el(k, name) ? 1 : 0;
    }
    return n;
}

/* ==== Files ==== */

/* Reads, parses and validates dir/file; *out is owned by the caller. */
static int doc_load(xmlDoc **out, loader_t *ld, const char *file, const char *root_name)
{
    char path[4096];
    FILE *f = NULL;
    cw_buf_t buf;
    char chunk[8192];
    size_t n;
    xmlDoc *doc = NULL;
    xmlSchemaValidCtxt *vctxt = NULL;
    xmlNode *root;
    int rc = 0;

    cw_buf_init(&buf, CW_CHECKS_RULES_FILE_MAX);
    *out = NULL;
    ld->file = file;
    ld->schema_failed = 0;
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", ld->dir, file) >= sizeof(path)) {
        rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s: path too long", file);
        goto out;
    }
    f = fopen(path, "rb");
    if (f == NULL) {
        rc = cw_error_set(ld->err, CW_EIO, "checks", "%s: cannot open", path);
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        rc = cw_buf_append(&buf, chunk, n);
        if (rc < 0) {
            (void)cw_error_set(ld->err, rc, "checks", "%s: too large or out of memory", path);
            goto out;
        }
    }
    if (ferror(f) || buf.len == 0) {
        rc = cw_error_set(ld->err, CW_EIO, "checks", "%s: unreadable or empty", path);
        goto out;
    }
    doc = xmlReadMemory(buf.data, (int)buf.len, file, NULL, CW_CHECKS_XML_OPTIONS);
    if (doc == NULL) {
        rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s: not well-formed XML", path);
        goto out;
    }
    vctxt = xmlSchemaNewValidCtxt(ld->schema);
    CW_CHECK_ALLOC(vctxt);
    xmlSchemaSetValidStructuredErrors(vctxt, on_schema_error, ld);
    if (xmlSchemaValidateDoc(vctxt, doc) != 0 || ld->schema_failed) {
        rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s: violates rules.xsd", path);
        goto out;
    }
    root = xmlDocGetRootElement(doc);
    if (root == NULL || !is_el(root, root_name)) {
        rc =
            cw_error_set(ld->err, CW_ECONFIG, "checks", "%s: the root must be %s", path, root_name);
        goto out;
    }
    *out = doc;
    doc = NULL;
out:
    xmlSchemaFreeValidCtxt(vctxt);
    xmlFreeDoc(doc);
    if (f != NULL) {
        (void)fclose(f);
    }
    cw_buf_fini(&buf);
    return rc;
}

static int cmp_str2(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int cmp_currency(const void *a, const void *b)
{
    return strcmp(((const cw_checks_currency_t *)a)->code, ((const cw_checks_currency_t *)b)->code);
}

static int load_codes(loader_t *ld)
{
    cw_checks_rules_t *r = ld->rules;
    xmlDoc *doc = NULL;
    xmlNode *root;
    int rc = 0;

    CW_TRY(doc_load(&doc, ld, "codes.xml", "Codes"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&r->codes_prov, root, "codes.xml", ld));
    r->countries = cw_calloc(count_children(root, "Country") + 1, sizeof(*r->countries));
    r->currencies = cw_calloc(count_children(root, "Currency") + 1, sizeof(*r->currencies));
    CW_CHECK_ALLOC(r->countries);
    CW_CHECK_ALLOC(r->currencies);
    for (xmlNode *k = root->children; k != NULL; k = k->next) {
        if (is_el(k, "Country")) {
            CW_TRY(attr_str(r->countries[r->countries_len++], 3, k, "code", ld));
        } else if (is_el(k, "Currency")) {
            cw_checks_currency_t *cur = &r->currencies[r->currencies_len++];
            int32_t e;
            CW_TRY(attr_str(cur->code, sizeof(cur->code), k, "code", ld));
            CW_TRY(attr_int(&e, k, "exponent", ld));
            cur->exponent = e;
        }
    }
    qsort(r->countries, r->countries_len, sizeof(*r->countries), cmp_str2);
    qsort(r->currencies, r->currencies_len, sizeof(*r->currencies), cmp_currency);
out:
    xmlFreeDoc(doc);
    return rc;
}

/* "1.0512" -> 1051200 exactly (at most 6 fraction digits, as the XSD says). */
static int parse_micro(int64_t *out, const char *s, loader_t *ld, const xmlNode *k)
{
    int64_t whole = 0, frac = 0;
    int fd = 0;
    const char *p = s;

    for (; *p >= '0' && *p <= '9' && whole < 1000000000; p++) {
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9' && fd < 6; p++, fd++) {
            frac = frac * 10 + (*p - '0');
        }
    }
    if (*p != '\0' || p == s) {
        return cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: \"%s\" is not a rate", ld->file,
                            (int)xmlGetLineNo(k), s);
    }
    for (; fd < 6; fd++) {
        frac *= 10;
    }
    *out = whole * 1000000 + frac;
    return 0;
}

static int64_t per_base(const cw_checks_fx_table_t *t, const char *cur)
{
    for (size_t i = 0; i < t->rates_len; i++) {
        if (strcmp(t->rates[i].currency, cur) == 0) {
            return t->rates[i].per_base_micro;
        }
    }
    return 0;
}

static int cmp_fx_table(const void *a, const void *b)
{
    const cw_checks_fx_table_t *x = a, *y = b;
    return (x->date > y->date) - (x->date < y->date);
}

static int load_fx(loader_t *ld)
{
    cw_checks_rules_t *r = ld->rules;
    xmlDoc *doc = NULL;
    xmlNode *root;
    int rc = 0;

    CW_TRY(doc_load(&doc, ld, "fx-rates.xml", "FxRates"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&r->fx_prov, root, "fx-rates.xml", ld));
    CW_TRY(attr_str(r->fx_base, sizeof(r->fx_base), root, "base", ld));
    r->fx = cw_calloc(count_children(root, "Table") + 1, sizeof(*r->fx));
    CW_CHECK_ALLOC(r->fx);
    for (xmlNode *t = root->children; t != NULL; t = t->next) {
        cw_checks_fx_table_t *tab;
        if (!is_el(t, "Table")) {
            continue;
        }
        tab = &r->fx[r->fx_len++];
        CW_TRY(attr_date(&tab->date, t, "date", 0, ld));
        tab->rates = cw_calloc(count_children(t, "Rate") + 1, sizeof(*tab->rates));
        CW_CHECK_ALLOC(tab->rates);
        for (xmlNode *k = t->children; k != NULL; k = k->next) {
            cw_checks_fx_rate_t *rate;
            char buf[64];
            if (!is_el(k, "Rate")) {
                continue;
            }
            rate = &tab->rates[tab->rates_len++];
            CW_TRY(attr_str(rate->currency, sizeof(rate->currency), k, "currency", ld));
            CW_TRY(attr_str(buf, sizeof(buf), k, "per-base", ld));
            CW_TRY(parse_micro(&rate->per_base_micro, buf, ld, k));
        }
    }
    qsort(r->fx, r->fx_len, sizeof(*r->fx), cmp_fx_table);
out:
    xmlFreeDoc(doc);
    return rc;
}

static int load_duty(loader_t *ld)
{
    cw_checks_rules_t *r = ld->rules;
    xmlDoc *doc = NULL;
    xmlNode *root;
    int rc = 0;

    CW_TRY(doc_load(&doc, ld, "duty-rates.xml", "DutyRates"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&r->duty_prov, root, "duty-rates.xml", ld));
    r->duty = cw_calloc(count_children(root, "Rate") + 1, sizeof(*r->duty));
    CW_CHECK_ALLOC(r->duty);
    for (xmlNode *k = root->children; k != NULL; k = k->next) {
        cw_checks_duty_t *d;
        char tmp[64];
        if (!is_el(k, "Rate")) {
            continue;
        }
        d = &r->duty[r->duty_len++];
        CW_TRY(attr_str(d->tariff, sizeof(d->tariff), k, "tariff", ld));
        CW_TRY(attr_str(d->heading, sizeof(d->heading), k, "heading", ld));
        CW_TRY(attr_int(&d->bp, k, "bp", ld));
        CW_TRY(attr_str(tmp, sizeof(tmp), k, "unit-min", ld));
        d->has_band = tmp[0] != '\0';
        CW_TRY(attr_money4(&d->unit_min4, k, "unit-min", ld));
        CW_TRY(attr_money4(&d->unit_max4, k, "unit-max", ld));
        if (d->has_band && d->unit_max4 == 0) {
            d->unit_max4 = INT64_MAX / 4;
        }
    }
out:
    xmlFreeDoc(doc);
    return rc;
}

static int cmp_keyword(const void *a, const void *b)
{
    return strcmp(((const cw_checks_keyword_t *)a)->word, ((const cw_checks_keyword_t *)b)->word);
}

/* Sorts the keywords and indexes them by leading byte, so a description is
 * matched only against the keywords that start like one of its words. */
static void keywords_index(cw_checks_rules_t *r)
{
    size_t i = 0;

    qsort(r->keywords, r->keywords_len, sizeof(*r->keywords), cmp_keyword);
    for (unsigned c = 0; c < 256; c++) {
        while (i < r->keywords_len && (unsigned char)r->keywords[i].word[0] < c) {
            i++;
        }
        r->kw_first[c] = i;
    }
    r->kw_first[256] = r->keywords_len;
}

static int load_words(loader_t *ld)
{
    cw_checks_rules_t *r = ld->rules;
    xmlDoc *doc = NULL;
    xmlNode *root;
    char buf[CW_CHECKS_WORD_SIZE];
    int rc = 0;

    CW_TRY(doc_load(&doc, ld, "stop-words.xml", "StopWords"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&r->stop_prov, root, "stop-words.xml", ld));
    r->stop_words = cw_calloc(count_children(root, "Word") + 1, sizeof(*r->stop_words));
    r->fillers = cw_calloc(count_children(root, "Filler") + 1, sizeof(*r->fillers));
    CW_CHECK_ALLOC(r->stop_words);
    CW_CHECK_ALLOC(r->fillers);
    for (xmlNode *k = root->children; k != NULL; k = k->next) {
        if (!is_el(k, "Word") && !is_el(k, "Filler")) {
            continue;
        }
        CW_TRY(cw_checks__text(buf, sizeof(buf), k));
        if (is_el(k, "Word")) {
            cw_checks_normalise(r->stop_words[r->stop_words_len++], CW_CHECKS_WORD_SIZE, buf);
        } else {
            cw_checks_normalise(r->fillers[r->fillers_len++], CW_CHECKS_WORD_SIZE, buf);
        }
    }
    xmlFreeDoc(doc);
    doc = NULL;

    CW_TRY(doc_load(&doc, ld, "hs-keywords.xml", "Keywords"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&r->kw_prov, root, "hs-keywords.xml", ld));
    r->keywords = cw_calloc(count_children(root, "Keyword") + 1, sizeof(*r->keywords));
    CW_CHECK_ALLOC(r->keywords);
    for (xmlNode *k = root->children; k != NULL; k = k->next) {
        cw_checks_keyword_t *kw;
        if (!is_el(k, "Keyword")) {
            continue;
        }
        kw = &r->keywords[r->keywords_len++];
        CW_TRY(attr_str(buf, sizeof(buf), k, "word", ld));
        cw_checks_normalise(kw->word, sizeof(kw->word), buf);
        CW_TRY(attr_codes2(&kw->chapters, k, "chapters", ld));
    }
    qsort(r->stop_words, r->stop_words_len, CW_CHECKS_WORD_SIZE, cmp_str2);
    qsort(r->fillers, r->fillers_len, CW_CHECKS_WORD_SIZE, cmp_str2);
    keywords_index(r);
out:
    xmlFreeDoc(doc);
    return rc;
}

static int restriction_read(cw_checks_restriction_t *x, const xmlNode *k, loader_t *ld)
{
    char buf[CW_CHECKS_SOURCE_SIZE];
    const char *s;
    int rc = 0;

    x->prohibited = is_el(k, "Prohibited");
    CW_TRY(attr_str(x->id, sizeof(x->id), k, "id", ld));
    CW_TRY(attr_str(x->reason, sizeof(x->reason), k, "reason", ld));
    CW_TRY(attr_modes(&x->modes, k, ld));
    CW_TRY(attr_codes2(&x->destinations, k, "destinations", ld));
    CW_TRY(attr_str(buf, sizeof(buf), k, "hs", ld));
    for (s = buf; *s != '\0';) {
        size_t n = strspn(s, " ");
        s += n;
        n = strcspn(s, " ");
        if (n == 0) {
            break;
        }
        if (x->hs_len >= CW_CHECKS_LIST_MAX || n > 10) {
            rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: too many HS prefixes",
                              ld->file, (int)xmlGetLineNo(k));
            goto out;
        }
        memcpy(x->hs[x->hs_len], s, n);
        x->hs[x->hs_len++][n] = '\0';
        s += n;
    }
    CW_TRY(attr_str(buf, sizeof(buf), k, "keywords", ld));
    for (s = buf; *s != '\0';) {
        char phrase[CW_CHECKS_WORD_SIZE];
        size_t n = strcspn(s, ";");
        if (n > 0) {
            if (x->phrases_len >= CW_CHECKS_PHRASES_MAX || n >= sizeof(phrase)) {
                rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: too many keywords",
                                  ld->file, (int)xmlGetLineNo(k));
                goto out;
            }
            memcpy(phrase, s, n);
            phrase[n] = '\0';
            cw_checks_normalise(x->phrases[x->phrases_len], CW_CHECKS_WORD_SIZE, phrase);
            x->phrases_len += x->phrases[x->phrases_len][0] != '\0';
        }
        s += n + (s[n] == ';');
    }
out:
    return rc;
}

static int load_lists(loader_t *ld)
{
    cw_checks_rules_t *r = ld->rules;
    xmlDoc *doc = NULL;
    xmlNode *root;
    int rc = 0;

    CW_TRY(doc_load(&doc, ld, "restricted.xml", "Restrictions"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&r->restr_prov, root, "restricted.xml", ld));
    r->restrictions =
        cw_calloc(count_children(root, "Prohibited") + count_children(root, "Restricted") + 1,
                  sizeof(*r->restrictions));
    CW_CHECK_ALLOC(r->restrictions);
    for (xmlNode *k = root->children; k != NULL; k = k->next) {
        if (is_el(k, "Prohibited") || is_el(k, "Restricted")) {
            CW_TRY(restriction_read(&r->restrictions[r->restrictions_len++], k, ld));
        }
    }
    xmlFreeDoc(doc);
    doc = NULL;

    CW_TRY(doc_load(&doc, ld, "trusted.xml", "TrustedOperators"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&r->trusted_prov, root, "trusted.xml", ld));
    r->trusted = cw_calloc(count_children(root, "Operator") + 1, sizeof(*r->trusted));
    CW_CHECK_ALLOC(r->trusted);
    for (xmlNode *k = root->children; k != NULL; k = k->next) {
        cw_checks_trusted_t *t;
        if (!is_el(k, "Operator")) {
            continue;
        }
        t = &r->trusted[r->trusted_len++];
        CW_TRY(attr_str(t->party, sizeof(t->party), k, "party", ld));
        CW_TRY(attr_str(t->aeo, sizeof(t->aeo), k, "aeo", ld));
        CW_TRY(attr_date(&t->from, k, "from", 0, ld));
        CW_TRY(attr_date(&t->to, k, "to", CW_CHECKS_DATE_OPEN, ld));
    }
out:
    xmlFreeDoc(doc);
    return rc;
}

static const struct {
    const char *name;
    unsigned bit;
} field_names[] = {
    { "transport-document", CW_CHECKS_F_TRANSPORT_DOC },
    { "seller.name", CW_CHECKS_F_SELLER_NAME },
    { "seller.address", CW_CHECKS_F_SELLER_ADDRESS },
    { "seller.country", CW_CHECKS_F_SELLER_COUNTRY },
    { "buyer.name", CW_CHECKS_F_BUYER_NAME },
    { "buyer.address", CW_CHECKS_F_BUYER_ADDRESS },
    { "buyer.phone", CW_CHECKS_F_BUYER_PHONE },
    { "buyer.id", CW_CHECKS_F_BUYER_ID },
    { "platform", CW_CHECKS_F_PLATFORM },
    { "dispatch-country", CW_CHECKS_F_DISPATCH },
    { "transport-mode", CW_CHECKS_F_MODE },
    { "content-type", CW_CHECKS_F_CONTENT },
    { "order.number", CW_CHECKS_F_ORDER_NUMBER },
    { "order.date", CW_CHECKS_F_ORDER_DATE },
    { "payment.reference", CW_CHECKS_F_PAYMENT_REF },
    { "payment.amount", CW_CHECKS_F_PAYMENT_AMOUNT },
    { "currency", CW_CHECKS_F_CURRENCY },
    { "gross-weight", CW_CHECKS_F_GROSS_WEIGHT },
    { "item.description", CW_CHECKS_F_ITEM_DESCRIPTION },
    { "item.hs-code", CW_CHECKS_F_ITEM_HS },
    { "item.quantity", CW_CHECKS_F_ITEM_QUANTITY },
    { "item.value", CW_CHECKS_F_ITEM_VALUE },
    { "item.net-weight", CW_CHECKS_F_ITEM_NET_WEIGHT },
    { "item.origin", CW_CHECKS_F_ITEM_ORIGIN },
};

static unsigned fields_parse(const char *s)
{
    unsigned bits = 0;

    while (*s != '\0') {
        size_t n;
        s += strspn(s, " \t\r\n");
        n = strcspn(s, " \t\r\n");
        for (size_t i = 0; n > 0 && i < CW_ARRAY_SIZE(field_names); i++) {
            if (strlen(field_names[i].name) == n && memcmp(field_names[i].name, s, n) == 0) {
                bits |= field_names[i].bit;
            }
        }
        s += n;
    }
    return bits;
}

static unsigned schemes_parse(const char *s)
{
    static const struct {
        const char *name;
        unsigned bit;
    } map[] = { { "IOSS", CW_CHECKS_SCHEME_IOSS },
                { "UKVAT", CW_CHECKS_SCHEME_UKVAT },
                { "ABN", CW_CHECKS_SCHEME_ABN },
                { "ARN", CW_CHECKS_SCHEME_ARN },
                { "CNEBP", CW_CHECKS_SCHEME_CNEBP } };
    unsigned bits = 0;

    for (size_t i = 0; i < CW_ARRAY_SIZE(map); i++) {
        if (strstr(s, map[i].name) != NULL) {
            bits |= map[i].bit;
        }
    }
    return bits;
}

static cw_checks_collection_e model_parse(const char *s)
{
    if (strcmp(s, "vendor") == 0) {
        return CW_CHECKS_COLLECT_VENDOR;
    }
    if (strcmp(s, "platform") == 0) {
        return CW_CHECKS_COLLECT_PLATFORM;
    }
    if (strcmp(s, "carrier") == 0) {
        return CW_CHECKS_COLLECT_CARRIER;
    }
    return CW_CHECKS_COLLECT_CONSUMER;
}

static int tier_read(cw_checks_tier_t *t, const xmlNode *k, int exp, loader_t *ld)
{
    int rc = 0;

    CW_TRY(attr_minor(&t->value_minor, k, "value", exp, ld));
    CW_TRY(attr_minor(&t->duty_free_minor, k, "duty-free", exp, ld));
    CW_TRY(attr_minor(&t->tax_free_minor, k, "tax-free", exp, ld));
    CW_TRY(attr_modes(&t->modes, k, ld));
    CW_TRY(attr_codes2(&t->dispatch, k, "dispatch", ld));
out:
    return rc;
}

static int tax_read(cw_checks_profile_t *p, const xmlNode *k, loader_t *ld)
{
    int rc = 0;

    CW_TRY(attr_str(p->tax_name, sizeof(p->tax_name), k, "name", ld));
    CW_TRY(attr_int(&p->tax_bp, k, "bp", ld));
    for (const xmlNode *r = k->children; r != NULL; r = r->next) {
        cw_checks_tax_rate_t *tr;
        if (!is_el(r, "Rate")) {
            continue;
        }
        tr = &p->tax_rates[p->tax_rates_len++];
        CW_TRY(attr_str(tr->country, sizeof(tr->country), r, "country", ld));
        CW_TRY(attr_int(&tr->bp, r, "bp", ld));
    }
out:
    return rc;
}

static int duty_collector_read(cw_checks_profile_t *p, const xmlNode *k, loader_t *ld)
{
    char buf[128];
    int rc = 0;

    if (is_el(k, "Duty")) {
        CW_TRY(attr_str(p->tariff, sizeof(p->tariff), k, "tariff", ld));
        CW_TRY(attr_int(&p->duty_default_bp, k, "default-bp", ld));
        CW_TRY(attr_str(buf, sizeof(buf), k, "flat-per-subheading", ld));
        p->has_flat = buf[0] != '\0';
        CW_TRY(
            attr_minor(&p->flat_per_subheading_minor, k, "flat-per-subheading", p->exponent, ld));
        CW_TRY(attr_minor(&p->flat_below_minor, k, "flat-below", p->exponent, ld));
        goto out;
    }
    CW_TRY(attr_str(buf, sizeof(buf), k, "schemes", ld));
    p->schemes = schemes_parse(buf);
    CW_TRY(attr_str(buf, sizeof(buf), k, "max", ld));
    p->has_collector_max = buf[0] != '\0';
    CW_TRY(attr_minor(&p->collector_max_minor, k, "max", p->exponent, ld));
    CW_TRY(attr_bool(&p->collects_duty, k, "collects-duty", ld));
    CW_TRY(attr_str(buf, sizeof(buf), k, "fallback", ld));
    p->fallback = model_parse(buf);
out:
    return rc;
}

/* Reads one child element of Profile (after Valid and Currency). */
static int profile_child(cw_checks_profile_t *p, const xmlNode *k, loader_t *ld)
{
    char buf[1024];
    int rc = 0;

    if (is_el(k, "Data")) {
        int32_t digits;
        CW_TRY(attr_bool(&p->strict, k, "strict", ld));
        CW_TRY(attr_int(&digits, k, "hs-digits", ld));
        p->hs_digits = digits;
        CW_TRY(attr_str(buf, sizeof(buf), k, "mandatory", ld));
        p->mandatory = fields_parse(buf);
    } else if (is_el(k, "Valuation")) {
        CW_TRY(attr_str(buf, sizeof(buf), k, "basis", ld));
        p->cif = strcmp(buf, "cif") == 0;
    } else if (is_el(k, "Threshold")) {
        CW_TRY(tier_read(&p->tiers[p->tiers_len++], k, p->exponent, ld));
    } else if (is_el(k, "Exclude")) {
        CW_TRY(attr_codes2(&p->exclude, k, "chapters", ld));
        CW_TRY(attr_str(p->exclude_reason, sizeof(p->exclude_reason), k, "reason", ld));
    } else if (is_el(k, "Duty") || is_el(k, "Collector")) {
        CW_TRY(duty_collector_read(p, k, ld));
    } else if (is_el(k, "Tax")) {
        CW_TRY(tax_read(p, k, ld));
    } else if (is_el(k, "Gift")) {
        CW_TRY(attr_minor(&p->gift_allowance_minor, k, "allowance", p->exponent, ld));
        CW_TRY(attr_bool(&p->gift_tax_free, k, "tax-free", ld));
    } else if (is_el(k, "Split")) {
        CW_TRY(attr_int(&p->split_window_days, k, "window-days", ld));
    } else if (is_el(k, "Cluster")) {
        CW_TRY(attr_int(&p->cluster_margin_bp, k, "margin-bp", ld));
        CW_TRY(attr_int(&p->cluster_min_count, k, "min-count", ld));
        CW_TRY(attr_int(&p->cluster_window_days, k, "window-days", ld));
    } else if (is_el(k, "Tolerance")) {
        CW_TRY(attr_int(&p->tolerance_bp, k, "percent-bp", ld));
        CW_TRY(attr_money4(&p->tolerance_abs4, k, "abs", ld));
    } else if (is_el(k, "Limits")) {
        p->has_limits = 1;
        CW_TRY(attr_minor(&p->limit_single_minor, k, "single", p->exponent, ld));
        CW_TRY(attr_minor(&p->limit_annual_minor, k, "annual", p->exponent, ld));
    } else if (is_el(k, "Origin")) {
        CW_TRY(attr_codes2(&p->special_measures, k, "special-measures", ld));
    } else if (is_el(k, "Description")) {
        CW_TRY(attr_bool(&p->ss_red, k, "safety-security-red", ld));
    } else if (is_el(k, "Plausibility")) {
        CW_TRY(attr_minor(&p->min_per_kg_minor, k, "min-per-kg", p->exponent, ld));
        CW_TRY(attr_minor(&p->max_per_kg_minor, k, "max-per-kg", p->exponent, ld));
    }
out:
    return rc;
}

static int profile_load(cw_checks_profile_t *p, loader_t *ld, const char *file)
{
    xmlDoc *doc = NULL;
    xmlNode *root;
    char buf[1024];
    int rc = 0;

    CW_TRY(doc_load(&doc, ld, file, "Profile"));
    root = xmlDocGetRootElement(doc);
    CW_TRY(prov_read(&p->prov, root, file, ld));
    CW_TRY(attr_str(p->id, sizeof(p->id), root, "id", ld));
    for (const xmlNode *k = root->children; k != NULL; k = k->next) {
        if (is_el(k, "Countries")) {
            CW_TRY(cw_checks__text(buf, sizeof(buf), k));
            CW_TRY(codes2_parse(&p->countries, buf, ld, (int)xmlGetLineNo(k)));
        } else if (is_el(k, "Valid")) {
            CW_TRY(attr_date(&p->valid_from, k, "from", 0, ld));
            CW_TRY(attr_date(&p->valid_to, k, "to", CW_CHECKS_DATE_OPEN, ld));
        } else if (is_el(k, "Currency")) {
            CW_TRY(cw_checks__text(p->currency, sizeof(p->currency), k));
            p->exponent = cw_checks__currency_exponent(ld->rules, p->currency);
            if (p->exponent < 0) {
                rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s:%d: unknown currency %s", file,
                                  (int)xmlGetLineNo(k), p->currency);
                goto out;
            }
        } else {
            CW_TRY(profile_child(p, k, ld));
        }
    }
    if (p->valid_to < p->valid_from) {
        rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s: Valid/@to is before @from", file);
        goto out;
    }
out:
    xmlFreeDoc(doc);
    return rc;
}

/*
 * Whole-set checks: unique ids, no two profiles of one country overlapping
 * in time, an FX rate for every profile currency in every table.
 */
static int profiles_cross_check(loader_t *ld)
{
    const cw_checks_rules_t *r = ld->rules;

    for (size_t i = 0; i < r->profiles_len; i++) {
        const cw_checks_profile_t *a = &r->profiles[i];
        for (size_t t = 0; t < r->fx_len; t++) {
            if (per_base(&r->fx[t], a->currency) <= 0) {
                return cw_error_set(ld->err, CW_ECONFIG, "checks",
                                    "%s: no FX rate for %s in the table of fx-rates.xml",
                                    a->prov.file, a->currency);
            }
        }
        for (size_t j = i + 1; j < r->profiles_len; j++) {
            const cw_checks_profile_t *b = &r->profiles[j];
            if (strcmp(a->id, b->id) == 0) {
                return cw_error_set(ld->err, CW_ECONFIG, "checks", "profile id %s used twice",
                                    a->id);
            }
            for (size_t c = 0; c < a->countries.len; c++) {
                if (cw_checks__codes2_has(&b->countries, a->countries.v[c])
                    && a->valid_from <= b->valid_to && b->valid_from <= a->valid_to) {
                    return cw_error_set(ld->err, CW_ECONFIG, "checks",
                                        "profiles %s and %s overlap for %s", a->id, b->id,
                                        a->countries.v[c]);
                }
            }
        }
    }
    return 0;
}

static int cmp_profile(const void *a, const void *b)
{
    return strcmp(((const cw_checks_profile_t *)a)->id, ((const cw_checks_profile_t *)b)->id);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_profiles(loader_t *ld)
{
    char path[4096];
    char *names[CW_CHECKS_PROFILES_MAX];
    size_t names_len = 0;
    DIR *d = NULL;
    struct dirent *e;
    int rc = 0;

    if ((size_t)snprintf(path, sizeof(path), "%s/profiles", ld->dir) >= sizeof(path)) {
        rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "rules directory path too long");
        goto out;
    }
    d = opendir(path);
    if (d == NULL) {
        rc = cw_error_set(ld->err, CW_EIO, "checks", "%s: cannot open directory", path);
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char name[300];
        if (n < 5 || strcmp(e->d_name + n - 4, ".xml") != 0 || e->d_name[0] == '.') {
            continue;
        }
        if (names_len >= CW_CHECKS_PROFILES_MAX) {
            rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s: more than %d profiles", path,
                              CW_CHECKS_PROFILES_MAX);
            goto out;
        }
        (void)snprintf(name, sizeof(name), "profiles/%s", e->d_name);
        names[names_len] = cw_strdup(name);
        CW_CHECK_ALLOC(names[names_len]);
        names_len++;
    }
    if (names_len == 0) {
        rc = cw_error_set(ld->err, CW_ECONFIG, "checks", "%s: no profile", path);
        goto out;
    }
    qsort(names, names_len, sizeof(names[0]), cmp_name);
    ld->rules->profiles = cw_calloc(names_len, sizeof(*ld->rules->profiles));
    CW_CHECK_ALLOC(ld->rules->profiles);
    for (size_t i = 0; i < names_len; i++) {
        CW_TRY(profile_load(&ld->rules->profiles[i], ld, names[i]));
        ld->rules->profiles_len++;
    }
    qsort(ld->rules->profiles, ld->rules->profiles_len, sizeof(cw_checks_profile_t), cmp_profile);
    CW_TRY(profiles_cross_check(ld));
out:
    for (size_t i = 0; i < names_len; i++) {
        cw_free(names[i]);
    }
    if (d != NULL) {
        (void)closedir(d);
    }
    return rc;
}

static int compile_schema(xmlSchema **out, const char *data, size_t len, cw_error_t *err)
{
    xmlSchemaParserCtxt *pctxt = NULL;
    int rc = 0;

    pctxt = xmlSchemaNewMemParserCtxt(data, (int)len);
    CW_CHECK_ALLOC(pctxt);
    *out = xmlSchemaParse(pctxt);
    if (*out == NULL) {
        rc = cw_error_set(err, CW_EINTERNAL, "checks", "an embedded schema does not compile");
    }
out:
    xmlSchemaFreeParserCtxt(pctxt);
    return rc;
}

static void version_summary(cw_checks_rules_t *r)
{
    cw_buf_t b;
    const cw_checks_prov_t *provs[] = { &r->codes_prov,  &r->fx_prov, &r->duty_prov,
                                        &r->stop_prov,   &r->kw_prov, &r->restr_prov,
                                        &r->trusted_prov };

    cw_buf_init(&b, sizeof(r->version) - 1);
    for (size_t i = 0; i < CW_ARRAY_SIZE(provs); i++) {
        if (cw_buf_appendf(&b, "%s%s@%s", i > 0 ? " " : "", provs[i]->file, provs[i]->version)
            < 0) {
            break;
        }
    }
    (void)cw_strlcpy(r->version, b.data != NULL ? b.data : "", sizeof(r->version));
    cw_buf_fini(&b);
}

int cw_checks_rules_load(cw_checks_rules_t **out, const char *dir, cw_error_t *err)
{
    loader_t ld;
    cw_checks_rules_t *r = NULL;
    int rc = 0;

    *out = NULL;
    memset(&ld, 0, sizeof(ld));
    ld.dir = dir;
    ld.err = err;
    r = cw_calloc(1, sizeof(*r));
    CW_CHECK_ALLOC(r);
    atomic_init(&r->refs, 1);
    ld.rules = r;
    CW_TRY(compile_schema(&ld.schema, cw_schema_rules, cw_schema_rules_len, err));
    CW_TRY(compile_schema(&r->consignment_schema, cw_schema_consignment, cw_schema_consignment_len,
                          err));
    CW_TRY(load_codes(&ld));
    CW_TRY(load_fx(&ld));
    CW_TRY(load_duty(&ld));
    CW_TRY(load_words(&ld));
    CW_TRY(load_lists(&ld));
    CW_TRY(load_profiles(&ld));
    version_summary(r);
    *out = r;
    r = NULL;
out:
    if (rc == CW_ENOMEM) {
        (void)cw_error_set(err, rc, "checks", "out of memory loading the rules");
    }
    xmlSchemaFree(ld.schema);
    cw_checks_rules_unref(r);
    return rc;
}

cw_checks_rules_t *cw_checks_rules_ref(cw_checks_rules_t *rules)
{
    atomic_fetch_add(&rules->refs, 1);
    return rules;
}

void cw_checks_rules_unref(cw_checks_rules_t *r)
{
    if (r == NULL || atomic_fetch_sub(&r->refs, 1) != 1) {
        return;
    }
    for (size_t i = 0; i < r->fx_len; i++) {
        cw_free(r->fx[i].rates);
    }
    cw_free(r->fx);
    cw_free(r->countries);
    cw_free(r->currencies);
    cw_free(r->duty);
    cw_free(r->stop_words);
    cw_free(r->fillers);
    cw_free(r->keywords);
    cw_free(r->restrictions);
    cw_free(r->trusted);
    cw_free(r->profiles);
    xmlSchemaFree(r->consignment_schema);
    cw_free(r);
}

const char *cw_checks_rules_version(const cw_checks_rules_t *rules)
{
    return rules->version;
}

/* ==== Lookups ==== */

const cw_checks_profile_t *
cw_checks_rules_profile_find(const cw_checks_rules_t *rules, const char *country, int32_t date)
{
    for (size_t i = 0; i < rules->profiles_len; i++) {
        const cw_checks_profile_t *p = &rules->profiles[i];
        if (cw_checks__codes2_has(&p->countries, country) && date >= p->valid_from
            && date <= p->valid_to) {
            return p;
        }
    }
    return NULL;
}

const cw_checks_profile_t *cw_checks_rules_profile_get(const cw_checks_rules_t *rules,
                                                       const char *id)
{
    for (size_t i = 0; i < rules->profiles_len; i++) {
        if (strcmp(rules->profiles[i].id, id) == 0) {
            return &rules->profiles[i];
        }
    }
    return NULL;
}

const char *cw_checks_profile_id(const cw_checks_profile_t *profile)
{
    return profile->id;
}

const char *cw_checks_profile_version(const cw_checks_profile_t *profile)
{
    return profile->prov.version;
}

int cw_checks__currency_exponent(const cw_checks_rules_t *rules, const char *currency)
{
    cw_checks_currency_t key;
    const cw_checks_currency_t *hit;

    if (currency == NULL || strlen(currency) != 3) {
        return -1;
    }
    memcpy(key.code, currency, 4);
    hit = bsearch(&key, rules->currencies, rules->currencies_len, sizeof(key), cmp_currency);
    return hit != NULL ? hit->exponent : -1;
}

int cw_checks__country_known(const cw_checks_rules_t *rules, const char *country)
{
    if (country == NULL || strlen(country) != 2) {
        return 0;
    }
    return bsearch(country, rules->countries, rules->countries_len, sizeof(*rules->countries),
                   cmp_str2)
           != NULL;
}

int cw_checks__fx_find(cw_checks_fx_t *out,
                       const cw_checks_rules_t *rules,
                       const char *from,
                       const char *to,
                       int32_t date)
{
    const cw_checks_fx_table_t *t = NULL;

    for (size_t i = 0; i < rules->fx_len; i++) {
        if (rules->fx[i].date <= date) {
            t = &rules->fx[i];
        }
    }
    if (t == NULL && rules->fx_len > 0) {
        t = &rules->fx[0]; /* before the first table: the oldest one */
    }
    if (t == NULL) {
        return CW_ENOENT;
    }
    out->date = t->date;
    if (strcmp(from, to) == 0) {
        out->from_micro = 1000000;
        out->to_micro = 1000000;
        return 0;
    }
    out->from_micro = per_base(t, from);
    out->to_micro = per_base(t, to);
    /* The ratio stays exact: rounding it to 10^-6 here would move values
     * across a threshold (money.c converts with both terms). */
    return out->from_micro > 0 && out->to_micro > 0 ? 0 : CW_ENOENT;
}

const cw_checks_duty_t *
cw_checks__duty_find(const cw_checks_rules_t *rules, const char *tariff, const char *hs)
{
    if (strlen(hs) < 4) {
        return NULL;
    }
    for (size_t i = 0; i < rules->duty_len; i++) {
        const cw_checks_duty_t *d = &rules->duty[i];
        if (strcmp(d->tariff, tariff) == 0 && memcmp(d->heading, hs, 4) == 0) {
            return d;
        }
    }
    return NULL;
}

const cw_checks_trusted_t *
cw_checks__trusted_find(const cw_checks_rules_t *rules, const char *party, int32_t date)
{
    if (party == NULL || party[0] == '\0') {
        return NULL;
    }
    for (size_t i = 0; i < rules->trusted_len; i++) {
        const cw_checks_trusted_t *t = &rules->trusted[i];
        if (strcmp(t->party, party) == 0 && date >= t->from && date <= t->to) {
            return t;
        }
    }
    return NULL;
}

int cw_checks__codes2_has(const cw_checks_codes2_t *list, const char *code)
{
    for (size_t i = 0; i < list->len; i++) {
        if (strcmp(list->v[i], code) == 0) {
            return 1;
        }
    }
    return 0;
}
