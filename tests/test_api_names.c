/* SPDX-License-Identifier: MIT */
/* The naming rule's new names (docs/ARCHITECTURE.md, "Naming"): each
 * gm_elbo_* / gm_loss_gan_* gives the same bits as the old gm_vae_* /
 * gm_gan_*_loss name it renames, and its errors name it. The functions
 * themselves are tested under their old names: the ELBO module in
 * test_vae.c, the adversarial losses in test_gan_loss.c. */
#include "gm_test.h"

static gm_tensor *tensor2(size_t n, size_t d, gm_rng *rng)
{
    gm_tensor *t;
    GM_CK_OK(gm_tensor_create(&t, 2, (size_t[]){n, d}));
    GM_CK_OK(gm_tensor_fill_normal(t, rng));
    return t;
}

static void ck_same_tensor(const gm_tensor *a, const gm_tensor *b)
{
    ck_assert_uint_eq(gm_tensor_numel(a), gm_tensor_numel(b));
    ck_assert_mem_eq(gm_tensor_data_const(a), gm_tensor_data_const(b),
                     gm_tensor_numel(a) * sizeof(float));
}

START_TEST(test_elbo_names)
{
    const size_t N = 3, L = 4;
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 7));
    gm_tensor *h = tensor2(N, 2 * L, rng), *eps = tensor2(N, L, rng), *dz = tensor2(N, L, rng);
    gm_tensor *z1 = tensor2(N, L, rng), *z2 = tensor2(N, L, rng);
    gm_tensor *dh1 = tensor2(N, 2 * L, rng), *dh2;
    GM_CK_OK(gm_tensor_create(&dh2, 2, (size_t[]){N, 2 * L}));
    GM_CK_OK(gm_tensor_copy_in(dh2, gm_tensor_data_const(dh1), N * 2 * L));

    GM_CK_OK(gm_vae_reparameterize(h, eps, z1));
    GM_CK_OK(gm_elbo_reparameterize(h, eps, z2));
    ck_same_tensor(z1, z2);
    GM_CK_OK(gm_vae_reparameterize_backward(h, eps, dz, dh1));
    GM_CK_OK(gm_elbo_reparameterize_backward(h, eps, dz, dh2));
    ck_same_tensor(dh1, dh2);
    float m1, m2, e1[3], e2[3];
    GM_CK_OK(gm_vae_kl(h, &m1, e1, dh1, 0.5f));
    GM_CK_OK(gm_elbo_kl(h, &m2, e2, dh2, 0.5f));
    ck_assert_mem_eq(&m1, &m2, sizeof m1);
    ck_assert_mem_eq(e1, e2, sizeof e1);
    ck_same_tensor(dh1, dh2);
    GM_CK_OK(gm_vae_log_normal(z1, h, e1));
    GM_CK_OK(gm_elbo_log_normal(z1, h, e2));
    ck_assert_mem_eq(e1, e2, sizeof e1);
    GM_CK_OK(gm_vae_logmeanexp(z1, &m1, e1, NULL));
    GM_CK_OK(gm_elbo_logmeanexp(z1, &m2, e2, NULL));
    ck_assert_mem_eq(&m1, &m2, sizeof m1);
    ck_assert_mem_eq(e1, e2, sizeof e1);
    GM_CK_OK(gm_vae_recon_nll(GM_LIKELIHOOD_GAUSSIAN_FIXED, z1, eps, 0.0f, &m1, e1, z2));
    GM_CK_OK(gm_elbo_recon_nll(GM_LIKELIHOOD_GAUSSIAN_FIXED, z1, eps, 0.0f, &m2, e2, dz));
    ck_assert_mem_eq(&m1, &m2, sizeof m1);
    ck_assert_mem_eq(e1, e2, sizeof e1);
    ck_same_tensor(z2, dz);

    /* errors name the new function, then the old one */
    GM_CK_ERR(GM_EINVAL, "gm_elbo_kl: gm_vae_kl", gm_elbo_kl(NULL, &m1, NULL, NULL, 1.0f));
    GM_CK_ERR(GM_ESHAPE, "gm_elbo_reparameterize: gm_vae_reparameterize",
              gm_elbo_reparameterize(h, dh1, z1));
    GM_CK_ERR(GM_EINVAL, "gm_elbo_recon_nll", gm_elbo_recon_nll(99, z1, eps, 0, &m1, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_elbo_log_normal", gm_elbo_log_normal(NULL, h, e1));
    GM_CK_ERR(GM_EINVAL, "gm_elbo_logmeanexp", gm_elbo_logmeanexp(NULL, &m1, e1, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_elbo_reparameterize_backward",
              gm_elbo_reparameterize_backward(h, eps, NULL, dh1));
    gm_tensor *all[] = {h, eps, dz, z1, z2, dh1, dh2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) gm_tensor_free(all[i]);
    gm_rng_free(rng);
}
END_TEST

START_TEST(test_gan_loss_names)
{
    gm_rng *rng;
    GM_CK_OK(gm_rng_create(&rng, 3));
    gm_tensor *r = tensor2(5, 1, rng), *f = tensor2(5, 1, rng);
    gm_tensor *gr1 = tensor2(5, 1, rng), *gf1 = tensor2(5, 1, rng);
    gm_tensor *gr2 = tensor2(5, 1, rng), *gf2 = tensor2(5, 1, rng);
    for (int fam = GM_GAN_NONSATURATING; fam <= GM_GAN_WASSERSTEIN; fam++) {
        float l1, l2, t = fam >= GM_GAN_HINGE ? 1.0f : 0.9f;
        GM_CK_OK(gm_gan_d_loss((gm_gan_loss)fam, r, f, t, &l1, gr1, gf1));
        GM_CK_OK(gm_loss_gan_d((gm_gan_loss)fam, r, f, t, &l2, gr2, gf2));
        ck_assert_mem_eq(&l1, &l2, sizeof l1);
        ck_same_tensor(gr1, gr2);
        ck_same_tensor(gf1, gf2);
        GM_CK_OK(gm_gan_g_loss((gm_gan_loss)fam, f, &l1, gf1));
        GM_CK_OK(gm_loss_gan_g((gm_gan_loss)fam, f, &l2, gf2));
        ck_assert_mem_eq(&l1, &l2, sizeof l1);
        ck_same_tensor(gf1, gf2);
    }
    GM_CK_ERR(GM_EINVAL, "gm_loss_gan_d: gm_gan_d_loss",
              gm_loss_gan_d(GM_GAN_HINGE, r, f, 1.0f, NULL, NULL, NULL));
    GM_CK_ERR(GM_EINVAL, "gm_loss_gan_g: gm_gan_g_loss", gm_loss_gan_g(99, f, NULL, NULL));
    gm_tensor *all[] = {r, f, gr1, gf1, gr2, gf2};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) gm_tensor_free(all[i]);
    gm_rng_free(rng);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("api_names");
    TCase *tc = tcase_create("names");
    tcase_add_test(tc, test_elbo_names);
    tcase_add_test(tc, test_gan_loss_names);
    suite_add_tcase(s, tc);
    return gm_run_suite(s);
}
