# Runs at install time, from install(CODE) in CMakeLists.txt: writes
# genmodel.pc for the prefix actually being installed to (which
# `cmake --install --prefix` can change after configuration) and installs it
# into <libdir>/pkgconfig. DESTDIR is honoured by file(INSTALL).
#
# Inputs (set by the install(CODE) snippet): GM_PC_TEMPLATE, GM_PC_WORK_DIR,
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
# same build tree do not overwrite each other's file.
string(MD5 _gm_pc_key "${CMAKE_INSTALL_PREFIX}")
set(_gm_pc_file "${GM_PC_WORK_DIR}/${_gm_pc_key}/genmodel.pc")
configure_file("${GM_PC_TEMPLATE}" "${_gm_pc_file}" @ONLY)

file(INSTALL DESTINATION "${_gm_pc_dest}" TYPE FILE FILES "${_gm_pc_file}")
