// DOC: Tests of the simulator's engine pieces that make large runs cheap: the bucketed
// event queue (sim/event_queue.h) against a sorted reference, the lazy node timers of
// Network (a deadline that moves later queues nothing, and fires exactly when due), and
// the determinism of a whole Scenario (same seed, same result), including the tree with
// many receivers per last-level router on LANs.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <tuple>
#include <vector>

#include "sim/edge_list.h"
#include "sim/event_queue.h"
#include "sim/network.h"
#include "sim/scenario.h"

namespace pgm::sim {
namespace {

using namespace std::chrono_literals;

std::tuple<Time, std::uint64_t, std::uint32_t> key(const QueuedEvent& e) {
    return {e.at, e.seq, e.target};
}

TEST(EventQueue, PopsInTimeThenSequenceOrder) {
    std::mt19937_64 rng(7);
    EventQueue q;
    std::vector<QueuedEvent> pushed;
    std::uint64_t seq = 1000;
    for (std::uint32_t i = 0; i < 5000; ++i) {
        QueuedEvent e;
        e.at = kStart + std::chrono::microseconds(rng() % 50);  // many ties
        // Mostly growing sequence numbers, some older ones (re-queued timers).
        e.seq = rng() % 10 == 0 ? rng() % 1000 : seq++;
        e.target = i;
        q.push(e);
        pushed.push_back(e);
    }
    std::sort(pushed.begin(), pushed.end(),
              [](const QueuedEvent& a, const QueuedEvent& b) { return key(a) < key(b); });
    // Sequence numbers drawn twice: order among equal (time, seq) is not specified.
    ASSERT_EQ(q.size(), pushed.size());
    for (const QueuedEvent& want : pushed) {
        ASSERT_FALSE(q.empty());
        EXPECT_EQ(q.next_time(), want.at);
        const QueuedEvent got = q.pop();
        EXPECT_EQ(got.at, want.at);
        EXPECT_EQ(got.seq, want.seq);
    }
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.distinct_times(), 0u);
}

TEST(EventQueue, EventsPushedAtTheCurrentTimeComeAfterThoseAlreadyThere) {
    EventQueue q;
    q.push(QueuedEvent{kStart, 1, 1, 0});
    q.push(QueuedEvent{kStart, 2, 2, 0});
    q.push(QueuedEvent{kStart + 1ms, 3, 3, 0});
    EXPECT_EQ(q.pop().target, 1u);
    q.push(QueuedEvent{kStart, 4, 4, 0});  // pushed while time kStart is being popped
    EXPECT_EQ(q.pop().target, 2u);
    EXPECT_EQ(q.pop().target, 4u);
    EXPECT_EQ(q.pop().target, 3u);
    EXPECT_TRUE(q.empty());
    // Buckets are recycled: the same time can come back after its bucket was emptied.
    q.push(QueuedEvent{kStart + 1ms, 5, 5, 0});
    q.push(QueuedEvent{kStart, 6, 6, 0});
    EXPECT_EQ(q.pop().target, 6u);
    EXPECT_EQ(q.pop().target, 5u);
}

// A node whose deadline the test moves; it records when on_timer runs.
class DeadlineNode : public Node {
  public:
    void on_packet(const Arrival&, Bytes, Time, Output&) override {}
    void on_timer(Time now, Output&) override {
        fired.push_back(now);
        deadline = kNever;
    }
    Time next_deadline() const override { return deadline; }
    Time deadline = kNever;
    std::vector<Time> fired;
};

TEST(LazyTimers, ADeadlineMovedLaterQueuesNothingAndFiresOnceWhenDue) {
    Network net;
    DeadlineNode n;
    const NodeId id = net.add_node(n, "n");
    n.deadline = kStart + 10ms;
    net.notify(id);
    EXPECT_EQ(net.pending_events(), 1u);
    for (int i = 1; i <= 100; ++i) {  // as a receiver's peer expiry moves with every packet
        n.deadline = kStart + 10ms + std::chrono::milliseconds(i);
        net.notify(id);
    }
    EXPECT_EQ(net.pending_events(), 1u);  // the early wake-up serves them all
    net.run_until(kStart + 109ms);
    EXPECT_TRUE(n.fired.empty());
    net.run_until(kStart + 1s);
    ASSERT_EQ(n.fired.size(), 1u);
    EXPECT_EQ(n.fired[0], kStart + 110ms);
}

TEST(LazyTimers, ADeadlineMovedEarlierOrCancelledIsHonoured) {
    Network net;
    DeadlineNode n;
    const NodeId id = net.add_node(n, "n");
    n.deadline = kStart + 50ms;
    net.notify(id);
    n.deadline = kStart + 20ms;
    net.notify(id);
    net.run_until(kStart + 1s);
    ASSERT_EQ(n.fired.size(), 1u);
    EXPECT_EQ(n.fired[0], kStart + 20ms);  // not again at 50 ms: that wake-up was stale

    n.deadline = net.now() + 5ms;
    net.notify(id);
    n.deadline = kNever;
    net.notify(id);
    net.run_until(net.now() + 1s);
    EXPECT_EQ(n.fired.size(), 1u);
}

ScenarioConfig small_tree(std::uint64_t seed, bool network_elements) {
    ScenarioConfig c;
    c.depth = 2;
    c.fanout = 3;
    c.leaf_receivers = 5;
    c.loss = 0.02;
    c.seed = seed;
    c.network_elements = network_elements;
    c.stream.apdus = 300;
    c.link_delay = 5ms;
    return c;
}

// Everything a run reports that depends on its random draws.
auto summary(const ScenarioResult& r) {
    std::vector<std::uint64_t> v{
        r.receivers_complete,         r.receiver_naks_sent,
        r.source_nak_packets,         r.source_distinct_sqns_naked,
        r.source_max_naks_per_sqn,    r.source.ncfs_sent,
        r.source.repair_packets_sent, static_cast<std::uint64_t>(r.completion.count())};
    for (const LevelTraffic& l : r.levels) {
        v.push_back(l.sent.total());
        v.push_back(l.sent.byte_count(PacketType::Rdata));
    }
    for (std::uint64_t x : r.router_totals.values)
        v.push_back(x);
    return v;
}

TEST(ScenarioDeterminism, SameSeedSameResultOtherSeedOtherResult) {
    for (bool ne : {true, false}) {
        Scenario a(small_tree(11, ne));
        Scenario b(small_tree(11, ne));
        Scenario c(small_tree(12, ne));
        ASSERT_TRUE(a.run());
        ASSERT_TRUE(b.run());
        ASSERT_TRUE(c.run());
        EXPECT_EQ(summary(a.result()), summary(b.result())) << "network elements " << ne;
        EXPECT_NE(summary(a.result()), summary(c.result())) << "network elements " << ne;
    }
}

TEST(ScenarioShapes, TreeWithReceiverLansUnderTheLastLevel) {
    ScenarioConfig c = small_tree(3, true);
    c.fanout = 2;
    c.leaf_lan = true;
    c.leaf_receivers = 260;  // beyond one /24 and beyond a router's 64 interfaces
    c.stream.apdus = 50;
    Scenario s(c);
    ASSERT_TRUE(s.run());
    const ScenarioResult r = s.result();
    EXPECT_EQ(r.routers, 1u + 2u);
    EXPECT_EQ(r.receivers, 2u * 260u);
    EXPECT_EQ(r.receivers_complete, r.receivers);
    EXPECT_EQ(r.mismatched_apdus, 0u);
    EXPECT_EQ(s.level_segments(2).size(), 2u);  // one LAN per last-level router
}

const char* kGraph = R"(# a comment
source S
router R1 R2   # two routers
receiver r1 r2 r3 r4

link S R1
link R1 R2 delay=20 loss=2
link R2 r1
lan R1 r2 r3 r4 loss=0.5
)";

