/* Engine internals: every layer kind survives a hyperparameter round trip
 * (what checkpoints rely on), and hostile hyperparameters are refused by
 * the same validation the public constructors do. */
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

int main(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_add_test(tc, test_hyper_round_trip);
    tcase_add_test(tc, test_conv_hyper_round_trip);
    tcase_add_test(tc, test_hostile_hyper_refused);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
