/*
 * util: the small pieces every module shares: error codes, allocation, bounded
 * buffers, memory pools, JSON-lines logging, number parsing and time.
 *
 * This is the only public header of the module. Nothing here depends on any
 * other Clearway module.
 */
#ifndef CW_UTIL_H
#define CW_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ==== Compiler helpers ==== */

#define CW_MUST_CHECK   __attribute__((warn_unused_result))
#define CW_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Recover the owning struct from a pointer to one of its members. */
#define cw_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define CW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Defensive checks for conditions that cannot happen: they assert in debug
 * builds and are evaluated (and survivable) in release builds.
 */
#ifdef NDEBUG
#define CW_ALWAYS(x) (x)
#define CW_NEVER(x)  (x)
#else
#include <assert.h>
#define CW_ALWAYS(x) ((x) ? 1 : (assert(0 && #x), 0))
#define CW_NEVER(x)  ((x) ? (assert(!#x), 1) : 0)
#endif

/* ==== Errors ==== */

/*
 * Every fallible function returns 0 or a negative CW_E* code from this table.
 * The names are stable: they appear in logs and in tests.
 */
#define CW_ERRNO_MAP(XX)                     \
    XX(ENOMEM, 1, "out of memory")           \
    XX(EINVAL, 2, "invalid argument")        \
    XX(E2BIG, 3, "limit exceeded")           \
    XX(EIO, 4, "input/output error")         \
    XX(ENOENT, 5, "not found")               \
    XX(EPARSE, 6, "malformed input")         \
    XX(ETIMEDOUT, 7, "timed out")            \
    XX(EPROTO, 8, "protocol error")          \
    XX(ECONFIG, 9, "configuration error")    \
    XX(EBUSY, 10, "resource busy")           \
    XX(ECLOSED, 11, "closed")                \
    XX(EEXIST, 12, "already exists")         \
    XX(EAGAIN, 13, "try again")              \
    XX(ECRYPTO, 14, "cryptographic failure") \
    XX(ESIG, 15, "signature rejected")       \
    XX(EPERM, 16, "not permitted")           \
    XX(ESTALE, 17, "stale message")          \
    XX(EDUP, 18, "duplicate")                \
    XX(ESYS, 19, "system call failed")       \
    XX(EINTERNAL, 20, "internal error")

typedef enum cw_errno_e {
    CW_OK = 0,
#define XX(name, num, msg) CW_##name = -(num),
    CW_ERRNO_MAP(XX)
#undef XX
} cw_errno_e;

/* Returns a static, human readable description of code. Never NULL. */
const char *cw_strerror(int code);
/* Returns the static symbolic name ("CW_ENOMEM") of code. Never NULL. */
const char *cw_err_name(int code);

/* Jump to the function's "out" label when expr fails; rc must be declared. */
#define CW_TRY(expr)  \
    do {              \
        rc = (expr);  \
        if (rc < 0) { \
            goto out; \
        }             \
    } while (0)

/* Jump to "out" with rc = CW_ENOMEM when p is NULL. */
#define CW_CHECK_ALLOC(p)   \
    do {                    \
        if ((p) == NULL) {  \
            rc = CW_ENOMEM; \
            goto out;       \
        }                   \
    } while (0)

/*
 * A one-line human explanation attached to an error at the lowest level that
 * knows it. Owned by the caller (usually a request); no heap memory.
 */
typedef struct cw_error {
    int code;           /* CW_E* or 0 */
    const char *module; /* static string, e.g. "config" */
    char msg[256];      /* NUL-terminated, truncated if longer */
} cw_error_t;

/* Records code and the formatted message in err (which may be NULL) and
 * returns code, so that "return cw_error_set(...)" reads naturally. */
int cw_error_set(cw_error_t *err, int code, const char *module, const char *fmt, ...)
    CW_PRINTF(4, 5);
void cw_error_clear(cw_error_t *err);

/* ==== Allocation ==== */

/*
 * The only allocator entry points. They return NULL on failure (never abort).
 * Memory from them is released with cw_free and nothing else.
 */
void *cw_malloc(size_t size);
void *cw_calloc(size_t n, size_t size);
void *cw_realloc(void *p, size_t size);
void cw_free(void *p);
/* Returns a heap copy of s (owned by the caller), or NULL on OOM. */
char *cw_strdup(const char *s);
char *cw_strndup(const char *s, size_t n);
/* Overwrites n bytes in a way the compiler cannot elide (for secrets). */
void cw_memzero_explicit(void *p, size_t n);

#define cw_free_null(p) \
    do {                \
        cw_free(p);     \
        (p) = NULL;     \
    } while (0)

/*
 * Fault injection for tests: after n more successful allocations, every
 * allocation fails until cw_alloc_fail_reset(). n < 0 disables (the default).
 * Thread-safe; counts allocations from every thread.
 */
