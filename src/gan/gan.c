/* SPDX-License-Identifier: MIT */
/* gm_gan: a generator and a discriminator wired to the adversarial-loss
 * module, with one optimizer each and the alternating update spelled out
 * in gan.h. Batch buffers are one block sized per (batch, D output). The
 * struct is in gan_impl.h, sampling in sample.c. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include <genmodel/gan.h>

#include "model/model.h"
#include "gan/ema.h"
#include "gan/gan_impl.h"
#include "gan/gan_internal.h"

/* The model layer's net index of a part: G is net 0, D net 1. */
static int gm__gan_k(gm_gan_part part) { return part == GM_GAN_GENERATOR ? 0 : 1; }

/* The GAN's class for the model layer (the fit loop's step and report) */
static void gm__gan_release(gm__model *m)
{
    gm__gan_ema_free(&((gm_gan *)m)->ema);
    gm__free(((gm_gan *)m)->pen_save);
}
static gm_status gm__gan_train_step_full(gm_gan *gan, const gm_tensor *real,
                                         const int32_t *labels, gm_gan_stats *stats);
GM__MODEL_CLASS(gm__gan_class, gm_gan, gm_gan_stats, gm__gan_train_step_full, gm_gan_fit_callback,
                gm_gan_fit_sized_callback, "GAN", "generator", "discriminator",
                "gm_gan_compute_grads", gm__gan_release);

gm_status gm_gan_create(gm_gan **out, gm_net *generator, gm_net *discriminator,
                        const gm_gan_options *opts)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_TRY(gm__model_check_nets(__func__, &gm__gan_class, generator, discriminator));
    GM_CHECK_NULL(opts);
    gm_gan_options o;
    gm_optimizer_options og, od;
    GM_TRY(gm__gan_read_options(__func__, opts, &o, &og, &od));
    GM_CHECK(generator->n_layers > 0, GM_ESTATE, "the generator has no layers");
    GM_CHECK(discriminator->n_layers > 0, GM_ESTATE, "the discriminator has no layers");
    float *pen_save;
    GM_TRY(gm__gan_penalty_setup(__func__, o.penalty, discriminator, &pen_save));
    size_t gnd, gshape[GM_MAX_DIMS];
    if (gm_net_output_shape(generator, 2, (size_t[]){1, o.latent + o.num_classes}, &gnd, gshape) !=
        GM_OK)
        return GM_FAIL(GM_ESHAPE, "the generator cannot take [N x %zu] inputs: %s",
                       o.latent + o.num_classes, gm_last_error());
    gm__model *m;
    gm_status st = gm__model_new(&m, sizeof(gm_gan), &gm__gan_class, generator, &og,
                                 discriminator, &od, o.seed, 1, __func__);
    if (st != GM_OK) {
        gm__free(pen_save);
        return st;
    }
    gm_gan *g = (gm_gan *)m;
    g->pen_save = pen_save;
    g->o = o;
    g->L = o.latent;
    g->C = o.num_classes;
    g->g_nd = gnd - 1;
    memcpy(g->g_shape, gshape + 1, g->g_nd * sizeof(size_t));
    g->Dd = 1;
    for (size_t i = 0; i < g->g_nd; i++) g->Dd *= g->g_shape[i];
    st = gm__gan_ema_init(&g->ema, generator, o.ema_decay, __func__);
    if (st != GM_OK) {
        gm__model_delete(m, 0); /* the nets stay the caller's */
        return st;
    }
    *out = g;
    return GM_OK;
}

void gm_gan_free(gm_gan *gan) { gm__model_delete(gan ? &gan->m : NULL, 1); }

void gm__gan_model_view(gm_gan *gan, gm__model_view *mv, gm_gan_options *opts)
{
    *mv = gm__model_view_of(&gan->m);
    *opts = gan->o;
}

void gm__gan_state_view(const gm_gan *gan, gm__model_state *sv, gm_gan_options *opts)
{
    *sv = gm__model_state_of(&gan->m);
    *opts = gan->o;
}

