/* SPDX-License-Identifier: MIT */
/* gm__par_for on OpenMP (par.h). This is the only file built with
 * -fopenmp; without it (GM_WITH_OPENMP=OFF, or a compiler without
 * OpenMP) every loop runs on the calling thread. */
#include <pthread.h>
#include <stdatomic.h>

#include "engine/engine.h"
#include "engine/par.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static atomic_int gm__in_fork_child;
static pthread_once_t gm__atfork_once = PTHREAD_ONCE_INIT;

static void gm__atfork_child(void)
{
    atomic_store(&gm__in_fork_child, 1);
    gm__threads_changed();
}

static void gm__atfork_register(void) { pthread_atfork(NULL, NULL, gm__atfork_child); }

int gm__par_threads(void)
{
    pthread_once(&gm__atfork_once, gm__atfork_register);
    return atomic_load(&gm__in_fork_child) ? 1 : gm_get_num_threads();
}

#ifdef _OPENMP
int gm__par_built(void) { return 1; }
#else
int gm__par_built(void) { return 0; }
#endif

int gm__par_parts(size_t n, size_t cost)
{
    if (!gm__par_built() || cost == 0 || n > (size_t)-1 / cost) return 1;
    const size_t work = n * cost;
    if (work < 2 * GM__PAR_GRAIN) return 1;
    size_t parts = (size_t)gm__par_threads();
    if (parts > work / GM__PAR_GRAIN) parts = work / GM__PAR_GRAIN;
    if (parts > GM__PAR_MAX) parts = GM__PAR_MAX;
    return parts < 1 ? 1 : (int)parts;
}

void gm__par_for(size_t n, size_t align, int parts, gm__par_fn fn, void *ctx)
{
    if (parts <= 1 || n == 0) {
        fn(ctx, 0, n, 0);
        return;
    }
    if (align == 0) align = 1;
    /* the ranges depend on n, align and parts only, not on which thread
     * runs which */
    size_t chunk = (n + (size_t)parts - 1) / (size_t)parts;
    chunk = (chunk + align - 1) / align * align;
#ifdef _OPENMP
#pragma omp parallel for num_threads(parts) schedule(static, 1)
#endif
    for (int p = 0; p < parts; p++) {
        const size_t lo = (size_t)p * chunk < n ? (size_t)p * chunk : n;
        const size_t hi = n - lo > chunk ? lo + chunk : n;
        fn(ctx, lo, hi, p);
    }
}
