/* SPDX-License-Identifier: MIT */
/* gm_gan_options: the defaults (with the GM_1.0 and GM_1.1 versions of
 * the _init for programs built before ema_decay and before the penalty
 * fields), and the checks gm_gan_create makes. */
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include <genmodel/gan.h>

#include "gan/gan_internal.h"

/* The defaults into the first `size` bytes of *opts (size >= the fields
 * set here). */
static void gm__gan_options_fill(gm_gan_options *opts, size_t size)
{
    memset(opts, 0, size);
    opts->size = size;
    opts->loss = GM_GAN_NONSATURATING;
    opts->n_critic = 1;
    opts->real_label = 1.0f;
    if (size >= offsetof(gm_gan_options, penalty_every) + sizeof opts->penalty_every)
        opts->penalty_every = 1;
}

/* The struct's size in 1.1: it ended at ema_decay, padded to its
 * alignment. The 1.2 field `penalty` sits in that padding, so a 1.1
 * caller's bytes there are not read (gm__gan_read_options). */
#define GM__GAN_OPTIONS_SIZE_1_1                                                             \
    ((offsetof(gm_gan_options, ema_decay) + sizeof(float) + _Alignof(gm_gan_options) - 1) / \
     _Alignof(gm_gan_options) * _Alignof(gm_gan_options))

gm_status gm_gan_options_init(gm_gan_options *opts)
{
    GM_CHECK_NULL(opts);
    gm__gan_options_fill(opts, sizeof *opts);
    return GM_OK;
}

#if defined(__ELF__) && defined(GM_SHARED_SYMVER)
/* gm_gan_options_init@GM_1.0, for programs built before ema_decay was
 * appended: it fills the struct they know, which ended at num_classes
 * (core.h: an options struct's _init keeps its old symbol version). */
GM_API gm_status gm__gan_options_init_1_0(gm_gan_options *opts);
__asm__(".symver gm__gan_options_init_1_0, gm_gan_options_init@GM_1.0");
gm_status gm__gan_options_init_1_0(gm_gan_options *opts)
{
    if (opts == NULL) return gm__set_error(GM_EINVAL, "gm_gan_options_init", "opts must not be NULL");
    gm__gan_options_fill(opts, offsetof(gm_gan_options, ema_decay));
    return GM_OK;
}

/* gm_gan_options_init@GM_1.1, for programs built before the penalty
 * fields: it fills the struct they know, which ended at ema_decay. */
GM_API gm_status gm__gan_options_init_1_1(gm_gan_options *opts);
__asm__(".symver gm__gan_options_init_1_1, gm_gan_options_init@GM_1.1");
gm_status gm__gan_options_init_1_1(gm_gan_options *opts)
{
    if (opts == NULL) return gm__set_error(GM_EINVAL, "gm_gan_options_init", "opts must not be NULL");
    gm__gan_options_fill(opts, GM__GAN_OPTIONS_SIZE_1_1);
    return GM_OK;
}
#endif

/* Copies an optimizer setting, or the GAN default (Adam 2e-4, 0.5/0.999). */
static gm_status gm__gan_opt(const char *fn, const gm_optimizer_options *in,
                             gm_optimizer_options *out, const char *name)
{
    gm_optimizer_options_init(out, GM_OPT_ADAM);
    if (in == NULL) {
        out->lr = 2e-4f;
        out->beta1 = 0.5f;
        return GM_OK;
    }
    char what[32];
    snprintf(what, sizeof what, "opts->%s", name);
    return gm__read_optimizer_options(fn, what, in, out);
}

