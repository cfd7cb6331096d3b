/* SPDX-License-Identifier: MIT */
/* One PNG (libpng) or JPEG (libjpeg-turbo) file from memory to a square
 * S x S uint8 image.
 *
 * Both libraries report errors by calling a function that must not
 * return. Each decode call owns a context with its own jmp_buf; the error
 * callbacks copy the message there and longjmp back to the decode call,
 * which frees what the library allocated. No global state: any number of
 * decodes may run at once on different threads. Warnings are not printed:
 * libpng's are ignored, libjpeg's (corrupt data, premature end of file)
 * refuse the file, since libjpeg would otherwise invent the missing
 * pixels.
 *
 * Every decoded file becomes 8-bit RGBA first (palette, grey, tRNS,
 * 16-bit and interlaced PNGs are expanded by libpng's transforms; 16-bit
 * samples are scaled to 8 bits with rounding); then, in one pass over the
 * centred square of side m = min(width, height), each pixel is composited
 * on the background, c' = (c * a + bg * (255 - a) + 127) / 255 (integer
 * division), and for grey output converted with PIL's ITU-R 601-2 luma
 * (19595 R + 38470 G + 7471 B + 32768) >> 16; finally the m x m square is
 * resized to S x S by exact area averaging: output pixel j covers the
 * source interval [j m / S, (j + 1) m / S) in each direction, every source
 * pixel weighted by the length it overlaps, and the weighted sum (exact,
 * in integers) divided by m^2 with rounding half up. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>

#include "core/internal.h"
#include "io/image.h"

#define GM__JPEG_MAX_SCANS 500 /* a progressive JPEG with more is refused */

