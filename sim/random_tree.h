// DOC: Random distribution trees for pgmsim (`--random-routers N`): a source, a tree of N
// routers whose fan-outs are drawn from a range, and receivers behind the routers that have
// no router below them, each on its own link or all of a router's on one LAN. The result is
// an EdgeList (sim/edge_list.h), so a random tree runs as any edge-list topology does (shape
// Graph) and can be written out with to_text() to be read, edited and run again.
//
// Shape: S ── R0; routers are placed breadth first: each router, in turn, gets a number of
// child routers drawn uniformly from [min_fanout, max_fanout] (fewer when the total would
// pass `routers`; a router that draws 0 is a leaf), until all `routers` are placed — a
// min_fanout of 0 gives uneven trees whose leaves sit at different depths. Should every
// router placed so far have drawn before all are placed (they drew too few), the
// lowest-numbered router with fewer than max_fanout children gets one more (R0 first), and
// placing goes on from the new router, so that the tree always has exactly `routers`
// routers. Each leaf router then gets receivers drawn
// uniformly from [min_receivers, max_receivers]. Same spec, same tree (splitmix64 from the
// seed). A pure function: no state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "sim/edge_list.h"

namespace pgm::sim {

struct RandomTreeSpec {
    int routers = 20;
    int min_fanout = 1;  // child routers per router
    int max_fanout = 4;
    int min_receivers = 1;  // per leaf router
    int max_receivers = 8;
    bool leaf_lan = false;  // a leaf router's receivers share one LAN
    std::uint64_t seed = 1;
};

// A reason the spec cannot make a tree ("routers must be 1 to 100000"), or nullopt. The
// bounds keep every router within router::kMaxInterfaces (64) links and a leaf's LAN at
// 10,000 receivers at most. Depth is not bounded here: a minimum fan-out of 0 or 1 can make
// long chains, and pgmsim refuses a topology deeper than the source's TTL reaches
// (max_receiver_hops() in sim/edge_list.h).
std::optional<std::string> check(const RandomTreeSpec& spec);

// The tree (routers named R0..R<N-1> in placement order, receivers r0.., the source S).
// Precondition: check(spec) is nullopt.
EdgeList random_tree(const RandomTreeSpec& spec);

}  // namespace pgm::sim
