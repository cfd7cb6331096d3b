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
/*
 * Bad-input suite (issue 3): every public function called with NULL
 * handles, NULL pointers, zero/negative/overflowing sizes, mismatched
 * shapes, non-finite and out-of-range hyperparameters, and hostile files.
 * Each failing call must return the status its header documents, leave a
 * message in gm_last_error() naming the function (GM_CK_ERR), set
 * constructor out-pointers to NULL, and leave every object it was given
 * unchanged (compared bytewise before/after). Every test also checks that
 * nothing leaks (gm_live_allocations back to its start value) and that no
 * allocation is ever requested above a cap (no huge allocations).
 *
 * Checklist of the foundation's API, all covered here. The functions added
 * since have their bad-input tests in their own suites: conv, batchnorm and
 * spectral norm in test_gradcheck, the ELBO module and gm_vae in test_vae,
 * the adversarial losses in test_gan_loss, gm_gan in test_gan (its penalty
 * options in test_penalty_bad_options), the fit
 * loops in test_fit, PNG grids in test_png.
 *  core.h    [x] gm_status_string      [x] gm_last_error
 *            [x] gm_clear_error        [x] gm_version
 *            [x] gm_version_number     [x] gm_set_num_threads
 *            [x] gm_get_num_threads    [x] gm_set_allocator
 *            [x] gm_live_allocations   [x] gm_rng_create
 *            [x] gm_rng_free           [x] gm_rng_seed
 *            [x] gm_rng_uniform        [x] gm_rng_normal
 *            [x] gm_rng_get_state      [x] gm_rng_set_state
 *  tensor.h  [x] gm_tensor_create      [x] gm_tensor_from_data
 *            [x] gm_tensor_wrap        [x] gm_tensor_free
 *            [x] gm_tensor_ndim        [x] gm_tensor_dim
 *            [x] gm_tensor_numel       [x] gm_tensor_shape
 *            [x] gm_tensor_data        [x] gm_tensor_data_const
 *            [x] gm_tensor_copy_out    [x] gm_tensor_copy_in
 *            [x] gm_tensor_fill        [x] gm_tensor_reshape
 *  layer.h   [x] gm_dense_create       [x] gm_relu_create
 *            [x] gm_leaky_relu_create  [x] gm_sigmoid_create
 *            [x] gm_tanh_create        [x] gm_softplus_create
 *            [x] gm_elu_create         [x] gm_dropout_create
 *            [x] gm_reshape_create     [x] gm_flatten_create
 *            [x] gm_layer_free         [x] gm_layer_get_kind
 *            [x] gm_layer_name         [x] gm_layer_param_count
 *            [x] gm_layer_get_params   [x] gm_layer_set_params
 *            [x] gm_layer_get_grads
 *  net.h     [x] gm_net_create         [x] gm_net_free
 *            [x] gm_net_add            [x] gm_net_num_layers
 *            [x] gm_net_layer          [x] gm_net_output_shape
 *            [x] gm_net_forward        [x] gm_net_backward
 *            [x] gm_net_zero_grad      [x] gm_net_set_training
 *            [x] gm_net_is_training    [x] gm_net_set_trainable
 *            [x] gm_net_param_count    [x] gm_net_get_params
 *            [x] gm_net_set_params     [x] gm_net_get_grads
 *            [x] gm_net_set_grads      [x] gm_net_grad_norm
 *            [x] gm_net_clip_grad_norm
 *  loss.h    [x] gm_loss_mse           [x] gm_loss_bce_logits
 *            [x] gm_loss_softmax_xent
 *  optim.h   [x] gm_optimizer_options_init  [x] gm_optimizer_create
 *            [x] gm_optimizer_free     [x] gm_optimizer_step
 *            [x] gm_optimizer_set_lr   [x] gm_optimizer_get_lr
 *            [x] gm_optimizer_step_count    [x] gm_optimizer_reset
 *  io.h      [x] gm_idx_load_images    [x] gm_idx_load_labels
 *  (functions without a status return are checked for their documented
 *   NULL/out-of-range result instead.)
 */
#define _XOPEN_SOURCE 700

#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "gm_test.h"

/* ------------------------------------------------------------------ */
/* helpers                                                              */
/* ------------------------------------------------------------------ */

/* A non-NULL garbage value to put in out-pointers before a failing
 * constructor, which must overwrite it with NULL. */
static char g_sentinel;
#define SENTINEL ((void *)&g_sentinel)

/* Constructor fails with `code`, names `fn`, and sets *out to NULL. */
#define CK_ERR_OUT(code, fn, outvar, expr)                                  \
    do {                                                                    \
        (outvar) = SENTINEL;                                                \
        GM_CK_ERR(code, fn, expr);                                          \
        ck_assert_msg((outvar) == NULL, "%s: out-pointer not set to NULL",  \
                      #expr);                                               \
    } while (0)

/* Fails with one of two codes (where the brief allows either). */
#define CK_ERR2(c1, c2, fn, expr)                                           \
    do {                                                                    \
        gm_clear_error();                                                   \
        gm_status st2_ = (expr);                                            \
        ck_assert_msg(st2_ == (c1) || st2_ == (c2),                         \
                      "%s -> %s, expected %s or %s (%s)", #expr,           \
                      gm_status_string(st2_), gm_status_string(c1),         \
                      gm_status_string(c2), gm_last_error());               \
        ck_assert_msg(strstr(gm_last_error(), (fn)) != NULL,                \
                      "%s: message does not name %s: '%s'", #expr, (fn),   \
                      gm_last_error());                                     \
    } while (0)

/* A size overflow: core.h defines GM_ENOMEM as "an allocation failed or a
 * size would overflow", so it is accepted besides the codes a function
 * documents for a bad shape; GM_OK (a wrapped product) is the bug. */
#define CK_ERR_OVF(c1, c2, fn, expr)                                        \
    do {                                                                    \
        gm_clear_error();                                                   \
        gm_status st3_ = (expr);                                            \
        ck_assert_msg(st3_ == (c1) || st3_ == (c2) || st3_ == GM_ENOMEM,    \
                      "%s -> %s, expected %s, %s or out of memory (%s)",   \
                      #expr, gm_status_string(st3_), gm_status_string(c1), \
                      gm_status_string(c2), gm_last_error());               \
        ck_assert_msg(strstr(gm_last_error(), (fn)) != NULL,                \
                      "%s: message does not name %s: '%s'", #expr, (fn),   \
                      gm_last_error());                                     \
    } while (0)

#define CK_ERR2_OUT(c1, c2, fn, outvar, expr)                               \
    do {                                                                    \
        (outvar) = SENTINEL;                                                \
        CK_ERR2(c1, c2, fn, expr);                                          \
        ck_assert_msg((outvar) == NULL, "%s: out-pointer not set to NULL",  \
                      #expr);                                               \
    } while (0)

/* Tracking allocator installed around every test: counts live blocks,
 * records the largest request, refuses requests above a cap (so a
 * missing bounds check shows up as a refused request, never as a real
 * multi-GiB allocation) and can be told to fail everything. */
static struct {
    size_t live, calls, max_req, cap;
    int fail;
} g_ta;

static void *ta_malloc(void *user, size_t n)
{
    (void)user;
    g_ta.calls++;
    if (n > g_ta.max_req) g_ta.max_req = n;
    if (g_ta.fail || n > g_ta.cap) return NULL;
    void *p = malloc(n ? n : 1);
    if (p) g_ta.live++;
    return p;
}

static void *ta_realloc(void *user, void *ptr, size_t n)
{
    if (!ptr) return ta_malloc(user, n);
    g_ta.calls++;
    if (n > g_ta.max_req) g_ta.max_req = n;
    if (g_ta.fail || n > g_ta.cap) return NULL;
    return realloc(ptr, n ? n : 1);
}

static void ta_free(void *user, void *ptr)
{
    (void)user;
    ck_assert_msg(ptr != NULL, "free_fn called with NULL");
    g_ta.live--;
    free(ptr);
}

static const gm_allocator g_tracking = {ta_malloc, ta_realloc, ta_free, NULL};
#define ALLOC_CAP ((size_t)1 << 30) /* 1 GiB */
static size_t g_live_base;

static void setup(void)
{
    memset(&g_ta, 0, sizeof g_ta);
    g_ta.cap = ALLOC_CAP;
    gm_set_allocator(&g_tracking);
    g_live_base = gm_live_allocations();
}

static void teardown(void)
{
    ck_assert_msg(gm_live_allocations() == g_live_base,
                  "leak: %zu live blocks, expected %zu",
                  gm_live_allocations(), g_live_base);
    ck_assert_msg(g_ta.max_req <= ALLOC_CAP,
                  "an allocation of %zu bytes was requested", g_ta.max_req);
    gm_set_allocator(NULL);
}

/* Snapshot of a tensor: shape and contents. */
typedef struct {
    size_t ndim, shape[GM_MAX_DIMS], n;
    float *data;
} tsnap;

static void tsnap_take(tsnap *s, const gm_tensor *t)
{
    memset(s, 0, sizeof *s);
    GM_CK_OK(gm_tensor_shape(t, &s->ndim, s->shape));
    s->n = gm_tensor_numel(t);
    s->data = malloc(s->n * sizeof(float));
    ck_assert_ptr_nonnull(s->data);
    memcpy(s->data, gm_tensor_data_const(t), s->n * sizeof(float));
}

static void tsnap_check(tsnap *s, const gm_tensor *t, const char *what)
{
    size_t ndim = 0, shape[GM_MAX_DIMS] = {0};
    GM_CK_OK(gm_tensor_shape(t, &ndim, shape));
    ck_assert_msg(ndim == s->ndim && memcmp(shape, s->shape,
                                            ndim * sizeof(size_t)) == 0,
                  "%s: tensor shape changed", what);
    ck_assert_msg(gm_tensor_numel(t) == s->n, "%s: numel changed", what);
    ck_assert_msg(memcmp(gm_tensor_data_const(t), s->data,
                         s->n * sizeof(float)) == 0,
                  "%s: tensor contents changed", what);
}

static void tsnap_free(tsnap *s) { free(s->data); s->data = NULL; }

/* Snapshot of a net: structure, mode, parameters and gradients. */
typedef struct {
    size_t nl, np;
    int training;
    float *p, *g;
} nsnap;

static void nsnap_take(nsnap *s, const gm_net *net)
{
    s->nl = gm_net_num_layers(net);
    s->np = gm_net_param_count(net);
    s->training = gm_net_is_training(net);
    s->p = malloc((s->np + 1) * sizeof(float));
    s->g = malloc((s->np + 1) * sizeof(float));
    ck_assert(s->p && s->g);
    GM_CK_OK(gm_net_get_params(net, s->p, s->np));
    GM_CK_OK(gm_net_get_grads(net, s->g, s->np));
}

static void nsnap_check(nsnap *s, const gm_net *net, const char *what)
{
    ck_assert_msg(gm_net_num_layers(net) == s->nl, "%s: layer count changed",
                  what);
    ck_assert_msg(gm_net_param_count(net) == s->np,
                  "%s: param count changed", what);
    ck_assert_msg(gm_net_is_training(net) == s->training,
                  "%s: mode changed", what);
    float *p = malloc((s->np + 1) * sizeof(float));
    float *g = malloc((s->np + 1) * sizeof(float));
    ck_assert(p && g);
    GM_CK_OK(gm_net_get_params(net, p, s->np));
    GM_CK_OK(gm_net_get_grads(net, g, s->np));
    ck_assert_msg(memcmp(p, s->p, s->np * sizeof(float)) == 0,
                  "%s: parameters changed", what);
    ck_assert_msg(memcmp(g, s->g, s->np * sizeof(float)) == 0,
                  "%s: gradients changed", what);
    free(p);
    free(g);
}

static void nsnap_free(nsnap *s) { free(s->p); free(s->g); s->p = s->g = NULL; }

static gm_tensor *mk(size_t ndim, size_t d0, size_t d1, size_t d2, size_t d3)
{
    size_t shape[4] = {d0, d1, d2, d3};
    gm_tensor *t = NULL;
    GM_CK_OK(gm_tensor_create(&t, ndim, shape));
    return t;
}

static gm_tensor *mk2(size_t a, size_t b) { return mk(2, a, b, 0, 0); }

static void fill_normal(gm_tensor *t, uint64_t seed)
{
    gm_rng *r = NULL;
    GM_CK_OK(gm_rng_create(&r, seed));
    GM_CK_OK(gm_rng_normal(r, gm_tensor_data(t), gm_tensor_numel(t)));
    gm_rng_free(r);
}

/* dense(4,3) -> tanh -> dense(3,2): 23 parameters. */
#define MLP_PARAMS 23
static gm_net *make_mlp(uint64_t seed)
{
    gm_rng *r = NULL;
    gm_net *net = NULL;
    gm_layer *l = NULL;
    GM_CK_OK(gm_rng_create(&r, seed));
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&l, 4, 3, GM_INIT_XAVIER, r));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_tanh_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_dense_create(&l, 3, 2, GM_INIT_XAVIER, r));
    GM_CK_OK(gm_net_add(net, l));
    gm_rng_free(r);
    ck_assert_uint_eq(gm_net_param_count(net), MLP_PARAMS);
    return net;
}