/* gan_impl.h */
gm_status gm__gan_prepare(gm_gan *g, const char *fn, size_t n, size_t dw)
{
    if (g->m.block != NULL && g->n == n && g->dw == dw) return GM_OK;
    const size_t L = g->L, C = g->C, Dd = g->Dd;
    /* z, g_in, fake, d_in, dd_in, dfake, logits, dlogits, eps */
    const size_t widths[9] = {L, L + C, Dd, Dd + C, Dd + C, Dd, dw, dw, 1};
    GM_TRY(gm__model_batch_block(&g->m, fn, n, widths, 9));
    float *block = g->m.block;
    g->n = n;
    g->dw = dw;
    float **views[9] = {&g->z,      &g->g_in,   &g->fake,    &g->d_in, &g->dd_in,
                        &g->dfake,  &g->logits, &g->dlogits, &g->eps};
    for (int i = 0; i < 9; i++) {
        *views[i] = block;
        block += n * widths[i];
    }
    return GM_OK;
}

/* A tensor header over buf: batch n, per-sample shape (nd, shape). */
static gm_tensor gm__gan_view(float *buf, size_t n, size_t nd, const size_t *shape)
{
    size_t full[GM_MAX_DIMS] = {n};
    memcpy(full + 1, shape, nd * sizeof(size_t));
    gm_tensor t;
    gm__tensor_view(&t, nd + 1, full, buf);
    return t;
}

/* gan_impl.h */
gm_status gm__gan_generate(gm_gan *g, const char *fn, const int32_t *labels)
{
    const size_t n = g->n;
    gm_tensor in, out = gm__gan_view(g->fake, n, g->g_nd, g->g_shape);
    if (g->C) {
        gm__join_one_hot(g->g_in, g->z, n, g->L, labels, g->C);
        in = gm__gan_view(g->g_in, n, 1, (size_t[]){g->L + g->C});
    } else {
        in = gm__gan_view(g->z, n, 1, (size_t[]){g->L});
    }
    return gm__net_forward_model(g->m.net[0], fn, "generator", &in, &out, 0);
}

/* The D input for data `x` (real's shape): x itself, or x joined with the
 * one-hot labels in d_in. */
static gm_tensor gm__gan_d_input(gm_gan *g, const gm_tensor *shape_of_real, float *x,
                                 const int32_t *labels)
{
    if (g->C) {
        gm__join_one_hot(g->d_in, x, g->n, g->Dd, labels, g->C);
        return gm__gan_view(g->d_in, g->n, 1, (size_t[]){g->Dd + g->C});
    }
    gm_tensor t;
    gm__tensor_view(&t, shape_of_real->ndim, shape_of_real->shape, x);
    return t;
}

/* Mean of D(.) over a batch of logits: sigmoid for the cross-entropy
 * families, raw otherwise. */
static float gm__gan_mean_d(const gm_gan *g, const float *logits, size_t m)
{
    const int ce = g->o.loss == GM_GAN_NONSATURATING || g->o.loss == GM_GAN_MINIMAX;
    double s = 0.0;
    for (size_t i = 0; i < m; i++) s += ce ? gm__sigmoidf(logits[i]) : logits[i];
    return (float)(s / (double)m);
}

