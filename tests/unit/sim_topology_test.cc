// DOC: Tests of pgmsim's topologies beyond the regular tree: random trees (sim/random_tree.h:
// the spec's bounds hold, the same seed gives the same tree, every tree is a valid edge list
// that runs to completion), edge lists written back (to_text round trip), and routers with
// options of their own (edge-list settings -> ScenarioConfig::router_configs), a DLR placed
// on one router included, and several sources and groups sharing the routers (sessions).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <stdexcept>
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

// `graph` run without loss, with or without network elements: for the tests of which
// receiver gets which session's packets, where no repair may blur the counts.
ScenarioConfig loss_free_graph_run(const EdgeList& graph, bool network_elements,
                                   std::uint32_t apdus) {
    ScenarioConfig c;
    c.shape = ScenarioShape::Graph;
    c.graph = graph;
    c.network_elements = network_elements;
    c.loss = 0.0;
    c.stream.apdus = apdus;
    return c;
}

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

// Three sources on two groups, sharing three routers: A (on R1) and C (on R3) send to
// 239.1.2.3, B (on R2) to 239.1.2.4; each LAN holds receivers of the first group, of the
// second and of both, so every router and LAN carries every session. A fourth source, D on
// R2, sends to 239.1.2.5, joined by one receiver per LAN only: the receivers of two groups
// next to it must keep out its packets (their receiver listens to any group). Loss only on
// the R1-R2 and R1-R3 links, which several receivers of A, B and C sit behind: a loss there
// is NAKed by each of them (their NAK back-off, 5 ms, is shorter than the way to the
// source and back, so the source's NCF comes too late to hold them), which the network
// elements reduce to one NAK upstream.
const char* const kSessions =
    "source A group=239.1.2.3\nsource B group=239.1.2.4\nsource C group=239.1.2.3\n"
    "source D group=239.1.2.5\nrouter R1 R2 R3\n"
    "receiver a1 a2 a3 a4 groups=239.1.2.3\nreceiver b1 b2 b3 b4 groups=239.1.2.4\n"
    "receiver ab1 ab2 ab3 ab4 groups=239.1.2.4,239.1.2.3\nreceiver d1 d2 groups=239.1.2.5\n"
    "link A R1 loss=0\nlink B R2 loss=0\nlink C R3 loss=0\nlink D R2 loss=0\n"
    "link R1 R2 loss=4\nlink R1 R3 loss=4\n"
    "lan R2 a1 a2 b1 b2 ab1 ab2 d1 loss=0\nlan R3 a3 a4 b3 b4 ab3 ab4 d2 loss=0\n";

