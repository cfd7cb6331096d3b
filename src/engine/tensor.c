/* SPDX-License-Identifier: MIT */
/* gm_tensor: float32, contiguous, row-major, batch first. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"

gm_status gm__check_shape(const char *fn, size_t ndim, const size_t *shape,
                          size_t *numel)
{
    if (shape == NULL) return gm__set_error(GM_EINVAL, fn, "shape must not be NULL");
    if (ndim < 1 || ndim > GM_MAX_DIMS)
        return gm__set_error(GM_EINVAL, fn, "ndim must be in [1, %d], got %zu",
                             GM_MAX_DIMS, ndim);
    size_t n = 1;
    for (size_t i = 0; i < ndim; i++) {
        if (shape[i] == 0)
            return gm__set_error(GM_EINVAL, fn, "shape[%zu] must be >= 1, got 0", i);
        size_t bytes;
        if (!gm__mul_ok(n, shape[i], &n) || !gm__mul_ok(n, sizeof(float), &bytes))
            return gm__set_error(GM_ENOMEM, fn,
                                 "shape[%zu] = %zu makes the element count overflow",
                                 i, shape[i]);
    }
    *numel = n;
    return GM_OK;
}

void gm__tensor_view(gm_tensor *t, size_t ndim, const size_t *shape, float *data)
{
    t->ndim = ndim;
    t->numel = 1;
    for (size_t i = 0; i < GM_MAX_DIMS; i++) {
        t->shape[i] = i < ndim ? shape[i] : 0;
        if (i < ndim) t->numel *= shape[i];
    }
    t->data = data;
    t->owns_data = 0;
}

int gm__same_shape(const gm_tensor *a, const gm_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (size_t i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

GM__HOT size_t gm__find_nonfinite(const float *x, size_t n)
{
    /* Branch-free scan: x * 0 is 0 for finite x and NaN for inf / NaN, so
     * a sum of them is 0 exactly when all are finite. GM__VB independent
     * sums (one sum would chain every add on the last) let the block
     * vectorize; the element is located only when one is found. */
    float acc[GM__VB] = {0};
    size_t i = 0;
    for (; i + GM__VB <= n; i += GM__VB)
        for (size_t j = 0; j < GM__VB; j++) acc[j] += x[i + j] * 0.0f;
    float all = 0.0f;
    for (size_t j = 0; j < GM__VB; j++) all += acc[j];
    for (; i < n; i++) all += x[i] * 0.0f;
    if (all == 0.0f) return n;
    for (i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

gm_status gm__check_all_finite(const char *fn, const char *name, const float *x, size_t n)
{
    const size_t bad = gm__find_nonfinite(x, n);
    if (bad == n) return GM_OK;
    return gm__set_error(GM_EINVAL, fn, "%s[%zu] is not finite (%g)", name, bad, (double)x[bad]);
}

gm_status gm__check_finite_rows(const char *fn, const char *name, const gm_tensor *t)
{
    const size_t bad = gm__find_nonfinite(t->data, t->numel);
    if (bad == t->numel) return GM_OK;
    const size_t w = gm__tensor_width(t);
    return gm__set_error(GM_EINVAL, fn, "%s row %zu, element %zu is not finite (%g)", name,
                         bad / w, bad % w, (double)t->data[bad]);
}

static gm_status gm__tensor_new(gm_tensor **out, size_t ndim,
                                const size_t *shape, float *borrowed,
                                const float *copy_from, const char *fn)
{
    size_t numel;
    gm_status st = gm__check_shape(fn, ndim, shape, &numel);
    if (st != GM_OK) return st;
    gm_tensor *t = gm__malloc(sizeof *t);
    if (t == NULL) return gm__set_error(GM_ENOMEM, fn, "cannot allocate a tensor");
    gm__tensor_view(t, ndim, shape, borrowed);
    if (borrowed == NULL) {
        t->data = copy_from ? gm__malloc_array(numel, sizeof(float))
                            : gm__calloc_array(numel, sizeof(float));
        if (t->data == NULL) {
            gm__free(t);
            return gm__set_error(GM_ENOMEM, fn,
                                 "cannot allocate %zu floats", numel);
        }
        if (copy_from) memcpy(t->data, copy_from, numel * sizeof(float));
        t->owns_data = 1;
    }
    *out = t;
    return GM_OK;
}

gm_status gm_tensor_create(gm_tensor **out, size_t ndim, const size_t *shape)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    return gm__tensor_new(out, ndim, shape, NULL, NULL, __func__);
}

gm_status gm_tensor_from_data(gm_tensor **out, size_t ndim,
                              const size_t *shape, const float *data)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK_NULL(data);
    return gm__tensor_new(out, ndim, shape, NULL, data, __func__);
}

gm_status gm_tensor_wrap(gm_tensor **out, size_t ndim, const size_t *shape,
                         float *data)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK_NULL(data);
    return gm__tensor_new(out, ndim, shape, data, NULL, __func__);
}

