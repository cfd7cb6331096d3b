/* SPDX-License-Identifier: MIT */
/* gm_vae_fit and gm_gan_fit: the epoch loop equals train steps where the
 * order cannot matter, counts steps and callbacks as documented, stops when
 * the callback says so, is deterministic, and refuses bad input before any
 * step. */
#include <stdlib.h>

#include "gm_test.h"

enum { D = 6, L = 2, H = 8 };

static gm_vae *make_vae(void) { return gm_test_small_vae(D, L, H); }
static gm_gan *make_gan(void) { return gm_test_small_gan(D, L, H); }

/* All parameters of two nets, concatenated, into dst (capacity 1024). */
static size_t params2(gm_net *a, gm_net *b, float *dst)
{
    size_t na = gm_net_param_count(a), nb = gm_net_param_count(b);
    ck_assert_uint_le(na + nb, 1024);
    GM_CK_OK(gm_net_get_params(a, dst, na));
    GM_CK_OK(gm_net_get_params(b, dst + na, nb));
    return na + nb;
}

/* n rows of D values in (0, 1); identical rows if same */
static float *data_rows(size_t n, int same)
{
    float *x = malloc(n * D * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < D; d++) x[i * D + d] = 0.1f + 0.8f * (float)(((same ? 0 : i) * 7 + d * 3) % 10) / 10.0f;
    return x;
}

typedef struct {
    int calls, stop_at;
    gm_fit_progress last;
    gm_vae_stats vs[16];
    uint64_t at[16];
} log_t;

static int vae_cb(void *user, const gm_fit_progress *p, const gm_vae_stats *mean)
{
    log_t *lg = user;
    if (lg->calls < 16) {
        lg->vs[lg->calls] = *mean;
        lg->at[lg->calls] = p->step;
    }
    lg->last = *p;
    lg->calls++;
    return lg->stop_at && lg->calls >= lg->stop_at;
}

static int gan_cb(void *user, const gm_fit_progress *p, const gm_gan_stats *mean)
{
    log_t *lg = user;
    ck_assert(isfinite(mean->d_loss) && isfinite(mean->g_loss));
    lg->last = *p;
    lg->calls++;
    return lg->stop_at && lg->calls >= lg->stop_at;
}

/* Rows that are all the same: any shuffle gives the same batches, so fit
 * is train_step repeated, bit for bit, and every=1 reports each step's
 * statistics. */
START_TEST(test_vae_fit_is_train_steps)
{
    const size_t N = 5;
    float *x = data_rows(N, 1);
    gm_tensor *t;
    GM_CK_OK(gm_tensor_wrap(&t, 2, (size_t[]){N, D}, x));
    gm_vae *a = make_vae(), *b = make_vae();
    gm_fit_options o;
    GM_CK_OK(gm_fit_options_init(&o));
    o.epochs = 3;
    o.batch = N;
    o.every = 1;
    log_t lg = {0};
    GM_CK_OK(gm_vae_fit(a, t, NULL, &o, vae_cb, &lg));
    ck_assert_int_eq(lg.calls, 3);
    for (int s = 0; s < 3; s++) {
        gm_vae_stats st;
        GM_CK_OK(gm_vae_train_step(b, t, NULL, &st));
        ck_assert(memcmp(&st, &lg.vs[s], sizeof st) == 0);
        ck_assert_uint_eq(lg.at[s], (uint64_t)s + 1);
    }
    static float pa[1024], pb[1024];
    size_t n = params2(gm_vae_encoder(a), gm_vae_decoder(a), pa);
    params2(gm_vae_encoder(b), gm_vae_decoder(b), pb);
    ck_assert(memcmp(pa, pb, n * sizeof(float)) == 0);
    ck_assert_uint_eq(gm_vae_step_count(a), 3);
    gm_vae_free(a);
    gm_vae_free(b);
    gm_tensor_free(t);
    free(x);
}
END_TEST

/* Steps, callback points and means over 11 rows in batches of 3 (3 steps an
 * epoch, the last row dropped), every 2: calls after steps 2, 3 (epoch
 * end), 5, 6; the callback stops it; same seeds give the same model. */
