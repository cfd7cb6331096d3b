/* SPDX-License-Identifier: MIT */
/* Engine internals: every layer kind survives a hyperparameter round trip
 * (what checkpoints rely on), and hostile hyperparameters are refused by
 * the same validation the public constructors do. */
#include <stdio.h>
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

/* ---- the convolution backends (conv.c, conv_dnnl.c) -------------------- */

/* The DCGAN of examples/dcgan_fashion.c (bench/dcgan28.c): which = 0 the
 * generator (z of 100 -> 1 x 28 x 28), 1 the discriminator. Weights
 * GM_INIT_TORCH from the seed, so two calls give the same net. */
static gm_net *dcgan_net(int which, uint64_t seed)
{
    gm_rng *rng;
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_rng_create(&rng, seed));
    GM_CK_OK(gm_net_create(&net));
#define ADD(call)             \
    do {                      \
        GM_CK_OK(call);       \
        GM_CK_OK(gm_net_add(net, l)); \
    } while (0)
    if (which == 0) {
        ADD(gm_dense_create(&l, 100, 128 * 7 * 7, GM_INIT_HE, rng));
        ADD(gm_batchnorm_create(&l, 128 * 7 * 7, 0.1f, 1e-5f));
        ADD(gm_relu_create(&l));
        ADD(gm_reshape_create(&l, 3, (size_t[]){128, 7, 7}));
        ADD(gm_conv_transpose2d_create(&l, 128, 64, 4, 2, 1, GM_INIT_TORCH, rng));
        ADD(gm_batchnorm_create(&l, 64, 0.1f, 1e-5f));
        ADD(gm_relu_create(&l));
        ADD(gm_conv_transpose2d_create(&l, 64, 1, 4, 2, 1, GM_INIT_TORCH, rng));
        ADD(gm_tanh_create(&l));
    } else {
        ADD(gm_conv2d_create(&l, 1, 64, 4, 2, 1, GM_INIT_TORCH, rng));
        ADD(gm_leaky_relu_create(&l, 0.2f));
        ADD(gm_conv2d_create(&l, 64, 128, 4, 2, 1, GM_INIT_TORCH, rng));
        ADD(gm_batchnorm_create(&l, 128, 0.1f, 1e-5f));
        ADD(gm_leaky_relu_create(&l, 0.2f));
        ADD(gm_flatten_create(&l));
        ADD(gm_dense_create(&l, 128 * 7 * 7, 1, GM_INIT_XAVIER, rng));
    }
#undef ADD
    gm_rng_free(rng);
    return net;
}

/* One forward + backward of net on x and dy: y, dx and the gradients. */
typedef struct {
    float *y, *dx, *g;
} pass_out;

static pass_out dcgan_pass(gm_net *net, const gm_tensor *x, const gm_tensor *dy)
{
    pass_out o;
    const size_t ny = gm_tensor_numel(dy), nx = gm_tensor_numel(x), np = gm_net_param_count(net);
    gm_tensor *y, *dx;
    GM_CK_OK(gm_tensor_create(&y, dy->ndim, dy->shape));
    GM_CK_OK(gm_tensor_create(&dx, x->ndim, x->shape));
    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_backward(net, dy, dx));
    o.y = malloc(ny * sizeof(float));
    o.dx = malloc(nx * sizeof(float));
    o.g = malloc(np * sizeof(float));
    ck_assert(o.y && o.dx && o.g);
    memcpy(o.y, gm_tensor_data(y), ny * sizeof(float));
    memcpy(o.dx, gm_tensor_data(dx), nx * sizeof(float));
    GM_CK_OK(gm_net_get_grads(net, o.g, np));
    gm_tensor_free(y);
    gm_tensor_free(dx);
    return o;
}

static void pass_free(pass_out *o)
{
    free(o->y);
    free(o->dx);
    free(o->g);
}

/* oneDNN and im2col + sgemm give the same forward, input gradient and
 * parameter gradients on the DCGAN's shapes (batch 16, training mode), to
 * float rounding: the two sum the products in different orders. */
