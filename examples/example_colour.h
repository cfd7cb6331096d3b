/* SPDX-License-Identifier: MIT */
/*
 * example_colour.h: what the colour examples (vae_colour.c, dcgan_colour.c)
 * share: loading any folder of PNG/JPEG images as a uint8 set
 * (gm_image_folder_load), the held-out split, shuffles, uint8 batches,
 * the mean image, colour grids and the inpainting masks. Header-only
 * (static inline), C11. Errors print "PROG: ..." and exit 1, as in
 * example_train.h.
 *
 * The split: image i (in the loader's sorted order) is held out when
 * i % 10 == 9, so a tenth of every folder is never trained on.
 */
#ifndef EXAMPLE_COLOUR_H
#define EXAMPLE_COLOUR_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <genmodel/genmodel.h>

#include "example_train.h"

/* gm_status check for the colour examples: prints the call and the error. */
#define EXC_CHECK(prog, expr)                                                            \
    do {                                                                                 \
        gm_status st_ = (expr);                                                          \
        if (st_ != GM_OK)                                                                \
            ex_fail((prog), "%s\n  %s: %s", #expr, gm_status_string(st_), gm_last_error()); \
    } while (0)

static inline double exc_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static inline void *exc_alloc(const char *prog, size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (p == NULL) ex_fail(prog, "out of memory (%zu x %zu bytes)", n, size);
    return p;
}

/* Loads every image under `dir` as side x side RGB (bad files skipped and
 * counted; `labels`: labels from the sub-folders; max_files 0: all) and
 * prints the count, the skipped files and the seconds. */
static inline gm_image_set *exc_load(const char *prog, const char *dir, size_t side,
                                     int labels, size_t max_files)
{
    gm_image_folder_options o;
    EXC_CHECK(prog, gm_image_folder_options_init(&o));
    o.side = side;
    o.channels = 3;
    o.labels = labels ? 1u : 0u;
    o.skip_bad = 1;
    o.max_files = max_files;
    gm_image_set *set;
    const double t0 = exc_now();
    EXC_CHECK(prog, gm_image_folder_load(&set, dir, &o, NULL, NULL));
    printf("loaded %zu images of %zu x %zu from %s (%zu bad files skipped) in %.2f s on %d "
           "threads\n", gm_image_set_count(set), side, side, dir, gm_image_set_skipped(set),
           exc_now() - t0, gm_get_num_threads());
    return set;
}

/* The split of the file comment: *train and *held (owned by the caller,
 * free) get the indices, *n_train and *n_held their counts. */
static inline void exc_split(const char *prog, const gm_image_set *set, size_t **train,
                             size_t *n_train, size_t **held, size_t *n_held)
{
    const size_t n = gm_image_set_count(set);
    *train = exc_alloc(prog, n, sizeof **train);
    *held = exc_alloc(prog, n, sizeof **held);
    *n_train = *n_held = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 10 == 9) (*held)[(*n_held)++] = i;
        else (*train)[(*n_train)++] = i;
    }
    if (*n_held == 0) { /* fewer than 10 images: hold out the train ones */
        memcpy(*held, *train, *n_train * sizeof **held);
        *n_held = *n_train;
    }
}

/* A Fisher-Yates shuffle of order[0..n) from n uniform draws of rng
 * (u: room for n floats). */
static inline void exc_shuffle(const char *prog, gm_rng *rng, size_t *order, float *u, size_t n)
{
    if (n < 2) return;
    EXC_CHECK(prog, gm_rng_uniform(rng, u, n));
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)(u[i] * (float)(i + 1));
        if (j > i) j = i;
        const size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

/* A new [n x 3 x S x S] tensor holding images idx[0..n) of the set. */
static inline gm_tensor *exc_pick(const char *prog, const gm_image_set *set, const size_t *idx,
                                  size_t n, gm_image_range range)
{
    const size_t s = gm_image_set_side(set);
    gm_tensor *t;
    EXC_CHECK(prog, gm_tensor_create(&t, 4, (size_t[]){n, gm_image_set_channels(set), s, s}));
    EXC_CHECK(prog, gm_image_set_batch(set, idx, n, range, NULL, t));
    return t;
}

/* The mean of images idx[0..n) in [0, 1], into mean[C * S * S], summed
 * from the uint8 set (no float copy of the set). */
