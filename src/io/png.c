/* SPDX-License-Identifier: MIT */
/* PNG writer for grids of sample images, through libpng with the
 * library's allocator. libpng reports every error (out of memory inside
 * libpng or zlib, a failed write) by longjmp back to the setjmp in
 * gm__png_encode, which frees what libpng owns; the caller then removes the
 * temporary file. Rows are made one at a time, so memory stays at one row
 * plus libpng's own state whatever the picture size.
 *
 * The file is replaced atomically through io/atomic.h. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <genmodel/io.h>

#include "core/internal.h"
#include "engine/engine.h"
#include "io/atomic.h"

#define GM__PNG_BUF 16384  /* bytes buffered between write(2) calls */

/* The picture: the images, the grid geometry and the padding byte. */
typedef struct gm__png_grid {
    const float *data; /* [n x c x h x w] */
    size_t n, c, h, w;
    size_t cols, padding;
    size_t width, height; /* of the picture, in pixels */
    unsigned char pad;
} gm__png_grid;

/* Where the bytes go (a file descriptor behind a buffer) and, after a
 * longjmp out of libpng, why. Reached from libpng's callbacks through its
 * io, error and mem pointers. */
typedef struct gm__png_out {
    png_structp png;
    png_infop info;
    int fd;
    int oom;         /* an allocation failed */
    int write_errno; /* nonzero: write(2) failed with this errno */
    char msg[160];   /* libpng's error message */
    size_t len;      /* bytes waiting in buf */
    unsigned char buf[GM__PNG_BUF];
} gm__png_out;

/* floor(255 * clamp(v, 0, 1) + 0.5) for finite v. In double, v * 255 and
 * the + 0.5 are exact, so this is the exact rounding of the real value. */
static unsigned char gm__png_byte(float v)
{
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (unsigned char)((double)v * 255.0 + 0.5);
}

/* Picture row y: padding, then the images of grid row (y - padding) /
 * (h + padding) side by side, channels interleaved (RGBRGB...). */
static void gm__png_fill_row(const gm__png_grid *g, size_t y, unsigned char *row)
{
    memset(row, g->pad, g->width * g->c);
    if (y < g->padding) return;
    size_t gy = (y - g->padding) / (g->h + g->padding);
    size_t iy = (y - g->padding) % (g->h + g->padding);
    if (iy >= g->h) return;
    size_t plane = g->h * g->w, image = g->c * plane;
    for (size_t gx = 0; gx < g->cols; gx++) {
        size_t k = gy * g->cols + gx;
        if (k >= g->n) break;
        unsigned char *dst = row + (g->padding + gx * (g->w + g->padding)) * g->c;
        const float *src = g->data + k * image + iy * g->w;
        for (size_t x = 0; x < g->w; x++)
            for (size_t ch = 0; ch < g->c; ch++)
                dst[x * g->c + ch] = gm__png_byte(src[ch * plane + x]);
    }
}

/* Writes the buffered bytes; returns 0 or an errno value. */
static int gm__png_drain(gm__png_out *o)
{
    size_t at = 0;
    while (at < o->len) {
        ssize_t k = write(o->fd, o->buf + at, o->len - at);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) return errno;
        if (k == 0) return EIO;
        at += (size_t)k;
    }
    o->len = 0;
    return 0;
}

/* ---- libpng callbacks ----------------------------------------------------- */

static void gm__png_write(png_structp png, png_bytep data, size_t n)
{
    gm__png_out *o = png_get_io_ptr(png);
    while (n > 0) {
        if (o->len == sizeof o->buf) {
            int e = gm__png_drain(o);
            if (e != 0) {
                o->write_errno = e;
                png_error(png, "write failed");
            }
        }
        size_t k = sizeof o->buf - o->len;
        if (k > n) k = n;
        memcpy(o->buf + o->len, data, k);
        o->len += k;
        data += k;
        n -= k;
    }
}

/* The buffer is drained once libpng is done (gm_png_write_grid). */
static void gm__png_flush(png_structp png) { (void)png; }

/* Records the message and jumps back to gm__png_encode: must not return. */
static void gm__png_error(png_structp png, png_const_charp msg)
{
    gm__png_out *o = png_get_error_ptr(png);
    snprintf(o->msg, sizeof o->msg, "%s", msg != NULL ? msg : "unknown error");
    png_longjmp(png, 1);
}

/* libpng's warnings would go to stderr by default; the library prints
 * nothing. */
static void gm__png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static png_voidp gm__png_malloc(png_structp png, png_alloc_size_t size)
{
    void *p = gm__malloc(size);
    if (p == NULL) {
        gm__png_out *o = png_get_mem_ptr(png);
        o->oom = 1;
    }
    return p;
}

static void gm__png_free(png_structp png, png_voidp ptr)
{
    (void)png;
    gm__free(ptr);
}

/* ---- encoding --------------------------------------------------------------- */

/* Encodes the picture into o (its file and buffer). Everything libpng
 * allocates is freed before returning, also after a longjmp. Nothing that
 * changes after the setjmp lives in this function's locals. */
