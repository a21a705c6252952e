// DOC: The spoofing and flooding rules of the network element (issue 8, docs/security.md),
// one named test each: an SPM that fails the RPF check, an SPM sequence jump of more than
// half the space (or from another source address), an NCF from downstream, NAKs for
// sessions the router does not know, and the caps that bound what a flood can make it hold
// (NAK rate, repair states, sessions). Every forgery comes from a scripted attacker host in
// the virtual network, with the IP source it chooses, and each test asserts that no state
// was created or taken over and which counter recorded the refusal. The RouterScenario
// fixture adds its invariants (counters = what the links carried, packets sent parse).
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;

class RouterSpoofing : public RouterScenario {
  protected:
    // Multicast to the session's group with Router Alert, the IP source forged as `source`.
    IpParams spoofed_downstream(const Nla& source) const {
        IpParams p = downstream_ip(session);
        p.source = source;
        return p;
    }
    const router::Session& path_state(const RouterNode& r) const {
        return r.router().sessions().at(session.tsi());
    }
    SessionPackets other_session(std::uint8_t tag, std::uint16_t source_port) const {
        SessionPackets o = session;
        o.gsi = Gsi{{0xEE, 0xEE, 0xEE, 0xEE, 0xEE, tag}};
        o.source_port = source_port;
        return o;
    }
};

// RPF (§7.1, N-SPM-1): an SPM must arrive on the interface of the route towards its source.
// An attacker downstream forges SPMs "from" the source: one that would move the live
// session's upstream to itself (next SPM_SQN, a window far ahead) and one for a new TSI.
// Neither changes or creates path state, neither is forwarded, each is a SpmRpfError; the
// source's own next SPM is still in sequence.
TEST_F(RouterSpoofing, SpmNotFromTheRouteToTheSourceIsRejected) {
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_a);
    start_session(t.source, session, Sqn(1), 5);  // SPM 1, then ODATA 1-5 until 50 ms
    const SessionPackets other = other_session(1, 9000);
    const IpParams forged = spoofed_downstream(session.source);
    evil.host->send_at(at(100ms), evil.port.ifindex, forged,
                       session.spm(Sqn(2), Sqn(1), Sqn(1000), evil.port.address));
    evil.host->send_at(at(110ms), evil.port.ifindex, forged,
                       other.spm(Sqn(1), Sqn(1), Sqn(0), evil.port.address));
    net.run_until(at(150ms));
    ASSERT_EQ(t.ne1->router().sessions().size(), 1u);
    EXPECT_FALSE(t.ne1->router().sessions().contains(other.tsi()));
    EXPECT_EQ(path_state(*t.ne1).upstream_interface, t.up.ifindex);
    EXPECT_EQ(path_state(*t.ne1).upstream_neighbour, t.source.port.address);
    EXPECT_EQ(path_state(*t.ne1).last_spm_sqn, Sqn(1));
    EXPECT_EQ(path_state(*t.ne1).lead_seen, Sqn(5));  // the forged lead was not noted

    spm(t.source, session, at(200ms), Sqn(2), {}, Sqn(1), Sqn(5));
    net.run_until(at(300ms));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::SpmRpfErrors], 2u);
    EXPECT_EQ(c[Counter::SpmBadSqn], 0u);
    EXPECT_EQ(c[Counter::OutSpms], 4u);  // the source's two SPMs onto LAN-A and LAN-B
    EXPECT_EQ(path_state(*t.ne1).last_spm_sqn, Sqn(2));
    EXPECT_EQ(t.on_b[0].count(PacketType::Spm), 2u);
    EXPECT_EQ(last_spm_path(*t.on_b[0].host), t.b.address);
}

