// DOC: The network-element side of DLR redirection (RFC 3208 §9.5.3; checklist §6 scenarios
// 14 and 15, §4.7 N-DLR-1..10, C22-C24; docs/decisions.md D28) in the virtual network: a
// scripted DLR host announces itself with a redirecting POLR (upstream: multicast on NE1's
// upstream LAN; off-tree: unicast, answering NE1's POLL_DLR) and answers the NAKs NE1
// redirects to it, or stays silent, or NAKs back. Exact per-link counts, captured packets
// and NE1's counters, with the fixture's invariants (router_scenario_fixture.h).
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;
using router::RepairPhase;

// What the scripted DLR does with a NAK NE1 sends it, per sequence.
enum class DlrAnswer {
    Repair,      // unicast NCF, NNAK, then RDATA (§9.5.2.2: NNAK before RDATA)
    Silent,      // nothing
    LacksData,   // unicast NCF, then a NAK back to NE1 (N-DLR-7)
    SlowRepair,  // unicast NCF now, NNAK and RDATA 200 ms later
};

class Redirect : public RouterScenario {
  protected:
    Redirect() {
        config.discover_dlrs = true;
        config.dlr_poll_backoff = 20ms;
    }

    // A redirecting POLR (upstream port orientation, §8.3) naming `dlr`.
    PacketSpec redirecting_polr(Sqn sqn, const Nla& dlr, bool parity = false) const {
        PacketSpec p;
        p.type = PacketType::Polr;
        p.source_port = session.destination_port;
        p.destination_port = session.source_port;
        p.gsi = session.gsi;
        p.fields = PolrFields{sqn, 0};
        p.options.push_back(OptRedirect{dlr});
        if (parity) p.extra_flags = kOptParity;
        return p;
    }

    std::vector<std::uint8_t> payload(Sqn sqn) const {
        return std::vector<std::uint8_t>(32, static_cast<std::uint8_t>(sqn.value()));
    }

    // An off-tree DLR: answers POLL_DLR with a unicast redirecting POLR to POLL_PATH, and the
    // NAKs NE1 sends it as `answer` says, unicast to NE1.
    // `parity`: it advertises FEC (OPT_PARITY in its POLR).
    void off_tree_dlr(const Endpoint& dlr, std::function<DlrAnswer(Sqn)> answer,
                      bool parity = false) {
        dlr.host->on_receive([this, dlr, answer, parity](ScriptedHost& h, const Received& p) {
            if (!p.spec) return;
            const IfIndex i = dlr.port.ifindex;
            if (p.spec->type == PacketType::Poll) {
                const auto& f = std::get<PollFields>(p.spec->fields);
                if (f.subtype != kPollDlr) return;
                h.send(i, IpParams::to(f.path), redirecting_polr(f.sqn, dlr.port.address, parity));
                return;
            }
            if (p.spec->type != PacketType::Nak || p.arrival.ip.destination.is_multicast()) return;
            const Sqn sqn = nak_fields(*p.spec).sqn;
            const IpParams parent = IpParams::to(p.arrival.ip.source);
            const DlrAnswer a = answer(sqn);
            if (a == DlrAnswer::Silent) return;
            h.send(i, parent, session.ncf(sqn));
            if (a == DlrAnswer::LacksData) {
                h.send(i, parent, session.nak(sqn));
                return;
            }
            const Time t = h.network().now() + (a == DlrAnswer::SlowRepair ? 200ms : 0ms);
            h.send_at(t, i, parent, session.nnak(sqn));
            h.send_at(t, i, parent, session.rdata(sqn, Sqn(1), payload(sqn)));
        });
    }

    // Star with R1 on LAN-A and the DLR (plus `others_on_b` receivers) on LAN-B; ODATA 1..8.
    struct OffTree {
        Star t;
        Endpoint dlr;
    };
    OffTree off_tree_topology(int others_on_b = 0) {
        OffTree o{star(1, others_on_b), {}};
        o.dlr = add_host("DLR", o.t.lan_b);
        start_session(o.t.source, session, Sqn(1), 8);
        serve_naks(o.t.source, session, 5ms);
        return o;
    }

