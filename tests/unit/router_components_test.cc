// DOC: The router core's role components on their own, against a stand-in for the core
// (router/services.h): NAK storm containment (router/containment.h: identical NCFs rate
// limited, D33; duplicate NAKs and OPT_NBR_UNREACH, App. E, D34/D35), parity repair
// (router/parity.h: counts per interface, the NCF and upstream counts, RDATA serving and
// leaving interfaces, a shortened TG) and POLL answering (router/poll.h: RAND_NODE_ID match,
// back-off, cancellation by a newer POLL_SQN), and the core's own tables: interfaces
// (router/interfaces.h: slots taken over, assist turned off, an unseen interface or one
// sharing the last slot going down, D40) and sessions (router/sessions.h:
// cap, expiry sweep, events). The scenario tests drive the same paths through the whole
// Router; these pin each component's own rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "protocol/parity_sqn.h"
#include "protocol/write_packet.h"
#include "router/containment.h"
#include "router/interfaces.h"
#include "router/parity.h"
#include "router/poll.h"
#include "router/sessions.h"

namespace pgm::router {
namespace {

using namespace std::chrono_literals;

const Nla kSource = Nla::ipv4(0x0A000001);     // 10.0.0.1
const Nla kGroup = Nla::ipv4(0xEF010101);      // 239.1.1.1
const Nla kNeighbour = Nla::ipv4(0x0A000002);  // our PGM parent, on interface 1

Tsi tsi() {
    Tsi t;
    t.source_port = 7500;
    return t;
}

// Interfaces 1..3, slot = ifindex - 1; 1 is the session's upstream interface. A simple
// state machine: a NAK makes an entry and goes upstream, a repeat is eliminated, RDATA
// serves the entry (and deletes it unless partial), an NCF confirms.
class FakeCore final : public RouterServices {
  public:
    explicit FakeCore(RepairStore& store) : store_(store) {
        Session& s = sessions[tsi()];
        s.source = kSource;
        s.group = kGroup;
        s.upstream_interface = 1;
        s.upstream_neighbour = kNeighbour;
        s.last_ttl = 10;
    }
    Session& session() { return sessions.at(tsi()); }
    std::uint64_t counted(IfIndex i, Counter c) const {
        auto it = counts.find({i, c});
        return it == counts.end() ? 0 : it->second;
    }

    using RouterServices::count;
    void count(IfIndex ifindex, Session* s, Counter c, std::uint64_t n) override {
        counts[{ifindex, c}] += n;
        if (s) s->counters[c] += n;
    }
    std::size_t interface_slot(IfIndex ifindex) override { return ifindex - 1; }
    bool assists(IfIndex ifindex) override { return !assist_off.contains(ifindex); }
    Session* session(const Tsi& t) override {
        auto it = sessions.find(t);
        return it == sessions.end() ? nullptr : &it->second;
    }
    RepairEntry* repair(const RepairKey& key) override {
        auto it = store_.find(key);
        return it == store_.end() ? nullptr : &it->second;
    }
    std::uint16_t apply(const RepairKey& key, RepairEvent event, InterfaceSlots add, Time, Session*,
                        Output*) override {
        events.push_back(event);
        auto it = store_.find(key);
        switch (event) {
            case RepairEvent::Nak:
            case RepairEvent::NakMore:
            case RepairEvent::Nnak:
            case RepairEvent::NnakMore: {
                const bool created = it == store_.end();
                if (created) it = store_.try_emplace(key).first;
                it->second.interfaces |= add;
                return created ? kForwardNak : kEliminated;
            }
            case RepairEvent::NcfFromUpstream:
            case RepairEvent::NcfShort:
                if (it == store_.end()) it = store_.try_emplace(key).first;
                return event == RepairEvent::NcfFromUpstream ? kStartConfirmed : kNoAction;
            case RepairEvent::Rdata:
                if (it != store_.end()) store_.erase(it);
                return kForwardRdata;
            case RepairEvent::RdataPartial:
                return kForwardRdata;
            default:
                return kNoAction;
        }
    }
    std::uint16_t apply_nak(const Arrival&, const RepairKey& key, RepairEvent event,
                            InterfaceSlots arrival, bool, RedirectTarget, Time now, Session& s,
                            Output&) override {
        return apply(key, event, arrival, now, &s, nullptr);
    }
    std::optional<Transmit> upstream_transmit(const Session& s, const Nla& to) const override {
        Transmit t;
        t.ifindex = s.upstream_interface;
        t.ip_source = Nla::ipv4(0x0A000003);
        t.ip_destination = to;
        return t;
    }
    void invalidate_options(const PacketView&, MutableBytes) override {}
    bool addressed_to_us(const Arrival&) const override { return true; }
    std::uint64_t next_random() override { return random; }

