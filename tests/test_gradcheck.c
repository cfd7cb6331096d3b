/* SPDX-License-Identifier: MIT */
/*
 * A property suite: it checks one property across modules. Each module's
 * other tests live in (tests/):
 *   core    test_core.c (errors, generator, allocator, tensors), test_abi_compat.c
 *   engine  test_engine.c, test_engine_layer_state.c, test_train.c, test_fit.c
 *           (the fit loop), test_api_names.c (new names)
 *   vae     test_vae.c, test_vae_mnist.c
 *   gan     test_gan.c, test_gan_loss.c
 *   io      test_checkpoint.c, test_png.c, test_folder.c, test_coverage_gaps.c
 *   eval    test_eval.c
 *   interp  test_interp.c
 *   all     test_badinput.c, test_gradcheck.c, test_reference.c,
 *           test_threads.c, test_reliability.c (the property suites)
 */
/* Central finite-difference checks of every layer's input and parameter
 * gradients and of every loss's gradient, on random inputs and several
 * shapes. The scalar checked is L = sum(y * r) for a fixed random r, so
 * the upstream gradient is r. Sums are taken in double. */
#include <stdlib.h>

#include "engine/engine.h" /* the BLAS seam; spectral norm's u and v */
#include "gm_test.h"

#define EPS 1e-3f
#define ATOL 2e-3
#define RTOL 2e-2

typedef gm_status (*make_layer_fn)(gm_layer **out, gm_rng *rng, size_t in);

static gm_tensor *tensor_like(size_t ndim, const size_t *shape)
{
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, ndim, shape));
    return t;
}

/* L = sum(net(x) * r) in double. */
static double objective(gm_net *net, gm_tensor *x, gm_tensor *y, const float *r)
{
    GM_CK_OK(gm_net_forward(net, x, y));
    const float *yd = gm_tensor_data(y);
    double s = 0.0;
    for (size_t i = 0; i < gm_tensor_numel(y); i++) s += (double)yd[i] * r[i];
    return s;
}

/* Checks dx and every parameter gradient of `net` at a random x. Values
 * with |x| < 0.05 are pushed away from activation kinks. */
static void check_net(gm_net *net, size_t ndim, const size_t *shape, uint64_t seed)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    gm_tensor *x = tensor_like(ndim, shape), *dx = tensor_like(ndim, shape);
    size_t ond, oshape[GM_MAX_DIMS];
    GM_CK_OK(gm_net_output_shape(net, ndim, shape, &ond, oshape));
    gm_tensor *y = tensor_like(ond, oshape), *r = tensor_like(ond, oshape);
    float *xd = gm_tensor_data(x);
    GM_CK_OK(gm_rng_normal(rng, xd, gm_tensor_numel(x)));
    for (size_t i = 0; i < gm_tensor_numel(x); i++)
        if (fabsf(xd[i]) < 0.05f) xd[i] += xd[i] < 0 ? -0.1f : 0.1f;
    GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(r), gm_tensor_numel(r)));
    const float *rd = gm_tensor_data(r);

    GM_CK_OK(gm_net_zero_grad(net));
    objective(net, x, y, rd);
    GM_CK_OK(gm_net_backward(net, r, dx));
    size_t np = gm_net_param_count(net);
    float *params = malloc((np + 1) * sizeof(float));
    float *grads = malloc((np + 1) * sizeof(float));
    GM_CK_OK(gm_net_get_params(net, params, np));
    GM_CK_OK(gm_net_get_grads(net, grads, np));
    /* a second backward of the same forward accumulates: twice the grads */
    float *twice = malloc((np + 1) * sizeof(float));
    GM_CK_OK(gm_net_backward(net, r, NULL));
    GM_CK_OK(gm_net_get_grads(net, twice, np));
    for (size_t j = 0; j < np; j++)
        ck_assert_msg(fabsf(twice[j] - 2.0f * grads[j]) <= 1e-5f * (1.0f + fabsf(grads[j])),
                      "grad[%zu] does not accumulate: %g then %g", j, (double)grads[j],
                      (double)twice[j]);
    free(twice);

    /* input gradient */
    const float *dxd = gm_tensor_data(dx);
    for (size_t i = 0; i < gm_tensor_numel(x); i++) {
        float keep = xd[i];
        xd[i] = keep + EPS;
        double lp = objective(net, x, y, rd);
        xd[i] = keep - EPS;
        double lm = objective(net, x, y, rd);
        xd[i] = keep;
        double num = (lp - lm) / (2.0 * EPS);
        ck_assert_msg(fabs(num - dxd[i]) <= ATOL + RTOL * fabs(num),
                      "dx[%zu]: analytic %.6g, numeric %.6g", i, (double)dxd[i], num);
    }
    /* parameter gradients */
    for (size_t j = 0; j < np; j++) {
        float keep = params[j];
        params[j] = keep + EPS;
        GM_CK_OK(gm_net_set_params(net, params, np));
        double lp = objective(net, x, y, rd);
        params[j] = keep - EPS;
        GM_CK_OK(gm_net_set_params(net, params, np));
        double lm = objective(net, x, y, rd);
        params[j] = keep;
        double num = (lp - lm) / (2.0 * EPS);
        ck_assert_msg(fabs(num - grads[j]) <= ATOL + RTOL * fabs(num),
                      "dparam[%zu]: analytic %.6g, numeric %.6g", j, (double)grads[j], num);
    }
    GM_CK_OK(gm_net_set_params(net, params, np));
    free(params);
    free(grads);
    gm_tensor_free(x);
    gm_tensor_free(dx);
    gm_tensor_free(y);
    gm_tensor_free(r);
    gm_rng_free(rng);
}

/* A dense layer, the layer under test, a dense layer: the dense layers
 * give the test parameter gradients that flow through the layer. */
