// DOC: Test fixture for the network-element scenarios of checklist §6: builds topologies of
// scripted hosts and PGM routers in the virtual network, gives the source and receivers
// their scripted behaviour (SPM + ODATA, NAKs to the latest SPM_PATH, NCF + RDATA answers),
// captures every transmission, and after each test checks the invariants that hold in every
// scenario: each router's PGM-MIB counters equal what its links carried (the parity ones
// what it sent with OPT_PARITY), every packet a router sent parses with a valid checksum,
// and every NCF it sent is multicast with Router Alert and the data source as IP source.
// One fixture object per test.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "sim/packets.h"
#include "tests/unit/sim_topology.h"

namespace pgm::sim::simtest {

using namespace std::chrono_literals;
using router::RepairPhase;

inline Time at(Duration d) {
    return kStart + d;
}

// A scripted host and the port it sends on.
struct Endpoint {
    ScriptedHost* host = nullptr;
    Port port;
    std::uint64_t count(PacketType t) const { return host->count(t); }
};

struct Captured {
    Time at;
    SegmentId segment = 0;
    NodeId node = 0;
    Transmit transmit;
    std::vector<std::uint8_t> bytes;
    std::optional<PacketSpec> spec;  // when it parsed, checksum included
};

std::vector<Sqn> nak_list(const PacketSpec& s);
const NakFields& nak_fields(const PacketSpec& s);

class RouterScenario : public ::testing::Test {
  protected:
    RouterScenario();
    void TearDown() override;

    // --- Building ---
    SegmentId lan(const std::string& name) { return topo.segment(SegmentKind::Lan, name); }
    SegmentId p2p(const std::string& name) { return topo.segment(SegmentKind::PointToPoint, name); }
    Endpoint add_host(const std::string& name, SegmentId s);
    RouterNode& add_router(const std::string& name);
    // `downstream`: the router has members of the session's group there.
    Port attach_router(RouterNode& r, SegmentId s, bool downstream);

    // S on LAN-S with NE1; NE1 has LAN-A (receivers R1..) and LAN-B (the next receivers).
    struct Star {
        Endpoint source;
        RouterNode* ne1 = nullptr;
        Port up, a, b;
        SegmentId lan_s = 0, lan_a = 0, lan_b = 0;
        std::vector<Endpoint> on_a, on_b;
    };
    Star star(int receivers_on_a, int receivers_on_b);
    // S -link- NE1 -link- NE2 -LAN- R.
    struct Chain {
        Endpoint source, receiver;
        RouterNode *ne1 = nullptr, *ne2 = nullptr;
        Port ne1_down, ne2_up;
        SegmentId link_s = 0, link_12 = 0, lan_r = 0;
    };
    Chain chain();

    // --- Scripted behaviour ---
    void spm(const Endpoint& src, const SessionPackets& s, Time t, Sqn sqn,
             std::vector<OptionSpec> options = {}, Sqn trail = Sqn(1), Sqn lead = Sqn(0));
    // At time 0 an SPM (`spm_sqn`), then `count` ODATA from `first`, `spacing` apart.
    void start_session(const Endpoint& src, const SessionPackets& s, Sqn first, int count,
                       Duration spacing = 10ms, Sqn spm_sqn = Sqn(1));
    void rdata(const Endpoint& src, const SessionPackets& s, Time t, Sqn sqn);
    // The source answers each NAK of its session with an NCF (list echoed) and, unless
    // `rdata_delay` is unset, RDATA for every requested sequence that much later.
    void serve_naks(const Endpoint& src, const SessionPackets& s,
                    std::optional<Duration> rdata_delay);
    // Sends `packet` (a NAK, NNAK...) at `t` to the SPM_PATH the receiver heard last.
    ScriptedHost::SendId nak(const Endpoint& r, Time t, const PacketSpec& packet);
    ScriptedHost::SendId nak_to(const Endpoint& r, Time t, const Nla& to, const PacketSpec& p);
    // Cancels the scheduled send `id` of `r` when r hears an NCF for `sqn` (NAK suppression).
    void suppress_on_ncf(const Endpoint& r, ScriptedHost::SendId id, Sqn sqn);
    IpParams downstream_ip(const SessionPackets& s) const;

    // --- Observation ---
    std::uint64_t sent_on(const Port& p, PacketType t) const {
        return net.counters(p.attachment).sent.count(t);
    }
    std::vector<const Captured*> captures(NodeId from, PacketType type) const;
    std::optional<RepairPhase> phase(const RouterNode& r, const Tsi& tsi, Sqn sqn) const;
    std::vector<IfIndex> repair_interfaces(const RouterNode& r, const Tsi& tsi, Sqn sqn) const;
    static Nla last_spm_path(const ScriptedHost& h);

    Topology topo;
    Network& net = topo.net;
    router::RouterConfig config;
    SessionPackets session;
    std::vector<Captured> captured;

  private:
    void record(const Capture& c);
    void expect_counters_match_links(const RouterNode& r) const;
    std::vector<RouterNode*> routers_;
};

}  // namespace pgm::sim::simtest
