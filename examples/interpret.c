/* SPDX-License-Identifier: MIT */
/*
 * interpret: looking inside VAEs (include/genmodel/interp.h).
 *
 *   interpret [--n N] [--epochs E] [--seed S] [--seeds K] [--beta B]...
 *             [--latent L] [--hidden H] [--side 32|64] [--bins B] [--out DIR]
 *   interpret --vae FILE [--data DIR] [--out DIR]
 *   interpret --gan FILE [--out DIR]
 *
 * Shapes mode (the default): draws a seeded subset of N (5000) images of the
 * shapes set (known factors: shape, scale, rotation, x, y), trains an MLP
 * VAE (side^2 - H ReLU - H ReLU - 2L encoder, L - H ReLU - H ReLU - side^2
 * Bernoulli decoder, Adam lr 1e-3, batch 64) for every beta given (default
 * 1 and 4) and K seeds S, S+1, ... (default 3 from 1), E epochs (12),
 * and reports, per
 * model and as mean and standard deviation per beta: the MIG of the
 * posterior means against the true factors, the reconstruction term and
 * KL of the ELBO on the N images, and the number of active units. For the
 * first seed of each beta it prints the per-dimension table and writes
 * DIR/shapes_beta<B>_traversal.png (one row per latent dimension, by KL,
 * largest first; 9 steps over +-2.5 around the posterior mean of one
 * image) and DIR/shapes_beta<B>_kl.png (the KL per dimension, same order;
 * grey bars: inactive dimensions), and prints which factor each of the
 * first rows' dimension carries most information about.
 *
 * --vae mode: loads a VAE checkpoint trained on Fashion-MNIST (e.g.
 * examples/vae_fashion --save FILE), and on the 10000 test images prints
 * the per-dimension table and writes DIR/fashion_kl.png and
 * DIR/fashion_traversal.png (the first test image, rows by KL, 11 steps
 * over +-3).
 *
 * --gan mode: loads a GAN checkpoint (e.g. examples/dcgan_fashion --save
 * FILE), measures how much each latent dimension moves the generator's
 * output (gm_interp_gan_effect over 16 base latents drawn here from seed 1,
 * 9 steps over +-2.5), prints the dimensions in that order and writes
 * DIR/gan_traversal.png (the first base latent, one row for each of the 10
 * dimensions of largest effect; DIR/gan_classes.png over the classes of a
 * conditional GAN).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <genmodel/genmodel.h>

#define CHECK(expr)                                                                     \
    do {                                                                                \
        gm_status st_ = (expr);                                                         \
        if (st_ != GM_OK) {                                                             \
            fprintf(stderr, "interpret: %s\n  %s: %s\n", #expr, gm_status_string(st_),    \
                    gm_last_error());                                                   \
            exit(1);                                                                    \
        }                                                                               \
    } while (0)

static const char *factor_names[GM_SHAPES_FACTORS] = {"shape", "scale", "rotation", "x", "y"};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void add(gm_net *net, gm_layer *l) { CHECK(gm_net_add(net, l)); }

/* in - h ReLU - h ReLU - out */
static gm_net *mlp(size_t in, size_t h, size_t out, gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    CHECK(gm_net_create(&net));
    CHECK(gm_dense_create(&l, in, h, GM_INIT_TORCH, rng));
    add(net, l);
    CHECK(gm_relu_create(&l));
    add(net, l);
    CHECK(gm_dense_create(&l, h, h, GM_INIT_TORCH, rng));
    add(net, l);
    CHECK(gm_relu_create(&l));
    add(net, l);
    CHECK(gm_dense_create(&l, h, out, GM_INIT_TORCH, rng));
    add(net, l);
    return net;
}

static void print_table(const double *kl, const double *act, size_t L)
{
    size_t need;
    CHECK(gm_interp_format_table(kl, act, L, GM_INTERP_ACTIVE_THRESHOLD, NULL, 0, &need));
    char *buf = malloc(need + 1);
    if (!buf) exit(1);
    CHECK(gm_interp_format_table(kl, act, L, GM_INTERP_ACTIVE_THRESHOLD, buf, need + 1, NULL));
    fputs(buf, stdout);
    free(buf);
}