START_TEST(test_vae_fit_schedule)
{
    const size_t N = 11;
    float *x = data_rows(N, 0);
    gm_tensor *t;
    GM_CK_OK(gm_tensor_wrap(&t, 2, (size_t[]){N, D}, x));
    gm_fit_options o;
    GM_CK_OK(gm_fit_options_init(&o));
    ck_assert_uint_eq(o.size, sizeof o);
    ck_assert_uint_eq(o.epochs, 1);
    ck_assert_uint_eq(o.batch, 0); /* min(128, N) */
    o.epochs = 2;
    o.batch = 3;
    o.every = 2;
    o.shuffle_seed = 9;
    gm_vae *a = make_vae(), *b = make_vae(), *c = make_vae();
    log_t lg = {0};
    GM_CK_OK(gm_vae_fit(a, t, NULL, &o, vae_cb, &lg));
    ck_assert_int_eq(lg.calls, 4);
    const uint64_t want[4] = {2, 3, 5, 6};
    for (int i = 0; i < 4; i++) ck_assert_uint_eq(lg.at[i], want[i]);
    ck_assert_uint_eq(lg.last.epoch, 2);
    ck_assert_uint_eq(lg.last.epochs, 2);
    ck_assert_uint_eq(lg.last.epoch_step, 3);
    ck_assert_uint_eq(lg.last.steps_per_epoch, 3);
    ck_assert_uint_eq(lg.last.steps_averaged, 1);
    ck_assert(lg.last.seconds >= 0.0);
    ck_assert_uint_eq(gm_vae_step_count(a), 6);
    /* the same again (no callback) gives the same model; another shuffle
     * seed another one */
    GM_CK_OK(gm_vae_fit(b, t, NULL, &o, NULL, NULL));
    o.shuffle_seed = 10;
    GM_CK_OK(gm_vae_fit(c, t, NULL, &o, NULL, NULL));
    static float pa[1024], pb[1024], pc[1024];
    size_t n = params2(gm_vae_encoder(a), gm_vae_decoder(a), pa);
    params2(gm_vae_encoder(b), gm_vae_decoder(b), pb);
    params2(gm_vae_encoder(c), gm_vae_decoder(c), pc);
    ck_assert(memcmp(pa, pb, n * sizeof(float)) == 0);
    ck_assert(memcmp(pa, pc, n * sizeof(float)) != 0);
    /* stop at the first call: after 2 steps */
    log_t stop = {.stop_at = 1};
    GM_CK_OK(gm_vae_fit(c, t, NULL, &o, vae_cb, &stop));
    ck_assert_int_eq(stop.calls, 1);
    ck_assert_uint_eq(gm_vae_step_count(c), 6 + 2);
    gm_vae_free(a);
    gm_vae_free(b);
    gm_vae_free(c);
    gm_tensor_free(t);
    free(x);
}
END_TEST

START_TEST(test_gan_fit)
{
    const size_t N = 10;
    float *x = data_rows(N, 0);
    gm_tensor *t;
    GM_CK_OK(gm_tensor_wrap(&t, 2, (size_t[]){N, D}, x));
    gm_gan *a = make_gan(), *b = make_gan();
    gm_fit_options o;
    GM_CK_OK(gm_fit_options_init(&o));
    o.epochs = 3;
    o.batch = 4;
    log_t lg = {0};
    GM_CK_OK(gm_gan_fit(a, t, NULL, &o, gan_cb, &lg));
    ck_assert_int_eq(lg.calls, 3); /* every 100 > 2 steps an epoch: epoch ends */
    ck_assert_uint_eq(lg.last.steps_averaged, 2);
    ck_assert_uint_eq(gm_gan_step_count(a), 6);
    GM_CK_OK(gm_gan_fit(b, t, NULL, &o, NULL, NULL));
    static float pa[1024], pb[1024];
    size_t n = params2(gm_gan_generator(a), gm_gan_discriminator(a), pa);
    params2(gm_gan_generator(b), gm_gan_discriminator(b), pb);
    ck_assert(memcmp(pa, pb, n * sizeof(float)) == 0);
    log_t stop = {.stop_at = 2};
    GM_CK_OK(gm_gan_fit(b, t, NULL, &o, gan_cb, &stop));
    ck_assert_uint_eq(gm_gan_step_count(b), 6 + 4);
    /* default batch: min(128, N) = N, one step an epoch */
    GM_CK_OK(gm_fit_options_init(&o));
    GM_CK_OK(gm_gan_fit(b, t, NULL, &o, NULL, NULL));
    ck_assert_uint_eq(gm_gan_step_count(b), 6 + 4 + 1);
    gm_gan_free(a);
    gm_gan_free(b);
    gm_tensor_free(t);
    free(x);
}
END_TEST

