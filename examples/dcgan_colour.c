/* SPDX-License-Identifier: MIT */
/*
 * dcgan_colour: a DCGAN on any folder of colour images (PNG/JPEG), e.g. the
 * emoji of scripts/emoji_dataset.sh or your own photos.
 *
 *   dcgan_colour --data DIR [options]   (dcgan_colour --help lists them)
 *
 * The images are loaded and split as in vae_colour (RGB on white, --side
 * 16/32/64/128, every 10th held out and never trained on); batches come
 * from the uint8 set in [-1, 1] with random left-right flips
 * (gm_image_set_batch), never a float copy of the set.
 *
 * G: z (--latent) -> dense to 8 x 8 maps -> BatchNorm -> ReLU -> k
 *    transposed convs 4x4 stride 2 (BatchNorm, ReLU between) -> 3 x S x S
 *    -> tanh
 * D: k convs 4x4 stride 2 (3 -> W -> 2W ...; BatchNorm after all but the first,
 *    LeakyReLU 0.2) -> flatten -> dense -> 1 logit
 * Non-saturating loss with one-sided label smoothing (D's target for real
 * images --real-label, 0.9), Adam betas 0.5 / 0.999 (--lr for both,
 * --width W), convs from N(0, 0.02). --ema D keeps a moving average of G's
 * weights (gm_gan option ema_decay) that the grids and --save use.
 * --r1 GAMMA adds the R1 penalty GAMMA/2 |grad D(x)|^2 on the real images
 * to D's updates (penalty.h; built from gm_gan_compute_grads,
 * gm_net_penalty_r1 and gm_gan_apply_grads as in gan_ring.c), and D then
 * has no batchnorm (the penalty does not support it). Writes to --out:
 *   dcgan_colour_epochs.csv  a row per epoch: step, epoch, D loss, G loss,
 *                            D(x), D(G(z)) (epoch means), seconds
 *   dcgan_colour_samples.png 64 samples from a fixed z, after every epoch
 *   dcgan_colour_interpolation.png  6 rows: z moving linearly between two
 *                            random latents in 10 steps
 * and ends with a line of key=value pairs. --save writes the GAN
 * (gm_gan_save) after every epoch. The run fails (exit 1) if a loss is not
 * finite.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/genmodel.h>

#include "example_args.h"
#include "example_colour.h"
#include "example_train.h"

static const char *const P = "dcgan_colour"; /* in messages */
#define CHECK(expr) EXC_CHECK(P, expr)

/* gm_gan_train_step with the R1 penalty added to D's update, from the
 * public parts (as examples/gan_ring.c does): D's loss gradient
 * (gm_gan_compute_grads on the whole batch) plus the penalty's (which
 * gm_net_penalty_r1 adds to D's own, zeroed gradients; tmp holds them),
 * D's update, then G's. Returns the first failing call's status; st gets
 * both phases' fields. */
