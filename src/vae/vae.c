/* SPDX-License-Identifier: MIT */
/* gm_vae: an encoder and a decoder wired to the ELBO module, on the model
 * layer (src/model/: optimizers, undo, fit loop, data-parallel buffers).
 * This file creates it and holds the training step's passes; vae_use.c
 * the rest. Batch buffers are one block sized per batch size. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <genmodel/vae.h>

#include "vae/vae_impl.h"

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

static const gm__model_class gm__vae_class; /* defined with the train step */

gm_status gm_vae_create(gm_vae **out, gm_net *encoder, gm_net *decoder,
                        const gm_vae_options *opts)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_TRY(gm__model_check_nets(__func__, &gm__vae_class, encoder, decoder));
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
    gm__model *m;
    GM_TRY(gm__model_new(&m, sizeof(gm_vae), &gm__vae_class, encoder, &oo, decoder, &oo, o.seed,
                         0, __func__));
    gm_vae *v = (gm_vae *)m;
    v->o = o;
    v->opt = oo;
    v->L = o.latent;
    v->C = o.num_classes;
    v->dec_w = w;
    v->D = learned ? w / 2 : w;
    v->dec_nd = dnd - 1;
    memcpy(v->dec_shape, dshape + 1, v->dec_nd * sizeof(size_t));
    *out = v;
    return GM_OK;
}

void gm_vae_free(gm_vae *vae) { gm__model_delete(vae ? &vae->m : NULL, 1); }

void gm__vae_model_view(gm_vae *vae, gm__model_view *mv, gm_vae_options *opts)
{
    *mv = gm__model_view_of(&vae->m);
    *opts = vae->o;
}

void gm__vae_state_view(const gm_vae *vae, gm__model_state *sv, gm_vae_options *opts)
{
    *sv = gm__model_state_of(&vae->m);
    *opts = vae->o;
}


