/* SPDX-License-Identifier: MIT */
/* The image-folder options and the image set's readers and float batches
 * (io.h); folder.c loads the set. */
#include <string.h>

#include <genmodel/io.h>

#include "core/internal.h"
#include "engine/engine.h"
#include "io/image_set.h"

gm_status gm_image_folder_options_init(gm_image_folder_options *opts)
{
    GM_CHECK_NULL(opts);
    memset(opts, 0, sizeof *opts);
    opts->size = sizeof *opts;
    opts->side = 64;
    opts->channels = 3;
    opts->background = 0xFFFFFFu;
    opts->max_pixels = (uint64_t)1 << 24;
    return GM_OK;
}

/* Reads and checks the caller's options into o (defaults where NULL). */
gm_status gm__image_folder_options(const char *fn, const gm_image_folder_options *opts,
                                  gm_image_folder_options *o)
{
    gm_image_folder_options_init(o);
    if (opts != NULL) GM_TRY(gm__read_options(fn, "opts", opts, sizeof opts->size, o, sizeof *o));
    if (o->side < 1 || o->side > GM__FOLDER_MAX_SIDE)
        return gm__set_error(GM_EINVAL, fn, "opts->side must be in [1, %d], got %zu",
                             GM__FOLDER_MAX_SIDE, o->side);
    if (o->channels != 1 && o->channels != 3)
        return gm__set_error(GM_EINVAL, fn, "opts->channels must be 1 or 3, got %u", o->channels);
    if (o->background > 0xFFFFFFu)
        return gm__set_error(GM_EINVAL, fn,
                             "opts->background must be 0xRRGGBB (<= 0xFFFFFF), got 0x%X",
                             o->background);
    if (o->max_pixels < 1)
        return gm__set_error(GM_EINVAL, fn, "opts->max_pixels must be >= 1, got 0");
    if (o->threads > GM__FOLDER_MAX_THREADS)
        return gm__set_error(GM_EINVAL, fn, "opts->threads must be in [0, %d], got %u",
                             GM__FOLDER_MAX_THREADS, o->threads);
    return GM_OK;
}

void gm_image_set_free(gm_image_set *set)
{
    if (set == NULL) return;
    if (set->names != NULL)
        for (size_t i = 0; i < set->n; i++) gm__free(set->names[i]);
    gm__free(set->names);
    for (size_t i = 0; i < set->nclasses; i++) gm__free(set->classes[i]);
    gm__free(set->classes);
    gm__free(set->labels);
    gm__free(set->data);
    gm__free(set);
}

size_t gm_image_set_count(const gm_image_set *set) { return set ? set->n : 0; }
size_t gm_image_set_channels(const gm_image_set *set) { return set ? set->c : 0; }
size_t gm_image_set_side(const gm_image_set *set) { return set ? set->s : 0; }
size_t gm_image_set_skipped(const gm_image_set *set) { return set ? set->skipped : 0; }
const uint8_t *gm_image_set_data(const gm_image_set *set) { return set ? set->data : NULL; }
const int32_t *gm_image_set_labels(const gm_image_set *set) { return set ? set->labels : NULL; }
size_t gm_image_set_num_classes(const gm_image_set *set) { return set ? set->nclasses : 0; }

const char *gm_image_set_name(const gm_image_set *set, size_t i)
{
    return set != NULL && i < set->n ? set->names[i] : NULL;
}

const char *gm_image_set_class_name(const gm_image_set *set, size_t k)
{
    return set != NULL && k < set->nclasses ? set->classes[k] : NULL;
}

/* ---- batches ------------------------------------------------------------------ */

gm_status gm_image_set_batch(const gm_image_set *set, const size_t *indices, size_t count,
                             gm_image_range range, gm_rng *flip_rng, gm_tensor *out)
{
    GM_CHECK_NULL(set);
    GM_CHECK_NULL(indices);
    GM_CHECK_NULL(out);
    GM_CHECK(count > 0, GM_EINVAL, "count must be > 0");
    GM_CHECK(range == GM_IMAGE_RANGE_UNIT || range == GM_IMAGE_RANGE_SYMMETRIC, GM_EINVAL,
             "range must be GM_IMAGE_RANGE_UNIT or GM_IMAGE_RANGE_SYMMETRIC, got %d",
             (int)range);
    for (size_t b = 0; b < count; b++)
        GM_CHECK(indices[b] < set->n, GM_EINVAL, "indices[%zu] = %zu is not below N = %zu", b,
                 indices[b], set->n);
    GM_CHECK(out->ndim == 4 && out->shape[0] == count && out->shape[1] == set->c &&
                 out->shape[2] == set->s && out->shape[3] == set->s,
             GM_ESHAPE, "out must be [%zu x %zu x %zu x %zu], got rank %zu with %zu elements",
             count, set->c, set->s, set->s, out->ndim, out->numel);
    float lut[256];
    for (int v = 0; v < 256; v++)
        lut[v] = range == GM_IMAGE_RANGE_UNIT ? (float)v / 255.0f : (float)v / 127.5f - 1.0f;
    const size_t S = set->s, per = set->c * S * S;
    float u[64];
    for (size_t b = 0; b < count; b++) {
        /* draws in blocks of 64 (a multiple of 4): the same values as one
         * gm_rng_uniform(flip_rng, ., count) */
        if (flip_rng != NULL && b % 64 == 0)
            gm_rng_uniform(flip_rng, u, count - b < 64 ? count - b : 64);
        int flip = flip_rng != NULL && u[b % 64] < 0.5f;
        const unsigned char *src = set->data + indices[b] * per;
        float *dst = out->data + b * per;
        for (size_t r = 0; r < set->c * S; r++) {
            const unsigned char *sr = src + r * S;
            float *dr = dst + r * S;
            if (flip)
                for (size_t x = 0; x < S; x++) dr[x] = lut[sr[S - 1 - x]];
            else
                for (size_t x = 0; x < S; x++) dr[x] = lut[sr[x]];
        }
    }
    return GM_OK;
}
