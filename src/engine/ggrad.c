// SPDX-License-Identifier: MIT
/* Gradient penalties through the layer engine: the parameter gradient of a
 * penalty P(g) on the input gradient g = grad_x D(x) (R1, WGAN-GP).
 *
 * Method: forward-over-reverse (Pearlmutter's R-operator). With
 * v = dP/dg held fixed, dP/dtheta = (dg/dtheta)^T v
 *   = d/dr [ grad_theta sum_i D(x_i + r v_i) ] at r = 0,
 * the directional derivative along v of the ordinary parameter gradient.
 * So the engine runs, once each:
 *   1. the forward pass on x (the net's activations a_l);
 *   2. the backward pass from dy = 1 with no parameter gradients, keeping
 *      every boundary's delta d_l (d_0 = g);
 *   3. v = dP/dg, and a tangent forward pass: t_0 = v, t_{l+1} = J_l t_l;
 *   4. a tangent backward pass from e_L = 0 (dy = 1 is constant):
 *      e_l = J_l^T e_{l+1} + (second-order term of layer l), and the layer's
 *      parameter gradient += tangent of (its gradient) = x^T e + t^T d.
 * Every layer kind is either linear in its input (dense, conv, transposed
 * conv: the tangent forward is the forward with a zero bias; the tangent
 * of the weight gradient is the weight gradient with upstream e on input
 * x plus the one with upstream d on input t, the bias part only from e)
 * or elementwise (activations, dropout with the forward's mask, reshape,
 * flatten: the tangent forward is the layer's backward applied to t, and
 * the second-order term is f''(x) t d, which is zero for ReLU, LeakyReLU,
 * dropout, reshape and flatten). This reuses each layer's own forward and
 * backward, so the im2col and the oneDNN convolution paths both work
 * unchanged: the linear layers' caches (im2col columns) are refilled from
 * x before their backward on x, and after the call they hold x's, as a
 * plain forward leaves them. Samples must be independent: batchnorm (and
 * spectral norm, whose sigma depends on the weights in a way this pass does
 * not differentiate) are refused with GM_EUNSUPPORTED.
 *
 * Memory: one block per net (pen_work), sized at the first call for a
 * batch shape and reused, so steady-state calls allocate nothing. */
#include <math.h>
#include <string.h>

#include "engine/engine.h"

static int gm__pen_linear(gm_layer_kind k)
{
    return k == GM_LAYER_DENSE || k == GM_LAYER_CONV2D || k == GM_LAYER_CONV_TRANSPOSE2D;
}

static size_t gm__pen_bias_count(const gm_layer *l)
{
    return l->nparams - gm__sn_weight_count(l);
}

/* f''(x) for the elementwise layers (0 for the piecewise-linear ones). */
static double gm__pen_f2(const gm_layer *l, float xf, float yf)
{
    const double x = xf, y = yf;
    switch (l->vt->kind) {
    case GM_LAYER_SIGMOID: return y * (1.0 - y) * (1.0 - 2.0 * y);
    case GM_LAYER_TANH: return -2.0 * y * (1.0 - y * y);
    case GM_LAYER_SOFTPLUS: {
        const double s = 1.0 / (1.0 + exp(-x));
        return s * (1.0 - s);
    }
    case GM_LAYER_ELU: return x > 0.0 ? 0.0 : (double)l->alpha * exp(x);
    default: return 0.0;
    }
}

static int gm__pen_has_f2(gm_layer_kind k)
{
    return k == GM_LAYER_SIGMOID || k == GM_LAYER_TANH || k == GM_LAYER_SOFTPLUS ||
           k == GM_LAYER_ELU;
}

/* Forward of a linear layer with its bias set to zero for the call. */
static void gm__pen_forward_nobias(gm_layer *l, float *y, const float *x, size_t n,
                                   int training, float *bsave)
{
    const size_t nb = gm__pen_bias_count(l), nw = l->nparams - nb;
    memcpy(bsave, l->params + nw, nb * sizeof(float));
    memset(l->params + nw, 0, nb * sizeof(float));
    l->vt->forward(l, y, x, n, training);
    memcpy(l->params + nw, bsave, nb * sizeof(float));
}

/* Per-sample element count of boundary b (0: input, L: output) after the
 * forward set the layers' dims. */
static size_t gm__pen_dim(const gm_net *net, size_t b)
{
    return b < net->n_layers ? net->layers[b]->in_dim : net->layers[b - 1]->out_dim;
}

