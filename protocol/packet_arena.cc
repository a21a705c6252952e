#include "protocol/packet_arena.h"

#include <sys/mman.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <new>

namespace pgm {

namespace {
constexpr std::size_t kAlign = 16;
}

void PacketArena::FreeBlock::operator()(std::uint8_t* p) const {
    std::free(p);
}

std::uint32_t PacketArena::take_block() {
    if (!spare_.empty()) {
        const std::uint32_t b = spare_.back();
        spare_.pop_back();
        return b;
    }
    void* p = std::aligned_alloc(kBlockBytes, kBlockBytes);
    if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    (void)madvise(p, kBlockBytes, MADV_HUGEPAGE);  // a hint: without THP, small pages
#endif
    std::uint32_t b;
    if (!holes_.empty()) {
        b = holes_.back();
        holes_.pop_back();
    } else {
        b = static_cast<std::uint32_t>(blocks_.size());
        blocks_.emplace_back();
    }
    blocks_[b].memory.reset(static_cast<std::uint8_t*>(p));
    return b;
}

PacketArena::Buffer PacketArena::allocate(std::size_t bytes) {
    assert(bytes <= kMaxBuffer);
    const std::size_t size = (std::max<std::size_t>(bytes, 1) + kAlign - 1) / kAlign * kAlign;
    if (!have_current_ || blocks_[current_].used + size > kBlockBytes) {
        if (have_current_ && blocks_[current_].live == 0) {
            blocks_[current_].used = 0;  // empty already: start it again
        } else {
            current_ = take_block();
            have_current_ = true;
        }
    }
    Block& b = blocks_[current_];
    const Buffer out{b.memory.get() + b.used, current_};
    b.used += size;
    ++b.live;
    return out;
}

void PacketArena::release(const Buffer& buffer) {
    Block& b = blocks_[buffer.block];
    assert(b.live > 0);
    if (--b.live > 0) return;
    if (have_current_ && buffer.block == current_) {
        b.used = 0;  // the block being filled: start it again in place
        return;
    }
    b.used = 0;
    if (spare_.size() < kSpareBlocks) {
        spare_.push_back(buffer.block);
    } else {
        b.memory.reset();
        holes_.push_back(buffer.block);
    }
}

std::size_t PacketArena::blocks_held() const {
    return static_cast<std::size_t>(std::count_if(
        blocks_.begin(), blocks_.end(), [](const Block& b) { return b.memory != nullptr; }));
}

}  // namespace pgm
