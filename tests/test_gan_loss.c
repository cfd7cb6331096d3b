/* SPDX-License-Identifier: MIT */
/* The adversarial-loss module: every family's value against its closed
 * form (written out independently here), gradients against central
 * differences, stability at huge logits, and bad input. */
#include "gm_test.h"

static const gm_gan_loss FAMILIES[] = {GM_GAN_NONSATURATING, GM_GAN_MINIMAX,
                                       GM_GAN_LEAST_SQUARES, GM_GAN_HINGE,
                                       GM_GAN_WASSERSTEIN};

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Closed forms from gan.h, for moderate logits: log D(x) = log sig(r). */
static double ref_d(gm_gan_loss f, const float *r, size_t nr, const float *fk, size_t nf,
                    double t)
{
    double a = 0, b = 0;
    for (size_t i = 0; i < nr; i++) {
        double x = r[i];
        switch (f) {
        case GM_GAN_NONSATURATING:
        case GM_GAN_MINIMAX: a += -(t * log(sig(x)) + (1 - t) * log(1 - sig(x))); break;
        case GM_GAN_LEAST_SQUARES: a += 0.5 * (x - t) * (x - t); break;
        case GM_GAN_HINGE: a += fmax(0.0, 1.0 - x); break;
        case GM_GAN_WASSERSTEIN: a += -x; break;
        }
    }
    for (size_t i = 0; i < nf; i++) {
        double x = fk[i];
        switch (f) {
        case GM_GAN_NONSATURATING:
        case GM_GAN_MINIMAX: b += -log(1 - sig(x)); break;
        case GM_GAN_LEAST_SQUARES: b += 0.5 * x * x; break;
        case GM_GAN_HINGE: b += fmax(0.0, 1.0 + x); break;
        case GM_GAN_WASSERSTEIN: b += x; break;
        }
    }
    return a / nr + b / nf;
}

static double ref_g(gm_gan_loss f, const float *fk, size_t nf)
{
    double b = 0;
    for (size_t i = 0; i < nf; i++) {
        double x = fk[i];
        switch (f) {
        case GM_GAN_NONSATURATING: b += -log(sig(x)); break;
        case GM_GAN_MINIMAX: b += log(1 - sig(x)); break;
        case GM_GAN_LEAST_SQUARES: b += 0.5 * (x - 1) * (x - 1); break;
        case GM_GAN_HINGE:
        case GM_GAN_WASSERSTEIN: b += -x; break;
        }
    }
    return b / nf;
}

/* Random logits in (-3, 3), kept 0.05 away from the hinge kinks at +-1. */
static gm_tensor *logits(gm_rng *rng, size_t n, size_t d)
{
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, 2, (size_t[]){n, d}));
    GM_CK_OK(gm_tensor_fill_uniform(t, rng));
    float *x = gm_tensor_data(t);
    for (size_t i = 0; i < n * d; i++) {
        x[i] = 6.0f * x[i] - 3.0f;
        if (fabsf(fabsf(x[i]) - 1.0f) < 0.05f) x[i] += 0.1f;
    }
    return t;
}

