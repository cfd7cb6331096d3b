/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — tensors: float32, contiguous, row-major, batch first
 * (N x D or N x C x H x W), 1 to 4 dimensions, every dimension >= 1.
 *
 * A tensor either owns its storage (gm_tensor_create, gm_tensor_from_data)
 * or borrows caller memory (gm_tensor_wrap), which must then stay valid
 * and must not be freed while the tensor exists. Freeing a tensor frees
 * owned storage only. Threading: one tensor is used by one thread at a
 * time; functions taking `const gm_tensor *` only read it.
 */
#ifndef GENMODEL_TENSOR_H
#define GENMODEL_TENSOR_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The most dimensions a tensor has. */
#define GM_MAX_DIMS 4

/** A float32 tensor (gm_tensor_create, gm_tensor_free). */
typedef struct gm_tensor gm_tensor;

/**
 * Creates a zero-filled tensor that owns its storage.
 * @param[out] out  the new tensor, owned by the caller (gm_tensor_free).
 * @param ndim      1 .. GM_MAX_DIMS.
 * @param shape     ndim sizes, each >= 1; copied.
 * @return GM_OK; GM_EINVAL (NULL pointer, ndim or a size out of range);
 *         GM_ENOMEM (allocation failed or the element count overflows).
 */
GM_API gm_status gm_tensor_create(gm_tensor **out, size_t ndim,
                                  const size_t *shape);

/**
 * Creates a tensor that owns a copy of data[0 .. product(shape)).
 * Same errors as gm_tensor_create, and GM_EINVAL if data is NULL.
 */
GM_API gm_status gm_tensor_from_data(gm_tensor **out, size_t ndim,
                                     const size_t *shape, const float *data);

/**
 * Creates a tensor that borrows data[0 .. product(shape)) without a copy
 * (zero-copy views of numpy arrays or Rust slices). The caller keeps
 * ownership of `data` and must keep it valid while the tensor exists;
 * functions that write a tensor write into that memory.
 * Same errors as gm_tensor_from_data.
 */
GM_API gm_status gm_tensor_wrap(gm_tensor **out, size_t ndim,
                                const size_t *shape, float *data);

/** Frees the tensor and the storage it owns (not borrowed storage).
 *  NULL is ignored. */
GM_API void gm_tensor_free(gm_tensor *t);

/** Number of dimensions, or 0 if t is NULL. */
GM_API size_t gm_tensor_ndim(const gm_tensor *t);

/** Size of dimension i, or 0 if t is NULL or i >= ndim. */
GM_API size_t gm_tensor_dim(const gm_tensor *t, size_t i);

/** Number of elements (product of the shape), or 0 if t is NULL. */
GM_API size_t gm_tensor_numel(const gm_tensor *t);

/**
 * Copies the shape into shape[0 .. ndim) and the rank into *ndim.
 * @param[out] ndim   receives the rank.
 * @param[out] shape  array of at least GM_MAX_DIMS elements.
 * @return GM_OK or GM_EINVAL (a pointer NULL).
 */
GM_API gm_status gm_tensor_shape(const gm_tensor *t, size_t *ndim,
                                 size_t *shape);

/** Pointer to the first element, owned by the tensor (or by the caller for
 *  wrapped tensors); valid until the tensor is freed. NULL if t is NULL. */
GM_API float *gm_tensor_data(gm_tensor *t);

/** Read-only pointer to the first element; NULL if t is NULL. */
GM_API const float *gm_tensor_data_const(const gm_tensor *t);

/**
 * Copies the elements into dst[0 .. n).
 * @return GM_OK; GM_EINVAL (NULL pointer); GM_ESHAPE if n != numel.
 */
GM_API gm_status gm_tensor_copy_out(const gm_tensor *t, float *dst, size_t n);

/**
 * Copies src[0 .. n) into the tensor.
 * @return GM_OK; GM_EINVAL (NULL pointer); GM_ESHAPE if n != numel.
 */
GM_API gm_status gm_tensor_copy_in(gm_tensor *t, const float *src, size_t n);

/** Sets every element to `value`. @return GM_OK or GM_EINVAL. */
GM_API gm_status gm_tensor_fill(gm_tensor *t, float value);

/** Fills the tensor with standard normal values drawn from rng (in
 *  row-major order, as gm_rng_normal on numel values).
 *  @return GM_OK or GM_EINVAL (NULL). */
GM_API gm_status gm_tensor_fill_normal(gm_tensor *t, gm_rng *rng);

/** Fills the tensor with values uniform in [0, 1) drawn from rng.
 *  @return GM_OK or GM_EINVAL (NULL). */
GM_API gm_status gm_tensor_fill_uniform(gm_tensor *t, gm_rng *rng);

/**
 * Gives the tensor a new shape with the same number of elements (a view
 * of the same storage in another shape).
 * @return GM_OK; GM_EINVAL (bad ndim/shape); GM_ENOMEM (the new shape's
 *         element count overflows); GM_ESHAPE if the element count differs.
 *         On error the shape is unchanged.
 */
GM_API gm_status gm_tensor_reshape(gm_tensor *t, size_t ndim,
                                   const size_t *shape);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_TENSOR_H */
