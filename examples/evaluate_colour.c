/* SPDX-License-Identifier: MIT */
/*
 * evaluate_colour: the evaluation of examples/evaluate.c for the colour
 * models of vae_colour and dcgan_colour, on a folder of images whose
 * sub-folders are classes (e.g. the 9 emoji groups of
 * scripts/emoji_dataset.sh, or its 2 --faces groups).
 *
 *   evaluate_colour --data DIR [--features FILE] [--vae FILE] [--gan FILE]
 *                   [options]            (--help: each option and default)
 *
 * The folder is loaded and split as the colour examples do (every 10th
 * image held out). The feature net: --features FILE is loaded if it exists;
 * otherwise it is trained on the training split of --feature-data (default
 * --data) with the sub-folders as labels, and saved to FILE:
 *   conv 3->W k4 s2 p1, ReLU ... down to 8 x 8 (example_colour.h's exc_down
 *   with --feature-width W), dense -> 128, ReLU (the features);
 *   head: dropout 0.3, dense 128 -> classes; softmax cross-entropy, Adam
 *   1e-3, batch 64, random flips, --feature-epochs epochs
 * (its held-out accuracy is printed; --min-accuracy fails the run below it).
 * Each row is one gm_eval_images report of N images against the N held-out
 * images (N = their count):
 *   train images        N training images: the best a model can do
 *   train, half classes N training images of the first half of the classes
 *                       (classes 0 .. ceil(C/2) - 1): a model that dropped modes
 *   VAE, DCGAN          N samples of the models (--vae, --gan; a missing
 *                       file skips its row; DCGAN's [-1, 1] mapped to [0, 1])
 *   mean image          N copies of the mean training image
 *   uniform noise       N images of uniform noise
 * The reference rows take their images from the first half of the training
 * split (shuffled with --seed + 1: the loader's order is by class); the memorization check (pixel-space distance of the first
 * --nearest samples to the nearest training image) searches the other
 * half. --check exits 1 unless the models' Fréchet distances lie between
 * the best reference and the two bad ones.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/genmodel.h>

#include "example_args.h"
#include "example_colour.h"
#include "example_eval.h"
#include "example_train.h"

static const char *const P = "evaluate_colour"; /* in messages */
#define CHECK(expr) EXC_CHECK(P, expr)

enum { F = 128, B = 64 };

/* Held-out accuracy of feat + head (evaluation mode). */
static double accuracy(gm_net *feat, gm_net *head, const gm_image_set *set, const size_t *idx,
                       size_t n)
{
    const int32_t *lab = gm_image_set_labels(set);
    const size_t c = gm_image_set_num_classes(set);
    size_t correct = 0;
    CHECK(gm_net_set_training(feat, 0));
    CHECK(gm_net_set_training(head, 0));
    for (size_t a = 0; a < n; a += B) {
        const size_t m = n - a < B ? n - a : B;
        gm_tensor *x = exc_pick(P, set, idx + a, m, GM_IMAGE_RANGE_UNIT), *h, *y;
        CHECK(gm_tensor_create(&h, 2, (size_t[]){m, F}));
        CHECK(gm_tensor_create(&y, 2, (size_t[]){m, c}));
        CHECK(gm_net_forward(feat, x, h));
        CHECK(gm_net_forward(head, h, y));
        for (size_t i = 0; i < m; i++) {
            const float *yi = gm_tensor_data(y) + i * c;
            size_t best = 0;
            for (size_t k = 1; k < c; k++)
                if (yi[k] > yi[best]) best = k;
            correct += (int32_t)best == lab[idx[a + i]];
        }
        gm_tensor_free(x);
        gm_tensor_free(h);
        gm_tensor_free(y);
    }
    CHECK(gm_net_set_training(feat, 1));
    CHECK(gm_net_set_training(head, 1));
    return (double)correct / (double)n;
}

