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
#include "engine/layer_kinds.h"

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
    case GM_LAYER_ELU: return x > 0.0 ? 0.0 : (double)GM__ACT(l)->alpha * exp(x);
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

/* As GM_CHECK, but the message names fn, the public function called. */
#define GM__PEN_CHECK(cond, st, ...)                                         \
    do {                                                                     \
        if (!(cond)) return gm__set_error((st), fn, __VA_ARGS__);            \
    } while (0)

/* One penalty call's shapes and its buffers within net->pen_work. */
typedef struct {
    size_t n;                 /* rows */
    size_t sum, mx, mb, D0;   /* per-row floats over all boundaries, the most at
                                 one boundary, the largest bias, the input's */
    size_t nd, sh[GM_MAX_DIMS]; /* the output's per-row shape */
    float *delta, *tang;      /* deltas and tangents of boundaries 0..L */
    float *e0, *e1, *scr;     /* two tangent deltas, a forward scratch */
    float *yout, *mix, *eps, *bsave; /* output, interpolates, their weights, bias save */
} gm__pen;

/* Refuses the layers whose gradients are not per-sample. */
static gm_status gm__pen_check_layers(const gm_net *net, const char *fn)
{
    GM__PEN_CHECK(net->n_layers > 0, GM_ESTATE, "the net has no layers");
    for (size_t i = 0; i < net->n_layers; i++) {
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
    return GM_OK;
}

gm_status gm__net_penalty_check(const gm_net *net, const char *fn)
{
    return gm__pen_check_layers(net, fn);
}

/* Per-sample shapes, layer after layer (errors name fn), into p. */
static gm_status gm__pen_shapes(const gm_net *net, const char *fn, const gm_tensor *x,
                                gm__pen *p)
{
    GM__PEN_CHECK(x->ndim >= 2, GM_ESHAPE, "x must be batch-first with rank >= 2, got rank %zu",
             x->ndim);
    p->n = x->shape[0];
    p->nd = x->ndim - 1;
    memcpy(p->sh, x->shape + 1, p->nd * sizeof(size_t));
    size_t d = 1;
    for (size_t k = 0; k < p->nd; k++) d *= p->sh[k];
    p->sum = p->mx = d;
    p->mb = 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        const gm_layer *l = net->layers[i];
        size_t ond, o[GM_MAX_DIMS];
        GM_TRY(l->vt->shape(l, fn, p->nd, p->sh, &ond, o));
        p->nd = ond;
        memcpy(p->sh, o, p->nd * sizeof(size_t));
        d = 1;
        for (size_t k = 0; k < p->nd; k++) d *= p->sh[k];
        p->sum += d;
        if (d > p->mx) p->mx = d;
        if (gm__pen_linear(l->vt->kind) && gm__pen_bias_count(l) > p->mb)
            p->mb = gm__pen_bias_count(l);
    }
    GM__PEN_CHECK(d == 1, GM_ESHAPE, "the net must give one value per row, it gives %zu", d);
    p->D0 = x->numel / (p->n ? p->n : 1);
    return GM_OK;
}

/* Grows net->pen_work to the call's need (kept for later calls) and carves
 * p's buffers from it: deltas of boundaries 0..L, tangents of 0..L, two
 * tangent deltas, a forward scratch, the output, the interpolates, their
 * weights and a bias save. */
static gm_status gm__pen_workspace(gm_net *net, const char *fn, gm__pen *p)
{
    const size_t n = p->n;
    size_t need;
    GM__PEN_CHECK(gm__mul_ok(n, 2 * p->sum + 3 * p->mx + 2 + p->D0, &need) &&
                 need < ((size_t)1 << 40),
             GM_ENOMEM, "the penalty workspace for %zu rows is too large", n);
    need += p->mb;
    if (need > net->pen_cap) {
        float *w = gm__malloc_array(need, sizeof(float));
        GM__PEN_CHECK(w != NULL, GM_ENOMEM, "cannot allocate the penalty workspace (%zu floats)",
                 need);
        gm__free(net->pen_work);
        net->pen_work = w;
        net->pen_cap = need;
    }
    p->delta = net->pen_work;
    p->tang = p->delta + n * p->sum;
    p->e0 = p->tang + n * p->sum;
    p->e1 = p->e0 + n * p->mx;
    p->scr = p->e1 + n * p->mx;
    p->yout = p->scr + n * p->mx;
    p->mix = p->yout + n;
    p->eps = p->mix + n * p->D0;
    p->bsave = p->eps + n;
    return GM_OK;
}

