/*
 * `clearway assess` end to end: the command prints the same assessment as
 * the library (the golden text files) and its exit code follows the lane.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "checks.h"
#include "support.h"

/* Runs cmd; returns its exit code and its stdout in out (cw_free). */
static int run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    cw_buf_t b;
    char chunk[4096];
    size_t n, len;
    int st;

    assert_non_null(p);
    cw_buf_init(&b, 1 << 20);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        assert_int_equal(cw_buf_append(&b, chunk, n), 0);
    }
    st = pclose(p);
    assert_int_equal(cw_buf_append(&b, "", 0), 0);
    *out = cw_buf_detach(&b, &len);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    char cmd[2048], *out = NULL;

    (void)snprintf(cmd, sizeof(cmd), "cat '%s'", path);
    assert_int_equal(run(cmd, &out), 0);
    return out;
}

typedef struct cli_case {
    const char *name;   /* fixture */
    const char *date;   /* --date */
    const char *sender; /* --sender */
    int exit_code;      /* 0 green, 1 yellow or red */
} cli_case_t;

static void test_assess_text(void **state)
{
    static const cli_case_t cases[] = {
        { "uk-vendor-headphones", "2026-09-16", "klangwerk", 0 },
        { "eu-ss-battery-post", "2026-11-20", "postal-cn", 1 },
        { "us-2025-sneakers", "2026-03-05", "carrier-trusted", 1 },
    };
    const char *cli = getenv("CLEARWAY_CLI");
    char src[1024], cmd[4096], golden[1400];

    (void)state;
    if (cli == NULL) {
        skip();
    }
    ct_path(src, sizeof(src), "");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL, *want;
        int rc;
        (void)snprintf(cmd, sizeof(cmd),
                       "'%s' assess --rules '%s/rules' --date %s --sender %s --format text "
                       "'%s/tests/data/consignments/%s.xml'",
                       cli, src, cases[i].date, cases[i].sender, src, cases[i].name);
        rc = run(cmd, &out);
        (void)snprintf(golden, sizeof(golden), "%s/tests/data/consignments/%s.%s.assessment.txt",
                       src, cases[i].name, cases[i].date);
        want = slurp(golden);
        assert_int_equal(rc, cases[i].exit_code);
        assert_string_equal(out, want);
        cw_free(out);
        cw_free(want);
    }
}

static void test_assess_usage(void **state)
{
    const char *cli = getenv("CLEARWAY_CLI");
    char src[1024], cmd[4096];
    char *out = NULL;

    (void)state;
    if (cli == NULL) {
        skip();
    }
    ct_path(src, sizeof(src), "");
    (void)snprintf(cmd, sizeof(cmd), "'%s' assess --format pdf x.xml 2>/dev/null", cli);
    assert_int_equal(run(cmd, &out), 2);
    cw_free(out);
    (void)snprintf(cmd, sizeof(cmd),
                   "'%s' assess --rules /nonexistent '%s/tests/data/consignments/au-wine-gift.xml' "
                   "2>/dev/null",
                   cli, src);
    assert_int_equal(run(cmd, &out), 3);
    cw_free(out);
    /* the XML format names the node "cli" and validates as an assessment */
    (void)snprintf(cmd, sizeof(cmd),
                   "'%s' assess --rules '%s/rules' --date 2026-06-10 "
                   "'%s/tests/data/consignments/au-wine-gift.xml'",
                   cli, src, src);
    assert_int_equal(run(cmd, &out), 1);
    assert_non_null(strstr(out, "<Assessment xmlns=\"urn:clearway:assessment:1\" node=\"cli\">"));
    assert_non_null(strstr(out, "<Lane>yellow</Lane>"));
    cw_free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assess_text),
        cmocka_unit_test(test_assess_usage),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
