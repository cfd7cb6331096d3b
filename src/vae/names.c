/* SPDX-License-Identifier: MIT */
/* The ELBO functions under their family names (gm_elbo_*, vae.h; the
 * naming rule is in docs/ARCHITECTURE.md). Each passes on the gm_vae_*
 * function's status with its own name in front of the message. */
#include <genmodel/vae.h>

#include "core/internal.h"

gm_status gm_elbo_reparameterize(const gm_tensor *h, const gm_tensor *eps, gm_tensor *z)
{
    return gm__pass_error(gm_vae_reparameterize(h, eps, z), __func__);
}

gm_status gm_elbo_reparameterize_backward(const gm_tensor *h, const gm_tensor *eps,
                                          const gm_tensor *dz, gm_tensor *dh)
{
    return gm__pass_error(gm_vae_reparameterize_backward(h, eps, dz, dh), __func__);
}

gm_status gm_elbo_kl(const gm_tensor *h, float *mean, float *each, gm_tensor *dh, float scale)
{
    return gm__pass_error(gm_vae_kl(h, mean, each, dh, scale), __func__);
}

gm_status gm_elbo_recon_nll(gm_likelihood likelihood, const gm_tensor *out, const gm_tensor *x,
                            float gaussian_logvar, float *mean, float *each, gm_tensor *dout)
{
    return gm__pass_error(
        gm_vae_recon_nll(likelihood, out, x, gaussian_logvar, mean, each, dout), __func__);
}

gm_status gm_elbo_log_normal(const gm_tensor *z, const gm_tensor *h, float *each)
{
    return gm__pass_error(gm_vae_log_normal(z, h, each), __func__);
}

gm_status gm_elbo_logmeanexp(const gm_tensor *logw, float *mean, float *each, gm_tensor *dlogw)
{
    return gm__pass_error(gm_vae_logmeanexp(logw, mean, each, dlogw), __func__);
}