    void lose_on_a(const Star& t, Sqn sqn) {
        net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(sqn));
    }

    std::vector<Sqn> sqns_received(const Endpoint& e, PacketType type) const {
        std::vector<Sqn> r;
        for (const Received* p : e.host->received(type))
            r.push_back(type == PacketType::Rdata ? std::get<DataFields>(p->spec->fields).sqn
                                                  : nak_fields(*p->spec).sqn);
        return r;
    }

    std::vector<const Captured*> captures_on(NodeId from, PacketType type, SegmentId s) const {
        std::vector<const Captured*> r;
        for (const Captured* c : captures(from, type))
            if (c->segment == s) r.push_back(c);
        return r;
    }
};

// 14. Off-tree DLR: NE1 polls with PGM_POLL_DLR on its downstream interfaces (the first NAK,
// with no DLR known, triggers it; that NAK itself goes to S); the DLR answers with a unicast
// redirecting POLR. The next NAK goes to the DLR; its unicast NCF ends at NE1, its NNAK
// reaches S before its RDATA is forwarded, and the RDATA goes on as S's multicast, only
// onto LAN-A. S sees the NNAK and no NAK for that sequence.
TEST_F(Redirect, Scenario14_OffTreeDlr) {
    OffTree o = off_tree_topology();
    const Star& t = o.t;
    off_tree_dlr(o.dlr, [](Sqn) { return DlrAnswer::Repair; });
    lose_on_a(t, Sqn(2));
    lose_on_a(t, Sqn(5));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));
    net.run_until(at(200ms));
    const auto& rec = t.ne1->router().sessions().at(session.tsi()).redirect;
    ASSERT_TRUE(rec.off_tree.has_value());
    EXPECT_EQ(rec.off_tree->nla, o.dlr.port.address);
    EXPECT_EQ(rec.off_tree->ifindex, t.b.ifindex);
    EXPECT_FALSE(rec.off_tree->parity);
    nak(t.on_a[0], at(300ms), session.nak(Sqn(5)));
    net.run_until(at(3s));

    // The discovery POLLs: one per downstream interface, from S with Router Alert, POLL_PATH
    // the interface, PGM_POLL_DLR; none upstream.
    EXPECT_EQ(sent_on(t.a, PacketType::Poll), 1u);
    EXPECT_EQ(sent_on(t.b, PacketType::Poll), 1u);
    EXPECT_EQ(sent_on(t.up, PacketType::Poll), 0u);
    for (const Captured* c : captures(t.ne1->id(), PacketType::Poll)) {
        const auto& f = std::get<PollFields>(c->spec->fields);
        EXPECT_EQ(f.subtype, kPollDlr);
        EXPECT_EQ(f.round, 0u);
        EXPECT_EQ(f.path, c->transmit.ifindex == t.a.ifindex ? t.a.address : t.b.address);
        EXPECT_EQ(c->transmit.ip_source, session.source);
        EXPECT_EQ(c->transmit.ip_destination, session.group);
        EXPECT_TRUE(c->transmit.router_alert);
        EXPECT_EQ(c->spec->source_port, session.source_port);  // downstream orientation
    }

    // S: the NAK for 2 only, and the DLR's NNAK for 5.
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), std::vector<Sqn>{Sqn(2)});
    EXPECT_EQ(sqns_received(t.source, PacketType::Nnak), std::vector<Sqn>{Sqn(5)});
    // The redirected NAK: unicast from NE1's LAN-B address to the DLR.
    EXPECT_EQ(sqns_received(o.dlr, PacketType::Nak), std::vector<Sqn>{Sqn(5)});
    const auto to_dlr = captures_on(t.ne1->id(), PacketType::Nak, t.lan_b);
    ASSERT_EQ(to_dlr.size(), 1u);
    EXPECT_EQ(to_dlr[0]->transmit.ip_source, t.b.address);
    EXPECT_EQ(to_dlr[0]->transmit.ip_destination, o.dlr.port.address);
    EXPECT_EQ(sent_on(t.up, PacketType::Nak), 1u);

    // The DLR's NCF ends at NE1: NE1's NCFs are its own two, on LAN-A.
    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 2u);
    EXPECT_EQ(sent_on(t.b, PacketType::Ncf), 0u);
    EXPECT_EQ(sent_on(t.up, PacketType::Ncf), 0u);

    // NNAK to S before the RDATA leaves NE1; the RDATA as S's, only on LAN-A.
    const auto nnaks = captures(t.ne1->id(), PacketType::Nnak);
    ASSERT_EQ(nnaks.size(), 1u);
    EXPECT_EQ(nnaks[0]->segment, t.lan_s);
    EXPECT_EQ(nnaks[0]->transmit.ip_destination, session.source);
    std::vector<const Captured*> rdata5;
    for (const Captured* c : captures(t.ne1->id(), PacketType::Rdata))
        if (std::get<DataFields>(c->spec->fields).sqn == Sqn(5)) rdata5.push_back(c);
    ASSERT_EQ(rdata5.size(), 1u);
    EXPECT_LE(nnaks[0]->at, rdata5[0]->at);
    EXPECT_LT(nnaks[0], rdata5[0]);  // captured (sent) first
    EXPECT_EQ(rdata5[0]->segment, t.lan_a);
    EXPECT_EQ(rdata5[0]->transmit.ip_source, session.source);
    EXPECT_EQ(rdata5[0]->transmit.ip_destination, session.group);
    EXPECT_TRUE(rdata5[0]->transmit.router_alert);
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 0u);
    EXPECT_EQ(sqns_received(t.on_a[0], PacketType::Rdata), (std::vector<Sqn>{Sqn(2), Sqn(5)}));

    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::PollOriginated], 2u);
    EXPECT_EQ(c[Counter::PolrSuccess], 1u);
    EXPECT_EQ(c[Counter::NakForwardedDLR], 1u);
    EXPECT_EQ(c[Counter::InRedirectNcfs], 1u);
    EXPECT_EQ(c[Counter::NcfReceived], 2u);  // S's for 2, the DLR's for 5
    EXPECT_EQ(c[Counter::DlrNnaksForwarded], 1u);
    EXPECT_EQ(c[Counter::DlrRdataRewritten], 1u);
    EXPECT_EQ(c[Counter::NakRetryExpiredDLR], 0u);
    EXPECT_EQ(c[Counter::NcfError], 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 14, variant: the DLR stays silent. NE1 repeats the NAK to it for NAK_RPT_IVL, then
// discards the redirect for the session and sends the NAK to S; later NAKs go to S.
TEST_F(Redirect, Scenario14_SilentDlrFallsBackUpstreamAfterNakRptIvl) {
    OffTree o = off_tree_topology();
    const Star& t = o.t;
    off_tree_dlr(o.dlr, [](Sqn) { return DlrAnswer::Silent; });
    lose_on_a(t, Sqn(2));
    lose_on_a(t, Sqn(5));
    lose_on_a(t, Sqn(7));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));
    nak(t.on_a[0], at(300ms), session.nak(Sqn(5)));  // to the DLR at 301 ms
    net.run_until(at(1250ms));
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(5)), RepairPhase::Pending);
    net.run_until(at(1350ms));
    EXPECT_FALSE(t.ne1->router().sessions().at(session.tsi()).redirect.off_tree.has_value());
    nak(t.on_a[0], at(2s), session.nak(Sqn(7)));
    net.run_until(at(4s));

    // 301, 401, ..., 1201 ms to the DLR; at 1301 ms to S.
    EXPECT_EQ(sqns_received(o.dlr, PacketType::Nak), std::vector<Sqn>(10, Sqn(5)));
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), (std::vector<Sqn>{Sqn(2), Sqn(5), Sqn(7)}));
    EXPECT_EQ(t.source.count(PacketType::Nnak), 0u);
    EXPECT_EQ(sqns_received(t.on_a[0], PacketType::Rdata),
              (std::vector<Sqn>{Sqn(2), Sqn(5), Sqn(7)}));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NakForwardedDLR], 10u);
    EXPECT_EQ(c[Counter::NakRetryExpiredDLR], 1u);
    EXPECT_EQ(c[Counter::NakRetryExpired], 0u);
    EXPECT_EQ(c[Counter::PollOriginated], 2u);  // one round: the next waits dlr_poll_interval
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 14, variant: the DLR lacks 5: it confirms, then NAKs 5 back to NE1 (N-DLR-7). NE1 sends 5
// upstream and the RDATA from S also goes to LAN-B (the DLR asked); the redirect stays for
// the session, so the NAK for 7 goes to the DLR again.
TEST_F(Redirect, Scenario14_DlrNaksBackFallbackForThatSqnOnly) {
    OffTree o = off_tree_topology();
    const Star& t = o.t;
    off_tree_dlr(o.dlr,
                 [](Sqn q) { return q == Sqn(5) ? DlrAnswer::LacksData : DlrAnswer::Repair; });
    lose_on_a(t, Sqn(2));
    lose_on_a(t, Sqn(5));
    lose_on_a(t, Sqn(7));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));
    nak(t.on_a[0], at(300ms), session.nak(Sqn(5)));
    nak(t.on_a[0], at(600ms), session.nak(Sqn(7)));
    net.run_until(at(3s));

    EXPECT_EQ(sqns_received(o.dlr, PacketType::Nak), (std::vector<Sqn>{Sqn(5), Sqn(7)}));
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), (std::vector<Sqn>{Sqn(2), Sqn(5)}));
    EXPECT_EQ(sqns_received(t.source, PacketType::Nnak), std::vector<Sqn>{Sqn(7)});
    // NE1 confirmed the DLR's NAK on LAN-B like any NAK, and repaired LAN-B with S's RDATA.
    EXPECT_EQ(sent_on(t.b, PacketType::Ncf), 1u);
    EXPECT_EQ(sqns_received(o.dlr, PacketType::Rdata), std::vector<Sqn>{Sqn(5)});
    EXPECT_EQ(sqns_received(t.on_a[0], PacketType::Rdata),
              (std::vector<Sqn>{Sqn(2), Sqn(5), Sqn(7)}));
    EXPECT_TRUE(t.ne1->router().sessions().at(session.tsi()).redirect.off_tree.has_value());
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::DlrNakFallback], 1u);
    EXPECT_EQ(c[Counter::NakForwardedDLR], 2u);
    EXPECT_EQ(c[Counter::InRedirectNcfs], 2u);
    EXPECT_EQ(c[Counter::DlrRdataRewritten], 1u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 14, variant (N-DLR-5): a NAK for the sequence seen on the DLR's interface keeps it away
// from the DLR. R2, on the DLR's LAN, NAKs 5 first: it goes to S and R1's NAK for 5 is
// eliminated; R1's NAK for 7 listing 5 goes to S whole. R1 NAKs 6 first (to the DLR, which
// confirms but repairs slowly); R2's NAK for 6 then sends 6 upstream at once, and the DLR's
// late RDATA finds no state.
TEST_F(Redirect, Scenario14_NakSeenOnTheDlrInterfaceIsNotRedirected) {
    OffTree o = off_tree_topology(1);
    const Star& t = o.t;
    const Endpoint& r2 = t.on_b[0];
    off_tree_dlr(o.dlr, [](Sqn) { return DlrAnswer::SlowRepair; });
    lose_on_a(t, Sqn(2));
    lose_on_a(t, Sqn(5));
    lose_on_a(t, Sqn(6));
    lose_on_a(t, Sqn(7));
    for (Sqn q : {Sqn(5), Sqn(6)})
        net.add_drop_rule(DropRule::on(t.lan_b)
                              .sent_by(t.b.attachment)
                              .towards(r2.port.attachment)
                              .of_type(PacketType::Odata)
                              .with_sqn(q));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));
    nak(r2, at(300ms), session.nak(Sqn(5)));
    nak(t.on_a[0], at(303ms), session.nak(Sqn(5)));  // before S repairs it (~308 ms)
    nak(t.on_a[0], at(305ms), session.nak(Sqn(7), {Sqn(5)}));
    nak(t.on_a[0], at(500ms), session.nak(Sqn(6)));  // to the DLR at 501 ms
    nak(r2, at(550ms), session.nak(Sqn(6)));         // upstream at 551 ms
    net.run_until(at(3s));

    EXPECT_EQ(sqns_received(o.dlr, PacketType::Nak), std::vector<Sqn>{Sqn(6)});
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak),
              (std::vector<Sqn>{Sqn(2), Sqn(5), Sqn(7), Sqn(6)}));
    const auto list_nak = t.source.host->received(PacketType::Nak)[2];
    EXPECT_EQ(nak_list(*list_nak->spec), std::vector<Sqn>{Sqn(5)});
    EXPECT_EQ(sqns_received(t.source, PacketType::Nnak), std::vector<Sqn>{Sqn(6)});  // N-NN-1
    EXPECT_EQ(sqns_received(t.on_a[0], PacketType::Rdata),
              (std::vector<Sqn>{Sqn(2), Sqn(5), Sqn(7), Sqn(6)}));
    EXPECT_EQ(sqns_received(r2, PacketType::Rdata), (std::vector<Sqn>{Sqn(5), Sqn(6)}));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::NakForwardedDLR], 1u);
    EXPECT_EQ(c[Counter::DlrNakFallback], 1u);
    EXPECT_EQ(c[Counter::NakEliminated], 1u);  // R1's NAK for 5
    EXPECT_EQ(c[Counter::DlrRdataRewritten], 1u);
    EXPECT_EQ(c[Counter::RdataEliminatedSqn], 1u);  // the DLR's late 6
    // S's second 5 (for the list): its NCF came after the first RDATA and anticipated it.
    EXPECT_EQ(c[Counter::RdataEliminatedOIF], 1u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// 15. Upstream DLR: on NE1's upstream LAN, it answers S's NCF with a multicast redirecting
// POLR (IP source S, Router Alert). NE1 records it; the POLR confirms nothing, so NE1 keeps
// repeating the NAK while S's NCFs to it are lost. The next NAK goes to the DLR, whose
// multicast NCF and RDATA NE1 handles as from upstream. The POLR goes no further down.
TEST_F(Redirect, Scenario15_UpstreamDlr) {
    config.discover_dlrs = false;
    Star t = star(1, 0);
    const Endpoint dlr = add_host("DLR", t.lan_s);
    start_session(t.source, session, Sqn(1), 8);
    serve_naks(t.source, session, std::nullopt);
    rdata(t.source, session, at(600ms), Sqn(3));
    const IpParams as_source{session.source, session.group, 255, true};
    dlr.host->on_receive([&](ScriptedHost& h, const Received& p) {
        if (!p.spec) return;
        if (p.spec->type == PacketType::Ncf)  // from its parent S: announce itself (§9.5.2.1)
            h.send(dlr.port.ifindex, as_source,
                   redirecting_polr(Sqn(0), dlr.port.address, /*parity=*/false));
        if (p.spec->type == PacketType::Nak) {  // redirected to it: repair as the source
            const Sqn sqn = nak_fields(*p.spec).sqn;
            h.send(dlr.port.ifindex, as_source, session.ncf(sqn));
            h.send_at(h.network().now() + 5ms, dlr.port.ifindex, as_source,
                      session.rdata(sqn, Sqn(1), payload(sqn)));
        }
    });
    const RuleId lost = net.add_drop_rule(DropRule::on(t.lan_s)
                                              .sent_by(t.source.port.attachment)
                                              .towards(t.up.attachment)
                                              .of_type(PacketType::Ncf)
                                              .first(3));
    lose_on_a(t, Sqn(3));
    lose_on_a(t, Sqn(5));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(250ms));
    const auto& rec = t.ne1->router().sessions().at(session.tsi()).redirect;
    ASSERT_TRUE(rec.upstream.has_value());
    EXPECT_EQ(rec.upstream->nla, dlr.port.address);
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(3)), RepairPhase::Pending);  // not an NCF
    nak(t.on_a[0], at(1s), session.nak(Sqn(5)));
    net.run_until(at(3s));

    EXPECT_EQ(net.dropped_by(lost), 3u);
    // 3: the NAK and its repeats at 201, 301, 401 ms, all to S (the NAK was sent there).
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), std::vector<Sqn>(4, Sqn(3)));
    EXPECT_EQ(sqns_received(dlr, PacketType::Nak), std::vector<Sqn>{Sqn(5)});
    const auto naks = captures(t.ne1->id(), PacketType::Nak);
    ASSERT_EQ(naks.size(), 5u);
    EXPECT_EQ(naks[4]->transmit.ip_destination, dlr.port.address);
    EXPECT_EQ(naks[4]->transmit.ip_source, t.up.address);
    EXPECT_EQ(net.segment_sent(t.lan_a).count(PacketType::Polr), 0u);
    EXPECT_EQ(sqns_received(t.on_a[0], PacketType::Rdata), (std::vector<Sqn>{Sqn(3), Sqn(5)}));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InPolrs], 4u);  // one per NCF S sent
    EXPECT_EQ(c[Counter::PolrSuccess], 4u);
    EXPECT_EQ(c[Counter::NakRetransmitted], 3u);
    EXPECT_EQ(c[Counter::NcfReceived], 2u);
    EXPECT_EQ(c[Counter::NakForwardedDLR], 1u);
    EXPECT_EQ(c[Counter::PollOriginated], 0u);
    EXPECT_TRUE(t.ne1->router().repairs().empty());
}

