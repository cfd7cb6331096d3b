/* SPDX-License-Identifier: MIT */
/* The GAN's option fields as a table (core/record.h), for the checkpoint
 * code: one row per field of gm_gan_options that a checkpoint stores. */
#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "gan/gan_internal.h"

#define GM__GAN_FIELD(id, type, field, def, lo, hi)                                     \
    {                                                                                   \
        id, type, #field, offsetof(gm_gan_options, field), sizeof(((gm_gan_options *)0)->field), \
            def, lo, hi                                                                 \
    }

/* The first 7 rows in format version 1's order (its options section
 * stored them so, without ids; ema_decay was its optional tail): keep
 * them first; append new options. */
static const gm__opt_field gm__gan_fields[] = {
    GM__GAN_FIELD(1, GM__REC_U64, latent, 0, 1, 65536),
    GM__GAN_FIELD(2, GM__REC_I32, loss, GM_GAN_NONSATURATING, GM_GAN_NONSATURATING,
                  GM_GAN_WASSERSTEIN),
    GM__GAN_FIELD(3, GM__REC_U32, n_critic, 1, 1, 100),
    GM__GAN_FIELD(4, GM__REC_F32, real_label, 1, 0, 1),
    GM__GAN_FIELD(5, GM__REC_F32, weight_clip, 0, 0, FLT_MAX),
    GM__GAN_FIELD(6, GM__REC_U64, seed, 0, 0, (double)UINT64_MAX),
    GM__GAN_FIELD(7, GM__REC_U64, num_classes, 0, 0, 100000),
    GM__GAN_FIELD(8, GM__REC_F32, ema_decay, 0, 0, 1),
    /* 1.2: the gradient penalty; a file without them trains without one */
    GM__GAN_FIELD(9, GM__REC_I32, penalty, GM_PENALTY_NONE, GM_PENALTY_NONE, GM_PENALTY_GP),
    GM__GAN_FIELD(10, GM__REC_F32, penalty_weight, 0, 0, FLT_MAX),
    GM__GAN_FIELD(11, GM__REC_U32, penalty_every, 1, 1, 1000000),
};

const gm__opt_field *gm__gan_option_fields(size_t *n)
{
    *n = sizeof gm__gan_fields / sizeof *gm__gan_fields;
    return gm__gan_fields;
}
