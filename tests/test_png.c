/* SPDX-License-Identifier: MIT */
/* PNG sample grids (gm_png_write_grid): grids written in grayscale and
 * RGB, with and without padding, with empty cells, are read back through
 * libpng's own reader and compared pixel by pixel with an independently
 * built expected picture; the byte mapping is pinned on exact values;
 * every bad argument is an error that writes nothing; a failing
 * directory, rename or write (RLIMIT_FSIZE) is GM_EIO and leaves no
 * temporary file and the old picture intact; every failed allocation
 * (libpng's and zlib's included) is GM_ENOMEM with nothing leaked and
 * nothing written; several threads may write at once, also to one path. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <float.h>
#include <png.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gm_test.h"

/* ---- a scratch directory per test -------------------------------------- */

static char dir[256];

static void make_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gm-png.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    if (d == NULL) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (rmdir(p) != 0) unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static const char *in_dir(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

/* Number of entries in the scratch directory; fails on a temporary file. */
static int dir_entries(void)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        ck_assert_msg(strstr(e->d_name, ".tmp-") == NULL, "temporary file left: %s",
                      e->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static int exists(const char *path)
{
    struct stat s;
    return stat(path, &s) == 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* 1 if the file holds exactly `text`. */
static int file_is(const char *path, const char *text)
{
    char buf[256] = {0};
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    return n == strlen(text) && memcmp(buf, text, n) == 0;
}

/* ---- images and the expected picture ------------------------------------ */

static uint64_t lcg_state;
/* Uniform in [lo, hi). */
static float lcg(float lo, float hi)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (float)((lcg_state >> 40) * (1.0 / 16777216.0));
}

/* [n x c x h x w] with values in [-0.25, 1.25) (so clamping is exercised). */
static gm_tensor *make_images(size_t n, size_t c, size_t h, size_t w, uint64_t seed)
{
    size_t shape[4] = {n, c, h, w};
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, 4, shape));
    float *x = gm_tensor_data(t);
    lcg_state = seed;
    for (size_t i = 0; i < n * c * h * w; i++) x[i] = lcg(-0.25f, 1.25f);
    return t;
}

/* The documented mapping, computed in long double from the definition. */
static unsigned char to_byte(float v)
{
    long double x = v < 0 ? 0.0L : v > 1 ? 1.0L : (long double)v;
    return (unsigned char)floorl(255.0L * x + 0.5L);
}

/* The picture as the header describes it: padding everywhere, then each
 * image painted at the origin of its cell. Interleaved channels. */
static unsigned char *expected_picture(const gm_tensor *t, size_t rows, size_t cols,
                                       size_t pad, float pad_value, size_t *width,
                                       size_t *height)
{
    size_t n = gm_tensor_dim(t, 0), c = gm_tensor_dim(t, 1);
    size_t h = gm_tensor_dim(t, 2), w = gm_tensor_dim(t, 3);
    size_t W = cols * w + (cols + 1) * pad, H = rows * h + (rows + 1) * pad;
    unsigned char *pic = malloc(W * H * c);
    ck_assert_ptr_nonnull(pic);
    memset(pic, to_byte(pad_value), W * H * c);
    const float *x = gm_tensor_data_const(t);
    for (size_t k = 0; k < n; k++) {
        size_t oy = pad + (k / cols) * (h + pad), ox = pad + (k % cols) * (w + pad);
        for (size_t ch = 0; ch < c; ch++)
            for (size_t y = 0; y < h; y++)
                for (size_t xx = 0; xx < w; xx++)
                    pic[((oy + y) * W + ox + xx) * c + ch] =
                        to_byte(x[((k * c + ch) * h + y) * w + xx]);
    }
    *width = W;
    *height = H;
    return pic;
}

/* Reads a PNG with libpng's simplified API in its own format (8-bit gray
 * or RGB only: anything else fails). */
static unsigned char *read_png(const char *path, size_t *channels, size_t *width,
                               size_t *height)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    ck_assert_msg(png_image_begin_read_from_file(&im, path), "%s: %s", path, im.message);
    ck_assert_msg(im.format == PNG_FORMAT_GRAY || im.format == PNG_FORMAT_RGB,
                  "%s: format %u is not 8-bit gray or RGB", path, im.format);
    *channels = PNG_IMAGE_SAMPLE_CHANNELS(im.format);
    *width = im.width;
    *height = im.height;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(im));
    ck_assert_ptr_nonnull(buf);
    ck_assert_msg(png_image_finish_read(&im, NULL, buf, 0, NULL), "%s: %s", path,
                  im.message);
    png_image_free(&im);
    return buf;
}

