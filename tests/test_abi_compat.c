/* SPDX-License-Identifier: MIT */
/*
 * ABI compatibility of the options structs (issue 7), as core.h promises:
 * gm_optimizer_options, gm_vae_options, gm_gan_options and gm_fit_options
 * start with their size and only ever grow at the end, so
 *   - a caller built against an older header passes a smaller size and the
 *     fields it lacks take their defaults; the size must cover the required
 *     fields (VAE, GAN: latent; optimizer: kind; fit: none);
 *   - a newer caller passes a larger size, accepted when the bytes this
 *     library does not know are zero, refused with GM_EINVAL otherwise;
 *   - a struct is at most 4096 bytes.
 *
 * This suite keeps a frozen copy of each struct as version 1.0 published
 * it ("v1") and checks:
 *  - layout: every v1 field sits at the same offset, with the same size,
 *    in today's header (compile time: a field inserted, removed, resized or
 *    moved fails the build of this file; appending is fine);
 *  - older callers: for every field boundary from the required fields to
 *    the whole v1 struct, a struct of exactly that many bytes (heap, so a
 *    read past it is caught by ASan and valgrind), whose size says so, is
 *    accepted, and the object made from it behaves bit for bit like one
 *    made from today's defaults with the caller's fields below the
 *    boundary (nested optimizer structs of the VAE and GAN options too);
 *  - sizes that do not cover the required fields are refused (GM_EINVAL,
 *    a message naming the size);
 *  - newer callers: a zero tail is accepted, a non-zero one refused, a
 *    size above 4096 refused;
 *  - gm_vae_get_options / gm_gan_get_options: today's size gets the
 *    settings, a larger one a zeroed tail, a smaller one GM_EINVAL.
 *
 * When a field is appended to one of these structs, leave the v1 copies as
 * they are: they are what programs built against 1.0 pass.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gm_test.h"

/* ---- the structs as 1.0 published them --------------------------------- */

typedef struct {
    size_t size;
    int32_t kind;
    float lr, momentum;
    int32_t nesterov;
    float beta1, beta2, eps, weight_decay, clip_norm;
} v1_optimizer_options;

typedef struct {
    size_t size;
    size_t latent;
    int32_t likelihood;
    float gaussian_logvar;
    float beta;
    uint64_t kl_warmup_steps;
    const void *optimizer;
    uint64_t seed;
    size_t num_classes;
} v1_vae_options;

typedef struct {
    size_t size;
    size_t latent;
    int32_t loss;
    uint32_t n_critic;
    float real_label;
    float weight_clip;
    const void *g_optimizer;
    const void *d_optimizer;
    uint64_t seed;
    size_t num_classes;
} v1_gan_options;

typedef struct {
    size_t size;
    uint32_t epochs;
    size_t batch;
    uint64_t every;
    uint64_t shuffle_seed;
} v1_fit_options;

#define SAME_FIELD(V1, CUR, f)                                                  \
    _Static_assert(offsetof(V1, f) == offsetof(CUR, f) &&                      \
                       sizeof(((V1 *)0)->f) == sizeof(((CUR *)0)->f),          \
                   #CUR "." #f " moved or changed size since 1.0: that breaks " \
                        "every program built against 1.0 (append fields only)")

SAME_FIELD(v1_optimizer_options, gm_optimizer_options, size);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, kind);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, lr);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, momentum);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, nesterov);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, beta1);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, beta2);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, eps);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, weight_decay);
SAME_FIELD(v1_optimizer_options, gm_optimizer_options, clip_norm);

SAME_FIELD(v1_vae_options, gm_vae_options, size);
SAME_FIELD(v1_vae_options, gm_vae_options, latent);
SAME_FIELD(v1_vae_options, gm_vae_options, likelihood);
SAME_FIELD(v1_vae_options, gm_vae_options, gaussian_logvar);
SAME_FIELD(v1_vae_options, gm_vae_options, beta);
SAME_FIELD(v1_vae_options, gm_vae_options, kl_warmup_steps);
SAME_FIELD(v1_vae_options, gm_vae_options, optimizer);
SAME_FIELD(v1_vae_options, gm_vae_options, seed);
SAME_FIELD(v1_vae_options, gm_vae_options, num_classes);

