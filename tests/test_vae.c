/* SPDX-License-Identifier: MIT */
/*
 * VAE suite (issue 4), written against include/genmodel/vae.h:
 *  - central finite-difference checks of every function of the
 *    reparameterization/ELBO module (values against closed forms computed
 *    in double, gradients against differences, += accumulation into dh);
 *  - the analytic KL against a Monte Carlo estimate;
 *  - IWAE: K = 1 agrees with the negative ELBO in expectation, and the
 *    estimate does not increase from K = 1 to 5 to 50 (and drops by 50);
 *  - a custom loop built from the exported functions, following the
 *    recipe of vae.h's file comment, gives bit-identical parameters to
 *    gm_vae_train_step (Bernoulli, both Gaussians, beta + warm-up,
 *    conditional with SGD momentum, varying batch sizes);
 *  - same seed and thread count: identical parameters; other seed: not;
 *  - shapes, ranges and identities of encode/decode/reconstruct/sample/
 *    interpolate/inpaint/elbo, and that none of them disturbs training;
 *  - bad input for every vae.h function: the documented status, a message
 *    naming the function, outputs and the model unchanged.
 */
#define _POSIX_C_SOURCE 200809L

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm_test.h"

#define EPS 1e-3f
#define ATOL 2e-3
#define RTOL 2e-2
#define LOG2PI 1.8378770664093453

/* ------------------------------------------------------------------ */
/* helpers                                                              */
/* ------------------------------------------------------------------ */

static gm_tensor *tnew(size_t ndim, const size_t *shape)
{
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, ndim, shape));
    return t;
}
#define T2(a, b) tnew(2, (const size_t[]){(a), (b)})
#define T1(a) tnew(1, (const size_t[]){(a)})

static float *D_(gm_tensor *t) { return gm_tensor_data(t); }

static gm_tensor *tdup(gm_tensor *t)
{
    gm_tensor *c;
    size_t nd, sh[GM_MAX_DIMS];
    GM_CK_OK(gm_tensor_shape(t, &nd, sh));
    GM_CK_OK(gm_tensor_from_data(&c, nd, sh, gm_tensor_data(t)));
    return c;
}

static int tsame(gm_tensor *a, gm_tensor *b)
{
    return gm_tensor_numel(a) == gm_tensor_numel(b) &&
           memcmp(D_(a), D_(b), gm_tensor_numel(a) * sizeof(float)) == 0;
}

/* v = scale * N(0,1) + shift */
static void fill_n(gm_tensor *t, gm_rng *rng, float scale, float shift)
{
    GM_CK_OK(gm_tensor_fill_normal(t, rng));
    float *d = D_(t);
    for (size_t i = 0; i < gm_tensor_numel(t); i++) d[i] = scale * d[i] + shift;
}

/* v = lo + (hi - lo) U[0,1) */
static void fill_u(gm_tensor *t, gm_rng *rng, float lo, float hi)
{
    GM_CK_OK(gm_tensor_fill_uniform(t, rng));
    float *d = D_(t);
    for (size_t i = 0; i < gm_tensor_numel(t); i++) d[i] = lo + (hi - lo) * d[i];
}

/* Central differences of f w.r.t. each of v[0..n), dividing by the actual
 * (rounded) step taken. */
static void numgrad(float *v, size_t n, double (*f)(void *), void *ctx, float eps,
                    float *out)
{
    for (size_t i = 0; i < n; i++) {
        float orig = v[i];
        v[i] = orig + eps;
        double up = v[i], fp = f(ctx);
        v[i] = orig - eps;
        double dn = v[i], fm = f(ctx);
        v[i] = orig;
        out[i] = (float)((fp - fm) / (up - dn));
    }
}

static double dsum(const float *a, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) s += a[i];
    return s;
}

/* ---- nets and models ---- */

static gm_net *mlp(size_t in, size_t hidden, size_t out, gm_rng *rng)
{
    return gm_test_mlp(in, hidden, out, GM_TEST_TANH, GM_INIT_XAVIER, GM_INIT_XAVIER, rng);
}

typedef struct arch {
    size_t D, L, C, H;
    gm_likelihood lik;
    uint64_t init_seed;
} arch;

static size_t dec_out(const arch *a)
{
    return a->lik == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? 2 * a->D : a->D;
}

/* Same init_seed: bit-identical nets. */
static void build(const arch *a, gm_net **enc, gm_net **dec)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, a->init_seed));
    *enc = mlp(a->D + a->C, a->H, 2 * a->L, rng);
    *dec = mlp(a->L + a->C, a->H, dec_out(a), rng);
    gm_rng_free(rng);
}

static gm_vae_options opts_for(const arch *a)
{
    gm_vae_options o;
    GM_CK_OK(gm_vae_options_init(&o));
    o.latent = a->L;
    o.likelihood = a->lik;
    o.num_classes = a->C;
    return o;
}

static gm_vae *make_vae(const arch *a, const gm_vae_options *o)
{
    gm_net *enc, *dec;
    build(a, &enc, &dec);
    gm_vae *v = NULL;
    GM_CK_OK(gm_vae_create(&v, enc, dec, o));
    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_eq(gm_vae_encoder(v), enc);
    ck_assert_ptr_eq(gm_vae_decoder(v), dec);
    return v;
}

/* n samples of D features in [0, 1] with a 2-d latent structure;
 * binary = 1 draws Bernoulli pixels from those probabilities. */
static float *make_data(size_t n, size_t D, uint64_t seed, int binary)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    float *x = malloc(n * D * sizeof(float)), u[2], r;
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++) {
        GM_CK_OK(gm_rng_normal(rng, u, 2));
        for (size_t d = 0; d < D; d++) {
            double a = 2.5 * (u[0] * cos(0.7 * d) + u[1] * sin(0.45 * d + 0.3));
            float p = (float)(1.0 / (1.0 + exp(-a)));
            if (binary) {
                GM_CK_OK(gm_rng_uniform(rng, &r, 1));
                p = r < p ? 1.0f : 0.0f;
            }
            x[i * D + d] = p;
        }
    }
    gm_rng_free(rng);
    return x;
}

static int32_t *make_labels(size_t n, size_t C, uint64_t seed)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    int32_t *y = malloc(n * sizeof(int32_t));
    ck_assert_ptr_nonnull(y);
    for (size_t i = 0; i < n; i++) {
        float r;
        GM_CK_OK(gm_rng_uniform(rng, &r, 1));
        y[i] = (int32_t)(r * (float)C);
        if (y[i] >= (int32_t)C) y[i] = (int32_t)C - 1;
    }
    gm_rng_free(rng);
    return y;
}

/* ---- model snapshots (parameters of both nets + step count) ---- */

typedef struct snap {
    float *enc, *dec;
    size_t ne, nd;
    uint64_t steps;
} snap;

static float *net_params(gm_net *net, size_t *n)
{
    *n = gm_net_param_count(net);
    float *p = malloc((*n + 1) * sizeof(float));
    ck_assert_ptr_nonnull(p);
    GM_CK_OK(gm_net_get_params(net, p, *n));
    return p;
}

static snap snap_take(gm_vae *v)
{
    snap s;
    s.enc = net_params(gm_vae_encoder(v), &s.ne);
    s.dec = net_params(gm_vae_decoder(v), &s.nd);
    s.steps = gm_vae_step_count(v);
    return s;
}

static int snap_equal(const snap *a, const snap *b)
{
    return a->ne == b->ne && a->nd == b->nd &&
           memcmp(a->enc, b->enc, a->ne * sizeof(float)) == 0 &&
           memcmp(a->dec, b->dec, a->nd * sizeof(float)) == 0;
}

static void snap_free(snap *s)
{
    free(s->enc);
    free(s->dec);
}

/* The model is exactly as in `before` (parameters bitwise, step count). */
static void check_unchanged(gm_vae *v, const snap *before, const char *what)
{
    snap now = snap_take(v);
    ck_assert_msg(snap_equal(&now, before), "%s: parameters changed", what);
    ck_assert_msg(now.steps == before->steps, "%s: step count %llu -> %llu", what,
                  (unsigned long long)before->steps, (unsigned long long)now.steps);
    snap_free(&now);
}

static void train_steps(gm_vae *v, const float *data, const int32_t *labels, size_t n,
                        size_t D, size_t B, int steps, gm_vae_stats *last)
{
    for (int s = 0; s < steps; s++) {
        size_t off = ((size_t)s * B) % (n - B + 1);
        gm_tensor *x;
        GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){B, D}, (float *)data + off * D));
        GM_CK_OK(gm_vae_train_step(v, x, labels ? labels + off : NULL, last));
        gm_tensor_free(x);
    }
}

/* ------------------------------------------------------------------ */
/* 1. finite-difference checks of the ELBO module                       */
/* ------------------------------------------------------------------ */

typedef struct rp_ctx {
    gm_tensor *h, *eps, *z, *r;
} rp_ctx;

static double rp_obj(void *p)
{
    rp_ctx *c = p;
    GM_CK_OK(gm_vae_reparameterize(c->h, c->eps, c->z));
    double s = 0;
    for (size_t i = 0; i < gm_tensor_numel(c->z); i++) s += (double)D_(c->z)[i] * D_(c->r)[i];
    return s;
}

START_TEST(test_reparameterize_grad)
{
    static const size_t shapes[][2] = {{1, 1}, {3, 2}, {5, 7}, {2, 16}};
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 11));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t N = shapes[s][0], L = shapes[s][1];
        rp_ctx c = {T2(N, 2 * L), T2(N, L), T2(N, L), T2(N, L)};
        fill_n(c.h, rng, 1.0f, 0.0f);
        fill_n(c.eps, rng, 1.0f, 0.0f);
        fill_n(c.r, rng, 1.0f, 0.0f);
        /* value: z = mu + exp(lv/2) eps */
        fill_n(c.z, rng, 1.0f, 0.0f); /* garbage, must be overwritten */
        GM_CK_OK(gm_vae_reparameterize(c.h, c.eps, c.z));
        float *want = malloc(N * L * sizeof(float));
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < L; j++) {
                double mu = D_(c.h)[i * 2 * L + j], lv = D_(c.h)[i * 2 * L + L + j];
                want[i * L + j] = (float)(mu + exp(lv / 2) * D_(c.eps)[i * L + j]);
            }
        gm_ck_close(D_(c.z), want, N * L, 1e-6, 1e-5, "reparameterize value");
        /* gradient w.r.t. h */
        gm_tensor *dh = T2(N, 2 * L);
        GM_CK_OK(gm_vae_reparameterize_backward(c.h, c.eps, c.r, dh));
        float *num = malloc(N * 2 * L * sizeof(float));
        numgrad(D_(c.h), N * 2 * L, rp_obj, &c, EPS, num);
        gm_ck_close(D_(dh), num, N * 2 * L, ATOL, RTOL, "reparameterize_backward dh");
        /* closed form of the header */
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < L; j++) {
                double lv = D_(c.h)[i * 2 * L + L + j], e = D_(c.eps)[i * L + j];
                double dz = D_(c.r)[i * L + j];
                num[i * 2 * L + j] = (float)dz;
                num[i * 2 * L + L + j] = (float)(dz * e * exp(lv / 2) / 2);
            }
        gm_ck_close(D_(dh), num, N * 2 * L, 1e-6, 1e-5, "reparameterize_backward formula");
        /* += : from a random start, dh ends at start + gradient */
        gm_tensor *acc = T2(N, 2 * L);
        fill_n(acc, rng, 1.0f, 0.0f);
        gm_tensor *start = tdup(acc);
        GM_CK_OK(gm_vae_reparameterize_backward(c.h, c.eps, c.r, acc));
        for (size_t i = 0; i < N * 2 * L; i++) num[i] = D_(start)[i] + D_(dh)[i];
        gm_ck_close(D_(acc), num, N * 2 * L, 1e-6, 1e-6, "reparameterize_backward +=");
        free(want);
        free(num);
        gm_tensor_free(acc);
        gm_tensor_free(start);
        gm_tensor_free(dh);
        gm_tensor_free(c.h);
        gm_tensor_free(c.eps);
        gm_tensor_free(c.z);
        gm_tensor_free(c.r);
    }
    gm_rng_free(rng);
}
END_TEST

typedef struct kl_ctx {
    gm_tensor *h;
    float *each;
    size_t N;
    double scale;
} kl_ctx;

static double kl_obj(void *p)
{
    kl_ctx *c = p;
    float m;
    GM_CK_OK(gm_vae_kl(c->h, &m, c->each, NULL, 1.0f));
    return c->scale * dsum(c->each, c->N) / (double)c->N;
}

START_TEST(test_kl_grad)
{
    static const size_t shapes[][2] = {{1, 1}, {3, 2}, {4, 9}, {7, 3}};
    static const float scales[] = {1.0f, 0.35f, 2.5f, -0.5f};
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 12));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t N = shapes[s][0], L = shapes[s][1];
        float scale = scales[s];
        kl_ctx c = {T2(N, 2 * L), malloc(N * sizeof(float)), N, scale};
        fill_n(c.h, rng, 1.0f, 0.0f);
        float mean, *want = malloc(N * sizeof(float));
        GM_CK_OK(gm_vae_kl(c.h, &mean, c.each, NULL, scale));
        double total = 0;
        for (size_t i = 0; i < N; i++) {
            double k = 0;
            for (size_t j = 0; j < L; j++) {
                double mu = D_(c.h)[i * 2 * L + j], lv = D_(c.h)[i * 2 * L + L + j];
                k += 0.5 * (mu * mu + exp(lv) - 1 - lv);
            }
            want[i] = (float)k;
            total += k;
        }
        gm_ck_close(c.each, want, N, 1e-5, 1e-5, "kl each");
        float wm = (float)(total / N);
        gm_ck_close(&mean, &wm, 1, 1e-5, 1e-5, "kl mean");
        /* each may be NULL */
        float mean2 = -1;
        GM_CK_OK(gm_vae_kl(c.h, &mean2, NULL, NULL, scale));
        ck_assert(mean2 == mean);
        /* dh += scale * d(mean)/dh, from zero and from a random start */
        gm_tensor *dh = T2(N, 2 * L);
        GM_CK_OK(gm_vae_kl(c.h, &mean2, NULL, dh, scale));
        float *num = malloc(N * 2 * L * sizeof(float));
        numgrad(D_(c.h), N * 2 * L, kl_obj, &c, EPS, num);
        gm_ck_close(D_(dh), num, N * 2 * L, ATOL, RTOL, "kl dh");
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < L; j++) {
                double mu = D_(c.h)[i * 2 * L + j], lv = D_(c.h)[i * 2 * L + L + j];
                num[i * 2 * L + j] = (float)(scale * mu / N);
                num[i * 2 * L + L + j] = (float)(scale * 0.5 * (exp(lv) - 1) / N);
            }
        gm_ck_close(D_(dh), num, N * 2 * L, 1e-6, 1e-5, "kl dh formula");
        gm_tensor *acc = T2(N, 2 * L);
        fill_n(acc, rng, 1.0f, 0.0f);
        gm_tensor *start = tdup(acc);
        GM_CK_OK(gm_vae_kl(c.h, &mean2, NULL, acc, scale));
        for (size_t i = 0; i < N * 2 * L; i++) num[i] = D_(start)[i] + D_(dh)[i];
        gm_ck_close(D_(acc), num, N * 2 * L, 1e-6, 1e-6, "kl dh +=");
        /* scale 0 adds nothing */
        gm_tensor *keep = tdup(acc);
        GM_CK_OK(gm_vae_kl(c.h, &mean2, NULL, acc, 0.0f));
        gm_ck_close(D_(acc), D_(keep), N * 2 * L, 0, 0, "kl scale 0");
        free(want);
        free(num);
        free(c.each);
        gm_tensor_free(keep);
        gm_tensor_free(acc);
        gm_tensor_free(start);
        gm_tensor_free(dh);
        gm_tensor_free(c.h);
    }
    gm_rng_free(rng);
}
END_TEST