gm_status gm__vae_prepare(gm_vae *v, const char *fn, size_t n)
{
    if (v->m.block != NULL && v->n == n) return GM_OK;
    const size_t L = v->L, C = v->C, D = v->D, W = v->dec_w;
    /* enc_in, h, dh, eps, z, dz, dec_in, ddec_in, dec_out, ddec */
    const size_t widths[10] = {D + C, 2 * L, 2 * L, L, L, L, L + C, L + C, W, W};
    GM_TRY(gm__model_batch_block(&v->m, fn, n, widths, 10));
    v->n = n;
    gm_tensor *views[10] = {&v->enc_in, &v->h,      &v->dh,      &v->eps,     &v->z,
                            &v->dz,     &v->dec_in, &v->ddec_in, &v->dec_out, &v->ddec};
    float *p = v->m.block;
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

gm_status gm__vae_check_labels(const gm_vae *v, const char *fn, const int32_t *labels,
                                      size_t n)
{
    return gm__check_labels(fn, labels, n, v->C);
}

/* Checks a data batch x: D features per sample, finite, in [0, 1] for
 * Bernoulli; then labels; then that the encoder maps it to [n x 2L]. */
gm_status gm__vae_check_x(gm_vae *v, const char *fn, const gm_tensor *x,
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
    gm_status st = v->C ? gm_net_output_shape(v->m.net[0], 2, joined, &ond, oshape)
                        : gm_net_output_shape(v->m.net[0], x->ndim, x->shape, &ond, oshape);
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
gm_status gm__vae_encode(gm_vae *v, const char *fn, const gm_tensor *x,
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
    GM_TRY(gm_net_output_shape(v->m.net[0], in->ndim, in->shape, &v->h_nd, v->h_shape));
    gm_tensor h;
    gm__tensor_view(&h, v->h_nd, v->h_shape, v->h.data);
    /* every caller has checked x (gm__vae_check_x) */
    return gm__net_forward_model(v->m.net[0], fn, "encoder", in, &h, 0);
}

/* Joins z (already in v->z) with the labels' one-hot codes into dec_in
 * and runs the decoder into dec_out. */
gm_status gm__vae_decode(gm_vae *v, const char *fn, const int32_t *labels)
{
    const gm_tensor *in = &v->z;
    if (v->C) {
        gm__join_one_hot(v->dec_in.data, v->z.data, v->n, v->L, labels, v->C);
        in = &v->dec_in;
    }
    return gm__net_forward_model(v->m.net[1], fn, "decoder", in, &v->dec_out, 0);
}


/* y *= s */
static void gm__scale(float *y, size_t n, float s)
{
    for (size_t i = 0; i < n; i++) y[i] *= s;
}

/* beta at this step: the KL weight, warmed up over kl_warmup_steps. */
static float gm__vae_beta(const gm_vae *v)
{
    if (v->o.kl_warmup_steps == 0) return v->o.beta;
    return v->o.beta * (float)fmin(1.0, (double)(v->m.steps + 1) / (double)v->o.kl_warmup_steps);
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
    GM_TRY(gm_net_backward(v->m.net[1], &v->ddec, dz));
    if (v->C) {
        const size_t w = L + v->C;
        for (size_t i = 0; i < n; i++)
            memcpy(v->dz.data + i * L, v->ddec_in.data + i * w, L * sizeof(float));
    }
    GM_TRY(gm_vae_reparameterize_backward(&v->h, &v->eps, &v->dz, &v->dh));
    gm_tensor dh; /* in the encoder's output shape */
    gm__tensor_view(&dh, v->h_nd, v->h_shape, v->dh.data);
    GM_TRY(gm_net_backward(v->m.net[0], &dh, NULL));
    if (!(isfinite(gm__net_grad_sumsq(v->m.net[0])) && isfinite(gm__net_grad_sumsq(v->m.net[1]))))
        return gm__set_error(GM_ENUMERIC, fn, "the gradients are not finite; nothing was changed");
    return GM_OK;
}

/* One training computation on the batch x: rows offset .. offset + n of
 * a batch of `total` whose noise eps the training generator draws as one
 * [total x L] block (and is advanced past); the nets' gradients receive
 * x's share n / total of the batch-mean gradient. */
typedef struct gm__vae_batch {
    const gm_tensor *x;
    const int32_t *labels;
    size_t offset, total;
    const char *fn; /* the public function, for messages */
    int update;     /* the optimizers' step follows the gradients */
    gm_vae_stats s; /* the step's statistics */
} gm__vae_batch;

/* Checks x and its labels, sizes the buffers and fills *b. */
static gm_status gm__vae_begin(gm_vae *v, const char *fn, const gm_tensor *x,
                               const int32_t *labels, size_t offset, size_t total, int update,
                               gm__vae_batch *b)
{
    GM_TRY(gm__vae_check_x(v, fn, x, labels));
    GM_TRY(gm__vae_prepare(v, fn, x->shape[0]));
    *b = (gm__vae_batch){.x = x, .labels = labels, .offset = offset, .total = total, .fn = fn,
                         .update = update};
    return GM_OK;
}

/* The encoder pass: gradients zeroed, h = encoder(x), and the shard's rows
 * of the batch's noise eps from the training generator. */
static gm_status gm__vae_encode_pass(gm_vae *v, const gm__vae_batch *b)
{
    const size_t n = b->x->shape[0], L = v->L;
    GM_TRY(gm_net_zero_grad(v->m.net[0]));
    GM_TRY(gm_net_zero_grad(v->m.net[1]));
    GM_TRY(gm__vae_encode(v, b->fn, b->x, b->labels));
    gm__rng_normal_slice(v->m.parts.train_rng, (uint64_t)b->offset * L, v->eps.data, n * L);
    gm__rng_skip(v->m.parts.train_rng, (uint64_t)b->total * L);
    return GM_OK;
}

/* The optimizers' step from the nets' gradients. */
static gm_status gm__vae_update(gm_vae *v, const char *fn)
{
    /* the gradients were checked finite; what the updates would write is
     * checked for both nets before either is applied */
    GM_TRY(gm__optimizer_check(v->m.parts.opt_a, v->m.net[0], fn, "encoder"));
    GM_TRY(gm__optimizer_check(v->m.parts.opt_b, v->m.net[1], fn, "decoder"));
    gm_status st = gm__optimizer_apply(v->m.parts.opt_a, v->m.net[0]);
    if (st == GM_OK) st = gm__optimizer_apply(v->m.parts.opt_b, v->m.net[1]);
    if (st != GM_OK)
        return gm__set_error(GM_EINTERNAL, fn, "optimizer step failed: %s", gm_last_error());
    v->m.steps++;
    v->m.pending[0] = v->m.pending[1] = 0;
    return GM_OK;
}

/* A step's passes (a gm__model_body, run guarded: a failure is undone):
 * encoder, loss, backward, then the optimizers' step if b->update. */
static gm_status gm__vae_step_body(gm__model *m, void *ctx)
{
    gm_vae *v = (gm_vae *)m;
    gm__vae_batch *b = ctx;
    const size_t n = b->x->shape[0];
    GM_TRY(gm__vae_encode_pass(v, b));
    const float share = (float)((double)n / (double)b->total);
    GM_TRY(gm__vae_loss_pass(v, b->fn, b->x, b->labels, n != b->total, share, &b->s));
    GM_TRY(gm__vae_backward_pass(v, b->fn));
    return b->update ? gm__vae_update(v, b->fn) : GM_OK;
}

gm_status gm_vae_train_step(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                            gm_vae_stats *stats)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(x);
    gm__vae_batch b;
    GM_TRY(gm__vae_begin(vae, __func__, x, labels, 0, x->shape[0], 1, &b));
    GM_TRY(gm__model_guarded(&vae->m, gm__vae_step_body, &b));
    if (stats) *stats = b.s;
    return GM_OK;
}


/* The VAE's class for the model layer (the fit loop's step and report) */
GM__MODEL_CLASS(gm__vae_class, gm_vae, gm_vae_stats, gm_vae_train_step, gm_vae_fit_callback,
                gm_vae_fit_sized_callback, "VAE", "encoder", "decoder", "gm_vae_compute_grads",
                NULL);

gm_status gm_vae_fit(gm_vae *vae, const gm_tensor *data, const int32_t *labels,
                     const gm_fit_options *opts, gm_vae_fit_callback callback, void *user)
{
    GM_CHECK_NULL(vae);
    GM_TRY(gm__vae_check_x(vae, __func__, data, labels)); /* all of it, before any step */
    return gm__model_fit(&vae->m, __func__, data, labels, opts, (gm__fit_callback)callback, 0,
                         user);
}

/* The sized calls (1.2): the same calls, the statistics written for the
 * caller's size of gm_vae_stats */
gm_status gm_vae_fit_sized(gm_vae *vae, const gm_tensor *data, const int32_t *labels,
                           const gm_fit_options *opts, gm_vae_fit_sized_callback callback,
                           void *user)
{
    GM_CHECK_NULL(vae);
    GM_TRY(gm__vae_check_x(vae, __func__, data, labels)); /* all of it, before any step */
    return gm__model_fit(&vae->m, __func__, data, labels, opts, (gm__fit_callback)callback, 1,
                         user);
}

gm_status gm_vae_train_step_sized(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                                  gm_vae_stats *stats, size_t stats_size)
{
    GM__MODEL_SIZED(gm_vae_stats, s, gm_vae_train_step(vae, x, labels, &s), stats, stats_size);
}

gm_status gm_vae_compute_grads_sized(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                                     size_t offset, size_t total, gm_vae_stats *stats,
                                     size_t stats_size)
{
    GM__MODEL_SIZED(gm_vae_stats, s, gm_vae_compute_grads(vae, x, labels, offset, total, &s),
                    stats, stats_size);
}

gm_status gm_vae_elbo_sized(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                            gm_vae_stats *stats, size_t stats_size)
{
    GM_CHECK_NULL(stats);
    GM__MODEL_SIZED(gm_vae_stats, s, gm_vae_elbo(vae, x, labels, &s), stats, stats_size);
}

gm_status gm_vae_compute_grads(gm_vae *vae, const gm_tensor *x, const int32_t *labels,
                               size_t offset, size_t total, gm_vae_stats *stats)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(x);
    GM_TRY(gm__check_shard(__func__, x->shape[0], offset, total));
    gm__vae_batch b;
    GM_TRY(gm__vae_begin(vae, __func__, x, labels, offset, total, 0, &b));
    GM_TRY(gm__model_compute(&vae->m, GM__MODEL_BOTH, gm__vae_step_body, &b));
    if (stats) *stats = b.s;
    return GM_OK;
}

