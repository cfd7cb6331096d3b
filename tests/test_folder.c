/* SPDX-License-Identifier: MIT */
/* Image folders (gm_image_folder_load, gm_image_set_*): PNGs of every
 * colour type and bit depth (palette, tRNS, 16-bit, interlaced) and JPEGs
 * (grey, colour, progressive) written here with libpng and libjpeg and
 * read back against the pixels they were made from; alpha compositing,
 * grey conversion, crop and area-average resize against hand-computed
 * values and against PIL (tests/data/reference_folder.txt from
 * tests/reference/folder_reference.py); every kind of bad file refused
 * (naming it) or skipped and counted; labels from sub-folders; the same
 * bytes on 1 and 2 threads (also for 1000 files); progress and
 * cancelling; float batches with flips. The emoji case extracts the
 * Noto Color Emoji set with scripts/emoji_dataset.sh (or takes
 * GM_EMOJI_DIR), loads it on 1 and 2 threads and prints the times; it
 * says SKIP and passes without the Debian packages. Only it:
 *     CK_RUN_CASE=emoji build/test_folder */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>

#include "gm_test.h"

/* ---- scratch directories ------------------------------------------------- */

static char dir[256];

static void make_dir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/gm-folder.XXXXXX", base && *base ? base : "/tmp");
    ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void rm_tree(const char *p)
{
    DIR *d = opendir(p);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char q[1024];
            snprintf(q, sizeof q, "%s/%s", p, e->d_name);
            struct stat sb;
            if (lstat(q, &sb) == 0 && S_ISDIR(sb.st_mode)) rm_tree(q);
            else unlink(q);
        }
        closedir(d);
    }
    rmdir(p);
}

static void remove_dir(void) { rm_tree(dir); }

static const char *in_dir(const char *name)
{
    static char p[4][1024];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static void mkdir_in(const char *name)
{
    ck_assert_msg(mkdir(in_dir(name), 0755) == 0, "mkdir %s: %s", name, strerror(errno));
}

static void write_bytes(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "fopen %s", path);
    ck_assert(n == 0 || fwrite(b, 1, n, f) == n);
    ck_assert(fclose(f) == 0);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "fopen %s", path);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    ck_assert(fread(b, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* ---- writing pictures ---------------------------------------------------- */

/* A PNG with raw rows as libpng wants them (bit depth `depth`, 16-bit
 * big-endian), optional palette (n entries) and tRNS. */
typedef struct pngspec {
    unsigned w, h;
    int color_type, depth, interlace;
    const png_color *palette;
    int npalette;
    const unsigned char *trns_alpha; /* palette alpha */
    int ntrns;
    const png_color_16 *trns_color;  /* grey / RGB key */
} pngspec;

static void write_png(const char *path, const pngspec *s, unsigned char **rows)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "fopen %s", path);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    ck_assert(png && info);
    if (setjmp(png_jmpbuf(png))) ck_abort_msg("libpng write failed for %s", path);
    png_init_io(png, f);
    png_set_IHDR(png, info, s->w, s->h, s->depth, s->color_type,
                 s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trns_alpha || s->trns_color)
        png_set_tRNS(png, info, s->trns_alpha, s->ntrns, s->trns_color);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* Writes a JPEG from interleaved samples (c = 1 grey, 3 RGB). */
static void write_jpeg(const char *path, unsigned w, unsigned h, int c, const unsigned char *px,
                       int quality, int progressive)
{
    struct jpeg_compress_struct j;
    struct jpeg_error_mgr err;
    j.err = jpeg_std_error(&err);
    jpeg_create_compress(&j);
    FILE *f = fopen(path, "wb");
    ck_assert(f != NULL);
    jpeg_stdio_dest(&j, f);
    j.image_width = w;
    j.image_height = h;
    j.input_components = c;
    j.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&j);
    jpeg_set_quality(&j, quality, TRUE);
    if (progressive) jpeg_simple_progression(&j);
    jpeg_start_compress(&j, TRUE);
    while (j.next_scanline < h) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)j.next_scanline * w * c);
        jpeg_write_scanlines(&j, &r, 1);
    }
    jpeg_finish_compress(&j);
    jpeg_destroy_compress(&j);
    fclose(f);
}

/* A small RGB 8-bit PNG with a pattern depending on `seed`. */
static void write_rgb_png(const char *path, unsigned w, unsigned h, unsigned seed)
{
    unsigned char *buf = malloc((size_t)w * h * 3), *rows[512];
    ck_assert(h <= 512);
    for (unsigned y = 0; y < h; y++) {
        rows[y] = buf + (size_t)y * w * 3;
        for (unsigned x = 0; x < w * 3; x++)
            rows[y][x] = (unsigned char)((x * 7 + y * 13 + seed * 31 + (x * y) % 11) & 0xff);
    }
    pngspec s = {w, h, PNG_COLOR_TYPE_RGB, 8, 0, NULL, 0, NULL, 0, NULL};
    write_png(path, &s, rows);
    free(buf);
}

/* ---- loading ------------------------------------------------------------- */

static gm_image_folder_options opts_of(size_t side, unsigned channels)
{
    gm_image_folder_options o;
    gm_image_folder_options_init(&o);
    o.side = side;
    o.channels = channels;
    return o;
}

static gm_image_set *load_ok(const char *path, const gm_image_folder_options *o)
{
    gm_image_set *set = NULL;
    GM_CK_OK(gm_image_folder_load(&set, path, o, NULL, NULL));
    ck_assert_ptr_nonnull(set);
    return set;
}

/* composite of one 8-bit value on a background byte */
static unsigned comp(unsigned c, unsigned a, unsigned bg)
{
    return (c * a + bg * (255 - a) + 127) / 255;
}

/* ---- PNG colour types and bit depths -------------------------------------- */

/* The intended 8-bit RGBA of pixel (x, y) of a 4 x 4 test picture, for a
 * grey / palette source of depth d (values the depth can hold). */
static unsigned level(unsigned x, unsigned y, int depth)
{
    unsigned maxv = depth >= 8 ? 255 : (1u << depth) - 1;
    return (x * 5 + y * 3 + 1) % (maxv + 1);
}

/* Packs samples of `depth` bits (<= 8) into a row. */
static void pack(unsigned char *row, const unsigned *v, unsigned n, int depth)
{
    memset(row, 0, (n * depth + 7) / 8);
    for (unsigned i = 0; i < n; i++) {
        if (depth == 8) {
            row[i] = (unsigned char)v[i];
            continue;
        }
        unsigned bit = i * depth;
        row[bit / 8] |= (unsigned char)(v[i] << (8 - depth - bit % 8));
    }
}

