// PacketArena: buffers stay intact while live, blocks are recycled once empty, and a window
// that frees in sending order holds about its own bytes.
#include "protocol/packet_arena.h"

#include <gtest/gtest.h>

#include <cstring>
#include <deque>
#include <vector>

namespace pgm {
namespace {

struct Held {
    PacketArena::Buffer buffer;
    std::size_t size;
    std::uint8_t fill;
};

void check(const Held& h) {
    for (std::size_t i = 0; i < h.size; ++i)
        ASSERT_EQ(h.buffer.data[i], h.fill) << "byte " << i;
}

TEST(PacketArena, FifoWindowHoldsItsBytesAndRecyclesBlocks) {
    PacketArena arena;
    std::deque<Held> window;
    constexpr std::size_t kWindow = 5000;  // 5000 x 1000 B: three blocks of 2 MiB
    for (std::uint32_t i = 0; i < 100000; ++i) {
        const std::size_t size = 1 + (i * 7919u) % 1500;
        Held h{arena.allocate(size), size, static_cast<std::uint8_t>(i)};
        std::memset(h.buffer.data, h.fill, size);
        window.push_back(h);
        if (window.size() > kWindow) {
            check(window.front());
            arena.release(window.front().buffer);
            window.pop_front();
        }
    }
    for (const Held& h : window)
        check(h);
    // ~3.8 MB live: at most the blocks it spans, one being filled and the spares.
    EXPECT_LE(arena.blocks_held(), 3u + 1u + PacketArena::kSpareBlocks);
    while (!window.empty()) {
        arena.release(window.front().buffer);
        window.pop_front();
    }
    EXPECT_LE(arena.blocks_held(), 1u + PacketArena::kSpareBlocks);
}

TEST(PacketArena, SmallBuffersAreNotMaximumSizeSlots) {
    PacketArena arena;
    std::vector<PacketArena::Buffer> held;
    for (int i = 0; i < 100000; ++i)
        held.push_back(arena.allocate(40));  // 48 bytes each: 4.8 MB in 3 blocks
    EXPECT_LE(arena.blocks_held(), 3u);
    EXPECT_EQ(held[1].data - held[0].data, 48) << "16-byte granules";
}

TEST(PacketArena, OutOfOrderReleaseAndLargestBuffer) {
    PacketArena arena;
    const PacketArena::Buffer a = arena.allocate(100);
    const PacketArena::Buffer big = arena.allocate(PacketArena::kMaxBuffer);
    EXPECT_NE(a.block, big.block) << "does not fit behind a";
    std::memset(big.data, 0xAB, PacketArena::kMaxBuffer);
    arena.release(a);
    const PacketArena::Buffer c = arena.allocate(10);
    EXPECT_EQ(c.block, a.block) << "the emptied block is reused, the full one is not";
    arena.release(big);
    arena.release(c);
    EXPECT_LE(arena.blocks_held(), 1u + PacketArena::kSpareBlocks);
}

}  // namespace
}  // namespace pgm
