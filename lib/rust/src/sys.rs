// SPDX-License-Identifier: MIT
//! Raw declarations of every `GM_API` function, type and constant of
//! `include/genmodel/*.h`, in header order. No safety is added here: see the
//! crate root for the safe layer. `tests/header_coverage.rs` checks this file
//! against the headers (every function declared, struct fields in the same
//! order, enum and macro constants with the same values).
//!
//! C enums are mirrored as integer type aliases plus constants (as bindgen's
//! "constified" enums), never as Rust enums: the library may return values
//! that are not variants (gm_layer_get_kind(NULL) returns 0, and new status
//! codes may be appended), which would be undefined behaviour in a Rust enum.
#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_uint, c_void};
use std::marker::{PhantomData, PhantomPinned};

macro_rules! opaque {
    ($($name:ident),* $(,)?) => {$(
        /// Opaque C object; only used behind pointers.
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}

macro_rules! constants {
    ($ty:ty: $($name:ident = $value:expr),* $(,)?) => { $(pub const $name: $ty = $value;)* };
}

opaque!(gm_rng, gm_tensor, gm_layer, gm_net, gm_optimizer, gm_vae, gm_gan, gm_image_set);

// ---- core.h ---------------------------------------------------------------

constants!(u32: GM_VERSION_MAJOR = 1, GM_VERSION_MINOR = 3, GM_VERSION_PATCH = 0);
pub const GM_VERSION_NUMBER: u32 = GM_VERSION_MAJOR * 10000 + GM_VERSION_MINOR * 100 + GM_VERSION_PATCH;
pub const GM_VERSION_STRING: &str = "1.3.0";

pub type gm_status = c_int;
constants!(gm_status: GM_OK = 0, GM_EINVAL = -1, GM_ESHAPE = -2, GM_ENOMEM = -3, GM_EIO = -4,
    GM_EFORMAT = -5, GM_ESTATE = -6, GM_ENUMERIC = -7, GM_EVERSION = -8, GM_EUNSUPPORTED = -9,
    GM_EINTERNAL = -100);

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gm_allocator {
    pub malloc_fn: Option<unsafe extern "C" fn(user: *mut c_void, size: usize) -> *mut c_void>,
    pub realloc_fn: Option<unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void, size: usize) -> *mut c_void>,
    pub free_fn: Option<unsafe extern "C" fn(user: *mut c_void, ptr: *mut c_void)>,
    pub user: *mut c_void,
}

// ---- tensor.h -------------------------------------------------------------

pub const GM_MAX_DIMS: usize = 4;
pub const GM_TRUNCATION_MIN: f32 = 0.1;
/// optim.h: the size of gm_vae_stats and gm_gan_stats in 1.0 (4 floats).
pub const GM_STATS_SIZE_1_0: usize = 16;

// ---- layer.h --------------------------------------------------------------

pub type gm_layer_kind = c_uint;
constants!(gm_layer_kind: GM_LAYER_DENSE = 1, GM_LAYER_RELU = 2, GM_LAYER_LEAKY_RELU = 3,
    GM_LAYER_SIGMOID = 4, GM_LAYER_TANH = 5, GM_LAYER_SOFTPLUS = 6, GM_LAYER_ELU = 7,
    GM_LAYER_DROPOUT = 8, GM_LAYER_RESHAPE = 9, GM_LAYER_FLATTEN = 10, GM_LAYER_CONV2D = 11,
    GM_LAYER_CONV_TRANSPOSE2D = 12, GM_LAYER_BATCHNORM = 13);

pub type gm_init = c_uint;
constants!(gm_init: GM_INIT_HE = 0, GM_INIT_XAVIER = 1, GM_INIT_TORCH = 2, GM_INIT_ZEROS = 3);

// ---- loss.h ---------------------------------------------------------------

pub type gm_reduction = c_uint;
constants!(gm_reduction: GM_REDUCE_BATCH_MEAN = 0, GM_REDUCE_MEAN = 1, GM_REDUCE_SUM = 2);

// ---- optim.h --------------------------------------------------------------

pub type gm_optimizer_kind = c_uint;
constants!(gm_optimizer_kind: GM_OPT_SGD = 0, GM_OPT_ADAM = 1, GM_OPT_ADAMW = 2);

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct gm_optimizer_options {
    pub size: usize,
    pub kind: i32,
    pub lr: f32,
    pub momentum: f32,
    pub nesterov: i32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub clip_norm: f32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct gm_fit_options {
    pub size: usize,
    pub epochs: u32,
    pub batch: usize,
    pub every: u64,
    pub shuffle_seed: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct gm_fit_progress {
    pub epoch: u32,
    pub epochs: u32,
    pub epoch_step: u64,
    pub steps_per_epoch: u64,
    pub step: u64,
    pub steps_averaged: u64,
    pub seconds: f64,
}

// ---- vae.h ----------------------------------------------------------------

pub type gm_likelihood = c_uint;
constants!(gm_likelihood: GM_LIKELIHOOD_BERNOULLI = 0, GM_LIKELIHOOD_GAUSSIAN_FIXED = 1,
    GM_LIKELIHOOD_GAUSSIAN_LEARNED = 2);

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gm_vae_options {
    pub size: usize,
    pub latent: usize,
    pub likelihood: i32,
    pub gaussian_logvar: f32,
    pub beta: f32,
    pub kl_warmup_steps: u64,
    pub optimizer: *const gm_optimizer_options,
    pub seed: u64,
    pub num_classes: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct gm_vae_stats {
    pub loss: f32,
    pub recon: f32,
    pub kl: f32,
    pub beta: f32,
}

pub type gm_vae_fit_callback =
    Option<unsafe extern "C" fn(user: *mut c_void, progress: *const gm_fit_progress, mean: *const gm_vae_stats) -> c_int>;
pub type gm_vae_fit_sized_callback =
    Option<unsafe extern "C" fn(user: *mut c_void, progress: *const gm_fit_progress, progress_size: usize, mean: *const gm_vae_stats, mean_size: usize) -> c_int>;

// ---- gan.h ----------------------------------------------------------------

pub type gm_gan_loss = c_uint;
constants!(gm_gan_loss: GM_GAN_NONSATURATING = 0, GM_GAN_MINIMAX = 1, GM_GAN_LEAST_SQUARES = 2,
    GM_GAN_HINGE = 3, GM_GAN_WASSERSTEIN = 4);

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct gm_gan_options {
    pub size: usize,
    pub latent: usize,
    pub loss: i32,
    pub n_critic: u32,
    pub real_label: f32,
    pub weight_clip: f32,
    pub g_optimizer: *const gm_optimizer_options,
    pub d_optimizer: *const gm_optimizer_options,
    pub seed: u64,
    pub num_classes: usize,
    pub ema_decay: f32,
    pub penalty: i32,
    pub penalty_weight: f32,
    pub penalty_every: u32,
}

pub type gm_gan_penalty = c_uint;
constants!(gm_gan_penalty: GM_PENALTY_NONE = 0, GM_PENALTY_R1 = 1, GM_PENALTY_GP = 2);

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct gm_gan_stats {
    pub d_loss: f32,
    pub g_loss: f32,
    pub d_real: f32,
    pub d_fake: f32,
    pub penalty: f32,
}

pub type gm_gan_fit_callback =
    Option<unsafe extern "C" fn(user: *mut c_void, progress: *const gm_fit_progress, mean: *const gm_gan_stats) -> c_int>;
pub type gm_gan_fit_sized_callback =
    Option<unsafe extern "C" fn(user: *mut c_void, progress: *const gm_fit_progress, progress_size: usize, mean: *const gm_gan_stats, mean_size: usize) -> c_int>;

pub type gm_gan_part = c_uint;
constants!(gm_gan_part: GM_GAN_DISCRIMINATOR = 0, GM_GAN_GENERATOR = 1);

// ---- io.h -----------------------------------------------------------------

pub const GM_PNG_MAX_SIDE: usize = 65536;
pub const GM_CHECKPOINT_MAGIC: &str = "GMCKPT\r\n";
pub const GM_CHECKPOINT_VERSION: u32 = 2;

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct gm_image_folder_options {
    pub size: usize,
    pub side: usize,
    pub channels: u32,
    pub background: u32,
    pub labels: u32,
    pub skip_bad: u32,
    pub max_pixels: u64,
    pub threads: u32,
    pub max_files: usize,
}

pub type gm_image_progress_fn = Option<unsafe extern "C" fn(user: *mut c_void, done: usize, total: usize) -> c_int>;

pub type gm_image_range = c_uint;
constants!(gm_image_range: GM_IMAGE_RANGE_UNIT = 0, GM_IMAGE_RANGE_SYMMETRIC = 1);

// ---- interp.h -------------------------------------------------------------

pub const GM_INTERP_ACTIVE_THRESHOLD: f32 = 0.01;
pub const GM_SHAPES_FACTORS: usize = 5;

// ---- eval.h ---------------------------------------------------------------

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct gm_eval_nearest_stats {
    pub mean: f64,
    pub min: f64,
    pub q05: f64,
    pub median: f64,
    pub max: f64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct gm_eval_options {
    pub size: usize,
    pub k: usize,
    pub batch: usize,
    pub nearest_max: usize,
    pub iwae_k: usize,
    pub iwae_max: usize,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct gm_eval_report {
    pub size: usize,
    pub n_samples: usize,
    pub n_real: usize,
    pub feature_dim: usize,
    pub frechet: f64,
    pub precision: f64,
    pub recall: f64,
    pub n_nearest: usize,
    pub nearest: gm_eval_nearest_stats,
    pub iwae_nll: f64,
    pub density: f64,
    pub coverage: f64,
}

extern "C" {
    // core.h
    pub fn gm_status_string(status: gm_status) -> *const c_char;
    pub fn gm_last_error() -> *const c_char;
    pub fn gm_clear_error();
    pub fn gm_version() -> *const c_char;
    pub fn gm_version_number() -> u32;
    pub fn gm_set_num_threads(n: c_int) -> gm_status;
    pub fn gm_get_num_threads() -> c_int;
    pub fn gm_set_allocator(allocator: *const gm_allocator) -> gm_status;
    pub fn gm_live_allocations() -> usize;
    pub fn gm_rng_create(out: *mut *mut gm_rng, seed: u64) -> gm_status;
    pub fn gm_rng_free(rng: *mut gm_rng);
    pub fn gm_rng_seed(rng: *mut gm_rng, seed: u64) -> gm_status;
    pub fn gm_rng_uniform(rng: *mut gm_rng, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_rng_normal(rng: *mut gm_rng, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_rng_truncated_normal(rng: *mut gm_rng, dst: *mut f32, n: usize, threshold: f32) -> gm_status;
    pub fn gm_rng_get_state(rng: *const gm_rng, seed: *mut u64, position: *mut u64) -> gm_status;
    pub fn gm_rng_set_state(rng: *mut gm_rng, seed: u64, position: u64) -> gm_status;

    // tensor.h
    pub fn gm_tensor_create(out: *mut *mut gm_tensor, ndim: usize, shape: *const usize) -> gm_status;
    pub fn gm_tensor_from_data(out: *mut *mut gm_tensor, ndim: usize, shape: *const usize, data: *const f32) -> gm_status;
    pub fn gm_tensor_wrap(out: *mut *mut gm_tensor, ndim: usize, shape: *const usize, data: *mut f32) -> gm_status;
    pub fn gm_tensor_free(t: *mut gm_tensor);
    pub fn gm_tensor_ndim(t: *const gm_tensor) -> usize;
    pub fn gm_tensor_dim(t: *const gm_tensor, i: usize) -> usize;
    pub fn gm_tensor_numel(t: *const gm_tensor) -> usize;
    pub fn gm_tensor_shape(t: *const gm_tensor, ndim: *mut usize, shape: *mut usize) -> gm_status;
    pub fn gm_tensor_data(t: *mut gm_tensor) -> *mut f32;
    pub fn gm_tensor_data_const(t: *const gm_tensor) -> *const f32;
    pub fn gm_tensor_copy_out(t: *const gm_tensor, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_tensor_copy_in(t: *mut gm_tensor, src: *const f32, n: usize) -> gm_status;
    pub fn gm_tensor_fill(t: *mut gm_tensor, value: f32) -> gm_status;
    pub fn gm_tensor_fill_normal(t: *mut gm_tensor, rng: *mut gm_rng) -> gm_status;
    pub fn gm_tensor_fill_uniform(t: *mut gm_tensor, rng: *mut gm_rng) -> gm_status;
    pub fn gm_tensor_reshape(t: *mut gm_tensor, ndim: usize, shape: *const usize) -> gm_status;

    // layer.h
    pub fn gm_dense_create(out: *mut *mut gm_layer, in_features: usize, out_features: usize, init: gm_init, rng: *mut gm_rng) -> gm_status;
    pub fn gm_relu_create(out: *mut *mut gm_layer) -> gm_status;
    pub fn gm_leaky_relu_create(out: *mut *mut gm_layer, alpha: f32) -> gm_status;
    pub fn gm_sigmoid_create(out: *mut *mut gm_layer) -> gm_status;
    pub fn gm_tanh_create(out: *mut *mut gm_layer) -> gm_status;
    pub fn gm_softplus_create(out: *mut *mut gm_layer) -> gm_status;
    pub fn gm_elu_create(out: *mut *mut gm_layer, alpha: f32) -> gm_status;
    pub fn gm_dropout_create(out: *mut *mut gm_layer, p: f32, seed: u64) -> gm_status;
    pub fn gm_reshape_create(out: *mut *mut gm_layer, ndim: usize, shape: *const usize) -> gm_status;
    pub fn gm_flatten_create(out: *mut *mut gm_layer) -> gm_status;
    pub fn gm_conv2d_create(out: *mut *mut gm_layer, in_channels: usize, out_channels: usize, kernel: usize, stride: usize, padding: usize, init: gm_init, rng: *mut gm_rng) -> gm_status;
    pub fn gm_conv_transpose2d_create(out: *mut *mut gm_layer, in_channels: usize, out_channels: usize, kernel: usize, stride: usize, padding: usize, init: gm_init, rng: *mut gm_rng) -> gm_status;
    pub fn gm_batchnorm_create(out: *mut *mut gm_layer, features: usize, momentum: f32, eps: f32) -> gm_status;
    pub fn gm_layer_spectral_norm(layer: *mut gm_layer, power_iterations: usize, eps: f32, rng: *mut gm_rng) -> gm_status;
    pub fn gm_layer_spectral_norm_iterations(layer: *const gm_layer) -> usize;
    pub fn gm_layer_spectral_sigma(layer: *const gm_layer) -> f32;
    pub fn gm_layer_free(layer: *mut gm_layer);
    pub fn gm_layer_get_kind(layer: *const gm_layer) -> gm_layer_kind;
    pub fn gm_layer_name(layer: *const gm_layer) -> *const c_char;
    pub fn gm_layer_param_count(layer: *const gm_layer) -> usize;
    pub fn gm_layer_get_params(layer: *const gm_layer, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_layer_set_params(layer: *mut gm_layer, src: *const f32, n: usize) -> gm_status;
    pub fn gm_layer_get_grads(layer: *const gm_layer, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_layer_batchnorm_features(layer: *const gm_layer) -> usize;
    pub fn gm_layer_get_running_mean(layer: *const gm_layer, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_layer_get_running_var(layer: *const gm_layer, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_layer_spectral_u_count(layer: *const gm_layer) -> usize;
    pub fn gm_layer_spectral_v_count(layer: *const gm_layer) -> usize;
    pub fn gm_layer_get_spectral_u(layer: *const gm_layer, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_layer_get_spectral_v(layer: *const gm_layer, dst: *mut f32, n: usize) -> gm_status;

    // net.h
    pub fn gm_net_create(out: *mut *mut gm_net) -> gm_status;
    pub fn gm_net_free(net: *mut gm_net);
    pub fn gm_net_add(net: *mut gm_net, layer: *mut gm_layer) -> gm_status;
    pub fn gm_net_num_layers(net: *const gm_net) -> usize;
    pub fn gm_net_layer(net: *mut gm_net, i: usize) -> *mut gm_layer;
    pub fn gm_net_output_shape(net: *const gm_net, in_ndim: usize, in_shape: *const usize, out_ndim: *mut usize, out_shape: *mut usize) -> gm_status;
    pub fn gm_net_forward(net: *mut gm_net, x: *const gm_tensor, y: *mut gm_tensor) -> gm_status;
    pub fn gm_net_backward(net: *mut gm_net, dy: *const gm_tensor, dx: *mut gm_tensor) -> gm_status;
    pub fn gm_net_zero_grad(net: *mut gm_net) -> gm_status;
    pub fn gm_net_set_training(net: *mut gm_net, training: c_int) -> gm_status;
    pub fn gm_net_is_training(net: *const gm_net) -> c_int;
    pub fn gm_net_set_trainable(net: *mut gm_net, i: usize, trainable: c_int) -> gm_status;
    pub fn gm_net_param_count(net: *const gm_net) -> usize;
    pub fn gm_net_get_params(net: *const gm_net, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_net_set_params(net: *mut gm_net, src: *const f32, n: usize) -> gm_status;
    pub fn gm_net_get_grads(net: *const gm_net, dst: *mut f32, n: usize) -> gm_status;
    pub fn gm_net_set_grads(net: *mut gm_net, src: *const f32, n: usize) -> gm_status;
    pub fn gm_net_grad_norm(net: *const gm_net, norm: *mut f32) -> gm_status;
    pub fn gm_net_clip_grad_norm(net: *mut gm_net, max_norm: f32, norm_before: *mut f32) -> gm_status;

    // penalty.h
    pub fn gm_net_penalty_r1(net: *mut gm_net, real: *const gm_tensor, gamma: f32, penalty: *mut f32) -> gm_status;
    pub fn gm_net_penalty_gp(net: *mut gm_net, real: *const gm_tensor, fake: *const gm_tensor, lambda: f32, rng: *mut gm_rng, penalty: *mut f32) -> gm_status;

    // loss.h
    pub fn gm_loss_mse(pred: *const gm_tensor, target: *const gm_tensor, reduction: gm_reduction, loss: *mut f32, grad: *mut gm_tensor) -> gm_status;
    pub fn gm_loss_bce_logits(logits: *const gm_tensor, target: *const gm_tensor, reduction: gm_reduction, loss: *mut f32, grad: *mut gm_tensor) -> gm_status;
    pub fn gm_loss_softmax_xent(logits: *const gm_tensor, labels: *const i32, n_labels: usize, reduction: gm_reduction, loss: *mut f32, grad: *mut gm_tensor, correct: *mut usize) -> gm_status;

    // optim.h
    pub fn gm_optimizer_options_init(opts: *mut gm_optimizer_options, kind: gm_optimizer_kind) -> gm_status;
    pub fn gm_optimizer_create(out: *mut *mut gm_optimizer, net: *const gm_net, opts: *const gm_optimizer_options) -> gm_status;
    pub fn gm_optimizer_free(opt: *mut gm_optimizer);
    pub fn gm_optimizer_step(opt: *mut gm_optimizer, net: *mut gm_net) -> gm_status;
    pub fn gm_optimizer_set_lr(opt: *mut gm_optimizer, lr: f32) -> gm_status;
    pub fn gm_optimizer_get_lr(opt: *const gm_optimizer) -> f32;
    pub fn gm_optimizer_step_count(opt: *const gm_optimizer) -> u64;
    pub fn gm_optimizer_reset(opt: *mut gm_optimizer) -> gm_status;
    pub fn gm_fit_options_init(opts: *mut gm_fit_options) -> gm_status;

    // vae.h
    pub fn gm_vae_reparameterize(h: *const gm_tensor, eps: *const gm_tensor, z: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_reparameterize_backward(h: *const gm_tensor, eps: *const gm_tensor, dz: *const gm_tensor, dh: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_kl(h: *const gm_tensor, mean: *mut f32, each: *mut f32, dh: *mut gm_tensor, scale: f32) -> gm_status;
    pub fn gm_vae_recon_nll(likelihood: gm_likelihood, out: *const gm_tensor, x: *const gm_tensor, gaussian_logvar: f32, mean: *mut f32, each: *mut f32, dout: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_log_normal(z: *const gm_tensor, h: *const gm_tensor, each: *mut f32) -> gm_status;
    pub fn gm_vae_logmeanexp(logw: *const gm_tensor, mean: *mut f32, each: *mut f32, dlogw: *mut gm_tensor) -> gm_status;
    pub fn gm_elbo_reparameterize(h: *const gm_tensor, eps: *const gm_tensor, z: *mut gm_tensor) -> gm_status;
    pub fn gm_elbo_reparameterize_backward(h: *const gm_tensor, eps: *const gm_tensor, dz: *const gm_tensor, dh: *mut gm_tensor) -> gm_status;
    pub fn gm_elbo_kl(h: *const gm_tensor, mean: *mut f32, each: *mut f32, dh: *mut gm_tensor, scale: f32) -> gm_status;
    pub fn gm_elbo_recon_nll(likelihood: gm_likelihood, out: *const gm_tensor, x: *const gm_tensor, gaussian_logvar: f32, mean: *mut f32, each: *mut f32, dout: *mut gm_tensor) -> gm_status;
    pub fn gm_elbo_log_normal(z: *const gm_tensor, h: *const gm_tensor, each: *mut f32) -> gm_status;
    pub fn gm_elbo_logmeanexp(logw: *const gm_tensor, mean: *mut f32, each: *mut f32, dlogw: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_options_init(opts: *mut gm_vae_options) -> gm_status;
    pub fn gm_vae_create(out: *mut *mut gm_vae, encoder: *mut gm_net, decoder: *mut gm_net, opts: *const gm_vae_options) -> gm_status;
    pub fn gm_vae_free(vae: *mut gm_vae);
    pub fn gm_vae_train_step(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, stats: *mut gm_vae_stats) -> gm_status;
    pub fn gm_vae_fit(vae: *mut gm_vae, data: *const gm_tensor, labels: *const i32, opts: *const gm_fit_options, callback: gm_vae_fit_callback, user: *mut c_void) -> gm_status;
    pub fn gm_vae_compute_grads(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, offset: usize, total: usize, stats: *mut gm_vae_stats) -> gm_status;
    pub fn gm_vae_grads(vae: *mut gm_vae, grads: *mut *mut f32, n: *mut usize) -> gm_status;
    pub fn gm_vae_apply_grads(vae: *mut gm_vae) -> gm_status;
    pub fn gm_vae_elbo(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, stats: *mut gm_vae_stats) -> gm_status;
    pub fn gm_vae_iwae(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, k: usize, nll: *mut f32) -> gm_status;
    pub fn gm_vae_encode(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, mu: *mut gm_tensor, logvar: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_decode(vae: *mut gm_vae, z: *const gm_tensor, labels: *const i32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_reconstruct(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_sample(vae: *mut gm_vae, n: usize, labels: *const i32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_interpolate(vae: *mut gm_vae, xa: *const gm_tensor, xb: *const gm_tensor, labels: *const i32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_inpaint(vae: *mut gm_vae, x: *const gm_tensor, mask: *const gm_tensor, iterations: usize, out: *mut gm_tensor) -> gm_status;
    pub fn gm_vae_encoder(vae: *mut gm_vae) -> *mut gm_net;
    pub fn gm_vae_decoder(vae: *mut gm_vae) -> *mut gm_net;
    pub fn gm_vae_step_count(vae: *const gm_vae) -> u64;
    pub fn gm_vae_set_lr(vae: *mut gm_vae, lr: f32) -> gm_status;
    pub fn gm_vae_get_options(vae: *const gm_vae, opts: *mut gm_vae_options) -> gm_status;
    pub fn gm_vae_train_step_sized(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, stats: *mut gm_vae_stats, stats_size: usize) -> gm_status;
    pub fn gm_vae_compute_grads_sized(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, offset: usize, total: usize, stats: *mut gm_vae_stats, stats_size: usize) -> gm_status;
    pub fn gm_vae_elbo_sized(vae: *mut gm_vae, x: *const gm_tensor, labels: *const i32, stats: *mut gm_vae_stats, stats_size: usize) -> gm_status;
    pub fn gm_vae_fit_sized(vae: *mut gm_vae, data: *const gm_tensor, labels: *const i32, opts: *const gm_fit_options, callback: gm_vae_fit_sized_callback, user: *mut c_void) -> gm_status;

    // gan.h
    pub fn gm_gan_d_loss(family: gm_gan_loss, real: *const gm_tensor, fake: *const gm_tensor, real_label: f32, loss: *mut f32, d_real: *mut gm_tensor, d_fake: *mut gm_tensor) -> gm_status;
    pub fn gm_gan_g_loss(family: gm_gan_loss, fake: *const gm_tensor, loss: *mut f32, d_fake: *mut gm_tensor) -> gm_status;
    pub fn gm_loss_gan_d(family: gm_gan_loss, real: *const gm_tensor, fake: *const gm_tensor, real_label: f32, loss: *mut f32, d_real: *mut gm_tensor, d_fake: *mut gm_tensor) -> gm_status;
    pub fn gm_loss_gan_g(family: gm_gan_loss, fake: *const gm_tensor, loss: *mut f32, d_fake: *mut gm_tensor) -> gm_status;
    pub fn gm_gan_options_init(opts: *mut gm_gan_options) -> gm_status;
    pub fn gm_gan_create(out: *mut *mut gm_gan, generator: *mut gm_net, discriminator: *mut gm_net, opts: *const gm_gan_options) -> gm_status;
    pub fn gm_gan_free(gan: *mut gm_gan);
    pub fn gm_gan_train_step(gan: *mut gm_gan, real: *const gm_tensor, labels: *const i32, stats: *mut gm_gan_stats) -> gm_status;
    pub fn gm_gan_fit(gan: *mut gm_gan, data: *const gm_tensor, labels: *const i32, opts: *const gm_fit_options, callback: gm_gan_fit_callback, user: *mut c_void) -> gm_status;
    pub fn gm_gan_compute_grads(gan: *mut gm_gan, part: gm_gan_part, real: *const gm_tensor, labels: *const i32, offset: usize, total: usize, stats: *mut gm_gan_stats) -> gm_status;
    pub fn gm_gan_grads(gan: *mut gm_gan, part: gm_gan_part, grads: *mut *mut f32, n: *mut usize) -> gm_status;
    pub fn gm_gan_apply_grads(gan: *mut gm_gan, part: gm_gan_part) -> gm_status;
    pub fn gm_gan_sample(gan: *mut gm_gan, n: usize, labels: *const i32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_gan_generate(gan: *mut gm_gan, z: *const gm_tensor, labels: *const i32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_gan_generator(gan: *mut gm_gan) -> *mut gm_net;
    pub fn gm_gan_discriminator(gan: *mut gm_gan) -> *mut gm_net;
    pub fn gm_gan_step_count(gan: *const gm_gan) -> u64;
    pub fn gm_gan_set_lr(gan: *mut gm_gan, part: gm_gan_part, lr: f32) -> gm_status;
    pub fn gm_gan_get_options(gan: *const gm_gan, opts: *mut gm_gan_options) -> gm_status;
    pub fn gm_gan_use_ema(gan: *mut gm_gan, use_: c_int) -> gm_status;
    pub fn gm_gan_set_truncation(gan: *mut gm_gan, threshold: f32) -> gm_status;
    pub fn gm_gan_ema_params(gan: *const gm_gan, out: *mut f32, n: usize) -> gm_status;
    pub fn gm_gan_train_step_sized(gan: *mut gm_gan, real: *const gm_tensor, labels: *const i32, stats: *mut gm_gan_stats, stats_size: usize) -> gm_status;
    pub fn gm_gan_compute_grads_sized(gan: *mut gm_gan, part: gm_gan_part, real: *const gm_tensor, labels: *const i32, offset: usize, total: usize, stats: *mut gm_gan_stats, stats_size: usize) -> gm_status;
    pub fn gm_gan_fit_sized(gan: *mut gm_gan, data: *const gm_tensor, labels: *const i32, opts: *const gm_fit_options, callback: gm_gan_fit_sized_callback, user: *mut c_void) -> gm_status;

    // io.h
    pub fn gm_idx_load_images(out: *mut *mut gm_tensor, path: *const c_char, max_items: usize) -> gm_status;
    pub fn gm_idx_load_labels(path: *const c_char, max_items: usize, dst: *mut i32, capacity: usize, count: *mut usize) -> gm_status;
    pub fn gm_png_write_grid(path: *const c_char, images: *const gm_tensor, rows: usize, cols: usize, padding: usize, pad_value: f32) -> gm_status;
    pub fn gm_net_save(net: *const gm_net, path: *const c_char) -> gm_status;
    pub fn gm_net_load(out: *mut *mut gm_net, path: *const c_char) -> gm_status;
    pub fn gm_vae_save(vae: *const gm_vae, path: *const c_char) -> gm_status;
    pub fn gm_vae_load(out: *mut *mut gm_vae, path: *const c_char) -> gm_status;
    pub fn gm_gan_save(gan: *const gm_gan, path: *const c_char) -> gm_status;
    pub fn gm_gan_load(out: *mut *mut gm_gan, path: *const c_char) -> gm_status;
    pub fn gm_image_folder_options_init(opts: *mut gm_image_folder_options) -> gm_status;
    pub fn gm_image_folder_load(out: *mut *mut gm_image_set, dir: *const c_char, opts: *const gm_image_folder_options, progress: gm_image_progress_fn, user: *mut c_void) -> gm_status;
    pub fn gm_image_set_free(set: *mut gm_image_set);
    pub fn gm_image_set_count(set: *const gm_image_set) -> usize;
    pub fn gm_image_set_channels(set: *const gm_image_set) -> usize;
    pub fn gm_image_set_side(set: *const gm_image_set) -> usize;
    pub fn gm_image_set_skipped(set: *const gm_image_set) -> usize;
    pub fn gm_image_set_data(set: *const gm_image_set) -> *const u8;
    pub fn gm_image_set_labels(set: *const gm_image_set) -> *const i32;
    pub fn gm_image_set_name(set: *const gm_image_set, i: usize) -> *const c_char;
    pub fn gm_image_set_num_classes(set: *const gm_image_set) -> usize;
    pub fn gm_image_set_class_name(set: *const gm_image_set, k: usize) -> *const c_char;
    pub fn gm_image_set_batch(set: *const gm_image_set, indices: *const usize, count: usize, range: gm_image_range, flip_rng: *mut gm_rng, out: *mut gm_tensor) -> gm_status;

    // eval.h
    pub fn gm_eval_features(net: *mut gm_net, images: *const gm_tensor, batch: usize, features: *mut gm_tensor) -> gm_status;
    pub fn gm_eval_frechet(a: *const gm_tensor, b: *const gm_tensor, distance: *mut f64) -> gm_status;
    pub fn gm_eval_precision_recall(real: *const gm_tensor, fake: *const gm_tensor, k: usize, precision: *mut f64, recall: *mut f64) -> gm_status;
    pub fn gm_eval_density_coverage(real: *const gm_tensor, fake: *const gm_tensor, k: usize, density: *mut f64, coverage: *mut f64) -> gm_status;
    pub fn gm_eval_nearest(samples: *const gm_tensor, train: *const gm_tensor, stats: *mut gm_eval_nearest_stats, distances: *mut gm_tensor) -> gm_status;
    pub fn gm_eval_options_init(opts: *mut gm_eval_options) -> gm_status;
    pub fn gm_eval_images(report: *mut gm_eval_report, features: *mut gm_net, samples: *const gm_tensor, real: *const gm_tensor, train: *const gm_tensor, vae: *mut gm_vae, opts: *const gm_eval_options) -> gm_status;
    // interp.h
    pub fn gm_interp_vae_dims(vae: *mut gm_vae, data: *const gm_tensor, labels: *const i32, batch: usize, threshold: f64, kl: *mut f64, activity: *mut f64, latent: usize, active: *mut usize) -> gm_status;
    pub fn gm_interp_order_desc(values: *const f64, n: usize, order: *mut usize) -> gm_status;
    pub fn gm_interp_format_table(kl: *const f64, activity: *const f64, latent: usize, threshold: f64, buf: *mut c_char, buf_size: usize, needed: *mut usize) -> gm_status;
    pub fn gm_interp_bar_chart_png(path: *const c_char, values: *const f64, n: usize, mark_values: *const f64, mark: f64, bar_width: usize, height: usize) -> gm_status;
    pub fn gm_interp_vae_traverse(vae: *mut gm_vae, x: *const gm_tensor, z0: *const f32, label: *const i32, dims: *const usize, n_dims: usize, range: f32, steps: usize, out: *mut gm_tensor) -> gm_status;
    pub fn gm_interp_gan_traverse(gan: *mut gm_gan, z0: *const f32, label: *const i32, dims: *const usize, n_dims: usize, range: f32, steps: usize, out: *mut gm_tensor) -> gm_status;
    pub fn gm_interp_gan_effect(gan: *mut gm_gan, z: *const gm_tensor, labels: *const i32, range: f32, steps: usize, effect: *mut f64, latent: usize) -> gm_status;
    pub fn gm_interp_vae_classes(vae: *mut gm_vae, z0: *const f32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_interp_gan_classes(gan: *mut gm_gan, z0: *const f32, out: *mut gm_tensor) -> gm_status;
    pub fn gm_shapes_factor_sizes(side: usize, sizes: *mut usize, count: *mut u64) -> gm_status;
    pub fn gm_shapes_index_to_factors(side: usize, index: *const u64, n: usize, factors: *mut i32) -> gm_status;
    pub fn gm_shapes_factors_to_index(side: usize, factors: *const i32, n: usize, index: *mut u64) -> gm_status;
    pub fn gm_shapes_sample(side: usize, seed: u64, n: usize, factors: *mut i32, index: *mut u64) -> gm_status;
    pub fn gm_shapes_render(side: usize, factors: *const i32, n: usize, out: *mut gm_tensor) -> gm_status;
    pub fn gm_interp_mig(latents: *const f32, n: usize, latent: usize, factors: *const i32, n_factors: usize, bins: usize, mig: *mut f64, gaps: *mut f64, mi: *mut f64) -> gm_status;
}
