// SPDX-License-Identifier: MIT
//! Finds libgenmodel and tells rustc how to link it.
//!
//! Where:
//! 1. GENMODEL_LIB_DIR, the directory holding libgenmodel.so, if set
//!    (pkg-config is then not run, and the link is dynamic);
//! 2. otherwise `pkg-config --libs --cflags genmodel` (the command named by
//!    $PKG_CONFIG, default `pkg-config`; it honours PKG_CONFIG_PATH).
//!
//! How (GENMODEL_LINK = `static` or `dylib`; by default static when pkg-config
//! is used and libgenmodel.a is in its library directory, else dylib):
//! - static: libgenmodel.a goes into this crate's rlib and from there into
//!   every binary that depends on the crate, directly or not; the library's
//!   own dependencies (OpenBLAS, zlib, libpng: `Requires.private`) are linked
//!   as shared libraries from the system directories. A binary needs no
//!   rpath and no LD_LIBRARY_PATH, wherever libgenmodel was installed.
//! - dylib: links libgenmodel.so. Its directory goes into the rpath of this
//!   package's own tests and examples only: cargo does not pass link
//!   arguments on to dependents. A dependent's binary finds the library
//!   through the system paths, LD_LIBRARY_PATH, or an rpath that the
//!   dependent's own build script adds from DEP_GENMODEL_LIB_DIR (README).
//!
//! Dependents' build scripts get DEP_GENMODEL_LIB_DIR, DEP_GENMODEL_INCLUDE
//! and DEP_GENMODEL_LINK (`static` or `dylib`).
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const SHARED_FILE: &str = "libgenmodel.so";
const STATIC_FILE: &str = "libgenmodel.a";

#[derive(Clone, Copy, PartialEq)]
enum Link {
    Static,
    Dylib,
}

