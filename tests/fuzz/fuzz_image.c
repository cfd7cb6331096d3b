/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: decoding one image file (PNG through libpng, JPEG
 * through libjpeg-turbo) as gm_image_folder_load does for every file of a
 * folder: gm__image_decode from memory, to 8 x 8 RGB on a coloured
 * background and to 5 x 5 grey, with a pixel cap of 2^20 so that hostile
 * sizes are refused quickly. Every call must return GM_OK, GM_EFORMAT with
 * a reason, or GM_ENOMEM; nothing may leak (LeakSanitizer), be read out of
 * bounds (ASan) or print (the libraries' error handlers are the library's
 * own). A second decode of the same bytes must give the same pixels.
 *
 * Seeds: tests/fuzz/corpus/image/ (the PNG and JPEG pictures of
 * tests/data/folder_ref). Build: CC=clang cmake -DGM_FUZZ=ON; also built
 * against replay_main.c (ctest fuzz_image_corpus).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <genmodel/genmodel.h>

#include "fuzz_common.h"
#include "io/image.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static void decode(const uint8_t *data, size_t size, size_t side, unsigned channels)
{
    gm__image_params p = {side, channels, {20, 200, 90}, (uint64_t)1 << 20};
    unsigned char out[3 * 8 * 8], again[3 * 8 * 8];
    char why[256] = "";
    gm_status st = gm__image_decode(data, size, &p, out, why, sizeof why);
    FUZZ_ASSERT(st == GM_OK || st == GM_EFORMAT || st == GM_ENOMEM);
    if (st != GM_OK) {
        FUZZ_ASSERT(why[0] != '\0');
        return;
    }
    FUZZ_ASSERT(gm__image_decode(data, size, &p, again, why, sizeof why) == GM_OK);
    FUZZ_ASSERT(memcmp(out, again, channels * side * side) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size, 8, 3);
    decode(data, size, 5, 1);
    return 0;
}
