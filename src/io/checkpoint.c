/* SPDX-License-Identifier: MIT */
/* Loading checkpoints of VAEs and GANs, and the three public loaders
 * (format in include/genmodel/io.h and io/checkpoint_internal.h). A model
 * is rebuilt through gm_vae_create / gm_gan_create from options that its
 * table of option fields read (missing records keep the defaults of
 * gm_vae_options_init / gm_gan_options_init), then its optimizer state,
 * generators and step count are restored through its model view.
 * The other parts: checkpoint_read.c (cursor, header, sections, file),
 * checkpoint_net.c (NET, OPTM), checkpoint_records.c (options section),
 * checkpoint_write.c (saving). */
#include "io/checkpoint.h"

#include <string.h>

#include "gan/gan_internal.h"
#include "io/checkpoint_internal.h"
#include "vae/vae_internal.h"

/* Version 1 stored the first 7 fields of each model's option table (the
 * tables keep that order; rows added since come after them). */
#define GM__CK_V1_FIELDS 7

/* The parsed parts of a model file: nets, optimizer records, generators. */
typedef struct gm__model_rec {
    gm_net *net[2];
    gm__opt_rec opt[2];
    uint64_t rng[4];  /* train seed, position, aux seed, position */
    gm__rbuf options; /* the options section's payload */
} gm__model_rec;

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

/* The step count of a read options section (0 without its record). */
static uint64_t gm__steps_of(const gm__rec_slot *steps)
{
    if (!steps->seen) return 0;
    const unsigned char *p = steps->value.p;
    return (uint64_t)gm__rd32(p) | (uint64_t)gm__rd32(p + 4) << 32;
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

/* The VAE's options from m's options section; its one optimizer setting
 * into *oa. */
static gm_status gm__vae_options_of(gm__model_rec *m, gm_vae_options *o,
                                    gm_optimizer_options *oa, uint64_t *steps, const char *fn)
{
    size_t nf;
    const gm__opt_field *fields = gm__vae_option_fields(&nf);
    gm__rec_slot slot = {GM__REC_STEPS, GM__REC_U64, 0, {0}};
    gm_vae_options_init(o);
    GM_TRY(gm__get_options(&m->options, fields, nf, GM__CK_V1_FIELDS, o, &slot, 1));
    GM_TRY(gm__get_end(&m->options));
    *steps = gm__steps_of(&slot);
    /* one optimizer setting serves both nets; only lr may differ (set_lr) */
    gm_optimizer_options ob = m->opt[1].o;
    *oa = m->opt[0].o;
    ob.lr = oa->lr;
    if (memcmp(oa, &ob, sizeof ob) != 0)
        return gm__set_error(GM_EFORMAT, fn, "the VAE's two optimizers have different settings");
    o->optimizer = oa;
    return GM_OK;
}

gm_status gm__vae_load_buffer(gm_vae **out, const void *buf, size_t len, const char *fn)
{
    *out = NULL;
    static const char *const names[3] = {"encoder", "decoder", "VAE options"};
    gm__model_rec m;
    GM_TRY(gm__get_model(buf, len, GM__CK_VAE, GM__TAG_VAE, names, fn, &m));
    gm_vae_options o;
    gm_optimizer_options oa;
    uint64_t steps = 0;
    gm_vae *v = NULL;
    gm_status st = gm__vae_options_of(&m, &o, &oa, &steps, fn);
    if (st == GM_OK) {
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

/* Version 1's optional tail of the GAN options, a moving-average
 * generator: its decay, and a cursor over its floats (checked). Absent:
 * *decay keeps its default, ema->seen stays 0. */
static gm_status gm__get_ema_v1(gm__rbuf *s, float *decay, gm__rec_slot *ema)
{
    if (s->off >= s->len) return GM_OK;
    GM_TRY(gm__get_f32(s, decay));
    if (!(*decay > 0.0f && *decay < 1.0f))
        return gm__set_error(GM_EFORMAT, s->fn, "GAN options: ema_decay %g is not in (0, 1)",
                             (double)*decay);
    size_t n;
    GM_TRY(gm__get_count(s, &n, UINT64_MAX, "EMA floats"));
    GM_TRY(gm__need(s, n > SIZE_MAX / 4 ? SIZE_MAX : 4 * n));
    ema->value = (gm__rbuf){s->p + s->off, 4 * n, 0, s->fn, s->what, s->base + s->off, 1};
    ema->seen = 1;
    s->off += 4 * n;
    return GM_OK;
}

/* The GAN's options and its moving average's record from m. */
static gm_status gm__gan_options_of(gm__model_rec *m, gm_gan_options *o, uint64_t *steps,
                                    gm__rec_slot *ema, uint32_t *d_done)
{
    size_t nf;
    const gm__opt_field *fields = gm__gan_option_fields(&nf);
    gm__rec_slot slots[3] = {{GM__REC_STEPS, GM__REC_U64, 0, {0}},
                             {GM__REC_EMA, GM__REC_F32S, 0, {0}},
                             {GM__REC_DDONE, GM__REC_U32, 0, {0}}};
    gm__rbuf *s = &m->options;
    gm_gan_options_init(o);
    /* version 1 stored the fields before ema_decay, then its own tail */
    GM_TRY(gm__get_options(s, fields, nf, GM__CK_V1_FIELDS, o, slots, 3));
    if (s->version == 1) GM_TRY(gm__get_ema_v1(s, &o->ema_decay, &slots[1]));
    GM_TRY(gm__get_end(s));
    if (slots[1].seen != (o->ema_decay > 0.0f))
        return gm__set_error(GM_EFORMAT, s->fn, "GAN options: %s",
                             slots[1].seen ? "a moving average, but ema_decay is 0"
                                           : "ema_decay is set, but the moving average is missing");
    *steps = gm__steps_of(&slots[0]);
    *ema = slots[1];
    *d_done = slots[2].seen ? gm__rd32(slots[2].value.p) : 0;
    o->g_optimizer = &m->opt[0].o;
    o->d_optimizer = &m->opt[1].o;
    return GM_OK;
}

/* Copies the moving average's floats (the record ema) into g's. */
static gm_status gm__put_ema(gm_gan *g, const gm__rec_slot *ema, const char *fn)
{
    if (!ema->seen) return GM_OK;
    gm__gan_ema *e = gm__gan_ema_of(g);
    const size_t n = ema->value.len / 4;
    if (n != e->np + e->ns)
        return gm__set_error(GM_EFORMAT, fn,
                             "GAN options: the moving average has %zu floats, the generator %zu",
                             n, e->np + e->ns);
    gm__rbuf r = ema->value;
    return gm__get_floats(&r, e->avg, n, "EMA");
}

gm_status gm__gan_load_buffer(gm_gan **out, const void *buf, size_t len, const char *fn)
{
    *out = NULL;
    static const char *const names[3] = {"generator", "discriminator", "GAN options"};
    gm__model_rec m;
    GM_TRY(gm__get_model(buf, len, GM__CK_GAN, GM__TAG_GAN, names, fn, &m));
    gm_gan_options o;
    uint64_t steps = 0;
    gm__rec_slot ema = {0, 0, 0, {0}};
    uint32_t d_done = 0;
    gm_gan *g = NULL;
    gm_status st = gm__gan_options_of(&m, &o, &steps, &ema, &d_done);
    if (st == GM_OK) {
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
    if (st == GM_OK) st = gm__put_ema(g, &ema, fn);
    if (st != GM_OK) {
        gm_gan_free(g);
        return st;
    }
    *gm__gan_d_done_of(g) = d_done;
    *out = g;
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
