/* SPDX-License-Identifier: MIT */
/* Class-wide reliability regressions (issue 18, "Reliability, round two"):
 * every setting a checkpoint holds is checked as the constructors check
 * it; a step never writes non-finite parameters with GM_OK; a call that
 * fails for memory leaves every object (generators included) as it was
 * and names the public function; long file names save; multi-member and
 * oversized gzip IDX files; ELU's gradient far below 0; batchnorm with
 * one value per feature in training. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "gm_test.h"

/* ---- helpers ------------------------------------------------------------ */

static void add(gm_net *net, gm_status st, gm_layer **l)
{
    GM_CK_OK(st);
    GM_CK_OK(gm_net_add(net, *l));
}

/* A VAE on 16 features whose nets hold every kind of layer but the
 * convolutions and reshapes (the GAN has those): dense, batchnorm, relu,
 * dropout, spectral norm, elu, sigmoid, softplus, leaky relu, tanh. */
static gm_vae *make_vae(uint64_t seed, int sgd)
{
    gm_rng *rng;
    gm_net *enc, *dec;
    gm_layer *l;
    GM_CK_OK(gm_rng_create(&rng, seed));
    GM_CK_OK(gm_net_create(&enc));
    GM_CK_OK(gm_net_create(&dec));
    add(enc, gm_dense_create(&l, 16, 12, GM_INIT_HE, rng), &l);
    add(enc, gm_batchnorm_create(&l, 12, 0.1f, 1e-5f), &l);
    add(enc, gm_relu_create(&l), &l);
    add(enc, gm_dropout_create(&l, 0.2f, seed + 7), &l);
    GM_CK_OK(gm_dense_create(&l, 12, 12, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_layer_spectral_norm(l, 1, 1e-12f, rng));
    add(enc, GM_OK, &l);
    add(enc, gm_leaky_relu_create(&l, 0.1f), &l);
    add(enc, gm_dense_create(&l, 12, 8, GM_INIT_XAVIER, rng), &l);
    add(dec, gm_dense_create(&l, 4, 12, GM_INIT_HE, rng), &l);
    add(dec, gm_elu_create(&l, 1.0f), &l);
    add(dec, gm_dense_create(&l, 12, 12, GM_INIT_HE, rng), &l);
    add(dec, gm_sigmoid_create(&l), &l);
    add(dec, gm_dense_create(&l, 12, 12, GM_INIT_HE, rng), &l);
    add(dec, gm_tanh_create(&l), &l);
    add(dec, gm_dense_create(&l, 12, 12, GM_INIT_HE, rng), &l);
    add(dec, gm_softplus_create(&l), &l);
    add(dec, gm_dense_create(&l, 12, 16, GM_INIT_TORCH, rng), &l);
    gm_vae_options o;
    gm_optimizer_options oo;
    gm_vae_options_init(&o);
    o.latent = 4;
    o.seed = seed;
    o.kl_warmup_steps = 5;
    if (sgd) {
        gm_optimizer_options_init(&oo, GM_OPT_SGD);
        oo.momentum = 0.9f;
        o.optimizer = &oo;
    }
    gm_vae *v;
    GM_CK_OK(gm_vae_create(&v, enc, dec, &o));
    gm_rng_free(rng);
    return v;
}

/* A small DCGAN on 1 x 8 x 8 images: G with a reshape, batchnorm and a
 * transposed conv; D with a spectrally normalized conv, dropout, flatten;
 * D by SGD with momentum when sgd_d. */
static gm_gan *make_gan(uint64_t seed, int sgd_d)
{
    gm_rng *rng;
    gm_net *g, *d;
    gm_layer *l;
    GM_CK_OK(gm_rng_create(&rng, seed));
    GM_CK_OK(gm_net_create(&g));
    GM_CK_OK(gm_net_create(&d));
    add(g, gm_dense_create(&l, 4, 32, GM_INIT_HE, rng), &l);
    add(g, gm_reshape_create(&l, 3, (size_t[]){2, 4, 4}), &l);
    add(g, gm_batchnorm_create(&l, 2, 0.1f, 1e-5f), &l);
    add(g, gm_relu_create(&l), &l);
    add(g, gm_conv_transpose2d_create(&l, 2, 1, 4, 2, 1, GM_INIT_XAVIER, rng), &l);
    add(g, gm_tanh_create(&l), &l);
    GM_CK_OK(gm_conv2d_create(&l, 1, 4, 4, 2, 1, GM_INIT_HE, rng));
    GM_CK_OK(gm_layer_spectral_norm(l, 1, 1e-12f, rng));
    add(d, GM_OK, &l);
    add(d, gm_leaky_relu_create(&l, 0.2f), &l);
    add(d, gm_dropout_create(&l, 0.1f, seed + 3), &l);
    add(d, gm_flatten_create(&l), &l);
    add(d, gm_dense_create(&l, 64, 1, GM_INIT_XAVIER, rng), &l);
    gm_gan_options o;
    gm_gan_options_init(&o);
    o.latent = 4;
    o.seed = seed;
    o.n_critic = 2;
    gm_optimizer_options od;
    if (sgd_d) {
        gm_optimizer_options_init(&od, GM_OPT_SGD);
        od.lr = 0.01f;
        od.momentum = 0.5f;
        od.nesterov = 1;
        o.d_optimizer = &od;
    }
    gm_gan *gan;
    GM_CK_OK(gm_gan_create(&gan, g, d, &o));
    gm_rng_free(rng);
    return gan;
}

/* Batch b of a fixed data stream: [n x 16] in [0, 1] or [n x 1 x 8 x 8]
 * in [-1, 1]. */
static gm_tensor *batch(int images, size_t n, size_t b)
{
    gm_tensor *t;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 1000 + b));
    if (images)
        GM_CK_OK(gm_tensor_create(&t, 4, (size_t[]){n, 1, 8, 8}));
    else
        GM_CK_OK(gm_tensor_create(&t, 2, (size_t[]){n, 16}));
    GM_CK_OK(gm_tensor_fill_uniform(t, rng));
    if (images) {
        float *x = gm_tensor_data(t);
        for (size_t i = 0; i < gm_tensor_numel(t); i++) x[i] = 2.0f * x[i] - 1.0f;
    }
    gm_rng_free(rng);
    return t;
}

static int all_finite(const gm_net *net)
{
    size_t n = gm_net_param_count(net);
    float *p = malloc((n + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    GM_CK_OK(gm_net_get_params(net, p, n));
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= isfinite(p[i]) != 0;
    free(p);
    return ok;
}

/* ---- 1. every setting a checkpoint holds is checked ---------------------- */

static uint32_t rd32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}
static uint64_t rd64(const unsigned char *b) { return rd32(b) | (uint64_t)rd32(b + 4) << 32; }
static void wr32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}
static void wr64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* How a field is made invalid. */
enum { F_U32, F_U64, F_F32 };
#define MAXBAD 6
typedef struct {
    size_t off;      /* file offset */
    int type;        /* F_U32, F_U64, F_F32 */
    char name[64];   /* for messages */
    int nbad;        /* invalid values to try (0: every value is valid) */
    uint64_t bad_u[MAXBAD];
    float bad_f[MAXBAD];
    size_t section;  /* offset of its section's header, to fix the CRC */
} field;

typedef struct {
    field f[1024];
    size_t n;
    size_t sections[8];
    size_t nsec;
} field_table;

static field *put(field_table *t, size_t off, int type, size_t sec, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#include <stdarg.h>
static field *put(field_table *t, size_t off, int type, size_t sec, const char *fmt, ...)
{
    ck_assert_uint_lt(t->n, 1024);
    field *f = &t->f[t->n++];
    memset(f, 0, sizeof *f);
    f->off = off;
    f->type = type;
    f->section = sec;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->name, sizeof f->name, fmt, ap);
    va_end(ap);
    return f;
}
static void bad_u(field *f, int n, const uint64_t *v)
{
    f->nbad = n;
    memcpy(f->bad_u, v, n * sizeof *v);
}
static void bad_f(field *f, int n, const float *v)
{
    f->nbad = n;
    memcpy(f->bad_f, v, n * sizeof *v);
}

#define BADU(f, ...) bad_u((f), sizeof((uint64_t[]){__VA_ARGS__}) / 8, (uint64_t[]){__VA_ARGS__})
#define BADF(f, ...) bad_f((f), sizeof((float[]){__VA_ARGS__}) / 4, (float[]){__VA_ARGS__})

