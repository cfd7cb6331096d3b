/* SPDX-License-Identifier: MIT */
/*
 * vae_colour: a conv VAE on any folder of colour images (PNG/JPEG), e.g.
 * the emoji of scripts/emoji_dataset.sh or your own photos.
 *
 *   vae_colour --data DIR [options]   (vae_colour --help lists them)
 *
 * Every image under DIR is read by gm_image_folder_load as RGB, composited
 * on white, centre-cropped and resized to --side (16, 32, 64 or 128); bad
 * files are skipped and counted. A tenth of the images (every 10th) is
 * held out. Training batches come from the uint8 set (gm_image_set_batch,
 * values in [0, 1], random left-right flips): the set is never held as
 * floats.
 *
 * Encoder: k convs 4x4 stride 2 (3 -> W -> 2W ..., ReLU) down to 8 x 8,
 * dense to 2L (mu, logvar); decoder: dense L -> 8 x 8 maps, ReLU, k
 * transposed convs back to 3 x S x S logits; Bernoulli likelihood, Adam
 * (--width W, --latent L, --lr, --batch-size). Writes to --out:
 *   vae_colour_epochs.csv  a row per epoch: step, epoch, train -ELBO,
 *                          held-out -ELBO, recon and KL, seconds
 *   vae_colour_samples.png 64 samples from fixed latents, after every epoch
 *   vae_colour_reconstructions.png  rows of 8 held-out images over their
 *                          reconstructions
 *   vae_colour_interpolation.png    6 pairs of held-out images, 10 steps
 *   vae_colour_inpainting.png       originals, damaged (grey), repaired:
 *                          8 with the bottom half missing, 8 the centre
 * and ends with a line of key=value pairs, among them inpaint_mse (mean
 * squared error on the missing pixels of 16 held-out images) and
 * meanfill_mse (the same with the mean training image filled in).
 * --check-inpaint makes the run fail (exit 1) unless inpaint_mse <
 * meanfill_mse. --save writes the VAE (gm_vae_save) after every epoch.
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

static const char *const P = "vae_colour"; /* in messages */
#define CHECK(expr) EXC_CHECK(P, expr)

