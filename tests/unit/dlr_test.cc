// DOC: pgmd as a Designated Local Repairer (issue 6, RFC 3208 §9.5.2, checklist N-DLR-11),
// in the virtual network with scripted sources and receivers (router_scenario_fixture.h,
// whose invariants hold here too: counters equal links, every packet parses): local repair
// from the cache (NCF, RDATA from the source's address with Router Alert only onto the
// interface that asked, NNAK upstream, no NAK on the source's link), misses going upstream,
// the cache completing itself, the cache bound under a long transfer, the upstream DLR's
// redirecting POLR (scenario 15 from the DLR's side), and the off-tree DLR (POLL_DLR
// answered, parent NAKs answered by unicast, NNAK before RDATA).
#include <gtest/gtest.h>

#include "router/dlr.h"
#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;

std::vector<std::uint8_t> bytes_of(const PacketSpec& s) {
    return *build(s, true);
}

class Dlr : public RouterScenario {
  protected:
    Dlr() {
        // The DLR serves 239.1.0.0/16 (the session's group is 239.1.2.3).
        router::DlrScope scope;
        scope.group = ipv4(239, 1, 0, 0);
        scope.prefix_length = 16;
        dlr_config = config;
        dlr_config.dlr.scopes.push_back(scope);
    }
    // A router of the fixture that is a DLR (the others use `config`).
    RouterNode& add_dlr(const std::string& name) {
        const router::RouterConfig plain = config;
        config = dlr_config;
        RouterNode& r = add_router(name);
        config = plain;
        return r;
    }
    Star dlr_star(int on_a, int on_b) {
        const router::RouterConfig plain = config;
        config = dlr_config;
        Star t = star(on_a, on_b);
        config = plain;
        return t;
    }
    const router::DlrCache* cache(const RouterNode& r) const {
        auto it = r.router().dlr_sessions().find(session.tsi());
        return it == r.router().dlr_sessions().end() ? nullptr : &it->second.cache;
    }
    std::vector<const Received*> received_from(const Endpoint& e, PacketType t) const {
        return e.host->received(t);
    }

    router::RouterConfig dlr_config;
};

// NAKs below the DLR for data it holds: NCF, then the cached RDATA onto that interface only
// (IP source = the data source, group, Router Alert), an NNAK upstream; the source's link
// carries no NAK; the receiver completes.
TEST_F(Dlr, NakForHeldDataIsRepairedLocally) {
    Star t = dlr_star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(1s));

    ASSERT_NE(cache(*t.ne1), nullptr);
    EXPECT_EQ(cache(*t.ne1)->packets(), 5u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(sent_on(t.up, PacketType::Nak), 0u);
    ASSERT_EQ(t.source.count(PacketType::Nnak), 1u);
    const Received& nnak = *t.source.host->received(PacketType::Nnak)[0];
    EXPECT_EQ(nak_fields(*nnak.spec), (NakFields{Sqn(3), session.source, session.group}));
    EXPECT_EQ(nnak.spec->destination_port, session.source_port);  // upstream orientation
    EXPECT_EQ(nnak.arrival.ip.source, t.up.address);

    auto rdata = captures(t.ne1->id(), PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 1u);
    EXPECT_EQ(rdata[0]->segment, t.lan_a);
    EXPECT_EQ(rdata[0]->transmit.ip_source, session.source);
    EXPECT_EQ(rdata[0]->transmit.ip_destination, session.group);
    EXPECT_TRUE(rdata[0]->transmit.router_alert);
    EXPECT_EQ(std::get<DataFields>(rdata[0]->spec->fields).sqn, Sqn(3));
    EXPECT_EQ(rdata[0]->spec->payload, std::vector<std::uint8_t>(32, 3));
    EXPECT_EQ(net.segment_sent(t.lan_b).count(PacketType::Rdata), 0u);
    EXPECT_EQ(net.segment_sent(t.lan_s).count(PacketType::Rdata), 0u);  // the source sent none

    // The NCF came first, then the RDATA (§9.5.2.1: "like a source").
    auto ncfs = captures(t.ne1->id(), PacketType::Ncf);
    ASSERT_EQ(ncfs.size(), 1u);
    EXPECT_LE(ncfs[0]->at, rdata[0]->at);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Odata), 4u);

    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::DlrCacheHits], 1u);
    EXPECT_EQ(c[Counter::DlrCacheMisses], 0u);
    EXPECT_EQ(c[Counter::DlrNaksAnsweredLocally], 1u);
    EXPECT_EQ(c[Counter::DlrRdataMsgsSent], 1u);
    EXPECT_EQ(c[Counter::DlrNNaksSent], 1u);
    EXPECT_EQ(c[Counter::DlrGapNaks], 0u);
}

