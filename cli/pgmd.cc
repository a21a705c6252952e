// DOC: pgmd, the PGM network element daemon (RFC 3208 router assist) on Linux interfaces.
//
// Owns the process: the command line (smcroute-style flags, docs/operations.md), loading and
// checking the configuration file (docs/configuration.md), logging, daemonising, the pid
// file, the control socket (dataplane::ControlServer answering with control::handle_request,
// on the loop thread, so router state needs no lock), dropping root to a user that keeps
// only CAP_NET_RAW and CAP_NET_ADMIN (also in the bounding set; no_new_privs), and the signals:
// SIGHUP reloads the configuration in place, SIGTERM and SIGINT stop cleanly (pid file and socket
// removed), SIGUSR1 logs a JSON summary of the state. The data path itself is dataplane::Daemon.
// Exit codes: 0 ok, 1 runtime error, 2 bad arguments, 78 bad configuration (EX_CONFIG).
#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "cli/router_json.h"
#include "dataplane/control_server.h"
#include "dataplane/daemon.h"
#include "dataplane/daemon_config.h"
#include "dataplane/defaults.h"
#include "dataplane/event_loop.h"
#include "dataplane/log.h"

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
        po::store(po::parse_command_line(argc, argv, visible_options()), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(e.what());
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

class PidFile {
  public:
    explicit PidFile(std::string path) : path_(std::move(path)) {
        std::ofstream f(path_, std::ios::trunc);
        if (!(f << getpid() << '\n')) throw std::runtime_error("cannot write pid file " + path_);
    }
    ~PidFile() {
        if (unlink(path_.c_str()) != 0 && errno != ENOENT) {
            log::warning("cannot remove " + path_ + ": " + std::strerror(errno));
        }
    }
    PidFile(const PidFile&) = delete;
    PidFile& operator=(const PidFile&) = delete;

  private:
    std::string path_;
};

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

int run(const Options& options) {
    dp::DaemonConfig config;
    try {
        config = load(options);
    } catch (const dp::ConfigError& e) {
        std::cerr << "pgmd: " << e.what() << '\n';
        return kExitConfig;
    }
    if (options.check_only) {
        std::cout << "pgmd: " << options.config_file << ": configuration OK ("
                  << config.interfaces.size() << " interfaces)\n";
        return kExitOk;
    }
    log::open("pgmd", options.syslog, config.log_level);
    if (!options.foreground && daemon(0, 0) != 0) {
        log::error(std::string("cannot daemonise: ") + std::strerror(errno));
        return kExitRuntime;
    }

    dp::EventLoop loop;
    std::unique_ptr<dp::Daemon> daemon;
    std::unique_ptr<dp::ControlServer> control;
    std::unique_ptr<PidFile> pid_file;
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
            [&]() -> pgm::control::ReloadResult {
                try {
                    daemon->reload(load(options));
                    log::set_level(daemon->config().log_level);
                    return {true, "reloaded " + options.config_file};
                } catch (const std::exception& e) {
                    log::error(std::string("reload refused: ") + e.what());
                    return {false, e.what()};
                }
            },
            [&] { daemon->state_changed(); },
            [&] {
                std::map<pgm::IfIndex, pgm::control::CaptureDrops> out;
                for (const auto& [ifindex, d] : daemon->capture_drops())
                    out[ifindex] = {d.kernel, d.interface};
                return out;
            },
            [&] { daemon->clear_capture_drops(); },
            [&] { return fast_path_json(*daemon); },
        };
        prepare_run_directory(config.control.socket, options.user);
        prepare_run_directory(options.pid_file, options.user);
        control = std::make_unique<dp::ControlServer>(
            loop, config.control.socket, config.control.mode, group_id(config.control.group),
            [&](const nlohmann::json& request, const dp::PeerCredentials& peer) {
                daemon->refresh_from_fast_path();  // the kernel's forwarding counted too
                return pgm::control::handle_request(request, view, peer);
            });
        pid_file = std::make_unique<PidFile>(options.pid_file);
        if (options.user) drop_privileges(*options.user);

        loop.add_signal(SIGHUP, [&] {
            try {
                daemon->reload(load(options));
                log::set_level(daemon->config().log_level);
            } catch (const std::exception& e) {
                log::error(std::string("reload refused, running configuration kept: ") + e.what());
            }
        });
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
        loop.run();
        log::notice("stopping");
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
