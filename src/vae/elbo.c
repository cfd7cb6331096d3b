/* SPDX-License-Identifier: MIT */
/* The reparameterization / ELBO module: pure functions over the encoder
 * output h [N x 2L] (mu then logvar per row) and the decoder output.
 * Sums in double; gradients to h are added, to the decoder output set. */
#include <math.h>
#include <string.h>

#include <genmodel/vae.h>

#include "engine/engine.h"
#include "vae/vae_internal.h"

#define GM__LOG_2PI 1.8378770664093453

/* The Bernoulli likelihood's per-pixel work (an exp and a log1p for each
 * of N x 784 values) dominated a VAE step with libm's scalar double calls;
 * gm__exp_neg and gm__log1p_unit (engine.h) are plain float arithmetic, so
 * a block of them vectorizes. */

/* One sample's Bernoulli NLL from logits o against targets t in [0, 1]:
 * sum_k softplus(o_k) - o_k t_k, in double; d_k = g (sigmoid(o_k) - t_k)
 * when d is not NULL. */
GM__HOT static double gm__bernoulli_row(const float *o, const float *t, float *d, float g, size_t D)
{
    double acc[GM__VB] = {0};
    float dd[GM__VB];
    size_t k = 0;
    for (; k + GM__VB <= D; k += GM__VB) {
        for (size_t j = 0; j < GM__VB; j++) {
            const float z = o[k + j], tz = t[k + j];
            const float e = gm__exp_neg(fabsf(z));
            /* softplus(z) - z t = max(z, 0) - z t + log1p(e^-|z|) */
            acc[j] += (double)(z > 0.0f ? z : 0.0f) - (double)z * tz + gm__log1p_unit(e);
            /* sigmoid(z) = (z >= 0 ? 1 : e) / (1 + e): selecting the
             * numerator, not a quotient, keeps the block branch-free */
            dd[j] = g * ((z >= 0.0f ? 1.0f : e) / (1.0f + e) - tz);
        }
        if (d) memcpy(d + k, dd, sizeof dd);
    }
    double s = 0.0;
    for (size_t j = 0; j < GM__VB; j++) s += acc[j];
    for (; k < D; k++) {
        const float z = o[k], tz = t[k];
        const float e = gm__exp_neg(fabsf(z));
        s += (double)(z > 0.0f ? z : 0.0f) - (double)z * tz + gm__log1p_unit(e);
        if (d) d[k] = g * ((z >= 0.0f ? 1.0f : e) / (1.0f + e) - tz);
    }
    return s;
}

/* Index of the first x[i] outside [0, 1], NaN included, or n. Blocked
 * flags first, so the common all-good case is one vectorized pass. */
GM__HOT static size_t gm__find_outside_unit(const float *x, size_t n)
{
    int bad[GM__VB] = {0};
    size_t i = 0;
    for (; i + GM__VB <= n; i += GM__VB)
        for (size_t j = 0; j < GM__VB; j++)
            bad[j] |= !((x[i + j] >= 0.0f) & (x[i + j] <= 1.0f));
    int any = 0;
    for (size_t j = 0; j < GM__VB; j++) any |= bad[j];
    for (; i < n; i++) any |= !((x[i] >= 0.0f) & (x[i] <= 1.0f));
    if (!any) return n;
    for (i = 0; i < n; i++)
        if (!(x[i] >= 0.0f && x[i] <= 1.0f)) return i;
    return n;
}

gm_status gm__vae_check_target(const char *fn, gm_likelihood likelihood, const gm_tensor *x)
{
    const size_t n = x->numel;
    /* one pass: [0, 1] holds finite values only */
    const size_t i = likelihood == GM_LIKELIHOOD_BERNOULLI ? gm__find_outside_unit(x->data, n)
                                                           : gm__find_nonfinite(x->data, n);
    if (i == n) return GM_OK;
    if (!isfinite(x->data[i]))
        return gm__set_error(GM_EINVAL, fn, "x[%zu] is not finite (%g)", i, (double)x->data[i]);
    return gm__set_error(GM_EINVAL, fn,
                         "x[%zu] must be in [0, 1] for the Bernoulli likelihood, got %g", i,
                         (double)x->data[i]);
}

/* Samples and per-sample width of a batch-first tensor. */
static inline size_t gm__width(const gm_tensor *t) { return t->numel / t->shape[0]; }

/* Checks that h is [N x 2L] and t is [N x L] for the same N; *L out. */
static gm_status gm__check_h(const char *fn, const gm_tensor *h, const gm_tensor *t,
                             const char *tname, size_t *L)
{
    size_t w = gm__width(h);
    if (w % 2 != 0)
        return gm__set_error(GM_ESHAPE, fn,
                             "h must have 2L columns (mu then logvar), got %zu", w);
    *L = w / 2;
    if (t != NULL && (t->shape[0] != h->shape[0] || gm__width(t) != *L))
        return gm__set_error(GM_ESHAPE, fn,
                             "%s must be [%zu x %zu] to match h, got %zu samples of %zu",
                             tname, h->shape[0], *L, t->shape[0], gm__width(t));
    return GM_OK;
}

