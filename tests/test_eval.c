/* SPDX-License-Identifier: MIT */
/*
 * Evaluation suite (issue 8), written against include/genmodel/eval.h:
 *  - the Fréchet distance against scipy.linalg.sqrtm on committed features
 *    (tests/data/reference_frechet.txt, tests/reference/eval_reference.py),
 *    1e-3 relative at most; 0 for identical sets; symmetric; exactly
 *    s^2 |e|^2 for a set shifted by s e; growing with blur, on pooled
 *    pixels and on a random conv net's features;
 *  - precision/recall against a brute-force numpy/scipy computation; 1/1
 *    for identical sets; on a 10-cluster mixture and on Fashion-MNIST
 *    pixels: high for held-out data of the same distribution, near 0 for
 *    noise, and clearly lower recall for samples of 5 of the 10 classes;
 *  - density/coverage against a brute-force numpy/scipy computation
 *    (abs + rel tolerance); exactly 1 and (k + 1)/k for identical sets (on
 *    a grid where every distance is exact); a one-point fake set at the
 *    real mean: precision 1 but coverage c/N and density c/k, c the real
 *    balls holding the point counted by brute force; 0 and 0 for far
 *    sets; coverage halves when half of the classes are dropped;
 *  - the nearest-neighbour check against brute force, its quantiles on
 *    known distances, 0 for copied training vectors;
 *  - features through a net in batches equal one forward, whatever the
 *    batch, with the net's mode restored; gm_eval_images agrees with the
 *    separate calls; a report of the first version's size gets every field
 *    but density and coverage, and nothing past its size is touched;
 *  - bad input for every eval.h function: the documented status, a message
 *    naming the function, outputs left as they were; every failing
 *    allocation gives GM_ENOMEM, leaks nothing and writes nothing.
 */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm_test.h"

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

/* ---- helpers ---------------------------------------------------------------------- */

static gm_tensor *tnew(size_t ndim, const size_t *shape)
{
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, ndim, shape));
    return t;
}
#define T2(a, b) tnew(2, (const size_t[]){(a), (b)})
#define T4(a, b, c, d) tnew(4, (const size_t[]){(a), (b), (c), (d)})

static float *D_(gm_tensor *t) { return gm_tensor_data(t); }

static gm_tensor *tdup(const gm_tensor *t)
{
    gm_tensor *c;
    size_t nd, sh[GM_MAX_DIMS];
    GM_CK_OK(gm_tensor_shape(t, &nd, sh));
    GM_CK_OK(gm_tensor_from_data(&c, nd, sh, gm_tensor_data_const(t)));
    return c;
}

/* [n x d] of scale * N(0, 1) + shift. */
static gm_tensor *normal_set(size_t n, size_t d, uint64_t seed, float scale, float shift)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    gm_tensor *t = T2(n, d);
    GM_CK_OK(gm_tensor_fill_normal(t, rng));
    for (size_t i = 0; i < n * d; i++) D_(t)[i] = scale * D_(t)[i] + shift;
    gm_rng_free(rng);
    return t;
}

static double trace_cov(const gm_tensor *t)
{
    const size_t n = gm_tensor_dim(t, 0), d = gm_tensor_numel(t) / n;
    const float *x = gm_tensor_data_const(t);
    double tr = 0;
    for (size_t j = 0; j < d; j++) {
        double m = 0, s = 0;
        for (size_t i = 0; i < n; i++) m += x[i * d + j];
        m /= n;
        for (size_t i = 0; i < n; i++) s += (x[i * d + j] - m) * (x[i * d + j] - m);
        tr += s / (n - 1);
    }
    return tr;
}

static double fd(const gm_tensor *a, const gm_tensor *b)
{
    double d = -1;
    GM_CK_OK(gm_eval_frechet(a, b, &d));
    return d;
}

/* ---- the reference fixture ------------------------------------------------------- */

/* Reads record `name` of tests/data/reference_frechet.txt: its numbers
 * into a new array (free()), the count into *n, the dims into dims. */
static double *fixture(const char *name, size_t *n, size_t dims[4], size_t *ndim)
{
    char path[512];
    snprintf(path, sizeof path, "%s/reference_frechet.txt", GM_TEST_DATA_DIR);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    char line[1024];
    ck_assert_msg(fgets(line, sizeof line, f) && strncmp(line, "genmodel-reference 1", 20) == 0,
                  "%s: bad magic", path);
    const size_t len = strlen(name);
    double *out = NULL;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, len) != 0 || line[len] != ' ') continue;
        char *p = line + len;
        *ndim = strtoul(p, &p, 10);
        ck_assert(*ndim >= 1 && *ndim <= 4);
        *n = 1;
        for (size_t i = 0; i < *ndim; i++) *n *= dims[i] = strtoul(p, &p, 10);
        out = malloc(*n * sizeof *out);
        ck_assert_ptr_nonnull(out);
        for (size_t i = 0; i < *n; i++) ck_assert_msg(fscanf(f, "%lf", &out[i]) == 1, "%s", name);
        break;
    }
    fclose(f);
    ck_assert_msg(out != NULL, "record %s not in the fixture", name);
    return out;
}

static gm_tensor *fixture_tensor(const char *name)
{
    size_t n, dims[4], nd;
    double *v = fixture(name, &n, dims, &nd);
    gm_tensor *t = tnew(nd, dims);
    for (size_t i = 0; i < n; i++) D_(t)[i] = (float)v[i]; /* exact: written from float32 */
    free(v);
    return t;
}

static double fixture_value(const char *name)
{
    size_t n, dims[4], nd;
    double *v = fixture(name, &n, dims, &nd);
    ck_assert_uint_eq(n, 1);
    double x = v[0];
    free(v);
    return x;
}

/* ---- Fréchet distance ------------------------------------------------------------- */

START_TEST(test_frechet_matches_scipy)
{
    const char *cases[] = {"shifted", "close"};
    for (size_t c = 0; c < 2; c++) {
        char na[64], nb[64], nd[64];
        snprintf(na, sizeof na, "fd.%s.a", cases[c]);
        snprintf(nb, sizeof nb, "fd.%s.b", cases[c]);
        snprintf(nd, sizeof nd, "fd.%s.distance", cases[c]);
        gm_tensor *a = fixture_tensor(na), *b = fixture_tensor(nb);
        const double want = fixture_value(nd), got = fd(a, b);
        const double rel = fabs(got - want) / want;
        printf("test_eval: Frechet distance %s: %.10g, scipy %.10g, relative difference %.2e\n",
               cases[c], got, want, rel);
        ck_assert_msg(rel <= 1e-3, "%s: %.10g vs scipy %.10g (relative %.2e)", cases[c], got,
                      want, rel);
        gm_tensor_free(a);
        gm_tensor_free(b);
    }
}
END_TEST

START_TEST(test_frechet_identical_and_symmetric)
{
    gm_tensor *a = normal_set(500, 16, 1, 2.0f, 0.5f), *b = tdup(a);
    const double tr = trace_cov(a);
    ck_assert_msg(fd(a, a) <= 1e-9 * tr, "FD(a, a) = %g", fd(a, a));
    ck_assert_msg(fd(a, b) <= 1e-9 * tr, "FD(a, copy of a) = %g", fd(a, b));
    gm_tensor *c = normal_set(300, 16, 2, 1.5f, 0.0f);
    const double ac = fd(a, c), ca = fd(c, a);
    ck_assert_msg(ac > 1.0 && fabs(ac - ca) <= 1e-9 * ac, "FD(a, c) %.12g != FD(c, a) %.12g", ac,
                  ca);
    /* D = 1: the closed form (mu_a - mu_b)^2 + (s_a - s_b)^2 */
    gm_tensor *x = normal_set(1000, 1, 3, 2.0f, 1.0f), *y = normal_set(800, 1, 4, 0.5f, -1.0f);
    const double sx = sqrt(trace_cov(x)), sy = sqrt(trace_cov(y));
    double mx = 0, my = 0;
    for (size_t i = 0; i < 1000; i++) mx += D_(x)[i] / 1000.0;
    for (size_t i = 0; i < 800; i++) my += D_(y)[i] / 800.0;
    const double want = (mx - my) * (mx - my) + (sx - sy) * (sx - sy);
    ck_assert_msg(fabs(fd(x, y) - want) <= 1e-9 * want, "D = 1: %.12g vs %.12g", fd(x, y), want);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(a);
    gm_tensor_free(b);
    gm_tensor_free(c);
}
END_TEST

