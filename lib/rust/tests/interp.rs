// SPDX-License-Identifier: MIT
//! interp.h through the safe layer: per-dimension KL and active units
//! against the encoder's output, traversals of a linear VAE and GAN with
//! known answers, the shapes set, MIG on known cases, and bad input.
use genmodel::interp::{self, Base};
use genmodel::*;

const L: usize = 4;

fn linear(inp: usize, out: usize, w: &[f32], b: &[f32]) -> Net {
    let mut net = Net::new().unwrap();
    net.add(Layer::dense(inp, out, Init::Zeros, None).unwrap()).unwrap();
    let mut p = w.to_vec();
    p.extend_from_slice(b);
    net.set_params(&p).unwrap();
    net
}

/// mu_j = a_j x_j, logvar_j = c_j; decode(z) = z (Gaussian mean); a label
/// adds 10 (k + 1) to output 0.
fn linear_vae(a: [f32; L], c: [f32; L], classes: usize) -> Vae {
    let (ein, din) = (L + classes, L + classes);
    let (mut we, mut be, mut wd) = (vec![0.0; 2 * L * ein], vec![0.0; 2 * L], vec![0.0; L * din]);
    for j in 0..L {
        we[j * ein + j] = a[j];
        be[L + j] = c[j];
        wd[j * din + j] = 1.0;
    }
    for k in 0..classes {
        wd[L + k] = 10.0 * (k + 1) as f32;
    }
    let opts =
        VaeOptions { latent: L, likelihood: Likelihood::GaussianFixed, num_classes: classes, ..Default::default() };
    Vae::new(linear(ein, 2 * L, &we, &be), linear(din, L, &wd, &[0.0; L]), &opts).unwrap()
}

fn assert_err<T: std::fmt::Debug>(r: Result<T>, status: Status, func: &str) {
    let e = r.expect_err(&format!("{func} should fail"));
    assert_eq!(e.status, status, "{e}");
    assert!(e.message.contains(func), "message of {func}: {e}");
}

#[test]
fn vae_dims_table_and_chart() {
    let mut vae = linear_vae([1.0, 0.5, 0.0, 0.05], [-1.0, 0.0, 0.0, -0.5], 0);
    let n = 40;
    let x: Vec<f32> = (0..n * L).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
    let t = Tensor::from_data(&[n, L], &x).unwrap();
    let d = interp::vae_dims(&mut vae, &t, None, 7, interp::ACTIVE_THRESHOLD).unwrap();
    let (mut mu, mut lv) = (Tensor::new(&[n, L]).unwrap(), Tensor::new(&[n, L]).unwrap());
    vae.encode(&t, None, &mut mu, Some(&mut lv)).unwrap();
    for j in 0..L {
        let m: Vec<f64> = (0..n).map(|i| mu.data()[i * L + j] as f64).collect();
        let v = lv.data()[j] as f64;
        let kl = m.iter().map(|u| 0.5 * (u * u + v.exp() - 1.0 - v)).sum::<f64>() / n as f64;
        let mean = m.iter().sum::<f64>() / n as f64;
        let var = m.iter().map(|u| (u - mean) * (u - mean)).sum::<f64>() / n as f64;
        assert!((d.kl[j] - kl).abs() < 1e-6, "kl[{j}] {} vs {kl}", d.kl[j]);
        assert!((d.activity[j] - var).abs() < 1e-6, "activity[{j}] {} vs {var}", d.activity[j]);
    }
    assert_eq!(d.active, 2);
    let order = interp::order_desc(&d.kl).unwrap();
    assert_eq!(order.len(), L);
    assert!(d.kl[order[0]] >= d.kl[order[1]]);
    let table = interp::format_table(&d.kl, &d.activity, interp::ACTIVE_THRESHOLD).unwrap();
    assert!(table.contains("active units: 2 of 4"), "{table}");
    let path = std::env::temp_dir().join(format!("gm_interp_rust_{}.png", std::process::id()));
    interp::bar_chart_png(&path, &d.kl, Some(&d.activity), interp::ACTIVE_THRESHOLD, 8, 40).unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[..4], b"\x89PNG");
    std::fs::remove_file(&path).unwrap();
    assert_err(
        interp::bar_chart_png("/tmp/x.png", &[1.0, -1.0], None, 0.0, 8, 40),
        Status::Inval,
        "gm_interp_bar_chart_png",
    );
    assert_err(interp::vae_dims(&mut vae, &t, None, 0, 0.01), Status::Inval, "gm_interp_vae_dims");
    assert_err(interp::vae_dims(&mut vae, &t, None, 4, f64::NAN), Status::Inval, "gm_interp_vae_dims");
    assert_err(interp::format_table(&d.kl, &d.activity[..3], 0.01), Status::Shape, "gm_interp_format_table");
    assert_err(interp::order_desc(&[1.0, f64::NAN]), Status::Inval, "gm_interp_order_desc");
}

