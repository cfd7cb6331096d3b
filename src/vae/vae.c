/* SPDX-License-Identifier: MIT */
/* gm_vae: an encoder and a decoder wired to the ELBO module, with one
 * optimizer per net. Batch buffers are one block sized per batch size. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <genmodel/vae.h>

#include "engine/engine.h"
#include "vae/vae_internal.h"

struct gm_vae {
    gm_net *enc, *dec;
    gm__model_parts parts; /* opt_a: encoder's, opt_b: decoder's optimizer */
    gm_vae_options o;
    gm_optimizer_options opt;
    size_t L, C, D, dec_w; /* latent, classes, data features, decoder width */
    size_t dec_nd, dec_shape[GM_MAX_DIMS]; /* decoder output per sample */
    size_t h_nd, h_shape[GM_MAX_DIMS];     /* encoder output of the last call */
    uint64_t steps;
    /* data-parallel training: the encoder's then the decoder's gradients
     * of the last gm_vae_compute_grads, and whether they await an apply */
    float *flat;
    size_t nflat;
    int pending;
    gm__snapshot snap; /* layer state before a step, put back if it fails */
    /* batch buffers for n samples, views into one block */
    size_t n;
    float *block;
    gm_tensor enc_in, h, dh, eps, z, dz, dec_in, ddec_in, dec_out, ddec;
};

gm_status gm_vae_options_init(gm_vae_options *opts)
{
    GM_CHECK_NULL(opts);
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->likelihood = GM_LIKELIHOOD_BERNOULLI;
    opts->beta = 1.0f;
    return GM_OK;
}

/* Copies a caller's options of any accepted size over the defaults. */
static gm_status gm__vae_read_options(const char *fn, const gm_vae_options *opts,
                                      gm_vae_options *o)
{
    gm_vae_options_init(o);
    if (opts == NULL) return gm__set_error(GM_EINVAL, fn, "opts must not be NULL (latent is required)");
    /* size and latent are required; later fields may be missing */
    GM_TRY(gm__read_options(fn, "opts", opts, offsetof(gm_vae_options, latent) + sizeof o->latent,
                            o, sizeof *o));
    GM_TRY(gm__check_options_tear(fn, "opts", opts, offsetof(gm_vae_options, optimizer),
                                  sizeof o->optimizer, "optimizer"));
    if (o->latent < 1 || o->latent > GM__BLAS_MAX / 2)
        return gm__set_error(GM_EINVAL, fn, "opts->latent must be in [1, %zu], got %zu",
                             GM__BLAS_MAX / 2, o->latent);
    if (o->likelihood < GM_LIKELIHOOD_BERNOULLI || o->likelihood > GM_LIKELIHOOD_GAUSSIAN_LEARNED)
        return gm__set_error(GM_EINVAL, fn, "opts->likelihood must be a gm_likelihood, got %d",
                             (int)o->likelihood);
    if (!isfinite(o->gaussian_logvar))
        return gm__set_error(GM_EINVAL, fn, "opts->gaussian_logvar must be finite, got %g",
                             (double)o->gaussian_logvar);
    if (!isfinite(o->beta) || o->beta < 0.0f)
        return gm__set_error(GM_EINVAL, fn, "opts->beta must be finite and >= 0, got %g",
                             (double)o->beta);
    if (o->num_classes == 1 || o->num_classes > 100000)
        return gm__set_error(GM_EINVAL, fn,
                             "opts->num_classes must be 0 or in [2, 100000], got %zu",
                             o->num_classes);
    return GM_OK;
}

/* The decoder must map [1 x (L + C)] to D (or 2D) values: its output
 * shape (dnd, dshape) and width w (values per sample). */
static gm_status gm__vae_decoder_width(const char *fn, gm_net *decoder, const gm_vae_options *o,
                                       size_t *dnd, size_t dshape[GM_MAX_DIMS], size_t *w)
{
    gm_status st = gm_net_output_shape(decoder, 2, (size_t[]){1, o->latent + o->num_classes},
                                       dnd, dshape);
    if (st != GM_OK)
        return gm__set_error(GM_ESHAPE, fn, "the decoder cannot take [N x %zu] latents: %s",
                             o->latent + o->num_classes, gm_last_error());
    *w = 1;
    for (size_t i = 1; i < *dnd; i++) *w *= dshape[i];
    if (o->likelihood == GM_LIKELIHOOD_GAUSSIAN_LEARNED && *w % 2 != 0)
        return gm__set_error(GM_ESHAPE, fn,
                             "a learned-variance decoder must output 2D values per sample, got %zu",
                             *w);
    return GM_OK;
}

