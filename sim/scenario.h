// DOC: `Scenario`, PGM sessions across multicast distribution trees in the virtual
// network, built the same way with or without PGM network elements, so that the two runs
// can be compared (tests/unit/implosion_test.cc, cli/pgmsim.cc). One session by default;
// several sources, each sending to one group, and receivers joining one or more groups
// share the same routers (a session is a source and its group; a receiver takes part in
// the sessions of the groups it joined).
//
// Owns the Network and every node: the SourceNodes, the routers (RouterNode when
// `network_elements`, else MulticastRouterNode: plain multicast routing with the reverse-
// path check, receivers NAK the source directly because SPM_PATH is then the source's
// address), and the ReceiverNodes.
//
// Shapes (every link is a point-to-point segment unless said otherwise; each hop has the
// same delay and random loss; bursts, when on, on every lossy link only):
//   Tree:  S ── R0 ── fanout routers ── ... : `depth` levels of routers (1, fanout,
//          fanout^2, ...; depth 3 fanout 4: 1 + 4 + 16 = 21 routers); each router of the
//          last level has `fanout` receivers (or `leaf_receivers` when set), each on its own
//          link (4^3 = 64 receivers), or all on one LAN when `leaf_lan`.
//   Star:  S ── R0, which has `fanout` LANs with `lan_receivers` receivers each
//          (8 x 8 = 64 receivers).
//   Graph: the nodes and links of an edge-list file (sim/edge_list.h), each link with its
//          own delay and loss or the scenario's, its sources and their groups, the groups
//          of its receivers. Level 0 is the sources' links, level 1 every other link.
// Several sessions on a tree or star (`sources`, `groups`): source 1 is S on S-R0, each
// further one (S2, S3, ...) on its own link to a router drawn from the seed (level 0);
// source i sends to group i mod `groups`, receiver k joins groups k .. k +
// `groups_per_receiver` - 1 (mod `groups`), receivers numbered in creation order; a source
// is placed on a router of `source_routers` if named there
// (sim/edge_list.h session_group(), add_sessions()).
//
// Memberships: with one session, as built (tree, star: every interface towards receivers;
// graph: one forwarder per link, see build_graph()). With several, as PIM's (S, G) joins
// would leave them: from each receiver towards each source of its groups along the unicast
// routes, every router on the way joins (source, group) on its interface towards the
// receiver (join_paths()): a router on the path of one source of a group does not forward
// another's, and each link has one forwarder per source (the routes towards a source form
// a tree).
//
// Life cycle: the constructor builds the topology and starts the stacks; run() runs the
// virtual clock: the first SPM and ODATA 0 cross a loss-free network (a receiver's window
// starts at the first data packet it hears, R1, and this source sends no OPT_JOIN_MIN), then
// loss is switched on and the run goes on until every receiver has the whole stream or the
// time limit passes. result() may be read at any time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "router/config.h"
#include "router/counters.h"
#include "sim/edge_list.h"
#include "sim/host_nodes.h"
#include "sim/ip_router.h"
#include "sim/network.h"
#include "sim/router_node.h"