TEST(ScenarioSessions, EveryReceiverGetsEveryApduOfItsSessionsAndNoneOfTheOthers) {
    const EdgeListResult g = parse_edge_list(kSessions);
    ASSERT_TRUE(g.list) << g.error;
    const Nla g1 = Nla::ipv4({239, 1, 2, 3});
    const Nla g2 = Nla::ipv4({239, 1, 2, 4});
    std::map<bool, ScenarioResult> results;
    for (bool ne : {true, false}) {
        ScenarioConfig c;
        c.shape = ScenarioShape::Graph;
        c.graph = *g.list;
        c.network_elements = ne;
        c.stream.apdus = 400;
        c.link_delay = 5ms;
        c.receiver_nak_bo_ivl = 5ms;
        Scenario s(c);
        ASSERT_EQ(s.source_count(), 4u);
        EXPECT_EQ(s.group(0), g1);
        EXPECT_EQ(s.group(1), g2);
        EXPECT_EQ(s.group(2), g1);
        ASSERT_TRUE(s.run()) << (ne ? "with" : "without");
        ASSERT_EQ(s.receivers().size(), 14u);
        for (std::size_t i = 0; i < s.receivers().size(); ++i) {
            const ReceiverNode& r = s.receivers()[i];
            const std::string& name = s.network().name(r.id());
            // a*: A and C; b*: B; ab*: A, B and C; d*: D.
            const std::size_t sessions = name.starts_with("ab") ? 3 : name[0] == 'a' ? 2 : 1;
            EXPECT_EQ(s.receiver_groups(i).size(), name.starts_with("ab") ? 2u : 1u) << name;
            ASSERT_EQ(r.sessions(), sessions) << name;
            for (std::size_t k = 0; k < sessions; ++k) {
                EXPECT_EQ(r.tally(k).delivered_apdus, 400u) << name << " session " << k;
                EXPECT_EQ(r.tally(k).mismatched, 0u) << name;
                EXPECT_EQ(r.tally(k).lost_sqns, 0u) << name;
            }
            EXPECT_EQ(r.other_session_apdus(), 0u) << name;
            // Its receiver heard only the sessions of its groups: the host dropped the other
            // groups' packets that its LAN carries for its neighbours.
            EXPECT_EQ(r.receiver().stats().sources, sessions) << name;
        }
        const ScenarioResult r = s.result();
        ASSERT_EQ(r.sessions.size(), 4u);
        const char* const names[] = {"A", "B", "C", "D"};
        for (std::size_t k = 0; k < 4; ++k) {
            const SessionResult& session = r.sessions[k];
            const std::size_t receivers = k == 3 ? 2 : 8;
            EXPECT_EQ(session.source, names[k]);
            EXPECT_EQ(session.group, k == 3 ? Nla::ipv4({239, 1, 2, 5}) : k == 1 ? g2 : g1);
            EXPECT_EQ(session.receivers, receivers) << names[k];
            EXPECT_EQ(session.receivers_complete, receivers) << names[k];
            EXPECT_TRUE(session.complete) << names[k];
            EXPECT_EQ(session.unrecoverable_sqns, 0u) << names[k];
            EXPECT_EQ(session.mismatched_apdus, 0u) << names[k];
            EXPECT_GT(session.source_nak_packets, 0u) << names[k];
            EXPECT_GT(session.source_link_rdata_bytes, 0u) << names[k];
            EXPECT_GT(session.completion, Duration::zero()) << names[k];
        }
        EXPECT_EQ(r.receivers_complete, 14u);
        EXPECT_EQ(r.other_session_apdus, 0u);
        // Each source's NAKs were its own session's: its protocol took every NAK packet
        // its link delivered (one sequence number or more each) and dropped none as
        // another session's or group's.
        for (const SessionResult& session : r.sessions) {
            EXPECT_GE(session.stats.naks_received, session.source_nak_packets) << session.source;
            EXPECT_EQ(session.stats.naks_ignored, 0u) << session.source;
            EXPECT_EQ(session.stats.packets_ignored, 0u) << session.source;
        }
        results[ne] = r;
    }
    // Per session, the network elements cut the NAKs reaching its source and the repairs
    // on its link by more than half (a loss behind R1 is NAKed by up to four receivers of
    // the session; seeds 1-5 give 0.18-0.38 for NAKs).
    for (std::size_t k = 0; k < 3; ++k) {
        EXPECT_LT(results[true].sessions[k].source_nak_packets * 2,
                  results[false].sessions[k].source_nak_packets)
            << "session " << k;
        EXPECT_LT(results[true].sessions[k].source_link_rdata_bytes * 2,
                  results[false].sessions[k].source_link_rdata_bytes)
            << "session " << k;
    }
    // The routers held every session at once.
    EXPECT_GE(results[true].router_totals[router::Counter::InOdata], 4u * 400u);
}

TEST(ScenarioSessions, SameSeedSameSessionsOnATreeWithSourcesBelowTheRoot) {
    auto run = [] {
        ScenarioConfig c;
        c.depth = 2;
        c.fanout = 3;
        c.sources = 3;
        c.groups = 2;
        c.source_routers = {"R2"};  // S2 on R2; S3 drawn
        c.loss = 0.02;
        c.stream.apdus = 200;
        Scenario s(c);
        EXPECT_EQ(s.source_count(), 3u);
        // Receiver k joins group k mod 2; source i sends to group i mod 2.
        for (std::size_t k = 0; k < s.receivers().size(); ++k)
            EXPECT_EQ(s.receiver_groups(k), std::vector<Nla>{session_group(k % 2)}) << k;
        EXPECT_EQ(s.group(1), session_group(1));
        EXPECT_EQ(s.group(2), session_group(0));
        EXPECT_TRUE(s.run());
        // Every receiver took a peer for each source of its group and for no other.
        for (const ReceiverNode& r : s.receivers())
            EXPECT_EQ(r.receiver().stats().sources, r.sessions()) << s.network().name(r.id());
        return s.result();
    };
    const ScenarioResult a = run();
    const ScenarioResult b = run();
    ASSERT_EQ(a.sessions.size(), 3u);
    EXPECT_EQ(a.sessions[0].receivers, 5u);  // r1, r3, ... r9 of 9
    EXPECT_EQ(a.sessions[1].receivers, 4u);
    EXPECT_EQ(a.sessions[2].receivers, 5u);
    for (std::size_t k = 0; k < 3; ++k) {
        EXPECT_TRUE(a.sessions[k].complete) << k;
        EXPECT_EQ(a.sessions[k].source_nak_packets, b.sessions[k].source_nak_packets) << k;
        EXPECT_EQ(a.sessions[k].source_link_rdata_bytes, b.sessions[k].source_link_rdata_bytes);
        EXPECT_EQ(a.sessions[k].completion, b.sessions[k].completion) << k;
    }
}

