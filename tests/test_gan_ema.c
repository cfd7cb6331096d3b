/* SPDX-License-Identifier: MIT */
/* The moving-average generator (gm_gan option ema_decay): the average
 * follows its formula bit for bit, training is the same with it on or off,
 * sampling and generation use it unless gm_gan_use_ema(gan, 0), the
 * checkpoint carries it (exact resume; damaged EMA records are refused),
 * and bad input to the option and the two functions is refused with
 * nothing changed. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "gm_test.h"

#define ADD(net, call)                   \
    do {                                 \
        gm_layer *l_;                    \
        GM_CK_OK(call);                  \
        GM_CK_OK(gm_net_add((net), l_)); \
    } while (0)

/* G: dense 4 -> 32, reshape 2 x 4 x 4, batchnorm, ReLU, transposed conv
 * to 1 x 8 x 8, tanh; D: conv, LeakyReLU, flatten, dense. */
static void nets(uint64_t seed, gm_net **g, gm_net **d)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, seed));
    GM_CK_OK(gm_net_create(g));
    GM_CK_OK(gm_net_create(d));
    ADD(*g, gm_dense_create(&l_, 4, 32, GM_INIT_HE, rng));
    ADD(*g, gm_reshape_create(&l_, 3, (size_t[]){2, 4, 4}));
    ADD(*g, gm_batchnorm_create(&l_, 2, 0.1f, 1e-5f));
    ADD(*g, gm_relu_create(&l_));
    ADD(*g, gm_conv_transpose2d_create(&l_, 2, 1, 4, 2, 1, GM_INIT_XAVIER, rng));
    ADD(*g, gm_tanh_create(&l_));
    ADD(*d, gm_conv2d_create(&l_, 1, 4, 4, 2, 1, GM_INIT_HE, rng));
    ADD(*d, gm_leaky_relu_create(&l_, 0.2f));
    ADD(*d, gm_flatten_create(&l_));
    ADD(*d, gm_dense_create(&l_, 64, 1, GM_INIT_XAVIER, rng));
    gm_rng_free(rng);
}

static gm_gan *make_gan(uint64_t seed, float ema)
{
    gm_net *g, *d;
    nets(seed, &g, &d);
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = 4;
    o.seed = seed;
    o.ema_decay = ema;
    gm_gan *gan;
    GM_CK_OK(gm_gan_create(&gan, g, d, &o));
    return gan;
}

/* Batch b of a fixed stream of [8 x 1 x 8 x 8] images in [-1, 1]. */
static gm_tensor *batch(size_t b)
{
    gm_tensor *t;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 1000 + b));
    GM_CK_OK(gm_tensor_create(&t, 4, (size_t[]){8, 1, 8, 8}));
    GM_CK_OK(gm_tensor_fill_uniform(t, rng));
    float *x = gm_tensor_data(t);
    for (size_t i = 0; i < gm_tensor_numel(t); i++) x[i] = 2.0f * x[i] - 1.0f;
    gm_rng_free(rng);
    return t;
}

static void steps(gm_gan *g, size_t from, size_t to)
{
    for (size_t b = from; b < to; b++) {
        gm_tensor *x = batch(b);
        GM_CK_OK(gm_gan_train_step(g, x, NULL, NULL));
        gm_tensor_free(x);
    }
}

