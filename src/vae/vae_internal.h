/* What other modules may reach of a VAE's private struct: the checkpoint
 * code (io/checkpoint.c) reads and restores its parts through this view.
 * Not installed. */
#ifndef GM_VAE_INTERNAL_H
#define GM_VAE_INTERNAL_H

#include <genmodel/vae.h>

#include "engine/engine.h"

/* Fills mv with the VAE's nets, optimizers, generators, step counter
 * and pending flag, and *opts with its settings (optimizer pointers NULL). */
void gm__vae_model_view(const gm_vae *vae, gm__model_view *mv, gm_vae_options *opts);

#endif
