/* SPDX-License-Identifier: MIT */
/*
 * sgemm_bound: how fast a training step could be if it were nothing but its
 * own matrix products. Builds the VAE and the DCGAN of the benchmarks,
 * records the cblas_sgemm calls (shapes, transposes, alpha, beta) of one
 * steady-state training step of each, and times exactly those calls alone
 * at the given thread count.
 *
 *   sgemm_bound [--threads N] [--seconds S] [--model vae|dcgan|all|none]
 *
 * Also the machine's FLOP peak at that thread count, as far as OpenBLAS
 * reaches it: one 1024 x 1024 x 1024 sgemm (2^31 FLOPs), the best of
 * several, in GFLOP/s.
 *
 * Prints the calls, a line per model, and a last line of key=value pairs:
 * <model>_bound_steps_per_second and <model>_gflops (the calls' speed),
 * peak_gflops. --model none measures the peak only.
 * Random inputs: the shapes do not depend on the data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "bench_common.h"

static float frand(uint64_t *s) { return (float)(bench_rand(s) >> 40) * 0x1p-24f; }

/* Records one step after two warm-up steps; returns seconds per replay. */
static double vae_bound(double seconds, double *gflop)
{
    gm_vae *vae = bench_vae_create(1);
    gm_tensor *x;
    BENCH_CHECK(gm_tensor_create(&x, 2, (size_t[]){BENCH_VAE_B, BENCH_VAE_D}));
    uint64_t s = 7;
    for (size_t i = 0; i < gm_tensor_numel(x); i++) gm_tensor_data(x)[i] = frand(&s);
    for (int k = 0; k < 2; k++) BENCH_CHECK(gm_vae_train_step(vae, x, NULL, NULL));
    bench_gemm_record_begin();
    BENCH_CHECK(gm_vae_train_step(vae, x, NULL, NULL));
    size_t nc = bench_gemm_record_end();
    *gflop = bench_gemm_recorded_flops() * 1e-9;
    printf("# vae: %zu calls per step\n", nc);
    bench_gemm_print();
    gm_tensor_free(x);
    gm_vae_free(vae);
    return bench_gemm_replay_seconds(seconds, NULL);
}

static double dcgan_bound(double seconds, double *gflop)
{
    gm_gan *gan = bench_dcgan_create(1);
    gm_tensor *x;
    BENCH_CHECK(gm_tensor_create(&x, 4, (size_t[]){BENCH_DCGAN_B, 1, 28, 28}));
    uint64_t s = 7;
    for (size_t i = 0; i < gm_tensor_numel(x); i++) gm_tensor_data(x)[i] = 2 * frand(&s) - 1;
    for (int k = 0; k < 2; k++) BENCH_CHECK(gm_gan_train_step(gan, x, NULL, NULL));
    bench_gemm_record_begin();
    BENCH_CHECK(gm_gan_train_step(gan, x, NULL, NULL));
    size_t nc = bench_gemm_record_end();
    *gflop = bench_gemm_recorded_flops() * 1e-9;
    printf("# dcgan: %zu calls per step\n", nc);
    bench_gemm_print();
    gm_tensor_free(x);
    gm_gan_free(gan);
    return bench_gemm_replay_seconds(seconds, NULL);
}

/* Best of `reps` timed 1024^3 sgemm calls (after one untimed), GFLOP/s. */
static double peak_gflops(int reps)
{
    enum { N = 1024 };
    float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
          *c = malloc(sizeof(float) * N * N);
    if (!a || !b || !c) {
        fprintf(stderr, "sgemm_bound: out of memory\n");
        exit(1);
    }
    uint64_t s = 11;
    for (size_t i = 0; i < (size_t)N * N; i++) a[i] = frand(&s) - 0.5f, b[i] = frand(&s) - 0.5f;
    double best = 1e30;
    for (int r = 0; r <= reps; r++) {
        double t0 = bench_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f,
                    c, N);
        double t = bench_now() - t0;
        if (r > 0 && t < best) best = t;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * N * N * (double)N / best * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = 0;
    double seconds = 2.0;
    const char *model = "all";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v && strcmp(argv[i], "--threads") == 0) threads = atoi(v), i++;
        else if (v && strcmp(argv[i], "--seconds") == 0) seconds = atof(v), i++;
        else if (v && strcmp(argv[i], "--model") == 0) model = v, i++;
        else {
            fprintf(stderr, "usage: sgemm_bound [--threads N] [--seconds S] "
                            "[--model vae|dcgan|all|none]\n");
            return 2;
        }
    }
    if (threads > 0) BENCH_CHECK(gm_set_num_threads(threads));
    char line[512] = "";
    size_t k = 0;
    if (strcmp(model, "vae") == 0 || strcmp(model, "all") == 0) {
        double gf, t = vae_bound(seconds, &gf);
        printf("vae: %.3f GFLOP per step, %.3f ms alone = %.1f GFLOP/s, bound %.1f steps/s\n",
               gf, 1e3 * t, gf / t, 1.0 / t);
        k += (size_t)snprintf(line + k, sizeof line - k,
                              " vae_bound_steps_per_second=%.2f vae_gflops=%.1f", 1.0 / t, gf / t);
    }
    if (strcmp(model, "dcgan") == 0 || strcmp(model, "all") == 0) {
        double gf, t = dcgan_bound(seconds, &gf);
        printf("dcgan: %.3f GFLOP per step, %.3f ms alone = %.1f GFLOP/s, bound %.1f steps/s\n",
               gf, 1e3 * t, gf / t, 1.0 / t);
        k += (size_t)snprintf(line + k, sizeof line - k,
                              " dcgan_bound_steps_per_second=%.2f dcgan_gflops=%.1f", 1.0 / t,
                              gf / t);
    }
    const double peak = peak_gflops(10);
    printf("peak: sgemm 1024^3 %.1f GFLOP/s (best of 10)\n", peak);
    printf("# openblas: %s; core %s\n", bench_blas_config(), bench_blas_core());
    printf("threads=%d blas_core=%s%s peak_gflops=%.1f\n", gm_get_num_threads(), bench_blas_core(),
           line, peak);
    return 0;
}
