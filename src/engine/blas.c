/* SPDX-License-Identifier: MIT */
/* The one seam to the BLAS and LAPACK (float GEMM for the layers, double
 * products and the symmetric eigensolver for eval), the GEMM's loop
 * reference, and the thread count.
 *
 * The float GEMM: in a build with oneDNN (GM_DNNL) it is oneDNN's
 * dnnl_sgemm, on the same OpenMP threads as the convolutions; without
 * oneDNN, OpenBLAS's cblas_sgemm. Measured (bench/RESULTS.md, "One pool"):
 * OpenBLAS's pthreads and oneDNN's OpenMP threads are two pools that spin
 * in turn on the same cores, and with both products and convolutions in
 * oneDNN's one pool the 2-thread DCGAN step ran about 1.25 times faster
 * and the VAE's 1.08 times; at 1 thread the two were within 5% of each
 * other. The double
 * products and LAPACK stay on OpenBLAS. GM__SGEMM_OPENBLAS=1 in the
 * environment (read once) keeps OpenBLAS's sgemm in a oneDNN build, for
 * measuring one against the other. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#if GM_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

#include "engine/blas.h"
#include "engine/engine.h"

/* LAPACK's symmetric eigensolver (divide and conquer), as libopenblas
 * exports it: Fortran calling convention, column-major, the two trailing
 * arguments are the hidden lengths of the character arguments. */
extern void dsyevd_(const char *jobz, const char *uplo, const blasint *n, double *a,
                    const blasint *lda, double *w, double *work, const blasint *lwork,
                    blasint *iwork, const blasint *liwork, blasint *info, size_t jobz_len,
                    size_t uplo_len);

void gm__sgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K,
               float alpha, const float *A, size_t lda, const float *B,
               size_t ldb, float beta, float *C, size_t ldc)
{
#if GM_DNNL
    /* 0: not read yet, 1: oneDNN, 2: OpenBLAS */
    static atomic_int choice;
    int c = atomic_load_explicit(&choice, memory_order_relaxed);
    if (c == 0) {
        const char *e = getenv("GM__SGEMM_OPENBLAS");
        c = e != NULL && e[0] == '1' ? 2 : 1;
        atomic_store_explicit(&choice, c, memory_order_relaxed);
    }
    if (c == 1) {
        gm__dnnl_threads();
        /* the arguments are valid (sizes checked to fit int when the layer
         * was set up), so a failure is oneDNN's own (out of memory for its
         * packing buffers): then OpenBLAS computes the product instead */
        if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', (dnnl_dim_t)M, (dnnl_dim_t)N,
                       (dnnl_dim_t)K, alpha, A, (dnnl_dim_t)lda, B, (dnnl_dim_t)ldb, beta, C,
                       (dnnl_dim_t)ldc) == dnnl_success)
            return;
    }
#endif
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N,
                (blasint)K, alpha, A, (blasint)lda, B, (blasint)ldb, beta, C,
                (blasint)ldc);
}

void gm__dgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, double alpha,
               const double *A, size_t lda, const double *B, size_t ldb, double beta, double *C,
               size_t ldc)
{
    cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)M, (blasint)N, (blasint)K, alpha,
                A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

void gm__dsyrk_upper_t(size_t N, size_t K, double alpha, const double *A, size_t lda,
                       double beta, double *C, size_t ldc)
{
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)N, (blasint)K, alpha, A,
                (blasint)lda, beta, C, (blasint)ldc);
}

/* dsyevd's workspace for jobz = "V" (enough for "N"): lwork doubles, then
 * liwork integers in the doubles after them. */
static size_t gm__dsyevd_lwork(size_t d) { return 1 + 6 * d + 2 * d * d; }
static size_t gm__dsyevd_liwork(size_t d) { return 3 + 5 * d; }

size_t gm__dsyevd_work(size_t d)
{
    if (d > 65536) return 0; /* 2 d^2 and the int sizes stay far from overflow */
    const size_t ints = gm__dsyevd_liwork(d);
    return gm__dsyevd_lwork(d) + (ints * sizeof(blasint) + sizeof(double) - 1) / sizeof(double);
}

int gm__dsyevd(int vectors, double *a, size_t d, double *w, double *work)
{
    const size_t lwork = gm__dsyevd_lwork(d);
    const blasint n = (blasint)d, lw = (blasint)lwork, liw = (blasint)gm__dsyevd_liwork(d);
    blasint *iwork = (blasint *)(void *)(work + lwork);
    blasint info = 0;
    dsyevd_(vectors ? "V" : "N", "U", &n, a, &n, w, work, &lw, iwork, &liw, &info, 1, 1);
    return (int)info;
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
