// SPDX-License-Identifier: MIT
//! Generative adversarial networks (gan.h): the adversarial losses and [`Gan`].
use crate::nn::{adopt_nets, fit_opts_ptr};
use crate::vae::net_ref;
use crate::{
    c_enum, check, fit_with, handle, labels_ptr, lent_slice, opt_mut_ptr, opt_ptr, sys, Error, FitOptions, FitProgress,
    Handle, Net, NetRef, OptimizerOptions, Result, TensorRef,
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
}

fn raw_defaults() -> sys::gm_gan_options {
    let mut o = sys::gm_gan_options {
        size: 0,
        latent: 0,
        loss: 0,
        n_critic: 0,
        real_label: 0.0,
        weight_clip: 0.0,
        g_optimizer: ptr::null(),
        d_optimizer: ptr::null(),
        seed: 0,
        num_classes: 0,
        ema_decay: 0.0,
    };
    unsafe { sys::gm_gan_options_init(&mut o) }; // cannot fail: valid pointer
    o
}

impl Default for GanOptions {
    fn default() -> Self {
        GanOptions::from_raw(&raw_defaults())
    }
}

impl GanOptions {
    /// The settings of a C struct (optimizer settings are not carried).
    fn from_raw(o: &sys::gm_gan_options) -> Self {
        GanOptions {
            latent: o.latent,
            loss: GanLoss::from_raw(o.loss as _).unwrap_or(GanLoss::NonSaturating),
            n_critic: o.n_critic,
            real_label: o.real_label,
            weight_clip: o.weight_clip,
            g_optimizer: None,
            d_optimizer: None,
            seed: o.seed,
            num_classes: o.num_classes,
            ema_decay: o.ema_decay,
        }
    }
}

impl GanOptions {
    /// The C struct; it points into `self`'s optimizer settings.
    fn raw(&self) -> sys::gm_gan_options {
        sys::gm_gan_options {
            latent: self.latent,
            loss: self.loss.raw() as i32,
            n_critic: self.n_critic,
            real_label: self.real_label,
            weight_clip: self.weight_clip,
            g_optimizer: self.g_optimizer.as_ref().map_or(ptr::null(), |o| o),
            d_optimizer: self.d_optimizer.as_ref().map_or(ptr::null(), |o| o),
            seed: self.seed,
            num_classes: self.num_classes,
            ema_decay: self.ema_decay,
            ..raw_defaults()
        }
    }
}

handle!(
    /// A generator and a discriminator trained with alternating updates; owns both nets.
    Gan / GanRef: gm_gan, gm_gan_free
);

impl Gan {
    /// Loads a model written by [`GanRef::save`]; training it on gives the
    /// same parameters as never stopping. `Format` for a corrupt,
    /// truncated, foreign or future-version file, `Io` if it cannot be read.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Gan> {
        let path = crate::io::c_path("gm_gan_load", path.as_ref())?;
        Gan::create(|o| unsafe { sys::gm_gan_load(o, path.as_ptr()) })
    }

    /// Makes a GAN that owns both nets; on failure they are dropped (use
    /// [`Gan::try_new`] to get them back).
    pub fn new(generator: Net, discriminator: Net, opts: &GanOptions) -> Result<Gan> {
        Gan::try_new(generator, discriminator, opts).map_err(|(e, ..)| e)
    }

    /// As [`Gan::new`], but a failure hands the unchanged nets back.
    pub fn try_new(generator: Net, discriminator: Net, opts: &GanOptions) -> Result<Gan, (Error, Net, Net)> {
        let raw = opts.raw();
        adopt_nets(generator, discriminator, |out, g, d| unsafe { sys::gm_gan_create(out, g, d, &raw) }).map(Gan)
    }
}

impl GanRef {
    /// One alternating update on the real batch (labels: N of them if conditional).
    pub fn train_step(&mut self, real: &TensorRef, labels: Option<&[i32]>) -> Result<GanStats> {
        let l = labels_ptr("gm_gan_train_step", labels, real.dim(0))?;
        let mut st = GanStats::default();
        check(unsafe { sys::gm_gan_train_step(self.as_mut_ptr(), real.as_ptr(), l, &mut st) }).map(|_| st)
    }

    /// Trains for `opts.epochs` shuffled passes over the real data with
    /// [`train_step`](Self::train_step); the callback gets the mean GAN
    /// statistics. Everything else as [`VaeRef::fit`](crate::VaeRef::fit).
    pub fn fit<F>(
        &mut self,
        data: &TensorRef,
        labels: Option<&[i32]>,
        opts: Option<&FitOptions>,
        mut callback: F,
    ) -> Result<()>
    where
        F: FnMut(&FitProgress, &GanStats) -> bool,
    {
        let l = labels_ptr("gm_gan_fit", labels, data.dim(0))?;
        let raw = opts.map(FitOptions::raw);
        let gan = self.as_mut_ptr();
        fit_with(&mut callback, |cb, user| unsafe {
            sys::gm_gan_fit(gan, data.as_ptr(), l, fit_opts_ptr(&raw), Some(cb), user)
        })
    }

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
            sys::gm_gan_compute_grads(self.as_mut_ptr(), part.raw(), real.as_ptr(), l, offset, total, &mut st)
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

    // The getters take a non-const gm_gan but do not change it.
    pub fn generator(&self) -> &NetRef {
        unsafe { net_ref(sys::gm_gan_generator(self.as_ptr().cast_mut())) }
    }
    pub fn discriminator(&self) -> &NetRef {
        unsafe { net_ref(sys::gm_gan_discriminator(self.as_ptr().cast_mut())) }
    }
    pub fn generator_mut(&mut self) -> &mut NetRef {
        unsafe { net_ref(sys::gm_gan_generator(self.as_mut_ptr())) }
    }
    pub fn discriminator_mut(&mut self) -> &mut NetRef {
        unsafe { net_ref(sys::gm_gan_discriminator(self.as_mut_ptr())) }
    }

    /// Number of completed train steps.
    pub fn step_count(&self) -> u64 {
        unsafe { sys::gm_gan_step_count(self.as_ptr()) }
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

    /// The moving average of G's parameters (`gm_net_get_params` order).
    /// `State` without `ema_decay`.
    pub fn ema_params(&self) -> Result<Vec<f32>> {
        let n = self.generator().param_count();
        crate::read_vec(n, |p, n| unsafe { sys::gm_gan_ema_params(self.as_ptr(), p, n) })
    }

    /// Writes the whole GAN to `path` atomically (see [`VaeRef::save`](crate::VaeRef::save)).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let path = crate::io::c_path("gm_gan_save", path.as_ref())?;
        check(unsafe { sys::gm_gan_save(self.as_ptr(), path.as_ptr()) })
    }

    /// The GAN's settings (optimizer settings are not included).
    pub fn options(&self) -> GanOptions {
        let mut o = raw_defaults();
        // cannot fail: valid pointers, size set by gm_gan_options_init
        unsafe { sys::gm_gan_get_options(self.as_ptr(), &mut o) };
        GanOptions::from_raw(&o)
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
