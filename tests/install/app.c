/* SPDX-License-Identifier: MIT */
/*
 * A program outside the source tree, built against an *installed*
 * libgenmodel (pkg-config shared, pkg-config --static, and CMake
 * find_package). It uses only <genmodel/genmodel.h> and exits non-zero on
 * any unexpected result.
 */
#include <genmodel/genmodel.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

static int failures = 0;

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "app.c:%d: FAILED: %s: ", __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            failures++;                                                     \
        }                                                                   \
    } while (0)

#define CHECK_OK(expr)                                                      \
    do {                                                                    \
        gm_status st_ = (expr);                                             \
        if (st_ != GM_OK) {                                                 \
            fprintf(stderr, "app.c:%d: %s -> %s: %s\n", __LINE__, #expr,    \
                    gm_status_string(st_), gm_last_error());                \
            return 1;                                                       \
        }                                                                   \
    } while (0)

enum { N = 5, IN = 4, HID = 8, OUT = 3 };

/* y = relu(x W1^T + b1) W2^T + b2, from the flat parameter layout of
 * layer.h (dense: weight [out x in] row-major, then bias [out]). */
static void reference_forward(const float *p, const float *x, float *y)
{
    const float *w1 = p, *b1 = w1 + HID * IN;
    const float *w2 = b1 + HID, *b2 = w2 + OUT * HID;
    for (int n = 0; n < N; n++) {
        float h[HID];
        for (int j = 0; j < HID; j++) {
            double s = b1[j];
            for (int i = 0; i < IN; i++) s += (double)x[n * IN + i] * w1[j * IN + i];
            h[j] = s > 0 ? (float)s : 0.0f;
        }
        for (int k = 0; k < OUT; k++) {
            double s = b2[k];
            for (int j = 0; j < HID; j++) s += (double)h[j] * w2[k * HID + j];
            y[n * OUT + k] = (float)s;
        }
    }
}

