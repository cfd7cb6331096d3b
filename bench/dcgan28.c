/* SPDX-License-Identifier: MIT */
/*
 * dcgan28: training and sampling speed of the DCGAN of
 * examples/dcgan_fashion.c on Fashion-MNIST (28 x 28, batch 64).
 *
 *   dcgan28 [--steps N] [--warmup N] [--threads N] [--seed N] [--data DIR]
 *           [--sample-batch N] [--sample-reps N] [--no-bound]
 *
 * One step = gm_gan_train_step: a discriminator update on real + fake,
 * then a generator update on fresh z (what gm_gan_fit runs per batch).
 * Images stay bytes (47 MB) and are scaled to [-1, 1] per batch. After
 * training: the generator's sampling throughput (evaluation mode), then
 * the sgemm bound of one step. peak_rss_mb is the process's peak at the
 * end of training (dataset included), sample_peak_rss_mb through sampling.
 * Last line: key=value pairs.
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_common.h"

enum { D = 784, B = BENCH_DCGAN_B };

/* One train step on the bound's recorded batch (bench_gemm_bound). */
static gm_tensor *bound_x;
static void gan_step(void *gan) { BENCH_CHECK(gm_gan_train_step(gan, bound_x, NULL, NULL)); }

int main(int argc, char **argv)
{
    bench_opts o = {100, 5, 0, 1, NULL, 256, 20, 1};
    bench_parse(&o, argc, argv, "dcgan28");
    bench_alloc_install();

    char path[1024];
    size_t n;
    snprintf(path, sizeof path, "%s/train-images-idx3-ubyte.gz", o.data);
    unsigned char *bytes = bench_load_images_u8(path, &n);
    if (n < B) return 1;
    gm_gan *gan = bench_dcgan_create(o.seed);

    gm_tensor *x;
    BENCH_CHECK(gm_tensor_create(&x, 4, (size_t[]){B, 1, 28, 28}));
    float *xd = gm_tensor_data(x);
    size_t *order = malloc(n * sizeof *order), pos = 0;
    if (!order) return 1;
    for (size_t i = 0; i < n; i++) order[i] = i;
    uint64_t rs = o.seed;
    gm_gan_stats st = {0};

    double t_train = 0, c_train = 0, dl = 0, gl = 0;
    uint64_t allocs = 0;
    for (long s = 0; s < o.warmup + o.steps; s++) {
        const int timed = s >= o.warmup;
        double t0 = bench_now(), c0 = bench_cpu_now();
        uint64_t a0 = bench_alloc_calls();
        const size_t *idx = bench_next_batch(order, n, B, &pos, &rs);
        for (size_t i = 0; i < B; i++)
            bench_bytes_to_floats(xd + i * D, bytes + idx[i] * D, D, 2.0f / 255.0f, -1.0f);
        BENCH_CHECK(gm_gan_train_step(gan, x, NULL, &st));
        if (timed) {
            t_train += bench_now() - t0;
            c_train += bench_cpu_now() - c0;
            allocs += bench_alloc_calls() - a0;
            dl += st.d_loss;
            gl += st.g_loss;
        }
    }
    const double sps = (double)o.steps / t_train, cps = (double)o.steps / c_train;
    const double train_rss = bench_peak_rss_mb(); /* dataset included */

    gm_tensor *out;
    BENCH_CHECK(gm_tensor_create(&out, 4, (size_t[]){(size_t)o.sample_batch, 1, 28, 28}));
    BENCH_CHECK(gm_gan_sample(gan, (size_t)o.sample_batch, NULL, out));
    double t0 = bench_now();
    for (long r = 0; r < o.sample_reps; r++)
        BENCH_CHECK(gm_gan_sample(gan, (size_t)o.sample_batch, NULL, out));
    const double ips = (double)o.sample_reps * (double)o.sample_batch / (bench_now() - t0);
    const double sample_rss = bench_peak_rss_mb(); /* through sampling */

    /* the sgemm bound last: its replay's buffers would count in the peaks above */
    double bound = 0, cbound = 0, gflop = 0;
    if (o.bound) {
        bound_x = x;
        bench_gemm_bound(gan_step, gan, 2.0, 1, &bound, &cbound, &gflop);
    }

    printf("impl=genmodel-%s threads=%d steps=%ld seconds=%.2f steps_per_second=%.3f "
           "d_loss=%.3f g_loss=%.3f allocs_per_step=%.3f sgemm_bound_steps_per_second=%.2f "
           "bound_fraction=%.3f cpu_steps_per_second=%.2f cpu_bound_fraction=%.3f "
           "gflop_per_step=%.4f model_gflop_per_step=%.4f sample_batch=%ld "
           "images_per_second=%.0f model_mflop_per_image=%.4f peak_rss_mb=%.1f "
           "sample_peak_rss_mb=%.1f\n",
           gm_version(), gm_get_num_threads(), o.steps, t_train, sps, dl / (double)o.steps,
           gl / (double)o.steps, (double)allocs / (double)o.steps, bound,
           bound > 0 ? sps / bound : 0.0, cps, cbound > 0 ? cps / cbound : 0.0, gflop,
           bench_dcgan_step_flops() * 1e-9, o.sample_batch, ips,
           bench_dcgan_sample_flops() * 1e-6, train_rss, sample_rss);
    gm_tensor_free(out);
    gm_tensor_free(x);
    gm_gan_free(gan);
    free(order);
    free(bytes);
    return 0;
}
