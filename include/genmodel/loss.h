/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — losses on tensors, each giving its value and its gradient
 * with respect to the prediction.
 *
 * Reductions (gm_reduction): with pred of shape [N x ...] and D the number
 * of elements per sample,
 *   GM_REDUCE_BATCH_MEAN  sum over the D features of a sample, mean over
 *                         the N samples (the convention of the ELBO);
 *   GM_REDUCE_MEAN        mean over all N * D elements (PyTorch's default);
 *   GM_REDUCE_SUM         sum over all elements.
 * The gradient is that of the reduced value, written (not accumulated)
 * into `grad`, which may be NULL when only the value is wanted.
 *
 * Threading: pure functions; thread-safe for distinct output tensors.
 * Errors: GM_EINVAL (NULL pred/target/loss, unknown reduction, targets out
 * of range, non-finite input), GM_ESHAPE (shapes differ). On error nothing
 * is written.
 */
#ifndef GENMODEL_LOSS_H
#define GENMODEL_LOSS_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** How a loss is reduced to one value (see the top of this file). */
typedef enum gm_reduction {
    GM_REDUCE_BATCH_MEAN = 0, /**< sum over a sample's features, mean over the samples */
    GM_REDUCE_MEAN = 1,       /**< mean over all elements */
    GM_REDUCE_SUM = 2         /**< sum over all elements */
} gm_reduction;

/**
 * Mean squared error: l = (pred - target)^2 per element, reduced.
 * @param pred, target  same shape.
 * @param[out] loss     the reduced value.
 * @param[out] grad     NULL, or a tensor of pred's shape: dloss/dpred.
 */
GM_API gm_status gm_loss_mse(const gm_tensor *pred, const gm_tensor *target,
                             gm_reduction reduction, float *loss,
                             gm_tensor *grad);

/**
 * Binary cross-entropy from logits, stable for any logit:
 * l = max(z, 0) - z t + log(1 + exp(-|z|)) per element, reduced.
 * @param logits  z, any finite values.
 * @param target  t, same shape, each in [0, 1].
 */
GM_API gm_status gm_loss_bce_logits(const gm_tensor *logits,
                                    const gm_tensor *target,
                                    gm_reduction reduction, float *loss,
                                    gm_tensor *grad);

/**
 * Softmax cross-entropy from logits [N x C] and class labels:
 * l_i = logsumexp(z_i) - z_i[label_i]. GM_REDUCE_BATCH_MEAN and
 * GM_REDUCE_MEAN both give the mean over the N samples.
 * @param labels    n_labels == N class indices, each in [0, C).
 * @param[out] correct  NULL, or receives how many rows have their largest
 *                      logit at the label (accuracy = correct / N).
 */
GM_API gm_status gm_loss_softmax_xent(const gm_tensor *logits,
                                      const int32_t *labels, size_t n_labels,
                                      gm_reduction reduction, float *loss,
                                      gm_tensor *grad, size_t *correct);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_LOSS_H */