gm_status gm_vae_create(gm_vae **out, gm_net *encoder, gm_net *decoder,
                        const gm_vae_options *opts)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK_NULL(encoder);
    GM_CHECK_NULL(decoder);
    GM_CHECK(encoder != decoder, GM_EINVAL, "encoder and decoder must be two different nets");
    GM_TRY(gm__net_check_free(__func__, encoder, "encoder"));
    GM_TRY(gm__net_check_free(__func__, decoder, "decoder"));
    gm_vae_options o;
    GM_TRY(gm__vae_read_options(__func__, opts, &o));
    gm_optimizer_options oo;
    if (o.optimizer)
        GM_TRY(gm__read_optimizer_options(__func__, "opts->optimizer", o.optimizer, &oo));
    else
        gm_optimizer_options_init(&oo, GM_OPT_ADAM);
    o.optimizer = NULL; /* copied; the caller's struct may go away */
    GM_CHECK(encoder->n_layers > 0, GM_ESTATE, "the encoder has no layers");
    GM_CHECK(decoder->n_layers > 0, GM_ESTATE, "the decoder has no layers");
    size_t dnd = 0, dshape[GM_MAX_DIMS], w = 0;
    GM_TRY(gm__vae_decoder_width(__func__, decoder, &o, &dnd, dshape, &w));
    const int learned = o.likelihood == GM_LIKELIHOOD_GAUSSIAN_LEARNED;
    gm_status st;
    gm_vae *v = gm__malloc(sizeof *v);
    GM_CHECK(v != NULL, GM_ENOMEM, "cannot allocate a VAE");
    memset(v, 0, sizeof *v);
    v->o = o;
    v->opt = oo;
    v->L = o.latent;
    v->C = o.num_classes;
    v->dec_w = w;
    v->D = learned ? w / 2 : w;
    v->dec_nd = dnd - 1;
    memcpy(v->dec_shape, dshape + 1, v->dec_nd * sizeof(size_t));
    v->nflat = encoder->nparams + decoder->nparams;
    v->flat = gm__calloc_array(v->nflat ? v->nflat : 1, sizeof(float));
    if (v->flat == NULL) {
        const size_t nflat = v->nflat;
        gm__free(v);
        return GM_FAIL(GM_ENOMEM, "cannot allocate %zu gradients", nflat);
    }
    st = gm__model_parts_init(&v->parts, encoder, &oo, decoder, &oo, o.seed, __func__);
    if (st == GM_OK) {
        st = gm__snapshot_init(&v->snap, encoder, NULL, decoder, NULL, __func__);
        if (st != GM_OK) gm__model_parts_free(&v->parts);
    }
    if (st != GM_OK) {
        gm__free(v->flat);
        gm__free(v);
        return st;
    }
    v->enc = encoder;
    v->dec = decoder;
    encoder->model = decoder->model = v;
    *out = v;
    return GM_OK;
}

void gm_vae_free(gm_vae *vae)
{
    if (vae == NULL) return;
    vae->enc->model = vae->dec->model = NULL;
    gm_net_free(vae->enc);
    gm_net_free(vae->dec);
    gm__model_parts_free(&vae->parts);
    gm__snapshot_free(&vae->snap);
    gm__free(vae->block);
    gm__free(vae->flat);
    gm__free(vae);
}

