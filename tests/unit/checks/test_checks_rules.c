/*
 * Rules loading and profile selection (gateway/checks/profile.c): every
 * file of rules/ validates and loads; each profile is chosen on its side of
 * every date where the law changed; a broken rules directory is refused
 * with the file named; the snapshot is refcounted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "checks.h"
#include "support.h"

static cw_checks_rules_t *rules;

typedef struct select_case {
    const char *country; /* destination */
    const char *date;    /* reference date */
    const char *profile; /* expected id, NULL: none */
} select_case_t;

static void test_select(void **state)
{
    /* clang-format off */
    static const select_case_t cases[] = {
        { "DE", "2021-06-30", NULL },      { "DE", "2021-07-01", "EU-2021" },
        { "DE", "2026-06-30", "EU-2021" }, { "DE", "2026-07-01", "EU-2026" },
        { "FR", "2028-06-30", "EU-2026" }, { "FR", "2028-07-01", NULL },
        { "SK", "2026-06-30", "EU-2021" }, { "SK", "2026-07-01", "EU-2026" },
        { "US", "2016-03-09", NULL },      { "US", "2016-03-10", "US-2016" },
        { "US", "2025-08-28", "US-2016" }, { "US", "2025-08-29", "US-2025" },
        { "US", "2030-01-01", "US-2025" }, { "GB", "2020-12-31", NULL },
        { "GB", "2021-01-01", "UK-2021" }, { "AU", "2018-06-30", NULL },
        { "AU", "2018-07-01", "AU-2018" }, { "CA", "2020-06-30", NULL },
        { "CA", "2020-07-01", "CA-2020" }, { "CN", "2018-12-31", NULL },
        { "CN", "2019-01-01", "CN-2019" }, { "JP", "2026-01-01", NULL },
        { "CH", "2026-01-01", NULL },      { "XI", "2026-01-01", NULL },
    };
    /* clang-format on */

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t d;
        const cw_checks_profile_t *p;
        assert_int_equal(cw_checks_date_parse(&d, cases[i].date), 0);
        p = cw_checks_rules_profile_find(rules, cases[i].country, d);
        if (cases[i].profile == NULL && p != NULL) {
            fail_msg("%s %s: got %s, expected none", cases[i].country, cases[i].date,
                     cw_checks_profile_id(p));
        }
        if (cases[i].profile != NULL
            && (p == NULL || strcmp(cw_checks_profile_id(p), cases[i].profile) != 0)) {
            fail_msg("%s %s: got %s, expected %s", cases[i].country, cases[i].date,
                     p != NULL ? cw_checks_profile_id(p) : "none", cases[i].profile);
        }
    }
}

static void test_by_id(void **state)
{
    static const char *const ids[] = { "EU-2021", "EU-2026", "US-2016", "US-2025",
                                       "UK-2021", "AU-2018", "CA-2020", "CN-2019" };

    (void)state;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        const cw_checks_profile_t *p = cw_checks_rules_profile_get(rules, ids[i]);
        assert_non_null(p);
        assert_string_equal(cw_checks_profile_id(p), ids[i]);
        assert_string_equal(cw_checks_profile_version(p), "2026.11.1");
    }
    assert_null(cw_checks_rules_profile_get(rules, "EU-1999"));
}

static void test_version_and_ref(void **state)
{
    const char *v = cw_checks_rules_version(rules);

    (void)state;
    assert_non_null(strstr(v, "fx-rates.xml@2026-11-27"));
    assert_non_null(strstr(v, "trusted.xml@"));
    assert_ptr_equal(cw_checks_rules_ref(rules), rules);
    cw_checks_rules_unref(rules); /* back to one reference */
    cw_checks_rules_unref(NULL);
}

/* A profile forced by id overrides destination and date. */
static void test_forced_profile(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_context_t x;
    cw_checks_assessment_t *a = cw_calloc(1, sizeof(*a));
    cw_error_t err;

    (void)state;
    assert_non_null(a);
    ct_base(&c, "DE", "20.00");
    ct_ctx(&x, "2026-05-01", "p");
    x.profile_id = "EU-2026";
    assert_int_equal(cw_checks_run(a, rules, &c, &x, NULL, &err), 0);
    assert_string_equal(a->profile_id, "EU-2026");
    assert_int_equal(a->revenue.duty_minor, 300);
    x.profile_id = "XX-0000";
    assert_int_equal(cw_checks_run(a, rules, &c, &x, NULL, &err), 0);
    assert_string_equal(a->profile_id, "");
    assert_int_equal(a->lane, CW_CHECKS_LANE_RED);
    assert_string_equal(a->findings[0].code, "DAT-002");
    cw_checks_consignment_fini(&c);
    cw_free(a);
}

static void test_history_query(void **state)
{
    cw_checks_consignment_t c;
    cw_checks_context_t x;
    cw_checks_history_query_t q;
    char d[16];

    (void)state;
    ct_base(&c, "DE", "20.00");
    ct_ctx(&x, "2026-05-31", "sender-a");
    assert_int_equal(cw_checks_history_query_make(&q, rules, &c, &x), 0);
    cw_checks_date_format(d, sizeof(d), q.since_date);
    assert_string_equal(d, "2026-05-02"); /* the 30-day THR-002 window */
    cw_checks_date_format(d, sizeof(d), q.year_start);
    assert_string_equal(d, "2026-01-01");
    assert_int_equal(q.until_date, x.reference_date);
    assert_string_equal(q.order_number, "O-1");
    assert_int_equal(strlen(q.buyer_key), 64);
    (void)cw_strlcpy(c.destination_country, "JP", sizeof(c.destination_country));
    assert_int_equal(cw_checks_history_query_make(&q, rules, &c, &x), CW_ENOENT);
    cw_checks_consignment_fini(&c);
}