    std::map<std::pair<IfIndex, Counter>, std::uint64_t> counts;
    std::unordered_map<Tsi, Session> sessions;
    std::set<IfIndex> assist_off;
    std::vector<RepairEvent> events;
    std::uint64_t random = 0;

  private:
    RepairStore& store_;
};

// Interface i has address 10.0.i.1; the group's members are interfaces 1 to 3.
class ThreeInterfaces final : public Environment {
  public:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family) const override {
        return Nla::ipv4(0x0A000001 + (ifindex << 8));
    }
    std::optional<IfIndex> route_interface(const Nla&) const override { return 1; }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = {1, 2, 3};
    }
};

// One packet written by `fill`, kept with its parsed view.
class Packet {
  public:
    template <class Fill>
    explicit Packet(Fill&& fill) {
        EXPECT_TRUE(write_packet(out_, 512, Transmit{}, fill).has_value());
        ParseResult r = parse(out_.bytes(out_.transmits().back()), ParseOptions{});
        EXPECT_TRUE(r);
        view_ = r.view;
    }
    const PacketView& view() const { return view_; }

  private:
    Output out_;
    PacketView view_;
};

Packet nak(PacketType type, std::vector<Sqn> sqns, bool parity = false) {
    return Packet([&](PacketWriter& w) {
        // Upstream (NAK, NNAK): SPORT the data-destination port; downstream (NCF): the
        // source's (§8.3).
        if (type == PacketType::Ncf)
            w.begin(type, tsi().source_port, 7501, tsi().gsi);
        else
            w.begin(type, 7501, tsi().source_port, tsi().gsi);
        if (parity) w.flags(kOptParity);
        w.nak(NakFields{sqns[0], kSource, kGroup});
        if (sqns.size() > 1) w.nak_list(std::span<const Sqn>(sqns).subspan(1));
    });
}

Arrival from(IfIndex ifindex, const Nla& source = Nla::ipv4(0x0A000063)) {
    Arrival a;
    a.ifindex = ifindex;
    a.ip.source = source;
    return a;
}

Time at(Duration d) {
    return Time{} + d;
}

InterfaceSlots slot_of(IfIndex ifindex) {
    return InterfaceSlots{1} << (ifindex - 1);
}

// --- NakContainment ---------------------------------------------------------------------

class Containment : public ::testing::Test {
  protected:
    RouterConfig config;
    ThreeInterfaces env;
    RepairStore store;
    FakeCore core{store};
    NakContainment containment{config, env, core, store};
};