void cw_alloc_fail_after(long n);
void cw_alloc_fail_reset(void);

/* ==== Bounded buffers ==== */

/*
 * A growable byte buffer with a hard maximum set at init. Appending past the
 * maximum fails with CW_E2BIG and leaves the buffer unchanged. data is always
 * NUL-terminated when non-NULL (the terminator is not counted in len).
 */
typedef struct cw_buf {
    char *data;     /* owned; NULL until the first append */
    size_t len;     /* bytes used, excluding the terminator */
    size_t cap;     /* bytes allocated */
    size_t max_len; /* hard maximum for len */
} cw_buf_t;

void cw_buf_init(cw_buf_t *b, size_t max_len);
void cw_buf_fini(cw_buf_t *b);
void cw_buf_reset(cw_buf_t *b);
/* Makes room for n more bytes in one allocation (for a size known ahead). */
CW_MUST_CHECK int cw_buf_reserve(cw_buf_t *b, size_t n);
CW_MUST_CHECK int cw_buf_append(cw_buf_t *b, const void *data, size_t n);
CW_MUST_CHECK int cw_buf_appends(cw_buf_t *b, const char *s);
CW_MUST_CHECK int cw_buf_appendf(cw_buf_t *b, const char *fmt, ...) CW_PRINTF(2, 3);
CW_MUST_CHECK int cw_buf_vappendf(cw_buf_t *b, const char *fmt, va_list ap) CW_PRINTF(2, 0);
/* Appends s as the inside of a JSON string (no quotes added). A byte
 * that is not part of well-formed UTF-8 becomes U+FFFD. */
CW_MUST_CHECK int cw_buf_append_json_str(cw_buf_t *b, const char *s, size_t n);
/* Appends s with the five XML special characters escaped; a byte that is
 * not part of well-formed UTF-8, or a character XML 1.0 does not allow
 * (controls but tab, LF and CR; U+FFFE, U+FFFF), becomes U+FFFD. */
CW_MUST_CHECK int cw_buf_append_xml_str(cw_buf_t *b, const char *s, size_t n);
/*
 * cw_buf_append without a call while there is room, for appends of a few
 * bytes at a time in a loop (sec/c14n.c).
 */
