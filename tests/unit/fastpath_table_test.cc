// DOC: The kernel fast path's forwarding table (dataplane/fastpath_table.h): which sessions
// are installed and with what (a table of cases, one session each), the key and addresses as
// the program reads them, the fail-open groups map, the diff pgmd applies (only what changed,
// in key order), and the table built from a live router core and its environment.
#include "dataplane/fastpath_table.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/spec.h"
#include "router/environment.h"
#include "router/router.h"

namespace pgm::dataplane {
namespace {

using namespace std::chrono_literals;

const Nla kSource = *Nla::parse("10.0.0.1");
const Nla kGroup = *Nla::parse("239.1.2.3");
const Nla kGroupB = *Nla::parse("239.9.9.9");

Tsi tsi(std::uint8_t n) {
    return Tsi{Gsi{{0x0a, 0x0b, 0x0c, 0x0d, 0x0e, n}}, static_cast<std::uint16_t>(1000 + n)};
}

router::Session session(const Nla& source, const Nla& group, IfIndex upstream) {
    router::Session s;
    s.source = source;
    s.group = group;
    s.upstream_interface = upstream;
    return s;
}

std::vector<IfIndex> egress_of(const fp_session& v) {
    std::vector<IfIndex> r;
    for (std::uint32_t i = 0; i < v.n_egress; ++i)
        r.push_back(v.egress[i].ifindex);
    return r;
}

// The attached interfaces of the tests: MAC 02:00:00:00:00:<ifindex>, slot 63 - ifindex (not
// the ifindex, so that a mix-up shows).
std::array<std::uint8_t, 6> mac_of(IfIndex i) {
    return {0x02, 0, 0, 0, 0, static_cast<std::uint8_t>(i)};
}
std::uint16_t slot_of(IfIndex i) {
    return static_cast<std::uint16_t>(63 - i);
}
std::map<IfIndex, FastPathInterface> attach(const std::set<IfIndex>& ifindexes) {
    std::map<IfIndex, FastPathInterface> m;
    for (IfIndex i : ifindexes)
        m[i] = FastPathInterface{mac_of(i), slot_of(i)};
    return m;
}
std::vector<IfIndex> ifindexes_of(const fp_group& g) {
    return {g.ifindex, g.ifindex + g.n_ifindex};
}

std::vector<IfIndex> range(IfIndex first, IfIndex last) {
    std::vector<IfIndex> r;
    for (IfIndex i = first; i <= last; ++i)
        r.push_back(i);
    return r;
}
std::set<IfIndex> range_set(IfIndex first, IfIndex last) {
    const std::vector<IfIndex> r = range(first, last);
    return {r.begin(), r.end()};
}

// Membership per group, the same for every source.
struct Members {
    std::map<std::string, std::vector<IfIndex>> by_group;
    void operator()(const Nla&, const Nla& group, std::vector<IfIndex>& out) const {
        auto it = by_group.find(group.to_string());
        out = it == by_group.end() ? std::vector<IfIndex>{} : it->second;
    }
};

// --- One session, installed or not -------------------------------------------------------------

struct Case {
    const char* name;
    Nla source = kSource;
    Nla group = kGroup;
    IfIndex upstream = 1;
    std::vector<IfIndex> members = {};
    std::set<IfIndex> attached = {};
    bool dlr_cache = false;  // in Router::dlr_sessions()
    bool dlr_scope = false;  // covered by the DLR configuration
    // Expected: skipped for this reason, else installed with these flags and egress.
    std::optional<FastPathSkip> skip = std::nullopt;
    std::uint32_t flags = 0;
    std::vector<IfIndex> egress = {};
};

std::vector<Case> cases() {
    const Nla v6_source = *Nla::parse("2001:db8::1");
    const Nla v6_group = *Nla::parse("ff3e::8000:1");
    return {
        {.name = "known session with members",
         .members = {1, 2, 3},
         .attached = {1, 2, 3, 4},
         .egress = {2, 3}},
        {.name = "members out of order and repeated",
         .members = {3, 2, 3, 1},
         .attached = {1, 2, 3},
         .egress = {2, 3}},
        // Router::on_odata sends ODATA with no members nowhere, after counting it: so does the
        // kernel with an empty egress list.
        {.name = "no members: installed, nothing to forward",
         .members = {},
         .attached = {1, 2},
         .egress = {}},
        {.name = "members only upstream", .members = {1}, .attached = {1, 2}, .egress = {}},
        {.name = "upstream not attached",
         .members = {2, 3},
         .attached = {2, 3},
         .skip = FastPathSkip::UpstreamNotAttached},
        {.name = "an egress interface not attached",
         .members = {1, 2, 3},
         .attached = {1, 2},
         .skip = FastPathSkip::EgressNotAttached},
        {.name = "too many egress interfaces",
         .members = range(2, 2 + FP_MAX_EGRESS),
         .attached = range_set(1, 2 + FP_MAX_EGRESS),
         .skip = FastPathSkip::TooManyEgress},
        {.name = "exactly FP_MAX_EGRESS egress interfaces",
         .members = range(1, 1 + FP_MAX_EGRESS),
         .attached = range_set(1, 1 + FP_MAX_EGRESS),
         .egress = range(2, 1 + FP_MAX_EGRESS)},
        {.name = "DLR session: punted",
         .members = {1, 2},
         .attached = {1, 2},
         .dlr_cache = true,
         .flags = FP_SESSION_PUNT},
        {.name = "DLR session whose upstream is not attached: punted",
         .members = {2},
         .attached = {2},
         .dlr_cache = true,
         .flags = FP_SESSION_PUNT},
        // Its cache is made from its first ODATA, which must therefore reach the core.
        {.name = "in a DLR scope, no cache yet: punted",
         .members = {1, 2},
         .attached = {1, 2},
         .dlr_scope = true,
         .flags = FP_SESSION_PUNT},
        {.name = "IPv6 session",
         .source = v6_source,
         .group = v6_group,
         .members = {2},
         .attached = {1, 2},
         .skip = FastPathSkip::NotIpv4},
        {.name = "IPv6 DLR session: not installed either",
         .source = v6_source,
         .group = v6_group,
         .members = {2},
         .attached = {1, 2},
         .dlr_cache = true,
         .skip = FastPathSkip::NotIpv4},
        {.name = "group not multicast",
         .group = *Nla::parse("10.9.9.9"),
         .members = {2},
         .attached = {1, 2},
         .skip = FastPathSkip::NotIpv4},
    };
}

TEST(FastPathTable, SessionCases) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(c.name);
        std::unordered_map<Tsi, router::Session> sessions{
            {tsi(1), session(c.source, c.group, c.upstream)}};
        std::unordered_map<Tsi, router::DlrSession> dlr;
        if (c.dlr_cache) dlr.try_emplace(tsi(1));
        router::DlrConfig dlr_config;
        if (c.dlr_scope) {
            router::DlrScope scope;
            scope.group = *Nla::parse("239.1.0.0");
            scope.prefix_length = 16;
            dlr_config.scopes.push_back(scope);
        }
        Members members;
        members.by_group[c.group.to_string()] = c.members;

