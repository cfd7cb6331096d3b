// SPDX-License-Identifier: MIT
//! Safe Rust binding of libgenmodel: variational autoencoders and GANs
//! trained on the CPU, behind the library's stable C ABI.
//!
//! - Every C object is an owned handle that frees it on drop ([`Tensor`],
//!   [`Layer`], [`Net`], [`Rng`], [`Optimizer`], [`Vae`], [`Gan`]). Each
//!   derefs to a borrowed form ([`TensorRef`], [`NetRef`], ...) that carries
//!   the methods; the library's borrowed pointers (a net's layers, a VAE's
//!   encoder) come back as `&NetRef` / `&mut NetRef` tied to the owner.
//! - Ownership transfers are moves: [`Net::add`] consumes the layer,
//!   [`Vae::new`] and [`Gan::new`] consume both nets. On failure the C library
//!   leaves them with the caller; [`Vae::try_new`] / [`Gan::try_new`] give
//!   them back, `new` drops (frees) them.
//! - Fallible calls return [`Result`]: an [`Error`] holds the [`Status`] and
//!   the `gm_last_error()` message, which names the C function.
//! - Data goes in as `&[f32]` and comes out as `Vec<f32>` or into `&mut [f32]`.
//!   Where the C API takes a pointer without a length (labels, per-sample
//!   outputs), the length is checked here before the call.
//!
//! The raw declarations are in [`sys`].
//!
//! ```no_run
//! use genmodel::*;
//!
//! fn main() -> Result<()> {
//!     let mut rng = Rng::new(1)?;
//!     let mlp = |sizes: [usize; 3], rng: &mut Rng| -> Result<Net> {
//!         let mut net = Net::new()?;
//!         net.add(Layer::dense(sizes[0], sizes[1], Init::Torch, Some(rng))?)?; // the net owns it now
//!         net.add(Layer::relu()?)?;
//!         net.add(Layer::dense(sizes[1], sizes[2], Init::Torch, Some(rng))?)?;
//!         Ok(net)
//!     };
//!     let (enc, dec) = (mlp([784, 400, 40], &mut rng)?, mlp([20, 400, 784], &mut rng)?);
//!     let mut vae = Vae::new(enc, dec, &VaeOptions { latent: 20, ..Default::default() })?; // owns both
//!     let x = idx_load_images("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", 128)?;
//!     let stats = vae.train_step(&x, None)?;
//!     println!("loss {} nats/image, encoder has {} parameters", stats.loss, vae.encoder().param_count());
//!     let mut samples = Tensor::new(&[64, 1, 28, 28])?;
//!     vae.sample(64, None, &mut samples)?;
//!     png_write_grid("samples.png", &samples, 8, 8, 2, 1.0)
//! }
//! ```
//!
//! Handles are `Send` but not `Sync`:
//! ```compile_fail
//! fn sync<T: Sync>() {}
//! sync::<genmodel::Net>();
//! ```
//! A layer added to a net has moved into it:
//! ```compile_fail
//! # fn main() -> genmodel::Result<()> {
//! let (mut net, layer) = (genmodel::Net::new()?, genmodel::Layer::relu()?);
//! net.add(layer)?;
//! println!("{}", layer.name());
//! # Ok(()) }
//! ```
//! A net lent by a VAE does not outlive it:
//! ```compile_fail
//! # fn f(vae: genmodel::Vae) {
//! let encoder = vae.encoder();
//! drop(vae);
//! println!("{}", encoder.param_count());
//! # }
//! ```
//!
//! Data parallelism: [`VaeRef::compute_grads`] on each replica's shard, sum
//! the buffers lent by [`VaeRef::grads`] (an all-reduce, in place), then
//! [`VaeRef::apply_grads`]; the same per [`GanPart`] on a GAN. The lent
//! buffer borrows the model mutably, so it cannot be held across another
//! call on it:
//! ```compile_fail
//! # fn f(mut vae: genmodel::Vae) -> genmodel::Result<()> {
//! let g = vae.grads();
//! vae.apply_grads()?;
//! g[0] = 0.0;
//! # Ok(()) }
//! ```
//! nor outlive it:
//! ```compile_fail
//! # fn f(mut vae: genmodel::Vae) {
//! let g = vae.grads();
//! drop(vae);
//! g[0] = 0.0;
//! # }
//! ```
//! [`VaeRef::fit`] / [`GanRef::fit`] run epochs with a progress closure
//! (`true` stops; a panic in it is resumed after the C call returns). The
//! closure cannot reach the model, which `fit` borrows mutably:
//! ```compile_fail
//! # fn f(mut vae: genmodel::Vae, x: &genmodel::TensorRef) {
//! let _ = vae.fit(x, None, None, |_, _| vae.step_count() > 10);
//! # }
//! ```

