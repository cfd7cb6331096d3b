/* SPDX-License-Identifier: MIT */
/* The BLAS/LAPACK seam in double precision (blas.c): the products and the
 * factorization of eval's statistics. The float GEMM the layers use,
 * gm__sgemm, is declared in engine.h. No other file calls cblas_* or LAPACK.
 * Not installed. */
#ifndef GM_ENGINE_BLAS_H
#define GM_ENGINE_BLAS_H

#include <stddef.h>

/* C[M x N] = alpha op(A) op(B) + beta C, row-major, op = transpose if
 * trans_x; every size and leading dimension at most GM__BLAS_MAX. */
void gm__dgemm(int trans_a, int trans_b, size_t M, size_t N, size_t K, double alpha,
               const double *A, size_t lda, const double *B, size_t ldb, double beta, double *C,
               size_t ldc);

/* The upper triangle of C[N x N] = alpha A^T A + beta C, A [K x N]
 * row-major (leading dimension lda); the lower triangle is not touched. */
void gm__dsyrk_upper_t(size_t N, size_t K, double alpha, const double *A, size_t lda,
                       double beta, double *C, size_t ldc);

/* Doubles of workspace gm__dsyevd needs for a d x d matrix (its real and
 * its integer workspace in one block); 0 if that count would overflow. */
size_t gm__dsyevd_work(size_t d);

/* Eigenvalues w[d] (ascending) of the symmetric a [d x d], read from its
 * upper triangle, by LAPACK's divide-and-conquer dsyevd; with vectors set, a
 * is overwritten by the eigenvectors, one per row (row-major), else it is
 * clobbered. work: gm__dsyevd_work(d) doubles. Returns LAPACK's info: 0 on
 * success. */
int gm__dsyevd(int vectors, double *a, size_t d, double *w, double *work);

#endif