/* Writes then loads a 4 x 4 PNG of colour type ct, depth d (interlaced or
 * not) and checks every pixel (S = 4: no resize) against the intended
 * value composited on bg (10, 20, 30). */
static void check_png_type(int ct, int depth, int interlace, int with_trns)
{
    const unsigned W = 4, H = 4;
    unsigned char raw[4][64], *rows[4];
    unsigned exp_rgb[3][4][4];
    const unsigned bg[3] = {10, 20, 30};
    png_color palette[16];
    unsigned char pal_alpha[16];
    png_color_16 key;
    memset(&key, 0, sizeof key);
    for (int i = 0; i < 16; i++) {
        palette[i].red = (png_byte)(i * 16 + 3);
        palette[i].green = (png_byte)(255 - i * 9);
        palette[i].blue = (png_byte)(i * i);
        pal_alpha[i] = (unsigned char)(i * 17);
    }
    const int bytes = depth == 16 ? 2 : 1;
    const unsigned npal = depth < 4 ? 1u << depth : 16;
    for (unsigned y = 0; y < H; y++) {
        rows[y] = raw[y];
        unsigned v[4];
        for (unsigned x = 0; x < W; x++) {
            unsigned r, g, b, a = 255;
            unsigned q = level(x, y, depth);
            if (ct == PNG_COLOR_TYPE_PALETTE) {
                q %= npal;
                v[x] = q;
                r = palette[q].red, g = palette[q].green, b = palette[q].blue;
                if (with_trns) a = pal_alpha[q];
            } else if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) {
                unsigned maxv = depth >= 8 ? 255 : (1u << depth) - 1;
                unsigned e = q * 255 / maxv; /* libpng's expansion is exact */
                r = g = b = e;
                v[x] = q;
                if (ct == PNG_COLOR_TYPE_GRAY_ALPHA) a = (x * 60 + y * 20) % 256;
                if (with_trns && q == level(1, 1, depth)) a = 0;
            } else {
                r = (x * 40 + 5) % 256, g = (y * 50 + 7) % 256, b = (x * y * 9 + 11) % 256;
                if (ct == PNG_COLOR_TYPE_RGB_ALPHA) a = (x * 70 + y * 10) % 256;
                if (with_trns && x == 2 && y == 3) a = 0;
            }
            unsigned rgb[3] = {r, g, b};
            for (int k = 0; k < 3; k++) exp_rgb[k][y][x] = comp(rgb[k], a, bg[k]);
            /* the raw samples */
            if (ct == PNG_COLOR_TYPE_PALETTE || (ct == PNG_COLOR_TYPE_GRAY && depth < 8))
                continue; /* packed below */
            unsigned samples[4], ns = 0;
            if (ct == PNG_COLOR_TYPE_GRAY || ct == PNG_COLOR_TYPE_GRAY_ALPHA) samples[ns++] = r;
            else samples[ns++] = r, samples[ns++] = g, samples[ns++] = b;
            if (ct & PNG_COLOR_MASK_ALPHA) samples[ns++] = a;
            unsigned stride = ns * bytes;
            for (unsigned k = 0; k < ns; k++) {
                if (bytes == 2) { /* k * 257 scales back to exactly k */
                    unsigned s16 = samples[k] * 257;
                    raw[y][x * stride + 2 * k] = (unsigned char)(s16 >> 8);
                    raw[y][x * stride + 2 * k + 1] = (unsigned char)(s16 & 0xff);
                } else {
                    raw[y][x * stride + k] = (unsigned char)samples[k];
                }
            }
        }
        if (ct == PNG_COLOR_TYPE_PALETTE || (ct == PNG_COLOR_TYPE_GRAY && depth < 8))
            pack(raw[y], v, W, depth);
    }
    pngspec s = {W, H, ct, depth, interlace, NULL, 0, NULL, 0, NULL};
    if (ct == PNG_COLOR_TYPE_PALETTE) {
        s.palette = palette;
        s.npalette = (int)npal;
        if (with_trns) s.trns_alpha = pal_alpha, s.ntrns = (int)npal;
    } else if (with_trns) {
        if (ct == PNG_COLOR_TYPE_GRAY) {
            unsigned q = level(1, 1, depth);
            key.gray = (png_uint_16)(depth == 16 ? q * 257 : q);
        } else {
            unsigned r = (2 * 40 + 5) % 256, g = (3 * 50 + 7) % 256, b = (2 * 3 * 9 + 11) % 256;
            int m = depth == 16 ? 257 : 1;
            key.red = (png_uint_16)(r * m), key.green = (png_uint_16)(g * m);
            key.blue = (png_uint_16)(b * m);
        }
        s.trns_color = &key;
    }
    make_dir();
    write_png(in_dir("p.png"), &s, rows);
    gm_image_folder_options o = opts_of(4, 3);
    o.background = 0x0A141E;
    gm_image_set *set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 1);
    const uint8_t *d = gm_image_set_data(set);
    for (int k = 0; k < 3; k++)
        for (unsigned y = 0; y < H; y++)
            for (unsigned x = 0; x < W; x++)
                ck_assert_msg(d[k * 16 + y * 4 + x] == exp_rgb[k][y][x],
                              "type %d depth %d interlace %d trns %d: ch %d (%u,%u) = %u, "
                              "expected %u", ct, depth, interlace, with_trns, k, x, y,
                              d[k * 16 + y * 4 + x], exp_rgb[k][y][x]);
    gm_image_set_free(set);
    /* grey: PIL's luma of the composited RGB */
    o.channels = 1;
    set = load_ok(dir, &o);
    d = gm_image_set_data(set);
    for (unsigned y = 0; y < H; y++)
        for (unsigned x = 0; x < W; x++) {
            unsigned l = (19595 * exp_rgb[0][y][x] + 38470 * exp_rgb[1][y][x] +
                          7471 * exp_rgb[2][y][x] + 32768) >> 16;
            ck_assert_uint_eq(d[y * 4 + x], l);
        }
    gm_image_set_free(set);
    remove_dir();
}

START_TEST(test_png_every_type_and_depth)
{
    static const int gray_depths[] = {1, 2, 4, 8, 16}, pal_depths[] = {1, 2, 4, 8};
    for (int il = 0; il < 2; il++) {
        for (int i = 0; i < 5; i++) {
            check_png_type(PNG_COLOR_TYPE_GRAY, gray_depths[i], il, 0);
            check_png_type(PNG_COLOR_TYPE_GRAY, gray_depths[i], il, 1);
        }
        for (int i = 0; i < 4; i++) {
            check_png_type(PNG_COLOR_TYPE_PALETTE, pal_depths[i], il, 0);
            check_png_type(PNG_COLOR_TYPE_PALETTE, pal_depths[i], il, 1);
        }
        for (int d = 8; d <= 16; d += 8) {
            check_png_type(PNG_COLOR_TYPE_GRAY_ALPHA, d, il, 0);
            check_png_type(PNG_COLOR_TYPE_RGB, d, il, 0);
            check_png_type(PNG_COLOR_TYPE_RGB, d, il, 1);
            check_png_type(PNG_COLOR_TYPE_RGB_ALPHA, d, il, 0);
        }
    }
}
END_TEST

