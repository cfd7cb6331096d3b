/* SPDX-License-Identifier: MIT */
/* Per-kind layer structs: a kind's hyperparameters live in its own struct,
 * which starts with the gm_layer every kind shares, behind the vtable
 * (engine.h, gm__layer_vt; vt->size is the struct's size, which
 * gm__layer_new allocates). Only the kind's own file and the code that
 * asks about that kind (spectral.c, the fuzz targets) reach them, through
 * GM__<KIND>(l) after checking l->vt. Not installed. */
#ifndef GM_ENGINE_LAYER_KINDS_H
#define GM_ENGINE_LAYER_KINDS_H

#include "engine/engine.h"

/* l as a pointer to the kind's struct, const if l is (l's first member
 * is the gm_layer, so the conversion is the one C allows). */
#define GM__KIND_OF(type, l) \
    _Generic((l), const gm_layer *: (const type *)(const void *)(l), gm_layer *: (type *)(void *)(l))

typedef struct gm__dense {
    gm_layer base;
    size_t in_features, out_features;
} gm__dense;
#define GM__DENSE(l) GM__KIND_OF(gm__dense, l)

/* conv2d and conv_transpose2d */
typedef struct gm__conv {
    gm_layer base;
    size_t in_ch, out_ch, kernel, stride, pad;
} gm__conv;
#define GM__CONV(l) GM__KIND_OF(gm__conv, l)

typedef struct gm__batchnorm {
    gm_layer base;
    size_t features;
    float momentum, eps;
} gm__batchnorm;
#define GM__BN(l) GM__KIND_OF(gm__batchnorm, l)

typedef struct gm__reshape {
    gm_layer base;
    size_t rndim, rshape[GM_MAX_DIMS - 1];
} gm__reshape;
#define GM__RESHAPE(l) GM__KIND_OF(gm__reshape, l)

/* the activations (alpha: leaky ReLU's slope, ELU's scale; 0 for the
 * others) */
typedef struct gm__act {
    gm_layer base;
    float alpha;
} gm__act;
#define GM__ACT(l) GM__KIND_OF(gm__act, l)

/* dropout: p and the seed of its mask stream (the stream's position is
 * the shared l->step, which a step's snapshot saves) */
typedef struct gm__dropout {
    gm_layer base;
    float p;
    uint64_t seed;
} gm__dropout;
#define GM__DROPOUT(l) GM__KIND_OF(gm__dropout, l)

#endif
