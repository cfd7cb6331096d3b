/* SPDX-License-Identifier: MIT */
/* Elementwise activations. Forward assigns y; backward assigns dx from dy
 * and whichever of x, y gives the derivative cheaply. Loops are plain so
 * the compiler vectorizes them. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"

/* Elementwise layers keep the per-sample shape. */
gm_status gm__same_shape_fn(const gm_layer *l, const char *fn, size_t in_nd,
                            const size_t *in, size_t *out_nd, size_t *out)
{
    (void)l;
    (void)fn;
    *out_nd = in_nd;
    for (size_t i = 0; i < in_nd; i++) out[i] = in[i];
    return GM_OK;
}

#define GM__COUNT(l, n) ((n) * (l)->in_dim)

/* out[i] = expr for i in [0, m), in blocks of GM__VB through a local
 * array: the block loop has a fixed trip count and no stores that could
 * alias its loads, so GCC vectorizes it at -O2. expr must read its inputs
 * unconditionally (pass them to gm__sel rather than writing a ?: over
 * loads or float operations, which -O2 will not speculate). */
#define GM__MAP(m, out, i, expr)                                               \
    do {                                                                       \
        size_t b_ = 0;                                                         \
        for (; b_ + GM__VB <= (m); b_ += GM__VB) {                             \
            float t_[GM__VB];                                                  \
            for (size_t j_ = 0; j_ < GM__VB; j_++) {                           \
                const size_t i = b_ + j_;                                      \
                t_[j_] = (expr);                                               \
            }                                                                  \
            memcpy((out) + b_, t_, sizeof t_);                                 \
        }                                                                      \
        for (size_t i = b_; i < (m); i++) (out)[i] = (expr);                   \
    } while (0)

/* c > 0 ? a : b with both already evaluated (a select, not a branch). */
static inline float gm__sel(float c, float a, float b) { return c > 0.0f ? a : b; }
/* sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e), e = e^-|z|: the numerator is
 * selected (not a quotient) so that a block of them stays branch-free */
static inline float gm__sigmoid_fast(float z)
{
    const float e = gm__exp_neg(fabsf(z));
    return (z >= 0.0f ? 1.0f : e) / (1.0f + e);
}

/* relu: y = max(x, 0); dx = dy [y > 0] */
GM__HOT static void relu_forward(gm_layer *l, float *y, const float *x, size_t n, int t)
{
    (void)t;
    const size_t m = GM__COUNT(l, n);
    GM__MAP(m, y, i, gm__sel(x[i], x[i], 0.0f));
}
GM__HOT static void relu_backward(gm_layer *l, float *dx, const float *dy,
                          const float *x, const float *y, size_t n)
{
    (void)x;
    if (!dx) return;
    const size_t m = GM__COUNT(l, n);
    GM__MAP(m, dx, i, gm__sel(y[i], dy[i], 0.0f));
}

/* leaky relu: y = x if x > 0 else alpha x */
GM__HOT static void leaky_forward(gm_layer *l, float *y, const float *x, size_t n, int t)
{
    (void)t;
    const size_t m = GM__COUNT(l, n);
    const float a = GM__ACT(l)->alpha;
    /* x > 0 ? x : a x, as a sum of two selects (one of them 0), which
     * GCC cannot turn back into a branch around a product */
    GM__MAP(m, y, i, gm__sel(x[i], x[i], 0.0f) + a * gm__sel(x[i], 0.0f, x[i]));
}
GM__HOT static void leaky_backward(gm_layer *l, float *dx, const float *dy,
                           const float *x, const float *y, size_t n)
{
    (void)y;
    if (!dx) return;
    const size_t m = GM__COUNT(l, n);
    const float a = GM__ACT(l)->alpha;
    GM__MAP(m, dx, i, gm__sel(x[i], dy[i], 0.0f) + a * gm__sel(x[i], 0.0f, dy[i]));
}

/* sigmoid: y = 1 / (1 + exp(-x)); dx = dy y (1 - y) */
GM__HOT static void sigmoid_forward(gm_layer *l, float *y, const float *x, size_t n, int t)
{
    (void)t;
    const size_t m = GM__COUNT(l, n);
    for (size_t i = 0; i < m; i++) y[i] = gm__sigmoidf(x[i]);
}
GM__HOT static void sigmoid_backward(gm_layer *l, float *dx, const float *dy,
                             const float *x, const float *y, size_t n)
{
    (void)x;
    if (!dx) return;
    const size_t m = GM__COUNT(l, n);
    GM__MAP(m, dx, i, dy[i] * y[i] * (1.0f - y[i]));
}

/* tanh: dx = dy (1 - y^2) */
GM__HOT static void tanh_forward(gm_layer *l, float *y, const float *x, size_t n, int t)
{
    (void)t;
    const size_t m = GM__COUNT(l, n);
    for (size_t i = 0; i < m; i++) y[i] = tanhf(x[i]);
}
GM__HOT static void tanh_backward(gm_layer *l, float *dx, const float *dy,
                          const float *x, const float *y, size_t n)
{
    (void)x;
    if (!dx) return;
    const size_t m = GM__COUNT(l, n);
    GM__MAP(m, dx, i, dy[i] * (1.0f - y[i] * y[i]));
}

