/* SPDX-License-Identifier: MIT */
/* The model layer (src/model/) as the VAE and the GAN use it: the sized
 * statistics calls of 1.2 (the same numbers as the unsized calls, a
 * caller's larger struct zero-filled, a size out of range refused before
 * anything changes, the fit callback told the sizes), and the ownership
 * of a model's nets (gm_net_free ignores them; a second model cannot take
 * them). The models' own behaviour is in test_vae.c, test_gan.c and
 * test_fit.c; undo of failed steps in test_checkpoint.c and
 * test_reliability.c. */
#include <stdlib.h>

#include "gm_test.h"

enum { D = 6, L = 2, H = 8, N = 8 };

static gm_vae *make_vae(void) { return gm_test_small_vae(D, L, H); }
static gm_gan *make_gan(void) { return gm_test_small_gan(D, L, H); }

/* N rows of D values in (0, 1), as a tensor over static storage */
static gm_tensor *batch(void)
{
    static float x[N * D];
    for (size_t i = 0; i < N * D; i++) x[i] = 0.1f + 0.8f * (float)((i * 7) % 10) / 10.0f;
    gm_tensor *t;
    GM_CK_OK(gm_tensor_wrap(&t, 2, (size_t[]){N, D}, x));
    return t;
}

/* A caller's stats struct from a newer header: the 1.0 fields and more. */
typedef struct {
    float f[4];
    float later[3];
} newer_stats;

START_TEST(test_vae_sized_equals_unsized)
{
    gm_vae *a = make_vae(), *b = make_vae();
    gm_tensor *x = batch();
    for (int step = 0; step < 3; step++) {
        gm_vae_stats sa, sb;
        GM_CK_OK(gm_vae_train_step(a, x, NULL, &sa));
        GM_CK_OK(gm_vae_train_step_sized(b, x, NULL, &sb, sizeof sb));
        ck_assert_mem_eq(&sa, &sb, sizeof sa); /* the same step: the same bits */
    }
    /* a newer caller's larger struct: the known fields, then zeros */
    newer_stats n;
    memset(&n, 0x7f, sizeof n);
    gm_vae_stats s;
    GM_CK_OK(gm_vae_elbo(a, x, NULL, &s));
    GM_CK_OK(gm_vae_elbo_sized(b, x, NULL, (gm_vae_stats *)(void *)&n, sizeof n));
    ck_assert_mem_eq(n.f, &s, sizeof s);
    for (int i = 0; i < 3; i++) ck_assert(n.later[i] == 0.0f);
    gm_vae_stats ca, cb;
    GM_CK_OK(gm_vae_compute_grads(a, x, NULL, 0, N, &ca));
    GM_CK_OK(gm_vae_compute_grads_sized(b, x, NULL, 0, N, &cb, sizeof cb));
    ck_assert_mem_eq(&ca, &cb, sizeof ca);
    GM_CK_OK(gm_vae_train_step_sized(b, x, NULL, NULL, 0)); /* NULL: no size needed */
    gm_tensor_free(x);
    gm_vae_free(a);
    gm_vae_free(b);
}
END_TEST

START_TEST(test_gan_sized_equals_unsized)
{
    gm_gan *a = make_gan(), *b = make_gan();
    gm_tensor *x = batch();
    for (int step = 0; step < 3; step++) {
        gm_gan_stats sa, sb;
        memset(&sa, 0x7f, sizeof sa);
        GM_CK_OK(gm_gan_train_step(a, x, NULL, &sa));
        GM_CK_OK(gm_gan_train_step_sized(b, x, NULL, &sb, sizeof sb));
        /* the unsized call fills the 1.0 struct only (1.2 appended penalty) */
        ck_assert_mem_eq(&sa, &sb, GM_STATS_SIZE_1_0);
        ck_assert(sb.penalty == 0.0f); /* no penalty set */
        ck_assert(sa.penalty != 0.0f); /* untouched: 0x7f bytes */
    }
    gm_gan_stats ca;
    newer_stats n;
    memset(&n, 0x7f, sizeof n);
    GM_CK_OK(gm_gan_compute_grads(a, GM_GAN_DISCRIMINATOR, x, NULL, 0, N, &ca));
    GM_CK_OK(gm_gan_compute_grads_sized(b, GM_GAN_DISCRIMINATOR, x, NULL, 0, N,
                                        (gm_gan_stats *)(void *)&n, sizeof n));
    ck_assert_mem_eq(n.f, &ca, GM_STATS_SIZE_1_0);
    for (int i = 0; i < 3; i++) ck_assert(n.later[i] == 0.0f); /* penalty 0, then zeros */
    gm_tensor_free(x);
    gm_gan_free(a);
    gm_gan_free(b);
}
END_TEST

