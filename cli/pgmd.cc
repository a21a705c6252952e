// DOC: pgmd, the PGM network element daemon (RFC 3208 router assist) on Linux interfaces.
//
// Owns the process: the command line (smcroute-style flags, docs/operations.md), loading and
// checking the configuration file (docs/configuration.md), logging, daemonising, the pid
// file, the control socket (control::ControlServer answering with control::handle_request,
// on the loop thread, so router state needs no lock), dropping root to a user that keeps
// only CAP_NET_RAW and CAP_NET_ADMIN (also in the bounding set; no_new_privs), and the signals:
// SIGHUP reloads the configuration in place, SIGTERM and SIGINT stop cleanly (pid file and socket
// removed), SIGUSR1 logs a JSON summary of the state. The data path itself is dataplane::Daemon.
// Before it serves anything (and before daemonising, so that the refusal reaches the terminal)
// pgmd checks that it has CAP_NET_RAW, locks its pid file (flock: a second pgmd on the same
// pid file is refused, naming the holder's pid; only the holder removes the file) and refuses a
// control socket where a live server answers. The configuration path is made absolute first:
// daemon() changes the working directory to /, and reloads read the file again.
// systemd is told READY=1 once the interfaces are served and the control socket answers,
// RELOADING=1/READY=1 around reloads and STOPPING=1 (dataplane::ServiceNotifier, with the
// watchdog); the Prometheus textfile (cli::TextfileExporter) is rendered from the same
// JSON as pgmctl's replies.
// Exit codes: 0 ok, 1 runtime error, 2 bad arguments, 78 bad configuration (EX_CONFIG).
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "cli/metrics.h"
#include "cli/pgmd_view.h"
#include "control/router_json.h"
#include "control/server.h"
#include "dataplane/daemon.h"
#include "dataplane/daemon_config.h"
#include "dataplane/defaults.h"
#include "dataplane/event_loop.h"
#include "dataplane/log.h"
#include "dataplane/service_notify.h"