/* Checks real and labels, and finds D's output shape for real. */
static gm_status gm__gan_check_real(gm_gan *g, const char *fn, const gm_tensor *real,
                                    const int32_t *labels, size_t *dnd, size_t *dshape)
{
    if (real == NULL) return gm__set_error(GM_EINVAL, fn, "real must not be NULL");
    const size_t n = real->shape[0];
    if (real->numel / n != g->Dd)
        return gm__set_error(GM_ESHAPE, fn,
                             "real must have the generator's %zu values per sample, got %zu",
                             g->Dd, real->numel / n);
    size_t bad = gm__find_nonfinite(real->data, real->numel);
    if (bad != real->numel)
        return gm__set_error(GM_EINVAL, fn, "real[%zu] is not finite (%g)", bad,
                             (double)real->data[bad]);
    GM_TRY(gm__check_labels(fn, labels, n, g->C));
    gm_status st = g->C ? gm_net_output_shape(g->m.net[1], 2, (size_t[]){n, g->Dd + g->C}, dnd, dshape)
                        : gm_net_output_shape(g->m.net[1], real->ndim, real->shape, dnd, dshape);
    if (st != GM_OK)
        return gm__set_error(GM_ESHAPE, fn, "the discriminator cannot take the data: %s",
                             gm_last_error());
    return GM_OK;
}

/* One phase's batch: the shard real (rows offset .. offset + n of a batch
 * of total), its labels, and D's output shape for it. */
typedef struct gm__gan_batch {
    const gm_tensor *real;
    const int32_t *labels;
    size_t offset, total;
    size_t dnd, dshape[GM_MAX_DIMS];
    const char *fn; /* the public function, for messages */
    gm_gan_part part; /* a compute call's part */
    gm_gan_stats s;   /* the statistics of the passes run */
} gm__gan_batch;

/* What both phases start with: logit views in D's output shape, fresh z
 * from the training generator (= gm_tensor_fill_normal on [n x L]) and
 * fake = G(z | y). */
static gm_status gm__gan_new_fake(gm_gan *g, const gm__gan_batch *b, gm_tensor *logits,
                                  gm_tensor *dlogits)
{
    gm__tensor_view(logits, b->dnd, b->dshape, g->logits);
    gm__tensor_view(dlogits, b->dnd, b->dshape, g->dlogits);
    /* the shard's rows of the batch's [total x L] noise */
    gm__rng_normal_slice(g->m.parts.train_rng, (uint64_t)b->offset * g->L, g->z, g->n * g->L);
    gm__rng_skip(g->m.parts.train_rng, (uint64_t)b->total * g->L);
    return gm__gan_generate(g, b->fn, b->labels);
}

/* Multiplies the logit gradients by the shard's share of the batch mean. */
static void gm__gan_share(const gm_gan *g, const gm__gan_batch *b, gm_tensor *dlogits)
{
    if (b->total == g->n) return;
    const float s = (float)((double)g->n / (double)b->total);
    for (size_t i = 0; i < dlogits->numel; i++) dlogits->data[i] *= s;
}

/* The gradient penalty of a critic update (gan.h, gm_gan_penalty), added
 * to D's loss gradients (penalty.c); stats->penalty: 0 if none applied. */
static gm_status gm__gan_penalty(gm_gan *g, const gm__gan_batch *b, gm_gan_stats *stats)
{
    stats->penalty = 0.0f;
    const uint32_t every = g->o.penalty_every;
    if (g->o.penalty == GM_PENALTY_NONE || (g->m.steps * g->o.n_critic + g->d_done) % every != 0)
        return GM_OK; /* none, or lazy R1 skips this critic update */
    float w = g->o.penalty_weight * (float)every;
    if (b->total != g->n) w *= (float)((double)g->n / (double)b->total);
    gm_tensor in = gm__gan_d_input(g, b->real, b->real->data, b->labels), fin = in;
    fin.data = g->fake; /* the fake batch as D takes it */
    if (g->C && g->o.penalty == GM_PENALTY_GP) {
        gm__join_one_hot(g->dd_in, g->fake, g->n, g->Dd, b->labels, g->C);
        fin.data = g->dd_in;
    }
    return gm__gan_add_penalty(g->m.net[1], b->fn, g->o.penalty, w, &in, &fin,
                               g->m.parts.train_rng, b->offset, b->total, g->eps, g->pen_save,
                               &stats->penalty);
}

/* The discriminator's gradients on real and a fresh fake batch (D's
 * parameters untouched), plus the gradient penalty if there is one. */