// One source with a group of its own (group=) goes through the single-session build
// (one forwarder per link): the routers join that group, not 239.1.2.3.
TEST(ScenarioSessions, OneSourceWithItsOwnGroupIsDelivered) {
    std::string text = kLoopGraph;
    text.replace(0, std::string("source S").size(), "source S group=239.9.9.9");
    const EdgeListResult g = parse_edge_list(text);
    ASSERT_TRUE(g.list) << g.error;
    for (bool ne : {true, false}) {
        Scenario s(loss_free_graph_run(*g.list, ne, 50));
        ASSERT_EQ(s.group(0), Nla::ipv4({239, 9, 9, 9}));
        EXPECT_TRUE(s.run()) << (ne ? "with" : "without");
        for (const ReceiverNode& r : s.receivers())
            EXPECT_EQ(r.tally(0).delivered_apdus, 50u) << s.network().name(r.id());
    }
}

// More sources on one group than a receiver's default peer limit (64): every receiver
// takes every one of them.
TEST(ScenarioSessions, MoreSourcesOnOneGroupThanTheDefaultPeerLimit) {
    ScenarioConfig c;
    c.depth = 2;
    c.fanout = 2;
    c.sources = 65;
    c.groups = 1;
    c.loss = 0.0;
    c.stream.apdus = 5;
    Scenario s(c);
    ASSERT_TRUE(s.run());
    for (const ReceiverNode& r : s.receivers()) {
        EXPECT_EQ(r.sessions(), 65u);
        EXPECT_EQ(r.receiver().stats().sources, 65u);
        EXPECT_EQ(r.receiver().stats().sources_refused, 0u);
    }
}

// Two sources of one group reaching a LAN through different routers: S1 through Ra,
// S2 through Rb. q behind Rb pulls S1 to Rb (over Ra-Rb), r on the LAN wants both. A
// membership per group would have Rb put S1 on the LAN as well as Ra; per (S, G) each
// source's packets cross the LAN once.
TEST(ScenarioSessions, EachSourceHasOneForwarderOnALanOfTwoRouters) {
    const EdgeListResult g = parse_edge_list(
        "source S1\nsource S2\nrouter Ra Rb\nreceiver r q\nlink S1 Ra\n"
        "link S2 Rb\nlink Ra Rb\nlan Ra Rb r\nlink Rb q\n");
    ASSERT_TRUE(g.list) << g.error;
    for (bool ne : {true, false}) {
        Scenario s(loss_free_graph_run(*g.list, ne, 50));
        ASSERT_TRUE(s.run()) << (ne ? "with" : "without");
        const ReceiverNode& r = s.receivers().at(0);
        ASSERT_EQ(s.network().name(r.id()), "r");
        const AttachmentCounters& lan = s.network().counters(s.network().attachment(r.id(), 1));
        EXPECT_EQ(lan.received.count(PacketType::Odata), 2u * 50u) << (ne ? "with" : "without");
    }
}

TEST(ScenarioSessions, SessionsATreeCannotHaveAreRefused) {
    const std::vector<std::pair<ScenarioConfig, std::string>> cases = [] {
        std::vector<std::pair<ScenarioConfig, std::string>> v;
        ScenarioConfig c;
        c.depth = 1;
        c.fanout = 2;
        c.sources = 2;
        c.groups = 3;
        v.emplace_back(c, "more groups (3) than sources (2): each group needs a source");
        c.sources = 3;
        v.emplace_back(c, "more groups (3) than receivers (2): a group would have none");
        c.groups = 2;
        c.groups_per_receiver = 3;
        v.emplace_back(c, "groups per receiver must be 1 to the number of groups (2)");
        c.groups_per_receiver = 1;
        c.source_routers = {"Rx"};
        v.emplace_back(c, "source S2: no router 'Rx' (R0 to R0)");
        c.source_routers = {"R0", "R0", "R0"};
        v.emplace_back(c, "3 routers named, more than the sources beyond the first (2)");
        return v;
    }();
    for (const auto& [config, error] : cases) {
        try {
            Scenario s(config);
            ADD_FAILURE() << "accepted; expected: " << error;
        } catch (const std::invalid_argument& e) {
            EXPECT_EQ(e.what(), error);
        }
    }
}

