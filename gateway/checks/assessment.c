/*
 * checks/assessment.c: the assessment as XML (urn:clearway:assessment:1,
 * schemas/assessment.xsd) for the envelope payload, and as text for the
 * CLI; and XSD validation of a consignment (SYN-001).
 *
 * Both renderings are deterministic: no clock, fixed element order,
 * amounts as decimal strings with the currency's exponent.
 */
#include <stdio.h>
#include <string.h>

#include <libxml/xmlschemas.h>

#include "checks.h"
#include "internal.h"

static xmlNode *el(xmlNode *parent, xmlNs *ns, const char *name, const char *text)
{
    return xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text);
}

static xmlNode *money_el(xmlNode *parent, xmlNs *ns, const char *name, int64_t v, int exp)
{
    char buf[48];

    cw_checks_money_format(buf, sizeof(buf), v, exp);
    return el(parent, ns, name, buf);
}

static int findings_xml(xmlNode *a, xmlNs *ns, const cw_checks_assessment_t *as)
{
    xmlNode *list = el(a, ns, "Findings", NULL);

    if (list == NULL) {
        return CW_ENOMEM;
    }
    for (size_t i = 0; i < as->findings_len; i++) {
        const cw_checks_finding_t *f = &as->findings[i];
        xmlNode *n = el(list, ns, "Finding", NULL);
        if (n == NULL || xmlNewProp(n, (const xmlChar *)"code", (const xmlChar *)f->code) == NULL
            || xmlNewProp(n, (const xmlChar *)"lane", (const xmlChar *)cw_checks_lane_name(f->lane))
                   == NULL
            || el(n, ns, "Fields", f->fields) == NULL || el(n, ns, "Message", f->message) == NULL
            || el(n, ns, "Source", f->source) == NULL) {
            return CW_ENOMEM;
        }
    }
    return 0;
}

static int revenue_xml(xmlNode *a, xmlNs *ns, const cw_checks_assessment_t *as)
{
    const cw_checks_revenue_t *rv = &as->revenue;
    int dexp = cw_checks_currency_exponent(rv->declared_currency);
    xmlNode *r = el(a, ns, "Revenue", NULL);
    xmlNode *n;
    char buf[48];

    if (r == NULL
        || xmlNewProp(r, (const xmlChar *)"currency", (const xmlChar *)rv->currency) == NULL
        || (!rv->computed
            && xmlNewProp(r, (const xmlChar *)"computed", (const xmlChar *)"false") == NULL)) {
        return CW_ENOMEM;
    }
    n = money_el(r, ns, "DeclaredValue", rv->declared_minor, dexp);
    if (n == NULL
        || xmlNewProp(n, (const xmlChar *)"currency", (const xmlChar *)rv->declared_currency)
               == NULL) {
        return CW_ENOMEM;
    }
    cw_checks_money_format(buf, sizeof(buf), rv->fx_rate_micro, 6);
    n = el(r, ns, "FxRate", buf);
    if (n == NULL) {
        return CW_ENOMEM;
    }
    cw_checks_date_format(buf, sizeof(buf), rv->fx_date);
    if (xmlNewProp(n, (const xmlChar *)"date", (const xmlChar *)buf) == NULL
        || money_el(r, ns, "IntrinsicValue", rv->intrinsic_minor, rv->exponent) == NULL
        || money_el(r, ns, "CustomsValue", rv->customs_value_minor, rv->exponent) == NULL
        || el(r, ns, "LowValue", rv->low_value ? "true" : "false") == NULL
        || money_el(r, ns, "Duty", rv->duty_minor, rv->exponent) == NULL
        || money_el(r, ns, "Tax", rv->tax_minor, rv->exponent) == NULL) {
        return CW_ENOMEM;
    }
    n = el(r, ns, "Collection", NULL);
    if (n == NULL
        || xmlNewProp(n, (const xmlChar *)"model",
                      (const xmlChar *)cw_checks_collection_name(rv->collection))
               == NULL
        || (rv->collector_id[0] != '\0'
            && xmlNewProp(n, (const xmlChar *)"id", (const xmlChar *)rv->collector_id) == NULL)) {
        return CW_ENOMEM;
    }
    n = money_el(r, ns, "DueAtBorder", rv->due_at_border_minor, rv->exponent);
    if (n == NULL
        || xmlNewProp(n, (const xmlChar *)"due",
                      (const xmlChar *)(rv->due_at_border ? "true" : "false"))
               == NULL) {
        return CW_ENOMEM;
    }
    return 0;
}