// SPM sequence (§6.2, 7.1): on the right interface, with the source's address forged, SPMs
// whose SPM_SQN jumps more than half the space ahead (which serial arithmetic reads as
// older), replay the last one, or go back do not take the session over; nor does an
// in-sequence SPM for the TSI from another IP source (the attacker's own address, which
// passes RPF). Each is a SpmBadSqn; the upstream neighbour, the last SPM_SQN and the lead
// stay the source's, nothing is forwarded, and the source's next SPM is accepted.
TEST_F(RouterSpoofing, SpmSequenceJumpBeyondHalfTheSpaceDoesNotTakeOver) {
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_s);
    start_session(t.source, session, Sqn(1), 5, 10ms, Sqn(100));
    const IpParams forged = spoofed_downstream(session.source);
    const Sqn jumps[] = {Sqn(100 + 0x80000001u), Sqn(100 + 0xC0000000u), Sqn(100 + 0xFFFFFFFFu),
                         Sqn(100)};
    Duration when = 100ms;
    for (Sqn sqn : jumps) {
        evil.host->send_at(at(when), evil.port.ifindex, forged,
                           session.spm(sqn, Sqn(1), sqn, evil.port.address));
        when += 10ms;
    }
    evil.host->send_at(at(when), evil.port.ifindex, downstream_ip(session),  // own address
                       session.spm(Sqn(101), Sqn(1), Sqn(5000), evil.port.address));
    net.run_until(at(190ms));
    const router::Session& s = path_state(*t.ne1);
    EXPECT_EQ(s.upstream_neighbour, t.source.port.address);
    EXPECT_EQ(s.source, session.source);
    EXPECT_EQ(s.last_spm_sqn, Sqn(100));
    EXPECT_EQ(s.lead_seen, Sqn(5));
    EXPECT_EQ(t.ne1->router().totals()[Counter::SpmBadSqn], 5u);
    EXPECT_EQ(t.ne1->router().sessions().size(), 1u);

    spm(t.source, session, at(200ms), Sqn(101), {}, Sqn(1), Sqn(5));
    net.run_until(at(300ms));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::SpmBadSqn], 5u);
    EXPECT_EQ(c[Counter::SpmRpfErrors], 0u);
    EXPECT_EQ(c[Counter::OutSpms], 4u);
    EXPECT_EQ(path_state(*t.ne1).last_spm_sqn, Sqn(101));
    EXPECT_EQ(path_state(*t.ne1).upstream_neighbour, t.source.port.address);
    for (const Endpoint& r : {t.on_a[0], t.on_b[0]})
        EXPECT_EQ(r.count(PacketType::Spm), 2u);
}

// NCFs come from upstream only (§7.5): NCFs forged downstream "from" the source, for a
// live sequence (with a list) and for a TSI the router does not know, create no repair
// state (no NAK anticipated, so a later real NAK is not suppressed), are not forwarded, and
// are counted as NcfError / InNcfNoSessionErrors.
TEST_F(RouterSpoofing, NcfFromDownstreamCreatesNoState) {
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_a);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_b).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    const IpParams forged = spoofed_downstream(session.source);
    evil.host->send_at(at(100ms), evil.port.ifindex, forged, session.ncf(Sqn(3), {Sqn(4)}));
    evil.host->send_at(at(110ms), evil.port.ifindex, forged, other_session(2, 9000).ncf(Sqn(3)));
    net.run_until(at(150ms));
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(t.on_b[0].count(PacketType::Ncf), 0u);  // not forwarded

    nak(t.on_b[0], at(200ms), session.nak(Sqn(3)));
    net.run_until(at(1s));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NcfError], 1u);
    EXPECT_EQ(c[Counter::InNcfNoSessionErrors], 1u);
    EXPECT_EQ(c[Counter::NcfAnticipated], 0u);
    EXPECT_EQ(c[Counter::NakEliminated], 0u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);  // the real NAK went upstream
    EXPECT_EQ(t.on_b[0].count(PacketType::Ncf), 1u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 0u);
}

