// DOC: Test helper: builds virtual networks for the scenario and simulator tests. Owns the
// Network and the nodes in it (scripted hosts, PGM routers, plain multicast routers) and
// hands out addresses from one plan: segment k is the subnet 10.(k/256).(k%256).0/24 and
// its attachments get .1, .2, ... in the order they attach. Lives as long as one test.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "router/config.h"
#include "sim/ip_router.h"
#include "sim/network.h"
#include "sim/router_node.h"
#include "sim/scripted_host.h"

namespace pgm::sim::simtest {

inline Nla ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return Nla::ipv4(std::array<std::uint8_t, 4>{a, b, c, d});
}

// One end of a segment: a node's interface and its address.
struct Port {
    NodeId node = 0;
    IfIndex ifindex = 0;
    Nla address;
    AttachmentId attachment = kAny;
    SegmentId segment = 0;
};

class Topology {
  public:
    explicit Topology(std::uint64_t seed = 1) : net(seed) {}

    ScriptedHost& host(const std::string& name, ScriptedHost::Options options = {}) {
        return hosts_.emplace_back(net, name, options);
    }
    RouterNode& router(const std::string& name, const router::RouterConfig& config) {
        return routers_.emplace_back(net, name, config);
    }
    MulticastRouterNode& cloud(const std::string& name) { return clouds_.emplace_back(net, name); }

    SegmentId segment(SegmentKind kind, const std::string& name) {
        next_host_.push_back(1);
        return net.add_segment(kind, name);
    }
    Port attach(NodeId node, SegmentId s) {
        const auto host = next_host_[s]++;
        const Nla address =
            ipv4(10, static_cast<std::uint8_t>(s >> 8), static_cast<std::uint8_t>(s & 0xFF), host);
        const IfIndex i = net.attach(node, s, address);
        return Port{node, i, address, net.attachment(node, i), s};
    }
    struct Link {
        SegmentId segment;
        Port a;
        Port b;
    };
    Link link(NodeId a, NodeId b, const std::string& name) {
        const SegmentId s = segment(SegmentKind::PointToPoint, name);
        Port pa = attach(a, s);
        return Link{s, pa, attach(b, s)};
    }

    std::deque<RouterNode>& routers() { return routers_; }
    std::deque<ScriptedHost>& hosts() { return hosts_; }

    Network net;

  private:
    std::deque<ScriptedHost> hosts_;
    std::deque<RouterNode> routers_;
    std::deque<MulticastRouterNode> clouds_;
    std::vector<std::uint8_t> next_host_;
};

}  // namespace pgm::sim::simtest
