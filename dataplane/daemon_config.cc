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
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>

#include "protocol/wire.h"

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

// How a setter sees one `key = value` line: the value, whether the key was already given
// (list keys add up), and the checks that fail with the file and line.
class KeyInput {
  public:
    KeyInput(const std::string& file, int line, const std::string& value, bool first)
        : file_(file), line_(line), value_(value), first_(first) {}

    const std::string& value() const { return value_; }
    int line() const { return line_; }
    bool first() const { return first_; }  // the key's first line in the file

    [[noreturn]] void fail(const std::string& reason) const {
        throw ConfigError(file_, line_, reason);
    }
    Duration duration(const std::string& key, bool zero_allowed = false) const {
        auto d = parse_duration(value_);
        if (!d && parse_milliseconds(value_))
            fail(key + ": '" + value_ + "' is longer than " + std::to_string(kMaxDurationMinutes) +
                 "min (24 h), the longest duration accepted");
        if (!d || *d < Duration::zero() || (*d == Duration::zero() && !zero_allowed)) {
            fail(key + ": '" + value_ + "' is not a " + (zero_allowed ? "" : "positive ") +
                 "duration with a unit (ms, s, min)");
        }
        return *d;
    }
    std::uint64_t count(const std::string& key, std::uint64_t max) const {
        auto n = parse_number<std::uint64_t>(value_);
        if (!n || *n > max) {
            fail(key + ": '" + value_ + "' is not a whole number in 0.." + std::to_string(max));
        }
        return *n;
    }
    bool boolean(const std::string& key) const {
        auto b = parse_bool(value_);
        if (!b) fail(key + ": '" + value_ + "' is not yes or no");
        return *b;
    }
    Nla group(const std::string& key, const std::string& text) const {
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
    router::DlrScope dlr_scope() const {
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

  private:
    const std::string& file_;
    int line_;
    const std::string& value_;
    bool first_;
};

// A value as config text, the way the parser reads it back: whole seconds as "2s", else
// milliseconds ("500ms"); sub-millisecond parts cannot come from a file.
std::string duration_text(Duration d) {
    using namespace std::chrono;
    if (d % seconds(1) == Duration::zero())
        return std::to_string(duration_cast<seconds>(d).count()) + "s";
    return std::to_string(duration_cast<milliseconds>(d).count()) + "ms";
}
std::string bool_text(bool b) {
    return b ? "yes" : "no";
}
std::string groups_text(const std::vector<Nla>& groups) {
    std::string out;
    for (const Nla& g : groups)
        out += (out.empty() ? "" : " ") + g.to_string();
    return out;
}
std::string scope_text(const router::DlrScope& s) {
    std::string out = s.group.to_string();
    if (s.prefix_length != 32) out += "/" + std::to_string(s.prefix_length);
    if (s.source) out += " source " + s.source->to_string();
    return out;
}
// The lines of a key that has one value: none when the value is empty (the key is unset).
std::vector<std::string> one(std::string value) {
    if (value.empty()) return {};
    return {std::move(value)};
}

// A NAK costs one token per sequence and is taken whole, from a bucket holding one second's
// tokens: below a full list's cost (header + OPT_NAK_LIST) such a NAK could never be admitted,
// neither under a per-source cap nor under an interface's. `zero`: what 0 means for `key`.
void check_nak_rate(const KeyInput& in, const char* key, std::uint32_t rate, const char* zero) {
    const auto full = static_cast<std::uint32_t>(1 + kMaxNakList);
    if (rate != 0 && rate < full)
        in.fail(std::string(key) + ": " + std::to_string(rate) + " is below " +
                std::to_string(full) + ", the cost of one NAK with a full list (0: " + zero + ")");
}
void check_neighbour_rate(const KeyInput& in, std::uint32_t rate) {
    check_nak_rate(in, "max-naks-per-second-per-neighbour", rate, "no such cap");
}

// One key outside [interface NAME] sections. The table below is the only list of them: it
// drives parsing (Boost's registered names, set), `pgmd --config-keys` (config_keys()),
// what a reload reports (changed_keys(), comparing get()) and render_config().
struct GlobalKey {
    std::string_view name;    // "key" (before any section) or "section.key"
    std::string_view syntax;  // the value's form, for the rendered file's comments
    std::string_view description;
    bool list;  // may be given on several lines, the values adding up
    void (*set)(const KeyInput&, DaemonConfig&);
    // The value in force as config text, one entry per line; empty: not set.
    std::vector<std::string> (*get)(const DaemonConfig&);
};

const std::array<GlobalKey, 38> kGlobalKeys = {{
    {"log-level", "none|err|warning|notice|info|debug", "what pgmd logs", false,
     [](const KeyInput& in, DaemonConfig& c) {
         auto l = parse_log_level(in.value());
         if (!l)
             in.fail("log-level: '" + in.value() + "' is not none|err|warning|notice|info|debug");
         c.log_level = *l;
     },
     [](const DaemonConfig& c) { return one(to_string(c.log_level)); }},
    {"udp-ports", "PORT...", "UDP ports on which PGM is encapsulated", true,
     [](const KeyInput& in, DaemonConfig& c) {
         if (in.first()) c.udp_ports.clear();
         for (const std::string& w : words(in.value())) {
             auto p = parse_number<unsigned>(w);
             if (!p || *p < 1 || *p > 65535) in.fail("udp-ports: '" + w + "' is not in 1..65535");
             if (std::find(c.udp_ports.begin(), c.udp_ports.end(), *p) == c.udp_ports.end())
                 c.udp_ports.push_back(static_cast<std::uint16_t>(*p));
         }
     },
     [](const DaemonConfig& c) {
         std::string out;
         for (std::uint16_t p : c.udp_ports)
             out += (out.empty() ? "" : " ") + std::to_string(p);
         return one(out);
     }},
    {"control.socket", "PATH", "path of the control socket (absolute)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         if (in.value().front() != '/')
             in.fail("control.socket: '" + in.value() + "' is not absolute");
         c.control.socket = in.value();
     },
     [](const DaemonConfig& c) { return one(c.control.socket); }},
    {"control.mode", "OCTAL", "file mode of the control socket", false,
     [](const KeyInput& in, DaemonConfig& c) {
         auto m = parse_number<unsigned>(in.value(), 8);
         if (!m || *m > 0777) in.fail("control.mode: '" + in.value() + "' is not an octal mode");
         c.control.mode = static_cast<mode_t>(*m);
     },
     [](const DaemonConfig& c) {
         char text[8];
         std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(c.control.mode));
         return one(text);
     }},
    {"control.group", "GROUP", "group owning the control socket (unset: pgmd's group)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.control.group = in.value();
         c.control.group_line = in.line();
     },
     [](const DaemonConfig& c) { return one(c.control.group); }},
    {"timers.nak-repeat-period", "DURATION", "how often an unconfirmed forwarded NAK is repeated",
     false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.nak_repeat_period = in.duration("nak-repeat-period");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.router.nak_repeat_period)); }},
    {"timers.nak-rpt-ivl", "DURATION", "how long an unconfirmed NAK is repeated", false,
     [](const KeyInput& in, DaemonConfig& c) { c.router.nak_rpt_ivl = in.duration("nak-rpt-ivl"); },
     [](const DaemonConfig& c) { return one(duration_text(c.router.nak_rpt_ivl)); }},
    {"timers.nak-rdata-ivl", "DURATION", "lifetime of confirmed repair state waiting for RDATA",
     false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.nak_rdata_ivl = in.duration("nak-rdata-ivl");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.router.nak_rdata_ivl)); }},
    {"timers.nak-elim-ivl", "DURATION", "how long duplicate NAKs are eliminated", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.nak_elim_ivl = in.duration("nak-elim-ivl");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.router.nak_elim_ivl)); }},
    {"timers.rdata-hold", "DURATION", "how long forwarded RDATA is kept to answer NAKs (0s: off)",
     false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.rdata_hold = in.duration("rdata-hold", true);
     },  // 0: off (D27)
     [](const DaemonConfig& c) { return one(duration_text(c.router.rdata_hold)); }},
    {"timers.ncf-repeat-interval", "DURATION",
     "at most one identical NCF per interface this often (0s: one per NAK)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.ncf_repeat_interval = in.duration("ncf-repeat-interval", true);
     },  // 0: off (D33)
     [](const DaemonConfig& c) { return one(duration_text(c.router.ncf_repeat_interval)); }},
    {"timers.session-lifetime", "DURATION", "a session without SPM for this long is removed", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.session_lifetime = in.duration("session-lifetime");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.router.session_lifetime)); }},
    {"limits.max-sessions", "COUNT", "sessions kept at most", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.max_sessions = in.count("max-sessions", 10'000'000);
     },
     [](const DaemonConfig& c) { return one(std::to_string(c.router.max_sessions)); }},
    {"limits.max-rdata-hold-bytes", "BYTES", "bytes of held RDATA at most", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.max_rdata_hold_bytes = in.count("max-rdata-hold-bytes", std::size_t{1} << 34);
     },
     [](const DaemonConfig& c) { return one(std::to_string(c.router.max_rdata_hold_bytes)); }},
    {"limits.max-repair-states", "COUNT", "repair states kept at most", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.max_repair_states = in.count("max-repair-states", 100'000'000);
     },
     [](const DaemonConfig& c) { return one(std::to_string(c.router.max_repair_states)); }},
    {"limits.max-naks-per-second-per-interface", "COUNT",
     "NAKs accepted per interface per second (0: unlimited)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.max_naks_per_second_per_interface =
             static_cast<std::uint32_t>(in.count("max-naks-per-second-per-interface", 1u << 30));
         check_nak_rate(in, "max-naks-per-second-per-interface",
                        c.router.max_naks_per_second_per_interface, "unlimited");
     },
     [](const DaemonConfig& c) {
         return one(std::to_string(c.router.max_naks_per_second_per_interface));
     }},
    {"limits.max-naks-per-second-per-neighbour", "COUNT",
     "NAKs accepted per second from one NAK source on an interface (0: no such cap)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.max_naks_per_second_per_neighbour =
             static_cast<std::uint32_t>(in.count("max-naks-per-second-per-neighbour", 1u << 30));
         check_neighbour_rate(in, c.router.max_naks_per_second_per_neighbour);
     },
     [](const DaemonConfig& c) {
         return one(std::to_string(c.router.max_naks_per_second_per_neighbour));
     }},
    {"limits.max-nak-neighbours-per-interface", "COUNT",
     "NAK sources with their own NAK rate cap per interface (the rest share one)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         // Each costs about 100 bytes: the bound is this times the served interfaces.
         c.router.max_nak_neighbours_per_interface =
             in.count("max-nak-neighbours-per-interface", 1u << 16);
         if (c.router.max_nak_neighbours_per_interface == 0)
             in.fail("max-nak-neighbours-per-interface: must be positive");
     },
     [](const DaemonConfig& c) {
         return one(std::to_string(c.router.max_nak_neighbours_per_interface));
     }},
    {"containment.dup-nak-max", "COUNT",
     "duplicate NAKs after which a subtree is assumed unreachable (0: off; RFC 3208 App. E)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.dup_nak_max = static_cast<std::uint32_t>(in.count("dup-nak-max", 1u << 20));
     },  // D34
     [](const DaemonConfig& c) { return one(std::to_string(c.router.dup_nak_max)); }},
    {"containment.nbr-unreach", "yes|no",
     "honour OPT_NBR_UNREACH from upstream: hold NAKs, send the special SPM (App. E)", false,
     [](const KeyInput& in, DaemonConfig& c) { c.router.nbr_unreach = in.boolean("nbr-unreach"); },
     // D35
     [](const DaemonConfig& c) { return one(bool_text(c.router.nbr_unreach)); }},
    {"igmp.robustness", "1..7", "IGMP robustness variable", false,
     [](const KeyInput& in, DaemonConfig& c) {
         const auto n = in.count("robustness", 7);
         if (n < 1) in.fail("robustness: must be 1..7");
         c.igmp.robustness = static_cast<unsigned>(n);
     },
     [](const DaemonConfig& c) { return one(std::to_string(c.igmp.robustness)); }},
    {"igmp.query-interval", "DURATION", "interval between General Queries while querier", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.igmp.query_interval = in.duration("query-interval");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.igmp.query_interval)); }},
    {"igmp.query-response-interval", "DURATION", "Max Resp Time of General Queries (at most 25s)",
     false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.igmp.query_response_interval = in.duration("query-response-interval");
         if (c.igmp.query_response_interval > std::chrono::seconds(25))
             in.fail("query-response-interval: at most 25s (the IGMP Max Resp Code)");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.igmp.query_response_interval)); }},
    {"igmp.last-member-query-interval", "DURATION",
     "interval of group-specific queries after a leave", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.igmp.last_member_query_interval = in.duration("last-member-query-interval");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.igmp.last_member_query_interval)); }},
    {"dlr.group", "GROUP[/PREFIX] [source ADDRESS]", "sessions pgmd repairs as a DLR (repeatable)",
     true,
     [](const KeyInput& in, DaemonConfig& c) {
         const router::DlrScope scope = in.dlr_scope();
         // A list starts afresh at its first line (as udp-ports): what a GlobalKeySetter
         // found there before is replaced, not added to.
         if (in.first()) c.router.dlr.scopes.clear();
         c.router.dlr.scopes.push_back(scope);
     },
     [](const DaemonConfig& c) {
         std::vector<std::string> lines;
         for (const router::DlrScope& s : c.router.dlr.scopes)
             lines.push_back(scope_text(s));
         return lines;
     }},
    {"dlr.cache-bytes", "BYTES", "bytes of cached packets per session at most", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.dlr.cache_bytes_per_session = in.count("cache-bytes", std::size_t{1} << 34);
         if (c.router.dlr.cache_bytes_per_session == 0) in.fail("cache-bytes: must be positive");
     },
     [](const DaemonConfig& c) {
         return one(std::to_string(c.router.dlr.cache_bytes_per_session));
     }},
    {"dlr.cache-bytes-total", "BYTES", "bytes of cached packets of all sessions at most", false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.dlr.cache_bytes_total = in.count("cache-bytes-total", std::size_t{1} << 36);
         if (c.router.dlr.cache_bytes_total == 0) in.fail("cache-bytes-total: must be positive");
     },
     [](const DaemonConfig& c) { return one(std::to_string(c.router.dlr.cache_bytes_total)); }},
    {"dlr.cache-packets", "COUNT", "sequence numbers cached per session at most", false,
     [](const KeyInput& in, DaemonConfig& c) {
         // Each sequence number of the span costs a slot (~48 bytes) even as a hole.
         c.router.dlr.cache_packets_per_session = in.count("cache-packets", 1u << 16);
         if (c.router.dlr.cache_packets_per_session == 0)
             in.fail("cache-packets: must be positive");
     },
     [](const DaemonConfig& c) {
         return one(std::to_string(c.router.dlr.cache_packets_per_session));
     }},
    {"dlr.discover-dlrs", "yes|no", "as a network element, look for off-tree DLRs downstream",
     false,
     // The network-element side (D28): POLL downstream for off-tree DLRs.
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.discover_dlrs = in.boolean("discover-dlrs");
     },
     [](const DaemonConfig& c) { return one(bool_text(c.router.discover_dlrs)); }},
    {"dlr.discovery-interval", "DURATION", "at most one DLR discovery round per session this often",
     false,
     [](const KeyInput& in, DaemonConfig& c) {
         c.router.dlr_poll_interval = in.duration("discovery-interval");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.router.dlr_poll_interval)); }},
    {"dlr.discovery-backoff", "DURATION", "POLL_BO_IVL of the discovery POLLs (at most 60s)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         // POLL_BO_IVL: DLRs wait a random part of it before answering. Capped so that it
         // fits the POLL's 32-bit microsecond field with room to spare.
         c.router.dlr_poll_backoff = in.duration("discovery-backoff");
         if (c.router.dlr_poll_backoff > std::chrono::seconds(60))
             in.fail("discovery-backoff: at most 60s (POLL_BO_IVL)");
     },
     [](const DaemonConfig& c) { return one(duration_text(c.router.dlr_poll_backoff)); }},
    {"capture.buffer-bytes", "BYTES", "capture ring of each served interface", false,
     [](const KeyInput& in, DaemonConfig& c) {
         const auto n = parse_number<std::uint64_t>(in.value());
         if (!n || *n < kMinCaptureBufferBytes || *n > kMaxCaptureBufferBytes) {
             in.fail("buffer-bytes: '" + in.value() + "' is not a whole number in " +
                     std::to_string(kMinCaptureBufferBytes) + ".." +
                     std::to_string(kMaxCaptureBufferBytes));
         }
         c.capture.buffer_bytes = *n;
     },
     [](const DaemonConfig& c) { return one(std::to_string(c.capture.buffer_bytes)); }},
    {"dataplane.fast-path", "auto|on|off", "forward ODATA in the kernel (eBPF)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         auto m = parse_fast_path_mode(in.value());
         if (!m) in.fail("fast-path: '" + in.value() + "' is not auto, on or off");
         c.dataplane.fast_path = *m;
     },
     [](const DaemonConfig& c) { return one(to_string(c.dataplane.fast_path)); }},
    {"dataplane.fail-open-after", "DURATION",
     "the fast path fails open when pgmd's heartbeat is older", false,
     [](const KeyInput& in, DaemonConfig& c) {
         const Duration d = in.duration("fail-open-after");
         if (d < kMinFailOpenAfter || d > kMaxFailOpenAfter)
             in.fail("fail-open-after: '" + in.value() + "' is not within 100ms..60s");
         c.dataplane.fail_open_after = d;
     },
     [](const DaemonConfig& c) { return one(duration_text(c.dataplane.fail_open_after)); }},
    {"dataplane.on-exit", "remove|fail-open", "what pgmd leaves in the kernel when it stops", false,
     [](const KeyInput& in, DaemonConfig& c) {
         if (in.value() == "remove") {
             c.dataplane.on_exit = FastPathExit::Remove;
         } else if (in.value() == "fail-open") {
             c.dataplane.on_exit = FastPathExit::FailOpen;
         } else {
             in.fail("on-exit: '" + in.value() + "' is not remove or fail-open");
         }
     },
     [](const DaemonConfig& c) {
         return one(c.dataplane.on_exit == FastPathExit::FailOpen ? "fail-open" : "remove");
     }},
    {"metrics.textfile", "PATH.prom", "Prometheus textfile (unset: no metrics)", false,
     [](const KeyInput& in, DaemonConfig& c) {
         // The node exporter's textfile collector reads only *.prom files.
         const std::string& v = in.value();
         const std::string base = v.substr(v.rfind('/') + 1);
         if (v.front() != '/' || !base.ends_with(".prom") || base.size() <= 5)
             in.fail("textfile: '" + v + "' is not an absolute path ending in .prom");
         c.metrics.textfile = v;
         c.metrics.textfile_line = in.line();
     },
     [](const DaemonConfig& c) { return one(c.metrics.textfile); }},
    {"metrics.interval", "DURATION", "how often the textfile is written", false,
     [](const KeyInput& in, DaemonConfig& c) {
         const Duration d = in.duration("interval");
         if (d < kMinMetricsInterval || d > kMaxMetricsInterval)
             in.fail("interval: '" + in.value() + "' is not within 1s..60min");
         c.metrics.interval = d;
     },
     [](const DaemonConfig& c) { return one(duration_text(c.metrics.interval)); }},
    {"metrics.sessions", "yes|no", "write per-session series too", false,
     [](const KeyInput& in, DaemonConfig& c) { c.metrics.sessions = in.boolean("sessions"); },
     [](const DaemonConfig& c) { return one(bool_text(c.metrics.sessions)); }},
}};

