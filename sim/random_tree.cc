#include "sim/random_tree.h"

#include <cstddef>
#include <vector>

#include "protocol/random.h"

namespace pgm::sim {

namespace {

constexpr int kMaxRouters = 100'000;
// A router's links: its upstream link, child routers and receivers on their own links.
constexpr int kMaxLinksPerRouter = 64;
// Receivers on one leaf's LAN (a million-receiver run is not for one machine anyway).
constexpr int kMaxLanReceivers = 10'000;

}  // namespace

std::optional<std::string> check(const RandomTreeSpec& s) {
    if (s.routers < 1 || s.routers > kMaxRouters)
        return "routers must be 1 to " + std::to_string(kMaxRouters);
    if (s.min_fanout < 0 || s.max_fanout < s.min_fanout || s.max_fanout < 1)
        return "fan-out must be MIN-MAX with 0 <= MIN <= MAX and MAX >= 1";
    if (s.min_receivers < 0 || s.max_receivers < s.min_receivers || s.max_receivers < 1)
        return "receivers per leaf must be MIN-MAX with 0 <= MIN <= MAX and MAX >= 1";
    // The upstream link and the children; a leaf's receivers on their own links.
    if (s.max_fanout > kMaxLinksPerRouter - 1)
        return "fan-out above " + std::to_string(kMaxLinksPerRouter - 1) +
               " (a router serves at most 64 interfaces)";
    if (!s.leaf_lan && s.max_receivers > kMaxLinksPerRouter - 1)
        return "more than " + std::to_string(kMaxLinksPerRouter - 1) +
               " receivers per leaf on their own links (a router serves at most 64 interfaces; "
               "put them on a LAN)";
    if (s.max_receivers > kMaxLanReceivers)
        return "more than " + std::to_string(kMaxLanReceivers) + " receivers per leaf";
    return std::nullopt;
}

EdgeList random_tree(const RandomTreeSpec& s) {
    std::uint64_t state = s.seed;
    // Uniform in [lo, hi] (check() bounds both); the modulo bias is below 2^-40 here.
    auto draw = [&state](int lo, int hi) {
        const auto span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo) + 1;
        return lo + static_cast<int>(splitmix64(state) % span);
    };
    EdgeList list;
    auto node = [&list](std::string name, EdgeNodeKind kind) {
        list.nodes.push_back(EdgeList::Node{std::move(name), kind, {}, {}});
        return list.nodes.size() - 1;
    };
    auto link = [&list](std::vector<std::size_t> nodes, bool lan) {
        EdgeList::Link l;
        l.nodes = std::move(nodes);
        l.lan = lan;
        list.links.push_back(std::move(l));
    };
    const std::size_t source = node("S", EdgeNodeKind::Source);
    std::vector<std::size_t> routers{node("R0", EdgeNodeKind::Router)};
    link({source, routers[0]}, false);
    std::vector<int> children(1, 0);  // per router placed: child routers
    for (std::size_t next = 0; static_cast<int>(routers.size()) < s.routers; ++next) {
        // Every router placed so far drew its children and the tree is short: the first
        // router with room takes one more (the loop then goes on from it).
        if (next == routers.size()) {
            next = 0;
            while (children[next] >= s.max_fanout)
                ++next;
            const std::size_t r = node("R" + std::to_string(routers.size()), EdgeNodeKind::Router);
            link({routers[next], r}, false);
            routers.push_back(r);
            children.push_back(0);
            ++children[next];
            next = routers.size() - 2;  // the loop's ++next: the new router draws next
            continue;
        }
        const int want = draw(s.min_fanout, s.max_fanout);
        for (int k = 0; k < want && static_cast<int>(routers.size()) < s.routers; ++k) {
            const std::size_t r = node("R" + std::to_string(routers.size()), EdgeNodeKind::Router);
            link({routers[next], r}, false);
            routers.push_back(r);
            children.push_back(0);
            ++children[next];
        }
    }
    std::size_t receivers = 0;
    for (std::size_t i = 0; i < routers.size(); ++i) {
        if (children[i] != 0) continue;
        const int n = draw(s.min_receivers, s.max_receivers);
        std::vector<std::size_t> lan{routers[i]};
        for (int k = 0; k < n; ++k) {
            const std::size_t r = node("r" + std::to_string(receivers++), EdgeNodeKind::Receiver);
            if (s.leaf_lan)
                lan.push_back(r);
            else
                link({routers[i], r}, false);
        }
        if (s.leaf_lan && lan.size() > 1) link(std::move(lan), true);
    }
    return list;
}

}  // namespace pgm::sim
