/* SPDX-License-Identifier: MIT */
/* The Mutual Information Gap (include/genmodel/interp.h): latent dimensions
 * discretized into equal-width bins, factors into their distinct values,
 * plug-in mutual information from the joint histograms. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/interp.h>

#include "core/internal.h"

static int gm__cmp_i32(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* codes[i] = the rank of col[i * stride] among the column's distinct
 * values; returns their number. sorted: n int32 of work. */
static size_t gm__factor_codes(const int32_t *col, size_t n, size_t stride, int32_t *sorted,
                               uint32_t *codes)
{
    for (size_t i = 0; i < n; i++) sorted[i] = col[i * stride];
    qsort(sorted, n, sizeof *sorted, gm__cmp_i32);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || sorted[i] != sorted[u - 1]) sorted[u++] = sorted[i];
    for (size_t i = 0; i < n; i++) {
        const int32_t v = col[i * stride];
        size_t lo = 0, hi = u; /* binary search */
        while (hi - lo > 1) {
            const size_t mid = (lo + hi) / 2;
            if (sorted[mid] <= v) lo = mid;
            else hi = mid;
        }
        codes[i] = (uint32_t)lo;
    }
    return u;
}

/* zc[j * n + i] = the bin of latents[i * latent + j] among `bins`
 * equal-width bins over dimension j's range (all 0 for a constant one). */
