#include "sim/scenario.h"

#include <algorithm>

namespace pgm::sim {

namespace {

constexpr std::uint16_t kDataPort = 7500;
constexpr std::uint16_t kSourcePort = 7000;
constexpr Duration kCheckEvery = std::chrono::milliseconds(100);

Nla ipv4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return Nla::ipv4(std::array<std::uint8_t, 4>{a, b, c, d});
}

// Concatenation by append (GCC 12 warns falsely on `"literal" + std::string&&`).
template <class... Parts>
std::string cat(const Parts&... parts) {
    std::string s;
    ((s += parts), ...);
    return s;
}

}  // namespace

const char* to_string(ScenarioShape shape) {
    switch (shape) {
        case ScenarioShape::Tree:
            return "tree";
        case ScenarioShape::Star:
            return "star";
        case ScenarioShape::Graph:
            return "graph";
    }
    return "?";
}

Scenario::Scenario(const ScenarioConfig& config, RouterFactory factory)
    : config_(config),
      factory_(std::move(factory)),
      net_(config.seed),
      group_(ipv4(239, 1, 2, 3)),
      source_(net_, "S") {
    if (!factory_) {
        factory_ = [](Network& net, std::string name, const router::RouterConfig& c) {
            return std::make_unique<RouterNode>(net, std::move(name), c);
        };
    }
    if (config_.shape == ScenarioShape::Tree)
        build_tree();
    else if (config_.shape == ScenarioShape::Star)
        build_star();
    else
        build_graph();

    // The source: first SPM now, the stream after `start_after`.
    SourceConfig sc;
    sc.address = *net_.address(source_.id(), 1);
    sc.group = group_;
    sc.ifindex = 1;
    sc.data_destination_port = kDataPort;
    sc.source_port = kSourcePort;
    sc.gsi = Gsi{{0x50, 0x47, 0x4D, static_cast<std::uint8_t>(config_.seed >> 16),
                  static_cast<std::uint8_t>(config_.seed >> 8),
                  static_cast<std::uint8_t>(config_.seed)}};
    sc.txw_sqns = std::max(config_.source_txw_sqns, 1u);
    sc.txw_secs = std::chrono::seconds(60);
    sc.seed = config_.seed;
    // A tree or star is at most 8 hops deep; an edge list or random tree may be far deeper.
    if (config_.shape == ScenarioShape::Graph) sc.ttl = kGraphSourceTtl;
    sc.rdata_delay = config_.source_rdata_delay;
    source_.start(sc, config_.stream);
    source_.observe([this](const Arrival&, Bytes pgm, Time) {
        ParseResult r = parse(pgm);
        if (!r || r.view.header.type != PacketType::Nak) return;
        ++naks_per_sqn_[r.view.get<NakFields>()->sqn.value()];
        if (auto list = r.view.nak_list())
            for (std::size_t i = 0; i < list->size(); ++i)
                ++naks_per_sqn_[(*list)[i].value()];
    });
    stream_start_ = net_.now() + config_.stream.start_after;

    std::uint64_t i = 0;
    for (ReceiverNode& r : receivers_) {
        ReceiverConfig rc;
        rc.address = *net_.address(r.id(), 1);
        rc.group = group_;
        rc.ifindex = 1;
        rc.data_destination_port = kDataPort;
        rc.max_window_sqns = config_.receiver_window_sqns;
        rc.nak_bo_ivl = config_.receiver_nak_bo_ivl;
        rc.seed = config_.seed * 1'000'003 + ++i;
        r.start(rc, config_.stream);
        net_.notify(r.id());
    }
}

Scenario::RouterRef Scenario::add_router(const std::string& name) {
    RouterRef r;
    if (config_.network_elements) {
        const auto own = config_.router_configs.find(name);
        nes_.push_back(factory_(
            net_, name, own == config_.router_configs.end() ? config_.router : own->second));
        r.ne = nes_.back().get();
        r.id = r.ne->id();
    } else {
        r.plain = &plain_.emplace_back(net_, name);
        r.id = r.plain->id();
    }
    return r;
}

void Scenario::join(const RouterRef& router, IfIndex ifindex) {
    if (router.ne) router.ne->join(ifindex, group_);
    if (router.plain) router.plain->join(ifindex, group_);
}

