/*
 * Unit tests for gateway/config: loading, schema and directive errors with
 * their line numbers, defaults, semantic checks, the snapshot refcount, and
 * allocation failures (run under ASan/LSan to prove no path leaks).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libxml/parser.h>

#include "config.h"

/* ==== Fixtures and helpers ==== */

/* Every test owns one of these, so that teardown releases everything even
 * when an assertion fails half-way. */
typedef struct fixture {
    cw_config_t *cfg;        /* result of the last load, if any */
    cw_config_errors_t errs; /* messages of the last load */
} fixture_t;

static int group_setup(void **state)
{
    (void)state;
    /* main() does this once before any thread starts (STYLE.md rule 47). */
    xmlInitParser();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    xmlCleanupParser();
    return 0;
}

static int setup(void **state)
{
    fixture_t *f = cw_calloc(1, sizeof(*f));

    if (f == NULL) {
        return -1;
    }
    cw_config_errors_init(&f->errs);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;

    cw_alloc_fail_reset();
    cw_config_unref(f->cfg);
    cw_config_errors_fini(&f->errs);
    cw_free(f);
    return 0;
}

/* Loads xml as "test.xml" into the fixture, replacing any earlier result. */
static int load(fixture_t *f, const char *xml)
{
    cw_config_unref(f->cfg);
    f->cfg = NULL;
    cw_config_errors_fini(&f->errs);
    cw_config_errors_init(&f->errs);
    return cw_config_load_mem(&f->cfg, "test.xml", xml, strlen(xml), &f->errs);
}

static void dump_errors(const cw_config_errors_t *errs)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        print_message("  error[%zu]: %s\n", i, errs->lines[i]);
    }
}

/* Fails unless some error line contains needle. */
static void assert_error_contains(const cw_config_errors_t *errs, const char *needle)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        if (strstr(errs->lines[i], needle) != NULL) {
            return;
        }
    }
    dump_errors(errs);
    fail_msg("no error contains \"%s\"", needle);
}

/* Fails unless some error line is exactly line. */
static void assert_error_line(const cw_config_errors_t *errs, const char *line)
{
    size_t i;

    for (i = 0; i < errs->count; i++) {
        if (strcmp(errs->lines[i], line) == 0) {
            return;
        }
    }
    dump_errors(errs);
    fail_msg("no error is \"%s\"", line);
}

/* Fails unless the "test.xml:LINE: " prefixes never go down. */
static void assert_sorted_by_line(const cw_config_errors_t *errs)
{
    unsigned long prev = 0;
    size_t i;

    for (i = 0; i < errs->count; i++) {
        unsigned long line = strtoul(errs->lines[i] + strlen("test.xml:"), NULL, 10);

        if (line < prev) {
            dump_errors(errs);
            fail_msg("error %zu is out of line order", i);
        }
        prev = line;
    }
}

static void assert_loads(fixture_t *f, const char *xml)
{
    int rc = load(f, xml);

    if (rc != 0) {
        dump_errors(&f->errs);
    }
    assert_int_equal(rc, 0);
    assert_non_null(f->cfg);
    assert_int_equal(f->errs.count, 0);
}

static void assert_fails(fixture_t *f, const char *xml, size_t error_count)
{
    int rc = load(f, xml);

    if (rc != CW_ECONFIG || f->errs.count != error_count) {
        dump_errors(&f->errs);
    }
    assert_int_equal(rc, CW_ECONFIG);
    assert_null(f->cfg);
    assert_int_equal(f->errs.count, error_count);
}

/* Line numbers in the expected messages count the lines of these pieces. */
#define HEAD      "<clearway xmlns=\"urn:clearway:config:1\">\n"
#define NODE      "  <node id=\"customs-eu\"/>\n"
#define LISTEN    "  <listen name=\"public\" address=\"127.0.0.1\" port=\"8080\"/>\n"
#define TAIL      "</clearway>\n"
#define PARTNER_A "  <partner id=\"a\" certs=\"a.pem\"/>\n"

/* ==== Valid files ==== */

static void test_config__minimal_applies_defaults(void **state)
{
    fixture_t *f = *state;
    cw_conf_limits_t def;

    assert_loads(f, HEAD NODE LISTEN TAIL);
    /* The snapshot is zero-filled, padding included, so compare with a
     * zero-filled struct. */
    memset(&def, 0, sizeof(def));
    cw_config_limits_default(&def);
    assert_string_equal(f->cfg->path, "test.xml");
    assert_string_equal(f->cfg->node_id, "customs-eu");
    assert_int_equal(f->cfg->log_level, CW_LOG_INFO);
    assert_int_equal(f->cfg->workers, 0);
    assert_memory_equal(&f->cfg->limits, &def, sizeof(def));
    assert_int_equal(f->cfg->limits.header_bytes_max, CW_LIMIT_HEADER_BYTES_DEFAULT);
    assert_int_equal(f->cfg->limits.xml_nodes_max, CW_LIMIT_XML_NODES_DEFAULT);
    assert_int_equal(f->cfg->listen_count, 1);
    assert_string_equal(f->cfg->listens[0].name, "public");
    assert_string_equal(f->cfg->listens[0].address, "127.0.0.1");
    assert_int_equal(f->cfg->listens[0].port, 8080);
    assert_int_equal(f->cfg->listens[0].kind, CW_LISTEN_PUBLIC);
    assert_int_equal(f->cfg->listens[0].backlog, CW_LIMIT_BACKLOG_DEFAULT);
    assert_int_equal(f->cfg->listens[0].line, 3);
    assert_int_equal(f->cfg->refcount, 1);
}

static void test_config__every_value_applied(void **state)
{
    fixture_t *f = *state;
    const cw_conf_limits_t *lim;

    assert_loads(
        f, HEAD NODE
        "  <log level=\"debug\"/>\n"
        "  <workers> 7\n  </workers>\n"
        "  <listen name=\"pub.v6\" address=\"::\" port=\"0\" backlog=\"12\" insecure=\"true\"/>\n"
        "  <listen name=\"adm\" address=\"::1\" port=\"9\" kind=\"admin\"/>\n"
        "  <limits>\n"
        "    <xml-nodes-max>115</xml-nodes-max>\n"
        "    <header-bytes-max>1101</header-bytes-max>\n"
        "    <header-count-max>102</header-count-max>\n"
        "    <url-bytes-max>1103</url-bytes-max>\n"
        "    <body-bytes-max>268435456</body-bytes-max>\n"
        "    <connections-max>105</connections-max>\n"
        "    <pipeline-max>106</pipeline-max>\n"
        "    <header-timeout-ms>107</header-timeout-ms>\n"
        "    <body-timeout-ms>108</body-timeout-ms>\n"
        "    <idle-timeout-ms>109</idle-timeout-ms>\n"
        "    <write-timeout-ms>110</write-timeout-ms>\n"
        "    <drain-timeout-ms>111</drain-timeout-ms>\n"
        "    <write-buffer-bytes-max>4112</write-buffer-bytes-max>\n"
        "    <xml-bytes-max>1113</xml-bytes-max>\n"
        "    <xml-depth-max>114</xml-depth-max>\n"
        "  </limits>\n" TAIL);
    assert_int_equal(f->cfg->log_level, CW_LOG_DEBUG);
    assert_int_equal(f->cfg->workers, 7);
    assert_int_equal(f->cfg->listen_count, 2);
    assert_string_equal(f->cfg->listens[0].name, "pub.v6");
    assert_string_equal(f->cfg->listens[0].address, "::");
    assert_int_equal(f->cfg->listens[0].port, 0);
    assert_int_equal(f->cfg->listens[0].backlog, 12);
    assert_int_equal(f->cfg->listens[0].kind, CW_LISTEN_PUBLIC);
    assert_int_equal(f->cfg->listens[1].kind, CW_LISTEN_ADMIN);
    assert_int_equal(f->cfg->listens[1].port, 9);
    assert_int_equal(f->cfg->listens[1].line, 7);
    lim = &f->cfg->limits;
    assert_int_equal(lim->header_bytes_max, 1101);
    assert_int_equal(lim->header_count_max, 102);
    assert_int_equal(lim->url_bytes_max, 1103);
    assert_int_equal(lim->body_bytes_max, 268435456u);
    assert_int_equal(lim->connections_max, 105);
    assert_int_equal(lim->pipeline_max, 106);
    assert_int_equal(lim->header_timeout_ms, 107);
    assert_int_equal(lim->body_timeout_ms, 108);
    assert_int_equal(lim->idle_timeout_ms, 109);
    assert_int_equal(lim->write_timeout_ms, 110);
    assert_int_equal(lim->drain_timeout_ms, 111);
    assert_int_equal(lim->write_buffer_bytes_max, 4112);
    assert_int_equal(lim->xml_bytes_max, 1113);
    assert_int_equal(lim->xml_depth_max, 114);
    assert_int_equal(lim->xml_nodes_max, 115);
}