START_TEST(test_conv_backends_agree_on_dcgan)
{
    ck_assert(gm__conv_dnnl_built());
    for (int which = 0; which < 2; which++) {
        const size_t B = 16;
        gm_tensor *x, *dy;
        if (which == 0) {
            GM_CK_OK(gm_tensor_create(&x, 2, (size_t[]){B, 100}));
            GM_CK_OK(gm_tensor_create(&dy, 4, (size_t[]){B, 1, 28, 28}));
        } else {
            GM_CK_OK(gm_tensor_create(&x, 4, (size_t[]){B, 1, 28, 28}));
            GM_CK_OK(gm_tensor_create(&dy, 2, (size_t[]){B, 1}));
        }
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 77));
        GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(x), gm_tensor_numel(x)));
        GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(dy), gm_tensor_numel(dy)));
        gm_rng_free(rng);
        gm_net *a = dcgan_net(which, 5), *b = dcgan_net(which, 5);
        const int old = gm__conv_force_im2col(0);
        pass_out pa = dcgan_pass(a, x, dy);
        for (size_t i = 0; i < gm_net_num_layers(a); i++) {
            const gm_layer_kind k = gm_layer_get_kind(gm_net_layer(a, i));
            if (k == GM_LAYER_CONV2D || k == GM_LAYER_CONV_TRANSPOSE2D)
                ck_assert_ptr_nonnull(gm_net_layer(a, i)->accel);
        }
        gm__conv_force_im2col(1);
        pass_out pb = dcgan_pass(b, x, dy);
        for (size_t i = 0; i < gm_net_num_layers(b); i++)
            ck_assert_ptr_null(gm_net_layer(b, i)->accel);
        gm__conv_force_im2col(old);
        const char *who = which == 0 ? "generator" : "discriminator";
        char label[64];
        snprintf(label, sizeof label, "%s y", who);
        gm_ck_close(pa.y, pb.y, gm_tensor_numel(dy), 1e-5, 1e-4, label);
        /* the gradients pass LeakyReLU's and ReLU's kinks, where the two
         * sums' rounding may put a value on the other side (seen on AVX2
         * OpenBLAS kernels: one input gradient 0.0226 against 0.0246, the
         * whole dx 1.4e-3 apart relative): compared as a whole, to 1e-2
         * (a wrong convolution is off by O(1)) */
        snprintf(label, sizeof label, "%s dx", who);
        gm_ck_close_norm(pa.dx, pb.dx, gm_tensor_numel(x), 1e-2, label);
        snprintf(label, sizeof label, "%s grads", who);
        gm_ck_close_norm(pa.g, pb.g, gm_net_param_count(a), 1e-2, label);
        /* the same backend twice: the same bits (one thread count) */
        gm__conv_force_im2col(0);
        pass_out pc = dcgan_pass(a, x, dy);
        gm__conv_force_im2col(old);
        ck_assert(memcmp(pa.y, pc.y, gm_tensor_numel(dy) * sizeof(float)) == 0);
        ck_assert(memcmp(pa.g, pc.g, gm_net_param_count(a) * sizeof(float)) == 0);
        pass_free(&pa);
        pass_free(&pb);
        pass_free(&pc);
        gm_net_free(a);
        gm_net_free(b);
        gm_tensor_free(x);
        gm_tensor_free(dy);
    }
}
END_TEST

/* A counting allocator: every call of the library's allocator. */
static long alloc_calls;
static void *count_malloc(void *u, size_t n)
{
    (void)u;
    alloc_calls++;
    return malloc(n);
}
static void *count_realloc(void *u, void *p, size_t n)
{
    (void)u;
    alloc_calls++;
    return realloc(p, n);
}
static void count_free(void *u, void *p)
{
    (void)u;
    free(p);
}

/* A train step of the discriminator (convs, batchnorm, dense) with Adam,
 * on each backend (_i = 1: im2col): after the first, which sets up the
 * workspace and the primitives, steps allocate nothing; changing the
 * thread count makes the primitives again, once. */
