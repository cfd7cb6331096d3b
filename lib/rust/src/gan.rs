// SPDX-License-Identifier: MIT
//! Generative adversarial networks (gan.h): the adversarial losses and [`Gan`].
use crate::{
    c_enum, check, handle, labels_ptr, lent_slice, opt_mut_ptr, opt_ptr, sys, Handle, OptimizerOptions, Result,
    TensorRef,
};
use std::ffi::c_int;
use std::ptr;

c_enum!(
    /// Loss families (`gm_gan_loss`).
    GanLoss: sys::gm_gan_loss {
        NonSaturating = sys::GM_GAN_NONSATURATING, Minimax = sys::GM_GAN_MINIMAX,
        LeastSquares = sys::GM_GAN_LEAST_SQUARES, Hinge = sys::GM_GAN_HINGE, Wasserstein = sys::GM_GAN_WASSERSTEIN,
    }
);

c_enum!(
    /// Gradient penalties of [`GanOptions::penalty`] (`gm_gan_penalty`).
    GanPenalty: sys::gm_gan_penalty { None = sys::GM_PENALTY_NONE, R1 = sys::GM_PENALTY_R1, Gp = sys::GM_PENALTY_GP }
);

c_enum!(
    /// The two nets of a GAN, for the data-parallel calls (`gm_gan_part`).
    GanPart: sys::gm_gan_part { Discriminator = sys::GM_GAN_DISCRIMINATOR, Generator = sys::GM_GAN_GENERATOR }
);

/// Statistics of a train step (the C struct).
pub type GanStats = sys::gm_gan_stats;

/// GAN settings; `Default` is the library's (`gm_gan_options_init`), with
/// `latent` 0, which must be set.
#[derive(Debug, Clone, PartialEq)]
pub struct GanOptions {
    pub latent: usize,
    pub loss: GanLoss,
    pub n_critic: u32,
    pub real_label: f32,
    pub weight_clip: f32,
    /// `None`: Adam, lr 2e-4, betas 0.5 / 0.999.
    pub g_optimizer: Option<OptimizerOptions>,
    pub d_optimizer: Option<OptimizerOptions>,
    pub seed: u64,
    pub num_classes: usize,
    /// 0 = off; in (0, 1): sampling and generation use a moving average
    /// of G's weights with this decay ([`GanRef::use_ema`]).
    pub ema_decay: f32,
    /// A gradient penalty added to every critic update (gan.h): R1 on the
    /// real batch or WGAN-GP; [`GanStats`]`::penalty` reports it.
    pub penalty: GanPenalty,
    /// gamma for R1, lambda for GP; finite, >= 0.
    pub penalty_weight: f32,
    /// Lazy R1: the penalty on every k-th critic update, its weight times k; 1 for GP.
    pub penalty_every: u32,
}

// The conversions to and from the C struct (model.rs)
option_fields!(
    GanOptions = gm_gan_options;
    plain: latent, n_critic, real_label, weight_clip, seed, num_classes, ema_decay, penalty_weight,
        penalty_every;
    from_raw(o) {
        loss: GanLoss::from_raw(o.loss as _).unwrap_or(GanLoss::NonSaturating),
        penalty: GanPenalty::from_raw(o.penalty as _).unwrap_or(GanPenalty::None),
        g_optimizer: None,
        d_optimizer: None,
    }
    raw(s) {
        loss: s.loss.raw() as i32,
        penalty: s.penalty.raw() as i32,
        g_optimizer: s.g_optimizer.as_ref().map_or(ptr::null(), |o| o),
        d_optimizer: s.d_optimizer.as_ref().map_or(ptr::null(), |o| o),
    }
);

impl GanRef {
    /// Data parallelism: one phase's gradients on a shard `real` (rows
    /// `offset .. offset + N` of a batch of `total`) into `part`'s buffer
    /// ([`grads`](Self::grads)); nothing else changes. One training step is,
    /// on every replica: `n_critic` times compute / sum the buffers / apply
    /// for [`GanPart::Discriminator`], then once for [`GanPart::Generator`].
    /// Returns the phase's statistics (d_loss and d_real, or g_loss and
    /// d_fake; the others 0).
    pub fn compute_grads(
        &mut self,
        part: GanPart,
        real: &TensorRef,
        labels: Option<&[i32]>,
        offset: usize,
        total: usize,
    ) -> Result<GanStats> {
        let l = labels_ptr("gm_gan_compute_grads", labels, real.dim(0))?;
        let mut st = GanStats::default();
        check(unsafe {
            sys::gm_gan_compute_grads_sized(
                self.as_mut_ptr(),
                part.raw(),
                real.as_ptr(),
                l,
                offset,
                total,
                &mut st,
                std::mem::size_of::<GanStats>(),
            )
        })
        .map(|_| st)
    }
    /// `part`'s gradient buffer (its net's parameter gradients), lent without
    /// a copy and borrowing the GAN mutably; what the next
    /// [`apply_grads`](Self::apply_grads) of that part reads.
    pub fn grads(&mut self, part: GanPart) -> &mut [f32] {
        let (mut p, mut n) = (ptr::null_mut(), 0);
        unsafe {
            sys::gm_gan_grads(self.as_mut_ptr(), part.raw(), &mut p, &mut n); // cannot fail: valid part, no NULL
            lent_slice(p, n)
        }
    }
    /// One optimizer update of `part` from its buffer (then D's weight
    /// clipping, if set); a generator update completes a train step. `State`
    /// without a compute of that part since its last update; `Numeric`
    /// (nothing changes) for a non-finite value.
    pub fn apply_grads(&mut self, part: GanPart) -> Result<()> {
        check(unsafe { sys::gm_gan_apply_grads(self.as_mut_ptr(), part.raw()) })
    }

