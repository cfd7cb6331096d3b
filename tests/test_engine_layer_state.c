/* SPDX-License-Identifier: MIT */
/* engine: the readers of layer state (layer.h: batchnorm running
 * statistics, spectral-norm u and v, the experimental raw state) and
 * their bad input. The engine's other tests: test_engine.c (layers, nets,
 * losses, optimizers), test_gradcheck.c, test_reference.c (torch
 * fixtures), test_badinput.c, test_threads.c. */
#include "gm_test.h"

/* One training forward of a batchnorm layer: running stats move from
 * (0, 1) to momentum * (batch mean, unbiased batch variance). */
START_TEST(test_batchnorm_running_stats)
{
    const size_t F = 3, N = 4;
    const float m = 0.25f;
    gm_net *net;
    gm_layer *bn;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_batchnorm_create(&bn, F, m, 1e-5f));
    ck_assert_uint_eq(gm_layer_batchnorm_features(bn), F);
    float mean[3] = {9, 9, 9}, var[3] = {9, 9, 9};
    GM_CK_OK(gm_layer_get_running_mean(bn, mean, F));
    GM_CK_OK(gm_layer_get_running_var(bn, var, F));
    for (size_t f = 0; f < F; f++) {
        ck_assert_float_eq(mean[f], 0.0f);
        ck_assert_float_eq(var[f], 1.0f);
    }
    GM_CK_OK(gm_net_add(net, bn));
    float xs[12];
    for (size_t i = 0; i < N * F; i++) xs[i] = (float)((i * 7) % 5) - 1.5f + 0.1f * (float)i;
    gm_tensor *x, *y;
    GM_CK_OK(gm_tensor_from_data(&x, 2, (size_t[]){N, F}, xs));
    GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){N, F}));
    GM_CK_OK(gm_net_set_training(net, 1));
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_layer_get_running_mean(gm_net_layer(net, 0), mean, F));
    GM_CK_OK(gm_layer_get_running_var(gm_net_layer(net, 0), var, F));
    for (size_t f = 0; f < F; f++) {
        double mu = 0, ss = 0;
        for (size_t i = 0; i < N; i++) mu += xs[i * F + f];
        mu /= N;
        for (size_t i = 0; i < N; i++) ss += (xs[i * F + f] - mu) * (xs[i * F + f] - mu);
        const float want_mean = (float)(m * mu), want_var = (float)((1 - m) + m * ss / (N - 1));
        gm_ck_close(&mean[f], &want_mean, 1, 1e-6, 1e-5, "running mean");
        gm_ck_close(&var[f], &want_var, 1, 1e-6, 1e-5, "running var");
    }
    /* the raw state (experimental) is [mean | var] */
    ck_assert_uint_eq(gm_layer_state_count(bn), 2 * F);
    float st[6];
    GM_CK_OK(gm_layer_get_state(bn, st, 2 * F));
    ck_assert_mem_eq(st, mean, sizeof mean);
    ck_assert_mem_eq(st + F, var, sizeof var);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_net_free(net);
}
END_TEST

/* Bad input: NULLs, another kind, wrong n; dst untouched on error. */
START_TEST(test_batchnorm_running_stats_bad_input)
{
    gm_layer *bn, *d;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 1));
    GM_CK_OK(gm_batchnorm_create(&bn, 2, 0.1f, 1e-5f));
    GM_CK_OK(gm_dense_create(&d, 2, 2, GM_INIT_HE, rng));
    float dst[3] = {7, 7, 7};
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_running_mean", gm_layer_get_running_mean(NULL, dst, 2));
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_running_var", gm_layer_get_running_var(bn, NULL, 2));
    GM_CK_ERR(GM_EUNSUPPORTED, "gm_layer_get_running_mean",
              gm_layer_get_running_mean(d, dst, 2));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_running_var", gm_layer_get_running_var(bn, dst, 3));
    ck_assert_msg(strstr(gm_last_error(), "3"), "%s", gm_last_error());
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_running_mean", gm_layer_get_running_mean(bn, dst, 0));
    for (int i = 0; i < 3; i++) ck_assert_float_eq(dst[i], 7.0f);
    ck_assert_uint_eq(gm_layer_batchnorm_features(NULL), 0);
    ck_assert_uint_eq(gm_layer_batchnorm_features(d), 0);
    ck_assert_uint_eq(gm_layer_state_count(NULL), 0);
    ck_assert_uint_eq(gm_layer_state_count(d), 0);
    GM_CK_OK(gm_layer_get_state(d, dst, 0));
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_state", gm_layer_get_state(NULL, dst, 0));
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_state", gm_layer_get_state(bn, NULL, 4));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_state", gm_layer_get_state(bn, dst, 3));
    for (int i = 0; i < 3; i++) ck_assert_float_eq(dst[i], 7.0f);
    gm_layer_free(bn);
    gm_layer_free(d);
    gm_rng_free(rng);
}
END_TEST

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* u and v of a dense [out 3 x in 5] layer: unit vectors of the right
 * lengths, and after a training forward sigma = u . W v. */
