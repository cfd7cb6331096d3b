/* SPDX-License-Identifier: MIT */
/* Shared helpers for the Check suites (not installed, not public). */
#ifndef GM_TEST_H
#define GM_TEST_H

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/genmodel.h>

/* Asserts a call returns GM_OK; on failure reports gm_last_error(). */
#define GM_CK_OK(expr)                                                      \
    do {                                                                    \
        gm_status gm_ck_st_ = (expr);                                       \
        ck_assert_msg(gm_ck_st_ == GM_OK, "%s -> %s: %s", #expr,            \
                      gm_status_string(gm_ck_st_), gm_last_error());        \
    } while (0)

/* Asserts a call fails with `code`, with a message that names `fn`. */
#define GM_CK_ERR(code, fn, expr)                                           \
    do {                                                                    \
        gm_clear_error();                                                   \
        gm_status gm_ck_st_ = (expr);                                       \
        ck_assert_msg(gm_ck_st_ == (code), "%s -> %s, expected %s (%s)",    \
                      #expr, gm_status_string(gm_ck_st_),                   \
                      gm_status_string(code), gm_last_error());             \
        ck_assert_msg(strstr(gm_last_error(), (fn)) != NULL,                \
                      "%s: message does not name %s: '%s'", #expr, (fn),   \
                      gm_last_error());                                     \
    } while (0)

/* |a - b| <= atol + rtol * |b| elementwise; reports the worst index. */
static inline void gm_ck_close(const float *a, const float *b, size_t n,
                               double atol, double rtol, const char *label)
{
    size_t worst = 0;
    double worst_excess = -1.0;
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double lim = atol + rtol * fabs((double)b[i]);
        if (!(d <= lim)) ok = 0;
        if (!(d - lim <= worst_excess)) { worst_excess = d - lim; worst = i; }
    }
    ck_assert_msg(ok, "%s: mismatch at %zu of %zu: %.9g vs %.9g", label,
                  worst, n, (double)a[worst], (double)b[worst]);
}

/* |a - b| <= rtol |b| in the 2-norm over all n: for results that pass
 * through kinks (ReLU, LeakyReLU), where rounding may put a value on the
 * other side of 0 and change a few elements by far more than rounding, but
 * the whole by little; a wrong result is off by O(1). */
static inline void gm_ck_close_norm(const float *a, const float *b, size_t n, double rtol,
                                    const char *label)
{
    double num = 0.0, den = 0.0;
    for (size_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    ck_assert_msg(sqrt(num) <= rtol * sqrt(den), "%s: |a - b| = %.6g > %.3g |b| = %.6g", label,
                  sqrt(num), rtol, rtol * sqrt(den));
}

/* Runs a suite and returns a process exit status. */
static inline int gm_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}

/* ---- an allocator that fails one chosen call -------------------------------
 * Installed with `const gm_allocator a = GM_TEST_OOM_ALLOCATOR;
 * gm_set_allocator(&a);` (while no library object is alive); gm_test_oom_arm(k) makes the k-th allocation from then
 * on (counted from 0) return NULL, gm_test_oom_arm(-1) none. For sweeps
 * that fail allocation 0, 1, 2, ... of a call until it succeeds. */
typedef struct {
    long calls, fail_at;
} gm_test_oom_state;
static inline gm_test_oom_state *gm_test_oom(void)
{
    static gm_test_oom_state s = {0, -1};
    return &s;
}
static inline void gm_test_oom_arm(long fail_at)
{
    gm_test_oom()->calls = 0;
    gm_test_oom()->fail_at = fail_at;
}
static inline void *gm_test_oom_malloc(void *u, size_t n)
{
    (void)u;
    gm_test_oom_state *s = gm_test_oom();
    return s->calls++ == s->fail_at ? NULL : malloc(n);
}
static inline void *gm_test_oom_realloc(void *u, void *p, size_t n)
{
    (void)u;
    gm_test_oom_state *s = gm_test_oom();
    return s->calls++ == s->fail_at ? NULL : realloc(p, n);
}
static inline void gm_test_oom_free(void *u, void *p)
{
    (void)u;
    free(p);
}
#define GM_TEST_OOM_ALLOCATOR \
    { gm_test_oom_malloc, gm_test_oom_realloc, gm_test_oom_free, NULL }

/* ---- whole files -------------------------------------------------------- */
/* The file's bytes (malloc'd, the caller frees them; *len its size). */
static inline unsigned char *gm_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static inline void gm_test_write_file(const char *path, const unsigned char *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    fclose(f);
}