/* The KL bar chart and the traversal grid of x (one sample), rows by KL. */
static void pictures(gm_vae *vae, const gm_tensor *x, const double *kl, const double *act,
                     size_t L, size_t side, size_t steps, float range, const char *dir,
                     const char *prefix)
{
    size_t *order = malloc(L * sizeof *order);
    double *kl_o = malloc(L * sizeof *kl_o), *act_o = malloc(L * sizeof *act_o);
    if (!order || !kl_o || !act_o) exit(1);
    CHECK(gm_interp_order_desc(kl, L, order));
    for (size_t r = 0; r < L; r++) {
        kl_o[r] = kl[order[r]];
        act_o[r] = act[order[r]];
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/%s_kl.png", dir, prefix);
    CHECK(gm_interp_bar_chart_png(path, kl_o, L, act_o, GM_INTERP_ACTIVE_THRESHOLD, 8, 80));
    printf("wrote %s\n", path);
    gm_tensor *grid;
    CHECK(gm_tensor_create(&grid, 4, (size_t[]){L * steps, 1, side, side}));
    CHECK(gm_interp_vae_traverse(vae, x, NULL, NULL, order, L, range, steps, grid));
    snprintf(path, sizeof path, "%s/%s_traversal.png", dir, prefix);
    CHECK(gm_png_write_grid(path, grid, L, steps, 1, 0.5f));
    printf("wrote %s (rows: dimensions", path);
    for (size_t r = 0; r < L; r++) printf(" %zu", order[r]);
    printf(")\n");
    /* what each row does, in numbers: the decoded image's mass (sum of
     * pixel means) and centre of mass at the first, middle and last step */
    const float *g = gm_tensor_data_const(grid);
    for (size_t r = 0; r < L; r++) {
        printf("  row %zu (dimension %zu): mass, centre (x, y) at -%g / 0 / +%g:", r, order[r],
               (double)range, (double)range);
        for (size_t s = 0; s < steps; s += (steps - 1) / 2) {
            const float *img = g + (r * steps + s) * side * side;
            double m = 0, cx = 0, cy = 0;
            for (size_t y = 0; y < side; y++)
                for (size_t x = 0; x < side; x++) {
                    m += img[y * side + x];
                    cx += img[y * side + x] * (x + 0.5);
                    cy += img[y * side + x] * (y + 0.5);
                }
            printf("  %.0f (%.1f, %.1f)", m, m > 0 ? cx / m : 0, m > 0 ? cy / m : 0);
        }
        printf("\n");
    }
    gm_tensor_free(grid);
    free(order);
    free(kl_o);
    free(act_o);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: interpret [--n N] [--epochs E] [--seed S] [--seeds K] [--beta B]...\n"
            "                 [--latent L] [--hidden H] [--side 32|64] [--bins B] [--out DIR]\n"
            "       interpret --vae FILE [--data DIR] [--out DIR]\n"
            "       interpret --gan FILE [--out DIR]\n"
            "Shapes mode: trains beta-VAEs (default betas 1 and 4, K = 3 seeds, 12 epochs)\n"
            "on N shapes images (default 5000 of 32 x 32) and reports MIG, reconstruction\n"
            "and active units.\n"
            "--vae: per-dimension KL, active units and a traversal of a Fashion-MNIST VAE\n"
            "checkpoint on the test set of --data (default /usr/share/datasets/fashion-mnist).\n"
            "--gan: a GAN checkpoint's latent dimensions by the output variance they cause,\n"
            "and a traversal in that order.\n"
            "Pictures go to --out (default interpret_out).\n");
}

static void mkdir_p(const char *dir)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "interpret: cannot create %s: %s\n", dir, strerror(errno));
        exit(1);
    }
}

static int fashion(const char *file, const char *data, const char *out)
{
    gm_vae *vae;
    CHECK(gm_vae_load(&vae, file));
    gm_vae_options o;
    CHECK(gm_vae_options_init(&o));
    CHECK(gm_vae_get_options(vae, &o));
    const size_t L = o.latent;
    char path[1024];
    snprintf(path, sizeof path, "%s/t10k-images-idx3-ubyte.gz", data);
    gm_tensor *test;
    CHECK(gm_idx_load_images(&test, path, 0));
    const size_t n = gm_tensor_dim(test, 0);
    double *kl = malloc(L * sizeof *kl), *act = malloc(L * sizeof *act);
    if (!kl || !act) return 1;
    size_t active;
    CHECK(gm_interp_vae_dims(vae, test, NULL, 500, GM_INTERP_ACTIVE_THRESHOLD, kl, act, L,
                             &active));
    printf("VAE %s on %zu Fashion-MNIST test images: %zu of %zu units active\n", file, n, active,
           L);
    print_table(kl, act, L);
    gm_tensor *x;
    CHECK(gm_tensor_create(&x, 4, (size_t[]){1, 1, 28, 28}));
    CHECK(gm_tensor_copy_in(x, gm_tensor_data_const(test), 784));
    pictures(vae, x, kl, act, L, 28, 11, 3.0f, out, "fashion");
    printf("fashion active_units=%zu latent=%zu\n", active, L);
    gm_tensor_free(x);
    gm_tensor_free(test);
    free(kl);
    free(act);
    gm_vae_free(vae);
    return 0;
}

