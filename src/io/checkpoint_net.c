/* SPDX-License-Identifier: MIT */
/* Checkpoint sections of nets (NET) and optimizers (OPTM). A layer is
 * rebuilt through its kind's vtable (engine.h): its parameter count is
 * derived from its hyperparameters and compared with the file before the
 * layer is made, and gm__layer_from_hyper makes it through the public
 * constructor, so hostile hyperparameters meet the same checks as a
 * caller's. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/checkpoint.h"
#include "io/checkpoint_internal.h"

void gm__put_net(gm__wbuf *w, const gm_net *net)
{
    gm__section_begin(w, GM__TAG_NET);
    gm__put_u32(w, (uint32_t)net->n_layers);
    gm__put_u32(w, (uint32_t)net->training);
    for (size_t i = 0; i < net->n_layers; i++) {
        const gm_layer *l = net->layers[i];
        gm__hyper h;
        gm__layer_save_hyper(l, &h);
        gm__put_u32(w, (uint32_t)l->vt->kind);
        gm__put_u32(w, (uint32_t)l->trainable);
        for (int k = 0; k < 5; k++) gm__put_u64(w, h.u[k]);
        for (int k = 0; k < 3; k++) gm__put_f32(w, h.f[k]);
        gm__put_u64(w, l->nparams);
        gm__put_u64(w, l->nstate);
        gm__put_floats(w, l->params, l->nparams);
        gm__put_floats(w, l->state, l->nstate);
    }
    gm__section_end(w);
}

void gm__put_opt(gm__wbuf *w, const gm_optimizer *opt)
{
    const gm_optimizer_options *o = &opt->o;
    gm__section_begin(w, GM__TAG_OPT);
    gm__put_u32(w, (uint32_t)o->kind);
    gm__put_f32(w, o->lr);
    gm__put_f32(w, o->momentum);
    gm__put_u32(w, (uint32_t)o->nesterov);
    gm__put_f32(w, o->beta1);
    gm__put_f32(w, o->beta2);
    gm__put_f32(w, o->eps);
    gm__put_f32(w, o->weight_decay);
    gm__put_f32(w, o->clip_norm);
    gm__put_u64(w, opt->t);
    gm__put_u64(w, opt->n);
    const uint32_t slots = (uint32_t)gm__optimizer_slots(opt);
    gm__put_u32(w, slots);
    gm__put_floats(w, opt->m, opt->n * slots);
    gm__section_end(w);
}

/* The stored hyperparameters must be what the layer made from them holds:
 * unused fields are 0, nothing is normalized away (compared field by
 * field, floats by their bits: the struct has padding). */
static gm_status gm__check_hyper_back(const gm_layer *l, const gm__hyper *h, const char *ctx)
{
    gm__hyper back;
    gm__layer_save_hyper(l, &back);
    for (int k = 0; k < 5; k++)
        if (back.u[k] != h->u[k])
            return gm__set_error(GM_EFORMAT, ctx,
                                 "hyperparameter u[%d] is %llu, a layer of these settings has %llu",
                                 k, (unsigned long long)h->u[k], (unsigned long long)back.u[k]);
    for (int k = 0; k < 3; k++)
        if (memcmp(&back.f[k], &h->f[k], sizeof(float)) != 0)
            return gm__set_error(GM_EFORMAT, ctx,
                                 "hyperparameter f[%d] is %g, a layer of these settings has %g", k,
                                 (double)h->f[k], (double)back.f[k]);
    return GM_OK;
}

/* A layer record's fixed part: kind, flag, hyperparameters, counts. */
static gm_status gm__get_layer_head(gm__rbuf *r, uint32_t *kind, uint32_t *trainable,
                                    gm__hyper *h, size_t *np, size_t *ns)
{
    GM_TRY(gm__get_u32(r, kind));
    GM_TRY(gm__get_u32(r, trainable));
    for (int k = 0; k < 5; k++) GM_TRY(gm__get_u64(r, &h->u[k]));
    for (int k = 0; k < 3; k++) GM_TRY(gm__get_f32(r, &h->f[k]));
    GM_TRY(gm__get_count(r, np, GM__BLAS_MAX, "parameter count"));
    return gm__get_count(r, ns, GM__BLAS_MAX, "state count");
}

