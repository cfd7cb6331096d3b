/* SPDX-License-Identifier: MIT */
/*
 * evaluate: how close a trained VAE's and DCGAN's samples are to the
 * Fashion-MNIST test images, and how diverse they are, next to reference
 * rows that bracket what a model can score.
 *
 *   evaluate [--data DIR] [--features FILE] [--vae FILE] [--gan FILE]
 *            [--n N] [--nearest N] [--k K] [--iwae-n N] [--iwae-k K]
 *            [--seed N] [--check] [--gan-raw] [--truncation T]
 *                                              (--help: each option and its default)
 *
 * Loads the feature net saved by train_features (default
 * out/features.gmck), the VAE saved by `vae_fashion --save` (out/vae.gmck)
 * and the GAN saved by `dcgan_fashion --save` (out/dcgan.gmck); a missing
 * model file skips its row. Each row is one gm_eval_images report of N
 * images (default 5000) against the first N test images:
 *   train images        N training images: the best a model can do
 *   train, classes 0-4  N training images of 5 of the 10 classes: a model
 *                       that dropped modes (recall falls, precision not)
 *   VAE                 N samples (the decoder's Bernoulli means)
 *   DCGAN               N samples, tanh's [-1, 1] mapped back to [0, 1]
 *                       (from the moving-average generator if the GAN has
 *                       one, unless --gan-raw)
 *   DCGAN, |z| <= T     the same GAN sampled with its latents cut to
 *                       [-T, T] (--truncation, default 1.2: the demo's;
 *                       gm_gan_set_truncation), trading recall for
 *                       precision; --truncation 0 leaves the row out
 *   mean image          N copies of the mean training image: a bad model
 *   uniform noise       N images of uniform noise: a bad model
 * Columns: the Fréchet distance of the features, k-NN precision and recall
 * and density and coverage (k = 3, all on the same k-NN balls; precision
 * calls a model perfect whose samples are all one point inside a real
 * ball, coverage counts the real balls it reaches), the memorization check
 * (each of the first --nearest samples' distance to its nearest training
 * image in pixel space: mean, 5% quantile and minimum), and for the VAE
 * its IWAE estimate of -log p(x) on the first --iwae-n test images. The
 * reference rows take their images from the first 20000 training images
 * and the memorization check searches the other 40000, so that a reference
 * image is never compared with itself.
 * --check exits 1 unless the VAE's and the DCGAN's (both rows) Fréchet
 * distances lie between the best reference and the two bad ones.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <genmodel/genmodel.h>

#include "example_args.h"
#include "example_eval.h"

#define CHECK(expr)                                                                  \
    do {                                                                             \
        gm_status st_ = (expr);                                                      \
        if (st_ != GM_OK) {                                                          \
            fprintf(stderr, "evaluate: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                \
            exit(1);                                                                 \
        }                                                                            \
    } while (0)

enum { D = 784, POOL = 20000 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static gm_tensor *images(size_t n)
{
    gm_tensor *t;
    CHECK(gm_tensor_create(&t, 4, (size_t[]){n, 1, 28, 28}));
    return t;
}

/* A view of rows [first, first + n) of an image tensor (no copy). */
static gm_tensor *rows(gm_tensor *src, size_t first, size_t n)
{
    gm_tensor *t;
    CHECK(gm_tensor_wrap(&t, 4, (size_t[]){n, 1, 28, 28}, gm_tensor_data(src) + first * D));
    return t;
}