static gm_status gm__png_encode(gm__png_out *o, const gm__png_grid *g,
                                unsigned char *row, const char *fn,
                                const char *path)
{
    o->png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, o, gm__png_error,
                                       gm__png_warning, o, gm__png_malloc,
                                       gm__png_free);
    if (o->png == NULL) {
        if (o->oom)
            return gm__set_error(GM_ENOMEM, fn, "cannot allocate libpng's writer");
        return gm__set_error(GM_EINTERNAL, fn,
                             "libpng %s refuses the writer (built against %s)",
                             png_get_libpng_ver(NULL), PNG_LIBPNG_VER_STRING);
    }
    o->info = png_create_info_struct(o->png);
    if (o->info == NULL) {
        png_destroy_write_struct(&o->png, NULL);
        return gm__set_error(GM_ENOMEM, fn, "cannot allocate libpng's info struct");
    }
    if (setjmp(png_jmpbuf(o->png))) {
        png_destroy_write_struct(&o->png, &o->info);
        if (o->oom)
            return gm__set_error(GM_ENOMEM, fn, "out of memory in libpng (%s)", o->msg);
        if (o->write_errno != 0)
            return gm__set_error(GM_EIO, fn, "cannot write '%s': %s", path,
                                 strerror(o->write_errno));
        return gm__set_error(GM_EINTERNAL, fn, "libpng: %s", o->msg);
    }
    png_set_write_fn(o->png, o, gm__png_write, gm__png_flush);
    png_set_IHDR(o->png, o->info, (png_uint_32)g->width, (png_uint_32)g->height, 8,
                 g->c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(o->png, o->info);
    for (size_t y = 0; y < g->height; y++) {
        gm__png_fill_row(g, y, row);
        png_write_row(o->png, row);
    }
    png_write_end(o->png, o->info);
    png_destroy_write_struct(&o->png, &o->info);
    return GM_OK;
}

/* ---- the file ------------------------------------------------------------------ */

/* count * size + (count + 1) * padding into *out if at most
 * GM_PNG_MAX_SIDE; 0 otherwise. */
static int gm__png_side(size_t count, size_t size, size_t padding, size_t *out)
{
    size_t a, b;
    if (!gm__mul_ok(count, size, &a)) return 0;
    if (count == SIZE_MAX || !gm__mul_ok(count + 1, padding, &b)) return 0;
    if (a > GM_PNG_MAX_SIDE || b > GM_PNG_MAX_SIDE - a) return 0;
    *out = a + b;
    return 1;
}

gm_status gm_png_write_grid(const char *path, const gm_tensor *images, size_t rows,
                            size_t cols, size_t padding, float pad_value)
{
    GM_CHECK_NULL(path);
    GM_CHECK(path[0] != '\0', GM_EINVAL, "path must not be empty");
    GM_CHECK_NULL(images);
    GM_CHECK(images->ndim == 4, GM_ESHAPE,
             "images must have rank 4 (N x C x H x W), got rank %zu", images->ndim);
    gm__png_grid g = {.data = images->data,
                      .n = images->shape[0],
                      .c = images->shape[1],
                      .h = images->shape[2],
                      .w = images->shape[3],
                      .cols = cols,
                      .padding = padding};
    GM_CHECK(g.c == 1 || g.c == 3, GM_ESHAPE,
             "images must have 1 (grayscale) or 3 (RGB) channels, got %zu", g.c);
    GM_CHECK(rows >= 1 && cols >= 1, GM_EINVAL,
             "the grid needs at least one cell, got %zu rows x %zu cols", rows, cols);
    GM_CHECK(gm__png_side(cols, g.w, padding, &g.width), GM_EINVAL,
             "%zu cols of width %zu with padding %zu exceed %d pixels", cols, g.w,
             padding, GM_PNG_MAX_SIDE);
    GM_CHECK(gm__png_side(rows, g.h, padding, &g.height), GM_EINVAL,
             "%zu rows of height %zu with padding %zu exceed %d pixels", rows, g.h,
             padding, GM_PNG_MAX_SIDE);
    size_t cells;
    if (!gm__mul_ok(rows, cols, &cells)) cells = SIZE_MAX;
    GM_CHECK(g.n <= cells, GM_EINVAL,
             "%zu images do not fit in a grid of %zu rows x %zu cols (%zu cells)", g.n,
             rows, cols, cells);
    GM_CHECK(pad_value >= 0.0f && pad_value <= 1.0f, GM_EINVAL,
             "pad_value must be in [0, 1], got %g", (double)pad_value);
    size_t bad = gm__find_nonfinite(images->data, images->numel);
    GM_CHECK(bad == images->numel, GM_EINVAL,
             "images[%zu] (image %zu) is %g; values must be finite", bad,
             bad / (g.c * g.h * g.w), (double)images->data[bad]);
    g.pad = gm__png_byte(pad_value);

    unsigned char *row = gm__malloc(g.width * g.c);
    GM_CHECK(row != NULL, GM_ENOMEM, "cannot allocate a row of %zu bytes", g.width * g.c);
    gm__atomic_file f;
    gm_status st = gm__atomic_open(&f, path, __func__);
    if (st != GM_OK) goto done;
    gm__png_out o = {.png = NULL, .info = NULL, .fd = f.fd};
    st = gm__png_encode(&o, &g, row, __func__, path);
    if (st == GM_OK) {
        int e = gm__png_drain(&o);
        if (e != 0) st = GM_FAIL(GM_EIO, "cannot write '%s': %s", f.tmp, strerror(e));
    }
    if (st == GM_OK)
        st = gm__atomic_commit(&f, __func__);
    else
        gm__atomic_abort(&f);
done:
    gm__free(row);
    return st;
}