SegmentId Scenario::segment(SegmentKind kind, const std::string& name, std::size_t level) {
    // Loss-free until run() switches it on (see the DOC comment).
    const SegmentId s = net_.add_segment(kind, name, Impairment{config_.link_delay, 0.0});
    next_host_.push_back(1);
    if (levels_.size() <= level) levels_.resize(level + 1);
    levels_[level].segments.push_back(s);
    return s;
}

IfIndex Scenario::attach(NodeId node, SegmentId s, Nla* address) {
    // Segment k is 10.(k / 256).(k % 256).0/24; attachments get .1, .2, ... Beyond 65,536
    // segments or 254 hosts on one, addresses come one after the other from 100.64.0.0/10
    // (nothing routes by prefix in the virtual network: addresses only need to be unique).
    const std::uint32_t host = next_host_[s]++;
    Nla a;
    if (s < 0x10000 && host < 0xFF) {
        a = ipv4(10, static_cast<std::uint8_t>(s >> 8), static_cast<std::uint8_t>(s & 0xFF),
                 static_cast<std::uint8_t>(host));
    } else {
        const std::uint32_t n = (100u << 24 | 64u << 16) + next_overflow_++;
        a = ipv4(static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                 static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n));
    }
    if (address) *address = a;
    return net_.attach(node, s, a);
}

void Scenario::add_receiver(SegmentId s, const std::string& name) {
    ReceiverNode& r = receivers_.emplace_back(net_, name);
    attach(r.id(), s);
}

void Scenario::build_tree() {
    const int depth = std::max(config_.depth, 1);
    const int fanout = std::max(config_.fanout, 1);
    const SegmentId up = segment(SegmentKind::PointToPoint, "S-R0", 0);
    levels_[0].name = "source link (S-R0)";
    source_attachment_ = net_.attachment(source_.id(), attach(source_.id(), up));
    RouterRef root = add_router("R0");
    attach(root.id, up);
    std::vector<RouterRef> level{root};
    int numbered = 1;
    const int per_leaf = config_.leaf_receivers > 0 ? config_.leaf_receivers : fanout;
    int receivers = 0;
    for (int d = 1; d <= depth; ++d) {
        const bool last = d == depth;
        std::vector<RouterRef> next;
        int child = 0;
        for (const RouterRef& parent : level) {
            if (last && config_.leaf_lan) {
                const SegmentId s = segment(SegmentKind::Lan, cat(net_.name(parent.id), "-LAN"),
                                            static_cast<std::size_t>(d));
                join(parent, attach(parent.id, s));
                for (int k = 0; k < per_leaf; ++k)
                    add_receiver(s, cat("r", std::to_string(++receivers)));
                ++child;
                continue;
            }
            const int children = last ? per_leaf : fanout;
            for (int k = 0; k < children; ++k, ++child) {
                const std::string name = last ? cat("r", std::to_string(++receivers))
                                              : cat("R", std::to_string(numbered++));
                const SegmentId s =
                    segment(SegmentKind::PointToPoint, cat(net_.name(parent.id), "-", name),
                            static_cast<std::size_t>(d));
                join(parent, attach(parent.id, s));
                if (last) {
                    add_receiver(s, name);
                } else {
                    RouterRef r = add_router(name);
                    attach(r.id, s);
                    next.push_back(r);
                }
            }
        }
        levels_[static_cast<std::size_t>(d)].name =
            !last ? cat("level-", std::to_string(d), " links (", std::to_string(child), ")")
            : config_.leaf_lan ? cat("receiver LANs (", std::to_string(child), " x ",
                                     std::to_string(per_leaf), " receivers)")
                               : cat("receiver links (", std::to_string(child), ")");
        level = std::move(next);
    }
}

void Scenario::build_star() {
    const int lans = std::max(config_.fanout, 1);
    const int per_lan = std::max(config_.lan_receivers, 1);
    const SegmentId up = segment(SegmentKind::PointToPoint, "S-R0", 0);
    levels_[0].name = "source link (S-R0)";
    source_attachment_ = net_.attachment(source_.id(), attach(source_.id(), up));
    RouterRef root = add_router("R0");
    attach(root.id, up);
    int n = 0;
    for (int l = 0; l < lans; ++l) {
        const SegmentId s = segment(SegmentKind::Lan, cat("LAN-", std::to_string(l + 1)), 1);
        join(root, attach(root.id, s));
        for (int k = 0; k < per_lan; ++k)
            add_receiver(s, cat("r", std::to_string(++n)));
    }
    levels_[1].name =
        cat("receiver LANs (", std::to_string(lans), " x ", std::to_string(per_lan), " receivers)");
}