SAME_FIELD(v1_gan_options, gm_gan_options, size);
SAME_FIELD(v1_gan_options, gm_gan_options, latent);
SAME_FIELD(v1_gan_options, gm_gan_options, loss);
SAME_FIELD(v1_gan_options, gm_gan_options, n_critic);
SAME_FIELD(v1_gan_options, gm_gan_options, real_label);
SAME_FIELD(v1_gan_options, gm_gan_options, weight_clip);
SAME_FIELD(v1_gan_options, gm_gan_options, g_optimizer);
SAME_FIELD(v1_gan_options, gm_gan_options, d_optimizer);
SAME_FIELD(v1_gan_options, gm_gan_options, seed);
SAME_FIELD(v1_gan_options, gm_gan_options, num_classes);

SAME_FIELD(v1_fit_options, gm_fit_options, size);
SAME_FIELD(v1_fit_options, gm_fit_options, epochs);
SAME_FIELD(v1_fit_options, gm_fit_options, batch);
SAME_FIELD(v1_fit_options, gm_fit_options, every);
SAME_FIELD(v1_fit_options, gm_fit_options, shuffle_seed);

_Static_assert(sizeof(v1_optimizer_options) <= sizeof(gm_optimizer_options), "shrunk");
_Static_assert(sizeof(v1_vae_options) <= sizeof(gm_vae_options), "shrunk");
_Static_assert(sizeof(v1_gan_options) <= sizeof(gm_gan_options), "shrunk");
_Static_assert(sizeof(v1_fit_options) <= sizeof(gm_fit_options), "shrunk");

/* ---- helpers --------------------------------------------------------------- */

enum { D = 6, HID = 10, LAT = 2, N = 8 };

/* where field f of T ends: a size an older caller could have */
#define END(T, f) (offsetof(T, f) + sizeof(((T *)0)->f))

/* A heap copy of exactly n bytes: a read past it is a heap overflow that
 * ASan (asan build) and memcheck (valgrind stage) report. */
static void *exact_copy(const void *src, size_t n)
{
    void *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    memcpy(p, src, n);
    return p;
}

/* An older caller's struct: the first k bytes of src, in exactly k bytes,
 * with its size field saying k. */
static void *prefix_copy(const void *src, size_t k)
{
    ck_assert_uint_ge(k, sizeof(size_t));
    unsigned char *p = exact_copy(src, k);
    memcpy(p, &k, sizeof k);
    return p;
}

/* What the library must make of that: `defaults` (today's struct filled
 * by its init function) with the caller's first k bytes over it, size =
 * today's. */
static void expected_of(void *dst, const void *defaults, size_t cur_size, const void *src,
                        size_t k)
{
    memcpy(dst, defaults, cur_size);
    memcpy(dst, src, k);
    memcpy(dst, &cur_size, sizeof cur_size);
}

static gm_net *mlp(size_t in, size_t out, uint64_t seed)
{
    return gm_test_mlp_seeded(in, HID, out, GM_TEST_RELU, seed);
}

static gm_tensor *data01(size_t n, size_t d, uint64_t seed)
{
    gm_rng *rng;
    gm_tensor *t;
    GM_CK_OK(gm_rng_create(&rng, seed));
    GM_CK_OK(gm_tensor_create(&t, 2, (const size_t[]){n, d}));
    GM_CK_OK(gm_tensor_fill_uniform(t, rng));
    gm_rng_free(rng);
    return t;
}