gm_status gm__gan_read_options(const char *fn, const gm_gan_options *opts, gm_gan_options *o,
                                      gm_optimizer_options *og, gm_optimizer_options *od)
{
#define GM__GAN_REQ(cond, ...) \
    do { if (!(cond)) return gm__set_error(GM_EINVAL, fn, __VA_ARGS__); } while (0)
    /* size and latent are required; later fields may be missing */
    gm_gan_options_init(o);
    GM_TRY(gm__read_options(fn, "opts", opts, offsetof(gm_gan_options, latent) + sizeof o->latent,
                            o, sizeof *o));
    GM_TRY(gm__check_options_tear(fn, "opts", opts, offsetof(gm_gan_options, g_optimizer),
                                  sizeof o->g_optimizer, "g_optimizer"));
    GM_TRY(gm__check_options_tear(fn, "opts", opts, offsetof(gm_gan_options, d_optimizer),
                                  sizeof o->d_optimizer, "d_optimizer"));
    GM_TRY(gm__check_options_tear(fn, "opts", opts, offsetof(gm_gan_options, penalty_weight),
                                  sizeof o->penalty_weight, "penalty_weight"));
    GM_TRY(gm__check_options_tear(fn, "opts", opts, offsetof(gm_gan_options, penalty_every),
                                  sizeof o->penalty_every, "penalty_every"));
    if (opts->size <= GM__GAN_OPTIONS_SIZE_1_1) {
        /* a 1.0 or 1.1 struct: `penalty` is its padding, not a field */
        o->penalty = GM_PENALTY_NONE;
        o->penalty_weight = 0.0f;
        o->penalty_every = 1;
    }
    GM__GAN_REQ(o->latent >= 1 && o->latent <= 65536,
                "opts->latent must be in [1, 65536], got %zu", o->latent);
    GM__GAN_REQ(o->loss >= GM_GAN_NONSATURATING && o->loss <= GM_GAN_WASSERSTEIN,
                "opts->loss must be a gm_gan_loss, got %d", (int)o->loss);
    GM__GAN_REQ(o->n_critic >= 1 && o->n_critic <= 100,
                "opts->n_critic must be in [1, 100], got %u", (unsigned)o->n_critic);
    GM__GAN_REQ(isfinite(o->real_label) && o->real_label > 0.0f && o->real_label <= 1.0f,
                "opts->real_label must be in (0, 1], got %g", (double)o->real_label);
    GM__GAN_REQ(o->real_label == 1.0f || (o->loss != GM_GAN_HINGE && o->loss != GM_GAN_WASSERSTEIN),
                "opts->real_label must be 1 for the hinge and Wasserstein losses, got %g",
                (double)o->real_label);
    GM__GAN_REQ(isfinite(o->weight_clip) && o->weight_clip >= 0.0f,
                "opts->weight_clip must be finite and >= 0 (0 = off), got %g", (double)o->weight_clip);
    GM__GAN_REQ(o->num_classes != 1 && o->num_classes <= 100000,
                "opts->num_classes must be 0 or in [2, 100000], got %zu", o->num_classes);
    GM__GAN_REQ(isfinite(o->ema_decay) && o->ema_decay >= 0.0f && o->ema_decay < 1.0f,
                "opts->ema_decay must be in [0, 1) (0 = off), got %g", (double)o->ema_decay);
    GM__GAN_REQ(o->penalty >= GM_PENALTY_NONE && o->penalty <= GM_PENALTY_GP,
                "opts->penalty must be a gm_gan_penalty (GM_PENALTY_NONE, _R1 or _GP), got %d",
                (int)o->penalty);
    GM__GAN_REQ(isfinite(o->penalty_weight) && o->penalty_weight >= 0.0f,
                "opts->penalty_weight must be finite and >= 0, got %g", (double)o->penalty_weight);
    GM__GAN_REQ(o->penalty_every >= 1 && o->penalty_every <= 1000000,
                "opts->penalty_every must be in [1, 1000000], got %u", (unsigned)o->penalty_every);
    GM__GAN_REQ(o->penalty_every == 1 || o->penalty != GM_PENALTY_GP,
                "opts->penalty_every must be 1 for GM_PENALTY_GP (lazy regularization is R1's), "
                "got %u",
                (unsigned)o->penalty_every);
    GM_TRY(gm__gan_opt(fn, o->g_optimizer, og, "g_optimizer"));
    GM_TRY(gm__gan_opt(fn, o->d_optimizer, od, "d_optimizer"));
    o->g_optimizer = o->d_optimizer = NULL; /* copied */
#undef GM__GAN_REQ
    return GM_OK;
}
