/* SPDX-License-Identifier: MIT */
/* What other modules may reach of a GAN's private struct: the checkpoint
 * code (io/checkpoint.c) reads and restores its parts through this view;
 * and what the files of src/gan/ share. Not installed. */
#ifndef GM_GAN_INTERNAL_H
#define GM_GAN_INTERNAL_H

#include <genmodel/gan.h>

#include "core/record.h"
#include "model/model.h"
#include "gan/ema.h"

/* Fills mv with the GAN's nets, optimizers, generators, step counter
 * and pending flag, and *opts with its settings (optimizer pointers NULL):
 * what a checkpoint loader restores through. */
void gm__gan_model_view(gm_gan *gan, gm__model_view *mv, gm_gan_options *opts);
/* The same, read-only: what a save writes. */
void gm__gan_state_view(const gm_gan *gan, gm__model_state *sv, gm_gan_options *opts);
/* The option fields a checkpoint stores (gan_options.c): *n rows. */
const gm__opt_field *gm__gan_option_fields(size_t *n);

/* The GAN's moving average of G (decay 0: off), for the checkpoint code. */
gm__gan_ema *gm__gan_ema_of(gm_gan *gan);
/* The same, read-only (checkpoint saves). */
const gm__gan_ema *gm__gan_ema_view(const gm_gan *gan);
/* The critic updates applied since the last generator update (a split
 * step's; lazy R1 counts them), for the checkpoint code: to restore, and
 * read-only to save. */
uint32_t *gm__gan_d_done_of(gm_gan *gan);
uint32_t gm__gan_d_done(const gm_gan *gan);

/* Reads and checks a caller's options into *o (size and latent required;
 * the optimizer pointers are NULL after) and the two optimizers' settings
 * (or the GAN defaults) into og and od; GM_EINVAL named fn. options.c. */
gm_status gm__gan_read_options(const char *fn, const gm_gan_options *opts, gm_gan_options *o,
                               gm_optimizer_options *og, gm_optimizer_options *od);

/* The penalty option (penalty.c). At create: GM_EUNSUPPORTED (named fn)
 * if penalty kind cannot run on d, and *save = D-sized scratch (NULL for
 * none). In a critic update: D's gradients g = g_loss + the penalty's (from
 * zero, coefficient w) at real, or for GP at interpolates of real and fake
 * with eps the rows offset .. offset + n of a [total] uniform draw from rng
 * (which advances past it); *value the penalty. */
gm_status gm__gan_penalty_setup(const char *fn, int kind, const gm_net *d, float **save);
gm_status gm__gan_add_penalty(gm_net *d, const char *fn, int kind, float w, const gm_tensor *real,
                              const gm_tensor *fake, gm_rng *rng, size_t offset, size_t total,
                              float *eps, float *save, float *value);

#endif
