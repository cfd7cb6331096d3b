/*
 * libgenmodel — generative adversarial networks.
 *
 * The adversarial-loss module: pure functions from discriminator logits
 * (raw outputs, any batch-first shape) to a loss value and its gradient,
 * a discriminator side and a generator side for each loss family. Each
 * batch term is a mean over its elements; gradients are written (=).
 * With r the logits of real data and f those of generated data, t the real
 * label (1, or less for one-sided label smoothing) and
 * softplus(x) = log(1 + exp(x)):
 *
 *   family           discriminator loss                      generator loss
 *   NONSATURATING    mean(t sp(-r) + (1-t) sp(r)) + mean(sp(f))   mean(sp(-f))
 *   MINIMAX          as NONSATURATING                             -mean(sp(f))
 *   LEAST_SQUARES    mean((r - t)^2)/2 + mean(f^2)/2              mean((f - 1)^2)/2
 *   HINGE            mean(max(0, 1 - r)) + mean(max(0, 1 + f))    -mean(f)
 *   WASSERSTEIN      mean(f) - mean(r)                            -mean(f)
 *
 * NONSATURATING is binary cross-entropy from logits (D(x) = sigmoid(r)),
 * computed without overflow for any finite logit. Label smoothing applies
 * to the cross-entropy and least-squares families only.
 *
 * Threading: pure functions; thread-safe on distinct outputs.
 */
#ifndef GENMODEL_GAN_H
#define GENMODEL_GAN_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Loss families. Values are part of the ABI and of checkpoint files. */
typedef enum gm_gan_loss {
    GM_GAN_NONSATURATING = 0,
    GM_GAN_MINIMAX = 1,
    GM_GAN_LEAST_SQUARES = 2,
    GM_GAN_HINGE = 3,
    GM_GAN_WASSERSTEIN = 4
} gm_gan_loss;

/**
 * Discriminator loss on a batch of real and a batch of generated logits.
 * The loss is the sum of a real term and a fake term, and either side may
 * be NULL to compute the other term alone (e.g. to run the backward pass
 * of the real batch before the discriminator sees the fake one).
 * @param real, fake   logits; batch sizes may differ; finite; not both
 *                     NULL.
 * @param real_label   t in (0, 1]: 1 for none, e.g. 0.9 for one-sided
 *                     smoothing; must be 1 for HINGE and WASSERSTEIN.
 * @param[out] loss    the value.
 * @param d_real, d_fake  NULL, or tensors of real's / fake's shape
 *                     (ignored when that side is NULL):
 *                     d(loss)/d(logits), written.
 * @return GM_OK; GM_EINVAL (NULL, unknown family, non-finite logits,
 *         real_label out of range); GM_ESHAPE (a gradient's shape).
 *         On error nothing is written.
 */
GM_API gm_status gm_gan_d_loss(gm_gan_loss family, const gm_tensor *real,
                               const gm_tensor *fake, float real_label,
                               float *loss, gm_tensor *d_real,
                               gm_tensor *d_fake);

/**
 * Generator loss on the discriminator's logits for generated data.
 * @param d_fake  NULL, or fake's shape: d(loss)/d(fake), written; feed it
 *                to the discriminator's backward pass (with its parameters
 *                frozen) to get the gradient for the generator's output.
 * @return GM_OK; GM_EINVAL (NULL, unknown family, non-finite logits);
 *         GM_ESHAPE. On error nothing is written.
 */
GM_API gm_status gm_gan_g_loss(gm_gan_loss family, const gm_tensor *fake,
                               float *loss, gm_tensor *d_fake);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_GAN_H */
