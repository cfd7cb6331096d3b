// SPDX-License-Identifier: MIT
//! Variational autoencoders (vae.h): the ELBO module and [`Vae`].
use crate::{
    c_enum, check, check_len, handle, labels_ptr, lent_slice, opt_mut_ptr, opt_ptr, sys, Handle, OptimizerOptions,
    Result, TensorRef,
};
use std::ptr;

c_enum!(
    /// The decoder's output distribution (`gm_likelihood`).
    Likelihood: sys::gm_likelihood {
        Bernoulli = sys::GM_LIKELIHOOD_BERNOULLI, GaussianFixed = sys::GM_LIKELIHOOD_GAUSSIAN_FIXED,
        GaussianLearned = sys::GM_LIKELIHOOD_GAUSSIAN_LEARNED,
    }
);

/// Per-sample statistics of a step or an evaluation (the C struct).
pub type VaeStats = sys::gm_vae_stats;

/// VAE settings; `Default` is the library's (`gm_vae_options_init`), with
/// `latent` 0, which must be set.
#[derive(Debug, Clone, PartialEq)]
pub struct VaeOptions {
    pub latent: usize,
    pub likelihood: Likelihood,
    pub gaussian_logvar: f32,
    pub beta: f32,
    pub kl_warmup_steps: u64,
    /// Both nets' optimizer settings; `None`: Adam, lr 1e-3.
    pub optimizer: Option<OptimizerOptions>,
    pub seed: u64,
    pub num_classes: usize,
}

// The conversions to and from the C struct (model.rs)
option_fields!(
    VaeOptions = gm_vae_options; plain: latent, gaussian_logvar, beta, kl_warmup_steps, seed, num_classes;
    from_raw(o) { likelihood: Likelihood::from_raw(o.likelihood as _).unwrap_or(Likelihood::Bernoulli), optimizer: None }
    raw(s) { likelihood: s.likelihood.raw() as i32, optimizer: s.optimizer.as_ref().map_or(ptr::null(), |o| o) }
);

impl VaeRef {
    fn ptr(&mut self) -> *mut sys::gm_vae {
        self.as_mut_ptr()
    }

    /// Data parallelism, step 1 of 3: forward and backward on a shard `x`,
    /// rows `offset .. offset + N` of a batch of `total` rows (`0, N`: the
    /// whole batch), into the gradient buffer ([`grads`](Self::grads)),
    /// which receives the shard's share N / total of the batch-mean gradient.
    /// Parameters do not change. Returns the shard's statistics. Replicas
    /// made from the same seeds draw the same noise for the batch, so the sum
    /// of their buffers is the gradient `train_step` would apply.
    pub fn compute_grads(
        &mut self,
        x: &TensorRef,
        labels: Option<&[i32]>,
        offset: usize,
        total: usize,
    ) -> Result<VaeStats> {
        let l = labels_ptr("gm_vae_compute_grads", labels, x.dim(0))?;
        let mut st = VaeStats::default();
        check(unsafe { sys::gm_vae_compute_grads(self.ptr(), x.as_ptr(), l, offset, total, &mut st) }).map(|_| st)
    }
    /// Step 2 of 3: the gradient buffer (the encoder's parameter gradients,
    /// then the decoder's), lent by the library without a copy: sum the
    /// replicas' buffers into it (an all-reduce) before
    /// [`apply_grads`](Self::apply_grads), which reads exactly this memory.
    /// The slice borrows the VAE mutably, so it cannot outlive it nor be
    /// held across another call on it.
    pub fn grads(&mut self) -> &mut [f32] {
        let (mut p, mut n) = (ptr::null_mut(), 0);
        unsafe {
            sys::gm_vae_grads(self.ptr(), &mut p, &mut n); // cannot fail: no NULL
            lent_slice(p, n)
        }
    }
    /// Step 3 of 3: one optimizer update from the buffer; counts as a train
    /// step. `State` without a `compute_grads` since the last update;
    /// `Numeric` (nothing changes) for a non-finite value in the buffer.
    pub fn apply_grads(&mut self) -> Result<()> {
        check(unsafe { sys::gm_vae_apply_grads(self.ptr()) })
    }

