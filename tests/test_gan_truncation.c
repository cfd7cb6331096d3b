/* SPDX-License-Identifier: MIT */
/* The truncation trick: gm_rng_truncated_normal against gm_rng_normal's
 * stream and its bad input; gm_gan_set_truncation: with G the identity, the
 * samples are the latents themselves, so the test reads them. They are the
 * untruncated stream's values within the threshold, in order; they follow
 * the truncated normal's moments; threshold 0 gives back the plain stream;
 * gm_gan_generate and checkpoints are not affected; bad thresholds are
 * refused with the setting unchanged. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "gm_test.h"

enum { L = 4 };

/* G: dense L -> L set to the identity (G(z) = z); D: dense L -> 1. */
static gm_gan *identity_gan(uint64_t seed)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    gm_net *g, *d;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&g));
    GM_CK_OK(gm_net_create(&d));
    GM_CK_OK(gm_dense_create(&l, L, L, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_net_add(g, l));
    GM_CK_OK(gm_dense_create(&l, L, 1, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_net_add(d, l));
    gm_rng_free(rng);
    /* weights (L x L, symmetric, so either layout) then the bias */
    float p[L * L + L] = {0};
    ck_assert_uint_eq(gm_net_param_count(g), L * L + L);
    for (int i = 0; i < L; i++) p[i * L + i] = 1.0f;
    GM_CK_OK(gm_net_set_params(g, p, L * L + L));
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = L;
    o.seed = seed;
    gm_gan *gan;
    GM_CK_OK(gm_gan_create(&gan, g, d, &o));
    return gan;
}

/* n samples (n x L floats, the caller frees them) */
static float *sample(gm_gan *gan, size_t n)
{
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, 2, (size_t[]){n, L}));
    GM_CK_OK(gm_gan_sample(gan, n, NULL, t));
    float *out = malloc(n * L * sizeof *out);
    ck_assert_ptr_nonnull(out);
    GM_CK_OK(gm_tensor_copy_out(t, out, n * L));
    gm_tensor_free(t);
    return out;
}

/* gm_rng_truncated_normal: the plain stream's values within t, in order,
 * reading whole blocks of 4; threshold 0 is gm_rng_normal; bad input
 * leaves dst and the generator alone. */
START_TEST(test_rng_truncated_normal)
{
    enum { N = 1000 };
    static float all[4 * N], got[N];
    gm_rng *a, *b;
    GM_CK_OK(gm_rng_create(&a, 21));
    GM_CK_OK(gm_rng_create(&b, 21));
    GM_CK_OK(gm_rng_normal(a, all, 4 * N));
    GM_CK_OK(gm_rng_truncated_normal(b, got, N, 0.6f));
    size_t k = 0, last = 0;
    for (size_t i = 0; i < 4 * N && k < N; i++)
        if (fabsf(all[i]) <= 0.6f) {
            ck_assert_msg(got[k] == all[i], "value %zu: %g, the stream's %g", k, (double)got[k],
                          (double)all[i]);
            k++;
            last = i;
        }
    ck_assert_uint_eq(k, N);
    uint64_t seed, pos;
    GM_CK_OK(gm_rng_get_state(b, &seed, &pos));
    ck_assert_uint_eq(pos, last / 4 + 1); /* up to the block of the last value */
    /* 0: the plain stream */
    GM_CK_OK(gm_rng_seed(b, 21));
    GM_CK_OK(gm_rng_truncated_normal(b, got, N, 0.0f));
    ck_assert(memcmp(got, all, sizeof got) == 0);
    /* bad input */
    GM_CK_ERR(GM_EINVAL, "gm_rng_truncated_normal", gm_rng_truncated_normal(NULL, got, N, 1.0f));
    GM_CK_ERR(GM_EINVAL, "gm_rng_truncated_normal", gm_rng_truncated_normal(b, NULL, N, 1.0f));
    GM_CK_OK(gm_rng_truncated_normal(b, NULL, 0, 1.0f));
    GM_CK_OK(gm_rng_get_state(b, &seed, &pos));
    got[0] = 42.0f;
    const float bad[4] = {-2.0f, 0.09f, NAN, -INFINITY};
    for (int c = 0; c < 4; c++)
        GM_CK_ERR(GM_EINVAL, "gm_rng_truncated_normal", gm_rng_truncated_normal(b, got, N, bad[c]));
    ck_assert(got[0] == 42.0f);
    uint64_t seed2, pos2;
    GM_CK_OK(gm_rng_get_state(b, &seed2, &pos2));
    ck_assert(seed2 == seed && pos2 == pos);
    gm_rng_free(a);
    gm_rng_free(b);
}
END_TEST

