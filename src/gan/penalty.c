// SPDX-License-Identifier: MIT
/* The exported gradient penalties (include/genmodel/penalty.h): argument
 * checks, then the engine's double backward (src/engine/ggrad.c); and the
 * gm_gan option's penalty step (gan.h, gm_gan_penalty). */
#include <math.h>
#include <string.h>

#include <genmodel/penalty.h>

#include "engine/engine.h"
#include "gan/gan_internal.h"

static gm_status gm__pen_check_x(const char *fn, const char *what, const gm_tensor *x)
{
    const size_t bad = gm__find_nonfinite(x->data, x->numel);
    if (bad != x->numel)
        return gm__set_error(GM_EINVAL, fn, "%s[%zu] is not finite (%g)", what, bad,
                             (double)x->data[bad]);
    return GM_OK;
}

gm_status gm_net_penalty_r1(gm_net *net, const gm_tensor *real, float gamma, float *penalty)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(real);
    GM_CHECK_NULL(penalty);
    GM_CHECK(isfinite(gamma) && gamma >= 0.0f, GM_EINVAL,
             "gamma must be finite and >= 0, got %g", (double)gamma);
    GM_TRY(gm__pen_check_x(__func__, "real", real));
    double v = 0.0;
    GM_TRY(gm__net_penalty(net, __func__, real, NULL, NULL, NULL, GM__PEN_R1, gamma, &v));
    *penalty = (float)v;
    return GM_OK;
}

gm_status gm_net_penalty_gp(gm_net *net, const gm_tensor *real, const gm_tensor *fake,
                            float lambda, gm_rng *rng, float *penalty)
{
    GM_CHECK_NULL(net);
    GM_CHECK_NULL(real);
    GM_CHECK_NULL(fake);
    GM_CHECK_NULL(rng);
    GM_CHECK_NULL(penalty);
    GM_CHECK(isfinite(lambda) && lambda >= 0.0f, GM_EINVAL,
             "lambda must be finite and >= 0, got %g", (double)lambda);
    GM_CHECK(gm__same_shape(real, fake), GM_ESHAPE,
             "fake must have real's shape (%zu elements in %zu dims), got %zu elements in "
             "%zu dims",
             real->numel, real->ndim, fake->numel, fake->ndim);
    GM_TRY(gm__pen_check_x(__func__, "real", real));
    GM_TRY(gm__pen_check_x(__func__, "fake", fake));
    double v = 0.0;
    GM_TRY(gm__net_penalty(net, __func__, real, fake, rng, NULL, GM__PEN_GP, lambda, &v));
    *penalty = (float)v;
    return GM_OK;
}

/* ---- the gm_gan option (gan_internal.h) ---------------------------------- */

gm_status gm__gan_penalty_setup(const char *fn, int kind, const gm_net *d, float **save)
{
    *save = NULL;
    if (kind == GM_PENALTY_NONE) return GM_OK;
    if (gm__net_penalty_check(d, fn) != GM_OK)
        return gm__set_error(GM_EUNSUPPORTED, fn,
                             "opts->penalty %d (%s) cannot run on this discriminator: %s", kind,
                             kind == GM_PENALTY_R1 ? "R1" : "GP", gm_last_error());
    if (d->nparams == 0) return GM_OK;
    *save = gm__malloc_array(d->nparams, sizeof(float));
    if (*save == NULL)
        return gm__set_error(GM_ENOMEM, fn, "no memory for the penalty's %zu floats", d->nparams);
    return GM_OK;
}

gm_status gm__gan_add_penalty(gm_net *d, const char *fn, int kind, float w, const gm_tensor *real,
                              const gm_tensor *fake, gm_rng *rng, size_t offset, size_t total,
                              float *eps, float *save, float *value)
{
    memcpy(save, d->grads, d->nparams * sizeof(float));
    GM_TRY(gm_net_zero_grad(d));
    double v = 0.0;
    if (kind == GM_PENALTY_R1) {
        GM_TRY(gm__net_penalty(d, fn, real, NULL, NULL, NULL, GM__PEN_R1, w, &v));
    } else {
        /* the shard's rows of one uniform per row of the batch */
        const size_t n = real->shape[0];
        gm__rng_uniform_slice(rng, offset, eps, n);
        gm__rng_skip(rng, total);
        GM_TRY(gm__net_penalty(d, fn, real, fake, NULL, eps, GM__PEN_GP, w, &v));
    }
    for (size_t i = 0; i < d->nparams; i++) d->grads[i] = save[i] + d->grads[i];
    *value = (float)v;
    if (!isfinite(*value) || !isfinite(gm__net_grad_sumsq(d)))
        return gm__set_error(GM_ENUMERIC, fn,
                             "the discriminator's gradient penalty or its gradients are not "
                             "finite");
    return GM_OK;
}