/* Sizes the batch buffers for n samples (no-op when they fit already). */
static gm_status gm__vae_prepare(gm_vae *v, const char *fn, size_t n)
{
    if (v->block != NULL && v->n == n) return GM_OK;
    const size_t L = v->L, C = v->C, D = v->D, W = v->dec_w;
    /* enc_in, h, dh, eps, z, dz, dec_in, ddec_in, dec_out, ddec */
    const size_t widths[10] = {D + C, 2 * L, 2 * L, L, L, L, L + C, L + C, W, W};
    size_t total = 0;
    for (int i = 0; i < 10; i++) {
        size_t m;
        if (!gm__mul_ok(n, widths[i], &m) || m > GM__BLAS_MAX || total + m < total)
            return gm__set_error(GM_ESHAPE, fn, "a batch of %zu is too large", n);
        total += m;
    }
    float *block = gm__malloc_array(total, sizeof(float));
    if (block == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu floats of buffers", total);
    gm__free(v->block);
    v->block = block;
    v->n = n;
    gm_tensor *views[10] = {&v->enc_in, &v->h,      &v->dh,      &v->eps,     &v->z,
                            &v->dz,     &v->dec_in, &v->ddec_in, &v->dec_out, &v->ddec};
    float *p = block;
    for (int i = 0; i < 10; i++) {
        gm__tensor_view(views[i], 2, (size_t[]){n, widths[i]}, p);
        p += n * widths[i];
    }
    size_t dshape[GM_MAX_DIMS] = {n};
    memcpy(dshape + 1, v->dec_shape, v->dec_nd * sizeof(size_t));
    gm__tensor_view(&v->dec_out, v->dec_nd + 1, dshape, v->dec_out.data);
    gm__tensor_view(&v->ddec, v->dec_nd + 1, dshape, v->ddec.data);
    return GM_OK;
}

static gm_status gm__vae_check_labels(const gm_vae *v, const char *fn, const int32_t *labels,
                                      size_t n)
{
    return gm__check_labels(fn, labels, n, v->C);
}

/* Checks a data batch x: D features per sample, finite, in [0, 1] for
 * Bernoulli; then labels; then that the encoder maps it to [n x 2L]. */
static gm_status gm__vae_check_x(gm_vae *v, const char *fn, const gm_tensor *x,
                                 const int32_t *labels)
{
    if (x == NULL) return gm__set_error(GM_EINVAL, fn, "x must not be NULL");
    const size_t n = x->shape[0], d = x->numel / n;
    if (d != v->D)
        return gm__set_error(GM_ESHAPE, fn, "x must have %zu features per sample, got %zu",
                             v->D, d);
    GM_TRY(gm__vae_check_target(fn, v->o.likelihood, x));
    GM_TRY(gm__vae_check_labels(v, fn, labels, n));
    /* conditional: the encoder sees [n x (D + C)]; else x as it is */
    size_t ond, oshape[GM_MAX_DIMS];
    size_t joined[2] = {n, v->D + v->C};
    gm_status st = v->C ? gm_net_output_shape(v->enc, 2, joined, &ond, oshape)
                        : gm_net_output_shape(v->enc, x->ndim, x->shape, &ond, oshape);
    if (st != GM_OK)
        return gm__set_error(GM_ESHAPE, fn, "the encoder cannot take x: %s", gm_last_error());
    size_t w = 1;
    for (size_t i = 1; i < ond; i++) w *= oshape[i];
    if (w != 2 * v->L)
        return gm__set_error(GM_ESHAPE, fn,
                             "the encoder must output 2L = %zu values per sample, got %zu",
                             2 * v->L, w);
    return GM_OK;
}

/* Runs the encoder on x into v->h (buffers prepared for x's batch). */
static gm_status gm__vae_encode(gm_vae *v, const char *fn, const gm_tensor *x,
                                const int32_t *labels)
{
    const size_t n = x->shape[0];
    const gm_tensor *in = x;
    if (v->C) {
        gm__join_one_hot(v->enc_in.data, x->data, n, v->D, labels, v->C);
        in = &v->enc_in;
    }
    /* h takes the encoder's own output shape; the ELBO module reads its
     * width only */
    GM_TRY(gm_net_output_shape(v->enc, in->ndim, in->shape, &v->h_nd, v->h_shape));
    gm_tensor h;
    gm__tensor_view(&h, v->h_nd, v->h_shape, v->h.data);
    /* every caller has checked x (gm__vae_check_x) */
    return gm__net_forward_model(v->enc, fn, "encoder", in, &h, 0);
}

/* Joins z (already in v->z) with the labels' one-hot codes into dec_in
 * and runs the decoder into dec_out. */
static gm_status gm__vae_decode(gm_vae *v, const char *fn, const int32_t *labels)
{
    const gm_tensor *in = &v->z;
    if (v->C) {
        gm__join_one_hot(v->dec_in.data, v->z.data, v->n, v->L, labels, v->C);
        in = &v->dec_in;
    }
    return gm__net_forward_model(v->dec, fn, "decoder", in, &v->dec_out, 0);
}

/* Runs f with both nets in evaluation mode, restoring their modes. */
#define GM__VAE_EVAL(v, st, call)                                                   \
    do {                                                                           \
        int te_ = gm_net_is_training((v)->enc), td_ = gm_net_is_training((v)->dec); \
        gm_net_set_training((v)->enc, 0);                                          \
        gm_net_set_training((v)->dec, 0);                                          \
        (st) = (call);                                                             \
        gm_net_set_training((v)->enc, te_);                                        \
        gm_net_set_training((v)->dec, td_);                                        \
    } while (0)

/* y *= s */
static void gm__scale(float *y, size_t n, float s)
{
    for (size_t i = 0; i < n; i++) y[i] *= s;
}

/* beta at this step: the KL weight, warmed up over kl_warmup_steps. */
static float gm__vae_beta(const gm_vae *v)
{
    if (v->o.kl_warmup_steps == 0) return v->o.beta;
    return v->o.beta * (float)fmin(1.0, (double)(v->steps + 1) / (double)v->o.kl_warmup_steps);
}

/* The ELBO pass after the encoder: z from h and eps, the decoder, the
 * reconstruction term and KL with their output gradients (ddec, dh),
 * scaled by share when x is a shard of a larger batch. Fills *out. */
static gm_status gm__vae_loss_pass(gm_vae *v, const char *fn, const gm_tensor *x,
                                   const int32_t *labels, int shard, float share,
                                   gm_vae_stats *out)
{
    float rec = 0.0f, kl = 0.0f;
    const float beta = gm__vae_beta(v);
    memset(v->dh.data, 0, v->dh.numel * sizeof(float));
    gm_status st = gm_vae_reparameterize(&v->h, &v->eps, &v->z);
    if (st == GM_OK) st = gm__vae_decode(v, fn, labels);
    if (st == GM_OK) /* x was checked; a non-finite output shows in the loss */
        gm__vae_recon_nll_unchecked(v->o.likelihood, &v->dec_out, x, v->o.gaussian_logvar, &rec,
                                    NULL, &v->ddec);
    if (st == GM_OK) st = gm_vae_kl(&v->h, &kl, NULL, &v->dh, beta);
    if (st == GM_EINVAL) /* the inputs were checked: a value overflowed inside */
        return gm__set_error(GM_ENUMERIC, fn, "%s", gm_last_error());
    GM_TRY(st);
    const float loss = rec + beta * kl;
    if (!isfinite(loss))
        return gm__set_error(GM_ENUMERIC, fn, "the loss is not finite (recon %g, kl %g)",
                             (double)rec, (double)kl);
    if (shard) { /* the shard's part of the batch mean */
        gm__scale(v->ddec.data, v->ddec.numel, share);
        gm__scale(v->dh.data, v->dh.numel, share);
    }
    *out = (gm_vae_stats){loss, rec, kl, beta};
    return GM_OK;
}

/* The backward pass: decoder, dz out of the decoder's input gradient,
 * the reparameterization, the encoder; then the gradients must be finite. */
static gm_status gm__vae_backward_pass(gm_vae *v, const char *fn)
{
    const size_t n = v->n, L = v->L;
    /* dz: the first L columns of the decoder's input gradient */
    gm_tensor *dz = v->C ? &v->ddec_in : &v->dz;
    GM_TRY(gm_net_backward(v->dec, &v->ddec, dz));
    if (v->C) {
        const size_t w = L + v->C;
        for (size_t i = 0; i < n; i++)
            memcpy(v->dz.data + i * L, v->ddec_in.data + i * w, L * sizeof(float));
    }
    GM_TRY(gm_vae_reparameterize_backward(&v->h, &v->eps, &v->dz, &v->dh));
    gm_tensor dh; /* in the encoder's output shape */
    gm__tensor_view(&dh, v->h_nd, v->h_shape, v->dh.data);
    GM_TRY(gm_net_backward(v->enc, &dh, NULL));
    if (!(isfinite(gm__net_grad_sumsq(v->enc)) && isfinite(gm__net_grad_sumsq(v->dec))))
        return gm__set_error(GM_ENUMERIC, fn, "the gradients are not finite; nothing was changed");
    return GM_OK;
}

/* Forward and backward of one step on x, rows offset .. offset + n of a
 * batch of `total` whose noise eps the training generator draws as one
 * [total x L] block (and is advanced past): the nets' gradients receive
 * x's share n / total of the batch-mean gradient. On error the generator
 * and the layer state (batchnorm statistics, dropout streams) are put back
 * and the parameters are untouched. */
static gm_status gm__vae_grads(gm_vae *v, const char *fn, const gm_tensor *x,
                               const int32_t *labels, size_t offset, size_t total,
                               gm_vae_stats *out)
{
    GM_TRY(gm__vae_check_x(v, fn, x, labels));
    const size_t n = x->shape[0], L = v->L;
    GM_TRY(gm__vae_prepare(v, fn, n));
    uint64_t seed, pos;
    gm_rng_get_state(v->parts.train_rng, &seed, &pos);
    gm__snapshot_take(&v->snap);
    GM_TRY(gm_net_zero_grad(v->enc));
    GM_TRY(gm_net_zero_grad(v->dec));
    gm_vae_stats s;
    gm_status st = gm__vae_encode(v, fn, x, labels);
    if (st == GM_OK) {
        gm__rng_normal_slice(v->parts.train_rng, (uint64_t)offset * L, v->eps.data, n * L);
        gm__rng_skip(v->parts.train_rng, (uint64_t)total * L);
        const float share = (float)((double)n / (double)total);
        st = gm__vae_loss_pass(v, fn, x, labels, n != total, share, &s);
    }
    if (st == GM_OK) st = gm__vae_backward_pass(v, fn);
    if (st != GM_OK) {
        gm_rng_set_state(v->parts.train_rng, seed, pos);
        gm__snapshot_restore(&v->snap);
        return st;
    }
    *out = s;
    return GM_OK;
}

/* The optimizers' step from the nets' gradients. */
static gm_status gm__vae_update(gm_vae *v, const char *fn)
{
    /* the gradients were checked finite; what the updates would write is
     * checked for both nets before either is applied */
    GM_TRY(gm__optimizer_check(v->parts.opt_a, v->enc, fn, "encoder"));
    GM_TRY(gm__optimizer_check(v->parts.opt_b, v->dec, fn, "decoder"));
    gm_status st = gm__optimizer_apply(v->parts.opt_a, v->enc);
    if (st == GM_OK) st = gm__optimizer_apply(v->parts.opt_b, v->dec);
    if (st != GM_OK)
        return gm__set_error(GM_EINTERNAL, fn, "optimizer step failed: %s", gm_last_error());
    v->steps++;
    v->pending = 0;
    return GM_OK;
}

gm_status gm_vae_train_step(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                            gm_vae_stats *stats)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(x);
    gm_vae_stats s;
    uint64_t seed, pos;
    gm_rng_get_state(vae->parts.train_rng, &seed, &pos);
    GM_TRY(gm__vae_grads(vae, __func__, x, labels, 0, x->shape[0], &s));
    gm_status st = gm__vae_update(vae, __func__);
    if (st != GM_OK) { /* the update was refused: the step changes nothing */
        gm_rng_set_state(vae->parts.train_rng, seed, pos);
        gm__snapshot_restore(&vae->snap);
        return st;
    }
    if (stats) *stats = s;
    return GM_OK;
}