static float *params_of(gm_net *a, gm_net *b, size_t *n)
{
    size_t na = gm_net_param_count(a), nb = b ? gm_net_param_count(b) : 0;
    float *p = malloc((na + nb) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    GM_CK_OK(gm_net_get_params(a, p, na));
    if (b) GM_CK_OK(gm_net_get_params(b, p + na, nb));
    *n = na + nb;
    return p;
}

static void same_params(float *a, size_t na, float *b, size_t nb, const char *what, size_t k)
{
    ck_assert_msg(na == nb && na > 0, "%s, size %zu: %zu vs %zu parameters", what, k, na, nb);
    ck_assert_msg(memcmp(a, b, na * sizeof *a) == 0,
                  "%s, size %zu: the older caller's model differs from today's defaults "
                  "with its fields", what, k);
    free(a);
    free(b);
}

/* Checks that `call(opts)` fails with GM_EINVAL naming fn and "size" for
 * each size in bad[], the struct (full v1 bytes) otherwise intact. */
#define CHECK_SIZES_REFUSED(v1struct, bad, fn, call_with_p)                          \
    for (size_t bi_ = 0; bi_ < sizeof(bad) / sizeof((bad)[0]); bi_++) {              \
        void *p = exact_copy(&(v1struct), sizeof(v1struct));                         \
        memcpy(p, &(bad)[bi_], sizeof(size_t));                                      \
        gm_clear_error();                                                            \
        gm_status st_ = (call_with_p);                                               \
        ck_assert_msg(st_ == GM_EINVAL, "%s with size %zu: %s", fn, (bad)[bi_],      \
                      gm_status_string(st_));                                        \
        ck_assert_msg(strstr(gm_last_error(), fn) && strstr(gm_last_error(), "size"), \
                      "%s with size %zu: '%s'", fn, (bad)[bi_], gm_last_error());    \
        free(p);                                                                     \
    }

/* ---- optimizer ------------------------------------------------------------- */

static const size_t k_opt_ends[] = {
    END(v1_optimizer_options, kind),      END(v1_optimizer_options, lr),
    END(v1_optimizer_options, momentum),  END(v1_optimizer_options, nesterov),
    END(v1_optimizer_options, beta1),     END(v1_optimizer_options, beta2),
    END(v1_optimizer_options, eps),       END(v1_optimizer_options, weight_decay),
    END(v1_optimizer_options, clip_norm), sizeof(v1_optimizer_options)};

/* A v1 caller's settings of the given kind, none of them the default. */
static v1_optimizer_options v1_opt(int32_t kind)
{
    v1_optimizer_options o = {sizeof o, kind, 0.05f, 0.9f, 1, 0.8f, 0.99f, 1e-6f, 0.02f, 1.0f};
    if (kind != GM_OPT_SGD) {
        o.lr = 3e-3f;
        o.momentum = 0.0f;
        o.nesterov = 0;
    }
    return o;
}

/* Parameters of a small net after 3 steps of an optimizer made from opts
 * (fixed gradients, large enough for clipping to matter). */
static float *opt_steps(const void *opts, size_t *n)
{
    gm_net *net = mlp(D, 1, 1);
    gm_optimizer *opt;
    GM_CK_OK(gm_optimizer_create(&opt, net, opts));
    size_t np = gm_net_param_count(net);
    float *g = malloc(np * sizeof *g);
    ck_assert_ptr_nonnull(g);
    for (int s = 0; s < 3; s++) {
        for (size_t i = 0; i < np; i++) g[i] = (float)((i * 7 + (size_t)s) % 11) * 0.3f - 1.4f;
        GM_CK_OK(gm_net_set_grads(net, g, np));
        GM_CK_OK(gm_optimizer_step(opt, net));
    }
    free(g);
    float *p = params_of(net, NULL, n);
    gm_optimizer_free(opt);
    gm_net_free(net);
    return p;
}

START_TEST(optimizer_older_callers)
{
    const int32_t kinds[] = {GM_OPT_SGD, GM_OPT_ADAM, GM_OPT_ADAMW};
    for (size_t ki = 0; ki < 3; ki++) {
        v1_optimizer_options caller = v1_opt(kinds[ki]);
        gm_optimizer_options defaults, exp;
        GM_CK_OK(gm_optimizer_options_init(&defaults, (gm_optimizer_kind)kinds[ki]));
        for (size_t e = 0; e < sizeof k_opt_ends / sizeof k_opt_ends[0]; e++) {
            const size_t k = k_opt_ends[e];
            void *p = prefix_copy(&caller, k);
            expected_of(&exp, &defaults, sizeof exp, &caller, k);
            size_t n1, n2;
            float *got = opt_steps(p, &n1), *want = opt_steps(&exp, &n2);
            same_params(got, n1, want, n2, "gm_optimizer_create", k);
            free(p);
        }
    }
    /* the header's static initializer */
    gm_optimizer_options init = GM_OPTIMIZER_OPTIONS_INIT;
    size_t n;
    free(opt_steps(&init, &n));
}
END_TEST

START_TEST(optimizer_sizes_without_kind_refused)
{
    gm_net *net = mlp(D, 1, 1);
    v1_optimizer_options v1 = v1_opt(GM_OPT_SGD);
    const size_t bad[] = {0, 1, sizeof(size_t), END(v1_optimizer_options, kind) - 1};
    gm_optimizer *opt;
    CHECK_SIZES_REFUSED(v1, bad, "gm_optimizer_create", gm_optimizer_create(&opt, net, p));
    gm_net_free(net);
}
END_TEST

/* A newer caller: the struct followed by fields this library does not know. */
typedef struct {
    gm_optimizer_options o;
    uint64_t newer[4];
} newer_optimizer_options;

START_TEST(optimizer_newer_caller)
{
    gm_net *net = mlp(D, 1, 1);
    newer_optimizer_options nw;
    memset(&nw, 0, sizeof nw);
    GM_CK_OK(gm_optimizer_options_init(&nw.o, GM_OPT_ADAM));
    nw.o.size = sizeof nw;
    gm_optimizer *opt;
    GM_CK_OK(gm_optimizer_create(&opt, net, &nw.o)); /* zero tail: accepted */
    gm_optimizer_free(opt);
    nw.newer[2] = 1;
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_create", gm_optimizer_create(&opt, net, &nw.o));
    ck_assert_ptr_null(opt);
    nw.newer[2] = 0;
    unsigned char *big = calloc(1, 4200);
    ck_assert_ptr_nonnull(big);
    memcpy(big, &nw.o, sizeof nw.o);
    size_t huge = 4097;
    memcpy(big, &huge, sizeof huge);
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_create",
              gm_optimizer_create(&opt, net, (const gm_optimizer_options *)big));
    free(big);
    gm_net_free(net);
}
END_TEST

