// SPDX-License-Identifier: MIT
//! `sys` against the public headers (../../include/genmodel/*.h): every
//! `GM_API` function is declared, every public type exists, struct fields
//! come in the same order, and enum and #define constants have the same
//! values. Also checks the struct sizes against the `size` the library's
//! init functions write.
use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

const SYS: &str = include_str!("../src/sys.rs");

/// The headers' text without comments, all files concatenated.
fn headers() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../include/genmodel");
    let mut files: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .collect();
    files.sort();
    assert!(files.len() >= 9, "expected the public headers in {}, found {files:?}", dir.display());
    files.iter().map(|f| strip_comments(&fs::read_to_string(f).unwrap())).collect::<Vec<_>>().join("\n")
}

fn strip_comments(s: &str) -> String {
    let (mut out, mut rest) = (String::new(), s);
    while let Some(i) = rest.find("/*") {
        out.push_str(&rest[..i]);
        rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
    }
    out.push_str(rest);
    out.lines().map(|l| l.split("//").next().unwrap()).collect::<Vec<_>>().join("\n")
}

fn idents(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty())
}

/// Every `typedef`: (kind, NAME, body) where kind is "struct", "enum" or
/// the first word, and body is what is between braces (empty without).
fn typedefs(text: &str) -> Vec<(&str, &str, &str)> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("typedef ") {
        rest = &rest[i + "typedef ".len()..];
        let kind = idents(rest).next().unwrap();
        let semi = rest.find(';').unwrap();
        let (body, end) = match rest.find('{') {
            Some(b) if b < semi => {
                let e = rest.find('}').unwrap();
                (&rest[b + 1..e], e + rest[e..].find(';').unwrap())
            }
            _ => ("", semi),
        };
        let name_part = if body.is_empty() { &rest[..end] } else { &rest[rest.find('}').unwrap()..end] };
        // a function-pointer typedef, `R (*NAME)(params)`, is named after "(*"
        let name = match name_part.find("(*") {
            Some(i) if body.is_empty() => idents(&name_part[i..]).next().unwrap(),
            _ => idents(name_part).last().unwrap(),
        };
        out.push((kind, name, body));
        rest = &rest[end..];
    }
    out
}

/// (NAME, body) of the `typedef <kind> ... { body } NAME;` blocks.
fn typedef_blocks<'a>(text: &'a str, kind: &str) -> Vec<(&'a str, &'a str)> {
    typedefs(text).into_iter().filter(|t| t.0 == kind && !t.2.is_empty()).map(|t| (t.1, t.2)).collect()
}

/// Field names of `pub struct NAME { ... }` in sys.rs.
fn sys_struct_fields(name: &str) -> Option<Vec<String>> {
    let start = SYS.find(&format!("pub struct {name} {{"))?;
    let body = &SYS[start..start + SYS[start..].find("\n}").unwrap()];
    Some(
        body.lines()
            .skip(1)
            .filter_map(|l| l.trim().strip_prefix("pub ")?.split(':').next().map(|f| f.trim().to_string()))
            .collect(),
    )
}