typedef struct rec_ctx {
    gm_likelihood lik;
    gm_tensor *out, *x;
    float glv;
    float *each;
    size_t N;
} rec_ctx;

static double rec_obj(void *p)
{
    rec_ctx *c = p;
    float m;
    GM_CK_OK(gm_vae_recon_nll(c->lik, c->out, c->x, c->glv, &m, c->each, NULL));
    return dsum(c->each, c->N) / (double)c->N;
}

/* -log p(x_i | out_i) in double, by the header's formulas. */
static double rec_ref(gm_likelihood lik, const float *o, const float *x, size_t D, float glv)
{
    double s = 0;
    for (size_t d = 0; d < D; d++) {
        if (lik == GM_LIKELIHOOD_BERNOULLI) {
            double z = o[d];
            s += (z > 0 ? z : 0) - z * x[d] + log1p(exp(-fabs(z)));
        } else {
            double m = o[d], lv = lik == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? o[D + d] : glv;
            s += 0.5 * (LOG2PI + lv + (x[d] - m) * (x[d] - m) * exp(-lv));
        }
    }
    return s;
}

START_TEST(test_recon_nll_grad)
{
    /* N, x's shape after N (ndim-1 dims), D */
    static const struct {
        size_t N, xnd, xs[3], D;
    } cases[] = {
        {1, 1, {1, 0, 0}, 1},
        {3, 1, {6, 0, 0}, 6},
        {4, 3, {1, 2, 3}, 6},
        {2, 1, {13, 0, 0}, 13},
        {5, 2, {2, 2, 0}, 4},
    };
    static const gm_likelihood liks[] = {GM_LIKELIHOOD_BERNOULLI, GM_LIKELIHOOD_GAUSSIAN_FIXED,
                                         GM_LIKELIHOOD_GAUSSIAN_LEARNED};
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 13));
    for (size_t k = 0; k < 3; k++) {
        gm_likelihood lik = liks[k];
        for (size_t s = 0; s < sizeof cases / sizeof cases[0]; s++) {
            size_t N = cases[s].N, D = cases[s].D;
            size_t OD = lik == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? 2 * D : D;
            size_t xshape[4] = {N, cases[s].xs[0], cases[s].xs[1], cases[s].xs[2]};
            rec_ctx c = {lik, T2(N, OD), tnew(1 + cases[s].xnd, xshape),
                         lik == GM_LIKELIHOOD_GAUSSIAN_FIXED ? -0.7f + 0.3f * (float)s : 0.0f,
                         malloc(N * sizeof(float)), N};
            float *o = D_(c.out), *x = D_(c.x);
            if (lik == GM_LIKELIHOOD_BERNOULLI) {
                fill_n(c.out, rng, 2.0f, 0.0f);
                fill_u(c.x, rng, 0.0f, 1.0f);
                x[0] = 0.0f; /* the ends of [0, 1] are allowed */
                if (N * D > 1) x[N * D - 1] = 1.0f;
            } else {
                fill_n(c.out, rng, 0.8f, 0.0f);
                fill_n(c.x, rng, 0.8f, 0.0f);
                if (lik == GM_LIKELIHOOD_GAUSSIAN_LEARNED)
                    for (size_t i = 0; i < N; i++)
                        for (size_t d = 0; d < D; d++) {
                            float u;
                            GM_CK_OK(gm_rng_uniform(rng, &u, 1));
                            o[i * 2 * D + D + d] = 2.0f * u - 1.0f; /* lv in [-1, 1) */
                        }
            }
            float mean, *want = malloc(N * sizeof(float));
            double total = 0;
            GM_CK_OK(gm_vae_recon_nll(lik, c.out, c.x, c.glv, &mean, c.each, NULL));
            for (size_t i = 0; i < N; i++) {
                double r = rec_ref(lik, o + i * OD, x + i * D, D, c.glv);
                want[i] = (float)r;
                total += r;
            }
            gm_ck_close(c.each, want, N, 1e-4, 1e-5, "recon_nll each");
            float wm = (float)(total / N);
            gm_ck_close(&mean, &wm, 1, 1e-4, 1e-5, "recon_nll mean");
            /* dout is written (=), not accumulated: start from garbage */
            gm_tensor *dout = T2(N, OD);
            fill_n(dout, rng, 5.0f, 3.0f);
            float mean2 = -1;
            GM_CK_OK(gm_vae_recon_nll(lik, c.out, c.x, c.glv, &mean2, NULL, dout));
            ck_assert(mean2 == mean);
            float *num = malloc(N * OD * sizeof(float));
            numgrad(o, N * OD, rec_obj, &c, EPS, num);
            char label[96];
            snprintf(label, sizeof label, "recon_nll dout, likelihood %d, N %zu D %zu", (int)lik,
                     N, D);
            gm_ck_close(D_(dout), num, N * OD, ATOL, RTOL, label);
            /* closed forms */
            for (size_t i = 0; i < N; i++)
                for (size_t d = 0; d < D; d++) {
                    const float *oi = o + i * OD;
                    double xv = x[i * D + d];
                    if (lik == GM_LIKELIHOOD_BERNOULLI) {
                        num[i * OD + d] = (float)((1 / (1 + exp(-(double)oi[d])) - xv) / N);
                    } else {
                        double lv = lik == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? oi[D + d] : c.glv;
                        double r = xv - oi[d];
                        num[i * OD + d] = (float)(-r * exp(-lv) / N);
                        if (lik == GM_LIKELIHOOD_GAUSSIAN_LEARNED)
                            num[i * OD + D + d] = (float)(0.5 * (1 - r * r * exp(-lv)) / N);
                    }
                }
            snprintf(label, sizeof label, "recon_nll dout formula, likelihood %d", (int)lik);
            gm_ck_close(D_(dout), num, N * OD, 1e-6, 1e-5, label);
            free(num);
            free(want);
            free(c.each);
            gm_tensor_free(dout);
            gm_tensor_free(c.out);
            gm_tensor_free(c.x);
        }
    }
    /* Bernoulli is stable for huge logits */
    {
        gm_tensor *o = T2(1, 4), *x = T2(1, 4), *g = T2(1, 4);
        float ov[4] = {80.0f, -80.0f, 1000.0f, -1000.0f}, xv[4] = {1, 0, 0.5f, 0.25f};
        GM_CK_OK(gm_tensor_copy_in(o, ov, 4));
        GM_CK_OK(gm_tensor_copy_in(x, xv, 4));
        float m;
        GM_CK_OK(gm_vae_recon_nll(GM_LIKELIHOOD_BERNOULLI, o, x, 0, &m, NULL, g));
        float want = (float)((0 + 0 + 500.0 + 250.0) / 1); /* one sample */
        gm_ck_close(&m, &want, 1, 1e-3, 1e-6, "bernoulli extreme logits");
        float gw[4] = {0, 0, 0.5f, -0.25f};
        gm_ck_close(D_(g), gw, 4, 1e-6, 0, "bernoulli extreme logits grad");
        gm_tensor_free(o);
        gm_tensor_free(x);
        gm_tensor_free(g);
    }
    gm_rng_free(rng);
}
END_TEST

typedef struct lme_ctx {
    gm_tensor *logw;
    float *each;
    size_t N;
} lme_ctx;

static double lme_obj(void *p)
{
    lme_ctx *c = p;
    float m;
    GM_CK_OK(gm_vae_logmeanexp(c->logw, &m, c->each, NULL));
    return dsum(c->each, c->N) / (double)c->N;
}

static double lme_ref(const float *w, size_t K)
{
    double mx = -INFINITY, s = 0;
    for (size_t k = 0; k < K; k++)
        if (w[k] > mx) mx = w[k];
    for (size_t k = 0; k < K; k++) s += exp(w[k] - mx);
    return mx + log(s / K);
}

START_TEST(test_logmeanexp_grad)
{
    static const size_t shapes[][2] = {{1, 1}, {3, 2}, {4, 5}, {2, 50}};
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 14));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t N = shapes[s][0], K = shapes[s][1];
        lme_ctx c = {T2(N, K), malloc(N * sizeof(float)), N};
        fill_n(c.logw, rng, 2.0f, 0.0f);
        for (size_t i = 0; i < N; i++) /* different offsets per row */
            for (size_t k = 0; k < K; k++) D_(c.logw)[i * K + k] += (float)i - 3.0f;
        float mean, *want = malloc(N * sizeof(float));
        GM_CK_OK(gm_vae_logmeanexp(c.logw, &mean, c.each, NULL));
        double total = 0;
        for (size_t i = 0; i < N; i++) {
            want[i] = (float)lme_ref(D_(c.logw) + i * K, K);
            total += want[i];
        }
        gm_ck_close(c.each, want, N, 1e-5, 1e-5, "logmeanexp each");
        float wm = (float)(total / N);
        gm_ck_close(&mean, &wm, 1, 1e-5, 1e-5, "logmeanexp mean");
        gm_tensor *d = T2(N, K);
        fill_n(d, rng, 3.0f, 1.0f); /* written, not accumulated */
        GM_CK_OK(gm_vae_logmeanexp(c.logw, &mean, NULL, d));
        float *num = malloc(N * K * sizeof(float));
        numgrad(D_(c.logw), N * K, lme_obj, &c, EPS, num);
        gm_ck_close(D_(d), num, N * K, ATOL, RTOL, "logmeanexp dlogw");
        for (size_t i = 0; i < N; i++) { /* softmax / N */
            const float *w = D_(c.logw) + i * K;
            double mx = -INFINITY, z = 0;
            for (size_t k = 0; k < K; k++) mx = w[k] > mx ? w[k] : mx;
            for (size_t k = 0; k < K; k++) z += exp(w[k] - mx);
            for (size_t k = 0; k < K; k++) num[i * K + k] = (float)(exp(w[k] - mx) / z / N);
        }
        gm_ck_close(D_(d), num, N * K, 1e-6, 1e-5, "logmeanexp dlogw formula");
        free(num);
        free(want);
        free(c.each);
        gm_tensor_free(d);
        gm_tensor_free(c.logw);
    }
    /* stable for large magnitudes; -inf is a zero weight */
    {
        gm_tensor *w = T2(3, 3), *d = T2(3, 3);
        float wv[9] = {-1000.0f, -1001.0f, -1002.0f, 900.0f, 901.0f, 899.5f,
                       0.0f,     -INFINITY, 1.0f};
        GM_CK_OK(gm_tensor_copy_in(w, wv, 9));
        float m, each[3], want[3];
        GM_CK_OK(gm_vae_logmeanexp(w, &m, each, d));
        for (int i = 0; i < 2; i++) want[i] = (float)lme_ref(wv + 3 * i, 3);
        want[2] = (float)log((1.0 + exp(1.0)) / 3.0);
        gm_ck_close(each, want, 3, 1e-4, 1e-6, "logmeanexp extreme values");
        ck_assert_msg(D_(d)[7] == 0.0f, "d/dlogw at -inf: %g", (double)D_(d)[7]);
        for (int i = 0; i < 9; i++) ck_assert(isfinite(D_(d)[i]));
        gm_tensor_free(w);
        gm_tensor_free(d);
    }
    gm_rng_free(rng);
}
END_TEST

START_TEST(test_log_normal_values)
{
    static const size_t shapes[][2] = {{1, 1}, {3, 2}, {6, 10}};
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 15));
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t N = shapes[s][0], L = shapes[s][1];
        gm_tensor *z = T2(N, L), *h = T2(N, 2 * L);
        fill_n(z, rng, 1.5f, 0.0f);
        fill_n(h, rng, 1.0f, 0.0f);
        float *each = malloc(N * sizeof(float)), *want = malloc(N * sizeof(float));
        GM_CK_OK(gm_vae_log_normal(z, h, each));
        for (size_t i = 0; i < N; i++) {
            double lp = 0;
            for (size_t j = 0; j < L; j++) {
                double zz = D_(z)[i * L + j], mu = D_(h)[i * 2 * L + j],
                       lv = D_(h)[i * 2 * L + L + j];
                lp += -0.5 * (LOG2PI + lv + (zz - mu) * (zz - mu) * exp(-lv));
            }
            want[i] = (float)lp;
        }
        gm_ck_close(each, want, N, 1e-5, 1e-5, "log_normal(z; mu, logvar)");
        GM_CK_OK(gm_vae_log_normal(z, NULL, each));
        for (size_t i = 0; i < N; i++) {
            double lp = 0;
            for (size_t j = 0; j < L; j++) {
                double zz = D_(z)[i * L + j];
                lp += -0.5 * (LOG2PI + zz * zz);
            }
            want[i] = (float)lp;
        }
        gm_ck_close(each, want, N, 1e-5, 1e-5, "log_normal(z; 0, I)");
        free(each);
        free(want);
        gm_tensor_free(z);
        gm_tensor_free(h);
    }
    gm_rng_free(rng);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 2. analytic KL against Monte Carlo                                   */
/* ------------------------------------------------------------------ */