static gm_status r1_step(gm_gan *gan, const gm_tensor *x, float gamma, float *tmp,
                         gm_gan_stats *st)
{
    gm_net *d = gm_gan_discriminator(gan);
    size_t nd, shape[GM_MAX_DIMS];
    gm_status r = gm_tensor_shape(x, &nd, shape);
    if (r != GM_OK) return r;
    const size_t n = shape[0];
    gm_gan_stats sd, sg;
    float *buf, pen;
    size_t np;
    if ((r = gm_gan_compute_grads(gan, GM_GAN_DISCRIMINATOR, x, NULL, 0, n, &sd)) != GM_OK ||
        (r = gm_gan_grads(gan, GM_GAN_DISCRIMINATOR, &buf, &np)) != GM_OK ||
        (r = gm_net_zero_grad(d)) != GM_OK || (r = gm_net_penalty_r1(d, x, gamma, &pen)) != GM_OK ||
        (r = gm_net_get_grads(d, tmp, np)) != GM_OK)
        return r;
    for (size_t i = 0; i < np; i++) buf[i] += tmp[i];
    if ((r = gm_gan_apply_grads(gan, GM_GAN_DISCRIMINATOR)) != GM_OK ||
        (r = gm_gan_compute_grads(gan, GM_GAN_GENERATOR, x, NULL, 0, n, &sg)) != GM_OK ||
        (r = gm_gan_apply_grads(gan, GM_GAN_GENERATOR)) != GM_OK)
        return r;
    *st = sd;
    st->g_loss = sg.g_loss;
    st->d_fake = sg.d_fake;
    return GM_OK;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    int epochs = 20;
    size_t batch = 64, latent = 64, width = 64, side = 32, max_files = 0;
    float lr = 2e-4f, d_lr = 0.0f, decay = 0.0f, real_label = 0.9f, ema = 0.0f, r1 = 0.0f;
    const char *data = NULL, *out = "out", *save = NULL;
    ex_option opts[] = {
        EX_STR("--data", &data, "DIR", "folder of PNG/JPEG images (sub-folders too); required"),
        EX_SIZE("--side", &side, 16, 128, "images are resized to SIDE x SIDE: 16, 32, 64 or 128"),
        EX_U64("--seed", &seed, "seed of the weights, the shuffles, the flips and the noise"),
        EX_INT("--epochs", &epochs, 1, 100000, "passes over the training images"),
        EX_SIZE("--batch-size", &batch, 2, 65536, "images per training step"),
        EX_FLOAT("--lr", &lr, 1e-7, 1, "Adam's learning rate of G (and of D without --d-lr)"),
        EX_FLOAT("--d-lr", &d_lr, 0, 1, "Adam's learning rate of D; 0: --lr"),
        EX_FLOAT("--lr-decay", &decay, 0, 1,
                 "from this fraction of the epochs on, both learning rates fall linearly to "
                 "1/100 of their start by the last epoch (gm_gan_set_lr); 0: constant"),
        EX_FLOAT("--real-label", &real_label, 0.01, 1,
                 "D's target for real images (below 1: one-sided label smoothing)"),
        EX_FLOAT("--ema", &ema, 0, 0.999999, "decay of the moving average of G's weights that "
                 "the samples and --save come from (gm_gan option ema_decay); 0: off"),
        EX_FLOAT("--r1", &r1, 0, 1e6, "weight gamma of the R1 penalty gamma/2 |grad D(x)|^2 on "
                 "the real images (penalty.h); D then has no batchnorm; 0: off"),
        EX_SIZE("--latent", &latent, 1, 4096, "size of G's input z"),
        EX_SIZE("--width", &width, 1, 1024, "channels W of D's first conv (then 2W, 4W ...)"),
        EX_SIZE("--max-files", &max_files, 0, 100000000, "read the first N files only; 0: all"),
        EX_STR("--out", &out, "DIR", "folder for the pictures and the CSV file"),
        EX_STR("--save", &save, "FILE", "save the GAN after every epoch"),
    };
    ex_parse(argc, argv, P,
             "Trains a DCGAN (transposed-conv G, conv D, batchnorm, non-saturating loss, Adam)\n"
             "on a folder of colour images, writes a sample grid from fixed noise after every\n"
             "epoch and latent interpolations to --out. The header of examples/dcgan_colour.c\n"
             "has the details.",
             opts, EX_COUNT(opts));
    size_t levels, *train, *held, n_train, n_held;
    gm_image_set *set = exc_load_split(P, data, side, max_files, &levels, &train, &n_train, &held,
                                       &n_held);
    if (n_train < batch) batch = n_train;
    if (batch < 2) ex_fail(P, "%zu training images in %s: batchnorm needs 2", n_train, data);
    const size_t steps = n_train / batch;
    printf("libgenmodel %s: DCGAN on %zu train images (%zu held out), %zu x %zu RGB, width %zu, "
           "latent %zu, seed %llu, %d BLAS threads\n",
           gm_version(), n_train, n_held, side, side, width, latent, seed, gm_get_num_threads());

    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_net *g, *d;
    gm_layer *l;
    CHECK(gm_net_create(&d));
    CHECK(gm_net_create(&g));
    exc_down_bn(P, d, levels, width, 1, 1, r1 == 0.0f, 1, rng);
    exc_up(P, g, latent, levels, width, 1, rng);
    CHECK(gm_tanh_create(&l));
    CHECK(gm_net_add(g, l));
    gm_optimizer_options adam;
    CHECK(gm_optimizer_options_init(&adam, GM_OPT_ADAM));
    adam.lr = lr;
    adam.beta1 = 0.5f;
    gm_gan_options o;
    CHECK(gm_gan_options_init(&o)); /* non-saturating */
    o.latent = latent;
    o.seed = seed;
    o.real_label = real_label;
    o.ema_decay = ema;
    gm_optimizer_options adam_d = adam;
    if (d_lr > 0.0f) adam_d.lr = d_lr;
    o.g_optimizer = &adam;
    o.d_optimizer = &adam_d;
    gm_gan *gan;
    CHECK(gm_gan_create(&gan, g, d, &o));

    gm_rng *flip;
    gm_tensor *fixed_z, *samples, *x;
    CHECK(gm_rng_create(&flip, seed + 7));
    CHECK(gm_tensor_create(&fixed_z, 2, (size_t[]){64, latent}));
    CHECK(gm_tensor_fill_normal(fixed_z, rng));
    CHECK(gm_tensor_create(&samples, 4, (size_t[]){64, 3, side, side}));
    CHECK(gm_tensor_create(&x, 4, (size_t[]){batch, 3, side, side}));
    ex_make_dir(P, out);
    char path[1024];
    snprintf(path, sizeof path, "%s/dcgan_colour_epochs.csv", out);
    FILE *csv = ex_csv_open(P, path, "step,epoch,d_loss,g_loss,d_real,d_fake,seconds", 0);
    float *u = exc_alloc(P, n_train, sizeof *u);
    float *grad = exc_alloc(P, gm_net_param_count(d), sizeof *grad);
    double mean[4] = {NAN, NAN, NAN, NAN}, total = 0;
    int finite = 1;
    for (int e = 1; e <= epochs && finite; e++) {
        exc_shuffle(P, rng, train, u, n_train);
        if (decay > 0.0f) { /* epoch e's share of the way down, 0 before the start */
            const double start = (double)decay * epochs, span = epochs - start;
            double f = span > 0 ? ((double)e - start) / span : 1.0;
            f = f < 0 ? 0 : f > 1 ? 1 : f;
            const double scale = 1.0 - 0.99 * f;
            CHECK(gm_gan_set_lr(gan, GM_GAN_GENERATOR, (float)(lr * scale)));
            CHECK(gm_gan_set_lr(gan, GM_GAN_DISCRIMINATOR, (float)(adam_d.lr * scale)));
        }
        const double t0 = exc_now();
        double sum[4] = {0, 0, 0, 0};
        for (size_t s = 0; s < steps && finite; s++) {
            gm_gan_stats st;
            CHECK(gm_image_set_batch(set, train + s * batch, batch, GM_IMAGE_RANGE_SYMMETRIC,
                                     flip, x));
            const gm_status r = r1 > 0.0f ? r1_step(gan, x, r1, grad, &st)
                                          : gm_gan_train_step(gan, x, NULL, &st);
            if (r == GM_ENUMERIC) {
                fprintf(stderr, "dcgan_colour: epoch %d step %zu: %s\n", e, s + 1,
                        gm_last_error());
                finite = 0;
                break;
            }
            CHECK(r);
            const float v[4] = {st.d_loss, st.g_loss, st.d_real, st.d_fake};
            for (int k = 0; k < 4; k++) sum[k] += v[k];
            finite &= isfinite(st.d_loss) && isfinite(st.g_loss);
        }
        const double secs = exc_now() - t0;
        total += secs;
        for (int k = 0; k < 4; k++) mean[k] = sum[k] / (double)steps;
        printf("epoch %3d  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  %.1f s  "
               "%.1f steps/s\n", e, mean[0], mean[1], mean[2], mean[3], secs, steps / secs);
        fprintf(csv, "%llu,%d,%.5f,%.5f,%.5f,%.5f,%.2f\n",
                (unsigned long long)gm_gan_step_count(gan), e, mean[0], mean[1], mean[2],
                mean[3], secs);
        fflush(csv);
        CHECK(gm_gan_generate(gan, fixed_z, NULL, samples));
        exc_to_unit(samples);
        exc_write_grid(P, out, "dcgan_colour_samples.png", samples, 8, 8);
        if (save && finite) {
            CHECK(gm_gan_save(gan, save));
            printf("wrote %s (epoch %d)\n", save, e);
        }
        fflush(stdout);
    }
    fclose(csv);

    /* interpolations: 6 rows from z_a to z_b (fixed_z's first 12 rows) */
    gm_tensor *zline, *interp;
    CHECK(gm_tensor_create(&zline, 2, (size_t[]){60, latent}));
    CHECK(gm_tensor_create(&interp, 4, (size_t[]){60, 3, side, side}));
    const float *fz = gm_tensor_data(fixed_z);
    for (size_t p = 0; p < 6; p++)
        for (size_t k = 0; k < 10; k++)
            for (size_t j = 0; j < latent; j++) {
                const float t = (float)k / 9.0f;
                gm_tensor_data(zline)[(p * 10 + k) * latent + j] =
                    (1 - t) * fz[(2 * p) * latent + j] + t * fz[(2 * p + 1) * latent + j];
            }
    CHECK(gm_gan_generate(gan, zline, NULL, interp));
    exc_to_unit(interp);
    exc_write_grid(P, out, "dcgan_colour_interpolation.png", interp, 6, 10);

    printf("images=%zu held_out=%zu side=%zu epochs=%d seed=%llu d_loss=%.3f g_loss=%.3f "
           "d_real=%.3f d_fake=%.3f losses_finite=%d seconds=%.1f steps_per_second=%.2f\n",
           gm_image_set_count(set), n_held, side, epochs, seed, mean[0], mean[1], mean[2],
           mean[3], finite, total, total > 0 ? (double)gm_gan_step_count(gan) / total : 0.0);
    free(u);
    free(grad);
    free(train);
    free(held);
    gm_tensor_free(zline);
    gm_tensor_free(interp);
    gm_tensor_free(samples);
    gm_tensor_free(fixed_z);
    gm_tensor_free(x);
    gm_gan_free(gan);
    gm_rng_free(rng);
    gm_rng_free(flip);
    gm_image_set_free(set);
    return finite ? 0 : 1;
}