static gm_status gm__gan_d_pass(gm_gan *g, const gm__gan_batch *b, gm_gan_stats *stats)
{
    const size_t n = g->n, dw = g->dw;
    gm_tensor logits, dlogits;
    GM_TRY(gm__gan_new_fake(g, b, &logits, &dlogits));
    GM_TRY(gm_net_zero_grad(g->m.net[1]));
    float lr, lf;
    gm_tensor in = gm__gan_d_input(g, b->real, b->real->data, b->labels);
    GM_TRY(gm__net_forward_model(g->m.net[1], b->fn, "discriminator", &in, &logits, 0));
    stats->d_real = gm__gan_mean_d(g, g->logits, n * dw);
    GM_TRY(gm_gan_d_loss(g->o.loss, &logits, NULL, g->o.real_label, &lr, &dlogits, NULL));
    gm__gan_share(g, b, &dlogits);
    GM_TRY(gm_net_backward(g->m.net[1], &dlogits, NULL));
    in = gm__gan_d_input(g, b->real, g->fake, b->labels);
    GM_TRY(gm__net_forward_model(g->m.net[1], b->fn, "discriminator", &in, &logits, 0));
    GM_TRY(gm_gan_d_loss(g->o.loss, NULL, &logits, g->o.real_label, &lf, NULL, &dlogits));
    gm__gan_share(g, b, &dlogits);
    GM_TRY(gm_net_backward(g->m.net[1], &dlogits, NULL));
    stats->d_loss = lr + lf;
    if (!isfinite(stats->d_loss) || !isfinite(gm__net_grad_sumsq(g->m.net[1])))
        return gm__set_error(GM_ENUMERIC, b->fn,
                             "the discriminator's loss or gradients are not finite");
    return gm__gan_penalty(g, b, stats);
}

/* The generator's gradients through the discriminator (no D gradients). */
static gm_status gm__gan_g_pass(gm_gan *g, const gm__gan_batch *b, gm_gan_stats *stats)
{
    const size_t n = g->n;
    gm_tensor logits, dlogits;
    GM_TRY(gm__gan_new_fake(g, b, &logits, &dlogits));
    GM_TRY(gm_net_zero_grad(g->m.net[0]));
    gm_tensor in = gm__gan_d_input(g, b->real, g->fake, b->labels);
    GM_TRY(gm__net_forward_model(g->m.net[1], b->fn, "discriminator", &in, &logits, 0));
    stats->d_fake = gm__gan_mean_d(g, g->logits, n * g->dw);
    GM_TRY(gm_gan_g_loss(g->o.loss, &logits, &stats->g_loss, &dlogits));
    gm__gan_share(g, b, &dlogits);
    /* the gradient for D's input, in the layout of D's input; D's
     * parameter gradients are not computed */
    gm_tensor din = in;
    din.data = g->dd_in;
    GM_TRY(gm__net_backward_input(g->m.net[1], &dlogits, &din));
    float *dfake = g->dd_in;
    if (g->C) {
        for (size_t i = 0; i < n; i++)
            memcpy(g->dfake + i * g->Dd, g->dd_in + i * (g->Dd + g->C), g->Dd * sizeof(float));
        dfake = g->dfake;
    }
    gm_tensor dy = gm__gan_view(dfake, n, g->g_nd, g->g_shape);
    GM_TRY(gm_net_backward(g->m.net[0], &dy, NULL));
    if (!isfinite(stats->g_loss) || !isfinite(gm__net_grad_sumsq(g->m.net[0])))
        return gm__set_error(GM_ENUMERIC, b->fn, "the generator's loss or gradients are not finite");
    return GM_OK;
}

/* The inputs were checked before a pass: a GM_EINVAL inside it (a loss or
 * net refusing a non-finite value) means a value overflowed. */
static gm_status gm__gan_numeric(gm_status st, const char *fn)
{
    if (st != GM_EINVAL) return st;
    return gm__set_error(GM_ENUMERIC, fn, "a value is not finite: %s", gm_last_error());
}

