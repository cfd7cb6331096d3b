/* SPDX-License-Identifier: MIT */
/* Engine internals: every layer kind survives a hyperparameter round trip
 * (what checkpoints rely on), and hostile hyperparameters are refused by
 * the same validation the public constructors do. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "gm_test.h"

/* One net holding a layer of every kind. */
static gm_net *every_kind(gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&l, 6, 8, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_leaky_relu_create(&l, 0.15f));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_dropout_create(&l, 0.25f, 1234));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_reshape_create(&l, 3, (size_t[]){2, 2, 2}));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_elu_create(&l, 0.5f));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_flatten_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_tanh_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_softplus_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_relu_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_dense_create(&l, 8, 3, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_sigmoid_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    return net;
}

START_TEST(test_hyper_round_trip)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 9));
    gm_net *a = every_kind(rng), *b;
    GM_CK_OK(gm_net_create(&b));
    ck_assert_uint_eq(gm_net_num_layers(a), 11);
    gm_tensor *x, *ya, *yb;
    GM_CK_OK(gm_tensor_create(&x, 2, (size_t[]){5, 6}));
    GM_CK_OK(gm_tensor_create(&ya, 2, (size_t[]){5, 3}));
    GM_CK_OK(gm_tensor_create(&yb, 2, (size_t[]){5, 3}));
    GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(x), 30));
    GM_CK_OK(gm_net_forward(a, x, ya)); /* advances the dropout step */
    for (size_t i = 0; i < gm_net_num_layers(a); i++) {
        gm_layer *la = gm_net_layer(a, i), *lb;
        gm__hyper h, h2;
        gm__layer_save_hyper(la, &h);
        const gm__layer_vt *vt = gm__layer_vt_for(gm_layer_get_kind(la));
        ck_assert_ptr_nonnull(vt);
        GM_CK_OK(vt->load(&lb, &h));
        ck_assert_int_eq(gm_layer_get_kind(lb), gm_layer_get_kind(la));
        ck_assert_uint_eq(gm_layer_param_count(lb), gm_layer_param_count(la));
        gm__layer_save_hyper(lb, &h2);
        ck_assert(memcmp(&h, &h2, sizeof h) == 0);
        GM_CK_OK(gm_net_add(b, lb));
    }
    size_t np = gm_net_param_count(a);
    float p[256];
    ck_assert_uint_le(np, 256);
    GM_CK_OK(gm_net_get_params(a, p, np));
    GM_CK_OK(gm_net_set_params(b, p, np));
    /* same architecture, parameters and dropout position: same output */
    GM_CK_OK(gm_net_forward(a, x, ya));
    GM_CK_OK(gm_net_forward(b, x, yb));
    ck_assert(memcmp(gm_tensor_data(ya), gm_tensor_data(yb), 15 * sizeof(float)) == 0);
    gm_tensor_free(x);
    gm_tensor_free(ya);
    gm_tensor_free(yb);
    gm_net_free(a);
    gm_net_free(b);
    gm_rng_free(rng);
}
END_TEST

/* The convolutions' geometry and batchnorm's settings survive the round
 * trip too. */
START_TEST(test_conv_hyper_round_trip)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 4));
    gm_layer *a[3], *b;
    GM_CK_OK(gm_conv2d_create(&a[0], 3, 5, 4, 2, 1, GM_INIT_HE, rng));
    GM_CK_OK(gm_conv_transpose2d_create(&a[1], 5, 2, 3, 3, 2, GM_INIT_HE, rng));
    GM_CK_OK(gm_batchnorm_create(&a[2], 7, 0.05f, 1e-3f));
    for (int i = 0; i < 3; i++) {
        gm__hyper h, h2;
        gm__layer_save_hyper(a[i], &h);
        GM_CK_OK(gm__layer_vt_for(gm_layer_get_kind(a[i]))->load(&b, &h));
        gm__layer_save_hyper(b, &h2);
        ck_assert(memcmp(&h, &h2, sizeof h) == 0);
        ck_assert_int_eq(gm_layer_get_kind(b), gm_layer_get_kind(a[i]));
        ck_assert_uint_eq(gm_layer_param_count(b), gm_layer_param_count(a[i]));
        gm_layer_free(b);
        gm_layer_free(a[i]);
    }
    gm__hyper bad = {{3, 5, 4, (uint64_t)2 << 32 | 9}, {0, 0}}; /* padding >= kernel */
    GM_CK_ERR(GM_EINVAL, "gm_conv2d_create", gm__layer_vt_for(GM_LAYER_CONV2D)->load(&b, &bad));
    gm_rng_free(rng);
}
END_TEST

