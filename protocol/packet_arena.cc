#include "protocol/packet_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace pgm {

namespace {
constexpr std::size_t kCacheLine = 64;
}

PacketArena::PacketArena(std::size_t stride)
    : stride_((std::max<std::size_t>(stride, 1) + kCacheLine - 1) / kCacheLine * kCacheLine),
      // A stride larger than a block (jumbo TPDUs) gets blocks of a whole number of strides.
      block_bytes_(std::max(kBlockBytes, (stride_ + kBlockBytes - 1) / kBlockBytes * kBlockBytes)) {
}

void PacketArena::FreeBlock::operator()(std::uint8_t* p) const {
    std::free(p);
}

std::uint8_t* PacketArena::allocate() {
    if (blocks_.empty() || used_in_last_ + stride_ > block_bytes_) {
        void* p = std::aligned_alloc(kBlockBytes, block_bytes_);
        if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
        (void)madvise(p, block_bytes_, MADV_HUGEPAGE);  // a hint: without THP, small pages
#endif
        blocks_.emplace_back(static_cast<std::uint8_t*>(p));
        used_in_last_ = 0;
    }
    std::uint8_t* buffer = blocks_.back().get() + used_in_last_;
    used_in_last_ += stride_;
    return buffer;
}

}  // namespace pgm
