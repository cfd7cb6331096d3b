/* SPDX-License-Identifier: MIT */
/*
 * A property suite: it checks one property across modules. Each module's
 * other tests live in (tests/):
 *   core    test_core.c (errors, generator, allocator, tensors), test_abi_compat.c
 *   engine  test_engine.c, test_engine_layer_state.c, test_train.c, test_fit.c
 *           (the fit loop), test_api_names.c (new names)
 *   vae     test_vae.c, test_vae_mnist.c
 *   gan     test_gan.c, test_gan_loss.c
 *   io      test_checkpoint.c, test_png.c, test_folder.c, test_coverage_gaps.c
 *   eval    test_eval.c
 *   interp  test_interp.c
 *   all     test_badinput.c, test_gradcheck.c, test_reference.c,
 *           test_threads.c, test_reliability.c (the property suites)
 */
/*
 * Threads (issue 7): "different handles may be used from different
 * threads at once" (core.h), checked.
 *
 *  - Several small models (VAEs with dropout, GANs with batchnorm and
 *    spectral normalization, a VAE trained by gm_vae_fit) are built and
 *    trained on THREADS threads at once, one model per thread, each from
 *    its own seed; their final parameters, generator states and step
 *    counts must equal bit for bit those of the same models trained one
 *    after another on the main thread.
 *  - The last-error message is per thread: each thread makes a call fail
 *    with its own value, waits until all have, then finds its own message.
 *
 * The BLAS runs on one thread here (gm_set_num_threads(1), before any
 * worker starts): results are only promised equal for the same BLAS
 * thread count, and concurrency comes from the workers. The suite also
 * runs under ThreadSanitizer (scripts/test.sh, stage tsan), which checks
 * that the library shares no unsynchronized state between handles.
 *
 * Check's assertions must not run on a worker thread (a failure longjmps
 * or exits from the wrong thread): workers only record statuses and
 * messages, and the main thread asserts.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gm_test.h"

enum { THREADS = 4, D = 12, HID = 24, LAT = 3, N = 16 };

#ifndef GM_THREADS_STEPS
#define GM_THREADS_STEPS 60
#endif

typedef enum { JOB_VAE, JOB_GAN, JOB_VAE_FIT } job_kind;

typedef struct {
    job_kind kind;
    uint64_t seed;
    /* results */
    gm_status st;
    char where[96];  /* the call that failed */
    char msg[256];   /* gm_last_error() of the worker thread */
    float *params;   /* both nets' parameters, concatenated */
    size_t nparams;
    uint64_t steps;
    float last_loss;
    float sample_sum; /* 5 samples drawn at the end, weighted sum */
} job;

