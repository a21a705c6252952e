// DOC: What the core gives the operator's tools (pgmctl, pgmd's log): the ODATA counters
// that explain InOdata against OutOdata (OdataNoMembers, OdataRpfErrors), the FIN mark of a
// session its source ended, the session events pgmd logs, the scoped clears (one
// interface's or one session's counters, one group's or session's repair state) and the
// description of every counter.
#include <gtest/gtest.h>

#include <string_view>

#include "protocol/spec.h"
#include "router/counter_info.h"
#include "router/environment.h"
#include "router/router.h"

namespace pgm::router {
namespace {

using namespace std::chrono_literals;

const Nla kSource = *Nla::parse("10.0.0.1");
const Nla kGroupA = *Nla::parse("239.1.2.3");
const Nla kGroupB = *Nla::parse("239.1.2.4");
const Nla kReceiver = *Nla::parse("10.1.0.5");
const Nla kDownAddress = *Nla::parse("10.1.0.1");
const Tsi kTsiA{Gsi{{1, 2, 3, 4, 5, 6}}, 1000};
const Tsi kTsiB{Gsi{{1, 2, 3, 4, 5, 7}}, 2000};

// up (1) towards the source, down (2) with the members of `members`.
class Env : public Environment {
  public:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family) const override {
        return ifindex == 1 ? Nla::parse("10.0.0.2") : kDownAddress;
    }
    std::optional<IfIndex> route_interface(const Nla& address) const override {
        return (address.ipv4_host_order() >> 8) == 0x0a0000 ? 1 : 2;
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = members;
    }
    std::vector<IfIndex> members{2};
};

class Operator : public ::testing::Test {
  protected:
    void feed(IfIndex ifindex, const Nla& source, const Nla& destination, const PacketSpec& spec) {
        const auto bytes = build(spec);
        ASSERT_TRUE(bytes);
        Arrival a;
        a.ifindex = ifindex;
        a.ip.source = source;
        a.ip.destination = destination;
        a.ip.ttl = 16;
        a.ip.router_alert = true;
        core.on_packet(a, Bytes(bytes->data(), bytes->size()), now, out);
        out.clear();
    }
    void spm(const Tsi& tsi, const Nla& group, std::uint32_t sqn, bool fin = false) {
        PacketSpec s;
        s.type = PacketType::Spm;
        s.source_port = tsi.source_port;
        s.destination_port = 7500;
        s.gsi = tsi.gsi;
        s.fields = SpmFields{Sqn(sqn), Sqn(1), Sqn(100), kSource, 0};
        if (fin) s.options.push_back(OptFin{});
        feed(1, kSource, group, s);
    }
    void odata(IfIndex ifindex, const Tsi& tsi, const Nla& group, std::uint32_t sqn) {
        PacketSpec s;
        s.type = PacketType::Odata;
        s.source_port = tsi.source_port;
        s.destination_port = 7500;
        s.gsi = tsi.gsi;
        s.fields = DataFields{Sqn(sqn), Sqn(1)};
        s.payload = {1, 2, 3};
        feed(ifindex, kSource, group, s);
    }
    void nak(const Tsi& tsi, const Nla& group, std::uint32_t sqn) {
        PacketSpec s;
        s.type = PacketType::Nak;
        s.source_port = 7500;
        s.destination_port = tsi.source_port;
        s.gsi = tsi.gsi;
        s.fields = NakFields{Sqn(sqn), kSource, group};
        feed(2, kReceiver, kDownAddress, s);
    }
    std::uint64_t if_counter(IfIndex ifindex, Counter c) const {
        for (const InterfaceState& i : core.interfaces())
            if (i.ifindex == ifindex) return i.counters[c];
        return 0;
    }