/* A single dense(4,3) layer. */
static gm_net *make_dense_net(uint64_t seed)
{
    gm_rng *r = NULL;
    gm_net *net = NULL;
    gm_layer *l = NULL;
    GM_CK_OK(gm_rng_create(&r, seed));
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&l, 4, 3, GM_INIT_TORCH, r));
    GM_CK_OK(gm_net_add(net, l));
    gm_rng_free(r);
    return net;
}

/* Forward x = 1e20 and backward dy = 1e20 through a dense(4,3) net: the
 * weight gradient dy^T x overflows to +inf (finite inputs throughout). */
static void make_inf_grads(gm_net *net)
{
    gm_tensor *x = mk2(2, 4), *y = mk2(2, 3), *dy = mk2(2, 3);
    GM_CK_OK(gm_tensor_fill(x, 1e20f));
    GM_CK_OK(gm_tensor_fill(dy, 1e20f));
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    float norm = 0;
    GM_CK_OK(gm_net_grad_norm(net, &norm));
    ck_assert_msg(!isfinite(norm), "setup: gradient norm is finite (%g)",
                  (double)norm);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(dy);
}

static const float NaN_ = NAN;
static const float Inf_ = INFINITY;

/* ------------------------------------------------------------------ */
/* core.h                                                               */
/* ------------------------------------------------------------------ */

START_TEST(test_status_and_errors)
{
    static const int codes[] = {GM_OK,     GM_EINVAL,  GM_ESHAPE,
                                GM_ENOMEM, GM_EIO,     GM_EFORMAT,
                                GM_ESTATE, GM_ENUMERIC, GM_EVERSION,
                                GM_EUNSUPPORTED, GM_EINTERNAL};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *s = gm_status_string((gm_status)codes[i]);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(s[0] != '\0', "empty string for status %d", codes[i]);
    }
    static const int unknown[] = {1, 7, -10, -99, -101, 12345, INT_MAX,
                                  INT_MIN};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++)
        ck_assert_ptr_nonnull(gm_status_string((gm_status)unknown[i]));

    /* last error: never NULL; cleared to ""; set by a failing call; not
     * cleared by a successful call. */
    ck_assert_ptr_nonnull(gm_last_error());
    gm_clear_error();
    ck_assert_ptr_nonnull(gm_last_error());
    ck_assert_str_eq(gm_last_error(), "");
    GM_CK_ERR(GM_EINVAL, "gm_set_num_threads", gm_set_num_threads(0));
    ck_assert_msg(gm_last_error()[0] != '\0', "no message");
    GM_CK_OK(gm_set_num_threads(1));
    ck_assert_msg(strstr(gm_last_error(), "gm_set_num_threads") != NULL,
                  "a successful call cleared the last error: '%s'",
                  gm_last_error());
    gm_clear_error();
    ck_assert_str_eq(gm_last_error(), "");

    ck_assert_ptr_nonnull(gm_version());
    ck_assert_str_eq(gm_version(), GM_VERSION_STRING);
    ck_assert_uint_eq(gm_version_number(), GM_VERSION_NUMBER);
}
END_TEST

START_TEST(test_threads)
{
    GM_CK_OK(gm_set_num_threads(1));
    int before = gm_get_num_threads();
    ck_assert_int_ge(before, 1);
    GM_CK_ERR(GM_EINVAL, "gm_set_num_threads", gm_set_num_threads(0));
    GM_CK_ERR(GM_EINVAL, "gm_set_num_threads", gm_set_num_threads(-1));
    GM_CK_ERR(GM_EINVAL, "gm_set_num_threads", gm_set_num_threads(1025));
    GM_CK_ERR(GM_EINVAL, "gm_set_num_threads", gm_set_num_threads(INT_MIN));
    GM_CK_ERR(GM_EINVAL, "gm_set_num_threads", gm_set_num_threads(INT_MAX));
    ck_assert_int_eq(gm_get_num_threads(), before);
}
END_TEST

static size_t g_other_calls;
static void *oa_malloc(void *u, size_t n) { (void)u; g_other_calls++; return malloc(n ? n : 1); }
static void *oa_realloc(void *u, void *p, size_t n) { (void)u; g_other_calls++; return realloc(p, n ? n : 1); }
static void oa_free(void *u, void *p) { (void)u; free(p); }

START_TEST(test_allocator)
{
    gm_allocator other = {oa_malloc, oa_realloc, oa_free, NULL};
    gm_allocator bad;
    g_other_calls = 0;

    /* a NULL function pointer: GM_EINVAL, allocator unchanged */
    ck_assert_uint_eq(gm_live_allocations(), 0);
    bad = other; bad.malloc_fn = NULL;
    GM_CK_ERR(GM_EINVAL, "gm_set_allocator", gm_set_allocator(&bad));
    bad = other; bad.realloc_fn = NULL;
    GM_CK_ERR(GM_EINVAL, "gm_set_allocator", gm_set_allocator(&bad));
    bad = other; bad.free_fn = NULL;
    GM_CK_ERR(GM_EINVAL, "gm_set_allocator", gm_set_allocator(&bad));

    size_t calls = g_ta.calls;
    gm_rng *r = NULL;
    GM_CK_OK(gm_rng_create(&r, 1));
    ck_assert_msg(g_ta.calls > calls, "tracking allocator no longer used");
    ck_assert_uint_ge(gm_live_allocations(), 1);

    /* objects alive: GM_ESTATE, allocator unchanged */
    GM_CK_ERR(GM_ESTATE, "gm_set_allocator", gm_set_allocator(&other));
    GM_CK_ERR(GM_ESTATE, "gm_set_allocator", gm_set_allocator(NULL));
    calls = g_ta.calls;
    gm_tensor *t = mk2(2, 2);
    ck_assert_msg(g_ta.calls > calls, "allocator changed despite GM_ESTATE");
    ck_assert_uint_eq(g_other_calls, 0);
    gm_tensor_free(t);
    gm_rng_free(r);

    /* nothing alive: the change is accepted (positive control) */
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(&other));
    GM_CK_OK(gm_rng_create(&r, 1));
    ck_assert_uint_gt(g_other_calls, 0);
    gm_rng_free(r);
    GM_CK_OK(gm_set_allocator(&g_tracking));
}
END_TEST

START_TEST(test_oom_constructors)
{
    gm_tensor *t;
    gm_layer *l;
    gm_net *n;
    gm_rng *r;
    gm_optimizer *o;
    gm_net *net = make_dense_net(1);
    size_t shape[2] = {2, 3};
    size_t live = gm_live_allocations();
    g_ta.fail = 1;
    CK_ERR_OUT(GM_ENOMEM, "gm_rng_create", r, gm_rng_create(&r, 1));
    CK_ERR_OUT(GM_ENOMEM, "gm_tensor_create", t, gm_tensor_create(&t, 2, shape));
    CK_ERR_OUT(GM_ENOMEM, "gm_dense_create", l,
               gm_dense_create(&l, 4, 3, GM_INIT_ZEROS, NULL));
    CK_ERR_OUT(GM_ENOMEM, "gm_relu_create", l, gm_relu_create(&l));
    CK_ERR_OUT(GM_ENOMEM, "gm_net_create", n, gm_net_create(&n));
    CK_ERR_OUT(GM_ENOMEM, "gm_optimizer_create", o,
               gm_optimizer_create(&o, net, NULL));
    g_ta.fail = 0;
    ck_assert_uint_eq(gm_live_allocations(), live);
    gm_net_free(net);
}
END_TEST

