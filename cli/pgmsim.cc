// DOC: pgmsim: PGM sessions in the virtual network (one, or several sources and groups
// sharing the routers), run twice with the same seed — across PGM network elements and
// across plain multicast routers — and a before/after table: NAKs reaching the sources,
// NCFs, RDATA packets and bytes per level of links, receivers complete or with
// unrecoverable loss, the network elements' PGM-MIB counters, and with several sessions the
// same per session. The scenario is sim/scenario.h (shapes, sessions, loss model,
// defaults); the program owns nothing but its two Scenario runs, one after the other.
#include <sys/resource.h>
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "dataplane/daemon_config.h"
#include "sim/edge_list.h"
#include "sim/random_tree.h"
#include "sim/scenario.h"

namespace po = boost::program_options;
using pgm::PacketType;
using pgm::sim::Scenario;
using pgm::sim::ScenarioConfig;
using pgm::sim::ScenarioResult;
using pgm::sim::ScenarioShape;

namespace {

std::string ratio(std::uint64_t with, std::uint64_t without) {
    if (without == 0) return with == 0 ? "-" : "inf";
    std::ostringstream os;
    os << std::fixed << std::setprecision(3)
       << static_cast<double>(with) / static_cast<double>(without);
    return os.str();
}

class Table {
  public:
    void row(const std::string& name, std::uint64_t with, std::uint64_t without) {
        std::cout << "  " << std::left << std::setw(50) << name << std::right << std::setw(12)
                  << with << std::setw(12) << without << std::setw(9) << ratio(with, without)
                  << "\n";
    }
    void header(const std::string& title) {
        std::cout << "\n"
                  << std::left << std::setw(52) << title << std::right << std::setw(12)
                  << "with NEs" << std::setw(12) << "without" << std::setw(9) << "ratio"
                  << "\n";
    }
};

// What one run cost the machine.
struct Cost {
    double cpu_seconds = 0;      // user + system, this run only
    double virtual_seconds = 0;  // the virtual clock's advance
    long rss_before_kib = 0;     // resident set before the scenario was built
    long rss_built_kib = 0;      // after it was built (nodes, links, started stacks)
    long peak_rss_kib = 0;       // the process's peak so far (this run's if it ran first)
};

double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

// A line of /proc/self/status in KiB (VmRSS, VmHWM); 0 when unavailable.
long status_kib(const std::string& field) {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
    }
    return 0;
}

// Throws std::invalid_argument for sessions the topology cannot have (Scenario).
ScenarioResult run(const ScenarioConfig& config, bool network_elements, bool& complete,
                   Cost& cost) {
    ScenarioConfig c = config;
    c.network_elements = network_elements;
    cost.rss_before_kib = status_kib("VmRSS");
    const double cpu0 = cpu_seconds();
    Scenario s(c);
    cost.rss_built_kib = status_kib("VmRSS");
    complete = s.run();
    ScenarioResult r = s.result();
    cost.cpu_seconds = cpu_seconds() - cpu0;
    cost.virtual_seconds = std::chrono::duration<double>(r.ran_for).count();
    cost.peak_rss_kib = status_kib("VmHWM");
    return r;
}