/* Writes t as a grid, reads it back and compares every byte. */
static void check_grid(const char *path, const gm_tensor *t, size_t rows, size_t cols,
                       size_t pad, float pad_value)
{
    GM_CK_OK(gm_png_write_grid(path, t, rows, cols, pad, pad_value));
    size_t W, H, c, w, h;
    unsigned char *want = expected_picture(t, rows, cols, pad, pad_value, &W, &H);
    unsigned char *got = read_png(path, &c, &w, &h);
    ck_assert_uint_eq(c, gm_tensor_dim(t, 1));
    ck_assert_uint_eq(w, W);
    ck_assert_uint_eq(h, H);
    for (size_t i = 0; i < W * H * c; i++)
        ck_assert_msg(got[i] == want[i], "%s: byte %zu (x %zu, y %zu, ch %zu) is %u, want %u",
                      path, i, i / c % W, i / c / W, i % c, got[i], want[i]);
    free(got);
    free(want);
}

/* ---- pictures -------------------------------------------------------------- */

START_TEST(test_gray_full_grid_no_padding)
{
    make_dir();
    gm_tensor *t = make_images(6, 1, 5, 7, 1);
    check_grid(in_dir("a.png"), t, 2, 3, 0, 0.0f);
    ck_assert_int_eq(dir_entries(), 1);
    gm_tensor_free(t);
    remove_dir();
    ck_assert_uint_eq(gm_live_allocations(), 0);
}
END_TEST

START_TEST(test_gray_padding_empty_cells)
{
    make_dir();
    gm_tensor *t = make_images(5, 1, 4, 3, 2);
    check_grid(in_dir("b.png"), t, 3, 3, 2, 1.0f);  /* 4 empty cells */
    check_grid(in_dir("c.png"), t, 1, 5, 1, 0.5f);  /* one row */
    check_grid(in_dir("d.png"), t, 7, 1, 3, 0.25f); /* one column, 2 empty */
    ck_assert_int_eq(dir_entries(), 3);
    gm_tensor_free(t);
    remove_dir();
}
END_TEST

START_TEST(test_rgb_with_and_without_padding)
{
    make_dir();
    gm_tensor *t = make_images(5, 3, 4, 6, 3);
    check_grid(in_dir("e.png"), t, 1, 5, 0, 0.0f);
    check_grid(in_dir("f.png"), t, 2, 4, 2, 0.25f); /* 3 empty cells */
    gm_tensor_free(t);
    /* one image, one cell, a wide padding */
    t = make_images(1, 3, 2, 2, 4);
    check_grid(in_dir("g.png"), t, 1, 1, 5, 0.75f);
    gm_tensor_free(t);
    /* a picture of MNIST's size: 64 images of 28 x 28 */
    t = make_images(64, 1, 28, 28, 5);
    check_grid(in_dir("h.png"), t, 8, 8, 2, 1.0f);
    gm_tensor_free(t);
    remove_dir();
}
END_TEST

/* The byte mapping on values whose result is known exactly. */
START_TEST(test_value_mapping)
{
    make_dir();
    const float v[] = {-1e30f, -1.0f, -0.0f, 0.0f, FLT_MIN, 0.25f, 0.5f, 0.75f,
                       1.0f - FLT_EPSILON, 1.0f, 1.5f, 1e30f, 2.0f / 255.0f,
                       100.0f / 255.0f};
    const unsigned char want[] = {0, 0, 0, 0, 0, 64, 128, 191, 255, 255, 255, 255, 2, 100};
    size_t n = sizeof v / sizeof *v, shape[4] = {1, 1, 1, n};
    gm_tensor *t;
    GM_CK_OK(gm_tensor_from_data(&t, 4, shape, v));
    GM_CK_OK(gm_png_write_grid(in_dir("m.png"), t, 1, 1, 0, 0.0f));
    size_t c, w, h;
    unsigned char *got = read_png(in_dir("m.png"), &c, &w, &h);
    ck_assert_uint_eq(c, 1);
    ck_assert_uint_eq(w, n);
    ck_assert_uint_eq(h, 1);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(got[i] == want[i], "value %.9g gives %u, want %u", (double)v[i], got[i],
                      want[i]);
    free(got);
    gm_tensor_free(t);
    remove_dir();
}
END_TEST

