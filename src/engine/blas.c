/* SPDX-License-Identifier: MIT */
/* The one seam to the BLAS, its loop reference, and the thread count. */
#include <cblas.h>
#include <stdatomic.h>

#include "engine/engine.h"

void gm__sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
               float alpha, const float *A, size_t lda, const float *B,
               size_t ldb, float beta, float *C, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
                (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb, beta, C,
                (blasint)ldc);
}

void gm__sgemm_ref(int trans_a, int trans_b, size_t M, size_t N, size_t K,
                   float alpha, const float *A, size_t lda, const float *B,
                   size_t ldb, float beta, float *C, size_t ldc)
{
    for (size_t i = 0; i < M; i++)
        for (size_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (size_t k = 0; k < K; k++) {
                float a = trans_a ? A[k * lda + i] : A[i * lda + k];
                float b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
                acc += (double)a * b;
            }
            float c = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
            C[i * ldc + j] = c + alpha * (float)acc;
        }
}

/* Bumped by every gm_set_num_threads: oneDNN primitives split their work
 * for the thread count they were made with, so nets set up before a change
 * make theirs again (gm__net_prepare). */
static atomic_uint gm__threads_gen;

unsigned gm__threads_generation(void) { return atomic_load(&gm__threads_gen); }

void gm__threads_changed(void) { atomic_fetch_add(&gm__threads_gen, 1); }

gm_status gm_set_num_threads(int n)
{
    GM_CHECK(n >= 1 && n <= 1024, GM_EINVAL,
             "n must be in [1, 1024], got %d", n);
    openblas_set_num_threads(n);
    atomic_fetch_add(&gm__threads_gen, 1);
    return GM_OK;
}

int gm_get_num_threads(void)
{
    int n = openblas_get_num_threads();
    return n < 1 ? 1 : n;
}
