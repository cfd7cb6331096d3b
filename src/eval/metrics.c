/* SPDX-License-Identifier: MIT */
/* Metrics on sets of vectors: the Fréchet distance (covariances and the
 * matrix square root through LAPACK's dsyevd, all behind engine/blas.c), k-NN precision/recall,
 * density/coverage and the nearest-training-vector check. Distance matrices are computed in
 * row blocks through the BLAS, so memory stays bounded. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/blas.h"
#include "eval/eval_internal.h"

#define GM__EVAL_MAX_DIM 16384     /* largest D of gm_eval_frechet */
#define GM__EVAL_BLOCK_ELEMS 2097152 /* elements of one distance block */

/* ---- Fréchet distance -------------------------------------------------------------- */

/* Mean [d] and covariance [d x d] (normalized by n - 1, both triangles) of
 * the rows of x [n x d], in double. work: GM__EVAL_ROWS x d doubles. */
#define GM__EVAL_ROWS 256
static void gm__moments(const float *x, size_t n, size_t d, double *mean, double *cov,
                        double *work)
{
    memset(mean, 0, d * sizeof *mean);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++) mean[j] += x[i * d + j];
    for (size_t j = 0; j < d; j++) mean[j] /= (double)n;
    /* cov = sum over row blocks W of W^T W, W the centred rows */
    for (size_t i0 = 0; i0 < n; i0 += GM__EVAL_ROWS) {
        const size_t b = n - i0 < GM__EVAL_ROWS ? n - i0 : GM__EVAL_ROWS;
        for (size_t i = 0; i < b; i++)
            for (size_t j = 0; j < d; j++) work[i * d + j] = x[(i0 + i) * d + j] - mean[j];
        gm__dsyrk_upper_t(d, b, 1.0, work, d, i0 == 0 ? 0.0 : 1.0, cov, d);
    }
    const double s = 1.0 / (double)(n - 1);
    for (size_t i = 0; i < d; i++)
        for (size_t j = i; j < d; j++) cov[j * d + i] = cov[i * d + j] *= s;
}

/* Eigendecomposition of the symmetric a [d x d] (overwritten by the
 * eigenvectors, one per row, when vectors is set). w: d eigenvalues. */
static gm_status gm__syev(const char *fn, int vectors, double *a, size_t d, double *w,
                          double *work)
{
    const int info = gm__dsyevd(vectors, a, d, w, work);
    if (info != 0)
        return gm__set_error(GM_EINTERNAL, fn,
                             "LAPACK dsyevd failed on a %zu x %zu covariance (info %d)", d, d,
                             info);
    return GM_OK;
}

/* Index of the first non-finite value of x[0 .. n), or n. */
static size_t gm__find_nonfinite_d(const double *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return i;
    return n;
}

/* The Fréchet distance's workspace, one block: 5 matrices [d x d] (S_a,
 * S_b, square root, product, its copy), means, eigenvalues, the row block
 * and dsyevd's workspace. */
typedef struct gm__frechet_ws {
    double *mem, *sa, *sb, *root, *tmp, *m, *mua, *mub, *w, *rows, *work;
} gm__frechet_ws;

static gm_status gm__frechet_alloc(const char *fn, gm__frechet_ws *ws, size_t d)
{
    const size_t dd = d * d;
    const size_t ndoubles = 5 * dd + 3 * d + GM__EVAL_ROWS * d + gm__dsyevd_work(d);
    ws->mem = gm__malloc_array(ndoubles, sizeof(double));
    if (ws->mem == NULL)
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu doubles of workspace for D = %zu",
                             ndoubles, d);
    ws->sa = ws->mem, ws->sb = ws->sa + dd, ws->root = ws->sb + dd, ws->tmp = ws->root + dd;
    ws->m = ws->tmp + dd, ws->mua = ws->m + dd, ws->mub = ws->mua + d, ws->w = ws->mub + d;
    ws->rows = ws->w + d, ws->work = ws->rows + GM__EVAL_ROWS * d;
    return GM_OK;
}

/* ws->w = the eigenvalues of S_a^1/2 S_b S_a^1/2, whose square roots sum
 * to tr((S_a S_b)^1/2). */
