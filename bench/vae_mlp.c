/* SPDX-License-Identifier: MIT */
/*
 * vae_mlp: training and sampling speed of the reference VAE recipe
 * (examples/vae_fashion.c) on Fashion-MNIST.
 *
 *   vae_mlp [--steps N] [--warmup N] [--threads N] [--seed N] [--data DIR]
 *           [--sample-batch N] [--sample-reps N] [--no-bound]
 *
 * Encoder 784-400 ReLU 400-40, decoder 20-400 ReLU 400-784, Bernoulli
 * likelihood, Adam 1e-3, batch 128, shuffled epochs. The dataset stays as
 * bytes (47 MB) and each batch is converted to floats when it is used.
 * After training: the sampling throughput of the decoder, then the sgemm
 * bound (one step's own cblas_sgemm calls, timed alone at the same thread
 * count). peak_rss_mb is the process's peak at the end of training,
 * sample_peak_rss_mb through sampling. Last line: key=value pairs
 * (bench/run.sh reads it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"

enum { D = BENCH_VAE_D, B = BENCH_VAE_B };

/* One train step on the bound's recorded batch (bench_gemm_bound). */
static gm_tensor *bound_x;
static void vae_step(void *vae) { BENCH_CHECK(gm_vae_train_step(vae, bound_x, NULL, NULL)); }

int main(int argc, char **argv)
{
    bench_opts o = {300, 20, 0, 1, NULL, 256, 200, 1};
    bench_parse(&o, argc, argv, "vae_mlp");
    bench_alloc_install(); /* before any library object */

    char path[1024];
    size_t n;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", o.data);
    unsigned char *bytes = bench_load_images_u8(path, &n);
    if (n < B) return 1;

    gm_vae *vae = bench_vae_create(o.seed);

    gm_tensor *x;
    BENCH_CHECK(gm_tensor_create(&x, 2, (size_t[]){B, D}));
    size_t *order = malloc(n * sizeof *order), pos = 0;
    if (!order) return 1;
    for (size_t i = 0; i < n; i++) order[i] = i;
    uint64_t rs = o.seed;
    float *xd = gm_tensor_data(x);
    gm_vae_stats st = {0};

    double t_train = 0, c_train = 0, loss_sum = 0;
    uint64_t allocs = 0;
    for (long s = 0; s < o.warmup + o.steps; s++) {
        const int timed = s >= o.warmup;
        double t0 = bench_now(), c0 = bench_cpu_now();
        uint64_t a0 = bench_alloc_calls();
        const size_t *idx = bench_next_batch(order, n, B, &pos, &rs);
        for (size_t i = 0; i < B; i++)
            bench_bytes_to_floats(xd + i * D, bytes + idx[i] * D, D, 1.0f / 255.0f, 0.0f);
        BENCH_CHECK(gm_vae_train_step(vae, x, NULL, &st));
        if (timed) {
            t_train += bench_now() - t0;
            c_train += bench_cpu_now() - c0;
            allocs += bench_alloc_calls() - a0;
            loss_sum += st.loss;
        }
    }
    const double sps = (double)o.steps / t_train, cps = (double)o.steps / c_train;
    const double train_rss = bench_peak_rss_mb(); /* dataset included */

    /* sampling: decoder means for sample_batch latents, repeated */
    gm_tensor *out;
    BENCH_CHECK(gm_tensor_create(&out, 2, (size_t[]){(size_t)o.sample_batch, D}));
    BENCH_CHECK(gm_vae_sample(vae, (size_t)o.sample_batch, NULL, out)); /* sizes buffers */
    double t0 = bench_now();
    for (long r = 0; r < o.sample_reps; r++)
        BENCH_CHECK(gm_vae_sample(vae, (size_t)o.sample_batch, NULL, out));
    const double ips = (double)o.sample_reps * (double)o.sample_batch / (bench_now() - t0);
    const double sample_rss = bench_peak_rss_mb(); /* through sampling */

    /* the sgemm bound: record one more step's gemm calls, replay them alone
     * (last: the replay's buffers would count in the peaks above) */
    double bound = 0, cbound = 0, gflop = 0;
    if (o.bound) {
        bound_x = x;
        bench_gemm_bound(vae_step, vae, 2.0, 1, &bound, &cbound, &gflop);
    }

    printf("impl=genmodel-%s threads=%d steps=%ld seconds=%.2f steps_per_second=%.2f "
           "train_loss=%.2f allocs_per_step=%.3f sgemm_bound_steps_per_second=%.2f "
           "bound_fraction=%.3f cpu_steps_per_second=%.2f cpu_bound_fraction=%.3f "
           "gflop_per_step=%.4f model_gflop_per_step=%.4f sample_batch=%ld "
           "images_per_second=%.0f model_mflop_per_image=%.4f peak_rss_mb=%.1f "
           "sample_peak_rss_mb=%.1f\n",
           gm_version(), gm_get_num_threads(), o.steps, t_train, sps,
           loss_sum / (double)o.steps, (double)allocs / (double)o.steps, bound,
           bound > 0 ? sps / bound : 0.0, cps, cbound > 0 ? cps / cbound : 0.0, gflop,
           bench_vae_step_flops() * 1e-9, o.sample_batch, ips, bench_vae_sample_flops() * 1e-6,
           train_rss, sample_rss);

    gm_tensor_free(out);
    gm_tensor_free(x);
    gm_vae_free(vae);
    free(order);
    free(bytes);
    return 0;
}