// The same NAK repeated on one interface within NAK_ELIM_IVL gets its NCF but no second
// RDATA (and no second NNAK); another interface asking gets its own copy.
TEST_F(Dlr, RepeatedNakGetsTheRdataOncePerInterfacePerElimIvl) {
    Star t = dlr_star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    nak(t.on_a[0], at(200ms), session.nak(Sqn(3)));
    nak(t.on_b[0], at(250ms), session.nak(Sqn(3)));
    nak(t.on_a[0], at(1300ms), session.nak(Sqn(3)));  // NAK_ELIM_IVL (1 s) later: again
    net.run_until(at(2s));

    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 3u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 2u);
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 1u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(t.source.count(PacketType::Nnak), 3u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::DlrNaksIgnored], 1u);
}

// A NAK for data the cache does not hold (evicted: the cache holds 2 packets) goes upstream
// as usual, intact; a NAK list that is half held is split: the held part answered here, the
// rest asked of the source in a NAK of its own.
TEST_F(Dlr, MissGoesUpstreamAsUsual) {
    dlr_config.dlr.cache_packets_per_session = 2;
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(2)));
    nak(t.on_a[0], at(300ms), session.nak(Sqn(1), {Sqn(5)}));
    net.run_until(at(1s));

    auto naks = t.source.host->received(PacketType::Nak);
    ASSERT_EQ(naks.size(), 2u);
    EXPECT_EQ(naks[0]->bytes, bytes_of(session.nak(Sqn(2))));  // forwarded intact
    EXPECT_EQ(nak_fields(*naks[1]->spec).sqn, Sqn(1));
    EXPECT_TRUE(nak_list(*naks[1]->spec).empty());  // 5 was answered from the cache
    ASSERT_EQ(t.source.count(PacketType::Nnak), 1u);
    EXPECT_EQ(nak_fields(*t.source.host->received(PacketType::Nnak)[0]->spec).sqn, Sqn(5));
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 3u);  // 2 and 1 from the source, 5 from us
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::DlrCacheMisses], 2u);
    EXPECT_EQ(c[Counter::DlrCacheHits], 1u);
    EXPECT_EQ(c[Counter::UniqueNaks], 2u);
}

// The DLR MUST receive the session: ODATA lost between the source and the DLR is NAKed by
// the DLR itself at once, the RDATA that answers is cached although no interface asked, and
// a receiver's later NAK is answered from the cache without reaching the source.
TEST_F(Dlr, CacheCompletesItselfAndThenRepairsLocally) {
    Star t = dlr_star(1, 1);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_s).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(200ms), session.nak(Sqn(3)));
    net.run_until(at(100ms));
    ASSERT_NE(cache(*t.ne1), nullptr);
    EXPECT_TRUE(cache(*t.ne1)->holds(Sqn(3)));
    EXPECT_TRUE(cache(*t.ne1)->holes().empty());
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);  // the DLR's own
    EXPECT_EQ(t.ne1->router().totals()[Counter::DlrGapNaks], 1u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 0u);  // nobody below asked yet
    net.run_until(at(1s));

    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(t.source.count(PacketType::Nnak), 1u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 0u);
}

// The RDATA of the DLR's own NAK is lost too: once NAK_ELIM_IVL is over the next SPM makes
// the DLR NAK again, and the cache completes.
TEST_F(Dlr, LostRepairOfTheDlrsOwnNakIsAskedAgain) {
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_s).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    net.add_drop_rule(DropRule::on(t.lan_s).of_type(PacketType::Rdata).with_sqn(Sqn(3)).first(1));
    for (int i = 0; i < 6; ++i)
        spm(t.source, session, at(500ms * (i + 1)), Sqn(2 + static_cast<std::uint32_t>(i)), {},
            Sqn(1), Sqn(5));
    net.run_until(at(3500ms));

    EXPECT_EQ(t.source.count(PacketType::Nak), 2u);
    ASSERT_NE(cache(*t.ne1), nullptr);
    EXPECT_TRUE(cache(*t.ne1)->holds(Sqn(3)));
    EXPECT_EQ(t.ne1->router().totals()[Counter::DlrGapNaks], 2u);
}