// D33: an NCF is a repeat only when every sequence the NAK names had one sent on the same
// interface in the current ncf_repeat_interval period.
TEST_F(Containment, NcfRepeatsOnlyOnTheSameInterfaceWithinTheInterval) {
    config.ncf_repeat_interval = 100ms;
    store.try_emplace(RepairKey{tsi(), Sqn(5)});
    store.try_emplace(RepairKey{tsi(), Sqn(6)});
    const Packet both = nak(PacketType::Nak, {Sqn(5), Sqn(6)});
    const Packet with_7 = nak(PacketType::Nak, {Sqn(5), Sqn(7)});
    EXPECT_FALSE(containment.ncf_is_repeat(from(2), both.view(), at(10ms)));
    containment.note_ncf_sent(from(2), both.view(), at(10ms));
    EXPECT_TRUE(containment.ncf_is_repeat(from(2), both.view(), at(60ms)));
    EXPECT_FALSE(containment.ncf_is_repeat(from(3), both.view(), at(60ms)));    // other LAN
    EXPECT_FALSE(containment.ncf_is_repeat(from(2), with_7.view(), at(60ms)));  // 7: no state
    EXPECT_FALSE(containment.ncf_is_repeat(from(2), both.view(), at(110ms)));   // period over

    config.ncf_repeat_interval = 0ms;  // off
    EXPECT_FALSE(containment.ncf_is_repeat(from(2), both.view(), at(60ms)));
}

// D34: DUP_NAK_MAX duplicate NAKs from an interface in the repair set mark its subtree
// unreachable, once; NNAKs (arrival 0) and interfaces outside the set are no duplicates.
TEST_F(Containment, DuplicateNaksMarkTheSubtreeUnreachable) {
    config.dup_nak_max = 2;
    const RepairKey key{tsi(), Sqn(5)};
    store.try_emplace(key).first->second.interfaces = slot_of(2);
    EXPECT_TRUE(containment.is_duplicate_nak(key, slot_of(2)));
    EXPECT_FALSE(containment.is_duplicate_nak(key, slot_of(3)));
    EXPECT_FALSE(containment.is_duplicate_nak(key, 0));
    Session& s = core.session();
    containment.note_duplicate_nak(from(2), key, s);
    EXPECT_FALSE(containment.unreachable(from(2), s));
    containment.note_duplicate_nak(from(2), key, s);
    containment.note_duplicate_nak(from(2), key, s);
    EXPECT_TRUE(containment.unreachable(from(2), s));
    EXPECT_FALSE(containment.unreachable(from(3), s));
    EXPECT_EQ(core.counted(2, Counter::DupNakMaxReached), 1u);

    config.dup_nak_max = 0;  // off
    EXPECT_FALSE(containment.is_duplicate_nak(key, slot_of(2)));
}

// D35: OPT_NBR_UNREACH counts only from the upstream neighbour naming itself in
// OPT_PATH_NLA; taken, it holds our NAKs and the subtree hears one special SPM on each
// member interface that assists.
TEST_F(Containment, NbrUnreachNcfOnlyFromTheUpstreamNeighbour) {
    core.assist_off.insert(3);
    const auto ncf = [](const Nla& path) {
        return Packet([&](PacketWriter& w) {
            w.begin(PacketType::Ncf, tsi().source_port, 7501, tsi().gsi);
            w.nak(NakFields{Sqn(5), kSource, kGroup});
            w.nbr_unreach();
            w.path_nla(OptPathNla{path});
        });
    };
    Session& s = core.session();
    Output out;
    EXPECT_FALSE(
        containment.on_nbr_unreach_ncf(from(1, kNeighbour), ncf(kSource).view(), tsi(), s, out));
    EXPECT_FALSE(
        containment.on_nbr_unreach_ncf(from(2, kNeighbour), ncf(kNeighbour).view(), tsi(), s, out));
    EXPECT_EQ(
        core.counted(1, Counter::NbrUnreachIgnored) + core.counted(2, Counter::NbrUnreachIgnored),
        2u);
    EXPECT_FALSE(s.nbr_unreach_upstream);
    EXPECT_TRUE(out.empty());

    EXPECT_TRUE(
        containment.on_nbr_unreach_ncf(from(1, kNeighbour), ncf(kNeighbour).view(), tsi(), s, out));
    EXPECT_TRUE(s.nbr_unreach_upstream);
    ASSERT_EQ(out.transmits().size(), 1u);  // interface 2 only: 1 is upstream, 3 plain
    EXPECT_EQ(out.transmits()[0].ifindex, 2u);
    ParseResult spm = parse(out.bytes(out.transmits()[0]), ParseOptions{});
    ASSERT_TRUE(spm);
    EXPECT_EQ(spm.view.header.type, PacketType::Spm);
    EXPECT_TRUE(spm.view.nbr_unreach());
    EXPECT_TRUE(
        containment.on_nbr_unreach_ncf(from(1, kNeighbour), ncf(kNeighbour).view(), tsi(), s, out));
    EXPECT_EQ(out.transmits().size(), 1u);  // told once
}