/* x^ = eps x + (1 - eps) fake, eps ~ U(0, 1) per row, viewed by *xmix. */
static gm_status gm__pen_interpolate(const gm__pen *p, const gm_tensor *x,
                                     const gm_tensor *fake, gm_rng *rng, const float *eps,
                                     gm_tensor *xmix)
{
    const size_t n = p->n, D0 = p->D0;
    if (rng != NULL)
        GM_TRY(gm_rng_uniform(rng, p->eps, n));
    else
        memcpy(p->eps, eps, n * sizeof *p->eps);
    for (size_t r = 0; r < n; r++)
        for (size_t k = 0; k < D0; k++) {
            const float a = x->data[r * D0 + k], b = fake->data[r * D0 + k];
            p->mix[r * D0 + k] = p->eps[r] * a + (1.0f - p->eps[r]) * b;
        }
    gm__tensor_view(xmix, x->ndim, x->shape, p->mix);
    return GM_OK;
}

/* 1. the forward pass on x into p->yout. */
static gm_status gm__pen_forward(gm_net *net, const char *fn, const gm_tensor *x,
                                 const gm__pen *p)
{
    gm_tensor y;
    size_t os[GM_MAX_DIMS];
    os[0] = p->n;
    memcpy(os + 1, p->sh, p->nd * sizeof(size_t));
    gm__tensor_view(&y, p->nd + 1, os, p->yout);
    return gm__net_forward_checked_input(net, fn, x, &y);
}

/* 2. the backward pass from dy = 1 without parameter gradients, every
 * boundary's delta kept in p->delta (boundary 0: g = grad_x D). */
static gm_status gm__pen_backward_keep(gm_net *net, const char *fn, const gm__pen *p)
{
    const size_t n = p->n;
    size_t ob = n * (p->sum - 1); /* boundary L has one value per row */
    for (size_t r = 0; r < n; r++) p->delta[ob + r] = 1.0f;
    net->input_grads_only = 1;
    for (size_t i = net->n_layers; i-- > 0;) {
        gm_layer *l = net->layers[i];
        const size_t oa = ob - n * gm__pen_dim(net, i);
        l->vt->backward(l, p->delta + oa, p->delta + ob, net->act[i], net->act[i + 1], n);
        ob = oa;
    }
    net->input_grads_only = 0;
    for (size_t i = 0; i < net->n_layers; i++) GM_TRY(gm__layer_accel_error(net->layers[i], fn));
    return GM_OK;
}

