# SPDX-License-Identifier: MIT
"""Where the installed C library is, as recorded by `cmake --install`.

LIBRARY is None in the source tree and in a copy installed by pip (which
installs the Python files only). When CMake installs the package
(-DGM_INSTALL_PYTHON=ON), it writes this file again in the installed copy
with the absolute path of the libgenmodel.so.1 it installed next to it, so
the package finds its own library without LD_LIBRARY_PATH
(lib/python/install_config.cmake).
"""
LIBRARY = None