static gm_status gm__frechet_cross(const char *fn, gm__frechet_ws *ws, size_t d)
{
    const size_t dd = d * d;
    double *tmp = ws->tmp, *root = ws->root, *m = ws->m, *w = ws->w;
    /* S_a = V^T diag(w) V (V's rows the eigenvectors); root = S_a^1/2 =
     * T^T T with T = diag(w^1/4) V, negative rounding noise in w taken as 0 */
    memcpy(tmp, ws->sa, dd * sizeof *tmp);
    GM_TRY(gm__syev(fn, 1, tmp, d, w, ws->work));
    for (size_t i = 0; i < d; i++) {
        const double s = w[i] > 0.0 ? sqrt(sqrt(w[i])) : 0.0;
        for (size_t j = 0; j < d; j++) tmp[i * d + j] *= s;
    }
    gm__dgemm(1, 0, d, d, d, 1.0, tmp, d, tmp, d, 0.0, root, d); /* root = T^T T */
    /* m = root S_b root, symmetrized against rounding */
    gm__dgemm(0, 0, d, d, d, 1.0, root, d, ws->sb, d, 0.0, tmp, d);
    gm__dgemm(0, 0, d, d, d, 1.0, tmp, d, root, d, 0.0, m, d);
    for (size_t i = 0; i < d; i++)
        for (size_t j = i + 1; j < d; j++)
            m[i * d + j] = m[j * d + i] = 0.5 * (m[i * d + j] + m[j * d + i]);
    return gm__syev(fn, 0, m, d, w, ws->work);
}

/* The distance from the moments in ws (computed), into *distance. */
static gm_status gm__frechet_finish(const char *fn, gm__frechet_ws *ws, size_t d,
                                    double *distance)
{
    double dmu = 0.0, tra = 0.0, trb = 0.0;
    for (size_t j = 0; j < d; j++) {
        dmu += (ws->mua[j] - ws->mub[j]) * (ws->mua[j] - ws->mub[j]);
        tra += ws->sa[j * d + j];
        trb += ws->sb[j * d + j];
    }
    GM_TRY(gm__frechet_cross(fn, ws, d));
    double trsqrt = 0.0;
    for (size_t i = 0; i < d; i++) trsqrt += ws->w[i] > 0.0 ? sqrt(ws->w[i]) : 0.0;
    const double dist = dmu + tra + trb - 2.0 * trsqrt;
    if (!isfinite(dist))
        return gm__set_error(GM_EINTERNAL, fn, "the distance came out non-finite (%g)", dist);
    *distance = dist > 0.0 ? dist : 0.0;
    return GM_OK;
}

gm_status gm_eval_frechet(const gm_tensor *a, const gm_tensor *b, double *distance)
{
    GM_CHECK_NULL(a);
    GM_CHECK_NULL(b);
    GM_CHECK_NULL(distance);
    GM_TRY(gm__same_vector_shape(__func__, a, "a", b, "b"));
    const size_t na = gm__tensor_rows(a), nb = gm__tensor_rows(b), d = gm__tensor_width(a);
    GM_CHECK(na >= 2, GM_EINVAL, "a must hold at least 2 vectors, got %zu", na);
    GM_CHECK(nb >= 2, GM_EINVAL, "b must hold at least 2 vectors, got %zu", nb);
    GM_CHECK(d <= GM__EVAL_MAX_DIM, GM_EINVAL, "vectors must have at most %d elements, got %zu",
             GM__EVAL_MAX_DIM, d);
    GM_TRY(gm__check_finite_rows(__func__, "a", a));
    GM_TRY(gm__check_finite_rows(__func__, "b", b));

    gm__frechet_ws ws = {0};
    GM_TRY(gm__frechet_alloc(__func__, &ws, d));
    const size_t dd = d * d;
    gm__moments(a->data, na, d, ws.mua, ws.sa, ws.rows);
    gm__moments(b->data, nb, d, ws.mub, ws.sb, ws.rows);
    gm_status st;
    if (gm__find_nonfinite_d(ws.sa, dd) != dd || gm__find_nonfinite_d(ws.sb, dd) != dd)
        st = GM_FAIL(GM_EINVAL, "the covariance of %s overflows: its values are too large",
                     gm__find_nonfinite_d(ws.sa, dd) != dd ? "a" : "b");
    else
        st = gm__frechet_finish(__func__, &ws, d, distance);
    gm__free(ws.mem);
    return st;
}