static inline void exc_mean_image(const gm_image_set *set, const size_t *idx, size_t n,
                                  float *mean)
{
    const size_t d = gm_image_set_channels(set) * gm_image_set_side(set) * gm_image_set_side(set);
    const uint8_t *px = gm_image_set_data(set);
    double *acc = calloc(d, sizeof *acc);
    if (acc == NULL) exit(1);
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < d; k++) acc[k] += px[idx[i] * d + k];
    for (size_t k = 0; k < d; k++) mean[k] = (float)(acc[k] / (255.0 * (double)(n ? n : 1)));
    free(acc);
}

/* [-1, 1] -> [0, 1], in place (tanh outputs to picture values). */
static inline void exc_to_unit(gm_tensor *t)
{
    float *p = gm_tensor_data(t);
    for (size_t k = 0; k < gm_tensor_numel(t); k++) p[k] = 0.5f * (p[k] + 1.0f);
}

/* Writes dir/name as a rows x cols colour grid and says so. */
static inline void exc_write_grid(const char *prog, const char *dir, const char *name,
                                  const gm_tensor *images, size_t rows, size_t cols)
{
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        ex_fail(prog, "the path %s/%s is too long", dir, name);
    EXC_CHECK(prog, gm_png_write_grid(path, images, rows, cols, 2, 1.0f));
    printf("wrote %s\n", path);
}

/* Inpainting masks for n images of C x S x S (all channels alike): the
 * first half of the images lose their bottom half, the others a centred
 * square of half the side. 1 = known, 0 = missing. */
static inline void exc_inpaint_mask(float *m, size_t n, size_t c, size_t s)
{
    for (size_t i = 0; i < n; i++)
        for (size_t ch = 0; ch < c; ch++)
            for (size_t r = 0; r < s; r++)
                for (size_t q = 0; q < s; q++) {
                    const int missing = i < n / 2 ? r >= s / 2
                                                  : (r >= s / 4 && r < s / 4 + s / 2 &&
                                                     q >= s / 4 && q < s / 4 + s / 2);
                    m[((i * c + ch) * s + r) * s + q] = missing ? 0.0f : 1.0f;
                }
}

/* The number of stride-2 steps between S x S and 8 x 8 (S = 16, 32, 64, 128
 * give 1 to 4); 0 when S is not one of them. */
static inline size_t exc_levels(size_t side)
{
    size_t k = 0;
    for (size_t s = side; s > 8; s /= 2) {
        if (s % 2) return 0;
        k++;
    }
    return side >> k == 8 && k >= 1 && k <= 4 ? k : 0;
}

/* What both training examples do first: checks --data and --side
 * (exc_levels), loads the folder (exc_load, no labels) and splits it
 * (exc_split). Returns the set; *levels gets exc_levels(side). */
static inline gm_image_set *exc_load_split(const char *prog, const char *data, size_t side,
                                           size_t max_files, size_t *levels, size_t **train,
                                           size_t *n_train, size_t **held, size_t *n_held)
{
    if (data == NULL) ex_fail(prog, "--data DIR is required (a folder of PNG/JPEG images)");
    *levels = exc_levels(side);
    if (*levels == 0) ex_fail(prog, "--side %zu: use 16, 32, 64 or 128", side);
    gm_image_set *set = exc_load(prog, data, side, 0, max_files);
    exc_split(prog, set, train, n_train, held, n_held);
    return set;
}

/* ---- conv nets for side S = 8 * 2^k images ------------------------------------ */

/* Adds the layer made by `call` (into `l`) to `net`; with `dcgan`, first
 * sets a conv's weights to N(0, 0.02^2) and its `nbias` biases to 0 (the
 * DCGAN paper's initialization). */
#define EXC_ADD(prog, net, call, dcgan, nbias, rng)                              \
    do {                                                                         \
        EXC_CHECK(prog, call);                                                   \
        if (dcgan) exc_dcgan_init(prog, l, (nbias), (rng));                      \
        EXC_CHECK(prog, gm_net_add((net), l));                                   \
    } while (0)

static inline void exc_dcgan_init(const char *prog, gm_layer *l, size_t nbias, gm_rng *rng)
{
    const size_t n = gm_layer_param_count(l);
    float *p = exc_alloc(prog, n, sizeof *p);
    EXC_CHECK(prog, gm_rng_normal(rng, p, n - nbias));
    for (size_t i = 0; i < n; i++) p[i] = i < n - nbias ? 0.02f * p[i] : 0.0f;
    EXC_CHECK(prog, gm_layer_set_params(l, p, n));
    free(p);
}

