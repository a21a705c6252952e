#include "control/router_json.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

namespace pgm::control {

namespace {

using router::Counter;
using router::CounterSet;
using router::RepairEntry;
using router::RepairKey;
using router::RepairPhase;
using router::Session;

// A request the dispatcher refuses; its message is the reply's "error".
class RequestError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Key names of ParseError, in enum order from Truncated: the enumerator names, in the same
// CamelCase as the counter names. The static_assert catches an enumerator added at the end.
constexpr std::array<const char*, 21> kParseErrorNames = {
    "Truncated",
    "BadVersion",
    "ReservedBitsSet",
    "UnknownType",
    "UnknownOptionFlags",
    "BadChecksum",
    "MissingChecksum",
    "TsduLengthMismatch",
    "UnknownAfi",
    "OptionsPresentMismatch",
    "OptLengthMissing",
    "OptLengthBad",
    "OptionsTotalMismatch",
    "OptionTruncated",
    "OptionLengthBad",
    "OptionEndMissing",
    "TooManyOptions",
    "DuplicateOption",
    "OptionNotAllowed",
    "NakListBad",
    "NetworkFlagMismatch",
};
static_assert(static_cast<std::size_t>(ParseError::NetworkFlagMismatch) == kParseErrorNames.size(),
              "a ParseError was added: name it in kParseErrorNames");

// Seconds, to the millisecond: enough for timers of 100 ms and up, and stable in tests.
double seconds(Duration d) {
    return std::round(std::chrono::duration<double>(d).count() * 1000.0) / 1000.0;
}

// Time left until `deadline`; 0 when it has passed (the daemon's timer is about to run).
double seconds_left(Time deadline, Time now) {
    return deadline <= now ? 0.0 : seconds(deadline - now);
}

Json name_or_null(const RouterView& view, IfIndex ifindex) {
    std::string name = view.interface_name ? view.interface_name(ifindex) : std::string();
    return name.empty() ? Json(nullptr) : Json(std::move(name));
}

Json interface_ref(const RouterView& view, IfIndex ifindex) {
    return Json{{"ifindex", ifindex}, {"name", name_or_null(view, ifindex)}};
}

bool interface_matches(const RouterView& view, const Filter& filter, IfIndex ifindex) {
    if (!filter.interface) return true;
    if (*filter.interface == std::to_string(ifindex)) return true;
    return view.interface_name && view.interface_name(ifindex) == *filter.interface;
}

Json counters_object(const CounterSet& counters) {
    Json out = Json::object();
    for (std::size_t i = 0; i < router::kCounterCount; ++i)
        out[router::kCounterNames[i]] = counters.values[i];
    return out;
}

// An interface's counters: the router's, then what its captures lost.
Json interface_counters_object(const CounterSet& counters, const CaptureDrops& drops) {
    Json out = counters_object(counters);
    out[kCaptureDropsName] = drops.kernel;
    out[kCaptureIfDropsName] = drops.interface;
    return out;
}

// The state pgmctl shows for `ifindex`: the configured interface's, "unconfigured" for one
// the router has state for but the configuration no longer names; null when unknown.
Json interface_state(const RouterView& view, IfIndex ifindex) {
    if (!view.configured_interfaces) return nullptr;
    for (const auto& c : view.configured_interfaces())
        if (c.ifindex == ifindex) return c.state;
    return "unconfigured";
}

// The settings in force on an interface (decisions.md D38): the router's for one it serves
// (a slot of its own, not released by interface_down), else the configured ones resolved
// against the global values (the router's slot keeps what was set before it went down or
// left the configuration); Router Alert as configured (null when the program does not say).
Json interface_settings(const RouterView& view, std::optional<IfIndex> ifindex,
                        const RouterView::ConfiguredInterface* configured) {
    const router::Router& r = view.router;
    std::optional<router::EffectiveInterfaceSettings> e;
    if (ifindex)
        for (const auto& i : r.interfaces())
            if (i.ifindex == *ifindex && !i.released) e = i.effective;
    if (!e)
        e = r.config().effective(configured ? configured->settings : router::InterfaceSettings{});
    Json alert = nullptr;
    if (configured && configured->router_alert) alert = *configured->router_alert;
    return Json{{"router_assist", e->router_assist},
                {"router_alert", alert},
                {"max_naks_per_second", e->max_naks_per_second},
                {"max_naks_per_second_per_neighbour", e->max_naks_per_second_per_neighbour},
                {"nak_repeat_period", seconds(e->timers.repeat_period)},
                {"nak_rpt_ivl", seconds(e->timers.rpt_ivl)},
                {"nak_rdata_ivl", seconds(e->timers.rdata_ivl)},
                {"nak_elim_ivl", seconds(e->timers.elim_ivl)}};
}

// A filter naming an interface must name one pgmd knows: configured, or seen by the router.
void require_known_interface(const RouterView& view, const Filter& filter,
                             const std::map<IfIndex, CaptureDrops>& drops);

std::map<IfIndex, CaptureDrops> capture_drops_of(const RouterView& view) {
    return view.capture_drops ? view.capture_drops() : std::map<IfIndex, CaptureDrops>{};
}

// One row of `show interfaces` and `show counters`: an interface the router has state for,
// or one the daemon captures on (router counters then all 0).
struct InterfaceRow {
    IfIndex ifindex;
    CounterSet counters;
    CaptureDrops drops;
};

// The interfaces matching `filter`, by ifindex.
std::vector<InterfaceRow> interface_rows(const RouterView& view, const Filter& filter,
                                         const std::map<IfIndex, CaptureDrops>& drops) {
    std::map<IfIndex, InterfaceRow> rows;
    for (const auto& i : view.router.interfaces())
        rows.emplace(i.ifindex, InterfaceRow{i.ifindex, i.counters, {}});
    for (const auto& [ifindex, d] : drops)
        rows.try_emplace(ifindex, InterfaceRow{ifindex, {}, {}}).first->second.drops = d;
    std::vector<InterfaceRow> out;
    for (auto& [ifindex, row] : rows)
        if (interface_matches(view, filter, ifindex)) out.push_back(std::move(row));
    return out;
}

const char* encapsulation_name(Encapsulation e) {
    return e == Encapsulation::Udp ? "udp" : "native";
}

const Session* session_of(const RouterView& view, const Tsi& tsi) {
    auto it = view.router.sessions().find(tsi);
    return it == view.router.sessions().end() ? nullptr : &it->second;
}

bool session_matches(const RouterView& view, const Filter& filter, const Tsi& tsi,
                     const Session& s) {
    if (filter.tsi && !(*filter.tsi == tsi)) return false;
    if (filter.group && !(*filter.group == s.group)) return false;
    return interface_matches(view, filter, s.upstream_interface);
}

std::string hex(const Gsi& gsi) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t b : gsi.bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 0x0F];
    }
    return out;
}

