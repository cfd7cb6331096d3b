/* SPDX-License-Identifier: MIT */
/* Checkpoints of nets, VAEs and GANs (format in include/genmodel/io.h).
 *
 * Writing builds the whole image in memory, then replaces the file
 * atomically (io/atomic.h). Reading loads the whole file, then parses it
 * with a bounds-checked cursor: every count is checked against a fixed
 * bound and against the bytes left before anything is allocated, and a
 * layer's parameter count is derived from its hyperparameters and compared
 * with the file before the layer is made. Layers are rebuilt through their
 * public constructors (vt->load), so hostile hyperparameters meet the same
 * checks as a caller's; models through gm_vae_create / gm_gan_create.
 *
 * Layout, all little-endian:
 *   header   magic[8] u32 version, u32 kind, u32 sections, u32 crc(bytes 0..20)
 *   section  u32 tag, u32 crc32(payload), u64 length, payload
 * A net file has one NET section; a VAE or GAN file has NET (encoder /
 * generator), NET (decoder / discriminator), OPTM, OPTM, RNGS and its
 * options section, in that order. A GAN with a moving-average generator
 * (ema_decay > 0) ends its options section with f32 ema_decay, u64 count
 * and the average's floats (G's parameters, then its batchnorm running
 * statistics); without one the section ends at the step count, as before.
 *
 * Fuzzing builds (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, libFuzzer's
 * convention) skip the CRC comparisons so that mutated inputs reach the
 * parsers behind them. */
#define _POSIX_C_SOURCE 200809L

#include "io/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <genmodel/io.h>

#include "engine/engine.h"
#include "gan/gan_internal.h"
#include "io/atomic.h"
#include "vae/vae_internal.h"

enum { GM__CK_NET = 1, GM__CK_VAE = 2, GM__CK_GAN = 3 };

#define GM__CK_HEADER 24
#define GM__CK_SECTION 16
#define GM__CK_MAX_LAYERS 65536
#define GM__CK_MAX_FILE ((uint64_t)1 << 40) /* 1 TiB: more is not a checkpoint */
/* Bytes of a layer record before its floats: kind, trainable, u[5], f[3],
 * nparams, nstate. */
#define GM__CK_LAYER_FIXED (4 + 4 + 5 * 8 + 3 * 4 + 8 + 8)

#define GM__TAG(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
#define GM__TAG_NET GM__TAG('N', 'E', 'T', ' ')
#define GM__TAG_OPT GM__TAG('O', 'P', 'T', 'M')
#define GM__TAG_RNG GM__TAG('R', 'N', 'G', 'S')
#define GM__TAG_VAE GM__TAG('V', 'A', 'E', 'O')
#define GM__TAG_GAN GM__TAG('G', 'A', 'N', 'O')

static const char *gm__kind_name(uint32_t kind)
{
    switch (kind) {
    case GM__CK_NET: return "net";
    case GM__CK_VAE: return "VAE";
    case GM__CK_GAN: return "GAN";
    default: return "unknown";
    }
}

static uint32_t gm__crc(const unsigned char *p, size_t n)
{
    return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), p, n);
}

/* ---- writing ------------------------------------------------------------ */

typedef struct gm__wbuf {
    unsigned char *p;
    size_t len, cap;
    int oom;          /* an allocation failed: the rest is skipped */
    size_t section;   /* offset of the open section's header */
} gm__wbuf;

static void gm__put(gm__wbuf *w, const void *src, size_t n)
{
    if (w->oom) return;
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap - w->len < n) {
            if (cap > SIZE_MAX / 2) {
                w->oom = 1;
                return;
            }
            cap *= 2;
        }
        unsigned char *p = gm__realloc_array(w->p, cap, 1);
        if (p == NULL) {
            w->oom = 1;
            return;
        }
        w->p = p;
        w->cap = cap;
    }
    memcpy(w->p + w->len, src, n);
    w->len += n;
}

static void gm__le32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

static void gm__put_u32(gm__wbuf *w, uint32_t v)
{
    unsigned char b[4];
    gm__le32(b, v);
    gm__put(w, b, 4);
}

static void gm__put_u64(gm__wbuf *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    gm__put(w, b, 8);
}

static void gm__put_f32(gm__wbuf *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    gm__put_u32(w, v);
}