void print_cost(const char* label, const ScenarioResult& r, const Cost& c) {
    // Per node and per receiver: "-" when there are none (an edge list may have no receivers).
    auto per = [](long kib, std::size_t n) {
        std::ostringstream os;
        if (n == 0)
            os << "-";
        else
            os << std::fixed << std::setprecision(1)
               << static_cast<double>(kib) / static_cast<double>(n);
        return os.str();
    };
    std::cout << "  " << std::left << std::setw(10) << label << std::right << std::fixed
              << std::setprecision(2) << std::setw(9) << c.cpu_seconds << " s CPU" << std::setw(9)
              << c.virtual_seconds << " s virtual" << std::setw(8)
              << (c.virtual_seconds > 0 ? c.cpu_seconds / c.virtual_seconds : 0.0) << " x real time"
              << std::setw(9) << c.peak_rss_kib / 1024 << " MiB peak" << std::setw(8)
              << per(c.rss_built_kib - c.rss_before_kib, r.receivers + r.routers)
              << " KiB/node built" << std::setw(8)
              << per(c.peak_rss_kib - c.rss_before_kib, r.receivers) << " KiB/receiver at peak\n";
    // What a run costs is about proportional to its deliveries (each recipient of a
    // transmission one): the cost of one is what a faster engine would have to cut.
    std::cout << "  " << std::setw(10) << "" << std::setw(13) << r.deliveries << " deliveries ("
              << r.receiver_deliveries.total()
              << " to receivers: " << r.receiver_deliveries.count(pgm::PacketType::Odata)
              << " ODATA, " << r.receiver_deliveries.count(pgm::PacketType::Rdata) << " RDATA, "
              << r.receiver_deliveries.count(pgm::PacketType::Ncf) << " NCF), " << std::fixed
              << std::setprecision(0)
              << (r.deliveries > 0 ? c.cpu_seconds * 1e9 / static_cast<double>(r.deliveries) : 0.0)
              << " ns CPU per delivery\n";
    std::cout.unsetf(std::ios::floatfield);
    std::cout << std::setprecision(6);
}

// A node name as a JSON string (edge-list names are any characters but blanks and '#').
std::string json_string(const std::string& text) {
    std::ostringstream os;
    os << '"';
    for (const char ch : text) {
        if (ch == '"' || ch == '\\')
            os << '\\' << ch;
        else if (static_cast<unsigned char>(ch) < 0x20)
            os << "\\u" << std::hex << std::setw(4) << std::setfill('0') << int(ch) << std::dec
               << std::setfill(' ');
        else
            os << ch;
    }
    os << '"';
    return os.str();
}

double seconds(pgm::Duration d) {
    return std::chrono::duration<double>(d).count();
}

// One run as one JSON object (for scripts: bench/sim_sweep.py); "sessions" per source.
void print_json(const ScenarioConfig& c, const ScenarioResult& r, bool complete, const Cost& cost) {
    std::cout << "{\"network_elements\":" << (r.network_elements ? "true" : "false")
              << ",\"routers\":" << r.routers << ",\"receivers\":" << r.receivers
              << ",\"apdus\":" << c.stream.apdus << ",\"loss\":" << c.loss << ",\"seed\":" << c.seed
              << ",\"complete\":" << (complete ? "true" : "false")
              << ",\"receivers_complete\":" << r.receivers_complete
              << ",\"unrecoverable_sqns\":" << r.unrecoverable_sqns
              << ",\"receiver_naks_sent\":" << r.receiver_naks_sent
              << ",\"source_nak_packets\":" << r.source_nak_packets
              << ",\"source_max_naks_per_sqn\":" << r.source_max_naks_per_sqn
              << ",\"source_ncfs_sent\":" << r.source.ncfs_sent
              << ",\"source_rdata_sent\":" << r.source.repair_packets_sent
              << ",\"source_link_rdata_bytes\":" << r.source_link_rdata_bytes
              << ",\"completion_seconds\":" << std::chrono::duration<double>(r.completion).count()
              << ",\"cpu_seconds\":" << cost.cpu_seconds
              << ",\"virtual_seconds\":" << cost.virtual_seconds
              << ",\"peak_rss_kib\":" << cost.peak_rss_kib
              << ",\"rss_before_kib\":" << cost.rss_before_kib
              << ",\"rss_built_kib\":" << cost.rss_built_kib << ",\"deliveries\":" << r.deliveries
              << ",\"receiver_deliveries\":" << r.receiver_deliveries.total()
              << ",\"receiver_odata_deliveries\":"
              << r.receiver_deliveries.count(pgm::PacketType::Odata)
              << ",\"receiver_rdata_deliveries\":"
              << r.receiver_deliveries.count(pgm::PacketType::Rdata)
              << ",\"receiver_ncf_deliveries\":"
              << r.receiver_deliveries.count(pgm::PacketType::Ncf)
              << ",\"other_session_apdus\":" << r.other_session_apdus << ",\"sessions\":[";
    for (std::size_t i = 0; i < r.sessions.size(); ++i) {
        const pgm::sim::SessionResult& s = r.sessions[i];
        std::cout << (i > 0 ? "," : "") << "{\"source\":" << json_string(s.source)
                  << ",\"group\":\"" << s.group.to_string() << "\",\"receivers\":" << s.receivers
                  << ",\"receivers_complete\":" << s.receivers_complete
                  << ",\"complete\":" << (s.complete ? "true" : "false")
                  << ",\"unrecoverable_sqns\":" << s.unrecoverable_sqns
                  << ",\"source_nak_packets\":" << s.source_nak_packets
                  << ",\"source_ncfs_sent\":" << s.stats.ncfs_sent
                  << ",\"source_rdata_sent\":" << s.stats.repair_packets_sent
                  << ",\"source_link_rdata_bytes\":" << s.source_link_rdata_bytes
                  << ",\"completion_seconds\":" << seconds(s.completion) << "}";
    }
    std::cout << "]}\n";
}