int cw_checks_assessment_to_xml(xmlNode **out,
                                const cw_checks_assessment_t *a,
                                const char *node_id,
                                xmlDoc *doc,
                                xmlNode *parent)
{
    xmlNode *root = NULL;
    xmlNode *n;
    xmlNs *ns;
    char date[16];
    int rc = 0;

    *out = NULL;
    root = xmlNewDocNode(doc, NULL, (const xmlChar *)"Assessment", NULL);
    CW_CHECK_ALLOC(root);
    ns = xmlNewNs(root, (const xmlChar *)CW_CHECKS_ASSESSMENT_NS, NULL);
    CW_CHECK_ALLOC(ns);
    xmlSetNs(root, ns);
    CW_CHECK_ALLOC(xmlNewProp(root, (const xmlChar *)"node",
                              (const xmlChar *)(node_id != NULL ? node_id : "")));
    CW_CHECK_ALLOC(el(root, ns, "Lane", cw_checks_lane_name(a->lane)));
    n = el(root, ns, "Profile", NULL);
    CW_CHECK_ALLOC(n);
    CW_CHECK_ALLOC(xmlNewProp(n, (const xmlChar *)"id", (const xmlChar *)a->profile_id));
    CW_CHECK_ALLOC(xmlNewProp(n, (const xmlChar *)"version", (const xmlChar *)a->profile_version));
    cw_checks_date_format(date, sizeof(date), a->reference_date);
    CW_CHECK_ALLOC(el(root, ns, "ReferenceDate", date));
    CW_CHECK_ALLOC(el(root, ns, "Destination", a->destination));
    CW_CHECK_ALLOC(el(root, ns, "Sender", a->sender));
    CW_CHECK_ALLOC(el(root, ns, "Trusted", a->trusted ? "true" : "false"));
    CW_TRY(findings_xml(root, ns, a));
    if (a->profile_id[0] != '\0') {
        CW_TRY(revenue_xml(root, ns, a));
    }
    CW_CHECK_ALLOC(el(root, ns, "Rules", a->rules_version));
    if (parent != NULL) {
        CW_CHECK_ALLOC(xmlAddChild(parent, root));
    }
    *out = root;
    root = NULL;
out:
    if (root != NULL) {
        xmlFreeNode(root);
    }
    return rc;
}

static int revenue_text(cw_buf_t *b, const cw_checks_assessment_t *a)
{
    const cw_checks_revenue_t *rv = &a->revenue;
    char d[48], i[48], cv[48], fx[48], du[48], tx[48], due[48], fxd[16];
    int rc = 0;

    cw_checks_money_format(d, sizeof(d), rv->declared_minor,
                           cw_checks_currency_exponent(rv->declared_currency));
    cw_checks_money_format(i, sizeof(i), rv->intrinsic_minor, rv->exponent);
    cw_checks_money_format(cv, sizeof(cv), rv->customs_value_minor, rv->exponent);
    cw_checks_money_format(fx, sizeof(fx), rv->fx_rate_micro, 6);
    cw_checks_money_format(du, sizeof(du), rv->duty_minor, rv->exponent);
    cw_checks_money_format(tx, sizeof(tx), rv->tax_minor, rv->exponent);
    cw_checks_money_format(due, sizeof(due), rv->due_at_border_minor, rv->exponent);
    cw_checks_date_format(fxd, sizeof(fxd), rv->fx_date);
    CW_TRY(cw_buf_appendf(b, "declared:    %s %s\n", d, rv->declared_currency));
    CW_TRY(cw_buf_appendf(b, "fx rate:     %s (%s -> %s, table of %s)\n", fx, rv->declared_currency,
                          rv->currency, fxd));
    if (!rv->computed) {
        /* The XML says so with Revenue/@computed="false"; THR-001 or
         * VAL-001 carries the reason. */
        CW_TRY(cw_buf_appendf(b, "revenue:     not computed (a value cannot be converted or is "
                                 "out of range; see THR-001, VAL-001)\n"));
        CW_TRY(cw_buf_appendf(b, "collection:  %s\n", cw_checks_collection_name(rv->collection)));
        goto out;
    }
    CW_TRY(cw_buf_appendf(b, "intrinsic:   %s %s (low value: %s)\n", i, rv->currency,
                          rv->low_value ? "yes" : "no"));
    CW_TRY(cw_buf_appendf(b, "customs val: %s %s\n", cv, rv->currency));
    CW_TRY(cw_buf_appendf(b, "duty:        %s %s\n", du, rv->currency));
    CW_TRY(cw_buf_appendf(b, "tax:         %s %s\n", tx, rv->currency));
    CW_TRY(cw_buf_appendf(b, "collection:  %s%s%s\n", cw_checks_collection_name(rv->collection),
                          rv->collector_id[0] != '\0' ? " " : "", rv->collector_id));
    CW_TRY(cw_buf_appendf(b, "at border:   %s %s (%s)\n", due, rv->currency,
                          rv->due_at_border ? "due" : "nothing due"));
out:
    return rc;
}