#[test]
fn traversals() {
    let mut vae = linear_vae([1.0, 2.0, 3.0, 4.0], [0.0; L], 0);
    let z0 = [0.5f32, -1.0, 0.25, 2.0];
    let mut out = Tensor::new(&[10, L]).unwrap();
    interp::vae_traverse(&mut vae, Base::Latent(&z0), None, &[3, 0], 2.0, 5, &mut out).unwrap();
    for r in 0..2 {
        for s in 0..5 {
            for (j, &base) in z0.iter().enumerate() {
                let dim = [3, 0][r];
                let want = base + if j == dim { -2.0 + s as f32 } else { 0.0 };
                assert!((out.data()[(r * 5 + s) * L + j] - want).abs() < 1e-6);
            }
        }
    }
    let x = Tensor::from_data(&[1, L], &[1.0, 0.5, -0.5, 0.25]).unwrap();
    let mut two = Tensor::new(&[2, L]).unwrap();
    interp::vae_traverse(&mut vae, Base::Input(&x), None, &[1], 1.0, 2, &mut two).unwrap();
    assert!((two.data()[1] - (1.0 - 1.0)).abs() < 1e-6 && (two.data()[L + 1] - 2.0).abs() < 1e-6);
    assert_err(
        interp::vae_traverse(&mut vae, Base::Latent(&z0), None, &[4], 2.0, 5, &mut out),
        Status::Inval,
        "gm_interp_vae_traverse",
    );
    assert_err(
        interp::vae_traverse(&mut vae, Base::Latent(&z0), None, &[3, 0], 2.0, 4, &mut out),
        Status::Shape,
        "gm_interp_vae_traverse",
    );
    assert_err(
        interp::vae_traverse(&mut vae, Base::Latent(&z0[..3]), None, &[0], 2.0, 5, &mut out),
        Status::Shape,
        "gm_interp_vae_traverse",
    );
    assert_err(
        interp::vae_traverse(&mut vae, Base::Latent(&z0), Some(0), &[3, 0], 2.0, 5, &mut out),
        Status::Inval,
        "gm_interp_vae_traverse",
    );
    assert_err(interp::vae_classes(&mut vae, &z0, &mut two), Status::Unsupported, "gm_interp_vae_classes");

    let mut cvae = linear_vae([1.0; L], [0.0; L], 3);
    let mut three = Tensor::new(&[3, L]).unwrap();
    interp::vae_classes(&mut cvae, &z0, &mut three).unwrap();
    for k in 0..3 {
        assert!((three.data()[k * L] - (0.5 + 10.0 * (k + 1) as f32)).abs() < 1e-5);
    }

    let g = [1.0f32, 0.0, 3.0, 0.5];
    let mut wg = vec![0.0; L * L];
    for j in 0..L {
        wg[j * L + j] = g[j];
    }
    let opts = GanOptions { latent: L, ..Default::default() };
    let mut gan = Gan::new(linear(L, L, &wg, &[0.0; L]), linear(L, 1, &[0.0; L], &[0.0]), &opts).unwrap();
    let mut o3 = Tensor::new(&[3, L]).unwrap();
    interp::gan_traverse(&mut gan, &z0, None, &[2], 3.0, 3, &mut o3).unwrap();
    assert!((o3.data()[2] - 3.0 * (0.25 - 3.0)).abs() < 1e-5);
    let z = Tensor::from_data(&[2, L], &[0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 2.0, 0.5]).unwrap();
    let eff = interp::gan_effect(&mut gan, &z, None, 2.0, 5).unwrap();
    for j in 0..L {
        assert!((eff[j] - (g[j] * g[j]) as f64 * 2.0).abs() < 1e-4, "effect {j}: {}", eff[j]);
    }
    assert_eq!(interp::order_desc(&eff).unwrap(), vec![2, 0, 3, 1]);
    assert_err(interp::gan_effect(&mut gan, &z, None, 0.0, 5), Status::Inval, "gm_interp_gan_effect");
    assert_err(interp::gan_classes(&mut gan, &z0, &mut o3), Status::Unsupported, "gm_interp_gan_classes");
}