START_TEST(test_sized_bad_size_changes_nothing)
{
    gm_vae *v = make_vae();
    gm_gan *g = make_gan();
    gm_tensor *x = batch();
    float keep[4] = {1, 2, 3, 4}, s[4];
    const size_t bad[] = {0, GM_STATS_SIZE_1_0 - 1, 4097};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        memcpy(s, keep, sizeof s);
        GM_CK_ERR(GM_EINVAL, "gm_vae_train_step_sized",
                  gm_vae_train_step_sized(v, x, NULL, (gm_vae_stats *)(void *)s, bad[i]));
        GM_CK_ERR(GM_EINVAL, "gm_vae_compute_grads_sized",
                  gm_vae_compute_grads_sized(v, x, NULL, 0, N, (gm_vae_stats *)(void *)s, bad[i]));
        GM_CK_ERR(GM_EINVAL, "gm_vae_elbo_sized",
                  gm_vae_elbo_sized(v, x, NULL, (gm_vae_stats *)(void *)s, bad[i]));
        GM_CK_ERR(GM_EINVAL, "gm_gan_train_step_sized",
                  gm_gan_train_step_sized(g, x, NULL, (gm_gan_stats *)(void *)s, bad[i]));
        GM_CK_ERR(GM_EINVAL, "gm_gan_compute_grads_sized",
                  gm_gan_compute_grads_sized(g, GM_GAN_GENERATOR, x, NULL, 0, N,
                                             (gm_gan_stats *)(void *)s, bad[i]));
        ck_assert_mem_eq(s, keep, sizeof s);
    }
    ck_assert_uint_eq(gm_vae_step_count(v), 0);
    ck_assert_uint_eq(gm_gan_step_count(g), 0);
    /* nothing is pending after the refused compute calls */
    GM_CK_ERR(GM_ESTATE, "no gradients to apply", gm_vae_apply_grads(v));
    GM_CK_ERR(GM_ESTATE, "no generator gradients", gm_gan_apply_grads(g, GM_GAN_GENERATOR));
    /* an error inside names the sized call, then the call it wraps */
    gm_vae_stats vs;
    GM_CK_ERR(GM_EINVAL, "gm_vae_train_step_sized: gm_vae_train_step",
              gm_vae_train_step_sized(v, NULL, NULL, &vs, sizeof vs));
    GM_CK_ERR(GM_EINVAL, "gm_vae_elbo_sized", gm_vae_elbo_sized(v, x, NULL, NULL, sizeof vs));
    gm_tensor_free(x);
    gm_vae_free(v);
    gm_gan_free(g);
}
END_TEST

/* what the fit callbacks saw */
typedef struct {
    int calls;
    size_t progress_size, mean_size;
    float mean[4];
    gm_fit_progress p;
} seen;

static int vae_cb(void *u, const gm_fit_progress *p, const gm_vae_stats *m)
{
    seen *s = u;
    s->calls++;
    s->p = *p;
    memcpy(s->mean, m, sizeof s->mean);
    return 0;
}

static int vae_sized_cb(void *u, const gm_fit_progress *p, size_t ps, const gm_vae_stats *m,
                        size_t ms)
{
    seen *s = u;
    s->progress_size = ps;
    s->mean_size = ms;
    return vae_cb(u, p, m);
}