START_TEST(test_values_and_gradients)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    const float labels[2] = {1.0f, 0.9f};
    for (size_t fi = 0; fi < 5; fi++)
        for (int li = 0; li < 2; li++) {
            gm_gan_loss f = FAMILIES[fi];
            float t = labels[li];
            if (t != 1.0f && (f == GM_GAN_HINGE || f == GM_GAN_WASSERSTEIN)) continue;
            gm_tensor *r = logits(rng, 5, 1), *k = logits(rng, 3, 2);
            gm_tensor *gr, *gk, *gg;
            GM_CK_OK(gm_tensor_create(&gr, 2, (size_t[]){5, 1}));
            GM_CK_OK(gm_tensor_create(&gk, 2, (size_t[]){3, 2}));
            GM_CK_OK(gm_tensor_create(&gg, 2, (size_t[]){3, 2}));
            float ld, lg, lp, lm;
            GM_CK_OK(gm_gan_d_loss(f, r, k, t, &ld, gr, gk));
            GM_CK_OK(gm_gan_g_loss(f, k, &lg, gg));
            double want_d = ref_d(f, gm_tensor_data(r), 5, gm_tensor_data(k), 6, t);
            double want_g = ref_g(f, gm_tensor_data(k), 6);
            ck_assert_msg(fabs(ld - want_d) <= 1e-5 * (1 + fabs(want_d)),
                          "family %d t %g: D loss %.8g, closed form %.8g", (int)f, t, ld, want_d);
            ck_assert_msg(fabs(lg - want_g) <= 1e-5 * (1 + fabs(want_g)),
                          "family %d: G loss %.8g, closed form %.8g", (int)f, lg, want_g);
            /* central differences on every logit of both batches and both sides */
            const float eps = 1e-3f;
            gm_tensor *which[2] = {r, k};
            gm_tensor *grads[2] = {gr, gk};
            for (int w = 0; w < 2; w++) {
                float *x = gm_tensor_data(which[w]);
                for (size_t i = 0; i < gm_tensor_numel(which[w]); i++) {
                    float keep = x[i];
                    x[i] = keep + eps;
                    GM_CK_OK(gm_gan_d_loss(f, r, k, t, &lp, NULL, NULL));
                    x[i] = keep - eps;
                    GM_CK_OK(gm_gan_d_loss(f, r, k, t, &lm, NULL, NULL));
                    x[i] = keep;
                    double num = ((double)lp - lm) / (2 * eps), an = gm_tensor_data(grads[w])[i];
                    ck_assert_msg(fabs(num - an) <= 2e-3 + 2e-2 * fabs(num),
                                  "family %d D grad %d[%zu]: %g vs %g", (int)f, w, i, an, num);
                    if (w == 1) {
                        x[i] = keep + eps;
                        GM_CK_OK(gm_gan_g_loss(f, k, &lp, NULL));
                        x[i] = keep - eps;
                        GM_CK_OK(gm_gan_g_loss(f, k, &lm, NULL));
                        x[i] = keep;
                        num = ((double)lp - lm) / (2 * eps);
                        an = gm_tensor_data(gg)[i];
                        ck_assert_msg(fabs(num - an) <= 2e-3 + 2e-2 * fabs(num),
                                      "family %d G grad [%zu]: %g vs %g", (int)f, i, an, num);
                    }
                }
            }
            gm_tensor_free(r);
            gm_tensor_free(k);
            gm_tensor_free(gr);
            gm_tensor_free(gk);
            gm_tensor_free(gg);
        }
    gm_rng_free(rng);
}
END_TEST

/* The D loss is the sum of its real term and its fake term, each with the
 * same gradient as in the joint call. */
START_TEST(test_d_loss_sides)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 11));
    for (size_t fi = 0; fi < 5; fi++) {
        gm_tensor *r = logits(rng, 4, 1), *k = logits(rng, 3, 1), *g1, *g2, *h1, *h2;
        GM_CK_OK(gm_tensor_create(&g1, 2, (size_t[]){4, 1}));
        GM_CK_OK(gm_tensor_create(&g2, 2, (size_t[]){4, 1}));
        GM_CK_OK(gm_tensor_create(&h1, 2, (size_t[]){3, 1}));
        GM_CK_OK(gm_tensor_create(&h2, 2, (size_t[]){3, 1}));
        float both, lr, lf;
        GM_CK_OK(gm_gan_d_loss(FAMILIES[fi], r, k, 1.0f, &both, g1, h1));
        GM_CK_OK(gm_gan_d_loss(FAMILIES[fi], r, NULL, 1.0f, &lr, g2, NULL));
        GM_CK_OK(gm_gan_d_loss(FAMILIES[fi], NULL, k, 1.0f, &lf, NULL, h2));
        ck_assert_float_eq_tol(both, lr + lf, 1e-6f * (1 + fabsf(both)));
        ck_assert(memcmp(gm_tensor_data(g1), gm_tensor_data(g2), 4 * sizeof(float)) == 0);
        ck_assert(memcmp(gm_tensor_data(h1), gm_tensor_data(h2), 3 * sizeof(float)) == 0);
        gm_tensor *all[] = {r, k, g1, g2, h1, h2};
        for (int i = 0; i < 6; i++) gm_tensor_free(all[i]);
    }
    gm_rng_free(rng);
}
END_TEST

