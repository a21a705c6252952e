# DOC: install-time part of `cmake --install` (and of the Debian package built by CPack):
# the systemd unit with the paths of the prefix being installed to, the sample
# configuration, and /etc/default/pgmd. Run as an install(SCRIPT) after PGMD_DIST_DIR,
# PGMD_DIST_BINARY_DIR, PGMD_SBINDIR and PGMD_DOCDIR are set by install(CODE) (dist/CMakeLists.txt).
#
# Where things go, by install prefix (the one given at install time, `--prefix` included):
#   /usr (the Debian package):  /lib/systemd/system/pgmd.service, /etc/pgmd.conf,
#                               /etc/default/pgmd
#   any other P (/usr/local):   P/lib/systemd/system/pgmd.service (systemd searches
#                               /usr/local/lib/systemd/system), P/etc/pgmd.conf,
#                               P/etc/default/pgmd
# The unit's ExecStart is P/sbin/pgmd and its -f the configuration above. An existing
# configuration or /etc/default file is never overwritten (the sample is always installed
# as share/doc/pgmd/pgmd.conf.example); DESTDIR is honoured.
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_pgmd_etc "/etc")
  set(_pgmd_unit_dir "/lib/systemd/system")
else()
  set(_pgmd_etc "${CMAKE_INSTALL_PREFIX}/etc")
  set(_pgmd_unit_dir "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
if(IS_ABSOLUTE "${PGMD_SBINDIR}")
  set(_pgmd_sbin "${PGMD_SBINDIR}")
else()
  set(_pgmd_sbin "${CMAKE_INSTALL_PREFIX}/${PGMD_SBINDIR}")
endif()

file(READ "${PGMD_DIST_DIR}/pgmd.service" _pgmd_unit)
string(REPLACE "/usr/sbin/pgmd" "${_pgmd_sbin}/pgmd" _pgmd_unit "${_pgmd_unit}")
string(REPLACE "/etc/pgmd.conf" "${_pgmd_etc}/pgmd.conf" _pgmd_unit "${_pgmd_unit}")
string(REPLACE "/etc/default/pgmd" "${_pgmd_etc}/default/pgmd" _pgmd_unit "${_pgmd_unit}")
file(WRITE "${PGMD_DIST_BINARY_DIR}/pgmd.service" "${_pgmd_unit}")
file(INSTALL "${PGMD_DIST_BINARY_DIR}/pgmd.service" DESTINATION "${_pgmd_unit_dir}"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

file(INSTALL "${PGMD_DIST_DIR}/pgmd.conf.example"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/${PGMD_DOCDIR}"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
if(NOT EXISTS "$ENV{DESTDIR}${_pgmd_etc}/pgmd.conf")
  file(INSTALL "${PGMD_DIST_DIR}/pgmd.conf.example" DESTINATION "${_pgmd_etc}"
       RENAME pgmd.conf PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
else()
  message(STATUS "Kept: $ENV{DESTDIR}${_pgmd_etc}/pgmd.conf")
endif()
if(NOT EXISTS "$ENV{DESTDIR}${_pgmd_etc}/default/pgmd")
  file(INSTALL "${PGMD_DIST_DIR}/pgmd.default" DESTINATION "${_pgmd_etc}/default"
       RENAME pgmd PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
else()
  message(STATUS "Kept: $ENV{DESTDIR}${_pgmd_etc}/default/pgmd")
endif()
