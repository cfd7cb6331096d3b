/* SPDX-License-Identifier: MIT */
/* Looking inside a model (include/genmodel/interp.h): per-dimension KL and
 * active units, traversals, the shapes data set and the MIG score. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gm_test.h"

#define GM_TEST_PI 3.14159265358979323846

/* ---- helpers ------------------------------------------------------------ */

/* A one-dense-layer net in -> out with weights W [out x in] and bias b. */
static gm_net *linear(size_t in, size_t out, const float *w, const float *b)
{
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&l, in, out, GM_INIT_ZEROS, NULL));
    GM_CK_OK(gm_net_add(net, l));
    float *p = calloc(in * out + out, sizeof(float));
    ck_assert_ptr_nonnull(p);
    if (w) memcpy(p, w, in * out * sizeof(float));
    if (b) memcpy(p + in * out, b, out * sizeof(float));
    GM_CK_OK(gm_net_set_params(net, p, in * out + out));
    free(p);
    return net;
}

/* A VAE on D = 4 features with L = 4 latents: mu_j = a_j x_j, logvar_j =
 * c_j (constant); decoder: identity (Gaussian likelihood, mean = z), so
 * decode(z) = z. C classes (0 = unconditional): the label columns get
 * weight 0 in the encoder and add 10 * (c + 1) to feature 0 in the decoder. */
enum { TD = 4, TL = 4 };
static gm_vae *test_vae(const float a[TL], const float c[TL], size_t C, uint64_t seed)
{
    const size_t ein = TD + C, din = TL + C;
    float *we = calloc(2 * TL * ein, sizeof(float)), be[2 * TL] = {0};
    float *wd = calloc(TD * din, sizeof(float));
    for (size_t j = 0; j < TL; j++) {
        we[j * ein + j] = a[j];
        be[TL + j] = c[j];
        wd[j * din + j] = 1.0f;
    }
    for (size_t k = 0; k < C; k++) wd[0 * din + TL + k] = 10.0f * (float)(k + 1);
    gm_net *enc = linear(ein, 2 * TL, we, be), *dec = linear(din, TD, wd, NULL);
    free(we);
    free(wd);
    gm_vae_options o;
    GM_CK_OK(gm_vae_options_init(&o));
    o.latent = TL;
    o.likelihood = GM_LIKELIHOOD_GAUSSIAN_FIXED;
    o.num_classes = C;
    o.seed = seed;
    gm_vae *v;
    GM_CK_OK(gm_vae_create(&v, enc, dec, &o));
    return v;
}

static gm_tensor *tensor2(size_t n, size_t d, const float *data)
{
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, 2, (size_t[]){n, d}));
    if (data) GM_CK_OK(gm_tensor_copy_in(t, data, n * d));
    return t;
}

/* ---- per-dimension KL and active units ---------------------------------- */