// "MIN-MAX" or "N" (= N-N) into [lo, hi]; false when malformed.
bool parse_range(const std::string& text, int& lo, int& hi) {
    const auto dash = text.find('-');
    try {
        std::size_t used = 0;
        lo = std::stoi(text.substr(0, dash), &used);
        if (used != (dash == std::string::npos ? text.size() : dash)) return false;
        if (dash == std::string::npos) {
            hi = lo;
            return true;
        }
        hi = std::stoi(text.substr(dash + 1), &used);
        return used == text.size() - dash - 1;
    } catch (const std::exception&) {
        return false;
    }
}

// Router options are pgmd's own configuration keys (pgmd.conf(5)); only those of the router
// core make sense in the virtual network.
bool router_key(const std::string& key) {
    return key.starts_with("timers.") || key.starts_with("limits.") || key.starts_with("dlr.");
}

// `base` with the settings applied as pgmd applies its configuration file's keys; an error
// (unknown key, bad value, nak-elim-ivl not below nak-rdata-ivl) names `origin` and the line.
std::optional<std::string> apply_router_options(
    pgm::router::RouterConfig& config, const std::vector<pgm::sim::EdgeList::Setting>& settings,
    const std::string& origin) {
    pgm::dataplane::DaemonConfig d;
    d.router = config;
    pgm::dataplane::GlobalKeySetter setter(d, origin);
    for (const auto& s : settings) {
        const std::string where = origin + (s.line > 0 ? ": line " + std::to_string(s.line) : "");
        if (!router_key(s.key))
            return where + ": '" + s.key +
                   "' is not a router option (timers.*, limits.*, dlr.* of pgmd.conf(5))";
        try {
            setter.set(s.key, s.value, s.line);
        } catch (const pgm::dataplane::ConfigError& e) {
            return where + ": " + e.reason();
        }
    }
    if (!d.router.valid())
        return origin + ": timers.nak-elim-ivl must be shorter than timers.nak-rdata-ivl";
    config = d.router;
    return std::nullopt;
}

}  // namespace

