// DOC: pgmctl, the operator's client of pgmd's control socket (docs/pgmctl.md).
//
// Turns the command line into one JSON request, sends it over the AF_UNIX socket, waits a
// bounded time for the one-line reply, and prints either the reply's data as JSON (-j) or
// text tables rendered from that same JSON, so the two views cannot disagree. With -m it
// repeats the request every few seconds on a cleared screen until SIGINT or SIGTERM.
// Exit codes: 0 ok, 1 the daemon refused (error reply), 2 usage, 3 pgmd not running,
// 4 no usable answer (timeout, no permission to connect, broken reply).
//
// Life cycle: one process per command; a fresh connection per request, so watch mode
// survives a daemon restart.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
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

#include "dataplane/defaults.h"
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
    "Usage: pgmctl [OPTIONS] COMMAND\n"
    "\n"
    "Commands:\n"
    "  show interfaces [interface IF]\n"
    "  show sessions   [interface IF] [group G] [tsi T]\n"
    "  show repair     [interface IF] [group G] [tsi T]\n"
    "  show counters   [interface IF]\n"
    "  show dlr\n"
    "  show fastpath\n"
    "  clear counters|repair     (root or the control socket's group)\n"
    "  reload                    (root or the control socket's group)\n"
    "  ping\n";

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// --- The request from the command line ------------------------------------------------------

struct Command {
    Json request;
    std::string what;  // for show and clear
    bool interface_filter = false;
};

Command parse_command(const std::vector<std::string>& args) {
    if (args.empty()) throw UsageError("no command given");
    Command c;
    const std::string& verb = args[0];
    auto expect_count = [&](std::size_t n) {
        if (args.size() > n) throw UsageError("unexpected \"" + args[n] + "\" after " + verb);
        if (args.size() < n) throw UsageError(verb + " needs an argument");
    };
    if (verb == "ping" || verb == "reload") {
        expect_count(1);
        c.request = Json{{"command", verb}};
        return c;
    }
    if (verb == "clear") {
        expect_count(2);
        if (args[1] != "counters" && args[1] != "repair")
            throw UsageError("clear what? counters or repair, not \"" + args[1] + "\"");
        c.what = args[1];
        c.request = Json{{"command", "clear"}, {"what", c.what}};
        return c;
    }
    if (verb != "show") throw UsageError("unknown command \"" + verb + "\"");
    if (args.size() < 2)
        throw UsageError("show what? interfaces, sessions, repair, counters, dlr, fastpath");
    static const std::map<std::string, std::set<std::string>> kFilters = {
        {"interfaces", {"interface"}},
        {"sessions", {"interface", "group", "tsi"}},
        {"repair", {"interface", "group", "tsi"}},
        {"counters", {"interface"}},
        {"dlr", {}},
        {"fastpath", {}},
    };
    c.what = args[1];
    auto allowed = kFilters.find(c.what);
    if (allowed == kFilters.end()) throw UsageError("cannot show \"" + c.what + "\"");
    Json filter = Json::object();
    for (std::size_t i = 2; i < args.size(); i += 2) {
        const std::string& key = args[i];
        if (!allowed->second.contains(key))
            throw UsageError("show " + c.what + " does not take \"" + key + "\"");
        if (i + 1 >= args.size()) throw UsageError(key + " needs a value");
        if (filter.contains(key)) throw UsageError(key + " given twice");
        filter[key] = args[i + 1];
    }
    c.interface_filter = filter.contains("interface");
    c.request = Json{{"command", "show"}, {"what", c.what}};
    if (!filter.empty()) c.request["filter"] = filter;
    return c;
}

// --- One request over the socket ------------------------------------------------------------

struct Outcome {
    int exit_code = kExitOk;
    Json reply;           // when exit_code is kExitOk or kExitDaemonError
    std::string problem;  // otherwise, and the daemon's error text for kExitDaemonError
};

class Connection {
  public:
    ~Connection() {
        if (fd_ >= 0) close(fd_);
    }
    int fd_ = -1;
};

int remaining_ms(SteadyClock::time_point deadline) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, SteadyClock::time_point deadline) {
    for (;;) {
        pollfd p{fd, events, 0};
        const int n = poll(&p, 1, remaining_ms(deadline));
        if (n > 0) return true;
        if (n == 0) return false;
        if (errno != EINTR) return false;
    }
}

