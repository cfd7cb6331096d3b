/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — gradient penalties on a critic / discriminator net.
 *
 * For a net D mapping a batch x [n x ...] to one value per row, with
 * g_i = grad_{x_i} D(x_i) the gradient of row i's output w.r.t. its input:
 *
 *   R1       P = gamma/2 * mean_i |g_i|^2              at the real rows x
 *   WGAN-GP  P = lambda * mean_i (|g_i| - 1)^2         at x^_i = eps_i x_i + (1 - eps_i) f_i
 *
 * with eps_i ~ U(0, 1), one per row, drawn from the caller's gm_rng (n
 * draws). Each call runs a forward pass on its input (the net's last
 * forward becomes that input's, so call gm_net_forward again before a
 * gm_net_backward meant for another batch), returns P, and ADDS dP/dtheta
 * to the gradient buffers of the net's trainable layers (zero them first
 * for P alone). Computed by differentiating the backward pass (engine
 * ggrad.c; see docs/ARCHITECTURE.md). Layers: dense, convolution,
 * transposed convolution, every activation, dropout (in training mode it
 * draws a new mask, as a forward does), reshape, flatten. A net with a
 * batchnorm layer or a spectrally normalized layer is GM_EUNSUPPORTED.
 *
 * Ownership: nothing is retained from the arguments. The net keeps one
 * workspace for penalties, grown at the first call for a batch shape and
 * freed with the net; later calls allocate nothing.
 * Threading: not thread-safe on the same net (or rng); distinct nets are
 * independent.
 * Errors: GM_EINVAL (NULL argument, non-finite or negative coefficient,
 * non-finite input value), GM_ESHAPE (input shape the net does not take,
 * fake shaped unlike real, net output not one value per row),
 * GM_EUNSUPPORTED (batchnorm / spectral norm; the message names the layer
 * index and kind), GM_ENOMEM. gm_last_error names the function and the
 * value. A failed call leaves the net, its gradients and the rng as they
 * were (except GM_ENOMEM from inside the net's forward).
 */
#ifndef GENMODEL_PENALTY_H
#define GENMODEL_PENALTY_H

#include "core.h"
#include "net.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** R1 penalty gamma/2 mean_i |grad_x D(x_i)|^2 on `real`; *penalty
 *  receives it and its parameter gradient is added to the net's. */
GM_API gm_status gm_net_penalty_r1(gm_net *net, const gm_tensor *real, float gamma,
                                   float *penalty);

/** WGAN-GP penalty lambda mean_i (|grad D(x^_i)| - 1)^2 on interpolates of
 *  `real` and `fake` (same shape) with one eps per row from rng (drawn
 *  only once every check has passed); *penalty receives it and its
 *  parameter gradient is added to the net's. */
GM_API gm_status gm_net_penalty_gp(gm_net *net, const gm_tensor *real, const gm_tensor *fake,
                                   float lambda, gm_rng *rng, float *penalty);

#ifdef __cplusplus
}
#endif

#endif
