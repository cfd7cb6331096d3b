/*
 * dcgan_fashion: a DCGAN on Fashion-MNIST, images scaled to [-1, 1].
 *
 *   dcgan_fashion [--seed N] [--epochs N] [--data DIR] [--out DIR] [--train-limit N]
 *                 [--save FILE]
 *
 * G: z (100) -> dense 128 x 7 x 7 -> BatchNorm -> ReLU
 *    -> ConvTranspose 128->64, k4 s2 p1 (14 x 14) -> BatchNorm -> ReLU
 *    -> ConvTranspose 64->1, k4 s2 p1 (28 x 28) -> tanh
 * D: Conv 1->64, k4 s2 p1 (14 x 14) -> LeakyReLU 0.2
 *    -> Conv 64->128, k4 s2 p1 (7 x 7) -> BatchNorm -> LeakyReLU 0.2
 *    -> flatten -> dense 6272 -> 1 (logit)
 * Non-saturating loss, Adam 2e-4, betas 0.5 / 0.999, batch 64; the convs
 * start from the DCGAN paper's N(0, 0.02). Trains with gm_gan_fit, whose
 * callback prints progress (one live line on a terminal, else a line per
 * 100 steps) and after every epoch writes dcgan_samples.png (64 samples
 * from a fixed z) and dcgan_epoch<N>.png; a last line of key=value pairs.
 * --save writes the trained GAN as a checkpoint (gm_gan_save), e.g. for
 * examples/evaluate.c.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <genmodel/genmodel.h>

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        gm_status st_ = (expr);                                                            \
        if (st_ != GM_OK) {                                                                \
            fprintf(stderr, "dcgan_fashion: %s\n  %s: %s\n", #expr, gm_status_string(st_), \
                    gm_last_error());                                                      \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

enum { D = 784, Z = 100, B = 64 };

/* Creates a layer into `l` with `call`, then adds it to `net`. */
#define ADD(net, call)                \
    do {                              \
        CHECK(call);                  \
        CHECK(gm_net_add((net), l));  \
    } while (0)

/* The DCGAN paper's initialization of a conv layer with `nbias` biases:
 * weights ~ N(0, 0.02^2), biases 0. */
static void dcgan_init(gm_layer *l, size_t nbias, gm_rng *rng)
{
    const size_t n = gm_layer_param_count(l);
    float *p = malloc(n * sizeof *p);
    if (p == NULL) exit(1);
    CHECK(gm_rng_normal(rng, p, n - nbias));
    for (size_t i = 0; i < n; i++) p[i] = i < n - nbias ? 0.02f * p[i] : 0.0f;
    CHECK(gm_layer_set_params(l, p, n));
    free(p);
}

/* ADD for a conv layer with `nbias` biases, DCGAN-initialized. */
#define ADD_CONV(net, call, nbias)    \
    do {                              \
        CHECK(call);                  \
        dcgan_init(l, (nbias), rng);  \
        CHECK(gm_net_add((net), l));  \
    } while (0)

static gm_net *generator(gm_rng *rng)
{
    gm_net *g;
    gm_layer *l;
    CHECK(gm_net_create(&g));
    ADD(g, gm_dense_create(&l, Z, 128 * 7 * 7, GM_INIT_HE, rng));
    ADD(g, gm_batchnorm_create(&l, 128 * 7 * 7, 0.1f, 1e-5f));
    ADD(g, gm_relu_create(&l));
    ADD(g, gm_reshape_create(&l, 3, (size_t[]){128, 7, 7}));
    ADD_CONV(g, gm_conv_transpose2d_create(&l, 128, 64, 4, 2, 1, GM_INIT_ZEROS, NULL), 64);
    ADD(g, gm_batchnorm_create(&l, 64, 0.1f, 1e-5f));
    ADD(g, gm_relu_create(&l));
    ADD_CONV(g, gm_conv_transpose2d_create(&l, 64, 1, 4, 2, 1, GM_INIT_ZEROS, NULL), 1);
    ADD(g, gm_tanh_create(&l));
    return g;
}