static void test_config__example_file_loads(void **state)
{
    fixture_t *f = *state;
    const char *src = getenv("CLEARWAY_SRC");
    char path[4096];
    cw_conf_limits_t def;
    int rc;

    assert_non_null(src);
    (void)snprintf(path, sizeof(path), "%s/examples/clearway.xml", src);
    rc = cw_config_load(&f->cfg, path, &f->errs);
    if (rc != 0) {
        dump_errors(&f->errs);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(f->cfg->path, path);
    assert_string_equal(f->cfg->node_id, "customs-eu");
    assert_int_equal(f->cfg->listen_count, 2);
    assert_int_equal(f->cfg->listens[1].kind, CW_LISTEN_ADMIN);
    /* The example promises to show every default. */
    memset(&def, 0, sizeof(def));
    cw_config_limits_default(&def);
    assert_memory_equal(&f->cfg->limits, &def, sizeof(def));
    assert_int_equal(f->cfg->workers, 0);
    assert_int_equal(f->cfg->log_level, CW_LOG_INFO);
    assert_int_equal(f->cfg->listens[0].backlog, CW_LIMIT_BACKLOG_DEFAULT);
}

/* ==== Ranges, one row per numeric directive ==== */

typedef struct range_case {
    const char *path;  /* as in messages */
    const char *open;  /* markup before the value */
    const char *close; /* markup after the value */
    uint64_t min;
    uint64_t max;
    size_t offset; /* of the field in the snapshot */
    size_t size;   /* of the field */
} range_case_t;

#define LIMIT_CASE(elem, field, lo, hi)                                                           \
    {                                                                                             \
        "limits/" elem, NODE LISTEN "  <limits>\n    <" elem ">", "</" elem ">\n  </limits>\n",   \
            lo, hi, offsetof(cw_config_t, limits.field), sizeof(((cw_config_t *)0)->limits.field) \
    }

static const range_case_t range_cases[] = {
    { "workers", NODE "  <workers>", "</workers>\n" LISTEN, CW_LIMIT_WORKERS_MIN,
      CW_LIMIT_WORKERS_MAX, offsetof(cw_config_t, workers), sizeof(uint32_t) },
    LIMIT_CASE(
        "header-bytes-max", header_bytes_max, CW_LIMIT_HEADER_BYTES_MIN, CW_LIMIT_HEADER_BYTES_MAX),
    LIMIT_CASE(
        "header-count-max", header_count_max, CW_LIMIT_HEADER_COUNT_MIN, CW_LIMIT_HEADER_COUNT_MAX),
    LIMIT_CASE("url-bytes-max", url_bytes_max, CW_LIMIT_URL_BYTES_MIN, CW_LIMIT_URL_BYTES_MAX),
    LIMIT_CASE("body-bytes-max", body_bytes_max, CW_LIMIT_BODY_BYTES_MIN, CW_LIMIT_BODY_BYTES_MAX),
    LIMIT_CASE(
        "connections-max", connections_max, CW_LIMIT_CONNECTIONS_MIN, CW_LIMIT_CONNECTIONS_MAX),
    LIMIT_CASE("pipeline-max", pipeline_max, CW_LIMIT_PIPELINE_MIN, CW_LIMIT_PIPELINE_MAX),
    LIMIT_CASE(
        "header-timeout-ms", header_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX),
    LIMIT_CASE(
        "body-timeout-ms", body_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX),
    LIMIT_CASE(
        "idle-timeout-ms", idle_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX),
    LIMIT_CASE(
        "write-timeout-ms", write_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX),
    LIMIT_CASE(
        "drain-timeout-ms", drain_timeout_ms, CW_LIMIT_TIMEOUT_MS_MIN, CW_LIMIT_TIMEOUT_MS_MAX),
    LIMIT_CASE("write-buffer-bytes-max",
               write_buffer_bytes_max,
               CW_LIMIT_WRITE_BUFFER_MIN,
               CW_LIMIT_WRITE_BUFFER_MAX),
    LIMIT_CASE("xml-bytes-max", xml_bytes_max, CW_LIMIT_XML_BYTES_MIN, CW_LIMIT_XML_BYTES_MAX),
    LIMIT_CASE("xml-depth-max", xml_depth_max, CW_LIMIT_XML_DEPTH_MIN, CW_LIMIT_XML_DEPTH_MAX),
    LIMIT_CASE("xml-nodes-max", xml_nodes_max, CW_LIMIT_XML_NODES_MIN, CW_LIMIT_XML_NODES_MAX),
};

static uint64_t field_value(const cw_config_t *cfg, const range_case_t *c)
{
    const char *p = (const char *)cfg + c->offset;
    uint32_t v32;
    uint64_t v64;

    if (c->size == sizeof(v32)) {
        memcpy(&v32, p, sizeof(v32));
        return v32;
    }
    memcpy(&v64, p, sizeof(v64));
    return v64;
}

/* Loads the case with value; returns the load's result. */
static int load_range(fixture_t *f, const range_case_t *c, uint64_t value)
{
    char xml[1024];

    (void)snprintf(xml, sizeof(xml), HEAD "%s%llu%s" TAIL, c->open, (unsigned long long)value,
                   c->close);
    return load(f, xml);
}

static void test_config__bounds_accepted_and_stored(void **state)
{
    fixture_t *f = *state;
    size_t i;

    for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
        const range_case_t *c = &range_cases[i];

        print_message("%s\n", c->path);
        assert_int_equal(load_range(f, c, c->min), 0);
        assert_true(field_value(f->cfg, c) == c->min);
        assert_int_equal(load_range(f, c, c->max), 0);
        assert_true(field_value(f->cfg, c) == c->max);
    }
}

