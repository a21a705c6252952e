// DOC: `EventQueue`, the virtual network's pending events in (time, sequence number) order.
//
// Owns the events. A discrete-event run has many events at the same instant (every hop of a
// multicast fan-out with the same link delay lands at once) and few distinct instants, so
// the queue keeps one bucket per distinct time, a small binary heap of those times, and a
// hash index from time to bucket. Inside a bucket events are kept in sequence-number order;
// sequence numbers normally grow, so a push is an append, and only a push carrying an older
// sequence number (a timer re-queued at the place it was given when it was set, see
// Network::NodeSlot) is an ordered insert. Buckets and their vectors are recycled: a steady
// run allocates nothing per event.
//
// Life cycle: push() any time; pop() returns the least (time, seq) event; events pushed at
// the time being popped with a larger sequence number come out in the same bucket, after
// those already there. The order is a pure function of the pushes: deterministic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "protocol/io.h"

namespace pgm::sim {

struct QueuedEvent {
    Time at;
    std::uint64_t seq = 0;
    std::uint32_t target = 0;
    std::uint32_t data = 0;  // the owner's payload (kind and slot)
};

class EventQueue {
  public:
    void push(const QueuedEvent& e);
    bool empty() const { return size_ == 0; }
    std::size_t size() const { return size_; }
    // Time of the least event; the queue must not be empty.
    Time next_time() const { return buckets_[times_.front().bucket].at; }
    // Removes and returns the least event; the queue must not be empty.
    QueuedEvent pop();
    // Distinct times pending (for statistics).
    std::size_t distinct_times() const { return times_.size(); }
    // Bytes held by the queue's containers (capacity, not size).
    std::size_t memory_bytes() const;

  private:
    struct Item {
        std::uint64_t seq;
        std::uint32_t target;
        std::uint32_t data;
    };
    struct Bucket {
        Time at;
        std::size_t head = 0;  // items before it are popped
        std::vector<Item> items;
    };
    struct TimeRef {
        Time at;
        std::uint32_t bucket;
    };
    std::uint32_t bucket_for(Time at);
    void heap_push(TimeRef t);
    void heap_pop();

    std::vector<Bucket> buckets_;
    std::vector<std::uint32_t> free_buckets_;
    std::vector<TimeRef> times_;  // binary min-heap by time
    std::unordered_map<Time::rep, std::uint32_t> index_;
    // The bucket of the last push: fan-outs push many events at one time in a row.
    Time last_at_ = kNever;
    std::uint32_t last_bucket_ = 0;
    std::size_t size_ = 0;
};

}  // namespace pgm::sim
