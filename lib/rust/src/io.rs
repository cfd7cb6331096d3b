//! IDX data sets and PNG sample grids (io.h).
use crate::{check, sys, Error, Handle, Result, Status, Tensor, TensorRef};
use std::ffi::CString;
use std::path::Path;

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
