// DOC: The virtual network: a deterministic discrete-event simulator on a virtual clock.
//
// Owns the topology (nodes, segments, attachments with their addresses), the event queue,
// the impairments (delay, random loss from one seeded PRNG, scripted drop rules), the
// per-attachment packet counters, the packet capture hook and the unicast routes. Nodes
// are not owned: whoever adds a node keeps it alive while the network runs.
//
// Life cycle: construct with a seed; add nodes, segments and attachments; set impairments,
// drop rules, routes and the capture hook; then run_until()/run_for()/run_until_idle(). Each
// node call (packet, timer) is followed by draining the node's Output onto the segments and
// re-reading its next_deadline(). Events are ordered by (time, insertion sequence), so a
// run is a pure function of the topology, the script and the seed.
//
// A segment is a point-to-point link or a LAN. A multicast transmit reaches every other
// attachment of the segment; a unicast one reaches the attachment owning the destination
// address, or, when the address is not on the segment, the next hop of the sender's route
// towards it (the gateway, as ARP would pick it). Otherwise it is lost and counted.
// Counters are kept per attachment: what it sent (one direction of a link, or one sender on
// a LAN), what was delivered to it, and what was lost on the way to it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/io.h"
#include "protocol/packet.h"
#include "sim/event_queue.h"
#include "sim/node.h"

namespace pgm::sim {

using namespace std::chrono_literals;

using NodeId = std::uint32_t;
using SegmentId = std::uint32_t;
using AttachmentId = std::uint32_t;  // global index of one (node, interface) pair
inline constexpr AttachmentId kAny = std::numeric_limits<AttachmentId>::max();

// Where the virtual clock starts (not the epoch, so "time zero" sentinels stay distinct).
inline constexpr Time kStart = Time{} + std::chrono::hours(1);
// How far a node that stays due after its own on_timer is pushed back (see stalled_timers).
inline constexpr Duration kStallNudge = std::chrono::microseconds(1);

enum class SegmentKind : std::uint8_t { PointToPoint, Lan };

// Loss is Bernoulli (`loss` per delivery) unless `burst_enter` > 0: then it is the
// Gilbert-Elliott model, a good and a bad state per recipient attachment; before each
// delivery the state moves good -> bad with `burst_enter`, bad -> good with `burst_exit`
// (mean burst length 1 / burst_exit deliveries), and the delivery is lost with `loss` in the
// good state and `burst_loss` in the bad one. The state is one byte per attachment and is
// only touched (and random numbers only drawn for it) on links that set burst_enter.
struct Impairment {
    Duration delay = 1ms;
    double loss = 0.0;  // probability that one delivery is lost (in the good state)
    double burst_enter = 0.0;
    double burst_exit = 1.0;
    double burst_loss = 1.0;
};

// Packets and bytes per PGM type code; packets that do not parse (checksum included) are
// counted as malformed only.
struct TypeCounters {
    std::array<std::uint64_t, 16> packets{};
    std::array<std::uint64_t, 16> bytes{};
    std::uint64_t malformed = 0;

    std::uint64_t count(PacketType t) const { return packets[static_cast<std::size_t>(t)]; }
    std::uint64_t byte_count(PacketType t) const { return bytes[static_cast<std::size_t>(t)]; }
    std::uint64_t total() const;
    // `type` < 0: malformed.
    void add(int type, std::size_t size);
    TypeCounters& operator+=(const TypeCounters& o);
};

struct AttachmentCounters {
    TypeCounters sent;             // put on the segment by this attachment, once per transmission
    TypeCounters received;         // delivered to this attachment
    TypeCounters dropped;          // lost on the way to this attachment (random or scripted)
    std::uint64_t unroutable = 0;  // unicast sent from here that no attachment could take
};

// Scripted loss: drops the transmissions on `segment` that match every field set, towards
// `to` (or every recipient). `count` transmissions are dropped, then the rule is spent.
struct DropRule {
    SegmentId segment = 0;
    AttachmentId from = kAny;
    AttachmentId to = kAny;
    std::optional<PacketType> type;
    std::optional<Sqn> sqn;  // header sequence number (SPM_SQN, data SQN, NAK/NCF SQN, ...)
    std::uint64_t count = std::numeric_limits<std::uint64_t>::max();
    std::function<bool(const PacketView&)> match;  // optional further condition

