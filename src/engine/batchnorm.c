/* SPDX-License-Identifier: MIT */
/* Batch normalization over features ([N x F]) or channels ([N x C x H x W],
 * statistics over N, H and W), as torch.nn.BatchNorm1d / BatchNorm2d.
 * Parameters: gamma [F], then beta [F]. State: running mean [F], then
 * running variance [F] (unbiased), updated by each training forward with
 * r = (1 - momentum) r + momentum * batch statistic. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"

/* F features; each has M = N * spatial values in the batch. */
static size_t bn_spatial(const gm_layer *l) { return l->in_nd == 3 ? l->in_shape[1] * l->in_shape[2] : 1; }

static gm_status bn_shape(const gm_layer *l, const char *fn, size_t in_nd, const size_t *in,
                          size_t *out_nd, size_t *out)
{
    if (!((in_nd == 1 || in_nd == 3) && in[0] == GM__BN(l)->features))
        return gm__set_error(GM_ESHAPE, fn,
                             "batchnorm layer expects samples of [%zu] or [%zu x H x W], got "
                             "rank %zu with %zu first",
                             GM__BN(l)->features, GM__BN(l)->features, in_nd, in[0]);
    return gm__same_shape_fn(l, fn, in_nd, in, out_nd, out);
}

/* 1 / sqrt(var + eps) and the mean [F each] of the last forward, then
 * scratch: g, mean(dy), mean(dy xhat) [F each] (backward), two per-feature
 * double sums [F] (one float of slack to align them). The backward
 * computes xhat = (x - mean) / sqrt(var + eps) again from the forward's
 * input, with the forward's float operations, so it gets the same bits
 * without keeping a copy of the batch (on the DCGAN's generator, 4.8 MB
 * at batch 64). */
static size_t bn_cache(const gm_layer *l, size_t n, size_t in_nd, const size_t *in)
{
    (void)n, (void)in_nd, (void)in;
    return 5 * GM__BN(l)->features + 1 + 4 * GM__BN(l)->features;
}

/* The two double arrays of the cache, 8-byte aligned (the cache itself
 * starts 64-byte aligned, so at most one float is skipped). That memory is
 * only ever used as doubles. */
static double *bn_dsums(const gm_layer *l)
{
    float *p = l->cache + 5 * GM__BN(l)->features;
    if ((uintptr_t)p % sizeof(double) != 0) p++;
    return (double *)(void *)p;
}

/* Sums of p[0..m) and of (p - c)^2 in double, in GM__VB partial sums so
 * that the loop vectorizes (BatchNorm2d: statistics over H x W runs). */
GM__HOT
static double bn_sum(const float *p, size_t m)
{
    double acc[GM__VB] = {0}, s = 0.0;
    size_t k = 0;
    for (; k + GM__VB <= m; k += GM__VB)
        for (size_t j = 0; j < GM__VB; j++) acc[j] += p[k + j];
    for (size_t j = 0; j < GM__VB; j++) s += acc[j];
    for (; k < m; k++) s += p[k];
    return s;
}
GM__HOT
static double bn_sum_dev2(const float *p, size_t m, double c)
{
    double acc[GM__VB] = {0}, s = 0.0;
    size_t k = 0;
    for (; k + GM__VB <= m; k += GM__VB)
        for (size_t j = 0; j < GM__VB; j++) acc[j] += ((double)p[k + j] - c) * ((double)p[k + j] - c);
    for (size_t j = 0; j < GM__VB; j++) s += acc[j];
    for (; k < m; k++) s += ((double)p[k] - c) * ((double)p[k] - c);
    return s;
}
/* sum of dy and of dy * xhat over m values, in double, xhat = (x - mu) is */
GM__HOT
static void bn_sum_dy(const float *dy, const float *x, float mu, float is, size_t m, double *sdy,
                      double *sdyx)
{
    double a[GM__VB] = {0}, b[GM__VB] = {0};
    size_t k = 0;
    for (; k + GM__VB <= m; k += GM__VB)
        for (size_t j = 0; j < GM__VB; j++) {
            a[j] += dy[k + j];
            b[j] += (double)dy[k + j] * ((x[k + j] - mu) * is);
        }
    for (size_t j = 0; j < GM__VB; j++) {
        *sdy += a[j];
        *sdyx += b[j];
    }
    for (; k < m; k++) {
        *sdy += dy[k];
        *sdyx += (double)dy[k] * ((x[k] - mu) * is);
    }
}

