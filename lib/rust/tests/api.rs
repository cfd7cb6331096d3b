// SPDX-License-Identifier: MIT
//! The safe layer: error paths, ownership transfers, and short VAE and GAN
//! trainings on synthetic data.
use genmodel::*;

/// Asserts an error of `status` whose message names `func`.
fn assert_err<T: std::fmt::Debug>(r: Result<T>, status: Status, func: &str) -> Error {
    let e = r.expect_err(&format!("{func} should fail"));
    assert_eq!(e.status, status, "{e}");
    assert!(e.message.contains(func), "message of {func}: {e}");
    assert!(e.to_string().contains(status.description()), "{e}");
    e
}

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

fn assert_finite_and_changing(losses: &[f32], what: &str) {
    assert!(losses.iter().all(|l| l.is_finite()), "{what} losses not finite: {losses:?}");
    let (first, last) = (losses[0], *losses.last().unwrap());
    assert!(first != last, "{what} loss did not change: {first}");
}

#[test]
fn errors_name_the_function() {
    let mut rng = Rng::new(1).unwrap();
    assert_err(Layer::dense(0, 4, Init::He, Some(&mut rng)), Status::Inval, "gm_dense_create");
    assert_err(Layer::dense(2, 4, Init::He, None), Status::Inval, "gm_dense_create");
    assert_err(Layer::leaky_relu(1.5), Status::Inval, "gm_leaky_relu_create");
    assert_err(Tensor::new(&[]), Status::Inval, "gm_tensor_create");
    assert_err(Tensor::new(&[2, 0]), Status::Inval, "gm_tensor_create");
    // checked on the Rust side: the C function would read past the slice
    assert_err(Tensor::from_data(&[2, 3], &[1.0; 5]), Status::Shape, "gm_tensor_from_data");

    let mut t = Tensor::new(&[2, 2]).unwrap();
    assert_err(t.copy_in(&[1.0; 3]), Status::Shape, "gm_tensor_copy_in");
    assert_err(t.reshape(&[3]), Status::Shape, "gm_tensor_reshape");

    let mut net = mlp(&[3, 8, 2], &mut rng);
    let (x, mut y) = (Tensor::new(&[4, 5]).unwrap(), Tensor::new(&[4, 2]).unwrap());
    assert_err(net.forward(&x, &mut y), Status::Shape, "gm_net_forward");
    assert_err(net.backward(&y, None), Status::State, "gm_net_backward");
    assert_err(net.set_params(&[0.0; 3]), Status::Shape, "gm_net_set_params");

    let other = mlp(&[3, 8, 2], &mut rng);
    let mut opt = Optimizer::new(&other, None).unwrap();
    assert_err(opt.step(&mut net), Status::Inval, "gm_optimizer_step");
    assert_err(opt.set_lr(-1.0), Status::Inval, "gm_optimizer_set_lr");

    let h = Tensor::new(&[4, 6]).unwrap();
    assert_err(vae_kl(&h, Some(&mut [0.0; 3]), None, 1.0), Status::Shape, "gm_vae_kl");
    let odd = Tensor::new(&[4, 5]).unwrap();
    assert_err(vae_kl(&odd, None, None, 1.0), Status::Shape, "gm_vae_kl");
    assert_err(gan_d_loss(GanLoss::Hinge, None, None, 1.0, None, None), Status::Inval, "gm_gan_d_loss");

    assert_err(idx_load_images("/nonexistent/images.gz", 0), Status::Io, "gm_idx_load_images");
    assert_err(idx_load_images("a\0b", 0), Status::Inval, "gm_idx_load_images");
    let img = Tensor::new(&[1, 1, 4, 4]).unwrap();
    assert_err(png_write_grid("/nonexistent/dir/x.png", &img, 1, 1, 0, 1.0), Status::Io, "gm_png_write_grid");
    assert_err(png_write_grid("x.png", &img, 0, 1, 0, 1.0), Status::Inval, "gm_png_write_grid");
}

