// DOC: The network element's interface table (sans-I/O): one slot per interface, at most
// kMaxInterfaces, each with its counters, its NAK rate caps (the interface's token bucket and
// one per NAK source, D36) and its settings (D38: timers, NAK caps, router assist) resolved
// against the RouterConfig. A slot's index is the interface's bit in InterfaceSlots (repair
// entries, parity counts, App. E verdicts).
//
// Slots are made when an interface is first seen; once all are taken, a new interface takes
// over the slot of one that went down (released), fresh, or else shares the last slot
// (counters only: settings are refused for a shared slot). The table keeps which interfaces
// share the last slot, so that one of them going down takes the slot's bit out of the repair
// state only when no other interface on the slot is still up (D40); an interface going down
// that the table never saw takes no slot. Slot lookup for interface indexes below 256 is one
// load, as it runs for every counter update; an interface sharing the last slot takes the
// slow way each time, so that it moves to a slot released meanwhile.
// Life cycle: owned by the Router; reconfigure() on reload resolves the settings anew.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "router/config.h"
#include "router/counters.h"
#include "router/nak_neighbours.h"
#include "router/repair.h"
#include "router/session.h"
#include "router/token_bucket.h"

namespace pgm::router {

struct InterfaceState {
    IfIndex ifindex = 0;
    CounterSet counters;
    TokenBucket nak_tokens;                // the NAK rate cap
    NakNeighbours nak_neighbours;          // the NAK rate cap per NAK source (D36)
    InterfaceSettings settings;            // as configured for it (D38); unset: the global values
    EffectiveInterfaceSettings effective;  // `settings` resolved against the RouterConfig
    // The link went down (Router::interface_down): once all kMaxInterfaces slots are taken,
    // a new interface takes this slot over (fresh counters and settings) rather than share
    // another's. The last slot, while other interfaces share it, is taken over only by one of
    // them (its bit is theirs already, D40). Cleared when the interface is given its settings
    // again (it is served).
    bool released = false;
};

class InterfaceTable {
  public:
    explicit InterfaceTable(const RouterConfig& config);
    InterfaceTable(const InterfaceTable&) = delete;
    InterfaceTable& operator=(const InterfaceTable&) = delete;

    // The interface's slot (made when new).
    std::size_t slot(IfIndex ifindex) {
        if (ifindex < slot_by_ifindex_.size() && slot_by_ifindex_[ifindex] != kNoSlot)
            return slot_by_ifindex_[ifindex];
        return slot_slow(ifindex);
    }
    InterfaceSlots bit(IfIndex ifindex) { return InterfaceSlots{1} << slot(ifindex); }
    CounterSet& counters(IfIndex ifindex) { return interfaces_[slot(ifindex)].counters; }
    // Router assist is on there (D38); with no interface off, nothing is looked up.
    bool assists(IfIndex ifindex) {
        return assist_off_ == 0 || interfaces_[slot(ifindex)].effective.router_assist;
    }
    bool any_assist_off() const { return assist_off_ != 0; }
    // The NAK timers of a session's repair states: those of its upstream interface, whose
    // link its NAKs, NCFs and RDATA cross (D38; one slot load); the global ones without a
    // session.
    const NakTimers& nak_timers(const Session* s) {
        return s ? interfaces_[slot(s->upstream_interface)].effective.timers : global_timers_;
    }

    // The RouterConfig changed: settings resolved anew.
    void reconfigure();
    struct SettingsApplied {
        bool applied = false;                  // false: the shared last slot, nothing changed
        InterfaceSlots assist_turned_off = 0;  // its bit when router assist went off
    };
    SettingsApplied set_settings(IfIndex ifindex, const InterfaceSettings& settings);
    // The link is gone: its slot may be taken over. Returns the bit to clear from the repair
    // state: its slot's, or 0 when it has no slot (never seen, or its slot taken over since;
    // none is made) or shares the last slot with an interface still up (D40).
    InterfaceSlots interface_down(IfIndex ifindex);

    // The NAK rate caps, per NAK source (`from`) and per interface (D36): true when `n`
    // NAKs may be processed; false when shed (counted).
    bool admit_naks(IfIndex ifindex, const Nla& from, std::size_t n, Time now);

    const std::vector<InterfaceState>& all() const { return interfaces_; }
    std::vector<IfIndex> interfaces_of(InterfaceSlots slots) const;
    CounterSet totals() const;
    void clear_counters();
    bool clear_counters(IfIndex ifindex);  // false: no such interface

  private:
    std::size_t slot_slow(IfIndex ifindex);
    // The interface's slot, its own or the shared last one; none is made.
    std::optional<std::size_t> find_slot(IfIndex ifindex) const;
    void forget_sharer(std::size_t position);  // sharers_[position] leaves the last slot
    void count_assist_off();

    const RouterConfig& config_;
    NakTimers global_timers_;
    std::vector<InterfaceState> interfaces_;
    std::size_t assist_off_ = 0;  // interfaces with router assist off
    // The interfaces sharing the last slot with its owner, not gone down since (D40). Bounded:
    // one seen beyond kMaxSharers shares the slot untracked, and its going down is taken for
    // that of an interface never seen (nothing cleared).
    static constexpr std::size_t kMaxSharers = 256;
    std::vector<IfIndex> sharers_;
    // The first heirs_ of sharers_ shared the last slot when its owner went down: one of them
    // takes it over before any later sharer (D40). 0 while the owner is up.
    std::size_t heirs_ = 0;
    // slot() for interface indexes below 256 (kNoSlot: none yet); larger ones are searched.
    static constexpr std::uint8_t kNoSlot = 0xFF;
    std::array<std::uint8_t, 256> slot_by_ifindex_;
};

}  // namespace pgm::router