/* Layer kinds as the format numbers them (gm_layer_kind). Which of the
 * hyperparameter slots u[0..3], f[0..1] a kind uses, and the invalid
 * values of each used one; unused slots must be 0 (any other value is
 * invalid). u[4] / f[2] are the spectral-norm iterations / eps. */
static void layer_hyper_rules(field_table *t, size_t at, size_t sec, uint32_t kind, int net,
                              size_t li, const unsigned char *b)
{
    const size_t uo = at + 8, fo = at + 8 + 40;
    field *u[5], *fl[3];
    for (int k = 0; k < 5; k++) {
        u[k] = put(t, uo + 8 * k, F_U64, sec, "net %d layer %zu (kind %u) u[%d]", net, li,
                   (unsigned)kind, k);
        BADU(u[k], 1, (uint64_t)1 << 40); /* unused: must be 0 */
    }
    for (int k = 0; k < 3; k++) {
        fl[k] = put(t, fo + 4 * k, F_F32, sec, "net %d layer %zu (kind %u) f[%d]", net, li,
                    (unsigned)kind, k);
        BADF(fl[k], 1.0f, NAN, -1.0f); /* unused: must be 0 */
    }
    const uint64_t sn = rd64(b + uo + 32);
    /* spectral norm: iterations in [1, 100] with eps in (0, 1]; or 0 and 0 */
    if (sn) {
        BADU(u[4], 0, 101, (uint64_t)1 << 40);
        BADF(fl[2], NAN, INFINITY, 0.0f, -1.0f, 2.0f);
    } else {
        BADU(u[4], 1, 101);
        BADF(fl[2], 1e-12f, NAN, -1.0f);
    }
    switch (kind) {
    case GM_LAYER_DENSE:
        BADU(u[0], 0, (uint64_t)1 << 40, UINT64_MAX);
        BADU(u[1], 0, (uint64_t)1 << 40, UINT64_MAX);
        break;
    case GM_LAYER_CONV2D:
    case GM_LAYER_CONV_TRANSPOSE2D: {
        BADU(u[0], 0, (uint64_t)1 << 40);
        BADU(u[1], 0, (uint64_t)1 << 40);
        BADU(u[2], 0, (uint64_t)1 << 40);
        const uint64_t v = rd64(b + uo + 24); /* stride << 32 | padding */
        BADU(u[3], v & 0xffffffffu, (uint64_t)1 << 62 | (v & 0xffffffffu), v | 0x7fffffffu);
        break;
    }
    case GM_LAYER_BATCHNORM:
        BADU(u[0], 0, (uint64_t)1 << 40);
        BADF(fl[0], NAN, INFINITY, 0.0f, -0.5f, 2.0f);
        BADF(fl[1], NAN, INFINITY, 0.0f, -1e-5f, 2.0f);
        break;
    case GM_LAYER_DROPOUT:
        u[0]->nbad = 0; /* seed: any value */
        u[1]->nbad = 0; /* stream position: any value */
        BADF(fl[0], NAN, INFINITY, -0.1f, 1.0f, 2.0f);
        break;
    case GM_LAYER_LEAKY_RELU:
        BADF(fl[0], NAN, INFINITY, -0.1f, 1.0f);
        break;
    case GM_LAYER_ELU:
        BADF(fl[0], NAN, INFINITY, 0.0f, -1.0f);
        break;
    case GM_LAYER_RESHAPE: {
        const uint64_t nd = rd64(b + uo);
        BADU(u[0], 0, 5, (uint64_t)1 << 40);
        /* a used dimension: 0, beyond any size, or overflowing with the others */
        for (uint64_t k = 1; k <= nd && k < 4; k++)
            BADU(u[k], 0, (uint64_t)1 << 40, (uint64_t)1 << 31, UINT64_MAX);
        if (nd < 4) BADU(u[nd + 1], 1, (uint64_t)1 << 40);
        break;
    }
    default: /* relu, sigmoid, tanh, softplus, flatten: no hyperparameters */
        break;
    }
}

/* The value of a VAE or GAN options record (checkpoint format 2) and its
 * invalid values, by record id (vae_options.c, gan_options.c). */
static void option_record(field_table *t, const unsigned char *b, size_t at, size_t sec, int gan,
                          uint32_t id)
{
    (void)b;
    if (id == 256) { /* the step count */
        put(t, at, F_U64, sec, "%s steps (any value)", gan ? "GAN" : "VAE");
        return;
    }
    if (id == 257) { /* the GAN's moving average */
        BADF(put(t, at, F_F32, sec, "GAN EMA[0]"), NAN, INFINITY);
        return;
    }
    if (!gan) {
        switch (id) {
        case 1: BADU(put(t, at, F_U64, sec, "VAE latent"), 0, (uint64_t)1 << 40, UINT64_MAX); break;
        case 2: BADU(put(t, at, F_U32, sec, "VAE likelihood"), 9, UINT32_MAX); break;
        case 3: BADF(put(t, at, F_F32, sec, "VAE gaussian_logvar"), NAN, INFINITY, -INFINITY); break;
        case 4: BADF(put(t, at, F_F32, sec, "VAE beta"), NAN, INFINITY, -1.0f); break;
        case 5: put(t, at, F_U64, sec, "VAE kl_warmup_steps (any value)"); break;
        case 6: put(t, at, F_U64, sec, "VAE seed (any value)"); break;
        case 7: BADU(put(t, at, F_U64, sec, "VAE num_classes"), 1, 200000, UINT64_MAX); break;
        default: ck_abort_msg("VAE options record %u: not in this test's table", (unsigned)id);
        }
        return;
    }
    switch (id) {
    case 1: BADU(put(t, at, F_U64, sec, "GAN latent"), 0, (uint64_t)1 << 40, UINT64_MAX); break;
    case 2: BADU(put(t, at, F_U32, sec, "GAN loss"), 9, UINT32_MAX); break;
    case 3: BADU(put(t, at, F_U32, sec, "GAN n_critic"), 0, 101, UINT32_MAX); break;
    case 4: BADF(put(t, at, F_F32, sec, "GAN real_label"), NAN, INFINITY, 0.0f, -1.0f, 2.0f); break;
    case 5: BADF(put(t, at, F_F32, sec, "GAN weight_clip"), NAN, INFINITY, -1.0f); break;
    case 6: put(t, at, F_U64, sec, "GAN seed (any value)"); break;
    case 7: BADU(put(t, at, F_U64, sec, "GAN num_classes"), 1, 200000, UINT64_MAX); break;
    case 8: BADF(put(t, at, F_F32, sec, "GAN ema_decay"), NAN, INFINITY, -0.5f, 1.0f); break;
    case 9: BADU(put(t, at, F_U32, sec, "GAN penalty"), 3, UINT32_MAX); break;
    case 10: BADF(put(t, at, F_F32, sec, "GAN penalty_weight"), NAN, INFINITY, -1.0f); break;
    case 11: BADU(put(t, at, F_U32, sec, "GAN penalty_every"), 0, 1000001, UINT32_MAX); break;
    default: ck_abort_msg("GAN options record %u: not in this test's table", (unsigned)id);
    }
}

/* Walks a model checkpoint and lists every field with its invalid values.
 * Every byte of every section is accounted for (the walk must end exactly
 * at each section's end), so a field added to the format fails this test
 * until it is listed here. Floats of parameters and state are listed by
 * their first element (and, for batchnorm, the first running variance;
 * for Adam, the first second moment). */
