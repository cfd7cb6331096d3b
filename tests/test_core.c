/* SPDX-License-Identifier: MIT */
/* Core services: errors, version, threads, generator, allocator hook,
 * tensors; steady-state training allocates nothing; failed allocations at
 * every point of create/forward/backward/step give GM_ENOMEM and leak
 * nothing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "gm_test.h"

#include <math.h>
#include <string.h>

#include "core/internal.h"
#include "engine/engine.h"

/* ---- a counting allocator that can fail the k-th call ------------------ */
typedef struct {
    long calls;      /* malloc + realloc calls so far */
    long fail_at;    /* fail the call with this index (0-based), -1 = never */
    long failures;
} counting;

static void *c_malloc(void *u, size_t n)
{
    counting *c = u;
    if (c->calls++ == c->fail_at) {
        c->failures++;
        return NULL;
    }
    return malloc(n);
}
static void *c_realloc(void *u, void *p, size_t n)
{
    counting *c = u;
    if (c->calls++ == c->fail_at) {
        c->failures++;
        return NULL;
    }
    return realloc(p, n);
}
static void c_free(void *u, void *p)
{
    (void)u;
    free(p);
}

static counting counter;
static void install_counter(long fail_at)
{
    counter = (counting){0, fail_at, 0};
    gm_allocator a = {c_malloc, c_realloc, c_free, &counter};
    GM_CK_OK(gm_set_allocator(&a));
}

START_TEST(test_status_strings)
{
    ck_assert_str_eq(gm_status_string(GM_OK), "ok");
    ck_assert_str_eq(gm_status_string(GM_ENOMEM), "out of memory");
    ck_assert_str_eq(gm_status_string((gm_status)12345), "unknown status");
    const gm_status all[] = {GM_EINVAL, GM_ESHAPE, GM_ENOMEM, GM_EIO, GM_EFORMAT,
                             GM_ESTATE, GM_ENUMERIC, GM_EVERSION, GM_EUNSUPPORTED,
                             GM_EINTERNAL};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        ck_assert(strlen(gm_status_string(all[i])) > 0);
}
END_TEST

START_TEST(test_version)
{
    ck_assert_str_eq(gm_version(), GM_VERSION_STRING);
    ck_assert_uint_eq(gm_version_number(), GM_VERSION_NUMBER);
    ck_assert_int_eq(GM_VERSION_MAJOR, 1);
}
END_TEST

START_TEST(test_threads)
{
    GM_CK_OK(gm_set_num_threads(1));
    ck_assert_int_eq(gm_get_num_threads(), 1);
    GM_CK_ERR(GM_EINVAL, "gm_set_num_threads", gm_set_num_threads(0));
    ck_assert_int_eq(gm_get_num_threads(), 1);
}
END_TEST

static void *fail_in_thread(void *arg)
{
    (void)arg;
    gm_layer *l;
    gm_status st = gm_dense_create(&l, 0, 3, GM_INIT_ZEROS, NULL);
    return (void *)(intptr_t)(st == GM_EINVAL &&
                              strstr(gm_last_error(), "in_features") != NULL);
}

START_TEST(test_last_error_is_thread_local)
{
    gm_clear_error();
    ck_assert_str_eq(gm_last_error(), "");
    gm_tensor *t;
    GM_CK_ERR(GM_EINVAL, "gm_tensor_create", gm_tensor_create(&t, 0, (size_t[]){1}));
    ck_assert_ptr_null(t);
    char mine[512];
    snprintf(mine, sizeof mine, "%s", gm_last_error());
    pthread_t th;
    void *ok;
    ck_assert_int_eq(pthread_create(&th, NULL, fail_in_thread, NULL), 0);
    ck_assert_int_eq(pthread_join(th, &ok), 0);
    ck_assert(ok != NULL);
    ck_assert_str_eq(gm_last_error(), mine);
    ck_assert(strstr(mine, "ndim") != NULL && strstr(mine, "got 0") != NULL);
}
END_TEST