START_TEST(test_kl_monte_carlo)
{
    const size_t L = 3, M = 20000;
    const float rows[4][6] = {
        {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f},        /* q = p: KL 0 */
        {0.5f, -1.0f, 0.2f, -0.5f, 0.3f, -1.2f},
        {1.5f, 0.0f, -0.7f, -2.0f, 0.8f, 0.1f},
        {-0.3f, 2.0f, 0.0f, 0.5f, -0.4f, -0.3f},
    };
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 16));
    gm_tensor *h = T2(M, 2 * L), *eps = T2(M, L), *z = T2(M, L), *h1 = T2(1, 2 * L);
    float *lq = malloc(M * sizeof(float)), *lp = malloc(M * sizeof(float));
    for (size_t r = 0; r < 4; r++) {
        for (size_t i = 0; i < M; i++) memcpy(D_(h) + i * 2 * L, rows[r], 2 * L * sizeof(float));
        GM_CK_OK(gm_tensor_copy_in(h1, rows[r], 2 * L));
        float kl;
        GM_CK_OK(gm_vae_kl(h1, &kl, NULL, NULL, 1.0f));
        GM_CK_OK(gm_tensor_fill_normal(eps, rng));
        GM_CK_OK(gm_vae_reparameterize(h, eps, z));
        GM_CK_OK(gm_vae_log_normal(z, h, lq));
        GM_CK_OK(gm_vae_log_normal(z, NULL, lp));
        double s = 0, s2 = 0;
        for (size_t i = 0; i < M; i++) {
            double d = (double)lq[i] - lp[i];
            s += d;
            s2 += d * d;
        }
        double mc = s / M, var = s2 / M - mc * mc, se = sqrt(var > 0 ? var / M : 0);
        fprintf(stderr, "kl mc: row %zu analytic %.5f monte carlo %.5f (se %.5f, %.2f se)\n", r,
                (double)kl, mc, se, se > 0 ? fabs(mc - kl) / se : 0.0);
        ck_assert_msg(fabs(mc - kl) <= 4 * se + 1e-4, "row %zu: analytic %g vs mc %g (se %g)", r,
                      (double)kl, mc, se);
    }
    free(lq);
    free(lp);
    gm_tensor_free(h);
    gm_tensor_free(h1);
    gm_tensor_free(eps);
    gm_tensor_free(z);
    gm_rng_free(rng);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 3. IWAE                                                              */
/* ------------------------------------------------------------------ */

START_TEST(test_iwae)
{
    const arch a = {16, 2, 0, 32, GM_LIKELIHOOD_BERNOULLI, 21};
    const size_t n = 2048, B = 64, nb = n / B;
    float *data = make_data(n, a.D, 22, 1);
    gm_optimizer_options oo;
    GM_CK_OK(gm_optimizer_options_init(&oo, GM_OPT_ADAM));
    oo.lr = 1e-2f;
    gm_vae_options o = opts_for(&a);
    o.optimizer = &oo;
    o.seed = 23;
    gm_vae *v = make_vae(&a, &o);
    gm_vae_stats st;
    train_steps(v, data, NULL, n, a.D, B, 300, &st);
    fprintf(stderr, "iwae: after 300 steps loss %.3f recon %.3f kl %.3f\n", (double)st.loss,
            (double)st.recon, (double)st.kl);
    ck_assert(st.kl > 0.1f);
    snap before = snap_take(v);

    const size_t passes = 3, R = passes * nb;
    static const size_t ks[3] = {1, 5, 50};
    double *elbo = malloc(R * sizeof(double)), *iw[3];
    for (int j = 0; j < 3; j++) iw[j] = malloc(R * sizeof(double));
    for (size_t p = 0; p < passes; p++)
        for (size_t b = 0; b < nb; b++) {
            gm_tensor *x;
            GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){B, a.D}, data + b * B * a.D));
            gm_vae_stats es;
            GM_CK_OK(gm_vae_elbo(v, x, NULL, &es));
            ck_assert(es.beta == 1.0f);
            gm_ck_close(&es.loss, (float[]){es.recon + es.kl}, 1, 1e-4, 1e-5, "elbo loss");
            elbo[p * nb + b] = es.loss;
            for (int j = 0; j < 3; j++) {
                float nll = -1;
                GM_CK_OK(gm_vae_iwae(v, x, NULL, ks[j], &nll));
                ck_assert(isfinite(nll));
                iw[j][p * nb + b] = nll;
            }
            gm_tensor_free(x);
        }
    /* paired differences over the batches: mean and standard error */
#define PAIRED(A, B_, MEAN, SE)                                                     \
    do {                                                                          \
        double s_ = 0, s2_ = 0;                                                   \
        for (size_t i_ = 0; i_ < R; i_++) {                                       \
            double d_ = (A)[i_] - (B_)[i_];                                       \
            s_ += d_;                                                             \
            s2_ += d_ * d_;                                                       \
        }                                                                         \
        MEAN = s_ / R;                                                            \
        double v_ = (s2_ / R - MEAN * MEAN) * R / (R - 1);                        \
        SE = sqrt(v_ > 0 ? v_ / R : 0);                                           \
    } while (0)
    double m, se, mean_elbo = 0, mean_k[3] = {0, 0, 0};
    for (size_t i = 0; i < R; i++) {
        mean_elbo += elbo[i] / R;
        for (int j = 0; j < 3; j++) mean_k[j] += iw[j][i] / R;
    }
    PAIRED(iw[0], elbo, m, se);
    fprintf(stderr,
            "iwae: -elbo %.4f, iwae K=1 %.4f, K=5 %.4f, K=50 %.4f (nats; %zu batches of %zu)\n",
            mean_elbo, mean_k[0], mean_k[1], mean_k[2], R, B);
    fprintf(stderr, "iwae: K=1 minus -elbo: %.4f (se %.4f)\n", m, se);
    ck_assert_msg(fabs(m) <= 4 * se + 1e-3, "iwae K=1 %g vs -elbo %g: diff %g, se %g",
                  mean_k[0], mean_elbo, m, se);
    PAIRED(iw[1], iw[0], m, se);
    fprintf(stderr, "iwae: K=5 minus K=1: %.4f (se %.4f)\n", m, se);
    ck_assert_msg(m <= 3 * se + 1e-3, "K=5 %g > K=1 %g (se %g)", mean_k[1], mean_k[0], se);
    PAIRED(iw[2], iw[1], m, se);
    fprintf(stderr, "iwae: K=50 minus K=5: %.4f (se %.4f)\n", m, se);
    ck_assert_msg(m <= 3 * se + 1e-3, "K=50 %g > K=5 %g (se %g)", mean_k[2], mean_k[1], se);
    PAIRED(iw[2], iw[0], m, se);
    /* a real importance-weighted bound is strictly tighter than K = 1 */
    ck_assert_msg(m < -3 * se && m < -0.01, "K=50 %g not below K=1 %g (se %g)", mean_k[2],
                  mean_k[0], se);
#undef PAIRED
    /* evaluation changes nothing */
    check_unchanged(v, &before, "elbo/iwae");
    snap_free(&before);
    free(elbo);
    for (int j = 0; j < 3; j++) free(iw[j]);
    free(data);
    gm_vae_free(v);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 4. the custom loop of vae.h's file comment, bit for bit              */
/* ------------------------------------------------------------------ */

typedef struct loop {
    const arch *a;
    gm_net *enc, *dec;
    gm_optimizer *oe, *od;
    gm_rng *rng;
    float beta, glv;
    uint64_t warmup, t;
} loop;

/* One step of the recipe; returns rec, kl and beta_t. */
static void loop_step(loop *lp, const float *xdata, size_t N, const int32_t *labels,
                      float *rec, float *kl, float *beta_t)
{
    const arch *a = lp->a;
    size_t D = a->D, L = a->L, C = a->C;
    gm_tensor *x, *xin = T2(N, D + C), *h = T2(N, 2 * L), *eps = T2(N, L), *z = T2(N, L);
    gm_tensor *zin = T2(N, L + C), *out = T2(N, dec_out(a)), *dout = T2(N, dec_out(a));
    gm_tensor *dh = T2(N, 2 * L), *dzin = T2(N, L + C), *dz = T2(N, L);
    GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){N, D}, (float *)xdata));
    for (size_t i = 0; i < N; i++) {
        memcpy(D_(xin) + i * (D + C), xdata + i * D, D * sizeof(float));
        if (C) D_(xin)[i * (D + C) + D + (size_t)labels[i]] = 1.0f;
    }
    GM_CK_OK(gm_net_zero_grad(lp->enc));
    GM_CK_OK(gm_net_zero_grad(lp->dec));
    GM_CK_OK(gm_net_forward(lp->enc, C ? xin : x, h));
    GM_CK_OK(gm_tensor_fill_normal(eps, lp->rng));
    GM_CK_OK(gm_vae_reparameterize(h, eps, z));
    for (size_t i = 0; i < N; i++) {
        memcpy(D_(zin) + i * (L + C), D_(z) + i * L, L * sizeof(float));
        if (C) D_(zin)[i * (L + C) + L + (size_t)labels[i]] = 1.0f;
    }
    GM_CK_OK(gm_net_forward(lp->dec, zin, out));
    GM_CK_OK(gm_vae_recon_nll(a->lik, out, x, lp->glv, rec, NULL, dout));
    float frac = 1.0f;
    if (lp->warmup) {
        frac = (float)(lp->t + 1) / (float)lp->warmup;
        if (frac > 1.0f) frac = 1.0f;
    }
    *beta_t = lp->beta * frac;
    GM_CK_OK(gm_vae_kl(h, kl, NULL, dh, *beta_t));
    GM_CK_OK(gm_net_backward(lp->dec, dout, dzin));
    for (size_t i = 0; i < N; i++)
        memcpy(D_(dz) + i * L, D_(dzin) + i * (L + C), L * sizeof(float));
    GM_CK_OK(gm_vae_reparameterize_backward(h, eps, dz, dh));
    GM_CK_OK(gm_net_backward(lp->enc, dh, NULL));
    GM_CK_OK(gm_optimizer_step(lp->oe, lp->enc));
    GM_CK_OK(gm_optimizer_step(lp->od, lp->dec));
    lp->t++;
    gm_tensor *all[] = {x, xin, h, eps, z, zin, out, dout, dh, dzin, dz};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
}

static void run_custom_loop(const arch *a, float beta, uint64_t warmup, float glv,
                            const gm_optimizer_options *oo, uint64_t seed, const char *label)
{
    static const size_t batches[] = {8, 8, 5, 8, 3, 8, 8};
    const size_t n = 64, steps = sizeof batches / sizeof batches[0];
    float *data = make_data(n, a->D, 31, 0);
    int32_t *labels = a->C ? make_labels(n, a->C, 32) : NULL;
    gm_vae_options o = opts_for(a);
    o.beta = beta;
    o.kl_warmup_steps = warmup;
    o.gaussian_logvar = glv;
    o.optimizer = oo;
    o.seed = seed;
    gm_vae *v = make_vae(a, &o);
    loop lp = {a, NULL, NULL, NULL, NULL, NULL, beta, glv, warmup, 0};
    build(a, &lp.enc, &lp.dec);
    GM_CK_OK(gm_optimizer_create(&lp.oe, lp.enc, oo));
    GM_CK_OK(gm_optimizer_create(&lp.od, lp.dec, oo));
    GM_CK_OK(gm_rng_create(&lp.rng, seed));
    size_t off = 0;
    for (size_t s = 0; s < steps; s++) {
        size_t N = batches[s];
        if (off + N > n) off = 0;
        gm_tensor *x;
        GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){N, a->D}, data + off * a->D));
        gm_vae_stats st;
        GM_CK_OK(gm_vae_train_step(v, x, labels ? labels + off : NULL, &st));
        gm_tensor_free(x);
        float rec, kl, bt;
        loop_step(&lp, data + off * a->D, N, labels ? labels + off : NULL, &rec, &kl, &bt);
        ck_assert_msg(gm_vae_step_count(v) == s + 1, "%s: step count", label);
        ck_assert_msg(st.beta == bt, "%s step %zu: stats.beta %.9g, expected %.9g", label, s,
                      (double)st.beta, (double)bt);
        gm_ck_close(&st.recon, &rec, 1, 1e-6, 1e-6, label);
        gm_ck_close(&st.kl, &kl, 1, 1e-6, 1e-6, label);
        float lw = rec + bt * kl;
        gm_ck_close(&st.loss, &lw, 1, 1e-5, 1e-6, label);
        size_t ne, nd, ne2, nd2;
        float *pe = net_params(gm_vae_encoder(v), &ne), *pd = net_params(gm_vae_decoder(v), &nd);
        float *qe = net_params(lp.enc, &ne2), *qd = net_params(lp.dec, &nd2);
        ck_assert(ne == ne2 && nd == nd2);
        ck_assert_msg(memcmp(pe, qe, ne * sizeof(float)) == 0,
                      "%s: encoder parameters differ after step %zu", label, s + 1);
        ck_assert_msg(memcmp(pd, qd, nd * sizeof(float)) == 0,
                      "%s: decoder parameters differ after step %zu", label, s + 1);
        if (s == steps - 1) { /* and they did move */
            gm_net *e0, *d0;
            build(a, &e0, &d0);
            float *ie = net_params(e0, &ne2), *id = net_params(d0, &nd2);
            ck_assert(memcmp(pe, ie, ne * sizeof(float)) != 0);
            ck_assert(memcmp(pd, id, nd * sizeof(float)) != 0);
            free(ie);
            free(id);
            gm_net_free(e0);
            gm_net_free(d0);
        }
        free(pe);
        free(pd);
        free(qe);
        free(qd);
        off += N;
    }
    fprintf(stderr, "custom loop (%s): %zu steps bit-identical\n", label, steps);
    gm_optimizer_free(lp.oe);
    gm_optimizer_free(lp.od);
    gm_rng_free(lp.rng);
    gm_net_free(lp.enc);
    gm_net_free(lp.dec);
    gm_vae_free(v);
    free(data);
    free(labels);
}

START_TEST(test_custom_loop_bit_identical)
{
    const arch bern = {12, 3, 0, 16, GM_LIKELIHOOD_BERNOULLI, 41};
    run_custom_loop(&bern, 1.0f, 0, 0.0f, NULL, 0, "bernoulli, defaults");
    run_custom_loop(&bern, 0.7f, 4, 0.0f, NULL, 99, "bernoulli, beta 0.7, warm-up 4");
    run_custom_loop(&bern, 2.5f, 0, 0.0f, NULL, 5, "bernoulli, beta 2.5");
    const arch gf = {10, 2, 0, 16, GM_LIKELIHOOD_GAUSSIAN_FIXED, 42};
    run_custom_loop(&gf, 1.0f, 2, -1.5f, NULL, 7, "gaussian fixed logvar -1.5, warm-up 2");
    const arch gl = {10, 4, 0, 16, GM_LIKELIHOOD_GAUSSIAN_LEARNED, 43};
    run_custom_loop(&gl, 0.5f, 0, 0.0f, NULL, 8, "gaussian learned, beta 0.5");
    gm_optimizer_options sgd;
    GM_CK_OK(gm_optimizer_options_init(&sgd, GM_OPT_SGD));
    sgd.lr = 0.05f;
    sgd.momentum = 0.9f;
    const arch cond = {12, 3, 4, 16, GM_LIKELIHOOD_BERNOULLI, 44};
    run_custom_loop(&cond, 1.0f, 4, 0.0f, &sgd, 9, "conditional C=4, SGD momentum");
    gm_optimizer_options adamw;
    GM_CK_OK(gm_optimizer_options_init(&adamw, GM_OPT_ADAMW));
    adamw.lr = 3e-3f;
    adamw.clip_norm = 0.5f;
    run_custom_loop(&cond, 0.25f, 0, 0.0f, &adamw, 10, "conditional C=4, AdamW + clipping");
}
END_TEST

