// SPDX-License-Identifier: MIT
//! Layers, nets, optimizers and losses (layer.h, net.h, optim.h, loss.h).
use crate::{c_enum, check, handle, opt_mut_ptr, read_vec, static_str, sys, Handle, Result, RngRef, TensorRef};
use std::ptr;

c_enum!(
    /// Layer types (`gm_layer_kind`).
    LayerKind: sys::gm_layer_kind {
        Dense = sys::GM_LAYER_DENSE, Relu = sys::GM_LAYER_RELU, LeakyRelu = sys::GM_LAYER_LEAKY_RELU,
        Sigmoid = sys::GM_LAYER_SIGMOID, Tanh = sys::GM_LAYER_TANH, Softplus = sys::GM_LAYER_SOFTPLUS,
        Elu = sys::GM_LAYER_ELU, Dropout = sys::GM_LAYER_DROPOUT, Reshape = sys::GM_LAYER_RESHAPE,
        Flatten = sys::GM_LAYER_FLATTEN, Conv2d = sys::GM_LAYER_CONV2D,
        ConvTranspose2d = sys::GM_LAYER_CONV_TRANSPOSE2D, Batchnorm = sys::GM_LAYER_BATCHNORM,
    }
);

c_enum!(
    /// Weight initializations (`gm_init`).
    Init: sys::gm_init {
        He = sys::GM_INIT_HE, Xavier = sys::GM_INIT_XAVIER, Torch = sys::GM_INIT_TORCH, Zeros = sys::GM_INIT_ZEROS,
    }
);

c_enum!(
    /// Loss reductions (`gm_reduction`).
    Reduction: sys::gm_reduction {
        BatchMean = sys::GM_REDUCE_BATCH_MEAN, Mean = sys::GM_REDUCE_MEAN, Sum = sys::GM_REDUCE_SUM,
    }
);

c_enum!(
    /// Optimizer kinds (`gm_optimizer_kind`).
    OptimizerKind: sys::gm_optimizer_kind { Sgd = sys::GM_OPT_SGD, Adam = sys::GM_OPT_ADAM, AdamW = sys::GM_OPT_ADAMW }
);

// ---- layers ---------------------------------------------------------------

handle!(
    /// A layer not (yet) part of a net. [`Net::add`] consumes it; layers
    /// inside a net are reached as [`LayerRef`]s through [`NetRef::layer`].
    Layer / LayerRef: gm_layer, gm_layer_free
);

fn rng_ptr(rng: Option<&mut RngRef>) -> *mut sys::gm_rng {
    opt_mut_ptr(rng)
}

impl Layer {
    /// Fully connected `in_features -> out_features`; `rng` draws the weights
    /// (`None` only with [`Init::Zeros`]).
    pub fn dense(in_features: usize, out_features: usize, init: Init, rng: Option<&mut RngRef>) -> Result<Layer> {
        let rng = rng_ptr(rng);
        Layer::create(|o| unsafe { sys::gm_dense_create(o, in_features, out_features, init.raw(), rng) })
    }
    pub fn relu() -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_relu_create(o) })
    }
    pub fn leaky_relu(alpha: f32) -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_leaky_relu_create(o, alpha) })
    }
    pub fn sigmoid() -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_sigmoid_create(o) })
    }
    pub fn tanh() -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_tanh_create(o) })
    }
    pub fn softplus() -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_softplus_create(o) })
    }
    pub fn elu(alpha: f32) -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_elu_create(o, alpha) })
    }
    pub fn dropout(p: f32, seed: u64) -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_dropout_create(o, p, seed) })
    }
    /// Per-sample reshape (the batch dimension is not part of `shape`).
    pub fn reshape(shape: &[usize]) -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_reshape_create(o, shape.len(), shape.as_ptr()) })
    }
    pub fn flatten() -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_flatten_create(o) })
    }
    #[allow(clippy::too_many_arguments)]
    pub fn conv2d(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        init: Init,
        rng: Option<&mut RngRef>,
    ) -> Result<Layer> {
        let rng = rng_ptr(rng);
        Layer::create(|o| unsafe {
            sys::gm_conv2d_create(o, in_channels, out_channels, kernel, stride, padding, init.raw(), rng)
        })
    }
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose2d(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        init: Init,
        rng: Option<&mut RngRef>,
    ) -> Result<Layer> {
        let rng = rng_ptr(rng);
        Layer::create(|o| unsafe {
            sys::gm_conv_transpose2d_create(o, in_channels, out_channels, kernel, stride, padding, init.raw(), rng)
        })
    }
    pub fn batchnorm(features: usize, momentum: f32, eps: f32) -> Result<Layer> {
        Layer::create(|o| unsafe { sys::gm_batchnorm_create(o, features, momentum, eps) })
    }

    /// Spectral normalization of a dense or convolution layer. Only for a
    /// layer not yet in a net (layer.h), hence on `Layer`, not `LayerRef`.
    pub fn spectral_norm(&mut self, power_iterations: usize, eps: f32, rng: &mut RngRef) -> Result<()> {
        check(unsafe { sys::gm_layer_spectral_norm(self.as_mut_ptr(), power_iterations, eps, rng.as_mut_ptr()) })
    }
}