/* Trains the feature net on the labelled folder `dir`, saves it to `out`. */
static void train_features(const char *dir, const char *out, size_t side, size_t width,
                           int epochs, unsigned long long seed, double min_acc)
{
    gm_image_set *set = exc_load(P, dir, side, 1, 0);
    const size_t c = gm_image_set_num_classes(set);
    if (c < 2) ex_fail(P, "%s has %zu sub-folders: the feature net needs 2 or more classes", dir, c);
    size_t *train, *held, n_train, n_held;
    exc_split(P, set, &train, &n_train, &held, &n_held);
    if (n_train < B) ex_fail(P, "%s: %zu training images, fewer than a batch of %d", dir, n_train, B);
    gm_rng *rng, *flip;
    CHECK(gm_rng_create(&rng, seed));
    CHECK(gm_rng_create(&flip, seed + 7));
    gm_net *feat, *head;
    gm_layer *l;
    CHECK(gm_net_create(&feat));
    exc_down(P, feat, exc_levels(side), width, 0, 0, F, rng);
    CHECK(gm_relu_create(&l));
    CHECK(gm_net_add(feat, l));
    CHECK(gm_net_create(&head));
    CHECK(gm_dropout_create(&l, 0.3f, seed));
    CHECK(gm_net_add(head, l));
    CHECK(gm_dense_create(&l, F, c, GM_INIT_XAVIER, rng));
    CHECK(gm_net_add(head, l));
    gm_optimizer *of, *oh;
    CHECK(gm_optimizer_create(&of, feat, NULL)); /* Adam, lr 1e-3 */
    CHECK(gm_optimizer_create(&oh, head, NULL));
    gm_tensor *x, *h, *gh, *y, *gy;
    CHECK(gm_tensor_create(&x, 4, (size_t[]){B, 3, side, side}));
    CHECK(gm_tensor_create(&h, 2, (size_t[]){B, F}));
    CHECK(gm_tensor_create(&gh, 2, (size_t[]){B, F}));
    CHECK(gm_tensor_create(&y, 2, (size_t[]){B, c}));
    CHECK(gm_tensor_create(&gy, 2, (size_t[]){B, c}));
    float *u = exc_alloc(P, n_train, sizeof *u);
    int32_t labels[B];
    const int32_t *lab = gm_image_set_labels(set);
    double acc = 0;
    const double t0 = exc_now();
    for (int e = 1; e <= epochs; e++) {
        exc_shuffle(P, rng, train, u, n_train);
        double sum = 0;
        for (size_t s = 0; s + B <= n_train; s += B) {
            float loss;
            for (size_t i = 0; i < B; i++) labels[i] = lab[train[s + i]];
            CHECK(gm_image_set_batch(set, train + s, B, GM_IMAGE_RANGE_UNIT, flip, x));
            CHECK(gm_net_zero_grad(feat));
            CHECK(gm_net_zero_grad(head));
            CHECK(gm_net_forward(feat, x, h));
            CHECK(gm_net_forward(head, h, y));
            CHECK(gm_loss_softmax_xent(y, labels, B, GM_REDUCE_MEAN, &loss, gy, NULL));
            CHECK(gm_net_backward(head, gy, gh));
            CHECK(gm_net_backward(feat, gh, NULL));
            CHECK(gm_optimizer_step(oh, head));
            CHECK(gm_optimizer_step(of, feat));
            sum += loss;
        }
        acc = accuracy(feat, head, set, held, n_held);
        printf("features epoch %d: train loss %.4f, held-out accuracy %.4f (%zu images, %zu "
               "classes)\n", e, sum / (double)(n_train / B), acc, n_held, c);
        fflush(stdout);
    }
    CHECK(gm_net_set_training(feat, 0));
    CHECK(gm_net_save(feat, out));
    printf("wrote %s: feature net, held-out accuracy %.4f, %.1f s\n", out, acc, exc_now() - t0);
    free(u);
    free(train);
    free(held);
    gm_tensor *ts[] = {x, h, gh, y, gy};
    for (size_t i = 0; i < 5; i++) gm_tensor_free(ts[i]);
    gm_optimizer_free(of);
    gm_optimizer_free(oh);
    gm_net_free(feat);
    gm_net_free(head);
    gm_rng_free(rng);
    gm_rng_free(flip);
    gm_image_set_free(set);
    if (acc < min_acc) ex_fail(P, "the feature net's held-out accuracy %.4f is below %.2f", acc,
                               min_acc);
}

