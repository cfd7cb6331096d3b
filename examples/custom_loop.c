/* SPDX-License-Identifier: MIT */
/*
 * custom_loop: a VAE train step written out by hand from the exported
 * pieces, checked bit for bit against gm_vae_train_step.
 *
 *   custom_loop [--steps N] [--seed N] [--data DIR] [--train-limit N]  (--help: defaults)
 *
 * The reference VAE of vae_fashion (encoder 784-400 ReLU-40, decoder
 * 20-400 ReLU-784 logits, Bernoulli likelihood, Adam lr 1e-3, batch 128) is
 * built twice from identically seeded generators: once as loose nets with
 * our own optimizers and noise generator, trained by custom_step() below,
 * and once as a gm_vae trained by gm_vae_train_step on the same batches.
 * After every step all parameters and the loss values of the two must be
 * equal bit for bit. Start from custom_step() to add your own loss terms:
 * add their gradients to dout (decoder output) or dh (encoder output)
 * before the backward passes. Prints progress (mean losses) and a last line
 * of key=value pairs (loss: the last step's); exits 1 if the two differ.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <genmodel/genmodel.h>

#include "example_args.h"

#define CHECK(expr)                                                                     \
    do {                                                                                \
        gm_status st_ = (expr);                                                         \
        if (st_ != GM_OK) {                                                             \
            fprintf(stderr, "custom_loop: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                   \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

enum { D = 784, H = 400, L = 20, B = 128 };

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static gm_net *mlp(size_t in, size_t hidden, size_t out, gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    CHECK(gm_net_create(&net));
    CHECK(gm_dense_create(&l, in, hidden, GM_INIT_TORCH, rng));
    CHECK(gm_net_add(net, l));
    CHECK(gm_relu_create(&l));
    CHECK(gm_net_add(net, l));
    CHECK(gm_dense_create(&l, hidden, out, GM_INIT_TORCH, rng));
    CHECK(gm_net_add(net, l));
    return net;
}

static gm_tensor *t2(size_t rows, size_t cols)
{
    gm_tensor *t;
    CHECK(gm_tensor_create(&t, 2, (size_t[]){rows, cols})); /* zero-filled */
    return t;
}

/* What a hand-written loop owns: what gm_vae owns inside, plus buffers. */
typedef struct loop {
    gm_net *enc, *dec;
    gm_optimizer *opt_enc, *opt_dec; /* one optimizer per net */
    gm_rng *noise;                   /* the training generator: draws eps only */
    gm_tensor *h, *dh;               /* encoder output [B x 2L]: mu | logvar */
    gm_tensor *eps, *z, *dz;         /* [B x L] */
    gm_tensor *out, *dout;           /* decoder output [B x D]: logits */
} loop;

/* One train step on the batch x [B x D]; rec and kl are batch means. */
static void custom_step(loop *lp, const gm_tensor *x, float beta, float *rec, float *kl)
{
    /* 1. Gradients accumulate (+=) in backward: clear both nets' first. */
    CHECK(gm_net_zero_grad(lp->enc));
    CHECK(gm_net_zero_grad(lp->dec));
    /* 2. Encode: h = encoder(x); row i is mu_i (L values), then logvar_i. */
    CHECK(gm_net_forward(lp->enc, x, lp->h));
    /* 3. Noise eps ~ N(0, I), [B x L] in row-major order, from the training
     *    generator. Draw nothing else from it, or the stream shifts. */
    CHECK(gm_tensor_fill_normal(lp->eps, lp->noise));
    /* 4. Reparameterize: z = mu + exp(logvar / 2) * eps. */
    CHECK(gm_vae_reparameterize(lp->h, lp->eps, lp->z));
    /* 5. Decode: logits = decoder(z). */
    CHECK(gm_net_forward(lp->dec, lp->z, lp->out));
    /* 6. Reconstruction term: Bernoulli NLL summed over the 784 pixels,
     *    mean over the batch; dout is WRITTEN with d(rec)/d(logits).
     *    (Your own terms on the output: add their gradients to dout now.) */
    CHECK(gm_vae_recon_nll(GM_LIKELIHOOD_BERNOULLI, lp->out, x, 0.0f, rec, NULL, lp->dout));
    /* 7. KL term. Its gradient, times beta, is ADDED to dh, and so is the
     *    reparameterization's below: dh must start at zero each step. */
    CHECK(gm_tensor_fill(lp->dh, 0.0f));
    CHECK(gm_vae_kl(lp->h, kl, NULL, lp->dh, beta));
    /* 8. Decoder backward: accumulates the decoder's parameter gradients
     *    and writes dz = d(loss)/dz (the decoder's input gradient; with
     *    labels joined to z it would be the first L columns). */
    CHECK(gm_net_backward(lp->dec, lp->dout, lp->dz));
    /* 9. Through z = mu + exp(logvar / 2) * eps into dh (added). */
    CHECK(gm_vae_reparameterize_backward(lp->h, lp->eps, lp->dz, lp->dh));
    /* 10. Encoder backward: its parameter gradients; x needs no gradient. */
    CHECK(gm_net_backward(lp->enc, lp->dh, NULL));
    /* 11. Update the encoder, then the decoder. (gm_optimizer_step refuses
     *     non-finite gradients, but per net: gm_vae_train_step checks the
     *     loss and both nets' gradients (gm_net_grad_norm) before either.) */
    CHECK(gm_optimizer_step(lp->opt_enc, lp->enc));
    CHECK(gm_optimizer_step(lp->opt_dec, lp->dec));
}

