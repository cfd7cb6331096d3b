/* SPDX-License-Identifier: MIT */
/* Reading checkpoints: the bounds-checked cursor, the header and the
 * sections (io/checkpoint_internal.h). The whole file is loaded, then
 * parsed: every count is checked against a fixed bound and against the
 * bytes left before anything is allocated. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "io/checkpoint_internal.h"

const char *gm__ck_kind_name(uint32_t kind)
{
    switch (kind) {
    case GM__CK_NET: return "net";
    case GM__CK_VAE: return "VAE";
    case GM__CK_GAN: return "GAN";
    default: return "unknown";
    }
}

uint32_t gm__ck_crc(const unsigned char *p, size_t n)
{
    return (uint32_t)crc32_z(crc32_z(0L, Z_NULL, 0), p, n);
}

gm_status gm__need(gm__rbuf *r, size_t n)
{
    if (n <= r->len - r->off) return GM_OK;
    return gm__set_error(GM_EFORMAT, r->fn,
                         "truncated %s: %zu bytes needed at file offset %zu, %zu left", r->what,
                         n, r->base + r->off, r->len - r->off);
}

uint32_t gm__rd32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

gm_status gm__get_u32(gm__rbuf *r, uint32_t *v)
{
    GM_TRY(gm__need(r, 4));
    *v = gm__rd32(r->p + r->off);
    r->off += 4;
    return GM_OK;
}

gm_status gm__get_u64(gm__rbuf *r, uint64_t *v)
{
    GM_TRY(gm__need(r, 8));
    *v = (uint64_t)gm__rd32(r->p + r->off) | (uint64_t)gm__rd32(r->p + r->off + 4) << 32;
    r->off += 8;
    return GM_OK;
}

gm_status gm__get_f32(gm__rbuf *r, float *f)
{
    uint32_t v;
    GM_TRY(gm__get_u32(r, &v));
    memcpy(f, &v, 4);
    return GM_OK;
}

/* A u64 count as size_t, at most max. */
gm_status gm__get_count(gm__rbuf *r, size_t *n, uint64_t max, const char *name)
{
    uint64_t v;
    GM_TRY(gm__get_u64(r, &v));
    if (v > max)
        return gm__set_error(GM_EFORMAT, r->fn, "%s: %s %llu exceeds %llu", r->what, name,
                             (unsigned long long)v, (unsigned long long)max);
    *n = (size_t)v;
    return GM_OK;
}

/* n finite floats into dst (NULL: only checked and skipped). */
gm_status gm__get_floats(gm__rbuf *r, float *dst, size_t n, const char *name)
{
    if (n > (r->len - r->off) / 4) return gm__need(r, SIZE_MAX);
    for (size_t i = 0; i < n; i++) {
        uint32_t v = gm__rd32(r->p + r->off + 4 * i);
        float f;
        memcpy(&f, &v, 4);
        if (!isfinite(f))
            return gm__set_error(GM_EFORMAT, r->fn, "%s: %s[%zu] is not finite (%g)", r->what,
                                 name, i, (double)f);
        if (dst) dst[i] = f;
    }
    r->off += 4 * n;
    return GM_OK;
}

/* Reads the file header: magic, version, kind (must be `want`), section
 * count; *rest receives the cursor past it, its version set. */
gm_status gm__get_header(const unsigned char *buf, size_t len, uint32_t want,
                         uint32_t want_sections, const char *fn, gm__rbuf *rest)
{
    if (len < GM__CK_HEADER || memcmp(buf, GM_CHECKPOINT_MAGIC, 8) != 0)
        return gm__set_error(GM_EFORMAT, fn, "not a libgenmodel checkpoint (%s)",
                             len < GM__CK_HEADER ? "too short" : "bad magic");
    const uint32_t version = gm__rd32(buf + 8), kind = gm__rd32(buf + 12),
                   nsec = gm__rd32(buf + 16), crc = gm__rd32(buf + 20);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (crc != gm__ck_crc(buf, 20))
        return gm__set_error(GM_EFORMAT, fn, "the header is corrupt (CRC %08x, expected %08x)",
                             (unsigned)gm__ck_crc(buf, 20), (unsigned)crc);
#else
    (void)crc;
#endif
    if (version == 0)
        return gm__set_error(GM_EFORMAT, fn, "format version 0 does not exist");
    if (version > GM_CHECKPOINT_VERSION)
        return gm__set_error(GM_EVERSION, fn,
                             "format version %u was written by a later library; this one (%s) "
                             "reads versions 1 to %u",
                             (unsigned)version, GM_VERSION_STRING, GM_CHECKPOINT_VERSION);
    if (kind != want)
        return gm__set_error(GM_EFORMAT, fn, "this is a %s checkpoint, not a %s checkpoint",
                             gm__ck_kind_name(kind), gm__ck_kind_name(want));
    if (nsec != want_sections)
        return gm__set_error(GM_EFORMAT, fn, "a %s checkpoint has %u sections, this one says %u",
                             gm__ck_kind_name(want), (unsigned)want_sections, (unsigned)nsec);
    *rest = (gm__rbuf){buf, len, GM__CK_HEADER, fn, "header", 0, version};
    return GM_OK;
}