/// The value sys.rs gives constant NAME (`NAME = v` or `const NAME: T = v`).
fn sys_constant(name: &str) -> Option<String> {
    let mut rest = SYS;
    while let Some(i) = rest.find(name) {
        let after = &rest[i + name.len()..];
        let whole_word = !rest[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let decl = after.trim_start();
        if whole_word && (decl.starts_with('=') || decl.starts_with(':')) {
            let v = &decl[decl.find('=')? + 1..];
            return Some(v[..v.find([',', ';', ')', '\n']).unwrap_or(v.len())].trim().to_string());
        }
        rest = after;
    }
    None
}

#[test]
fn every_gm_api_function_is_declared_in_sys() {
    let text = headers();
    let declared: BTreeSet<&str> = text
        .match_indices("GM_API")
        .filter(|(i, _)| !text[..*i].rsplit('\n').next().unwrap().trim_start().starts_with('#'))
        .map(|(i, _)| idents(&text[i..i + text[i..].find('(').unwrap()]).last().unwrap())
        .collect();
    assert!(declared.len() > 100, "parsed only {} GM_API functions: {declared:?}", declared.len());
    let in_sys: BTreeSet<&str> =
        SYS.match_indices("pub fn ").map(|(i, m)| idents(&SYS[i + m.len()..]).next().unwrap()).collect();
    let missing: Vec<_> = declared.difference(&in_sys).collect();
    let unknown: Vec<_> = in_sys.difference(&declared).collect();
    assert!(missing.is_empty(), "GM_API functions not declared in src/sys.rs: {missing:?}");
    assert!(unknown.is_empty(), "src/sys.rs declares functions no header has: {unknown:?}");
}

#[test]
fn every_public_type_is_mirrored() {
    let text = headers();
    let names: BTreeSet<&str> = typedefs(&text).into_iter().map(|t| t.1).collect();
    assert!(names.len() >= 19, "parsed only {names:?}");
    for name in ["gm_vae_fit_callback", "gm_gan_fit_callback", "gm_gan_part", "gm_fit_options", "gm_fit_progress"] {
        assert!(names.contains(name), "the typedef parser missed {name}: {names:?}");
    }
    assert!(names.iter().all(|n| n.starts_with("gm_")), "a typedef parsed under a wrong name: {names:?}");
    let missing: Vec<_> = names.iter().filter(|n| !idents(SYS).any(|w| w == **n)).collect();
    assert!(missing.is_empty(), "public types missing from src/sys.rs: {missing:?}");
}

#[test]
fn struct_fields_match_in_order() {
    let text = headers();
    let structs = typedef_blocks(&text, "struct");
    assert!(structs.len() >= 6, "parsed only {structs:?}");
    for (name, body) in structs {
        let c_fields: Vec<&str> = body
            .split(';')
            .filter(|d| !d.trim().is_empty())
            .map(|d| match d.find("(*") {
                Some(i) => idents(&d[i..]).next().unwrap(),
                None => idents(d).last().unwrap(),
            })
            .collect();
        let rust = sys_struct_fields(name).unwrap_or_else(|| panic!("struct {name} missing from src/sys.rs"));
        assert_eq!(rust, c_fields, "fields of {name}");
    }
}

/// `pub type NAME = Option<unsafe extern "C" fn(a: A, b: B) -> R>;` in sys.rs:
/// (parameter types, return type), spaces removed.
fn sys_callback(name: &str) -> Option<(Vec<String>, String)> {
    let start = SYS.find(&format!("pub type {name} ="))?;
    let decl: String = SYS[start..start + SYS[start..].find(';')?].split_whitespace().collect();
    let params = &decl[decl.find("fn(")? + 3..decl.rfind(")->")?];
    let ret = decl[decl.rfind(")->")? + 3..].trim_end_matches('>').to_string();
    Some((params.split(',').map(|p| p.split_once(':').map_or(p, |(_, t)| t).to_string()).collect(), ret))
}

/// The Rust spelling sys.rs uses for a C parameter type.
fn rust_type(c: &str) -> String {
    let words: Vec<&str> = idents(c).collect();
    let stars = c.matches('*').count();
    let is_const = words.contains(&"const");
    let base = match *words.iter().rfind(|w| **w != "const").unwrap() {
        "void" => "c_void",
        "int" => "c_int",
        "size_t" => "usize",
        other => other,
    };
    let mut t = base.to_string();
    for i in 0..stars {
        t = format!("{}{t}", if i == 0 && is_const { "*const" } else { "*mut" });
    }
    t
}

#[test]
fn callback_typedefs_match() {
    let text = headers();
    let mut n = 0;
    let mut rest = text.as_str();
    while let Some(i) = rest.find("typedef ") {
        rest = &rest[i + "typedef ".len()..];
        let decl = &rest[..rest.find(';').unwrap()];
        let Some(p) = decl.find("(*") else { continue };
        if decl.contains('{') {
            continue;
        }
        let name = idents(&decl[p..]).next().unwrap();
        let args = &decl[decl[p..].find(")(").unwrap() + p + 2..decl.rfind(')').unwrap()];
        let want: Vec<String> = args
            .split(',')
            .map(|a| rust_type(&a[..a.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap() + 1]))
            .collect();
        let (got, got_ret) =
            sys_callback(name).unwrap_or_else(|| panic!("callback type {name} missing from src/sys.rs"));
        assert_eq!(got, want, "parameters of {name}");
        assert_eq!(got_ret, rust_type(&decl[..p]), "return type of {name}");
        n += 1;
    }
    assert!(n >= 2, "parsed only {n} callback typedefs");
}

#[test]
fn constants_match() {
    let text = headers();
    let mut consts: Vec<(String, String)> = vec![];
    for (_, body) in typedef_blocks(&text, "enum") {
        for item in body.split(',').filter(|i| i.contains('=')) {
            let (name, value) = item.split_once('=').unwrap();
            consts.push((name.trim().into(), value.trim().into()));
        }
    }
    for line in text.lines().filter_map(|l| l.trim().strip_prefix("#define ")) {
        let mut parts = line.splitn(2, char::is_whitespace);
        let (name, value) = (parts.next().unwrap(), parts.next().unwrap_or("").trim());
        if value.parse::<i64>().is_ok() || value.starts_with('"') {
            consts.push((name.into(), value.into()));
        }
    }
    assert!(consts.len() > 40, "parsed only {consts:?}");
    let wrong: Vec<String> = consts
        .iter()
        .filter_map(|(name, value)| match sys_constant(name) {
            Some(v) if v == *value => None,
            Some(v) => Some(format!("{name} = {v} in src/sys.rs, {value} in the headers")),
            None => Some(format!("{name} missing from src/sys.rs")),
        })
        .collect();
    assert!(wrong.is_empty(), "constants that differ: {wrong:#?}");
}

#[test]
fn options_struct_sizes_match_the_library() {
    use genmodel::sys;
    use std::mem::{size_of, MaybeUninit};
    // The init functions write sizeof(C struct) into `size`; the mirrors must
    // be at least as large for the write itself, so zeroed storage of twice
    // the size is used.
    unsafe fn c_size<T>(init: impl FnOnce(*mut T) -> sys::gm_status) -> usize {
        let mut buf = [MaybeUninit::<T>::zeroed(), MaybeUninit::zeroed()];
        assert_eq!(init(buf[0].as_mut_ptr()), sys::GM_OK);
        *(buf.as_ptr() as *const usize)
    }
    unsafe {
        assert_eq!(
            c_size(|o| sys::gm_optimizer_options_init(o, sys::GM_OPT_ADAM)),
            size_of::<sys::gm_optimizer_options>()
        );
        assert_eq!(c_size(|o| sys::gm_vae_options_init(o)), size_of::<sys::gm_vae_options>());
        assert_eq!(c_size(|o| sys::gm_gan_options_init(o)), size_of::<sys::gm_gan_options>());
        assert_eq!(c_size(|o| sys::gm_fit_options_init(o)), size_of::<sys::gm_fit_options>());
    }
}