/* beta_t = beta * min(1, (t+1)/warmup) for a warm-up that is not a power
 * of two, and beta 0 (plain autoencoder with noise). */
START_TEST(test_warmup_schedule)
{
    const arch a = {8, 2, 0, 0, GM_LIKELIHOOD_BERNOULLI, 45};
    float *data = make_data(32, a.D, 46, 0);
    gm_vae_options o = opts_for(&a);
    o.beta = 0.9f;
    o.kl_warmup_steps = 3;
    gm_vae *v = make_vae(&a, &o);
    for (int t = 0; t < 6; t++) {
        gm_vae_stats st;
        train_steps(v, data, NULL, 32, a.D, 8, 1, &st);
        double want = 0.9 * (t + 1 < 3 ? (t + 1) / 3.0 : 1.0);
        float w = (float)want;
        gm_ck_close(&st.beta, &w, 1, 0, 1e-6, "warm-up beta");
        float lw = st.recon + st.beta * st.kl;
        gm_ck_close(&st.loss, &lw, 1, 1e-5, 1e-6, "warm-up loss");
    }
    gm_vae_free(v);
    o.kl_warmup_steps = 0;
    o.beta = 0.0f;
    v = make_vae(&a, &o);
    gm_vae_stats st;
    train_steps(v, data, NULL, 32, a.D, 8, 2, &st);
    ck_assert(st.beta == 0.0f && st.loss == st.recon);
    ck_assert(st.kl >= 0.0f);
    gm_vae_free(v);
    free(data);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 5. determinism                                                       */
/* ------------------------------------------------------------------ */

static snap train_run(uint64_t seed, int threads, int steps)
{
    GM_CK_OK(gm_set_num_threads(threads));
    const arch a = {24, 4, 0, 48, GM_LIKELIHOOD_BERNOULLI, 51};
    float *data = make_data(256, a.D, 52, 0);
    gm_vae_options o = opts_for(&a);
    o.seed = seed;
    gm_vae *v = make_vae(&a, &o);
    gm_vae_stats st;
    train_steps(v, data, NULL, 256, a.D, 32, steps, &st);
    snap s = snap_take(v);
    ck_assert(s.steps == (uint64_t)steps);
    gm_vae_free(v);
    free(data);
    return s;
}

START_TEST(test_determinism)
{
    int saved = gm_get_num_threads();
    const int steps = 20;
    for (int threads = 1; threads <= 2; threads++) {
        snap a = train_run(1234, threads, steps), b = train_run(1234, threads, steps);
        snap c = train_run(1235, threads, steps);
        ck_assert_msg(snap_equal(&a, &b), "same seed, %d threads: parameters differ", threads);
        ck_assert_msg(memcmp(a.enc, c.enc, a.ne * sizeof(float)) != 0 &&
                          memcmp(a.dec, c.dec, a.nd * sizeof(float)) != 0,
                      "different seeds, %d threads: same parameters", threads);
        snap_free(&a);
        snap_free(&b);
        snap_free(&c);
    }
    GM_CK_OK(gm_set_num_threads(saved));
}
END_TEST

/* ------------------------------------------------------------------ */
/* 8. evaluation functions: shapes, ranges, identities                  */
/* ------------------------------------------------------------------ */

static void sigmoid_inplace(float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) v[i] = (float)(1.0 / (1.0 + exp(-(double)v[i])));
}

/* vae.h's inpainting recomputed with a copy of the decoder (cd, eval
 * mode): Adam (lr 0.05, betas 0.9/0.999, eps 1e-8) on z for
 * sum_known -log p(x | z) + |z|^2 / 2 per image, from the encoder's mean
 * of x with the missing pixels at 0.5; missing pixels = decoder mean. */
static void inpaint_ref(gm_vae *v, gm_net *cd, const arch *a, gm_tensor *x, gm_tensor *mask,
                        size_t iters, float *out)
{
    const size_t N = gm_tensor_dim(x, 0), D = a->D, L = a->L;
    const float *xm = D_(x), *mk = D_(mask);
    gm_tensor *fill = tdup(x), *z = T2(N, L), *o = T2(N, D), *dout = T2(N, D), *dz = T2(N, L);
    for (size_t i = 0; i < N * D; i++)
        if (mk[i] == 0.0f) D_(fill)[i] = 0.5f;
    GM_CK_OK(gm_vae_encode(v, fill, NULL, z, NULL));
    double *m1 = calloc(N * L, sizeof(double)), *m2 = calloc(N * L, sizeof(double));
    for (size_t t = 1; t <= iters; t++) {
        float rec;
        GM_CK_OK(gm_net_forward(cd, z, o));
        GM_CK_OK(gm_vae_recon_nll(a->lik, o, x, 0.0f, &rec, NULL, dout));
        for (size_t i = 0; i < N * D; i++) D_(dout)[i] *= mk[i] * (float)N;
        GM_CK_OK(gm_net_backward(cd, dout, dz));
        double bc1 = 1 - pow(0.9, (double)t), bc2 = 1 - pow(0.999, (double)t);
        for (size_t j = 0; j < N * L; j++) {
            double g = (double)D_(dz)[j] + D_(z)[j];
            m1[j] = 0.9 * m1[j] + 0.1 * g;
            m2[j] = 0.999 * m2[j] + 0.001 * g * g;
            D_(z)[j] -= (float)(0.05 * (m1[j] / bc1) / (sqrt(m2[j] / bc2) + 1e-8));
        }
    }
    GM_CK_OK(gm_net_forward(cd, z, o));
    for (size_t i = 0; i < N * D; i++)
        out[i] = mk[i] != 0.0f ? xm[i] : (float)(1.0 / (1.0 + exp(-(double)D_(o)[i])));
    free(m1);
    free(m2);
    gm_tensor *all[] = {fill, z, o, dout, dz};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
}

START_TEST(test_eval_functions)
{
    /* unconditional Bernoulli, 4-d data [N x 1 x 3 x 4] */
    const arch a = {12, 3, 0, 16, GM_LIKELIHOOD_BERNOULLI, 61};
    const size_t n = 40, N = 6;
    float *data = make_data(n, a.D, 62, 0);
    gm_vae_options o = opts_for(&a);
    o.seed = 63;
    gm_vae *v = make_vae(&a, &o);
    train_steps(v, data, NULL, n, a.D, 8, 10, NULL);
    /* a copy of the nets to compute by hand */
    size_t ne, nd;
    float *pe = net_params(gm_vae_encoder(v), &ne), *pd = net_params(gm_vae_decoder(v), &nd);
    gm_net *ce, *cd;
    build(&a, &ce, &cd);
    GM_CK_OK(gm_net_set_params(ce, pe, ne));
    GM_CK_OK(gm_net_set_params(cd, pd, nd));
    GM_CK_OK(gm_net_set_training(ce, 0));
    GM_CK_OK(gm_net_set_training(cd, 0));

    gm_tensor *x;
    GM_CK_OK(gm_tensor_wrap(&x, 4, (const size_t[]){N, 1, 3, 4}, data));
    gm_tensor *mu = T2(N, a.L), *lv = T2(N, a.L), *h = T2(N, 2 * a.L);
    GM_CK_OK(gm_vae_encode(v, x, NULL, mu, lv));
    GM_CK_OK(gm_net_forward(ce, x, h));
    for (size_t i = 0; i < N; i++) {
        gm_ck_close(D_(mu) + i * a.L, D_(h) + i * 2 * a.L, a.L, 1e-6, 1e-5, "encode mu");
        gm_ck_close(D_(lv) + i * a.L, D_(h) + i * 2 * a.L + a.L, a.L, 1e-6, 1e-5,
                    "encode logvar");
    }
    GM_CK_OK(gm_vae_encode(v, x, NULL, mu, NULL)); /* logvar optional */

    /* decode = sigmoid(decoder(z)), in [0, 1], into a 4-d out */
    gm_tensor *z = T2(N, a.L), *o2 = T2(N, a.D);
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 64));
    fill_n(z, rng, 1.0f, 0.0f);
    D_(z)[0] = 60.0f; /* far out: saturated logits stay in range */
    D_(z)[1] = -60.0f;
    gm_tensor *dec4 = tnew(4, (const size_t[]){N, 1, 3, 4});
    GM_CK_OK(gm_vae_decode(v, z, NULL, dec4));
    GM_CK_OK(gm_net_forward(cd, z, o2));
    sigmoid_inplace(D_(o2), N * a.D);
    gm_ck_close(D_(dec4), D_(o2), N * a.D, 1e-6, 1e-5, "decode = sigmoid(logits)");
    for (size_t i = 0; i < N * a.D; i++)
        ck_assert_msg(D_(dec4)[i] >= 0.0f && D_(dec4)[i] <= 1.0f, "decode out of [0,1]: %g",
                      (double)D_(dec4)[i]);

    /* reconstruct = decode(mu(x)), x's shape */
    gm_tensor *rec = tnew(4, (const size_t[]){N, 1, 3, 4}), *dm = T2(N, a.D);
    GM_CK_OK(gm_vae_encode(v, x, NULL, mu, NULL));
    GM_CK_OK(gm_vae_decode(v, mu, NULL, dm));
    GM_CK_OK(gm_vae_reconstruct(v, x, NULL, rec));
    gm_ck_close(D_(rec), D_(dm), N * a.D, 1e-6, 1e-5, "reconstruct = decode(mu)");

    /* sample: shape n x D (and 4-d), in [0, 1], successive calls differ */
    gm_tensor *s1 = T2(7, a.D), *s2 = tnew(4, (const size_t[]){7, 1, 3, 4});
    GM_CK_OK(gm_vae_sample(v, 7, NULL, s1));
    GM_CK_OK(gm_vae_sample(v, 7, NULL, s2));
    for (size_t i = 0; i < 7 * a.D; i++) {
        ck_assert(D_(s1)[i] >= 0.0f && D_(s1)[i] <= 1.0f);
        ck_assert(D_(s2)[i] >= 0.0f && D_(s2)[i] <= 1.0f);
    }
    ck_assert_msg(!tsame(s1, s2), "two sample calls gave the same samples");
    gm_tensor *s3 = T2(1, a.D);
    GM_CK_OK(gm_vae_sample(v, 1, NULL, s3));

    /* interpolate: endpoints decode(mu_a), decode(mu_b); middle linear */
    const size_t S = 5;
    gm_tensor *xa, *xb, *it = T2(S, a.D), *mua = T2(1, a.L), *mub = T2(1, a.L);
    GM_CK_OK(gm_tensor_wrap(&xa, 2, (const size_t[]){1, a.D}, data + 20 * a.D));
    GM_CK_OK(gm_tensor_wrap(&xb, 2, (const size_t[]){1, a.D}, data + 21 * a.D));
    GM_CK_OK(gm_vae_interpolate(v, xa, xb, NULL, it));
    GM_CK_OK(gm_vae_encode(v, xa, NULL, mua, NULL));
    GM_CK_OK(gm_vae_encode(v, xb, NULL, mub, NULL));
    gm_tensor *zz = T2(S, a.L), *want = T2(S, a.D);
    for (size_t s = 0; s < S; s++)
        for (size_t j = 0; j < a.L; j++)
            D_(zz)[s * a.L + j] =
                D_(mua)[j] + (D_(mub)[j] - D_(mua)[j]) * (float)s / (float)(S - 1);
    GM_CK_OK(gm_vae_decode(v, zz, NULL, want));
    gm_ck_close(D_(it), D_(want), S * a.D, 1e-6, 1e-5, "interpolate");
    gm_tensor *ea = T2(1, a.D), *eb = T2(1, a.D);
    GM_CK_OK(gm_vae_decode(v, mua, NULL, ea));
    GM_CK_OK(gm_vae_decode(v, mub, NULL, eb));
    gm_ck_close(D_(it), D_(ea), a.D, 1e-6, 1e-6, "interpolate start = decode(mu_a)");
    gm_ck_close(D_(it) + (S - 1) * a.D, D_(eb), a.D, 1e-6, 1e-6,
                "interpolate end = decode(mu_b)");
    gm_tensor *it2 = T2(2, a.D); /* S = 2: just the endpoints */
    GM_CK_OK(gm_vae_interpolate(v, xa, xb, NULL, it2));
    gm_ck_close(D_(it2), D_(ea), a.D, 1e-6, 1e-6, "interpolate S=2 start");
    gm_ck_close(D_(it2) + a.D, D_(eb), a.D, 1e-6, 1e-6, "interpolate S=2 end");

    /* inpaint: known pixels exact, missing in [0, 1]; all-known = x;
     * the documented MAP search recomputed by hand; parameters and
     * gradients untouched */
    gm_tensor *mask = tnew(4, (const size_t[]){N, 1, 3, 4}), *ip = tnew(4, (const size_t[]){N, 1, 3, 4});
    for (size_t i = 0; i < N * a.D; i++) D_(mask)[i] = (i % 3 == 0) ? 0.0f : 1.0f;
    float *ge0 = malloc(ne * sizeof(float)), *gd0 = malloc(nd * sizeof(float));
    float *ge1 = malloc(ne * sizeof(float)), *gd1 = malloc(nd * sizeof(float));
    GM_CK_OK(gm_net_get_grads(gm_vae_encoder(v), ge0, ne));
    GM_CK_OK(gm_net_get_grads(gm_vae_decoder(v), gd0, nd));
    static const size_t iters[] = {1, 4, 25};
    for (size_t r = 0; r < 3; r++) {
        GM_CK_OK(gm_vae_inpaint(v, x, mask, iters[r], ip));
        for (size_t i = 0; i < N * a.D; i++) {
            if (D_(mask)[i] == 1.0f)
                ck_assert_msg(memcmp(&D_(ip)[i], &data[i], sizeof(float)) == 0,
                              "inpaint changed known pixel %zu", i);
            else
                ck_assert(D_(ip)[i] >= 0.0f && D_(ip)[i] <= 1.0f);
        }
        float *ref = malloc(N * a.D * sizeof(float));
        inpaint_ref(v, cd, &a, x, mask, iters[r], ref);
        char label[64];
        snprintf(label, sizeof label, "inpaint, %zu Adam steps on z", iters[r]);
        gm_ck_close(D_(ip), ref, N * a.D, 2e-3, 1e-2, label);
        free(ref);
    }
    GM_CK_OK(gm_net_get_grads(gm_vae_encoder(v), ge1, ne));
    GM_CK_OK(gm_net_get_grads(gm_vae_decoder(v), gd1, nd));
    ck_assert_msg(memcmp(ge0, ge1, ne * sizeof(float)) == 0, "inpaint changed encoder gradients");
    ck_assert_msg(memcmp(gd0, gd1, nd * sizeof(float)) == 0, "inpaint changed decoder gradients");
    {
        size_t n1, n2;
        float *p1 = net_params(gm_vae_encoder(v), &n1), *p2 = net_params(gm_vae_decoder(v), &n2);
        ck_assert(memcmp(p1, pe, ne * sizeof(float)) == 0 && memcmp(p2, pd, nd * sizeof(float)) == 0);
        free(p1);
        free(p2);
    }
    free(ge0);
    free(gd0);
    free(ge1);
    free(gd1);
    GM_CK_OK(gm_tensor_fill(mask, 1.0f));
    GM_CK_OK(gm_vae_inpaint(v, x, mask, 3, ip));
    ck_assert(memcmp(D_(ip), data, N * a.D * sizeof(float)) == 0);

    /* elbo: loss = recon + kl, beta 1, kl >= 0, recon >= 0 (Bernoulli) */
    gm_vae_stats es;
    GM_CK_OK(gm_vae_elbo(v, x, NULL, &es));
    ck_assert(es.beta == 1.0f && es.kl >= 0.0f && es.recon >= 0.0f);
    gm_ck_close(&es.loss, (float[]){es.recon + es.kl}, 1, 1e-5, 1e-6, "elbo loss");
    float nll;
    GM_CK_OK(gm_vae_iwae(v, x, NULL, 3, &nll));
    ck_assert(isfinite(nll) && nll > 0.0f);

    /* set_lr */
    GM_CK_OK(gm_vae_set_lr(v, 5e-4f));

    gm_tensor *all[] = {x, mu, lv, h, z, o2, dec4, rec, dm, s1, s2, s3, xa, xb, it, mua, mub,
                        zz, want, ea, eb, it2, mask, ip};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    free(pe);
    free(pd);
    gm_net_free(ce);
    gm_net_free(cd);
    gm_rng_free(rng);
    gm_vae_free(v);
    free(data);
}
END_TEST