#[rustfmt::skip] // one line per C declaration, in header order
pub mod sys;
pub mod interp;

#[macro_use]
mod model;

mod eval;
mod gan;
mod io;
mod nn;
mod vae;

pub use eval::{
    density_coverage, eval_features, eval_images, frechet, nearest, precision_recall, EvalOptions, EvalReport,
    NearestStats,
};
pub use gan::{
    d_loss as gan_d_loss, g_loss as gan_g_loss, Gan, GanLoss, GanOptions, GanPart, GanPenalty, GanRef, GanStats,
};
pub use io::{
    idx_load_images, idx_load_labels, image_folder_load, image_folder_load_with_progress, png_write_grid,
    ImageFolderOptions, ImageRange, ImageSet,
};
pub use nn::{
    loss_bce_logits, loss_mse, loss_softmax_xent, FitOptions, FitProgress, Init, Layer, LayerKind, LayerRef, Net,
    NetRef, Optimizer, OptimizerKind, OptimizerOptions, OptimizerRef, Reduction,
};
pub use vae::{
    vae_kl, vae_log_normal, vae_logmeanexp, vae_recon_nll, vae_reparameterize, vae_reparameterize_backward, Likelihood,
    Vae, VaeOptions, VaeRef, VaeStats,
};

use std::any::Any;
use std::cell::UnsafeCell;
use std::ffi::{c_char, c_int, c_void, CStr};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::{self, NonNull};

// ---- enums ----------------------------------------------------------------

/// A Rust enum over C constants, with lossless conversions both ways.
macro_rules! c_enum {
    ($(#[$m:meta])* $name:ident: $raw:ty { $($(#[$vm:meta])* $variant:ident = $value:path),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $variant),* }
        impl $name {
            /// The C value.
            pub fn raw(self) -> $raw { match self { $($name::$variant => $value),* } }
            /// The variant of a C value, or `None` for a value this binding does not know.
            pub fn from_raw(raw: $raw) -> Option<Self> {
                match raw { $(v if v == $value => Some($name::$variant),)* _ => None }
            }
        }
    };
}
pub(crate) use c_enum;

c_enum!(
    /// Error statuses (`gm_status` without `GM_OK`).
    Status: sys::gm_status {
        Inval = sys::GM_EINVAL, Shape = sys::GM_ESHAPE, NoMem = sys::GM_ENOMEM, Io = sys::GM_EIO,
        Format = sys::GM_EFORMAT, State = sys::GM_ESTATE, Numeric = sys::GM_ENUMERIC,
        Version = sys::GM_EVERSION, Unsupported = sys::GM_EUNSUPPORTED, Internal = sys::GM_EINTERNAL,
    }
);

impl Status {
    /// The library's constant description ("invalid argument", ...).
    pub fn description(self) -> &'static str {
        unsafe { static_str(sys::gm_status_string(self.raw())) }
    }
}

// ---- errors ---------------------------------------------------------------

/// A failed call: its status and the library's message, which names the C
/// function and the offending value (e.g. "gm_dense_create: in_features must
/// be > 0, got 0").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The status; [`Status::Internal`] also for a code newer than this binding.
    pub status: Status,
    /// The raw `gm_status` code.
    pub code: sys::gm_status,
    /// The `gm_last_error()` message (or this binding's, for checks it makes).
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The error of a call that just returned `code`, with this thread's
    /// `gm_last_error()` (thread-local in the library, and read right away).
    fn last(code: sys::gm_status) -> Error {
        let message = unsafe { CStr::from_ptr(sys::gm_last_error()) }.to_string_lossy().into_owned();
        Error { status: Status::from_raw(code).unwrap_or(Status::Internal), code, message }
    }

    /// An error found by this binding before calling the library.
    pub(crate) fn new(status: Status, message: String) -> Error {
        Error { status, code: status.raw(), message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let desc = unsafe { static_str(sys::gm_status_string(self.code)) };
        write!(f, "{} ({desc})", self.message)
    }
}

