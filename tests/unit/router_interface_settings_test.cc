// DOC: Scenarios of the per-interface settings of the network element (decisions.md D38), in
// the virtual network with the scenario fixture (router_scenario_fixture.h) and exact counts:
// NAK rate caps per interface (and per NAK source) that differ between two downstream
// interfaces; the NAK timers of a repair state taken from its session's upstream interface;
// router assist off on one interface, where the router is a plain multicast router (SPMs
// unchanged, upstream NCFs and RDATA by membership, no NCF of its own, NAKs to it relayed
// upstream without state) while the other interface is served as before.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/router_scenario_fixture.h"

namespace pgm::sim::simtest {
namespace {

using router::Counter;

const router::InterfaceState& interface_of(const RouterNode& r, const Port& p) {
    for (const router::InterfaceState& i : r.router().interfaces())
        if (i.ifindex == p.ifindex) return i;
    ADD_FAILURE() << "no interface state for ifindex " << p.ifindex;
    static const router::InterfaceState kNone{};
    return kNone;
}

// D38's switch: router assist off on `p`, one of `r`'s interfaces (every other setting
// there the global one). set_interface_settings()'s answer: false when `p` has no slot of
// its own.
bool turn_router_assist_off(RouterNode& r, const Port& p) {
    router::InterfaceSettings off;
    off.router_assist = false;
    return r.router().set_interface_settings(p.ifindex, off);
}

// 50 NAKs at once on each of two downstream interfaces: A's own cap of 10 NAKs a second
// admits 10 (one second of burst) and sheds 40 (ShedNakRate on A only); B's own per-source
// cap of 20 admits 20 of its one receiver's and sheds 30 (ShedNakNeighbour on B only), under
// the global caps that would have admitted all 100. A reload (reconfigure) lowering the
// global caps keeps both interfaces' own values.
TEST_F(RouterScenario, PerInterfaceNakCapsShedEachInterfaceAtItsOwnRate) {
    Star t = star(1, 1);
    router::InterfaceSettings a;
    a.max_naks_per_second = 10;
    router::InterfaceSettings b;
    b.max_naks_per_second_per_neighbour = 20;
    t.ne1->router().set_interface_settings(t.a.ifindex, a);
    t.ne1->router().set_interface_settings(t.b.ifindex, b);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    for (int i = 0; i < 50; ++i) {
        nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
        nak(t.on_b[0], at(100ms), session.nak(Sqn(4)));
    }
    net.run_until(at(200ms));

    const router::CounterSet& ca = interface_of(*t.ne1, t.a).counters;
    const router::CounterSet& cb = interface_of(*t.ne1, t.b).counters;
    EXPECT_EQ(ca[Counter::InNaks], 50u);
    EXPECT_EQ(ca[Counter::ShedNakRate], 40u);
    EXPECT_EQ(ca[Counter::ShedNakNeighbour], 0u);
    EXPECT_EQ(ca[Counter::NakEliminated], 9u);  // the first of the 10 went upstream
    EXPECT_EQ(cb[Counter::InNaks], 50u);
    EXPECT_EQ(cb[Counter::ShedNakNeighbour], 30u);
    EXPECT_EQ(cb[Counter::ShedNakRate], 0u);
    EXPECT_EQ(cb[Counter::NakEliminated], 19u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 2u);

    router::RouterConfig lower = config;
    lower.max_naks_per_second_per_interface = 5;
    lower.max_naks_per_second_per_neighbour = 1000;
    t.ne1->router().reconfigure(lower);
    EXPECT_EQ(interface_of(*t.ne1, t.a).effective.max_naks_per_second, 10u);
    EXPECT_EQ(interface_of(*t.ne1, t.a).effective.max_naks_per_second_per_neighbour, 1000u);
    EXPECT_EQ(interface_of(*t.ne1, t.b).effective.max_naks_per_second, 5u);
    EXPECT_EQ(interface_of(*t.ne1, t.b).effective.max_naks_per_second_per_neighbour, 20u);
}

// D38: a repair state runs on the timers of its session's upstream interface. With
// nak-rdata-ivl 500 ms there (the global one 2 s), the state confirmed by the source's NCF
// at about 100 ms is gone (ReXmitTimedOut) by 650 ms and still there at 550 ms.
TEST_F(RouterScenario, RepairStateFollowsItsUpstreamInterfaceTimers) {
    Star t = star(1, 0);
    router::InterfaceSettings up;
    up.nak_rdata_ivl = 500ms;
    up.nak_elim_ivl = 200ms;
    t.ne1->router().set_interface_settings(t.up.ifindex, up);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);  // NCF, no RDATA
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(550ms));
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(3)), RepairPhase::ElimSuspended);  // 200 ms over
    net.run_until(at(650ms));
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(3)), std::nullopt);
    EXPECT_EQ(t.ne1->router().totals()[Counter::ReXmitTimedOut], 1u);
}

