/* SPDX-License-Identifier: MIT */
/* Spectral normalization of a dense or convolution layer's weight
 * (Miyato et al. 2018), with torch.nn.utils.spectral_norm's semantics.
 *
 * The weight is read as a matrix with one row per output channel: dense and
 * conv2d weights are [O x rest] already; a transposed conv's weight
 * [C x O x k x k] is seen as [O x (C k k)], torch's dim=1. Uniformly, the
 * weight is W[a][r][b] with A x R x B = (1, O, rest) or (C, O, k k); row r,
 * column a B + b.
 *
 * State (checkpointed): u [R], then v [A B]. A training forward runs the
 * power iteration v = normalize(W^T u), u = normalize(W v) (normalize(x) =
 * x / max(|x|, eps)) `iters` times; every forward then takes sigma =
 * u . W v and computes with W / sigma. Gradients treat u and v as constants
 * (as torch does): dL/dW = G / sigma - (<G, W> / sigma^2) u v^T, where G is
 * the gradient with respect to W / sigma. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"

/* The A x R x B view of l's weight (l is a dense or convolution layer). */
static void sn_dims(const gm_layer *l, size_t *A, size_t *R, size_t *B)
{
    if (l->vt->kind == GM_LAYER_DENSE) {
        *A = 1, *R = GM__DENSE(l)->out_features, *B = GM__DENSE(l)->in_features;
        return;
    }
    const gm__conv *c = GM__CONV(l);
    if (l->vt->kind == GM_LAYER_CONV_TRANSPOSE2D)
        *A = c->in_ch, *R = c->out_ch, *B = c->kernel * c->kernel;
    else /* conv2d */
        *A = 1, *R = c->out_ch, *B = c->in_ch * c->kernel * c->kernel;
}

/* x /= max(|x|, eps) */
static void sn_normalize(float *x, size_t n, float eps)
{
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    double norm = sqrt(ss);
    if (norm < eps) norm = eps;
    for (size_t i = 0; i < n; i++) x[i] = (float)(x[i] / norm);
}

/* out[R] = W v, accumulated in double per row */
static void sn_wv(const float *W, size_t A, size_t R, size_t B, const float *v, float *out)
{
    for (size_t r = 0; r < R; r++) {
        double s = 0.0;
        for (size_t a = 0; a < A; a++) {
            const float *w = W + (a * R + r) * B, *va = v + a * B;
            for (size_t b = 0; b < B; b++) s += (double)w[b] * va[b];
        }
        out[r] = (float)s;
    }
}

/* out[A B] = W^T u */
static void sn_wtu(const float *W, size_t A, size_t R, size_t B, const float *u, float *out)
{
    memset(out, 0, A * B * sizeof *out);
    for (size_t a = 0; a < A; a++)
        for (size_t r = 0; r < R; r++) {
            const float *w = W + (a * R + r) * B;
            const float ur = u[r];
            float *o = out + a * B;
            for (size_t b = 0; b < B; b++) o[b] += w[b] * ur;
        }
}

int gm__sn_supported(const gm_layer *l) { return l->vt->spectral; }

gm_status gm__sn_check_settings(uint64_t iters, float eps, const char *fn)
{
    if (iters < 1 || iters > 100)
        return gm__set_error(GM_EINVAL, fn, "power_iterations must be in [1, 100], got %llu",
                             (unsigned long long)iters);
    if (!(isfinite(eps) && eps > 0.0f && eps <= 1.0f))
        return gm__set_error(GM_EINVAL, fn, "eps must be in (0, 1], got %g", (double)eps);
    return GM_OK;
}

size_t gm__sn_weight_count(const gm_layer *l)
{
    size_t A, R, B;
    sn_dims(l, &A, &R, &B);
    return A * R * B;
}

gm_status gm__sn_enable(gm_layer *l, size_t iters, float eps, const char *fn)
{
    size_t A, R, B;
    sn_dims(l, &A, &R, &B);
    const size_t nw = A * R * B, ns = R + A * B;
    /* u, v; then the normalized weight W / sigma and the scratch gradient G
     * (2 nw): allocated once here, so steps allocate nothing */
    float *state = gm__calloc_array(ns, sizeof(float));
    float *work = gm__calloc_array(2 * nw, sizeof(float));
    if (state == NULL || work == NULL) {
        gm__free(state);
        gm__free(work);
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate spectral norm state for %zu weights",
                             nw);
    }
    l->state = state;
    l->nstate = ns;
    l->sn_work = work;
    l->sn_iters = iters;
    l->sn_eps = eps;
    l->sn_sigma = 1.0f;
    return GM_OK;
}

const float *gm__sn_forward(gm_layer *l, int training)
{
    if (l->sn_iters == 0) return l->params;
    size_t A, R, B;
    sn_dims(l, &A, &R, &B);
    const size_t nw = A * R * B;
    const float *W = l->params;
    float *u = l->state, *v = l->state + R, *Wn = l->sn_work, *Wv = l->sn_work + nw;
    if (training)
        for (size_t it = 0; it < l->sn_iters; it++) {
            sn_wtu(W, A, R, B, u, v);
            sn_normalize(v, A * B, l->sn_eps);
            sn_wv(W, A, R, B, v, u);
            sn_normalize(u, R, l->sn_eps);
        }
    /* sigma = u . W v (the scratch half of sn_work holds W v meanwhile) */
    sn_wv(W, A, R, B, v, Wv);
    double sigma = 0.0;
    for (size_t r = 0; r < R; r++) sigma += (double)u[r] * Wv[r];
    l->sn_sigma = (float)sigma;
    const float inv = (float)(1.0 / sigma);
    for (size_t i = 0; i < nw; i++) Wn[i] = W[i] * inv;
    return Wn;
}

