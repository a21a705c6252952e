// DOC: pgmd's log: one line per event, to stderr (foreground, systemd's journal) or syslog
// (-s), filtered by level. Process-wide state set once by main() and on reload; used from
// the loop thread only.
#pragma once

#include <string>

#include "dataplane/daemon_config.h"

namespace pgm::dataplane::log {

void open(const std::string& ident, bool use_syslog, LogLevel level);
void set_level(LogLevel level);
bool enabled(LogLevel level);
void write(LogLevel level, const std::string& message);

inline void error(const std::string& m) {
    write(LogLevel::Error, m);
}
inline void warning(const std::string& m) {
    write(LogLevel::Warning, m);
}
inline void notice(const std::string& m) {
    write(LogLevel::Notice, m);
}
inline void info(const std::string& m) {
    write(LogLevel::Info, m);
}
inline void debug(const std::string& m) {
    write(LogLevel::Debug, m);
}

}  // namespace pgm::dataplane::log
