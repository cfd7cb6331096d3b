// SPDX-License-Identifier: MIT
/* Gradient penalties (R1, WGAN-GP) through the layer engine: the value
 * against the net's own input gradient, the parameter gradient against
 * central finite differences of the penalty, on a dense critic with every
 * activation kind and a conv critic (conv, transposed conv, dropout,
 * flatten) on both convolution backends; error paths; no allocation in
 * steady state. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/penalty.h>

#include "engine/engine.h" /* gm__conv_force_im2col */
#include "gm_test.h"

#define ADD(net, call)                                                                     \
    do {                                                                                   \
        gm_layer *l_;                                                                      \
        GM_CK_OK(call);                                                                    \
        GM_CK_OK(gm_net_add(net, l_));                                                     \
    } while (0)

/* dense 6 -> 8 -> ... every activation ... -> 1 */
static gm_net *dense_critic(gm_rng *rng)
{
    gm_net *n;
    GM_CK_OK(gm_net_create(&n));
    ADD(n, gm_dense_create(&l_, 6, 8, GM_INIT_XAVIER, rng));
    ADD(n, gm_tanh_create(&l_));
    ADD(n, gm_dense_create(&l_, 8, 8, GM_INIT_XAVIER, rng));
    ADD(n, gm_sigmoid_create(&l_));
    ADD(n, gm_dense_create(&l_, 8, 8, GM_INIT_XAVIER, rng));
    ADD(n, gm_softplus_create(&l_));
    ADD(n, gm_dense_create(&l_, 8, 8, GM_INIT_XAVIER, rng));
    ADD(n, gm_elu_create(&l_, 0.7f));
    ADD(n, gm_dense_create(&l_, 8, 8, GM_INIT_XAVIER, rng));
    ADD(n, gm_leaky_relu_create(&l_, 0.2f));
    ADD(n, gm_dense_create(&l_, 8, 8, GM_INIT_XAVIER, rng));
    ADD(n, gm_relu_create(&l_));
    ADD(n, gm_dense_create(&l_, 8, 1, GM_INIT_XAVIER, rng));
    return n;
}

/* [2 x 5 x 5] -> convT(2->3, k3 s1 p1) tanh -> conv(3->4, k3 s2 p1) elu
 * -> dropout -> flatten -> dense 36 -> 1 */
static gm_net *conv_critic(gm_rng *rng)
{
    gm_net *n;
    GM_CK_OK(gm_net_create(&n));
    ADD(n, gm_conv_transpose2d_create(&l_, 2, 3, 3, 1, 1, GM_INIT_XAVIER, rng));
    ADD(n, gm_tanh_create(&l_));
    ADD(n, gm_conv2d_create(&l_, 3, 4, 3, 2, 1, GM_INIT_XAVIER, rng));
    ADD(n, gm_elu_create(&l_, 1.0f));
    ADD(n, gm_dropout_create(&l_, 0.25f, 7));
    ADD(n, gm_flatten_create(&l_));
    ADD(n, gm_dense_create(&l_, 36, 1, GM_INIT_XAVIER, rng));
    return n;
}

/* The penalty at the net's current parameters, gradients zeroed first;
 * GP draws from a fresh rng of seed 3 each time (the same eps). */
static double penalty(gm_net *net, int gp, gm_tensor *x, gm_tensor *f, float *grads)
{
    float p;
    GM_CK_OK(gm_net_zero_grad(net));
    if (gp) {
        gm_rng *r;
        GM_CK_OK(gm_rng_create(&r, 3));
        GM_CK_OK(gm_net_penalty_gp(net, x, f, 2.5f, r, &p));
        gm_rng_free(r);
    } else {
        GM_CK_OK(gm_net_penalty_r1(net, x, 1.5f, &p));
    }
    if (grads) GM_CK_OK(gm_net_get_grads(net, grads, gm_net_param_count(net)));
    return p;
}

/* R1's value from the net's own first-order input gradient. */
static double r1_direct(gm_net *net, gm_tensor *x, double gamma)
{
    const size_t n = x->shape[0];
    size_t ys[2] = {n, 1};
    gm_tensor *y, *dy, *dx;
    GM_CK_OK(gm_tensor_create(&y, 2, ys));
    GM_CK_OK(gm_tensor_create(&dy, 2, ys));
    GM_CK_OK(gm_tensor_create(&dx, x->ndim, x->shape));
    for (size_t i = 0; i < n; i++) gm_tensor_data(dy)[i] = 1.0f;
    GM_CK_OK(gm_net_forward(net, x, y));
    GM_CK_OK(gm_net_zero_grad(net));
    GM_CK_OK(gm_net_backward(net, dy, dx));
    double s = 0.0;
    for (size_t k = 0; k < gm_tensor_numel(dx); k++)
        s += (double)gm_tensor_data(dx)[k] * gm_tensor_data(dx)[k];
    gm_tensor_free(y);
    gm_tensor_free(dy);
    gm_tensor_free(dx);
    return gamma / 2.0 * s / (double)n;
}