START_TEST(test_frechet_grows_with_shift)
{
    /* b = a + s e: same covariance, so FD = s^2 |e|^2 exactly */
    gm_tensor *a = normal_set(400, 10, 5, 1.0f, 0.0f);
    const float e[10] = {1, -1, 0.5f, 0, 2, 0, 0, -0.5f, 0.25f, 1};
    double e2 = 0, prev = 0;
    for (size_t j = 0; j < 10; j++) e2 += (double)e[j] * e[j];
    const float shifts[] = {0.125f, 0.25f, 0.5f, 1.0f, 2.0f};
    for (size_t s = 0; s < 5; s++) {
        gm_tensor *b = tdup(a);
        for (size_t i = 0; i < 400; i++)
            for (size_t j = 0; j < 10; j++) D_(b)[i * 10 + j] += shifts[s] * e[j];
        const double got = fd(a, b), want = (double)shifts[s] * shifts[s] * e2;
        ck_assert_msg(fabs(got - want) <= 1e-4 * want, "shift %g: FD %.9g, want %.9g",
                      (double)shifts[s], got, want);
        ck_assert_msg(got > prev, "shift %g: FD %.9g did not grow from %.9g", (double)shifts[s],
                      got, prev);
        prev = got;
        gm_tensor_free(b);
    }
    gm_tensor_free(a);
}
END_TEST

/* n synthetic 28 x 28 images: 1-3 random bright rectangles with sharp
 * edges on a dark background, plus faint noise. */
static gm_tensor *rect_images(size_t n, uint64_t seed)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    gm_tensor *t = T4(n, 1, 28, 28);
    float u[16];
    for (size_t i = 0; i < n; i++) {
        float *im = D_(t) + i * 784;
        GM_CK_OK(gm_rng_uniform(rng, u, 16));
        for (size_t k = 0; k < 784; k++) im[k] = 0.05f * u[k % 16];
        const size_t rects = 1 + (size_t)(u[0] * 3);
        for (size_t r = 0; r < rects; r++) {
            float v[5];
            GM_CK_OK(gm_rng_uniform(rng, v, 5));
            size_t x0 = (size_t)(v[0] * 20), y0 = (size_t)(v[1] * 20);
            size_t w = 3 + (size_t)(v[2] * 10), h = 3 + (size_t)(v[3] * 10);
            for (size_t y = y0; y < y0 + h && y < 28; y++)
                for (size_t x = x0; x < x0 + w && x < 28; x++) im[y * 28 + x] = 0.5f + 0.5f * v[4];
        }
    }
    gm_rng_free(rng);
    return t;
}

/* A 3 x 3 box blur of every image, applied `times` times (edges clamped). */
static gm_tensor *blurred(const gm_tensor *src, int times)
{
    gm_tensor *t = tdup(src);
    const size_t n = gm_tensor_dim(src, 0);
    float tmp[784];
    for (int rep = 0; rep < times; rep++)
        for (size_t i = 0; i < n; i++) {
            float *im = D_(t) + i * 784;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++) {
                    float s = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++) {
                            int yy = y + dy < 0 ? 0 : y + dy > 27 ? 27 : y + dy;
                            int xx = x + dx < 0 ? 0 : x + dx > 27 ? 27 : x + dx;
                            s += im[yy * 28 + xx];
                        }
                    tmp[y * 28 + x] = s / 9.0f;
                }
            memcpy(im, tmp, sizeof tmp);
        }
    return t;
}

/* 2 x 2 average pooling: [n x 1 x 28 x 28] -> [n x 196]. */
static gm_tensor *pooled(const gm_tensor *src)
{
    const size_t n = gm_tensor_dim(src, 0);
    gm_tensor *t = T2(n, 196);
    const float *s = gm_tensor_data_const(src);
    for (size_t i = 0; i < n; i++)
        for (size_t y = 0; y < 14; y++)
            for (size_t x = 0; x < 14; x++) {
                const float *p = s + i * 784 + 2 * y * 28 + 2 * x;
                D_(t)[i * 196 + y * 14 + x] = 0.25f * (p[0] + p[1] + p[28] + p[29]);
            }
    return t;
}

/* An untrained conv net: conv 1->8 k4 s2 p1, ReLU, conv 8->16 k4 s2 p1,
 * ReLU, flatten, dense 784 -> 32, ReLU. */
