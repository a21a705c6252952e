// DOC: NAK-flood fairness (issue 17 item 5, decisions.md D36) in the virtual network: one host
// on a LAN floods NAKs past the interface's NAK rate cap while two receivers on the same LAN
// NAK real losses. With the per-neighbour cap the flooder is shed at its own rate
// (ShedNakNeighbour) and every receiver NAK is admitted, confirmed and forwarded upstream;
// without it (max_naks_per_second_per_neighbour = 0, the behaviour before) the flood takes
// the whole interface budget and the receivers' NAKs are shed with it. A flood of spoofed
// sources fills the neighbour table to its cap and no further, shares one bucket, and does
// not push out a receiver that NAKed within the last second. Exact counts: the flood and then
// the receivers' NAKs arrive in one instant of virtual time (events at one time keep their
// order), so no bucket refills while they are judged. The RouterScenario
// fixture adds its invariants (counters = what the links carried).
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;

class RouterNakFairness : public RouterScenario {
  protected:
    static constexpr std::uint32_t kInterfaceCap = 100;
    static constexpr std::uint32_t kNeighbourCap = 20;
    static constexpr int kFlood = 1000;

    RouterNakFairness() {
        config.max_naks_per_second_per_interface = kInterfaceCap;
        config.max_naks_per_second_per_neighbour = kNeighbourCap;
    }
    // NAKs for a TSI with no path state: admitted ones cost nothing but a counter
    // (InNakNoSessionErrors), so the counts below are the admission's alone.
    SessionPackets unknown_session() const {
        SessionPackets o = session;
        o.gsi = Gsi{{0xEE, 0xEE, 0xEE, 0xEE, 0xEE, 0x01}};
        return o;
    }
    // S with ODATA 1-10, answering NAKs with NCF + RDATA; R1, R2 and the flooder M on LAN-A.
    Star lan_with_flooder() {
        Star t = star(2, 0);
        flooder = add_host("M", t.lan_a);
        start_session(t.source, session, Sqn(1), 10);
        serve_naks(t.source, session, 5ms);
        return t;
    }
    // The receivers' losses: R1 NAKs 3 and 4 (two NAKs), R2 7 with 8 in its list, at `when`.
    void receivers_nak(const Star& t, Time when) {
        nak(t.on_a[0], when, session.nak(Sqn(3)));
        nak(t.on_a[0], when, session.nak(Sqn(4)));
        nak(t.on_a[1], when, session.nak(Sqn(7), {Sqn(8)}));
    }
    static constexpr std::uint64_t kReceiverNaks = 4;        // list entries counted
    static constexpr std::uint64_t kReceiverNakPackets = 3;  // InNaks counts packets

    Endpoint flooder;
};

// The flood (1000 NAKs from M in one instant) gets M's bucket, 20, and no more; the
// interface keeps 80 for the receivers, whose 4 NAKs are all admitted, confirmed and sent
// upstream (one NAK upstream per receiver NAK packet: none eliminated, none shed), and
// repaired.
TEST_F(RouterNakFairness, FloodingHostIsShedAtItsShareAndReceiversNaksGoUpstream) {
    Star t = lan_with_flooder();
    const SessionPackets other = unknown_session();
    for (int i = 0; i < kFlood; ++i)
        nak_to(flooder, at(150ms), t.a.address, other.nak(Sqn(1 + i)));
    receivers_nak(t, at(150ms));  // right after the flood
    net.run_until(at(1s));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InNaks], kFlood + kReceiverNakPackets);
    EXPECT_EQ(c[Counter::ShedNakNeighbour], kFlood - kNeighbourCap);
    EXPECT_EQ(c[Counter::InNakNoSessionErrors], kNeighbourCap);  // the flood admitted
    EXPECT_EQ(c[Counter::ShedNakRate], 0u);
    EXPECT_EQ(c[Counter::NakNeighboursFull], 0u);
    EXPECT_EQ(c[Counter::OutNaks], kReceiverNakPackets);
    EXPECT_EQ(c[Counter::OutNcfs], kReceiverNakPackets);
    EXPECT_EQ(c[Counter::UniqueNaks], kReceiverNaks);
    EXPECT_EQ(t.source.count(PacketType::Nak), kReceiverNakPackets);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), kReceiverNaks);  // 3, 4, 7, 8 repaired
    EXPECT_EQ(t.on_a[1].count(PacketType::Rdata), kReceiverNaks);
    EXPECT_EQ(flooder.count(PacketType::Ncf), kReceiverNakPackets);  // none for the flood
    // The counters are the interface's: LAN-A's.
    const auto& ifs = t.ne1->router().interfaces();
    const auto lan_a = std::find_if(ifs.begin(), ifs.end(),
                                    [&](const auto& i) { return i.ifindex == t.a.ifindex; });
    ASSERT_NE(lan_a, ifs.end());
    EXPECT_EQ(lan_a->counters[Counter::ShedNakNeighbour], kFlood - kNeighbourCap);
    EXPECT_EQ(lan_a->nak_neighbours.size(), 3u);  // M, R1, R2
}

