// DOC: build_fastpath_table() and diff() of dataplane/fastpath_table.h.
#include "dataplane/fastpath_table.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <type_traits>

#include "router/environment.h"
#include "router/router.h"

namespace pgm::dataplane {

// The maps' keys and values are compared and ordered as bytes: that is only sound when they
// have no padding, which the ABI promises.
static_assert(sizeof(fp_session_key) == 8);
static_assert(std::has_unique_object_representations_v<fp_session_key>);
static_assert(std::has_unique_object_representations_v<fp_egress>);
static_assert(std::has_unique_object_representations_v<fp_session>);
static_assert(sizeof(fp_session) == 28 + FP_MAX_EGRESS * sizeof(fp_egress));
static_assert(std::has_unique_object_representations_v<fp_group>);
static_assert(std::has_unique_object_representations_v<fp_group_key>);

namespace {

template <class T>
bool same_bytes(const T& a, const T& b) {
    return std::memcmp(&a, &b, sizeof(T)) == 0;
}

// The address as the program reads it from the IP header: network byte order in memory.
std::uint32_t wire_ipv4(const Nla& a) {
    std::uint32_t v = 0;
    std::memcpy(&v, a.address().data(), sizeof v);
    return v;
}

bool ipv4_multicast(const Nla& a) {
    return a.is_ipv4() && a.is_multicast();
}

void sort_unique(std::vector<IfIndex>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

bool punted(const Tsi& tsi, const router::Session& s, const FastPathInputs& in) {
    if (in.dlr_sessions && in.dlr_sessions->contains(tsi)) return true;
    if (!in.dlr) return false;
    return std::any_of(
        in.dlr->scopes.begin(), in.dlr->scopes.end(),
        [&](const router::DlrScope& scope) { return scope.matches(s.source, s.group); });
}

// The fail-open interfaces of one group while the table is built: for sources no interface
// names, and per named source (key: host byte order, so that the lowest addresses come first).
struct GroupSets {
    std::vector<IfIndex> any;
    std::map<std::uint32_t, std::vector<IfIndex>> sources;
};

void add_attached(std::vector<IfIndex>& to, const std::vector<IfIndex>& members,
                  const std::map<IfIndex, FastPathInterface>& attached) {
    for (IfIndex i : members)
        if (attached.contains(i)) to.push_back(i);
}

std::uint32_t wire_of_host(std::uint32_t host) {
    const std::array<std::uint8_t, 4> b = {
        static_cast<std::uint8_t>(host >> 24), static_cast<std::uint8_t>(host >> 16),
        static_cast<std::uint8_t>(host >> 8), static_cast<std::uint8_t>(host)};
    std::uint32_t v = 0;
    std::memcpy(&v, b.data(), sizeof v);
    return v;
}

// The interfaces an entry holds. Failing open is best effort: more interfaces than an
// entry holds get the lowest FP_MAX_EGRESS of `first` (some receivers served rather than
// none), then the lowest of `then` while room is left. Both sorted.
std::vector<IfIndex> entry_ifs(const std::vector<IfIndex>& first,
                               const std::vector<IfIndex>& then = {}) {
    std::vector<IfIndex> out(
        first.begin(), first.begin() + static_cast<std::ptrdiff_t>(
                                           std::min<std::size_t>(first.size(), FP_MAX_EGRESS)));
    for (IfIndex i : then) {
        if (out.size() == FP_MAX_EGRESS) break;
        if (!std::binary_search(first.begin(), first.end(), i)) out.push_back(i);
    }
    std::sort(out.begin(), out.end());
    return out;
}

fp_group group_entry(const std::vector<IfIndex>& ifs) {
    fp_group g{};
    g.n_ifindex = static_cast<std::uint32_t>(ifs.size());  // entry_ifs(): <= FP_MAX_EGRESS
    std::copy_n(ifs.begin(), g.n_ifindex, g.ifindex);
    return g;
}

// The fail-open entries of every group, within the bounds fastpath_table.h describes.
void build_groups(FastPathTable& table, std::map<std::uint32_t, GroupSets>& groups) {
    // A source entry that would hold what the source-0 one holds changes nothing: left out.
    // Left out before the per-group cap below, such a source takes the source-0 entry, which
    // widening may then make reach more interfaces than it wanted: more copies, never fewer.
    auto drop_redundant = [](GroupSets& g, const std::vector<IfIndex>& any_entry) {
        std::erase_if(g.sources, [&](const auto& e) { return entry_ifs(e.second) == any_entry; });
    };
    std::vector<std::uint32_t> kept;  // groups with at least one entry, lowest first
    for (auto& [group, g] : groups) {
        sort_unique(g.any);
        for (auto& [source, ifs] : g.sources)
            sort_unique(ifs);
        drop_redundant(g, entry_ifs(g.any));
        if (g.any.empty() && g.sources.empty()) continue;
        if (kept.size() == FP_MAX_GROUPS) break;  // the lowest groups fail open
        kept.push_back(group);
    }
    std::size_t entries_left = FP_MAX_GROUP_ENTRIES;
    for (std::size_t i = 0; i < kept.size(); ++i) {
        GroupSets& g = groups.at(kept[i]);
        std::vector<IfIndex> any_entry = entry_ifs(g.any);
        // One entry stays for this group's source 0 and for each group after it.
        const std::size_t room = std::min<std::size_t>(
            FP_MAX_GROUP_SOURCES, entries_left - std::min(entries_left, kept.size() - i));
        if (g.sources.size() > room) {
            // The highest sources go: their traffic takes the source-0 entry, which must then
            // reach everyone who wants one of them. The interfaces that wanted any source
            // come first in it: widening never pushes one of them out (D39.2).
            std::vector<IfIndex> widening;
            auto first_dropped = std::next(g.sources.begin(), static_cast<std::ptrdiff_t>(room));
            for (auto it = first_dropped; it != g.sources.end(); ++it)
                widening.insert(widening.end(), it->second.begin(), it->second.end());
            g.sources.erase(first_dropped, g.sources.end());
            sort_unique(widening);
            any_entry = entry_ifs(g.any, widening);
            drop_redundant(g, any_entry);
        }
        if (!any_entry.empty()) {
            table.groups.emplace(fp_group_key{wire_of_host(kept[i]), 0}, group_entry(any_entry));
            --entries_left;
        }
        for (const auto& [source, ifs] : g.sources) {
            table.groups.emplace(fp_group_key{wire_of_host(kept[i]), wire_of_host(source)},
                                 group_entry(entry_ifs(ifs)));
            --entries_left;
        }
    }
}

// Sessions of `previous` keep their slot; the others take free ones round robin from where
// `previous` stopped. Every slot of `previous` (its sessions' and its held_slots) counts as
// used in this build, so that a slot freed now is given again at the next build at the
// earliest: a program run that looked up the erased entry may still write into it for a
// moment (fastpath_slots.h). New sessions that find no free slot (every slot used or just
// freed) are left out, highest keys first (TableFull), and get one at the next build.
void assign_session_slots(FastPathTable& table, const FastPathTable* previous,
                          std::uint32_t capacity, std::vector<SkippedSession>& skips) {
    SlotRing slots(capacity);
    if (previous) {
        for (const auto& [key, v] : previous->sessions)
            slots.keep(v.slot);
        for (std::uint32_t s : previous->held_slots)
            slots.keep(s);
    }
    // A recovered table (read back from the kernel) may name a slot twice: one keeps it.
    std::vector<bool> kept(capacity, false);
    std::vector<fp_session_key> fresh;
    for (auto& [key, v] : table.sessions) {
        const fp_session* was = nullptr;
        if (previous) {
            auto it = previous->sessions.find(key);
            if (it != previous->sessions.end()) was = &it->second;
        }
        if (was && was->slot < capacity && !kept[was->slot]) {
            v.slot = was->slot;
            kept[was->slot] = true;
        } else {
            fresh.push_back(key);
        }
    }
    slots.set_next(previous ? previous->next_session_slot : 0);
    for (const fp_session_key& key : fresh) {
        if (const auto slot = slots.take()) {
            table.sessions.at(key).slot = *slot;
        } else {
            skips.push_back({tsi_of(key), FastPathSkip::TableFull});
            table.sessions.erase(key);
        }
    }
    table.next_session_slot = slots.next();
}

}  // namespace

bool FpSessionKeyLess::operator()(const fp_session_key& a, const fp_session_key& b) const {
    return std::memcmp(&a, &b, sizeof a) < 0;
}

bool operator==(const FastPathTable& a, const FastPathTable& b) {
    auto same = [](const auto& x, const auto& y) {
        return same_bytes(x.first, y.first) && same_bytes(x.second, y.second);
    };
    return std::equal(a.sessions.begin(), a.sessions.end(), b.sessions.begin(), b.sessions.end(),
                      same) &&
           std::equal(a.groups.begin(), a.groups.end(), b.groups.begin(), b.groups.end(), same);
}

namespace {

// The merge walk of diff(), the same for both maps.
template <class Map, class Key, class Value>
void diff_map(const Map& old, const Map& now, std::vector<std::pair<Key, Value>>& upserts,
              std::vector<Key>& erasures) {
    const auto less = old.key_comp();
    auto o = old.begin();
    auto n = now.begin();
    while (o != old.end() || n != now.end()) {
        if (n == now.end() || (o != old.end() && less(o->first, n->first))) {
            erasures.push_back(o->first);
            ++o;
        } else if (o == old.end() || less(n->first, o->first)) {
            upserts.emplace_back(n->first, n->second);
            ++n;
        } else {
            if (!same_bytes(o->second, n->second)) upserts.emplace_back(n->first, n->second);
            ++o;
            ++n;
        }
    }
}

}  // namespace

FastPathDiff diff(const FastPathTable& old, const FastPathTable& now) {
    FastPathDiff d;
    diff_map(old.sessions, now.sessions, d.session_upserts, d.session_erasures);
    diff_map(old.groups, now.groups, d.group_upserts, d.group_erasures);
    return d;
}

FastPathTable recovered_table(std::span<const std::pair<fp_session_key, fp_session>> sessions,
                              std::span<const std::pair<fp_group_key, fp_group>> groups,
                              const FastPathTable& before, const FastPathTable* attempt) {
    FastPathTable t;
    std::set<std::uint32_t> in_kernel;
    for (const auto& [k, v] : sessions) {
        t.sessions[k] = v;
        in_kernel.insert(v.slot);
    }
    for (const auto& [g, v] : groups)
        t.groups[g] = v;
    std::set<std::uint32_t> held;
    auto hold = [&](const FastPathTable& from) {
        for (const auto& [k, v] : from.sessions)
            if (!in_kernel.contains(v.slot)) held.insert(v.slot);
        for (std::uint32_t s : from.held_slots)
            if (!in_kernel.contains(s)) held.insert(s);
    };
    hold(before);
    if (attempt) hold(*attempt);
    t.held_slots.assign(held.begin(), held.end());
    t.next_session_slot = attempt ? attempt->next_session_slot : before.next_session_slot;
    return t;
}

const char* name(FastPathSkip skip) {
    switch (skip) {
        case FastPathSkip::NotIpv4:
            return "not-ipv4";
        case FastPathSkip::UpstreamNotAttached:
            return "upstream-not-attached";
        case FastPathSkip::EgressNotAttached:
            return "egress-not-attached";
        case FastPathSkip::TooManyEgress:
            return "too-many-egress";
        case FastPathSkip::TableFull:
            return "table-full";
    }
    return "?";
}

fp_session_key fastpath_key(const Tsi& tsi) {
    fp_session_key k{};
    std::memcpy(k.gsi, tsi.gsi.bytes.data(), sizeof k.gsi);
    const std::uint8_t port[2] = {static_cast<std::uint8_t>(tsi.source_port >> 8),
                                  static_cast<std::uint8_t>(tsi.source_port)};
    std::memcpy(&k.sport, port, sizeof port);  // network byte order in memory
    return k;
}

Tsi tsi_of(const fp_session_key& key) {
    Tsi t;
    std::memcpy(t.gsi.bytes.data(), key.gsi, sizeof key.gsi);
    std::uint8_t port[2];
    std::memcpy(port, &key.sport, sizeof port);
    t.source_port = static_cast<std::uint16_t>(port[0] << 8 | port[1]);
    return t;
}

FastPathTable build_fastpath_table(const FastPathInputs& in, std::vector<SkippedSession>* skipped) {
    FastPathTable table;
    std::vector<SkippedSession> skips;
    // Keys: group and source in host byte order, so that the lowest addresses come first.
    // The sessions' members per (group, source).
    std::map<std::uint32_t, GroupSets> group_sets;
    std::map<std::pair<std::uint32_t, std::uint32_t>, std::vector<IfIndex>> session_members;
    std::vector<IfIndex> members;

    if (in.sessions) {
        for (const auto& [tsi, s] : *in.sessions) {
            // clang 14 cannot capture a structured binding in a lambda (P1091: clang 16).
            const Tsi& session_tsi = tsi;
            auto skip = [&](FastPathSkip why) { skips.push_back({session_tsi, why}); };
            if (!s.source.is_ipv4() || !ipv4_multicast(s.group)) {
                skip(FastPathSkip::NotIpv4);  // the program parses IPv4 only
                continue;
            }
            members.clear();
            if (in.group_members) in.group_members(s.source, s.group, members);
            add_attached(session_members[{s.group.ipv4_host_order(), s.source.ipv4_host_order()}],
                         members, in.attached);

            fp_session v{};  // zeroed: unused egress entries compare equal
            v.source = wire_ipv4(s.source);
            v.group = wire_ipv4(s.group);
            v.upstream_ifindex = s.upstream_interface;
            const auto upstream = in.attached.find(s.upstream_interface);
            v.upstream_slot = upstream == in.attached.end() ? FP_NO_SLOT : upstream->second.slot;
            if (punted(tsi, s, in)) {
                // The kernel hands every ODATA of it to pgmd and forwards none, so the egress
                // list is left empty: membership changes then need no write.
                v.flags = FP_SESSION_PUNT;
                table.sessions.emplace(fastpath_key(tsi), v);
                continue;
            }
            if (!in.attached.contains(s.upstream_interface)) {
                skip(FastPathSkip::UpstreamNotAttached);
                continue;
            }
            // As Router::on_odata: the members, without the interface the ODATA came from.
            std::erase(members, s.upstream_interface);
            sort_unique(members);
            // A session is forwarded wholly in the kernel or wholly by pgmd: the kernel
            // forwarding to the attached members while pgmd serves the others would need
            // pgmd to see the ODATA too, and a duplicate of it from pgmd's side.
            if (std::any_of(members.begin(), members.end(),
                            [&](IfIndex i) { return !in.attached.contains(i); })) {
                skip(FastPathSkip::EgressNotAttached);
                continue;
            }
            if (members.size() > FP_MAX_EGRESS) {
                skip(FastPathSkip::TooManyEgress);  // the entry's list has a fixed size
                continue;
            }
            v.n_egress = static_cast<std::uint32_t>(members.size());
            for (std::size_t i = 0; i < members.size(); ++i) {
                const FastPathInterface& ifc = in.attached.at(members[i]);
                v.egress[i].ifindex = members[i];
                std::copy(ifc.mac.begin(), ifc.mac.end(), v.egress[i].mac);
                v.egress[i].slot = ifc.slot;
            }
            table.sessions.emplace(fastpath_key(tsi), v);
        }
    }
    // Over the map's (or the slots') size the program could not hold them all: the highest
    // keys stay with pgmd (unknown TSIs are punted), so that which sessions qualify is stable.
    const std::size_t capacity = std::min<std::uint32_t>(in.session_slots, FP_MAX_SESSIONS);
    while (table.sessions.size() > capacity) {
        auto last = std::prev(table.sessions.end());
        skips.push_back({tsi_of(last->first), FastPathSkip::TableFull});
        table.sessions.erase(last);
    }
    assign_session_slots(table, in.previous, static_cast<std::uint32_t>(capacity), skips);

    for (const GroupMembers& g : in.groups) {
        if (!ipv4_multicast(g.group)) continue;
        GroupSets& sets = group_sets[g.group.ipv4_host_order()];
        add_attached(sets.any, g.ifindexes, in.attached);
        for (const GroupMembers::Source& src : g.sources) {
            if (!src.source.is_ipv4() || src.source.ipv4_host_order() == 0) continue;
            add_attached(sets.sources[src.source.ipv4_host_order()], src.ifindexes, in.attached);
        }
    }
    // A session's members want its source: added to the source's own entry, which starts
    // from the group's any-source members when no interface names the source.
    for (const auto& [key, ifs] : session_members) {
        // Source 0 is the group's any-source entry, as on the membership path above.
        if (ifs.empty() || key.second == 0) continue;
        GroupSets& sets = group_sets[key.first];
        auto [it, fresh] = sets.sources.try_emplace(key.second);
        if (fresh) it->second = sets.any;
        it->second.insert(it->second.end(), ifs.begin(), ifs.end());
    }
    build_groups(table, group_sets);

    if (skipped) {
        std::sort(skips.begin(), skips.end(), [](const SkippedSession& a, const SkippedSession& b) {
            return FpSessionKeyLess{}(fastpath_key(a.tsi), fastpath_key(b.tsi));
        });
        *skipped = std::move(skips);
    }
    return table;
}

std::vector<GroupMembers> fail_open_groups(const Membership& membership) {
    using NlaSet = std::set<Nla, bool (*)(const Nla&, const Nla&)>;
    std::map<Nla, NlaSet, bool (*)(const Nla&, const Nla&)> named{&Membership::nla_less};
    // Every source an interface names for the group, then who wants each.
    for (const auto& [ifindex, st] : membership.interfaces()) {
        for (const auto& [group, g] : st.groups) {
            NlaSet& sources = named.try_emplace(group, &Membership::nla_less).first->second;
            for (const auto& [source, state] : g.sources)
                sources.insert(source);
        }
    }
    std::vector<GroupMembers> out;
    for (const auto& [group, sources] : named) {
        GroupMembers m{group, {}};
        for (const Nla& source : sources)
            m.sources.push_back({source, {}});
        for (const auto& [ifindex, st] : membership.interfaces()) {
            const auto g = st.groups.find(group);
            if (g == st.groups.end()) continue;
            if (g->second.wants_unlisted()) m.ifindexes.push_back(ifindex);
            for (GroupMembers::Source& src : m.sources)
                if (g->second.wants(src.source)) src.ifindexes.push_back(ifindex);
        }
        out.push_back(std::move(m));
    }
    return out;
}

namespace {
Nla ipv4_of_wire(std::uint32_t be) {
    std::array<std::uint8_t, 4> bytes{};
    std::memcpy(bytes.data(), &be, 4);  // network byte order, as on the wire
    return Nla::ipv4(bytes);
}
bool lists(const fp_group& g, IfIndex ifindex) {
    const std::uint32_t n = std::min<std::uint32_t>(g.n_ifindex, FP_MAX_EGRESS);
    return std::find(g.ifindex, g.ifindex + n, ifindex) != g.ifindex + n;
}
}  // namespace

std::vector<InheritedMembers> inherited_members(
    const std::map<fp_group_key, fp_group, FpGroupKeyLess>& groups, IfIndex ifindex) {
    std::vector<InheritedMembers> out;
    // Ordered by group, then source: a group's source-0 entry (if any) comes first.
    for (auto it = groups.begin(); it != groups.end();) {
        const std::uint32_t group = it->first.group;
        InheritedMembers m{ipv4_of_wire(group), false, {}};
        if (it->first.source == 0) m.exclude = lists(it++->second, ifindex);
        for (; it != groups.end() && it->first.group == group; ++it) {
            // A full entry may have left the interface out for want of room, not because
            // the interface excluded the source: not taken as an exclusion.
            if (m.exclude && it->second.n_ifindex >= FP_MAX_EGRESS) continue;
            if (lists(it->second, ifindex) != m.exclude)
                m.sources.push_back(ipv4_of_wire(it->first.source));
        }
        if (m.exclude || !m.sources.empty()) out.push_back(std::move(m));
    }
    return out;
}

ForeignGroupsLayout foreign_groups_layout(std::uint32_t abi_version, std::uint32_t key_size,
                                          std::uint32_t value_size) {
    if (value_size != sizeof(fp_group)) return ForeignGroupsLayout::Unreadable;
    if (abi_version == FP_ABI_VERSION && key_size == sizeof(fp_group_key))
        return ForeignGroupsLayout::PerSource;
    if (abi_version == 0 && key_size == sizeof(std::uint32_t))
        return ForeignGroupsLayout::GroupOnly;
    return ForeignGroupsLayout::Unreadable;
}

void merge_inherited(std::map<fp_group_key, fp_group, FpGroupKeyLess>& into,
                     const fp_group_key& key, const fp_group& entry) {
    auto [it, fresh] = into.try_emplace(key, entry);
    if (fresh) return;
    std::vector<IfIndex> ifs;
    for (const fp_group* g : {static_cast<const fp_group*>(&it->second), &entry}) {
        const std::uint32_t n = std::min<std::uint32_t>(g->n_ifindex, FP_MAX_EGRESS);
        ifs.insert(ifs.end(), g->ifindex, g->ifindex + n);
    }
    sort_unique(ifs);
    it->second = group_entry(entry_ifs(ifs));
}

FastPathTable build_fastpath_table(const router::Router& router,
                                   const router::Environment& environment, FastPathInputs in,
                                   std::vector<SkippedSession>* skipped) {
    in.sessions = &router.sessions();
    in.dlr_sessions = &router.dlr_sessions();
    in.dlr = &router.config().dlr;
    in.group_members = [&environment](const Nla& source, const Nla& group,
                                      std::vector<IfIndex>& out) {
        environment.group_members(source, group, out);
    };
    return build_fastpath_table(in, skipped);
}

}  // namespace pgm::dataplane