/* An interlaced and a plain PNG of the same 37 x 29 pixels give the same
 * bytes after a real resize. */
START_TEST(test_png_interlaced_equals_plain)
{
    make_dir();
    unsigned char buf[29][37 * 4], *rows[29];
    for (int y = 0; y < 29; y++) {
        rows[y] = buf[y];
        for (int x = 0; x < 37 * 4; x++) buf[y][x] = (unsigned char)(x * 3 + y * 17 + x * y);
    }
    pngspec s = {37, 29, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, NULL, 0, NULL, 0, NULL};
    mkdir_in("a");
    mkdir_in("b");
    write_png(in_dir("a/x.png"), &s, rows);
    s.interlace = 1;
    write_png(in_dir("b/x.png"), &s, rows);
    gm_image_folder_options o = opts_of(11, 3);
    gm_image_set *set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 2);
    ck_assert_str_eq(gm_image_set_name(set, 0), "a/x.png");
    ck_assert_str_eq(gm_image_set_name(set, 1), "b/x.png");
    const uint8_t *d = gm_image_set_data(set);
    ck_assert(memcmp(d, d + 3 * 121, 3 * 121) == 0);
    gm_image_set_free(set);
    remove_dir();
}
END_TEST

/* ---- JPEG ---------------------------------------------------------------- */

START_TEST(test_jpeg_grey_colour_progressive)
{
    make_dir();
    enum { W = 48, H = 32 };
    unsigned char grey[H * W], rgb[H * W * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            grey[y * W + x] = (unsigned char)(60 + x * 2 + y);
            rgb[(y * W + x) * 3] = (unsigned char)(200 - x * 2);
            rgb[(y * W + x) * 3 + 1] = (unsigned char)(50 + y * 3);
            rgb[(y * W + x) * 3 + 2] = 120;
        }
    write_jpeg(in_dir("g.jpg"), W, H, 1, grey, 100, 0);
    write_jpeg(in_dir("c.jpeg"), W, H, 3, rgb, 100, 0);
    write_jpeg(in_dir("p.jpg"), W, H, 3, rgb, 100, 1);
    gm_image_folder_options o = opts_of(32, 3); /* crop 8 columns each side, no resize */
    gm_image_set *set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 3);
    ck_assert_str_eq(gm_image_set_name(set, 0), "c.jpeg");
    ck_assert_str_eq(gm_image_set_name(set, 1), "g.jpg");
    ck_assert_str_eq(gm_image_set_name(set, 2), "p.jpg");
    const uint8_t *d = gm_image_set_data(set);
    const size_t P = 32 * 32;
    int worst = 0;
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            int sx = x + 8;
            for (int k = 0; k < 3; k++) {
                int e = rgb[(y * W + sx) * 3 + k];
                int dc = abs(d[k * P + y * 32 + x] - e), dp = abs(d[6 * P + k * P + y * 32 + x] - e);
                worst = dc > worst ? dc : worst;
                worst = dp > worst ? dp : worst;
                /* grey decodes to R = G = B */
                ck_assert_uint_eq(d[3 * P + k * P + y * 32 + x], d[3 * P + y * 32 + x]);
            }
            int dg = abs(d[3 * P + y * 32 + x] - grey[y * W + sx]);
            worst = dg > worst ? dg : worst;
        }
    ck_assert_msg(worst <= 6, "JPEG quality 100 differs by %d", worst);
    gm_image_set_free(set);
    remove_dir();
}
END_TEST

/* ---- compositing, crop, resize by hand --------------------------------------- */

START_TEST(test_alpha_composite_by_hand)
{
    make_dir();
    unsigned char px[4] = {100, 200, 50, 128}, *rows[1] = {px};
    pngspec s = {1, 1, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, NULL, 0, NULL, 0, NULL};
    write_png(in_dir("a.png"), &s, rows);
    gm_image_folder_options o = opts_of(1, 3);
    o.background = 0x0A141E;
    gm_image_set *set = load_ok(dir, &o);
    const uint8_t *d = gm_image_set_data(set);
    /* (100*128 + 10*127 + 127) / 255 = 55, (200*128 + 20*127 + 127) / 255 =
     * 110, (50*128 + 30*127 + 127) / 255 = 40 */
    ck_assert_uint_eq(d[0], 55);
    ck_assert_uint_eq(d[1], 110);
    ck_assert_uint_eq(d[2], 40);
    gm_image_set_free(set);
    o.channels = 1; /* (19595*55 + 38470*110 + 7471*40 + 32768) >> 16 = 86 */
    set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_data(set)[0], 86);
    gm_image_set_free(set);
    remove_dir();
}
END_TEST

START_TEST(test_crop_and_resize_by_hand)
{
    make_dir();
    /* 5 x 3 grey: the centred square is columns 1..3; to 2 x 2, each output
     * covers 1.5 x 1.5 source pixels with weights (2, 1) / (1, 2) in
     * units of 1/2 pixel */
    unsigned char r0[5] = {255, 0, 90, 180, 255}, r1[5] = {255, 30, 120, 210, 255},
                  r2[5] = {255, 60, 150, 240, 255}, *rows[3] = {r0, r1, r2};
    pngspec s = {5, 3, PNG_COLOR_TYPE_GRAY, 8, 0, NULL, 0, NULL, 0, NULL};
    write_png(in_dir("r.png"), &s, rows);
    gm_image_folder_options o = opts_of(2, 1);
    gm_image_set *set = load_ok(dir, &o);
    const uint8_t *d = gm_image_set_data(set);
    /* (4*0 + 2*90 + 2*30 + 1*120) / 9 = 40; (2*90 + 4*180 + 120 + 2*210) / 9
     * = 160; (2*30 + 120 + 4*60 + 2*150) / 9 = 80; (120 + 2*210 + 2*150 +
     * 4*240) / 9 = 200 */
    ck_assert_uint_eq(d[0], 40);
    ck_assert_uint_eq(d[1], 160);
    ck_assert_uint_eq(d[2], 80);
    ck_assert_uint_eq(d[3], 200);
    gm_image_set_free(set);
    /* upscaling a 1-pixel-high strip: its centre pixel everywhere */
    o.side = 3;
    unsigned char one[3] = {1, 77, 3}, *rows1[1] = {one};
    pngspec s1 = {3, 1, PNG_COLOR_TYPE_GRAY, 8, 0, NULL, 0, NULL, 0, NULL};
    unlink(in_dir("r.png"));
    write_png(in_dir("r.png"), &s1, rows1);
    set = load_ok(dir, &o);
    for (int i = 0; i < 9; i++) ck_assert_uint_eq(gm_image_set_data(set)[i], 77);
    gm_image_set_free(set);
    /* rounding half up: 2 x 2 of 0, 0, 0, 2 to 1 x 1: 2/4 = 0.5 -> 1 */
    unsigned char a[2] = {0, 0}, b[2] = {0, 2}, *rows2[2] = {a, b};
    pngspec s2 = {2, 2, PNG_COLOR_TYPE_GRAY, 8, 0, NULL, 0, NULL, 0, NULL};
    unlink(in_dir("r.png"));
    write_png(in_dir("r.png"), &s2, rows2);
    o.side = 1;
    set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_data(set)[0], 1);
    gm_image_set_free(set);
    remove_dir();
}
END_TEST

