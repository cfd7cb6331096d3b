/* SPDX-License-Identifier: MIT */
/* IDX (MNIST-format) reader, plain or gzip (one or several members),
 * through zlib's inflate with the library's allocator. Sizes in the header
 * are never trusted: what they claim is capped by GM_IDX_MAX_BYTES, no
 * more than they claim is decompressed, memory grows only as bytes
 * actually arrive, and a short file is GM_EFORMAT. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include <genmodel/io.h>

#include "core/internal.h"
#include "engine/engine.h"

#define GM__IDX_MAX_DIM 1000000000u /* per dimension */
#define GM__IDX_CHUNK 65536

typedef struct gm__reader {
    FILE *f;
    int gz, gz_end;
    z_stream zs;
    unsigned char in[GM__IDX_CHUNK];
} gm__reader;

static voidpf gm__zalloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return gm__malloc_array(items, size);
}
static void gm__zfree(voidpf opaque, voidpf ptr)
{
    (void)opaque;
    gm__free(ptr);
}

static gm_status gm__reader_open(gm__reader *r, const char *fn, const char *path)
{
    memset(r, 0, sizeof *r);
    r->f = fopen(path, "rb");
    if (r->f == NULL)
        return gm__set_error(GM_EIO, fn, "cannot open '%s': %s", path, strerror(errno));
    int c0 = fgetc(r->f), c1 = fgetc(r->f);
    rewind(r->f);
    if (c0 == 0x1f && c1 == 0x8b) {
        r->gz = 1;
        r->zs.zalloc = gm__zalloc;
        r->zs.zfree = gm__zfree;
        if (inflateInit2(&r->zs, 16 + MAX_WBITS) != Z_OK) {
            fclose(r->f);
            return gm__set_error(GM_ENOMEM, fn, "cannot start decompressing '%s'", path);
        }
    }
    return GM_OK;
}

static void gm__reader_close(gm__reader *r)
{
    if (r->gz) inflateEnd(&r->zs);
    if (r->f) fclose(r->f);
}

/* After a gzip member's end: another member follows (RFC 1952 allows a
 * file of several, as `cat a.gz b.gz` makes; gzip -d reads them all) if
 * the next bytes are the gzip magic, and the stream is reset for it;
 * anything else (nothing, or trailing padding) ends the data. */
static gm_status gm__reader_next_member(gm__reader *r, const char *fn)
{
    if (r->zs.avail_in < 2) { /* at least the magic's two bytes in r->in */
        if (r->zs.avail_in == 1) r->in[0] = r->zs.next_in[0];
        size_t k = fread(r->in + r->zs.avail_in, 1, sizeof r->in - r->zs.avail_in, r->f);
        if (k == 0 && ferror(r->f))
            return gm__set_error(GM_EIO, fn, "read error: %s", strerror(errno));
        r->zs.next_in = r->in;
        r->zs.avail_in += (uInt)k;
    }
    if (r->zs.avail_in >= 2 && r->zs.next_in[0] == 0x1f && r->zs.next_in[1] == 0x8b) {
        if (inflateReset(&r->zs) != Z_OK)
            return gm__set_error(GM_EFORMAT, fn, "corrupt gzip data (cannot start a member)");
        return GM_OK;
    }
    r->gz_end = 1;
    return GM_OK;
}

/* Reads up to n bytes; *got receives how many (fewer only at the end). */
static gm_status gm__reader_read(gm__reader *r, const char *fn, void *dst,
                                 size_t n, size_t *got)
{
    if (!r->gz) {
        *got = fread(dst, 1, n, r->f);
        if (*got < n && ferror(r->f))
            return gm__set_error(GM_EIO, fn, "read error: %s", strerror(errno));
        return GM_OK;
    }
    size_t done = 0;
    while (done < n && !r->gz_end) {
        if (r->zs.avail_in == 0) {
            size_t k = fread(r->in, 1, sizeof r->in, r->f);
            if (k == 0) {
                if (ferror(r->f))
                    return gm__set_error(GM_EIO, fn, "read error: %s", strerror(errno));
                return gm__set_error(GM_EFORMAT, fn, "the gzip stream is truncated");
            }
            r->zs.next_in = r->in;
            r->zs.avail_in = (uInt)k;
        }
        size_t want = n - done;
        r->zs.next_out = (Bytef *)dst + done;
        r->zs.avail_out = want > GM__IDX_CHUNK ? GM__IDX_CHUNK : (uInt)want;
        uInt before = r->zs.avail_out;
        int z = inflate(&r->zs, Z_NO_FLUSH);
        done += before - r->zs.avail_out;
        if (z == Z_STREAM_END)
            GM_TRY(gm__reader_next_member(r, fn));
        else if (z == Z_MEM_ERROR)
            return gm__set_error(GM_ENOMEM, fn, "out of memory while decompressing");
        else if (z != Z_OK && z != Z_BUF_ERROR)
            return gm__set_error(GM_EFORMAT, fn, "corrupt gzip data (%s)",
                                 r->zs.msg ? r->zs.msg : "inflate failed");
    }
    *got = done;
    return GM_OK;
}

/* Reads exactly n bytes or fails with GM_EFORMAT naming `what`. */
static gm_status gm__reader_exact(gm__reader *r, const char *fn, void *dst,
                                  size_t n, const char *what)
{
    size_t got;
    GM_TRY(gm__reader_read(r, fn, dst, n, &got));
    if (got != n)
        return gm__set_error(GM_EFORMAT, fn, "file ends inside the %s (%zu of %zu bytes)",
                             what, got, n);
    return GM_OK;
}