int main(int argc, char **argv)
{
    const char *data = "/usr/share/datasets/fashion-mnist", *features = "out/features.gmck";
    const char *vae_path = "out/vae.gmck", *gan_path = "out/dcgan.gmck";
    size_t n = 5000, nearest = 1000, k = 3, iwae_n = 1000, iwae_k = 50;
    unsigned long long seed = 1;
    int check = 0, gan_raw = 0;
    float truncation = 1.2f;
    ex_option opts[] = {
        EX_STR("--data", &data, "DIR", "folder of the Fashion-MNIST IDX files"),
        EX_STR("--features", &features, "FILE",
               "the feature net saved by train_features"),
        EX_STR("--vae", &vae_path, "FILE",
               "the VAE saved by `vae_fashion --save`; if missing, its row is skipped"),
        EX_STR("--gan", &gan_path, "FILE",
               "the GAN saved by `dcgan_fashion --save`; if missing, its row is skipped"),
        EX_FLAG("--gan-raw", &gan_raw,
                "sample the GAN's own generator weights, not their moving average "
                "(for a GAN trained with --ema)"),
        EX_FLOAT("--truncation", &truncation, 0, 1e6,
                 "a second DCGAN row with latents cut to [-T, T] (gm_gan_set_truncation: "
                 "precision for recall); 0: none"),
        EX_SIZE("--n", &n, 1, POOL / 2,
                "images per row, against the first N test images (more than --k)"),
        EX_SIZE("--nearest", &nearest, 0, POOL / 2,
                "memorization check on the first N samples of a row; 0: all"),
        EX_SIZE("--k", &k, 1, POOL / 2 - 1,
                "neighbours of precision/recall and density/coverage"),
        EX_SIZE("--iwae-n", &iwae_n, 0, 10000,
                "the VAE's IWAE estimate on the first N test images; 0: all"),
        EX_SIZE("--iwae-k", &iwae_k, 1, 100000, "importance samples of the IWAE estimate"),
        EX_U64("--seed", &seed, "seed of the uniform noise row"),
        EX_FLAG("--check", &check,
                "exit 1 unless the VAE's and the DCGAN's Frechet distances lie between the "
                "best reference row and the bad ones"),
    };
    const char *about =
        "How close a trained VAE's and DCGAN's samples are to the Fashion-MNIST test\n"
        "images (Frechet distance of classifier features, k-NN precision, recall,\n"
        "density and coverage, nearest training image, the VAE's IWAE -log p(x)),\n"
        "next to reference rows: training images, training images of 5 classes,\n"
        "the mean image and uniform noise.";
    ex_parse(argc, argv, "evaluate", about, opts, EX_COUNT(opts));
    if (n <= k) { /* each set needs k + 1 images for its k-NN balls */
        fprintf(stderr, "evaluate: --n (%zu) must be more than --k (%zu)\n\n", n, k);
        ex_print_help(stderr, "evaluate", about, opts, EX_COUNT(opts));
        return 2;
    }
    if (truncation > 0.0f && truncation < GM_TRUNCATION_MIN) {
        fprintf(stderr, "evaluate: --truncation %g: 0 or at least %g\n\n", (double)truncation,
                (double)GM_TRUNCATION_MIN);
        ex_print_help(stderr, "evaluate", about, opts, EX_COUNT(opts));
        return 2;
    }
    const double t_start = now();
    char path[1024];
    gm_tensor *train, *test;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&train, path, 0));
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&test, path, 0));
    const size_t n_train = gm_tensor_dim(train, 0), n_test = gm_tensor_dim(test, 0);
    snprintf(path, sizeof path, "%s/train-labels-idx1-ubyte.gz", data);
    int32_t *labels = malloc(n_train * sizeof *labels);
    size_t n_labels;
    if (labels == NULL) return 1;
    CHECK(gm_idx_load_labels(path, n_train, labels, n_train, &n_labels));
    if (n > n_test || n > POOL / 2 || n_train < 2 * POOL || n_labels != n_train) {
        fprintf(stderr, "evaluate: --n must be at most %d and the test set's %zu images "
                        "(and the training set must hold %d images)\n",
                POOL / 2, n_test, 2 * POOL);
        return 2;
    }
    gm_net *fnet;
    CHECK(gm_net_load(&fnet, features));
    printf("libgenmodel %s: evaluation on Fashion-MNIST, %zu images per row against the first "
           "%zu test images, features from %s (%zu parameters)\n",
           gm_version(), n, n, features, gm_net_param_count(fnet));

    gm_eval_options o;
    CHECK(gm_eval_options_init(&o));
    o.k = k;
    o.nearest_max = nearest;
    o.iwae_k = iwae_k;
    o.iwae_max = iwae_n;
    gm_tensor *real = rows(test, 0, n);
    gm_tensor *memo = rows(train, POOL, n_train - POOL); /* the memorization check's set */

    char trunc_name[32];
    snprintf(trunc_name, sizeof trunc_name, "DCGAN, |z| <= %g", (double)truncation);
    row table[7] = {{"train images", GM_EVAL_REPORT_INIT, 0},
                    {"train, classes 0-4", GM_EVAL_REPORT_INIT, 0},
                    {"VAE", GM_EVAL_REPORT_INIT, 0},
                    {"DCGAN", GM_EVAL_REPORT_INIT, 0},
                    {"mean image", GM_EVAL_REPORT_INIT, 0},
                    {"uniform noise", GM_EVAL_REPORT_INIT, 0},
                    {trunc_name, GM_EVAL_REPORT_INIT, 0}};
    const int rows_n = truncation > 0.0f ? 7 : 6;
    gm_tensor *s = images(n);
    float *sd = gm_tensor_data(s);
    for (int r = 0; r < rows_n; r++) {
        const double t0 = now();
        gm_vae *vae = NULL;
        gm_gan *gan = NULL;
        if (r == 0) {
            memcpy(sd, gm_tensor_data(train), n * D * sizeof(float));
        } else if (r == 1) {
            size_t got = 0;
            for (size_t i = 0; i < POOL && got < n; i++)
                if (labels[i] < 5)
                    memcpy(sd + got++ * D, gm_tensor_data(train) + i * D, D * sizeof(float));
            if (got < n) {
                fprintf(stderr, "evaluate: only %zu images of classes 0-4\n", got);
                return 1;
            }
        } else if (r == 2) {
            if (!exists(vae_path)) {
                printf("(%s not found: run `vae_fashion --save %s` for the VAE row)\n", vae_path,
                       vae_path);
                continue;
            }
            CHECK(gm_vae_load(&vae, vae_path));
            CHECK(gm_vae_sample(vae, n, NULL, s));
        } else if (r == 3 || r == 6) {
            if (!exists(gan_path)) {
                if (r == 3)
                    printf("(%s not found: run `dcgan_fashion --save %s` for the DCGAN rows)\n",
                           gan_path, gan_path);
                continue;
            }
            CHECK(gm_gan_load(&gan, gan_path));
            gm_gan_options go;
            CHECK(gm_gan_options_init(&go));
            CHECK(gm_gan_get_options(gan, &go));
            if (gan_raw && go.ema_decay > 0.0f) CHECK(gm_gan_use_ema(gan, 0));
            if (r == 6) CHECK(gm_gan_set_truncation(gan, truncation));
            CHECK(gm_gan_sample(gan, n, NULL, s));
            /* tanh's [-1, 1] -> [0, 1] */
            for (size_t i = 0; i < n * D; i++) sd[i] = 0.5f * (sd[i] + 1.0f);
        } else if (r == 4) {
            float *mean = calloc(D, sizeof *mean);
            if (mean == NULL) return 1;
            const float *td = gm_tensor_data(train);
            for (size_t i = 0; i < n_train; i++)
                for (size_t j = 0; j < D; j++) mean[j] += td[i * D + j];
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < D; j++) sd[i * D + j] = mean[j] / (float)n_train;
            free(mean);
        } else {
            gm_rng *rng;
            CHECK(gm_rng_create(&rng, seed));
            CHECK(gm_tensor_fill_uniform(s, rng));
            gm_rng_free(rng);
        }
        CHECK(gm_eval_images(&table[r].r, fnet, s, real, memo, vae, &o));
        table[r].done = 1;
        printf("  %-19s evaluated in %.1f s\n", table[r].name, now() - t0);
        fflush(stdout);
        gm_vae_free(vae);
        gm_gan_free(gan);
    }

    /* the truncated DCGAN row under the plain one */
    const row shown[7] = {table[0], table[1], table[2], table[3], table[6], table[4], table[5]};
    print_table(rows_n == 7 ? shown : table, rows_n);
    printf("(Frechet distance of %zu-d classifier features, k = %zu; NN: pixel-space distance of "
           "the first %zu images to the nearest of %zu training images; IWAE with K = %zu on %zu "
           "test images, nats)\n",
           table[0].r.feature_dim, k, table[0].r.n_nearest, n_train - POOL, iwae_k,
           iwae_n < n_test ? iwae_n : n_test);

    /* do the models land between the references? */
    const int between = print_between(table, rows_n);
    printf("n=%zu k=%zu seconds=%.1f", n, k, now() - t_start);
    const char *keys[7] = {"train", "train5", "vae", "dcgan", "mean", "noise", "dcgan_trunc"};
    print_keys(table, keys, rows_n);
    printf("\n");

    gm_tensor_free(s);
    gm_tensor_free(real);
    gm_tensor_free(memo);
    gm_tensor_free(train);
    gm_tensor_free(test);
    gm_net_free(fnet);
    free(labels);
    return check && !between ? 1 : 0;
}
