/*
 * libFuzzer target: the IDX loader (gm_idx_load_images, gm_idx_load_labels).
 *
 * The loaders read files by path, so each input is written to a scratch
 * file (one per process, in /dev/shm when it exists) and loaded:
 *   1. as it is (plain, or a raw gzip stream when it starts 1f 8b): as
 *      images (all, and at most 2), as labels (count only, then into a
 *      buffer of exactly that count, then into one too small);
 *   2. gzip-compressed by this harness (a valid gzip stream around the
 *      fuzzed bytes), as images and labels again, so mutations of the IDX
 *      content also reach the inflate path.
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
    FILE *f = fopen(g_path, "wb");
    FUZZ_ASSERT(f != NULL);
    FUZZ_ASSERT(size == 0 || fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);
}

/* gzip of data into a malloc'd buffer (*out_len), NULL if zlib fails. */
static uint8_t *gzip_of(const uint8_t *data, size_t size, size_t *out_len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, (uLong)size) + 32;
    uint8_t *out = malloc(cap);
    if (out == NULL) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)size;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    int z = deflate(&zs, Z_FINISH);
    *out_len = cap - zs.avail_out;
    deflateEnd(&zs);
    if (z != Z_STREAM_END) {
        free(out);
        return NULL;
    }
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
    for (int pass = 0; pass < 2; pass++) {
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
    /* 2. the input gzip'd by us */
    size_t gz_len = 0;
    uint8_t *gz = gzip_of(data, size, &gz_len);
    if (gz != NULL) {
        write_file(gz, gz_len);
        free(gz);
        load_all(data, size);
    }
    return 0;
}