int cw_checks_assessment_text(cw_buf_t *b, const cw_checks_assessment_t *a)
{
    char date[16];
    int rc = 0;

    cw_checks_date_format(date, sizeof(date), a->reference_date);
    CW_TRY(cw_buf_appendf(b, "lane:        %s\n", cw_checks_lane_name(a->lane)));
    CW_TRY(cw_buf_appendf(b, "profile:     %s@%s (reference date %s, destination %s)\n",
                          a->profile_id[0] != '\0' ? a->profile_id : "(none)", a->profile_version,
                          date, a->destination));
    CW_TRY(cw_buf_appendf(b, "sender:      %s%s\n", a->sender[0] != '\0' ? a->sender : "-",
                          a->trusted ? " (trusted operator)" : ""));
    if (a->profile_id[0] != '\0') {
        CW_TRY(revenue_text(b, a));
    }
    CW_TRY(cw_buf_appendf(b, "findings:    %zu%s\n", a->findings_len,
                          a->findings_skipped > 0 ? " (soft findings skipped: trusted)" : ""));
    for (size_t i = 0; i < a->findings_len; i++) {
        const cw_checks_finding_t *f = &a->findings[i];
        CW_TRY(cw_buf_appendf(b, "  %-7s %-6s %s\n", f->code, cw_checks_lane_name(f->lane),
                              f->message));
        CW_TRY(cw_buf_appendf(b, "          fields: %s; source: %s\n", f->fields, f->source));
    }
out:
    return rc;
}

/* Collects the first schema error. */
static void on_invalid(void *arg, xmlErrorPtr e)
{
    cw_error_t *err = arg;

    if (err != NULL && err->code == 0 && e != NULL) {
        size_t n;
        (void)cw_error_set(err, CW_EPROTO, "checks", "line %d: %s", e->line,
                           e->message != NULL ? e->message : "schema violation");
        n = strlen(err->msg);
        while (n > 0 && err->msg[n - 1] == '\n') {
            err->msg[--n] = '\0';
        }
    }
}

int cw_checks_consignment_validate(const cw_checks_rules_t *rules, xmlNode *node, cw_error_t *err)
{
    xmlSchemaValidCtxt *v = NULL;
    int ret;
    int rc = 0;

    v = xmlSchemaNewValidCtxt(rules->consignment_schema);
    CW_CHECK_ALLOC(v);
    xmlSchemaSetValidStructuredErrors(v, on_invalid, err);
    ret = node->parent != NULL && node->parent->type == XML_DOCUMENT_NODE
              ? xmlSchemaValidateDoc(v, node->doc)
              : xmlSchemaValidateOneElement(v, node);
    if (ret != 0) {
        rc = CW_EPROTO;
        if (err != NULL && err->code == 0) {
            (void)cw_error_set(err, rc, "checks", "the consignment violates its schema");
        }
    }
out:
    xmlSchemaFreeValidCtxt(v);
    return rc;
}
