// SPDX-License-Identifier: MIT
//! Evaluation of generative models (eval.h): features through a net, the
//! Fréchet distance, k-NN precision/recall and density/coverage, the
//! nearest-training-vector check
//! and the one-call report of `gm_eval_images`. Sets are tensors read as
//! [N x D] (the first dimension counts the vectors).
use crate::{check, opt_mut_ptr, opt_ptr, sys, Handle, NetRef, Result, TensorRef, VaeRef};

/// Summary of the distances from each sample to its nearest training vector
/// (mean, min, 5% quantile, median, max).
pub type NearestStats = sys::gm_eval_nearest_stats;

/// What [`eval_images`] measured (the C struct; `size` is set by the call).
pub type EvalReport = sys::gm_eval_report;

/// Settings of [`eval_images`]; `Default` gives the library's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvalOptions {
    /// Precision/recall neighbours, >= 1 (default 3).
    pub k: usize,
    /// Images per forward of the feature net; 0 = min(256, N) (default).
    pub batch: usize,
    /// The memorization check uses the first `nearest_max` samples; 0 = all
    /// (default 1000).
    pub nearest_max: usize,
    /// Importance samples of the IWAE estimate, 1 ..= 100000 (default 50).
    pub iwae_k: usize,
    /// The IWAE estimate uses the first `iwae_max` real images; 0 = all
    /// (default 1000).
    pub iwae_max: usize,
}

impl Default for EvalOptions {
    fn default() -> Self {
        let mut o = sys::gm_eval_options::default();
        // SAFETY: `o` is a valid gm_eval_options to fill.
        unsafe { sys::gm_eval_options_init(&mut o) };
        EvalOptions { k: o.k, batch: o.batch, nearest_max: o.nearest_max, iwae_k: o.iwae_k, iwae_max: o.iwae_max }
    }
}

impl EvalOptions {
    fn raw(&self) -> sys::gm_eval_options {
        sys::gm_eval_options {
            size: std::mem::size_of::<sys::gm_eval_options>(),
            k: self.k,
            batch: self.batch,
            nearest_max: self.nearest_max,
            iwae_k: self.iwae_k,
            iwae_max: self.iwae_max,
        }
    }
}

/// `features` = `net`(`images`) in batches of `batch` (0 = min(256, N)), in
/// evaluation mode; the net's mode is restored. `features` holds N rows of
/// the net's per-image output size.
pub fn eval_features(net: &mut NetRef, images: &TensorRef, batch: usize, features: &mut TensorRef) -> Result<()> {
    check(unsafe { sys::gm_eval_features(net.as_mut_ptr(), images.as_ptr(), batch, features.as_mut_ptr()) })
}

/// Fréchet distance between Gaussians fitted to the sets `a` and `b` (the
/// squared 2-Wasserstein distance, as FID reports it).
pub fn frechet(a: &TensorRef, b: &TensorRef) -> Result<f64> {
    let mut d = 0.0;
    check(unsafe { sys::gm_eval_frechet(a.as_ptr(), b.as_ptr(), &mut d) }).map(|_| d)
}

/// (precision, recall) of `fake` against `real` with k-nearest-neighbour
/// manifolds (Kynkäänniemi et al., 2019); each set needs k + 1 vectors.
pub fn precision_recall(real: &TensorRef, fake: &TensorRef, k: usize) -> Result<(f64, f64)> {
    let (mut p, mut r) = (0.0, 0.0);
    check(unsafe { sys::gm_eval_precision_recall(real.as_ptr(), fake.as_ptr(), k, &mut p, &mut r) }).map(|_| (p, r))
}

/// (density, coverage) of `fake` against `real` on the real vectors' k-NN
/// balls (Naeem et al., 2020): density sums the real balls each fake vector
/// is in over k M (about 1 for fakes like the reals); coverage is the
/// fraction of real balls holding a fake vector. `real` needs k + 1
/// vectors, `fake` at least 1.
pub fn density_coverage(real: &TensorRef, fake: &TensorRef, k: usize) -> Result<(f64, f64)> {
    let (mut d, mut c) = (0.0, 0.0);
    check(unsafe { sys::gm_eval_density_coverage(real.as_ptr(), fake.as_ptr(), k, &mut d, &mut c) }).map(|_| (d, c))
}

/// Distances from each sample to its nearest training vector, summarized;
/// `distances` (N elements) receives each one if given.
pub fn nearest(samples: &TensorRef, train: &TensorRef, distances: Option<&mut TensorRef>) -> Result<NearestStats> {
    let mut st = NearestStats::default();
    check(unsafe { sys::gm_eval_nearest(samples.as_ptr(), train.as_ptr(), &mut st, opt_mut_ptr(distances)) })
        .map(|_| st)
}

/// Evaluates sample images against real ones through the feature net: the
/// Fréchet distance, precision/recall and density/coverage of their features; with `train`,
/// the memorization check; with `vae`, its IWAE estimate of -log p(real)
/// (this advances the VAE's evaluation generator). `opts`: `None` for the
/// defaults.
pub fn eval_images(
    features: &mut NetRef,
    samples: &TensorRef,
    real: &TensorRef,
    train: Option<&TensorRef>,
    vae: Option<&mut VaeRef>,
    opts: Option<&EvalOptions>,
) -> Result<EvalReport> {
    let mut report = EvalReport { size: std::mem::size_of::<EvalReport>(), ..Default::default() };
    let raw = opts.map(EvalOptions::raw);
    let o = raw.as_ref().map_or(std::ptr::null(), |o| o as *const sys::gm_eval_options);
    check(unsafe {
        sys::gm_eval_images(
            &mut report,
            features.as_mut_ptr(),
            samples.as_ptr(),
            real.as_ptr(),
            opt_ptr(train),
            opt_mut_ptr(vae),
            o,
        )
    })
    .map(|_| report)
}
