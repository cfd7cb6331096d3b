/* SPDX-License-Identifier: MIT */
/* gm_net's flat parameter and gradient blocks: copies in and out, the
 * gradient norm and its clipping (net.c holds the rest of gm_net). */
#include <math.h>
#include <string.h>

#include "engine/engine.h"

size_t gm_net_param_count(const gm_net *net) { return net ? net->nparams : 0; }

/* Shared checks of the flat-buffer copies. */
static gm_status gm__net_check_count(const char *fn, const gm_net *net,
                                     const void *buf, size_t n)
{
    if (net == NULL) return gm__set_error(GM_EINVAL, fn, "net must not be NULL");
    if (buf == NULL) return gm__set_error(GM_EINVAL, fn, "buffer must not be NULL");
    if (n != net->nparams)
        return gm__set_error(GM_ESHAPE, fn,
                             "n must equal the parameter count %zu, got %zu",
                             net->nparams, n);
    return GM_OK;
}

gm_status gm_net_get_params(const gm_net *net, float *dst, size_t n)
{
    GM_TRY(gm__net_check_count(__func__, net, dst, n));
    if (n) memcpy(dst, net->params, n * sizeof(float));
    return GM_OK;
}

gm_status gm_net_get_grads(const gm_net *net, float *dst, size_t n)
{
    GM_TRY(gm__net_check_count(__func__, net, dst, n));
    if (n) memcpy(dst, net->grads, n * sizeof(float));
    return GM_OK;
}

/* Copies finite src into dst (a parameter or gradient block). */
static gm_status gm__net_store(const char *fn, gm_net *net, float *dst,
                               const float *src, size_t n)
{
    GM_TRY(gm__net_check_count(fn, net, src, n));
    size_t bad = gm__find_nonfinite(src, n);
    if (bad != n)
        return gm__set_error(GM_EINVAL, fn, "src[%zu] is not finite (%g)", bad,
                             (double)src[bad]);
    if (n) memcpy(dst, src, n * sizeof(float));
    return GM_OK;
}

gm_status gm_net_set_params(gm_net *net, const float *src, size_t n)
{
    GM_TRY(gm__net_store(__func__, net, net ? net->params : NULL, src, n));
    gm__net_touch(net);
    return GM_OK;
}

gm_status gm_net_set_grads(gm_net *net, const float *src, size_t n)
{
    return gm__net_store(__func__, net, net ? net->grads : NULL, src, n);
}

/* Sum of squares of g[0..n) in double, in GM__VB independent partial sums
 * so that the block vectorizes (a single sum would serialize every add). */
GM__HOT static double gm__sumsq(const float *g, size_t n)
{
    double acc[GM__VB] = {0};
    size_t k = 0;
    for (; k + GM__VB <= n; k += GM__VB)
        for (size_t j = 0; j < GM__VB; j++) acc[j] += (double)g[k + j] * g[k + j];
    double s = 0.0;
    for (size_t j = 0; j < GM__VB; j++) s += acc[j];
    for (; k < n; k++) s += (double)g[k] * g[k];
    return s;
}

double gm__net_grad_sumsq(const gm_net *net)
{
    double s = 0.0;
    for (size_t i = 0; i < net->n_layers; i++) {
        const gm_layer *l = net->layers[i];
        if (l->trainable) s += gm__sumsq(l->grads, l->nparams);
    }
    return s;
}

gm_status gm_net_grad_norm(const gm_net *net, float *norm)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(norm);
    *norm = (float)sqrt(gm__net_grad_sumsq(net));
    return GM_OK;
}

gm_status gm_net_clip_grad_norm(gm_net *net, float max_norm, float *norm_before)
{
    GM_CHECK_NULL(net);
    GM_CHECK(isfinite(max_norm) && max_norm > 0.0f, GM_EINVAL,
             "max_norm must be finite and > 0, got %g", (double)max_norm);
    double norm = sqrt(gm__net_grad_sumsq(net));
    GM_CHECK(isfinite(norm), GM_ENUMERIC, "the gradient norm is not finite");
    if (norm_before) *norm_before = (float)norm;
    /* torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6), <= 1 */
    float coef = (float)((double)max_norm / (norm + 1e-6));
    if (coef < 1.0f)
        for (size_t i = 0; i < net->n_layers; i++) {
            gm_layer *l = net->layers[i];
            if (!l->trainable) continue;
            for (size_t k = 0; k < l->nparams; k++) l->grads[k] *= coef;
        }
    return GM_OK;
}