TEST(EdgeList, SourcesAndGroupsParseCheckAndRoundTrip) {
    const EdgeListResult r = parse_edge_list(kSessions);
    ASSERT_TRUE(r.list) << r.error;
    EXPECT_EQ(sources_of(*r.list).size(), 4u);
    const EdgeListResult back = parse_edge_list(to_text(*r.list));
    ASSERT_TRUE(back.list) << back.error;
    EXPECT_EQ(to_text(*back.list), to_text(*r.list));
    EXPECT_NE(to_text(*r.list).find("receiver ab1 groups=239.1.2.4,239.1.2.3\n"),
              std::string::npos);
    // Without groups=, a receiver joins every source's group, in source order.
    const EdgeListResult d = parse_edge_list(
        "source S group=239.5.5.5\nsource T\nrouter R\nreceiver r\nlink S R\nlink T R\n"
        "link R r\n");
    ASSERT_TRUE(d.list) << d.error;
    EXPECT_EQ(groups_of(*d.list, 3),
              (std::vector<Nla>{Nla::ipv4({239, 5, 5, 5}), Nla::ipv4({239, 1, 2, 3})}));

    const std::vector<std::pair<std::string, std::string>> cases{
        {"source S group=10.0.0.1\n", "line 1: '10.0.0.1' is not an IPv4 multicast group"},
        {"source S group=239.1.2.3,239.1.2.4\n",
         "line 1: a source sends to one group ('group=239.1.2.3,239.1.2.4')"},
        {"source S groups=239.1.2.3\n", "line 1: unknown setting 'groups' (group=ADDRESS)"},
        {"source S group=239.1.2.3 group=239.1.2.4\n", "line 1: 'group' given twice"},
        {"source S\nreceiver r groups=239.1.2.3,239.1.2.3\n",
         "line 2: group 239.1.2.3 twice in 'groups=239.1.2.3,239.1.2.3'"},
        {"source S\nreceiver r groups=239.1.2.3,\n",
         "line 2: 'groups=239.1.2.3,' has an empty group"},
        {"source S\nreceiver r groups=239.1.2.3 q\n",
         "line 2: node name 'q' after settings (names first)"},
        {"source S\nrouter R\nreceiver r groups=239.1.2.9\nlink S R\nlink R r\n",
         "receiver 'r' joins 239.1.2.9, which no source sends to"},
        // T's group is joined by r, which T cannot reach; S's receivers may be anywhere.
        {"source S\nsource T group=239.1.2.4\nrouter R Q\nreceiver r\nlink S R\nlink R r\n"
         "link T Q\n",
         "receiver 'r' cannot be reached from source 'T' (no path through routers)"},
        {"source S\nsource T\nrouter R\nlink S R\n", "source 'T' is on no link"},
    };
    for (const auto& [text, error] : cases) {
        const EdgeListResult bad = parse_edge_list(text);
        EXPECT_FALSE(bad.list) << text;
        EXPECT_EQ(bad.error, error) << text;
    }
    // A receiver of S only need not be reachable from T.
    EXPECT_TRUE(parse_edge_list("source S\nsource T group=239.1.2.4\nrouter R Q\n"
                                "receiver r groups=239.1.2.3\nlink S R\nlink R r\nlink T Q\n")
                    .list);
}

TEST(EdgeList, HopsFromEachSourceThroughRoutersOnly) {
    const EdgeList l = *parse_edge_list(
                            "source S\nsource T\nrouter R Q\nreceiver r\nlink S R\nlink R Q\n"
                            "link Q T\nlink Q r\n")
                            .list;
    EXPECT_EQ(hops_from_source(l, 0), (std::vector<int>{0, 3, 1, 2, 3}));  // S T R Q r
    EXPECT_EQ(hops_from_source(l, 1), (std::vector<int>{3, 0, 2, 1, 2}));
    EXPECT_EQ(max_receiver_hops(l), 3);
    // Only a source's own receivers count: r joins T's group only, 2 links from T, 3 from S.
    EdgeList own = l;
    own.nodes[4].groups = {Nla::ipv4({239, 1, 2, 4})};
    own.nodes[1].groups = {Nla::ipv4({239, 1, 2, 4})};
    const FarthestReceiver far = farthest_receiver(own);
    EXPECT_EQ(far.hops, 2);
    EXPECT_EQ(own.nodes[far.source].name, "T");
    EXPECT_EQ(own.nodes[far.receiver].name, "r");
}

