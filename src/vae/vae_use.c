/* SPDX-License-Identifier: MIT */
/* What a trained gm_vae does besides training: the ELBO and IWAE
 * estimates, encoding, decoding, reconstruction, sampling, interpolation
 * and inpainting (vae.c creates and trains it). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <genmodel/vae.h>

#include "vae/vae_impl.h"

/* Mean of the data distribution from the decoder output: sigmoid of the
 * logits, or the Gaussian means, into dst (n x D). */
static void gm__vae_mean(const gm_vae *v, float *dst)
{
    const size_t n = v->n, D = v->D, W = v->dec_w;
    for (size_t i = 0; i < n; i++) {
        const float *o = v->dec_out.data + i * W;
        float *d = dst + i * D;
        /* vectorized (expf per pixel cost more than the decoder's GEMMs);
         * +-inf logits, from an overflow, still give 1 and ~0 */
        if (v->o.likelihood == GM_LIKELIHOOD_BERNOULLI)
            gm__sigmoid_array(d, o, D);
        else
            memcpy(d, o, D * sizeof(float));
    }
}

/* One pass of the model without an update: eps from the aux generator;
 * per-sample recon NLL, KL and (when logw) the log importance weight. */
static gm_status gm__vae_eval_pass(gm_vae *v, const char *fn, const gm_tensor *x,
                                   const int32_t *labels, float *rec_each, float *kl_each,
                                   float *logw, float *lp, float *lq)
{
    float rec = 0.0f, kl = 0.0f;
    gm_tensor_fill_normal(&v->eps, v->m.parts.aux_rng);
    GM_TRY(gm_vae_reparameterize(&v->h, &v->eps, &v->z));
    GM_TRY(gm__vae_decode(v, fn, labels));
    GM_TRY(gm_vae_recon_nll(v->o.likelihood, &v->dec_out, x, v->o.gaussian_logvar, &rec,
                            rec_each, NULL));
    GM_TRY(gm_vae_kl(&v->h, &kl, kl_each, NULL, 0.0f));
    if (logw) {
        /* log w = log p(x|z) + log p(z) - log q(z|x) */
        GM_TRY(gm_vae_log_normal(&v->z, NULL, lp));
        GM_TRY(gm_vae_log_normal(&v->z, &v->h, lq));
        for (size_t i = 0; i < v->n; i++) logw[i] = -rec_each[i] + lp[i] - lq[i];
    }
    return GM_OK;
}

static gm_status gm__vae_elbo(gm_vae *v, const char *fn, const gm_tensor *x,
                              const int32_t *labels, gm_vae_stats *stats)
{
    GM_TRY(gm__vae_encode(v, fn, x, labels));
    /* per-sample terms in the two halves of dh, which is scratch here */
    float *rec = v->dh.data, *kl = v->dh.data + v->n;
    GM_TRY(gm__vae_eval_pass(v, fn, x, labels, rec, kl, NULL, NULL, NULL));
    double r = 0, k = 0;
    for (size_t i = 0; i < v->n; i++) {
        r += rec[i];
        k += kl[i];
    }
    r /= (double)v->n;
    k /= (double)v->n;
    *stats = (gm_vae_stats){(float)(r + k), (float)r, (float)k, 1.0f};
    return GM_OK;
}

gm_status gm_vae_elbo(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                      gm_vae_stats *stats)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(stats);
    GM_TRY(gm__vae_check_x(vae, __func__, x, labels));
    GM_TRY(gm__vae_prepare(vae, __func__, x->shape[0]));
    uint64_t seed, pos; /* a failed call leaves the generator where it was */
    gm_rng_get_state(vae->m.parts.aux_rng, &seed, &pos);
    gm_status st;
    GM__VAE_EVAL(vae, st, gm__vae_elbo(vae, __func__, x, labels, stats));
    if (st != GM_OK) gm_rng_set_state(vae->m.parts.aux_rng, seed, pos);
    return st;
}