/* ---- VAE ---------------------------------------------------------------------- */

/* Parameters of a VAE made from opts (today's struct, or an older
 * caller's) after 3 train steps; NULL with *create_st on failure. */
static float *train_vae(const void *opts, size_t *n, gm_status *create_st)
{
    gm_vae *vae;
    gm_net *enc = mlp(D, 2 * LAT, 11), *dec = mlp(LAT, D, 12);
    *create_st = gm_vae_create(&vae, enc, dec, opts);
    if (*create_st != GM_OK) {
        gm_net_free(enc);
        gm_net_free(dec);
        return NULL;
    }
    gm_tensor *x = data01(N, D, 5);
    for (int i = 0; i < 3; i++) GM_CK_OK(gm_vae_train_step(vae, x, NULL, NULL));
    float *p = params_of(gm_vae_encoder(vae), gm_vae_decoder(vae), n);
    gm_tensor_free(x);
    gm_vae_free(vae);
    return p;
}

static const size_t k_vae_ends[] = {
    END(v1_vae_options, latent),          END(v1_vae_options, likelihood),
    END(v1_vae_options, gaussian_logvar), END(v1_vae_options, beta),
    END(v1_vae_options, kl_warmup_steps), END(v1_vae_options, optimizer),
    END(v1_vae_options, seed),            END(v1_vae_options, num_classes),
    sizeof(v1_vae_options)};

/* A v1 caller's settings, none of them the default; `nested` is its
 * optimizer struct. */
static v1_vae_options v1_vae(const void *nested)
{
    v1_vae_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.latent = LAT;
    o.likelihood = GM_LIKELIHOOD_GAUSSIAN_FIXED;
    o.gaussian_logvar = -1.0f;
    o.beta = 0.5f;
    o.kl_warmup_steps = 4;
    o.optimizer = nested;
    o.seed = 9;
    o.num_classes = 0;
    return o;
}

START_TEST(vae_older_callers)
{
    v1_optimizer_options sgd = v1_opt(GM_OPT_SGD);
    void *nested = exact_copy(&sgd, sizeof sgd);
    v1_vae_options caller = v1_vae(nested);
    gm_vae_options defaults, exp;
    GM_CK_OK(gm_vae_options_init(&defaults));
    for (size_t e = 0; e < sizeof k_vae_ends / sizeof k_vae_ends[0]; e++) {
        const size_t k = k_vae_ends[e];
        void *p = prefix_copy(&caller, k);
        expected_of(&exp, &defaults, sizeof exp, &caller, k);
        size_t n1, n2;
        gm_status st;
        float *got = train_vae(p, &n1, &st);
        GM_CK_OK(st);
        float *want = train_vae(&exp, &n2, &st);
        GM_CK_OK(st);
        same_params(got, n1, want, n2, "gm_vae_create", k);
        free(p);
    }
    free(nested);

    /* an older caller's optimizer struct inside today's VAE options:
     * through lr only (the rest: SGD's defaults) */
    gm_optimizer_options odef, oexp;
    GM_CK_OK(gm_optimizer_options_init(&odef, GM_OPT_SGD));
    const size_t k = END(v1_optimizer_options, lr);
    nested = prefix_copy(&sgd, k);
    expected_of(&oexp, &odef, sizeof oexp, &sgd, k);
    gm_vae_options cur;
    GM_CK_OK(gm_vae_options_init(&cur));
    cur.latent = LAT;
    cur.optimizer = nested;
    size_t n1, n2;
    gm_status st;
    float *got = train_vae(&cur, &n1, &st);
    GM_CK_OK(st);
    cur.optimizer = &oexp;
    float *want = train_vae(&cur, &n2, &st);
    GM_CK_OK(st);
    same_params(got, n1, want, n2, "gm_vae_create, opts->optimizer", k);
    free(nested);
}
END_TEST

