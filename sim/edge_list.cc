#include "sim/edge_list.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <sstream>
#include <unordered_map>

#include "protocol/random.h"

namespace pgm::sim {

namespace {

// A link's delay beyond a minute is a typo (and would overflow the virtual clock's
// arithmetic long before 1e300).
constexpr double kMaxDelayMs = 60'000;

// A finite decimal number (from_chars also takes "nan" and "inf").
std::optional<double> number(const std::string& s) {
    double v = 0;
    const char* end = s.data() + s.size();
    auto [p, ec] = std::from_chars(s.data(), end, v);
    if (ec != std::errc() || p != end || !std::isfinite(v)) return std::nullopt;
    return v;
}

}  // namespace

EdgeListResult parse_edge_list(const std::string& text) {
    EdgeList list;
    std::unordered_map<std::string, std::size_t> by_name;
    std::vector<int> receiver_links;  // per node: links or LANs it is on (receivers)
    std::istringstream in(text);
    std::string raw;
    int line = 0;
    auto fail = [&](const std::string& what) {
        return EdgeListResult{std::nullopt, "line " + std::to_string(line) + ": " + what};
    };
    while (std::getline(in, raw)) {
        ++line;
        if (auto hash = raw.find('#'); hash != std::string::npos) raw.resize(hash);
        std::istringstream words(raw);
        std::vector<std::string> w;
        for (std::string s; words >> s;)
            w.push_back(s);
        if (w.empty()) continue;
        const std::string& keyword = w[0];
        if (keyword == "source" || keyword == "router" || keyword == "receiver") {
            if (w.size() < 2) return fail(keyword + " without a name");
            const EdgeNodeKind kind = keyword == "source"   ? EdgeNodeKind::Source
                                      : keyword == "router" ? EdgeNodeKind::Router
                                                            : EdgeNodeKind::Receiver;
            if (kind == EdgeNodeKind::Source &&
                std::count_if(w.begin() + 1, w.end(), [](const std::string& x) {
                    return x.find('=') == std::string::npos;
                }) != 1)
                return fail("one source name expected (a source line per source)");
            const std::size_t first_node = list.nodes.size();
            bool groups_given = false;
            for (std::size_t i = 1; i < w.size(); ++i) {
                if (const auto eq = w[i].find('='); eq != std::string::npos) {
                    if (first_node == list.nodes.size())
                        return fail("'" + w[i] + "' is not a node name");
                    if (eq == 0 || eq + 1 == w[i].size())
                        return fail("'" + w[i] + "' is not KEY=VALUE");
                    const std::string key = w[i].substr(0, eq);
                    const std::string value = w[i].substr(eq + 1);
                    if (kind == EdgeNodeKind::Router) {
                        for (std::size_t n = first_node; n < list.nodes.size(); ++n)
                            list.nodes[n].settings.push_back({key, value, line});
                        continue;
                    }
                    // A source sends to one group; a receiver joins a list of them.
                    const bool source = kind == EdgeNodeKind::Source;
                    if (key != (source ? "group" : "groups"))
                        return fail("unknown setting '" + key + "' (" +
                                    (source ? "group=ADDRESS" : "groups=ADDRESS,...") + ")");
                    if (groups_given) return fail("'" + key + "' given twice");
                    groups_given = true;
                    std::vector<Nla> groups;
                    std::istringstream items(value);
                    for (std::string item; std::getline(items, item, ',');) {
                        const auto g = Nla::parse(item);
                        if (!g || !g->is_ipv4() || !g->is_multicast())
                            return fail("'" + item + "' is not an IPv4 multicast group");
                        if (std::find(groups.begin(), groups.end(), *g) != groups.end())
                            return fail("group " + item + " twice in '" + w[i] + "'");
                        groups.push_back(*g);
                    }
                    if (groups.empty() || value.back() == ',')
                        return fail("'" + w[i] + "' has an empty group");
                    if (source && groups.size() != 1)
                        return fail("a source sends to one group ('" + w[i] + "')");
                    for (std::size_t n = first_node; n < list.nodes.size(); ++n)
                        list.nodes[n].groups = groups;
                    continue;
                }
                if (first_node != list.nodes.size() &&
                    (!list.nodes.back().settings.empty() || groups_given))
                    return fail("node name '" + w[i] + "' after settings (names first)");
                if (!by_name.emplace(w[i], list.nodes.size()).second)
                    return fail("node '" + w[i] + "' declared twice");
                list.nodes.push_back(EdgeList::Node{w[i], kind, {}, {}});
                receiver_links.push_back(0);
            }
        } else if (keyword == "link" || keyword == "lan") {
            EdgeList::Link link;
            link.lan = keyword == "lan";
            link.line = line;
            for (std::size_t i = 1; i < w.size(); ++i) {
                if (auto eq = w[i].find('='); eq != std::string::npos) {
                    const std::string key = w[i].substr(0, eq);
                    if (key != "delay" && key != "loss")
                        return fail("unknown setting '" + key + "' (delay=MS, loss=PERCENT)");
                    const auto v = number(w[i].substr(eq + 1));
                    const double max = key == "delay" ? kMaxDelayMs : 100;
                    if (!v || *v < 0 || *v > max)
                        return fail("bad value in '" + w[i] + "' (" + key +
                                    ": a number from 0 to " +
                                    (key == "delay" ? "60000 ms" : "100 %") + ")");
                    (key == "delay" ? link.delay_ms : link.loss_percent) = v;
                    continue;
                }
                auto it = by_name.find(w[i]);
                if (it == by_name.end()) return fail("unknown node '" + w[i] + "'");
                for (std::size_t n : link.nodes)
                    if (n == it->second) return fail("node '" + w[i] + "' twice on one " + keyword);
                link.nodes.push_back(it->second);
            }
            if (!link.lan && link.nodes.size() != 2) return fail("a link joins exactly two nodes");
            if (link.lan && link.nodes.size() < 2) return fail("a lan needs at least two nodes");
            for (std::size_t n : link.nodes) {
                if (list.nodes[n].kind == EdgeNodeKind::Receiver && ++receiver_links[n] > 1)
                    return fail("receiver '" + list.nodes[n].name + "' on a second link");
            }
            list.links.push_back(std::move(link));
        } else {
            return fail("unknown statement '" + keyword +
                        "' (source, router, receiver, link, lan)");
        }
    }
    auto whole_file = [](const std::string& what) { return EdgeListResult{std::nullopt, what}; };
    std::vector<std::vector<std::size_t>> on_links(list.nodes.size());
    for (std::size_t k = 0; k < list.links.size(); ++k)
        for (std::size_t n : list.links[k].nodes)
            on_links[n].push_back(k);
    for (std::size_t i = 0; i < list.nodes.size(); ++i) {
        if (list.nodes[i].kind == EdgeNodeKind::Source) {
            // A source host sends on its first interface only (Scenario: ifindex 1).
            if (on_links[i].empty())
                return whole_file("source '" + list.nodes[i].name + "' is on no link");
            if (on_links[i].size() > 1)
                return EdgeListResult{
                    std::nullopt,
                    "line " + std::to_string(list.links[on_links[i][1]].line) + ": source '" +
                        list.nodes[i].name +
                        "' on a second link (a host sends on one; put a router or a lan there)"};
        }
        if (list.nodes[i].kind == EdgeNodeKind::Receiver && receiver_links[i] == 0)
            return whole_file("receiver '" + list.nodes[i].name + "' is on no link");
    }
    const std::vector<std::size_t> sources = sources_of(list);
    if (sources.empty()) return whole_file("no source declared");
    if (sources.size() > kMaxSources)
        return whole_file(std::to_string(sources.size()) + " sources, more than " +
                          std::to_string(kMaxSources));
    std::vector<Nla> sent;  // the sources' groups
    for (std::size_t s : sources)
        sent.push_back(groups_of(list, s).front());
    for (std::size_t i = 0; i < list.nodes.size(); ++i) {
        if (list.nodes[i].kind != EdgeNodeKind::Receiver) continue;
        for (const Nla& g : list.nodes[i].groups)
            if (std::find(sent.begin(), sent.end(), g) == sent.end())
                return whole_file("receiver '" + list.nodes[i].name + "' joins " + g.to_string() +
                                  ", which no source sends to");
    }
    // Every receiver must be reachable from each source of its groups: through routers
    // only (hosts do not forward), else the run could never complete.
    for (std::size_t k = 0; k < sources.size(); ++k) {
        const std::vector<int> hops = hops_from_source(list, sources[k]);
        for (std::size_t i = 0; i < list.nodes.size(); ++i) {
            if (list.nodes[i].kind != EdgeNodeKind::Receiver || hops[i] >= 0) continue;
            const std::vector<Nla> joined = groups_of(list, i);
            if (std::find(joined.begin(), joined.end(), sent[k]) != joined.end())
                return whole_file("receiver '" + list.nodes[i].name +
                                  "' cannot be reached from source '" +
                                  list.nodes[sources[k]].name + "' (no path through routers)");
        }
    }
    return EdgeListResult{std::move(list), {}};
}

Nla session_group(std::size_t g) {
    return Nla::ipv4((239u << 24 | 1u << 16 | 2u << 8 | 3u) + static_cast<std::uint32_t>(g));
}

std::vector<std::size_t> sources_of(const EdgeList& list) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < list.nodes.size(); ++i)
        if (list.nodes[i].kind == EdgeNodeKind::Source) out.push_back(i);
    return out;
}