/* Column helpers for [n x F] (BatchNorm1d): one row into per-feature
 * accumulators or from per-feature factors; restrict and fixed blocks let
 * GCC -O2 vectorize them. */
GM__HOT
static void bn_row_sum(double *restrict sum, const float *restrict x, size_t F)
{
    GM__FOR_BLOCKED(F, f, sum[f] += x[f]);
}
GM__HOT
static void bn_row_dev2(double *restrict ss, const float *restrict x, const double *restrict mean,
                        size_t F)
{
    GM__FOR_BLOCKED(F, f, ss[f] += ((double)x[f] - mean[f]) * ((double)x[f] - mean[f]));
}
GM__HOT
static void bn_row_affine(float *restrict y, const float *restrict x,
                          const float *restrict mean, const float *restrict is,
                          const float *restrict gamma, const float *restrict beta, size_t F)
{
    GM__FOR_BLOCKED(F, f, y[f] = gamma[f] * ((x[f] - mean[f]) * is[f]) + beta[f]);
}
GM__HOT
static void bn_row_sum_dy(double *restrict sdy, double *restrict sdyx, const float *restrict dy,
                          const float *restrict x, const float *restrict mean,
                          const float *restrict is, size_t F)
{
    GM__FOR_BLOCKED(F, f, {
        sdy[f] += dy[f];
        sdyx[f] += (double)dy[f] * ((x[f] - mean[f]) * is[f]);
    });
}
/* dx = g (dy - mdy - xhat mdyx), or g dy with fixed statistics: over a
 * row with per-feature factors (BatchNorm1d) or over one feature's run of
 * H x W values with its factors (BatchNorm2d). */
GM__HOT
static void bn_row_dx(float *restrict dx, const float *restrict dy, const float *restrict x,
                      const float *restrict mean, const float *restrict is,
                      const float *restrict g, const float *restrict mdy,
                      const float *restrict mdyx, size_t F)
{
    GM__FOR_BLOCKED(F, f,
                    dx[f] = g[f] * (dy[f] - mdy[f] - ((x[f] - mean[f]) * is[f]) * mdyx[f]));
}
GM__HOT
static void bn_run_dx(float *restrict dx, const float *restrict dy, const float *restrict x,
                      float mu, float is, float g, float mdy, float mdyx, size_t m)
{
    GM__FOR_BLOCKED(m, k, dx[k] = g * (dy[k] - mdy - ((x[k] - mu) * is) * mdyx));
}
GM__HOT
static void bn_run_scale(float *restrict dx, const float *restrict dy, float g, size_t m)
{
    GM__FOR_BLOCKED(m, k, dx[k] = g * dy[k]);
}
GM__HOT
static void bn_row_scale(float *restrict dx, const float *restrict dy, const float *restrict g,
                         size_t F)
{
    GM__FOR_BLOCKED(F, f, dx[f] = g[f] * dy[f]);
}

/* Feature f's statistics from its sum and sum of squared deviations:
 * updates the running statistics and returns mean, 1 / sqrt(var + eps). */
static void bn_finish_stats(gm_layer *l, size_t f, double sum, double ss, size_t M, int training,
                            float *mu, float *is)
{
    const size_t F = GM__BN(l)->features;
    float *rmean = l->state, *rvar = l->state + F;
    double mean, var;
    if (training) {
        mean = sum / (double)M;
        var = ss / (double)M;
        const double unbiased = M > 1 ? ss / (double)(M - 1) : var;
        const double m = GM__BN(l)->momentum;
        rmean[f] = (float)((1.0 - m) * rmean[f] + m * mean);
        rvar[f] = (float)((1.0 - m) * rvar[f] + m * unbiased);
    } else {
        mean = rmean[f];
        var = rvar[f];
    }
    *is = (float)(1.0 / sqrt(var + GM__BN(l)->eps));
    *mu = (float)mean;
}

/* y = gamma (x - mu) is + beta over m values of one feature */
GM__HOT
static void bn_affine(const float *restrict x, float *restrict y, size_t m, float mu, float is,
                      float gamma, float beta)
{
    GM__FOR_BLOCKED(m, k, y[k] = gamma * ((x[k] - mu) * is) + beta);
}

