# SPDX-License-Identifier: MIT
# Runs at install time, from install(CODE) in CMakeLists.txt
# (GM_INSTALL_PYTHON): writes the installed package's genmodel/_config.py
# with the absolute path of the installed libgenmodel.so.1, for the prefix
# actually being installed to (`cmake --install --prefix` can change it after
# configuration). The path is the final one, without DESTDIR; file(INSTALL)
# honours DESTDIR.
#
# Inputs: GM_PY_PACKAGE_DIR (the package's install directory, relative to
# the prefix or absolute), GM_PY_LIBDIR (CMAKE_INSTALL_LIBDIR), GM_PY_SONAME
# (libgenmodel.so.1), GM_PY_WORK_DIR; CMAKE_INSTALL_PREFIX comes from the
# install script.

if(IS_ABSOLUTE "${GM_PY_LIBDIR}")
  set(_gm_py_lib "${GM_PY_LIBDIR}/${GM_PY_SONAME}")
else()
  set(_gm_py_lib "${CMAKE_INSTALL_PREFIX}/${GM_PY_LIBDIR}/${GM_PY_SONAME}")
endif()
if(IS_ABSOLUTE "${GM_PY_PACKAGE_DIR}")
  set(_gm_py_dest "${GM_PY_PACKAGE_DIR}")
else()
  set(_gm_py_dest "${CMAKE_INSTALL_PREFIX}/${GM_PY_PACKAGE_DIR}")
endif()

# a Python string literal
string(REPLACE "\\" "\\\\" _gm_py_lit "${_gm_py_lib}")
string(REPLACE "\"" "\\\"" _gm_py_lit "${_gm_py_lit}")

# one work directory per prefix, as for genmodel.pc
string(MD5 _gm_py_key "${CMAKE_INSTALL_PREFIX}")
set(_gm_py_file "${GM_PY_WORK_DIR}/${_gm_py_key}/_config.py")
file(WRITE "${_gm_py_file}"
"\"\"\"Where the installed C library is: written by `cmake --install`
(lib/python/install_config.cmake in the source tree). genmodel/_ffi.py
loads LIBRARY when neither GENMODEL_LIBRARY nor GENMODEL_BUILD_DIR is set.
\"\"\"
LIBRARY = \"${_gm_py_lit}\"
")
file(INSTALL DESTINATION "${_gm_py_dest}" TYPE FILE FILES "${_gm_py_file}")
