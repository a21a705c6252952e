// DOC: An interface leaving the router's repair state, by going down or by a reload turning its
// router assist off (decisions.md D38), on the Router itself with a fixed environment: the
// parity counts (§11.6, N-NAK-17) forget the interface's count, so the repeated parity NAK
// upstream asks only for what the interfaces still in the entry want; an App. E verdict on the
// interface's subtree (D34) goes with it as well. An interface going down that the router never
// saw, or that shares the last interface slot with interfaces still up, takes nothing (D40).
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <vector>

#include "protocol/parity_sqn.h"
#include "protocol/write_packet.h"
#include "router/router.h"

namespace pgm::router {
namespace {

using namespace std::chrono_literals;

Nla v4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return Nla::ipv4(std::array<std::uint8_t, 4>{a, b, c, d});
}

// Interface i (1-4) is 10.0.i.254 on 10.0.i.0/24; the group's members are on 2, 3 and 4.
struct FixedEnvironment : Environment {
    std::optional<Nla> interface_address(IfIndex i, Nla::Family f) const override {
        if (i < 1 || i > 4 || f != Nla::Family::Ipv4) return std::nullopt;
        return v4(10, 0, static_cast<std::uint8_t>(i), 254);
    }
    std::optional<IfIndex> route_interface(const Nla& a) const override {
        if (!a.is_ipv4()) return std::nullopt;
        const Bytes b = a.address();
        if (b[0] == 10 && b[2] >= 1 && b[2] <= 4) return b[2];
        return std::nullopt;
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = {2, 3, 4};
    }
};

constexpr std::uint16_t kSourcePort = 1000;
constexpr std::uint16_t kDestinationPort = 7500;
const Nla kSource = v4(10, 0, 1, 1);
const Nla kGroup = v4(239, 1, 1, 1);

class InterfaceLeave : public ::testing::Test {
  protected:
    template <class Fill>
    void feed(IfIndex i, const Nla& from, const Nla& to, Fill fill, Time now) {
        Output built;
        write_packet(built, 600, Transmit{}, fill);
        const Bytes b = built.bytes(built.transmits().back());
        const std::vector<std::uint8_t> pgm(b.begin(), b.end());
        Arrival a;
        a.ifindex = i;
        a.ip.source = from;
        a.ip.destination = to;
        a.ip.ttl = 64;
        a.ip.router_alert = true;
        a.ip.version = 4;
        out.clear();
        router.on_packet(a, Bytes(pgm), now, out);
    }
    // An SPM with OPT_PARITY_PRM (TG size 8, on-demand parity) from the source behind 1.
    void spm() {
        feed(
            1, kSource, kGroup,
            [&](PacketWriter& w) {
                w.begin(PacketType::Spm, kSourcePort, kDestinationPort, Gsi{});
                w.spm(SpmFields{Sqn(1), Sqn(1), Sqn(100), v4(10, 0, 1, 253)});
                w.parity_prm(OptParityPrm{false, true, 8});
            },
            Time{});
    }
    // A parity NAK for TG 16 asking for `wanted` packets, from a receiver behind `i`.
    void parity_nak(IfIndex i, std::uint16_t wanted, Time now) {
        const auto n = static_cast<std::uint8_t>(i);
        feed(
            i, v4(10, 0, n, 7), v4(10, 0, n, 254),
            [&](PacketWriter& w) {
                w.begin(PacketType::Nak, kDestinationPort, kSourcePort, Gsi{});
                w.flags(kOptParity);
                w.nak(NakFields{encode_parity_sqn(Sqn(16), wanted), kSource, kGroup});
            },
            now);
    }
    // A selective NAK for sequence 5 from a receiver behind `i`.
    void selective_nak(IfIndex i, Time now) {
        const auto n = static_cast<std::uint8_t>(i);
        feed(
            i, v4(10, 0, n, 7), v4(10, 0, n, 254),
            [&](PacketWriter& w) {
                w.begin(PacketType::Nak, kDestinationPort, kSourcePort, Gsi{});
                w.nak(NakFields{Sqn(5), kSource, kGroup});
            },
            now);
    }
    std::uint64_t unreachable_interfaces() const {
        return router.sessions().empty() ? 0
                                         : router.sessions().begin()->second.nbr_unreach_interfaces;
    }
    // The NAK sequence numbers the next timer sends upstream (interface 1).
    std::vector<std::uint32_t> repeated_naks_upstream() {
        out.clear();
        router.on_timer(router.next_deadline(), out);
        std::vector<std::uint32_t> sqns;
        for (const Transmit& t : out.transmits()) {
            const auto p = parse(out.bytes(t));
            if (p && t.ifindex == 1 && p.view.header.type == PacketType::Nak)
                sqns.push_back(p.view.get<NakFields>()->sqn.value());
        }
        return sqns;
    }
    // eth2 asks for 3 parity packets of TG 16, eth3 for 1.
    void two_interfaces_want_parity() {
        spm();
        parity_nak(2, 3, Time{} + 1ms);
        parity_nak(3, 1, Time{} + 2ms);
        ASSERT_EQ(router.parity_counts().size(), 1u);
        ASSERT_EQ(router.parity_counts().begin()->second.largest, 3u);
    }
    // The one parity count left is `ifindex`'s alone, its largest `largest`.
    const ParityCounts* expect_only_counted(IfIndex ifindex, std::uint16_t largest) {
        EXPECT_EQ(router.parity_counts().size(), 1u);
        if (router.parity_counts().size() != 1) return nullptr;
        const ParityCounts& pc = router.parity_counts().begin()->second;
        EXPECT_EQ(pc.largest, largest);
        EXPECT_EQ(pc.interfaces.size(), 1u);
        if (pc.interfaces.size() != 1) return nullptr;
        EXPECT_EQ(router.interfaces_of(InterfaceSlots{1} << pc.interfaces[0].slot),
                  std::vector<IfIndex>{ifindex});
        return &pc;
    }
    void expect_only_eth3_counted() {
        const ParityCounts* pc = expect_only_counted(3, 1);
        ASSERT_NE(pc, nullptr);
        EXPECT_EQ(pc->interfaces[0].wanted, 1u);
        EXPECT_EQ(repeated_naks_upstream(),
                  std::vector<std::uint32_t>{encode_parity_sqn(Sqn(16), 1).value()});
    }