gm_status gm_vae_grads(gm_vae *vae, float **grads, size_t *n)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(grads);
    GM_CHECK_NULL(n);
    *grads = gm__model_grads(&vae->m, GM__MODEL_BOTH, n);
    return GM_OK;
}

gm_status gm_vae_apply_grads(gm_vae *vae)
{
    GM_CHECK_NULL(vae);
    GM_TRY(gm__model_load_grads(&vae->m, GM__MODEL_BOTH, __func__));
    return gm__vae_update(vae, __func__);
}

gm_net *gm_vae_encoder(gm_vae *vae) { return vae ? vae->m.net[0] : NULL; }

gm_net *gm_vae_decoder(gm_vae *vae) { return vae ? vae->m.net[1] : NULL; }

uint64_t gm_vae_step_count(const gm_vae *vae) { return vae ? vae->m.steps : 0; }

gm_status gm_vae_set_lr(gm_vae *vae, float lr)
{
    GM_CHECK_NULL(vae);
    GM_CHECK(isfinite(lr) && lr > 0.0f, GM_EINVAL, "lr must be finite and > 0, got %g",
             (double)lr);
    GM_TRY(gm_optimizer_set_lr(vae->m.parts.opt_a, lr));
    return gm_optimizer_set_lr(vae->m.parts.opt_b, lr);
}

gm_status gm_vae_get_options(const gm_vae *vae, gm_vae_options *opts)
{
    GM_CHECK_NULL(vae);
    GM_CHECK_NULL(opts);
    GM_TRY(gm__write_options(__func__, opts, &vae->o, sizeof *opts));
    opts->optimizer = NULL;
    return GM_OK;
}
