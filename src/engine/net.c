/* SPDX-License-Identifier: MIT */
/* gm_net: a sequential stack of layers over one flat parameter block and
 * one workspace block sized per input shape. */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"

static atomic_uint_fast64_t gm__next_net_id = 1;

gm_status gm_net_create(gm_net **out)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    gm_net *net = gm__malloc(sizeof *net);
    GM_CHECK(net != NULL, GM_ENOMEM, "cannot allocate a net");
    memset(net, 0, sizeof *net);
    net->id = atomic_fetch_add(&gm__next_net_id, 1);
    net->training = 1;
    *out = net;
    return GM_OK;
}

static void gm__net_free_workspace(gm_net *net)
{
    gm__free(net->work);
    gm__free(net->act); /* act, bshape and bnd share one block */
    net->work = NULL;
    net->act = NULL;
    net->bshape = NULL;
    net->bnd = NULL;
    net->in_ndim = 0;
    net->have_forward = 0;
}

void gm_net_free(gm_net *net)
{
    if (net == NULL || net->owned) return; /* a model's net: the model frees it */
    for (size_t i = 0; i < net->n_layers; i++) {
        net->layers[i]->owner = NULL;
        net->layers[i]->params = NULL; /* views into net->params */
        gm_layer_free(net->layers[i]);  /* frees the layer's own state */
    }
    gm__free(net->layers);
    gm__free(net->params); /* params and grads are one block */
    gm__net_free_workspace(net);
    gm__free(net->pen_work); /* the gradient-penalty workspace (ggrad.c) */
    gm__free(net);
}

gm_status gm__net_check_free(const char *fn, const gm_net *net, const char *what)
{
    if (net->owned)
        return gm__set_error(GM_ESTATE, fn, "the %s already belongs to a model (VAE or GAN)", what);
    return GM_OK;
}

gm_status gm_net_add(gm_net *net, gm_layer *layer)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(layer);
    GM_TRY(gm__net_check_free(__func__, net, "net")); /* its optimizers are sized already */
    GM_CHECK(layer->owner == NULL, GM_EINVAL,
             "the %s layer already belongs to a net", layer->vt->name);
    size_t total = net->nparams + layer->nparams, twice;
    float *block = NULL;
    if (layer->nparams > 0) {
        block = gm__mul_ok(total, 2, &twice)
                    ? gm__malloc_array(twice, sizeof(float))
                    : NULL;
        GM_CHECK(block != NULL, GM_ENOMEM,
                 "cannot allocate %zu parameters", total);
    }
    gm_layer **layers =
        gm__realloc_array(net->layers, net->n_layers + 1, sizeof *layers);
    if (layers == NULL) {
        gm__free(block);
        return GM_FAIL(GM_ENOMEM, "cannot grow the layer list to %zu",
                       net->n_layers + 1);
    }
    net->layers = layers;
    layers[net->n_layers++] = layer;
    layer->owner = net;
    if (block != NULL) {
        /* [old params | new params | old grads | new grads] */
        const size_t old = net->nparams, np = layer->nparams;
        float *p = block, *g = block + total;
        if (old) {
            memcpy(p, net->params, old * sizeof(float));
            memcpy(g, net->grads, old * sizeof(float));
        }
        memcpy(p + old, layer->params, np * sizeof(float));
        memcpy(g + old, layer->grads, np * sizeof(float));
        gm__free(layer->params);
        gm__free(net->params);
        net->params = p;
        net->grads = g;
        net->nparams = total;
        size_t off = 0;
        for (size_t i = 0; i < net->n_layers; i++) {
            gm_layer *l = net->layers[i];
            l->params = l->nparams ? p + off : NULL;
            l->grads = l->nparams ? g + off : NULL;
            off += l->nparams;
        }
    }
    gm__net_free_workspace(net);
    gm__net_touch(net);
    return GM_OK;
}

size_t gm_net_num_layers(const gm_net *net) { return net ? net->n_layers : 0; }