static void bn_forward(gm_layer *l, float *y, const float *x, size_t n, int training)
{
    const size_t F = GM__BN(l)->features, S = bn_spatial(l), M = n * S, D = l->in_dim;
    const float *gamma = l->params, *beta = l->params + F;
    float *invstd = l->cache, *mean = invstd + F;
    l->last_training = training;
    if (S == 1) {
        /* [n x F]: a feature's values are a column. Accumulate all columns
         * row by row (the order per feature is the same as walking a
         * column), so the inner loop runs over contiguous features. */
        double *sum = bn_dsums(l), *ss = sum + F;
        if (training) {
            memset(sum, 0, F * sizeof(double));
            memset(ss, 0, F * sizeof(double));
            for (size_t i = 0; i < n; i++) bn_row_sum(sum, x + i * F, F);
            for (size_t f = 0; f < F; f++) sum[f] /= (double)M; /* the mean, for now */
            for (size_t i = 0; i < n; i++) bn_row_dev2(ss, x + i * F, sum, F);
        }
        for (size_t f = 0; f < F; f++)
            bn_finish_stats(l, f, training ? sum[f] * (double)M : 0.0, training ? ss[f] : 0.0,
                            M, training, &mean[f], &invstd[f]);
        for (size_t i = 0; i < n; i++)
            bn_row_affine(y + i * F, x + i * F, mean, invstd, gamma, beta, F);
        return;
    }
    for (size_t f = 0; f < F; f++) {
        double s = 0.0, ss = 0.0;
        if (training) {
            for (size_t i = 0; i < n; i++) s += bn_sum(x + i * D + f * S, S);
            const double m = s / (double)M;
            for (size_t i = 0; i < n; i++) ss += bn_sum_dev2(x + i * D + f * S, S, m);
        }
        bn_finish_stats(l, f, s, ss, M, training, &mean[f], &invstd[f]);
        for (size_t i = 0; i < n; i++) {
            const size_t o = i * D + f * S;
            bn_affine(x + o, y + o, S, mean[f], invstd[f], gamma[f], beta[f]);
        }
    }
}

