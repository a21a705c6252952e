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
            // An IGMPv3 query (12 bytes and more): the S flag (§4.1.5) and the sources
            // (§4.1.9). Sources are read whatever S says: S only tells routers to leave their
            // timers alone (§6.6.1), which on_igmp() does; a Q(G,A) with S set is still not
            // a Q(G).
            if (igmp.size() >= 12) {
                m.suppress = (igmp[8] & 0x08) != 0;
                const std::size_t n = get16(igmp, 10);
                if (12 + 4 * n > igmp.size()) return std::nullopt;
                for (std::size_t i = 0; i < n; ++i)
                    m.query_sources.push_back(get_ipv4(igmp, 12 + 4 * i));
            }
            // IGMPv1 queries have code 0, meaning 10 s (RFC 2236 §4).
            m.max_response = igmp[1] == 0 ? std::chrono::seconds(10) : decode_max_response(igmp[1]);
            return m;
        case kV1Report:
        case kV2Report:
        case kV2Leave:
            m.kind = igmp[0] == kV2Leave ? IgmpMessage::Kind::Leave : IgmpMessage::Kind::Join;
            m.version = igmp[0] == kV1Report ? 1 : 2;
            m.group = get_ipv4(igmp, 4);
            if (!m.group.is_multicast()) return std::nullopt;
            return m;
        case kV3Report: {
            m.kind = IgmpMessage::Kind::Join;
            m.version = 3;
            const std::size_t count = get16(igmp, 6);
            std::size_t at = 8;
            for (std::size_t i = 0; i < count; ++i) {
                if (at + 8 > igmp.size()) return std::nullopt;
                const std::uint8_t type = igmp[at];
                const std::size_t aux_words = igmp[at + 1];
                const std::size_t sources = get16(igmp, at + 2);
                const Nla group = get_ipv4(igmp, at + 4);
                const std::size_t first_source = at + 8;
                at += 8 + 4 * sources + 4 * aux_words;
                if (at > igmp.size()) return std::nullopt;
                // Unknown record types are ignored (§4.2.12), as are records of a group that
                // is not multicast.
                if (!group.is_multicast() || type < 1 || type > 6) continue;
                IgmpMessage::GroupRecord record{static_cast<IgmpRecordType>(type), group, {}};
                for (std::size_t k = 0; k < sources; ++k)
                    record.sources.push_back(get_ipv4(igmp, first_source + 4 * k));
                m.group_records.push_back(std::move(record));
                // Any-source view: EXCLUDE, or INCLUDE of some sources, is a join; INCLUDE of
                // nothing is a leave; BLOCK leaves the rest of the group wanted.
                if (type == 6) continue;
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
    const std::size_t size = igmp_query_size(q);
    if (out.size() < size) return 0;
    std::fill_n(out.begin(), size, std::uint8_t{0});
    const bool general = !q.group.is_ipv4();
    out[0] = 0x46;  // IPv4, 24-byte header (Router Alert)
    out[1] = 0xC0;  // internetwork control
    put16(out, 2, static_cast<std::uint16_t>(size));
    out[8] = 1;  // TTL 1: link-local
    out[9] = kIgmpProtocol;
    put_ipv4(out, 12, q.source);
    put_ipv4(out, 16, general ? Nla::ipv4(0xE0000001u) : q.group);
    out[20] = 0x94;  // Router Alert (RFC 2113), value 0
    out[21] = 0x04;
    put16(out, 10, static_cast<std::uint16_t>(~ones_complement_sum(out.first(24))));
    MutableBytes igmp = out.subspan(24, size - 24);
    igmp[0] = kQuery;
    igmp[1] = encode_max_response(q.max_response);
    if (!general) put_ipv4(igmp, 4, q.group);
    igmp[8] = static_cast<std::uint8_t>(std::min(timers.robustness, 7u));  // S = 0, QRV
    igmp[9] = encode_qqic(timers.query_interval);
    const std::size_t n = (size - kIgmpQueryPacketSize) / 4;
    put16(igmp, 10, static_cast<std::uint16_t>(n));
    for (std::size_t i = 0; i < n; ++i)
        put_ipv4(igmp, 12 + 4 * i, q.sources[i]);
    put16(igmp, 2, static_cast<std::uint16_t>(~ones_complement_sum(igmp)));
    return size;
}

bool Membership::nla_less(const Nla& a, const Nla& b) {
    if (a.family() != b.family()) return a.family() < b.family();
    const Bytes x = a.address(), y = b.address();
    return std::lexicographical_compare(x.begin(), x.end(), y.begin(), y.end());
}

bool Membership::GroupState::wants(const Nla& source) const {
    if (is_static) return true;
    auto it = sources.find(source);
    if (it != sources.end() && it->second.is_static) return true;
    if (!learnt()) return false;
    if (exclude) return it == sources.end() || !it->second.excluded;
    return it != sources.end() && it->second.expires != kNever;
}

void Membership::add_interface(IfIndex ifindex, std::optional<Nla> address, bool querier,
                               std::vector<Nla> static_groups, Time now,
                               const std::vector<SourceGroup>& static_sources) {
    InterfaceState& s = interfaces_[ifindex];
    s.address = address;
    s.querier_enabled = querier;
    set_static_groups(ifindex, std::move(static_groups), static_sources);
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
    if (interfaces_.erase(ifindex) != 0) ++version_;
}

bool Membership::settle(GroupState& g) {
    for (auto it = g.sources.begin(); it != g.sources.end();) {
        const SourceState& st = it->second;
        if (!st.is_static && !st.excluded && st.expires == kNever) {
            it = g.sources.erase(it);
        } else {
            ++it;
        }
    }
    if (!g.exclude) {
        g.expires = kNever;
        for (const auto& [source, st] : g.sources)
            if (st.expires != kNever)
                g.expires = g.expires == kNever ? st.expires : std::max(g.expires, st.expires);
    }
    return !g.is_static && !g.learnt() &&
           std::none_of(g.sources.begin(), g.sources.end(),
                        [](const auto& e) { return e.second.is_static; });
}

void Membership::set_static_groups(IfIndex ifindex, std::vector<Nla> groups,
                                   const std::vector<SourceGroup>& static_sources) {
    auto it = interfaces_.find(ifindex);
    if (it == interfaces_.end()) return;
    auto& map = it->second.groups;
    for (auto g = map.begin(); g != map.end();) {
        g->second.is_static = false;
        for (auto& [source, st] : g->second.sources)
            st.is_static = false;
        if (settle(g->second)) {
            g = map.erase(g);
        } else {
            ++g;
        }
    }
    for (const Nla& g : groups)
        map[g].is_static = true;
    for (const SourceGroup& sg : static_sources)
        map[sg.group].sources[sg.source].is_static = true;
    ++version_;
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

void Membership::query_group(InterfaceState& s, GroupState& g, Time now) {
    // Only the querier acts on a leave (RFC 3376 §6.4.2, RFC 2236 §6): it asks whether
    // members remain, and the group ends after the Last Member Query Time unless a report
    // comes back. Another querier's queries lower our timers instead (lower_timers).
    if (!s.querier || !s.address || !g.exclude) return;
    g.expires = std::min(g.expires, now + timers_.last_member_query_time());
    g.query_sources.clear();
    g.queries_left = static_cast<int>(timers_.robustness);
    g.next_query = now;
}

void Membership::query_group(IfIndex ifindex, const Nla& group, Time now) {
    auto it = interfaces_.find(ifindex);
    if (it == interfaces_.end()) return;
    auto g = it->second.groups.find(group);
    if (g == it->second.groups.end() || !g->second.learnt()) return;
    if (g->second.exclude) {
        query_group(it->second, g->second, now);
        return;
    }
    std::vector<Nla> requested;
    for (const auto& [a, st] : g->second.sources)
        if (st.expires != kNever) requested.push_back(a);
    const auto before = wanted_state(it->second, group);
    // Lowers the sources' timers only: on_timer() drops them, and the group, if nobody
    // answers.
    query_sources(it->second, g->second, requested, now);
    if (wanted_state(it->second, group) != before) ++version_;
}

void Membership::query_sources(InterfaceState& s, GroupState& g, const std::vector<Nla>& sources,
                               Time now) {
    if (!s.querier || !s.address || sources.empty()) return;
    lower_timers(g, sources, now + timers_.last_member_query_time());
    // A group-specific query still to be sent asks about these sources too.
    if (g.queries_left > 0 && g.query_sources.empty()) return;
    for (const Nla& a : sources)
        if (std::find(g.query_sources.begin(), g.query_sources.end(), a) == g.query_sources.end())
            g.query_sources.push_back(a);
    g.queries_left = static_cast<int>(timers_.robustness);
    g.next_query = now;
}

void Membership::lower_timers(GroupState& g, const std::vector<Nla>& sources, Time until) {
    if (sources.empty()) {
        if (g.exclude) g.expires = std::min(g.expires, until);  // Q(G): the group timer
        return;
    }
    for (const Nla& a : sources) {  // Q(G,A): the source timers of A
        auto it = g.sources.find(a);
        if (it != g.sources.end() && it->second.expires != kNever)
            it->second.expires = std::min(it->second.expires, until);
    }
    settle(g);
}

Membership::WantedState Membership::wanted_state(const InterfaceState& s, const Nla& group) {
    WantedState out;
    auto it = s.groups.find(group);
    if (it == s.groups.end()) return out;
    const GroupState& g = it->second;
    out.emplace_back(group, static_cast<std::uint8_t>((g.exclude ? 1 : 0) | (g.is_static ? 2 : 0) |
                                                      (g.learnt() ? 4 : 0)));
    for (const auto& [a, st] : g.sources)
        out.emplace_back(
            a, static_cast<std::uint8_t>((st.expires != kNever ? 1 : 0) | (st.excluded ? 2 : 0) |
                                         (st.is_static ? 4 : 0)));
    return out;
}

void Membership::on_record(InterfaceState& s, IgmpRecordType type, const Nla& group,
                           const std::vector<Nla>& record_sources, Time now) {
    const WantedState before = wanted_state(s, group);
    record(s, type, group, record_sources, now);
    if (wanted_state(s, group) != before) ++version_;
}

void Membership::record(InterfaceState& s, IgmpRecordType type, const Nla& group,
                        const std::vector<Nla>& record_sources, Time now) {
    const auto git = s.groups.try_emplace(group).first;
    GroupState& g = git->second;
    const Time gmi = now + timers_.group_membership_interval();
    std::vector<Nla> b = record_sources;
    if (now < g.old_hosts_until) {
        // IGMPv2 compatibility mode (§7.3.2): an IGMPv2 host wants every source.
        if (type == IgmpRecordType::Block) b.clear();
        if (type == IgmpRecordType::ToExclude) b.clear();
    }
    auto in_b = [&](const Nla& a) { return std::find(b.begin(), b.end(), a) != b.end(); };
    // INCLUDE's A and EXCLUDE's X (timer > 0), EXCLUDE's Y (timer 0).
    auto requested = [&](const Nla& a) {
        auto it = g.sources.find(a);
        return it != g.sources.end() && it->second.expires != kNever;
    };
    auto excluded = [&](const Nla& a) {
        auto it = g.sources.find(a);
        return it != g.sources.end() && it->second.excluded;
    };
    auto requested_list = [&] {
        std::vector<Nla> out;
        for (const auto& [a, st] : g.sources)
            if (st.expires != kNever) out.push_back(a);
        return out;
    };
    // A source not yet known is learnt only below the cap (kMaxLearntSources).
    auto source = [&](const Nla& a) -> SourceState* {
        auto it = g.sources.find(a);
        if (it != g.sources.end()) return &it->second;
        const auto learnt = static_cast<std::size_t>(std::count_if(
            g.sources.begin(), g.sources.end(), [](const auto& e) { return !e.second.is_static; }));
        if (learnt >= kMaxLearntSources) {
            ++sources_refused_;
            return nullptr;
        }
        return &g.sources[a];
    };
    auto set_timer = [&](const Nla& a, Time t) {
        if (SourceState* st = source(a)) {
            st->expires = t;
            st->excluded = false;
        }
    };
    // Refused, an excluded source is forwarded all the same: more traffic, never less.
    auto exclude_source = [&](const Nla& a) {
        if (SourceState* st = source(a)) {
            st->expires = kNever;
            st->excluded = true;
        }
    };
    // "delete" of the RFC: its learnt state (a static source stays).
    auto forget_unless_in_b = [&] {
        for (auto& [a, st] : g.sources) {
            if (in_b(a)) continue;
            st.expires = kNever;
            st.excluded = false;
        }
    };
    using T = IgmpRecordType;
    if (!g.exclude) {  // INCLUDE (A)
        switch (type) {
            case T::IsInclude:
            case T::Allow:  // INCLUDE (A+B); (B) = GMI
                for (const Nla& a : b)
                    set_timer(a, gmi);
                break;
            case T::ToInclude: {  // INCLUDE (A+B); (B) = GMI; Send Q(G,A-B)
                std::vector<Nla> ask;
                for (const Nla& a : requested_list())
                    if (!in_b(a)) ask.push_back(a);
                for (const Nla& a : b)
                    set_timer(a, gmi);
                query_sources(s, g, ask, now);
                break;
            }
            case T::Block: {  // INCLUDE (A); Send Q(G,A*B)
                std::vector<Nla> ask;
                for (const Nla& a : b)
                    if (requested(a)) ask.push_back(a);
                query_sources(s, g, ask, now);
                break;
            }
            case T::IsExclude:
            case T::ToExclude: {
                // EXCLUDE (A*B, B-A); (B-A) = 0; delete (A-B); Group Timer = GMI;
                // TO_EX also: Send Q(G,A*B).
                std::vector<Nla> ask;
                forget_unless_in_b();
                for (const Nla& a : b) {
                    if (requested(a)) {
                        ask.push_back(a);
                    } else {
                        exclude_source(a);
                    }
                }
                g.exclude = true;
                g.expires = gmi;
                g.queries_left = 0;
                g.next_query = kNever;
                g.query_sources.clear();
                if (type == T::ToExclude) query_sources(s, g, ask, now);
                break;
            }
        }
    } else {  // EXCLUDE (X, Y)
        switch (type) {
            case T::IsInclude:
            case T::Allow:  // EXCLUDE (X+A, Y-A); (A) = GMI
                for (const Nla& a : b)
                    set_timer(a, gmi);
                break;
            case T::ToInclude: {  // EXCLUDE (X+A, Y-A); (A) = GMI; Send Q(G,X-A); Send Q(G)
                std::vector<Nla> ask;
                for (const Nla& a : requested_list())
                    if (!in_b(a)) ask.push_back(a);
                for (const Nla& a : b)
                    set_timer(a, gmi);
                // The group query asks about every source; the source timers of X-A are
                // lowered as Q(G,X-A) would.
                if (s.querier && s.address && !ask.empty())
                    lower_timers(g, ask, now + timers_.last_member_query_time());
                query_group(s, g, now);
                break;
            }
            case T::Block: {  // EXCLUDE (X+(A-Y), Y); (A-X-Y) = Group Timer; Send Q(G,A-Y)
                std::vector<Nla> ask;
                for (const Nla& a : b) {
                    if (excluded(a)) continue;
                    if (!requested(a)) set_timer(a, g.expires);
                    ask.push_back(a);
                }
                query_sources(s, g, ask, now);
                break;
            }
            case T::IsExclude:
            case T::ToExclude: {
                // EXCLUDE (A-Y, Y*A); delete (X-A), (Y-A); Group Timer = GMI;
                // IS_EX: (A-X-Y) = GMI. TO_EX: (A-X-Y) = Group Timer; Send Q(G,A-Y).
                const Time fresh = type == T::IsExclude ? gmi : g.expires;
                std::vector<Nla> ask;
                forget_unless_in_b();
                for (const Nla& a : b) {
                    if (excluded(a)) continue;
                    if (!requested(a)) set_timer(a, fresh);
                    ask.push_back(a);
                }
                g.expires = gmi;
                if (g.query_sources.empty()) {  // the group is wanted again: no more Q(G)
                    g.queries_left = 0;
                    g.next_query = kNever;
                }
                if (type == T::ToExclude) query_sources(s, g, ask, now);
                break;
            }
        }
    }
    if (settle(g)) s.groups.erase(git);
}

// Queries a report calls for are scheduled (next_deadline() is now) and sent by on_timer().
void Membership::on_igmp(IfIndex ifindex, const IgmpMessage& m, Time now,
                         std::vector<IgmpQuery>& /*out*/) {
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
            // A group-specific or group-and-source-specific query from the querier: members
            // have Last Member Query Time to answer (RFC 3376 §6.6.1), unless the query has
            // the S flag ("Suppress Router-Side Processing"): the querier sends those when the
            // timers were already above the Last Member Query Time, and other routers must
            // not lower them. The election above runs for every query.
            if (m.group.is_ipv4() && !s.querier && !m.suppress) {
                auto g = s.groups.find(m.group);
                if (g != s.groups.end() && g->second.learnt())
                    lower_timers(g->second, m.query_sources,
                                 now + timers_.robustness * m.max_response);
            }
            return;
        }
        case IgmpMessage::Kind::Join:
        case IgmpMessage::Kind::Leave:
            // version() moves in on_record(), when a record changed what is wanted.
            if (m.version == 3) {
                for (const IgmpMessage::GroupRecord& r : m.group_records)
                    on_record(s, r.type, r.group, r.sources, now);
                return;
            }
            // IGMPv1/v2 (§7.3.2): a report is IS_EX({}), a leave TO_IN({}). Made-up
            // messages (version 0) are the same without the compatibility mode.
            if (m.records.empty()) {
                if (m.kind == IgmpMessage::Kind::Join) {
                    if (m.version != 0)
                        s.groups[m.group].old_hosts_until =
                            now + timers_.group_membership_interval();
                    on_record(s, IgmpRecordType::IsExclude, m.group, {}, now);
                } else {
                    on_record(s, IgmpRecordType::ToInclude, m.group, {}, now);
                }
            }
            for (const IgmpMessage::Record& r : m.records)
                on_record(s,
                          r.kind == IgmpMessage::Kind::Join ? IgmpRecordType::IsExclude
                                                            : IgmpRecordType::ToInclude,
                          r.group, {}, now);
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
            out.push_back({ifindex, *s.address, Nla(), timers_.query_response_interval, {}});
            if (s.startup_queries_left > 0) --s.startup_queries_left;
            s.next_general_query =
                now + (s.startup_queries_left > 0 ? timers_.startup_query_interval()
                                                  : timers_.query_interval);
        }
        for (auto g = s.groups.begin(); g != s.groups.end();) {
            GroupState& gs = g->second;
            if (gs.queries_left > 0 && gs.next_query <= now) {
                if (s.querier && s.address) {
                    out.push_back({ifindex, *s.address, g->first,
                                   timers_.last_member_query_interval, gs.query_sources});
                }
                --gs.queries_left;
                gs.next_query =
                    gs.queries_left > 0 ? now + timers_.last_member_query_interval : kNever;
                if (gs.queries_left == 0) gs.query_sources.clear();
            }
            bool changed = false;
            if (gs.exclude && gs.expires <= now) {
                // The group timer ran out (§6.5): INCLUDE mode with the requested sources;
                // the excluded ones are forgotten.
                gs.exclude = false;
                for (auto& [a, st] : gs.sources)
                    st.excluded = false;
                changed = true;
            }
            for (auto& [a, st] : gs.sources) {
                if (st.expires > now) continue;
                // §6.3: in INCLUDE mode the source goes, in EXCLUDE mode it is excluded.
                st.expires = kNever;
                st.excluded = gs.exclude;
                changed = true;
            }
            if (changed) ++version_;
            if (settle(gs)) {
                g = s.groups.erase(g);
                continue;
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
        for (const auto& [group, g] : s.groups) {
            t = std::min({t, g.expires, g.next_query});
            for (const auto& [source, st] : g.sources)
                t = std::min(t, st.expires);
        }
    }
    return t;
}

void Membership::members(const Nla& group, std::vector<IfIndex>& out) const {
    out.clear();
    for (const auto& [ifindex, s] : interfaces_)
        if (s.groups.contains(group)) out.push_back(ifindex);
}

void Membership::members(const Nla& source, const Nla& group, std::vector<IfIndex>& out) const {
    out.clear();
    for (const auto& [ifindex, s] : interfaces_) {
        auto g = s.groups.find(group);
        if (g != s.groups.end() && g->second.wants(source)) out.push_back(ifindex);
    }
}

void Membership::source_specific(std::vector<std::pair<IfIndex, SourceGroup>>& out) const {
    out.clear();
    for (const auto& [ifindex, s] : interfaces_)
        for (const auto& [group, g] : s.groups)
            for (const auto& [source, st] : g.sources)
                if (st.is_static || st.expires != kNever)
                    out.emplace_back(ifindex, SourceGroup{source, group});
}

}  // namespace pgm::dataplane
