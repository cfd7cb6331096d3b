// SPDX-License-Identifier: MIT
//! Looking inside a model (interp.h): which latent dimensions a VAE uses
//! (per-dimension KL, active units), latent traversals of VAEs and GANs, the
//! shapes data set whose true factors are known, and the Mutual Information
//! Gap (MIG) disentanglement score. Nothing here trains a model or draws
//! from its generators.
use std::path::Path;
use std::ptr;

use crate::io::c_path;
use crate::{check, check_len, labels_ptr, sys, Error, GanRef, Handle, Result, Status, TensorRef, VaeRef};

/// Burda et al.'s activity threshold: a dimension is active when
/// Var_x E[z | x] exceeds it.
pub const ACTIVE_THRESHOLD: f64 = 0.01;
/// Factors per image of the shapes set: shape, scale, rotation, x, y.
pub const SHAPES_FACTORS: usize = sys::GM_SHAPES_FACTORS;

/// Per-dimension statistics of a VAE's posterior over a data set.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeDims {
    /// Mean KL to the prior of each latent dimension (nats).
    pub kl: Vec<f64>,
    /// Var over x of the posterior mean of each dimension.
    pub activity: Vec<f64>,
    /// Dimensions with activity above the threshold.
    pub active: usize,
}

/// KL and activity per latent dimension over `data` (encoded in batches of
/// `batch`), and the active units at `threshold` (usually
/// [`ACTIVE_THRESHOLD`]). The VAE does not change.
pub fn vae_dims(
    vae: &mut VaeRef,
    data: &TensorRef,
    labels: Option<&[i32]>,
    batch: usize,
    threshold: f64,
) -> Result<VaeDims> {
    let l = vae.options().latent;
    let lp = labels_ptr("gm_interp_vae_dims", labels, data.dim(0))?;
    let (mut kl, mut activity, mut active) = (vec![0.0; l], vec![0.0; l], 0usize);
    check(unsafe {
        sys::gm_interp_vae_dims(
            vae.as_mut_ptr(),
            data.as_ptr(),
            lp,
            batch,
            threshold,
            kl.as_mut_ptr(),
            activity.as_mut_ptr(),
            l,
            &mut active,
        )
    })?;
    Ok(VaeDims { kl, activity, active })
}

/// Indices of `values`, largest first (ties: the smaller index first).
pub fn order_desc(values: &[f64]) -> Result<Vec<usize>> {
    let mut order = vec![0usize; values.len()];
    check(unsafe { sys::gm_interp_order_desc(values.as_ptr(), values.len(), order.as_mut_ptr()) })?;
    Ok(order)
}

/// The per-dimension table as text (dimensions by KL, largest first).
pub fn format_table(kl: &[f64], activity: &[f64], threshold: f64) -> Result<String> {
    check_len("gm_interp_format_table", "activity", activity.len(), kl.len())?;
    let mut need = 0usize;
    check(unsafe {
        sys::gm_interp_format_table(kl.as_ptr(), activity.as_ptr(), kl.len(), threshold, ptr::null_mut(), 0, &mut need)
    })?;
    let mut buf = vec![0u8; need + 1];
    check(unsafe {
        sys::gm_interp_format_table(
            kl.as_ptr(),
            activity.as_ptr(),
            kl.len(),
            threshold,
            buf.as_mut_ptr().cast(),
            need + 1,
            ptr::null_mut(),
        )
    })?;
    buf.truncate(need);
    String::from_utf8(buf).map_err(|_| Error::new(Status::Internal, "gm_interp_format_table: not UTF-8".into()))
}

/// Writes a bar chart of `values` (each >= 0) as a PNG; bars whose
/// `mark_values` entry is not above `mark` are drawn grey.
pub fn bar_chart_png(
    path: impl AsRef<Path>,
    values: &[f64],
    mark_values: Option<&[f64]>,
    mark: f64,
    bar_width: usize,
    height: usize,
) -> Result<()> {
    let p = c_path("gm_interp_bar_chart_png", path.as_ref())?;
    let mp = match mark_values {
        Some(m) => check_len("gm_interp_bar_chart_png", "mark_values", m.len(), values.len()).map(|_| m.as_ptr())?,
        None => ptr::null(),
    };
    check(unsafe {
        sys::gm_interp_bar_chart_png(p.as_ptr(), values.as_ptr(), values.len(), mp, mark, bar_width, height)
    })
}

