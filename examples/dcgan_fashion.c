/* SPDX-License-Identifier: MIT */
/*
 * dcgan_fashion: a DCGAN on Fashion-MNIST, images scaled to [-1, 1].
 *
 *   dcgan_fashion [options]      (dcgan_fashion --help lists them with defaults)
 *
 * G: z (100) -> dense 128 x 7 x 7 -> BatchNorm -> ReLU
 *    -> ConvTranspose 128->64, k4 s2 p1 (14 x 14) -> BatchNorm -> ReLU
 *    -> ConvTranspose 64->1, k4 s2 p1 (28 x 28) -> tanh
 * D: Conv 1->64, k4 s2 p1 (14 x 14) -> LeakyReLU 0.2
 *    -> Conv 64->128, k4 s2 p1 (7 x 7) -> [BatchNorm] -> LeakyReLU 0.2
 *    -> flatten -> dense 6272 -> 1 (logit)
 *    (BatchNorm only with --penalty none: the penalties do not support it)
 * The recipe, chosen by measurement (README, "The DCGAN recipe"):
 * non-saturating loss, Adam 2e-4 for G and D, betas 0.5 / 0.999, batch 16,
 * 5 epochs, lazy R1 on D (gamma 10, every 16th D update), samples from a
 * moving average of G's weights (gm_gan option ema_decay 0.999); the
 * sample grids' fixed z cut to |z| <= 1.2 (the truncation trick, as
 * evaluate.c's truncated row samples); --latent, --lr (--g-lr, --d-lr),
 * --batch-size, --epochs, --ema, --real-label, --penalty and --truncation
 * change it. --penalty r1 adds the R1 penalty W/2 |grad D(x)|^2 on the
 * real batch to D's updates, --penalty gp the WGAN-GP penalty
 * W (|grad D(x^)| - 1)^2 on interpolates of real and fake, --penalty none
 * neither (gm_gan options penalty, penalty_weight W = --penalty-weight,
 * penalty_every = --penalty-every: lazy R1, the penalty on every K-th D
 * update with K times the weight; 1 for gp). --lr-decay F
 * lowers both learning rates linearly from step F * (all steps) on to 1/100
 * of their start at the last step (gm_gan_set_lr, from the callback every
 * 20 steps or --log-every if fewer, which then also spaces the rows of
 * dcgan_steps.csv; with --resume it decays --lr's rates). The convs start
 * from the DCGAN paper's N(0, 0.02). Trains with gm_gan_fit, an epoch per call (epoch e
 * shuffles from --seed + (e - 1) * 0x9E3779B97F4A7C15), whose callback
 * prints progress (one live line on a terminal, else a line per 100 steps)
 * and writes to --out:
 *   dcgan_steps.csv             a row every --log-every steps: step, epoch,
 *                               D loss, G loss, D(x), D(G(z)) (the means
 *                               over those steps; D(.) as probabilities)
 *   dcgan_epochs.csv            the same a row per epoch, means over the
 *                               epoch, and its seconds
 *   dcgan_samples_epochNNN.png  after every epoch, 64 samples from a fixed z
 *   dcgan_samples.png           the latest of them
 * and ends with a line of key=value pairs. --save writes the GAN as a
 * checkpoint (gm_gan_save) after every epoch, e.g. for examples/evaluate.c.
 *
 * --resume FILE goes on from a checkpoint of --save: --epochs is the epoch
 * to train up to (`--epochs 1 --save F` then `--epochs 2 --resume F`
 * trains as `--epochs 2`), the CSV files in --out are continued. --seed
 * and --latent must be the checkpoint's, --batch-size and --train-limit
 * those of the run that saved it; --lr, if given, replaces the
 * checkpoint's learning rates.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <genmodel/genmodel.h>

#include "example_args.h"
#include "example_train.h"

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        gm_status st_ = (expr);                                                            \
        if (st_ != GM_OK) {                                                                \
            fprintf(stderr, "dcgan_fashion: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                      \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

enum { D = 784 };
static const char *const P = "dcgan_fashion"; /* in messages */

