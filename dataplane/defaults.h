// DOC: Defaults that the daemon (pgmd) and its client (pgmctl) must agree on, kept in one
// place so that a change to one cannot leave the other looking in the wrong spot.
//
// Plain constants; no life cycle. Run-time files live in /run/pgmd/, a directory the
// daemon's user owns (systemd's RuntimeDirectory=pgmd, or created by pgmd at start), so
// that after dropping root (-p) the daemon can still remove its socket and pid file. The
// socket is group-accessible (0660) so an operator group can read state without root.
#pragma once

#include <sys/types.h>

#include <chrono>

namespace pgm::dataplane {

inline constexpr const char* kDefaultRunDirectory = "/run/pgmd";
// The control socket (AF_UNIX stream, newline-delimited JSON; docs/pgmctl.md).
inline constexpr const char* kDefaultControlSocket = "/run/pgmd/pgmd.sock";
inline constexpr mode_t kDefaultControlSocketMode = 0660;
inline constexpr const char* kDefaultPidFile = "/run/pgmd/pgmd.pid";

// How long pgmctl waits for the daemon to connect, take a request and answer it.
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{2000};

}  // namespace pgm::dataplane
