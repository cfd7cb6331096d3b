/* SPDX-License-Identifier: MIT */
/**
 * @file
 * libgenmodel — core: status codes, the last-error message, version,
 * BLAS threads, the allocator hook and the random generator.
 *
 * Conventions that hold for the whole library:
 *  - Every fallible function returns a gm_status; GM_OK is 0, errors are
 *    negative. On failure gm_last_error() names the function and the
 *    offending value, and every object passed in is left as it was.
 *  - Constructors are gm_X_create(gm_X **out, ...): on success *out owns a
 *    new object the caller frees with gm_X_free(); on failure *out is NULL.
 *    Every gm_X_free() accepts NULL.
 *  - No function aborts, exits or prints because of its arguments.
 *  - Handles are not locked: one handle is used by one thread at a time;
 *    different handles may be used from different threads at once.
 */
#ifndef GENMODEL_CORE_H
#define GENMODEL_CORE_H

#include <stddef.h>
#include <stdint.h>

/** Marks a public function: exported from the shared library (default
 *  visibility; dllexport/dllimport on Windows). */
#if defined(_WIN32) && defined(GM_BUILDING_DLL)
#define GM_API __declspec(dllexport)
#elif defined(_WIN32) && defined(GM_USING_DLL)
#define GM_API __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define GM_API __attribute__((visibility("default")))
#else
#define GM_API
#endif

/** Marks a function as deprecated, with `msg` in the compiler's warning
 *  (GCC and Clang; nothing elsewhere). */
#if defined(__GNUC__) && __GNUC__ >= 4
#define GM_DEPRECATED(msg) __attribute__((deprecated(msg)))
#else
#define GM_DEPRECATED(msg)
#endif

/** Marks a public function of the experimental tier instead of GM_API:
 *  exported like any other, but not yet frozen, so a minor release may
 *  still change or remove it (the stable functions only ever gain
 *  siblings). tests/abi/exports.txt lists these in their own section.
 *  Define GM_NO_EXPERIMENTAL before including genmodel headers to hide
 *  their declarations and so make sure a program uses none of them. */
#define GM_EXPERIMENTAL GM_API