static gm_status vae_create_with(const void *opts)
{
    gm_vae *vae = (gm_vae *)&vae; /* must become NULL */
    gm_net *enc = mlp(D, 2 * LAT, 11), *dec = mlp(LAT, D, 12);
    gm_status st = gm_vae_create(&vae, enc, dec, opts);
    if (st == GM_OK) {
        gm_vae_free(vae);
    } else {
        ck_assert_ptr_null(vae);
        gm_net_free(enc); /* refused: the caller keeps the nets */
        gm_net_free(dec);
    }
    return st;
}

START_TEST(vae_sizes_without_latent_refused)
{
    v1_vae_options v1 = v1_vae(NULL);
    const size_t bad[] = {0, 1, sizeof(size_t), END(v1_vae_options, latent) - 1};
    CHECK_SIZES_REFUSED(v1, bad, "gm_vae_create", vae_create_with(p));
    /* a nested optimizer struct without its kind */
    v1_optimizer_options sgd = v1_opt(GM_OPT_SGD);
    sgd.size = END(v1_optimizer_options, kind) - 1;
    v1.optimizer = &sgd;
    gm_clear_error();
    ck_assert_int_eq(vae_create_with(&v1), GM_EINVAL);
    ck_assert_msg(strstr(gm_last_error(), "opts->optimizer") != NULL, "'%s'", gm_last_error());
}
END_TEST

typedef struct {
    gm_vae_options o;
    uint64_t newer[3];
} newer_vae_options;

START_TEST(vae_newer_caller)
{
    newer_vae_options nv;
    memset(&nv, 0, sizeof nv);
    GM_CK_OK(gm_vae_options_init(&nv.o));
    nv.o.size = sizeof nv;
    nv.o.latent = LAT;
    GM_CK_OK(vae_create_with(&nv.o));
    nv.newer[0] = 7;
    gm_clear_error();
    ck_assert_int_eq(vae_create_with(&nv.o), GM_EINVAL);
    ck_assert_msg(strstr(gm_last_error(), "gm_vae_create") != NULL, "'%s'", gm_last_error());
    /* the same for a newer nested optimizer struct */
    nv.newer[0] = 0;
    newer_optimizer_options no;
    memset(&no, 0, sizeof no);
    GM_CK_OK(gm_optimizer_options_init(&no.o, GM_OPT_ADAM));
    no.o.size = sizeof no;
    nv.o.optimizer = &no.o;
    GM_CK_OK(vae_create_with(&nv.o));
    no.newer[3] = 1;
    gm_clear_error();
    ck_assert_int_eq(vae_create_with(&nv.o), GM_EINVAL);
    ck_assert_msg(strstr(gm_last_error(), "opts->optimizer") != NULL, "'%s'", gm_last_error());
}
END_TEST

START_TEST(vae_get_options)
{
    gm_vae_options o;
    GM_CK_OK(gm_vae_options_init(&o));
    o.latent = LAT;
    o.beta = 0.25f;
    o.seed = 17;
    gm_vae *vae;
    GM_CK_OK(gm_vae_create(&vae, mlp(D, 2 * LAT, 11), mlp(LAT, D, 12), &o));
    gm_vae_options got;
    GM_CK_OK(gm_vae_options_init(&got));
    GM_CK_OK(gm_vae_get_options(vae, &got));
    ck_assert_uint_eq(got.size, sizeof got);
    ck_assert_uint_eq(got.latent, LAT);
    ck_assert_float_eq(got.beta, 0.25f);
    ck_assert_uint_eq(got.seed, 17);
    ck_assert_ptr_null(got.optimizer);
    /* a newer caller: the bytes past today's struct are zeroed */
    newer_vae_options nv;
    memset(&nv, 0xA5, sizeof nv);
    nv.o.size = sizeof nv;
    GM_CK_OK(gm_vae_get_options(vae, &nv.o));
    ck_assert_uint_eq(nv.o.latent, LAT);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(nv.newer[i], 0);
    /* smaller than today's struct: refused, nothing written */
    memset(&got, 0x5A, sizeof got);
    got.size = sizeof got - sizeof(size_t);
    gm_vae_options before = got;
    GM_CK_ERR(GM_EINVAL, "gm_vae_get_options", gm_vae_get_options(vae, &got));
    ck_assert(memcmp(&got, &before, sizeof got) == 0);
    gm_vae_free(vae);
}
END_TEST