void Scenario::build_graph() {
    const EdgeList& g = config_.graph;
    std::vector<RouterRef> routers(g.nodes.size());
    std::vector<NodeId> ids(g.nodes.size());
    std::vector<std::vector<SegmentId>> node_links(g.nodes.size());
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        switch (g.nodes[i].kind) {
            case EdgeNodeKind::Source:
                ids[i] = source_.id();
                break;
            case EdgeNodeKind::Router:
                routers[i] = add_router(g.nodes[i].name);
                ids[i] = routers[i].id;
                break;
            case EdgeNodeKind::Receiver:
                ids[i] = receivers_.emplace_back(net_, g.nodes[i].name).id();
                break;
        }
    }
    levels_.resize(2);
    Duration longest_delay = config_.link_delay;
    for (const EdgeList::Link& l : g.links) {
        bool from_source = false;
        std::string name;
        for (std::size_t n : l.nodes) {
            from_source = from_source || g.nodes[n].kind == EdgeNodeKind::Source;
            name += (name.empty() ? "" : "-") + g.nodes[n].name;
        }
        const SegmentId s = segment(l.lan ? SegmentKind::Lan : SegmentKind::PointToPoint, name,
                                    from_source ? 0 : 1);
        for (std::size_t n : l.nodes) {
            const IfIndex ifindex = attach(ids[n], s);
            if (g.nodes[n].kind == EdgeNodeKind::Source && source_attachment_ == kAny)
                source_attachment_ = net_.attachment(ids[n], ifindex);
        }
        if (l.delay_ms || l.loss_percent) {
            const Duration delay = l.delay_ms
                                       ? std::chrono::duration_cast<Duration>(
                                             std::chrono::duration<double, std::milli>(*l.delay_ms))
                                       : config_.link_delay;
            own_impairments_.emplace_back(s, delay,
                                          l.loss_percent ? *l.loss_percent / 100.0 : -1.0);
            net_.set_impairment(s, kAny, kAny, Impairment{delay, 0.0});
            longest_delay = std::max(longest_delay, delay);
        }
    }
    levels_[0].name = "source links";
    levels_[1].name = "other links";
    // The loss-free start lasts as long as the farthest node's path could: its hops from the
    // source (breadth-first, through routers only: hosts do not forward) times the longest
    // link delay.
    std::vector<std::vector<std::size_t>> on_links(g.nodes.size());  // in interface order
    for (std::size_t k = 0; k < g.links.size(); ++k)
        for (std::size_t n : g.links[k].nodes)
            on_links[n].push_back(k);
    std::vector<int> hops(g.nodes.size(), -1);
    std::deque<std::size_t> queue;
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        if (g.nodes[i].kind == EdgeNodeKind::Source) hops[i] = 0, queue.push_back(i);
    int farthest = 0;
    while (!queue.empty()) {
        const std::size_t n = queue.front();
        queue.pop_front();
        farthest = std::max(farthest, hops[n]);
        if (g.nodes[n].kind == EdgeNodeKind::Receiver) continue;
        for (std::size_t k : on_links[n])
            for (std::size_t m : g.links[k].nodes)
                if (hops[m] < 0) hops[m] = hops[n] + 1, queue.push_back(m);
    }
    loss_free_for_ = longest_delay * (farthest + 1);

    // Multicast membership as PIM would leave it on a graph with loops or with a LAN behind
    // two routers: one forwarder per link, the router on it nearest the source (PIM's
    // assert winner; a tie goes to the one declared first) among those whose way to the
    // source is another link, and only where someone wants the group: a receiver, or a
    // router whose way to the source is that link. The routers' reverse-path check
    // (MulticastRouterNode, the core's RPF rules) drops whatever else arrives.
    const Nla source_address = *net_.address(source_.id(), 1);
    std::vector<std::optional<std::size_t>> up_link(g.nodes.size());
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        if (g.nodes[i].kind != EdgeNodeKind::Router) continue;
        if (const auto up = net_.route(ids[i], source_address))
            up_link[i] = on_links[i].at(up->ifindex - 1);
    }
    std::vector<std::optional<std::size_t>> forwarder(g.links.size());
    std::vector<bool> wanted(g.links.size(), false);
    for (std::size_t k = 0; k < g.links.size(); ++k) {
        for (std::size_t n : g.links[k].nodes) {
            if (g.nodes[n].kind == EdgeNodeKind::Receiver || up_link[n] == k) wanted[k] = true;
            if (up_link[n] && *up_link[n] != k && (!forwarder[k] || hops[n] < hops[*forwarder[k]]))
                forwarder[k] = n;
        }
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i)
        for (std::size_t j = 0; j < on_links[i].size(); ++j)
            if (wanted[on_links[i][j]] && forwarder[on_links[i][j]] == i)
                join(routers[i], static_cast<IfIndex>(j + 1));
}