/* One layer record; *out is the new standalone layer. The layer kind
 * answers for its parameter count, its hyperparameters' bounds and its
 * state (engine.h, gm__layer_vt): nothing here is kind-specific. */
static gm_status gm__get_layer(gm__rbuf *r, size_t index, gm_layer **out)
{
    *out = NULL;
    uint32_t kind, trainable;
    gm__hyper h;
    size_t np = 0, ns = 0;
    GM_TRY(gm__get_layer_head(r, &kind, &trainable, &h, &np, &ns));
    const gm__layer_vt *vt = kind <= INT32_MAX ? gm__layer_vt_for((int32_t)kind) : NULL;
    if (vt == NULL)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: layer %zu has unknown kind %u", r->what,
                             index, (unsigned)kind);
    char ctx[160]; /* "gm_vae_load: encoder: layer 3 (dense)" */
    snprintf(ctx, sizeof ctx, "%s: %s: layer %zu (%s)", r->fn, r->what, index, vt->name);
    if (trainable > 1)
        return gm__set_error(GM_EFORMAT, ctx, "trainable flag %u is not 0 or 1",
                             (unsigned)trainable);
    if (np != gm__layer_hyper_params(vt, &h))
        return gm__set_error(GM_EFORMAT, ctx, "%zu parameters stored, its sizes make %zu", np,
                             gm__layer_hyper_params(vt, &h));
    /* the floats must be in the file before the constructor allocates */
    if (np + ns > (r->len - r->off) / 4)
        return gm__set_error(GM_EFORMAT, r->fn,
                             "truncated %s: layer %zu (%s) needs %zu floats, %zu bytes left",
                             r->what, index, vt->name, np + ns, r->len - r->off);
    gm_layer *l = NULL;
    gm_status st = gm__layer_from_hyper(&l, vt, &h, ctx);
    /* (the message already names ctx, and so the loader) */
    if (st != GM_OK) return st == GM_ENOMEM ? GM_ENOMEM : GM_EFORMAT;
    if (l->nparams != np || l->nstate != ns)
        st = gm__set_error(GM_EFORMAT, ctx,
                           "%zu parameters and %zu state values stored, the layer has %zu and %zu",
                           np, ns, l->nparams, l->nstate);
    if (st == GM_OK) st = gm__check_hyper_back(l, &h, ctx);
    if (st == GM_OK) st = gm__get_floats(r, l->params, np, "a parameter");
    if (st == GM_OK) st = gm__get_floats(r, l->state, ns, "a state value");
    if (st == GM_OK && vt->validate_state && vt->validate_state(l, ctx) != GM_OK)
        st = GM_EFORMAT;
    if (st != GM_OK) {
        gm_layer_free(l);
        return st;
    }
    l->trainable = (int)trainable;
    *out = l;
    return GM_OK;
}

/* A NET section's payload into a new net. */
static gm_status gm__get_net(gm__rbuf *r, gm_net **out)
{
    *out = NULL;
    uint32_t n, training;
    GM_TRY(gm__get_u32(r, &n));
    GM_TRY(gm__get_u32(r, &training));
    if (n < 1 || n > GM__CK_MAX_LAYERS)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: layer count %u is not in [1, %d]", r->what,
                             (unsigned)n, GM__CK_MAX_LAYERS);
    if (training > 1)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: training flag %u is not 0 or 1", r->what,
                             (unsigned)training);
    if ((size_t)n > (r->len - r->off) / GM__CK_LAYER_FIXED)
        return gm__set_error(GM_EFORMAT, r->fn, "truncated %s: %u layers cannot fit in %zu bytes",
                             r->what, (unsigned)n, r->len - r->off);
    gm_net *net = NULL;
    GM_TRY(gm_net_create(&net));
    gm_status st = GM_OK;
    for (size_t i = 0; i < n && st == GM_OK; i++) {
        gm_layer *l;
        st = gm__get_layer(r, i, &l);
        if (st == GM_OK) {
            st = gm_net_add(net, l);
            if (st != GM_OK) gm_layer_free(l);
        }
    }
    if (st != GM_OK) {
        gm_net_free(net);
        return st;
    }
    net->training = (int)training;
    *out = net;
    return GM_OK;
}

