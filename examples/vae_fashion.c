/*
 * vae_fashion: the reference VAE recipe on Fashion-MNIST.
 *
 *   vae_fashion [--seed N] [--epochs N] [--data DIR] [--out DIR] [--train-limit N]
 *               [--samples-out FILE] [--save FILE]
 *
 * Encoder 784-400 ReLU, 400-40 (mu, logvar); decoder 20-400 ReLU, 400-784
 * logits; Bernoulli likelihood; Adam lr 1e-3; batch 128. Prints a line per
 * epoch and a last line of key=value pairs, and writes PNGs to --out:
 * samples.png, reconstructions.png, interpolation.png, inpainting.png.
 * --samples-out writes the 64 samples' raw float32 values (host order), so
 * the Python, Rust and C++ versions can be compared with this one bit for bit.
 * --save writes the trained VAE as a checkpoint (gm_vae_save), e.g. for
 * examples/evaluate.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <genmodel/genmodel.h>

#define CHECK(expr)                                                                     \
    do {                                                                                \
        gm_status st_ = (expr);                                                         \
        if (st_ != GM_OK) {                                                             \
            fprintf(stderr, "vae_fashion: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                   \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

enum { D = 784, H = 400, L = 20, B = 128 };

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

/* Mean negative ELBO over the test set, in batches of 1000. */
static double test_nelbo(gm_vae *vae, const gm_tensor *test)
{
    const size_t n = gm_tensor_dim(test, 0), bs = 1000;
    gm_tensor *x;
    CHECK(gm_tensor_create(&x, 2, (size_t[]){bs, D}));
    double sum = 0;
    size_t seen = 0;
    for (size_t s = 0; s + bs <= n; s += bs) {
        gm_vae_stats st;
        CHECK(gm_tensor_copy_in(x, gm_tensor_data_const(test) + s * D, bs * D));
        CHECK(gm_vae_elbo(vae, x, NULL, &st));
        sum += st.loss * (double)bs;
        seen += bs;
    }
    gm_tensor_free(x);
    return sum / (double)seen;
}

static void write_png(const char *dir, const char *name, const gm_tensor *grid, size_t rows,
                      size_t cols)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
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
    int epochs = 10;
    size_t train_limit = 0;
    const char *data = "/usr/share/datasets/fashion-mnist", *out = "out", *raw = NULL;
    const char *save = NULL;
    for (int i = 1; i + 1 < argc + 1; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--epochs") == 0) epochs = atoi(v), i++;
        else if (v && strcmp(a, "--data") == 0) data = v, i++;
        else if (v && strcmp(a, "--out") == 0) out = v, i++;
        else if (v && strcmp(a, "--train-limit") == 0) train_limit = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--samples-out") == 0) raw = v, i++;
        else if (v && strcmp(a, "--save") == 0) save = v, i++;
        else {
            fprintf(stderr, "usage: vae_fashion [--seed N] [--epochs N] [--data DIR] "
                            "[--out DIR] [--train-limit N] [--samples-out FILE] [--save FILE]\n");
            return 2;
        }
    }
    if (epochs < 1) epochs = 1;
    char path[1024];
    gm_tensor *train, *test;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&train, path, train_limit));
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&test, path, 0));
    const size_t n_train = gm_tensor_dim(train, 0), steps = n_train / B;
    printf("libgenmodel %s: VAE on Fashion-MNIST (%zu train, %zu test images), seed %llu, "
           "%d BLAS threads\n",
           gm_version(), n_train, gm_tensor_dim(test, 0), seed, gm_get_num_threads());

    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_net *enc = mlp(D, H, 2 * L, rng), *dec = mlp(L, H, D, rng);
    gm_vae_options o;
    CHECK(gm_vae_options_init(&o));
    o.latent = L;
    o.seed = seed;
    gm_vae *vae;
    CHECK(gm_vae_create(&vae, enc, dec, &o)); /* the VAE owns enc and dec now */

    gm_tensor *x;
    CHECK(gm_tensor_create(&x, 2, (size_t[]){B, D}));
    size_t *order = malloc(n_train * sizeof *order);
    float *u = malloc(n_train * sizeof *u);
    if (!order || !u) return 1;
    for (size_t i = 0; i < n_train; i++) order[i] = i;
    double nelbo = 0, train_loss = 0, total_secs = 0;
    for (int e = 1; e <= epochs; e++) {
        CHECK(gm_rng_uniform(rng, u, n_train));
        for (size_t i = n_train - 1; i > 0; i--) { /* Fisher-Yates */
            size_t j = (size_t)(u[i] * (float)(i + 1));
            if (j > i) j = i;
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double t0 = now(), sum = 0;
        for (size_t s = 0; s < steps; s++) {
            float *xd = gm_tensor_data(x);
            for (size_t i = 0; i < B; i++)
                memcpy(xd + i * D, gm_tensor_data_const(train) + order[s * B + i] * D,
                       D * sizeof(float));
            gm_vae_stats st;
            CHECK(gm_vae_train_step(vae, x, NULL, &st));
            sum += st.loss;
        }
        double secs = now() - t0;
        total_secs += secs;
        train_loss = sum / (double)steps;
        nelbo = test_nelbo(vae, test);
        printf("epoch %2d  train loss %.2f  test -ELBO %.2f nats/image  %.1f s  %.0f steps/s\n", e,
               train_loss, nelbo, secs, steps / secs);
        fflush(stdout);
    }

    /* IWAE estimate of -log p(x) on 1000 test images, K = 50 */
    gm_tensor *t1000;
    CHECK(gm_tensor_create(&t1000, 2, (size_t[]){1000, D}));
    CHECK(gm_tensor_copy_in(t1000, gm_tensor_data_const(test), 1000 * D));
    float iwae;
    CHECK(gm_vae_iwae(vae, t1000, NULL, 50, &iwae));

    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "vae_fashion: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }

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
           err_mean / (double)n_missing, total_secs, epochs * steps / total_secs);
    if (save) {
        CHECK(gm_vae_save(vae, save));
        printf("wrote %s\n", save);
    }

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
    gm_tensor_free(train);
    gm_tensor_free(test);
    gm_vae_free(vae);
    gm_rng_free(rng);
    free(order);
    free(u);
    return 0;
}