/* Compares net a's parameters with b's: 1 if bit-identical; *max_diff
 * grows to the largest |a - b|. pa and pb hold at least the count. */
static int same_params(const gm_net *a, const gm_net *b, float *pa, float *pb, double *max_diff)
{
    const size_t n = gm_net_param_count(a);
    if (n != gm_net_param_count(b)) return 0;
    CHECK(gm_net_get_params(a, pa, n));
    CHECK(gm_net_get_params(b, pb, n));
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)pa[i] - (double)pb[i]);
        if (d > *max_diff || d != d) *max_diff = d;
    }
    return memcmp(pa, pb, n * sizeof(float)) == 0;
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    int n_steps = 200;
    size_t train_limit = 0;
    const char *data = "/usr/share/datasets/fashion-mnist";
    ex_option opts[] = {
        EX_INT("--steps", &n_steps, 1, 100000000, "training steps of both loops"),
        EX_U64("--seed", &seed, "seed of the initial weights, the shuffles and the noise"),
        EX_STR("--data", &data, "DIR", "folder of the Fashion-MNIST IDX files"),
        EX_SIZE("--train-limit", &train_limit, 0, 60000, "train on the first N images; 0: all"),
    };
    ex_parse(argc, argv, "custom_loop",
             "Trains the reference VAE of vae_fashion twice, with a train step written out by\n"
             "hand from the exported pieces and with gm_vae_train_step, and checks after every\n"
             "step that the two stay equal bit for bit; exits 1 if they differ.",
             opts, EX_COUNT(opts));
    const long steps = n_steps;
    char path[1024];
    gm_tensor *train;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&train, path, train_limit));
    const size_t n_train = gm_tensor_dim(train, 0), per_epoch = n_train / B;
    if (per_epoch == 0) return fprintf(stderr, "custom_loop: fewer than %d images\n", B), 1;
    printf("libgenmodel %s: custom VAE loop vs gm_vae_train_step, %zu train images, seed %llu, "
           "%ld steps, %d BLAS threads\n",
           gm_version(), n_train, seed, steps, gm_get_num_threads());

    /* Two generators with one seed give two identical pairs of nets. */
    gm_rng *init_mine, *init_vae;
    CHECK(gm_rng_create(&init_mine, seed));
    CHECK(gm_rng_create(&init_vae, seed));
    loop lp = {0};
    lp.enc = mlp(D, H, 2 * L, init_mine);
    lp.dec = mlp(L, H, D, init_mine);
    gm_net *venc = mlp(D, H, 2 * L, init_vae), *vdec = mlp(L, H, D, init_vae);

    /* The gm_vae: options.optimizer NULL = Adam lr 1e-3 for both nets. */
    gm_vae_options o;
    CHECK(gm_vae_options_init(&o));
    o.latent = L;
    o.seed = seed;
    gm_vae *vae;
    CHECK(gm_vae_create(&vae, venc, vdec, &o)); /* owns venc and vdec now */

    /* What gm_vae_create makes inside, through the public API: an optimizer
     * per net with the same settings (NULL = Adam lr 1e-3), and the training
     * generator at position 0 of the stream for options.seed. (Its second
     * generator, for sampling and evaluation, never touches training.) */
    CHECK(gm_optimizer_create(&lp.opt_enc, lp.enc, NULL));
    CHECK(gm_optimizer_create(&lp.opt_dec, lp.dec, NULL));
    CHECK(gm_rng_create(&lp.noise, o.seed));
    lp.h = t2(B, 2 * L), lp.dh = t2(B, 2 * L);
    lp.eps = t2(B, L), lp.z = t2(B, L), lp.dz = t2(B, L);
    lp.out = t2(B, D), lp.dout = t2(B, D);

    const size_t ne = gm_net_param_count(lp.enc), nd = gm_net_param_count(lp.dec);
    const size_t np = ne > nd ? ne : nd;
    float *pa = malloc(np * sizeof *pa), *pb = malloc(np * sizeof *pb);
    size_t *order = malloc(n_train * sizeof *order);
    float *u = malloc(n_train * sizeof *u);
    if (!pa || !pb || !order || !u) return 1;
    for (size_t i = 0; i < n_train; i++) order[i] = i;
    gm_tensor *x = t2(B, D);

    /* Both models get every batch; the order comes from init_mine (done
     * with initialization), never from either training generator. */
    const long every = steps >= 10 ? steps / 10 : 1;
    double max_diff = 0, t0 = now(), window = 0;
    long first_bad = 0;
    float loss = 0;
    for (long s = 0; s < steps; s++) {
        const size_t b = (size_t)s % per_epoch;
        if (b == 0) { /* a new epoch: Fisher-Yates shuffle */
            CHECK(gm_rng_uniform(init_mine, u, n_train));
            for (size_t i = n_train - 1; i > 0; i--) {
                size_t j = (size_t)(u[i] * (float)(i + 1)), t;
                if (j > i) j = i;
                t = order[i], order[i] = order[j], order[j] = t;
            }
        }
        for (size_t i = 0; i < B; i++)
            memcpy(gm_tensor_data(x) + i * D, gm_tensor_data_const(train) + order[b * B + i] * D,
                   D * sizeof(float));

        float rec, kl;
        custom_step(&lp, x, o.beta, &rec, &kl);
        loss = rec + o.beta * kl; /* the negative ELBO with beta = 1 */
        gm_vae_stats st;
        CHECK(gm_vae_train_step(vae, x, NULL, &st));

        /* the same losses, bit for bit, and the same parameters */
        int same = memcmp(&st.recon, &rec, sizeof rec) == 0 &&
                   memcmp(&st.kl, &kl, sizeof kl) == 0 &&
                   memcmp(&st.loss, &loss, sizeof loss) == 0 &&
                   gm_vae_step_count(vae) == (uint64_t)s + 1;
        same &= same_params(lp.enc, gm_vae_encoder(vae), pa, pb, &max_diff);
        same &= same_params(lp.dec, gm_vae_decoder(vae), pa, pb, &max_diff);
        if (!same && !first_bad) {
            first_bad = s + 1;
            fprintf(stderr,
                    "custom_loop: step %ld differs: loss %.9g vs %.9g, recon %.9g vs %.9g, "
                    "kl %.9g vs %.9g, max |param diff| %g\n",
                    s + 1, (double)loss, (double)st.loss, (double)rec, (double)st.recon,
                    (double)kl, (double)st.kl, max_diff);
        }
        window += loss;
        if ((s + 1) % every == 0 || s + 1 == steps) {
            long n = (s + 1) % every ? (s + 1) % every : every;
            printf("step %5ld  loss %.3f (mean of last %ld)  %s  %.1f steps/s\n", s + 1,
                   window / n, n, first_bad ? "DIFFERENT" : "identical",
                   (s + 1) / (now() - t0));
            fflush(stdout);
            window = 0;
        }
    }
    printf("steps=%ld seed=%llu loss=%.4f identical=%d max_abs_diff=%g first_diff_step=%ld "
           "seconds=%.1f\n",
           steps, seed, (double)loss, first_bad == 0, max_diff, first_bad, now() - t0);

    gm_tensor *bufs[] = {x, lp.h, lp.dh, lp.eps, lp.z, lp.dz, lp.out, lp.dout, train};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) gm_tensor_free(bufs[i]);
    gm_optimizer_free(lp.opt_enc), gm_optimizer_free(lp.opt_dec);
    gm_net_free(lp.enc), gm_net_free(lp.dec), gm_vae_free(vae);
    gm_rng_free(lp.noise), gm_rng_free(init_mine), gm_rng_free(init_vae);
    free(pa), free(pb), free(order), free(u);
    return first_bad ? 1 : 0;
}