static void check_sandwich(gm_layer *mid, size_t batch, size_t in, size_t hidden,
                           uint64_t seed)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    gm_net *net;
    gm_layer *a, *b;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&a, in, hidden, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_net_add(net, a));
    GM_CK_OK(gm_net_add(net, mid));
    GM_CK_OK(gm_dense_create(&b, hidden, 3, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_net_add(net, b));
    size_t shape[2] = {batch, in};
    check_net(net, 2, shape, seed + 1);
    gm_net_free(net);
    gm_rng_free(rng);
}

static const size_t SHAPES[][3] = {{1, 4, 5}, {3, 6, 4}, {5, 2, 7}};

#define ACTIVATION_TEST(name, make)                                          \
    START_TEST(name)                                                         \
    {                                                                        \
        for (size_t s = 0; s < 3; s++) {                                     \
            gm_layer *l;                                                     \
            GM_CK_OK(make);                                                  \
            check_sandwich(l, SHAPES[s][0], SHAPES[s][1], SHAPES[s][2], 10 + s); \
        }                                                                    \
    }                                                                        \
    END_TEST

ACTIVATION_TEST(test_relu, gm_relu_create(&l))
ACTIVATION_TEST(test_leaky_relu, gm_leaky_relu_create(&l, 0.2f))
ACTIVATION_TEST(test_sigmoid, gm_sigmoid_create(&l))
ACTIVATION_TEST(test_tanh, gm_tanh_create(&l))
ACTIVATION_TEST(test_softplus, gm_softplus_create(&l))
ACTIVATION_TEST(test_elu, gm_elu_create(&l, 0.7f))
ACTIVATION_TEST(test_flatten, gm_flatten_create(&l))
ACTIVATION_TEST(test_dropout_p0_is_identity, gm_dropout_create(&l, 0.0f, 3))

START_TEST(test_dense_alone)
{
    for (size_t s = 0; s < 3; s++) {
        gm_rng *rng;
        gm_net *net;
        gm_layer *d;
        GM_CK_OK(gm_rng_create(&rng, 40 + s));
        GM_CK_OK(gm_net_create(&net));
        GM_CK_OK(gm_dense_create(&d, SHAPES[s][1], SHAPES[s][2], GM_INIT_TORCH, rng));
        GM_CK_OK(gm_net_add(net, d));
        check_net(net, 2, (size_t[]){SHAPES[s][0], SHAPES[s][1]}, 50 + s);
        gm_net_free(net);
        gm_rng_free(rng);
    }
}
END_TEST

/* Dense over a rank-4 input, reshape in the middle of a net. */
START_TEST(test_dense_rank4_and_reshape)
{
    gm_rng *rng;
    gm_net *net;
    gm_layer *a, *r, *f, *b;
    GM_CK_OK(gm_rng_create(&rng, 7));
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&a, 2 * 3 * 2, 6, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, a));
    GM_CK_OK(gm_reshape_create(&r, 3, (size_t[]){1, 2, 3}));
    GM_CK_OK(gm_net_add(net, r));
    GM_CK_OK(gm_flatten_create(&f));
    GM_CK_OK(gm_net_add(net, f));
    GM_CK_OK(gm_dense_create(&b, 6, 2, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, b));
    check_net(net, 4, (size_t[]){3, 2, 3, 2}, 8);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

/* With a fixed mask dropout is y = m * x, so dx must be dy * m where
 * m = y / x; the mask keeps a fraction 1 - p, scaled by 1 / (1 - p). */
START_TEST(test_dropout_train)
{
    const float p = 0.3f;
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dropout_create(&l, p, 99));
    GM_CK_OK(gm_net_add(net, l));
    const size_t N = 64, D = 50, M = N * D;
    gm_tensor *x = tensor_like(2, (size_t[]){N, D}), *y = tensor_like(2, (size_t[]){N, D});
    gm_tensor *dy = tensor_like(2, (size_t[]){N, D}), *dx = tensor_like(2, (size_t[]){N, D});
    GM_CK_OK(gm_tensor_fill(x, 2.0f));
    GM_CK_OK(gm_tensor_fill(dy, 3.0f));
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, dy, dx));
    size_t kept = 0;
    for (size_t i = 0; i < M; i++) {
        float m = gm_tensor_data(y)[i] / 2.0f;
        ck_assert(m == 0.0f || fabsf(m - 1.0f / (1.0f - p)) < 1e-6f);
        kept += m != 0.0f;
        ck_assert_float_eq_tol(gm_tensor_data(dx)[i], 3.0f * m, 1e-6f);
    }
    double frac = (double)kept / M;
    ck_assert_msg(fabs(frac - (1.0 - p)) < 0.03, "kept fraction %.3f", frac);
    /* the next forward draws a new mask; eval mode is the identity */
    float first[8];
    memcpy(first, gm_tensor_data(y), sizeof first);
    GM_CK_OK(gm_net_forward(net, x, y));
    ck_assert(memcmp(first, gm_tensor_data(y), sizeof first) != 0 ||
              memcmp(first + 4, gm_tensor_data(y) + 4, 4 * sizeof(float)) != 0);
    GM_CK_OK(gm_net_set_training(net, 0));
    GM_CK_OK(gm_net_forward(net, x, y));
    for (size_t i = 0; i < M; i++) ck_assert(gm_tensor_data(y)[i] == 2.0f);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(dx);
    gm_tensor_free(dy);
    gm_net_free(net);
}
END_TEST

