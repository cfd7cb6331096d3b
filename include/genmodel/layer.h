/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — layers.
 *
 * A layer maps a batch of samples to a batch of samples: the first
 * dimension of its input is the batch size N, the rest is the per-sample
 * shape. A new layer is owned by the caller until it is added to a gm_net
 * (gm_net_add), which then owns it: from then on the layer handle is
 * borrowed from the net, stays valid until the net is freed, and must not
 * be passed to gm_layer_free().
 *
 * Parameters are float32. Their flat layout per layer type:
 *   dense: weight [out_features x in_features] row-major (as
 *          torch.nn.Linear), then bias [out_features].
 *   conv2d: weight [out_ch x in_ch x k x k] (torch.nn.Conv2d), then bias
 *          [out_ch].
 *   conv_transpose2d: weight [in_ch x out_ch x k x k]
 *          (torch.nn.ConvTranspose2d), then bias [out_ch].
 *   batchnorm: gamma [F], then beta [F]; its running statistics are
 *          state, not parameters.
 *   all other layers of this header: no parameters.
 * Threading: a layer is used by one thread at a time.
 */
#ifndef GENMODEL_LAYER_H
#define GENMODEL_LAYER_H

#include "core.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A layer (gm_dense_create, ..., gm_layer_free; a net owns the layers
 *  added to it). */
typedef struct gm_layer gm_layer;

/** Layer types. Values are part of the ABI and of checkpoint files. */
typedef enum gm_layer_kind {
    GM_LAYER_DENSE = 1,
    GM_LAYER_RELU = 2,
    GM_LAYER_LEAKY_RELU = 3,
    GM_LAYER_SIGMOID = 4,
    GM_LAYER_TANH = 5,
    GM_LAYER_SOFTPLUS = 6,
    GM_LAYER_ELU = 7,
    GM_LAYER_DROPOUT = 8,
    GM_LAYER_RESHAPE = 9,
    GM_LAYER_FLATTEN = 10,
    GM_LAYER_CONV2D = 11,
    GM_LAYER_CONV_TRANSPOSE2D = 12,
    GM_LAYER_BATCHNORM = 13
} gm_layer_kind;

/** Weight initializations. Biases start at zero except for GM_INIT_TORCH. */
typedef enum gm_init {
    GM_INIT_HE = 0,      /**< W ~ N(0, 2 / in): for ReLU-family layers */
    GM_INIT_XAVIER = 1,  /**< W ~ U(+-sqrt(6 / (in + out))): tanh/sigmoid */
    GM_INIT_TORCH = 2,   /**< W, b ~ U(+-1 / sqrt(in)), torch.nn.Linear's */
    GM_INIT_ZEROS = 3    /**< all zero; needs no generator */
} gm_init;

/**
 * Fully connected layer: y = x W^T + b, x [N x in], y [N x out]. Inputs
 * of higher rank are read as [N x (product of the other dims)].
 * @param[out] out   the new layer, owned by the caller until added to a net.
 * @param in_features, out_features  >= 1, and their product fits 2^31.
 * @param init       a gm_init value.
 * @param rng        draws the initial weights (advanced; not kept); may be
 *                   NULL only with GM_INIT_ZEROS.
 * @return GM_OK; GM_EINVAL (NULL out, a size 0 or too large, unknown init,
 *         missing rng); GM_ENOMEM.
 */
GM_API gm_status gm_dense_create(gm_layer **out, size_t in_features,
                                 size_t out_features, gm_init init,
                                 gm_rng *rng);

/** y = max(x, 0). @return GM_OK, GM_EINVAL (out NULL) or GM_ENOMEM. */
GM_API gm_status gm_relu_create(gm_layer **out);

/** y = x if x > 0, else alpha x. @param alpha finite, 0 <= alpha < 1.
 *  @return GM_OK, GM_EINVAL or GM_ENOMEM. */
GM_API gm_status gm_leaky_relu_create(gm_layer **out, float alpha);

