/* SPDX-License-Identifier: MIT */
/* The moving average of a GAN generator's weights (gm_gan option
 * ema_decay): what it keeps, how it is updated after every generator
 * update, and how gm_gan_sample / gm_gan_generate run G on it.
 * Not installed. */
#ifndef GM_GAN_EMA_H
#define GM_GAN_EMA_H

#include "engine/engine.h"

/* avg holds the averaged values: G's parameters (gm_net_get_params order),
 * then the running mean and variance of each batchnorm layer of G, in
 * layer order. raw has the same size: G's own values while the average is
 * swapped into G. */
typedef struct gm__gan_ema {
    float decay; /* 0: off (everything else zero) */
    size_t np, ns; /* parameter floats, batchnorm state floats */
    float *avg, *raw;
} gm__gan_ema;

/* Starts the average at G's current values (nothing allocated when decay
 * is 0). GM_ENOMEM named fn. */
gm_status gm__gan_ema_init(gm__gan_ema *e, const gm_net *g, float decay, const char *fn);
void gm__gan_ema_free(gm__gan_ema *e);

/* After the generator update that completes step `steps_before` + 1:
 * avg = d avg + (1 - d) G with d = min(decay, (1 + t) / (10 + t)),
 * t = steps_before (the warm-up keeps the initial weights from lingering
 * in the average of a short run). */
void gm__gan_ema_update(gm__gan_ema *e, const gm_net *g, uint64_t steps_before);

/* Swaps the averaged values into G (in) and G's own values back (out);
 * each in must be followed by an out. */
void gm__gan_ema_swap_in(gm__gan_ema *e, gm_net *g);
void gm__gan_ema_swap_out(gm__gan_ema *e, gm_net *g);

#endif
