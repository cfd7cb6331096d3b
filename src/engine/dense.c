/* SPDX-License-Identifier: MIT */
/* Dense (fully connected) layer: y = x W^T + b.
 * Parameters: W [out x in] row-major, then b [out]. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"

static gm_status dense_shape(const gm_layer *l, const char *fn, size_t in_nd,
                             const size_t *in, size_t *out_nd, size_t *out)
{
    size_t d = 1;
    for (size_t i = 0; i < in_nd; i++) d *= in[i];
    if (d != GM__DENSE(l)->in_features)
        return gm__set_error(GM_ESHAPE, fn,
                             "dense layer expects %zu input features, got %zu",
                             GM__DENSE(l)->in_features, d);
    *out_nd = 1;
    out[0] = GM__DENSE(l)->out_features;
    return GM_OK;
}

/* y [n x O] = x [n x I] W^T [I x O] + b */
static void dense_forward(gm_layer *l, float *y, const float *x, size_t n,
                          int training)
{
    const size_t I = GM__DENSE(l)->in_features, O = GM__DENSE(l)->out_features;
    const float *W = gm__sn_forward(l, training), *b = l->params + O * I;
    for (size_t r = 0; r < n; r++) memcpy(y + r * O, b, O * sizeof(float));
    gm__sgemm(0, 1, n, O, I, 1.0f, x, I, W, I, 1.0f, y, O);
}

static void dense_backward(gm_layer *l, float *dx, const float *dy,
                           const float *x, const float *y, size_t n)
{
    (void)y;
    const size_t I = GM__DENSE(l)->in_features, O = GM__DENSE(l)->out_features;
    const float *W = gm__sn_weight(l);
    if (gm__layer_accumulates(l)) {
        float *dW = gm__sn_grad_begin(l), *db = l->grads + O * I;
        /* dW [O x I] += dy^T [O x n] x [n x I] */
        gm__sgemm(1, 0, O, I, n, 1.0f, dy, O, x, I, 1.0f, dW, I);
        gm__sn_grad_end(l);
        /* db [O] += column sums of dy, row after row (each db[j] sums in
         * the same order as a plain loop), in column blocks of GM__VB so
         * that GCC -O2 vectorizes across columns */
        size_t j0 = 0;
        for (; j0 + GM__VB <= O; j0 += GM__VB) {
            float acc[GM__VB];
            memcpy(acc, db + j0, sizeof acc);
            for (size_t r = 0; r < n; r++)
                for (size_t j = 0; j < GM__VB; j++) acc[j] += dy[r * O + j0 + j];
            memcpy(db + j0, acc, sizeof acc);
        }
        for (size_t r = 0; r < n; r++)
            for (size_t j = j0; j < O; j++) db[j] += dy[r * O + j];
    }
    /* dx [n x I] = dy [n x O] W [O x I] */
    if (dx) gm__sgemm(0, 0, n, I, O, 1.0f, dy, O, W, I, 0.0f, dx, I);
}

static void dense_save(const gm_layer *l, gm__hyper *h)
{
    h->u[0] = GM__DENSE(l)->in_features;
    h->u[1] = GM__DENSE(l)->out_features;
}

static gm_status dense_load(gm_layer **out, const gm__hyper *h)
{
    return gm_dense_create(out, (size_t)h->u[0], (size_t)h->u[1], GM_INIT_ZEROS, NULL);
}

/* in x out weights + out biases */
static size_t dense_param_count(const gm__hyper *h)
{
    size_t w;
    if (h->u[0] > SIZE_MAX || h->u[1] > SIZE_MAX) return 0;
    if (!gm__mul_ok((size_t)h->u[0], (size_t)h->u[1], &w)) return 0;
    return w > SIZE_MAX - h->u[1] ? 0 : w + (size_t)h->u[1];
}

const gm__layer_vt gm__dense_vt = {.kind = GM_LAYER_DENSE,
                                   .name = "dense",
                                   .size = sizeof(gm__dense),
                                   .save_hyper = dense_save,
                                   .load = dense_load,
                                   .param_count = dense_param_count,
                                   .spectral = 1,
                                   .shape = dense_shape,
                                   .forward = dense_forward,
                                   .backward = dense_backward};

gm_status gm_dense_create(gm_layer **out, size_t in_features,
                          size_t out_features, gm_init init, gm_rng *rng)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK(in_features >= 1, GM_EINVAL, "in_features must be > 0, got %zu",
             in_features);
    GM_CHECK(out_features >= 1, GM_EINVAL,
             "out_features must be > 0, got %zu", out_features);
    size_t nw;
    GM_CHECK(gm__mul_ok(in_features, out_features, &nw) && nw <= GM__BLAS_MAX,
             GM_EINVAL,
             "in_features * out_features must be <= %zu, got %zu x %zu",
             GM__BLAS_MAX, in_features, out_features);
    GM_CHECK(init >= GM_INIT_HE && init <= GM_INIT_ZEROS, GM_EINVAL,
             "init must be a gm_init value, got %d", (int)init);
    GM_CHECK(rng != NULL || init == GM_INIT_ZEROS, GM_EINVAL,
             "rng must not be NULL unless init is GM_INIT_ZEROS");
    gm_layer *l;
    GM_TRY(gm__layer_new(&l, &gm__dense_vt, nw + out_features, __func__));
    GM__DENSE(l)->in_features = in_features;
    GM__DENSE(l)->out_features = out_features;
    gm__init_weights(l->params, nw, out_features, init, rng, (double)in_features,
                     (double)out_features);
    *out = l;
    return GM_OK;
}
