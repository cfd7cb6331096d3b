// SPDX-License-Identifier: MIT
//! What the two-net models ([`Vae`](crate::Vae), [`Gan`](crate::Gan)) share,
//! as the C library's src/model/ layer does for gm_vae and gm_gan: the
//! constructors, the train step, the fit loop, the net getters, the step
//! count, save and the options, written once in [`two_net_model`] over
//! each model's C functions. Private.
use crate::{sys, NetRef};

/// A net lent out by a VAE or GAN (never NULL for a live owner).
pub(crate) unsafe fn net_ref<'a>(p: *mut sys::gm_net) -> &'a mut NetRef {
    NetRef::from_ptr(p).expect("libgenmodel lent out a NULL net")
}

/// The handle pair `$owned / $borrowed` of a two-net model (`handle!`,
/// which takes the doc comment and C names), and the methods every such
/// model has, with options `$opts` (C struct
/// `$raw_opts`, made by `$opts_init`; the module defines `$opts::raw` and
/// `$opts::from_raw`) and statistics `$stats`; `$a`, `$b` name the nets'
/// getters, the rest are the C functions. Also defines the module's
/// `raw_defaults()` and `Default` for `$opts`.
macro_rules! two_net_model {
    (
        $(#[$m:meta])* $owned:ident / $borrowed:ident: $raw:ident, $free:ident,
        $opts:ident = $raw_opts:ident / $opts_init:ident, $stats:ident,
        nets: $a:ident, $a_mut:ident = $c_a:ident; $b:ident, $b_mut:ident = $c_b:ident,
        c: $create:ident, $load:ident, $save:ident, $get_options:ident, $train_step:ident, $fit:ident,
        $step_count:ident
    ) => {
        handle!($(#[$m])* $owned / $borrowed: $raw, $free);

        /// The library's default settings (the C struct from its `_init`).
        fn raw_defaults() -> $crate::sys::$raw_opts {
            // all fields integers, floats or pointers: zero is a valid value
            let mut o: $crate::sys::$raw_opts = unsafe { std::mem::zeroed() };
            unsafe { $crate::sys::$opts_init(&mut o) }; // cannot fail: valid pointer
            o
        }

        impl Default for $opts {
            fn default() -> Self {
                $opts::from_raw(&raw_defaults())
            }
        }

        impl $owned {
            /// Loads a model written by `save`; training it on gives the
            /// same parameters as never stopping. `Format` for a corrupt,
            /// truncated, foreign or future-version file, `Io` if it cannot be read.
            pub fn load(path: impl AsRef<std::path::Path>) -> $crate::Result<$owned> {
                let path = $crate::io::c_path(stringify!($load), path.as_ref())?;
                $owned::create(|o| unsafe { $crate::sys::$load(o, path.as_ptr()) })
            }

            /// Makes a model that owns both nets; on failure they are dropped
            /// (use `try_new` to get them back).
            pub fn new($a: $crate::Net, $b: $crate::Net, opts: &$opts) -> $crate::Result<$owned> {
                $owned::try_new($a, $b, opts).map_err(|(e, ..)| e)
            }

            /// As `new`, but a failure hands the unchanged nets back.
            pub fn try_new(
                $a: $crate::Net,
                $b: $crate::Net,
                opts: &$opts,
            ) -> Result<$owned, ($crate::Error, $crate::Net, $crate::Net)> {
                let raw = opts.raw();
                $crate::nn::adopt_nets($a, $b, |out, a, b| unsafe { $crate::sys::$create(out, a, b, &raw) }).map($owned)
            }
        }

        impl $borrowed {
            /// One training update on the batch `x` (labels: N of them if conditional).
            pub fn train_step(&mut self, x: &$crate::TensorRef, labels: Option<&[i32]>) -> $crate::Result<$stats> {
                let l = $crate::labels_ptr(stringify!($train_step), labels, x.dim(0))?;
                let mut st = $stats::default();
                let m = $crate::Handle::as_mut_ptr(self);
                // the sized call (1.2), so fields appended to the stats are filled
                let size = std::mem::size_of::<$stats>();
                $crate::check(unsafe { $crate::sys::$train_step(m, x.as_ptr(), l, &mut st, size) }).map(|_| st)
            }

            /// Trains for `opts.epochs` shuffled passes over `data` (N samples; labels:
            /// N of them if conditional), with [`train_step`](Self::train_step) on
            /// consecutive batches: epochs * (N / batch) steps, a last partial batch
            /// dropped. `opts`: `None` for the library's defaults (batch 0 = min(128, N)).
            ///
            /// `callback(progress, mean)` runs when an epoch's step count is a
            /// multiple of `opts.every` and after each epoch's last step, with the
            /// statistics averaged since the previous call; returning `true` stops
            /// training (`fit` then returns `Ok`). A panic in the callback stops
            /// training and is resumed once the C call has returned; the model keeps
            /// the steps done before and stays usable. Errors: those of `train_step`
            /// (the steps done before stay applied) and `Inval` for bad options; the
            /// data and labels are checked before any step.
            pub fn fit<F>(
                &mut self,
                data: &$crate::TensorRef,
                labels: Option<&[i32]>,
                opts: Option<&$crate::FitOptions>,
                mut callback: F,
            ) -> $crate::Result<()>
            where
                F: FnMut(&$crate::FitProgress, &$stats) -> bool,
            {
                let l = $crate::labels_ptr(stringify!($fit), labels, data.dim(0))?;
                let raw = opts.map($crate::FitOptions::raw);
                let m = $crate::Handle::as_mut_ptr(self);
                $crate::fit_with(&mut callback, |cb, user| unsafe {
                    $crate::sys::$fit(m, data.as_ptr(), l, $crate::nn::fit_opts_ptr(&raw), Some(cb), user)
                })
            }

            // The getters take a non-const model but do not change it.
            pub fn $a(&self) -> &$crate::NetRef {
                unsafe { $crate::model::net_ref($crate::sys::$c_a($crate::Handle::as_ptr(self).cast_mut())) }
            }
            pub fn $b(&self) -> &$crate::NetRef {
                unsafe { $crate::model::net_ref($crate::sys::$c_b($crate::Handle::as_ptr(self).cast_mut())) }
            }
            pub fn $a_mut(&mut self) -> &mut $crate::NetRef {
                unsafe { $crate::model::net_ref($crate::sys::$c_a($crate::Handle::as_mut_ptr(self))) }
            }
            pub fn $b_mut(&mut self) -> &mut $crate::NetRef {
                unsafe { $crate::model::net_ref($crate::sys::$c_b($crate::Handle::as_mut_ptr(self))) }
            }

            /// Number of completed train steps.
            pub fn step_count(&self) -> u64 {
                unsafe { $crate::sys::$step_count($crate::Handle::as_ptr(self)) }
            }

            /// Writes the whole model (nets, optimizers, generators, options, step
            /// count) to `path` atomically. `State` while computed gradients await
            /// an apply.
            pub fn save(&self, path: impl AsRef<std::path::Path>) -> $crate::Result<()> {
                let path = $crate::io::c_path(stringify!($save), path.as_ref())?;
                $crate::check(unsafe { $crate::sys::$save($crate::Handle::as_ptr(self), path.as_ptr()) })
            }

            /// The model's settings (optimizer settings are not included).
            pub fn options(&self) -> $opts {
                let mut o = raw_defaults();
                // cannot fail: valid pointers, size set by the options' _init
                unsafe { $crate::sys::$get_options($crate::Handle::as_ptr(self), &mut o) };
                $opts::from_raw(&o)
            }
        }
    };
}

/// `$opts::from_raw` (the settings of the C struct `$raw`; optimizer
/// settings are not carried) and `$opts::raw` (the C struct, pointing into
/// `self`'s optimizer settings, the rest from `raw_defaults()`): the
/// `plain` fields copied as they are, the others converted by the given
/// expressions over `$o` (the C struct) and `$s` (`self`).
macro_rules! option_fields {
    (
        $opts:ident = $raw:ident; plain: $($f:ident),*;
        from_raw($o:ident) { $($ff:ident: $fe:expr),* $(,)? }
        raw($s:ident) { $($rf:ident: $re:expr),* $(,)? }
    ) => {
        impl $opts {
            fn from_raw($o: &$crate::sys::$raw) -> Self {
                $opts { $($f: $o.$f,)* $($ff: $fe,)* }
            }

            fn raw(&self) -> $crate::sys::$raw {
                let $s = self;
                $crate::sys::$raw { $($f: $s.$f,)* $($rf: $re,)* ..raw_defaults() }
            }
        }
    };
}