START_TEST(test_conv_steady_state_allocates_nothing)
{
    const int old = gm__conv_force_im2col(_i);
    const int threads = gm_get_num_threads();
    ck_assert_uint_eq(gm_live_allocations(), 0);
    gm_allocator al = {count_malloc, count_realloc, count_free, NULL};
    GM_CK_OK(gm_set_allocator(&al));
    gm_net *d = dcgan_net(1, 3);
    gm_optimizer *opt;
    gm_optimizer_options o;
    GM_CK_OK(gm_optimizer_options_init(&o, GM_OPT_ADAM));
    GM_CK_OK(gm_optimizer_create(&opt, d, &o));
    gm_tensor *x, *y, *dy;
    GM_CK_OK(gm_tensor_create(&x, 4, (size_t[]){8, 1, 28, 28}));
    GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){8, 1}));
    GM_CK_OK(gm_tensor_create(&dy, 2, (size_t[]){8, 1}));
    for (size_t i = 0; i < 8 * 784; i++) gm_tensor_data(x)[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
    for (size_t i = 0; i < 8; i++) gm_tensor_data(dy)[i] = 0.1f * (float)i - 0.3f;
    for (int round = 0; round < 2; round++) {
        long before = 0;
        size_t live = 0;
        for (int step = 0; step < 6; step++) {
            if (step == 1) {
                before = alloc_calls;
                live = gm_live_allocations();
            }
            GM_CK_OK(gm_net_zero_grad(d));
            GM_CK_OK(gm_net_forward(d, x, y));
            GM_CK_OK(gm_net_backward(d, dy, NULL));
            GM_CK_OK(gm_optimizer_step(opt, d));
        }
        ck_assert_int_eq(alloc_calls, before);
        ck_assert_uint_eq(gm_live_allocations(), live);
        GM_CK_OK(gm_set_num_threads(round == 0 ? (threads == 1 ? 2 : 1) : threads));
    }
    ck_assert(isfinite(gm_tensor_data(y)[0]));
    gm_optimizer_free(opt);
    gm_net_free(d);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_tensor_free(dy);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
    gm__conv_force_im2col(old);
}
END_TEST

/* Failing allocation k of building a conv net and running two forwards
 * and backwards (the second with a new batch size): GM_ENOMEM, no leak,
 * and the net still works afterwards. On the oneDNN path this covers its
 * state, buffers and scratchpad (vt->prepare). */
static long fail_at, calls_seen;
static void *fail_malloc(void *u, size_t n)
{
    (void)u;
    return calls_seen++ == fail_at ? NULL : malloc(n);
}
static void *fail_realloc(void *u, void *p, size_t n)
{
    (void)u;
    return calls_seen++ == fail_at ? NULL : realloc(p, n);
}

