/* SPDX-License-Identifier: MIT */
/*
 * Writes the seed corpus of fuzz_checkpoint: tiny saved nets, VAEs and
 * GANs covering every layer kind and layer state (batchnorm statistics,
 * spectral-norm vectors, dropout streams), both optimizer families with
 * moments, conditional models and the likelihoods. Deterministic: the same
 * library writes the same bytes.
 *
 *   fuzz_make_seeds <dir>      (built with the tests: build/fuzz_make_seeds)
 *
 * scripts/fuzz.sh --seeds regenerates tests/fuzz/corpus/checkpoint/ with
 * it; commit the result when the checkpoint format changes.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/genmodel.h>

#define CK(e)                                                                 \
    do {                                                                      \
        gm_status s_ = (e);                                                   \
        if (s_ != GM_OK) {                                                    \
            fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #e,  \
                    gm_status_string(s_), gm_last_error());                   \
            exit(1);                                                          \
        }                                                                     \
    } while (0)

static const char *g_dir;
static gm_rng *g_rng;

static const char *path_of(const char *name)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void add(gm_net *net, gm_layer *l) { CK(gm_net_add(net, l)); }

static gm_layer *dense(size_t in, size_t out)
{
    gm_layer *l;
    CK(gm_dense_create(&l, in, out, GM_INIT_TORCH, g_rng));
    return l;
}

static gm_layer *spectral(gm_layer *l)
{
    CK(gm_layer_spectral_norm(l, 1, 1e-12f, g_rng));
    return l;
}

static gm_tensor *uniform(size_t ndim, const size_t *shape)
{
    gm_tensor *t;
    CK(gm_tensor_create(&t, ndim, shape));
    CK(gm_tensor_fill_uniform(t, g_rng));
    return t;
}

/* in -> hid -> out MLP with the given middle layer */
static gm_net *mlp(size_t in, size_t hid, size_t out, gm_layer *middle, int sn)
{
    gm_net *net;
    CK(gm_net_create(&net));
    add(net, sn ? spectral(dense(in, hid)) : dense(in, hid));
    if (middle) add(net, middle);
    gm_layer *a;
    CK(gm_leaky_relu_create(&a, 0.2f));
    add(net, a);
    add(net, dense(hid, out));
    return net;
}

static void seed_nets(void)
{
    /* a plain MLP, in evaluation mode */
    gm_net *net = mlp(3, 4, 2, NULL, 0);
    CK(gm_net_set_training(net, 0));
    CK(gm_net_save(net, path_of("net_mlp_eval.ckpt")));
    gm_net_free(net);

    /* every layer kind: [1 x 6 x 6] -> conv (spectral) -> batchnorm ->
     * elu -> transposed conv -> tanh -> flatten -> dropout -> dense ->
     * sigmoid -> reshape -> softplus -> relu, after one training forward
     * (running statistics, u/v, dropout step) */
    gm_layer *l;
    CK(gm_net_create(&net));
    CK(gm_conv2d_create(&l, 1, 2, 3, 1, 1, GM_INIT_HE, g_rng));
    add(net, spectral(l));
    CK(gm_batchnorm_create(&l, 2, 0.1f, 1e-5f));
    add(net, l);
    CK(gm_elu_create(&l, 1.0f));
    add(net, l);
    CK(gm_conv_transpose2d_create(&l, 2, 1, 2, 2, 1, GM_INIT_XAVIER, g_rng));
    add(net, l); /* 6x6 -> (6-1)*2 - 2 + 2 = 10x10 */
    CK(gm_tanh_create(&l));
    add(net, l);
    CK(gm_flatten_create(&l));
    add(net, l);
    CK(gm_dropout_create(&l, 0.3f, 9));
    add(net, l);
    add(net, dense(100, 4));
    CK(gm_sigmoid_create(&l));
    add(net, l);
    CK(gm_reshape_create(&l, 2, (const size_t[]){2, 2}));
    add(net, l);
    CK(gm_softplus_create(&l));
    add(net, l);
    CK(gm_relu_create(&l));
    add(net, l);
    gm_tensor *x = uniform(4, (const size_t[]){2, 1, 6, 6}), *y;
    CK(gm_tensor_create(&y, 3, (const size_t[]){2, 2, 2}));
    CK(gm_net_forward(net, x, y));
    CK(gm_net_set_trainable(net, 0, 0));
    CK(gm_net_save(net, path_of("net_all_layers.ckpt")));
    gm_tensor_free(x);
    gm_tensor_free(y);
    gm_net_free(net);
}