/* Creates a layer into `l` with `call`, then adds it to `net`. */
#define ADD(net, call)                \
    do {                              \
        CHECK(call);                  \
        CHECK(gm_net_add((net), l));  \
    } while (0)

/* The DCGAN paper's initialization of a conv layer with `nbias` biases:
 * weights ~ N(0, 0.02^2), biases 0. */
static void dcgan_init(gm_layer *l, size_t nbias, gm_rng *rng)
{
    const size_t n = gm_layer_param_count(l);
    float *p = malloc(n * sizeof *p);
    if (p == NULL) exit(1);
    CHECK(gm_rng_normal(rng, p, n - nbias));
    for (size_t i = 0; i < n; i++) p[i] = i < n - nbias ? 0.02f * p[i] : 0.0f;
    CHECK(gm_layer_set_params(l, p, n));
    free(p);
}

/* ADD for a conv layer with `nbias` biases, DCGAN-initialized. */
#define ADD_CONV(net, call, nbias)    \
    do {                              \
        CHECK(call);                  \
        dcgan_init(l, (nbias), rng);  \
        CHECK(gm_net_add((net), l));  \
    } while (0)

static gm_net *generator(size_t latent, gm_rng *rng)
{
    gm_net *g;
    gm_layer *l;
    CHECK(gm_net_create(&g));
    ADD(g, gm_dense_create(&l, latent, 128 * 7 * 7, GM_INIT_HE, rng));
    ADD(g, gm_batchnorm_create(&l, 128 * 7 * 7, 0.1f, 1e-5f));
    ADD(g, gm_relu_create(&l));
    ADD(g, gm_reshape_create(&l, 3, (size_t[]){128, 7, 7}));
    ADD_CONV(g, gm_conv_transpose2d_create(&l, 128, 64, 4, 2, 1, GM_INIT_ZEROS, NULL), 64);
    ADD(g, gm_batchnorm_create(&l, 64, 0.1f, 1e-5f));
    ADD(g, gm_relu_create(&l));
    ADD_CONV(g, gm_conv_transpose2d_create(&l, 64, 1, 4, 2, 1, GM_INIT_ZEROS, NULL), 1);
    ADD(g, gm_tanh_create(&l));
    return g;
}