#define TRY(expr)                                                          \
    do {                                                                   \
        gm_status try_st_ = (expr);                                        \
        if (try_st_ != GM_OK) {                                            \
            j->st = try_st_;                                               \
            snprintf(j->where, sizeof j->where, "%s", #expr);              \
            snprintf(j->msg, sizeof j->msg, "%s", gm_last_error());        \
            goto done;                                                     \
        }                                                                  \
    } while (0)

/* in -> HID [-> batchnorm] -> leaky ReLU [-> dropout] -> out (the last
 * dense layer spectrally normalized if asked); on error *out is NULL and
 * the message is this thread's last error. */
static gm_status mlp(gm_net **out, size_t in, size_t o, uint64_t seed, int dropout,
                     int batchnorm, int spectral)
{
    gm_rng *rng = NULL;
    gm_net *net = NULL;
    gm_layer *l = NULL;
    gm_status st;
    *out = NULL;
    if ((st = gm_rng_create(&rng, seed)) != GM_OK) return st;
    if ((st = gm_net_create(&net)) != GM_OK) goto fail;
#define ADD(create)                                                        \
    do {                                                                   \
        if ((st = (create)) != GM_OK) goto fail;                           \
        if ((st = gm_net_add(net, l)) != GM_OK) goto fail;                 \
        l = NULL;                                                          \
    } while (0)
    ADD(gm_dense_create(&l, in, HID, GM_INIT_TORCH, rng));
    if (batchnorm) ADD(gm_batchnorm_create(&l, HID, 0.1f, 1e-5f));
    ADD(gm_leaky_relu_create(&l, 0.2f));
    if (dropout) ADD(gm_dropout_create(&l, 0.25f, seed ^ 0x5eed));
    if ((st = gm_dense_create(&l, HID, o, GM_INIT_TORCH, rng)) != GM_OK) goto fail;
    if (spectral && (st = gm_layer_spectral_norm(l, 1, 1e-12f, rng)) != GM_OK) goto fail;
    if ((st = gm_net_add(net, l)) != GM_OK) goto fail;
#undef ADD
    gm_rng_free(rng);
    *out = net;
    return GM_OK;
fail:
    gm_layer_free(l);
    gm_net_free(net);
    gm_rng_free(rng);
    return st;
}

/* Data in [0, 1) drawn from the job's seed. */
static gm_status make_data(gm_tensor **out, size_t n, uint64_t seed)
{
    gm_rng *rng;
    gm_status st = gm_rng_create(&rng, seed * 7919u + 1u);
    if (st != GM_OK) return st;
    st = gm_tensor_create(out, 2, (const size_t[]){n, D});
    if (st == GM_OK) st = gm_tensor_fill_uniform(*out, rng);
    gm_rng_free(rng);
    return st;
}

/* Copies the parameters of nets a and b into one new block. */
static gm_status grab_params(job *j, gm_net *a, gm_net *b)
{
    size_t na = gm_net_param_count(a), nb = gm_net_param_count(b);
    j->nparams = na + nb;
    j->params = malloc((na + nb) * sizeof(float));
    if (j->params == NULL) return GM_ENOMEM;
    gm_status st = gm_net_get_params(a, j->params, na);
    if (st == GM_OK) st = gm_net_get_params(b, j->params + na, nb);
    return st;
}

static int fit_cb(void *user, const gm_fit_progress *p, const gm_vae_stats *s)
{
    (void)p;
    ((job *)user)->last_loss = s->loss;
    return 0;
}

static void run_job(job *j)
{
    gm_net *a = NULL, *b = NULL;
    gm_vae *vae = NULL;
    gm_gan *gan = NULL;
    gm_tensor *x = NULL, *s = NULL;
    gm_optimizer_options oo;
    j->st = GM_OK;
    TRY(gm_optimizer_options_init(&oo, GM_OPT_ADAM));
    oo.lr = 3e-3f;
    if (j->kind == JOB_VAE || j->kind == JOB_VAE_FIT) {
        gm_vae_options o;
        TRY(gm_vae_options_init(&o));
        o.latent = LAT;
        o.seed = j->seed;
        o.optimizer = &oo;
        o.kl_warmup_steps = 10;
        TRY(mlp(&a, D, 2 * LAT, j->seed + 1, 1, 0, 0));
        TRY(mlp(&b, LAT, D, j->seed + 2, 0, 0, 0));
        TRY(gm_vae_create(&vae, a, b, &o));
        a = b = NULL; /* owned by the VAE */
        if (j->kind == JOB_VAE) {
            TRY(make_data(&x, N, j->seed));
            for (int step = 0; step < GM_THREADS_STEPS; step++) {
                gm_vae_stats st;
                TRY(gm_vae_train_step(vae, x, NULL, &st));
                j->last_loss = st.loss;
            }
        } else {
            TRY(make_data(&x, 4 * N, j->seed));
            gm_fit_options fo;
            TRY(gm_fit_options_init(&fo));
            fo.epochs = 2;
            fo.batch = N;
            fo.every = 3;
            fo.shuffle_seed = j->seed;
            TRY(gm_vae_fit(vae, x, NULL, &fo, fit_cb, j));
        }
        TRY(gm_tensor_create(&s, 2, (const size_t[]){5, D}));
        TRY(gm_vae_sample(vae, 5, NULL, s));
        TRY(grab_params(j, gm_vae_encoder(vae), gm_vae_decoder(vae)));
        j->steps = gm_vae_step_count(vae);
    } else {
        gm_gan_options o;
        TRY(gm_gan_options_init(&o));
        o.latent = LAT;
        o.seed = j->seed;
        o.g_optimizer = o.d_optimizer = &oo;
        o.n_critic = 2;
        TRY(mlp(&a, LAT, D, j->seed + 1, 0, 1, 0));
        TRY(mlp(&b, D, 1, j->seed + 2, 1, 0, 1));
        TRY(gm_gan_create(&gan, a, b, &o));
        a = b = NULL;
        TRY(make_data(&x, N, j->seed));
        for (int step = 0; step < GM_THREADS_STEPS; step++) {
            gm_gan_stats st;
            TRY(gm_gan_train_step(gan, x, NULL, &st));
            j->last_loss = st.d_loss + st.g_loss;
        }
        TRY(gm_tensor_create(&s, 2, (const size_t[]){5, D}));
        TRY(gm_gan_sample(gan, 5, NULL, s));
        TRY(grab_params(j, gm_gan_generator(gan), gm_gan_discriminator(gan)));
        j->steps = gm_gan_step_count(gan);
    }
    {
        const float *p = gm_tensor_data_const(s);
        double sum = 0;
        for (size_t i = 0; i < 5 * D; i++) sum += p[i] * (double)(i + 1);
        j->sample_sum = (float)sum;
    }
done:
    gm_tensor_free(s);
    gm_tensor_free(x);
    gm_vae_free(vae);
    gm_gan_free(gan);
    gm_net_free(a);
    gm_net_free(b);
}

static void *job_thread(void *arg)
{
    run_job(arg);
    return NULL;
}

static void job_init(job *j, job_kind kind, uint64_t seed)
{
    memset(j, 0, sizeof *j);
    j->kind = kind;
    j->seed = seed;
}

static const char *kind_name(job_kind k)
{
    return k == JOB_VAE ? "vae" : k == JOB_GAN ? "gan" : "vae_fit";
}

static void check_ok(const job *j)
{
    ck_assert_msg(j->st == GM_OK, "%s seed %llu: %s -> %s: %s", kind_name(j->kind),
                  (unsigned long long)j->seed, j->where, gm_status_string(j->st), j->msg);
}

/* Runs `count` jobs of `kinds` (cycled) first one after another, then all
 * at once on their own threads, and compares. */
static void run_and_compare(const job_kind *kinds, size_t nkinds, size_t count)
{
    job seq[2 * THREADS], par[2 * THREADS];
    pthread_t th[2 * THREADS];
    ck_assert(count <= 2 * THREADS);
    ck_assert_int_eq(gm_set_num_threads(1), GM_OK);
    size_t live0 = gm_live_allocations();

    for (size_t i = 0; i < count; i++) {
        job_init(&seq[i], kinds[i % nkinds], 100 + 17 * i);
        run_job(&seq[i]);
        check_ok(&seq[i]);
    }
    ck_assert_uint_eq(gm_live_allocations(), live0);

    for (size_t i = 0; i < count; i++) {
        job_init(&par[i], kinds[i % nkinds], 100 + 17 * i);
        ck_assert_int_eq(pthread_create(&th[i], NULL, job_thread, &par[i]), 0);
    }
    for (size_t i = 0; i < count; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_uint_eq(gm_live_allocations(), live0);

    for (size_t i = 0; i < count; i++) {
        check_ok(&par[i]);
        const char *k = kind_name(seq[i].kind);
        ck_assert_msg(par[i].nparams == seq[i].nparams && seq[i].nparams > 0,
                      "%s %zu: %zu vs %zu parameters", k, i, par[i].nparams, seq[i].nparams);
        size_t diff = 0;
        for (size_t p = 0; p < seq[i].nparams; p++)
            if (memcmp(&par[i].params[p], &seq[i].params[p], sizeof(float)) != 0) diff++;
        ck_assert_msg(diff == 0,
                      "%s %zu (seed %llu): %zu of %zu parameters differ between the "
                      "threaded and the sequential run", k, i,
                      (unsigned long long)seq[i].seed, diff, seq[i].nparams);
        ck_assert_msg(par[i].steps == seq[i].steps && seq[i].steps > 0,
                      "%s %zu: %llu vs %llu steps", k, i, (unsigned long long)par[i].steps,
                      (unsigned long long)seq[i].steps);
        ck_assert_msg(memcmp(&par[i].last_loss, &seq[i].last_loss, sizeof(float)) == 0,
                      "%s %zu: last loss %.9g vs %.9g", k, i, (double)par[i].last_loss,
                      (double)seq[i].last_loss);
        ck_assert_msg(memcmp(&par[i].sample_sum, &seq[i].sample_sum, sizeof(float)) == 0,
                      "%s %zu: samples differ (%.9g vs %.9g)", k, i,
                      (double)par[i].sample_sum, (double)seq[i].sample_sum);
    }
    /* different seeds gave different models: the comparison is not vacuous */
    if (count >= 2 * nkinds) {
        ck_assert_msg(memcmp(seq[0].params, seq[nkinds].params,
                             seq[0].nparams * sizeof(float)) != 0,
                      "two seeds gave the same parameters");
    }
    for (size_t i = 0; i < count; i++) {
        free(seq[i].params);
        free(par[i].params);
    }
}

START_TEST(vaes_on_threads_equal_sequential)
{
    const job_kind k[] = {JOB_VAE};
    run_and_compare(k, 1, THREADS);
}
END_TEST

START_TEST(gans_on_threads_equal_sequential)
{
    const job_kind k[] = {JOB_GAN};
    run_and_compare(k, 1, THREADS);
}
END_TEST

START_TEST(mixed_models_on_threads_equal_sequential)
{
    /* VAE steps, GAN steps and VAE fit loops, all at once */
    const job_kind k[] = {JOB_VAE, JOB_GAN, JOB_VAE_FIT};
    run_and_compare(k, 3, 2 * THREADS);
}
END_TEST

/* ---- the last error is per thread ------------------------------------ */

typedef struct {
    int id;
    pthread_barrier_t *barrier;
    gm_status st;
    char msg_after[256];
    char msg_before_any[8]; /* the message of a fresh thread: "" */
} err_job;

static void *err_thread(void *arg)
{
    err_job *e = arg;
    snprintf(e->msg_before_any, sizeof e->msg_before_any, "%s", gm_last_error());
    gm_optimizer_options o;
    gm_optimizer_options_init(&o, GM_OPT_SGD);
    o.lr = -(float)(e->id + 1); /* "opts->lr must be finite and > 0, got -<id+1>" */
    gm_net *net = NULL;
    gm_optimizer *opt = NULL;
    if (gm_net_create(&net) == GM_OK) {
        pthread_barrier_wait(e->barrier); /* all threads start together */
        e->st = gm_optimizer_create(&opt, net, &o);
        pthread_barrier_wait(e->barrier); /* every thread has failed once */
        snprintf(e->msg_after, sizeof e->msg_after, "%s", gm_last_error());
    } else {
        e->st = GM_ENOMEM;
        pthread_barrier_wait(e->barrier);
        pthread_barrier_wait(e->barrier);
    }
    gm_optimizer_free(opt);
    gm_net_free(net);
    return NULL;
}

START_TEST(last_error_is_per_thread)
{
    pthread_barrier_t barrier;
    err_job e[THREADS];
    pthread_t th[THREADS];
    ck_assert_int_eq(pthread_barrier_init(&barrier, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        memset(&e[i], 0, sizeof e[i]);
        e[i].id = i;
        e[i].barrier = &barrier;
        ck_assert_int_eq(pthread_create(&th[i], NULL, err_thread, &e[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&barrier);
    for (int i = 0; i < THREADS; i++) {
        char want[32];
        snprintf(want, sizeof want, "got -%d", i + 1);
        ck_assert_msg(e[i].st == GM_EINVAL, "thread %d: %s", i, gm_status_string(e[i].st));
        ck_assert_msg(e[i].msg_before_any[0] == '\0', "thread %d started with message '%s'",
                      i, e[i].msg_before_any);
        ck_assert_msg(strstr(e[i].msg_after, "gm_optimizer_create") != NULL &&
                          strstr(e[i].msg_after, want) != NULL,
                      "thread %d sees '%s', expected its own error ('%s')", i,
                      e[i].msg_after, want);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, vaes_on_threads_equal_sequential);
    tcase_add_test(tc, gans_on_threads_equal_sequential);
    tcase_add_test(tc, mixed_models_on_threads_equal_sequential);
    tcase_add_test(tc, last_error_is_per_thread);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