static void check(gm_net *net, size_t ndim, const size_t *shape, int gp)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 11));
    gm_tensor *x, *f;
    GM_CK_OK(gm_tensor_create(&x, ndim, shape));
    GM_CK_OK(gm_tensor_create(&f, ndim, shape));
    GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(x), gm_tensor_numel(x)));
    GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(f), gm_tensor_numel(f)));
    const size_t P = gm_net_param_count(net);
    float *th = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
    float *fd = malloc(P * sizeof(float));
    GM_CK_OK(gm_net_get_params(net, th, P));
    const double p0 = penalty(net, gp, x, f, g);
    ck_assert(isfinite(p0) && p0 > 0.0);
    if (!gp) {
        const double d = r1_direct(net, x, 1.5);
        ck_assert_msg(fabs(d - p0) <= 1e-5 * fabs(d) + 1e-7, "R1 %.9g vs direct %.9g", p0, d);
    }
    /* central differences in float32 parameters, h = 1e-2 of scale */
    double worst = 0.0;
    for (size_t k = 0; k < P; k++) {
        const float t = th[k], h = 1e-2f;
        th[k] = t + h;
        GM_CK_OK(gm_net_set_params(net, th, P));
        const double pp = penalty(net, gp, x, f, NULL);
        th[k] = t - h;
        GM_CK_OK(gm_net_set_params(net, th, P));
        const double pm = penalty(net, gp, x, f, NULL);
        th[k] = t;
        fd[k] = (float)((pp - pm) / (2.0 * (double)h));
        const double e = fabs((double)fd[k] - g[k]);
        if (e > worst) worst = e;
    }
    GM_CK_OK(gm_net_set_params(net, th, P));
    double gmax = 0.0;
    for (size_t k = 0; k < P; k++) gmax = fmax(gmax, fabs((double)g[k]));
    ck_assert(gmax > 1e-3);
    fprintf(stderr, "%s %zu params: P = %.6g, |g|max = %.4g, worst |fd - g| = %.3g\n",
            gp ? "GP" : "R1", P, p0, gmax, worst);
    gm_ck_close(g, fd, P, 2e-3 * gmax, 2e-2, gp ? "gp vs fd" : "r1 vs fd");
    free(th);
    free(g);
    free(fd);
    gm_tensor_free(x);
    gm_tensor_free(f);
    gm_rng_free(rng);
}

START_TEST(test_dense_critic_fd)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    gm_net *net = dense_critic(rng);
    const size_t shape[2] = {5, 6};
    check(net, 2, shape, _i);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

/* _i: bit 0 GP, bit 1 im2col forced */
START_TEST(test_conv_critic_fd)
{
    const int old = gm__conv_force_im2col(_i >> 1);
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 6));
    gm_net *net = conv_critic(rng);
    GM_CK_OK(gm_net_set_training(net, 0)); /* dropout: a fixed mask is identity in eval */
    const size_t shape[4] = {3, 2, 5, 5};
    check(net, 4, shape, _i & 1);
    gm_net_free(net);
    gm_rng_free(rng);
    gm__conv_force_im2col(old);
}
END_TEST

/* Training-mode dropout: its mask is fixed within a call; the value still
 * matches the first-order gradient of the same mask (R1 direct uses the
 * next mask, so compare the gradient of two calls with the mask stream
 * reset instead: the net is made twice from the same seeds). */
