/* SPDX-License-Identifier: MIT */
/*
 * gan_ring: an MLP GAN on a mixture of 8 Gaussians on a circle (radius 2,
 * std 0.02), the classic mode-collapse test.
 *
 *   gan_ring [--seed N] [--steps N] [--out FILE.png] [--samples-out FILE]
 *            [--penalty none|gp|r1] [--gp-lambda L] [--gp-critic K] [--gp-lr R]
 *            [--r1-gamma G] [--r1-every K] [--penalty-option]
 *            [--min-quality F]                                 (--help: defaults)
 *
 * G: 2-128-128-2 ReLU; D: 2-128-128-1 LeakyReLU(0.2); non-saturating loss;
 * Adam lr 1e-3, betas 0.5 / 0.999; batch 256. Prints how many of the 8
 * modes the samples cover and the fraction of high-quality samples (within
 * 0.1 of a centre), writes a scatter plot, and exits 1 unless all 8 modes
 * are covered with at least --min-quality (default 70%) high-quality
 * samples.
 *
 * --penalty gp trains a WGAN-GP instead: Wasserstein loss, no weight
 * clipping, lambda (--gp-lambda, default 0.1: the WGAN-GP paper's value for
 * its toy data sets; 10, its image value, lost modes here) * (||grad D(x^)|| - 1)^2 on
 * interpolates of real and fake rows, K critic updates per generator
 * update (--gp-critic, default 5), Adam lr 2e-4 (--gp-lr), betas 0.5 / 0.9.
 * --penalty r1 keeps the non-saturating loss and adds gamma/2 ||grad D(x)||^2
 * on real rows (--r1-gamma, default 0.1). Both run the step from the
 * public parts (gm_gan_compute_grads, gm_net_penalty_*, gm_gan_apply_grads),
 * the way a custom training loop adds a penalty (its GP interpolates with
 * a fresh gm_gan_sample batch). --penalty-option asks the GAN for the
 * penalty instead (gm_gan_options.penalty, penalty_weight, penalty_every
 * = --r1-every for lazy R1) and trains with gm_gan_train_step_sized, whose
 * stats report it; GP then interpolates with each critic update's own
 * fake batch, eps from the GAN's generator. --samples-out writes
 * the 2500 evaluated samples as raw float32 (host order), so the bindings'
 * versions can be compared with this one bit for bit.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <genmodel/genmodel.h>

#include "example_args.h"

#define CHECK(expr)                                                                   \
    do {                                                                              \
        gm_status st_ = (expr);                                                       \
        if (st_ != GM_OK) {                                                           \
            fprintf(stderr, "gan_ring: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                 \
            exit(2);                                                                  \
        }                                                                             \
    } while (0)

enum { BATCH = 256, HIDDEN = 128, N_EVAL = 2500, PIX = 256 };
static const double RADIUS = 2.0, STD = 0.02, HQ = 0.1;

static gm_net *mlp(size_t in, size_t out, int leaky, gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    CHECK(gm_net_create(&net));
    for (int i = 0; i < 2; i++) {
        CHECK(gm_dense_create(&l, i == 0 ? in : HIDDEN, HIDDEN, GM_INIT_TORCH, rng));
        CHECK(gm_net_add(net, l));
        if (leaky)
            CHECK(gm_leaky_relu_create(&l, 0.2f));
        else
            CHECK(gm_relu_create(&l));
        CHECK(gm_net_add(net, l));
    }
    CHECK(gm_dense_create(&l, HIDDEN, out, GM_INIT_TORCH, rng));
    CHECK(gm_net_add(net, l));
    return net;
}

/* n points of the mixture into x [n x 2]. */
static void ring_batch(gm_rng *rng, float *x, size_t n)
{
    float u[BATCH], e[2 * BATCH];
    CHECK(gm_rng_uniform(rng, u, n));
    CHECK(gm_rng_normal(rng, e, 2 * n));
    for (size_t i = 0; i < n; i++) {
        int k = (int)(u[i] * 8.0f) & 7;
        double a = 2.0 * 3.14159265358979 * k / 8.0;
        x[2 * i] = (float)(RADIUS * cos(a) + STD * e[2 * i]);
        x[2 * i + 1] = (float)(RADIUS * sin(a) + STD * e[2 * i + 1]);
    }
}

/* Dot of radius r at (px, py) in an RGB image [3 x PIX x PIX]. */
static void dot(float *img, double x, double y, int r, float cr, float cg, float cb)
{
    int px = (int)((x + 3.0) / 6.0 * PIX), py = (int)((3.0 - y) / 6.0 * PIX);
    for (int dy = -r; dy <= r; dy++)
        for (int dx = -r; dx <= r; dx++) {
            int X = px + dx, Y = py + dy;
            if (X < 0 || Y < 0 || X >= PIX || Y >= PIX) continue;
            img[0 * PIX * PIX + Y * PIX + X] = cr;
            img[1 * PIX * PIX + Y * PIX + X] = cg;
            img[2 * PIX * PIX + Y * PIX + X] = cb;
        }
}