/* An existing picture is replaced; the new file gets 0666 less the umask
 * (not mkstemp's 0600); a path without a directory works. */
START_TEST(test_replace_mode_relative_path)
{
    make_dir();
    const char *p = in_dir("r.png");
    write_file(p, "old picture");
    ck_assert_int_eq(chmod(p, 0600), 0);
    gm_tensor *t = make_images(2, 3, 3, 3, 6);
    check_grid(p, t, 1, 2, 1, 0.0f);
    ck_assert_int_eq(dir_entries(), 1);
    mode_t mask = umask(022);
    umask(mask);
    struct stat s;
    ck_assert_int_eq(stat(p, &s), 0);
    ck_assert_uint_eq(s.st_mode & 0777, 0666 & ~mask);

    char cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(chdir(dir), 0);
    gm_status st = gm_png_write_grid("rel.png", t, 2, 1, 0, 0.0f);
    ck_assert_int_eq(chdir(cwd), 0);
    GM_CK_OK(st);
    check_grid(in_dir("rel.png"), t, 2, 1, 0, 0.0f);
    ck_assert_int_eq(dir_entries(), 2);
    gm_tensor_free(t);
    remove_dir();
}
END_TEST

/* Width and height up to GM_PNG_MAX_SIDE, not one pixel more. */
START_TEST(test_size_limit)
{
    make_dir();
    size_t shape[4] = {2, 1, 1, GM_PNG_MAX_SIDE / 2};
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, 4, shape));
    GM_CK_OK(gm_tensor_fill(t, 0.5f));
    const char *p = in_dir("wide.png");
    GM_CK_OK(gm_png_write_grid(p, t, 1, 2, 0, 0.0f));
    size_t c, w, h;
    unsigned char *got = read_png(p, &c, &w, &h);
    ck_assert_uint_eq(w, GM_PNG_MAX_SIDE);
    ck_assert_uint_eq(h, 1);
    ck_assert_uint_eq(got[0], 128);
    ck_assert_uint_eq(got[GM_PNG_MAX_SIDE - 1], 128);
    free(got);
    ck_assert_int_eq(unlink(p), 0);
    GM_CK_ERR(GM_EINVAL, "gm_png_write_grid", gm_png_write_grid(p, t, 1, 2, 1, 0.0f));
    GM_CK_ERR(GM_EINVAL, "gm_png_write_grid", gm_png_write_grid(p, t, 1, 3, 0, 0.0f));
    GM_CK_ERR(GM_EINVAL, "gm_png_write_grid",
              gm_png_write_grid(p, t, 1, 2, SIZE_MAX, 0.0f));
    GM_CK_ERR(GM_EINVAL, "gm_png_write_grid",
              gm_png_write_grid(p, t, 1, SIZE_MAX, 0, 0.0f));
    GM_CK_ERR(GM_EINVAL, "gm_png_write_grid",
              gm_png_write_grid(p, t, SIZE_MAX, SIZE_MAX, 0, 0.0f));
    gm_tensor_free(t);
    /* tall: 65536 rows of one pixel with padding 0 pass, padding 1 does not */
    size_t tall[4] = {1, 1, GM_PNG_MAX_SIDE, 1};
    GM_CK_OK(gm_tensor_create(&t, 4, tall));
    GM_CK_OK(gm_png_write_grid(p, t, 1, 1, 0, 0.0f));
    GM_CK_ERR(GM_EINVAL, "gm_png_write_grid", gm_png_write_grid(p, t, 1, 1, 1, 0.0f));
    gm_tensor_free(t);
    ck_assert_int_eq(dir_entries(), 1);
    remove_dir();
}
END_TEST

/* ---- bad arguments: an error with a message, nothing written -------------- */

