// DOC: `RouterNode`, the PGM network-element core (router::Router) as a node of the virtual
// network. Owns the Router and implements its Environment from the simulation: interface
// addresses from the node's attachments, routes from Network::route() (static or computed),
// group members from static per-interface membership set by the test (the IGMP state a
// daemon would read).
//
// Like the daemon's dataplane, the node hands the core every multicast packet and every
// unicast packet addressed to one of its own addresses; other unicast (an SPMR on its way to
// the source, a NAK to a PGM router further up) is routed as plain IP and counted in
// transit(), so link counters minus transit() equal the core's PGM-MIB counters.
//
// Life cycle: constructed with its network (registers itself as a forwarding node), then
// attached and given memberships by the test; lives as long as the network runs.
#pragma once

#include <string>
#include <vector>

#include "router/router.h"
#include "sim/ip_router.h"
#include "sim/network.h"

namespace pgm::sim {

class RouterNode : public Node, private router::Environment {
  public:
    RouterNode(Network& net, std::string name, const router::RouterConfig& config = {});
    RouterNode(const RouterNode&) = delete;
    RouterNode& operator=(const RouterNode&) = delete;

    NodeId id() const { return id_; }
    router::Router& router() { return router_; }
    const router::Router& router() const { return router_; }
    void join(IfIndex ifindex, const Nla& group) { membership_.join(ifindex, group); }
    // (S, G): only `source`'s traffic of `group` (StaticMembership).
    void join(IfIndex ifindex, const Nla& group, const Nla& source) {
        membership_.join(ifindex, group, source);
    }
    void leave(IfIndex ifindex, const Nla& group) { membership_.leave(ifindex, group); }
    // Unicast packets routed through without PGM processing.
    const ForwardCounters& transit() const { return transit_; }

    void on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) override;
    void on_timer(Time now, Output& out) override { router_.on_timer(now, out); }
    Time next_deadline() const override { return router_.next_deadline(); }

  private:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family family) const override;
    std::optional<IfIndex> route_interface(const Nla& address) const override;
    void group_members(const Nla& source, const Nla& group,
                       std::vector<IfIndex>& out) const override;

    Network& net_;
    NodeId id_;
    StaticMembership membership_;
    ForwardCounters transit_;
    router::Router router_;
};

}  // namespace pgm::sim