static void test_config__out_of_range_reports_line_and_range(void **state)
{
    fixture_t *f = *state;
    char want[256];
    size_t i;

    /* The message exactly as docs/configuration.md shows it. */
    assert_fails(f,
                 HEAD NODE LISTEN "  <limits>\n"
                                  "    <header-bytes-max>99</header-bytes-max>\n"
                                  "  </limits>\n" TAIL,
                 1);
    assert_error_line(&f->errs,
                      "test.xml:5: limits/header-bytes-max: 99 is out of range [1024, 1048576]");

    for (i = 0; i < sizeof(range_cases) / sizeof(range_cases[0]); i++) {
        const range_case_t *c = &range_cases[i];
        /* workers is on line 3, every limit on line 5. */
        int line = strcmp(c->path, "workers") == 0 ? 3 : 5;

        (void)snprintf(want, sizeof(want), "test.xml:%d: %s: %llu is out of range [%llu, %llu]",
                       line, c->path, (unsigned long long)(c->max + 1), (unsigned long long)c->min,
                       (unsigned long long)c->max);
        assert_int_equal(load_range(f, c, c->max + 1), CW_ECONFIG);
        assert_int_equal(f->errs.count, 1);
        assert_error_line(&f->errs, want);
        if (c->min > 0) {
            assert_int_equal(load_range(f, c, c->min - 1), CW_ECONFIG);
            assert_int_equal(f->errs.count, 1);
            assert_error_contains(&f->errs, "is out of range");
        }
    }
}

static void test_config__listen_attribute_ranges(void **state)
{
    fixture_t *f = *state;

    assert_loads(f, HEAD NODE
                 "  <listen name=\"a\" address=\"::1\" port=\"65535\" backlog=\"65535\"/>\n" TAIL);
    assert_int_equal(f->cfg->listens[0].port, 65535);
    assert_int_equal(f->cfg->listens[0].backlog, 65535);
    assert_fails(
        f, HEAD NODE "  <listen name=\"a\" address=\"::1\" port=\"65536\" backlog=\"0\"/>\n" TAIL,
        2);
    assert_error_line(&f->errs, "test.xml:3: listen/@port: 65536 is out of range [0, 65535]");
    assert_error_line(&f->errs, "test.xml:3: listen/@backlog: 0 is out of range [1, 65535]");
    /* A number too large for 64 bits is out of range too, not a crash. */
    assert_fails(f,
                 HEAD NODE
                 "  <listen name=\"a\" address=\"::1\" port=\"99999999999999999999999\"/>\n" TAIL,
                 1);
    assert_error_line(
        &f->errs, "test.xml:3: listen/@port: 99999999999999999999999 is out of range [0, 65535]");
}

static void test_config__non_number_rejected(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD NODE "  <workers>four</workers>\n"
                           "  <listen name=\"a\" address=\"::1\" port=\"80x\"/>\n"
                           "  <limits><pipeline-max>-1</pipeline-max></limits>\n"
                           "  <!-- line 6 -->\n"
                           "  <limits-typo/>\n" TAIL,
                 4);
    assert_error_line(&f->errs, "test.xml:3: workers: 'four' is not a decimal number");
    assert_error_line(&f->errs, "test.xml:4: listen/@port: '80x' is not a decimal number");
    assert_error_line(&f->errs, "test.xml:5: limits/pipeline-max: '-1' is not a decimal number");
    assert_error_contains(&f->errs, "test.xml:7: Element 'limits-typo'");
    /* Empty and signed values are not numbers either. */
    assert_fails(f, HEAD NODE "  <workers></workers>\n" LISTEN TAIL, 1);
    assert_error_line(&f->errs, "test.xml:3: workers: '' is not a decimal number");
    assert_fails(f, HEAD NODE "  <workers>+4</workers>\n" LISTEN TAIL, 1);
    assert_error_line(&f->errs, "test.xml:3: workers: '+4' is not a decimal number");
}

/* ==== Node keys and partners ==== */

static void test_config__partners_and_node_keys(void **state)
{
    fixture_t *f = *state;
    const char *xml =
        HEAD "  <node id=\"customs-eu\" key=\"keys/node.key\" cert=\"/etc/n.pem\"/>\n" LISTEN
             "  <limits><timestamp-skew-s>60</timestamp-skew-s></limits>\n"
             "  <partner id=\"platform-a\" certs=\"a.pem  /abs/a-2027.pem\"/>\n"
             "  <partner id=\"customs-cn\" certs=\"cn.pem\" legacy-sha1=\"true\"/>\n" TAIL;
    int rc;

    cw_config_unref(f->cfg);
    f->cfg = NULL;
    rc = cw_config_load_mem(&f->cfg, "/srv/clearway/node.xml", xml, strlen(xml), &f->errs);
    if (rc != 0) {
        dump_errors(&f->errs);
    }
    assert_int_equal(rc, 0);
    /* Relative paths are taken from the folder of the configuration file. */
    assert_string_equal(f->cfg->node_key_path, "/srv/clearway/keys/node.key");
    assert_string_equal(f->cfg->node_cert_path, "/etc/n.pem");
    assert_int_equal(f->cfg->limits.timestamp_skew_s, 60);
    assert_int_equal(f->cfg->partner_count, 2);
    assert_string_equal(f->cfg->partners[0].id, "platform-a");
    assert_int_equal(f->cfg->partners[0].cert_count, 2);
    assert_string_equal(f->cfg->partners[0].certs[0], "/srv/clearway/a.pem");
    assert_string_equal(f->cfg->partners[0].certs[1], "/abs/a-2027.pem");
    assert_int_equal(f->cfg->partners[0].legacy_sha1, 0);
    assert_int_equal(f->cfg->partners[1].legacy_sha1, 1);
}

static void test_config__partner_problems(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD NODE LISTEN "  <partner id=\"a\" certs=\"a.pem\"/>\n"
                                  "  <partner id=\"a\" certs=\"b.pem\"/>\n" TAIL,
                 1);
    assert_error_line(&f->errs, "test.xml:5: partner/@id: 'a' is already registered at line 4");
    assert_fails(f, HEAD NODE LISTEN "  <partner id=\"a\" certs=\"1 2 3 4 5\"/>\n" TAIL, 1);
    assert_error_line(&f->errs, "test.xml:4: partner/@certs: at most 4 certificates");
    assert_fails(f, HEAD NODE LISTEN "  <partner id=\"a\"/>\n" TAIL, 1);
    assert_error_contains(&f->errs, "test.xml:4:");
    assert_error_contains(&f->errs, "certs");
}

/* A node key without its certificate, or the reverse, is reported at the
 * <node> element, wherever it is in the file. */
static void test_config__node_key_and_cert_together(void **state)
{
    fixture_t *f = *state;

    assert_fails(f, HEAD "  <node id=\"n\" key=\"k.pem\"/>\n" LISTEN TAIL, 1);
    assert_error_line(&f->errs, "test.xml:2: node: key and cert go together: give both or neither");
    assert_fails(f,
                 HEAD "  <!-- This node's identity. -->\n"
                      "\n"
                      "  <node id=\"n\" cert=\"c.pem\"/>\n" LISTEN TAIL,
                 1);
    assert_error_line(&f->errs, "test.xml:4: node: key and cert go together: give both or neither");
    assert_loads(f, HEAD "  <node id=\"n\" key=\"k.pem\" cert=\"c.pem\"/>\n" LISTEN TAIL);
}

/* A partner's adapter-transport-mode: one of the schema's modes, and only
 * with an adapter. */