// --- ParityRepair -----------------------------------------------------------------------

class Parity : public ::testing::Test {
  protected:
    Parity() { core.session().tgs = 8; }
    RepairStore store;
    FakeCore core{store};
    ParityRepair parity{core, store};
    const RepairKey tg16{tsi(), Sqn(16), true};
    Output out;
    // A parity NAK from interface `ifindex` for `wanted` packets of TG 16.
    ParityRepair::NakOutcome nak_tg16(IfIndex ifindex, std::uint16_t wanted, Time now) {
        const Packet p = nak(PacketType::Nak, {encode_parity_sqn(Sqn(16), wanted)}, true);
        return parity.on_nak(from(ifindex), p.view(), core.session(), RedirectTarget::None, false,
                             now, out);
    }
    void ncf_tg16(std::uint16_t wanted, Time now) {
        const Packet p = nak(PacketType::Ncf, {encode_parity_sqn(Sqn(16), wanted)}, true);
        parity.on_ncf(from(1), p.view(), core.session(), now);
    }
};

// N-NAK-17: each interface's count is kept; a NAK's NCF confirms what its interface wants,
// and the NAK upstream asks for the largest count.
TEST_F(Parity, NakCountsPerInterfaceAndTheLargestGoesUpstream) {
    auto o = nak_tg16(2, 1, at(0ms));
    EXPECT_TRUE(o.forward);
    EXPECT_EQ(parity.ncf_sqns(), std::vector<Sqn>{encode_parity_sqn(Sqn(16), 1)});
    o = nak_tg16(3, 3, at(1ms));
    EXPECT_EQ(core.events.back(), RepairEvent::NakMore);  // wants more than the largest
    o = nak_tg16(2, 2, at(2ms));
    EXPECT_EQ(core.events.back(), RepairEvent::Nak);
    EXPECT_TRUE(o.eliminated);
    EXPECT_EQ(parity.ncf_sqns(), std::vector<Sqn>{encode_parity_sqn(Sqn(16), 2)});
    EXPECT_EQ(parity.forward_sqns(), std::vector<Sqn>{encode_parity_sqn(Sqn(16), 3)});
    const ParityCounts* pc = store.find_parity(tg16);
    ASSERT_NE(pc, nullptr);
    EXPECT_EQ(pc->largest, 3u);
    EXPECT_EQ(pc->wanted(1), 2u);  // interface 2
    EXPECT_EQ(pc->wanted(2), 3u);  // interface 3
}

// N-RD-6: each parity RDATA brings every interface's count down by one; an interface that
// wants no more leaves the entry, and the last RDATA deletes it.
TEST_F(Parity, RdataServesEveryInterfaceUntilItWantsNoMore) {
    Session& s = core.session();
    nak_tg16(2, 1, at(0ms));
    nak_tg16(3, 2, at(0ms));
    const Packet rdata([](PacketWriter& w) {
        w.begin(PacketType::Rdata, tsi().source_port, 7501, tsi().gsi);
        w.flags(kOptParity);
        w.data(DataFields{Sqn(16), Sqn(1)});  // the first parity packet of TG 16
    });
    EXPECT_EQ(parity.on_rdata(from(1), rdata.view(), s, slot_of(1), at(10ms), out),
              slot_of(2) | slot_of(3));
    EXPECT_EQ(core.events.back(), RepairEvent::RdataPartial);
    EXPECT_EQ(store.find(tg16)->second.interfaces, slot_of(3));
    EXPECT_EQ(parity.on_rdata(from(1), rdata.view(), s, slot_of(1), at(11ms), out), slot_of(3));
    EXPECT_EQ(core.events.back(), RepairEvent::Rdata);
    EXPECT_EQ(store.find(tg16), store.end());
    EXPECT_EQ(parity.on_rdata(from(1), rdata.view(), s, slot_of(1), at(12ms), out), 0u);
    EXPECT_EQ(core.counted(1, Counter::RdataEliminatedSqn), 1u);
}

