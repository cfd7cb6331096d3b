// SPDX-License-Identifier: MIT
//! IDX data sets, PNG sample grids and image folders (io.h).
use crate::{check, sys, Error, Handle, Result, RngRef, Status, Tensor, TensorRef};
use std::ffi::{c_int, c_void, CStr, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;

pub(crate) fn c_path(func: &str, path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::new(Status::Inval, format!("{func}: path {} contains a NUL byte", path.display())))
}

/// Loads an IDX image file as [N x 1 x H x W] in [0, 1]; `max_items` 0 = all.
pub fn idx_load_images(path: impl AsRef<Path>, max_items: usize) -> Result<Tensor> {
    let path = c_path("gm_idx_load_images", path.as_ref())?;
    Tensor::create(|out| unsafe { sys::gm_idx_load_images(out, path.as_ptr(), max_items) })
}

/// Loads an IDX label file; `max_items` 0 = all.
pub fn idx_load_labels(path: impl AsRef<Path>, max_items: usize) -> Result<Vec<i32>> {
    let path = c_path("gm_idx_load_labels", path.as_ref())?;
    let mut count = 0;
    check(unsafe { sys::gm_idx_load_labels(path.as_ptr(), max_items, std::ptr::null_mut(), 0, &mut count) })?;
    let mut labels = vec![0; count];
    check(unsafe { sys::gm_idx_load_labels(path.as_ptr(), max_items, labels.as_mut_ptr(), count, &mut count) })?;
    labels.truncate(count);
    Ok(labels)
}

/// Writes images [N x C x H x W] (C = 1 or 3) as a PNG grid of rows x cols cells.
pub fn png_write_grid(
    path: impl AsRef<Path>,
    images: &TensorRef,
    rows: usize,
    cols: usize,
    padding: usize,
    pad_value: f32,
) -> Result<()> {
    let path = c_path("gm_png_write_grid", path.as_ref())?;
    check(unsafe { sys::gm_png_write_grid(path.as_ptr(), images.as_ptr(), rows, cols, padding, pad_value) })
}

// ---- image folders ----------------------------------------------------------

/// How [`ImageSet::batch`] maps a byte `v` to a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageRange {
    /// `v / 255`, in [0, 1].
    Unit,
    /// `v / 127.5 - 1`, in [-1, 1].
    Symmetric,
}

/// Options of [`image_folder_load`] (`gm_image_folder_options`); `Default`
/// gives the library's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageFolderOptions {
    /// Side S of the square images, 1 ..= 4096 (default 64).
    pub side: usize,
    /// 3 (RGB, default) or 1 (grey).
    pub channels: u32,
    /// RGB colour under transparent pixels (default white).
    pub background: [u8; 3],
    /// Labels from the top-level sub-folders (default false).
    pub labels: bool,
    /// Skip and count bad files instead of failing (default false).
    pub skip_bad: bool,
    /// Files with more pixels are bad (default 2^24).
    pub max_pixels: u64,
    /// Decoding threads; 0 = the library's setting (default).
    pub threads: u32,
    /// Only the first `max_files` files in sorted order; 0 = all (default).
    pub max_files: usize,
}

impl Default for ImageFolderOptions {
    fn default() -> Self {
        let mut o = sys::gm_image_folder_options::default();
        unsafe { sys::gm_image_folder_options_init(&mut o) };
        ImageFolderOptions {
            side: o.side,
            channels: o.channels,
            background: [(o.background >> 16) as u8, (o.background >> 8) as u8, o.background as u8],
            labels: o.labels != 0,
            skip_bad: o.skip_bad != 0,
            max_pixels: o.max_pixels,
            threads: o.threads,
            max_files: o.max_files,
        }
    }
}

/// N images of C x S x S bytes loaded from a folder of PNG and JPEG files
/// (`gm_image_set`), with file names and optional labels. Never changed
/// after loading, so it may be shared between threads.
pub struct ImageSet {
    p: NonNull<sys::gm_image_set>,
}

// The C set is never written after gm_image_folder_load returns (io.h: "one
// set may be read from several threads at once").
unsafe impl Send for ImageSet {}
unsafe impl Sync for ImageSet {}

impl Drop for ImageSet {
    fn drop(&mut self) {
        unsafe { sys::gm_image_set_free(self.p.as_ptr()) }
    }
}

impl std::fmt::Debug for ImageSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageSet({} x {} x {} x {})", self.len(), self.channels(), self.side(), self.side())
    }
}