/* ---- k-NN precision, recall, density and coverage ----------------------------------- */

/* Rows per distance block against n columns: the block holds at most
 * GM__EVAL_BLOCK_ELEMS values. */
static size_t gm__block_rows(size_t n)
{
    size_t b = GM__EVAL_BLOCK_ELEMS / n;
    return b < 1 ? 1 : b > 512 ? 512 : b;
}

/* dist[i0 .. i0 + b) x [0 .. n) = squared distances between rows of q
 * (norms nq) and all rows of x [n x d] (norms nx), clamped at 0. */
static void gm__sqdist_d(double *dist, const double *q, const double *nq, size_t b,
                         const double *x, const double *nx, size_t n, size_t d)
{
    /* dist = -2 Q X^T, then + |q|^2 + |x|^2 */
    gm__dgemm(0, 1, b, n, d, -2.0, q, d, x, d, 0.0, dist, n);
    for (size_t i = 0; i < b; i++) {
        double *r = dist + i * n;
        for (size_t j = 0; j < n; j++) {
            const double v = r[j] + nq[i] + nx[j];
            r[j] = v > 0.0 ? v : 0.0;
        }
    }
}

/* The k-th smallest of v[0 .. n) except v[skip], with a max-heap of k. */
static double gm__kth_smallest(const double *v, size_t n, size_t skip, size_t k, double *heap)
{
    size_t h = 0;
    for (size_t j = 0; j < n; j++) {
        if (j == skip) continue;
        double x = v[j];
        if (h < k) { /* push and sift up */
            size_t c = h++;
            while (c > 0 && heap[(c - 1) / 2] < x) {
                heap[c] = heap[(c - 1) / 2];
                c = (c - 1) / 2;
            }
            heap[c] = x;
        } else if (x < heap[0]) { /* replace the root and sift down */
            size_t c = 0;
            for (;;) {
                size_t l = 2 * c + 1, big = c;
                double bv = x;
                if (l < k && heap[l] > bv) big = l, bv = heap[l];
                if (l + 1 < k && heap[l + 1] > bv) big = l + 1;
                if (big == c) break;
                heap[c] = heap[big];
                c = big;
            }
            heap[c] = x;
        }
    }
    return heap[0];
}

/* radii[i] = squared distance from row i of x [n x d] to its k-th nearest
 * other row. dist: a block of gm__block_rows(n) x n doubles. */
static void gm__knn_radii(double *radii, const double *x, const double *nx, size_t n, size_t d,
                          size_t k, double *dist, double *heap)
{
    const size_t br = gm__block_rows(n);
    for (size_t i0 = 0; i0 < n; i0 += br) {
        const size_t b = n - i0 < br ? n - i0 : br;
        gm__sqdist_d(dist, x + i0 * d, nx + i0, b, x, nx, n, d);
        for (size_t i = 0; i < b; i++)
            radii[i0 + i] = gm__kth_smallest(dist + i * n, n, i0 + i, k, heap);
    }
}

/* Number of rows of q [nq x d] within the ball of at least one row of x
 * (squared radii rx). */
static size_t gm__covered(const double *q, const double *nq, size_t m, const double *x,
                          const double *nx, const double *rx, size_t n, size_t d, double *dist)
{
    const size_t br = gm__block_rows(n);
    size_t count = 0;
    for (size_t i0 = 0; i0 < m; i0 += br) {
        const size_t b = m - i0 < br ? m - i0 : br;
        gm__sqdist_d(dist, q + i0 * d, nq + i0, b, x, nx, n, d);
        for (size_t i = 0; i < b; i++) {
            const double *r = dist + i * n;
            size_t j = 0;
            while (j < n && r[j] > rx[j]) j++;
            count += j < n;
        }
    }
    return count;
}