static void build_table(const unsigned char *b, size_t len, int gan, field_table *t)
{
    memset(t, 0, sizeof *t);
    ck_assert_uint_ge(len, 24);
    size_t at = 24;
    put(t, 12, F_U32, SIZE_MAX, "header kind");
    BADU(&t->f[t->n - 1], 1, 2 + (uint64_t)!gan, 99);
    put(t, 16, F_U32, SIZE_MAX, "header section count");
    BADU(&t->f[t->n - 1], 0, 5, 7);
    uint32_t opt_kind[2] = {0, 0};
    for (int s = 0; s < 6; s++) {
        const size_t sec = at, plen = (size_t)rd64(b + at + 8), end = at + 16 + plen;
        t->sections[t->nsec++] = sec;
        ck_assert_uint_le(end, len);
        at += 16;
        if (s < 2) { /* NET */
            const uint32_t nl = rd32(b + at);
            BADU(put(t, at, F_U32, sec, "net %d layer count", s), 0, nl + 1, 70000);
            BADU(put(t, at + 4, F_U32, sec, "net %d training flag", s), 2, UINT32_MAX);
            at += 8;
            for (uint32_t i = 0; i < nl; i++) {
                const uint32_t kind = rd32(b + at);
                /* (another valid kind can make another valid model) */
                BADU(put(t, at, F_U32, sec, "net %d layer %u kind", s, i), 0, 999, UINT32_MAX);
                BADU(put(t, at + 4, F_U32, sec, "net %d layer %u trainable", s, i), 2);
                layer_hyper_rules(t, at, sec, kind, s, i, b);
                const size_t np = (size_t)rd64(b + at + 60), ns = (size_t)rd64(b + at + 68);
                BADU(put(t, at + 60, F_U64, sec, "net %d layer %u nparams", s, i), np + 1,
                     UINT64_MAX);
                BADU(put(t, at + 68, F_U64, sec, "net %d layer %u nstate", s, i), ns + 1,
                     UINT64_MAX);
                at += 76;
                if (np) BADF(put(t, at, F_F32, sec, "net %d layer %u param[0]", s, i), NAN,
                             INFINITY, -INFINITY);
                if (ns) BADF(put(t, at + 4 * np, F_F32, sec, "net %d layer %u state[0]", s, i),
                             NAN, INFINITY);
                if (kind == GM_LAYER_BATCHNORM)
                    BADF(put(t, at + 4 * (np + ns / 2), F_F32, sec,
                             "net %d layer %u running variance[0]", s, i),
                         -1.0f, -1e-30f, NAN);
                at += 4 * (np + ns);
            }
        } else if (s < 4) { /* OPTM */
            const int k = s - 2;
            opt_kind[k] = rd32(b + at);
            BADU(put(t, at, F_U32, sec, "optimizer %d kind", k), 3, 99,
                 opt_kind[k] == 0 ? 1 : 0);
            BADF(put(t, at + 4, F_F32, sec, "optimizer %d lr", k), NAN, INFINITY, 0.0f, -1e-3f,
                 -INFINITY);
            BADF(put(t, at + 8, F_F32, sec, "optimizer %d momentum", k), NAN, INFINITY, -0.1f,
                 1.0f);
            const float mom = *(const float *)(const void *)(b + at + 8);
            if (mom > 0.0f)
                BADU(put(t, at + 12, F_U32, sec, "optimizer %d nesterov", k), 2);
            else
                BADU(put(t, at + 12, F_U32, sec, "optimizer %d nesterov", k), 1, 2);
            BADF(put(t, at + 16, F_F32, sec, "optimizer %d beta1", k), NAN, INFINITY, -0.1f,
                 1.0f);
            BADF(put(t, at + 20, F_F32, sec, "optimizer %d beta2", k), NAN, INFINITY, -0.1f,
                 1.0f);
            BADF(put(t, at + 24, F_F32, sec, "optimizer %d eps", k), NAN, INFINITY, 0.0f, -1.0f);
            BADF(put(t, at + 28, F_F32, sec, "optimizer %d weight_decay", k), NAN, INFINITY,
                 -1.0f);
            BADF(put(t, at + 32, F_F32, sec, "optimizer %d clip_norm", k), NAN, INFINITY,
                 -1.0f);
            put(t, at + 36, F_U64, sec, "optimizer %d step count (any value)", k);
            const size_t n = (size_t)rd64(b + at + 44);
            BADU(put(t, at + 44, F_U64, sec, "optimizer %d parameter count", k), n + 1,
                 UINT64_MAX);
            const uint32_t slots = rd32(b + at + 52);
            BADU(put(t, at + 52, F_U32, sec, "optimizer %d slots", k), 0, 3 - slots, 3);
            at += 56;
            if (n) BADF(put(t, at, F_F32, sec, "optimizer %d moment[0]", k), NAN, INFINITY);
            if (n && slots == 2)
                BADF(put(t, at + 4 * n, F_F32, sec, "optimizer %d second moment[0]", k), NAN,
                     INFINITY, -1.0f, -1e-30f);
            at += 4 * n * slots;
        } else if (s == 4) { /* RNGS: any seed and position are valid */
            for (int k = 0; k < 4; k++)
                put(t, at + 8 * k, F_U64, sec, "generator %d %s (any value)", k / 2,
                    k % 2 ? "position" : "seed");
            at += 32;
        } else { /* VAEO / GANO, format 2: records of u32 id, u32 type, u64 length, value */
            while (at < end) {
                const uint32_t id = rd32(b + at);
                const uint64_t rl = rd64(b + at + 8);
                /* an id no library knows, not marked optional; a wrong type */
                BADU(put(t, at, F_U32, sec, "options record %u id", (unsigned)id), 200, 999);
                BADU(put(t, at + 4, F_U32, sec, "options record %u type", (unsigned)id), 0, 9,
                     0x200u | rd32(b + at + 4));
                put(t, at + 8, F_U64, sec, "options record %u length (not mutated)", (unsigned)id)
                    ->nbad = 0;
                option_record(t, b, at + 16, sec, gan, id);
                at += 16 + (size_t)rl;
            }
        }
        ck_assert_msg(at == end, "section %d: the walk ended at %zu, the section at %zu: a "
                      "field of the format is missing from this test's table", s, at, end);
    }
    ck_assert_uint_eq(at, len);
}

/* Rewrites the header and section CRCs of a mutated image. */
static void fix_crcs(unsigned char *b, const field_table *t)
{
    wr32(b + 20, (uint32_t)crc32(0L, b, 20));
    for (size_t s = 0; s < t->nsec; s++) {
        unsigned char *h = b + t->sections[s];
        wr32(h + 4, (uint32_t)crc32(0L, h + 16, (uInt)rd64(h + 8)));
    }
}

/* Loads every one-field mutation of the file at path: each must be
 * GM_EFORMAT with *out NULL and nothing leaked; a mutation to a value the
 * field allows must load. Returns the number of refused files. */
static int refuse_all(const char *path, int gan)
{
    size_t len;
    unsigned char *orig = gm_test_read_file(path, &len), *b = malloc(len);
    ck_assert_ptr_nonnull(b);
    static field_table t;
    build_table(orig, len, gan, &t);
    const char *mut = gm_test_path("mutated.gmck");
    int refused = 0;
    for (size_t i = 0; i < t.n; i++) {
        const field *f = &t.f[i];
        for (int k = 0; k < f->nbad; k++) {
            memcpy(b, orig, len);
            char val[64];
            if (f->type == F_F32) {
                uint32_t v;
                memcpy(&v, &f->bad_f[k], 4);
                wr32(b + f->off, v);
                snprintf(val, sizeof val, "%g", (double)f->bad_f[k]);
            } else {
                if (f->type == F_U32) wr32(b + f->off, (uint32_t)f->bad_u[k]);
                else wr64(b + f->off, f->bad_u[k]);
                snprintf(val, sizeof val, "%llu", (unsigned long long)f->bad_u[k]);
            }
            if (memcmp(b, orig, len) == 0) continue; /* the field holds that value */
            fix_crcs(b, &t);
            gm_test_write_file(mut, b, len);
            const size_t live = gm_live_allocations();
            void *out = (void *)&out; /* must become NULL */
            gm_clear_error();
            gm_status st = gan ? gm_gan_load((gm_gan **)&out, mut) : gm_vae_load((gm_vae **)&out, mut);
            ck_assert_msg(st == GM_EFORMAT, "%s = %s: load gave %s (%s)", f->name, val,
                          gm_status_string(st), gm_last_error());
            ck_assert_msg(out == NULL, "%s = %s: *out was not cleared", f->name, val);
            ck_assert_msg(gm_live_allocations() == live, "%s = %s: %zu allocations leaked",
                          f->name, val, gm_live_allocations() - live);
            ck_assert_msg(strstr(gm_last_error(), gan ? "gm_gan_load" : "gm_vae_load") != NULL,
                          "%s: %s", f->name, gm_last_error());
            refused++;
        }
    }
    /* the untouched image still loads after all that */
    fix_crcs(orig, &t);
    gm_test_write_file(mut, orig, len);
    void *out = NULL;
    GM_CK_OK(gan ? gm_gan_load((gm_gan **)&out, mut) : gm_vae_load((gm_vae **)&out, mut));
    if (gan) gm_gan_free(out);
    else gm_vae_free(out);
    printf("%s checkpoint: %zu fields, %d invalid files refused with GM_EFORMAT\n",
           gan ? "GAN" : "VAE", t.n, refused);
    free(orig);
    free(b);
    return refused;
}

