/* SPDX-License-Identifier: MIT */
/* The library's own loops across the caller's threads (par.c).
 *
 * The matrix products and the convolutions run on oneDNN's OpenMP threads
 * (on OpenBLAS's pthreads in a build without oneDNN); what is left of a
 * step (Adam, the activations, the likelihood) would run on the calling
 * thread alone. gm__par_for splits such a loop into contiguous parts, one
 * per thread of gm_set_num_threads, on OpenMP (the same pool as oneDNN's),
 * when the build has it (CMake GM_WITH_OPENMP, AUTO: on with oneDNN under
 * GCC, off without: beside OpenBLAS's pthreads, GNU OpenMP's spinning workers fight
 * them over the cores; bench/RESULTS.md, "One pool" and "Every core") and
 * the loop is long enough to pay for waking a thread. Callers make every
 * part compute exactly what the whole loop
 * would for its elements (elementwise work, or per-part results combined
 * in part order), so results do not depend on the thread count unless the
 * caller says so. */
#ifndef GM_ENGINE_PAR_H
#define GM_ENGINE_PAR_H

#include <stddef.h>

/* Work (elements of an elementwise loop) below which a loop stays on the
 * calling thread: waking a second thread costs a few microseconds, about
 * what 32K elements of Adam take. */
#define GM__PAR_GRAIN ((size_t)32768)
/* At most this many parts (per-part result arrays can live on the stack). */
#define GM__PAR_MAX 16

/* fn(ctx, lo, hi, part) for the part-th of `parts` contiguous ranges. */
typedef void (*gm__par_fn)(void *ctx, size_t lo, size_t hi, int part);

/* How many parts gm__par_for will split n items of `cost` work each into:
 * 1 without OpenMP, at one thread, in a fork child, or when n * cost <
 * 2 GM__PAR_GRAIN; else min(threads, n * cost / GM__PAR_GRAIN,
 * GM__PAR_MAX). Callers size per-part results with it. */
int gm__par_parts(size_t n, size_t cost);

/* Runs fn over [0, n) in `parts` ranges (from gm__par_parts), each a
 * multiple of `align` items long except the last, in parallel; with
 * parts == 1, fn(ctx, 0, n, 0) on the calling thread. Returns when all
 * are done. fn must not call back into the library's public API. */
void gm__par_for(size_t n, size_t align, int parts, gm__par_fn fn, void *ctx);

/* 1 if this build runs loops on OpenMP. */
int gm__par_built(void);

/* The thread count for OpenMP work started now: gm_get_num_threads(), or
 * 1 in a child process after fork() (GNU OpenMP's pool does not survive
 * fork: a child that starts a parallel region after its parent ran one
 * hangs). The first call registers the fork handler, which also marks
 * the thread count changed (gm__threads_changed). */
int gm__par_threads(void);

#endif
