/* SPDX-License-Identifier: MIT */
/* What every layer shares: allocation, queries, parameter access. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/par.h"

gm_status gm__layer_new(gm_layer **out, const gm__layer_vt *vt,
                        size_t nparams, const char *fn)
{
    const size_t size = vt->size ? vt->size : sizeof(gm_layer);
    gm_layer *l = gm__malloc(size);
    if (l == NULL) return gm__set_error(GM_ENOMEM, fn, "cannot allocate a layer");
    memset(l, 0, size);
    l->vt = vt;
    l->trainable = 1;
    l->nparams = nparams;
    if (nparams > 0) {
        size_t twice;
        float *block = gm__mul_ok(nparams, 2, &twice)
                           ? gm__calloc_array(twice, sizeof(float))
                           : NULL;
        if (block == NULL) {
            gm__free(l);
            return gm__set_error(GM_ENOMEM, fn,
                                 "cannot allocate %zu parameters", nparams);
        }
        l->params = block;
        l->grads = block + nparams;
    }
    *out = l;
    return GM_OK;
}

const gm__layer_vt *gm__layer_vt_for(int32_t kind)
{
    static const gm__layer_vt *const all[] = {
        &gm__dense_vt,    &gm__relu_vt, &gm__leaky_relu_vt, &gm__sigmoid_vt,
        &gm__tanh_vt,     &gm__softplus_vt, &gm__elu_vt,    &gm__dropout_vt,
        &gm__reshape_vt,  &gm__flatten_vt, &gm__conv2d_vt, &gm__conv_transpose2d_vt,
        &gm__batchnorm_vt};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        if ((int32_t)all[i]->kind == kind) return all[i];
    return NULL;
}

void gm__init_weights(float *params, size_t nw, size_t nb, gm_init init, gm_rng *rng,
                      double fan_in, double fan_out)
{
    float *W = params;
    switch (init) {
    case GM_INIT_HE: { /* W ~ N(0, 2 / fan_in) */
        gm_rng_normal(rng, W, nw);
        const float s = (float)sqrt(2.0 / fan_in);
        for (size_t i = 0; i < nw; i++) W[i] *= s;
        break;
    }
    case GM_INIT_XAVIER: { /* W ~ U(+-sqrt(6 / (fan_in + fan_out))) */
        gm_rng_uniform(rng, W, nw);
        const float a = (float)sqrt(6.0 / (fan_in + fan_out));
        for (size_t i = 0; i < nw; i++) W[i] = (2.0f * W[i] - 1.0f) * a;
        break;
    }
    case GM_INIT_TORCH: { /* W and b ~ U(+-1 / sqrt(fan_in)), one draw */
        gm_rng_uniform(rng, params, nw + nb);
        const float a = (float)(1.0 / sqrt(fan_in));
        for (size_t i = 0; i < nw + nb; i++) params[i] = (2.0f * params[i] - 1.0f) * a;
        return;
    }
    case GM_INIT_ZEROS:
        break;
    }
    for (size_t i = 0; i < nb; i++) params[nw + i] = 0.0f;
}

void gm__layer_save_hyper(const gm_layer *l, gm__hyper *h)
{
    memset(h, 0, sizeof *h);
    if (l->vt->save_hyper) l->vt->save_hyper(l, h);
    h->u[4] = l->sn_iters;
    h->f[2] = l->sn_eps;
}

size_t gm__layer_hyper_params(const gm__layer_vt *vt, const gm__hyper *h)
{
    return vt->param_count ? vt->param_count(h) : 0;
}

gm_status gm__layer_from_hyper(gm_layer **out, const gm__layer_vt *vt, const gm__hyper *h,
                               const char *fn)
{
    *out = NULL;
    if (vt->validate_hyper) GM_TRY(vt->validate_hyper(h, fn));
    const uint64_t sn_iters = h->u[4];
    if (sn_iters != 0 && !vt->spectral)
        return gm__set_error(GM_EINVAL, fn, "a %s layer has no spectral norm (%llu iterations)",
                             vt->name, (unsigned long long)sn_iters);
    if (sn_iters != 0) GM_TRY(gm__sn_check_settings(sn_iters, h->f[2], fn));
    gm_layer *l = NULL;
    gm_status st = vt->load(&l, h);
    if (st != GM_OK) return gm__pass_error(st, fn);
    if (sn_iters != 0) st = gm__sn_enable(l, (size_t)sn_iters, h->f[2], fn);
    if (st != GM_OK) {
        gm_layer_free(l);
        return st;
    }
    *out = l;
    return GM_OK;
}

void gm_layer_free(gm_layer *layer)
{
    if (layer == NULL || layer->owner != NULL) return;
    gm__free(layer->params); /* params and grads are one block */
    gm__free(layer->state);
    gm__free(layer->sn_work);
    if (layer->vt->release) {
        layer->vt->release(layer->accel);
        layer->vt->release(layer->accel_next);
    }
    gm__free(layer);
}