// The same flood without the per-neighbour cap, the behaviour before D36: M takes the whole
// interface budget (100) and every NAK of the receivers is shed with the rest of the flood;
// nothing goes upstream and nothing is repaired. (What the test above guards against.)
TEST_F(RouterNakFairness, WithoutThePerNeighbourCapTheFloodStarvesTheReceivers) {
    config.max_naks_per_second_per_neighbour = 0;
    Star t = lan_with_flooder();
    const SessionPackets other = unknown_session();
    for (int i = 0; i < kFlood; ++i)
        nak_to(flooder, at(150ms), t.a.address, other.nak(Sqn(1 + i)));
    receivers_nak(t, at(150ms));  // right after the flood
    net.run_until(at(1s));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InNakNoSessionErrors], kInterfaceCap);
    EXPECT_EQ(c[Counter::ShedNakRate], kFlood - kInterfaceCap + kReceiverNaks);
    EXPECT_EQ(c[Counter::ShedNakNeighbour], 0u);
    EXPECT_EQ(c[Counter::OutNaks], 0u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 0u);
}

// A steady flood (one NAK a millisecond for a second, 50 times the per-neighbour rate and 10
// times the interface's) with the receivers NAKing in the middle of it: M is held to its
// bucket plus its refill, the interface cap sheds nothing, and the receivers' NAKs all go
// upstream.
TEST_F(RouterNakFairness, SteadyFloodLeavesTheInterfaceBudgetToTheReceivers) {
    Star t = lan_with_flooder();
    const SessionPackets other = unknown_session();
    for (int i = 0; i < kFlood; ++i)
        nak_to(flooder, at(150ms + i * 1ms), t.a.address, other.nak(Sqn(1 + i)));
    receivers_nak(t, at(600ms));
    net.run_until(at(1200ms));
    const router::CounterSet c = t.ne1->router().totals();
    const std::uint64_t admitted = c[Counter::InNakNoSessionErrors];
    EXPECT_EQ(admitted + c[Counter::ShedNakNeighbour], static_cast<std::uint64_t>(kFlood));
    EXPECT_GE(admitted, kNeighbourCap + kNeighbourCap - 1);  // full bucket + ~1 s of refill
    EXPECT_LE(admitted, kNeighbourCap + kNeighbourCap + 1);
    EXPECT_EQ(c[Counter::ShedNakRate], 0u);
    EXPECT_EQ(c[Counter::OutNaks], kReceiverNakPackets);
    EXPECT_EQ(t.source.count(PacketType::Nak), kReceiverNakPackets);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), kReceiverNaks);
}

// Spoofed sources: 1000 NAKs from 1000 different addresses, in one instant, with room for 8
// neighbours. R1 NAKed 50 ms before, so it holds an entry: 7 spoofed sources get one each
// (7 admitted), the other 993 share one bucket (20 admitted, 973 shed). The table never
// grows past 8, and R1, which the flood cannot push out while it is active, still has its
// own bucket: its NAK during the flood goes upstream.
TEST_F(RouterNakFairness, SpoofedSourcesFillTheTableToItsCapAndShareOneBucket) {
    config.max_nak_neighbours_per_interface = 8;
    Star t = lan_with_flooder();
    const SessionPackets other = unknown_session();
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));
    for (int i = 0; i < kFlood; ++i) {
        IpParams ip = IpParams::to(t.a.address);
        ip.source = Nla::ipv4(0x0A'63'00'00u + static_cast<std::uint32_t>(i));  // 10.99.x.y
        flooder.host->send_at(at(150ms), flooder.port.ifindex, ip, other.nak(Sqn(1 + i)));
    }
    nak(t.on_a[0], at(160ms), session.nak(Sqn(5)));
    net.run_until(at(1s));
    const router::CounterSet c = t.ne1->router().totals();
    constexpr std::uint64_t kOwnEntries = 8 - 1;  // R1 holds the eighth
    EXPECT_EQ(c[Counter::NakNeighboursFull], kFlood - kOwnEntries);
    EXPECT_EQ(c[Counter::InNakNoSessionErrors], kOwnEntries + kNeighbourCap);
    EXPECT_EQ(c[Counter::ShedNakNeighbour], kFlood - kOwnEntries - kNeighbourCap);
    EXPECT_EQ(c[Counter::ShedNakRate], 0u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 2u);  // R1's 2 and 5
    for (const auto& i : t.ne1->router().interfaces())
        EXPECT_LE(i.nak_neighbours.size(), 8u);
}

}  // namespace
}  // namespace pgm::sim::simtest
