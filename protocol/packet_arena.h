// DOC: PacketArena, the transmit window's TSDU storage: variable-size buffers bump-allocated
// from large blocks and recycled a whole block at a time.
//
// Owns blocks of kBlockBytes (2 MiB, asked to be backed by huge pages: MADV_HUGEPAGE). A
// buffer is cut from the current block (sizes rounded up to 16 bytes); each block counts its
// live buffers, and a block whose count falls to zero goes back to a free list (a few are
// kept for reuse, the rest freed). The source's window frees its packets in sending order,
// so blocks empty in the order they were filled and the memory held is the window's bytes
// plus at most a block or two. Compared with a malloc per packet (issue 14): no per-packet
// allocator work, one page fault per block instead of one per few packets, and a window of
// small messages costs their size, not a maximum-size slot each.
//
// Life cycle: construct; allocate() returns a buffer and the block it came from; release()
// with that block when the buffer is no longer used. Buffers stay valid until released
// (blocks never move). Destroying the arena frees every block. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pgm {

class PacketArena {
  public:
    static constexpr std::size_t kBlockBytes = std::size_t{2} << 20;  // one x86-64 huge page
    static constexpr std::size_t kMaxBuffer = kBlockBytes;
    static constexpr std::size_t kSpareBlocks = 2;  // empty blocks kept for reuse

    struct Buffer {
        std::uint8_t* data = nullptr;
        std::uint32_t block = 0;
    };

    PacketArena() = default;
    PacketArena(const PacketArena&) = delete;
    PacketArena& operator=(const PacketArena&) = delete;
    PacketArena(PacketArena&&) = default;
    PacketArena& operator=(PacketArena&&) = default;

    // A buffer of `bytes` (1 .. kMaxBuffer; 0 is taken as 1), uninitialised.
    Buffer allocate(std::size_t bytes);
    void release(const Buffer& b);
    std::size_t blocks_held() const;  // allocated blocks, spare ones included

  private:
    struct FreeBlock {
        void operator()(std::uint8_t* p) const;
    };
    struct Block {
        std::unique_ptr<std::uint8_t, FreeBlock> memory;
        std::size_t used = 0;  // bytes handed out since it was (re)started
        std::size_t live = 0;  // buffers not yet released
    };
    std::uint32_t take_block();
    std::vector<Block> blocks_;         // index = Buffer::block; a freed block keeps its index
    std::vector<std::uint32_t> spare_;  // empty blocks with memory, ready for reuse
    std::vector<std::uint32_t> holes_;  // indices whose memory was freed
    std::uint32_t current_ = 0;
    bool have_current_ = false;
};

}  // namespace pgm