/* A critic update with a gradient penalty: D's loss gradient
 * (gm_gan_compute_grads), plus the penalty's parameter gradient, which
 * gm_net_penalty_* adds to D's own gradients, taken here from zero and
 * added to the part's buffer; then the update. fake holds G's samples. */
static float penalized_d_step(gm_gan *gan, const gm_tensor *x, gm_tensor *fake, int r1,
                              float weight, gm_rng *rng, float *tmp)
{
    gm_net *d = gm_gan_discriminator(gan);
    float *buf, pen = 0.0f;
    size_t n;
    CHECK(gm_gan_compute_grads(gan, GM_GAN_DISCRIMINATOR, x, NULL, 0, BATCH, NULL));
    CHECK(gm_gan_grads(gan, GM_GAN_DISCRIMINATOR, &buf, &n));
    CHECK(gm_net_zero_grad(d));
    if (r1) {
        CHECK(gm_net_penalty_r1(d, x, weight, &pen));
    } else {
        CHECK(gm_gan_sample(gan, BATCH, NULL, fake));
        CHECK(gm_net_penalty_gp(d, x, fake, weight, rng, &pen));
    }
    CHECK(gm_net_get_grads(d, tmp, n));
    for (size_t i = 0; i < n; i++) buf[i] += tmp[i];
    CHECK(gm_gan_apply_grads(gan, GM_GAN_DISCRIMINATOR));
    return pen;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    int n_steps = 6000;
    const char *png = "gan_ring.png", *raw = NULL, *penalty = "none";
    float gp_lambda = 0.1f, r1_gamma = 0.1f;
    int gp_critic = 5, r1_every = 1, pen_option = 0;
    double min_hq = 0.70;
    float gp_lr = 2e-4f;
    ex_option opts[] = {
        EX_U64("--seed", &seed, "seed of the initial weights and the noise"),
        EX_INT("--steps", &n_steps, 1, 100000000, "training steps"),
        EX_STR("--out", &png, "FILE.png", "the scatter plot of the samples"),
        EX_STR("--samples-out", &raw, "FILE", "write the 2500 samples as raw float32"),
        EX_STR("--penalty", &penalty, "none|gp|r1",
               "gradient penalty: gp = WGAN-GP (Wasserstein loss), r1 = R1 on real rows"),
        EX_FLOAT("--gp-lambda", &gp_lambda, 0.0, 1e6, "the WGAN-GP penalty's weight"),
        EX_INT("--gp-critic", &gp_critic, 1, 100, "critic updates per generator update with gp"),
        EX_FLOAT("--r1-gamma", &r1_gamma, 0.0, 1e6, "the R1 penalty's weight"),
        EX_FLOAT("--gp-lr", &gp_lr, 1e-6, 1.0, "Adam's learning rate with --penalty gp"),
        EX_INT("--r1-every", &r1_every, 1, 1000000,
               "lazy R1 (with --penalty-option): every K-th critic update, weight * K"),
        EX_FLAG("--penalty-option", &pen_option,
                "the penalty as a GAN option (gm_gan_train_step) instead of the public parts"),
        EX_DOUBLE("--min-quality", &min_hq, 0.0, 1.0,
                  "exit 1 below this fraction of high-quality samples"),
    };
    ex_parse(argc, argv, "gan_ring",
             "Trains an MLP GAN on 8 Gaussians on a circle (the mode-collapse test), prints how\n"
             "many modes its samples cover and how many samples lie near a mode, and writes a\n"
             "scatter plot; exits 1 unless all 8 modes are covered with >= 70% such samples.",
             opts, EX_COUNT(opts));
    const long steps = n_steps;
    const int gp = strcmp(penalty, "gp") == 0, r1 = strcmp(penalty, "r1") == 0;
    if (!gp && !r1 && strcmp(penalty, "none") != 0) {
        fprintf(stderr, "gan_ring: --penalty must be none, gp or r1, got '%s'\n", penalty);
        return 2;
    }
    const float pen_w = gp ? gp_lambda : r1_gamma;
    const int n_critic = gp ? gp_critic : 1;
    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_net *gen = mlp(2, 2, 0, rng), *dis = mlp(2, 1, 1, rng);
    gm_optimizer_options adam;
    CHECK(gm_optimizer_options_init(&adam, GM_OPT_ADAM));
    adam.lr = gp ? gp_lr : 1e-3f;
    adam.beta1 = 0.5f;
    if (gp) adam.beta2 = 0.9f;
    gm_gan_options o;
    CHECK(gm_gan_options_init(&o));
    o.latent = 2;
    o.loss = gp ? GM_GAN_WASSERSTEIN : GM_GAN_NONSATURATING;
    o.n_critic = (size_t)n_critic;
    o.g_optimizer = o.d_optimizer = &adam;
    o.seed = seed;
    if (pen_option && (gp || r1)) {
        o.penalty = gp ? GM_PENALTY_GP : GM_PENALTY_R1;
        o.penalty_weight = pen_w;
        o.penalty_every = r1 ? (uint32_t)r1_every : 1;
    }
    const int manual = (gp || r1) && !pen_option; /* the public-parts loop */
    gm_gan *gan;
    CHECK(gm_gan_create(&gan, gen, dis, &o)); /* owns gen and dis now */

    gm_tensor *x;
    CHECK(gm_tensor_create(&x, 2, (size_t[]){BATCH, 2}));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    gm_gan_stats st = {0};
    gm_tensor *fake = NULL;
    float *tmp = NULL, pen = 0.0f;
    if (manual) {
        CHECK(gm_tensor_create(&fake, 2, (size_t[]){BATCH, 2}));
        tmp = malloc(gm_net_param_count(gm_gan_discriminator(gan)) * sizeof *tmp);
        if (!tmp) return 2;
    }
    for (long s = 1; s <= steps; s++) {
        if (manual) {
            for (int k = 0; k < n_critic; k++) {
                ring_batch(rng, gm_tensor_data(x), BATCH);
                pen = penalized_d_step(gan, x, fake, r1, pen_w, rng, tmp);
            }
            CHECK(gm_gan_compute_grads(gan, GM_GAN_GENERATOR, x, NULL, 0, BATCH, &st));
            CHECK(gm_gan_apply_grads(gan, GM_GAN_GENERATOR));
        } else if (pen_option) {
            ring_batch(rng, gm_tensor_data(x), BATCH);
            CHECK(gm_gan_train_step_sized(gan, x, NULL, &st, sizeof st));
            if (st.penalty != 0.0f) pen = st.penalty; /* lazy R1: the last applied */
        } else {
            ring_batch(rng, gm_tensor_data(x), BATCH);
            CHECK(gm_gan_train_step(gan, x, NULL, &st));
        }
        if (s % 1000 == 0 && (gp || r1))
            printf("step %5ld  G loss %.3f  D(G(z)) %.3f  penalty %.4f\n", s, st.g_loss,
                   st.d_fake, pen);
        else if (s % 1000 == 0)
            printf("step %5ld  D loss %.3f  G loss %.3f  D(x) %.3f  D(G(z)) %.3f\n", s, st.d_loss,
                   st.g_loss, st.d_real, st.d_fake);
    }
    gm_tensor_free(fake);
    free(tmp);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);

    gm_tensor *samples;
    CHECK(gm_tensor_create(&samples, 2, (size_t[]){N_EVAL, 2}));
    CHECK(gm_gan_sample(gan, N_EVAL, NULL, samples));
    const float *p = gm_tensor_data(samples);
    FILE *f = raw ? fopen(raw, "wb") : NULL; /* raw float32, to compare bindings with */
    if (raw && (!f || fwrite(p, sizeof(float), 2 * N_EVAL, f) != 2 * N_EVAL || fclose(f) != 0)) {
        fprintf(stderr, "gan_ring: cannot write %s\n", raw);
        return 1;
    }
    size_t per_mode[8] = {0}, hq = 0;
    for (size_t i = 0; i < N_EVAL; i++)
        for (int k = 0; k < 8; k++) {
            double a = 2.0 * 3.14159265358979 * k / 8.0;
            double dx = p[2 * i] - RADIUS * cos(a), dy = p[2 * i + 1] - RADIUS * sin(a);
            if (sqrt(dx * dx + dy * dy) < HQ) {
                per_mode[k]++;
                hq++;
                break;
            }
        }
    int modes = 0;
    for (int k = 0; k < 8; k++) modes += per_mode[k] >= N_EVAL / 100; /* >= 1% of samples */
    double hq_frac = (double)hq / N_EVAL;

    /* scatter plot: samples in black, centres in red */
    gm_tensor *img;
    CHECK(gm_tensor_create(&img, 4, (size_t[]){1, 3, PIX, PIX}));
    CHECK(gm_tensor_fill(img, 1.0f));
    for (size_t i = 0; i < N_EVAL; i++) dot(gm_tensor_data(img), p[2 * i], p[2 * i + 1], 0, 0, 0, 0);
    for (int k = 0; k < 8; k++) {
        double a = 2.0 * 3.14159265358979 * k / 8.0;
        dot(gm_tensor_data(img), RADIUS * cos(a), RADIUS * sin(a), 2, 0.9f, 0.1f, 0.1f);
    }
    CHECK(gm_png_write_grid(png, img, 1, 1, 0, 1.0f));

    printf("seed=%llu penalty=%s steps=%ld modes=%d/8 high_quality=%.3f seconds=%.2f "
           "steps_per_second=%.0f plot=%s\n",
           seed, penalty, steps, modes, hq_frac, secs, steps / secs, png);
    gm_tensor_free(x);
    gm_tensor_free(samples);
    gm_tensor_free(img);
    gm_gan_free(gan);
    gm_rng_free(rng);
    return modes == 8 && hq_frac >= min_hq ? 0 : 1;
}