static gm_status gm__gan_d_grads(gm_gan *g, const gm__gan_batch *b, gm_gan_stats *stats)
{
    return gm__gan_numeric(gm__gan_d_pass(g, b, stats), b->fn);
}

static gm_status gm__gan_g_grads(gm_gan *g, const gm__gan_batch *b, gm_gan_stats *stats)
{
    return gm__gan_numeric(gm__gan_g_pass(g, b, stats), b->fn);
}

/* The optimizer update of one part from its net's gradients (and D's
 * weight clipping); a generator update completes a training step. */
static gm_status gm__gan_update(gm_gan *g, gm_gan_part part, const char *fn)
{
    gm_net *net = part == GM_GAN_GENERATOR ? g->m.net[0] : g->m.net[1];
    /* the gradients were checked finite by the pass or the apply */
    GM_TRY(gm__optimizer_update(part == GM_GAN_GENERATOR ? g->m.parts.opt_a : g->m.parts.opt_b, net,
                                fn, part == GM_GAN_GENERATOR ? "generator" : "discriminator"));
    if (part == GM_GAN_DISCRIMINATOR) g->d_done++;
    if (part == GM_GAN_DISCRIMINATOR && g->o.weight_clip > 0.0f) {
        const float c = g->o.weight_clip;
        for (size_t i = 0; i < net->nparams; i++) net->params[i] = fminf(c, fmaxf(-c, net->params[i]));
    }
    if (part == GM_GAN_GENERATOR) {
        gm__gan_ema_update(&g->ema, net, g->m.steps);
        g->m.steps++;
        g->d_done = 0;
    }
    g->m.pending[gm__gan_k(part)] = 0;
    return GM_OK;
}

/* Validates a shard and sizes the buffers for it. */
static gm_status gm__gan_begin(gm_gan *g, const char *fn, const gm_tensor *real,
                               const int32_t *labels, size_t offset, size_t total,
                               gm__gan_batch *b)
{
    GM_TRY(gm__gan_check_real(g, fn, real, labels, &b->dnd, b->dshape));
    const size_t n = real->shape[0];
    GM_TRY(gm__check_shard(fn, n, offset, total));
    size_t w = 1; /* D output values per sample */
    for (size_t i = 1; i < b->dnd; i++) w *= b->dshape[i];
    GM_TRY(gm__gan_prepare(g, fn, n, w));
    b->real = real;
    b->labels = labels;
    b->offset = offset;
    b->total = total;
    b->fn = fn;
    b->s = (gm_gan_stats){0, 0, 0, 0, 0};
    return GM_OK;
}

/* A train step's passes (a gm__model_body, run guarded: a failure undoes
 * D's updates too): n_critic D updates, then G's. */
static gm_status gm__gan_step_body(gm__model *m, void *ctx)
{
    gm_gan *gan = (gm_gan *)m;
    gm__gan_batch *b = ctx;
    gm_status st = GM_OK;
    for (uint32_t c = 0; c < gan->o.n_critic && st == GM_OK; c++) {
        st = gm__gan_d_grads(gan, b, &b->s);
        if (st == GM_OK) st = gm__gan_update(gan, GM_GAN_DISCRIMINATOR, b->fn);
    }
    if (st == GM_OK) st = gm__gan_g_grads(gan, b, &b->s);
    if (st == GM_OK) st = gm__gan_update(gan, GM_GAN_GENERATOR, b->fn);
    return st;
}

/* gm_gan_train_step into a whole gm_gan_stats (the sized calls and the fit
 * loop use it too); errors named fn. */