static gm_net *random_conv_net(uint64_t seed)
{
    gm_rng *rng;
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_rng_create(&rng, seed));
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_conv2d_create(&l, 1, 8, 4, 2, 1, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_relu_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_conv2d_create(&l, 8, 16, 4, 2, 1, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_relu_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_flatten_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_dense_create(&l, 16 * 7 * 7, 32, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_relu_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    gm_rng_free(rng);
    return net;
}

static gm_tensor *features_of(gm_net *net, const gm_tensor *images, size_t f, size_t batch)
{
    gm_tensor *t = T2(gm_tensor_dim(images, 0), f);
    GM_CK_OK(gm_eval_features(net, images, batch, t));
    return t;
}

/* FD(real, blur^r(other)) grows with r, for pooled pixels and conv features. */
static void check_blur_grows(const gm_tensor *real, const gm_tensor *other, const char *what)
{
    gm_net *net = random_conv_net(11);
    gm_tensor *pr = pooled(real), *cr = features_of(net, real, 32, 0);
    double prev_p = -1, prev_c = -1;
    for (int r = 0; r <= 3; r++) {
        gm_tensor *b = blurred(other, r), *pb = pooled(b), *cb = features_of(net, b, 32, 0);
        const double dp = fd(pr, pb), dc = fd(cr, cb);
        ck_assert_msg(dp > prev_p, "%s, pooled pixels: blur %d gives FD %g, not above %g", what,
                      r, dp, prev_p);
        ck_assert_msg(dc > prev_c, "%s, conv features: blur %d gives FD %g, not above %g", what,
                      r, dc, prev_c);
        prev_p = dp;
        prev_c = dc;
        gm_tensor_free(b);
        gm_tensor_free(pb);
        gm_tensor_free(cb);
    }
    gm_tensor_free(pr);
    gm_tensor_free(cr);
    gm_net_free(net);
}

START_TEST(test_frechet_grows_with_blur)
{
    gm_tensor *real = rect_images(600, 21), *other = rect_images(600, 22);
    check_blur_grows(real, other, "rectangles");
    gm_tensor_free(real);
    gm_tensor_free(other);
}
END_TEST

/* ---- Fashion-MNIST ------------------------------------------------------------------ */

static int have_fashion(void)
{
    FILE *f = fopen(FASHION_DIR "/t10k-images-idx3-ubyte.gz", "rb");
    if (f == NULL) {
        printf("test_eval: %s not found (Debian package dataset-fashion-mnist); skipping the "
               "Fashion-MNIST checks\n", FASHION_DIR);
        return 0;
    }
    fclose(f);
    return 1;
}

/* The first n images of `prefix` (train / t10k) whose label is below
 * max_label, as [n x 1 x 28 x 28]. */
static gm_tensor *fashion(const char *prefix, size_t n, int max_label)
{
    char path[256];
    gm_tensor *all;
    snprintf(path, sizeof path, FASHION_DIR "/%s-images-idx3-ubyte.gz", prefix);
    GM_CK_OK(gm_idx_load_images(&all, path, 8 * n));
    const size_t have = gm_tensor_dim(all, 0);
    int32_t *labels = malloc(have * sizeof *labels);
    size_t count;
    snprintf(path, sizeof path, FASHION_DIR "/%s-labels-idx1-ubyte.gz", prefix);
    GM_CK_OK(gm_idx_load_labels(path, have, labels, have, &count));
    gm_tensor *t = T4(n, 1, 28, 28);
    size_t k = 0;
    for (size_t i = 0; i < have && k < n; i++)
        if (labels[i] < max_label)
            memcpy(D_(t) + k++ * 784, gm_tensor_data(all) + i * 784, 784 * sizeof(float));
    ck_assert_uint_eq(k, n);
    free(labels);
    gm_tensor_free(all);
    return t;
}

START_TEST(test_fashion_blur_and_precision_recall)
{
    if (!have_fashion()) return;
    const size_t n = 1000;
    gm_tensor *test = fashion("t10k", n, 10), *train = fashion("train", n, 10);
    gm_tensor *five = fashion("train", n, 5), *noise = T4(n, 1, 28, 28);
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 3));
    GM_CK_OK(gm_tensor_fill_uniform(noise, rng));
    gm_rng_free(rng);
    check_blur_grows(test, train, "Fashion-MNIST");

    /* pixels as features; the test images are the real set */
    gm_tensor *x_test = pooled(test), *x_train = pooled(train), *x_five = pooled(five);
    gm_tensor *x_noise = pooled(noise);
    double p_tr, r_tr, p_5, r_5, p_no, r_no;
    GM_CK_OK(gm_eval_precision_recall(x_test, x_train, 3, &p_tr, &r_tr));
    GM_CK_OK(gm_eval_precision_recall(x_test, x_five, 3, &p_5, &r_5));
    GM_CK_OK(gm_eval_precision_recall(x_test, x_noise, 3, &p_no, &r_no));
    printf("test_eval: Fashion-MNIST pooled pixels, k = 3, %zu images: train vs test "
           "precision %.3f recall %.3f; 5 of 10 classes %.3f / %.3f; noise %.3f / %.3f\n",
           n, p_tr, r_tr, p_5, r_5, p_no, r_no);
    ck_assert_msg(p_tr >= 0.75 && r_tr >= 0.75, "train vs test: %.3f / %.3f", p_tr, r_tr);
    ck_assert_msg(p_no <= 0.05 && r_no <= 0.05, "noise: %.3f / %.3f", p_no, r_no);
    ck_assert_msg(r_5 <= r_tr - 0.2, "5 of 10 classes: recall %.3f vs %.3f with all", r_5, r_tr);
    ck_assert_msg(r_5 <= 0.65, "5 of 10 classes: recall %.3f", r_5);
    ck_assert_msg(p_5 >= 0.75, "5 of 10 classes: precision %.3f", p_5);
    gm_tensor *fs[] = {test, train, five, noise, x_test, x_train, x_five, x_noise};
    for (size_t i = 0; i < 8; i++) gm_tensor_free(fs[i]);
}
END_TEST

/* ---- precision and recall ------------------------------------------------------------- */

START_TEST(test_pr_matches_bruteforce)
{
    gm_tensor *real = fixture_tensor("pr.real"), *fake = fixture_tensor("pr.fake");
    const size_t k = (size_t)fixture_value("pr.k");
    double p = -1, r = -1;
    GM_CK_OK(gm_eval_precision_recall(real, fake, k, &p, &r));
    const double wp = fixture_value("pr.precision"), wr = fixture_value("pr.recall");
    ck_assert_msg(fabs(p - wp) < 1e-12 && fabs(r - wr) < 1e-12,
                  "precision %.6f recall %.6f, brute force %.6f %.6f", p, r, wp, wr);
    /* either output alone gives the same value */
    double p1 = -1, r1 = -1;
    GM_CK_OK(gm_eval_precision_recall(real, fake, k, &p1, NULL));
    GM_CK_OK(gm_eval_precision_recall(real, fake, k, NULL, &r1));
    ck_assert(p1 == p && r1 == r);
    gm_tensor_free(real);
    gm_tensor_free(fake);
}
END_TEST

START_TEST(test_pr_identical)
{
    gm_tensor *a = normal_set(300, 8, 7, 1.0f, 0.0f);
    double p = -1, r = -1;
    GM_CK_OK(gm_eval_precision_recall(a, a, 3, &p, &r));
    ck_assert_msg(p == 1.0 && r == 1.0, "identical: %g / %g", p, r);
    /* k = N - 1: every ball reaches the farthest other point */
    gm_tensor *b = normal_set(5, 3, 8, 1.0f, 0.0f);
    GM_CK_OK(gm_eval_precision_recall(b, b, 4, &p, &r));
    ck_assert(p == 1.0 && r == 1.0);
    gm_tensor_free(a);
    gm_tensor_free(b);
}
END_TEST

/* n points of a mixture of 10 Gaussians in 16 dimensions (centres on a
 * fixed random grid, spread 1), drawn from classes 0 .. classes - 1. */
static gm_tensor *mixture(size_t n, size_t classes, uint64_t seed)
{
    enum { D = 16 };
    static float centres[10][D];
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 99));
    GM_CK_OK(gm_rng_normal(rng, &centres[0][0], 10 * D));
    GM_CK_OK(gm_rng_seed(rng, seed));
    gm_tensor *t = T2(n, D);
    GM_CK_OK(gm_tensor_fill_normal(t, rng));
    for (size_t i = 0; i < n; i++) {
        const size_t c = i % classes;
        for (size_t j = 0; j < D; j++) D_(t)[i * D + j] += 6.0f * centres[c][j];
    }
    gm_rng_free(rng);
    return t;
}

START_TEST(test_pr_mode_dropping)
{
    gm_tensor *real = mixture(1000, 10, 1), *all = mixture(1000, 10, 2);
    gm_tensor *half = mixture(1000, 5, 3);
    double p_all, r_all, p_half, r_half;
    GM_CK_OK(gm_eval_precision_recall(real, all, 3, &p_all, &r_all));
    GM_CK_OK(gm_eval_precision_recall(real, half, 3, &p_half, &r_half));
    printf("test_eval: 10-cluster mixture, k = 3: all classes precision %.3f recall %.3f; "
           "5 of 10 classes %.3f / %.3f\n", p_all, r_all, p_half, r_half);
    ck_assert_msg(p_all >= 0.7 && r_all >= 0.7, "all classes: %.3f / %.3f", p_all, r_all);
    ck_assert_msg(p_half >= 0.7, "5 of 10: precision %.3f", p_half);
    ck_assert_msg(r_half <= 0.55 && r_half <= r_all - 0.25, "5 of 10: recall %.3f (all: %.3f)",
                  r_half, r_all);
    /* a larger k gives larger balls: precision and recall do not drop */
    double p5, r5;
    GM_CK_OK(gm_eval_precision_recall(real, all, 10, &p5, &r5));
    ck_assert(p5 >= p_all && r5 >= r_all);
    gm_tensor_free(real);
    gm_tensor_free(all);
    gm_tensor_free(half);
}
END_TEST

/* ---- density and coverage ------------------------------------------------------------ */

/* |got - want| <= 1e-12 + 1e-9 |want|: the reference counts the same balls. */
static void ck_close_counts(double got, double want, const char *what)
{
    ck_assert_msg(fabs(got - want) <= 1e-12 + 1e-9 * fabs(want), "%s: %.12g, brute force %.12g",
                  what, got, want);
}