static void gm__why(char *why, size_t len, const char *fmt, ...) GM__PRINTF(3, 4);
static void gm__why(char *why, size_t len, const char *fmt, ...)
{
    if (len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
}

/* ---- from RGBA to the output ---------------------------------------------- */

/* Composites and converts the centred m x m square of rgba (w x h, 4 bytes
 * a pixel) into sq, c planes of m x m. */
static void gm__square(const unsigned char *rgba, size_t w, size_t h, const gm__image_params *p,
                       unsigned char *sq, size_t m)
{
    const size_t x0 = (w - m) / 2, y0 = (h - m) / 2, plane = m * m;
    for (size_t y = 0; y < m; y++) {
        const unsigned char *src = rgba + ((y0 + y) * w + x0) * 4;
        for (size_t x = 0; x < m; x++, src += 4) {
            unsigned a = src[3], c[3];
            for (int k = 0; k < 3; k++)
                c[k] = a == 255 ? src[k] : (src[k] * a + p->bg[k] * (255u - a) + 127u) / 255u;
            if (p->channels == 1) {
                sq[y * m + x] = (unsigned char)((19595u * c[0] + 38470u * c[1] + 7471u * c[2] +
                                                 32768u) >> 16);
            } else {
                for (int k = 0; k < 3; k++) sq[k * plane + y * m + x] = (unsigned char)c[k];
            }
        }
    }
}

/* Area-average resize of c planes m x m (sq) to S x S (out); tmp holds
 * m x S uint64 values. Weights are in units of 1/S source pixels: output
 * j covers [j m, (j + 1) m), source i covers [i S, (i + 1) S). */
static void gm__resize(const unsigned char *sq, size_t m, size_t S, unsigned channels,
                       uint64_t *tmp, unsigned char *out)
{
    const uint64_t den = (uint64_t)m * m;
    for (unsigned ch = 0; ch < channels; ch++) {
        const unsigned char *src = sq + ch * m * m;
        for (size_t y = 0; y < m; y++) {
            for (size_t j = 0; j < S; j++) {
                uint64_t lo = (uint64_t)j * m, hi = lo + m, sum = 0;
                for (uint64_t i = lo / S; i * S < hi; i++) {
                    uint64_t a = i * S > lo ? i * S : lo, b = (i + 1) * S < hi ? (i + 1) * S : hi;
                    sum += (b - a) * src[y * m + i];
                }
                tmp[y * S + j] = sum; /* <= 255 m */
            }
        }
        unsigned char *dst = out + (size_t)ch * S * S;
        for (size_t k = 0; k < S; k++) {
            uint64_t lo = (uint64_t)k * m, hi = lo + m;
            for (size_t j = 0; j < S; j++) {
                uint64_t sum = 0;
                for (uint64_t i = lo / S; i * S < hi; i++) {
                    uint64_t a = i * S > lo ? i * S : lo, b = (i + 1) * S < hi ? (i + 1) * S : hi;
                    sum += (b - a) * tmp[i * S + j];
                }
                dst[k * S + j] = (unsigned char)((sum + den / 2) / den);
            }
        }
    }
}

/* rgba (w x h) -> out. */
static gm_status gm__finish(const unsigned char *rgba, size_t w, size_t h,
                            const gm__image_params *p, unsigned char *out, char *why,
                            size_t why_len)
{
    const size_t m = w < h ? w : h, S = p->side;
    unsigned char *sq = gm__malloc_array(m * m, p->channels);
    uint64_t *tmp = gm__malloc_array(m * S, sizeof *tmp);
    if (sq == NULL || tmp == NULL) {
        gm__free(sq);
        gm__free(tmp);
        gm__why(why, why_len, "out of memory for a %zu x %zu square", m, m);
        return GM_ENOMEM;
    }
    gm__square(rgba, w, h, p, sq, m);
    gm__resize(sq, m, S, p->channels, tmp, out);
    gm__free(sq);
    gm__free(tmp);
    return GM_OK;
}

/* Checks width x height against the caps; 0 when fine. */
static int gm__too_large(uint64_t w, uint64_t h, const gm__image_params *p, char *why,
                         size_t why_len)
{
    if (w == 0 || h == 0) {
        gm__why(why, why_len, "empty image (%llu x %llu)", (unsigned long long)w,
                (unsigned long long)h);
        return 1;
    }
    if (w > p->max_pixels / h) {
        gm__why(why, why_len, "too large: %llu x %llu pixels, above max_pixels = %llu",
                (unsigned long long)w, (unsigned long long)h, (unsigned long long)p->max_pixels);
        return 1;
    }
    return 0;
}

/* ---- PNG -------------------------------------------------------------------- */

typedef struct gm__png_in {
    jmp_buf jmp;
    const unsigned char *buf;
    size_t len, pos;
    int oom;
    char msg[128];
    unsigned char *rgba;
    png_bytep *rows;
} gm__png_in;

static void gm__png_in_error(png_structp png, png_const_charp msg)
{
    gm__png_in *in = png_get_error_ptr(png);
    snprintf(in->msg, sizeof in->msg, "%s", msg);
    longjmp(in->jmp, 1);
}

static void gm__png_in_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void gm__png_in_read(png_structp png, png_bytep dst, png_size_t n)
{
    gm__png_in *in = png_get_io_ptr(png);
    if (n > in->len - in->pos) png_error(png, "truncated file");
    memcpy(dst, in->buf + in->pos, n);
    in->pos += n;
}

static png_voidp gm__png_in_malloc(png_structp png, png_alloc_size_t size)
{
    void *ptr = gm__malloc(size);
    if (ptr == NULL) ((gm__png_in *)png_get_mem_ptr(png))->oom = 1;
    return ptr;
}

static void gm__png_in_free(png_structp png, png_voidp ptr)
{
    (void)png;
    gm__free(ptr);
}

/* gm__png_decode's reading, inside its setjmp: libpng's errors jump back
 * there. The buffers hang off `in` (the caller frees them). */
static gm_status gm__png_read(png_structp png, png_infop info, gm__png_in *in,
                              const gm__image_params *p, unsigned char *out, char *why,
                              size_t why_len)
{
    png_set_read_fn(png, in, gm__png_in_read);
    png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
    png_set_chunk_malloc_max(png, 16u << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    if (gm__too_large(w, h, p, why, why_len)) {
        return GM_EFORMAT;
    }
    png_set_expand(png); /* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha */
    png_set_scale_16(png);
    png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER); /* only where there is no alpha */
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 4 || png_get_bit_depth(png, info) != 8) {
        gm__why(why, why_len, "unsupported PNG layout (colour type %d, bit depth %d)",
                png_get_color_type(png, info), png_get_bit_depth(png, info));
        return GM_EFORMAT;
    }
    in->rgba = gm__malloc_array((size_t)w * h, 4);
    in->rows = gm__malloc_array(h, sizeof *in->rows);
    if (in->rgba == NULL || in->rows == NULL) {
        gm__why(why, why_len, "out of memory for %lu x %lu pixels", (unsigned long)w,
                (unsigned long)h);
        return GM_ENOMEM;
    }
    for (size_t y = 0; y < h; y++) in->rows[y] = in->rgba + y * (size_t)w * 4;
    png_read_image(png, in->rows);
    png_read_end(png, NULL); /* a file cut after its pixels is still truncated */
    return gm__finish(in->rgba, w, h, p, out, why, why_len);
}