namespace pgm::sim {

enum class ScenarioShape : std::uint8_t { Tree, Star, Graph };

// The TTL of the source's packets in a Graph (the tree and star take the source's default,
// 16, enough for their depth): receivers up to this many links away are reached
// (max_receiver_hops(), sim/edge_list.h). A tree or star with several sessions takes it too
// (a source below R0 sends up, then down).
inline constexpr std::uint8_t kGraphSourceTtl = 255;

struct ScenarioConfig {
    ScenarioShape shape = ScenarioShape::Tree;
    bool network_elements = true;
    int depth = 3;           // Tree: levels of routers
    int fanout = 4;          // Tree: children per router; Star: LANs on the router
    int lan_receivers = 8;   // Star: receivers per LAN
    EdgeList graph;          // Graph: the topology
    int leaf_receivers = 0;  // Tree: receivers per last-level router (0: fanout)
    bool leaf_lan = false;   // Tree: a last-level router's receivers share one LAN
    double loss = 0.01;      // per delivery, on every hop, both directions
    // Overrides `loss` on the links of one level (0: the source link, 1: the next, ...).
    std::vector<std::pair<std::size_t, double>> level_loss;
    Duration link_delay = std::chrono::milliseconds(1);
    // Bursts on every lossy link (Gilbert-Elliott, see Impairment): 0 = Bernoulli loss only.
    double burst_enter = 0.0;
    double burst_exit = 1.0;
    double burst_loss = 1.0;
    std::uint64_t seed = 1;
    // Tree, star: sessions (see above); the graph takes its own from the edge list.
    int sources = 1;
    int groups = 1;
    int groups_per_receiver = 1;
    // Routers (by name: R0, R1, ...) for sources 2, 3, ... in order; the rest drawn.
    std::vector<std::string> source_routers;
    StreamConfig stream{10000, 1000.0, 64, std::chrono::milliseconds(100)};
    router::RouterConfig router;  // defaults: PGM-MIB timers
    // Network elements with options of their own, by router name (pgmsim: an edge list's
    // router settings), in place of `router`.
    std::unordered_map<std::string, router::RouterConfig> router_configs;
    // Host stacks: windows large enough that recovery, not a window bound, decides.
    std::uint32_t source_txw_sqns = 16384;
    std::size_t receiver_window_sqns = 16384;
    Duration receiver_nak_bo_ivl = std::chrono::milliseconds(50);  // NAK_BO_IVL
    Duration source_rdata_delay = Duration::zero();  // RDATA held to collect NAKs (S13)
    // How long run() goes on after the stream's last APDU is due.
    Duration time_limit_after_stream = std::chrono::seconds(60);
};

// Traffic of one level of links (all the links at the same depth).
struct LevelTraffic {
    std::string name;
    std::size_t links = 0;
    TypeCounters sent;  // everything put on those links, all senders
};

// One session: a source and its group, the receivers that joined the group.
struct SessionResult {
    std::string source;  // node name
    Nla group;
    std::size_t receivers = 0;  // joined the group
    std::size_t receivers_complete = 0;
    std::size_t receivers_with_loss = 0;
    std::uint64_t unrecoverable_sqns = 0;
    std::uint64_t mismatched_apdus = 0;
    std::uint64_t source_nak_packets = 0;       // NAK packets delivered to the source
    std::uint64_t source_link_rdata_bytes = 0;  // RDATA the source put on its link
    SourceStats stats;
    Duration completion{};  // first ODATA due -> its last receiver complete (0: not complete)
    bool complete = false;
};

struct ScenarioResult {
    bool network_elements = false;
    std::size_t routers = 0;
    std::size_t receivers = 0;
    std::size_t receivers_complete = 0;    // whole stream, in order, intact
    std::size_t receivers_with_loss = 0;   // reported unrecoverable loss
    std::uint64_t unrecoverable_sqns = 0;  // sum over receivers
    std::uint64_t mismatched_apdus = 0;    // sum over receivers (must be 0)
    // APDUs of sessions a receiver did not join, sum over receivers (must be 0).
    std::uint64_t other_session_apdus = 0;
    std::uint64_t receiver_naks_sent = 0;  // NAK packets, sum over receivers
    std::uint64_t source_nak_packets = 0;  // NAK packets delivered to the sources
    // RDATA the sources put on their links, summed over the sessions (level 0's traffic
    // also counts what others send on a source's LAN).
    std::uint64_t source_link_rdata_bytes = 0;
    // Sequence numbers requested of a source (NAK header and list entries): how many
    // distinct ones (summed over sources), and the most requests any one got (the
    // implosion).
    std::uint64_t source_distinct_sqns_naked = 0;
    std::uint64_t source_max_naks_per_sqn = 0;
    SourceStats source;  // the sources' counters, summed (window edges: the first's)
    std::vector<SessionResult> sessions;  // in source order
    std::vector<LevelTraffic> levels;
    router::CounterSet router_totals;  // all network elements (zero without)
    // Packets handed to nodes, each recipient of a transmission counted (what a run costs
    // is about proportional to these): to every node, and to the receivers by type.
    std::uint64_t deliveries = 0;
    TypeCounters receiver_deliveries;
    Duration completion{};  // first ODATA due -> last receiver complete
    Duration ran_for{};     // virtual time of the whole run
    std::uint64_t stalled_timers = 0;
};

class Scenario {
  public:
    using RouterFactory = std::function<std::unique_ptr<RouterNode>(
        Network& net, std::string name, const router::RouterConfig& config)>;

