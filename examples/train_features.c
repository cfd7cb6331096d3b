/* SPDX-License-Identifier: MIT */
/*
 * train_features: trains the small convolutional Fashion-MNIST classifier
 * whose penultimate layer is the feature extractor of the evaluation
 * metrics (eval.h), and saves that feature net as a checkpoint.
 *
 *   train_features [--data DIR] [--out FILE] [--epochs N] [--seed N]
 *                  [--train-limit N] [--test-limit N] [--min-accuracy A]
 *                  (--help: each option's meaning and default)
 *
 * Two nets trained together, one after the other in the forward pass:
 *   features: conv 1->32 k4 s2 p1 (14 x 14) -> BatchNorm -> ReLU
 *             -> conv 32->64 k4 s2 p1 (7 x 7) -> BatchNorm -> ReLU
 *             -> flatten -> dense 3136 -> 128 -> ReLU          (the features)
 *   head:     dropout 0.3 -> dense 128 -> 10                   (class logits)
 * Softmax cross-entropy, Adam lr 1e-3 (3e-4 for the last two epochs),
 * batch 128, 5 epochs. Prints a line per epoch with the test accuracy,
 * saves the feature net with gm_net_save to --out (default
 * out/features.gmck) and ends with a line of key=value pairs. Exits 1 if
 * the final test accuracy is below --min-accuracy (default 0.90).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <genmodel/genmodel.h>

#include "example_args.h"

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        gm_status st_ = (expr);                                                            \
        if (st_ != GM_OK) {                                                                \
            fprintf(stderr, "train_features: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                      \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

enum { D = 784, F = 128, C = 10, B = 128 };

/* Creates a layer into `l` with `call`, then adds it to `net`. */
#define ADD(net, call)               \
    do {                             \
        CHECK(call);                 \
        CHECK(gm_net_add((net), l)); \
    } while (0)

typedef struct {
    gm_tensor *images; /* [N x 1 x 28 x 28] in [0, 1] */
    int32_t *labels;
    size_t n;
} dataset;