static int gan_mode(const char *file, const char *out)
{
    gm_gan *gan;
    CHECK(gm_gan_load(&gan, file));
    gm_gan_options o;
    CHECK(gm_gan_options_init(&o));
    CHECK(gm_gan_get_options(gan, &o));
    const size_t L = o.latent, steps = 9, nz = 16;
    gm_tensor *z;
    gm_rng *rng;
    CHECK(gm_tensor_create(&z, 2, (size_t[]){nz, L}));
    CHECK(gm_rng_create(&rng, 1));
    CHECK(gm_tensor_fill_normal(z, rng));
    gm_rng_free(rng);
    int32_t *labels = NULL;
    if (o.num_classes > 0) {
        labels = calloc(nz, sizeof *labels); /* class 0 */
        if (!labels) return 1;
    }
    double *eff = malloc(L * sizeof *eff);
    size_t *order = malloc(L * sizeof *order);
    if (!eff || !order) return 1;
    CHECK(gm_interp_gan_effect(gan, z, labels, 2.5f, steps, eff, L));
    CHECK(gm_interp_order_desc(eff, L, order));
    printf("GAN %s: output variance caused per latent dimension (over %zu base latents), "
           "largest first:\n",
           file, nz);
    for (size_t r = 0; r < L; r++)
        printf("%s%zu: %.3f%s", r % 6 == 0 ? "  " : "", order[r], eff[order[r]],
               r % 6 == 5 || r + 1 == L ? "\n" : ",  ");
    const size_t rows = L < 10 ? L : 10; /* the traversal: the 10 largest */
    size_t ond, shape[GM_MAX_DIMS];
    CHECK(gm_net_output_shape(gm_gan_generator(gan), 2,
                              (size_t[]){rows * steps, L + o.num_classes}, &ond, shape));
    if (ond != 4) {
        fprintf(stderr, "interpret: the generator's output is not images (rank %zu)\n", ond);
        return 1;
    }
    gm_tensor *grid;
    CHECK(gm_tensor_create(&grid, ond, shape));
    CHECK(gm_interp_gan_traverse(gan, gm_tensor_data_const(z), labels, order, rows, 2.5f, steps,
                                 grid));
    char path[1024];
    snprintf(path, sizeof path, "%s/gan_traversal.png", out);
    CHECK(gm_png_write_grid(path, grid, rows, steps, 1, 0.5f));
    printf("wrote %s (rows: the %zu dimensions of largest effect)\n", path, rows);
    if (o.num_classes > 0) {
        gm_tensor *cls;
        shape[0] = o.num_classes;
        CHECK(gm_tensor_create(&cls, ond, shape));
        CHECK(gm_interp_gan_classes(gan, gm_tensor_data_const(z), cls));
        snprintf(path, sizeof path, "%s/gan_classes.png", out);
        CHECK(gm_png_write_grid(path, cls, 1, o.num_classes, 1, 0.5f));
        printf("wrote %s\n", path);
        gm_tensor_free(cls);
    }
    gm_tensor_free(grid);
    gm_tensor_free(z);
    free(labels);
    free(eff);
    free(order);
    gm_gan_free(gan);
    return 0;
}

typedef struct result {
    double mig, recon, kl;
    size_t active;
} result;

static void mean_sd(const double *v, size_t k, double *m, double *sd)
{
    double s = 0, s2 = 0;
    for (size_t i = 0; i < k; i++) s += v[i];
    *m = s / (double)k;
    for (size_t i = 0; i < k; i++) s2 += (v[i] - *m) * (v[i] - *m);
    *sd = k > 1 ? sqrt(s2 / (double)(k - 1)) : 0.0;
}