START_TEST(test_checkpoint_every_field_checked)
{
    gm_test_dir_make("rel");
    /* trained a few steps, so moments and running statistics are set */
    for (int variant = 0; variant < 2; variant++) {
        gm_vae *v = make_vae(5 + variant, variant);
        gm_tensor *x = batch(0, 8, 0);
        for (int i = 0; i < 3; i++) GM_CK_OK(gm_vae_train_step(v, x, NULL, NULL));
        GM_CK_OK(gm_vae_save(v, gm_test_path("vae.gmck")));
        ck_assert_int_gt(refuse_all(gm_test_path("vae.gmck"), 0), 100);
        gm_vae_free(v);
        gm_tensor_free(x);
        gm_gan *g = make_gan(5 + variant, variant);
        x = batch(1, 8, 0);
        for (int i = 0; i < 2; i++) GM_CK_OK(gm_gan_train_step(g, x, NULL, NULL));
        GM_CK_OK(gm_gan_save(g, gm_test_path("gan.gmck")));
        ck_assert_int_gt(refuse_all(gm_test_path("gan.gmck"), 1), 100);
        gm_gan_free(g);
        gm_tensor_free(x);
    }
    ck_assert_uint_eq(gm_live_allocations(), 0);
    gm_test_dir_remove();
}
END_TEST

/* The attack's example: the decoder's optimizer (the second) with lr NaN,
 * inf, 0 or negative, made with valid CRCs, is refused. */
START_TEST(test_checkpoint_second_lr)
{
    gm_test_dir_make("rel");
    gm_vae *v = make_vae(9, 0);
    GM_CK_OK(gm_vae_save(v, gm_test_path("v.gmck")));
    size_t len;
    unsigned char *b = gm_test_read_file(gm_test_path("v.gmck"), &len);
    static field_table t;
    build_table(b, len, 0, &t);
    size_t off = 0;
    for (size_t i = 0; i < t.n; i++)
        if (strcmp(t.f[i].name, "optimizer 1 lr") == 0) off = t.f[i].off;
    ck_assert_uint_gt(off, 0);
    const float bad[] = {NAN, INFINITY, 0.0f, -1e-3f};
    for (int k = 0; k < 4; k++) {
        uint32_t u;
        memcpy(&u, &bad[k], 4);
        wr32(b + off, u);
        fix_crcs(b, &t);
        gm_test_write_file(gm_test_path("bad.gmck"), b, len);
        gm_vae *w = (gm_vae *)&w;
        GM_CK_ERR(GM_EFORMAT, "gm_vae_load", gm_vae_load(&w, gm_test_path("bad.gmck")));
        ck_assert_ptr_null(w);
        ck_assert_msg(strstr(gm_last_error(), "lr") != NULL, "%s", gm_last_error());
    }
    free(b);
    gm_vae_free(v);
    gm_test_dir_remove();
}
END_TEST

/* ---- 2. a step never writes non-finite values with GM_OK ---------------- */

/* Saves a model's whole state (parameters, layer state, optimizers,
 * generators, step count) to path. */
static void save_vae(gm_vae *v, const char *name) { GM_CK_OK(gm_vae_save(v, gm_test_path(name))); }
static void save_gan(gm_gan *g, const char *name) { GM_CK_OK(gm_gan_save(g, gm_test_path(name))); }

/* A failed step must be GM_ENUMERIC, not blame the caller's input, and
 * change nothing; a step that succeeds leaves finite parameters. */
static void check_step_msg(gm_status st, const char *msg, const char *fn, int changed_nothing,
                           int finite, const char *what)
{
    if (st == GM_OK) {
        ck_assert_msg(finite, "%s: GM_OK with non-finite parameters", what);
        return;
    }
    ck_assert_msg(st == GM_ENUMERIC, "%s: %s (%s)", what, gm_status_string(st), msg);
    ck_assert_msg(strncmp(msg, fn, strlen(fn)) == 0, "%s: '%s' does not name %s", what, msg, fn);
    ck_assert_msg(strstr(msg, "x[") == NULL && strstr(msg, "real[") == NULL,
                  "%s blames the caller's input: %s", what, msg);
    ck_assert_msg(changed_nothing, "%s: a failed step changed the model", what);
}
/* With the last error as the message (read before any other call). */
#define check_step(st, fn, same, finite, what)                                       \
    do {                                                                             \
        const int same_ = (same), finite_ = (finite);                                \
        check_step_msg((st), keep, (fn), same_, finite_, (what));                    \
    } while (0)

/* Parameters of both nets of a model, concatenated, malloc'd. */
static float *params2(const gm_net *a, const gm_net *b, size_t *n)
{
    const size_t na = gm_net_param_count(a), nb = gm_net_param_count(b);
    float *p = malloc((na + nb + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    GM_CK_OK(gm_net_get_params(a, p, na));
    GM_CK_OK(gm_net_get_params(b, p + na, nb));
    *n = na + nb;
    return p;
}

static int same_floats(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof *a) == 0;
}

START_TEST(test_huge_lr_never_ok_with_nonfinite)
{
    gm_test_dir_make("rel");
    const float lrs[] = {1e20f, 1e30f, 1e35f, 3e38f, FLT_MAX};
    int failures = 0, oks = 0;
    for (int i = 0; i < 5; i++) {
        /* train steps (whole-state comparison through a save) */
        gm_vae *v = make_vae(3, i % 2);
        gm_tensor *x = batch(0, 8, 1);
        GM_CK_OK(gm_vae_set_lr(v, lrs[i]));
        for (int s = 0; s < 4; s++) {
            save_vae(v, "before.gmck");
            gm_status st = gm_vae_train_step(v, x, NULL, NULL);
            char keep[512];
            snprintf(keep, sizeof keep, "%s", gm_last_error());
            int same = 1;
            if (st != GM_OK) {
                save_vae(v, "after.gmck");
                same = gm_test_files_equal(gm_test_path("before.gmck"), gm_test_path("after.gmck"));
                failures++;
            } else {
                oks++;
            }
            check_step(st, "gm_vae_train_step", same,
                       all_finite(gm_vae_encoder(v)) && all_finite(gm_vae_decoder(v)), "VAE step");
        }
        /* the custom loop: compute then apply */
        for (int s = 0; s < 4; s++) {
            size_t n;
            float *p0 = params2(gm_vae_encoder(v), gm_vae_decoder(v), &n);
            save_vae(v, "before.gmck");
            const char *fn = "gm_vae_compute_grads";
            gm_status st = gm_vae_compute_grads(v, x, NULL, 0, 8, NULL);
            if (st == GM_OK) {
                fn = "gm_vae_apply_grads";
                st = gm_vae_apply_grads(v);
            }
            char keep[512];
            snprintf(keep, sizeof keep, "%s", gm_last_error());
            float *p1 = params2(gm_vae_encoder(v), gm_vae_decoder(v), &n);
            if (st != GM_OK) failures++;
            check_step(st, fn, same_floats(p0, p1, n),
                       all_finite(gm_vae_encoder(v)) && all_finite(gm_vae_decoder(v)),
                       "VAE custom loop");
            free(p0);
            free(p1);
            if (st != GM_OK && strcmp(fn, "gm_vae_apply_grads") == 0) break; /* pending */
        }
        gm_vae_free(v);
        gm_tensor_free(x);

        gm_gan *g = make_gan(3, i % 2);
        x = batch(1, 8, 1);
        GM_CK_OK(gm_gan_set_lr(g, GM_GAN_GENERATOR, lrs[i]));
        GM_CK_OK(gm_gan_set_lr(g, GM_GAN_DISCRIMINATOR, lrs[i]));
        for (int s = 0; s < 4; s++) {
            save_gan(g, "before.gmck");
            gm_status st = gm_gan_train_step(g, x, NULL, NULL);
            char keep[512];
            snprintf(keep, sizeof keep, "%s", gm_last_error());
            int same = 1;
            if (st != GM_OK) {
                save_gan(g, "after.gmck");
                same = gm_test_files_equal(gm_test_path("before.gmck"), gm_test_path("after.gmck"));
                failures++;
            } else {
                oks++;
            }
            check_step(st, "gm_gan_train_step", same,
                       all_finite(gm_gan_generator(g)) && all_finite(gm_gan_discriminator(g)),
                       "GAN step");
        }
        for (int s = 0; s < 4; s++)
            for (int part = 0; part < 2; part++) {
                const gm_gan_part gp = part ? GM_GAN_GENERATOR : GM_GAN_DISCRIMINATOR;
                size_t n;
                float *p0 = params2(gm_gan_generator(g), gm_gan_discriminator(g), &n);
                const char *fn = "gm_gan_compute_grads";
                gm_status st = gm_gan_compute_grads(g, gp, x, NULL, 0, 8, NULL);
                if (st == GM_OK) {
                    fn = "gm_gan_apply_grads";
                    st = gm_gan_apply_grads(g, gp);
                }
                char keep[512];
                snprintf(keep, sizeof keep, "%s", gm_last_error());
                float *p1 = params2(gm_gan_generator(g), gm_gan_discriminator(g), &n);
                if (st != GM_OK) failures++;
                check_step(st, fn, same_floats(p0, p1, n),
                           all_finite(gm_gan_generator(g)) && all_finite(gm_gan_discriminator(g)),
                           "GAN custom loop");
                free(p0);
                free(p1);
                if (st != GM_OK && strcmp(fn, "gm_gan_apply_grads") == 0) s = 4, part = 2;
            }
        gm_gan_free(g);
        gm_tensor_free(x);

        /* the public optimizer step on a plain net */
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 4));
        gm_net *net;
        gm_layer *l;
        GM_CK_OK(gm_net_create(&net));
        add(net, gm_dense_create(&l, 16, 8, GM_INIT_HE, rng), &l);
        add(net, gm_relu_create(&l), &l);
        add(net, gm_dense_create(&l, 8, 1, GM_INIT_HE, rng), &l);
        gm_optimizer_options oo;
        gm_optimizer_options_init(&oo, i % 2 ? GM_OPT_SGD : GM_OPT_ADAM);
        oo.lr = lrs[i];
        gm_optimizer *opt;
        GM_CK_OK(gm_optimizer_create(&opt, net, &oo));
        x = batch(0, 8, 2);
        gm_tensor *y, *dy;
        GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){8, 1}));
        GM_CK_OK(gm_tensor_create(&dy, 2, (size_t[]){8, 1}));
        GM_CK_OK(gm_tensor_fill(dy, 1e3f));
        for (int s = 0; s < 4; s++) {
            gm_status st = gm_net_forward(net, x, y);
            if (st != GM_OK) break; /* the public forward keeps its contract */
            GM_CK_OK(gm_net_zero_grad(net));
            GM_CK_OK(gm_net_backward(net, dy, NULL));
            const size_t n = gm_net_param_count(net);
            float *p0 = malloc(n * sizeof *p0), *p1 = malloc(n * sizeof *p1);
            GM_CK_OK(gm_net_get_params(net, p0, n));
            const uint64_t t0 = gm_optimizer_step_count(opt);
            gm_clear_error();
            st = gm_optimizer_step(opt, net);
            char keep[512];
            snprintf(keep, sizeof keep, "%s", gm_last_error());
            GM_CK_OK(gm_net_get_params(net, p1, n));
            if (st != GM_OK) {
                failures++;
                ck_assert_uint_eq(gm_optimizer_step_count(opt), t0);
            }
            check_step(st, "gm_optimizer_step", same_floats(p0, p1, n), all_finite(net),
                       "gm_optimizer_step");
            free(p0);
            free(p1);
        }
        gm_tensor_free(x);
        gm_tensor_free(y);
        gm_tensor_free(dy);
        gm_optimizer_free(opt);
        gm_net_free(net);
        gm_rng_free(rng);
    }
    printf("huge learning rates: %d calls refused with GM_ENUMERIC, %d succeeded, none wrote a "
           "non-finite value\n", failures, oks);
    ck_assert_int_gt(failures, 10);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    gm_test_dir_remove();
}
END_TEST