/* Gaussian learned: decode gives the means (D, not 2D), encode/sample
 * shapes; conditional: labels change samples, interpolation of the
 * one-hot codes. */
START_TEST(test_eval_gaussian_and_conditional)
{
    {
        const arch a = {6, 2, 0, 8, GM_LIKELIHOOD_GAUSSIAN_LEARNED, 71};
        gm_vae_options o = opts_for(&a);
        gm_vae *v = make_vae(&a, &o);
        gm_net *ce, *cd;
        build(&a, &ce, &cd);
        gm_tensor *z = T2(3, a.L), *out = T2(3, a.D), *full = T2(3, 2 * a.D);
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 72));
        fill_n(z, rng, 1.0f, 0.0f);
        GM_CK_OK(gm_vae_decode(v, z, NULL, out));
        GM_CK_OK(gm_net_forward(cd, z, full));
        for (size_t i = 0; i < 3; i++)
            gm_ck_close(D_(out) + i * a.D, D_(full) + i * 2 * a.D, a.D, 1e-6, 1e-5,
                        "gaussian learned decode = means");
        gm_tensor *s = T2(4, a.D);
        GM_CK_OK(gm_vae_sample(v, 4, NULL, s));
        for (size_t i = 0; i < 4 * a.D; i++) ck_assert(isfinite(D_(s)[i]));
        /* Gaussian data need not be in [0, 1] */
        gm_tensor *x = T2(5, a.D);
        fill_n(x, rng, 3.0f, 1.0f);
        gm_vae_stats st;
        GM_CK_OK(gm_vae_train_step(v, x, NULL, &st));
        GM_CK_OK(gm_vae_elbo(v, x, NULL, &st));
        gm_tensor *r = T2(5, a.D);
        GM_CK_OK(gm_vae_reconstruct(v, x, NULL, r));
        gm_tensor *all[] = {z, out, full, s, x, r};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
        gm_net_free(ce);
        gm_net_free(cd);
        gm_rng_free(rng);
        gm_vae_free(v);
    }
    {
        const arch a = {8, 2, 3, 8, GM_LIKELIHOOD_BERNOULLI, 73};
        gm_vae_options o = opts_for(&a);
        gm_vae *v = make_vae(&a, &o);
        float *data = make_data(16, a.D, 74, 0);
        int32_t *labels = make_labels(16, a.C, 75);
        train_steps(v, data, labels, 16, a.D, 8, 3, NULL);
        size_t ne, nd;
        float *pe = net_params(gm_vae_encoder(v), &ne), *pd = net_params(gm_vae_decoder(v), &nd);
        gm_net *ce, *cd;
        build(&a, &ce, &cd);
        GM_CK_OK(gm_net_set_params(ce, pe, ne));
        GM_CK_OK(gm_net_set_params(cd, pd, nd));
        /* decode with labels = sigmoid(decoder([z, one_hot])) */
        const int32_t lab[3] = {2, 0, 1};
        gm_tensor *z = T2(3, a.L), *zin = T2(3, a.L + a.C), *out = T2(3, a.D), *ref = T2(3, a.D);
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 76));
        fill_n(z, rng, 1.0f, 0.0f);
        for (size_t i = 0; i < 3; i++) {
            memcpy(D_(zin) + i * (a.L + a.C), D_(z) + i * a.L, a.L * sizeof(float));
            D_(zin)[i * (a.L + a.C) + a.L + (size_t)lab[i]] = 1.0f;
        }
        GM_CK_OK(gm_vae_decode(v, z, lab, out));
        GM_CK_OK(gm_net_forward(cd, zin, ref));
        sigmoid_inplace(D_(ref), 3 * a.D);
        gm_ck_close(D_(out), D_(ref), 3 * a.D, 1e-6, 1e-5, "conditional decode");
        /* encode with labels = encoder([x, one_hot]) */
        gm_tensor *x, *xin = T2(3, a.D + a.C), *mu = T2(3, a.L), *h = T2(3, 2 * a.L);
        GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){3, a.D}, data));
        for (size_t i = 0; i < 3; i++) {
            memcpy(D_(xin) + i * (a.D + a.C), data + i * a.D, a.D * sizeof(float));
            D_(xin)[i * (a.D + a.C) + a.D + (size_t)lab[i]] = 1.0f;
        }
        GM_CK_OK(gm_vae_encode(v, x, lab, mu, NULL));
        GM_CK_OK(gm_net_forward(ce, xin, h));
        for (size_t i = 0; i < 3; i++)
            gm_ck_close(D_(mu) + i * a.L, D_(h) + i * 2 * a.L, a.L, 1e-6, 1e-5,
                        "conditional encode");
        /* interpolate between (xa, 0) and (xb, 2): the middle row decodes
         * [mid z, 0.5 one_hot(0) + 0.5 one_hot(2)] */
        gm_tensor *xa, *xb, *it = T2(3, a.D), *ma = T2(1, a.L), *mb = T2(1, a.L);
        GM_CK_OK(gm_tensor_wrap(&xa, 2, (const size_t[]){1, a.D}, data + 4 * a.D));
        GM_CK_OK(gm_tensor_wrap(&xb, 2, (const size_t[]){1, a.D}, data + 5 * a.D));
        const int32_t ab[2] = {0, 2};
        GM_CK_OK(gm_vae_interpolate(v, xa, xb, ab, it));
        GM_CK_OK(gm_vae_encode(v, xa, ab, ma, NULL));
        GM_CK_OK(gm_vae_encode(v, xb, ab + 1, mb, NULL));
        gm_tensor *zm = T2(1, a.L + a.C), *om = T2(1, a.D), *e0 = T2(1, a.D), *e1 = T2(1, a.D);
        for (size_t j = 0; j < a.L; j++)
            D_(zm)[j] = D_(ma)[j] + (D_(mb)[j] - D_(ma)[j]) * 0.5f;
        D_(zm)[a.L + 0] = 0.5f;
        D_(zm)[a.L + 2] = 0.5f;
        GM_CK_OK(gm_net_forward(cd, zm, om));
        sigmoid_inplace(D_(om), a.D);
        gm_ck_close(D_(it) + a.D, D_(om), a.D, 1e-5, 1e-4, "conditional interpolation middle");
        GM_CK_OK(gm_vae_decode(v, ma, ab, e0));
        GM_CK_OK(gm_vae_decode(v, mb, ab + 1, e1));
        gm_ck_close(D_(it), D_(e0), a.D, 1e-6, 1e-6, "conditional interpolation start");
        gm_ck_close(D_(it) + 2 * a.D, D_(e1), a.D, 1e-6, 1e-6, "conditional interpolation end");
        /* conditional sampling: shape, range */
        gm_tensor *s = T2(3, a.D);
        GM_CK_OK(gm_vae_sample(v, 3, lab, s));
        for (size_t i = 0; i < 3 * a.D; i++) ck_assert(D_(s)[i] >= 0.0f && D_(s)[i] <= 1.0f);
        gm_tensor *all[] = {z, zin, out, ref, x, xin, mu, h, xa, xb, it, ma, mb, zm, om, e0, e1, s};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
        free(pe);
        free(pd);
        free(data);
        free(labels);
        gm_net_free(ce);
        gm_net_free(cd);
        gm_rng_free(rng);
        gm_vae_free(v);
    }
}
END_TEST

/* No evaluation function draws from the training generator or touches
 * the training state: interleaving all of them between train steps gives
 * the same parameters as training alone. */
START_TEST(test_eval_does_not_disturb_training)
{
    const arch a = {12, 3, 0, 16, GM_LIKELIHOOD_BERNOULLI, 81};
    float *data = make_data(64, a.D, 82, 0);
    gm_vae_options o = opts_for(&a);
    o.seed = 83;
    gm_vae *v1 = make_vae(&a, &o), *v2 = make_vae(&a, &o);
    gm_tensor *x, *xa, *out = T2(8, a.D), *mu = T2(8, a.L), *lv = T2(8, a.L), *it = T2(4, a.D);
    gm_tensor *mask = T2(8, a.D), *z = T2(8, a.L);
    GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){8, a.D}, data));
    GM_CK_OK(gm_tensor_wrap(&xa, 2, (const size_t[]){1, a.D}, data));
    for (size_t i = 0; i < 8 * a.D; i++) D_(mask)[i] = (float)(i % 2);
    for (int s = 0; s < 6; s++) {
        train_steps(v1, data + (size_t)s * a.D, NULL, 8, a.D, 8, 1, NULL);
        train_steps(v2, data + (size_t)s * a.D, NULL, 8, a.D, 8, 1, NULL);
        gm_vae_stats st;
        float nll;
        GM_CK_OK(gm_vae_elbo(v1, x, NULL, &st));
        GM_CK_OK(gm_vae_iwae(v1, x, NULL, 4, &nll));
        GM_CK_OK(gm_vae_encode(v1, x, NULL, mu, lv));
        GM_CK_OK(gm_vae_decode(v1, z, NULL, out));
        GM_CK_OK(gm_vae_reconstruct(v1, x, NULL, out));
        GM_CK_OK(gm_vae_sample(v1, 8, NULL, out));
        GM_CK_OK(gm_vae_interpolate(v1, xa, xa, NULL, it));
        GM_CK_OK(gm_vae_inpaint(v1, x, mask, 2, out));
    }
    snap s1 = snap_take(v1), s2 = snap_take(v2);
    ck_assert_msg(snap_equal(&s1, &s2), "evaluation calls changed training");
    ck_assert(s1.steps == 6 && s2.steps == 6);
    snap_free(&s1);
    snap_free(&s2);
    gm_tensor *all[] = {x, xa, out, mu, lv, it, mask, z};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    gm_vae_free(v1);
    gm_vae_free(v2);
    free(data);
}
END_TEST

/* ------------------------------------------------------------------ */
/* 9. bad input                                                         */
/* ------------------------------------------------------------------ */

/* out-of-place outputs: a sentinel pattern that a failing call must keep */
static void poison(gm_tensor *t) { GM_CK_OK(gm_tensor_fill(t, 7.25f)); }
static void ck_poisoned(gm_tensor *t, const char *what)
{
    for (size_t i = 0; i < gm_tensor_numel(t); i++)
        ck_assert_msg(D_(t)[i] == 7.25f, "%s: output written on failure", what);
}