/* gm_vae_fit's adapters to the generic epoch loop (engine/fit.c) */
static gm_status gm__vae_fit_step(void *m, const gm_tensor *x, const int32_t *labels,
                                  float v[GM__FIT_STATS])
{
    gm_vae_stats s;
    GM_TRY(gm_vae_train_step(m, x, labels, &s));
    v[0] = s.loss, v[1] = s.recon, v[2] = s.kl, v[3] = s.beta;
    return GM_OK;
}

typedef struct {
    gm_vae_fit_callback cb;
    void *user;
} gm__vae_fit_cb;

static int gm__vae_fit_report(void *u, const gm_fit_progress *p, const float m[GM__FIT_STATS])
{
    const gm__vae_fit_cb *c = u;
    const gm_vae_stats s = {m[0], m[1], m[2], m[3]};
    return c->cb(c->user, p, &s);
}

gm_status gm_vae_fit(gm_vae *vae, const gm_tensor *data, const int32_t *labels,
                     const gm_fit_options *opts, gm_vae_fit_callback callback, void *user)
{
    GM_CHECK_NULL(vae);
    GM_TRY(gm__vae_check_x(vae, __func__, data, labels)); /* all of it, before any step */
    gm__vae_fit_cb c = {callback, user};
    return gm__fit(__func__, vae, gm__vae_fit_step, data, labels, opts,
                   callback ? gm__vae_fit_report : NULL, &c);
}