// N-DLR-10: redirecting POLRs that answer no POLL_DLR of ours (before any, or with another
// POLL_SQN), or whose DLR is not their sender, take no NAK away from the source.
TEST_F(Redirect, ForgedOffTreePolrDoesNotHijackNaks) {
    Star t = star(1, 0);
    const Endpoint x = add_host("X", t.lan_b);
    start_session(t.source, session, Sqn(1), 8);
    serve_naks(t.source, session, 5ms);
    const IpParams to_ne1 = IpParams::to(t.b.address);
    x.host->send_at(at(50ms), x.port.ifindex, to_ne1, redirecting_polr(Sqn(0), x.port.address));
    x.host->on_receive([&](ScriptedHost& h, const Received& p) {
        if (!p.spec || p.spec->type != PacketType::Poll) return;
        const auto& f = std::get<PollFields>(p.spec->fields);
        h.send(x.port.ifindex, to_ne1, redirecting_polr(f.sqn + 1u, x.port.address));
        h.send(x.port.ifindex, to_ne1, redirecting_polr(f.sqn, t.on_a[0].port.address));
    });
    lose_on_a(t, Sqn(2));
    lose_on_a(t, Sqn(5));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));
    nak(t.on_a[0], at(300ms), session.nak(Sqn(5)));
    net.run_until(at(2s));

    EXPECT_FALSE(t.ne1->router().sessions().at(session.tsi()).redirect.any());
    EXPECT_EQ(x.count(PacketType::Nak), 0u);
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), (std::vector<Sqn>{Sqn(2), Sqn(5)}));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::InPolrs], 3u);
    EXPECT_EQ(c[Counter::PolrNoState], 2u);  // before any POLL; wrong POLR_SQN
    EXPECT_EQ(c[Counter::PolrError], 1u);    // names another host
    EXPECT_EQ(c[Counter::PolrSuccess], 0u);
}