gm_layer *gm_net_layer(gm_net *net, size_t i)
{
    return (net && i < net->n_layers) ? net->layers[i] : NULL;
}

/* Per-sample shapes at the layer boundaries for a batch-first input shape.
 * With all = 1, bnd/bshape have L + 1 slots and boundary i goes to slot i;
 * with all = 0 they have 2 slots used in turn. Returns the last slot.
 * With training = 1, a batchnorm layer that would see one value per
 * feature (N x H x W = 1) is refused with GM_EINVAL, as torch refuses it:
 * its batch variance is 0 and would decay the running variance. */
static gm_status gm__net_shapes(const gm_net *net, const char *fn,
                                size_t in_ndim, const size_t *in_shape,
                                int all, int training, size_t *bnd,
                                size_t (*bshape)[GM_MAX_DIMS], size_t *last)
{
    if (net->n_layers == 0) return gm__set_error(GM_EINVAL, fn, "the net has no layers");
    size_t numel;
    GM_TRY(gm__check_shape(fn, in_ndim, in_shape, &numel));
    if (in_ndim < 2)
        return gm__set_error(GM_ESHAPE, fn,
                             "input must be batch first with at least 2 dims, got %zu",
                             in_ndim);
    bnd[0] = in_ndim - 1;
    memcpy(bshape[0], in_shape + 1, bnd[0] * sizeof(size_t));
    size_t a = 0, b = 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        const gm_layer *l = net->layers[i];
        b = all ? i + 1 : (a ^ 1);
        GM_TRY(l->vt->shape(l, fn, bnd[a], bshape[a], &bnd[b], bshape[b]));
        if (training && l->vt->kind == GM_LAYER_BATCHNORM) {
            size_t m = in_shape[0]; /* values per feature: N x H x W */
            for (size_t k = 1; k < bnd[a]; k++) m *= bshape[a][k];
            if (m < 2)
                return gm__set_error(GM_EINVAL, fn,
                                     "layer %zu (batchnorm) needs more than one value per "
                                     "feature in training, a batch of %zu gives %zu (use a "
                                     "larger batch or evaluation mode)",
                                     i, in_shape[0], m);
        }
        a = b;
    }
    *last = a;
    return GM_OK;
}

static size_t gm__prod(const size_t *s, size_t n)
{
    size_t p = 1;
    for (size_t i = 0; i < n; i++) p *= s[i];
    return p;
}

/* Round float counts up to 64 bytes so every buffer starts aligned. */
static size_t gm__pad16(size_t n) { return (n + 15) & ~(size_t)15; }

/* The workspace floats for a batch of n (boundaries bnd/bshape): the
 * activations, the layer caches and two gradient buffers of *dmax. *ok = 0
 * when an activation exceeds one BLAS dimension; returns 0 when the total
 * overflows (which fails as memory). */
static int gm__workspace_floats(const gm_net *net, size_t n, const size_t *bnd,
                                const size_t (*bshape)[GM_MAX_DIMS], size_t *total_out,
                                size_t *dmax_out, int *ok_out)
{
    const size_t L = net->n_layers, nb = L + 1;
    /* Every activation must fit one BLAS dimension; sum with overflow
     * checks. */
    size_t total = 0, dmax = 0;
    int ok = 1;
    for (size_t i = 0; i < nb && ok; i++) {
        size_t d = gm__prod(bshape[i], bnd[i]), m;
        ok = gm__mul_ok(n, d, &m) && m <= GM__BLAS_MAX;
        total += gm__pad16(m);
        if (m > dmax) dmax = m;
    }
    /* layer caches can exceed 2^31 floats (a conv's patch matrix of a
     * whole batch): sum them with an overflow check, which fails as memory */
    int fits = 1;
    for (size_t i = 0; i < L && ok && fits; i++) {
        const gm_layer *l = net->layers[i];
        size_t c = l->vt->cache_floats ? l->vt->cache_floats(l, n, bnd[i], bshape[i]) : 0;
        fits = c <= SIZE_MAX / 4 - total;
        total += gm__pad16(c);
    }
    fits = fits && 2 * gm__pad16(dmax) <= SIZE_MAX / 4 - total;
    total += 2 * gm__pad16(dmax);
    *total_out = total;
    *dmax_out = dmax;
    *ok_out = ok;
    return fits;
}

