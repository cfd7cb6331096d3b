// SPDX-License-Identifier: MIT
//! Checkpoints through the safe layer: exact resume of a VAE and a GAN,
//! a net round trip, and the errors of bad files. Mirrors
//! tests/test_checkpoint.c.
use genmodel::*;
use std::path::PathBuf;

fn mlp(sizes: &[usize], rng: &mut Rng) -> Net {
    let mut net = Net::new().unwrap();
    for (i, w) in sizes.windows(2).enumerate() {
        if i > 0 {
            net.add(Layer::relu().unwrap()).unwrap();
        }
        net.add(Layer::dense(w[0], w[1], Init::Torch, Some(rng)).unwrap()).unwrap();
    }
    net
}

fn make_vae() -> Vae {
    let mut rng = Rng::new(3).unwrap();
    let enc = mlp(&[6, 8, 4], &mut rng);
    let dec = mlp(&[2, 8, 6], &mut rng);
    Vae::new(enc, dec, &VaeOptions { latent: 2, seed: 9, ..Default::default() }).unwrap()
}

fn make_gan() -> Gan {
    let mut rng = Rng::new(4).unwrap();
    let g = mlp(&[2, 8, 3], &mut rng);
    let d = mlp(&[3, 8, 1], &mut rng);
    Gan::new(g, d, &GanOptions { latent: 2, n_critic: 2, seed: 5, ..Default::default() }).unwrap()
}

fn batch(step: usize, width: usize) -> Tensor {
    let data: Vec<f32> = (0..8 * width).map(|i| ((step * 31 + i * 7) % 17) as f32 / 17.0).collect();
    Tensor::from_data(&[8, width], &data).unwrap()
}

/// A test's own temporary directory, removed (with its files) on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("genmodel-rs-ckpt-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn vae_resume_is_exact() {
    let (mut straight, mut first) = (make_vae(), make_vae());
    for s in 0..7 {
        straight.train_step(&batch(s, 6), None).unwrap();
    }
    for s in 0..3 {
        first.train_step(&batch(s, 6), None).unwrap();
    }
    let tmp = TempDir::new("vae");
    let p = tmp.join("vae.gmck");
    first.save(&p).unwrap();
    let mut resumed = Vae::load(&p).unwrap();
    assert_eq!(resumed.step_count(), 3);
    assert_eq!(resumed.options().latent, 2);
    assert_eq!(resumed.options().seed, 9);
    for s in 3..7 {
        resumed.train_step(&batch(s, 6), None).unwrap();
    }
    assert_eq!(resumed.encoder().params().unwrap(), straight.encoder().params().unwrap());
    assert_eq!(resumed.decoder().params().unwrap(), straight.decoder().params().unwrap());
}

#[test]
fn gan_resume_is_exact_and_set_lr_checks() {
    let (mut straight, mut first) = (make_gan(), make_gan());
    for s in 0..6 {
        straight.train_step(&batch(s, 3), None).unwrap();
    }
    for s in 0..2 {
        first.train_step(&batch(s, 3), None).unwrap();
    }
    let tmp = TempDir::new("gan");
    let p = tmp.join("gan.gmck");
    first.save(&p).unwrap();
    let mut resumed = Gan::load(&p).unwrap();
    assert_eq!(resumed.options().n_critic, 2);
    for s in 2..6 {
        resumed.train_step(&batch(s, 3), None).unwrap();
    }
    assert_eq!(resumed.generator().params().unwrap(), straight.generator().params().unwrap());
    assert_eq!(resumed.discriminator().params().unwrap(), straight.discriminator().params().unwrap());
    let e = resumed.set_lr(GanPart::Generator, -1.0).unwrap_err();
    assert_eq!(e.status, Status::Inval);
    assert!(e.message.contains("gm_gan_set_lr"), "{}", e.message);
    resumed.set_lr(GanPart::Discriminator, 1e-4).unwrap();
}

#[test]
fn net_round_trip_and_bad_files() {
    let net = mlp(&[3, 4, 2], &mut Rng::new(1).unwrap());
    let tmp = TempDir::new("net");
    let p = tmp.join("net.gmck");
    net.save(&p).unwrap();
    let back = Net::load(&p).unwrap();
    assert_eq!(back.num_layers(), 3);
    assert_eq!(back.params().unwrap(), net.params().unwrap());
    let bytes = std::fs::read(&p).unwrap();
    let bad = tmp.join("bad.gmck");
    std::fs::write(&bad, &bytes[..bytes.len() - 1]).unwrap();
    assert_eq!(Net::load(&bad).unwrap_err().status, Status::Format);
    assert_eq!(Vae::load(&p).unwrap_err().status, Status::Format); // a net file
    assert_eq!(Gan::load(tmp.join("missing.gmck")).unwrap_err().status, Status::Io);
}
