// DOC: Tests of pgmsim's topologies beyond the regular tree: random trees (sim/random_tree.h:
// the spec's bounds hold, the same seed gives the same tree, every tree is a valid edge list
// that runs to completion), edge lists written back (to_text round trip), and routers with
// options of their own (edge-list settings -> ScenarioConfig::router_configs), a DLR placed
// on one router included.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "sim/edge_list.h"
#include "sim/random_tree.h"
#include "sim/scenario.h"

namespace pgm::sim {
namespace {

using namespace std::chrono_literals;

// S - A - {B, C}; B - C; r1 behind C; r2 on a LAN with B and C: 3 links to r1 (S-A, A-C,
// C-r1), 3 to r2 (S-A, A-B, lan).
const char* const kLoopGraph =
    "source S\nrouter A B C\nreceiver r1 r2\nlink S A\nlink A B\nlink A C\nlink B C\n"
    "link C r1\nlan B C r2\n";

// Per node of the tree: its child routers and its receivers (by index into nodes).
struct TreeShape {
    std::vector<int> child_routers;
    std::vector<int> receivers;
    std::vector<int> links;
};

TreeShape shape_of(const EdgeList& l) {
    TreeShape t;
    t.child_routers.assign(l.nodes.size(), 0);
    t.receivers.assign(l.nodes.size(), 0);
    t.links.assign(l.nodes.size(), 0);
    for (const EdgeList::Link& link : l.links) {
        for (std::size_t n : link.nodes)
            ++t.links[n];
        // The first node of every link the generator writes is the upper one.
        const std::size_t up = link.nodes[0];
        for (std::size_t i = 1; i < link.nodes.size(); ++i) {
            const std::size_t n = link.nodes[i];
            if (l.nodes[n].kind == EdgeNodeKind::Router && l.nodes[up].kind == EdgeNodeKind::Router)
                ++t.child_routers[up];
            if (l.nodes[n].kind == EdgeNodeKind::Receiver) ++t.receivers[up];
        }
    }
    return t;
}

TEST(RandomTree, HasExactlyTheRoutersAndFanOutsAndReceiversWithinTheRanges) {
    for (std::uint64_t seed = 1; seed <= 20; ++seed) {
        RandomTreeSpec spec;
        spec.routers = 40;
        spec.min_fanout = 2;
        spec.max_fanout = 5;
        spec.min_receivers = 3;
        spec.max_receivers = 9;
        spec.seed = seed;
        ASSERT_FALSE(check(spec));
        const EdgeList l = random_tree(spec);
        const TreeShape t = shape_of(l);
        int routers = 0, leaves = 0, receivers = 0;
        for (std::size_t i = 0; i < l.nodes.size(); ++i) {
            if (l.nodes[i].kind == EdgeNodeKind::Receiver) ++receivers;
            if (l.nodes[i].kind != EdgeNodeKind::Router) continue;
            ++routers;
            EXPECT_LE(t.child_routers[i], 5) << l.nodes[i].name;
            if (t.child_routers[i] == 0) {
                ++leaves;
                EXPECT_GE(t.receivers[i], 3) << l.nodes[i].name;
                EXPECT_LE(t.receivers[i], 9) << l.nodes[i].name;
            } else {
                EXPECT_EQ(t.receivers[i], 0) << l.nodes[i].name << ": receivers on leaves only";
            }
        }
        EXPECT_EQ(routers, 40);
        EXPECT_GE(receivers, 3 * leaves);
        EXPECT_LE(receivers, 9 * leaves);
        // Every router but the last ones placed drew at least min_fanout: at most one router
        // (the one the count ran out in) has children below the minimum besides the leaves.
        int short_of_minimum = 0;
        for (std::size_t i = 0; i < l.nodes.size(); ++i)
            if (l.nodes[i].kind == EdgeNodeKind::Router && t.child_routers[i] > 0 &&
                t.child_routers[i] < 2)
                ++short_of_minimum;
        EXPECT_LE(short_of_minimum, 1);
        // A valid edge list: parsing it back checks reachability and the single source.
        const EdgeListResult back = parse_edge_list(to_text(l));
        ASSERT_TRUE(back.list) << back.error;
        EXPECT_EQ(to_text(*back.list), to_text(l));
    }
}

TEST(RandomTree, SameSeedSameTreeAndAnotherSeedAnotherTree) {
    RandomTreeSpec spec;
    spec.routers = 30;
    spec.min_fanout = 0;
    spec.max_fanout = 4;
    spec.seed = 5;
    const std::string a = to_text(random_tree(spec));
    EXPECT_EQ(to_text(random_tree(spec)), a);
    spec.seed = 6;
    EXPECT_NE(to_text(random_tree(spec)), a);
}

// A minimum fan-out of 0 lets routers draw no children; the tree still gets all its
// routers (the generator hands one child to the first router with room).
TEST(RandomTree, ZeroMinimumFanOutStillPlacesEveryRouter) {
    for (std::uint64_t seed = 1; seed <= 50; ++seed) {
        RandomTreeSpec spec;
        spec.routers = 25;
        spec.min_fanout = 0;
        spec.max_fanout = 1;
        spec.seed = seed;
        const EdgeList l = random_tree(spec);
        EXPECT_EQ(
            std::count_if(l.nodes.begin(), l.nodes.end(),
                          [](const EdgeList::Node& n) { return n.kind == EdgeNodeKind::Router; }),
            25);
        const TreeShape t = shape_of(l);
        for (std::size_t i = 0; i < l.nodes.size(); ++i)
            EXPECT_LE(t.child_routers[i], 1) << l.nodes[i].name << ", seed " << seed;
        ASSERT_TRUE(parse_edge_list(to_text(l)).list);
    }
}

TEST(RandomTree, LeafLanPutsALeafsReceiversOnOneLan) {
    RandomTreeSpec spec;
    spec.routers = 10;
    spec.min_receivers = 100;
    spec.max_receivers = 100;
    spec.leaf_lan = true;
    const EdgeList l = random_tree(spec);
    const TreeShape t = shape_of(l);
    for (std::size_t i = 0; i < l.nodes.size(); ++i)
        EXPECT_LE(t.links[i], 64) << l.nodes[i].name;
    EXPECT_TRUE(std::any_of(l.links.begin(), l.links.end(), [](const EdgeList::Link& k) {
        return k.lan && k.nodes.size() == 101;
    }));
}

TEST(RandomTree, SpecsThatCannotMakeATreeAreRefused) {
    const std::vector<std::pair<RandomTreeSpec, std::string>> cases{
        {{0, 1, 4, 1, 8, false, 1}, "routers must be 1 to 100000"},
        {{10, 3, 2, 1, 8, false, 1}, "fan-out must be MIN-MAX with 0 <= MIN <= MAX and MAX >= 1"},
        {{10, 0, 0, 1, 8, false, 1}, "fan-out must be MIN-MAX with 0 <= MIN <= MAX and MAX >= 1"},
        {{10, 1, 4, 5, 4, false, 1},
         "receivers per leaf must be MIN-MAX with 0 <= MIN <= MAX and MAX >= 1"},
        {{10, 1, 64, 1, 8, false, 1}, "fan-out above 63 (a router serves at most 64 interfaces)"},
        {{10, 1, 4, 1, 64, false, 1},
         "more than 63 receivers per leaf on their own links (a router serves at most 64 "
         "interfaces; put them on a LAN)"},
    };
    for (const auto& [spec, error] : cases)
        EXPECT_EQ(check(spec).value_or("accepted"), error);
    EXPECT_FALSE(check({10, 1, 4, 1, 64, true, 1}));  // on a LAN
}

TEST(RandomTree, RunsToCompletionWithAndWithoutNetworkElements) {
    RandomTreeSpec spec;
    spec.routers = 15;
    spec.min_fanout = 0;
    spec.max_fanout = 3;
    spec.max_receivers = 4;
    spec.seed = 3;
    for (bool ne : {true, false}) {
        ScenarioConfig c;
        c.shape = ScenarioShape::Graph;
        c.graph = random_tree(spec);
        c.network_elements = ne;
        c.loss = 0.02;
        c.stream.apdus = 200;
        Scenario s(c);
        ASSERT_TRUE(s.run()) << (ne ? "with" : "without");
        const ScenarioResult r = s.result();
        EXPECT_EQ(r.routers, 15u);
        EXPECT_EQ(r.receivers_complete, r.receivers);
        EXPECT_EQ(r.mismatched_apdus, 0u);
    }
}

// A chain deeper than the tree's 16 hops: the Graph source's TTL (255) reaches its end.
// Before, with TTL 16, nothing reached the receiver behind 16 routers.
TEST(RandomTree, ALongChainIsReachedEndToEnd) {
    RandomTreeSpec spec;
    spec.routers = 40;
    spec.min_fanout = 1;
    spec.max_fanout = 1;
    spec.min_receivers = 1;
    spec.max_receivers = 1;
    ScenarioConfig c;
    c.shape = ScenarioShape::Graph;
    c.graph = random_tree(spec);
    EXPECT_EQ(max_receiver_hops(c.graph), 41);  // the source, 40 routers in a row, the receiver
    c.stream.apdus = 50;
    c.link_delay = 1ms;
    Scenario s(c);
    ASSERT_TRUE(s.run());
    EXPECT_EQ(s.result().receivers_complete, 1u);
}

TEST(EdgeList, MaxReceiverHopsCountsLinksAlongTheShortestPathsThroughRouters) {
    EXPECT_EQ(max_receiver_hops(*parse_edge_list(kLoopGraph).list), 3);
    EXPECT_EQ(max_receiver_hops(*parse_edge_list("source S\nreceiver r\nlan S r\n").list), 1);
    EXPECT_EQ(max_receiver_hops(*parse_edge_list("source S\nrouter R\nlink S R\n").list), 0);
}

TEST(EdgeList, RouterSettingsApplyToEveryRouterOnTheirLine) {
    const EdgeListResult r = parse_edge_list(
        "source S\nrouter A B timers.rdata-hold=0s dlr.group=239.1.2.3\nrouter C\n"
        "link S A\nlink A B\nlink B C\n");
    ASSERT_TRUE(r.list) << r.error;
    for (std::size_t i : {1u, 2u}) {
        const auto& s = r.list->nodes[i].settings;
        ASSERT_EQ(s.size(), 2u) << r.list->nodes[i].name;
        EXPECT_EQ(s[0].key, "timers.rdata-hold");
        EXPECT_EQ(s[0].value, "0s");
        EXPECT_EQ(s[1].key, "dlr.group");
        EXPECT_EQ(s[1].value, "239.1.2.3");
        EXPECT_EQ(s[1].line, 2);
    }
    EXPECT_TRUE(r.list->nodes[3].settings.empty());
    // Written back and read again: the same list.
    const EdgeListResult back = parse_edge_list(to_text(*r.list));
    ASSERT_TRUE(back.list) << back.error;
    EXPECT_EQ(to_text(*back.list), to_text(*r.list));
    EXPECT_NE(to_text(*r.list).find("router A timers.rdata-hold=0s dlr.group=239.1.2.3\n"),
              std::string::npos);
}

TEST(EdgeList, MisplacedRouterSettingsAreClearErrors) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"source S\nreceiver r x=1\n", "line 2: unknown setting 'x' (groups=ADDRESS,...)"},
        {"source S x=1\n", "line 1: unknown setting 'x' (group=ADDRESS)"},
        {"source S\nrouter x=1 R\n", "line 2: 'x=1' is not a node name"},
        {"source S\nrouter R x=1 Q\n", "line 2: node name 'Q' after settings (names first)"},
        {"source S\nrouter R =1\n", "line 2: '=1' is not KEY=VALUE"},
        {"source S\nrouter R x=\n", "line 2: 'x=' is not KEY=VALUE"},
    };
    for (const auto& [text, error] : cases) {
        const EdgeListResult r = parse_edge_list(text);
        EXPECT_FALSE(r.list) << text;
        EXPECT_EQ(r.error, error) << text;
    }
}