// D28: on the upstream interface only the §9.5.2.1 form counts (multicast, from the data
// source, Router Alert). A redirecting POLR from another IP source, or unicast to NE1, is
// not an upstream DLR's announcement.
TEST_F(Redirect, UpstreamPolrNotFromTheSourceIsIgnored) {
    config.discover_dlrs = false;
    Star t = star(1, 0);
    const Endpoint y = add_host("Y", t.lan_s);
    start_session(t.source, session, Sqn(1), 8);
    serve_naks(t.source, session, 5ms);
    const PacketSpec polr = redirecting_polr(Sqn(0), y.port.address);
    y.host->send_at(at(50ms), y.port.ifindex, IpParams::to(session.group, true), polr);
    y.host->send_at(at(60ms), y.port.ifindex, IpParams::to(t.up.address), polr);
    IpParams no_alert{session.source, session.group, 255, false};
    y.host->send_at(at(70ms), y.port.ifindex, no_alert, polr);
    lose_on_a(t, Sqn(5));
    nak(t.on_a[0], at(300ms), session.nak(Sqn(5)));
    net.run_until(at(2s));

    EXPECT_FALSE(t.ne1->router().sessions().at(session.tsi()).redirect.any());
    EXPECT_EQ(y.count(PacketType::Nak), 0u);
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), std::vector<Sqn>{Sqn(5)});
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::PolrError], 3u);
    EXPECT_EQ(c[Counter::PolrSuccess], 0u);
}