static void gm__put_floats(gm__wbuf *w, const float *x, size_t n)
{
    unsigned char b[4096];
    while (n > 0 && !w->oom) {
        size_t k = n < sizeof b / 4 ? n : sizeof b / 4;
        for (size_t i = 0; i < k; i++) {
            uint32_t v;
            memcpy(&v, &x[i], 4);
            gm__le32(b + 4 * i, v);
        }
        gm__put(w, b, 4 * k);
        x += k;
        n -= k;
    }
}

static void gm__section_begin(gm__wbuf *w, uint32_t tag)
{
    w->section = w->len;
    gm__put_u32(w, tag);
    gm__put_u32(w, 0); /* crc and length are filled by gm__section_end */
    gm__put_u64(w, 0);
}

static void gm__section_end(gm__wbuf *w)
{
    if (w->oom) return;
    unsigned char *h = w->p + w->section;
    const size_t len = w->len - w->section - GM__CK_SECTION;
    gm__le32(h + 4, gm__crc(h + GM__CK_SECTION, len));
    for (int i = 0; i < 8; i++) h[8 + i] = (unsigned char)((uint64_t)len >> (8 * i));
}

static void gm__put_header(gm__wbuf *w, uint32_t kind, uint32_t sections)
{
    gm__put(w, GM_CHECKPOINT_MAGIC, 8);
    gm__put_u32(w, GM_CHECKPOINT_VERSION);
    gm__put_u32(w, kind);
    gm__put_u32(w, sections);
    if (!w->oom) gm__put_u32(w, gm__crc(w->p, 20));
}

static void gm__put_net(gm__wbuf *w, const gm_net *net)
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

static void gm__put_opt(gm__wbuf *w, const gm_optimizer *opt)
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

static void gm__put_rngs(gm__wbuf *w, const gm_rng *train, const gm_rng *aux)
{
    gm__section_begin(w, GM__TAG_RNG);
    gm__put_u64(w, train->seed);
    gm__put_u64(w, train->position);
    gm__put_u64(w, aux->seed);
    gm__put_u64(w, aux->position);
    gm__section_end(w);
}

/* The parts a VAE and a GAN share: both nets, both optimizers, the
 * generators. */
static void gm__put_model(gm__wbuf *w, uint32_t kind, const gm__model_view *mv)
{
    gm__put_header(w, kind, 6);
    gm__put_net(w, mv->net[0]);
    gm__put_net(w, mv->net[1]);
    gm__put_opt(w, mv->opt[0]);
    gm__put_opt(w, mv->opt[1]);
    gm__put_rngs(w, mv->train_rng, mv->aux_rng);
}

/* Writes the image to path atomically and frees it. */
static gm_status gm__save(gm__wbuf *w, const char *path, const char *fn)
{
    gm_status st = GM_OK;
    if (w->oom) {
        st = gm__set_error(GM_ENOMEM, fn, "cannot allocate the checkpoint image (%zu bytes so far)",
                           w->len);
    } else {
        gm__atomic_file f;
        st = gm__atomic_open(&f, path, fn);
        if (st == GM_OK) st = gm__atomic_write(&f, w->p, w->len, fn);
        if (st == GM_OK)
            st = gm__atomic_commit(&f, fn);
        else if (f.tmp != NULL)
            gm__atomic_abort(&f);
    }
    gm__free(w->p);
    return st;
}

gm_status gm_net_save(const gm_net *net, const char *path)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(path);
    GM_CHECK(path[0] != '\0', GM_EINVAL, "path must not be empty");
    GM_CHECK(net->n_layers > 0, GM_ESTATE, "the net has no layers");
    gm__wbuf w = {0};
    gm__put_header(&w, GM__CK_NET, 1);
    gm__put_net(&w, net);
    return gm__save(&w, path, __func__);
}

static gm_status gm__check_save_model(const char *fn, const void *model, const char *path,
                                      const gm__model_view *mv)
{
    if (model == NULL) return gm__set_error(GM_EINVAL, fn, "the model must not be NULL");
    if (path == NULL) return gm__set_error(GM_EINVAL, fn, "path must not be NULL");
    if (path[0] == '\0') return gm__set_error(GM_EINVAL, fn, "path must not be empty");
    if (mv->pending)
        return gm__set_error(GM_ESTATE, fn,
                             "computed gradients await an apply; apply them before saving");
    return GM_OK;
}