/* A frozen layer passes gradients through but accumulates none. */
START_TEST(test_frozen_layer)
{
    gm_rng *rng;
    gm_net *net;
    gm_layer *a, *b;
    GM_CK_OK(gm_rng_create(&rng, 5));
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&a, 3, 4, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, a));
    GM_CK_OK(gm_dense_create(&b, 4, 2, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, b));
    GM_CK_OK(gm_net_set_trainable(net, 1, 0));
    gm_tensor *x = tensor_like(2, (size_t[]){2, 3}), *y = tensor_like(2, (size_t[]){2, 2});
    GM_CK_OK(gm_tensor_fill(x, 1.0f));
    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, y, NULL));
    float g[16 + 10];
    GM_CK_OK(gm_net_get_grads(net, g, 26));
    double first = 0, second = 0;
    for (int i = 0; i < 16; i++) first += fabsf(g[i]);
    for (int i = 16; i < 26; i++) second += fabsf(g[i]);
    ck_assert(first > 0.0);
    ck_assert(second == 0.0);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

/* ---- convolutions ------------------------------------------------------ */

/* {in_ch, out_ch, kernel, stride, padding, H, W, batch} */
static const size_t CONV_CASES[][8] = {
    {1, 2, 3, 1, 0, 5, 5, 2}, {2, 3, 3, 2, 1, 6, 5, 1}, {3, 2, 4, 2, 1, 6, 6, 2},
    {2, 2, 1, 1, 0, 3, 4, 3}, {1, 1, 2, 3, 1, 7, 4, 1},
    /* a DCGAN-like 4x4 stride-2 layer whose patch rows (7 x 6 and, for the
     * transposed conv, 13 x 11 positions) are long enough for the
     * vectorized blocks of im2col, not only their scalar tails */
    {2, 3, 4, 2, 1, 14, 12, 2},
};

START_TEST(test_conv2d)
{
    for (size_t c = 0; c < sizeof CONV_CASES / sizeof *CONV_CASES; c++) {
        const size_t *k = CONV_CASES[c];
        gm_rng *rng;
        gm_net *net;
        gm_layer *l;
        GM_CK_OK(gm_rng_create(&rng, 200 + c));
        GM_CK_OK(gm_net_create(&net));
        GM_CK_OK(gm_conv2d_create(&l, k[0], k[1], k[2], k[3], k[4], GM_INIT_TORCH, rng));
        GM_CK_OK(gm_net_add(net, l));
        check_net(net, 4, (size_t[]){k[7], k[0], k[5], k[6]}, 300 + c);
        gm_net_free(net);
        gm_rng_free(rng);
    }
}
END_TEST

START_TEST(test_conv_transpose2d)
{
    for (size_t c = 0; c < sizeof CONV_CASES / sizeof *CONV_CASES; c++) {
        const size_t *k = CONV_CASES[c];
        gm_rng *rng;
        gm_net *net;
        gm_layer *l;
        GM_CK_OK(gm_rng_create(&rng, 400 + c));
        GM_CK_OK(gm_net_create(&net));
        GM_CK_OK(gm_conv_transpose2d_create(&l, k[0], k[1], k[2], k[3], k[4], GM_INIT_TORCH, rng));
        GM_CK_OK(gm_net_add(net, l));
        check_net(net, 4, (size_t[]){k[7], k[0], k[5] - 1, k[6] - 1}, 500 + c);
        gm_net_free(net);
        gm_rng_free(rng);
    }
}
END_TEST

/* Conv2D equals the definition computed with nested loops in double; the
 * transposed conv equals the adjoint: <conv(x), y> = <x, convT(y)> with
 * shared weights and no bias. */
START_TEST(test_conv_matches_direct_loops)
{
    for (size_t c = 0; c < sizeof CONV_CASES / sizeof *CONV_CASES; c++) {
        const size_t *k = CONV_CASES[c];
        const size_t C = k[0], O = k[1], K = k[2], S = k[3], P = k[4], H = k[5], W = k[6], N = k[7];
        const size_t Ho = (H + 2 * P - K) / S + 1, Wo = (W + 2 * P - K) / S + 1;
        gm_rng *rng;
        gm_net *net, *tnet;
        gm_layer *l, *t;
        GM_CK_OK(gm_rng_create(&rng, 600 + c));
        GM_CK_OK(gm_net_create(&net));
        GM_CK_OK(gm_conv2d_create(&l, C, O, K, S, P, GM_INIT_TORCH, rng));
        GM_CK_OK(gm_net_add(net, l));
        gm_tensor *x = tensor_like(4, (size_t[]){N, C, H, W}), *y = tensor_like(4, (size_t[]){N, O, Ho, Wo});
        GM_CK_OK(gm_tensor_fill_normal(x, rng));
        GM_CK_OK(gm_net_forward(net, x, y));
        float w[4096];
        size_t np = gm_net_param_count(net);
        ck_assert_uint_le(np, 4096);
        GM_CK_OK(gm_net_get_params(net, w, np));
        const float *xd = gm_tensor_data(x);
        float bias[64];
        ck_assert_uint_le(O, 64);
        memcpy(bias, w + O * C * K * K, O * sizeof(float));
        for (size_t n = 0; n < N; n++)
            for (size_t o = 0; o < O; o++)
                for (size_t i = 0; i < Ho; i++)
                    for (size_t j = 0; j < Wo; j++) {
                        double acc = bias[o];
                        for (size_t ci = 0; ci < C; ci++)
                            for (size_t a = 0; a < K; a++)
                                for (size_t b = 0; b < K; b++) {
                                    long ih = (long)(i * S + a) - (long)P, iw = (long)(j * S + b) - (long)P;
                                    if (ih < 0 || iw < 0 || ih >= (long)H || iw >= (long)W) continue;
                                    acc += (double)w[((o * C + ci) * K + a) * K + b] *
                                           xd[((n * C + ci) * H + (size_t)ih) * W + (size_t)iw];
                                }
                        float got = gm_tensor_data(y)[((n * O + o) * Ho + i) * Wo + j];
                        ck_assert_msg(fabs(got - acc) <= 1e-5 * (1 + fabs(acc)),
                                      "case %zu: y[%zu,%zu,%zu,%zu] = %g, loops give %g", c, n, o, i,
                                      j, (double)got, acc);
                    }
        /* adjoint: the transposed conv with the same weights (its layout
         * [in=O x out=C x k x k] is the conv's [O x C x k x k]), no bias */
        GM_CK_OK(gm_net_create(&tnet));
        GM_CK_OK(gm_conv_transpose2d_create(&t, O, C, K, S, P, GM_INIT_ZEROS, NULL));
        GM_CK_OK(gm_net_add(tnet, t));
        memset(w + O * C * K * K, 0, C * sizeof(float));
        GM_CK_OK(gm_net_set_params(tnet, w, O * C * K * K + C));
        size_t tnd, tshape[GM_MAX_DIMS];
        GM_CK_OK(gm_net_output_shape(tnet, 4, (size_t[]){N, O, Ho, Wo}, &tnd, tshape));
        if (tshape[2] == H && tshape[3] == W) { /* exact geometry only */
            gm_tensor *r = tensor_like(4, (size_t[]){N, O, Ho, Wo}), *tr = tensor_like(4, (size_t[]){N, C, H, W});
            GM_CK_OK(gm_tensor_fill_normal(r, rng));
            GM_CK_OK(gm_net_forward(tnet, r, tr));
            double lhs = 0, rhs = 0;
            for (size_t q = 0; q < gm_tensor_numel(y); q++) {
                /* conv without bias: y - b */
                size_t o = (q / (Ho * Wo)) % O;
                lhs += ((double)gm_tensor_data(y)[q] - bias[o]) * gm_tensor_data(r)[q];
            }
            for (size_t q = 0; q < gm_tensor_numel(x); q++)
                rhs += (double)xd[q] * gm_tensor_data(tr)[q];
            ck_assert_msg(fabs(lhs - rhs) <= 1e-4 * (1 + fabs(lhs)), "case %zu adjoint: %g vs %g", c,
                          lhs, rhs);
            gm_tensor_free(r);
            gm_tensor_free(tr);
        }
        gm_tensor_free(x);
        gm_tensor_free(y);
        gm_net_free(net);
        gm_net_free(tnet);
        gm_rng_free(rng);
    }
}
END_TEST

