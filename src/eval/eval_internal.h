/* SPDX-License-Identifier: MIT */
/* Helpers shared by the evaluation module's files. Not installed. */
#ifndef GM_EVAL_INTERNAL_H
#define GM_EVAL_INTERNAL_H

#include <stdio.h>

#include <genmodel/eval.h>

#include "engine/engine.h"

/* "[2 x 1 x 28 x 28]" into buf. */
static inline const char *gm__shape_str(const gm_tensor *t, char *buf, size_t cap)
{
    size_t used = (size_t)snprintf(buf, cap, "[");
    for (size_t i = 0; i < t->ndim && used < cap; i++)
        used += (size_t)snprintf(buf + used, cap - used, i ? " x %zu" : "%zu", t->shape[i]);
    if (used < cap) snprintf(buf + used, cap - used, "]");
    return buf;
}

/* GM_ESHAPE unless a and b have the same per-vector shape (all dims but
 * the first). */
static inline gm_status gm__same_vector_shape(const char *fn, const gm_tensor *a,
                                              const char *an, const gm_tensor *b,
                                              const char *bn)
{
    int same = a->ndim == b->ndim;
    for (size_t i = 1; same && i < a->ndim; i++) same = a->shape[i] == b->shape[i];
    if (same) return GM_OK;
    char sa[96], sb[96];
    return gm__set_error(GM_ESHAPE, fn,
                         "%s %s and %s %s must have the same shape past the first dimension",
                         an, gm__shape_str(a, sa, sizeof sa), bn, gm__shape_str(b, sb, sizeof sb));
}

/* k-NN precision, recall, density and coverage of fake against real
 * (metrics.c), the outputs that are not NULL (at least one): checks the
 * input, naming fn in its messages, and computes the real vectors' k-NN
 * balls once for all of precision, density and coverage. fake needs k + 1
 * vectors when precision or recall is wanted, 1 otherwise. */
gm_status gm__eval_knn(const char *fn, const gm_tensor *real, const gm_tensor *fake, size_t k,
                       double *precision, double *recall, double *density, double *coverage);

#endif
