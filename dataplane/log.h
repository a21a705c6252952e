// DOC: pgmd's log: one line per event, to stderr (foreground, systemd's journal) or syslog
// (-s), filtered by level. On stderr each line can start with its sd-daemon priority prefix
// (sd-daemon(3): "<3>" err, "<4>" warning, "<5>" notice, "<6>" info, "<7>" debug), which the
// journal turns into the entry's priority: `journalctl -p err` then finds pgmd's errors.
// Process-wide state set once by main() and on reload; used from the loop thread only.
#pragma once

#include <string>

#include "dataplane/daemon_config.h"

namespace pgm::dataplane::log {

// `priority_prefix`: start stderr lines with the sd-daemon prefix (pgmd -n).
void open(const std::string& ident, bool use_syslog, LogLevel level, bool priority_prefix = false);
// The sd-daemon prefix of a level: "<3>" for Error ... "<7>" for Debug.
std::string priority_prefix(LogLevel level);
void set_level(LogLevel level);
LogLevel level();
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
