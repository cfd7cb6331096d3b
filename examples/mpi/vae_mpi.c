/* SPDX-License-Identifier: MIT */
/*
 * vae_mpi: the reference VAE trained data-parallel over MPI ranks.
 *
 *   mpirun -np R vae_mpi [--steps N] [--batch B] [--seed N] [--data DIR]
 *                        [--shards S] [--params-out FILE] [--compare FILE]
 *                        [--tolerance T]
 *
 * The training images are dealt into S shards (image i goes to shard
 * i mod S; S defaults to the number of ranks), and rank r reads shard r
 * only. Step t's batch is the concatenation over shards of rows
 * [t b, (t + 1) b) of each, b = B / S, so rank r holds rows [r b, (r + 1) b)
 * of it. Each rank computes its share of the gradient
 * (gm_vae_compute_grads), MPI_Allreduce sums the shares in place, and every
 * rank applies the same update (gm_vae_apply_grads): all replicas stay
 * identical.
 *
 * Run with one process and --shards S, the program is the single-process
 * reference: it reads all S shards and does what the S ranks do, in the
 * same order, with S replicas of the VAE made from the same seed. Each
 * replica computes shard s's share on the same rows and the same noise as
 * rank s, the S gradient buffers are summed in rank order, and every
 * replica applies the sum. With 2 ranks MPI_Allreduce's sum is g0 + g1 in
 * either order (float addition is commutative), so given the same OpenBLAS
 * thread count the reference equals the ranks bit for bit on any CPU and
 * in any build type. (With more ranks MPI may associate the sum another
 * way: the result then agrees to float rounding only.) Training one
 * process on the concatenated batches with gm_vae_train_step gives the
 * same model to float rounding, not bit for bit: its products run over
 * other matrix shapes, which OpenBLAS may block and round differently.
 *
 * Rank 0 prints steps per second and a last key=value line; --params-out
 * writes the trained parameters (raw float32), --compare reads such a file
 * and exits 1 unless every parameter is bit-identical to it
 * (--tolerance T instead accepts |p - q| <= T (1 + |q|)).
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include <genmodel/genmodel.h>

static int rank = 0;

#define CHECK(expr)                                                                        \
    do {                                                                                   \
        gm_status st_ = (expr);                                                            \
        if (st_ != GM_OK) {                                                                \
            fprintf(stderr, "vae_mpi[%d]: %s\n  %s: %s\n", rank, #expr,                    \
                    gm_status_string(st_), gm_last_error());                               \
            MPI_Abort(MPI_COMM_WORLD, 1);                                                  \
        }                                                                                  \
    } while (0)

enum { D = 784, H = 400, L = 20 };

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

/* All parameters of the VAE, encoder then decoder, into a new array. */
static float *all_params(gm_vae *vae, size_t *n)
{
    gm_net *e = gm_vae_encoder(vae), *d = gm_vae_decoder(vae);
    const size_t ne = gm_net_param_count(e), nd = gm_net_param_count(d);
    float *p = malloc((ne + nd) * sizeof *p);
    if (p == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    CHECK(gm_net_get_params(e, p, ne));
    CHECK(gm_net_get_params(d, p + ne, nd));
    *n = ne + nd;
    return p;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    unsigned long long seed = 1;
    long steps = 200, batch = 128, shards = ranks;
    const char *data = "/usr/share/datasets/fashion-mnist", *params_out = NULL, *compare = NULL;
    double tolerance = -1; /* < 0: bit for bit */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(a, "--steps") == 0) steps = atol(v), i++;
        else if (v && strcmp(a, "--batch") == 0) batch = atol(v), i++;
        else if (v && strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--data") == 0) data = v, i++;
        else if (v && strcmp(a, "--shards") == 0) shards = atol(v), i++;
        else if (v && strcmp(a, "--params-out") == 0) params_out = v, i++;
        else if (v && strcmp(a, "--compare") == 0) compare = v, i++;
        else if (v && strcmp(a, "--tolerance") == 0) tolerance = atof(v), i++;
        else {
            if (rank == 0)
                fprintf(stderr, "usage: vae_mpi [--steps N] [--batch B] [--seed N] [--data DIR] "
                                "[--shards S] [--params-out FILE] [--compare FILE] "
                                "[--tolerance T]\n");
            MPI_Finalize();
            return 2;
        }
    }
    if (steps < 1 || shards < 1 || batch < shards || batch % shards != 0 ||
        (ranks > 1 && shards != ranks)) {
        if (rank == 0)
            fprintf(stderr, "vae_mpi: need steps >= 1, a batch divisible by the shards, and "
                            "shards = ranks when running on several ranks\n");
        MPI_Finalize();
        return 2;
    }
    const size_t b = (size_t)(batch / shards);
    /* this process's shards: its own, or all of them in the reference */
    const size_t first = ranks > 1 ? (size_t)rank : 0, mine = ranks > 1 ? 1 : (size_t)shards;

    char path[1024];
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", data);
    gm_tensor *train;
    CHECK(gm_idx_load_images(&train, path, 0));
    const size_t n_train = gm_tensor_dim(train, 0), per_shard = n_train / (size_t)shards;
    if ((size_t)steps * b > per_shard) {
        if (rank == 0) fprintf(stderr, "vae_mpi: %ld steps need more data per shard\n", steps);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    /* keep only this process's shards: row j of shard s is image j S + s */
    float *shard = malloc(mine * per_shard * D * sizeof *shard);
    if (shard == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t s = 0; s < mine; s++)
        for (size_t j = 0; j < per_shard; j++)
            memcpy(shard + (s * per_shard + j) * D,
                   gm_tensor_data_const(train) + (j * (size_t)shards + first + s) * D,
                   D * sizeof(float));
    gm_tensor_free(train);

    /* the replicas this process trains: its own on a rank, one per shard
     * in the reference; every one made from the same seed */
    gm_vae **vae = calloc(mine, sizeof *vae);
    gm_tensor **x = calloc(mine, sizeof *x);
    if (vae == NULL || x == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t s = 0; s < mine; s++) {
        gm_rng *rng;
        CHECK(gm_rng_create(&rng, seed));
        gm_net *enc = mlp(D, H, 2 * L, rng), *dec = mlp(L, H, D, rng);
        gm_rng_free(rng); /* the nets' initial weights are drawn */
        gm_vae_options o;
        CHECK(gm_vae_options_init(&o));
        o.latent = L;
        o.seed = seed;
        CHECK(gm_vae_create(&vae[s], enc, dec, &o));
        CHECK(gm_tensor_create(&x[s], 2, (size_t[]){b, D}));
    }

    if (rank == 0)
        printf("libgenmodel %s: VAE on %d rank(s), %ld shards, batch %ld (%zu per shard), "
               "%ld steps\n",
               gm_version(), ranks, shards, batch, b, steps);
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    double loss = 0;
    for (long t = 0; t < steps; t++) {
        double part = 0; /* this process's share of the batch's mean loss */
        float *g0 = NULL;
        size_t n = 0;
        for (size_t s = 0; s < mine; s++) {
            /* shard (first + s)'s rows of this batch, its share of the gradient */
            memcpy(gm_tensor_data(x[s]), shard + (s * per_shard + (size_t)t * b) * D,
                   b * D * sizeof(float));
            gm_vae_stats st;
            CHECK(gm_vae_compute_grads(vae[s], x[s], NULL, (first + s) * b, (size_t)batch, &st));
            part += st.loss * (double)b / (double)batch;
            float *g;
            CHECK(gm_vae_grads(vae[s], &g, &n));
            if (s == 0) {
                g0 = g;
            } else { /* the reference: sum the shards in rank order */
                for (size_t i = 0; i < n; i++) g0[i] += g[i];
            }
        }
        MPI_Allreduce(MPI_IN_PLACE, g0, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (size_t s = 0; s < mine; s++) {
            float *g;
            CHECK(gm_vae_grads(vae[s], &g, &n));
            if (g != g0) memcpy(g, g0, n * sizeof *g);
            CHECK(gm_vae_apply_grads(vae[s]));
        }
        MPI_Allreduce(&part, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0 && (t + 1) % 50 == 0) {
            printf("step %4ld  loss %.2f\n", t + 1, loss);
            fflush(stdout);
        }
    }
    const double secs = MPI_Wtime() - t0;

    size_t np;
    float *p = all_params(vae[0], &np);
    int status = 0;
    /* the replicas, this process's and the other ranks', must agree bit for bit */
    int same = 1, all_same;
    for (size_t s = 1; s < mine; s++) {
        size_t ns;
        float *ps = all_params(vae[s], &ns);
        same &= ns == np && memcmp(ps, p, np * sizeof *p) == 0;
        free(ps);
    }
    float *p0 = malloc(np * sizeof *p0);
    if (p0 == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    memcpy(p0, p, np * sizeof *p0);
    MPI_Bcast(p0, (int)np, MPI_FLOAT, 0, MPI_COMM_WORLD);
    same &= memcmp(p0, p, np * sizeof *p) == 0;
    MPI_Allreduce(&same, &all_same, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    free(p0);
    if (rank == 0) {
        if (!all_same) {
            fprintf(stderr, "vae_mpi: the ranks' replicas differ\n");
            status = 1;
        }
        if (params_out) {
            FILE *f = fopen(params_out, "wb");
            if (!f || fwrite(p, sizeof *p, np, f) != np || fclose(f) != 0) {
                fprintf(stderr, "vae_mpi: cannot write %s\n", params_out);
                status = 1;
            }
        }
        double max_diff = 0;
        size_t n_diff = 0;
        if (compare) {
            FILE *f = fopen(compare, "rb");
            float *q = malloc(np * sizeof *q);
            if (!f || !q || fread(q, sizeof *q, np, f) != np) {
                fprintf(stderr, "vae_mpi: cannot read %zu parameters from %s\n", np, compare);
                status = 1;
            } else {
                for (size_t i = 0; i < np; i++) {
                    double d = fabs((double)p[i] - q[i]);
                    if (d > max_diff) max_diff = d;
                    n_diff += memcmp(&p[i], &q[i], sizeof *p) != 0;
                    if (tolerance < 0 ? memcmp(&p[i], &q[i], sizeof *p) != 0
                                      : !(d <= tolerance * (1 + fabs((double)q[i])))) {
                        if (status == 0)
                            fprintf(stderr, "vae_mpi: parameter %zu is %.9g, %s has %.9g\n", i,
                                    (double)p[i], compare, (double)q[i]);
                        status = 1;
                    }
                }
            }
            if (f) fclose(f);
            free(q);
        }
        printf("ranks=%d shards=%ld batch=%ld steps=%ld loss=%.3f seconds=%.2f "
               "steps_per_second=%.1f replicas_identical=%d",
               ranks, shards, batch, steps, loss, secs, steps / secs, all_same);
        if (compare) printf(" max_param_diff=%.3g params_not_identical=%zu", max_diff, n_diff);
        printf("\n");
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(p);
    free(shard);
    for (size_t s = 0; s < mine; s++) {
        gm_tensor_free(x[s]);
        gm_vae_free(vae[s]);
    }
    free(x);
    free(vae);
    MPI_Finalize();
    return status;
}