START_TEST(test_rng)
{
    gm_rng *r = NULL;
    float buf[4] = {1, 2, 3, 4}, orig[4] = {1, 2, 3, 4};
    uint64_t seed = 0, pos = 0, seed2 = 0, pos2 = 0;

    GM_CK_ERR(GM_EINVAL, "gm_rng_create", gm_rng_create(NULL, 1));
    gm_rng_free(NULL);
    GM_CK_OK(gm_rng_create(&r, 42));
    GM_CK_OK(gm_rng_uniform(r, buf, 4)); /* advance */
    memcpy(orig, buf, sizeof buf);
    GM_CK_OK(gm_rng_get_state(r, &seed, &pos));

    GM_CK_ERR(GM_EINVAL, "gm_rng_seed", gm_rng_seed(NULL, 1));
    GM_CK_ERR(GM_EINVAL, "gm_rng_uniform", gm_rng_uniform(NULL, buf, 4));
    GM_CK_ERR(GM_EINVAL, "gm_rng_uniform", gm_rng_uniform(r, NULL, 4));
    GM_CK_ERR(GM_EINVAL, "gm_rng_normal", gm_rng_normal(NULL, buf, 4));
    GM_CK_ERR(GM_EINVAL, "gm_rng_normal", gm_rng_normal(r, NULL, 4));
    GM_CK_ERR(GM_EINVAL, "gm_rng_get_state", gm_rng_get_state(NULL, &seed2, &pos2));
    GM_CK_ERR(GM_EINVAL, "gm_rng_get_state", gm_rng_get_state(r, NULL, &pos2));
    GM_CK_ERR(GM_EINVAL, "gm_rng_get_state", gm_rng_get_state(r, &seed2, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_rng_set_state", gm_rng_set_state(NULL, 1, 2));
    ck_assert_msg(memcmp(buf, orig, sizeof buf) == 0, "buffer written");

    /* the generator did not move */
    GM_CK_OK(gm_rng_get_state(r, &seed2, &pos2));
    ck_assert_uint_eq(seed2, seed);
    ck_assert_uint_eq(pos2, pos);
    gm_rng_free(r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* tensor.h                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_tensor_create)
{
    gm_tensor *t;
    float data[8] = {0};
    const size_t ok[2] = {2, 3};
    const size_t five[5] = {1, 1, 1, 1, 1};
    const size_t zero0[2] = {0, 3}, zero1[2] = {2, 0};
    const size_t zero3[4] = {1, 2, 3, 0};
    const size_t neg[2] = {(size_t)-1, 2};        /* -1 as size_t */
    const size_t wrap6[2] = {((size_t)1 << (sizeof(size_t) * 8 - 1)) + 3, 2};
    const size_t bytes_ovf[1] = {SIZE_MAX / 4 + 1}; /* count*4 wraps to 0 */
    const size_t all_max[4] = {SIZE_MAX, SIZE_MAX, SIZE_MAX, SIZE_MAX};
    const size_t huge[3] = {(size_t)1 << 20, (size_t)1 << 20, (size_t)1 << 10};

    GM_CK_ERR(GM_EINVAL, "gm_tensor_create", gm_tensor_create(NULL, 2, ok));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_create", t, gm_tensor_create(&t, 0, ok));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_create", t, gm_tensor_create(&t, 5, five));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_create", t,
               gm_tensor_create(&t, (size_t)-1, five));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_create", t, gm_tensor_create(&t, 2, NULL));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_create", t, gm_tensor_create(&t, 2, zero0));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_create", t, gm_tensor_create(&t, 2, zero1));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_create", t, gm_tensor_create(&t, 4, zero3));
    /* overflowing / absurd sizes: GM_ENOMEM (header) or GM_EINVAL */
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_create", t,
                gm_tensor_create(&t, 2, neg));
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_create", t,
                gm_tensor_create(&t, 2, wrap6));
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_create", t,
                gm_tensor_create(&t, 1, bytes_ovf));
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_create", t,
                gm_tensor_create(&t, 4, all_max));
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_create", t,
                gm_tensor_create(&t, 3, huge));
    g_ta.max_req = 0; /* that 4 PiB request was refused by the test
                         allocator: valid shape, so the attempt is allowed */

    GM_CK_ERR(GM_EINVAL, "gm_tensor_from_data",
              gm_tensor_from_data(NULL, 2, ok, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_from_data", t,
               gm_tensor_from_data(&t, 2, ok, NULL));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_from_data", t,
               gm_tensor_from_data(&t, 0, ok, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_from_data", t,
               gm_tensor_from_data(&t, 5, five, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_from_data", t,
               gm_tensor_from_data(&t, 2, NULL, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_from_data", t,
               gm_tensor_from_data(&t, 2, zero1, data));
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_from_data", t,
                gm_tensor_from_data(&t, 2, wrap6, data));

    GM_CK_ERR(GM_EINVAL, "gm_tensor_wrap", gm_tensor_wrap(NULL, 2, ok, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_wrap", t, gm_tensor_wrap(&t, 2, ok, NULL));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_wrap", t, gm_tensor_wrap(&t, 0, ok, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_wrap", t, gm_tensor_wrap(&t, 5, five, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_wrap", t, gm_tensor_wrap(&t, 2, NULL, data));
    CK_ERR_OUT(GM_EINVAL, "gm_tensor_wrap", t, gm_tensor_wrap(&t, 2, zero0, data));
    /* a wrapped view whose element count wraps around must be refused */
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_wrap", t,
                gm_tensor_wrap(&t, 2, wrap6, data));
    CK_ERR2_OUT(GM_ENOMEM, GM_EINVAL, "gm_tensor_wrap", t,
                gm_tensor_wrap(&t, 4, all_max, data));

    /* positive control, and gm_tensor_free(NULL) */
    GM_CK_OK(gm_tensor_create(&t, 2, ok));
    gm_tensor_free(t);
    gm_tensor_free(NULL);
}
END_TEST

START_TEST(test_tensor_ops)
{
    float src[6] = {1, 2, 3, 4, 5, 6};
    float dst[8], dst0[8];
    const size_t s23[2] = {2, 3}, s6[1] = {6}, s7[1] = {7}, s32[2] = {3, 2};
    const size_t s0[2] = {0, 6}, five[5] = {1, 1, 1, 1, 6};
    const size_t wrap6[2] = {((size_t)1 << (sizeof(size_t) * 8 - 1)) + 3, 2};
    gm_tensor *t = NULL, *w = NULL;
    tsnap s;
    size_t ndim = 99, shape[GM_MAX_DIMS] = {0};

    GM_CK_OK(gm_tensor_from_data(&t, 2, s23, src));

    /* accessors on NULL / out of range */
    ck_assert_uint_eq(gm_tensor_ndim(NULL), 0);
    ck_assert_uint_eq(gm_tensor_dim(NULL, 0), 0);
    ck_assert_uint_eq(gm_tensor_dim(t, 2), 0);
    ck_assert_uint_eq(gm_tensor_dim(t, 4), 0);
    ck_assert_uint_eq(gm_tensor_dim(t, SIZE_MAX), 0);
    ck_assert_uint_eq(gm_tensor_numel(NULL), 0);
    ck_assert_ptr_null(gm_tensor_data(NULL));
    ck_assert_ptr_null(gm_tensor_data_const(NULL));
    ck_assert_uint_eq(gm_tensor_ndim(t), 2);
    ck_assert_uint_eq(gm_tensor_dim(t, 1), 3);

    tsnap_take(&s, t);
    GM_CK_ERR(GM_EINVAL, "gm_tensor_shape", gm_tensor_shape(NULL, &ndim, shape));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_shape", gm_tensor_shape(t, NULL, shape));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_shape", gm_tensor_shape(t, &ndim, NULL));

    for (int i = 0; i < 8; i++) dst[i] = dst0[i] = -7.0f - (float)i;
    GM_CK_ERR(GM_EINVAL, "gm_tensor_copy_out", gm_tensor_copy_out(NULL, dst, 6));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_copy_out", gm_tensor_copy_out(t, NULL, 6));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_out", gm_tensor_copy_out(t, dst, 5));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_out", gm_tensor_copy_out(t, dst, 7));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_out", gm_tensor_copy_out(t, dst, 0));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_out",
              gm_tensor_copy_out(t, dst, SIZE_MAX));
    ck_assert_msg(memcmp(dst, dst0, sizeof dst) == 0, "copy_out wrote on error");

    GM_CK_ERR(GM_EINVAL, "gm_tensor_copy_in", gm_tensor_copy_in(NULL, dst, 6));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_copy_in", gm_tensor_copy_in(t, NULL, 6));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_in", gm_tensor_copy_in(t, dst, 5));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_in", gm_tensor_copy_in(t, dst, 8));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_in", gm_tensor_copy_in(t, dst, 0));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_fill", gm_tensor_fill(NULL, 1.0f));

    GM_CK_ERR(GM_EINVAL, "gm_tensor_reshape", gm_tensor_reshape(NULL, 1, s6));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_reshape", gm_tensor_reshape(t, 0, s6));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_reshape", gm_tensor_reshape(t, 5, five));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_reshape", gm_tensor_reshape(t, 1, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_tensor_reshape", gm_tensor_reshape(t, 2, s0));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_reshape", gm_tensor_reshape(t, 1, s7));
    /* product wraps to 6 mod 2^64: must not be accepted */
    CK_ERR_OVF(GM_EINVAL, GM_ESHAPE, "gm_tensor_reshape",
               gm_tensor_reshape(t, 2, wrap6));
    tsnap_check(&s, t, "tensor after failed calls");
    GM_CK_OK(gm_tensor_reshape(t, 2, s32)); /* positive control */
    tsnap_free(&s);

    /* a wrapped tensor: the borrowed memory is not touched by failures */
    float mem[6] = {9, 8, 7, 6, 5, 4}, mem0[6];
    memcpy(mem0, mem, sizeof mem);
    GM_CK_OK(gm_tensor_wrap(&w, 1, s6, mem));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_copy_in", gm_tensor_copy_in(w, src, 5));
    GM_CK_ERR(GM_ESHAPE, "gm_tensor_reshape", gm_tensor_reshape(w, 1, s7));
    ck_assert_msg(memcmp(mem, mem0, sizeof mem) == 0, "borrowed memory changed");
    ck_assert_uint_eq(gm_tensor_ndim(w), 1);
    ck_assert_uint_eq(gm_tensor_dim(w, 0), 6);
    gm_tensor_free(w);
    ck_assert_msg(memcmp(mem, mem0, sizeof mem) == 0, "borrowed memory changed");
    gm_tensor_free(t);
}
END_TEST

/* ------------------------------------------------------------------ */
/* layer.h                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_layer_create)
{
    gm_layer *l;
    gm_rng *r = NULL;
    uint64_t seed0, pos0, seed1, pos1;
    const size_t big = (size_t)1 << 16;

    GM_CK_OK(gm_rng_create(&r, 5));
    GM_CK_OK(gm_rng_get_state(r, &seed0, &pos0));

    GM_CK_ERR(GM_EINVAL, "gm_dense_create",
              gm_dense_create(NULL, 4, 3, GM_INIT_HE, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 0, 3, GM_INIT_HE, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, 0, GM_INIT_HE, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, (size_t)-1, 3, GM_INIT_HE, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, (size_t)-1, GM_INIT_HE, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, big, big, GM_INIT_HE, r)); /* 2^32 > 2^31 */
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, SIZE_MAX / 2, 4, GM_INIT_ZEROS, NULL));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, 3, (gm_init)99, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, 3, (gm_init)-1, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, 3, (gm_init)4, r));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, 3, GM_INIT_HE, NULL));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, 3, GM_INIT_XAVIER, NULL));
    CK_ERR_OUT(GM_EINVAL, "gm_dense_create", l,
               gm_dense_create(&l, 4, 3, GM_INIT_TORCH, NULL));
    GM_CK_OK(gm_rng_get_state(r, &seed1, &pos1));
    ck_assert_msg(seed1 == seed0 && pos1 == pos0,
                  "a failed gm_dense_create advanced the generator");
    GM_CK_OK(gm_dense_create(&l, 4, 3, GM_INIT_ZEROS, NULL)); /* control */
    gm_layer_free(l);

    GM_CK_ERR(GM_EINVAL, "gm_relu_create", gm_relu_create(NULL));
    GM_CK_ERR(GM_EINVAL, "gm_sigmoid_create", gm_sigmoid_create(NULL));
    GM_CK_ERR(GM_EINVAL, "gm_tanh_create", gm_tanh_create(NULL));
    GM_CK_ERR(GM_EINVAL, "gm_softplus_create", gm_softplus_create(NULL));
    GM_CK_ERR(GM_EINVAL, "gm_flatten_create", gm_flatten_create(NULL));

    GM_CK_ERR(GM_EINVAL, "gm_leaky_relu_create", gm_leaky_relu_create(NULL, 0.1f));
    const float bad_leaky[] = {NaN_, Inf_, -Inf_, -0.1f, -FLT_MIN, 1.0f, 2.0f};
    for (size_t i = 0; i < sizeof bad_leaky / sizeof bad_leaky[0]; i++)
        CK_ERR_OUT(GM_EINVAL, "gm_leaky_relu_create", l,
                   gm_leaky_relu_create(&l, bad_leaky[i]));
    GM_CK_OK(gm_leaky_relu_create(&l, 0.0f));
    gm_layer_free(l);

    GM_CK_ERR(GM_EINVAL, "gm_elu_create", gm_elu_create(NULL, 1.0f));
    const float bad_elu[] = {NaN_, Inf_, -Inf_, 0.0f, -1.0f};
    for (size_t i = 0; i < sizeof bad_elu / sizeof bad_elu[0]; i++)
        CK_ERR_OUT(GM_EINVAL, "gm_elu_create", l, gm_elu_create(&l, bad_elu[i]));

    GM_CK_ERR(GM_EINVAL, "gm_dropout_create", gm_dropout_create(NULL, 0.5f, 1));
    const float bad_p[] = {NaN_, Inf_, -Inf_, -0.1f, 1.0f, 1.5f};
    for (size_t i = 0; i < sizeof bad_p / sizeof bad_p[0]; i++)
        CK_ERR_OUT(GM_EINVAL, "gm_dropout_create", l,
                   gm_dropout_create(&l, bad_p[i], 1));
    GM_CK_OK(gm_dropout_create(&l, 0.0f, 1));
    gm_layer_free(l);

    const size_t sh3[3] = {1, 2, 2}, sh0[2] = {2, 0};
    const size_t shwrap[2] = {((size_t)1 << (sizeof(size_t) * 8 - 1)) + 2, 2};
    GM_CK_ERR(GM_EINVAL, "gm_reshape_create", gm_reshape_create(NULL, 3, sh3));
    CK_ERR_OUT(GM_EINVAL, "gm_reshape_create", l, gm_reshape_create(&l, 0, sh3));
    CK_ERR_OUT(GM_EINVAL, "gm_reshape_create", l,
               gm_reshape_create(&l, GM_MAX_DIMS, sh3));
    CK_ERR_OUT(GM_EINVAL, "gm_reshape_create", l,
               gm_reshape_create(&l, (size_t)-1, sh3));
    CK_ERR_OUT(GM_EINVAL, "gm_reshape_create", l, gm_reshape_create(&l, 3, NULL));
    CK_ERR_OUT(GM_EINVAL, "gm_reshape_create", l, gm_reshape_create(&l, 2, sh0));
    l = SENTINEL;
    CK_ERR_OVF(GM_EINVAL, GM_EINVAL, "gm_reshape_create",
               gm_reshape_create(&l, 2, shwrap));
    ck_assert_ptr_null(l);
    GM_CK_OK(gm_reshape_create(&l, 3, sh3));
    gm_layer_free(l);

    gm_rng_free(r);
}
END_TEST

START_TEST(test_layer_params)
{
    gm_layer *d = NULL, *relu = NULL;
    gm_rng *r = NULL;
    float p[15], p0[15], buf[20], buf0[20];
    GM_CK_OK(gm_rng_create(&r, 3));
    GM_CK_OK(gm_dense_create(&d, 4, 3, GM_INIT_HE, r));
    GM_CK_OK(gm_relu_create(&relu));
    gm_rng_free(r);

    /* NULL-tolerant accessors */
    gm_layer_free(NULL);
    ck_assert_int_eq((int)gm_layer_get_kind(NULL), 0);
    ck_assert_ptr_nonnull(gm_layer_name(NULL));
    ck_assert_ptr_nonnull(gm_layer_name(d));
    ck_assert_uint_eq(gm_layer_param_count(NULL), 0);
    ck_assert_uint_eq(gm_layer_param_count(relu), 0);
    ck_assert_uint_eq(gm_layer_param_count(d), 15);
    ck_assert_int_eq(gm_layer_get_kind(d), GM_LAYER_DENSE);

    GM_CK_OK(gm_layer_get_params(d, p0, 15));
    for (int i = 0; i < 20; i++) buf[i] = buf0[i] = 100.0f + (float)i;

    GM_CK_ERR(GM_EINVAL, "gm_layer_get_params", gm_layer_get_params(NULL, buf, 15));
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_params", gm_layer_get_params(d, NULL, 15));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_params", gm_layer_get_params(d, buf, 14));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_params", gm_layer_get_params(d, buf, 16));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_params", gm_layer_get_params(d, buf, 0));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_params", gm_layer_get_params(relu, buf, 1));
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_grads", gm_layer_get_grads(NULL, buf, 15));
    GM_CK_ERR(GM_EINVAL, "gm_layer_get_grads", gm_layer_get_grads(d, NULL, 15));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_grads", gm_layer_get_grads(d, buf, 14));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_grads", gm_layer_get_grads(d, buf, 16));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_get_grads", gm_layer_get_grads(relu, buf, 1));
    ck_assert_msg(memcmp(buf, buf0, sizeof buf) == 0, "dst written on error");

    GM_CK_ERR(GM_EINVAL, "gm_layer_set_params", gm_layer_set_params(NULL, buf, 15));
    GM_CK_ERR(GM_EINVAL, "gm_layer_set_params", gm_layer_set_params(d, NULL, 15));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_set_params", gm_layer_set_params(d, buf, 14));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_set_params", gm_layer_set_params(d, buf, 16));
    GM_CK_ERR(GM_ESHAPE, "gm_layer_set_params", gm_layer_set_params(relu, buf, 1));
    /* a non-finite value anywhere (first, middle, last) */
    const float bad[] = {NaN_, Inf_, -Inf_};
    const int at[] = {0, 7, 14};
    for (size_t b = 0; b < 3; b++)
        for (size_t a = 0; a < 3; a++) {
            memcpy(buf, buf0, sizeof buf);
            buf[at[a]] = bad[b];
            GM_CK_ERR(GM_EINVAL, "gm_layer_set_params",
                      gm_layer_set_params(d, buf, 15));
        }
    GM_CK_OK(gm_layer_get_params(d, p, 15));
    ck_assert_msg(memcmp(p, p0, sizeof p) == 0, "layer params changed on error");
    gm_layer_free(d);

    /* a layer owned by a net: gm_layer_free leaves it alone */
    gm_net *net = NULL;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_net_add(net, relu));
    gm_layer_free(relu);
    ck_assert_ptr_eq(gm_net_layer(net, 0), relu);
    ck_assert_int_eq(gm_layer_get_kind(gm_net_layer(net, 0)), GM_LAYER_RELU);
    gm_tensor *x = mk2(2, 3), *y = mk2(2, 3);
    GM_CK_OK(gm_net_forward(net, x, y));
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_net_free(net);
}
END_TEST