/* ---- GAN ---------------------------------------------------------------------- */

static float *train_gan(const void *opts, size_t *n, gm_status *create_st)
{
    gm_gan *gan;
    gm_net *g = mlp(LAT, D, 21), *d = mlp(D, 1, 22);
    *create_st = gm_gan_create(&gan, g, d, opts);
    if (*create_st != GM_OK) {
        gm_net_free(g);
        gm_net_free(d);
        return NULL;
    }
    gm_tensor *x = data01(N, D, 6);
    for (int i = 0; i < 3; i++) GM_CK_OK(gm_gan_train_step(gan, x, NULL, NULL));
    float *p = params_of(gm_gan_generator(gan), gm_gan_discriminator(gan), n);
    gm_tensor_free(x);
    gm_gan_free(gan);
    return p;
}

static const size_t k_gan_ends[] = {
    END(v1_gan_options, latent),      END(v1_gan_options, loss),
    END(v1_gan_options, n_critic),    END(v1_gan_options, real_label),
    END(v1_gan_options, weight_clip), END(v1_gan_options, g_optimizer),
    END(v1_gan_options, d_optimizer), END(v1_gan_options, seed),
    END(v1_gan_options, num_classes), sizeof(v1_gan_options)};

static v1_gan_options v1_gan(const void *g_opt, const void *d_opt)
{
    v1_gan_options o;
    memset(&o, 0, sizeof o);
    o.size = sizeof o;
    o.latent = LAT;
    o.loss = GM_GAN_LEAST_SQUARES;
    o.n_critic = 2;
    o.real_label = 0.9f;
    o.weight_clip = 0.5f;
    o.g_optimizer = g_opt;
    o.d_optimizer = d_opt;
    o.seed = 9;
    o.num_classes = 0;
    return o;
}

START_TEST(gan_older_callers)
{
    v1_optimizer_options sgd = v1_opt(GM_OPT_SGD), adam = v1_opt(GM_OPT_ADAM);
    void *pg = exact_copy(&sgd, sizeof sgd), *pd = exact_copy(&adam, sizeof adam);
    v1_gan_options caller = v1_gan(pg, pd);
    gm_gan_options defaults, exp;
    GM_CK_OK(gm_gan_options_init(&defaults));
    for (size_t e = 0; e < sizeof k_gan_ends / sizeof k_gan_ends[0]; e++) {
        const size_t k = k_gan_ends[e];
        void *p = prefix_copy(&caller, k);
        expected_of(&exp, &defaults, sizeof exp, &caller, k);
        size_t n1, n2;
        gm_status st;
        float *got = train_gan(p, &n1, &st);
        GM_CK_OK(st);
        float *want = train_gan(&exp, &n2, &st);
        GM_CK_OK(st);
        same_params(got, n1, want, n2, "gm_gan_create", k);
        free(p);
    }
    free(pg);
    free(pd);
}
END_TEST

static gm_status gan_create_with(const void *opts)
{
    gm_gan *gan = (gm_gan *)&gan;
    gm_net *g = mlp(LAT, D, 21), *d = mlp(D, 1, 22);
    gm_status st = gm_gan_create(&gan, g, d, opts);
    if (st == GM_OK) {
        gm_gan_free(gan);
    } else {
        ck_assert_ptr_null(gan);
        gm_net_free(g);
        gm_net_free(d);
    }
    return st;
}

START_TEST(gan_sizes_without_latent_refused)
{
    v1_gan_options v1 = v1_gan(NULL, NULL);
    const size_t bad[] = {0, 1, sizeof(size_t), END(v1_gan_options, latent) - 1};
    CHECK_SIZES_REFUSED(v1, bad, "gm_gan_create", gan_create_with(p));
}
END_TEST

/* A size that ends inside a pointer field would leave a pointer half the
 * caller's and half the default's (found by fuzz_png_options): refused with
 * the field named; the sizes on either side of the field are accepted. */