// The keys of an [interface NAME] section, the same way over InterfaceConfig.
struct InterfaceKey {
    std::string_view name;
    std::string_view syntax;
    std::string_view description;
    void (*set)(const KeyInput&, InterfaceConfig&);
    std::string (*get)(const InterfaceConfig&);  // empty: not set
    bool list = false;                           // may be repeated (the values add up)
};

// `GROUP [source ADDRESS] ...`: a group alone is any-source, with `source` that source only.
void add_groups(const KeyInput& in, const std::string& key, std::vector<Nla>& list,
                std::vector<SourceGroup>& sourced) {
    const std::vector<std::string> w = words(in.value());
    for (std::size_t i = 0; i < w.size(); ++i) {
        if (w[i] == "source")
            in.fail(key + ": 'source' must follow a group ('GROUP source ADDRESS')");
        const Nla g = in.group(key, w[i]);
        if (i + 1 < w.size() && w[i + 1] == "source") {
            if (i + 2 >= w.size()) in.fail(key + ": no address after 'source'");
            const auto src = Nla::parse(w[i + 2]);
            if (!src || !src->is_ipv4() || src->is_multicast() || *src == Nla::ipv4(0u)) {
                in.fail(key + ": source '" + w[i + 2] + "' is not an IPv4 unicast address");
            }
            const SourceGroup sg{*src, g};
            if (std::find(sourced.begin(), sourced.end(), sg) == sourced.end())
                sourced.push_back(sg);
            i += 2;
            continue;
        }
        if (std::find(list.begin(), list.end(), g) == list.end()) list.push_back(g);
    }
}
std::string groups_text(const std::vector<Nla>& groups, const std::vector<SourceGroup>& sourced) {
    std::string out = groups_text(groups);
    for (const SourceGroup& sg : sourced)
        out += (out.empty() ? "" : " ") + sg.group.to_string() + " source " + sg.source.to_string();
    return out;
}

