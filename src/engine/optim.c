/* SGD (momentum, Nesterov), Adam and AdamW over a net's flat parameters,
 * with torch.optim's update formulas. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "engine/engine.h"


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
                     const float *restrict g, float *restrict m, float *restrict v, size_t n)
{
    const float b1 = o->beta1, b2 = o->beta2, lr = o->lr, wd = o->weight_decay, eps = o->eps;
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    const double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
    const float step = (float)(lr / bc1), sqrt_bc2 = (float)sqrt(bc2);
    if (o->kind == GM_OPT_ADAMW) {
        const float keep = 1.0f - lr * wd;
        GM__FOR_BLOCKED(n, i, {
            const float gi = g[i];
            const float pi = p[i] * keep;
            const float mi = b1 * m[i] + c1 * gi;
            const float vi = b2 * v[i] + c2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = pi - step * mi / (sqrtf(vi) / sqrt_bc2 + eps);
        });
    } else {
        GM__FOR_BLOCKED(n, i, {
            const float gi = g[i] + wd * p[i];
            const float mi = b1 * m[i] + c1 * gi;
            const float vi = b2 * v[i] + c2 * gi * gi;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] - step * mi / (sqrtf(vi) / sqrt_bc2 + eps);
        });
    }
}

/* What gm__sgd and gm__adam would write, computed without writing: 0 if
 * every new parameter and moment is finite. The same operations in the
 * same order as the updates (g scaled by coef first when coef < 1, as the
 * clipping does), so the same values; x * 0 is 0 for finite x and NaN for
 * inf or NaN, summed in GM__VB lanes so that the loop vectorizes. */
GM__HOT static int gm__update_bad(const gm_optimizer_options *o, uint64_t t, const float *p,
                                  const float *g, const float *m, const float *v, size_t n,
                                  float coef)
{
    float acc[GM__VB] = {0};
    const int clip = coef < 1.0f;
#define GM__G(i) (clip ? g[i] * coef : g[i])
    if (o->kind == GM_OPT_SGD) {
        const float lr = o->lr, wd = o->weight_decay, mu = o->momentum;
        for (size_t i = 0; i < n; i++) {
            float d = GM__G(i) + wd * p[i], b = 0.0f;
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
        const int adamw = o->kind == GM_OPT_ADAMW;
        const float keep = 1.0f - lr * wd;
        size_t k = 0;
        for (; k + GM__VB <= n; k += GM__VB)
            for (size_t j = 0; j < GM__VB; j++) {
                const size_t i = k + j;
                const float gi = adamw ? GM__G(i) : GM__G(i) + wd * p[i];
                const float pi = adamw ? p[i] * keep : p[i];
                const float mi = b1 * m[i] + c1 * gi;
                const float vi = b2 * v[i] + c2 * gi * gi;
                acc[j] += (pi - step * mi / (sqrtf(vi) / sqrt_bc2 + eps)) * 0.0f + mi * 0.0f +
                          vi * 0.0f;
            }
        for (size_t i = k; i < n; i++) {
            const float gi = adamw ? GM__G(i) : GM__G(i) + wd * p[i];
            const float pi = adamw ? p[i] * keep : p[i];
            const float mi = b1 * m[i] + c1 * gi;
            const float vi = b2 * v[i] + c2 * gi * gi;
            acc[0] += (pi - step * mi / (sqrtf(vi) / sqrt_bc2 + eps)) * 0.0f + mi * 0.0f +
                      vi * 0.0f;
        }
    }
#undef GM__G
    float s = 0.0f;
    for (size_t j = 0; j < GM__VB; j++) s += acc[j];
    return s != 0.0f; /* NaN compares unequal */
}

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

gm_status gm__optimizer_apply(gm_optimizer *opt, gm_net *net)
{
    if (opt->o.clip_norm > 0.0f) GM_TRY(gm_net_clip_grad_norm(net, opt->o.clip_norm, NULL));
    opt->t++;
    size_t off = 0;
    for (size_t i = 0; i < net->n_layers; i++) {
        gm_layer *l = net->layers[i];
        const size_t k = l->nparams;
        if (k && l->trainable) {
            if (opt->o.kind == GM_OPT_SGD)
                gm__sgd(&opt->o, l->params, l->grads, opt->m + off, k);
            else
                gm__adam(&opt->o, opt->t, l->params, l->grads, opt->m + off,
                         opt->v + off, k);
        }
        off += k;
    }
    gm__net_touch(net);
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

gm_status gm__model_parts_init(gm__model_parts *p, const gm_net *a,
                               const gm_optimizer_options *oa, const gm_net *b,
                               const gm_optimizer_options *ob, uint64_t seed, const char *fn)
{
    memset(p, 0, sizeof *p);
    gm_status st = gm_optimizer_create(&p->opt_a, a, oa);
    if (st == GM_OK) st = gm_optimizer_create(&p->opt_b, b, ob);
    if (st == GM_OK) st = gm_rng_create(&p->train_rng, seed);
    if (st == GM_OK) st = gm_rng_create(&p->aux_rng, seed);
    if (st != GM_OK) {
        gm__model_parts_free(p);
        return gm__set_error(st, fn, "%s", gm_last_error());
    }
    gm_rng_set_state(p->aux_rng, seed, (uint64_t)1 << 62);
    return GM_OK;
}

void gm__model_parts_free(gm__model_parts *p)
{
    gm_optimizer_free(p->opt_a);
    gm_optimizer_free(p->opt_b);
    gm_rng_free(p->train_rng);
    gm_rng_free(p->aux_rng);
    memset(p, 0, sizeof *p);
}