/* ==== Broken rules directories ==== */

static void copy_dir(const char *from, const char *to)
{
    char cmd[4096];

    (void)snprintf(cmd, sizeof(cmd), "cp -R '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

static void replace_in(const char *path, const char *old, const char *new_text)
{
    char cmd[8192];

    (void)snprintf(cmd, sizeof(cmd), "sed -i 's|%s|%s|' '%s'", old, new_text, path);
    assert_int_equal(system(cmd), 0);
}

typedef struct broken_case {
    const char *file;   /* under rules/ */
    const char *old;    /* sed pattern */
    const char *repl;   /* replacement */
    const char *expect; /* substring of the error */
} broken_case_t;

static void test_broken(void **state)
{
    /* clang-format off */
    static const broken_case_t cases[] = {
        { "profiles/eu-2021.xml", "<Currency>EUR</Currency>", "<Currency>EURO</Currency>",
          "eu-2021.xml" },
        { "profiles/eu-2026.xml", "from=\"2026-07-01\"", "from=\"2026-06-01\"",
          "overlap" },
        { "profiles/uk-2021.xml", "<Currency>GBP</Currency>", "<Currency>XAU</Currency>",
          "uk-2021.xml" },
        { "profiles/au-2018.xml", "<Currency>AUD</Currency>", "<Currency>NZD</Currency>",
          "no FX rate" },
        { "fx-rates.xml", "per-base=\"1.0898\"", "per-base=\"-1\"", "fx-rates.xml" },
        { "duty-rates.xml", "heading=\"6109\"", "heading=\"61\"", "duty-rates.xml" },
        { "restricted.xml", "<Restrictions", "<Restriction", "restricted.xml" },
        { "trusted.xml", "from=\"2024-01-01\"", "from=\"someday\"", "trusted.xml" },
        { "stop-words.xml", "</StopWords>", "", "stop-words.xml" },
        { "profiles/cn-2019.xml", "<Valid from=\"2019-01-01\"/>",
          "<Valid from=\"2019-01-01\" to=\"2018-01-01\"/>", "before" },
    };
    /* clang-format on */
    char src[1024], tmpl[] = "/tmp/cw-rules-XXXXXX", dir[1200], path[1400], cmd[1400];

    (void)state;
    ct_path(src, sizeof(src), "rules");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cw_checks_rules_t *r = NULL;
        cw_error_t err;
        char *base;
        (void)cw_strlcpy(tmpl, "/tmp/cw-rules-XXXXXX", sizeof(tmpl));
        base = mkdtemp(tmpl);
        assert_non_null(base);
        (void)snprintf(dir, sizeof(dir), "%s/rules", base);
        copy_dir(src, dir);
        (void)snprintf(path, sizeof(path), "%s/%s", dir, cases[i].file);
        replace_in(path, cases[i].old, cases[i].repl);
        cw_error_clear(&err);
        if (cw_checks_rules_load(&r, dir, &err) == 0) {
            cw_checks_rules_unref(r);
            fail_msg("case %zu (%s) loaded", i, cases[i].file);
        }
        assert_null(r);
        if (strstr(err.msg, cases[i].expect) == NULL) {
            fail_msg("case %zu: \"%s\" does not mention \"%s\"", i, err.msg, cases[i].expect);
        }
        (void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        assert_int_equal(system(cmd), 0);
    }
}

static void test_missing_dir(void **state)
{
    cw_checks_rules_t *r = NULL;
    cw_error_t err;

    (void)state;
    cw_error_clear(&err);
    assert_int_equal(cw_checks_rules_load(&r, "/nonexistent/rules", &err), CW_EIO);
    assert_null(r);
}

/* Allocation failures anywhere in the load give CW_ENOMEM, never a crash
 * or a leak (ASan). */
static void test_load_oom(void **state)
{
    char dir[1024];

    (void)state;
    ct_path(dir, sizeof(dir), "rules");
    for (long n = 0; n < 400; n += 7) {
        cw_checks_rules_t *r = NULL;
        cw_error_t err;
        int rc;
        cw_error_clear(&err);
        cw_alloc_fail_after(n);
        rc = cw_checks_rules_load(&r, dir, &err);
        cw_alloc_fail_reset();
        if (rc == 0) {
            cw_checks_rules_unref(r);
            break;
        }
        assert_true(rc == CW_ENOMEM || rc == CW_ECONFIG || rc == CW_EINTERNAL);
    }
}

static int setup(void **state)
{
    (void)state;
    rules = ct_rules();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cw_checks_rules_unref(rules);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_select),          cmocka_unit_test(test_by_id),
        cmocka_unit_test(test_version_and_ref), cmocka_unit_test(test_forced_profile),
        cmocka_unit_test(test_history_query),   cmocka_unit_test(test_broken),
        cmocka_unit_test(test_missing_dir),     cmocka_unit_test(test_load_oom),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