static void test_config__partner_transport_mode(void **state)
{
    fixture_t *f = *state;

    assert_loads(f, HEAD NODE LISTEN
                 "  <partner id=\"c\" certs=\"c.pem\" adapter=\"csv-manifest\" adapter-to=\"x\"\n"
                 "           adapter-transport-mode=\"post\"/>\n" PARTNER_A TAIL);
    assert_string_equal(cw_config_transport_mode_name(f->cfg->partners[0].adapter_transport_mode),
                        "post");
    assert_int_equal(f->cfg->partners[1].adapter_transport_mode, 0);
    assert_null(cw_config_transport_mode_name(0));
    assert_string_equal(cw_config_transport_mode_name(1), "air");
    assert_fails(f,
                 HEAD NODE LISTEN
                 "  <partner id=\"c\" certs=\"c.pem\" adapter=\"csv-manifest\"\n"
                 "           adapter-to=\"x\" adapter-transport-mode=\"ship\"/>\n" TAIL,
                 1);
    /* The schema names the line the attribute is on. */
    assert_error_contains(&f->errs, "test.xml:5:");
    assert_error_contains(&f->errs, "'ship' is not an element of the set");
    assert_fails(f,
                 HEAD NODE LISTEN
                 "  <partner id=\"c\" certs=\"c.pem\" adapter-transport-mode=\"air\"/>\n" TAIL,
                 1);
    assert_error_line(&f->errs,
                      "test.xml:4: partner 'c': adapter-transport-mode needs adapter (it is the "
                      "mode of the consignments its adapter makes)");
}

static void test_config__store_path_may_be_a_postgresql_url(void **state)
{
    fixture_t *f = *state;
    const char *xml = HEAD NODE LISTEN
        "  <store "
        "path=\"postgresql://cw@db.example/clearway?sslmode=verify-full&amp;x=1\"/>\n" TAIL;
    const char *rel = HEAD NODE LISTEN "  <store path=\"postgres.db\"/>\n" TAIL;
    int rc;

    cw_config_unref(f->cfg);
    f->cfg = NULL;
    rc = cw_config_load_mem(&f->cfg, "/srv/cw/node.xml", xml, strlen(xml), &f->errs);
    if (rc != 0) {
        dump_errors(&f->errs);
    }
    assert_int_equal(rc, 0);
    /* Taken as written, not resolved from the configuration's folder. */
    assert_string_equal(f->cfg->store.path,
                        "postgresql://cw@db.example/clearway?sslmode=verify-full&x=1");
    cw_config_unref(f->cfg);
    f->cfg = NULL;
    /* Too long: refused at its line, without quoting it (a password). */
    {
        static char big[6000];
        size_t n;

        n = (size_t)snprintf(big, sizeof(big), HEAD NODE LISTEN "  <store path=\"postgresql://u:");
        memset(big + n, 's', 1200);
        n += 1200;
        (void)snprintf(big + n, sizeof(big) - n, "@db/x\"/>\n" TAIL);
        cw_config_unref(f->cfg);
        f->cfg = NULL;
        rc = cw_config_load_mem(&f->cfg, "/srv/cw/node.xml", big, strlen(big), &f->errs);
        assert_int_not_equal(rc, 0);
        assert_error_line(&f->errs, "/srv/cw/node.xml:4: store/@path: the PostgreSQL URL is longer "
                                    "than 1023 bytes");
        for (size_t i = 0; i < f->errs.count; i++) {
            assert_null(strstr(f->errs.lines[i], "ssss"));
        }
        cw_config_errors_fini(&f->errs);
        cw_config_errors_init(&f->errs);
    }
    /* A file whose name merely starts like one is still a path. */
    rc = cw_config_load_mem(&f->cfg, "/srv/cw/node.xml", rel, strlen(rel), &f->errs);
    assert_int_equal(rc, 0);
    assert_string_equal(f->cfg->store.path, "/srv/cw/postgres.db");
}

static void test_config__routes_and_store(void **state)
{
    fixture_t *f = *state;
    const char *xml = HEAD NODE LISTEN
        "  <store synchronous=\"normal\" retention-days=\"7\"/>\n"
        "  <partner id=\"customs-cn\" certs=\"cn.pem\"/>\n"
        "  <partner id=\"carrier\" certs=\"carrier.pem\"/>\n"
        "  <route to=\"customs-cn\" url=\"https://cn.example:8443/v1/messages\" ca=\"ca.pem\"\n"
        "         client-cert=\"c.pem\" client-key=\"c.key\" max-attempts=\"3\"\n"
        "         concurrency=\"32\" initial-concurrency=\"8\"/>\n"
        "  <route to=\"carrier\" url=\"http://127.0.0.1:9/v1/messages\" "
        "insecure-http=\"true\"/>\n" TAIL;
    const cw_conf_route_t *r;
    int rc;

    cw_config_unref(f->cfg);
    f->cfg = NULL;
    rc = cw_config_load_mem(&f->cfg, "/srv/cw/node.xml", xml, strlen(xml), &f->errs);
    if (rc != 0) {
        dump_errors(&f->errs);
    }
    assert_int_equal(rc, 0);
    assert_string_equal(f->cfg->store.path, "/srv/cw/clearway.db");
    assert_int_equal(f->cfg->store.synchronous_full, 0);
    assert_int_equal(f->cfg->store.retention_days, 7);
    assert_int_equal(f->cfg->store.group_max, CW_LIMIT_STORE_GROUP_DEFAULT);
    assert_int_equal(f->cfg->route_count, 2);
    r = cw_config_route_find(f->cfg, "customs-cn");
    assert_non_null(r);
    assert_string_equal(r->ca_path, "/srv/cw/ca.pem");
    assert_int_equal(r->max_attempts, 3);
    assert_int_equal(r->base_delay_ms, CW_LIMIT_ROUTE_BASE_DELAY_MS_DEFAULT);
    assert_int_equal(r->concurrency, 32);
    assert_int_equal(r->initial_concurrency, 8);
    r = cw_config_route_find(f->cfg, "carrier");
    assert_non_null(r);
    assert_int_equal(r->concurrency, 32);
    assert_int_equal(r->initial_concurrency, 4);
    assert_null(cw_config_route_find(f->cfg, "nobody"));
}

static void test_config__route_problems(void **state)
{
    fixture_t *f = *state;

    assert_fails(f, HEAD NODE LISTEN "  <route to=\"a\" url=\"http://x/\"/>\n" TAIL, 2);
    assert_error_contains(&f->errs, "route 'a': register the destination as a <partner>");
    assert_error_contains(&f->errs, "test.xml:4: route 'a': plain http:// needs insecure-http");
    assert_fails(f, HEAD NODE LISTEN PARTNER_A "  <route to=\"a\" url=\"ftp://x/\"/>\n" TAIL, 1);
    assert_error_contains(&f->errs, "route/@url: 'ftp://x/' is not an http:// or https:// URL");
    assert_fails(f,
                 HEAD NODE LISTEN PARTNER_A "  <route to=\"a\" url=\"https://x/\"/>\n"
                                            "  <route to=\"a\" url=\"https://y/\"/>\n" TAIL,
                 1);
    assert_error_line(&f->errs, "test.xml:6: route/@to: 'a' already has a route at line 5");
    assert_fails(f,
                 HEAD NODE LISTEN PARTNER_A
                 "  <route to=\"a\" url=\"https://x/\" client-cert=\"c\"/>\n" TAIL,
                 1);
    assert_error_contains(&f->errs, "client-cert and client-key go together");
}