static void bn_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                        const float *y, size_t n)
{
    (void)y;
    const size_t F = GM__BN(l)->features, S = bn_spatial(l), M = n * S, D = l->in_dim;
    const float *gamma = l->params, *invstd = l->cache, *mean = invstd + F;
    double *sdy = bn_dsums(l), *sdyx = sdy + F;
    memset(sdy, 0, F * sizeof(double));
    memset(sdyx, 0, F * sizeof(double));
    if (S == 1) { /* columns, accumulated row by row as in the forward */
        for (size_t i = 0; i < n; i++)
            bn_row_sum_dy(sdy, sdyx, dy + i * F, x + i * F, mean, invstd, F);
    } else {
        for (size_t f = 0; f < F; f++)
            for (size_t i = 0; i < n; i++) {
                const size_t o = i * D + f * S;
                bn_sum_dy(dy + o, x + o, mean[f], invstd[f], S, &sdy[f], &sdyx[f]);
            }
    }
    if (gm__layer_accumulates(l))
        for (size_t f = 0; f < F; f++) {
            l->grads[f] += (float)sdyx[f];
            l->grads[F + f] += (float)sdy[f];
        }
    if (!dx) return;
    /* dx = g (dy - mean(dy) - xhat mean(dy xhat)), g = gamma invstd, with
     * the per-feature factors computed once; with fixed statistics
     * (evaluation mode) an affine map, dx = g dy. */
    float *fg = l->cache + 2 * F, *fmdy = fg + F, *fmdyx = fmdy + F;
    for (size_t f = 0; f < F; f++) {
        fg[f] = gamma[f] * invstd[f];
        fmdy[f] = (float)(sdy[f] / (double)M);
        fmdyx[f] = (float)(sdyx[f] / (double)M);
    }
    const int fixed = !l->last_training;
    if (S == 1) {
        for (size_t i = 0; i < n; i++) {
            if (fixed)
                bn_row_scale(dx + i * F, dy + i * F, fg, F);
            else
                bn_row_dx(dx + i * F, dy + i * F, x + i * F, mean, invstd, fg, fmdy, fmdyx, F);
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        for (size_t f = 0; f < F; f++) {
            const size_t o = i * D + f * S;
            if (fixed)
                bn_run_scale(dx + o, dy + o, fg[f], S);
            else
                bn_run_dx(dx + o, dy + o, x + o, mean[f], invstd[f], fg[f], fmdy[f], fmdyx[f], S);
        }
}

static void bn_save(const gm_layer *l, gm__hyper *h)
{
    h->u[0] = GM__BN(l)->features;
    h->f[0] = GM__BN(l)->momentum;
    h->f[1] = GM__BN(l)->eps;
}

static gm_status bn_load(gm_layer **out, const gm__hyper *h)
{
    return gm_batchnorm_create(out, (size_t)h->u[0], h->f[0], h->f[1]);
}

/* gamma and beta per feature */
static size_t bn_param_count(const gm__hyper *h)
{
    return h->u[0] > SIZE_MAX / 2 ? 0 : 2 * (size_t)h->u[0];
}

/* state: running mean [F], running variance [F], the variances >= 0 */
static gm_status bn_validate_state(const gm_layer *l, const char *fn)
{
    const size_t F = l->nstate / 2;
    for (size_t f = 0; f < F; f++)
        if (!(l->state[F + f] >= 0.0f))
            return gm__set_error(GM_EINVAL, fn, "running variance [%zu] is negative (%g)", f,
                                 (double)l->state[F + f]);
    return GM_OK;
}

const gm__layer_vt gm__batchnorm_vt = {.kind = GM_LAYER_BATCHNORM,
                                       .name = "batchnorm",
                                       .size = sizeof(gm__batchnorm),
                                       .save_hyper = bn_save,
                                       .load = bn_load,
                                       .param_count = bn_param_count,
                                       .validate_state = bn_validate_state,
                                       .shape = bn_shape,
                                       .cache_floats = bn_cache,
                                       .forward = bn_forward,
                                       .backward = bn_backward};

gm_status gm_batchnorm_create(gm_layer **out, size_t features, float momentum, float eps)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK(features >= 1 && features <= (size_t)1 << 24, GM_EINVAL,
             "features must be in [1, 2^24], got %zu", features);
    GM_CHECK(isfinite(momentum) && momentum > 0.0f && momentum <= 1.0f, GM_EINVAL,
             "momentum must be in (0, 1], got %g", (double)momentum);
    GM_CHECK(isfinite(eps) && eps > 0.0f && eps <= 1.0f, GM_EINVAL,
             "eps must be in (0, 1], got %g", (double)eps);
    float *state = gm__malloc_array(2 * features, sizeof(float));
    GM_CHECK(state != NULL, GM_ENOMEM, "cannot allocate running statistics for %zu features",
             features);
    gm_layer *l;
    gm_status st = gm__layer_new(&l, &gm__batchnorm_vt, 2 * features, __func__);
    if (st != GM_OK) {
        gm__free(state);
        return st;
    }
    GM__BN(l)->features = features;
    GM__BN(l)->momentum = momentum;
    GM__BN(l)->eps = eps;
    for (size_t f = 0; f < features; f++) {
        l->params[f] = 1.0f; /* gamma */
        state[f] = 0.0f;     /* running mean */
        state[features + f] = 1.0f; /* running variance */
    }
    l->state = state;
    l->nstate = 2 * features;
    *out = l;
    return GM_OK;
}

/* ---- readers of the running statistics ----------------------------------- */

size_t gm_layer_batchnorm_features(const gm_layer *layer)
{
    return layer && layer->vt == &gm__batchnorm_vt ? layer->nstate / 2 : 0;
}

/* Copies half `which` (0: mean, 1: variance) of l's running statistics. */
static gm_status gm__bn_copy_stat(const char *fn, const gm_layer *l, float *dst, size_t n,
                                  int which)
{
    if (l == NULL) return gm__set_error(GM_EINVAL, fn, "layer must not be NULL");
    if (dst == NULL) return gm__set_error(GM_EINVAL, fn, "dst must not be NULL");
    if (l->vt != &gm__batchnorm_vt)
        return gm__set_error(GM_EUNSUPPORTED, fn,
                             "running statistics belong to batchnorm layers, not %s",
                             l->vt->name);
    const size_t F = l->nstate / 2;
    if (n != F)
        return gm__set_error(GM_ESHAPE, fn, "n must be the feature count %zu, got %zu", F, n);
    memcpy(dst, l->state + (size_t)which * F, F * sizeof(float));
    return GM_OK;
}

gm_status gm_layer_get_running_mean(const gm_layer *layer, float *dst, size_t n)
{
    return gm__bn_copy_stat(__func__, layer, dst, n, 0);
}

gm_status gm_layer_get_running_var(const gm_layer *layer, float *dst, size_t n)
{
    return gm__bn_copy_stat(__func__, layer, dst, n, 1);
}
