#include "sim/ip_router.h"

#include <algorithm>

namespace pgm::sim {

namespace {

int type_code(Bytes pgm) {
    return pgm.size() > kOffsetType ? pgm[kOffsetType] & kTypeCodeMask : -1;
}

// The copy's network header: the arrival's, one hop older. Nullopt when the TTL runs out.
std::optional<Transmit> next_hop_transmit(const Arrival& a, Bytes pgm, ForwardCounters& counters) {
    if (a.ip.ttl <= 1) {
        counters.ttl_expired.add(type_code(pgm), pgm.size());
        return std::nullopt;
    }
    Transmit t;
    t.ip_source = a.ip.source;
    t.ip_destination = a.ip.destination;
    t.ttl = static_cast<std::uint8_t>(a.ip.ttl - 1);
    t.router_alert = a.ip.router_alert;
    t.encapsulation = a.ip.encapsulation;
    t.udp_port = a.ip.udp_destination_port;
    return t;
}

}  // namespace

void StaticMembership::merge(Group& g, const Nla& source) {
    std::vector<IfIndex>& m = g.merged[source];
    m = g.any;
    for (IfIndex i : g.by[source])
        if (std::find(m.begin(), m.end(), i) == m.end()) m.push_back(i);
}

void StaticMembership::join(IfIndex ifindex, const Nla& group) {
    Group& g = groups_[group];
    if (std::find(g.any.begin(), g.any.end(), ifindex) != g.any.end()) return;
    g.any.push_back(ifindex);
    for (const auto& [source, list] : g.by)
        merge(g, source);
}

void StaticMembership::leave(IfIndex ifindex, const Nla& group) {
    auto it = groups_.find(group);
    if (it == groups_.end()) return;
    std::erase(it->second.any, ifindex);
    for (const auto& [source, list] : it->second.by)
        merge(it->second, source);
}

void StaticMembership::join(IfIndex ifindex, const Nla& group, const Nla& source) {
    Group& g = groups_[group];
    std::vector<IfIndex>& list = g.by[source];
    if (std::find(list.begin(), list.end(), ifindex) != list.end()) return;
    list.push_back(ifindex);
    merge(g, source);
}

const std::vector<IfIndex>& StaticMembership::members(const Nla& source, const Nla& group) const {
    static const std::vector<IfIndex> kNone;
    const auto g = groups_.find(group);
    if (g == groups_.end()) return kNone;
    const auto own = g->second.merged.find(source);
    return own == g->second.merged.end() ? g->second.any : own->second;
}

bool forward_unicast(const Network& net, NodeId node, const Arrival& a, Bytes pgm, Output& out,
                     ForwardCounters& counters) {
    auto route = net.route(node, a.ip.destination);
    if (!route || route->ifindex == a.ifindex) {
        counters.unroutable.add(type_code(pgm), pgm.size());
        return false;
    }
    auto t = next_hop_transmit(a, pgm, counters);
    if (!t) return false;
    t->ifindex = route->ifindex;
    out.add(*t, pgm);
    counters.forwarded.add(type_code(pgm), pgm.size());
    return true;
}

void forward_multicast(const StaticMembership& membership, const Arrival& a, Bytes pgm, Output& out,
                       ForwardCounters& counters) {
    auto t = next_hop_transmit(a, pgm, counters);
    if (!t) return;
    for (IfIndex i : membership.members(a.ip.source, a.ip.destination)) {
        if (i == a.ifindex) continue;
        t->ifindex = i;
        out.add(*t, pgm);
        counters.forwarded.add(type_code(pgm), pgm.size());
    }
}

MulticastRouterNode::MulticastRouterNode(Network& net, std::string name)
    : net_(net), id_(net.add_node(*this, std::move(name), /*forwards=*/true)) {}

void MulticastRouterNode::on_packet(const Arrival& a, Bytes pgm, Time, Output& out) {
    if (a.ip.destination.is_multicast()) {
        // Reverse-path check: without it a copy circles a loop until its TTL runs out.
        const auto up = net_.route(id_, a.ip.source);
        if (!up || up->ifindex != a.ifindex) {
            counters_.rpf_failed.add(type_code(pgm), pgm.size());
            return;
        }
        forward_multicast(membership_, a, pgm, out, counters_);
    } else if (net_.is_local(id_, a.ip.destination)) {
        ++local_;
    } else {
        forward_unicast(net_, id_, a, pgm, out, counters_);
    }
}

}  // namespace pgm::sim
