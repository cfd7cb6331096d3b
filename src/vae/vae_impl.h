/* SPDX-License-Identifier: MIT */
/* The VAE's private struct and the helpers vae.c (create, train) and
 * vae_use.c (evaluation, sampling, inpainting) share. Only src/vae/
 * includes it; other modules go through vae_internal.h. Not installed. */
#ifndef GM_VAE_IMPL_H
#define GM_VAE_IMPL_H

#include "model/model.h"
#include "vae/vae_internal.h"

/* m.net[0] is the encoder, m.net[1] the decoder (their optimizers
 * m.parts.opt_a, opt_b); the snapshot holds layer state only. */
struct gm_vae {
    gm__model m; /* first: a gm_vae is its gm__model */
    gm_vae_options o;
    gm_optimizer_options opt;
    size_t L, C, D, dec_w; /* latent, classes, data features, decoder width */
    size_t dec_nd, dec_shape[GM_MAX_DIMS]; /* decoder output per sample */
    size_t h_nd, h_shape[GM_MAX_DIMS];     /* encoder output of the last call */
    /* batch buffers for n samples, views into m.block */
    size_t n;
    gm_tensor enc_in, h, dh, eps, z, dz, dec_in, ddec_in, dec_out, ddec;
};

/* Sizes the batch buffers for n samples (no-op when they fit already). */
gm_status gm__vae_prepare(gm_vae *v, const char *fn, size_t n);
/* Checks n labels against the VAE's classes. */
gm_status gm__vae_check_labels(const gm_vae *v, const char *fn, const int32_t *labels, size_t n);
/* Checks a data batch x: D features per sample, finite, in [0, 1] for
 * Bernoulli; then labels; then that the encoder maps it to [n x 2L]. */
gm_status gm__vae_check_x(gm_vae *v, const char *fn, const gm_tensor *x, const int32_t *labels);
/* Runs the encoder on x into v->h (buffers prepared for x's batch). */
gm_status gm__vae_encode(gm_vae *v, const char *fn, const gm_tensor *x, const int32_t *labels);
/* Joins z (already in v->z) with the labels' one-hot codes into dec_in
 * and runs the decoder into dec_out. */
gm_status gm__vae_decode(gm_vae *v, const char *fn, const int32_t *labels);

/* Runs call with both nets in evaluation mode, restoring their modes. */
#define GM__VAE_EVAL(v, st, call)                                                   \
    do {                                                                           \
        gm_net *e_ = (v)->m.net[0], *d_ = (v)->m.net[1];                           \
        int te_ = gm_net_is_training(e_), td_ = gm_net_is_training(d_);            \
        gm_net_set_training(e_, 0);                                                \
        gm_net_set_training(d_, 0);                                                \
        (st) = (call);                                                             \
        gm_net_set_training(e_, te_);                                              \
        gm_net_set_training(d_, td_);                                              \
    } while (0)

#endif