START_TEST(test_dc_matches_bruteforce)
{
    const char *cases[] = {"pr", "dc.shifted", "dc.point"};
    for (size_t c = 0; c < 3; c++) {
        char n_real[64], n_fake[64], n_k[64], n_d[64], n_c[64]; /* pr: precision's sets */
        snprintf(n_real, sizeof n_real, "%s.real", cases[c]);
        snprintf(n_fake, sizeof n_fake, "%s.fake", cases[c]);
        snprintf(n_k, sizeof n_k, "%s.k", cases[c]);
        snprintf(n_d, sizeof n_d, "%s.density", cases[c]);
        snprintf(n_c, sizeof n_c, "%s.coverage", cases[c]);
        gm_tensor *real = fixture_tensor(n_real), *fake = fixture_tensor(n_fake);
        const size_t k = (size_t)fixture_value(n_k);
        const double wd = fixture_value(n_d), wc = fixture_value(n_c);
        double d = -1, cv = -1;
        GM_CK_OK(gm_eval_density_coverage(real, fake, k, &d, &cv));
        printf("test_eval: %s, k = %zu: density %.6f coverage %.6f, numpy %.6f %.6f\n", cases[c],
               k, d, cv, wd, wc);
        ck_close_counts(d, wd, n_d);
        ck_close_counts(cv, wc, n_c);
        /* either output alone gives the same value */
        double d1 = -1, c1 = -1;
        GM_CK_OK(gm_eval_density_coverage(real, fake, k, &d1, NULL));
        GM_CK_OK(gm_eval_density_coverage(real, fake, k, NULL, &c1));
        ck_assert(d1 == d && c1 == cv);
        gm_tensor_free(real);
        gm_tensor_free(fake);
    }
}
END_TEST

/* [n x d] of N(0, 1) rounded to multiples of 1/1024 (|x| < 8): every
 * product and sum of a squared distance is exact in double, whatever the
 * BLAS kernel's order, so a point on a ball's boundary is inside for sure. */
static gm_tensor *grid_set(size_t n, size_t d, uint64_t seed)
{
    gm_tensor *t = normal_set(n, d, seed, 1.0f, 0.0f);
    for (size_t i = 0; i < n * d; i++) {
        const float v = D_(t)[i] > 7.0f ? 7.0f : D_(t)[i] < -7.0f ? -7.0f : D_(t)[i];
        D_(t)[i] = roundf(v * 1024.0f) / 1024.0f;
    }
    return t;
}

START_TEST(test_dc_identical)
{
    /* each fake copy X_j lies in its own ball and in those of the reals
     * whose k nearest neighbours include it: k + 1 balls per ball, so
     * density (k + 1)/k (no ties among the distances here) and coverage 1 */
    gm_tensor *a = grid_set(300, 8, 7), *b = tdup(a);
    const size_t ks[] = {1, 3, 5, 299};
    for (size_t i = 0; i < 4; i++) {
        double d = -1, c = -1;
        GM_CK_OK(gm_eval_density_coverage(a, b, ks[i], &d, &c));
        const double want = (double)(ks[i] + 1) / (double)ks[i];
        ck_assert_msg(c == 1.0 && fabs(d - want) <= 1e-15 * want,
                      "identical sets, k = %zu: density %.17g (want %.17g), coverage %.17g", ks[i],
                      d, want, c);
    }
    gm_tensor_free(a);
    gm_tensor_free(b);
}
END_TEST

START_TEST(test_dc_one_point_at_the_mean)
{
    /* a model that always outputs the mean of the reals */
    enum { N = 1000, D = 2, K = 3, M = 50 };
    gm_tensor *real = normal_set(N, D, 11, 1.0f, 0.0f), *point = T2(1, D), *copies = T2(M, D);
    const float *x = D_(real);
    double mean[D] = {0, 0};
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < D; j++) mean[j] += x[i * D + j] / (double)N;
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < D; j++) D_(copies)[i * D + j] = D_(point)[j] = (float)mean[j];
    /* brute force: the real balls holding the point */
    size_t balls = 0;
    double nn[K];
    for (size_t i = 0; i < N; i++) {
        for (size_t q = 0; q < K; q++) nn[q] = INFINITY;
        for (size_t j = 0; j < N; j++) {
            if (j == i) continue;
            double s = 0;
            for (size_t c = 0; c < D; c++) {
                const double v = (double)x[i * D + c] - x[j * D + c];
                s += v * v;
            }
            for (size_t q = 0; q < K; q++) /* insert into the K smallest, sorted */
                if (s < nn[q]) {
                    for (size_t r = K - 1; r > q; r--) nn[r] = nn[r - 1];
                    nn[q] = s;
                    break;
                }
        }
        double s = 0;
        for (size_t c = 0; c < D; c++) {
            const double v = (double)x[i * D + c] - D_(point)[c];
            s += v * v;
        }
        balls += s <= nn[K - 1];
    }
    double d1, c1, dm, cm, p, r;
    GM_CK_OK(gm_eval_density_coverage(real, point, K, &d1, &c1));
    GM_CK_OK(gm_eval_density_coverage(real, copies, K, &dm, &cm));
    GM_CK_OK(gm_eval_precision_recall(real, copies, K, &p, &r));
    printf("test_eval: %d copies of the mean of %d 2-d reals, k = %d: precision %.3f recall "
           "%.3f density %.4f coverage %.4f (%zu balls hold it)\n",
           M, N, K, p, r, dm, cm, balls);
    ck_assert_msg(balls >= 1 && balls <= 20, "%zu balls hold the mean", balls);
    /* precision calls it perfect; coverage and density count the balls */
    ck_assert(p == 1.0 && r < 0.01);
    ck_assert_msg(c1 == (double)balls / N && d1 == (double)balls / K,
                  "one point: coverage %.17g (want %zu/%d), density %.17g (want %zu/%d)", c1,
                  balls, N, d1, balls, K);
    ck_assert_msg(cm == c1 && dm == d1, "%d copies: %.17g %.17g, one point: %.17g %.17g", M, dm,
                  cm, d1, c1);
    gm_tensor_free(real);
    gm_tensor_free(point);
    gm_tensor_free(copies);
}
END_TEST

START_TEST(test_dc_disjoint_and_mode_dropping)
{
    /* far apart: no fake vector in any real ball */
    gm_tensor *near = normal_set(200, 8, 1, 1.0f, 0.0f), *far = normal_set(150, 8, 2, 1.0f, 100.0f);
    double d = -1, c = -1, p = -1, r = -1;
    GM_CK_OK(gm_eval_density_coverage(near, far, 5, &d, &c));
    GM_CK_OK(gm_eval_precision_recall(near, far, 5, &p, &r));
    ck_assert_msg(d == 0.0 && c == 0.0 && p == 0.0 && r == 0.0, "disjoint: %g %g %g %g", d, c, p,
                  r);
    gm_tensor_free(near);
    gm_tensor_free(far);

    /* dropping 5 of 10 clusters halves coverage; density stays near 1 */
    gm_tensor *real = mixture(1000, 10, 1), *all = mixture(1000, 10, 2);
    gm_tensor *half = mixture(1000, 5, 3);
    double d_all, c_all, d_half, c_half;
    GM_CK_OK(gm_eval_density_coverage(real, all, 5, &d_all, &c_all));
    GM_CK_OK(gm_eval_density_coverage(real, half, 5, &d_half, &c_half));
    printf("test_eval: 10-cluster mixture, k = 5: all classes density %.3f coverage %.3f; "
           "5 of 10 classes %.3f / %.3f\n", d_all, c_all, d_half, c_half);
    ck_assert_msg(c_all >= 0.85 && d_all >= 0.8 && d_all <= 1.25, "all: %.3f / %.3f", d_all,
                  c_all);
    ck_assert_msg(c_half <= 0.55 && c_half >= 0.35, "5 of 10: coverage %.3f", c_half);
    ck_assert_msg(d_half >= 0.8, "5 of 10: density %.3f", d_half);
    gm_tensor_free(real);
    gm_tensor_free(all);
    gm_tensor_free(half);
}
END_TEST