/* ------------------------------------------------------------------ */
/* net.h                                                                */
/* ------------------------------------------------------------------ */

START_TEST(test_net_structure)
{
    gm_net *net = make_mlp(1), *other = NULL, *empty = NULL;
    gm_layer *owned = gm_net_layer(net, 0), *l = NULL;
    nsnap s;

    GM_CK_ERR(GM_EINVAL, "gm_net_create", gm_net_create(NULL));
    gm_net_free(NULL);
    GM_CK_OK(gm_net_create(&other));
    GM_CK_OK(gm_net_create(&empty));
    nsnap_take(&s, net);

    GM_CK_OK(gm_relu_create(&l));
    GM_CK_ERR(GM_EINVAL, "gm_net_add", gm_net_add(NULL, l));
    GM_CK_ERR(GM_EINVAL, "gm_net_add", gm_net_add(net, NULL));
    gm_layer_free(l); /* still ours after the failed add */
    /* a layer that already belongs to a net: to the same net, to another */
    GM_CK_ERR(GM_EINVAL, "gm_net_add", gm_net_add(net, owned));
    GM_CK_ERR(GM_EINVAL, "gm_net_add", gm_net_add(other, owned));
    ck_assert_uint_eq(gm_net_num_layers(other), 0);
    nsnap_check(&s, net, "net after failed adds");

    ck_assert_uint_eq(gm_net_num_layers(NULL), 0);
    ck_assert_ptr_null(gm_net_layer(NULL, 0));
    ck_assert_ptr_null(gm_net_layer(net, 3));
    ck_assert_ptr_null(gm_net_layer(net, SIZE_MAX));
    ck_assert_ptr_null(gm_net_layer(empty, 0));
    ck_assert_uint_eq(gm_net_param_count(NULL), 0);
    ck_assert_int_eq(gm_net_is_training(NULL), 0);

    /* gm_net_output_shape */
    const size_t in[2] = {2, 4}, bad5[2] = {2, 5}, in0[2] = {0, 4};
    const size_t in_z[2] = {2, 0}, five[5] = {2, 4, 1, 1, 1};
    const size_t wrap4[3] = {2, ((size_t)1 << (sizeof(size_t) * 8 - 1)) + 2, 2};
    size_t ond = 0, osh[GM_MAX_DIMS];
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(NULL, 2, in, &ond, osh));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(net, 2, NULL, &ond, osh));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(net, 2, in, NULL, osh));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(net, 2, in, &ond, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(empty, 2, in, &ond, osh));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(net, 0, in, &ond, osh));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(net, 5, five, &ond, osh));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(net, 2, in0, &ond, osh));
    GM_CK_ERR(GM_EINVAL, "gm_net_output_shape",
              gm_net_output_shape(net, 2, in_z, &ond, osh));
    GM_CK_ERR(GM_ESHAPE, "gm_net_output_shape",
              gm_net_output_shape(net, 2, bad5, &ond, osh));
    /* per-sample size wraps to 4 mod 2^64: must not be accepted */
    CK_ERR_OVF(GM_EINVAL, GM_ESHAPE, "gm_net_output_shape",
               gm_net_output_shape(net, 3, wrap4, &ond, osh));
    GM_CK_OK(gm_net_output_shape(net, 2, in, &ond, osh));
    ck_assert_uint_eq(ond, 2);
    ck_assert_uint_eq(osh[0], 2);
    ck_assert_uint_eq(osh[1], 2);

    /* a reshape layer that cannot take its input */
    const size_t rs[2] = {2, 3};
    GM_CK_OK(gm_reshape_create(&l, 2, rs));
    GM_CK_OK(gm_net_add(other, l));
    GM_CK_ERR(GM_ESHAPE, "gm_net_output_shape",
              gm_net_output_shape(other, 2, bad5, &ond, osh));

    /* mode / trainable / zero_grad */
    GM_CK_ERR(GM_EINVAL, "gm_net_zero_grad", gm_net_zero_grad(NULL));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_training", gm_net_set_training(NULL, 1));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_training", gm_net_set_training(NULL, 0));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_trainable", gm_net_set_trainable(NULL, 0, 0));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_trainable", gm_net_set_trainable(net, 3, 0));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_trainable",
              gm_net_set_trainable(net, SIZE_MAX, 1));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_trainable", gm_net_set_trainable(empty, 0, 1));
    nsnap_check(&s, net, "net after failed calls");

    nsnap_free(&s);
    gm_net_free(net);
    gm_net_free(other);
    gm_net_free(empty);
}
END_TEST

START_TEST(test_net_flat_buffers)
{
    gm_net *net = make_mlp(2);
    nsnap s;
    float buf[MLP_PARAMS + 4], buf0[MLP_PARAMS + 4], norm = -1.0f;
    const size_t np = MLP_PARAMS;

    /* non-zero gradients to make "unchanged" meaningful */
    gm_tensor *x = mk2(2, 4), *y = mk2(2, 2), *dy = mk2(2, 2);
    fill_normal(x, 1);
    fill_normal(dy, 2);
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    nsnap_take(&s, net);
    for (size_t i = 0; i < np + 4; i++) buf[i] = buf0[i] = 0.25f * (float)i;

    GM_CK_ERR(GM_EINVAL, "gm_net_get_params", gm_net_get_params(NULL, buf, np));
    GM_CK_ERR(GM_EINVAL, "gm_net_get_params", gm_net_get_params(net, NULL, np));
    GM_CK_ERR(GM_ESHAPE, "gm_net_get_params", gm_net_get_params(net, buf, np - 1));
    GM_CK_ERR(GM_ESHAPE, "gm_net_get_params", gm_net_get_params(net, buf, np + 1));
    GM_CK_ERR(GM_ESHAPE, "gm_net_get_params", gm_net_get_params(net, buf, 0));
    GM_CK_ERR(GM_EINVAL, "gm_net_get_grads", gm_net_get_grads(NULL, buf, np));
    GM_CK_ERR(GM_EINVAL, "gm_net_get_grads", gm_net_get_grads(net, NULL, np));
    GM_CK_ERR(GM_ESHAPE, "gm_net_get_grads", gm_net_get_grads(net, buf, np - 1));
    GM_CK_ERR(GM_ESHAPE, "gm_net_get_grads", gm_net_get_grads(net, buf, np + 1));
    GM_CK_ERR(GM_ESHAPE, "gm_net_get_grads", gm_net_get_grads(net, buf, 0));
    ck_assert_msg(memcmp(buf, buf0, sizeof buf) == 0, "dst written on error");

    GM_CK_ERR(GM_EINVAL, "gm_net_set_params", gm_net_set_params(NULL, buf, np));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_params", gm_net_set_params(net, NULL, np));
    GM_CK_ERR(GM_ESHAPE, "gm_net_set_params", gm_net_set_params(net, buf, np - 1));
    GM_CK_ERR(GM_ESHAPE, "gm_net_set_params", gm_net_set_params(net, buf, np + 1));
    GM_CK_ERR(GM_ESHAPE, "gm_net_set_params", gm_net_set_params(net, buf, 0));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_grads", gm_net_set_grads(NULL, buf, np));
    GM_CK_ERR(GM_EINVAL, "gm_net_set_grads", gm_net_set_grads(net, NULL, np));
    GM_CK_ERR(GM_ESHAPE, "gm_net_set_grads", gm_net_set_grads(net, buf, np - 1));
    GM_CK_ERR(GM_ESHAPE, "gm_net_set_grads", gm_net_set_grads(net, buf, np + 1));
    const float bad[] = {NaN_, Inf_, -Inf_};
    const size_t at[] = {0, 15, np - 1}; /* first layer, second layer, last */
    for (size_t b = 0; b < 3; b++)
        for (size_t a = 0; a < 3; a++) {
            memcpy(buf, buf0, sizeof buf);
            buf[at[a]] = bad[b];
            GM_CK_ERR(GM_EINVAL, "gm_net_set_params",
                      gm_net_set_params(net, buf, np));
            GM_CK_ERR(GM_EINVAL, "gm_net_set_grads",
                      gm_net_set_grads(net, buf, np));
        }
    nsnap_check(&s, net, "net after failed set_params/set_grads");

    GM_CK_ERR(GM_EINVAL, "gm_net_grad_norm", gm_net_grad_norm(NULL, &norm));
    GM_CK_ERR(GM_EINVAL, "gm_net_grad_norm", gm_net_grad_norm(net, NULL));

    float before = -1.0f;
    const float bad_max[] = {0.0f, -1.0f, -FLT_MIN, NaN_, Inf_, -Inf_};
    for (size_t i = 0; i < sizeof bad_max / sizeof bad_max[0]; i++)
        GM_CK_ERR(GM_EINVAL, "gm_net_clip_grad_norm",
                  gm_net_clip_grad_norm(net, bad_max[i], &before));
    GM_CK_ERR(GM_EINVAL, "gm_net_clip_grad_norm",
              gm_net_clip_grad_norm(NULL, 1.0f, &before));
    nsnap_check(&s, net, "net after failed clip");

    /* after a failed set_params the last forward is still valid */
    GM_CK_OK(gm_net_backward(net, dy, NULL));

    nsnap_free(&s);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(dy);
    gm_net_free(net);
}
END_TEST

START_TEST(test_net_clip_nonfinite)
{
    gm_net *net = make_dense_net(3);
    nsnap s;
    float before = 0;
    make_inf_grads(net);
    nsnap_take(&s, net);
    GM_CK_ERR(GM_ENUMERIC, "gm_net_clip_grad_norm",
              gm_net_clip_grad_norm(net, 1.0f, &before));
    GM_CK_ERR(GM_ENUMERIC, "gm_net_clip_grad_norm",
              gm_net_clip_grad_norm(net, 1.0f, NULL));
    nsnap_check(&s, net, "net after ENUMERIC clip");
    nsnap_free(&s);
    gm_net_free(net);
}
END_TEST