std::vector<Nla> groups_of(const EdgeList& list, std::size_t node) {
    const EdgeList::Node& n = list.nodes[node];
    if (n.kind == EdgeNodeKind::Router) return {};
    if (n.kind == EdgeNodeKind::Source)
        return {n.groups.empty() ? session_group(0) : n.groups.front()};
    if (!n.groups.empty()) return n.groups;
    std::vector<Nla> all;
    for (std::size_t s : sources_of(list)) {
        const Nla g = groups_of(list, s).front();
        if (std::find(all.begin(), all.end(), g) == all.end()) all.push_back(g);
    }
    return all;
}

std::vector<int> hops_from_source(const EdgeList& list, std::size_t source) {
    std::vector<std::vector<std::size_t>> on_links(list.nodes.size());  // in interface order
    for (std::size_t k = 0; k < list.links.size(); ++k)
        for (std::size_t n : list.links[k].nodes)
            on_links[n].push_back(k);
    std::vector<int> hops(list.nodes.size(), -1);
    std::deque<std::size_t> queue{source};
    hops[source] = 0;
    while (!queue.empty()) {
        const std::size_t n = queue.front();
        queue.pop_front();
        // Hosts do not forward: only the source and routers pass packets on.
        if (n != source && list.nodes[n].kind != EdgeNodeKind::Router) continue;
        for (std::size_t k : on_links[n])
            for (std::size_t m : list.links[k].nodes)
                if (hops[m] < 0) hops[m] = hops[n] + 1, queue.push_back(m);
    }
    return hops;
}