/* ---- nearest neighbours --------------------------------------------------------------- */

START_TEST(test_nearest_bruteforce)
{
    gm_tensor *train = normal_set(3000, 20, 1, 1.0f, 0.0f), *s = normal_set(300, 20, 2, 1.0f, 0.3f);
    /* sample 7 is a copy of training vector 2500 (past the first block) */
    memcpy(D_(s) + 7 * 20, D_(train) + 2500 * 20, 20 * sizeof(float));
    gm_tensor *dist = tnew(1, (const size_t[]){300});
    gm_eval_nearest_stats st;
    GM_CK_OK(gm_eval_nearest(s, train, &st, dist));
    double sum = 0, mn = INFINITY, mx = 0;
    for (size_t i = 0; i < 300; i++) {
        double best = INFINITY;
        for (size_t j = 0; j < 3000; j++) {
            double acc = 0;
            for (size_t c = 0; c < 20; c++) {
                double d = (double)D_(s)[i * 20 + c] - D_(train)[j * 20 + c];
                acc += d * d;
            }
            if (acc < best) best = acc;
        }
        best = sqrt(best);
        ck_assert_msg(fabs(D_(dist)[i] - best) <= 1e-5 * best + 1e-6, "sample %zu: %.7g vs %.7g",
                      i, (double)D_(dist)[i], best);
        sum += best;
        mn = best < mn ? best : mn;
        mx = best > mx ? best : mx;
    }
    ck_assert(D_(dist)[7] == 0.0f && st.min == 0.0);
    ck_assert_msg(fabs(st.mean - sum / 300) <= 1e-6 * st.mean, "mean %g vs %g", st.mean, sum / 300);
    ck_assert(fabs(st.max - mx) <= 1e-6 * mx && st.min == mn);
    ck_assert(st.min <= st.q05 && st.q05 <= st.median && st.median <= st.max);
    gm_tensor_free(train);
    gm_tensor_free(s);
    gm_tensor_free(dist);
}
END_TEST

START_TEST(test_nearest_quantiles)
{
    /* train = {0}, samples 1 .. 20 on a line: the distances are 1 .. 20 */
    gm_tensor *train = T2(1, 1), *s = T2(20, 1);
    for (size_t i = 0; i < 20; i++) D_(s)[i] = (float)(20 - i);
    gm_eval_nearest_stats st;
    GM_CK_OK(gm_eval_nearest(s, train, &st, NULL));
    ck_assert_msg(st.mean == 10.5 && st.min == 1 && st.max == 20 && st.median == 10.5 &&
                      fabs(st.q05 - 1.95) < 1e-12,
                  "mean %g min %g q05 %g median %g max %g", st.mean, st.min, st.q05, st.median,
                  st.max);
    /* one sample: every statistic is its distance */
    gm_tensor *one = T2(1, 1);
    D_(one)[0] = -3;
    GM_CK_OK(gm_eval_nearest(one, train, &st, NULL));
    ck_assert(st.mean == 3 && st.min == 3 && st.q05 == 3 && st.median == 3 && st.max == 3);
    gm_tensor_free(train);
    gm_tensor_free(s);
    gm_tensor_free(one);
}
END_TEST

/* ---- features and the report ------------------------------------------------------------ */

START_TEST(test_features_batches)
{
    gm_net *net = random_conv_net(5);
    gm_layer *l;
    GM_CK_OK(gm_dropout_create(&l, 0.5f, 1)); /* must be off in evaluation */
    GM_CK_OK(gm_net_add(net, l));
    gm_tensor *images = rect_images(37, 1), *want = T2(37, 32);
    GM_CK_OK(gm_net_set_training(net, 0));
    GM_CK_OK(gm_net_forward(net, images, want));
    GM_CK_OK(gm_net_set_training(net, 1));
    const size_t batches[] = {0, 1, 5, 36, 37};
    for (size_t b = 0; b < 5; b++) {
        gm_tensor *got = T2(37, 32);
        GM_CK_OK(gm_eval_features(net, images, batches[b], got));
        gm_ck_close(D_(got), D_(want), 37 * 32, 1e-5, 1e-5, "features");
        ck_assert_int_eq(gm_net_is_training(net), 1);
        gm_tensor_free(got);
    }
    /* any output shape of N x 32 values with N rows */
    gm_tensor *got = tnew(3, (const size_t[]){37, 4, 8});
    GM_CK_OK(gm_net_set_training(net, 0));
    GM_CK_OK(gm_eval_features(net, images, 8, got));
    ck_assert_int_eq(gm_net_is_training(net), 0);
    gm_ck_close(D_(got), D_(want), 37 * 32, 1e-5, 1e-5, "features [N x 4 x 8]");
    gm_tensor_free(got);
    gm_tensor_free(images);
    gm_tensor_free(want);
    gm_net_free(net);
}
END_TEST

/* A small unconditional Bernoulli VAE for 1 x 28 x 28 images, latent 4. */
static gm_vae *small_vae(void)
{
    gm_rng *rng;
    gm_net *enc, *dec;
    gm_layer *l;
    GM_CK_OK(gm_rng_create(&rng, 4));
    GM_CK_OK(gm_net_create(&enc));
    GM_CK_OK(gm_flatten_create(&l));
    GM_CK_OK(gm_net_add(enc, l));
    GM_CK_OK(gm_dense_create(&l, 784, 8, GM_INIT_TORCH, rng));
    GM_CK_OK(gm_net_add(enc, l));
    GM_CK_OK(gm_net_create(&dec));
    GM_CK_OK(gm_dense_create(&l, 4, 784, GM_INIT_TORCH, rng));
    GM_CK_OK(gm_net_add(dec, l));
    GM_CK_OK(gm_reshape_create(&l, 3, (const size_t[]){1, 28, 28}));
    GM_CK_OK(gm_net_add(dec, l));
    gm_vae_options o;
    GM_CK_OK(gm_vae_options_init(&o));
    o.latent = 4;
    gm_vae *vae;
    GM_CK_OK(gm_vae_create(&vae, enc, dec, &o));
    gm_rng_free(rng);
    return vae;
}

