// SPDX-License-Identifier: MIT
//! eval.h through the safe layer: the Fréchet distance against the committed
//! scipy reference (tests/data/reference_frechet.txt), precision/recall and
//! density/coverage against brute force, the nearest-neighbour summary, the one-call report,
//! and bad input giving errors that name the C function.
use genmodel::*;
use std::collections::HashMap;
use std::path::PathBuf;

/// name -> (shape, values) of the fixture's records.
fn fixture() -> HashMap<String, (Vec<usize>, Vec<f64>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/reference_frechet.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("genmodel-reference 1"));
    let mut out = HashMap::new();
    let mut lines = lines.map(|l| l.split('#').next().unwrap()).filter(|l| !l.trim().is_empty());
    while let Some(head) = lines.next() {
        let words: Vec<&str> = head.split_whitespace().collect();
        let nd: usize = words[1].parse().unwrap();
        let shape: Vec<usize> = words[2..2 + nd].iter().map(|w| w.parse().unwrap()).collect();
        let n: usize = shape.iter().product();
        let mut values = vec![];
        while values.len() < n {
            values.extend(lines.next().unwrap().split_whitespace().map(|w| w.parse::<f64>().unwrap()));
        }
        out.insert(words[0].to_string(), (shape, values));
    }
    out
}

fn tensor(fx: &HashMap<String, (Vec<usize>, Vec<f64>)>, name: &str) -> Tensor {
    let (shape, values) = &fx[name];
    let data: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(shape, &data).unwrap()
}

fn assert_err<T: std::fmt::Debug>(r: Result<T>, status: Status, func: &str) {
    let e = r.expect_err(&format!("{func} should fail"));
    assert_eq!(e.status, status, "{e}");
    assert!(e.message.contains(func), "message of {func}: {e}");
}

#[test]
fn frechet_matches_scipy_and_pr_brute_force() {
    let fx = fixture();
    for case in ["shifted", "close"] {
        let (a, b) = (tensor(&fx, &format!("fd.{case}.a")), tensor(&fx, &format!("fd.{case}.b")));
        let want = fx[&format!("fd.{case}.distance")].1[0];
        let got = frechet(&a, &b).unwrap();
        assert!((got - want).abs() <= 1e-3 * want, "{case}: {got} vs scipy {want}");
        assert!(frechet(&a, &a).unwrap() <= 1e-9);
    }
    let (real, fake) = (tensor(&fx, "pr.real"), tensor(&fx, "pr.fake"));
    let (p, r) = precision_recall(&real, &fake, fx["pr.k"].1[0] as usize).unwrap();
    assert!((p - fx["pr.precision"].1[0]).abs() < 1e-12 && (r - fx["pr.recall"].1[0]).abs() < 1e-12);
    assert_eq!(precision_recall(&real, &real, 3).unwrap(), (1.0, 1.0));
}

#[test]
fn density_coverage_brute_force_and_one_point() {
    let fx = fixture();
    for case in ["pr", "dc.shifted", "dc.point"] {
        let (real, fake) = (tensor(&fx, &format!("{case}.real")), tensor(&fx, &format!("{case}.fake")));
        let k = fx[&format!("{case}.k")].1[0] as usize;
        let (d, c) = density_coverage(&real, &fake, k).unwrap();
        for (got, name) in [(d, "density"), (c, "coverage")] {
            let want = fx[&format!("{case}.{name}")].1[0];
            assert!((got - want).abs() <= 1e-12 + 1e-9 * want.abs(), "{case}.{name}: {got} vs {want}");
        }
    }
    // 40 copies of the reals' mean: precision 1, coverage and density count
    // the few real balls holding it, as for the point alone
    let real = tensor(&fx, "dc.point.real");
    let point = &fx["dc.point.fake"].1;
    let copies: Vec<f32> = (0..40).flat_map(|_| point.iter().map(|&v| v as f32)).collect();
    let copies = Tensor::from_data(&[40, point.len()], &copies).unwrap();
    assert_eq!(precision_recall(&real, &copies, 3).unwrap().0, 1.0);
    let (d, c) = density_coverage(&real, &copies, 3).unwrap();
    assert_eq!((d, c), density_coverage(&real, &tensor(&fx, "dc.point.fake"), 3).unwrap());
    assert!(c < 0.1 && (d * 3.0 - c * 100.0).abs() < 1e-12, "density {d} coverage {c}");
    assert_err(density_coverage(&real, &copies, 100), Status::Inval, "gm_eval_density_coverage");
    assert_err(density_coverage(&real, &Tensor::new(&[4, 3]).unwrap(), 3), Status::Shape, "gm_eval_density_coverage");
}