// N-DLR-3: with both kinds known, NAKs go to the upstream DLR; N-DLR-2: a parity NAK goes
// only to a DLR that advertised OPT_PARITY (here the off-tree one), and to the upstream
// neighbour when none did.
TEST_F(Redirect, UpstreamDlrPreferredParityNaksOnlyToParityDlrs) {
    Star t = star(1, 0);
    const Endpoint off_tree = add_host("DLR", t.lan_b);
    const Endpoint upstream = add_host("UDLR", t.lan_s);
    start_session(t.source, session, Sqn(1), 12, 5ms);
    spm(t.source, session, at(80ms), Sqn(2), {OptParityPrm{false, true, 4}}, Sqn(1), Sqn(12));
    serve_naks(t.source, session, std::nullopt);
    off_tree_dlr(
        off_tree, [](Sqn) { return DlrAnswer::Silent; }, /*parity=*/true);
    const IpParams as_source{session.source, session.group, 255, true};
    upstream.host->send_at(at(150ms), upstream.port.ifindex, as_source,
                           redirecting_polr(Sqn(0), upstream.port.address));
    auto parity = [](PacketSpec p) {
        p.extra_flags |= kOptParity;
        return p;
    };
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));              // to S; polls: off-tree found
    nak(t.on_a[0], at(200ms), session.nak(Sqn(5)));              // to the upstream DLR
    nak(t.on_a[0], at(210ms), parity(session.nak(Sqn(8 | 1))));  // to the off-tree DLR
    net.run_until(at(250ms));
    {
        const auto& rec = t.ne1->router().sessions().at(session.tsi()).redirect;
        ASSERT_TRUE(rec.off_tree.has_value());
        EXPECT_TRUE(rec.off_tree->parity);
        ASSERT_TRUE(rec.upstream.has_value());
        EXPECT_FALSE(rec.upstream->parity);
    }
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), std::vector<Sqn>{Sqn(2)});
    EXPECT_EQ(sqns_received(upstream, PacketType::Nak), std::vector<Sqn>{Sqn(5)});
    EXPECT_EQ(sqns_received(off_tree, PacketType::Nak), std::vector<Sqn>{Sqn(8 | 1)});
    EXPECT_EQ(t.ne1->router().totals()[Counter::NakForwardedDLR], 2u);
}

