/* SPDX-License-Identifier: MIT */
/* Internal core services shared by every module: errors, allocation,
 * random numbers. Not installed; names are gm__* and hidden. */
#ifndef GM_CORE_INTERNAL_H
#define GM_CORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <genmodel/core.h>

#if defined(__GNUC__)
#define GM__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define GM__PRINTF(a, b)
#endif

/* Sets this thread's last error to "fn: message" and returns st. */
gm_status gm__set_error(gm_status st, const char *fn, const char *fmt, ...)
    GM__PRINTF(3, 4);

/* Passes on a failed callee's status with its message prefixed by fn, so
 * the message names both functions ("gm_eval_images: gm_vae_iwae: ...").
 * GM_OK passes through and leaves the message alone. */
gm_status gm__pass_error(gm_status st, const char *fn);
/* The same, but a message that already starts with fn (a helper that was
 * given fn named it) is left as it is. */
gm_status gm__own_error(gm_status st, const char *fn);

/* Return an error from the current function when cond holds. The message
 * names the public function (__func__ of the caller). */
#define GM_FAIL(st, ...) gm__set_error((st), __func__, __VA_ARGS__)
#define GM_CHECK(cond, st, ...)                                              \
    do {                                                                     \
        if (!(cond)) return gm__set_error((st), __func__, __VA_ARGS__);      \
    } while (0)
#define GM_CHECK_NULL(ptr)                                                   \
    GM_CHECK((ptr) != NULL, GM_EINVAL, "%s must not be NULL", #ptr)
/* Propagates a failing status (the callee already set the message). */
#define GM_TRY(expr)                                                         \
    do {                                                                     \
        gm_status gm_try_st_ = (expr);                                       \
        if (gm_try_st_ != GM_OK) return gm_try_st_;                          \
    } while (0)

/* Checks the size field of an options struct the library fills: at least
 * `known` (the struct this library has) and at most 4096. GM_EINVAL names
 * fn and the struct `name`. */
gm_status gm__check_options_size(const char *fn, const char *name, size_t size, size_t known);
/* Copies the library's options struct src (known bytes) out to a caller's
 * dst, whose size field must pass gm__check_options_size: the bytes past
 * known, up to dst's size, are zeroed and dst's size is kept. */
gm_status gm__write_options(const char *fn, void *dst, const void *src, size_t known);

/* Reads a caller's options struct (first member: its size) into dst,
 * which holds the defaults and is dst_size bytes (the library's struct):
 * the caller's size must be in [min_size, 4096] (min_size: through the
 * last field that has no default), bytes past dst_size must be zero, and
 * min(size, dst_size) bytes are copied, so fields the caller's version
 * lacks keep their defaults. dst's size becomes dst_size. GM_EINVAL names
 * fn and the struct `name` ("opts"). */
gm_status gm__read_options(const char *fn, const char *name, const void *src, size_t min_size,
                           void *dst, size_t dst_size);
/* A caller's size (the struct at src, already accepted by gm__read_options)
 * must not end inside the field at [offset, offset + width): a torn pointer
 * would be half the caller's and half the default's. GM_EINVAL names the
 * field. Sizes of older versions of a struct end between fields. */
gm_status gm__check_options_tear(const char *fn, const char *name, const void *src,
                                 size_t offset, size_t width, const char *field);

/* Allocation through the installed allocator. gm__malloc_array and
 * gm__calloc_array fail (NULL) when n * size overflows. They set no
 * error message: callers report GM_ENOMEM with their own name. */
void *gm__malloc(size_t size);
void *gm__malloc_array(size_t n, size_t size);
void *gm__calloc_array(size_t n, size_t size);
void *gm__realloc_array(void *ptr, size_t n, size_t size);
void gm__free(void *ptr);

/* n * m into *out; 0 on overflow. */
static inline int gm__mul_ok(size_t n, size_t m, size_t *out)
{
    return !__builtin_mul_overflow(n, m, out);
}

/* Philox4x32-10: 4 x 32 random bits for a 128-bit counter and a 64-bit
 * key. The stateless primitive behind every generator in the library. */
void gm__philox(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, uint32_t out[4]);

/* Four standard normal floats from the Philox block at (ctr_hi, ctr_lo). */
void gm__normal4(uint64_t key, uint64_t ctr_hi, uint64_t ctr_lo, float z[4]);
/* GM_OK for a truncation threshold gm_rng_truncated_normal takes (0, or
 * finite and >= GM_TRUNCATION_MIN), else GM_EINVAL naming fn and the value. */
gm_status gm__check_truncation(const char *fn, float threshold);
/* Values first .. first + n - 1 of the draw gm_rng_normal(rng, ., total)
 * would make from rng's current position, into dst, without advancing rng:
 * one shard's part of a batch's noise (data-parallel training). */
void gm__rng_normal_slice(const gm_rng *rng, uint64_t first, float *dst, size_t n);
/* Values first .. first + n - 1 of the draw gm_rng_uniform(rng, ., total)
 * would make from rng's current position, without advancing rng. */
void gm__rng_uniform_slice(const gm_rng *rng, uint64_t first, float *dst, size_t n);
/* Advances rng past a draw of n values, as gm_rng_normal(rng, ., n) and
 * gm_rng_uniform(rng, ., n) do. */
void gm__rng_skip(gm_rng *rng, uint64_t n);

/* Uniform (0, 1] / [0, 1) floats from 32 random bits. */
static inline float gm__u01_open0(uint32_t bits)
{
    return ((float)(bits >> 8) + 1.0f) * (1.0f / 16777216.0f);
}
static inline float gm__u01(uint32_t bits)
{
    return (float)(bits >> 8) * (1.0f / 16777216.0f);
}

struct gm_rng {
    uint64_t seed;
    uint64_t position; /* number of 128-bit blocks consumed */
};

#endif
