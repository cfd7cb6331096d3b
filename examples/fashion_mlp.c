/* SPDX-License-Identifier: MIT */
/*
 * fashion_mlp: trains a multilayer perceptron on Fashion-MNIST with
 * libgenmodel's engine and prints the loss, test accuracy and a per-class
 * table. Exits 1 if the final test accuracy is below 80%.
 *
 *   fashion_mlp [--data DIR] [--epochs N]      (--help: defaults)
 *
 * DIR holds the four IDX files (default /usr/share/datasets/
 * fashion-mnist, from Debian's dataset-fashion-mnist package).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <genmodel/genmodel.h>

#include "example_args.h"

static const char *CLASS_NAMES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress",
                                      "Coat",        "Sandal",  "Shirt",    "Sneaker",
                                      "Bag",         "Ankle boot"};

#define CHECK(expr)                                                                    \
    do {                                                                               \
        gm_status st_ = (expr);                                                        \
        if (st_ != GM_OK) {                                                            \
            fprintf(stderr, "fashion_mlp: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                  \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

typedef struct {
    gm_tensor *images; /* [N x 1 x 28 x 28] in [0, 1] */
    int32_t *labels;
    size_t n;
} dataset;

static void load(dataset *d, const char *dir, const char *prefix)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    CHECK(gm_idx_load_images(&d->images, path, 0));
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    size_t n;
    CHECK(gm_idx_load_labels(path, 0, NULL, 0, &n));
    d->labels = malloc(n * sizeof *d->labels);
    if (!d->labels) exit(1);
    CHECK(gm_idx_load_labels(path, 0, d->labels, n, &d->n));
    if (d->n != gm_tensor_dim(d->images, 0)) {
        fprintf(stderr, "fashion_mlp: %zu labels for %zu images\n", d->n,
                gm_tensor_dim(d->images, 0));
        exit(1);
    }
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Accuracy over a data set in evaluation mode; fills a confusion matrix. */
static double evaluate(gm_net *net, const dataset *d, size_t confusion[10][10])
{
    const size_t B = 1000, D = 784;
    gm_tensor *x, *y;
    CHECK(gm_tensor_create(&x, 2, (size_t[]){B, D}));
    CHECK(gm_tensor_create(&y, 2, (size_t[]){B, 10}));
    CHECK(gm_net_set_training(net, 0));
    size_t correct = 0;
    memset(confusion, 0, sizeof(size_t[10][10]));
    for (size_t s = 0; s + B <= d->n; s += B) {
        CHECK(gm_tensor_copy_in(x, gm_tensor_data(d->images) + s * D, B * D));
        CHECK(gm_net_forward(net, x, y));
        const float *z = gm_tensor_data(y);
        for (size_t i = 0; i < B; i++) {
            size_t arg = 0;
            for (size_t c = 1; c < 10; c++)
                if (z[i * 10 + c] > z[i * 10 + arg]) arg = c;
            confusion[d->labels[s + i]][arg]++;
            correct += arg == (size_t)d->labels[s + i];
        }
    }
    CHECK(gm_net_set_training(net, 1));
    gm_tensor_free(x);
    gm_tensor_free(y);
    return (double)correct / (double)(d->n / B * B);
}

