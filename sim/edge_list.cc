#include "sim/edge_list.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <deque>
#include <sstream>
#include <unordered_map>

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
            if (kind == EdgeNodeKind::Source && w.size() != 2)
                return fail("one source name expected");
            const std::size_t first_node = list.nodes.size();
            for (std::size_t i = 1; i < w.size(); ++i) {
                if (const auto eq = w[i].find('='); eq != std::string::npos) {
                    if (kind != EdgeNodeKind::Router || first_node == list.nodes.size())
                        return fail("'" + w[i] + "' is not a node name");
                    if (eq == 0 || eq + 1 == w[i].size())
                        return fail("'" + w[i] + "' is not KEY=VALUE");
                    for (std::size_t n = first_node; n < list.nodes.size(); ++n)
                        list.nodes[n].settings.push_back(
                            {w[i].substr(0, eq), w[i].substr(eq + 1), line});
                    continue;
                }
                if (first_node != list.nodes.size() && !list.nodes.back().settings.empty())
                    return fail("node name '" + w[i] + "' after settings (names first)");
                if (!by_name.emplace(w[i], list.nodes.size()).second)
                    return fail("node '" + w[i] + "' declared twice");
                if (kind == EdgeNodeKind::Source) {
                    for (const auto& n : list.nodes)
                        if (n.kind == EdgeNodeKind::Source)
                            return fail("a second source ('" + w[i] + "'); one is supported");
                }
                list.nodes.push_back(EdgeList::Node{w[i], kind, {}});
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
    std::optional<std::size_t> source;
    for (std::size_t i = 0; i < list.nodes.size(); ++i) {
        if (list.nodes[i].kind == EdgeNodeKind::Source) {
            source = i;
            // The source host sends on its first interface only (Scenario: ifindex 1).
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
    if (!source) return whole_file("no source declared");
    // Every receiver must be reachable: from the source through routers only (hosts do not
    // forward), else the run could never complete.
    std::vector<bool> reached(list.nodes.size(), false);
    std::deque<std::size_t> queue{*source};
    reached[*source] = true;
    while (!queue.empty()) {
        const std::size_t n = queue.front();
        queue.pop_front();
        if (n != *source && list.nodes[n].kind != EdgeNodeKind::Router) continue;
        for (std::size_t k : on_links[n])
            for (std::size_t m : list.links[k].nodes)
                if (!reached[m]) reached[m] = true, queue.push_back(m);
    }
    for (std::size_t i = 0; i < list.nodes.size(); ++i)
        if (list.nodes[i].kind == EdgeNodeKind::Receiver && !reached[i])
            return whole_file("receiver '" + list.nodes[i].name +
                              "' cannot be reached from source '" + list.nodes[*source].name +
                              "' (no path through routers)");
    return EdgeListResult{std::move(list), {}};
}

int max_receiver_hops(const EdgeList& list) {
    std::vector<std::vector<std::size_t>> on_links(list.nodes.size());
    for (std::size_t k = 0; k < list.links.size(); ++k)
        for (std::size_t n : list.links[k].nodes)
            on_links[n].push_back(k);
    std::vector<int> hops(list.nodes.size(), -1);
    std::deque<std::size_t> queue;
    for (std::size_t i = 0; i < list.nodes.size(); ++i)
        if (list.nodes[i].kind == EdgeNodeKind::Source) hops[i] = 0, queue.push_back(i);
    int deepest = 0;
    while (!queue.empty()) {
        const std::size_t n = queue.front();
        queue.pop_front();
        if (list.nodes[n].kind == EdgeNodeKind::Receiver) deepest = std::max(deepest, hops[n]);
        // Hosts do not forward: only the source and routers pass packets on.
        if (list.nodes[n].kind == EdgeNodeKind::Receiver) continue;
        for (std::size_t k : on_links[n])
            for (std::size_t m : list.links[k].nodes)
                if (hops[m] < 0) hops[m] = hops[n] + 1, queue.push_back(m);
    }
    return deepest;
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
