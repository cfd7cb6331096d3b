/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the IDX loader (gm_idx_load_images, gm_idx_load_labels).
 *
 * The loaders read files by path, so each input is written to a scratch
 * file (one per process, in /dev/shm when it exists) and loaded:
 *   1. as it is (plain, or a raw gzip stream when it starts 1f 8b): as
 *      images (all, and at most 2), as labels (count only, then into a
 *      buffer of exactly that count, then into one too small);
 *   2. wrapped by this harness in a valid gzip stream (stored deflate
 *      blocks and the CRC-32, no compression), as images and labels again,
 *      so mutations of the IDX content also reach the inflate path; only
 *      when the input starts with the IDX magic's 00 00 (otherwise the
 *      header check fails on the first 4 inflated bytes, as in pass 1).
 * Calls that cannot differ from an earlier one are skipped (at most 2
 * images only when the header claims more than 2). Speed: the first
 * version ran about 1000 inputs/s, mostly in deflateInit2/deflateReset
 * (a 256 KB deflate state zeroed per input), file opens (12 per input)
 * and page faults; see tests/fuzz/README.md.
 * Every call must return GM_OK or an error status with a message; on
 * GM_OK the result must agree with the header (checked here), and nothing
 * may leak (LeakSanitizer) or be read out of bounds (ASan).
 *
 * Seeds: tests/fuzz/corpus/idx/ (plain IDX files, valid and invalid).
 * Build: CC=clang cmake -DGM_FUZZ=ON (tests/fuzz/CMakeLists.txt); also
 * built against replay_main.c as a plain program that replays the corpus
 * (ctest fuzz_idx_corpus).
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include <genmodel/genmodel.h>

#include "fuzz_common.h"

static char g_path[256];

static void remove_scratch(void) { unlink(g_path); }

static void scratch_init(void)
{
    if (g_path[0]) return;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(g_path, sizeof g_path, "%s/gm-fuzz-idx-%ld.bin", dir, (long)getpid());
    atexit(remove_scratch);
}

static void write_file(const uint8_t *data, size_t size)
{
    int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FUZZ_ASSERT(fd >= 0);
    for (size_t done = 0; done < size;) {
        ssize_t n = write(fd, data + done, size - done);
        FUZZ_ASSERT(n > 0);
        done += (size_t)n;
    }
    FUZZ_ASSERT(close(fd) == 0);
}

/* A gzip stream (RFC 1952) holding data in stored deflate blocks (RFC
 * 1951 3.2.4), into a malloc'd buffer (*out_len); NULL if out of memory.
 * No deflate state: zlib's deflateInit2 allocates and clears about 256 KB
 * per call, which was most of this target's time. */
static uint8_t *gzip_of(const uint8_t *data, size_t size, size_t *out_len)
{
    size_t blocks = size / 65535 + 1;
    uint8_t *out = malloc(10 + size + 5 * blocks + 8), *o = out;
    if (out == NULL) return NULL;
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(o, header, sizeof header);
    o += sizeof header;
    size_t left = size;
    const uint8_t *p = data;
    do {
        size_t n = left < 65535 ? left : 65535;
        *o++ = n == left; /* BFINAL on the last block, BTYPE 00 */
        *o++ = (uint8_t)n;
        *o++ = (uint8_t)(n >> 8);
        *o++ = (uint8_t)~n;
        *o++ = (uint8_t)(~n >> 8);
        if (n) memcpy(o, p, n);
        o += n;
        p += n;
        left -= n;
    } while (left > 0);
    uLong crc = crc32(0L, Z_NULL, 0);
    for (size_t done = 0; done < size;) { /* crc32 takes a uInt length */
        uInt n = size - done > 0x40000000u ? 0x40000000u : (uInt)(size - done);
        crc = crc32(crc, data + done, n);
        done += n;
    }
    uint32_t trailer[2] = {(uint32_t)crc, (uint32_t)size};
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 4; b++) *o++ = (uint8_t)(trailer[k] >> (8 * b));
    *out_len = (size_t)(o - out);
    return out;
}

