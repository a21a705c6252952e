#include "sim/network.h"

#include <algorithm>
#include <queue>
#include <utility>

namespace pgm::sim {

std::uint64_t TypeCounters::total() const {
    std::uint64_t n = malformed;
    for (std::uint64_t p : packets)
        n += p;
    return n;
}

void TypeCounters::add(int type, std::size_t size) {
    if (type < 0 || static_cast<std::size_t>(type) >= packets.size()) {
        ++malformed;
        return;
    }
    ++packets[static_cast<std::size_t>(type)];
    bytes[static_cast<std::size_t>(type)] += size;
}

TypeCounters& TypeCounters::operator+=(const TypeCounters& o) {
    for (std::size_t i = 0; i < packets.size(); ++i) {
        packets[i] += o.packets[i];
        bytes[i] += o.bytes[i];
    }
    malformed += o.malformed;
    return *this;
}

std::optional<Sqn> header_sqn(const PacketView& v) {
    struct Visitor {
        std::optional<Sqn> operator()(const SpmFields& f) const { return f.sqn; }
        std::optional<Sqn> operator()(const PollFields& f) const { return f.sqn; }
        std::optional<Sqn> operator()(const PolrFields& f) const { return f.sqn; }
        std::optional<Sqn> operator()(const DataFields& f) const { return f.sqn; }
        std::optional<Sqn> operator()(const NakFields& f) const { return f.sqn; }
        std::optional<Sqn> operator()(const SpmrFields&) const { return std::nullopt; }
        std::optional<Sqn> operator()(const AckFields& f) const { return f.rx_max; }
    };
    return std::visit(Visitor{}, v.fields);
}

Network::Network(std::uint64_t seed) : rng_(seed) {}

// --- Topology -------------------------------------------------------------------------------

NodeId Network::add_node(Node& node, std::string name, bool forwards) {
    nodes_.push_back(NodeSlot{&node, std::move(name), forwards, {}, kNever, kNever, 0, kNever, 0});
    static_routes_.emplace_back();
    routes_to_.clear();
    return static_cast<NodeId>(nodes_.size() - 1);
}

SegmentId Network::add_segment(SegmentKind kind, std::string name, Impairment defaults) {
    Segment s;
    s.kind = kind;
    s.name = std::move(name);
    s.defaults = defaults;
    segments_.push_back(std::move(s));
    return static_cast<SegmentId>(segments_.size() - 1);
}

IfIndex Network::attach(NodeId node, SegmentId segment, const Nla& address) {
    const auto id = static_cast<AttachmentId>(attachments_.size());
    NodeSlot& n = nodes_[node];
    const auto ifindex = static_cast<IfIndex>(n.attachments.size() + 1);
    attachments_.push_back(AttachmentInfo{node, ifindex, segment, address});
    counters_.emplace_back();
    in_burst_.push_back(0);
    n.attachments.push_back(id);
    segments_[segment].attachments.push_back(id);
    segments_[segment].by_address.emplace(address, id);
    owners_.emplace(address, id);
    routes_to_.clear();
    return ifindex;
}

AttachmentId Network::attachment(NodeId node, IfIndex ifindex) const {
    const auto& list = nodes_[node].attachments;
    if (ifindex == 0 || ifindex > list.size()) return kAny;
    return list[ifindex - 1];
}

std::optional<Nla> Network::address(NodeId node, IfIndex ifindex) const {
    AttachmentId a = attachment(node, ifindex);
    if (a == kAny) return std::nullopt;
    return attachments_[a].address;
}

bool Network::is_local(NodeId node, const Nla& address) const {
    for (AttachmentId a : nodes_[node].attachments)
        if (attachments_[a].address == address) return true;
    return false;
}

TypeCounters Network::segment_sent(SegmentId s) const {
    TypeCounters t;
    for (AttachmentId a : segments_[s].attachments)
        t += counters_[a].sent;
    return t;
}

// --- Impairments ----------------------------------------------------------------------------

void Network::set_impairment(SegmentId segment, AttachmentId from, AttachmentId to,
                             Impairment imp) {
    auto& list = segments_[segment].impairments;
    for (auto& r : list) {
        if (r.from == from && r.to == to) {
            r.impairment = imp;
            return;
        }
    }
    list.push_back(ImpairmentRule{from, to, imp});
}

const Impairment& Network::impairment(const Segment& seg, AttachmentId from,
                                      AttachmentId to) const {
    const Impairment* best = &seg.defaults;
    int best_rank = 0;
    for (const auto& r : seg.impairments) {
        if ((r.from != kAny && r.from != from) || (r.to != kAny && r.to != to)) continue;
        const int rank = 1 + (r.from != kAny ? 2 : 0) + (r.to != kAny ? 1 : 0);
        if (rank > best_rank) {
            best = &r.impairment;
            best_rank = rank;
        }
    }
    return *best;
}

RuleId Network::add_drop_rule(DropRule rule) {
    const RuleId id = rules_.size();
    segments_[rule.segment].rules.push_back(id);
    rules_.push_back(Rule{std::move(rule), true, 0});
    return id;
}

void Network::remove_drop_rule(RuleId id) {
    rules_[id].active = false;
    auto& list = segments_[rules_[id].rule.segment].rules;
    std::erase(list, id);
}

double Network::uniform() {
    return static_cast<double>(rng_() >> 11) * 0x1.0p-53;  // same on every standard library
}

// --- Routing --------------------------------------------------------------------------------

void Network::compute_routes() {
    routes_to_.clear();
    for (const AttachmentInfo& a : attachments_)
        routes_to(a.address);
}

const std::vector<Route>& Network::routes_to(const Nla& destination) const {
    if (auto it = routes_to_.find(destination); it != routes_to_.end()) return it->second;
    std::vector<Route>& routes = routes_to_[destination];
    routes.assign(nodes_.size(), Route{});
    auto owner = owners_.find(destination);
    if (owner == owners_.end()) return routes;
    // Breadth-first from the owner: each node reached first through a segment routes via
    // its attachment there, to the attachment of the node it was reached from. Only the
    // owner and forwarding nodes extend the search.
    const NodeId target = attachments_[owner->second].node;
    std::vector<char> reached(nodes_.size(), 0);
    std::vector<char> segment_seen(segments_.size(), 0);
    std::queue<NodeId> queue;
    reached[target] = 1;
    queue.push(target);
    while (!queue.empty()) {
        const NodeId n = queue.front();
        queue.pop();
        if (n != target && !nodes_[n].forwards) continue;
        for (AttachmentId via : nodes_[n].attachments) {
            const SegmentId s = attachments_[via].segment;
            if (segment_seen[s]) continue;
            segment_seen[s] = 1;
            for (AttachmentId z : segments_[s].attachments) {
                const NodeId m = attachments_[z].node;
                if (reached[m]) continue;
                reached[m] = 1;
                routes[m] = Route{attachments_[z].ifindex, via};
                queue.push(m);
            }
        }
    }
    return routes;
}

void Network::set_route(NodeId node, const Nla& destination, IfIndex ifindex,
                        std::optional<Nla> gateway) {
    static_routes_[node][destination] = {ifindex, gateway};
}

void Network::clear_route(NodeId node, const Nla& destination) {
    static_routes_[node].erase(destination);
}

std::optional<Route> Network::route(NodeId node, const Nla& destination) const {
    const auto& statics = static_routes_[node];
    if (auto it = statics.find(destination); it != statics.end()) {
        const auto& [ifindex, gateway] = it->second;
        AttachmentId a = attachment(node, ifindex);
        if (a == kAny) return std::nullopt;
        Route r{ifindex, kAny};
        const auto& by_address = segments_[attachments_[a].segment].by_address;
        if (auto nh = by_address.find(gateway.value_or(destination)); nh != by_address.end())
            r.next_hop = nh->second;
        return r;
    }
    const Route& r = routes_to(destination)[node];
    if (r.next_hop == kAny) return std::nullopt;
    return r;
}

// --- Packets --------------------------------------------------------------------------------

std::uint32_t Network::allocate_packet() {
    if (!free_packets_.empty()) {
        std::uint32_t slot = free_packets_.back();
        free_packets_.pop_back();
        return slot;
    }
    packets_.emplace_back();
    return static_cast<std::uint32_t>(packets_.size() - 1);
}

void Network::release_packet(std::uint32_t slot) {
    if (--packets_[slot].refs == 0) free_packets_.push_back(slot);
}

bool Network::recipients(AttachmentId from, NodeId node, const Transmit& t) {
    recipients_.clear();
    const Segment& seg = segments_[attachments_[from].segment];
    if (t.ip_destination.is_multicast()) {
        for (AttachmentId a : seg.attachments)
            if (a != from) recipients_.push_back(a);
        return true;
    }
    if (auto it = seg.by_address.find(t.ip_destination); it != seg.by_address.end()) {
        if (it->second == from) return false;
        recipients_.push_back(it->second);
        return true;
    }
    // Not on this segment: the sender's gateway towards it, as ARP would resolve it.
    auto r = route(node, t.ip_destination);
    if (!r || r->ifindex != t.ifindex || r->next_hop == kAny) return false;
    recipients_.push_back(r->next_hop);
    return true;
}

bool Network::scripted_drop(AttachmentId to) {
    bool dropped = false;
    for (auto& [id, hit] : matching_rules_) {
        const DropRule& r = rules_[id].rule;
        if (r.to != kAny && r.to != to) continue;
        hit = true;
        dropped = true;
    }
    return dropped;
}

bool Network::random_loss(const Impairment& imp, AttachmentId to) {
    if (imp.burst_enter <= 0) return imp.loss > 0 && uniform() < imp.loss;
    std::uint8_t& bad = in_burst_[to];
    if (bad ? uniform() < imp.burst_exit : uniform() < imp.burst_enter) bad = !bad;
    const double p = bad ? imp.burst_loss : imp.loss;
    return p > 0 && uniform() < p;
}

void Network::transmit(NodeId node, const Transmit& t, Bytes pgm) {
    const AttachmentId from = attachment(node, t.ifindex);
    if (from == kAny) return;  // no such interface: nothing reaches any wire
    const SegmentId segment = attachments_[from].segment;
    Segment& seg = segments_[segment];
    const ParseResult parsed = parse(pgm);
    const PacketView* view = parsed ? &parsed.view : nullptr;
    const int type = view ? static_cast<int>(view->header.type) : -1;
    counters_[from].sent.add(type, pgm.size());
    const bool routed = recipients(from, node, t);
    if (capture_) {
        std::optional<AttachmentId> to;
        if (routed && !t.ip_destination.is_multicast()) to = recipients_.front();
        capture_(Capture{now_, segment, from, to, t, pgm, view});
    }
    if (!routed) {
        ++counters_[from].unroutable;
        return;
    }
    matching_rules_.clear();
    for (RuleId id : seg.rules) {
        const DropRule& r = rules_[id].rule;
        if (r.count == 0 || (r.from != kAny && r.from != from)) continue;
        const bool conditional = r.type || r.sqn || r.match;
        if (conditional && !view) continue;
        if (r.type && view->header.type != *r.type) continue;
        if (r.sqn && header_sqn(*view) != r.sqn) continue;
        if (r.match && !r.match(*view)) continue;
        matching_rules_.emplace_back(id, false);
    }
    const std::uint32_t slot = allocate_packet();
    Packet& p = packets_[slot];
    p.ip = IpInfo{};
    p.ip.version = t.ip_source.is_ipv6() ? 6 : 4;
    p.ip.source = t.ip_source;
    p.ip.destination = t.ip_destination;
    p.ip.ttl = t.ttl;
    p.ip.router_alert = t.router_alert;
    p.ip.encapsulation = t.encapsulation;
    if (t.encapsulation == Encapsulation::Udp)
        p.ip.udp_source_port = p.ip.udp_destination_port = t.udp_port;
    p.type = type;
    p.bytes.assign(pgm.begin(), pgm.end());
    p.refs = 1;  // held while scheduling
    // On a LAN, deliveries due at the same time go in one batch event (many receivers cost
    // one queue entry per transmission, not one per receiver); a link's single recipient
    // is one plain event (no batch to allocate). Each delivery still takes its own
    // sequence number, so nothing else can fall between them: every sequence number from
    // here to the end of the loop is this transmission's, and the batch event sorts where
    // its first delivery would. The order of all node calls is the same as with one event
    // per delivery.
    std::uint32_t batch = kNoBatch;
    Time batch_at = kNever;
    for (AttachmentId to : recipients_) {
        const Impairment& imp = impairment(seg, from, to);
        if (scripted_drop(to) || random_loss(imp, to)) {
            counters_[to].dropped.add(type, pgm.size());
            continue;
        }
        ++packets_[slot].refs;
        const Time at = now_ + imp.delay;
        if (recipients_.size() == 1) {
            push(at, EventKind::Deliver, to, slot);
            continue;
        }
        if (batch != kNoBatch && at == batch_at) {
            batches_[batch].to.push_back(to);
            ++seq_;
            continue;
        }
        batch = allocate_batch(slot);
        batch_at = at;
        batches_[batch].to.push_back(to);
        push(at, EventKind::Deliver, batch, kBatchData);
    }
    for (const auto& [id, hit] : matching_rules_) {
        if (!hit) continue;
        --rules_[id].rule.count;
        ++rules_[id].dropped;
    }
    release_packet(slot);
}

// --- Events ---------------------------------------------------------------------------------

void Network::push(Time at, EventKind kind, std::uint32_t target, std::uint32_t data) {
    push_at(at, seq_++, kind, target, data);
}

void Network::push_at(Time at, std::uint64_t seq, EventKind kind, std::uint32_t target,
                      std::uint32_t data) {
    events_.push(QueuedEvent{at, seq, target, kind == EventKind::Timer ? kTimerData : data});
}

std::uint32_t Network::allocate_batch(std::uint32_t packet) {
    std::uint32_t id;
    if (!free_batches_.empty()) {
        id = free_batches_.back();
        free_batches_.pop_back();
    } else {
        id = static_cast<std::uint32_t>(batches_.size());
        batches_.emplace_back();
    }
    batches_[id].packet = packet;
    batches_[id].to.clear();
    return id;
}

void Network::deliver_batch(std::uint32_t id) {
    // By index: a node call may transmit, which adds batches (batches_ may move).
    const std::uint32_t packet = batches_[id].packet;
    for (std::size_t i = 0; i < batches_[id].to.size(); ++i)
        deliver(batches_[id].to[i], packet);
    Batch& b = batches_[id];
    if (b.to.capacity() > kBatchKept) std::vector<AttachmentId>().swap(b.to);
    free_batches_.push_back(id);
}

void Network::deliver(AttachmentId to, std::uint32_t slot) {
    const AttachmentInfo& a = attachments_[to];
    {
        const Packet& p = packets_[slot];
        counters_[to].received.add(p.type, p.bytes.size());
        nodes_[a.node].node->on_packet(Arrival{a.ifindex, p.ip}, Bytes(p.bytes), now_, out_);
    }
    // Drained before the slot is released: the node's Output may reference the packet's bytes
    // (Output::add_reference); growing packets_ moves the byte vectors, their buffers stay.
    drain(a.node, now_);
    release_packet(slot);
}

void Network::wake(NodeId node, Time at, std::uint64_t seq) {
    NodeSlot& n = nodes_[node];
    if (at != n.wake_at || seq != n.wake_seq) return;  // stale
    n.wake_at = kNever;
    if (n.deadline == kNever) return;  // the timer was cancelled meanwhile
    if (at != n.timer_at || seq != n.timer_seq) {
        // Early: the deadline moved later since this wake-up was queued. Queue the live
        // timer where the queue would have had it.
        n.wake_at = n.timer_at;
        n.wake_seq = n.timer_seq;
        push_at(n.timer_at, n.timer_seq, EventKind::Timer, node, 0);
        return;
    }
    fire_timer(node);
}

void Network::fire_timer(NodeId node) {
    NodeSlot& n = nodes_[node];
    n.deadline = kNever;
    Time not_before = now_;
    if (n.node->next_deadline() <= now_) {
        n.node->on_timer(now_, out_);
        if (n.node->next_deadline() <= now_) {
            // Still due right after its own on_timer: a node bug that would spin the loop.
            ++stalled_timers_;
            not_before = now_ + kStallNudge;
        }
    }
    drain(node, not_before);
}

void Network::drain(NodeId node, Time not_before) {
    for (const Transmit& t : out_.transmits())
        transmit(node, t, out_.bytes(t));
    out_.clear();
    reschedule(node, not_before);
}

void Network::reschedule(NodeId node, Time not_before) {
    NodeSlot& n = nodes_[node];
    const Time d = n.node->next_deadline();
    if (d == n.deadline) return;  // the live timer already fires then
    n.deadline = d;
    if (d == kNever) return;
    n.timer_at = std::max({d, now_, not_before});
    n.timer_seq = seq_++;
    // Lazy: a wake-up queued at or before the timer serves it (see NodeSlot).
    if (n.wake_at != kNever &&
        (n.wake_at < n.timer_at || (n.wake_at == n.timer_at && n.wake_seq < n.timer_seq)))
        return;
    n.wake_at = n.timer_at;
    n.wake_seq = n.timer_seq;
    push_at(n.timer_at, n.timer_seq, EventKind::Timer, node, 0);
}

void Network::step() {
    const QueuedEvent e = events_.pop();
    now_ = e.at;
    if (e.data == kBatchData)
        deliver_batch(e.target);
    else if (e.data != kTimerData)
        deliver(e.target, e.data);
    else
        wake(e.target, e.at, e.seq);
}

void Network::run_until(Time t) {
    while (!events_.empty() && events_.next_time() <= t)
        step();
    if (t > now_) now_ = t;
}

std::size_t Network::run_until_idle(std::size_t max_events) {
    std::size_t n = 0;
    while (!events_.empty() && n < max_events) {
        step();
        ++n;
    }
    return n;
}

}  // namespace pgm::sim