/// What pkg-config (or GENMODEL_LIB_DIR) said.
struct Found {
    lib_dirs: Vec<PathBuf>,
    libs: Vec<String>,
    include_dirs: Vec<PathBuf>,
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in [
        "GENMODEL_LIB_DIR",
        "GENMODEL_LINK",
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let wanted = match env::var("GENMODEL_LINK").as_deref() {
        Err(_) | Ok("") => None,
        Ok("static") => Some(Link::Static),
        Ok("dylib") => Some(Link::Dylib),
        Ok(other) => panic!("genmodel: GENMODEL_LINK is {other:?}; it must be \"static\", \"dylib\" or unset"),
    };
    let (mut found, from_dir) = match env::var_os("GENMODEL_LIB_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if wanted == Some(Link::Static) {
                panic!(
                    "genmodel: GENMODEL_LINK=static needs pkg-config (for libgenmodel's own dependencies), \
                     but GENMODEL_LIB_DIR={} overrides it: unset one of them",
                    dir.display()
                );
            }
            if !dir.join(SHARED_FILE).exists() {
                panic!(
                    "genmodel: GENMODEL_LIB_DIR is set to {}, but there is no {SHARED_FILE} in it \
                     (pkg-config was not tried because GENMODEL_LIB_DIR overrides it)",
                    dir.display()
                );
            }
            (Found { lib_dirs: vec![dir], libs: vec!["genmodel".into()], include_dirs: vec![] }, true)
        }
        None => (pkg_config(), false),
    };
    let archive_dir = found.lib_dirs.iter().find(|d| d.join(STATIC_FILE).is_file()).cloned();
    let link = match (wanted, &archive_dir) {
        (Some(Link::Static), None) => panic!(
            "genmodel: GENMODEL_LINK=static, but there is no {STATIC_FILE} in pkg-config's library directories {:?} \
             (install libgenmodel with `cmake --install`, which installs it next to {SHARED_FILE})",
            found.lib_dirs
        ),
        (Some(link), _) => link,
        (None, Some(_)) if !from_dir => Link::Static,
        (None, _) => Link::Dylib,
    };
    if link == Link::Static {
        add_private_deps(&mut found);
    }
    // the directory of the library actually linked
    let lib_dir = match link {
        Link::Static => archive_dir,
        Link::Dylib => found.lib_dirs.iter().find(|d| d.join(SHARED_FILE).exists()).cloned(),
    };

    for dir in &found.lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
    }
    if let Some(dir) = &lib_dir {
        // relink (static: re-bundle) when the installed library changes
        let file = if link == Link::Static { STATIC_FILE } else { SHARED_FILE };
        println!("cargo:rerun-if-changed={}", dir.join(file).display());
    }
    let mut seen = vec![];
    for lib in &found.libs {
        if seen.contains(lib) {
            continue;
        }
        seen.push(lib.clone());
        if lib == "genmodel" && link == Link::Static {
            println!("cargo:rustc-link-lib=static=genmodel");
        } else {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
    let unix = env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "unix"));
    if link == Link::Dylib && unix {
        for dir in &found.lib_dirs {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
    if let Some(dir) = lib_dir.as_deref().or(found.lib_dirs.first().map(Path::new)) {
        println!("cargo:lib_dir={}", dir.display());
    }
    if let Some(dir) = found.include_dirs.first() {
        println!("cargo:include={}", dir.display());
    }
    println!("cargo:link={}", if link == Link::Static { "static" } else { "dylib" });
}

/// Runs `$PKG_CONFIG ARGS` and returns its stdout, or panics saying how to
/// make libgenmodel findable.
fn run_pkg_config(args: &[&str]) -> String {
    let cmd = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let tried = format!(
        "GENMODEL_LIB_DIR is not set, so `{cmd} {}` was run (PKG_CONFIG_PATH={})",
        args.join(" "),
        env::var("PKG_CONFIG_PATH").unwrap_or_default()
    );
    let help = "Install libgenmodel (cmake --install BUILD --prefix PREFIX) and add PREFIX/lib/pkgconfig \
                to PKG_CONFIG_PATH, or set GENMODEL_LIB_DIR to the directory holding libgenmodel.so";
    match Command::new(&cmd).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => panic!(
            "genmodel: libgenmodel not found. {tried}, and it failed ({}): {}\n{help}.",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("genmodel: libgenmodel not found. {tried}, and it could not be started: {e}\n{help}."),
    }
}

/// Adds the -L, -l and -I flags of a pkg-config output to `found`.
fn add_flags(found: &mut Found, flags: &str) {
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            found.lib_dirs.push(PathBuf::from(dir));
        } else if let Some(lib) = flag.strip_prefix("-l") {
            found.libs.push(lib.to_string());
        } else if let Some(dir) = flag.strip_prefix("-I") {
            found.include_dirs.push(PathBuf::from(dir));
        }
    }
}

/// `pkg-config --libs --cflags genmodel`.
fn pkg_config() -> Found {
    let out = run_pkg_config(&["--libs", "--cflags", "genmodel"]);
    let mut found = Found { lib_dirs: vec![], libs: vec![], include_dirs: vec![] };
    add_flags(&mut found, &out);
    if !found.libs.iter().any(|l| l == "genmodel") {
        panic!("genmodel: `pkg-config --libs --cflags genmodel` printed no -lgenmodel: {}", out.trim());
    }
    found
}

/// What libgenmodel.a needs besides itself, to be linked as shared
/// libraries: the `Libs` of the packages in genmodel.pc's
/// `Requires.private` (`pkg-config --static` would add their own
/// `Libs.private` too, such as OpenBLAS's -lgfortran, which a shared OpenBLAS
/// does not need at link time) and genmodel.pc's own `Libs.private`.
fn add_private_deps(found: &mut Found) {
    let reqs: Vec<String> = run_pkg_config(&["--print-requires-private", "genmodel"])
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect();
    if !reqs.is_empty() {
        let mut args = vec!["--libs"];
        args.extend(reqs.iter().map(String::as_str));
        add_flags(found, &run_pkg_config(&args));
    }
    let pc = PathBuf::from(run_pkg_config(&["--variable=pcfiledir", "genmodel"]).trim()).join("genmodel.pc");
    let text = std::fs::read_to_string(&pc).unwrap_or_else(|e| panic!("genmodel: cannot read {}: {e}", pc.display()));
    for line in text.lines() {
        if let Some(flags) = line.strip_prefix("Libs.private:") {
            add_flags(found, flags);
        }
    }
}