        FastPathInputs in;
        in.sessions = &sessions;
        in.dlr_sessions = &dlr;
        in.dlr = &dlr_config;
        in.group_members = members;
        in.attached = attach(c.attached);
        std::vector<SkippedSession> skipped;
        const FastPathTable t = build_fastpath_table(in, &skipped);

        if (c.skip) {
            EXPECT_TRUE(t.sessions.empty());
            ASSERT_EQ(skipped.size(), 1u);
            EXPECT_EQ(skipped[0].tsi, tsi(1));
            EXPECT_EQ(skipped[0].why, *c.skip) << name(skipped[0].why);
            continue;
        }
        EXPECT_TRUE(skipped.empty());
        ASSERT_EQ(t.sessions.size(), 1u);
        const auto& [key, v] = *t.sessions.begin();
        EXPECT_EQ(tsi_of(key), tsi(1));
        EXPECT_EQ(v.flags, c.flags);
        EXPECT_EQ(v.upstream_ifindex, c.upstream);
        EXPECT_EQ(egress_of(v), c.egress);
        // What the program needs to forward without looking anything up: the counter slots
        // of the upstream and of each egress, the MAC of each egress, the session's slot.
        EXPECT_EQ(v.upstream_slot,
                  c.attached.contains(c.upstream) ? slot_of(c.upstream) : FP_NO_SLOT);
        EXPECT_EQ(v.slot, 0u);  // the first free one
        for (std::uint32_t i = 0; i < v.n_egress; ++i) {
            EXPECT_EQ(v.egress[i].slot, slot_of(v.egress[i].ifindex));
            const auto mac = mac_of(v.egress[i].ifindex);
            EXPECT_TRUE(std::equal(mac.begin(), mac.end(), v.egress[i].mac));
        }
        // Unused egress entries are zero: equal tables compare equal as bytes.
        const fp_egress zero{};
        for (std::size_t i = v.n_egress; i < FP_MAX_EGRESS; ++i)
            EXPECT_EQ(std::memcmp(&v.egress[i], &zero, sizeof zero), 0);
    }
}

// --- Keys and addresses as the program reads them ------------------------------------------

TEST(FastPathTable, KeyAndAddressesAreInNetworkOrder) {
    const fp_session_key k = fastpath_key(tsi(7));  // GSI 0a0b0c0d0e07, port 1007 = 0x03EF
    std::uint8_t bytes[sizeof k];
    std::memcpy(bytes, &k, sizeof k);
    const std::uint8_t wire[] = {0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x07, 0x03, 0xEF};
    EXPECT_EQ(std::memcmp(bytes, wire, sizeof wire), 0);
    EXPECT_EQ(tsi_of(k), tsi(7));

    std::unordered_map<Tsi, router::Session> sessions{{tsi(7), session(kSource, kGroup, 1)}};
    FastPathInputs in;
    in.sessions = &sessions;
    in.group_members = Members{};
    in.attached = attach({1});
    const FastPathTable table = build_fastpath_table(in);
    ASSERT_EQ(table.sessions.size(), 1u);
    const fp_session& v = table.sessions.begin()->second;
    std::uint8_t source[4], group[4];
    std::memcpy(source, &v.source, 4);
    std::memcpy(group, &v.group, 4);
    EXPECT_EQ((std::vector<std::uint8_t>(source, source + 4)),
              (std::vector<std::uint8_t>{10, 0, 0, 1}));
    EXPECT_EQ((std::vector<std::uint8_t>(group, group + 4)),
              (std::vector<std::uint8_t>{239, 1, 2, 3}));
}

// --- Fail-open groups ----------------------------------------------------------------------

std::uint32_t wire(const Nla& a) {
    std::uint32_t v;
    std::memcpy(&v, a.address().data(), 4);
    return v;
}

// The fail-open key of (group, source); no source: the group's entry for every other source.
fp_group_key gkey(const Nla& group, std::optional<Nla> source = std::nullopt) {
    return fp_group_key{wire(group), source ? wire(*source) : 0};
}

TEST(FastPathTable, GroupsListEveryGroupWithAttachedMembers) {
    // Session group: members 1 (its upstream: kept, the program skips the arrival interface
    // itself), 2 and 5 (not attached: left out) for the session's source, and 3 (configured,
    // any source): the source's own entry has them all, the group's entry 3. kGroupB:
    // configured, no session. A group with members only where nothing is attached, and an
    // IPv6 one, are not listed.
    std::unordered_map<Tsi, router::Session> sessions{{tsi(1), session(kSource, kGroup, 1)}};
    Members members;
    members.by_group[kGroup.to_string()] = {5, 2, 1};
    const std::vector<GroupMembers> groups = {
        {kGroup, {3}},  // the same group also configured on 3: merged
        {kGroupB, {4, 2}},
        {*Nla::parse("239.7.7.7"), {5}},
        {*Nla::parse("ff3e::1"), {2}},
        {*Nla::parse("10.1.1.1"), {2}},
    };
    FastPathInputs in;
    in.sessions = &sessions;
    in.group_members = members;
    in.attached = attach({1, 2, 3, 4});
    in.groups = groups;
    std::vector<SkippedSession> skipped;
    const FastPathTable t = build_fastpath_table(in, &skipped);

    ASSERT_EQ(skipped.size(), 1u);  // egress 5 is not attached: pgmd forwards the session
    EXPECT_EQ(skipped[0].why, FastPathSkip::EgressNotAttached);
    ASSERT_EQ(t.groups.size(), 3u);
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup, kSource))), (std::vector<IfIndex>{1, 2, 3}));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup))), (std::vector<IfIndex>{3}));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroupB))), (std::vector<IfIndex>{2, 4}));
}