START_TEST(test_net_forward)
{
    gm_net *net = make_mlp(4), *twin = make_mlp(4), *empty = NULL;
    gm_tensor *x = mk2(2, 4), *y = mk2(2, 2), *dy = mk2(2, 2);
    gm_tensor *dx = mk2(2, 4), *ty = mk2(2, 2), *tdx = mk2(2, 4);
    gm_tensor *x5 = mk2(2, 5), *x_nan = mk2(2, 4);
    gm_tensor *x_inf = mk2(2, 4), *y24 = mk2(2, 4), *y32 = mk2(3, 2);
    gm_tensor *y4 = mk(1, 4, 0, 0, 0), *y122 = mk(3, 1, 2, 2, 0);
    gm_tensor *x1d = mk(1, 8, 0, 0, 0);
    nsnap s;
    tsnap sy, sx;

    fill_normal(x, 10);
    fill_normal(dy, 11);
    GM_CK_OK(gm_tensor_copy_in(x_nan, gm_tensor_data(x), 8));
    GM_CK_OK(gm_tensor_copy_in(x_inf, gm_tensor_data(x), 8));
    gm_tensor_data(x_nan)[5] = NaN_;
    gm_tensor_data(x_inf)[0] = -Inf_;
    GM_CK_OK(gm_net_create(&empty));

    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_tensor_fill(y24, 3.5f));
    GM_CK_OK(gm_tensor_fill(y32, 3.5f));
    nsnap_take(&s, net);
    tsnap_take(&sy, y);
    tsnap_take(&sx, x);

    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(NULL, x, y));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(net, NULL, y));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(net, x, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(empty, x, y));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(net, x_nan, y));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(net, x_inf, y));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x5, y));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x1d, y));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x, y24));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x, y32));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x, y4));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x, y122));

    nsnap_check(&s, net, "net after failed forwards");
    tsnap_check(&sy, y, "y after failed forwards");
    tsnap_check(&sx, x, "x after failed forwards");
    ck_assert_float_eq(gm_tensor_data(y24)[0], 3.5f);
    ck_assert_float_eq(gm_tensor_data(y32)[5], 3.5f);
    ck_assert_float_eq(gm_tensor_data(y122)[0], 0.0f);

    /* the last successful forward is still what backward uses */
    GM_CK_OK(gm_net_backward(net, dy, dx));
    GM_CK_OK(gm_net_forward(twin, x, ty));
    GM_CK_OK(gm_net_backward(twin, dy, tdx));
    ck_assert_msg(memcmp(gm_tensor_data(ty), gm_tensor_data(y),
                         4 * sizeof(float)) == 0, "y differs from twin");
    ck_assert_msg(memcmp(gm_tensor_data(tdx), gm_tensor_data(dx),
                         8 * sizeof(float)) == 0,
                  "dx differs from a twin net without the failed forwards");
    nsnap_free(&s);
    nsnap_take(&s, twin);
    nsnap_check(&s, net, "grads vs twin net");

    nsnap_free(&s);
    tsnap_free(&sy);
    tsnap_free(&sx);
    gm_tensor *all[] = {x, y, dy, dx, ty, tdx, x5, x_nan, x_inf, y24,
                        y32, y4, y122, x1d};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    gm_net_free(net);
    gm_net_free(twin);
    gm_net_free(empty);
}
END_TEST

/* A forward with a new batch size that then fails (wrong y, non-finite
 * x) must keep the previous forward: backward still works and gives the
 * same numbers as a twin net that never saw the failures. */
START_TEST(test_net_forward_new_batch_failure)
{
    gm_net *net = make_mlp(4), *twin = make_mlp(4);
    gm_tensor *x = mk2(2, 4), *y = mk2(2, 2), *dy = mk2(2, 2);
    gm_tensor *dx = mk2(2, 4), *ty = mk2(2, 2), *tdx = mk2(2, 4);
    gm_tensor *x3 = mk2(3, 4), *x3nan = mk2(3, 4), *y3 = mk2(3, 2);
    gm_tensor *y24 = mk2(2, 4);
    nsnap s;
    tsnap sy;
    fill_normal(x, 10);
    fill_normal(dy, 11);
    fill_normal(x3, 12);
    fill_normal(x3nan, 12);
    gm_tensor_data(x3nan)[7] = NaN_;

    GM_CK_OK(gm_net_forward(net, x, y));
    nsnap_take(&s, net);
    tsnap_take(&sy, y);
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x3, y));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, x3, y24));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(net, x3nan, y3));
    nsnap_check(&s, net, "net after failed new-batch forwards");
    tsnap_check(&sy, y, "y after failed new-batch forwards");

    GM_CK_OK(gm_net_backward(net, dy, dx));
    GM_CK_OK(gm_net_forward(twin, x, ty));
    GM_CK_OK(gm_net_backward(twin, dy, tdx));
    ck_assert_msg(memcmp(gm_tensor_data(tdx), gm_tensor_data(dx),
                         8 * sizeof(float)) == 0, "dx differs from twin");
    nsnap_free(&s);
    nsnap_take(&s, twin);
    nsnap_check(&s, net, "grads vs twin net");

    nsnap_free(&s);
    tsnap_free(&sy);
    gm_tensor *all[] = {x, y, dy, dx, ty, tdx, x3, x3nan, y3, y24};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    gm_net_free(net);
    gm_net_free(twin);
}
END_TEST

/* A failed forward must not advance the dropout layer's forward counter:
 * the masks that follow equal those of a twin without the failure. */
START_TEST(test_dropout_failed_forward)
{
    gm_net *a = NULL, *b = NULL;
    gm_layer *l = NULL;
    gm_tensor *x = mk2(4, 8), *ya = mk2(4, 8), *yb = mk2(4, 8);
    gm_tensor *ybad = mk2(4, 7), *xnan = mk2(4, 8), *x5 = mk2(5, 8);
    GM_CK_OK(gm_tensor_fill(x, 1.0f));
    GM_CK_OK(gm_tensor_fill(xnan, 1.0f));
    gm_tensor_data(xnan)[3] = NaN_;
    GM_CK_OK(gm_net_create(&a));
    GM_CK_OK(gm_net_create(&b));
    GM_CK_OK(gm_dropout_create(&l, 0.5f, 99));
    GM_CK_OK(gm_net_add(a, l));
    GM_CK_OK(gm_dropout_create(&l, 0.5f, 99));
    GM_CK_OK(gm_net_add(b, l));

    GM_CK_OK(gm_net_forward(a, x, ya));
    GM_CK_OK(gm_net_forward(b, x, yb));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(a, x, ybad));
    GM_CK_ERR(GM_EINVAL, "gm_net_forward", gm_net_forward(a, xnan, ya));
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(a, x5, ya));
    GM_CK_OK(gm_net_forward(a, x, ya));
    GM_CK_OK(gm_net_forward(b, x, yb));
    ck_assert_msg(memcmp(gm_tensor_data(ya), gm_tensor_data(yb),
                         32 * sizeof(float)) == 0,
                  "a failed forward changed the dropout stream");

    gm_tensor_free(x); gm_tensor_free(ya); gm_tensor_free(yb);
    gm_tensor_free(ybad); gm_tensor_free(xnan); gm_tensor_free(x5);
    gm_net_free(a);
    gm_net_free(b);
}
END_TEST

START_TEST(test_net_backward)
{
    gm_net *net = make_mlp(5);
    gm_tensor *x = mk2(2, 4), *y = mk2(2, 2), *dy = mk2(2, 2), *dx = mk2(2, 4);
    gm_tensor *dy23 = mk2(2, 3), *dy32 = mk2(3, 2), *dy4 = mk(1, 4, 0, 0, 0);
    gm_tensor *dx25 = mk2(2, 5), *dx8 = mk(1, 8, 0, 0, 0), *dx42 = mk2(4, 2);
    nsnap s;
    tsnap sdx;
    float p[MLP_PARAMS];

    fill_normal(x, 20);
    fill_normal(dy, 21);
    GM_CK_OK(gm_tensor_fill(dx, 9.0f));
    GM_CK_OK(gm_tensor_fill(dx25, 9.0f));
    GM_CK_OK(gm_tensor_fill(dx8, 9.0f));
    GM_CK_OK(gm_tensor_fill(dx42, 9.0f));

    /* no forward yet */
    nsnap_take(&s, net);
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(net, dy, NULL));
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(net, dy, dx));
    ck_assert_float_eq(gm_tensor_data(dx)[0], 9.0f);
    /* a failed forward is not a forward */
    GM_CK_ERR(GM_ESHAPE, "gm_net_forward", gm_net_forward(net, dx25, y));
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(net, dy, NULL));
    nsnap_check(&s, net, "net after backward without forward");
    nsnap_free(&s);

    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, dy, NULL)); /* non-zero grads */
    nsnap_take(&s, net);
    tsnap_take(&sdx, dx);
    GM_CK_ERR(GM_EINVAL, "gm_net_backward", gm_net_backward(NULL, dy, dx));
    GM_CK_ERR(GM_EINVAL, "gm_net_backward", gm_net_backward(net, NULL, dx));
    GM_CK_ERR(GM_ESHAPE, "gm_net_backward", gm_net_backward(net, dy23, dx));
    GM_CK_ERR(GM_ESHAPE, "gm_net_backward", gm_net_backward(net, dy32, dx));
    GM_CK_ERR(GM_ESHAPE, "gm_net_backward", gm_net_backward(net, dy4, dx));
    GM_CK_ERR(GM_ESHAPE, "gm_net_backward", gm_net_backward(net, dy23, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_net_backward", gm_net_backward(net, dy, dx25));
    GM_CK_ERR(GM_ESHAPE, "gm_net_backward", gm_net_backward(net, dy, dx8));
    GM_CK_ERR(GM_ESHAPE, "gm_net_backward", gm_net_backward(net, dy, dx42));
    nsnap_check(&s, net, "net after failed backwards");
    tsnap_check(&sdx, dx, "dx after failed backwards");
    ck_assert_float_eq(gm_tensor_data(dx25)[9], 9.0f);
    ck_assert_float_eq(gm_tensor_data(dx8)[7], 9.0f);
    ck_assert_float_eq(gm_tensor_data(dx42)[0], 9.0f);
    GM_CK_OK(gm_net_backward(net, dy, dx)); /* control */
    nsnap_free(&s);
    tsnap_free(&sdx);

    /* parameters changed by gm_net_set_params since the forward */
    GM_CK_OK(gm_net_get_params(net, p, MLP_PARAMS));
    for (size_t i = 0; i < MLP_PARAMS; i++) p[i] += 0.5f;
    GM_CK_OK(gm_net_set_params(net, p, MLP_PARAMS));
    nsnap_take(&s, net);
    tsnap_take(&sdx, dx);
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(net, dy, dx));
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(net, dy, NULL));
    nsnap_check(&s, net, "net after backward after set_params");
    tsnap_check(&sdx, dx, "dx after backward after set_params");
    GM_CK_OK(gm_net_forward(net, x, y)); /* a new forward makes it valid */
    GM_CK_OK(gm_net_backward(net, dy, dx));
    nsnap_free(&s);
    tsnap_free(&sdx);

    gm_tensor *all[] = {x, y, dy, dx, dy23, dy32, dy4, dx25, dx8, dx42};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    gm_net_free(net);
}
END_TEST

/* Parameters changed through a net-owned layer handle since the forward:
 * "the parameters changed since it" -> GM_ESTATE. */
START_TEST(test_backward_after_layer_set_params)
{
    gm_net *net = make_mlp(6);
    gm_tensor *x = mk2(2, 4), *y = mk2(2, 2), *dy = mk2(2, 2);
    float p[15];
    nsnap s;
    fill_normal(x, 1);
    fill_normal(dy, 2);
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_layer_get_params(gm_net_layer(net, 0), p, 15));
    p[0] += 1.0f;
    GM_CK_OK(gm_layer_set_params(gm_net_layer(net, 0), p, 15));
    nsnap_take(&s, net);
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(net, dy, NULL));
    nsnap_check(&s, net, "net after refused backward");
    nsnap_free(&s);
    gm_tensor_free(x); gm_tensor_free(y); gm_tensor_free(dy);
    gm_net_free(net);
}
END_TEST

/* Parameters changed by an optimizer step since the forward -> GM_ESTATE. */
START_TEST(test_backward_after_optimizer_step)
{
    gm_net *net = make_mlp(7);
    gm_optimizer *opt = NULL;
    gm_tensor *x = mk2(2, 4), *y = mk2(2, 2), *dy = mk2(2, 2);
    nsnap s;
    fill_normal(x, 1);
    fill_normal(dy, 2);
    GM_CK_OK(gm_optimizer_create(&opt, net, NULL));
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    GM_CK_OK(gm_optimizer_step(opt, net));
    nsnap_take(&s, net);
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(net, dy, NULL));
    nsnap_check(&s, net, "net after refused backward");
    nsnap_free(&s);
    gm_optimizer_free(opt);
    gm_tensor_free(x); gm_tensor_free(y); gm_tensor_free(dy);
    gm_net_free(net);
}
END_TEST

/* ------------------------------------------------------------------ */
/* loss.h                                                               */
/* ------------------------------------------------------------------ */

typedef gm_status (*pair_loss_fn)(const gm_tensor *, const gm_tensor *,
                                  gm_reduction, float *, gm_tensor *);