FarthestReceiver farthest_receiver(const EdgeList& list) {
    FarthestReceiver far;
    for (std::size_t s : sources_of(list)) {
        const Nla group = groups_of(list, s).front();
        const std::vector<int> hops = hops_from_source(list, s);
        for (std::size_t i = 0; i < list.nodes.size(); ++i) {
            if (list.nodes[i].kind != EdgeNodeKind::Receiver || hops[i] <= far.hops) continue;
            // Only its own receivers: the others never see its packets.
            const std::vector<Nla> joined = groups_of(list, i);
            if (std::find(joined.begin(), joined.end(), group) == joined.end()) continue;
            far = FarthestReceiver{hops[i], s, i};
        }
    }
    return far;
}

int max_receiver_hops(const EdgeList& list) {
    return farthest_receiver(list).hops;
}

std::optional<std::string> add_sessions(EdgeList& list, int sources, int groups, int per_receiver,
                                        const std::vector<std::string>& at, std::uint64_t seed) {
    std::vector<std::size_t> routers;
    std::size_t receivers = 0;
    for (std::size_t i = 0; i < list.nodes.size(); ++i) {
        if (list.nodes[i].kind == EdgeNodeKind::Router) routers.push_back(i);
        if (list.nodes[i].kind == EdgeNodeKind::Receiver) ++receivers;
    }
    if (sources < 1) return "at least one source is needed";
    if (groups < 1) return "at least one group is needed";
    if (groups > sources)
        return "more groups (" + std::to_string(groups) + ") than sources (" +
               std::to_string(sources) + "): each group needs a source";
    if (static_cast<std::size_t>(groups) > receivers)
        return "more groups (" + std::to_string(groups) + ") than receivers (" +
               std::to_string(receivers) + "): a group would have none";
    if (per_receiver < 1 || per_receiver > groups)
        return "groups per receiver must be 1 to the number of groups (" + std::to_string(groups) +
               ")";
    if (at.size() + 1 > static_cast<std::size_t>(sources))
        return std::to_string(at.size()) +
               " routers named, more than the sources beyond the first (" +
               std::to_string(sources - 1) + ")";
    std::vector<std::size_t> placed;
    std::uint64_t state = seed ^ 0x5E55'1045'0000'0000ULL;
    for (int s = 2; s <= sources; ++s) {
        // Drawn for every source, named or not, so that naming one leaves the rest in place.
        std::size_t router = routers[splitmix64(state) % routers.size()];
        if (static_cast<std::size_t>(s - 1) <= at.size()) {
            const std::string& wanted = at[static_cast<std::size_t>(s - 2)];
            const auto named = std::find_if(routers.begin(), routers.end(), [&](std::size_t r) {
                return list.nodes[r].name == wanted;
            });
            if (named == routers.end())
                return "source S" + std::to_string(s) + ": no router '" + wanted + "'";
            router = *named;
        }
        placed.push_back(router);
    }
    for (int s = 2; s <= sources; ++s) {
        list.nodes.push_back(EdgeList::Node{"S" + std::to_string(s), EdgeNodeKind::Source, {}, {}});
        list.links.push_back(EdgeList::Link{
            {placed[static_cast<std::size_t>(s - 2)], list.nodes.size() - 1}, false, {}, {}, 0});
    }
    const auto g = static_cast<std::size_t>(groups);
    std::size_t source = 0, receiver = 0;
    for (EdgeList::Node& n : list.nodes) {
        if (n.kind == EdgeNodeKind::Source) {
            n.groups = {session_group(source++ % g)};
        } else if (n.kind == EdgeNodeKind::Receiver) {
            n.groups.clear();
            for (int j = 0; j < per_receiver; ++j)
                n.groups.push_back(session_group((receiver + static_cast<std::size_t>(j)) % g));
            ++receiver;
        }
    }
    return std::nullopt;
}

