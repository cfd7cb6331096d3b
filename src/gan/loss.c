/* SPDX-License-Identifier: MIT */
/* The adversarial-loss module: discriminator logits to loss and gradient
 * for each family (see gan.h for the formulas). Sums in double. */
#include <math.h>

#include <genmodel/gan.h>

#include "engine/engine.h"

/* softplus(x) = log(1 + exp(x)) without overflow */
static inline double gm__sp(double x) { return (x > 0.0 ? x : 0.0) + log1p(exp(-fabs(x))); }

static gm_status gm__gan_check(const char *fn, gm_gan_loss family, const gm_tensor *t,
                               const char *name, const gm_tensor *grad)
{
    if (family < GM_GAN_NONSATURATING || family > GM_GAN_WASSERSTEIN)
        return gm__set_error(GM_EINVAL, fn, "family must be a gm_gan_loss, got %d", (int)family);
    if (t == NULL) return gm__set_error(GM_EINVAL, fn, "%s must not be NULL", name);
    if (grad != NULL && !gm__same_shape(t, grad))
        return gm__set_error(GM_ESHAPE, fn, "the gradient of %s must have its shape", name);
    size_t bad = gm__find_nonfinite(t->data, t->numel);
    if (bad != t->numel)
        return gm__set_error(GM_EINVAL, fn, "%s[%zu] is not finite (%g)", name, bad,
                             (double)t->data[bad]);
    return GM_OK;
}

/* Mean over the logits of one batch term, and its gradient into g. The
 * term and derivative per logit x come from the family, side and target. */
typedef enum { GM__REAL, GM__FAKE_D, GM__FAKE_G } gm__side;

static double gm__term(gm_gan_loss fam, gm__side side, double t, double x, double *dx)
{
    const double s = 1.0 / (1.0 + exp(-x)); /* sigmoid; exp(-x) may be inf: s = 0 */
    switch (fam) {
    case GM_GAN_NONSATURATING:
    case GM_GAN_MINIMAX:
        if (side == GM__REAL) { /* t sp(-x) + (1 - t) sp(x) */
            *dx = s - t;
            return t * gm__sp(-x) + (1.0 - t) * gm__sp(x);
        }
        if (side == GM__FAKE_D) { /* sp(x) */
            *dx = s;
            return gm__sp(x);
        }
        if (fam == GM_GAN_NONSATURATING) { /* sp(-x) */
            *dx = s - 1.0;
            return gm__sp(-x);
        }
        *dx = -s; /* -sp(x) */
        return -gm__sp(x);
    case GM_GAN_LEAST_SQUARES: {
        const double target = side == GM__REAL ? t : side == GM__FAKE_D ? 0.0 : 1.0;
        *dx = x - target;
        return 0.5 * (x - target) * (x - target);
    }
    case GM_GAN_HINGE:
        if (side == GM__REAL) {
            *dx = x < 1.0 ? -1.0 : 0.0;
            return x < 1.0 ? 1.0 - x : 0.0;
        }
        if (side == GM__FAKE_D) {
            *dx = x > -1.0 ? 1.0 : 0.0;
            return x > -1.0 ? 1.0 + x : 0.0;
        }
        *dx = -1.0;
        return -x;
    case GM_GAN_WASSERSTEIN:
        *dx = side == GM__REAL ? -1.0 : side == GM__FAKE_D ? 1.0 : -1.0;
        return *dx * x;
    }
    *dx = 0.0;
    return 0.0;
}

static double gm__batch_term(gm_gan_loss fam, gm__side side, double t, const gm_tensor *x,
                             gm_tensor *g)
{
    const double inv = 1.0 / (double)x->numel;
    double sum = 0.0, d;
    for (size_t i = 0; i < x->numel; i++) {
        sum += gm__term(fam, side, t, x->data[i], &d);
        if (g) g->data[i] = (float)(d * inv);
    }
    return sum * inv;
}

gm_status gm_gan_d_loss(gm_gan_loss family, const gm_tensor *real, const gm_tensor *fake,
                        float real_label, float *loss, gm_tensor *d_real, gm_tensor *d_fake)
{
    GM_CHECK_NULL(loss);
    GM_CHECK(real != NULL || fake != NULL, GM_EINVAL, "real and fake must not both be NULL");
    if (real) GM_TRY(gm__gan_check(__func__, family, real, "real", d_real));
    if (fake) GM_TRY(gm__gan_check(__func__, family, fake, "fake", d_fake));
    GM_CHECK(isfinite(real_label) && real_label > 0.0f && real_label <= 1.0f, GM_EINVAL,
             "real_label must be in (0, 1], got %g", (double)real_label);
    GM_CHECK(real_label == 1.0f ||
                 (family != GM_GAN_HINGE && family != GM_GAN_WASSERSTEIN),
             GM_EINVAL, "real_label must be 1 for the hinge and Wasserstein losses, got %g",
             (double)real_label);
    double l = (real ? gm__batch_term(family, GM__REAL, real_label, real, d_real) : 0.0) +
               (fake ? gm__batch_term(family, GM__FAKE_D, 0.0, fake, d_fake) : 0.0);
    *loss = (float)l;
    return GM_OK;
}

gm_status gm_gan_g_loss(gm_gan_loss family, const gm_tensor *fake, float *loss,
                        gm_tensor *d_fake)
{
    GM_CHECK_NULL(loss);
    GM_TRY(gm__gan_check(__func__, family, fake, "fake", d_fake));
    *loss = (float)gm__batch_term(family, GM__FAKE_G, 1.0, fake, d_fake);
    return GM_OK;
}