/* logw: n * k floats, then 5n floats of scratch. */
static gm_status gm__vae_iwae(gm_vae *v, const char *fn, const gm_tensor *x,
                              const int32_t *labels, size_t k, float *logw, float *nll)
{
    const size_t n = v->n;
    GM_TRY(gm__vae_encode(v, fn, x, labels));
    float *rec = logw + n * k, *kl = rec + n, *col = kl + n, *lp = col + n, *lq = lp + n;
    for (size_t s = 0; s < k; s++) {
        GM_TRY(gm__vae_eval_pass(v, fn, x, labels, rec, kl, col, lp, lq));
        for (size_t i = 0; i < n; i++) logw[i * k + s] = col[i];
    }
    gm_tensor w;
    gm__tensor_view(&w, 2, (size_t[]){n, k}, logw);
    float bound;
    GM_TRY(gm_vae_logmeanexp(&w, &bound, NULL, NULL));
    *nll = -bound;
    return GM_OK;
}

gm_status gm_vae_iwae(gm_vae *vae, const gm_tensor *x, const int32_t *labels, size_t k,
                      float *nll)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(nll);
    GM_CHECK(k >= 1 && k <= 100000, GM_EINVAL, "k must be in [1, 100000], got %zu", k);
    GM_TRY(gm__vae_check_x(vae, __func__, x, labels));
    const size_t n = x->shape[0];
    GM_TRY(gm__vae_prepare(vae, __func__, n));
    float *logw = gm__malloc_array(n, (k + 5) * sizeof(float));
    GM_CHECK(logw != NULL, GM_ENOMEM, "cannot allocate %zu x %zu log-weights", n, k);
    uint64_t seed, pos; /* a failed call leaves the generator where it was */
    gm_rng_get_state(vae->m.parts.aux_rng, &seed, &pos);
    gm_status st;
    GM__VAE_EVAL(vae, st, gm__vae_iwae(vae, __func__, x, labels, k, logw, nll));
    if (st != GM_OK) gm_rng_set_state(vae->m.parts.aux_rng, seed, pos);
    gm__free(logw);
    return st;
}

static gm_status gm__vae_encode_eval(gm_vae *v, const char *fn, const gm_tensor *x,
                                     const int32_t *labels)
{
    gm_status st;
    GM__VAE_EVAL(v, st, gm__vae_encode(v, fn, x, labels));
    return st;
}

gm_status gm_vae_encode(gm_vae *vae, const gm_tensor *x, const int32_t *labels, gm_tensor *mu,
                        gm_tensor *logvar)
{
    GM_CHECK_NULL(vae);
    GM_TRY(gm__vae_check_x(vae, __func__, x, labels));
    const size_t n = x->shape[0], L = vae->L;
    GM_TRY(gm__model_check_out(__func__, mu, "mu", n, L));
    if (logvar) GM_TRY(gm__model_check_out(__func__, logvar, "logvar", n, L));
    GM_TRY(gm__vae_prepare(vae, __func__, n));
    GM_TRY(gm__vae_encode_eval(vae, __func__, x, labels));
    for (size_t i = 0; i < n; i++) {
        memcpy(mu->data + i * L, vae->h.data + i * 2 * L, L * sizeof(float));
        if (logvar) memcpy(logvar->data + i * L, vae->h.data + i * 2 * L + L, L * sizeof(float));
    }
    return GM_OK;
}

/* Decodes v->z (prepared for n) into out as the data mean. */
static gm_status gm__vae_decode_mean(gm_vae *v, const char *fn, const int32_t *labels,
                                     gm_tensor *out)
{
    gm_status st;
    GM__VAE_EVAL(v, st, gm__vae_decode(v, fn, labels));
    if (st == GM_OK) gm__vae_mean(v, out->data);
    return st;
}

gm_status gm_vae_decode(gm_vae *vae, const gm_tensor *z, const int32_t *labels, gm_tensor *out)
{
    GM_CHECK_NULL(vae);
    GM_TRY(gm__model_check_latents(__func__, z, vae->L, out, vae->D, labels, vae->C));
    const size_t n = z->shape[0];
    GM_TRY(gm__vae_prepare(vae, __func__, n));
    memcpy(vae->z.data, z->data, z->numel * sizeof(float));
    return gm__vae_decode_mean(vae, __func__, labels, out);
}

gm_status gm_vae_reconstruct(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                             gm_tensor *out)
{
    GM_CHECK_NULL(vae);
    GM_TRY(gm__vae_check_x(vae, __func__, x, labels));
    const size_t n = x->shape[0], L = vae->L;
    GM_TRY(gm__model_check_out(__func__, out, "out", n, vae->D));
    GM_TRY(gm__vae_prepare(vae, __func__, n));
    GM_TRY(gm__vae_encode_eval(vae, __func__, x, labels));
    for (size_t i = 0; i < n; i++)
        memcpy(vae->z.data + i * L, vae->h.data + i * 2 * L, L * sizeof(float));
    return gm__vae_decode_mean(vae, __func__, labels, out);
}

