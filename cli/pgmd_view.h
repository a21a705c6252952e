// DOC: What pgmd lends the control dispatcher beyond the router (control::RouterView): the
// `show status`, `show groups` and `show running-config` JSON, built from the daemon, its
// membership and the process's own record (start time, configuration file, last reload, log
// levels), and the configured interfaces with their state. Keys in docs/pgmctl.md.
// Life cycle: `ProcessRecord` lives in pgmd's run() for the life of the process; the
// functions read the daemon on the loop thread at the moment of the request.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/router_json.h"
#include "dataplane/daemon.h"

namespace pgm::cli {

struct ProcessRecord {
    std::string version;
    std::string config_file;
    std::chrono::system_clock::time_point started_wall;
    Time started;  // steady
    dataplane::LogLevel configured_log_level = dataplane::LogLevel::Notice;
    struct Reload {
        std::chrono::system_clock::time_point at;
        bool ok = false;
        std::string message;
        std::vector<std::string> changed;
        std::vector<std::string> restart_needed;
    };
    std::optional<Reload> last_reload;
    // When the configuration in force was read: at start, then at each accepted reload.
    std::chrono::system_clock::time_point loaded_at;
};

nlohmann::json status_json(const dataplane::Daemon& d, const ProcessRecord& p, Time now);
nlohmann::json groups_json(const dataplane::Daemon& d, Time now);
std::vector<control::RouterView::ConfiguredInterface> configured_interfaces(
    const dataplane::Daemon& d);
// `show running-config`: the configuration in force as a pgmd.conf text (render_config)
// under a header saying where and when it was loaded and what overrides it at run time.
nlohmann::json running_config_json(const dataplane::Daemon& d, const ProcessRecord& p);
// `pgmctl set log-level`: "default" is the configured level; throws std::invalid_argument.
nlohmann::json set_log_level(const std::string& value, const ProcessRecord& p);

}  // namespace pgm::cli