/* The attack's example: lr 3e38 on a VAE fails the step with GM_ENUMERIC
 * and changes nothing; lr 1e30 is blamed on the model, not on x. */
START_TEST(test_vae_lr_examples)
{
    gm_test_dir_make("rel");
    gm_vae *v = make_vae(11, 0);
    gm_tensor *x = batch(0, 8, 3);
    GM_CK_OK(gm_vae_set_lr(v, 3e38f));
    save_vae(v, "a.gmck");
    GM_CK_ERR(GM_ENUMERIC, "gm_vae_train_step", gm_vae_train_step(v, x, NULL, NULL));
    save_vae(v, "b.gmck");
    ck_assert(gm_test_files_equal(gm_test_path("a.gmck"), gm_test_path("b.gmck")));
    gm_vae_free(v);
    v = make_vae(11, 0);
    GM_CK_OK(gm_vae_set_lr(v, 1e30f));
    gm_status st = GM_OK;
    for (int s = 0; s < 5 && st == GM_OK; s++) st = gm_vae_train_step(v, x, NULL, NULL);
    ck_assert_int_eq(st, GM_ENUMERIC);
    ck_assert_msg(strstr(gm_last_error(), "x[") == NULL, "%s", gm_last_error());
    gm_vae_free(v);
    gm_tensor_free(x);
    gm_test_dir_remove();
}
END_TEST

/* ---- 3, 4. failing allocations change nothing and name the function ----- */


/* One model call under test: runs on model m (a gm_vae or gm_gan), its
 * output into out (numel floats, compared after success). */
typedef struct {
    const char *fn; /* the public function */
    int gan;        /* the model kind */
    gm_status (*run)(void *m, float *out, size_t *numel, int variant);
} model_call;

static gm_tensor *g_xa, *g_xb, *g_x[3], *g_img[3], *g_mask, *g_z[3], *g_out[3], *g_gout[3];
static gm_net *g_feat;
static size_t sizes[3] = {5, 7, 3};

static size_t copy_out(const gm_tensor *t, float *out)
{
    memcpy(out, gm_tensor_data_const(t), gm_tensor_numel(t) * sizeof(float));
    return gm_tensor_numel(t);
}

#define V (int)(variant % 3)
static gm_status c_vae_sample(void *m, float *o, size_t *n, int variant)
{
    gm_status st = gm_vae_sample(m, sizes[V], NULL, g_out[V]);
    *n = copy_out(g_out[V], o);
    return st;
}
static gm_status c_vae_iwae(void *m, float *o, size_t *n, int variant)
{
    *n = 1;
    return gm_vae_iwae(m, g_x[V], NULL, 3, o);
}
static gm_status c_vae_elbo(void *m, float *o, size_t *n, int variant)
{
    gm_vae_stats s;
    gm_status st = gm_vae_elbo(m, g_x[V], NULL, &s);
    o[0] = s.loss, o[1] = s.recon, o[2] = s.kl;
    *n = st == GM_OK ? 3 : 0;
    return st;
}
static gm_status c_vae_encode(void *m, float *o, size_t *n, int variant)
{
    gm_status st = gm_vae_encode(m, g_x[V], NULL, g_z[V], NULL);
    *n = copy_out(g_z[V], o);
    return st;
}
static gm_status c_vae_decode(void *m, float *o, size_t *n, int variant)
{
    gm_status st = gm_vae_decode(m, g_z[V], NULL, g_out[V]);
    *n = copy_out(g_out[V], o);
    return st;
}
static gm_status c_vae_reconstruct(void *m, float *o, size_t *n, int variant)
{
    gm_status st = gm_vae_reconstruct(m, g_x[V], NULL, g_out[V]);
    *n = copy_out(g_out[V], o);
    return st;
}
static gm_status c_vae_interpolate(void *m, float *o, size_t *n, int variant)
{
    gm_status st = gm_vae_interpolate(m, g_xa, g_xb, NULL, g_out[V]);
    *n = copy_out(g_out[V], o);
    return st;
}
static gm_status c_vae_inpaint(void *m, float *o, size_t *n, int variant)
{
    (void)variant;
    gm_status st = gm_vae_inpaint(m, g_x[0], g_mask, 3, g_out[0]);
    *n = copy_out(g_out[0], o);
    return st;
}
static gm_status c_vae_train_step(void *m, float *o, size_t *n, int variant)
{
    gm_vae_stats s;
    gm_status st = gm_vae_train_step(m, g_x[V], NULL, &s);
    o[0] = s.loss;
    *n = st == GM_OK ? 1 : 0;
    return st;
}
static gm_status c_vae_compute_grads(void *m, float *o, size_t *n, int variant)
{
    gm_vae_stats s;
    gm_status st = gm_vae_compute_grads(m, g_x[V], NULL, 0, sizes[V], &s);
    o[0] = s.loss;
    *n = st == GM_OK ? 1 : 0;
    if (st == GM_OK) GM_CK_OK(gm_vae_apply_grads(m)); /* so that the model can be saved */
    return st;
}
static gm_status c_eval_images(void *m, float *o, size_t *n, int variant)
{
    (void)variant;
    gm_eval_report r = {.size = sizeof r};
    gm_eval_options eo;
    gm_eval_options_init(&eo);
    eo.k = 2;
    eo.iwae_k = 2;
    gm_status st = gm_eval_images(&r, g_feat, g_x[1], g_x[0], NULL, m, &eo);
    o[0] = (float)r.iwae_nll;
    *n = st == GM_OK ? 1 : 0;
    return st;
}
static gm_status c_gan_sample(void *m, float *o, size_t *n, int variant)
{
    gm_status st = gm_gan_sample(m, sizes[V], NULL, g_gout[V]);
    *n = copy_out(g_gout[V], o);
    return st;
}
static gm_status c_gan_generate(void *m, float *o, size_t *n, int variant)
{
    gm_status st = gm_gan_generate(m, g_z[V], NULL, g_gout[V]);
    *n = copy_out(g_gout[V], o);
    return st;
}
static gm_status c_gan_train_step(void *m, float *o, size_t *n, int variant)
{
    gm_gan_stats s;
    gm_status st = gm_gan_train_step(m, g_img[V], NULL, &s);
    o[0] = s.d_loss, o[1] = s.g_loss;
    *n = st == GM_OK ? 2 : 0;
    return st;
}
static gm_status c_gan_compute_grads(void *m, float *o, size_t *n, int variant)
{
    gm_gan_stats s;
    const gm_gan_part part = variant % 2 ? GM_GAN_GENERATOR : GM_GAN_DISCRIMINATOR;
    gm_status st = gm_gan_compute_grads(m, part, g_img[V], NULL, 0, sizes[V], &s);
    o[0] = s.d_loss, o[1] = s.g_loss;
    *n = st == GM_OK ? 2 : 0;
    if (st == GM_OK) GM_CK_OK(gm_gan_apply_grads(m, part));
    return st;
}
#undef V