gm_status gm_vae_compute_grads(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                               size_t offset, size_t total, gm_vae_stats *stats)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(x);
    GM_TRY(gm__check_shard(__func__, x->shape[0], offset, total));
    gm_vae_stats s;
    GM_TRY(gm__vae_grads(vae, __func__, x, labels, offset, total, &s));
    float *p = vae->flat;
    GM_TRY(gm_net_get_grads(vae->enc, p, vae->enc->nparams));
    GM_TRY(gm_net_get_grads(vae->dec, p + vae->enc->nparams, vae->dec->nparams));
    vae->pending = 1;
    if (stats) *stats = s;
    return GM_OK;
}

gm_status gm_vae_grads(gm_vae *vae, float **grads, size_t *n)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(grads);
    GM_CHECK_NULL(n);
    *grads = vae->flat;
    *n = vae->nflat;
    return GM_OK;
}

gm_status gm_vae_apply_grads(gm_vae *vae)
{
    GM_CHECK_NULL(vae);
    GM_CHECK(vae->pending, GM_ESTATE,
             "no gradients to apply: call gm_vae_compute_grads first (once per apply)");
    GM_TRY(gm__check_grad_buffer(__func__, vae->flat, vae->nflat));
    GM_TRY(gm_net_set_grads(vae->enc, vae->flat, vae->enc->nparams));
    GM_TRY(gm_net_set_grads(vae->dec, vae->flat + vae->enc->nparams, vae->dec->nparams));
    return gm__vae_update(vae, __func__);
}

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
    gm_tensor_fill_normal(&v->eps, v->parts.aux_rng);
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
    gm_rng_get_state(vae->parts.aux_rng, &seed, &pos);
    gm_status st;
    GM__VAE_EVAL(vae, st, gm__vae_elbo(vae, __func__, x, labels, stats));
    if (st != GM_OK) gm_rng_set_state(vae->parts.aux_rng, seed, pos);
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
    gm_rng_get_state(vae->parts.aux_rng, &seed, &pos);
    gm_status st;
    GM__VAE_EVAL(vae, st, gm__vae_iwae(vae, __func__, x, labels, k, logw, nll));
    if (st != GM_OK) gm_rng_set_state(vae->parts.aux_rng, seed, pos);
    gm__free(logw);
    return st;
}

