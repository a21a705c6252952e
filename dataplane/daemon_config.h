// DOC: pgmd's configuration file (docs/configuration.md): an INI file read with
// Boost.Program_options, turned into a `DaemonConfig` value, or refused with the file, line
// and reason.
//
// Owns the one table of keys (daemon_config.cc kGlobalKeys, kInterfaceKeys): for each key
// its syntax, description, setter (parse, check, assign) and getter (the value as config
// text). The table drives parsing, `pgmd --config-keys`, changed_keys() and
// render_config(); the defaults are those of the structures below, as the getters write
// them. Boost.Program_options tokenises the file but knows no line numbers, so the file is
// pre-scanned here first: the scan checks the syntax line by line and records the line of
// each `key = value`, in the order Boost returns them, so that every later error can name
// its line.
// Life cycle: a pure function of the file's text, called at start-up, by `pgmd -F` and on
// SIGHUP (a refused reload keeps the running configuration).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/defaults.h"
#include "protocol/io.h"
#include "protocol/nla.h"
#include "router/config.h"

namespace pgm::dataplane {

// IGMP router timers (RFC 2236 §8, RFC 3376 §8), the names and defaults of the RFCs.
struct IgmpTimers {
    unsigned robustness = 2;
    Duration query_interval = std::chrono::seconds(125);
    Duration query_response_interval = std::chrono::seconds(10);
    Duration last_member_query_interval = std::chrono::seconds(1);

    // How long a group stays a member without a report (RFC 3376 §8.4).
    Duration group_membership_interval() const {
        return robustness * query_interval + query_response_interval;
    }
    // How long a querier that heard a lower-addressed querier stays silent (§8.5).
    Duration other_querier_present_interval() const {
        return robustness * query_interval + query_response_interval / 2;
    }
    Duration startup_query_interval() const { return query_interval / 4; }
    // Time from a leave to the group's removal when nobody answers (§8.8 LMQT).
    Duration last_member_query_time() const { return robustness * last_member_query_interval; }
    friend bool operator==(const IgmpTimers&, const IgmpTimers&) = default;
};

// A source-specific membership or join: traffic of `group` from `source` only (SSM).
struct SourceGroup {
    Nla source;
    Nla group;
    friend bool operator==(const SourceGroup&, const SourceGroup&) = default;
};

struct InterfaceConfig {
    std::string name;
    // Groups with members on this interface whatever IGMP says.
    std::vector<Nla> static_groups;
    // Groups pgmd joins on this interface (IP_ADD_MEMBERSHIP), so that upstream routers and
    // IGMP-snooping bridges deliver them to pgmd: on the interfaces towards the sources.
    std::vector<Nla> join_groups;
    // Act as IGMP querier on this interface unless a lower-addressed querier is heard.
    bool igmp_querier = true;
    // `static-groups = GROUP source ADDRESS`: members of GROUP for that source only.
    std::vector<SourceGroup> static_sources;
    // `join-groups = GROUP source ADDRESS`: joined for that source only
    // (MCAST_JOIN_SOURCE_GROUP), as SSM groups (232/8) need.
    std::vector<SourceGroup> join_sources;
    // Add the IP Router Alert option to what pgmd sends out of this interface (SPM, NCF,
    // RDATA, POLL, as RFC 3208 asks). Off for paths through equipment that drops packets
    // with IP options: pgmd captures PGM whatever its options, other PGM routers may not.
    bool router_alert = true;
    // The router core's settings for this interface (decisions.md D38): its NAK timers and
    // NAK rate caps (unset: the [timers] and [limits] values) and router assist on or off.
    router::InterfaceSettings router = {};
    friend bool operator==(const InterfaceConfig&, const InterfaceConfig&) = default;
};

struct ControlConfig {
    std::string socket = kDefaultControlSocket;
    mode_t mode = kDefaultControlSocketMode;
    std::string group;   // empty: the daemon's own group
    int group_line = 0;  // where `group` was given (its error names the line)

