/* SPDX-License-Identifier: MIT */
/*
 * vae_fashion: the reference VAE recipe on Fashion-MNIST.
 *
 *   vae_fashion [options]        (vae_fashion --help lists them with defaults)
 *
 * Encoder 784-400 ReLU, 400-40 (mu, logvar); decoder 20-400 ReLU, 400-784
 * logits; Bernoulli likelihood; Adam lr 1e-3; batch 128 (--hidden,
 * --latent, --lr and --batch-size change them). Prints a line per epoch and
 * a last line of key=value pairs, and writes to --out:
 *   vae_samples_epochNNN.png  after every epoch, 64 images decoded from a
 *                             fixed set of latents (the same in every epoch)
 *   vae_epochs.csv            a row per epoch: step, epoch, train -ELBO, its
 *                             reconstruction and KL terms (means over the
 *                             epoch's steps), the same three on the test set,
 *                             the epoch's training seconds
 *   vae_steps.csv             a row every --log-every steps: the training
 *                             -ELBO, reconstruction and KL terms, means over
 *                             those steps
 *   samples.png, reconstructions.png, interpolation.png, inpainting.png
 *                             at the end.
 * --samples-out writes the 64 samples' raw float32 values (host order), so
 * the Python, Rust and C++ versions can be compared with this one bit for bit.
 * --save writes the VAE as a checkpoint (gm_vae_save) after every epoch,
 * e.g. for examples/evaluate.c or --resume.
 *
 * --resume FILE goes on from a checkpoint of --save: --epochs is the epoch
 * to train up to (so `--epochs 1 --save F` then `--epochs 2 --resume F`
 * trains the same as `--epochs 2`, bit for bit with the same BLAS
 * threads): the shuffles of the epochs done are drawn again, and the CSV
 * files in --out are continued. --seed, --latent and --hidden must be the
 * checkpoint's, --batch-size and --train-limit those of the run that saved
 * it (the step count must be a whole number of epochs); --lr, if given,
 * replaces the checkpoint's learning rate.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <genmodel/genmodel.h>

#include "example_args.h"
#include "example_train.h"

#define CHECK(expr)                                                                     \
    do {                                                                                \
        gm_status st_ = (expr);                                                         \
        if (st_ != GM_OK) {                                                             \
            fprintf(stderr, "vae_fashion: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                   \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

enum { D = 784 };
static const char *const P = "vae_fashion"; /* in messages */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static gm_net *mlp(size_t in, size_t hidden, size_t out, gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    CHECK(gm_net_create(&net));
    CHECK(gm_dense_create(&l, in, hidden, GM_INIT_TORCH, rng));
    CHECK(gm_net_add(net, l));
    CHECK(gm_relu_create(&l));
    CHECK(gm_net_add(net, l));
    CHECK(gm_dense_create(&l, hidden, out, GM_INIT_TORCH, rng));
    CHECK(gm_net_add(net, l));
    return net;
}

/* A [n x 1 x 28 x 28] tensor holding images idx[0..n) of src. */
static gm_tensor *pick(const gm_tensor *src, const size_t *idx, size_t n)
{
    gm_tensor *t;
    CHECK(gm_tensor_create(&t, 4, (size_t[]){n, 1, 28, 28}));
    for (size_t i = 0; i < n; i++)
        memcpy(gm_tensor_data(t) + i * D, gm_tensor_data_const(src) + idx[i] * D,
               D * sizeof(float));
    return t;
}

/* Means of -ELBO and its reconstruction and KL terms over the whole batches
 * of 1000 of the test set. */
typedef struct {
    double nelbo, recon, kl;
} elbo_means;

static elbo_means test_elbo(gm_vae *vae, const gm_tensor *test)
{
    const size_t n = gm_tensor_dim(test, 0), bs = 1000;
    gm_tensor *x;
    CHECK(gm_tensor_create(&x, 2, (size_t[]){bs, D}));
    elbo_means m = {0, 0, 0};
    size_t seen = 0;
    for (size_t s = 0; s + bs <= n; s += bs) {
        gm_vae_stats st;
        CHECK(gm_tensor_copy_in(x, gm_tensor_data_const(test) + s * D, bs * D));
        CHECK(gm_vae_elbo(vae, x, NULL, &st));
        m.nelbo += st.loss * (double)bs;
        m.recon += st.recon * (double)bs;
        m.kl += st.kl * (double)bs;
        seen += bs;
    }
    gm_tensor_free(x);
    m.nelbo /= (double)seen;
    m.recon /= (double)seen;
    m.kl /= (double)seen;
    return m;
}

