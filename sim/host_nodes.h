// DOC: The real PGM host stacks as nodes of the virtual network. `SourceNode` runs a
// pgm::Source and feeds it a stream of numbered APDUs at a configured rate; `ReceiverNode`
// runs a pgm::Receiver, checks every APDU it delivers against that stream and counts
// deliveries, losses and NAKs, per session (TSI) when given several, and keeps out the
// multicast of groups its host did not join. Both own their stack; neither owns the network.
//
// Life cycle: constructed with the network (registers itself as a non-forwarding node),
// attached by the caller, then started: start() builds the stack from a configuration whose
// address and interface come from the attachment, so it must follow attach(). Before start()
// the node ignores packets and has no deadline. It lives as long as the network runs.
//
// The stream: APDU i (0-based) is `apdu_size` bytes, the first 8 the big-endian index, the
// rest a pattern derived from it (stream_apdu()), so that a receiver detects corruption,
// reordering and duplication of whole APDUs without a copy of what was sent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "protocol/receiver.h"
#include "protocol/source.h"
#include "sim/network.h"

namespace pgm::sim {

struct StreamConfig {
    std::uint32_t apdus = 0;                  // how many APDUs the application sends
    double apdus_per_second = 1000;           // handed to the source at this pace (the source's own
                                              // rate control, TXW_MAX_RTE, applies on top)
    std::size_t apdu_size = 64;               // at least 8 (the index)
    Duration start_after = Duration::zero();  // after start(): SPMs only until then
};

// The `index`-th APDU of the stream (apdu_size >= 8).
std::vector<std::uint8_t> stream_apdu(std::uint64_t index, std::size_t apdu_size);
// Whether `apdu` is exactly the `index`-th APDU of the stream.
bool is_stream_apdu(Bytes apdu, std::uint64_t index, std::size_t apdu_size);

class SourceNode : public Node {
  public:
    SourceNode(Network& net, std::string name);
    SourceNode(const SourceNode&) = delete;
    SourceNode& operator=(const SourceNode&) = delete;

    NodeId id() const { return id_; }
    // Builds the source (its first SPM is due at once) and schedules the stream.
    void start(const SourceConfig& config, const StreamConfig& stream);
    bool started() const { return source_ != nullptr; }
    Source& source() { return *source_; }
    const Source& source() const { return *source_; }
    // APDUs handed to the source so far (taken by send()).
    std::uint32_t apdus_queued() const { return next_apdu_; }
    bool stream_done() const { return next_apdu_ == stream_.apdus; }
    // Called with every packet delivered to the node, before the source sees it.
    using Observer = std::function<void(const Arrival& arrival, Bytes pgm, Time now)>;
    void observe(Observer observer) { observer_ = std::move(observer); }

    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) override;
    void on_timer(Time now, Output& out) override;
    Time next_deadline() const override;

  private:
    // Hands the source every APDU due by `now` while its backlog takes them; true if any.
    bool feed(Time now);
    Time apdu_due(std::uint32_t index) const;

    Network& net_;
    NodeId id_;
    std::unique_ptr<Source> source_;
    StreamConfig stream_;
    Time stream_start_{};
    std::uint32_t next_apdu_ = 0;
    bool blocked_ = false;  // the backlog refused the next APDU: retry when the source is due
    std::vector<std::uint8_t> apdu_;
    Observer observer_;
};

struct ReceiverTally {
    std::uint64_t delivered_apdus = 0;
    std::uint64_t delivered_bytes = 0;
    std::uint64_t mismatched = 0;  // APDUs that are not the next one of the stream
    std::uint64_t lost_sqns = 0;   // sequence numbers reported in Loss events
    std::uint64_t sessions_ended = 0;
    Time first_delivery = kNever;
    Time last_delivery = kNever;
};

class ReceiverNode : public Node {
  public:
    ReceiverNode(Network& net, std::string name);
    ReceiverNode(const ReceiverNode&) = delete;
    ReceiverNode& operator=(const ReceiverNode&) = delete;

    NodeId id() const { return id_; }
    // Builds the receiver. `stream` tells what deliveries to expect (APDU 0 first) of each
    // session in `sessions`, tallied apart (empty: one session, whatever its TSI). A host on
    // several groups passes them in `groups` and config.group None: like a host's IP layer,
    // the node then drops multicast to any other group before the receiver sees it.
    void start(const ReceiverConfig& config, const StreamConfig& stream,
               std::vector<Tsi> sessions = {}, std::vector<Nla> groups = {});
    bool started() const { return receiver_ != nullptr; }
    Receiver& receiver() { return *receiver_; }
    const Receiver& receiver() const { return *receiver_; }

    // Per session, in the order given to start() (0: the only one without).
    const ReceiverTally& tally(std::size_t session = 0) const { return tallies_[session]; }
    std::size_t sessions() const { return tallies_.size(); }
    // Data and loss of sessions not given to start(): none when the groups hold.
    std::uint64_t other_session_apdus() const { return other_session_apdus_; }
    // Every APDU of the stream delivered, in order and intact: of one session, of all.
    bool complete(std::size_t session) const {
        return tallies_[session].delivered_apdus == stream_.apdus &&
               tallies_[session].mismatched == 0;
    }
    bool complete() const {
        for (std::size_t i = 0; i < tallies_.size(); ++i)
            if (!complete(i)) return false;
        return true;
    }
    std::uint64_t naks_sent() const { return receiver_ ? receiver_->stats().naks_sent : 0; }
    std::uint64_t unrecoverable() const {
        std::uint64_t n = 0;
        for (const ReceiverTally& t : tallies_)
            n += t.lost_sqns;
        return n;
    }

    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) override;
    void on_timer(Time now, Output& out) override;
    Time next_deadline() const override;

  private:
    void drain_events(Time now);
    // The tally of `tsi`'s session; nullptr when not one of them.
    ReceiverTally* tally_of(const Tsi& tsi);

    NodeId id_;
    std::unique_ptr<Receiver> receiver_;
    StreamConfig stream_;
    std::vector<Tsi> sessions_;  // empty: one session, any TSI
    std::vector<ReceiverTally> tallies_{1};
    std::vector<Nla> groups_;  // empty: the receiver's own group check only
    std::uint64_t other_session_apdus_ = 0;
};

}  // namespace pgm::sim