impl ImageSet {
    fn raw(&self) -> *const sys::gm_image_set {
        self.p.as_ptr()
    }
    /// Number of images N.
    pub fn len(&self) -> usize {
        unsafe { sys::gm_image_set_count(self.raw()) }
    }
    /// Always false: a load with no image fails.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Channels C (1 or 3).
    pub fn channels(&self) -> usize {
        unsafe { sys::gm_image_set_channels(self.raw()) }
    }
    /// Side S.
    pub fn side(&self) -> usize {
        unsafe { sys::gm_image_set_side(self.raw()) }
    }
    /// Bad files skipped by the load.
    pub fn skipped(&self) -> usize {
        unsafe { sys::gm_image_set_skipped(self.raw()) }
    }
    /// All N x C x S x S bytes (image-major, then channel planes).
    pub fn data(&self) -> &[u8] {
        let n = self.len() * self.channels() * self.side() * self.side();
        unsafe { std::slice::from_raw_parts(sys::gm_image_set_data(self.raw()), n) }
    }
    /// Image `i` (C x S x S bytes), or None when `i >= len()`.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let per = self.channels() * self.side() * self.side();
        (i < self.len()).then(|| &self.data()[i * per..(i + 1) * per])
    }
    /// The N labels, or None when loaded without labels.
    pub fn labels(&self) -> Option<&[i32]> {
        let p = unsafe { sys::gm_image_set_labels(self.raw()) };
        (!p.is_null()).then(|| unsafe { std::slice::from_raw_parts(p, self.len()) })
    }
    /// Path of image `i` relative to the folder, or None when `i >= len()`.
    pub fn name(&self, i: usize) -> Option<&Path> {
        let p = unsafe { sys::gm_image_set_name(self.raw(), i) };
        (!p.is_null()).then(|| Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes())))
    }
    /// The class names (sub-folders; label k is `classes()[k]`); empty
    /// without labels.
    pub fn classes(&self) -> Vec<String> {
        let n = unsafe { sys::gm_image_set_num_classes(self.raw()) };
        (0..n)
            .map(|k| {
                unsafe { CStr::from_ptr(sys::gm_image_set_class_name(self.raw(), k)) }.to_string_lossy().into_owned()
            })
            .collect()
    }
    /// Fills `out` ([indices.len() x C x S x S]) with the images `indices`
    /// as floats; with `flip`, each is mirrored left-right when its uniform
    /// draw from the generator is below 0.5 (`gm_image_set_batch`).
    pub fn batch(
        &self,
        indices: &[usize],
        range: ImageRange,
        flip: Option<&mut RngRef>,
        out: &mut TensorRef,
    ) -> Result<()> {
        let range = match range {
            ImageRange::Unit => sys::GM_IMAGE_RANGE_UNIT,
            ImageRange::Symmetric => sys::GM_IMAGE_RANGE_SYMMETRIC,
        };
        let rng = flip.map_or(std::ptr::null_mut(), |r| r.as_mut_ptr());
        check(unsafe {
            sys::gm_image_set_batch(self.raw(), indices.as_ptr(), indices.len(), range, rng, out.as_mut_ptr())
        })
    }
}

fn folder_options(o: &ImageFolderOptions) -> Result<sys::gm_image_folder_options> {
    let mut c = sys::gm_image_folder_options::default();
    check(unsafe { sys::gm_image_folder_options_init(&mut c) })?;
    c.side = o.side;
    c.channels = o.channels;
    c.background = (o.background[0] as u32) << 16 | (o.background[1] as u32) << 8 | o.background[2] as u32;
    c.labels = o.labels as u32;
    c.skip_bad = o.skip_bad as u32;
    c.max_pixels = o.max_pixels;
    c.threads = o.threads;
    c.max_files = o.max_files;
    Ok(c)
}

/// Loads every PNG and JPEG file under `dir` (`gm_image_folder_load`; see
/// io.h for the pipeline and what counts as a bad file).
pub fn image_folder_load(dir: impl AsRef<Path>, opts: &ImageFolderOptions) -> Result<ImageSet> {
    image_folder_load_with_progress(dir, opts, |_, _| true)
}

/// As [`image_folder_load`], calling `progress(done, total)` on this
/// thread as files are decoded; returning false cancels the load, which
/// then fails with [`Status::State`]. A panic in `progress` cancels the
/// load and is resumed here.
pub fn image_folder_load_with_progress<F: FnMut(usize, usize) -> bool>(
    dir: impl AsRef<Path>,
    opts: &ImageFolderOptions,
    mut progress: F,
) -> Result<ImageSet> {
    const FN: &str = "gm_image_folder_load";
    let dir = c_path(FN, dir.as_ref())?;
    let c = folder_options(opts)?;
    struct Ctx<'a> {
        f: &'a mut dyn FnMut(usize, usize) -> bool,
        panic: Option<Box<dyn std::any::Any + Send>>,
    }
    unsafe extern "C" fn tramp(user: *mut c_void, done: usize, total: usize) -> c_int {
        let ctx = &mut *(user as *mut Ctx);
        if ctx.panic.is_some() {
            return 1;
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (ctx.f)(done, total))) {
            Ok(go_on) => c_int::from(!go_on),
            Err(payload) => {
                ctx.panic = Some(payload);
                1
            }
        }
    }
    let mut ctx = Ctx { f: &mut progress, panic: None };
    let mut out = std::ptr::null_mut();
    let code =
        unsafe { sys::gm_image_folder_load(&mut out, dir.as_ptr(), &c, Some(tramp), (&mut ctx as *mut Ctx).cast()) };
    if let Some(payload) = ctx.panic.take() {
        if let Some(p) = NonNull::new(out) {
            drop(ImageSet { p });
        }
        std::panic::resume_unwind(payload);
    }
    check(code)?;
    NonNull::new(out)
        .map(|p| ImageSet { p })
        .ok_or_else(|| Error::new(Status::Internal, format!("{FN} returned GM_OK and NULL")))
}