static gm_status gm__gan_step(gm_gan *gan, const char *fn, const gm_tensor *real,
                              const int32_t *labels, gm_gan_stats *stats)
{
    if (gan == NULL || real == NULL)
        return gm__set_error(GM_EINVAL, fn, "%s must not be NULL", gan ? "real" : "gan");
    gm__gan_batch b;
    GM_TRY(gm__gan_begin(gan, fn, real, labels, 0, real->shape[0], &b));
    const uint32_t d_done = gan->d_done;
    gm_status st = gm__own_error(gm__model_guarded(&gan->m, gm__gan_step_body, &b), fn);
    if (st != GM_OK) gan->d_done = d_done; /* the D updates were undone too */
    else if (stats) *stats = b.s;
    return st;
}

static gm_status gm__gan_train_step_full(gm_gan *gan, const gm_tensor *real,
                                         const int32_t *labels, gm_gan_stats *stats)
{
    return gm__gan_step(gan, "gm_gan_train_step", real, labels, stats);
}

gm_status gm_gan_train_step(gm_gan *gan, const gm_tensor *real, const int32_t *labels,
                            gm_gan_stats *stats)
{
    gm_gan_stats s = {0};
    GM_TRY(gm__gan_step(gan, __func__, real, labels, &s));
    if (stats) memcpy(stats, &s, GM_STATS_SIZE_1_0); /* the 1.0 struct */
    return GM_OK;
}

gm_status gm_gan_fit(gm_gan *gan, const gm_tensor *data, const int32_t *labels,
                     const gm_fit_options *opts, gm_gan_fit_callback callback, void *user)
{
    GM_CHECK_NULL(gan);
    size_t dnd, dshape[GM_MAX_DIMS];
    GM_TRY(gm__gan_check_real(gan, __func__, data, labels, &dnd, dshape)); /* all of it */
    return gm__model_fit(&gan->m, __func__, data, labels, opts, (gm__fit_callback)callback, 0,
                         user);
}

/* Returns GM_EINVAL from the calling function unless part is a gm_gan_part
 * (a macro, so the compiler sees the bound on the index that follows). */
#define GM__GAN_CHECK_PART(part)                                                    \
    GM_CHECK((part) == GM_GAN_DISCRIMINATOR || (part) == GM_GAN_GENERATOR, GM_EINVAL, \
             "part must be GM_GAN_DISCRIMINATOR or GM_GAN_GENERATOR, got %d", (int)(part))

/* One part's gradients (a gm__model_body, run guarded). */
static gm_status gm__gan_part_body(gm__model *m, void *ctx)
{
    gm__gan_batch *b = ctx;
    return b->part == GM_GAN_GENERATOR ? gm__gan_g_grads((gm_gan *)m, b, &b->s)
                                       : gm__gan_d_grads((gm_gan *)m, b, &b->s);
}

/* gm_gan_compute_grads into a whole gm_gan_stats; errors named fn. */
static gm_status gm__gan_compute(gm_gan *gan, const char *fn, gm_gan_part part,
                                 const gm_tensor *real, const int32_t *labels, size_t offset,
                                 size_t total, gm_gan_stats *stats)
{
    if (gan == NULL || real == NULL)
        return gm__set_error(GM_EINVAL, fn, "%s must not be NULL", gan ? "real" : "gan");
    if (part != GM_GAN_DISCRIMINATOR && part != GM_GAN_GENERATOR)
        return gm__set_error(GM_EINVAL, fn,
                             "part must be GM_GAN_DISCRIMINATOR or GM_GAN_GENERATOR, got %d",
                             (int)part);
    gm__gan_batch b;
    GM_TRY(gm__gan_begin(gan, fn, real, labels, offset, total, &b));
    b.part = part;
    GM_TRY(gm__own_error(gm__model_compute(&gan->m, gm__gan_k(part), gm__gan_part_body, &b), fn));
    *stats = b.s;
    return GM_OK;
}

gm_status gm_gan_compute_grads(gm_gan *gan, gm_gan_part part, const gm_tensor *real,
                               const int32_t *labels, size_t offset, size_t total,
                               gm_gan_stats *stats)
{
    gm_gan_stats s = {0};
    GM_TRY(gm__gan_compute(gan, __func__, part, real, labels, offset, total, &s));
    if (stats) memcpy(stats, &s, GM_STATS_SIZE_1_0); /* the 1.0 struct */
    return GM_OK;
}

