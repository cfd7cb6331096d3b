/* SPDX-License-Identifier: MIT */
/* Helpers shared by the benchmark programs: timing, peak RSS,
 * a counting allocator, the Fashion-MNIST bytes, and a recorder of the
 * cblas_sgemm calls a training step makes, so that exactly those calls can
 * be timed alone (the "sgemm bound"). Not part of the library. */
#ifndef GM_BENCH_COMMON_H
#define GM_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <genmodel/genmodel.h>

/* Aborts the benchmark with the library's message when expr fails. */
#define BENCH_CHECK(expr)                                                                \
    do {                                                                                 \
        gm_status st_ = (expr);                                                          \
        if (st_ != GM_OK) bench_die(#expr, st_);                                         \
    } while (0)
void bench_die(const char *what, gm_status st);

/* Options every benchmark understands. */
typedef struct bench_opts {
    long steps;        /* timed training steps */
    long warmup;       /* untimed steps first (workspaces sized, caches warm) */
    int threads;       /* gm_set_num_threads; 0: leave the default */
    unsigned long long seed;
    const char *data;  /* Fashion-MNIST directory */
    long sample_batch; /* images per sampling call */
    long sample_reps;  /* timed sampling calls */
    int bound;         /* also time the step's gemm calls alone (sgemm bound) */
} bench_opts;

/* Parses --steps --warmup --threads --seed --data --sample-batch
 * --sample-reps --no-bound over the given defaults; exits 2 on a bad
 * argument with a usage line naming prog. */
void bench_parse(bench_opts *o, int argc, char **argv, const char *prog);

/* Where the Fashion-MNIST IDX files are: the argument if given, else
 * $GM_FASHION_DIR, else the Debian package's directory (as the examples). */
const char *bench_data_dir(const char *arg);

/* The images of an IDX file (gzip or plain) as bytes: *n images of 784
 * values. The caller frees the result with free(). Exits on error. */
unsigned char *bench_load_images_u8(const char *path, size_t *n);

/* The next batch of a shuffled pass over n examples: order[0..n) is
 * reshuffled (Fisher-Yates, bench_rand(rs)) whenever a pass ends or the
 * next batch would not fit; returns the batch's `batch` indices and moves
 * *pos past them. */
const size_t *bench_next_batch(size_t *order, size_t n, size_t batch, size_t *pos,
                               uint64_t *rs);

/* dst[k] = src[k] * scale + shift for k < n: a batch's bytes to floats,
 * written so that GCC -O2 vectorizes it (as torch's x.float() does). */
void bench_bytes_to_floats(float *restrict dst, const unsigned char *restrict src, size_t n,
                           float scale, float shift);

/* FLOPs (2 per multiply-add) of the benchmarked recipes' matrix work,
 * computed from the architectures (dense and convolution layers; the
 * elementwise work is not counted), to put speeds against the machine's
 * FLOP peak. A training step counts what the recipe needs: forward passes,
 * weight gradients of the net being updated, and input gradients wherever
 * a gradient must flow on (not into data or z, not into D's weights during
 * the G update). Sampling: one forward pass of the decoder / generator. */
double bench_vae_step_flops(void);    /* one step, batch BENCH_VAE_B */
double bench_vae_sample_flops(void);  /* one image */
double bench_dcgan_step_flops(void);  /* one step, batch BENCH_DCGAN_B */
double bench_dcgan_sample_flops(void);
double bench_ring_step_flops(void);   /* one step, batch BENCH_RING_B */
double bench_ring_sample_flops(void);

double bench_now(void);
/* CPU seconds of the whole process (all its threads): on a machine shared
 * with other jobs, CPU time per step at one thread is far steadier than
 * wall time. */
double bench_cpu_now(void);
/* Peak resident set size of the process so far (getrusage), in MB. */
double bench_peak_rss_mb(void);

/* Installs a counting allocator with gm_set_allocator (before any library
 * object exists); bench_alloc_calls() is the number of malloc/realloc
 * calls the library made so far. */
void bench_alloc_install(void);
uint64_t bench_alloc_calls(void);

/* A small deterministic generator for shuffling (not the library's). */
uint64_t bench_rand(uint64_t *state);

/* Records every cblas_sgemm call (shapes, transposes, alpha, beta) made
 * between begin and end. The calls still run. */
void bench_gemm_record_begin(void);
size_t bench_gemm_record_end(void);
/* Total FLOPs (2 M N K per call) of the recorded calls. */
double bench_gemm_recorded_flops(void);
/* Replays the recorded calls alone, on buffers of their sizes, for about
 * `seconds`; returns the seconds one replay of the whole list takes (the
 * median of several rounds) and, when cpu is not NULL, the process CPU
 * seconds it takes (median likewise). */
double bench_gemm_replay_seconds(double seconds, double *cpu);
/* Prints the recorded calls, one per line, to stdout (prefixed "# "). */
void bench_gemm_print(void);

/* The sgemm bound of one training step: records the gemm calls of
 * step(ctx) (one real step, which is taken), prints them when verbose, and
 * replays them alone for about `seconds`. *bound and *cbound receive the
 * steps/s that wall and CPU time allow (cbound may be NULL), *gflop the
 * GFLOP of one step (may be NULL). */
void bench_gemm_bound(void (*step)(void *ctx), void *ctx, double seconds, int verbose,
                      double *bound, double *cbound, double *gflop);

/* The benchmarked models, as the examples build them (the caller owns
 * the result): the VAE of examples/vae_fashion.c (784-400-20, Adam 1e-3),
 * the DCGAN of examples/dcgan_fashion.c (z 100, Adam 2e-4, 0.5/0.999) and
 * the ring GAN of examples/gan_ring.c (2-128-128-2 / 2-128-128-1, Adam
 * 1e-3, 0.5/0.999). */
gm_vae *bench_vae_create(uint64_t seed);
gm_gan *bench_dcgan_create(uint64_t seed);
gm_gan *bench_ring_gan_create(uint64_t seed);
enum { BENCH_VAE_D = 784, BENCH_VAE_L = 20, BENCH_VAE_B = 128, BENCH_DCGAN_Z = 100,
       BENCH_DCGAN_B = 64, BENCH_RING_B = 256 };

/* The OpenBLAS build: openblas_get_config() and openblas_get_corename(). */
const char *bench_blas_config(void);
const char *bench_blas_core(void);

#endif