// The same NAK with the short timers on the downstream interface only: they do not govern
// the repair state, which lives the global 2 s.
TEST_F(RouterScenario, DownstreamInterfaceTimersDoNotGovernRepairState) {
    Star t = star(1, 0);
    router::InterfaceSettings a;
    a.nak_rdata_ivl = 500ms;
    a.nak_elim_ivl = 200ms;
    t.ne1->router().set_interface_settings(t.a.ifindex, a);
    start_session(t.source, session, Sqn(1), 5);
    serve_naks(t.source, session, std::nullopt);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(650ms));
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(3)), RepairPhase::Outstanding);  // elim 1 s
    net.run_until(at(2200ms));
    EXPECT_EQ(phase(*t.ne1, session.tsi(), Sqn(3)), std::nullopt);
    EXPECT_EQ(t.ne1->router().totals()[Counter::ReXmitTimedOut], 1u);
}

// D38: router assist off on B. R2 there hears the source's SPM unchanged (SPM_PATH the
// source) and NAKs the source directly: routed through NE1 as transit, no NCF from NE1, no
// repair state; the source's NCF and RDATA reach B by membership. A NAK that R2 sends to
// NE1's address on B is relayed upstream (AssistOffNaks) without NCF or state. On A,
// served as before, R1 hears NE1's path, its NAK is confirmed and forwarded, and the RDATA
// goes to A by repair state and to B by membership.
TEST_F(RouterScenario, RouterAssistOffIsAPlainMulticastRouterThere) {
    Star t = star(1, 1);
    turn_router_assist_off(*t.ne1, t.b);
    start_session(t.source, session, Sqn(1), 8);
    serve_naks(t.source, session, 20ms);
    const Endpoint& r1 = t.on_a[0];
    const Endpoint& r2 = t.on_b[0];
    nak(r2, at(100ms), session.nak(Sqn(3)));                  // to the source: transit
    nak_to(r2, at(300ms), t.b.address, session.nak(Sqn(4)));  // to NE1 on B: relayed
    nak(r1, at(500ms), session.nak(Sqn(5)));                  // to NE1 on A: assisted
    net.run_until(at(90ms));
    EXPECT_EQ(last_spm_path(*r2.host), t.source.port.address);
    EXPECT_EQ(last_spm_path(*r1.host), t.a.address);
    net.run_until(at(1s));

    const router::CounterSet& ca = interface_of(*t.ne1, t.a).counters;
    const router::CounterSet& cb = interface_of(*t.ne1, t.b).counters;
    EXPECT_EQ(cb[Counter::OutSpms], 1u);
    EXPECT_EQ(ca[Counter::OutSpms], 1u);
    // B: no NAK of its own taken, the relayed one counted; only the source's NCFs (3) and
    // every RDATA (3) by membership.
    EXPECT_EQ(cb[Counter::InNaks], 1u);
    EXPECT_EQ(cb[Counter::AssistOffNaks], 1u);
    EXPECT_EQ(sent_on(t.b, PacketType::Ncf), 3u);
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 3u);
    EXPECT_EQ(r2.count(PacketType::Ncf), 3u);
    EXPECT_EQ(r2.count(PacketType::Rdata), 3u);
    // A: its NAK confirmed by NE1, the RDATA it asked for only.
    EXPECT_EQ(ca[Counter::InNaks], 1u);
    EXPECT_EQ(ca[Counter::OutNcfs], 1u);
    EXPECT_EQ(sent_on(t.a, PacketType::Ncf), 1u);
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 1u);
    // Upstream: the relayed NAK and A's; repair state only for A's.
    const router::CounterSet c = t.ne1->router().totals();
    EXPECT_EQ(c[Counter::OutNaks], 2u);
    EXPECT_EQ(c[Counter::UniqueNaks], 1u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 3u);
    // Every NCF on B is one of the source's, byte for byte: none of NE1's own.
    const auto from_source = captures(t.source.host->id(), PacketType::Ncf);
    ASSERT_EQ(from_source.size(), 3u);
    int on_b = 0;
    for (const Captured* k : captures(t.ne1->id(), PacketType::Ncf)) {
        if (k->transmit.ifindex != t.b.ifindex) continue;
        ++on_b;
        EXPECT_TRUE(std::any_of(from_source.begin(), from_source.end(),
                                [&](const Captured* s) { return s->bytes == k->bytes; }));
    }
    EXPECT_EQ(on_b, 3);
}

