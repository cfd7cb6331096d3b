/* SPDX-License-Identifier: MIT */
/*
 * quickstart: the README's example, built and run by the tests so that the
 * README cannot drift from the API. Learns y = 2x - 1 with a 1-16-1 MLP.
 */
#include <stdio.h>
#include <genmodel/genmodel.h>

#define CHECK(e) do { gm_status s_ = (e); if (s_ != GM_OK) { \
    fprintf(stderr, "%s: %s\n", gm_status_string(s_), gm_last_error()); return 1; } } while (0)

int main(void)
{
    /* y = 2x - 1 learned by a 1-16-1 MLP */
    float xs[64], ts[64];
    for (int i = 0; i < 64; i++) { xs[i] = i / 32.0f - 1.0f; ts[i] = 2 * xs[i] - 1; }

    gm_rng *rng;   gm_net *net;   gm_layer *l;   gm_optimizer *opt;
    CHECK(gm_rng_create(&rng, 42));
    CHECK(gm_net_create(&net));
    CHECK(gm_dense_create(&l, 1, 16, GM_INIT_HE, rng));  CHECK(gm_net_add(net, l));
    CHECK(gm_relu_create(&l));                           CHECK(gm_net_add(net, l));
    CHECK(gm_dense_create(&l, 16, 1, GM_INIT_HE, rng));  CHECK(gm_net_add(net, l));
    CHECK(gm_optimizer_create(&opt, net, NULL));          /* Adam, lr 1e-3 */

    gm_tensor *x, *t, *y, *g;
    size_t shape[2] = {64, 1};
    CHECK(gm_tensor_wrap(&x, 2, shape, xs));              /* borrows xs, no copy */
    CHECK(gm_tensor_wrap(&t, 2, shape, ts));
    CHECK(gm_tensor_create(&y, 2, shape));
    CHECK(gm_tensor_create(&g, 2, shape));
    float loss = 0;
    for (int step = 0; step < 2000; step++) {
        CHECK(gm_net_zero_grad(net));
        CHECK(gm_net_forward(net, x, y));
        CHECK(gm_loss_mse(y, t, GM_REDUCE_MEAN, &loss, g));
        CHECK(gm_net_backward(net, g, NULL));
        CHECK(gm_optimizer_step(opt, net));
    }
    printf("final loss %g\n", loss);

    gm_tensor_free(x); gm_tensor_free(t); gm_tensor_free(y); gm_tensor_free(g);
    gm_optimizer_free(opt); gm_net_free(net);   /* the net frees its layers */
    gm_rng_free(rng);
    return loss < 0.01f ? 0 : 1;
}