START_TEST(test_vae_dims_exact)
{
    const float a[TL] = {1.0f, 0.5f, 0.0f, 0.05f}, c[TL] = {-1.0f, 0.0f, 0.0f, -0.5f};
    gm_vae *v = test_vae(a, c, 0, 1);
    enum { N = 37 };
    float x[N * TD];
    for (size_t i = 0; i < N * TD; i++) x[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
    gm_tensor *t = tensor2(N, TD, x);
    double kl[TL], act[TL];
    size_t active = 99;
    /* batch 5 does not divide 37: the last batch is short */
    GM_CK_OK(gm_interp_vae_dims(v, t, NULL, 5, GM_INTERP_ACTIVE_THRESHOLD, kl, act, TL, &active));
    for (size_t j = 0; j < TL; j++) {
        double s = 0, s2 = 0, k = 0;
        for (size_t i = 0; i < N; i++) {
            const double mu = (double)(a[j] * x[i * TD + j]);
            s += mu;
            k += 0.5 * (mu * mu + exp((double)c[j]) - 1.0 - (double)c[j]);
        }
        const double m = s / N;
        for (size_t i = 0; i < N; i++) {
            const double mu = (double)(a[j] * x[i * TD + j]);
            s2 += (mu - m) * (mu - m);
        }
        ck_assert_double_eq_tol(kl[j], k / N, 1e-6);
        ck_assert_double_eq_tol(act[j], s2 / N, 1e-6);
    }
    /* x_j spreads over [-1, 1] (variance about 1/3): dims 0 and 1 active,
     * 2 constant, 3 with variance 0.0025/3 below 0.01 */
    ck_assert_uint_eq(active, 2);
    ck_assert_double_eq(act[2], 0.0);
    /* the batch size does not change the result beyond rounding */
    double kl2[TL], act2[TL];
    GM_CK_OK(gm_interp_vae_dims(v, t, NULL, 1000, 0.0, kl2, act2, TL, &active));
    ck_assert_uint_eq(active, 3);
    for (size_t j = 0; j < TL; j++) {
        ck_assert_double_eq_tol(kl2[j], kl[j], 1e-9);
        ck_assert_double_eq_tol(act2[j], act[j], 1e-9);
    }
    /* outputs are optional */
    GM_CK_OK(gm_interp_vae_dims(v, t, NULL, 8, 0.01, NULL, NULL, TL, NULL));
    gm_tensor_free(t);
    gm_vae_free(v);
}
END_TEST

/* Nothing here draws from the model's generators or changes it: a twin
 * made from the same seed samples and trains identically afterwards. */
START_TEST(test_model_unchanged)
{
    const float a[TL] = {1, 1, 1, 1}, c[TL] = {0, 0, 0, 0};
    gm_vae *v = test_vae(a, c, 0, 7), *twin = test_vae(a, c, 0, 7);
    float x[8 * TD];
    for (size_t i = 0; i < 8 * TD; i++) x[i] = (float)i / 40.0f;
    gm_tensor *t = tensor2(8, TD, x), *one = tensor2(1, TD, x), *out = tensor2(2 * 3, TD, NULL);
    double kl[TL];
    GM_CK_OK(gm_interp_vae_dims(v, t, NULL, 3, 0.01, kl, NULL, TL, NULL));
    GM_CK_OK(gm_interp_vae_traverse(v, one, NULL, NULL, (size_t[]){0, 3}, 2, 2.0f, 3, out));
    gm_tensor *s1 = tensor2(5, TD, NULL), *s2 = tensor2(5, TD, NULL);
    GM_CK_OK(gm_vae_sample(v, 5, NULL, s1));
    GM_CK_OK(gm_vae_sample(twin, 5, NULL, s2));
    ck_assert_mem_eq(gm_tensor_data(s1), gm_tensor_data(s2), 5 * TD * sizeof(float));
    gm_vae_stats a1, a2;
    GM_CK_OK(gm_vae_train_step(v, t, NULL, &a1));
    GM_CK_OK(gm_vae_train_step(twin, t, NULL, &a2));
    ck_assert_mem_eq(&a1, &a2, sizeof a1);
    ck_assert_uint_eq(gm_vae_step_count(v), 1);
    gm_tensor_free(s1);
    gm_tensor_free(s2);
    gm_tensor_free(t);
    gm_tensor_free(one);
    gm_tensor_free(out);
    gm_vae_free(v);
    gm_vae_free(twin);
}
END_TEST

START_TEST(test_order_and_table)
{
    const double v[6] = {0.5, 2.0, 0.5, -1.0, 2.0, 0.0};
    size_t order[6];
    GM_CK_OK(gm_interp_order_desc(v, 6, order));
    const size_t want[6] = {1, 4, 0, 2, 5, 3};
    ck_assert_mem_eq(order, want, sizeof want);

    const double kl[3] = {0.1, 3.0, 0.001}, act[3] = {0.5, 0.9, 0.002};
    size_t need = 0;
    GM_CK_OK(gm_interp_format_table(kl, act, 3, 0.01, NULL, 0, &need));
    ck_assert_uint_gt(need, 50);
    char *buf = malloc(need + 1);
    memset(buf, 'x', need + 1);
    GM_CK_ERR(GM_EINVAL, "gm_interp_format_table",
              gm_interp_format_table(kl, act, 3, 0.01, buf, need, NULL));
    ck_assert_int_eq(buf[0], 'x'); /* nothing written */
    size_t need2 = 0;
    GM_CK_OK(gm_interp_format_table(kl, act, 3, 0.01, buf, need + 1, &need2));
    ck_assert_uint_eq(need2, need);
    ck_assert_uint_eq(strlen(buf), need);
    ck_assert_ptr_nonnull(strstr(buf, "active units: 2 of 3"));
    /* the largest KL first: dimension 1 on the first data line */
    const char *line1 = strchr(buf, '\n') + 1;
    unsigned rank, dim;
    ck_assert_int_eq(sscanf(line1, "%u %u", &rank, &dim), 2);
    ck_assert_uint_eq(rank, 0);
    ck_assert_uint_eq(dim, 1);
    free(buf);
}
END_TEST

START_TEST(test_bar_chart)
{
    char path[] = "/tmp/gm_interp_bars_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    const double v[4] = {1.0, 0.0, 2.5, 0.25}, act[4] = {1, 0, 1, 0.001};
    GM_CK_OK(gm_interp_bar_chart_png(path, v, 4, act, 0.01, 6, 40));
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    unsigned char sig[8];
    ck_assert_uint_eq(fread(sig, 1, 8, f), 8);
    fclose(f);
    ck_assert_mem_eq(sig, "\x89PNG\r\n\x1a\n", 8);
    GM_CK_ERR(GM_EINVAL, "gm_interp_bar_chart_png",
              gm_interp_bar_chart_png(path, (double[]){1, -1}, 2, NULL, 0, 6, 40));
    GM_CK_ERR(GM_EINVAL, "gm_interp_bar_chart_png",
              gm_interp_bar_chart_png(path, (double[]){1, NAN}, 2, NULL, 0, 6, 40));
    GM_CK_ERR(GM_EINVAL, "gm_interp_bar_chart_png",
              gm_interp_bar_chart_png(path, v, 4, NULL, 0, 0, 40));
    GM_CK_ERR(GM_EINVAL, "gm_interp_bar_chart_png",
              gm_interp_bar_chart_png(path, v, 4, NULL, 0, 6, 4));
    GM_CK_ERR(GM_EINVAL, "gm_interp_bar_chart_png",
              gm_interp_bar_chart_png(NULL, v, 4, NULL, 0, 6, 40));
    GM_CK_ERR(GM_EIO, "gm_png_write_grid",
              gm_interp_bar_chart_png("/nonexistent-dir/x.png", v, 4, NULL, 0, 6, 40));
    unlink(path);
}
END_TEST

/* ---- traversals ----------------------------------------------------------- */

START_TEST(test_vae_traverse_values)
{
    const float a[TL] = {1, 2, 3, 4}, c[TL] = {0, 0, 0, 0};
    gm_vae *v = test_vae(a, c, 0, 1);
    const float z0[TL] = {0.5f, -1.0f, 0.25f, 2.0f};
    const size_t dims[3] = {3, 0, 3}, steps = 5;
    gm_tensor *out = tensor2(3 * steps, TD, NULL);
    GM_CK_OK(gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, 2.0f, steps, out));
    const float *o = gm_tensor_data(out);
    for (size_t r = 0; r < 3; r++)
        for (size_t s = 0; s < steps; s++)
            for (size_t j = 0; j < TL; j++) {
                float want = z0[j];
                if (j == dims[r]) want += -2.0f + (float)s; /* -2, -1, 0, 1, 2 */
                ck_assert_float_eq_tol(o[(r * steps + s) * TD + j], want, 1e-6f);
            }
    /* from an input: the base is the encoder's mean a_j x_j */
    const float x1[TD] = {1.0f, 0.5f, -0.5f, 0.25f};
    gm_tensor *x = tensor2(1, TD, x1);
    GM_CK_OK(gm_interp_vae_traverse(v, x, NULL, NULL, dims, 1, 1.0f, 2, out = (gm_tensor_free(out),
                                                                              tensor2(2, TD, NULL))));
    o = gm_tensor_data(out);
    for (size_t j = 0; j < TL; j++) {
        const float base = a[j] * x1[j];
        ck_assert_float_eq_tol(o[j], base - (j == 3 ? 1.0f : 0.0f), 1e-6f);
        ck_assert_float_eq_tol(o[TD + j], base + (j == 3 ? 1.0f : 0.0f), 1e-6f);
    }
    /* bad input */
    gm_tensor *big = tensor2(15, TD, NULL);
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(NULL, NULL, z0, NULL, dims, 3, 2.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, x, z0, NULL, dims, 3, 2.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, NULL, NULL, dims, 3, 2.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, (size_t[]){0, 4, 1}, 3, 2.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, 0.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, INFINITY, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, 101.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, 2.0f, 1, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 0, 2.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, NULL, 3, 2.0f, 5, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, (float[]){0, NAN, 0, 0}, NULL, dims, 3, 2.0f, 5,
                                     big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, (int32_t[]){0}, dims, 3, 2.0f, 5, big));
    GM_CK_ERR(GM_ESHAPE, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, 2.0f, 4, big));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, 2.0f, 5, NULL));
    /* out of the wrong width: the decoder's error, the big tensor untouched */
    gm_tensor *wide = tensor2(15, TD + 1, NULL);
    GM_CK_ERR(GM_ESHAPE, "gm_vae_decode",
              gm_interp_vae_traverse(v, NULL, z0, NULL, dims, 3, 2.0f, 5, wide));
    gm_tensor *two = tensor2(2, TD, NULL);
    GM_CK_ERR(GM_ESHAPE, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, two, NULL, NULL, dims, 3, 2.0f, 5, big));
    gm_tensor_free(two);
    gm_tensor_free(wide);
    gm_tensor_free(big);
    gm_tensor_free(x);
    gm_tensor_free(out);
    gm_vae_free(v);
}
END_TEST