    void expect_both_counted() {
        ASSERT_EQ(router.parity_counts().size(), 1u);
        const auto& [key, pc] = *router.parity_counts().begin();
        EXPECT_EQ(pc.largest, 3u);
        EXPECT_EQ(pc.interfaces.size(), 2u);
    }
    // Slots 0-62 for interfaces 1, 2 and 4-64, the last one (63) for eth3: an interface seen
    // from now on shares eth3's slot (D38, D40).
    void eth3_owns_the_last_slot() {
        for (IfIndex i = 1; i <= kMaxInterfaces; ++i)
            if (i != 3) router.add_interface_counts(i, Counter::InOdata, 1);
        router.add_interface_counts(3, Counter::InOdata, 1);
        ASSERT_EQ(router.interfaces().size(), kMaxInterfaces);
        ASSERT_EQ(router.interfaces().back().ifindex, 3u);
    }

    RouterConfig config;
    FixedEnvironment env;
    Router router{config, env};
    Output out;
};

TEST_F(InterfaceLeave, ReloadTurningAssistOffDropsTheInterfaceParityCount) {
    two_interfaces_want_parity();
    InterfaceSettings off;
    off.router_assist = false;
    ASSERT_TRUE(router.set_interface_settings(2, off));
    expect_only_eth3_counted();
}

TEST_F(InterfaceLeave, InterfaceDownDropsTheInterfaceParityCount) {
    two_interfaces_want_parity();
    router.interface_down(2);
    expect_only_eth3_counted();
}

// An interface the router never saw going down: no slot is made for it (pgmctl's interface
// list stays as it was) and no repair state loses anything.
TEST_F(InterfaceLeave, DownOfAnUnseenInterfaceChangesNothing) {
    two_interfaces_want_parity();
    const std::size_t seen = router.interfaces().size();
    router.interface_down(9);
    EXPECT_EQ(router.interfaces().size(), seen);
    EXPECT_EQ(router.sessions().size(), 1u);
    expect_both_counted();
}

// D40: interface 100 shares eth3's slot (all 64 taken). Its going down leaves the slot's bit
// alone: it stands for eth3 too, which is still up and keeps its parity count.
TEST_F(InterfaceLeave, SharerOfTheLastSlotGoingDownKeepsTheOwnersRepairState) {
    eth3_owns_the_last_slot();
    router.add_interface_counts(100, Counter::InOdata, 1);
    two_interfaces_want_parity();
    router.interface_down(100);
    expect_both_counted();
    router.interface_down(2);
    expect_only_eth3_counted();
}

// D40: eth3, owning the last slot, goes down while 100 shares it: the bit stays for 100; it
// goes with the last interface on the slot.
TEST_F(InterfaceLeave, SharedSlotBitGoesWithTheLastInterfaceUpOnIt) {
    eth3_owns_the_last_slot();
    router.add_interface_counts(100, Counter::InOdata, 1);
    two_interfaces_want_parity();
    router.interface_down(3);
    expect_both_counted();
    router.interface_down(100);
    expect_only_counted(2, 3);
}

// D38: a reload turning router assist off on eth2 clears the App. E verdict on its subtree
// (DUP_NAK_MAX reached there), as interface_down does; eth3's stays.
TEST_F(InterfaceLeave, ReloadTurningAssistOffClearsTheUnreachableVerdict) {
    config.dup_nak_max = 2;
    router.reconfigure(config);
    spm();
    for (int n = 0; n < 3; ++n) {
        selective_nak(2, Time{} + 1ms + n * 60ms);  // past ncf-repeat-interval (D34)
        selective_nak(3, Time{} + 2ms + n * 60ms);
    }
    const std::vector<IfIndex> both{2, 3};
    ASSERT_EQ(router.interfaces_of(unreachable_interfaces()), both);
    InterfaceSettings off;
    off.router_assist = false;
    ASSERT_TRUE(router.set_interface_settings(2, off));
    EXPECT_EQ(router.interfaces_of(unreachable_interfaces()), std::vector<IfIndex>{3});
}

}  // namespace
}  // namespace pgm::router