/* Nothing that changes after the setjmp lives in this function's locals:
 * the buffers hang off `in`. */
static gm_status gm__png_decode(gm__png_in *in, const gm__image_params *p, unsigned char *out,
                                char *why, size_t why_len)
{
    png_structp png = png_create_read_struct_2(PNG_LIBPNG_VER_STRING, in, gm__png_in_error,
                                               gm__png_in_warning, in, gm__png_in_malloc,
                                               gm__png_in_free);
    if (png == NULL) {
        gm__why(why, why_len, "out of memory (libpng)");
        return GM_ENOMEM;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        gm__why(why, why_len, "out of memory (libpng)");
        return GM_ENOMEM;
    }
    gm_status st;
    if (setjmp(in->jmp)) {
        if (in->oom) {
            gm__why(why, why_len, "out of memory (libpng)");
            st = GM_ENOMEM;
        } else {
            gm__why(why, why_len, "corrupt PNG: %s", in->msg);
            st = GM_EFORMAT;
        }
        goto done;
    }
    st = gm__png_read(png, info, in, p, out, why, why_len);
done:
    png_destroy_read_struct(&png, &info, NULL);
    gm__free(in->rgba);
    gm__free(in->rows);
    in->rgba = NULL;
    in->rows = NULL;
    return st;
}

/* ---- JPEG ------------------------------------------------------------------- */

typedef struct gm__jpeg_in {
    struct jpeg_error_mgr err; /* first: libjpeg's err pointer is ours */
    struct jpeg_progress_mgr progress;
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
    struct jpeg_decompress_struct d; /* here, not a local: it changes after the setjmp */
    unsigned char *rgba;
    unsigned char *row;
} gm__jpeg_in;

static void gm__jpeg_error_exit(j_common_ptr cinfo)
{
    gm__jpeg_in *in = (gm__jpeg_in *)cinfo->err;
    cinfo->err->format_message(cinfo, in->msg);
    longjmp(in->jmp, 1);
}

/* Level < 0: a warning (corrupt data, premature end): refused. Trace
 * messages (level >= 0) are dropped. */
static void gm__jpeg_emit(j_common_ptr cinfo, int level)
{
    if (level < 0) gm__jpeg_error_exit(cinfo);
}

static void gm__jpeg_output(j_common_ptr cinfo)
{
    (void)cinfo;
}

static void gm__jpeg_progress(j_common_ptr cinfo)
{
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    gm__jpeg_in *in = (gm__jpeg_in *)cinfo->err;
    if (d->input_scan_number > GM__JPEG_MAX_SCANS) {
        snprintf(in->msg, sizeof in->msg, "more than %d scans", GM__JPEG_MAX_SCANS);
        longjmp(in->jmp, 1);
    }
}

