/* SPDX-License-Identifier: MIT */
/*
 * gan_ring: training and sampling speed of the ring MLP GAN of
 * examples/gan_ring.c (8 Gaussians on a circle, batch 256).
 *
 *   gan_ring [--steps N] [--warmup N] [--threads N] [--seed N]
 *            [--sample-batch N] [--sample-reps N] [--no-bound]
 *
 * The real batches are drawn as the example draws them (from the library's
 * generator, inside the timed loop as there). Then the sampling throughput
 * of G, then the sgemm bound. peak_rss_mb: the process's peak at the end of
 * training, sample_peak_rss_mb through sampling. Last line: key=value pairs.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"

enum { B = BENCH_RING_B };

static void ring_batch(gm_rng *rng, float *x)
{
    float u[B], e[2 * B];
    BENCH_CHECK(gm_rng_uniform(rng, u, B));
    BENCH_CHECK(gm_rng_normal(rng, e, 2 * B));
    for (size_t i = 0; i < B; i++) {
        int k = (int)(u[i] * 8.0f) & 7;
        double a = 2.0 * 3.14159265358979 * k / 8.0;
        x[2 * i] = (float)(2.0 * cos(a) + 0.02 * e[2 * i]);
        x[2 * i + 1] = (float)(2.0 * sin(a) + 0.02 * e[2 * i + 1]);
    }
}

/* One train step on the bound's recorded batch (bench_gemm_bound). */
static gm_tensor *bound_x;
static void gan_step(void *gan) { BENCH_CHECK(gm_gan_train_step(gan, bound_x, NULL, NULL)); }

int main(int argc, char **argv)
{
    bench_opts o = {3000, 100, 0, 1, NULL, 2500, 200, 1};
    bench_parse(&o, argc, argv, "gan_ring");
    bench_alloc_install();
    gm_rng *rng;
    BENCH_CHECK(gm_rng_create(&rng, o.seed));
    gm_gan *gan = bench_ring_gan_create(o.seed);
    gm_tensor *x;
    BENCH_CHECK(gm_tensor_create(&x, 2, (size_t[]){B, 2}));
    gm_gan_stats st = {0};

    double t_train = 0, c_train = 0;
    uint64_t allocs = 0;
    for (long s = 0; s < o.warmup + o.steps; s++) {
        const int timed = s >= o.warmup;
        double t0 = bench_now(), c0 = bench_cpu_now();
        uint64_t a0 = bench_alloc_calls();
        ring_batch(rng, gm_tensor_data(x));
        BENCH_CHECK(gm_gan_train_step(gan, x, NULL, &st));
        if (timed) {
            t_train += bench_now() - t0;
            c_train += bench_cpu_now() - c0;
            allocs += bench_alloc_calls() - a0;
        }
    }
    const double sps = (double)o.steps / t_train, cps = (double)o.steps / c_train;
    const double train_rss = bench_peak_rss_mb(); /* at the end of training */

    gm_tensor *out;
    BENCH_CHECK(gm_tensor_create(&out, 2, (size_t[]){(size_t)o.sample_batch, 2}));
    BENCH_CHECK(gm_gan_sample(gan, (size_t)o.sample_batch, NULL, out));
    double t0 = bench_now();
    for (long r = 0; r < o.sample_reps; r++)
        BENCH_CHECK(gm_gan_sample(gan, (size_t)o.sample_batch, NULL, out));
    const double ips = (double)o.sample_reps * (double)o.sample_batch / (bench_now() - t0);
    const double sample_rss = bench_peak_rss_mb(); /* through sampling */

    /* the sgemm bound last: its replay's buffers would count in the peaks above */
    double bound = 0, cbound = 0;
    if (o.bound) {
        bound_x = x;
        bench_gemm_bound(gan_step, gan, 1.0, 0, &bound, &cbound, NULL);
    }

    printf("impl=genmodel-%s threads=%d steps=%ld seconds=%.2f steps_per_second=%.1f "
           "d_loss=%.3f g_loss=%.3f allocs_per_step=%.3f sgemm_bound_steps_per_second=%.1f "
           "bound_fraction=%.3f cpu_steps_per_second=%.2f cpu_bound_fraction=%.3f "
           "model_gflop_per_step=%.4f sample_batch=%ld images_per_second=%.0f "
           "model_mflop_per_image=%.4f peak_rss_mb=%.1f sample_peak_rss_mb=%.1f\n",
           gm_version(), gm_get_num_threads(), o.steps, t_train, sps, st.d_loss, st.g_loss,
           (double)allocs / (double)o.steps, bound, bound > 0 ? sps / bound : 0.0, cps,
           cbound > 0 ? cps / cbound : 0.0, bench_ring_step_flops() * 1e-9, o.sample_batch,
           ips, bench_ring_sample_flops() * 1e-6, train_rss, sample_rss);
    gm_tensor_free(out);
    gm_tensor_free(x);
    gm_gan_free(gan);
    gm_rng_free(rng);
    return 0;
}