    /// Negative ELBO of `x` without an update.
    pub fn elbo(&mut self, x: &TensorRef, labels: Option<&[i32]>) -> Result<VaeStats> {
        let l = labels_ptr("gm_vae_elbo", labels, x.dim(0))?;
        let mut st = VaeStats::default();
        check(unsafe { sys::gm_vae_elbo(self.ptr(), x.as_ptr(), l, &mut st) }).map(|_| st)
    }
    /// Importance-weighted estimate of -log p(x), K = `k` samples per input.
    pub fn iwae(&mut self, x: &TensorRef, labels: Option<&[i32]>, k: usize) -> Result<f32> {
        let l = labels_ptr("gm_vae_iwae", labels, x.dim(0))?;
        let mut nll = 0.0;
        check(unsafe { sys::gm_vae_iwae(self.ptr(), x.as_ptr(), l, k, &mut nll) }).map(|_| nll)
    }
    /// The posterior's mean (and log-variance) for `x`.
    pub fn encode(
        &mut self,
        x: &TensorRef,
        labels: Option<&[i32]>,
        mu: &mut TensorRef,
        logvar: Option<&mut TensorRef>,
    ) -> Result<()> {
        let l = labels_ptr("gm_vae_encode", labels, x.dim(0))?;
        check(unsafe { sys::gm_vae_encode(self.ptr(), x.as_ptr(), l, mu.as_mut_ptr(), opt_mut_ptr(logvar)) })
    }
    /// The data's mean for latents `z`.
    pub fn decode(&mut self, z: &TensorRef, labels: Option<&[i32]>, out: &mut TensorRef) -> Result<()> {
        let l = labels_ptr("gm_vae_decode", labels, z.dim(0))?;
        check(unsafe { sys::gm_vae_decode(self.ptr(), z.as_ptr(), l, out.as_mut_ptr()) })
    }
    /// decode(mu(x)) into `out` (x's shape).
    pub fn reconstruct(&mut self, x: &TensorRef, labels: Option<&[i32]>, out: &mut TensorRef) -> Result<()> {
        let l = labels_ptr("gm_vae_reconstruct", labels, x.dim(0))?;
        check(unsafe { sys::gm_vae_reconstruct(self.ptr(), x.as_ptr(), l, out.as_mut_ptr()) })
    }
    /// `n` new samples into `out` (first dimension n).
    pub fn sample(&mut self, n: usize, labels: Option<&[i32]>, out: &mut TensorRef) -> Result<()> {
        let l = labels_ptr("gm_vae_sample", labels, n)?;
        check(unsafe { sys::gm_vae_sample(self.ptr(), n, l, out.as_mut_ptr()) })
    }
    /// Decodes the line between the latent means of `xa` and `xb` (labels: a's, b's).
    pub fn interpolate(
        &mut self,
        xa: &TensorRef,
        xb: &TensorRef,
        labels: Option<&[i32]>,
        out: &mut TensorRef,
    ) -> Result<()> {
        let l = labels_ptr("gm_vae_interpolate", labels, 2)?;
        check(unsafe { sys::gm_vae_interpolate(self.ptr(), xa.as_ptr(), xb.as_ptr(), l, out.as_mut_ptr()) })
    }
    /// Fills the pixels where `mask` is 0 from the model.
    pub fn inpaint(&mut self, x: &TensorRef, mask: &TensorRef, iterations: usize, out: &mut TensorRef) -> Result<()> {
        check(unsafe { sys::gm_vae_inpaint(self.ptr(), x.as_ptr(), mask.as_ptr(), iterations, out.as_mut_ptr()) })
    }

    /// Changes both optimizers' learning rate.
    pub fn set_lr(&mut self, lr: f32) -> Result<()> {
        check(unsafe { sys::gm_vae_set_lr(self.ptr(), lr) })
    }
}

// ---- the reparameterization / ELBO module ---------------------------------

