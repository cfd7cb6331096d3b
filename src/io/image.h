/* SPDX-License-Identifier: MIT */
/* Decoding one PNG or JPEG file held in memory into a square, resized
 * uint8 image (the image-folder loader's per-file work, and what the
 * fuzz target fuzz_image drives). Not installed; names are gm__*. */
#ifndef GM_IO_IMAGE_H
#define GM_IO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <genmodel/core.h>

/* What every file becomes. */
typedef struct gm__image_params {
    size_t side;           /* S, >= 1 */
    unsigned channels;     /* 1 (grey, ITU-R 601 luma) or 3 (RGB) */
    unsigned char bg[3];   /* background under transparent pixels */
    uint64_t max_pixels;   /* a larger width * height is refused */
} gm__image_params;

/* Decodes buf[0..len) (PNG or JPEG, told apart by their signatures) into
 * out, channels x side x side bytes (channel planes): alpha composited on
 * p->bg, converted to p->channels, centre-cropped to a square and resized
 * by area averaging. Returns GM_OK; GM_EFORMAT (not an image, corrupt,
 * truncated, too large, an unsupported colour space) with a reason in
 * why[0..why_len) (never printed); GM_ENOMEM. Keeps no state and touches
 * no thread's last error: safe on any thread. out is written only on
 * GM_OK. */
gm_status gm__image_decode(const unsigned char *buf, size_t len, const gm__image_params *p,
                           unsigned char *out, char *why, size_t why_len);

/* Reads root/rel whole into *buf (the caller frees it with gm__free) and
 * *len: a regular file of at most max_bytes (a FIFO is not waited on).
 * GM_OK; GM_EIO or GM_EFORMAT (not a regular file, too large) with a
 * reason in why; GM_ENOMEM. Touches no thread's last error. */
gm_status gm__image_read_file(const char *root, const char *rel, uint64_t max_bytes,
                              unsigned char **buf, size_t *len, char *why, size_t why_len);

#endif