START_TEST(test_bad_arguments)
{
    make_dir();
    const char *p = in_dir("bad.png");
    gm_tensor *t = make_images(6, 1, 4, 4, 7);
    const char *fn = "gm_png_write_grid";
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(NULL, t, 2, 3, 0, 0.0f));
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid("", t, 2, 3, 0, 0.0f));
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, NULL, 2, 3, 0, 0.0f));
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 0, 3, 0, 0.0f));
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 2, 0, 0, 0.0f));
    /* 6 images in 5 cells */
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 1, 5, 0, 0.0f));
    ck_assert_msg(strstr(gm_last_error(), "6 images") != NULL, "%s", gm_last_error());
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 2, 3, 0, NAN));
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 2, 3, 0, INFINITY));
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 2, 3, 0, -0.01f));
    GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 2, 3, 0, 1.01f));
    ck_assert_msg(strstr(gm_last_error(), "pad_value") != NULL, "%s", gm_last_error());

    /* a non-finite pixel anywhere, also in the last image */
    float *x = gm_tensor_data(t);
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t i = 0; i < 3; i++) {
        size_t at = i == 0 ? 0 : i == 1 ? 50 : gm_tensor_numel(t) - 1;
        float keep = x[at];
        x[at] = bad[i];
        GM_CK_ERR(GM_EINVAL, fn, gm_png_write_grid(p, t, 2, 3, 1, 0.0f));
        char idx[32];
        snprintf(idx, sizeof idx, "images[%zu]", at);
        ck_assert_msg(strstr(gm_last_error(), idx) != NULL, "%s", gm_last_error());
        x[at] = keep;
    }
    gm_tensor_free(t);

    /* rank and channels */
    size_t r3[3] = {2, 4, 4}, r2[2] = {2, 16};
    const size_t chans[] = {2, 4};
    GM_CK_OK(gm_tensor_create(&t, 3, r3));
    GM_CK_ERR(GM_ESHAPE, fn, gm_png_write_grid(p, t, 1, 2, 0, 0.0f));
    ck_assert_msg(strstr(gm_last_error(), "rank") != NULL, "%s", gm_last_error());
    gm_tensor_free(t);
    GM_CK_OK(gm_tensor_create(&t, 2, r2));
    GM_CK_ERR(GM_ESHAPE, fn, gm_png_write_grid(p, t, 1, 2, 0, 0.0f));
    gm_tensor_free(t);
    for (size_t i = 0; i < 2; i++) {
        size_t s4[4] = {1, chans[i], 2, 2};
        GM_CK_OK(gm_tensor_create(&t, 4, s4));
        GM_CK_ERR(GM_ESHAPE, fn, gm_png_write_grid(p, t, 1, 1, 0, 0.0f));
        ck_assert_msg(strstr(gm_last_error(), "channels") != NULL, "%s", gm_last_error());
        gm_tensor_free(t);
    }
    ck_assert(!exists(p));
    ck_assert_int_eq(dir_entries(), 0);
    remove_dir();
    ck_assert_uint_eq(gm_live_allocations(), 0);
}
END_TEST

/* ---- I/O failures: GM_EIO, no temporary file, the old picture intact ------ */

START_TEST(test_io_errors)
{
    make_dir();
    const char *fn = "gm_png_write_grid";
    gm_tensor *t = make_images(2, 1, 3, 3, 8);
    /* the directory does not exist */
    GM_CK_ERR(GM_EIO, fn, gm_png_write_grid(in_dir("no/such/dir/x.png"), t, 1, 2, 0, 0.0f));
    ck_assert_msg(strstr(gm_last_error(), strerror(ENOENT)) != NULL, "%s", gm_last_error());
    /* a parent is a regular file */
    write_file(in_dir("file"), "x");
    GM_CK_ERR(GM_EIO, fn, gm_png_write_grid(in_dir("file/x.png"), t, 1, 2, 0, 0.0f));
    ck_assert_msg(strstr(gm_last_error(), strerror(ENOTDIR)) != NULL, "%s", gm_last_error());
    /* path is a directory: refused before anything is written */
    char sub[512];
    snprintf(sub, sizeof sub, "%s", in_dir("sub"));
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    GM_CK_ERR(GM_EIO, fn, gm_png_write_grid(sub, t, 1, 2, 0, 0.0f));
    ck_assert_msg(strstr(gm_last_error(), "not a regular file") != NULL, "%s", gm_last_error());
    struct stat st;
    ck_assert(exists(sub) && stat(sub, &st) == 0 && S_ISDIR(st.st_mode));
    ck_assert_int_eq(dir_entries(), 2); /* file, sub: no temporary file */
    gm_tensor_free(t);
    remove_dir();
    ck_assert_uint_eq(gm_live_allocations(), 0);
}
END_TEST

