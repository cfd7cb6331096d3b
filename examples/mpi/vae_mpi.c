/*
 * vae_mpi: the reference VAE trained data-parallel over MPI ranks.
 *
 *   mpirun -np R vae_mpi [--steps N] [--batch B] [--seed N] [--data DIR]
 *                        [--shards S] [--params-out FILE] [--compare FILE]
 *
 * The training images are dealt into S shards (image i goes to shard
 * i mod S; S defaults to the number of ranks), and rank r reads shard r
 * only. Step t's batch is the concatenation over shards of rows
 * [t b, (t + 1) b) of each, b = B / S, so rank r holds rows [r b, (r + 1) b)
 * of it. Each rank computes its share of the gradient
 * (gm_vae_compute_grads), MPI_Allreduce sums the shares in place, and every
 * rank applies the same update (gm_vae_apply_grads): all replicas stay
 * identical, and equal (to float rounding) one process trained on the
 * whole batches. Run with one process and --shards S, the program is that
 * single-process reference: it reads all S shards and trains on the
 * concatenated batches.
 *
 * Rank 0 prints steps per second and a last key=value line; --params-out
 * writes the trained parameters (raw float32), --compare reads such a file
 * and exits 1 unless every parameter agrees within 1e-4 + 1e-3 |p|.
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
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(a, "--steps") == 0) steps = atol(v), i++;
        else if (v && strcmp(a, "--batch") == 0) batch = atol(v), i++;
        else if (v && strcmp(a, "--seed") == 0) seed = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--data") == 0) data = v, i++;
        else if (v && strcmp(a, "--shards") == 0) shards = atol(v), i++;
        else if (v && strcmp(a, "--params-out") == 0) params_out = v, i++;
        else if (v && strcmp(a, "--compare") == 0) compare = v, i++;
        else {
            if (rank == 0)
                fprintf(stderr, "usage: vae_mpi [--steps N] [--batch B] [--seed N] [--data DIR] "
                                "[--shards S] [--params-out FILE] [--compare FILE]\n");
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

    gm_rng *rng;
    CHECK(gm_rng_create(&rng, seed)); /* the same replica on every rank */
    gm_net *enc = mlp(D, H, 2 * L, rng), *dec = mlp(L, H, D, rng);
    gm_vae_options o;
    CHECK(gm_vae_options_init(&o));
    o.latent = L;
    o.seed = seed;
    gm_vae *vae;
    CHECK(gm_vae_create(&vae, enc, dec, &o));

    gm_tensor *x;
    CHECK(gm_tensor_create(&x, 2, (size_t[]){mine * b, D}));
    if (rank == 0)
        printf("libgenmodel %s: VAE on %d rank(s), %ld shards, batch %ld (%zu per shard), "
               "%ld steps\n",
               gm_version(), ranks, shards, batch, b, steps);
    MPI_Barrier(MPI_COMM_WORLD);
    const double t0 = MPI_Wtime();
    double loss = 0;
    for (long t = 0; t < steps; t++) {
        for (size_t s = 0; s < mine; s++) /* shard s's rows of this batch */
            memcpy(gm_tensor_data(x) + s * b * D, shard + (s * per_shard + (size_t)t * b) * D,
                   b * D * sizeof(float));
        gm_vae_stats st;
        CHECK(gm_vae_compute_grads(vae, x, NULL, first * b, (size_t)batch, &st));
        float *g;
        size_t n;
        CHECK(gm_vae_grads(vae, &g, &n));
        MPI_Allreduce(MPI_IN_PLACE, g, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        CHECK(gm_vae_apply_grads(vae));
        /* the batch's loss: the mean of the shards' means */
        double part = st.loss * (double)(mine * b) / (double)batch;
        MPI_Allreduce(&part, &loss, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        if (rank == 0 && (t + 1) % 50 == 0) {
            printf("step %4ld  loss %.2f\n", t + 1, loss);
            fflush(stdout);
        }
    }
    const double secs = MPI_Wtime() - t0;

    size_t np;
    float *p = all_params(vae, &np);
    int status = 0;
    /* the replicas must agree bit for bit */
    float *p0 = malloc(np * sizeof *p0);
    if (p0 == NULL) MPI_Abort(MPI_COMM_WORLD, 1);
    memcpy(p0, p, np * sizeof *p0);
    MPI_Bcast(p0, (int)np, MPI_FLOAT, 0, MPI_COMM_WORLD);
    int same = memcmp(p0, p, np * sizeof *p) == 0, all_same;
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
                    if (!(d <= 1e-4 + 1e-3 * fabs((double)q[i]))) {
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
        if (compare) printf(" max_param_diff=%.3g", max_diff);
        printf("\n");
    }
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    free(p);
    free(shard);
    gm_tensor_free(x);
    gm_vae_free(vae);
    gm_rng_free(rng);
    MPI_Finalize();
    return status;
}