START_TEST(test_conv_allocation_failures_are_clean)
{
    const int old = gm__conv_force_im2col(_i);
    long k;
    for (k = 0; k < 500; k++) {
        fail_at = k;
        calls_seen = 0;
        gm_allocator al = {fail_malloc, fail_realloc, count_free, NULL};
        GM_CK_OK(gm_set_allocator(&al));
        gm_net *net = NULL;
        gm_layer *l;
        gm_tensor *x = NULL, *y = NULL, *x2 = NULL, *y2 = NULL;
        gm_status st = gm_net_create(&net);
        if (st == GM_OK && (st = gm_conv2d_create(&l, 2, 16, 3, 2, 1, GM_INIT_ZEROS, NULL)) == GM_OK &&
            (st = gm_net_add(net, l)) != GM_OK)
            gm_layer_free(l);
        if (st == GM_OK &&
            (st = gm_conv_transpose2d_create(&l, 16, 2, 4, 2, 1, GM_INIT_ZEROS, NULL)) == GM_OK &&
            (st = gm_net_add(net, l)) != GM_OK)
            gm_layer_free(l);
        if (st == GM_OK) st = gm_tensor_create(&x, 4, (size_t[]){3, 2, 8, 8});
        if (st == GM_OK) st = gm_tensor_create(&y, 4, (size_t[]){3, 2, 8, 8});
        if (st == GM_OK) st = gm_tensor_create(&x2, 4, (size_t[]){5, 2, 8, 8});
        if (st == GM_OK) st = gm_tensor_create(&y2, 4, (size_t[]){5, 2, 8, 8});
        if (st == GM_OK) st = gm_net_forward(net, x, y);
        if (st == GM_OK) st = gm_net_backward(net, y, x);
        gm_status st2 = GM_OK;
        if (st == GM_OK) st2 = gm_net_forward(net, x2, y2);
        if (st == GM_OK && calls_seen <= fail_at) {
            GM_CK_OK(st2);
            GM_CK_OK(gm_net_backward(net, y2, x2));
        }
        if (st == GM_OK && st2 != GM_OK) {
            /* the failed re-setup kept the last forward differentiable */
            ck_assert_msg(st2 == GM_ENOMEM, "k=%ld: %s", k, gm_last_error());
            ck_assert(strstr(gm_last_error(), "gm_net_forward") != NULL);
            fail_at = -1;
            GM_CK_OK(gm_net_backward(net, y, x));
            GM_CK_OK(gm_net_forward(net, x2, y2));
        } else if (st != GM_OK) {
            ck_assert_msg(st == GM_ENOMEM, "k=%ld: %s (%s)", k, gm_status_string(st),
                          gm_last_error());
            ck_assert(strlen(gm_last_error()) > 0);
        }
        const int done = calls_seen <= k && fail_at >= 0;
        gm_net_free(net);
        gm_tensor_free(x);
        gm_tensor_free(y);
        gm_tensor_free(x2);
        gm_tensor_free(y2);
        ck_assert_msg(gm_live_allocations() == 0, "k=%ld leaks %zu blocks", k,
                      gm_live_allocations());
        GM_CK_OK(gm_set_allocator(NULL));
        if (done) break;
    }
    ck_assert_msg(k > 10 && k < 500, "fault points exercised: %ld", k);
    gm__conv_force_im2col(old);
}
END_TEST

/* A oneDNN status left on a layer by a failed primitive becomes the net
 * call's error: out of memory is GM_ENOMEM, others GM_EINTERNAL, named
 * after the call and the layer; the next call runs normally. */
START_TEST(test_conv_dnnl_errors_map_to_status)
{
    ck_assert(gm__conv_dnnl_built());
    const int old = gm__conv_force_im2col(0);
    gm_net *d = dcgan_net(1, 3);
    gm_tensor *x, *y;
    GM_CK_OK(gm_tensor_create(&x, 4, (size_t[]){2, 1, 28, 28}));
    GM_CK_OK(gm_tensor_create(&y, 2, (size_t[]){2, 1}));
    GM_CK_OK(gm_net_forward(d, x, y));
    gm_layer *c = gm_net_layer(d, 2);
    ck_assert_ptr_nonnull(c->accel);
    c->accel_status = 1; /* dnnl_out_of_memory */
    GM_CK_ERR(GM_ENOMEM, "gm_net_forward", gm_net_forward(d, x, y));
    ck_assert(strstr(gm_last_error(), "conv2d") != NULL);
    GM_CK_ERR(GM_ESTATE, "gm_net_backward", gm_net_backward(d, y, NULL));
    GM_CK_OK(gm_net_forward(d, x, y));
    c->accel_status = 5; /* dnnl_runtime_error */
    GM_CK_ERR(GM_EINTERNAL, "gm_net_backward", gm_net_backward(d, y, NULL));
    ck_assert(strstr(gm_last_error(), "oneDNN") != NULL);
    GM_CK_OK(gm_net_forward(d, x, y));
    GM_CK_OK(gm_net_backward(d, y, NULL));
    gm_net_free(d);
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm__conv_force_im2col(old);
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
    /* _i = 0: the build's backend (oneDNN when built with it), 1: im2col */
    tcase_add_loop_test(tc, test_conv_steady_state_allocates_nothing, 0, 2);
    tcase_add_loop_test(tc, test_conv_allocation_failures_are_clean, 0, 2);
    if (gm__conv_dnnl_built()) {
        tcase_add_test(tc, test_conv_backends_agree_on_dcgan);
        tcase_add_test(tc, test_conv_dnnl_errors_map_to_status);
    }
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
