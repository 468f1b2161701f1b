/*
 * checks/money.c: decimal amounts in integer minor units, FX conversion and
 * calendar dates. No binary floating point anywhere: amounts are int64,
 * rates are integers scaled by 10^6, intermediate products use 128 bits,
 * and every rounding is half-even (banker's rounding), done once at the end.
 */
#include <stdio.h>
#include <string.h>

#include "checks.h"
#include "internal.h"

/* Largest amount we accept in minor units: keeps every product of an
 * amount and a scaled rate inside 128 bits with room to spare. */
#define CW_CHECKS_MINOR_MAX ((int64_t)1000000000000000000LL)

static const int64_t pow10_tab[] = { 1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL };

static __int128 div_half_even128(__int128 a, __int128 b)
{
    __int128 q, r, twice;
    int neg = 0;

    if (a < 0) {
        neg = 1;
        a = -a;
    }
    q = a / b;
    r = a % b;
    twice = r * 2;
    if (twice > b || (twice == b && (q & 1) != 0)) {
        q++;
    }
    return neg ? -q : q;
}

int64_t cw_checks__div_half_even(__int128 a, __int128 b)
{
    __int128 q;

    if (CW_NEVER(b <= 0)) {
        return 0;
    }
    q = div_half_even128(a, b);
    if (CW_NEVER(q > INT64_MAX || q < -INT64_MAX)) {
        return 0;
    }
    return (int64_t)q;
}

/*
 * Parses a decimal into value × 10^scale with `frac` digits, rounding
 * half-even when more fraction digits are given.
 */
static int parse_decimal(int64_t *out, const char *s, int scale)
{
    __int128 v = 0;
    int neg = 0;
    int digits = 0;
    int frac = -1;
    int extra = 0;
    __int128 extra_v = 0;
    __int128 extra_div = 1;

    if (s == NULL || *s == '\0') {
        return CW_EPARSE;
    }
    if (*s == '-' || *s == '+') {
        neg = *s == '-';
        s++;
    }
    for (; *s != '\0'; s++) {
        if (*s == '.') {
            if (frac >= 0) {
                return CW_EPARSE;
            }
            frac = 0;
            continue;
        }
        if (*s < '0' || *s > '9') {
            return CW_EPARSE;
        }
        digits++;
        if (frac >= 0 && frac >= scale) {
            if (extra < 18) {
                extra_v = extra_v * 10 + (*s - '0');
                extra_div *= 10;
                extra++;
            }
            continue;
        }
        v = v * 10 + (*s - '0');
        if (frac >= 0) {
            frac++;
        }
        if (v > (__int128)CW_CHECKS_MINOR_MAX * 10) {
            return CW_E2BIG;
        }
    }
    if (digits == 0) {
        return CW_EPARSE;
    }
    for (int f = frac < 0 ? 0 : frac; f < scale; f++) {
        v *= 10;
    }
    if (extra > 0) {
        __int128 twice = extra_v * 2;
        if (twice > extra_div || (twice == extra_div && (v & 1) != 0)) {
            v++;
        }
    }
    if (v > CW_CHECKS_MINOR_MAX) {
        return CW_E2BIG;
    }
    *out = (int64_t)(neg ? -v : v);
    return 0;
}

int cw_checks_money_parse(int64_t *out_minor, const char *s, int exponent)
{
    if (exponent < 0 || exponent > 4) {
        return CW_EINVAL;
    }
    return parse_decimal(out_minor, s, exponent);
}

int cw_checks__parse_scale4(int64_t *out, const char *s)
{
    const char *dot = s != NULL ? strchr(s, '.') : NULL;

    if (dot != NULL && strlen(dot + 1) > 4) {
        return CW_EPARSE;
    }
    return parse_decimal(out, s, 4);
}

int64_t cw_checks__scale4_to_minor(int64_t v4, int exponent)
{
    if (exponent >= 4) {
        return v4;
    }
    return cw_checks__div_half_even(v4, pow10_tab[4 - exponent]);
}