/* Bad settings and inputs that do not fit: an error naming the function,
 * no layer made, and a net whose forward fails keeps its parameters. */
START_TEST(test_conv_bad_input)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 880));
    typedef gm_status (*mk)(gm_layer **, size_t, size_t, size_t, size_t, size_t, gm_init,
                            gm_rng *);
    const mk make[2] = {gm_conv2d_create, gm_conv_transpose2d_create};
    const char *name[2] = {"gm_conv2d_create", "gm_conv_transpose2d_create"};
    /* {in, out, kernel, stride, padding, init} */
    static const size_t bad[][6] = {{0, 2, 3, 1, 0, 0},     {2, 0, 3, 1, 0, 0},
                                    {65537, 2, 3, 1, 0, 0}, {2, 65537, 3, 1, 0, 0},
                                    {2, 2, 0, 1, 0, 0},     {2, 2, 65, 1, 0, 0},
                                    {2, 2, 3, 0, 0, 0},     {2, 2, 3, 65, 0, 0},
                                    {2, 2, 3, 1, 3, 0},     {2, 2, 3, 1, 0, 9}};
    for (int k = 0; k < 2; k++) {
        for (size_t c = 0; c < sizeof bad / sizeof *bad; c++) {
            gm_layer *l = (gm_layer *)1;
            const size_t *b = bad[c];
            GM_CK_ERR(GM_EINVAL, name[k], make[k](&l, b[0], b[1], b[2], b[3], b[4], (gm_init)b[5], rng));
            ck_assert_ptr_null(l);
        }
        gm_layer *l = (gm_layer *)1;
        GM_CK_ERR(GM_EINVAL, name[k], make[k](NULL, 2, 2, 3, 1, 0, GM_INIT_HE, rng));
        GM_CK_ERR(GM_EINVAL, name[k], make[k](&l, 2, 2, 3, 1, 0, GM_INIT_HE, NULL));
        ck_assert_ptr_null(l);
    }
    /* inputs that do not fit: kernel larger than the padded image, wrong
     * channels, wrong rank, a transposed conv with no output; batchnorm
     * with the wrong feature count */
    struct {
        int transpose;
        size_t in, out, k, s, p;
        size_t nd, shape[4];
    } shapes[] = {{0, 2, 3, 5, 1, 0, 4, {1, 2, 4, 4}},
                  {0, 2, 3, 3, 1, 1, 4, {1, 3, 8, 8}},
                  {0, 2, 3, 3, 1, 1, 2, {1, 8}},
                  {1, 2, 3, 2, 1, 1, 4, {1, 2, 1, 1}}};
    for (size_t c = 0; c < sizeof shapes / sizeof *shapes; c++) {
        gm_net *net;
        gm_layer *l;
        GM_CK_OK(gm_net_create(&net));
        GM_CK_OK(make[shapes[c].transpose](&l, shapes[c].in, shapes[c].out, shapes[c].k,
                                           shapes[c].s, shapes[c].p, GM_INIT_HE, rng));
        GM_CK_OK(gm_net_add(net, l));
        size_t np = gm_net_param_count(net), ond, oshape[GM_MAX_DIMS];
        float *before = malloc(np * sizeof *before), *after = malloc(np * sizeof *after);
        GM_CK_OK(gm_net_get_params(net, before, np));
        gm_tensor *x = tensor_like(shapes[c].nd, shapes[c].shape), *y = tensor_like(2, (size_t[]){1, 1});
        GM_CK_ERR(GM_ESHAPE, "gm_net_output_shape",
                  gm_net_output_shape(net, shapes[c].nd, shapes[c].shape, &ond, oshape));
        GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x, y));
        GM_CK_OK(gm_net_get_params(net, after, np));
        ck_assert(memcmp(before, after, np * sizeof *before) == 0);
        free(before);
        free(after);
        gm_tensor_free(x);
        gm_tensor_free(y);
        gm_net_free(net);
    }
    gm_net *net;
    gm_layer *bn;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_batchnorm_create(&bn, 4, 0.1f, 1e-5f));
    GM_CK_OK(gm_net_add(net, bn));
    size_t ond, oshape[GM_MAX_DIMS];
    GM_CK_ERR(GM_ESHAPE, "gm_net_output_shape",
              gm_net_output_shape(net, 2, (size_t[]){3, 5}, &ond, oshape));
    GM_CK_ERR(GM_ESHAPE, "gm_net_output_shape",
              gm_net_output_shape(net, 4, (size_t[]){3, 5, 2, 2}, &ond, oshape));
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