impl LayerRef {
    pub fn kind(&self) -> Option<LayerKind> {
        LayerKind::from_raw(unsafe { sys::gm_layer_get_kind(self.as_ptr()) })
    }
    /// "dense", "relu", ...
    pub fn name(&self) -> &'static str {
        unsafe { static_str(sys::gm_layer_name(self.as_ptr())) }
    }
    pub fn param_count(&self) -> usize {
        unsafe { sys::gm_layer_param_count(self.as_ptr()) }
    }
    /// The parameters in the layout of layer.h.
    pub fn params(&self) -> Result<Vec<f32>> {
        read_vec(self.param_count(), |d, n| unsafe { sys::gm_layer_get_params(self.as_ptr(), d, n) })
    }
    /// Sets the parameters (`src.len()` must be the parameter count).
    pub fn set_params(&mut self, src: &[f32]) -> Result<()> {
        check(unsafe { sys::gm_layer_set_params(self.as_mut_ptr(), src.as_ptr(), src.len()) })
    }
    /// Power iterations per training forward; 0 if not spectrally normalized.
    pub fn spectral_norm_iterations(&self) -> usize {
        unsafe { sys::gm_layer_spectral_norm_iterations(self.as_ptr()) }
    }
    /// The sigma of the last forward; 0 if not spectrally normalized.
    pub fn spectral_sigma(&self) -> f32 {
        unsafe { sys::gm_layer_spectral_sigma(self.as_ptr()) }
    }
    /// The accumulated parameter gradients.
    pub fn grads(&self) -> Result<Vec<f32>> {
        read_vec(self.param_count(), |d, n| unsafe { sys::gm_layer_get_grads(self.as_ptr(), d, n) })
    }
    /// A batchnorm layer's running mean (Unsupported for other layers).
    pub fn running_mean(&self) -> Result<Vec<f32>> {
        let f = unsafe { sys::gm_layer_batchnorm_features(self.as_ptr()) };
        read_vec(f, |d, n| unsafe { sys::gm_layer_get_running_mean(self.as_ptr(), d, n) })
    }
    /// A batchnorm layer's running variance (Unsupported for other layers).
    pub fn running_var(&self) -> Result<Vec<f32>> {
        let f = unsafe { sys::gm_layer_batchnorm_features(self.as_ptr()) };
        read_vec(f, |d, n| unsafe { sys::gm_layer_get_running_var(self.as_ptr(), d, n) })
    }
    /// The spectral norm's u, one value per output unit or channel (State
    /// error if the layer is not spectrally normalized).
    pub fn spectral_u(&self) -> Result<Vec<f32>> {
        let c = unsafe { sys::gm_layer_spectral_u_count(self.as_ptr()) };
        read_vec(c, |d, n| unsafe { sys::gm_layer_get_spectral_u(self.as_ptr(), d, n) })
    }
    /// The spectral norm's v (layer.h: the weight's layout without the
    /// output axis).
    pub fn spectral_v(&self) -> Result<Vec<f32>> {
        let c = unsafe { sys::gm_layer_spectral_v_count(self.as_ptr()) };
        read_vec(c, |d, n| unsafe { sys::gm_layer_get_spectral_v(self.as_ptr(), d, n) })
    }
}

// ---- nets -----------------------------------------------------------------

handle!(
    /// A sequential stack of layers; frees its layers on drop.
    Net / NetRef: gm_net, gm_net_free
);

impl Net {
    /// An empty net in training mode.
    pub fn new() -> Result<Net> {
        Net::create(|o| unsafe { sys::gm_net_create(o) })
    }

