#include "router/interfaces.h"

#include <algorithm>

namespace pgm::router {

InterfaceTable::InterfaceTable(const RouterConfig& config)
    : config_(config), global_timers_(config.nak_timers()) {
    interfaces_.reserve(kMaxInterfaces);
    slot_by_ifindex_.fill(kNoSlot);
}

std::size_t InterfaceTable::slot_slow(IfIndex ifindex) {
    for (std::size_t i = 0; i < interfaces_.size(); ++i)
        if (interfaces_[i].ifindex == ifindex) return i;
    std::size_t i = interfaces_.size();
    if (i < kMaxInterfaces) {
        interfaces_.push_back(InterfaceState{ifindex, {}, {}, {}, {}, config_.effective({})});
    } else {
        // All taken: the slot of an interface that went down (interface_down cleared its bit
        // everywhere) is reused, fresh; without one, the last slot is shared (counters only:
        // set_settings refuses a shared slot, D38). D40: the last slot, released while others
        // share it, still has its bit in the repair state for them, so only one of them takes
        // it over (first, before any other released slot: the bit is its own already): one
        // that shared it when the owner went down (an heir), whose requests the bit holds, or
        // any sharer once no heir is left; never one that came after while heirs are up.
        constexpr std::size_t last = kMaxInterfaces - 1;
        const auto sharer = std::find(sharers_.begin(), sharers_.end(), ifindex);
        const bool sharing = sharer != sharers_.end();
        const auto position = static_cast<std::size_t>(sharer - sharers_.begin());
        const bool inherits = sharing && (position < heirs_ || heirs_ == 0);
        const auto free_to_take = [&](const InterfaceState& x) {
            return x.released && (&x != &interfaces_[last] || sharers_.empty());
        };
        auto gone = interfaces_.begin() + last;
        if (!inherits || !gone->released)
            gone = std::find_if(interfaces_.begin(), interfaces_.end(), free_to_take);
        if (gone == interfaces_.end()) {
            if (!sharing && sharers_.size() < kMaxSharers) sharers_.push_back(ifindex);
            return last;
        }
        if (sharing) forget_sharer(position);
        i = static_cast<std::size_t>(gone - interfaces_.begin());
        if (i == last) heirs_ = 0;  // the sharers left share with a new owner, up
        if (gone->ifindex < slot_by_ifindex_.size()) slot_by_ifindex_[gone->ifindex] = kNoSlot;
        *gone = InterfaceState{ifindex, {}, {}, {}, {}, config_.effective({})};
        count_assist_off();
    }
    if (ifindex < slot_by_ifindex_.size()) slot_by_ifindex_[ifindex] = static_cast<std::uint8_t>(i);
    return i;
}

std::optional<std::size_t> InterfaceTable::find_slot(IfIndex ifindex) const {
    if (ifindex < slot_by_ifindex_.size()) {
        if (slot_by_ifindex_[ifindex] != kNoSlot) return slot_by_ifindex_[ifindex];
    } else {
        for (std::size_t i = 0; i < interfaces_.size(); ++i)
            if (interfaces_[i].ifindex == ifindex) return i;
    }
    if (std::find(sharers_.begin(), sharers_.end(), ifindex) != sharers_.end())
        return kMaxInterfaces - 1;
    return std::nullopt;
}

void InterfaceTable::count_assist_off() {
    assist_off_ = static_cast<std::size_t>(
        std::count_if(interfaces_.begin(), interfaces_.end(),
                      [](const InterfaceState& x) { return !x.effective.router_assist; }));
}

void InterfaceTable::reconfigure() {
    global_timers_ = config_.nak_timers();
    for (InterfaceState& i : interfaces_)
        i.effective = config_.effective(i.settings);
}

// D38: applied at once.
InterfaceTable::SettingsApplied InterfaceTable::set_settings(IfIndex ifindex,
                                                             const InterfaceSettings& settings) {
    const std::size_t k = slot(ifindex);
    InterfaceState& i = interfaces_[k];
    if (i.ifindex != ifindex) return {};  // the shared last slot: another interface's
    const bool assisted = i.effective.router_assist;
    i.settings = settings;
    i.effective = config_.effective(settings);
    i.released = false;
    count_assist_off();
    return {true, assisted && !i.effective.router_assist ? InterfaceSlots{1} << k : 0};
}

// D40: the bit of the shared last slot stands for every interface on it; it is cleared when
// the last of them still up goes down, not before.
InterfaceSlots InterfaceTable::interface_down(IfIndex ifindex) {
    const std::optional<std::size_t> k = find_slot(ifindex);
    if (!k) return 0;  // never seen, or its slot taken over since: nothing of it is left
    const InterfaceSlots bit = InterfaceSlots{1} << *k;
    InterfaceState& owner = interfaces_[*k];
    if (owner.ifindex != ifindex) {  // it shares the last slot; seen again, it is new
        forget_sharer(static_cast<std::size_t>(
            std::find(sharers_.begin(), sharers_.end(), ifindex) - sharers_.begin()));
        return owner.released && sharers_.empty() ? bit : 0;
    }
    if (owner.released) return 0;  // down already: its bit went then, or stays for sharers
    owner.released = true;
    if (*k != kMaxInterfaces - 1) return bit;
    heirs_ = sharers_.size();  // those on the slot now: the bit holds their requests
    return sharers_.empty() ? bit : 0;
}

void InterfaceTable::forget_sharer(std::size_t position) {
    if (position < heirs_) --heirs_;
    sharers_.erase(sharers_.begin() + static_cast<std::ptrdiff_t>(position));
}

bool InterfaceTable::admit_naks(IfIndex ifindex, const Nla& from, std::size_t n, Time now) {
    InterfaceState& i = interfaces_[slot(ifindex)];
    // The source's own bucket first (D36): what it sends past its rate never reaches the
    // interface's budget, which stays for the other receivers on the interface.
    // The interface's own caps (D38), or the global ones.
    const double per_source = i.effective.max_naks_per_second_per_neighbour;
    TokenBucket* source_tokens = nullptr;
    if (per_source != 0) {
        const NakNeighbours::Found f =
            i.nak_neighbours.find(from, config_.max_nak_neighbours_per_interface, now);
        if (f.shared) i.counters[Counter::NakNeighboursFull] += n;
        source_tokens = f.bucket;
        if (!source_tokens->take(per_source, n, now)) {
            i.counters[Counter::ShedNakNeighbour] += n;
            return false;
        }
    }
    const std::uint32_t per_interface = i.effective.max_naks_per_second;
    if (per_interface == 0 || i.nak_tokens.take(per_interface, n, now)) return true;
    if (source_tokens) source_tokens->give_back(per_source, n);  // not used after all
    i.counters[Counter::ShedNakRate] += n;
    return false;
}

std::vector<IfIndex> InterfaceTable::interfaces_of(InterfaceSlots slots) const {
    std::vector<IfIndex> r;
    for (std::size_t i = 0; i < interfaces_.size(); ++i)
        if (slots & (InterfaceSlots{1} << i)) r.push_back(interfaces_[i].ifindex);
    return r;
}

CounterSet InterfaceTable::totals() const {
    CounterSet t;
    for (const auto& i : interfaces_)
        t += i.counters;
    return t;
}

void InterfaceTable::clear_counters() {
    for (auto& i : interfaces_)
        i.counters.clear();
}

bool InterfaceTable::clear_counters(IfIndex ifindex) {
    for (auto& i : interfaces_) {
        if (i.ifindex != ifindex) continue;
        i.counters.clear();
        return true;
    }
    return false;
}

}  // namespace pgm::router