namespace {

namespace po = boost::program_options;
namespace dp = pgm::dataplane;
namespace log = pgm::dataplane::log;

constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConfig = 78;
constexpr const char* kDefaultConfig = "/etc/pgmd.conf";
using pgm::dataplane::kDefaultPidFile;

struct Options {
    std::string config_file = kDefaultConfig;
    bool foreground = false;
    bool syslog = false;
    std::optional<dp::LogLevel> level;
    std::optional<std::string> socket;
    std::string pid_file = kDefaultPidFile;
    std::optional<std::string> user;  // USER[:GROUP]
    bool check_only = false;
};

class UsageError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

po::options_description visible_options() {
    po::options_description o("Options");
    o.add_options()                                                                            //
        ("help,h", "print this help and exit")                                                 //
        ("version", "print the version and exit")                                              //
        ("config,f", po::value<std::string>(), "configuration file (default /etc/pgmd.conf)")  //
        ("foreground,n", "run in the foreground (systemd), log to stderr")                     //
        ("syslog,s", "log to syslog (the default unless -n)")                                  //
        ("log-level,l", po::value<std::string>(),
         "none|err|warning|notice|info|debug (overrides the file's log-level)")                   //
        ("socket,u", po::value<std::string>(), "control socket path (overrides control.socket)")  //
        ("pidfile,P", po::value<std::string>(), "pid file (default /run/pgmd/pgmd.pid)")          //
        ("user,p", po::value<std::string>(),
         "drop root to USER[:GROUP] after start-up, keeping CAP_NET_RAW and CAP_NET_ADMIN")  //
        ("check,F", "check the configuration file and exit")                                 //
        ("config-keys", "list every key the configuration file accepts and exit");
    return o;
}

std::optional<Options> parse_arguments(int argc, char** argv) {
    po::variables_map vm;
    try {
        // Operands are collected to be refused: Boost would otherwise drop them silently,
        // and `pgmd -F my.conf` would check /etc/pgmd.conf.
        po::options_description all = visible_options();
        all.add_options()("operand", po::value<std::vector<std::string>>());
        po::positional_options_description operands;
        operands.add("operand", -1);
        po::store(po::command_line_parser(argc, argv).options(all).positional(operands).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
    }
    if (vm.count("operand") != 0) {
        throw UsageError("unexpected argument '" +
                         vm["operand"].as<std::vector<std::string>>().front() +
                         "' (the configuration file is given with -f FILE)");
    }
    if (vm.count("help") != 0) {
        std::cout << "usage: pgmd [-f FILE] [-n] [-s] [-l LEVEL] [-u SOCKET] [-P PIDFILE]\n"
                     "            [-p USER[:GROUP]] [-F] [--config-keys] [--version]\n"
                  << visible_options();
        return std::nullopt;
    }
    if (vm.count("config-keys") != 0) {
        for (const std::string& key : dp::config_keys())
            std::cout << key << '\n';
        return std::nullopt;
    }
    if (vm.count("version") != 0) {
        std::cout << "pgmd " << PGMD_VERSION << '\n';
        return std::nullopt;
    }
    Options o;
    if (vm.count("config") != 0) o.config_file = vm["config"].as<std::string>();
    // Absolute now: the daemon's working directory becomes / and reloads read the file again.
    if (!o.config_file.empty() && o.config_file.front() != '/')
        o.config_file = (std::filesystem::current_path() / o.config_file).lexically_normal();
    o.foreground = vm.count("foreground") != 0;
    o.syslog = vm.count("syslog") != 0 || !o.foreground;
    if (vm.count("log-level") != 0) {
        o.level = dp::parse_log_level(vm["log-level"].as<std::string>());
        if (!o.level) throw UsageError("-l: not one of none|err|warning|notice|info|debug");
    }
    if (vm.count("socket") != 0) o.socket = vm["socket"].as<std::string>();
    if (vm.count("pidfile") != 0) o.pid_file = vm["pidfile"].as<std::string>();
    if (vm.count("user") != 0) o.user = vm["user"].as<std::string>();
    o.check_only = vm.count("check") != 0;
    return o;
}

// The configuration as the command line amends it.
dp::DaemonConfig load(const Options& o) {
    dp::DaemonConfig c = dp::load_config(o.config_file);
    if (o.level) c.log_level = *o.level;
    if (o.socket) c.control.socket = *o.socket;
    return c;
}

std::optional<gid_t> group_id(const std::string& name) {
    if (name.empty()) return std::nullopt;
    if (const group* g = getgrnam(name.c_str())) return g->gr_gid;
    throw std::runtime_error("control.group: no group named '" + name + "'");
}

// Removes every capability but CAP_NET_RAW and CAP_NET_ADMIN from the bounding set, so
// that no program pgmd could execute gains more, and sets no_new_privs, so that set-uid
// and file-capability programs gain nothing at all. Dropping from the bounding set needs
// CAP_SETPCAP: done while still root.
void limit_future_privileges() {
    // PR_CAPBSET_READ fails with EINVAL past the kernel's last capability.
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0L, 0L, 0L) >= 0; ++cap) {
        if (cap == CAP_NET_RAW || cap == CAP_NET_ADMIN) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0L, 0L, 0L) != 0) {
            throw std::runtime_error("-p: cannot drop capability " + std::to_string(cap) +
                                     " from the bounding set: " + std::strerror(errno));
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0) {
        throw std::runtime_error(std::string("-p: cannot set no_new_privs: ") +
                                 std::strerror(errno));
    }
}

// Drops root for `spec` (USER[:GROUP]) keeping CAP_NET_RAW (capture, raw sockets) and
// CAP_NET_ADMIN (multicast joins, socket options), permitted and effective, and nothing else;
// the bounding set is those two as well, and no_new_privs is set.
void drop_privileges(const std::string& spec) {
    const auto colon = spec.find(':');
    const std::string user = spec.substr(0, colon);
    const passwd* pw = getpwnam(user.c_str());
    if (pw == nullptr) throw std::runtime_error("-p: no user named '" + user + "'");
    const uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (colon != std::string::npos) {
        const group* g = getgrnam(spec.substr(colon + 1).c_str());
        if (g == nullptr)
            throw std::runtime_error("-p: no group named '" + spec.substr(colon + 1) + "'");
        gid = g->gr_gid;
    }
    limit_future_privileges();
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0 || setgroups(1, &gid) != 0 ||
        setgid(gid) != 0 || setuid(uid) != 0) {
        throw std::runtime_error(std::string("-p: cannot change identity: ") +
                                 std::strerror(errno));
    }
    cap_t caps = cap_init();
    const cap_value_t keep[] = {CAP_NET_RAW, CAP_NET_ADMIN};
    const bool ok = caps != nullptr && cap_set_flag(caps, CAP_PERMITTED, 2, keep, CAP_SET) == 0 &&
                    cap_set_flag(caps, CAP_EFFECTIVE, 2, keep, CAP_SET) == 0 &&
                    cap_set_proc(caps) == 0;
    if (caps != nullptr) cap_free(caps);
    if (!ok) {
        throw std::runtime_error(std::string("-p: cannot keep CAP_NET_RAW/CAP_NET_ADMIN: ") +
                                 std::strerror(errno));
    }
    prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
    if (setuid(0) == 0) throw std::runtime_error("-p: root could be regained; refusing to run");
    log::notice("running as " + spec +
                " with CAP_NET_RAW and CAP_NET_ADMIN only, no new privileges");
}