/* ---- batch normalization ----------------------------------------------- */

/* dense -> batchnorm(features) -> dense, and conv -> batchnorm(channels)
 * -> flatten -> dense, in training and in evaluation mode. */
START_TEST(test_batchnorm)
{
    for (int training = 1; training >= 0; training--) {
        for (size_t s = 0; s < 3; s++) {
            gm_layer *bn;
            GM_CK_OK(gm_batchnorm_create(&bn, SHAPES[s][2], 0.1f, 1e-5f));
            gm_rng *rng;
            gm_net *net;
            gm_layer *a, *b;
            GM_CK_OK(gm_rng_create(&rng, 700 + s));
            GM_CK_OK(gm_net_create(&net));
            GM_CK_OK(gm_dense_create(&a, SHAPES[s][1], SHAPES[s][2], GM_INIT_XAVIER, rng));
            GM_CK_OK(gm_net_add(net, a));
            GM_CK_OK(gm_net_add(net, bn));
            GM_CK_OK(gm_dense_create(&b, SHAPES[s][2], 3, GM_INIT_XAVIER, rng));
            GM_CK_OK(gm_net_add(net, b));
            GM_CK_OK(gm_net_set_training(net, training));
            check_net(net, 2, (size_t[]){SHAPES[s][0] + 2, SHAPES[s][1]}, 710 + s);
            gm_net_free(net);
            gm_rng_free(rng);
        }
        gm_rng *rng;
        gm_net *net;
        gm_layer *c, *bn, *f, *d;
        GM_CK_OK(gm_rng_create(&rng, 720));
        GM_CK_OK(gm_net_create(&net));
        GM_CK_OK(gm_conv2d_create(&c, 2, 3, 3, 1, 1, GM_INIT_HE, rng));
        GM_CK_OK(gm_net_add(net, c));
        GM_CK_OK(gm_batchnorm_create(&bn, 3, 0.2f, 1e-5f));
        GM_CK_OK(gm_net_add(net, bn));
        GM_CK_OK(gm_flatten_create(&f));
        GM_CK_OK(gm_net_add(net, f));
        GM_CK_OK(gm_dense_create(&d, 3 * 4 * 3, 2, GM_INIT_HE, rng));
        GM_CK_OK(gm_net_add(net, d));
        GM_CK_OK(gm_net_set_training(net, training));
        check_net(net, 4, (size_t[]){2, 2, 4, 3}, 721);
        gm_net_free(net);
        gm_rng_free(rng);
    }
}
END_TEST

/* Batch statistics and running statistics against their definitions. */
START_TEST(test_batchnorm_statistics)
{
    gm_net *net;
    gm_layer *bn;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_batchnorm_create(&bn, 2, 0.1f, 1e-5f));
    GM_CK_OK(gm_net_add(net, bn));
    /* [N=2 x C=2 x 1 x 2]: channel 0 holds 1 2 3 4, channel 1 holds 10 10 10 14 */
    float xv[8] = {1, 2, 10, 10, 3, 4, 10, 14}, yv[8];
    gm_tensor *x, *y;
    GM_CK_OK(gm_tensor_wrap(&x, 4, (size_t[]){2, 2, 1, 2}, xv));
    GM_CK_OK(gm_tensor_wrap(&y, 4, (size_t[]){2, 2, 1, 2}, yv));
    GM_CK_OK(gm_net_forward(net, x, y));
    /* channel 0: mean 2.5, biased var 1.25 */
    ck_assert_float_eq_tol(yv[0], (float)((1 - 2.5) / sqrt(1.25 + 1e-5)), 1e-5f);
    ck_assert_float_eq_tol(yv[5], (float)((4 - 2.5) / sqrt(1.25 + 1e-5)), 1e-5f);
    /* running: mean 0.1 * 2.5, var 0.9 + 0.1 * (5/3) (unbiased); channel 1:
     * mean 11, unbiased var 4 */
    GM_CK_OK(gm_net_set_training(net, 0));
    GM_CK_OK(gm_net_forward(net, x, y));
    const double rm0 = 0.25, rv0 = 0.9 + 0.1 * 5.0 / 3.0, rm1 = 1.1, rv1 = 0.9 + 0.1 * 4.0;
    ck_assert_float_eq_tol(yv[1], (float)((2 - rm0) / sqrt(rv0 + 1e-5)), 1e-5f);
    ck_assert_float_eq_tol(yv[7], (float)((14 - rm1) / sqrt(rv1 + 1e-5)), 1e-4f);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_net_free(net);
    gm_layer *l = NULL;
    GM_CK_ERR(GM_EINVAL, "gm_batchnorm_create", gm_batchnorm_create(&l, 0, 0.1f, 1e-5f));
    GM_CK_ERR(GM_EINVAL, "gm_batchnorm_create", gm_batchnorm_create(&l, 4, 0.0f, 1e-5f));
    GM_CK_ERR(GM_EINVAL, "gm_batchnorm_create", gm_batchnorm_create(&l, 4, 0.1f, NAN));
    ck_assert_ptr_null(l);
}
END_TEST

