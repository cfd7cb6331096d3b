/* SPDX-License-Identifier: MIT */
/* Reshape and flatten: the same elements in another per-sample shape. */
#include <string.h>

#include "engine/engine.h"
#include "engine/layer_kinds.h"

static gm_status reshape_shape(const gm_layer *l, const char *fn, size_t in_nd,
                               const size_t *in, size_t *out_nd, size_t *out)
{
    size_t a = 1, b = 1;
    for (size_t i = 0; i < in_nd; i++) a *= in[i];
    for (size_t i = 0; i < GM__RESHAPE(l)->rndim; i++) b *= GM__RESHAPE(l)->rshape[i];
    if (a != b)
        return gm__set_error(GM_ESHAPE, fn,
                             "reshape layer needs %zu elements per sample, got %zu",
                             b, a);
    *out_nd = GM__RESHAPE(l)->rndim;
    memcpy(out, GM__RESHAPE(l)->rshape, GM__RESHAPE(l)->rndim * sizeof(size_t));
    return GM_OK;
}

static gm_status flatten_shape(const gm_layer *l, const char *fn, size_t in_nd,
                               const size_t *in, size_t *out_nd, size_t *out)
{
    (void)l;
    (void)fn;
    size_t a = 1;
    for (size_t i = 0; i < in_nd; i++) a *= in[i];
    *out_nd = 1;
    out[0] = a;
    return GM_OK;
}

static void copy_forward(gm_layer *l, float *y, const float *x, size_t n, int t)
{
    (void)t;
    memcpy(y, x, n * l->in_dim * sizeof(float));
}

static void copy_backward(gm_layer *l, float *dx, const float *dy,
                          const float *x, const float *y, size_t n)
{
    (void)x;
    (void)y;
    if (dx) memcpy(dx, dy, n * l->in_dim * sizeof(float));
}

static void reshape_save(const gm_layer *l, gm__hyper *h)
{
    h->u[0] = GM__RESHAPE(l)->rndim;
    for (size_t i = 0; i < GM__RESHAPE(l)->rndim; i++) h->u[1 + i] = GM__RESHAPE(l)->rshape[i];
}

static gm_status reshape_load(gm_layer **out, const gm__hyper *h)
{
    size_t shape[GM_MAX_DIMS - 1];
    for (size_t i = 0; i < GM_MAX_DIMS - 1; i++) shape[i] = (size_t)h->u[1 + i];
    return gm_reshape_create(out, (size_t)h->u[0], shape);
}

static gm_status flatten_load(gm_layer **out, const gm__hyper *h)
{
    (void)h;
    return gm_flatten_create(out);
}

/* Saved dimensions are bounded before the constructor sees them (no
 * parameter count bounds them): each, and their product, must fit one
 * BLAS dimension; 0 is unused, or refused by the constructor. */
static gm_status reshape_validate_hyper(const gm__hyper *h, const char *fn)
{
    uint64_t prod = 1;
    for (int k = 1; k < GM_MAX_DIMS; k++) {
        if (h->u[k] == 0) continue;
        if (h->u[k] > GM__BLAS_MAX || (prod *= h->u[k]) > GM__BLAS_MAX)
            return gm__set_error(GM_EINVAL, fn,
                                 "dimension %d (%llu) makes more than %zu values per sample",
                                 k - 1, (unsigned long long)h->u[k], GM__BLAS_MAX);
    }
    return GM_OK;
}

const gm__layer_vt gm__reshape_vt = {.kind = GM_LAYER_RESHAPE,
                                     .name = "reshape",
                                     .size = sizeof(gm__reshape),
                                     .save_hyper = reshape_save,
                                     .load = reshape_load,
                                     .validate_hyper = reshape_validate_hyper,
                                     .shape = reshape_shape,
                                     .forward = copy_forward,
                                     .backward = copy_backward};
const gm__layer_vt gm__flatten_vt = {.kind = GM_LAYER_FLATTEN,
                                     .name = "flatten",
                                     .load = flatten_load,
                                     .shape = flatten_shape,
                                     .forward = copy_forward,
                                     .backward = copy_backward};

gm_status gm_reshape_create(gm_layer **out, size_t ndim, const size_t *shape)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK_NULL(shape);
    GM_CHECK(ndim >= 1 && ndim <= GM_MAX_DIMS - 1, GM_EINVAL,
             "ndim must be in [1, %d], got %zu", GM_MAX_DIMS - 1, ndim);
    size_t numel;
    GM_TRY(gm__check_shape(__func__, ndim, shape, &numel));
    GM_TRY(gm__layer_new(out, &gm__reshape_vt, 0, __func__));
    GM__RESHAPE(*out)->rndim = ndim;
    memcpy(GM__RESHAPE(*out)->rshape, shape, ndim * sizeof(size_t));
    return GM_OK;
}

gm_status gm_flatten_create(gm_layer **out)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    return gm__layer_new(out, &gm__flatten_vt, 0, __func__);
}
