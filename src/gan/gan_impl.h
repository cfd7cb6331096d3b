/* SPDX-License-Identifier: MIT */
/* The GAN's private struct and what the files that make up gm_gan share
 * (gan.c: creation and training; sample.c: sampling). Other modules reach
 * a GAN through gan_internal.h's views, not through this header. */
#ifndef GM_GAN_IMPL_H
#define GM_GAN_IMPL_H

#include <genmodel/gan.h>

#include "model/model.h"
#include "gan/ema.h"

/* m.net[0] is the generator, m.net[1] the discriminator (their optimizers
 * m.parts.opt_a, opt_b); the snapshot also holds D's parameters and
 * optimizer, which are updated before G's part of a step can fail. */
struct gm_gan {
    gm__model m; /* first: a gm_gan is its gm__model */
    gm_gan_options o;
    size_t L, C, Dd;                       /* latent, classes, data values */
    size_t g_nd, g_shape[GM_MAX_DIMS];     /* G output per sample */
    /* the moving average of G (ema.c; off when o.ema_decay is 0) and
     * whether sampling uses G's own weights instead (gm_gan_use_ema) */
    gm__gan_ema ema;
    int sample_raw;
    /* gm_gan_sample's latents: N(0, 1) cut to [-truncation, truncation]
     * (gm_gan_set_truncation; 0: not cut) */
    float truncation;
    /* batch buffers for n samples and a D output of dw values each */
    size_t n, dw;
    float *z, *g_in, *fake, *d_in, *dd_in, *dfake, *logits, *dlogits, *eps;
    /* the gradient penalty (o.penalty): D's loss gradients while the
     * penalty's are computed from zero (D's parameter count; NULL when
     * off), and the critic updates since the last G update (lazy R1) */
    float *pen_save;
    uint32_t d_done;
};

/* Sizes the batch buffers for n samples and D outputs of dw values. */
gm_status gm__gan_prepare(gm_gan *g, const char *fn, size_t n, size_t dw);
/* G(z | y) into fake, from the z buffer; errors named fn. */
gm_status gm__gan_generate(gm_gan *g, const char *fn, const int32_t *labels);

#endif