/* The scanlines of a started decompression into in->rgba (alpha 255). */
static gm_status gm__jpeg_rows(gm__jpeg_in *in, size_t w, size_t h, char *why, size_t why_len)
{
    j_decompress_ptr d = &in->d;
    while (d->output_scanline < h) {
        size_t y = d->output_scanline;
        JSAMPROW r = in->row;
        if (jpeg_read_scanlines(d, &r, 1) != 1) {
            gm__why(why, why_len, "corrupt JPEG: no scanline %zu", y);
            return GM_EFORMAT;
        }
        unsigned char *dst = in->rgba + y * w * 4;
        for (size_t x = 0; x < w; x++) {
            dst[4 * x] = in->row[3 * x];
            dst[4 * x + 1] = in->row[3 * x + 1];
            dst[4 * x + 2] = in->row[3 * x + 2];
            dst[4 * x + 3] = 255;
        }
    }
    return GM_OK;
}

/* gm__jpeg_decode's reading, inside its setjmp: libjpeg's errors jump
 * back there. The buffers hang off `in` (the caller frees them). */
static gm_status gm__jpeg_read(gm__jpeg_in *in, const unsigned char *buf, size_t len,
                               const gm__image_params *p, unsigned char *out, char *why,
                               size_t why_len)
{
    j_decompress_ptr d = &in->d;
    jpeg_mem_src(d, buf, (unsigned long)len);
    jpeg_read_header(d, TRUE);
    if (gm__too_large(d->image_width, d->image_height, p, why, why_len)) {
        return GM_EFORMAT;
    }
    if (d->jpeg_color_space != JCS_GRAYSCALE && d->jpeg_color_space != JCS_YCbCr &&
        d->jpeg_color_space != JCS_RGB) {
        gm__why(why, why_len, "unsupported JPEG colour space %d (CMYK or YCCK?)",
                (int)d->jpeg_color_space);
        return GM_EFORMAT;
    }
    d->out_color_space = JCS_RGB;
    jpeg_start_decompress(d);
    const size_t w = d->output_width, h = d->output_height;
    if (d->output_components != 3 || gm__too_large(w, h, p, why, why_len)) {
        if (d->output_components != 3)
            gm__why(why, why_len, "JPEG decodes to %d components", d->output_components);
        return GM_EFORMAT;
    }
    in->rgba = gm__malloc_array(w * h, 4);
    in->row = gm__malloc_array(w, 3);
    if (in->rgba == NULL || in->row == NULL) {
        gm__why(why, why_len, "out of memory for %zu x %zu pixels", w, h);
        return GM_ENOMEM;
    }
    GM_TRY(gm__jpeg_rows(in, w, h, why, why_len));
    jpeg_finish_decompress(d);
    return gm__finish(in->rgba, w, h, p, out, why, why_len);
}

static gm_status gm__jpeg_decode(gm__jpeg_in *in, const unsigned char *buf, size_t len,
                                 const gm__image_params *p, unsigned char *out, char *why,
                                 size_t why_len)
{
    j_decompress_ptr d = &in->d;
    gm_status st;
    d->err = jpeg_std_error(&in->err);
    in->err.error_exit = gm__jpeg_error_exit;
    in->err.emit_message = gm__jpeg_emit;
    in->err.output_message = gm__jpeg_output;
    if (setjmp(in->jmp)) {
        /* libjpeg's own allocations failing are errors too (JERR_OUT_OF_MEMORY) */
        gm__why(why, why_len, "corrupt JPEG: %s", in->msg);
        st = strstr(in->msg, "Insufficient memory") ? GM_ENOMEM : GM_EFORMAT;
        goto done;
    }
    jpeg_create_decompress(d);
    in->progress.progress_monitor = gm__jpeg_progress;
    d->progress = &in->progress;
    d->mem->max_memory_to_use = 1024L << 20;
    st = gm__jpeg_read(in, buf, len, p, out, why, why_len);
done:
    jpeg_destroy_decompress(d);
    gm__free(in->rgba);
    gm__free(in->row);
    in->rgba = NULL;
    in->row = NULL;
    return st;
}