/* 3. the penalty's mean over rows, and v = dP/dg into tang's boundary 0. */
static double gm__pen_value(const gm__pen *p, int kind, double c)
{
    const size_t n = p->n, D0 = p->D0;
    double P = 0.0;
    for (size_t r = 0; r < n; r++) {
        const float *g = p->delta + r * D0;
        float *v = p->tang + r * D0;
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
    return P / (double)n;
}

/* The tangent forward: t_{l+1} = J_l t_l (linear layers: the forward
 * without bias, which leaves their cache holding t_l's columns). */
static void gm__pen_tangent_forward(gm_net *net, const gm__pen *p)
{
    const size_t n = p->n;
    size_t oa = 0;
    for (size_t i = 0; i + 1 < net->n_layers; i++) { /* t_L is not needed */
        gm_layer *l = net->layers[i];
        const size_t ob = oa + n * gm__pen_dim(net, i);
        if (gm__pen_linear(l->vt->kind))
            gm__pen_forward_nobias(l, p->tang + ob, p->tang + oa, n, net->training, p->bsave);
        else
            l->vt->backward(l, p->tang + ob, p->tang + oa, net->act[i], net->act[i + 1], n);
        oa = ob;
    }
}

/* Adds t^T d to linear layer i's weight gradient (not its bias'); the top
 * layer's cache first gets t's columns, its tangent forward was skipped. */
static void gm__pen_linear_td(gm_net *net, size_t i, const gm__pen *p, const float *t,
                              const float *dout)
{
    gm_layer *l = net->layers[i];
    const size_t nb = gm__pen_bias_count(l), nw = l->nparams - nb;
    if (i + 1 == net->n_layers)
        gm__pen_forward_nobias(l, p->scr, t, p->n, net->training, p->bsave);
    memcpy(p->bsave, l->grads + nw, nb * sizeof(float));
    l->vt->backward(l, NULL, dout, t, net->act[i + 1], p->n);
    memcpy(l->grads + nw, p->bsave, nb * sizeof(float));
}

/* Layer i of the tangent backward: e_i = J_i^T e_o plus, for a linear
 * layer, its parameter gradient's tangent x^T e_o + t^T d, or, for a curved
 * elementwise layer, the second-order term f''(x) t d. */
static void gm__pen_tangent_layer(gm_net *net, size_t i, const gm__pen *p, size_t oa,
                                  size_t ob, float *ei, const float *eo)
{
    gm_layer *l = net->layers[i];
    const size_t n = p->n, L = net->n_layers, Din = gm__pen_dim(net, i);
    const float *xi = net->act[i], *yi = net->act[i + 1];
    const float *t = p->tang + oa, *dout = p->delta + ob;
    if (gm__pen_linear(l->vt->kind)) {
        const int acc = gm__layer_accumulates(l);
        if (acc) gm__pen_linear_td(net, i, p, t, dout);
        /* refill the cache from x, then e_i = J^T e_o and x^T e_o */
        if ((i + 1 < L || acc) && l->vt->kind != GM_LAYER_DENSE)
            gm__pen_forward_nobias(l, p->scr, xi, n, net->training, p->bsave);
        l->vt->backward(l, i > 0 ? ei : NULL, eo, xi, yi, n);
    } else if (i > 0) {
        l->vt->backward(l, ei, eo, xi, yi, n);
        if (gm__pen_has_f2(l->vt->kind))
            for (size_t k = 0; k < n * Din; k++)
                ei[k] = (float)((double)ei[k] + gm__pen_f2(l, xi[k], yi[k]) * t[k] * dout[k]);
    }
}

/* 4. the tangent backward from e_L = 0 (dy = 1 is constant). */
static gm_status gm__pen_tangent_backward(gm_net *net, const char *fn, const gm__pen *p)
{
    const size_t n = p->n;
    size_t ob = n * (p->sum - 1);
    memset(p->e0, 0, n * sizeof(float));
    float *eo = p->e0, *ei = p->e1;
    for (size_t i = net->n_layers; i-- > 0;) {
        const size_t oa = ob - n * gm__pen_dim(net, i);
        gm__pen_tangent_layer(net, i, p, oa, ob, ei, eo);
        float *tmp = eo;
        eo = ei;
        ei = tmp;
        ob = oa;
    }
    for (size_t i = 0; i < net->n_layers; i++) GM_TRY(gm__layer_accel_error(net->layers[i], fn));
    return GM_OK;
}

gm_status gm__net_penalty(gm_net *net, const char *fn, const gm_tensor *x,
                          const gm_tensor *fake, gm_rng *rng, const float *eps, int kind,
                          double c, double *value)
{
    gm__pen p;
    GM_TRY(gm__pen_check_layers(net, fn));
    GM_TRY(gm__pen_shapes(net, fn, x, &p));
    GM_TRY(gm__pen_workspace(net, fn, &p));
    gm_tensor xmix;
    if (fake != NULL) {
        GM_TRY(gm__pen_interpolate(&p, x, fake, rng, eps, &xmix));
        x = &xmix;
    }
    GM_TRY(gm__pen_forward(net, fn, x, &p));
    GM_TRY(gm__pen_backward_keep(net, fn, &p));
    *value = gm__pen_value(&p, kind, c);
    gm__pen_tangent_forward(net, &p);
    return gm__pen_tangent_backward(net, fn, &p);
}
