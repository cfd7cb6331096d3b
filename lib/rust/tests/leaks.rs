// SPDX-License-Identifier: MIT
//! Dropping the handles frees everything: gm_live_allocations() returns to
//! its starting value. One test in its own binary (process), because the
//! count is process-wide and the other tests run on parallel threads.
use genmodel::*;

fn mlp(sizes: &[usize], rng: &mut Rng) -> Result<Net> {
    let mut net = Net::new()?;
    for (i, w) in sizes.windows(2).enumerate() {
        if i > 0 {
            net.add(Layer::relu()?)?;
        }
        net.add(Layer::dense(w[0], w[1], Init::He, Some(rng))?)?;
    }
    Ok(net)
}

fn exercise() -> Result<()> {
    let mut rng = Rng::new(7)?;
    // a VAE, trained and sampled
    let vae_opts = VaeOptions { latent: 2, ..Default::default() };
    let mut vae = Vae::new(mlp(&[8, 16, 4], &mut rng)?, mlp(&[2, 16, 8], &mut rng)?, &vae_opts)?;
    let mut data = vec![0.25f32; 4 * 8];
    let x = Tensor::wrap(&[4, 8], &mut data)?;
    for _ in 0..3 {
        vae.train_step(&x, None)?;
    }
    let mut out = Tensor::new(&[4, 8])?;
    vae.sample(4, None, &mut out)?;
    // a GAN, trained
    let mut gan = Gan::new(
        mlp(&[2, 8, 2], &mut rng)?,
        mlp(&[2, 8, 1], &mut rng)?,
        &GanOptions { latent: 2, ..Default::default() },
    )?;
    let mut real = Tensor::new(&[4, 2])?;
    real.fill_normal(&mut rng)?;
    gan.train_step(&real, None)?;
    // the data-parallel calls and fit, also stopped by a panic
    vae.compute_grads(&x, None, 0, 8)?;
    vae.grads()[0] += 1.0;
    vae.apply_grads()?;
    vae.fit(&x, None, Some(&FitOptions { batch: 2, ..Default::default() }), |_, _| false)?;
    let stopped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        vae.fit(&x, None, None, |_, _| -> bool { std::panic::panic_any("stop") })
    }));
    assert!(stopped.is_err());
    assert!(vae.fit(&x, None, Some(&FitOptions { batch: 5, ..Default::default() }), |_, _| false).is_err()); // batch 5 > 4
    gan.compute_grads(GanPart::Discriminator, &real, None, 0, 4)?;
    gan.apply_grads(GanPart::Discriminator)?;
    gan.fit(&real, None, Some(&FitOptions { batch: 2, every: 1, ..Default::default() }), |p, _| p.step == 1)?;
    // a net with an optimizer, a layer never added, failed calls
    let mut net = mlp(&[3, 4], &mut rng)?;
    let mut opt = Optimizer::new(&net, None)?;
    net.zero_grad()?;
    opt.step(&mut net)?;
    let _loose = Layer::dropout(0.5, 1)?;
    assert!(Vae::try_new(mlp(&[8, 4], &mut rng)?, mlp(&[2, 8], &mut rng)?, &VaeOptions::default()).is_err());
    assert!(Gan::new(
        mlp(&[3, 2], &mut rng)?,
        mlp(&[2, 1], &mut rng)?,
        &GanOptions { latent: 2, ..Default::default() }
    )
    .is_err());
    let mut bad = Layer::relu()?;
    assert!(bad.spectral_norm(1, 1e-12, &mut rng).is_err());
    assert!(live_allocations() > 0);
    Ok(())
}

#[test]
fn drop_frees_everything() {
    let start = live_allocations();
    exercise().unwrap();
    assert_eq!(live_allocations(), start, "blocks left allocated after every handle was dropped");
}
