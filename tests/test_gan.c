/* SPDX-License-Identifier: MIT */
/* gm_gan: a loop written from the exported pieces (gm_net_forward,
 * gm_gan_d_loss, gm_gan_g_loss, gm_net_backward, gm_optimizer_step)
 * following gan.h gives bit-identical parameters to gm_gan_train_step
 * (with a gradient penalty option too: gm_net_penalty_r1 / _gp on the
 * same generator stream); lazy R1; exact resume with a penalty; seeds;
 * sampling; bad input leaves the model unchanged. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, for gm_test_dir_make */
#include <stddef.h>
#include <stdlib.h>

#include "gm_test.h"

enum { DATA = 3, HID = 16, N = 8 };

typedef struct {
    gm_gan_loss loss;
    uint32_t n_critic;
    float real_label, clip;
    size_t classes;
    int32_t opt_kind;
    int32_t penalty; /* gm_gan_penalty (0: none) */
    float pen_weight;
    uint32_t pen_every; /* 0: the default, 1 */
} setup;

static gm_net *mlp(size_t in, size_t out, uint64_t seed)
{
    return gm_test_mlp_seeded(in, HID, out, GM_TEST_LEAKY_RELU, seed);
}

static gm_optimizer_options opt_for(const setup *s)
{
    gm_optimizer_options o;
    GM_CK_OK(gm_optimizer_options_init(&o, (gm_optimizer_kind)s->opt_kind));
    o.lr = 1e-2f;
    if (s->opt_kind == GM_OPT_SGD) o.momentum = 0.9f;
    return o;
}

static gm_gan *make_gan(const setup *s, gm_optimizer_options *opt)
{
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = 2;
    o.loss = s->loss;
    o.n_critic = s->n_critic;
    o.real_label = s->real_label;
    o.weight_clip = s->clip;
    o.num_classes = s->classes;
    o.g_optimizer = o.d_optimizer = opt;
    o.seed = 77;
    o.penalty = s->penalty;
    o.penalty_weight = s->pen_weight;
    if (s->pen_every) o.penalty_every = s->pen_every;
    gm_gan *gan;
    GM_CK_OK(gm_gan_create(&gan, mlp(2 + s->classes, DATA, 1), mlp(DATA + s->classes, 1, 2), &o));
    return gan;
}

/* x joined with one-hot labels: [n x (d + C)] */
static void join(float *dst, const float *x, size_t n, size_t d, const int32_t *y, size_t C)
{
    for (size_t i = 0; i < n; i++) {
        memcpy(dst + i * (d + C), x + i * d, d * sizeof(float));
        for (size_t c = 0; c < C; c++) dst[i * (d + C) + d + c] = (size_t)y[i] == c;
    }
}

/* The gradient penalty of gan.h's gm_gan_penalty from the public parts, as
 * a custom loop adds it: D's loss gradients put aside, the penalty's from
 * zero (gm_net_penalty_r1 / _gp, eps from the training stream right after
 * this update's z), then the sum. D's input is joined with the labels. */
static void add_penalty(const setup *s, gm_net *D, gm_tensor *real, gm_tensor *fake,
                        gm_tensor *din, const int32_t *y, gm_rng *train)
{
    const size_t C = s->classes, nd = gm_net_param_count(D);
    const float w = s->pen_weight * (float)(s->pen_every ? s->pen_every : 1);
    float *keep = malloc(nd * sizeof(float)), *pen = malloc(nd * sizeof(float)), value;
    GM_CK_OK(gm_net_get_grads(D, keep, nd));
    GM_CK_OK(gm_net_zero_grad(D));
    join(gm_tensor_data(din), gm_tensor_data(real), N, DATA, y, C);
    if (s->penalty == GM_PENALTY_R1) {
        GM_CK_OK(gm_net_penalty_r1(D, din, w, &value));
    } else {
        gm_tensor *fin;
        GM_CK_OK(gm_tensor_create(&fin, 2, (size_t[]){N, DATA + C}));
        join(gm_tensor_data(fin), gm_tensor_data(fake), N, DATA, y, C);
        GM_CK_OK(gm_net_penalty_gp(D, din, fin, w, train, &value));
        gm_tensor_free(fin);
    }
    ck_assert(value > 0.0f); /* a penalty that does something */
    GM_CK_OK(gm_net_get_grads(D, pen, nd));
    for (size_t i = 0; i < nd; i++) keep[i] += pen[i];
    GM_CK_OK(gm_net_set_grads(D, keep, nd));
    free(keep);
    free(pen);
}