static inline int gm_test_files_equal(const char *a, const char *b)
{
    size_t na, nb;
    unsigned char *pa = gm_test_read_file(a, &na), *pb = gm_test_read_file(b, &nb);
    int eq = na == nb && memcmp(pa, pb, na) == 0;
    free(pa);
    free(pb);
    return eq;
}

/* ---- shared builders -------------------------------------------------------
 * The suites' small nets, built in one place. gm_test_mlp: dense(in ->
 * hidden), an activation, dense(hidden -> out), the two dense layers
 * initialized in that order from rng (hidden 0: one dense(in -> out) and
 * no activation). Every call is Check-asserted, so use it on the test's
 * own thread (test_threads.c builds on worker threads and keeps its own). */
typedef enum gm_test_act {
    GM_TEST_RELU,
    GM_TEST_LEAKY_RELU, /* alpha 0.2, the GANs' */
    GM_TEST_TANH
} gm_test_act;

static inline gm_net *gm_test_mlp(size_t in, size_t hidden, size_t out, gm_test_act act,
                                  gm_init init_hidden, gm_init init_out, gm_rng *rng)
{
    gm_net *net;
    gm_layer *l;
    GM_CK_OK(gm_net_create(&net));
    if (hidden) {
        GM_CK_OK(gm_dense_create(&l, in, hidden, init_hidden, rng));
        GM_CK_OK(gm_net_add(net, l));
        switch (act) {
        case GM_TEST_RELU: GM_CK_OK(gm_relu_create(&l)); break;
        case GM_TEST_LEAKY_RELU: GM_CK_OK(gm_leaky_relu_create(&l, 0.2f)); break;
        case GM_TEST_TANH: GM_CK_OK(gm_tanh_create(&l)); break;
        }
        GM_CK_OK(gm_net_add(net, l));
        in = hidden;
    }
    GM_CK_OK(gm_dense_create(&l, in, out, init_out, rng));
    GM_CK_OK(gm_net_add(net, l));
    return net;
}

/* gm_test_mlp with GM_INIT_TORCH and a generator of its own from seed. */
static inline gm_net *gm_test_mlp_seeded(size_t in, size_t hidden, size_t out, gm_test_act act,
                                         uint64_t seed)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    gm_net *net = gm_test_mlp(in, hidden, out, act, GM_INIT_TORCH, GM_INIT_TORCH, rng);
    gm_rng_free(rng);
    return net;
}

/* A small VAE (d inputs, latent l, ReLU MLPs of h hidden units; seeds 1,
 * 2 for the nets and 3 for the model) and a small GAN (latent l, d
 * outputs; seeds 5, 6 and 4) with the default options otherwise. */
static inline gm_vae *gm_test_small_vae(size_t d, size_t l, size_t h)
{
    gm_vae_options o;
    GM_CK_OK(gm_vae_options_init(&o));
    o.latent = l;
    o.seed = 3;
    gm_vae *v;
    GM_CK_OK(gm_vae_create(&v, gm_test_mlp_seeded(d, h, 2 * l, GM_TEST_RELU, 1),
                           gm_test_mlp_seeded(l, h, d, GM_TEST_RELU, 2), &o));
    return v;
}

static inline gm_gan *gm_test_small_gan(size_t d, size_t l, size_t h)
{
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = l;
    o.seed = 4;
    gm_gan *g;
    GM_CK_OK(gm_gan_create(&g, gm_test_mlp_seeded(l, h, d, GM_TEST_RELU, 5),
                           gm_test_mlp_seeded(d, h, 1, GM_TEST_RELU, 6), &o));
    return g;
}

#if defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 200809L
#include <unistd.h>
/* A suite's temporary directory, made with gm_test_dir_make("tag") (as
 * /tmp/gm_tag_XXXXXX) and removed with all it holds by gm_test_dir_remove.
 * gm_test_path(name) is name inside it, in one of four rotating buffers
 * (so up to four paths may be held at once). Needs _POSIX_C_SOURCE
 * 200809L (mkdtemp) before the first #include. */
static inline char *gm_test_dir(void)
{
    static char d[64];
    return d;
}

static inline void gm_test_dir_make(const char *tag)
{
    snprintf(gm_test_dir(), 64, "/tmp/gm_%s_XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(gm_test_dir()));
}

static inline void gm_test_dir_remove(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", gm_test_dir());
    ck_assert_int_eq(system(cmd), 0);
}

static inline const char *gm_test_path(const char *name)
{
    static char buf[4][400];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", gm_test_dir(), name);
    return buf[k];
}
#endif

#endif