std::string to_text(const EdgeList& list) {
    std::ostringstream out;
    // A number as the parser reads it back exactly (17 significant digits).
    auto number_text = [](double v) {
        std::ostringstream os;
        os.precision(17);
        os << v;
        return os.str();
    };
    for (const EdgeList::Node& n : list.nodes) {
        out << (n.kind == EdgeNodeKind::Source   ? "source "
                : n.kind == EdgeNodeKind::Router ? "router "
                                                 : "receiver ")
            << n.name;
        for (const EdgeList::Setting& s : n.settings)
            out << " " << s.key << "=" << s.value;
        for (std::size_t g = 0; g < n.groups.size(); ++g)
            out << (g > 0                            ? ","
                    : n.kind == EdgeNodeKind::Source ? " group="
                                                     : " groups=")
                << n.groups[g].to_string();
        out << "\n";
    }
    for (const EdgeList::Link& l : list.links) {
        out << (l.lan ? "lan" : "link");
        for (std::size_t n : l.nodes)
            out << " " << list.nodes[n].name;
        if (l.delay_ms) out << " delay=" << number_text(*l.delay_ms);
        if (l.loss_percent) out << " loss=" << number_text(*l.loss_percent);
        out << "\n";
    }
    return out.str();
}

}  // namespace pgm::sim
