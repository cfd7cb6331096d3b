/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — gm_net: a sequential stack of layers with forward and
 * backward passes.
 *
 * The net owns the layers added to it and keeps all their parameters in
 * one flat float buffer, layer after layer in the order added, each in the
 * layout given in layer.h; gradients mirror it. That buffer can be read and
 * written whole (gm_net_get_params, ...), e.g. to all-reduce gradients or
 * to save a model.
 *
 * Activation buffers are sized on the first forward for a batch shape and
 * reused: forward, backward and an optimizer step on a batch of the same
 * shape allocate nothing.
 *
 * Threading: a net is used by one thread at a time; different nets may be
 * used from different threads at once.
 */
#ifndef GENMODEL_NET_H
#define GENMODEL_NET_H

#include "core.h"
#include "layer.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A sequential stack of layers (gm_net_create, gm_net_free). */
typedef struct gm_net gm_net;

/** Creates an empty net in training mode.
 *  @param[out] out  the new net, owned by the caller (gm_net_free).
 *  @return GM_OK, GM_EINVAL (out NULL) or GM_ENOMEM. */
GM_API gm_status gm_net_create(gm_net **out);

/** Frees the net and every layer it owns. NULL is ignored, and so is a net
 *  that belongs to a VAE or GAN (the model frees it). */
GM_API void gm_net_free(gm_net *net);

/**
 * Appends a layer. On success the net owns the layer (do not free it); on
 * failure the caller still owns it and the net is unchanged.
 * Shapes are checked on the first forward, when the input shape is known.
 * @return GM_OK; GM_EINVAL (NULL, or the layer already belongs to a net);
 *         GM_ESTATE (the net belongs to a VAE or GAN, whose optimizers
 *         are sized for its layers); GM_ENOMEM.
 */
GM_API gm_status gm_net_add(gm_net *net, gm_layer *layer);

/** Number of layers, or 0 for NULL. */
GM_API size_t gm_net_num_layers(const gm_net *net);

/** The i-th layer, borrowed from the net (valid until the net is freed),
 *  or NULL if net is NULL or i is out of range. */
GM_API gm_layer *gm_net_layer(gm_net *net, size_t i);

/**
 * Computes the output shape for an input shape (batch first).
 * @param[out] out_ndim   receives the output rank.
 * @param[out] out_shape  array of at least GM_MAX_DIMS elements.
 * @return GM_OK; GM_EINVAL (NULL, empty net, bad in_shape); GM_ENOMEM
 *         (in_shape's element count overflows); GM_ESHAPE if a layer cannot
 *         take the shape it would receive.
 */
GM_API gm_status gm_net_output_shape(const gm_net *net, size_t in_ndim,
                                     const size_t *in_shape, size_t *out_ndim,
                                     size_t *out_shape);

/**
 * Forward pass: y = net(x). The input is copied, so x may change or be
 * freed afterwards. Activations are kept for gm_net_backward.
 * @param x  input, batch first.
 * @param y  caller's tensor of exactly the output shape (see
 *           gm_net_output_shape); written.
 * @return GM_OK; GM_EINVAL (NULL, empty net, x contains NaN/inf, a
 *         batchnorm layer in training mode would see one value per
 *         feature: see gm_batchnorm_create);
 *         GM_ESHAPE (x does not fit the layers, or y has the wrong shape);
 *         GM_ENOMEM (buffers for a new batch shape could not be allocated).
 */
GM_API gm_status gm_net_forward(gm_net *net, const gm_tensor *x, gm_tensor *y);

/**
 * Backward pass for the last forward: accumulates (+=) the parameter
 * gradients of every trainable layer and, if dx is not NULL, writes the
 * gradient with respect to the input into dx.
 * @param dy  gradient of the loss with respect to y, shape of y.
 * @param dx  NULL, or a tensor of the shape of x.
 * @return GM_OK; GM_EINVAL (NULL net/dy); GM_ESHAPE (dy or dx shape);
 *         GM_ESTATE (no forward yet, or the parameters changed since it).
 */
GM_API gm_status gm_net_backward(gm_net *net, const gm_tensor *dy,
                                 gm_tensor *dx);

/** Sets every parameter gradient to zero. @return GM_OK or GM_EINVAL. */
GM_API gm_status gm_net_zero_grad(gm_net *net);

/** Training (1, the default) or evaluation (0) mode: dropout is only
 *  active in training. @return GM_OK or GM_EINVAL. */
GM_API gm_status gm_net_set_training(gm_net *net, int training);

/** 1 in training mode, 0 in evaluation mode or for NULL. */
GM_API int gm_net_is_training(const gm_net *net);

/**
 * Freezes (trainable = 0) or unfreezes layer i: a frozen layer still passes
 * gradients to its input, but its parameter gradients are not accumulated
 * and optimizers leave its parameters alone.
 * @return GM_OK; GM_EINVAL (NULL, i out of range).
 */
GM_API gm_status gm_net_set_trainable(gm_net *net, size_t i, int trainable);

/** Total number of parameters (trainable or not), 0 for NULL. */
GM_API size_t gm_net_param_count(const gm_net *net);

/** Copies all parameters into dst[0 .. n) in the flat layout.
 *  @return GM_OK; GM_EINVAL; GM_ESHAPE if n != param count. */
GM_API gm_status gm_net_get_params(const gm_net *net, float *dst, size_t n);

/** Copies src[0 .. n) into all parameters.
 *  @return GM_OK; GM_EINVAL (NULL or a non-finite value, net unchanged);
 *          GM_ESHAPE if n != param count. */
GM_API gm_status gm_net_set_params(gm_net *net, const float *src, size_t n);

/** Copies all parameter gradients into dst[0 .. n).
 *  @return GM_OK; GM_EINVAL; GM_ESHAPE if n != param count. */
GM_API gm_status gm_net_get_grads(const gm_net *net, float *dst, size_t n);

/** Replaces all parameter gradients with src[0 .. n) (e.g. after an
 *  all-reduce). @return GM_OK; GM_EINVAL (NULL or non-finite, unchanged);
 *  GM_ESHAPE if n != param count. */
GM_API gm_status gm_net_set_grads(gm_net *net, const float *src, size_t n);

/** The L2 norm of all trainable gradients into *norm (may be inf or NaN if
 *  the gradients are). @return GM_OK or GM_EINVAL. */
GM_API gm_status gm_net_grad_norm(const gm_net *net, float *norm);

/**
 * Scales the trainable gradients so that their global L2 norm is at most
 * max_norm (torch.nn.utils.clip_grad_norm_).
 * @param max_norm     finite, > 0.
 * @param norm_before  NULL, or receives the norm before clipping.
 * @return GM_OK; GM_EINVAL; GM_ENUMERIC if the norm is not finite (the
 *         gradients are then unchanged).
 */
GM_API gm_status gm_net_clip_grad_norm(gm_net *net, float max_norm,
                                       float *norm_before);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_NET_H */