/* Bad input fails before any step: the models are unchanged. */
START_TEST(test_fit_bad_input)
{
    const size_t N = 8;
    float *x = data_rows(N, 0);
    gm_tensor *t, *wrong;
    GM_CK_OK(gm_tensor_wrap(&t, 2, (size_t[]){N, D}, x));
    GM_CK_OK(gm_tensor_create(&wrong, 2, (size_t[]){N, D + 1}));
    gm_vae *v = make_vae();
    gm_gan *g = make_gan();
    static float v0[1024], g0[1024], v1[1024], g1[1024];
    size_t nv = params2(gm_vae_encoder(v), gm_vae_decoder(v), v0);
    size_t ng = params2(gm_gan_generator(g), gm_gan_discriminator(g), g0);
    gm_fit_options o;
    GM_CK_ERR(GM_EINVAL, "gm_fit_options_init", gm_fit_options_init(NULL));
#define BOTH(code, opts, data, labels)                                                   \
    do {                                                                                \
        GM_CK_ERR(code, "gm_vae_fit", gm_vae_fit(v, data, labels, opts, NULL, NULL));   \
        GM_CK_ERR(code, "gm_gan_fit", gm_gan_fit(g, data, labels, opts, NULL, NULL));   \
    } while (0)
#define BAD(field, value)                 \
    do {                                  \
        GM_CK_OK(gm_fit_options_init(&o)); \
        o.batch = 4;                      \
        o.field = value;                  \
        BOTH(GM_EINVAL, &o, t, NULL);     \
    } while (0)
    BAD(epochs, 0);
    BAD(batch, N + 1);
    BAD(every, 0);
    BAD(size, 4);    /* smaller than the size field itself */
    BAD(size, 4097); /* larger than any options struct */
    BOTH(GM_EINVAL, NULL, NULL, NULL);
    BOTH(GM_ESHAPE, NULL, wrong, NULL);
    const int32_t y[8] = {0, 1, 0, 1, 0, 1, 0, 1};
    BOTH(GM_EINVAL, NULL, t, y); /* labels for models that are not conditional */
    x[N * D - 1] = NAN; /* the last row: caught before the first step */
    BOTH(GM_EINVAL, NULL, t, NULL);
    x[N * D - 1] = 1.5f; /* outside [0, 1] for the Bernoulli VAE */
    GM_CK_ERR(GM_EINVAL, "gm_vae_fit", gm_vae_fit(v, t, NULL, NULL, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_vae_fit", gm_vae_fit(NULL, t, NULL, NULL, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_gan_fit", gm_gan_fit(NULL, t, NULL, NULL, NULL, NULL));
#undef BAD
#undef BOTH
    params2(gm_vae_encoder(v), gm_vae_decoder(v), v1);
    params2(gm_gan_generator(g), gm_gan_discriminator(g), g1);
    ck_assert(memcmp(v0, v1, nv * sizeof(float)) == 0);
    ck_assert(memcmp(g0, g1, ng * sizeof(float)) == 0);
    ck_assert_uint_eq(gm_vae_step_count(v), 0);
    ck_assert_uint_eq(gm_gan_step_count(g), 0);
    gm_vae_free(v);
    gm_gan_free(g);
    gm_tensor_free(t);
    gm_tensor_free(wrong);
    free(x);
}
END_TEST

int main(void)
{
    gm_set_num_threads(1);
    Suite *s = suite_create("fit");
    TCase *tc = tcase_create("fit");
    tcase_add_test(tc, test_vae_fit_is_train_steps);
    tcase_add_test(tc, test_vae_fit_schedule);
    tcase_add_test(tc, test_gan_fit);
    tcase_add_test(tc, test_fit_bad_input);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
