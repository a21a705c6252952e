// DOC: The edge-list topology file of pgmsim (`--edges FILE`) and its parser: which nodes
// exist (one source, routers, receivers) and which links and LANs join them, each with an
// optional delay and loss of its own. Scenario (shape Graph) builds the virtual network from
// it. A value type; parse_edge_list() owns nothing beyond its result.
//
// Format, one statement per line; `#` starts a comment; blank lines are ignored:
//   source NAME                      exactly one
//   router NAME [NAME ...] [KEY=VALUE ...]   settings for every router named on the line
//   receiver NAME [NAME ...]
//   link A B [delay=MS] [loss=PERCENT]         a point-to-point link
//   lan A B C ... [delay=MS] [loss=PERCENT]    a LAN, at least two nodes
// Names are declared before use and once; the source and each receiver are on exactly one
// link or LAN, and every receiver is reachable from the source through routers. delay= is
// 0 to 60000 ms, loss= 0 to 100 percent (finite numbers). Without delay= / loss= a link
// takes the scenario's --delay-ms / --loss.
#pragma once

#include <optional>
#include <string>
#include <vector>

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

// The most links between the source and a receiver along the shortest paths (through
// routers only); 0 without receivers. A packet the source sends with TTL T reaches a
// receiver h links away only if h <= T (each router on the way takes one).
int max_receiver_hops(const EdgeList& list);

// The list in the file format, one statement per line (nodes, then links in order);
// parse_edge_list(to_text(l)) gives `l` back, line numbers aside.
std::string to_text(const EdgeList& list);

}  // namespace pgm::sim