gm_status gm__net_penalty(gm_net *net, const char *fn, const gm_tensor *x,
                          const gm_tensor *fake, gm_rng *rng, int kind, double c,
                          double *value)
{
    const size_t L = net->n_layers;
    GM_CHECK(L > 0, GM_ESTATE, "the net has no layers");
    for (size_t i = 0; i < L; i++) {
        const gm_layer *l = net->layers[i];
        if (l->vt->kind == GM_LAYER_BATCHNORM)
            return gm__set_error(GM_EUNSUPPORTED, fn,
                                 "layer %zu (%s) mixes the samples of a batch: gradient "
                                 "penalties need per-sample gradients",
                                 i, l->vt->name);
        if (l->sn_iters > 0)
            return gm__set_error(GM_EUNSUPPORTED, fn,
                                 "layer %zu (%s) is spectrally normalized: gradient "
                                 "penalties do not differentiate through sigma",
                                 i, l->vt->name);
    }
    GM_CHECK(x->ndim >= 2, GM_ESHAPE, "x must be batch-first with rank >= 2, got rank %zu",
             x->ndim);
    /* per-sample shapes, layer after layer (errors name fn) */
    const size_t n = x->shape[0];
    size_t sum = 0, mx = 0, mb = 0, d = 1;
    size_t nd = x->ndim - 1, sh[GM_MAX_DIMS];
    memcpy(sh, x->shape + 1, nd * sizeof(size_t));
    for (size_t k = 0; k < nd; k++) d *= sh[k];
    sum = mx = d;
    for (size_t i = 0; i < L; i++) {
        const gm_layer *l = net->layers[i];
        size_t ond, o[GM_MAX_DIMS];
        GM_TRY(l->vt->shape(l, fn, nd, sh, &ond, o));
        nd = ond;
        memcpy(sh, o, nd * sizeof(size_t));
        d = 1;
        for (size_t k = 0; k < nd; k++) d *= sh[k];
        sum += d;
        if (d > mx) mx = d;
        if (gm__pen_linear(l->vt->kind) && gm__pen_bias_count(l) > mb)
            mb = gm__pen_bias_count(l);
    }
    GM_CHECK(d == 1, GM_ESHAPE, "the net must give one value per row, it gives %zu", d);
    /* workspace: deltas of boundaries 0..L, tangents of 0..L, two tangent
     * deltas, a forward scratch, the net's output, a bias save */
    size_t need;
    const size_t D0 = x->numel / (n ? n : 1);
    GM_CHECK(gm__mul_ok(n, 2 * sum + 3 * mx + 2 + D0, &need) && need < ((size_t)1 << 40),
             GM_ENOMEM, "the penalty workspace for %zu rows is too large", n);
    need += mb;
    if (need > net->pen_cap) {
        float *w = gm__malloc_array(need, sizeof(float));
        GM_CHECK(w != NULL, GM_ENOMEM, "cannot allocate the penalty workspace (%zu floats)",
                 need);
        gm__free(net->pen_work);
        net->pen_work = w;
        net->pen_cap = need;
    }
    float *const delta = net->pen_work, *const tang = delta + n * sum;
    float *e0 = tang + n * sum, *e1 = e0 + n * mx, *scr = e1 + n * mx;
    float *yout = scr + n * mx, *mix = yout + n, *eps = mix + n * D0, *bsave = eps + n;
    gm_tensor xmix;
    if (fake != NULL) {
        /* x^ = eps x + (1 - eps) fake, eps ~ U(0, 1) per row */
        GM_TRY(gm_rng_uniform(rng, eps, n));
        for (size_t r = 0; r < n; r++)
            for (size_t k = 0; k < D0; k++) {
                const float a = x->data[r * D0 + k], b = fake->data[r * D0 + k];
                mix[r * D0 + k] = eps[r] * a + (1.0f - eps[r]) * b;
            }
        gm__tensor_view(&xmix, x->ndim, x->shape, mix);
        x = &xmix;
    }

    /* 1. forward */
    gm_tensor y;
    {
        size_t ond = nd + 1, os[GM_MAX_DIMS];
        os[0] = n;
        memcpy(os + 1, sh, nd * sizeof(size_t));
        gm__tensor_view(&y, ond, os, yout);
        GM_TRY(gm__net_forward_checked_input(net, fn, x, &y));
    }
    /* 2. backward from dy = 1 without parameter gradients, every delta kept */
    size_t off[2] = {0, 0}; /* offsets of boundary b+1 and b within delta/tang */
    off[0] = n * (sum - 1);  /* boundary L has one value per row */
    for (size_t r = 0; r < n; r++) delta[off[0] + r] = 1.0f;
    net->input_grads_only = 1;
    {
        size_t ob = off[0];
        for (size_t i = L; i-- > 0;) {
            gm_layer *l = net->layers[i];
            const size_t oa = ob - n * gm__pen_dim(net, i);
            l->vt->backward(l, delta + oa, delta + ob, net->act[i], net->act[i + 1], n);
            ob = oa;
        }
    }
    net->input_grads_only = 0;
    for (size_t i = 0; i < L; i++) GM_TRY(gm__layer_accel_error(net->layers[i], fn));
    /* 3. the penalty and v = dP/dg into tang's boundary 0 */
    double P = 0.0;
    for (size_t r = 0; r < n; r++) {
        const float *g = delta + r * D0;
        float *v = tang + r * D0;
        double s2 = 0.0;
        for (size_t k = 0; k < D0; k++) s2 += (double)g[k] * g[k];
        double scale;
        if (kind == GM__PEN_R1) {
            P += 0.5 * c * s2;
            scale = c / (double)n;
        } else {
            const double nrm = sqrt(s2);
            P += c * (nrm - 1.0) * (nrm - 1.0);
            scale = nrm > 0.0 ? 2.0 * c * (nrm - 1.0) / (nrm * (double)n) : 0.0;
        }
        for (size_t k = 0; k < D0; k++) v[k] = (float)(scale * g[k]);
    }
    *value = P / (double)n;
    /* tangent forward: t_{l+1} = J_l t_l (linear layers: forward without
     * bias, which leaves their cache holding t_l's columns) */
    {
        size_t oa = 0;
        for (size_t i = 0; i < L; i++) {
            gm_layer *l = net->layers[i];
            const size_t ob = oa + n * gm__pen_dim(net, i);
            if (i + 1 == L) break; /* t_L is not needed */
            if (gm__pen_linear(l->vt->kind))
                gm__pen_forward_nobias(l, tang + ob, tang + oa, n, net->training, bsave);
            else
                l->vt->backward(l, tang + ob, tang + oa, net->act[i], net->act[i + 1], n);
            oa = ob;
        }
    }
    /* 4. tangent backward from e_L = 0 */
    {
        size_t ob = n * (sum - 1);
        memset(e0, 0, n * sizeof(float));
        float *eo = e0, *ei = e1;
        for (size_t i = L; i-- > 0;) {
            gm_layer *l = net->layers[i];
            const size_t Din = gm__pen_dim(net, i), oa = ob - n * Din;
            const float *xi = net->act[i], *yi = net->act[i + 1];
            const float *t = tang + oa, *dout = delta + ob;
            if (gm__pen_linear(l->vt->kind)) {
                const int acc = gm__layer_accumulates(l);
                if (acc && i + 1 < L) {
                    /* t^T d: the cache holds t's columns from the tangent
                     * forward; the bias gets no part of it */
                    const size_t nb = gm__pen_bias_count(l), nw = l->nparams - nb;
                    memcpy(bsave, l->grads + nw, nb * sizeof(float));
                    l->vt->backward(l, NULL, dout, t, yi, n);
                    memcpy(l->grads + nw, bsave, nb * sizeof(float));
                } else if (acc) {
                    /* the top layer: its tangent forward was skipped */
                    gm__pen_forward_nobias(l, scr, t, n, net->training, bsave);
                    const size_t nb = gm__pen_bias_count(l), nw = l->nparams - nb;
                    memcpy(bsave, l->grads + nw, nb * sizeof(float));
                    l->vt->backward(l, NULL, dout, t, yi, n);
                    memcpy(l->grads + nw, bsave, nb * sizeof(float));
                }
                /* refill the cache from x, then e_i = J^T e_o and x^T e_o */
                if ((i + 1 < L || acc) && l->vt->kind != GM_LAYER_DENSE)
                    gm__pen_forward_nobias(l, scr, xi, n, net->training, bsave);
                l->vt->backward(l, i > 0 ? ei : NULL, eo, xi, yi, n);
            } else {
                if (i > 0) {
                    l->vt->backward(l, ei, eo, xi, yi, n);
                    if (gm__pen_has_f2(l->vt->kind))
                        for (size_t k = 0; k < n * Din; k++)
                            ei[k] = (float)((double)ei[k] +
                                            gm__pen_f2(l, xi[k], yi[k]) * t[k] * dout[k]);
                }
            }
            float *tmp = eo;
            eo = ei;
            ei = tmp;
            ob = oa;
        }
    }
    for (size_t i = 0; i < L; i++) GM_TRY(gm__layer_accel_error(net->layers[i], fn));
    return GM_OK;
}