START_TEST(test_rng)
{
    gm_rng *a, *b;
    GM_CK_OK(gm_rng_create(&a, 42));
    GM_CK_OK(gm_rng_create(&b, 42));
    enum { N = 200000 };
    float *u = malloc(N * sizeof(float)), *v = malloc(N * sizeof(float));
    GM_CK_OK(gm_rng_uniform(a, u, N));
    GM_CK_OK(gm_rng_uniform(b, v, N));
    ck_assert(memcmp(u, v, N * sizeof(float)) == 0);
    double mean = 0, var = 0;
    for (int i = 0; i < N; i++) {
        ck_assert(u[i] >= 0.0f && u[i] < 1.0f);
        mean += u[i];
    }
    mean /= N;
    for (int i = 0; i < N; i++) var += (u[i] - mean) * (u[i] - mean);
    var /= N;
    ck_assert_msg(fabs(mean - 0.5) < 0.005 && fabs(var - 1.0 / 12) < 0.002,
                  "uniform mean %g var %g", mean, var);
    GM_CK_OK(gm_rng_normal(a, u, N));
    mean = var = 0;
    for (int i = 0; i < N; i++) mean += u[i];
    mean /= N;
    for (int i = 0; i < N; i++) var += (u[i] - mean) * (u[i] - mean);
    var /= N;
    ck_assert_msg(fabs(mean) < 0.01 && fabs(var - 1.0) < 0.01, "normal mean %g var %g",
                  mean, var);
    /* state round trip: continuing from a saved state repeats the stream */
    uint64_t seed, pos;
    GM_CK_OK(gm_rng_get_state(a, &seed, &pos));
    GM_CK_OK(gm_rng_normal(a, u, 1000));
    GM_CK_OK(gm_rng_set_state(b, seed, pos));
    GM_CK_OK(gm_rng_normal(b, v, 1000));
    ck_assert(memcmp(u, v, 1000 * sizeof(float)) == 0);
    /* other seed, other stream */
    GM_CK_OK(gm_rng_seed(b, 43));
    GM_CK_OK(gm_rng_seed(a, 42));
    GM_CK_OK(gm_rng_uniform(a, u, 64));
    GM_CK_OK(gm_rng_uniform(b, v, 64));
    ck_assert(memcmp(u, v, 64 * sizeof(float)) != 0);
    free(u);
    free(v);
    gm_rng_free(a);
    gm_rng_free(b);
}
END_TEST

START_TEST(test_tensor_ownership_and_views)
{
    float buf[6] = {1, 2, 3, 4, 5, 6}, out[6];
    gm_tensor *w, *c;
    GM_CK_OK(gm_tensor_wrap(&w, 2, (size_t[]){2, 3}, buf));
    GM_CK_OK(gm_tensor_from_data(&c, 2, (size_t[]){3, 2}, buf));
    ck_assert_ptr_eq(gm_tensor_data(w), buf);
    ck_assert_ptr_ne(gm_tensor_data(c), buf);
    gm_tensor_data(w)[0] = 10; /* writes through to the caller's memory */
    ck_assert(buf[0] == 10);
    ck_assert(gm_tensor_data(c)[0] == 1);
    ck_assert_uint_eq(gm_tensor_numel(c), 6);
    ck_assert_uint_eq(gm_tensor_dim(c, 0), 3);
    ck_assert_uint_eq(gm_tensor_dim(c, 4), 0);
    GM_CK_OK(gm_tensor_reshape(c, 3, (size_t[]){1, 2, 3}));
    size_t nd, sh[GM_MAX_DIMS];
    GM_CK_OK(gm_tensor_shape(c, &nd, sh));
    ck_assert(nd == 3 && sh[0] == 1 && sh[1] == 2 && sh[2] == 3);
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_reshape", gm_tensor_reshape(c, 1, (size_t[]){5}));
    GM_CK_OK(gm_tensor_shape(c, &nd, sh));
    ck_assert(nd == 3);
    GM_CK_OK(gm_tensor_copy_out(c, out, 6));
    ck_assert(out[5] == 6);
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_out", gm_tensor_copy_out(c, out, 5));
    GM_CK_OK(gm_tensor_fill(c, 0.5f));
    GM_CK_OK(gm_tensor_copy_in(w, gm_tensor_data(c), 6));
    ck_assert(buf[3] == 0.5f);
    gm_tensor *z;
    GM_CK_OK(gm_tensor_create(&z, 4, (size_t[]){2, 1, 2, 2}));
    for (size_t i = 0; i < 8; i++) ck_assert(gm_tensor_data(z)[i] == 0.0f);
    gm_tensor *huge;
    GM_CK_ERR(GM_ENOMEM, "gm_tensor_create",
              gm_tensor_create(&huge, 2, (size_t[]){SIZE_MAX / 2, 3}));
    ck_assert_ptr_null(huge);
    gm_tensor_free(z);
    gm_tensor_free(w);
    gm_tensor_free(c);
    ck_assert(buf[1] == 0.5f); /* the borrowed memory survives the tensor */
}
END_TEST