impl std::error::Error for Error {}

/// `Ok` for `GM_OK`, else the error with the thread's last message.
pub(crate) fn check(code: sys::gm_status) -> Result<()> {
    if code == sys::GM_OK {
        Ok(())
    } else {
        Err(Error::last(code))
    }
}

/// Runs a `gm_X_create(&out, ...)` call and returns the new object.
pub(crate) fn create<T>(f: impl FnOnce(*mut *mut T) -> sys::gm_status) -> Result<NonNull<T>> {
    let mut out = ptr::null_mut();
    check(f(&mut out))?;
    NonNull::new(out).ok_or_else(|| Error::new(Status::Internal, "a constructor returned GM_OK and NULL".into()))
}

/// Fails with GM_ESHAPE unless a buffer the C function reads or writes
/// without a length has the size the function assumes.
pub(crate) fn check_len(func: &str, what: &str, got: usize, need: usize) -> Result<()> {
    if got == need {
        Ok(())
    } else {
        Err(Error::new(Status::Shape, format!("{func}: {what} has {got} elements, expected {need}")))
    }
}

/// Labels for an object call that reads `n` of them, or NULL.
pub(crate) fn labels_ptr(func: &str, labels: Option<&[i32]>, n: usize) -> Result<*const i32> {
    labels.map_or(Ok(ptr::null()), |l| check_len(func, "labels", l.len(), n).map(|_| l.as_ptr()))
}

/// A `Vec` of `n` floats filled by `f(dst, n)`.
pub(crate) fn read_vec(n: usize, f: impl FnOnce(*mut f32, usize) -> sys::gm_status) -> Result<Vec<f32>> {
    let mut v = vec![0.0; n];
    check(f(v.as_mut_ptr(), n))?;
    Ok(v)
}

/// The C pointer of an optional handle, or NULL.
pub(crate) fn opt_ptr<T: Handle + ?Sized>(t: Option<&T>) -> *const T::Raw {
    t.map_or(ptr::null(), |t| t.as_ptr())
}

/// The C pointer of an optional writable handle, or NULL.
pub(crate) fn opt_mut_ptr<T: Handle + ?Sized>(t: Option<&mut T>) -> *mut T::Raw {
    t.map_or(ptr::null_mut(), |t| t.as_mut_ptr())
}

/// A gradient buffer the library lends out (`gm_vae_grads`, `gm_gan_grads`)
/// as a slice; the caller ties it to a `&mut` borrow of the model.
///
/// # Safety
/// `p` points to `n` floats that stay valid and unaliased for `'a`.
pub(crate) unsafe fn lent_slice<'a>(p: *mut f32, n: usize) -> &'a mut [f32] {
    if p.is_null() || n == 0 {
        &mut []
    } else {
        std::slice::from_raw_parts_mut(p, n)
    }
}

/// The C signature of a fit callback for statistics `S` (`gm_vae_fit_callback`
/// without the `Option`).
pub(crate) type FitTrampoline<S> = unsafe extern "C" fn(*mut c_void, *const sys::gm_fit_progress, *const S) -> c_int;

/// Runs a `gm_X_fit` call (`call(trampoline, user)`) with a Rust closure as
/// its progress callback. A panic in the closure must not unwind into C: the
/// trampoline catches it, returns 1 (stop), and it is resumed here once the
/// C call has returned (the model keeps the steps done before it).
pub(crate) fn fit_with<S>(
    callback: &mut dyn FnMut(&FitProgress, &S) -> bool,
    call: impl FnOnce(FitTrampoline<S>, *mut c_void) -> sys::gm_status,
) -> Result<()> {
    struct State<'a, S> {
        callback: &'a mut dyn FnMut(&FitProgress, &S) -> bool,
        panic: Option<Box<dyn Any + Send + 'static>>,
    }
    unsafe extern "C" fn trampoline<S>(
        user: *mut c_void,
        progress: *const sys::gm_fit_progress,
        mean: *const S,
    ) -> c_int {
        // SAFETY: `user` is the State below, alive and not otherwise used
        // during the C call; the library passes valid progress and mean.
        let state = &mut *user.cast::<State<'_, S>>();
        if state.panic.is_some() {
            return 1; // stopped already (the library does not call again)
        }
        let (progress, mean) = (&*progress, &*mean);
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (state.callback)(progress, mean))) {
            Ok(stop) => c_int::from(stop),
            Err(payload) => {
                state.panic = Some(payload);
                1
            }
        }
    }
    let mut state = State { callback, panic: None };
    let code = call(trampoline::<S>, (&mut state as *mut State<'_, S>).cast());
    if let Some(payload) = state.panic.take() {
        std::panic::resume_unwind(payload);
    }
    check(code)
}

unsafe fn static_str(p: *const c_char) -> &'static str {
    CStr::from_ptr(p).to_str().unwrap_or("?")
}

