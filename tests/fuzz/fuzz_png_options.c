/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the PNG grid writer's arguments and the options
 * structs, the inputs that come from callers rather than from files.
 *
 * The first byte picks what the rest of the input is:
 *   0  gm_png_write_grid: rows, cols, padding, N, C, H, W, the rank (3 or
 *      4), the path (a scratch file, "" or a directory) and pad_value (4
 *      bytes, any float) from the next bytes, then one byte per pixel
 *      (0xff NaN, 0xfe +inf, 0xfd -inf, else b / 200 - 0.1, so values
 *      below 0 and above 1 occur). Pictures above 2^20 pixels that are
 *      within GM_PNG_MAX_SIDE are not written (slow, not wrong). On
 *      GM_OK the file must start with the PNG signature and an IHDR of the
 *      documented width, height, bit depth 8 and colour type (0 gray, 2
 *      RGB).
 *   1  gm_vae_options  (gm_vae_create on tiny nets; then a train step and
 *      a sample)
 *   2  gm_gan_options  (gm_gan_create; then a train step)
 *   3  gm_optimizer_options (gm_optimizer_create; then a step)
 *   4  gm_fit_options  (gm_vae_fit on 8 rows; epochs taken modulo 4)
 *   5  gm_eval_options (gm_eval_images on 6 + 6 tiny images)
 *      The struct's bytes are the input's (its `size` field included,
 *      zero-padded to the struct's size), in a heap buffer of exactly
 *      max(sizeof, size) bytes when size <= 8192, so that reading past
 *      the caller's `size` is an ASan error. Pointer fields (the
 *      optimizer settings of the VAE and GAN options) are replaced by NULL
 *      or by a fuzzed gm_optimizer_options of the right size.
 * Every call must return GM_OK or a documented error naming the function
 * and leave gm_live_allocations() where it was.
 *
 * Seeds: tests/fuzz/corpus/png_options/ (one or more per case, made by
 * tests/fuzz/png_options_seeds.py).
 */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <genmodel/genmodel.h>

#include "fuzz_common.h"

static char g_file[256], g_dir[256];

static void remove_scratch(void)
{
    unlink(g_file);
    rmdir(g_dir);
}

static void scratch_init(void)
{
    if (g_file[0]) return;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_file, sizeof g_file, "%s/gm-fuzz-png-%ld.png", dir, (long)getpid());
    snprintf(g_dir, sizeof g_dir, "%s/gm-fuzz-png-%ld.d", dir, (long)getpid());
    (void)mkdir(g_dir, 0700);
    atexit(remove_scratch);
}

/* A cursor over the input: bytes past the end read as 0. */
typedef struct cursor {
    const uint8_t *p;
    size_t n;
} cursor;

static uint8_t u8(cursor *c)
{
    if (c->n == 0) return 0;
    c->n--;
    return *c->p++;
}