gm_status gm_vae_sample(gm_vae *vae, size_t n, const int32_t *labels, gm_tensor *out)
{
    GM_CHECK_NULL(vae);
    GM_CHECK(n >= 1, GM_EINVAL, "n must be >= 1, got %zu", n);
    GM_TRY(gm__model_check_out(__func__, out, "out", n, vae->D));
    GM_TRY(gm__vae_check_labels(vae, __func__, labels, n));
    GM_TRY(gm__vae_prepare(vae, __func__, n));
    uint64_t seed, pos; /* a failed call leaves the generator where it was */
    gm_rng_get_state(vae->m.parts.aux_rng, &seed, &pos);
    gm_tensor_fill_normal(&vae->z, vae->m.parts.aux_rng);
    gm_status st = gm__vae_decode_mean(vae, __func__, labels, out);
    if (st != GM_OK) gm_rng_set_state(vae->m.parts.aux_rng, seed, pos);
    return st;
}

gm_status gm_vae_interpolate(gm_vae *vae, const gm_tensor *xa, const gm_tensor *xb,
                             const int32_t *labels, gm_tensor *out)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(xa);
    GM_CHECK_NULL(xb);
    GM_CHECK_NULL(out);
    GM_CHECK(xa->shape[0] == 1 && xb->shape[0] == 1, GM_ESHAPE,
             "xa and xb must hold one sample each, got %zu and %zu", xa->shape[0], xb->shape[0]);
    GM_TRY(gm__vae_check_x(vae, __func__, xa, labels));
    GM_TRY(gm__vae_check_x(vae, __func__, xb, labels ? labels + 1 : NULL));
    const size_t S = out->shape[0], L = vae->L, C = vae->C;
    GM_CHECK(S >= 2, GM_ESHAPE, "out must have at least 2 rows, got %zu", S);
    GM_TRY(gm__model_check_out(__func__, out, "out", S, vae->D));
    /* the two means, through a one-sample pass each */
    float *mu = gm__malloc_array(2 * L, sizeof(float));
    GM_CHECK(mu != NULL, GM_ENOMEM, "cannot allocate %zu latents", 2 * L);
    gm_status st = gm__vae_prepare(vae, __func__, 1);
    if (st == GM_OK) st = gm__vae_encode_eval(vae, __func__, xa, labels);
    if (st == GM_OK) memcpy(mu, vae->h.data, L * sizeof(float));
    if (st == GM_OK) st = gm__vae_encode_eval(vae, __func__, xb, labels ? labels + 1 : NULL);
    if (st == GM_OK) memcpy(mu + L, vae->h.data, L * sizeof(float));
    if (st == GM_OK) st = gm__vae_prepare(vae, __func__, S);
    if (st == GM_OK) {
        /* decoder inputs: the mixed latents, and the mixed one-hot codes */
        gm_tensor *in = C ? &vae->dec_in : &vae->z;
        const size_t w = L + C;
        for (size_t s = 0; s < S; s++) {
            const float t = (float)s / (float)(S - 1);
            float *row = in->data + s * w;
            for (size_t j = 0; j < L; j++) row[j] = mu[j] + (mu[L + j] - mu[j]) * t;
            if (C) {
                memset(row + L, 0, C * sizeof(float));
                row[L + labels[0]] += 1.0f - t;
                row[L + labels[1]] += t;
            }
        }
        GM__VAE_EVAL(vae, st,
                     gm__net_forward_model(vae->m.net[1], __func__, "decoder", in, &vae->dec_out, 0));
        if (st == GM_OK) gm__vae_mean(vae, out->data);
    }
    gm__free(mu);
    return st;
}

/* MAP inpainting: Adam on z for sum_known -log p(x | z) + |z|^2 / 2, from
 * the encoder's mean of x with missing pixels at 0.5. Works in the
 * prepared buffers; `cur` holds m floats, `mom` 2 n L floats. The decoder
 * runs in evaluation mode and its backward computes the input gradient
 * only, so its parameter gradients are not touched. */