// --- Requests -------------------------------------------------------------------------------

Json ok(Json data) {
    return Json{{"ok", true}, {"data", std::move(data)}};
}

Json failure(std::string message) {
    return Json{{"ok", false}, {"error", std::move(message)}};
}

std::string string_member(const Json& request, const char* key) {
    auto it = request.find(key);
    if (it == request.end()) throw RequestError(std::string("request has no \"") + key + "\"");
    if (!it->is_string()) throw RequestError(std::string("\"") + key + "\" must be a string");
    return it->get<std::string>();
}

void allow_only(const Json& object, std::initializer_list<std::string_view> keys,
                const std::string& where) {
    for (const auto& [key, value] : object.items())
        if (std::find(keys.begin(), keys.end(), key) == keys.end())
            throw RequestError("unknown key \"" + key + "\" in " + where);
}

Filter parse_filter(const Json& request, const std::string& what,
                    std::initializer_list<std::string_view> allowed, const char* verb = "show") {
    Filter filter;
    auto it = request.find("filter");
    if (it == request.end() || it->is_null()) return filter;
    if (!it->is_object()) throw RequestError("\"filter\" must be an object");
    for (const auto& [key, value] : it->items()) {
        if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
            throw RequestError(std::string(verb) + " " + what + " cannot be filtered by " + key);
    }
    if (auto f = it->find("interface"); f != it->end()) {
        if (f->is_string())
            filter.interface = f->get<std::string>();
        else if (f->is_number_integer() && f->get<std::int64_t>() >= 0)
            filter.interface = std::to_string(f->get<std::int64_t>());
        else
            throw RequestError("filter interface must be a name or an ifindex");
    }
    if (auto f = it->find("group"); f != it->end()) {
        std::optional<Nla> group =
            f->is_string() ? Nla::parse(f->get<std::string>()) : std::nullopt;
        if (!group) throw RequestError("filter group must be an IPv4 or IPv6 address");
        filter.group = *group;
    }
    if (auto f = it->find("tsi"); f != it->end()) {
        std::optional<Tsi> tsi = f->is_string() ? parse_tsi(f->get<std::string>()) : std::nullopt;
        if (!tsi) throw RequestError("filter tsi must be GSI.PORT (12 hex digits, a dot, a port)");
        filter.tsi = *tsi;
    }
    return filter;
}