#[test]
fn failed_create_hands_the_nets_back() {
    let mut rng = Rng::new(2).unwrap();
    let (enc, dec) = (mlp(&[6, 16, 4], &mut rng), mlp(&[2, 16, 6], &mut rng));
    let counts = (enc.param_count(), dec.param_count());
    let (e, enc, dec) = Vae::try_new(enc, dec, &VaeOptions::default()).expect_err("latent 0 must fail");
    assert_eq!(e.status, Status::Inval);
    assert!(e.message.contains("gm_vae_create"), "{e}");
    assert_eq!((enc.param_count(), dec.param_count()), counts);
    // a decoder that does not take L inputs
    let (e, enc, dec) = Vae::try_new(enc, dec, &VaeOptions { latent: 3, ..Default::default() }).unwrap_err();
    assert_eq!(e.status, Status::Shape, "{e}");
    let vae = Vae::new(enc, dec, &VaeOptions { latent: 2, ..Default::default() }).unwrap();
    assert_eq!((vae.encoder().param_count(), vae.decoder().param_count()), counts);

    let (g, d) = (mlp(&[2, 8, 2], &mut rng), mlp(&[2, 8, 1], &mut rng));
    let opts = GanOptions { latent: 5, ..Default::default() };
    assert_err(Gan::new(g, d, &opts), Status::Shape, "gm_gan_create");
}

#[test]
fn layers_nets_and_tensors() {
    let mut rng = Rng::new(3).unwrap();
    let mut layer = Layer::dense(3, 2, Init::Zeros, None).unwrap();
    assert_eq!((layer.kind(), layer.name(), layer.param_count()), (Some(LayerKind::Dense), "dense", 8));
    assert!(Layer::relu().unwrap().params().unwrap().is_empty());
    layer.set_params(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.5, -0.5]).unwrap();
    layer.spectral_norm(1, 1e-12, &mut rng).unwrap();
    assert_eq!(layer.spectral_norm_iterations(), 1);
    let mut net = Net::new().unwrap();
    net.add(layer).unwrap(); // moved: the net owns it
    net.add(Layer::sigmoid().unwrap()).unwrap();
    assert_eq!(net.num_layers(), 2);
    assert_eq!(net.layer(1).unwrap().kind(), Some(LayerKind::Sigmoid));
    assert!(net.layer(2).is_none());
    assert_eq!(net.output_shape(&[5, 3]).unwrap(), vec![5, 2]);

    let mut data = vec![0.5f32; 15];
    let x = Tensor::wrap(&[5, 3], &mut data).unwrap();
    let mut y = Tensor::new(&[5, 2]).unwrap();
    net.forward(&x, &mut y).unwrap();
    assert!(y.data().iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(net.layer(0).unwrap().spectral_sigma() > 0.0);
    {
        let l0 = net.layer(0).unwrap();
        let (u, v, w) = (l0.spectral_u().unwrap(), l0.spectral_v().unwrap(), l0.params().unwrap());
        assert_eq!((u.len(), v.len()), (2, 3));
        let uwv: f32 = (0..2).map(|r| u[r] * (0..3).map(|c| w[r * 3 + c] * v[c]).sum::<f32>()).sum();
        assert!((uwv - l0.spectral_sigma()).abs() < 1e-4, "{uwv} vs {}", l0.spectral_sigma());
        assert!(l0.running_mean().is_err()); // not a batchnorm layer
        assert!(net.layer(1).unwrap().spectral_u().is_err()); // not normalized
    }
    let target = Tensor::from_data(&[5, 2], &[1.0; 10]).unwrap();
    let mut grad = Tensor::new(&[5, 2]).unwrap();
    let loss = loss_mse(&y, &target, Reduction::Mean, Some(&mut grad)).unwrap();
    assert!(loss > 0.0);
    let mut dx = Tensor::new(&[5, 3]).unwrap();
    net.zero_grad().unwrap();
    net.backward(&grad, Some(&mut dx)).unwrap();
    assert!(net.grad_norm().unwrap() > 0.0);
    assert_eq!(net.grads().unwrap().len(), 8);
    let mut opt = Optimizer::new(&net, Some(&OptimizerOptions::new(OptimizerKind::Sgd))).unwrap();
    let before = net.params().unwrap();
    opt.step(&mut net).unwrap();
    assert_ne!(net.params().unwrap(), before);
    assert_eq!(opt.step_count(), 1);
    drop(x);
    data[0] = 2.0; // the view is gone, the slice is ours again

    let mut t = Tensor::new(&[2, 3]).unwrap();
    t.fill_uniform(&mut rng).unwrap();
    assert_eq!(t.shape(), vec![2, 3]);
    t.reshape(&[3, 2]).unwrap();
    assert_eq!((t.ndim(), t.dim(0), t.numel()), (2, 3, 6));
    let mut out = [0.0; 6];
    t.copy_out(&mut out).unwrap();
    assert_eq!(out.to_vec(), t.to_vec());
    let (logits, labels) = (Tensor::from_data(&[2, 3], &[3.0, 0.0, 0.0, 0.0, 0.0, 3.0]).unwrap(), [0, 1]);
    assert_eq!(loss_softmax_xent(&logits, &labels, Reduction::Mean, None).unwrap().1, 1);
    let (seed, pos) = rng.state();
    let mut a = [0.0; 4];
    rng.normal(&mut a).unwrap();
    rng.set_state(seed, pos).unwrap();
    let mut b = [0.0; 4];
    rng.normal(&mut b).unwrap();
    assert_eq!(a, b);
    assert_eq!(version(), sys::GM_VERSION_STRING);
    assert_eq!(version_number(), sys::GM_VERSION_NUMBER);
}