// ---- handles --------------------------------------------------------------

/// Zero-sized stand-in for a C object: a `&XRef` *is* the C pointer.
/// Neither `Send` nor `Sync` by itself; see the `Send` impls in `handle!`.
pub(crate) struct Opaque(UnsafeCell<()>, PhantomData<*mut ()>);

/// Borrowed forms of the C objects.
pub trait Handle {
    /// The C type.
    type Raw;
    /// The C pointer.
    fn as_ptr(&self) -> *const Self::Raw;
    /// The C pointer, for calls that may write the object.
    fn as_mut_ptr(&mut self) -> *mut Self::Raw;
}

/// An owned handle `$owned` (freed on drop) and its borrowed form `$borrowed`.
macro_rules! handle {
    ($(#[$m:meta])* $owned:ident / $borrowed:ident: $raw:ident, $free:ident) => {
        $(#[$m])*
        ///
        /// Threading (core.h): "one handle is used by one thread at a time;
        /// different handles may be used from different threads at once", and
        /// the library keeps no global state behind a handle, so it is `Send`
        /// but not `Sync`.
        pub struct $owned(::std::ptr::NonNull<$crate::sys::$raw>);

        #[doc = concat!("A borrowed `", stringify!($raw), "`: what [`", stringify!($owned),
                        "`] derefs to, and what the library lends out. Carries the methods.")]
        pub struct $borrowed($crate::Opaque);

        // core.h: one thread at a time per handle (see above). `&mut` of the
        // borrowed form is exclusive, so it may move to another thread too.
        unsafe impl Send for $owned {}
        unsafe impl Send for $borrowed {}

        impl $owned {
            /// Takes ownership of a raw object, which is freed on drop.
            ///
            /// # Safety
            #[doc = concat!("`p` is a live `", stringify!($raw), "` that nothing else owns or frees.")]
            pub unsafe fn from_raw(p: ::std::ptr::NonNull<$crate::sys::$raw>) -> Self { $owned(p) }

            /// Gives up ownership; the caller frees the object.
            pub fn into_raw(self) -> ::std::ptr::NonNull<$crate::sys::$raw> {
                let p = self.0;
                ::std::mem::forget(self);
                p
            }

            #[allow(dead_code)]
            fn create(f: impl FnOnce(*mut *mut $crate::sys::$raw) -> $crate::sys::gm_status) -> $crate::Result<Self> {
                $crate::create(f).map($owned)
            }
        }

        impl $borrowed {
            /// # Safety
            /// `p` is live and not used elsewhere for `'a`.
            #[allow(dead_code)]
            pub(crate) unsafe fn from_ptr<'a>(p: *mut $crate::sys::$raw) -> Option<&'a mut Self> {
                p.cast::<Self>().as_mut()
            }
        }

        impl $crate::Handle for $borrowed {
            type Raw = $crate::sys::$raw;
            fn as_ptr(&self) -> *const $crate::sys::$raw { (self as *const Self).cast() }
            fn as_mut_ptr(&mut self) -> *mut $crate::sys::$raw { (self as *mut Self).cast() }
        }

        impl Drop for $owned {
            fn drop(&mut self) { unsafe { $crate::sys::$free(self.0.as_ptr()) } }
        }

        impl ::std::ops::Deref for $owned {
            type Target = $borrowed;
            fn deref(&self) -> &$borrowed { unsafe { &*self.0.as_ptr().cast::<$borrowed>() } }
        }

        impl ::std::ops::DerefMut for $owned {
            fn deref_mut(&mut self) -> &mut $borrowed { unsafe { &mut *self.0.as_ptr().cast::<$borrowed>() } }
        }

        impl ::std::fmt::Debug for $borrowed {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($raw), "@{:p}"), $crate::Handle::as_ptr(self))
            }
        }

        impl ::std::fmt::Debug for $owned {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result { ::std::fmt::Debug::fmt(&**self, f) }
        }
    };
}
pub(crate) use handle;