int main(int argc, char** argv) {
    std::string topology = "tree";
    std::string edges;
    double loss_percent = 1.0;
    std::uint32_t packets = 10000;
    std::uint64_t seed = 1;
    double rate = 1000;
    double delay_ms = 1;
    double nak_bo_ms = 50;
    double rdata_delay_ms = 0;
    int depth = 3;
    int fanout = 0;
    int leaf_receivers = 0;
    double burst_enter_percent = 0;
    double burst_length = 10;
    double burst_loss_percent = 100;
    std::string mode = "both";
    int random_routers = 0;
    std::string random_fanout = "1-4";
    std::string random_receivers = "1-8";
    std::string write_edges;
    std::vector<std::string> router_options;
    int sources = 1;
    int groups = 1;
    int groups_per_receiver = 1;
    std::vector<std::string> source_at;

    po::options_description opts("pgmsim [options]");
    opts.add_options()("help,h", "this help")(
        "topology", po::value(&topology)->default_value(topology),
        "tree: S-R0, depth x fanout routers, receivers on their own links (3 x 4: 21 routers, "
        "64 receivers); star: S-R0, R0 with fanout LANs of 8 receivers (8 x 8)")(
        "loss", po::value(&loss_percent)->default_value(loss_percent),
        "random loss on every hop, percent")("packets", po::value(&packets)->default_value(packets),
                                             "APDUs the source sends")(
        "seed", po::value(&seed)->default_value(seed), "PRNG seed (the run is deterministic)")(
        "rate", po::value(&rate)->default_value(rate), "APDUs per second")(
        "delay-ms", po::value(&delay_ms)->default_value(delay_ms), "delay of every hop, ms")(
        "depth", po::value(&depth)->default_value(depth), "tree: levels of routers")(
        "fanout", po::value(&fanout), "tree: children per router (4); star: LANs (8)")(
        "nak-bo-ms", po::value(&nak_bo_ms)->default_value(nak_bo_ms), "receivers' NAK_BO_IVL, ms")(
        "rdata-delay-ms", po::value(&rdata_delay_ms)->default_value(rdata_delay_ms),
        "the source holds RDATA this long to collect NAKs, ms")(
        "leaf-receivers", po::value(&leaf_receivers),
        "tree: receivers per last-level router (default: fanout)")(
        "leaf-lan", "tree: a last-level router's receivers share one LAN")(
        "edges", po::value(&edges),
        "the topology from an edge-list file (docs/simulator.md; replaces --topology)")(
        "random-routers", po::value(&random_routers),
        "a random tree of this many routers (replaces --topology; fan-out and receivers "
        "below, --leaf-lan, --seed)")(
        "random-fanout", po::value(&random_fanout)->default_value(random_fanout),
        "random tree: child routers per router, MIN-MAX, drawn uniformly")(
        "random-receivers", po::value(&random_receivers)->default_value(random_receivers),
        "random tree: receivers per leaf router, MIN-MAX, drawn uniformly")(
        "write-edges", po::value(&write_edges),
        "write the topology run (--edges or --random-routers) as an edge-list file")(
        "router-option", po::value(&router_options)->composing(),
        "KEY=VALUE: a pgmd.conf key (timers.*, limits.*, dlr.*) for every network element; "
        "repeatable (per router: settings on an edge list's router line)")(
        "sources", po::value(&sources)->default_value(sources),
        "sources sending at once, one session each, sharing the routers (tree, star, random "
        "tree; an edge list has a source line per source): S on S-R0, S2, S3, ... each on "
        "its own link to a router drawn from --seed or named by --source-at")(
        "groups", po::value(&groups)->default_value(groups),
        "groups the sources send to, 1 to --sources: source i sends to group i mod N "
        "(239.1.2.3, 239.1.2.4, ...)")(
        "groups-per-receiver", po::value(&groups_per_receiver)->default_value(groups_per_receiver),
        "groups each receiver joins, 1 to --groups: receiver k (in creation order) joins "
        "groups k to k + N - 1, mod --groups")(
        "source-at", po::value(&source_at)->composing(),
        "ROUTER: the router of the next source beyond the first (S2, then S3, ...); "
        "repeatable")(
        "burst-enter", po::value(&burst_enter_percent)->default_value(burst_enter_percent),
        "Gilbert-Elliott bursts on every lossy hop (loss above 0; a loss-free link stays so): "
        "percent chance per delivery of entering a burst (0: --loss alone, independent per "
        "delivery)")("burst-length", po::value(&burst_length)->default_value(burst_length),
                     "mean burst length, deliveries")(
        "burst-loss", po::value(&burst_loss_percent)->default_value(burst_loss_percent),
        "loss within a burst, percent (outside it: --loss)")(
        "mode", po::value(&mode)->default_value(mode),
        "both: with and without network elements, a comparison table; with / without: that "
        "run only")("stats", "print each run's CPU time, virtual time, memory and deliveries")(
        "json", "print each run as one JSON line instead of the table (implies nothing else)");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, opts), vm);
        po::notify(vm);
    } catch (const std::exception& e) {
        std::cerr << "pgmsim: " << e.what() << "\n" << opts;
        return 2;
    }
    if (vm.count("help")) {
        std::cout << opts;
        return 0;
    }
    if ((topology != "tree" && topology != "star") || loss_percent < 0 || loss_percent > 100 ||
        rate <= 0 || delay_ms < 0 || depth < 1 || depth > 6 || (vm.count("fanout") && fanout < 1) ||
        (vm.count("leaf-receivers") && leaf_receivers < 1) || burst_enter_percent < 0 ||
        burst_enter_percent > 100 || burst_length < 1 || burst_loss_percent < 0 ||
        burst_loss_percent > 100 || (mode != "both" && mode != "with" && mode != "without")) {
        std::cerr << "pgmsim: invalid option value\n" << opts;
        return 2;
    }
    // A router serves at most router::kMaxInterfaces interfaces (its repair state holds the
    // interface set as 64 bits): one upstream plus the children must fit.
    // Tree: children and the last level's receiver links; star: the LANs. An edge list is
    // checked per router below.
    const int children = fanout > 0 ? fanout : (topology == "tree" ? 4 : 8);
    const int leaf_links = topology != "tree" || vm.count("leaf-lan")
                               ? 1
                               : (leaf_receivers > 0 ? leaf_receivers : children);
    if (edges.empty() && !vm.count("random-routers") &&
        static_cast<std::size_t>(std::max(children, leaf_links)) + 1 >
            pgm::router::kMaxInterfaces) {
        std::cerr << "pgmsim: a router would have more than " << pgm::router::kMaxInterfaces
                  << " interfaces (fanout or leaf-receivers too large); use --leaf-lan or a "
                     "deeper tree\n";
        return 2;
    }

    using std::chrono::duration;
    using std::chrono::duration_cast;
    ScenarioConfig c;
    c.shape = topology == "tree" ? ScenarioShape::Tree : ScenarioShape::Star;
    c.depth = depth;
    c.fanout = fanout > 0 ? fanout : (c.shape == ScenarioShape::Tree ? 4 : 8);
    c.loss = loss_percent / 100.0;
    c.seed = seed;
    c.stream.apdus = packets;
    c.stream.apdus_per_second = rate;
    c.link_delay = duration_cast<pgm::Duration>(duration<double, std::milli>(delay_ms));
    c.receiver_nak_bo_ivl = duration_cast<pgm::Duration>(duration<double, std::milli>(nak_bo_ms));
    c.source_rdata_delay =
        duration_cast<pgm::Duration>(duration<double, std::milli>(rdata_delay_ms));
    c.leaf_receivers = leaf_receivers;
    c.leaf_lan = vm.count("leaf-lan") > 0;
    {
        std::vector<pgm::sim::EdgeList::Setting> settings;
        for (const std::string& o : router_options) {
            const auto eq = o.find('=');
            if (eq == std::string::npos || eq == 0 || eq + 1 == o.size()) {
                std::cerr << "pgmsim: --router-option '" << o << "' is not KEY=VALUE\n";
                return 2;
            }
            settings.push_back({o.substr(0, eq), o.substr(eq + 1), 0});
        }
        if (auto error = apply_router_options(c.router, settings, "--router-option")) {
            std::cerr << "pgmsim: " << *error << "\n";
            return 2;
        }
    }
    if (!edges.empty() && vm.count("random-routers")) {
        std::cerr << "pgmsim: --edges and --random-routers are two topologies; give one\n";
        return 2;
    }
    // Options of one topology given with another would be silently ignored: refused.
    for (const char* tree_option : {"topology", "depth", "fanout", "leaf-receivers"}) {
        if ((vm.count("random-routers") || !edges.empty()) && vm.count(tree_option) &&
            !vm[tree_option].defaulted()) {
            std::cerr << "pgmsim: --" << tree_option << " is for --topology tree|star, not "
                      << (edges.empty() ? "--random-routers" : "--edges") << "\n";
            return 2;
        }
    }
    for (const char* random_option : {"random-fanout", "random-receivers"}) {
        if (!vm.count("random-routers") && !vm[random_option].defaulted()) {
            std::cerr << "pgmsim: --" << random_option << " needs --random-routers\n";
            return 2;
        }
    }
    if (sources < 1 || sources > static_cast<int>(pgm::sim::kMaxSources) || groups < 1 ||
        groups_per_receiver < 1) {
        std::cerr << "pgmsim: --sources must be 1 to " << pgm::sim::kMaxSources
                  << ", --groups and --groups-per-receiver at least 1\n";
        return 2;
    }
    for (const char* session_option : {"sources", "groups", "groups-per-receiver", "source-at"}) {
        if (!edges.empty() && vm.count(session_option) && !vm[session_option].defaulted()) {
            std::cerr << "pgmsim: --" << session_option
                      << " is for --topology and --random-routers; an edge list names its "
                         "sources and groups (a source line per source, group=, groups=)\n";
            return 2;
        }
    }
    const bool sessions_given =
        sources > 1 || groups > 1 || groups_per_receiver > 1 || !source_at.empty();
    c.sources = sources;
    c.groups = groups;
    c.groups_per_receiver = groups_per_receiver;
    c.source_routers = source_at;
    if (vm.count("random-routers")) {
        pgm::sim::RandomTreeSpec spec;
        spec.routers = random_routers;
        spec.leaf_lan = vm.count("leaf-lan") > 0;
        spec.seed = seed;
        if (!parse_range(random_fanout, spec.min_fanout, spec.max_fanout) ||
            !parse_range(random_receivers, spec.min_receivers, spec.max_receivers)) {
            std::cerr << "pgmsim: --random-fanout and --random-receivers are MIN-MAX\n";
            return 2;
        }
        if (auto error = pgm::sim::check(spec)) {
            std::cerr << "pgmsim: random tree: " << *error << "\n";
            return 2;
        }
        c.shape = ScenarioShape::Graph;
        c.graph = pgm::sim::random_tree(spec);
        if (sessions_given) {
            if (auto error = pgm::sim::add_sessions(c.graph, sources, groups, groups_per_receiver,
                                                    source_at, seed)) {
                std::cerr << "pgmsim: random tree: " << *error << "\n";
                return 2;
            }
            // A source's link on a router with 63 children would be its 65th interface.
            std::vector<std::size_t> links(c.graph.nodes.size());
            for (const auto& l : c.graph.links)
                for (std::size_t n : l.nodes)
                    if (++links[n] > pgm::router::kMaxInterfaces) {
                        std::cerr << "pgmsim: random tree: router '" << c.graph.nodes[n].name
                                  << "' would have more than " << pgm::router::kMaxInterfaces
                                  << " interfaces with the sources' links (--source-at another "
                                     "router, or a smaller fan-out)\n";
                        return 2;
                    }
        }
    }
    if (!edges.empty()) {
        std::ifstream in(edges);
        if (!in) {
            std::cerr << "pgmsim: cannot read " << edges << "\n";
            return 2;
        }
        std::stringstream text;
        text << in.rdbuf();
        pgm::sim::EdgeListResult parsed = pgm::sim::parse_edge_list(text.str());
        if (!parsed.list) {
            std::cerr << "pgmsim: " << edges << ": " << parsed.error << "\n";
            return 2;
        }
        std::vector<std::size_t> links(parsed.list->nodes.size());
        for (const auto& l : parsed.list->links)
            for (std::size_t n : l.nodes)
                if (++links[n] > pgm::router::kMaxInterfaces &&
                    parsed.list->nodes[n].kind == pgm::sim::EdgeNodeKind::Router) {
                    std::cerr << "pgmsim: " << edges << ": line " << l.line << ": router '"
                              << parsed.list->nodes[n].name << "' has more than "
                              << pgm::router::kMaxInterfaces << " interfaces\n";
                    return 2;
                }
        c.shape = ScenarioShape::Graph;
        c.graph = std::move(*parsed.list);
        for (const auto& n : c.graph.nodes) {
            if (n.settings.empty()) continue;
            pgm::router::RouterConfig own = c.router;
            if (auto error = apply_router_options(own, n.settings, edges)) {
                std::cerr << "pgmsim: " << *error << " (router '" << n.name << "')\n";
                return 2;
            }
            c.router_configs[n.name] = own;
        }
    }
    if (const auto far = c.shape == ScenarioShape::Graph ? pgm::sim::farthest_receiver(c.graph)
                                                         : pgm::sim::FarthestReceiver{};
        far.hops > pgm::sim::kGraphSourceTtl) {
        std::cerr << "pgmsim: receiver '" << c.graph.nodes[far.receiver].name << "' is " << far.hops
                  << " links from source '" << c.graph.nodes[far.source].name
                  << "', beyond the source's TTL (" << static_cast<int>(pgm::sim::kGraphSourceTtl)
                  << "): it could never be reached (a larger minimum fan-out makes random trees "
                     "shallower)\n";
        return 2;
    }
    if (!write_edges.empty()) {
        if (c.shape != ScenarioShape::Graph) {
            std::cerr << "pgmsim: --write-edges needs --edges or --random-routers\n";
            return 2;
        }
        std::ofstream out(write_edges);
        out << "# pgmsim";
        for (int i = 1; i < argc; ++i)
            out << " " << argv[i];
        out << "\n" << pgm::sim::to_text(c.graph);
        if (!out.flush()) {
            std::cerr << "pgmsim: cannot write " << write_edges << "\n";
            return 2;
        }
    }
    c.burst_enter = burst_enter_percent / 100.0;
    c.burst_exit = 1.0 / burst_length;
    c.burst_loss = burst_loss_percent / 100.0;

    // Sessions the topology cannot have are refused before anything runs (Scenario throws
    // while it builds).
    auto run_checked = [&c](bool network_elements, bool& complete,
                            Cost& cost) -> std::optional<ScenarioResult> {
        try {
            return run(c, network_elements, complete, cost);
        } catch (const std::invalid_argument& e) {
            std::cerr << "pgmsim: " << e.what() << "\n";
            return std::nullopt;
        }
    };
    if (mode != "both") {
        bool complete = false;
        Cost cost;
        const auto result = run_checked(mode == "with", complete, cost);
        if (!result) return 2;
        const ScenarioResult& r = *result;
        if (vm.count("json")) {
            print_json(c, r, complete, cost);
        } else {
            std::cout << "pgmsim: " << to_string(c.shape) << ", " << r.routers << " routers ("
                      << (r.network_elements ? "network elements" : "plain multicast") << "), "
                      << r.receivers << " receivers, " << packets << " APDUs, " << loss_percent
                      << " % loss per hop\n"
                      << "  receivers complete " << r.receivers_complete << ", NAKs at the source "
                      << r.source_nak_packets << ", RDATA bytes on the source link "
                      << r.source_link_rdata_bytes << ", completion "
                      << duration<double>(r.completion).count() << " s\n";
            if (r.sessions.size() > 1) {
                for (const pgm::sim::SessionResult& s : r.sessions)
                    std::cout << "  session " << s.source << " -> " << s.group.to_string()
                              << ": receivers complete " << s.receivers_complete << " of "
                              << s.receivers << ", unrecoverable " << s.unrecoverable_sqns
                              << ", NAKs at the source " << s.source_nak_packets
                              << ", RDATA bytes on its link " << s.source_link_rdata_bytes
                              << ", completion " << seconds(s.completion) << " s\n";
                std::cout << "  APDUs of groups not joined " << r.other_session_apdus << "\n";
            }
            print_cost(mode.c_str(), r, cost);
        }
        return complete ? 0 : 1;
    }

    bool complete_with = false, complete_without = false;
    Cost cost_with, cost_without;
    const auto with = run_checked(true, complete_with, cost_with);
    if (!with) return 2;
    const ScenarioResult& w = *with;
    const ScenarioResult wo = run(c, false, complete_without, cost_without);
    if (vm.count("json")) {
        print_json(c, w, complete_with, cost_with);
        print_json(c, wo, complete_without, cost_without);
        return complete_with && complete_without ? 0 : 1;
    }

    std::cout << "pgmsim: " << to_string(c.shape) << ", " << w.routers << " routers, "
              << w.receivers << " receivers, " << packets << " APDUs of " << c.stream.apdu_size
              << " bytes at " << rate << "/s, " << loss_percent << " % loss and " << delay_ms
              << " ms per hop, seed " << seed << "\n";
    if (w.sessions.size() > 1) {
        std::size_t group_count = 0;
        for (std::size_t i = 0; i < w.sessions.size(); ++i) {
            bool seen = false;
            for (std::size_t j = 0; j < i; ++j)
                seen = seen || w.sessions[j].group == w.sessions[i].group;
            if (!seen) ++group_count;
        }
        std::cout << "  " << w.sessions.size() << " sessions (sources) on " << group_count
                  << " groups, sharing the routers; totals first, then per session\n";
    }
    Table t;
    t.header("Receivers");
    t.row("complete (every APDU, in order, intact)", w.receivers_complete, wo.receivers_complete);
    t.row("with unrecoverable loss", w.receivers_with_loss, wo.receivers_with_loss);
    t.row("unrecoverable sequence numbers", w.unrecoverable_sqns, wo.unrecoverable_sqns);
    t.row("NAK packets sent", w.receiver_naks_sent, wo.receiver_naks_sent);
    t.header(w.sessions.size() > 1 ? "Sources (summed)" : "Source");
    t.row("NAK packets received", w.source_nak_packets, wo.source_nak_packets);
    t.row("NAKed sequence numbers (lists included)", w.source.naks_received,
          wo.source.naks_received);
    t.row("distinct sequence numbers NAKed", w.source_distinct_sqns_naked,
          wo.source_distinct_sqns_naked);
    t.row("most NAKs for one sequence number", w.source_max_naks_per_sqn,
          wo.source_max_naks_per_sqn);
    t.row("NCFs sent", w.source.ncfs_sent, wo.source.ncfs_sent);
    t.row("RDATA sent", w.source.repair_packets_sent, wo.source.repair_packets_sent);
    for (std::size_t i = 0; i < w.levels.size(); ++i) {
        const auto& a = w.levels[i];
        const auto& b = wo.levels[i];
        t.header(a.name + ", per link");
        t.row("NAK packets", a.sent.count(PacketType::Nak) / a.links,
              b.sent.count(PacketType::Nak) / b.links);
        t.row("NCF packets", a.sent.count(PacketType::Ncf) / a.links,
              b.sent.count(PacketType::Ncf) / b.links);
        t.row("RDATA packets", a.sent.count(PacketType::Rdata) / a.links,
              b.sent.count(PacketType::Rdata) / b.links);
        t.row("RDATA bytes", a.sent.byte_count(PacketType::Rdata) / a.links,
              b.sent.byte_count(PacketType::Rdata) / b.links);
    }
    std::cout << "\nNetwork elements, PGM-MIB counters summed over " << w.routers
              << " routers (non-zero only):\n";
    for (std::size_t i = 0; i < pgm::router::kCounterCount; ++i) {
        if (w.router_totals.values[i] == 0) continue;
        std::cout << "  " << std::left << std::setw(28) << pgm::router::kCounterNames[i]
                  << std::right << std::setw(12) << w.router_totals.values[i] << "\n";
    }
    std::cout << "\nCompletion (virtual time from the first ODATA): with NEs "
              << duration<double>(w.completion).count() << " s, without "
              << duration<double>(wo.completion).count() << " s\n";
    if (w.sessions.size() > 1) {
        for (std::size_t i = 0; i < w.sessions.size(); ++i) {
            const pgm::sim::SessionResult& a = w.sessions[i];
            const pgm::sim::SessionResult& b = wo.sessions[i];
            t.header("Session " + a.source + " -> " + a.group.to_string() + ", " +
                     std::to_string(a.receivers) + " receivers");
            t.row("receivers complete", a.receivers_complete, b.receivers_complete);
            t.row("unrecoverable sequence numbers", a.unrecoverable_sqns, b.unrecoverable_sqns);
            t.row("NAK packets at the source", a.source_nak_packets, b.source_nak_packets);
            t.row("RDATA bytes on the source's link", a.source_link_rdata_bytes,
                  b.source_link_rdata_bytes);
            const auto ms = [](pgm::Duration d) {
                return static_cast<std::uint64_t>(
                    std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
            };
            t.row("completion, ms (0: not complete)", ms(a.completion), ms(b.completion));
        }
        t.header("All sessions");
        t.row("APDUs of groups a receiver did not join", w.other_session_apdus,
              wo.other_session_apdus);
    }
    if (vm.count("stats")) {
        std::cout << "\nCost (the second run's peak includes the first's):\n";
        print_cost("with", w, cost_with);
        print_cost("without", wo, cost_without);
    }
    if (!complete_with || !complete_without) {
        std::cout << "pgmsim: not every receiver completed within the time limit\n";
        return 1;
    }
    return 0;
}