START_TEST(test_dropout_training_mask_fixed)
{
    gm_rng *r1, *r2;
    GM_CK_OK(gm_rng_create(&r1, 6));
    GM_CK_OK(gm_rng_create(&r2, 6));
    gm_net *a = conv_critic(r1), *b = conv_critic(r2);
    const size_t shape[4] = {3, 2, 5, 5};
    gm_tensor *x;
    GM_CK_OK(gm_tensor_create(&x, 4, shape));
    GM_CK_OK(gm_rng_normal(r1, gm_tensor_data(x), gm_tensor_numel(x)));
    float pa, pb;
    GM_CK_OK(gm_net_zero_grad(a));
    GM_CK_OK(gm_net_zero_grad(b));
    GM_CK_OK(gm_net_penalty_r1(a, x, 1.0f, &pa));
    GM_CK_OK(gm_net_penalty_r1(b, x, 1.0f, &pb));
    ck_assert(pa == pb && pa > 0.0f);
    const size_t P = gm_net_param_count(a);
    float *ga = malloc(P * sizeof(float)), *gb = malloc(P * sizeof(float));
    GM_CK_OK(gm_net_get_grads(a, ga, P));
    GM_CK_OK(gm_net_get_grads(b, gb, P));
    ck_assert(memcmp(ga, gb, P * sizeof(float)) == 0);
    /* accumulates: a second call adds the next mask's gradient */
    GM_CK_OK(gm_net_penalty_r1(a, x, 1.0f, &pa));
    GM_CK_OK(gm_net_get_grads(a, gb, P));
    int changed = 0;
    for (size_t k = 0; k < P; k++) changed |= ga[k] != gb[k];
    ck_assert(changed);
    free(ga);
    free(gb);
    gm_tensor_free(x);
    gm_net_free(a);
    gm_net_free(b);
    gm_rng_free(r1);
    gm_rng_free(r2);
}
END_TEST

/* ---- torch reference (tests/reference/penalty_reference.py) ------------ */
typedef struct {
    char name[64];
    size_t n;
    double *v;
} fx_rec;

/* Reads every record of tests/data/reference_penalty.txt (format of
 * tests/reference/make_reference.py); returns the count. */
static size_t fx_load(fx_rec *recs, size_t cap)
{
    char path[512];
    snprintf(path, sizeof path, "%s/reference_penalty.txt", GM_TEST_DATA_DIR);
    FILE *fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot read %s", path);
    char line[4096];
    ck_assert(fgets(line, sizeof line, fp) && strncmp(line, "genmodel-reference 1", 20) == 0);
    size_t k = 0;
    int c;
    while ((c = fgetc(fp)) != EOF) {
        if (c == '#') {
            ck_assert(fgets(line, sizeof line, fp) != NULL);
            continue;
        }
        if (c == '\n' || c == ' ') continue;
        ungetc(c, fp);
        ck_assert(k < cap);
        size_t nd, d, n = 1;
        ck_assert(fscanf(fp, "%63s %zu", recs[k].name, &nd) == 2);
        for (size_t i = 0; i < nd; i++) {
            ck_assert(fscanf(fp, "%zu", &d) == 1);
            n *= d;
        }
        recs[k].n = n;
        recs[k].v = malloc(n * sizeof(double));
        for (size_t i = 0; i < n; i++) ck_assert(fscanf(fp, "%lf", &recs[k].v[i]) == 1);
        k++;
    }
    fclose(fp);
    return k;
}

static const fx_rec *fx_get(const fx_rec *recs, size_t nrec, const char *pre, const char *suf)
{
    char name[64];
    snprintf(name, sizeof name, "%s.%s", pre, suf);
    for (size_t i = 0; i < nrec; i++)
        if (strcmp(recs[i].name, name) == 0) return &recs[i];
    ck_abort_msg("missing record %s", name);
    return NULL;
}

/* The penalty and gradients against torch float64 on x (GP: real = fake
 * = x^, so the interpolate is x^ up to float32 rounding of the mix).
 * Agreement measured: relative to the value, and to the largest gradient. */
static void torch_case(const char *pre, gm_net *net, size_t ndim, const size_t *shape)
{
    fx_rec recs[32];
    const size_t nrec = fx_load(recs, 32);
    const size_t P = gm_net_param_count(net);
    const fx_rec *px = fx_get(recs, nrec, pre, "x"), *pp = fx_get(recs, nrec, pre, "params");
    ck_assert_uint_eq(pp->n, P);
    float *th = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
    for (size_t k = 0; k < P; k++) th[k] = (float)pp->v[k];
    GM_CK_OK(gm_net_set_params(net, th, P));
    gm_tensor *x;
    GM_CK_OK(gm_tensor_create(&x, ndim, shape));
    ck_assert_uint_eq(px->n, gm_tensor_numel(x));
    for (size_t k = 0; k < px->n; k++) gm_tensor_data(x)[k] = (float)px->v[k];
    for (int gp = 0; gp < 2; gp++) {
        const double p = penalty(net, gp, x, x, g);
        const fx_rec *rv = fx_get(recs, nrec, pre, gp ? "gp" : "r1");
        const fx_rec *rg = fx_get(recs, nrec, pre, gp ? "gp_grads" : "r1_grads");
        ck_assert_uint_eq(rg->n, P);
        double gmax = 0.0, err = 0.0;
        for (size_t k = 0; k < P; k++) gmax = fmax(gmax, fabs(rg->v[k]));
        for (size_t k = 0; k < P; k++) err = fmax(err, fabs((double)g[k] - rg->v[k]));
        const double rel_p = fabs(p - rv->v[0]) / fabs(rv->v[0]), rel_g = err / gmax;
        fprintf(stderr, "torch %s %s: P %.9g vs %.9g (rel %.2g), grads max err / max |g| = %.2g\n",
                pre, gp ? "GP" : "R1", p, rv->v[0], rel_p, rel_g);
        ck_assert_msg(rel_p < 1e-5, "%s penalty rel error %g", pre, rel_p);
        ck_assert_msg(rel_g < 1e-5, "%s gradient rel error %g", pre, rel_g);
    }
    for (size_t i = 0; i < nrec; i++) free(recs[i].v);
    free(th);
    free(g);
    gm_tensor_free(x);
}