gm_layer_kind gm_layer_get_kind(const gm_layer *layer)
{
    return layer ? layer->vt->kind : (gm_layer_kind)0;
}

const char *gm_layer_name(const gm_layer *layer)
{
    return layer ? layer->vt->name : "(null)";
}

size_t gm_layer_param_count(const gm_layer *layer)
{
    return layer ? layer->nparams : 0;
}

/* Checks the layer and the element count of a parameter copy. */
static gm_status gm__layer_check_count(const char *fn, const gm_layer *layer,
                                       size_t n)
{
    if (layer == NULL) return gm__set_error(GM_EINVAL, fn, "layer must not be NULL");
    if (n != layer->nparams)
        return gm__set_error(GM_ESHAPE, fn,
                             "n must equal the %s layer's parameter count %zu, got %zu",
                             layer->vt->name, layer->nparams, n);
    return GM_OK;
}

gm_status gm_layer_get_params(const gm_layer *layer, float *dst, size_t n)
{
    GM_CHECK_NULL(dst);
    GM_TRY(gm__layer_check_count(__func__, layer, n));
    if (n) memcpy(dst, layer->params, n * sizeof(float));
    return GM_OK;
}

gm_status gm_layer_get_grads(const gm_layer *layer, float *dst, size_t n)
{
    GM_CHECK_NULL(dst);
    GM_TRY(gm__layer_check_count(__func__, layer, n));
    if (n) memcpy(dst, layer->grads, n * sizeof(float));
    return GM_OK;
}

gm_status gm_layer_set_params(gm_layer *layer, const float *src, size_t n)
{
    GM_CHECK_NULL(src);
    GM_TRY(gm__layer_check_count(__func__, layer, n));
    GM_TRY(gm__check_all_finite(__func__, "src", src, n));
    if (n) memcpy(layer->params, src, n * sizeof(float));
    if (layer->owner) gm__net_touch(layer->owner);
    return GM_OK;
}

size_t gm_layer_state_count(const gm_layer *layer) { return layer ? layer->nstate : 0; }

gm_status gm_layer_get_state(const gm_layer *layer, float *dst, size_t n)
{
    GM_CHECK_NULL(layer);
    GM_CHECK_NULL(dst);
    GM_CHECK(n == layer->nstate, GM_ESHAPE, "n must be the state count %zu, got %zu",
             layer->nstate, n);
    if (n) memcpy(dst, layer->state, n * sizeof(float));
    return GM_OK;
}

/* ---- Running a layer across threads (par.h) ---- */
/* The activations treat every sample alike and alone, so the batch splits
 * into row ranges that threads run independently, each element computed
 * as one thread would. The others (products, convolutions, batchnorm's
 * batch statistics, dropout's one mask stream) run whole. */
static int gm__layer_rowwise(const gm_layer *l)
{
    return l->vt->kind >= GM_LAYER_RELU && l->vt->kind <= GM_LAYER_ELU;
}

typedef struct {
    gm_layer *l;
    float *out;
    const float *a, *b, *c;
    int training;
} gm__rows_job;

static void gm__forward_rows(void *ctx, size_t lo, size_t hi, int part)
{
    (void)part;
    const gm__rows_job *j = ctx;
    const size_t di = j->l->in_dim, dout = j->l->out_dim;
    j->l->vt->forward(j->l, j->out + lo * dout, j->a + lo * di, hi - lo, j->training);
}

static void gm__backward_rows(void *ctx, size_t lo, size_t hi, int part)
{
    (void)part;
    const gm__rows_job *j = ctx;
    const size_t di = j->l->in_dim, dout = j->l->out_dim;
    j->l->vt->backward(j->l, j->out + lo * di, j->a + lo * dout, j->b + lo * di,
                       j->c + lo * dout, hi - lo);
}

void gm__layer_run_forward(gm_layer *l, float *y, const float *x, size_t n, int training)
{
    const int parts = gm__layer_rowwise(l) ? gm__par_parts(n, l->in_dim) : 1;
    if (parts <= 1) {
        l->vt->forward(l, y, x, n, training);
        return;
    }
    gm__rows_job j = {.l = l, .out = y, .a = x, .training = training};
    gm__par_for(n, 1, parts, gm__forward_rows, &j);
}

void gm__layer_run_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                            const float *y, size_t n)
{
    const int parts = dx && gm__layer_rowwise(l) ? gm__par_parts(n, l->in_dim) : 1;
    if (parts <= 1) {
        l->vt->backward(l, dx, dy, x, y, n);
        return;
    }
    gm__rows_job j = {.l = l, .out = dx, .a = dy, .b = x, .c = y};
    gm__par_for(n, 1, parts, gm__backward_rows, &j);
}
