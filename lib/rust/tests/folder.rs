// SPDX-License-Identifier: MIT
//! Image folders through the safe wrapper: the committed pictures of
//! tests/data/folder_ref (the PIL fixture's inputs) loaded on 1 and 2
//! threads, labels and names, bad files and options as errors, progress,
//! cancelling, a panicking callback, batches with flips, no leaks.
use genmodel::{
    image_folder_load, image_folder_load_with_progress, live_allocations, ImageFolderOptions, ImageRange, Rng, Status,
    Tensor,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// live_allocations() counts the whole process: the tests of this file
/// run one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn pictures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/folder_ref")
}

fn scratch(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("gm-rust-folder-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn loads_the_reference_pictures() {
    let _serial = serial();
    let before = live_allocations();
    {
        let opts = ImageFolderOptions { side: 10, threads: 1, ..Default::default() };
        let one = image_folder_load(pictures(), &opts).unwrap();
        let two = image_folder_load(pictures(), &ImageFolderOptions { threads: 2, ..opts.clone() }).unwrap();
        assert_eq!((one.len(), one.channels(), one.side(), one.skipped()), (6, 3, 10, 0));
        assert_eq!(one.data().len(), 6 * 3 * 100);
        assert_eq!(one.data(), two.data());
        assert_eq!(one.name(0), Some(Path::new("a_rgba_37x20.png")));
        assert_eq!(one.name(6), None);
        assert_eq!(one.image(5).unwrap().len(), 300);
        assert!(one.image(6).is_none());
        assert!(one.labels().is_none());
        assert!(one.classes().is_empty());
        // the set may move to another thread
        let n = std::thread::spawn(move || two.len()).join().unwrap();
        assert_eq!(n, 6);
    }
    assert_eq!(live_allocations(), before);
}

#[test]
fn labels_and_bad_files() {
    let _serial = serial();
    let d = scratch("labels");
    for (class, file) in [("b", "c_la_30x30.png"), ("a", "e_grey_40x30.jpg"), ("a", "d_rgb_64x40.png")] {
        fs::create_dir_all(d.join(class)).unwrap();
        fs::copy(pictures().join(file), d.join(class).join(file)).unwrap();
    }
    let opts = ImageFolderOptions { side: 6, channels: 1, labels: true, ..Default::default() };
    let set = image_folder_load(&d, &opts).unwrap();
    assert_eq!(set.classes(), ["a", "b"]);
    assert_eq!(set.labels(), Some(&[0, 0, 1][..]));
    assert_eq!(set.name(1), Some(Path::new("a/e_grey_40x30.jpg")));
    fs::write(d.join("b/cut.jpg"), [0xff, 0xd8, 0xff, 0xe0, 0, 16]).unwrap();
    let e = image_folder_load(&d, &opts).unwrap_err();
    assert_eq!(e.status, Status::Format);
    assert!(e.message.contains("b/cut.jpg"), "{}", e.message);
    let set = image_folder_load(&d, &ImageFolderOptions { skip_bad: true, ..opts.clone() }).unwrap();
    assert_eq!((set.len(), set.skipped()), (3, 1));
    let e = image_folder_load(d.join("missing"), &opts).unwrap_err();
    assert_eq!(e.status, Status::Io);
    for bad in [
        ImageFolderOptions { side: 0, ..Default::default() },
        ImageFolderOptions { channels: 2, ..Default::default() },
        ImageFolderOptions { max_pixels: 0, ..Default::default() },
    ] {
        assert_eq!(image_folder_load(pictures(), &bad).unwrap_err().status, Status::Inval, "{bad:?}");
    }
    assert_eq!(image_folder_load("a\0b", &opts).unwrap_err().status, Status::Inval);
    fs::remove_dir_all(&d).unwrap();
}

#[test]
fn progress_cancel_and_panic() {
    let _serial = serial();
    let opts = ImageFolderOptions { side: 4, threads: 1, ..Default::default() };
    let mut seen = vec![];
    image_folder_load_with_progress(pictures(), &opts, |done, total| {
        seen.push((done, total));
        true
    })
    .unwrap();
    assert_eq!(seen, (1..=6).map(|i| (i, 6)).collect::<Vec<_>>());
    let e = image_folder_load_with_progress(pictures(), &opts, |done, _| done < 2).unwrap_err();
    assert_eq!(e.status, Status::State);
    let before = live_allocations();
    let r = std::panic::catch_unwind(|| {
        let _ = image_folder_load_with_progress(pictures(), &opts, |_, _| panic!("from the callback"));
    });
    assert!(r.is_err());
    assert_eq!(live_allocations(), before);
}

#[test]
fn batches_with_flips() {
    let _serial = serial();
    let set =
        image_folder_load(pictures(), &ImageFolderOptions { side: 5, channels: 1, ..Default::default() }).unwrap();
    let mut out = Tensor::new(&[3, 1, 5, 5]).unwrap();
    set.batch(&[0, 5, 0], ImageRange::Unit, None, &mut out).unwrap();
    let v = out.to_vec();
    let img0 = set.image(0).unwrap();
    for k in 0..25 {
        assert_eq!(v[k], img0[k] as f32 / 255.0);
        assert_eq!(v[50 + k], v[k]);
    }
    set.batch(&[0, 5, 0], ImageRange::Symmetric, None, &mut out).unwrap();
    assert!(out.to_vec().iter().all(|x| (-1.0..=1.0).contains(x)));
    let mut rng = Rng::new(3).unwrap();
    let mut flipped = 0;
    for _ in 0..10 {
        set.batch(&[0, 0, 0], ImageRange::Unit, Some(&mut rng), &mut out).unwrap();
        let v = out.to_vec();
        for b in 0..3 {
            let row = &v[b * 25..b * 25 + 5];
            let orig: Vec<f32> = img0[..5].iter().map(|&x| x as f32 / 255.0).collect();
            let rev: Vec<f32> = orig.iter().rev().copied().collect();
            assert!(row == orig.as_slice() || row == rev.as_slice());
            flipped += usize::from(row == rev.as_slice() && orig != rev);
        }
    }
    assert!(flipped > 0);
    assert_eq!(set.batch(&[6], ImageRange::Unit, None, &mut out).unwrap_err().status, Status::Inval);
    assert_eq!(set.batch(&[0, 1], ImageRange::Unit, None, &mut out).unwrap_err().status, Status::Shape);
}