START_TEST(test_torch_dense)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    gm_net *net = dense_critic(rng);
    const size_t shape[2] = {5, 6};
    torch_case("dense", net, 2, shape);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

START_TEST(test_torch_conv)
{
    const int old = gm__conv_force_im2col(_i);
    /* a oneDNN build runs the first pass on oneDNN, the second on im2col */
    ck_assert_int_eq(gm__conv_uses_dnnl(), gm__conv_dnnl_built() && !_i);
    fprintf(stderr, "conv backend: %s\n", gm__conv_uses_dnnl() ? "oneDNN" : "im2col");
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 6));
    gm_net *net = conv_critic(rng);
    GM_CK_OK(gm_net_set_training(net, 0)); /* dropout off, as in torch's model */
    const size_t shape[4] = {3, 2, 5, 5};
    torch_case("conv", net, 4, shape);
    gm_net_free(net);
    gm_rng_free(rng);
    gm__conv_force_im2col(old);
}
END_TEST

START_TEST(test_errors)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 5));
    gm_net *net = dense_critic(rng);
    const size_t s[2] = {4, 6}, s2[2] = {4, 5}, s3[2] = {3, 6};
    gm_tensor *x, *bad, *f3;
    GM_CK_OK(gm_tensor_create(&x, 2, s));
    GM_CK_OK(gm_tensor_create(&bad, 2, s2));
    GM_CK_OK(gm_tensor_create(&f3, 2, s3));
    GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(x), gm_tensor_numel(x)));
    const size_t P = gm_net_param_count(net);
    float *g0 = malloc(P * sizeof(float)), *g1 = malloc(P * sizeof(float));
    for (size_t k = 0; k < P; k++) g0[k] = (float)k * 0.25f;
    GM_CK_OK(gm_net_set_grads(net, g0, P));
    uint64_t seed0, pos0, seed1, pos1;
    GM_CK_OK(gm_rng_get_state(rng, &seed0, &pos0));
    float p = 42.0f;
    ck_assert_int_eq(gm_net_penalty_r1(NULL, x, 1.0f, &p), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_r1(net, NULL, 1.0f, &p), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_r1(net, x, 1.0f, NULL), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_r1(net, x, NAN, &p), GM_EINVAL);
    ck_assert(strstr(gm_last_error(), "gm_net_penalty_r1") && strstr(gm_last_error(), "gamma"));
    ck_assert_int_eq(gm_net_penalty_r1(net, x, -1.0f, &p), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_r1(net, bad, 1.0f, &p), GM_ESHAPE);
    ck_assert(strstr(gm_last_error(), "gm_net_penalty_r1"));
    gm_tensor_data(x)[3] = INFINITY;
    ck_assert_int_eq(gm_net_penalty_r1(net, x, 1.0f, &p), GM_EINVAL);
    ck_assert(strstr(gm_last_error(), "real[3]"));
    ck_assert_int_eq(gm_net_penalty_gp(net, x, x, 1.0f, rng, &p), GM_EINVAL);
    gm_tensor_data(x)[3] = 0.5f;
    ck_assert_int_eq(gm_net_penalty_gp(NULL, x, x, 1.0f, rng, &p), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_gp(net, NULL, x, 1.0f, rng, &p), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_gp(net, x, NULL, 1.0f, rng, &p), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_gp(net, x, x, 1.0f, NULL, &p), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_gp(net, x, x, 1.0f, rng, NULL), GM_EINVAL);
    ck_assert_int_eq(gm_net_penalty_gp(net, x, x, INFINITY, rng, &p), GM_EINVAL);
    ck_assert(strstr(gm_last_error(), "lambda"));
    ck_assert_int_eq(gm_net_penalty_gp(net, x, f3, 1.0f, rng, &p), GM_ESHAPE);
    ck_assert(strstr(gm_last_error(), "fake"));
    ck_assert_int_eq(gm_net_penalty_gp(net, bad, bad, 1.0f, rng, &p), GM_ESHAPE);
    ck_assert(p == 42.0f);
    GM_CK_OK(gm_rng_get_state(rng, &seed1, &pos1));
    ck_assert(seed0 == seed1 && pos0 == pos1);
    GM_CK_OK(gm_net_get_grads(net, g1, P));
    ck_assert(memcmp(g0, g1, P * sizeof(float)) == 0);
    /* batchnorm: refused naming the layer index and kind */
    gm_net *bn;
    GM_CK_OK(gm_net_create(&bn));
    ADD(bn, gm_dense_create(&l_, 6, 4, GM_INIT_XAVIER, rng));
    ADD(bn, gm_batchnorm_create(&l_, 4, 0.1f, 1e-5f));
    ADD(bn, gm_dense_create(&l_, 4, 1, GM_INIT_XAVIER, rng));
    GM_CK_OK(gm_rng_get_state(rng, &seed0, &pos0));
    ck_assert_int_eq(gm_net_penalty_r1(bn, x, 1.0f, &p), GM_EUNSUPPORTED);
    ck_assert_msg(strstr(gm_last_error(), "gm_net_penalty_r1") &&
                      strstr(gm_last_error(), "layer 1 (batchnorm)"),
                  "%s", gm_last_error());
    ck_assert_int_eq(gm_net_penalty_gp(bn, x, x, 1.0f, rng, &p), GM_EUNSUPPORTED);
    GM_CK_OK(gm_rng_get_state(rng, &seed1, &pos1));
    ck_assert(pos0 == pos1);
    /* more than one value per row */
    gm_net *wide;
    GM_CK_OK(gm_net_create(&wide));
    ADD(wide, gm_dense_create(&l_, 6, 2, GM_INIT_XAVIER, rng));
    GM_CK_ERR(GM_ESHAPE, "gm_net_penalty_r1", gm_net_penalty_r1(wide, x, 1.0f, &p));
    ck_assert(strstr(gm_last_error(), "one value per row"));
    gm_net_free(wide);
    /* a net with no layers: refused naming the public function */
    gm_net *empty;
    GM_CK_OK(gm_net_create(&empty));
    GM_CK_ERR(GM_ESTATE, "gm_net_penalty_gp", gm_net_penalty_gp(empty, x, x, 1.0f, rng, &p));
    ck_assert(strstr(gm_last_error(), "no layers"));
    gm_net_free(empty);
    gm_net_free(bn);
    free(g0);
    free(g1);
    gm_tensor_free(x);
    gm_tensor_free(bad);
    gm_tensor_free(f3);
    gm_net_free(net);
    gm_rng_free(rng);
}
END_TEST

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

