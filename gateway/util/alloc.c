/*
 * The allocator wrappers. This is the only file allowed to call malloc(3)
 * and friends directly (scripts/check-banned enforces it).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Allocations left before injected failures start; negative: disabled. */
static atomic_long fail_countdown = -1;

static int should_fail(void)
{
    long n = atomic_load_explicit(&fail_countdown, memory_order_relaxed);

    if (n < 0) {
        return 0;
    }
    if (n == 0) {
        return 1;
    }
    /* Several threads may race here; losing a decrement only shifts the
     * injected failure by one allocation, which tests tolerate. */
    atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed);
    return 0;
}

void cw_alloc_fail_after(long n)
{
    atomic_store(&fail_countdown, n);
}

void cw_alloc_fail_reset(void)
{
    atomic_store(&fail_countdown, -1);
}

void *cw_malloc(size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return malloc(size == 0 ? 1 : size);
}

void *cw_calloc(size_t n, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void *cw_realloc(void *p, size_t size)
{
    if (should_fail()) {
        return NULL;
    }
    return realloc(p, size == 0 ? 1 : size);
}

void cw_free(void *p)
{
    free(p);
}

char *cw_strndup(const char *s, size_t n)
{
    char *copy;

    copy = cw_malloc(n + 1);
    if (copy == NULL) {
        return NULL;
    }
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

char *cw_strdup(const char *s)
{
    return cw_strndup(s, strlen(s));
}

void cw_memzero_explicit(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n-- > 0) {
        *v++ = 0;
    }
}