/** y = 1 / (1 + exp(-x)). @return GM_OK, GM_EINVAL or GM_ENOMEM. */
GM_API gm_status gm_sigmoid_create(gm_layer **out);

/** y = tanh(x). @return GM_OK, GM_EINVAL or GM_ENOMEM. */
GM_API gm_status gm_tanh_create(gm_layer **out);

/** y = log(1 + exp(x)), computed without overflow.
 *  @return GM_OK, GM_EINVAL or GM_ENOMEM. */
GM_API gm_status gm_softplus_create(gm_layer **out);

/** y = x if x > 0, else alpha (exp(x) - 1). @param alpha finite, > 0.
 *  @return GM_OK, GM_EINVAL or GM_ENOMEM. */
GM_API gm_status gm_elu_create(gm_layer **out, float alpha);

/**
 * Inverted dropout: in training mode each element is zeroed with
 * probability p and the others scaled by 1 / (1 - p); in evaluation mode
 * it is the identity. The mask of sample i at the layer's t-th training
 * forward is a pure function of (seed, t, i), so it does not depend on
 * batch splitting or threads.
 * @param p     0 <= p < 1.
 * @param seed  seed of the layer's own generator.
 * @return GM_OK, GM_EINVAL or GM_ENOMEM.
 */
GM_API gm_status gm_dropout_create(gm_layer **out, float p, uint64_t seed);

/**
 * Gives each sample a new shape with the same element count, e.g. 784 ->
 * 1 x 28 x 28. The batch dimension is kept and not part of `shape`.
 * @param ndim   1 .. GM_MAX_DIMS - 1.
 * @param shape  ndim sizes >= 1 (copied).
 * @return GM_OK, GM_EINVAL, or GM_ENOMEM (also if the element count
 *         overflows).
 */
GM_API gm_status gm_reshape_create(gm_layer **out, size_t ndim,
                                   const size_t *shape);

/** Flattens each sample to one dimension: [N x ...] -> [N x D].
 *  @return GM_OK, GM_EINVAL or GM_ENOMEM. */
GM_API gm_status gm_flatten_create(gm_layer **out);

/**
 * 2-D convolution over samples [in_ch x H x W] (NCHW batches): square
 * kernel, stride, zero padding; output [out_ch x Ho x Wo] with
 * Ho = (H + 2 padding - kernel) / stride + 1 (rounded down). Computed as
 * im2col and one sgemm per sample.
 * @param in_channels, out_channels  1 .. 65536.
 * @param kernel     1 .. 64;  stride: 1 .. 64;  padding: < kernel.
 * @param init, rng  as gm_dense_create (fan-in in_channels k^2).
 * @return GM_OK; GM_EINVAL (a value out of range, the weight count over
 *         2^31, missing rng); GM_ENOMEM.
 */
GM_API gm_status gm_conv2d_create(gm_layer **out, size_t in_channels,
                                  size_t out_channels, size_t kernel,
                                  size_t stride, size_t padding, gm_init init,
                                  gm_rng *rng);

/**
 * Transposed 2-D convolution (the adjoint of gm_conv2d_create's operation,
 * as torch.nn.ConvTranspose2d without output_padding): samples
 * [in_ch x H x W] to [out_ch x Ho x Wo], Ho = (H - 1) stride -
 * 2 padding + kernel. Arguments and errors as gm_conv2d_create (fan-in
 * out_channels k^2, as torch computes it).
 */
GM_API gm_status gm_conv_transpose2d_create(gm_layer **out, size_t in_channels,
                                            size_t out_channels, size_t kernel,
                                            size_t stride, size_t padding,
                                            gm_init init, gm_rng *rng);