int main(int argc, char **argv)
{
    const char *data = NULL, *fdata = NULL, *features = "out/features_colour.gmck";
    const char *vae_path = "out/vae_colour.gmck", *gan_path = "out/dcgan_colour.gmck";
    size_t side = 32, fwidth = 32, nearest = 200, k = 3, iwae_k = 0;
    int fepochs = 15, check = 0;
    unsigned long long seed = 1;
    double min_acc = 0;
    ex_option opts[] = {
        EX_STR("--data", &data, "DIR", "folder of images, sub-folders as classes; required"),
        EX_SIZE("--side", &side, 16, 128, "SIDE x SIDE images, the models' --side"),
        EX_STR("--features", &features, "FILE",
               "the feature net; trained and saved here if the file does not exist"),
        EX_STR("--feature-data", &fdata, "DIR",
               "labelled folder the feature net is trained on; none: --data"),
        EX_SIZE("--feature-width", &fwidth, 1, 1024, "channels of the feature net's first conv"),
        EX_INT("--feature-epochs", &fepochs, 1, 100000, "the feature net's epochs"),
        EX_DOUBLE("--min-accuracy", &min_acc, 0, 1,
                  "exit 1 if a newly trained feature net's held-out accuracy is below"),
        EX_STR("--vae", &vae_path, "FILE", "the VAE of `vae_colour --save`; missing: no row"),
        EX_STR("--gan", &gan_path, "FILE", "the GAN of `dcgan_colour --save`; missing: no row"),
        EX_SIZE("--nearest", &nearest, 0, 100000, "samples in the memorization check"),
        EX_SIZE("--k", &k, 1, 1000, "neighbours of the k-NN balls"),
        EX_SIZE("--iwae-k", &iwae_k, 0, 100000,
                "importance samples of the VAE's IWAE -log p(x) on the held-out images; 0: none"),
        EX_U64("--seed", &seed, "seed of the feature net's training and of the noise row"),
        EX_FLAG("--check", &check, "exit 1 unless the models lie between the references"),
    };
    ex_parse(argc, argv, P,
             "Evaluates colour VAE and DCGAN checkpoints against the held-out images of a\n"
             "labelled image folder (Frechet distance of classifier features, precision,\n"
             "recall, density, coverage, nearest training image), next to reference rows:\n"
             "training images, training images of half the classes, the mean image, noise.\n"
             "The header of examples/evaluate_colour.c has the details.",
             opts, EX_COUNT(opts));
    if (data == NULL) ex_fail(P, "--data DIR is required (a folder with a sub-folder per class)");
    if (exc_levels(side) == 0) ex_fail(P, "--side %zu: use 16, 32, 64 or 128", side);
    const double t_start = exc_now();
    if (!exists(features))
        train_features(fdata ? fdata : data, features, side, fwidth, fepochs, seed, min_acc);
    gm_net *fnet;
    CHECK(gm_net_load(&fnet, features));

    gm_image_set *set = exc_load(P, data, side, 1, 0);
    size_t *train, *held, n_train, n_held;
    exc_split(P, set, &train, &n_train, &held, &n_held);
    const size_t n = n_held, D = 3 * side * side, c = gm_image_set_num_classes(set);
    const size_t pool = n_train / 2; /* reference rows from train[0, pool), memo the rest */
    { /* the training images in a random order (the loader's is by folder, so by class) */
        gm_rng *rng;
        float *u = exc_alloc(P, n_train, sizeof *u);
        CHECK(gm_rng_create(&rng, seed + 1));
        exc_shuffle(P, rng, train, u, n_train);
        gm_rng_free(rng);
        free(u);
    }
    if (n <= k || pool < n || n_train - pool < 1)
        ex_fail(P, "%s: %zu held-out and %zu training images are too few for --k %zu", data, n,
                n_train, k);
    printf("libgenmodel %s: colour evaluation on %s, %zu images per row against the %zu held-out "
           "images, features from %s (%zu parameters)\n",
           gm_version(), data, n, n, features, gm_net_param_count(fnet));
    gm_eval_options o;
    CHECK(gm_eval_options_init(&o));
    o.k = k;
    o.nearest_max = nearest < n ? nearest : n;
    o.iwae_k = iwae_k ? iwae_k : 1;
    o.iwae_max = iwae_k ? n : 0;
    if (o.batch > n) o.batch = n;
    gm_tensor *real = exc_pick(P, set, held, n, GM_IMAGE_RANGE_UNIT);
    gm_tensor *memo = exc_pick(P, set, train + pool, n_train - pool, GM_IMAGE_RANGE_UNIT);

    /* the half-class row's images, in training order */
    const int32_t *lab = gm_image_set_labels(set);
    const int32_t half = (int32_t)((c + 1) / 2);
    size_t *halfidx = exc_alloc(P, n, sizeof *halfidx), got = 0;
    for (size_t i = 0; i < pool && got < n; i++)
        if (lab[train[i]] < half) halfidx[got++] = train[i];
    char half_name[32];
    snprintf(half_name, sizeof half_name, "train, classes 0-%d", half - 1);

    row table[6] = {{"train images", GM_EVAL_REPORT_INIT, 0}, {half_name, GM_EVAL_REPORT_INIT, 0},
                    {"VAE", GM_EVAL_REPORT_INIT, 0},          {"DCGAN", GM_EVAL_REPORT_INIT, 0},
                    {"mean image", GM_EVAL_REPORT_INIT, 0},   {"uniform noise", GM_EVAL_REPORT_INIT, 0}};
    for (int r = 0; r < 6; r++) {
        const double t0 = exc_now();
        gm_vae *vae = NULL;
        gm_gan *gan = NULL;
        gm_tensor *s = NULL;
        if (r == 0) {
            s = exc_pick(P, set, train, n, GM_IMAGE_RANGE_UNIT);
        } else if (r == 1) {
            if (got <= k) {
                printf("(only %zu training images of classes 0-%d: no row)\n", got, half - 1);
                continue;
            }
            s = exc_pick(P, set, halfidx, got, GM_IMAGE_RANGE_UNIT);
        } else if (r == 2 || r == 3) {
            const char *file = r == 2 ? vae_path : gan_path;
            if (!exists(file)) {
                printf("(%s not found: run `%s --save %s` for the %s row)\n", file,
                       r == 2 ? "vae_colour" : "dcgan_colour", file, table[r].name);
                continue;
            }
            CHECK(gm_tensor_create(&s, 4, (size_t[]){n, 3, side, side}));
            if (r == 2) {
                CHECK(gm_vae_load(&vae, file));
                CHECK(gm_vae_sample(vae, n, NULL, s));
            } else {
                CHECK(gm_gan_load(&gan, file));
                CHECK(gm_gan_sample(gan, n, NULL, s));
                exc_to_unit(s);
            }
        } else {
            CHECK(gm_tensor_create(&s, 4, (size_t[]){n, 3, side, side}));
            if (r == 4) {
                float *mean = exc_alloc(P, D, sizeof *mean);
                exc_mean_image(set, train, n_train, mean);
                for (size_t i = 0; i < n; i++)
                    memcpy(gm_tensor_data(s) + i * D, mean, D * sizeof(float));
                free(mean);
            } else {
                gm_rng *rng;
                CHECK(gm_rng_create(&rng, seed));
                CHECK(gm_tensor_fill_uniform(s, rng));
                gm_rng_free(rng);
            }
        }
        CHECK(gm_eval_images(&table[r].r, fnet, s, real, memo, vae, &o));
        table[r].done = 1;
        printf("  %-19s evaluated in %.1f s\n", table[r].name, exc_now() - t0);
        fflush(stdout);
        gm_tensor_free(s);
        gm_vae_free(vae);
        gm_gan_free(gan);
    }
    print_table(table, 6);
    printf("(Frechet distance of %zu-d classifier features, k = %zu; NN: pixel-space distance of "
           "the first %zu samples to the nearest of %zu training images)\n",
           table[0].r.feature_dim, k, table[0].r.n_nearest, n_train - pool);
    const int between = print_between(table, 6);
    printf("n=%zu k=%zu seconds=%.1f", n, k, exc_now() - t_start);
    const char *keys[6] = {"train", "train_half", "vae", "dcgan", "mean", "noise"};
    print_keys(table, keys, 6);
    printf("\n");
    free(halfidx);
    free(train);
    free(held);
    gm_tensor_free(real);
    gm_tensor_free(memo);
    gm_net_free(fnet);
    gm_image_set_free(set);
    return check && !between ? 1 : 0;
}