/* G is the identity: gm_gan_generate returns its z, so samples are z. */
START_TEST(test_identity_generator)
{
    gm_gan *gan = identity_gan(3);
    const float zv[2 * L] = {0.5f, -1.25f, 2.0f, 0.0f, -3.0f, 1.0f, 0.25f, -0.75f};
    gm_tensor *z, *out;
    GM_CK_OK(gm_tensor_from_data(&z, 2, (size_t[]){2, L}, zv));
    GM_CK_OK(gm_tensor_create(&out, 2, (size_t[]){2, L}));
    GM_CK_OK(gm_gan_generate(gan, z, NULL, out));
    ck_assert(memcmp(gm_tensor_data(out), zv, sizeof zv) == 0);
    /* truncation leaves a caller's z alone */
    GM_CK_OK(gm_gan_set_truncation(gan, 0.5f));
    GM_CK_OK(gm_gan_generate(gan, z, NULL, out));
    ck_assert(memcmp(gm_tensor_data(out), zv, sizeof zv) == 0);
    gm_tensor_free(z);
    gm_tensor_free(out);
    gm_gan_free(gan);
}
END_TEST

/* The truncated samples are the plain stream's values within t, in order. */
START_TEST(test_values_are_the_stream_within_threshold)
{
    const float t = 0.8f;
    const size_t n = 500; /* 2000 truncated values; the plain stream keeps ~58% */
    gm_gan *plain = identity_gan(7), *cut = identity_gan(7);
    GM_CK_OK(gm_gan_set_truncation(cut, t));
    float *all = sample(plain, 3 * n), *got = sample(cut, n);
    size_t k = 0;
    for (size_t i = 0; i < 3 * n * L && k < n * L; i++)
        if (fabsf(all[i]) <= t) {
            ck_assert_msg(got[k] == all[i], "value %zu: %g, the stream's %g", k, (double)got[k],
                          (double)all[i]);
            k++;
        }
    ck_assert_uint_eq(k, n * L); /* the plain stream was long enough */
    free(all);
    free(got);
    gm_gan_free(plain);
    gm_gan_free(cut);
}
END_TEST

/* Mean 0 and the truncated normal's variance 1 - 2 t phi(t) / (2 Phi(t) - 1),
 * within 5 standard errors; every value within t. */
START_TEST(test_truncated_normal_moments)
{
    const float ts[3] = {0.5f, 1.0f, 2.0f};
    const size_t n = 10000; /* 40000 values */
    for (int c = 0; c < 3; c++) {
        const double t = ts[c];
        gm_gan *gan = identity_gan(11);
        GM_CK_OK(gm_gan_set_truncation(gan, ts[c]));
        float *v = sample(gan, n);
        double m1 = 0.0, m2 = 0.0, m4 = 0.0;
        for (size_t i = 0; i < n * L; i++) {
            ck_assert_msg(fabsf(v[i]) <= ts[c], "value %g beyond %g", (double)v[i], t);
            m1 += v[i];
            m2 += (double)v[i] * v[i];
            m4 += (double)v[i] * v[i] * v[i] * v[i];
        }
        const double N = (double)(n * L);
        m1 /= N;
        m2 /= N;
        m4 /= N;
        const double phi = exp(-0.5 * t * t) / sqrt(2.0 * 3.14159265358979323846), mass = erf(t / sqrt(2.0));
        const double var = 1.0 - 2.0 * t * phi / mass;
        ck_assert_msg(fabs(m1) < 5.0 * sqrt(var / N), "t %g: mean %g", t, m1);
        ck_assert_msg(fabs(m2 - var) < 5.0 * sqrt((m4 - m2 * m2) / N), "t %g: variance %g, not %g",
                      t, m2, var);
        free(v);
        gm_gan_free(gan);
    }
}
END_TEST

