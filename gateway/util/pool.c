/*
 * Per-request arenas: bump allocation in blocks, freed in one call, with
 * cleanups for non-memory resources (as nginx pools).
 */
#include <string.h>

#include "util.h"

typedef struct cw_pool_block {
    struct cw_pool_block *next;
    size_t used_bytes;
    size_t size_bytes;
    /* Followed by size_bytes of storage, 16-byte aligned. */
} cw_pool_block_t;

typedef struct cw_pool_cleanup {
    struct cw_pool_cleanup *next;
    cw_pool_cleanup_cb fn;
    void *arg;
} cw_pool_cleanup_t;

struct cw_pool {
    cw_pool_block_t *blocks;
    cw_pool_cleanup_t *cleanups;
    size_t block_bytes; /* default size of a new block */
};

#define BLOCK_HDR ((sizeof(cw_pool_block_t) + 15u) & ~(size_t)15u)

cw_pool_t *cw_pool_new(size_t block_bytes)
{
    cw_pool_t *pool = cw_calloc(1, sizeof(*pool));

    if (pool == NULL) {
        return NULL;
    }
    pool->block_bytes = block_bytes < 256 ? 256 : block_bytes;
    return pool;
}

void cw_pool_free(cw_pool_t *pool)
{
    cw_pool_cleanup_t *c;
    cw_pool_block_t *b;

    if (pool == NULL) {
        return;
    }
    /* Cleanups were pushed at the head, so this runs them newest first. */
    while ((c = pool->cleanups) != NULL) {
        pool->cleanups = c->next;
        c->fn(c->arg);
    }
    while ((b = pool->blocks) != NULL) {
        pool->blocks = b->next;
        cw_free(b);
    }
    cw_free(pool);
}

void *cw_pool_alloc(cw_pool_t *pool, size_t n)
{
    cw_pool_block_t *b = pool->blocks;
    size_t need = (n + 15u) & ~(size_t)15u;
    size_t size;
    void *p;

    if (need < n) {
        return NULL;
    }
    if (b == NULL || b->size_bytes - b->used_bytes < need) {
        size = need > pool->block_bytes ? need : pool->block_bytes;
        if (size > SIZE_MAX - BLOCK_HDR) {
            return NULL;
        }
        b = cw_malloc(BLOCK_HDR + size);
        if (b == NULL) {
            return NULL;
        }
        b->size_bytes = size;
        b->used_bytes = 0;
        b->next = pool->blocks;
        pool->blocks = b;
    }
    p = (char *)b + BLOCK_HDR + b->used_bytes;
    b->used_bytes += need;
    memset(p, 0, n);
    return p;
}

char *cw_pool_strndup(cw_pool_t *pool, const char *s, size_t n)
{
    char *p;

    if (n == SIZE_MAX) {
        return NULL;
    }
    p = cw_pool_alloc(pool, n + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

int cw_pool_cleanup_add(cw_pool_t *pool, cw_pool_cleanup_cb fn, void *arg)
{
    cw_pool_cleanup_t *c = cw_pool_alloc(pool, sizeof(*c));

    if (c == NULL) {
        return CW_ENOMEM;
    }
    c->fn = fn;
    c->arg = arg;
    c->next = pool->cleanups;
    pool->cleanups = c;
    return 0;
}
