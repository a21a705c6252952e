// DOC: The repair state of the network element as one store (router/repair.h holds the
// machine, this its memory): the repair table, the packet counts of its parity entries
// (§11.6), the RDATA its REPAIRED entries hold (D27) with their byte count, the duplicate-NAK
// counts per interface (App. E, D34), and the timer heap that drives the entries' deadlines.
//
// The four were kept consistent by hand; here every removal goes through `erase`, which takes
// an entry's counts and held RDATA with it, so that a held byte or a parity count never
// outlives its entry. `clear` and `interface_down` are the two bulk removals.
//
// Timers: `arm` pushes an item when an entry's next deadline moved earlier than the item it
// has; later deadlines are found when the earlier item fires (`pop_due` re-arms them). Stale
// items (the entry gone, or re-armed since) are skipped when due, never searched for.
//
// Life cycle: owned by the Router, one per router; emptied by clear() (pgmctl clear repair).
#pragma once

#include <cstddef>
#include <cstdint>
#include <queue>
#include <unordered_map>
#include <vector>

#include "protocol/io.h"
#include "router/repair.h"

namespace pgm::router {

class RepairStore {
  public:
    // An RDATA held by an entry in phase REPAIRED, with the network header to resend it.
    struct HeldRdata {
        std::vector<std::uint8_t> pgm;
        Transmit transmit;
    };
    using iterator = RepairTable::iterator;

    // The table, as the router's repair state machine reads and writes it. Entries are removed
    // only through erase() (or clear(), interface_down(), erase_if()).
    const RepairTable& table() const { return table_; }
    iterator find(const RepairKey& key) { return table_.find(key); }
    iterator end() { return table_.end(); }
    bool contains(const RepairKey& key) const { return table_.contains(key); }
    std::size_t size() const { return table_.size(); }
    std::pair<iterator, bool> try_emplace(const RepairKey& key) { return table_.try_emplace(key); }

    // Removes the entry with its parity counts and held RDATA.
    void erase(iterator it);
    // Removes every entry for which `pred(key, entry)` holds.
    template <class Pred>
    void erase_if(Pred&& pred) {
        for (auto it = table_.begin(); it != table_.end();) {
            if (pred(it->first, it->second))
                erase(it++);  // flat_hash_map: erase leaves other iterators valid
            else
                ++it;
        }
    }
    void clear();  // stale timer items are skipped when due
    // The interface in `slot` is gone (or no longer assists, D38): it leaves every entry's
    // interface set, its duplicate-NAK counts and its parity counts (the largest recomputed).
    void interface_down(InterfaceSlots slot);

    // Packet counts of the parity entries (keys with `parity` set).
    const std::unordered_map<RepairKey, ParityCounts>& parity_counts() const { return parity_; }
    ParityCounts* find_parity(const RepairKey& key);
    // The counts of a parity entry, made with TG-size offset `offset` when new.
    ParityCounts& parity(const RepairKey& key, std::uint16_t offset);

    // App. E (§15.3, N-NAK-20): one more duplicate NAK for `key` from the interface in `slot`;
    // returns that interface's count since it joined the entry (the counts go with it).
    std::uint32_t add_duplicate_nak(const RepairKey& key, std::size_t slot);

    // Keeps a copy of `pgm` for `key`, with the header `t` to resend it; the copy may be
    // rewritten in place (same size) by the caller.
    HeldRdata& hold(const RepairKey& key, Bytes pgm, const Transmit& t);
    const HeldRdata* held(const RepairKey& key) const;
    std::size_t held_bytes() const { return held_bytes_; }

    // Schedules `e`'s next deadline if it is earlier than its live timer item.
    void arm(const RepairKey& key, RepairEntry& e);
    Time next_deadline() const { return timers_.empty() ? kNever : timers_.top().at; }
    // The next entry whose deadline is due at `now` (its timer item consumed), or end(). An
    // entry whose deadline moved later is re-armed and not returned.
    iterator pop_due(Time now);

  private:
    struct TimerItem {
        Time at;
        RepairKey key;
        std::uint32_t generation;
        bool operator>(const TimerItem& o) const { return at > o.at; }
    };

    RepairTable table_;
    std::unordered_map<RepairKey, ParityCounts> parity_;  // one per parity entry of table_
    std::unordered_map<RepairKey, HeldRdata> held_;       // one per REPAIRED entry holding
    std::size_t held_bytes_ = 0;
    // Duplicate NAKs per (slot, count) of the entries that had any (App. E, D34).
    std::unordered_map<RepairKey, std::vector<std::pair<std::uint8_t, std::uint32_t>>> dup_naks_;
    std::priority_queue<TimerItem, std::vector<TimerItem>, std::greater<>> timers_;
};

}  // namespace pgm::router