/* Saturated logits stay finite: the cross-entropy families use softplus. */
START_TEST(test_huge_logits)
{
    float rv[2] = {1e4f, -1e4f}, fv[2] = {-1e4f, 1e4f}, gr[2], gf[2], loss;
    gm_tensor *r, *f, *dr, *df;
    GM_CK_OK(gm_tensor_wrap(&r, 2, (size_t[]){2, 1}, rv));
    GM_CK_OK(gm_tensor_wrap(&f, 2, (size_t[]){2, 1}, fv));
    GM_CK_OK(gm_tensor_wrap(&dr, 2, (size_t[]){2, 1}, gr));
    GM_CK_OK(gm_tensor_wrap(&df, 2, (size_t[]){2, 1}, gf));
    for (size_t fi = 0; fi < 5; fi++) {
        GM_CK_OK(gm_gan_d_loss(FAMILIES[fi], r, f, 1.0f, &loss, dr, df));
        ck_assert(isfinite(loss) && isfinite(gr[0]) && isfinite(gr[1]) && isfinite(gf[0]) &&
                  isfinite(gf[1]));
        GM_CK_OK(gm_gan_g_loss(FAMILIES[fi], f, &loss, df));
        ck_assert(isfinite(loss) && isfinite(gf[0]) && isfinite(gf[1]));
    }
    /* non-saturating D: one real right, one wrong; one fake right, one wrong */
    GM_CK_OK(gm_gan_d_loss(GM_GAN_NONSATURATING, r, f, 1.0f, &loss, dr, df));
    ck_assert_float_eq_tol(loss, 1e4f, 1.0f);
    ck_assert_float_eq_tol(gr[0], 0.0f, 1e-6f);
    ck_assert_float_eq_tol(gr[1], -0.5f, 1e-6f);
    ck_assert_float_eq_tol(gf[1], 0.5f, 1e-6f);
    gm_tensor_free(r);
    gm_tensor_free(f);
    gm_tensor_free(dr);
    gm_tensor_free(df);
}
END_TEST

START_TEST(test_bad_input)
{
    float v[3] = {0.5f, -0.5f, 1.5f}, g[3] = {7, 7, 7}, loss = 42.0f;
    gm_tensor *x, *grad, *wrong;
    GM_CK_OK(gm_tensor_wrap(&x, 2, (size_t[]){3, 1}, v));
    GM_CK_OK(gm_tensor_wrap(&grad, 2, (size_t[]){3, 1}, g));
    GM_CK_OK(gm_tensor_create(&wrong, 2, (size_t[]){2, 1}));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss", gm_gan_d_loss(GM_GAN_HINGE, NULL, NULL, 1, &loss, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss", gm_gan_d_loss(GM_GAN_HINGE, x, x, 1, NULL, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss", gm_gan_d_loss((gm_gan_loss)9, x, x, 1, &loss, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss",
              gm_gan_d_loss(GM_GAN_NONSATURATING, x, x, 0.0f, &loss, grad, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss",
              gm_gan_d_loss(GM_GAN_NONSATURATING, x, x, 1.5f, &loss, grad, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss",
              gm_gan_d_loss(GM_GAN_NONSATURATING, x, x, NAN, &loss, grad, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss",
              gm_gan_d_loss(GM_GAN_WASSERSTEIN, x, x, 0.9f, &loss, grad, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_d_loss",
              gm_gan_d_loss(GM_GAN_MINIMAX, x, x, 1, &loss, wrong, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_d_loss",
              gm_gan_d_loss(GM_GAN_MINIMAX, x, x, 1, &loss, grad, wrong));
    GM_CK_ERR(GM_EINVAL, "gm_gan_g_loss", gm_gan_g_loss(GM_GAN_MINIMAX, NULL, &loss, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_g_loss", gm_gan_g_loss((gm_gan_loss)-1, x, &loss, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_g_loss", gm_gan_g_loss(GM_GAN_HINGE, x, &loss, wrong));
    v[1] = INFINITY;
    GM_CK_ERR(GM_EINVAL, "gm_gan_g_loss", gm_gan_g_loss(GM_GAN_HINGE, x, &loss, grad));
    GM_CK_ERR(GM_EINVAL, "gm_gan_d_loss",
              gm_gan_d_loss(GM_GAN_HINGE, x, x, 1, &loss, grad, NULL));
    /* nothing was written by any failed call */
    ck_assert(loss == 42.0f && g[0] == 7 && g[1] == 7 && g[2] == 7);
    gm_tensor_free(x);
    gm_tensor_free(grad);
    gm_tensor_free(wrong);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gan_loss");
    TCase *tc = tcase_create("gan_loss");
    tcase_add_test(tc, test_values_and_gradients);
    tcase_add_test(tc, test_d_loss_sides);
    tcase_add_test(tc, test_huge_logits);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
