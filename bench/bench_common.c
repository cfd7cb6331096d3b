/* SPDX-License-Identifier: MIT */
/* See bench_common.h. */
#define _GNU_SOURCE /* RTLD_NEXT */
#include "bench_common.h"

#include <cblas.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <zlib.h>

#if BENCH_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

void bench_die(const char *what, gm_status st)
{
    fprintf(stderr, "bench: %s\n  %s: %s\n", what, gm_status_string(st), gm_last_error());
    exit(1);
}

void bench_parse(bench_opts *o, int argc, char **argv, const char *prog)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-bound") == 0) o->bound = 0;
        else if (v && strcmp(a, "--steps") == 0) o->steps = atol(v), i++;
        else if (v && strcmp(a, "--warmup") == 0) o->warmup = atol(v), i++;
        else if (v && strcmp(a, "--threads") == 0) o->threads = atoi(v), i++;
        else if (v && strcmp(a, "--seed") == 0) o->seed = strtoull(v, NULL, 10), i++;
        else if (v && strcmp(a, "--data") == 0) o->data = v, i++;
        else if (v && strcmp(a, "--sample-batch") == 0) o->sample_batch = atol(v), i++;
        else if (v && strcmp(a, "--sample-reps") == 0) o->sample_reps = atol(v), i++;
        else {
            fprintf(stderr,
                    "usage: %s [--steps N] [--warmup N] [--threads N] [--seed N] [--data DIR]\n"
                    "       [--sample-batch N] [--sample-reps N] [--no-bound]\n",
                    prog);
            exit(2);
        }
    }
    if (o->steps < 1) o->steps = 1;
    if (o->warmup < 1) o->warmup = 1; /* the first step sizes the workspaces */
    if (o->sample_batch < 1) o->sample_batch = 1;
    if (o->sample_reps < 1) o->sample_reps = 1;
    if (o->threads > 0) BENCH_CHECK(gm_set_num_threads(o->threads));
    o->data = bench_data_dir(o->data);
}

const char *bench_data_dir(const char *arg)
{
    if (arg && *arg) return arg;
    const char *env = getenv("GM_FASHION_DIR");
    if (env && *env) return env;
    return "/usr/share/datasets/fashion-mnist";
}

/* gzread reads plain files as they are, so one path handles both. */
unsigned char *bench_load_images_u8(const char *path, size_t *n)
{
    gzFile f = gzopen(path, "rb");
    unsigned char hdr[16];
    if (!f || gzread(f, hdr, 16) != 16) {
        fprintf(stderr, "bench: cannot read %s (set --data or GM_FASHION_DIR)\n", path);
        exit(1);
    }
    uint32_t v[4];
    for (int i = 0; i < 4; i++)
        v[i] = (uint32_t)hdr[4 * i] << 24 | (uint32_t)hdr[4 * i + 1] << 16 |
               (uint32_t)hdr[4 * i + 2] << 8 | hdr[4 * i + 3];
    if (v[0] != 2051 || v[2] != 28 || v[3] != 28) {
        fprintf(stderr, "bench: %s is not an IDX file of 28 x 28 images\n", path);
        exit(1);
    }
    size_t bytes = (size_t)v[1] * 784;
    unsigned char *img = malloc(bytes ? bytes : 1);
    size_t got = 0;
    while (img && got < bytes) {
        unsigned chunk = bytes - got > (1u << 30) ? 1u << 30 : (unsigned)(bytes - got);
        int r = gzread(f, img + got, chunk);
        if (r <= 0) break;
        got += (size_t)r;
    }
    gzclose(f);
    if (!img || got != bytes) {
        fprintf(stderr, "bench: %s is truncated\n", path);
        exit(1);
    }
    *n = v[1];
    return img;
}

