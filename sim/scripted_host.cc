#include "sim/scripted_host.h"

#include <algorithm>

namespace pgm::sim {

ScriptedHost::ScriptedHost(Network& net, std::string name, Options options)
    : net_(net), id_(net.add_node(*this, std::move(name))), options_(options) {}

ScriptedHost::SendId ScriptedHost::queue(Time at, Pending p) {
    const SendId id = next_id_++;
    pending_.emplace(std::pair{at, id}, std::move(p));
    pending_at_.emplace(id, at);
    net_.notify(id_);
    return id;
}

ScriptedHost::SendId ScriptedHost::send_at(Time at, IfIndex ifindex, const IpParams& ip,
                                           std::vector<std::uint8_t> pgm) {
    return queue(at, Pending{ifindex, ip, std::move(pgm), {}});
}

ScriptedHost::SendId ScriptedHost::call_at(Time at, Action action) {
    return queue(at, Pending{0, {}, {}, std::move(action)});
}

ScriptedHost::SendId ScriptedHost::send_at(Time at, IfIndex ifindex, const IpParams& ip,
                                           const PacketSpec& spec) {
    // A bound on the size, so that queuing many packets does not reserve 64 KiB for each.
    const std::size_t bound = 128 + spec.payload.size() + 256 * spec.options.size();
    auto bytes = build(spec, true, std::min<std::size_t>(bound, 65535));
    return send_at(at, ifindex, ip, bytes ? std::move(*bytes) : std::vector<std::uint8_t>{});
}

bool ScriptedHost::cancel(SendId id) {
    auto it = pending_at_.find(id);
    if (it == pending_at_.end()) return false;
    pending_.erase(std::pair{it->second, id});
    pending_at_.erase(it);
    net_.notify(id_);
    return true;
}

std::vector<const Received*> ScriptedHost::received(PacketType type) const {
    std::vector<const Received*> r;
    for (const Received& p : received_)
        if (p.spec && p.spec->type == type) r.push_back(&p);
    return r;
}

Time ScriptedHost::next_deadline() const {
    return pending_.empty() ? kNever : pending_.begin()->first.first;
}

void ScriptedHost::on_packet(const Arrival& arrival, Bytes pgm, Time now, Output& out) {
    ParseResult r = parse(pgm);
    counts_.add(r ? static_cast<int>(r.view.header.type) : -1, pgm.size());
    if (options_.record || hook_) {
        Received p{now, arrival, {pgm.begin(), pgm.end()}, r.error, std::nullopt};
        if (r) p.spec = from_view(r.view);
        if (hook_) hook_(*this, p);
        if (options_.record) received_.push_back(std::move(p));
    }
    flush(now, out);  // what the hook sent at once goes out with this call
}

void ScriptedHost::flush(Time now, Output& out) {
    while (!pending_.empty() && pending_.begin()->first.first <= now) {
        auto node = pending_.extract(pending_.begin());
        pending_at_.erase(node.key().second);
        Pending& p = node.mapped();
        if (p.action) {
            p.action(*this);  // may queue sends for `now`: this loop picks them up
            continue;
        }
        Transmit t;
        t.ifindex = p.ifindex;
        t.ip_source = p.ip.source.family() == Nla::Family::None
                          ? net_.address(id_, p.ifindex).value_or(Nla{})
                          : p.ip.source;
        t.ip_destination = p.ip.destination;
        t.ttl = p.ip.ttl;
        t.router_alert = p.ip.router_alert;
        t.encapsulation = p.ip.encapsulation;
        t.udp_port = p.ip.udp_port;
        out.add(t, p.pgm);
        ++sent_;
    }
}

}  // namespace pgm::sim