/* Checks an output tensor: n samples of `width` values. */
static gm_status gm__vae_check_out(const char *fn, const gm_tensor *t, const char *name,
                                   size_t n, size_t width)
{
    if (t == NULL) return gm__set_error(GM_EINVAL, fn, "%s must not be NULL", name);
    if (t->shape[0] != n || t->numel / t->shape[0] != width)
        return gm__set_error(GM_ESHAPE, fn, "%s must hold %zu samples of %zu values, got %zu of %zu",
                             name, n, width, t->shape[0], t->numel / t->shape[0]);
    return GM_OK;
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
    GM_TRY(gm__vae_check_out(__func__, mu, "mu", n, L));
    if (logvar) GM_TRY(gm__vae_check_out(__func__, logvar, "logvar", n, L));
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
    GM_CHECK_NULL(z);
    const size_t n = z->shape[0];
    GM_TRY(gm__vae_check_out(__func__, z, "z", n, vae->L));
    GM_TRY(gm__vae_check_out(__func__, out, "out", n, vae->D));
    GM_TRY(gm__vae_check_labels(vae, __func__, labels, n));
    size_t bad = gm__find_nonfinite(z->data, z->numel);
    GM_CHECK(bad == z->numel, GM_EINVAL, "z[%zu] is not finite (%g)", bad,
             bad < z->numel ? (double)z->data[bad] : 0.0);
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
    GM_TRY(gm__vae_check_out(__func__, out, "out", n, vae->D));
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
    GM_TRY(gm__vae_check_out(__func__, out, "out", n, vae->D));
    GM_TRY(gm__vae_check_labels(vae, __func__, labels, n));
    GM_TRY(gm__vae_prepare(vae, __func__, n));
    uint64_t seed, pos; /* a failed call leaves the generator where it was */
    gm_rng_get_state(vae->parts.aux_rng, &seed, &pos);
    gm_tensor_fill_normal(&vae->z, vae->parts.aux_rng);
    gm_status st = gm__vae_decode_mean(vae, __func__, labels, out);
    if (st != GM_OK) gm_rng_set_state(vae->parts.aux_rng, seed, pos);
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
    GM_TRY(gm__vae_check_out(__func__, out, "out", S, vae->D));
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
                     gm__net_forward_model(vae->dec, __func__, "decoder", in, &vae->dec_out, 0));
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
        GM_TRY(gm__net_forward_model(v->dec, fn, "decoder", &v->z, &v->dec_out, 0));
        GM_TRY(gm_vae_recon_nll(v->o.likelihood, &v->dec_out, x, v->o.gaussian_logvar, &rec, NULL,
                                &v->ddec));
        for (size_t i = 0; i < n; i++) /* per-sample objective, known pixels only */
            for (size_t k = 0; k < D; k++) {
                const float keep = mask->data[i * D + k] * (float)n;
                v->ddec.data[i * W + k] *= keep;
                if (W != D) v->ddec.data[i * W + D + k] *= keep;
            }
        GM_TRY(gm__net_backward_input(v->dec, &v->ddec, &v->dz));
        const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
        for (size_t j = 0; j < n * L; j++) {
            const float g = v->dz.data[j] + v->z.data[j]; /* + prior */
            mm[j] = b1 * mm[j] + (1.0f - b1) * g;
            vv[j] = b2 * vv[j] + (1.0f - b2) * g * g;
            v->z.data[j] -= (float)(lr / bc1) * mm[j] / (sqrtf(vv[j] / (float)bc2) + 1e-8f);
        }
    }
    GM_TRY(gm__net_forward_model(v->dec, fn, "decoder", &v->z, &v->dec_out, 0));
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