TEST(FastPathTable, ASessionFromSourceZeroMakesNoAnySourceEntry) {
    // Source 0 is the key of a group's any-source entry: a session claiming it (a malformed
    // SPM's NLA) must not make its members members of every source, as on the membership
    // path.
    std::unordered_map<Tsi, router::Session> sessions{
        {tsi(1), session(*Nla::parse("0.0.0.0"), kGroup, 1)}};
    Members members;
    members.by_group[kGroup.to_string()] = {2};
    FastPathInputs in;
    in.sessions = &sessions;
    in.group_members = members;
    in.attached = attach({1, 2, 3});
    const FastPathTable t = build_fastpath_table(in);
    EXPECT_TRUE(t.groups.empty());
}

// IGMPv3 source filtering, as the program reads it: (S, G) first, then (0, G).
const Nla kS1 = *Nla::parse("10.0.0.11");
const Nla kS2 = *Nla::parse("10.0.0.12");

FastPathTable groups_table(const std::vector<GroupMembers>& groups,
                           const std::set<IfIndex>& attached = {1, 2, 3, 4}) {
    FastPathInputs in;
    in.attached = attach(attached);
    in.groups = groups;
    return build_fastpath_table(in);
}

TEST(FastPathTable, IncludeMembersGetTheirSourceOnlyAndAnySourceMembersEverySource) {
    // LAN 1: INCLUDE {S1}; LAN 2: any source (IGMPv2 or EXCLUDE {}).
    const FastPathTable t = groups_table({{kGroup, {2}, {{kS1, {1, 2}}}}});
    ASSERT_EQ(t.groups.size(), 2u);
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup, kS1))), (std::vector<IfIndex>{1, 2}));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup))), (std::vector<IfIndex>{2}));
    EXPECT_FALSE(t.groups.contains(gkey(kGroup, kS2)));  // S2 takes (0, G): LAN 2 only
}

TEST(FastPathTable, ExcludedSourceHasAnEntryWithoutTheExcludingInterface) {
    // LAN 1: EXCLUDE {S2}; LAN 2: any source. S2 goes to LAN 2 only.
    const FastPathTable t = groups_table({{kGroup, {1, 2}, {{kS2, {2}}}}});
    ASSERT_EQ(t.groups.size(), 2u);
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup))), (std::vector<IfIndex>{1, 2}));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup, kS2))), (std::vector<IfIndex>{2}));
    // Nobody else: an entry listing no interface, which the program passes (S2 unwanted).
    const FastPathTable alone = groups_table({{kGroup, {1}, {{kS2, {}}}}});
    ASSERT_EQ(alone.groups.size(), 2u);
    EXPECT_EQ(alone.groups.at(gkey(kGroup, kS2)).n_ifindex, 0u);
}

TEST(FastPathTable, IncludeOnlyGroupHasNoAnySourceEntryAndEqualEntriesAreLeftOut) {
    // Only INCLUDE members: no (0, G), so other sources are not forwarded at all.
    const FastPathTable t = groups_table({{kGroup, {}, {{kS1, {1}}, {kS2, {1, 3}}}}});
    EXPECT_EQ(t.groups.size(), 2u);
    EXPECT_FALSE(t.groups.contains(gkey(kGroup)));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup, kS2))), (std::vector<IfIndex>{1, 3}));
    // A source wanted where any source is wanted, and nowhere else: (0, G) serves it.
    const FastPathTable same = groups_table({{kGroup, {1, 2}, {{kS1, {1, 2}}, {kS2, {4}}}}});
    EXPECT_EQ(same.groups.size(), 2u);
    EXPECT_FALSE(same.groups.contains(gkey(kGroup, kS1)));
    // Interfaces not attached are left out before comparing.
    const FastPathTable unattached = groups_table({{kGroup, {1}, {{kS1, {1, 7}}}}});
    EXPECT_EQ(unattached.groups.size(), 1u);
}

TEST(FastPathTable, SourcesPastThePerGroupCapWidenTheAnySourceEntry) {
    // FP_MAX_GROUP_SOURCES + 2 INCLUDE sources on LAN 1 (each wanted there only), LAN 2 any
    // source: the lowest FP_MAX_GROUP_SOURCES keep entries, the two highest are forwarded by
    // (0, G), which then reaches LAN 1 too (more copies, never fewer).
    GroupMembers g{kGroup, {2}};
    for (std::uint32_t i = 0; i < FP_MAX_GROUP_SOURCES + 2; ++i)
        g.sources.push_back({Nla::ipv4(0x0a000100u + i), {1, 2}});
    const FastPathTable t = groups_table({g});
    // Widened, (0, G) equals every kept source's entry, which then changes nothing: left out.
    EXPECT_EQ(t.groups.size(), 1u);
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup))), (std::vector<IfIndex>{1, 2}));
    // Sources wanted on LANs 1 and 3: the lowest FP_MAX_GROUP_SOURCES keep their entries.
    GroupMembers h{kGroup, {2}};
    for (std::uint32_t i = 0; i < FP_MAX_GROUP_SOURCES + 2; ++i)
        h.sources.push_back({Nla::ipv4(0x0a000100u + i), {1, 3}});
    const FastPathTable u = groups_table({h});
    ASSERT_EQ(u.groups.size(), 1u + FP_MAX_GROUP_SOURCES);
    EXPECT_EQ(ifindexes_of(u.groups.at(gkey(kGroup))), (std::vector<IfIndex>{1, 2, 3}));
    EXPECT_TRUE(u.groups.contains(gkey(kGroup, Nla::ipv4(0x0a000100u))));
    EXPECT_TRUE(u.groups.contains(gkey(kGroup, Nla::ipv4(0x0a000100u + FP_MAX_GROUP_SOURCES - 1))));
    EXPECT_FALSE(u.groups.contains(gkey(kGroup, Nla::ipv4(0x0a000100u + FP_MAX_GROUP_SOURCES))));
}

