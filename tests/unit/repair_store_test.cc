// DOC: The router's repair store (router/repair_store.h) on its own: removals take an entry's
// parity counts, duplicate-NAK counts and held RDATA with it, the held-byte count follows, and the
// timer heap returns due entries in deadline order, skipping stale items and re-arming moved ones.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "router/repair_store.h"

namespace pgm::router {
namespace {

using namespace std::chrono_literals;

Tsi tsi(std::uint16_t port) {
    Tsi t;
    t.source_port = port;
    return t;
}

const std::array<std::uint8_t, 40> kRdata{};

TEST(RepairStore, EraseTakesParityCountsAndHeldRdata) {
    RepairStore store;
    const RepairKey selective{tsi(1), Sqn(5)};
    const RepairKey parity{tsi(1), Sqn(16), true};
    store.try_emplace(selective).first->second.phase = RepairPhase::Repaired;
    store.hold(selective, kRdata, Transmit{});
    store.try_emplace(parity);
    store.parity(parity, 3).largest = 2;
    EXPECT_EQ(store.held_bytes(), kRdata.size());
    ASSERT_NE(store.held(selective), nullptr);
    EXPECT_EQ(store.held(selective)->pgm.size(), kRdata.size());
    ASSERT_NE(store.find_parity(parity), nullptr);
    EXPECT_EQ(store.find_parity(parity)->offset, 3);
    EXPECT_EQ(store.parity(parity, 7).offset, 3);  // the offset is set only when made

    store.erase(store.find(selective));
    EXPECT_EQ(store.held(selective), nullptr);
    EXPECT_EQ(store.held_bytes(), 0u);
    store.erase(store.find(parity));
    EXPECT_EQ(store.find_parity(parity), nullptr);
    EXPECT_EQ(store.size(), 0u);
    EXPECT_TRUE(store.parity_counts().empty());
}

// App. E (D34): duplicate-NAK counts per interface go with their entry, and an interface
// that went down starts again from zero.
TEST(RepairStore, DuplicateNakCountsGoWithTheEntryAndTheInterface) {
    RepairStore store;
    const RepairKey key{tsi(1), Sqn(5)};
    store.try_emplace(key);
    EXPECT_EQ(store.add_duplicate_nak(key, 0), 1u);
    EXPECT_EQ(store.add_duplicate_nak(key, 0), 2u);
    EXPECT_EQ(store.add_duplicate_nak(key, 3), 1u);
    store.interface_down(InterfaceSlots{1} << 3);
    EXPECT_EQ(store.add_duplicate_nak(key, 3), 1u);
    EXPECT_EQ(store.add_duplicate_nak(key, 0), 3u);
    store.erase(store.find(key));
    store.try_emplace(key);
    EXPECT_EQ(store.add_duplicate_nak(key, 0), 1u);  // a new entry counts afresh
    store.clear();
    store.try_emplace(key);
    EXPECT_EQ(store.add_duplicate_nak(key, 0), 1u);
}

TEST(RepairStore, ClearEmptiesEverything) {
    RepairStore store;
    const RepairKey key{tsi(1), Sqn(5)};
    store.try_emplace(key).first->second.phase = RepairPhase::Repaired;
    store.hold(key, kRdata, Transmit{});
    store.try_emplace(RepairKey{tsi(1), Sqn(8), true});
    store.parity(RepairKey{tsi(1), Sqn(8), true}, 0);
    store.clear();
    EXPECT_EQ(store.size(), 0u);
    EXPECT_EQ(store.held_bytes(), 0u);
    EXPECT_TRUE(store.parity_counts().empty());
}

TEST(RepairStore, InterfaceDownAndEraseIf) {
    RepairStore store;
    const RepairKey kept{tsi(1), Sqn(5)};
    const RepairKey gone{tsi(2), Sqn(5)};
    store.try_emplace(kept).first->second.interfaces = 0b101;
    auto g = store.try_emplace(gone).first;
    g->second.interfaces = 0b100;
    g->second.phase = RepairPhase::Repaired;
    store.hold(gone, kRdata, Transmit{});
    store.interface_down(0b100);
    EXPECT_EQ(store.find(kept)->second.interfaces, 0b001u);
    EXPECT_EQ(store.find(gone)->second.interfaces, 0u);
    store.erase_if([&](const RepairKey& k, const RepairEntry&) { return k.tsi == gone.tsi; });
    EXPECT_TRUE(store.contains(kept));
    EXPECT_FALSE(store.contains(gone));
    EXPECT_EQ(store.held_bytes(), 0u);  // the held RDATA went with its entry
}

TEST(RepairStore, TimersFireInOrderSkippingStaleAndMovedItems) {
    RepairStore store;
    const Time t0 = Time{} + 10s;
    const RepairKey a{tsi(1), Sqn(1)}, b{tsi(1), Sqn(2)}, c{tsi(1), Sqn(3)};
    for (auto [key, at] : {std::pair{a, t0 + 3s}, std::pair{b, t0 + 1s}, std::pair{c, t0 + 2s}}) {
        RepairEntry& e = store.try_emplace(key).first->second;
        e.short_deadline = at;
        store.arm(key, e);
    }
    EXPECT_EQ(store.next_deadline(), t0 + 1s);
    EXPECT_EQ(store.pop_due(t0), store.end());  // nothing due yet

    // c's deadline moves later: its item fires at t0 + 2s, re-arms, and c is not due then.
    store.find(c)->second.short_deadline = t0 + 5s;
    store.erase(store.find(b));  // b's item is stale now

    EXPECT_EQ(store.pop_due(t0 + 2s), store.end());
    EXPECT_EQ(store.next_deadline(), t0 + 3s);
    auto due = store.pop_due(t0 + 10s);
    ASSERT_NE(due, store.end());
    EXPECT_EQ(due->first, a);
    EXPECT_EQ(due->second.scheduled, kNever);  // its item is consumed
    due = store.pop_due(t0 + 10s);
    ASSERT_NE(due, store.end());
    EXPECT_EQ(due->first, c);
    EXPECT_EQ(store.pop_due(t0 + 10s), store.end());
    EXPECT_EQ(store.next_deadline(), kNever);
}

TEST(RepairStore, ArmKeepsOneLiveItemPerEntry) {
    RepairStore store;
    const Time t0 = Time{} + 10s;
    const RepairKey key{tsi(1), Sqn(1)};
    RepairEntry& e = store.try_emplace(key).first->second;
    e.short_deadline = t0 + 2s;
    store.arm(key, e);
    e.short_deadline = t0 + 1s;  // earlier: a new item, the old one stale
    store.arm(key, e);
    EXPECT_EQ(store.next_deadline(), t0 + 1s);
    auto due = store.pop_due(t0 + 5s);
    ASSERT_NE(due, store.end());
    EXPECT_EQ(store.pop_due(t0 + 5s), store.end());  // the t0 + 2s item is stale
}

}  // namespace
}  // namespace pgm::router