static const model_call calls[] = {
    {"gm_vae_sample", 0, c_vae_sample},
    {"gm_vae_iwae", 0, c_vae_iwae},
    {"gm_vae_elbo", 0, c_vae_elbo},
    {"gm_vae_encode", 0, c_vae_encode},
    {"gm_vae_decode", 0, c_vae_decode},
    {"gm_vae_reconstruct", 0, c_vae_reconstruct},
    {"gm_vae_interpolate", 0, c_vae_interpolate},
    {"gm_vae_inpaint", 0, c_vae_inpaint},
    {"gm_vae_train_step", 0, c_vae_train_step},
    {"gm_vae_compute_grads", 0, c_vae_compute_grads},
    {"gm_eval_images", 0, c_eval_images},
    {"gm_gan_sample", 1, c_gan_sample},
    {"gm_gan_generate", 1, c_gan_generate},
    {"gm_gan_train_step", 1, c_gan_train_step},
    {"gm_gan_compute_grads", 1, c_gan_compute_grads},
};

static void *new_model(int gan) { return gan ? (void *)make_gan(21, 0) : (void *)make_vae(21, 0); }
static void free_model(int gan, void *m)
{
    if (gan) gm_gan_free(m);
    else gm_vae_free(m);
}
static void save_model(int gan, void *m, const char *name)
{
    if (gan) save_gan(m, name);
    else save_vae(m, name);
}

/* For every call: on a model that has run the call on other batch sizes
 * (so the failing allocations are the ones of a new size), fail the k-th
 * allocation for k = 0, 1, ... until the call succeeds. Each failure must
 * be GM_ENOMEM with a message that starts with the public function's name,
 * leak nothing and leave the model's whole saved state (parameters, layer
 * state, optimizers, both generators, steps) as it was; the call that
 * finally succeeds must return what the same call returns on a model that
 * never saw a failure, and so must the call after it (the generators are
 * where they would be). */
START_TEST(test_oom_changes_nothing_and_names_the_function)
{
    gm_test_dir_make("rel");
    /* the allocator can only change with no library object alive */
    const gm_allocator a = GM_TEST_OOM_ALLOCATOR;
    gm_test_oom_arm(-1);
    GM_CK_OK(gm_set_allocator(&a));
    for (int i = 0; i < 3; i++) {
        g_x[i] = batch(0, sizes[i], 40 + i);
        g_img[i] = batch(1, sizes[i], 50 + i);
        GM_CK_OK(gm_tensor_create(&g_z[i], 2, (size_t[]){sizes[i], 4}));
        GM_CK_OK(gm_tensor_create(&g_out[i], 2, (size_t[]){sizes[i], 16}));
        GM_CK_OK(gm_tensor_create(&g_gout[i], 4, (size_t[]){sizes[i], 1, 8, 8}));
        gm_rng *r;
        GM_CK_OK(gm_rng_create(&r, 60 + i));
        GM_CK_OK(gm_tensor_fill_normal(g_z[i], r));
        gm_rng_free(r);
    }
    GM_CK_OK(gm_tensor_wrap(&g_xa, 2, (size_t[]){1, 16}, gm_tensor_data(g_x[0])));
    GM_CK_OK(gm_tensor_wrap(&g_xb, 2, (size_t[]){1, 16}, gm_tensor_data(g_x[0]) + 16));
    GM_CK_OK(gm_tensor_create(&g_mask, 2, (size_t[]){sizes[0], 16}));
    for (size_t i = 0; i < gm_tensor_numel(g_mask); i++) gm_tensor_data(g_mask)[i] = (float)(i % 3 != 0);
    gm_layer *l;
    gm_rng *fr;
    GM_CK_OK(gm_rng_create(&fr, 77));
    GM_CK_OK(gm_net_create(&g_feat));
    add(g_feat, gm_dense_create(&l, 16, 3, GM_INIT_XAVIER, fr), &l);
    gm_rng_free(fr);
    float *got = malloc(4096 * sizeof *got), *want = malloc(4096 * sizeof *want);
    long points = 0;
    for (size_t c = 0; c < sizeof calls / sizeof calls[0]; c++) {
        const model_call *mc = &calls[c];
        size_t nw = 0, ng = 0;
        void *m, *ref;
        m = new_model(mc->gan);
        ref = new_model(mc->gan);
        GM_CK_OK(mc->run(ref, want, &nw, 0));
        GM_CK_OK(mc->run(ref, want, &nw, 1));
        GM_CK_OK(mc->run(m, got, &ng, 0));
        save_model(mc->gan, m, "before.gmck");
        long k = 0;
        for (;; k++) {
            const size_t live = gm_live_allocations();
            gm_test_oom_arm(k);
            gm_clear_error();
            gm_status st = mc->run(m, got, &ng, 1);
            gm_test_oom_arm(-1);
            if (st == GM_OK) break;
            char msg[600];
            snprintf(msg, sizeof msg, "%s", gm_last_error());
            ck_assert_msg(st == GM_ENOMEM, "%s: failing allocation %ld gave %s (%s)", mc->fn, k,
                          gm_status_string(st), msg);
            ck_assert_msg(strncmp(msg, mc->fn, strlen(mc->fn)) == 0 && msg[strlen(mc->fn)] == ':',
                          "%s: failing allocation %ld: the message names another function: %s",
                          mc->fn, k, msg);
            (void)live;
            save_model(mc->gan, m, "after.gmck");
            ck_assert_msg(gm_test_files_equal(gm_test_path("before.gmck"), gm_test_path("after.gmck")),
                          "%s: failing allocation %ld changed the model (%s)", mc->fn, k, msg);
            ck_assert_int_lt(k, 10000);
        }
        points += k;
        ck_assert_msg(ng == nw && memcmp(got, want, nw * sizeof *got) == 0,
                      "%s: after %ld failures the result differs from a run without them",
                      mc->fn, k);
        /* and the next call too: the generators are where they should be */
        GM_CK_OK(mc->run(m, got, &ng, 2));
        GM_CK_OK(mc->run(ref, want, &nw, 2));
        ck_assert_msg(ng == nw && memcmp(got, want, nw * sizeof *got) == 0,
                      "%s: the call after the failures differs from a run without them", mc->fn);
        printf("%s: %ld failing allocations, each GM_ENOMEM named %s, nothing changed\n", mc->fn,
               k, mc->fn);
        free_model(mc->gan, m);
        free_model(mc->gan, ref);
    }
    ck_assert_int_gt(points, 30);
    free(got);
    free(want);
    gm_net_free(g_feat);
    for (int i = 0; i < 3; i++) {
        gm_tensor_free(g_x[i]);
        gm_tensor_free(g_img[i]);
        gm_tensor_free(g_z[i]);
        gm_tensor_free(g_out[i]);
        gm_tensor_free(g_gout[i]);
    }
    gm_tensor_free(g_mask);
    gm_tensor_free(g_xa);
    gm_tensor_free(g_xb);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
    gm_test_dir_remove();
}
END_TEST