Filter known(const RouterView& view, Filter filter) {
    require_known_interface(view, filter, capture_drops_of(view));
    return filter;
}

Json show(const Json& request, RouterView& view) {
    const std::string what = string_member(request, "what");
    if (what == "interfaces")
        return interfaces_json(view, known(view, parse_filter(request, what, {"interface"})));
    if (what == "sessions")
        return sessions_json(
            view, known(view, parse_filter(request, what, {"interface", "group", "tsi"})));
    if (what == "repair")
        return repair_json(view,
                           known(view, parse_filter(request, what, {"interface", "group", "tsi"})));
    if (what == "counters")
        return counters_json(view, known(view, parse_filter(request, what, {"interface"})));
    if (what == "groups")
        return groups_json(view, known(view, parse_filter(request, what, {"interface", "group"})));
    if (what == "status") {
        parse_filter(request, what, {});
        return status_json(view);
    }
    if (what == "dlr") {
        parse_filter(request, what, {});
        return dlr_json(view);
    }
    if (what == "running-config") {
        parse_filter(request, what, {});
        if (!view.running_config) throw RequestError("this program has no configuration file");
        return view.running_config();
    }
    if (what == "fastpath") {
        parse_filter(request, what, {});
        if (view.fast_path) return view.fast_path();
        return Json{{"mode", "off"},
                    {"reason", "this program has no kernel fast path"},
                    {"interfaces", Json::array()}};
    }
    throw RequestError("cannot show \"" + what +
                       "\" (status, interfaces, groups, sessions, repair, counters, dlr, "
                       "fastpath or running-config)");
}

void require_permission(const PeerCredentials& peer, const std::string& command) {
    if (!peer.may_change_state)
        throw RequestError("permission denied: " + command +
                           " changes state and needs root or the control socket's group");
}

// The ifindex a known interface filter names (require_known_interface has run).
IfIndex filtered_ifindex(const RouterView& view, const Filter& filter,
                         const std::map<IfIndex, CaptureDrops>& drops) {
    for (const auto& i : view.router.interfaces())
        if (interface_matches(view, filter, i.ifindex)) return i.ifindex;
    for (const auto& [ifindex, d] : drops)
        if (interface_matches(view, filter, ifindex)) return ifindex;
    if (view.configured_interfaces)
        for (const auto& c : view.configured_interfaces())
            if (c.ifindex && interface_matches(view, filter, *c.ifindex)) return *c.ifindex;
    throw RequestError("interface " + *filter.interface + " has no index now (absent)");
}

Json clear(const Json& request, RouterView& view, const PeerCredentials& peer) {
    const std::string what = string_member(request, "what");
    if (what != "counters" && what != "repair")
        throw RequestError("cannot clear \"" + what + "\" (counters or repair)");
    const Filter filter = what == "counters"
                              ? parse_filter(request, what, {"interface", "tsi"}, "clear")
                              : parse_filter(request, what, {"group", "tsi"}, "clear");
    if (filter.interface && filter.tsi)
        throw RequestError("clear counters takes an interface or a tsi, not both");
    const auto drops = capture_drops_of(view);
    require_known_interface(view, filter, drops);
    require_permission(peer, "clear " + what);
    Json data{{"cleared", what}};
    if (what == "counters") {
        if (filter.interface) {
            const IfIndex ifindex = filtered_ifindex(view, filter, drops);
            view.router.clear_interface_counters(ifindex);
            if (view.clear_interface_capture_drops) view.clear_interface_capture_drops(ifindex);
            data["interface"] = interface_ref(view, ifindex);
        } else if (filter.tsi) {
            if (!view.router.clear_session_counters(*filter.tsi))
                throw RequestError("no session " + tsi_to_string(*filter.tsi));
            data["tsi"] = tsi_to_string(*filter.tsi);
        } else {
            view.router.clear_counters();
            if (view.clear_capture_drops) view.clear_capture_drops();
        }
    } else {
        data["removed"] = view.router.clear_repairs(router::RepairScope{filter.group, filter.tsi});
        if (filter.group) data["group"] = filter.group->to_string();
        if (filter.tsi) data["tsi"] = tsi_to_string(*filter.tsi);
    }
    if (view.state_changed) view.state_changed();
    return data;
}

