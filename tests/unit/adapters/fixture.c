#include "fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/xmlschemas.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

static xmlSchemaPtr schema;

const char *fx_path(const char *name)
{
    static char path[4096];
    const char *src = getenv("CLEARWAY_SRC");

    (void)snprintf(path, sizeof(path), "%s/tests/data/adapters/%s", src != NULL ? src : ".", name);
    return path;
}

static char *read_path(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;

    if (f == NULL) {
        fail_msg("cannot open %s", path);
    }
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    buf = cw_malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    (void)fclose(f);
    if (len_out != NULL) {
        *len_out = (size_t)n;
    }
    return buf;
}

char *fx_read(const char *name, size_t *len_out)
{
    return read_path(fx_path(name), len_out);
}

int fx_schema_setup(void **state)
{
    char path[4096];
    const char *src = getenv("CLEARWAY_SRC");
    xmlSchemaParserCtxtPtr pctxt;
    size_t len;
    char *xsd;

    (void)state;
    xmlInitParser();
    (void)snprintf(path, sizeof(path), "%s/schemas/consignment.xsd", src != NULL ? src : ".");
    xsd = read_path(path, &len);
    pctxt = xmlSchemaNewMemParserCtxt(xsd, (int)len);
    schema = pctxt != NULL ? xmlSchemaParse(pctxt) : NULL;
    xmlSchemaFreeParserCtxt(pctxt);
    cw_free(xsd);
    return schema != NULL ? 0 : -1;
}

int fx_schema_teardown(void **state)
{
    (void)state;
    xmlSchemaFree(schema);
    schema = NULL;
    return 0;
}

static void on_schema_error(void *arg, xmlErrorPtr e)
{
    (void)arg;
    print_error("schema: line %d: %s", e->line, e->message);
}

int fx_validate(xmlDoc *doc)
{
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
    int rc;

    assert_non_null(v);
    xmlSchemaSetValidStructuredErrors(v, on_schema_error, NULL);
    rc = xmlSchemaValidateDoc(v, doc);
    xmlSchemaFreeValidCtxt(v);
    return rc;
}

char *fx_xpath(xmlDoc *doc, const char *expr)
{
    xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
    xmlXPathObjectPtr obj;
    char wrapped[512];
    char *out;

    assert_non_null(ctx);
    assert_int_equal(xmlXPathRegisterNs(ctx, BAD_CAST "c", BAD_CAST CW_ADAPTER_CANONICAL_NS), 0);
    assert_int_equal(
        xmlXPathRegisterNs(ctx, BAD_CAST "ceb", BAD_CAST "http://www.chinaport.gov.cn/ceb"), 0);
    (void)snprintf(wrapped, sizeof(wrapped), "string(%s)", expr);
    obj = xmlXPathEvalExpression(BAD_CAST wrapped, ctx);
    if (obj == NULL) {
        fail_msg("bad XPath %s", expr);
    }
    out = cw_strdup(obj->stringval != NULL ? (const char *)obj->stringval : "");
    xmlXPathFreeObject(obj);
    xmlXPathFreeContext(ctx);
    assert_non_null(out);
    return out;
}

cw_adapter_t *fx_adapter(const char *name, const char *catalog)
{
    cw_adapter_conf_t conf = CW_ADAPTER_CONF_INIT;
    cw_adapter_t *a = NULL;
    cw_error_t err;
    char cat[4096];

    cw_error_clear(&err);
    conf.name = name;
    conf.partner_id = "partner-test";
    if (catalog != NULL) {
        (void)cw_strlcpy(cat, fx_path(catalog), sizeof(cat));
        conf.catalog_path = cat;
    }
    if (cw_adapter_new(&a, &conf, &err) != 0) {
        fail_msg("cw_adapter_new(%s): %s", name, err.msg);
    }
    return a;
}