static int run(void)
{
    printf("libgenmodel %s (headers %s)\n", gm_version(), GM_VERSION_STRING);
    EXPECT(strcmp(gm_version(), GM_VERSION_STRING) == 0,
           "library %s, headers %s", gm_version(), GM_VERSION_STRING);
    EXPECT(gm_version_number() == GM_VERSION_NUMBER, "%u vs %u",
           (unsigned)gm_version_number(), (unsigned)GM_VERSION_NUMBER);
    EXPECT(gm_status_string(GM_EINVAL) != NULL &&
           gm_status_string(GM_EINVAL)[0] != '\0', "empty status string");

    gm_rng *rng = NULL;
    CHECK_OK(gm_rng_create(&rng, 42));

    /* A deliberate bad call: fails cleanly, names the function. */
    gm_layer *bad = NULL;
    gm_clear_error();
    gm_status st = gm_dense_create(&bad, 0, OUT, GM_INIT_HE, rng);
    EXPECT(st == GM_EINVAL, "gm_dense_create(in=0) returned %d (%s)",
           (int)st, gm_status_string(st));
    EXPECT(bad == NULL, "out not NULL after a failed create");
    EXPECT(strstr(gm_last_error(), "gm_dense_create") != NULL,
           "last error does not name the function: '%s'", gm_last_error());
    printf("expected error: %s\n", gm_last_error());

    /* dense(4->8) -> relu -> dense(8->3) */
    gm_net *net = NULL;
    gm_layer *layer = NULL;
    CHECK_OK(gm_net_create(&net));
    CHECK_OK(gm_dense_create(&layer, IN, HID, GM_INIT_HE, rng));
    CHECK_OK(gm_net_add(net, layer));
    CHECK_OK(gm_relu_create(&layer));
    CHECK_OK(gm_net_add(net, layer));
    CHECK_OK(gm_dense_create(&layer, HID, OUT, GM_INIT_XAVIER, rng));
    CHECK_OK(gm_net_add(net, layer));
    EXPECT(gm_net_num_layers(net) == 3, "%zu layers",
           gm_net_num_layers(net));
    size_t nparam = gm_net_param_count(net);
    EXPECT(nparam == (size_t)(HID * IN + HID + OUT * HID + OUT),
           "%zu parameters", nparam);

    size_t in_shape[2] = {N, IN}, out_shape[GM_MAX_DIMS] = {0}, out_ndim = 0;
    CHECK_OK(gm_net_output_shape(net, 2, in_shape, &out_ndim, out_shape));
    EXPECT(out_ndim == 2 && out_shape[0] == N && out_shape[1] == OUT,
           "output shape %zu-d [%zu x %zu]", out_ndim, out_shape[0],
           out_shape[1]);

    float xdata[N * IN];
    CHECK_OK(gm_rng_normal(rng, xdata, N * IN));
    gm_tensor *x = NULL, *y = NULL, *target = NULL, *dy = NULL;
    CHECK_OK(gm_tensor_from_data(&x, 2, in_shape, xdata));
    CHECK_OK(gm_tensor_create(&y, 2, out_shape));
    CHECK_OK(gm_net_forward(net, x, y));

    /* Compare with a forward pass computed here from the parameters. */
    float params[HID * IN + HID + OUT * HID + OUT];
    float expect_y[N * OUT], got_y[N * OUT];
    CHECK_OK(gm_net_get_params(net, params, nparam));
    reference_forward(params, xdata, expect_y);
    CHECK_OK(gm_tensor_copy_out(y, got_y, N * OUT));
    for (int i = 0; i < N * OUT; i++)
        EXPECT(fabsf(got_y[i] - expect_y[i]) <= 1e-4f + 1e-4f * fabsf(expect_y[i]),
               "y[%d] = %g, expected %g", i, (double)got_y[i],
               (double)expect_y[i]);
    printf("forward: y[0] = [%.5f %.5f %.5f]\n", (double)got_y[0],
           (double)got_y[1], (double)got_y[2]);

    /* A wrongly shaped output is refused and left alone. */
    size_t wrong_shape[2] = {N, OUT + 1};
    gm_tensor *wrong = NULL;
    CHECK_OK(gm_tensor_create(&wrong, 2, wrong_shape));
    gm_clear_error();
    st = gm_net_forward(net, x, wrong);
    EXPECT(st == GM_ESHAPE, "forward into a wrong shape returned %d (%s)",
           (int)st, gm_status_string(st));
    EXPECT(gm_last_error()[0] != '\0', "no error message");
    gm_tensor_free(wrong);

    /* A few Adam steps on an MSE regression: the loss must go down. */
    float tdata[N * OUT];
    CHECK_OK(gm_rng_normal(rng, tdata, N * OUT));
    CHECK_OK(gm_tensor_from_data(&target, 2, out_shape, tdata));
    CHECK_OK(gm_tensor_create(&dy, 2, out_shape));
    gm_optimizer_options opts;
    CHECK_OK(gm_optimizer_options_init(&opts, GM_OPT_ADAM));
    opts.lr = 0.01f;
    gm_optimizer *opt = NULL;
    CHECK_OK(gm_optimizer_create(&opt, net, &opts));
    float first = 0.0f, loss = 0.0f;
    for (int step = 0; step < 200; step++) {
        CHECK_OK(gm_net_zero_grad(net));
        CHECK_OK(gm_net_forward(net, x, y));
        CHECK_OK(gm_loss_mse(y, target, GM_REDUCE_MEAN, &loss, dy));
        CHECK_OK(gm_net_backward(net, dy, NULL));
        CHECK_OK(gm_optimizer_step(opt, net));
        if (step == 0) first = loss;
    }
    printf("mse: %.5f -> %.5f after %llu steps\n", (double)first,
           (double)loss, (unsigned long long)gm_optimizer_step_count(opt));
    EXPECT(isfinite(loss) && loss < 0.5f * first, "loss %g -> %g",
           (double)first, (double)loss);

    gm_optimizer_free(opt);
    gm_tensor_free(dy);
    gm_tensor_free(target);
    gm_tensor_free(y);
    gm_tensor_free(x);
    gm_net_free(net);
    gm_rng_free(rng);
    EXPECT(gm_live_allocations() == 0, "%zu blocks still allocated",
           gm_live_allocations());
    return 0;
}

int main(void)
{
    int rc = run();
    if (rc != 0 || failures != 0) {
        fprintf(stderr, "app: FAILED (%d failed checks)\n", failures);
        return 1;
    }
    printf("app: OK\n");
    return 0;
}
