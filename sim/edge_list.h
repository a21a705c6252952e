// DOC: The edge-list topology file of pgmsim (`--edges FILE`) and its parser: which nodes
// exist (sources, routers, receivers), which links and LANs join them, each with an
// optional delay and loss of its own, and which group each source sends to and each
// receiver joins. Scenario (shape Graph) builds the virtual network from it. A value type;
// parse_edge_list() owns nothing beyond its result.
//
// Format, one statement per line; `#` starts a comment; blank lines are ignored:
//   source NAME [group=ADDRESS]      at least one; one session each (default group 239.1.2.3)
//   router NAME [NAME ...] [KEY=VALUE ...]   settings for every router named on the line
//   receiver NAME [NAME ...] [groups=ADDRESS,ADDRESS...]   default: every source's group
//   link A B [delay=MS] [loss=PERCENT]         a point-to-point link
//   lan A B C ... [delay=MS] [loss=PERCENT]    a LAN, at least two nodes
// At most kMaxSources sources. Names are declared before use and once; each source and
// each receiver is on exactly one
// link or LAN, and every receiver is reachable through routers from every source of the
// groups it joins, each of which some source sends to. Groups are IPv4 multicast
// addresses. delay= is 0 to 60000 ms, loss= 0 to 100 percent (finite numbers). Without
// delay= / loss= a link takes the scenario's --delay-ms / --loss.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "protocol/nla.h"

namespace pgm::sim {

enum class EdgeNodeKind : std::uint8_t { Source, Router, Receiver };

struct EdgeList {
    struct Setting {
        std::string key;
        std::string value;
        int line = 0;
    };
    struct Node {
        std::string name;
        EdgeNodeKind kind = EdgeNodeKind::Router;
        std::vector<Setting> settings;  // routers only, in file order
        // A source's group (at most one) or the groups a receiver joins; empty: the
        // default (groups_of()).
        std::vector<Nla> groups;
    };
    struct Link {
        std::vector<std::size_t> nodes;  // indexes into `nodes`
        bool lan = false;
        std::optional<double> delay_ms;
        std::optional<double> loss_percent;
        int line = 0;
    };
    std::vector<Node> nodes;
    std::vector<Link> links;
};

struct EdgeListResult {
    std::optional<EdgeList> list;
    std::string error;  // "line N: what is wrong" (or without a line: whole-file problems)
};

EdgeListResult parse_edge_list(const std::string& text);

// The `g`-th group of a run (0-based): 239.1.2.3, 239.1.2.4, ... (pgmsim --groups; group 0
// is the group of a single-session run and of a source without group=).
Nla session_group(std::size_t g);

// The group source `node` sends to, or the groups receiver `node` joins (its own, else
// every source's group, in source order, once each); empty for a router.
std::vector<Nla> groups_of(const EdgeList& list, std::size_t node);

// The sources, in declaration order.
std::vector<std::size_t> sources_of(const EdgeList& list);

// Links from `source` to every node along the shortest paths, through routers only (hosts
// do not forward); -1 where it cannot reach.
std::vector<int> hops_from_source(const EdgeList& list, std::size_t source);

// The most sources a run takes (pgmsim --sources, an edge list's source lines): source k
// sends from data-source port 7000 + k (Scenario).
inline constexpr std::size_t kMaxSources = 1000;

// The farthest receiver of any source: the most links between a source and a receiver
// that joins its group, along the shortest paths (through routers only); hops 0 without
// receivers. A packet a source sends with TTL T reaches a receiver h links away only if
// h <= T (each router on the way takes one).
struct FarthestReceiver {
    int hops = 0;
    std::size_t source = 0;    // index into nodes
    std::size_t receiver = 0;  // index into nodes (with hops 0: meaningless)
};
FarthestReceiver farthest_receiver(const EdgeList& list);
int max_receiver_hops(const EdgeList& list);  // farthest_receiver(list).hops

// Several sessions on `list` (pgmsim --sources/--groups with --random-routers): sources
// beyond its first, named S2, S3, ..., each on its own link to a router: the routers named
// in `at` in order, then routers drawn from `seed`; source i (declaration order, 0-based)
// sends to session_group(i % groups) and receiver k joins groups k % groups .. (k +
// per_receiver - 1) % groups. The same rules as Scenario's for a tree or star. A reason
// it cannot be (a name in `at` that is no router, more groups than receivers, ...) leaves
// `list` as it was. Precondition: the list has one source and at least one router.
std::optional<std::string> add_sessions(EdgeList& list, int sources, int groups, int per_receiver,
                                        const std::vector<std::string>& at, std::uint64_t seed);

// The list in the file format, one statement per line (nodes, then links in order);
// parse_edge_list(to_text(l)) gives `l` back, line numbers aside.
std::string to_text(const EdgeList& list);

}  // namespace pgm::sim
