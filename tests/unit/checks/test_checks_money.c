/*
 * Decimal money, FX conversion and dates (gateway/checks/money.c): exact
 * integer arithmetic with half-even rounding, never binary floating point.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "checks.h"
#include "checks/internal.h"

typedef struct parse_case {
    const char *in; /* decimal string */
    int exp;        /* currency exponent */
    int rc;         /* expected return */
    int64_t minor;  /* expected minor units */
} parse_case_t;

static void test_parse(void **state)
{
    static const parse_case_t cases[] = {
        { "12.50", 2, 0, 1250 },    { "12.5", 2, 0, 1250 },
        { "12", 2, 0, 1200 },       { "0.01", 2, 0, 1 },
        { "-3.20", 2, 0, -320 },    { "+3.2", 2, 0, 320 },
        { "12.345", 2, 0, 1234 },  /* half-even: .5 to the even 4 */
        { "12.355", 2, 0, 1236 },  /* half-even: .5 to the even 6 */
        { "12.3451", 2, 0, 1235 }, /* above half */
        { "0.005", 2, 0, 0 },       { "0.015", 2, 0, 2 },
        { "-0.015", 2, 0, -2 },     { "1250.5", 0, 0, 1250 },
        { "1251.5", 0, 0, 1252 },   { "1.2345", 3, 0, 1234 },
        { "1.2355", 3, 0, 1236 },   { "0.0001", 4, 0, 1 },
        { "", 2, CW_EPARSE, 0 },    { "1.2.3", 2, CW_EPARSE, 0 },
        { "12a", 2, CW_EPARSE, 0 }, { ".", 2, CW_EPARSE, 0 },
        { "1e3", 2, CW_EPARSE, 0 }, { "99999999999999999999", 2, CW_E2BIG, 0 },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 0;
        int rc = cw_checks_money_parse(&v, cases[i].in, cases[i].exp);
        if (rc != cases[i].rc || (rc == 0 && v != cases[i].minor)) {
            fail_msg("parse \"%s\" exp %d: rc %d value %lld, expected rc %d value %lld",
                     cases[i].in, cases[i].exp, rc, (long long)v, cases[i].rc,
                     (long long)cases[i].minor);
        }
    }
}

static void test_format(void **state)
{
    char buf[48];

    (void)state;
    cw_checks_money_format(buf, sizeof(buf), 1250, 2);
    assert_string_equal(buf, "12.50");
    cw_checks_money_format(buf, sizeof(buf), -5, 2);
    assert_string_equal(buf, "-0.05");
    cw_checks_money_format(buf, sizeof(buf), 1250, 0);
    assert_string_equal(buf, "1250");
    cw_checks_money_format(buf, sizeof(buf), 862069, 6);
    assert_string_equal(buf, "0.862069");
    cw_checks_money_format(buf, sizeof(buf), INT64_MIN + 1, 2);
    assert_string_equal(buf, "-92233720368547758.07");
}

typedef struct convert_case {
    int64_t amount; /* minor units */
    int from_exp;   /* source exponent */
    int64_t rate;   /* × 10^6 */
    int to_exp;     /* target exponent */
    int64_t expect; /* target minor units */
} convert_case_t;

static void test_convert(void **state)
{
    static const convert_case_t cases[] = {
        { 10000, 2, 862069, 2, 8621 },    /* USD 100.00 at 0.862069 -> EUR 86.21 */
        { 17400, 2, 862069, 2, 15000 },   /* USD 174.00 -> EUR 150.00 */
        { 17402, 2, 862069, 2, 15002 },   /* one cent more stays above */
        { 100, 2, 180500000, 0, 180 },    /* EUR 1.00 -> JPY 180.5 -> 180 (half-even) */
        { 1000, 0, 5540, 2, 554 },        /* JPY 1000 at 0.00554 -> EUR 5.54 */
        { 1, 2, 500000, 2, 0 },           /* 0.005 -> 0 (even) */
        { 3, 2, 500000, 2, 2 },           /* 0.015 -> 0.02 (even) */
        { -3, 2, 500000, 2, -2 },         /* symmetric for negatives */
        { 12345, 2, 1000000, 3, 123450 }, /* exponent change only */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t out = 0;
        assert_int_equal(cw_checks_money_convert(&out, cases[i].amount, cases[i].from_exp,
                                                 cases[i].rate, cases[i].to_exp),
                         0);
        if (out != cases[i].expect) {
            fail_msg("case %zu: %lld, expected %lld", i, (long long)out,
                     (long long)cases[i].expect);
        }
    }
}