// Creates the directory of a run-time file (socket, pid file) when it is missing, owned by
// the user pgmd will run as, so that the files can still be removed after dropping root.
void prepare_run_directory(const std::string& file, const std::optional<std::string>& user) {
    const auto slash = file.rfind('/');
    if (slash == std::string::npos || slash == 0) return;
    const std::string dir = file.substr(0, slash);
    if (mkdir(dir.c_str(), 0755) != 0) {
        if (errno == EEXIST) return;
        throw std::runtime_error("cannot create " + dir + ": " + std::strerror(errno));
    }
    if (!user) return;
    const passwd* pw = getpwnam(user->substr(0, user->find(':')).c_str());
    if (pw != nullptr && chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
        throw std::runtime_error("cannot give " + dir + " to " + *user + ": " +
                                 std::strerror(errno));
    }
}

// The pid file, locked (flock, exclusive) for the life of the process: a second pgmd given the
// same file is refused with the holder's pid, and never overwrites or removes it. The lock
// belongs to the open file description, so it survives daemon()'s fork (write_pid() again
// afterwards); a pid file left by a crash carries no lock and is taken over.
class PidFile {
  public:
    explicit PidFile(std::string path) : path_(std::move(path)) {
        fd_ = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (fd_ < 0) {
            throw std::runtime_error("cannot open pid file " + path_ + ": " + std::strerror(errno));
        }
        if (flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int error = errno;
            std::string holder;
            char buffer[32] = {};
            if (pread(fd_, buffer, sizeof buffer - 1, 0) > 0) holder = buffer;
            while (!holder.empty() && std::isspace(static_cast<unsigned char>(holder.back())))
                holder.pop_back();
            close(fd_);
            if (error == EWOULDBLOCK) {
                throw std::runtime_error(
                    "pid file " + path_ + " is locked by " +
                    (holder.empty() ? std::string("another process") : "pid " + holder) +
                    ": pgmd is already running (another instance needs its own -P, -u and -f)");
            }
            throw std::runtime_error("cannot lock pid file " + path_ + ": " + std::strerror(error));
        }
        write_pid();
    }
    void write_pid() {
        const std::string text = std::to_string(getpid()) + "\n";
        if (ftruncate(fd_, 0) != 0 ||
            pwrite(fd_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
            throw std::runtime_error("cannot write pid file " + path_ + ": " +
                                     std::strerror(errno));
        }
    }
    ~PidFile() {
        // Removed while still locked, so no other pgmd can have taken it in between.
        if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
            log::warning("cannot remove " + path_ + ": " + std::strerror(errno));
        }
        close(fd_);
    }
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

  private:
    std::string path_;
    int fd_ = -1;
};

// Refuses to start without CAP_NET_RAW (captures, raw sockets), naming it and how to run
// pgmd; a missing CAP_NET_ADMIN (group joins, socket options) is a warning.
void check_capabilities() {
    cap_t caps = cap_get_proc();
    if (caps == nullptr) return;  // unknown: the sockets will say
    auto has = [&](cap_value_t cap) {
        cap_flag_value_t v = CAP_CLEAR;
        return cap_get_flag(caps, cap, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET;
    };
    const bool raw = has(CAP_NET_RAW);
    const bool admin = has(CAP_NET_ADMIN);
    cap_free(caps);
    std::error_code ec;
    std::string binary = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec) binary = "pgmd";
    const std::string how =
        "run it as root (with -p USER to drop root after start-up), give the binary the "
        "capabilities (setcap cap_net_raw,cap_net_admin+ep " +
        binary +
        "), or under systemd set AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN "
        "(dist/pgmd.service)";
    if (!raw) {
        throw std::runtime_error(std::string("missing capability CAP_NET_RAW") +
                                 (admin ? "" : " (and CAP_NET_ADMIN)") +
                                 ": pgmd needs it for its packet captures and raw sockets; " + how);
    }
    if (!admin) {
        log::warning(
            "missing capability CAP_NET_ADMIN: multicast joins (join-groups) and "
            "socket options may fail; " +
            how);
    }
}