/* The committed pictures against PIL's pipeline (reference_folder.txt). */
START_TEST(test_against_pil)
{
    FILE *f = fopen(GM_TEST_DATA_DIR "/reference_folder.txt", "r");
    ck_assert_msg(f != NULL, "cannot open the fixture");
    char line[256];
    ck_assert(fgets(line, sizeof line, f) != NULL);
    ck_assert_str_eq(line, "genmodel-folder-reference 1\n");
    gm_image_set *sets[4]; /* side 10 RGB, grey; side 7 RGB, grey */
    for (int g = 0; g < 4; g++) {
        gm_image_folder_options o = opts_of(g < 2 ? 10 : 7, g % 2 ? 1 : 3);
        o.background = 0x1E3C5A;
        sets[g] = load_ok(GM_TEST_DATA_DIR "/folder_ref", &o);
        ck_assert_uint_eq(gm_image_set_count(sets[g]), 6);
    }
    int records = 0, worst = 0;
    double total = 0;
    size_t count = 0;
    char name[128];
    unsigned c, s;
    while (fscanf(f, " %127s", name) == 1) {
        if (name[0] == '#') {
            ck_assert(fgets(line, sizeof line, f) != NULL);
            continue;
        }
        ck_assert(fscanf(f, "%u %u", &c, &s) == 2);
        ck_assert((s == 10 || s == 7) && (c == 1 || c == 3));
        gm_image_set *set = sets[(s == 7) * 2 + (c == 1)];
        size_t i = 0;
        while (i < gm_image_set_count(set) && strcmp(gm_image_set_name(set, i), name) != 0) i++;
        ck_assert_msg(i < gm_image_set_count(set), "%s not loaded", name);
        const uint8_t *d = gm_image_set_data(set) + i * c * s * s;
        for (unsigned k = 0; k < c * s * s; k++) {
            unsigned v;
            ck_assert(fscanf(f, "%u", &v) == 1);
            int diff = abs((int)d[k] - (int)v);
            worst = diff > worst ? diff : worst;
            total += diff;
            count++;
            ck_assert_msg(diff <= 2, "%s C=%u S=%u byte %u: %u, PIL %u", name, c, s, k, d[k], v);
        }
        records++;
    }
    fclose(f);
    ck_assert_int_eq(records, 24);
    ck_assert_msg(total / (double)count < 0.5, "mean difference from PIL %g", total / count);
    printf("test_against_pil: %zu bytes, max |diff| %d, mean %.3f\n", count, worst,
           total / count);
    for (int g = 0; g < 4; g++) gm_image_set_free(sets[g]);
}
END_TEST

/* ---- bad files --------------------------------------------------------------- */

/* A folder with good.png and one bad entry made by `make`: refused naming
 * `bad` with `code` (reason containing `why`), and with skip_bad loaded
 * with the good one and 1 skipped. */
static void check_bad(const char *bad, gm_status code, const char *why, uint64_t max_pixels)
{
    gm_image_folder_options o = opts_of(8, 3);
    if (max_pixels) o.max_pixels = max_pixels;
    for (unsigned threads = 1; threads <= 2; threads++) {
        o.threads = threads;
        o.skip_bad = 0;
        gm_image_set *set = (gm_image_set *)&o;
        GM_CK_ERR(code, "gm_image_folder_load", gm_image_folder_load(&set, dir, &o, NULL, NULL));
        ck_assert_ptr_null(set);
        ck_assert_msg(strstr(gm_last_error(), bad) != NULL, "'%s' does not name %s",
                      gm_last_error(), bad);
        ck_assert_msg(strstr(gm_last_error(), why) != NULL, "'%s' does not say %s",
                      gm_last_error(), why);
        o.skip_bad = 1;
        set = load_ok(dir, &o);
        ck_assert_uint_eq(gm_image_set_count(set), 1);
        ck_assert_uint_eq(gm_image_set_skipped(set), 1);
        ck_assert_str_eq(gm_image_set_name(set, 0), "good.png");
        gm_image_set_free(set);
    }
}

