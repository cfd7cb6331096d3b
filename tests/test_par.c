/* SPDX-License-Identifier: MIT */
/*
 * engine: the library's own loops across threads (src/engine/par.c).
 * The engine's other tests: test_engine.c, test_engine_layer_state.c,
 * test_train.c, test_fit.c; threads across handles: test_threads.c.
 *
 *  - gm__par_parts splits only long loops, never more than the thread
 *    count, and gm__par_for's ranges tile [0, n) in aligned pieces.
 *  - Adam and the activations give the same bits at 2 threads (split into
 *    parts) as at 1: each element is computed as one thread would.
 * Without OpenMP (GM_WITH_OPENMP=OFF, clang without libomp) the loops stay
 * on one thread; the bit-equality tests then still run, and the split
 * checks skip.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"
#include "engine/par.h"
#include "gm_test.h"

START_TEST(test_parts)
{
    GM_CK_OK(gm_set_num_threads(1));
    ck_assert_int_eq(gm__par_parts((size_t)1 << 22, 1), 1);
    GM_CK_OK(gm_set_num_threads(2));
    ck_assert_int_eq(gm__par_parts(1000, 1), 1);            /* too short */
    ck_assert_int_eq(gm__par_parts((size_t)-1, 2), 1);      /* n * cost overflows */
    ck_assert_int_eq(gm__par_parts((size_t)1 << 22, 0), 1); /* no work */
    ck_assert_int_eq(gm__par_parts((size_t)1 << 22, 1), gm__par_built() ? 2 : 1);
    ck_assert_int_eq(gm__par_parts(64, 4 * GM__PAR_GRAIN), gm__par_built() ? 2 : 1);
    GM_CK_OK(gm_set_num_threads(1));
}
END_TEST

typedef struct {
    size_t lo[GM__PAR_MAX], hi[GM__PAR_MAX];
    int calls[GM__PAR_MAX];
} ranges;

static void record(void *ctx, size_t lo, size_t hi, int part)
{
    ranges *r = ctx;
    r->lo[part] = lo;
    r->hi[part] = hi;
    r->calls[part]++;
}

START_TEST(test_ranges_tile)
{
    const size_t ns[] = {1, 15, 16, 17, 1000, 100003};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (int parts = 1; parts <= 5; parts++) {
            ranges r = {{0}, {0}, {0}};
            gm__par_for(ns[a], 16, parts, record, &r);
            size_t next = 0;
            for (int p = 0; p < parts; p++) {
                ck_assert_int_eq(r.calls[p], 1);
                ck_assert_uint_eq(r.lo[p], next);
                ck_assert_uint_le(r.lo[p], r.hi[p]);
                if (r.hi[p] < ns[a]) ck_assert_uint_eq(r.hi[p] % 16, 0);
                next = r.hi[p];
            }
            ck_assert_uint_eq(next, ns[a]);
        }
}
END_TEST

/* One Adam step on a 600 x 600 dense layer at `threads`: the parameters. */
static void adam_step(int threads, float *out, size_t n)
{
    GM_CK_OK(gm_set_num_threads(threads));
    gm_net *net = NULL;
    gm_layer *d = NULL;
    gm_optimizer *opt = NULL;
    gm_rng *rng = NULL;
    GM_CK_OK(gm_rng_create(&rng, 7));
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&d, 600, 600, GM_INIT_TORCH, rng));
    gm_rng_free(rng);
    GM_CK_OK(gm_net_add(net, d));
    ck_assert_uint_eq(gm_net_param_count(net), n);
    if (threads > 1) ck_assert_int_eq(gm__par_parts(n, 1), gm__par_built() ? threads : 1);
    float *g = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(g);
    for (size_t i = 0; i < n; i++) g[i] = sinf(0.001f * (float)i) * (i % 7 ? 1.0f : 30.0f);
    GM_CK_OK(gm_net_set_grads(net, g, n));
    GM_CK_OK(gm_optimizer_create(&opt, net, NULL));
    for (int s = 0; s < 3; s++) GM_CK_OK(gm_optimizer_step(opt, net));
    GM_CK_OK(gm_net_get_params(net, out, n));
    free(g);
    gm_optimizer_free(opt);
    gm_net_free(net);
    GM_CK_OK(gm_set_num_threads(1));
}

START_TEST(test_adam_bits)
{
    const size_t n = 600 * 600 + 600;
    float *one = malloc(n * sizeof(float)), *two = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(one);
    ck_assert_ptr_nonnull(two);
    adam_step(1, one, n);
    adam_step(2, two, n);
    ck_assert_int_eq(memcmp(one, two, n * sizeof(float)), 0);
    free(one);
    free(two);
}
END_TEST

/* Forward and backward through every activation on a [300 x 997] batch at
 * `threads`: y then dx in out. */
static void activations(int threads, float *out, size_t per)
{
    GM_CK_OK(gm_set_num_threads(threads));
    const size_t N = 300, D = 997;
    gm_net *net = NULL;
    GM_CK_OK(gm_net_create(&net));
    gm_layer *l[6];
    GM_CK_OK(gm_leaky_relu_create(&l[0], 0.2f));
    GM_CK_OK(gm_elu_create(&l[1], 0.7f));
    GM_CK_OK(gm_softplus_create(&l[2]));
    GM_CK_OK(gm_tanh_create(&l[3]));
    GM_CK_OK(gm_relu_create(&l[4]));
    GM_CK_OK(gm_sigmoid_create(&l[5]));
    for (int i = 0; i < 6; i++) GM_CK_OK(gm_net_add(net, l[i]));
    if (threads > 1) ck_assert_int_eq(gm__par_parts(N, D), gm__par_built() ? threads : 1);
    gm_tensor *x = NULL, *y = NULL, *dy = NULL, *dx = NULL;
    GM_CK_OK(gm_tensor_create(&x, 2, (size_t[]){N, D}));
    GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){N, D}));
    GM_CK_OK(gm_tensor_create(&dy, 2, (size_t[]){N, D}));
    GM_CK_OK(gm_tensor_create(&dx, 2, (size_t[]){N, D}));
    for (size_t i = 0; i < per; i++) {
        x->data[i] = 6.0f * sinf(0.37f * (float)i);
        dy->data[i] = cosf(0.11f * (float)i);
    }
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, dy, dx));
    memcpy(out, y->data, per * sizeof(float));
    memcpy(out + per, dx->data, per * sizeof(float));
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(dy);
    gm_tensor_free(dx);
    gm_net_free(net);
    GM_CK_OK(gm_set_num_threads(1));
}

START_TEST(test_activation_bits)
{
    const size_t per = 300 * 997;
    float *one = malloc(2 * per * sizeof(float)), *two = malloc(2 * per * sizeof(float));
    ck_assert_ptr_nonnull(one);
    ck_assert_ptr_nonnull(two);
    activations(1, one, per);
    activations(2, two, per);
    ck_assert_int_eq(memcmp(one, two, 2 * per * sizeof(float)), 0);
    /* and not trivially: the rows of the second part were computed */
    ck_assert(one[per - 1] != 0.0f && one[2 * per - 1] != 0.0f);
    free(one);
    free(two);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("par");
    TCase *tc = tcase_create("par");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_parts);
    tcase_add_test(tc, test_ranges_tile);
    tcase_add_test(tc, test_adam_bits);
    tcase_add_test(tc, test_activation_bits);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