START_TEST(torn_pointer_sizes_refused)
{
    gm_optimizer_options opt;
    GM_CK_OK(gm_optimizer_options_init(&opt, GM_OPT_ADAM));
    gm_vae_options v;
    GM_CK_OK(gm_vae_options_init(&v));
    v.latent = LAT;
    v.optimizer = &opt;
    const size_t vo = offsetof(gm_vae_options, optimizer);
    for (size_t size = vo; size <= vo + sizeof v.optimizer; size++) {
        v.size = size;
        gm_clear_error();
        const gm_status st = vae_create_with(&v);
        if (size == vo || size == vo + sizeof v.optimizer) {
            ck_assert_msg(st == GM_OK, "size %zu: %s", size, gm_last_error());
        } else {
            ck_assert_int_eq(st, GM_EINVAL);
            ck_assert_msg(strstr(gm_last_error(), "opts->optimizer") != NULL, "'%s'",
                          gm_last_error());
        }
    }
    gm_gan_options g;
    GM_CK_OK(gm_gan_options_init(&g));
    g.latent = LAT;
    g.g_optimizer = &opt;
    g.d_optimizer = &opt;
    const size_t go = offsetof(gm_gan_options, g_optimizer),
                 end = offsetof(gm_gan_options, d_optimizer) + sizeof g.d_optimizer;
    for (size_t size = go; size <= end; size++) {
        g.size = size;
        gm_clear_error();
        const gm_status st = gan_create_with(&g);
        if ((size - go) % sizeof(void *) == 0) {
            ck_assert_msg(st == GM_OK, "size %zu: %s", size, gm_last_error());
        } else {
            ck_assert_int_eq(st, GM_EINVAL);
            ck_assert_msg(strstr(gm_last_error(),
                                 size < go + sizeof(void *) ? "opts->g_optimizer"
                                                            : "opts->d_optimizer") != NULL,
                          "size %zu: '%s'", size, gm_last_error());
        }
    }
}
END_TEST

typedef struct {
    gm_gan_options o;
    uint64_t newer[3];
} newer_gan_options;

START_TEST(gan_newer_caller)
{
    newer_gan_options ng;
    memset(&ng, 0, sizeof ng);
    GM_CK_OK(gm_gan_options_init(&ng.o));
    ng.o.size = sizeof ng;
    ng.o.latent = LAT;
    GM_CK_OK(gan_create_with(&ng.o));
    ng.newer[1] = 1;
    gm_clear_error();
    ck_assert_int_eq(gan_create_with(&ng.o), GM_EINVAL);
    ck_assert_msg(strstr(gm_last_error(), "gm_gan_create") != NULL, "'%s'", gm_last_error());
}
END_TEST

START_TEST(gan_get_options)
{
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = LAT;
    o.n_critic = 3;
    gm_gan *gan;
    GM_CK_OK(gm_gan_create(&gan, mlp(LAT, D, 21), mlp(D, 1, 22), &o));
    newer_gan_options ng;
    memset(&ng, 0xA5, sizeof ng);
    ng.o.size = sizeof ng;
    GM_CK_OK(gm_gan_get_options(gan, &ng.o));
    ck_assert_uint_eq(ng.o.latent, LAT);
    ck_assert_uint_eq(ng.o.n_critic, 3);
    ck_assert_ptr_null(ng.o.g_optimizer);
    for (int i = 0; i < 3; i++) ck_assert_uint_eq(ng.newer[i], 0);
    gm_gan_options small;
    memset(&small, 0x5A, sizeof small);
    small.size = 1;
    gm_gan_options before = small;
    GM_CK_ERR(GM_EINVAL, "gm_gan_get_options", gm_gan_get_options(gan, &small));
    ck_assert(memcmp(&small, &before, sizeof small) == 0);
    gm_gan_free(gan);
}
END_TEST

/* ---- fit ------------------------------------------------------------------------ */

static int count_calls(void *user, const gm_fit_progress *p, const gm_vae_stats *s)
{
    (void)p;
    (void)s;
    ++*(int *)user;
    return 0;
}