static float *params(const gm_net *net, size_t *n)
{
    *n = gm_net_param_count(net);
    float *p = malloc((*n + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    GM_CK_OK(gm_net_get_params(net, p, *n));
    return p;
}

static int same_params(const gm_net *a, const gm_net *b)
{
    size_t na, nb;
    float *pa = params(a, &na), *pb = params(b, &nb);
    const int same = na == nb && memcmp(pa, pb, na * sizeof *pa) == 0;
    free(pa);
    free(pb);
    return same;
}

static float *ema_of(const gm_gan *gan, size_t n)
{
    float *p = malloc((n + 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    GM_CK_OK(gm_gan_ema_params(gan, p, n));
    return p;
}

/* gm_gan_generate on 5 fixed latents, malloc'd [5 x 64]. */
static float *generate(gm_gan *gan)
{
    gm_tensor *z, *out;
    GM_CK_OK(gm_tensor_create(&z, 2, (size_t[]){5, 4}));
    GM_CK_OK(gm_tensor_create(&out, 4, (size_t[]){5, 1, 8, 8}));
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 77));
    GM_CK_OK(gm_tensor_fill_normal(z, rng));
    GM_CK_OK(gm_gan_generate(gan, z, NULL, out));
    float *y = malloc(320 * sizeof *y);
    ck_assert_ptr_nonnull(y);
    memcpy(y, gm_tensor_data(out), 320 * sizeof *y);
    gm_rng_free(rng);
    gm_tensor_free(z);
    gm_tensor_free(out);
    return y;
}

/* The average is avg = d avg + (1 - d) G after every step, from G's
 * initial weights, with d = min(decay, (1 + t) / (10 + t)); training does
 * not depend on it. */
START_TEST(test_average_follows_formula)
{
    const float decay = 0.9f;
    gm_gan *on = make_gan(3, decay), *off = make_gan(3, 0.0f);
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    GM_CK_OK(gm_gan_get_options(on, &o));
    ck_assert(o.ema_decay == decay);
    size_t n;
    float *avg = params(gm_gan_generator(on), &n);
    float *got = ema_of(on, n);
    ck_assert(memcmp(avg, got, n * sizeof *avg) == 0); /* starts at G */
    free(got);
    for (size_t t = 0; t < 30; t++) {
        steps(on, t, t + 1);
        steps(off, t, t + 1);
        const double w = (1.0 + (double)t) / (10.0 + (double)t);
        const float d = w < (double)decay ? (float)w : decay, c = 1.0f - d;
        size_t m;
        float *p = params(gm_gan_generator(on), &m);
        for (size_t i = 0; i < n; i++) avg[i] = d * avg[i] + c * p[i];
        free(p);
        got = ema_of(on, n);
        ck_assert_msg(memcmp(avg, got, n * sizeof *avg) == 0, "the average differs after step %zu",
                      t + 1);
        free(got);
    }
    /* by now the average lags G: it is not G */
    got = ema_of(on, n);
    float *g = params(gm_gan_generator(on), &n);
    ck_assert(memcmp(got, g, n * sizeof *g) != 0);
    free(g);
    free(got);
    ck_assert(same_params(gm_gan_generator(on), gm_gan_generator(off)));
    ck_assert(same_params(gm_gan_discriminator(on), gm_gan_discriminator(off)));
    free(avg);
    gm_gan_free(on);
    gm_gan_free(off);
}
END_TEST

/* Generation uses the average; gm_gan_use_ema(gan, 0) gives the raw G,
 * which is the GAN without EMA; generating changes no weight. */
START_TEST(test_generation_uses_average)
{
    gm_gan *on = make_gan(5, 0.95f), *off = make_gan(5, 0.0f);
    steps(on, 0, 25);
    steps(off, 0, 25);
    size_t n;
    float *before = params(gm_gan_generator(on), &n);
    float *avg = generate(on), *raw_off = generate(off);
    GM_CK_OK(gm_gan_use_ema(on, 0));
    float *raw = generate(on);
    ck_assert(memcmp(raw, raw_off, 320 * sizeof(float)) == 0);
    ck_assert(memcmp(raw, avg, 320 * sizeof(float)) != 0);
    GM_CK_OK(gm_gan_use_ema(on, 1));
    float *avg2 = generate(on);
    ck_assert(memcmp(avg, avg2, 320 * sizeof(float)) == 0);
    float *after = params(gm_gan_generator(on), &n);
    ck_assert(memcmp(before, after, n * sizeof(float)) == 0);
    /* sampling too: the same z stream, different weights */
    gm_tensor *s1, *s2;
    GM_CK_OK(gm_tensor_create(&s1, 4, (size_t[]){6, 1, 8, 8}));
    GM_CK_OK(gm_tensor_create(&s2, 4, (size_t[]){6, 1, 8, 8}));
    GM_CK_OK(gm_gan_sample(on, 6, NULL, s1));
    GM_CK_OK(gm_gan_sample(off, 6, NULL, s2));
    ck_assert(memcmp(gm_tensor_data(s1), gm_tensor_data(s2), 384 * sizeof(float)) != 0);
    GM_CK_OK(gm_gan_use_ema(on, 0));
    GM_CK_OK(gm_gan_sample(on, 6, NULL, s1));
    GM_CK_OK(gm_gan_sample(off, 6, NULL, s2));
    ck_assert(memcmp(gm_tensor_data(s1), gm_tensor_data(s2), 384 * sizeof(float)) == 0);
    gm_tensor_free(s1);
    gm_tensor_free(s2);
    free(before);
    free(after);
    free(avg);
    free(avg2);
    free(raw);
    free(raw_off);
    gm_gan_free(on);
    gm_gan_free(off);
}
END_TEST

/* N steps, save, load, M more steps = N + M steps straight: same file,
 * same average, same samples. A GAN without EMA writes no EMA record. */
START_TEST(test_exact_resume)
{
    gm_test_dir_make("ema");
    const size_t N = 7, M = 6;
    gm_gan *first = make_gan(9, 0.99f);
    steps(first, 0, N);
    const char *p = gm_test_path("a.gmck");
    GM_CK_OK(gm_gan_save(first, p));
    float *gen_first = generate(first);
    gm_gan_free(first);
    gm_gan *resumed, *straight = make_gan(9, 0.99f);
    GM_CK_OK(gm_gan_load(&resumed, p));
    float *gen_loaded = generate(resumed);
    ck_assert(memcmp(gen_first, gen_loaded, 320 * sizeof(float)) == 0);
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    GM_CK_OK(gm_gan_get_options(resumed, &o));
    ck_assert(o.ema_decay == 0.99f);
    steps(resumed, N, N + M);
    steps(straight, 0, N + M);
    size_t n = gm_net_param_count(gm_gan_generator(straight));
    float *a = ema_of(straight, n), *b = ema_of(resumed, n);
    ck_assert(memcmp(a, b, n * sizeof *a) == 0);
    float *ga = generate(straight), *gb = generate(resumed);
    ck_assert(memcmp(ga, gb, 320 * sizeof(float)) == 0);
    GM_CK_OK(gm_gan_save(straight, gm_test_path("s.gmck")));
    GM_CK_OK(gm_gan_save(resumed, gm_test_path("r.gmck")));
    ck_assert(gm_test_files_equal(gm_test_path("s.gmck"), gm_test_path("r.gmck")));
    /* the EMA record (checkpoint format 2: a 16-byte record header, then
     * 4 (params + 2 x 2 batchnorm floats)) is all that makes the file
     * longer than the one of the same GAN without EMA */
    gm_gan *plain = make_gan(9, 0.0f);
    steps(plain, 0, N + M);
    GM_CK_OK(gm_gan_save(plain, gm_test_path("p.gmck")));
    size_t lp, ls;
    free(gm_test_read_file(gm_test_path("p.gmck"), &lp));
    free(gm_test_read_file(gm_test_path("s.gmck"), &ls));
    ck_assert_uint_eq(ls, lp + 16 + 4 * (n + 4));
    gm_gan *plain2;
    GM_CK_OK(gm_gan_load(&plain2, gm_test_path("p.gmck")));
    GM_CK_OK(gm_gan_get_options(plain2, &o));
    ck_assert(o.ema_decay == 0.0f);
    GM_CK_ERR(GM_ESTATE, "gm_gan_ema_params", gm_gan_ema_params(plain2, a, n));
    gm_gan_free(plain);
    gm_gan_free(plain2);
    free(a);
    free(b);
    free(ga);
    free(gb);
    free(gen_first);
    free(gen_loaded);
    gm_gan_free(straight);
    gm_gan_free(resumed);
    gm_test_dir_remove();
}
END_TEST

/* The options section is the file's last; rewrites its bytes from `at`
 * (offset from the section's payload end) and fixes its CRC. */
static void patch_last_section(unsigned char *img, size_t len, size_t sec, size_t from_end,
                               const void *bytes, size_t nb)
{
    if (nb) memcpy(img + len - from_end, bytes, nb);
    const uint32_t crc = (uint32_t)crc32(0L, img + sec + 16, (uInt)(len - sec - 16));
    for (int i = 0; i < 4; i++) img[sec + 4 + i] = (unsigned char)(crc >> (8 * i));
}

/* Damaged EMA records: a bad decay, a count that is not the generator's,
 * a non-finite average; each GM_EFORMAT, no GAN, no leak. */
START_TEST(test_damaged_ema_record)
{
    gm_test_dir_make("ema");
    gm_gan *g = make_gan(11, 0.9f);
    steps(g, 0, 3);
    const char *p = gm_test_path("g.gmck"), *bad = gm_test_path("bad.gmck");
    GM_CK_OK(gm_gan_save(g, p));
    const size_t n = gm_net_param_count(gm_gan_generator(g)), nema = n + 4;
    gm_gan_free(g);
    size_t len;
    unsigned char *img = gm_test_read_file(p, &len);
    /* the options section is the sixth and last; its records (format 2:
     * u32 id, u32 type, u64 length, value) end with ema_decay (a 4-byte
     * value), the three penalty options of 1.2 (4 bytes each), the step
     * count (8) and the average (4 nema) */
    size_t sec = 24;
    for (int k = 0; k < 5; k++) {
        uint64_t sl;
        memcpy(&sl, img + sec + 8, 8);
        sec += 16 + (size_t)sl;
    }
    const size_t payload = len - sec - 16, avg = 16 + 4 * nema, decay_at = avg + 24 + 3 * 20 + 4;
    uint32_t tag;
    memcpy(&tag, img + sec, 4);
    ck_assert_uint_eq(tag, 'G' | 'A' << 8 | 'N' << 16 | (uint32_t)'O' << 24);
    uint32_t id;
    memcpy(&id, img + len - avg, 4);
    ck_assert_uint_eq(id, 257); /* the average's record */
    memcpy(&id, img + len - decay_at - 16, 4);
    ck_assert_uint_eq(id, 8); /* ema_decay's record */
    const size_t live = gm_live_allocations();
    const float decays[4] = {0.0f, 1.0f, -0.5f, NAN};
    for (int k = 0; k < 5; k++) {
        unsigned char *c = malloc(len);
        ck_assert_ptr_nonnull(c);
        memcpy(c, img, len);
        if (k < 4) {
            patch_last_section(c, len, sec, decay_at, &decays[k], 4);
        } else {
            const float inf = INFINITY;
            patch_last_section(c, len, sec, 4, &inf, 4);
        }
        gm_test_write_file(bad, c, len);
        gm_gan *out = (gm_gan *)&out;
        GM_CK_ERR(GM_EFORMAT, "gm_gan_load", gm_gan_load(&out, bad));
        ck_assert_ptr_null(out);
        free(c);
    }
    /* averages of one float too few and one too many (the record and the
     * file shortened or grown to match) */
    for (int k = 0; k < 2; k++) {
        const size_t m = k ? nema + 1 : nema - 1, l2 = len - 4 * nema + 4 * m;
        unsigned char *c = calloc(l2, 1);
        ck_assert_ptr_nonnull(c);
        memcpy(c, img, k ? len : l2);
        const uint64_t bytes = 4 * m, slen = payload - 4 * nema + 4 * m;
        memcpy(c + len - 4 * nema - 8, &bytes, 8);
        memcpy(c + sec + 8, &slen, 8);
        patch_last_section(c, l2, sec, 0, NULL, 0);
        gm_test_write_file(bad, c, l2);
        gm_gan *out = NULL;
        GM_CK_ERR(GM_EFORMAT, "gm_gan_load", gm_gan_load(&out, bad));
        ck_assert_ptr_null(out);
        free(c);
    }
    /* every truncation inside the record */
    for (size_t cut = 1; cut < avg; cut += 3) {
        unsigned char *c = malloc(len);
        ck_assert_ptr_nonnull(c);
        memcpy(c, img, len);
        const uint64_t slen = payload - cut;
        memcpy(c + sec + 8, &slen, 8);
        patch_last_section(c, len - cut, sec, 0, NULL, 0);
        gm_test_write_file(bad, c, len - cut);
        gm_gan *out = NULL;
        GM_CK_ERR(GM_EFORMAT, "gm_gan_load", gm_gan_load(&out, bad));
        ck_assert_ptr_null(out);
        free(c);
    }
    ck_assert_uint_eq(gm_live_allocations(), live);
    free(img);
    gm_test_dir_remove();
}
END_TEST

START_TEST(test_bad_input)
{
    const size_t live = gm_live_allocations();
    const float bad[5] = {-0.1f, 1.0f, 1.5f, NAN, INFINITY};
    for (int k = 0; k < 5; k++) {
        gm_net *g, *d;
        nets(1, &g, &d);
        gm_gan_options o;
        GM_CK_OK(gm_gan_options_init(&o));
        o.latent = 4;
        o.ema_decay = bad[k];
        gm_gan *gan = (gm_gan *)&gan;
        GM_CK_ERR(GM_EINVAL, "gm_gan_create", gm_gan_create(&gan, g, d, &o));
        ck_assert_ptr_null(gan);
        ck_assert(strstr(gm_last_error(), "ema_decay") != NULL);
        /* the caller still owns the nets, free to use */
        gm_net_free(g);
        gm_net_free(d);
    }
    /* an options struct of before ema_decay: EMA off */
    gm_net *g, *d;
    nets(1, &g, &d);
    gm_gan_options o;
    GM_CK_OK(gm_gan_options_init(&o));
    o.latent = 4;
    o.ema_decay = 0.5f;
    o.size = offsetof(gm_gan_options, ema_decay);
    gm_gan *old;
    GM_CK_OK(gm_gan_create(&old, g, d, &o));
    GM_CK_OK(gm_gan_options_init(&o));
    GM_CK_OK(gm_gan_get_options(old, &o));
    ck_assert(o.ema_decay == 0.0f);
    float buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    GM_CK_ERR(GM_ESTATE, "gm_gan_use_ema", gm_gan_use_ema(old, 1));
    GM_CK_OK(gm_gan_use_ema(old, 0)); /* the raw G is all there is */
    GM_CK_ERR(GM_ESTATE, "gm_gan_ema_params", gm_gan_ema_params(old, buf, 8));
    gm_gan_free(old);

    gm_gan *gan = make_gan(2, 0.9f);
    steps(gan, 0, 2);
    const size_t n = gm_net_param_count(gm_gan_generator(gan));
    float *a = ema_of(gan, n);
    float *s0 = generate(gan);
    GM_CK_ERR(GM_EINVAL, "gm_gan_use_ema", gm_gan_use_ema(NULL, 1));
    GM_CK_ERR(GM_EINVAL, "gm_gan_use_ema", gm_gan_use_ema(gan, 2));
    GM_CK_ERR(GM_EINVAL, "gm_gan_use_ema", gm_gan_use_ema(gan, -1));
    GM_CK_ERR(GM_EINVAL, "gm_gan_ema_params", gm_gan_ema_params(NULL, buf, n));
    GM_CK_ERR(GM_EINVAL, "gm_gan_ema_params", gm_gan_ema_params(gan, NULL, n));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_ema_params", gm_gan_ema_params(gan, buf, n - 1));
    GM_CK_ERR(GM_ESHAPE, "gm_gan_ema_params", gm_gan_ema_params(gan, buf, 8));
    ck_assert(buf[0] == 1 && buf[7] == 8); /* not written */
    /* nothing changed: the same average, still sampling from it */
    float *a2 = ema_of(gan, n), *s1 = generate(gan);
    ck_assert(memcmp(a, a2, n * sizeof *a) == 0);
    ck_assert(memcmp(s0, s1, 320 * sizeof *s0) == 0);
    free(a);
    free(a2);
    free(s0);
    free(s1);
    gm_gan_free(gan);
    ck_assert_uint_eq(gm_live_allocations(), live);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gan_ema");
    TCase *tc = tcase_create("gan_ema");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_average_follows_formula);
    tcase_add_test(tc, test_generation_uses_average);
    tcase_add_test(tc, test_exact_resume);
    tcase_add_test(tc, test_damaged_ema_record);
    tcase_add_test(tc, test_bad_input);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