// ---- core -----------------------------------------------------------------

/// Run-time version string of the library, e.g. "1.3.0".
pub fn version() -> &'static str {
    unsafe { static_str(sys::gm_version()) }
}

/// Run-time version as `GM_VERSION_NUMBER` computes it.
pub fn version_number() -> u32 {
    unsafe { sys::gm_version_number() }
}

/// Number of BLAS threads in use.
pub fn num_threads() -> usize {
    unsafe { sys::gm_get_num_threads() as usize }
}

/// Sets the number of BLAS threads (1 ..= 1024).
///
/// # Safety
/// A process-wide setting (core.h): call it while no other thread is inside
/// the library.
pub unsafe fn set_num_threads(n: i32) -> Result<()> {
    check(sys::gm_set_num_threads(n))
}

/// Installs a process-wide allocator (`None`: the C library's).
///
/// # Safety
/// As `gm_set_allocator`: no other thread is inside the library, and the
/// functions are valid for as long as the library uses them.
pub unsafe fn set_allocator(allocator: Option<&sys::gm_allocator>) -> Result<()> {
    check(sys::gm_set_allocator(allocator.map_or(ptr::null(), |a| a)))
}

/// Number of blocks the library currently has allocated (for leak checks).
pub fn live_allocations() -> usize {
    unsafe { sys::gm_live_allocations() }
}

/// Empties this thread's last-error message.
pub fn clear_error() {
    unsafe { sys::gm_clear_error() }
}

// ---- rng ------------------------------------------------------------------

handle!(
    /// A seedable counter-based random generator (Philox4x32-10).
    Rng / RngRef: gm_rng, gm_rng_free
);

impl Rng {
    /// A generator at position 0 of the stream for `seed`.
    pub fn new(seed: u64) -> Result<Rng> {
        Rng::create(|out| unsafe { sys::gm_rng_create(out, seed) })
    }
}

impl RngRef {
    /// Restarts at position 0 of the stream for `seed`.
    pub fn seed(&mut self, seed: u64) -> Result<()> {
        check(unsafe { sys::gm_rng_seed(self.as_mut_ptr(), seed) })
    }
    /// Fills `dst` with floats uniform in [0, 1).
    pub fn uniform(&mut self, dst: &mut [f32]) -> Result<()> {
        check(unsafe { sys::gm_rng_uniform(self.as_mut_ptr(), dst.as_mut_ptr(), dst.len()) })
    }
    /// Fills `dst` with standard normal floats.
    pub fn normal(&mut self, dst: &mut [f32]) -> Result<()> {
        check(unsafe { sys::gm_rng_normal(self.as_mut_ptr(), dst.as_mut_ptr(), dst.len()) })
    }
    /// Fills `dst` with standard normals cut to [-threshold, threshold]:
    /// the [`normal`](Self::normal) stream's values within it, in order (0:
    /// `normal` itself). `Inval` for a threshold not 0 and below
    /// [`sys::GM_TRUNCATION_MIN`], NaN or infinite.
    pub fn truncated_normal(&mut self, dst: &mut [f32], threshold: f32) -> Result<()> {
        check(unsafe { sys::gm_rng_truncated_normal(self.as_mut_ptr(), dst.as_mut_ptr(), dst.len(), threshold) })
    }
    /// (seed, position).
    pub fn state(&self) -> (u64, u64) {
        let (mut seed, mut pos) = (0, 0);
        unsafe { sys::gm_rng_get_state(self.as_ptr(), &mut seed, &mut pos) }; // cannot fail: no NULL
        (seed, pos)
    }
    /// Puts the generator at `position` of the stream for `seed`.
    pub fn set_state(&mut self, seed: u64, position: u64) -> Result<()> {
        check(unsafe { sys::gm_rng_set_state(self.as_mut_ptr(), seed, position) })
    }
}

// ---- tensor ---------------------------------------------------------------

handle!(
    /// A float32 tensor, row-major, batch first, 1 to 4 dimensions.
    Tensor / TensorRef: gm_tensor, gm_tensor_free
);

/// A tensor over caller memory ([`Tensor::wrap`]): borrows the slice for `'a`.
pub struct TensorView<'a> {
    tensor: Tensor,
    _data: PhantomData<&'a mut [f32]>,
}

impl Deref for TensorView<'_> {
    type Target = TensorRef;
    fn deref(&self) -> &TensorRef {
        &self.tensor
    }
}

