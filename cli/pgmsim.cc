// DOC: pgmsim: one PGM session in the virtual network, run twice with the same seed — across
// PGM network elements and across plain multicast routers — and a before/after table: NAKs
// reaching the source, NCFs, RDATA packets and bytes per level of links, receivers complete
// or with unrecoverable loss, and the network elements' PGM-MIB counters. For the README's
// demo until the daemon exists. The scenario is sim/scenario.h (shapes, loss model,
// defaults); the program owns nothing but its two Scenario runs, one after the other.
#include <boost/program_options.hpp>

#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>

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

ScenarioResult run(const ScenarioConfig& config, bool network_elements, bool& complete) {
    ScenarioConfig c = config;
    c.network_elements = network_elements;
    Scenario s(c);
    complete = s.run();
    return s.result();
}

}  // namespace

int main(int argc, char** argv) {
    std::string topology = "tree";
    double loss_percent = 1.0;
    std::uint32_t packets = 10000;
    std::uint64_t seed = 1;
    double rate = 1000;
    double delay_ms = 1;
    double nak_bo_ms = 50;
    double rdata_delay_ms = 0;
    int depth = 3;
    int fanout = 0;

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
        "the source holds RDATA this long to collect NAKs, ms");
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
        rate <= 0 || delay_ms < 0 || depth < 1 || depth > 6 || (vm.count("fanout") && fanout < 1)) {
        std::cerr << "pgmsim: invalid option value\n" << opts;
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

    bool complete_with = false, complete_without = false;
    const ScenarioResult w = run(c, true, complete_with);
    const ScenarioResult wo = run(c, false, complete_without);

    std::cout << "pgmsim: " << to_string(c.shape) << ", " << w.routers << " routers, "
              << w.receivers << " receivers, " << packets << " APDUs of " << c.stream.apdu_size
              << " bytes at " << rate << "/s, " << loss_percent << " % loss and " << delay_ms
              << " ms per hop, seed " << seed << "\n";
    Table t;
    t.header("Receivers");
    t.row("complete (every APDU, in order, intact)", w.receivers_complete, wo.receivers_complete);
    t.row("with unrecoverable loss", w.receivers_with_loss, wo.receivers_with_loss);
    t.row("unrecoverable sequence numbers", w.unrecoverable_sqns, wo.unrecoverable_sqns);
    t.row("NAK packets sent", w.receiver_naks_sent, wo.receiver_naks_sent);
    t.header("Source");
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
    if (!complete_with || !complete_without) {
        std::cout << "pgmsim: not every receiver completed within the time limit\n";
        return 1;
    }
    return 0;
}
