// DOC: The JSON description of the network element's state, and the control requests that
// read or change it: the one vocabulary shared by pgmd's control socket, `pgmctl -j`, the
// text tables pgmctl renders from that JSON, and any exporter (docs/pgmctl.md lists every
// key).
//
// Owns the key names and the request dispatch; owns no state. Everything is read from the
// router::Router at the moment of the request, with "now" and interface names supplied by
// the daemon through `RouterView`, so a test can pin the clock. Counter keys are the
// PGM-MIB names of router::kCounterNames; TSIs are written "gsi-hex.port" as pgmdump writes
// them; interface counter objects and totals add CaptureDrops and CaptureIfDrops, the
// packets the daemon's captures lost (RouterView::capture_drops). Requests (one JSON object
// each):
//   {"command":"ping"}
//   {"command":"show","what":"interfaces|sessions|repair|counters|dlr|fastpath|status|groups|
//                              running-config",
//    "filter":{...}}
//   {"command":"clear","what":"counters|repair","filter":{...}}   counters: interface or tsi;
//                                                                 repair: group and/or tsi
//   {"command":"set","what":"log-level","value":"LEVEL|default"}
//   {"command":"reload"}
// A filter naming an interface nobody knows (not configured, never seen) is an error, not an
// empty table.
// Replies: {"ok":true,"data":{...}} or {"ok":false,"error":"..."}.
//
// Life cycle: none; every function is a pure read of the router, except the clear commands.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "control/server.h"
#include "protocol/io.h"
#include "protocol/packet.h"
#include "router/router.h"

namespace pgm::control {

using Json = nlohmann::json;

struct ReloadResult {
    bool ok = false;
    std::string message;  // why it failed, or what changed
    // Keys ("control.mode") whose new value the running daemon cannot apply: they take
    // effect at the next start. The reply lists them (restart_needed).
    std::vector<std::string> restart_needed = {};
    // Keys whose value changed (dataplane::changed_keys); the reply lists them (changed).
    std::vector<std::string> changed = {};
};

// Packets an interface's capture lost before pgmd saw them (dataplane::Capture::Drops),
// shown beside the router's counters as CaptureDrops and CaptureIfDrops.
struct CaptureDrops {
    std::uint64_t kernel = 0;     // CaptureDrops: the kernel's capture ring was full
    std::uint64_t interface = 0;  // CaptureIfDrops: dropped by the interface or driver
};
inline constexpr const char* kCaptureDropsName = "CaptureDrops";
inline constexpr const char* kCaptureIfDropsName = "CaptureIfDrops";

// What the daemon lends the dispatcher for one request.
struct RouterView {
    router::Router& router;
    // Kernel name of an interface; "" when unknown (the JSON then has null).
    std::function<std::string(IfIndex)> interface_name;
    // The time the router is being driven with (steady clock).
    std::function<Time()> now;
    // Re-reads the configuration. Empty: this daemon cannot reload.
    std::function<ReloadResult()> reload;
    // Called after a command changed router state (clear), so the daemon can re-arm its
    // timer to router.next_deadline(). May be empty.
    std::function<void()> state_changed;
    // Capture drops per interface, read now; interfaces listed here are shown even when the
    // router has seen no packet on them. Empty: no capture (every count shown as 0).
    std::function<std::map<IfIndex, CaptureDrops>()> capture_drops;
    // Zeroes them (`clear counters`). May be empty.
    std::function<void()> clear_capture_drops;
    // The kernel fast path's state (`show fastpath`, keys in docs/pgmctl.md), built by the
    // daemon. Empty: no fast path in this program ({"mode":"off"}).
    std::function<Json()> fast_path;
    // `show status`: the daemon's part (version, pid, uptime, configuration file, last
    // reload, log level, fast path; keys in docs/pgmctl.md). Sessions and repair states are
    // counted here. Empty: only those counts.
    std::function<Json()> status;
    // `show groups`: {"interfaces":[...]} with each interface's groups (keys in
    // docs/pgmctl.md); filtered here. Empty: no membership in this program.
    std::function<Json()> groups;
    // The configured interfaces and their state ("served", "down", "absent"). Empty: every
    // interface the router knows is shown without a state.
    struct ConfiguredInterface {
        std::string name;
        std::optional<IfIndex> ifindex;
        std::string state;
        // As configured (`show interfaces` shows them resolved, decisions.md D38); unset:
        // the defaults, and Router Alert unknown (null).
        router::InterfaceSettings settings = {};
        std::optional<bool> router_alert = {};
    };
    std::function<std::vector<ConfiguredInterface>()> configured_interfaces;
    // Zeroes one interface's capture drops (`clear counters interface IF`). May be empty.
    std::function<void(IfIndex)> clear_interface_capture_drops;
    // Sets the log level ("default": the configuration's); returns {"log_level",
    // "configured_log_level"}. Throws std::invalid_argument for an unknown level. Empty:
    // this program has no log.
    std::function<Json(const std::string& level)> set_log_level;
    // The interfaces with members of a group: a session's outgoing interfaces are these but
    // its upstream. Empty: not known (the sessions then list none).
    std::function<std::vector<IfIndex>(const Nla& source, const Nla& group)> members;
    // `show running-config`: {"file", "loaded_at", "overrides", "text"} (docs/pgmctl.md), the
    // configuration in force as a file. Empty: this program has no configuration file.
    std::function<Json()> running_config;
};

// Which interfaces, groups and sessions to show. Empty members match everything.
struct Filter {
    std::optional<std::string> interface;  // kernel name or decimal ifindex
    std::optional<Nla> group;
    std::optional<Tsi> tsi;
};

std::string tsi_to_string(const Tsi& tsi);
// "gsi-hex.port": 12 hex digits, a dot, a decimal port. nullopt otherwise.
std::optional<Tsi> parse_tsi(std::string_view text);

// The "data" of each show command (keys in docs/pgmctl.md).
Json interfaces_json(const RouterView& view, const Filter& filter);
Json sessions_json(const RouterView& view, const Filter& filter);
Json repair_json(const RouterView& view, const Filter& filter);
Json counters_json(const RouterView& view, const Filter& filter);
Json dlr_json(const RouterView& view);
Json status_json(const RouterView& view);
Json groups_json(const RouterView& view, const Filter& filter);

// One request, one reply. Commands that change state (clear, reload) need
// `peer.may_change_state`. Never throws on any request content.
Json handle_request(const Json& request, RouterView& view, const PeerCredentials& peer);

}  // namespace pgm::control