/* Common bad inputs for mse and bce; `fn` is the name to look for. */
static void check_pair_loss(pair_loss_fn f, const char *fn)
{
    gm_tensor *p = mk2(2, 3), *t = mk2(2, 3), *g = mk2(2, 3);
    gm_tensor *t32 = mk2(3, 2), *t24 = mk2(2, 4), *t6 = mk(1, 6, 0, 0, 0);
    gm_tensor *g32 = mk2(3, 2), *g6 = mk(1, 6, 0, 0, 0), *p_bad = mk2(2, 3);
    float loss = 123.0f;
    tsnap sg, sp, st;
    fill_normal(p, 30);
    GM_CK_OK(gm_tensor_fill(t, 0.5f));
    GM_CK_OK(gm_tensor_fill(t32, 0.5f));
    GM_CK_OK(gm_tensor_fill(t24, 0.5f));
    GM_CK_OK(gm_tensor_fill(t6, 0.5f));
    GM_CK_OK(gm_tensor_fill(g, 7.0f));
    GM_CK_OK(gm_tensor_fill(g32, 7.0f));
    GM_CK_OK(gm_tensor_fill(g6, 7.0f));
    tsnap_take(&sg, g);
    tsnap_take(&sp, p);
    tsnap_take(&st, t);

    GM_CK_ERR(GM_EINVAL, fn, f(NULL, t, GM_REDUCE_MEAN, &loss, g));
    GM_CK_ERR(GM_EINVAL, fn, f(p, NULL, GM_REDUCE_MEAN, &loss, g));
    GM_CK_ERR(GM_EINVAL, fn, f(p, t, GM_REDUCE_MEAN, NULL, g));
    GM_CK_ERR(GM_EINVAL, fn, f(p, t, (gm_reduction)7, &loss, g));
    GM_CK_ERR(GM_EINVAL, fn, f(p, t, (gm_reduction)-1, &loss, g));
    GM_CK_ERR(GM_EINVAL, fn, f(p, t, (gm_reduction)3, &loss, NULL));
    GM_CK_ERR(GM_ESHAPE, fn, f(p, t32, GM_REDUCE_MEAN, &loss, g));
    GM_CK_ERR(GM_ESHAPE, fn, f(p, t24, GM_REDUCE_SUM, &loss, g));
    GM_CK_ERR(GM_ESHAPE, fn, f(p, t6, GM_REDUCE_BATCH_MEAN, &loss, NULL));
    GM_CK_ERR(GM_ESHAPE, fn, f(p, t, GM_REDUCE_MEAN, &loss, g32));
    GM_CK_ERR(GM_ESHAPE, fn, f(p, t, GM_REDUCE_MEAN, &loss, g6));
    const float bad[] = {NaN_, Inf_, -Inf_};
    for (size_t b = 0; b < 3; b++) {
        GM_CK_OK(gm_tensor_copy_in(p_bad, gm_tensor_data(p), 6));
        gm_tensor_data(p_bad)[4] = bad[b];
        GM_CK_ERR(GM_EINVAL, fn, f(p_bad, t, GM_REDUCE_MEAN, &loss, g));
        GM_CK_ERR(GM_EINVAL, fn, f(p, p_bad, GM_REDUCE_MEAN, &loss, g));
    }
    ck_assert_msg(loss == 123.0f, "%s: loss written on error", fn);
    tsnap_check(&sg, g, "grad after failed loss");
    tsnap_check(&sp, p, "pred after failed loss");
    tsnap_check(&st, t, "target after failed loss");
    ck_assert_float_eq(gm_tensor_data(g32)[0], 7.0f);
    ck_assert_float_eq(gm_tensor_data(g6)[0], 7.0f);
    GM_CK_OK(f(p, t, GM_REDUCE_MEAN, &loss, g)); /* control */

    tsnap_free(&sg); tsnap_free(&sp); tsnap_free(&st);
    gm_tensor *all[] = {p, t, g, t32, t24, t6, g32, g6, p_bad};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
}

START_TEST(test_loss_mse) { check_pair_loss(gm_loss_mse, "gm_loss_mse"); }
END_TEST

START_TEST(test_loss_bce)
{
    check_pair_loss(gm_loss_bce_logits, "gm_loss_bce_logits");
    /* targets outside [0, 1] */
    gm_tensor *z = mk2(2, 3), *t = mk2(2, 3), *g = mk2(2, 3);
    float loss = 5.0f;
    fill_normal(z, 3);
    GM_CK_OK(gm_tensor_fill(g, 7.0f));
    const float bad_t[] = {-0.1f, 1.1f, -FLT_MIN, 2.0f, -1e30f};
    for (size_t i = 0; i < sizeof bad_t / sizeof bad_t[0]; i++) {
        GM_CK_OK(gm_tensor_fill(t, 1.0f));
        gm_tensor_data(t)[i % 6] = bad_t[i];
        GM_CK_ERR(GM_EINVAL, "gm_loss_bce_logits",
                  gm_loss_bce_logits(z, t, GM_REDUCE_SUM, &loss, g));
    }
    ck_assert_float_eq(loss, 5.0f);
    for (int i = 0; i < 6; i++) ck_assert_float_eq(gm_tensor_data(g)[i], 7.0f);
    GM_CK_OK(gm_tensor_fill(t, 0.0f));
    gm_tensor_data(t)[1] = 1.0f;
    GM_CK_OK(gm_loss_bce_logits(z, t, GM_REDUCE_SUM, &loss, g)); /* 0, 1 ok */
    gm_tensor_free(z); gm_tensor_free(t); gm_tensor_free(g);
}
END_TEST

START_TEST(test_loss_softmax_xent)
{
    const char *fn = "gm_loss_softmax_xent";
    gm_tensor *z = mk2(2, 3), *g = mk2(2, 3), *g32 = mk2(3, 2);
    gm_tensor *g6 = mk(1, 6, 0, 0, 0), *zbad = mk2(2, 3);
    int32_t lab[3] = {0, 2, 1};
    float loss = 42.0f;
    size_t correct = 77;
    tsnap sg, sz;
    fill_normal(z, 40);
    GM_CK_OK(gm_tensor_fill(g, 7.0f));
    GM_CK_OK(gm_tensor_fill(g32, 7.0f));
    tsnap_take(&sg, g);
    tsnap_take(&sz, z);

    GM_CK_ERR(GM_EINVAL, fn, gm_loss_softmax_xent(NULL, lab, 2, GM_REDUCE_MEAN, &loss, g, &correct));
    GM_CK_ERR(GM_EINVAL, fn, gm_loss_softmax_xent(z, NULL, 2, GM_REDUCE_MEAN, &loss, g, &correct));
    GM_CK_ERR(GM_EINVAL, fn, gm_loss_softmax_xent(z, lab, 2, GM_REDUCE_MEAN, NULL, g, &correct));
    GM_CK_ERR(GM_EINVAL, fn, gm_loss_softmax_xent(z, lab, 2, (gm_reduction)7, &loss, g, &correct));
    GM_CK_ERR(GM_EINVAL, fn, gm_loss_softmax_xent(z, lab, 2, (gm_reduction)-3, &loss, NULL, NULL));
    GM_CK_ERR(GM_ESHAPE, fn, gm_loss_softmax_xent(z, lab, 1, GM_REDUCE_MEAN, &loss, g, &correct));
    GM_CK_ERR(GM_ESHAPE, fn, gm_loss_softmax_xent(z, lab, 3, GM_REDUCE_MEAN, &loss, g, &correct));
    GM_CK_ERR(GM_ESHAPE, fn, gm_loss_softmax_xent(z, lab, 0, GM_REDUCE_MEAN, &loss, g, &correct));
    GM_CK_ERR(GM_ESHAPE, fn, gm_loss_softmax_xent(z, lab, 2, GM_REDUCE_MEAN, &loss, g32, &correct));
    GM_CK_ERR(GM_ESHAPE, fn, gm_loss_softmax_xent(z, lab, 2, GM_REDUCE_MEAN, &loss, g6, &correct));
    const int32_t bad_lab[][2] = {{0, 3}, {-1, 0}, {0, INT32_MAX}, {INT32_MIN, 1}, {3, 3}};
    for (size_t i = 0; i < sizeof bad_lab / sizeof bad_lab[0]; i++)
        GM_CK_ERR(GM_EINVAL, fn, gm_loss_softmax_xent(z, bad_lab[i], 2,
                                                      GM_REDUCE_SUM, &loss, g, &correct));
    const float bad[] = {NaN_, Inf_, -Inf_};
    for (size_t b = 0; b < 3; b++) {
        GM_CK_OK(gm_tensor_copy_in(zbad, gm_tensor_data(z), 6));
        gm_tensor_data(zbad)[2] = bad[b];
        GM_CK_ERR(GM_EINVAL, fn, gm_loss_softmax_xent(zbad, lab, 2, GM_REDUCE_MEAN,
                                                      &loss, g, &correct));
    }
    ck_assert_float_eq(loss, 42.0f);
    ck_assert_uint_eq(correct, 77);
    tsnap_check(&sg, g, "grad after failed xent");
    tsnap_check(&sz, z, "logits after failed xent");
    ck_assert_float_eq(gm_tensor_data(g32)[0], 7.0f);
    GM_CK_OK(gm_loss_softmax_xent(z, lab, 2, GM_REDUCE_MEAN, &loss, g, &correct));

    tsnap_free(&sg); tsnap_free(&sz);
    gm_tensor_free(z); gm_tensor_free(g); gm_tensor_free(g32);
    gm_tensor_free(g6); gm_tensor_free(zbad);
}
END_TEST

/* ------------------------------------------------------------------ */
/* optim.h                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_optim_options_init)
{
    gm_optimizer_options o, o0;
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_options_init",
              gm_optimizer_options_init(NULL, GM_OPT_ADAM));
    memset(&o, 0xAB, sizeof o);
    memcpy(&o0, &o, sizeof o);
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_options_init",
              gm_optimizer_options_init(&o, (gm_optimizer_kind)5));
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_options_init",
              gm_optimizer_options_init(&o, (gm_optimizer_kind)3));
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_options_init",
              gm_optimizer_options_init(&o, (gm_optimizer_kind)-1));
    ck_assert_msg(memcmp(&o, &o0, sizeof o) == 0, "options written on error");
    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAMW));
    ck_assert_uint_eq(o.size, sizeof(gm_optimizer_options));
}
END_TEST

/* Creates with `o`, expects GM_EINVAL, NULL out and an unchanged net. */
static void expect_bad_opts(gm_net *net, const gm_optimizer_options *o,
                            const char *what)
{
    gm_optimizer *opt = SENTINEL;
    gm_clear_error();
    gm_status st = gm_optimizer_create(&opt, net, o);
    ck_assert_msg(st == GM_EINVAL, "%s: got %s, expected %s (%s)", what,
                  gm_status_string(st), gm_status_string(GM_EINVAL),
                  gm_last_error());
    ck_assert_msg(strstr(gm_last_error(), "gm_optimizer_create") != NULL,
                  "%s: message does not name gm_optimizer_create: '%s'", what,
                  gm_last_error());
    ck_assert_msg(opt == NULL, "%s: out not set to NULL", what);
}