// N-NCF-7: an NCF for fewer than the largest known count does not confirm; one for more
// raises it.
TEST_F(Parity, NcfConfirmsOnlyTheLargestCount) {
    nak_tg16(2, 3, at(0ms));
    ncf_tg16(2, at(1ms));
    EXPECT_EQ(core.events.back(), RepairEvent::NcfShort);
    ncf_tg16(5, at(2ms));
    EXPECT_EQ(core.events.back(), RepairEvent::NcfFromUpstream);
    EXPECT_EQ(store.find_parity(tg16)->largest, 5u);
}

// N-SPM-8: OPT_CURR_TGSIZE shortens the TG SPM_LEAD ends; its counts take the offset, and
// a TG whose entry is made later gets it too.
TEST_F(Parity, CurrTgsizeShortensTheLeadsTransmissionGroup) {
    Session& s = core.session();
    store.try_emplace(tg16);
    store.parity(tg16, 0);
    parity.on_curr_tgsize(tsi(), s, Sqn(21), 6);
    ASSERT_TRUE(s.shortened_tg.has_value());
    EXPECT_EQ(s.shortened_tg->tg, Sqn(16));
    EXPECT_EQ(store.find_parity(tg16)->offset, 2u);
    parity.on_curr_tgsize(tsi(), s, Sqn(29), 8);  // not shorter: nothing
    EXPECT_EQ(s.shortened_tg->tg, Sqn(16));
}

// --- PollResponder ----------------------------------------------------------------------

class Poll : public ::testing::Test {
  protected:
    RepairStore store;
    FakeCore core{store};
    PollResponder poll{core, 0x12345678};
    static Packet poll_packet(Sqn sqn, std::uint32_t rand, std::uint32_t mask,
                              std::uint16_t subtype = kPollGeneral) {
        return Packet([&](PacketWriter& w) {
            w.begin(PacketType::Poll, tsi().source_port, 7501, tsi().gsi);
            w.poll(PollFields{sqn, 0, subtype, kNeighbour, 1000, rand, mask});
        });
    }
};

// §14.5: a POLL whose POLL_RAND matches RAND_NODE_ID under POLL_MASK is answered after its
// back-off, unicast to POLL_PATH; others, and POLLs not from our parent, are not.
TEST_F(Poll, AnswersMatchingPollsAfterTheBackOff) {
    core.random = 400;  // back-off 400 us of the 1000 us interval
    poll.on_poll(from(1), poll_packet(Sqn(1), 0x00000001, 0x0000000F).view(), at(0ms));
    EXPECT_EQ(core.counted(1, Counter::PollRandomIgnore), 1u);
    poll.on_poll(from(2), poll_packet(Sqn(1), 0, 0).view(), at(0ms));
    EXPECT_EQ(core.counted(2, Counter::PollParentError), 1u);
    poll.on_poll(from(1), poll_packet(Sqn(1), 0x00000078, 0x000000FF).view(), at(0ms));
    EXPECT_EQ(core.counted(1, Counter::PollSuccess), 1u);
    EXPECT_EQ(poll.next_deadline(), at(400us));
    Output out;
    poll.on_timer(at(399us), out);
    EXPECT_TRUE(out.empty());
    poll.on_timer(at(400us), out);
    ASSERT_EQ(out.transmits().size(), 1u);
    EXPECT_EQ(out.transmits()[0].ip_destination, kNeighbour);
    ParseResult polr = parse(out.bytes(out.transmits()[0]), ParseOptions{});
    ASSERT_TRUE(polr);
    EXPECT_EQ(polr.view.header.type, PacketType::Polr);
    EXPECT_EQ(poll.next_deadline(), kNever);
}

