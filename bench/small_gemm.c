/* SPDX-License-Identifier: MIT */
/*
 * bench/small_gemm: the small products of the ring GAN and the VAE, through
 * OpenBLAS (cblas_sgemm, what the library calls) and through libxsmm's
 * JIT kernels (Debian libxsmm-dev), one thread, in calls per second. It
 * answers issue 16's question "does libxsmm win on these shapes?" and is
 * built only when CMake finds libxsmm (bench/CMakeLists.txt).
 *
 *   small_gemm [--reps N]
 *
 * Every shape is the row-major C[M x N] = A[M x K] B[K x N] (beta 0) the
 * layers run: forward x W^T, the weight gradient dY^T X and the input
 * gradient dY W. libxsmm is column-major, so C^T = B^T A^T is asked of it
 * with the operands swapped; transposed operands are given to both as
 * the same memory. The results are compared (max difference relative
 * to the largest entry; over 1e-4 fails, exit status 1) so a wrong call cannot look fast.
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <libxsmm.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct {
    const char *what;
    int M, N, K, ta, tb;
} shape;

/* ring GAN (batch 256; 2-128-128-2 and 2-128-128-1) and VAE (batch 128;
 * 784-400-2x20 / 20-400-784): the products of one layer each way */
static const shape shapes[] = {
    {"ring fwd 256x128x128", 256, 128, 128, 0, 1},
    {"ring dW 128x128x256", 128, 128, 256, 1, 0},
    {"ring dX 256x128x128", 256, 128, 128, 0, 0},
    {"ring fwd 256x128x2", 256, 128, 2, 0, 1},
    {"ring fwd 256x2x128", 256, 2, 128, 0, 1},
    {"vae fwd 128x40x400", 128, 40, 400, 0, 1},
    {"vae fwd 128x400x20", 128, 400, 20, 0, 1},
    {"vae fwd 128x400x784", 128, 400, 784, 0, 1},
};

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)(*s >> 8) / 16777216.0f - 0.5f;
}

int main(int argc, char **argv)
{
    long reps = 2000;
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--reps") == 0) reps = atol(argv[i + 1]);
    openblas_set_num_threads(1);
    libxsmm_init();
    int bad = 0;
    printf("| shape (M x N x K, op) | OpenBLAS calls/s | libxsmm calls/s | libxsmm / OpenBLAS | max diff / max entry |\n");
    printf("|---|---|---|---|---|\n");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const shape h = shapes[s];
        float *A = malloc(sizeof(float) * (size_t)h.M * h.K);
        float *B = malloc(sizeof(float) * (size_t)h.K * h.N);
        float *C1 = malloc(sizeof(float) * (size_t)h.M * h.N);
        float *C2 = malloc(sizeof(float) * (size_t)h.M * h.N);
        if (!A || !B || !C1 || !C2) return 1;
        unsigned seed = 7;
        for (long i = 0; i < (long)h.M * h.K; i++) A[i] = frand(&seed);
        for (long i = 0; i < (long)h.K * h.N; i++) B[i] = frand(&seed);
        /* row-major leading dimensions of A (M x K, or K x M stored when ta)
         * and B (K x N, or N x K stored when tb) */
        const int lda = h.ta ? h.M : h.K, ldb = h.tb ? h.K : h.N;
        /* column-major C^T [N x M] = op(B)^T op(A)^T: libxsmm's "A" is our B */
        const int flags = (h.tb ? LIBXSMM_GEMM_FLAG_TRANS_A : 0) | (h.ta ? LIBXSMM_GEMM_FLAG_TRANS_B : 0);
        const float alpha = 1.0f, beta = 0.0f;
        libxsmm_smmfunction k = libxsmm_smmdispatch(h.N, h.M, h.K, &ldb, &lda, &h.N, &alpha, &beta,
                                                    &flags, NULL);
        double t0 = now();
        for (long r = 0; r < reps; r++)
            cblas_sgemm(CblasRowMajor, h.ta ? CblasTrans : CblasNoTrans,
                        h.tb ? CblasTrans : CblasNoTrans, h.M, h.N, h.K, 1.0f, A, lda, B, ldb,
                        0.0f, C1, h.N);
        const double blas = (double)reps / (now() - t0);
        double xsmm = 0.0, diff = 0.0;
        if (k) {
            t0 = now();
            for (long r = 0; r < reps; r++) k(B, A, C2);
            xsmm = (double)reps / (now() - t0);
            double big = 0.0;
            for (long i = 0; i < (long)h.M * h.N; i++) {
                const double d = fabs((double)C1[i] - C2[i]), c = fabs((double)C1[i]);
                diff = d > diff ? d : diff;
                big = c > big ? c : big;
            }
            diff /= big > 0.0 ? big : 1.0;
            bad |= diff > 1e-4;
        }
        if (k)
            printf("| %s%s%s | %.0f | %.0f | %.2f | %.1e |\n", h.what, h.ta ? " A^T" : "",
                   h.tb ? " B^T" : "", blas, xsmm, xsmm / blas, diff);
        else
            printf("| %s%s%s | %.0f | no JIT kernel | - | - |\n", h.what, h.ta ? " A^T" : "",
                   h.tb ? " B^T" : "", blas);
        free(A);
        free(B);
        free(C1);
        free(C2);
    }
    libxsmm_finalize();
    if (bad) fprintf(stderr, "small_gemm: libxsmm and OpenBLAS disagree\n");
    return bad;
}