START_TEST(test_optim_create)
{
    gm_net *net = make_mlp(8);
    gm_optimizer *opt;
    gm_optimizer_options o;
    nsnap s;
    char what[96];
    nsnap_take(&s, net);

    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAM));
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_create", gm_optimizer_create(NULL, net, &o));
    CK_ERR_OUT(GM_EINVAL, "gm_optimizer_create", opt,
               gm_optimizer_create(&opt, NULL, &o));

    /* size field: 0, smaller than the size field itself, garbage */
    const size_t bad_sizes[] = {0, 1, sizeof(size_t) - 1, SIZE_MAX,
                                SIZE_MAX - 7, (size_t)0xABABABABABABABABull};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAM));
        o.size = bad_sizes[i];
        snprintf(what, sizeof what, "size %zu", bad_sizes[i]);
        expect_bad_opts(net, &o, what);
    }

    /* unknown kind */
    const int32_t bad_kind[] = {3, 5, -1, INT32_MAX};
    for (size_t i = 0; i < sizeof bad_kind / sizeof bad_kind[0]; i++) {
        GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAM));
        o.kind = bad_kind[i];
        snprintf(what, sizeof what, "kind %d", (int)bad_kind[i]);
        expect_bad_opts(net, &o, what);
    }

    /* settings common to every kind: lr, weight_decay, clip_norm */
    const float bad_lr[] = {0.0f, -1e-3f, NaN_, Inf_, -Inf_};
    const float bad_wd[] = {-0.01f, NaN_, Inf_, -Inf_};
    const float bad_clip[] = {-1.0f, NaN_, Inf_, -Inf_};
    for (int k = GM_OPT_SGD; k <= GM_OPT_ADAMW; k++) {
        for (size_t i = 0; i < sizeof bad_lr / sizeof bad_lr[0]; i++) {
            GM_CK_OK(gm_optimizer_options_init(&o, (gm_optimizer_kind)k));
            o.lr = bad_lr[i];
            snprintf(what, sizeof what, "kind %d lr %g", k, (double)bad_lr[i]);
            expect_bad_opts(net, &o, what);
        }
        for (size_t i = 0; i < sizeof bad_wd / sizeof bad_wd[0]; i++) {
            GM_CK_OK(gm_optimizer_options_init(&o, (gm_optimizer_kind)k));
            o.weight_decay = bad_wd[i];
            snprintf(what, sizeof what, "kind %d weight_decay %g", k,
                     (double)bad_wd[i]);
            expect_bad_opts(net, &o, what);
        }
        for (size_t i = 0; i < sizeof bad_clip / sizeof bad_clip[0]; i++) {
            GM_CK_OK(gm_optimizer_options_init(&o, (gm_optimizer_kind)k));
            o.clip_norm = bad_clip[i];
            snprintf(what, sizeof what, "kind %d clip_norm %g", k,
                     (double)bad_clip[i]);
            expect_bad_opts(net, &o, what);
        }
    }

    /* SGD: momentum in [0, 1); nesterov needs momentum > 0 */
    const float bad_mom[] = {-0.1f, 1.0f, 1.5f, NaN_, Inf_};
    for (size_t i = 0; i < sizeof bad_mom / sizeof bad_mom[0]; i++) {
        GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_SGD));
        o.momentum = bad_mom[i];
        snprintf(what, sizeof what, "sgd momentum %g", (double)bad_mom[i]);
        expect_bad_opts(net, &o, what);
    }
    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_SGD));
    o.nesterov = 1;
    o.momentum = 0.0f;
    expect_bad_opts(net, &o, "sgd nesterov without momentum");

    /* Adam, AdamW: betas in [0, 1), eps finite > 0 */
    const float bad_beta[] = {-0.1f, 1.0f, 1.01f, NaN_, Inf_, -Inf_};
    const float bad_eps[] = {0.0f, -1e-8f, NaN_, Inf_, -Inf_};
    for (int k = GM_OPT_ADAM; k <= GM_OPT_ADAMW; k++) {
        for (size_t i = 0; i < sizeof bad_beta / sizeof bad_beta[0]; i++) {
            GM_CK_OK(gm_optimizer_options_init(&o, (gm_optimizer_kind)k));
            o.beta1 = bad_beta[i];
            snprintf(what, sizeof what, "kind %d beta1 %g", k, (double)bad_beta[i]);
            expect_bad_opts(net, &o, what);
            GM_CK_OK(gm_optimizer_options_init(&o, (gm_optimizer_kind)k));
            o.beta2 = bad_beta[i];
            snprintf(what, sizeof what, "kind %d beta2 %g", k, (double)bad_beta[i]);
            expect_bad_opts(net, &o, what);
        }
        for (size_t i = 0; i < sizeof bad_eps / sizeof bad_eps[0]; i++) {
            GM_CK_OK(gm_optimizer_options_init(&o, (gm_optimizer_kind)k));
            o.eps = bad_eps[i];
            snprintf(what, sizeof what, "kind %d eps %g", k, (double)bad_eps[i]);
            expect_bad_opts(net, &o, what);
        }
    }
    nsnap_check(&s, net, "net after failed optimizer creates");

    /* positive controls */
    GM_CK_OK(gm_optimizer_create(&opt, net, NULL));
    gm_optimizer_free(opt);
    gm_optimizer_options ini = GM_OPTIMIZER_OPTIONS_INIT;
    GM_CK_OK(gm_optimizer_create(&opt, net, &ini));
    gm_optimizer_free(opt);
    gm_optimizer_free(NULL);

    nsnap_free(&s);
    gm_net_free(net);
}
END_TEST

START_TEST(test_optim_step_and_lr)
{
    gm_net *a = make_mlp(9), *b = make_mlp(9);
    gm_optimizer *opt = NULL;
    nsnap sa, sb;
    float g[MLP_PARAMS];
    for (size_t i = 0; i < MLP_PARAMS; i++) g[i] = 0.1f * (float)i - 1.0f;
    GM_CK_OK(gm_net_set_grads(a, g, MLP_PARAMS));
    GM_CK_OK(gm_net_set_grads(b, g, MLP_PARAMS));
    GM_CK_OK(gm_optimizer_create(&opt, a, NULL));
    GM_CK_OK(gm_optimizer_step(opt, a));
    nsnap_take(&sa, a);
    nsnap_take(&sb, b);

    GM_CK_ERR(GM_EINVAL, "gm_optimizer_step", gm_optimizer_step(NULL, a));
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_step", gm_optimizer_step(opt, NULL));
    /* a different net of the same architecture */
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_step", gm_optimizer_step(opt, b));
    nsnap_check(&sa, a, "own net after step on another net");
    nsnap_check(&sb, b, "other net after refused step");
    ck_assert_uint_eq(gm_optimizer_step_count(opt), 1);

    /* learning rate */
    float lr = gm_optimizer_get_lr(opt);
    ck_assert_float_eq(lr, 1e-3f);
    ck_assert_float_eq(gm_optimizer_get_lr(NULL), 0.0f);
    ck_assert_uint_eq(gm_optimizer_step_count(NULL), 0);
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_set_lr", gm_optimizer_set_lr(NULL, 0.1f));
    const float bad_lr[] = {0.0f, -0.0f, -1.0f, NaN_, Inf_, -Inf_};
    for (size_t i = 0; i < sizeof bad_lr / sizeof bad_lr[0]; i++)
        GM_CK_ERR(GM_EINVAL, "gm_optimizer_set_lr",
                  gm_optimizer_set_lr(opt, bad_lr[i]));
    ck_assert_float_eq(gm_optimizer_get_lr(opt), lr);
    GM_CK_ERR(GM_EINVAL, "gm_optimizer_reset", gm_optimizer_reset(NULL));
    ck_assert_uint_eq(gm_optimizer_step_count(opt), 1);

    /* the net's parameter count changed since creation */
    gm_layer *l = NULL;
    GM_CK_OK(gm_dense_create(&l, 2, 2, GM_INIT_ZEROS, NULL));
    GM_CK_OK(gm_net_add(a, l));
    nsnap_free(&sa);
    nsnap_take(&sa, a);
    GM_CK_ERR(GM_ESTATE, "gm_optimizer_step", gm_optimizer_step(opt, a));
    nsnap_check(&sa, a, "net after GM_ESTATE step");
    ck_assert_uint_eq(gm_optimizer_step_count(opt), 1);

    nsnap_free(&sa);
    nsnap_free(&sb);
    gm_optimizer_free(opt);
    gm_net_free(a);
    gm_net_free(b);
}
END_TEST

/* A non-finite gradient: GM_ENUMERIC and nothing changes (parameters,
 * gradients, step count, moments): a twin optimizer that never saw the
 * failure gives bitwise the same parameters afterwards. */
static void check_step_nonfinite(const gm_optimizer_options *o, const char *what)
{
    gm_net *a = make_dense_net(11), *b = make_dense_net(11);
    gm_optimizer *oa = NULL, *ob = NULL;
    float g1[15], g2[15], pa[15], pb[15];
    nsnap s;
    for (int i = 0; i < 15; i++) {
        g1[i] = 0.05f * (float)(i - 7);
        g2[i] = 0.03f * (float)(11 - i);
    }
    GM_CK_OK(gm_optimizer_create(&oa, a, o));
    GM_CK_OK(gm_optimizer_create(&ob, b, o));
    GM_CK_OK(gm_net_set_grads(a, g1, 15));
    GM_CK_OK(gm_net_set_grads(b, g1, 15));
    GM_CK_OK(gm_optimizer_step(oa, a));
    GM_CK_OK(gm_optimizer_step(ob, b));

    GM_CK_OK(gm_net_zero_grad(a));
    make_inf_grads(a);
    nsnap_take(&s, a);
    gm_clear_error();
    gm_status st = gm_optimizer_step(oa, a);
    ck_assert_msg(st == GM_ENUMERIC, "%s: step with inf gradient -> %s (%s)",
                  what, gm_status_string(st), gm_last_error());
    ck_assert_msg(strstr(gm_last_error(), "gm_optimizer_step") != NULL,
                  "%s: message does not name gm_optimizer_step: '%s'", what,
                  gm_last_error());
    nsnap_check(&s, a, what);
    ck_assert_msg(gm_optimizer_step_count(oa) == 1, "%s: step count moved", what);
    nsnap_free(&s);

    GM_CK_OK(gm_net_set_grads(a, g2, 15));
    GM_CK_OK(gm_net_set_grads(b, g2, 15));
    GM_CK_OK(gm_optimizer_step(oa, a));
    GM_CK_OK(gm_optimizer_step(ob, b));
    GM_CK_OK(gm_net_get_params(a, pa, 15));
    GM_CK_OK(gm_net_get_params(b, pb, 15));
    ck_assert_msg(memcmp(pa, pb, sizeof pa) == 0,
                  "%s: optimizer state changed by the failed step", what);
    ck_assert_uint_eq(gm_optimizer_step_count(oa), 2);

    gm_optimizer_free(oa);
    gm_optimizer_free(ob);
    gm_net_free(a);
    gm_net_free(b);
}

START_TEST(test_optim_step_nonfinite)
{
    gm_optimizer_options o;
    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAM));
    check_step_nonfinite(&o, "adam");
    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAMW));
    check_step_nonfinite(&o, "adamw");
    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_SGD));
    o.lr = 0.1f;
    o.momentum = 0.9f;
    o.nesterov = 1;
    o.weight_decay = 0.01f;
    check_step_nonfinite(&o, "sgd nesterov");
    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAM));
    o.clip_norm = 1.0f;
    check_step_nonfinite(&o, "adam with clipping");
}
END_TEST

/* ------------------------------------------------------------------ */
/* io.h                                                                 */
/* ------------------------------------------------------------------ */

static char g_dir[64];
static int g_npaths;

/* The temp directory lives in the runner process (unchecked fixture), so
 * it is removed even when a test fails in its forked child. */
static void io_dir_create(void)
{
    strcpy(g_dir, "/tmp/gm_badinput_XXXXXX");
    if (mkdtemp(g_dir) == NULL) g_dir[0] = '\0';
}