// D38: a reload that turns router assist off on B while a repair state holds A and B: B
// leaves the repair set at once (as if it went down), so that the RDATA reaches B by
// membership only, once, and A by repair state.
TEST_F(RouterScenario, AssistTurnedOffByReloadLeavesTheRepairSets) {
    Star t = star(1, 1);
    start_session(t.source, session, Sqn(1), 8);
    serve_naks(t.source, session, std::nullopt);  // NCFs, no RDATA
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    nak(t.on_b[0], at(110ms), session.nak(Sqn(3)));
    net.run_until(at(200ms));
    const router::RepairKey key{session.tsi(), Sqn(3)};
    const router::Router& core = t.ne1->router();
    ASSERT_TRUE(core.repairs().contains(key));
    EXPECT_EQ(core.interfaces_of(core.repairs().at(key).interfaces),
              (std::vector<IfIndex>{t.a.ifindex, t.b.ifindex}));

    ASSERT_TRUE(turn_router_assist_off(*t.ne1, t.b));
    ASSERT_TRUE(core.repairs().contains(key));
    EXPECT_EQ(core.interfaces_of(core.repairs().at(key).interfaces),
              std::vector<IfIndex>{t.a.ifindex});
    rdata(t.source, session, at(300ms), Sqn(3));
    net.run_until(at(1s));
    EXPECT_EQ(sent_on(t.a, PacketType::Rdata), 1u);
    EXPECT_EQ(sent_on(t.b, PacketType::Rdata), 1u);
    EXPECT_EQ(t.on_b[0].count(PacketType::Rdata), 1u);
    EXPECT_EQ(interface_of(*t.ne1, t.b).counters[Counter::OutRdata], 1u);
}

// Review finding 4: a NAK to NE1 on an assist-off interface passes D14.4 before it is
// relayed: one beyond the session's lead is dropped (InNakSeqErrors), never reaches the
// source (whose NCF would go to every receiver); one within it is relayed.
TEST_F(RouterScenario, AssistOffRelayRefusesNaksBeyondTheLead) {
    Star t = star(0, 1);
    turn_router_assist_off(*t.ne1, t.b);
    start_session(t.source, session, Sqn(1), 8);
    serve_naks(t.source, session, std::nullopt);
    nak_to(t.on_b[0], at(100ms), t.b.address, session.nak(Sqn(50)));  // beyond the lead
    nak_to(t.on_b[0], at(200ms), t.b.address, session.nak(Sqn(4)));
    net.run_until(at(500ms));
    const router::CounterSet& cb = interface_of(*t.ne1, t.b).counters;
    EXPECT_EQ(cb[Counter::InNaks], 2u);
    EXPECT_EQ(cb[Counter::InNakSeqErrors], 1u);
    EXPECT_EQ(cb[Counter::AssistOffNaks], 1u);
    EXPECT_EQ(t.source.count(PacketType::Nak), 1u);
}