/// Binary 4x4 "images": one bright row or column each.
fn stripes(n: usize) -> Vec<f32> {
    (0..n)
        .flat_map(|i| {
            (0..16)
                .map(move |p| if (i % 2 == 0 && p / 4 == i % 4) || (i % 2 == 1 && p % 4 == i % 4) { 1.0 } else { 0.0 })
        })
        .collect()
}

#[test]
fn vae_trains() {
    let mut rng = Rng::new(4).unwrap();
    let (n, d, l) = (32, 16, 2);
    let enc = mlp(&[d, 32, 2 * l], &mut rng);
    let dec = mlp(&[l, 32, d], &mut rng);
    let opts = VaeOptions {
        latent: l,
        seed: 9,
        optimizer: Some(OptimizerOptions { lr: 1e-2, ..Default::default() }),
        ..Default::default()
    };
    let mut vae = Vae::new(enc, dec, &opts).unwrap();
    let x = Tensor::from_data(&[n, d], &stripes(n)).unwrap();
    let losses: Vec<f32> = (0..60).map(|_| vae.train_step(&x, None).unwrap().loss).collect();
    assert_finite_and_changing(&losses, "VAE");
    assert!(losses[55..].iter().sum::<f32>() < losses[..5].iter().sum::<f32>(), "VAE did not learn: {losses:?}");
    assert_eq!(vae.step_count(), 60);

    let st = vae.elbo(&x, None).unwrap();
    assert!(st.loss.is_finite() && st.beta == 1.0);
    assert!(vae.iwae(&x, None, 5).unwrap().is_finite());
    let mut mu = Tensor::new(&[n, l]).unwrap();
    vae.encode(&x, None, &mut mu, None).unwrap();
    let mut out = Tensor::new(&[n, d]).unwrap();
    vae.reconstruct(&x, None, &mut out).unwrap();
    vae.decode(&mu, None, &mut out).unwrap();
    vae.sample(n, None, &mut out).unwrap();
    assert!(out.data().iter().all(|v| (0.0..=1.0).contains(v)));
    assert_err(vae.sample(n, Some(&[0; 3]), &mut out), Status::Shape, "gm_vae_sample");
    assert_err(vae.train_step(&x, Some(&[0; 2])), Status::Shape, "gm_vae_train_step");
    let bad = Tensor::from_data(&[1, d], &[2.0; 16]).unwrap();
    assert_err(vae.train_step(&bad, None), Status::Inval, "gm_vae_train_step");

    // borrowed nets: reading, and writing through the owner's &mut
    let p = vae.decoder().params().unwrap();
    vae.decoder_mut().set_params(&vec![0.0; p.len()]).unwrap();
    vae.decode(&mu, None, &mut out).unwrap();
    assert!(out.data().iter().all(|&v| v == 0.5));
    vae.set_lr(1e-3).unwrap();

    // the VAE may move to another thread (Send)
    let handle = std::thread::spawn(move || vae.train_step(&x, None).map(|s| s.loss));
    assert!(handle.join().unwrap().unwrap().is_finite());
}