    /// Loads a net written by [`NetRef::save`]: `Format` for a corrupt,
    /// truncated, foreign or future-version file, `Io` if it cannot be read.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Net> {
        let path = crate::io::c_path("gm_net_load", path.as_ref())?;
        Net::create(|o| unsafe { sys::gm_net_load(o, path.as_ptr()) })
    }

    /// Appends a layer, which the net then owns. On failure the layer is
    /// dropped (freed): the C library leaves it with the caller.
    pub fn add(&mut self, layer: Layer) -> Result<()> {
        check(unsafe { sys::gm_net_add(self.as_mut_ptr(), layer.0.as_ptr()) })?;
        layer.into_raw(); // owned by the net now
        Ok(())
    }
}

impl NetRef {
    /// Writes the net (layers, parameters, layer state) to `path` atomically.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = crate::io::c_path("gm_net_save", path.as_ref())?;
        check(unsafe { sys::gm_net_save(self.as_ptr(), path.as_ptr()) })
    }

    pub fn num_layers(&self) -> usize {
        unsafe { sys::gm_net_num_layers(self.as_ptr()) }
    }

    /// Layer `i`, borrowed from the net.
    pub fn layer(&self, i: usize) -> Option<&LayerRef> {
        // gm_net_layer takes a non-const net but does not change it.
        unsafe { LayerRef::from_ptr(sys::gm_net_layer(self.as_ptr().cast_mut(), i)).map(|l| &*l) }
    }
    pub fn layer_mut(&mut self, i: usize) -> Option<&mut LayerRef> {
        unsafe { LayerRef::from_ptr(sys::gm_net_layer(self.as_mut_ptr(), i)) }
    }

    /// The output shape for an input shape (batch first).
    pub fn output_shape(&self, in_shape: &[usize]) -> Result<Vec<usize>> {
        let (mut ndim, mut shape) = (0, [0; sys::GM_MAX_DIMS]);
        check(unsafe {
            sys::gm_net_output_shape(self.as_ptr(), in_shape.len(), in_shape.as_ptr(), &mut ndim, shape.as_mut_ptr())
        })?;
        Ok(shape[..ndim].to_vec())
    }

    /// y = net(x); y must have the output shape.
    pub fn forward(&mut self, x: &TensorRef, y: &mut TensorRef) -> Result<()> {
        check(unsafe { sys::gm_net_forward(self.as_mut_ptr(), x.as_ptr(), y.as_mut_ptr()) })
    }
    /// Backward for the last forward: accumulates parameter gradients, and
    /// writes the input gradient into `dx` if given.
    pub fn backward(&mut self, dy: &TensorRef, dx: Option<&mut TensorRef>) -> Result<()> {
        check(unsafe { sys::gm_net_backward(self.as_mut_ptr(), dy.as_ptr(), opt_mut_ptr(dx)) })
    }
    pub fn zero_grad(&mut self) -> Result<()> {
        check(unsafe { sys::gm_net_zero_grad(self.as_mut_ptr()) })
    }
    pub fn set_training(&mut self, training: bool) -> Result<()> {
        check(unsafe { sys::gm_net_set_training(self.as_mut_ptr(), training.into()) })
    }
    pub fn is_training(&self) -> bool {
        unsafe { sys::gm_net_is_training(self.as_ptr()) != 0 }
    }
    /// Freezes (`false`) or unfreezes layer `i`.
    pub fn set_trainable(&mut self, i: usize, trainable: bool) -> Result<()> {
        check(unsafe { sys::gm_net_set_trainable(self.as_mut_ptr(), i, trainable.into()) })
    }
    pub fn param_count(&self) -> usize {
        unsafe { sys::gm_net_param_count(self.as_ptr()) }
    }
    /// All parameters in the flat layout.
    pub fn params(&self) -> Result<Vec<f32>> {
        read_vec(self.param_count(), |d, n| unsafe { sys::gm_net_get_params(self.as_ptr(), d, n) })
    }
    pub fn set_params(&mut self, src: &[f32]) -> Result<()> {
        check(unsafe { sys::gm_net_set_params(self.as_mut_ptr(), src.as_ptr(), src.len()) })
    }
    /// All parameter gradients in the flat layout.
    pub fn grads(&self) -> Result<Vec<f32>> {
        read_vec(self.param_count(), |d, n| unsafe { sys::gm_net_get_grads(self.as_ptr(), d, n) })
    }
    pub fn set_grads(&mut self, src: &[f32]) -> Result<()> {
        check(unsafe { sys::gm_net_set_grads(self.as_mut_ptr(), src.as_ptr(), src.len()) })
    }
    /// L2 norm of the trainable gradients.
    pub fn grad_norm(&self) -> Result<f32> {
        let mut norm = 0.0;
        check(unsafe { sys::gm_net_grad_norm(self.as_ptr(), &mut norm) }).map(|_| norm)
    }
    /// Clips the trainable gradients to a global norm of `max_norm`; returns the norm before.
    pub fn clip_grad_norm(&mut self, max_norm: f32) -> Result<f32> {
        let mut before = 0.0;
        check(unsafe { sys::gm_net_clip_grad_norm(self.as_mut_ptr(), max_norm, &mut before) }).map(|_| before)
    }
    /// R1 penalty `gamma/2 mean_i |grad_x D(real_i)|^2`: returns it and ADDS
    /// its parameter gradient to the net's gradients (`gm_net_penalty_r1`).
    pub fn penalty_r1(&mut self, real: &TensorRef, gamma: f32) -> Result<f32> {
        let mut p = 0.0;
        check(unsafe { sys::gm_net_penalty_r1(self.as_mut_ptr(), real.as_ptr(), gamma, &mut p) }).map(|_| p)
    }
    /// WGAN-GP penalty `lambda mean_i (|grad D(x^_i)| - 1)^2` at interpolates of
    /// `real` and `fake`, one eps per row from `rng`: returns it and ADDS its
    /// parameter gradient to the net's gradients (`gm_net_penalty_gp`).
    pub fn penalty_gp(&mut self, real: &TensorRef, fake: &TensorRef, lambda: f32, rng: &mut RngRef) -> Result<f32> {
        let mut p = 0.0;
        check(unsafe {
            sys::gm_net_penalty_gp(self.as_mut_ptr(), real.as_ptr(), fake.as_ptr(), lambda, rng.as_mut_ptr(), &mut p)
        })
        .map(|_| p)
    }
}