START_TEST(test_bad_elbo_module)
{
    const size_t N = 3, L = 2, D = 4;
    gm_tensor *h = T2(N, 2 * L), *eps = T2(N, L), *z = T2(N, L), *dz = T2(N, L),
              *dh = T2(N, 2 * L);
    gm_tensor *h_odd = T2(N, 2 * L + 1), *h_n = T2(N + 1, 2 * L), *z_l = T2(N, L + 1),
              *z_n = T2(N + 1, L), *dh_bad = T2(N, 2 * L + 2);
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 91));
    fill_n(h, rng, 1.0f, 0.0f);
    fill_n(eps, rng, 1.0f, 0.0f);
    fill_n(dz, rng, 1.0f, 0.0f);

    /* reparameterize */
    poison(z);
    GM_CK_ERR(GM_EINVAL, "gm_vae_reparameterize", gm_vae_reparameterize(NULL, eps, z));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reparameterize", gm_vae_reparameterize(h, NULL, z));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reparameterize", gm_vae_reparameterize(h, eps, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize", gm_vae_reparameterize(h_odd, eps, z));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize", gm_vae_reparameterize(h_n, eps, z));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize", gm_vae_reparameterize(h, z_l, z));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize", gm_vae_reparameterize(h, z_n, z));
    ck_poisoned(z, "gm_vae_reparameterize");
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize", gm_vae_reparameterize(h, eps, z_l));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize", gm_vae_reparameterize(h, eps, z_n));

    /* reparameterize_backward */
    poison(dh);
    GM_CK_ERR(GM_EINVAL, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(NULL, eps, dz, dh));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h, NULL, dz, dh));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h, eps, NULL, dh));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h, eps, dz, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h, eps, z_l, dh));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h, eps, z_n, dh));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h, z_l, dz, dh));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h, eps, dz, dh_bad));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reparameterize_backward",
              gm_vae_reparameterize_backward(h_odd, eps, dz, dh));
    ck_poisoned(dh, "gm_vae_reparameterize_backward");

    /* kl */
    float mean = 7.25f, each[8] = {7.25f, 7.25f, 7.25f, 7.25f};
    gm_tensor *hnan = tdup(h), *hinf = tdup(h);
    D_(hnan)[3] = NAN;
    D_(hinf)[5] = INFINITY;
    GM_CK_ERR(GM_EINVAL, "gm_vae_kl", gm_vae_kl(NULL, &mean, each, dh, 1.0f));
    GM_CK_ERR(GM_EINVAL, "gm_vae_kl", gm_vae_kl(h, NULL, each, dh, 1.0f));
    GM_CK_ERR(GM_EINVAL, "gm_vae_kl", gm_vae_kl(hnan, &mean, each, dh, 1.0f));
    GM_CK_ERR(GM_EINVAL, "gm_vae_kl", gm_vae_kl(hinf, &mean, each, dh, 1.0f));
    GM_CK_ERR(GM_EINVAL, "gm_vae_kl", gm_vae_kl(h, &mean, each, dh, NAN));
    GM_CK_ERR(GM_EINVAL, "gm_vae_kl", gm_vae_kl(h, &mean, each, dh, INFINITY));
    GM_CK_ERR(GM_EINVAL, "gm_vae_kl", gm_vae_kl(h, &mean, each, dh, -INFINITY));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_kl", gm_vae_kl(h_odd, &mean, each, NULL, 1.0f));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_kl", gm_vae_kl(h, &mean, each, dh_bad, 1.0f));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_kl", gm_vae_kl(h, &mean, each, z, 1.0f));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_kl", gm_vae_kl(h_n, &mean, each, dh, 1.0f));
    ck_poisoned(dh, "gm_vae_kl");
    ck_assert_msg(mean == 7.25f && each[0] == 7.25f && each[2] == 7.25f,
                  "gm_vae_kl wrote its outputs on failure");

    /* recon_nll */
    gm_tensor *o = T2(N, D), *x = T2(N, D), *dout = T2(N, D), *o2 = T2(N, 2 * D);
    gm_tensor *o_d = T2(N, D + 1), *o_n = T2(N + 1, D), *x3 = tnew(3, (const size_t[]){N, 2, 2});
    fill_n(o, rng, 1.0f, 0.0f);
    fill_n(o2, rng, 0.5f, 0.0f);
    fill_u(x, rng, 0.0f, 1.0f);
    GM_CK_OK(gm_tensor_copy_in(x3, D_(x), N * D));
    poison(dout);
    const gm_likelihood B = GM_LIKELIHOOD_BERNOULLI, GF = GM_LIKELIHOOD_GAUSSIAN_FIXED,
                        GL = GM_LIKELIHOOD_GAUSSIAN_LEARNED;
    mean = 7.25f;
    GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(B, NULL, x, 0, &mean, each, dout));
    GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(B, o, NULL, 0, &mean, each, dout));
    GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(B, o, x, 0, NULL, each, dout));
    GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll",
              gm_vae_recon_nll((gm_likelihood)3, o, x, 0, &mean, each, dout));
    GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll",
              gm_vae_recon_nll((gm_likelihood)-1, o, x, 0, &mean, each, dout));
    GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(GF, o, x, NAN, &mean, each, dout));
    GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll",
              gm_vae_recon_nll(GF, o, x, INFINITY, &mean, each, dout));
    {
        gm_tensor *bad = tdup(x);
        D_(bad)[2] = 1.0001f; /* Bernoulli targets outside [0, 1] */
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(B, o, bad, 0, &mean, each, dout));
        D_(bad)[2] = -0.5f;
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(B, o, bad, 0, &mean, each, dout));
        D_(bad)[2] = NAN;
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(B, o, bad, 0, &mean, each, dout));
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(GF, o, bad, 0, &mean, each, dout));
        D_(bad)[2] = -INFINITY;
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(GF, o, bad, 0, &mean, each, dout));
        gm_tensor *onan = tdup(o), *o2nan = tdup(o2);
        D_(onan)[1] = NAN;
        D_(o2nan)[2 * D - 1] = INFINITY; /* a learned log-variance */
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(B, onan, x, 0, &mean, each, dout));
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll", gm_vae_recon_nll(GF, onan, x, 0, &mean, each, dout));
        gm_tensor *dout2 = T2(N, 2 * D);
        poison(dout2);
        GM_CK_ERR(GM_EINVAL, "gm_vae_recon_nll",
                  gm_vae_recon_nll(GL, o2nan, x, 0, &mean, each, dout2));
        ck_poisoned(dout2, "gm_vae_recon_nll learned");
        /* Gaussian targets may be anywhere */
        gm_tensor *far = tdup(x);
        D_(far)[0] = 25.0f;
        D_(far)[1] = -3.0f;
        float m2;
        GM_CK_OK(gm_vae_recon_nll(GF, o, far, 0.5f, &m2, NULL, NULL));
        GM_CK_OK(gm_vae_recon_nll(GL, o2, far, 0.0f, &m2, NULL, dout2));
        /* the fixed logvar is not read by the learned likelihood... but
         * shapes are: learned needs 2D outputs, the others D */
        GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(GL, o, x, 0, &mean, each, dout));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(B, o2, x, 0, &mean, each, dout2));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(GL, o2, x, 0, &mean, each, dout));
        gm_tensor_free(bad);
        gm_tensor_free(onan);
        gm_tensor_free(o2nan);
        gm_tensor_free(dout2);
        gm_tensor_free(far);
    }
    GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(B, o_d, x, 0, &mean, each, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(B, o_n, x, 0, &mean, each, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(GF, o_d, x, 0, &mean, each, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(B, o, x, 0, &mean, each, o_d));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_recon_nll", gm_vae_recon_nll(B, o, x, 0, &mean, each, o_n));
    ck_poisoned(dout, "gm_vae_recon_nll");
    ck_assert_msg(mean == 7.25f && each[0] == 7.25f, "gm_vae_recon_nll wrote outputs on failure");
    /* x of another shape with D per sample is fine */
    GM_CK_OK(gm_vae_recon_nll(B, o, x3, 0, &mean, NULL, dout));

    /* log_normal */
    float ln[8];
    GM_CK_ERR(GM_EINVAL, "gm_vae_log_normal", gm_vae_log_normal(NULL, h, ln));
    GM_CK_ERR(GM_EINVAL, "gm_vae_log_normal", gm_vae_log_normal(z, h, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_log_normal", gm_vae_log_normal(z, NULL, NULL));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_log_normal", gm_vae_log_normal(z, h_odd, ln));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_log_normal", gm_vae_log_normal(z, h_n, ln));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_log_normal", gm_vae_log_normal(z_l, h, ln));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_log_normal", gm_vae_log_normal(z, eps, ln));

    /* logmeanexp */
    gm_tensor *lw = T2(N, 5), *dl = T2(N, 5), *dl_bad = T2(N, 4), *dl_n = T2(N + 1, 5);
    fill_n(lw, rng, 1.0f, 0.0f);
    poison(dl);
    mean = 7.25f;
    each[0] = 7.25f;
    GM_CK_ERR(GM_EINVAL, "gm_vae_logmeanexp", gm_vae_logmeanexp(NULL, &mean, each, dl));
    GM_CK_ERR(GM_EINVAL, "gm_vae_logmeanexp", gm_vae_logmeanexp(lw, NULL, each, dl));
    {
        gm_tensor *lnan = tdup(lw), *linf = tdup(lw);
        D_(lnan)[7] = NAN;
        D_(linf)[4] = INFINITY;
        GM_CK_ERR(GM_EINVAL, "gm_vae_logmeanexp", gm_vae_logmeanexp(lnan, &mean, each, dl));
        GM_CK_ERR(GM_EINVAL, "gm_vae_logmeanexp", gm_vae_logmeanexp(linf, &mean, each, dl));
        gm_tensor_free(lnan);
        gm_tensor_free(linf);
    }
    GM_CK_ERR(GM_ESHAPE, "gm_vae_logmeanexp", gm_vae_logmeanexp(lw, &mean, each, dl_bad));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_logmeanexp", gm_vae_logmeanexp(lw, &mean, each, dl_n));
    ck_poisoned(dl, "gm_vae_logmeanexp");
    ck_assert_msg(mean == 7.25f && each[0] == 7.25f, "gm_vae_logmeanexp wrote outputs on failure");

    gm_tensor *all[] = {h, eps, z, dz, dh, h_odd, h_n, z_l, z_n, dh_bad, hnan, hinf, o, x,
                        dout, o2, o_d, o_n, x3, lw, dl, dl_bad, dl_n};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    gm_rng_free(rng);
}
END_TEST

/* gm_vae_create failing: the documented status, *out NULL, the message,
 * and the caller still owns both nets, unchanged (freed here: under ASan a
 * leak or a double free fails the test). */
static void create_fails(gm_status code, const arch *a, const gm_vae_options *o,
                         gm_net *enc, gm_net *dec, const char *what)
{
    size_t ne = 0, nd = 0, le = gm_net_num_layers(enc), ld = gm_net_num_layers(dec);
    float *pe = enc ? net_params(enc, &ne) : NULL, *pd = dec ? net_params(dec, &nd) : NULL;
    gm_vae *v = (gm_vae *)(void *)&ne; /* garbage: must become NULL */
    gm_clear_error();
    gm_status st = gm_vae_create(&v, enc, dec, o);
    ck_assert_msg(st == code, "%s: gm_vae_create -> %s, expected %s (%s)", what,
                  gm_status_string(st), gm_status_string(code), gm_last_error());
    ck_assert_msg(strstr(gm_last_error(), "gm_vae_create") != NULL,
                  "%s: message does not name gm_vae_create: '%s'", what, gm_last_error());
    ck_assert_msg(v == NULL, "%s: *out not NULL on failure", what);
    if (enc) {
        ck_assert(gm_net_num_layers(enc) == le);
        float *now = net_params(enc, &ne);
        ck_assert_msg(memcmp(now, pe, ne * sizeof(float)) == 0, "%s: encoder changed", what);
        free(now);
    }
    if (dec) {
        ck_assert(gm_net_num_layers(dec) == ld);
        float *now = net_params(dec, &nd);
        ck_assert_msg(memcmp(now, pd, nd * sizeof(float)) == 0, "%s: decoder changed", what);
        free(now);
    }
    (void)a;
    free(pe);
    free(pd);
}

START_TEST(test_bad_create)
{
    const arch a = {8, 2, 0, 6, GM_LIKELIHOOD_BERNOULLI, 101};
    gm_net *enc, *dec;
    build(&a, &enc, &dec);
    gm_vae_options o = opts_for(&a), b;
    gm_vae *v = NULL;

    GM_CK_ERR(GM_EINVAL, "gm_vae_options_init", gm_vae_options_init(NULL));
    GM_CK_OK(gm_vae_options_init(&b));
    ck_assert(b.size == sizeof(gm_vae_options) && b.latent == 0 &&
              b.likelihood == GM_LIKELIHOOD_BERNOULLI && b.gaussian_logvar == 0.0f &&
              b.beta == 1.0f && b.kl_warmup_steps == 0 && b.optimizer == NULL && b.seed == 0 &&
              b.num_classes == 0);

    GM_CK_ERR(GM_EINVAL, "gm_vae_create", gm_vae_create(NULL, enc, dec, &o));
    create_fails(GM_EINVAL, &a, &o, NULL, dec, "encoder NULL");
    create_fails(GM_EINVAL, &a, &o, enc, NULL, "decoder NULL");
    create_fails(GM_EINVAL, &a, NULL, enc, dec, "options NULL");
    create_fails(GM_EINVAL, &a, &o, enc, enc, "same net twice");
    create_fails(GM_EINVAL, &a, &o, dec, dec, "same net twice (decoder)");
    b = o;
    b.size = 0;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "options size 0");
    b = o;
    b.latent = 0;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "latent 0");
    b = o;
    b.likelihood = 3;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "likelihood 3");
    b.likelihood = -1;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "likelihood -1");
    b = o;
    b.beta = NAN;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "beta NaN");
    b.beta = INFINITY;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "beta inf");
    b.beta = -0.5f;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "beta < 0");
    b = o;
    b.likelihood = GM_LIKELIHOOD_GAUSSIAN_FIXED;
    b.gaussian_logvar = NAN;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "gaussian_logvar NaN");
    b.gaussian_logvar = -INFINITY;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "gaussian_logvar -inf");
    b = o;
    b.num_classes = 1;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "num_classes 1");
    gm_optimizer_options oo;
    GM_CK_OK(gm_optimizer_options_init(&oo, GM_OPT_ADAM));
    oo.lr = -1.0f;
    b = o;
    b.optimizer = &oo;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "optimizer lr -1");
    GM_CK_OK(gm_optimizer_options_init(&oo, GM_OPT_ADAM));
    oo.beta1 = 1.5f;
    create_fails(GM_EINVAL, &a, &b, enc, dec, "optimizer beta1 1.5");

    /* a net without layers */
    gm_net *empty;
    GM_CK_OK(gm_net_create(&empty));
    create_fails(GM_ESTATE, &a, &o, empty, dec, "empty encoder");
    create_fails(GM_ESTATE, &a, &o, enc, empty, "empty decoder");

    /* decoder does not take L + C inputs */
    b = o;
    b.latent = 3;
    create_fails(GM_ESHAPE, &a, &b, enc, dec, "decoder takes 2, latent 3");
    b = o;
    b.num_classes = 4;
    create_fails(GM_ESHAPE, &a, &b, enc, dec, "decoder takes L, conditional needs L + C");
    {
        /* decoder with an odd output cannot give 2D for GAUSSIAN_LEARNED */
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 102));
        gm_net *odd = mlp(a.L, 0, 7, rng);
        b = o;
        b.likelihood = GM_LIKELIHOOD_GAUSSIAN_LEARNED;
        create_fails(GM_ESHAPE, &a, &b, enc, odd, "learned Gaussian, decoder output 7");
        /* decoder that cannot take a flat [N x L] at all: reshape to 3x3 */
        gm_net *rs;
        gm_layer *l;
        GM_CK_OK(gm_net_create(&rs));
        GM_CK_OK(gm_reshape_create(&l, 2, (const size_t[]){3, 3}));
        GM_CK_OK(gm_net_add(rs, l));
        create_fails(GM_ESHAPE, &a, &o, enc, rs, "decoder reshapes 2 -> 3x3");
        gm_net_free(odd);
        gm_net_free(rs);
        gm_rng_free(rng);
    }

    /* and the nets still make a VAE afterwards */
    GM_CK_OK(gm_vae_create(&v, enc, dec, &o));
    ck_assert(gm_vae_step_count(v) == 0);
    gm_vae_free(v);
    gm_vae_free(NULL);
    gm_net_free(empty);

    /* the small accessors on NULL */
    ck_assert_ptr_null(gm_vae_encoder(NULL));
    ck_assert_ptr_null(gm_vae_decoder(NULL));
    ck_assert(gm_vae_step_count(NULL) == 0);
    GM_CK_ERR(GM_EINVAL, "gm_vae_set_lr", gm_vae_set_lr(NULL, 1e-3f));
}
END_TEST

/* train_step on bad input, and a step whose loss is not finite: each the
 * documented status, the model unchanged; afterwards training continues
 * exactly like a model that never saw the bad calls (generator and
 * optimizer state untouched). */