/* x as doubles into dst, and the squared norms of its rows into norms. */
static void gm__to_double(double *dst, double *norms, const float *x, size_t n, size_t d)
{
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < d; j++) {
            const double v = x[i * d + j];
            dst[i * d + j] = v;
            s += v * v;
        }
        norms[i] = s;
    }
}

/* The balls of the real vectors against the fake ones, in one pass over
 * the fake-by-real distances: the fake vectors inside at least one real
 * ball (precision's count), the sum over fake vectors of the balls they are
 * in (density's) and, in hit[0 .. n), whether real ball i holds a fake
 * vector (coverage's). */
static void gm__in_balls(const double *q, const double *nq, size_t m, const double *x,
                         const double *nx, const double *rx, size_t n, size_t d, double *dist,
                         size_t *inside, size_t *memberships, unsigned char *hit)
{
    const size_t br = gm__block_rows(n);
    size_t in_any = 0, total = 0;
    memset(hit, 0, n);
    for (size_t i0 = 0; i0 < m; i0 += br) {
        const size_t b = m - i0 < br ? m - i0 : br;
        gm__sqdist_d(dist, q + i0 * d, nq + i0, b, x, nx, n, d);
        for (size_t i = 0; i < b; i++) {
            const double *r = dist + i * n;
            size_t count = 0;
            for (size_t j = 0; j < n; j++) {
                const unsigned char in = r[j] <= rx[j];
                count += in;
                hit[j] |= in;
            }
            in_any += count > 0;
            total += count;
        }
    }
    *inside = in_any;
    *memberships = total;
}

/* gm__eval_knn's checks; pr: precision or recall is wanted (fake then
 * needs k + 1 vectors too). */
static gm_status gm__knn_check(const char *fn, const gm_tensor *real, const gm_tensor *fake,
                               size_t k, int pr)
{
    GM_TRY(gm__same_vector_shape(fn, real, "real", fake, "fake"));
    const size_t nr = gm__tensor_rows(real), nf = gm__tensor_rows(fake), d = gm__tensor_width(real);
    if (k < 1) return gm__set_error(GM_EINVAL, fn, "k must be >= 1, got 0");
    if (k >= nr)
        return gm__set_error(GM_EINVAL, fn, "real must hold at least k + 1 = %zu vectors, got %zu",
                             k < SIZE_MAX ? k + 1 : k, nr);
    if (pr && k >= nf)
        return gm__set_error(GM_EINVAL, fn, "fake must hold at least k + 1 = %zu vectors, got %zu",
                             k < SIZE_MAX ? k + 1 : k, nf);
    if (nr > GM__BLAS_MAX || nf > GM__BLAS_MAX || d > GM__BLAS_MAX)
        return gm__set_error(GM_EINVAL, fn,
                             "sets of %zu and %zu vectors of %zu elements are too large for the "
                             "BLAS", nr, nf, d);
    GM_TRY(gm__check_finite_rows(fn, "real", real));
    GM_TRY(gm__check_finite_rows(fn, "fake", fake));
    return GM_OK;
}