/* Releases every layer's accel_next (a setup that did not finish). */
static void gm__release_accel_next(gm_net *net)
{
    for (size_t i = 0; i < net->n_layers; i++) {
        gm_layer *l = net->layers[i];
        if (l->vt->release) l->vt->release(l->accel_next);
        l->accel_next = NULL;
    }
}

/* Layer state besides the workspace (oneDNN primitives) into each
 * layer's accel_next, kept aside until everything has succeeded; on
 * failure every accel_next is released again. *scratch: the largest
 * scratch any of them needs while it runs (vt->scratch_bytes). */
static gm_status gm__prepare_accel(gm_net *net, const char *fn, size_t n, const size_t *bnd,
                                   const size_t (*bshape)[GM_MAX_DIMS], size_t *scratch)
{
    const size_t L = net->n_layers;
    gm_status pst = GM_OK;
    *scratch = 0;
    for (size_t i = 0; i < L && pst == GM_OK; i++) {
        gm_layer *l = net->layers[i];
        if (l->vt->prepare) pst = l->vt->prepare(l, fn, n, bnd[i], bshape[i], &l->accel_next);
        if (pst == GM_OK && l->accel_next != NULL && l->vt->scratch_bytes) {
            const size_t b = l->vt->scratch_bytes(l->accel_next);
            if (b > *scratch) *scratch = b;
        }
    }
    if (pst != GM_OK) gm__release_accel_next(net);
    return pst;
}

/* Points every accel_next at the shared scratch block. */
static gm_status gm__bind_accel(gm_net *net, const char *fn, void *scratch)
{
    for (size_t i = 0; i < net->n_layers; i++) {
        gm_layer *l = net->layers[i];
        if (l->accel_next != NULL && l->vt->bind_scratch)
            GM_TRY(l->vt->bind_scratch(l, l->accel_next, scratch, fn));
    }
    return GM_OK;
}

/* The workspace: `total` floats, then the scratch the layers' new oneDNN
 * state shares (made here, in accel_next; released again on failure). */
static gm_status gm__alloc_work(gm_net *net, const char *fn, size_t n, const size_t *bnd,
                                const size_t (*bshape)[GM_MAX_DIMS], size_t total,
                                float **work_out)
{
    size_t scratch;
    GM_TRY(gm__prepare_accel(net, fn, n, bnd, bshape, &scratch));
    const size_t sfloats = scratch / sizeof(float) + 1;
    float *work = sfloats <= SIZE_MAX / 4 - total ? gm__malloc_array(total + sfloats, sizeof(float))
                                                  : NULL;
    gm_status st = work == NULL ? gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu floats of "
                                                "workspace", total + sfloats)
                                : gm__bind_accel(net, fn, scratch ? work + total : NULL);
    if (st != GM_OK) {
        gm__release_accel_next(net);
        gm__free(work);
        work = NULL;
    }
    *work_out = work;
    return st;
}

/* Hands the new workspace to the layers: activations act[], each layer's
 * shapes, cache and accel (accel_next), then the gradient buffers. */
