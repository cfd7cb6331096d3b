/* SPDX-License-Identifier: MIT */
/* The shapes data set (include/genmodel/interp.h): binary images of a
 * square, an ellipse or a heart at every combination of scale, rotation and
 * position, drawn by point-in-shape tests at pixel centres. Only + - * /
 * in double (the library builds with -ffp-contract=off), and cos/sin from a
 * fixed Taylor series, so the pixels are the same bits everywhere. */
#include <string.h>

#include <genmodel/interp.h>

#include "core/internal.h"
#include "engine/engine.h"

#define GM__PI 3.14159265358979323846

/* The factor sizes for `side`; 0 if side is not 32 or 64. */
static int gm__shapes_sizes(size_t side, size_t s[GM_SHAPES_FACTORS])
{
    if (side != 32 && side != 64) return 0;
    s[0] = 3;
    s[1] = 6;
    s[2] = side == 32 ? 16 : 40;
    s[3] = s[4] = side == 32 ? 16 : 32;
    return 1;
}

static uint64_t gm__shapes_count(const size_t s[GM_SHAPES_FACTORS])
{
    uint64_t c = 1;
    for (int k = 0; k < GM_SHAPES_FACTORS; k++) c *= s[k];
    return c;
}

gm_status gm_shapes_factor_sizes(size_t side, size_t *sizes, uint64_t *count)
{
    GM_CHECK_NULL(sizes);
    size_t s[GM_SHAPES_FACTORS];
    GM_CHECK(gm__shapes_sizes(side, s), GM_EINVAL, "side must be 32 or 64, got %zu", side);
    memcpy(sizes, s, sizeof s);
    if (count != NULL) *count = gm__shapes_count(s);
    return GM_OK;
}

gm_status gm_shapes_index_to_factors(size_t side, const uint64_t *index, size_t n,
                                     int32_t *factors)
{
    GM_CHECK_NULL(index);
    GM_CHECK_NULL(factors);
    size_t s[GM_SHAPES_FACTORS];
    GM_CHECK(gm__shapes_sizes(side, s), GM_EINVAL, "side must be 32 or 64, got %zu", side);
    const uint64_t count = gm__shapes_count(s);
    for (size_t i = 0; i < n; i++)
        GM_CHECK(index[i] < count, GM_EINVAL, "index[%zu] must be < %llu, got %llu", i,
                 (unsigned long long)count, (unsigned long long)index[i]);
    for (size_t i = 0; i < n; i++) {
        uint64_t v = index[i];
        for (int k = GM_SHAPES_FACTORS - 1; k >= 0; k--) {
            factors[i * GM_SHAPES_FACTORS + (size_t)k] = (int32_t)(v % s[k]);
            v /= s[k];
        }
    }
    return GM_OK;
}

/* GM_OK when every factor row is in range, else GM_EINVAL naming fn. */
static gm_status gm__shapes_check(const char *fn, const size_t s[GM_SHAPES_FACTORS],
                                  const int32_t *factors, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < GM_SHAPES_FACTORS; k++) {
            const int32_t f = factors[i * GM_SHAPES_FACTORS + k];
            if (f < 0 || (size_t)f >= s[k])
                return gm__set_error(GM_EINVAL, fn, "factors[%zu][%zu] must be in [0, %zu), got %d",
                                     i, k, s[k], (int)f);
        }
    return GM_OK;
}

gm_status gm_shapes_factors_to_index(size_t side, const int32_t *factors, size_t n,
                                     uint64_t *index)
{
    GM_CHECK_NULL(factors);
    GM_CHECK_NULL(index);
    size_t s[GM_SHAPES_FACTORS];
    GM_CHECK(gm__shapes_sizes(side, s), GM_EINVAL, "side must be 32 or 64, got %zu", side);
    GM_TRY(gm__shapes_check(__func__, s, factors, n));
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 0;
        for (size_t k = 0; k < GM_SHAPES_FACTORS; k++)
            v = v * s[k] + (uint64_t)factors[i * GM_SHAPES_FACTORS + k];
        index[i] = v;
    }
    return GM_OK;
}

/* A uniform double in [0, 1) from 48 random bits (two 24-bit draws). */
static double gm__u53(gm_rng *rng)
{
    float u[2];
    gm_rng_uniform(rng, u, 2); /* 24 bits each */
    return ((double)u[0] + (double)u[1] * (1.0 / 16777216.0));
}

