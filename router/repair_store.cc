// DOC: The repair store's removals and timers (router/repair_store.h): every path that drops
// an entry takes its parity counts and held RDATA with it here, and nowhere else.
#include "router/repair_store.h"

#include <algorithm>

namespace pgm::router {

void RepairStore::erase(iterator it) {
    if (it->second.phase == RepairPhase::Repaired) {
        auto h = held_.find(it->first);
        if (h != held_.end()) {
            held_bytes_ -= h->second.pgm.size();
            held_.erase(h);
        }
    }
    if (it->first.parity) parity_.erase(it->first);
    if (!dup_naks_.empty()) dup_naks_.erase(it->first);
    table_.erase(it);
}

void RepairStore::clear() {
    table_.clear();
    parity_.clear();
    held_.clear();
    held_bytes_ = 0;
    dup_naks_.clear();
}

void RepairStore::interface_down(InterfaceSlots slot) {
    if (slot == 0) return;  // an interface with no bit of its own to clear (D40)
    for (auto& [key, e] : table_) {
        e.interfaces &= ~slot;
        e.ncf_sent &= ~slot;  // its NCF period (D33) goes with it
    }
    for (auto& [key, counts] : dup_naks_)  // it left the entries: its count starts again
        std::erase_if(counts,
                      [&](const auto& c) { return (InterfaceSlots{1} << c.first) == slot; });
    // Its parity count goes too, and the largest (what the repeated NAK upstream asks for,
    // N-NAK-17) becomes the largest count of the interfaces still in the entry.
    for (auto& [key, pc] : parity_) {
        const std::size_t removed = std::erase_if(pc.interfaces, [&](const ParityCounts::Slot& s) {
            return (InterfaceSlots{1} << s.slot) & slot;
        });
        if (removed == 0) continue;
        pc.largest = 0;
        for (const ParityCounts::Slot& s : pc.interfaces)
            pc.largest = std::max(pc.largest, s.wanted);
    }
}

std::uint32_t RepairStore::add_duplicate_nak(const RepairKey& key, std::size_t slot) {
    auto& counts = dup_naks_[key];
    for (auto& [s, n] : counts)
        if (s == slot) return ++n;
    counts.emplace_back(static_cast<std::uint8_t>(slot), 1);
    return 1;
}

ParityCounts* RepairStore::find_parity(const RepairKey& key) {
    auto it = parity_.find(key);
    return it == parity_.end() ? nullptr : &it->second;
}

ParityCounts& RepairStore::parity(const RepairKey& key, std::uint16_t offset) {
    auto [it, created] = parity_.try_emplace(key);
    if (created) it->second.offset = offset;
    return it->second;
}

RepairStore::HeldRdata& RepairStore::hold(const RepairKey& key, Bytes pgm, const Transmit& t) {
    HeldRdata& h = held_[key];
    held_bytes_ -= h.pgm.size();  // none unless the entry held one already
    h.pgm.assign(pgm.begin(), pgm.end());
    h.transmit = t;
    held_bytes_ += h.pgm.size();
    return h;
}

const RepairStore::HeldRdata* RepairStore::held(const RepairKey& key) const {
    auto it = held_.find(key);
    return it == held_.end() ? nullptr : &it->second;
}

void RepairStore::arm(const RepairKey& key, RepairEntry& e) {
    const Time at = e.next_deadline();
    if (at >= e.scheduled) return;  // the live item fires earlier and re-arms then
    e.scheduled = at;
    timers_.push(TimerItem{at, key, ++e.generation});
}

RepairStore::iterator RepairStore::pop_due(Time now) {
    while (!timers_.empty() && timers_.top().at <= now) {
        const TimerItem item = timers_.top();
        timers_.pop();
        auto it = table_.find(item.key);
        if (it == table_.end() || it->second.generation != item.generation) continue;  // stale
        RepairEntry& e = it->second;
        e.scheduled = kNever;
        if (e.next_deadline() > now) {  // moved later since the item was pushed
            arm(item.key, e);
            continue;
        }
        return it;
    }
    return table_.end();
}

}  // namespace pgm::router