TEST(FastPathTable, TheMapBoundKeepsAnEntryForEveryGroup) {
    // More groups with sources than FP_MAX_GROUP_ENTRIES holds: every group keeps its (0, G)
    // entry (widened by the sources it lost), and the total stays within the bound.
    std::vector<GroupMembers> groups;
    for (std::uint32_t n = 0; n < FP_MAX_GROUPS; ++n) {
        GroupMembers g{Nla::ipv4(0xef000000u + n), {2}};
        for (std::uint32_t i = 0; i < 8; ++i)
            g.sources.push_back({Nla::ipv4(0x0a000100u + i), {1}});
        groups.push_back(std::move(g));
    }
    const FastPathTable t = groups_table(groups);
    EXPECT_EQ(t.groups.size(), static_cast<std::size_t>(FP_MAX_GROUP_ENTRIES));
    for (const GroupMembers& g : groups)
        ASSERT_TRUE(t.groups.contains(gkey(g.group)));
    // The last group lost its sources: its (0, G) reaches LAN 1, who wanted them.
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(groups.back().group))), (std::vector<IfIndex>{1, 2}));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(groups.front().group))), (std::vector<IfIndex>{2}));
}

TEST(FastPathTable, PastTheGroupBoundTheLowestGroupAddressesFailOpen) {
    // One group more than the map holds: the highest address (239.0.16.0) goes, not one
    // that sorts high as a little-endian integer of its wire bytes (239.0.0.255).
    std::vector<GroupMembers> groups;
    for (std::uint32_t n = 0; n <= FP_MAX_GROUPS; ++n)
        groups.push_back({Nla::ipv4(0xef000000u + n), {1}});
    const FastPathTable t = groups_table(groups);
    EXPECT_EQ(t.groups.size(), static_cast<std::size_t>(FP_MAX_GROUPS));
    EXPECT_FALSE(t.groups.contains(gkey(*Nla::parse("239.0.16.0"))));
    EXPECT_TRUE(t.groups.contains(gkey(*Nla::parse("239.0.0.255"))));
    EXPECT_TRUE(t.groups.contains(gkey(*Nla::parse("239.0.15.255"))));
}

TEST(FastPathTable, FailOpenGroupsFromMembership) {
    // LAN 1: INCLUDE {S1} (IGMPv3); LAN 2: IGMPv2 (any source); LAN 3: EXCLUDE {S2}; LAN 4:
    // static (S2, G).
    Membership m(IgmpTimers{});
    const Time now{};
    for (IfIndex i : {1u, 2u, 3u})
        m.add_interface(i, std::nullopt, false, {}, now);
    m.add_interface(4, std::nullopt, false, {}, now, {SourceGroup{kS2, kGroup}});
    std::vector<IgmpQuery> queries;
    auto v3 = [&](IfIndex i, IgmpRecordType type, std::vector<Nla> sources) {
        IgmpMessage r;
        r.kind = IgmpMessage::Kind::Join;
        r.version = 3;
        r.group_records.push_back({type, kGroup, std::move(sources)});
        m.on_igmp(i, r, now, queries);
    };
    v3(1, IgmpRecordType::IsInclude, {kS1});
    IgmpMessage v2;
    v2.kind = IgmpMessage::Kind::Join;
    v2.version = 2;
    v2.group = kGroup;
    m.on_igmp(2, v2, now, queries);
    v3(3, IgmpRecordType::IsExclude, {kS2});

    const std::vector<GroupMembers> groups = fail_open_groups(m);
    ASSERT_EQ(groups.size(), 1u);
    const FastPathTable t = groups_table(groups);
    ASSERT_EQ(t.groups.size(), 3u);
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup))), (std::vector<IfIndex>{2, 3}));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup, kS1))), (std::vector<IfIndex>{1, 2, 3}));
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup, kS2))), (std::vector<IfIndex>{2, 4}));
}

TEST(FastPathTable, GroupWithMoreInterfacesThanAnEntryKeepsTheLowest) {
    const std::vector<IfIndex> all = range(1, FP_MAX_EGRESS + 4);
    const std::vector<GroupMembers> groups = {{kGroupB, {all.rbegin(), all.rend()}}};
    FastPathInputs in;
    in.attached = attach({all.begin(), all.end()});
    in.groups = groups;
    const FastPathTable t = build_fastpath_table(in);
    ASSERT_EQ(t.groups.size(), 1u);
    EXPECT_EQ(ifindexes_of(t.groups.begin()->second), range(1, FP_MAX_EGRESS));
}

TEST(FastPathTable, WideningNeverPushesAnAnySourceInterfaceOutOfTheEntry) {
    // FP_MAX_EGRESS interfaces (10..) want any source; LAN 1 INCLUDEs every source, one more
    // than an entry per group holds. The highest source widens (0, G) by LAN 1, which has no
    // room left: the interfaces that wanted any source keep every unnamed source (D39.2).
    const std::vector<IfIndex> any = range(10, 9 + FP_MAX_EGRESS);
    std::vector<IfIndex> with_lan1 = any;
    with_lan1.insert(with_lan1.begin(), 1);
    GroupMembers g{kGroup, any};
    for (std::uint32_t i = 0; i < FP_MAX_GROUP_SOURCES + 1; ++i)
        g.sources.push_back({Nla::ipv4(0x0a000100u + i), with_lan1});
    std::set<IfIndex> attached = range_set(10, 9 + FP_MAX_EGRESS);
    attached.insert(1);
    const FastPathTable t = groups_table({g}, attached);
    ASSERT_EQ(t.groups.size(), 1u + FP_MAX_GROUP_SOURCES);
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup))), any);
    // The kept sources' own entries hold the lowest interfaces (LAN 1 among them).
    EXPECT_EQ(ifindexes_of(t.groups.at(gkey(kGroup, Nla::ipv4(0x0a000100u)))),
              std::vector<IfIndex>(with_lan1.begin(), with_lan1.begin() + FP_MAX_EGRESS));
}