static gm_status gm__check_finite(const char *fn, const gm_tensor *t, const char *name)
{
    size_t bad = gm__find_nonfinite(t->data, t->numel);
    if (bad != t->numel)
        return gm__set_error(GM_EINVAL, fn, "%s[%zu] is not finite (%g)", name, bad,
                             (double)t->data[bad]);
    return GM_OK;
}

gm_status gm_vae_reparameterize(const gm_tensor *h, const gm_tensor *eps, gm_tensor *z)
{
    GM_CHECK_NULL(h);
    GM_CHECK_NULL(eps);
    GM_CHECK_NULL(z);
    size_t L = 0;
    GM_TRY(gm__check_h(__func__, h, eps, "eps", &L));
    GM_TRY(gm__check_h(__func__, h, z, "z", &L));
    const size_t N = h->shape[0];
    for (size_t i = 0; i < N; i++) {
        const float *mu = h->data + i * 2 * L, *lv = mu + L, *e = eps->data + i * L;
        float *zi = z->data + i * L;
        for (size_t j = 0; j < L; j++) zi[j] = mu[j] + expf(0.5f * lv[j]) * e[j];
    }
    return GM_OK;
}

gm_status gm_vae_reparameterize_backward(const gm_tensor *h, const gm_tensor *eps,
                                         const gm_tensor *dz, gm_tensor *dh)
{
    GM_CHECK_NULL(h);
    GM_CHECK_NULL(eps);
    GM_CHECK_NULL(dz);
    GM_CHECK_NULL(dh);
    size_t L = 0;
    GM_TRY(gm__check_h(__func__, h, eps, "eps", &L));
    GM_TRY(gm__check_h(__func__, h, dz, "dz", &L));
    GM_CHECK(dh->shape[0] == h->shape[0] && dh->numel == h->numel, GM_ESHAPE,
             "dh must have h's shape");
    const size_t N = h->shape[0];
    for (size_t i = 0; i < N; i++) {
        const float *lv = h->data + i * 2 * L + L, *e = eps->data + i * L,
                    *g = dz->data + i * L;
        float *dmu = dh->data + i * 2 * L, *dlv = dmu + L;
        for (size_t j = 0; j < L; j++) {
            dmu[j] += g[j];
            dlv[j] += g[j] * e[j] * 0.5f * expf(0.5f * lv[j]);
        }
    }
    return GM_OK;
}

gm_status gm_vae_kl(const gm_tensor *h, float *mean, float *each, gm_tensor *dh, float scale)
{
    GM_CHECK_NULL(h);
    GM_CHECK_NULL(mean);
    GM_CHECK(isfinite(scale), GM_EINVAL, "scale must be finite, got %g", (double)scale);
    size_t L = 0;
    GM_TRY(gm__check_h(__func__, h, NULL, NULL, &L));
    GM_CHECK(dh == NULL || (dh->shape[0] == h->shape[0] && dh->numel == h->numel),
             GM_ESHAPE, "dh must have h's shape");
    GM_TRY(gm__check_finite(__func__, h, "h"));
    const size_t N = h->shape[0];
    const float g = scale / (float)N;
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
        const float *mu = h->data + i * 2 * L, *lv = mu + L;
        double s = 0.0;
        /* one float exp per value serves the sum (in double) and the
         * gradient; a double exp per value was most of this function */
        float *dmu = dh ? dh->data + i * 2 * L : NULL, *dlv = dh ? dmu + L : NULL;
        for (size_t j = 0; j < L; j++) {
            const float e = expf(lv[j]);
            s += (double)mu[j] * mu[j] + (double)e - 1.0 - lv[j];
            if (dh) {
                dmu[j] += g * mu[j];
                dlv[j] += g * 0.5f * (e - 1.0f);
            }
        }
        s *= 0.5;
        if (each) each[i] = (float)s;
        total += s;
    }
    *mean = (float)(total / (double)N);
    return GM_OK;
}