gm_status gm__get_opt(gm__rbuf *r, gm__opt_rec *rec)
{
    gm_optimizer_options *o = &rec->o;
    uint32_t kind, nesterov;
    gm_optimizer_options_init(o, GM_OPT_ADAM);
    GM_TRY(gm__get_u32(r, &kind));
    GM_TRY(gm__get_f32(r, &o->lr));
    GM_TRY(gm__get_f32(r, &o->momentum));
    GM_TRY(gm__get_u32(r, &nesterov));
    GM_TRY(gm__get_f32(r, &o->beta1));
    GM_TRY(gm__get_f32(r, &o->beta2));
    GM_TRY(gm__get_f32(r, &o->eps));
    GM_TRY(gm__get_f32(r, &o->weight_decay));
    GM_TRY(gm__get_f32(r, &o->clip_norm));
    GM_TRY(gm__get_u64(r, &rec->t));
    GM_TRY(gm__get_count(r, &rec->n, GM__BLAS_MAX, "parameter count"));
    GM_TRY(gm__get_u32(r, &rec->slots));
    o->kind = (int32_t)kind;
    o->nesterov = (int32_t)nesterov;
    if (rec->slots < 1 || rec->slots > 2)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: %u moment slots, expected 1 or 2", r->what,
                             (unsigned)rec->slots);
    if (gm__optimizer_options_check(r->fn, o) != GM_OK)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: %s", r->what, gm_last_error());
    if ((o->kind == GM_OPT_SGD ? 1u : 2u) != rec->slots)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: %u moment slots for optimizer kind %d",
                             r->what, (unsigned)rec->slots, (int)o->kind);
    rec->moments = *r;
    GM_TRY(gm__get_floats(r, NULL, rec->n * rec->slots, "a moment"));
    /* Adam's second moments are averages of squares */
    for (size_t i = rec->n; rec->slots == 2 && i < 2 * rec->n; i++) {
        const unsigned char *b = rec->moments.p + rec->moments.off + 4 * i;
        if (b[3] & 0x80u) {
            uint32_t v = gm__rd32(b);
            float f;
            memcpy(&f, &v, 4);
            if (f < 0.0f)
                return gm__set_error(GM_EFORMAT, r->fn,
                                     "%s: second moment [%zu] is negative (%g)", r->what,
                                     i - rec->n, (double)f);
        }
    }
    return GM_OK;
}

/* Puts a record's step count and moments into opt (made from rec->o). */
gm_status gm__set_opt(const gm__opt_rec *rec, gm_optimizer *opt, const char *fn)
{
    if (rec->n != opt->n || (opt->n > 0 && rec->slots != gm__optimizer_slots(opt)))
        return gm__set_error(GM_EFORMAT, fn,
                             "optimizer state for %zu parameters x %u slots, the net needs %zu x %zu",
                             rec->n, (unsigned)rec->slots, opt->n, gm__optimizer_slots(opt));
    gm__rbuf m = rec->moments;
    GM_TRY(gm__get_floats(&m, opt->m, opt->n * gm__optimizer_slots(opt), "a moment"));
    opt->t = rec->t;
    opt->o.lr = rec->o.lr; /* a VAE's two optimizers share settings but for set_lr history */
    return GM_OK;
}

gm_status gm__get_net_section(gm__rbuf *file, const char *what, gm_net **out)
{
    gm__rbuf s;
    *out = NULL;
    GM_TRY(gm__get_section(file, GM__TAG_NET, what, &s));
    GM_TRY(gm__get_net(&s, out));
    gm_status st = gm__get_end(&s);
    if (st != GM_OK) {
        gm_net_free(*out);
        *out = NULL;
    }
    return st;
}

gm_status gm__net_load_buffer(gm_net **out, const void *buf, size_t len, const char *fn)
{
    *out = NULL;
    gm__rbuf file;
    GM_TRY(gm__get_header(buf, len, GM__CK_NET, 1, fn, &file));
    gm_net *net;
    GM_TRY(gm__get_net_section(&file, "net", &net));
    if (file.off != file.len) {
        gm_net_free(net);
        return gm__set_error(GM_EFORMAT, fn, "%zu unexpected bytes after the last section",
                             file.len - file.off);
    }
    *out = net;
    return GM_OK;
}

