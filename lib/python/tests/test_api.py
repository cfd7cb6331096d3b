# SPDX-License-Identifier: MIT
"""The binding against the headers: every GM_API function is declared with
the argtypes/restype its prototype says, and every struct is mirrored."""
import ctypes
import importlib.metadata
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import unittest.mock
from pathlib import Path

from support import INCLUDE, INSTALLED, REPO, gm, run_python

_ffi = gm._ffi
SCALARS = {"size_t": ctypes.c_size_t, "float": ctypes.c_float, "double": ctypes.c_double,
           "int": ctypes.c_int,
           "uint8_t": ctypes.c_uint8,
           "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32, "uint64_t": ctypes.c_uint64}


def headers():
    """The public headers' text without comments."""
    files = sorted((INCLUDE / "genmodel").glob("*.h"))
    return "\n".join(re.sub(r"/\*.*?\*/|//[^\n]*", " ", f.read_text(), flags=re.S)
                     for f in files)


TEXT = headers()
ENUMS = set(re.findall(r"typedef\s+enum\s+\w+\s*\{.*?\}\s*(\w+)\s*;", TEXT, re.S))
DECLS = {m.group(2): (m.group(1), m.group(3)) for m in re.finditer(
    r"\bGM_API\s+([^;{}()]*?)\b(gm_\w+)\s*\(([^;]*?)\)\s*;", TEXT, re.S)}
STRUCTS = {m.group(1): m.group(2) for m in re.finditer(
    r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*\1\s*;", TEXT, re.S)}


def ctype_of(decl):
    """The ctypes type of a C type (a parameter's name, if any, removed)."""
    decl = " ".join(decl.replace("*", " * ").split())
    words = [w for w in decl.split() if w != "const"]
    stars = words.count("*")
    words = [w for w in words if w != "*"]
    base = words[0]
    if base == "void" and stars == 0:
        return None
    if base == "void" and stars == 1:
        return ctypes.c_void_p
    if base == "char" and stars == 1:
        return ctypes.c_char_p
    if base in SCALARS:
        t = SCALARS[base]
    elif base in ENUMS:
        t = ctypes.c_int
    else:
        t = getattr(_ffi, base)  # AttributeError: the binding lacks the type
    for _ in range(stars):
        t = ctypes.POINTER(t)
    return t


def params(arglist):
    """The parameters' declarations (each names its parameter)."""
    arglist = arglist.strip()
    return [] if arglist in ("", "void") else [p.strip() for p in arglist.split(",")]


class HeaderBinding(unittest.TestCase):
    def test_headers_parsed(self):
        self.assertGreater(len(DECLS), 100)
        self.assertIn("gm_vae_create", DECLS)
        self.assertIn("gm_status", ENUMS)
        self.assertIn("gm_gan_part", ENUMS)

    def test_callback_types_match_typedefs(self):
        """Each function-pointer typedef is a CFUNCTYPE in _ffi with the
        typedef's return and parameter types."""
        found = 0
        for m in re.finditer(r"typedef\s+([^;{}()]*?)\(\s*\*\s*(\w+)\s*\)\s*\(([^;]*?)\)\s*;",
                             TEXT, re.S):
            ret, name, arglist = m.groups()
            found += 1
            cb = getattr(_ffi, name)
            want = [ctype_of(re.sub(r"\w+\s*$", "", p)) for p in params(arglist)]
            self.assertEqual(list(cb._argtypes_), want, name)
            self.assertEqual(cb._restype_, ctype_of(ret), name)
        self.assertGreaterEqual(found, 2)

    def test_enums_mirrored(self):
        self.assertEqual({m.name: m.value for m in gm.GanPart},
                         {"DISCRIMINATOR": 0, "GENERATOR": 1})
        for m in gm.GanPart:
            self.assertRegex(TEXT, rf"GM_GAN_{m.name}\s*=\s*{m.value}\b")

    def test_every_function_is_declared(self):
        table = {entry[0] for entry in _ffi.API}
        missing = sorted(set(DECLS) - table)
        self.assertEqual(missing, [], f"GM_API functions missing from _ffi.API: {missing}")
        unbound = sorted(n for n in DECLS if getattr(gm.lib, n).argtypes is None)
        self.assertEqual(unbound, [], f"GM_API functions without argtypes: {unbound}")
        stale = sorted(table - set(DECLS))
        self.assertEqual(stale, [], f"_ffi.API entries not in the headers: {stale}")

    def test_library_exports_every_function(self):
        self.assertEqual(_ffi.missing, [],
                         f"{gm.library_path} lacks {_ffi.missing}: rebuild it from this tree")

    def test_signatures_match_prototypes(self):
        wrong = []
        for name, (ret, arglist) in sorted(DECLS.items()):
            fn = getattr(gm.lib, name)
            want_args = [ctype_of(re.sub(r"\w+\s*$", "", p)) for p in params(arglist)]
            if list(fn.argtypes) != want_args:
                wrong.append(f"{name}: argtypes {fn.argtypes} != {want_args}")
            if ret.strip() == "gm_status":
                if fn.restype is not ctypes.c_int or fn.errcheck is not _ffi._check_status:
                    wrong.append(f"{name}: gm_status not checked by errcheck")
            elif fn.restype != ctype_of(ret) or fn.errcheck is not None:
                wrong.append(f"{name}: restype {fn.restype} != {ctype_of(ret)}")
        self.assertEqual(wrong, [], "\n".join(wrong))


def field_names(body):
    names = []
    for decl in filter(str.strip, body.split(";")):
        fp = re.search(r"\(\s*\*\s*(\w+)\s*\)", decl)
        names.append(fp.group(1) if fp else re.findall(r"\w+", decl)[-1])
    return names


class Structs(unittest.TestCase):
    def test_field_order(self):
        self.assertGreaterEqual(len(STRUCTS), 6)
        for name, body in STRUCTS.items():
            with self.subTest(struct=name):
                mirror = getattr(_ffi, name)
                self.assertEqual([f for f, _ in mirror._fields_], field_names(body))

    def test_options_size_field(self):
        for cls, init in ((_ffi.gm_vae_options, gm.lib.gm_vae_options_init),
                          (_ffi.gm_gan_options, gm.lib.gm_gan_options_init)):
            opts = cls()
            init(ctypes.byref(opts))
            self.assertEqual(opts.size, ctypes.sizeof(cls), cls.__name__)
        opts = gm.fit_options()
        self.assertEqual(opts.size, ctypes.sizeof(_ffi.gm_fit_options))
        self.assertEqual((opts.epochs, opts.batch, opts.every, opts.shuffle_seed), (1, 0, 100, 0))
        opts = gm.optimizer_options("adamw")
        self.assertEqual(opts.size, ctypes.sizeof(_ffi.gm_optimizer_options))
        self.assertAlmostEqual(opts.weight_decay, 0.01, places=6)
        self.assertAlmostEqual(opts.beta2, 0.999, places=6)

    def test_layout_matches_compiler(self):
        cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
        if cc is None:
            self.skipTest("no C compiler to compare struct layouts with")
        lines = []
        for name, body in STRUCTS.items():
            lines.append(f'printf("{name} %zu\\n", sizeof({name}));')
            for f in field_names(body):
                lines.append(f'printf("{name}.{f} %zu %zu\\n", offsetof({name}, {f}), '
                             f'sizeof((({name} *)0)->{f}));')
        src = ("#include <stdio.h>\n#include <stddef.h>\n#include <genmodel/genmodel.h>\n"
               "int main(void) {\n" + "\n".join(lines) + "\nreturn 0;\n}\n")
        with tempfile.TemporaryDirectory() as d:
            Path(d, "layout.c").write_text(src)
            subprocess.run([cc, "-std=c11", f"-I{INCLUDE}", "-o", f"{d}/layout", f"{d}/layout.c"],
                           check=True)
            c_out = subprocess.run([f"{d}/layout"], check=True, capture_output=True,
                                   text=True).stdout
        py = []
        for name in STRUCTS:
            cls = getattr(_ffi, name)
            py.append(f"{name} {ctypes.sizeof(cls)}")
            py += [f"{name}.{f} {getattr(cls, f).offset} {getattr(cls, f).size}"
                   for f, _ in cls._fields_]
        self.assertEqual(py, c_out.split("\n")[:-1])


class Loading(unittest.TestCase):
    def test_version(self):
        self.assertEqual(gm.version_number() // 10000, 1)
        self.assertRegex(gm.version(), r"^1\.\d+\.\d+")

    def test_not_found_lists_every_place(self):
        r = run_python("""
            import ctypes, ctypes.util
            ctypes.util.find_library = lambda name: "libgenmodel.so.1"
            def refuse(path, *args, **kwargs):
                raise OSError(f"refused {path}")
            ctypes.CDLL = refuse
            try:
                import genmodel
            except ImportError as e:
                print(type(e).__name__)
                print(e)
            """, GENMODEL_LIBRARY="", GENMODEL_BUILD_DIR="/nonexistent/build")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertTrue(out.startswith("LibraryNotFound"), out)
        places = ["$GENMODEL_BUILD_DIR: /nonexistent/build/libgenmodel.so",
                  "pkg-config --variable=libdir genmodel", "find_library",
                  "dynamic loader search", "PKG_CONFIG_PATH"]
        if gm._config.LIBRARY:  # installed by cmake
            places.append(f"installed by cmake --install (genmodel/_config.py): "
                          f"{gm._config.LIBRARY}")
        if not INSTALLED:
            places.append("source tree build")
        for place in places:
            self.assertIn(place, out)

    def test_bad_library_path(self):
        r = run_python("import genmodel", GENMODEL_LIBRARY="/nonexistent/libgenmodel.so")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("LibraryNotFound", r.stderr)
        self.assertIn("/nonexistent/libgenmodel.so", r.stderr)


class SearchOrder(unittest.TestCase):
    """_ffi._candidates: the order the module docstring and README give."""

    def candidates(self, environ, **places):
        args = dict(installed="/inst/libgenmodel.so.1", tree_build="/tree/build/libgenmodel.so",
                    pkg_config=lambda: "/pc/lib", find_library=lambda name: "libgenmodel.so.1")
        args.update(places)
        return list(_ffi._candidates(environ, **args))

    def test_order(self):
        got = self.candidates({"GENMODEL_BUILD_DIR": "/b"})
        self.assertEqual(got, [
            ("$GENMODEL_BUILD_DIR", "/b/libgenmodel.so"),
            ("installed by cmake --install (genmodel/_config.py)", "/inst/libgenmodel.so.1"),
            ("source tree build", "/tree/build/libgenmodel.so"),
            ("pkg-config --variable=libdir genmodel", "/pc/lib/libgenmodel.so.1"),
            ("ctypes.util.find_library('genmodel')", "libgenmodel.so.1"),
            ("dynamic loader search", "libgenmodel.so.1")])

    def test_env_library_is_the_only_place(self):
        got = self.candidates({"GENMODEL_LIBRARY": "/x/libgenmodel.so",
                               "GENMODEL_BUILD_DIR": "/b"})
        self.assertEqual(got, [("$GENMODEL_LIBRARY", "/x/libgenmodel.so")])

    def test_places_that_are_not_there(self):
        got = self.candidates({}, installed=None, tree_build=None, pkg_config=lambda: None,
                              find_library=lambda name: None)
        self.assertEqual([path for _, path in got],
                         [_ffi.NOTHING, _ffi.NOTHING, "libgenmodel.so.1"])

    def test_lazy(self):
        """pkg-config and find_library run only if the places before fail."""
        def never(*args):
            raise AssertionError("called too early")
        it = _ffi._candidates({}, installed="/inst/lib.so", tree_build=None, pkg_config=never,
                              find_library=never)
        self.assertEqual(next(it)[1], "/inst/lib.so")

    def test_this_process(self):
        """The defaults: no cmake-recorded library in the source tree, the
        build directory only in the source tree."""
        tree = _ffi._tree_build()
        if INSTALLED:
            self.assertIsNone(tree)
        else:
            self.assertIsNone(gm._config.LIBRARY)
            self.assertEqual(tree, str(REPO / "build" / "libgenmodel.so"))

    def fake_pkg_config(self, script):
        d = tempfile.TemporaryDirectory()
        self.addCleanup(d.cleanup)
        exe = Path(d.name, "pkg-config")
        exe.write_text("#!/bin/sh\n" + script)
        exe.chmod(0o755)
        return {"PATH": d.name}

    def test_pkg_config(self):
        env = self.fake_pkg_config('[ "$*" = "--variable=libdir genmodel" ] && echo /opt/gm/lib\n')
        with unittest.mock.patch.dict(os.environ, env):
            self.assertEqual(_ffi._pkg_config_libdir(), "/opt/gm/lib")
        for script in ("echo /opt/gm/lib; exit 1\n", "echo\n"):
            with unittest.mock.patch.dict(os.environ, self.fake_pkg_config(script)):
                self.assertIsNone(_ffi._pkg_config_libdir(), script)
        with unittest.mock.patch.dict(os.environ, {"PATH": "/nonexistent"}):
            self.assertIsNone(_ffi._pkg_config_libdir())


class PackageVersion(unittest.TestCase):
    def test_pyproject_version_is_the_library_version(self):
        text = (REPO / "lib" / "python" / "pyproject.toml").read_text()
        version = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
        self.assertEqual(version, gm.version())
        try:  # installed by pip: its metadata too
            installed = importlib.metadata.version("genmodel")
        except importlib.metadata.PackageNotFoundError:
            return
        if INSTALLED:
            self.assertEqual(installed, gm.version())


if __name__ == "__main__":
    unittest.main()