gm_status gm_vae_save(const gm_vae *vae, const char *path)
{
    gm__model_view mv = {0};
    gm_vae_options o;
    if (vae) gm__vae_model_view(vae, &mv, &o);
    GM_TRY(gm__check_save_model(__func__, vae, path, &mv));
    gm__wbuf w = {0};
    gm__put_model(&w, GM__CK_VAE, &mv);
    gm__section_begin(&w, GM__TAG_VAE);
    gm__put_u64(&w, o.latent);
    gm__put_u32(&w, (uint32_t)o.likelihood);
    gm__put_f32(&w, o.gaussian_logvar);
    gm__put_f32(&w, o.beta);
    gm__put_u64(&w, o.kl_warmup_steps);
    gm__put_u64(&w, o.seed);
    gm__put_u64(&w, o.num_classes);
    gm__put_u64(&w, *mv.steps);
    gm__section_end(&w);
    return gm__save(&w, path, __func__);
}

gm_status gm_gan_save(const gm_gan *gan, const char *path)
{
    gm__model_view mv = {0};
    gm_gan_options o;
    if (gan) gm__gan_model_view(gan, &mv, &o);
    GM_TRY(gm__check_save_model(__func__, gan, path, &mv));
    gm__wbuf w = {0};
    gm__put_model(&w, GM__CK_GAN, &mv);
    gm__section_begin(&w, GM__TAG_GAN);
    gm__put_u64(&w, o.latent);
    gm__put_u32(&w, (uint32_t)o.loss);
    gm__put_u32(&w, o.n_critic);
    gm__put_f32(&w, o.real_label);
    gm__put_f32(&w, o.weight_clip);
    gm__put_u64(&w, o.seed);
    gm__put_u64(&w, o.num_classes);
    gm__put_u64(&w, *mv.steps);
    const gm__gan_ema *ema = gm__gan_ema_view(gan);
    if (ema->decay > 0.0f) {
        gm__put_f32(&w, ema->decay);
        gm__put_u64(&w, ema->np + ema->ns);
        gm__put_floats(&w, ema->avg, ema->np + ema->ns);
    }
    gm__section_end(&w);
    return gm__save(&w, path, __func__);
}

/* ---- reading ------------------------------------------------------------ */

/* A bounds-checked cursor over one section's payload (or the header). */
typedef struct gm__rbuf {
    const unsigned char *p;
    size_t len, off;
    const char *fn;
    const char *what; /* the part being read, for messages */
    size_t base;      /* file offset of p[0], for messages */
} gm__rbuf;

static gm_status gm__need(gm__rbuf *r, size_t n)
{
    if (n <= r->len - r->off) return GM_OK;
    return gm__set_error(GM_EFORMAT, r->fn,
                         "truncated %s: %zu bytes needed at file offset %zu, %zu left", r->what,
                         n, r->base + r->off, r->len - r->off);
}

static uint32_t gm__rd32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static gm_status gm__get_u32(gm__rbuf *r, uint32_t *v)
{
    GM_TRY(gm__need(r, 4));
    *v = gm__rd32(r->p + r->off);
    r->off += 4;
    return GM_OK;
}

static gm_status gm__get_u64(gm__rbuf *r, uint64_t *v)
{
    GM_TRY(gm__need(r, 8));
    *v = (uint64_t)gm__rd32(r->p + r->off) | (uint64_t)gm__rd32(r->p + r->off + 4) << 32;
    r->off += 8;
    return GM_OK;
}

static gm_status gm__get_f32(gm__rbuf *r, float *f)
{
    uint32_t v;
    GM_TRY(gm__get_u32(r, &v));
    memcpy(f, &v, 4);
    return GM_OK;
}

/* A u64 count as size_t, at most max. */
static gm_status gm__get_count(gm__rbuf *r, size_t *n, uint64_t max, const char *name)
{
    uint64_t v;
    GM_TRY(gm__get_u64(r, &v));
    if (v > max)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: %s %llu exceeds %llu", r->what, name,
                             (unsigned long long)v, (unsigned long long)max);
    *n = (size_t)v;
    return GM_OK;
}