/* A small model and one training step's worth of objects. */
typedef struct {
    gm_rng *rng;
    gm_net *net;
    gm_optimizer *opt;
    gm_tensor *x, *y, *t, *g, *dx;
} rig;

static gm_status rig_make(rig *r)
{
    memset(r, 0, sizeof *r);
    gm_layer *l;
    gm_status st;
#define TRY(e) \
    if ((st = (e)) != GM_OK) return st
    TRY(gm_rng_create(&r->rng, 1));
    TRY(gm_net_create(&r->net));
    TRY(gm_dense_create(&l, 4, 16, GM_INIT_HE, r->rng));
    if ((st = gm_net_add(r->net, l)) != GM_OK) {
        gm_layer_free(l);
        return st;
    }
    TRY(gm_dropout_create(&l, 0.1f, 7));
    if ((st = gm_net_add(r->net, l)) != GM_OK) {
        gm_layer_free(l);
        return st;
    }
    TRY(gm_relu_create(&l));
    if ((st = gm_net_add(r->net, l)) != GM_OK) {
        gm_layer_free(l);
        return st;
    }
    TRY(gm_dense_create(&l, 16, 2, GM_INIT_XAVIER, r->rng));
    if ((st = gm_net_add(r->net, l)) != GM_OK) {
        gm_layer_free(l);
        return st;
    }
    gm_optimizer_options o;
    TRY(gm_optimizer_options_init(&o, GM_OPT_ADAMW));
    o.clip_norm = 1.0f;
    TRY(gm_optimizer_create(&r->opt, r->net, &o));
    TRY(gm_tensor_create(&r->x, 2, (size_t[]){8, 4}));
    TRY(gm_tensor_create(&r->dx, 2, (size_t[]){8, 4}));
    TRY(gm_tensor_create(&r->y, 2, (size_t[]){8, 2}));
    TRY(gm_tensor_create(&r->t, 2, (size_t[]){8, 2}));
    TRY(gm_tensor_create(&r->g, 2, (size_t[]){8, 2}));
    TRY(gm_rng_normal(r->rng, gm_tensor_data(r->x), 32));
    return GM_OK;
#undef TRY
}

static gm_status rig_step(rig *r, float *loss)
{
    gm_status st;
    if ((st = gm_net_zero_grad(r->net)) != GM_OK) return st;
    if ((st = gm_net_forward(r->net, r->x, r->y)) != GM_OK) return st;
    if ((st = gm_loss_mse(r->y, r->t, GM_REDUCE_BATCH_MEAN, loss, r->g)) != GM_OK) return st;
    if ((st = gm_net_backward(r->net, r->g, r->dx)) != GM_OK) return st;
    return gm_optimizer_step(r->opt, r->net);
}

static void rig_free(rig *r)
{
    gm_optimizer_free(r->opt);
    gm_net_free(r->net);
    gm_rng_free(r->rng);
    gm_tensor_free(r->x);
    gm_tensor_free(r->y);
    gm_tensor_free(r->t);
    gm_tensor_free(r->g);
    gm_tensor_free(r->dx);
}

START_TEST(test_steady_state_allocates_nothing)
{
    ck_assert_uint_eq(gm_live_allocations(), 0);
    install_counter(-1);
    rig r;
    GM_CK_OK(rig_make(&r));
    float loss;
    GM_CK_OK(rig_step(&r, &loss)); /* sizes the workspace */
    long before = counter.calls;
    size_t live = gm_live_allocations();
    for (int i = 0; i < 20; i++) GM_CK_OK(rig_step(&r, &loss));
    ck_assert_int_eq(counter.calls, before);
    ck_assert_uint_eq(gm_live_allocations(), live);
    /* the allocator cannot change under live objects */
    GM_CK_ERR(GM_ESTATE, "gm_set_allocator", gm_set_allocator(NULL));
    rig_free(&r);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
}
END_TEST

/* Fail allocation k for k = 0, 1, ... through building the rig and
 * training two steps: every failure is GM_ENOMEM with a message, nothing
 * leaks, and after the failure the objects that exist still work. */