/* softplus: y = log(1 + exp(x)); dx = dy sigmoid(x) */
GM__HOT static void softplus_forward(gm_layer *l, float *y, const float *x, size_t n, int t)
{
    (void)t;
    const size_t m = GM__COUNT(l, n);
    for (size_t i = 0; i < m; i++) y[i] = gm__softplusf(x[i]);
}
GM__HOT static void softplus_backward(gm_layer *l, float *dx, const float *dy,
                              const float *x, const float *y, size_t n)
{
    (void)y;
    if (!dx) return;
    const size_t m = GM__COUNT(l, n);
    for (size_t i = 0; i < m; i++) dx[i] = dy[i] * gm__sigmoidf(x[i]);
}

/* elu: y = x if x > 0 else alpha (exp(x) - 1); dx = dy or dy alpha exp(x).
 * The derivative is computed from x: dy (y + alpha) cancels for x below
 * about -7 (y + alpha rounds to a few ulps of alpha), losing every digit. */
GM__HOT static void elu_forward(gm_layer *l, float *y, const float *x, size_t n, int t)
{
    (void)t;
    const size_t m = GM__COUNT(l, n);
    const float a = GM__ACT(l)->alpha;
    for (size_t i = 0; i < m; i++) y[i] = x[i] > 0.0f ? x[i] : a * expm1f(x[i]);
}
GM__HOT static void elu_backward(gm_layer *l, float *dx, const float *dy,
                         const float *x, const float *y, size_t n)
{
    (void)y;
    if (!dx) return;
    const size_t m = GM__COUNT(l, n);
    const float a = GM__ACT(l)->alpha;
    for (size_t i = 0; i < m; i++)
        dx[i] = x[i] > 0.0f ? dy[i] : a * expf(x[i]) * dy[i];
}

GM__HOT void gm__sigmoid_array(float *y, const float *x, size_t n)
{
    GM__MAP(n, y, i, gm__sigmoid_fast(x[i]));
}

static void alpha_save(const gm_layer *l, gm__hyper *h) { h->f[0] = GM__ACT(l)->alpha; }
static gm_status relu_load(gm_layer **out, const gm__hyper *h)
{
    (void)h;
    return gm_relu_create(out);
}
static gm_status leaky_load(gm_layer **out, const gm__hyper *h)
{
    return gm_leaky_relu_create(out, h->f[0]);
}
static gm_status sigmoid_load(gm_layer **out, const gm__hyper *h)
{
    (void)h;
    return gm_sigmoid_create(out);
}
static gm_status tanh_load(gm_layer **out, const gm__hyper *h)
{
    (void)h;
    return gm_tanh_create(out);
}
static gm_status softplus_load(gm_layer **out, const gm__hyper *h)
{
    (void)h;
    return gm_softplus_create(out);
}
static gm_status elu_load(gm_layer **out, const gm__hyper *h)
{
    return gm_elu_create(out, h->f[0]);
}

#define GM__ELEMENTWISE_VT(var, KIND, nm, save, ld, fwd, bwd)                 \
    const gm__layer_vt var = {.kind = KIND, .name = nm, .size = sizeof(gm__act), \
                              .save_hyper = save, .load = ld,                 \
                              .shape = gm__same_shape_fn, .forward = fwd,     \
                              .backward = bwd}
GM__ELEMENTWISE_VT(gm__relu_vt, GM_LAYER_RELU, "relu", NULL, relu_load, relu_forward,
                   relu_backward);
GM__ELEMENTWISE_VT(gm__leaky_relu_vt, GM_LAYER_LEAKY_RELU, "leaky_relu", alpha_save,
                   leaky_load, leaky_forward, leaky_backward);
GM__ELEMENTWISE_VT(gm__sigmoid_vt, GM_LAYER_SIGMOID, "sigmoid", NULL, sigmoid_load,
                   sigmoid_forward, sigmoid_backward);
GM__ELEMENTWISE_VT(gm__tanh_vt, GM_LAYER_TANH, "tanh", NULL, tanh_load, tanh_forward,
                   tanh_backward);
GM__ELEMENTWISE_VT(gm__softplus_vt, GM_LAYER_SOFTPLUS, "softplus", NULL, softplus_load,
                   softplus_forward, softplus_backward);
GM__ELEMENTWISE_VT(gm__elu_vt, GM_LAYER_ELU, "elu", alpha_save, elu_load, elu_forward,
                   elu_backward);

/* The activations: one constructor shape. */
static gm_status gm__act_create(gm_layer **out, const gm__layer_vt *vt, float alpha,
                                const char *fn)
{
    GM_TRY(gm__layer_new(out, vt, 0, fn));
    GM__ACT(*out)->alpha = alpha;
    return GM_OK;
}

gm_status gm_relu_create(gm_layer **out)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    return gm__act_create(out, &gm__relu_vt, 0.0f, __func__);
}

gm_status gm_sigmoid_create(gm_layer **out)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    return gm__act_create(out, &gm__sigmoid_vt, 0.0f, __func__);
}

gm_status gm_tanh_create(gm_layer **out)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    return gm__act_create(out, &gm__tanh_vt, 0.0f, __func__);
}

gm_status gm_softplus_create(gm_layer **out)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    return gm__act_create(out, &gm__softplus_vt, 0.0f, __func__);
}

gm_status gm_leaky_relu_create(gm_layer **out, float alpha)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK(isfinite(alpha) && alpha >= 0.0f && alpha < 1.0f, GM_EINVAL,
             "alpha must be finite and in [0, 1), got %g", (double)alpha);
    return gm__act_create(out, &gm__leaky_relu_vt, alpha, __func__);
}

gm_status gm_elu_create(gm_layer **out, float alpha)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK(isfinite(alpha) && alpha > 0.0f, GM_EINVAL,
             "alpha must be finite and > 0, got %g", (double)alpha);
    return gm__act_create(out, &gm__elu_vt, alpha, __func__);
}
