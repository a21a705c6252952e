// DOC: pgmd's part of `pgmctl show status`, `show groups` and `show running-config`, its
// configured interfaces and the run-time log level (cli/pgmd_view.h says what each
// returns); reads only, on the loop thread, except set_log_level().
#include "cli/pgmd_view.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <stdexcept>

#include "dataplane/log.h"

namespace pgm::cli {

namespace {

using Json = nlohmann::json;
namespace dp = dataplane;

std::string iso_time(std::chrono::system_clock::time_point t) {
    const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return text;
}

double seconds(Duration d) {
    return std::round(std::chrono::duration<double>(d).count() * 1000.0) / 1000.0;
}

}  // namespace

Json status_json(const dp::Daemon& d, const ProcessRecord& p, Time now) {
    Json j;
    j["version"] = p.version;
    j["pid"] = getpid();
    j["started"] = iso_time(p.started_wall);
    j["uptime_s"] = seconds(now - p.started);
    j["config_file"] = p.config_file;
    if (p.last_reload) {
        j["last_reload"] = Json{{"at", iso_time(p.last_reload->at)},
                                {"ok", p.last_reload->ok},
                                {"message", p.last_reload->message},
                                {"changed", p.last_reload->changed},
                                {"restart_needed", p.last_reload->restart_needed}};
    } else {
        j["last_reload"] = nullptr;
    }
    j["log_level"] = dp::to_string(dp::log::level());
    j["configured_log_level"] = dp::to_string(p.configured_log_level);
    const dp::FastPathController::Status fp = d.fast_path_status();
    j["fast_path"] = fp.loaded ? "kernel" : "off";
    j["fast_path_configured"] = dp::to_string(d.config().dataplane.fast_path);
    std::size_t served = 0;
    for (const auto& i : d.interface_status())
        served += std::string(i.state) == "served" ? 1 : 0;
    j["interfaces_configured"] = d.config().interfaces.size();
    j["interfaces_served"] = served;
    std::size_t groups = 0;
    for (const auto& [ifindex, st] : d.membership().interfaces())
        groups += st.groups.size();
    j["groups"] = groups;
    j["control_socket"] = d.config().control.socket;
    return j;
}

Json groups_json(const dp::Daemon& d, Time now) {
    Json list = Json::array();
    const auto& membership = d.membership().interfaces();
    for (const auto& status : d.interface_status()) {
        Json i{{"name", status.name},
               {"ifindex", status.ifindex ? Json(*status.ifindex) : Json(nullptr)},
               {"state", status.state}};
        const dp::InterfaceConfig* ic = d.config().find_interface(status.name);
        auto m = status.ifindex ? membership.find(*status.ifindex) : membership.end();
        Json querier{{"enabled", ic ? ic->igmp_querier : false}};
        Json groups = Json::array();
        Json group_sources = Json::array();
        if (m != membership.end()) {
            const dp::Membership::InterfaceState& st = m->second;
            i["address"] = st.address ? Json(st.address->to_string()) : Json(nullptr);
            // The querier role (RFC 3376 §6.6.2): pgmd, another router (lower address), or
            // nobody known (pgmd not querier here and no query heard).
            if (st.querier) {
                querier["role"] = "querier";
                querier["address"] = st.address ? Json(st.address->to_string()) : Json(nullptr);
            } else if (st.other_querier) {
                querier["role"] = "non-querier";
                querier["address"] = st.other_querier->to_string();
            } else {
                querier["role"] = st.querier_enabled ? "starting" : "off";
                querier["address"] = nullptr;
            }
            auto left = [&](Time t) { return seconds(t > now ? t - now : Duration{}); };
            for (const auto& [group, g] : st.groups) {
                const bool learnt = g.expires != kNever;
                // Static for any source or for some sources only (`static-groups` with
                // `source`): either way the configuration holds the group here.
                const bool configured =
                    g.is_static || std::any_of(g.sources.begin(), g.sources.end(),
                                               [](const auto& e) { return e.second.is_static; });
                Json gj{{"group", group.to_string()},
                        {"source", configured ? (learnt ? "static+igmp" : "static") : "igmp"},
                        {"expires_in_s", learnt ? Json(left(g.expires)) : Json(nullptr)}};
                // Per source (RFC 3376 §6.3), beside `groups` (whose objects stay as they
                // were): the learnt filter mode, whether every source is wanted, and each
                // source listed with whether it is wanted.
                Json sj{{"group", group.to_string()},
                        {"mode", learnt ? Json(g.exclude ? "exclude" : "include") : Json(nullptr)},
                        {"any_source", g.is_static || (learnt && g.exclude)}};
                Json sources = Json::array();
                for (const auto& [address, ss] : g.sources) {
                    const bool source_learnt = ss.expires != kNever || ss.excluded;
                    sources.push_back(
                        {{"address", address.to_string()},
                         {"origin",
                          ss.is_static ? (source_learnt ? "static+igmp" : "static") : "igmp"},
                         {"wanted", g.wants(address)},
                         {"expires_in_s",
                          ss.expires != kNever ? Json(left(ss.expires)) : Json(nullptr)}});
                }
                sj["sources"] = std::move(sources);
                group_sources.push_back(std::move(sj));
                groups.push_back(std::move(gj));
            }
        } else {
            i["address"] = nullptr;
            querier["role"] = "off";
            querier["address"] = nullptr;
        }
        i["igmp_querier"] = std::move(querier);
        i["groups"] = std::move(groups);
        i["group_sources"] = std::move(group_sources);
        Json joined = Json::array();
        if (status.ifindex)
            for (const Nla& g : d.joins().joined(*status.ifindex))
                joined.push_back(g.to_string());
        i["joined"] = std::move(joined);
        Json joined_sources = Json::array();
        if (status.ifindex)
            for (const dp::SourceGroup& sg : d.joins().joined_sources(*status.ifindex))
                joined_sources.push_back(
                    {{"group", sg.group.to_string()}, {"source", sg.source.to_string()}});
        i["joined_sources"] = std::move(joined_sources);
        list.push_back(std::move(i));
    }
    return Json{{"interfaces", std::move(list)}};
}

std::vector<control::RouterView::ConfiguredInterface> configured_interfaces(const dp::Daemon& d) {
    std::vector<control::RouterView::ConfiguredInterface> out;
    for (const auto& s : d.interface_status()) {
        const dp::InterfaceConfig* ic = d.config().find_interface(s.name);
        out.push_back({s.name, s.ifindex, s.state, ic ? ic->router : router::InterfaceSettings{},
                       ic ? std::optional<bool>(ic->router_alert) : std::nullopt});
    }
    return out;
}

Json running_config_json(const dp::Daemon& d, const ProcessRecord& p) {
    const std::string loaded_at = iso_time(p.loaded_at);
    std::vector<std::string> overrides;
    const dp::LogLevel level = dp::log::level();
    if (level != p.configured_log_level) {
        overrides.push_back(std::string("log-level is ") + dp::to_string(level) +
                            " (pgmctl set log-level; the configured level is below)");
    }
    // [control] changes wait for a restart: the text has the file's values, the socket not.
    if (p.last_reload && p.last_reload->ok && !p.last_reload->restart_needed.empty()) {
        std::string keys;
        for (const std::string& k : p.last_reload->restart_needed)
            keys += (keys.empty() ? "" : ", ") + k;
        overrides.push_back(keys +
                            " not applied until pgmd restarts (the running control "
                            "socket keeps the values it started with)");
    }
    std::string text =
        "# pgmd running configuration: " + p.config_file + " as loaded at " + loaded_at + "\n";
    for (const std::string& o : overrides)
        text += "# run-time override: " + o + "\n";
    text += dp::render_config(d.config());
    return Json{{"file", p.config_file},
                {"loaded_at", loaded_at},
                {"overrides", overrides},
                {"text", text}};
}

Json set_log_level(const std::string& value, const ProcessRecord& p) {
    dp::LogLevel level = p.configured_log_level;
    if (value != "default") {
        const auto parsed = dp::parse_log_level(value);
        if (!parsed)
            throw std::invalid_argument("log-level: '" + value +
                                        "' is not none|err|warning|notice|info|debug|default");
        level = *parsed;
    }
    const dp::LogLevel before = dp::log::level();
    if (level != before) {
        // At notice, under whichever of the two levels shows more, so that the change is
        // seen both when raising and when lowering the level.
        dp::log::set_level(std::max(level, before));
        dp::log::notice(std::string("log level ") + dp::to_string(level) + " (was " +
                        dp::to_string(before) + ", set by pgmctl)");
    }
    dp::log::set_level(level);
    return Json{{"log_level", dp::to_string(level)},
                {"configured_log_level", dp::to_string(p.configured_log_level)}};
}

}  // namespace pgm::cli