static void gm__mig_bins(const float *latents, size_t n, size_t latent, size_t bins,
                         uint32_t *zc)
{
    for (size_t j = 0; j < latent; j++) {
        float lo = latents[j], hi = latents[j];
        for (size_t i = 1; i < n; i++) {
            const float v = latents[i * latent + j];
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        const double width = (double)hi - (double)lo;
        for (size_t i = 0; i < n; i++) {
            size_t b = 0;
            if (width > 0) {
                const double t = ((double)latents[i * latent + j] - lo) / width * (double)bins;
                b = t >= (double)bins ? bins - 1 : (size_t)t;
            }
            zc[j * n + i] = (uint32_t)b;
        }
    }
}

/* One factor (codes fc, u values): mi[j] = I(factor; z_j) for every
 * dimension, and the gap (top1 - top2) / H(factor) clamped to [0, 1].
 * joint: u x bins + u doubles, pz: bins doubles of work. */
static double gm__mig_factor(const uint32_t *fc, size_t u, const uint32_t *zc, size_t n,
                             size_t latent, size_t bins, double *joint, double *pz, double *mi)
{
    const double inv_n = 1.0 / (double)n;
    const size_t cells = u * bins;
    double *pf = joint + cells;
    memset(pf, 0, u * sizeof(double));
    for (size_t i = 0; i < n; i++) pf[fc[i]] += 1.0;
    double h = 0;
    for (size_t a = 0; a < u; a++) {
        const double p = pf[a] * inv_n;
        pf[a] = p;
        if (p > 0) h -= p * log(p);
    }
    double top1 = -1, top2 = -1;
    for (size_t j = 0; j < latent; j++) {
        memset(joint, 0, cells * sizeof(double));
        memset(pz, 0, bins * sizeof(double));
        const uint32_t *zj = zc + j * n;
        for (size_t i = 0; i < n; i++) {
            joint[(size_t)fc[i] * bins + zj[i]] += 1.0;
            pz[zj[i]] += 1.0;
        }
        double m = 0;
        for (size_t a = 0; a < u; a++)
            for (size_t b = 0; b < bins; b++) {
                const double c = joint[a * bins + b];
                if (c > 0) {
                    const double p = c * inv_n;
                    m += p * log(p / (pf[a] * (pz[b] * inv_n)));
                }
            }
        if (m < 0) m = 0; /* rounding */
        mi[j] = m;
        if (m > top1) {
            top2 = top1;
            top1 = m;
        } else if (m > top2) {
            top2 = m;
        }
    }
    double g = (top1 - top2) / h;
    if (g < 0) g = 0;
    if (g > 1) g = 1;
    return g;
}

/* Every factor's mutual informations mis[k * latent + j] and gap gp[k];
 * *sum_gap their sum. fc, work: n of work each; pz: bins doubles. */
static gm_status gm__mig_factors(const char *fn, const uint32_t *zc, size_t n, size_t latent,
                                 const int32_t *factors, size_t n_factors, size_t bins,
                                 uint32_t *fc, int32_t *work, double *pz, double *mis,
                                 double *gp, double *sum_gap)
{
    double *joint = NULL;
    *sum_gap = 0;
    for (size_t k = 0; k < n_factors; k++) {
        const size_t u = gm__factor_codes(factors + k, n, n_factors, work, fc);
        size_t cells = 0;
        gm_status st = GM_OK;
        if (u < 2)
            st = gm__set_error(GM_EINVAL, fn,
                               "factor %zu takes a single value (%d): its entropy is 0", k,
                               (int)factors[k]);
        else if (!gm__mul_ok(u, bins, &cells))
            st = gm__set_error(GM_ENOMEM, fn, "factor %zu: %zu values x %zu bins overflow", k, u,
                               bins);
        if (st == GM_OK) {
            gm__free(joint);
            joint = gm__malloc_array(cells + u, sizeof(double));
            if (joint == NULL)
                st = gm__set_error(GM_ENOMEM, fn, "cannot allocate a %zu x %zu histogram", u,
                                   bins);
        }
        if (st != GM_OK) {
            gm__free(joint);
            return st;
        }
        gp[k] = gm__mig_factor(fc, u, zc, n, latent, bins, joint, pz, mis + k * latent);
        *sum_gap += gp[k];
    }
    gm__free(joint);
    return GM_OK;
}

gm_status gm_interp_mig(const float *latents, size_t n, size_t latent, const int32_t *factors,
                        size_t n_factors, size_t bins, double *mig, double *gaps, double *mi)
{
    GM_CHECK_NULL(latents);
    GM_CHECK_NULL(factors);
    GM_CHECK_NULL(mig);
    GM_CHECK(n >= 2 && n <= 2147483647u, GM_EINVAL, "n must be in 2 .. 2^31 - 1, got %zu", n);
    GM_CHECK(latent >= 2 && latent <= 100000, GM_EINVAL,
             "latent must be in 2 .. 100000 (a gap needs two dimensions), got %zu", latent);
    GM_CHECK(n_factors >= 1 && n_factors <= 1000, GM_EINVAL,
             "n_factors must be in 1 .. 1000, got %zu", n_factors);
    GM_CHECK(bins >= 2 && bins <= 10000, GM_EINVAL, "bins must be in 2 .. 10000, got %zu", bins);
    size_t total;
    GM_CHECK(gm__mul_ok(n, latent, &total), GM_EINVAL, "n * latent overflows");
    for (size_t i = 0; i < total; i++)
        GM_CHECK(isfinite(latents[i]), GM_EINVAL, "latents[%zu] (row %zu, dimension %zu) is not "
                 "finite (%g)", i, i / latent, i % latent, (double)latents[i]);

    gm_status st;
    uint32_t *zc = gm__malloc_array(total, sizeof(uint32_t));   /* bin codes, [latent x n] */
    uint32_t *fc = gm__malloc_array(n, sizeof(uint32_t));       /* one factor's codes */
    int32_t *work = gm__malloc_array(n, sizeof(int32_t));
    double *mis = gm__malloc_array(n_factors * latent, sizeof(double));
    double *gp = gm__malloc_array(n_factors, sizeof(double));
    double *pz = gm__malloc_array(bins, sizeof(double));
    double sum_gap = 0;
    if (zc == NULL || fc == NULL || work == NULL || mis == NULL || gp == NULL || pz == NULL) {
        st = gm__set_error(GM_ENOMEM, __func__, "cannot allocate the histograms for n = %zu", n);
    } else {
        gm__mig_bins(latents, n, latent, bins, zc);
        st = gm__mig_factors(__func__, zc, n, latent, factors, n_factors, bins, fc, work, pz, mis,
                             gp, &sum_gap);
    }
    if (st == GM_OK) {
        *mig = sum_gap / (double)n_factors;
        if (gaps != NULL) memcpy(gaps, gp, n_factors * sizeof(double));
        if (mi != NULL) memcpy(mi, mis, n_factors * latent * sizeof(double));
    }
    gm__free(zc);
    gm__free(fc);
    gm__free(work);
    gm__free(mis);
    gm__free(gp);
    gm__free(pz);
    return st;
}