static void take(cursor *c, void *dst, size_t n)
{
    memset(dst, 0, n);
    size_t k = n < c->n ? n : c->n;
    memcpy(dst, c->p, k);
    c->p += k;
    c->n -= k;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- the PNG writer --------------------------------------------------------- */

static void fuzz_png(cursor *c)
{
    size_t rows = u8(c), cols = u8(c), padding = u8(c);
    size_t n = u8(c) % 10, ch = 1 + u8(c) % 4, h = 1 + u8(c) % 16, w = 1 + u8(c) % 16;
    uint8_t flags = u8(c);
    float pad_value;
    take(c, &pad_value, sizeof pad_value);
    if (flags & 0x10) pad_value = (float)(flags & 0x0f) / 15.0f; /* mostly valid */
    if (n == 0) n = 1;

    /* picture size as documented, in 64 bits: no overflow for bytes */
    uint64_t pw = (uint64_t)cols * w + (uint64_t)(cols + 1) * padding;
    uint64_t ph = (uint64_t)rows * h + (uint64_t)(rows + 1) * padding;
    int too_big = pw <= GM_PNG_MAX_SIDE && ph <= GM_PNG_MAX_SIDE && pw * ph > (1u << 20);
    if (too_big) return;

    int rank = flags & 0x20 ? 3 : 4;
    size_t shape[4] = {n, ch, h, w};
    gm_tensor *t = NULL;
    FUZZ_ASSERT(gm_tensor_create(&t, (size_t)rank, shape) == GM_OK);
    float *d = gm_tensor_data(t);
    for (size_t i = 0; i < gm_tensor_numel(t); i++) {
        uint8_t b = u8(c);
        d[i] = b == 0xff ? NAN : b == 0xfe ? INFINITY : b == 0xfd ? -INFINITY
                                                                  : b / 200.0f - 0.1f;
    }
    const char *path = (flags & 0xc0) == 0x40 ? "" : (flags & 0xc0) == 0x80 ? g_dir : g_file;
    unlink(g_file);
    gm_status st = gm_png_write_grid(path, t, rows, cols, padding, pad_value);
    fuzz_check_status("gm_png_write_grid", st);
    if (st == GM_OK) {
        FUZZ_ASSERT(path == g_file && rank == 4 && (ch == 1 || ch == 3));
        FILE *f = fopen(g_file, "rb");
        FUZZ_ASSERT(f != NULL);
        uint8_t head[26];
        FUZZ_ASSERT(fread(head, 1, sizeof head, f) == sizeof head);
        fclose(f);
        static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
        FUZZ_ASSERT(memcmp(head, sig, 8) == 0 && memcmp(head + 12, "IHDR", 4) == 0);
        FUZZ_ASSERT(be32(head + 16) == pw && be32(head + 20) == ph);
        FUZZ_ASSERT(head[24] == 8 && head[25] == (ch == 1 ? 0 : 2));
    } else {
        /* nothing is written on failure */
        FUZZ_ASSERT(path != g_file || access(g_file, F_OK) != 0);
    }
    gm_tensor_free(t);
}

/* ---- the options structs ------------------------------------------------------- */

/* A heap copy of the struct's bytes from the input: `size` (its first
 * field) as fuzzed; the buffer holds max(known, size) bytes when size <=
 * 8192, else known bytes (the library must refuse such a size before it
 * reads further). */
static void *options_bytes(cursor *c, size_t known)
{
    size_t size;
    take(c, &size, sizeof size);
    size_t len = size <= 8192 && size > known ? size : known;
    uint8_t *buf = calloc(1, len);
    FUZZ_ASSERT(buf != NULL);
    memcpy(buf, &size, sizeof size);
    take(c, buf + sizeof size, len - sizeof size);
    return buf;
}

/* NULL or a fuzzed optimizer struct of the right size (flag bit). */
static gm_optimizer_options *optimizer_arg(cursor *c, gm_optimizer_options *store)
{
    if (!(u8(c) & 1)) return NULL;
    take(c, store, sizeof *store);
    store->size = sizeof *store;
    return store;
}

static gm_net *mlp(size_t in, size_t hidden, size_t out)
{
    gm_rng *rng = NULL;
    gm_net *net = NULL;
    gm_layer *l1 = NULL, *act = NULL, *l2 = NULL;
    FUZZ_ASSERT(gm_rng_create(&rng, 7) == GM_OK && gm_net_create(&net) == GM_OK);
    FUZZ_ASSERT(gm_dense_create(&l1, in, hidden, GM_INIT_HE, rng) == GM_OK);
    FUZZ_ASSERT(gm_net_add(net, l1) == GM_OK);
    FUZZ_ASSERT(gm_relu_create(&act) == GM_OK && gm_net_add(net, act) == GM_OK);
    FUZZ_ASSERT(gm_dense_create(&l2, hidden, out, GM_INIT_HE, rng) == GM_OK);
    FUZZ_ASSERT(gm_net_add(net, l2) == GM_OK);
    gm_rng_free(rng);
    return net;
}

static gm_tensor *filled(size_t n, size_t d, float v)
{
    size_t shape[2] = {n, d};
    gm_tensor *t = NULL;
    FUZZ_ASSERT(gm_tensor_create(&t, 2, shape) == GM_OK);
    gm_tensor_fill(t, v);
    return t;
}

#define D 4
static const int32_t k_labels[8] = {0, 1, 0, 1, 1, 0, 1, 0};

/* A VAE from fuzzed options: latent and num_classes decide the nets. */
static void fuzz_vae_options(cursor *c)
{
    gm_vae_options *o = options_bytes(c, sizeof(gm_vae_options));
    gm_optimizer_options opt;
    o->optimizer = optimizer_arg(c, &opt);
    size_t L = o->latent >= 1 && o->latent <= 8 ? o->latent : 2;
    size_t C = o->num_classes <= 4 ? o->num_classes : 0;
    size_t out = o->likelihood == GM_LIKELIHOOD_GAUSSIAN_LEARNED ? 2 * D : D;
    gm_net *enc = mlp(D + C, 6, 2 * L), *dec = mlp(L + C, 6, out);
    gm_vae *vae = NULL;
    gm_status st = gm_vae_create(&vae, enc, dec, (const gm_vae_options *)o);
    fuzz_check_status("gm_vae_create", st);
    FUZZ_ASSERT((st == GM_OK) == (vae != NULL));
    if (vae != NULL) {
        const int32_t *lab = C >= 2 ? k_labels : NULL;
        gm_tensor *x = filled(4, D, 0.25f), *s = filled(2, D, 0.0f);
        st = gm_vae_train_step(vae, x, lab, NULL);
        fuzz_check_status("gm_vae_train_step", st);
        st = gm_vae_sample(vae, 2, lab, s);
        fuzz_check_status("gm_vae_sample", st);
        gm_vae_options back;
        FUZZ_ASSERT(gm_vae_options_init(&back) == GM_OK);
        FUZZ_ASSERT(gm_vae_get_options(vae, &back) == GM_OK);
        FUZZ_ASSERT(back.latent == o->latent);
        gm_tensor_free(x);
        gm_tensor_free(s);
        gm_vae_free(vae);
    } else {
        gm_net_free(enc);
        gm_net_free(dec);
    }
    free(o);
}

static void fuzz_gan_options(cursor *c)
{
    gm_gan_options *o = options_bytes(c, sizeof(gm_gan_options));
    gm_optimizer_options go, dopt;
    o->g_optimizer = optimizer_arg(c, &go);
    o->d_optimizer = optimizer_arg(c, &dopt);
    size_t L = o->latent >= 1 && o->latent <= 8 ? o->latent : 2;
    size_t C = o->num_classes <= 4 ? o->num_classes : 0;
    gm_net *g = mlp(L + C, 6, D), *d = mlp(D + C, 6, 1);
    gm_gan *gan = NULL;
    gm_status st = gm_gan_create(&gan, g, d, (const gm_gan_options *)o);
    fuzz_check_status("gm_gan_create", st);
    FUZZ_ASSERT((st == GM_OK) == (gan != NULL));
    if (gan != NULL) {
        gm_tensor *x = filled(4, D, 0.25f);
        st = gm_gan_train_step(gan, x, C >= 2 ? k_labels : NULL, NULL);
        fuzz_check_status("gm_gan_train_step", st);
        gm_tensor_free(x);
        gm_gan_free(gan);
    } else {
        gm_net_free(g);
        gm_net_free(d);
    }
    free(o);
}

static void fuzz_optimizer_options(cursor *c)
{
    gm_optimizer_options *o = options_bytes(c, sizeof(gm_optimizer_options));
    gm_net *net = mlp(D, 4, 2);
    gm_optimizer *opt = NULL;
    gm_status st = gm_optimizer_create(&opt, net, o);
    fuzz_check_status("gm_optimizer_create", st);
    FUZZ_ASSERT((st == GM_OK) == (opt != NULL));
    if (opt != NULL) {
        gm_tensor *x = filled(2, D, 0.5f), *y = filled(2, 2, 0.0f);
        FUZZ_ASSERT(gm_net_forward(net, x, y) == GM_OK);
        gm_tensor_fill(y, 1.0f);
        FUZZ_ASSERT(gm_net_backward(net, y, NULL) == GM_OK);
        st = gm_optimizer_step(opt, net);
        fuzz_check_status("gm_optimizer_step", st);
        gm_tensor_free(x);
        gm_tensor_free(y);
        gm_optimizer_free(opt);
    }
    gm_net_free(net);
    free(o);
}

static int stop_after_two(void *user, const gm_fit_progress *p, const gm_vae_stats *m)
{
    (void)p;
    (void)m;
    return ++*(int *)user >= 2;
}

static void fuzz_fit_options(cursor *c)
{
    gm_fit_options *o = options_bytes(c, sizeof(gm_fit_options));
    o->epochs %= 4; /* a long fit is not a bug; 0 stays (refused) */
    int use_cb = u8(c) & 1, calls = 0;
    gm_vae_options vo;
    FUZZ_ASSERT(gm_vae_options_init(&vo) == GM_OK);
    vo.latent = 2;
    gm_vae *vae = NULL;
    FUZZ_ASSERT(gm_vae_create(&vae, mlp(D, 6, 4), mlp(2, 6, D), &vo) == GM_OK);
    gm_tensor *x = filled(8, D, 0.25f);
    gm_status st = gm_vae_fit(vae, x, NULL, o, use_cb ? stop_after_two : NULL, &calls);
    fuzz_check_status("gm_vae_fit", st);
    gm_tensor_free(x);
    gm_vae_free(vae);
    free(o);
}

static void fuzz_eval_options(cursor *c)
{
    gm_eval_options *o = options_bytes(c, sizeof(gm_eval_options));
    int with_train = u8(c) & 1;
    gm_net *feat = mlp(D, 4, 3);
    gm_tensor *s = filled(6, D, 0.25f), *r = filled(6, D, 0.5f), *t = filled(5, D, 0.75f);
    float *sd = gm_tensor_data(s), *rd = gm_tensor_data(r);
    for (size_t i = 0; i < 6 * D; i++) { /* spread, so covariances are not singular */
        sd[i] = (float)((i * 7) % 11) / 11.0f;
        rd[i] = (float)((i * 5) % 13) / 13.0f;
    }
    gm_eval_report rep = GM_EVAL_REPORT_INIT;
    gm_status st = gm_eval_images(&rep, feat, s, r, with_train ? t : NULL, NULL, o);
    fuzz_check_status("gm_eval_images", st);
    gm_tensor_free(s);
    gm_tensor_free(r);
    gm_tensor_free(t);
    gm_net_free(feat);
    free(o);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    scratch_init();
    gm_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scratch_init();
    size_t live = gm_live_allocations();
    cursor c = {data, size};
    switch (u8(&c) % 6) {
    case 0: fuzz_png(&c); break;
    case 1: fuzz_vae_options(&c); break;
    case 2: fuzz_gan_options(&c); break;
    case 3: fuzz_optimizer_options(&c); break;
    case 4: fuzz_fit_options(&c); break;
    default: fuzz_eval_options(&c); break;
    }
    FUZZ_ASSERT(gm_live_allocations() == live);
    return 0;
}