/// Checks an optional per-sample output of the batch size `n`.
fn each_ptr(func: &str, each: Option<&mut [f32]>, n: usize) -> Result<*mut f32> {
    each.map_or(Ok(ptr::null_mut()), |e| check_len(func, "each", e.len(), n).map(|_| e.as_mut_ptr()))
}

/// z = mu + exp(logvar / 2) * eps.
pub fn vae_reparameterize(h: &TensorRef, eps: &TensorRef, z: &mut TensorRef) -> Result<()> {
    check(unsafe { sys::gm_vae_reparameterize(h.as_ptr(), eps.as_ptr(), z.as_mut_ptr()) })
}

/// Backward of [`vae_reparameterize`]: adds to `dh`.
pub fn vae_reparameterize_backward(h: &TensorRef, eps: &TensorRef, dz: &TensorRef, dh: &mut TensorRef) -> Result<()> {
    check(unsafe { sys::gm_vae_reparameterize_backward(h.as_ptr(), eps.as_ptr(), dz.as_ptr(), dh.as_mut_ptr()) })
}

/// Mean KL to the prior; `each` (N values), `dh += scale * d(mean)/dh`.
pub fn vae_kl(h: &TensorRef, each: Option<&mut [f32]>, dh: Option<&mut TensorRef>, scale: f32) -> Result<f32> {
    let each = each_ptr("gm_vae_kl", each, h.dim(0))?;
    let mut mean = 0.0;
    check(unsafe { sys::gm_vae_kl(h.as_ptr(), &mut mean, each, opt_mut_ptr(dh), scale) }).map(|_| mean)
}

/// Mean reconstruction negative log-likelihood; `dout` is written.
pub fn vae_recon_nll(
    likelihood: Likelihood,
    out: &TensorRef,
    x: &TensorRef,
    gaussian_logvar: f32,
    each: Option<&mut [f32]>,
    dout: Option<&mut TensorRef>,
) -> Result<f32> {
    let each = each_ptr("gm_vae_recon_nll", each, out.dim(0))?;
    let mut mean = 0.0;
    check(unsafe {
        sys::gm_vae_recon_nll(
            likelihood.raw(),
            out.as_ptr(),
            x.as_ptr(),
            gaussian_logvar,
            &mut mean,
            each,
            opt_mut_ptr(dout),
        )
    })
    .map(|_| mean)
}

/// log N(z; mu, exp(logvar)) per sample (or log N(z; 0, I) with `h` None) into `each`.
pub fn vae_log_normal(z: &TensorRef, h: Option<&TensorRef>, each: &mut [f32]) -> Result<()> {
    let each = each_ptr("gm_vae_log_normal", Some(each), z.dim(0))?;
    check(unsafe { sys::gm_vae_log_normal(z.as_ptr(), opt_ptr(h), each) })
}

/// Mean of log(1/K sum_k exp(logw_ik)) over the rows of `logw` [N x K].
pub fn vae_logmeanexp(logw: &TensorRef, each: Option<&mut [f32]>, dlogw: Option<&mut TensorRef>) -> Result<f32> {
    let each = each_ptr("gm_vae_logmeanexp", each, logw.dim(0))?;
    let mut mean = 0.0;
    check(unsafe { sys::gm_vae_logmeanexp(logw.as_ptr(), &mut mean, each, opt_mut_ptr(dlogw)) }).map(|_| mean)
}

// The handle, constructors, train step, fit, getters, save and options (model.rs)
two_net_model!(
    /// An encoder and a decoder net trained as a VAE; owns both nets.
    Vae / VaeRef: gm_vae, gm_vae_free, VaeOptions = gm_vae_options / gm_vae_options_init, VaeStats,
    nets: encoder, encoder_mut = gm_vae_encoder; decoder, decoder_mut = gm_vae_decoder,
    c: gm_vae_create, gm_vae_load, gm_vae_save, gm_vae_get_options, gm_vae_train_step_sized, gm_vae_fit, gm_vae_step_count
);