// A restarted pgmd's members from the previous one's entries: per interface, the filter mode
// and sources the entries imply; with the table built from them again, the same entries.
TEST(FastPathTable, InheritedMembersGiveBackEachInterfacesFilter) {
    // LAN 1 INCLUDE {S1}, LAN 2 EXCLUDE {S2}, LAN 3 any source, LAN 4 INCLUDE {S1, S2}.
    const std::vector<GroupMembers> groups = {
        {kGroup, {2, 3}, {{kS1, {1, 2, 3, 4}}, {kS2, {3, 4}}}}};
    const FastPathTable t = groups_table(groups);
    auto one = [&](IfIndex i) {
        const auto m = inherited_members(t.groups, i);
        EXPECT_LE(m.size(), 1u);
        if (m.empty()) return InheritedMembers{};
        EXPECT_EQ(m[0].group, kGroup);
        return m[0];
    };
    EXPECT_FALSE(one(1).exclude);
    EXPECT_EQ(one(1).sources, (std::vector<Nla>{kS1}));
    EXPECT_TRUE(one(2).exclude);
    EXPECT_EQ(one(2).sources, (std::vector<Nla>{kS2}));
    EXPECT_TRUE(one(3).exclude);
    EXPECT_TRUE(one(3).sources.empty());
    EXPECT_FALSE(one(4).exclude);
    EXPECT_EQ(one(4).sources, (std::vector<Nla>{kS1, kS2}));
    EXPECT_TRUE(inherited_members(t.groups, 5).empty());
}

TEST(FastPathTable, AFullSourceEntryIsNotReadAsAnExclusion) {
    // LANs 2..FP_MAX_EGRESS+1 want any source, LAN 1 INCLUDEs S1 too: S1's entry is full
    // with the lowest interfaces and leaves the highest LAN out for want of room, which is
    // no exclusion of S1 there.
    const IfIndex last = 1 + FP_MAX_EGRESS;
    const FastPathTable t =
        groups_table({{kGroup, range(2, last), {{kS1, range(1, last)}}}}, range_set(1, last));
    ASSERT_EQ(t.groups.size(), 2u);
    ASSERT_EQ(t.groups.at(gkey(kGroup, kS1)).n_ifindex, FP_MAX_EGRESS);
    const auto highest = inherited_members(t.groups, last);
    ASSERT_EQ(highest.size(), 1u);
    EXPECT_TRUE(highest[0].exclude);
    EXPECT_TRUE(highest[0].sources.empty());
    const auto lan1 = inherited_members(t.groups, 1);
    ASSERT_EQ(lan1.size(), 1u);
    EXPECT_FALSE(lan1[0].exclude);
    EXPECT_EQ(lan1[0].sources, (std::vector<Nla>{kS1}));
}

TEST(FastPathTable, APreviousProgramsGroupsAreReadOnlyInALayoutThisPgmdKnows) {
    const auto key = static_cast<std::uint32_t>(sizeof(fp_group_key));
    const auto value = static_cast<std::uint32_t>(sizeof(fp_group));
    EXPECT_EQ(foreign_groups_layout(FP_ABI_VERSION, key, value), ForeignGroupsLayout::PerSource);
    // ABI 0 (before D39): keyed by the group alone.
    EXPECT_EQ(foreign_groups_layout(0, 4, value), ForeignGroupsLayout::GroupOnly);
    // A version and key size that do not go together, another version, another value size.
    EXPECT_EQ(foreign_groups_layout(0, key, value), ForeignGroupsLayout::Unreadable);
    EXPECT_EQ(foreign_groups_layout(FP_ABI_VERSION, 4, value), ForeignGroupsLayout::Unreadable);
    EXPECT_EQ(foreign_groups_layout(FP_ABI_VERSION + 1, key, value),
              ForeignGroupsLayout::Unreadable);
    EXPECT_EQ(foreign_groups_layout(FP_ABI_VERSION, key, value + 4),
              ForeignGroupsLayout::Unreadable);
    EXPECT_EQ(foreign_groups_layout(0, 4, value - 4), ForeignGroupsLayout::Unreadable);
}

TEST(FastPathTable, InheritedEntriesOfTheSameKeyMergeTheirInterfaces) {
    // Two interfaces carrying different previous programs, both with (0, G): the members of
    // both are kept, not the last one read.
    std::map<fp_group_key, fp_group, FpGroupKeyLess> inherited;
    const fp_group_key k = gkey(kGroup);
    fp_group a{};
    a.n_ifindex = 2;
    a.ifindex[0] = 3;
    a.ifindex[1] = 1;
    fp_group b{};
    b.n_ifindex = 2;
    b.ifindex[0] = 2;
    b.ifindex[1] = 3;
    merge_inherited(inherited, k, a);
    EXPECT_EQ(inherited.at(k).n_ifindex, 2u);
    merge_inherited(inherited, k, b);
    EXPECT_EQ(ifindexes_of(inherited.at(k)), (std::vector<IfIndex>{1, 2, 3}));
    // More than an entry holds: the lowest.
    fp_group full{};
    full.n_ifindex = FP_MAX_EGRESS;
    for (std::uint32_t i = 0; i < FP_MAX_EGRESS; ++i)
        full.ifindex[i] = 10 + i;
    merge_inherited(inherited, k, full);
    std::vector<IfIndex> want = {1, 2, 3};
    for (IfIndex i = 10; want.size() < FP_MAX_EGRESS; ++i)
        want.push_back(i);
    EXPECT_EQ(ifindexes_of(inherited.at(k)), want);
}

// --- Diffs --------------------------------------------------------------------------------------