/* The channels after level j (1-based) of exc_down: width * 2^(j-1). */
static inline size_t exc_channels(size_t width, size_t j) { return width << (j - 1); }

/*
 * Appends to `net` the downward half of a conv net on 3 x S x S images:
 * `levels` convs k4 s2 p1 (3 -> w -> 2w -> ...), each followed by
 * [BatchNorm, except after the first] and ReLU (leaky 0.2 with `leaky`),
 * then a flatten and a dense layer to `out` features. dcgan: the convs
 * start from N(0, 0.02) and batchnorm is used; otherwise convs use
 * GM_INIT_HE and no batchnorm.
 */
static inline void exc_down_bn(const char *prog, gm_net *net, size_t levels, size_t width,
                               int leaky, int dcgan, int batchnorm, size_t out, gm_rng *rng);
static inline void exc_down(const char *prog, gm_net *net, size_t levels, size_t width,
                            int leaky, int dcgan, size_t out, gm_rng *rng)
{
    exc_down_bn(prog, net, levels, width, leaky, dcgan, dcgan, out, rng);
}

/* exc_down with batchnorm chosen apart from dcgan: a D for a gradient
 * penalty (penalty.h) has none. */
static inline void exc_down_bn(const char *prog, gm_net *net, size_t levels, size_t width,
                               int leaky, int dcgan, int batchnorm, size_t out, gm_rng *rng)
{
    gm_layer *l;
    const gm_init init = dcgan ? GM_INIT_ZEROS : GM_INIT_HE;
    for (size_t j = 1; j <= levels; j++) {
        const size_t cin = j == 1 ? 3 : exc_channels(width, j - 1), cout = exc_channels(width, j);
        EXC_ADD(prog, net, gm_conv2d_create(&l, cin, cout, 4, 2, 1, init, dcgan ? NULL : rng),
                dcgan, cout, rng);
        if (batchnorm && j > 1) EXC_ADD(prog, net, gm_batchnorm_create(&l, cout, 0.1f, 1e-5f), 0, 0, rng);
        if (leaky) EXC_ADD(prog, net, gm_leaky_relu_create(&l, 0.2f), 0, 0, rng);
        else EXC_ADD(prog, net, gm_relu_create(&l), 0, 0, rng);
    }
    EXC_ADD(prog, net, gm_flatten_create(&l), 0, 0, rng);
    EXC_ADD(prog, net, gm_dense_create(&l, exc_channels(width, levels) * 64, out,
                                       dcgan ? GM_INIT_XAVIER : GM_INIT_TORCH, rng), 0, 0, rng);
}

/*
 * Appends to `net` the upward half: dense `in` -> C x 8 x 8 (C = the
 * channels of exc_down's last level), [BatchNorm], ReLU, then `levels`
 * transposed convs k4 s2 p1 halving the channels, the last one to 3
 * channels at S x S with nothing after it (the caller adds tanh, or reads
 * logits); the others followed by [BatchNorm] and ReLU. dcgan as exc_down.
 */
static inline void exc_up(const char *prog, gm_net *net, size_t in, size_t levels, size_t width,
                          int dcgan, gm_rng *rng)
{
    gm_layer *l;
    const size_t c0 = exc_channels(width, levels);
    const gm_init init = dcgan ? GM_INIT_ZEROS : GM_INIT_HE;
    EXC_ADD(prog, net, gm_dense_create(&l, in, c0 * 64, GM_INIT_HE, rng), 0, 0, rng);
    if (dcgan) EXC_ADD(prog, net, gm_batchnorm_create(&l, c0 * 64, 0.1f, 1e-5f), 0, 0, rng);
    EXC_ADD(prog, net, gm_relu_create(&l), 0, 0, rng);
    EXC_ADD(prog, net, gm_reshape_create(&l, 3, (size_t[]){c0, 8, 8}), 0, 0, rng);
    for (size_t j = levels; j >= 1; j--) {
        const size_t cin = exc_channels(width, j), cout = j == 1 ? 3 : exc_channels(width, j - 1);
        EXC_ADD(prog, net,
                gm_conv_transpose2d_create(&l, cin, cout, 4, 2, 1, init, dcgan ? NULL : rng),
                dcgan, cout, rng);
        if (j == 1) break;
        if (dcgan) EXC_ADD(prog, net, gm_batchnorm_create(&l, cout, 0.1f, 1e-5f), 0, 0, rng);
        EXC_ADD(prog, net, gm_relu_create(&l), 0, 0, rng);
    }
}

#endif /* EXAMPLE_COLOUR_H */
