/* SPDX-License-Identifier: MIT */
/* Sampling a gm_gan: G in evaluation mode, on the moving average of its
 * weights unless gm_gan_use_ema(gan, 0), from latents the GAN draws
 * (gm_gan_sample, optionally truncated) or the caller gives
 * (gm_gan_generate). */
#include <string.h>

#include <genmodel/gan.h>

#include "gan/gan_impl.h"

/* G in evaluation mode from the z buffer into out. */
static gm_status gm__gan_eval_generate(gm_gan *g, const char *fn, const int32_t *labels,
                                       gm_tensor *out)
{
    const int was = gm_net_is_training(g->m.net[0]);
    const int avg = g->ema.decay > 0.0f && !g->sample_raw;
    gm_net_set_training(g->m.net[0], 0);
    if (avg) gm__gan_ema_swap_in(&g->ema, g->m.net[0]);
    gm_status st = gm__gan_generate(g, fn, labels);
    if (avg) gm__gan_ema_swap_out(&g->ema, g->m.net[0]);
    gm_net_set_training(g->m.net[0], was);
    if (st == GM_OK) memcpy(out->data, g->fake, out->numel * sizeof(float));
    return st;
}

gm_status gm_gan_sample(gm_gan *gan, size_t n, const int32_t *labels, gm_tensor *out)
{
    GM_CHECK_NULL(gan);
    GM_CHECK(n >= 1, GM_EINVAL, "n must be >= 1, got %zu", n);
    GM_TRY(gm__model_check_out(__func__, out, "out", n, gan->Dd));
    GM_TRY(gm__check_labels(__func__, labels, n, gan->C));
    GM_TRY(gm__gan_prepare(gan, __func__, n, gan->m.block ? gan->dw : 1));
    /* a failed call leaves the generator where it was */
    uint64_t seed, pos;
    gm_rng_get_state(gan->m.parts.aux_rng, &seed, &pos);
    gm_rng_truncated_normal(gan->m.parts.aux_rng, gan->z, n * gan->L, gan->truncation);
    gm_status st = gm__gan_eval_generate(gan, __func__, labels, out);
    if (st != GM_OK) gm_rng_set_state(gan->m.parts.aux_rng, seed, pos);
    return st;
}

gm_status gm_gan_generate(gm_gan *gan, const gm_tensor *z, const int32_t *labels, gm_tensor *out)
{
    GM_CHECK_NULL(gan);
    GM_TRY(gm__model_check_latents(__func__, z, gan->L, out, gan->Dd, labels, gan->C));
    const size_t n = z->shape[0];
    GM_TRY(gm__gan_prepare(gan, __func__, n, gan->m.block ? gan->dw : 1));
    memcpy(gan->z, z->data, z->numel * sizeof(float));
    return gm__gan_eval_generate(gan, __func__, labels, out);
}

gm_status gm_gan_use_ema(gm_gan *gan, int use)
{
    GM_CHECK_NULL(gan);
    GM_CHECK(use == 0 || use == 1, GM_EINVAL, "use must be 0 or 1, got %d", use);
    GM_CHECK(use == 0 || gan->ema.decay > 0.0f, GM_ESTATE,
             "the GAN keeps no moving average (its ema_decay is 0)");
    gan->sample_raw = !use;
    return GM_OK;
}

gm_status gm_gan_set_truncation(gm_gan *gan, float threshold)
{
    GM_CHECK_NULL(gan);
    GM_TRY(gm__check_truncation(__func__, threshold));
    gan->truncation = threshold;
    return GM_OK;
}