// Acceptance 1: the cache never exceeds its bounds, checked after every millisecond of a
// long transfer, with the byte bound and then the packet bound the tighter one; it evicts
// from the trail side and keeps the newest.
TEST_F(Dlr, CacheNeverExceedsItsBoundsUnderALongTransfer) {
    for (const auto& [bytes, packets] : {std::pair<std::size_t, std::size_t>{1000, 100},
                                         std::pair<std::size_t, std::size_t>{100000, 50}}) {
        SCOPED_TRACE(bytes);
        Topology topo2;
        dlr_config.dlr.cache_bytes_per_session = bytes;
        dlr_config.dlr.cache_packets_per_session = packets;
        router::RouterConfig c = dlr_config;
        const SegmentId lan_s = topo2.segment(SegmentKind::Lan, "S");
        const SegmentId lan_a = topo2.segment(SegmentKind::Lan, "A");
        ScriptedHost& src = topo2.host("S");
        const Port sp = topo2.attach(src.id(), lan_s);
        RouterNode& ne = topo2.router("DLR", c);
        topo2.attach(ne.id(), lan_s);
        ne.join(topo2.attach(ne.id(), lan_a).ifindex, session.group);
        SessionPackets s = session;
        s.source = sp.address;
        src.send_at(at(0ms), sp.ifindex, IpParams::to(s.group, true),
                    s.spm(Sqn(1), Sqn(1), Sqn(0), sp.address));
        constexpr int kPackets = 3000;
        for (int i = 0; i < kPackets; ++i) {
            const Sqn sqn(1 + static_cast<std::uint32_t>(i));
            src.send_at(at(1ms * (i + 1)), sp.ifindex, IpParams::to(s.group),
                        s.odata(sqn, Sqn(1), std::vector<std::uint8_t>(8 + i % 64, 1)));
        }
        std::size_t peak_bytes = 0, peak_packets = 0;
        for (int ms = 1; ms <= kPackets + 5; ++ms) {
            topo2.net.run_until(at(1ms * ms));
            auto it = ne.router().dlr_sessions().find(s.tsi());
            if (it == ne.router().dlr_sessions().end()) continue;
            const router::DlrCache& k = it->second.cache;
            ASSERT_LE(k.bytes(), bytes) << "at " << ms << " ms";
            ASSERT_LE(k.packets(), packets) << "at " << ms << " ms";
            ASSERT_LE(k.span(), packets) << "at " << ms << " ms";
            peak_bytes = std::max(peak_bytes, k.bytes());
            peak_packets = std::max(peak_packets, k.packets());
        }
        const router::DlrCache& k = ne.router().dlr_sessions().at(s.tsi()).cache;
        EXPECT_TRUE(k.holds(Sqn(kPackets)));             // the newest is kept
        EXPECT_FALSE(k.holds(Sqn(kPackets - packets)));  // the oldest went first
        EXPECT_GT(peak_packets, 0u);
        EXPECT_EQ(ne.router().totals()[Counter::DlrCacheEvictions], kPackets - k.packets());
        EXPECT_TRUE(k.holes().empty());
        if (bytes < 100000) {
            EXPECT_GT(peak_bytes, bytes - 100);  // the byte bound decided
        } else {
            EXPECT_EQ(peak_packets, packets);  // the packet bound decided
        }
    }
}

// The trail the source advertises (SPM, ODATA) evicts what lies behind it.
TEST_F(Dlr, TrailAdvanceEvictsTheCache) {
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    spm(t.source, session, at(200ms), Sqn(2), {}, Sqn(4), Sqn(5));
    net.run_until(at(150ms));
    ASSERT_NE(cache(*t.ne1), nullptr);
    EXPECT_EQ(cache(*t.ne1)->packets(), 5u);
    net.run_until(at(300ms));
    EXPECT_EQ(cache(*t.ne1)->packets(), 2u);
    EXPECT_FALSE(cache(*t.ne1)->holds(Sqn(3)));
    EXPECT_TRUE(cache(*t.ne1)->holds(Sqn(4)));
    EXPECT_EQ(t.ne1->router().totals()[Counter::DlrCacheEvictions], 3u);
}

// Sessions outside the configured scopes are not cached; a router without scopes is no DLR.
TEST_F(Dlr, OnlySessionsInScopeAreCached) {
    dlr_config.dlr.scopes[0].group = ipv4(239, 2, 0, 0);
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(500ms));
    EXPECT_TRUE(t.ne1->router().dlr_sessions().empty());
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(t.source.count(PacketType::Nnak), 0u);
}