static void seed_vaes(void)
{
    gm_optimizer_options sgd;
    CK(gm_optimizer_options_init(&sgd, GM_OPT_SGD));
    sgd.momentum = 0.9f;
    sgd.nesterov = 1;
    struct {
        const char *name;
        int32_t likelihood;
        size_t classes;
        const gm_optimizer_options *opt;
    } cases[] = {
        {"vae_bernoulli.ckpt", GM_LIKELIHOOD_BERNOULLI, 0, NULL},
        {"vae_gauss_learned_cond.ckpt", GM_LIKELIHOOD_GAUSSIAN_LEARNED, 2, &sgd},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const size_t D = 4, L = 2, C = cases[i].classes;
        const size_t out = cases[i].likelihood == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? 2 * D : D;
        gm_layer *drop;
        CK(gm_dropout_create(&drop, 0.2f, 3));
        gm_net *enc = mlp(D + C, 5, 2 * L, drop, 0), *dec = mlp(L + C, 5, out, NULL, 0);
        gm_vae_options o;
        CK(gm_vae_options_init(&o));
        o.latent = L;
        o.likelihood = cases[i].likelihood;
        o.num_classes = C;
        o.kl_warmup_steps = 10;
        o.optimizer = cases[i].opt;
        o.seed = 5;
        gm_vae *vae;
        CK(gm_vae_create(&vae, enc, dec, &o));
        gm_tensor *x = uniform(2, (const size_t[]){3, D});
        const int32_t labels[3] = {0, 1, 1};
        for (int s = 0; s < 2; s++) CK(gm_vae_train_step(vae, x, C ? labels : NULL, NULL));
        CK(gm_vae_save(vae, path_of(cases[i].name)));
        gm_tensor_free(x);
        gm_vae_free(vae);
    }
}

static void seed_gans(void)
{
    const size_t D = 4, L = 2;
    gm_layer *bn, *drop;
    CK(gm_batchnorm_create(&bn, 5, 0.1f, 1e-5f));
    CK(gm_dropout_create(&drop, 0.25f, 4));
    gm_net *g = mlp(L, 5, D, bn, 0), *d = mlp(D, 5, 1, drop, 1);
    gm_gan_options o;
    CK(gm_gan_options_init(&o));
    o.latent = L;
    o.n_critic = 2;
    o.loss = GM_GAN_HINGE;
    o.seed = 6;
    o.ema_decay = 0.9f; /* the moving average's record */
    gm_gan *gan;
    CK(gm_gan_create(&gan, g, d, &o));
    gm_tensor *x = uniform(2, (const size_t[]){3, D});
    for (int s = 0; s < 2; s++) CK(gm_gan_train_step(gan, x, NULL, NULL));
    CK(gm_gan_save(gan, path_of("gan_hinge.ckpt")));
    gm_tensor_free(x);
    gm_gan_free(gan);

    /* conditional, Wasserstein with clipping, AdamW */
    gm_optimizer_options adamw;
    CK(gm_optimizer_options_init(&adamw, GM_OPT_ADAMW));
    g = mlp(L + 2, 5, D, NULL, 0);
    d = mlp(D + 2, 5, 1, NULL, 0);
    CK(gm_gan_options_init(&o));
    o.latent = L;
    o.num_classes = 2;
    o.loss = GM_GAN_WASSERSTEIN;
    o.weight_clip = 0.05f;
    o.g_optimizer = o.d_optimizer = &adamw;
    CK(gm_gan_create(&gan, g, d, &o));
    x = uniform(2, (const size_t[]){2, D});
    const int32_t labels[2] = {1, 0};
    CK(gm_gan_train_step(gan, x, labels, NULL));
    CK(gm_gan_save(gan, path_of("gan_wgan_cond.ckpt")));
    gm_tensor_free(x);
    gm_gan_free(gan);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <output dir>\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];
    CK(gm_set_num_threads(1));
    CK(gm_rng_create(&g_rng, 2024));
    seed_nets();
    seed_vaes();
    seed_gans();
    gm_rng_free(g_rng);
    printf("wrote the checkpoint seeds to %s\n", g_dir);
    return gm_live_allocations() == 0 ? 0 : 1;
}