impl DerefMut for TensorView<'_> {
    fn deref_mut(&mut self) -> &mut TensorRef {
        &mut self.tensor
    }
}

fn numel_of(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

impl Tensor {
    /// A zero-filled tensor of `shape`.
    pub fn new(shape: &[usize]) -> Result<Tensor> {
        Tensor::create(|out| unsafe { sys::gm_tensor_create(out, shape.len(), shape.as_ptr()) })
    }

    /// A tensor owning a copy of `data` (exactly the shape's element count).
    pub fn from_data(shape: &[usize], data: &[f32]) -> Result<Tensor> {
        check_len("gm_tensor_from_data", "data", data.len(), numel_of(shape).unwrap_or(usize::MAX))?;
        Tensor::create(|out| unsafe { sys::gm_tensor_from_data(out, shape.len(), shape.as_ptr(), data.as_ptr()) })
    }

    /// A tensor over `data` without a copy; writes to it go to `data`.
    pub fn wrap<'a>(shape: &[usize], data: &'a mut [f32]) -> Result<TensorView<'a>> {
        check_len("gm_tensor_wrap", "data", data.len(), numel_of(shape).unwrap_or(usize::MAX))?;
        let tensor =
            Tensor::create(|out| unsafe { sys::gm_tensor_wrap(out, shape.len(), shape.as_ptr(), data.as_mut_ptr()) })?;
        Ok(TensorView { tensor, _data: PhantomData })
    }
}

impl TensorRef {
    pub fn ndim(&self) -> usize {
        unsafe { sys::gm_tensor_ndim(self.as_ptr()) }
    }
    /// Size of dimension `i` (0 if out of range).
    pub fn dim(&self, i: usize) -> usize {
        unsafe { sys::gm_tensor_dim(self.as_ptr(), i) }
    }
    pub fn numel(&self) -> usize {
        unsafe { sys::gm_tensor_numel(self.as_ptr()) }
    }

    pub fn shape(&self) -> Vec<usize> {
        let (mut ndim, mut shape) = (0, [0; sys::GM_MAX_DIMS]);
        unsafe { sys::gm_tensor_shape(self.as_ptr(), &mut ndim, shape.as_mut_ptr()) }; // cannot fail: no NULL
        shape[..ndim].to_vec()
    }

    pub fn data(&self) -> &[f32] {
        unsafe { std::slice::from_raw_parts(sys::gm_tensor_data_const(self.as_ptr()), self.numel()) }
    }

    pub fn data_mut(&mut self) -> &mut [f32] {
        let n = self.numel();
        unsafe { std::slice::from_raw_parts_mut(sys::gm_tensor_data(self.as_mut_ptr()), n) }
    }

    pub fn to_vec(&self) -> Vec<f32> {
        self.data().to_vec()
    }

    /// Copies the elements into `dst` (of exactly numel elements).
    pub fn copy_out(&self, dst: &mut [f32]) -> Result<()> {
        check(unsafe { sys::gm_tensor_copy_out(self.as_ptr(), dst.as_mut_ptr(), dst.len()) })
    }

    /// Copies `src` (of exactly numel elements) into the tensor.
    pub fn copy_in(&mut self, src: &[f32]) -> Result<()> {
        check(unsafe { sys::gm_tensor_copy_in(self.as_mut_ptr(), src.as_ptr(), src.len()) })
    }

    pub fn fill(&mut self, value: f32) -> Result<()> {
        check(unsafe { sys::gm_tensor_fill(self.as_mut_ptr(), value) })
    }

    /// Standard normal values from `rng`, in row-major order.
    pub fn fill_normal(&mut self, rng: &mut RngRef) -> Result<()> {
        check(unsafe { sys::gm_tensor_fill_normal(self.as_mut_ptr(), rng.as_mut_ptr()) })
    }

    /// Values uniform in [0, 1) from `rng`.
    pub fn fill_uniform(&mut self, rng: &mut RngRef) -> Result<()> {
        check(unsafe { sys::gm_tensor_fill_uniform(self.as_mut_ptr(), rng.as_mut_ptr()) })
    }

    /// A new shape with the same element count.
    pub fn reshape(&mut self, shape: &[usize]) -> Result<()> {
        check(unsafe { sys::gm_tensor_reshape(self.as_mut_ptr(), shape.len(), shape.as_ptr()) })
    }
}
