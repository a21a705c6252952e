// DOC: pgmd's metrics for Prometheus, exported the way daemons without an HTTP server do it:
// a file in the text exposition format (version 0.0.4) for the node exporter's textfile
// collector (`[metrics] textfile = PATH`, docs/configuration.md; the metric names are listed
// in docs/operations.md, "Metrics").
//
// Owns three things:
//  * prometheus_text(), a pure function from the control vocabulary's JSON (the "data" of
//    `show interfaces`, `show sessions`, `show counters` and `show fastpath`,
//    control/router_json.h) to the text: every counter pgmd shows is exported with the value pgmctl
//    shows, because both read the same JSON. Router counters keep their PGM-MIB name in snake case
//    (InSpms -> pgmd_interface_in_spms_total{interface="eth0"}, per session
//    pgmd_session_in_spms_total{interface,group,source,port,tsi}); session series are written
//    only once non-zero (a router may hold thousands of sessions, most counters stay 0);
//  * write_file_atomically(): a temporary file in the same directory, renamed over the
//    target, so the collector never reads half a file;
//  * TextfileExporter: writes the file every `interval` on the event loop, re-configured on
//    reload, and removes the file when it stops (a stopped pgmd exports nothing stale).
// Life cycle: the exporter is created by pgmd after the daemon and lives on the loop thread.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "dataplane/daemon_config.h"
#include "dataplane/event_loop.h"

namespace pgm::cli {

using Json = nlohmann::json;

// What one write exports. Each Json is the "data" of a control reply (docs/pgmctl.md).
struct Snapshot {
    Json interfaces;  // show interfaces
    Json sessions;    // show sessions
    Json counters;    // show counters (malformed_by_reason)
    Json fast_path;   // show fastpath; null: none
    bool per_session = true;
    std::string version;            // pgmd_info{version}
    double start_time_seconds = 0;  // Unix time pgmd started
};

// The text exposition format of `snapshot`: # HELP and # TYPE before each family, families
// in a fixed order, label values escaped. Never throws on missing keys (a key absent from
// the JSON is left out).
std::string prometheus_text(const Snapshot& snapshot);

// "InSpms" -> "in_spms", "NakForwardedDLR" -> "nak_forwarded_dlr".
std::string snake_case(std::string_view camel);

// What a counter of router::kCounterNames (or CaptureDrops, CaptureIfDrops) counts, for
// # HELP; empty for a name it does not know.
std::string_view counter_description(std::string_view name);

// Writes `text` to a temporary file next to `path` (mode 0644, so that the node exporter's
// user can read it), then renames it to `path`. Returns the error ("" on success); the
// temporary file never stays behind.
std::string write_file_atomically(const std::string& path, std::string_view text);
// Removes the temporary files of write_file_atomically() for `path` that a killed pgmd
// left behind (.BASE.XXXXXX beside it). Called when the exporter is configured.
void remove_stale_temporary_files(const std::string& path);

class TextfileExporter {
  public:
    TextfileExporter(dataplane::EventLoop& loop, std::function<Snapshot()> snapshot);
    ~TextfileExporter();  // removes the file
    TextfileExporter(const TextfileExporter&) = delete;
    TextfileExporter& operator=(const TextfileExporter&) = delete;

    // Start, stop, or change the file and interval (a new path removes the old file); writes
    // at once when enabled.
    void configure(const dataplane::MetricsConfig& config);
    void write_now();

  private:
    void arm();

    dataplane::EventLoop& loop_;
    std::function<Snapshot()> snapshot_;
    dataplane::MetricsConfig config_;
    dataplane::EventLoop::TimerId timer_ = 0;
    std::string last_error_;  // logged once until it changes or the writes succeed again
};

}  // namespace pgm::cli
