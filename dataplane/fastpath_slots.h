// DOC: Slots of the kernel fast path (dataplane/bpf/fastpath_abi.h): the small dense indexes
// user space gives to interfaces (into fp_if_stats) and to sessions (into fp_progress), so
// that the program counts with an array lookup instead of a hash lookup. Header-only and
// pure (no libbpf): FastPath gives interface slots with it, build_fastpath_table() session
// slots, and fastpath_table_tests checks both without a kernel.
//
// A SlotRing hands out the free slot at or after the one given last, round robin, rather
// than the lowest free one, and a slot given back is held, not free, until release_held():
// a program run that looked up the old owner's entry just before user space removed it can
// still count into the slot for a moment, and whoever takes a slot resets its contents (the
// counters, the lead) when taking it, so the slot must not be taken while such a run may
// still write. Round robin alone does not ensure that: with every other slot used, the slot
// given back is the next one taken, microseconds later. Session slots follow the same rule
// in build_fastpath_table() (every slot of the previous table counts as used, so a slot freed
// by one build is free at the next one); FastPath holds the interface slots detach() gives
// back until the controller's next heartbeat (FastPath::release_held_slots()).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "dataplane/bpf/fastpath_abi.h"

namespace pgm::dataplane {

class SlotRing {
  public:
    explicit SlotRing(std::uint32_t capacity) : used_(capacity, false) {}

    std::uint32_t capacity() const { return static_cast<std::uint32_t>(used_.size()); }
    bool used(std::uint32_t slot) const { return slot < used_.size() && used_[slot]; }

    // The first free slot at or after the one after the last taken, wrapping round; nullopt
    // when all are used.
    std::optional<std::uint32_t> take() {
        const std::uint32_t n = capacity();
        for (std::uint32_t i = 0; i < n; ++i) {
            const std::uint32_t slot = (next_ + i) % n;
            if (!used_[slot]) {
                used_[slot] = true;
                next_ = (slot + 1) % n;
                return slot;
            }
        }
        return std::nullopt;
    }
    // Marks `slot` used without moving the ring (a slot kept from before); false when it is
    // out of range or already used.
    bool keep(std::uint32_t slot) {
        if (slot >= used_.size() || used_[slot]) return false;
        used_[slot] = true;
        return true;
    }
    // The slot is held: not given again before the next release_held().
    void give_back(std::uint32_t slot) {
        if (slot < used_.size() && used_[slot] && !held(slot)) held_.push_back(slot);
    }
    // Frees the slots given back since the last call.
    void release_held() {
        for (std::uint32_t slot : held_)
            used_[slot] = false;
        held_.clear();
    }
    bool held(std::uint32_t slot) const {
        return std::find(held_.begin(), held_.end(), slot) != held_.end();
    }

    // Where take() starts looking.
    std::uint32_t next() const { return next_; }
    void set_next(std::uint32_t next) { next_ = used_.empty() ? 0 : next % capacity(); }

  private:
    std::vector<bool> used_;  // taken or held
    std::vector<std::uint32_t> held_;
    std::uint32_t next_ = 0;
};

// An interface the program runs on, as the forwarding table needs it: the Ethernet source of
// the copies sent out of it and its fp_if_stats slot.
struct FastPathInterface {
    std::array<std::uint8_t, 6> mac{};
    std::uint16_t slot = FP_NO_SLOT;
};

// fp_group_key ordered as its bytes (group then source, both as on the wire): a group's
// source-0 entry first, then its per-source entries. Shared by FastPath (inherited groups)
// and the forwarding table.
struct FpGroupKeyLess {
    bool operator()(const fp_group_key& a, const fp_group_key& b) const {
        const auto x = std::bit_cast<std::array<std::uint8_t, sizeof a>>(a);
        const auto y = std::bit_cast<std::array<std::uint8_t, sizeof b>>(b);
        return x < y;
    }
};

}  // namespace pgm::dataplane