/* One epoch's order: a Fisher-Yates shuffle of `order` in place, from n
 * uniform draws of rng (u: room for n floats). */
static void shuffle(gm_rng *rng, size_t *order, float *u, size_t n)
{
    CHECK(gm_rng_uniform(rng, u, n));
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(u[i] * (float)(i + 1));
        if (j > i) j = i;
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void write_png(const char *dir, const char *name, const gm_tensor *grid, size_t rows,
                      size_t cols)
{
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) {
        fprintf(stderr, "vae_fashion: the path %s/%s is too long\n", dir, name);
        exit(1);
    }
    CHECK(gm_png_write_grid(path, grid, rows, cols, 2, 1.0f));
    printf("wrote %s\n", path);
}

static void write_raw(const char *path, const gm_tensor *t)
{
    FILE *f = fopen(path, "wb");
    size_t n = gm_tensor_numel(t);
    if (!f || fwrite(gm_tensor_data_const(t), sizeof(float), n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "vae_fashion: cannot write %s\n", path);
        exit(1);
    }
    printf("wrote %s\n", path);
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    int epochs = 10, log_every = 50;
    size_t train_limit = 0, batch = 128, latent = 20, hidden = 400;
    float lr = 1e-3f;
    const char *data = "/usr/share/datasets/fashion-mnist", *out = "out", *raw = NULL;
    const char *save = NULL, *resume = NULL;
    ex_option opts[] = {
        EX_U64("--seed", &seed, "seed of the initial weights, the shuffles and the VAE's noise"),
        EX_INT("--epochs", &epochs, 1, 100000, "train up to this epoch; with --resume, the epochs"
               " in the checkpoint count"),
        EX_SIZE("--batch-size", &batch, 1, 60000, "images per training step"),
        EX_FLOAT("--lr", &lr, 1e-7, 1, "Adam's learning rate; with --resume, the checkpoint's"
                 " unless given"),
        EX_SIZE("--latent", &latent, 1, 4096, "latent size L"),
        EX_SIZE("--hidden", &hidden, 1, 65536, "hidden units of the encoder and the decoder"),
        EX_STR("--data", &data, "DIR", "folder of the Fashion-MNIST IDX files"),
        EX_STR("--out", &out, "DIR", "folder for the pictures and the CSV files"),
        EX_SIZE("--train-limit", &train_limit, 0, 60000, "train on the first N images; 0: all"),
        EX_INT("--log-every", &log_every, 0, 1000000, "a row of vae_steps.csv every N steps; 0: none"),
        EX_STR("--samples-out", &raw, "FILE", "write the 64 final samples as raw float32"),
        EX_STR("--save", &save, "FILE", "save a checkpoint after every epoch"),
        EX_STR("--resume", &resume, "FILE", "go on from a checkpoint of --save"),
    };
    ex_parse(argc, argv, P,
             "Trains the reference VAE (784-H-2L encoder, L-H-784 Bernoulli decoder, Adam) on\n"
             "Fashion-MNIST, prints a line per epoch, writes a sample grid and CSV rows of the\n"
             "losses per epoch to --out, then samples, reconstructions, interpolations and\n"
             "inpainting. The header of examples/vae_fashion.c has the details.",
             opts, EX_COUNT(opts));
    char path[1024];
    gm_tensor *train, *test;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&train, path, train_limit));
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&test, path, 0));
    const size_t n_train = gm_tensor_dim(train, 0), steps = n_train / batch;
    if (steps == 0)
        ex_fail(P, "%zu training images make no batch of --batch-size %zu", n_train, batch);
    printf("libgenmodel %s: VAE on Fashion-MNIST (%zu train, %zu test images), seed %llu, "
           "%d BLAS threads\n",
           gm_version(), n_train, gm_tensor_dim(test, 0), seed, gm_get_num_threads());

    /* The nets are made from rng even when resuming, so that rng is where
     * a straight run's is; a checkpoint's nets must match them. */
    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_net *enc = mlp(D, hidden, 2 * latent, rng), *dec = mlp(latent, hidden, D, rng);
    gm_optimizer_options adam;
    CHECK(gm_optimizer_options_init(&adam, GM_OPT_ADAM));
    adam.lr = lr;
    gm_vae_options o;
    CHECK(gm_vae_options_init(&o));
    o.latent = latent;
    o.seed = seed;
    o.optimizer = &adam;
    gm_vae *vae;
    int done = 0; /* epochs in the checkpoint */
    if (resume) {
        CHECK(gm_vae_load(&vae, resume));
        gm_vae_options saved;
        CHECK(gm_vae_options_init(&saved));
        CHECK(gm_vae_get_options(vae, &saved));
        /* the encoder's first layer is dense 784 -> hidden */
        const size_t saved_hidden =
            gm_layer_param_count(gm_net_layer(gm_vae_encoder(vae), 0)) / (D + 1);
        if (saved.latent != latent || saved_hidden != hidden || saved.seed != seed)
            ex_fail(P, "%s was trained with --latent %zu --hidden %zu --seed %llu, not --latent "
                    "%zu --hidden %zu --seed %llu: pass those", resume, saved.latent,
                    saved_hidden, (unsigned long long)saved.seed, latent, hidden, seed);
        char flags[128];
        snprintf(flags, sizeof flags, "--hidden %zu --latent %zu", hidden, latent);
        ex_check_net(P, resume, gm_vae_encoder(vae), enc, "encoder", flags);
        ex_check_net(P, resume, gm_vae_decoder(vae), dec, "decoder", flags);
        done = ex_epochs_done(P, resume, gm_vae_step_count(vae), steps);
        if (ex_given(opts, EX_COUNT(opts), "--lr")) CHECK(gm_vae_set_lr(vae, lr));
        gm_net_free(enc);
        gm_net_free(dec);
    } else {
        CHECK(gm_vae_create(&vae, enc, dec, &o)); /* the VAE owns enc and dec now */
    }

    /* the latents of the per-epoch sample grids, from their own generator */
    gm_rng *zrng;
    gm_tensor *fixed_z, *grid64;
    CHECK(gm_rng_create(&zrng, seed ^ 0x9E3779B97F4A7C15ull));
    CHECK(gm_tensor_create(&fixed_z, 2, (size_t[]){64, latent}));
    CHECK(gm_tensor_fill_normal(fixed_z, zrng));
    CHECK(gm_tensor_create(&grid64, 4, (size_t[]){64, 1, 28, 28}));

    ex_make_dir(P, out);
    const unsigned long long resume_step = gm_vae_step_count(vae);
    snprintf(path, sizeof path, "%s/vae_epochs.csv", out);
    FILE *epoch_csv = ex_csv_open(P, path, "step,epoch,train_nelbo,train_recon,train_kl,"
                                  "test_nelbo,test_recon,test_kl,seconds", resume_step);
    snprintf(path, sizeof path, "%s/vae_steps.csv", out);
    FILE *step_csv =
        ex_csv_open(P, path, "step,epoch,train_nelbo,train_recon,train_kl", resume_step);

    gm_tensor *x;
    CHECK(gm_tensor_create(&x, 2, (size_t[]){batch, D}));
    size_t *order = malloc(n_train * sizeof *order);
    float *u = malloc(n_train * sizeof *u);
    if (!order || !u) return 1;
    for (size_t i = 0; i < n_train; i++) order[i] = i;
    for (int e = 1; e <= done; e++) shuffle(rng, order, u, n_train); /* the epochs done */
    double nelbo = 0, train_loss = NAN, total_secs = 0;
    if (done >= epochs) {
        printf("%s is at epoch %d: nothing to train for --epochs %d\n", resume, done, epochs);
        nelbo = test_elbo(vae, test).nelbo;
    }
    for (int e = done + 1; e <= epochs; e++) {
        shuffle(rng, order, u, n_train);
        double t0 = now(), sum[3] = {0, 0, 0}, part[3] = {0, 0, 0};
        for (size_t s = 0; s < steps; s++) {
            float *xd = gm_tensor_data(x);
            for (size_t i = 0; i < batch; i++)
                memcpy(xd + i * D, gm_tensor_data_const(train) + order[s * batch + i] * D,
                       D * sizeof(float));
            gm_vae_stats st;
            CHECK(gm_vae_train_step(vae, x, NULL, &st));
            const double v[3] = {st.loss, st.recon, st.kl};
            for (int k = 0; k < 3; k++) sum[k] += v[k], part[k] += v[k];
            if (log_every > 0 && ((s + 1) % (size_t)log_every == 0 || s + 1 == steps)) {
                const double n = (double)((s % (size_t)log_every) + 1);
                fprintf(step_csv, "%llu,%d,%.4f,%.4f,%.4f\n",
                        (unsigned long long)gm_vae_step_count(vae), e, part[0] / n,
                        part[1] / n, part[2] / n);
                part[0] = part[1] = part[2] = 0;
            }
        }
        double secs = now() - t0;
        total_secs += secs;
        train_loss = sum[0] / (double)steps;
        const elbo_means t = test_elbo(vae, test);
        nelbo = t.nelbo;
        printf("epoch %2d  train loss %.2f  test -ELBO %.2f nats/image  (recon %.2f + KL %.2f)  "
               "%.1f s  %.0f steps/s  step %llu\n",
               e, train_loss, nelbo, t.recon, t.kl, secs, steps / secs,
               (unsigned long long)gm_vae_step_count(vae));
        fprintf(epoch_csv, "%llu,%d,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.2f\n",
                (unsigned long long)gm_vae_step_count(vae), e, train_loss, sum[1] / (double)steps,
                sum[2] / (double)steps, t.nelbo, t.recon, t.kl, secs);
        fflush(epoch_csv);
        fflush(step_csv);
        CHECK(gm_vae_decode(vae, fixed_z, NULL, grid64));
        snprintf(path, sizeof path, "vae_samples_epoch%03d.png", e);
        write_png(out, path, grid64, 8, 8);
        if (save) {
            CHECK(gm_vae_save(vae, save));
            printf("wrote %s (epoch %d)\n", save, e);
        }
        fflush(stdout);
    }
    if (save && done >= epochs) {
        CHECK(gm_vae_save(vae, save));
        printf("wrote %s\n", save);
    }
    fclose(epoch_csv);
    fclose(step_csv);
    printf("wrote %s/vae_epochs.csv, %s/vae_steps.csv\n", out, out);

    /* IWAE estimate of -log p(x) on 1000 test images, K = 50 */
    gm_tensor *t1000;
    CHECK(gm_tensor_create(&t1000, 2, (size_t[]){1000, D}));
    CHECK(gm_tensor_copy_in(t1000, gm_tensor_data_const(test), 1000 * D));
    float iwae;
    CHECK(gm_vae_iwae(vae, t1000, NULL, 50, &iwae));

    /* 64 samples */
    gm_tensor *samples;
    CHECK(gm_tensor_create(&samples, 4, (size_t[]){64, 1, 28, 28}));
    CHECK(gm_vae_sample(vae, 64, NULL, samples));
    write_png(out, "samples.png", samples, 8, 8);
    if (raw) write_raw(raw, samples);

    /* reconstructions: rows of 8 originals over their reconstructions */
    size_t idx[32];
    for (size_t i = 0; i < 32; i++) idx[i] = i * 37;
    gm_tensor *orig = pick(test, idx, 32), *rec, *grid;
    CHECK(gm_tensor_create(&rec, 4, (size_t[]){32, 1, 28, 28}));
    CHECK(gm_vae_reconstruct(vae, orig, NULL, rec));
    CHECK(gm_tensor_create(&grid, 4, (size_t[]){64, 1, 28, 28}));
    for (size_t r = 0; r < 4; r++)
        for (size_t c = 0; c < 8; c++) {
            memcpy(gm_tensor_data(grid) + ((2 * r) * 8 + c) * D,
                   gm_tensor_data(orig) + (r * 8 + c) * D, D * sizeof(float));
            memcpy(gm_tensor_data(grid) + ((2 * r + 1) * 8 + c) * D,
                   gm_tensor_data(rec) + (r * 8 + c) * D, D * sizeof(float));
        }
    write_png(out, "reconstructions.png", grid, 8, 8);

    /* interpolation: 6 pairs of test images, 10 steps each */
    gm_tensor *line, *interp;
    CHECK(gm_tensor_create(&line, 4, (size_t[]){10, 1, 28, 28}));
    CHECK(gm_tensor_create(&interp, 4, (size_t[]){60, 1, 28, 28}));
    for (size_t p = 0; p < 6; p++) {
        size_t a = p * 101 + 3, b = p * 211 + 50;
        gm_tensor *xa = pick(test, &a, 1), *xb = pick(test, &b, 1);
        CHECK(gm_vae_interpolate(vae, xa, xb, NULL, line));
        memcpy(gm_tensor_data(interp) + p * 10 * D, gm_tensor_data(line), 10 * D * sizeof(float));
        gm_tensor_free(xa);
        gm_tensor_free(xb);
    }
    write_png(out, "interpolation.png", interp, 6, 10);

    /* inpainting: 8 images with the bottom half, 8 with the centre missing;
     * rows: originals, damaged (missing shown grey), repaired */
    gm_tensor *truth = pick(test, idx, 16), *mask, *damaged, *repaired, *ip;
    CHECK(gm_tensor_create(&mask, 4, (size_t[]){16, 1, 28, 28}));
    CHECK(gm_tensor_create(&damaged, 4, (size_t[]){16, 1, 28, 28}));
    CHECK(gm_tensor_create(&repaired, 4, (size_t[]){16, 1, 28, 28}));
    float *m = gm_tensor_data(mask);
    for (size_t i = 0; i < 16; i++)
        for (size_t r = 0; r < 28; r++)
            for (size_t c = 0; c < 28; c++) {
                int missing = i < 8 ? r >= 14 : (r >= 7 && r < 21 && c >= 7 && c < 21);
                m[i * D + r * 28 + c] = missing ? 0.0f : 1.0f;
            }
    for (size_t k = 0; k < 16 * D; k++)
        gm_tensor_data(damaged)[k] = m[k] != 0.0f ? gm_tensor_data(truth)[k] : 0.5f;
    CHECK(gm_vae_inpaint(vae, truth, mask, 100, repaired));
    double err_model = 0, err_mean = 0;
    size_t n_missing = 0;
    {
        /* compare with filling the missing pixels by the mean training image */
        float *mean_img = calloc(D, sizeof(float));
        for (size_t i = 0; i < n_train; i++)
            for (size_t k = 0; k < D; k++) mean_img[k] += gm_tensor_data_const(train)[i * D + k];
        for (size_t k = 0; k < D; k++) mean_img[k] /= (float)n_train;
        for (size_t k = 0; k < 16 * D; k++)
            if (m[k] == 0.0f) {
                double t = gm_tensor_data(truth)[k];
                err_model += (gm_tensor_data(repaired)[k] - t) * (gm_tensor_data(repaired)[k] - t);
                err_mean += (mean_img[k % D] - t) * (mean_img[k % D] - t);
                n_missing++;
            }
        free(mean_img);
    }
    CHECK(gm_tensor_create(&ip, 4, (size_t[]){48, 1, 28, 28}));
    memcpy(gm_tensor_data(ip), gm_tensor_data(truth), 16 * D * sizeof(float));
    memcpy(gm_tensor_data(ip) + 16 * D, gm_tensor_data(damaged), 16 * D * sizeof(float));
    memcpy(gm_tensor_data(ip) + 32 * D, gm_tensor_data(repaired), 16 * D * sizeof(float));
    write_png(out, "inpainting.png", ip, 6, 8);

    printf("epochs=%d seed=%llu train_loss=%.3f test_nelbo=%.3f test_iwae50_nll=%.3f "
           "inpaint_mse=%.5f meanfill_mse=%.5f train_seconds=%.1f steps_per_second=%.1f\n",
           epochs, seed, train_loss, nelbo, iwae, err_model / (double)n_missing,
           err_mean / (double)n_missing, total_secs,
           total_secs > 0 ? (epochs - done) * steps / total_secs : 0.0);

    gm_tensor_free(ip);
    gm_tensor_free(mask);
    gm_tensor_free(damaged);
    gm_tensor_free(repaired);
    gm_tensor_free(truth);
    gm_tensor_free(line);
    gm_tensor_free(interp);
    gm_tensor_free(orig);
    gm_tensor_free(rec);
    gm_tensor_free(grid);
    gm_tensor_free(samples);
    gm_tensor_free(t1000);
    gm_tensor_free(x);
    gm_tensor_free(fixed_z);
    gm_tensor_free(grid64);
    gm_tensor_free(train);
    gm_tensor_free(test);
    gm_vae_free(vae);
    gm_rng_free(rng);
    gm_rng_free(zrng);
    free(order);
    free(u);
    return 0;
}