// ---- optimizers -----------------------------------------------------------

/// Optimizer settings: the C struct itself (its fields are public). Make
/// one with [`OptimizerOptions::new`], which fills in the defaults.
pub type OptimizerOptions = sys::gm_optimizer_options;

impl OptimizerOptions {
    /// The library's defaults for `kind` (`gm_optimizer_options_init`).
    pub fn new(kind: OptimizerKind) -> OptimizerOptions {
        let mut o = OptimizerOptions {
            size: 0,
            kind: 0,
            lr: 0.0,
            momentum: 0.0,
            nesterov: 0,
            beta1: 0.0,
            beta2: 0.0,
            eps: 0.0,
            weight_decay: 0.0,
            clip_norm: 0.0,
        };
        // Cannot fail: the pointer is valid and the kind known.
        unsafe { sys::gm_optimizer_options_init(&mut o, kind.raw()) };
        o
    }
}

impl Default for OptimizerOptions {
    fn default() -> Self {
        OptimizerOptions::new(OptimizerKind::Adam)
    }
}

/// How `fit` walks the data (`gm_fit_options` without its `size`). `Default`
/// is the library's (`gm_fit_options_init`): 1 epoch, batch 0 (meaning
/// min(128, N)), the callback every 100 steps of an epoch and after its
/// last, shuffle seed 0. An explicit batch must be at most N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitOptions {
    /// Passes over the data, >= 1.
    pub epochs: u32,
    /// Samples per step, 1 ..= N; a last partial batch is dropped.
    pub batch: usize,
    /// The callback runs when an epoch's step count is a multiple of this
    /// (>= 1), and after each epoch's last step.
    pub every: u64,
    /// Each epoch's order is a shuffle drawn from this seed.
    pub shuffle_seed: u64,
}

fn fit_defaults() -> sys::gm_fit_options {
    let mut o = sys::gm_fit_options { size: 0, epochs: 0, batch: 0, every: 0, shuffle_seed: 0 };
    unsafe { sys::gm_fit_options_init(&mut o) }; // cannot fail: valid pointer
    o
}

impl Default for FitOptions {
    fn default() -> Self {
        let o = fit_defaults();
        FitOptions { epochs: o.epochs, batch: o.batch, every: o.every, shuffle_seed: o.shuffle_seed }
    }
}

impl FitOptions {
    /// The C struct (with `size` set).
    pub fn raw(&self) -> sys::gm_fit_options {
        sys::gm_fit_options {
            epochs: self.epochs,
            batch: self.batch,
            every: self.every,
            shuffle_seed: self.shuffle_seed,
            ..fit_defaults()
        }
    }
}