/* ---- spectral normalization --------------------------------------------- */

/* Runs `n` training forwards of net on a fixed random x (converging the
 * power iteration of its spectrally normalized layers). */
static void warm_up(gm_net *net, size_t ndim, const size_t *shape, int n)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 99));
    gm_tensor *x = tensor_like(ndim, shape);
    size_t ond, oshape[GM_MAX_DIMS];
    GM_CK_OK(gm_net_output_shape(net, ndim, shape, &ond, oshape));
    gm_tensor *y = tensor_like(ond, oshape);
    GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(x), gm_tensor_numel(x)));
    GM_CK_OK(gm_net_set_training(net, 1));
    for (int i = 0; i < n; i++) GM_CK_OK(gm_net_forward(net, x, y));
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_rng_free(rng);
}

/* dense, conv2d and conv_transpose2d with spectral norm, in evaluation
 * mode (u, v fixed, so W / sigma(W) is a fixed function of W), both before
 * and after the power iteration converged. */
START_TEST(test_spectral_norm)
{
    for (int kind = 0; kind < 3; kind++)
        for (int warm = 0; warm <= 1; warm++) {
            gm_rng *rng;
            gm_net *net;
            gm_layer *l;
            GM_CK_OK(gm_rng_create(&rng, 900 + kind));
            GM_CK_OK(gm_net_create(&net));
            size_t shape[4], nd = 4;
            if (kind == 0) {
                GM_CK_OK(gm_dense_create(&l, 5, 4, GM_INIT_TORCH, rng));
                nd = 2, shape[0] = 3, shape[1] = 5;
            } else if (kind == 1) {
                GM_CK_OK(gm_conv2d_create(&l, 2, 3, 3, 2, 1, GM_INIT_TORCH, rng));
                memcpy(shape, (size_t[]){2, 2, 5, 4}, sizeof shape);
            } else {
                GM_CK_OK(gm_conv_transpose2d_create(&l, 3, 2, 4, 2, 1, GM_INIT_TORCH, rng));
                memcpy(shape, (size_t[]){2, 3, 3, 2}, sizeof shape);
            }
            ck_assert_uint_eq(gm_layer_spectral_norm_iterations(l), 0);
            GM_CK_OK(gm_layer_spectral_norm(l, 2, 1e-12f, rng));
            ck_assert_uint_eq(gm_layer_spectral_norm_iterations(l), 2);
            GM_CK_OK(gm_net_add(net, l));
            if (warm) warm_up(net, nd, shape, 20);
            GM_CK_OK(gm_net_set_training(net, 0));
            check_net(net, nd, shape, 910 + kind);
            gm_net_free(net);
            gm_rng_free(rng);
        }
}
END_TEST

/* sigma converges to the largest singular value: dense weights with known
 * singular values, and a transposed conv whose [out_ch x in_ch k k] matrix
 * (torch's dim=1) has a different norm than its [in_ch x out_ch k k] one. */
START_TEST(test_spectral_sigma)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 950));
    /* dense 3 -> 2: W = [[3, 0, 0], [0, -4, 0]] has singular values 4, 3 */
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&l, 3, 2, GM_INIT_ZEROS, NULL));
    GM_CK_OK(gm_layer_spectral_norm(l, 1, 1e-12f, rng));
    ck_assert_float_eq(gm_layer_spectral_sigma(l), 1.0f); /* before any forward */
    GM_CK_OK(gm_layer_set_params(l, (float[]){3, 0, 0, 0, -4, 0, 0.5f, 0.5f}, 8));
    GM_CK_OK(gm_net_add(net, l));
    warm_up(net, 2, (size_t[]){2, 3}, 60);
    ck_assert_float_eq_tol(gm_layer_spectral_sigma(l), 4.0f, 1e-4f);
    /* y = W x / 4 + b for x = e2 */
    gm_tensor *x, *y;
    float xv[3] = {0, 1, 0}, yv[2];
    GM_CK_OK(gm_tensor_wrap(&x, 2, (size_t[]){1, 3}, xv));
    GM_CK_OK(gm_tensor_wrap(&y, 2, (size_t[]){1, 2}, yv));
    GM_CK_OK(gm_net_set_training(net, 0));
    GM_CK_OK(gm_net_forward(net, x, y));
    ck_assert_float_eq_tol(yv[0], 0.5f, 1e-5f);
    ck_assert_float_eq_tol(yv[1], -1.0f + 0.5f, 1e-4f);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_net_free(net);

    /* conv_transpose2d 2 -> 2, k 1: W[c][o] = [[1, 1], [1, -1]] * 3 read
     * with rows o has orthogonal rows of norm 3 sqrt 2: sigma 3 sqrt 2 either
     * way; make it lopsided: W[c][o] = [[3, 0], [4, 0]]: rows o = (3, 4)
     * and (0, 0): sigma 5 (the [c x o] reading has the same sigma, so also
     * check the direction: u must be +-e_0 over o). */
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_conv_transpose2d_create(&l, 2, 2, 1, 1, 0, GM_INIT_ZEROS, NULL));
    GM_CK_OK(gm_layer_spectral_norm(l, 3, 1e-12f, rng));
    GM_CK_OK(gm_layer_set_params(l, (float[]){3, 0, 4, 0, 0, 0}, 6));
    GM_CK_OK(gm_net_add(net, l));
    warm_up(net, 4, (size_t[]){1, 2, 2, 2}, 10);
    ck_assert_float_eq_tol(gm_layer_spectral_sigma(l), 5.0f, 1e-4f);
    ck_assert_float_eq_tol(fabsf(l->state[0]), 1.0f, 1e-5f); /* u over the 2 out channels */
    ck_assert_float_eq_tol(l->state[1], 0.0f, 1e-5f);
    ck_assert_float_eq_tol(fabsf(l->state[2]), 0.6f, 1e-5f); /* v = (3, 4) / 5 over in channels */
    ck_assert_float_eq_tol(fabsf(l->state[3]), 0.8f, 1e-5f);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