/**
 * Batch normalization (torch.nn.BatchNorm1d / BatchNorm2d): samples of [F]
 * are normalized per feature, samples of [F x H x W] per channel (over the
 * batch and the spatial positions). In training mode the batch statistics
 * are used and the running ones updated, r = (1 - momentum) r +
 * momentum * batch (the variance unbiased); in evaluation mode the running
 * statistics are used. gamma starts at 1, beta at 0, the running mean at
 * 0 and the running variance at 1. As torch, a training-mode forward that
 * would give the layer one value per feature (a batch of one sample of
 * [F], or of [F x 1 x 1]) is refused with GM_EINVAL naming the layer index
 * and the batch size: its batch variance is 0 and would decay the running
 * variance. Evaluation mode takes any batch.
 * @param features  F, 1 .. 2^24.
 * @param momentum  (0, 1]; torch's default is 0.1.
 * @param eps       (0, 1], added to the variance; torch's default 1e-5.
 * @return GM_OK; GM_EINVAL (a value out of range); GM_ENOMEM.
 */
GM_API gm_status gm_batchnorm_create(gm_layer **out, size_t features,
                                     float momentum, float eps);

/**
 * Spectral normalization (Miyato et al. 2018), as
 * torch.nn.utils.spectral_norm: from now on the layer computes with
 * W / sigma(W), sigma the largest singular value of the weight read as a
 * matrix with one row per output channel ([out x rest]; for a transposed
 * convolution, [out_ch x in_ch k k], torch's dim=1). sigma is estimated by
 * power iteration: each training forward runs `power_iterations` steps
 * v = normalize(W^T u), u = normalize(W v), then sigma = u . W v; an
 * evaluation forward uses u and v as they are. Gradients treat u and v as
 * constants, as torch does. The parameters stay the raw W (torch's
 * weight_orig) and the bias; u and v are layer state (kept by checkpoints).
 * Call it on a new layer, before gm_net_add.
 * @param layer             a dense, conv2d or conv_transpose2d layer the
 *                          caller owns.
 * @param power_iterations  1 .. 100 (torch's default: 1).
 * @param eps               (0, 1], the floor of a norm in normalize
 *                          (torch's default: 1e-12).
 * @param rng               draws the initial u and v ~ normalize(N(0, I))
 *                          (advanced; not kept).
 * @return GM_OK; GM_EINVAL (NULL, a value out of range); GM_EUNSUPPORTED
 *         (another layer type); GM_ESTATE (the layer is in a net, or
 *         already normalized); GM_ENOMEM. On error the layer is unchanged.
 */
GM_API gm_status gm_layer_spectral_norm(gm_layer *layer, size_t power_iterations, float eps,
                                        gm_rng *rng);

/** Power iterations per training forward, or 0 if the layer (or NULL) is
 *  not spectrally normalized. */
GM_API size_t gm_layer_spectral_norm_iterations(const gm_layer *layer);

/** The sigma the layer's last forward divided its weight by (1 before any
 *  forward), or 0 if it is not spectrally normalized. */
GM_API float gm_layer_spectral_sigma(const gm_layer *layer);

/** Frees a layer that is not part of a net. NULL is ignored; a layer owned
 *  by a net is left alone (the net frees it). */
GM_API void gm_layer_free(gm_layer *layer);

/** The layer's type, or 0 if layer is NULL. */
GM_API gm_layer_kind gm_layer_get_kind(const gm_layer *layer);

/** A constant name of the layer's type ("dense", "relu", ...); never NULL. */
GM_API const char *gm_layer_name(const gm_layer *layer);

/** Number of parameters (0 for parameter-free layers or NULL). */
GM_API size_t gm_layer_param_count(const gm_layer *layer);

/**
 * Copies the parameters (layout in the file comment) into dst[0 .. n).
 * @return GM_OK; GM_EINVAL (NULL); GM_ESHAPE if n != param count.
 */
GM_API gm_status gm_layer_get_params(const gm_layer *layer, float *dst,
                                     size_t n);

/**
 * Copies src[0 .. n) into the parameters.
 * @return GM_OK; GM_EINVAL (NULL or a non-finite value: the layer is then
 *         unchanged); GM_ESHAPE if n != param count.
 */
GM_API gm_status gm_layer_set_params(gm_layer *layer, const float *src,
                                     size_t n);