static int gan_cb(void *u, const gm_fit_progress *p, const gm_gan_stats *m)
{
    seen *s = u;
    s->calls++;
    s->p = *p;
    memcpy(s->mean, m, sizeof s->mean);
    return 0;
}

static int gan_sized_cb(void *u, const gm_fit_progress *p, size_t ps, const gm_gan_stats *m,
                        size_t ms)
{
    seen *s = u;
    s->progress_size = ps;
    s->mean_size = ms;
    return gan_cb(u, p, m);
}

START_TEST(test_fit_sized_callbacks)
{
    gm_tensor *x = batch();
    gm_fit_options fo;
    GM_CK_OK(gm_fit_options_init(&fo));
    fo.epochs = 2;
    fo.batch = 4;
    seen a = {0}, b = {0};
    gm_vae *va = make_vae(), *vb = make_vae();
    GM_CK_OK(gm_vae_fit(va, x, NULL, &fo, vae_cb, &a));
    GM_CK_OK(gm_vae_fit_sized(vb, x, NULL, &fo, vae_sized_cb, &b));
    ck_assert_int_eq(a.calls, 2);
    ck_assert_int_eq(b.calls, 2);
    ck_assert_uint_eq(b.progress_size, sizeof(gm_fit_progress));
    ck_assert_uint_eq(b.mean_size, sizeof(gm_vae_stats));
    ck_assert_mem_eq(a.mean, b.mean, sizeof a.mean);
    ck_assert_uint_eq(a.p.step, b.p.step);
    gm_vae_free(va);
    gm_vae_free(vb);
    seen c = {0}, d = {0};
    gm_gan *ga = make_gan(), *gb = make_gan();
    GM_CK_OK(gm_gan_fit(ga, x, NULL, &fo, gan_cb, &c));
    GM_CK_OK(gm_gan_fit_sized(gb, x, NULL, &fo, gan_sized_cb, &d));
    ck_assert_int_eq(d.calls, 2);
    ck_assert_uint_eq(d.progress_size, sizeof(gm_fit_progress));
    ck_assert_uint_eq(d.mean_size, sizeof(gm_gan_stats));
    ck_assert_mem_eq(c.mean, d.mean, sizeof c.mean);
    GM_CK_OK(gm_gan_fit_sized(gb, x, NULL, &fo, NULL, NULL)); /* no callback */
    ck_assert_uint_eq(gm_gan_step_count(gb), 8);
    gm_gan_free(ga);
    gm_gan_free(gb);
    gm_tensor_free(x);
}
END_TEST

START_TEST(test_model_owns_its_nets)
{
    gm_vae *v = make_vae();
    gm_net *enc = gm_vae_encoder(v);
    gm_net_free(enc); /* ignored: the VAE frees it (ASan/valgrind would see it) */
    ck_assert_uint_gt(gm_net_param_count(enc), 0);
    gm_gan_options go;
    GM_CK_OK(gm_gan_options_init(&go));
    go.latent = L;
    gm_gan *g = NULL;
    gm_net *d = gm_test_mlp_seeded(D, H, 1, GM_TEST_RELU, 9);
    GM_CK_ERR(GM_ESTATE, "the generator already belongs to a model",
              gm_gan_create(&g, enc, d, &go));
    ck_assert_ptr_null(g);
    GM_CK_ERR(GM_EINVAL, "generator and discriminator must be two different nets",
              gm_gan_create(&g, d, d, &go));
    GM_CK_ERR(GM_EINVAL, "discriminator must not be NULL", gm_gan_create(&g, d, NULL, &go));
    gm_layer *l;
    GM_CK_OK(gm_relu_create(&l));
    GM_CK_ERR(GM_ESTATE, "gm_net_add", gm_net_add(enc, l)); /* sized already */
    gm_layer_free(l);
    gm_net_free(d);
    gm_vae_free(v);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_vae_sized_equals_unsized);
    tcase_add_test(tc, test_gan_sized_equals_unsized);
    tcase_add_test(tc, test_sized_bad_size_changes_nothing);
    tcase_add_test(tc, test_fit_sized_callbacks);
    tcase_add_test(tc, test_model_owns_its_nets);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