/* adapter-sign signs what the route's adapter writes: without an adapter
 * there is nothing to sign, so it is refused rather than ignored. */
static void test_config__route_adapter_sign_needs_adapter(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD NODE LISTEN PARTNER_A
                 "  <route to=\"a\" url=\"https://x/\" adapter-sign=\"ceb\"/>\n" TAIL,
                 1);
    assert_error_line(&f->errs, "test.xml:5: route 'a': adapter-sign needs adapter (it signs the "
                                "output of the route's adapter)");
    assert_loads(f, HEAD NODE LISTEN PARTNER_A
                 "  <route to=\"a\" url=\"https://x/\" adapter-sign=\"none\"/>\n" TAIL);
    assert_loads(f, HEAD NODE LISTEN PARTNER_A "  <route to=\"a\" url=\"https://x/\" "
                                               "adapter=\"ceb621\" adapter-sign=\"ceb\"/>\n" TAIL);
    assert_int_equal(f->cfg->routes[0].adapter_sign, 1);
}

/* A route's own stylesheet: adapter="xslt" needs it, and it is only for
 * adapter="xslt". */
static void test_config__route_xslt_needs_its_stylesheet(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD NODE LISTEN PARTNER_A
                 "  <route to=\"a\" url=\"https://x/\" adapter=\"xslt\"/>\n" TAIL,
                 1);
    assert_error_line(&f->errs, "test.xml:5: route 'a': adapter=\"xslt\" needs adapter-xslt-dir "
                                "and adapter-xslt (the stylesheet that writes the destination's "
                                "format)");
    assert_fails(f,
                 HEAD NODE LISTEN PARTNER_A "  <route to=\"a\" url=\"https://x/\" "
                                            "adapter=\"ceb621\" adapter-xslt=\"x.xsl\"/>\n" TAIL,
                 1);
    assert_error_line(&f->errs, "test.xml:5: route 'a': adapter-xslt-dir and adapter-xslt are "
                                "for adapter=\"xslt\"");
    assert_loads(f, HEAD NODE LISTEN PARTNER_A
                 "  <route to=\"a\" url=\"https://x/\" adapter=\"xslt\" adapter-xslt-dir=\"xsl\" "
                 "adapter-xslt=\"a-out.xsl\"/>\n" TAIL);
    assert_string_equal(f->cfg->routes[0].adapter_xslt, "a-out.xsl");
    assert_non_null(strstr(f->cfg->routes[0].adapter_xslt_dir, "xsl"));
}

static void test_config__tls_listener_rules(void **state)
{
    fixture_t *f = *state;

    assert_loads(
        f, HEAD NODE
        "  <listen name=\"p\" address=\"0.0.0.0\" port=\"8443\" tls=\"true\" cert=\"c.pem\"\n"
        "          key=\"c.key\" client-ca=\"ca.pem\"/>\n"
        "  <partner id=\"a\" certs=\"a.pem\" tls-fingerprint=\"AB:CD ef01\"\n"
        "           actions=\"ecommerce/* customs/declaration\" destinations=\"*\"/>\n" TAIL);
    assert_int_equal(f->cfg->listens[0].tls, 1);
    assert_int_equal(f->cfg->listens[0].client_auth, CW_CLIENT_AUTH_REQUIRED);
    assert_string_equal(f->cfg->partners[0].tls_fingerprints, "AB:CD ef01");
    assert_string_equal(f->cfg->partners[0].actions, "ecommerce/* customs/declaration");
    /* Plain HTTP off loopback. */
    assert_fails(f, HEAD NODE "  <listen name=\"p\" address=\"0.0.0.0\" port=\"80\"/>\n" TAIL, 1);
    assert_error_contains(&f->errs, "listen 'p': plain HTTP on 0.0.0.0 is refused");
    /* TLS without its material, and a partner listener without client certificates. */
    assert_fails(
        f, HEAD NODE "  <listen name=\"p\" address=\"::1\" port=\"1\" tls=\"true\"/>\n" TAIL, 2);
    assert_error_contains(&f->errs, "listen 'p': tls needs cert and key");
    assert_error_contains(&f->errs, "listen 'p': client-auth needs client-ca");
    assert_fails(f,
                 HEAD NODE
                 "  <listen name=\"p\" address=\"::1\" port=\"1\" tls=\"true\" cert=\"c\" "
                 "key=\"k\" client-auth=\"optional\" client-ca=\"ca\"/>\n" TAIL,
                 1);
    assert_error_contains(&f->errs, "must have client-auth=\"required\"");
}

/* ==== Structure (the schema) ==== */

static void test_config__unknown_element_reports_line(void **state)
{
    fixture_t *f = *state;

    assert_fails(f, HEAD NODE LISTEN "\n  <frobnicator id=\"x\"/>\n" TAIL, 1);
    assert_error_contains(&f->errs, "test.xml:5: Element 'frobnicator': This element "
                                    "is not expected.");
    /* Inside <limits> as well, and without the namespace noise. */
    assert_fails(f,
                 HEAD NODE LISTEN "  <limits>\n"
                                  "    <body-bytes-max>2048</body-bytes-max>\n"
                                  "    <body-bytes>2048</body-bytes>\n"
                                  "  </limits>\n" TAIL,
                 1);
    assert_error_contains(&f->errs, "test.xml:6: Element 'body-bytes':");
    assert_null(strstr(f->errs.lines[0], "urn:clearway"));
}

static void test_config__unknown_and_missing_attributes(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD NODE "  <log level=\"verbose\" colour=\"yes\"/>\n"
                           "  <listen name=\"a\" port=\"1\"/>\n" TAIL,
                 3);
    assert_error_contains(&f->errs, "test.xml:3: Element 'log', attribute 'level':");
    assert_error_contains(&f->errs, "test.xml:3: Element 'log', attribute 'colour':");
    assert_error_contains(&f->errs,
                          "test.xml:4: Element 'listen': The attribute 'address' is required");
}

static void test_config__missing_node_and_listen(void **state)
{
    fixture_t *f = *state;

    assert_fails(f, HEAD TAIL, 1);
    assert_error_contains(&f->errs, "test.xml:1: Element 'clearway': Missing child element(s).");
    assert_fails(f, HEAD NODE TAIL, 1);
    assert_error_contains(&f->errs, "test.xml:1:");
    assert_error_contains(&f->errs, "listen");
}

static void test_config__too_many_listens(void **state)
{
    fixture_t *f = *state;
    char xml[4096];
    size_t len;
    int i;

    len = (size_t)snprintf(xml, sizeof(xml), HEAD NODE);
    for (i = 0; i < 17; i++) {
        len += (size_t)snprintf(xml + len, sizeof(xml) - len,
                                "  <listen name=\"l%d\" address=\"127.0.0.1\" port=\"%d\"/>\n", i,
                                9000 + i);
    }
    (void)snprintf(xml + len, sizeof(xml) - len, TAIL);
    assert_fails(f, xml, 1);
    assert_error_contains(&f->errs, "test.xml:19: Element 'listen': This element is not expected");
}