/** Copies the accumulated parameter gradients into dst[0 .. n).
 *  @return GM_OK; GM_EINVAL; GM_ESHAPE if n != param count. */
GM_API gm_status gm_layer_get_grads(const gm_layer *layer, float *dst,
                                    size_t n);

/* ---- layer state (not parameters) --------------------------------------
 * Readers of what a layer keeps besides its parameters, to inspect a
 * model (a trained net's batchnorm statistics, a spectral norm's
 * singular-vector estimates). None of them changes the layer, and each
 * leaves dst untouched on error. Threading: as the layer (a reader may run
 * alongside other readers of the same layer). */

/** The feature (channel) count F of a batchnorm layer, or 0 if layer is
 *  NULL or not a batchnorm layer. */
GM_API size_t gm_layer_batchnorm_features(const gm_layer *layer);

/**
 * Copies a batchnorm layer's running mean (what evaluation mode
 * subtracts; starts at 0) into dst[0 .. n).
 * @param n  the feature count, gm_layer_batchnorm_features(layer).
 * @return GM_OK; GM_EINVAL (NULL); GM_EUNSUPPORTED (not a batchnorm
 *         layer); GM_ESHAPE if n differs from the feature count.
 */
GM_API gm_status gm_layer_get_running_mean(const gm_layer *layer, float *dst, size_t n);

/**
 * Copies a batchnorm layer's running variance (unbiased, as torch keeps
 * it; starts at 1) into dst[0 .. n). Same arguments and errors as
 * gm_layer_get_running_mean.
 */
GM_API gm_status gm_layer_get_running_var(const gm_layer *layer, float *dst, size_t n);

/** Length of a spectrally normalized layer's left singular-vector
 *  estimate u: one value per output unit or channel (out_features,
 *  out_ch); 0 if layer is NULL or not spectrally normalized. */
GM_API size_t gm_layer_spectral_u_count(const gm_layer *layer);

/** Length of the right singular-vector estimate v: the weight's element
 *  count over gm_layer_spectral_u_count (in_features; in_ch k k); 0 if
 *  layer is NULL or not spectrally normalized. */
GM_API size_t gm_layer_spectral_v_count(const gm_layer *layer);

/**
 * Copies the spectral norm's u (unit length after the first training
 * forward, as drawn by gm_layer_spectral_norm before it; torch's
 * weight_u) into dst[0 .. n). Sigma is then u . W v.
 * @param n  gm_layer_spectral_u_count(layer).
 * @return GM_OK; GM_EINVAL (NULL); GM_ESTATE (the layer is not spectrally
 *         normalized); GM_ESHAPE if n differs from the count.
 */
GM_API gm_status gm_layer_get_spectral_u(const gm_layer *layer, float *dst, size_t n);

/**
 * Copies the spectral norm's v (torch's weight_v) into dst[0 .. n), in the
 * weight's layout with the output axis left out (dense: [in_features];
 * conv2d: [in_ch x k x k]; conv_transpose2d: [in_ch x k x k]). Same
 * errors as gm_layer_get_spectral_u, with n = gm_layer_spectral_v_count.
 */
GM_API gm_status gm_layer_get_spectral_v(const gm_layer *layer, float *dst, size_t n);

#ifndef GM_NO_EXPERIMENTAL
/** Experimental: the number of floats of all the layer's state (what a
 *  checkpoint keeps besides the parameters: batchnorm [mean | var],
 *  spectral norm [u | v]), 0 for none or NULL. The layout may change. */
GM_EXPERIMENTAL size_t gm_layer_state_count(const gm_layer *layer);

/** Experimental: copies all the layer's state (gm_layer_state_count) into
 *  dst[0 .. n).
 *  @return GM_OK; GM_EINVAL (NULL); GM_ESHAPE if n differs. */
GM_EXPERIMENTAL gm_status gm_layer_get_state(const gm_layer *layer, float *dst, size_t n);
#endif

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_LAYER_H */