static void io_dir_remove(void)
{
    if (g_dir[0] == '\0') return;
    DIR *d = opendir(g_dir);
    if (d != NULL) {
        struct dirent *e;
        char p[512];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(g_dir);
}

static void io_setup(void)
{
    setup();
    ck_assert_msg(g_dir[0] != '\0', "cannot create a temp directory");
    g_npaths = 0;
}

static void io_teardown(void) { teardown(); }

static const char *write_file(const char *name, const void *bytes, size_t n)
{
    static char paths[64][128];
    ck_assert_int_lt(g_npaths, 64);
    char *p = paths[g_npaths++];
    snprintf(p, 128, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_uint_eq(fwrite(bytes, 1, n, f), n);
    fclose(f);
    return p;
}

/* IDX header: 0 0 type ndim, then ndim big-endian u32 sizes. */
static size_t idx_header(unsigned char *buf, unsigned type, unsigned ndim,
                         const uint32_t *dims)
{
    buf[0] = 0; buf[1] = 0; buf[2] = (unsigned char)type;
    buf[3] = (unsigned char)ndim;
    for (unsigned i = 0; i < ndim; i++) {
        buf[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        buf[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        buf[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        buf[7 + 4 * i] = (unsigned char)dims[i];
    }
    return 4 + 4 * (size_t)ndim;
}

/* A file: header + `payload` bytes of data (pattern). */
static const char *write_idx(const char *name, unsigned type, unsigned ndim,
                             const uint32_t *dims, size_t payload)
{
    unsigned char *buf = malloc(4 + 4 * 8 + payload + 1);
    size_t h = idx_header(buf, type, ndim, dims);
    for (size_t i = 0; i < payload; i++) buf[h + i] = (unsigned char)(i * 37);
    const char *p = write_file(name, buf, h + payload);
    free(buf);
    return p;
}

static size_t gzip_bytes(const unsigned char *in, size_t n, unsigned char *out,
                         size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    ck_assert_int_eq(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8,
                                  Z_DEFAULT_STRATEGY), Z_OK);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t len = zs.total_out;
    deflateEnd(&zs);
    return len;
}

/* gzip of an IDX header + pattern payload. */
static const char *write_idx_gz(const char *name, unsigned type, unsigned ndim,
                                const uint32_t *dims, size_t payload,
                                size_t keep /* 0 = all */, long flip)
{
    unsigned char raw[512], gz[1024];
    size_t h = idx_header(raw, type, ndim, dims);
    ck_assert_uint_le(h + payload, sizeof raw);
    for (size_t i = 0; i < payload; i++) raw[h + i] = (unsigned char)(i * 37);
    size_t n = gzip_bytes(raw, h + payload, gz, sizeof gz);
    if (flip >= 0 && (size_t)flip < n) gz[flip] ^= 0xFF;
    if (keep && keep < n) n = keep;
    return write_file(name, gz, n);
}

#define MAX_SANE_ALLOC ((size_t)64 << 20)

/* Loads `path` as images, expecting `code`, NULL out and no big request. */
static void expect_images(gm_status code, const char *path, size_t max_items)
{
    gm_tensor *t = SENTINEL;
    g_ta.max_req = 0;
    gm_clear_error();
    gm_status st = gm_idx_load_images(&t, path, max_items);
    ck_assert_msg(st == code, "gm_idx_load_images(%s) -> %s, expected %s (%s)",
                  path, gm_status_string(st), gm_status_string(code),
                  gm_last_error());
    ck_assert_msg(strstr(gm_last_error(), "gm_idx_load_images") != NULL,
                  "%s: message does not name gm_idx_load_images: '%s'", path,
                  gm_last_error());
    ck_assert_msg(t == NULL, "%s: out not set to NULL", path);
    ck_assert_msg(g_ta.max_req <= MAX_SANE_ALLOC,
                  "%s: requested %zu bytes for a tiny file", path, g_ta.max_req);
}

static void expect_labels(gm_status code, const char *path, size_t max_items,
                          size_t capacity)
{
    int32_t dst[16], dst0[16];
    size_t count = 12345;
    for (int i = 0; i < 16; i++) dst[i] = dst0[i] = -1000 - i;
    g_ta.max_req = 0;
    gm_clear_error();
    gm_status st = gm_idx_load_labels(path, max_items,
                                      capacity ? dst : NULL, capacity, &count);
    ck_assert_msg(st == code, "gm_idx_load_labels(%s) -> %s, expected %s (%s)",
                  path, gm_status_string(st), gm_status_string(code),
                  gm_last_error());
    ck_assert_msg(strstr(gm_last_error(), "gm_idx_load_labels") != NULL,
                  "%s: message does not name gm_idx_load_labels: '%s'", path,
                  gm_last_error());
    ck_assert_msg(memcmp(dst, dst0, sizeof dst) == 0, "%s: dst written on error",
                  path);
    ck_assert_msg(g_ta.max_req <= MAX_SANE_ALLOC,
                  "%s: requested %zu bytes for a tiny file", path, g_ta.max_req);
}

START_TEST(test_idx_images)
{
    const uint32_t d_ok[3] = {2, 3, 4};
    const char *ok = write_idx("img_ok", 0x08, 3, d_ok, 24);
    const char *okgz = write_idx_gz("img_ok.gz", 0x08, 3, d_ok, 24, 0, -1);
    gm_tensor *t = SENTINEL;

    /* positive controls */
    GM_CK_OK(gm_idx_load_images(&t, ok, 0));
    ck_assert_uint_eq(gm_tensor_ndim(t), 4);
    ck_assert_uint_eq(gm_tensor_dim(t, 0), 2);
    ck_assert_uint_eq(gm_tensor_dim(t, 1), 1);
    ck_assert_uint_eq(gm_tensor_dim(t, 2), 3);
    ck_assert_uint_eq(gm_tensor_dim(t, 3), 4);
    gm_tensor_free(t);
    GM_CK_OK(gm_idx_load_images(&t, okgz, 1));
    ck_assert_uint_eq(gm_tensor_dim(t, 0), 1);
    gm_tensor_free(t);

    GM_CK_ERR(GM_EINVAL, "gm_idx_load_images", gm_idx_load_images(NULL, ok, 0));
    CK_ERR_OUT(GM_EINVAL, "gm_idx_load_images", t, gm_idx_load_images(&t, NULL, 0));

    /* cannot open or read */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/does_not_exist.idx", g_dir);
    expect_images(GM_EIO, missing, 0);
    expect_images(GM_EIO, g_dir, 0); /* a directory */

    /* not IDX / wrong kind / truncated / absurd */
    expect_images(GM_EFORMAT, write_file("empty", "", 0), 0);
    expect_images(GM_EFORMAT, write_file("short", "\0\0\x08", 3), 0);
    expect_images(GM_EFORMAT, write_file("text",
                  "this is not an IDX file at all, just text\n", 42), 0);
    unsigned char junk[40];
    for (int i = 0; i < 40; i++) junk[i] = (unsigned char)(0xF0 ^ i);
    expect_images(GM_EFORMAT, write_file("junk", junk, sizeof junk), 0);
    {
        unsigned char b[40];
        size_t h = idx_header(b, 0x08, 3, d_ok);
        b[0] = 0x12; /* bad magic */
        memset(b + h, 1, 24);
        expect_images(GM_EFORMAT, write_file("badmagic", b, h + 24), 0);
    }
    expect_images(GM_EFORMAT, write_idx("float_type", 0x0D, 3, d_ok, 96), 0);
    expect_images(GM_EFORMAT, write_idx("int_type", 0x0C, 3, d_ok, 96), 0);
    const uint32_t d1[1] = {24};
    expect_images(GM_EFORMAT, write_idx("labels_as_images", 0x08, 1, d1, 24), 0);
    const uint32_t d4[4] = {2, 1, 3, 4};
    expect_images(GM_EFORMAT, write_idx("ndim4", 0x08, 4, d4, 24), 0);
    expect_images(GM_EFORMAT, write_idx("ndim0", 0x08, 0, d4, 24), 0);
    expect_images(GM_EFORMAT, write_idx("header_only", 0x08, 3, d_ok, 0), 0);
    expect_images(GM_EFORMAT, write_idx("truncated", 0x08, 3, d_ok, 23), 0);
    {
        unsigned char b[16];
        idx_header(b, 0x08, 3, d_ok); /* only two of three dims present */
        expect_images(GM_EFORMAT, write_file("dims_short", b, 12), 0);
    }
    const uint32_t d_big[3] = {1000000000u, 28, 28};
    expect_images(GM_EFORMAT, write_idx("absurd_n", 0x08, 3, d_big, 784), 0);
    const uint32_t d_max[3] = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
    expect_images(GM_EFORMAT, write_idx("absurd_all", 0x08, 3, d_max, 64), 0);
    const uint32_t d_hw[3] = {1, 0x10000u, 0x10000u};
    expect_images(GM_EFORMAT, write_idx("absurd_hw", 0x08, 3, d_hw, 64), 0);
    /* max_items stops reading early (io.h): the one image present loads,
     * and the claimed count allocates nothing beyond it */
    {
        gm_tensor *one = NULL;
        g_ta.max_req = 0;
        GM_CK_OK(gm_idx_load_images(&one, write_idx("absurd_n_capped", 0x08, 3, d_big, 784), 1));
        ck_assert_uint_eq(gm_tensor_dim(one, 0), 1);
        ck_assert(g_ta.max_req <= MAX_SANE_ALLOC);
        gm_tensor_free(one);
    }

    /* gzip: truncated, corrupt payload, corrupt CRC, absurd header inside */
    expect_images(GM_EFORMAT, write_idx_gz("gz_trunc.gz", 0x08, 3, d_ok, 24, 20, -1), 0);
    expect_images(GM_EFORMAT, write_idx_gz("gz_corrupt.gz", 0x08, 3, d_ok, 24, 0, 14), 0);
    {
        unsigned char raw[40], gz[256];
        size_t h = idx_header(raw, 0x08, 3, d_ok);
        memset(raw + h, 7, 24);
        size_t n = gzip_bytes(raw, h + 24, gz, sizeof gz);
        gz[n - 8] ^= 0x5A; /* CRC32 of the trailer */
        expect_images(GM_EFORMAT, write_file("gz_badcrc.gz", gz, n), 0);
    }
    expect_images(GM_EFORMAT, write_idx_gz("gz_absurd.gz", 0x08, 3, d_big, 100, 0, -1), 0);
    expect_images(GM_EFORMAT, write_idx_gz("gz_short.gz", 0x08, 3, d_ok, 10, 0, -1), 0);
}
END_TEST

START_TEST(test_idx_labels)
{
    const uint32_t d5[1] = {5};
    const char *ok = write_idx("lab_ok", 0x08, 1, d5, 5);
    const char *okgz = write_idx_gz("lab_ok.gz", 0x08, 1, d5, 5, 0, -1);
    int32_t dst[8];
    size_t count = 0;

    /* positive controls */
    GM_CK_OK(gm_idx_load_labels(ok, 0, NULL, 0, &count));
    ck_assert_uint_eq(count, 5);
    GM_CK_OK(gm_idx_load_labels(ok, 0, dst, 5, &count));
    ck_assert_uint_eq(count, 5);
    GM_CK_OK(gm_idx_load_labels(ok, 3, dst, 3, &count));
    ck_assert_uint_eq(count, 3);
    GM_CK_OK(gm_idx_load_labels(okgz, 0, dst, 8, &count));
    ck_assert_uint_eq(count, 5);

    GM_CK_ERR(GM_EINVAL, "gm_idx_load_labels", gm_idx_load_labels(NULL, 0, dst, 8, &count));
    GM_CK_ERR(GM_EINVAL, "gm_idx_load_labels", gm_idx_load_labels(ok, 0, dst, 8, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_idx_load_labels", gm_idx_load_labels(ok, 0, NULL, 0, NULL));

    /* capacity too small: nothing written */
    expect_labels(GM_ESHAPE, ok, 0, 4);
    expect_labels(GM_ESHAPE, ok, 0, 1);
    expect_labels(GM_ESHAPE, ok, 4, 3);
    {
        int32_t one = -5;
        size_t c = 0;
        GM_CK_ERR(GM_ESHAPE, "gm_idx_load_labels",
                  gm_idx_load_labels(ok, 0, &one, 0, &c)); /* dst, capacity 0 */
        ck_assert_int_eq(one, -5);
    }

    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing-labels", g_dir);
    expect_labels(GM_EIO, missing, 0, 0);
    expect_labels(GM_EIO, missing, 0, 8);
    expect_labels(GM_EIO, g_dir, 0, 8);

    expect_labels(GM_EFORMAT, write_file("l_empty", "", 0), 0, 8);
    expect_labels(GM_EFORMAT, write_file("l_short", "\0\0\x08\x01\0\0", 6), 0, 8);
    expect_labels(GM_EFORMAT, write_file("l_text",
                  "0,1,2,3,4,5,6,7,8,9 plain text labels\n", 38), 0, 8);
    const uint32_t d_img[3] = {1, 2, 2};
    expect_labels(GM_EFORMAT, write_idx("l_images", 0x08, 3, d_img, 4), 0, 8);
    expect_labels(GM_EFORMAT, write_idx("l_float", 0x0D, 1, d5, 20), 0, 8);
    expect_labels(GM_EFORMAT, write_idx("l_trunc", 0x08, 1, d5, 4), 0, 8);
    expect_labels(GM_EFORMAT, write_idx("l_trunc2", 0x08, 1, d5, 4), 0, 0);
    const uint32_t d_max[1] = {0xFFFFFFFFu};
    expect_labels(GM_EFORMAT, write_idx("l_absurd", 0x08, 1, d_max, 3), 0, 0);
    expect_labels(GM_EFORMAT, write_idx("l_absurd2", 0x08, 1, d_max, 3), 0, 8);
    /* a count query must not report a count the file cannot hold (the
     * caller allocates from it): 1e9 declared, 3 bytes present */
    const uint32_t d_1e9[1] = {1000000000u};
    expect_labels(GM_EFORMAT, write_idx("l_1e9", 0x08, 1, d_1e9, 3), 0, 0);
    expect_labels(GM_EFORMAT, write_idx_gz("l_gz_trunc.gz", 0x08, 1, d5, 5, 15, -1), 0, 8);
    expect_labels(GM_EFORMAT, write_idx_gz("l_gz_absurd.gz", 0x08, 1, d_max, 5, 0, -1), 0, 8);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *badinput_suite(void)
{
    Suite *s = suite_create("badinput");
    TCase *tc = tcase_create("api");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status_and_errors);
    tcase_add_test(tc, test_threads);
    tcase_add_test(tc, test_allocator);
    tcase_add_test(tc, test_oom_constructors);
    tcase_add_test(tc, test_rng);
    tcase_add_test(tc, test_tensor_create);
    tcase_add_test(tc, test_tensor_ops);
    tcase_add_test(tc, test_layer_create);
    tcase_add_test(tc, test_layer_params);
    tcase_add_test(tc, test_net_structure);
    tcase_add_test(tc, test_net_flat_buffers);
    tcase_add_test(tc, test_net_clip_nonfinite);
    tcase_add_test(tc, test_net_forward);
    tcase_add_test(tc, test_net_forward_new_batch_failure);
    tcase_add_test(tc, test_dropout_failed_forward);
    tcase_add_test(tc, test_net_backward);
    tcase_add_test(tc, test_backward_after_layer_set_params);
    tcase_add_test(tc, test_backward_after_optimizer_step);
    tcase_add_test(tc, test_loss_mse);
    tcase_add_test(tc, test_loss_bce);
    tcase_add_test(tc, test_loss_softmax_xent);
    tcase_add_test(tc, test_optim_options_init);
    tcase_add_test(tc, test_optim_create);
    tcase_add_test(tc, test_optim_step_and_lr);
    tcase_add_test(tc, test_optim_step_nonfinite);
    suite_add_tcase(s, tc);

    TCase *io = tcase_create("io");
    tcase_add_unchecked_fixture(io, io_dir_create, io_dir_remove);
    tcase_add_checked_fixture(io, io_setup, io_teardown);
    tcase_set_timeout(io, 60);
    tcase_add_test(io, test_idx_images);
    tcase_add_test(io, test_idx_labels);
    suite_add_tcase(s, io);
    return s;
}

int main(void) { return gm_run_suite(badinput_suite()); }