START_TEST(test_images_report)
{
    gm_net *net = random_conv_net(6);
    gm_tensor *samples = rect_images(120, 1), *real = rect_images(150, 2),
              *train = rect_images(500, 3);
    gm_vae *vae = small_vae();
    gm_eval_options o;
    GM_CK_OK(gm_eval_options_init(&o));
    ck_assert_uint_eq(o.size, sizeof o);
    ck_assert_uint_eq(o.k, 3);
    o.nearest_max = 50;
    o.iwae_k = 5;
    o.iwae_max = 230; /* more than there are: all 150 */
    o.batch = 32;
    gm_eval_report r = GM_EVAL_REPORT_INIT;
    GM_CK_OK(gm_eval_images(&r, net, samples, real, train, vae, &o));
    ck_assert_uint_eq(r.size, sizeof r);
    ck_assert(r.n_samples == 120 && r.n_real == 150 && r.feature_dim == 32 && r.n_nearest == 50);

    /* the same numbers from the separate calls */
    gm_tensor *fs = features_of(net, samples, 32, 32), *fr = features_of(net, real, 32, 32);
    double d, p, rc;
    GM_CK_OK(gm_eval_frechet(fs, fr, &d));
    GM_CK_OK(gm_eval_precision_recall(fr, fs, 3, &p, &rc));
    ck_assert_msg(r.frechet == d && r.precision == p && r.recall == rc,
                  "report %g %g %g, separate %g %g %g", r.frechet, r.precision, r.recall, d, p,
                  rc);
    double den, cov;
    GM_CK_OK(gm_eval_density_coverage(fr, fs, 3, &den, &cov));
    ck_assert_msg(r.density == den && r.coverage == cov, "report %g %g, separate %g %g",
                  r.density, r.coverage, den, cov);
    ck_assert(r.coverage > 0 && r.coverage <= 1 && r.density > 0);
    gm_tensor *head = T4(50, 1, 28, 28);
    memcpy(D_(head), D_(samples), 50 * 784 * sizeof(float));
    gm_eval_nearest_stats st;
    GM_CK_OK(gm_eval_nearest(head, train, &st, NULL));
    ck_assert(memcmp(&st, &r.nearest, sizeof st) == 0);
    ck_assert_msg(isfinite(r.iwae_nll) && r.iwae_nll > 0 && r.iwae_nll < 2000, "iwae %g",
                  r.iwae_nll);

    /* without train and vae: those fields NaN; NULL options: the defaults */
    gm_eval_report r2 = GM_EVAL_REPORT_INIT;
    GM_CK_OK(gm_eval_images(&r2, net, samples, real, NULL, NULL, NULL));
    ck_assert(r2.n_nearest == 0 && isnan(r2.nearest.mean) && isnan(r2.nearest.max) &&
              isnan(r2.iwae_nll));
    ck_assert_msg(fabs(r2.frechet - d) <= 1e-4 * d && r2.precision == p && r2.recall == rc,
                  "default batch: %.9g %g %g vs %.9g %g %g", r2.frechet, r2.precision, r2.recall,
                  d, p, rc);

    /* a caller with a larger report: the tail past this version is kept */
    struct {
        gm_eval_report r;
        double extra;
    } big;
    memset(&big, 0, sizeof big);
    big.r.size = sizeof big;
    big.extra = 42;
    GM_CK_OK(gm_eval_images(&big.r, net, samples, real, NULL, NULL, NULL));
    ck_assert(big.r.size == sizeof big && big.extra == 42 && big.r.recall == rc);
    ck_assert(big.r.density == den && big.r.coverage == cov);

    /* a caller of the first version (up to iwae_nll): its fields are
     * written, nothing past its size (on the heap, exactly that large, so
     * ASan and valgrind see a write past it) */
    const size_t v1 = offsetof(gm_eval_report, density);
    ck_assert_uint_eq(v1, offsetof(gm_eval_report, iwae_nll) + sizeof(double));
    unsigned char *old = malloc(v1);
    ck_assert_ptr_nonnull(old);
    memset(old, 0, v1);
    memcpy(old, &v1, sizeof v1);
    GM_CK_OK(gm_eval_images((gm_eval_report *)old, net, samples, real, train, vae, &o));
    gm_eval_report got = GM_EVAL_REPORT_INIT;
    memcpy(&got, old, v1);
    ck_assert(got.size == v1 && got.n_samples == 120 && got.frechet == r.frechet &&
              got.precision == p && got.recall == rc && got.n_nearest == 50);
    free(old);
    /* the same size in a full struct: density and coverage are left alone */
    gm_eval_report part = GM_EVAL_REPORT_INIT;
    part.size = v1;
    part.density = part.coverage = -7;
    GM_CK_OK(gm_eval_images(&part, net, samples, real, NULL, NULL, NULL));
    ck_assert(part.size == v1 && part.recall == rc && part.density == -7 && part.coverage == -7);
    part.size = v1 - 1;
    GM_CK_ERR(GM_EINVAL, "gm_eval_images", gm_eval_images(&part, net, samples, real, NULL, NULL,
                                                          NULL));

    gm_tensor *ts[] = {samples, real, train, fs, fr, head};
    for (size_t i = 0; i < 6; i++) gm_tensor_free(ts[i]);
    gm_vae_free(vae);
    gm_net_free(net);
}
END_TEST

/* ---- bad input ---------------------------------------------------------------------------- */

START_TEST(test_bad_frechet)
{
    gm_tensor *a = normal_set(10, 4, 1, 1, 0), *b = normal_set(12, 5, 2, 1, 0),
              *one = normal_set(1, 4, 3, 1, 0), *c = normal_set(12, 4, 4, 1, 0);
    gm_tensor *a3 = tnew(3, (const size_t[]){10, 2, 2});
    double d = 123.0;
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(NULL, c, &d));
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(a, NULL, &d));
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(a, c, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_eval_frechet", gm_eval_frechet(a, b, &d));
    ck_assert_msg(strstr(gm_last_error(), "[10 x 4]") && strstr(gm_last_error(), "[12 x 5]"),
                  "%s", gm_last_error());
    GM_CK_ERR(GM_ESHAPE, "gm_eval_frechet", gm_eval_frechet(a, a3, &d));
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(one, c, &d));
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(c, one, &d));
    D_(c)[13] = NAN;
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(a, c, &d));
    ck_assert_msg(strstr(gm_last_error(), "row 3, element 1"), "%s", gm_last_error());
    D_(c)[13] = INFINITY;
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(c, a, &d));
    gm_tensor *wide = T2(2, 16385);
    GM_CK_ERR(GM_EINVAL, "gm_eval_frechet", gm_eval_frechet(wide, wide, &d));
    ck_assert(d == 123.0);
    gm_tensor *ts[] = {a, b, one, c, a3, wide};
    for (size_t i = 0; i < 6; i++) gm_tensor_free(ts[i]);
}
END_TEST

START_TEST(test_bad_precision_recall)
{
    gm_tensor *a = normal_set(10, 4, 1, 1, 0), *b = normal_set(12, 5, 2, 1, 0),
              *c = normal_set(4, 4, 4, 1, 0);
    double p = 7.0, r = 8.0;
    const char *fn = "gm_eval_precision_recall";
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(NULL, a, 3, &p, &r));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(a, NULL, 3, &p, &r));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(a, a, 3, NULL, NULL));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_precision_recall(a, b, 3, &p, &r));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(a, a, 0, &p, &r));
    /* fewer than k + 1 vectors */
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(c, a, 4, &p, &r));
    ck_assert_msg(strstr(gm_last_error(), "k + 1 = 5") && strstr(gm_last_error(), "got 4"), "%s",
                  gm_last_error());
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(a, c, 4, &p, &r));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(a, a, 10, &p, &r));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(a, a, SIZE_MAX, &p, &r));
    D_(a)[5] = NAN;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(a, c, 3, &p, &r));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_precision_recall(c, a, 3, &p, &r));
    ck_assert_msg(strstr(gm_last_error(), "fake row 1, element 1"), "%s", gm_last_error());
    ck_assert(p == 7.0 && r == 8.0);
    gm_tensor_free(a);
    gm_tensor_free(b);
    gm_tensor_free(c);
}
END_TEST