int main(int argc, char **argv)
{
    size_t n = 5000, latent = 8, hidden = 256, side = 32, bins = 20, seeds = 3;
    int epochs = 12;
    unsigned long long seed = 1;
    double betas[16];
    size_t n_betas = 0;
    const char *out = "interpret_out", *vae_file = NULL, *gan_file = NULL,
               *data = "/usr/share/datasets/fashion-mnist";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (v && strcmp(a, "--n") == 0) n = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--epochs") == 0) epochs = atoi(v), i++;
        else if (v && strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--seeds") == 0) seeds = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--latent") == 0) latent = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--hidden") == 0) hidden = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--side") == 0) side = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--bins") == 0) bins = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--out") == 0) out = v, i++;
        else if (v && strcmp(a, "--vae") == 0) vae_file = v, i++;
        else if (v && strcmp(a, "--gan") == 0) gan_file = v, i++;
        else if (v && strcmp(a, "--data") == 0) data = v, i++;
        else if (v && strcmp(a, "--beta") == 0 && n_betas < 16) betas[n_betas++] = atof(v), i++;
        else {
            usage(stderr);
            return 2;
        }
    }
    mkdir_p(out);
    if (vae_file) return fashion(vae_file, data, out);
    if (gan_file) return gan_mode(gan_file, out);
    if (n_betas == 0) {
        betas[0] = 1.0;
        betas[1] = 4.0;
        n_betas = 2;
    }
    if (epochs < 1 || seeds < 1 || n < 100 || latent < 2 || hidden < 1) {
        usage(stderr);
        return 2;
    }
    const size_t D = side * side, K = GM_SHAPES_FACTORS;
    int32_t *factors = malloc(n * K * sizeof *factors);
    if (!factors) return 1;
    CHECK(gm_shapes_sample(side, 0, n, factors, NULL)); /* the data set: subset seed 0 */
    gm_tensor *images;
    CHECK(gm_tensor_create(&images, 4, (size_t[]){n, 1, side, side}));
    CHECK(gm_shapes_render(side, factors, n, images));
    printf("libgenmodel %s: beta-VAE on %zu shapes images (%zu x %zu), latent %zu, hidden %zu, "
           "%d epochs, %zu seeds from %llu, %d BLAS threads\n",
           gm_version(), n, side, side, latent, hidden, epochs, seeds, seed,
           gm_get_num_threads());
    /* one example image for the traversals: a mid-sized heart in the middle */
    size_t sizes[GM_SHAPES_FACTORS];
    CHECK(gm_shapes_factor_sizes(side, sizes, NULL));
    int32_t fx[GM_SHAPES_FACTORS] = {2, 3, 0, (int32_t)sizes[3] / 2, (int32_t)sizes[4] / 2};
    gm_tensor *x0, *mu, *elbo_x;
    CHECK(gm_tensor_create(&x0, 4, (size_t[]){1, 1, side, side}));
    CHECK(gm_shapes_render(side, fx, 1, x0));
    CHECK(gm_tensor_create(&mu, 2, (size_t[]){n, latent}));
    double *kl = malloc(latent * sizeof *kl), *act = malloc(latent * sizeof *act);
    double *mi = malloc(K * latent * sizeof *mi);
    result *res = malloc(n_betas * seeds * sizeof *res);
    if (!kl || !act || !mi || !res) return 1;
    (void)elbo_x;
    /* each factor's entropy over the subset (nats), to normalize MI */
    double entropy[GM_SHAPES_FACTORS];
    for (size_t k = 0; k < K; k++) {
        size_t counts[64] = {0};
        for (size_t i = 0; i < n; i++) counts[factors[i * K + k]]++;
        entropy[k] = 0;
        for (size_t v = 0; v < 64; v++)
            if (counts[v]) {
                const double p = (double)counts[v] / (double)n;
                entropy[k] -= p * log(p);
            }
    }
    double t_start = now();
    for (size_t b = 0; b < n_betas; b++)
        for (size_t s = 0; s < seeds; s++) {
            const uint64_t sd = seed + s;
            gm_rng *rng;
            CHECK(gm_rng_create(&rng, sd));
            gm_net *enc = mlp(D, hidden, 2 * latent, rng), *dec = mlp(latent, hidden, D, rng);
            gm_rng_free(rng);
            gm_vae_options o;
            CHECK(gm_vae_options_init(&o));
            o.latent = latent;
            o.beta = (float)betas[b];
            o.seed = sd;
            gm_vae *vae;
            CHECK(gm_vae_create(&vae, enc, dec, &o));
            gm_fit_options f;
            CHECK(gm_fit_options_init(&f));
            f.epochs = (uint32_t)epochs;
            f.batch = 64;
            f.shuffle_seed = sd;
            double t0 = now();
            CHECK(gm_vae_fit(vae, images, NULL, &f, NULL, NULL));
            const double secs = now() - t0;
            /* the ELBO's terms on the training images (beta = 1), in batches */
            double recon = 0, klsum = 0;
            for (size_t i0 = 0; i0 < n; i0 += 1000) {
                const size_t m = n - i0 < 1000 ? n - i0 : 1000;
                gm_tensor *xb;
                CHECK(gm_tensor_create(&xb, 4, (size_t[]){m, 1, side, side}));
                CHECK(gm_tensor_copy_in(xb, gm_tensor_data_const(images) + i0 * D, m * D));
                gm_vae_stats st;
                CHECK(gm_vae_elbo(vae, xb, NULL, &st));
                recon += st.recon * (double)m;
                klsum += st.kl * (double)m;
                gm_tensor_free(xb);
            }
            result *r = &res[b * seeds + s];
            r->recon = recon / (double)n;
            r->kl = klsum / (double)n;
            CHECK(gm_interp_vae_dims(vae, images, NULL, 1000, GM_INTERP_ACTIVE_THRESHOLD, kl, act,
                                     latent, &r->active));
            CHECK(gm_vae_encode(vae, images, NULL, mu, NULL));
            CHECK(gm_interp_mig(gm_tensor_data_const(mu), n, latent, factors, K, bins, &r->mig,
                                NULL, mi));
            printf("beta %g seed %llu: MIG %.3f  recon %.2f  KL %.2f nats  active %zu of %zu  "
                   "(%.1f s)\n",
                   betas[b], (unsigned long long)sd, r->mig, r->recon, r->kl, r->active, latent,
                   secs);
            fflush(stdout);
            if (s == 0) {
                print_table(kl, act, latent);
                size_t *order = malloc(latent * sizeof *order);
                if (!order) return 1;
                CHECK(gm_interp_order_desc(kl, latent, order));
                for (size_t q = 0; q < latent && q < 6; q++) {
                    const size_t j = order[q];
                    size_t best = 0;
                    for (size_t k = 1; k < K; k++)
                        if (mi[k * latent + j] / entropy[k] > mi[best * latent + j] / entropy[best])
                            best = k;
                    printf("  row %zu: dimension %zu, KL %.2f, most informative about %s "
                           "(I / H = %.2f)\n",
                           q, j, kl[j], factor_names[best], mi[best * latent + j] / entropy[best]);
                }
                free(order);
                char prefix[64];
                snprintf(prefix, sizeof prefix, "shapes_beta%g", betas[b]);
                pictures(vae, x0, kl, act, latent, side, 9, 2.5f, out, prefix);
            }
            gm_vae_free(vae);
        }
    printf("\n| beta | MIG | reconstruction (nats) | KL (nats) | active units |\n"
           "|---|---|---|---|---|\n");
    for (size_t b = 0; b < n_betas; b++) {
        double v[4][64], m[4], sdv[4];
        for (size_t s = 0; s < seeds && s < 64; s++) {
            const result *r = &res[b * seeds + s];
            v[0][s] = r->mig;
            v[1][s] = r->recon;
            v[2][s] = r->kl;
            v[3][s] = (double)r->active;
        }
        const size_t k = seeds < 64 ? seeds : 64;
        for (int q = 0; q < 4; q++) mean_sd(v[q], k, &m[q], &sdv[q]);
        printf("| %g | %.3f ± %.3f | %.1f ± %.1f | %.1f ± %.1f | %.1f ± %.1f |\n", betas[b], m[0],
               sdv[0], m[1], sdv[1], m[2], sdv[2], m[3], sdv[3]);
    }
    printf("(mean ± standard deviation over %zu seeds; %.0f s in all)\n", seeds, now() - t_start);
    gm_tensor_free(images);
    gm_tensor_free(x0);
    gm_tensor_free(mu);
    free(factors);
    free(kl);
    free(act);
    free(mi);
    free(res);
    return 0;
}