START_TEST(test_bad_files)
{
    size_t n;
    make_dir();
    write_rgb_png(in_dir("good.png"), 20, 20, 1);
    unsigned char *png = read_bytes(in_dir("good.png"), &n);
    /* truncated PNG, at several points */
    size_t cuts[] = {8, 20, 40, n / 2, n - 12, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        write_bytes(in_dir("trunc.png"), png, cuts[i]);
        check_bad("trunc.png", GM_EFORMAT, "PNG", 0);
    }
    unlink(in_dir("trunc.png"));
    /* a flipped byte in the pixel data: CRC error */
    png[n / 2] ^= 0x55;
    write_bytes(in_dir("crc.png"), png, n);
    check_bad("crc.png", GM_EFORMAT, "corrupt PNG", 0);
    unlink(in_dir("crc.png"));
    free(png);
    /* truncated JPEG */
    unsigned char px[16 * 16 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 7);
    write_jpeg(in_dir("full.jpg"), 16, 16, 3, px, 90, 0);
    unsigned char *jpg = read_bytes(in_dir("full.jpg"), &n);
    unlink(in_dir("full.jpg"));
    size_t jcuts[] = {3, 10, n / 2, n - 2};
    for (size_t i = 0; i < sizeof jcuts / sizeof *jcuts; i++) {
        write_bytes(in_dir("trunc.jpg"), jpg, jcuts[i]);
        check_bad("trunc.jpg", GM_EFORMAT, "JPEG", 0);
    }
    unlink(in_dir("trunc.jpg"));
    free(jpg);
    /* random bytes named .png */
    unsigned char rnd[300];
    srand(3);
    for (size_t i = 0; i < sizeof rnd; i++) rnd[i] = (unsigned char)rand();
    write_bytes(in_dir("noise.png"), rnd, sizeof rnd);
    check_bad("noise.png", GM_EFORMAT, "not a PNG or JPEG", 0);
    unlink(in_dir("noise.png"));
    /* a text file */
    write_bytes(in_dir("notes.txt"), "hello\n", 6);
    check_bad("notes.txt", GM_EFORMAT, "not a PNG or JPEG", 0);
    unlink(in_dir("notes.txt"));
    /* 0 bytes */
    write_bytes(in_dir("empty.png"), "", 0);
    check_bad("empty.png", GM_EFORMAT, "empty", 0);
    unlink(in_dir("empty.png"));
    /* too large: 30 x 30 = 900 pixels over a cap of 899 (good.png has 400) */
    write_rgb_png(in_dir("big.png"), 30, 30, 2);
    check_bad("big.png", GM_EFORMAT, "too large", 899);
    unlink(in_dir("big.png"));
    /* a dangling symbolic link: cannot be opened */
    ck_assert(symlink("nowhere.png", in_dir("link.png")) == 0);
    check_bad("link.png", GM_EIO, "cannot open", 0);
    unlink(in_dir("link.png"));
    /* a FIFO is not a regular file (and opening it does not block) */
    ck_assert(mkfifo(in_dir("fifo.png"), 0644) == 0);
    check_bad("fifo.png", GM_EFORMAT, "not a regular file", 0);
    unlink(in_dir("fifo.png"));
    /* an unreadable file (root reads anything: then only the link case) */
    if (geteuid() != 0) {
        write_rgb_png(in_dir("secret.png"), 20, 20, 3);
        chmod(in_dir("secret.png"), 0);
        check_bad("secret.png", GM_EIO, "cannot open", 0);
        unlink(in_dir("secret.png"));
    }
    /* a directory named x.png is a (here empty) sub-directory, not a file */
    mkdir_in("x.png");
    gm_image_folder_options o = opts_of(8, 3);
    gm_image_set *set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 1);
    ck_assert_uint_eq(gm_image_set_skipped(set), 0);
    gm_image_set_free(set);
    /* the first bad file in sorted order is the one named, on 2 threads */
    write_bytes(in_dir("x.png/b.png"), "junk", 4);
    write_bytes(in_dir("a.png"), "junk", 4);
    o.threads = 2;
    GM_CK_ERR(GM_EFORMAT, "a.png", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o.skip_bad = 1;
    set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 1);
    ck_assert_uint_eq(gm_image_set_skipped(set), 2);
    gm_image_set_free(set);
    /* everything bad: nothing to return */
    unlink(in_dir("good.png"));
    GM_CK_ERR(GM_EFORMAT, "all 2 files are bad", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    ck_assert_ptr_null(set);
    remove_dir();
}
END_TEST