const float *gm__sn_weight(const gm_layer *l)
{
    return l->sn_iters ? l->sn_work : l->params;
}

float *gm__sn_grad_begin(gm_layer *l)
{
    if (l->sn_iters == 0) return l->grads;
    float *G = l->sn_work + gm__sn_weight_count(l);
    memset(G, 0, gm__sn_weight_count(l) * sizeof *G);
    return G;
}

void gm__sn_grad_end(gm_layer *l)
{
    if (l->sn_iters == 0) return;
    size_t A, R, B;
    sn_dims(l, &A, &R, &B);
    const size_t nw = A * R * B;
    const float *W = l->params, *G = l->sn_work + nw, *u = l->state, *v = l->state + R;
    float *dW = l->grads;
    const double sigma = l->sn_sigma;
    double gw = 0.0; /* <G, W> */
    for (size_t i = 0; i < nw; i++) gw += (double)G[i] * W[i];
    const float inv = (float)(1.0 / sigma), c = (float)(gw / (sigma * sigma));
    for (size_t a = 0; a < A; a++)
        for (size_t r = 0; r < R; r++) {
            const size_t off = (a * R + r) * B;
            const float cu = c * u[r];
            const float *va = v + a * B;
            for (size_t b = 0; b < B; b++) dW[off + b] += G[off + b] * inv - cu * va[b];
        }
}

gm_status gm_layer_spectral_norm(gm_layer *layer, size_t power_iterations, float eps,
                                 gm_rng *rng)
{
    GM_CHECK_NULL(layer);
    GM_CHECK_NULL(rng);
    GM_CHECK(gm__sn_supported(layer), GM_EUNSUPPORTED,
             "spectral norm applies to dense, conv2d and conv_transpose2d layers, not %s",
             layer->vt->name);
    GM_CHECK(layer->owner == NULL, GM_ESTATE,
             "the layer belongs to a net: enable spectral norm before gm_net_add");
    GM_CHECK(layer->sn_iters == 0, GM_ESTATE, "spectral norm is already enabled on this layer");
    GM_TRY(gm__sn_check_settings(power_iterations, eps, __func__));
    GM_TRY(gm__sn_enable(layer, power_iterations, eps, __func__));
    /* u, v ~ normalize(N(0, 1)), as torch draws them */
    size_t A, R, B;
    sn_dims(layer, &A, &R, &B);
    float *u = layer->state, *v = layer->state + R;
    gm_rng_normal(rng, u, R);
    sn_normalize(u, R, eps);
    gm_rng_normal(rng, v, A * B);
    sn_normalize(v, A * B, eps);
    return GM_OK;
}

size_t gm_layer_spectral_norm_iterations(const gm_layer *layer)
{
    return layer ? layer->sn_iters : 0;
}

float gm_layer_spectral_sigma(const gm_layer *layer)
{
    return layer && layer->sn_iters ? layer->sn_sigma : 0.0f;
}

/* ---- readers of u and v -------------------------------------------------- */

size_t gm_layer_spectral_u_count(const gm_layer *layer)
{
    if (layer == NULL || layer->sn_iters == 0) return 0;
    size_t A, R, B;
    sn_dims(layer, &A, &R, &B);
    return R;
}

size_t gm_layer_spectral_v_count(const gm_layer *layer)
{
    if (layer == NULL || layer->sn_iters == 0) return 0;
    size_t A, R, B;
    sn_dims(layer, &A, &R, &B);
    return A * B;
}

/* Copies u (which = 0) or v (1) of a spectrally normalized l. */
static gm_status gm__sn_copy_vector(const char *fn, const gm_layer *l, float *dst, size_t n,
                                    int which)
{
    if (l == NULL) return gm__set_error(GM_EINVAL, fn, "layer must not be NULL");
    if (dst == NULL) return gm__set_error(GM_EINVAL, fn, "dst must not be NULL");
    if (l->sn_iters == 0)
        return gm__set_error(GM_ESTATE, fn, "the %s layer is not spectrally normalized",
                             l->vt->name);
    size_t A, R, B;
    sn_dims(l, &A, &R, &B);
    const size_t want = which ? A * B : R;
    if (n != want)
        return gm__set_error(GM_ESHAPE, fn, "n must be the length of %s, %zu, got %zu",
                             which ? "v" : "u", want, n);
    memcpy(dst, l->state + (which ? R : 0), want * sizeof(float));
    return GM_OK;
}

gm_status gm_layer_get_spectral_u(const gm_layer *layer, float *dst, size_t n)
{
    return gm__sn_copy_vector(__func__, layer, dst, n, 0);
}

gm_status gm_layer_get_spectral_v(const gm_layer *layer, float *dst, size_t n)
{
    return gm__sn_copy_vector(__func__, layer, dst, n, 1);
}
