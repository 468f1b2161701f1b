/*
 * Golden assessments: every consignment listed in
 * tests/data/consignments/golden.list is validated, read and assessed, and
 * the XML and text renderings are compared byte for byte with the files
 * committed next to it. CW_GOLDEN_UPDATE=1 rewrites them instead (never the
 * default; review the diff).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

#include "checks.h"
#include "support.h"

static cw_checks_rules_t *rules;
static xmlSchema *assessment_xsd;

/* Every assessment produced must be valid under schemas/assessment.xsd. */
static void assert_assessment_valid(xmlDoc *doc)
{
    xmlSchemaValidCtxt *v = xmlSchemaNewValidCtxt(assessment_xsd);

    assert_non_null(v);
    assert_int_equal(xmlSchemaValidateDoc(v, doc), 0);
    xmlSchemaFreeValidCtxt(v);
}

static char *slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    cw_buf_t b;
    char chunk[4096];
    size_t n;

    if (f == NULL) {
        return NULL;
    }
    cw_buf_init(&b, 64 * 1024 * 1024);
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        assert_int_equal(cw_buf_append(&b, chunk, n), 0);
    }
    (void)fclose(f);
    if (b.data == NULL) {
        assert_int_equal(cw_buf_append(&b, "", 0), 0);
    }
    return cw_buf_detach(&b, len_out);
}

static void spill(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Compares got with the file at path (or rewrites it); returns 1 when equal. */
static int compare(const char *path, const char *got, size_t got_len)
{
    size_t len = 0;
    char *want;
    int same;

    if (getenv("CW_GOLDEN_UPDATE") != NULL) {
        spill(path, got, got_len);
        return 1;
    }
    want = slurp(path, &len);
    if (want == NULL) {
        print_error("missing golden file %s\n", path);
        return 0;
    }
    same = len == got_len && memcmp(want, got, len) == 0;
    if (!same) {
        print_error("%s differs; got:\n%.*s\n", path, (int)got_len, got);
    }
    cw_free(want);
    return same;
}

/* Assesses one listed consignment; returns 1 when both renderings match. */
static int golden_one(const char *name, const char *date, const char *sender, const char *profile)
{
    char path[1200], rel[512], out_path[1300];
    cw_checks_consignment_t c;
    cw_checks_context_t x;
    cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));
    cw_error_t err, verr;
    xmlDoc *doc, *out_doc;
    xmlNode *node = NULL;
    xmlChar *mem = NULL;
    cw_buf_t text;
    int len = 0, ok;

    assert_non_null(a);
    (void)snprintf(rel, sizeof(rel), "tests/data/consignments/%s.xml", name);
    ct_path(path, sizeof(path), rel);
    doc = xmlReadFile(path, NULL, XML_PARSE_NONET);
    assert_non_null(doc);
    assert_int_equal(cw_checks_consignment_read(&c, xmlDocGetRootElement(doc), &err), 0);
    ct_ctx(&x, date, sender);
    x.profile_id = profile;
    cw_error_clear(&verr);
    x.schema_failed = cw_checks_consignment_validate(rules, xmlDocGetRootElement(doc), &verr) < 0;
    x.schema_error = verr.msg;
    assert_int_equal(cw_checks_run(a, rules, &c, &x, NULL, &err), 0);

    out_doc = xmlNewDoc((const xmlChar *)"1.0");
    assert_int_equal(cw_checks_assessment_to_xml(&node, a, "golden", out_doc, NULL), 0);
    xmlDocSetRootElement(out_doc, node);
    assert_assessment_valid(out_doc);
    xmlDocDumpFormatMemoryEnc(out_doc, &mem, &len, "UTF-8", 1);
    (void)snprintf(out_path, sizeof(out_path), "%.*s.%s.assessment.xml", (int)(strlen(path) - 4),
                   path, date);
    ok = compare(out_path, (const char *)mem, (size_t)len);
    cw_buf_init(&text, 1024 * 1024);
    assert_int_equal(cw_checks_assessment_text(&text, a), 0);
    (void)snprintf(out_path, sizeof(out_path), "%.*s.%s.assessment.txt", (int)(strlen(path) - 4),
                   path, date);
    ok = compare(out_path, text.data, text.len) && ok;

    cw_buf_fini(&text);
    xmlFree(mem);
    xmlFreeDoc(out_doc);
    xmlFreeDoc(doc);
    cw_checks_consignment_fini(&c);
    cw_free(a);
    return ok;
}

static void test_golden(void **state)
{
    char path[1024], line[512];
    FILE *f;
    int failed = 0, count = 0;

    (void)state;
    ct_path(path, sizeof(path), "tests/data/consignments/golden.list");
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        char name[128], date[32], sender[128], profile[64];
        int n;
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }
        profile[0] = '\0';
        n = sscanf(line, "%127s %31s %127s %63s", name, date, sender, profile);
        assert_true(n >= 3);
        count++;
        /* golden files are named FILE.DATE.assessment.{xml,txt} */
        if (!golden_one(name, date, sender, n == 4 ? profile : NULL)) {
            failed++;
        }
    }
    (void)fclose(f);
    print_message("%d golden assessments, %d differ\n", count, failed);
    assert_true(count >= 8);
    assert_int_equal(failed, 0);
}

static int setup(void **state)
{
    char path[1024];
    xmlSchemaParserCtxt *p;

    (void)state;
    rules = ct_rules();
    ct_path(path, sizeof(path), "schemas/assessment.xsd");
    p = xmlSchemaNewParserCtxt(path);
    assessment_xsd = p != NULL ? xmlSchemaParse(p) : NULL;
    xmlSchemaFreeParserCtxt(p);
    return assessment_xsd != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cw_checks_rules_unref(rules);
    xmlSchemaFree(assessment_xsd);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