#[test]
fn gan_trains() {
    let mut rng = Rng::new(5).unwrap();
    let (g, d) = (mlp(&[2, 32, 2], &mut rng), mlp(&[2, 32, 1], &mut rng));
    let opts = GanOptions { latent: 2, seed: 3, ..Default::default() };
    let mut gan = Gan::new(g, d, &opts).unwrap();
    let mut x = Tensor::new(&[64, 2]).unwrap();
    let mut d_losses = vec![];
    let mut g_losses = vec![];
    for _ in 0..40 {
        x.fill_normal(&mut rng).unwrap();
        x.data_mut().iter_mut().for_each(|v| *v = 0.1 * *v + 1.0);
        let st = gan.train_step(&x, None).unwrap();
        d_losses.push(st.d_loss);
        g_losses.push(st.g_loss);
    }
    assert_finite_and_changing(&d_losses, "GAN D");
    assert_finite_and_changing(&g_losses, "GAN G");
    assert_eq!(gan.step_count(), 40);
    let mut out = Tensor::new(&[10, 2]).unwrap();
    gan.sample(10, None, &mut out).unwrap();
    let z = Tensor::from_data(&[10, 2], &[0.0; 20]).unwrap();
    gan.generate(&z, None, &mut out).unwrap();
    assert!(out.data().iter().all(|v| v.is_finite()));
    assert_eq!(gan.discriminator().num_layers(), 3);
    gan.generator_mut().set_trainable(0, false).unwrap();

    let (real, fake) =
        (Tensor::from_data(&[2, 1], &[2.0, 1.0]).unwrap(), Tensor::from_data(&[2, 1], &[-1.0, 0.0]).unwrap());
    let mut dr = Tensor::new(&[2, 1]).unwrap();
    assert!(gan_d_loss(GanLoss::NonSaturating, Some(&real), Some(&fake), 0.9, Some(&mut dr), None).unwrap() > 0.0);
    assert!(gan_g_loss(GanLoss::Wasserstein, &fake, None).unwrap() == 0.5);
}

#[test]
fn handles_are_send() {
    fn send<T: Send>() {}
    send::<Tensor>();
    send::<TensorView<'static>>();
    send::<Layer>();
    send::<Net>();
    send::<Rng>();
    send::<Optimizer>();
    send::<Vae>();
    send::<Gan>();
    send::<&mut NetRef>();
    assert_eq!(Status::from_raw(sys::GM_OK), None);
    assert_eq!(Status::from_raw(sys::GM_ENUMERIC), Some(Status::Numeric));
}

#[test]
fn batchnorm_running_stats() {
    let layer = Layer::batchnorm(2, 0.5, 1e-5).unwrap();
    assert_eq!(layer.running_mean().unwrap(), vec![0.0, 0.0]);
    assert_eq!(layer.running_var().unwrap(), vec![1.0, 1.0]);
    let mut net = Net::new().unwrap();
    net.add(layer).unwrap();
    let x = Tensor::from_data(&[2, 2], &[1.0, 2.0, 3.0, 6.0]).unwrap();
    let mut y = Tensor::new(&[2, 2]).unwrap();
    net.forward(&x, &mut y).unwrap(); // batch mean (2, 4), unbiased variance (2, 8)
    assert_eq!(net.layer(0).unwrap().running_mean().unwrap(), vec![1.0, 2.0]);
    assert_eq!(net.layer(0).unwrap().running_var().unwrap(), vec![1.5, 4.5]);
}