static void check_custom_loop(const setup *s)
{
    gm_optimizer_options opt = opt_for(s);
    gm_gan *gan = make_gan(s, &opt);
    const size_t C = s->classes, L = 2;
    gm_net *G = mlp(L + C, DATA, 1), *D = mlp(DATA + C, 1, 2);
    gm_optimizer *og, *od;
    GM_CK_OK(gm_optimizer_create(&og, G, &opt));
    GM_CK_OK(gm_optimizer_create(&od, D, &opt));
    gm_rng *train, *data;
    GM_CK_OK(gm_rng_create(&train, 77));
    GM_CK_OK(gm_rng_create(&data, 5));
    gm_tensor *real, *z, *gin, *fake, *din, *logits, *dlog, *dfake_in, *dfake;
    GM_CK_OK(gm_tensor_create(&real, 2, (size_t[]){N, DATA}));
    GM_CK_OK(gm_tensor_create(&z, 2, (size_t[]){N, L}));
    GM_CK_OK(gm_tensor_create(&gin, 2, (size_t[]){N, L + C}));
    GM_CK_OK(gm_tensor_create(&fake, 2, (size_t[]){N, DATA}));
    GM_CK_OK(gm_tensor_create(&din, 2, (size_t[]){N, DATA + C}));
    GM_CK_OK(gm_tensor_create(&logits, 2, (size_t[]){N, 1}));
    GM_CK_OK(gm_tensor_create(&dlog, 2, (size_t[]){N, 1}));
    GM_CK_OK(gm_tensor_create(&dfake_in, 2, (size_t[]){N, DATA + C}));
    GM_CK_OK(gm_tensor_create(&dfake, 2, (size_t[]){N, DATA}));
    int32_t y[N];
    for (int i = 0; i < N; i++) y[i] = C ? i % (int)C : 0;
    const int32_t *labels = C ? y : NULL;
    float loss;
    for (int step = 0; step < 6; step++) {
        GM_CK_OK(gm_tensor_fill_normal(real, data));
        GM_CK_OK(gm_gan_train_step(gan, real, labels, NULL));
        for (uint32_t c = 0; c < s->n_critic; c++) {
            GM_CK_OK(gm_tensor_fill_normal(z, train));
            join(gm_tensor_data(gin), gm_tensor_data(z), N, L, y, C);
            GM_CK_OK(gm_net_forward(G, gin, fake));
            GM_CK_OK(gm_net_zero_grad(D));
            join(gm_tensor_data(din), gm_tensor_data(real), N, DATA, y, C);
            GM_CK_OK(gm_net_forward(D, din, logits));
            GM_CK_OK(gm_gan_d_loss(s->loss, logits, NULL, s->real_label, &loss, dlog, NULL));
            GM_CK_OK(gm_net_backward(D, dlog, NULL));
            join(gm_tensor_data(din), gm_tensor_data(fake), N, DATA, y, C);
            GM_CK_OK(gm_net_forward(D, din, logits));
            GM_CK_OK(gm_gan_d_loss(s->loss, NULL, logits, s->real_label, &loss, NULL, dlog));
            GM_CK_OK(gm_net_backward(D, dlog, NULL));
            const uint32_t every = s->pen_every ? s->pen_every : 1;
            if (s->penalty && ((uint32_t)step * s->n_critic + c) % every == 0)
                add_penalty(s, D, real, fake, din, y, train);
            GM_CK_OK(gm_optimizer_step(od, D));
            if (s->clip > 0) {
                size_t np = gm_net_param_count(D);
                float *p = malloc(np * sizeof(float));
                GM_CK_OK(gm_net_get_params(D, p, np));
                for (size_t i = 0; i < np; i++) p[i] = fminf(s->clip, fmaxf(-s->clip, p[i]));
                GM_CK_OK(gm_net_set_params(D, p, np));
                free(p);
            }
        }
        /* D's gradients as the last D update left them: the generator
         * update must not change them (gan.h) */
        size_t nd = gm_net_param_count(D);
        float *dgrads = malloc(nd * sizeof(float)), *gan_dgrads = malloc(nd * sizeof(float));
        GM_CK_OK(gm_net_get_grads(D, dgrads, nd));
        GM_CK_OK(gm_tensor_fill_normal(z, train));
        join(gm_tensor_data(gin), gm_tensor_data(z), N, L, y, C);
        GM_CK_OK(gm_net_forward(G, gin, fake));
        GM_CK_OK(gm_net_zero_grad(G));
        join(gm_tensor_data(din), gm_tensor_data(fake), N, DATA, y, C);
        GM_CK_OK(gm_net_forward(D, din, logits));
        GM_CK_OK(gm_gan_g_loss(s->loss, logits, &loss, dlog));
        GM_CK_OK(gm_net_backward(D, dlog, dfake_in));
        for (int i = 0; i < N; i++)
            memcpy(gm_tensor_data(dfake) + i * DATA, gm_tensor_data(dfake_in) + i * (DATA + C),
                   DATA * sizeof(float));
        GM_CK_OK(gm_net_backward(G, dfake, NULL));
        GM_CK_OK(gm_optimizer_step(og, G));
        GM_CK_OK(gm_net_get_grads(gm_gan_discriminator(gan), gan_dgrads, nd));
        ck_assert_msg(memcmp(dgrads, gan_dgrads, nd * sizeof(float)) == 0,
                      "loss %d: the generator update changed D's gradients", (int)s->loss);
        free(dgrads);
        free(gan_dgrads);
        /* bit-identical after every step */
        gm_net *pair[2][2] = {{gm_gan_generator(gan), G}, {gm_gan_discriminator(gan), D}};
        for (int k = 0; k < 2; k++) {
            size_t np = gm_net_param_count(pair[k][0]);
            float *a = malloc(np * sizeof(float)), *b = malloc(np * sizeof(float));
            GM_CK_OK(gm_net_get_params(pair[k][0], a, np));
            GM_CK_OK(gm_net_get_params(pair[k][1], b, np));
            ck_assert_msg(memcmp(a, b, np * sizeof(float)) == 0,
                          "loss %d n_critic %u: %s differs after step %d", (int)s->loss,
                          s->n_critic, k ? "D" : "G", step + 1);
            free(a);
            free(b);
        }
    }
    ck_assert_uint_eq(gm_gan_step_count(gan), 6);
    gm_tensor *all[] = {real, z, gin, fake, din, logits, dlog, dfake_in, dfake};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) gm_tensor_free(all[i]);
    gm_optimizer_free(og);
    gm_optimizer_free(od);
    gm_net_free(G);
    gm_net_free(D);
    gm_rng_free(train);
    gm_rng_free(data);
    gm_gan_free(gan);
}

