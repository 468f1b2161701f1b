/*
 * Clocks: monotonic for durations, wall clock for timestamps.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"

uint64_t cw_time_mono_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t cw_time_mono_ms(void)
{
    return cw_time_mono_ns() / 1000000u;
}

int64_t cw_time_wall_s(void)
{
    return (int64_t)time(NULL);
}

void cw_time_format_utc(char *out, size_t size, int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
        if (size > 0) {
            out[0] = '\0';
        }
    }
}

void cw_time_format_now_ms(char *out, size_t size)
{
    struct timespec ts;
    struct tm tm;
    char base[32];

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    if (gmtime_r(&ts.tv_sec, &tm) == NULL
        || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        base[0] = '\0';
    }
    (void)snprintf(out, size, "%s.%03ldZ", base, (long)(ts.tv_nsec / 1000000));
}

static int time_digits(const char *s, size_t n, int *out)
{
    size_t i;
    int v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int64_t cw_time_days_from_civil(int64_t y, int m, int d)
{
    int64_t era;
    int64_t yoe;
    int64_t doy;
    int64_t doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int cw_time_parse_rfc3339(const char *s, int64_t *out)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t t;
    size_t i = 19;
    int sign = 0;

    /* YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM) */
    if (s == NULL || strlen(s) < 20 || time_digits(s, 4, &y) < 0 || s[4] != '-'
        || time_digits(s + 5, 2, &mo) < 0 || s[7] != '-' || time_digits(s + 8, 2, &d) < 0
        || (s[10] != 'T' && s[10] != 't') || time_digits(s + 11, 2, &h) < 0 || s[13] != ':'
        || time_digits(s + 14, 2, &mi) < 0 || s[16] != ':' || time_digits(s + 17, 2, &sec) < 0) {
        return CW_EPARSE;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60) {
        return CW_EPARSE;
    }
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        return CW_EPARSE;
    }
    if (s[i] == '.') {
        i++;
        if (s[i] < '0' || s[i] > '9') {
            return CW_EPARSE;
        }
        while (s[i] >= '0' && s[i] <= '9') {
            i++;
        }
    }
    if ((s[i] == 'Z' || s[i] == 'z') && s[i + 1] == '\0') {
        sign = 0;
    } else if ((s[i] == '+' || s[i] == '-') && strlen(s + i) == 6
               && time_digits(s + i + 1, 2, &oh) == 0 && s[i + 3] == ':'
               && time_digits(s + i + 4, 2, &om) == 0 && oh <= 23 && om <= 59) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return CW_EPARSE;
    }
    t = cw_time_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec;
    t -= (int64_t)sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
    *out = t;
    return 0;
}