// A new POLL_SQN cancels the POLR still waiting for the previous one; DLR polls are not
// answered by a router that is no DLR for the session (§9.5.2.2).
TEST_F(Poll, NewPollSqnCancelsTheWaitingPolr) {
    core.random = 900;
    poll.on_poll(from(1), poll_packet(Sqn(1), 0, 0).view(), at(0ms));
    core.random = 100;
    poll.on_poll(from(1), poll_packet(Sqn(2), 0, 0).view(), at(0ms));
    poll.on_poll(from(1), poll_packet(Sqn(3), 0, 0, kPollDlr).view(), at(0ms));
    EXPECT_EQ(core.counted(1, Counter::PollTypeError), 1u);
    Output out;
    poll.on_timer(at(1ms), out);
    EXPECT_TRUE(out.empty());  // POLL_SQN 3 cancelled 2's POLR, and 1's before it
}

// --- InterfaceTable ----------------------------------------------------------------------

// Slots follow first sight; a reload turning router assist off reports the interface's bit
// (the router takes it out of the repair sets); one turning it on, or changing nothing, none.
TEST(Interfaces, AssistTurnedOffReportsTheSlot) {
    RouterConfig config;
    InterfaceTable table(config);
    EXPECT_EQ(table.slot(7), 0u);
    EXPECT_EQ(table.slot(3), 1u);
    EXPECT_EQ(table.bit(3), InterfaceSlots{2});
    EXPECT_FALSE(table.any_assist_off());
    InterfaceSettings off;
    off.router_assist = false;
    InterfaceTable::SettingsApplied r = table.set_settings(3, off);
    EXPECT_TRUE(r.applied);
    EXPECT_EQ(r.assist_turned_off, InterfaceSlots{2});
    EXPECT_TRUE(table.any_assist_off());
    EXPECT_FALSE(table.assists(3));
    EXPECT_TRUE(table.assists(7));
    EXPECT_EQ(table.set_settings(3, off).assist_turned_off, 0u);  // already off
    EXPECT_EQ(table.set_settings(3, InterfaceSettings{}).assist_turned_off, 0u);
    EXPECT_FALSE(table.any_assist_off());
}

// Interfaces 1 to kMaxInterfaces each take a slot (and count i NAKs): the table is full,
// kLastOwner owns the last slot, whose bit is kLastBit.
void take_every_slot(InterfaceTable& table) {
    for (IfIndex i = 1; i <= kMaxInterfaces; ++i)
        table.counters(i)[Counter::InNaks] = i;
}
constexpr IfIndex kLastOwner = kMaxInterfaces;
constexpr std::size_t kLastSlot = kMaxInterfaces - 1;
constexpr InterfaceSlots kLastBit = InterfaceSlots{1} << kLastSlot;

// All slots taken: a new interface shares the last (settings refused) until one goes down,
// whose slot it then takes over with fresh counters.
TEST(Interfaces, NewInterfaceTakesOverAReleasedSlot) {
    RouterConfig config;
    InterfaceTable table(config);
    take_every_slot(table);
    EXPECT_EQ(table.slot(500), kMaxInterfaces - 1);
    EXPECT_FALSE(table.set_settings(500, InterfaceSettings{}).applied);
    EXPECT_EQ(table.interface_down(5), InterfaceSlots{1} << 4);
    EXPECT_EQ(table.slot(600), 4u);
    EXPECT_EQ(table.counters(600)[Counter::InNaks], 0u);
    EXPECT_EQ(table.interfaces_of(InterfaceSlots{1} << 4), std::vector<IfIndex>{600});
    EXPECT_TRUE(table.clear_counters(1));
    EXPECT_FALSE(table.clear_counters(5));  // gone
}