START_TEST(test_custom_loop_is_identical)
{
    const setup cases[] = {
        {GM_GAN_NONSATURATING, 1, 1.0f, 0.0f, 0, GM_OPT_ADAM, 0, 0.0f, 0},
        {GM_GAN_MINIMAX, 1, 0.9f, 0.0f, 0, GM_OPT_SGD, 0, 0.0f, 0},
        {GM_GAN_LEAST_SQUARES, 2, 0.9f, 0.0f, 3, GM_OPT_ADAM, 0, 0.0f, 0},
        {GM_GAN_HINGE, 1, 1.0f, 0.0f, 2, GM_OPT_ADAMW, 0, 0.0f, 0},
        {GM_GAN_WASSERSTEIN, 3, 1.0f, 0.05f, 0, GM_OPT_ADAM, 0, 0.0f, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_custom_loop(&cases[i]);
}
END_TEST

static void params_of(gm_gan *gan, float *dst, size_t cap, size_t *n)
{
    size_t a = gm_net_param_count(gm_gan_generator(gan));
    size_t b = gm_net_param_count(gm_gan_discriminator(gan));
    ck_assert_uint_le(a + b, cap);
    GM_CK_OK(gm_net_get_params(gm_gan_generator(gan), dst, a));
    GM_CK_OK(gm_net_get_params(gm_gan_discriminator(gan), dst + a, b));
    *n = a + b;
}

/* The penalty options: gm_gan_train_step equals the loop of public calls
 * with gm_net_penalty_r1 / _gp added (check_custom_loop), bit for bit, for
 * R1, lazy R1 (every 4 over 2 critic updates a step: critic updates 0, 4,
 * 8 get weight * 4), WGAN-GP on the training generator's stream, plain and
 * conditional. */
START_TEST(test_penalty_custom_loop_is_identical)
{
    const setup cases[] = {
        {GM_GAN_NONSATURATING, 1, 1.0f, 0.0f, 0, GM_OPT_ADAM, GM_PENALTY_R1, 0.5f, 0},
        {GM_GAN_NONSATURATING, 2, 1.0f, 0.0f, 3, GM_OPT_ADAM, GM_PENALTY_R1, 0.5f, 4},
        {GM_GAN_WASSERSTEIN, 3, 1.0f, 0.0f, 0, GM_OPT_ADAM, GM_PENALTY_GP, 10.0f, 1},
        {GM_GAN_HINGE, 1, 1.0f, 0.0f, 2, GM_OPT_ADAMW, GM_PENALTY_GP, 1.0f, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_custom_loop(&cases[i]);
}
END_TEST

/* Lazy R1: with every = 4 the penalty is applied on steps 0, 4, 8 only
 * (n_critic 1), as every = 1 with weight * 4 applies it on step 0. */
START_TEST(test_lazy_r1_steps)
{
    setup lazy = {GM_GAN_NONSATURATING, 1, 1.0f, 0.0f, 0, GM_OPT_ADAM, GM_PENALTY_R1, 0.25f, 4};
    setup eager = lazy;
    eager.pen_weight = 1.0f;
    eager.pen_every = 1;
    setup none = lazy;
    none.penalty = GM_PENALTY_NONE;
    gm_optimizer_options opt = opt_for(&lazy);
    gm_gan *a = make_gan(&lazy, &opt), *b = make_gan(&eager, &opt), *c = make_gan(&none, &opt);
    gm_rng *data;
    GM_CK_OK(gm_rng_create(&data, 5));
    gm_tensor *real;
    GM_CK_OK(gm_tensor_create(&real, 2, (size_t[]){N, DATA}));
    static float pa[4096], pb[4096], pc[4096];
    size_t na, nb, nc;
    for (int step = 0; step < 10; step++) {
        GM_CK_OK(gm_tensor_fill_normal(real, data));
        gm_gan_stats sa, sb, sc;
        GM_CK_OK(gm_gan_train_step_sized(a, real, NULL, &sa, sizeof sa));
        GM_CK_OK(gm_gan_train_step_sized(b, real, NULL, &sb, sizeof sb));
        GM_CK_OK(gm_gan_train_step_sized(c, real, NULL, &sc, sizeof sc));
        ck_assert(sb.penalty > 0.0f && sc.penalty == 0.0f);
        if (step % 4 == 0)
            ck_assert_msg(sa.penalty > 0.0f, "step %d: no penalty", step);
        else
            ck_assert_msg(sa.penalty == 0.0f, "step %d: penalty %g", step, (double)sa.penalty);
        params_of(a, pa, 4096, &na);
        params_of(b, pb, 4096, &nb);
        params_of(c, pc, 4096, &nc);
        if (step == 0) { /* the same update as every = 1, weight * 4 */
            ck_assert(sa.penalty == sb.penalty);
            ck_assert(memcmp(pa, pb, na * sizeof(float)) == 0);
            ck_assert(memcmp(pa, pc, na * sizeof(float)) != 0);
        }
        if (step == 1) ck_assert(memcmp(pa, pb, na * sizeof(float)) != 0);
    }
    ck_assert_uint_eq(gm_gan_step_count(a), 10);
    gm_tensor_free(real);
    gm_rng_free(data);
    gm_gan_free(a);
    gm_gan_free(b);
    gm_gan_free(c);
}
END_TEST

/* A checkpoint keeps the penalty options and the generator the GP draws
 * from: 3 steps, save, load, 3 steps equals 6 steps bit for bit; a GAN
 * from before the options loads with the penalty off. */
START_TEST(test_penalty_exact_resume)
{
    gm_test_dir_make("gan_penalty");
    const char *path = gm_test_path("gp.gmck");
    for (int kind = GM_PENALTY_R1; kind <= GM_PENALTY_GP; kind++) {
        setup s = {GM_GAN_WASSERSTEIN, 2, 1.0f, 0.0f, 0, GM_OPT_ADAM, kind, 2.0f, 0};
        if (kind == GM_PENALTY_R1) s.pen_every = 3;
        gm_optimizer_options opt = opt_for(&s);
        gm_gan *full = make_gan(&s, &opt), *half = make_gan(&s, &opt);
        gm_rng *d1, *d2;
        GM_CK_OK(gm_rng_create(&d1, 5));
        GM_CK_OK(gm_rng_create(&d2, 5));
        gm_tensor *real;
        GM_CK_OK(gm_tensor_create(&real, 2, (size_t[]){N, DATA}));
        for (int step = 0; step < 6; step++) {
            GM_CK_OK(gm_tensor_fill_normal(real, d1));
            GM_CK_OK(gm_gan_train_step(full, real, NULL, NULL));
        }
        for (int step = 0; step < 3; step++) {
            GM_CK_OK(gm_tensor_fill_normal(real, d2));
            GM_CK_OK(gm_gan_train_step(half, real, NULL, NULL));
        }
        GM_CK_OK(gm_gan_save(half, path));
        gm_gan_free(half);
        GM_CK_OK(gm_gan_load(&half, path));
        gm_gan_options o;
        GM_CK_OK(gm_gan_options_init(&o));
        GM_CK_OK(gm_gan_get_options(half, &o));
        ck_assert_int_eq(o.penalty, kind);
        ck_assert(o.penalty_weight == 2.0f);
        ck_assert_uint_eq(o.penalty_every, kind == GM_PENALTY_R1 ? 3 : 1);
        for (int step = 3; step < 6; step++) {
            GM_CK_OK(gm_tensor_fill_normal(real, d2));
            GM_CK_OK(gm_gan_train_step(half, real, NULL, NULL));
        }
        static float pa[4096], pb[4096];
        size_t na, nb;
        params_of(full, pa, 4096, &na);
        params_of(half, pb, 4096, &nb);
        ck_assert_uint_eq(na, nb);
        ck_assert_msg(memcmp(pa, pb, na * sizeof(float)) == 0, "penalty %d: resume differs",
                      kind);
        gm_tensor_free(real);
        gm_rng_free(d1);
        gm_rng_free(d2);
        gm_gan_free(full);
        gm_gan_free(half);
    }
    gm_test_dir_remove();
}
END_TEST

/* The data-parallel calls with a penalty option: a one-worker split step
 * (compute / apply, offset 0, total N) is gm_gan_train_step bit for bit,
 * lazy R1 counting the critic updates applied and GP drawing its eps as
 * the step does. In step 1 the split GAN is saved and loaded between its
 * two critic updates: the count of critic updates since the generator's
 * goes into the file (without it, R1 every 3 would skip the second update,
 * critic update 3, and the step would differ). */
START_TEST(test_penalty_split_step)
{
    gm_test_dir_make("gan_split");
    const char *path = gm_test_path("split.gmck");
    const setup cases[] = {
        {GM_GAN_NONSATURATING, 2, 1.0f, 0.0f, 0, GM_OPT_ADAM, GM_PENALTY_R1, 0.5f, 3},
        {GM_GAN_WASSERSTEIN, 2, 1.0f, 0.0f, 2, GM_OPT_ADAM, GM_PENALTY_GP, 10.0f, 1},
    };
    for (size_t k = 0; k < 2; k++) {
        const setup *s = &cases[k];
        gm_optimizer_options opt = opt_for(s);
        gm_gan *a = make_gan(s, &opt), *b = make_gan(s, &opt);
        gm_rng *data;
        GM_CK_OK(gm_rng_create(&data, 5));
        gm_tensor *real;
        GM_CK_OK(gm_tensor_create(&real, 2, (size_t[]){N, DATA}));
        int32_t y[N];
        for (int i = 0; i < N; i++) y[i] = s->classes ? i % (int)s->classes : 0;
        const int32_t *labels = s->classes ? y : NULL;
        for (int step = 0; step < 5; step++) {
            GM_CK_OK(gm_tensor_fill_normal(real, data));
            GM_CK_OK(gm_gan_train_step(a, real, labels, NULL));
            for (uint32_t c = 0; c < s->n_critic; c++) {
                gm_gan_stats st;
                GM_CK_OK(gm_gan_compute_grads_sized(b, GM_GAN_DISCRIMINATOR, real, labels, 0, N,
                                                    &st, sizeof st));
                const int applied = s->penalty == GM_PENALTY_GP ||
                                    ((uint32_t)step * s->n_critic + c) % s->pen_every == 0;
                ck_assert_msg(applied ? st.penalty > 0.0f : st.penalty == 0.0f,
                              "case %zu step %d critic %u: penalty %g", k, step, c,
                              (double)st.penalty);
                GM_CK_OK(gm_gan_apply_grads(b, GM_GAN_DISCRIMINATOR));
                if (step == 1 && c == 0) {
                    GM_CK_OK(gm_gan_save(b, path));
                    gm_gan_free(b);
                    GM_CK_OK(gm_gan_load(&b, path));
                }
            }
            GM_CK_OK(gm_gan_compute_grads(b, GM_GAN_GENERATOR, real, labels, 0, N, NULL));
            GM_CK_OK(gm_gan_apply_grads(b, GM_GAN_GENERATOR));
            static float pa[4096], pb[4096];
            size_t na, nb;
            params_of(a, pa, 4096, &na);
            params_of(b, pb, 4096, &nb);
            ck_assert_msg(memcmp(pa, pb, na * sizeof(float)) == 0, "case %zu: step %d differs", k,
                          step);
        }
        gm_tensor_free(real);
        gm_rng_free(data);
        gm_gan_free(a);
        gm_gan_free(b);
    }
    gm_test_dir_remove();
}
END_TEST

/* Bad penalty options: the status, a message naming gm_gan_create and the
 * field, no GAN made and the nets still the caller's. */
#if defined(__ELF__) && defined(__GNUC__)
/* The old versions of gm_gan_options_init (src/gan/options.c): what
 * programs built against 1.0 and 1.1 call through the shared library
 * (gm_gan_options_init@GM_1.0 / @GM_1.1). The static library the suites
 * link has them under their own names. Each fills the struct its callers
 * know, with the defaults, and writes nothing past it. */
gm_status gm__gan_options_init_1_0(gm_gan_options *opts);
gm_status gm__gan_options_init_1_1(gm_gan_options *opts);

START_TEST(test_old_options_init_versions)
{
    gm_gan_options cur;
    GM_CK_OK(gm_gan_options_init(&cur));
    gm_status (*init[2])(gm_gan_options *) = {gm__gan_options_init_1_0, gm__gan_options_init_1_1};
    /* 1.0 ended at num_classes (ema_decay came in 1.1); 1.1 at ema_decay,
     * padded to the struct's alignment */
    const size_t end[2] = {offsetof(gm_gan_options, ema_decay),
                           (offsetof(gm_gan_options, ema_decay) + sizeof(float) +
                            _Alignof(gm_gan_options) - 1) /
                               _Alignof(gm_gan_options) * _Alignof(gm_gan_options)};
    for (int v = 0; v < 2; v++) {
        unsigned char buf[sizeof(gm_gan_options)];
        memset(buf, 0xA5, sizeof buf);
        gm_gan_options *o = (gm_gan_options *)(void *)buf;
        GM_CK_OK(init[v](o));
        ck_assert_uint_eq(o->size, end[v]);
        ck_assert_int_eq(o->loss, cur.loss);
        ck_assert_uint_eq(o->n_critic, cur.n_critic);
        ck_assert(o->real_label == cur.real_label);
        ck_assert(o->latent == cur.latent && o->seed == cur.seed);
        if (v == 1) ck_assert(o->ema_decay == cur.ema_decay);
        for (size_t i = end[v]; i < sizeof buf; i++) ck_assert_uint_eq(buf[i], 0xA5);
        GM_CK_ERR(GM_EINVAL, "gm_gan_options_init", init[v](NULL));
    }
    /* and gm_gan_create takes what they filled, as an old caller's struct */
    gm_gan_options o;
    GM_CK_OK(gm__gan_options_init_1_1(&o));
    o.latent = 2;
    gm_gan *g = NULL;
    GM_CK_OK(gm_gan_create(&g, gm_test_mlp_seeded(2, 8, 2, GM_TEST_RELU, 1),
                           gm_test_mlp_seeded(2, 8, 1, GM_TEST_RELU, 2), &o));
    gm_gan_free(g);
}
END_TEST
#endif

START_TEST(test_penalty_bad_options)
{
    const size_t live = gm_live_allocations();
    gm_net *G = mlp(2, DATA, 1), *D = mlp(DATA, 1, 2);
    gm_gan_options o;
    gm_gan *g2 = (gm_gan *)1;
#define BADP(code, field, set)                                                   \
    do {                                                                         \
        GM_CK_OK(gm_gan_options_init(&o));                                       \
        o.latent = 2;                                                            \
        o.penalty = GM_PENALTY_R1;                                               \
        set;                                                                     \
        GM_CK_ERR(code, "gm_gan_create", gm_gan_create(&g2, G, D, &o));          \
        ck_assert_msg(strstr(gm_last_error(), field) != NULL, "'%s' does not name %s", \
                      gm_last_error(), field);                                   \
        ck_assert_ptr_null(g2);                                                  \
    } while (0)
    BADP(GM_EINVAL, "penalty_weight", o.penalty_weight = NAN);
    BADP(GM_EINVAL, "penalty_weight", o.penalty_weight = -1.0f);
    BADP(GM_EINVAL, "penalty_weight", o.penalty_weight = INFINITY);
    BADP(GM_EINVAL, "penalty", o.penalty = 3);
    BADP(GM_EINVAL, "penalty", o.penalty = -1);
    BADP(GM_EINVAL, "penalty_every", o.penalty_every = 0);
    BADP(GM_EINVAL, "penalty_every", o.penalty_every = 1000001);
    BADP(GM_EINVAL, "penalty_every", (o.penalty = GM_PENALTY_GP, o.penalty_every = 2));
    /* a size ending inside a penalty field */
    BADP(GM_EINVAL, "penalty_every", o.size = offsetof(gm_gan_options, penalty_every) + 2);
    /* a 1.1-sized struct: the byte where penalty now sits is its padding */
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = 2;
    o.penalty = 7;
    o.size = offsetof(gm_gan_options, penalty);
    GM_CK_OK(gm_gan_create(&g2, G, D, &o));
    gm_gan_options back;
    GM_CK_OK(gm_gan_options_init(&back));
    GM_CK_OK(gm_gan_get_options(g2, &back));
    ck_assert_int_eq(back.penalty, GM_PENALTY_NONE);
    ck_assert_uint_eq(back.penalty_every, 1);
    gm_gan_free(g2); /* and G, D */

    /* a discriminator with batchnorm, or spectral norm: GM_EUNSUPPORTED */
    for (int k = 0; k < 2; k++) {
        G = mlp(2, DATA, 1);
        gm_layer *l;
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 3));
        GM_CK_OK(gm_net_create(&D));
        GM_CK_OK(gm_dense_create(&l, DATA, 8, GM_INIT_HE, rng));
        if (k == 1) GM_CK_OK(gm_layer_spectral_norm(l, 1, 1e-12f, rng));
        GM_CK_OK(gm_net_add(D, l));
        if (k == 0) {
            GM_CK_OK(gm_batchnorm_create(&l, 8, 0.1f, 1e-5f));
            GM_CK_OK(gm_net_add(D, l));
        }
        GM_CK_OK(gm_dense_create(&l, 8, 1, GM_INIT_HE, rng));
        GM_CK_OK(gm_net_add(D, l));
        gm_rng_free(rng);
        for (int kind = GM_PENALTY_R1; kind <= GM_PENALTY_GP; kind++)
            BADP(GM_EUNSUPPORTED, "penalty", o.penalty = kind);
        /* without a penalty the same nets make a GAN: they were left alone */
        GM_CK_OK(gm_gan_options_init(&o));
        o.latent = 2;
        GM_CK_OK(gm_gan_create(&g2, G, D, &o));
        gm_gan_free(g2);
    }
#undef BADP
    ck_assert_uint_eq(gm_live_allocations(), live); /* nothing left of the refused calls */
}
END_TEST

START_TEST(test_seeds_and_sampling)
{
    setup s = {GM_GAN_NONSATURATING, 1, 1.0f, 0.0f, 0, GM_OPT_ADAM, 0, 0.0f, 0};
    gm_optimizer_options opt = opt_for(&s);
    gm_gan *a = make_gan(&s, &opt), *b = make_gan(&s, &opt);
    gm_tensor *real, *out1, *out2;
    GM_CK_OK(gm_tensor_create(&real, 2, (size_t[]){N, DATA}));
    GM_CK_OK(gm_tensor_create(&out1, 2, (size_t[]){5, DATA}));
    GM_CK_OK(gm_tensor_create(&out2, 2, (size_t[]){5, DATA}));
    GM_CK_OK(gm_tensor_fill(real, 0.5f));
    for (int i = 0; i < 4; i++) {
        GM_CK_OK(gm_gan_train_step(a, real, NULL, NULL));
        /* sampling in between does not change the training trajectory */
        GM_CK_OK(gm_gan_sample(a, 5, NULL, out1));
        GM_CK_OK(gm_gan_train_step(b, real, NULL, NULL));
    }
    static float pa[4096], pb[4096];
    size_t na, nb;
    params_of(a, pa, 4096, &na);
    params_of(b, pb, 4096, &nb);
    ck_assert(na == nb && memcmp(pa, pb, na * sizeof(float)) == 0);
    /* generate from given z is deterministic; sample draws new z */
    float zv[10] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f, 0.9f, 1.0f};
    gm_tensor *z;
    GM_CK_OK(gm_tensor_wrap(&z, 2, (size_t[]){5, 2}, zv));
    GM_CK_OK(gm_gan_generate(a, z, NULL, out1));
    GM_CK_OK(gm_gan_generate(b, z, NULL, out2));
    ck_assert(memcmp(gm_tensor_data(out1), gm_tensor_data(out2), 15 * sizeof(float)) == 0);
    GM_CK_OK(gm_gan_sample(a, 5, NULL, out1));
    GM_CK_OK(gm_gan_sample(a, 5, NULL, out2));
    ck_assert(memcmp(gm_tensor_data(out1), gm_tensor_data(out2), 15 * sizeof(float)) != 0);
    gm_tensor_free(z);
    gm_tensor_free(real);
    gm_tensor_free(out1);
    gm_tensor_free(out2);
    gm_gan_free(a);
    gm_gan_free(b);
}
END_TEST

START_TEST(test_bad_input)
{
    setup s = {GM_GAN_NONSATURATING, 1, 1.0f, 0.0f, 2, GM_OPT_ADAM, 0, 0.0f, 0};
    gm_optimizer_options opt = opt_for(&s);
    gm_gan *gan = make_gan(&s, &opt);
    gm_tensor *real, *wrong, *nan, *out, *z;
    GM_CK_OK(gm_tensor_create(&real, 2, (size_t[]){N, DATA}));
    GM_CK_OK(gm_tensor_create(&wrong, 2, (size_t[]){N, DATA + 1}));
    GM_CK_OK(gm_tensor_create(&nan, 2, (size_t[]){N, DATA}));
    GM_CK_OK(gm_tensor_create(&out, 2, (size_t[]){N, DATA}));
    GM_CK_OK(gm_tensor_create(&z, 2, (size_t[]){N, 3}));
    gm_tensor_data(nan)[4] = NAN;
    int32_t y[N] = {0, 1, 0, 1, 0, 1, 0, 1}, ybad[N] = {0, 1, 2, 1, 0, 1, 0, 1};
    GM_CK_OK(gm_gan_train_step(gan, real, y, NULL));
    static float before[4096], after[4096];
    size_t nb, na;
    params_of(gan, before, 4096, &nb);
    GM_CK_ERR(GM_EINVAL, "gm_gan_train_step", gm_gan_train_step(NULL, real, y, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_train_step", gm_gan_train_step(gan, NULL, y, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_train_step", gm_gan_train_step(gan, wrong, y, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_train_step", gm_gan_train_step(gan, nan, y, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_train_step", gm_gan_train_step(gan, real, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_train_step", gm_gan_train_step(gan, real, ybad, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_sample", gm_gan_sample(gan, 0, y, out));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_sample", gm_gan_sample(gan, N, y, wrong));
    GM_CK_ERR(GM_EINVAL, "gm_gan_sample", gm_gan_sample(gan, N, NULL, out));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_generate", gm_gan_generate(gan, z, y, out));
    GM_CK_ERR(GM_EINVAL, "gm_gan_generate", gm_gan_generate(gan, NULL, y, out));
    params_of(gan, after, 4096, &na);
    ck_assert(na == nb && memcmp(before, after, na * sizeof(float)) == 0);
    ck_assert_uint_eq(gm_gan_step_count(gan), 1);

    /* create: every option out of range, nets kept by the caller */
    gm_net *G = mlp(2, DATA, 1), *D = mlp(DATA, 1, 2), *empty;
    GM_CK_OK(gm_net_create(&empty));
    gm_gan_options o;
    gm_gan *g2 = (gm_gan *)1;
#define BAD(code, field, value)                                              \
    do {                                                                     \
        GM_CK_OK(gm_gan_options_init(&o));                                   \
        o.latent = 2;                                                        \
        o.field = value;                                                     \
        GM_CK_ERR(code, "gm_gan_create", gm_gan_create(&g2, G, D, &o));      \
        ck_assert_ptr_null(g2);                                              \
    } while (0)
    BAD(GM_EINVAL, latent, 0);
    BAD(GM_EINVAL, loss, 9);
    BAD(GM_EINVAL, n_critic, 0);
    BAD(GM_EINVAL, real_label, 0.0f);
    BAD(GM_EINVAL, real_label, NAN);
    BAD(GM_EINVAL, weight_clip, -1.0f);
    BAD(GM_EINVAL, weight_clip, INFINITY);
    BAD(GM_EINVAL, num_classes, 1);
    BAD(GM_EINVAL, size, 3);
    BAD(GM_ESHAPE, latent, 5); /* G takes 2 inputs */
#undef BAD
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = 2;
    o.loss = GM_GAN_HINGE;
    o.real_label = 0.9f;
    GM_CK_ERR(GM_EINVAL, "gm_gan_create", gm_gan_create(&g2, G, D, &o));
    o.loss = GM_GAN_NONSATURATING;
    o.real_label = 1.0f;
    GM_CK_ERR(GM_EINVAL, "gm_gan_create", gm_gan_create(&g2, G, G, &o));
    GM_CK_ERR(GM_ESTATE, "gm_gan_create", gm_gan_create(&g2, G, empty, &o));
    GM_CK_ERR(GM_EINVAL, "gm_gan_create", gm_gan_create(&g2, NULL, D, &o));
    GM_CK_ERR(GM_EINVAL, "gm_gan_create", gm_gan_create(&g2, G, D, NULL));
    /* D that does not take the data: caught on the first step */
    gm_net *Dbad = mlp(DATA + 1, 1, 3);
    GM_CK_OK(gm_gan_create(&g2, G, Dbad, &o));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_train_step", gm_gan_train_step(g2, real, NULL, NULL));
    /* the GAN's nets: not a second model's, not freed or grown by the caller */
    gm_gan *g3 = (gm_gan *)1;
    GM_CK_ERR(GM_ESTATE, "gm_gan_create", gm_gan_create(&g3, G, D, &o));
    ck_assert_ptr_null(g3);
    GM_CK_ERR(GM_ESTATE, "gm_gan_create", gm_gan_create(&g3, D, gm_gan_discriminator(g2), &o));
    gm_vae *v = (gm_vae *)1;
    gm_vae_options vo;
    GM_CK_OK(gm_vae_options_init(&vo));
    vo.latent = 1;
    GM_CK_ERR(GM_ESTATE, "gm_vae_create", gm_vae_create(&v, D, gm_gan_generator(g2), &vo));
    ck_assert_ptr_null(v);
    gm_net_free(gm_gan_generator(g2)); /* ignored: the GAN frees it */
    gm_layer *extra;
    GM_CK_OK(gm_relu_create(&extra));
    const size_t nl = gm_net_num_layers(G);
    GM_CK_ERR(GM_ESTATE, "gm_net_add", gm_net_add(gm_gan_generator(g2), extra));
    ck_assert_uint_eq(gm_net_num_layers(G), nl);
    gm_layer_free(extra);
    gm_gan_free(g2); /* frees G and Dbad */
    gm_net_free(D);
    gm_net_free(empty);
    gm_tensor *all[] = {real, wrong, nan, out, z};
    for (int i = 0; i < 5; i++) gm_tensor_free(all[i]);
    gm_gan_free(gan);
    gm_gan_free(NULL);
}
END_TEST

/* One training step as compute / sum / apply over workers holding rows
 * [cuts[w], cuts[w + 1]) of real (the all-reduce done by hand). */
static void split_step(gm_gan **workers, size_t nw, const size_t *cuts, const float *real,
                       const int32_t *labels, uint32_t n_critic)
{
    const size_t total = cuts[nw];
    for (uint32_t c = 0; c <= n_critic; c++) {
        const gm_gan_part part = c < n_critic ? GM_GAN_DISCRIMINATOR : GM_GAN_GENERATOR;
        float *sum = NULL, *g;
        size_t n = 0;
        for (size_t w = 0; w < nw; w++) {
            gm_tensor *x;
            GM_CK_OK(gm_tensor_wrap(&x, 2, (size_t[]){cuts[w + 1] - cuts[w], DATA},
                                    (float *)real + cuts[w] * DATA));
            GM_CK_OK(gm_gan_compute_grads(workers[w], part, x, labels ? labels + cuts[w] : NULL,
                                          cuts[w], total, NULL));
            gm_tensor_free(x);
            GM_CK_OK(gm_gan_grads(workers[w], part, &g, &n));
            if (sum == NULL) sum = calloc(n, sizeof(float));
            for (size_t i = 0; i < n; i++) sum[i] += g[i];
        }
        for (size_t w = 0; w < nw; w++) {
            GM_CK_OK(gm_gan_grads(workers[w], part, &g, &n));
            memcpy(g, sum, n * sizeof(float));
            GM_CK_OK(gm_gan_apply_grads(workers[w], part));
        }
        free(sum);
    }
}

/* Two workers with summed gradients follow one GAN trained on the whole
 * batch; a one-worker split step is gm_gan_train_step bit for bit. */
START_TEST(test_data_parallel)
{
    setup s = {GM_GAN_NONSATURATING, 2, 0.9f, 0.0f, 2, GM_OPT_ADAM, 0, 0.0f, 0};
    gm_optimizer_options opt = opt_for(&s);
    gm_gan *ref = make_gan(&s, &opt), *one = make_gan(&s, &opt), *wa = make_gan(&s, &opt),
           *wb = make_gan(&s, &opt);
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    float real[N * DATA];
    int32_t y[N] = {0, 1, 1, 0, 1, 0, 0, 1};
    for (int step = 0; step < 4; step++) {
        GM_CK_OK(gm_rng_normal(rng, real, N * DATA));
        gm_tensor *x;
        GM_CK_OK(gm_tensor_wrap(&x, 2, (size_t[]){N, DATA}, real));
        GM_CK_OK(gm_gan_train_step(ref, x, y, NULL));
        gm_tensor_free(x);
        split_step(&one, 1, (size_t[]){0, N}, real, y, s.n_critic);
        split_step((gm_gan *[]){wa, wb}, 2, (size_t[]){0, 3, N}, real, y, s.n_critic);
    }
    static float pr[4096], p1[4096], pa[4096], pb[4096];
    size_t nr, n1, na, nb;
    params_of(ref, pr, 4096, &nr);
    params_of(one, p1, 4096, &n1);
    params_of(wa, pa, 4096, &na);
    params_of(wb, pb, 4096, &nb);
    ck_assert(nr == n1 && nr == na && nr == nb);
    ck_assert_msg(memcmp(pr, p1, nr * sizeof(float)) == 0, "one-worker split != train_step");
    ck_assert_msg(memcmp(pa, pb, na * sizeof(float)) == 0, "the workers' replicas differ");
    for (size_t i = 0; i < nr; i++) ck_assert_float_eq_tol(pa[i], pr[i], 2e-5f);
    ck_assert_uint_eq(gm_gan_step_count(wa), 4);
    ck_assert_uint_eq(gm_gan_step_count(one), 4);

    /* bad input leaves the model and its buffers unchanged */
    gm_tensor *x;
    GM_CK_OK(gm_tensor_wrap(&x, 2, (size_t[]){3, DATA}, real));
    const char *cg = "gm_gan_compute_grads", *ag = "gm_gan_apply_grads";
    float *g;
    size_t n;
    GM_CK_ERR(GM_ESTATE, ag, gm_gan_apply_grads(wa, GM_GAN_GENERATOR));
    GM_CK_ERR(GM_ESTATE, ag, gm_gan_apply_grads(wa, GM_GAN_DISCRIMINATOR));
    GM_CK_ERR(GM_EINVAL, ag, gm_gan_apply_grads(wa, (gm_gan_part)2));
    GM_CK_ERR(GM_EINVAL, ag, gm_gan_apply_grads(NULL, GM_GAN_GENERATOR));
    GM_CK_ERR(GM_EINVAL, cg, gm_gan_compute_grads(wa, (gm_gan_part)-1, x, y, 0, N, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_gan_compute_grads(wa, GM_GAN_GENERATOR, x, y, 6, N, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_gan_compute_grads(wa, GM_GAN_GENERATOR, x, y, 0, 2, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_gan_compute_grads(wa, GM_GAN_GENERATOR, x, NULL, 0, N, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_gan_compute_grads(wa, GM_GAN_GENERATOR, NULL, y, 0, N, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_gan_compute_grads(NULL, GM_GAN_GENERATOR, x, y, 0, N, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_grads", gm_gan_grads(wa, (gm_gan_part)3, &g, &n));
    GM_CK_ERR(GM_EINVAL, "gm_gan_grads", gm_gan_grads(wa, GM_GAN_GENERATOR, NULL, &n));
    GM_CK_ERR(GM_EINVAL, "gm_gan_grads", gm_gan_grads(NULL, GM_GAN_GENERATOR, &g, &n));
    GM_CK_OK(gm_gan_compute_grads(wa, GM_GAN_DISCRIMINATOR, x, y, 0, N, NULL));
    GM_CK_OK(gm_gan_grads(wa, GM_GAN_DISCRIMINATOR, &g, &n));
    g[0] = INFINITY;
    GM_CK_ERR(GM_ENUMERIC, ag, gm_gan_apply_grads(wa, GM_GAN_DISCRIMINATOR));
    params_of(wa, pa, 4096, &na);
    ck_assert(memcmp(pa, pb, na * sizeof(float)) == 0);
    gm_tensor_free(x);
    gm_rng_free(rng);
    gm_gan_free(ref);
    gm_gan_free(one);
    gm_gan_free(wa);
    gm_gan_free(wb);
}
END_TEST

int main(void)
{
    gm_set_num_threads(1);
    Suite *s = suite_create("gan");
    TCase *tc = tcase_create("gan");
    tcase_add_test(tc, test_custom_loop_is_identical);
    tcase_add_test(tc, test_seeds_and_sampling);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_data_parallel);
    tcase_add_test(tc, test_penalty_custom_loop_is_identical);
    tcase_add_test(tc, test_lazy_r1_steps);
    tcase_add_test(tc, test_penalty_exact_resume);
    tcase_add_test(tc, test_penalty_bad_options);
#if defined(__ELF__) && defined(__GNUC__)
    tcase_add_test(tc, test_old_options_init_versions);
#endif
    tcase_add_test(tc, test_penalty_split_step);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