gm_status gm__eval_knn(const char *fn, const gm_tensor *real, const gm_tensor *fake, size_t k,
                       double *precision, double *recall, double *density, double *coverage)
{
    /* precision/recall need both sets' balls, density/coverage only the real ones */
    const int pr = precision != NULL || recall != NULL, dc = density != NULL || coverage != NULL;
    GM_TRY(gm__knn_check(fn, real, fake, k, pr));
    const size_t nr = gm__tensor_rows(real), nf = gm__tensor_rows(fake), d = gm__tensor_width(real);

    /* one block: both sets in double, their norms and radii, the distance
     * block (rows against the larger set), the heap and the coverage flags
     * of the real balls (nr bytes in whole doubles) */
    const size_t blr = gm__block_rows(nr) * nr, blf = gm__block_rows(nf) * nf;
    const size_t bl = blr > blf ? blr : blf, nhit = dc ? nr / sizeof(double) + 1 : 0;
    size_t elems = 0, xs;
    int ok = gm__mul_ok(nr + nf, d, &xs);
    if (ok) ok = !__builtin_add_overflow(xs, 2 * (nr + nf), &elems);
    if (ok) ok = !__builtin_add_overflow(elems, bl + k, &elems);
    if (ok) ok = !__builtin_add_overflow(elems, nhit, &elems);
    double *mem = ok ? gm__malloc_array(elems, sizeof(double)) : NULL;
    if (mem == NULL)
        return gm__set_error(GM_ENOMEM, fn,
                             "cannot allocate the workspace for %zu + %zu vectors of %zu", nr, nf,
                             d);
    double *xr = mem, *xf = xr + nr * d, *nrm_r = xf + nf * d, *nrm_f = nrm_r + nr;
    double *rad_r = nrm_f + nf, *rad_f = rad_r + nr, *dist = rad_f + nf, *heap = dist + bl;
    unsigned char *hit = (unsigned char *)(heap + k);
    gm__to_double(xr, nrm_r, real->data, nr, d);
    gm__to_double(xf, nrm_f, fake->data, nf, d);
    double p = 0.0, r = 0.0, den = 0.0, cov = 0.0;
    /* the real balls, computed once for precision, density and coverage */
    if (precision != NULL || dc) gm__knn_radii(rad_r, xr, nrm_r, nr, d, k, dist, heap);
    if (dc) { /* one pass gives all three counts */
        size_t inside = 0, memberships = 0, covered = 0;
        gm__in_balls(xf, nrm_f, nf, xr, nrm_r, rad_r, nr, d, dist, &inside, &memberships, hit);
        for (size_t i = 0; i < nr; i++) covered += hit[i];
        p = (double)inside / (double)nf;
        den = (double)memberships / ((double)k * (double)nf);
        cov = (double)covered / (double)nr;
    } else if (precision != NULL) { /* fake vectors inside a real ball */
        p = (double)gm__covered(xf, nrm_f, nf, xr, nrm_r, rad_r, nr, d, dist) / (double)nf;
    }
    if (recall != NULL) { /* real vectors inside a fake ball */
        gm__knn_radii(rad_f, xf, nrm_f, nf, d, k, dist, heap);
        r = (double)gm__covered(xr, nrm_r, nr, xf, nrm_f, rad_f, nf, d, dist) / (double)nr;
    }
    gm__free(mem);
    if (precision != NULL) *precision = p;
    if (recall != NULL) *recall = r;
    if (density != NULL) *density = den;
    if (coverage != NULL) *coverage = cov;
    return GM_OK;
}

gm_status gm_eval_precision_recall(const gm_tensor *real, const gm_tensor *fake, size_t k,
                                   double *precision, double *recall)
{
    GM_CHECK_NULL(real);
    GM_CHECK_NULL(fake);
    GM_CHECK(precision != NULL || recall != NULL, GM_EINVAL,
             "precision and recall must not both be NULL");
    return gm__eval_knn(__func__, real, fake, k, precision, recall, NULL, NULL);
}

gm_status gm_eval_density_coverage(const gm_tensor *real, const gm_tensor *fake, size_t k,
                                   double *density, double *coverage)
{
    GM_CHECK_NULL(real);
    GM_CHECK_NULL(fake);
    GM_CHECK(density != NULL || coverage != NULL, GM_EINVAL,
             "density and coverage must not both be NULL");
    return gm__eval_knn(__func__, real, fake, k, NULL, NULL, density, coverage);
}

/* ---- nearest training vector ---------------------------------------------------------- */

#define GM__NN_SAMPLES 256 /* sample rows per block */
#define GM__NN_TRAIN 2048  /* training rows per block */

