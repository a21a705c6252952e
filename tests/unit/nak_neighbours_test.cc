// DOC: The per-neighbour NAK buckets of one interface (router/nak_neighbours.h, decisions.md
// D36) on their own: one bucket per source, the table's size bound, which entry a new source
// may take (only a neighbour silent for kNakNeighbourIdle, least recently seen first), the
// shared bucket while every kept neighbour is active, and a flood of a million spoofed
// sources leaving the table at its cap with an active receiver still in it.
#include <gtest/gtest.h>

#include <cstdint>

#include "router/nak_neighbours.h"

namespace pgm::router {
namespace {

using namespace std::chrono_literals;

Nla address(std::uint32_t host_order) {
    return Nla::ipv4(host_order);
}

const Time t0 = Time{} + 100s;

TEST(NakNeighbours, EachSourceHasItsOwnBucket) {
    NakNeighbours n;
    const auto a = n.find(address(1), 4, t0);
    const auto b = n.find(address(2), 4, t0);
    EXPECT_NE(a.bucket, b.bucket);
    EXPECT_FALSE(a.shared || a.evicted || b.shared || b.evicted);
    EXPECT_EQ(n.find(address(1), 4, t0 + 1ms).bucket, a.bucket);
    EXPECT_EQ(n.size(), 2u);
    // One source emptying its bucket leaves the other's full.
    EXPECT_TRUE(a.bucket->take(5, 5, t0));
    EXPECT_FALSE(a.bucket->take(5, 1, t0));
    EXPECT_TRUE(b.bucket->take(5, 5, t0));
}

TEST(NakNeighbours, FullTableOfActiveNeighboursSharesOneBucket) {
    NakNeighbours n;
    for (std::uint32_t i = 0; i < 3; ++i)
        n.find(address(i), 3, t0);
    const auto x = n.find(address(100), 3, t0 + 999ms);  // the oldest was seen 999 ms ago
    const auto y = n.find(address(101), 3, t0 + 999ms);
    EXPECT_TRUE(x.shared);
    EXPECT_FALSE(x.evicted);
    EXPECT_EQ(x.bucket, y.bucket);
    EXPECT_EQ(n.size(), 3u);
    EXPECT_FALSE(n.find(address(0), 3, t0 + 999ms).shared);  // still kept
}

TEST(NakNeighbours, NewSourceTakesTheLeastRecentlySeenIdleEntry) {
    NakNeighbours n;
    const auto first = n.find(address(1), 2, t0);
    n.find(address(2), 2, t0 + 10ms);
    n.find(address(1), 2, t0 + 20ms);  // 1 seen again: 2 is now the least recent
    EXPECT_TRUE(first.bucket->take(10, 10, t0 + 20ms));
    const auto c = n.find(address(3), 2, t0 + 1010ms);  // 2 silent for 1 s
    EXPECT_TRUE(c.evicted);
    EXPECT_FALSE(c.shared);
    EXPECT_EQ(n.size(), 2u);
    // 1 kept its (emptied) bucket; 2 was forgotten and comes back with a fresh one.
    EXPECT_FALSE(n.find(address(1), 2, t0 + 1010ms).shared);
    EXPECT_FALSE(first.bucket->take(10, 10, t0 + 1010ms));  // not full yet: 9.9 tokens
    const auto again = n.find(address(2), 2, t0 + 2500ms);  // 3 silent 1.49 s: taken
    EXPECT_TRUE(again.evicted);
    EXPECT_TRUE(again.bucket->take(10, 10, t0 + 2500ms));  // fresh: full
}

TEST(NakNeighbours, LoweredCapacityForgetsEveryone) {
    NakNeighbours n;
    for (std::uint32_t i = 0; i < 5; ++i)
        n.find(address(i), 5, t0);
    n.find(address(9), 2, t0);
    EXPECT_EQ(n.size(), 1u);
    n.find(address(8), 0, t0);  // capacity 0 is taken as 1
    EXPECT_LE(n.size(), 1u);
}

// A million spoofed sources a second for two seconds, room for 64: the first 63 get an
// entry; the rest share one bucket until, a second later, those 63 are idle and are taken by
// the next 63, and so on. The receiver NAKing every 100 ms is never pushed out.
TEST(NakNeighbours, SpoofedFloodStaysAtTheCapAndKeepsAnActiveReceiver) {
    NakNeighbours n;
    constexpr std::size_t kCap = 64;
    constexpr std::uint32_t kFlood = 2'000'000;
    const Nla receiver = address(0x0A000001);
    TokenBucket* own = n.find(receiver, kCap, t0).bucket;
    std::uint64_t shared = 0, evicted = 0;
    for (std::uint32_t i = 0; i < kFlood; ++i) {
        const Time now = t0 + std::chrono::microseconds(i);
        const auto f = n.find(address(0xC0000000u + i), kCap, now);
        shared += f.shared;
        evicted += f.evicted;
        if (i % 100'000 == 0) {
            const auto r = n.find(receiver, kCap, now);
            ASSERT_EQ(r.bucket, own) << i;
            ASSERT_FALSE(r.shared || r.evicted);
        }
        ASSERT_LE(n.size(), kCap);
    }
    EXPECT_EQ(evicted, kCap - 1);
    EXPECT_EQ(shared, kFlood - 2 * (kCap - 1));
}

}  // namespace
}  // namespace pgm::router