TEST(EdgeList, MoreThanAThousandSourcesAreRefused) {
    std::string text = "router R\nreceiver r\nlink R r\n";
    for (int k = 0; k < 1001; ++k)
        text += "source S" + std::to_string(k) + "\nlink S" + std::to_string(k) + " R\n";
    const EdgeListResult r = parse_edge_list(text);
    EXPECT_FALSE(r.list);
    EXPECT_EQ(r.error, "1001 sources, more than 1000");
}

TEST(RandomTree, SessionsAddSourcesOnRoutersAndGroupsOnReceivers) {
    RandomTreeSpec spec;
    spec.routers = 6;
    spec.seed = 4;
    EdgeList l = random_tree(spec);
    const EdgeList before = l;
    EXPECT_EQ(add_sessions(l, 3, 2, 1, {"R9"}, 4).value_or("accepted"),
              "source S2: no router 'R9'");
    EXPECT_EQ(to_text(l), to_text(before));  // left as it was
    ASSERT_FALSE(add_sessions(l, 3, 2, 2, {"R5"}, 4));
    const auto sources = sources_of(l);
    ASSERT_EQ(sources.size(), 3u);
    EXPECT_EQ(groups_of(l, sources[1]), std::vector<Nla>{session_group(1)});
    // S2 hangs off R5.
    bool s2_on_r5 = false;
    for (const EdgeList::Link& link : l.links)
        s2_on_r5 = s2_on_r5 || (link.nodes.size() == 2 && l.nodes[link.nodes[0]].name == "R5" &&
                                l.nodes[link.nodes[1]].name == "S2");
    EXPECT_TRUE(s2_on_r5);
    ScenarioConfig c;
    c.shape = ScenarioShape::Graph;
    c.graph = l;
    c.stream.apdus = 100;
    Scenario s(c);
    ASSERT_TRUE(s.run());
    const ScenarioResult r = s.result();
    for (const SessionResult& session : r.sessions) {
        EXPECT_TRUE(session.complete) << session.source;
        EXPECT_EQ(session.receivers, r.receivers) << session.source;  // 2 of 2 groups each
    }
}

// The deliveries a run reports count each recipient of a transmission once: without loss
// every receiver is handed each APDU's ODATA once and no repair traffic; with loss and
// without network elements every receiver on a LAN is handed each NCF and RDATA the source
// multicasts, unless lost on the way (the growth that makes such runs expensive).
TEST(ScenarioDeliveries, CountEveryRecipientOfEveryTransmission) {
    ScenarioConfig c;
    c.depth = 2;
    c.fanout = 2;
    c.leaf_receivers = 5;
    c.leaf_lan = true;
    c.loss = 0.0;
    c.stream.apdus = 50;
    {
        Scenario s(c);
        ASSERT_TRUE(s.run());
        const ScenarioResult r = s.result();
        ASSERT_EQ(r.receivers, 10u);  // R0, then R1 and R2 with a LAN of 5 each
        EXPECT_EQ(r.receiver_deliveries.count(PacketType::Odata), 10u * 50u);
        EXPECT_EQ(r.receiver_deliveries.count(PacketType::Rdata), 0u);
        EXPECT_EQ(r.receiver_deliveries.count(PacketType::Ncf), 0u);
        // The 3 routers are handed every ODATA too, and everyone the SPMs.
        EXPECT_GE(r.deliveries, r.receiver_deliveries.total() + 3u * 50u);
        EXPECT_GT(r.receiver_deliveries.count(PacketType::Spm), 0u);
    }
    c.loss = 0.03;
    c.network_elements = false;
    Scenario s(c);
    ASSERT_TRUE(s.run());
    const ScenarioResult r = s.result();
    const std::uint64_t ncfs = r.source.ncfs_sent;
    ASSERT_GT(ncfs, 0u);
    // Each NCF crosses 3 lossy hops to a receiver (S-R0, R0-R1, R1-LAN): most of the
    // 10 x ncfs copies arrive, none twice.
    EXPECT_LE(r.receiver_deliveries.count(PacketType::Ncf), 10u * ncfs);
    EXPECT_GE(r.receiver_deliveries.count(PacketType::Ncf), 10u * ncfs * 8 / 10);
}

}  // namespace
}  // namespace pgm::sim
