// DOC: pgmctl, the operator's client of pgmd's control socket (docs/pgmctl.md).
//
// Turns the command line into one JSON request, sends it over the AF_UNIX socket, waits a
// bounded time for the one-line reply, and prints either the reply's data as JSON (-j) or
// text tables rendered from that same JSON, so the two views cannot disagree. With -m it
// repeats the request every few seconds until SIGINT or SIGTERM, with counters per second.
// Keywords may be shortened to a unique prefix (IOS, vtysh); a trailing "json" is -j; a
// usage error is one line on stderr. `describe` is answered without the daemon.
// Exit codes: 0 ok, 1 the daemon refused (error reply), 2 usage, 3 pgmd not running,
// 4 no usable answer (timeout, no permission to connect, broken reply).
//
// Life cycle: one process per command; a fresh connection per request, so watch mode
// survives a daemon restart.
#include <arpa/inet.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "control/client.h"
#include "dataplane/defaults.h"
#include "router/counter_info.h"
#include "router/counters.h"

namespace {

namespace po = boost::program_options;
using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

enum ExitCode : int {
    kExitOk = 0,
    kExitDaemonError = 1,
    kExitUsage = 2,
    kExitNotRunning = 3,
    kExitNoAnswer = 4,
};

constexpr const char* kUsage =
    "Usage: pgmctl [OPTIONS] COMMAND [json]\n"
    "\n"
    "Commands:\n"
    "  show status\n"
    "  show interfaces [interface IF]\n"
    "  show groups     [interface IF] [group G]\n"
    "  show sessions   [interface IF] [group G] [tsi T] [detail]\n"
    "  show repair     [interface IF] [group G] [tsi T]\n"
    "  show counters   [interface IF] [detail]\n"
    "  show dlr\n"
    "  show fastpath\n"
    "  show running-config                 (the configuration in force, as a file)\n"
    "  describe        [COUNTER]           (what a counter counts, and its unit)\n"
    "  clear counters  [interface IF] [tsi T]   (one of them; root or the socket's group)\n"
    "  clear repair    [group G] [tsi T]   (also: clear rtx-state)\n"
    "  set log-level LEVEL                 (none|err|warning|notice|info|debug|default)\n"
    "  debug on|off                        (log-level debug, or the configured level)\n"
    "  reload                              (root or the control socket's group)\n"
    "  ping\n"
    "\n"
    "Every word may be shortened to a unique prefix (sh ses = show sessions).\n"
    "A trailing word json is the same as -j.\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// --- The request from the command line ------------------------------------------------------

struct Command {
    Json request;
    std::string what;  // for show, clear, describe
    bool interface_filter = false;
    bool detail = false;
    bool json = false;    // a trailing "json" word
    bool local = false;   // answered by pgmctl itself (describe)
    std::string counter;  // describe COUNTER
    std::string words;    // the command, spelt out (watch mode's title)
};

std::string joined(const std::vector<std::string>& words, const char* separator = ", ") {
    std::string out;
    for (const std::string& w : words)
        out += (out.empty() ? "" : separator) + w;
    return out;
}

// A keyword as typed, resolved against `candidates` as IOS and vtysh do: the exact word or the
// only candidate it is a prefix of. `where` names the position for the error.
std::string resolve(const std::string& token, const std::vector<std::string>& candidates,
                    const std::string& where) {
    std::vector<std::string> matches;
    for (const std::string& c : candidates) {
        if (c == token) return c;
        if (!token.empty() && c.starts_with(token)) matches.push_back(c);
    }
    if (matches.size() == 1) return matches[0];
    if (matches.empty())
        throw UsageError(where + ": unknown \"" + token + "\" (" + joined(candidates) + ")");
    throw UsageError(where + ": \"" + token + "\" is ambiguous (" + joined(matches) + ")");
}

bool is_address(const std::string& text) {
    unsigned char buffer[sizeof(in6_addr)];
    return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
           inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

bool is_tsi(const std::string& text) {
    if (text.size() < 14 || text.size() > 18 || text[12] != '.') return false;
    for (std::size_t i = 0; i < 12; ++i)
        if (!std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
    const std::string port = text.substr(13);
    if (port.find_first_not_of("0123456789") != std::string::npos) return false;
    return std::stoul(port) <= 65535;
}

void check_value(const std::string& key, const std::string& value) {
    if (key == "group" && !is_address(value))
        throw UsageError("group \"" + value + "\" is not an IPv4 or IPv6 address");
    if (key == "tsi" && !is_tsi(value))
        throw UsageError("tsi \"" + value + "\" is not GSI.PORT (12 hex digits, a dot, a port)");
}

constexpr const char* kLevels[] = {"none", "err", "warning", "notice", "info", "debug", "default"};

Command parse_command(std::vector<std::string> args) {
    if (args.empty()) throw UsageError("no command given");
    Command c;
    if (args.size() > 1 && args.back() == "json") {
        c.json = true;
        args.pop_back();
    }
    const std::string verb =
        resolve(args[0], {"show", "clear", "set", "debug", "describe", "reload", "ping", "help"},
                "command");
    c.words = verb;
    auto expect_count = [&](std::size_t n) {
        if (args.size() > n) throw UsageError("unexpected \"" + args[n] + "\" after " + c.words);
        if (args.size() < n) throw UsageError(c.words + " needs an argument");
    };
    if (verb == "help") {
        c.what = "help";
        c.local = true;
        return c;
    }
    if (verb == "ping" || verb == "reload") {
        expect_count(1);
        c.request = Json{{"command", verb}};
        return c;
    }
    if (verb == "describe") {
        if (args.size() > 2) throw UsageError("unexpected \"" + args[2] + "\" after describe");
        c.local = true;
        c.what = "describe";
        if (args.size() == 2) c.counter = args[1];
        return c;
    }
    if (verb == "set") {
        if (args.size() < 2) throw UsageError("set what? log-level");
        const std::string what = resolve(args[1], {"log-level"}, "set");
        if (args.size() < 3)
            throw UsageError("set log-level needs a level (" +
                             joined({std::begin(kLevels), std::end(kLevels)}) + ")");
        expect_count(3);
        const std::string level =
            resolve(args[2], {std::begin(kLevels), std::end(kLevels)}, "set log-level");
        c.what = what;
        c.words += " " + what + " " + level;
        c.request = Json{{"command", "set"}, {"what", what}, {"value", level}};
        return c;
    }
    if (verb == "debug") {
        if (args.size() < 2) throw UsageError("debug on or debug off?");
        expect_count(2);
        const std::string on = resolve(args[1], {"on", "off"}, "debug");
        c.what = "log-level";
        c.words += " " + on;
        c.request = Json{
            {"command", "set"}, {"what", "log-level"}, {"value", on == "on" ? "debug" : "default"}};
        return c;
    }
    struct Shape {
        std::vector<std::string> filters;
        bool detail = false;
    };
    static const std::map<std::string, Shape> kShow = {
        {"status", {{}, false}},
        {"interfaces", {{"interface"}, false}},
        {"groups", {{"interface", "group"}, false}},
        {"sessions", {{"interface", "group", "tsi"}, true}},
        {"repair", {{"interface", "group", "tsi"}, false}},
        {"counters", {{"interface"}, true}},
        {"dlr", {{}, false}},
        {"fastpath", {{}, false}},
        {"running-config", {{}, false}},
    };
    static const std::map<std::string, Shape> kClear = {
        {"counters", {{"interface", "tsi"}, false}},
        {"repair", {{"group", "tsi"}, false}},
        {"rtx-state", {{"group", "tsi"}, false}},
    };
    const auto& table = verb == "show" ? kShow : kClear;
    std::vector<std::string> names;
    for (const auto& [name, shape] : table)
        names.push_back(name);
    if (args.size() < 2) throw UsageError(verb + " what? " + joined(names));
    c.what = resolve(args[1], names, verb);
    const Shape& shape = table.at(c.what);
    if (c.what == "rtx-state") c.what = "repair";  // IOS's name for the repair state
    c.words += " " + c.what;
    std::vector<std::string> keywords = shape.filters;
    if (shape.detail) keywords.push_back("detail");
    Json filter = Json::object();
    for (std::size_t i = 2; i < args.size(); ++i) {
        if (keywords.empty())
            throw UsageError(c.words + " takes nothing more, not \"" + args[i] + "\"");
        const std::string key = resolve(args[i], keywords, c.words);
        if (key == "detail") {
            c.detail = true;
            c.words += " detail";
            continue;
        }
        if (i + 1 >= args.size()) throw UsageError(key + " needs a value");
        if (filter.contains(key)) throw UsageError(key + " given twice");
        check_value(key, args[i + 1]);
        filter[key] = args[++i];
        c.words += " " + key + " " + args[i];
    }
    if (verb == "clear" && c.what == "counters" && filter.size() > 1)
        throw UsageError("clear counters takes an interface or a tsi, not both");
    c.interface_filter = filter.contains("interface");
    c.request = Json{{"command", verb}, {"what", c.what}};
    if (!filter.empty()) c.request["filter"] = filter;
    return c;
}

// --- One request over the socket ------------------------------------------------------------

// The exit code for a client status (the DOC block's list).
int exit_code(pgm::control::ClientStatus status) {
    using pgm::control::ClientStatus;
    switch (status) {
        case ClientStatus::Ok:
            return kExitOk;
        case ClientStatus::DaemonError:
            return kExitDaemonError;
        case ClientStatus::BadPath:
            return kExitUsage;
        case ClientStatus::NotRunning:
            return kExitNotRunning;
        case ClientStatus::NoAnswer:
            break;
    }
    return kExitNoAnswer;
}

// --- Text rendering of the reply data ---------------------------------------------------------

class Table {
  public:
    // A heading starting with '>' is a right-aligned (numeric) column; the '>' is not shown.
    explicit Table(std::vector<std::string> headings) {
        for (auto& h : headings) {
            right_.push_back(!h.empty() && h[0] == '>');
            headings_.push_back(right_.back() ? h.substr(1) : h);
        }
    }
    void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
    bool empty() const { return rows_.empty(); }

    void print(std::ostream& out) const {
        std::vector<std::size_t> width(headings_.size());
        for (std::size_t i = 0; i < headings_.size(); ++i)
            width[i] = headings_[i].size();
        for (const auto& row : rows_)
            for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
                width[i] = std::max(width[i], row[i].size());
        print_row(out, headings_, width);
        for (const auto& row : rows_)
            print_row(out, row, width);
    }

  private:
    void print_row(std::ostream& out, const std::vector<std::string>& row,
                   const std::vector<std::size_t>& width) const {
        std::string line;
        for (std::size_t i = 0; i < width.size(); ++i) {
            const std::string cell = i < row.size() ? row[i] : "";
            const std::string pad(width[i] - std::min(width[i], cell.size()), ' ');
            if (i > 0) line += "  ";
            line += right_[i] ? pad + cell : cell + pad;
        }
        while (!line.empty() && line.back() == ' ')
            line.pop_back();
        out << line << '\n';
    }

    std::vector<std::string> headings_;
    std::vector<bool> right_;
    std::vector<std::vector<std::string>> rows_;
};

std::string text(const Json& j) {
    if (j.is_null()) return "-";
    if (j.is_string()) return j.get<std::string>();
    return j.dump();
}

std::string duration(const Json& j) {
    if (!j.is_number()) return "-";
    const double s = j.get<double>();
    char buffer[32];
    if (s < 1.0)
        std::snprintf(buffer, sizeof buffer, "%.0fms", s * 1000.0);
    else if (s < 10.0)
        std::snprintf(buffer, sizeof buffer, "%.2fs", s);
    else if (s < 60.0)
        std::snprintf(buffer, sizeof buffer, "%.1fs", s);
    else if (s < 3600.0)
        std::snprintf(buffer, sizeof buffer, "%ldm%02lds", std::lround(s) / 60,
                      std::lround(s) % 60);
    else
        std::snprintf(buffer, sizeof buffer, "%ldh%02ldm", std::lround(s) / 3600,
                      std::lround(s) / 60 % 60);
    return buffer;
}

// An interface as the tables show it: its name, or #ifindex when the daemon has none.
std::string interface_label(const Json& name, const Json& ifindex) {
    if (name.is_string()) return name.get<std::string>();
    return "#" + text(ifindex);
}

std::string counter(const Json& counters, const char* name) {
    return counters.contains(name) ? text(counters[name]) : "-";
}

// What watch mode knows of the previous frame: its data and when it was taken, so that
// counters can be shown per second.
struct Previous {
    Json data;
    SteadyClock::time_point at;
};

// Counter `name` per second between the previous frame's `before` object and `now`: "-"
// without a previous frame, or when the counter went down (cleared, or the daemon restarted).
std::string rate(const Json& now, const Json* before, const char* name, double elapsed) {
    if (before == nullptr || elapsed <= 0) return "-";
    const Json& a = before->value(name, Json());
    const Json& b = now.value(name, Json());
    if (!a.is_number() || !b.is_number()) return "-";
    const auto va = a.get<std::uint64_t>(), vb = b.get<std::uint64_t>();
    if (vb < va) return "-";
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.1f", static_cast<double>(vb - va) / elapsed);
    return buffer;
}

// `key` of object `j`, or nullptr (const JSON has no operator[] for a missing key).
const Json* member(const Json* j, const char* key) {
    if (j == nullptr || !j->is_object()) return nullptr;
    auto it = j->find(key);
    return it == j->end() ? nullptr : &*it;
}

// The same interface in the previous frame's list ("interfaces" of show interfaces/counters).
const Json* previous_interface(const Previous* previous, const Json& i) {
    const Json* list = previous ? member(&previous->data, "interfaces") : nullptr;
    if (list == nullptr || !list->is_array()) return nullptr;
    for (const Json& p : *list)
        if (p.value("ifindex", Json()) == i.value("ifindex", Json()) &&
            p.value("name", Json()) == i.value("name", Json()))
            return &p;
    return nullptr;
}

double elapsed_since(const Previous* previous) {
    if (previous == nullptr) return 0;
    return std::chrono::duration<double>(SteadyClock::now() - previous->at).count();
}

void render_interfaces(const Json& data, const Previous* previous, std::ostream& out) {
    const bool with_state = [&] {
        for (const Json& i : data.value("interfaces", Json::array()))
            if (i.contains("state")) return true;
        return false;
    }();
    std::vector<std::string> headings{"INTERFACE", ">IFINDEX"};
    if (with_state) headings.push_back("STATE");
    if (previous) {
        headings.push_back(">InOdata/s");
        headings.push_back(">OutOdata/s");
    }
    for (const char* h : {">SESSIONS", ">REPAIR", ">InSpms", ">InNaks", ">OutNcfs", ">OutRdata",
                          ">Malformed", ">CaptureDrops"})
        headings.push_back(h);
    Table t(headings);
    const double elapsed = elapsed_since(previous);
    for (const Json& i : data.value("interfaces", Json::array())) {
        const Json& c = i.value("counters", Json::object());
        std::vector<std::string> row{
            interface_label(i.value("name", Json()), i.value("ifindex", Json())),
            text(i.value("ifindex", Json()))};
        if (with_state) row.push_back(text(i.value("state", Json())));
        if (previous) {
            const Json* p = previous_interface(previous, i);
            const Json* pc = member(p, "counters");
            row.push_back(rate(c, pc, "InOdata", elapsed));
            row.push_back(rate(c, pc, "OutOdata", elapsed));
        }
        for (const std::string& cell :
             {text(i.value("upstream_sessions", Json())), text(i.value("repair_states", Json())),
              counter(c, "InSpms"), counter(c, "InNaks"), counter(c, "OutNcfs"),
              counter(c, "OutRdata"), counter(c, "Malformed"), counter(c, "CaptureDrops")})
            row.push_back(cell);
        t.add(std::move(row));
    }
    t.print(out);
    // The settings in force per interface (decisions.md D38), below the counters.
    Table settings({"INTERFACE", "ASSIST", "ALERT", ">NAKS/S", ">NAKS/S/SRC", ">NAK_REPEAT",
                    ">NAK_RPT_IVL", ">NAK_RDATA_IVL", ">NAK_ELIM_IVL"});
    auto yes_no = [](const Json& b) {
        return b.is_boolean() ? (b.get<bool>() ? "yes" : "no") : "-";
    };
    for (const Json& i : data.value("interfaces", Json::array())) {
        const Json& s = i.value("settings", Json::object());
        if (s.empty()) continue;
        settings.add(
            {interface_label(i.value("name", Json()), i.value("ifindex", Json())),
             yes_no(s.value("router_assist", Json())), yes_no(s.value("router_alert", Json())),
             text(s.value("max_naks_per_second", Json())),
             text(s.value("max_naks_per_second_per_neighbour", Json())),
             duration(s.value("nak_repeat_period", Json())),
             duration(s.value("nak_rpt_ivl", Json())), duration(s.value("nak_rdata_ivl", Json())),
             duration(s.value("nak_elim_ivl", Json()))});
    }
    if (settings.empty()) return;
    out << '\n';
    settings.print(out);
}

// A session's known DLRs in one cell: "off-tree:10.2.0.9@dn1+parity,...", "-" for none.
std::string dlrs_cell(const Json& dlrs) {
    std::string cell;
    for (const Json& d : dlrs) {
        if (!cell.empty()) cell += ",";
        cell += text(d.value("role", Json())) + ":" + text(d.value("address", Json())) + "@" +
                interface_label(d.value("interface", Json()), d.value("ifindex", Json()));
        if (d.value("can_provide_parity", false)) cell += "+parity";
    }
    return cell.empty() ? "-" : cell;
}

// Interfaces of a JSON list of {ifindex, name} in one cell: "a,b", "a,b,+3" past `keep`.
std::string interfaces_cell(const Json& list, std::size_t keep) {
    std::vector<std::string> names;
    for (const Json& i : list)
        names.push_back(interface_label(i.value("name", Json()), i.value("ifindex", Json())));
    if (names.empty()) return "-";
    std::string cell;
    for (std::size_t i = 0; i < names.size() && i < keep; ++i)
        cell += (i ? "," : "") + names[i];
    if (names.size() > keep) cell += ",+" + std::to_string(names.size() - keep);
    return cell;
}

// `show sessions`: one line per session, under 100 columns for usual names. A session its
// source ended (OPT_FIN) says FIN: it stays only for late repairs until it expires.
void render_sessions(const Json& data, const Previous* previous, std::ostream& out) {
    std::vector<std::string> headings{"TSI", "SOURCE", "GROUP", "UPSTREAM", "OUT", ">LEAD"};
    if (previous) headings.push_back(">ODATA/s");
    headings.push_back(">EXPIRES");
    headings.push_back("STATE");
    Table t(headings);
    const double elapsed = elapsed_since(previous);
    for (const Json& s : data.value("sessions", Json::array())) {
        std::vector<std::string> row{
            text(s.value("tsi", Json())),
            text(s.value("source", Json())),
            text(s.value("group", Json())),
            interface_label(s.value("upstream_interface", Json()),
                            s.value("upstream_ifindex", Json())),
            interfaces_cell(s.value("outgoing_interfaces", Json::array()), 2),
            text(s.value("lead", Json()))};
        if (previous) {
            const Json* before = nullptr;
            if (const Json* list = member(&previous->data, "sessions"); list && list->is_array())
                for (const Json& p : *list)
                    if (p.value("tsi", Json()) == s.value("tsi", Json()))
                        before = member(&p, "counters");
            row.push_back(rate(s.value("counters", Json::object()), before, "InOdata", elapsed));
        }
        row.push_back(duration(s.value("expires_in_s", Json())));
        row.push_back(s.value("fin", false) ? "FIN" : "live");
        t.add(std::move(row));
    }
    t.print(out);
}

// `show sessions detail`: a block per session, every field pgmd has.
void render_sessions_detail(const Json& data, std::ostream& out) {
    bool first = true;
    for (const Json& s : data.value("sessions", Json::array())) {
        if (!first) out << '\n';
        first = false;
        std::string encapsulation = text(s.value("encapsulation", Json()));
        if (s.value("udp_port", Json()).is_number()) encapsulation += ":" + text(s["udp_port"]);
        out << "session " << text(s.value("tsi", Json())) << ": " << text(s.value("source", Json()))
            << " -> " << text(s.value("group", Json())) << " port "
            << text(s.value("data_destination_port", Json())) << ", "
            << (s.value("fin", false) ? "ended by its source (FIN)" : "live") << '\n'
            << "  upstream:     "
            << interface_label(s.value("upstream_interface", Json()),
                               s.value("upstream_ifindex", Json()))
            << ", neighbour " << text(s.value("upstream_neighbour", Json())) << ", "
            << encapsulation << ", TTL " << text(s.value("last_ttl", Json())) << '\n'
            << "  outgoing:     "
            << interfaces_cell(s.value("outgoing_interfaces", Json::array()), 1000) << '\n'
            << "  window:       trail " << text(s.value("trail", Json())) << ", lead "
            << text(s.value("lead", Json())) << " (" << text(s.value("window_size", Json()))
            << " packets)\n"
            << "  last SPM:     sqn " << text(s.value("last_spm_sqn", Json())) << ", "
            << duration(s.value("last_spm_age_s", Json())) << " ago\n"
            << "  age:          " << duration(s.value("age_s", Json())) << ", expires in "
            << duration(s.value("expires_in_s", Json())) << '\n'
            << "  repair state: " << text(s.value("repair_states", Json())) << " entries\n"
            << "  DLRs:         " << dlrs_cell(s.value("dlrs", Json::array())) << '\n'
            << "  counters:    ";
        std::string counters;
        const Json c = s.value("counters", Json::object());
        for (const std::string name : pgm::router::kCounterNames)
            if (c.value(name, Json(0)).is_number() && c.value(name, 0ull) != 0)
                counters += " " + name + "=" + text(c[name]);
        out << (counters.empty() ? " all 0" : counters) << '\n';
    }
}

void render_status(const Json& d, std::ostream& out) {
    auto line = [&](const char* label, const std::string& value) {
        out << std::string(label)
            << std::string(16 - std::min<std::size_t>(16, std::strlen(label)), ' ') << value
            << '\n';
    };
    line("pgmd", text(d.value("version", Json())) + ", pid " + text(d.value("pid", Json())));
    line("started",
         text(d.value("started", Json())) + ", up " + duration(d.value("uptime_s", Json())));
    line("config file", text(d.value("config_file", Json())));
    const Json reload = d.value("last_reload", Json());
    if (reload.is_object()) {
        line("last reload", text(reload.value("at", Json())) + ", " +
                                (reload.value("ok", false) ? "ok" : "failed") + ": " +
                                text(reload.value("message", Json())));
    } else {
        line("last reload", "never");
    }
    std::string level = text(d.value("log_level", Json()));
    if (d.value("configured_log_level", Json()) != d.value("log_level", Json()))
        level += " (configured " + text(d.value("configured_log_level", Json())) + ")";
    line("log level", level);
    line("fast path", text(d.value("fast_path", Json())) + " (configured " +
                          text(d.value("fast_path_configured", Json())) + ")");
    line("interfaces", text(d.value("interfaces_served", Json())) + " served of " +
                           text(d.value("interfaces_configured", Json())) + " configured");
    line("sessions", text(d.value("sessions", Json())) + " (" +
                         text(d.value("sessions_fin", Json())) + " ended by FIN)");
    line("repair states", text(d.value("repair_states", Json())));
    line("groups", text(d.value("groups", Json())) + " memberships");
    line("control socket", text(d.value("control_socket", Json())));
}

// `show groups`: a row per interface and group, members (static or IGMP) and joins alike.
// A SOURCES column is added when some membership or join is source-specific (IGMPv3, SSM):
// `any`, `any,!A,!B` (every source but the excluded), or the sources wanted (`A,B`).
void render_groups(const Json& data, std::ostream& out) {
    auto sources_of = [](const Json& g) {
        std::vector<std::string> wanted, excluded;
        for (const Json& s : g.value("sources", Json::array())) {
            if (s.value("wanted", true))
                wanted.push_back(text(s.value("address", Json())));
            else
                excluded.push_back("!" + text(s.value("address", Json())));
        }
        if (!g.value("any_source", true)) return joined(wanted, ",");
        excluded.insert(excluded.begin(), "any");
        return joined(excluded, ",");
    };
    // The source view of `group` on interface `i` (group_sources), {} when not given.
    auto source_view = [](const Json& i, const std::string& group) {
        for (const Json& g : i.value("group_sources", Json::array()))
            if (g.value("group", "") == group) return g;
        return Json::object();
    };
    bool with_sources = false;
    for (const Json& i : data.value("interfaces", Json::array())) {
        if (!i.value("joined_sources", Json::array()).empty()) with_sources = true;
        for (const Json& g : i.value("group_sources", Json::array()))
            if (sources_of(g) != "any") with_sources = true;
    }
    std::vector<std::string> columns = {"INTERFACE", "STATE",    "QUERIER", "GROUP",
                                        "MEMBERS",   ">EXPIRES", "JOINED"};
    if (with_sources) columns.insert(columns.begin() + 4, "SOURCES");
    Table t(columns);
    auto add = [&](std::vector<std::string> row, const std::string& sources) {
        if (with_sources) row.insert(row.begin() + 4, sources);
        t.add(row);
    };
    for (const Json& i : data.value("interfaces", Json::array())) {
        const std::string name =
            interface_label(i.value("name", Json()), i.value("ifindex", Json()));
        const Json q = i.value("igmp_querier", Json::object());
        std::string querier = text(q.value("role", Json()));
        if (q.value("address", Json()).is_string()) querier += " " + text(q["address"]);
        std::vector<std::string> joined_groups;
        for (const Json& g : i.value("joined", Json::array()))
            joined_groups.push_back(text(g));
        // Groups joined source-specific, with their sources.
        std::vector<std::pair<std::string, std::vector<std::string>>> joined_sources;
        for (const Json& j : i.value("joined_sources", Json::array())) {
            const std::string group = text(j.value("group", Json()));
            auto it = std::find_if(joined_sources.begin(), joined_sources.end(),
                                   [&](const auto& e) { return e.first == group; });
            if (it == joined_sources.end())
                it = joined_sources.insert(joined_sources.end(), {group, {}});
            it->second.push_back(text(j.value("source", Json())));
        }
        auto joined_text = [&](const std::string& group) -> std::string {
            if (std::find(joined_groups.begin(), joined_groups.end(), group) != joined_groups.end())
                return "yes";
            for (const auto& [g, sources] : joined_sources)
                if (g == group) return joined(sources, ",");
            return "no";
        };
        std::vector<std::string> seen;
        bool any = false;
        for (const Json& g : i.value("groups", Json::array())) {
            const std::string group = text(g.value("group", Json()));
            add({name, text(i.value("state", Json())), querier, group,
                 text(g.value("source", Json())), duration(g.value("expires_in_s", Json())),
                 joined_text(group)},
                sources_of(source_view(i, group)));
            seen.push_back(group);
            any = true;
        }
        for (const std::string& group : joined_groups) {
            if (std::find(seen.begin(), seen.end(), group) != seen.end()) continue;
            add({name, text(i.value("state", Json())), querier, group, "-", "-", "yes"}, "any");
            seen.push_back(group);
            any = true;
        }
        for (const auto& [group, sources] : joined_sources) {
            if (std::find(seen.begin(), seen.end(), group) != seen.end()) continue;
            add({name, text(i.value("state", Json())), querier, group, "-", "-",
                 joined(sources, ",")},
                joined(sources, ","));
            any = true;
        }
        if (!any) add({name, text(i.value("state", Json())), querier, "-", "-", "-", "-"}, "-");
    }
    t.print(out);
}

void render_dlr(const Json& data, std::ostream& out) {
    if (!data.value("enabled", false)) {
        out << "no designated local repairers: " << text(data.value("note", Json())) << '\n';
        return;
    }
    out << "DLR for";
    for (const Json& s : data.value("scopes", Json::array())) {
        out << ' ' << text(s.value("group", Json()));
        if (s.value("source", Json()).is_string()) out << " (source " << text(s["source"]) << ')';
    }
    out << "; cache per session: " << text(data.value("cache_bytes_per_session", Json()))
        << " bytes, " << text(data.value("cache_packets_per_session", Json())) << " packets\n";
    Table t({"TSI", "GROUP", ">BYTES", ">PACKETS", ">HOLES", ">HITS", ">MISSES", ">LOCAL", ">NNAKS",
             ">EVICTED", ">GAP-NAKS", ">POLRS"});
    for (const Json& d : data.value("dlr", Json::array())) {
        t.add({text(d.value("tsi", Json())), text(d.value("group", Json())),
               text(d.value("cache_bytes", Json())), text(d.value("cache_packets", Json())),
               text(d.value("holes", Json())), text(d.value("hits", Json())),
               text(d.value("misses", Json())), text(d.value("naks_answered_locally", Json())),
               text(d.value("nnaks_sent", Json())), text(d.value("evictions", Json())),
               text(d.value("gap_naks", Json())), text(d.value("redirecting_polrs", Json()))});
    }
    t.print(out);
}

// `show fastpath`: the mode and why, the program and its maps, then one row per interface
// with what the kernel forwarded, punted to pgmd and dropped there.
void render_fast_path(const Json& data, std::ostream& out) {
    out << "fast path: " << text(data.value("mode", Json()));
    if (data.value("reason", Json()).is_string()) out << " (" << text(data["reason"]) << ')';
    out << '\n';
    if (data.contains("program_id")) {
        out << "program id " << text(data["program_id"]) << "; maps";
        if (auto maps = data.find("maps"); maps != data.end() && maps->is_object())
            for (auto m = maps->begin(); m != maps->end(); ++m)
                out << ' ' << m.key() << '=' << text(m.value());
        out << "\nsessions forwarded in the kernel: "
            << text(data.value("sessions_in_kernel", Json()))
            << ", in user space: " << text(data.value("sessions_in_user_space", Json()))
            << "; heartbeat every " << text(data.value("heartbeat_ms", Json()))
            << " ms, fails open after " << text(data.value("fail_open_after_ms", Json()))
            << " ms; on exit: " << text(data.value("on_exit", Json())) << '\n';
    }
    Table t({"INTERFACE", "MODE", ">FWD-PKTS", ">FWD-BYTES", ">OUT-PKTS", ">OUT-BYTES", ">PUNTED",
             ">PUNT-LOST", ">DROP-TTL", ">DROP-REDIRECT", ">FAIL-OPEN", ">PASSED", ">CONSUMED"});
    for (const Json& i : data.value("interfaces", Json::array())) {
        t.add({interface_label(i.value("name", Json()), i.value("ifindex", Json())),
               text(i.value("mode", Json())), text(i.value("forwarded_packets", Json())),
               text(i.value("forwarded_bytes", Json())), text(i.value("out_packets", Json())),
               text(i.value("out_bytes", Json())), text(i.value("punted_packets", Json())),
               text(i.value("punt_lost_packets", Json())), text(i.value("drop_ttl", Json())),
               text(i.value("drop_redirect_error", Json())),
               text(i.value("failopen_packets", Json())), text(i.value("passed_packets", Json())),
               text(i.value("consumed_packets", Json()))});
    }
    if (!t.empty()) t.print(out);
}

void render_repair(const Json& data, std::ostream& out) {
    Table t({"TSI", ">SQN", "PHASE", "INTERFACES", "TIMERS"});
    for (const Json& r : data.value("repair", Json::array())) {
        std::string interfaces;
        for (const Json& i : r.value("interfaces", Json::array())) {
            if (!interfaces.empty()) interfaces += ",";
            interfaces += interface_label(i.value("name", Json()), i.value("ifindex", Json()));
        }
        std::string timers;
        const Json deadlines = r.value("timers", Json::object());
        for (const auto& [name, left] : deadlines.items()) {
            if (!timers.empty()) timers += " ";
            timers += name + "=" + duration(left);
        }
        t.add({text(r.value("tsi", Json())), text(r.value("sqn", Json())),
               text(r.value("phase", Json())), interfaces.empty() ? "-" : interfaces,
               timers.empty() ? "-" : timers});
    }
    t.print(out);
}

// Counter names in PGM-MIB order (router/counters.h), then the others the daemon sends
// (CaptureDrops, CaptureIfDrops, and any this pgmctl does not know), alphabetically.
std::vector<std::string> counter_order(const Json& totals) {
    std::vector<std::string> order(pgm::router::kCounterNames.begin(),
                                   pgm::router::kCounterNames.end());
    for (const auto& [name, value] : totals.items())
        if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
    return order;
}

// Unit and description of a counter name, also of the daemon's capture counters; empty
// for a name this pgmctl does not know.
std::pair<std::string, std::string> describe_counter(const std::string& name) {
    for (std::size_t i = 0; i < pgm::router::kCounterCount; ++i)
        if (name == pgm::router::kCounterNames[i])
            return {std::string(pgm::router::kCounterInfo[i].unit),
                    std::string(pgm::router::kCounterInfo[i].description)};
    for (const auto& c : pgm::router::kCaptureCounterInfo)
        if (name == c.name) return {std::string(c.info.unit), std::string(c.info.description)};
    return {};
}

void render_counters(const Json& data, bool show_zero, bool with_totals, bool detail,
                     const Previous* previous, std::ostream& out) {
    const Json totals = data.value("totals", Json::object());
    const Json interfaces = data.value("interfaces", Json::array());
    const double elapsed = elapsed_since(previous);
    std::vector<std::string> headings{"COUNTER"};
    if (with_totals) {
        headings.push_back(">TOTAL");
        if (previous) headings.push_back(">/s");
    }
    for (const Json& i : interfaces) {
        headings.push_back(">" +
                           interface_label(i.value("name", Json()), i.value("ifindex", Json())));
        if (previous) headings.push_back(">/s");
    }
    if (detail) {
        headings.push_back("UNIT");
        headings.push_back("DESCRIPTION");
    }
    Table t(headings);
    for (const std::string& name : counter_order(totals)) {
        std::vector<std::string> row{name};
        bool nonzero = false;
        auto cell = [&](const Json& counters, const Json* before) {
            const Json& v = counters.value(name, Json());
            nonzero |= v.is_number() && v.get<std::uint64_t>() != 0;
            row.push_back(text(v));
            if (previous) row.push_back(rate(counters, before, name.c_str(), elapsed));
        };
        if (with_totals) {
            cell(totals, previous ? member(&previous->data, "totals") : nullptr);
        }
        for (const Json& i : interfaces) {
            const Json* p = previous_interface(previous, i);
            cell(i.value("counters", Json::object()), member(p, "counters"));
        }
        if (detail) {
            auto [unit, description] = describe_counter(name);
            row.push_back(unit.empty() ? "-" : unit);
            row.push_back(description.empty() ? "-" : description);
        }
        if (nonzero || show_zero) t.add(std::move(row));
    }
    t.print(out);
    Table reasons({"MALFORMED BY REASON", ">COUNT"});
    const Json malformed = data.value("malformed_by_reason", Json::object());
    for (const auto& [reason, count] : malformed.items())
        if (show_zero || (count.is_number() && count.get<std::uint64_t>() != 0))
            reasons.add({reason, text(count)});
    if (!reasons.empty()) {
        out << '\n';
        reasons.print(out);
    }
}

// `describe [COUNTER]`, answered by pgmctl itself (exit 2 for a counter it does not know).
int describe(const Command& command, bool json, std::ostream& out, std::ostream& err) {
    std::vector<std::string> names(pgm::router::kCounterNames.begin(),
                                   pgm::router::kCounterNames.end());
    names.push_back("CaptureDrops");
    names.push_back("CaptureIfDrops");
    if (!command.counter.empty()) {
        std::vector<std::string> matches;
        for (const std::string& n : names) {
            if (n == command.counter) {
                matches = {n};
                break;
            }
            std::string a = n, b = command.counter;
            for (auto& ch : a)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            for (auto& ch : b)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            if (a.starts_with(b)) matches.push_back(n);
        }
        if (matches.empty()) {
            err << "pgmctl: describe: no counter \"" << command.counter
                << "\" (pgmctl describe lists them)\n";
            return kExitUsage;
        }
        names = matches;
    }
    Json list = Json::array();
    Table t({"COUNTER", "UNIT", "DESCRIPTION"});
    for (const std::string& n : names) {
        auto [unit, description] = describe_counter(n);
        list.push_back(Json{{"name", n}, {"unit", unit}, {"description", description}});
        t.add({n, unit, description});
    }
    if (json)
        out << Json{{"counters", list}}.dump(2) << '\n';
    else
        t.print(out);
    return kExitOk;
}

void render(const Command& command, const Json& data, bool show_zero, const Previous* previous,
            std::ostream& out) {
    const std::string verb = command.request.value("command", "");
    if (verb == "ping") {
        const bool admin = data.value("peer", Json::object()).value("may_change_state", false);
        out << "pgmd is running (" << (admin ? "you may change state" : "read-only access")
            << ")\n";
    } else if (verb == "reload") {
        const std::string message = data.value("message", "");
        out << "reloaded" << (message.empty() ? "" : ": " + message) << '\n';
    } else if (verb == "clear") {
        out << "cleared " << command.what;
        if (data.contains("interface"))
            out << " of interface "
                << interface_label(data["interface"].value("name", Json()),
                                   data["interface"].value("ifindex", Json()));
        if (data.contains("group")) out << " of group " << text(data["group"]);
        if (data.contains("tsi")) out << " of session " << text(data["tsi"]);
        if (data.contains("removed")) out << " (" << text(data["removed"]) << " entries)";
        out << '\n';
    } else if (verb == "set") {
        out << "log level " << text(data.value("log_level", Json())) << " (configured "
            << text(data.value("configured_log_level", Json())) << ")\n";
    } else if (command.what == "status") {
        render_status(data, out);
    } else if (command.what == "running-config") {
        out << data.value("text", "");
    } else if (command.what == "interfaces") {
        render_interfaces(data, previous, out);
    } else if (command.what == "groups") {
        render_groups(data, out);
    } else if (command.what == "sessions") {
        if (command.detail)
            render_sessions_detail(data, out);
        else
            render_sessions(data, previous, out);
    } else if (command.what == "repair") {
        render_repair(data, out);
    } else if (command.what == "counters") {
        render_counters(data, show_zero, !command.interface_filter, command.detail, previous, out);
    } else if (command.what == "dlr") {
        render_dlr(data, out);
    } else if (command.what == "fastpath") {
        render_fast_path(data, out);
    } else {
        out << data.dump(2) << '\n';
    }
}

struct Settings {
    std::string socket = pgm::dataplane::kDefaultControlSocket;
    bool json = false;
    bool show_zero = false;
    std::optional<double> monitor_seconds;
    std::chrono::milliseconds timeout = pgm::dataplane::kDefaultRequestTimeout;
};

// Prints one reply; returns the exit code. `data_out`: the reply's data, for watch mode.
int run_once(const Settings& settings, const Command& command, const Previous* previous,
             std::ostream& out, std::ostream& err, Json* data_out = nullptr) {
    if (command.local) return describe(command, settings.json, out, err);
    const pgm::control::ClientReply o =
        pgm::control::exchange(settings.socket, command.request, settings.timeout);
    if (o.status != pgm::control::ClientStatus::Ok) {
        err << "pgmctl: " << o.problem << '\n';
        return exit_code(o.status);
    }
    const Json data = o.reply.value("data", Json::object());
    if (settings.json)
        out << data.dump(2) << '\n';
    else
        render(command, data, settings.show_zero, previous, out);
    if (data_out) *data_out = data;
    return kExitOk;
}

// Watch mode: a frame per interval, like watch(1), until SIGINT/SIGTERM. On a terminal each
// frame replaces the last (cursor home, clear screen); into a pipe or file the frames follow
// each other, a blank line apart, with no escape codes. Counters are shown per second too,
// from the previous frame.
int monitor(const Settings& settings, const Command& command) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    // Blocked, so a signal during a request waits for sigtimedwait below (at most one
    // request timeout later) instead of cutting a frame in half.
    sigprocmask(SIG_BLOCK, &stop, nullptr);
    const bool terminal = isatty(STDOUT_FILENO) == 1;
    const auto interval = std::chrono::duration<double>(*settings.monitor_seconds);
    std::optional<Previous> previous;
    for (bool first = true;; first = false) {
        std::ostringstream frame;
        const std::time_t wall = std::time(nullptr);
        char clock[64];
        std::strftime(clock, sizeof clock, "%Y-%m-%d %H:%M:%S", std::localtime(&wall));
        if (terminal)
            frame << "\033[H\033[2J";
        else if (!first)
            frame << '\n';
        frame << "Every " << *settings.monitor_seconds << "s: pgmctl " << command.words << "    "
              << clock << "\n\n";
        Json data;
        const auto at = SteadyClock::now();
        const int code = run_once(settings, command, previous ? &*previous : nullptr, frame, frame,
                                  &data);  // errors are shown in the frame
        if (code == kExitOk)
            previous = Previous{std::move(data), at};
        else
            previous.reset();
        std::cout << frame.str() << std::flush;
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(interval).count();
        timespec wait{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
        for (;;) {
            const int signo = sigtimedwait(&stop, nullptr, &wait);
            if (signo > 0) return kExitOk;
            if (errno == EAGAIN) break;  // interval over: next frame
            if (errno != EINTR) return kExitNoAnswer;
        }
    }
}

bool is_number(const std::string& token) {
    if (token.empty()) return false;
    char* end = nullptr;
    std::strtod(token.c_str(), &end);
    return *end == '\0';
}

// Program_options gives an option with an implicit value the next token whatever it is, so
// "-m show sessions" would read "show" as the interval. Here "-m N" and "--monitor N" become
// "--monitor=N" when N is a number, and a bare "-m" becomes "--monitor=1".
std::vector<std::string> monitor_with_adjacent_value(int argc, char** argv) {
    std::vector<std::string> out;
    for (int i = 1; i < argc; ++i) {
        const std::string token = argv[i];
        if (token == "--") {
            out.insert(out.end(), argv + i, argv + argc);
            break;
        }
        if (token != "-m" && token != "--monitor") {
            out.push_back(token);
            continue;
        }
        if (i + 1 < argc && is_number(argv[i + 1]))
            out.push_back(std::string("--monitor=") + argv[++i]);
        else
            out.push_back("--monitor=1");
    }
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    Settings settings;
    po::options_description options("Options");
    double timeout_seconds = std::chrono::duration<double>(settings.timeout).count();
    // clang-format off
    options.add_options()
        ("help,h", "show this help")
        ("version", "print pgmctl's version and exit")
        ("socket,u", po::value<std::string>(&settings.socket)->value_name("PATH"),
         ("control socket (default " + std::string(pgm::dataplane::kDefaultControlSocket) + ")").c_str())
        ("json,j", po::bool_switch(&settings.json), "print the reply's data as JSON")
        ("all,a", po::bool_switch(&settings.show_zero), "also show counters that are zero")
        ("monitor,m", po::value<double>()->implicit_value(1.0, "1")->value_name("SECONDS"),
         "repeat every SECONDS (default 1) until interrupted")
        ("timeout", po::value<double>(&timeout_seconds)->value_name("SECONDS"),
         "seconds to wait for each reply (default 2)");
    // clang-format on
    po::options_description hidden;
    hidden.add_options()("args", po::value<std::vector<std::string>>()->multitoken());
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("args", -1);

    auto usage = [&](std::ostream& out) { out << kUsage << '\n' << options; };
    std::vector<std::string> args;
    Command command;
    try {
        po::variables_map vm;
        po::store(po::command_line_parser(monitor_with_adjacent_value(argc, argv))
                      .options(all)
                      .positional(positional)
                      .run(),
                  vm);
        po::notify(vm);
        if (vm.count("help")) {
            usage(std::cout);
            return kExitOk;
        }
        if (vm.count("version")) {
            std::cout << "pgmctl " << PGMD_VERSION << '\n';
            return kExitOk;
        }
        if (vm.count("args")) args = vm["args"].as<std::vector<std::string>>();
        if (vm.count("monitor")) {
            settings.monitor_seconds = vm["monitor"].as<double>();
            if (!(*settings.monitor_seconds > 0) || !std::isfinite(*settings.monitor_seconds))
                throw UsageError("-m needs a positive number of seconds");
        }
        if (!(timeout_seconds > 0) || !std::isfinite(timeout_seconds))
            throw UsageError("--timeout needs a positive number of seconds");
        settings.timeout = std::chrono::milliseconds(
            static_cast<std::int64_t>(std::ceil(timeout_seconds * 1000.0)));
        command = parse_command(args);
        if (command.what == "help") {
            usage(std::cout);
            return kExitOk;
        }
        settings.json = settings.json || command.json;
        const std::string verb =
            command.request.is_object() ? command.request.value("command", "") : "";
        if (settings.monitor_seconds && verb != "show" && verb != "ping")
            throw UsageError("-m repeats show and ping only");
    } catch (const std::exception& e) {  // po::error and UsageError alike
        // One line: what is wrong, and where the usage is (not the whole usage text).
        std::cerr << "pgmctl: " << e.what() << " (pgmctl --help lists the commands)\n";
        return kExitUsage;
    }

    if (settings.monitor_seconds) return monitor(settings, command);
    return run_once(settings, command, nullptr, std::cout, std::cerr);
}
