/* SPDX-License-Identifier: MIT */
/* SGD (momentum, Nesterov), Adam and AdamW over a net's flat parameters,
 * with torch.optim's update formulas. */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/par.h"


gm_status gm_optimizer_options_init(gm_optimizer_options *opts,
                                    gm_optimizer_kind kind)
{
    GM_CHECK_NULL(opts);
    GM_CHECK(kind >= GM_OPT_SGD && kind <= GM_OPT_ADAMW, GM_EINVAL,
             "kind must be a gm_optimizer_kind, got %d", (int)kind);
    *opts = (gm_optimizer_options)GM_OPTIMIZER_OPTIONS_INIT;
    opts->kind = kind;
    if (kind == GM_OPT_ADAMW) opts->weight_decay = 0.01f;
    if (kind == GM_OPT_SGD) opts->lr = 0.01f;
    return GM_OK;
}

/* Checks every setting; names the field and value. */
gm_status gm__optimizer_options_check(const char *fn, const gm_optimizer_options *o)
{
#define GM__REQ(cond, ...) \
    do { if (!(cond)) return gm__set_error(GM_EINVAL, fn, __VA_ARGS__); } while (0)
    GM__REQ(o->kind >= GM_OPT_SGD && o->kind <= GM_OPT_ADAMW,
            "opts->kind must be a gm_optimizer_kind, got %d", (int)o->kind);
    GM__REQ(isfinite(o->lr) && o->lr > 0.0f, "opts->lr must be finite and > 0, got %g",
            (double)o->lr);
    GM__REQ(isfinite(o->momentum) && o->momentum >= 0.0f && o->momentum < 1.0f,
            "opts->momentum must be in [0, 1), got %g", (double)o->momentum);
    GM__REQ(o->nesterov == 0 || o->nesterov == 1,
            "opts->nesterov must be 0 or 1, got %d", (int)o->nesterov);
    GM__REQ(!o->nesterov || o->momentum > 0.0f,
            "opts->nesterov needs momentum > 0, got %g", (double)o->momentum);
    GM__REQ(isfinite(o->beta1) && o->beta1 >= 0.0f && o->beta1 < 1.0f,
            "opts->beta1 must be in [0, 1), got %g", (double)o->beta1);
    GM__REQ(isfinite(o->beta2) && o->beta2 >= 0.0f && o->beta2 < 1.0f,
            "opts->beta2 must be in [0, 1), got %g", (double)o->beta2);
    GM__REQ(isfinite(o->eps) && o->eps > 0.0f, "opts->eps must be finite and > 0, got %g",
            (double)o->eps);
    GM__REQ(isfinite(o->weight_decay) && o->weight_decay >= 0.0f,
            "opts->weight_decay must be finite and >= 0, got %g",
            (double)o->weight_decay);
    GM__REQ(isfinite(o->clip_norm) && o->clip_norm >= 0.0f,
            "opts->clip_norm must be finite and >= 0 (0 = off), got %g",
            (double)o->clip_norm);
#undef GM__REQ
    return GM_OK;
}

gm_status gm__read_optimizer_options(const char *fn, const char *name,
                                     const gm_optimizer_options *src, gm_optimizer_options *o)
{
    /* size and kind are required; the other fields take kind's defaults */
    const size_t min = offsetof(gm_optimizer_options, kind) + sizeof src->kind;
    size_t size;
    memcpy(&size, src, sizeof size);
    int32_t kind = GM_OPT_ADAM;
    if (size >= min) memcpy(&kind, &src->kind, sizeof kind);
    if (gm_optimizer_options_init(o, kind) != GM_OK) gm_optimizer_options_init(o, GM_OPT_ADAM);
    return gm__read_options(fn, name, src, min, o, sizeof *o);
}

gm_status gm_optimizer_create(gm_optimizer **out, const gm_net *net,
                              const gm_optimizer_options *opts)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK_NULL(net);
    gm_optimizer_options o;
    if (opts != NULL)
        GM_TRY(gm__read_optimizer_options(__func__, "opts", opts, &o));
    else
        gm_optimizer_options_init(&o, GM_OPT_ADAM);
    GM_TRY(gm__optimizer_options_check(__func__, &o));
    gm_optimizer *opt = gm__malloc(sizeof *opt);
    GM_CHECK(opt != NULL, GM_ENOMEM, "cannot allocate an optimizer");
    opt->o = o;
    opt->net_id = net->id;
    opt->n = net->nparams;
    opt->t = 0;
    opt->m = opt->v = NULL;
    opt->have_max = 0;
    size_t slots = o.kind == GM_OPT_SGD ? 1 : 2, total;
    if (net->nparams > 0) {
        opt->m = gm__mul_ok(net->nparams, slots, &total)
                     ? gm__calloc_array(total, sizeof(float))
                     : NULL;
        if (opt->m == NULL) {
            gm__free(opt);
            return GM_FAIL(GM_ENOMEM, "cannot allocate state for %zu parameters",
                           net->nparams);
        }
        if (slots == 2) opt->v = opt->m + net->nparams;
    }
    *out = opt;
    return GM_OK;
}