int main(int argc, char **argv)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    int epochs = 3;
    ex_option opts[] = {
        EX_STR("--data", &dir, "DIR", "folder of the four Fashion-MNIST IDX files"),
        EX_INT("--epochs", &epochs, 1, 100000, "passes over the training images"),
    };
    ex_parse(argc, argv, "fashion_mlp",
             "Trains a 784-256-128-10 MLP classifier on Fashion-MNIST with libgenmodel's engine\n"
             "and prints the loss, the test accuracy and a per-class table; exits 1 if the\n"
             "final test accuracy is below 80%.",
             opts, EX_COUNT(opts));
    printf("libgenmodel %s: MLP on Fashion-MNIST from %s\n", gm_version(), dir);
    dataset train = {0}, test = {0};
    load(&train, dir, "train");
    load(&test, dir, "t10k");
    printf("train %zu images, test %zu images, BLAS threads %d\n", train.n, test.n,
           gm_get_num_threads());

    /* 784 -> 256 -> 128 -> 10, ReLU, dropout 0.2 */
    gm_rng *rng;
    CHECK(gm_rng_create(&rng, 2026));
    gm_net *net;
    gm_layer *l;
    CHECK(gm_net_create(&net));
    CHECK(gm_flatten_create(&l));
    CHECK(gm_net_add(net, l));
    CHECK(gm_dense_create(&l, 784, 256, GM_INIT_HE, rng));
    CHECK(gm_net_add(net, l));
    CHECK(gm_relu_create(&l));
    CHECK(gm_net_add(net, l));
    CHECK(gm_dropout_create(&l, 0.2f, 7));
    CHECK(gm_net_add(net, l));
    CHECK(gm_dense_create(&l, 256, 128, GM_INIT_HE, rng));
    CHECK(gm_net_add(net, l));
    CHECK(gm_relu_create(&l));
    CHECK(gm_net_add(net, l));
    CHECK(gm_dense_create(&l, 128, 10, GM_INIT_XAVIER, rng));
    CHECK(gm_net_add(net, l));
    printf("parameters: %zu\n", gm_net_param_count(net));

    gm_optimizer_options o;
    CHECK(gm_optimizer_options_init(&o, GM_OPT_ADAM));
    o.lr = 1e-3f;
    gm_optimizer *opt;
    CHECK(gm_optimizer_create(&opt, net, &o));

    const size_t B = 128, D = 784, steps = train.n / B;
    gm_tensor *x, *y, *g;
    CHECK(gm_tensor_create(&x, 4, (size_t[]){B, 1, 28, 28}));
    CHECK(gm_tensor_create(&y, 2, (size_t[]){B, 10}));
    CHECK(gm_tensor_create(&g, 2, (size_t[]){B, 10}));
    int32_t batch_labels[128];
    size_t *order = malloc(train.n * sizeof *order);
    float *u = malloc(train.n * sizeof *u);
    if (!order || !u) return 1;
    for (size_t i = 0; i < train.n; i++) order[i] = i;
    size_t confusion[10][10];
    double acc = 0;
    for (int e = 1; e <= epochs; e++) {
        CHECK(gm_rng_uniform(rng, u, train.n)); /* Fisher-Yates shuffle */
        for (size_t i = train.n - 1; i > 0; i--) {
            size_t j = (size_t)(u[i] * (float)(i + 1));
            if (j > i) j = i;
            size_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double t0 = now(), sum = 0;
        size_t hits = 0;
        for (size_t s = 0; s < steps; s++) {
            float *xd = gm_tensor_data(x);
            for (size_t i = 0; i < B; i++) {
                size_t k = order[s * B + i];
                memcpy(xd + i * D, gm_tensor_data(train.images) + k * D, D * sizeof(float));
                batch_labels[i] = train.labels[k];
            }
            float loss;
            size_t correct;
            CHECK(gm_net_zero_grad(net));
            CHECK(gm_net_forward(net, x, y));
            CHECK(gm_loss_softmax_xent(y, batch_labels, B, GM_REDUCE_MEAN, &loss, g, &correct));
            CHECK(gm_net_backward(net, g, NULL));
            CHECK(gm_optimizer_step(opt, net));
            sum += loss;
            hits += correct;
        }
        double secs = now() - t0;
        acc = evaluate(net, &test, confusion);
        printf("epoch %d: train loss %.4f, train accuracy %.4f, test accuracy %.4f "
               "(%.1f s, %.0f images/s)\n",
               e, sum / steps, (double)hits / (steps * B), acc, secs, steps * B / secs);
    }
    printf("\nper-class test accuracy:\n");
    for (int c = 0; c < 10; c++) {
        size_t row = 0;
        for (int k = 0; k < 10; k++) row += confusion[c][k];
        printf("  %-12s %.3f\n", CLASS_NAMES[c], (double)confusion[c][c] / (double)row);
    }
    free(order);
    free(u);
    free(train.labels);
    free(test.labels);
    gm_tensor_free(train.images);
    gm_tensor_free(test.images);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(g);
    gm_optimizer_free(opt);
    gm_net_free(net);
    gm_rng_free(rng);
    /* one epoch reaches about 84%: less means something is broken */
    if (acc < 0.80) {
        fprintf(stderr, "fashion_mlp: test accuracy %.4f is below 0.80\n", acc);
        return 1;
    }
    return 0;
}