// NAKs and NNAKs for sessions the router has no path state for (random TSIs, forged IP
// sources, some with OPT_NAK_LIST; and the live GSI with another source port) get no NCF,
// create no session or repair state, go nowhere, and are counted as
// In(N)NakNoSessionErrors (N-NAK-21, decisions.md D14.2).
TEST_F(RouterSpoofing, NakForAnUnknownSessionCreatesNoState) {
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_a);
    start_session(t.source, session, Sqn(1), 5);
    std::mt19937 random(8);
    auto any = [&random] { return static_cast<std::uint32_t>(random()); };
    constexpr int kNaks = 300;
    constexpr int kNnaks = 50;
    for (int i = 0; i < kNaks + kNnaks; ++i) {
        SessionPackets forged = session;  // every 50th: the live GSI, another source port
        forged.source_port = static_cast<std::uint16_t>(session.source_port + 1 + i);
        if (i % 50 != 0) {
            for (auto& b : forged.gsi.bytes)
                b = static_cast<std::uint8_t>(any());
            forged.gsi.bytes[0] = 0xA0;  // never the live GSI (0x11...)
            forged.source_port = static_cast<std::uint16_t>(any());
        }
        forged.source = Nla::ipv4(any());
        std::vector<Sqn> list;
        if (i % 3 == 0) list = {Sqn(any()), Sqn(any())};
        const Sqn sqn(any());
        IpParams ip = IpParams::to(t.a.address);
        ip.source = Nla::ipv4(any());
        evil.host->send_at(at(100ms + i * 1ms), evil.port.ifindex, ip,
                           i < kNaks ? forged.nak(sqn, list) : forged.nnak(sqn, list));
    }
    net.run_until(at(1s));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InNaks], static_cast<std::uint64_t>(kNaks));
    EXPECT_EQ(c[Counter::InNakNoSessionErrors], static_cast<std::uint64_t>(kNaks));
    EXPECT_EQ(c[Counter::InNnakNoSessionErrors], static_cast<std::uint64_t>(kNnaks));
    EXPECT_EQ(c[Counter::ShedNakRate], 0u);
    EXPECT_EQ(c[Counter::OutNcfs], 0u);
    EXPECT_EQ(c[Counter::OutNaks] + c[Counter::OutNnaks], 0u);
    EXPECT_EQ(t.ne1->router().sessions().size(), 1u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(path_state(*t.ne1).counters[Counter::InNaks], 0u);
    EXPECT_EQ(net.segment_sent(t.lan_a).count(PacketType::Ncf), 0u);
    EXPECT_EQ(t.source.count(PacketType::Nak) + t.source.count(PacketType::Nnak), 0u);
}

// The caps (router/config.h) under a NAK flood for the live session, within its window:
// past the per-interface rate the NAKs are shed and counted (ShedNakRate) before any work,
// the repair states never exceed max_repair_states (ShedRepairCap counts the refusals),
// and a receiver on the other interface still gets its repair.
TEST_F(RouterSpoofing, NakFloodIsShedAtTheRateCapAndRepairStatesStayCapped) {
    config.max_naks_per_second_per_interface = 100;
    config.max_repair_states = 20;
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_a);
    start_session(t.source, session, Sqn(1), 5);
    spm(t.source, session, at(5ms), Sqn(2), {}, Sqn(1), Sqn(200));  // window 1-200
    serve_naks(t.source, session, std::nullopt);  // confirmed, never repaired: states stay
    constexpr int kFlood = 1000;                  // 1 per ms for 1 s
    for (int i = 0; i < kFlood; ++i)
        nak_to(evil, at(100ms + i * 1ms), t.a.address, session.nak(Sqn(1 + (i * 7) % 200)));
    std::size_t most_states = 0;
    for (Duration d = 100ms; d <= 1100ms; d += 5ms) {
        net.run_until(at(d));
        most_states = std::max(most_states, t.ne1->router().repairs().size());
    }
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InNaks], static_cast<std::uint64_t>(kFlood));
    const std::uint64_t admitted = c[Counter::InNaks] - c[Counter::ShedNakRate];
    EXPECT_GT(c[Counter::ShedNakRate], 0u);
    EXPECT_LE(admitted, 100u + 100u);  // a full bucket, then 100/s for 1 s
    EXPECT_GE(admitted, 100u);
    EXPECT_EQ(most_states, 20u);
    EXPECT_GT(c[Counter::ShedRepairCap], 0u);
}