// N-DLR-2: with only a DLR that did not advertise OPT_PARITY, parity NAKs go to the upstream
// neighbour and selective NAKs to the DLR.
TEST_F(Redirect, ParityNakNotRedirectedToADlrWithoutParity) {
    config.discover_dlrs = false;
    Star t = star(1, 0);
    const Endpoint upstream = add_host("UDLR", t.lan_s);
    start_session(t.source, session, Sqn(1), 12, 5ms);
    spm(t.source, session, at(80ms), Sqn(2), {OptParityPrm{false, true, 4}}, Sqn(1), Sqn(12));
    serve_naks(t.source, session, std::nullopt);
    const IpParams as_source{session.source, session.group, 255, true};
    upstream.host->send_at(at(90ms), upstream.port.ifindex, as_source,
                           redirecting_polr(Sqn(0), upstream.port.address));
    PacketSpec parity_nak = session.nak(Sqn(8 | 1));
    parity_nak.extra_flags |= kOptParity;
    nak(t.on_a[0], at(100ms), parity_nak);
    nak(t.on_a[0], at(110ms), session.nak(Sqn(5)));
    net.run_until(at(150ms));
    EXPECT_EQ(sqns_received(t.source, PacketType::Nak), std::vector<Sqn>{Sqn(8 | 1)});
    EXPECT_EQ(sqns_received(upstream, PacketType::Nak), std::vector<Sqn>{Sqn(5)});
}

// N-DLR-1 opt-in: without discover_dlrs no POLL leaves NE1.
TEST_F(Redirect, NoDiscoveryPollsUnlessEnabled) {
    config.discover_dlrs = false;
    OffTree o = off_tree_topology();
    off_tree_dlr(o.dlr, [](Sqn) { return DlrAnswer::Repair; });
    lose_on_a(o.t, Sqn(2));
    nak(o.t.on_a[0], at(100ms), session.nak(Sqn(2)));
    net.run_until(at(1s));
    EXPECT_EQ(net.segment_sent(o.t.lan_a).count(PacketType::Poll), 0u);
    EXPECT_EQ(net.segment_sent(o.t.lan_b).count(PacketType::Poll), 0u);
    EXPECT_EQ(o.dlr.count(PacketType::Nak), 0u);
    EXPECT_EQ(o.t.source.count(PacketType::Nak), 1u);
}

}  // namespace
}  // namespace pgm::sim::simtest
