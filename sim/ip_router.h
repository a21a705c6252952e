// DOC: Plain IP forwarding in the virtual network: static group membership (what IGMP
// would report per interface), the unicast/multicast forwarding step shared by the router
// nodes, and `MulticastRouterNode`, a router that knows nothing of PGM (the "non-PGM
// cloud" of checklist §6 scenario 10).
//
// Life cycle: a node is constructed with its network (it registers itself as a forwarding
// node), attached to segments by the test, given memberships with join(); it then forwards
// every packet it is handed: unicast along Network::route(), multicast to the interfaces
// with members of the group (never back out of the arrival interface), TTL decremented,
// packets whose TTL runs out dropped and counted. Like a real multicast router it takes
// multicast only from the interface of its route towards the packet's source (the reverse-
// path check of PIM): a copy arriving elsewhere (a loop in the topology, a
// second forwarder on a LAN) is dropped and counted, so a graph with cycles cannot flood.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "sim/network.h"
#include "sim/node.h"

namespace pgm::sim {

// Per interface, (*, G) memberships (every source's traffic of the group: IGMPv2) and
// (S, G) ones (one source's only: IGMPv3 INCLUDE, PIM's (S, G) joins).
class StaticMembership {
  public:
    void join(IfIndex ifindex, const Nla& group);
    void leave(IfIndex ifindex, const Nla& group);
    void join(IfIndex ifindex, const Nla& group, const Nla& source);
    // Interfaces with members of `group` for traffic from `source`: the (*, G) ones, then
    // the (S, G) ones, each in the order they joined.
    const std::vector<IfIndex>& members(const Nla& source, const Nla& group) const;

  private:
    struct Group {
        std::vector<IfIndex> any;                          // (*, G)
        std::unordered_map<Nla, std::vector<IfIndex>> by;  // (S, G) as joined
        // Per source with (S, G) joins: `any` and its own, kept merged so that a look-up
        // on the forwarding path only finds (joins are set up once, looked up per packet).
        std::unordered_map<Nla, std::vector<IfIndex>> merged;
    };
    static void merge(Group& g, const Nla& source);
    std::unordered_map<Nla, Group> groups_;
};

// What one forwarding step did with a packet, per PGM type.
struct ForwardCounters {
    TypeCounters forwarded;    // copies sent
    TypeCounters ttl_expired;  // not forwarded: TTL would reach 0
    TypeCounters unroutable;   // unicast with no route
    TypeCounters rpf_failed;   // multicast not from the interface towards its source
};

// Forwards a unicast packet along the node's route, TTL decremented. False when dropped.
bool forward_unicast(const Network& net, NodeId node, const Arrival& a, Bytes pgm, Output& out,
                     ForwardCounters& counters);
// Forwards a multicast packet to the member interfaces other than the arrival one.
void forward_multicast(const StaticMembership& membership, const Arrival& a, Bytes pgm, Output& out,
                       ForwardCounters& counters);

class MulticastRouterNode : public Node {
  public:
    MulticastRouterNode(Network& net, std::string name);
    MulticastRouterNode(const MulticastRouterNode&) = delete;
    MulticastRouterNode& operator=(const MulticastRouterNode&) = delete;

    NodeId id() const { return id_; }
    StaticMembership& membership() { return membership_; }
    void join(IfIndex ifindex, const Nla& group) { membership_.join(ifindex, group); }
    void join(IfIndex ifindex, const Nla& group, const Nla& source) {
        membership_.join(ifindex, group, source);
    }
    const ForwardCounters& counters() const { return counters_; }
    // Unicast packets addressed to this node (it runs no protocol: they are dropped).
    std::uint64_t local_deliveries() const { return local_; }

    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) override;
    void on_timer(Time, Output&) override {}
    Time next_deadline() const override { return kNever; }

  private:
    Network& net_;
    NodeId id_;
    StaticMembership membership_;
    ForwardCounters counters_;
    std::uint64_t local_ = 0;
};

}  // namespace pgm::sim