CW_MUST_CHECK static inline int cw_buf_put(cw_buf_t *b, const void *data, size_t n)
{
    if (n > 0 && n < b->cap - b->len && n <= b->max_len - b->len) {
        memcpy(b->data + b->len, data, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    return cw_buf_append(b, data, n);
}
/* Removes the first n bytes (n <= len). */
void cw_buf_consume(cw_buf_t *b, size_t n);
/* Hands the data to the caller (free with cw_free) and empties the buffer. */
char *cw_buf_detach(cw_buf_t *b, size_t *len_out);

/* ==== Memory pools ==== */

/*
 * An arena owned by one request or message and freed in one call. Non-memory
 * resources are attached as cleanups, run in reverse order by cw_pool_free.
 * Not thread-safe: one owner at a time.
 */
typedef struct cw_pool cw_pool_t;
typedef void (*cw_pool_cleanup_cb)(void *arg);

/* Returns a new pool (owned by the caller) or NULL on OOM. */
cw_pool_t *cw_pool_new(size_t block_bytes);
void cw_pool_free(cw_pool_t *pool);
/* Returns zeroed, 16-byte aligned memory owned by the pool, or NULL on OOM. */
void *cw_pool_alloc(cw_pool_t *pool, size_t n);
char *cw_pool_strndup(cw_pool_t *pool, const char *s, size_t n);
CW_MUST_CHECK int cw_pool_cleanup_add(cw_pool_t *pool, cw_pool_cleanup_cb fn, void *arg);

/* ==== Strings and numbers ==== */

/* Parses a whole decimal string into [min, max]; no sign, no spaces. */
CW_MUST_CHECK int cw_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* Same, for a string of known length that is not NUL-terminated. */
CW_MUST_CHECK int
cw_parse_uintn(const char *s, size_t n, uint64_t min, uint64_t max, uint64_t *out);
/* Copies at most size-1 bytes and terminates; returns strlen(src). */
size_t cw_strlcpy(char *dst, const char *src, size_t size);
/* ASCII case-insensitive comparison of s (length n) with the C string lit. */
int cw_strncaseeq(const char *s, size_t n, const char *lit);
/* The value of a hexadecimal digit (either case), or -1. */
int cw_hex_digit(char c);
/* Bytes of a UUID's text with its terminator. */
#define CW_UUID_SIZE 37
/*
 * b (16 random bytes) as a version 4 UUID (RFC 9562 §5.4): the version and
 * variant bits set, lower-case hexadecimal in the 8-4-4-4-12 form, in out.
 */
void cw_uuid4_format(char out[CW_UUID_SIZE], const unsigned char b[16]);
/* Characters of the base64 of n bytes (RFC 4648 §4, padded, no line breaks). */
#define CW_BASE64_LEN(n) (4 * (((size_t)(n) + 2) / 3))
/* Writes the base64 of in (len bytes) to out, CW_BASE64_LEN(len) characters
 * and no terminator; returns that count. */
size_t cw_base64_encode(char *out, const void *in, size_t len);
/* 1 when b64 (b64_len characters) is exactly the base64 of raw, else 0. */
int cw_base64_is(const char *b64, size_t b64_len, const void *raw, size_t raw_len);

/* ==== Time ==== */

/* Monotonic milliseconds and nanoseconds, for durations. */
uint64_t cw_time_mono_ms(void);
uint64_t cw_time_mono_ns(void);
/* Wall-clock seconds since the epoch. */
int64_t cw_time_wall_s(void);
/* Formats t (UTC) as 2026-11-29T10:00:00Z into out (at least 21 bytes). */
void cw_time_format_utc(char *out, size_t size, int64_t t);
/* Formats now as 2026-11-29T10:00:00.123Z into out (at least 25 bytes). */
void cw_time_format_now_ms(char *out, size_t size);
/*
 * Parses an RFC 3339 / xs:dateTime instant, YYYY-MM-DDTHH:MM:SS with an
 * optional fraction (ignored) and Z or +HH:MM / -HH:MM, into seconds since
 * the epoch, its offset applied. 0 or CW_EPARSE (a day its month does not
 * have, a bare date, no zone).
 */
CW_MUST_CHECK int cw_time_parse_rfc3339(const char *s, int64_t *out);
/* Days since 1970-01-01 of the proleptic Gregorian date y-m-d (m 1..12,
 * d 1..31; not checked against the month). */
int64_t cw_time_days_from_civil(int64_t y, int m, int d);

/* ==== Threads ==== */

/* Names the calling thread (at most 15 bytes are kept), as ps and perf
 * show it; best effort. */
void cw_thread_name_set(const char *name);

/* ==== Logging ==== */

typedef enum cw_log_level_e {
    CW_LOG_DEBUG = 0,
    CW_LOG_INFO = 1,
    CW_LOG_WARN = 2,
    CW_LOG_ERROR = 3,
} cw_log_level_e;

/*
 * Logs go to stderr as JSON lines:
 *   {"ts":"…","level":"info","module":"net","func":"on_accept","msg":"…", …}
 * Each line is written with one write(2), so lines from several threads never
 * interleave. Callers must never pass secrets.
 */
void cw_log_set_level(cw_log_level_e level);
cw_log_level_e cw_log_get_level(void);
/* Parses "debug", "info", "warn" or "error". */
CW_MUST_CHECK int cw_log_level_parse(const char *s, cw_log_level_e *out);
void cw_log_write(cw_log_level_e level, const char *module, const char *func, const char *fmt, ...)
    CW_PRINTF(4, 5);

/*
 * A log line with extra structured fields: fields_json is a sequence of
 * already-encoded members without braces ("\"port\":8080,\"addr\":\"::1\"")
 * and may be NULL.
 */
void cw_log_fields(cw_log_level_e level,
                   const char *module,
                   const char *func,
                   const char *fields_json,
                   const char *fmt,
                   ...) CW_PRINTF(5, 6);

/*
 * Gathering on the calling thread: from cw_log_buffer_start until
 * cw_log_buffer_stop, its info and debug lines are written only by
 * cw_log_flush (or when they would fill PIPE_BUF bytes), several in one
 * write(2); a warning or an error flushes them and itself at once. For the
 * event loop's thread, which flushes once an iteration before it waits;
 * lines gathered and never flushed are lost if the process dies, so every
 * other thread writes each line at once. Start returns CW_ENOMEM (and the
 * thread keeps writing each line at once) when no buffer could be had.
 */
CW_MUST_CHECK int cw_log_buffer_start(void);
void cw_log_flush(void);
void cw_log_buffer_stop(void);

#define CW_LOG_DEBUG(mod, ...)                                      \
    do {                                                            \
        if (cw_log_get_level() <= CW_LOG_DEBUG) {                   \
            cw_log_write(CW_LOG_DEBUG, mod, __func__, __VA_ARGS__); \
        }                                                           \
    } while (0)
#define CW_LOG_INFO(mod, ...)  cw_log_write(CW_LOG_INFO, mod, __func__, __VA_ARGS__)
#define CW_LOG_WARN(mod, ...)  cw_log_write(CW_LOG_WARN, mod, __func__, __VA_ARGS__)
#define CW_LOG_ERROR(mod, ...) cw_log_write(CW_LOG_ERROR, mod, __func__, __VA_ARGS__)

#endif /* CW_UTIL_H */