Json set(const Json& request, RouterView& view, const PeerCredentials& peer) {
    const std::string what = string_member(request, "what");
    if (what != "log-level") throw RequestError("cannot set \"" + what + "\" (log-level)");
    const std::string value = string_member(request, "value");
    require_permission(peer, "set " + what);
    if (!view.set_log_level) throw RequestError("this daemon has no log level to set");
    try {
        return view.set_log_level(value);
    } catch (const std::invalid_argument& e) {
        throw RequestError(e.what());
    }
}

Json reload(RouterView& view, const PeerCredentials& peer) {
    require_permission(peer, "reload");
    if (!view.reload) throw RequestError("this daemon cannot reload its configuration");
    ReloadResult r = view.reload();
    if (!r.ok) throw RequestError("reload failed: " + r.message);
    Json reply{{"reloaded", true}, {"message", r.message}, {"changed", r.changed}};
    if (!r.restart_needed.empty()) reply["restart_needed"] = r.restart_needed;
    return reply;
}

}  // namespace

std::string tsi_to_string(const Tsi& tsi) {
    return hex(tsi.gsi) + "." + std::to_string(tsi.source_port);
}

std::optional<Tsi> parse_tsi(std::string_view text) {
    constexpr std::size_t kGsiDigits = 12;
    if (text.size() < kGsiDigits + 2 || text[kGsiDigits] != '.') return std::nullopt;
    Tsi tsi;
    for (std::size_t i = 0; i < tsi.gsi.bytes.size(); ++i) {
        unsigned value = 0;
        const char* first = text.data() + 2 * i;
        auto [end, error] = std::from_chars(first, first + 2, value, 16);
        if (error != std::errc() || end != first + 2) return std::nullopt;
        tsi.gsi.bytes[i] = static_cast<std::uint8_t>(value);
    }
    const std::string_view port = text.substr(kGsiDigits + 1);
    std::uint16_t value = 0;
    auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value, 10);
    if (error != std::errc() || end != port.data() + port.size()) return std::nullopt;
    tsi.source_port = value;
    return tsi;
}

Json interfaces_json(const RouterView& view, const Filter& filter) {
    const router::Router& r = view.router;
    std::map<IfIndex, std::uint64_t> upstream_sessions;
    for (const auto& [tsi, s] : r.sessions())
        upstream_sessions[s.upstream_interface]++;
    std::map<IfIndex, std::uint64_t> repair_states;
    for (const auto& [key, e] : r.repairs())
        for (IfIndex i : r.interfaces_of(e.interfaces))
            repair_states[i]++;
    std::map<IfIndex, std::uint64_t> nak_neighbours;  // NAK sources with a bucket (D36)
    for (const auto& i : r.interfaces())
        nak_neighbours[i.ifindex] = i.nak_neighbours.size();

    std::vector<RouterView::ConfiguredInterface> configured;
    if (view.configured_interfaces) configured = view.configured_interfaces();
    auto configured_as = [&](IfIndex ifindex) -> const RouterView::ConfiguredInterface* {
        for (const auto& c : configured)
            if (c.ifindex == ifindex) return &c;
        return nullptr;
    };

    Json list = Json::array();
    for (const InterfaceRow& i : interface_rows(view, filter, capture_drops_of(view))) {
        Json j = interface_ref(view, i.ifindex);
        if (Json state = interface_state(view, i.ifindex); !state.is_null()) j["state"] = state;
        j["upstream_sessions"] = upstream_sessions[i.ifindex];
        j["repair_states"] = repair_states[i.ifindex];
        j["nak_neighbours"] = nak_neighbours[i.ifindex];
        j["settings"] = interface_settings(view, i.ifindex, configured_as(i.ifindex));
        j["counters"] = interface_counters_object(i.counters, i.drops);
        list.push_back(std::move(j));
    }
    // Configured interfaces the router has no row for (absent, or down since start).
    if (view.configured_interfaces) {
        for (const auto& c : configured) {
            const bool listed = std::any_of(list.begin(), list.end(), [&](const Json& j) {
                return c.ifindex && j["ifindex"] == *c.ifindex;
            });
            if (listed) continue;
            if (filter.interface && *filter.interface != c.name &&
                !(c.ifindex && *filter.interface == std::to_string(*c.ifindex)))
                continue;
            list.push_back(Json{{"ifindex", c.ifindex ? Json(*c.ifindex) : Json(nullptr)},
                                {"name", c.name},
                                {"state", c.state},
                                {"upstream_sessions", 0},
                                {"repair_states", 0},
                                {"nak_neighbours", 0},
                                {"settings", interface_settings(view, c.ifindex, &c)},
                                {"counters", interface_counters_object({}, {})}});
        }
    }
    return Json{{"interfaces", std::move(list)}};
}