START_TEST(test_every_allocation_failure_is_clean)
{
    long k;
    for (k = 0; k < 1000; k++) {
        install_counter(k);
        rig r;
        float loss;
        gm_status st = rig_make(&r);
        if (st == GM_OK) st = rig_step(&r, &loss);
        if (st == GM_OK) st = rig_step(&r, &loss);
        if (counter.failures == 0) {
            GM_CK_OK(st);
            rig_free(&r);
            GM_CK_OK(gm_set_allocator(NULL));
            break;
        }
        ck_assert_msg(st == GM_ENOMEM, "k=%ld: %s (%s)", k, gm_status_string(st),
                      gm_last_error());
        ck_assert(strlen(gm_last_error()) > 0);
        if (r.net && r.opt && r.y && r.dx && r.g && r.t) {
            /* allocation works again: the same objects train on */
            counter.fail_at = -1;
            GM_CK_OK(rig_step(&r, &loss));
            ck_assert(isfinite(loss));
        }
        rig_free(&r);
        ck_assert_msg(gm_live_allocations() == 0, "k=%ld leaks %zu blocks", k,
                      gm_live_allocations());
        GM_CK_OK(gm_set_allocator(NULL));
    }
    ck_assert_msg(k > 10 && k < 1000, "fault points exercised: %ld", k);
}
END_TEST

/* The shared helpers of core/internal.h and engine.h: error re-prefixing
 * and the finiteness checks name the function, the value and its place. */
START_TEST(test_shared_helpers)
{
    gm__set_error(GM_EINVAL, "gm_inner", "x is %d", 3);
    ck_assert_int_eq(gm__pass_error(GM_OK, "gm_outer"), GM_OK);
    ck_assert_str_eq(gm_last_error(), "gm_inner: x is 3");
    ck_assert_int_eq(gm__pass_error(GM_EINVAL, "gm_outer"), GM_EINVAL);
    ck_assert_str_eq(gm_last_error(), "gm_outer: gm_inner: x is 3");
    /* own_error: already named -> unchanged; a prefix of another name is not a name */
    ck_assert_int_eq(gm__own_error(GM_ESHAPE, "gm_outer"), GM_ESHAPE);
    ck_assert_str_eq(gm_last_error(), "gm_outer: gm_inner: x is 3");
    ck_assert_int_eq(gm__own_error(GM_ESHAPE, "gm_out"), GM_ESHAPE);
    ck_assert_str_eq(gm_last_error(), "gm_out: gm_outer: gm_inner: x is 3");

    float v[6] = {1, 2, 3, 4, 5, 6};
    ck_assert_int_eq(gm__check_all_finite("gm_f", "v", v, 6), GM_OK);
    v[4] = INFINITY;
    ck_assert_int_eq(gm__check_all_finite("gm_f", "v", v, 4), GM_OK);
    ck_assert_int_eq(gm__check_all_finite("gm_f", "v", v, 6), GM_EINVAL);
    ck_assert_str_eq(gm_last_error(), "gm_f: v[4] is not finite (inf)");
    gm_tensor t;
    gm__tensor_view(&t, 2, (size_t[]){3, 2}, v);
    ck_assert_uint_eq(gm__tensor_rows(&t), 3);
    ck_assert_uint_eq(gm__tensor_width(&t), 2);
    ck_assert_int_eq(gm__check_finite_rows("gm_g", "set", &t), GM_EINVAL);
    ck_assert_str_eq(gm_last_error(), "gm_g: set row 2, element 0 is not finite (inf)");
    v[4] = 5;
    ck_assert_int_eq(gm__check_finite_rows("gm_g", "set", &t), GM_OK);
}
END_TEST

START_TEST(test_allocator_validation)
{
    gm_allocator bad = {c_malloc, NULL, c_free, NULL};
    GM_CK_ERR(GM_EINVAL, "gm_set_allocator", gm_set_allocator(&bad));
    GM_CK_OK(gm_set_allocator(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("core");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_status_strings);
    tcase_add_test(tc, test_version);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_last_error_is_thread_local);
    tcase_add_test(tc, test_rng);
    tcase_add_test(tc, test_tensor_ownership_and_views);
    tcase_add_test(tc, test_steady_state_allocates_nothing);
    tcase_add_test(tc, test_every_allocation_failure_is_clean);
    tcase_add_test(tc, test_allocator_validation);
    tcase_add_test(tc, test_shared_helpers);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
