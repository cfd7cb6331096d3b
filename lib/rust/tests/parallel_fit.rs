// SPDX-License-Identifier: MIT
//! Data-parallel training (compute_grads / grads / apply_grads, the
//! all-reduce done by hand on the lent buffers) and `fit` with a Rust
//! closure. Mirrors tests/test_vae.c and tests/test_gan.c test_data_parallel
//! and tests/test_fit.c.
use genmodel::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Summed shards differ from the whole batch by float rounding only.
const TOL: f32 = 1e-5;

fn mlp(sizes: &[usize], rng: &mut Rng, leaky: bool) -> Net {
    let mut net = Net::new().unwrap();
    for (i, w) in sizes.windows(2).enumerate() {
        if i > 0 {
            net.add(if leaky { Layer::leaky_relu(0.2) } else { Layer::relu() }.unwrap()).unwrap();
        }
        net.add(Layer::dense(w[0], w[1], Init::Torch, Some(rng)).unwrap()).unwrap();
    }
    net
}

fn adam(lr: f32) -> Option<OptimizerOptions> {
    Some(OptimizerOptions { lr, ..Default::default() })
}

const D: usize = 10;
const CLASSES: usize = 4;

/// A conditional VAE; every call makes the same one (same seeds).
fn make_vae() -> Vae {
    let (l, h) = (3, 16);
    let mut rng = Rng::new(61).unwrap();
    let enc = mlp(&[D + CLASSES, h, 2 * l], &mut rng, false);
    let dec = mlp(&[l + CLASSES, h, D], &mut rng, false);
    let opts = VaeOptions { latent: l, num_classes: CLASSES, seed: 5, optimizer: adam(1e-2), ..Default::default() };
    Vae::new(enc, dec, &opts).unwrap()
}

const DATA: usize = 3;

/// A conditional GAN (2 classes, n_critic 2); every call makes the same one.
fn make_gan() -> Gan {
    let (l, c, h) = (2, 2, 16);
    let g = mlp(&[l + c, h, DATA], &mut Rng::new(1).unwrap(), true);
    let d = mlp(&[DATA + c, h, 1], &mut Rng::new(2).unwrap(), true);
    let opts = GanOptions {
        latent: l,
        n_critic: 2,
        real_label: 0.9,
        num_classes: c,
        seed: 77,
        g_optimizer: adam(1e-2),
        d_optimizer: adam(1e-2),
        ..Default::default()
    };
    Gan::new(g, d, &opts).unwrap()
}

fn vae_params(v: &Vae) -> Vec<f32> {
    [v.encoder().params().unwrap(), v.decoder().params().unwrap()].concat()
}

fn gan_params(g: &Gan) -> Vec<f32> {
    [g.generator().params().unwrap(), g.discriminator().params().unwrap()].concat()
}

/// n rows of `d` values in (0.05, 0.95).
fn rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut v = vec![0.0; n * d];
    Rng::new(seed).unwrap().uniform(&mut v).unwrap();
    v.iter().map(|u| 0.05 + 0.9 * u).collect()
}

fn assert_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    assert!(worst <= tol, "{what}: max |difference| {worst} > {tol}");
}