/* After the first call for a batch shape, penalty calls allocate nothing. */
START_TEST(test_steady_state_allocates_nothing)
{
    ck_assert_uint_eq(gm_live_allocations(), 0);
    gm_allocator al = {count_malloc, count_realloc, count_free, NULL};
    GM_CK_OK(gm_set_allocator(&al));
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 6));
    gm_net *net = conv_critic(rng);
    const size_t shape[4] = {3, 2, 5, 5};
    gm_tensor *x, *f;
    GM_CK_OK(gm_tensor_create(&x, 4, shape));
    GM_CK_OK(gm_tensor_create(&f, 4, shape));
    GM_CK_OK(gm_rng_normal(rng, gm_tensor_data(x), gm_tensor_numel(x)));
    float p;
    GM_CK_OK(gm_net_penalty_gp(net, x, f, 10.0f, rng, &p));
    GM_CK_OK(gm_net_penalty_r1(net, x, 1.0f, &p));
    const long before = alloc_calls;
    for (int k = 0; k < 3; k++) {
        GM_CK_OK(gm_net_penalty_gp(net, x, f, 10.0f, rng, &p));
        GM_CK_OK(gm_net_penalty_r1(net, x, 1.0f, &p));
    }
    ck_assert_int_eq(alloc_calls, before);
    gm_tensor_free(x);
    gm_tensor_free(f);
    gm_net_free(net);
    gm_rng_free(rng);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("penalty");
    TCase *tc = tcase_create("penalty");
    tcase_set_timeout(tc, 300);
    tcase_add_loop_test(tc, test_dense_critic_fd, 0, 2);
    tcase_add_loop_test(tc, test_conv_critic_fd, 0, 4);
    tcase_add_test(tc, test_dropout_training_mask_fixed);
    tcase_add_test(tc, test_torch_dense);
    tcase_add_loop_test(tc, test_torch_conv, 0, 2);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_steady_state_allocates_nothing);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