START_TEST(test_bad_density_coverage)
{
    gm_tensor *a = normal_set(10, 4, 1, 1, 0), *b = normal_set(12, 5, 2, 1, 0),
              *c = normal_set(4, 4, 4, 1, 0), *one = normal_set(1, 4, 5, 1, 0);
    double d = 7.0, cv = 8.0;
    const char *fn = "gm_eval_density_coverage";
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(NULL, a, 3, &d, &cv));
    ck_assert_msg(strstr(gm_last_error(), "real"), "%s", gm_last_error());
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(a, NULL, 3, &d, &cv));
    ck_assert_msg(strstr(gm_last_error(), "fake"), "%s", gm_last_error());
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(a, a, 3, NULL, NULL));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_density_coverage(a, b, 3, &d, &cv));
    ck_assert_msg(strstr(gm_last_error(), "[10 x 4]") && strstr(gm_last_error(), "[12 x 5]"),
                  "%s", gm_last_error());
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(a, a, 0, &d, &cv));
    ck_assert_msg(strstr(gm_last_error(), "got 0"), "%s", gm_last_error());
    /* fewer than k + 1 real vectors; the fake set may be smaller */
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(c, a, 4, &d, &cv));
    ck_assert_msg(strstr(gm_last_error(), "real must hold at least k + 1 = 5") &&
                      strstr(gm_last_error(), "got 4"),
                  "%s", gm_last_error());
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(a, a, 10, &d, &cv));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(a, a, SIZE_MAX, &d, &cv));
    ck_assert(d == 7.0 && cv == 8.0);
    double d1 = -1, c1 = -1;
    GM_CK_OK(gm_eval_density_coverage(a, one, 9, &d1, &c1));
    ck_assert(d1 >= 0 && c1 >= 0 && c1 <= 1);
    /* non-finite values, named by set, row and element */
    D_(a)[5] = NAN;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(a, c, 3, &d, &cv));
    ck_assert_msg(strstr(gm_last_error(), "real row 1, element 1"), "%s", gm_last_error());
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(c, a, 3, &d, &cv));
    ck_assert_msg(strstr(gm_last_error(), "fake row 1, element 1"), "%s", gm_last_error());
    D_(a)[5] = 0;
    D_(one)[3] = -INFINITY;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_density_coverage(a, one, 3, &d, NULL));
    ck_assert_msg(strstr(gm_last_error(), "fake row 0, element 3 is not finite (-inf)"), "%s",
                  gm_last_error());
    ck_assert(d == 7.0 && cv == 8.0);
    gm_tensor *ts[] = {a, b, c, one};
    for (size_t i = 0; i < 4; i++) gm_tensor_free(ts[i]);
}
END_TEST

START_TEST(test_bad_nearest)
{
    gm_tensor *s = normal_set(10, 4, 1, 1, 0), *t = normal_set(12, 4, 2, 1, 0),
              *w = normal_set(12, 5, 3, 1, 0), *dist = T2(10, 1), *dist9 = T2(9, 1);
    for (size_t i = 0; i < 10; i++) D_(dist)[i] = -1;
    gm_eval_nearest_stats st = {1, 2, 3, 4, 5}, keep = st;
    const char *fn = "gm_eval_nearest";
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_nearest(NULL, t, &st, dist));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_nearest(s, NULL, &st, dist));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_nearest(s, t, NULL, dist));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_nearest(s, w, &st, dist));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_nearest(s, t, &st, dist9));
    D_(t)[47] = -INFINITY;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_nearest(s, t, &st, dist));
    ck_assert_msg(strstr(gm_last_error(), "train row 11, element 3"), "%s", gm_last_error());
    D_(t)[47] = 0;
    D_(s)[0] = NAN;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_nearest(s, t, &st, dist));
    ck_assert(memcmp(&st, &keep, sizeof st) == 0);
    for (size_t i = 0; i < 10; i++) ck_assert(D_(dist)[i] == -1);
    gm_tensor *ts[] = {s, t, w, dist, dist9};
    for (size_t i = 0; i < 5; i++) gm_tensor_free(ts[i]);
}
END_TEST

START_TEST(test_bad_features)
{
    gm_net *net = random_conv_net(1), *empty;
    GM_CK_OK(gm_net_create(&empty));
    gm_tensor *images = rect_images(10, 1), *small = T4(10, 1, 14, 14), *out = T2(10, 32),
              *out_rows = T2(5, 64), *out_cols = T2(10, 31);
    GM_CK_OK(gm_tensor_fill(out, 5.0f));
    const char *fn = "gm_eval_features";
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_features(NULL, images, 0, out));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_features(net, NULL, 0, out));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_features(net, images, 0, NULL));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_features(net, images, 11, out));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_features(empty, images, 0, out));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_features(net, small, 0, out));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_features(net, images, 0, out_rows));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_features(net, images, 0, out_cols));
    ck_assert_msg(strstr(gm_last_error(), "[10 x 32]") && strstr(gm_last_error(), "[10 x 31]"),
                  "%s", gm_last_error());
    D_(images)[784 * 3 + 5] = NAN;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_features(net, images, 4, out));
    ck_assert_msg(strstr(gm_last_error(), "row 3, element 5"), "%s", gm_last_error());
    for (size_t i = 0; i < 320; i++) ck_assert(D_(out)[i] == 5.0f);
    ck_assert_int_eq(gm_net_is_training(net), 1);
    gm_tensor *ts[] = {images, small, out, out_rows, out_cols};
    for (size_t i = 0; i < 5; i++) gm_tensor_free(ts[i]);
    gm_net_free(net);
    gm_net_free(empty);
}
END_TEST

START_TEST(test_bad_images)
{
    gm_net *net = random_conv_net(1);
    gm_vae *vae = small_vae();
    gm_tensor *s = rect_images(20, 1), *r = rect_images(20, 2), *tr = rect_images(30, 3),
              *small = T4(20, 1, 14, 14), *few = rect_images(3, 4), *flat = T2(20, 784);
    gm_eval_report rep = GM_EVAL_REPORT_INIT;
    rep.frechet = -5;
    const gm_eval_report keep = rep;
    gm_eval_options o;
    GM_CK_OK(gm_eval_options_init(&o));
    const char *fn = "gm_eval_images";
    GM_CK_ERR(GM_EINVAL, "gm_eval_options_init", gm_eval_options_init(NULL));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(NULL, net, s, r, tr, vae, &o));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, NULL, s, r, tr, vae, &o));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, NULL, r, tr, vae, &o));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, NULL, tr, vae, &o));
    gm_eval_report bad_size = rep;
    bad_size.size = offsetof(gm_eval_report, density) - 8; /* below the first version */
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&bad_size, net, s, r, tr, vae, &o));
    bad_size.size = 0;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&bad_size, net, s, r, tr, vae, &o));
    gm_eval_options ob = o;
    ob.size = 8;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, r, tr, vae, &ob));
    struct {
        gm_eval_options o;
        size_t extra;
    } big = {o, 1};
    big.o.size = sizeof big;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, r, tr, vae, &big.o));
    ob = o;
    ob.k = 0;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, r, tr, vae, &ob));
    ob = o;
    ob.iwae_k = 0;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, r, tr, vae, &ob));
    ob = o;
    ob.batch = 21;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, r, tr, vae, &ob));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, few, r, tr, vae, &o));
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, few, tr, vae, &o));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_images(&rep, net, s, small, tr, vae, &o));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_images(&rep, net, s, r, flat, vae, &o));
    GM_CK_ERR(GM_ESHAPE, fn, gm_eval_images(&rep, net, small, small, NULL, NULL, &o));
    ck_assert_msg(strstr(gm_last_error(), "gm_net_output_shape"), "%s", gm_last_error());
    D_(tr)[100] = NAN;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, r, tr, vae, &o));
    ck_assert_msg(strstr(gm_last_error(), "train row 0, element 100"), "%s", gm_last_error());
    D_(tr)[100] = 0;
    D_(r)[0] = INFINITY;
    GM_CK_ERR(GM_EINVAL, fn, gm_eval_images(&rep, net, s, r, tr, vae, &o));
    D_(r)[0] = 0;
    ck_assert(memcmp(&rep, &keep, sizeof rep) == 0);
    ck_assert_int_eq(gm_net_is_training(net), 1);
    gm_tensor *ts[] = {s, r, tr, small, few, flat};
    for (size_t i = 0; i < 6; i++) gm_tensor_free(ts[i]);
    gm_vae_free(vae);
    gm_net_free(net);
}
END_TEST

/* A VAE that does not fit the real images fails inside gm_vae_iwae; the
 * message names both functions and the report is untouched. */