/* Parameters after gm_vae_fit with opts on 4N samples; *calls: callbacks. */
static float *fit_vae(const void *fit_opts, size_t *n, gm_status *fit_st, int *calls)
{
    gm_vae_options o;
    GM_CK_OK(gm_vae_options_init(&o));
    o.latent = LAT;
    gm_vae *vae;
    GM_CK_OK(gm_vae_create(&vae, mlp(D, 2 * LAT, 11), mlp(LAT, D, 12), &o));
    gm_tensor *x = data01(4 * N, D, 9);
    *calls = 0;
    *fit_st = gm_vae_fit(vae, x, NULL, fit_opts, count_calls, calls);
    float *p = params_of(gm_vae_encoder(vae), gm_vae_decoder(vae), n);
    gm_tensor_free(x);
    gm_vae_free(vae);
    return p;
}

static const size_t k_fit_ends[] = {
    END(v1_fit_options, size),  END(v1_fit_options, epochs),       END(v1_fit_options, batch),
    END(v1_fit_options, every), END(v1_fit_options, shuffle_seed), sizeof(v1_fit_options)};

START_TEST(fit_older_callers)
{
    v1_fit_options caller = {sizeof caller, 2, N, 3, 5};
    gm_fit_options defaults, exp;
    GM_CK_OK(gm_fit_options_init(&defaults));
    for (size_t e = 0; e < sizeof k_fit_ends / sizeof k_fit_ends[0]; e++) {
        const size_t k = k_fit_ends[e];
        void *p = prefix_copy(&caller, k);
        expected_of(&exp, &defaults, sizeof exp, &caller, k);
        size_t n1, n2;
        gm_status st;
        int c1, c2;
        float *got = fit_vae(p, &n1, &st, &c1);
        GM_CK_OK(st);
        float *want = fit_vae(&exp, &n2, &st, &c2);
        GM_CK_OK(st);
        ck_assert_msg(c1 == c2, "gm_vae_fit, size %zu: %d vs %d callbacks", k, c1, c2);
        same_params(got, n1, want, n2, "gm_vae_fit", k);
        free(p);
    }
    /* gm_gan_fit reads the same way */
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = LAT;
    gm_gan *gan;
    GM_CK_OK(gm_gan_create(&gan, mlp(LAT, D, 21), mlp(D, 1, 22), &o));
    gm_tensor *x = data01(2 * N, D, 9);
    void *p = prefix_copy(&caller, END(v1_fit_options, batch));
    GM_CK_OK(gm_gan_fit(gan, x, NULL, p, NULL, NULL));
    ck_assert_uint_eq(gm_gan_step_count(gan), 2 * 2); /* 2 epochs of 2 batches */
    free(p);
    gm_tensor_free(x);
    gm_gan_free(gan);
}
END_TEST

static gm_status fit_with(const void *opts)
{
    size_t n;
    gm_status st;
    int calls;
    free(fit_vae(opts, &n, &st, &calls));
    return st;
}

START_TEST(fit_sizes_and_newer_callers)
{
    v1_fit_options v1 = {sizeof v1, 2, N, 3, 5};
    const size_t bad[] = {0, 1, sizeof(size_t) - 1, 4097};
    CHECK_SIZES_REFUSED(v1, bad, "gm_vae_fit", fit_with(p));

    struct {
        gm_fit_options o;
        uint64_t newer[2];
    } nf;
    memset(&nf, 0, sizeof nf);
    GM_CK_OK(gm_fit_options_init(&nf.o));
    nf.o.size = sizeof nf;
    nf.o.batch = N;
    GM_CK_OK(fit_with(&nf.o));
    nf.newer[1] = 3;
    gm_clear_error();
    ck_assert_int_eq(fit_with(&nf.o), GM_EINVAL);
    ck_assert_msg(strstr(gm_last_error(), "gm_vae_fit") != NULL, "'%s'", gm_last_error());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("abi_compat");
    TCase *tc = tcase_create("options");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, optimizer_older_callers);
    tcase_add_test(tc, optimizer_sizes_without_kind_refused);
    tcase_add_test(tc, optimizer_newer_caller);
    tcase_add_test(tc, vae_older_callers);
    tcase_add_test(tc, vae_sizes_without_latent_refused);
    tcase_add_test(tc, vae_newer_caller);
    tcase_add_test(tc, vae_get_options);
    tcase_add_test(tc, gan_older_callers);
    tcase_add_test(tc, gan_sizes_without_latent_refused);
    tcase_add_test(tc, gan_newer_caller);
    tcase_add_test(tc, gan_get_options);
    tcase_add_test(tc, torn_pointer_sizes_refused);
    tcase_add_test(tc, fit_older_callers);
    tcase_add_test(tc, fit_sizes_and_newer_callers);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
