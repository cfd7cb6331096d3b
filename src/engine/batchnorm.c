/* Batch normalization over features ([N x F]) or channels ([N x C x H x W],
 * statistics over N, H and W), as torch.nn.BatchNorm1d / BatchNorm2d.
 * Parameters: gamma [F], then beta [F]. State: running mean [F], then
 * running variance [F] (unbiased), updated by each training forward with
 * r = (1 - momentum) r + momentum * batch statistic. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"

/* F features; each has M = N * spatial values in the batch. */
static size_t bn_spatial(const gm_layer *l) { return l->in_nd == 3 ? l->in_shape[1] * l->in_shape[2] : 1; }

static gm_status bn_shape(const gm_layer *l, const char *fn, size_t in_nd, const size_t *in,
                          size_t *out_nd, size_t *out)
{
    if (!((in_nd == 1 || in_nd == 3) && in[0] == l->out_features))
        return gm__set_error(GM_ESHAPE, fn,
                             "batchnorm layer expects samples of [%zu] or [%zu x H x W], got "
                             "rank %zu with %zu first",
                             l->out_features, l->out_features, in_nd, in[0]);
    return gm__same_shape_fn(l, fn, in_nd, in, out_nd, out);
}

/* xhat [n x in_dim], then 1 / sqrt(var + eps) [F] of the last forward */
static size_t bn_cache(const gm_layer *l, size_t n, size_t in_nd, const size_t *in)
{
    size_t d = 1;
    for (size_t i = 0; i < in_nd; i++) d *= in[i];
    return n * d + l->out_features;
}

static void bn_forward(gm_layer *l, float *y, const float *x, size_t n, int training)
{
    const size_t F = l->out_features, S = bn_spatial(l), M = n * S;
    const float *gamma = l->params, *beta = l->params + F;
    float *rmean = l->state, *rvar = l->state + F;
    float *xhat = l->cache, *invstd = l->cache + n * l->in_dim;
    l->last_training = training;
    for (size_t f = 0; f < F; f++) {
        double mean, var;
        if (training) {
            double s = 0.0, ss = 0.0;
            for (size_t i = 0; i < n; i++) {
                const float *p = x + i * l->in_dim + f * S;
                for (size_t k = 0; k < S; k++) s += p[k];
            }
            mean = s / (double)M;
            for (size_t i = 0; i < n; i++) {
                const float *p = x + i * l->in_dim + f * S;
                for (size_t k = 0; k < S; k++) ss += ((double)p[k] - mean) * ((double)p[k] - mean);
            }
            var = ss / (double)M;
            const double unbiased = M > 1 ? ss / (double)(M - 1) : var;
            rmean[f] = (float)((1.0 - l->momentum) * rmean[f] + l->momentum * mean);
            rvar[f] = (float)((1.0 - l->momentum) * rvar[f] + l->momentum * unbiased);
        } else {
            mean = rmean[f];
            var = rvar[f];
        }
        const float is = (float)(1.0 / sqrt(var + l->eps)), mu = (float)mean;
        invstd[f] = is;
        for (size_t i = 0; i < n; i++) {
            const size_t o = i * l->in_dim + f * S;
            for (size_t k = 0; k < S; k++) {
                xhat[o + k] = (x[o + k] - mu) * is;
                y[o + k] = gamma[f] * xhat[o + k] + beta[f];
            }
        }
    }
}

static void bn_backward(gm_layer *l, float *dx, const float *dy, const float *x, const float *y,
                        size_t n)
{
    (void)x;
    (void)y;
    const size_t F = l->out_features, S = bn_spatial(l), M = n * S;
    const float *gamma = l->params, *xhat = l->cache, *invstd = l->cache + n * l->in_dim;
    for (size_t f = 0; f < F; f++) {
        double sdy = 0.0, sdyx = 0.0; /* sum dy, sum dy * xhat */
        for (size_t i = 0; i < n; i++) {
            const size_t o = i * l->in_dim + f * S;
            for (size_t k = 0; k < S; k++) {
                sdy += dy[o + k];
                sdyx += (double)dy[o + k] * xhat[o + k];
            }
        }
        if (gm__layer_accumulates(l)) {
            l->grads[f] += (float)sdyx;
            l->grads[F + f] += (float)sdy;
        }
        if (!dx) continue;
        const float g = gamma[f] * invstd[f];
        if (!l->last_training) { /* fixed statistics: an affine map */
            for (size_t i = 0; i < n; i++) {
                const size_t o = i * l->in_dim + f * S;
                for (size_t k = 0; k < S; k++) dx[o + k] = g * dy[o + k];
            }
            continue;
        }
        /* dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)) */
        const float mdy = (float)(sdy / (double)M), mdyx = (float)(sdyx / (double)M);
        for (size_t i = 0; i < n; i++) {
            const size_t o = i * l->in_dim + f * S;
            for (size_t k = 0; k < S; k++) dx[o + k] = g * (dy[o + k] - mdy - xhat[o + k] * mdyx);
        }
    }
}

static void bn_save(const gm_layer *l, gm__hyper *h)
{
    h->u[0] = l->out_features;
    h->f[0] = l->momentum;
    h->f[1] = l->eps;
}

static gm_status bn_load(gm_layer **out, const gm__hyper *h)
{
    return gm_batchnorm_create(out, (size_t)h->u[0], h->f[0], h->f[1]);
}

const gm__layer_vt gm__batchnorm_vt = {.kind = GM_LAYER_BATCHNORM,
                                       .name = "batchnorm",
                                       .save_hyper = bn_save,
                                       .load = bn_load,
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
    l->out_features = features;
    l->momentum = momentum;
    l->eps = eps;
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