START_TEST(test_vae_classes)
{
    const float a[TL] = {1, 1, 1, 1}, c[TL] = {0, 0, 0, 0};
    gm_vae *v = test_vae(a, c, 3, 1);
    const float z0[TL] = {0.5f, 1.0f, 0.0f, -1.0f};
    gm_tensor *out = tensor2(3, TD, NULL);
    GM_CK_OK(gm_interp_vae_classes(v, z0, out));
    const float *o = gm_tensor_data(out);
    for (size_t k = 0; k < 3; k++) {
        ck_assert_float_eq_tol(o[k * TD], 0.5f + 10.0f * (float)(k + 1), 1e-5f);
        for (size_t j = 1; j < TD; j++) ck_assert_float_eq_tol(o[k * TD + j], z0[j], 1e-6f);
    }
    /* a conditional traversal uses the label for every row */
    gm_tensor *tr = tensor2(2, TD, NULL);
    GM_CK_OK(gm_interp_vae_traverse(v, NULL, z0, (int32_t[]){2}, (size_t[]){1}, 1, 1.0f, 2, tr));
    ck_assert_float_eq_tol(gm_tensor_data(tr)[0], 30.5f, 1e-5f);
    ck_assert_float_eq_tol(gm_tensor_data(tr)[1], 0.0f, 1e-6f);
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_traverse",
              gm_interp_vae_traverse(v, NULL, z0, (int32_t[]){3}, (size_t[]){1}, 1, 1.0f, 2, tr));
    GM_CK_ERR(GM_ESHAPE, "gm_interp_vae_classes", gm_interp_vae_classes(v, z0, tr));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_classes", gm_interp_vae_classes(v, NULL, out));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_classes",
              gm_interp_vae_classes(v, (float[]){INFINITY, 0, 0, 0}, out));
    gm_vae *u = test_vae(a, c, 0, 1);
    GM_CK_ERR(GM_EUNSUPPORTED, "gm_interp_vae_classes", gm_interp_vae_classes(u, z0, out));
    gm_vae_free(u);
    gm_tensor_free(tr);
    gm_tensor_free(out);
    gm_vae_free(v);
}
END_TEST