const size_t *bench_next_batch(size_t *order, size_t n, size_t batch, size_t *pos,
                               uint64_t *rs)
{
    if (*pos + batch > n) *pos = 0;
    if (*pos == 0)
        for (size_t i = n - 1; i > 0; i--) {
            size_t j = (size_t)(bench_rand(rs) % (i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    const size_t *b = order + *pos;
    *pos += batch;
    return b;
}

void bench_bytes_to_floats(float *restrict dst, const unsigned char *restrict src, size_t n,
                           float scale, float shift)
{
    size_t k = 0;
    for (; k + 16 <= n; k += 16) /* a fixed trip count: vectorized at -O2 */
        for (size_t j = 0; j < 16; j++) dst[k + j] = (float)src[k + j] * scale + shift;
    for (; k < n; k++) dst[k] = (float)src[k] * scale + shift;
}

double bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double bench_cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double bench_peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: kilobytes */
}

/* ---- counting allocator --------------------------------------------------- */

static uint64_t bench_allocs;

static void *count_malloc(void *user, size_t size)
{
    (void)user;
    bench_allocs++;
    return malloc(size);
}
static void *count_realloc(void *user, void *ptr, size_t size)
{
    (void)user;
    bench_allocs++;
    return realloc(ptr, size);
}
static void count_free(void *user, void *ptr)
{
    (void)user;
    free(ptr);
}

void bench_alloc_install(void)
{
    static const gm_allocator a = {count_malloc, count_realloc, count_free, NULL};
    BENCH_CHECK(gm_set_allocator(&a));
}

uint64_t bench_alloc_calls(void) { return bench_allocs; }

uint64_t bench_rand(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- the sgemm recorder ---------------------------------------------------- */

/* This program defines cblas_sgemm (and, in a build with oneDNN, where
 * the library's float products go to oneDNN, dnnl_sgemm), so the library
 * (linked statically) calls this one; it forwards to OpenBLAS's (oneDNN's),
 * found with RTLD_NEXT. That way the recorded list is whatever the library
 * does, also after its gemm calls change, and the replay calls the same
 * GEMM. */
typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE,
                         const enum CBLAS_TRANSPOSE, const blasint, const blasint, const blasint,
                         const float, const float *, const blasint, const float *, const blasint,
                         const float, float *, const blasint);

typedef struct {
    int dnnl; /* 1: a dnnl_sgemm call */
    int order, ta, tb;
    blasint M, N, K, lda, ldb, ldc;
    float alpha, beta;
} gemm_call;

enum { MAX_CALLS = 256 };
static gemm_call calls[MAX_CALLS];
static size_t n_calls;
static int recording;

static sgemm_fn real_sgemm(void)
{
    static sgemm_fn fn;
    if (!fn) {
        void *p = dlsym(RTLD_NEXT, "cblas_sgemm");
        if (!p) {
            fprintf(stderr, "bench: cannot find OpenBLAS's cblas_sgemm: %s\n", dlerror());
            exit(1);
        }
        memcpy(&fn, &p, sizeof fn); /* object to function pointer, without a cast warning */
    }
    return fn;
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta,
                 const enum CBLAS_TRANSPOSE tb, const blasint M, const blasint N,
                 const blasint K, const float alpha, const float *A, const blasint lda,
                 const float *B, const blasint ldb, const float beta, float *C,
                 const blasint ldc)
{
    if (recording && n_calls < MAX_CALLS)
        calls[n_calls++] = (gemm_call){0, (int)order, (int)ta, (int)tb, M, N, K, lda, ldb, ldc,
                                       alpha, beta};
    real_sgemm()(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

#if BENCH_DNNL
typedef dnnl_status_t (*dnnl_sgemm_fn)(char, char, dnnl_dim_t, dnnl_dim_t, dnnl_dim_t, float,
                                       const float *, dnnl_dim_t, const float *, dnnl_dim_t,
                                       float, float *, dnnl_dim_t);

static dnnl_sgemm_fn real_dnnl_sgemm(void)
{
    static dnnl_sgemm_fn fn;
    if (!fn) {
        void *p = dlsym(RTLD_NEXT, "dnnl_sgemm");
        if (!p) {
            fprintf(stderr, "bench: cannot find oneDNN's dnnl_sgemm: %s\n", dlerror());
            exit(1);
        }
        memcpy(&fn, &p, sizeof fn);
    }
    return fn;
}

dnnl_status_t dnnl_sgemm(char ta, char tb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K, float alpha,
                         const float *A, dnnl_dim_t lda, const float *B, dnnl_dim_t ldb,
                         float beta, float *C, dnnl_dim_t ldc)
{
    if (recording && n_calls < MAX_CALLS)
        calls[n_calls++] = (gemm_call){1, (int)CblasRowMajor,
                                       ta == 'T' ? (int)CblasTrans : (int)CblasNoTrans,
                                       tb == 'T' ? (int)CblasTrans : (int)CblasNoTrans,
                                       (blasint)M, (blasint)N, (blasint)K, (blasint)lda,
                                       (blasint)ldb, (blasint)ldc, alpha, beta};
    return real_dnnl_sgemm()(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

/* Calls the recorded call c on A, B, C through the GEMM the library used. */
static void replay_call(const gemm_call *c, const float *A, const float *B, float *C)
{
#if BENCH_DNNL
    if (c->dnnl) {
        real_dnnl_sgemm()(c->ta == CblasTrans ? 'T' : 'N', c->tb == CblasTrans ? 'T' : 'N', c->M,
                          c->N, c->K, c->alpha, A, c->lda, B, c->ldb, c->beta, C, c->ldc);
        return;
    }
#endif
    real_sgemm()((enum CBLAS_ORDER)c->order, (enum CBLAS_TRANSPOSE)c->ta,
                 (enum CBLAS_TRANSPOSE)c->tb, c->M, c->N, c->K, c->alpha, A, c->lda, B, c->ldb,
                 c->beta, C, c->ldc);
}

void bench_gemm_record_begin(void)
{
    n_calls = 0;
    recording = 1;
}

size_t bench_gemm_record_end(void)
{
    recording = 0;
    return n_calls;
}

double bench_gemm_recorded_flops(void)
{
    double f = 0;
    for (size_t i = 0; i < n_calls; i++)
        f += 2.0 * (double)calls[i].M * (double)calls[i].N * (double)calls[i].K;
    return f;
}

void bench_gemm_print(void)
{
    for (size_t i = 0; i < n_calls; i++) {
        const gemm_call *c = &calls[i];
        printf("# %s %c%c M=%d N=%d K=%d beta=%g\n", c->dnnl ? "dnnl_sgemm" : "sgemm",
               c->ta == CblasTrans ? 'T' : 'N',
               c->tb == CblasTrans ? 'T' : 'N', (int)c->M, (int)c->N, (int)c->K,
               (double)c->beta);
    }
}

void bench_gemm_bound(void (*step)(void *ctx), void *ctx, double seconds, int verbose,
                      double *bound, double *cbound, double *gflop)
{
    bench_gemm_record_begin();
    step(ctx);
    const size_t nc = bench_gemm_record_end();
    const double g = bench_gemm_recorded_flops() * 1e-9;
    double ct, t = bench_gemm_replay_seconds(seconds, &ct);
    *bound = 1.0 / t;
    if (cbound) *cbound = 1.0 / ct;
    if (gflop) *gflop = g;
    if (verbose) {
        printf("# %zu sgemm calls per step, %.3f GFLOP, alone %.3f ms = %.1f GFLOP/s\n", nc, g,
               1e3 * t, g / t);
        bench_gemm_print();
    }
}

/* Rows x columns of a row-major operand op(X) with leading dimension ld. */
static size_t operand_floats(int trans, blasint rows, blasint cols, blasint ld)
{
    /* stored as [rows x ld] untransposed, [cols x ld] transposed */
    return (size_t)(trans == CblasTrans ? cols : rows) * (size_t)ld;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_gemm_replay_seconds(double seconds, double *cpu)
{
    if (n_calls == 0) return 0.0;
    float *A[MAX_CALLS], *B[MAX_CALLS], *C[MAX_CALLS];
    for (size_t i = 0; i < n_calls; i++) {
        const gemm_call *c = &calls[i];
        size_t na = operand_floats(c->ta, c->M, c->K, c->lda),
               nb = operand_floats(c->tb, c->K, c->N, c->ldb), nc = (size_t)c->M * c->ldc;
        A[i] = malloc(na * sizeof(float));
        B[i] = malloc(nb * sizeof(float));
        C[i] = malloc(nc * sizeof(float));
        if (!A[i] || !B[i] || !C[i]) {
            fprintf(stderr, "bench: out of memory for the gemm replay\n");
            exit(1);
        }
        /* small normal-ish values: no denormals, no overflow */
        uint64_t s = i + 1;
        for (size_t k = 0; k < na; k++) A[i][k] = (float)(bench_rand(&s) >> 40) * 0x1p-24f - 0.5f;
        for (size_t k = 0; k < nb; k++) B[i][k] = (float)(bench_rand(&s) >> 40) * 0x1p-24f - 0.5f;
        memset(C[i], 0, nc * sizeof(float));
    }
    /* one untimed pass warms caches and the BLAS threads, and sizes a
     * round to about a tenth of the time asked for */
    double t0 = bench_now();
    for (size_t i = 0; i < n_calls; i++) replay_call(&calls[i], A[i], B[i], C[i]);
    double once = bench_now() - t0;
    long reps = (long)(seconds / 10.0 / (once > 1e-7 ? once : 1e-7));
    if (reps < 1) reps = 1;
    enum { ROUNDS = 10 };
    double per[ROUNDS], per_cpu[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        t0 = bench_now();
        double c0 = bench_cpu_now();
        for (long k = 0; k < reps; k++)
            for (size_t i = 0; i < n_calls; i++) replay_call(&calls[i], A[i], B[i], C[i]);
        per[r] = (bench_now() - t0) / (double)reps;
        per_cpu[r] = (bench_cpu_now() - c0) / (double)reps;
    }
    for (size_t i = 0; i < n_calls; i++) {
        free(A[i]);
        free(B[i]);
        free(C[i]);
    }
    /* the median round: robust to other jobs on a shared machine */
    qsort(per, ROUNDS, sizeof per[0], cmp_double);
    qsort(per_cpu, ROUNDS, sizeof per_cpu[0], cmp_double);
    if (cpu) *cpu = 0.5 * (per_cpu[ROUNDS / 2 - 1] + per_cpu[ROUNDS / 2]);
    return 0.5 * (per[ROUNDS / 2 - 1] + per[ROUNDS / 2]);
}

const char *bench_blas_config(void) { return openblas_get_config(); }
const char *bench_blas_core(void) { return openblas_get_corename(); }

/* ---- the models ------------------------------------------------------------- */

static gm_net *vae_mlp(size_t in, size_t hidden, size_t out, gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    BENCH_CHECK(gm_net_create(&net));
    BENCH_CHECK(gm_dense_create(&l, in, hidden, GM_INIT_TORCH, rng));
    BENCH_CHECK(gm_net_add(net, l));
    BENCH_CHECK(gm_relu_create(&l));
    BENCH_CHECK(gm_net_add(net, l));
    BENCH_CHECK(gm_dense_create(&l, hidden, out, GM_INIT_TORCH, rng));
    BENCH_CHECK(gm_net_add(net, l));
    return net;
}

gm_vae *bench_vae_create(uint64_t seed)
{
    gm_rng *rng;
    BENCH_CHECK(gm_rng_create(&rng, seed));
    gm_net *enc = vae_mlp(784, 400, 2 * BENCH_VAE_L, rng),
           *dec = vae_mlp(BENCH_VAE_L, 400, 784, rng);
    gm_rng_free(rng);
    gm_vae_options vo;
    BENCH_CHECK(gm_vae_options_init(&vo)); /* Bernoulli, Adam 1e-3 */
    vo.latent = BENCH_VAE_L;
    vo.seed = seed;
    gm_vae *vae;
    BENCH_CHECK(gm_vae_create(&vae, enc, dec, &vo));
    return vae;
}

#define ADD(net, call)                 \
    do {                               \
        BENCH_CHECK(call);             \
        BENCH_CHECK(gm_net_add(net, l)); \
    } while (0)

/* weights ~ N(0, 0.02^2), biases 0 (the DCGAN paper's conv init) */
static void dcgan_init(gm_layer *l, size_t nbias, gm_rng *rng)
{
    const size_t n = gm_layer_param_count(l);
    float *p = malloc(n * sizeof *p);
    if (p == NULL) exit(1);
    BENCH_CHECK(gm_rng_normal(rng, p, n - nbias));
    for (size_t i = 0; i < n; i++) p[i] = i < n - nbias ? 0.02f * p[i] : 0.0f;
    BENCH_CHECK(gm_layer_set_params(l, p, n));
    free(p);
}

#define ADD_CONV(net, call, nbias)       \
    do {                                 \
        BENCH_CHECK(call);               \
        dcgan_init(l, (nbias), rng);     \
        BENCH_CHECK(gm_net_add(net, l)); \
    } while (0)

gm_gan *bench_dcgan_create(uint64_t seed)
{
    gm_rng *rng;
    BENCH_CHECK(gm_rng_create(&rng, seed));
    gm_net *g, *d;
    gm_layer *l;
    BENCH_CHECK(gm_net_create(&g));
    ADD(g, gm_dense_create(&l, BENCH_DCGAN_Z, 128 * 7 * 7, GM_INIT_HE, rng));
    ADD(g, gm_batchnorm_create(&l, 128 * 7 * 7, 0.1f, 1e-5f));
    ADD(g, gm_relu_create(&l));
    ADD(g, gm_reshape_create(&l, 3, (size_t[]){128, 7, 7}));
    ADD_CONV(g, gm_conv_transpose2d_create(&l, 128, 64, 4, 2, 1, GM_INIT_ZEROS, NULL), 64);
    ADD(g, gm_batchnorm_create(&l, 64, 0.1f, 1e-5f));
    ADD(g, gm_relu_create(&l));
    ADD_CONV(g, gm_conv_transpose2d_create(&l, 64, 1, 4, 2, 1, GM_INIT_ZEROS, NULL), 1);
    ADD(g, gm_tanh_create(&l));
    BENCH_CHECK(gm_net_create(&d));
    ADD_CONV(d, gm_conv2d_create(&l, 1, 64, 4, 2, 1, GM_INIT_ZEROS, NULL), 64);
    ADD(d, gm_leaky_relu_create(&l, 0.2f));
    ADD_CONV(d, gm_conv2d_create(&l, 64, 128, 4, 2, 1, GM_INIT_ZEROS, NULL), 128);
    ADD(d, gm_batchnorm_create(&l, 128, 0.1f, 1e-5f));
    ADD(d, gm_leaky_relu_create(&l, 0.2f));
    ADD(d, gm_flatten_create(&l));
    ADD(d, gm_dense_create(&l, 128 * 7 * 7, 1, GM_INIT_XAVIER, rng));
    gm_rng_free(rng);
    gm_gan_options o;
    BENCH_CHECK(gm_gan_options_init(&o)); /* non-saturating, Adam 2e-4, 0.5/0.999 */
    o.latent = BENCH_DCGAN_Z;
    o.seed = seed;
    gm_gan *gan;
    BENCH_CHECK(gm_gan_create(&gan, g, d, &o));
    return gan;
}

static gm_net *ring_mlp(size_t in, size_t out, int leaky, gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    BENCH_CHECK(gm_net_create(&net));
    for (int i = 0; i < 2; i++) {
        ADD(net, gm_dense_create(&l, i == 0 ? in : 128, 128, GM_INIT_TORCH, rng));
        if (leaky)
            ADD(net, gm_leaky_relu_create(&l, 0.2f));
        else
            ADD(net, gm_relu_create(&l));
    }
    ADD(net, gm_dense_create(&l, 128, out, GM_INIT_TORCH, rng));
    return net;
}

gm_gan *bench_ring_gan_create(uint64_t seed)
{
    gm_rng *rng;
    BENCH_CHECK(gm_rng_create(&rng, seed));
    gm_net *gen = ring_mlp(2, 2, 0, rng), *dis = ring_mlp(2, 1, 1, rng);
    gm_rng_free(rng);
    gm_optimizer_options adam;
    BENCH_CHECK(gm_optimizer_options_init(&adam, GM_OPT_ADAM));
    adam.lr = 1e-3f;
    adam.beta1 = 0.5f;
    gm_gan_options o;
    BENCH_CHECK(gm_gan_options_init(&o));
    o.latent = 2;
    o.loss = GM_GAN_NONSATURATING;
    o.g_optimizer = o.d_optimizer = &adam;
    o.seed = seed;
    gm_gan *gan;
    BENCH_CHECK(gm_gan_create(&gan, gen, dis, &o));
    return gan;
}

/* ---- FLOPs from the architectures ------------------------------------------- */

/* Multiply-adds per example of a net's forward pass and of its first
 * layer (whose input gradient is not needed when the input is data or z). */
typedef struct {
    double fwd, first;
} net_macs;

/* A training step of a net fed by data: forward, weight gradients (as
 * many multiply-adds as the forward) and input gradients of every layer
 * but the first. */
static double train_macs(net_macs n) { return n.fwd + n.fwd + (n.fwd - n.first); }

/* A convolution's multiply-adds: output positions x C_out x C_in x k^2; a
 * transposed one's: input positions x C_in x C_out x k^2 (its forward is
 * a convolution's input gradient). */
static double conv_macs(double positions, double cin, double cout, double k)
{
    return positions * cin * cout * k * k;
}

/* One GAN step as gm_gan_train_step takes it (n_critic 1), per example:
 *   D update: G forward (fake), D forward on real and fake, D weight
 *   gradients for both, D input gradients beyond its first layer for both;
 *   G update: G forward, D forward, D input gradients through all its
 *   layers (down to the fake images; D's weight gradients are not needed),
 *   G weight gradients and G input gradients beyond its first layer. */
static double gan_step_macs(net_macs g, net_macs d)
{
    const double d_update = g.fwd + 2 * d.fwd + 2 * d.fwd + 2 * (d.fwd - d.first);
    const double g_update = g.fwd + d.fwd + d.fwd + g.fwd + (g.fwd - g.first);
    return d_update + g_update;
}

/* VAE: encoder 784-400-40, decoder 20-400-784 (dense). The step is a data
 * -fed net of both (the reparameterization passes the gradient on). */
static net_macs vae_macs(void)
{
    return (net_macs){784.0 * 400 + 400.0 * 40 + 20.0 * 400 + 400.0 * 784, 784.0 * 400};
}
double bench_vae_step_flops(void) { return 2.0 * BENCH_VAE_B * train_macs(vae_macs()); }
double bench_vae_sample_flops(void) { return 2.0 * (20.0 * 400 + 400.0 * 784); }

/* DCGAN: G dense 100-6272, ConvT 128->64 k4 on 7x7, ConvT 64->1 k4 on
 * 14x14; D Conv 1->64 k4 to 14x14, Conv 64->128 k4 to 7x7, dense 6272-1. */
static net_macs dcgan_g(void)
{
    const double dense = 100.0 * 6272;
    return (net_macs){dense + conv_macs(49, 128, 64, 4) + conv_macs(196, 64, 1, 4), dense};
}
static net_macs dcgan_d(void)
{
    const double c1 = conv_macs(196, 1, 64, 4);
    return (net_macs){c1 + conv_macs(49, 64, 128, 4) + 6272.0, c1};
}
double bench_dcgan_step_flops(void)
{
    return 2.0 * BENCH_DCGAN_B * gan_step_macs(dcgan_g(), dcgan_d());
}
double bench_dcgan_sample_flops(void) { return 2.0 * dcgan_g().fwd; }

/* Ring GAN: G 2-128-128-2, D 2-128-128-1 (dense). */
static net_macs ring_g(void) { return (net_macs){2.0 * 128 + 128.0 * 128 + 128.0 * 2, 2.0 * 128}; }
static net_macs ring_d(void) { return (net_macs){2.0 * 128 + 128.0 * 128 + 128.0, 2.0 * 128}; }
double bench_ring_step_flops(void) { return 2.0 * BENCH_RING_B * gan_step_macs(ring_g(), ring_d()); }
double bench_ring_sample_flops(void) { return 2.0 * ring_g().fwd; }
