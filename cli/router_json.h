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
//   {"command":"show","what":"interfaces|sessions|repair|counters|dlr|fastpath","filter":{...}}
//   {"command":"clear","what":"counters|repair"}
//   {"command":"reload"}
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

#include "dataplane/control_server.h"
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

// One request, one reply. Commands that change state (clear, reload) need
// `peer.may_change_state`. Never throws on any request content.
Json handle_request(const Json& request, RouterView& view, const dataplane::PeerCredentials& peer);

}  // namespace pgm::control