gm_status gm_gan_grads(gm_gan *gan, gm_gan_part part, float **grads, size_t *n)
{
    GM_CHECK_NULL(gan);
    GM_CHECK_NULL(grads);
    GM_CHECK_NULL(n);
    GM__GAN_CHECK_PART(part);
    *grads = gm__model_grads(&gan->m, gm__gan_k(part), n);
    return GM_OK;
}

gm_status gm_gan_apply_grads(gm_gan *gan, gm_gan_part part)
{
    GM_CHECK_NULL(gan);
    GM__GAN_CHECK_PART(part);
    GM_TRY(gm__model_load_grads(&gan->m, gm__gan_k(part), __func__));
    return gm__own_error(gm__gan_update(gan, part, __func__), __func__);
}

gm_net *gm_gan_generator(gm_gan *gan) { return gan ? gan->m.net[0] : NULL; }

gm_net *gm_gan_discriminator(gm_gan *gan) { return gan ? gan->m.net[1] : NULL; }

uint64_t gm_gan_step_count(const gm_gan *gan) { return gan ? gan->m.steps : 0; }

gm_status gm_gan_set_lr(gm_gan *gan, gm_gan_part part, float lr)
{
    GM_CHECK_NULL(gan);
    GM__GAN_CHECK_PART(part);
    return gm__own_error(
        gm_optimizer_set_lr(part == GM_GAN_GENERATOR ? gan->m.parts.opt_a : gan->m.parts.opt_b, lr),
        __func__);
}

gm_status gm_gan_get_options(const gm_gan *gan, gm_gan_options *opts)
{
    GM_CHECK_NULL(gan);
    GM_CHECK_NULL(opts);
    GM_TRY(gm__write_options(__func__, opts, &gan->o, sizeof *opts));
    opts->g_optimizer = opts->d_optimizer = NULL;
    return GM_OK;
}

gm__gan_ema *gm__gan_ema_of(gm_gan *gan) { return &gan->ema; }
const gm__gan_ema *gm__gan_ema_view(const gm_gan *gan) { return &gan->ema; }
uint32_t *gm__gan_d_done_of(gm_gan *gan) { return &gan->d_done; }
uint32_t gm__gan_d_done(const gm_gan *gan) { return gan->d_done; }

/* The sized calls (1.2), for the caller's size of gm_gan_stats */
gm_status gm_gan_train_step_sized(gm_gan *gan, const gm_tensor *real, const int32_t *labels,
                                  gm_gan_stats *stats, size_t stats_size)
{
    GM__MODEL_SIZED(gm_gan_stats, s, gm__gan_train_step_full(gan, real, labels, &s), stats,
                    stats_size);
}

gm_status gm_gan_fit_sized(gm_gan *gan, const gm_tensor *data, const int32_t *labels,
                           const gm_fit_options *opts, gm_gan_fit_sized_callback callback,
                           void *user)
{
    GM_CHECK_NULL(gan);
    size_t dnd, dshape[GM_MAX_DIMS];
    GM_TRY(gm__gan_check_real(gan, __func__, data, labels, &dnd, dshape)); /* all of it */
    return gm__model_fit(&gan->m, __func__, data, labels, opts, (gm__fit_callback)callback, 1,
                         user);
}

gm_status gm_gan_compute_grads_sized(gm_gan *gan, gm_gan_part part, const gm_tensor *real,
                                     const int32_t *labels, size_t offset, size_t total,
                                     gm_gan_stats *stats, size_t stats_size)
{
    GM__MODEL_SIZED(gm_gan_stats, s,
                    gm__gan_compute(gan, "gm_gan_compute_grads", part, real, labels, offset, total,
                                    &s),
                    stats,
                    stats_size);
}