static void gm__workspace_assign(gm_net *net, float *work, float **act, size_t n,
                                 const size_t *bnd, const size_t (*bshape)[GM_MAX_DIMS],
                                 size_t dmax)
{
    const size_t L = net->n_layers, nb = L + 1;
    float *p = work;
    for (size_t i = 0; i < nb; i++) {
        act[i] = p;
        p += gm__pad16(n * gm__prod(bshape[i], bnd[i]));
    }
    for (size_t i = 0; i < L; i++) {
        gm_layer *l = net->layers[i];
        l->in_dim = gm__prod(bshape[i], bnd[i]);
        l->out_dim = gm__prod(bshape[i + 1], bnd[i + 1]);
        l->in_nd = bnd[i];
        l->out_nd = bnd[i + 1];
        memcpy(l->in_shape, bshape[i], bnd[i] * sizeof(size_t));
        memcpy(l->out_shape, bshape[i + 1], bnd[i + 1] * sizeof(size_t));
        if (l->vt->release) l->vt->release(l->accel);
        l->accel = l->accel_next;
        l->accel_next = NULL;
        l->cache = NULL;
        if (l->vt->cache_floats) {
            l->cache = p;
            p += gm__pad16(l->vt->cache_floats(l, n, bnd[i], bshape[i]));
        }
    }
    net->dbuf[0] = p;
    net->dbuf[1] = p + gm__pad16(dmax);
}

/* Makes the workspace fit a batch of shape in_shape (no-op when it
 * already does). On failure the old workspace is kept. */
static gm_status gm__net_prepare(gm_net *net, const char *fn, size_t in_ndim,
                                 const size_t *in_shape)
{
    const unsigned gen = gm__threads_generation();
    if (net->work != NULL && net->in_ndim == in_ndim && net->threads_gen == gen &&
        memcmp(net->in_shape, in_shape, in_ndim * sizeof(size_t)) == 0)
        return GM_OK;
    const size_t L = net->n_layers, nb = L + 1, n = in_shape[0];
    /* meta: act pointers, per-boundary shapes and ranks */
    size_t meta_bytes = nb * (sizeof(float *) + sizeof(size_t[GM_MAX_DIMS]) +
                              sizeof(size_t));
    void *meta = gm__malloc(meta_bytes);
    if (meta == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu layer slots", nb);
    float **act = meta;
    size_t(*bshape)[GM_MAX_DIMS] = (void *)(act + nb);
    size_t *bnd = (size_t *)(bshape + nb);
    size_t last, total, dmax;
    int ok;
    gm_status st = gm__net_shapes(net, fn, in_ndim, in_shape, 1, 0, bnd, bshape, &last);
    if (st != GM_OK) {
        gm__free(meta);
        return st;
    }
    const int fits = gm__workspace_floats(net, n, bnd, (const size_t(*)[GM_MAX_DIMS])bshape,
                                          &total, &dmax, &ok);
    if (!ok || !fits) {
        gm__free(meta);
        if (!ok)
            return gm__set_error(GM_ESHAPE, fn,
                                 "a batch of %zu gives an activation over %zu elements",
                                 n, GM__BLAS_MAX);
        return gm__set_error(GM_ENOMEM, fn, "the workspace for a batch of %zu overflows", n);
    }
    float *work;
    st = gm__alloc_work(net, fn, n, bnd, (const size_t(*)[GM_MAX_DIMS])bshape, total, &work);
    if (st != GM_OK) {
        gm__free(meta);
        return st;
    }
    gm__net_free_workspace(net);
    gm__workspace_assign(net, work, act, n, bnd, (const size_t(*)[GM_MAX_DIMS])bshape, dmax);
    net->work = work;
    net->act = act;
    net->bshape = bshape;
    net->bnd = bnd;
    net->in_ndim = in_ndim;
    net->threads_gen = gen;
    memcpy(net->in_shape, in_shape, in_ndim * sizeof(size_t));
    return GM_OK;
}

/* 1 if t is [N, per-sample shape of boundary b]. */
static int gm__fits_boundary(const gm_net *net, const gm_tensor *t, size_t b)
{
    if (t->ndim != net->bnd[b] + 1 || t->shape[0] != net->in_shape[0]) return 0;
    return memcmp(t->shape + 1, net->bshape[b], net->bnd[b] * sizeof(size_t)) == 0;
}

/* "[a x b x c]" into buf. */
static const char *gm__fmt_shape(char *buf, size_t cap, size_t n0,
                                 const size_t *s, size_t nd)
{
    int k = snprintf(buf, cap, "[%zu", n0);
    for (size_t i = 0; i < nd && k > 0 && (size_t)k < cap; i++)
        k += snprintf(buf + k, cap - (size_t)k, " x %zu", s[i]);
    if (k > 0 && (size_t)k < cap) snprintf(buf + k, cap - (size_t)k, "]");
    return buf;
}

/* Batch-first output shape for a batch-first input shape. */
static gm_status gm__net_out_shape(const gm_net *net, const char *fn, size_t in_ndim,
                                   const size_t *in_shape, size_t *out_ndim,
                                   size_t *out_shape, int training)
{
    size_t bnd[2], bshape[2][GM_MAX_DIMS], last;
    GM_TRY(gm__net_shapes(net, fn, in_ndim, in_shape, 0, training, bnd, bshape, &last));
    *out_ndim = bnd[last] + 1;
    out_shape[0] = in_shape[0];
    memcpy(out_shape + 1, bshape[last], bnd[last] * sizeof(size_t));
    return GM_OK;
}

gm_status gm_net_output_shape(const gm_net *net, size_t in_ndim,
                              const size_t *in_shape, size_t *out_ndim,
                              size_t *out_shape)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(in_shape);
    GM_CHECK_NULL(out_ndim);
    GM_CHECK_NULL(out_shape);
    return gm__net_out_shape(net, __func__, in_ndim, in_shape, out_ndim, out_shape, 0);
}