// interface_down of an interface the table never saw (or whose slot was taken over since)
// makes no slot for it: nothing of it is there to clean up, `all()` (pgmctl's view) stays as
// it was, and no bit is returned for the router to clear.
TEST(Interfaces, DownOfAnUnseenInterfaceTakesNoSlot) {
    RouterConfig config;
    InterfaceTable table(config);
    table.counters(1)[Counter::InNaks] = 1;
    EXPECT_EQ(table.interface_down(7), 0u);
    EXPECT_EQ(table.interface_down(300), 0u);
    ASSERT_EQ(table.all().size(), 1u);
    EXPECT_EQ(table.all()[0].ifindex, 1u);
    EXPECT_EQ(table.slot(7), 1u);  // a fresh slot when it is seen after all

    // All taken: an unseen interface going down releases no slot for a newcomer to take.
    for (IfIndex i = 2; i <= kMaxInterfaces; ++i)
        table.counters(i)[Counter::InNaks] = i;
    EXPECT_EQ(table.interface_down(500), 0u);
    EXPECT_EQ(table.all().size(), kMaxInterfaces);
    EXPECT_TRUE(std::none_of(table.all().begin(), table.all().end(),
                             [](const InterfaceState& i) { return i.released; }));
    EXPECT_EQ(table.slot(600), kMaxInterfaces - 1);  // shares the last, as before

    // Interface 5's slot (slot 5: 7 took slot 1) taken over by 700: 5 is unseen again.
    EXPECT_EQ(table.interface_down(5), InterfaceSlots{1} << 5);
    EXPECT_EQ(table.slot(700), 5u);
    EXPECT_EQ(table.interface_down(5), 0u);
    EXPECT_EQ(table.interfaces_of(InterfaceSlots{1} << 5), std::vector<IfIndex>{700});
}

// D40: the last slot shared by its owner and interfaces seen after all slots were taken.
// One of them going down returns the slot's bit (the router clears it from every repair
// state) only when none of the others is still up; the owner's slot, released while others
// share it, is not taken over by a newcomer but by one of them, whose bit it already is.
TEST(Interfaces, SharedSlotBitReturnedOnlyWhenNobodyOnItIsUp) {
    RouterConfig config;
    InterfaceTable table(config);
    take_every_slot(table);
    EXPECT_EQ(table.slot(100), kLastSlot);  // sharers below and above 256
    EXPECT_EQ(table.slot(500), kLastSlot);

    EXPECT_EQ(table.interface_down(500), 0u);         // the owner and 100 are up
    EXPECT_EQ(table.interface_down(500), 0u);         // gone already
    EXPECT_EQ(table.interface_down(kLastOwner), 0u);  // 100 is up
    EXPECT_EQ(table.slot(600), kLastSlot);  // a newcomer shares; the slot is not taken over
    EXPECT_EQ(table.interface_down(600), 0u);
    EXPECT_EQ(table.interfaces_of(kLastBit), std::vector<IfIndex>{kLastOwner});
    EXPECT_EQ(table.interface_down(100), kLastBit);  // the last one up on the slot

    // Released with nobody on it: a newcomer takes it over, fresh.
    EXPECT_EQ(table.slot(800), kLastSlot);
    EXPECT_EQ(table.counters(800)[Counter::InNaks], 0u);
    EXPECT_EQ(table.interfaces_of(kLastBit), std::vector<IfIndex>{800});

    // 800's slot shared by 900; 800 goes down: 900, still up and on that bit, takes it over.
    EXPECT_EQ(table.slot(900), kLastSlot);
    table.counters(900)[Counter::InNaks] = 9;
    EXPECT_EQ(table.interface_down(800), 0u);
    EXPECT_EQ(table.slot(900), kLastSlot);
    EXPECT_EQ(table.counters(900)[Counter::InNaks], 0u);  // fresh
    EXPECT_EQ(table.interfaces_of(kLastBit), std::vector<IfIndex>{900});
    EXPECT_TRUE(table.set_settings(900, InterfaceSettings{}).applied);  // its own now
    EXPECT_EQ(table.interface_down(900), kLastBit);
}