#[test]
fn nearest_summary() {
    let train = Tensor::new(&[1, 1]).unwrap();
    let values: Vec<f32> = (1..=20).map(|v| v as f32).collect();
    let samples = Tensor::from_data(&[20, 1], &values).unwrap();
    let mut dist = Tensor::new(&[20]).unwrap();
    let st = nearest(&samples, &train, Some(&mut dist)).unwrap();
    assert_eq!((st.mean, st.min, st.median, st.max), (10.5, 1.0, 10.5, 20.0));
    assert!((st.q05 - 1.95).abs() < 1e-12);
    assert_eq!(dist.to_vec(), values);
}

#[test]
fn report_and_bad_input() {
    let mut rng = Rng::new(5).unwrap();
    let mut net = Net::new().unwrap();
    net.add(Layer::conv2d(1, 4, 4, 2, 1, Init::He, Some(&mut rng)).unwrap()).unwrap();
    net.add(Layer::relu().unwrap()).unwrap();
    net.add(Layer::flatten().unwrap()).unwrap();
    net.add(Layer::dense(4 * 14 * 14, 6, Init::He, Some(&mut rng)).unwrap()).unwrap();
    let mut samples = Tensor::new(&[30, 1, 28, 28]).unwrap();
    let mut real = Tensor::new(&[25, 1, 28, 28]).unwrap();
    samples.fill_uniform(&mut rng).unwrap();
    real.fill_uniform(&mut rng).unwrap();
    let mut enc = Net::new().unwrap();
    enc.add(Layer::flatten().unwrap()).unwrap();
    enc.add(Layer::dense(784, 8, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    let mut dec = Net::new().unwrap();
    dec.add(Layer::dense(4, 784, Init::Torch, Some(&mut rng)).unwrap()).unwrap();
    let mut vae = Vae::new(enc, dec, &VaeOptions { latent: 4, ..Default::default() }).unwrap();

    let opts = EvalOptions { iwae_k: 3, nearest_max: 10, batch: 10, ..Default::default() };
    assert_eq!(EvalOptions::default().k, 3);
    let rep = eval_images(&mut net, &samples, &real, Some(&real), Some(&mut vae), Some(&opts)).unwrap();
    assert_eq!((rep.n_samples, rep.n_real, rep.feature_dim, rep.n_nearest), (30, 25, 6, 10));
    let (mut fs, mut fr) = (Tensor::new(&[30, 6]).unwrap(), Tensor::new(&[25, 6]).unwrap());
    eval_features(&mut net, &samples, 10, &mut fs).unwrap();
    eval_features(&mut net, &real, 10, &mut fr).unwrap();
    assert_eq!(rep.frechet, frechet(&fs, &fr).unwrap());
    assert_eq!((rep.precision, rep.recall), precision_recall(&fr, &fs, 3).unwrap());
    assert_eq!((rep.density, rep.coverage), density_coverage(&fr, &fs, 3).unwrap());
    assert!(rep.iwae_nll.is_finite() && rep.iwae_nll > 0.0);
    let rep = eval_images(&mut net, &samples, &real, None, None, None).unwrap();
    assert!(rep.iwae_nll.is_nan() && rep.nearest.mean.is_nan());

    let wide = Tensor::new(&[25, 7]).unwrap();
    assert_err(frechet(&fs, &wide), Status::Shape, "gm_eval_frechet");
    assert_err(precision_recall(&fr, &fs, 30), Status::Inval, "gm_eval_precision_recall");
    assert_err(nearest(&fs, &wide, None), Status::Shape, "gm_eval_nearest");
    let mut bad = Tensor::new(&[30, 5]).unwrap();
    assert_err(eval_features(&mut net, &samples, 0, &mut bad), Status::Shape, "gm_eval_features");
    let zero_k = EvalOptions { k: 0, ..Default::default() };
    assert_err(eval_images(&mut net, &samples, &real, None, None, Some(&zero_k)), Status::Inval, "gm_eval_images");
    fs.data_mut()[3] = f32::NAN;
    assert_err(frechet(&fs, &fr), Status::Inval, "gm_eval_frechet");
}
