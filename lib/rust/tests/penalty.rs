// SPDX-License-Identifier: MIT
//! Gradient penalties on a critic net: R1 against the net's own input
//! gradient, WGAN-GP's value, error paths.
use genmodel::*;

fn critic(rng: &mut Rng) -> Net {
    let mut net = Net::new().unwrap();
    net.add(Layer::dense(3, 8, Init::He, Some(rng)).unwrap()).unwrap();
    net.add(Layer::tanh().unwrap()).unwrap();
    net.add(Layer::dense(8, 1, Init::He, Some(rng)).unwrap()).unwrap();
    net
}

#[test]
fn penalties() {
    let mut rng = Rng::new(4).unwrap();
    let mut net = critic(&mut rng);
    let xs: Vec<f32> = (0..15).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3).collect();
    let x = Tensor::from_data(&[5, 3], &xs).unwrap();
    net.zero_grad().unwrap();
    let p = net.penalty_r1(&x, 2.0).unwrap();
    assert!(net.grads().unwrap().iter().any(|g| *g != 0.0));
    // the same value from the first-order input gradient
    let mut y = Tensor::new(&[5, 1]).unwrap();
    let dy = Tensor::from_data(&[5, 1], &[1.0; 5]).unwrap();
    let mut dx = Tensor::new(&[5, 3]).unwrap();
    net.forward(&x, &mut y).unwrap();
    net.backward(&dy, Some(&mut dx)).unwrap();
    let s: f64 = dx.data().iter().map(|v| (*v as f64) * (*v as f64)).sum();
    let want = s / 5.0;
    assert!(((p as f64) - want).abs() <= 1e-5 * want + 1e-7, "{p} vs {want}");
    let fake = Tensor::new(&[5, 3]).unwrap();
    let q = net.penalty_gp(&x, &fake, 10.0, &mut rng).unwrap();
    assert!(q.is_finite() && q >= 0.0);
    let e = net.penalty_r1(&x, f32::NAN).expect_err("NaN gamma");
    assert_eq!(e.status, Status::Inval);
    assert!(e.message.contains("gm_net_penalty_r1"));
    let short = Tensor::new(&[4, 3]).unwrap();
    let e = net.penalty_gp(&x, &short, 1.0, &mut rng).expect_err("fake shape");
    assert_eq!(e.status, Status::Shape);
}

fn penalized_gan(penalty: GanPenalty, weight: f32, every: u32) -> std::result::Result<Gan, Error> {
    let mut rng = Rng::new(4).unwrap();
    let mut g = Net::new().unwrap();
    g.add(Layer::dense(2, 8, Init::He, Some(&mut rng)).unwrap()).unwrap();
    g.add(Layer::relu().unwrap()).unwrap();
    g.add(Layer::dense(8, 3, Init::He, Some(&mut rng)).unwrap()).unwrap();
    let d = critic(&mut rng);
    let o =
        GanOptions { latent: 2, seed: 5, penalty, penalty_weight: weight, penalty_every: every, ..Default::default() };
    Gan::new(g, d, &o)
}

/// The GAN options penalty / penalty_weight / penalty_every: lazy R1 on
/// every second step, GP, the options back, and bad values refused.
#[test]
fn gan_penalty_options() {
    let xs: Vec<f32> = (0..24).map(|i| ((i * 7 % 11) as f32 - 5.0) * 0.3).collect();
    let x = Tensor::from_data(&[8, 3], &xs).unwrap();
    let mut gan = penalized_gan(GanPenalty::R1, 0.5, 2).unwrap();
    let o = gan.options();
    assert_eq!((o.penalty, o.penalty_weight, o.penalty_every), (GanPenalty::R1, 0.5, 2));
    let pens: Vec<f32> = (0..4).map(|_| gan.train_step(&x, None).unwrap().penalty).collect();
    assert!(pens[0] > 0.0 && pens[2] > 0.0, "{pens:?}");
    assert_eq!((pens[1], pens[3]), (0.0, 0.0));
    let mut gp = penalty_gp_gan();
    assert!(gp.train_step(&x, None).unwrap().penalty > 0.0);
    assert_eq!(GanOptions::default().penalty, GanPenalty::None);
    assert_eq!(GanOptions::default().penalty_every, 1);
    for (p, w, every, field) in [
        (GanPenalty::R1, f32::NAN, 1, "penalty_weight"),
        (GanPenalty::R1, -1.0, 1, "penalty_weight"),
        (GanPenalty::R1, 1.0, 0, "penalty_every"),
        (GanPenalty::Gp, 1.0, 2, "penalty_every"),
    ] {
        let e = penalized_gan(p, w, every).err().unwrap();
        assert_eq!(e.status, Status::Inval);
        assert!(e.message.contains("gm_gan_create") && e.message.contains(field), "{}", e.message);
    }
}

fn penalty_gp_gan() -> Gan {
    penalized_gan(GanPenalty::Gp, 10.0, 1).unwrap()
}