START_TEST(test_hostile_hyper_refused)
{
    gm_layer *l = NULL;
    ck_assert_ptr_null(gm__layer_vt_for(0));
    ck_assert_ptr_null(gm__layer_vt_for(999));
    gm__hyper h = {{0, 5, 0, 0}, {0, 0}};
    GM_CK_ERR(GM_EINVAL, "gm_dense_create", gm__layer_vt_for(GM_LAYER_DENSE)->load(&l, &h));
    h = (gm__hyper){{UINT64_MAX, UINT64_MAX, 0, 0}, {0, 0}};
    GM_CK_ERR(GM_EINVAL, "gm_dense_create", gm__layer_vt_for(GM_LAYER_DENSE)->load(&l, &h));
    h = (gm__hyper){{7, 1, 1, 1}, {0, 0}};
    GM_CK_ERR(GM_EINVAL, "gm_reshape_create",
              gm__layer_vt_for(GM_LAYER_RESHAPE)->load(&l, &h));
    h = (gm__hyper){{0}, {NAN, 0}};
    GM_CK_ERR(GM_EINVAL, "gm_elu_create", gm__layer_vt_for(GM_LAYER_ELU)->load(&l, &h));
    h = (gm__hyper){{0}, {1.0f, 0}};
    GM_CK_ERR(GM_EINVAL, "gm_dropout_create", gm__layer_vt_for(GM_LAYER_DROPOUT)->load(&l, &h));
    ck_assert_ptr_null(l);
    ck_assert_uint_eq(gm_live_allocations(), 0);
}
END_TEST

/* A small net with every layer that has gradients: dense (spectral
 * norm), conv, batchnorm, dense. */
static gm_net *grad_net(gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    GM_CK_OK(gm_dense_create(&l, 5, 18, GM_INIT_HE, rng));
    GM_CK_OK(gm_layer_spectral_norm(l, 1, 1e-12f, rng));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_relu_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_reshape_create(&l, 3, (size_t[]){2, 3, 3}));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_conv2d_create(&l, 2, 3, 2, 1, 1, GM_INIT_HE, rng));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_flatten_create(&l));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_batchnorm_create(&l, 48, 0.1f, 1e-5f));
    GM_CK_OK(gm_net_add(net, l));
    GM_CK_OK(gm_dense_create(&l, 48, 2, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_net_add(net, l));
    return net;
}

/* After gm_net_zero_grad every reader sees zeros (the net's and a layer's
 * get_grads, the norm), a backward gives the same bits as from cleared
 * memory and a second one adds to it, a frozen layer stays zero, and an
 * optimizer step on zeroed gradients equals one on gradients set to 0. */