static gm_status gm__vae_inpaint(gm_vae *v, const char *fn, const gm_tensor *x,
                                 const gm_tensor *mask, size_t iterations, float *cur,
                                 float *mom)
{
    const size_t n = v->n, L = v->L, D = v->D, W = v->dec_w, m = x->numel;
    gm_tensor c;
    gm__tensor_view(&c, x->ndim, x->shape, cur);
    for (size_t i = 0; i < m; i++) cur[i] = mask->data[i] != 0.0f ? x->data[i] : 0.5f;
    GM_TRY(gm__vae_encode(v, fn, &c, NULL));
    for (size_t i = 0; i < n; i++)
        memcpy(v->z.data + i * L, v->h.data + i * 2 * L, L * sizeof(float));
    float *mm = mom, *vv = mom + n * L;
    memset(mom, 0, 2 * n * L * sizeof(float));
    const float lr = 0.05f, b1 = 0.9f, b2 = 0.999f;
    float rec;
    for (size_t t = 1; t <= iterations; t++) {
        GM_TRY(gm__net_forward_model(v->m.net[1], fn, "decoder", &v->z, &v->dec_out, 0));
        GM_TRY(gm_vae_recon_nll(v->o.likelihood, &v->dec_out, x, v->o.gaussian_logvar, &rec, NULL,
                                &v->ddec));
        for (size_t i = 0; i < n; i++) /* per-sample objective, known pixels only */
            for (size_t k = 0; k < D; k++) {
                const float keep = mask->data[i * D + k] * (float)n;
                v->ddec.data[i * W + k] *= keep;
                if (W != D) v->ddec.data[i * W + D + k] *= keep;
            }
        GM_TRY(gm__net_backward_input(v->m.net[1], &v->ddec, &v->dz));
        const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
        for (size_t j = 0; j < n * L; j++) {
            const float g = v->dz.data[j] + v->z.data[j]; /* + prior */
            mm[j] = b1 * mm[j] + (1.0f - b1) * g;
            vv[j] = b2 * vv[j] + (1.0f - b2) * g * g;
            v->z.data[j] -= (float)(lr / bc1) * mm[j] / (sqrtf(vv[j] / (float)bc2) + 1e-8f);
        }
    }
    GM_TRY(gm__net_forward_model(v->m.net[1], fn, "decoder", &v->z, &v->dec_out, 0));
    gm__vae_mean(v, cur);
    for (size_t i = 0; i < m; i++) /* known pixels keep x's exact values */
        if (mask->data[i] != 0.0f) cur[i] = x->data[i];
    return GM_OK;
}

gm_status gm_vae_inpaint(gm_vae *vae, const gm_tensor *x, const gm_tensor *mask,
                         size_t iterations, gm_tensor *out)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(mask);
    GM_CHECK_NULL(out);
    GM_CHECK(vae->C == 0, GM_EUNSUPPORTED,
             "inpainting needs an unconditional VAE (this one has %zu classes)", vae->C);
    GM_CHECK(iterations >= 1 && iterations <= 10000, GM_EINVAL,
             "iterations must be in [1, 10000], got %zu", iterations);
    GM_TRY(gm__vae_check_x(vae, __func__, x, NULL));
    GM_CHECK(gm__same_shape(x, mask), GM_ESHAPE, "mask must have x's shape");
    GM_CHECK(gm__same_shape(x, out), GM_ESHAPE, "out must have x's shape");
    for (size_t i = 0; i < mask->numel; i++)
        GM_CHECK(mask->data[i] == 0.0f || mask->data[i] == 1.0f, GM_EINVAL,
                 "mask[%zu] must be 0 or 1, got %g", i, (double)mask->data[i]);
    const size_t n = x->shape[0], m = x->numel;
    GM_TRY(gm__vae_prepare(vae, __func__, n));
    /* cur [m], then the Adam moments [2 n L] */
    size_t floats = m + 2 * n * vae->L;
    float *cur = gm__malloc_array(floats, sizeof(float));
    GM_CHECK(cur != NULL, GM_ENOMEM, "cannot allocate %zu floats", floats);
    gm_status st;
    GM__VAE_EVAL(vae, st, gm__vae_inpaint(vae, __func__, x, mask, iterations, cur, cur + m));
    if (st == GM_OK) memcpy(out->data, cur, m * sizeof(float));
    gm__free(cur);
    return st;
}
