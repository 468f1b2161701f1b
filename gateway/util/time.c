/*
 * Clocks: monotonic for durations, wall clock for timestamps.
 */
#include <stdio.h>
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
