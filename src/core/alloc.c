/* SPDX-License-Identifier: MIT */
/* The process-wide allocator hook and live-block accounting. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/internal.h"

static void *gm__libc_malloc(void *user, size_t size)
{
    (void)user;
    return malloc(size);
}
static void *gm__libc_realloc(void *user, void *ptr, size_t size)
{
    (void)user;
    return realloc(ptr, size);
}
static void gm__libc_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

static gm_allocator gm__alloc = {gm__libc_malloc, gm__libc_realloc,
                                 gm__libc_free, NULL};
static atomic_size_t gm__live;

gm_status gm_set_allocator(const gm_allocator *allocator)
{
    size_t live = atomic_load(&gm__live);
    GM_CHECK(live == 0, GM_ESTATE,
             "%zu library allocations are alive; free every object first",
             live);
    if (allocator == NULL) {
        gm__alloc = (gm_allocator){gm__libc_malloc, gm__libc_realloc,
                                   gm__libc_free, NULL};
        return GM_OK;
    }
    GM_CHECK(allocator->malloc_fn && allocator->realloc_fn &&
                 allocator->free_fn,
             GM_EINVAL, "malloc_fn, realloc_fn and free_fn must all be set");
    gm__alloc = *allocator;
    return GM_OK;
}

size_t gm_live_allocations(void) { return atomic_load(&gm__live); }

void *gm__malloc(size_t size)
{
    if (size == 0) size = 1;
    void *p = gm__alloc.malloc_fn(gm__alloc.user, size);
    if (p) atomic_fetch_add(&gm__live, 1);
    return p;
}

void *gm__malloc_array(size_t n, size_t size)
{
    size_t total;
    if (!gm__mul_ok(n, size, &total)) return NULL;
    return gm__malloc(total);
}

void *gm__calloc_array(size_t n, size_t size)
{
    size_t total;
    if (!gm__mul_ok(n, size, &total)) return NULL;
    void *p = gm__malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

void *gm__realloc_array(void *ptr, size_t n, size_t size)
{
    size_t total;
    if (!gm__mul_ok(n, size, &total)) return NULL;
    if (ptr == NULL) return gm__malloc(total);
    if (total == 0) total = 1;
    return gm__alloc.realloc_fn(gm__alloc.user, ptr, total);
}

void gm__free(void *ptr)
{
    if (ptr == NULL) return;
    gm__alloc.free_fn(gm__alloc.user, ptr);
    atomic_fetch_sub(&gm__live, 1);
}