gm_status gm_vae_recon_nll(gm_likelihood likelihood, const gm_tensor *out, const gm_tensor *x,
                           float gaussian_logvar, float *mean, float *each, gm_tensor *dout)
{
    GM_CHECK_NULL(out);
    GM_CHECK_NULL(x);
    GM_CHECK_NULL(mean);
    GM_CHECK(likelihood >= GM_LIKELIHOOD_BERNOULLI &&
                 likelihood <= GM_LIKELIHOOD_GAUSSIAN_LEARNED,
             GM_EINVAL, "likelihood must be a gm_likelihood, got %d", (int)likelihood);
    const size_t N = x->shape[0], D = gm__width(x);
    const size_t per = likelihood == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? 2 * D : D;
    GM_CHECK(out->shape[0] == N && gm__width(out) == per, GM_ESHAPE,
             "the decoder output must hold %zu samples of %zu values, got %zu of %zu", N,
             per, out->shape[0], gm__width(out));
    GM_CHECK(dout == NULL || (dout->shape[0] == N && dout->numel == out->numel), GM_ESHAPE,
             "dout must have the decoder output's shape");
    GM_CHECK(likelihood != GM_LIKELIHOOD_GAUSSIAN_FIXED || isfinite(gaussian_logvar),
             GM_EINVAL, "gaussian_logvar must be finite, got %g", (double)gaussian_logvar);
    GM_TRY(gm__check_finite(__func__, out, "out"));
    GM_TRY(gm__vae_check_target(__func__, likelihood, x));
    gm__vae_recon_nll_unchecked(likelihood, out, x, gaussian_logvar, mean, each, dout);
    return GM_OK;
}

void gm__vae_recon_nll_unchecked(gm_likelihood likelihood, const gm_tensor *out,
                                 const gm_tensor *x, float gaussian_logvar, float *mean,
                                 float *each, gm_tensor *dout)
{
    const size_t N = x->shape[0], D = gm__width(x);
    const size_t per = likelihood == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? 2 * D : D;
    const float g = 1.0f / (float)N;
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
        const float *o = out->data + i * per, *t = x->data + i * D;
        float *d = dout ? dout->data + i * per : NULL;
        double s = 0.0;
        if (likelihood == GM_LIKELIHOOD_BERNOULLI) {
            s = gm__bernoulli_row(o, t, d, g, D);
        } else {
            const int learned = likelihood == GM_LIKELIHOOD_GAUSSIAN_LEARNED;
            for (size_t k = 0; k < D; k++) {
                double lv = learned ? o[D + k] : gaussian_logvar;
                double r = (double)t[k] - o[k], iv = exp(-lv);
                s += 0.5 * (GM__LOG_2PI + lv + r * r * iv);
                if (d) {
                    d[k] = (float)(g * -r * iv);
                    if (learned) d[D + k] = (float)(g * 0.5 * (1.0 - r * r * iv));
                }
            }
        }
        if (each) each[i] = (float)s;
        total += s;
    }
    *mean = (float)(total / (double)N);
}

gm_status gm_vae_log_normal(const gm_tensor *z, const gm_tensor *h, float *each)
{
    GM_CHECK_NULL(z);
    GM_CHECK_NULL(each);
    const size_t N = z->shape[0], L = gm__width(z);
    if (h != NULL) {
        size_t Lh;
        GM_TRY(gm__check_h(__func__, h, z, "z", &Lh));
    }
    for (size_t i = 0; i < N; i++) {
        const float *zi = z->data + i * L;
        double s = 0.0;
        for (size_t j = 0; j < L; j++) {
            double mu = 0.0, lv = 0.0;
            if (h) {
                mu = h->data[i * 2 * L + j];
                lv = h->data[i * 2 * L + L + j];
            }
            double r = zi[j] - mu;
            s += -0.5 * (GM__LOG_2PI + lv + r * r * exp(-lv));
        }
        each[i] = (float)s;
    }
    return GM_OK;
}

gm_status gm_vae_logmeanexp(const gm_tensor *logw, float *mean, float *each, gm_tensor *dlogw)
{
    GM_CHECK_NULL(logw);
    GM_CHECK_NULL(mean);
    const size_t N = logw->shape[0], K = gm__width(logw);
    GM_CHECK(dlogw == NULL || (dlogw->shape[0] == N && dlogw->numel == logw->numel),
             GM_ESHAPE, "dlogw must have logw's shape");
    for (size_t i = 0; i < logw->numel; i++)
        GM_CHECK(!isnan(logw->data[i]) && logw->data[i] != INFINITY, GM_EINVAL,
                 "logw[%zu] must not be NaN or +inf, got %g", i, (double)logw->data[i]);
    double total = 0.0;
    for (size_t i = 0; i < N; i++) {
        const float *w = logw->data + i * K;
        double m = w[0];
        for (size_t k = 1; k < K; k++)
            if (w[k] > m) m = w[k];
        double s = 0.0, b;
        if (m == -INFINITY) {
            b = -INFINITY; /* every weight is zero */
        } else {
            for (size_t k = 0; k < K; k++) s += exp((double)w[k] - m);
            b = m + log(s / (double)K);
        }
        if (each) each[i] = (float)b;
        total += b;
        if (dlogw) {
            float *d = dlogw->data + i * K;
            for (size_t k = 0; k < K; k++)
                d[k] = m == -INFINITY ? 0.0f
                                      : (float)(exp((double)w[k] - m) / s / (double)N);
        }
    }
    *mean = (float)(total / (double)N);
    return GM_OK;
}