/* n finite floats into dst (NULL: only checked and skipped). */
static gm_status gm__get_floats(gm__rbuf *r, float *dst, size_t n, const char *name)
{
    if (n > (r->len - r->off) / 4) return gm__need(r, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = gm__rd32(r->p + r->off + 4 * i);
        float f;
        memcpy(&f, &v, 4);
        if (!isfinite(f))
            return gm__set_error(GM_EFORMAT, r->fn, "%s: %s[%zu] is not finite (%g)", r->what,
                                 name, i, (double)f);
        if (dst) dst[i] = f;
    }
    r->off += 4 * n;
    return GM_OK;
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

/* An OPTM section: the settings, the step count and the moments (left in
 * the file image, checked finite). */
typedef struct gm__opt_rec {
    gm_optimizer_options o;
    uint64_t t;
    size_t n;
    uint32_t slots;
    gm__rbuf moments; /* cursor at the moments */
} gm__opt_rec;

static gm_status gm__get_opt(gm__rbuf *r, gm__opt_rec *rec)
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
static gm_status gm__set_opt(const gm__opt_rec *rec, gm_optimizer *opt, const char *fn)
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

/* The parsed parts of a model file: nets, optimizer records, generators. */
typedef struct gm__model_rec {
    gm_net *net[2];
    gm__opt_rec opt[2];
    uint64_t rng[4]; /* train seed, position, aux seed, position */
    gm__rbuf options; /* the options section's payload */
} gm__model_rec;

/* Reads the file header: magic, version, kind (must be `want`), section
 * count; *sections receives the cursor past it. */
static gm_status gm__get_header(const unsigned char *buf, size_t len, uint32_t want,
                                uint32_t want_sections, const char *fn, gm__rbuf *rest)
{
    if (len < GM__CK_HEADER || memcmp(buf, GM_CHECKPOINT_MAGIC, 8) != 0)
        return gm__set_error(GM_EFORMAT, fn, "not a libgenmodel checkpoint (%s)",
                             len < GM__CK_HEADER ? "too short" : "bad magic");
    const uint32_t version = gm__rd32(buf + 8), kind = gm__rd32(buf + 12),
                   nsec = gm__rd32(buf + 16), crc = gm__rd32(buf + 20);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (crc != gm__crc(buf, 20))
        return gm__set_error(GM_EFORMAT, fn, "the header is corrupt (CRC %08x, expected %08x)",
                             (unsigned)gm__crc(buf, 20), (unsigned)crc);
#else
    (void)crc;
#endif
    if (version == 0)
        return gm__set_error(GM_EFORMAT, fn, "format version 0 does not exist");
    if (version > GM_CHECKPOINT_VERSION)
        return gm__set_error(GM_EVERSION, fn,
                             "format version %u was written by a later library; this one (%s) "
                             "reads versions 1 to %u",
                             (unsigned)version, GM_VERSION_STRING, GM_CHECKPOINT_VERSION);
    if (kind != want)
        return gm__set_error(GM_EFORMAT, fn, "this is a %s checkpoint, not a %s checkpoint",
                             gm__kind_name(kind), gm__kind_name(want));
    if (nsec != want_sections)
        return gm__set_error(GM_EFORMAT, fn, "a %s checkpoint has %u sections, this one says %u",
                             gm__kind_name(want), (unsigned)want_sections, (unsigned)nsec);
    *rest = (gm__rbuf){buf, len, GM__CK_HEADER, fn, "header", 0};
    return GM_OK;
}

/* The next section, which must have tag `tag`: *payload is a cursor over
 * it (its CRC checked), and file moves past it. */
static gm_status gm__get_section(gm__rbuf *file, uint32_t tag, const char *what,
                                 gm__rbuf *payload)
{
    uint32_t t, crc;
    uint64_t len;
    /* An empty cursor until the section is found (and never read
     * uninitialized on an error path). */
    *payload = (gm__rbuf){NULL, 0, 0, file->fn, what, file->off};
    file->what = what;
    GM_TRY(gm__get_u32(file, &t));
    GM_TRY(gm__get_u32(file, &crc));
    GM_TRY(gm__get_u64(file, &len));
    if (t != tag)
        return gm__set_error(GM_EFORMAT, file->fn,
                             "expected the %s section at file offset %zu, found tag %08x",
                             what, file->off - GM__CK_SECTION, (unsigned)t);
    if (len > file->len - file->off)
        return gm__set_error(GM_EFORMAT, file->fn,
                             "truncated file: the %s section says %llu bytes, %zu are left", what,
                             (unsigned long long)len, file->len - file->off);
    const unsigned char *p = file->p + file->off;
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (gm__crc(p, (size_t)len) != crc)
        return gm__set_error(GM_EFORMAT, file->fn,
                             "the %s section is corrupt (CRC %08x, expected %08x)", what,
                             (unsigned)gm__crc(p, (size_t)len), (unsigned)crc);
#else
    (void)crc;
#endif
    *payload = (gm__rbuf){p, (size_t)len, 0, file->fn, what, file->off};
    file->off += (size_t)len;
    return GM_OK;
}

/* A section's payload must be used up exactly. */
static gm_status gm__get_end(const gm__rbuf *r)
{
    if (r->off == r->len) return GM_OK;
    return gm__set_error(GM_EFORMAT, r->fn, "%s: %zu unexpected bytes at its end", r->what,
                         r->len - r->off);
}

static gm_status gm__get_net_section(gm__rbuf *file, const char *what, gm_net **out)
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

static void gm__model_rec_free(gm__model_rec *m)
{
    gm_net_free(m->net[0]);
    gm_net_free(m->net[1]);
    m->net[0] = m->net[1] = NULL;
}

/* The sections a VAE and a GAN share, then the options section's cursor. */
static gm_status gm__get_model(const void *buf, size_t len, uint32_t kind, uint32_t opt_tag,
                               const char *const names[3], const char *fn, gm__model_rec *m)
{
    memset(m, 0, sizeof *m);
    gm__rbuf file, s;
    GM_TRY(gm__get_header(buf, len, kind, 6, fn, &file));
    gm_status st = gm__get_net_section(&file, names[0], &m->net[0]);
    if (st == GM_OK) st = gm__get_net_section(&file, names[1], &m->net[1]);
    for (int k = 0; k < 2 && st == GM_OK; k++) {
        st = gm__get_section(&file, GM__TAG_OPT, k ? "second optimizer" : "first optimizer", &s);
        if (st == GM_OK) st = gm__get_opt(&s, &m->opt[k]);
        if (st == GM_OK) st = gm__get_end(&s);
    }
    if (st == GM_OK) st = gm__get_section(&file, GM__TAG_RNG, "generators", &s);
    for (int k = 0; k < 4 && st == GM_OK; k++) st = gm__get_u64(&s, &m->rng[k]);
    if (st == GM_OK) st = gm__get_end(&s);
    if (st == GM_OK) st = gm__get_section(&file, opt_tag, names[2], &m->options);
    if (st == GM_OK && file.off != file.len)
        st = gm__set_error(GM_EFORMAT, fn, "%zu unexpected bytes after the last section",
                           file.len - file.off);
    if (st != GM_OK) gm__model_rec_free(m);
    return st;
}

/* After the model was made from m: optimizer state, generators, steps. */
static gm_status gm__restore_model(const gm__model_rec *m, const gm__model_view *mv,
                                   uint64_t steps, const char *fn)
{
    GM_TRY(gm__set_opt(&m->opt[0], mv->opt[0], fn));
    GM_TRY(gm__set_opt(&m->opt[1], mv->opt[1], fn));
    gm_rng_set_state(mv->train_rng, m->rng[0], m->rng[1]);
    gm_rng_set_state(mv->aux_rng, m->rng[2], m->rng[3]);
    *mv->steps = steps;
    return GM_OK;
}

/* Reports a model constructor's refusal of the file's contents. */
static gm_status gm__refused(gm_status st, const char *fn, const char *kind)
{
    return gm__set_error(st == GM_ENOMEM ? GM_ENOMEM : GM_EFORMAT, fn,
                         "the %s in the file cannot be rebuilt: %s", kind, gm_last_error());
}

gm_status gm__vae_load_buffer(gm_vae **out, const void *buf, size_t len, const char *fn)
{
    *out = NULL;
    static const char *const names[3] = {"encoder", "decoder", "VAE options"};
    gm__model_rec m;
    GM_TRY(gm__get_model(buf, len, GM__CK_VAE, GM__TAG_VAE, names, fn, &m));
    gm_vae_options o;
    gm_vae_options_init(&o);
    uint32_t likelihood;
    uint64_t steps;
    gm__rbuf *s = &m.options;
    gm_status st = gm__get_count(s, &o.latent, UINT64_MAX, "latent");
    if (st == GM_OK) st = gm__get_u32(s, &likelihood);
    if (st == GM_OK) st = gm__get_f32(s, &o.gaussian_logvar);
    if (st == GM_OK) st = gm__get_f32(s, &o.beta);
    if (st == GM_OK) st = gm__get_u64(s, &o.kl_warmup_steps);
    if (st == GM_OK) st = gm__get_u64(s, &o.seed);
    if (st == GM_OK) st = gm__get_count(s, &o.num_classes, UINT64_MAX, "num_classes");
    if (st == GM_OK) st = gm__get_u64(s, &steps);
    if (st == GM_OK) st = gm__get_end(s);
    /* one optimizer setting serves both nets; only lr may differ (set_lr) */
    gm_optimizer_options oa = m.opt[0].o, ob = m.opt[1].o;
    ob.lr = oa.lr;
    if (st == GM_OK && memcmp(&oa, &ob, sizeof oa) != 0)
        st = gm__set_error(GM_EFORMAT, fn, "the VAE's two optimizers have different settings");
    gm_vae *v = NULL;
    if (st == GM_OK) {
        o.likelihood = (int32_t)likelihood;
        o.optimizer = &oa;
        st = gm_vae_create(&v, m.net[0], m.net[1], &o);
        if (st != GM_OK) st = gm__refused(st, fn, "VAE");
    }
    if (st != GM_OK) {
        gm__model_rec_free(&m);
        return st;
    }
    gm__model_view mv;
    gm__vae_model_view(v, &mv, &o);
    st = gm__restore_model(&m, &mv, steps, fn);
    if (st != GM_OK) {
        gm_vae_free(v);
        return st;
    }
    *out = v;
    return GM_OK;
}

/* The GAN options' optional tail, a moving-average generator: its decay, and
 * its floats' count and offset in s (checked, then skipped; gm__put_ema reads
 * them once the GAN exists). Absent: *decay keeps its default, *n = 0. */
static gm_status gm__get_ema_rec(gm__rbuf *s, float *decay, size_t *n, size_t *at,
                                 const char *fn)
{
    if (s->off >= s->len) return GM_OK;
    GM_TRY(gm__get_f32(s, decay));
    if (!(*decay > 0.0f && *decay < 1.0f))
        return gm__set_error(GM_EFORMAT, fn, "GAN options: ema_decay %g is not in (0, 1)",
                             (double)*decay);
    GM_TRY(gm__get_count(s, n, UINT64_MAX, "EMA floats"));
    *at = s->off;
    return gm__get_floats(s, NULL, *n, "EMA");
}

/* Copies the n averaged floats at offset at of s into g's moving average. */
static gm_status gm__put_ema(gm_gan *g, const gm__rbuf *s, size_t n, size_t at, const char *fn)
{
    gm__gan_ema *ema = gm__gan_ema_of(g);
    if (n != ema->np + ema->ns)
        return gm__set_error(GM_EFORMAT, fn,
                             "GAN options: the moving average has %zu floats, the generator %zu",
                             n, ema->np + ema->ns);
    if (n == 0) return GM_OK;
    gm__rbuf r = *s;
    r.off = at;
    return gm__get_floats(&r, ema->avg, n, "EMA");
}

gm_status gm__gan_load_buffer(gm_gan **out, const void *buf, size_t len, const char *fn)
{
    *out = NULL;
    static const char *const names[3] = {"generator", "discriminator", "GAN options"};
    gm__model_rec m;
    GM_TRY(gm__get_model(buf, len, GM__CK_GAN, GM__TAG_GAN, names, fn, &m));
    gm_gan_options o;
    gm_gan_options_init(&o);
    uint32_t loss;
    uint64_t steps;
    gm__rbuf *s = &m.options;
    gm_status st = gm__get_count(s, &o.latent, UINT64_MAX, "latent");
    if (st == GM_OK) st = gm__get_u32(s, &loss);
    if (st == GM_OK) st = gm__get_u32(s, &o.n_critic);
    if (st == GM_OK) st = gm__get_f32(s, &o.real_label);
    if (st == GM_OK) st = gm__get_f32(s, &o.weight_clip);
    if (st == GM_OK) st = gm__get_u64(s, &o.seed);
    if (st == GM_OK) st = gm__get_count(s, &o.num_classes, UINT64_MAX, "num_classes");
    if (st == GM_OK) st = gm__get_u64(s, &steps);
    size_t nema = 0, ema_at = 0; /* the average's floats and their offset */
    if (st == GM_OK) st = gm__get_ema_rec(s, &o.ema_decay, &nema, &ema_at, fn);
    if (st == GM_OK) st = gm__get_end(s);
    gm_gan *g = NULL;
    if (st == GM_OK) {
        o.loss = (int32_t)loss;
        o.g_optimizer = &m.opt[0].o;
        o.d_optimizer = &m.opt[1].o;
        st = gm_gan_create(&g, m.net[0], m.net[1], &o);
        if (st != GM_OK) st = gm__refused(st, fn, "GAN");
    }
    if (st != GM_OK) {
        gm__model_rec_free(&m);
        return st;
    }
    gm__model_view mv;
    gm__gan_model_view(g, &mv, &o);
    st = gm__restore_model(&m, &mv, steps, fn);
    if (st == GM_OK) st = gm__put_ema(g, s, nema, ema_at, fn);
    if (st != GM_OK) {
        gm_gan_free(g);
        return st;
    }
    *out = g;
    return GM_OK;
}

/* Reads the whole file at path into a new buffer. */
static gm_status gm__read_file(const char *path, const char *fn, unsigned char **buf,
                               size_t *len)
{
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gm__set_error(GM_EIO, fn, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    gm_status st = GM_OK;
    if (fstat(fd, &sb) != 0)
        st = gm__set_error(GM_EIO, fn, "cannot stat '%s': %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = gm__set_error(GM_EIO, fn, "'%s' is not a regular file", path);
    else if (sb.st_size < GM__CK_HEADER)
        st = gm__set_error(GM_EFORMAT, fn, "'%s' is %lld bytes, too short for a checkpoint", path,
                           (long long)sb.st_size);
    else if ((uint64_t)sb.st_size > GM__CK_MAX_FILE || (uint64_t)sb.st_size > SIZE_MAX)
        st = gm__set_error(GM_EFORMAT, fn, "'%s' is %lld bytes, too large for a checkpoint", path,
                           (long long)sb.st_size);
    size_t n = st == GM_OK ? (size_t)sb.st_size : 0, got = 0;
    unsigned char *p = NULL;
    if (st == GM_OK && (p = gm__malloc(n)) == NULL)
        st = gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu bytes for '%s'", n, path);
    while (st == GM_OK && got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0)
            st = gm__set_error(GM_EIO, fn, "cannot read '%s': %s", path, strerror(errno));
        else if (k == 0)
            st = gm__set_error(GM_EFORMAT, fn, "'%s' ended after %zu of %zu bytes", path, got, n);
        else
            got += (size_t)k;
    }
    (void)close(fd);
    if (st != GM_OK) {
        gm__free(p);
        return st;
    }
    *buf = p;
    *len = n;
    return GM_OK;
}

/* The body of the three public loaders. */
#define GM__LOAD_FILE(type, parse)                                     \
    do {                                                               \
        GM_CHECK_NULL(out);                                            \
        *out = NULL;                                                   \
        GM_CHECK_NULL(path);                                           \
        unsigned char *buf;                                            \
        size_t len;                                                    \
        GM_TRY(gm__read_file(path, __func__, &buf, &len));             \
        type *obj;                                                     \
        gm_status st_ = parse(&obj, buf, len, __func__);               \
        gm__free(buf);                                                 \
        if (st_ == GM_OK) *out = obj;                                  \
        return st_;                                                    \
    } while (0)

gm_status gm_net_load(gm_net **out, const char *path) { GM__LOAD_FILE(gm_net, gm__net_load_buffer); }

gm_status gm_vae_load(gm_vae **out, const char *path) { GM__LOAD_FILE(gm_vae, gm__vae_load_buffer); }

gm_status gm_gan_load(gm_gan **out, const char *path) { GM__LOAD_FILE(gm_gan, gm__gan_load_buffer); }