// `pgmctl show fastpath` (keys in docs/pgmctl.md).
nlohmann::json fast_path_json(const dp::Daemon& d) {
    const dp::FastPathController::Status st = d.fast_path_status();
    nlohmann::json j;
    j["mode"] = st.loaded ? "kernel" : "off";
    if (!st.reason.empty()) j["reason"] = st.reason;
    j["configured"] = dp::to_string(d.config().dataplane.fast_path);
    j["heartbeat_ms"] = st.heartbeat_ms;
    j["fail_open_after_ms"] = st.fail_open_after_ms;
    j["on_exit"] = st.on_exit;
    if (st.loaded) {
        j["program_id"] = st.program_id;
        nlohmann::json maps = nlohmann::json::object();
        for (const auto& [name, id] : st.maps)
            maps[name] = id;
        j["maps"] = maps;
        j["sessions_in_kernel"] = st.sessions_in_kernel;
        std::size_t user = 0;
        nlohmann::json reasons = nlohmann::json::object();
        for (const auto& [why, n] : st.user_space_reasons) {
            reasons[why] = n;
            user += n;
        }
        j["sessions_in_user_space"] = user;
        j["user_space_reasons"] = reasons;
    }
    j["interfaces"] = nlohmann::json::array();
    for (const auto& [ifindex, i] : st.interfaces) {
        nlohmann::json o = {{"ifindex", ifindex},
                            {"name", i.name},
                            {"mode", i.kernel ? "kernel" : "user space"},
                            {"forwarded_packets", i.stats.in_forwarded_packets},
                            {"forwarded_bytes", i.stats.in_forwarded_bytes},
                            {"out_packets", i.stats.out_packets},
                            {"out_bytes", i.stats.out_bytes},
                            {"punted_packets", i.stats.punted_packets},
                            {"punt_lost_packets", i.stats.punt_lost_packets},
                            {"drop_ttl", i.stats.drop_ttl},
                            {"drop_redirect_error", i.stats.drop_redirect_error},
                            {"failopen_packets", i.stats.failopen_packets},
                            {"passed_packets", i.stats.passed_packets},
                            {"consumed_packets", i.stats.consumed_packets}};
        if (!i.reason.empty()) o["reason"] = i.reason;
        if (i.slot >= 0) o["slot"] = i.slot;
        if (i.mac) o["mac"] = dp::mac_text(*i.mac);
        j["interfaces"].push_back(o);
    }
    return j;
}

// A one-line summary for SIGUSR1 (the control socket gives the full state).
nlohmann::json state_summary(const dp::Daemon& d) {
    nlohmann::json j;
    j["interfaces"] = nlohmann::json::array();
    for (const auto& [ifindex, a] : d.active_interfaces()) {
        const auto& m = d.membership().interfaces();
        auto it = m.find(ifindex);
        nlohmann::json i = {{"name", a.name}, {"ifindex", ifindex}};
        if (it != m.end()) {
            i["igmp_querier"] = it->second.querier;
            nlohmann::json groups = nlohmann::json::array();
            for (const auto& [g, s] : it->second.groups)
                groups.push_back(g.to_string());
            i["groups"] = groups;
        }
        if (a.capture) i["captured_pgm"] = a.capture->stats().pgm;
        j["interfaces"].push_back(i);
    }
    j["sessions"] = nlohmann::json::array();
    for (const auto& [tsi, s] : d.router().sessions()) {
        j["sessions"].push_back({{"tsi", pgm::control::tsi_to_string(tsi)},
                                 {"source", s.source.to_string()},
                                 {"group", s.group.to_string()},
                                 {"upstream_interface", d.interface_name(s.upstream_interface)},
                                 {"upstream_neighbour", s.upstream_neighbour.to_string()}});
    }
    const pgm::router::CounterSet totals = d.router().totals();
    nlohmann::json counters;
    for (std::size_t i = 0; i < pgm::router::kCounterCount; ++i)
        if (totals.values[i] != 0) counters[pgm::router::kCounterNames[i]] = totals.values[i];
    j["counters"] = counters;
    j["sent"] = d.transmitter().stats().sent;
    j["send_errors"] = d.transmitter().stats().errors;
    return j;
}

// The [control] keys a reload cannot apply (the socket is created once): those that differ.
std::vector<std::string> control_restart_needed(const dp::ControlConfig& running,
                                                const dp::ControlConfig& file) {
    std::vector<std::string> keys;
    if (file.socket != running.socket) keys.push_back("control.socket");
    if (file.mode != running.mode) keys.push_back("control.mode");
    if (file.group != running.group) keys.push_back("control.group");
    return keys;
}