fn assert_err<T: std::fmt::Debug>(r: Result<T>, status: Status, func: &str) {
    let e = r.expect_err(&format!("{func} should fail"));
    assert_eq!(e.status, status, "{e}");
    assert!(e.message.contains(func), "message of {func}: {e}");
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

// ---- VAE data parallelism -------------------------------------------------

#[test]
fn vae_two_shards_equal_one_batch() {
    let (n, cut) = (12, 5);
    let (mut reference, mut one, mut wa, mut wb) = (make_vae(), make_vae(), make_vae(), make_vae());
    let data = rows(3 * n, D, 62);
    let labels: Vec<i32> = (0..3 * n as i32).map(|i| i % CLASSES as i32).collect();
    for step in 0..3 {
        let x = &data[step * n * D..(step + 1) * n * D];
        let y = &labels[step * n..(step + 1) * n];
        let all = Tensor::from_data(&[n, D], x).unwrap();
        let xa = Tensor::from_data(&[cut, D], &x[..cut * D]).unwrap();
        let xb = Tensor::from_data(&[n - cut, D], &x[cut * D..]).unwrap();
        let sr = reference.train_step(&all, Some(y)).unwrap();
        let s1 = one.compute_grads(&all, Some(y), 0, n).unwrap(); // the whole batch
        one.apply_grads().unwrap();
        assert_eq!(s1, sr);
        let sa = wa.compute_grads(&xa, Some(&y[..cut]), 0, n).unwrap();
        let sb = wb.compute_grads(&xb, Some(&y[cut..]), cut, n).unwrap();
        // the shards' statistics average to the batch's
        let mean = (sa.loss * cut as f32 + sb.loss * (n - cut) as f32) / n as f32;
        assert!((mean - sr.loss).abs() <= 1e-4 * sr.loss.abs(), "{mean} vs {}", sr.loss);
        // the all-reduce, in place in the lent buffers
        let sum: Vec<f32> = wa.grads().iter().zip(wb.grads().iter()).map(|(a, b)| a + b).collect();
        assert_eq!(sum.len(), wa.encoder().param_count() + wa.decoder().param_count());
        wa.grads().copy_from_slice(&sum);
        wb.grads().copy_from_slice(&sum);
        wa.apply_grads().unwrap();
        wb.apply_grads().unwrap();
    }
    let (pr, p1, pa, pb) = (vae_params(&reference), vae_params(&one), vae_params(&wa), vae_params(&wb));
    assert_eq!(p1, pr, "compute + apply on the whole batch != train_step");
    assert_eq!(pa, pb, "the replicas differ");
    assert_close(&pa, &pr, TOL, "two shards vs one batch");
    assert!(pa != vae_params(&make_vae()), "nothing was trained");
    for v in [&reference, &one, &wa, &wb] {
        assert_eq!(v.step_count(), 3);
    }
}

#[test]
fn vae_grad_buffer_is_lent_and_checked() {
    let mut vae = make_vae();
    let x = Tensor::from_data(&[6, D], &rows(6, D, 3)).unwrap();
    let y = [0, 1, 2, 3, 0, 1];
    assert_err(vae.apply_grads(), Status::State, "gm_vae_apply_grads"); // nothing computed
    vae.compute_grads(&x, Some(&y), 0, 6).unwrap();
    let p0 = vae.grads().as_ptr();
    let g = vae.grads();
    assert!(g.iter().all(|v| v.is_finite()) && g.iter().any(|&v| v != 0.0));
    g[0] = 123.0;
    assert_eq!(vae.grads()[0], 123.0);
    assert_eq!(vae.grads().as_ptr(), p0, "one C buffer, not copies");
    vae.grads()[3] = f32::NAN;
    let before = vae_params(&vae);
    assert_err(vae.apply_grads(), Status::Numeric, "gm_vae_apply_grads");
    assert_eq!(vae_params(&vae), before);
    vae.grads().fill(0.0);
    vae.apply_grads().unwrap(); // a zero gradient
    assert_eq!(vae.step_count(), 1);
    assert_err(vae.apply_grads(), Status::State, "gm_vae_apply_grads"); // applied already
    assert_err(vae.compute_grads(&x, Some(&y), 8, 12), Status::Inval, "gm_vae_compute_grads");
    assert_err(vae.compute_grads(&x, Some(&y), 0, 4), Status::Inval, "gm_vae_compute_grads");
    assert_err(vae.compute_grads(&x, None, 0, 6), Status::Inval, "gm_vae_compute_grads");
    assert_err(vae.compute_grads(&x, Some(&y[..2]), 0, 6), Status::Shape, "gm_vae_compute_grads");
}

// ---- GAN data parallelism -------------------------------------------------

/// One training step as compute / sum / apply over workers holding rows
/// `cuts[w] .. cuts[w + 1]` of `real`.
fn split_step(workers: &mut [&mut Gan], cuts: &[usize], real: &[f32], labels: &[i32], n_critic: u32) {
    let total = *cuts.last().unwrap();
    for c in 0..=n_critic {
        let part = if c < n_critic { GanPart::Discriminator } else { GanPart::Generator };
        let mut sum: Vec<f32> = vec![];
        for (w, gan) in workers.iter_mut().enumerate() {
            let (a, b) = (cuts[w], cuts[w + 1]);
            let x = Tensor::from_data(&[b - a, DATA], &real[a * DATA..b * DATA]).unwrap();
            gan.compute_grads(part, &x, Some(&labels[a..b]), a, total).unwrap();
            let g = gan.grads(part);
            sum.resize(g.len(), 0.0);
            sum.iter_mut().zip(g.iter()).for_each(|(s, v)| *s += v);
        }
        for gan in workers.iter_mut() {
            gan.grads(part).copy_from_slice(&sum);
            gan.apply_grads(part).unwrap();
        }
    }
}

#[test]
fn gan_two_shards_equal_one_batch() {
    const N: usize = 8;
    let (mut reference, mut one, mut wa, mut wb) = (make_gan(), make_gan(), make_gan(), make_gan());
    let y = [0, 1, 1, 0, 1, 0, 0, 1];
    let mut rng = Rng::new(5).unwrap();
    let mut real = [0.0f32; N * DATA];
    for _ in 0..4 {
        rng.normal(&mut real).unwrap();
        reference.train_step(&Tensor::from_data(&[N, DATA], &real).unwrap(), Some(&y)).unwrap();
        split_step(&mut [&mut one], &[0, N], &real, &y, 2);
        split_step(&mut [&mut wa, &mut wb], &[0, 3, N], &real, &y, 2);
    }
    let (pr, p1, pa, pb) = (gan_params(&reference), gan_params(&one), gan_params(&wa), gan_params(&wb));
    assert_eq!(p1, pr, "a one-worker split step != train_step");
    assert_eq!(pa, pb, "the replicas differ");
    assert_close(&pa, &pr, TOL, "two shards vs one batch");
    for g in [&reference, &one, &wa, &wb] {
        assert_eq!(g.step_count(), 4);
    }
}

#[test]
fn gan_parts_and_errors() {
    let mut gan = make_gan();
    let real = Tensor::from_data(&[8, DATA], &rows(8, DATA, 4)).unwrap();
    let y = [0; 8];
    let (nd, ng) = (gan.discriminator().param_count(), gan.generator().param_count());
    assert_eq!((gan.grads(GanPart::Discriminator).len(), gan.grads(GanPart::Generator).len()), (nd, ng));
    assert_eq!((GanPart::Discriminator.raw(), GanPart::Generator.raw()), (0, 1));
    assert_eq!(GanPart::from_raw(2), None);
    let st = gan.compute_grads(GanPart::Discriminator, &real, Some(&y), 0, 8).unwrap();
    assert!(st.d_loss.is_finite() && st.g_loss == 0.0 && st.d_fake == 0.0, "{st:?}");
    assert_err(gan.apply_grads(GanPart::Generator), Status::State, "gm_gan_apply_grads");
    gan.grads(GanPart::Discriminator)[0] = f32::INFINITY;
    assert_err(gan.apply_grads(GanPart::Discriminator), Status::Numeric, "gm_gan_apply_grads");
    assert_err(gan.compute_grads(GanPart::Generator, &real, Some(&y), 6, 8), Status::Inval, "gm_gan_compute_grads");
    let st = gan.compute_grads(GanPart::Generator, &real, Some(&y), 0, 8).unwrap();
    assert!(st.g_loss.is_finite() && st.d_loss == 0.0, "{st:?}");
    gan.apply_grads(GanPart::Generator).unwrap();
    assert_eq!(gan.step_count(), 1);
}

// ---- fit --------------------------------------------------------------------

/// 11 rows in batches of 3 (3 steps an epoch, a row dropped), 2 epochs,
/// every 2: callbacks after steps 2, 3 (the epoch's end), 5, 6.
struct FitData {
    x: Tensor,
    y: Vec<i32>,
    opts: FitOptions,
}

fn fit_data() -> FitData {
    let n = 11;
    FitData {
        x: Tensor::from_data(&[n, D], &rows(n, D, 8)).unwrap(),
        y: (0..n as i32).map(|i| i % CLASSES as i32).collect(),
        opts: FitOptions { epochs: 2, batch: 3, every: 2, shuffle_seed: 9 },
    }
}

#[test]
fn fit_options_defaults() {
    let o = FitOptions::default();
    assert_eq!((o.epochs, o.batch, o.every, o.shuffle_seed), (1, 0, 100, 0));
    let raw = o.raw();
    assert_eq!(raw.size, std::mem::size_of::<sys::gm_fit_options>());
}

#[test]
fn vae_fit_schedule_and_progress() {
    let f = fit_data();
    let mut vae = make_vae();
    let mut calls: Vec<(FitProgress, VaeStats)> = vec![];
    vae.fit(&f.x, Some(&f.y), Some(&f.opts), |p, m| {
        calls.push((*p, *m));
        false
    })
    .unwrap();
    assert_eq!(vae.step_count(), 2 * (11 / 3));
    let field = |g: fn(&FitProgress) -> u64| calls.iter().map(|(p, _)| g(p)).collect::<Vec<_>>();
    assert_eq!(field(|p| p.step), [2, 3, 5, 6]);
    assert_eq!(field(|p| p.epoch.into()), [1, 1, 2, 2]);
    assert_eq!(field(|p| p.epoch_step), [2, 3, 2, 3]);
    assert_eq!(field(|p| p.steps_averaged), [2, 1, 2, 1]);
    let (p, _) = calls[3];
    assert_eq!((p.epochs, p.steps_per_epoch), (2, 3));
    assert!(p.seconds >= 0.0);
    assert!(calls.iter().all(|(_, m)| m.loss.is_finite() && m.beta == 1.0));
}

#[test]
fn vae_fit_is_deterministic_and_equals_train_steps() {
    let f = fit_data();
    let (mut a, mut b, mut c) = (make_vae(), make_vae(), make_vae());
    a.fit(&f.x, Some(&f.y), Some(&f.opts), |_, _| false).unwrap();
    b.fit(&f.x, Some(&f.y), Some(&f.opts), |_, _| false).unwrap();
    assert_eq!(vae_params(&a), vae_params(&b));
    c.fit(&f.x, Some(&f.y), Some(&FitOptions { shuffle_seed: 10, ..f.opts }), |_, _| false).unwrap();
    assert_ne!(vae_params(&a), vae_params(&c));
    // identical rows: every shuffle gives the same batches, so fit is train_step
    let same = Tensor::from_data(&[5, D], &f.x.data()[..D].repeat(5)).unwrap();
    let labels = [0; 5];
    let (mut a, mut b) = (make_vae(), make_vae());
    let mut seen = vec![];
    let opts = FitOptions { epochs: 3, batch: 5, every: 1, shuffle_seed: 0 };
    a.fit(&same, Some(&labels), Some(&opts), |_, m| {
        seen.push(*m);
        false
    })
    .unwrap();
    let want: Vec<VaeStats> = (0..3).map(|_| b.train_step(&same, Some(&labels)).unwrap()).collect();
    assert_eq!(seen, want);
    assert_eq!(vae_params(&a), vae_params(&b));
}

#[test]
fn vae_fit_callback_stops() {
    let f = fit_data();
    let mut vae = make_vae();
    let mut calls = vec![];
    vae.fit(&f.x, Some(&f.y), Some(&f.opts), |p, _| {
        calls.push(p.step);
        calls.len() == 2
    })
    .unwrap();
    assert_eq!(calls, [2, 3]);
    assert_eq!(vae.step_count(), 3);
}

#[test]
fn vae_fit_panic_propagates_and_the_vae_stays_usable() {
    let f = fit_data();
    let mut vae = make_vae();
    let mut calls = vec![];
    let r = catch_unwind(AssertUnwindSafe(|| {
        vae.fit(&f.x, Some(&f.y), Some(&f.opts), |p, _| {
            calls.push(p.step);
            if calls.len() == 2 {
                panic!("boom from the callback");
            }
            false
        })
    }));
    let payload = r.expect_err("the panic must reach the caller");
    assert_eq!(panic_message(payload), "boom from the callback");
    assert_eq!(calls, [2, 3], "called again after the panic");
    assert_eq!(vae.step_count(), 3, "the steps before the panic stay");
    assert!(vae.train_step(&f.x, Some(&f.y)).unwrap().loss.is_finite());
    vae.fit(&f.x, Some(&f.y), Some(&f.opts), |_, _| false).unwrap();
    assert_eq!(vae.step_count(), 3 + 1 + 6);
    // a panic with a non-string payload too
    let r = catch_unwind(AssertUnwindSafe(|| {
        vae.fit(&f.x, Some(&f.y), Some(&f.opts), |_, _| std::panic::panic_any(42u32))
    }));
    assert_eq!(r.expect_err("panic").downcast_ref::<u32>(), Some(&42));
    assert_eq!(vae.step_count(), 10 + 2);
}

#[test]
fn vae_fit_bad_arguments() {
    let f = fit_data();
    let mut vae = make_vae();
    let never = |_: &FitProgress, _: &VaeStats| -> bool { panic!("no step may run") };
    let too_big = FitOptions { batch: 12, ..f.opts }; // batch 12 > N = 11
    assert_err(vae.fit(&f.x, Some(&f.y), Some(&too_big), never), Status::Inval, "gm_vae_fit");
    let every0 = FitOptions { every: 0, ..f.opts };
    assert_err(vae.fit(&f.x, Some(&f.y), Some(&every0), never), Status::Inval, "gm_vae_fit");
    let epochs0 = FitOptions { epochs: 0, ..f.opts };
    assert_err(vae.fit(&f.x, Some(&f.y), Some(&epochs0), never), Status::Inval, "gm_vae_fit");
    assert_err(vae.fit(&f.x, Some(&f.y[..5]), Some(&f.opts), never), Status::Shape, "gm_vae_fit");
    assert_err(vae.fit(&f.x, None, Some(&f.opts), never), Status::Inval, "gm_vae_fit");
    let mut bad = f.x.to_vec();
    bad[7 * D] = 2.0; // outside [0, 1]: the whole data set is checked first
    let bad = Tensor::from_data(&[11, D], &bad).unwrap();
    assert_err(vae.fit(&bad, Some(&f.y), Some(&f.opts), never), Status::Inval, "gm_vae_fit");
    assert_eq!(vae.step_count(), 0);
    // None (or the defaults): batch 0 = min(128, N) = N: one step an epoch
    let mut steps = vec![];
    vae.fit(&f.x, Some(&f.y), None, |p, _| {
        steps.push((p.step, p.steps_per_epoch));
        false
    })
    .unwrap();
    assert_eq!(steps, [(1, 1)]);
}

#[test]
fn gan_fit() {
    let n = 10;
    let x = Tensor::from_data(&[n, DATA], &rows(n, DATA, 12)).unwrap();
    let y: Vec<i32> = (0..n as i32).map(|i| i % 2).collect();
    let opts = FitOptions { epochs: 3, batch: 4, ..Default::default() }; // every 100: epoch ends only
    let (mut a, mut b) = (make_gan(), make_gan());
    let mut calls = vec![];
    a.fit(&x, Some(&y), Some(&opts), |p, m| {
        assert!(m.d_loss.is_finite() && m.g_loss.is_finite());
        calls.push((p.step, p.steps_averaged));
        false
    })
    .unwrap();
    assert_eq!(a.step_count(), 3 * (10 / 4));
    assert_eq!(calls, [(2, 2), (4, 2), (6, 2)]);
    b.fit(&x, Some(&y), Some(&opts), |_, _| false).unwrap();
    assert_eq!(gan_params(&a), gan_params(&b));
    let every1 = FitOptions { every: 1, ..opts };
    b.fit(&x, Some(&y), Some(&every1), |p, _| p.step == 3).unwrap();
    assert_eq!(b.step_count(), 6 + 3);
    let r = catch_unwind(AssertUnwindSafe(|| b.fit(&x, Some(&y), Some(&every1), |_, _| panic!("gan boom"))));
    assert_eq!(panic_message(r.expect_err("panic")), "gan boom");
    assert_eq!(b.step_count(), 6 + 3 + 1);
    b.train_step(&x, Some(&y)).unwrap();
    assert_eq!(b.step_count(), 11);
    assert_err(b.fit(&x, Some(&y), Some(&FitOptions { batch: 11, ..opts }), |_, _| false), Status::Inval, "gm_gan_fit");
}
