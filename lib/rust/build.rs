//! Finds libgenmodel and tells rustc how to link it.
//!
//! 1. GENMODEL_LIB_DIR, the directory holding libgenmodel.so, if set
//!    (pkg-config is then not run);
//! 2. otherwise `pkg-config --libs --cflags genmodel` (the command named by
//!    $PKG_CONFIG, default `pkg-config`; it honours PKG_CONFIG_PATH).
//!
//! Every library directory also goes into the rpath of this package's own
//! tests and examples, so they run without LD_LIBRARY_PATH. Dependent crates
//! get it as DEP_GENMODEL_LIB_DIR (and DEP_GENMODEL_INCLUDE).
use std::env;
use std::path::PathBuf;
use std::process::Command;

const LIB_FILE: &str = "libgenmodel.so";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    for var in ["GENMODEL_LIB_DIR", "PKG_CONFIG", "PKG_CONFIG_PATH", "PKG_CONFIG_LIBDIR", "PKG_CONFIG_SYSROOT_DIR"] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let (lib_dirs, libs, include_dirs) = match env::var_os("GENMODEL_LIB_DIR") {
        Some(dir) => {
            let dir = PathBuf::from(dir);
            if !dir.join(LIB_FILE).exists() {
                panic!(
                    "genmodel: GENMODEL_LIB_DIR is set to {}, but there is no {LIB_FILE} in it \
                     (pkg-config was not tried because GENMODEL_LIB_DIR overrides it)",
                    dir.display()
                );
            }
            (vec![dir], vec!["genmodel".to_string()], vec![])
        }
        None => pkg_config(),
    };
    let unix = env::var("CARGO_CFG_TARGET_FAMILY").is_ok_and(|f| f.split(',').any(|f| f == "unix"));
    for dir in &lib_dirs {
        println!("cargo:rustc-link-search=native={}", dir.display());
        if unix {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
        }
    }
    for lib in &libs {
        println!("cargo:rustc-link-lib=dylib={lib}");
    }
    if let Some(dir) = lib_dirs.first() {
        println!("cargo:lib_dir={}", dir.display());
    }
    if let Some(dir) = include_dirs.first() {
        println!("cargo:include={}", dir.display());
    }
}

/// (library directories, library names, include directories) from pkg-config.
fn pkg_config() -> (Vec<PathBuf>, Vec<String>, Vec<PathBuf>) {
    let cmd = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let tried = format!(
        "GENMODEL_LIB_DIR is not set, so `{cmd} --libs --cflags genmodel` was run (PKG_CONFIG_PATH={})",
        env::var("PKG_CONFIG_PATH").unwrap_or_default()
    );
    let help = "Install libgenmodel (cmake --install BUILD --prefix PREFIX) and add PREFIX/lib/pkgconfig \
                to PKG_CONFIG_PATH, or set GENMODEL_LIB_DIR to the directory holding libgenmodel.so";
    let out = match Command::new(&cmd).args(["--libs", "--cflags", "genmodel"]).output() {
        Ok(out) if out.status.success() => out,
        Ok(out) => panic!(
            "genmodel: libgenmodel not found. {tried}, and it failed ({}): {}\n{help}.",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => panic!("genmodel: libgenmodel not found. {tried}, and it could not be started: {e}\n{help}."),
    };
    let (mut lib_dirs, mut libs, mut include_dirs) = (vec![], vec![], vec![]);
    for flag in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            lib_dirs.push(PathBuf::from(dir));
        } else if let Some(lib) = flag.strip_prefix("-l") {
            libs.push(lib.to_string());
        } else if let Some(dir) = flag.strip_prefix("-I") {
            include_dirs.push(PathBuf::from(dir));
        }
    }
    if !libs.iter().any(|l| l == "genmodel") {
        panic!("genmodel: {tried}, but its output has no -lgenmodel: {}", String::from_utf8_lossy(&out.stdout).trim());
    }
    (lib_dirs, libs, include_dirs)
}