static void test_config__wrong_root_rejected(void **state)
{
    fixture_t *f = *state;

    assert_fails(f, "<clearway>\n" NODE LISTEN TAIL, 1);
    assert_error_line(&f->errs,
                      "test.xml:1: the root element is <clearway> in no namespace; it must be "
                      "<clearway xmlns=\"urn:clearway:config:1\">");
    assert_fails(f, "<config xmlns=\"urn:clearway:config:1\"/>\n", 1);
    assert_error_contains(&f->errs, "test.xml:1: the root element is <config> in namespace");
}

/* ==== Values (the directive table) ==== */

static void test_config__node_id_pattern(void **state)
{
    fixture_t *f = *state;
    char xml[1024];
    char id[129];

    assert_fails(f, HEAD "  <node id=\"customs eu!\"/>\n" LISTEN TAIL, 1);
    assert_error_line(&f->errs,
                      "test.xml:2: node/@id: 'customs eu!' is not valid: use 1 to 127 characters "
                      "from A-Z a-z 0-9 . _ : -");
    assert_fails(f, HEAD "  <node id=\"\"/>\n" LISTEN TAIL, 1);
    assert_error_contains(&f->errs, "test.xml:2: node/@id: '' is not valid");

    memset(id, 'a', 127);
    id[127] = '\0';
    (void)snprintf(xml, sizeof(xml), HEAD "  <node id=\"%s\"/>\n" LISTEN TAIL, id);
    assert_loads(f, xml);
    assert_string_equal(f->cfg->node_id, id);

    memset(id, 'a', 128);
    id[128] = '\0';
    (void)snprintf(xml, sizeof(xml), HEAD "  <node id=\"%s\"/>\n" LISTEN TAIL, id);
    assert_fails(f, xml, 1);
    /* Long values are cut in messages. */
    assert_error_contains(&f->errs, "aaaa...' is not valid");

    assert_loads(f, HEAD "  <node id=\"urn:wco:customs-EU_01.x\"/>\n" LISTEN TAIL);
}

static void test_config__bad_address(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD NODE "  <listen name=\"a\" address=\"localhost\" port=\"1\"/>\n"
                           "  <listen name=\"b\" address=\"256.1.1.1\" port=\"2\"/>\n"
                           "  <listen name=\"c\" address=\"fe80::1%eth0\" port=\"3\"/>\n"
                           "  <listen name=\"d\" address=\"\" port=\"4\"/>\n" TAIL,
                 4);
    assert_error_line(&f->errs,
                      "test.xml:3: listen/@address: 'localhost' is not a numeric IPv4 or IPv6 "
                      "address");
    assert_error_contains(&f->errs, "test.xml:4: listen/@address: '256.1.1.1'");
    assert_error_contains(&f->errs, "test.xml:5: listen/@address: 'fe80::1%eth0'");
    assert_error_contains(&f->errs, "test.xml:6: listen/@address: ''");
}

static void test_config__duplicate_listen_name(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD NODE LISTEN
                 "  <listen name=\"admin\" address=\"127.0.0.1\" port=\"8081\"/>\n"
                 "  <listen name=\"public\" address=\"127.0.0.1\" port=\"8082\"/>\n" TAIL,
                 1);
    assert_error_line(&f->errs,
                      "test.xml:5: listen/@name: 'public' is already used by the listen at line 3");
}

static void test_config__listen_address_conflicts(void **state)
{
    fixture_t *f = *state;

    assert_fails(
        f, HEAD NODE LISTEN "  <listen name=\"b\" address=\"127.0.0.1\" port=\"8080\"/>\n" TAIL, 1);
    assert_error_line(&f->errs, "test.xml:4: listen 'b': 127.0.0.1 port 8080 conflicts with listen "
                                "'public' (127.0.0.1 port 8080) at line 3");
    /* Spelling does not matter, and a wildcard overlaps every address. */
    assert_fails(
        f,
        HEAD NODE
        "  <listen name=\"a\" address=\"::1\" port=\"1\"/>\n"
        "  <listen name=\"b\" address=\"0:0::1\" port=\"1\"/>\n"
        "  <listen name=\"c\" address=\"0.0.0.0\" port=\"8080\" insecure=\"true\"/>\n" LISTEN TAIL,
        2);
    assert_error_contains(&f->errs,
                          "test.xml:4: listen 'b': 0:0::1 port 1 conflicts with listen 'a'");
    assert_error_contains(&f->errs, "test.xml:6: listen 'public': 127.0.0.1 port 8080 conflicts");
    /* Different ports, different families, and port 0 do not conflict. */
    assert_loads(f, HEAD NODE
                 "  <listen name=\"a\" address=\"0.0.0.0\" port=\"1\" insecure=\"true\"/>\n"
                 "  <listen name=\"b\" address=\"::\" port=\"1\" insecure=\"true\"/>\n"
                 "  <listen name=\"c\" address=\"127.0.0.1\" port=\"2\"/>\n"
                 "  <listen name=\"d\" address=\"127.0.0.1\" port=\"0\"/>\n"
                 "  <listen name=\"e\" address=\"127.0.0.1\" port=\"0\"/>\n" TAIL);
    assert_int_equal(f->cfg->listen_count, 5);
}

/* ==== Many problems at once ==== */

static void test_config__all_errors_reported(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 HEAD "  <node id=\"bad id\"/>\n"
                      "  <workers>999</workers>\n"
                      "  <listen name=\"a\" address=\"example.org\" port=\"8080\"/>\n"
                      "  <listen name=\"a\" address=\"::1\" port=\"x\"/>\n"
                      "  <limits>\n"
                      "    <url-bytes-max>1</url-bytes-max>\n"
                      "    <idle-timeout-ms>0</idle-timeout-ms>\n"
                      "    <colour>blue</colour>\n"
                      "  </limits>\n" TAIL,
                 8);
    assert_error_contains(&f->errs, "test.xml:2: node/@id: 'bad id'");
    assert_error_line(&f->errs, "test.xml:3: workers: 999 is out of range [0, 128]");
    assert_error_contains(&f->errs, "test.xml:4: listen/@address: 'example.org'");
    assert_error_line(&f->errs, "test.xml:5: listen/@port: 'x' is not a decimal number");
    assert_error_contains(&f->errs, "test.xml:5: listen/@name: 'a' is already used");
    assert_error_line(&f->errs, "test.xml:7: limits/url-bytes-max: 1 is out of range [256, 65536]");
    assert_error_line(&f->errs,
                      "test.xml:8: limits/idle-timeout-ms: 0 is out of range [10, 3600000]");
    assert_error_contains(&f->errs, "test.xml:9: Element 'colour'");
    /* The schema reports 'colour' before the walk finds the rest; the
     * operator still reads them from the top of the file down. */
    assert_sorted_by_line(&f->errs);
}

static void test_config__error_output_is_capped(void **state)
{
    fixture_t *f = *state;
    static char xml[65536];
    size_t len;
    int i;

    /* 16 listeners with 8 unknown attributes each: 128 problems. */
    len = (size_t)snprintf(xml, sizeof(xml), HEAD NODE);
    for (i = 0; i < 16; i++) {
        len += (size_t)snprintf(xml + len, sizeof(xml) - len,
                                "  <listen name=\"l%d\" address=\"::1\" port=\"%d\" a=\"\" b=\"\" "
                                "c=\"\" d=\"\" e=\"\" f=\"\" g=\"\" h=\"\"/>\n",
                                i, i + 1);
    }
    (void)snprintf(xml + len, sizeof(xml) - len, TAIL);
    assert_fails(f, xml, 101);
    assert_string_equal(f->errs.lines[100], "test.xml: 28 more problems not shown");
}