// An ODATA may carry OPT_CURR_TGSIZE without OPT_NETWORK; in an RDATA that option is
// network-significant (§11.4), so the cached copy gets OPT_NETWORK and the repair parses
// (found by router_fuzz, corpus_router/regress_dlr_curr_tgsize.bin; the fixture also checks
// that every packet a router sends parses).
TEST_F(Dlr, CachedOdataWithCurrTgsizeRepairsAsAValidRdata) {
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 2);
    PacketSpec last = session.odata(Sqn(3), Sqn(1), std::vector<std::uint8_t>(32, 3));
    last.options.push_back(OptCurrTgsize{3});
    t.source.host->send_at(at(30ms), t.source.port.ifindex, IpParams::to(session.group), last);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(500ms));
    auto rdata = captures(t.ne1->id(), PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 1u);
    ASSERT_TRUE(rdata[0]->spec.has_value());
    ASSERT_EQ(rdata[0]->spec->options.size(), 1u);
    EXPECT_EQ(std::get<OptCurrTgsize>(rdata[0]->spec->options[0]).size, 3u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);
}

// An in-sequence SPM to another group moves the session there (its NCFs and repairs go to
// the SPMs' destination); out of the scopes, the DLR state ends with it, so that the cache
// answers no NAK and no redirecting POLR goes out for a session pgmd does not serve (found
// by router_fuzz, corpus_router/regress_dlr_group_change.bin).
TEST_F(Dlr, SpmMovingTheSessionOutOfScopeEndsItsDlrState) {
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    net.run_until(at(100ms));
    ASSERT_NE(cache(*t.ne1), nullptr);
    SessionPackets moved = session;
    moved.group = ipv4(239, 2, 0, 1);
    spm(t.source, moved, at(150ms), Sqn(2), {}, Sqn(1), Sqn(5));
    net.run_until(at(200ms));
    EXPECT_EQ(t.ne1->router().sessions().at(session.tsi()).group, moved.group);
    EXPECT_EQ(cache(*t.ne1), nullptr);
    EXPECT_TRUE(t.ne1->router().dlr_sessions().empty());
}

// A reload that puts a running session into the scopes makes pgmd its DLR from its next
// data on (Session::dlr is decided on reload too, not only on SPMs): a NAK for data cached
// after the reload is answered locally, the source hears an NNAK and no NAK.
TEST_F(Dlr, ReloadPuttingARunningSessionInScopeMakesItADlrSession) {
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(4)));
    net.run_until(at(25ms));  // ODATA 1 and 2 forwarded by a plain network element
    ASSERT_TRUE(t.ne1->router().dlr_sessions().empty());
    t.ne1->router().reconfigure(dlr_config);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(4)));
    net.run_until(at(1s));
    ASSERT_NE(cache(*t.ne1), nullptr);
    EXPECT_TRUE(cache(*t.ne1)->holds(Sqn(4)));
    EXPECT_EQ(t.source.count(PacketType::Nak), 0u);
    EXPECT_EQ(t.source.count(PacketType::Nnak), 1u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::DlrNaksAnsweredLocally], 1u);
}

// A reload that takes the session out of the scopes ends its DLR state at once: the cache
// is dropped and the next NAK goes to the source as at any network element.
TEST_F(Dlr, ReloadTakingTheSessionOutOfScopeEndsItsDlrState) {
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, 5ms);
    net.add_drop_rule(DropRule::on(t.lan_a).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    net.run_until(at(60ms));
    ASSERT_NE(cache(*t.ne1), nullptr);
    ASSERT_TRUE(cache(*t.ne1)->holds(Sqn(3)));
    t.ne1->router().reconfigure(config);
    EXPECT_TRUE(t.ne1->router().dlr_sessions().empty());
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(1s));
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
    EXPECT_EQ(t.source.count(PacketType::Nnak), 0u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::DlrNaksAnsweredLocally], 0u);
    EXPECT_EQ(t.on_a[0].count(PacketType::Rdata), 1u);  // the source's repair
}

// Scenario 15 from the DLR's side (§9.5.2.1, N-DLR-11). The DLR sits on the parent's
// segment LAN-P beside NE2:
//
//   S ── LAN-S ── NE1 ── LAN-P ─┬─ NE2 ── LAN-R ── R
//                               └─ DLR
//
// R's NAK goes to NE2, NE2's to NE1, whose NCF on LAN-P the DLR hears: it did not NAK, so
// it multicasts a redirecting POLR on LAN-P (IP source S, the group, Router Alert,
// OPT_REDIRECT = its address there), at most once per NAK_RPT_IVL. An NCF that completes
// the DLR's own NAK provokes none.
struct UpstreamTopology {
    Endpoint source, receiver;
    RouterNode *ne1 = nullptr, *ne2 = nullptr, *dlr = nullptr;
    Port dlr_up, ne2_up, ne1_p;
    SegmentId lan_s = 0, lan_p = 0, lan_r = 0;
};