/* D; `bn` 0: without its batchnorm (for a gradient penalty). */
static gm_net *discriminator(gm_rng *rng, int bn)
{
    gm_net *d;
    gm_layer *l;
    CHECK(gm_net_create(&d));
    ADD_CONV(d, gm_conv2d_create(&l, 1, 64, 4, 2, 1, GM_INIT_ZEROS, NULL), 64);
    ADD(d, gm_leaky_relu_create(&l, 0.2f));
    ADD_CONV(d, gm_conv2d_create(&l, 64, 128, 4, 2, 1, GM_INIT_ZEROS, NULL), 128);
    if (bn) ADD(d, gm_batchnorm_create(&l, 128, 0.1f, 1e-5f));
    ADD(d, gm_leaky_relu_create(&l, 0.2f));
    ADD(d, gm_flatten_create(&l));
    ADD(d, gm_dense_create(&l, 128 * 7 * 7, 1, GM_INIT_XAVIER, rng));
    return d;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* What the progress callback needs, and what it reports back. */
typedef struct {
    gm_gan *gan;
    gm_tensor *fixed_z, *samples;
    const char *out;
    FILE *step_csv, *epoch_csv; /* step_csv NULL: no step rows */
    unsigned epoch, epochs;     /* the epoch being trained, the last one */
    double decay;               /* --lr-decay; 0: constant rates */
    double g_lr, d_lr;          /* the rates at the start */
    uint64_t total_steps;       /* steps of all --epochs */
    int live;                   /* stdout is a terminal: one line, rewritten */
    int finite;                 /* every mean loss so far was finite */
    uint64_t printed;           /* hundreds of steps printed (not live) */
    double sum[4];              /* the epoch's sums of the 4 statistics */
    float last[4];              /* the epoch's means, after its end */
} progress;

/* Sets the learning rates of --lr-decay for the GAN's step count. */
static void set_decayed_lr(progress *pr)
{
    if (pr->decay <= 0) return;
    const double start = pr->decay * (double)pr->total_steps;
    const double span = (double)pr->total_steps - start;
    double f = span > 0 ? ((double)gm_gan_step_count(pr->gan) - start) / span : 1.0;
    f = f < 0 ? 0 : f > 1 ? 1 : f;
    const double scale = 1.0 - 0.99 * f;
    CHECK(gm_gan_set_lr(pr->gan, GM_GAN_GENERATOR, (float)(pr->g_lr * scale)));
    CHECK(gm_gan_set_lr(pr->gan, GM_GAN_DISCRIMINATOR, (float)(pr->d_lr * scale)));
}

static int on_progress(void *user, const gm_fit_progress *p, const gm_gan_stats *m)
{
    progress *pr = user;
    const unsigned long long step = gm_gan_step_count(pr->gan);
    const float v[4] = {m->d_loss, m->g_loss, m->d_real, m->d_fake};
    const int end = p->epoch_step == p->steps_per_epoch;
    pr->finite &= isfinite(m->d_loss) && isfinite(m->g_loss);
    set_decayed_lr(pr);
    for (int k = 0; k < 4; k++) pr->sum[k] += (double)v[k] * (double)p->steps_averaged;
    if (pr->step_csv)
        fprintf(pr->step_csv, "%llu,%u,%.5f,%.5f,%.5f,%.5f\n", step, pr->epoch, v[0], v[1], v[2],
                v[3]);
    if (pr->live || end || p->epoch_step / 100 > pr->printed) {
        pr->printed = p->epoch_step / 100;
        printf("%sepoch %u/%u step %4llu/%llu  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  "
               "%.1f steps/s%s",
               pr->live ? "\r" : "", pr->epoch, pr->epochs, (unsigned long long)p->epoch_step,
               (unsigned long long)p->steps_per_epoch, v[0], v[1], v[2], v[3],
               p->step / p->seconds, pr->live ? "" : "\n");
    }
    if (end) { /* the epoch's end */
        char path[1024];
        for (int k = 0; k < 4; k++) pr->last[k] = (float)(pr->sum[k] / (double)p->step);
        fprintf(pr->epoch_csv, "%llu,%u,%.5f,%.5f,%.5f,%.5f,%.2f\n", step, pr->epoch,
                pr->last[0], pr->last[1], pr->last[2], pr->last[3], p->seconds);
        CHECK(gm_gan_generate(pr->gan, pr->fixed_z, NULL, pr->samples));
        float *sd = gm_tensor_data(pr->samples); /* tanh's [-1, 1] -> [0, 1] */
        for (size_t k = 0; k < gm_tensor_numel(pr->samples); k++) sd[k] = 0.5f * (sd[k] + 1.0f);
        snprintf(path, sizeof path, "%s/dcgan_samples_epoch%03u.png", pr->out, pr->epoch);
        CHECK(gm_png_write_grid(path, pr->samples, 8, 8, 2, 1.0f));
        printf("%swrote %s\n", pr->live ? "\n" : "", path);
        snprintf(path, sizeof path, "%s/dcgan_samples.png", pr->out);
        CHECK(gm_png_write_grid(path, pr->samples, 8, 8, 2, 1.0f));
    }
    fflush(stdout);
    return !pr->finite; /* stop on a non-finite loss */
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    int epochs = 5, log_every = 20;
    size_t limit = 0, batch = 16, latent = 100;
    float lr = 2e-4f, g_lr = 0.0f, d_lr = 0.0f, ema = 0.999f, real_label = 1.0f;
    const char *data = "/usr/share/datasets/fashion-mnist", *out = "out", *save = NULL;
    const char *resume = NULL, *penalty = "r1";
    float penalty_weight = 10.0f, lr_decay = 0.0f, truncation = 1.2f;
    int penalty_every = 0;
    ex_option opts[] = {
        EX_U64("--seed", &seed, "seed of the initial weights, the shuffles and the noise"),
        EX_INT("--epochs", &epochs, 1, 100000, "train up to this epoch; with --resume, the epochs"
               " in the checkpoint count"),
        EX_SIZE("--batch-size", &batch, 1, 60000, "images per training step"),
        EX_FLOAT("--lr", &lr, 1e-7, 1, "Adam's learning rate of G and D; with --resume, the "
                 "checkpoint's unless given"),
        EX_FLOAT("--g-lr", &g_lr, 0, 1, "G's learning rate (0: --lr's); with --d-lr, two "
                 "time-scale rates (TTUR)"),
        EX_FLOAT("--d-lr", &d_lr, 0, 1, "D's learning rate (0: --lr's)"),
        EX_FLOAT("--lr-decay", &lr_decay, 0, 1, "from this fraction of all steps on, both "
                 "learning rates fall linearly to 1/100 of their start by the last; 0: constant"),
        EX_FLOAT("--ema", &ema, 0, 0.999999, "decay of the moving average of G's weights that "
                 "the samples come from (gm_gan option ema_decay); 0: off, samples from G"),
        EX_FLOAT("--real-label", &real_label, 0.5, 1, "D's target for real images; < 1 is "
                 "one-sided label smoothing"),
        EX_STR("--penalty", &penalty, "none|r1|gp", "gradient penalty on D (gm_gan option "
               "penalty): R1 on the real images or WGAN-GP; r1 and gp take D's batchnorm out"),
        EX_FLOAT("--penalty-weight", &penalty_weight, 0, 1e6,
                 "gamma of R1 (W/2 |grad D(x)|^2), lambda of GP (W (|grad D(x^)| - 1)^2)"),
        EX_INT("--penalty-every", &penalty_every, 0, 1000000,
               "lazy R1: the penalty on every K-th D update, weighted K times; 1 for gp; "
               "0: 16 for r1, 1 for gp"),
        EX_SIZE("--latent", &latent, 1, 4096, "size of G's input z"),
        EX_FLOAT("--truncation", &truncation, 0, 1e6,
                 "the sample grids' fixed z cut to [-T, T] (gm_rng_truncated_normal, as "
                 "gm_gan_set_truncation samples); 0: plain N(0, 1)"),
        EX_STR("--data", &data, "DIR", "folder of the Fashion-MNIST IDX files"),
        EX_STR("--out", &out, "DIR", "folder for the pictures and the CSV files"),
        EX_SIZE("--train-limit", &limit, 0, 60000, "train on the first N images; 0: all"),
        EX_INT("--log-every", &log_every, 0, 1000000,
               "a row of dcgan_steps.csv every N steps; 0: none"),
        EX_STR("--save", &save, "FILE", "save a checkpoint after every epoch"),
        EX_STR("--resume", &resume, "FILE", "go on from a checkpoint of --save"),
    };
    ex_parse(argc, argv, P,
             "Trains a DCGAN (transposed-conv G, conv D, batchnorm, non-saturating loss, Adam)\n"
             "on Fashion-MNIST, prints its progress, writes a sample grid from fixed noise and\n"
             "CSV rows of D's and G's losses and D's outputs to --out. The header of\n"
             "examples/dcgan_fashion.c has the details.",
             opts, EX_COUNT(opts));
    int pen;
    if (strcmp(penalty, "none") == 0)
        pen = GM_PENALTY_NONE;
    else if (strcmp(penalty, "r1") == 0)
        pen = GM_PENALTY_R1;
    else if (strcmp(penalty, "gp") == 0)
        pen = GM_PENALTY_GP;
    else
        ex_fail(P, "--penalty %s: expected none, r1 or gp", penalty);
    if (truncation > 0.0f && truncation < GM_TRUNCATION_MIN)
        ex_fail(P, "--truncation %g: 0 or at least %g", (double)truncation,
                (double)GM_TRUNCATION_MIN);
    if (penalty_every == 0) penalty_every = pen == GM_PENALTY_R1 ? 16 : 1;
    if (pen == GM_PENALTY_GP && penalty_every != 1)
        ex_fail(P, "--penalty-every %d: gp takes only 1 (lazy penalties are R1's)",
                penalty_every);
    char path[1024];
    ex_make_dir(P, out);
    gm_tensor *train;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&train, path, limit));
    const size_t n = gm_tensor_dim(train, 0), steps = n / batch;
    if (steps == 0)
        ex_fail(P, "%zu training images make no batch of --batch-size %zu", n, batch);
    float *td = gm_tensor_data(train);
    for (size_t k = 0; k < n * D; k++) td[k] = 2.0f * td[k] - 1.0f; /* [0, 1] -> [-1, 1] */
    printf("libgenmodel %s: DCGAN on Fashion-MNIST (%zu images), seed %llu\n", gm_version(), n,
           seed);

    /* The nets are made from rng even when resuming, so that the fixed z
     * is a straight run's; a checkpoint's nets must match them. D first:
     * the order gcc gave the unsequenced gm_gan_create(.., generator(rng),
     * discriminator(rng), ..) this example had, so its results stay. */
    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_net *d = discriminator(rng, pen == GM_PENALTY_NONE);
    gm_net *g = generator(latent, rng);
    if (g_lr == 0.0f) g_lr = lr;
    if (d_lr == 0.0f) d_lr = lr;
    gm_optimizer_options adam, adam_d;
    CHECK(gm_optimizer_options_init(&adam, GM_OPT_ADAM));
    adam.lr = g_lr;
    adam.beta1 = 0.5f;
    adam_d = adam;
    adam_d.lr = d_lr;
    gm_gan_options o;
    CHECK(gm_gan_options_init(&o)); /* non-saturating */
    o.latent = latent;
    o.seed = seed;
    o.g_optimizer = &adam;
    o.d_optimizer = &adam_d;
    o.ema_decay = ema;
    o.real_label = real_label;
    o.penalty = pen;
    o.penalty_weight = pen == GM_PENALTY_NONE ? 0.0f : penalty_weight;
    o.penalty_every = (uint32_t)penalty_every;
    gm_gan *gan;
    int done = 0; /* epochs in the checkpoint */
    if (resume) {
        CHECK(gm_gan_load(&gan, resume));
        gm_gan_options saved;
        CHECK(gm_gan_options_init(&saved));
        CHECK(gm_gan_get_options(gan, &saved));
        if (saved.latent != latent || saved.seed != seed)
            ex_fail(P, "%s was trained with --latent %zu --seed %llu, not --latent %zu --seed "
                    "%llu: pass those", resume, saved.latent, (unsigned long long)saved.seed,
                    latent, seed);
        ex_check_net(P, resume, gm_gan_generator(gan), g, "generator", "this example's DCGAN");
        ex_check_net(P, resume, gm_gan_discriminator(gan), d, "discriminator",
                     "this example's DCGAN");
        done = ex_epochs_done(P, resume, gm_gan_step_count(gan), steps);
        if (saved.ema_decay != ema || saved.real_label != real_label)
            ex_fail(P, "%s was trained with --ema %g --real-label %g, not --ema %g --real-label "
                    "%g: pass those", resume, (double)saved.ema_decay, (double)saved.real_label,
                    (double)ema, (double)real_label);
        if (saved.penalty != o.penalty || saved.penalty_weight != o.penalty_weight ||
            saved.penalty_every != o.penalty_every)
            ex_fail(P, "%s was trained with another --penalty, --penalty-weight or "
                    "--penalty-every: pass those", resume);
        if (ex_given(opts, EX_COUNT(opts), "--lr") || ex_given(opts, EX_COUNT(opts), "--g-lr") ||
            ex_given(opts, EX_COUNT(opts), "--d-lr")) {
            CHECK(gm_gan_set_lr(gan, GM_GAN_GENERATOR, g_lr));
            CHECK(gm_gan_set_lr(gan, GM_GAN_DISCRIMINATOR, d_lr));
        }
        gm_net_free(g);
        gm_net_free(d);
    } else {
        CHECK(gm_gan_create(&gan, g, d, &o)); /* the GAN owns g and d now */
    }

    gm_tensor *fixed_z, *samples;
    CHECK(gm_tensor_create(&fixed_z, 2, (size_t[]){64, latent}));
    CHECK(gm_rng_truncated_normal(rng, gm_tensor_data(fixed_z), 64 * latent, truncation));
    CHECK(gm_tensor_create(&samples, 4, (size_t[]){64, 1, 28, 28}));
    const unsigned long long resume_step = gm_gan_step_count(gan);
    progress pr = {gan, fixed_z, samples, out, NULL, NULL, 0, (unsigned)epochs,
                   lr_decay, g_lr, d_lr, (uint64_t)epochs * steps,
                   isatty(STDOUT_FILENO), 1, 0, {0, 0, 0, 0}, {NAN, NAN, NAN, NAN}};
    snprintf(path, sizeof path, "%s/dcgan_epochs.csv", out);
    pr.epoch_csv =
        ex_csv_open(P, path, "step,epoch,d_loss,g_loss,d_real,d_fake,seconds", resume_step);
    if (log_every > 0) {
        snprintf(path, sizeof path, "%s/dcgan_steps.csv", out);
        pr.step_csv = ex_csv_open(P, path, "step,epoch,d_loss,g_loss,d_real,d_fake", resume_step);
    }
    /* one gm_gan_fit call per epoch; the callback prints progress (a live
     * line on a terminal), writes the CSV rows and the epoch's sample grid */
    gm_fit_options fo;
    CHECK(gm_fit_options_init(&fo));
    fo.epochs = 1;
    fo.batch = batch;
    fo.every = log_every > 0 ? (uint64_t)log_every : (uint64_t)steps;
    if (lr_decay > 0.0f && fo.every > 20) fo.every = 20;
    if (done >= epochs)
        printf("%s is at epoch %d: nothing to train for --epochs %d\n", resume, done, epochs);
    double total = 0;
    for (int e = done + 1; e <= epochs && pr.finite; e++) {
        pr.epoch = (unsigned)e;
        pr.printed = 0;
        memset(pr.sum, 0, sizeof pr.sum);
        fo.shuffle_seed = seed + (uint64_t)(e - 1) * 0x9E3779B97F4A7C15ull;
        set_decayed_lr(&pr);
        const double t0 = now();
        CHECK(gm_gan_fit(gan, train, NULL, &fo, on_progress, &pr));
        total += now() - t0;
        fflush(pr.epoch_csv);
        if (pr.step_csv) fflush(pr.step_csv);
        if (save && pr.finite) {
            CHECK(gm_gan_save(gan, save));
            printf("wrote %s (epoch %d)\n", save, e);
        }
    }
    if (save && done >= epochs) {
        CHECK(gm_gan_save(gan, save));
        printf("wrote %s\n", save);
    }
    fclose(pr.epoch_csv);
    if (pr.step_csv) fclose(pr.step_csv);
    const uint64_t trained = gm_gan_step_count(gan) - resume_step;
    printf("epochs=%d seed=%llu d_loss=%.3f g_loss=%.3f losses_finite=%d seconds=%.1f "
           "steps_per_second=%.2f\n",
           epochs, seed, pr.last[0], pr.last[1], pr.finite, total,
           total > 0 ? trained / total : 0.0);
    gm_tensor_free(fixed_z);
    gm_tensor_free(samples);
    gm_tensor_free(train);
    gm_gan_free(gan);
    gm_rng_free(rng);
    return pr.finite ? 0 : 1;
}