    // `factory` builds the network elements (e.g. an instrumented RouterNode subclass);
    // by default plain RouterNodes. Throws std::invalid_argument for sessions that cannot be
    // (tree, star): fewer than one source or more than kMaxSources (graph too), more
    // groups than sources or than receivers, more groups per receiver than groups, a
    // source router that does not exist.
    explicit Scenario(const ScenarioConfig& config, RouterFactory factory = {});
    Scenario(const Scenario&) = delete;
    Scenario& operator=(const Scenario&) = delete;

    // Runs to completion (every receiver complete) or the time limit; true if complete.
    bool run();
    ScenarioResult result() const;

    Network& network() { return net_; }
    const Network& network() const { return net_; }
    const ScenarioConfig& config() const { return config_; }
    SourceNode& source(std::size_t i = 0) { return sources_.at(i); }
    std::size_t source_count() const { return sources_.size(); }
    // The group of source `i` (0: the group of a single-session run).
    const Nla& group(std::size_t i = 0) const { return source_groups_.at(i); }
    // The groups receiver `i` joined.
    const std::vector<Nla>& receiver_groups(std::size_t i) const { return receiver_groups_.at(i); }
    const std::deque<ReceiverNode>& receivers() const { return receivers_; }
    const std::vector<std::unique_ptr<RouterNode>>& network_elements() const { return nes_; }
    const std::deque<MulticastRouterNode>& plain_routers() const { return plain_; }
    // The segments of one level of links (0: the source link; Star: 1 is the LANs).
    const std::vector<SegmentId>& level_segments(std::size_t level) const {
        return levels_.at(level).segments;
    }
    bool all_complete() const;

  private:
    struct Level {
        std::string name;
        std::vector<SegmentId> segments;
    };
    // A router of either kind.
    struct RouterRef {
        NodeId id = 0;
        RouterNode* ne = nullptr;
        MulticastRouterNode* plain = nullptr;
    };
    RouterRef add_router(const std::string& name);
    // A membership of the single session's group as built; with several sessions none
    // (join_paths() sets them all).
    void join(const RouterRef& router, IfIndex ifindex);
    void join(const RouterRef& router, IfIndex ifindex, const Nla& group);
    void join(const RouterRef& router, IfIndex ifindex, const Nla& group, const Nla& source);
    void join_paths();
    SourceNode& add_source(const std::string& name);
    void add_tree_sources();
    SegmentId segment(SegmentKind kind, const std::string& name, std::size_t level);
    IfIndex attach(NodeId node, SegmentId s, Nla* address = nullptr);
    void add_receiver(SegmentId s, const std::string& name);
    void build_tree();
    void build_star();
    void build_graph();

    ScenarioConfig config_;
    RouterFactory factory_;
    Network net_;
    std::deque<SourceNode> sources_;
    std::vector<Nla> source_groups_;                 // per source
    std::vector<AttachmentId> source_attachments_;   // per source: its one interface
    std::vector<std::vector<Nla>> receiver_groups_;  // per receiver
    // Per receiver: the sources of its sessions, in the order of its tallies.
    std::vector<std::vector<std::size_t>> receiver_sessions_;
    bool several_sessions_ = false;
    std::vector<RouterRef> routers_;  // either kind, in creation order
    std::vector<std::unique_ptr<RouterNode>> nes_;
    std::deque<MulticastRouterNode> plain_;
    std::deque<ReceiverNode> receivers_;
    std::vector<Level> levels_;
    std::vector<std::uint32_t> next_host_;  // per segment: the next host number
    std::uint32_t next_overflow_ = 1;       // addresses beyond 10.255.255.0/24, see attach()
    // Graph: links with a delay or loss of their own (delay, loss; negative: the default).
    std::vector<std::tuple<SegmentId, Duration, double>> own_impairments_;
    Duration loss_free_for_{};  // Graph: the longest path's delay
    Time stream_start_{};
    Time completed_at_ = kNever;
    // Per source: requests per sequence number.
    std::vector<std::unordered_map<std::uint32_t, std::uint32_t>> naks_per_sqn_;
};

const char* to_string(ScenarioShape shape);

}  // namespace pgm::sim