/* Means of -ELBO, recon and KL over the held-out images, in batches. */
static void held_elbo(gm_vae *vae, const gm_image_set *set, const size_t *held, size_t n,
                      double *nelbo, double *recon, double *kl)
{
    const size_t bs = 100;
    double sum[3] = {0, 0, 0};
    for (size_t a = 0; a < n; a += bs) {
        const size_t m = n - a < bs ? n - a : bs;
        gm_tensor *x = exc_pick(P, set, held + a, m, GM_IMAGE_RANGE_UNIT);
        gm_vae_stats st;
        CHECK(gm_vae_elbo(vae, x, NULL, &st));
        sum[0] += st.loss * (double)m;
        sum[1] += st.recon * (double)m;
        sum[2] += st.kl * (double)m;
        gm_tensor_free(x);
    }
    *nelbo = sum[0] / (double)n;
    *recon = sum[1] / (double)n;
    *kl = sum[2] / (double)n;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    int epochs = 20, check_inpaint = 0;
    size_t batch = 64, latent = 32, width = 32, side = 32, max_files = 0, iters = 100;
    float lr = 1e-3f;
    const char *data = NULL, *out = "out", *save = NULL;
    ex_option opts[] = {
        EX_STR("--data", &data, "DIR", "folder of PNG/JPEG images (sub-folders too); required"),
        EX_SIZE("--side", &side, 16, 128, "images are resized to SIDE x SIDE: 16, 32, 64 or 128"),
        EX_U64("--seed", &seed, "seed of the weights, the shuffles, the flips and the noise"),
        EX_INT("--epochs", &epochs, 1, 100000, "passes over the training images"),
        EX_SIZE("--batch-size", &batch, 1, 65536, "images per training step"),
        EX_FLOAT("--lr", &lr, 1e-7, 1, "Adam's learning rate"),
        EX_SIZE("--latent", &latent, 1, 4096, "latent size L"),
        EX_SIZE("--width", &width, 1, 1024, "channels W of the first conv (then 2W, 4W ...)"),
        EX_SIZE("--max-files", &max_files, 0, 100000000, "read the first N files only; 0: all"),
        EX_SIZE("--inpaint-iters", &iters, 1, 10000, "latent optimization steps of inpainting"),
        EX_STR("--out", &out, "DIR", "folder for the pictures and the CSV file"),
        EX_STR("--save", &save, "FILE", "save the VAE after every epoch"),
        EX_FLAG("--check-inpaint", &check_inpaint,
                "exit 1 unless inpainting beats the mean-image fill on the missing pixels"),
    };
    ex_parse(argc, argv, P,
             "Trains a conv VAE (Bernoulli likelihood, Adam) on a folder of colour images,\n"
             "writes samples after every epoch, then reconstructions, interpolations and\n"
             "inpainting of held-out images to --out. The header of examples/vae_colour.c has\n"
             "the details.",
             opts, EX_COUNT(opts));
    size_t levels, *train, *held, n_train, n_held;
    gm_image_set *set = exc_load_split(P, data, side, max_files, &levels, &train, &n_train, &held,
                                       &n_held);
    if (n_train < batch) batch = n_train;
    if (batch == 0) ex_fail(P, "no images in %s", data);
    const size_t steps = n_train / batch, D = 3 * side * side;
    printf("libgenmodel %s: conv VAE on %zu train, %zu held-out images, %zu x %zu RGB, width "
           "%zu, latent %zu, seed %llu, %d BLAS threads\n",
           gm_version(), n_train, n_held, side, side, width, latent, seed, gm_get_num_threads());

    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_net *enc, *dec;
    CHECK(gm_net_create(&enc));
    CHECK(gm_net_create(&dec));
    exc_down(P, enc, levels, width, 0, 0, 2 * latent, rng);
    exc_up(P, dec, latent, levels, width, 0, rng);
    gm_optimizer_options adam;
    CHECK(gm_optimizer_options_init(&adam, GM_OPT_ADAM));
    adam.lr = lr;
    gm_vae_options o;
    CHECK(gm_vae_options_init(&o));
    o.latent = latent;
    o.seed = seed;
    o.optimizer = &adam;
    gm_vae *vae;
    CHECK(gm_vae_create(&vae, enc, dec, &o));

    gm_rng *zrng, *flip;
    gm_tensor *fixed_z, *samples, *x;
    CHECK(gm_rng_create(&zrng, seed ^ 0x9E3779B97F4A7C15ull));
    CHECK(gm_rng_create(&flip, seed + 7));
    CHECK(gm_tensor_create(&fixed_z, 2, (size_t[]){64, latent}));
    CHECK(gm_tensor_fill_normal(fixed_z, zrng));
    CHECK(gm_tensor_create(&samples, 4, (size_t[]){64, 3, side, side}));
    CHECK(gm_tensor_create(&x, 4, (size_t[]){batch, 3, side, side}));
    ex_make_dir(P, out);
    char path[1024];
    snprintf(path, sizeof path, "%s/vae_colour_epochs.csv", out);
    FILE *csv = ex_csv_open(P, path, "step,epoch,train_nelbo,held_nelbo,held_recon,held_kl,"
                            "seconds", 0);
    float *u = exc_alloc(P, n_train, sizeof *u);
    double train_loss = NAN, nelbo = NAN, recon = NAN, kl = NAN, total = 0;
    for (int e = 1; e <= epochs; e++) {
        exc_shuffle(P, rng, train, u, n_train);
        const double t0 = exc_now();
        double sum = 0;
        for (size_t s = 0; s < steps; s++) {
            gm_vae_stats st;
            CHECK(gm_image_set_batch(set, train + s * batch, batch, GM_IMAGE_RANGE_UNIT, flip, x));
            CHECK(gm_vae_train_step(vae, x, NULL, &st));
            sum += st.loss;
        }
        const double secs = exc_now() - t0;
        total += secs;
        train_loss = sum / (double)steps;
        held_elbo(vae, set, held, n_held, &nelbo, &recon, &kl);
        printf("epoch %3d  train -ELBO %.1f  held-out -ELBO %.1f (recon %.1f + KL %.1f) nats/image"
               "  %.1f s  %.1f steps/s\n", e, train_loss, nelbo, recon, kl, secs, steps / secs);
        fprintf(csv, "%llu,%d,%.3f,%.3f,%.3f,%.3f,%.2f\n",
                (unsigned long long)gm_vae_step_count(vae), e, train_loss, nelbo, recon, kl, secs);
        fflush(csv);
        CHECK(gm_vae_decode(vae, fixed_z, NULL, samples));
        exc_write_grid(P, out, "vae_colour_samples.png", samples, 8, 8);
        if (save) {
            CHECK(gm_vae_save(vae, save));
            printf("wrote %s (epoch %d)\n", save, e);
        }
        fflush(stdout);
    }
    fclose(csv);

    /* reconstructions: 4 rows of 8 held-out images over their reconstructions;
     * the 32 spread evenly over the held-out images (sorted by folder), the
     * first 16 (the inpainting's) every other one of them, so they span
     * every folder too (a stride of 37 picked one image 32 times when 37
     * were held out) */
    size_t idx[32];
    for (size_t i = 0; i < 32; i++) {
        const size_t j = (i % 16) * 2 + i / 16;
        idx[i] = held[n_held >= 32 ? j * n_held / 32 : j % n_held];
    }
    gm_tensor *orig = exc_pick(P, set, idx, 32, GM_IMAGE_RANGE_UNIT), *rec, *grid;
    CHECK(gm_tensor_create(&rec, 4, (size_t[]){32, 3, side, side}));
    CHECK(gm_vae_reconstruct(vae, orig, NULL, rec));
    CHECK(gm_tensor_create(&grid, 4, (size_t[]){64, 3, side, side}));
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 8; c++) {
            memcpy(gm_tensor_data(grid) + ((2 * r) * 8 + c) * D,
                   gm_tensor_data(orig) + (r * 8 + c) * D, D * sizeof(float));
            memcpy(gm_tensor_data(grid) + ((2 * r + 1) * 8 + c) * D,
                   gm_tensor_data(rec) + (r * 8 + c) * D, D * sizeof(float));
        }
    exc_write_grid(P, out, "vae_colour_reconstructions.png", grid, 8, 8);

    /* interpolations: 6 pairs of held-out images, 10 steps each */
    gm_tensor *line, *interp;
    CHECK(gm_tensor_create(&line, 4, (size_t[]){10, 3, side, side}));
    CHECK(gm_tensor_create(&interp, 4, (size_t[]){60, 3, side, side}));
    for (size_t p = 0; p < 6; p++) {
        const size_t a = held[(p * 101 + 3) % n_held], b = held[(p * 211 + 50) % n_held];
        gm_tensor *xa = exc_pick(P, set, &a, 1, GM_IMAGE_RANGE_UNIT);
        gm_tensor *xb = exc_pick(P, set, &b, 1, GM_IMAGE_RANGE_UNIT);
        CHECK(gm_vae_interpolate(vae, xa, xb, NULL, line));
        memcpy(gm_tensor_data(interp) + p * 10 * D, gm_tensor_data(line), 10 * D * sizeof(float));
        gm_tensor_free(xa);
        gm_tensor_free(xb);
    }
    exc_write_grid(P, out, "vae_colour_interpolation.png", interp, 6, 10);

    /* inpainting of 16 held-out images; MSE on the missing pixels against
     * filling them with the mean training image */
    gm_tensor *truth = exc_pick(P, set, idx, 16, GM_IMAGE_RANGE_UNIT), *mask, *repaired, *ip;
    CHECK(gm_tensor_create(&mask, 4, (size_t[]){16, 3, side, side}));
    CHECK(gm_tensor_create(&repaired, 4, (size_t[]){16, 3, side, side}));
    CHECK(gm_tensor_create(&ip, 4, (size_t[]){48, 3, side, side}));
    float *m = gm_tensor_data(mask), *mean = exc_alloc(P, D, sizeof *mean);
    exc_inpaint_mask(m, 16, 3, side);
    exc_mean_image(set, train, n_train, mean);
    CHECK(gm_vae_inpaint(vae, truth, mask, iters, repaired));
    const float *t = gm_tensor_data(truth), *rp = gm_tensor_data(repaired);
    double err_model = 0, err_mean = 0;
    size_t n_missing = 0;
    for (size_t k = 0; k < 16 * D; k++) {
        gm_tensor_data(ip)[k] = t[k];
        gm_tensor_data(ip)[16 * D + k] = m[k] != 0.0f ? t[k] : 0.5f;
        gm_tensor_data(ip)[32 * D + k] = rp[k];
        if (m[k] == 0.0f) {
            err_model += (rp[k] - t[k]) * (double)(rp[k] - t[k]);
            err_mean += (mean[k % D] - t[k]) * (double)(mean[k % D] - t[k]);
            n_missing++;
        }
    }
    exc_write_grid(P, out, "vae_colour_inpainting.png", ip, 6, 8);
    const double mse = err_model / (double)n_missing, mse_mean = err_mean / (double)n_missing;
    printf("images=%zu held_out=%zu side=%zu epochs=%d seed=%llu train_nelbo=%.2f held_nelbo=%.2f "
           "inpaint_mse=%.5f meanfill_mse=%.5f train_seconds=%.1f steps_per_second=%.2f\n",
           gm_image_set_count(set), n_held, side, epochs, seed, train_loss, nelbo, mse, mse_mean,
           total, total > 0 ? epochs * steps / total : 0.0);
    const int fail = check_inpaint && !(mse < mse_mean);
    if (fail)
        fprintf(stderr, "vae_colour: inpainting MSE %.5f is not below the mean-image fill's %.5f\n",
                mse, mse_mean);

    free(mean);
    free(u);
    free(train);
    free(held);
    gm_tensor_free(ip);
    gm_tensor_free(mask);
    gm_tensor_free(repaired);
    gm_tensor_free(truth);
    gm_tensor_free(line);
    gm_tensor_free(interp);
    gm_tensor_free(orig);
    gm_tensor_free(rec);
    gm_tensor_free(grid);
    gm_tensor_free(samples);
    gm_tensor_free(fixed_z);
    gm_tensor_free(x);
    gm_vae_free(vae);
    gm_rng_free(rng);
    gm_rng_free(zrng);
    gm_rng_free(flip);
    gm_image_set_free(set);
    return fail ? 1 : 0;
}
