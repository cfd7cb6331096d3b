/* SPDX-License-Identifier: MIT */
/* Checkpoints: round trips, exact resume of a VAE and a GAN (also in a
 * fresh process), corrupt / truncated / hostile / future files, atomic
 * saves under SIGKILL, failing allocations, and train steps that fail on
 * non-finite values leaving the model exactly as before. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "engine/engine.h" /* gm__conv_dnnl_built */
#include "gan/gan_internal.h" /* gm__gan_option_fields */
#include "vae/vae_internal.h" /* gm__vae_option_fields */
#include "gm_test.h"

/* ---- helpers ------------------------------------------------------------ */

/* Appends the layer a constructor just made (st its status); frees it if
 * the net refuses it. For builders that must survive failing allocations. */
static gm_status add(gm_net *net, gm_status st, gm_layer **l)
{
    if (st != GM_OK) return st;
    st = gm_net_add(net, *l);
    if (st != GM_OK) gm_layer_free(*l);
    return st;
}

/* Spectral norm on a layer just made, then add. */
static gm_status add_sn(gm_net *net, gm_status st, gm_layer **l, gm_rng *rng)
{
    if (st == GM_OK) {
        st = gm_layer_spectral_norm(*l, 1, 1e-12f, rng);
        if (st != GM_OK) gm_layer_free(*l);
    }
    return st == GM_OK ? add(net, st, l) : st;
}

/* Frees what a failed builder made (the model owns the nets on success). */
static gm_status built(gm_status st, gm_net *a, gm_net *b, gm_rng *rng)
{
    if (st != GM_OK) {
        gm_net_free(a);
        gm_net_free(b);
    }
    gm_rng_free(rng);
    return st;
}

/* A VAE on 16 features with batchnorm, dropout and spectral norm in the
 * encoder, so every kind of layer state is in play. Every failure (an
 * allocation) is returned with nothing leaked. */
static gm_status build_vae(gm_vae **out, uint64_t seed, int sgd)
{
    gm_rng *rng = NULL;
    gm_net *enc = NULL, *dec = NULL;
    gm_layer *l;
    gm_status st = gm_rng_create(&rng, seed);
    if (st == GM_OK) st = gm_net_create(&enc);
    if (st == GM_OK) st = gm_net_create(&dec);
    if (st == GM_OK) st = add(enc, gm_dense_create(&l, 16, 12, GM_INIT_HE, rng), &l);
    if (st == GM_OK) st = add(enc, gm_batchnorm_create(&l, 12, 0.1f, 1e-5f), &l);
    if (st == GM_OK) st = add(enc, gm_relu_create(&l), &l);
    if (st == GM_OK) st = add(enc, gm_dropout_create(&l, 0.2f, seed + 7), &l);
    if (st == GM_OK) st = add_sn(enc, gm_dense_create(&l, 12, 8, GM_INIT_XAVIER, rng), &l, rng);
    if (st == GM_OK) st = add(dec, gm_dense_create(&l, 4, 12, GM_INIT_HE, rng), &l);
    if (st == GM_OK) st = add(dec, gm_elu_create(&l, 1.0f), &l);
    if (st == GM_OK) st = add(dec, gm_dense_create(&l, 12, 16, GM_INIT_TORCH, rng), &l);
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
    if (st == GM_OK) st = gm_vae_create(out, enc, dec, &o);
    return built(st, enc, dec, rng);
}

/* A small DCGAN on 1 x 8 x 8 images: G with batchnorm and a transposed
 * conv, D with a spectrally normalized conv and dropout; two critic
 * steps; D trained by SGD at d_lr if d_lr > 0. */
static gm_status build_gan(gm_gan **out, uint64_t seed, float d_lr)
{
    gm_rng *rng = NULL;
    gm_net *g = NULL, *d = NULL;
    gm_layer *l;
    gm_status st = gm_rng_create(&rng, seed);
    if (st == GM_OK) st = gm_net_create(&g);
    if (st == GM_OK) st = gm_net_create(&d);
    if (st == GM_OK) st = add(g, gm_dense_create(&l, 4, 32, GM_INIT_HE, rng), &l);
    if (st == GM_OK) st = add(g, gm_reshape_create(&l, 3, (size_t[]){2, 4, 4}), &l);
    if (st == GM_OK) st = add(g, gm_batchnorm_create(&l, 2, 0.1f, 1e-5f), &l);
    if (st == GM_OK) st = add(g, gm_relu_create(&l), &l);
    if (st == GM_OK)
        st = add(g, gm_conv_transpose2d_create(&l, 2, 1, 4, 2, 1, GM_INIT_XAVIER, rng), &l);
    if (st == GM_OK) st = add(g, gm_tanh_create(&l), &l);
    if (st == GM_OK) st = add_sn(d, gm_conv2d_create(&l, 1, 4, 4, 2, 1, GM_INIT_HE, rng), &l, rng);
    if (st == GM_OK) st = add(d, gm_leaky_relu_create(&l, 0.2f), &l);
    if (st == GM_OK) st = add(d, gm_dropout_create(&l, 0.1f, seed + 3), &l);
    if (st == GM_OK) st = add(d, gm_flatten_create(&l), &l);
    if (st == GM_OK) st = add(d, gm_dense_create(&l, 64, 1, GM_INIT_XAVIER, rng), &l);
    gm_gan_options o;
    gm_gan_options_init(&o);
    o.latent = 4;
    o.seed = seed;
    o.n_critic = 2;
    gm_optimizer_options od;
    if (d_lr > 0.0f) {
        gm_optimizer_options_init(&od, GM_OPT_SGD);
        od.lr = d_lr;
        o.d_optimizer = &od;
    }
    if (st == GM_OK) st = gm_gan_create(out, g, d, &o);
    return built(st, g, d, rng);
}

static gm_vae *make_vae(uint64_t seed, int sgd)
{
    gm_vae *v = NULL;
    GM_CK_OK(build_vae(&v, seed, sgd));
    return v;
}

static gm_gan *make_gan(uint64_t seed, float d_lr)
{
    gm_gan *g = NULL;
    GM_CK_OK(build_gan(&g, seed, d_lr));
    return g;
}

/* Batch b of a fixed data stream: [n x 16] in [0, 1] or [n x 1 x 8 x 8]
 * in [-1, 1]. */
static gm_tensor *batch(int images, size_t b)
{
    gm_tensor *t;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 1000 + b));
    if (images)
        GM_CK_OK(gm_tensor_create(&t, 4, (size_t[]){8, 1, 8, 8}));
    else
        GM_CK_OK(gm_tensor_create(&t, 2, (size_t[]){8, 16}));
    GM_CK_OK(gm_tensor_fill_uniform(t, rng));
    if (images) {
        float *x = gm_tensor_data(t);
        for (size_t i = 0; i < gm_tensor_numel(t); i++) x[i] = 2.0f * x[i] - 1.0f;
    }
    gm_rng_free(rng);
    return t;
}

static void vae_steps(gm_vae *v, size_t from, size_t to)
{
    for (size_t b = from; b < to; b++) {
        gm_tensor *x = batch(0, b);
        GM_CK_OK(gm_vae_train_step(v, x, NULL, NULL));
        gm_tensor_free(x);
    }
}

static void gan_steps(gm_gan *g, size_t from, size_t to)
{
    for (size_t b = from; b < to; b++) {
        gm_tensor *x = batch(1, b);
        GM_CK_OK(gm_gan_train_step(g, x, NULL, NULL));
        gm_tensor_free(x);
    }
}