TEST(EdgeList, ParsesNodesLinksLansAndTheirSettings) {
    const EdgeListResult r = parse_edge_list(kGraph);
    ASSERT_TRUE(r.list) << r.error;
    ASSERT_EQ(r.list->nodes.size(), 7u);
    EXPECT_EQ(r.list->nodes[0].kind, EdgeNodeKind::Source);
    ASSERT_EQ(r.list->links.size(), 4u);
    EXPECT_EQ(r.list->links[1].delay_ms, 20.0);
    EXPECT_EQ(r.list->links[1].loss_percent, 2.0);
    EXPECT_FALSE(r.list->links[0].delay_ms);
    EXPECT_TRUE(r.list->links[3].lan);
    EXPECT_EQ(r.list->links[3].nodes.size(), 4u);
    EXPECT_EQ(r.list->links[3].line, 9);
}

TEST(EdgeList, BadInputIsAClearErrorWithItsLineNumber) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"source S\nrouter R\nlink S R\nlink R X\n", "line 4: unknown node 'X'"},
        {"source S\nrouter S\n", "line 2: node 'S' declared twice"},
        {"source S T\n", "line 1: one source name expected (a source line per source)"},
        {"source S\nrouter R\nlink S R delay=abc\n",
         "line 3: bad value in 'delay=abc' (delay: a number from 0 to 60000 ms)"},
        {"source S\nrouter R\nlink S R loss=101\n",
         "line 3: bad value in 'loss=101' (loss: a number from 0 to 100 %)"},
        {"source S\nrouter R\nlink S R delay=nan\n",
         "line 3: bad value in 'delay=nan' (delay: a number from 0 to 60000 ms)"},
        {"source S\nrouter R\n\nlink S R delay=inf\n",
         "line 4: bad value in 'delay=inf' (delay: a number from 0 to 60000 ms)"},
        {"source S\nrouter R\nlink S R delay=1e300\n",
         "line 3: bad value in 'delay=1e300' (delay: a number from 0 to 60000 ms)"},
        {"source S\nrouter R\nlink S R delay=60001\n",
         "line 3: bad value in 'delay=60001' (delay: a number from 0 to 60000 ms)"},
        {"source S\nrouter R\nlink S R loss=nan\n",
         "line 3: bad value in 'loss=nan' (loss: a number from 0 to 100 %)"},
        {"source S\nrouter R\nlink S R loss=-inf\n",
         "line 3: bad value in 'loss=-inf' (loss: a number from 0 to 100 %)"},
        {"source S\nrouter R\nlink S R jitter=1\n",
         "line 3: unknown setting 'jitter' (delay=MS, loss=PERCENT)"},
        {"source S\nrouter R Q\nlink S R Q\n", "line 3: a link joins exactly two nodes"},
        {"source S\nlan S\n", "line 2: a lan needs at least two nodes"},
        {"source S\nrouter R\nreceiver r\nlink S R\nlink R r\nlink S r\n",
         "line 6: receiver 'r' on a second link"},
        {"source S\nnode R\n",
         "line 2: unknown statement 'node' (source, router, receiver, link, lan)"},
        {"router R\n", "no source declared"},
        {"source S\nrouter R\nreceiver r\nlink S R\n", "receiver 'r' is on no link"},
        {"source S\nrouter R Q\nreceiver r\nlink S R\nlink Q r\n",
         "receiver 'r' cannot be reached from source 'S' (no path through routers)"},
        {"source S\nrouter R\nreceiver r1 r2\nlink S R\nlan r1 r2\n",
         "receiver 'r1' cannot be reached from source 'S' (no path through routers)"},
        {"source S\nrouter R Q\nreceiver r\nlink S R\nlink S Q\nlink R r\n",
         "line 5: source 'S' on a second link (a host sends on one; put a router or a lan "
         "there)"},
    };
    for (const auto& [text, error] : cases) {
        const EdgeListResult r = parse_edge_list(text);
        EXPECT_FALSE(r.list) << text;
        EXPECT_EQ(r.error, error) << text;
    }
}