/* Parses the header: magic 0 0 0x08 ndim, then ndim big-endian uint32. */
static gm_status gm__idx_header(gm__reader *r, const char *fn, size_t want_ndim,
                                size_t *dims)
{
    unsigned char h[4];
    GM_TRY(gm__reader_exact(r, fn, h, 4, "header"));
    if (h[0] != 0 || h[1] != 0)
        return gm__set_error(GM_EFORMAT, fn, "not an IDX file (magic %02x %02x)", h[0], h[1]);
    if (h[2] != 0x08)
        return gm__set_error(GM_EFORMAT, fn, "element type 0x%02x is not unsigned byte (0x08)",
                             h[2]);
    if (h[3] != want_ndim)
        return gm__set_error(GM_EFORMAT, fn, "expected %zu dimensions, the file has %u",
                             want_ndim, h[3]);
    for (size_t i = 0; i < want_ndim; i++) {
        unsigned char b[4];
        GM_TRY(gm__reader_exact(r, fn, b, 4, "header"));
        uint32_t d = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        if (d == 0 || d > GM__IDX_MAX_DIM)
            return gm__set_error(GM_EFORMAT, fn, "dimension %zu is %u, outside [1, %u]", i,
                                 d, GM__IDX_MAX_DIM);
        dims[i] = d;
    }
    return GM_OK;
}

/* Reads count * item bytes into a buffer grown as data arrives; with out
 * NULL the bytes are only checked to be there. */
static gm_status gm__idx_body(gm__reader *r, const char *fn, size_t count,
                              size_t item, unsigned char **out)
{
    size_t total;
    if (!gm__mul_ok(count, item, &total) || total > GM_IDX_MAX_BYTES)
        return gm__set_error(GM_EFORMAT, fn,
                             "the header claims %zu items of %zu bytes, more than "
                             "GM_IDX_MAX_BYTES (%llu) of data",
                             count, item, (unsigned long long)GM_IDX_MAX_BYTES);
    const size_t step = 1u << 20;
    size_t cap = total < step ? total : step, have = 0;
    unsigned char *buf = gm__malloc(cap);
    if (buf == NULL) return gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu bytes", cap);
    gm_status st = GM_OK;
    while (st == GM_OK && have < total) {
        if (out != NULL && have == cap) {
            size_t ncap = cap * 2 < total ? cap * 2 : total;
            unsigned char *nb = gm__realloc_array(buf, ncap, 1);
            if (nb == NULL) {
                st = gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu bytes", ncap);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        /* when only checking, reuse the buffer from its start */
        size_t at = out != NULL ? have : 0;
        size_t want = out != NULL ? cap - have : (total - have < cap ? total - have : cap);
        size_t got;
        st = gm__reader_read(r, fn, buf + at, want, &got);
        if (st == GM_OK && got == 0)
            st = gm__set_error(GM_EFORMAT, fn, "file ends after %zu of %zu data bytes",
                               have, total);
        have += got;
    }
    if (st != GM_OK || out == NULL) {
        gm__free(buf);
        return st;
    }
    *out = buf;
    return GM_OK;
}

gm_status gm_idx_load_images(gm_tensor **out, const char *path, size_t max_items)
{
    GM_CHECK_NULL(out);
    *out = NULL;
    GM_CHECK_NULL(path);
    gm__reader r;
    GM_TRY(gm__reader_open(&r, __func__, path));
    size_t dims[3] = {0, 0, 0};
    unsigned char *bytes = NULL;
    gm_status st = gm__idx_header(&r, __func__, 3, dims);
    size_t n = dims[0];
    if (st == GM_OK) {
        if (max_items && max_items < n) n = max_items;
        st = gm__idx_body(&r, __func__, n, dims[1] * dims[2], &bytes);
    }
    gm__reader_close(&r);
    if (st != GM_OK) return st;
    gm_tensor *t;
    size_t shape[4] = {n, 1, dims[1], dims[2]};
    st = gm_tensor_create(&t, 4, shape);
    if (st == GM_OK) {
        for (size_t i = 0; i < t->numel; i++) t->data[i] = bytes[i] * (1.0f / 255.0f);
        *out = t;
    } else {
        st = GM_FAIL(st, "cannot allocate %zu images of %zu x %zu", n, dims[1], dims[2]);
    }
    gm__free(bytes);
    return st;
}

gm_status gm_idx_load_labels(const char *path, size_t max_items, int32_t *dst,
                             size_t capacity, size_t *count)
{
    GM_CHECK_NULL(path);
    GM_CHECK_NULL(count);
    gm__reader r;
    GM_TRY(gm__reader_open(&r, __func__, path));
    size_t n = 0;
    unsigned char *bytes = NULL;
    gm_status st = gm__idx_header(&r, __func__, 1, &n);
    if (st == GM_OK) {
        if (max_items && max_items < n) n = max_items;
        if (dst != NULL && capacity < n)
            st = GM_FAIL(GM_ESHAPE, "capacity %zu is less than the %zu labels", capacity, n);
        else
            st = gm__idx_body(&r, __func__, n, 1, dst != NULL ? &bytes : NULL);
    }
    gm__reader_close(&r);
    if (st != GM_OK) return st;
    if (dst != NULL) {
        for (size_t i = 0; i < n; i++) dst[i] = bytes[i];
        gm__free(bytes);
    }
    *count = n;
    return GM_OK;
}