#[test]
fn shapes_and_mig() {
    let (sizes, count) = interp::shapes_factor_sizes(32).unwrap();
    assert_eq!(sizes, [3, 6, 16, 16, 16]);
    assert_eq!(count, 73728);
    let (f, idx) = interp::shapes_sample(32, 4, 300).unwrap();
    assert_eq!(interp::shapes_factors_to_index(32, &f).unwrap(), idx);
    assert_eq!(interp::shapes_index_to_factors(32, &idx).unwrap(), f);
    let mut uniq = idx.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), 300);
    let mut img = Tensor::new(&[2, 1, 32, 32]).unwrap();
    interp::shapes_render(32, &f[..10], &mut img).unwrap();
    assert!(img.data().iter().all(|&v| v == 0.0 || v == 1.0));
    assert!(img.data()[..1024].iter().sum::<f32>() > 10.0);
    assert_err(interp::shapes_render(32, &f[..9], &mut img), Status::Shape, "gm_shapes_render");
    assert_err(interp::shapes_render(32, &f[..5], &mut img), Status::Shape, "gm_shapes_render");
    assert_err(interp::shapes_sample(48, 1, 3), Status::Inval, "gm_shapes_sample");
    assert_err(interp::shapes_index_to_factors(32, &[count]), Status::Inval, "gm_shapes_index_to_factors");

    // the hand-computed case: MIG = 0.75 log2 3 - 0.5
    let m = interp::mig(&[0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0], 2, &[7, 7, -3, -3], 1, 2).unwrap();
    assert!((m.score - (0.75 * 3f64.log2() - 0.5)).abs() < 1e-12, "{}", m.score);
    assert!((m.mi[0] - 2f64.ln()).abs() < 1e-12);
    assert_eq!(m.gaps.len(), 1);
    // a perfect code of the shapes factors (each latent one factor) scores
    // near 1 (below it by the plug-in bias of the other dimensions' MI)
    let n = 2000;
    let (f, _) = interp::shapes_sample(32, 9, n).unwrap();
    let z: Vec<f32> = f.iter().map(|&v| v as f32).collect();
    let m = interp::mig(&z, 5, &f, 5, 20).unwrap();
    assert!(m.score > 0.95, "{}", m.score);
    assert_err(interp::mig(&z, 5, &f[..5 * n - 1], 5, 20), Status::Shape, "gm_interp_mig");
    assert_err(interp::mig(&z, 5, &f, 5, 1), Status::Inval, "gm_interp_mig");
    assert_err(interp::mig(&z, 0, &f, 5, 20), Status::Inval, "gm_interp_mig");
}