START_TEST(test_bad_arguments)
{
    gm_image_set *set = NULL;
    gm_image_folder_options o = opts_of(8, 3);
    make_dir();
    write_rgb_png(in_dir("good.png"), 9, 9, 1);
    GM_CK_ERR(GM_EINVAL, "gm_image_folder_load", gm_image_folder_load(NULL, dir, &o, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "dir", gm_image_folder_load(&set, NULL, &o, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "dir", gm_image_folder_load(&set, "", &o, NULL, NULL));
    o.side = 0;
    GM_CK_ERR(GM_EINVAL, "side", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o.side = 4097;
    GM_CK_ERR(GM_EINVAL, "side", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o = opts_of(8, 2);
    GM_CK_ERR(GM_EINVAL, "channels", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o = opts_of(8, 3);
    o.background = 0x1000000;
    GM_CK_ERR(GM_EINVAL, "background", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o = opts_of(8, 3);
    o.max_pixels = 0;
    GM_CK_ERR(GM_EINVAL, "max_pixels", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o = opts_of(8, 3);
    o.threads = 5000;
    GM_CK_ERR(GM_EINVAL, "threads", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o = opts_of(8, 3);
    o.size = 3;
    GM_CK_ERR(GM_EINVAL, "opts", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    ck_assert_ptr_null(set);
    GM_CK_ERR(GM_EIO, "no-such-dir",
              gm_image_folder_load(&set, in_dir("no-such-dir"), NULL, NULL, NULL));
    GM_CK_ERR(GM_EIO, "good.png",
              gm_image_folder_load(&set, in_dir("good.png"), NULL, NULL, NULL));
    mkdir_in("empty");
    GM_CK_ERR(GM_EFORMAT, "no files", gm_image_folder_load(&set, in_dir("empty"), NULL, NULL, NULL));
    ck_assert_ptr_null(set);
    GM_CK_ERR(GM_EINVAL, "opts", gm_image_folder_options_init(NULL));
    /* defaults; trailing slashes; NULL getters */
    set = NULL;
    char slashed[300];
    snprintf(slashed, sizeof slashed, "%s//", dir);
    GM_CK_OK(gm_image_folder_load(&set, slashed, NULL, NULL, NULL));
    ck_assert_uint_eq(gm_image_set_side(set), 64);
    ck_assert_uint_eq(gm_image_set_channels(set), 3);
    ck_assert_ptr_null(gm_image_set_labels(set));
    ck_assert_uint_eq(gm_image_set_num_classes(set), 0);
    ck_assert_ptr_null(gm_image_set_name(set, 1));
    ck_assert_ptr_null(gm_image_set_class_name(set, 0));
    gm_image_set_free(set);
    ck_assert_uint_eq(gm_image_set_count(NULL), 0);
    ck_assert_ptr_null(gm_image_set_data(NULL));
    ck_assert_ptr_null(gm_image_set_name(NULL, 0));
    gm_image_set_free(NULL);
    remove_dir();
}
END_TEST

/* ---- labels ------------------------------------------------------------------ */

START_TEST(test_labels_from_subfolders)
{
    make_dir();
    mkdir_in("dog");
    mkdir_in("cat");
    mkdir_in("cat/inner");
    mkdir_in("empty");
    mkdir_in(".hidden");
    write_rgb_png(in_dir("dog/1.png"), 8, 8, 1);
    write_rgb_png(in_dir("cat/2.png"), 8, 8, 2);
    write_rgb_png(in_dir("cat/inner/3.png"), 8, 8, 3);
    write_rgb_png(in_dir("dog/0.png"), 8, 8, 4);
    write_rgb_png(in_dir(".hidden/x.png"), 8, 8, 5);
    write_bytes(in_dir("dog/.DS_Store"), "x", 1);
    gm_image_folder_options o = opts_of(8, 3);
    o.labels = 1;
    gm_image_set *set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 4);
    ck_assert_uint_eq(gm_image_set_num_classes(set), 3);
    ck_assert_str_eq(gm_image_set_class_name(set, 0), "cat");
    ck_assert_str_eq(gm_image_set_class_name(set, 1), "dog");
    ck_assert_str_eq(gm_image_set_class_name(set, 2), "empty");
    const char *names[4] = {"cat/2.png", "cat/inner/3.png", "dog/0.png", "dog/1.png"};
    const int32_t labels[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(gm_image_set_name(set, i), names[i]);
        ck_assert_int_eq(gm_image_set_labels(set)[i], labels[i]);
    }
    gm_image_set_free(set);
    /* a file directly in the folder has no class */
    write_rgb_png(in_dir("loose.png"), 8, 8, 6);
    GM_CK_ERR(GM_EFORMAT, "loose.png", gm_image_folder_load(&set, dir, &o, NULL, NULL));
    o.skip_bad = 1;
    set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 4);
    ck_assert_uint_eq(gm_image_set_skipped(set), 1);
    ck_assert_int_eq(gm_image_set_labels(set)[3], 1);
    gm_image_set_free(set);
    /* without labels it is an image like the others; max_files */
    o.labels = 0;
    o.max_files = 2;
    set = load_ok(dir, &o);
    ck_assert_uint_eq(gm_image_set_count(set), 2);
    ck_assert_str_eq(gm_image_set_name(set, 1), "cat/inner/3.png");
    gm_image_set_free(set);
    remove_dir();
}
END_TEST

/* ---- threads, progress, cancel ------------------------------------------- */

typedef struct progress_log {
    size_t calls, last, total, cancel_at;
    int bad_order;
} progress_log;

static int on_progress(void *user, size_t done, size_t total)
{
    progress_log *p = user;
    if (done <= p->last && p->calls > 0) p->bad_order = 1;
    if (done > total) p->bad_order = 1;
    p->calls++;
    p->last = done;
    p->total = total;
    return p->cancel_at != 0 && done >= p->cancel_at;
}

/* A folder of n mixed files: PNGs of several sizes and types, JPEGs, and
 * every 37th file junk. */
static void make_many(size_t n)
{
    mkdir_in("m");
    unsigned char px[24 * 20 * 3];
    for (size_t i = 0; i < n; i++) {
        char name[64];
        if (i % 37 == 36) {
            snprintf(name, sizeof name, "m/f%04zu.png", i);
            write_bytes(in_dir(name), "junk", 4);
        } else if (i % 5 == 2) {
            snprintf(name, sizeof name, "m/f%04zu.jpg", i);
            for (size_t k = 0; k < sizeof px; k++) px[k] = (unsigned char)(k * 3 + i);
            write_jpeg(in_dir(name), 24, 20, 3, px, 80, i % 2);
        } else {
            snprintf(name, sizeof name, "m/f%04zu.png", i);
            write_rgb_png(in_dir(name), 12 + (unsigned)(i % 9), 10 + (unsigned)(i % 7),
                          (unsigned)i);
        }
    }
}

START_TEST(test_threads_same_result)
{
    make_dir();
    make_many(120);
    gm_image_folder_options o = opts_of(9, 3);
    o.skip_bad = 1;
    o.threads = 1;
    gm_image_set *one = load_ok(in_dir("m"), &o);
    for (unsigned t = 2; t <= 5; t += 3) {
        o.threads = t;
        progress_log p = {0};
        gm_image_set *two = NULL;
        GM_CK_OK(gm_image_folder_load(&two, in_dir("m"), &o, on_progress, &p));
        ck_assert_uint_eq(gm_image_set_count(two), gm_image_set_count(one));
        ck_assert_uint_eq(gm_image_set_count(two), 120 - 3);
        ck_assert_uint_eq(gm_image_set_skipped(two), 3);
        ck_assert(memcmp(gm_image_set_data(one), gm_image_set_data(two),
                         gm_image_set_count(one) * 3 * 81) == 0);
        for (size_t i = 0; i < gm_image_set_count(one); i++)
            ck_assert_str_eq(gm_image_set_name(one, i), gm_image_set_name(two, i));
        ck_assert(!p.bad_order);
        ck_assert_uint_ge(p.calls, 1);
        ck_assert_uint_eq(p.last, 120);
        ck_assert_uint_eq(p.total, 120);
        gm_image_set_free(two);
    }
    gm_image_set_free(one);
    remove_dir();
}
END_TEST

START_TEST(test_progress_and_cancel)
{
    make_dir();
    make_many(40);
    gm_image_folder_options o = opts_of(6, 1);
    o.skip_bad = 1;
    for (unsigned t = 1; t <= 2; t++) {
        o.threads = t;
        progress_log p = {0};
        gm_image_set *set = NULL;
        GM_CK_OK(gm_image_folder_load(&set, in_dir("m"), &o, on_progress, &p));
        if (t == 1) ck_assert_uint_eq(p.calls, 40); /* one call a file on one thread */
        ck_assert_uint_eq(p.last, 40);
        gm_image_set_free(set);
        size_t live = gm_live_allocations();
        progress_log c = {0};
        c.cancel_at = 5;
        set = (gm_image_set *)&c;
        GM_CK_ERR(GM_ESTATE, "cancelled", gm_image_folder_load(&set, in_dir("m"), &o, on_progress, &c));
        ck_assert_ptr_null(set);
        ck_assert(!c.bad_order);
        /* on one thread it stops right there; on two the workers may have
         * finished all 40 before the first call */
        if (t == 1) ck_assert_uint_eq(c.last, 5);
        ck_assert_uint_eq(gm_live_allocations(), live);
    }
    remove_dir();
}
END_TEST

/* 1000 files on 1 and 2 threads: the same bytes. The times are printed
 * (not asserted: the machine is shared). */
START_TEST(test_thousand_files)
{
    make_dir();
    make_many(1000);
    gm_image_folder_options o = opts_of(16, 3);
    o.skip_bad = 1;
    gm_image_set *sets[2];
    double secs[2];
    for (unsigned t = 1; t <= 2; t++) {
        o.threads = t;
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        sets[t - 1] = load_ok(in_dir("m"), &o);
        clock_gettime(CLOCK_MONOTONIC, &b);
        secs[t - 1] = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
    }
    ck_assert_uint_eq(gm_image_set_count(sets[0]), 1000 - 27);
    ck_assert_uint_eq(gm_image_set_count(sets[1]), 1000 - 27);
    ck_assert(memcmp(gm_image_set_data(sets[0]), gm_image_set_data(sets[1]),
                     (1000 - 27) * 3 * 256) == 0);
    printf("test_thousand_files: 1000 files (973 images) in %.3f s on 1 thread, "
           "%.3f s on 2 threads\n", secs[0], secs[1]);
    gm_image_set_free(sets[0]);
    gm_image_set_free(sets[1]);
    remove_dir();
}
END_TEST

/* ---- batches ------------------------------------------------------------------ */

START_TEST(test_batches)
{
    make_dir();
    unsigned char r0[3] = {0, 51, 255}, r1[3] = {102, 153, 204}, r2[3] = {1, 2, 3};
    unsigned char *rows[3] = {r0, r1, r2};
    pngspec s = {3, 3, PNG_COLOR_TYPE_GRAY, 8, 0, NULL, 0, NULL, 0, NULL};
    write_png(in_dir("a.png"), &s, rows);
    unsigned char q0[3] = {10, 20, 30}, *rows2[3] = {q0, q0, q0};
    write_png(in_dir("b.png"), &s, rows2);
    gm_image_folder_options o = opts_of(3, 1);
    gm_image_set *set = load_ok(dir, &o);
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, 4, (size_t[]){4, 1, 3, 3}));
    size_t idx[4] = {0, 1, 0, 0};
    GM_CK_OK(gm_image_set_batch(set, idx, 4, GM_IMAGE_RANGE_UNIT, NULL, t));
    const float *d = gm_tensor_data_const(t);
    ck_assert(d[0] == 0.0f && d[2] == 1.0f && d[1] == 51.0f / 255.0f);
    ck_assert(d[9] == 10.0f / 255.0f && d[10] == 20.0f / 255.0f);
    GM_CK_OK(gm_image_set_batch(set, idx, 4, GM_IMAGE_RANGE_SYMMETRIC, NULL, t));
    ck_assert(d[0] == -1.0f && d[2] == 1.0f);
    ck_assert_float_eq_tol(d[1], 51.0f / 127.5f - 1.0f, 1e-7);
    /* flips: the draws of an identical generator decide */
    gm_rng *rng, *ref;
    GM_CK_OK(gm_rng_create(&rng, 7));
    GM_CK_OK(gm_rng_create(&ref, 7));
    int flips = 0;
    for (int rep = 0; rep < 20; rep++) {
        float u[4];
        GM_CK_OK(gm_image_set_batch(set, idx, 4, GM_IMAGE_RANGE_UNIT, rng, t));
        GM_CK_OK(gm_rng_uniform(ref, u, 4));
        for (int b = 0; b < 4; b++) {
            const float *img = d + b * 9;
            int flipped = u[b] < 0.5f;
            flips += flipped;
            unsigned char first = idx[b] == 0 ? (flipped ? 255 : 0) : (flipped ? 30 : 10);
            ck_assert_float_eq(img[0], first / 255.0f);
            if (idx[b] == 0) ck_assert_float_eq(img[4], 153.0f / 255.0f); /* centre */
        }
    }
    ck_assert(flips > 10 && flips < 70);
    uint64_t seed, pos, seed2, pos2;
    gm_rng_get_state(rng, &seed, &pos);
    gm_rng_get_state(ref, &seed2, &pos2);
    ck_assert(seed == seed2 && pos == pos2);
    /* 100 images: the draws in blocks give the same stream */
    gm_tensor *big;
    GM_CK_OK(gm_tensor_create(&big, 4, (size_t[]){100, 1, 3, 3}));
    size_t many[100];
    for (int i = 0; i < 100; i++) many[i] = (size_t)(i % 2);
    float u[100];
    GM_CK_OK(gm_image_set_batch(set, many, 100, GM_IMAGE_RANGE_UNIT, rng, big));
    GM_CK_OK(gm_rng_uniform(ref, u, 100));
    for (int b = 0; b < 100; b++) {
        int flipped = u[b] < 0.5f;
        unsigned char first = many[b] == 0 ? (flipped ? 255 : 0) : (flipped ? 30 : 10);
        ck_assert_float_eq(gm_tensor_data_const(big)[b * 9], first / 255.0f);
    }
    /* errors leave out and the generator as they were */
    gm_rng_get_state(rng, &seed, &pos);
    float before[36];
    memcpy(before, d, sizeof before);
    size_t badidx[4] = {0, 2, 0, 0};
    GM_CK_ERR(GM_EINVAL, "indices[1]", gm_image_set_batch(set, badidx, 4, GM_IMAGE_RANGE_UNIT, rng, t));
    GM_CK_ERR(GM_ESHAPE, "gm_image_set_batch", gm_image_set_batch(set, idx, 3, GM_IMAGE_RANGE_UNIT, rng, t));
    GM_CK_ERR(GM_EINVAL, "count", gm_image_set_batch(set, idx, 0, GM_IMAGE_RANGE_UNIT, rng, t));
    GM_CK_ERR(GM_EINVAL, "range", gm_image_set_batch(set, idx, 4, (gm_image_range)7, rng, t));
    GM_CK_ERR(GM_EINVAL, "set", gm_image_set_batch(NULL, idx, 4, GM_IMAGE_RANGE_UNIT, rng, t));
    GM_CK_ERR(GM_EINVAL, "indices", gm_image_set_batch(set, NULL, 4, GM_IMAGE_RANGE_UNIT, rng, t));
    GM_CK_ERR(GM_EINVAL, "out", gm_image_set_batch(set, idx, 4, GM_IMAGE_RANGE_UNIT, rng, NULL));
    gm_rng_get_state(rng, &seed2, &pos2);
    ck_assert(pos == pos2);
    ck_assert(memcmp(before, d, sizeof before) == 0);
    gm_tensor_free(big);
    gm_tensor_free(t);
    gm_rng_free(rng);
    gm_rng_free(ref);
    gm_image_set_free(set);
    remove_dir();
}
END_TEST

/* ---- the emoji set ------------------------------------------------------------ */

/* ---- out of memory ------------------------------------------------------- */


/* Fails allocation 0, 1, 2, ... of a load (labels, PNG and JPEG, a bad
 * file skipped) until it succeeds: each failure is GM_ENOMEM naming
 * gm_image_folder_load, with *out NULL and nothing leaked, and the load
 * that succeeds equals one that never failed. One thread, so that the
 * k-th allocation is the same one every time. */
START_TEST(test_out_of_memory_everywhere)
{
    make_dir();
    mkdir_in("a");
    mkdir_in("b");
    write_rgb_png(in_dir("a/1.png"), 12, 9, 1);
    write_rgb_png(in_dir("b/2.png"), 9, 12, 2);
    unsigned char px[10 * 10 * 3];
    for (size_t i = 0; i < sizeof px; i++) px[i] = (unsigned char)(i * 37 % 251);
    write_jpeg(in_dir("b/3.jpg"), 10, 10, 3, px, 90, 0);
    write_bytes(in_dir("a/4.png"), "not a png", 9);
    gm_image_folder_options o = opts_of(8, 3);
    o.labels = 1;
    o.skip_bad = 1;
    o.threads = 1;
    gm_image_set *ref = load_ok(dir, &o);
    const size_t n = gm_image_set_count(ref), bytes = n * 3 * 8 * 8;
    /* the allocator changes only with no library object alive */
    uint8_t *ref_data = malloc(bytes);
    int32_t *ref_labels = malloc(n * sizeof *ref_labels);
    ck_assert(ref_data != NULL && ref_labels != NULL);
    memcpy(ref_data, gm_image_set_data(ref), bytes);
    memcpy(ref_labels, gm_image_set_labels(ref), n * sizeof *ref_labels);
    gm_image_set_free(ref);
    const gm_allocator a = GM_TEST_OOM_ALLOCATOR;
    GM_CK_OK(gm_set_allocator(&a));
    long k = 0;
    for (;; k++) {
        const size_t live = gm_live_allocations();
        gm_image_set *set = (gm_image_set *)&set;
        gm_test_oom_arm(k);
        gm_clear_error();
        const gm_status st = gm_image_folder_load(&set, dir, &o, NULL, NULL);
        gm_test_oom_arm(-1);
        if (st == GM_OK) {
            ck_assert_uint_eq(gm_image_set_count(set), n);
            ck_assert_uint_eq(gm_image_set_skipped(set), 1);
            ck_assert(memcmp(gm_image_set_data(set), ref_data, bytes) == 0);
            ck_assert(memcmp(gm_image_set_labels(set), ref_labels, n * sizeof *ref_labels) == 0);
            gm_image_set_free(set);
            break;
        }
        ck_assert_msg(st == GM_ENOMEM, "failing allocation %ld gave %s (%s)", k,
                      gm_status_string(st), gm_last_error());
        ck_assert_msg(strstr(gm_last_error(), "gm_image_folder_load") != NULL, "'%s'",
                      gm_last_error());
        ck_assert_ptr_null(set);
        ck_assert_uint_eq(gm_live_allocations(), live);
        ck_assert_int_lt(k, 100000);
    }
    GM_CK_OK(gm_set_allocator(NULL));
    ck_assert_int_gt(k, 10);
    free(ref_data);
    free(ref_labels);
}
END_TEST

START_TEST(test_emoji)
{
    const char *edir = getenv("GM_EMOJI_DIR");
    if (edir == NULL) {
        make_dir();
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "bash '%s/../../scripts/emoji_dataset.sh' '%s/emoji' >/dev/null",
                 GM_TEST_DATA_DIR, dir);
        int rc = system(cmd);
        if (WIFEXITED(rc) && WEXITSTATUS(rc) == 3) {
            printf("test_emoji: SKIP: needs the Debian packages fonts-noto-color-emoji and "
                   "python3-fonttools\n");
            remove_dir();
            return;
        }
        ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "emoji_dataset.sh failed: %d", rc);
        edir = in_dir("emoji");
    }
    gm_image_folder_options o = opts_of(32, 3);
    o.labels = 1;
    gm_image_set *sets[2];
    double secs[2], cpu[2];
    for (unsigned t = 1; t <= 2; t++) {
        o.threads = t;
        struct timespec a, b, ca, cb;
        clock_gettime(CLOCK_MONOTONIC, &a);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ca);
        sets[t - 1] = load_ok(edir, &o);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cb);
        clock_gettime(CLOCK_MONOTONIC, &b);
        secs[t - 1] = (double)(b.tv_sec - a.tv_sec) + 1e-9 * (double)(b.tv_nsec - a.tv_nsec);
        cpu[t - 1] = (double)(cb.tv_sec - ca.tv_sec) + 1e-9 * (double)(cb.tv_nsec - ca.tv_nsec);
    }
    size_t n = gm_image_set_count(sets[0]);
    ck_assert_uint_eq(gm_image_set_count(sets[1]), n);
    ck_assert_uint_ge(n, 1000);
    ck_assert_uint_eq(gm_image_set_skipped(sets[0]), 0);
    ck_assert(memcmp(gm_image_set_data(sets[0]), gm_image_set_data(sets[1]), n * 3 * 32 * 32) == 0);
    ck_assert(memcmp(gm_image_set_labels(sets[0]), gm_image_set_labels(sets[1]), n * 4) == 0);
    /* colour pictures: not all grey */
    const uint8_t *d = gm_image_set_data(sets[0]);
    size_t coloured = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *im = d + i * 3 * 1024;
        for (int p = 0; p < 1024; p++)
            if (im[p] != im[1024 + p] || im[p] != im[2048 + p]) {
                coloured++;
                break;
            }
    }
    ck_assert_uint_ge(coloured, n * 9 / 10);
    printf("test_emoji: %zu images in %zu classes (side 32): %.3f s wall (%.3f s CPU) on 1 "
           "thread, %.3f s wall (%.3f s CPU) on 2 threads\n", n,
           gm_image_set_num_classes(sets[0]), secs[0], cpu[0], secs[1], cpu[1]);
    gm_image_set_free(sets[0]);
    gm_image_set_free(sets[1]);
    if (getenv("GM_EMOJI_DIR") == NULL) remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("folder");
    TCase *tc = tcase_create("folder");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_png_every_type_and_depth);
    tcase_add_test(tc, test_png_interlaced_equals_plain);
    tcase_add_test(tc, test_jpeg_grey_colour_progressive);
    tcase_add_test(tc, test_alpha_composite_by_hand);
    tcase_add_test(tc, test_crop_and_resize_by_hand);
    tcase_add_test(tc, test_against_pil);
    tcase_add_test(tc, test_bad_files);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_labels_from_subfolders);
    tcase_add_test(tc, test_threads_same_result);
    tcase_add_test(tc, test_progress_and_cancel);
    tcase_add_test(tc, test_thousand_files);
    tcase_add_test(tc, test_batches);
    tcase_add_test(tc, test_out_of_memory_everywhere);
    suite_add_tcase(s, tc);
    /* the emoji set: made by scripts/emoji_dataset.sh into a scratch
     * directory, or GM_EMOJI_DIR (CK_RUN_CASE=emoji runs only this) */
    TCase *te = tcase_create("emoji");
    tcase_set_timeout(te, 600);
    tcase_add_test(te, test_emoji);
    suite_add_tcase(s, te);
    return gm_run_suite(s);
}
