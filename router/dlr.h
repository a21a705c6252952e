// DOC: pgmd as a Designated Local Repairer (RFC 3208 §9.5, checklist N-DLR-11): the state
// the network element keeps for the sessions it repairs itself, sans-I/O like the rest of
// router/.
//
// Owns, per DLR session (a TSI whose source and group match RouterConfig::dlr.scopes), a
// `DlrCache` of that session's data: every ODATA and RDATA the router accepts from upstream
// is stored as a ready-to-send RDATA (type rewritten, options invalidated as when forwarded,
// checksum recomputed). The cache is a window [first, first + span) of sequence slots; a
// missing slot is a hole that the router NAKs upstream itself (a DLR MUST receive the
// session). It never holds more than `cache_packets_per_session` slots nor more than
// `cache_bytes_per_session` bytes: it evicts from the trail side (oldest sequence first),
// and everything behind the trail the source advertises in SPMs and ODATA.
//
// The protocol behaviour (local answers to NAKs, NNAKs upstream, redirecting POLRs, the
// DLR POLL) lives in member functions of Router defined in router/dlr.cc.
//
// Life cycle: a DlrSession is created by the first data packet of a matching session the
// router has path state for, and removed with that session (expiry, interface down) or
// when a reload takes the session out of scope.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "protocol/io.h"
#include "protocol/seq.h"
#include "router/repair.h"

namespace pgm::router {

class DlrCache {
  public:
    struct Slot {
        std::vector<std::uint8_t> rdata;  // empty: a hole
        // Interfaces sent this RDATA since served_until - NAK_ELIM_IVL: each gets it at most
        // once per NAK_ELIM_IVL, as for the held RDATA of decisions.md D27.
        InterfaceSlots served = 0;
        Time served_until{};
    };

    // Stores `pgm` (an ODATA or RDATA of sequence `sqn`) as an RDATA. Evicts from the trail
    // side until both bounds hold with it; a packet alone larger than `max_bytes`, or older
    // than the cache can hold, is not stored. Returns the number of packets evicted.
    std::size_t insert(Sqn sqn, Bytes pgm, std::size_t max_bytes, std::size_t max_packets);
    // Drops every slot before `trail` (the source can no longer repair them either).
    std::size_t evict_before(Sqn trail);
    // Drops slots from the front until both bounds hold (after a reload lowered them).
    std::size_t enforce(std::size_t max_bytes, std::size_t max_packets);

    Slot* find(Sqn sqn);
    bool holds(Sqn sqn) const;
    std::size_t bytes() const { return bytes_; }
    std::size_t packets() const { return packets_; }
    std::size_t span() const { return slots_.size(); }
    std::optional<Sqn> first() const {
        return slots_.empty() ? std::nullopt : std::optional<Sqn>(first_);
    }
    // Missing sequences between the first and the newest cached, oldest first.
    const std::deque<Sqn>& holes() const { return holes_; }

  private:
    std::size_t pop_front();

    Sqn first_;
    std::deque<Slot> slots_;
    std::deque<Sqn> holes_;
    std::size_t bytes_ = 0;
    std::size_t packets_ = 0;
};

struct DlrSession {
    DlrCache cache;
    // Upstream-DLR announcement (§9.5.2.1): when the last redirecting POLR went out.
    std::optional<Time> last_polr;
    std::uint32_t polr_sqn = 0;
};

}  // namespace pgm::router