void gm_tensor_free(gm_tensor *t)
{
    if (t == NULL) return;
    if (t->owns_data) gm__free(t->data);
    gm__free(t);
}

size_t gm_tensor_ndim(const gm_tensor *t) { return t ? t->ndim : 0; }

size_t gm_tensor_dim(const gm_tensor *t, size_t i)
{
    return (t && i < t->ndim) ? t->shape[i] : 0;
}

size_t gm_tensor_numel(const gm_tensor *t) { return t ? t->numel : 0; }

gm_status gm_tensor_shape(const gm_tensor *t, size_t *ndim, size_t *shape)
{
    GM_CHECK_NULL(t);
    GM_CHECK_NULL(ndim);
    GM_CHECK_NULL(shape);
    *ndim = t->ndim;
    for (size_t i = 0; i < t->ndim; i++) shape[i] = t->shape[i];
    return GM_OK;
}

float *gm_tensor_data(gm_tensor *t) { return t ? t->data : NULL; }

const float *gm_tensor_data_const(const gm_tensor *t)
{
    return t ? t->data : NULL;
}

gm_status gm_tensor_copy_out(const gm_tensor *t, float *dst, size_t n)
{
    GM_CHECK_NULL(t);
    GM_CHECK_NULL(dst);
    GM_CHECK(n == t->numel, GM_ESHAPE,
             "n must equal the element count %zu, got %zu", t->numel, n);
    memcpy(dst, t->data, n * sizeof(float));
    return GM_OK;
}

gm_status gm_tensor_copy_in(gm_tensor *t, const float *src, size_t n)
{
    GM_CHECK_NULL(t);
    GM_CHECK_NULL(src);
    GM_CHECK(n == t->numel, GM_ESHAPE,
             "n must equal the element count %zu, got %zu", t->numel, n);
    memmove(t->data, src, n * sizeof(float));
    return GM_OK;
}

gm_status gm_tensor_fill(gm_tensor *t, float value)
{
    GM_CHECK_NULL(t);
    for (size_t i = 0; i < t->numel; i++) t->data[i] = value;
    return GM_OK;
}

gm_status gm_tensor_reshape(gm_tensor *t, size_t ndim, const size_t *shape)
{
    GM_CHECK_NULL(t);
    size_t numel;
    gm_status st = gm__check_shape(__func__, ndim, shape, &numel);
    if (st != GM_OK) return st;
    GM_CHECK(numel == t->numel, GM_ESHAPE,
             "the new shape has %zu elements, the tensor %zu", numel,
             t->numel);
    int owns = t->owns_data;
    gm__tensor_view(t, ndim, shape, t->data);
    t->owns_data = owns;
    return GM_OK;
}

gm_status gm_tensor_fill_normal(gm_tensor *t, gm_rng *rng)
{
    GM_CHECK_NULL(t);
    GM_CHECK_NULL(rng);
    return gm_rng_normal(rng, t->data, t->numel);
}

gm_status gm_tensor_fill_uniform(gm_tensor *t, gm_rng *rng)
{
    GM_CHECK_NULL(t);
    GM_CHECK_NULL(rng);
    return gm_rng_uniform(rng, t->data, t->numel);
}

gm_status gm__check_labels(const char *fn, const int32_t *labels, size_t n, size_t C)
{
    if (C == 0) {
        if (labels != NULL)
            return gm__set_error(GM_EINVAL, fn, "labels must be NULL for an unconditional model");
        return GM_OK;
    }
    if (labels == NULL)
        return gm__set_error(GM_EINVAL, fn, "labels must not be NULL: the model has %zu classes", C);
    for (size_t i = 0; i < n; i++)
        if (labels[i] < 0 || (size_t)labels[i] >= C)
            return gm__set_error(GM_EINVAL, fn, "labels[%zu] must be in [0, %zu), got %d", i, C,
                                 (int)labels[i]);
    return GM_OK;
}

gm_status gm__check_shard(const char *fn, size_t n, size_t offset, size_t total)
{
    if (!(total >= n && offset <= total - n && total <= GM__BLAS_MAX))
        return gm__set_error(GM_EINVAL, fn,
                             "the shard's rows [offset, offset + N) = [%zu, %zu + %zu) must lie "
                             "in [0, total = %zu), total <= %zu",
                             offset, offset, n, total, GM__BLAS_MAX);
    return GM_OK;
}

gm_status gm__check_grad_buffer(const char *fn, const float *g, size_t n)
{
    const size_t bad = gm__find_nonfinite(g, n);
    if (bad != n)
        return gm__set_error(GM_ENUMERIC, fn, "gradient %zu is not finite (%g); nothing was changed",
                             bad, (double)g[bad]);
    return GM_OK;
}

void gm__join_one_hot(float *dst, const float *src, size_t n, size_t d, const int32_t *labels,
                      size_t C)
{
    for (size_t i = 0; i < n; i++) {
        float *row = dst + i * (d + C);
        memcpy(row, src + i * d, d * sizeof(float));
        memset(row + d, 0, C * sizeof(float));
        row[d + (size_t)labels[i]] = 1.0f;
    }
}