/* ==== Malformed and hostile input ==== */

static void test_config__doctype_rejected(void **state)
{
    fixture_t *f = *state;

    assert_fails(f,
                 "<?xml version=\"1.0\"?>\n"
                 "<!DOCTYPE clearway [\n"
                 "  <!ENTITY id \"customs-eu\">\n"
                 "]>\n" HEAD "  <node id=\"&id;\"/>\n" LISTEN TAIL,
                 1);
    assert_error_line(&f->errs,
                      "test.xml:2: a DOCTYPE is not allowed in a Clearway configuration (no DTDs, "
                      "no entities)");
    /* An external DTD is never fetched, and still rejected. */
    assert_fails(
        f, "<!DOCTYPE clearway SYSTEM \"http://198.51.100.1/x.dtd\">\n" HEAD NODE LISTEN TAIL, 1);
    assert_error_contains(&f->errs, "test.xml:1: a DOCTYPE is not allowed");
}

static void test_config__malformed_xml_reports_line(void **state)
{
    fixture_t *f = *state;

    assert_int_equal(load(f, HEAD NODE "  <listen name=\"a\" address=\"::1\" port=\"1\">\n" TAIL),
                     CW_ECONFIG);
    assert_null(f->cfg);
    assert_true(f->errs.count >= 1);
    assert_error_line(&f->errs,
                      "test.xml:4: Opening and ending tag mismatch: listen line 3 and clearway");
    /* libxml2's trailing newline is gone. */
    assert_null(strchr(f->errs.lines[0], '\n'));

    assert_fails(f, "", 1);
    assert_error_line(&f->errs, "test.xml:1: Document is empty");
    assert_int_equal(load(f, HEAD NODE "  <listen name=\"a\" address=\"::1\" port=\"1\"/>\n"),
                     CW_ECONFIG);
    assert_error_contains(&f->errs, "test.xml:4:");
    /* A namespace error does not stop the search for other problems. */
    assert_fails(f, HEAD NODE LISTEN "  <x:limits/>\n" TAIL, 2);
    assert_error_contains(&f->errs, "test.xml:4: Namespace prefix x on limits is not defined");
}

static void test_config__big_line_numbers(void **state)
{
    fixture_t *f = *state;
    size_t blank = 70000;
    size_t len;
    char *xml;
    char want[128];

    /* libxml2 stores line numbers in 16 bits unless told otherwise. */
    xml = cw_malloc(blank + 512);
    assert_non_null(xml);
    len = (size_t)snprintf(xml, 512, HEAD NODE LISTEN);
    memset(xml + len, '\n', blank);
    len += blank;
    (void)snprintf(xml + len, 512, "  <workers>1000</workers>\n" TAIL);
    assert_int_equal(load(f, xml), CW_ECONFIG);
    cw_free(xml);
    (void)snprintf(want, sizeof(want), "test.xml:%zu: Element 'workers'", 4 + blank);
    assert_error_contains(&f->errs, want);
}

static void test_config__size_cap(void **state)
{
    fixture_t *f = *state;
    size_t len = CW_LIMIT_CONFIG_BYTES_MAX + 1;
    char *xml = cw_malloc(len);
    int rc;

    assert_non_null(xml);
    memset(xml, ' ', len);
    rc = cw_config_load_mem(&f->cfg, "big.xml", xml, len, &f->errs);
    cw_free(xml);
    assert_int_equal(rc, CW_ECONFIG);
    assert_null(f->cfg);
    assert_int_equal(f->errs.count, 1);
    assert_string_equal(
        f->errs.lines[0],
        "big.xml: the file is 1048577 bytes, more than the 1048576-byte limit for a "
        "configuration");
}

static void test_config__missing_file(void **state)
{
    fixture_t *f = *state;
    int rc;

    rc = cw_config_load(&f->cfg, "/nonexistent/clearway.xml", &f->errs);
    assert_int_equal(rc, CW_EIO);
    assert_null(f->cfg);
    assert_int_equal(f->errs.count, 1);
    assert_string_equal(f->errs.lines[0],
                        "/nonexistent/clearway.xml: cannot read: No such file or directory");
    cw_config_errors_fini(&f->errs);
    rc = cw_config_load(&f->cfg, "/", &f->errs);
    assert_int_equal(rc, CW_EIO);
    assert_string_equal(f->errs.lines[0], "/: cannot read: Is a directory");
}

static void test_config__errs_may_be_null(void **state)
{
    fixture_t *f = *state;
    const char *bad = HEAD NODE "  <workers>x</workers>\n" LISTEN TAIL;

    assert_int_equal(cw_config_load_mem(&f->cfg, "test.xml", bad, strlen(bad), NULL), CW_ECONFIG);
    assert_null(f->cfg);
}

/* ==== Adapter names ==== */

/* A stand-in for the adapter registry (clearwayd passes the real one):
 * counts its calls in the int that arg points to. */
static int fake_sides(const char *name, void *arg)
{
    static const struct {
        const char *name;
        int sides;
    } kinds[] = {
        { "csv-manifest", CW_CONFIG_ADAPTER_IN },
        { "ceb621", CW_CONFIG_ADAPTER_IN | CW_CONFIG_ADAPTER_OUT },
        { "out-only", CW_CONFIG_ADAPTER_OUT },
    };
    size_t i;

    (*(int *)arg)++;
    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].name, name) == 0) {
            return kinds[i].sides;
        }
    }
    return CW_ENOENT;
}

#define PARTNER_CARRIER(adapter) \
    "  <partner id=\"carrier\" certs=\"c.pem\" adapter=\"" adapter "\" adapter-to=\"a\"/>\n"
#define ROUTE_A(adapter) "  <route to=\"a\" url=\"https://x/\" adapter=\"" adapter "\"/>\n"

/* Loads xml, which must be valid, then checks its adapter names. */
static int load_and_check_adapters(fixture_t *f, const char *xml, int *calls)
{
    assert_loads(f, xml);
    *calls = 0;
    return cw_config_adapters_check(f->cfg, fake_sides, calls, &f->errs);
}

static void test_config__adapter_names_checked_with_lines(void **state)
{
    fixture_t *f = *state;
    int calls;
    int rc;

    rc = load_and_check_adapters(
        f, HEAD NODE LISTEN PARTNER_A PARTNER_CARRIER("csv-manifest") ROUTE_A("ceb621") TAIL,
        &calls);
    assert_int_equal(rc, 0);
    assert_int_equal(f->errs.count, 0);
    assert_int_equal(calls, 2);
    /* A misspelt name: the partner's line, not a start-up failure. */
    rc = load_and_check_adapters(f, HEAD NODE LISTEN PARTNER_A PARTNER_CARRIER("csv-manifst") TAIL,
                                 &calls);
    assert_int_equal(rc, CW_ECONFIG);
    assert_int_equal(f->errs.count, 1);
    assert_error_line(&f->errs, "test.xml:5: partner 'carrier': no adapter called 'csv-manifst' "
                                "(clearway adapter list names them)");
    rc = load_and_check_adapters(f, HEAD NODE LISTEN PARTNER_A ROUTE_A("ceb-621") TAIL, &calls);
    assert_int_equal(rc, CW_ECONFIG);
    assert_int_equal(f->errs.count, 1);
    assert_error_line(&f->errs, "test.xml:5: route 'a': no adapter called 'ceb-621' (clearway "
                                "adapter list names them)");
}

