// DOC: PacketArena, fixed-size packet buffers carved from large blocks.
//
// Owns blocks of kBlockBytes, each cut into buffers of one stride (the largest payload a
// caller stores, rounded up to a cache line). The source's transmit window keeps one buffer
// per ring slot for the life of the slot: a window of a million packets then costs a few
// hundred block allocations instead of a malloc per packet, and the blocks are asked to be
// backed by huge pages (MADV_HUGEPAGE), which turns one page fault per three packets into one
// per block (issue 14: malloc and first-touch faults were a quarter of pgmsend's CPU time).
//
// Life cycle: construct with the stride; allocate() hands out a buffer that stays valid until
// the arena is destroyed (there is no free: slots reuse their buffer). Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace pgm {

class PacketArena {
  public:
    static constexpr std::size_t kBlockBytes = std::size_t{2} << 20;  // one x86-64 huge page

    explicit PacketArena(std::size_t stride);
    PacketArena(const PacketArena&) = delete;
    PacketArena& operator=(const PacketArena&) = delete;
    PacketArena(PacketArena&&) = default;
    PacketArena& operator=(PacketArena&&) = default;

    // A buffer of stride() bytes, uninitialised.
    std::uint8_t* allocate();
    std::size_t stride() const { return stride_; }
    std::size_t bytes_reserved() const { return blocks_.size() * block_bytes_; }

  private:
    struct FreeBlock {
        void operator()(std::uint8_t* p) const;
    };
    std::size_t stride_;
    std::size_t block_bytes_;
    std::vector<std::unique_ptr<std::uint8_t, FreeBlock>> blocks_;
    std::size_t used_in_last_ = 0;  // bytes handed out from blocks_.back()
};

}  // namespace pgm
