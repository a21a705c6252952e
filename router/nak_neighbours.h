// DOC: NAK-flood fairness (decisions.md D36): the NAK sources ("neighbours": the receivers and
// network elements below) of one interface, each with its own token bucket, so that one
// host flooding NAKs is shed at its own rate (RouterConfig::max_naks_per_second_per_neighbour)
// and leaves the interface's NAK budget (max_naks_per_second_per_interface) to the others.
//
// Memory is bounded: at most `capacity` neighbours per interface
// (RouterConfig::max_nak_neighbours_per_interface), in least-recently-seen order. A new
// source takes the place of the oldest neighbour only when that one has been silent for
// kNakNeighbourIdle: its bucket has then refilled to full, so forgetting it changes nothing.
// While every kept neighbour is active (a flood of spoofed sources), new sources share one
// bucket of the per-neighbour rate instead: the spoofer gets at most that rate more, and no
// kept neighbour, a legitimate receiver that NAKed within the last second included, is
// pushed out.
//
// Life cycle: a value inside InterfaceState; reserves `capacity` entries at its first NAK,
// fills them and then reuses them; no clock of its own, time comes with each call. clear() forgets
// everyone (a reload lowering the capacity below the table's size does that too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "protocol/io.h"
#include "protocol/nla.h"
#include "router/token_bucket.h"

namespace pgm::router {

using namespace std::chrono_literals;

// A neighbour silent this long holds a full bucket (TokenBucket: one second of its rate).
inline constexpr Duration kNakNeighbourIdle = 1s;

class NakNeighbours {
  public:
    struct Found {
        TokenBucket* bucket = nullptr;
        bool shared = false;   // the table is full of active neighbours: the shared bucket
        bool evicted = false;  // an idle neighbour was forgotten to make room
    };
    // The bucket NAKs from `source` are charged to at `now`, keeping at most `capacity`
    // neighbours (at least 1). Marks `source` as the most recently seen. The pointer stays
    // valid while `capacity` does not change (the entries are reserved at once).
    Found find(const Nla& source, std::size_t capacity, Time now);

    std::size_t size() const { return index_.size(); }
    void clear();

  private:
    static constexpr std::uint32_t kNone = 0xFFFFFFFF;
    struct Entry {
        Nla source;
        TokenBucket bucket;
        Time last_seen{};
        std::uint32_t newer = kNone, older = kNone;  // the recency list, by index
    };
    void unlink(std::uint32_t i);
    void push_newest(std::uint32_t i);

    std::vector<Entry> entries_;
    absl::flat_hash_map<Nla, std::uint32_t, std::hash<Nla>> index_;
    std::uint32_t newest_ = kNone, oldest_ = kNone;
    TokenBucket shared_;  // the sources the full table has no room for
};

}  // namespace pgm::router
