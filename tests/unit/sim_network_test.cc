// DOC: Tests of the virtual network itself (sim/): delivery on links and LANs, unicast
// resolution and loss accounting, delay and ordering, scripted and seeded random loss,
// computed routes, scripted hosts; and a 200-node tree carrying 10,000 ODATA through PGM
// router nodes, to keep the simulator fast enough for large scenarios.
#include <gtest/gtest.h>

#include "sim/packets.h"
#include "tests/unit/sim_topology.h"

namespace pgm::sim::simtest {
namespace {

using namespace std::chrono_literals;

const Nla kGroup = ipv4(239, 9, 9, 9);

SessionPackets test_session(const Nla& source) {
    return SessionPackets{Gsi{{1, 2, 3, 4, 5, 6}}, 4000, 4001, source, kGroup};
}

struct Attached {
    ScriptedHost* host;
    Port port;
};

class SimNetwork : public ::testing::Test {
  protected:
    Attached add(const std::string& name, SegmentId s) {
        ScriptedHost& h = topo.host(name);
        return Attached{&h, topo.attach(h.id(), s)};
    }
    void send(const Attached& from, const Nla& to, const PacketSpec& p, Duration when = 0ms) {
        from.host->send_at(kStart + when, from.port.ifindex, IpParams::to(to), p);
    }

