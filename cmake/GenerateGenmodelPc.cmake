# SPDX-License-Identifier: MIT
# Runs at install time, from install(CODE) in CMakeLists.txt: writes
# genmodel.pc (shared library) and genmodel-static.pc (libgenmodel.a, its
# dependencies as they are) for the prefix actually being installed to (which
# `cmake --install --prefix` can change after configuration) and installs them
# into <libdir>/pkgconfig. DESTDIR is honoured by file(INSTALL).
#
# Inputs (set by the install(CODE) snippet): GM_PC_TEMPLATES, GM_PC_WORK_DIR,
# GM_PC_LIBDIR, GM_PC_INCLUDEDIR, GM_PC_VERSION, GM_PC_REQUIRES_PRIVATE,
# GM_PC_LIBS_PRIVATE; CMAKE_INSTALL_PREFIX comes from the install script.

set(GM_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")

if(IS_ABSOLUTE "${GM_PC_LIBDIR}")
  set(GM_PC_LIBDIR_VALUE "${GM_PC_LIBDIR}")
  set(_gm_pc_dest "${GM_PC_LIBDIR}/pkgconfig")
else()
  set(GM_PC_LIBDIR_VALUE "\${exec_prefix}/${GM_PC_LIBDIR}")
  set(_gm_pc_dest "${CMAKE_INSTALL_PREFIX}/${GM_PC_LIBDIR}/pkgconfig")
endif()

if(IS_ABSOLUTE "${GM_PC_INCLUDEDIR}")
  set(GM_PC_INCLUDEDIR_VALUE "${GM_PC_INCLUDEDIR}")
else()
  set(GM_PC_INCLUDEDIR_VALUE "\${prefix}/${GM_PC_INCLUDEDIR}")
endif()

# One work directory per prefix, so installs to different prefixes from the
# same build tree do not overwrite each other's files.
string(MD5 _gm_pc_key "${CMAKE_INSTALL_PREFIX}")
foreach(_gm_pc_template IN LISTS GM_PC_TEMPLATES)
  get_filename_component(_gm_pc_name "${_gm_pc_template}" NAME)
  string(REGEX REPLACE "\\.in$" "" _gm_pc_name "${_gm_pc_name}")
  set(_gm_pc_file "${GM_PC_WORK_DIR}/${_gm_pc_key}/${_gm_pc_name}")
  configure_file("${_gm_pc_template}" "${_gm_pc_file}" @ONLY)
  file(INSTALL DESTINATION "${_gm_pc_dest}" TYPE FILE FILES "${_gm_pc_file}")
endforeach()