namespace {

// The DLRs a session's NAKs may be redirected to (decisions.md D28), upstream first: the
// PGM-MIB's pgmNeTsiDlrAddress and the dlrCanProvideParity state bit, with where and when
// each was learnt.
Json dlrs_of(const RouterView& view, const router::RedirectState& redirect, Time now) {
    Json list = Json::array();
    auto add = [&](const char* role, const std::optional<router::DlrRecord>& record) {
        if (!record) return;
        list.push_back(Json{{"role", role},
                            {"address", record->nla.to_string()},
                            {"ifindex", record->ifindex},
                            {"interface", name_or_null(view, record->ifindex)},
                            {"can_provide_parity", record->parity},
                            {"learnt_age_s", seconds(now - record->learnt)}});
    };
    add("upstream", redirect.upstream);
    add("off-tree", redirect.off_tree);
    return list;
}

}  // namespace

Json sessions_json(const RouterView& view, const Filter& filter) {
    const router::Router& r = view.router;
    const Time now = view.now();
    std::unordered_map<Tsi, std::uint64_t> repair_states;
    for (const auto& [key, e] : r.repairs())
        repair_states[key.tsi]++;

    struct Row {
        std::string name;
        Tsi tsi;
        const Session* session;
    };
    std::vector<Row> rows;
    for (const auto& [tsi, s] : r.sessions())
        if (session_matches(view, filter, tsi, s)) rows.push_back(Row{tsi_to_string(tsi), tsi, &s});
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.name < b.name; });
    Json list = Json::array();
    for (const auto& [name, tsi, s] : rows) {
        const Time expires = s->last_spm + r.config().session_lifetime;
        Json j;
        j["tsi"] = name;
        j["gsi"] = hex(tsi.gsi);
        j["source_port"] = tsi.source_port;
        j["source"] = s->source.to_string();
        j["group"] = s->group.to_string();
        j["data_destination_port"] = s->data_destination_port;
        j["upstream_neighbour"] = s->upstream_neighbour.to_string();
        j["upstream_ifindex"] = s->upstream_interface;
        j["upstream_interface"] = name_or_null(view, s->upstream_interface);
        j["last_spm_sqn"] = s->last_spm_sqn.value();
        j["trail"] = s->window.trail.value();
        j["lead"] = s->window.lead.value();
        j["window_size"] = s->window.size();
        j["age_s"] = seconds(now - s->created);
        j["last_spm_age_s"] = seconds(now - s->last_spm);
        j["expires_in_s"] = seconds_left(expires, now);
        j["encapsulation"] = encapsulation_name(s->encapsulation);
        j["udp_port"] = s->encapsulation == Encapsulation::Udp ? Json(s->udp_port) : Json(nullptr);
        j["last_ttl"] = s->last_ttl;
        j["fin"] = s->fin;
        Json oifs = Json::array();
        if (view.members) {
            for (IfIndex i : view.members(s->source, s->group))
                if (i != s->upstream_interface) oifs.push_back(interface_ref(view, i));
        }
        j["outgoing_interfaces"] = std::move(oifs);
        auto n = repair_states.find(tsi);
        j["repair_states"] = n == repair_states.end() ? 0 : n->second;
        j["dlrs"] = dlrs_of(view, s->redirect, now);
        j["counters"] = counters_object(s->counters);
        list.push_back(std::move(j));
    }
    return Json{{"sessions", std::move(list)}};
}