// A per-interface override of a global key: its value, or "" (unset: the global value).
std::string optional_duration_text(const std::optional<Duration>& d) {
    return d ? duration_text(*d) : std::string();
}
std::string optional_count_text(const std::optional<std::uint32_t>& n) {
    return n ? std::to_string(*n) : std::string();
}

const std::array<InterfaceKey, 11> kInterfaceKeys = {{
    {"static-groups", "GROUP [source ADDRESS]...",
     "groups with members here whatever IGMP says (with source: from that source only)",
     [](const KeyInput& in, InterfaceConfig& i) {
         add_groups(in, "static-groups", i.static_groups, i.static_sources);
     },
     [](const InterfaceConfig& i) { return groups_text(i.static_groups, i.static_sources); }, true},
    {"join-groups", "GROUP [source ADDRESS]...",
     "groups pgmd joins here, towards the sources (with source: source-specific join)",
     [](const KeyInput& in, InterfaceConfig& i) {
         add_groups(in, "join-groups", i.join_groups, i.join_sources);
     },
     [](const InterfaceConfig& i) { return groups_text(i.join_groups, i.join_sources); }, true},
    {"igmp-querier", "yes|no", "act as IGMP querier unless a lower address is heard",
     [](const KeyInput& in, InterfaceConfig& i) { i.igmp_querier = in.boolean("igmp-querier"); },
     [](const InterfaceConfig& i) { return bool_text(i.igmp_querier); }},
    {"router-alert", "yes|no",
     "add the IP Router Alert option to the SPMs, NCFs, RDATA and POLLs pgmd sends here",
     [](const KeyInput& in, InterfaceConfig& i) { i.router_alert = in.boolean("router-alert"); },
     [](const InterfaceConfig& i) { return bool_text(i.router_alert); }},
    // D38: the router core's settings of this interface.
    {"router-assist", "yes|no",
     "act as a PGM network element here (no: forward PGM as a plain multicast router)",
     [](const KeyInput& in, InterfaceConfig& i) {
         i.router.router_assist = in.boolean("router-assist");
     },
     [](const InterfaceConfig& i) { return bool_text(i.router.router_assist); }},
    {"nak-repeat-period", "DURATION",
     "[timers] nak-repeat-period for sessions whose upstream is here (unset: [timers])",
     [](const KeyInput& in, InterfaceConfig& i) {
         i.router.nak_repeat_period = in.duration("nak-repeat-period");
     },
     [](const InterfaceConfig& i) { return optional_duration_text(i.router.nak_repeat_period); }},
    {"nak-rpt-ivl", "DURATION",
     "[timers] nak-rpt-ivl for sessions whose upstream is here (unset: [timers])",
     [](const KeyInput& in, InterfaceConfig& i) {
         i.router.nak_rpt_ivl = in.duration("nak-rpt-ivl");
     },
     [](const InterfaceConfig& i) { return optional_duration_text(i.router.nak_rpt_ivl); }},
    {"nak-rdata-ivl", "DURATION",
     "[timers] nak-rdata-ivl for sessions whose upstream is here (unset: [timers])",
     [](const KeyInput& in, InterfaceConfig& i) {
         i.router.nak_rdata_ivl = in.duration("nak-rdata-ivl");
     },
     [](const InterfaceConfig& i) { return optional_duration_text(i.router.nak_rdata_ivl); }},
    {"nak-elim-ivl", "DURATION",
     "[timers] nak-elim-ivl for sessions whose upstream is here (unset: [timers])",
     [](const KeyInput& in, InterfaceConfig& i) {
         i.router.nak_elim_ivl = in.duration("nak-elim-ivl");
     },
     [](const InterfaceConfig& i) { return optional_duration_text(i.router.nak_elim_ivl); }},
    {"max-naks-per-second", "COUNT",
     "NAKs accepted here per second (0: unlimited; unset: [limits] "
     "max-naks-per-second-per-interface)",
     [](const KeyInput& in, InterfaceConfig& i) {
         const auto rate = static_cast<std::uint32_t>(in.count("max-naks-per-second", 1u << 30));
         check_nak_rate(in, "max-naks-per-second", rate, "unlimited");
         i.router.max_naks_per_second = rate;
     },
     [](const InterfaceConfig& i) { return optional_count_text(i.router.max_naks_per_second); }},
    {"max-naks-per-second-per-neighbour", "COUNT",
     "NAKs accepted per second from one NAK source here (0: no such cap; unset: [limits])",
     [](const KeyInput& in, InterfaceConfig& i) {
         const auto rate =
             static_cast<std::uint32_t>(in.count("max-naks-per-second-per-neighbour", 1u << 30));
         check_neighbour_rate(in, rate);
         i.router.max_naks_per_second_per_neighbour = rate;
     },
     [](const InterfaceConfig& i) {
         return optional_count_text(i.router.max_naks_per_second_per_neighbour);
     }},
}};