START_TEST(test_zero_grad_mark)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 77));
    gm_net *net = grad_net(rng);
    const size_t P = gm_net_param_count(net);
    gm_tensor *x, *y, *dy;
    GM_CK_OK(gm_tensor_create(&x, 2, (size_t[]){4, 5}));
    GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){4, 2}));
    GM_CK_OK(gm_tensor_create(&dy, 2, (size_t[]){4, 2}));
    gm_tensor_fill_normal(x, rng);
    gm_tensor_fill_normal(dy, rng);
    float *g1 = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
    ck_assert_ptr_nonnull(g1);
    ck_assert_ptr_nonnull(g);

    /* one forward (training mode moves spectral norm's u, so every
     * backward below differentiates this same one); one backward from
     * cleared memory: the reference */
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_set_grads(net, memset(g, 0, P * sizeof(float)), P));
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    GM_CK_OK(gm_net_get_grads(net, g1, P));
    float norm;
    GM_CK_OK(gm_net_grad_norm(net, &norm));
    ck_assert_float_gt(norm, 0.0f);

    /* marked: every reader sees zeros */
    GM_CK_OK(gm_net_zero_grad(net));
    memset(g, 0xff, P * sizeof(float));
    GM_CK_OK(gm_net_get_grads(net, g, P));
    for (size_t i = 0; i < P; i++) ck_assert_float_eq(g[i], 0.0f);
    GM_CK_OK(gm_net_grad_norm(net, &norm));
    ck_assert_float_eq(norm, 0.0f);
    gm_layer *last = gm_net_layer(net, gm_net_num_layers(net) - 1);
    float lg[98];
    memset(lg, 0xff, sizeof lg);
    GM_CK_OK(gm_layer_get_grads(last, lg, 98));
    for (size_t i = 0; i < 98; i++) ck_assert_float_eq(lg[i], 0.0f);

    /* after the mark, one backward gives the reference bit for bit, and
     * a second adds to it */
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    GM_CK_OK(gm_net_get_grads(net, g, P));
    ck_assert_mem_eq(g, g1, P * sizeof(float));
    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    GM_CK_OK(gm_net_get_grads(net, g, P));
    for (size_t i = 0; i < P; i++) ck_assert_float_eq_tol(g[i], 2.0f * g1[i], 1e-6f);

    /* a frozen layer keeps the mark through a backward: still zeros */
    GM_CK_OK(gm_net_set_trainable(net, 0, 0));
    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_backward(net, dy, NULL));
    GM_CK_OK(gm_net_get_grads(net, g, P));
    for (size_t i = 0; i < 108; i++) ck_assert_float_eq(g[i], 0.0f); /* dense 5 x 18 + 18 */
    GM_CK_OK(gm_net_set_trainable(net, 0, 1));

    /* an optimizer step on marked gradients is a step on zeros: the same
     * parameters as on a twin whose gradients were set to zeros */
    gm_rng *rng2;
    GM_CK_OK(gm_rng_create(&rng2, 77));
    gm_net *twin = grad_net(rng2);
    gm_optimizer *oa, *ob;
    GM_CK_OK(gm_optimizer_create(&oa, net, NULL));
    GM_CK_OK(gm_optimizer_create(&ob, twin, NULL));
    GM_CK_OK(gm_net_set_grads(net, g1, P)); /* a first step with momentum */
    GM_CK_OK(gm_net_set_grads(twin, g1, P));
    float *pa = malloc(P * sizeof(float)), *pb = malloc(P * sizeof(float));
    ck_assert_ptr_nonnull(pa);
    ck_assert_ptr_nonnull(pb);
    GM_CK_OK(gm_net_get_params(net, pa, P));
    GM_CK_OK(gm_net_set_params(twin, pa, P));
    GM_CK_OK(gm_optimizer_step(oa, net));
    GM_CK_OK(gm_optimizer_step(ob, twin));
    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_set_grads(twin, memset(g, 0, P * sizeof(float)), P));
    GM_CK_OK(gm_optimizer_step(oa, net));
    GM_CK_OK(gm_optimizer_step(ob, twin));
    GM_CK_OK(gm_net_get_params(net, pa, P));
    GM_CK_OK(gm_net_get_params(twin, pb, P));
    ck_assert_mem_eq(pa, pb, P * sizeof(float));
    free(pa);
    free(pb);

    gm_optimizer_free(oa);
    gm_optimizer_free(ob);
    gm_net_free(twin);
    gm_net_free(net);
    gm_rng_free(rng2);
    gm_rng_free(rng);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(dy);
    free(g1);
    free(g);
}
END_TEST

/* The convolutions' shape check bounds the patch matrix by one BLAS
 * operand and the image plane by the int32 patch index. */
START_TEST(test_conv_shape_limits)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    size_t ond, out[GM_MAX_DIMS];
    struct {
        int transpose;
        size_t k, s, H, W;
        const char *what;
    } cases[] = {
        {0, 1, 2, 65536, 40000, "image plane is too large"},   /* 2.6e9 inputs, 6.6e8 patches */
        {0, 1, 1, 65536, 40000, "patch matrix is too large"},  /* 2.6e9 patches */
        {1, 1, 2, 30000, 30000, "image plane is too large"},   /* 59999^2 outputs */
        {0, 1, 2, 46340, 46340, NULL},                         /* a plane just below 2^31 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        gm_net *net;
        gm_layer *l;
        GM_CK_OK(gm_net_create(&net));
        if (cases[c].transpose)
            GM_CK_OK(gm_conv_transpose2d_create(&l, 1, 1, cases[c].k, cases[c].s, 0,
                                                GM_INIT_HE, rng));
        else
            GM_CK_OK(gm_conv2d_create(&l, 1, 1, cases[c].k, cases[c].s, 0, GM_INIT_HE, rng));
        GM_CK_OK(gm_net_add(net, l));
        const size_t in[4] = {1, 1, cases[c].H, cases[c].W};
        if (cases[c].what == NULL) {
            GM_CK_OK(gm_net_output_shape(net, 4, in, &ond, out));
        } else {
            GM_CK_ERR(GM_ESHAPE, "gm_net_output_shape", gm_net_output_shape(net, 4, in, &ond, out));
            ck_assert_msg(strstr(gm_last_error(), cases[c].what) != NULL, "case %zu: %s", c,
                          gm_last_error());
        }
        gm_net_free(net);
    }
    gm_rng_free(rng);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_hyper_round_trip);
    tcase_add_test(tc, test_conv_hyper_round_trip);
    tcase_add_test(tc, test_hostile_hyper_refused);
    tcase_add_test(tc, test_zero_grad_mark);
    tcase_add_test(tc, test_conv_shape_limits);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