    // Builders: DropRule::on(lan).of_type(PacketType::Odata).with_sqn(Sqn(3)).
    static DropRule on(SegmentId s) {
        DropRule r;
        r.segment = s;
        return r;
    }
    DropRule& sent_by(AttachmentId a) { return from = a, *this; }
    DropRule& towards(AttachmentId a) { return to = a, *this; }
    DropRule& of_type(PacketType t) { return type = t, *this; }
    DropRule& with_sqn(Sqn s) { return sqn = s, *this; }
    DropRule& first(std::uint64_t n) { return count = n, *this; }
    DropRule& where(std::function<bool(const PacketView&)> f) {
        return match = std::move(f), *this;
    }
};
using RuleId = std::size_t;

// One transmission as seen on the wire of a segment (before any loss).
struct Capture {
    Time at;
    SegmentId segment = 0;
    AttachmentId from = 0;
    std::optional<AttachmentId> to;  // unicast: the recipient; multicast and lost: none
    const Transmit& transmit;
    Bytes pgm;
    const PacketView* view = nullptr;  // nullptr when the packet does not parse
};
using CaptureHook = std::function<void(const Capture&)>;

struct AttachmentInfo {
    NodeId node = 0;
    IfIndex ifindex = 0;
    SegmentId segment = 0;
    Nla address;
};

struct Route {
    IfIndex ifindex = 0;
    AttachmentId next_hop = kAny;  // the neighbour's attachment on that segment
};

// The sequence number in the type-specific header, if the type has one.
std::optional<Sqn> header_sqn(const PacketView& v);

class Network {
  public:
    explicit Network(std::uint64_t seed = 1);
    Network(const Network&) = delete;
    Network& operator=(const Network&) = delete;

    // --- Topology ---
    // `forwards`: the node routes packets between its interfaces (routes may pass it).
    NodeId add_node(Node& node, std::string name, bool forwards = false);
    SegmentId add_segment(SegmentKind kind, std::string name = {}, Impairment defaults = {});
    // Attaches `node` to `segment` with `address`; returns the node's new interface
    // (numbered 1, 2, ... per node).
    IfIndex attach(NodeId node, SegmentId segment, const Nla& address);

    std::size_t node_count() const { return nodes_.size(); }
    const std::string& name(NodeId node) const { return nodes_[node].name; }
    AttachmentId attachment(NodeId node, IfIndex ifindex) const;
    const AttachmentInfo& info(AttachmentId a) const { return attachments_[a]; }
    const std::vector<AttachmentId>& attachments_of(NodeId node) const {
        return nodes_[node].attachments;
    }
    const std::vector<AttachmentId>& attachments_on(SegmentId s) const {
        return segments_[s].attachments;
    }
    std::optional<Nla> address(NodeId node, IfIndex ifindex) const;
    bool is_local(NodeId node, const Nla& address) const;

    // --- Impairments ---
    // Delay and loss of deliveries from `from` to `to` on `segment` (kAny: every one); the
    // most specific setting applies.
    void set_impairment(SegmentId segment, AttachmentId from, AttachmentId to, Impairment imp);
    RuleId add_drop_rule(DropRule rule);
    void remove_drop_rule(RuleId id);
    // Transmissions the rule has dropped (towards one or more recipients).
    std::uint64_t dropped_by(RuleId id) const { return rules_[id].dropped; }

    // --- Routing ---
    // Shortest paths (hop count, ties broken by attachment order) through forwarding nodes.
    // Routes towards a destination are computed for every node at once, by one search from
    // the destination's node, on the first lookup after a topology change: O(nodes) memory
    // per destination actually used, so thousands of nodes cost little. compute_routes()
    // does it now for every address (small topologies; not needed for correctness).
    void compute_routes();
    // A static route that takes precedence; `gateway` is the next hop's address when the
    // destination is not on the segment of `ifindex`.
    void set_route(NodeId node, const Nla& destination, IfIndex ifindex,
                   std::optional<Nla> gateway = std::nullopt);
    void clear_route(NodeId node, const Nla& destination);
    std::optional<Route> route(NodeId node, const Nla& destination) const;

    // --- Observation ---
    const AttachmentCounters& counters(AttachmentId a) const { return counters_[a]; }
    const AttachmentCounters& counters(NodeId node, IfIndex ifindex) const {
        return counters_[attachment(node, ifindex)];
    }
    // Everything sent on the segment, all attachments together.
    TypeCounters segment_sent(SegmentId s) const;
    void set_capture(CaptureHook hook) { capture_ = std::move(hook); }
    // Events queued (delivery batches: one per transmission and arrival time, however many
    // recipients; timer wake-ups, stale ones included).
    std::size_t pending_events() const { return events_.size(); }
    // Node calls whose node stayed due after on_timer (a node bug; its timer was nudged).
    std::uint64_t stalled_timers() const { return stalled_timers_; }

    // --- Time ---
    Time now() const { return now_; }
    void run_until(Time t);
    void run_for(Duration d) { run_until(now_ + d); }
    // Runs until no event is left or `max_events` were processed; returns the number run.
    std::size_t run_until_idle(std::size_t max_events = 10'000'000);
    // The node's next_deadline() may have changed outside a node call (a test told it to
    // send something): re-read it.
    void notify(NodeId node) { reschedule(node, now_); }