/* ---- 6, 7. any valid file name saves; no litter -------------------------- */

/* No entry of the scratch directory is a temporary file. */
static void assert_no_temps(const char *when)
{
    DIR *d = opendir(gm_test_dir());
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(strstr(e->d_name, "tmp") == NULL, "%s: temporary file left: %s", when,
                      e->d_name);
    closedir(d);
}

START_TEST(test_every_name_length_saves)
{
    gm_test_dir_make("rel");
    gm_vae *v = make_vae(1, 0);
    gm_gan *g = make_gan(1, 0);
    gm_tensor *img = batch(1, 4, 0);
    for (float *p = gm_tensor_data(img); p < gm_tensor_data(img) + gm_tensor_numel(img); p++)
        *p = 0.5f * (*p + 1.0f);
    const long name_max = pathconf(gm_test_dir(), _PC_NAME_MAX);
    ck_assert_int_ge(name_max, 16);
    char name[300];
    int saved = 0;
    for (long n = 1; n <= name_max && n < (long)sizeof name; n += n < 200 ? 37 : 1) {
        memset(name, 'n', (size_t)n);
        name[n] = '\0';
        const char *p = gm_test_path(name);
        GM_CK_OK(gm_vae_save(v, p));
        gm_vae *w;
        GM_CK_OK(gm_vae_load(&w, p));
        gm_vae_free(w);
        GM_CK_OK(gm_gan_save(g, p));
        GM_CK_OK(gm_net_save(gm_vae_decoder(v), p));
        GM_CK_OK(gm_png_write_grid(p, img, 2, 2, 1, 0.0f));
        ck_assert_int_eq(unlink(p), 0);
        saved++;
    }
    /* one byte over NAME_MAX is the system's refusal, and leaves nothing */
    memset(name, 'n', (size_t)name_max + 1);
    name[name_max + 1] = '\0';
    GM_CK_ERR(GM_EIO, "gm_vae_save", gm_vae_save(v, gm_test_path(name)));
    assert_no_temps("after saving every name length");
    printf("file names of 1 .. %ld bytes: %d lengths saved and loaded\n", name_max, saved);
    gm_vae_free(v);
    gm_gan_free(g);
    gm_tensor_free(img);
    gm_test_dir_remove();
}
END_TEST

/* A stale temporary file from a killed save (made here as the saver
 * leaves it: the fixed name, partial contents) is taken over by the next
 * save and does not stay. */
START_TEST(test_stale_temporary_taken_over)
{
    gm_test_dir_make("rel");
    gm_vae *v = make_vae(2, 0);
    const char *p = gm_test_path("m.gmck");
    GM_CK_OK(gm_vae_save(v, p));
    /* the temporary name as io.h documents it: ".gm.tmp-" and the 16 hex
     * digits of the FNV-1a hash of the base name */
    uint64_t h = 14695981039346656037u;
    for (const char *c = "m.gmck"; *c; c++) h = (h ^ (unsigned char)*c) * 1099511628211u;
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".gm.tmp-%016llx", (unsigned long long)h);
    gm_test_write_file(gm_test_path(tmp), (const unsigned char *)"partial", 7);
    GM_CK_OK(gm_vae_save(v, p));
    assert_no_temps("after a save over a stale temporary");
    gm_vae *w;
    GM_CK_OK(gm_vae_load(&w, p));
    gm_vae_free(w);
    /* a symlink at the temporary name is not followed */
    ck_assert_int_eq(symlink("m.gmck", gm_test_path(tmp)), 0);
    GM_CK_ERR(GM_EIO, "gm_vae_save", gm_vae_save(v, p));
    GM_CK_OK(gm_vae_load(&w, p));
    gm_vae_free(w);
    gm_vae_free(v);
    gm_test_dir_remove();
}
END_TEST

/* Saves of one path from several processes at once take turns: every
 * save succeeds, the file is always one whole model, and nothing is left
 * behind. */
START_TEST(test_concurrent_saves_same_path)
{
    gm_test_dir_make("rel");
    gm_vae *a = make_vae(12, 0), *b = make_vae(13, 0);
    const char *p = gm_test_path("shared.gmck");
    GM_CK_OK(gm_vae_save(a, gm_test_path("a.gmck")));
    GM_CK_OK(gm_vae_save(b, gm_test_path("b.gmck")));
    GM_CK_OK(gm_vae_save(a, p));
    fflush(NULL);
    pid_t kids[3];
    for (int k = 0; k < 3; k++) {
        kids[k] = fork();
        ck_assert_int_ge(kids[k], 0);
        if (kids[k] == 0) {
            for (int i = 0; i < 40; i++) {
                if (gm_vae_save(k % 2 ? b : a, p) != GM_OK) _exit(3);
                gm_vae *w;
                if (gm_vae_load(&w, p) != GM_OK) _exit(4);
                gm_vae_free(w);
            }
            _exit(0);
        }
    }
    for (int k = 0; k < 3; k++) {
        int status;
        ck_assert_int_eq(waitpid(kids[k], &status, 0), kids[k]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                      "saver %d failed (status %d)", k, status);
    }
    ck_assert(gm_test_files_equal(p, gm_test_path("a.gmck")) || gm_test_files_equal(p, gm_test_path("b.gmck")));
    assert_no_temps("after concurrent saves");
    gm_vae_free(a);
    gm_vae_free(b);
    gm_test_dir_remove();
}
END_TEST

/* ---- 8. gzip IDX: several members; claims over the limit ----------------- */

/* The IDX image file of n images of 5 x 3 bytes (value i * 7 % 256). */
static unsigned char *idx_images(size_t n, size_t *len)
{
    *len = 16 + n * 15;
    unsigned char *b = malloc(*len);
    ck_assert_ptr_nonnull(b);
    const unsigned char head[16] = {0, 0, 8, 3, (unsigned char)(n >> 24), (unsigned char)(n >> 16),
                                    (unsigned char)(n >> 8), (unsigned char)n, 0, 0, 0, 5, 0, 0, 0, 3};
    memcpy(b, head, 16);
    for (size_t i = 16; i < *len; i++) b[i] = (unsigned char)(i * 7);
    return b;
}

/* Writes b as a gzip file of members split at the given offsets. */
static void write_gzip_members(const char *path, const unsigned char *b, size_t len,
                               const size_t *cuts, int ncuts)
{
    unlink(path);
    size_t from = 0;
    for (int c = 0; c <= ncuts; c++) {
        const size_t to = c < ncuts ? cuts[c] : len;
        gzFile f = gzopen(path, "ab");
        ck_assert_ptr_nonnull(f);
        if (to > from) ck_assert_int_eq(gzwrite(f, b + from, (unsigned)(to - from)), (int)(to - from));
        ck_assert_int_eq(gzclose(f), Z_OK);
        from = to;
    }
}

