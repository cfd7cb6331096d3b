// SPDX-License-Identifier: MIT
/* The exported gradient penalties (include/genmodel/penalty.h): argument
 * checks, then the engine's double backward (src/engine/ggrad.c). */
#include <genmodel/penalty.h>

#include "engine/engine.h"

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
