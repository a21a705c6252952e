#include "dataplane/daemon_config.h"

#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>

namespace pgm::dataplane {

namespace po = boost::program_options;

namespace {

constexpr std::string_view kInterfaceSection = "interface ";

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

std::vector<std::string> words(std::string_view s) {
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    std::string w;
    while (in >> w)
        out.push_back(w);
    return out;
}

// One `key = value` line found by the pre-scan: its full name ("section.key") and line.
struct KeyLine {
    std::string name;
    int line;
};

// Checks the syntax the way Boost's parser reads it (comments start at '#', sections are
// `[name]`, everything else is `key = value`) and lists the keys with their lines.
// `interfaces` receives the names of the [interface NAME] sections, in order: a section
// with no keys at all still serves its interface.
// The sections other than [interface NAME]: the prefixes of the global keys.
bool known_section(const std::string& section);

std::vector<KeyLine> prescan(const std::string& text, const std::string& file,
                             std::vector<std::pair<std::string, int>>& interfaces) {
    std::vector<KeyLine> keys;
    std::istringstream in(text);
    std::string raw;
    std::string section;
    int line = 0;
    while (std::getline(in, raw)) {
        ++line;
        std::string_view s = raw;
        if (auto hash = s.find('#'); hash != std::string_view::npos) s = s.substr(0, hash);
        s = trim(s);
        if (s.empty()) continue;
        if (s.front() == '[') {
            if (s.back() != ']') throw ConfigError(file, line, "section header without ']'");
            section = std::string(trim(s.substr(1, s.size() - 2)));
            if (section.empty()) throw ConfigError(file, line, "empty section name");
            if (section.starts_with(kInterfaceSection)) {
                const std::string ifname(trim(section.substr(kInterfaceSection.size())));
                if (ifname.empty() || ifname.size() >= IFNAMSIZ ||
                    ifname.find_first_of(" \t/") != std::string::npos) {
                    throw ConfigError(file, line, "bad interface name '" + ifname + "'");
                }
                section = std::string(kInterfaceSection) + ifname;
                interfaces.emplace_back(ifname, line);
            } else if (!known_section(section)) {
                // Checked here, at the header: a section without keys would pass unnoticed,
                // and a mistyped interface section would leave its interface unserved.
                throw ConfigError(file, line,
                                  "unknown section [" + section + "]" +
                                      (section.find(' ') != std::string::npos
                                           ? " (an interface is [interface NAME])"
                                           : ""));
            }
            continue;
        }
        const auto eq = s.find('=');
        if (eq == std::string_view::npos) {
            throw ConfigError(file, line, "expected 'key = value' or '[section]'");
        }
        const std::string_view key = trim(s.substr(0, eq));
        if (key.empty()) throw ConfigError(file, line, "missing key before '='");
        if (trim(s.substr(eq + 1)).empty()) {
            throw ConfigError(file, line, "no value for '" + std::string(key) + "'");
        }
        keys.push_back(
            {section.empty() ? std::string(key) : section + "." + std::string(key), line});
    }
    return keys;
}

template <typename T>
std::optional<T> parse_number(std::string_view s, int base = 10) {
    T v{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return v;
}

std::optional<bool> parse_bool(std::string_view s) {
    if (s == "yes" || s == "true" || s == "on" || s == "1") return true;
    if (s == "no" || s == "false" || s == "off" || s == "0") return false;
    return std::nullopt;
}

// The keys of an [interface NAME] section.
constexpr std::array<std::string_view, 3> kInterfaceKeys = {"static-groups", "join-groups",
                                                            "igmp-querier"};

// The keys outside interface sections: the file's only global keys (Builder::apply refuses any
// other), each handled in Builder::set_global.
po::options_description global_keys() {
    po::options_description d;
    auto add = [&](const char* name) { d.add_options()(name, po::value<std::string>()); };
    for (const char* k :
         {"log-level", "udp-ports", "control.socket", "control.mode", "control.group",
          "timers.nak-repeat-period", "timers.nak-rpt-ivl", "timers.nak-rdata-ivl",
          "timers.nak-elim-ivl", "timers.rdata-hold", "timers.session-lifetime",
          "limits.max-sessions", "limits.max-rdata-hold-bytes", "limits.max-repair-states",
          "limits.max-naks-per-second-per-interface", "igmp.robustness", "igmp.query-interval",
          "igmp.query-response-interval", "igmp.last-member-query-interval"}) {
        add(k);
    }
    for (const char* k :
         {"dlr.group", "dlr.cache-bytes", "dlr.cache-bytes-total", "dlr.cache-packets",
          "dlr.discover-dlrs", "dlr.discovery-interval", "dlr.discovery-backoff"})
        add(k);
    add("capture.buffer-bytes");
    for (const char* k : {"dataplane.fast-path", "dataplane.fail-open-after", "dataplane.on-exit"})
        add(k);
    for (const char* k : {"metrics.textfile", "metrics.interval", "metrics.sessions"})
        add(k);
    return d;
}

bool known_section(const std::string& section) {
    const po::options_description keys = global_keys();
    for (const auto& option : keys.options()) {
        const std::string key = option->long_name();
        if (key.size() > section.size() && key.starts_with(section) && key[section.size()] == '.')
            return true;
    }
    return false;
}

class Builder {
  public:
    Builder(const std::string& file) : file_(file) {}

    void declare_interface(const std::string& ifname, int line) {
        for (const InterfaceConfig& i : c_.interfaces) {
            if (i.name == ifname) {
                line_ = line;
                fail("[interface " + ifname + "] is given twice");
            }
        }
        if (c_.interfaces.size() >= router::kMaxInterfaces) {
            line_ = line;
            fail("more than " + std::to_string(router::kMaxInterfaces) + " interfaces");
        }
        c_.interfaces.push_back(InterfaceConfig{ifname, {}, {}, true});
    }

    // `registered`: Boost matched the name among global_keys().
    void apply(const std::string& name, const std::string& value, int line, bool registered) {
        line_ = line;
        value_ = value;
        if (name.starts_with(kInterfaceSection)) {
            const auto dot = name.find('.');
            apply_interface(name.substr(kInterfaceSection.size(), dot - kInterfaceSection.size()),
                            name.substr(dot + 1));
            return;
        }
        if (!registered) fail("unknown key '" + name + "'");
        const bool list = name == "udp-ports" || name == "dlr.group";
        if (!list && !seen_.emplace(name, line).second) {
            fail("'" + name + "' is given twice (first on line " + std::to_string(seen_[name]) +
                 ")");
        }
        set_global(name);
    }

    DaemonConfig finish() {
        line_ = 0;
        if (c_.interfaces.empty()) fail("no [interface NAME] section: nothing to serve");
        if (!c_.router.valid()) {
            fail(
                "timers: nak-elim-ivl must be shorter than nak-rdata-ivl, and "
                "nak-repeat-period must be positive");
        }
        if (udp_ports_given_ && c_.udp_ports.empty()) fail("udp-ports: no port given");
        return c_;
    }

  private:
    [[noreturn]] void fail(const std::string& reason) const {
        throw ConfigError(file_, line_, reason);
    }

    Duration duration(const std::string& key, bool zero_allowed = false) {
        auto d = parse_duration(value_);
        if (!d || *d < Duration::zero() || (*d == Duration::zero() && !zero_allowed)) {
            fail(key + ": '" + value_ + "' is not a " + (zero_allowed ? "" : "positive ") +
                 "duration with a unit (ms, s, min)");
        }
        return *d;
    }
    std::uint64_t count(const std::string& key, std::uint64_t max) {
        auto n = parse_number<std::uint64_t>(value_);
        if (!n || *n > max) {
            fail(key + ": '" + value_ + "' is not a whole number in 0.." + std::to_string(max));
        }
        return *n;
    }
    Nla group(const std::string& key, const std::string& text) {
        auto a = Nla::parse(text);
        if (!a || !a->is_ipv4() || !a->is_multicast()) {
            fail(key + ": '" + text + "' is not an IPv4 multicast group");
        }
        // 224.0.0.0/24, the Local Network Control Block (RFC 5771): never forwarded.
        if ((a->ipv4_host_order() >> 8) == 0xE00000) {
            fail(key + ": '" + text + "' is link-local (224.0.0.0/24): routers never forward it");
        }
        return *a;
    }

    // `group = 239.192.0.0/16 [source 10.0.0.1]`: the sessions pgmd repairs as a DLR.
    router::DlrScope dlr_scope() {
        const std::vector<std::string> w = words(value_);
        if (w.size() != 1 && !(w.size() == 3 && w[1] == "source")) {
            fail("group: '" + value_ + "' is not 'GROUP[/PREFIX] [source ADDRESS]'");
        }
        router::DlrScope scope;
        const auto slash = w[0].find('/');
        auto g = Nla::parse(w[0].substr(0, slash));
        if (!g || !g->is_ipv4() || !g->is_multicast()) {
            fail("group: '" + w[0] + "' is not an IPv4 multicast group or prefix");
        }
        scope.group = *g;
        if (slash != std::string::npos) {
            auto bits = parse_number<unsigned>(std::string_view(w[0]).substr(slash + 1));
            if (!bits || *bits < 4 || *bits > 32) fail("group: prefix length not in 4..32");
            scope.prefix_length = static_cast<std::uint8_t>(*bits);
        }
        if (w.size() == 3) {
            auto src = Nla::parse(w[2]);
            if (!src || !src->is_ipv4() || src->is_multicast()) {
                fail("group: source '" + w[2] + "' is not an IPv4 unicast address");
            }
            scope.source = *src;
        }
        return scope;
    }

    void set_global(const std::string& name) {
        router::RouterConfig& r = c_.router;
        if (name == "log-level") {
            auto l = parse_log_level(value_);
            if (!l) fail("log-level: '" + value_ + "' is not none|err|warning|notice|info|debug");
            c_.log_level = *l;
        } else if (name == "udp-ports") {
            if (!udp_ports_given_) c_.udp_ports.clear();
            udp_ports_given_ = true;
            for (const std::string& w : words(value_)) {
                auto p = parse_number<unsigned>(w);
                if (!p || *p < 1 || *p > 65535) fail("udp-ports: '" + w + "' is not in 1..65535");
                if (std::find(c_.udp_ports.begin(), c_.udp_ports.end(), *p) == c_.udp_ports.end()) {
                    c_.udp_ports.push_back(static_cast<std::uint16_t>(*p));
                }
            }
        } else if (name == "control.socket") {
            if (value_.front() != '/') fail("control.socket: '" + value_ + "' is not absolute");
            c_.control.socket = value_;
        } else if (name == "control.mode") {
            auto m = parse_number<unsigned>(value_, 8);
            if (!m || *m > 0777) fail("control.mode: '" + value_ + "' is not an octal mode");
            c_.control.mode = static_cast<mode_t>(*m);
        } else if (name == "control.group") {
            c_.control.group = value_;
            c_.control.group_line = line_;
        } else if (name == "capture.buffer-bytes") {
            const auto n = parse_number<std::uint64_t>(value_);
            if (!n || *n < kMinCaptureBufferBytes || *n > kMaxCaptureBufferBytes) {
                fail("buffer-bytes: '" + value_ + "' is not a whole number in " +
                     std::to_string(kMinCaptureBufferBytes) + ".." +
                     std::to_string(kMaxCaptureBufferBytes));
            }
            c_.capture.buffer_bytes = *n;
        } else if (name == "dataplane.fast-path") {
            auto m = parse_fast_path_mode(value_);
            if (!m) fail("fast-path: '" + value_ + "' is not auto, on or off");
            c_.dataplane.fast_path = *m;
        } else if (name == "dataplane.fail-open-after") {
            const Duration d = duration("fail-open-after");
            if (d < kMinFailOpenAfter || d > kMaxFailOpenAfter) {
                fail("fail-open-after: '" + value_ + "' is not within 100ms..60s");
            }
            c_.dataplane.fail_open_after = d;
        } else if (name == "dataplane.on-exit") {
            if (value_ == "remove") {
                c_.dataplane.on_exit = FastPathExit::Remove;
            } else if (value_ == "fail-open") {
                c_.dataplane.on_exit = FastPathExit::FailOpen;
            } else {
                fail("on-exit: '" + value_ + "' is not remove or fail-open");
            }
        } else if (name == "metrics.textfile") {
            // The node exporter's textfile collector reads only *.prom files.
            const std::string base = value_.substr(value_.rfind('/') + 1);
            if (value_.front() != '/' || !base.ends_with(".prom") || base.size() <= 5) {
                fail("textfile: '" + value_ + "' is not an absolute path ending in .prom");
            }
            c_.metrics.textfile = value_;
            c_.metrics.textfile_line = line_;
        } else if (name == "metrics.interval") {
            const Duration d = duration("interval");
            if (d < kMinMetricsInterval || d > kMaxMetricsInterval) {
                fail("interval: '" + value_ + "' is not within 1s..60min");
            }
            c_.metrics.interval = d;
        } else if (name == "metrics.sessions") {
            auto b = parse_bool(value_);
            if (!b) fail("sessions: '" + value_ + "' is not yes or no");
            c_.metrics.sessions = *b;
        } else if (name == "timers.nak-repeat-period") {
            r.nak_repeat_period = duration("nak-repeat-period");
        } else if (name == "timers.nak-rpt-ivl") {
            r.nak_rpt_ivl = duration("nak-rpt-ivl");
        } else if (name == "timers.nak-rdata-ivl") {
            r.nak_rdata_ivl = duration("nak-rdata-ivl");
        } else if (name == "timers.nak-elim-ivl") {
            r.nak_elim_ivl = duration("nak-elim-ivl");
        } else if (name == "timers.rdata-hold") {
            r.rdata_hold = duration("rdata-hold", true);  // 0: off (D27)
        } else if (name == "limits.max-rdata-hold-bytes") {
            r.max_rdata_hold_bytes = count("max-rdata-hold-bytes", std::size_t{1} << 34);
        } else if (name == "timers.session-lifetime") {
            r.session_lifetime = duration("session-lifetime");
        } else if (name == "limits.max-sessions") {
            r.max_sessions = count("max-sessions", 10'000'000);
        } else if (name == "limits.max-repair-states") {
            r.max_repair_states = count("max-repair-states", 100'000'000);
        } else if (name == "limits.max-naks-per-second-per-interface") {
            r.max_naks_per_second_per_interface =
                static_cast<std::uint32_t>(count("max-naks-per-second-per-interface", 1u << 30));
        } else if (name == "dlr.group") {
            r.dlr.scopes.push_back(dlr_scope());
        } else if (name == "dlr.cache-bytes") {
            r.dlr.cache_bytes_per_session = count("cache-bytes", std::size_t{1} << 34);
            if (r.dlr.cache_bytes_per_session == 0) fail("cache-bytes: must be positive");
        } else if (name == "dlr.cache-bytes-total") {
            r.dlr.cache_bytes_total = count("cache-bytes-total", std::size_t{1} << 36);
            if (r.dlr.cache_bytes_total == 0) fail("cache-bytes-total: must be positive");
        } else if (name == "dlr.cache-packets") {
            // Each sequence number of the span costs a slot (~48 bytes) even as a hole.
            r.dlr.cache_packets_per_session = count("cache-packets", 1u << 16);
            if (r.dlr.cache_packets_per_session == 0) fail("cache-packets: must be positive");
        } else if (name == "dlr.discover-dlrs") {
            // The network-element side (D28): POLL downstream for off-tree DLRs.
            auto b = parse_bool(value_);
            if (!b) fail("discover-dlrs: '" + value_ + "' is not yes or no");
            r.discover_dlrs = *b;
        } else if (name == "dlr.discovery-interval") {
            r.dlr_poll_interval = duration("discovery-interval");
        } else if (name == "dlr.discovery-backoff") {
            // POLL_BO_IVL: DLRs wait a random part of it before answering. Capped so that it
            // fits the POLL's 32-bit microsecond field with room to spare.
            r.dlr_poll_backoff = duration("discovery-backoff");
            if (r.dlr_poll_backoff > std::chrono::seconds(60)) {
                fail("discovery-backoff: at most 60s (POLL_BO_IVL)");
            }
        } else if (name == "igmp.robustness") {
            const auto n = count("robustness", 7);
            if (n < 1) fail("robustness: must be 1..7");
            c_.igmp.robustness = static_cast<unsigned>(n);
        } else if (name == "igmp.query-interval") {
            c_.igmp.query_interval = duration("query-interval");
        } else if (name == "igmp.query-response-interval") {
            c_.igmp.query_response_interval = duration("query-response-interval");
            if (c_.igmp.query_response_interval > std::chrono::seconds(25)) {
                fail("query-response-interval: at most 25s (the IGMP Max Resp Code)");
            }
        } else if (name == "igmp.last-member-query-interval") {
            c_.igmp.last_member_query_interval = duration("last-member-query-interval");
        } else {
            fail("unknown key '" + name + "'");
        }
    }

    void apply_interface(const std::string& ifname, const std::string& key) {
        auto it = std::find_if(c_.interfaces.begin(), c_.interfaces.end(),
                               [&](const InterfaceConfig& i) { return i.name == ifname; });
        if (it == c_.interfaces.end()) {
            c_.interfaces.push_back(InterfaceConfig{ifname, {}, {}, true});
            it = c_.interfaces.end() - 1;
        }
        InterfaceConfig& ic = *it;
        if (std::find(kInterfaceKeys.begin(), kInterfaceKeys.end(), key) == kInterfaceKeys.end()) {
            fail("unknown key '" + key + "' in [interface " + ifname + "]");
        }
        if (key == "static-groups" || key == "join-groups") {
            auto& list = key == "static-groups" ? ic.static_groups : ic.join_groups;
            for (const std::string& w : words(value_)) {
                const Nla g = group(key, w);
                if (std::find(list.begin(), list.end(), g) == list.end()) list.push_back(g);
            }
        } else if (key == "igmp-querier") {
            auto b = parse_bool(value_);
            if (!b) fail("igmp-querier: '" + value_ + "' is not yes or no");
            ic.igmp_querier = *b;
        } else {
            fail("unknown key '" + key + "' in [interface " + ifname + "]");
        }
    }

    const std::string& file_;
    DaemonConfig c_;
    int line_ = 0;
    std::string value_;
    std::map<std::string, int> seen_;
    bool udp_ports_given_ = false;
};

}  // namespace

std::optional<FastPathMode> parse_fast_path_mode(std::string_view t) {
    if (t == "auto") return FastPathMode::Auto;
    if (t == "on" || t == "yes") return FastPathMode::On;
    if (t == "off" || t == "no") return FastPathMode::Off;
    return std::nullopt;
}

const char* to_string(FastPathMode mode) {
    switch (mode) {
        case FastPathMode::Auto:
            return "auto";
        case FastPathMode::On:
            return "on";
        case FastPathMode::Off:
            return "off";
    }
    return "?";
}

std::optional<LogLevel> parse_log_level(std::string_view t) {
    if (t == "none") return LogLevel::None;
    if (t == "err" || t == "error") return LogLevel::Error;
    if (t == "warning" || t == "warn") return LogLevel::Warning;
    if (t == "notice") return LogLevel::Notice;
    if (t == "info") return LogLevel::Info;
    if (t == "debug") return LogLevel::Debug;
    return std::nullopt;
}

const char* to_string(LogLevel level) {
    switch (level) {
        case LogLevel::None:
            return "none";
        case LogLevel::Error:
            return "err";
        case LogLevel::Warning:
            return "warning";
        case LogLevel::Notice:
            return "notice";
        case LogLevel::Info:
            return "info";
        case LogLevel::Debug:
            return "debug";
    }
    return "?";
}

const InterfaceConfig* DaemonConfig::find_interface(std::string_view name) const {
    for (const InterfaceConfig& i : interfaces)
        if (i.name == name) return &i;
    return nullptr;
}

ConfigError::ConfigError(const std::string& file, int line, const std::string& reason)
    : std::runtime_error(file + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": " +
                         reason),
      file_(file),
      line_(line),
      reason_(reason) {}

std::optional<Duration> parse_duration(std::string_view text) {
    text = trim(text);
    std::size_t digits = 0;
    while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
        ++digits;
    if (digits == 0 || digits > 9) return std::nullopt;
    const auto n = parse_number<std::int64_t>(text.substr(0, digits));
    if (!n) return std::nullopt;
    const std::string_view unit = trim(text.substr(digits));
    if (unit == "ms") return std::chrono::milliseconds(*n);
    if (unit == "s") return std::chrono::seconds(*n);
    if (unit == "min") return std::chrono::minutes(*n);
    return std::nullopt;
}

DaemonConfig parse_config(std::istream& in, const std::string& file_name) {
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::vector<std::pair<std::string, int>> interfaces;
    const std::vector<KeyLine> keys = prescan(text, file_name, interfaces);

    po::options_description registered = global_keys();
    po::parsed_options parsed(&registered);
    try {
        std::istringstream again(text);
        parsed = po::parse_config_file(again, registered, /*allow_unregistered=*/true);
    } catch (const po::error& e) {
        throw ConfigError(file_name, 0, e.what());  // the pre-scan should have caught it
    }
    if (parsed.options.size() != keys.size()) {
        throw ConfigError(file_name, 0,
                          "internal error: the pre-scan found " + std::to_string(keys.size()) +
                              " keys, Boost " + std::to_string(parsed.options.size()));
    }
    Builder b(file_name);
    for (const auto& [ifname, line] : interfaces)
        b.declare_interface(ifname, line);
    for (std::size_t i = 0; i < keys.size(); ++i) {
        const po::option& o = parsed.options[i];
        const std::string value = o.value.empty() ? std::string() : o.value.front();
        // The pre-scan's name: the same key, with the interface name of the section trimmed.
        b.apply(keys[i].name, value, keys[i].line, !o.unregistered);
    }
    return b.finish();
}

std::vector<std::string> changed_keys(const DaemonConfig& a, const DaemonConfig& b) {
    std::vector<std::string> out;
    auto key = [&](const char* name, bool changed) {
        if (changed) out.emplace_back(name);
    };
    const router::RouterConfig& r = a.router;
    const router::RouterConfig& n = b.router;
    key("log-level", a.log_level != b.log_level);
    key("udp-ports", a.udp_ports != b.udp_ports);
    key("control.socket", a.control.socket != b.control.socket);
    key("control.mode", a.control.mode != b.control.mode);
    key("control.group", a.control.group != b.control.group);
    key("timers.nak-repeat-period", r.nak_repeat_period != n.nak_repeat_period);
    key("timers.nak-rpt-ivl", r.nak_rpt_ivl != n.nak_rpt_ivl);
    key("timers.nak-rdata-ivl", r.nak_rdata_ivl != n.nak_rdata_ivl);
    key("timers.nak-elim-ivl", r.nak_elim_ivl != n.nak_elim_ivl);
    key("timers.rdata-hold", r.rdata_hold != n.rdata_hold);
    key("timers.session-lifetime", r.session_lifetime != n.session_lifetime);
    key("limits.max-sessions", r.max_sessions != n.max_sessions);
    key("limits.max-rdata-hold-bytes", r.max_rdata_hold_bytes != n.max_rdata_hold_bytes);
    key("limits.max-repair-states", r.max_repair_states != n.max_repair_states);
    key("limits.max-naks-per-second-per-interface",
        r.max_naks_per_second_per_interface != n.max_naks_per_second_per_interface);
    key("igmp.robustness", a.igmp.robustness != b.igmp.robustness);
    key("igmp.query-interval", a.igmp.query_interval != b.igmp.query_interval);
    key("igmp.query-response-interval",
        a.igmp.query_response_interval != b.igmp.query_response_interval);
    key("igmp.last-member-query-interval",
        a.igmp.last_member_query_interval != b.igmp.last_member_query_interval);
    auto scope_text = [](const std::vector<router::DlrScope>& scopes) {
        std::string text;
        for (const router::DlrScope& s : scopes)
            text += s.group.to_string() + "/" + std::to_string(s.prefix_length) + "@" +
                    (s.source ? s.source->to_string() : std::string()) + " ";
        return text;
    };
    key("dlr.group", scope_text(r.dlr.scopes) != scope_text(n.dlr.scopes));
    key("dlr.cache-bytes", r.dlr.cache_bytes_per_session != n.dlr.cache_bytes_per_session);
    key("dlr.cache-bytes-total", r.dlr.cache_bytes_total != n.dlr.cache_bytes_total);
    key("dlr.cache-packets", r.dlr.cache_packets_per_session != n.dlr.cache_packets_per_session);
    key("dlr.discover-dlrs", r.discover_dlrs != n.discover_dlrs);
    key("dlr.discovery-interval", r.dlr_poll_interval != n.dlr_poll_interval);
    key("dlr.discovery-backoff", r.dlr_poll_backoff != n.dlr_poll_backoff);
    key("capture.buffer-bytes", a.capture.buffer_bytes != b.capture.buffer_bytes);
    key("dataplane.fast-path", a.dataplane.fast_path != b.dataplane.fast_path);
    key("dataplane.fail-open-after", a.dataplane.fail_open_after != b.dataplane.fail_open_after);
    key("dataplane.on-exit", a.dataplane.on_exit != b.dataplane.on_exit);
    for (const InterfaceConfig& i : a.interfaces) {
        const InterfaceConfig* j = b.find_interface(i.name);
        const std::string section = "interface " + i.name;
        if (j == nullptr) {
            out.push_back(section + " (removed)");
            continue;
        }
        if (i.static_groups != j->static_groups) out.push_back(section + ".static-groups");
        if (i.join_groups != j->join_groups) out.push_back(section + ".join-groups");
        if (i.igmp_querier != j->igmp_querier) out.push_back(section + ".igmp-querier");
    }
    for (const InterfaceConfig& j : b.interfaces)
        if (a.find_interface(j.name) == nullptr) out.push_back("interface " + j.name + " (added)");
    return out;
}

std::vector<std::string> config_keys() {
    std::vector<std::string> keys;
    const po::options_description globals = global_keys();
    for (const auto& option : globals.options())
        keys.push_back(option->long_name());
    for (std::string_view key : kInterfaceKeys)
        keys.push_back(std::string(kInterfaceSection) + "NAME." + std::string(key));
    return keys;
}

DaemonConfig load_config(const std::string& path) {
    // read(2), not an ifstream: a directory opens, then fails reading with EISDIR, which
    // libstdc++ reports by throwing std::ios_base::failure rather than setting failbit.
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ConfigError(path, 0, std::string("cannot be read: ") + std::strerror(errno));
    std::string text;
    char buffer[8192];
    for (;;) {
        const ssize_t n = read(fd, buffer, sizeof buffer);
        if (n > 0) {
            text.append(buffer, static_cast<std::size_t>(n));
        } else if (n == 0) {
            break;
        } else if (errno != EINTR) {
            const int error = errno;
            close(fd);
            throw ConfigError(path, 0, std::string("cannot be read: ") + std::strerror(error));
        }
    }
    close(fd);
    std::istringstream in(text);
    DaemonConfig c = parse_config(in, path);
    // Resolved here rather than at start-up only: `pgmd -F` and reloads see it too.
    if (!c.control.group.empty() && getgrnam(c.control.group.c_str()) == nullptr) {
        throw ConfigError(path, c.control.group_line,
                          "group: no group named '" + c.control.group + "'");
    }
    if (!c.metrics.textfile.empty()) {
        const std::string dir = c.metrics.textfile.substr(0, c.metrics.textfile.rfind('/') + 1);
        struct stat st {};
        if (stat(dir.c_str(), &st) != 0) {
            throw ConfigError(path, c.metrics.textfile_line,
                              "textfile: directory " + dir + ": " + std::strerror(errno));
        }
        if (!S_ISDIR(st.st_mode)) {
            throw ConfigError(path, c.metrics.textfile_line,
                              "textfile: " + dir + " is not a directory");
        }
    }
    return c;
}

}  // namespace pgm::dataplane