/* The next section, which must have tag `tag`: *payload is a cursor over
 * it (its CRC checked), and file moves past it. */
gm_status gm__get_section(gm__rbuf *file, uint32_t tag, const char *what, gm__rbuf *payload)
{
    uint32_t t, crc;
    uint64_t len;
    /* An empty cursor until the section is found (and never read
     * uninitialized on an error path). */
    *payload = (gm__rbuf){NULL, 0, 0, file->fn, what, file->off, file->version};
    file->what = what;
    GM_TRY(gm__get_u32(file, &t));
    GM_TRY(gm__get_u32(file, &crc));
    GM_TRY(gm__get_u64(file, &len));
    if (t != tag)
        return gm__set_error(GM_EFORMAT, file->fn,
                             "expected the %s section at file offset %zu, found tag %08x",
                             what, file->off - GM__CK_SECTION, (unsigned)t);
    if (len > file->len - file->off)
        return gm__set_error(GM_EFORMAT, file->fn,
                             "truncated file: the %s section says %llu bytes, %zu are left", what,
                             (unsigned long long)len, file->len - file->off);
    const unsigned char *p = file->p + file->off;
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    if (gm__ck_crc(p, (size_t)len) != crc)
        return gm__set_error(GM_EFORMAT, file->fn,
                             "the %s section is corrupt (CRC %08x, expected %08x)", what,
                             (unsigned)gm__ck_crc(p, (size_t)len), (unsigned)crc);
#else
    (void)crc;
#endif
    *payload = (gm__rbuf){p, (size_t)len, 0, file->fn, what, file->off, file->version};
    file->off += (size_t)len;
    return GM_OK;
}

/* A section's payload must be used up exactly. */
gm_status gm__get_end(const gm__rbuf *r)
{
    if (r->off == r->len) return GM_OK;
    return gm__set_error(GM_EFORMAT, r->fn, "%s: %zu unexpected bytes at its end", r->what,
                         r->len - r->off);
}

/* Reads the whole file at path into a new buffer. */
gm_status gm__read_file(const char *path, const char *fn, unsigned char **buf, size_t *len)
{
    *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return gm__set_error(GM_EIO, fn, "cannot open '%s': %s", path, strerror(errno));
    struct stat sb;
    gm_status st = GM_OK;
    if (fstat(fd, &sb) != 0)
        st = gm__set_error(GM_EIO, fn, "cannot stat '%s': %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = gm__set_error(GM_EIO, fn, "'%s' is not a regular file", path);
    else if (sb.st_size < GM__CK_HEADER)
        st = gm__set_error(GM_EFORMAT, fn, "'%s' is %lld bytes, too short for a checkpoint", path,
                           (long long)sb.st_size);
    else if ((uint64_t)sb.st_size > GM__CK_MAX_FILE || (uint64_t)sb.st_size > SIZE_MAX)
        st = gm__set_error(GM_EFORMAT, fn, "'%s' is %lld bytes, too large for a checkpoint", path,
                           (long long)sb.st_size);
    size_t n = st == GM_OK ? (size_t)sb.st_size : 0, got = 0;
    unsigned char *p = NULL;
    if (st == GM_OK && (p = gm__malloc(n)) == NULL)
        st = gm__set_error(GM_ENOMEM, fn, "cannot allocate %zu bytes for '%s'", n, path);
    while (st == GM_OK && got < n) {
        ssize_t k = read(fd, p + got, n - got);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0)
            st = gm__set_error(GM_EIO, fn, "cannot read '%s': %s", path, strerror(errno));
        else if (k == 0)
            st = gm__set_error(GM_EFORMAT, fn, "'%s' ended after %zu of %zu bytes", path, got, n);
        else
            got += (size_t)k;
    }
    (void)close(fd);
    if (st != GM_OK) {
        gm__free(p);
        return st;
    }
    *buf = p;
    *len = n;
    return GM_OK;
}

