/* SPDX-License-Identifier: MIT */
/* What other modules may reach of a VAE's private struct: the checkpoint
 * code (io/checkpoint.c) reads and restores its parts through this view.
 * Not installed. */
#ifndef GM_VAE_INTERNAL_H
#define GM_VAE_INTERNAL_H

#include <genmodel/vae.h>

#include "core/record.h"
#include "model/model.h"

/* Fills mv with the VAE's nets, optimizers, generators, step counter
 * and pending flag, and *opts with its settings (optimizer pointers NULL):
 * what a checkpoint loader restores through. */
void gm__vae_model_view(gm_vae *vae, gm__model_view *mv, gm_vae_options *opts);
/* The same, read-only: what a save writes. */
void gm__vae_state_view(const gm_vae *vae, gm__model_state *sv, gm_vae_options *opts);
/* The option fields a checkpoint stores (vae_options.c): *n rows. */
const gm__opt_field *gm__vae_option_fields(size_t *n);

/* GM_OK when x holds targets the likelihood can take: finite, and in
 * [0, 1] for Bernoulli (one vectorized pass); else GM_EINVAL naming fn and
 * the first bad value. elbo.c. */
gm_status gm__vae_check_target(const char *fn, gm_likelihood likelihood, const gm_tensor *x);

/* gm_vae_recon_nll without its checks, for the train step: the shapes
 * must match and x must have passed gm__vae_check_target. A non-finite
 * `out` gives a non-finite *mean, which the caller must test. */
void gm__vae_recon_nll_unchecked(gm_likelihood likelihood, const gm_tensor *out,
                                 const gm_tensor *x, float gaussian_logvar, float *mean,
                                 float *each, gm_tensor *dout);

#endif
