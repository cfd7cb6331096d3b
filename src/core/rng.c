/* SPDX-License-Identifier: MIT */
/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
 * 1, 2, 3", SC 2011) and the gm_rng object built on it. */
#include <math.h>

#include "core/internal.h"

static inline void gm__mulhilo(uint32_t a, uint32_t b, uint32_t *hi,
                               uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void gm__philox(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo,
                uint32_t out[4])
{
    uint32_t c0 = (uint32_t)ctr_lo, c1 = (uint32_t)(ctr_lo >> 32);
    uint32_t c2 = (uint32_t)ctr_hi, c3 = (uint32_t)(ctr_hi >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint32_t hi0, lo0, hi1, lo1;
        gm__mulhilo(0xD2511F53u, c0, &hi0, &lo0);
        gm__mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
        uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
        c0 = n0;
        c1 = lo1;
        c2 = n2;
        c3 = lo0;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

gm_status gm_rng_create(gm_rng **out, uint64_t seed)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    gm_rng *r = gm__malloc(sizeof *r);
    GM_CHECK(r != NULL, GM_ENOMEM, "cannot allocate a generator");
    r->seed = seed;
    r->position = 0;
    *out = r;
    return GM_OK;
}

void gm_rng_free(gm_rng *rng) { gm__free(rng); }

gm_status gm_rng_seed(gm_rng *rng, uint64_t seed)
{
    GM_CHECK_NULL(rng);
    rng->seed = seed;
    rng->position = 0;
    return GM_OK;
}

gm_status gm_rng_uniform(gm_rng *rng, float *dst, size_t n)
{
    GM_CHECK_NULL(rng);
    GM_CHECK(dst != NULL || n == 0, GM_EINVAL, "dst must not be NULL");
    for (size_t i = 0; i < n; i += 4) {
        uint32_t b[4];
        gm__philox(rng->seed, 0, rng->position++, b);
        for (size_t j = 0; j < 4 && i + j < n; j++) dst[i + j] = gm__u01(b[j]);
    }
    return GM_OK;
}

/* Four standard normals from one Philox block (Box-Muller on two pairs). */
void gm__normal4(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, float z[4])
{
    uint32_t b[4];
    gm__philox(key, ctr_hi, ctr_lo, b);
    for (int k = 0; k < 4; k += 2) {
        double u1 = gm__u01_open0(b[k]);
        double u2 = gm__u01(b[k + 1]);
        double r = sqrt(-2.0 * log(u1));
        double t = 6.283185307179586 * u2;
        z[k] = (float)(r * cos(t));
        z[k + 1] = (float)(r * sin(t));
    }
}

gm_status gm_rng_normal(gm_rng *rng, float *dst, size_t n)
{
    GM_CHECK_NULL(rng);
    GM_CHECK(dst != NULL || n == 0, GM_EINVAL, "dst must not be NULL");
    for (size_t i = 0; i < n; i += 4) {
        float z[4];
        gm__normal4(rng->seed, 0, rng->position++, z);
        for (size_t j = 0; j < 4 && i + j < n; j++) dst[i + j] = z[j];
    }
    return GM_OK;
}

gm_status gm__check_truncation(const char *fn, float threshold)
{
    if (threshold == 0.0f || (isfinite(threshold) && threshold >= GM_TRUNCATION_MIN))
        return GM_OK;
    return gm__set_error(GM_EINVAL, fn, "threshold must be 0 (off) or a finite value >= %g, got %g",
                         (double)GM_TRUNCATION_MIN, (double)threshold);
}

gm_status gm_rng_truncated_normal(gm_rng *rng, float *dst, size_t n, float threshold)
{
    GM_CHECK_NULL(rng);
    GM_CHECK(dst != NULL || n == 0, GM_EINVAL, "dst must not be NULL");
    GM_TRY(gm__check_truncation(__func__, threshold));
    if (threshold == 0.0f) return gm_rng_normal(rng, dst, n);
    size_t got = 0;
    while (got < n) {
        float z[4];
        gm__normal4(rng->seed, 0, rng->position++, z);
        for (int j = 0; j < 4 && got < n; j++)
            if (fabsf(z[j]) <= threshold) dst[got++] = z[j];
    }
    return GM_OK;
}

void gm__rng_normal_slice(const gm_rng *rng, uint64_t first, float *dst, size_t n)
{
    float z[4];
    uint64_t block = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const uint64_t k = first + i; /* element k lives in block k / 4, slot k % 4 */
        if (k / 4 != block) {
            block = k / 4;
            gm__normal4(rng->seed, 0, rng->position + block, z);
        }
        dst[i] = z[k % 4];
    }
}

void gm__rng_uniform_slice(const gm_rng *rng, uint64_t first, float *dst, size_t n)
{
    uint32_t b[4];
    uint64_t block = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        const uint64_t k = first + i; /* as gm_rng_uniform: block k / 4, slot k % 4 */
        if (k / 4 != block) {
            block = k / 4;
            gm__philox(rng->seed, 0, rng->position + block, b);
        }
        dst[i] = gm__u01(b[k % 4]);
    }
}

void gm__rng_skip(gm_rng *rng, uint64_t n) { rng->position += (n + 3) / 4; }

gm_status gm_rng_get_state(const gm_rng *rng, uint64_t *seed,
                           uint64_t *position)
{
    GM_CHECK_NULL(rng);
    GM_CHECK_NULL(seed);
    GM_CHECK_NULL(position);
    *seed = rng->seed;
    *position = rng->position;
    return GM_OK;
}

gm_status gm_rng_set_state(gm_rng *rng, uint64_t seed, uint64_t position)
{
    GM_CHECK_NULL(rng);
    rng->seed = seed;
    rng->position = position;
    return GM_OK;
}
