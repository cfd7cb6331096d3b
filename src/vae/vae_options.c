/* SPDX-License-Identifier: MIT */
/* The VAE's option fields as a table (core/record.h), for the checkpoint
 * code: one row per field of gm_vae_options that a checkpoint stores. */
#include <float.h>
#include <stddef.h>
#include <stdint.h>

#include "vae/vae_internal.h"

#define GM__VAE_FIELD(id, type, field, def, lo, hi)                                     \
    {                                                                                   \
        id, type, #field, offsetof(gm_vae_options, field), sizeof(((gm_vae_options *)0)->field), \
            def, lo, hi                                                                 \
    }

/* The first 7 rows in format version 1's order (its options section
 * stored them so, without ids): keep them first; append new options. */
static const gm__opt_field gm__vae_fields[] = {
    GM__VAE_FIELD(1, GM__REC_U64, latent, 0, 1, (double)(GM__BLAS_MAX / 2)),
    GM__VAE_FIELD(2, GM__REC_I32, likelihood, GM_LIKELIHOOD_BERNOULLI, GM_LIKELIHOOD_BERNOULLI,
                  GM_LIKELIHOOD_GAUSSIAN_LEARNED),
    GM__VAE_FIELD(3, GM__REC_F32, gaussian_logvar, 0, -FLT_MAX, FLT_MAX),
    GM__VAE_FIELD(4, GM__REC_F32, beta, 1, 0, FLT_MAX),
    GM__VAE_FIELD(5, GM__REC_U64, kl_warmup_steps, 0, 0, (double)UINT64_MAX),
    GM__VAE_FIELD(6, GM__REC_U64, seed, 0, 0, (double)UINT64_MAX),
    GM__VAE_FIELD(7, GM__REC_U64, num_classes, 0, 0, 100000),
};

const gm__opt_field *gm__vae_option_fields(size_t *n)
{
    *n = sizeof gm__vae_fields / sizeof *gm__vae_fields;
    return gm__vae_fields;
}