static void load(dataset *d, const char *dir, const char *prefix, size_t limit)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    CHECK(gm_idx_load_images(&d->images, path, limit));
    d->n = gm_tensor_dim(d->images, 0);
    d->labels = malloc(d->n * sizeof *d->labels);
    if (d->labels == NULL) exit(1);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    size_t got;
    CHECK(gm_idx_load_labels(path, d->n, d->labels, d->n, &got));
    if (got != d->n) {
        fprintf(stderr, "train_features: %zu labels for %zu images\n", got, d->n);
        exit(1);
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static gm_net *feature_net(gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    CHECK(gm_net_create(&net));
    ADD(net, gm_conv2d_create(&l, 1, 32, 4, 2, 1, GM_INIT_HE, rng));
    ADD(net, gm_batchnorm_create(&l, 32, 0.1f, 1e-5f));
    ADD(net, gm_relu_create(&l));
    ADD(net, gm_conv2d_create(&l, 32, 64, 4, 2, 1, GM_INIT_HE, rng));
    ADD(net, gm_batchnorm_create(&l, 64, 0.1f, 1e-5f));
    ADD(net, gm_relu_create(&l));
    ADD(net, gm_flatten_create(&l));
    ADD(net, gm_dense_create(&l, 64 * 7 * 7, F, GM_INIT_HE, rng));
    ADD(net, gm_relu_create(&l));
    return net;
}

static gm_net *head_net(gm_rng *rng, uint64_t seed)
{
    gm_net *net;
    gm_layer *l;
    CHECK(gm_net_create(&net));
    ADD(net, gm_dropout_create(&l, 0.3f, seed));
    ADD(net, gm_dense_create(&l, F, C, GM_INIT_XAVIER, rng));
    return net;
}

/* Test accuracy with both nets in evaluation mode. */
static double accuracy(gm_net *feat, gm_net *head, const dataset *d)
{
    const size_t bs = 500;
    gm_tensor *x, *h, *y;
    CHECK(gm_tensor_create(&x, 4, (size_t[]){bs, 1, 28, 28}));
    CHECK(gm_tensor_create(&h, 2, (size_t[]){bs, F}));
    CHECK(gm_tensor_create(&y, 2, (size_t[]){bs, C}));
    CHECK(gm_net_set_training(feat, 0));
    CHECK(gm_net_set_training(head, 0));
    size_t correct = 0, seen = 0;
    for (size_t s = 0; s + bs <= d->n; s += bs) {
        size_t c;
        float loss;
        CHECK(gm_tensor_copy_in(x, gm_tensor_data(d->images) + s * D, bs * D));
        CHECK(gm_net_forward(feat, x, h));
        CHECK(gm_net_forward(head, h, y));
        CHECK(gm_loss_softmax_xent(y, d->labels + s, bs, GM_REDUCE_MEAN, &loss, NULL, &c));
        correct += c;
        seen += bs;
    }
    CHECK(gm_net_set_training(feat, 1));
    CHECK(gm_net_set_training(head, 1));
    gm_tensor_free(x);
    gm_tensor_free(h);
    gm_tensor_free(y);
    return seen ? (double)correct / (double)seen : 0.0;
}

int main(int argc, char **argv)
{
    const char *data = "/usr/share/datasets/fashion-mnist", *out = "out/features.gmck";
    int epochs = 5;
    unsigned long long seed = 1;
    size_t train_limit = 0, test_limit = 0;
    double min_acc = 0.90;
    ex_option opts[] = {
        EX_STR("--data", &data, "DIR", "folder of the Fashion-MNIST IDX files"),
        EX_STR("--out", &out, "FILE", "where the feature net's checkpoint goes"),
        EX_INT("--epochs", &epochs, 1, 100000, "passes over the training images"),
        EX_U64("--seed", &seed, "seed of the initial weights, the shuffles and dropout"),
        EX_SIZE("--train-limit", &train_limit, 0, 60000, "train on the first N images; 0: all"),
        EX_SIZE("--test-limit", &test_limit, 0, 10000, "test on the first N images; 0: all"),
        EX_DOUBLE("--min-accuracy", &min_acc, 0, 1, "exit 1 below this test accuracy"),
    };
    ex_parse(argc, argv, "train_features",
             "Trains the small convolutional Fashion-MNIST classifier whose penultimate layer\n"
             "is the feature extractor of the evaluation metrics (eval.h, examples/evaluate.c),\n"
             "prints the test accuracy per epoch and saves the feature net (gm_net_save).",
             opts, EX_COUNT(opts));
    dataset train = {0}, test = {0};
    load(&train, data, "train", train_limit);
    load(&test, data, "t10k", test_limit);
    printf("libgenmodel %s: feature classifier on Fashion-MNIST (%zu train, %zu test images), "
           "seed %llu, %d BLAS threads\n",
           gm_version(), train.n, test.n, seed, gm_get_num_threads());

    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_net *feat = feature_net(rng), *head = head_net(rng, seed);
    printf("parameters: %zu (features) + %zu (head)\n", gm_net_param_count(feat),
           gm_net_param_count(head));
    gm_optimizer *of, *oh;
    CHECK(gm_optimizer_create(&of, feat, NULL)); /* Adam, lr 1e-3 */
    CHECK(gm_optimizer_create(&oh, head, NULL));

    gm_tensor *x, *h, *y, *gy, *gh;
    CHECK(gm_tensor_create(&x, 4, (size_t[]){B, 1, 28, 28}));
    CHECK(gm_tensor_create(&h, 2, (size_t[]){B, F}));
    CHECK(gm_tensor_create(&gh, 2, (size_t[]){B, F}));
    CHECK(gm_tensor_create(&y, 2, (size_t[]){B, C}));
    CHECK(gm_tensor_create(&gy, 2, (size_t[]){B, C}));
    int32_t labels[B];
    size_t *order = malloc(train.n * sizeof *order);
    float *u = malloc(train.n * sizeof *u);
    if (order == NULL || u == NULL) return 1;
    for (size_t i = 0; i < train.n; i++) order[i] = i;
    const size_t steps = train.n / B;
    double acc = 0.0, total = 0.0;
    for (int e = 1; e <= epochs; e++) {
        if (e == epochs - 1 && epochs > 2) { /* a lower rate for the last two epochs */
            CHECK(gm_optimizer_set_lr(of, 3e-4f));
            CHECK(gm_optimizer_set_lr(oh, 3e-4f));
        }
        CHECK(gm_rng_uniform(rng, u, train.n)); /* Fisher-Yates shuffle */
        for (size_t i = train.n - 1; i > 0; i--) {
            size_t j = (size_t)(u[i] * (float)(i + 1));
            if (j > i) j = i;
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        const double t0 = now();
        double sum = 0.0;
        size_t hits = 0;
        for (size_t s = 0; s < steps; s++) {
            float *xd = gm_tensor_data(x);
            for (size_t i = 0; i < B; i++) {
                const size_t k = order[s * B + i];
                memcpy(xd + i * D, gm_tensor_data(train.images) + k * D, D * sizeof(float));
                labels[i] = train.labels[k];
            }
            float loss;
            size_t correct;
            CHECK(gm_net_zero_grad(feat));
            CHECK(gm_net_zero_grad(head));
            CHECK(gm_net_forward(feat, x, h));
            CHECK(gm_net_forward(head, h, y));
            CHECK(gm_loss_softmax_xent(y, labels, B, GM_REDUCE_MEAN, &loss, gy, &correct));
            CHECK(gm_net_backward(head, gy, gh));
            CHECK(gm_net_backward(feat, gh, NULL));
            CHECK(gm_optimizer_step(oh, head));
            CHECK(gm_optimizer_step(of, feat));
            sum += loss;
            hits += correct;
        }
        const double secs = now() - t0;
        total += secs;
        acc = accuracy(feat, head, &test);
        printf("epoch %d: train loss %.4f, train accuracy %.4f, test accuracy %.4f (%.1f s)\n", e,
               sum / (double)steps, (double)hits / (double)(steps * B), acc, secs);
        fflush(stdout);
    }

    /* the feature net alone is what evaluation loads; it is saved in
     * evaluation mode so that a plain forward gives the features */
    CHECK(gm_net_set_training(feat, 0));
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
            fprintf(stderr, "train_features: cannot create %s: %s\n", dir, strerror(errno));
            return 1;
        }
    }
    CHECK(gm_net_save(feat, out));
    printf("wrote %s\n", out);
    printf("epochs=%d seed=%llu test_accuracy=%.4f train_seconds=%.1f feature_dim=%d\n", epochs,
           seed, acc, total, F);

    free(order);
    free(u);
    free(train.labels);
    free(test.labels);
    gm_tensor_free(train.images);
    gm_tensor_free(test.images);
    gm_tensor *ts[] = {x, h, y, gy, gh};
    for (size_t i = 0; i < 5; i++) gm_tensor_free(ts[i]);
    gm_optimizer_free(of);
    gm_optimizer_free(oh);
    gm_net_free(feat);
    gm_net_free(head);
    gm_rng_free(rng);
    if (acc < min_acc) {
        fprintf(stderr, "train_features: test accuracy %.4f is below %.2f\n", acc, min_acc);
        return 1;
    }
    return 0;
}