// Review finding 8: DLR discovery (D28) POLLs only the interfaces that assist; a DLR
// found behind a plain-router interface would get the assisted interfaces' NAKs.
TEST_F(RouterScenario, DlrDiscoverySkipsAssistOffInterfaces) {
    config.discover_dlrs = true;
    Star t = star(1, 1);
    turn_router_assist_off(*t.ne1, t.b);
    start_session(t.source, session, Sqn(1), 8);
    serve_naks(t.source, session, std::nullopt);
    nak(t.on_a[0], at(100ms), session.nak(Sqn(3)));
    net.run_until(at(500ms));
    EXPECT_EQ(interface_of(*t.ne1, t.a).counters[Counter::PollOriginated], 1u);
    EXPECT_EQ(interface_of(*t.ne1, t.b).counters[Counter::PollOriginated], 0u);
    EXPECT_EQ(sent_on(t.b, PacketType::Poll), 0u);
}

// No interfaces, routes or members: enough for the slot bookkeeping below.
class NoNetwork : public router::Environment {
  public:
    std::optional<Nla> interface_address(IfIndex, Nla::Family) const override {
        return std::nullopt;
    }
    std::optional<IfIndex> route_interface(const Nla&) const override { return std::nullopt; }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out.clear();
    }
};

const router::InterfaceState* state_of(const router::Router& r, IfIndex ifindex) {
    for (const router::InterfaceState& i : r.interfaces())
        if (i.ifindex == ifindex) return &i;
    return nullptr;
}

// Review finding 1: with all kMaxInterfaces slots taken, a new interface shares the last
// slot; its settings must not overwrite those of the live interface owning that slot. Once
// an interface went down, a new one takes its slot over, with its own settings.
TEST(RouterInterfaceSlots, SettingsNeverLeakToAnotherInterface) {
    NoNetwork env;
    router::Router core(router::RouterConfig{}, env);
    router::InterfaceSettings limited;
    limited.max_naks_per_second = 7;
    for (IfIndex i = 1; i <= router::kMaxInterfaces; ++i)
        EXPECT_TRUE(core.set_interface_settings(i, limited));
    const IfIndex last = router::kMaxInterfaces;

    router::InterfaceSettings off;
    off.router_assist = false;
    EXPECT_FALSE(core.set_interface_settings(300, off));  // the 65th: refused
    ASSERT_NE(state_of(core, last), nullptr);
    EXPECT_TRUE(state_of(core, last)->effective.router_assist);
    EXPECT_EQ(state_of(core, last)->effective.max_naks_per_second, 7u);

    core.interface_down(5);
    EXPECT_TRUE(core.set_interface_settings(300, off));
    ASSERT_NE(state_of(core, 300), nullptr);
    EXPECT_FALSE(state_of(core, 300)->effective.router_assist);
    EXPECT_EQ(state_of(core, 300)->effective.max_naks_per_second,
              router::RouterConfig{}.max_naks_per_second_per_interface);
    EXPECT_EQ(state_of(core, 5), nullptr);  // its slot is 300's now
    EXPECT_TRUE(state_of(core, last)->effective.router_assist);
    EXPECT_EQ(core.interfaces().size(), router::kMaxInterfaces);

    // Interface 5 back (a new link): no free slot, refused, 300 keeps its settings.
    EXPECT_FALSE(core.set_interface_settings(5, limited));
    EXPECT_FALSE(state_of(core, 300)->effective.router_assist);
}

}  // namespace
}  // namespace pgm::sim::simtest