#ifdef __cplusplus
extern "C" {
#endif

/** Compile-time version of the headers. The major number is the ABI
 *  version carried in the soname (libgenmodel.so.1). */
#define GM_VERSION_MAJOR 1
/** Minor version of the headers: functions were added. */
#define GM_VERSION_MINOR 3
/** Patch version of the headers: fixes only. */
#define GM_VERSION_PATCH 0
/** The version as one number, MAJOR * 10000 + MINOR * 100 + PATCH. */
#define GM_VERSION_NUMBER \
    (GM_VERSION_MAJOR * 10000 + GM_VERSION_MINOR * 100 + GM_VERSION_PATCH)
/** The version as a string, "MAJOR.MINOR.PATCH". */
#define GM_VERSION_STRING "1.3.0"

/**
 * Status of a call. Values are part of the ABI: they are never renumbered,
 * and new codes are only appended.
 */
typedef enum gm_status {
    GM_OK = 0,            /**< success */
    GM_EINVAL = -1,       /**< an argument is invalid (NULL, zero size, NaN, out of range) */
    GM_ESHAPE = -2,       /**< tensor shapes do not fit together */
    GM_ENOMEM = -3,       /**< an allocation failed or a size would overflow */
    GM_EIO = -4,          /**< reading or writing a file failed */
    GM_EFORMAT = -5,      /**< a file or buffer is malformed, truncated or corrupt */
    GM_ESTATE = -6,       /**< the object is not in a state that allows the call */
    GM_ENUMERIC = -7,     /**< a loss or gradient is not finite */
    GM_EVERSION = -8,     /**< a file comes from a later, unsupported format version */
    GM_EUNSUPPORTED = -9, /**< valid request this build cannot do */
    GM_EINTERNAL = -100   /**< a bug in libgenmodel; please report it */
} gm_status;

/*
 * Options structs (gm_optimizer_options, gm_vae_options, gm_gan_options,
 * gm_fit_options, ...) start with their size, which their _init function
 * sets. Fields are only ever appended, so:
 *   - a caller built against an older header passes a smaller size, and
 *     the fields it does not have take their defaults; the size must cover
 *     the required fields (for gm_vae_options and gm_gan_options: latent;
 *     for gm_optimizer_options: kind; gm_fit_options: none);
 *   - a caller built against a newer header passes a larger size, which is
 *     accepted if the fields this library does not know are zero, and
 *     refused with GM_EINVAL otherwise;
 *   - a struct is at most 4096 bytes.
 * When a struct grows, its _init function will keep its old symbol
 * version (GM_1.0 in libgenmodel.map) filling the old size, so an older
 * binary's init call never writes past its struct.
 */

/**
 * A short constant description of a status ("invalid argument", ...).
 * Never NULL, also for unknown values. Thread-safe.
 */
GM_API const char *gm_status_string(gm_status status);

/**
 * The message of the last failed call made on this thread, naming the
 * function and the offending value, e.g.
 * "gm_dense_create: in_features must be > 0, got 0".
 * Never NULL (an empty string if no call has failed on this thread). Only
 * meaningful right after a call returned an error: successful calls do not
 * clear it. The string is owned by the library and stays valid until the
 * next failing call on the same thread. Thread-safe (thread-local).
 */
GM_API const char *gm_last_error(void);

/** Empties this thread's last-error message. Thread-safe. */
GM_API void gm_clear_error(void);

/** Run-time version string of the library, e.g. "1.0.0". Thread-safe. */
GM_API const char *gm_version(void);

/** Run-time version as GM_VERSION_NUMBER computes it. Thread-safe. */
GM_API uint32_t gm_version_number(void);

/**
 * Sets the number of threads the BLAS uses for matrix products, and that
 * oneDNN uses for convolutions when the library is built with it (the
 * README's "Threads"). This is the only process-wide mutable setting
 * besides the allocator; call it from one thread while no other thread is
 * inside the library.
 * @param n  1 .. 1024.
 * @return GM_OK, or GM_EINVAL if n is out of range.
 */
GM_API gm_status gm_set_num_threads(int n);

/** The number of BLAS threads in use (>= 1). Thread-safe. */
GM_API int gm_get_num_threads(void);

/**
 * Allocation functions the library uses for every allocation it makes
 * (objects, tensors, workspaces). Each receives `user` as first argument.
 * malloc_fn and realloc_fn return NULL on failure; the library then
 * returns GM_ENOMEM and leaves its objects unchanged. free_fn is never
 * called with NULL.
 */
typedef struct gm_allocator {
    void *(*malloc_fn)(void *user, size_t size); /**< like malloc */
    void *(*realloc_fn)(void *user, void *ptr, size_t size); /**< like realloc */
    void (*free_fn)(void *user, void *ptr); /**< like free */
    void *user; /**< passed to each of the three */
} gm_allocator;

/**
 * Installs a process-wide allocator, or the C library's with NULL.
 * Memory allocated by one allocator must be freed by the same one, so the
 * allocator can only be changed while no library object is alive; the
 * struct is copied. Call it from one thread while no other thread is
 * inside the library.
 * @return GM_OK; GM_EINVAL if a function pointer is NULL; GM_ESTATE if
 *         library objects are alive (the allocator is then unchanged).
 */
GM_API gm_status gm_set_allocator(const gm_allocator *allocator);

/** Number of blocks currently allocated by the library (for leak checks).
 *  Thread-safe. */
GM_API size_t gm_live_allocations(void);

/**
 * A seedable, counter-based random generator (Philox4x32-10). The stream
 * is a pure function of the seed and a 64-bit position, so results do not
 * depend on threads or on how work is split. Objects that need randomness
 * own one; none is global.
 */
typedef struct gm_rng gm_rng;

/** Creates a generator at position 0 of the stream for `seed`.
 *  @param[out] out  receives the new generator, owned by the caller.
 *  @return GM_OK, GM_EINVAL (out NULL) or GM_ENOMEM. */
GM_API gm_status gm_rng_create(gm_rng **out, uint64_t seed);

/** Frees a generator. NULL is ignored. */
GM_API void gm_rng_free(gm_rng *rng);

/** Restarts the generator at position 0 of the stream for `seed`.
 *  @return GM_OK or GM_EINVAL (rng NULL). */
GM_API gm_status gm_rng_seed(gm_rng *rng, uint64_t seed);

/** Fills dst[0..n) with floats uniform in [0, 1).
 *  @return GM_OK or GM_EINVAL (rng or dst NULL with n > 0). */
GM_API gm_status gm_rng_uniform(gm_rng *rng, float *dst, size_t n);

/** Fills dst[0..n) with standard normal floats (mean 0, variance 1).
 *  @return GM_OK or GM_EINVAL (rng or dst NULL with n > 0). */
GM_API gm_status gm_rng_normal(gm_rng *rng, float *dst, size_t n);

/** The smallest threshold gm_rng_truncated_normal and
 *  gm_gan_set_truncation take (a threshold t keeps about 0.8 t of the
 *  draws below 1, so smaller ones mostly discard). */
#define GM_TRUNCATION_MIN 0.1f

/** Fills dst[0..n) with standard normals cut to [-threshold, threshold]
 *  (1.3): the values of gm_rng_normal's stream within the threshold, in
 *  order, the stream read four at a time (gm_rng_normal's blocks; the rest
 *  of the last block is unused); a truncated normal, N(0, 1) given
 *  |z| <= threshold. threshold 0 is gm_rng_normal itself. For the
 *  "truncation trick" on a GAN's latents (gm_gan_set_truncation).
 *  @return GM_OK or GM_EINVAL (rng or dst NULL with n > 0; threshold not 0
 *          and below GM_TRUNCATION_MIN, negative, NaN or infinite; nothing
 *          drawn then). */
GM_API gm_status gm_rng_truncated_normal(gm_rng *rng, float *dst, size_t n, float threshold);

/** Reads the generator's state (seed and position), e.g. to save it.
 *  @return GM_OK or GM_EINVAL (a pointer NULL). */
GM_API gm_status gm_rng_get_state(const gm_rng *rng, uint64_t *seed,
                                  uint64_t *position);

/** Puts the generator at `position` of the stream for `seed`.
 *  @return GM_OK or GM_EINVAL (rng NULL). */
GM_API gm_status gm_rng_set_state(gm_rng *rng, uint64_t seed,
                                  uint64_t position);

#ifdef __cplusplus
}
#endif

#endif /* GENMODEL_CORE_H */