/* A GAN whose generator is G(z) = diag(g) z (+ 5 (c + 1) on output 0 when
 * conditional), D a linear critic. */
static gm_gan *test_gan(const float g[TL], size_t C)
{
    const size_t gin = TL + C;
    float *wg = calloc(TD * gin, sizeof(float));
    for (size_t j = 0; j < TL; j++) wg[j * gin + j] = g[j];
    for (size_t k = 0; k < C; k++) wg[TL + k] = 5.0f * (float)(k + 1);
    gm_net *gn = linear(gin, TD, wg, NULL), *dn = linear(TD + C, 1, NULL, NULL);
    free(wg);
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = TL;
    o.num_classes = C;
    gm_gan *gan;
    GM_CK_OK(gm_gan_create(&gan, gn, dn, &o));
    return gan;
}

START_TEST(test_gan_traverse_effect_classes)
{
    const float g[TL] = {1.0f, 0.0f, 3.0f, 0.5f};
    gm_gan *gan = test_gan(g, 0);
    const float z0[TL] = {0.1f, 0.2f, 0.3f, 0.4f};
    gm_tensor *out = tensor2(3, TD, NULL);
    GM_CK_OK(gm_interp_gan_traverse(gan, z0, NULL, (size_t[]){2}, 1, 3.0f, 3, out));
    const float *o = gm_tensor_data(out);
    for (size_t s = 0; s < 3; s++)
        for (size_t j = 0; j < TD; j++)
            ck_assert_float_eq_tol(o[s * TD + j],
                                   g[j] * (z0[j] + (j == 2 ? -3.0f + 3.0f * (float)s : 0.0f)),
                                   1e-5f);
    /* effect: output j moves by g_j t, t on the grid of steps values in
     * [-r, r]: variance g_j^2 r^2 (steps + 1) / (3 (steps - 1)) */
    gm_tensor *z = tensor2(2, TL, (float[]){0, 0, 0, 0, 1, -1, 2, 0.5f});
    double eff[TL];
    GM_CK_OK(gm_interp_gan_effect(gan, z, NULL, 2.0f, 5, eff, TL));
    for (size_t j = 0; j < TL; j++)
        ck_assert_double_eq_tol(eff[j], (double)g[j] * g[j] * 4.0 * 6.0 / 12.0, 1e-4);
    size_t order[TL];
    GM_CK_OK(gm_interp_order_desc(eff, TL, order));
    ck_assert_uint_eq(order[0], 2);
    ck_assert_uint_eq(order[3], 1);
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_effect", gm_interp_gan_effect(gan, z, NULL, 2.0f, 5, eff, 3));
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_effect", gm_interp_gan_effect(gan, z, NULL, 0.0f, 5, eff, TL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_effect", gm_interp_gan_effect(gan, z, NULL, 2.0f, 1, eff, TL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_effect",
              gm_interp_gan_effect(gan, z, (int32_t[]){0, 0}, 2.0f, 5, eff, TL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_effect", gm_interp_gan_effect(gan, z, NULL, 2.0f, 5, NULL, TL));
    gm_tensor *zbad = tensor2(1, TL, (float[]){0, NAN, 0, 0});
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_effect", gm_interp_gan_effect(gan, zbad, NULL, 2.0f, 5, eff, TL));
    gm_tensor *z3 = tensor2(2, 3, NULL);
    GM_CK_ERR(GM_ESHAPE, "gm_interp_gan_effect", gm_interp_gan_effect(gan, z3, NULL, 2.0f, 5, eff, TL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_traverse",
              gm_interp_gan_traverse(gan, NULL, NULL, (size_t[]){2}, 1, 3.0f, 3, out));
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_traverse",
              gm_interp_gan_traverse(gan, z0, (int32_t[]){0}, (size_t[]){2}, 1, 3.0f, 3, out));
    GM_CK_ERR(GM_EUNSUPPORTED, "gm_interp_gan_classes", gm_interp_gan_classes(gan, z0, out));
    gm_gan_free(gan);

    gan = test_gan(g, 3);
    GM_CK_OK(gm_interp_gan_classes(gan, z0, out));
    o = gm_tensor_data(out);
    for (size_t k = 0; k < 3; k++)
        ck_assert_float_eq_tol(o[k * TD], g[0] * z0[0] + 5.0f * (float)(k + 1), 1e-5f);
    GM_CK_OK(gm_interp_gan_effect(gan, z, (int32_t[]){0, 2}, 2.0f, 5, eff, TL));
    ck_assert_double_eq_tol(eff[2], 9.0 * 2.0, 1e-4);
    GM_CK_ERR(GM_EINVAL, "gm_interp_gan_effect",
              gm_interp_gan_effect(gan, z, (int32_t[]){0, 3}, 2.0f, 5, eff, TL));
    gm_tensor_free(zbad);
    gm_tensor_free(z3);
    gm_tensor_free(z);
    gm_tensor_free(out);
    gm_gan_free(gan);
}
END_TEST

/* ---- the shapes data set ------------------------------------------------- */

START_TEST(test_shapes_indexing)
{
    size_t s[5];
    uint64_t count = 0;
    GM_CK_OK(gm_shapes_factor_sizes(32, s, &count));
    ck_assert_uint_eq(count, 3 * 6 * 16 * 16 * 16);
    GM_CK_OK(gm_shapes_factor_sizes(64, s, &count));
    ck_assert_uint_eq(count, 737280);
    ck_assert_uint_eq(s[2], 40);
    GM_CK_ERR(GM_EINVAL, "gm_shapes_factor_sizes", gm_shapes_factor_sizes(28, s, NULL));
    /* every index of the 32 set round-trips; index order is mixed radix */
    GM_CK_OK(gm_shapes_factor_sizes(32, s, &count));
    uint64_t *idx = malloc(count * sizeof *idx), *back = malloc(count * sizeof *back);
    int32_t *f = malloc(count * 5 * sizeof *f);
    for (uint64_t i = 0; i < count; i++) idx[i] = i;
    GM_CK_OK(gm_shapes_index_to_factors(32, idx, count, f));
    GM_CK_OK(gm_shapes_factors_to_index(32, f, count, back));
    ck_assert_mem_eq(idx, back, count * sizeof *idx);
    ck_assert_int_eq(f[5 * 1 + 4], 1);  /* index 1: y = 1 */
    ck_assert_int_eq(f[5 * 16 + 3], 1); /* index 16: x = 1 */
    ck_assert_int_eq(f[5 * (count - 1) + 0], 2);
    /* a random subset: distinct, in range, repeatable, seed-dependent */
    enum { N = 3000 };
    int32_t fa[N * 5], fb[N * 5];
    uint64_t ia[N];
    GM_CK_OK(gm_shapes_sample(32, 5, N, fa, ia));
    GM_CK_OK(gm_shapes_sample(32, 5, N, fb, NULL));
    ck_assert_mem_eq(fa, fb, sizeof fa);
    uint64_t ib[N];
    GM_CK_OK(gm_shapes_factors_to_index(32, fa, N, ib));
    ck_assert_mem_eq(ia, ib, sizeof ia);
    unsigned char *seen = calloc(count, 1);
    size_t shape_n[3] = {0};
    for (size_t i = 0; i < N; i++) {
        ck_assert_uint_lt(ia[i], count);
        ck_assert_int_eq(seen[ia[i]], 0);
        seen[ia[i]] = 1;
        shape_n[fa[i * 5]]++;
    }
    for (int k = 0; k < 3; k++) ck_assert_uint_gt(shape_n[k], N / 3 - 150); /* roughly uniform */
    int sorted = 1; /* shuffled, not in index order */
    for (size_t i = 1; i < N; i++) sorted &= ia[i] > ia[i - 1];
    ck_assert_int_eq(sorted, 0);
    GM_CK_OK(gm_shapes_sample(32, 6, N, fb, NULL));
    ck_assert_int_ne(memcmp(fa, fb, sizeof fa), 0);
    /* the whole set as a subset */
    GM_CK_OK(gm_shapes_sample(32, 1, count, f, back));
    memset(seen, 0, count);
    for (uint64_t i = 0; i < count; i++) seen[back[i]]++;
    for (uint64_t i = 0; i < count; i++) ck_assert_int_eq(seen[i], 1);
    /* bad input */
    GM_CK_ERR(GM_EINVAL, "gm_shapes_sample", gm_shapes_sample(32, 1, 0, fa, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_shapes_sample", gm_shapes_sample(32, 1, count + 1, f, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_shapes_sample", gm_shapes_sample(32, 1, 5, NULL, NULL));
    uint64_t badi = count;
    GM_CK_ERR(GM_EINVAL, "gm_shapes_index_to_factors", gm_shapes_index_to_factors(32, &badi, 1, fa));
    int32_t badf[5] = {0, 6, 0, 0, 0};
    GM_CK_ERR(GM_EINVAL, "gm_shapes_factors_to_index", gm_shapes_factors_to_index(32, badf, 1, ia));
    badf[1] = 0;
    badf[4] = -1;
    GM_CK_ERR(GM_EINVAL, "gm_shapes_factors_to_index", gm_shapes_factors_to_index(32, badf, 1, ia));
    free(seen);
    free(idx);
    free(back);
    free(f);
}
END_TEST

/* Pixel count, centroid (in pixels) of an image. */
static double moments(const float *img, size_t side, double *cx, double *cy)
{
    double n = 0, sx = 0, sy = 0;
    for (size_t y = 0; y < side; y++)
        for (size_t x = 0; x < side; x++) {
            const float v = img[y * side + x];
            ck_assert(v == 0.0f || v == 1.0f);
            n += v;
            sx += v * (x + 0.5);
            sy += v * (y + 0.5);
        }
    *cx = sx / n;
    *cy = sy / n;
    return n;
}

START_TEST(test_shapes_render)
{
    for (size_t side = 32; side <= 64; side += 32) {
        size_t s[5];
        GM_CK_OK(gm_shapes_factor_sizes(side, s, NULL));
        const size_t P = s[3];
        /* ellipse and square at every scale and a few positions/rotations:
         * area within a perimeter's worth of pixels of the true area,
         * centroid at the shape's centre */
        for (int shape = 0; shape < 2; shape++)
            for (int32_t sc = 0; sc < 6; sc++)
                for (int32_t px = 0; px < (int32_t)P; px += 5) {
                    const int32_t rot = (px * 3) % (int32_t)s[2], py = (int32_t)P - 1 - px;
                    int32_t f[5] = {shape, sc, rot, px, py};
                    gm_tensor *img;
                    GM_CK_OK(gm_tensor_create(&img, 4, (size_t[]){1, 1, side, side}));
                    GM_CK_OK(gm_shapes_render(side, f, 1, img));
                    double cx, cy;
                    const double n = moments(gm_tensor_data(img), side, &cx, &cy);
                    const double r = (0.08 + 0.02 * sc) * side;
                    const double area = shape == 0 ? 1.6 * 1.6 * r * r : GM_TEST_PI * 0.55 * r * r;
                    const double perim = shape == 0 ? 6.4 * r : 2 * GM_TEST_PI * r;
                    ck_assert_msg(fabs(n - area) <= 0.5 * perim + 2,
                                  "side %zu shape %d scale %d: %g pixels, area %g", side, shape,
                                  sc, n, area);
                    const double wx = (0.2 + 0.6 * px / (P - 1.0)) * side;
                    const double wy = (0.2 + 0.6 * py / (P - 1.0)) * side;
                    ck_assert_msg(fabs(cx - wx) < 0.6 && fabs(cy - wy) < 0.6,
                                  "centroid (%g, %g), want (%g, %g)", cx, cy, wx, wy);
                    gm_tensor_free(img);
                }
        /* the heart points down at rotation 0 and up at half a turn: the
         * upper half of its pixels holds the lobes (more mass) */
        int32_t f[10] = {2, 5, 0, (int32_t)P / 2, (int32_t)P / 2,
                         2, 5, (int32_t)s[2] / 2, (int32_t)P / 2, (int32_t)P / 2};
        gm_tensor *img;
        GM_CK_OK(gm_tensor_create(&img, 4, (size_t[]){2, 1, side, side}));
        GM_CK_OK(gm_shapes_render(side, f, 2, img));
        double cx0, cy0, cx1, cy1;
        const float *p = gm_tensor_data(img);
        moments(p, side, &cx0, &cy0);
        moments(p + side * side, side, &cx1, &cy1);
        const double cy = (0.2 + 0.6 * (P / 2) / (P - 1.0)) * side;
        ck_assert_double_lt(cy0, cy); /* upright: mass above the centre */
        ck_assert_double_gt(cy1, cy); /* upside down */
        /* a quarter turn of the square (a multiple of 4 rotation steps)
         * gives the same picture up to boundary pixels */
        int32_t q[10] = {0, 3, 0, 5, 7, 0, 3, (int32_t)s[2] / 4, 5, 7};
        GM_CK_OK(gm_shapes_render(side, q, 2, img));
        size_t diff = 0;
        for (size_t i = 0; i < side * side; i++) diff += p[i] != p[side * side + i];
        ck_assert_uint_le(diff, 4);
        gm_tensor_free(img);
    }
    /* rendering twice gives the same bits; different factors differ */
    int32_t f[10] = {1, 2, 3, 4, 5, 1, 2, 4, 4, 5};
    gm_tensor *a, *b;
    GM_CK_OK(gm_tensor_create(&a, 4, (size_t[]){2, 1, 32, 32}));
    GM_CK_OK(gm_tensor_create(&b, 3, (size_t[]){2, 32, 32}));
    GM_CK_OK(gm_shapes_render(32, f, 2, a));
    GM_CK_OK(gm_shapes_render(32, f, 2, b));
    ck_assert_mem_eq(gm_tensor_data(a), gm_tensor_data(b), 2 * 1024 * sizeof(float));
    ck_assert_int_ne(memcmp(gm_tensor_data(a), gm_tensor_data(a) + 1024, 1024 * sizeof(float)), 0);
    /* bad input: a is left as it was */
    gm_tensor *small;
    GM_CK_OK(gm_tensor_create(&small, 4, (size_t[]){1, 1, 32, 32}));
    GM_CK_ERR(GM_ESHAPE, "gm_shapes_render", gm_shapes_render(32, f, 2, small));
    GM_CK_ERR(GM_ESHAPE, "gm_shapes_render", gm_shapes_render(64, f, 2, a));
    GM_CK_ERR(GM_EINVAL, "gm_shapes_render", gm_shapes_render(16, f, 2, a));
    GM_CK_ERR(GM_EINVAL, "gm_shapes_render", gm_shapes_render(32, NULL, 2, a));
    GM_CK_ERR(GM_EINVAL, "gm_shapes_render", gm_shapes_render(32, f, 0, a));
    int32_t bad[10] = {1, 2, 3, 4, 5, 3, 2, 4, 4, 5};
    GM_CK_ERR(GM_EINVAL, "gm_shapes_render", gm_shapes_render(32, bad, 2, a));
    ck_assert_mem_eq(gm_tensor_data(a), gm_tensor_data(b), 2 * 1024 * sizeof(float));
    gm_tensor_free(small);
    gm_tensor_free(a);
    gm_tensor_free(b);
}
END_TEST

/* ---- MIG ------------------------------------------------------------------ */

START_TEST(test_mig_hand_case)
{
    /* factor (0, 0, 1, 1); z1 = the factor, z2 = (0, 1, 1, 1) (bins 0, 1, 1, 1):
     * I(v; z1) = H(v) = log 2, I(v; z2) = 1.5 log 2 - 0.75 log 3, so
     * MIG = 1 - (1.5 - 0.75 log2 3) = 0.75 log2 3 - 0.5 */
    const float z[8] = {0, 0, 0, 1, 1, 1, 1, 1};
    const int32_t f[4] = {7, 7, -3, -3}; /* any two values */
    double mig, gaps[1], mi[2];
    GM_CK_OK(gm_interp_mig(z, 4, 2, f, 1, 2, &mig, gaps, mi));
    ck_assert_double_eq_tol(mi[0], log(2.0), 1e-12);
    ck_assert_double_eq_tol(mi[1], 1.5 * log(2.0) - 0.75 * log(3.0), 1e-12);
    ck_assert_double_eq_tol(mig, 0.75 * log2(3.0) - 0.5, 1e-12);
    ck_assert_double_eq_tol(gaps[0], mig, 1e-15);
    /* a constant latent dimension carries no information */
    const float zc[8] = {0, 5, 0, 5, 1, 5, 1, 5};
    GM_CK_OK(gm_interp_mig(zc, 4, 2, f, 1, 20, &mig, NULL, mi));
    ck_assert_double_eq(mi[1], 0.0);
    ck_assert_double_eq_tol(mig, 1.0, 1e-12);
}
END_TEST

/* Synthetic latents with a known answer on the shapes factors. */
START_TEST(test_mig_perfect_and_rotated)
{
    enum { N = 5000, K = 5, L = 7 };
    int32_t *f = malloc(N * K * sizeof *f);
    float *z = malloc(N * L * sizeof *z), *zr = malloc(N * L * sizeof *zr);
    GM_CK_OK(gm_shapes_sample(32, 11, N, f, NULL));
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 3));
    float *noise = malloc(N * L * sizeof *noise);
    GM_CK_OK(gm_rng_normal(rng, noise, N * L));
    const double sizes[K] = {3, 6, 16, 16, 16};
    /* latent j = factor j, standardized, plus tiny noise; 2 noise dims */
    for (size_t i = 0; i < N; i++)
        for (size_t j = 0; j < L; j++)
            z[i * L + j] = j < K ? (float)((f[i * K + j] - (sizes[j] - 1) / 2) / sizes[j] * 3.4) +
                                       1e-3f * noise[i * L + j]
                                 : noise[i * L + j];
    double mig, gaps[K];
    GM_CK_OK(gm_interp_mig(z, N, L, f, K, 20, &mig, gaps, NULL));
    ck_assert_msg(mig > 0.9, "perfect encoder: MIG %g", mig);
    /* a random rotation of it: Gram-Schmidt on a normal matrix */
    double q[L][L];
    float g[L * L];
    GM_CK_OK(gm_rng_normal(rng, g, L * L));
    for (size_t r = 0; r < L; r++) {
        for (size_t c = 0; c < L; c++) q[r][c] = g[r * L + c];
        for (size_t p = 0; p < r; p++) {
            double d = 0;
            for (size_t c = 0; c < L; c++) d += q[r][c] * q[p][c];
            for (size_t c = 0; c < L; c++) q[r][c] -= d * q[p][c];
        }
        double nn = 0;
        for (size_t c = 0; c < L; c++) nn += q[r][c] * q[r][c];
        for (size_t c = 0; c < L; c++) q[r][c] /= sqrt(nn);
    }
    for (size_t i = 0; i < N; i++)
        for (size_t r = 0; r < L; r++) {
            double s = 0;
            for (size_t c = 0; c < L; c++) s += q[r][c] * z[i * L + c];
            zr[i * L + r] = (float)s;
        }
    double mig_rot;
    GM_CK_OK(gm_interp_mig(zr, N, L, f, K, 20, &mig_rot, NULL, NULL));
    ck_assert_msg(mig_rot < 0.3, "rotated encoder: MIG %g", mig_rot);
    /* permuting the latent dimensions and a monotone rescaling of one keep
     * the score: the estimate depends on bins and ranks only */
    for (size_t i = 0; i < N; i++) {
        float row[L];
        for (size_t j = 0; j < L; j++) row[j] = z[i * L + (j + 3) % L];
        row[0] = 4.0f * row[0] - 2.0f;
        memcpy(zr + i * L, row, sizeof row);
    }
    double mig_perm;
    GM_CK_OK(gm_interp_mig(zr, N, L, f, K, 20, &mig_perm, NULL, NULL));
    ck_assert_double_eq_tol(mig_perm, mig, 1e-6);
    gm_rng_free(rng);
    free(noise);
    free(f);
    free(z);
    free(zr);
}
END_TEST

START_TEST(test_mig_bad_input)
{
    const float z[8] = {0, 0, 0, 1, 1, 1, 1, 1};
    const int32_t f[4] = {0, 0, 1, 1};
    double mig = -5, gaps[1] = {-5};
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(NULL, 4, 2, f, 1, 2, &mig, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 4, 2, NULL, 1, 2, &mig, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 4, 2, f, 1, 2, NULL, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 1, 2, f, 1, 2, &mig, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 8, 1, f, 1, 2, &mig, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 4, 2, f, 0, 2, &mig, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 4, 2, f, 1, 1, &mig, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 4, 2, f, 1, 10001, &mig, NULL, NULL));
    const float zn[8] = {0, 0, 0, NAN, 1, 1, 1, 1};
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(zn, 4, 2, f, 1, 2, &mig, gaps, NULL));
    const int32_t fc[4] = {3, 3, 3, 3};
    GM_CK_ERR(GM_EINVAL, "gm_interp_mig", gm_interp_mig(z, 4, 2, fc, 1, 2, &mig, gaps, NULL));
    ck_assert_double_eq(mig, -5); /* outputs untouched */
    ck_assert_double_eq(gaps[0], -5);
}
END_TEST

