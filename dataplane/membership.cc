#include "dataplane/membership.h"

#include <algorithm>
#include <cstring>

#include "protocol/checksum.h"

namespace pgm::dataplane {

namespace {

constexpr std::uint8_t kIgmpProtocol = 2;
constexpr std::uint8_t kQuery = 0x11;
constexpr std::uint8_t kV1Report = 0x12;
constexpr std::uint8_t kV2Report = 0x16;
constexpr std::uint8_t kV2Leave = 0x17;
constexpr std::uint8_t kV3Report = 0x22;

std::uint16_t get16(Bytes b, std::size_t at) {
    return static_cast<std::uint16_t>(b[at] << 8 | b[at + 1]);
}
Nla get_ipv4(Bytes b, std::size_t at) {
    return Nla::ipv4(std::array<std::uint8_t, 4>{b[at], b[at + 1], b[at + 2], b[at + 3]});
}
void put16(MutableBytes b, std::size_t at, std::uint16_t v) {
    b[at] = static_cast<std::uint8_t>(v >> 8);
    b[at + 1] = static_cast<std::uint8_t>(v);
}
void put_ipv4(MutableBytes b, std::size_t at, const Nla& a) {
    std::copy_n(a.address().begin(), 4, b.begin() + static_cast<std::ptrdiff_t>(at));
}

// Max Resp Code (RFC 3376 §4.1.1) in tenths of a second; codes from 128 are floating point.
Duration decode_max_response(std::uint8_t code) {
    std::uint32_t tenths = code;
    if (code >= 128) tenths = (0x10u | (code & 0x0Fu)) << (((code >> 4) & 0x07u) + 3);
    return std::chrono::milliseconds(100 * tenths);
}
std::uint8_t encode_max_response(Duration d) {
    const auto tenths = std::chrono::duration_cast<std::chrono::milliseconds>(d).count() / 100;
    return static_cast<std::uint8_t>(std::clamp<long long>(tenths, 1, 127));
}
// QQIC (RFC 3376 §4.1.7), seconds; only the linear range is used (up to 127 s, else 127).
std::uint8_t encode_qqic(Duration d) {
    const auto s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
    return static_cast<std::uint8_t>(std::clamp<long long>(s, 1, 127));
}

}  // namespace

std::optional<IgmpMessage> parse_igmp(Bytes ip) {
    if (ip.size() < 20 || (ip[0] >> 4) != 4 || ip[9] != kIgmpProtocol) return std::nullopt;
    const std::size_t ihl = (ip[0] & 0x0Fu) * 4u;
    const std::size_t total = get16(ip, 2);
    if (ihl < 20 || total < ihl + 8 || total > ip.size()) return std::nullopt;
    const Bytes igmp = ip.subspan(ihl, total - ihl);
    if (ones_complement_sum(igmp) != 0xFFFF) return std::nullopt;

    IgmpMessage m;
    m.source = get_ipv4(ip, 12);
    switch (igmp[0]) {
        case kQuery:
            m.kind = IgmpMessage::Kind::Query;
            m.group = get_ipv4(igmp, 4);
            if (m.group == Nla::ipv4(0u)) m.group = Nla();
            // IGMPv1 queries have code 0, meaning 10 s (RFC 2236 §4).
            m.max_response = igmp[1] == 0 ? std::chrono::seconds(10) : decode_max_response(igmp[1]);
            return m;
        case kV1Report:
        case kV2Report:
        case kV2Leave:
            m.kind = igmp[0] == kV2Leave ? IgmpMessage::Kind::Leave : IgmpMessage::Kind::Join;
            m.group = get_ipv4(igmp, 4);
            if (!m.group.is_multicast()) return std::nullopt;
            return m;
        case kV3Report: {
            m.kind = IgmpMessage::Kind::Join;
            const std::size_t count = get16(igmp, 6);
            std::size_t at = 8;
            for (std::size_t i = 0; i < count; ++i) {
                if (at + 8 > igmp.size()) return std::nullopt;
                const std::uint8_t type = igmp[at];
                const std::size_t aux_words = igmp[at + 1];
                const std::size_t sources = get16(igmp, at + 2);
                const Nla group = get_ipv4(igmp, at + 4);
                at += 8 + 4 * sources + 4 * aux_words;
                if (at > igmp.size()) return std::nullopt;
                // 1 MODE_IS_INCLUDE, 2 MODE_IS_EXCLUDE, 3 CHANGE_TO_INCLUDE,
                // 4 CHANGE_TO_EXCLUDE, 5 ALLOW_NEW_SOURCES, 6 BLOCK_OLD_SOURCES.
                // Any-source view: EXCLUDE, or INCLUDE of some sources, is a join; INCLUDE of
                // nothing is a leave; BLOCK leaves the rest of the group wanted.
                if (!group.is_multicast() || type == 6 || type < 1 || type > 6) continue;
                const bool leave = (type == 1 || type == 3) && sources == 0;
                m.records.push_back(
                    {leave ? IgmpMessage::Kind::Leave : IgmpMessage::Kind::Join, group});
            }
            return m;
        }
        default:
            return std::nullopt;
    }
}

std::size_t build_igmp_query(MutableBytes out, const IgmpQuery& q, const IgmpTimers& timers) {
    if (out.size() < kIgmpQueryPacketSize) return 0;
    std::fill_n(out.begin(), kIgmpQueryPacketSize, std::uint8_t{0});
    const bool general = !q.group.is_ipv4();
    out[0] = 0x46;  // IPv4, 24-byte header (Router Alert)
    out[1] = 0xC0;  // internetwork control
    put16(out, 2, static_cast<std::uint16_t>(kIgmpQueryPacketSize));
    out[8] = 1;  // TTL 1: link-local
    out[9] = kIgmpProtocol;
    put_ipv4(out, 12, q.source);
    put_ipv4(out, 16, general ? Nla::ipv4(0xE0000001u) : q.group);
    out[20] = 0x94;  // Router Alert (RFC 2113), value 0
    out[21] = 0x04;
    put16(out, 10, static_cast<std::uint16_t>(~ones_complement_sum(out.first(24))));
    MutableBytes igmp = out.subspan(24, 12);
    igmp[0] = kQuery;
    igmp[1] = encode_max_response(q.max_response);
    if (!general) put_ipv4(igmp, 4, q.group);
    igmp[8] = static_cast<std::uint8_t>(std::min(timers.robustness, 7u));  // S = 0, QRV
    igmp[9] = encode_qqic(timers.query_interval);
    put16(igmp, 2, static_cast<std::uint16_t>(~ones_complement_sum(igmp)));
    return kIgmpQueryPacketSize;
}

bool Membership::nla_less(const Nla& a, const Nla& b) {
    if (a.family() != b.family()) return a.family() < b.family();
    const Bytes x = a.address(), y = b.address();
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
}

void Membership::add_interface(IfIndex ifindex, std::optional<Nla> address, bool querier,
                               std::vector<Nla> static_groups, Time now) {
    InterfaceState& s = interfaces_[ifindex];
    s.address = address;
    s.querier_enabled = querier;
    set_static_groups(ifindex, std::move(static_groups));
    if (querier && address) {
        become_querier(ifindex, s, now);
    } else {
        s.querier = false;
        s.next_general_query = kNever;
    }
}

void Membership::become_querier(IfIndex, InterfaceState& s, Time now) {
    s.querier = true;
    s.other_querier.reset();
    s.other_querier_expires = kNever;
    s.startup_queries_left = static_cast<int>(timers_.robustness);
    s.next_general_query = now;
}

void Membership::remove_interface(IfIndex ifindex) {
    interfaces_.erase(ifindex);
}

void Membership::set_static_groups(IfIndex ifindex, std::vector<Nla> groups) {
    auto it = interfaces_.find(ifindex);
    if (it == interfaces_.end()) return;
    auto& map = it->second.groups;
    for (auto g = map.begin(); g != map.end();) {
        g->second.is_static = false;
        if (g->second.expires == kNever && g->second.queries_left == 0) {
            g = map.erase(g);
        } else {
            ++g;
        }
    }
    for (const Nla& g : groups)
        map[g].is_static = true;
}

void Membership::set_address(IfIndex ifindex, std::optional<Nla> address) {
    auto it = interfaces_.find(ifindex);
    if (it != interfaces_.end()) it->second.address = address;
}

void Membership::set_querier_enabled(IfIndex ifindex, bool enabled, Time now) {
    auto it = interfaces_.find(ifindex);
    if (it == interfaces_.end() || it->second.querier_enabled == enabled) return;
    InterfaceState& s = it->second;
    s.querier_enabled = enabled;
    if (!enabled) {
        s.querier = false;
        s.next_general_query = kNever;
    } else if (!s.other_querier && s.address) {
        become_querier(ifindex, s, now);
    }
}

void Membership::join(InterfaceState& s, const Nla& group, Time now) {
    GroupState& g = s.groups[group];
    g.expires = now + timers_.group_membership_interval();
    g.queries_left = 0;
    g.next_query = kNever;
}

void Membership::leave(IfIndex, InterfaceState& s, const Nla& group, Time now,
                       std::vector<IgmpQuery>&) {
    auto it = s.groups.find(group);
    if (it == s.groups.end() || it->second.expires == kNever) return;  // not learnt
    // Only the querier acts on a leave (RFC 2236 §6): it asks whether members remain, and
    // the group ends after the Last Member Query Time unless a report comes back. Another
    // querier's group-specific queries shorten our timer instead (on_igmp).
    if (!s.querier) return;
    GroupState& g = it->second;
    g.expires = std::min(g.expires, now + timers_.last_member_query_time());
    g.queries_left = static_cast<int>(timers_.robustness);
    g.next_query = now;
}

void Membership::on_igmp(IfIndex ifindex, const IgmpMessage& m, Time now,
                         std::vector<IgmpQuery>& out) {
    auto it = interfaces_.find(ifindex);
    if (it == interfaces_.end()) return;
    InterfaceState& s = it->second;
    switch (m.kind) {
        case IgmpMessage::Kind::Query: {
            if (s.address && m.source == *s.address) return;  // our own
            // Querier election (RFC 3376 §6.6.2): the lowest address wins.
            const bool lower =
                !s.address || (m.source.is_ipv4() && s.address->is_ipv4() &&
                               m.source.ipv4_host_order() < s.address->ipv4_host_order());
            if (lower) {
                s.querier = false;
                s.other_querier = m.source;
                s.other_querier_expires = now + timers_.other_querier_present_interval();
                s.next_general_query = kNever;
                s.startup_queries_left = 0;
            }
            // A group-specific query from the querier: members have Last Member Query Time
            // to answer (RFC 3376 §6.6.1).
            if (m.group.is_ipv4() && !s.querier) {
                auto g = s.groups.find(m.group);
                if (g != s.groups.end() && g->second.expires != kNever) {
                    g->second.expires =
                        std::min(g->second.expires, now + timers_.robustness * m.max_response);
                }
            }
            return;
        }
        case IgmpMessage::Kind::Join:
        case IgmpMessage::Kind::Leave:
            if (m.records.empty()) {
                if (m.kind == IgmpMessage::Kind::Join) {
                    join(s, m.group, now);
                } else {
                    leave(ifindex, s, m.group, now, out);
                }
            }
            for (const IgmpMessage::Record& r : m.records) {
                if (r.kind == IgmpMessage::Kind::Join) {
                    join(s, r.group, now);
                } else {
                    leave(ifindex, s, r.group, now, out);
                }
            }
            return;
    }
}

void Membership::on_timer(Time now, std::vector<IgmpQuery>& out) {
    for (auto& [ifindex, s] : interfaces_) {
        if (!s.querier && s.other_querier_expires <= now) {
            // The other querier went silent: take over (RFC 3376 §6.6.2).
            if (s.querier_enabled && s.address) {
                become_querier(ifindex, s, now);
                s.startup_queries_left = 0;
            } else {
                s.other_querier.reset();
                s.other_querier_expires = kNever;
            }
        }
        if (s.querier && s.address && s.next_general_query <= now) {
            out.push_back({ifindex, *s.address, Nla(), timers_.query_response_interval});
            if (s.startup_queries_left > 0) --s.startup_queries_left;
            s.next_general_query =
                now + (s.startup_queries_left > 0 ? timers_.startup_query_interval()
                                                  : timers_.query_interval);
        }
        for (auto g = s.groups.begin(); g != s.groups.end();) {
            GroupState& gs = g->second;
            if (gs.queries_left > 0 && gs.next_query <= now) {
                if (s.querier && s.address) {
                    out.push_back(
                        {ifindex, *s.address, g->first, timers_.last_member_query_interval});
                }
                --gs.queries_left;
                gs.next_query =
                    gs.queries_left > 0 ? now + timers_.last_member_query_interval : kNever;
            }
            if (gs.expires <= now) {
                gs.expires = kNever;
                gs.queries_left = 0;
                gs.next_query = kNever;
                if (!gs.is_static) {
                    g = s.groups.erase(g);
                    continue;
                }
            }
            ++g;
        }
    }
}

Time Membership::next_deadline() const {
    Time t = kNever;
    for (const auto& [ifindex, s] : interfaces_) {
        if (!s.querier) t = std::min(t, s.other_querier_expires);
        if (s.querier) t = std::min(t, s.next_general_query);
        for (const auto& [group, g] : s.groups)
            t = std::min({t, g.expires, g.next_query});
    }
    return t;
}

void Membership::members(const Nla& group, std::vector<IfIndex>& out) const {
    out.clear();
    for (const auto& [ifindex, s] : interfaces_)
        if (s.groups.contains(group)) out.push_back(ifindex);
}

}  // namespace pgm::dataplane