/* Bad input: each failure names the function and leaves the layer as it was. */
START_TEST(test_spectral_norm_bad_input)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 960));
    gm_layer *d, *r;
    GM_CK_OK(gm_dense_create(&d, 3, 2, GM_INIT_HE, rng));
    GM_CK_OK(gm_relu_create(&r));
    uint64_t pos[2], pos2[2];
    GM_CK_OK(gm_rng_get_state(rng, &pos[0], &pos[1]));
    const char *fn = "gm_layer_spectral_norm";
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(NULL, 1, 1e-12f, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 1, 1e-12f, NULL));
    GM_CK_ERR(GM_EUNSUPPORTED, fn, gm_layer_spectral_norm(r, 1, 1e-12f, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 0, 1e-12f, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 101, 1e-12f, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 1, 0.0f, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 1, -1e-3f, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 1, NAN, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 1, INFINITY, rng));
    GM_CK_ERR(GM_EINVAL, fn, gm_layer_spectral_norm(d, 1, 2.0f, rng));
    ck_assert_uint_eq(gm_layer_spectral_norm_iterations(d), 0);
    ck_assert_ptr_null(d->state);
    GM_CK_OK(gm_rng_get_state(rng, &pos2[0], &pos2[1]));
    ck_assert(pos[0] == pos2[0] && pos[1] == pos2[1]);
    GM_CK_OK(gm_layer_spectral_norm(d, 1, 1e-12f, rng));
    GM_CK_ERR(GM_ESTATE, fn, gm_layer_spectral_norm(d, 1, 1e-12f, rng));
    ck_assert_uint_eq(gm_layer_spectral_norm_iterations(d), 1);
    gm_net *net;
    gm_layer *d2;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&d2, 3, 2, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, d2));
    GM_CK_ERR(GM_ESTATE, fn, gm_layer_spectral_norm(d2, 1, 1e-12f, rng));
    ck_assert_uint_eq(gm_layer_spectral_norm_iterations(d2), 0);
    ck_assert_uint_eq(gm_layer_spectral_norm_iterations(NULL), 0);
    ck_assert_float_eq(gm_layer_spectral_sigma(NULL), 0.0f);
    ck_assert_float_eq(gm_layer_spectral_sigma(d2), 0.0f);
    gm_net_free(net);
    gm_layer_free(d);
    gm_layer_free(r);
    gm_rng_free(rng);
}
END_TEST

/* ---- losses ---------------------------------------------------------- */

typedef gm_status (*loss_fn)(const gm_tensor *, const gm_tensor *, gm_reduction,
                             float *, gm_tensor *);

static void check_loss(loss_fn fn, size_t n, size_t d, gm_reduction red, float zscale,
                       uint64_t seed)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    size_t shape[2] = {n, d};
    gm_tensor *z = tensor_like(2, shape), *t = tensor_like(2, shape), *g = tensor_like(2, shape);
    float *zd = gm_tensor_data(z);
    GM_CK_OK(gm_rng_normal(rng, zd, n * d));
    for (size_t i = 0; i < n * d; i++) zd[i] *= zscale;
    GM_CK_OK(gm_rng_uniform(rng, gm_tensor_data(t), n * d));
    float loss, lp, lm;
    GM_CK_OK(fn(z, t, red, &loss, g));
    for (size_t i = 0; i < n * d; i++) {
        float keep = zd[i];
        zd[i] = keep + EPS;
        GM_CK_OK(fn(z, t, red, &lp, NULL));
        zd[i] = keep - EPS;
        GM_CK_OK(fn(z, t, red, &lm, NULL));
        zd[i] = keep;
        double num = ((double)lp - lm) / (2.0 * EPS);
        double an = gm_tensor_data(g)[i];
        ck_assert_msg(fabs(num - an) <= ATOL + RTOL * fabs(num),
                      "reduction %d, grad[%zu]: analytic %.6g numeric %.6g", (int)red, i, an,
                      num);
    }
    gm_tensor_free(z);
    gm_tensor_free(t);
    gm_tensor_free(g);
    gm_rng_free(rng);
}

START_TEST(test_loss_mse)
{
    for (int red = 0; red < 3; red++) {
        check_loss(gm_loss_mse, 3, 4, (gm_reduction)red, 1.0f, 60 + red);
        check_loss(gm_loss_mse, 1, 7, (gm_reduction)red, 1.0f, 70 + red);
    }
}
END_TEST

START_TEST(test_loss_bce_logits)
{
    for (int red = 0; red < 3; red++) {
        check_loss(gm_loss_bce_logits, 3, 4, (gm_reduction)red, 3.0f, 80 + red);
        check_loss(gm_loss_bce_logits, 2, 9, (gm_reduction)red, 1.0f, 90 + red);
    }
    /* stable for huge logits: finite value, gradient sigmoid(z) - t */
    float zv[4] = {80.0f, -80.0f, 1e4f, -1e4f}, tv[4] = {0, 1, 1, 0}, gv[4], loss;
    gm_tensor *z, *t, *g;
    GM_CK_OK(gm_tensor_wrap(&z, 2, (size_t[]){1, 4}, zv));
    GM_CK_OK(gm_tensor_wrap(&t, 2, (size_t[]){1, 4}, tv));
    GM_CK_OK(gm_tensor_wrap(&g, 2, (size_t[]){1, 4}, gv));
    GM_CK_OK(gm_loss_bce_logits(z, t, GM_REDUCE_SUM, &loss, g));
    ck_assert_float_eq_tol(loss, 160.0f, 1e-3f);
    ck_assert_float_eq_tol(gv[0], 1.0f, 1e-6f);
    ck_assert_float_eq_tol(gv[1], -1.0f, 1e-6f);
    ck_assert_float_eq_tol(gv[2], 0.0f, 1e-6f);
    ck_assert_float_eq_tol(gv[3], 0.0f, 1e-6f);
    gm_tensor_free(z);
    gm_tensor_free(t);
    gm_tensor_free(g);
}
END_TEST