class FastPathDiffTest : public ::testing::Test {
  protected:
    FastPathDiffTest() {
        sessions[tsi(1)] = session(kSource, kGroup, 1);
        sessions[tsi(2)] = session(kSource, kGroupB, 1);
        members.by_group[kGroup.to_string()] = {1, 2};
        members.by_group[kGroupB.to_string()] = {3};
    }
    // The table after the one built last (as pgmd builds them: the sessions keep their slots).
    FastPathTable table(std::vector<SkippedSession>* skipped = nullptr) {
        FastPathInputs in;
        in.sessions = &sessions;
        in.dlr_sessions = &dlr;
        in.group_members = members;
        in.attached = attached;
        in.groups = groups;
        in.previous = &last;
        in.session_slots = session_slots;
        last = build_fastpath_table(in, skipped);
        return last;
    }
    std::uint32_t slot(const FastPathTable& t, std::uint8_t n) const {
        return t.sessions.at(fastpath_key(tsi(n))).slot;
    }

    std::map<IfIndex, FastPathInterface> attached = attach({1, 2, 3, 4});
    std::uint32_t session_slots = FP_MAX_SESSIONS;
    FastPathTable last;
    std::unordered_map<Tsi, router::Session> sessions;
    std::unordered_map<Tsi, router::DlrSession> dlr;
    Members members;
    std::vector<GroupMembers> groups;
};

TEST_F(FastPathDiffTest, SameInputsSameTableEmptyDiff) {
    const FastPathTable a = table(), b = table();
    EXPECT_TRUE(a == b);
    EXPECT_TRUE(diff(a, b).empty());
    // From nothing: everything is an upsert, in key order.
    const FastPathDiff d = diff({}, a);
    ASSERT_EQ(d.session_upserts.size(), 2u);
    EXPECT_EQ(tsi_of(d.session_upserts[0].first), tsi(1));
    EXPECT_EQ(tsi_of(d.session_upserts[1].first), tsi(2));
    EXPECT_EQ(d.group_upserts.size(), 2u);
    EXPECT_TRUE(d.session_erasures.empty());
    EXPECT_TRUE(d.group_erasures.empty());
}

TEST_F(FastPathDiffTest, MembershipChangeUpsertsOnlyThatSession) {
    const FastPathTable before = table();
    members.by_group[kGroupB.to_string()] = {3, 4};
    const FastPathTable after = table();
    EXPECT_FALSE(before == after);
    const FastPathDiff d = diff(before, after);
    ASSERT_EQ(d.session_upserts.size(), 1u);
    EXPECT_EQ(tsi_of(d.session_upserts[0].first), tsi(2));
    EXPECT_EQ(egress_of(d.session_upserts[0].second), (std::vector<IfIndex>{3, 4}));
    EXPECT_TRUE(d.session_erasures.empty());
    ASSERT_EQ(d.group_upserts.size(), 1u);
    EXPECT_EQ(d.group_upserts[0].first.group, gkey(kGroupB, kSource).group);
    EXPECT_EQ(d.group_upserts[0].first.source, gkey(kGroupB, kSource).source);
    EXPECT_TRUE(d.group_erasures.empty());
}

TEST_F(FastPathDiffTest, SessionGoneIsErased) {
    const FastPathTable before = table();
    sessions.erase(tsi(2));
    const FastPathDiff d = diff(before, table());
    EXPECT_TRUE(d.session_upserts.empty());
    ASSERT_EQ(d.session_erasures.size(), 1u);
    EXPECT_EQ(tsi_of(d.session_erasures[0]), tsi(2));
    // Its group had members only through it.
    ASSERT_EQ(d.group_erasures.size(), 1u);
    EXPECT_EQ(d.group_erasures[0].group, wire(kGroupB));
    EXPECT_EQ(d.group_erasures[0].source, wire(kSource));
    EXPECT_TRUE(d.group_upserts.empty());
}

TEST_F(FastPathDiffTest, BecomingADlrSessionRewritesItAsPunted) {
    const FastPathTable before = table();
    dlr.try_emplace(tsi(1));
    const FastPathDiff d = diff(before, table());
    ASSERT_EQ(d.session_upserts.size(), 1u);
    EXPECT_EQ(d.session_upserts[0].second.flags, FP_SESSION_PUNT);
    EXPECT_TRUE(d.group_upserts.empty() && d.group_erasures.empty());
}

TEST_F(FastPathDiffTest, ConfiguredGroupKeepsTheEntryWhenTheSessionGoes) {
    groups.push_back({kGroupB, {3}});
    const FastPathTable before = table();
    sessions.erase(tsi(2));
    const FastPathDiff d = diff(before, table());
    EXPECT_EQ(d.session_erasures.size(), 1u);
    EXPECT_TRUE(d.group_erasures.empty());
    EXPECT_TRUE(d.group_upserts.empty());
}

TEST_F(FastPathDiffTest, ChangesComeInKeyOrder) {
    const FastPathTable before = table();
    sessions.erase(tsi(1));
    sessions.erase(tsi(2));
    for (std::uint8_t n : {9, 3, 7, 5})
        sessions[tsi(n)] = session(kSource, kGroup, 1);
    const FastPathDiff d = diff(before, table());
    std::vector<Tsi> upserted, erased;
    for (const auto& [k, v] : d.session_upserts)
        upserted.push_back(tsi_of(k));
    for (const auto& k : d.session_erasures)
        erased.push_back(tsi_of(k));
    EXPECT_EQ(upserted, (std::vector<Tsi>{tsi(3), tsi(5), tsi(7), tsi(9)}));
    EXPECT_EQ(erased, (std::vector<Tsi>{tsi(1), tsi(2)}));
}

// --- Slots ------------------------------------------------------------------------------------

