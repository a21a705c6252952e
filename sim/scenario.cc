#include "sim/scenario.h"

#include <algorithm>
#include <stdexcept>

#include "protocol/random.h"

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

// The counts of `more` added to `sum` (its window edges and rate stay `sum`'s).
void add_counts(SourceStats& sum, const SourceStats& more) {
    for (auto [a, b] : {
             std::pair{&sum.data_bytes_sent, more.data_bytes_sent},
             {&sum.total_bytes_sent, more.total_bytes_sent},
             {&sum.odata_packets_sent, more.odata_packets_sent},
             {&sum.repair_packets_sent, more.repair_packets_sent},
             {&sum.spms_sent, more.spms_sent},
             {&sum.ncfs_sent, more.ncfs_sent},
             {&sum.naks_received, more.naks_received},
             {&sum.naks_too_late, more.naks_too_late},
             {&sum.naks_duplicate, more.naks_duplicate},
             {&sum.naks_shed, more.naks_shed},
             {&sum.naks_unanswered, more.naks_unanswered},
             {&sum.naks_ignored, more.naks_ignored},
             {&sum.parity_naks_received, more.parity_naks_received},
             {&sum.parity_naks_too_late, more.parity_naks_too_late},
             {&sum.parity_odata_sent, more.parity_odata_sent},
             {&sum.parity_rdata_sent, more.parity_rdata_sent},
             {&sum.nnaks_received, more.nnaks_received},
             {&sum.spmrs_received, more.spmrs_received},
             {&sum.spmrs_suppressed, more.spmrs_suppressed},
             {&sum.packets_malformed, more.packets_malformed},
             {&sum.packets_ignored, more.packets_ignored},
             {&sum.apdus_discarded, more.apdus_discarded},
             {&sum.window_stalls, more.window_stalls},
             {&sum.repairs_expired, more.repairs_expired},
         })
        *a += b;
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
    : config_(config), factory_(std::move(factory)), net_(config.seed) {
    if (!factory_) {
        factory_ = [](Network& net, std::string name, const router::RouterConfig& c) {
            return std::make_unique<RouterNode>(net, std::move(name), c);
        };
    }
    if (config_.shape == ScenarioShape::Graph) {
        // Source k sends from port 7000 + k: a bound well inside the port space.
        const std::size_t sources = sources_of(config_.graph).size();
        if (sources > kMaxSources)
            throw std::invalid_argument(
                cat(std::to_string(sources), " sources, more than ", std::to_string(kMaxSources)));
        several_sessions_ = sources > 1;
        build_graph();
    } else {
        auto refuse = [](const std::string& why) { throw std::invalid_argument(why); };
        const std::string groups = std::to_string(config_.groups);
        if (config_.sources < 1) refuse("at least one source is needed");
        if (static_cast<std::size_t>(config_.sources) > kMaxSources)
            refuse(cat(std::to_string(config_.sources), " sources, more than ",
                       std::to_string(kMaxSources)));
        if (config_.groups < 1) refuse("at least one group is needed");
        if (config_.groups > config_.sources)
            refuse(cat("more groups (", groups, ") than sources (", std::to_string(config_.sources),
                       "): each group needs a source"));
        if (config_.groups_per_receiver < 1 || config_.groups_per_receiver > config_.groups)
            refuse(cat("groups per receiver must be 1 to the number of groups (", groups, ")"));
        if (config_.source_routers.size() + 1 > static_cast<std::size_t>(config_.sources))
            refuse(cat(std::to_string(config_.source_routers.size()),
                       " routers named, more than the sources beyond the first (",
                       std::to_string(config_.sources - 1), ")"));
        several_sessions_ = config_.sources > 1;
        add_source("S");  // node 0, as before sessions
        if (config_.shape == ScenarioShape::Tree)
            build_tree();
        else
            build_star();
        add_tree_sources();
        if (static_cast<std::size_t>(config_.groups) > receivers_.size())
            refuse(cat("more groups (", groups, ") than receivers (",
                       std::to_string(receivers_.size()), "): a group would have none"));
        const auto g = static_cast<std::size_t>(config_.groups);
        for (std::size_t k = 0; k < receivers_.size(); ++k) {
            std::vector<Nla> joined;
            for (int j = 0; j < config_.groups_per_receiver; ++j)
                joined.push_back(session_group((k + static_cast<std::size_t>(j)) % g));
            receiver_groups_.push_back(std::move(joined));
        }
    }
    if (several_sessions_) join_paths();

    // The sources: first SPM now, the stream after `start_after`. Source k's TSI is the
    // run's GSI with data-source port 7000 + k.
    const Gsi gsi{{0x50, 0x47, 0x4D, static_cast<std::uint8_t>(config_.seed >> 16),
                   static_cast<std::uint8_t>(config_.seed >> 8),
                   static_cast<std::uint8_t>(config_.seed)}};
    naks_per_sqn_.resize(sources_.size());
    for (std::size_t k = 0; k < sources_.size(); ++k) {
        SourceNode& source = sources_[k];
        SourceConfig sc;
        sc.address = *net_.address(source.id(), 1);
        sc.group = source_groups_[k];
        sc.ifindex = 1;
        sc.data_destination_port = kDataPort;
        sc.source_port = static_cast<std::uint16_t>(kSourcePort + k);
        sc.gsi = gsi;
        sc.txw_sqns = std::max(config_.source_txw_sqns, 1u);
        sc.txw_secs = std::chrono::seconds(60);
        sc.seed = config_.seed + k * 7'919;
        // A tree or star is at most 8 hops deep from S; an edge list or random tree may be
        // far deeper, and a source below R0 sends up before down.
        if (config_.shape == ScenarioShape::Graph || several_sessions_) sc.ttl = kGraphSourceTtl;
        sc.rdata_delay = config_.source_rdata_delay;
        source.start(sc, config_.stream);
        source.observe([this, k](const Arrival&, Bytes pgm, Time) {
            ParseResult r = parse(pgm);
            if (!r || r.view.header.type != PacketType::Nak) return;
            auto& naks = naks_per_sqn_[k];
            ++naks[r.view.get<NakFields>()->sqn.value()];
            if (auto list = r.view.nak_list())
                for (std::size_t i = 0; i < list->size(); ++i)
                    ++naks[(*list)[i].value()];
        });
    }
    stream_start_ = net_.now() + config_.stream.start_after;

    std::uint64_t i = 0;
    receiver_sessions_.resize(receivers_.size());
    for (std::size_t n = 0; n < receivers_.size(); ++n) {
        ReceiverNode& r = receivers_[n];
        const std::vector<Nla>& joined = receiver_groups_[n];
        std::vector<Tsi> sessions;
        for (std::size_t k = 0; k < sources_.size(); ++k) {
            if (std::find(joined.begin(), joined.end(), source_groups_[k]) == joined.end())
                continue;
            receiver_sessions_[n].push_back(k);
            sessions.push_back(Tsi{gsi, static_cast<std::uint16_t>(kSourcePort + k)});
        }
        ReceiverConfig rc;
        // Room for a peer per source of its groups (up to kMaxSources), beyond the default.
        rc.max_sources = std::max(rc.max_sources, receiver_sessions_[n].size());
        rc.address = *net_.address(r.id(), 1);
        // One group: the receiver's own check; several: the node's (a host's IP layer).
        rc.group = joined.size() == 1 ? joined.front() : Nla{};
        rc.ifindex = 1;
        rc.data_destination_port = kDataPort;
        rc.max_window_sqns = config_.receiver_window_sqns;
        rc.nak_bo_ivl = config_.receiver_nak_bo_ivl;
        rc.seed = config_.seed * 1'000'003 + ++i;
        if (several_sessions_)
            r.start(rc, config_.stream, std::move(sessions),
                    joined.size() > 1 ? joined : std::vector<Nla>{});
        else
            r.start(rc, config_.stream);
        net_.notify(r.id());
    }
}

SourceNode& Scenario::add_source(const std::string& name) {
    return sources_.emplace_back(net_, name);
}

void Scenario::add_tree_sources() {
    source_groups_.push_back(session_group(0));
    source_attachments_.push_back(net_.attachment(sources_[0].id(), 1));
    if (config_.sources < 2) return;
    std::uint64_t state = config_.seed ^ 0x5E55'1045'0000'0000ULL;
    for (int k = 1; k < config_.sources; ++k) {
        const std::string name = cat("S", std::to_string(k + 1));
        SourceNode& source = add_source(name);
        // Drawn for every source, named or not, so that naming one leaves the rest in place.
        const RouterRef* router = &routers_[splitmix64(state) % routers_.size()];
        if (static_cast<std::size_t>(k) <= config_.source_routers.size()) {
            const std::string& wanted = config_.source_routers[static_cast<std::size_t>(k) - 1];
            const auto named =
                std::find_if(routers_.begin(), routers_.end(),
                             [&](const RouterRef& r) { return net_.name(r.id) == wanted; });
            if (named == routers_.end())
                throw std::invalid_argument(cat("source ", name, ": no router '", wanted,
                                                "' (R0 to R", std::to_string(routers_.size() - 1),
                                                ")"));
            router = &*named;
        }
        if (net_.attachments_of(router->id).size() >= router::kMaxInterfaces)
            throw std::invalid_argument(cat("source ", name, ": router ", net_.name(router->id),
                                            " would have more than ",
                                            std::to_string(router::kMaxInterfaces),
                                            " interfaces (place it on another router)"));
        const SegmentId link =
            segment(SegmentKind::PointToPoint, cat(name, "-", net_.name(router->id)), 0);
        attach(source.id(), link);
        attach(router->id, link);
        source_groups_.push_back(
            session_group(static_cast<std::size_t>(k % std::max(config_.groups, 1))));
        source_attachments_.push_back(net_.attachment(source.id(), 1));
    }
    levels_[0].name = cat("source links (", std::to_string(config_.sources), ")");
}

void Scenario::join_paths() {
    std::unordered_map<NodeId, const RouterRef*> by_id;
    for (const RouterRef& r : routers_)
        by_id.emplace(r.id, &r);
    for (std::size_t k = 0; k < sources_.size(); ++k) {
        const Nla source_address = *net_.address(sources_[k].id(), 1);
        const Nla& group = source_groups_[k];
        std::unordered_map<NodeId, bool> on_path;  // routers already joined towards source k
        for (std::size_t n = 0; n < receivers_.size(); ++n) {
            const auto& joined = receiver_groups_[n];
            if (std::find(joined.begin(), joined.end(), group) == joined.end()) continue;
            NodeId node = receivers_[n].id();
            // Up the unicast routes towards the source: the way its packets come down, by
            // the reverse-path check. The routes towards one address form a tree (Network:
            // one breadth-first search, every node of a link routes through the same
            // neighbour on it), so each link has one forwarder of this source, the router
            // on it nearest the source (ties by attachment order). Stops at the source's
            // segment or at a router whose way up is joined already.
            for (;;) {
                const auto route = net_.route(node, source_address);
                if (!route || route->next_hop == kAny) break;
                const AttachmentInfo& hop = net_.info(route->next_hop);
                const auto router = by_id.find(hop.node);
                if (router == by_id.end()) break;  // the source itself
                // (S, G): another source of the group on another way leaves this one be.
                join(*router->second, hop.ifindex, group, source_address);
                if (!on_path.emplace(hop.node, true).second) break;
                node = hop.node;
            }
        }
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
    routers_.push_back(r);
    return r;
}

void Scenario::join(const RouterRef& router, IfIndex ifindex) {
    // A graph's one source may send to a group of its own (group=); a tree's or star's
    // source is added after its routers, to session_group(0).
    if (!several_sessions_)
        join(router, ifindex, source_groups_.empty() ? session_group(0) : source_groups_[0]);
}

void Scenario::join(const RouterRef& router, IfIndex ifindex, const Nla& group) {
    if (router.ne) router.ne->join(ifindex, group);
    if (router.plain) router.plain->join(ifindex, group);
}

void Scenario::join(const RouterRef& router, IfIndex ifindex, const Nla& group, const Nla& source) {
    if (router.ne) router.ne->join(ifindex, group, source);
    if (router.plain) router.plain->join(ifindex, group, source);
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
    attach(sources_[0].id(), up);
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
    attach(sources_[0].id(), up);
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
    // The sources first (node 0 is the first source, wherever the file declares it).
    const std::vector<std::size_t> sources = sources_of(g);
    for (std::size_t i : sources) {
        ids[i] = add_source(g.nodes[i].name).id();
        source_groups_.push_back(groups_of(g, i).front());
    }
    for (std::size_t i = 0; i < g.nodes.size(); ++i) {
        switch (g.nodes[i].kind) {
            case EdgeNodeKind::Source:
                break;
            case EdgeNodeKind::Router:
                routers[i] = add_router(g.nodes[i].name);
                ids[i] = routers[i].id;
                break;
            case EdgeNodeKind::Receiver:
                ids[i] = receivers_.emplace_back(net_, g.nodes[i].name).id();
                receiver_groups_.push_back(groups_of(g, i));
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
        for (std::size_t n : l.nodes)
            attach(ids[n], s);
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
    for (std::size_t i : sources)  // each on exactly one link (sim/edge_list.h)
        source_attachments_.push_back(net_.attachment(ids[i], 1));
    // The loss-free start lasts as long as the farthest node's path could: its hops from a
    // source (breadth-first, through routers only: hosts do not forward) times the longest
    // link delay.
    std::vector<std::vector<std::size_t>> on_links(g.nodes.size());  // in interface order
    for (std::size_t k = 0; k < g.links.size(); ++k)
        for (std::size_t n : g.links[k].nodes)
            on_links[n].push_back(k);
    int farthest = 0;
    std::vector<int> hops;  // from the first source
    for (std::size_t i : sources) {
        std::vector<int> from = hops_from_source(g, i);
        farthest = std::max(farthest, *std::max_element(from.begin(), from.end()));
        if (hops.empty()) hops = std::move(from);
    }
    loss_free_for_ = longest_delay * (farthest + 1);
    if (several_sessions_) return;  // join_paths()

    // Multicast membership as PIM would leave it on a graph with loops or with a LAN behind
    // two routers: one forwarder per link, the router on it nearest the source (PIM's
    // assert winner; a tie goes to the one declared first) among those whose way to the
    // source is another link, and only where someone wants the group: a receiver, or a
    // router whose way to the source is that link. The routers' reverse-path check
    // (MulticastRouterNode, the core's RPF rules) drops whatever else arrives.
    const Nla source_address = *net_.address(sources_[0].id(), 1);
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
    // A source below R0 of a tree sends up to R0 and down again: twice as deep.
    const Duration loss_free = config_.shape == ScenarioShape::Graph ? loss_free_for_
                               : several_sessions_ ? config_.link_delay * (2 * hops + 1)
                                                   : config_.link_delay * (hops + 1);
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
        if (std::all_of(sources_.begin(), sources_.end(),
                        [](const SourceNode& n) { return n.stream_done(); }) &&
            all_complete())
            break;
        net_.run_until(std::min(limit, net_.now() + kCheckEvery));
    }
    if (all_complete()) {
        Time last = stream_start_;  // no receivers: complete at once
        for (const ReceiverNode& r : receivers_)
            for (std::size_t i = 0; i < r.sessions(); ++i)
                last = std::max(last, r.tally(i).last_delivery);
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
        for (std::size_t i = 0; i < n.sessions(); ++i)
            r.mismatched_apdus += n.tally(i).mismatched;
        r.other_session_apdus += n.other_session_apdus();
        r.receiver_naks_sent += n.naks_sent();
    }
    for (std::size_t k = 0; k < sources_.size(); ++k) {
        SessionResult s;
        s.source = net_.name(sources_[k].id());
        s.group = source_groups_[k];
        s.stats = sources_[k].source().stats();
        const AttachmentCounters& link = net_.counters(source_attachments_[k]);
        s.source_nak_packets = link.received.count(PacketType::Nak);
        s.source_link_rdata_bytes = link.sent.byte_count(PacketType::Rdata);
        Time last = stream_start_;
        for (std::size_t n = 0; n < receivers_.size(); ++n) {
            const auto& mine = receiver_sessions_[n];
            const auto at = std::find(mine.begin(), mine.end(), k);
            if (at == mine.end()) continue;
            const auto i = static_cast<std::size_t>(at - mine.begin());
            const ReceiverNode& node = receivers_[n];
            const ReceiverTally& t = node.tally(i);
            ++s.receivers;
            if (node.complete(i)) ++s.receivers_complete;
            if (t.lost_sqns > 0) ++s.receivers_with_loss;
            s.unrecoverable_sqns += t.lost_sqns;
            s.mismatched_apdus += t.mismatched;
            if (t.last_delivery != kNever) last = std::max(last, t.last_delivery);
        }
        s.complete = s.receivers_complete == s.receivers && sources_[k].stream_done();
        if (s.complete) s.completion = last - stream_start_;
        r.source_nak_packets += s.source_nak_packets;
        r.source_link_rdata_bytes += s.source_link_rdata_bytes;
        if (k == 0)
            r.source = s.stats;
        else
            add_counts(r.source, s.stats);
        r.source_distinct_sqns_naked += naks_per_sqn_[k].size();
        for (const auto& [sqn, n] : naks_per_sqn_[k])
            r.source_max_naks_per_sqn = std::max<std::uint64_t>(r.source_max_naks_per_sqn, n);
        r.sessions.push_back(std::move(s));
    }
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
    for (NodeId n = 0; n < net_.node_count(); ++n)
        for (AttachmentId a : net_.attachments_of(n))
            r.deliveries += net_.counters(a).received.total();
    for (const ReceiverNode& n : receivers_)
        for (AttachmentId a : net_.attachments_of(n.id()))
            r.receiver_deliveries += net_.counters(a).received;
    if (completed_at_ != kNever) r.completion = completed_at_ - stream_start_;
    r.ran_for = net_.now() - kStart;
    r.stalled_timers = net_.stalled_timers();
    return r;
}

}  // namespace pgm::sim