Outcome exchange(const std::string& path, const Json& request, std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    char seconds_text[32];
    std::snprintf(seconds_text, sizeof seconds_text, "%g s", timeout.count() / 1000.0);
    const std::string seconds = seconds_text;
    auto fail = [](int code, std::string problem) {
        Outcome o;
        o.exit_code = code;
        o.problem = std::move(problem);
        return o;
    };
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.empty() || path.size() >= sizeof addr.sun_path)
        return fail(kExitUsage, "socket path too long: " + path);
    std::memcpy(addr.sun_path, path.data(), path.size());

    Connection c;
    c.fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd_ < 0) return fail(kExitNoAnswer, std::string("socket: ") + std::strerror(errno));
    for (;;) {
        if (connect(c.fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) break;
        const int error = errno;
        if (error == ENOENT)
            return fail(kExitNotRunning, "pgmd is not running (no control socket at " + path + ")");
        if (error == ECONNREFUSED)
            return fail(kExitNotRunning,
                        "pgmd is not running (control socket " + path + " refuses connections)");
        if (error == EAGAIN && SteadyClock::now() < deadline) {
            // The daemon's backlog is full: it is there but busy. Try again shortly.
            poll(nullptr, 0, std::min(10, remaining_ms(deadline)));
            continue;
        }
        if (error == EINTR) continue;
        if (error == EAGAIN) return fail(kExitNoAnswer, "pgmd did not accept within " + seconds);
        return fail(kExitNoAnswer, "cannot connect to " + path + ": " + std::strerror(error));
    }

    const std::string line = request.dump() + "\n";
    std::size_t sent = 0;
    while (sent < line.size()) {
        const ssize_t n =
            send(c.fd_, line.data() + sent, line.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
            wait_for(c.fd_, POLLOUT, deadline))
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return fail(kExitNoAnswer, "pgmd did not take the request within " + seconds);
        return fail(kExitNoAnswer, std::string("sending the request: ") + std::strerror(errno));
    }

    std::string received;
    for (;;) {
        const std::size_t newline = received.find('\n');
        if (newline != std::string::npos) {
            received.resize(newline);
            break;
        }
        char buffer[65536];
        const ssize_t n = recv(c.fd_, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            received.append(buffer, static_cast<std::size_t>(n));
            continue;
        }
        if (n == 0) return fail(kExitNoAnswer, "pgmd closed the connection without a reply");
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return fail(kExitNoAnswer, std::string("reading the reply: ") + std::strerror(errno));
        if (!wait_for(c.fd_, POLLIN, deadline))
            return fail(kExitNoAnswer, "no reply from pgmd within " + seconds);
    }

    Outcome o;
    o.reply = Json::parse(received, nullptr, false);
    if (o.reply.is_discarded() || !o.reply.is_object() || !o.reply.contains("ok") ||
        !o.reply["ok"].is_boolean())
        return fail(kExitNoAnswer, "pgmd sent a reply that is not a control reply");
    if (!o.reply["ok"].get<bool>()) {
        o.exit_code = kExitDaemonError;
        const Json& error = o.reply.value("error", Json("(no reason given)"));
        o.problem = error.is_string() ? error.get<std::string>() : error.dump();
    }
    return o;
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

void render_interfaces(const Json& data, std::ostream& out) {
    Table t({"INTERFACE", ">IFINDEX", ">SESSIONS", ">REPAIR", ">InSpms", ">InNaks", ">OutNcfs",
             ">OutRdata", ">Malformed", ">CaptureDrops"});
    for (const Json& i : data.value("interfaces", Json::array())) {
        const Json& c = i.value("counters", Json::object());
        t.add({interface_label(i.value("name", Json()), i.value("ifindex", Json())),
               text(i.value("ifindex", Json())), text(i.value("upstream_sessions", Json())),
               text(i.value("repair_states", Json())), counter(c, "InSpms"), counter(c, "InNaks"),
               counter(c, "OutNcfs"), counter(c, "OutRdata"), counter(c, "Malformed"),
               counter(c, "CaptureDrops")});
    }
    t.print(out);
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

void render_sessions(const Json& data, std::ostream& out) {
    Table t({"TSI", "SOURCE", "GROUP", ">DPORT", "UPSTREAM", "INTERFACE", ">SPM-SQN", ">TRAIL",
             ">LEAD", ">AGE", ">EXPIRES", "ENCAP", ">REPAIR", "DLRS"});
    for (const Json& s : data.value("sessions", Json::array())) {
        std::string encapsulation = text(s.value("encapsulation", Json()));
        if (s.value("udp_port", Json()).is_number()) encapsulation += ":" + text(s["udp_port"]);
        t.add({text(s.value("tsi", Json())), text(s.value("source", Json())),
               text(s.value("group", Json())), text(s.value("data_destination_port", Json())),
               text(s.value("upstream_neighbour", Json())),
               interface_label(s.value("upstream_interface", Json()),
                               s.value("upstream_ifindex", Json())),
               text(s.value("last_spm_sqn", Json())), text(s.value("trail", Json())),
               text(s.value("lead", Json())), duration(s.value("age_s", Json())),
               duration(s.value("expires_in_s", Json())), encapsulation,
               text(s.value("repair_states", Json())), dlrs_cell(s.value("dlrs", Json::array()))});
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

void render_counters(const Json& data, bool show_zero, bool with_totals, std::ostream& out) {
    const Json totals = data.value("totals", Json::object());
    const Json interfaces = data.value("interfaces", Json::array());
    std::vector<std::string> headings{"COUNTER"};
    if (with_totals) headings.push_back(">TOTAL");
    for (const Json& i : interfaces)
        headings.push_back(">" +
                           interface_label(i.value("name", Json()), i.value("ifindex", Json())));
    Table t(headings);
    for (const std::string& name : counter_order(totals)) {
        std::vector<std::string> row{name};
        bool nonzero = false;
        auto cell = [&](const Json& counters) {
            const Json& v = counters.value(name, Json());
            nonzero |= v.is_number() && v.get<std::uint64_t>() != 0;
            row.push_back(text(v));
        };
        if (with_totals) cell(totals);
        for (const Json& i : interfaces)
            cell(i.value("counters", Json::object()));
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

void render(const Command& command, const Json& data, bool show_zero, std::ostream& out) {
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
        if (data.contains("removed")) out << " (" << text(data["removed"]) << " entries)";
        out << '\n';
    } else if (command.what == "interfaces") {
        render_interfaces(data, out);
    } else if (command.what == "sessions") {
        render_sessions(data, out);
    } else if (command.what == "repair") {
        render_repair(data, out);
    } else if (command.what == "counters") {
        render_counters(data, show_zero, !command.interface_filter, out);
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

// Prints one reply; returns the exit code.
int run_once(const Settings& settings, const Command& command, std::ostream& out,
             std::ostream& err) {
    const Outcome o = exchange(settings.socket, command.request, settings.timeout);
    if (o.exit_code != kExitOk) {
        err << "pgmctl: " << o.problem << '\n';
        return o.exit_code;
    }
    const Json data = o.reply.value("data", Json::object());
    if (settings.json)
        out << data.dump(2) << '\n';
    else
        render(command, data, settings.show_zero, out);
    return kExitOk;
}

// Watch mode: a frame per interval on a cleared screen, like watch(1), until SIGINT/SIGTERM.
int monitor(const Settings& settings, const Command& command, const std::string& title) {
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    // Blocked, so a signal during a request waits for sigtimedwait below (at most one
    // request timeout later) instead of cutting a frame in half.
    sigprocmask(SIG_BLOCK, &stop, nullptr);
    const auto interval = std::chrono::duration<double>(*settings.monitor_seconds);
    for (;;) {
        std::ostringstream frame;
        const std::time_t wall = std::time(nullptr);
        char clock[64];
        std::strftime(clock, sizeof clock, "%Y-%m-%d %H:%M:%S", std::localtime(&wall));
        frame << "\033[H\033[2J"
              << "Every " << *settings.monitor_seconds << "s: pgmctl " << title << "    " << clock
              << "\n\n";
        run_once(settings, command, frame, frame);  // errors are shown in the frame
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
        if (!args.empty() && args[0] == "help") {
            usage(std::cout);
            return kExitOk;
        }
        command = parse_command(args);
        if (settings.monitor_seconds && command.request["command"] != "show" &&
            command.request["command"] != "ping")
            throw UsageError("-m repeats show and ping only");
    } catch (const std::exception& e) {  // po::error and UsageError alike
        std::cerr << "pgmctl: " << e.what() << "\n\n";
        usage(std::cerr);
        return kExitUsage;
    }

    if (settings.monitor_seconds) {
        std::string title;
        for (const auto& a : args)
            title += (title.empty() ? "" : " ") + a;
        return monitor(settings, command, title);
    }
    return run_once(settings, command, std::cout, std::cerr);
}