static gm_net *discriminator(gm_rng *rng)
{
    gm_net *d;
    gm_layer *l;
    CHECK(gm_net_create(&d));
    ADD_CONV(d, gm_conv2d_create(&l, 1, 64, 4, 2, 1, GM_INIT_ZEROS, NULL), 64);
    ADD(d, gm_leaky_relu_create(&l, 0.2f));
    ADD_CONV(d, gm_conv2d_create(&l, 64, 128, 4, 2, 1, GM_INIT_ZEROS, NULL), 128);
    ADD(d, gm_batchnorm_create(&l, 128, 0.1f, 1e-5f));
    ADD(d, gm_leaky_relu_create(&l, 0.2f));
    ADD(d, gm_flatten_create(&l));
    ADD(d, gm_dense_create(&l, 128 * 7 * 7, 1, GM_INIT_XAVIER, rng));
    return d;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* What the progress callback needs, and what it reports back. */
typedef struct {
    gm_gan *gan;
    gm_tensor *fixed_z, *samples;
    const char *out;
    int live;             /* stdout is a terminal: one line, rewritten */
    int finite;           /* every mean loss so far was finite */
    float d_loss, g_loss; /* the mean losses of the last report of an epoch */
} progress;

static int on_progress(void *user, const gm_fit_progress *p, const gm_gan_stats *m)
{
    progress *pr = user;
    pr->finite &= isfinite(m->d_loss) && isfinite(m->g_loss);
    printf("%sepoch %u/%u step %4llu/%llu  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  "
           "%.1f steps/s%s",
           pr->live ? "\r" : "", p->epoch, p->epochs, (unsigned long long)p->epoch_step,
           (unsigned long long)p->steps_per_epoch, m->d_loss, m->g_loss, m->d_real, m->d_fake,
           p->step / p->seconds, pr->live ? "" : "\n");
    if (p->epoch_step == p->steps_per_epoch) { /* the epoch's end */
        char path[1024];
        CHECK(gm_gan_generate(pr->gan, pr->fixed_z, NULL, pr->samples));
        float *sd = gm_tensor_data(pr->samples); /* tanh's [-1, 1] -> [0, 1] */
        for (size_t k = 0; k < gm_tensor_numel(pr->samples); k++) sd[k] = 0.5f * (sd[k] + 1.0f);
        snprintf(path, sizeof path, "%s/dcgan_epoch%u.png", pr->out, p->epoch);
        CHECK(gm_png_write_grid(path, pr->samples, 8, 8, 2, 1.0f));
        snprintf(path, sizeof path, "%s/dcgan_samples.png", pr->out);
        CHECK(gm_png_write_grid(path, pr->samples, 8, 8, 2, 1.0f));
        printf("%swrote %s\n", pr->live ? "\n" : "", path);
        pr->d_loss = m->d_loss;
        pr->g_loss = m->g_loss;
    }
    fflush(stdout);
    return !pr->finite; /* stop on a non-finite loss */
}

int main(int argc, char **argv)
{
    unsigned long long seed = 1;
    int epochs = 1;
    size_t limit = 0;
    const char *data = "/usr/share/datasets/fashion-mnist", *out = "out", *save = NULL;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], "--seed") == 0) seed = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(argv[i], "--epochs") == 0) epochs = atoi(v), i++;
        else if (v && strcmp(argv[i], "--data") == 0) data = v, i++;
        else if (v && strcmp(argv[i], "--out") == 0) out = v, i++;
        else if (v && strcmp(argv[i], "--train-limit") == 0) limit = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(argv[i], "--save") == 0) save = v, i++;
        else {
            fprintf(stderr, "usage: dcgan_fashion [--seed N] [--epochs N] [--data DIR] "
                            "[--out DIR] [--train-limit N] [--save FILE]\n");
            return 2;
        }
    }
    if (epochs < 1) epochs = 1;
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "dcgan_fashion: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    char path[1024];
    gm_tensor *train;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data);
    CHECK(gm_idx_load_images(&train, path, limit));
    const size_t n = gm_tensor_dim(train, 0);
    float *td = gm_tensor_data(train);
    for (size_t k = 0; k < n * D; k++) td[k] = 2.0f * td[k] - 1.0f; /* [0, 1] -> [-1, 1] */
    printf("libgenmodel %s: DCGAN on Fashion-MNIST (%zu images), seed %llu\n", gm_version(), n,
           seed);

    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed));
    gm_gan_options o;
    CHECK(gm_gan_options_init(&o)); /* non-saturating, Adam 2e-4, 0.5/0.999 */
    o.latent = Z;
    o.seed = seed;
    gm_gan *gan;
    CHECK(gm_gan_create(&gan, generator(rng), discriminator(rng), &o));

    gm_tensor *fixed_z, *samples;
    CHECK(gm_tensor_create(&fixed_z, 2, (size_t[]){64, Z}));
    CHECK(gm_tensor_fill_normal(fixed_z, rng));
    CHECK(gm_tensor_create(&samples, 4, (size_t[]){64, 1, 28, 28}));
    /* gm_gan_fit runs the epochs; the callback prints progress (a live
     * line on a terminal) and writes the sample grid after each epoch */
    progress pr = {gan, fixed_z, samples, out, isatty(STDOUT_FILENO), 1, 0, 0};
    gm_fit_options fo;
    CHECK(gm_fit_options_init(&fo));
    fo.epochs = (uint32_t)epochs;
    fo.batch = B;
    fo.every = pr.live ? 10 : 100;
    fo.shuffle_seed = seed;
    const double t0 = now();
    CHECK(gm_gan_fit(gan, train, NULL, &fo, on_progress, &pr));
    const double total = now() - t0;
    const uint64_t done = gm_gan_step_count(gan);
    printf("epochs=%d seed=%llu d_loss=%.3f g_loss=%.3f losses_finite=%d seconds=%.1f "
           "steps_per_second=%.2f\n",
           epochs, seed, pr.d_loss, pr.g_loss, pr.finite, total, done / total);
    if (save) {
        CHECK(gm_gan_save(gan, save));
        printf("wrote %s\n", save);
    }
    gm_tensor_free(fixed_z);
    gm_tensor_free(samples);
    gm_tensor_free(train);
    gm_gan_free(gan);
    gm_rng_free(rng);
    return pr.finite ? 0 : 1;
}