bool Scenario::all_complete() const {
    return std::all_of(receivers_.begin(), receivers_.end(),
                       [](const ReceiverNode& r) { return r.complete(); });
}

bool Scenario::run() {
    // Loss starts once ODATA 0 has crossed the deepest path (every hop of it, plus slack).
    const auto hops = static_cast<int>(levels_.size());
    const Duration loss_free =
        config_.shape == ScenarioShape::Graph ? loss_free_for_ : config_.link_delay * (hops + 1);
    net_.run_until(stream_start_ + loss_free + std::chrono::milliseconds(1));
    // Bursts only where there is loss: a link configured loss-free stays so (scenario.h).
    auto impairment = [this](Duration delay, double loss) {
        if (loss <= 0) return Impairment{delay, 0.0};
        return Impairment{delay, loss, config_.burst_enter, config_.burst_exit, config_.burst_loss};
    };
    for (std::size_t level = 0; level < levels_.size(); ++level) {
        double loss = config_.loss;
        for (const auto& [l, p] : config_.level_loss)
            if (l == level) loss = p;
        for (SegmentId s : levels_[level].segments)
            net_.set_impairment(s, kAny, kAny, impairment(config_.link_delay, loss));
    }
    for (const auto& [s, delay, own_loss] : own_impairments_)
        net_.set_impairment(s, kAny, kAny,
                            impairment(delay, own_loss >= 0 ? own_loss : config_.loss));
    const double stream_seconds =
        config_.stream.apdus_per_second > 0
            ? static_cast<double>(config_.stream.apdus) / config_.stream.apdus_per_second
            : 0.0;
    const Time limit =
        stream_start_ +
        std::chrono::duration_cast<Duration>(std::chrono::duration<double>(stream_seconds)) +
        config_.time_limit_after_stream;
    while (net_.now() < limit) {
        if (source_.stream_done() && all_complete()) break;
        net_.run_until(std::min(limit, net_.now() + kCheckEvery));
    }
    if (all_complete()) {
        Time last = stream_start_;  // no receivers: complete at once
        for (const ReceiverNode& r : receivers_)
            last = std::max(last, r.tally().last_delivery);
        completed_at_ = last;
        return true;
    }
    return false;
}

ScenarioResult Scenario::result() const {
    ScenarioResult r;
    r.network_elements = config_.network_elements;
    r.routers = config_.network_elements ? nes_.size() : plain_.size();
    r.receivers = receivers_.size();
    for (const ReceiverNode& n : receivers_) {
        if (n.complete()) ++r.receivers_complete;
        if (n.unrecoverable() > 0) ++r.receivers_with_loss;
        r.unrecoverable_sqns += n.unrecoverable();
        r.mismatched_apdus += n.tally().mismatched;
        r.receiver_naks_sent += n.naks_sent();
    }
    r.source_nak_packets = net_.counters(source_attachment_).received.count(PacketType::Nak);
    r.source = source_.source().stats();
    r.source_distinct_sqns_naked = naks_per_sqn_.size();
    for (const auto& [sqn, n] : naks_per_sqn_)
        r.source_max_naks_per_sqn = std::max<std::uint64_t>(r.source_max_naks_per_sqn, n);
    for (const Level& l : levels_) {
        LevelTraffic t;
        t.name = l.name;
        t.links = l.segments.size();
        for (SegmentId s : l.segments)
            t.sent += net_.segment_sent(s);
        r.levels.push_back(std::move(t));
    }
    for (const auto& ne : nes_)
        r.router_totals += ne->router().totals();
    if (completed_at_ != kNever) r.completion = completed_at_ - stream_start_;
    r.ran_for = net_.now() - kStart;
    r.stalled_timers = net_.stalled_timers();
    return r;
}

}  // namespace pgm::sim