/* Writes with the file size limited to `limit` bytes (SIGXFSZ ignored, so
 * write(2) fails with EFBIG); restores the limit before returning, so that
 * Check's own files are not affected. */
static gm_status write_limited(const char *path, const gm_tensor *t, size_t rows,
                               size_t cols, rlim_t limit)
{
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = limit;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    gm_clear_error();
    gm_status st = gm_png_write_grid(path, t, rows, cols, 0, 0.0f);
    int restored = setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    ck_assert_int_eq(restored, 0);
    return st;
}

START_TEST(test_write_error_keeps_old_file)
{
    make_dir();
    const char *p = in_dir("w.png");
    write_file(p, "old picture");
    /* noise does not compress: ~48 KiB, fails inside libpng's writes */
    gm_tensor *t = make_images(16, 3, 32, 32, 9);
    gm_status st = write_limited(p, t, 4, 4, 4096);
    ck_assert_msg(st == GM_EIO, "%s: %s", gm_status_string(st), gm_last_error());
    ck_assert_msg(strstr(gm_last_error(), strerror(EFBIG)) != NULL, "%s", gm_last_error());
    ck_assert(file_is(p, "old picture"));
    ck_assert_int_eq(dir_entries(), 1);
    gm_tensor_free(t);
    /* a small picture fails at the last flush, after libpng is done */
    t = make_images(1, 3, 8, 8, 10);
    st = write_limited(p, t, 1, 1, 64);
    ck_assert_msg(st == GM_EIO, "%s: %s", gm_status_string(st), gm_last_error());
    ck_assert(file_is(p, "old picture"));
    ck_assert_int_eq(dir_entries(), 1);
    /* with room it works */
    check_grid(p, t, 1, 1, 0, 0.0f);
    gm_tensor_free(t);
    remove_dir();
    ck_assert_uint_eq(gm_live_allocations(), 0);
}
END_TEST

/* ---- failed allocations --------------------------------------------------- */

typedef struct {
    long calls;      /* malloc + realloc calls so far */
    long fail_at;    /* first call to fail (0-based), -1 = never */
    int persistent;  /* fail every call from fail_at on, not only that one */
    long failures;
} failing;

static failing fa;

static int should_fail(void)
{
    long i = fa.calls++;
    if (fa.fail_at < 0 || i < fa.fail_at || (!fa.persistent && i > fa.fail_at)) return 0;
    fa.failures++;
    return 1;
}
static void *f_malloc(void *u, size_t n)
{
    (void)u;
    return should_fail() ? NULL : malloc(n);
}
static void *f_realloc(void *u, void *p, size_t n)
{
    (void)u;
    return should_fail() ? NULL : realloc(p, n);
}
static void f_free(void *u, void *p)
{
    (void)u;
    free(p);
}

/* Fails allocation k (and, persistent, every later one) for k = 0, 1, ...
 * until a write succeeds: each failure is GM_ENOMEM, nothing leaks, the
 * old picture is intact and no temporary file is left. */
static void oom_loop(int persistent)
{
    make_dir();
    const char *p = in_dir("oom.png");
    write_file(p, "old picture");
    fa = (failing){0, -1, persistent, 0};
    gm_allocator a = {f_malloc, f_realloc, f_free, NULL};
    GM_CK_OK(gm_set_allocator(&a));
    gm_tensor *t = make_images(5, 3, 6, 5, 11);
    size_t base = gm_live_allocations();
    long k;
    for (k = 0; k < 1000; k++) {
        fa.fail_at = fa.calls + k;
        fa.failures = 0;
        gm_clear_error();
        gm_status st = gm_png_write_grid(p, t, 2, 3, 1, 0.5f);
        long failures = fa.failures;
        fa.fail_at = -1;
        ck_assert_msg(gm_live_allocations() == base, "k=%ld: %zu blocks leak", k,
                      gm_live_allocations() - base);
        if (failures == 0) {
            GM_CK_OK(st);
            break;
        }
        ck_assert_msg(st == GM_ENOMEM, "k=%ld: %s (%s)", k, gm_status_string(st),
                      gm_last_error());
        ck_assert_msg(strstr(gm_last_error(), "gm_png_write_grid") != NULL, "k=%ld: %s",
                      k, gm_last_error());
        ck_assert_msg(file_is(p, "old picture"), "k=%ld: the old picture changed", k);
        ck_assert_int_eq(dir_entries(), 1);
    }
    /* the row, the name, libpng's structs, zlib's state and buffers */
    ck_assert_msg(k >= 6 && k < 1000, "fault points exercised: %ld", k);
    check_grid(p, t, 2, 3, 1, 0.5f);
    gm_tensor_free(t);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
    remove_dir();
}