void cw_checks_money_format(char *out, size_t size, int64_t minor, int exponent)
{
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    uint64_t div;

    if (exponent <= 0 || exponent > 6) {
        (void)snprintf(out, size, "%s%llu", minor < 0 ? "-" : "", (unsigned long long)mag);
        return;
    }
    div = (uint64_t)pow10_tab[exponent];
    (void)snprintf(out, size, "%s%llu.%0*llu", minor < 0 ? "-" : "",
                   (unsigned long long)(mag / div), exponent, (unsigned long long)(mag % div));
}

/*
 * amount × num × 10^to_exp / (den × 10^from_exp), rounded half-even once,
 * into *out_minor when its magnitude is at most max. Every product is
 * checked, so no input can overflow. Returns 0, CW_EINVAL or CW_E2BIG.
 */
static int convert_ratio(int64_t *out_minor,
                         int64_t amount_minor,
                         int from_exp,
                         int64_t num,
                         int64_t den,
                         int to_exp,
                         int64_t max)
{
    __int128 n, d, q;

    if (from_exp < 0 || from_exp > 4 || to_exp < 0 || to_exp > 4 || num <= 0 || den <= 0) {
        return CW_EINVAL;
    }
    if (__builtin_mul_overflow((__int128)amount_minor, (__int128)num, &n)
        || __builtin_mul_overflow(n, (__int128)pow10_tab[to_exp], &n)
        || __builtin_mul_overflow((__int128)den, (__int128)pow10_tab[from_exp], &d)) {
        return CW_E2BIG;
    }
    q = div_half_even128(n, d);
    if (q > max || q < -max) {
        return CW_E2BIG;
    }
    *out_minor = (int64_t)q;
    return 0;
}

int cw_checks_money_convert(
    int64_t *out_minor, int64_t amount_minor, int from_exp, int64_t rate_micro, int to_exp)
{
    if (rate_micro <= 0) {
        return CW_EINVAL;
    }
    if (amount_minor > CW_CHECKS_MINOR_MAX || amount_minor < -CW_CHECKS_MINOR_MAX
        || rate_micro > CW_CHECKS_MINOR_MAX) {
        return CW_E2BIG;
    }
    return convert_ratio(out_minor, amount_minor, from_exp, rate_micro, 1000000, to_exp,
                         CW_CHECKS_MINOR_MAX);
}

int cw_checks__fx_convert(
    int64_t *out_minor, int64_t amount_minor, int from_exp, const cw_checks_fx_t *fx, int to_exp)
{
    /* to per from = per_base(to) / per_base(from): one exact ratio, no
     * intermediate rate rounded to 10^-6 (JPY 27076 is EUR 150.0055). */
    return convert_ratio(out_minor, amount_minor, from_exp, fx->to_micro, fx->from_micro, to_exp,
                         CW_CHECKS_AMOUNT_MAX);
}

int64_t cw_checks__fx_micro(const cw_checks_fx_t *fx)
{
    if (CW_NEVER(fx->from_micro <= 0)) {
        return 0;
    }
    return cw_checks__div_half_even((__int128)fx->to_micro * 1000000, fx->from_micro);
}

int cw_checks__line_value(int64_t *out_minor, int64_t unit_minor, int64_t quantity_milli)
{
    __int128 q = div_half_even128((__int128)unit_minor * quantity_milli, 1000);

    /* |unit| and quantity are int64: their product fits in 127 bits. */
    if (q > CW_CHECKS_AMOUNT_MAX || q < -CW_CHECKS_AMOUNT_MAX) {
        return CW_E2BIG;
    }
    *out_minor = (int64_t)q;
    return 0;
}

int cw_checks__amount_add(int64_t *acc_minor, int64_t v_minor)
{
    int64_t sum;

    if (__builtin_add_overflow(*acc_minor, v_minor, &sum) || sum > CW_CHECKS_AMOUNT_MAX
        || sum < -CW_CHECKS_AMOUNT_MAX) {
        return CW_E2BIG;
    }
    *acc_minor = sum;
    return 0;
}