// max_sessions: SPMs of new TSIs beyond the cap (here from a host on the source's LAN, so
// that they pass RPF) create no session and are counted as ShedSessionCap; the sessions
// already there are kept and refreshed.
TEST_F(RouterSpoofing, SpmsOfNewSessionsStopAtTheSessionCap) {
    config.max_sessions = 10;
    Star t = star(1, 0);
    const Endpoint evil = add_host("M", t.lan_s);
    start_session(t.source, session, Sqn(1), 5);
    constexpr int kForged = 50;
    for (int i = 0; i < kForged; ++i) {
        SessionPackets forged = other_session(static_cast<std::uint8_t>(i), 9000);
        forged.source = evil.port.address;
        evil.host->send_at(at(100ms + i * 1ms), evil.port.ifindex, downstream_ip(session),
                           forged.spm(Sqn(1), Sqn(1), Sqn(0), evil.port.address));
    }
    spm(t.source, session, at(300ms), Sqn(2), {}, Sqn(1), Sqn(5));
    net.run_until(at(400ms));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(t.ne1->router().sessions().size(), 10u);
    EXPECT_EQ(c[Counter::ShedSessionCap], static_cast<std::uint64_t>(kForged - 9));
    EXPECT_EQ(path_state(*t.ne1).last_spm_sqn, Sqn(2));
}

// An SPM is multicast to its group (§8.1): its IP destination becomes the session's group,
// where NCFs and repairs go. SPMs unicast to pgmd's address on the upstream interface, from
// the source's address (so the route check passes; found by router_fuzz), are refused as
// SpmRpfErrors: one for a new TSI creates no session, and an in-sequence one for the live
// session moves neither its group nor its SPM sequence. Neither is forwarded; the source's
// next multicast SPM is in sequence, and a NAK still gets its NCF on the group.
TEST_F(RouterSpoofing, UnicastSpmCreatesNoSessionAndDoesNotMoveTheGroup) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    const SessionPackets other = other_session(2, 9001);
    const IpParams unicast = IpParams::to(t.up.address, true);
    t.source.host->send_at(at(100ms), t.source.port.ifindex, unicast,
                           other.spm(Sqn(1), Sqn(1), Sqn(0), t.source.port.address));
    t.source.host->send_at(at(110ms), t.source.port.ifindex, unicast,
                           session.spm(Sqn(2), Sqn(1), Sqn(5), t.source.port.address));
    net.run_until(at(150ms));
    EXPECT_EQ(t.ne1->router().sessions().size(), 1u);
    EXPECT_FALSE(t.ne1->router().sessions().contains(other.tsi()));
    EXPECT_EQ(path_state(*t.ne1).group, session.group);
    EXPECT_EQ(path_state(*t.ne1).last_spm_sqn, Sqn(1));
    router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::SpmRpfErrors], 2u);
    EXPECT_EQ(c[Counter::OutSpms], 2u);  // the first SPM onto LAN-A and LAN-B only

    spm(t.source, session, at(200ms), Sqn(2), {}, Sqn(1), Sqn(5));
    nak(t.on_a[0], at(250ms), session.nak(Sqn(3)));
    net.run_until(at(300ms));
    c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::SpmRpfErrors], 2u);
    EXPECT_EQ(c[Counter::SpmBadSqn], 0u);
    EXPECT_EQ(path_state(*t.ne1).last_spm_sqn, Sqn(2));
    EXPECT_EQ(c[Counter::OutNcfs], 1u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Ncf), 1u);  // multicast to the group on LAN-A
}