static int gm__cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quantile p of sorted v[0 .. n) with linear interpolation (numpy's). */
static double gm__quantile(const double *v, size_t n, double p)
{
    const double pos = p * (double)(n - 1);
    const size_t lo = (size_t)pos;
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

/* best[i] = the distance from sample s_i to its nearest training vector
 * (arg[i] its index); returns the sum of best. nt: m floats, dist: a
 * GM__NN_SAMPLES x GM__NN_TRAIN block. */
static double gm__nn_search(const float *s, size_t n, const float *t, size_t m, size_t d,
                            float *nt, float *dist, double *best, size_t *arg)
{
    for (size_t j = 0; j < m; j++) {
        double acc = 0.0;
        for (size_t c = 0; c < d; c++) acc += (double)t[j * d + c] * t[j * d + c];
        nt[j] = (float)acc;
    }
    for (size_t i = 0; i < n; i++) best[i] = INFINITY, arg[i] = 0;
    /* argmin over j of |t_j|^2 - 2 s_i . t_j, in blocks */
    for (size_t i0 = 0; i0 < n; i0 += GM__NN_SAMPLES) {
        const size_t bs = n - i0 < GM__NN_SAMPLES ? n - i0 : GM__NN_SAMPLES;
        for (size_t j0 = 0; j0 < m; j0 += GM__NN_TRAIN) {
            const size_t bt = m - j0 < GM__NN_TRAIN ? m - j0 : GM__NN_TRAIN;
            /* dist [bs x bt] = -2 S T^T */
            gm__sgemm(0, 1, bs, bt, d, -2.0f, s + i0 * d, d, t + j0 * d, d, 0.0f, dist, bt);
            for (size_t i = 0; i < bs; i++) {
                const float *r = dist + i * bt;
                for (size_t j = 0; j < bt; j++) {
                    const double v = (double)r[j] + nt[j0 + j];
                    if (v < best[i0 + i]) best[i0 + i] = v, arg[i0 + i] = j0 + j;
                }
            }
        }
    }
    /* the exact distance to the neighbour found */
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) {
        const float *a = s + i * d, *b = t + arg[i] * d;
        double acc = 0.0;
        for (size_t c = 0; c < d; c++) {
            const double diff = (double)a[c] - b[c];
            acc += diff * diff;
        }
        best[i] = sqrt(acc);
        sum += best[i];
    }
    return sum;
}

gm_status gm_eval_nearest(const gm_tensor *samples, const gm_tensor *train,
                          gm_eval_nearest_stats *stats, gm_tensor *distances)
{
    GM_CHECK_NULL(samples);
    GM_CHECK_NULL(train);
    GM_CHECK_NULL(stats);
    GM_TRY(gm__same_vector_shape(__func__, samples, "samples", train, "train"));
    const size_t n = gm__tensor_rows(samples), m = gm__tensor_rows(train), d = gm__tensor_width(samples);
    GM_CHECK(distances == NULL || distances->numel == n, GM_ESHAPE,
             "distances must hold one value per sample (%zu), got %zu", n,
             distances ? distances->numel : 0);
    GM_CHECK(n <= GM__BLAS_MAX && m <= GM__BLAS_MAX && d <= GM__BLAS_MAX, GM_EINVAL,
             "sets of %zu and %zu vectors of %zu elements are too large for the BLAS", n, m, d);
    GM_TRY(gm__check_finite_rows(__func__, "samples", samples));
    GM_TRY(gm__check_finite_rows(__func__, "train", train));

    /* floats: training norms, the distance block; doubles: the sample
     * norms, best values and the sorted distances; sizes: the argmins */
    const size_t block = (size_t)GM__NN_SAMPLES * GM__NN_TRAIN;
    float *fl = gm__malloc_array(m + block, sizeof(float));
    double *db = gm__malloc_array(2 * n, sizeof(double));
    size_t *arg = gm__malloc_array(n, sizeof(size_t));
    if (fl == NULL || db == NULL || arg == NULL) {
        gm__free(fl);
        gm__free(db);
        gm__free(arg);
        return GM_FAIL(GM_ENOMEM, "cannot allocate the workspace for %zu samples and %zu "
                                  "training vectors", n, m);
    }
    float *nt = fl, *dist = fl + m;
    double *best = db, *sorted = db + n;
    const double sum = gm__nn_search(samples->data, n, train->data, m, d, nt, dist, best, arg);
    memcpy(sorted, best, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, gm__cmp_double);
    gm_eval_nearest_stats out = {sum / (double)n, sorted[0], gm__quantile(sorted, n, 0.05),
                                 gm__quantile(sorted, n, 0.5), sorted[n - 1]};
    if (distances != NULL)
        for (size_t i = 0; i < n; i++) distances->data[i] = (float)best[i];
    *stats = out;
    gm__free(fl);
    gm__free(db);
    gm__free(arg);
    return GM_OK;
}
