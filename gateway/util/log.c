/*
 * JSON-lines logging on stderr. Each line is built in a stack buffer and
 * written with a single write(2), so concurrent threads never interleave.
 *
 * A thread that asks for it (cw_log_buffer_start: the event loop's) gathers
 * its info and debug lines and writes them together when it calls
 * cw_log_flush, once a loop iteration, instead of one write(2) a line: two
 * lines a request were two system calls a request on the thread every
 * request passes through. A warning or an error flushes what was gathered
 * and itself at once. The gathered lines never exceed PIPE_BUF, so a write
 * of them is still one atomic write on a pipe and lines from other threads
 * never land inside them.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* Longest log line; longer messages are truncated with a marker. */
#define LOG_LINE_MAX 4096

/* Lines gathered by a buffering thread: at most one atomic pipe write. */
#define LOG_BUFFER_MAX PIPE_BUF

typedef struct log_buffer_s {
    size_t len;
    char data[LOG_BUFFER_MAX];
} log_buffer_t;

/* The calling thread's gathered lines, or NULL: it writes each at once. */
static _Thread_local log_buffer_t *log_buffer;

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

int cw_log_buffer_start(void)
{
    if (log_buffer == NULL) {
        log_buffer = cw_malloc(sizeof(*log_buffer));
        if (log_buffer == NULL) {
            return CW_ENOMEM;
        }
        log_buffer->len = 0;
    }
    return 0;
}

void cw_log_flush(void)
{
    log_buffer_t *lb = log_buffer;

    if (lb != NULL && lb->len > 0) {
        (void)!write(STDERR_FILENO, lb->data, lb->len);
        lb->len = 0;
    }
}

void cw_log_buffer_stop(void)
{
    cw_log_flush();
    cw_free(log_buffer);
    log_buffer = NULL;
}

/* Writes one finished line, or gathers it on a buffering thread. */
static void log_out(cw_log_level_e level, const char *line, size_t len)
{
    log_buffer_t *lb = log_buffer;

    if (lb == NULL) {
        (void)!write(STDERR_FILENO, line, len);
        return;
    }
    if (lb->len + len > sizeof(lb->data)) {
        cw_log_flush();
    }
    if (len > sizeof(lb->data)) {
        (void)!write(STDERR_FILENO, line, len);
        return;
    }
    memcpy(lb->data + lb->len, line, len);
    lb->len += len;
    if (level >= CW_LOG_WARN) {
        cw_log_flush();
    }
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
    log_out(level, b.data, b.len);
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