START_TEST(test_loss_softmax_xent)
{
    for (int red = 0; red < 3; red++)
        for (size_t s = 0; s < 3; s++) {
            size_t n = SHAPES[s][0] + 1, c = SHAPES[s][2];
            gm_rng *rng;
            GM_CK_OK(gm_rng_create(&rng, 100 + s));
            gm_tensor *z = tensor_like(2, (size_t[]){n, c}), *g = tensor_like(2, (size_t[]){n, c});
            float *zd = gm_tensor_data(z);
            GM_CK_OK(gm_rng_normal(rng, zd, n * c));
            int32_t labels[8];
            for (size_t i = 0; i < n; i++) labels[i] = (int32_t)((i * 7 + s) % c);
            float loss, lp, lm;
            GM_CK_OK(gm_loss_softmax_xent(z, labels, n, (gm_reduction)red, &loss, g, NULL));
            for (size_t i = 0; i < n * c; i++) {
                float keep = zd[i];
                zd[i] = keep + EPS;
                GM_CK_OK(gm_loss_softmax_xent(z, labels, n, (gm_reduction)red, &lp, NULL, NULL));
                zd[i] = keep - EPS;
                GM_CK_OK(gm_loss_softmax_xent(z, labels, n, (gm_reduction)red, &lm, NULL, NULL));
                zd[i] = keep;
                double num = ((double)lp - lm) / (2.0 * EPS), an = gm_tensor_data(g)[i];
                ck_assert_msg(fabs(num - an) <= ATOL + RTOL * fabs(num),
                              "xent grad[%zu]: %.6g vs %.6g", i, an, num);
            }
            gm_tensor_free(z);
            gm_tensor_free(g);
            gm_rng_free(rng);
        }
}
END_TEST

/* The BLAS seam agrees with its loop reference for every transpose. */
START_TEST(test_sgemm_matches_reference)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 3));
    const size_t M = 7, N = 5, K = 9;
    float A[7 * 9], B[9 * 5], C1[7 * 5], C2[7 * 5];
    GM_CK_OK(gm_rng_normal(rng, A, 63));
    GM_CK_OK(gm_rng_normal(rng, B, 45));
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            GM_CK_OK(gm_rng_normal(rng, C1, 35));
            memcpy(C2, C1, sizeof C1);
            size_t lda = ta ? M : K, ldb = tb ? K : N;
            gm__sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C1, N);
            gm__sgemm_ref(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.25f, C2, N);
            gm_ck_close(C1, C2, 35, 1e-5, 1e-5, "sgemm");
        }
    gm_rng_free(rng);
}
END_TEST

/* The convolution tests run on the build's backend (oneDNN when built
 * with it) and again on im2col + sgemm, the fallback. */
static int gm_saved_im2col;
static void force_im2col(void) { gm_saved_im2col = gm__conv_force_im2col(1); }
static void restore_backend(void) { gm__conv_force_im2col(gm_saved_im2col); }

int main(void)
{
    Suite *s = suite_create("gradcheck");
    TCase *tc = tcase_create("layers");
    tcase_add_test(tc, test_dense_alone);
    tcase_add_test(tc, test_dense_rank4_and_reshape);
    tcase_add_test(tc, test_relu);
    tcase_add_test(tc, test_leaky_relu);
    tcase_add_test(tc, test_sigmoid);
    tcase_add_test(tc, test_tanh);
    tcase_add_test(tc, test_softplus);
    tcase_add_test(tc, test_elu);
    tcase_add_test(tc, test_flatten);
    tcase_add_test(tc, test_dropout_p0_is_identity);
    tcase_add_test(tc, test_dropout_train);
    tcase_add_test(tc, test_frozen_layer);
    tcase_add_test(tc, test_sgemm_matches_reference);
    tcase_add_test(tc, test_conv2d);
    tcase_add_test(tc, test_conv_transpose2d);
    tcase_add_test(tc, test_conv_matches_direct_loops);
    tcase_add_test(tc, test_conv_bad_input);
    tcase_add_test(tc, test_batchnorm);
    tcase_add_test(tc, test_batchnorm_statistics);
    tcase_add_test(tc, test_spectral_norm);
    tcase_add_test(tc, test_spectral_sigma);
    tcase_add_test(tc, test_spectral_norm_bad_input);
    suite_add_tcase(s, tc);
    if (gm__conv_dnnl_built()) {
        TCase *ti = tcase_create("convolutions on im2col");
        tcase_add_checked_fixture(ti, force_im2col, restore_backend);
        tcase_add_test(ti, test_conv2d);
        tcase_add_test(ti, test_conv_transpose2d);
        tcase_add_test(ti, test_conv_matches_direct_loops);
        tcase_add_test(ti, test_batchnorm);
        tcase_add_test(ti, test_spectral_norm);
        tcase_add_test(ti, test_spectral_sigma);
        suite_add_tcase(s, ti);
    }
    TCase *tl = tcase_create("losses");
    tcase_add_test(tl, test_loss_mse);
    tcase_add_test(tl, test_loss_bce_logits);
    tcase_add_test(tl, test_loss_softmax_xent);
    suite_add_tcase(s, tl);
    return gm_run_suite(s);
}