TEST(SlotRing, GivesTheNextFreeSlotRoundRobin) {
    SlotRing r(4);
    EXPECT_EQ(r.take(), 0u);
    EXPECT_EQ(r.take(), 1u);
    r.give_back(0);
    // Not 0, given back a moment ago: the slots after the last one given come first.
    EXPECT_EQ(r.take(), 2u);
    EXPECT_EQ(r.take(), 3u);
    // Nor when it is the only one left: a slot given back is held until release_held().
    EXPECT_TRUE(r.held(0));
    EXPECT_EQ(r.take(), std::nullopt);
    r.release_held();
    EXPECT_FALSE(r.held(0));
    EXPECT_EQ(r.take(), 0u);
    EXPECT_EQ(r.take(), std::nullopt);  // all used
    r.give_back(2);
    r.give_back(2);  // twice: held once
    EXPECT_TRUE(r.used(2));
    r.release_held();
    EXPECT_FALSE(r.used(2));
    EXPECT_TRUE(r.keep(2));
    EXPECT_FALSE(r.keep(2));  // already used
    EXPECT_FALSE(r.keep(4));  // beyond the ring
    EXPECT_EQ(r.take(), std::nullopt);
}

TEST_F(FastPathDiffTest, SessionsKeepTheirSlotsAndNewOnesTakeTheNextFree) {
    const FastPathTable a = table();
    EXPECT_EQ(slot(a, 1), 0u);
    EXPECT_EQ(slot(a, 2), 1u);
    // tsi(1) goes, tsi(3) comes: tsi(2) keeps its slot (its lead is there), tsi(3) takes the
    // next one, not the slot tsi(1) gave back a moment ago.
    sessions.erase(tsi(1));
    sessions[tsi(3)] = session(kSource, kGroup, 1);
    const FastPathTable b = table();
    EXPECT_EQ(slot(b, 2), 1u);
    EXPECT_EQ(slot(b, 3), 2u);
    const FastPathDiff d = diff(a, b);
    ASSERT_EQ(d.session_upserts.size(), 1u);  // tsi(2) is unchanged
    EXPECT_EQ(tsi_of(d.session_upserts[0].first), tsi(3));
    EXPECT_EQ(d.session_upserts[0].second.slot, 2u);
    // A table built afresh (pgmd's state lost) gives slots from where the last one stopped.
    FastPathTable fresh;
    fresh.next_session_slot = b.next_session_slot;
    last = fresh;
    const FastPathTable c = table();
    EXPECT_EQ(slot(c, 2), 3u);
    EXPECT_EQ(slot(c, 3), 4u);
}

// With every slot used, the slot a session gave back is not given in the same rebuild: the
// diff erases the old entry and a program run that looked it up may still write into the
// slot for a moment. The new session waits one rebuild (TableFull), then takes it, and pgmd
// zeroes the slot (FastPath::reset_progress) because the new key was not in the old table.
TEST_F(FastPathDiffTest, AFreedSlotIsNotGivenAgainInTheSameRebuild) {
    session_slots = 2;
    const FastPathTable a = table();
    sessions.erase(tsi(1));
    sessions[tsi(3)] = session(kSource, kGroup, 1);
    std::vector<SkippedSession> skipped;
    const FastPathTable b = table(&skipped);
    EXPECT_EQ(slot(b, 2), 1u);
    EXPECT_FALSE(b.sessions.contains(fastpath_key(tsi(3))));
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].tsi, tsi(3));
    EXPECT_EQ(skipped[0].why, FastPathSkip::TableFull);
    FastPathDiff d = diff(a, b);
    ASSERT_EQ(d.session_erasures.size(), 1u);
    EXPECT_EQ(tsi_of(d.session_erasures[0]), tsi(1));
    EXPECT_TRUE(d.session_upserts.empty());
    // The next rebuild gives it.
    const FastPathTable c = table(&skipped);
    EXPECT_TRUE(skipped.empty());
    EXPECT_EQ(slot(c, 3), 0u);  // tsi(1)'s
    d = diff(b, c);
    EXPECT_TRUE(d.session_erasures.empty());
    ASSERT_EQ(d.session_upserts.size(), 1u);
    EXPECT_EQ(tsi_of(d.session_upserts[0].first), tsi(3));
}

// A write of the table failed part way: pgmd reads back what the kernel holds. The next
// diff erases the entries of sessions the core dropped meanwhile, and no session is given a
// slot an entry in the kernel holds, nor one the failed write may have freed or zeroed a
// moment ago.
TEST_F(FastPathDiffTest, ATableRecoveredFromTheKernelErasesStaleEntriesAndKeepsTheirSlots) {
    session_slots = 3;
    const FastPathTable a = table();  // tsi(1) slot 0, tsi(2) slot 1
    // The core drops tsi(1) and has tsi(3) and tsi(4): the write of this fails at once.
    sessions.erase(tsi(1));
    sessions[tsi(3)] = session(kSource, kGroup, 1);
    sessions[tsi(4)] = session(kSource, kGroup, 1);
    const FastPathTable attempt = table();
    EXPECT_EQ(slot(attempt, 3), 2u);
    EXPECT_FALSE(attempt.sessions.contains(fastpath_key(tsi(4))));  // slot 0 freed just now
    // The kernel still holds a's entries.
    const std::vector<std::pair<fp_session_key, fp_session>> kernel(a.sessions.begin(),
                                                                    a.sessions.end());
    const std::vector<std::pair<fp_group_key, fp_group>> kernel_groups(a.groups.begin(),
                                                                       a.groups.end());
    const FastPathTable recovered = recovered_table(kernel, kernel_groups, a, &attempt);
    EXPECT_TRUE(recovered == a);
    EXPECT_EQ(recovered.held_slots, (std::vector<std::uint32_t>{2}));  // zeroed for tsi(3)
    last = recovered;
    std::vector<SkippedSession> skipped;
    const FastPathTable b = table(&skipped);
    FastPathDiff d = diff(recovered, b);
    ASSERT_EQ(d.session_erasures.size(), 1u);
    EXPECT_EQ(tsi_of(d.session_erasures[0]), tsi(1));
    EXPECT_EQ(slot(b, 2), 1u);
    // Slot 0 is tsi(1)'s in the kernel until this write, slot 2 held: no slot for the others.
    EXPECT_EQ(b.sessions.size(), 1u);
    EXPECT_EQ(skipped.size(), 2u);
    // The write after: slots 0 and 2 are free.
    const FastPathTable c = table();
    EXPECT_EQ(c.sessions.size(), 3u);
    std::set<std::uint32_t> slots;
    for (const auto& [k, v] : c.sessions)
        slots.insert(v.slot);
    EXPECT_EQ(slots, (std::set<std::uint32_t>{0, 1, 2}));

    // Failed after its erasure and the upsert of tsi(3): the kernel has tsi(2) and tsi(3).
    last = a;
    const FastPathTable attempt2 = table();
    std::vector<std::pair<fp_session_key, fp_session>> partial;
    for (std::uint8_t n : {2, 3})
        partial.emplace_back(fastpath_key(tsi(n)), attempt2.sessions.at(fastpath_key(tsi(n))));
    const FastPathTable recovered2 = recovered_table(partial, kernel_groups, a, &attempt2);
    EXPECT_EQ(recovered2.held_slots, (std::vector<std::uint32_t>{0}));  // tsi(1)'s, erased
    EXPECT_EQ(recovered2.next_session_slot, attempt2.next_session_slot);
    last = recovered2;
    const FastPathTable b2 = table();
    d = diff(recovered2, b2);
    EXPECT_TRUE(d.session_erasures.empty());
    EXPECT_TRUE(d.session_upserts.empty());  // tsi(2), tsi(3) as they are; tsi(4) waits
    EXPECT_EQ(slot(b2, 3), 2u);
}