START_TEST(test_bad_train_step)
{
    const arch a = {8, 2, 3, 8, GM_LIKELIHOOD_BERNOULLI, 111};
    const size_t N = 4;
    float *data = make_data(32, a.D, 112, 0);
    int32_t *labels = make_labels(32, a.C, 113);
    gm_vae_options o = opts_for(&a);
    o.seed = 114;
    gm_vae *v = make_vae(&a, &o), *ref = make_vae(&a, &o);
    train_steps(v, data, labels, 32, a.D, N, 2, NULL);
    train_steps(ref, data, labels, 32, a.D, N, 2, NULL);
    snap before = snap_take(v);
    gm_tensor *x, *xd = T2(N, a.D + 1), *xnan = T2(N, a.D), *xhi = T2(N, a.D), *xlo = T2(N, a.D);
    GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){N, a.D}, data));
    GM_CK_OK(gm_tensor_copy_in(xnan, data, N * a.D));
    GM_CK_OK(gm_tensor_copy_in(xhi, data, N * a.D));
    GM_CK_OK(gm_tensor_copy_in(xlo, data, N * a.D));
    D_(xnan)[5] = NAN;
    D_(xhi)[6] = 1.5f;
    D_(xlo)[7] = -0.01f;
    const int32_t bad_hi[4] = {0, 1, 3, 2}, bad_lo[4] = {0, -1, 1, 2};
    gm_vae_stats st;
#define BAD_STEP(code, ...)                                                 \
    do {                                                                    \
        GM_CK_ERR(code, "gm_vae_train_step", gm_vae_train_step(__VA_ARGS__)); \
        check_unchanged(v, &before, #__VA_ARGS__);                          \
    } while (0)
    BAD_STEP(GM_EINVAL, NULL, x, labels, &st);
    BAD_STEP(GM_EINVAL, v, NULL, labels, &st);
    BAD_STEP(GM_EINVAL, v, x, NULL, &st);
    BAD_STEP(GM_EINVAL, v, x, bad_hi, &st);
    BAD_STEP(GM_EINVAL, v, x, bad_lo, &st);
    BAD_STEP(GM_EINVAL, v, xnan, labels, &st);
    BAD_STEP(GM_EINVAL, v, xhi, labels, &st);
    BAD_STEP(GM_EINVAL, v, xlo, labels, &st);
    BAD_STEP(GM_ESHAPE, v, xd, labels, &st);
    /* same calls on elbo/iwae fail the same way */
    float nll;
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(NULL, x, labels, &st));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(v, NULL, labels, &st));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(v, x, NULL, &st));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(v, x, bad_hi, &st));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(v, x, bad_lo, &st));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(v, xnan, labels, &st));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(v, xhi, labels, &st));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_elbo", gm_vae_elbo(v, xd, labels, &st));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo", gm_vae_elbo(v, x, labels, NULL)); /* its only output */
    nll = 7.25f;
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(NULL, x, labels, 5, &nll));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, NULL, labels, 5, &nll));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, x, NULL, 5, &nll));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, x, bad_hi, 5, &nll));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, x, labels, 0, &nll));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, x, labels, 100001, &nll));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, x, labels, 5, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, xnan, labels, 5, &nll));
    GM_CK_ERR(GM_EINVAL, "gm_vae_iwae", gm_vae_iwae(v, xlo, labels, 5, &nll));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_iwae", gm_vae_iwae(v, xd, labels, 5, &nll));
    ck_assert_msg(nll == 7.25f, "gm_vae_iwae wrote nll on failure");
    check_unchanged(v, &before, "elbo/iwae errors");

    /* after all that, training continues exactly like the reference */
    train_steps(v, data + 8 * a.D, labels + 8, 24, a.D, N, 3, NULL);
    train_steps(ref, data + 8 * a.D, labels + 8, 24, a.D, N, 3, NULL);
    snap s1 = snap_take(v), s2 = snap_take(ref);
    ck_assert_msg(snap_equal(&s1, &s2), "failed calls changed later training");
    ck_assert(s1.steps == 5 && s2.steps == 5);
    snap_free(&s1);
    snap_free(&s2);
#undef BAD_STEP
    snap_free(&before);
    gm_tensor *all[] = {x, xd, xnan, xhi, xlo};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    gm_vae_free(v);
    gm_vae_free(ref);
    free(data);
    free(labels);
}
END_TEST

/* set_lr: bad values are refused and change nothing (the next steps equal
 * a reference model's); a good value changes the steps. */
START_TEST(test_set_lr)
{
    const arch a = {8, 2, 0, 8, GM_LIKELIHOOD_BERNOULLI, 151};
    float *data = make_data(32, a.D, 152, 0);
    gm_vae_options o = opts_for(&a);
    gm_vae *v = make_vae(&a, &o), *ref = make_vae(&a, &o), *fast = make_vae(&a, &o);
    train_steps(v, data, NULL, 32, a.D, 8, 1, NULL);
    train_steps(ref, data, NULL, 32, a.D, 8, 1, NULL);
    train_steps(fast, data, NULL, 32, a.D, 8, 1, NULL);
    snap before = snap_take(v);
    GM_CK_ERR(GM_EINVAL, "gm_vae_set_lr", gm_vae_set_lr(v, 0.0f));
    GM_CK_ERR(GM_EINVAL, "gm_vae_set_lr", gm_vae_set_lr(v, -1e-3f));
    GM_CK_ERR(GM_EINVAL, "gm_vae_set_lr", gm_vae_set_lr(v, NAN));
    GM_CK_ERR(GM_EINVAL, "gm_vae_set_lr", gm_vae_set_lr(v, INFINITY));
    check_unchanged(v, &before, "set_lr errors");
    GM_CK_OK(gm_vae_set_lr(fast, 1e-2f));
    train_steps(v, data, NULL, 32, a.D, 8, 2, NULL);
    train_steps(ref, data, NULL, 32, a.D, 8, 2, NULL);
    train_steps(fast, data, NULL, 32, a.D, 8, 2, NULL);
    snap s1 = snap_take(v), s2 = snap_take(ref), s3 = snap_take(fast);
    ck_assert_msg(snap_equal(&s1, &s2), "refused set_lr changed the learning rate");
    ck_assert_msg(!snap_equal(&s1, &s3), "set_lr(1e-2) had no effect");
    snap_free(&before);
    snap_free(&s1);
    snap_free(&s2);
    snap_free(&s3);
    gm_vae_free(v);
    gm_vae_free(ref);
    gm_vae_free(fast);
    free(data);
}
END_TEST

/* The encoder's output is checked on the first call that uses it. */
START_TEST(test_bad_encoder_output)
{
    const size_t D = 6, L = 2;
    float *data = make_data(8, D, 121, 0);
    gm_tensor *x, *mu = T2(4, L), *out = T2(4, D);
    GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){4, D}, data));
    static const size_t widths[] = {2 * 2 + 1, 2, 2 * 2 + 2};
    for (size_t w = 0; w < 3; w++) {
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 122));
        gm_net *enc = mlp(D, 0, widths[w], rng), *dec = mlp(L, 0, D, rng);
        gm_vae_options o;
        GM_CK_OK(gm_vae_options_init(&o));
        o.latent = L;
        gm_vae *v;
        GM_CK_OK(gm_vae_create(&v, enc, dec, &o));
        snap before = snap_take(v);
        gm_vae_stats st;
        float nll;
        GM_CK_ERR(GM_ESHAPE, "gm_vae_train_step", gm_vae_train_step(v, x, NULL, &st));
        check_unchanged(v, &before, "encoder output width");
        GM_CK_ERR(GM_ESHAPE, "gm_vae_train_step", gm_vae_train_step(v, x, NULL, &st));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_elbo", gm_vae_elbo(v, x, NULL, &st));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_iwae", gm_vae_iwae(v, x, NULL, 2, &nll));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_encode", gm_vae_encode(v, x, NULL, mu, NULL));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_reconstruct", gm_vae_reconstruct(v, x, NULL, out));
        check_unchanged(v, &before, "encoder output width");
        /* the decoder side still works */
        GM_CK_OK(gm_vae_sample(v, 4, NULL, out));
        snap_free(&before);
        gm_vae_free(v);
        gm_rng_free(rng);
    }
    /* the decoder's D does not match the data's D */
    {
        gm_rng *rng;
        GM_CK_OK(gm_rng_create(&rng, 123));
        gm_net *enc = mlp(D, 0, 2 * L, rng), *dec = mlp(L, 0, D + 2, rng);
        gm_vae_options o;
        GM_CK_OK(gm_vae_options_init(&o));
        o.latent = L;
        gm_vae *v;
        GM_CK_OK(gm_vae_create(&v, enc, dec, &o));
        snap before = snap_take(v);
        gm_vae_stats st;
        float nll;
        GM_CK_ERR(GM_ESHAPE, "gm_vae_train_step", gm_vae_train_step(v, x, NULL, &st));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_elbo", gm_vae_elbo(v, x, NULL, &st));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_iwae", gm_vae_iwae(v, x, NULL, 2, &nll));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_reconstruct", gm_vae_reconstruct(v, x, NULL, out));
        check_unchanged(v, &before, "decoder output D + 2");
        snap_free(&before);
        gm_vae_free(v);
        gm_rng_free(rng);
    }
    gm_tensor_free(x);
    gm_tensor_free(mu);
    gm_tensor_free(out);
    free(data);
}
END_TEST

/* A step whose loss is not finite (log-variance so large that the KL
 * overflows): GM_ENUMERIC, and parameters, optimizer state and generator
 * exactly as before. */
START_TEST(test_train_step_enumeric)
{
    const arch a = {8, 2, 0, 0, GM_LIKELIHOOD_BERNOULLI, 131};
    float *data = make_data(16, a.D, 132, 0);
    gm_net *enc, *dec;
    build(&a, &enc, &dec);
    size_t ne;
    float *good = net_params(enc, &ne), *bad = malloc(ne * sizeof(float));
    memcpy(bad, good, ne * sizeof(float));
    for (size_t j = 0; j < a.L; j++) bad[ne - 1 - j] = 100.0f; /* logvar biases */
    GM_CK_OK(gm_net_set_params(enc, bad, ne));
    gm_vae_options o = opts_for(&a);
    o.seed = 133;
    gm_vae *v, *ref = make_vae(&a, &o);
    GM_CK_OK(gm_vae_create(&v, enc, dec, &o));
    snap before = snap_take(v);
    gm_tensor *x;
    GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){4, a.D}, data));
    gm_vae_stats st;
    GM_CK_ERR(GM_ENUMERIC, "gm_vae_train_step", gm_vae_train_step(v, x, NULL, &st));
    check_unchanged(v, &before, "non-finite loss");
    GM_CK_ERR(GM_ENUMERIC, "gm_vae_train_step", gm_vae_train_step(v, x, NULL, &st));
    check_unchanged(v, &before, "non-finite loss, twice");
    /* repaired, it trains exactly like a model that never failed */
    GM_CK_OK(gm_net_set_params(gm_vae_encoder(v), good, ne));
    train_steps(v, data, NULL, 16, a.D, 4, 3, NULL);
    train_steps(ref, data, NULL, 16, a.D, 4, 3, NULL);
    snap s1 = snap_take(v), s2 = snap_take(ref);
    ck_assert_msg(snap_equal(&s1, &s2), "the failed step changed generator or optimizer state");
    ck_assert(s1.steps == 3);
    snap_free(&s1);
    snap_free(&s2);
    snap_free(&before);
    free(good);
    free(bad);
    gm_tensor_free(x);
    gm_vae_free(v);
    gm_vae_free(ref);
    free(data);
}
END_TEST