void gm_optimizer_free(gm_optimizer *opt)
{
    if (opt == NULL) return;
    gm__free(opt->m);
    gm__free(opt);
}

/* p -= lr * update, torch.optim.SGD. */
static void gm__sgd(const gm_optimizer_options *o, float *p, const float *g,
                    float *buf, size_t n)
{
    const float lr = o->lr, wd = o->weight_decay, mu = o->momentum;
    for (size_t i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        if (mu > 0.0f) {
            buf[i] = mu * buf[i] + d;
            d = o->nesterov ? d + mu * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* torch.optim.Adam / AdamW at step t (1-based). The update is the largest
 * cost of an MLP step after its GEMMs, so it runs as blocked loops that
 * GCC vectorizes at -O2 (GM__FOR_BLOCKED; sqrtf inlines as the library is
 * built with -fno-math-errno): the same operations in the same order as a
 * plain loop, so the same bits. */
GM__HOT static void gm__adam(const gm_optimizer_options *o, uint64_t t, float *restrict p,
                     const float *restrict g, float *restrict m, float *restrict v, size_t n,
                     float mx[3])
{
    const float b1 = o->beta1, b2 = o->beta2, lr = o->lr, wd = o->weight_decay, eps = o->eps;
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    const float step = (float)(lr / bc1), sqrt_bc2 = (float)sqrt(bc2);
    /* the largest values written, in GM__VB lanes (see gm_optimizer) */
    float pm[GM__VB] = {0}, mm[GM__VB] = {0}, vm[GM__VB] = {0};
#define GM__ADAM_LOOP(GI, PI)                                                  \
    do {                                                                       \
        size_t k_ = 0;                                                         \
        for (; k_ + GM__VB <= n; k_ += GM__VB)                                 \
            for (size_t j = 0; j < GM__VB; j++) {                              \
                const size_t i = k_ + j;                                       \
                GM__ADAM_BODY(GI, PI, j);                                      \
            }                                                                  \
        for (size_t i = k_; i < n; i++) GM__ADAM_BODY(GI, PI, 0);              \
    } while (0)
#define GM__ADAM_BODY(GI, PI, j)                                               \
    do {                                                                       \
        const float gi = (GI);                                                 \
        const float pi = (PI);                                                 \
        const float mi = b1 * m[i] + c1 * gi;                                  \
        const float vi = b2 * v[i] + c2 * gi * gi;                             \
        const float pn = pi - step * mi / (sqrtf(vi) / sqrt_bc2 + eps);         \
        m[i] = mi;                                                             \
        v[i] = vi;                                                             \
        p[i] = pn;                                                             \
        const float ap = fabsf(pn), am = fabsf(mi);                            \
        pm[j] = ap > pm[j] ? ap : pm[j];                                       \
        mm[j] = am > mm[j] ? am : mm[j];                                       \
        vm[j] = vi > vm[j] ? vi : vm[j];                                       \
    } while (0)
    if (o->kind == GM_OPT_ADAMW) {
        const float keep = 1.0f - lr * wd;
        GM__ADAM_LOOP(g[i], p[i] * keep);
    } else {
        GM__ADAM_LOOP(g[i] + wd * p[i], p[i]);
    }
#undef GM__ADAM_BODY
#undef GM__ADAM_LOOP
    for (size_t j = 0; j < GM__VB; j++) {
        mx[0] = pm[j] > mx[0] ? pm[j] : mx[0];
        mx[1] = mm[j] > mx[1] ? mm[j] : mx[1];
        mx[2] = vm[j] > mx[2] ? vm[j] : mx[2];
    }
}

/* Which layers an update touches: a hash of the trainable layers with
 * parameters. */
static uint64_t gm__trainable_sig(const gm_net *net)
{
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < net->n_layers; i++)
        if (net->layers[i]->nparams && net->layers[i]->trainable)
            h = (h ^ (uint64_t)i) * 1099511628211u;
    return h ^ net->n_layers;
}

/* Adam's next update from the maxima the last one wrote and the gradient
 * norm (1: certainly finite). |g_i| <= ||g||, so the new moments are at
 * most b1 M + c1 G' and b2 V + c2 G'^2 (G' = ||g|| coef, plus wd P for
 * Adam's L2 term), and the new parameter at most P |keep| + step |m| / eps
 * (the denominator is at least eps); a factor 4 covers rounding. */
static int gm__adam_cached_ok(const gm_optimizer *opt, const gm_net *net, float coef)
{
    if (!opt->have_max || opt->max_version != net->version ||
        opt->max_sig != gm__trainable_sig(net))
        return 0;
    const gm_optimizer_options *o = &opt->o;
    const double G = sqrt(gm__net_grad_sumsq(net)) * (coef < 1.0f ? (double)coef : 1.0);
    const double P = opt->pmax, M = opt->mmax, V = opt->vmax, wd = o->weight_decay;
    const int adamw = o->kind == GM_OPT_ADAMW;
    const double gp = adamw ? G : G + wd * P;
    const double keep = fabs(1.0 - (double)o->lr * wd);
    const double mb = o->beta1 * M + (1.0 - o->beta1) * gp;
    const double vb = o->beta2 * V + (1.0 - o->beta2) * gp * gp;
    const double bc1 = 1.0 - pow(o->beta1, (double)(opt->t + 1));
    const double step = (double)o->lr / bc1;
    const double pb = (adamw ? P * keep : P) + step * mb / o->eps;
    const double lim = (double)FLT_MAX / 4.0;
    return mb <= lim && vb <= lim && pb <= lim; /* false for NaN too */
}

/* What gm__sgd and gm__adam would write, computed without writing: 0 if
 * every new parameter and moment is finite. The same operations in the
 * same order as the updates (g scaled by coef first when clipping, as
 * gm_net_clip_grad_norm does), so the same values; x * 0 is 0 for finite
 * x and NaN for inf or NaN, summed in GM__VB lanes. One loop per case, in
 * fixed blocks, so that GCC vectorizes each (as the updates). */
#define GM__CHECK_LOOP(body)                                                   \
    do {                                                                       \
        size_t k_ = 0;                                                         \
        for (; k_ + GM__VB <= n; k_ += GM__VB)                                 \
            for (size_t j_ = 0; j_ < GM__VB; j_++) {                           \
                const size_t i = k_ + j_;                                      \
                acc[j_] += (body);                                             \
            }                                                                  \
        for (size_t i = k_; i < n; i++) acc[0] += (body);                      \
    } while (0)
/* Adam's new p, m, v from gi (the gradient as the update sees it) and pi
 * (the parameter before the step), as x * 0 terms. */
#define GM__ADAM_BAD(GI, PI)                                                   \
    GM__CHECK_LOOP(gm__adam_bad((GI), (PI), m[i], v[i], b1, b2, c1, c2, step, sqrt_bc2, eps))

static inline float gm__adam_bad(float gi, float pi, float m, float v, float b1, float b2,
                                 float c1, float c2, float step, float sqrt_bc2, float eps)
{
    const float mi = b1 * m + c1 * gi;
    const float vi = b2 * v + c2 * gi * gi;
    return (pi - step * mi / (sqrtf(vi) / sqrt_bc2 + eps)) * 0.0f + mi * 0.0f + vi * 0.0f;
}

/* The cheap sufficient test of gm__update_bad for Adam / AdamW (1: the
 * step is certainly finite). coef 1 means no clipping (g * 1 == g). */
GM__HOT static int gm__adam_bound_ok(int adamw, const float *restrict p, const float *restrict g,
                                     const float *restrict m, const float *restrict v, size_t n,
                                     float coef, float b1, float b2, float c1, float c2, float wd,
                                     float keep, float step, float eps)
{
    float nan[GM__VB] = {0}, pmax[GM__VB] = {0}, mmax[GM__VB] = {0};
    const float kp = adamw ? keep : 1.0f, wg = adamw ? 0.0f : wd;
    size_t k = 0;
    for (; k + GM__VB <= n; k += GM__VB)
        for (size_t j = 0; j < GM__VB; j++) {
            const size_t i = k + j;
            const float gi = g[i] * coef + wg * p[i];
            const float pi = fabsf(p[i] * kp);
            const float mi = b1 * m[i] + c1 * gi;
            const float vi = b2 * v[i] + c2 * gi * gi;
            const float am = fabsf(mi);
            nan[j] += mi * 0.0f + vi * 0.0f + pi * 0.0f;
            pmax[j] = pi > pmax[j] ? pi : pmax[j];
            mmax[j] = am > mmax[j] ? am : mmax[j];
        }
    for (size_t i = k; i < n; i++) {
        const float gi = g[i] * coef + wg * p[i];
        const float pi = fabsf(p[i] * kp);
        const float mi = b1 * m[i] + c1 * gi;
        const float vi = b2 * v[i] + c2 * gi * gi;
        const float am = fabsf(mi);
        nan[0] += mi * 0.0f + vi * 0.0f + pi * 0.0f;
        pmax[0] = pi > pmax[0] ? pi : pmax[0];
        mmax[0] = am > mmax[0] ? am : mmax[0];
    }
    double bad = 0.0, pm = 0.0, mm = 0.0;
    for (size_t j = 0; j < GM__VB; j++) {
        bad += nan[j];
        pm = pmax[j] > pm ? pmax[j] : pm;
        mm = mmax[j] > mm ? mmax[j] : mm;
    }
    if (bad != 0.0) return 0;
    /* gi * 1 is gi, and gi + 0 * p[i] is gi for finite p: the moments are
     * the update's; the bound in double, with a factor 4 for rounding */
    return 4.0 * (pm + (double)step * mm / (double)eps) <= (double)FLT_MAX;
}

GM__HOT static int gm__update_bad(const gm_optimizer_options *o, uint64_t t, const float *restrict p,
                                  const float *restrict g, const float *restrict m,
                                  const float *restrict v, size_t n, float coef)
{
    float acc[GM__VB] = {0};
    const int clip = coef < 1.0f;
    if (o->kind == GM_OPT_SGD) {
        const float lr = o->lr, wd = o->weight_decay, mu = o->momentum;
        for (size_t i = 0; i < n; i++) {
            float d = (clip ? g[i] * coef : g[i]) + wd * p[i], b = 0.0f;
            if (mu > 0.0f) {
                b = mu * m[i] + d;
                d = o->nesterov ? d + mu * b : b;
            }
            acc[i % GM__VB] += (p[i] - lr * d) * 0.0f + b * 0.0f;
        }
    } else {
        const float b1 = o->beta1, b2 = o->beta2, lr = o->lr, wd = o->weight_decay, eps = o->eps;
        const float c1 = 1.0f - b1, c2 = 1.0f - b2;
        const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
        const float step = (float)(lr / bc1), sqrt_bc2 = (float)sqrt(bc2);
        const float keep = 1.0f - lr * wd;
        /* A cheap pass first, without the square roots and quotients: the
         * new moments must be finite, and then the new parameter
         * pi - step mi / (sqrt(vi) / sqrt_bc2 + eps), whose denominator is
         * at least eps, is at most |pi| + step |mi| / eps in size: if that
         * bound (with a margin for rounding) is finite, so is the
         * parameter. Only when the bound fails (a learning rate or moment
         * beyond any sane training) are the parameters computed exactly. */
        if (gm__adam_bound_ok(o->kind == GM_OPT_ADAMW, p, g, m, v, n, clip ? coef : 1.0f, b1, b2,
                              c1, c2, wd, keep, step, eps))
            return 0;
        if (o->kind == GM_OPT_ADAMW) {
            if (clip) GM__ADAM_BAD(g[i] * coef, p[i] * keep);
            else GM__ADAM_BAD(g[i], p[i] * keep);
        } else {
            if (clip) GM__ADAM_BAD(g[i] * coef + wd * p[i], p[i]);
            else GM__ADAM_BAD(g[i] + wd * p[i], p[i]);
        }
    }
    float s = 0.0f;
    for (size_t j = 0; j < GM__VB; j++) s += acc[j];
    return s != 0.0f; /* NaN compares unequal */
}
#undef GM__ADAM_BAD
#undef GM__CHECK_LOOP

/* The clipping coefficient gm_net_clip_grad_norm would apply (1: none). */
static float gm__clip_coef(const gm_optimizer *opt, const gm_net *net)
{
    if (!(opt->o.clip_norm > 0.0f)) return 1.0f;
    double norm = sqrt(gm__net_grad_sumsq(net));
    return (float)((double)opt->o.clip_norm / (norm + 1e-6));
}

gm_status gm__optimizer_check(const gm_optimizer *opt, const gm_net *net, const char *fn,
                              const char *what)
{
    const float coef = gm__clip_coef(opt, net);
    if (opt->o.kind != GM_OPT_SGD && gm__adam_cached_ok(opt, net, coef)) return GM_OK;
    size_t off = 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        const gm_layer *l = net->layers[i];
        const size_t k = l->nparams;
        if (k && l->trainable &&
            gm__update_bad(&opt->o, opt->t + 1, l->params, l->grads, opt->m + off,
                           opt->v ? opt->v + off : NULL, k, coef))
            return gm__set_error(GM_ENUMERIC, fn,
                                 "the %s's update would make a parameter or optimizer moment "
                                 "of layer %zu (%s) non-finite (lr %g is too large for these "
                                 "gradients); nothing was changed",
                                 what, i, l->vt->name, (double)opt->o.lr);
        off += k;
    }
    return GM_OK;
}

gm_status gm_optimizer_step(gm_optimizer *opt, gm_net *net)
{
    GM_CHECK_NULL(opt);
    GM_CHECK_NULL(net);
    GM_CHECK(net->id == opt->net_id, GM_EINVAL,
             "this optimizer was created for another net");
    GM_CHECK(net->nparams == opt->n, GM_ESTATE,
             "the net has %zu parameters, the optimizer was made for %zu",
             net->nparams, opt->n);
    double norm = sqrt(gm__net_grad_sumsq(net));
    GM_CHECK(isfinite(norm), GM_ENUMERIC,
             "the gradients are not finite; nothing was changed");
    GM_TRY(gm__optimizer_check(opt, net, __func__, "net"));
    return gm__optimizer_apply(opt, net);
}

gm_status gm__optimizer_update(gm_optimizer *opt, gm_net *net, const char *fn, const char *what)
{
    GM_TRY(gm__optimizer_check(opt, net, fn, what));
    return gm__optimizer_apply(opt, net);
}

/* gm__adam over one layer's parameters, in parts across threads (par.h):
 * each element's update is the same whichever part computes it, and the
 * maxima are combined by max, so the bits do not depend on the thread
 * count. */
typedef struct {
    const gm_optimizer_options *o;
    uint64_t t;
    float *p, *m, *v;
    const float *g;
    float mx[GM__PAR_MAX][3];
} gm__adam_job;

static void gm__adam_part(void *ctx, size_t lo, size_t hi, int part)
{
    gm__adam_job *j = ctx;
    gm__adam(j->o, j->t, j->p + lo, j->g + lo, j->m + lo, j->v + lo, hi - lo, j->mx[part]);
}

static void gm__adam_layer(const gm_optimizer *opt, gm_layer *l, size_t off, float mx[3])
{
    gm__adam_job j = {.o = &opt->o, .t = opt->t, .p = l->params, .g = l->grads,
                      .m = opt->m + off, .v = opt->v + off};
    const int parts = gm__par_parts(l->nparams, 1);
    gm__par_for(l->nparams, GM__VB, parts, gm__adam_part, &j);
    for (int q = 0; q < parts; q++)
        for (int c = 0; c < 3; c++) mx[c] = j.mx[q][c] > mx[c] ? j.mx[q][c] : mx[c];
}

gm_status gm__optimizer_apply(gm_optimizer *opt, gm_net *net)
{
    if (opt->o.clip_norm > 0.0f) GM_TRY(gm_net_clip_grad_norm(net, opt->o.clip_norm, NULL));
    opt->t++;
    size_t off = 0;
    float mx[3] = {0.0f, 0.0f, 0.0f};
    for (size_t i = 0; i < net->n_layers; i++) {
        gm_layer *l = net->layers[i];
        const size_t k = l->nparams;
        if (k && l->trainable) {
            if (opt->o.kind == GM_OPT_SGD)
                gm__sgd(&opt->o, l->params, l->grads, opt->m + off, k);
            else
                gm__adam_layer(opt, l, off, mx);
        }
        off += k;
    }
    gm__net_touch(net);
    opt->have_max = opt->o.kind != GM_OPT_SGD;
    opt->max_version = net->version;
    opt->max_sig = gm__trainable_sig(net);
    opt->pmax = mx[0], opt->mmax = mx[1], opt->vmax = mx[2];
    return GM_OK;
}

gm_status gm_optimizer_set_lr(gm_optimizer *opt, float lr)
{
    GM_CHECK_NULL(opt);
    GM_CHECK(isfinite(lr) && lr > 0.0f, GM_EINVAL,
             "lr must be finite and > 0, got %g", (double)lr);
    opt->o.lr = lr;
    return GM_OK;
}

float gm_optimizer_get_lr(const gm_optimizer *opt) { return opt ? opt->o.lr : 0.0f; }

uint64_t gm_optimizer_step_count(const gm_optimizer *opt) { return opt ? opt->t : 0; }

gm_status gm_optimizer_reset(gm_optimizer *opt)
{
    GM_CHECK_NULL(opt);
    size_t slots = opt->v ? 2 : 1;
    if (opt->m) memset(opt->m, 0, opt->n * slots * sizeof(float));
    opt->t = 0;
    return GM_OK;
}
