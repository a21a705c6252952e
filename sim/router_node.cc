#include "sim/router_node.h"

namespace pgm::sim {

RouterNode::RouterNode(Network& net, std::string name, const router::RouterConfig& config)
    : net_(net),
      id_(net.add_node(*this, std::move(name), /*forwards=*/true)),
      router_(config, *this) {}

void RouterNode::on_packet(const Arrival& a, Bytes pgm, Time now, Output& out) {
    if (!a.ip.destination.is_multicast() && !net_.is_local(id_, a.ip.destination)) {
        forward_unicast(net_, id_, a, pgm, out, transit_);
        return;
    }
    router_.on_packet(a, pgm, now, out);
}

std::optional<Nla> RouterNode::interface_address(IfIndex ifindex, Nla::Family family) const {
    auto address = net_.address(id_, ifindex);
    if (!address || address->family() != family) return std::nullopt;
    return address;
}

std::optional<IfIndex> RouterNode::route_interface(const Nla& address) const {
    auto r = net_.route(id_, address);
    if (!r) return std::nullopt;
    return r->ifindex;
}

void RouterNode::group_members(const Nla& source, const Nla& group,
                               std::vector<IfIndex>& out) const {
    const auto& members = membership_.members(source, group);
    out.assign(members.begin(), members.end());
}

}  // namespace pgm::sim
