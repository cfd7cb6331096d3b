/* SPDX-License-Identifier: MIT */
/* The adversarial losses under their family names (gm_loss_gan_*, gan.h;
 * the naming rule is in docs/ARCHITECTURE.md). Each passes on the
 * gm_gan_*_loss function's status with its own name in front of the
 * message. */
#include <genmodel/gan.h>

#include "core/internal.h"

gm_status gm_loss_gan_d(gm_gan_loss family, const gm_tensor *real, const gm_tensor *fake,
                        float real_label, float *loss, gm_tensor *d_real, gm_tensor *d_fake)
{
    return gm__pass_error(gm_gan_d_loss(family, real, fake, real_label, loss, d_real, d_fake),
                          __func__);
}

gm_status gm_loss_gan_g(gm_gan_loss family, const gm_tensor *fake, float *loss,
                        gm_tensor *d_fake)
{
    return gm__pass_error(gm_gan_g_loss(family, fake, loss, d_fake), __func__);
}