TEST(ScenarioShapes, GraphFromAnEdgeListCompletes) {
    ScenarioConfig c = small_tree(5, true);
    c.shape = ScenarioShape::Graph;
    c.graph = *parse_edge_list(kGraph).list;
    Scenario s(c);
    ASSERT_TRUE(s.run());
    const ScenarioResult r = s.result();
    EXPECT_EQ(r.routers, 2u);
    EXPECT_EQ(r.receivers, 4u);
    EXPECT_EQ(r.receivers_complete, 4u);
    EXPECT_EQ(r.mismatched_apdus, 0u);
}

TEST(EdgeList, AReceiverOnTheSourcesLanNeedsNoRouter) {
    const EdgeListResult r = parse_edge_list("source S\nreceiver r1 r2\nlan S r1 r2\n");
    EXPECT_TRUE(r.list) << r.error;
}

// What every receiver of a run got: ODATA packets per receiver.
std::vector<std::uint64_t> odata_received(const Scenario& s) {
    std::vector<std::uint64_t> v;
    for (const ReceiverNode& r : s.receivers())
        v.push_back(s.network().counters(r.id(), 1).received.count(PacketType::Odata));
    return v;
}

// A triangle of routers below the source (A - B - C - A), receivers on B and C and a LAN
// behind both B and C: every receiver gets every ODATA once, with and without network
// elements. Without the reverse-path check and one forwarder per link the plain routers
// sent each packet round the loops until its TTL (16) ran out: ~2^15 copies each.
TEST(ScenarioShapes, GraphWithLoopsAndALanBehindTwoRoutersCarriesEachPacketOnce) {
    const EdgeListResult g = parse_edge_list(R"(
source S
router A B C
receiver rb rc rl
link S A
link A B
link A C
link B C
link B rb
link C rc
lan B C rl
)");
    ASSERT_TRUE(g.list) << g.error;
    for (bool ne : {false, true}) {
        ScenarioConfig c = small_tree(7, ne);
        c.shape = ScenarioShape::Graph;
        c.graph = *g.list;
        c.loss = 0;
        c.stream.apdus = 20;
        Scenario s(c);
        ASSERT_TRUE(s.run()) << "network elements " << ne;
        const ScenarioResult r = s.result();
        EXPECT_EQ(r.receivers_complete, 3u);
        EXPECT_EQ(odata_received(s), std::vector<std::uint64_t>(3, 20))
            << "network elements " << ne;
        // B - C carries nothing downstream: neither router's way to the source.
        EXPECT_EQ(s.network().segment_sent(s.level_segments(1)[2]).count(PacketType::Odata), 0u);
    }
}

// Bursts apply only to lossy links: a link configured loss-free stays loss-free.
TEST(ScenarioShapes, BurstsLeaveLossFreeLinksAlone) {
    const EdgeListResult g = parse_edge_list(R"(
source S
router R
receiver clean lossy
link S R loss=0
link R clean loss=0
link R lossy
)");
    ASSERT_TRUE(g.list) << g.error;
    ScenarioConfig c = small_tree(9, true);
    c.shape = ScenarioShape::Graph;
    c.graph = *g.list;
    c.loss = 0.01;
    c.burst_enter = 0.05;
    c.burst_exit = 0.2;
    c.burst_loss = 1.0;
    Scenario s(c);
    ASSERT_TRUE(s.run());
    EXPECT_EQ(s.result().receivers_complete, 2u);
    EXPECT_EQ(s.receivers()[0].naks_sent(), 0u);  // nothing lost on S - R - clean
    EXPECT_GT(s.receivers()[1].naks_sent(), 0u);
    EXPECT_EQ(odata_received(s)[0], c.stream.apdus);
}

}  // namespace
}  // namespace pgm::sim