gm_net *gm_vae_encoder(gm_vae *vae) { return vae ? vae->enc : NULL; }

gm_net *gm_vae_decoder(gm_vae *vae) { return vae ? vae->dec : NULL; }

uint64_t gm_vae_step_count(const gm_vae *vae) { return vae ? vae->steps : 0; }

gm_status gm_vae_set_lr(gm_vae *vae, float lr)
{
    GM_CHECK_NULL(vae);
    GM_CHECK(isfinite(lr) && lr > 0.0f, GM_EINVAL, "lr must be finite and > 0, got %g",
             (double)lr);
    GM_TRY(gm_optimizer_set_lr(vae->parts.opt_a, lr));
    return gm_optimizer_set_lr(vae->parts.opt_b, lr);
}

void gm__vae_model_view(gm_vae *v, gm__model_view *mv, gm_vae_options *opts)
{
    *mv = gm__model_view_of(v->enc, v->dec, &v->parts, &v->steps, v->pending);
    *opts = v->o;
}

void gm__vae_state_view(const gm_vae *v, gm__model_state *sv, gm_vae_options *opts)
{
    *sv = (gm__model_state){{v->enc, v->dec}, {v->parts.opt_a, v->parts.opt_b},
                            v->parts.train_rng, v->parts.aux_rng, v->steps, v->pending};
    *opts = v->o;
}

gm_status gm_vae_get_options(const gm_vae *vae, gm_vae_options *opts)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(opts);
    GM_TRY(gm__write_options(__func__, opts, &vae->o, sizeof *opts));
    opts->optimizer = NULL;
    return GM_OK;
}
