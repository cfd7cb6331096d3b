# SPDX-License-Identifier: MIT
"""Prints where `cmake --install` puts the genmodel package, relative to
the install prefix given as argument (CMakeLists.txt, GM_INSTALL_PYTHON).

The first of PREFIX/lib/pythonX.Y/site-packages,
PREFIX/lib/pythonX.Y/dist-packages and PREFIX/lib/python3/dist-packages
that this interpreter has on sys.path (Debian's /usr/bin/python3 with
prefix /usr/local: lib/python3.11/dist-packages, so no PYTHONPATH is
needed); else lib/pythonX.Y/site-packages, the layout of the standard
posix_prefix scheme, which the user then puts on PYTHONPATH.
"""
import os
import sys
import sysconfig

prefix = os.path.realpath(sys.argv[1])
version = sysconfig.get_python_version()
on_path = {os.path.realpath(p) for p in sys.path if p}
for rel in (f"lib/python{version}/site-packages", f"lib/python{version}/dist-packages",
            "lib/python3/dist-packages"):
    if os.path.join(prefix, rel) in on_path:
        print(rel)
        break
else:
    print(f"lib/python{version}/site-packages")