class UpstreamDlr : public Dlr {
  protected:
    UpstreamTopology build() {
        UpstreamTopology u;
        u.lan_s = lan("LAN-S");
        u.lan_p = lan("LAN-P");
        u.lan_r = lan("LAN-R");
        u.source = add_host("S", u.lan_s);
        session.source = u.source.port.address;
        u.ne1 = &add_router("NE1");
        attach_router(*u.ne1, u.lan_s, false);
        u.ne1_p = attach_router(*u.ne1, u.lan_p, true);
        u.ne2 = &add_router("NE2");
        u.ne2_up = attach_router(*u.ne2, u.lan_p, false);
        attach_router(*u.ne2, u.lan_r, true);
        u.dlr = &add_dlr("DLR");
        u.dlr_up = attach_router(*u.dlr, u.lan_p, false);
        u.receiver = add_host("R", u.lan_r);
        return u;
    }
};

TEST_F(UpstreamDlr, Scenario15_RedirectingPolrOnTheParentsNcf) {
    UpstreamTopology u = build();
    start_session(u.source, session, Sqn(1), 5);
    serve_naks(u.source, session, std::nullopt);  // NCFs only: no repair comes
    net.add_drop_rule(DropRule::on(u.lan_r).of_type(PacketType::Odata).with_sqn(Sqn(3)));
    nak(u.receiver, at(100ms), session.nak(Sqn(3)));
    nak(u.receiver, at(150ms), session.nak(Sqn(4)));  // NE1's NCF again: rate-limited
    net.run_until(at(500ms));

    auto polrs = captures(u.dlr->id(), PacketType::Polr);
    ASSERT_EQ(polrs.size(), 1u);
    const Captured& p = *polrs[0];
    EXPECT_EQ(p.segment, u.lan_p);
    EXPECT_EQ(p.transmit.ip_source, session.source);
    EXPECT_EQ(p.transmit.ip_destination, session.group);
    EXPECT_TRUE(p.transmit.router_alert);
    EXPECT_EQ(p.spec->destination_port, session.source_port);  // upstream orientation
    bool redirect = false;
    for (const OptionSpec& o : p.spec->options)
        if (const auto* r = std::get_if<OptRedirect>(&o)) {
            redirect = true;
            EXPECT_EQ(r->dlr, u.dlr_up.address);
        }
    EXPECT_TRUE(redirect);
    EXPECT_GE(p.at, captures(u.ne1->id(), PacketType::Ncf)[0]->at);
    EXPECT_EQ(u.ne2->router().totals()[Counter::InPolrs], 1u);  // NE2 heard it
    EXPECT_EQ(u.dlr->router().totals()[Counter::DlrRedirectingPolrs], 1u);
    // A POLR is not an NCF: NE2's NAK for 3 was confirmed by NE1's NCF only.
    EXPECT_EQ(phase(*u.ne2, session.tsi(), Sqn(3)), RepairPhase::Outstanding);
}

TEST_F(UpstreamDlr, NoPolrForTheNcfOfItsOwnNak) {
    UpstreamTopology u = build();
    start_session(u.source, session, Sqn(1), 5);
    serve_naks(u.source, session, std::nullopt);
    net.add_drop_rule(DropRule::on(u.lan_p)
                          .towards(u.dlr_up.attachment)
                          .of_type(PacketType::Odata)
                          .with_sqn(Sqn(3)));
    net.run_until(at(500ms));

    EXPECT_EQ(u.dlr->router().totals()[Counter::DlrGapNaks], 1u);
    EXPECT_EQ(sent_on(u.ne1_p, PacketType::Ncf), 1u);  // NE1 confirmed the DLR's NAK
    EXPECT_EQ(captures(u.dlr->id(), PacketType::Polr).size(), 0u);
    EXPECT_EQ(phase(*u.dlr, session.tsi(), Sqn(3)), RepairPhase::Outstanding);
}