    // The keys whose change a reload cannot apply (they take effect at the next start).
    friend bool operator==(const ControlConfig& a, const ControlConfig& b) {
        return a.socket == b.socket && a.mode == b.mode && a.group == b.group;
    }
};

// The capture ring of each served interface (libpcap's buffer size): packets that arrive
// while it is full are dropped by the kernel (counted as CaptureDrops). 8 MiB holds about
// 5000 packets of a 1500-byte MTU (dataplane/capture.cc).
inline constexpr std::size_t kDefaultCaptureBufferBytes = std::size_t{8} << 20;
inline constexpr std::size_t kMinCaptureBufferBytes = std::size_t{64} << 10;
inline constexpr std::size_t kMaxCaptureBufferBytes = std::size_t{1} << 30;

struct CaptureConfig {
    std::size_t buffer_bytes = kDefaultCaptureBufferBytes;
    friend bool operator==(const CaptureConfig&, const CaptureConfig&) = default;
};

// The kernel fast path (dataplane/fastpath.h, decisions.md D31): eligible ODATA forwarded by
// an eBPF program on each served interface, pgmd the control plane.
enum class FastPathMode : std::uint8_t {
    Auto,  // use it where it loads, else the user-space path (logged once, with the reason)
    On,    // refuse to start without it
    Off,   // the user-space path only (every packet through pgmd)
};
std::optional<FastPathMode> parse_fast_path_mode(std::string_view text);
const char* to_string(FastPathMode mode);

// What pgmd leaves in the kernel when it exits on SIGTERM/SIGINT.
enum class FastPathExit : std::uint8_t {
    Remove,    // detach the programs: the router stops forwarding the groups
    FailOpen,  // leave them: once the heartbeat is stale they forward every PGM packet of
               // the groups as a plain multicast router would, until pgmd starts again
};

inline constexpr Duration kDefaultFailOpenAfter = std::chrono::seconds(1);
inline constexpr Duration kMinFailOpenAfter = std::chrono::milliseconds(100);
inline constexpr Duration kMaxFailOpenAfter = std::chrono::seconds(60);

struct DataplaneConfig {
    FastPathMode fast_path = FastPathMode::Auto;
    // The program fails open when pgmd's heartbeat is older than this.
    Duration fail_open_after = kDefaultFailOpenAfter;
    FastPathExit on_exit = FastPathExit::Remove;
    friend bool operator==(const DataplaneConfig&, const DataplaneConfig&) = default;
};

// The Prometheus textfile (cli/metrics.h): written every `interval` when `textfile` is set.
inline constexpr Duration kDefaultMetricsInterval = std::chrono::seconds(15);
inline constexpr Duration kMinMetricsInterval = std::chrono::seconds(1);
inline constexpr Duration kMaxMetricsInterval = std::chrono::hours(1);

struct MetricsConfig {
    std::string textfile;  // absolute, ending in .prom; empty: no metrics
    Duration interval = kDefaultMetricsInterval;
    bool sessions = true;   // per-session series too
    int textfile_line = 0;  // where `textfile` was given (its directory's error names it)
    friend bool operator==(const MetricsConfig& a, const MetricsConfig& b) {
        return a.textfile == b.textfile && a.interval == b.interval && a.sessions == b.sessions;
    }
};

enum class LogLevel : std::uint8_t { None, Error, Warning, Notice, Info, Debug };
std::optional<LogLevel> parse_log_level(std::string_view text);
const char* to_string(LogLevel level);

struct DaemonConfig {
    router::RouterConfig router;
    std::vector<std::uint16_t> udp_ports{kDefaultUdpEncapsulationPort};
    std::vector<InterfaceConfig> interfaces;
    IgmpTimers igmp;
    ControlConfig control;
    CaptureConfig capture;
    DataplaneConfig dataplane;
    MetricsConfig metrics;
    LogLevel log_level = LogLevel::Notice;

    const InterfaceConfig* find_interface(std::string_view name) const;
};

class ConfigError : public std::runtime_error {
  public:
    ConfigError(const std::string& file, int line, const std::string& reason);
    const std::string& file() const { return file_; }
    int line() const { return line_; }  // 0 when the error is about the file as a whole
    const std::string& reason() const { return reason_; }

  private:
    std::string file_;
    int line_;
    std::string reason_;
};

// Parses a whole configuration file; `file_name` is used in error messages only.
// Throws ConfigError.
DaemonConfig parse_config(std::istream& in, const std::string& file_name);
// Reads and parses `path`, and checks that [control] group and the directory of [metrics]
// textfile exist. Throws ConfigError (also
// when the file cannot be read, with strerror's reason).
DaemonConfig load_config(const std::string& path);

// Every key the file accepts: "key" (global), "section.key", and "interface NAME.key" for the
// keys of [interface NAME] sections. `pgmd --config-keys` prints them (pgmd.conf(5) is checked
// against that list).
std::vector<std::string> config_keys();

// The keys whose effective value differs between `running` and `next` ("timers.nak-rpt-ivl",
// "interface eth1.static-groups"; an interface section added or removed as
// "interface eth1"), in config_keys() order: what a reload reports as changed.
std::vector<std::string> changed_keys(const DaemonConfig& running, const DaemonConfig& next);

// The configuration in force as a pgmd.conf text that parse_config() reads back to the same
// configuration: every key of every section with its value, defaults included, each after a
// comment with its description and syntax; a key that is not set (a list with no entries, an
// optional path) is written commented out. `pgmctl show running-config` shows it.
std::string render_config(const DaemonConfig& config);

// Sets keys of the table outside [interface NAME] sections ("timers.nak-rpt-ivl", "2s") on
// `config` one at a time, as the lines of one file would: the same checks and messages, a
// key given twice refused unless it is a list key, a list key replacing what `config` had
// at its first line and adding up after. `origin` and each line name where a value came
// from in a ConfigError (line 0: no line). Cross-key checks (RouterConfig::valid()) are the
// caller's. pgmsim sets each simulated router's options this way, so that they are pgmd's
// own keys.
class GlobalKeySetter {
  public:
    GlobalKeySetter(DaemonConfig& config, std::string origin)
        : config_(config), origin_(std::move(origin)) {}
    // Throws ConfigError.
    void set(std::string_view key, const std::string& value, int line);

  private:
    DaemonConfig& config_;
    std::string origin_;
    std::vector<std::pair<std::string, int>> seen_;  // key, line
};

// The longest duration any key accepts: 24 h. Longer ones would serve no key, and at nine
// digits of minutes they would overflow Duration (nanoseconds) into negative deadlines.
inline constexpr std::int64_t kMaxDurationMinutes = 24 * 60;
// "100ms", "5s", "2min": a number (up to nine digits) and a unit (ms, s, min), in
// milliseconds (no overflow). nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_milliseconds(std::string_view text);
// The same as a Duration; nullopt also when longer than kMaxDurationMinutes.
std::optional<Duration> parse_duration(std::string_view text);

}  // namespace pgm::dataplane
