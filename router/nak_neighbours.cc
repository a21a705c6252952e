#include "router/nak_neighbours.h"

namespace pgm::router {

void NakNeighbours::unlink(std::uint32_t i) {
    Entry& e = entries_[i];
    if (e.newer != kNone)
        entries_[e.newer].older = e.older;
    else
        newest_ = e.older;
    if (e.older != kNone)
        entries_[e.older].newer = e.newer;
    else
        oldest_ = e.newer;
    e.newer = e.older = kNone;
}

void NakNeighbours::push_newest(std::uint32_t i) {
    Entry& e = entries_[i];
    e.older = newest_;
    e.newer = kNone;
    if (newest_ != kNone) entries_[newest_].newer = i;
    newest_ = i;
    if (oldest_ == kNone) oldest_ = i;
}

void NakNeighbours::clear() {
    entries_.clear();
    index_.clear();
    newest_ = oldest_ = kNone;
    shared_ = TokenBucket{};
}

NakNeighbours::Found NakNeighbours::find(const Nla& source, std::size_t capacity, Time now) {
    if (capacity == 0) capacity = 1;
    if (entries_.size() > capacity) clear();  // the cap was lowered (reload)
    if (entries_.capacity() < capacity) {
        entries_.reserve(capacity);  // no reallocation while filling: stable pointers
        index_.reserve(capacity);
    }
    if (auto it = index_.find(source); it != index_.end()) {
        const std::uint32_t i = it->second;
        if (i != newest_) {
            unlink(i);
            push_newest(i);
        }
        entries_[i].last_seen = now;
        return {&entries_[i].bucket};
    }
    Found found;
    std::uint32_t i;
    if (entries_.size() < capacity) {
        i = static_cast<std::uint32_t>(entries_.size());
        entries_.emplace_back();
    } else if (now - entries_[oldest_].last_seen >= kNakNeighbourIdle) {
        i = oldest_;  // full bucket: nothing is lost by forgetting it
        index_.erase(entries_[i].source);
        unlink(i);
        found.evicted = true;
    } else {
        return {&shared_, true};
    }
    Entry& e = entries_[i];
    e.source = source;
    e.bucket = TokenBucket{};  // full at its first take()
    e.last_seen = now;
    push_newest(i);
    index_.emplace(source, i);
    found.bucket = &e.bucket;
    return found;
}

}  // namespace pgm::router