// The off-tree DLR (§9.5.2.2): the parent (here the scripted source plays the parent NE on
// LAN-S) polls with PGM_POLL_DLR; the DLR answers with a unicast redirecting POLR after the
// back-off. The parent's redirected NAK is answered by unicast: NCF, then the NNAK, BEFORE
// the RDATA; for data it lacks, NCF and then a NAK to the parent.
TEST_F(Dlr, OffTreeDlrAnswersPollDlrAndItsParentsNaks) {
    dlr_config.dlr.cache_packets_per_session = 3;
    Star t = dlr_star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    PacketSpec poll = session.spm(Sqn(1), Sqn(1), Sqn(0), t.source.port.address);
    poll.type = PacketType::Poll;
    poll.options.clear();
    poll.fields = PollFields{Sqn(1), 0, kPollDlr, t.source.port.address, 20'000, 0, 0};
    t.source.host->send_at(at(100ms), t.source.port.ifindex, downstream_ip(session),
                           bytes_of(poll));
    // The parent's NAKs, unicast to the DLR: 3 (held) and 1 (evicted: the cache holds 3).
    nak_to(t.source, at(200ms), t.up.address, session.nak(Sqn(3)));
    nak_to(t.source, at(300ms), t.up.address, session.nak(Sqn(1)));
    net.run_until(at(400ms));

    auto polrs = t.source.host->received(PacketType::Polr);
    ASSERT_EQ(polrs.size(), 1u);
    EXPECT_EQ(polrs[0]->arrival.ip.destination, t.source.port.address);  // unicast
    EXPECT_FALSE(polrs[0]->arrival.ip.router_alert);
    EXPECT_LE(polrs[0]->at, at(122ms));
    bool redirect = false;
    for (const OptionSpec& o : polrs[0]->spec->options)
        if (const auto* r = std::get_if<OptRedirect>(&o)) {
            redirect = true;
            EXPECT_EQ(r->dlr, t.up.address);
        }
    EXPECT_TRUE(redirect);

    // NAK 3: NCF, NNAK, RDATA in that order, all unicast from the DLR's address.
    std::vector<PacketType> order;
    for (const Captured& c : captured)
        if (c.node == t.ne1->id() && c.at >= at(200ms) && c.at < at(250ms) && c.spec)
            order.push_back(c.spec->type);
    EXPECT_EQ(order,
              (std::vector<PacketType>{PacketType::Ncf, PacketType::Nnak, PacketType::Rdata}));
    auto rdata = t.source.host->received(PacketType::Rdata);
    ASSERT_EQ(rdata.size(), 1u);
    EXPECT_EQ(rdata[0]->arrival.ip.source, t.up.address);
    EXPECT_EQ(rdata[0]->arrival.ip.destination, t.source.port.address);
    EXPECT_FALSE(rdata[0]->arrival.ip.router_alert);
    EXPECT_EQ(std::get<DataFields>(rdata[0]->spec->fields).sqn, Sqn(3));
    EXPECT_TRUE(t.source.host->received(PacketType::Ncf).size() >= 1u);

    // NAK 1 (lacking): NCF and then a NAK back to the parent.
    order.clear();
    for (const Captured& c : captured)
        if (c.node == t.ne1->id() && c.at >= at(300ms) && c.at < at(350ms) && c.spec)
            order.push_back(c.spec->type);
    EXPECT_EQ(order, (std::vector<PacketType>{PacketType::Ncf, PacketType::Nak}));
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::DlrRedirectingPolrs], 1u);
    EXPECT_EQ(c[Counter::PollTypeError], 0u);
    EXPECT_EQ(c[Counter::DlrCacheHits], 1u);
    EXPECT_EQ(c[Counter::DlrCacheMisses], 1u);
}

// A router that is no DLR still refuses PGM_POLL_DLR.
TEST_F(RouterScenario, PollDlrRefusedWithoutDlrRole) {
    Star t = star(1, 0);
    start_session(t.source, session, Sqn(1), 5);
    PacketSpec poll = session.spm(Sqn(1), Sqn(1), Sqn(0), t.source.port.address);
    poll.type = PacketType::Poll;
    poll.options.clear();
    poll.fields = PollFields{Sqn(1), 0, kPollDlr, t.source.port.address, 1000, 0, 0};
    t.source.host->send_at(at(100ms), t.source.port.ifindex, downstream_ip(session),
                           *build(poll, true));
    net.run_until(at(300ms));
    EXPECT_EQ(t.source.count(PacketType::Polr), 0u);
    EXPECT_EQ(t.ne1->router().totals()[Counter::PollTypeError], 1u);
}

}  // namespace
}  // namespace pgm::sim::simtest
