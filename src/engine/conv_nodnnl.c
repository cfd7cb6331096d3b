/* SPDX-License-Identifier: MIT */
/* The oneDNN entry points of the convolutions in a build without oneDNN
 * (GM_WITH_DNNL=OFF, or libdnnl-dev absent): the convolutions run as
 * im2col + sgemm (conv.c), and these are never reached with a state. */
#include "engine/engine.h"

#if !GM_DNNL
int gm__conv_dnnl_built(void) { return 0; }
int gm__conv_uses_dnnl(void) { return 0; }

gm_status gm__conv_dnnl_prepare(const gm_layer *l, const char *fn, size_t n, size_t in_nd,
                                const size_t *in, void **state)
{
    (void)l, (void)fn, (void)n, (void)in_nd, (void)in;
    *state = NULL;
    return GM_OK;
}

void gm__conv_dnnl_release(void *state) { (void)state; }

size_t gm__conv_dnnl_scratch_bytes(const void *state)
{
    (void)state;
    return 0;
}

gm_status gm__conv_dnnl_bind(const gm_layer *l, void *state, void *scratch, const char *fn)
{
    (void)l, (void)state, (void)scratch, (void)fn;
    return GM_OK;
}

void gm__conv_dnnl_forward(gm_layer *l, float *y, const float *x, const float *W,
                           const float *b)
{
    (void)y, (void)x, (void)W, (void)b;
    l->accel_status = -1;
}

void gm__conv_dnnl_backward(gm_layer *l, float *dx, const float *dy, const float *x,
                            const float *W, float *dW, float *db)
{
    (void)dx, (void)dy, (void)x, (void)W, (void)dW, (void)db;
    l->accel_status = -1;
}

gm_status gm__layer_accel_error(gm_layer *l, const char *fn)
{
    if (l->accel_status == 0) return GM_OK;
    l->accel_status = 0;
    return gm__set_error(GM_EINTERNAL, fn, "%s layer: no oneDNN in this build", l->vt->name);
}


#endif