/// The base of a VAE traversal.
#[derive(Debug, Clone, Copy)]
pub enum Base<'a> {
    /// The encoder's mean for one sample.
    Input(&'a TensorRef),
    /// A latent vector of the VAE's latent size.
    Latent(&'a [f32]),
}

/// A traversal: `out` (dims.len() * steps samples) gets the decodings of the
/// base with dimension `dims[r]` moved over [-range, range] in `steps` steps
/// (row r). `label`: the class of a conditional VAE.
pub fn vae_traverse(
    vae: &mut VaeRef,
    base: Base<'_>,
    label: Option<i32>,
    dims: &[usize],
    range: f32,
    steps: usize,
    out: &mut TensorRef,
) -> Result<()> {
    let (x, z0) = match base {
        Base::Input(x) => (x.as_ptr(), ptr::null()),
        Base::Latent(z) => {
            check_len("gm_interp_vae_traverse", "z0", z.len(), vae.options().latent)?;
            (ptr::null(), z.as_ptr())
        }
    };
    let lab = label.as_ref().map_or(ptr::null(), |l| l as *const i32);
    check(unsafe {
        sys::gm_interp_vae_traverse(
            vae.as_mut_ptr(),
            x,
            z0,
            lab,
            dims.as_ptr(),
            dims.len(),
            range,
            steps,
            out.as_mut_ptr(),
        )
    })
}

/// As [`vae_traverse`], for a GAN's generator around `z0`.
pub fn gan_traverse(
    gan: &mut GanRef,
    z0: &[f32],
    label: Option<i32>,
    dims: &[usize],
    range: f32,
    steps: usize,
    out: &mut TensorRef,
) -> Result<()> {
    check_len("gm_interp_gan_traverse", "z0", z0.len(), gan.options().latent)?;
    let lab = label.as_ref().map_or(ptr::null(), |l| l as *const i32);
    check(unsafe {
        sys::gm_interp_gan_traverse(
            gan.as_mut_ptr(),
            z0.as_ptr(),
            lab,
            dims.as_ptr(),
            dims.len(),
            range,
            steps,
            out.as_mut_ptr(),
        )
    })
}

/// Per latent dimension, the output variance a traversal of it causes,
/// averaged over the base latents `z` [N x latent].
pub fn gan_effect(
    gan: &mut GanRef,
    z: &TensorRef,
    labels: Option<&[i32]>,
    range: f32,
    steps: usize,
) -> Result<Vec<f64>> {
    let l = gan.options().latent;
    let lp = labels_ptr("gm_interp_gan_effect", labels, z.dim(0))?;
    let mut eff = vec![0.0; l];
    check(unsafe { sys::gm_interp_gan_effect(gan.as_mut_ptr(), z.as_ptr(), lp, range, steps, eff.as_mut_ptr(), l) })?;
    Ok(eff)
}

/// `out` sample c = decode(z0, class c) for every class of a conditional VAE.
pub fn vae_classes(vae: &mut VaeRef, z0: &[f32], out: &mut TensorRef) -> Result<()> {
    check_len("gm_interp_vae_classes", "z0", z0.len(), vae.options().latent)?;
    check(unsafe { sys::gm_interp_vae_classes(vae.as_mut_ptr(), z0.as_ptr(), out.as_mut_ptr()) })
}

/// `out` sample c = G(z0, class c) for every class of a conditional GAN.
pub fn gan_classes(gan: &mut GanRef, z0: &[f32], out: &mut TensorRef) -> Result<()> {
    check_len("gm_interp_gan_classes", "z0", z0.len(), gan.options().latent)?;
    check(unsafe { sys::gm_interp_gan_classes(gan.as_mut_ptr(), z0.as_ptr(), out.as_mut_ptr()) })
}

/// The number of values of each factor (shape, scale, rotation, x, y) and
/// of combinations, for images of side 32 or 64.
pub fn shapes_factor_sizes(side: usize) -> Result<([usize; SHAPES_FACTORS], u64)> {
    let (mut s, mut count) = ([0usize; SHAPES_FACTORS], 0u64);
    check(unsafe { sys::gm_shapes_factor_sizes(side, s.as_mut_ptr(), &mut count) })?;
    Ok((s, count))
}

/// Factor rows (5 per index, row-major) of combination indices.
pub fn shapes_index_to_factors(side: usize, index: &[u64]) -> Result<Vec<i32>> {
    let mut f = vec![0i32; index.len() * SHAPES_FACTORS];
    check(unsafe { sys::gm_shapes_index_to_factors(side, index.as_ptr(), index.len(), f.as_mut_ptr()) })?;
    Ok(f)
}

fn rows(func: &str, factors: &[i32]) -> Result<usize> {
    if factors.len() % SHAPES_FACTORS != 0 {
        return Err(Error::new(
            Status::Shape,
            format!("{func}: factors has {} elements, not a multiple of 5", factors.len()),
        ));
    }
    Ok(factors.len() / SHAPES_FACTORS)
}

/// Combination indices of factor rows (5 values per row).
pub fn shapes_factors_to_index(side: usize, factors: &[i32]) -> Result<Vec<u64>> {
    let n = rows("gm_shapes_factors_to_index", factors)?;
    let mut idx = vec![0u64; n];
    check(unsafe { sys::gm_shapes_factors_to_index(side, factors.as_ptr(), n, idx.as_mut_ptr()) })?;
    Ok(idx)
}

/// `n` distinct combinations in random order, from `seed`: (factor rows,
/// indices).
pub fn shapes_sample(side: usize, seed: u64, n: usize) -> Result<(Vec<i32>, Vec<u64>)> {
    let (mut f, mut idx) = (vec![0i32; n * SHAPES_FACTORS], vec![0u64; n]);
    check(unsafe { sys::gm_shapes_sample(side, seed, n, f.as_mut_ptr(), idx.as_mut_ptr()) })?;
    Ok((f, idx))
}

/// Draws the binary images of factor rows into `out` (N x 1 x side x side).
pub fn shapes_render(side: usize, factors: &[i32], out: &mut TensorRef) -> Result<()> {
    let n = rows("gm_shapes_render", factors)?;
    check(unsafe { sys::gm_shapes_render(side, factors.as_ptr(), n, out.as_mut_ptr()) })
}

/// The Mutual Information Gap and its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct Mig {
    /// The score, in [0, 1].
    pub score: f64,
    /// Per factor: (largest - second largest MI) / H(factor).
    pub gaps: Vec<f64>,
    /// [n_factors x latent] mutual information in nats, row-major.
    pub mi: Vec<f64>,
}

/// MIG of `latents` (N rows of `latent` values, row-major) against discrete
/// `factors` (N rows of `n_factors`), with `bins` equal-width bins per
/// latent dimension (see interp.h for the estimate).
pub fn mig(latents: &[f32], latent: usize, factors: &[i32], n_factors: usize, bins: usize) -> Result<Mig> {
    if latent == 0 || n_factors == 0 {
        return Err(Error::new(Status::Inval, "gm_interp_mig: latent and n_factors must be >= 1".into()));
    }
    let n = latents.len() / latent;
    check_len("gm_interp_mig", "latents", latents.len(), n * latent)?;
    check_len("gm_interp_mig", "factors", factors.len(), n * n_factors)?;
    let (mut score, mut gaps, mut mi) = (0.0, vec![0.0; n_factors], vec![0.0; n_factors * latent]);
    check(unsafe {
        sys::gm_interp_mig(
            latents.as_ptr(),
            n,
            latent,
            factors.as_ptr(),
            n_factors,
            bins,
            &mut score,
            gaps.as_mut_ptr(),
            mi.as_mut_ptr(),
        )
    })?;
    Ok(Mig { score, gaps, mi })
}