int64_t cw_checks__ratio_sat(__int128 a, __int128 b)
{
    __int128 q;

    if (CW_NEVER(b <= 0)) {
        return 0;
    }
    q = div_half_even128(a, b);
    if (q > INT64_MAX) {
        return INT64_MAX;
    }
    return q < -INT64_MAX ? -INT64_MAX : (int64_t)q;
}

int64_t cw_checks_money_percent(int64_t amount_minor, int32_t rate_bp)
{
    return cw_checks__div_half_even((__int128)amount_minor * rate_bp, 10000);
}

int cw_checks_currency_exponent(const char *currency)
{
    /* ISO 4217 currencies whose minor unit is not 2 digits (list one). */
    static const char *const exp0[] = { "BIF", "CLP", "DJF", "GNF", "ISK", "JPY",
                                        "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
                                        "VND", "VUV", "XAF", "XOF", "XPF" };
    static const char *const exp3[] = { "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND" };
    static const char *const exp4[] = { "CLF", "UYW" };

    for (size_t i = 0; i < CW_ARRAY_SIZE(exp0); i++) {
        if (strcmp(currency, exp0[i]) == 0) {
            return 0;
        }
    }
    for (size_t i = 0; i < CW_ARRAY_SIZE(exp3); i++) {
        if (strcmp(currency, exp3[i]) == 0) {
            return 3;
        }
    }
    for (size_t i = 0; i < CW_ARRAY_SIZE(exp4); i++) {
        if (strcmp(currency, exp4[i]) == 0) {
            return 4;
        }
    }
    return 2;
}

/* ==== Dates ==== */

int32_t cw_checks__days_from_civil(int y, int m, int d)
{
    return (int32_t)cw_time_days_from_civil(y, m, d);
}

static void civil_from_days(int32_t z, int *y_out, int *m_out, int *d_out)
{
    int era, y;
    unsigned doe, yoe, doy, mp, d, m;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = (int)yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    *y_out = y + (m <= 2);
    *m_out = (int)m;
    *d_out = (int)d;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int cw_checks_date_parse(int32_t *out_days, const char *s)
{
    static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    uint64_t y, m, d;

    if (s == NULL || strlen(s) < 10 || s[4] != '-' || s[7] != '-') {
        return CW_EPARSE;
    }
    if (s[10] != '\0' && s[10] != 'T' && s[10] != 'Z' && s[10] != '+') {
        return CW_EPARSE;
    }
    if (cw_parse_uintn(s, 4, 1, 9999, &y) < 0 || cw_parse_uintn(s + 5, 2, 1, 12, &m) < 0
        || cw_parse_uintn(s + 8, 2, 1, 31, &d) < 0) {
        return CW_EPARSE;
    }
    if ((int)d > mdays[m - 1] + (m == 2 && is_leap((int)y))) {
        return CW_EPARSE;
    }
    *out_days = cw_checks__days_from_civil((int)y, (int)m, (int)d);
    return 0;
}

int cw_checks_instant_day(int32_t *out_days, const char *s)
{
    int64_t t;

    if (cw_time_parse_rfc3339(s, &t) < 0) {
        return CW_EPARSE;
    }
    /* Floor division: an instant before 1970 still falls on its own day. */
    *out_days = (int32_t)(t >= 0 ? t / 86400 : -((-t + 86399) / 86400));
    return 0;
}

void cw_checks_date_format(char *out, size_t size, int32_t days)
{
    int y, m, d;

    civil_from_days(days, &y, &m, &d);
    (void)snprintf(out, size, "%04d-%02d-%02d", y, m, d);
}

int cw_checks_date_year(int32_t days)
{
    int y, m, d;

    civil_from_days(days, &y, &m, &d);
    return y;
}
