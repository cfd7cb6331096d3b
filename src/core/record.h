/* SPDX-License-Identifier: MIT */
/* What the checkpoint code asks a model for instead of reaching into it
 * (docs/ARCHITECTURE.md, "Checkpoints"): a table of its option fields and
 * a read-only view of its state. Not installed. */
#ifndef GM_CORE_RECORD_H
#define GM_CORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include <genmodel/core.h>
#include <genmodel/net.h>
#include <genmodel/optim.h>

/* The value type of a checkpoint record (format version 2), as stored:
 * little-endian, F32S an array of floats. */
typedef enum gm__rec_type {
    GM__REC_U32 = 1,
    GM__REC_I32 = 2,
    GM__REC_U64 = 3, /* also size_t fields */
    GM__REC_F32 = 4,
    GM__REC_F32S = 5
} gm__rec_type;

/* One field of a model's options struct. A new option gets a new id
 * (never reused) and one row here; files without its record load with
 * def, which must be what the model's _options_init sets (a test checks). */
typedef struct gm__opt_field {
    uint32_t id;       /* record id, 1 .. 255 (256 and up: state records) */
    gm__rec_type type; /* scalar types only */
    const char *name;  /* the field's name in the public struct */
    size_t offset;     /* offsetof(options struct, field) */
    size_t size;       /* sizeof the field */
    double def;        /* its default */
    double lo, hi;     /* a stored value outside [lo, hi] is refused; the
                          model's create checks the finer rules */
} gm__opt_field;

/* A model's parts, read-only: what a save writes. */
typedef struct gm__model_state {
    const gm_net *net[2];       /* encoder, decoder / generator, discriminator */
    const gm_optimizer *opt[2]; /* their optimizers */
    const gm_rng *train_rng, *aux_rng;
    uint64_t steps;
    int pending; /* gradients of a compute call await an apply */
} gm__model_state;

#endif