    /// `n` new samples into `out`.
    pub fn sample(&mut self, n: usize, labels: Option<&[i32]>, out: &mut TensorRef) -> Result<()> {
        let l = labels_ptr("gm_gan_sample", labels, n)?;
        check(unsafe { sys::gm_gan_sample(self.as_mut_ptr(), n, l, out.as_mut_ptr()) })
    }
    /// G(z) for given latents `z` [N x L].
    pub fn generate(&mut self, z: &TensorRef, labels: Option<&[i32]>, out: &mut TensorRef) -> Result<()> {
        let l = labels_ptr("gm_gan_generate", labels, z.dim(0))?;
        check(unsafe { sys::gm_gan_generate(self.as_mut_ptr(), z.as_ptr(), l, out.as_mut_ptr()) })
    }

    /// Changes one part's learning rate (e.g. after a `Numeric` error).
    pub fn set_lr(&mut self, part: GanPart, lr: f32) -> Result<()> {
        check(unsafe { sys::gm_gan_set_lr(self.as_mut_ptr(), part.raw(), lr) })
    }

    /// Whether [`sample`](Self::sample) and [`generate`](Self::generate)
    /// run on the moving average of G's weights (`true`, the default with
    /// `ema_decay` > 0) or on G's own (`false`). `State` for `true`
    /// without `ema_decay`.
    pub fn use_ema(&mut self, use_ema: bool) -> Result<()> {
        check(unsafe { sys::gm_gan_use_ema(self.as_mut_ptr(), use_ema as c_int) })
    }

    /// The truncation trick: [`sample`](Self::sample) draws each latent
    /// from N(0, 1) cut to [-threshold, threshold] (higher precision, lower
    /// recall); 0, the default, draws plain N(0, 1). `generate` is not
    /// affected, checkpoints do not keep it. `Inval` (nothing changes) for a
    /// threshold not 0 and below 0.1
    /// ([`sys::GM_TRUNCATION_MIN`]), NaN or infinite.
    pub fn set_truncation(&mut self, threshold: f32) -> Result<()> {
        check(unsafe { sys::gm_gan_set_truncation(self.as_mut_ptr(), threshold) })
    }

    /// The moving average of G's parameters (`gm_net_get_params` order).
    /// `State` without `ema_decay`.
    pub fn ema_params(&self) -> Result<Vec<f32>> {
        let n = self.generator().param_count();
        crate::read_vec(n, |p, n| unsafe { sys::gm_gan_ema_params(self.as_ptr(), p, n) })
    }
}

/// Discriminator loss on real and/or generated logits, with the gradients
/// written into `d_real` / `d_fake` if given.
pub fn d_loss(
    family: GanLoss,
    real: Option<&TensorRef>,
    fake: Option<&TensorRef>,
    real_label: f32,
    d_real: Option<&mut TensorRef>,
    d_fake: Option<&mut TensorRef>,
) -> Result<f32> {
    let mut loss = 0.0;
    check(unsafe {
        sys::gm_gan_d_loss(
            family.raw(),
            opt_ptr(real),
            opt_ptr(fake),
            real_label,
            &mut loss,
            opt_mut_ptr(d_real),
            opt_mut_ptr(d_fake),
        )
    })
    .map(|_| loss)
}

/// Generator loss on the discriminator's logits for generated data.
pub fn g_loss(family: GanLoss, fake: &TensorRef, d_fake: Option<&mut TensorRef>) -> Result<f32> {
    let mut loss = 0.0;
    check(unsafe { sys::gm_gan_g_loss(family.raw(), fake.as_ptr(), &mut loss, opt_mut_ptr(d_fake)) }).map(|_| loss)
}

// The handle, constructors, train step, fit, getters, save and options (model.rs)
two_net_model!(
    /// A generator and a discriminator trained with alternating updates; owns both nets.
    Gan / GanRef: gm_gan, gm_gan_free, GanOptions = gm_gan_options / gm_gan_options_init, GanStats,
    nets: generator, generator_mut = gm_gan_generator; discriminator, discriminator_mut = gm_gan_discriminator,
    c: gm_gan_create, gm_gan_load, gm_gan_save, gm_gan_get_options, gm_gan_train_step_sized, gm_gan_fit, gm_gan_step_count
);