START_TEST(test_every_allocation_failure_transient) { oom_loop(0); }
END_TEST

START_TEST(test_every_allocation_failure_persistent) { oom_loop(1); }
END_TEST

/* libpng's allocations go through the allocator hook: all of them are
 * freed, and they are more than the library's own two. */
START_TEST(test_libpng_uses_the_hook)
{
    make_dir();
    fa = (failing){0, -1, 0, 0};
    gm_allocator a = {f_malloc, f_realloc, f_free, NULL};
    GM_CK_OK(gm_set_allocator(&a));
    gm_tensor *t = make_images(4, 1, 8, 8, 12);
    long before = fa.calls;
    check_grid(in_dir("hook.png"), t, 2, 2, 0, 0.0f);
    ck_assert_msg(fa.calls - before > 4, "only %ld allocations", fa.calls - before);
    gm_tensor_free(t);
    ck_assert_uint_eq(gm_live_allocations(), 0);
    GM_CK_OK(gm_set_allocator(NULL));
    remove_dir();
}
END_TEST

/* ---- threads ------------------------------------------------------------------ */

typedef struct {
    const gm_tensor *t;
    char path[512];
    int failures;
} job;

static void *writer(void *arg)
{
    job *j = arg;
    for (int i = 0; i < 10; i++)
        if (gm_png_write_grid(j->path, j->t, 3, 3, 1, 0.0f) != GM_OK) j->failures++;
    return NULL;
}

/* Four threads write their own files, then four write the same path: each
 * call succeeds (distinct temporary names) and the result is whole. */
START_TEST(test_threads)
{
    make_dir();
    gm_tensor *t = make_images(9, 3, 8, 8, 13);
    for (int same = 0; same < 2; same++) {
        job jobs[4];
        pthread_t th[4];
        for (int i = 0; i < 4; i++) {
            jobs[i].t = t;
            jobs[i].failures = 0;
            snprintf(jobs[i].path, sizeof jobs[i].path, "%s/t%d.png", dir, same ? 9 : i);
            ck_assert_int_eq(pthread_create(&th[i], NULL, writer, &jobs[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            ck_assert_int_eq(pthread_join(th[i], NULL), 0);
            ck_assert_int_eq(jobs[i].failures, 0);
        }
        for (int i = 0; i < 4; i++) {
            size_t W, H, c, w, h;
            unsigned char *want = expected_picture(t, 3, 3, 1, 0.0f, &W, &H);
            unsigned char *got = read_png(jobs[i].path, &c, &w, &h);
            ck_assert(c == 3 && w == W && h == H);
            ck_assert(memcmp(got, want, W * H * c) == 0);
            free(got);
            free(want);
        }
    }
    ck_assert_int_eq(dir_entries(), 5);
    gm_tensor_free(t);
    remove_dir();
    ck_assert_uint_eq(gm_live_allocations(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("png");
    TCase *tc = tcase_create("png");
    tcase_add_test(tc, test_gray_full_grid_no_padding);
    tcase_add_test(tc, test_gray_padding_empty_cells);
    tcase_add_test(tc, test_rgb_with_and_without_padding);
    tcase_add_test(tc, test_value_mapping);
    tcase_add_test(tc, test_replace_mode_relative_path);
    tcase_add_test(tc, test_size_limit);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_io_errors);
    tcase_add_test(tc, test_write_error_keeps_old_file);
    tcase_add_test(tc, test_every_allocation_failure_transient);
    tcase_add_test(tc, test_every_allocation_failure_persistent);
    tcase_add_test(tc, test_libpng_uses_the_hook);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