/* Big-endian uint32 at p. */
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Loads the scratch file every way; `raw` is its plain content when the
 * header can be checked against the result (NULL otherwise). */
static void load_all(const uint8_t *raw, size_t raw_len)
{
    size_t live = gm_live_allocations();
    gm_tensor *t = NULL;
    /* at most 2 items only matters when the header says more */
    int passes = raw == NULL || (raw_len >= 8 && be32(raw + 4) > 2) ? 2 : 1;
    for (int pass = 0; pass < passes; pass++) {
        size_t max_items = pass == 0 ? 0 : 2;
        gm_status st = gm_idx_load_images(&t, g_path, max_items);
        fuzz_check_status("gm_idx_load_images", st);
        if (st == GM_OK) {
            FUZZ_ASSERT(t != NULL && gm_tensor_ndim(t) == 4 && gm_tensor_dim(t, 1) == 1);
            if (raw != NULL && raw_len >= 16) {
                size_t n = be32(raw + 4);
                if (max_items && max_items < n) n = max_items;
                FUZZ_ASSERT(gm_tensor_dim(t, 0) == n);
                FUZZ_ASSERT(gm_tensor_dim(t, 2) == be32(raw + 8));
                FUZZ_ASSERT(gm_tensor_dim(t, 3) == be32(raw + 12));
                /* the first pixel is the first data byte / 255 */
                FUZZ_ASSERT(gm_tensor_data(t)[0] == raw[16] * (1.0f / 255.0f));
            }
            const float *d = gm_tensor_data_const(t);
            for (size_t i = 0; i < gm_tensor_numel(t); i++) FUZZ_ASSERT(d[i] >= 0.0f && d[i] <= 1.0f);
        } else {
            FUZZ_ASSERT(t == NULL);
        }
        gm_tensor_free(t);
        t = NULL;
    }

    size_t count = 0;
    gm_status st = gm_idx_load_labels(g_path, 0, NULL, 0, &count);
    fuzz_check_status("gm_idx_load_labels", st);
    if (st == GM_OK) {
        if (raw != NULL && raw_len >= 8) FUZZ_ASSERT(count == be32(raw + 4));
        if (count <= (1u << 20)) {
            int32_t *buf = malloc((count + 1) * sizeof *buf);
            FUZZ_ASSERT(buf != NULL);
            buf[count] = -7; /* guard */
            size_t got = 0;
            st = gm_idx_load_labels(g_path, 0, buf, count, &got);
            fuzz_check_status("gm_idx_load_labels", st);
            FUZZ_ASSERT(st == GM_OK && got == count && buf[count] == -7);
            for (size_t i = 0; i < got; i++) FUZZ_ASSERT(buf[i] >= 0 && buf[i] <= 255);
            if (count > 0) {
                st = gm_idx_load_labels(g_path, 0, buf, count - 1, &got);
                FUZZ_ASSERT(st == GM_ESHAPE);
            }
            st = gm_idx_load_labels(g_path, 1, buf, 1, &got);
            FUZZ_ASSERT(st == GM_OK && got == 1);
            free(buf);
        }
    }
    FUZZ_ASSERT(gm_live_allocations() == live);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    scratch_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scratch_init();
    /* 1. the input as the file */
    write_file(data, size);
    int is_gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    load_all(is_gz ? NULL : data, size);
    /* 2. the input gzip'd by us, when its content can pass the magic check */
    if (size < 2 || data[0] != 0 || data[1] != 0) return 0;
    size_t gz_len = 0;
    uint8_t *gz = gzip_of(data, size, &gz_len);
    if (gz != NULL) {
        write_file(gz, gz_len);
        free(gz);
        load_all(data, size);
    }
    return 0;
}