static void test_convert_errors(void **state)
{
    int64_t out = 0;

    (void)state;
    assert_int_equal(cw_checks_money_convert(&out, 100, 2, 0, 2), CW_EINVAL);
    assert_int_equal(cw_checks_money_convert(&out, 100, 5, 1000000, 2), CW_EINVAL);
    assert_int_equal(cw_checks_money_convert(&out, INT64_MAX, 2, 1000000, 2), CW_E2BIG);
    assert_int_equal(cw_checks_money_convert(&out, 900000000000000000LL, 0, 1000000000, 4),
                     CW_E2BIG);
}

/* The exact cross rate: one 128-bit product, rounded once (internal.h). */
static void test_fx_convert_exact(void **state)
{
    /* EUR per JPY on the 2026-11-27 table: 1 / 180.50 */
    const cw_checks_fx_t jpy_eur = { .from_micro = 180500000, .to_micro = 1000000 };
    const cw_checks_fx_t usd_eur = { .from_micro = 1160000, .to_micro = 1000000 };
    const cw_checks_fx_t eur_eur = { .from_micro = 1000000, .to_micro = 1000000 };
    int64_t out = 0;

    (void)state;
    /* 27076 / 180.5 = 150.0055: 150.01 (the micro rate 0.005540 gave 150.00) */
    assert_int_equal(cw_checks__fx_convert(&out, 27076, 0, &jpy_eur, 2), 0);
    assert_int_equal(out, 15001);
    assert_int_equal(cw_checks__fx_micro(&jpy_eur), 5540);
    assert_int_equal(cw_checks__fx_convert(&out, 17400, 2, &usd_eur, 2), 0);
    assert_int_equal(out, 15000);
    assert_int_equal(cw_checks__fx_convert(&out, 17402, 2, &usd_eur, 2), 0);
    assert_int_equal(out, 15002);
    assert_int_equal(cw_checks__fx_micro(&usd_eur), 862069);
    /* 0.125 -> half-even once at the end */
    assert_int_equal(cw_checks__fx_convert(&out, 125, 3, &eur_eur, 2), 0);
    assert_int_equal(out, 12);
    /* bounds: never overflow, E2BIG beyond CW_CHECKS_AMOUNT_MAX */
    assert_int_equal(cw_checks__fx_convert(&out, CW_CHECKS_AMOUNT_MAX, 2, &eur_eur, 2), 0);
    assert_int_equal(cw_checks__fx_convert(&out, CW_CHECKS_AMOUNT_MAX + 1, 2, &eur_eur, 2),
                     CW_E2BIG);
    assert_int_equal(cw_checks__fx_convert(&out, INT64_MAX, 0, &jpy_eur, 4), CW_E2BIG);
    assert_int_equal(cw_checks__fx_convert(&out, INT64_MIN, 0, &jpy_eur, 4), CW_E2BIG);
}

static void test_checked_arithmetic(void **state)
{
    int64_t v = 0, acc;

    (void)state;
    /* 100000 × 999999999999.00: above INT64_MAX, reported, not asserted */
    assert_int_equal(cw_checks__line_value(&v, 99999999999900LL, 100000000LL), CW_E2BIG);
    assert_int_equal(cw_checks__line_value(&v, INT64_MAX, INT64_MAX), CW_E2BIG);
    assert_int_equal(cw_checks__line_value(&v, INT64_MIN, INT64_MAX), CW_E2BIG);
    assert_int_equal(cw_checks__line_value(&v, 1250, 1500), 0); /* 18.75 */
    assert_int_equal(v, 1875);
    assert_int_equal(cw_checks__line_value(&v, 1, 500), 0); /* 0.005 -> 0 (even) */
    assert_int_equal(v, 0);
    acc = CW_CHECKS_AMOUNT_MAX - 1;
    assert_int_equal(cw_checks__amount_add(&acc, 1), 0);
    assert_int_equal(cw_checks__amount_add(&acc, 1), CW_E2BIG);
    assert_int_equal(acc, CW_CHECKS_AMOUNT_MAX);
    acc = INT64_MAX;
    assert_int_equal(cw_checks__amount_add(&acc, INT64_MAX), CW_E2BIG);
    assert_int_equal(cw_checks__ratio_sat((__int128)INT64_MAX * 1000, 1), INT64_MAX);
    assert_int_equal(cw_checks__ratio_sat(-(__int128)INT64_MAX * 1000, 1), -INT64_MAX);
    assert_int_equal(cw_checks__ratio_sat(5, 2), 2);
}

