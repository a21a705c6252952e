#include "sim/host_nodes.h"

#include <algorithm>
#include <cmath>
#include <variant>

namespace pgm::sim {

namespace {

constexpr std::size_t kIndexSize = 8;
// Receiver events a node's receiver keeps room for between calls.
constexpr std::size_t kKeptEvents = 64;

std::uint8_t pattern(std::uint64_t index, std::size_t i) {
    return static_cast<std::uint8_t>((index * 131 + i * 7 + (index >> 8)) & 0xFF);
}

}  // namespace

std::vector<std::uint8_t> stream_apdu(std::uint64_t index, std::size_t apdu_size) {
    std::vector<std::uint8_t> apdu(std::max(apdu_size, kIndexSize));
    for (std::size_t i = 0; i < kIndexSize; ++i)
        apdu[i] = static_cast<std::uint8_t>(index >> (8 * (kIndexSize - 1 - i)));
    for (std::size_t i = kIndexSize; i < apdu.size(); ++i)
        apdu[i] = pattern(index, i);
    return apdu;
}

bool is_stream_apdu(Bytes apdu, std::uint64_t index, std::size_t apdu_size) {
    if (apdu.size() != std::max(apdu_size, kIndexSize)) return false;
    for (std::size_t i = 0; i < kIndexSize; ++i)
        if (apdu[i] != static_cast<std::uint8_t>(index >> (8 * (kIndexSize - 1 - i)))) return false;
    // pattern(index, i) step by step (it grows by 7 per byte, modulo 256), every byte
    // compared without a branch: this runs once per APDU per receiver.
    auto expected = pattern(index, kIndexSize);
    std::uint8_t differs = 0;
    for (std::size_t i = kIndexSize; i < apdu.size(); ++i) {
        differs |= static_cast<std::uint8_t>(apdu[i] ^ expected);
        expected = static_cast<std::uint8_t>(expected + 7);
    }
    return differs == 0;
}

// --- SourceNode -------------------------------------------------------------------------------

SourceNode::SourceNode(Network& net, std::string name)
    : net_(net), id_(net.add_node(*this, std::move(name))) {}

void SourceNode::start(const SourceConfig& config, const StreamConfig& stream) {
    source_ = std::make_unique<Source>(config, net_.now());
    stream_ = stream;
    stream_start_ = net_.now() + stream.start_after;
    next_apdu_ = 0;
    blocked_ = false;
    net_.notify(id_);
}

Time SourceNode::apdu_due(std::uint32_t index) const {
    // Computed from the start, not accumulated, so that rounding does not drift.
    const double seconds = static_cast<double>(index) / stream_.apdus_per_second;
    return stream_start_ +
           std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
}

bool SourceNode::feed(Time now) {
    bool fed = false;
    while (next_apdu_ < stream_.apdus && apdu_due(next_apdu_) <= now) {
        apdu_ = stream_apdu(next_apdu_, stream_.apdu_size);
        if (!source_->send(Bytes(apdu_), now)) {
            blocked_ = true;
            return fed;
        }
        blocked_ = false;
        fed = true;
        ++next_apdu_;
    }
    return fed;
}

void SourceNode::on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) {
    if (observer_) observer_(arrival, pgm, now);
    if (source_) source_->on_packet(arrival, pgm, now, out);
}

void SourceNode::on_timer(Time now, Output& out) {
    if (!source_) return;
    feed(now);
    source_->on_timer(now, out);
    // What the source sent may have made room in its backlog for APDUs already due.
    if (blocked_ && feed(now)) source_->on_timer(now, out);
}

Time SourceNode::next_deadline() const {
    if (!source_) return kNever;
    Time t = source_->next_deadline();
    if (next_apdu_ < stream_.apdus && !blocked_) t = std::min(t, apdu_due(next_apdu_));
    return t;
}

// --- ReceiverNode -----------------------------------------------------------------------------

ReceiverNode::ReceiverNode(Network& net, std::string name)
    : id_(net.add_node(*this, std::move(name))) {}

void ReceiverNode::start(const ReceiverConfig& config, const StreamConfig& stream,
                         std::vector<Tsi> sessions, std::vector<Nla> groups) {
    receiver_ = std::make_unique<Receiver>(config);
    stream_ = stream;
    sessions_ = std::move(sessions);
    tallies_.assign(std::max<std::size_t>(sessions_.size(), 1), ReceiverTally{});
    groups_ = std::move(groups);
    other_session_apdus_ = 0;
}

ReceiverTally* ReceiverNode::tally_of(const Tsi& tsi) {
    if (sessions_.empty()) return &tallies_[0];
    for (std::size_t i = 0; i < sessions_.size(); ++i)
        if (sessions_[i] == tsi) return &tallies_[i];
    return nullptr;
}

void ReceiverNode::on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) {
    if (!receiver_) return;
    if (!groups_.empty() && arrival.ip.destination.is_multicast() &&
        std::find(groups_.begin(), groups_.end(), arrival.ip.destination) == groups_.end())
        return;  // a group this host did not join (on a LAN another host did)
    receiver_->on_packet(arrival, pgm, now, out);
    drain_events(now);
}

void ReceiverNode::on_timer(Time now, Output& out) {
    if (!receiver_) return;
    receiver_->on_timer(now, out);
    drain_events(now);
}

Time ReceiverNode::next_deadline() const {
    return receiver_ ? receiver_->next_deadline() : kNever;
}

void ReceiverNode::drain_events(Time now) {
    auto& events = receiver_->events();
    for (ReceiverEvent& e : events) {
        if (auto* d = std::get_if<DataEvent>(&e)) {
            ReceiverTally* t = tally_of(d->tsi);
            if (!t) {
                ++other_session_apdus_;
                continue;
            }
            if (!is_stream_apdu(Bytes(d->apdu), t->delivered_apdus, stream_.apdu_size))
                ++t->mismatched;
            ++t->delivered_apdus;
            t->delivered_bytes += d->apdu.size();
            if (t->first_delivery == kNever) t->first_delivery = now;
            t->last_delivery = now;
        } else if (auto* l = std::get_if<LossEvent>(&e)) {
            if (ReceiverTally* t = tally_of(l->tsi)) t->lost_sqns += l->count;
        } else if (auto* end = std::get_if<SessionEndEvent>(&e)) {
            if (ReceiverTally* t = tally_of(end->tsi)) ++t->sessions_ended;
        }
    }
    // A repair that completes a long stretch delivers it at once; the vector's capacity
    // would stay at that burst for the rest of the run, in every receiver (tens of KiB
    // each): give it back.
    if (events.capacity() > kKeptEvents)
        std::vector<ReceiverEvent>().swap(events);
    else
        events.clear();
}

}  // namespace pgm::sim
