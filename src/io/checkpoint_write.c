/* SPDX-License-Identifier: MIT */
/* Writing checkpoints of nets, VAEs and GANs (format version 2,
 * io/checkpoint_internal.h). The whole image is built in memory, then
 * replaces the file atomically (io/atomic.h). A model's options are asked
 * of its table (gm__vae_option_fields, gm__gan_option_fields) and its parts
 * of its read-only state view. */
#include <string.h>

#include "gan/gan_internal.h"
#include "io/atomic.h"
#include "io/checkpoint_internal.h"
#include "vae/vae_internal.h"

void gm__put(gm__wbuf *w, const void *src, size_t n)
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

void gm__put_u32(gm__wbuf *w, uint32_t v)
{
    unsigned char b[4];
    gm__le32(b, v);
    gm__put(w, b, 4);
}

void gm__put_u64(gm__wbuf *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
    gm__put(w, b, 8);
}

void gm__put_f32(gm__wbuf *w, float f)
{
    uint32_t v;
    memcpy(&v, &f, 4);
    gm__put_u32(w, v);
}

void gm__put_floats(gm__wbuf *w, const float *x, size_t n)
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

void gm__section_begin(gm__wbuf *w, uint32_t tag)
{
    w->section = w->len;
    gm__put_u32(w, tag);
    gm__put_u32(w, 0); /* crc and length are filled by gm__section_end */
    gm__put_u64(w, 0);
}

void gm__section_end(gm__wbuf *w)
{
    if (w->oom) return;
    unsigned char *h = w->p + w->section;
    const size_t len = w->len - w->section - GM__CK_SECTION;
    gm__le32(h + 4, gm__ck_crc(h + GM__CK_SECTION, len));
    for (int i = 0; i < 8; i++) h[8 + i] = (unsigned char)((uint64_t)len >> (8 * i));
}

static void gm__put_header(gm__wbuf *w, uint32_t kind, uint32_t sections)
{
    gm__put(w, GM_CHECKPOINT_MAGIC, 8);
    gm__put_u32(w, GM_CHECKPOINT_VERSION);
    gm__put_u32(w, kind);
    gm__put_u32(w, sections);
    if (!w->oom) gm__put_u32(w, gm__ck_crc(w->p, 20));
}

void gm__put_record_head(gm__wbuf *w, uint32_t id, uint32_t type, uint64_t length)
{
    gm__put_u32(w, id);
    gm__put_u32(w, type);
    gm__put_u64(w, length);
}

void gm__put_options(gm__wbuf *w, const gm__opt_field *fields, size_t n, const void *opts)
{
    for (size_t i = 0; i < n; i++) {
        const gm__opt_field *f = &fields[i];
        const unsigned char *p = (const unsigned char *)opts + f->offset;
        uint32_t v32;
        uint64_t v64;
        if (f->type == GM__REC_U64) {
            if (f->size == sizeof(uint64_t)) {
                memcpy(&v64, p, 8);
            } else { /* a 32-bit size_t */
                memcpy(&v32, p, 4);
                v64 = v32;
            }
            gm__put_record_head(w, f->id, (uint32_t)f->type, 8);
            gm__put_u64(w, v64);
        } else { /* U32, I32, F32: four bytes, stored by their bits */
            memcpy(&v32, p, 4);
            gm__put_record_head(w, f->id, (uint32_t)f->type, 4);
            gm__put_u32(w, v32);
        }
    }
}

static void gm__put_rngs(gm__wbuf *w, const gm_rng *train, const gm_rng *aux)
{
    uint64_t s[4];
    gm_rng_get_state(train, &s[0], &s[1]);
    gm_rng_get_state(aux, &s[2], &s[3]);
    gm__section_begin(w, GM__TAG_RNG);
    for (int k = 0; k < 4; k++) gm__put_u64(w, s[k]);
    gm__section_end(w);
}

/* The parts a VAE and a GAN share (both nets, both optimizers, the
 * generators), then the options section up to its state records. */
static void gm__put_model(gm__wbuf *w, uint32_t kind, const gm__model_state *sv, uint32_t tag,
                          const gm__opt_field *fields, size_t n, const void *opts)
{
    gm__put_header(w, kind, 6);
    gm__put_net(w, sv->net[0]);
    gm__put_net(w, sv->net[1]);
    gm__put_opt(w, sv->opt[0]);
    gm__put_opt(w, sv->opt[1]);
    gm__put_rngs(w, sv->train_rng, sv->aux_rng);
    gm__section_begin(w, tag);
    gm__put_options(w, fields, n, opts);
    gm__put_record_head(w, GM__REC_STEPS, GM__REC_U64, 8);
    gm__put_u64(w, sv->steps);
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

static gm_status gm__check_save_model(const char *fn, const void *model, const char *path)
{
    if (model == NULL) return gm__set_error(GM_EINVAL, fn, "the model must not be NULL");
    if (path == NULL) return gm__set_error(GM_EINVAL, fn, "path must not be NULL");
    if (path[0] == '\0') return gm__set_error(GM_EINVAL, fn, "path must not be empty");
    return GM_OK;
}

static gm_status gm__check_pending(const char *fn, const gm__model_state *sv)
{
    if (!sv->pending) return GM_OK;
    return gm__set_error(GM_ESTATE, fn, "computed gradients await an apply; apply them before saving");
}

gm_status gm_vae_save(const gm_vae *vae, const char *path)
{
    GM_TRY(gm__check_save_model(__func__, vae, path));
    gm__model_state sv;
    gm_vae_options o;
    gm__vae_state_view(vae, &sv, &o);
    GM_TRY(gm__check_pending(__func__, &sv));
    size_t n;
    const gm__opt_field *fields = gm__vae_option_fields(&n);
    gm__wbuf w = {0};
    gm__put_model(&w, GM__CK_VAE, &sv, GM__TAG_VAE, fields, n, &o);
    gm__section_end(&w);
    return gm__save(&w, path, __func__);
}

gm_status gm_gan_save(const gm_gan *gan, const char *path)
{
    GM_TRY(gm__check_save_model(__func__, gan, path));
    gm__model_state sv;
    gm_gan_options o;
    gm__gan_state_view(gan, &sv, &o);
    GM_TRY(gm__check_pending(__func__, &sv));
    size_t n;
    const gm__opt_field *fields = gm__gan_option_fields(&n);
    gm__wbuf w = {0};
    gm__put_model(&w, GM__CK_GAN, &sv, GM__TAG_GAN, fields, n, &o);
    const gm__gan_ema *ema = gm__gan_ema_view(gan);
    if (ema->decay > 0.0f) {
        gm__put_record_head(&w, GM__REC_EMA, GM__REC_F32S, 4 * (uint64_t)(ema->np + ema->ns));
        gm__put_floats(&w, ema->avg, ema->np + ema->ns);
    }
    if (gm__gan_d_done(gan) != 0) {
        gm__put_record_head(&w, GM__REC_DDONE, GM__REC_U32 | GM__REC_OPTIONAL, 4);
        gm__put_u32(&w, gm__gan_d_done(gan));
    }
    gm__section_end(&w);
    return gm__save(&w, path, __func__);
}