const GlobalKey* find_global(std::string_view name) {
    for (const GlobalKey& k : kGlobalKeys)
        if (k.name == name) return &k;
    return nullptr;
}

// The names Boost registers: every global key.
po::options_description global_keys() {
    po::options_description d;
    for (const GlobalKey& k : kGlobalKeys)
        d.add_options()(std::string(k.name).c_str(), po::value<std::string>());
    return d;
}

bool known_section(const std::string& section) {
    for (const GlobalKey& k : kGlobalKeys) {
        const std::string_view key = k.name;
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
        c_.interfaces.push_back(InterfaceConfig{ifname, {}, {}, true, {}, {}});
    }

    // `registered`: Boost matched the name among global_keys().
    void apply(const std::string& name, const std::string& value, int line, bool registered) {
        line_ = line;
        if (name.starts_with(kInterfaceSection)) {
            // The last dot: keys have none, interface names may (VLANs: eth0.100).
            const auto dot = name.rfind('.');
            apply_interface(name.substr(kInterfaceSection.size(), dot - kInterfaceSection.size()),
                            name.substr(dot + 1), value);
            return;
        }
        const GlobalKey* key = registered ? find_global(name) : nullptr;
        if (key == nullptr) fail("unknown key '" + name + "'");
        const auto [first, fresh] = seen_.emplace(name, line);
        if (!key->list && !fresh) {
            fail("'" + name + "' is given twice (first on line " + std::to_string(first->second) +
                 ")");
        }
        key->set(KeyInput(file_, line, value, fresh), c_);
    }

    DaemonConfig finish() {
        line_ = 0;
        if (c_.interfaces.empty()) fail("no [interface NAME] section: nothing to serve");
        if (!c_.router.valid()) {
            fail(
                "timers: nak-elim-ivl must be shorter than nak-rdata-ivl, and "
                "nak-repeat-period must be positive");
        }
        if (seen_.contains("udp-ports") && c_.udp_ports.empty()) fail("udp-ports: no port given");
        for (const InterfaceConfig& i : c_.interfaces)
            check_interface_timers(i);
        return c_;
    }

  private:
    [[noreturn]] void fail(const std::string& reason) const {
        throw ConfigError(file_, line_, reason);
    }

    // D38: the timers in force on `i` (its own, else [timers]) obey the rules of [timers].
    void check_interface_timers(const InterfaceConfig& i) {
        const router::NakTimers t = c_.router.effective(i.router).timers;
        if (t.valid()) return;
        const std::string section = "interface " + i.name;
        auto line_of = [&](const char* key) {
            auto it = seen_.find(section + "." + key);
            return it == seen_.end() ? 0 : it->second;
        };
        auto value = [&](const char* key, const std::optional<Duration>& own, Duration global) {
            return std::string(key) + " " + duration_text(own.value_or(global)) +
                   (own ? "" : " from [timers]");
        };
        line_ = std::max(line_of("nak-elim-ivl"), line_of("nak-rdata-ivl"));
        fail("[" + section +
             "]: " + value("nak-elim-ivl", i.router.nak_elim_ivl, c_.router.nak_elim_ivl) +
             " must be shorter than " +
             value("nak-rdata-ivl", i.router.nak_rdata_ivl, c_.router.nak_rdata_ivl));
    }

    void apply_interface(const std::string& ifname, const std::string& key,
                         const std::string& value) {
        auto it = std::find_if(c_.interfaces.begin(), c_.interfaces.end(),
                               [&](const InterfaceConfig& i) { return i.name == ifname; });
        if (it == c_.interfaces.end()) {
            c_.interfaces.push_back(InterfaceConfig{ifname, {}, {}, true, {}, {}});
            it = c_.interfaces.end() - 1;
        }
        for (const InterfaceKey& k : kInterfaceKeys) {
            if (k.name == key) {
                const auto [first, fresh] = seen_.emplace("interface " + ifname + "." + key, line_);
                if (!k.list && !fresh) {
                    fail("'" + key + "' is given twice in [interface " + ifname +
                         "] (first on line " + std::to_string(first->second) + ")");
                }
                k.set(KeyInput(file_, line_, value, fresh), *it);
                return;
            }
        }
        fail("unknown key '" + key + "' in [interface " + ifname + "]");
    }

    const std::string& file_;
    DaemonConfig c_;
    int line_ = 0;
    std::map<std::string, int> seen_;  // each key's first line
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

std::optional<std::chrono::milliseconds> parse_milliseconds(std::string_view text) {
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

std::optional<Duration> parse_duration(std::string_view text) {
    const auto ms = parse_milliseconds(text);
    if (!ms || *ms > std::chrono::minutes(kMaxDurationMinutes)) return std::nullopt;
    return std::chrono::duration_cast<Duration>(*ms);
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
    for (const GlobalKey& k : kGlobalKeys)
        if (k.get(a) != k.get(b)) out.emplace_back(k.name);
    for (const InterfaceConfig& i : a.interfaces) {
        const InterfaceConfig* j = b.find_interface(i.name);
        const std::string section = "interface " + i.name;
        if (j == nullptr) {
            out.push_back(section + " (removed)");
            continue;
        }
        for (const InterfaceKey& k : kInterfaceKeys)
            if (k.get(i) != k.get(*j)) out.push_back(section + "." + std::string(k.name));
    }
    for (const InterfaceConfig& j : b.interfaces)
        if (a.find_interface(j.name) == nullptr) out.push_back("interface " + j.name + " (added)");
    return out;
}

void GlobalKeySetter::set(std::string_view key, const std::string& value, int line) {
    const GlobalKey* k = find_global(key);
    if (k == nullptr) throw ConfigError(origin_, line, "unknown key '" + std::string(key) + "'");
    if (value.empty()) throw ConfigError(origin_, line, "no value for '" + std::string(key) + "'");
    const auto first =
        std::find_if(seen_.begin(), seen_.end(), [&](const auto& s) { return s.first == key; });
    if (first != seen_.end() && !k->list) {
        throw ConfigError(
            origin_, line,
            "'" + std::string(key) + "' is given twice" +
                (first->second > 0 ? " (first on line " + std::to_string(first->second) + ")"
                                   : ""));
    }
    const bool fresh = first == seen_.end();
    k->set(KeyInput(origin_, line, value, fresh), config_);
    if (fresh) seen_.emplace_back(key, line);
}

std::vector<std::string> config_keys() {
    std::vector<std::string> keys;
    for (const GlobalKey& k : kGlobalKeys)
        keys.emplace_back(k.name);
    for (const InterfaceKey& k : kInterfaceKeys)
        keys.push_back(std::string(kInterfaceSection) + "NAME." + std::string(k.name));
    return keys;
}

std::string render_config(const DaemonConfig& c) {
    std::ostringstream out;
    // One key: its description and syntax as a comment, then its lines; an unset key is
    // left commented out, so that reading the text back leaves it unset.
    auto key = [&](std::string_view name, std::string_view syntax, std::string_view description,
                   const std::vector<std::string>& lines) {
        out << "# " << description << " (" << syntax << ")\n";
        if (lines.empty()) out << "# " << name << " =\n";
        for (const std::string& line : lines)
            out << name << " = " << line << "\n";
    };
    std::string section;
    for (const GlobalKey& k : kGlobalKeys) {
        const auto dot = k.name.find('.');
        const std::string key_section =
            dot == std::string_view::npos ? std::string() : std::string(k.name.substr(0, dot));
        if (key_section != section) {
            section = key_section;
            out << "\n[" << section << "]\n";
        }
        key(dot == std::string_view::npos ? k.name : k.name.substr(dot + 1), k.syntax,
            k.description, k.get(c));
    }
    for (const InterfaceConfig& i : c.interfaces) {
        out << "\n[" << kInterfaceSection << i.name << "]\n";
        for (const InterfaceKey& k : kInterfaceKeys)
            key(k.name, k.syntax, k.description, [&] {
                std::string value = k.get(i);
                return value.empty() ? std::vector<std::string>{}
                                     : std::vector<std::string>{std::move(value)};
            }());
    }
    return out.str();
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