    Env env;
    Router core{RouterConfig{}, env};
    Output out;
    Time now = Time{} + 1000s;
};

TEST_F(Operator, OdataWithoutMembersAndFromTheWrongInterfaceIsCounted) {
    spm(kTsiA, kGroupA, 1);
    odata(1, kTsiA, kGroupA, 50);  // forwarded to down
    env.members = {};
    odata(1, kTsiA, kGroupA, 51);  // nobody to send it to
    env.members = {1};             // only the arrival interface: still nobody
    odata(1, kTsiA, kGroupA, 52);
    env.members = {2};
    odata(2, kTsiA, kGroupA, 53);  // not from upstream
    EXPECT_EQ(if_counter(1, Counter::InOdata), 3u);
    EXPECT_EQ(if_counter(2, Counter::InOdata), 1u);
    EXPECT_EQ(if_counter(1, Counter::OdataNoMembers), 2u);
    EXPECT_EQ(if_counter(2, Counter::OdataRpfErrors), 1u);
    EXPECT_EQ(if_counter(2, Counter::OutOdata), 1u);
    const Session& s = core.sessions().at(kTsiA);
    EXPECT_EQ(s.counters[Counter::OdataNoMembers], 2u);
    EXPECT_EQ(s.counters[Counter::OdataRpfErrors], 1u);
    // InOdata = OutOdata (one member) + OdataNoMembers + OdataRpfErrors: nothing unexplained.
    const CounterSet t = core.totals();
    EXPECT_EQ(t[Counter::InOdata],
              t[Counter::OutOdata] + t[Counter::OdataNoMembers] + t[Counter::OdataRpfErrors]);
}

TEST_F(Operator, SessionEventsAndFin) {
    spm(kTsiA, kGroupA, 1);
    spm(kTsiA, kGroupA, 2);  // a refresh is no event
    spm(kTsiB, kGroupB, 1);
    auto events = core.take_session_events();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].kind, SessionEvent::Kind::Created);
    EXPECT_EQ(events[0].tsi, kTsiA);
    EXPECT_EQ(events[0].group, kGroupA);
    EXPECT_EQ(events[0].source, kSource);
    EXPECT_EQ(events[0].upstream_interface, 1u);
    EXPECT_EQ(events[1].tsi, kTsiB);
    EXPECT_TRUE(core.take_session_events().empty());

    EXPECT_FALSE(core.sessions().at(kTsiA).fin);
    spm(kTsiA, kGroupA, 3, /*fin=*/true);
    spm(kTsiA, kGroupA, 4, /*fin=*/true);  // one event, not one per SPM
    EXPECT_TRUE(core.sessions().at(kTsiA).fin);
    events = core.take_session_events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, SessionEvent::Kind::Fin);
    EXPECT_STREQ(to_string(events[0].kind), "ended by its source (FIN)");
    spm(kTsiA, kGroupA, 5);  // it went on after all
    EXPECT_FALSE(core.sessions().at(kTsiA).fin);
    EXPECT_TRUE(core.take_session_events().empty());

    now += 10s;
    spm(kTsiB, kGroupB, 2);
    now += core.config().session_lifetime - 5s;  // A is past its lifetime, B not
    core.on_timer(now, out);
    events = core.take_session_events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, SessionEvent::Kind::Expired);
    EXPECT_EQ(events[0].tsi, kTsiA);

    core.interface_down(1);
    events = core.take_session_events();
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].kind, SessionEvent::Kind::Removed);
    EXPECT_EQ(events[0].tsi, kTsiB);
}

TEST_F(Operator, SessionEventsAreBoundedWhenNobodyTakesThem) {
    RouterConfig config;
    config.max_sessions = kMaxSessionEvents + 10;
    core.reconfigure(config);
    for (std::uint16_t port = 1; port <= kMaxSessionEvents + 5; ++port)
        spm(Tsi{kTsiA.gsi, port}, kGroupA, 1);
    EXPECT_EQ(core.session_events_lost(), 5u);
    EXPECT_EQ(core.take_session_events().size(), kMaxSessionEvents);
}

TEST_F(Operator, ScopedCounterClears) {
    spm(kTsiA, kGroupA, 1);
    odata(1, kTsiA, kGroupA, 50);
    EXPECT_TRUE(core.clear_interface_counters(2));
    EXPECT_EQ(if_counter(2, Counter::OutOdata), 0u);
    EXPECT_EQ(if_counter(1, Counter::InOdata), 1u);  // the other interface keeps its counts
    EXPECT_EQ(core.sessions().at(kTsiA).counters[Counter::OutOdata], 1u);  // and the session
    EXPECT_FALSE(core.clear_interface_counters(9));
    EXPECT_TRUE(core.clear_session_counters(kTsiA));
    EXPECT_EQ(core.sessions().at(kTsiA).counters[Counter::InOdata], 0u);
    EXPECT_EQ(if_counter(1, Counter::InOdata), 1u);
    EXPECT_FALSE(core.clear_session_counters(kTsiB));
}

TEST_F(Operator, ScopedRepairClears) {
    spm(kTsiA, kGroupA, 1);
    spm(kTsiB, kGroupB, 1);
    nak(kTsiA, kGroupA, 10);
    nak(kTsiA, kGroupA, 11);
    nak(kTsiB, kGroupB, 10);
    ASSERT_EQ(core.repairs().size(), 3u);
    EXPECT_EQ(core.clear_repairs(RepairScope{kGroupB, std::nullopt}), 1u);
    EXPECT_EQ(core.repairs().size(), 2u);
    for (const auto& [key, e] : core.repairs())
        EXPECT_EQ(key.tsi, kTsiA);
    EXPECT_EQ(core.clear_repairs(RepairScope{kGroupA, kTsiB}), 0u);  // both must match
    EXPECT_EQ(core.clear_repairs(RepairScope{std::nullopt, kTsiA}), 2u);
    EXPECT_TRUE(core.repairs().empty());
    nak(kTsiB, kGroupB, 12);
    EXPECT_EQ(core.clear_repairs(RepairScope{}), 1u);  // no scope: everything
}

TEST_F(Operator, EveryCounterHasADescriptionAndUnit) {
    for (std::size_t i = 0; i < kCounterCount; ++i) {
        const CounterInfo& c = kCounterInfo[i];
        EXPECT_FALSE(c.description.empty()) << kCounterNames[i];
        EXPECT_FALSE(c.description.ends_with('.')) << kCounterNames[i];
    }
    EXPECT_EQ(info(Counter::OdataNoMembers).unit, "packets");
    EXPECT_EQ(info(Counter::ShedSessionCap).unit, "sessions");
}

}  // namespace
}  // namespace pgm::router
