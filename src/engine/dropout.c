/* SPDX-License-Identifier: MIT */
/* Inverted dropout with a counter-based mask: element j of sample i at the
 * layer's t-th training forward is kept iff u(seed, t, i, j) >= p. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"

static size_t dropout_cache(const gm_layer *l, size_t n, size_t in_nd, const size_t *in)
{
    (void)l;
    size_t d = 1;
    for (size_t i = 0; i < in_nd; i++) d *= in[i];
    return n * d; /* the mask, as 0 or 1 / (1 - p) */
}

static void dropout_forward(gm_layer *l, float *y, const float *x, size_t n,
                            int training)
{
    const size_t d = l->in_dim, m = n * d;
    const gm__dropout *dl = GM__DROPOUT(l);
    l->last_training = training;
    if (!training || dl->p == 0.0f) {
        memcpy(y, x, m * sizeof(float));
        return;
    }
    const float p = dl->p, scale = 1.0f / (1.0f - p);
    float *mask = l->cache;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j += 4) {
            uint32_t b[4];
            gm__philox(dl->seed, l->step, ((uint64_t)i << 32) | (j >> 2), b);
            for (size_t k = 0; k < 4 && j + k < d; k++)
                mask[i * d + j + k] = gm__u01(b[k]) >= p ? scale : 0.0f;
        }
    for (size_t i = 0; i < m; i++) y[i] = x[i] * mask[i];
    l->step++;
}

static void dropout_backward(gm_layer *l, float *dx, const float *dy,
                             const float *x, const float *y, size_t n)
{
    (void)x;
    (void)y;
    if (!dx) return;
    const size_t m = n * l->in_dim;
    if (!l->last_training || GM__DROPOUT(l)->p == 0.0f) {
        memcpy(dx, dy, m * sizeof(float));
        return;
    }
    for (size_t i = 0; i < m; i++) dx[i] = dy[i] * l->cache[i];
}

/* p, the seed and the step counter: enough to resume the mask stream. */
static void dropout_save(const gm_layer *l, gm__hyper *h)
{
    h->f[0] = GM__DROPOUT(l)->p;
    h->u[0] = GM__DROPOUT(l)->seed;
    h->u[1] = l->step;
}

static gm_status dropout_load(gm_layer **out, const gm__hyper *h)
{
    GM_TRY(gm_dropout_create(out, h->f[0], h->u[0]));
    (*out)->step = h->u[1];
    return GM_OK;
}

const gm__layer_vt gm__dropout_vt = {.kind = GM_LAYER_DROPOUT,
                                     .name = "dropout",
                                     .size = sizeof(gm__dropout),
                                     .save_hyper = dropout_save,
                                     .load = dropout_load,
                                     .shape = gm__same_shape_fn,
                                     .cache_floats = dropout_cache,
                                     .forward = dropout_forward,
                                     .backward = dropout_backward};

gm_status gm_dropout_create(gm_layer **out, float p, uint64_t seed)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK(isfinite(p) && p >= 0.0f && p < 1.0f, GM_EINVAL,
             "p must be finite and in [0, 1), got %g", (double)p);
    GM_TRY(gm__layer_new(out, &gm__dropout_vt, 0, __func__));
    GM__DROPOUT(*out)->p = p;
    GM__DROPOUT(*out)->seed = seed;
    return GM_OK;
}