    Topology topo;
    Network& net = topo.net;
};

TEST_F(SimNetwork, MulticastReachesEveryOtherAttachmentOnce) {
    const SegmentId lan = topo.segment(SegmentKind::Lan, "lan");
    const Attached a = add("A", lan), b = add("B", lan), c = add("C", lan);
    const PacketSpec odata = test_session(a.port.address).odata(Sqn(1), Sqn(1), {1, 2, 3});
    send(a, kGroup, odata);
    net.run_for(1s);

    EXPECT_EQ(a.host->count(PacketType::Odata), 0u);
    EXPECT_EQ(b.host->count(PacketType::Odata), 1u);
    EXPECT_EQ(c.host->count(PacketType::Odata), 1u);
    const std::size_t size = build(odata)->size();
    EXPECT_EQ(net.counters(a.port.attachment).sent.count(PacketType::Odata), 1u);
    EXPECT_EQ(net.counters(a.port.attachment).sent.byte_count(PacketType::Odata), size);
    EXPECT_EQ(net.counters(b.port.attachment).received.byte_count(PacketType::Odata), size);
    EXPECT_EQ(net.segment_sent(lan).total(), 1u);
}

TEST_F(SimNetwork, UnicastReachesOnlyItsAddresseeOrIsLostAndCounted) {
    const SegmentId lan = topo.segment(SegmentKind::Lan, "lan");
    const Attached a = add("A", lan), b = add("B", lan), c = add("C", lan);
    const PacketSpec nak = test_session(a.port.address).nak(Sqn(7));
    send(a, b.port.address, nak);
    send(a, ipv4(10, 99, 99, 99), nak);
    net.run_for(1s);

    EXPECT_EQ(b.host->count(PacketType::Nak), 1u);
    EXPECT_EQ(c.host->count(PacketType::Nak), 0u);
    EXPECT_EQ(net.counters(a.port.attachment).sent.count(PacketType::Nak), 2u);
    EXPECT_EQ(net.counters(a.port.attachment).unroutable, 1u);
}

TEST_F(SimNetwork, DelayIsPerDirectionAndOrderIsKept) {
    const SegmentId link = topo.segment(SegmentKind::PointToPoint, "link");
    const Attached a = add("A", link), b = add("B", link);
    net.set_impairment(link, a.port.attachment, kAny, Impairment{5ms, 0});
    const SessionPackets s = test_session(a.port.address);
    send(a, kGroup, s.odata(Sqn(1), Sqn(1)), 10ms);
    send(a, kGroup, s.odata(Sqn(2), Sqn(1)), 10ms);
    send(b, kGroup, s.odata(Sqn(3), Sqn(1)), 10ms);
    net.run_for(1s);

    ASSERT_EQ(b.host->received().size(), 2u);
    EXPECT_EQ(b.host->received()[0].at, kStart + 15ms);
    EXPECT_EQ(std::get<DataFields>(b.host->received()[0].spec->fields).sqn, Sqn(1));
    EXPECT_EQ(std::get<DataFields>(b.host->received()[1].spec->fields).sqn, Sqn(2));
    ASSERT_EQ(a.host->received().size(), 1u);
    EXPECT_EQ(a.host->received()[0].at, kStart + 11ms);  // the default delay the other way
}

TEST_F(SimNetwork, ScriptedDropsMatchTypeSequenceRecipientAndCount) {
    const SegmentId lan = topo.segment(SegmentKind::Lan, "lan");
    const Attached a = add("A", lan), b = add("B", lan), c = add("C", lan);
    const SessionPackets s = test_session(a.port.address);
    const RuleId first_two_ncfs =
        net.add_drop_rule(DropRule::on(lan).of_type(PacketType::Ncf).first(2));
    const RuleId odata3_to_b = net.add_drop_rule(
        DropRule::on(lan).towards(b.port.attachment).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    for (std::uint32_t i = 1; i <= 4; ++i) {
        send(a, kGroup, s.ncf(Sqn(i)));
        send(a, kGroup, s.odata(Sqn(i), Sqn(1)));
    }
    net.run_for(1s);

    EXPECT_EQ(b.host->count(PacketType::Ncf), 2u);
    EXPECT_EQ(c.host->count(PacketType::Ncf), 2u);
    EXPECT_EQ(b.host->count(PacketType::Odata), 3u);
    EXPECT_EQ(c.host->count(PacketType::Odata), 4u);
    EXPECT_EQ(net.dropped_by(first_two_ncfs), 2u);
    EXPECT_EQ(net.dropped_by(odata3_to_b), 1u);
    EXPECT_EQ(net.counters(b.port.attachment).dropped.count(PacketType::Ncf), 2u);
    EXPECT_EQ(net.counters(b.port.attachment).dropped.count(PacketType::Odata), 1u);
    EXPECT_EQ(net.counters(c.port.attachment).dropped.count(PacketType::Odata), 0u);
}

// Which of 1000 packets get through a link with 30 % loss, under `seed`.
std::vector<bool> survivors(std::uint64_t seed) {
    Topology topo(seed);
    const SegmentId link = topo.segment(SegmentKind::PointToPoint, "lossy");
    ScriptedHost& a = topo.host("A");
    ScriptedHost& b = topo.host("B");
    const Port pa = topo.attach(a.id(), link);
    topo.attach(b.id(), link);
    topo.net.set_impairment(link, kAny, kAny, Impairment{1ms, 0.3});
    const SessionPackets s = test_session(pa.address);
    for (std::uint32_t i = 0; i < 1000; ++i)
        a.send_at(kStart + 1ms * i, pa.ifindex, IpParams::to(kGroup), s.odata(Sqn(i), Sqn(0)));
    topo.net.run_for(2s);
    std::vector<bool> got(1000, false);
    for (const Received& r : b.received())
        got[std::get<DataFields>(r.spec->fields).sqn.value()] = true;
    return got;
}

TEST(SimRandomLoss, IsReproducibleFromTheSeed) {
    const std::vector<bool> first = survivors(7);
    EXPECT_EQ(survivors(7), first);
    EXPECT_NE(survivors(8), first);
    const auto kept = std::count(first.begin(), first.end(), true);
    EXPECT_GT(kept, 620);
    EXPECT_LT(kept, 780);
}

// Which of 2000 packets get through a link with Gilbert-Elliott loss.
std::vector<bool> burst_survivors(std::uint64_t seed, Impairment imp) {
    Topology topo(seed);
    const SegmentId link = topo.segment(SegmentKind::PointToPoint, "bursty");
    ScriptedHost& a = topo.host("A");
    ScriptedHost& b = topo.host("B");
    const Port pa = topo.attach(a.id(), link);
    topo.attach(b.id(), link);
    topo.net.set_impairment(link, kAny, kAny, imp);
    const SessionPackets s = test_session(pa.address);
    for (std::uint32_t i = 0; i < 2000; ++i)
        a.send_at(kStart + 1ms * i, pa.ifindex, IpParams::to(kGroup), s.odata(Sqn(i), Sqn(0)));
    topo.net.run_for(3s);
    std::vector<bool> got(2000, false);
    for (const Received& r : b.received())
        got[std::get<DataFields>(r.spec->fields).sqn.value()] = true;
    return got;
}

TEST(SimBurstLoss, GilbertElliottLosesInBurstsOfTheGivenMeanLength) {
    // Enter the bad state with 1 %, leave it with 10 % (mean burst 10), lose everything in
    // it and nothing outside: ~9 % loss in runs of ~10.
    const Impairment imp{1ms, 0.0, 0.01, 0.1, 1.0};
    const std::vector<bool> got = burst_survivors(3, imp);
    EXPECT_EQ(burst_survivors(3, imp), got);
    std::size_t lost = 0, runs = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (got[i]) continue;
        ++lost;
        if (i == 0 || got[i - 1]) ++runs;
    }
    ASSERT_GT(runs, 5u);
    const double mean_run = static_cast<double>(lost) / static_cast<double>(runs);
    EXPECT_GT(mean_run, 5.0);  // Bernoulli loss of the same rate: ~1.1
    EXPECT_LT(mean_run, 20.0);
    EXPECT_GT(lost, 60u);
    EXPECT_LT(lost, 400u);
}

TEST_F(SimNetwork, ComputedRoutesPassOnlyThroughForwardingNodes) {
    // A - M - B, and a host H on both segments, which must not be used as a router.
    const SegmentId left = topo.segment(SegmentKind::PointToPoint, "left");
    const SegmentId mid = topo.segment(SegmentKind::Lan, "mid");
    const SegmentId right = topo.segment(SegmentKind::PointToPoint, "right");
    const Attached a = add("A", left);
    MulticastRouterNode& m = topo.cloud("M");
    const Port m_left = topo.attach(m.id(), left);
    topo.attach(m.id(), mid);
    MulticastRouterNode& m2 = topo.cloud("M2");
    topo.attach(m2.id(), mid);
    topo.attach(m2.id(), right);
    const Attached b = add("B", right);
    ScriptedHost& h = topo.host("H");
    topo.attach(h.id(), left);
    topo.attach(h.id(), right);
    net.compute_routes();

    const auto r = net.route(a.host->id(), b.port.address);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->next_hop, m_left.attachment);
    send(a, b.port.address, test_session(a.port.address).nak(Sqn(1)));
    net.run_for(1s);
    ASSERT_EQ(b.host->received().size(), 1u);
    EXPECT_EQ(b.host->received()[0].arrival.ip.ttl, 253);
    EXPECT_EQ(m.counters().forwarded.count(PacketType::Nak), 1u);
    EXPECT_EQ(h.count(PacketType::Nak), 0u);
}

TEST_F(SimNetwork, PlainRoutersTakeMulticastOnlyFromTheirWayToTheSource) {
    // A - M1, a triangle M1 - M2 - M3 - M1, M2 - B; every router a member on every
    // interface. Without the reverse-path check the copies circle the triangle both ways
    // until their TTL runs out, and B gets one on every round.
    const Attached a = add("A", topo.segment(SegmentKind::PointToPoint, "A-M1"));
    MulticastRouterNode& m1 = topo.cloud("M1");
    MulticastRouterNode& m2 = topo.cloud("M2");
    MulticastRouterNode& m3 = topo.cloud("M3");
    topo.attach(m1.id(), a.port.segment);
    topo.link(m1.id(), m2.id(), "M1-M2");
    topo.link(m1.id(), m3.id(), "M1-M3");
    topo.link(m2.id(), m3.id(), "M2-M3");
    const Attached b = add("B", topo.segment(SegmentKind::PointToPoint, "M2-B"));
    topo.attach(m2.id(), b.port.segment);
    for (MulticastRouterNode* m : {&m1, &m2, &m3})
        for (IfIndex i = 1; i <= net.attachments_of(m->id()).size(); ++i)
            m->join(i, kGroup);
    IpParams ip = IpParams::to(kGroup);
    ip.ttl = 12;  // a broken check: B got 7 copies
    a.host->send_at(kStart, a.port.ifindex, ip, test_session(a.port.address).odata(Sqn(1), Sqn(1)));
    net.run_for(1s);

    EXPECT_EQ(b.host->count(PacketType::Odata), 1u);
    EXPECT_EQ(a.host->count(PacketType::Odata), 0u);
    // M2 and M3 each get the other's copy across M2-M3 and drop it.
    EXPECT_EQ(m1.counters().rpf_failed.count(PacketType::Odata), 0u);
    EXPECT_EQ(m2.counters().rpf_failed.count(PacketType::Odata), 1u);
    EXPECT_EQ(m3.counters().rpf_failed.count(PacketType::Odata), 1u);
    EXPECT_EQ(m1.counters().ttl_expired.total() + m2.counters().ttl_expired.total() +
                  m3.counters().ttl_expired.total(),
              0u);
}

TEST_F(SimNetwork, CancelledSendNeverLeaves) {
    const SegmentId link = topo.segment(SegmentKind::PointToPoint, "link");
    const Attached a = add("A", link), b = add("B", link);
    const SessionPackets s = test_session(a.port.address);
    send(a, kGroup, s.odata(Sqn(1), Sqn(1)), 10ms);
    const auto id = a.host->send_at(kStart + 20ms, a.port.ifindex, IpParams::to(kGroup),
                                    s.odata(Sqn(2), Sqn(1)));
    net.run_for(15ms);
    EXPECT_TRUE(a.host->cancel(id));
    net.run_for(1s);
    EXPECT_EQ(b.host->count(PacketType::Odata), 1u);
    EXPECT_EQ(a.host->sent_count(), 1u);
}

// A source, three levels of PGM routers (1, 5, 25) and 168 receivers on the 25 leaf LANs:
// 200 nodes. Every receiver gets every one of 10,000 ODATA.
TEST(SimScale, TreeOf200NodesCarries10000Odata) {
    constexpr int kPackets = 10'000;
    constexpr int kFanout = 5;
    constexpr int kReceivers = 168;
    Topology topo(1);
    const router::RouterConfig config;
    const SegmentId link_s = topo.segment(SegmentKind::PointToPoint, "S-root");
    ScriptedHost& source = topo.host("S");
    const Port src = topo.attach(source.id(), link_s);
    RouterNode& root = topo.router("root", config);
    topo.attach(root.id(), link_s);

    std::vector<RouterNode*> level{&root};
    for (int depth = 0; depth < 2; ++depth) {
        std::vector<RouterNode*> next;
        for (RouterNode* parent : level) {
            for (int i = 0; i < kFanout; ++i) {
                RouterNode& child = topo.router("ne", config);
                const Topology::Link l = topo.link(parent->id(), child.id(), "link");
                parent->join(l.a.ifindex, kGroup);
                next.push_back(&child);
            }
        }
        level = std::move(next);
    }
    std::vector<ScriptedHost*> receivers;
    for (std::size_t i = 0; i < level.size(); ++i) {
        const SegmentId lan = topo.segment(SegmentKind::Lan, "leaf");
        level[i]->join(topo.attach(level[i]->id(), lan).ifindex, kGroup);
        const std::size_t on_lan = kReceivers / level.size() + (i < kReceivers % level.size());
        for (std::size_t r = 0; r < on_lan; ++r) {
            ScriptedHost& h = topo.host("R", ScriptedHost::Options{false});
            topo.attach(h.id(), lan);
            receivers.push_back(&h);
        }
    }
    ASSERT_EQ(topo.net.node_count(), 200u);

    const SessionPackets s = test_session(src.address);
    const IpParams ip = IpParams::to(kGroup);
    source.send_at(kStart, src.ifindex, IpParams::to(kGroup, true),
                   s.spm(Sqn(1), Sqn(1), Sqn(0), src.address));
    const std::vector<std::uint8_t> payload(64, 0xAB);
    for (int i = 0; i < kPackets; ++i)
        source.send_at(kStart + 1ms + 1ms * i, src.ifindex, ip,
                       s.odata(Sqn(static_cast<std::uint32_t>(i)), Sqn(0), payload));
    topo.net.run_until(kStart + 1ms * (kPackets + 100));

    for (const ScriptedHost* r : receivers) {
        EXPECT_EQ(r->count(PacketType::Odata), static_cast<std::uint64_t>(kPackets));
        EXPECT_EQ(r->count(PacketType::Spm), 1u);
    }
    EXPECT_EQ(root.router().totals()[router::Counter::OutOdata],
              static_cast<std::uint64_t>(kPackets * kFanout));
}

}  // namespace
}  // namespace pgm::sim::simtest