std::string joined(const std::vector<std::string>& words) {
    std::string out;
    for (const std::string& w : words)
        out += (out.empty() ? "" : ", ") + w;
    return out;
}

// Before the log is open (and for -F): one line on stderr. With -n to stderr, as the log
// does, with the sd-daemon prefix of err.
void report(const Options& options, const std::string& message) {
    if (!options.check_only && options.foreground && !options.syslog) {
        log::error(message);
    } else {
        std::cerr << "pgmd: " << message << '\n';
    }
}

int run(const Options& options) {
    log::open("pgmd", options.syslog && !options.check_only,
              options.level.value_or(dp::LogLevel::Notice), options.foreground && !options.syslog);
    dp::DaemonConfig config;
    try {
        config = load(options);
    } catch (const dp::ConfigError& e) {
        report(options, e.what());
        return kExitConfig;
    }
    if (options.check_only) {
        std::cout << "pgmd: " << options.config_file << ": configuration OK ("
                  << config.interfaces.size() << " interfaces)\n";
        return kExitOk;
    }
    log::set_level(config.log_level);

    // What would make this pgmd fail or disturb another: checked before daemonising, so that
    // the reason reaches the terminal, and before any interface is served.
    std::unique_ptr<PidFile> pid_file;
    try {
        check_capabilities();
        prepare_run_directory(config.control.socket, options.user);
        prepare_run_directory(options.pid_file, options.user);
        pid_file = std::make_unique<PidFile>(options.pid_file);
        pgm::control::clear_socket_path(config.control.socket);
    } catch (const std::exception& e) {
        report(options, e.what());
        return kExitRuntime;
    }
    if (!options.foreground) {
        if (daemon(0, 0) != 0) {
            log::error(std::string("cannot daemonise: ") + std::strerror(errno));
            return kExitRuntime;
        }
        try {
            pid_file->write_pid();  // the child's
        } catch (const std::exception& e) {
            log::error(e.what());
            return kExitRuntime;
        }
    }

    dp::EventLoop loop;
    // systemd (Type=notify): READY=1 once serving, RELOADING=1/READY=1 around reloads.
    dp::ServiceNotifier notifier(loop);
    std::unique_ptr<dp::Daemon> daemon;
    std::unique_ptr<pgm::control::ControlServer> control;
    std::unique_ptr<pgm::cli::TextfileExporter> metrics;
    const dp::ControlConfig running_control = config.control;
    auto served = [&] {
        return "serving " + std::to_string(daemon->active_interfaces().size()) + " of " +
               std::to_string(daemon->config().interfaces.size()) + " interfaces";
    };
    pgm::cli::ProcessRecord record{PGMD_VERSION,
                                   options.config_file,
                                   std::chrono::system_clock::now(),
                                   dp::EventLoop::now(),
                                   config.log_level,
                                   std::nullopt,
                                   std::chrono::system_clock::now()};
    // Loads the file again and applies it; [control] changes are reported, not applied.
    // The reply and the log say which keys changed (changed_keys) and which wait for a restart.
    auto reload = [&]() -> pgm::control::ReloadResult {
        notifier.reloading();
        pgm::control::ReloadResult result;
        try {
            dp::DaemonConfig next = load(options);
            std::vector<std::string> restart =
                control_restart_needed(running_control, next.control);
            std::vector<std::string> changed = dp::changed_keys(daemon->config(), next);
            daemon->reload(std::move(next));
            log::set_level(daemon->config().log_level);
            record.configured_log_level = daemon->config().log_level;
            record.loaded_at = std::chrono::system_clock::now();
            std::string message =
                options.config_file + (changed.empty() ? std::string(": nothing changed")
                                                       : ": changed " + joined(changed));
            log::notice("reload of " + message);
            if (metrics) metrics->configure(daemon->config().metrics);
            notifier.ready(served());
            if (!restart.empty()) {
                message += "; not applied until pgmd restarts: " + joined(restart);
                log::warning("reload: " + joined(restart) +
                             " changed in the file: the running control socket keeps its "
                             "settings until pgmd restarts");
            }
            result = {true, message, restart, changed};
        } catch (const std::exception& e) {
            log::error(std::string("reload refused, running configuration kept: ") + e.what());
            notifier.ready(served() + "; last reload refused: " + e.what());
            result = {false, e.what()};
        }
        record.last_reload =
            pgm::cli::ProcessRecord::Reload{std::chrono::system_clock::now(), result.ok,
                                            result.message, result.changed, result.restart_needed};
        return result;
    };
    try {
        daemon = std::make_unique<dp::Daemon>(loop, config);
        for (const dp::KernelMroute& m : daemon->conflicting_mroutes()) {
            log::warning("the kernel has a multicast route for served group " +
                         m.group.to_string() + " (origin " + m.origin.to_string() +
                         "): pgmd must be the only forwarder of PGM groups "
                         "(docs/operations.md)");
        }
        std::ifstream forward("/proc/sys/net/ipv4/ip_forward");
        int forwarding = 1;
        if (forward >> forwarding && forwarding == 0) {
            log::notice(
                "net.ipv4.ip_forward is 0: unicast (NAKs towards sources, SPMRs) is "
                "not routed through this host");
        }

        pgm::control::RouterView view{
            daemon->router(),
            [&](pgm::IfIndex i) { return daemon->interface_name(i); },
            [] { return dp::EventLoop::now(); },
            reload,
            [&] { daemon->state_changed(); },
            [&] {
                std::map<pgm::IfIndex, pgm::control::CaptureDrops> out;
                for (const auto& [ifindex, d] : daemon->capture_drops())
                    out[ifindex] = {d.kernel, d.interface};
                return out;
            },
            [&] { daemon->clear_capture_drops(); },
            [&] { return fast_path_json(*daemon); },
            [&] { return pgm::cli::status_json(*daemon, record, dp::EventLoop::now()); },
            [&] { return pgm::cli::groups_json(*daemon, dp::EventLoop::now()); },
            [&] { return pgm::cli::configured_interfaces(*daemon); },
            [&](pgm::IfIndex i) { daemon->clear_capture_drops(i); },
            [&](const std::string& level) { return pgm::cli::set_log_level(level, record); },
            [&](const pgm::Nla& source, const pgm::Nla& group) {
                std::vector<pgm::IfIndex> out;
                daemon->members(source, group, out);
                return out;
            },
            [&] { return pgm::cli::running_config_json(*daemon, record); },
        };
        control = std::make_unique<pgm::control::ControlServer>(
            loop, config.control.socket, config.control.mode, group_id(config.control.group),
            [&](const nlohmann::json& request, const pgm::control::PeerCredentials& peer) {
                daemon->refresh_from_fast_path();  // the kernel's forwarding counted too
                return pgm::control::handle_request(request, view, peer);
            });
        // Metrics read what pgmctl reads: the same JSON, after the same fast-path refresh.
        const double started =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        metrics = std::make_unique<pgm::cli::TextfileExporter>(loop, [&, started] {
            daemon->refresh_from_fast_path();
            const pgm::control::Filter all;
            return pgm::cli::Snapshot{pgm::control::interfaces_json(view, all),
                                      pgm::control::sessions_json(view, all),
                                      pgm::control::counters_json(view, all),
                                      fast_path_json(*daemon),
                                      true,
                                      PGMD_VERSION,
                                      started};
        });
        if (options.user) drop_privileges(*options.user);
        // After -p: written as the user it runs as from the first file on, so that it can
        // replace and, at stop, remove what it wrote.
        metrics->configure(config.metrics);

        loop.add_signal(SIGHUP, [&] { reload(); });
        loop.add_signal(SIGTERM, [&] { loop.stop(); });
        loop.add_signal(SIGINT, [&] { loop.stop(); });
        loop.add_signal(SIGUSR1, [&] {
            daemon->refresh_from_fast_path();
            log::notice("state " + state_summary(*daemon).dump());
        });
        std::signal(SIGPIPE, SIG_IGN);

        log::notice("started, " + std::to_string(daemon->active_interfaces().size()) + " of " +
                    std::to_string(config.interfaces.size()) + " interfaces served, control " +
                    config.control.socket);
        notifier.ready(served());
        loop.run();
        log::notice("stopping");
        notifier.stopping();
        metrics.reset();  // removes the file; before `view`, which it reads
        control.reset();  // before `view`, which its handler uses
        pid_file.reset();
    } catch (const std::exception& e) {
        log::error(e.what());
        return kExitRuntime;
    }
    return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
    std::optional<Options> options;
    try {
        options = parse_arguments(argc, argv);
    } catch (const UsageError& e) {
        std::cerr << "pgmd: " << e.what() << "\n(pgmd --help lists the options)\n";
        return kExitUsage;
    }
    if (!options) return kExitOk;
    return run(*options);
}