START_TEST(test_bad_eval_functions)
{
    const arch a = {8, 2, 3, 8, GM_LIKELIHOOD_BERNOULLI, 141};
    const size_t N = 4;
    float *data = make_data(16, a.D, 142, 0);
    int32_t *labels = make_labels(16, a.C, 143);
    gm_vae_options o = opts_for(&a);
    gm_vae *v = make_vae(&a, &o);
    train_steps(v, data, labels, 16, a.D, N, 1, NULL);
    snap before = snap_take(v);
    const int32_t bad[4] = {0, 3, 1, 1};
    gm_tensor *x, *xnan = T2(N, a.D), *xd = T2(N, a.D + 1);
    GM_CK_OK(gm_tensor_wrap(&x, 2, (const size_t[]){N, a.D}, data));
    GM_CK_OK(gm_tensor_copy_in(xnan, data, N * a.D));
    D_(xnan)[3] = NAN;
    gm_tensor *mu = T2(N, a.L), *lv = T2(N, a.L), *mu_l = T2(N, a.L + 1), *mu_n = T2(N + 1, a.L);
    poison(mu);
    poison(lv);
    /* encode */
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode", gm_vae_encode(NULL, x, labels, mu, lv));
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode", gm_vae_encode(v, NULL, labels, mu, lv));
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode", gm_vae_encode(v, x, labels, NULL, lv));
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode", gm_vae_encode(v, x, NULL, mu, lv));
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode", gm_vae_encode(v, x, bad, mu, lv));
    GM_CK_ERR(GM_EINVAL, "gm_vae_encode", gm_vae_encode(v, xnan, labels, mu, lv));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_encode", gm_vae_encode(v, xd, labels, mu, lv));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_encode", gm_vae_encode(v, x, labels, mu_l, lv));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_encode", gm_vae_encode(v, x, labels, mu_n, lv));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_encode", gm_vae_encode(v, x, labels, mu, mu_l));
    ck_poisoned(mu, "gm_vae_encode mu");
    ck_poisoned(lv, "gm_vae_encode logvar");

    /* decode */
    gm_tensor *z = T2(N, a.L), *out = T2(N, a.D), *out_d = T2(N, a.D + 1), *out_n = T2(N + 1, a.D);
    gm_tensor *znan = T2(N, a.L);
    D_(znan)[1] = NAN;
    poison(out);
    GM_CK_ERR(GM_EINVAL, "gm_vae_decode", gm_vae_decode(NULL, z, labels, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_decode", gm_vae_decode(v, NULL, labels, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_decode", gm_vae_decode(v, z, labels, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_decode", gm_vae_decode(v, z, NULL, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_decode", gm_vae_decode(v, z, bad, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_decode", gm_vae_decode(v, znan, labels, out));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_decode", gm_vae_decode(v, mu_l, labels, out));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_decode", gm_vae_decode(v, z, labels, out_d));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_decode", gm_vae_decode(v, z, labels, out_n));
    ck_poisoned(out, "gm_vae_decode");

    /* reconstruct */
    GM_CK_ERR(GM_EINVAL, "gm_vae_reconstruct", gm_vae_reconstruct(NULL, x, labels, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reconstruct", gm_vae_reconstruct(v, NULL, labels, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reconstruct", gm_vae_reconstruct(v, x, labels, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reconstruct", gm_vae_reconstruct(v, x, NULL, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reconstruct", gm_vae_reconstruct(v, x, bad, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_reconstruct", gm_vae_reconstruct(v, xnan, labels, out));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reconstruct", gm_vae_reconstruct(v, x, labels, out_d));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reconstruct", gm_vae_reconstruct(v, x, labels, out_n));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_reconstruct", gm_vae_reconstruct(v, xd, labels, out));
    ck_poisoned(out, "gm_vae_reconstruct");

    /* sample */
    GM_CK_ERR(GM_EINVAL, "gm_vae_sample", gm_vae_sample(NULL, N, labels, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_sample", gm_vae_sample(v, N, labels, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_sample", gm_vae_sample(v, N, NULL, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_sample", gm_vae_sample(v, N, bad, out));
    GM_CK_ERR(GM_EINVAL, "gm_vae_sample", gm_vae_sample(v, 0, labels, out));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_sample", gm_vae_sample(v, N - 1, labels, out));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_sample", gm_vae_sample(v, N, labels, out_d));
    ck_poisoned(out, "gm_vae_sample");

    /* interpolate */
    gm_tensor *xa, *xb, *x2, *it = T2(3, a.D), *it1 = T2(1, a.D), *it_d = T2(3, a.D + 1);
    gm_tensor *xanan = T2(1, a.D);
    GM_CK_OK(gm_tensor_wrap(&xa, 2, (const size_t[]){1, a.D}, data));
    GM_CK_OK(gm_tensor_wrap(&xb, 2, (const size_t[]){1, a.D}, data + a.D));
    GM_CK_OK(gm_tensor_wrap(&x2, 2, (const size_t[]){2, a.D}, data));
    D_(xanan)[0] = NAN;
    const int32_t ab[2] = {0, 2}, ab_bad[2] = {0, 5};
    poison(it);
    GM_CK_ERR(GM_EINVAL, "gm_vae_interpolate", gm_vae_interpolate(NULL, xa, xb, ab, it));
    GM_CK_ERR(GM_EINVAL, "gm_vae_interpolate", gm_vae_interpolate(v, NULL, xb, ab, it));
    GM_CK_ERR(GM_EINVAL, "gm_vae_interpolate", gm_vae_interpolate(v, xa, NULL, ab, it));
    GM_CK_ERR(GM_EINVAL, "gm_vae_interpolate", gm_vae_interpolate(v, xa, xb, ab, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_interpolate", gm_vae_interpolate(v, xa, xb, NULL, it));
    GM_CK_ERR(GM_EINVAL, "gm_vae_interpolate", gm_vae_interpolate(v, xa, xb, ab_bad, it));
    GM_CK_ERR(GM_EINVAL, "gm_vae_interpolate", gm_vae_interpolate(v, xanan, xb, ab, it));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_interpolate", gm_vae_interpolate(v, x2, xb, ab, it));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_interpolate", gm_vae_interpolate(v, xa, x2, ab, it));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_interpolate", gm_vae_interpolate(v, xa, xb, ab, it1));
    GM_CK_ERR(GM_ESHAPE, "gm_vae_interpolate", gm_vae_interpolate(v, xa, xb, ab, it_d));
    ck_poisoned(it, "gm_vae_interpolate");

    /* inpaint: a conditional VAE cannot (it takes no labels) */
    {
        gm_tensor *mask = T2(N, a.D);
        poison(out);
        GM_CK_ERR(GM_EUNSUPPORTED, "gm_vae_inpaint", gm_vae_inpaint(v, x, mask, 2, out));
        ck_poisoned(out, "gm_vae_inpaint conditional");
        gm_tensor_free(mask);
    }
    /* inpaint on an unconditional model */
    {
        const arch u = {8, 2, 0, 8, GM_LIKELIHOOD_BERNOULLI, 144};
        gm_vae_options uo = opts_for(&u);
        gm_vae *w = make_vae(&u, &uo);
        snap wb = snap_take(w);
        gm_tensor *mask = T2(N, u.D), *mhalf = T2(N, u.D), *m2 = T2(N, u.D), *mnan = T2(N, u.D);
        gm_tensor *mask_d = T2(N, u.D + 1), *xhi = T2(N, u.D);
        for (size_t i = 0; i < N * u.D; i++) D_(mask)[i] = (float)(i % 2);
        GM_CK_OK(gm_tensor_copy_in(mhalf, D_(mask), N * u.D));
        GM_CK_OK(gm_tensor_copy_in(m2, D_(mask), N * u.D));
        GM_CK_OK(gm_tensor_copy_in(mnan, D_(mask), N * u.D));
        GM_CK_OK(gm_tensor_copy_in(xhi, data, N * u.D));
        D_(mhalf)[3] = 0.5f;
        D_(m2)[4] = 2.0f;
        D_(mnan)[5] = NAN;
        D_(xhi)[2] = 3.0f;
        poison(out);
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(NULL, x, mask, 2, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, NULL, mask, 2, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, x, NULL, 2, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, x, mask, 2, NULL));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, x, mask, 0, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, x, mask, 10001, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, x, mhalf, 2, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, x, m2, 2, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, x, mnan, 2, out));
        GM_CK_ERR(GM_EINVAL, "gm_vae_inpaint", gm_vae_inpaint(w, xnan, mask, 2, out));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_inpaint", gm_vae_inpaint(w, x, mask_d, 2, out));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_inpaint", gm_vae_inpaint(w, x, mask, 2, out_d));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_inpaint", gm_vae_inpaint(w, x, mask, 2, out_n));
        GM_CK_ERR(GM_ESHAPE, "gm_vae_inpaint", gm_vae_inpaint(w, xd, mask_d, 2, out));
        ck_poisoned(out, "gm_vae_inpaint");
        GM_CK_OK(gm_vae_inpaint(w, x, mask, 2, out));
        check_unchanged(w, &wb, "inpaint errors");
        snap_free(&wb);
        gm_tensor *all[] = {mask, mhalf, m2, mnan, mask_d, xhi};
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
        gm_vae_free(w);
    }
    check_unchanged(v, &before, "evaluation errors");
    snap_free(&before);
    gm_tensor *all[] = {x, xnan, xd, mu, lv, mu_l, mu_n, z, out, out_d, out_n, znan,
                        xa, xb, x2, it, it1, it_d, xanan};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) gm_tensor_free(all[i]);
    gm_vae_free(v);
    free(data);
    free(labels);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Data-parallel split: compute / sum / apply                            */
/* ------------------------------------------------------------------ */

/* Copies v's gradient buffer out (n floats). */
static float *grads_of(gm_vae *v, size_t *n)
{
    float *g;
    GM_CK_OK(gm_vae_grads(v, &g, n));
    float *c = malloc((*n + 1) * sizeof(float));
    ck_assert_ptr_nonnull(c);
    memcpy(c, g, *n * sizeof(float));
    return c;
}

/* Workers A (rows 0..5) and B (rows 5..12) of batches of 12, gradients
 * summed between them, equal one VAE trained on the whole batches; a
 * whole-batch compute + apply is gm_vae_train_step bit for bit. */
START_TEST(test_data_parallel)
{
    const arch a = {10, 3, 4, 16, GM_LIKELIHOOD_BERNOULLI, 61};
    const size_t N = 12, cut = 5, D = a.D;
    gm_vae_options o = opts_for(&a);
    o.seed = 5;
    gm_vae *ref = make_vae(&a, &o), *wa = make_vae(&a, &o), *wb = make_vae(&a, &o),
           *one = make_vae(&a, &o);
    float *data = make_data(3 * N, D, 62, 0);
    int32_t *labels = make_labels(3 * N, a.C, 63);
    for (int step = 0; step < 3; step++) {
        const float *x = data + step * N * D;
        const int32_t *y = labels + step * N;
        gm_tensor *all, *xa, *xb;
        GM_CK_OK(gm_tensor_wrap(&all, 2, (size_t[]){N, D}, (float *)x));
        GM_CK_OK(gm_tensor_wrap(&xa, 2, (size_t[]){cut, D}, (float *)x));
        GM_CK_OK(gm_tensor_wrap(&xb, 2, (size_t[]){N - cut, D}, (float *)x + cut * D));
        gm_vae_stats sr, s1, sa, sb;
        GM_CK_OK(gm_vae_train_step(ref, all, y, &sr));
        GM_CK_OK(gm_vae_compute_grads(one, all, y, 0, N, &s1));
        GM_CK_OK(gm_vae_apply_grads(one));
        ck_assert(memcmp(&sr, &s1, sizeof sr) == 0);
        GM_CK_OK(gm_vae_compute_grads(wa, xa, y, 0, N, &sa));
        GM_CK_OK(gm_vae_compute_grads(wb, xb, y + cut, cut, N, &sb));
        /* the shards' statistics average to the batch's */
        ck_assert_float_eq_tol((sa.loss * cut + sb.loss * (N - cut)) / N, sr.loss,
                               1e-4f * fabsf(sr.loss));
        size_t n, nb;
        float *ga, *gb, *gsum = grads_of(wa, &n);
        float *other = grads_of(wb, &nb);
        ck_assert_uint_eq(n, nb);
        ck_assert_uint_eq(n, gm_net_param_count(gm_vae_encoder(wa)) +
                                 gm_net_param_count(gm_vae_decoder(wa)));
        for (size_t i = 0; i < n; i++) gsum[i] += other[i]; /* the all-reduce */
        GM_CK_OK(gm_vae_grads(wa, &ga, &n));
        GM_CK_OK(gm_vae_grads(wb, &gb, &n));
        memcpy(ga, gsum, n * sizeof(float));
        memcpy(gb, gsum, n * sizeof(float));
        GM_CK_OK(gm_vae_apply_grads(wa));
        GM_CK_OK(gm_vae_apply_grads(wb));
        free(gsum);
        free(other);
        gm_tensor_free(all);
        gm_tensor_free(xa);
        gm_tensor_free(xb);
    }
    snap r = snap_take(ref), s1 = snap_take(one), sa = snap_take(wa), sb = snap_take(wb);
    ck_assert_msg(snap_equal(&r, &s1), "compute + apply on the whole batch != train_step");
    ck_assert_msg(snap_equal(&sa, &sb), "the workers' replicas differ");
    ck_assert_uint_eq(sa.steps, 3);
    for (size_t i = 0; i < r.ne; i++) ck_assert_float_eq_tol(sa.enc[i], r.enc[i], 2e-5f);
    for (size_t i = 0; i < r.nd; i++) ck_assert_float_eq_tol(sa.dec[i], r.dec[i], 2e-5f);
    snap_free(&r);
    snap_free(&s1);
    snap_free(&sa);
    snap_free(&sb);

    /* bad input: the model and the buffer stay as they were */
    gm_tensor *x5;
    GM_CK_OK(gm_tensor_wrap(&x5, 2, (size_t[]){cut, D}, data));
    snap before = snap_take(wa);
    size_t n;
    float *g0 = grads_of(wa, &n), *g;
    const char *cg = "gm_vae_compute_grads", *ag = "gm_vae_apply_grads";
    GM_CK_ERR(GM_ESTATE, ag, gm_vae_apply_grads(wa)); /* applied already */
    GM_CK_ERR(GM_EINVAL, cg, gm_vae_compute_grads(wa, x5, labels, 8, 12, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_vae_compute_grads(wa, x5, labels, 0, 4, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_vae_compute_grads(wa, x5, labels, SIZE_MAX, 3, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_vae_compute_grads(wa, x5, NULL, 0, 12, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_vae_compute_grads(NULL, x5, labels, 0, 12, NULL));
    GM_CK_ERR(GM_EINVAL, cg, gm_vae_compute_grads(wa, NULL, labels, 0, 12, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_grads", gm_vae_grads(NULL, &g, &n));
    GM_CK_ERR(GM_EINVAL, "gm_vae_grads", gm_vae_grads(wa, NULL, &n));
    GM_CK_ERR(GM_EINVAL, "gm_vae_grads", gm_vae_grads(wa, &g, NULL));
    GM_CK_ERR(GM_EINVAL, ag, gm_vae_apply_grads(NULL));
    float *g1 = grads_of(wa, &n);
    ck_assert(memcmp(g0, g1, n * sizeof(float)) == 0);
    check_unchanged(wa, &before, "bad compute/apply calls");
    /* a non-finite value in the buffer: the apply changes nothing */
    GM_CK_OK(gm_vae_compute_grads(wa, x5, labels, 0, 12, NULL));
    GM_CK_OK(gm_vae_grads(wa, &g, &n));
    g[n / 2] = NAN;
    GM_CK_ERR(GM_ENUMERIC, ag, gm_vae_apply_grads(wa));
    check_unchanged(wa, &before, "a NaN gradient");
    g[n / 2] = 0.0f;
    GM_CK_OK(gm_vae_apply_grads(wa));
    ck_assert_uint_eq(gm_vae_step_count(wa), 4);
    snap_free(&before);
    free(g0);
    free(g1);
    gm_tensor_free(x5);
    free(data);
    free(labels);
    gm_vae_free(ref);
    gm_vae_free(wa);
    gm_vae_free(wb);
    gm_vae_free(one);
}
END_TEST

int main(void)
{
    gm_set_num_threads(1);
    Suite *s = suite_create("vae");
    TCase *elbo = tcase_create("elbo_module");
    tcase_add_test(elbo, test_reparameterize_grad);
    tcase_add_test(elbo, test_kl_grad);
    tcase_add_test(elbo, test_recon_nll_grad);
    tcase_add_test(elbo, test_logmeanexp_grad);
    tcase_add_test(elbo, test_log_normal_values);
    tcase_add_test(elbo, test_kl_monte_carlo);
    suite_add_tcase(s, elbo);
    TCase *model = tcase_create("model");
    tcase_set_timeout(model, 120);
    tcase_add_test(model, test_iwae);
    tcase_add_test(model, test_custom_loop_bit_identical);
    tcase_add_test(model, test_warmup_schedule);
    tcase_add_test(model, test_determinism);
    tcase_add_test(model, test_eval_functions);
    tcase_add_test(model, test_eval_gaussian_and_conditional);
    tcase_add_test(model, test_eval_does_not_disturb_training);
    tcase_add_test(model, test_data_parallel);
    suite_add_tcase(s, model);
    TCase *bad = tcase_create("bad_input");
    tcase_add_test(bad, test_bad_elbo_module);
    tcase_add_test(bad, test_bad_create);
    tcase_add_test(bad, test_bad_train_step);
    tcase_add_test(bad, test_set_lr);
    tcase_add_test(bad, test_bad_encoder_output);
    tcase_add_test(bad, test_train_step_enumeric);
    tcase_add_test(bad, test_bad_eval_functions);
    suite_add_tcase(s, bad);
    return gm_run_suite(s);
}
