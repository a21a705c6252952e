#include "dataplane/log.h"

#include <syslog.h>

#include <cstdio>

namespace pgm::dataplane::log {

namespace {
std::string g_ident = "pgmd";
bool g_syslog = false;
bool g_prefix = false;
LogLevel g_level = LogLevel::Notice;

int priority(LogLevel level) {
    switch (level) {
        case LogLevel::Error:
            return LOG_ERR;
        case LogLevel::Warning:
            return LOG_WARNING;
        case LogLevel::Notice:
            return LOG_NOTICE;
        case LogLevel::Info:
            return LOG_INFO;
        default:
            return LOG_DEBUG;
    }
}
}  // namespace

std::string priority_prefix(LogLevel level) {
    return "<" + std::to_string(priority(level)) + ">";
}

void open(const std::string& ident, bool use_syslog, LogLevel level, bool prefix) {
    g_ident = ident;
    g_syslog = use_syslog;
    g_prefix = prefix;
    g_level = level;
    if (use_syslog) openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void set_level(LogLevel level) {
    g_level = level;
}

LogLevel level() {
    return g_level;
}

bool enabled(LogLevel level) {
    return level != LogLevel::None && level <= g_level;
}

void write(LogLevel level, const std::string& message) {
    if (!enabled(level)) return;
    if (g_syslog) {
        syslog(priority(level), "%s", message.c_str());
    } else {
        std::fprintf(stderr, "%s%s: %s: %s\n", g_prefix ? priority_prefix(level).c_str() : "",
                     g_ident.c_str(), to_string(level), message.c_str());
        std::fflush(stderr);
    }
}

}  // namespace pgm::dataplane::log