START_TEST(test_vae_dims_bad_input)
{
    const float a[TL] = {1, 1, 1, 1}, c[TL] = {0, 0, 0, 0};
    gm_vae *v = test_vae(a, c, 0, 1);
    gm_tensor *t = tensor2(6, TD, NULL), *one = tensor2(1, TD, NULL), *wide = tensor2(6, TD + 1, NULL);
    double kl[TL] = {-7, -7, -7, -7};
    size_t active = 42;
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_dims",
              gm_interp_vae_dims(NULL, t, NULL, 4, 0.01, kl, NULL, TL, &active));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_dims",
              gm_interp_vae_dims(v, NULL, NULL, 4, 0.01, kl, NULL, TL, &active));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_dims",
              gm_interp_vae_dims(v, t, NULL, 4, 0.01, kl, NULL, TL + 1, &active));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_dims",
              gm_interp_vae_dims(v, t, NULL, 0, 0.01, kl, NULL, TL, &active));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_dims",
              gm_interp_vae_dims(v, t, NULL, 4, NAN, kl, NULL, TL, &active));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_dims",
              gm_interp_vae_dims(v, t, NULL, 4, -1.0, kl, NULL, TL, &active));
    GM_CK_ERR(GM_EINVAL, "gm_interp_vae_dims",
              gm_interp_vae_dims(v, one, NULL, 4, 0.01, kl, NULL, TL, &active));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_encode",
              gm_interp_vae_dims(v, wide, NULL, 4, 0.01, kl, NULL, TL, &active));
    gm_tensor_data(t)[9] = NAN; /* in the second batch */
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode",
              gm_interp_vae_dims(v, t, NULL, 2, 0.01, kl, NULL, TL, &active));
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode",
              gm_interp_vae_dims(v, t, (int32_t[]){0, 0, 0, 0, 0, 0}, 2, 0.01, kl, NULL, TL,
                                 &active));
    ck_assert_double_eq(kl[0], -7);
    ck_assert_uint_eq(active, 42);
    GM_CK_ERR(GM_EINVAL, "gm_interp_order_desc", gm_interp_order_desc(NULL, 3, (size_t[3]){0}));
    GM_CK_ERR(GM_EINVAL, "gm_interp_order_desc",
              gm_interp_order_desc((double[]){1, NAN}, 2, (size_t[2]){0}));
    GM_CK_ERR(GM_EINVAL, "gm_interp_order_desc",
              gm_interp_order_desc((double[]){1}, 0, (size_t[2]){0}));
    GM_CK_ERR(GM_EINVAL, "gm_interp_format_table",
              gm_interp_format_table((double[]){1, INFINITY}, (double[]){1, 1}, 2, 0.01, NULL, 0,
                                     NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_format_table",
              gm_interp_format_table((double[]){1}, (double[]){1}, 0, 0.01, NULL, 0, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_format_table",
              gm_interp_format_table((double[]){1}, NULL, 1, 0.01, NULL, 0, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_interp_format_table",
              gm_interp_format_table((double[]){1}, (double[]){1}, 1, 0.01, NULL, 10, NULL));
    gm_tensor_free(t);
    gm_tensor_free(one);
    gm_tensor_free(wide);
    gm_vae_free(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("interp");
    TCase *tc = tcase_create("vae_dims");
    tcase_add_test(tc, test_vae_dims_exact);
    tcase_add_test(tc, test_model_unchanged);
    tcase_add_test(tc, test_order_and_table);
    tcase_add_test(tc, test_bar_chart);
    tcase_add_test(tc, test_vae_dims_bad_input);
    suite_add_tcase(s, tc);
    tc = tcase_create("traversals");
    tcase_add_test(tc, test_vae_traverse_values);
    tcase_add_test(tc, test_vae_classes);
    tcase_add_test(tc, test_gan_traverse_effect_classes);
    suite_add_tcase(s, tc);
    tc = tcase_create("shapes");
    tcase_add_test(tc, test_shapes_indexing);
    tcase_add_test(tc, test_shapes_render);
    suite_add_tcase(s, tc);
    tc = tcase_create("mig");
    tcase_add_test(tc, test_mig_hand_case);
    tcase_add_test(tc, test_mig_perfect_and_rotated);
    tcase_add_test(tc, test_mig_bad_input);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