static gm_status gm__net_forward_impl(gm_net *net, const char *fn, const gm_tensor *x,
                                      gm_tensor *y, int scan);

gm_status gm_net_forward(gm_net *net, const gm_tensor *x, gm_tensor *y)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(x);
    GM_CHECK_NULL(y);
    return gm__net_forward_impl(net, __func__, x, y, 1);
}

gm_status gm__net_forward_checked_input(gm_net *net, const char *fn, const gm_tensor *x,
                                        gm_tensor *y)
{
    return gm__net_forward_impl(net, fn, x, y, 0);
}

gm_status gm__net_forward_model(gm_net *net, const char *fn, const char *what,
                                const gm_tensor *x, gm_tensor *y, int scan_x)
{
    GM_TRY(gm__net_forward_impl(net, fn, x, y, scan_x));
    if (gm__find_nonfinite(y->data, y->numel) == y->numel) return GM_OK;
    /* the first layer whose output has a non-finite value */
    const size_t n = x->shape[0];
    for (size_t i = 0; i < net->n_layers; i++) {
        const gm_layer *l = net->layers[i];
        const float *a = net->act[i + 1];
        const size_t m = n * l->out_dim, bad = gm__find_nonfinite(a, m);
        if (bad != m)
            return gm__set_error(GM_ENUMERIC, fn,
                                 "the %s's layer %zu (%s) produced a non-finite value (%g) "
                                 "from finite input: the parameters or the learning rate are "
                                 "too large",
                                 what, i, l->vt->name, (double)a[bad]);
    }
    return gm__set_error(GM_ENUMERIC, fn, "the %s produced a non-finite value", what);
}

static gm_status gm__net_forward_impl(gm_net *net, const char *fn, const gm_tensor *x,
                                      gm_tensor *y, int scan)
{
    /* Every check before the workspace changes, so a failed call keeps
     * the last forward differentiable. */
    size_t ond, oshape[GM_MAX_DIMS];
    GM_TRY(gm__net_out_shape(net, fn, x->ndim, x->shape, &ond, oshape, net->training));
    if (y->ndim != ond || memcmp(y->shape, oshape, ond * sizeof(size_t)) != 0) {
        char want[96], got[96];
        return gm__set_error(GM_ESHAPE, fn, "y must have shape %s, got %s",
                             gm__fmt_shape(want, sizeof want, oshape[0], oshape + 1, ond - 1),
                             gm__fmt_shape(got, sizeof got, y->shape[0], y->shape + 1,
                                           y->ndim - 1));
    }
    if (scan) GM_TRY(gm__check_all_finite(fn, "x", x->data, x->numel));
    GM_TRY(gm__net_prepare(net, fn, x->ndim, x->shape));
    const size_t L = net->n_layers, n = x->shape[0];
    memcpy(net->act[0], x->data, x->numel * sizeof(float));
    for (size_t i = 0; i < L; i++)
        gm__layer_run_forward(net->layers[i], net->act[i + 1], net->act[i], n, net->training);
    for (size_t i = 0; i < L; i++) {
        gm_status st = gm__layer_accel_error(net->layers[i], fn);
        if (st != GM_OK) {
            net->have_forward = 0;
            return st;
        }
    }
    memcpy(y->data, net->act[L], y->numel * sizeof(float));
    net->have_forward = 1;
    net->forward_version = net->version;
    return GM_OK;
}

