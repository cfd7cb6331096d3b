// SPDX-License-Identifier: MIT
//! The moving-average generator through the safe layer: `ema_decay`,
//! `use_ema`, `ema_params`, and the average across a checkpoint; and
//! `set_truncation`. Mirrors tests/test_gan_ema.c and
//! tests/test_gan_truncation.c.
use genmodel::*;

fn make_gan(ema: f32) -> std::result::Result<Gan, Error> {
    let mut rng = Rng::new(4).unwrap();
    let mut g = Net::new().unwrap();
    g.add(Layer::dense(2, 8, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    g.add(Layer::relu().unwrap()).unwrap();
    g.add(Layer::dense(8, 3, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    let mut d = Net::new().unwrap();
    d.add(Layer::dense(3, 8, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    d.add(Layer::relu().unwrap()).unwrap();
    d.add(Layer::dense(8, 1, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    Gan::new(g, d, &GanOptions { latent: 2, seed: 5, ema_decay: ema, ..Default::default() })
}

fn batch(step: usize) -> Tensor {
    let data: Vec<f32> = (0..24).map(|i| ((step * 31 + i * 7) % 17) as f32 / 17.0).collect();
    Tensor::from_data(&[8, 3], &data).unwrap()
}

fn generate(gan: &mut Gan) -> Vec<f32> {
    let z = Tensor::from_data(&[2, 2], &[0.5, -1.0, 1.5, 0.25]).unwrap();
    let mut out = Tensor::new(&[2, 3]).unwrap();
    gan.generate(&z, None, &mut out).unwrap();
    out.data().to_vec()
}

#[test]
fn ema_samples_checkpoint_and_errors() {
    let (mut on, mut off) = (make_gan(0.9).unwrap(), make_gan(0.0).unwrap());
    assert_eq!(on.options().ema_decay, 0.9);
    for s in 0..12 {
        on.train_step(&batch(s), None).unwrap();
        off.train_step(&batch(s), None).unwrap();
    }
    let avg = on.ema_params().unwrap();
    assert_eq!(avg.len(), on.generator().param_count());
    assert_ne!(generate(&mut on), generate(&mut off));
    on.use_ema(false).unwrap();
    assert_eq!(generate(&mut on), generate(&mut off));
    on.use_ema(true).unwrap();
    let ema_out = generate(&mut on);
    let p = std::env::temp_dir().join(format!("genmodel-rs-ema-{}.gmck", std::process::id()));
    on.save(&p).unwrap();
    let mut back = Gan::load(&p).unwrap();
    let _ = std::fs::remove_file(&p);
    assert_eq!(back.ema_params().unwrap(), avg);
    assert_eq!(generate(&mut back), ema_out);
    assert_eq!(off.use_ema(true).unwrap_err().status, Status::State);
    assert_eq!(off.ema_params().unwrap_err().status, Status::State);
    off.use_ema(false).unwrap();
    for bad in [-0.1f32, 1.0, f32::NAN] {
        assert_eq!(make_gan(bad).err().unwrap().status, Status::Inval);
    }
}

/// G the identity (dense 2 -> 2), so samples are the latents.
fn identity_gan() -> Gan {
    let mut rng = Rng::new(6).unwrap();
    let mut g = Net::new().unwrap();
    g.add(Layer::dense(2, 2, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    g.set_params(&[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]).unwrap();
    let mut d = Net::new().unwrap();
    d.add(Layer::dense(2, 1, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    Gan::new(g, d, &GanOptions { latent: 2, seed: 6, ..Default::default() }).unwrap()
}

fn sample(gan: &mut Gan, n: usize) -> Vec<f32> {
    let mut out = Tensor::new(&[n, 2]).unwrap();
    gan.sample(n, None, &mut out).unwrap();
    out.data().to_vec()
}

#[test]
fn truncation_keeps_the_stream_within_the_threshold() {
    let (mut plain, mut cut) = (identity_gan(), identity_gan());
    cut.set_truncation(0.5).unwrap();
    let stream = sample(&mut plain, 400);
    let got = sample(&mut cut, 50);
    let want: Vec<f32> = stream.into_iter().filter(|v| v.abs() <= 0.5).take(100).collect();
    assert_eq!(got, want);
    for bad in [-1.0f32, 0.05, f32::NAN, f32::INFINITY] {
        assert_eq!(cut.set_truncation(bad).unwrap_err().status, Status::Inval);
    }
    assert!(sample(&mut cut, 50).iter().all(|v| v.abs() <= 0.5)); // still 0.5
                                                                  // the same rule on a bare generator
    let (mut r1, mut r2) = (Rng::new(8).unwrap(), Rng::new(8).unwrap());
    let (mut plain_z, mut cut_z) = (vec![0f32; 400], vec![0f32; 100]);
    r1.normal(&mut plain_z).unwrap();
    r2.truncated_normal(&mut cut_z, 0.5).unwrap();
    let want: Vec<f32> = plain_z.into_iter().filter(|v| v.abs() <= 0.5).take(100).collect();
    assert_eq!(cut_z, want);
    assert_eq!(r2.truncated_normal(&mut cut_z, 0.0999).unwrap_err().status, Status::Inval);
    let (mut a, mut b) = (identity_gan(), identity_gan());
    a.set_truncation(1.0).unwrap();
    a.set_truncation(0.0).unwrap(); // off again: the plain stream
    assert_eq!(sample(&mut a, 3), sample(&mut b, 3));
}
