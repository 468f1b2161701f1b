/*
 * JSON-lines logging on stderr. Each line is built in a stack buffer and
 * written with a single write(2), so concurrent threads never interleave.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Longest log line; longer messages are truncated with a marker. */
#define LOG_LINE_MAX 4096

static atomic_int log_level = CW_LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void cw_log_set_level(cw_log_level_e level)
{
    atomic_store(&log_level, (int)level);
}

cw_log_level_e cw_log_get_level(void)
{
    return (cw_log_level_e)atomic_load_explicit(&log_level, memory_order_relaxed);
}

int cw_log_level_parse(const char *s, cw_log_level_e *out)
{
    size_t i;

    for (i = 0; i < CW_ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (cw_log_level_e)i;
            return 0;
        }
    }
    return CW_EINVAL;
}

static void log_emit(cw_log_level_e level,
                     const char *module,
                     const char *func,
                     const char *fields_json,
                     const char *fmt,
                     va_list ap) CW_PRINTF(5, 0);

static void log_emit(cw_log_level_e level,
                     const char *module,
                     const char *func,
                     const char *fields_json,
                     const char *fmt,
                     va_list ap)
{
    char msg[LOG_LINE_MAX];
    char ts[40];
    char line[LOG_LINE_MAX * 2];
    cw_buf_t b;
    int n;

    if ((int)level < atomic_load_explicit(&log_level, memory_order_relaxed)) {
        return;
    }
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0) {
        cw_strlcpy(msg, "(unformattable log message)", sizeof(msg));
    }
    cw_time_format_now_ms(ts, sizeof(ts));

    /* The line lives on the stack: logging must work when memory is short,
     * so build it into a fixed buffer without touching the heap. */
    b.data = line;
    b.len = 0;
    b.cap = sizeof(line);
    b.max_len = sizeof(line) - 2;
    if (cw_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":\"", ts, level_names[level])
            < 0
        || cw_buf_append_json_str(&b, module, strlen(module)) < 0
        || cw_buf_appends(&b, "\",\"func\":\"") < 0
        || cw_buf_append_json_str(&b, func, strlen(func)) < 0
        || cw_buf_appends(&b, "\",\"msg\":\"") < 0
        || cw_buf_append_json_str(&b, msg, strlen(msg)) < 0 || cw_buf_appends(&b, "\"") < 0) {
        return;
    }
    if (fields_json != NULL && fields_json[0] != '\0') {
        if (cw_buf_appends(&b, ",") < 0 || cw_buf_appends(&b, fields_json) < 0) {
            return;
        }
    }
    if (cw_buf_appends(&b, "}\n") < 0) {
        return;
    }
    (void)!write(STDERR_FILENO, b.data, b.len);
}

void cw_log_write(cw_log_level_e level, const char *module, const char *func, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(level, module, func, NULL, fmt, ap);
    va_end(ap);
}

void cw_log_fields(cw_log_level_e level,
                   const char *module,
                   const char *func,
                   const char *fields_json,
                   const char *fmt,
                   ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_emit(level, module, func, fields_json, fmt, ap);
    va_end(ap);
}
