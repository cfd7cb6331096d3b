/* SPDX-License-Identifier: MIT */
/* The moving-average generator (see ema.h).
 *
 * Batchnorm: the average covers G's running statistics as well as its
 * parameters (as torch.optim.swa_utils.AveragedModel(use_buffers=True)
 * does). Sampling runs G in evaluation mode, which normalizes with the
 * running statistics; the raw G's statistics describe the activations of
 * the raw weights of the last few steps (momentum 0.1), not those of
 * weights averaged over ~1 / (1 - decay) steps, so pairing the averaged
 * weights with them mixes two different nets. Averaging the statistics
 * over the same window pairs like with like. Other layer state (spectral
 * norm's power-iteration vectors, dropout streams) is not averaged: the
 * averaged G uses the raw G's. */
#include "gan/ema.h"
#include "gan/gan_internal.h"

#include <string.h>

static int gm__is_bn(const gm_layer *l) { return l->vt->kind == GM_LAYER_BATCHNORM; }

gm_status gm__gan_ema_init(gm__gan_ema *e, const gm_net *g, float decay, const char *fn)
{
    memset(e, 0, sizeof *e);
    if (decay == 0.0f) return GM_OK;
    size_t ns = 0;
    for (size_t i = 0; i < g->n_layers; i++)
        if (gm__is_bn(g->layers[i])) ns += g->layers[i]->nstate;
    const size_t n = g->nparams + ns;
    float *avg = gm__malloc_array(2 * n + 1, sizeof(float));
    if (avg == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate the generator's moving average "
                             "(%zu floats)", 2 * n);
    e->decay = decay;
    e->np = g->nparams;
    e->ns = ns;
    e->avg = avg;
    e->raw = avg + n;
    memcpy(avg, g->params, g->nparams * sizeof(float));
    float *s = avg + g->nparams;
    for (size_t i = 0; i < g->n_layers; i++) {
        const gm_layer *l = g->layers[i];
        if (!gm__is_bn(l)) continue;
        memcpy(s, l->state, l->nstate * sizeof(float));
        s += l->nstate;
    }
    return GM_OK;
}

void gm__gan_ema_free(gm__gan_ema *e)
{
    gm__free(e->avg);
    memset(e, 0, sizeof *e);
}

static void gm__ema_mix(float *avg, const float *x, size_t n, float d)
{
    const float c = 1.0f - d;
    for (size_t i = 0; i < n; i++) avg[i] = d * avg[i] + c * x[i];
}

void gm__gan_ema_update(gm__gan_ema *e, const gm_net *g, uint64_t steps_before)
{
    if (e->decay == 0.0f) return;
    const double t = (double)steps_before, warm = (1.0 + t) / (10.0 + t);
    const float d = warm < (double)e->decay ? (float)warm : e->decay;
    gm__ema_mix(e->avg, g->params, e->np, d);
    float *s = e->avg + e->np;
    for (size_t i = 0; i < g->n_layers; i++) {
        const gm_layer *l = g->layers[i];
        if (!gm__is_bn(l)) continue;
        gm__ema_mix(s, l->state, l->nstate, d);
        s += l->nstate;
    }
}

/* Copies G's values to `to` and `from`'s into G. */
static void gm__ema_exchange(const gm__gan_ema *e, gm_net *g, float *to, const float *from)
{
    if (to) memcpy(to, g->params, e->np * sizeof(float));
    memcpy(g->params, from, e->np * sizeof(float));
    size_t k = e->np;
    for (size_t i = 0; i < g->n_layers; i++) {
        gm_layer *l = g->layers[i];
        if (!gm__is_bn(l)) continue;
        if (to) memcpy(to + k, l->state, l->nstate * sizeof(float));
        memcpy(l->state, from + k, l->nstate * sizeof(float));
        k += l->nstate;
    }
}

void gm__gan_ema_swap_in(gm__gan_ema *e, gm_net *g) { gm__ema_exchange(e, g, e->raw, e->avg); }

void gm__gan_ema_swap_out(gm__gan_ema *e, gm_net *g) { gm__ema_exchange(e, g, NULL, e->raw); }

/* (in gan.h; here, beside the average, to keep gan.c short) */
gm_status gm_gan_ema_params(const gm_gan *gan, float *out, size_t n)
{
    GM_CHECK_NULL(gan);
    GM_CHECK_NULL(out);
    const gm__gan_ema *e = gm__gan_ema_view(gan);
    GM_CHECK(e->decay > 0.0f, GM_ESTATE, "the GAN keeps no moving average (its ema_decay is 0)");
    GM_CHECK(n == e->np, GM_ESHAPE, "n must be the generator's %zu parameters, got %zu", e->np, n);
    memcpy(out, e->avg, n * sizeof(float));
    return GM_OK;
}