static void test_percent(void **state)
{
    (void)state;
    assert_int_equal(cw_checks_money_percent(1250, 1900), 238);   /* 2.375 -> 2.38 */
    assert_int_equal(cw_checks_money_percent(1350, 1900), 256);   /* 2.565 -> 2.56 */
    assert_int_equal(cw_checks_money_percent(4580, 1900), 870);   /* 8.702 -> 8.70 */
    assert_int_equal(cw_checks_money_percent(100000, 910), 9100); /* CN 9.1 % */
    assert_int_equal(cw_checks_money_percent(-1250, 1900), -238);
    assert_int_equal(cw_checks_money_percent(0, 2000), 0);
}

static void test_exponent(void **state)
{
    (void)state;
    assert_int_equal(cw_checks_currency_exponent("EUR"), 2);
    assert_int_equal(cw_checks_currency_exponent("JPY"), 0);
    assert_int_equal(cw_checks_currency_exponent("KWD"), 3);
    assert_int_equal(cw_checks_currency_exponent("CLF"), 4);
    assert_int_equal(cw_checks_currency_exponent("XYZ"), 2);
}

static void test_dates(void **state)
{
    static const struct {
        const char *in;
        int rc;
        int32_t days;
    } cases[] = {
        { "1970-01-01", 0, 0 },          { "2026-07-01", 0, 20635 },
        { "2026-06-30", 0, 20634 },      { "2024-02-29", 0, 19782 },
        { "2025-02-29", CW_EPARSE, 0 },  { "2026-13-01", CW_EPARSE, 0 },
        { "2026-7-01", CW_EPARSE, 0 },   { "2026-11-29T10:00:00Z", 0, 20786 },
        { "2026-11-29X", CW_EPARSE, 0 }, { "", CW_EPARSE, 0 },
    };
    char buf[16];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t d = -1;
        int rc = cw_checks_date_parse(&d, cases[i].in);
        if (rc != cases[i].rc || (rc == 0 && d != cases[i].days)) {
            fail_msg("date \"%s\": rc %d days %d", cases[i].in, rc, (int)d);
        }
        if (rc == 0) {
            cw_checks_date_format(buf, sizeof(buf), d);
            assert_memory_equal(buf, cases[i].in, 10);
        }
    }
    assert_int_equal(cw_checks_date_year(20634), 2026);
    assert_int_equal(cw_checks_date_year(20453), 2025); /* 2025-12-31 */
}

/*
 * A message Timestamp's day is its instant's UTC day: the same instant
 * written with +14:00 and with -10:00 (two literal dates a day apart, which
 * a sender could use to put two parcels on two days) is one day.
 */
static void test_instant_day(void **state)
{
    static const struct {
        const char *in;
        int rc;
        const char *day;
    } cases[] = {
        { "2025-06-11T02:00:00+14:00", 0, "2025-06-10" },
        { "2025-06-10T02:00:00-10:00", 0, "2025-06-10" },
        { "2025-06-10T12:00:00Z", 0, "2025-06-10" },
        { "2025-06-10T23:30:00.250-01:00", 0, "2025-06-11" },
        { "2025-01-01T00:30:00+01:00", 0, "2024-12-31" },
        { "1970-01-01T00:00:00+00:01", 0, "1969-12-31" },
        { "2025-06-10", CW_EPARSE, NULL },
        { "2025-06-10T12:00:00", CW_EPARSE, NULL },
        { "2025-06-10T24:00:00Z", CW_EPARSE, NULL },
        { "2025-06-10T12:00:00+24:00", CW_EPARSE, NULL },
        { "2025-06-10T12:00:00+01:00x", CW_EPARSE, NULL },
        { "2025-06-10T12:00:00.Z", CW_EPARSE, NULL },
        { "2025-02-29T12:00:00Z", CW_EPARSE, NULL },
    };
    char buf[16];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int32_t d = -12345;
        int rc = cw_checks_instant_day(&d, cases[i].in);

        if (rc != cases[i].rc) {
            fail_msg("instant \"%s\": rc %d", cases[i].in, rc);
        }
        if (rc == 0) {
            cw_checks_date_format(buf, sizeof(buf), d);
            if (strcmp(buf, cases[i].day) != 0) {
                fail_msg("instant \"%s\": day %s, not %s", cases[i].in, buf, cases[i].day);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_convert_errors),
        cmocka_unit_test(test_percent),
        cmocka_unit_test(test_exponent),
        cmocka_unit_test(test_fx_convert_exact),
        cmocka_unit_test(test_checked_arithmetic),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_instant_day),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