gm_status gm_net_backward(gm_net *net, const gm_tensor *dy, gm_tensor *dx)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(dy);
    GM_CHECK(net->have_forward, GM_ESTATE,
             "no forward pass to differentiate (call gm_net_forward first)");
    GM_CHECK(net->forward_version == net->version, GM_ESTATE,
             "the parameters changed since the last forward pass");
    const size_t L = net->n_layers, n = net->in_shape[0];
    char want[96], got[96];
    GM_CHECK(gm__fits_boundary(net, dy, L), GM_ESHAPE,
             "dy must have the output shape %s, got %s",
             gm__fmt_shape(want, sizeof want, n, net->bshape[L], net->bnd[L]),
             gm__fmt_shape(got, sizeof got, dy->shape[0], dy->shape + 1, dy->ndim - 1));
    GM_CHECK(dx == NULL || gm__fits_boundary(net, dx, 0), GM_ESHAPE,
             "dx must have the input shape %s, got %s",
             gm__fmt_shape(want, sizeof want, n, net->bshape[0], net->bnd[0]),
             dx ? gm__fmt_shape(got, sizeof got, dx->shape[0], dx->shape + 1,
                                dx->ndim - 1)
                : "");
    /* Without dx, layers below the lowest trainable one need no gradient. */
    size_t lowest = 0;
    if (dx == NULL) {
        lowest = L;
        for (size_t i = 0; i < L; i++)
            if (net->layers[i]->nparams && gm__layer_accumulates(net->layers[i])) {
                lowest = i;
                break;
            }
        if (lowest == L) return GM_OK;
    }
    float *cur = net->dbuf[0];
    memcpy(cur, dy->data, dy->numel * sizeof(float));
    for (size_t i = L; i-- > lowest;) {
        float *next = cur == net->dbuf[0] ? net->dbuf[1] : net->dbuf[0];
        float *dxi = i > lowest ? next : (dx ? dx->data : NULL);
        gm_layer *l = net->layers[i];
        gm__layer_run_backward(l, dxi, cur, net->act[i], net->act[i + 1], n);
        cur = next;
    }
    for (size_t i = lowest; i < L; i++)
        GM_TRY(gm__layer_accel_error(net->layers[i], __func__));
    return GM_OK;
}

gm_status gm__net_backward_input(gm_net *net, const gm_tensor *dy, gm_tensor *dx)
{
    net->input_grads_only = 1;
    gm_status st = gm_net_backward(net, dy, dx);
    net->input_grads_only = 0;
    return st;
}

gm_status gm_net_zero_grad(gm_net *net)
{
    GM_CHECK_NULL(net);
    if (net->nparams) memset(net->grads, 0, net->nparams * sizeof(float));
    return GM_OK;
}

gm_status gm_net_set_training(gm_net *net, int training)
{
    GM_CHECK_NULL(net);
    net->training = training != 0;
    return GM_OK;
}

int gm_net_is_training(const gm_net *net) { return net ? net->training : 0; }

gm_status gm_net_set_trainable(gm_net *net, size_t i, int trainable)
{
    GM_CHECK_NULL(net);
    GM_CHECK(i < net->n_layers, GM_EINVAL,
             "layer index must be < %zu, got %zu", net->n_layers, i);
    net->layers[i]->trainable = trainable != 0;
    return GM_OK;
}