Json repair_json(const RouterView& view, const Filter& filter) {
    const router::Router& r = view.router;
    const Time now = view.now();
    struct Row {
        std::string tsi;
        std::uint32_t sqn;
        bool parity;  // sqn is then a transmission group's first sequence (TG_SQN)
        const RepairEntry* entry;
    };
    std::vector<Row> rows;
    for (const auto& [key, e] : r.repairs()) {
        if (filter.tsi && !(*filter.tsi == key.tsi)) continue;
        if (filter.group) {
            const Session* s = session_of(view, key.tsi);
            if (!s || !(s->group == *filter.group)) continue;
        }
        if (filter.interface) {
            const auto owed = r.interfaces_of(e.interfaces);
            if (std::none_of(owed.begin(), owed.end(),
                             [&](IfIndex i) { return interface_matches(view, filter, i); }))
                continue;
        }
        rows.push_back(Row{tsi_to_string(key.tsi), key.sqn.value(), key.parity, &e});
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        if (a.tsi != b.tsi) return a.tsi < b.tsi;
        return a.sqn != b.sqn ? a.sqn < b.sqn : a.parity < b.parity;
    });
    Json list = Json::array();
    for (const Row& row : rows) {
        const RepairEntry& e = *row.entry;
        Json interfaces = Json::array();
        for (IfIndex i : r.interfaces_of(e.interfaces))
            interfaces.push_back(interface_ref(view, i));
        Json timers = Json::object();
        const auto [short_name, long_name] = router::deadline_names(e.phase);
        if (short_name && e.short_deadline != kNever)
            timers[short_name] = seconds_left(e.short_deadline, now);
        if (long_name && e.long_deadline != kNever)
            timers[long_name] = seconds_left(e.long_deadline, now);
        Json j;
        j["tsi"] = row.tsi;
        j["sqn"] = row.sqn;
        j["parity"] = row.parity;
        j["phase"] = router::to_string(e.phase);
        j["interfaces"] = std::move(interfaces);
        j["timers"] = std::move(timers);
        list.push_back(std::move(j));
    }
    return Json{{"repair", std::move(list)}};
}

Json counters_json(const RouterView& view, const Filter& filter) {
    const router::Router& r = view.router;
    const std::map<IfIndex, CaptureDrops> drops = capture_drops_of(view);
    Json interfaces = Json::array();
    for (const InterfaceRow& i : interface_rows(view, filter, drops)) {
        Json j = interface_ref(view, i.ifindex);
        j["counters"] = interface_counters_object(i.counters, i.drops);
        interfaces.push_back(std::move(j));
    }
    CaptureDrops total_drops;
    for (const auto& [ifindex, d] : drops) {
        total_drops.kernel += d.kernel;
        total_drops.interface += d.interface;
    }
    Json malformed = Json::object();
    for (std::size_t i = 0; i < kParseErrorNames.size(); ++i)
        malformed[kParseErrorNames[i]] = r.malformed_by_reason()[i + 1];
    return Json{{"totals", interface_counters_object(r.totals(), total_drops)},
                {"interfaces", std::move(interfaces)},
                {"malformed_by_reason", std::move(malformed)}};
}