/* An adapter used on the side it does not have: a route's must write (or
 * every delivery would be dead-lettered), a partner's must read. */
static void test_config__adapter_sides_checked(void **state)
{
    fixture_t *f = *state;
    int calls;
    int rc;

    rc =
        load_and_check_adapters(f, HEAD NODE LISTEN PARTNER_A ROUTE_A("csv-manifest") TAIL, &calls);
    assert_int_equal(rc, CW_ECONFIG);
    assert_int_equal(f->errs.count, 1);
    assert_error_line(&f->errs,
                      "test.xml:5: route 'a': adapter csv-manifest cannot write outgoing messages");
    rc = load_and_check_adapters(f, HEAD NODE LISTEN PARTNER_A PARTNER_CARRIER("out-only") TAIL,
                                 &calls);
    assert_int_equal(rc, CW_ECONFIG);
    assert_int_equal(f->errs.count, 1);
    assert_error_line(
        &f->errs, "test.xml:5: partner 'carrier': adapter out-only cannot read incoming messages");
    /* Every problem, in line order, appended after what errs held. */
    rc = load_and_check_adapters(
        f, HEAD NODE LISTEN PARTNER_A PARTNER_CARRIER("nope") ROUTE_A("csv-manifest") TAIL, &calls);
    assert_int_equal(rc, CW_ECONFIG);
    assert_int_equal(f->errs.count, 2);
    assert_sorted_by_line(&f->errs);
    assert_int_equal(cw_config_adapters_check(f->cfg, fake_sides, &calls, NULL), CW_ECONFIG);
    assert_int_equal(f->errs.count, 2);
}

/* The messages of cw_config_adapters_check are allocated like the load's:
 * a failure to store one is CW_ENOMEM, never a shorter list. */
static void test_config__adapter_check_alloc_failure_loop(void **state)
{
    fixture_t *f = *state;
    int calls = 0;
    long n;
    int rc = CW_ENOMEM;

    assert_loads(f,
                 HEAD NODE LISTEN PARTNER_A PARTNER_CARRIER("nope") ROUTE_A("csv-manifest") TAIL);
    for (n = 0; n < 100 && rc == CW_ENOMEM; n++) {
        cw_config_errors_fini(&f->errs);
        cw_alloc_fail_after(n);
        rc = cw_config_adapters_check(f->cfg, fake_sides, &calls, &f->errs);
        cw_alloc_fail_reset();
    }
    assert_int_equal(rc, CW_ECONFIG);
    assert_int_equal(f->errs.count, 2);
}

/* ==== Snapshot lifetime ==== */

static void test_config__refcount(void **state)
{
    fixture_t *f = *state;
    cw_config_t *cfg;

    assert_loads(f, HEAD NODE LISTEN TAIL);
    cfg = f->cfg;
    assert_int_equal(cfg->refcount, 1);
    assert_ptr_equal(cw_config_ref(cfg), cfg);
    assert_int_equal(cfg->refcount, 2);
    cw_config_unref(cfg);
    assert_int_equal(cfg->refcount, 1);
    /* The last reference frees; ASan reports a use after free or a leak
     * if ref/unref do not balance. */
    cw_config_unref(cfg);
    f->cfg = NULL;
    cw_config_unref(NULL);
}

/* ==== Allocation failures ==== */

/* Fails the n-th allocation of a load, for every n until the load succeeds,
 * and checks that each failure is a clean CW_ENOMEM. LSan, at exit,
 * catches anything a failure path forgot to free. */
static void test_config__alloc_failure_loop(void **state)
{
    fixture_t *f = *state;
    const char *src = getenv("CLEARWAY_SRC");
    char path[4096];
    long n;
    int rc = -1;

    assert_non_null(src);
    (void)snprintf(path, sizeof(path), "%s/examples/clearway.xml", src);
    for (n = 0; n < 1000 && rc != 0; n++) {
        cw_config_errors_fini(&f->errs);
        cw_alloc_fail_after(n);
        rc = cw_config_load(&f->cfg, path, &f->errs);
        cw_alloc_fail_reset();
        if (rc != 0) {
            assert_int_equal(rc, CW_ENOMEM);
            assert_null(f->cfg);
        }
    }
    assert_int_equal(rc, 0);
    print_message("valid file: succeeded after %ld injected failures\n", n - 1);
}

static void test_config__alloc_failure_loop_with_errors(void **state)
{
    fixture_t *f = *state;
    const char *bad = HEAD "  <node id=\"bad id\"/>\n"
                           "  <workers>x</workers>\n"
                           "  <listen name=\"a\" address=\"nowhere\" port=\"1\"/>\n"
                           "  <listen name=\"a\" address=\"::1\" port=\"1\" extra=\"1\"/>\n" TAIL;
    size_t want;
    long n;
    int rc = CW_ENOMEM;

    assert_int_equal(load(f, bad), CW_ECONFIG);
    want = f->errs.count;
    assert_int_equal(want, 5);
    for (n = 0; n < 1000 && rc == CW_ENOMEM; n++) {
        cw_config_errors_fini(&f->errs);
        cw_alloc_fail_after(n);
        rc = cw_config_load_mem(&f->cfg, "test.xml", bad, strlen(bad), &f->errs);
        cw_alloc_fail_reset();
        assert_null(f->cfg);
    }
    assert_int_equal(rc, CW_ECONFIG);
    assert_int_equal(f->errs.count, want);
    print_message("invalid file: complete after %ld injected failures\n", n - 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_config__minimal_applies_defaults),
        T(test_config__every_value_applied),
        T(test_config__example_file_loads),
        T(test_config__bounds_accepted_and_stored),
        T(test_config__out_of_range_reports_line_and_range),
        T(test_config__listen_attribute_ranges),
        T(test_config__non_number_rejected),
        T(test_config__partners_and_node_keys),
        T(test_config__partner_problems),
        T(test_config__node_key_and_cert_together),
        T(test_config__partner_transport_mode),
        T(test_config__routes_and_store),
        T(test_config__store_path_may_be_a_postgresql_url),
        T(test_config__tls_listener_rules),
        T(test_config__route_problems),
        T(test_config__route_adapter_sign_needs_adapter),
        T(test_config__route_xslt_needs_its_stylesheet),
        T(test_config__unknown_element_reports_line),
        T(test_config__unknown_and_missing_attributes),
        T(test_config__missing_node_and_listen),
        T(test_config__too_many_listens),
        T(test_config__wrong_root_rejected),
        T(test_config__node_id_pattern),
        T(test_config__bad_address),
        T(test_config__duplicate_listen_name),
        T(test_config__listen_address_conflicts),
        T(test_config__all_errors_reported),
        T(test_config__error_output_is_capped),
        T(test_config__doctype_rejected),
        T(test_config__malformed_xml_reports_line),
        T(test_config__big_line_numbers),
        T(test_config__size_cap),
        T(test_config__missing_file),
        T(test_config__errs_may_be_null),
        T(test_config__adapter_names_checked_with_lines),
        T(test_config__adapter_sides_checked),
        T(test_config__adapter_check_alloc_failure_loop),
        T(test_config__refcount),
        T(test_config__alloc_failure_loop),
        T(test_config__alloc_failure_loop_with_errors),
#undef T
    };

    return cmocka_run_group_tests_name("config_config", tests, group_setup, group_teardown);
}