// D40: an interface that came to share the last slot after its owner went down does not
// take it over while one that shared it then (whose requests the slot's bit holds) is up,
// however often it is looked up; that one does; with it gone, any sharer may.
TEST(Interfaces, OnlyAnHeirTakesOverTheReleasedSharedSlot) {
    RouterConfig config;
    InterfaceTable table(config);
    take_every_slot(table);
    EXPECT_EQ(table.slot(100), kLastSlot);
    EXPECT_EQ(table.interface_down(kLastOwner), 0u);  // 100 is up
    EXPECT_EQ(table.interface_down(kLastOwner), 0u);  // twice: nothing more
    EXPECT_EQ(table.slot(600), kLastSlot);            // came after: shares
    EXPECT_EQ(table.slot(600), kLastSlot);            // and again: still not the owner
    EXPECT_FALSE(table.set_settings(600, InterfaceSettings{}).applied);
    EXPECT_EQ(table.interfaces_of(kLastBit), std::vector<IfIndex>{kLastOwner});
    EXPECT_EQ(table.slot(100), kLastSlot);  // the heir takes it over
    EXPECT_EQ(table.interfaces_of(kLastBit), std::vector<IfIndex>{100});
    EXPECT_EQ(table.interface_down(100), 0u);  // 600 is up on it
    EXPECT_EQ(table.slot(600), kLastSlot);     // no heir left: 600 takes it
    EXPECT_EQ(table.interfaces_of(kLastBit), std::vector<IfIndex>{600});
    EXPECT_EQ(table.interface_down(600), kLastBit);
}

// A sharer of the last slot moves to a slot released elsewhere; it no longer counts as one
// of the last slot's, so the owner going down then returns the bit.
TEST(Interfaces, SharerTakingAReleasedSlotLeavesTheSharedOne) {
    RouterConfig config;
    InterfaceTable table(config);
    take_every_slot(table);
    EXPECT_EQ(table.slot(100), kMaxInterfaces - 1);
    EXPECT_EQ(table.interface_down(5), InterfaceSlots{1} << 4);
    EXPECT_EQ(table.slot(100), 4u);
    EXPECT_EQ(table.interface_down(kMaxInterfaces), InterfaceSlots{1} << (kMaxInterfaces - 1));
    EXPECT_EQ(table.interface_down(100), InterfaceSlots{1} << 4);
}

// --- SessionTable ------------------------------------------------------------------------

// max_sessions caps creation; the sweep removes sessions session_lifetime after their last
// SPM, with an Expired event each, and moves to the oldest survivor's expiry.
TEST(Sessions, CapExpiryAndEvents) {
    RouterConfig config;
    config.max_sessions = 2;
    config.session_lifetime = 10s;
    SessionTable table(config);
    Tsi a = tsi();
    Tsi b = tsi();
    b.source_port = 2;
    Tsi c = tsi();
    c.source_port = 3;
    ASSERT_NE(table.create(a, at(0s)), nullptr);
    table.find(a)->last_spm = at(0s);
    ASSERT_NE(table.create(b, at(4s)), nullptr);
    table.find(b)->last_spm = at(4s);
    EXPECT_EQ(table.create(c, at(5s)), nullptr);  // the cap
    EXPECT_EQ(table.next_sweep(), at(10s));
    std::vector<Tsi> gone;
    table.expire(at(10s), [&](const Tsi& t) { gone.push_back(t); });
    EXPECT_EQ(gone, std::vector<Tsi>{a});
    EXPECT_EQ(table.find(a), nullptr);
    ASSERT_NE(table.find(b), nullptr);
    EXPECT_EQ(table.next_sweep(), at(14s));
    table.remove_upstream(table.find(b)->upstream_interface,
                          [&](const Tsi& t) { gone.push_back(t); });
    EXPECT_EQ(gone.size(), 2u);
    const std::vector<SessionEvent> events = table.take_events();
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].kind, SessionEvent::Kind::Expired);
    EXPECT_EQ(events[1].kind, SessionEvent::Kind::Removed);
    EXPECT_TRUE(table.take_events().empty());
}

}  // namespace
}  // namespace pgm::router
