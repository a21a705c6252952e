#include "sim/event_queue.h"

#include <algorithm>
#include <utility>

namespace pgm::sim {

namespace {
constexpr std::size_t kKeptItems = 16;
}  // namespace

std::uint32_t EventQueue::bucket_for(Time at) {
    if (at == last_at_) return last_bucket_;
    std::uint32_t b;
    if (auto it = index_.find(at.time_since_epoch().count()); it != index_.end()) {
        b = it->second;
    } else {
        if (!free_buckets_.empty()) {
            b = free_buckets_.back();
            free_buckets_.pop_back();
        } else {
            b = static_cast<std::uint32_t>(buckets_.size());
            buckets_.emplace_back();
        }
        buckets_[b].at = at;
        buckets_[b].head = 0;
        buckets_[b].items.clear();
        index_.emplace(at.time_since_epoch().count(), b);
        heap_push(TimeRef{at, b});
    }
    last_at_ = at;
    last_bucket_ = b;
    return b;
}

void EventQueue::push(const QueuedEvent& e) {
    Bucket& b = buckets_[bucket_for(e.at)];
    const Item item{e.seq, e.target, e.data};
    if (b.items.size() == b.head || b.items.back().seq < e.seq) {
        b.items.push_back(item);
    } else {
        auto pos =
            std::upper_bound(b.items.begin() + static_cast<std::ptrdiff_t>(b.head), b.items.end(),
                             e.seq, [](std::uint64_t seq, const Item& i) { return seq < i.seq; });
        b.items.insert(pos, item);
    }
    ++size_;
}

QueuedEvent EventQueue::pop() {
    const std::uint32_t index = times_.front().bucket;
    Bucket& b = buckets_[index];
    const Item& i = b.items[b.head++];
    const QueuedEvent e{b.at, i.seq, i.target, i.data};
    --size_;
    if (b.head == b.items.size()) {
        heap_pop();
        index_.erase(b.at.time_since_epoch().count());
        if (last_at_ == b.at) last_at_ = kNever;
        // A recycled bucket keeps room for a few events only: the buckets of one run's
        // largest fan-outs would otherwise each keep that size for the rest of the run.
        if (b.items.capacity() > kKeptItems)
            std::vector<Item>().swap(b.items);
        else
            b.items.clear();
        b.head = 0;
        free_buckets_.push_back(index);
    }
    return e;
}

void EventQueue::heap_push(TimeRef t) {
    times_.push_back(t);
    std::size_t i = times_.size() - 1;
    while (i > 0) {
        const std::size_t parent = (i - 1) / 2;
        if (!(times_[i].at < times_[parent].at)) break;
        std::swap(times_[i], times_[parent]);
        i = parent;
    }
}

void EventQueue::heap_pop() {
    times_.front() = times_.back();
    times_.pop_back();
    const std::size_t n = times_.size();
    std::size_t i = 0;
    for (;;) {
        const std::size_t l = 2 * i + 1;
        const std::size_t r = l + 1;
        std::size_t least = i;
        if (l < n && times_[l].at < times_[least].at) least = l;
        if (r < n && times_[r].at < times_[least].at) least = r;
        if (least == i) break;
        std::swap(times_[i], times_[least]);
        i = least;
    }
}

std::size_t EventQueue::memory_bytes() const {
    std::size_t n = buckets_.capacity() * sizeof(Bucket) +
                    free_buckets_.capacity() * sizeof(std::uint32_t) +
                    times_.capacity() * sizeof(TimeRef) +
                    index_.size() * (sizeof(Time::rep) + sizeof(std::uint32_t) + 16) +
                    index_.bucket_count() * sizeof(void*);
    for (const Bucket& b : buckets_)
        n += b.items.capacity() * sizeof(Item);
    return n;
}

}  // namespace pgm::sim