  private:
    // QueuedEvent: target is the attachment (Deliver), the batch (Deliver, several
    // recipients) or the node (Timer); data the packet slot, kBatchData or kTimerData.
    enum class EventKind : std::uint8_t { Deliver, Timer };
    static constexpr std::uint32_t kTimerData = 0xFFFFFFFF;
    static constexpr std::uint32_t kBatchData = 0xFFFFFFFE;
    struct NodeSlot {
        Node* node = nullptr;
        std::string name;
        bool forwards = false;
        std::vector<AttachmentId> attachments;  // index = ifindex - 1
        // The live timer: the deadline it was set for, when it fires (not before the time it
        // was set) and its place among events at that time (the sequence number it got when
        // it was set, as if it had been queued then).
        Time deadline = kNever;
        Time timer_at = kNever;
        std::uint64_t timer_seq = 0;
        // The queued wake-up the live timer relies on: at or before it (a deadline that
        // moves later, as a receiver's peer expiry does with every packet, queues nothing;
        // the early wake-up re-queues the timer with its own time and sequence number).
        // Other queued timer events of the node are stale.
        Time wake_at = kNever;
        std::uint64_t wake_seq = 0;
    };
    struct ImpairmentRule {
        AttachmentId from;
        AttachmentId to;
        Impairment impairment;
    };
    struct Segment {
        SegmentKind kind;
        std::string name;
        Impairment defaults;
        std::vector<AttachmentId> attachments;
        std::unordered_map<Nla, AttachmentId> by_address;
        std::vector<ImpairmentRule> impairments;
        std::vector<RuleId> rules;
    };
    struct Rule {
        DropRule rule;
        bool active = true;
        std::uint64_t dropped = 0;
    };
    struct Packet {
        IpInfo ip;
        int type = -1;
        std::vector<std::uint8_t> bytes;
        std::uint32_t refs = 0;
    };
    // The deliveries of one transmission due at one time, in recipient order: one event.
    struct Batch {
        std::uint32_t packet = 0;
        std::vector<AttachmentId> to;
    };
    static constexpr std::uint32_t kNoBatch = 0xFFFFFFFF;
    static constexpr std::size_t kBatchKept = 256;  // recipients a free batch keeps room for
    using StaticRoute = std::pair<IfIndex, std::optional<Nla>>;  // interface, gateway
    void push(Time at, EventKind kind, std::uint32_t target, std::uint32_t data);
    void push_at(Time at, std::uint64_t seq, EventKind kind, std::uint32_t target,
                 std::uint32_t data);
    void step();
    void deliver(AttachmentId to, std::uint32_t slot);
    void deliver_batch(std::uint32_t batch);
    std::uint32_t allocate_batch(std::uint32_t packet);
    void wake(NodeId node, Time at, std::uint64_t seq);
    void fire_timer(NodeId node);
    void drain(NodeId node, Time not_before);
    void reschedule(NodeId node, Time not_before);
    void transmit(NodeId node, const Transmit& t, Bytes pgm);
    // Recipients of a transmission from `from`; false when a unicast has none.
    bool recipients(AttachmentId from, NodeId node, const Transmit& t);
    bool scripted_drop(AttachmentId to);
    bool random_loss(const Impairment& imp, AttachmentId to);
    const Impairment& impairment(const Segment& seg, AttachmentId from, AttachmentId to) const;
    double uniform();
    std::uint32_t allocate_packet();
    void release_packet(std::uint32_t slot);
    // Every node's route towards `destination` (index = node; kAny next hop: none).
    const std::vector<Route>& routes_to(const Nla& destination) const;

    std::mt19937_64 rng_;
    Time now_ = kStart;
    std::uint64_t seq_ = 0;
    EventQueue events_;
    std::vector<NodeSlot> nodes_;
    std::vector<Segment> segments_;
    std::vector<AttachmentInfo> attachments_;
    std::vector<AttachmentCounters> counters_;
    std::vector<std::uint8_t> in_burst_;  // per attachment: Gilbert-Elliott bad state
    std::vector<Rule> rules_;
    std::vector<Packet> packets_;
    std::vector<std::uint32_t> free_packets_;
    std::vector<Batch> batches_;
    std::vector<std::uint32_t> free_batches_;
    std::unordered_map<Nla, AttachmentId> owners_;  // address -> its (first) attachment
    std::vector<std::unordered_map<Nla, StaticRoute>> static_routes_;  // per node
    mutable std::unordered_map<Nla, std::vector<Route>> routes_to_;    // cache
    CaptureHook capture_;
    Output out_;
    std::uint64_t stalled_timers_ = 0;
    // Scratch for one transmission.
    std::vector<AttachmentId> recipients_;
    std::vector<std::pair<RuleId, bool>> matching_rules_;  // rule, dropped something
};

}  // namespace pgm::sim