// D14.6: a NAK that arrives on the session's upstream interface (a host beside the source
// NAKing pgmd) gets no NCF (it would travel towards the source), creates no state and is
// not forwarded: NakError.
TEST_F(RouterSpoofing, NakFromTheUpstreamInterfaceIsIgnored) {
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_s);
    start_session(t.source, session, Sqn(1), 5);
    nak_to(evil, at(100ms), t.up.address, session.nak(Sqn(3)));
    net.run_until(at(1s));
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakError], 1u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::OutNcfs], 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(t.source.count(PacketType::Ncf) + t.source.count(PacketType::Nak), 0u);
}

// D14.3: a NAK sent to the group (the optional TTL-1 copy, or a forgery meant to make pgmd
// act on every LAN) is ignored: no NCF, no state, nothing forwarded.
TEST_F(RouterSpoofing, MulticastNakIsIgnored) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    IpParams ip = IpParams::to(session.group);
    ip.ttl = 1;
    t.on_a[0].host->send_at(at(100ms), t.on_a[0].port.ifindex, ip, session.nak(Sqn(3)));
    net.run_until(at(1s));
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakMulticastIgnored], 1u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::OutNcfs], 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Nak), 0u);
}

// D14.6: RDATA forged downstream "from" the source, for a sequence with pending repair
// state, does not consume that state and goes nowhere (RdataRpfErrors); the real RDATA
// still reaches the receiver that asked.
TEST_F(RouterSpoofing, RdataFromDownstreamDoesNotClearRepairState) {
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_a);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 300ms);
    net.add_drop_rule(DropRule::on(t.lan_b).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_b[0], at(100ms), session.nak(Sqn(3)));
    evil.host->send_at(at(200ms), evil.port.ifindex, spoofed_downstream(session.source),
                       session.rdata(Sqn(3), Sqn(1)));
    net.run_until(at(250ms));
    EXPECT_EQ(t.ne1->router().totals()[Counter::RdataRpfErrors], 1u);
    EXPECT_TRUE(phase(*t.ne1, session.tsi(), Sqn(3)).has_value());
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 0u);
    net.run_until(at(1s));
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 1u);  // the source's, at ~400 ms
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 1u);
}

// §14.5: only the PGM parent polls: a POLL forged downstream "from" the source is not
// answered (PollParentError); POLRs, redirecting ones included, are consumed and never
// forwarded (D7).
TEST_F(RouterSpoofing, PollFromDownstreamUnansweredAndPolrNeverForwarded) {
    Star t = star(1, 1);
    const Endpoint evil = add_host("M", t.lan_a);
    start_session(t.source, session, Sqn(1), 5);
    PacketSpec poll = session.spm(Sqn(1), Sqn(1), Sqn(0), session.source);
    poll.type = PacketType::Poll;
    poll.options.clear();
    poll.fields = PollFields{Sqn(1), 0, kPollGeneral, session.source, 0, 0, 0};
    evil.host->send_at(at(100ms), evil.port.ifindex, spoofed_downstream(session.source), poll);
    PacketSpec polr;
    polr.type = PacketType::Polr;
    polr.source_port = session.destination_port;  // upstream orientation (§8.3)
    polr.destination_port = session.source_port;
    polr.gsi = session.gsi;
    polr.fields = PolrFields{Sqn(1), 0};
    t.source.host->send_at(at(200ms), t.source.port.ifindex, downstream_ip(session), polr);
    net.run_until(at(1s));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::PollParentError], 1u);
    EXPECT_EQ(c[Counter::PolrOriginated], 0u);
    EXPECT_EQ(c[Counter::InPolrs], 1u);
    EXPECT_EQ(net.segment_sent(t.lan_s).count(PacketType::Polr), 1u);  // the source's only
    EXPECT_EQ(net.segment_sent(t.lan_a).count(PacketType::Polr), 0u);
    EXPECT_EQ(net.segment_sent(t.lan_b).count(PacketType::Polr), 0u);
}

}  // namespace
}  // namespace pgm::sim::simtest
