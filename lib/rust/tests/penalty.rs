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