START_TEST(test_spectral_vectors_dense)
{
    const size_t in = 5, out = 3, N = 2;
    gm_layer *l;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 11));
    GM_CK_OK(gm_dense_create(&l, in, out, GM_INIT_HE, rng));
    ck_assert_uint_eq(gm_layer_spectral_u_count(l), 0);
    ck_assert_uint_eq(gm_layer_spectral_v_count(l), 0);
    GM_CK_OK(gm_layer_spectral_norm(l, 2, 1e-12f, rng));
    ck_assert_uint_eq(gm_layer_spectral_u_count(l), out);
    ck_assert_uint_eq(gm_layer_spectral_v_count(l), in);
    float u[3], v[5];
    GM_CK_OK(gm_layer_get_spectral_u(l, u, out));
    GM_CK_OK(gm_layer_get_spectral_v(l, v, in));
    ck_assert_double_eq_tol(dot(u, u, out), 1.0, 1e-5);
    ck_assert_double_eq_tol(dot(v, v, in), 1.0, 1e-5);

    gm_net *net;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_net_add(net, l));
    gm_tensor *x, *y;
    GM_CK_OK(gm_tensor_create(&x, 2, (size_t[]){N, in}));
    GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){N, out}));
    GM_CK_OK(gm_tensor_fill_normal(x, rng));
    GM_CK_OK(gm_net_set_training(net, 1));
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_layer_get_spectral_u(l, u, out));
    GM_CK_OK(gm_layer_get_spectral_v(l, v, in));
    float w[20];
    GM_CK_OK(gm_layer_get_params(l, w, in * out + out));
    double uwv = 0;
    for (size_t r = 0; r < out; r++) uwv += u[r] * dot(w + r * in, v, in);
    ck_assert_double_eq_tol(uwv, gm_layer_spectral_sigma(l), 1e-4 * uwv);
    /* the raw state (experimental) is [u | v] */
    ck_assert_uint_eq(gm_layer_state_count(l), out + in);
    float st[8];
    GM_CK_OK(gm_layer_get_state(l, st, out + in));
    ck_assert_mem_eq(st, u, sizeof u);
    ck_assert_mem_eq(st + out, v, sizeof v);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

/* Convolutions: u per output channel, v the rest of the weight. */
START_TEST(test_spectral_vectors_conv)
{
    gm_layer *c, *t;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    GM_CK_OK(gm_conv2d_create(&c, 2, 4, 3, 1, 1, GM_INIT_HE, rng));
    GM_CK_OK(gm_conv_transpose2d_create(&t, 2, 4, 3, 2, 1, GM_INIT_HE, rng));
    GM_CK_OK(gm_layer_spectral_norm(c, 1, 1e-12f, rng));
    GM_CK_OK(gm_layer_spectral_norm(t, 1, 1e-12f, rng));
    ck_assert_uint_eq(gm_layer_spectral_u_count(c), 4);
    ck_assert_uint_eq(gm_layer_spectral_v_count(c), 2 * 9);
    ck_assert_uint_eq(gm_layer_spectral_u_count(t), 4);
    ck_assert_uint_eq(gm_layer_spectral_v_count(t), 2 * 9);
    float u[4], v[18];
    GM_CK_OK(gm_layer_get_spectral_u(t, u, 4));
    GM_CK_OK(gm_layer_get_spectral_v(t, v, 18));
    ck_assert_double_eq_tol(dot(u, u, 4), 1.0, 1e-5);
    ck_assert_double_eq_tol(dot(v, v, 18), 1.0, 1e-5);
    gm_layer_free(c);
    gm_layer_free(t);
    gm_rng_free(rng);
}
END_TEST

START_TEST(test_spectral_vectors_bad_input)
{
    gm_layer *d, *plain, *relu;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    GM_CK_OK(gm_dense_create(&d, 4, 2, GM_INIT_HE, rng));
    GM_CK_OK(gm_dense_create(&plain, 4, 2, GM_INIT_HE, rng));
    GM_CK_OK(gm_relu_create(&relu));
    GM_CK_OK(gm_layer_spectral_norm(d, 1, 1e-12f, rng));
    float dst[5] = {7, 7, 7, 7, 7};
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_spectral_u", gm_layer_get_spectral_u(NULL, dst, 2));
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_spectral_v", gm_layer_get_spectral_v(d, NULL, 4));
    GM_CK_ERR(GM_ESTATE, "gm_layer_get_spectral_u", gm_layer_get_spectral_u(plain, dst, 2));
    GM_CK_ERR(GM_ESTATE, "gm_layer_get_spectral_v", gm_layer_get_spectral_v(relu, dst, 4));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_spectral_u", gm_layer_get_spectral_u(d, dst, 4));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_spectral_v", gm_layer_get_spectral_v(d, dst, 2));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_spectral_v", gm_layer_get_spectral_v(d, dst, 5));
    for (int i = 0; i < 5; i++) ck_assert_float_eq(dst[i], 7.0f);
    ck_assert_uint_eq(gm_layer_spectral_u_count(NULL), 0);
    ck_assert_uint_eq(gm_layer_spectral_v_count(relu), 0);
    gm_layer_free(d);
    gm_layer_free(plain);
    gm_layer_free(relu);
    gm_rng_free(rng);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine_layer_state");
    TCase *tc = tcase_create("layer_state");
    tcase_add_test(tc, test_batchnorm_running_stats);
    tcase_add_test(tc, test_batchnorm_running_stats_bad_input);
    tcase_add_test(tc, test_spectral_vectors_dense);
    tcase_add_test(tc, test_spectral_vectors_conv);
    tcase_add_test(tc, test_spectral_vectors_bad_input);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