START_TEST(test_bad_images_vae)
{
    gm_net *net, *enc, *dec;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_flatten_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 1));
    GM_CK_OK(gm_net_create(&enc));
    GM_CK_OK(gm_dense_create(&l, 100, 8, GM_INIT_TORCH, rng));
    GM_CK_OK(gm_net_add(enc, l));
    GM_CK_OK(gm_net_create(&dec));
    GM_CK_OK(gm_dense_create(&l, 4, 100, GM_INIT_TORCH, rng));
    GM_CK_OK(gm_net_add(dec, l));
    gm_vae_options vo;
    GM_CK_OK(gm_vae_options_init(&vo));
    vo.latent = 4;
    gm_vae *vae;
    GM_CK_OK(gm_vae_create(&vae, enc, dec, &vo));
    gm_tensor *s = normal_set(20, 64, 1, 0.1f, 0.5f), *r = normal_set(20, 64, 2, 0.1f, 0.5f);
    gm_eval_report rep = GM_EVAL_REPORT_INIT, keep = rep;
    gm_status st = gm_eval_images(&rep, net, s, r, NULL, vae, NULL);
    ck_assert_msg(st != GM_OK && strstr(gm_last_error(), "gm_eval_images: gm_vae_iwae"), "%s: %s",
                  gm_status_string(st), gm_last_error());
    ck_assert(memcmp(&rep, &keep, sizeof rep) == 0);
    gm_tensor_free(s);
    gm_tensor_free(r);
    gm_vae_free(vae);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

/* ---- failing allocations ------------------------------------------------------------------ */

/* An allocator that, once armed, lets `left` allocations through and then
 * fails every one; it counts live blocks. */
static struct {
    int armed;
    long left;
    int fired;
} g_fa;

static void *fa_malloc(void *user, size_t n)
{
    (void)user;
    if (g_fa.armed && g_fa.left-- <= 0) {
        g_fa.fired = 1;
        return NULL;
    }
    return malloc(n ? n : 1);
}
static void *fa_realloc(void *user, void *p, size_t n)
{
    (void)user;
    if (g_fa.armed && g_fa.left-- <= 0) {
        g_fa.fired = 1;
        return NULL;
    }
    return realloc(p, n ? n : 1);
}
static void fa_free(void *user, void *p)
{
    (void)user;
    free(p);
}

/* Runs `call` with the allocator failing after 0, 1, 2, ... allocations
 * until it succeeds: each failure is GM_ENOMEM naming `fn`, and leaks
 * nothing. */
#define FAIL_LOOP(fn, call, before_each)                                                      \
    do {                                                                                     \
        for (long n_ = 0;; n_++) {                                                           \
            before_each;                                                                     \
            const size_t live_ = gm_live_allocations();                                      \
            g_fa.left = n_, g_fa.fired = 0, g_fa.armed = 1;                                  \
            gm_clear_error();                                                                \
            gm_status st_ = (call);                                                          \
            g_fa.armed = 0;                                                                  \
            ck_assert_uint_eq(gm_live_allocations(), live_);                                 \
            if (st_ == GM_OK) {                                                              \
                ck_assert_msg(!g_fa.fired, "%s succeeded after a failed allocation", fn);    \
                break;                                                                       \
            }                                                                                \
            ck_assert_msg(st_ == GM_ENOMEM && strstr(gm_last_error(), fn),                   \
                          "%s with %ld allocations: %s: %s", fn, n_, gm_status_string(st_),   \
                          gm_last_error());                                                  \
            ck_assert_msg(n_ < 100, "%s still failing after 100 allocations", fn);           \
        }                                                                                    \
    } while (0)

START_TEST(test_failing_allocations)
{
    const gm_allocator fa = {fa_malloc, fa_realloc, fa_free, NULL};
    GM_CK_OK(gm_set_allocator(&fa));
    {
        gm_tensor *a = normal_set(50, 6, 1, 1, 0), *b = normal_set(40, 6, 2, 1, 0);
        gm_tensor *dist = T2(40, 1);
        double d = -1, p = -1, r = -1;
        gm_eval_nearest_stats st = {0, 0, 0, 0, 0};
        FAIL_LOOP("gm_eval_frechet", gm_eval_frechet(a, b, &d), ck_assert(d == -1));
        FAIL_LOOP("gm_eval_precision_recall", gm_eval_precision_recall(a, b, 3, &p, &r),
                  ck_assert(p == -1 && r == -1));
        double den = -1, cov = -1;
        FAIL_LOOP("gm_eval_density_coverage", gm_eval_density_coverage(a, b, 3, &den, &cov),
                  ck_assert(den == -1 && cov == -1));
        ck_assert(den >= 0 && cov > 0);
        FAIL_LOOP("gm_eval_nearest", gm_eval_nearest(b, a, &st, dist), ck_assert(st.max == 0));
        ck_assert(d > 0 && p >= 0 && r >= 0 && st.max > 0);

        gm_net *net = random_conv_net(3);
        gm_vae *vae = small_vae();
        gm_tensor *s = rect_images(12, 1), *re = rect_images(14, 2), *tr = rect_images(16, 3);
        gm_tensor *f = T2(12, 32);
        GM_CK_OK(gm_tensor_fill(f, 9.0f));
        /* warm-ups: the net's and the VAE's buffers exist before the loops */
        GM_CK_OK(gm_eval_features(net, s, 5, f));
        GM_CK_OK(gm_tensor_fill(f, 9.0f));
        gm_eval_report rep = GM_EVAL_REPORT_INIT;
        GM_CK_OK(gm_eval_images(&rep, net, s, re, tr, vae, NULL));
        rep = (gm_eval_report)GM_EVAL_REPORT_INIT;
        FAIL_LOOP("gm_eval_features", gm_eval_features(net, s, 5, f), ck_assert(D_(f)[0] == 9.0f));
        FAIL_LOOP("gm_eval_images", gm_eval_images(&rep, net, s, re, tr, vae, NULL),
                  ck_assert(rep.n_samples == 0));
        ck_assert(rep.n_samples == 12 && isfinite(rep.iwae_nll));
        gm_tensor *ts[] = {a, b, dist, s, re, tr, f};
        for (size_t i = 0; i < 7; i++) gm_tensor_free(ts[i]);
        gm_vae_free(vae);
        gm_net_free(net);
    }
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("eval");
    TCase *tc = tcase_create("frechet");
    tcase_add_test(tc, test_frechet_matches_scipy);
    tcase_add_test(tc, test_frechet_identical_and_symmetric);
    tcase_add_test(tc, test_frechet_grows_with_shift);
    tcase_add_test(tc, test_frechet_grows_with_blur);
    suite_add_tcase(s, tc);
    tc = tcase_create("precision_recall");
    tcase_add_test(tc, test_pr_matches_bruteforce);
    tcase_add_test(tc, test_pr_identical);
    tcase_add_test(tc, test_pr_mode_dropping);
    suite_add_tcase(s, tc);
    tc = tcase_create("density_coverage");
    tcase_add_test(tc, test_dc_matches_bruteforce);
    tcase_add_test(tc, test_dc_identical);
    tcase_add_test(tc, test_dc_one_point_at_the_mean);
    tcase_add_test(tc, test_dc_disjoint_and_mode_dropping);
    suite_add_tcase(s, tc);
    tc = tcase_create("nearest");
    tcase_add_test(tc, test_nearest_bruteforce);
    tcase_add_test(tc, test_nearest_quantiles);
    suite_add_tcase(s, tc);
    tc = tcase_create("features_and_report");
    tcase_add_test(tc, test_features_batches);
    tcase_add_test(tc, test_images_report);
    suite_add_tcase(s, tc);
    tc = tcase_create("fashion_mnist");
    tcase_add_test(tc, test_fashion_blur_and_precision_recall);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad_input");
    tcase_add_test(tc, test_bad_frechet);
    tcase_add_test(tc, test_bad_precision_recall);
    tcase_add_test(tc, test_bad_density_coverage);
    tcase_add_test(tc, test_bad_nearest);
    tcase_add_test(tc, test_bad_features);
    tcase_add_test(tc, test_bad_images);
    tcase_add_test(tc, test_bad_images_vae);
    tcase_add_test(tc, test_failing_allocations);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