/// Where a fit is, as its callback sees it (the C struct): epoch (1-based)
/// of epochs, epoch_step of steps_per_epoch, step (this fit call's),
/// steps_averaged (the steps the mean statistics cover) and seconds.
pub type FitProgress = sys::gm_fit_progress;

/// The `opts` pointer of a fit call: NULL for `None`.
pub(crate) fn fit_opts_ptr(raw: &Option<sys::gm_fit_options>) -> *const sys::gm_fit_options {
    raw.as_ref().map_or(ptr::null(), |r| r)
}

handle!(
    /// An optimizer for one net's parameters (it refuses to step another net).
    Optimizer / OptimizerRef: gm_optimizer, gm_optimizer_free
);

impl Optimizer {
    /// An optimizer for `net` (not kept); `None`: Adam with lr 1e-3.
    pub fn new(net: &NetRef, opts: Option<&OptimizerOptions>) -> Result<Optimizer> {
        let opts = opts.map_or(ptr::null(), |o| o as *const _);
        Optimizer::create(|o| unsafe { sys::gm_optimizer_create(o, net.as_ptr(), opts) })
    }
}

impl OptimizerRef {
    /// One update of `net`'s trainable parameters from its gradients.
    pub fn step(&mut self, net: &mut NetRef) -> Result<()> {
        check(unsafe { sys::gm_optimizer_step(self.as_mut_ptr(), net.as_mut_ptr()) })
    }
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        check(unsafe { sys::gm_optimizer_set_lr(self.as_mut_ptr(), lr) })
    }
    pub fn lr(&self) -> f32 {
        unsafe { sys::gm_optimizer_get_lr(self.as_ptr()) }
    }
    pub fn step_count(&self) -> u64 {
        unsafe { sys::gm_optimizer_step_count(self.as_ptr()) }
    }
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::gm_optimizer_reset(self.as_mut_ptr()) })
    }
}

// ---- losses ---------------------------------------------------------------

/// Mean squared error; writes d(loss)/d(pred) into `grad` if given.
pub fn loss_mse(
    pred: &TensorRef,
    target: &TensorRef,
    reduction: Reduction,
    grad: Option<&mut TensorRef>,
) -> Result<f32> {
    let mut loss = 0.0;
    check(unsafe { sys::gm_loss_mse(pred.as_ptr(), target.as_ptr(), reduction.raw(), &mut loss, opt_mut_ptr(grad)) })
        .map(|_| loss)
}

/// Binary cross-entropy from logits.
pub fn loss_bce_logits(
    logits: &TensorRef,
    target: &TensorRef,
    reduction: Reduction,
    grad: Option<&mut TensorRef>,
) -> Result<f32> {
    let mut loss = 0.0;
    check(unsafe {
        sys::gm_loss_bce_logits(logits.as_ptr(), target.as_ptr(), reduction.raw(), &mut loss, opt_mut_ptr(grad))
    })
    .map(|_| loss)
}

/// Softmax cross-entropy from logits [N x C] and N labels: (loss, rows correct).
pub fn loss_softmax_xent(
    logits: &TensorRef,
    labels: &[i32],
    reduction: Reduction,
    grad: Option<&mut TensorRef>,
) -> Result<(f32, usize)> {
    let (mut loss, mut correct) = (0.0, 0);
    check(unsafe {
        sys::gm_loss_softmax_xent(
            logits.as_ptr(),
            labels.as_ptr(),
            labels.len(),
            reduction.raw(),
            &mut loss,
            opt_mut_ptr(grad),
            &mut correct,
        )
    })
    .map(|_| (loss, correct))
}

/// Runs `gm_X_create(&out, a, b, opts)`, which owns both nets on success and
/// leaves them with the caller, unchanged, on failure (vae.h, gan.h): they
/// are handed back then.
pub(crate) fn adopt_nets<T>(
    mut a: Net,
    mut b: Net,
    f: impl FnOnce(*mut *mut T, *mut sys::gm_net, *mut sys::gm_net) -> sys::gm_status,
) -> std::result::Result<std::ptr::NonNull<T>, (crate::Error, Net, Net)> {
    let (pa, pb) = (a.as_mut_ptr(), b.as_mut_ptr());
    match crate::create(|out| f(out, pa, pb)) {
        Ok(p) => {
            a.into_raw(); // owned by the new object now
            b.into_raw();
            Ok(p)
        }
        Err(e) => Err((e, a, b)),
    }
}