gm_status gm_shapes_sample(size_t side, uint64_t seed, size_t n, int32_t *factors,
                           uint64_t *index)
{
    GM_CHECK_NULL(factors);
    size_t s[GM_SHAPES_FACTORS];
    GM_CHECK(gm__shapes_sizes(side, s), GM_EINVAL, "side must be 32 or 64, got %zu", side);
    const uint64_t count = gm__shapes_count(s);
    GM_CHECK(n >= 1 && n <= count, GM_EINVAL, "n must be in 1 .. %llu, got %zu",
             (unsigned long long)count, n);
    uint64_t *pick = gm__malloc_array(n, sizeof(uint64_t));
    gm_rng *rng = NULL;
    if (pick == NULL || gm_rng_create(&rng, seed) != GM_OK) {
        gm__free(pick);
        return gm__set_error(GM_ENOMEM, __func__, "cannot allocate %zu indices", n);
    }
    /* selection sampling (Knuth's Algorithm S): exactly n, in order */
    size_t m = 0;
    for (uint64_t t = 0; t < count && m < n; t++) {
        const double u = gm__u53(rng);
        if ((double)(count - t) * u < (double)(n - m)) pick[m++] = t;
    }
    /* Fisher-Yates */
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(gm__u53(rng) * (double)i);
        if (j >= i) j = i - 1;
        const uint64_t tmp = pick[i - 1];
        pick[i - 1] = pick[j];
        pick[j] = tmp;
    }
    gm_rng_free(rng);
    gm_shapes_index_to_factors(side, pick, n, factors);
    if (index != NULL) memcpy(index, pick, n * sizeof(uint64_t));
    gm__free(pick);
    return GM_OK;
}

/* sin and cos of a in [-pi, pi] from their Taylor series (30 terms each,
 * evaluated in a fixed order): the same bits on every IEEE-754 machine. */
static void gm__sincos(double a, double *s, double *c)
{
    double ts = a, tc = 1.0, ss = 0.0, sc = 0.0;
    const double a2 = a * a;
    for (int k = 0; k < 30; k++) {
        ss += ts;
        sc += tc;
        ts = -ts * a2 / (double)((2 * k + 2) * (2 * k + 3));
        tc = -tc * a2 / (double)((2 * k + 1) * (2 * k + 2));
    }
    *s = ss;
    *c = sc;
}

static int gm__inside(int shape, double p, double q)
{
    switch (shape) {
    case 0: /* square */
        return p <= 0.8 && p >= -0.8 && q <= 0.8 && q >= -0.8;
    case 1: { /* ellipse */
        const double qq = q / 0.55;
        return p * p + qq * qq <= 1.0;
    }
    default: { /* heart */
        const double X = 1.15 * p, Y = 0.1 - 1.15 * q;
        const double r = X * X + Y * Y - 1.0;
        return r * r * r - X * X * Y * Y * Y <= 0.0;
    }
    }
}

gm_status gm_shapes_render(size_t side, const int32_t *factors, size_t n, gm_tensor *out)
{
    GM_CHECK_NULL(factors);
    GM_CHECK_NULL(out);
    size_t s[GM_SHAPES_FACTORS];
    GM_CHECK(gm__shapes_sizes(side, s), GM_EINVAL, "side must be 32 or 64, got %zu", side);
    GM_CHECK(n >= 1, GM_EINVAL, "n must be >= 1, got %zu", n);
    size_t need;
    GM_CHECK(gm__mul_ok(n, side * side, &need), GM_ESHAPE, "n = %zu images overflow", n);
    GM_CHECK(gm_tensor_numel(out) == need && gm_tensor_dim(out, 0) == n, GM_ESHAPE,
             "out must hold %zu images of %zu x %zu (%zu elements, first dimension %zu), got %zu "
             "elements, first dimension %zu",
             n, side, side, need, n, gm_tensor_numel(out), gm_tensor_dim(out, 0));
    GM_TRY(gm__shapes_check(__func__, s, factors, n));
    float *px = gm_tensor_data(out);
    const double S = (double)side;
    for (size_t i = 0; i < n; i++) {
        const int32_t *f = factors + i * GM_SHAPES_FACTORS;
        const double r = 0.08 + 0.02 * (double)f[1];
        double a = 2.0 * GM__PI * (double)f[2] / (double)s[2];
        if (a > GM__PI) a -= 2.0 * GM__PI;
        double sa, ca;
        gm__sincos(a, &sa, &ca);
        const double cx = 0.2 + 0.6 * (double)f[3] / (double)(s[3] - 1);
        const double cy = 0.2 + 0.6 * (double)f[4] / (double)(s[4] - 1);
        float *img = px + i * side * side;
        for (size_t y = 0; y < side; y++) {
            const double dv = ((double)y + 0.5) / S - cy;
            for (size_t x = 0; x < side; x++) {
                const double du = ((double)x + 0.5) / S - cx;
                const double p = (ca * du + sa * dv) / r;
                const double q = (-sa * du + ca * dv) / r;
                img[y * side + x] = gm__inside(f[0], p, q) ? 1.0f : 0.0f;
            }
        }
    }
    return GM_OK;
}