/* ---- dispatch --------------------------------------------------------------- */

gm_status gm__image_decode(const unsigned char *buf, size_t len, const gm__image_params *p,
                           unsigned char *out, char *why, size_t why_len)
{
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (len >= 8 && memcmp(buf, png_sig, 8) == 0) {
        gm__png_in in;
        memset(&in, 0, sizeof in);
        in.buf = buf;
        in.len = len;
        return gm__png_decode(&in, p, out, why, why_len);
    }
    if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) {
        gm__jpeg_in in;
        memset(&in, 0, sizeof in);
        return gm__jpeg_decode(&in, buf, len, p, out, why, why_len);
    }
    if (len == 0)
        gm__why(why, why_len, "empty file (0 bytes)");
    else if (len >= 3 && buf[0] == 0x89 && buf[1] == 'P' && buf[2] == 'N')
        gm__why(why, why_len, "truncated PNG signature (%zu bytes)", len);
    else
        gm__why(why, why_len, "not a PNG or JPEG file (no PNG or JPEG signature)");
    return GM_EFORMAT;
}

/* ---- reading one file (the image-folder loader) ----------------------------- */

/* GM_OK if fd is a regular file of at most max_bytes (*sb its stat);
 * GM_EIO or GM_EFORMAT with why. */
static gm_status gm__check_fd(int fd, uint64_t max_bytes, struct stat *sb, char *why,
                              size_t why_len)
{
    if (fstat(fd, sb) != 0) {
        snprintf(why, why_len, "cannot stat: %s", strerror(errno));
        return GM_EIO;
    }
    if (!S_ISREG(sb->st_mode)) {
        snprintf(why, why_len, "not a regular file");
        return GM_EFORMAT;
    }
    if ((uint64_t)sb->st_size > max_bytes) {
        snprintf(why, why_len, "too large: a file of %lld bytes, above %llu",
                 (long long)sb->st_size, (unsigned long long)max_bytes);
        return GM_EFORMAT;
    }
    return GM_OK;
}

/* Reads root/rel whole into *buf (caller frees). GM_OK; GM_EIO or
 * GM_EFORMAT (too big) with why; GM_ENOMEM. */
gm_status gm__image_read_file(const char *root, const char *rel, uint64_t max_bytes,
                               unsigned char **buf, size_t *len, char *why, size_t why_len)
{
    *buf = NULL;
    *len = 0;
    size_t lr = strlen(root);
    char *path = gm__malloc(lr + strlen(rel) + 2);
    if (path == NULL) {
        snprintf(why, why_len, "out of memory");
        return GM_ENOMEM;
    }
    sprintf(path, "%s/%s", root, rel);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    gm__free(path);
    if (fd < 0) {
        snprintf(why, why_len, "cannot open: %s", strerror(errno));
        return GM_EIO;
    }
    struct stat sb;
    gm_status st = gm__check_fd(fd, max_bytes, &sb, why, why_len);
    if (st != GM_OK) {
        close(fd);
        return st;
    }
    size_t cap = (size_t)sb.st_size, n = 0;
    unsigned char *b = gm__malloc(cap ? cap : 1);
    if (b == NULL) {
        close(fd);
        snprintf(why, why_len, "out of memory for %zu bytes", cap);
        return GM_ENOMEM;
    }
    while (n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            snprintf(why, why_len, "cannot read: %s", strerror(errno));
            st = GM_EIO;
            break;
        }
        if (r == 0) break; /* shrank meanwhile: decode what is there */
        n += (size_t)r;
    }
    close(fd);
    if (st != GM_OK) {
        gm__free(b);
        return st;
    }
    *buf = b;
    *len = n;
    return GM_OK;
}
