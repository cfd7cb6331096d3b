/* SPDX-License-Identifier: MIT */
/* What other modules may reach of a GAN's private struct: the checkpoint
 * code (io/checkpoint.c) reads and restores its parts through this view.
 * Not installed. */
#ifndef GM_GAN_INTERNAL_H
#define GM_GAN_INTERNAL_H

#include <genmodel/gan.h>

#include "model/model.h"
#include "gan/ema.h"

/* Fills mv with the GAN's nets, optimizers, generators, step counter
 * and pending flag, and *opts with its settings (optimizer pointers NULL). */
void gm__gan_model_view(const gm_gan *gan, gm__model_view *mv, gm_gan_options *opts);

/* The GAN's moving average of G (decay 0: off), for the checkpoint code. */
gm__gan_ema *gm__gan_ema_of(gm_gan *gan);
/* The same, read-only (checkpoint saves). */
const gm__gan_ema *gm__gan_ema_view(const gm_gan *gan);

#endif