Json dlr_json(const RouterView& view) {
    const router::Router& r = view.router;
    const router::DlrConfig& config = r.config().dlr;
    Json scopes = Json::array();
    for (const router::DlrScope& scope : config.scopes) {
        scopes.push_back(
            Json{{"group", scope.group.to_string() + "/" + std::to_string(scope.prefix_length)},
                 {"source", scope.source ? Json(scope.source->to_string()) : Json(nullptr)}});
    }
    std::vector<std::pair<std::string, Tsi>> rows;
    for (const auto& [tsi, d] : r.dlr_sessions())
        if (r.sessions().contains(tsi)) rows.emplace_back(tsi_to_string(tsi), tsi);
    std::sort(rows.begin(), rows.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    Json list = Json::array();
    for (const auto& [name, tsi] : rows) {
        const router::DlrCache& cache = r.dlr_sessions().at(tsi).cache;
        const Session& s = r.sessions().at(tsi);
        const CounterSet& c = s.counters;
        list.push_back(Json{
            {"tsi", name},
            {"source", s.source.to_string()},
            {"group", s.group.to_string()},
            {"cache_bytes", cache.bytes()},
            {"cache_packets", cache.packets()},
            {"cache_span", cache.span()},
            {"first_sqn", cache.first() ? Json(cache.first()->value()) : Json(nullptr)},
            {"holes", cache.holes().size()},
            {"hits", c[Counter::DlrCacheHits]},
            {"misses", c[Counter::DlrCacheMisses]},
            {"naks_answered_locally", c[Counter::DlrNaksAnsweredLocally]},
            {"rdata_sent", c[Counter::DlrRdataMsgsSent]},
            {"nnaks_sent", c[Counter::DlrNNaksSent]},
            {"naks_ignored", c[Counter::DlrNaksIgnored]},
            {"evictions", c[Counter::DlrCacheEvictions]},
            {"gap_naks", c[Counter::DlrGapNaks]},
            {"redirecting_polrs", c[Counter::DlrRedirectingPolrs]},
        });
    }
    Json data{{"enabled", config.enabled()},
              {"scopes", std::move(scopes)},
              {"cache_bytes_per_session", config.cache_bytes_per_session},
              {"cache_packets_per_session", config.cache_packets_per_session},
              {"dlr", std::move(list)}};
    if (!config.enabled()) data["note"] = "no [dlr] group configured: pgmd is no DLR";
    return data;
}

Json status_json(const RouterView& view) {
    Json data = view.status ? view.status() : Json::object();
    std::size_t fin = 0;
    for (const auto& [tsi, s] : view.router.sessions())
        fin += s.fin ? 1 : 0;
    data["sessions"] = view.router.sessions().size();
    data["sessions_fin"] = fin;
    data["repair_states"] = view.router.repairs().size();
    data["held_rdata_bytes"] = view.router.held_rdata_bytes();
    return data;
}

Json groups_json(const RouterView& view, const Filter& filter) {
    Json all = view.groups ? view.groups() : Json{{"interfaces", Json::array()}};
    Json list = Json::array();
    for (Json& i : all["interfaces"]) {
        if (filter.interface && i.value("name", Json()) != *filter.interface &&
            i.value("ifindex", Json()).dump() != *filter.interface)
            continue;
        if (filter.group) {
            for (const char* key : {"groups", "group_sources", "joined_sources"}) {
                if (!i.contains(key)) continue;
                Json kept = Json::array();
                for (Json& g : i[key])
                    if (g.value("group", "") == filter.group->to_string()) kept.push_back(g);
                i[key] = std::move(kept);
            }
        }
        list.push_back(std::move(i));
    }
    return Json{{"interfaces", std::move(list)}};
}

namespace {

void require_known_interface(const RouterView& view, const Filter& filter,
                             const std::map<IfIndex, CaptureDrops>& drops) {
    if (!filter.interface) return;
    std::vector<std::string> names;
    auto add = [&](const std::string& name) {
        if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    };
    for (const auto& i : view.router.interfaces()) {
        if (interface_matches(view, filter, i.ifindex)) return;
        std::string name = view.interface_name ? view.interface_name(i.ifindex) : "";
        add(name.empty() ? std::to_string(i.ifindex) : name);
    }
    for (const auto& [ifindex, d] : drops)
        if (interface_matches(view, filter, ifindex)) return;
    if (view.configured_interfaces) {
        for (const auto& c : view.configured_interfaces()) {
            if (c.name == *filter.interface) return;
            if (c.ifindex && std::to_string(*c.ifindex) == *filter.interface) return;
            add(c.name);
        }
    }
    std::string known;
    for (const std::string& n : names)
        known += (known.empty() ? "" : ", ") + n;
    throw RequestError("no interface \"" + *filter.interface +
                       "\" (known: " + (known.empty() ? "none" : known) + ")");
}

}  // namespace

Json handle_request(const Json& request, RouterView& view, const PeerCredentials& peer) {
    try {
        if (!request.is_object()) throw RequestError("request must be a JSON object");
        allow_only(request, {"command", "what", "filter", "value"}, "request");
        const std::string command = string_member(request, "command");
        if (command == "ping") {
            return ok(
                Json{{"pong", true},
                     {"peer", {{"uid", peer.uid}, {"may_change_state", peer.may_change_state}}}});
        }
        if (command == "show") return ok(show(request, view));
        if (command == "clear") return ok(clear(request, view, peer));
        if (command == "reload") return ok(reload(view, peer));
        if (command == "set") return ok(set(request, view, peer));
        throw RequestError("unknown command \"" + command +
                           "\" (ping, show, clear, set or reload)");
    } catch (const RequestError& e) {
        return failure(e.what());
    } catch (const std::exception& e) {
        return failure(std::string("internal error: ") + e.what());
    }
}

}  // namespace pgm::control