/* Parameters of a net, malloc'd. */
static float *params_of(const gm_net *net, size_t *n)
{
    *n = gm_net_param_count(net);
    float *p = malloc((*n + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    GM_CK_OK(gm_net_get_params(net, p, *n));
    return p;
}

static void assert_same_params(gm_net *a, gm_net *b, const char *what)
{
    size_t na, nb;
    float *pa = params_of(a, &na), *pb = params_of(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_msg(memcmp(pa, pb, na * sizeof *pa) == 0, "%s: parameters differ", what);
    free(pa);
    free(pb);
}

/* ---- round trips and exact resume ------------------------------------- */

START_TEST(test_net_round_trip)
{
    gm_test_dir_make("ckpt");
    gm_vae *v = make_vae(3, 0);
    vae_steps(v, 0, 4); /* running statistics, dropout stream, u and v move */
    gm_net *enc = gm_vae_encoder(v);
    GM_CK_OK(gm_net_set_trainable(enc, 1, 0));
    const char *p = gm_test_path("enc.gmck");
    GM_CK_OK(gm_net_save(enc, p));
    gm_net *back;
    GM_CK_OK(gm_net_load(&back, p));
    ck_assert_uint_eq(gm_net_num_layers(back), gm_net_num_layers(enc));
    ck_assert_int_eq(gm_net_is_training(back), gm_net_is_training(enc));
    assert_same_params(enc, back, "loaded net");
    /* the same outputs in both modes: running statistics and the dropout
     * stream position came along */
    gm_tensor *x = batch(0, 99), *y1, *y2;
    GM_CK_OK(gm_tensor_create(&y1, 2, (size_t[]){8, 8}));
    GM_CK_OK(gm_tensor_create(&y2, 2, (size_t[]){8, 8}));
    for (int mode = 0; mode < 2; mode++) {
        GM_CK_OK(gm_net_set_training(enc, mode));
        GM_CK_OK(gm_net_set_training(back, mode));
        GM_CK_OK(gm_net_forward(enc, x, y1));
        GM_CK_OK(gm_net_forward(back, x, y2));
        ck_assert_msg(memcmp(gm_tensor_data(y1), gm_tensor_data(y2), 64 * sizeof(float)) == 0,
                      "outputs differ in mode %d", mode);
    }
    /* saving the loaded net gives the same bytes */
    GM_CK_OK(gm_net_set_training(back, 1));
    GM_CK_OK(gm_net_set_training(enc, 1));
    GM_CK_OK(gm_net_save(back, gm_test_path("back.gmck")));
    GM_CK_OK(gm_net_save(enc, p));
    ck_assert(gm_test_files_equal(p, gm_test_path("back.gmck")));
    gm_tensor_free(x);
    gm_tensor_free(y1);
    gm_tensor_free(y2);
    gm_net_free(back);
    gm_vae_free(v);
    gm_test_dir_remove();
}
END_TEST

START_TEST(test_vae_exact_resume)
{
    gm_test_dir_make("ckpt");
    const size_t N = 6, M = 7;
    gm_vae *straight = make_vae(11, 0);
    vae_steps(straight, 0, N + M);
    gm_vae *first = make_vae(11, 0);
    vae_steps(first, 0, N);
    const char *p = gm_test_path("vae.gmck");
    GM_CK_OK(gm_vae_save(first, p));
    gm_vae_free(first);
    gm_vae *resumed;
    GM_CK_OK(gm_vae_load(&resumed, p));
    ck_assert_uint_eq(gm_vae_step_count(resumed), N);
    gm_vae_options o, o2;
    GM_CK_OK(gm_vae_options_init(&o));
    GM_CK_OK(gm_vae_get_options(resumed, &o));
    GM_CK_OK(gm_vae_options_init(&o2));
    GM_CK_OK(gm_vae_get_options(straight, &o2));
    ck_assert(memcmp(&o, &o2, sizeof o) == 0);
    ck_assert_uint_eq(o.latent, 4);
    ck_assert_uint_eq(o.seed, 11);
    ck_assert_uint_eq(o.kl_warmup_steps, 5);
    ck_assert_ptr_null(o.optimizer);
    o.size = 8;
    GM_CK_ERR(GM_EINVAL, "gm_vae_get_options", gm_vae_get_options(resumed, &o));
    ck_assert_uint_eq(o.latent, 4); /* unchanged */
    GM_CK_ERR(GM_EINVAL, "gm_vae_get_options", gm_vae_get_options(NULL, &o2));
    GM_CK_ERR(GM_EINVAL, "gm_vae_get_options", gm_vae_get_options(resumed, NULL));
    vae_steps(resumed, N, N + M);
    ck_assert_uint_eq(gm_vae_step_count(resumed), N + M);
    assert_same_params(gm_vae_encoder(straight), gm_vae_encoder(resumed), "encoder");
    assert_same_params(gm_vae_decoder(straight), gm_vae_decoder(resumed), "decoder");
    /* everything else too: the two save to the same bytes */
    GM_CK_OK(gm_vae_save(straight, gm_test_path("a.gmck")));
    GM_CK_OK(gm_vae_save(resumed, gm_test_path("b.gmck")));
    ck_assert(gm_test_files_equal(gm_test_path("a.gmck"), gm_test_path("b.gmck")));
    /* and the sampling generator came along */
    gm_tensor *s1, *s2;
    GM_CK_OK(gm_tensor_create(&s1, 2, (size_t[]){5, 16}));
    GM_CK_OK(gm_tensor_create(&s2, 2, (size_t[]){5, 16}));
    GM_CK_OK(gm_vae_sample(straight, 5, NULL, s1));
    GM_CK_OK(gm_vae_sample(resumed, 5, NULL, s2));
    ck_assert(memcmp(gm_tensor_data(s1), gm_tensor_data(s2), 80 * sizeof(float)) == 0);
    gm_tensor_free(s1);
    gm_tensor_free(s2);
    gm_vae_free(straight);
    gm_vae_free(resumed);
    gm_test_dir_remove();
}
END_TEST

/* N steps, save; a fresh process loads and trains M more and saves; that
 * file equals the one of N + M steps straight. */
START_TEST(test_gan_exact_resume_fresh_process)
{
    /* A fork child runs oneDNN's convolutions on one thread (GNU OpenMP's
     * thread pool does not survive fork), and their sums depend on the
     * thread count: one thread on both sides then. */
    const int threads = gm_get_num_threads();
    if (gm__conv_dnnl_built()) GM_CK_OK(gm_set_num_threads(1));
    gm_test_dir_make("ckpt");
    const size_t N = 5, M = 6;
    gm_gan *first = make_gan(21, 0.0f);
    gan_steps(first, 0, N);
    const char *p = gm_test_path("gan.gmck"), *q = gm_test_path("gan2.gmck");
    GM_CK_OK(gm_gan_save(first, p));
    gm_gan_free(first);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        gm_gan *g = NULL;
        int ok = gm_gan_load(&g, p) == GM_OK && gm_gan_step_count(g) == N;
        for (size_t b = N; ok && b < N + M; b++) {
            gm_tensor *x = batch(1, b);
            ok = gm_gan_train_step(g, x, NULL, NULL) == GM_OK;
            gm_tensor_free(x);
        }
        ok = ok && gm_gan_save(g, q) == GM_OK;
        gm_gan_free(g);
        _exit(ok ? 0 : 1);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed");
    gm_gan *straight = make_gan(21, 0.0f), *resumed;
    gan_steps(straight, 0, N + M);
    GM_CK_OK(gm_gan_load(&resumed, q));
    gm_gan_options go;
    GM_CK_OK(gm_gan_options_init(&go));
    GM_CK_OK(gm_gan_get_options(resumed, &go));
    ck_assert(go.latent == 4 && go.seed == 21 && go.n_critic == 2 && go.g_optimizer == NULL);
    go.size = 4097;
    GM_CK_ERR(GM_EINVAL, "gm_gan_get_options", gm_gan_get_options(resumed, &go));
    assert_same_params(gm_gan_generator(straight), gm_gan_generator(resumed), "generator");
    assert_same_params(gm_gan_discriminator(straight), gm_gan_discriminator(resumed),
                       "discriminator");
    GM_CK_OK(gm_gan_save(straight, p));
    ck_assert(gm_test_files_equal(p, q));
    gm_gan_free(straight);
    gm_gan_free(resumed);
    gm_test_dir_remove();
    GM_CK_OK(gm_set_num_threads(threads));
}
END_TEST

/* ---- bad files ---------------------------------------------------------- */

typedef gm_status (*loader)(void **out, const char *path);
static gm_status load_net(void **o, const char *p) { return gm_net_load((gm_net **)o, p); }
static gm_status load_vae(void **o, const char *p) { return gm_vae_load((gm_vae **)o, p); }
static gm_status load_gan(void **o, const char *p) { return gm_gan_load((gm_gan **)o, p); }

static void free_any(int kind, void *o)
{
    if (kind == 0) gm_net_free(o);
    if (kind == 1) gm_vae_free(o);
    if (kind == 2) gm_gan_free(o);
}

/* Saves one file of each kind into dir: net.gmck, vae.gmck, gan.gmck. */
static void save_all_kinds(void)
{
    gm_vae *v = make_vae(5, 0);
    vae_steps(v, 0, 2);
    gm_gan *g = make_gan(5, 0.0f);
    gan_steps(g, 0, 2);
    GM_CK_OK(gm_net_save(gm_vae_decoder(v), gm_test_path("net.gmck")));
    GM_CK_OK(gm_vae_save(v, gm_test_path("vae.gmck")));
    GM_CK_OK(gm_gan_save(g, gm_test_path("gan.gmck")));
    gm_vae_free(v);
    gm_gan_free(g);
}

static const char *const kind_file[3] = {"net.gmck", "vae.gmck", "gan.gmck"};
static const char *const kind_fn[3] = {"gm_net_load", "gm_vae_load", "gm_gan_load"};
static const loader loaders[3] = {load_net, load_vae, load_gan};

/* Every prefix of every kind of file, and a flip of every byte (every
 * 7th for the larger files), gives GM_EFORMAT, no object, no leak. */
START_TEST(test_truncated_and_corrupt)
{
    gm_test_dir_make("ckpt");
    save_all_kinds();
    const char *bad = gm_test_path("bad.gmck");
    size_t tried = 0;
    for (int k = 0; k < 3; k++) {
        size_t n;
        unsigned char *img = gm_test_read_file(gm_test_path(kind_file[k]), &n);
        const size_t live = gm_live_allocations();
        const size_t stride = n > 4000 ? 7 : 1;
        for (size_t len = 0; len < n; len += stride) {
            gm_test_write_file(bad, img, len);
            void *o = (void *)1;
            GM_CK_ERR(GM_EFORMAT, kind_fn[k], loaders[k](&o, bad));
            ck_assert_ptr_null(o);
            tried++;
        }
        for (size_t i = 0; i < n; i += stride) {
            img[i] ^= 0x5a;
            gm_test_write_file(bad, img, n);
            img[i] ^= 0x5a;
            void *o = (void *)1;
            GM_CK_ERR(GM_EFORMAT, kind_fn[k], loaders[k](&o, bad));
            ck_assert_ptr_null(o);
            tried++;
        }
        /* a byte appended */
        unsigned char *longer = malloc(n + 1);
        memcpy(longer, img, n);
        longer[n] = 0;
        gm_test_write_file(bad, longer, n + 1);
        void *o = NULL;
        GM_CK_ERR(GM_EFORMAT, kind_fn[k], loaders[k](&o, bad));
        ck_assert_str_ne(gm_last_error(), "");
        free(longer);
        ck_assert_uint_eq(gm_live_allocations(), live);
        /* the intact file still loads */
        GM_CK_OK(loaders[k](&o, gm_test_path(kind_file[k])));
        free_any(k, o);
        free(img);
    }
    ck_assert_uint_gt(tried, 1000);
    gm_test_dir_remove();
}
END_TEST

static uint32_t rd32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr32(unsigned char *b, uint32_t v)
{
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the header CRC and the CRC of the section at `sec`, so that
 * a hostile value is seen by the parser behind them. */
static void fix_crcs(unsigned char *img, size_t sec)
{
    wr32(img + 20, (uint32_t)crc32(0, img, 20));
    uint64_t len = rd32(img + sec + 8) | (uint64_t)rd32(img + sec + 12) << 32;
    wr32(img + sec + 4, (uint32_t)crc32(0, img + sec + 16, (uInt)len));
}

START_TEST(test_hostile_and_future_files)
{
    gm_test_dir_make("ckpt");
    save_all_kinds();
    const char *bad = gm_test_path("bad.gmck");
    size_t n;
    unsigned char *img = gm_test_read_file(gm_test_path("net.gmck"), &n);
    gm_net *net = (gm_net *)1;
    /* a later format version */
    wr32(img + 8, GM_CHECKPOINT_VERSION + 1);
    fix_crcs(img, 24);
    gm_test_write_file(bad, img, n);
    GM_CK_ERR(GM_EVERSION, "gm_net_load", gm_net_load(&net, bad));
    ck_assert_ptr_nonnull(strstr(gm_last_error(), "later"));
    ck_assert_ptr_null(net);
    wr32(img + 8, GM_CHECKPOINT_VERSION);
    /* the wrong kind, both ways */
    GM_CK_ERR(GM_EFORMAT, "gm_net_load", gm_net_load(&net, gm_test_path("vae.gmck")));
    ck_assert_ptr_nonnull(strstr(gm_last_error(), "VAE checkpoint"));
    gm_gan *gan = (gm_gan *)1;
    GM_CK_ERR(GM_EFORMAT, "gm_gan_load", gm_gan_load(&gan, gm_test_path("vae.gmck")));
    ck_assert_ptr_null(gan);
    /* hostile sizes with valid CRCs: a layer count, then the first dense
     * layer's sizes made huge; nothing huge may be allocated */
    const size_t live = gm_live_allocations();
    const size_t payload = 24 + 16;
    unsigned char save[16];
    memcpy(save, img + payload, 4);
    wr32(img + payload, 60000); /* layers */
    fix_crcs(img, 24);
    gm_test_write_file(bad, img, n);
    GM_CK_ERR(GM_EFORMAT, "gm_net_load", gm_net_load(&net, bad));
    memcpy(img + payload, save, 4);
    const size_t layer0 = payload + 8; /* kind, trainable, u[0], u[1] */
    memcpy(save, img + layer0 + 8, 16);
    wr32(img + layer0 + 8, 0x40000000u); /* in_features 2^30 */
    wr32(img + layer0 + 16, 0x40000000u); /* out_features 2^30 */
    fix_crcs(img, 24);
    gm_test_write_file(bad, img, n);
    GM_CK_ERR(GM_EFORMAT, "gm_net_load", gm_net_load(&net, bad));
    ck_assert_ptr_nonnull(strstr(gm_last_error(), "parameters"));
    memcpy(img + layer0 + 8, save, 16);
    wr32(img + layer0, 999); /* an unknown layer kind */
    fix_crcs(img, 24);
    gm_test_write_file(bad, img, n);
    GM_CK_ERR(GM_EFORMAT, "gm_net_load", gm_net_load(&net, bad));
    ck_assert_ptr_nonnull(strstr(gm_last_error(), "unknown kind 999"));
    ck_assert_uint_eq(gm_live_allocations(), live);
    /* not a file, not there, not a checkpoint */
    GM_CK_ERR(GM_EIO, "gm_net_load", gm_net_load(&net, gm_test_dir()));
    GM_CK_ERR(GM_EIO, "gm_net_load", gm_net_load(&net, gm_test_path("missing.gmck")));
    GM_CK_ERR(GM_EFORMAT, "gm_net_load", gm_net_load(&net, "/proc/self/status"));
    gm_test_write_file(bad, (const unsigned char *)"GMCKPT\r\nthis is not one at all", 30);
    GM_CK_ERR(GM_EFORMAT, "gm_net_load", gm_net_load(&net, bad));
    GM_CK_ERR(GM_EINVAL, "gm_net_load", gm_net_load(NULL, bad));
    GM_CK_ERR(GM_EINVAL, "gm_net_load", gm_net_load(&net, NULL));
    free(img);
    gm_test_dir_remove();
}
END_TEST

START_TEST(test_save_errors_keep_old_file)
{
    gm_test_dir_make("ckpt");
    save_all_kinds();
    gm_vae *v;
    GM_CK_OK(gm_vae_load(&v, gm_test_path("vae.gmck")));
    GM_CK_ERR(GM_EINVAL, "gm_vae_save", gm_vae_save(NULL, gm_test_path("x")));
    GM_CK_ERR(GM_EINVAL, "gm_vae_save", gm_vae_save(v, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_save", gm_vae_save(v, ""));
    GM_CK_ERR(GM_EIO, "gm_vae_save", gm_vae_save(v, gm_test_path("no/such/dir.gmck")));
    /* a symlink or a directory is not replaced */
    ck_assert_int_eq(symlink(gm_test_path("vae.gmck"), gm_test_path("link.gmck")), 0);
    GM_CK_ERR(GM_EIO, "gm_vae_save", gm_vae_save(v, gm_test_path("link.gmck")));
    struct stat sb;
    ck_assert_int_eq(lstat(gm_test_path("link.gmck"), &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    GM_CK_ERR(GM_EIO, "gm_vae_save", gm_vae_save(v, gm_test_dir()));
    gm_tensor *img;
    GM_CK_OK(gm_tensor_create(&img, 4, (size_t[]){1, 1, 2, 2}));
    GM_CK_ERR(GM_EIO, "gm_png_write_grid", gm_png_write_grid(gm_test_path("link.gmck"), img, 1, 1, 0, 0.0f));
    gm_tensor_free(img);
    GM_CK_ERR(GM_EINVAL, "gm_net_save", gm_net_save(NULL, gm_test_path("x")));
    gm_net *empty;
    GM_CK_OK(gm_net_create(&empty));
    GM_CK_ERR(GM_ESTATE, "gm_net_save", gm_net_save(empty, gm_test_path("x")));
    gm_net_free(empty);
    /* pending data-parallel gradients: refused, the old file kept */
    gm_tensor *x = batch(0, 0);
    GM_CK_OK(gm_vae_compute_grads(v, x, NULL, 0, 8, NULL));
    size_t n0, n1;
    unsigned char *before = gm_test_read_file(gm_test_path("vae.gmck"), &n0);
    GM_CK_ERR(GM_ESTATE, "gm_vae_save", gm_vae_save(v, gm_test_path("vae.gmck")));
    GM_CK_OK(gm_vae_apply_grads(v));
    unsigned char *after = gm_test_read_file(gm_test_path("vae.gmck"), &n1);
    ck_assert(n0 == n1 && memcmp(before, after, n0) == 0);
    GM_CK_OK(gm_vae_save(v, gm_test_path("vae.gmck")));
    /* no temporary files are left behind */
    char cmd[160];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | grep -q tmp-", gm_test_dir()); /* .gm.tmp-...: -A */
    ck_assert_int_ne(system(cmd), 0);
    free(before);
    free(after);
    gm_tensor_free(x);
    gm_gan *g;
    GM_CK_OK(gm_gan_load(&g, gm_test_path("gan.gmck")));
    x = batch(1, 0);
    GM_CK_OK(gm_gan_compute_grads(g, GM_GAN_DISCRIMINATOR, x, NULL, 0, 8, NULL));
    GM_CK_ERR(GM_ESTATE, "gm_gan_save", gm_gan_save(g, gm_test_path("gan.gmck")));
    GM_CK_OK(gm_gan_apply_grads(g, GM_GAN_DISCRIMINATOR));
    GM_CK_OK(gm_gan_save(g, gm_test_path("gan.gmck")));
    gm_tensor_free(x);
    gm_gan_free(g);
    gm_vae_free(v);
    gm_test_dir_remove();
}
END_TEST

/* ---- kill during save ---------------------------------------------------- */

/* Files in the scratch directory whose name marks a temporary file. */
static int count_temps(void)
{
    DIR *d = opendir(gm_test_dir());
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strstr(e->d_name, "tmp") != NULL;
    closedir(d);
    return n;
}

/* A child saves two different VAEs in turn over one path, forever; the
 * parent kills it with SIGKILL after a random delay. The file must then
 * load, as one of the two states. */
START_TEST(test_kill_during_save)
{
    gm_test_dir_make("ckpt");
    gm_vae *a = make_vae(31, 0), *b = make_vae(32, 0);
    const char *p = gm_test_path("live.gmck"), *pa = gm_test_path("a.gmck"),
               *pb = gm_test_path("b.gmck");
    GM_CK_OK(gm_vae_save(a, pa));
    GM_CK_OK(gm_vae_save(b, pb));
    GM_CK_OK(gm_vae_save(a, p));
    const int trials = getenv("GM_KILL_TRIALS") ? atoi(getenv("GM_KILL_TRIALS")) : 150;
    /* kill anywhere in the first few saves: delays up to 4 saves' time */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 4; i++) GM_CK_OK(gm_vae_save(i % 2 ? b : a, p));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const long span = (t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) + 500000;
    int as = 0, bs = 0;
    uint64_t r = (uint64_t)time(NULL) * 2654435761u;
    for (int t = 0; t < trials; t++) {
        fflush(NULL);
        int ready[2];
        ck_assert_int_eq(pipe(ready), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            /* tell the parent the loop starts, so that its delay does not
             * depend on how long fork took (long under valgrind) */
            close(ready[0]);
            if (write(ready[1], "x", 1) != 1) _exit(4);
            for (unsigned i = 0;; i++)
                if ((i % 2 ? gm_vae_save(b, p) : gm_vae_save(a, p)) != GM_OK) _exit(3);
        }
        close(ready[1]);
        char byte;
        ck_assert_int_eq(read(ready[0], &byte, 1), 1);
        close(ready[0]);
        r = r * 6364136223846793005u + 1442695040888963407u;
        const long wait = (long)((r >> 20) % (uint64_t)span);
        struct timespec ts = {wait / 1000000000L, wait % 1000000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFSIGNALED(status), "the saver stopped by itself (status %d)", status);
        /* killed saves do not accumulate temporary files: one at most */
        const int temps = count_temps();
        ck_assert_msg(temps <= 1, "trial %d: %d temporary files after the kills", t, temps);
        gm_vae *v;
        GM_CK_OK(gm_vae_load(&v, p));
        gm_vae_free(v);
        if (gm_test_files_equal(p, pa))
            as++;
        else if (gm_test_files_equal(p, pb))
            bs++;
        else
            ck_abort_msg("trial %d: the file is neither state", t);
    }
    printf("kill during save: %d trials over %.1f ms, %d found A, %d found B, 0 corrupt\n", trials,
           span / 1e6, as, bs);
    ck_assert_msg(as > 0 && bs > 0, "the kills did not land across saves");
    /* the next save takes over a killed save's temporary file: no litter */
    GM_CK_OK(gm_vae_save(a, p));
    ck_assert_int_eq(count_temps(), 0);
    gm_vae_free(a);
    gm_vae_free(b);
    gm_test_dir_remove();
}
END_TEST

/* ---- failing allocations -------------------------------------------------- */


/* Runs op with the k-th allocation failing, for k = 0, 1, ... until it
 * succeeds: every failure must be GM_ENOMEM and leak nothing (a train
 * step may keep the buffers it made before the failure for the next try:
 * `keeps`; those are counted when the model is freed). Returns the number
 * of failure points. */
typedef gm_status (*oom_op)(void *ctx);
static long oom_sweep(oom_op op, void *ctx, const char *name, void (*undo)(void *ctx), int keeps)
{
    for (long k = 0;; k++) {
        const size_t live = gm_live_allocations();
        gm_test_oom_arm(k);
        gm_status st = op(ctx);
        gm_test_oom_arm(-1);
        if (st == GM_OK) {
            if (undo) undo(ctx);
            return k;
        }
        ck_assert_msg(st == GM_ENOMEM, "%s: failing allocation %ld gave %s (%s)", name, k,
                      gm_status_string(st), gm_last_error());
        ck_assert_msg(keeps || gm_live_allocations() == live, "%s: failing allocation %ld leaked %zu", name,
                      k, gm_live_allocations() - live);
        ck_assert_int_lt(k, 100000);
    }
}

typedef struct {
    const char *path;
    gm_vae *vae;
    gm_gan *gan;
    gm_tensor *x, *img;
    void *loaded;
} oom_ctx;

static gm_status op_vae_save(void *c) { return gm_vae_save(((oom_ctx *)c)->vae, ((oom_ctx *)c)->path); }
static gm_status op_gan_save(void *c) { return gm_gan_save(((oom_ctx *)c)->gan, ((oom_ctx *)c)->path); }
static gm_status op_vae_load(void *c) { return gm_vae_load((gm_vae **)&((oom_ctx *)c)->loaded, ((oom_ctx *)c)->path); }
static gm_status op_gan_load(void *c) { return gm_gan_load((gm_gan **)&((oom_ctx *)c)->loaded, ((oom_ctx *)c)->path); }
static gm_status op_net_load(void *c) { return gm_net_load((gm_net **)&((oom_ctx *)c)->loaded, ((oom_ctx *)c)->path); }
static gm_status op_vae_step(void *c) { return gm_vae_train_step(((oom_ctx *)c)->vae, ((oom_ctx *)c)->x, NULL, NULL); }
static gm_status op_gan_step(void *c) { return gm_gan_train_step(((oom_ctx *)c)->gan, ((oom_ctx *)c)->img, NULL, NULL); }
static gm_status op_vae_create(void *c) { return build_vae((gm_vae **)&((oom_ctx *)c)->loaded, 41, 0); }
static gm_status op_gan_create(void *c) { return build_gan((gm_gan **)&((oom_ctx *)c)->loaded, 41, 0.0f); }
static void undo_vae(void *c) { gm_vae_free(((oom_ctx *)c)->loaded); }
static void undo_gan(void *c) { gm_gan_free(((oom_ctx *)c)->loaded); }
static void undo_net(void *c) { gm_net_free(((oom_ctx *)c)->loaded); }

START_TEST(test_oom_everywhere)
{
    gm_test_dir_make("ckpt");
    const gm_allocator a = GM_TEST_OOM_ALLOCATOR;
    gm_test_oom_arm(-1);
    GM_CK_OK(gm_set_allocator(&a));
    oom_ctx c = {.path = gm_test_path("m.gmck")};
    long points = 0;
    /* building the models (layers, spectral norm, nets, VAE/GAN), a first
     * step (buffers are made), saves and loads; then the models train on */
    points += oom_sweep(op_vae_create, &c, "build_vae", undo_vae, 0);
    points += oom_sweep(op_gan_create, &c, "build_gan", undo_gan, 0);
    c.vae = make_vae(41, 0);
    c.gan = make_gan(41, 0.0f);
    c.x = batch(0, 0);
    c.img = batch(1, 0);
    points += oom_sweep(op_vae_step, &c, "gm_vae_train_step", NULL, 1);
    points += oom_sweep(op_gan_step, &c, "gm_gan_train_step", NULL, 1);
    points += oom_sweep(op_vae_save, &c, "gm_vae_save", NULL, 0);
    points += oom_sweep(op_vae_load, &c, "gm_vae_load", undo_vae, 0);
    GM_CK_OK(gm_net_save(gm_vae_encoder(c.vae), c.path));
    points += oom_sweep(op_net_load, &c, "gm_net_load", undo_net, 0);
    points += oom_sweep(op_gan_save, &c, "gm_gan_save", NULL, 0);
    points += oom_sweep(op_gan_load, &c, "gm_gan_load", undo_gan, 0);
    /* the originals trained on through all of it, and match fresh ones
     * that took the same steps */
    GM_CK_OK(gm_vae_train_step(c.vae, c.x, NULL, NULL));
    GM_CK_OK(gm_gan_train_step(c.gan, c.img, NULL, NULL));
    gm_vae *v = make_vae(41, 0);
    gm_gan *g = make_gan(41, 0.0f);
    for (int i = 0; i < 2; i++) {
        GM_CK_OK(gm_vae_train_step(v, c.x, NULL, NULL));
        GM_CK_OK(gm_gan_train_step(g, c.img, NULL, NULL));
    }
    assert_same_params(gm_vae_encoder(v), gm_vae_encoder(c.vae), "VAE after failures");
    assert_same_params(gm_gan_discriminator(g), gm_gan_discriminator(c.gan), "GAN after failures");
    printf("OOM injection: %ld failure points in creation, train steps, saves and loads\n", points);
    ck_assert_int_gt(points, 40);
    gm_vae_free(v);
    gm_gan_free(g);
    gm_vae_free(c.vae);
    gm_gan_free(c.gan);
    gm_tensor_free(c.x);
    gm_tensor_free(c.img);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
    gm_test_dir_remove();
}
END_TEST

/* ---- numeric failures change nothing ----------------------------------- */

START_TEST(test_vae_numeric_failure_changes_nothing)
{
    gm_test_dir_make("ckpt");
    gm_vae *v = make_vae(51, 0);
    vae_steps(v, 0, 3);
    /* weights so large that the encoder's output overflows */
    gm_layer *first = gm_net_layer(gm_vae_encoder(v), 0);
    size_t np = gm_layer_param_count(first);
    float *w = malloc(np * sizeof *w);
    for (size_t i = 0; i < np; i++) w[i] = 3e37f;
    GM_CK_OK(gm_layer_set_params(first, w, np));
    const char *p0 = gm_test_path("before.gmck"), *p1 = gm_test_path("after.gmck");
    GM_CK_OK(gm_vae_save(v, p0));
    gm_tensor *x = batch(0, 3);
    GM_CK_ERR(GM_ENUMERIC, "gm_vae_train_step", gm_vae_train_step(v, x, NULL, NULL));
    GM_CK_ERR(GM_ENUMERIC, "gm_vae_compute_grads", gm_vae_compute_grads(v, x, NULL, 0, 8, NULL));
    GM_CK_OK(gm_vae_save(v, p1));
    ck_assert_msg(gm_test_files_equal(p0, p1), "a failed step changed the VAE");
    gm_tensor_free(x);
    free(w);
    gm_vae_free(v);
    gm_test_dir_remove();
}
END_TEST

/* D's first critic update (SGD, lr 3e38) makes its next forward overflow:
 * the second critic iteration fails, and the step must undo the first. */
START_TEST(test_gan_numeric_failure_undoes_critic_updates)
{
    gm_test_dir_make("ckpt");
    gm_gan *g = make_gan(61, 3e38f);
    const char *p0 = gm_test_path("before.gmck"), *p1 = gm_test_path("after.gmck");
    GM_CK_OK(gm_gan_save(g, p0));
    gm_tensor *x = batch(1, 0);
    GM_CK_ERR(GM_ENUMERIC, "gm_gan_train_step", gm_gan_train_step(g, x, NULL, NULL));
    GM_CK_OK(gm_gan_save(g, p1));
    ck_assert_msg(gm_test_files_equal(p0, p1), "a failed step changed the GAN");
    ck_assert_uint_eq(gm_gan_step_count(g), 0);
    /* lower the learning rate and go on */
    GM_CK_ERR(GM_EINVAL, "gm_gan_set_lr", gm_gan_set_lr(g, GM_GAN_DISCRIMINATOR, -1.0f));
    GM_CK_ERR(GM_EINVAL, "gm_gan_set_lr", gm_gan_set_lr(g, (gm_gan_part)7, 1e-3f));
    GM_CK_ERR(GM_EINVAL, "gm_gan_set_lr", gm_gan_set_lr(NULL, GM_GAN_GENERATOR, 1e-3f));
    GM_CK_OK(gm_gan_save(g, p1));
    ck_assert(gm_test_files_equal(p0, p1));
    GM_CK_OK(gm_gan_set_lr(g, GM_GAN_DISCRIMINATOR, 1e-3f));
    GM_CK_OK(gm_gan_train_step(g, x, NULL, NULL));
    ck_assert_uint_eq(gm_gan_step_count(g), 1);
    gm_tensor_free(x);
    gm_gan_free(g);
    gm_test_dir_remove();
}
END_TEST

/* ---- version-1 fixtures (tests/data/ckpt_v1_*) ------------------------ */

/* Files saved by the format-1 writer (commit 9519b28) from models with
 * options away from their defaults, spectral norm, batchnorm, dropout and
 * optimizer state mid-training. Beside each: the parameters at save time
 * (.params, float32 little-endian) and after one more train step from the
 * loaded file (.next). The loaded state must equal the file bit for bit;
 * the next step is compared with a tolerance (OpenBLAS kernels differ by
 * CPU in the last bits), and bit for bit against the same step taken
 * from a second load and from a re-saved copy on this machine. Set
 * GM_WRITE_CKPT_FIXTURES=1 to write them again (only while the writer
 * still speaks version 1). */

#define FIX_N 8

static gm_status build_fixture_vae(gm_vae **out)
{
    gm_rng *rng = NULL;
    gm_net *enc = NULL, *dec = NULL;
    gm_layer *l;
    gm_status st = gm_rng_create(&rng, 77);
    if (st == GM_OK) st = gm_net_create(&enc);
    if (st == GM_OK) st = gm_net_create(&dec);
    if (st == GM_OK) st = add(enc, gm_dense_create(&l, 19, 12, GM_INIT_HE, rng), &l);
    if (st == GM_OK) st = add(enc, gm_batchnorm_create(&l, 12, 0.2f, 1e-4f), &l);
    if (st == GM_OK) st = add(enc, gm_relu_create(&l), &l);
    if (st == GM_OK) st = add(enc, gm_dropout_create(&l, 0.25f, 78), &l);
    if (st == GM_OK) st = add_sn(enc, gm_dense_create(&l, 12, 8, GM_INIT_XAVIER, rng), &l, rng);
    if (st == GM_OK) st = add(dec, gm_dense_create(&l, 7, 12, GM_INIT_HE, rng), &l);
    if (st == GM_OK) st = add(dec, gm_batchnorm_create(&l, 12, 0.1f, 1e-5f), &l);
    if (st == GM_OK) st = add(dec, gm_elu_create(&l, 0.5f), &l);
    if (st == GM_OK) st = add(dec, gm_dense_create(&l, 12, 16, GM_INIT_TORCH, rng), &l);
    gm_vae_options o;
    gm_optimizer_options oo;
    gm_vae_options_init(&o);
    gm_optimizer_options_init(&oo, GM_OPT_ADAMW);
    oo.lr = 3e-3f;
    oo.beta1 = 0.8f;
    oo.beta2 = 0.99f;
    oo.eps = 1e-6f;
    oo.weight_decay = 0.02f;
    oo.clip_norm = 5.0f;
    o.latent = 4;
    o.likelihood = GM_LIKELIHOOD_GAUSSIAN_FIXED;
    o.gaussian_logvar = -0.5f;
    o.beta = 0.7f;
    o.kl_warmup_steps = 5;
    o.optimizer = &oo;
    o.seed = 1234;
    o.num_classes = 3;
    if (st == GM_OK) st = gm_vae_create(out, enc, dec, &o);
    return built(st, enc, dec, rng);
}

static gm_status build_fixture_gan(gm_gan **out)
{
    gm_rng *rng = NULL;
    gm_net *g = NULL, *d = NULL;
    gm_layer *l;
    gm_status st = gm_rng_create(&rng, 88);
    if (st == GM_OK) st = gm_net_create(&g);
    if (st == GM_OK) st = gm_net_create(&d);
    if (st == GM_OK) st = add(g, gm_dense_create(&l, 6, 32, GM_INIT_HE, rng), &l);
    if (st == GM_OK) st = add(g, gm_reshape_create(&l, 3, (size_t[]){2, 4, 4}), &l);
    if (st == GM_OK) st = add(g, gm_batchnorm_create(&l, 2, 0.2f, 1e-4f), &l);
    if (st == GM_OK) st = add(g, gm_relu_create(&l), &l);
    if (st == GM_OK)
        st = add(g, gm_conv_transpose2d_create(&l, 2, 1, 4, 2, 1, GM_INIT_XAVIER, rng), &l);
    if (st == GM_OK) st = add(g, gm_tanh_create(&l), &l);
    if (st == GM_OK) st = add_sn(d, gm_dense_create(&l, 66, 16, GM_INIT_HE, rng), &l, rng);
    if (st == GM_OK) st = add(d, gm_leaky_relu_create(&l, 0.1f), &l);
    if (st == GM_OK) st = add(d, gm_dropout_create(&l, 0.1f, 89), &l);
    if (st == GM_OK) st = add(d, gm_dense_create(&l, 16, 1, GM_INIT_XAVIER, rng), &l);
    gm_gan_options o;
    gm_optimizer_options og, od;
    gm_gan_options_init(&o);
    gm_optimizer_options_init(&og, GM_OPT_ADAM);
    og.lr = 5e-4f;
    og.beta1 = 0.6f;
    og.clip_norm = 10.0f;
    gm_optimizer_options_init(&od, GM_OPT_SGD);
    od.lr = 2e-2f;
    od.momentum = 0.8f;
    od.nesterov = 1;
    od.weight_decay = 1e-3f;
    o.latent = 4;
    o.loss = GM_GAN_LEAST_SQUARES;
    o.n_critic = 2;
    o.real_label = 0.9f;
    o.weight_clip = 0.5f;
    o.g_optimizer = &og;
    o.d_optimizer = &od;
    o.seed = 4321;
    o.num_classes = 2;
    if (st == GM_OK) st = gm_gan_create(out, g, d, &o);
    return built(st, g, d, rng);
}

static const int32_t fix_labels[FIX_N] = {0, 1, 2, 1, 0, 2, 2, 1};

/* Batch b of the fixtures' data; the labels mod C. */
static void fixture_step(gm_vae *v, gm_gan *g, size_t b)
{
    gm_tensor *x = batch(g != NULL, b);
    int32_t y[FIX_N];
    for (size_t i = 0; i < FIX_N; i++) y[i] = fix_labels[i] % (g ? 2 : 3);
    if (v) GM_CK_OK(gm_vae_train_step(v, x, y, NULL));
    if (g) GM_CK_OK(gm_gan_train_step(g, x, y, NULL));
    gm_tensor_free(x);
}

/* Both nets' parameters, one after the other, malloc'd. */
static float *model_params(gm_vae *v, gm_gan *g, size_t *n)
{
    gm_net *a = v ? gm_vae_encoder(v) : gm_gan_generator(g);
    gm_net *b = v ? gm_vae_decoder(v) : gm_gan_discriminator(g);
    size_t na, nb;
    float *pa = params_of(a, &na), *pb = params_of(b, &nb);
    float *p = malloc((na + nb) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    memcpy(p, pa, na * sizeof *p);
    memcpy(p + na, pb, nb * sizeof *p);
    free(pa);
    free(pb);
    *n = na + nb;
    return p;
}

static void fixture_path(char *buf, size_t cap, const char *name, const char *ext)
{
    snprintf(buf, cap, "%s/ckpt_v1_%s.%s", GM_TEST_DATA_DIR, name, ext);
}

static void write_floats(const char *path, const float *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, sizeof *p, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static float *read_floats(const char *path, size_t n)
{
    size_t bytes;
    unsigned char *raw = gm_test_read_file(path, &bytes);
    ck_assert_msg(raw != NULL, "cannot read %s", path);
    ck_assert_uint_eq(bytes, n * sizeof(float));
    return (float *)raw;
}

/* Loads the fixture `name` (a VAE if vae, else a GAN). */
static void load_fixture(const char *path, int vae, gm_vae **v, gm_gan **g)
{
    *v = NULL;
    *g = NULL;
    if (vae)
        GM_CK_OK(gm_vae_load(v, path));
    else
        GM_CK_OK(gm_gan_load(g, path));
}

static void free_model(gm_vae *v, gm_gan *g)
{
    gm_vae_free(v);
    gm_gan_free(g);
}

/* A GAN saved before the penalty options (the version-1 fixture) loads
 * with the penalty off: the records' defaults (gan_options.c, 1.2). */
START_TEST(test_gan_before_penalty_loads_without_one)
{
    char ck[512];
    fixture_path(ck, sizeof ck, "gan", "gmck");
    gm_vae *v;
    gm_gan *g;
    load_fixture(ck, 0, &v, &g);
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.penalty = 5;
    o.penalty_every = 9;
    GM_CK_OK(gm_gan_get_options(g, &o));
    ck_assert_int_eq(o.penalty, GM_PENALTY_NONE);
    ck_assert(o.penalty_weight == 0.0f);
    ck_assert_uint_eq(o.penalty_every, 1);
    free_model(v, g);
}
END_TEST

static void write_fixture(const char *name, int vae)
{
    char ck[512], pp[512], nx[512];
    fixture_path(ck, sizeof ck, name, "gmck");
    fixture_path(pp, sizeof pp, name, "params");
    fixture_path(nx, sizeof nx, name, "next");
    gm_vae *v = NULL;
    gm_gan *g = NULL;
    if (vae)
        GM_CK_OK(build_fixture_vae(&v));
    else
        GM_CK_OK(build_fixture_gan(&g));
    for (size_t b = 0; b < 3; b++) fixture_step(v, g, b);
    if (v) GM_CK_OK(gm_vae_save(v, ck));
    if (g) GM_CK_OK(gm_gan_save(g, ck));
    size_t n;
    float *p = model_params(v, g, &n);
    write_floats(pp, p, n);
    free(p);
    free_model(v, g);
    load_fixture(ck, vae, &v, &g);
    fixture_step(v, g, 3);
    p = model_params(v, g, &n);
    write_floats(nx, p, n);
    free(p);
    free_model(v, g);
}

/* One step from a loaded model: its parameters after it. */
static float *step_from(const char *path, int vae, size_t *n)
{
    gm_vae *v;
    gm_gan *g;
    load_fixture(path, vae, &v, &g);
    fixture_step(v, g, 3);
    float *p = model_params(v, g, n);
    free_model(v, g);
    return p;
}

static void check_fixture(const char *name, int vae)
{
    char ck[512], pp[512], nx[512];
    fixture_path(ck, sizeof ck, name, "gmck");
    fixture_path(pp, sizeof pp, name, "params");
    fixture_path(nx, sizeof nx, name, "next");
    gm_vae *v;
    gm_gan *g;
    load_fixture(ck, vae, &v, &g);
    /* the options and the step count came from the file */
    if (v) {
        gm_vae_options o;
        GM_CK_OK(gm_vae_options_init(&o));
        GM_CK_OK(gm_vae_get_options(v, &o));
        ck_assert_uint_eq(gm_vae_step_count(v), 3);
        ck_assert_uint_eq(o.latent, 4);
        ck_assert_int_eq(o.likelihood, GM_LIKELIHOOD_GAUSSIAN_FIXED);
        ck_assert(o.gaussian_logvar == -0.5f && o.beta == 0.7f);
        ck_assert_uint_eq(o.kl_warmup_steps, 5);
        ck_assert_uint_eq(o.seed, 1234);
        ck_assert_uint_eq(o.num_classes, 3);
    } else {
        gm_gan_options o;
        GM_CK_OK(gm_gan_options_init(&o));
        GM_CK_OK(gm_gan_get_options(g, &o));
        ck_assert_uint_eq(gm_gan_step_count(g), 3);
        ck_assert_uint_eq(o.latent, 4);
        ck_assert_int_eq(o.loss, GM_GAN_LEAST_SQUARES);
        ck_assert_uint_eq(o.n_critic, 2);
        ck_assert(o.real_label == 0.9f && o.weight_clip == 0.5f);
        ck_assert_uint_eq(o.seed, 4321);
        ck_assert_uint_eq(o.num_classes, 2);
    }
    /* the parameters, bit for bit */
    size_t n, n2, n3;
    float *p = model_params(v, g, &n);
    float *want = read_floats(pp, n);
    ck_assert_msg(memcmp(p, want, n * sizeof *p) == 0, "%s: loaded parameters differ", name);
    /* a re-saved copy (in today's format) holds the same state */
    gm_test_dir_make("ckpt");
    const char *again = gm_test_path("again.gmck");
    if (v) GM_CK_OK(gm_vae_save(v, again));
    if (g) GM_CK_OK(gm_gan_save(g, again));
    free_model(v, g);
    /* the next step: bit for bit between loads on this machine... */
    float *s1 = step_from(ck, vae, &n);
    float *s2 = step_from(ck, vae, &n2);
    float *s3 = step_from(again, vae, &n3);
    ck_assert_uint_eq(n2, n);
    ck_assert_uint_eq(n3, n);
    ck_assert_msg(memcmp(s1, s2, n * sizeof *p) == 0, "%s: two resumes differ", name);
    ck_assert_msg(memcmp(s1, s3, n * sizeof *p) == 0, "%s: re-saved resume differs", name);
    /* ...and close to the step taken when the fixture was made; the step
     * itself is far larger than the tolerance */
    float *next = read_floats(nx, n);
    double off = 0.0, step = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)s1[i] - next[i]);
        off += d * d;
        step += ((double)next[i] - want[i]) * ((double)next[i] - want[i]);
        if (d > worst) worst = d;
    }
    /* on AVX2 against an AVX-512 fixture: off by 0.2 % of the step, worst
     * 8e-5 (Adam amplifies near-zero gradients) */
    ck_assert_msg(sqrt(off) <= 1e-2 * sqrt(step) && worst <= 1e-3,
                  "%s: the resumed step is off by %.3g (step %.3g, worst %.3g)", name, sqrt(off),
                  sqrt(step), worst);
    gm_test_dir_remove();
    free(p);
    free(want);
    free(s1);
    free(s2);
    free(s3);
    free(next);
}

START_TEST(test_v1_fixtures_resume)
{
    const char *w = getenv("GM_WRITE_CKPT_FIXTURES");
    if (w && strcmp(w, "1") == 0) {
        write_fixture("vae", 1);
        write_fixture("gan", 0);
    }
    check_fixture("vae", 1);
    check_fixture("gan", 0);
}
END_TEST

/* ---- format 2's option records ----------------------------------------- */

/* The offset of a model image's options section (its sixth and last). */
static size_t options_section(const unsigned char *img)
{
    size_t sec = 24;
    for (int k = 0; k < 5; k++)
        sec += 16 + (size_t)(rd32(img + sec + 8) | (uint64_t)rd32(img + sec + 12) << 32);
    return sec;
}

/* The offset of options record `id` (u32 id, u32 type, u64 length, value)
 * in the section at sec, or 0. */
static size_t find_record(const unsigned char *img, size_t len, size_t sec, uint32_t id)
{
    for (size_t at = sec + 16; at + 16 <= len; at += 16 + rd32(img + at + 8))
        if (rd32(img + at) == id) return at;
    return 0;
}

/* Writes to path the image with its rlen bytes at `at` replaced by the nb
 * bytes of add, the options section's length and CRC fixed. */
static void write_edited(const char *path, const unsigned char *img, size_t len, size_t sec,
                         size_t at, size_t rlen, const void *add, size_t nb)
{
    const size_t n2 = len - rlen + nb;
    unsigned char *c = malloc(n2);
    ck_assert_ptr_nonnull(c);
    memcpy(c, img, at);
    if (nb) memcpy(c + at, add, nb);
    memcpy(c + at + nb, img + at + rlen, len - at - rlen);
    const uint64_t slen = n2 - sec - 16;
    wr32(c + sec + 8, (uint32_t)slen);
    wr32(c + sec + 12, (uint32_t)(slen >> 32));
    fix_crcs(c, sec);
    gm_test_write_file(path, c, n2);
    free(c);
}

/* A record of id with flags | type U32 and value v. */
static void u32_record(unsigned char rec[20], uint32_t id, uint32_t type_flags, uint32_t v)
{
    memset(rec, 0, 20);
    wr32(rec, id);
    wr32(rec + 4, type_flags);
    wr32(rec + 8, 4);
    wr32(rec + 16, v);
}

/* Each model's table of option fields: defaults as its _options_init
 * sets them, ids unique and in 1 .. 255, every field inside the struct. */
START_TEST(test_option_tables_match_init)
{
    gm_vae_options vo;
    gm_gan_options go;
    gm_vae_options_init(&vo);
    gm_gan_options_init(&go);
    for (int m = 0; m < 2; m++) {
        size_t n;
        const gm__opt_field *f = m ? gm__gan_option_fields(&n) : gm__vae_option_fields(&n);
        const unsigned char *o = m ? (const unsigned char *)&go : (const unsigned char *)&vo;
        const size_t osize = m ? sizeof go : sizeof vo;
        ck_assert_uint_gt(n, 0);
        for (size_t i = 0; i < n; i++) {
            ck_assert_msg(f[i].id >= 1 && f[i].id <= 255, "%s: id %u", f[i].name, f[i].id);
            for (size_t j = 0; j < i; j++) ck_assert_uint_ne(f[i].id, f[j].id);
            ck_assert_uint_le(f[i].offset + f[i].size, osize);
            double d;
            if (f[i].type == GM__REC_F32) {
                float x;
                memcpy(&x, o + f[i].offset, 4);
                d = x;
            } else if (f[i].type == GM__REC_I32) {
                int32_t x;
                memcpy(&x, o + f[i].offset, 4);
                d = x;
            } else if (f[i].type == GM__REC_U32) {
                uint32_t x;
                memcpy(&x, o + f[i].offset, 4);
                d = x;
            } else {
                uint64_t x = 0;
                ck_assert_uint_eq(f[i].size, sizeof(size_t) == 8 ? 8 : f[i].size);
                memcpy(&x, o + f[i].offset, f[i].size);
                d = (double)x;
            }
            ck_assert_msg(d == f[i].def, "%s: init sets %g, the table says %g", f[i].name, d,
                          f[i].def);
            ck_assert_msg((f[i].def >= f[i].lo && f[i].def <= f[i].hi) || f[i].id == 1,
                          "%s: default outside its bounds", f[i].name); /* latent: required */
        }
    }
}
END_TEST

/* A version-2 file without the record of an option loads with that
 * option's default (here: as if written before the option existed). */
START_TEST(test_missing_record_loads_default)
{
    gm_test_dir_make("ckpt");
    const char *p = gm_test_path("m.gmck"), *q = gm_test_path("edited.gmck");
    for (int gan = 0; gan < 2; gan++) {
        gm_vae *v = gan ? NULL : make_vae(11, 0); /* kl_warmup_steps 5 (default 0) */
        gm_gan *g = gan ? make_gan(9, 0.0f) : NULL; /* n_critic 2 (default 1) */
        if (v) vae_steps(v, 0, 3);
        else gan_steps(g, 0, 3);
        GM_CK_OK(v ? gm_vae_save(v, p) : gm_gan_save(g, p));
        size_t len;
        unsigned char *img = gm_test_read_file(p, &len);
        const size_t sec = options_section(img);
        const uint32_t id = gan ? 3 : 5; /* n_critic, kl_warmup_steps */
        const size_t at = find_record(img, len, sec, id);
        ck_assert_uint_gt(at, 0);
        write_edited(q, img, len, sec, at, 16 + rd32(img + at + 8), NULL, 0);
        gm_vae *v2 = NULL;
        gm_gan *g2 = NULL;
        GM_CK_OK(v ? gm_vae_load(&v2, q) : gm_gan_load(&g2, q));
        if (v) {
            gm_vae_options o, o2;
            gm_vae_options_init(&o);
            gm_vae_options_init(&o2);
            GM_CK_OK(gm_vae_get_options(v, &o));
            GM_CK_OK(gm_vae_get_options(v2, &o2));
            ck_assert_uint_eq(o.kl_warmup_steps, 5);
            ck_assert_uint_eq(o2.kl_warmup_steps, 0); /* the default */
            o2.kl_warmup_steps = o.kl_warmup_steps;
            ck_assert(memcmp(&o, &o2, sizeof o) == 0); /* and nothing else moved */
            ck_assert_uint_eq(gm_vae_step_count(v2), 3);
            assert_same_params(gm_vae_encoder(v), gm_vae_encoder(v2), "encoder");
        } else {
            gm_gan_options o, o2;
            gm_gan_options_init(&o);
            gm_gan_options_init(&o2);
            GM_CK_OK(gm_gan_get_options(g, &o));
            GM_CK_OK(gm_gan_get_options(g2, &o2));
            ck_assert_uint_eq(o.n_critic, 2);
            ck_assert_uint_eq(o2.n_critic, 1); /* the default */
            o2.n_critic = o.n_critic;
            ck_assert(memcmp(&o, &o2, sizeof o) == 0);
            ck_assert_uint_eq(gm_gan_step_count(g2), 3);
            assert_same_params(gm_gan_generator(g), gm_gan_generator(g2), "generator");
        }
        gm_vae_free(v);
        gm_vae_free(v2);
        gm_gan_free(g);
        gm_gan_free(g2);
        free(img);
    }
    gm_test_dir_remove();
}
END_TEST

/* An unknown record is refused unless marked optional (then skipped); a
 * record twice, of the wrong type or length, is refused. */
START_TEST(test_unknown_and_bad_records)
{
    gm_test_dir_make("ckpt");
    const char *p = gm_test_path("m.gmck"), *q = gm_test_path("edited.gmck");
    gm_vae *v = make_vae(11, 0);
    vae_steps(v, 0, 2);
    GM_CK_OK(gm_vae_save(v, p));
    size_t len;
    unsigned char *img = gm_test_read_file(p, &len);
    const size_t sec = options_section(img), end = len;
    unsigned char rec[20];
    gm_vae *out = (gm_vae *)&out;
    /* a later library's required option */
    u32_record(rec, 200, GM__REC_U32, 7);
    write_edited(q, img, len, sec, end, 0, rec, 20);
    GM_CK_ERR(GM_EFORMAT, "gm_vae_load", gm_vae_load(&out, q));
    ck_assert_ptr_nonnull(strstr(gm_last_error(), "record 200 is unknown"));
    ck_assert_ptr_null(out);
    /* ...and an optional one: skipped */
    u32_record(rec, 200, 0x100u | GM__REC_U32, 7);
    write_edited(q, img, len, sec, end, 0, rec, 20);
    GM_CK_OK(gm_vae_load(&out, q));
    ck_assert_uint_eq(gm_vae_step_count(out), 2);
    gm_vae_free(out);
    /* known ids: twice, with another type, with another length, unknown flags */
    const size_t at = find_record(img, len, sec, 2); /* likelihood, I32 */
    ck_assert_uint_gt(at, 0);
    const uint32_t bad[4][2] = {{GM__REC_I32, 4}, {GM__REC_U32, 4}, {GM__REC_I32, 3},
                                {0x400u | GM__REC_I32, 4}};
    const char *why[4] = {"twice", "has type", "bytes", "flags"};
    for (int k = 0; k < 4; k++) {
        u32_record(rec, 2, bad[k][0], 0);
        wr32(rec + 8, bad[k][1]);
        if (k == 0)
            write_edited(q, img, len, sec, end, 0, rec, 20);
        else
            write_edited(q, img, len, sec, at, 20, rec, 16 + bad[k][1]);
        out = (gm_vae *)&out;
        GM_CK_ERR(GM_EFORMAT, "gm_vae_load", gm_vae_load(&out, q));
        ck_assert_msg(strstr(gm_last_error(), why[k]) != NULL, "%s", gm_last_error());
        ck_assert_ptr_null(out);
    }
    /* a stored value outside the field's bounds names the field */
    u32_record(rec, 2, GM__REC_I32, 7);
    write_edited(q, img, len, sec, at, 20, rec, 20);
    GM_CK_ERR(GM_EFORMAT, "gm_vae_load", gm_vae_load(&out, q));
    ck_assert_ptr_nonnull(strstr(gm_last_error(), "likelihood 7 is not in [0, 2]"));
    free(img);
    gm_vae_free(v);
    gm_test_dir_remove();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_net_round_trip);
    tcase_add_test(tc, test_vae_exact_resume);
    tcase_add_test(tc, test_gan_exact_resume_fresh_process);
    tcase_add_test(tc, test_truncated_and_corrupt);
    tcase_add_test(tc, test_hostile_and_future_files);
    tcase_add_test(tc, test_save_errors_keep_old_file);
    tcase_add_test(tc, test_kill_during_save);
    tcase_add_test(tc, test_oom_everywhere);
    tcase_add_test(tc, test_vae_numeric_failure_changes_nothing);
    tcase_add_test(tc, test_gan_numeric_failure_undoes_critic_updates);
    tcase_add_test(tc, test_v1_fixtures_resume);
    tcase_add_test(tc, test_option_tables_match_init);
    tcase_add_test(tc, test_missing_record_loads_default);
    tcase_add_test(tc, test_unknown_and_bad_records);
    tcase_add_test(tc, test_gan_before_penalty_loads_without_one);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