TEST_F(FastPathDiffTest, MoreSessionsThanSlotsLeaveTheHighestKeysToPgmd) {
    session_slots = 2;
    sessions[tsi(3)] = session(kSource, kGroup, 1);
    FastPathInputs in;
    in.sessions = &sessions;
    in.group_members = members;
    in.attached = attached;
    in.session_slots = session_slots;
    std::vector<SkippedSession> skipped;
    const FastPathTable t = build_fastpath_table(in, &skipped);
    EXPECT_EQ(t.sessions.size(), 2u);
    ASSERT_EQ(skipped.size(), 1u);
    EXPECT_EQ(skipped[0].tsi, tsi(3));
    EXPECT_EQ(skipped[0].why, FastPathSkip::TableFull);
}

// The entries carry each egress's MAC and slot: an interface whose MAC changes (or which is
// attached again with another slot) has every session naming it rewritten, nothing else.
TEST_F(FastPathDiffTest, AnInterfaceMacOrSlotChangeRewritesTheSessionsNamingIt) {
    const FastPathTable before = table();
    attached[3].mac[5] = 0x33;
    const FastPathTable mac_changed = table();
    FastPathDiff d = diff(before, mac_changed);
    ASSERT_EQ(d.session_upserts.size(), 1u);
    EXPECT_EQ(tsi_of(d.session_upserts[0].first), tsi(2));  // members {3}
    EXPECT_EQ(d.session_upserts[0].second.egress[0].mac[5], 0x33);
    EXPECT_EQ(d.session_upserts[0].second.slot, slot(before, 2));  // the lead stays
    EXPECT_TRUE(d.group_upserts.empty());
    attached[1].slot = 9;  // tsi(1)'s and tsi(2)'s upstream
    d = diff(mac_changed, table());
    ASSERT_EQ(d.session_upserts.size(), 2u);
    EXPECT_EQ(d.session_upserts[0].second.upstream_slot, 9u);
    EXPECT_EQ(d.session_upserts[1].second.upstream_slot, 9u);
}

// --- From the router core ------------------------------------------------------------------

// up (1) towards the source, down (2) with members.
class TwoInterfaces : public router::Environment {
  public:
    std::optional<Nla> interface_address(IfIndex ifindex, Nla::Family) const override {
        return ifindex == 1 ? Nla::parse("10.0.0.2") : Nla::parse("10.1.0.1");
    }
    std::optional<IfIndex> route_interface(const Nla& address) const override {
        return (address.ipv4_host_order() >> 8) == 0x0a0000 ? 1 : 2;
    }
    void group_members(const Nla&, const Nla&, std::vector<IfIndex>& out) const override {
        out = {1, 2};
    }
};

TEST(FastPathTable, BuiltFromTheRouterCore) {
    TwoInterfaces env;
    router::RouterConfig config;
    router::DlrScope scope;
    scope.group = *Nla::parse("239.2.0.0");
    scope.prefix_length = 16;
    config.dlr.scopes.push_back(scope);
    router::Router core(config, env);
    Output out;
    // Two sessions by their SPMs: one in the DLR scope.
    for (const Nla& group : {kGroup, *Nla::parse("239.2.0.1")}) {
        const Tsi id = group == kGroup ? tsi(1) : tsi(2);
        PacketSpec spm;
        spm.type = PacketType::Spm;
        spm.source_port = id.source_port;
        spm.destination_port = 7500;
        spm.gsi = id.gsi;
        spm.fields = SpmFields{Sqn(1), Sqn(1), Sqn(10), kSource, 0};
        const auto bytes = build(spm);
        ASSERT_TRUE(bytes);
        Arrival a;
        a.ifindex = 1;
        a.ip.source = kSource;
        a.ip.destination = group;
        a.ip.ttl = 16;
        core.on_packet(a, Bytes(bytes->data(), bytes->size()), Time{} + 1s, out);
    }
    ASSERT_EQ(core.sessions().size(), 2u);

    FastPathInputs in;
    in.attached = attach({1, 2});
    const FastPathTable t = build_fastpath_table(core, env, std::move(in));
    ASSERT_EQ(t.sessions.size(), 2u);
    const fp_session& plain = t.sessions.at(fastpath_key(tsi(1)));
    EXPECT_EQ(plain.flags, 0u);
    EXPECT_EQ(egress_of(plain), (std::vector<IfIndex>{2}));
    EXPECT_EQ(t.sessions.at(fastpath_key(tsi(2))).flags, FP_SESSION_PUNT);
    EXPECT_EQ(t.groups.size(), 2u);
}

}  // namespace
}  // namespace pgm::dataplane