// S - A - B - {LAN of 6 receivers}, 3 % loss on the LAN only: with B a DLR for the group, the
// LAN's losses are repaired from B's cache and the source hears no NAK; A, with the default
// options, is no DLR. Without B's own options the source repairs them.
TEST(ScenarioRouterConfigs, ADlrPlacedOnOneRouterRepairsItsSubtree) {
    const EdgeListResult g = parse_edge_list(
        "source S\nrouter A B\nreceiver r1 r2 r3 r4 r5 r6\nlink S A loss=0\nlink A B loss=0\n"
        "lan B r1 r2 r3 r4 r5 r6 loss=3\n");
    ASSERT_TRUE(g.list) << g.error;
    std::map<bool, ScenarioResult> results;
    for (bool dlr_on_b : {false, true}) {
        ScenarioConfig c;
        c.shape = ScenarioShape::Graph;
        c.graph = *g.list;
        c.stream.apdus = 300;
        if (dlr_on_b) {
            router::RouterConfig b;
            b.dlr.scopes.push_back(router::DlrScope{Nla::ipv4({239, 1, 2, 3}), 32, std::nullopt});
            c.router_configs["B"] = b;
        }
        Scenario s(c);
        ASSERT_TRUE(s.run());
        const ScenarioResult r = s.result();
        EXPECT_EQ(r.receivers_complete, 6u);
        ASSERT_EQ(s.network_elements().size(), 2u);
        for (const auto& ne : s.network_elements()) {
            const std::string& name = s.network().name(ne->id());
            EXPECT_EQ(ne->router().config().dlr.enabled(), dlr_on_b && name == "B") << name;
        }
        results[dlr_on_b] = r;
    }
    EXPECT_GT(results[false].source_nak_packets, 0u);
    EXPECT_EQ(results[true].source_nak_packets, 0u);
    EXPECT_GT(results[true].router_totals[router::Counter::DlrRdataMsgsSent], 0u);
    EXPECT_EQ(results[false].router_totals[router::Counter::DlrRdataMsgsSent], 0u);
}

}  // namespace
}  // namespace pgm::sim