START_TEST(test_gzip_members_and_limit)
{
    gm_test_dir_make("rel");
    size_t len;
    unsigned char *b = idx_images(40, &len);
    gm_test_write_file(gm_test_path("plain.idx"), b, len);
    gm_tensor *ref;
    GM_CK_OK(gm_idx_load_images(&ref, gm_test_path("plain.idx"), 0));
    /* members cut inside the magic, the header, between images, inside an
     * image, and an empty member */
    const size_t cuts[][4] = {{1, 0, 0, 0}, {9, 0, 0, 0}, {16, 31, 0, 0}, {20, 20, 300, 555}};
    const int ncuts[] = {1, 1, 2, 4};
    for (int c = 0; c < 4; c++) {
        write_gzip_members(gm_test_path("multi.idx.gz"), b, len, cuts[c], ncuts[c]);
        gm_tensor *t;
        GM_CK_OK(gm_idx_load_images(&t, gm_test_path("multi.idx.gz"), 0));
        ck_assert_uint_eq(gm_tensor_numel(t), gm_tensor_numel(ref));
        ck_assert(memcmp(gm_tensor_data(t), gm_tensor_data(ref),
                         gm_tensor_numel(t) * sizeof(float)) == 0);
        gm_tensor_free(t);
    }
    /* a member boundary inside the data of a truncated file: still
     * GM_EFORMAT */
    write_gzip_members(gm_test_path("short.idx.gz"), b, len - 20, (size_t[]){100}, 1);
    gm_tensor *t = NULL;
    GM_CK_ERR(GM_EFORMAT, "gm_idx_load_images",
              gm_idx_load_images(&t, gm_test_path("short.idx.gz"), 0));
    /* labels, in three members */
    unsigned char lab[8 + 30] = {0, 0, 8, 1, 0, 0, 0, 30};
    for (int i = 0; i < 30; i++) lab[8 + i] = (unsigned char)(i % 10);
    write_gzip_members(gm_test_path("lab.idx.gz"), lab, sizeof lab, (size_t[]){3, 12}, 2);
    int32_t got[30];
    size_t count;
    GM_CK_OK(gm_idx_load_labels(gm_test_path("lab.idx.gz"), 0, got, 30, &count));
    ck_assert_uint_eq(count, 30);
    for (int i = 0; i < 30; i++) ck_assert_int_eq(got[i], i % 10);
    /* a header claiming more than GM_IDX_MAX_BYTES, with ~40 MB of zeros
     * behind it compressed to ~40 KB: refused before anything is
     * decompressed or allocated */
    const uint32_t n = 70000, h = 200, w = 100; /* 1.4e9 bytes claimed */
    ck_assert((uint64_t)n * h * w > GM_IDX_MAX_BYTES);
    gzFile f = gzopen(gm_test_path("bomb.idx.gz"), "wb9");
    const unsigned char head[16] = {0, 0, 8, 3, n >> 24, (n >> 16) & 255, (n >> 8) & 255, n & 255,
                                    0, 0, 0, h, 0, 0, 0, w};
    gzwrite(f, head, 16);
    unsigned char *zero = calloc(1 << 20, 1);
    for (int i = 0; i < 40; i++) gzwrite(f, zero, 1 << 20);
    gzclose(f);
    free(zero);
    const size_t live = gm_live_allocations();
    GM_CK_ERR(GM_EFORMAT, "gm_idx_load_images",
              gm_idx_load_images(&t, gm_test_path("bomb.idx.gz"), 0));
    ck_assert_msg(strstr(gm_last_error(), "GM_IDX_MAX_BYTES") != NULL, "%s", gm_last_error());
    ck_assert_ptr_null(t);
    ck_assert_uint_eq(gm_live_allocations(), live);
    /* with max_items the claim is what is read: loads */
    GM_CK_OK(gm_idx_load_images(&t, gm_test_path("bomb.idx.gz"), 10));
    ck_assert_uint_eq(gm_tensor_dim(t, 0), 10);
    gm_tensor_free(t);
    gm_tensor_free(ref);
    free(b);
    gm_test_dir_remove();
}
END_TEST

/* ---- 10. ELU's gradient far below 0 -------------------------------------- */

START_TEST(test_elu_gradient_exact)
{
    const float alphas[] = {1.0f, 0.5f, 2.0f};
    const float xs[] = {-10.0f, -20.0f, -50.0f, -7.5f, -1.0f, -85.0f, 0.5f};
    const size_t n = sizeof xs / sizeof xs[0];
    for (int a = 0; a < 3; a++) {
        gm_net *net;
        gm_layer *l;
        GM_CK_OK(gm_net_create(&net));
        add(net, gm_elu_create(&l, alphas[a]), &l);
        gm_tensor *x, *y, *dy, *dx;
        GM_CK_OK(gm_tensor_from_data(&x, 2, (size_t[]){1, n}, xs));
        GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){1, n}));
        GM_CK_OK(gm_tensor_create(&dy, 2, (size_t[]){1, n}));
        GM_CK_OK(gm_tensor_create(&dx, 2, (size_t[]){1, n}));
        GM_CK_OK(gm_tensor_fill(dy, 3.0f));
        GM_CK_OK(gm_net_forward(net, x, y));
        GM_CK_OK(gm_net_backward(net, dy, dx));
        float want[16];
        for (size_t i = 0; i < n; i++)
            want[i] = xs[i] > 0 ? 3.0f : (float)(3.0 * alphas[a] * exp((double)xs[i]));
        gm_ck_close(gm_tensor_data(dx), want, n, 0.0, 1e-5, "ELU input gradient");
        gm_tensor_free(x);
        gm_tensor_free(y);
        gm_tensor_free(dy);
        gm_tensor_free(dx);
        gm_net_free(net);
    }
}
END_TEST

/* ---- 11. batchnorm with one value per feature in training ---------------- */

START_TEST(test_batchnorm_one_value_per_feature)
{
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    add(net, gm_relu_create(&l), &l);
    add(net, gm_batchnorm_create(&l, 3, 0.1f, 1e-5f), &l);
    gm_tensor *x, *y;
    GM_CK_OK(gm_tensor_create(&x, 2, (size_t[]){1, 3}));
    GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){1, 3}));
    GM_CK_OK(gm_tensor_fill(x, 0.5f));
    GM_CK_OK(gm_net_set_training(net, 1));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(net, x, y));
    ck_assert_msg(strstr(gm_last_error(), "layer 1") && strstr(gm_last_error(), "batch of 1"),
                  "%s", gm_last_error());
    /* the running statistics did not move: evaluation gives the identity
     * of a fresh layer, x / sqrt(1 + eps) */
    GM_CK_OK(gm_net_set_training(net, 0));
    GM_CK_OK(gm_net_forward(net, x, y));
    for (int i = 0; i < 3; i++) ck_assert_float_eq_tol(gm_tensor_data(y)[i], 0.5f / sqrtf(1.00001f), 1e-6f);
    /* two samples train */
    gm_tensor *x2, *y2;
    GM_CK_OK(gm_tensor_create(&x2, 2, (size_t[]){2, 3}));
    GM_CK_OK(gm_tensor_create(&y2, 2, (size_t[]){2, 3}));
    GM_CK_OK(gm_net_set_training(net, 1));
    GM_CK_OK(gm_net_forward(net, x2, y2));
    gm_net_free(net);
    /* per channel: [1 x C x 1 x 1] is one value per channel, refused;
     * [1 x C x 2 x 1] has two, accepted */
    GM_CK_OK(gm_net_create(&net));
    add(net, gm_batchnorm_create(&l, 2, 0.1f, 1e-5f), &l);
    gm_tensor *a, *b, *c, *d;
    GM_CK_OK(gm_tensor_create(&a, 4, (size_t[]){1, 2, 1, 1}));
    GM_CK_OK(gm_tensor_create(&b, 4, (size_t[]){1, 2, 1, 1}));
    GM_CK_OK(gm_tensor_create(&c, 4, (size_t[]){1, 2, 2, 1}));
    GM_CK_OK(gm_tensor_create(&d, 4, (size_t[]){1, 2, 2, 1}));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(net, a, b));
    GM_CK_OK(gm_net_forward(net, c, d));
    gm_net_free(net);
    /* inside a model, the message names the model's function */
    gm_vae *v = make_vae(8, 0);
    gm_tensor *one = batch(0, 1, 0);
    GM_CK_ERR(GM_EINVAL, "gm_vae_train_step", gm_vae_train_step(v, one, NULL, NULL));
    ck_assert_msg(strncmp(gm_last_error(), "gm_vae_train_step", 17) == 0, "%s", gm_last_error());
    gm_vae_stats s;
    GM_CK_OK(gm_vae_elbo(v, one, NULL, &s)); /* evaluation mode: any batch */
    gm_vae_free(v);
    gm_tensor_free(one);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(x2);
    gm_tensor_free(y2);
    gm_tensor_free(a);
    gm_tensor_free(b);
    gm_tensor_free(c);
    gm_tensor_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reliability");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_checkpoint_every_field_checked);
    tcase_add_test(tc, test_checkpoint_second_lr);
    tcase_add_test(tc, test_huge_lr_never_ok_with_nonfinite);
    tcase_add_test(tc, test_vae_lr_examples);
    tcase_add_test(tc, test_oom_changes_nothing_and_names_the_function);
    tcase_add_test(tc, test_every_name_length_saves);
    tcase_add_test(tc, test_stale_temporary_taken_over);
    tcase_add_test(tc, test_concurrent_saves_same_path);
    tcase_add_test(tc, test_gzip_members_and_limit);
    tcase_add_test(tc, test_elu_gradient_exact);
    tcase_add_test(tc, test_batchnorm_one_value_per_feature);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