/* Threshold 0 is the plain stream again; a loaded GAN samples untruncated. */
START_TEST(test_off_and_not_checkpointed)
{
    gm_gan *plain = identity_gan(5), *gan = identity_gan(5);
    GM_CK_OK(gm_gan_set_truncation(gan, 1.0f));
    GM_CK_OK(gm_gan_set_truncation(gan, 0.0f));
    float *a = sample(plain, 64), *b = sample(gan, 64);
    ck_assert(memcmp(a, b, 64 * L * sizeof *a) == 0);
    free(a);
    free(b);

    const char *p = gm_test_path("trunc.gmck");
    GM_CK_OK(gm_gan_set_truncation(gan, 0.3f));
    GM_CK_OK(gm_gan_save(gan, p));
    gm_gan *loaded;
    GM_CK_OK(gm_gan_load(&loaded, p));
    a = sample(plain, 64);
    b = sample(loaded, 64);
    ck_assert(memcmp(a, b, 64 * L * sizeof *a) == 0);
    free(a);
    free(b);
    remove(p);
    gm_gan_free(loaded);
    gm_gan_free(plain);
    gm_gan_free(gan);
}
END_TEST

/* Bad thresholds: GM_EINVAL naming the function and the value; the
 * setting stays (the samples are those of a GAN that never saw the call). */
START_TEST(test_bad_threshold)
{
    const size_t live = gm_live_allocations();
    GM_CK_ERR(GM_EINVAL, "gm_gan_set_truncation", gm_gan_set_truncation(NULL, 1.0f));
    gm_gan *gan = identity_gan(9), *ref = identity_gan(9);
    GM_CK_OK(gm_gan_set_truncation(gan, 1.5f));
    GM_CK_OK(gm_gan_set_truncation(ref, 1.5f));
    const float bad[6] = {-1.0f, -0.0001f, 0.05f, 0.0999f, NAN, INFINITY};
    const char *shown[6] = {"-1", "-0.0001", "0.05", "0.0999", "nan", "inf"};
    for (int k = 0; k < 6; k++) {
        GM_CK_ERR(GM_EINVAL, "gm_gan_set_truncation", gm_gan_set_truncation(gan, bad[k]));
        ck_assert_msg(strstr(gm_last_error(), shown[k]) != NULL, "'%s' does not show %s",
                      gm_last_error(), shown[k]);
    }
    GM_CK_OK(gm_gan_set_truncation(gan, GM_TRUNCATION_MIN)); /* the bound itself */
    GM_CK_OK(gm_gan_set_truncation(gan, 1.5f));
    float *a = sample(gan, 32), *b = sample(ref, 32);
    ck_assert(memcmp(a, b, 32 * L * sizeof *a) == 0);
    free(a);
    free(b);
    gm_gan_free(gan);
    gm_gan_free(ref);
    ck_assert_uint_eq(gm_live_allocations(), live);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gan_truncation");
    TCase *tc = tcase_create("gan_truncation");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_rng_truncated_normal);
    tcase_add_test(tc, test_identity_generator);
    tcase_add_test(tc, test_values_are_the_stream_within_threshold);
    tcase_add_test(tc, test_truncated_normal_moments);
    tcase_add_test(tc, test_off_and_not_checkpointed);
    tcase_add_test(tc, test_bad_threshold);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
