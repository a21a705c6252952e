// IGMP membership and querier (dataplane/membership.h) on a virtual clock: packets are
// built here byte by byte, as hosts and other routers send them.
#include <gtest/gtest.h>

#include <algorithm>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "dataplane/fastpath_table.h"
#include "dataplane/membership.h"
#include "protocol/checksum.h"

namespace pgm::dataplane {
namespace {

using namespace std::chrono_literals;

const Nla kGroup = *Nla::parse("239.192.0.1");
const Nla kOther = *Nla::parse("239.192.0.2");
const Nla kUs = *Nla::parse("10.0.0.5");
const Nla kHost = *Nla::parse("10.0.0.20");
const Time t0 = Time{} + 1000s;

void put_checksum(std::vector<std::uint8_t>& b, std::size_t at, std::size_t from) {
    const auto sum =
        static_cast<std::uint16_t>(~ones_complement_sum(Bytes(b.data() + from, b.size() - from)));
    b[at] = static_cast<std::uint8_t>(sum >> 8);
    b[at + 1] = static_cast<std::uint8_t>(sum);
}

// An IPv4 packet (no options) from `source` carrying `igmp`, whose checksum is filled in.
std::vector<std::uint8_t> ip_igmp(const Nla& source, std::vector<std::uint8_t> igmp) {
    std::vector<std::uint8_t> p(20, 0);
    p[0] = 0x45;
    const std::size_t total = 20 + igmp.size();
    p[2] = static_cast<std::uint8_t>(total >> 8);
    p[3] = static_cast<std::uint8_t>(total);
    p[8] = 1;
    p[9] = 2;
    std::copy_n(source.address().begin(), 4, p.begin() + 12);
    p.insert(p.end(), igmp.begin(), igmp.end());
    p[22] = p[23] = 0;
    put_checksum(p, 22, 20);
    return p;
}

std::vector<std::uint8_t> v2(std::uint8_t type, const Nla& group, std::uint8_t code = 0) {
    std::vector<std::uint8_t> m = {type, code, 0, 0};
    m.insert(m.end(), group.address().begin(), group.address().end());
    return m;
}

IgmpMessage parsed(const std::vector<std::uint8_t>& packet) {
    auto m = parse_igmp(packet);
    EXPECT_TRUE(m.has_value());
    return m.value_or(IgmpMessage{});
}

std::vector<IfIndex> members(const Membership& m, const Nla& g) {
    std::vector<IfIndex> out;
    m.members(g, out);
    return out;
}

TEST(Igmp, ParsesV2ReportLeaveAndQuery) {
    auto r = parsed(ip_igmp(kHost, v2(0x16, kGroup)));
    EXPECT_EQ(r.kind, IgmpMessage::Kind::Join);
    EXPECT_EQ(r.group, kGroup);
    EXPECT_EQ(r.source, kHost);
    EXPECT_EQ(parsed(ip_igmp(kHost, v2(0x17, kGroup))).kind, IgmpMessage::Kind::Leave);
    auto q = parsed(ip_igmp(kHost, v2(0x11, Nla::ipv4(0u), 100)));
    EXPECT_EQ(q.kind, IgmpMessage::Kind::Query);
    EXPECT_FALSE(q.group.is_ipv4());
    EXPECT_EQ(q.max_response, Duration(10s));
}

TEST(Igmp, RejectsBadChecksumAndTruncation) {
    auto p = ip_igmp(kHost, v2(0x16, kGroup));
    p[25] ^= 1;
    EXPECT_FALSE(parse_igmp(p));
    auto q = ip_igmp(kHost, v2(0x16, kGroup));
    q.resize(24);
    EXPECT_FALSE(parse_igmp(q));
}

TEST(Igmp, V3ReportRecordsAreJoinsOrLeavesOfTheWholeGroup) {
    // Records: EXCLUDE {} of kGroup (join), TO_IN {} of kOther (leave), BLOCK (ignored),
    // IS_IN {one source} of 239.192.0.3 (join: any-source view).
    std::vector<std::uint8_t> m = {0x22, 0, 0, 0, 0, 0, 0, 4};
    auto record = [&](std::uint8_t type, const Nla& g, std::vector<Nla> sources) {
        m.insert(m.end(), {type, 0, 0, static_cast<std::uint8_t>(sources.size())});
        m.insert(m.end(), g.address().begin(), g.address().end());
        for (const Nla& s : sources)
            m.insert(m.end(), s.address().begin(), s.address().end());
    };
    record(2, kGroup, {});
    record(3, kOther, {});
    record(6, kGroup, {kHost});
    record(1, *Nla::parse("239.192.0.3"), {kHost});
    auto r = parsed(ip_igmp(kHost, m));
    ASSERT_EQ(r.records.size(), 3u);
    EXPECT_EQ(r.records[0].kind, IgmpMessage::Kind::Join);
    EXPECT_EQ(r.records[0].group, kGroup);
    EXPECT_EQ(r.records[1].kind, IgmpMessage::Kind::Leave);
    EXPECT_EQ(r.records[1].group, kOther);
    EXPECT_EQ(r.records[2].kind, IgmpMessage::Kind::Join);
}

TEST(Membership, StaticGroupsAreMembersWithoutIgmp) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, false, {kGroup}, t0);
    m.add_interface(4, kUs, false, {}, t0);
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
    std::vector<IgmpQuery> q;
    m.on_timer(t0 + 1h, q);
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
    m.set_static_groups(3, {});
    EXPECT_TRUE(members(m, kGroup).empty());
}

TEST(Membership, ReportJoinsUntilTheGroupMembershipIntervalEnds) {
    const IgmpTimers timers;  // GMI 260 s
    Membership m{timers};
    m.add_interface(3, kUs, false, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x16, kGroup))), t0, q);
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
    EXPECT_EQ(m.next_deadline(), t0 + 260s);
    m.on_timer(t0 + 259s, q);
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x16, kGroup))), t0 + 259s, q);  // refreshed
    m.on_timer(t0 + 300s, q);
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
    m.on_timer(t0 + 259s + 260s, q);
    EXPECT_TRUE(members(m, kGroup).empty());
    EXPECT_TRUE(q.empty());  // not a querier: sent nothing
}

TEST(Membership, QuerierSendsStartupQueriesThenEveryQueryInterval) {
    const IgmpTimers timers;  // robustness 2, QI 125 s, startup interval 31.25 s
    Membership m{timers};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_timer(t0, q);
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].ifindex, 3u);
    EXPECT_EQ(q[0].source, kUs);
    EXPECT_FALSE(q[0].group.is_ipv4());
    EXPECT_EQ(q[0].max_response, Duration(10s));
    EXPECT_EQ(m.next_deadline(), t0 + timers.startup_query_interval());
    q.clear();
    m.on_timer(m.next_deadline(), q);
    EXPECT_EQ(q.size(), 1u);
    const Time second = t0 + timers.startup_query_interval();
    EXPECT_EQ(m.next_deadline(), second + 125s);
}

TEST(Membership, LeaveMakesTheQuerierAskThenTheGroupEnds) {
    const IgmpTimers timers;  // LMQI 1 s, robustness 2: LMQT 2 s
    Membership m{timers};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_timer(t0, q);
    q.clear();
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x16, kGroup))), t0, q);
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x17, kGroup))), t0 + 10s, q);
    m.on_timer(t0 + 10s, q);
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].group, kGroup);
    EXPECT_EQ(q[0].max_response, Duration(1s));
    q.clear();
    m.on_timer(t0 + 11s, q);
    EXPECT_EQ(q.size(), 1u);  // the second of `robustness` group-specific queries
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
    m.on_timer(t0 + 12s, q);
    EXPECT_TRUE(members(m, kGroup).empty());
}

TEST(Membership, ReportAfterLeaveKeepsTheGroup) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x16, kGroup))), t0, q);
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x17, kGroup))), t0 + 10s, q);
    m.on_igmp(3, parsed(ip_igmp(*Nla::parse("10.0.0.21"), v2(0x16, kGroup))), t0 + 10500ms, q);
    m.on_timer(t0 + 13s, q);
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
}

TEST(Membership, StandsDownForALowerQuerierAndTakesOverWhenItIsGone) {
    const IgmpTimers timers;  // other querier present interval: 255 s
    Membership m{timers};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_timer(t0, q);
    q.clear();
    // A higher address does not make us stand down.
    m.on_igmp(3, parsed(ip_igmp(*Nla::parse("10.0.0.9"), v2(0x11, Nla::ipv4(0u), 100))), t0, q);
    EXPECT_TRUE(m.interfaces().at(3).querier);
    m.on_igmp(3, parsed(ip_igmp(*Nla::parse("10.0.0.1"), v2(0x11, Nla::ipv4(0u), 100))), t0 + 1s,
              q);
    EXPECT_FALSE(m.interfaces().at(3).querier);
    m.on_timer(t0 + 200s, q);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(m.next_deadline(), t0 + 1s + 255s);
    m.on_timer(t0 + 256s, q);
    EXPECT_TRUE(m.interfaces().at(3).querier);
    EXPECT_EQ(q.size(), 1u);
}

TEST(Membership, GroupSpecificQueryOfAnotherQuerierShortensTheTimer) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    const Nla lower = *Nla::parse("10.0.0.1");
    m.on_igmp(3, parsed(ip_igmp(lower, v2(0x11, Nla::ipv4(0u), 100))), t0, q);
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x16, kGroup))), t0, q);
    m.on_igmp(3, parsed(ip_igmp(kHost, v2(0x17, kGroup))), t0 + 1s, q);  // we do not act
    EXPECT_EQ(members(m, kGroup), std::vector<IfIndex>{3});
    m.on_igmp(3, parsed(ip_igmp(lower, v2(0x11, kGroup, 10))), t0 + 1s, q);  // 1 s max resp
    m.on_timer(t0 + 3s, q);
    EXPECT_TRUE(members(m, kGroup).empty());
    EXPECT_TRUE(q.empty());
}

TEST(Membership, QueryPacketIsAValidIgmpv3QueryWithRouterAlert) {
    std::array<std::uint8_t, kIgmpQueryPacketSize> b{};
    const std::size_t n = build_igmp_query(b, IgmpQuery{3, kUs, Nla(), 10s}, IgmpTimers{});
    ASSERT_EQ(n, kIgmpQueryPacketSize);
    EXPECT_EQ(b[0], 0x46);
    EXPECT_EQ(b[8], 1);  // TTL
    EXPECT_EQ(b[20], 0x94);
    EXPECT_EQ(ones_complement_sum(Bytes(b.data(), 24)), 0xFFFF);
    EXPECT_EQ(Bytes(b.data() + 16, 4)[0], 224);
    auto m = parse_igmp(Bytes(b.data(), n));
    ASSERT_TRUE(m);
    EXPECT_EQ(m->kind, IgmpMessage::Kind::Query);
    EXPECT_EQ(m->source, kUs);
    EXPECT_EQ(m->max_response, Duration(10s));
    EXPECT_EQ(b[24 + 8], 2);    // QRV
    EXPECT_EQ(b[24 + 9], 125);  // QQIC
}

// --- IGMPv3 source filtering (RFC 3376 §6.4) ------------------------------------------------

const Nla kS1 = *Nla::parse("10.9.0.1");
const Nla kS2 = *Nla::parse("10.9.0.2");

// An IGMPv3 report of `records` (type, group, sources).
std::vector<std::uint8_t> v3(
    const std::vector<std::tuple<std::uint8_t, Nla, std::vector<Nla>>>& records) {
    std::vector<std::uint8_t> m = {0x22, 0, 0, 0,
                                   0,    0, 0, static_cast<std::uint8_t>(records.size())};
    for (const auto& [type, g, sources] : records) {
        m.insert(m.end(), {type, 0, 0, static_cast<std::uint8_t>(sources.size())});
        m.insert(m.end(), g.address().begin(), g.address().end());
        for (const Nla& src : sources)
            m.insert(m.end(), src.address().begin(), src.address().end());
    }
    return m;
}
IgmpMessage report(std::uint8_t type, std::vector<Nla> sources, const Nla& group = kGroup) {
    return parsed(ip_igmp(kHost, v3({{type, group, std::move(sources)}})));
}
constexpr std::uint8_t kIsIn = 1, kIsEx = 2, kToIn = 3, kToEx = 4, kAllow = 5, kBlock = 6;

std::vector<IfIndex> members(const Membership& m, const Nla& source, const Nla& g) {
    std::vector<IfIndex> out;
    m.members(source, g, out);
    return out;
}
const std::vector<IfIndex> kThree{3};
const std::vector<IfIndex> kNone{};

TEST(Igmp, V3ReportKeepsEveryRecordWithItsSources) {
    auto r = report(kBlock, {kS1, kS2});
    EXPECT_EQ(r.version, 3);
    ASSERT_EQ(r.group_records.size(), 1u);
    EXPECT_EQ(r.group_records[0].type, IgmpRecordType::Block);
    EXPECT_EQ(r.group_records[0].group, kGroup);
    EXPECT_EQ(r.group_records[0].sources, (std::vector<Nla>{kS1, kS2}));
    EXPECT_EQ(parsed(ip_igmp(kHost, v2(0x16, kGroup))).version, 2);
}

TEST(Membership, IncludeReportWantsItsSourcesOnlyUntilTheirTimersEnd) {
    Membership m{IgmpTimers{}};  // GMI 260 s
    m.add_interface(3, kUs, false, {}, t0);
    std::vector<IgmpQuery> q;
    const auto v = m.version();
    m.on_igmp(3, report(kIsIn, {kS1}), t0, q);
    EXPECT_NE(m.version(), v);
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    EXPECT_EQ(members(m, kS2, kGroup), kNone);
    EXPECT_EQ(members(m, kGroup), kThree);  // some source is wanted
    m.on_igmp(3, report(kAllow, {kS2}), t0 + 100s, q);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
    EXPECT_EQ(m.next_deadline(), t0 + 260s);
    m.on_timer(t0 + 260s, q);  // S1's timer ends, S2's runs on
    EXPECT_EQ(members(m, kS1, kGroup), kNone);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
    EXPECT_EQ(m.interfaces().at(3).groups.at(kGroup).expires, t0 + 360s);
    m.on_timer(t0 + 360s, q);
    EXPECT_TRUE(m.interfaces().at(3).groups.empty());
    EXPECT_TRUE(q.empty());
}

TEST(Membership, ExcludeOfNothingIsAnySourceAndExcludeOfASourceBlocksIt) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, false, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_igmp(3, report(kToEx, {kS2}), t0, q);  // INCLUDE {} -> EXCLUDE {S2}: blocked at once
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    EXPECT_EQ(members(m, kS2, kGroup), kNone);
    m.on_igmp(3, report(kAllow, {kS2}), t0 + 1s, q);  // out of the exclude list
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
    m.on_igmp(3, report(kIsEx, {}), t0 + 2s, q);  // EXCLUDE {}: every source
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
    // In EXCLUDE mode another host's IS_EX {S2} does not block S2 before its timer ends
    // (§6.4.1: A-X-Y = GMI): other members may still want it until they answer.
    m.on_igmp(3, report(kIsEx, {kS2}), t0 + 3s, q);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
}

TEST(Membership, GroupTimerEndTurnsExcludeIntoIncludeOfTheRequestedSources) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, false, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_igmp(3, report(kToEx, {kS2}), t0, q);          // group timer t0 + 260 s, S2 excluded
    m.on_igmp(3, report(kAllow, {kS1}), t0 + 100s, q);  // S1 until t0 + 360 s
    m.on_timer(t0 + 260s, q);
    const Membership::GroupState& g = m.interfaces().at(3).groups.at(kGroup);
    EXPECT_FALSE(g.exclude);
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    EXPECT_EQ(members(m, *Nla::parse("10.9.0.3"), kGroup), kNone);  // no longer any source
    m.on_timer(t0 + 360s, q);
    EXPECT_TRUE(members(m, kGroup).empty());
}

TEST(Membership, QuerierAsksAboutBlockedSourcesAndDropsThemUnlessReportedAgain) {
    const IgmpTimers timers;  // LMQI 1 s, robustness 2: LMQT 2 s
    Membership m{timers};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_timer(t0, q);
    q.clear();
    m.on_igmp(3, report(kIsIn, {kS1, kS2}), t0, q);
    m.on_igmp(3, report(kBlock, {kS1}), t0 + 10s, q);
    m.on_timer(t0 + 10s, q);
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].group, kGroup);
    EXPECT_EQ(q[0].sources, std::vector<Nla>{kS1});  // Q(G,A*B)
    EXPECT_EQ(q[0].max_response, Duration(1s));
    q.clear();
    m.on_timer(t0 + 11s, q);
    EXPECT_EQ(q.size(), 1u);
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    m.on_timer(t0 + 12s, q);
    EXPECT_EQ(members(m, kS1, kGroup), kNone);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
    // TO_IN {} (the last member leaves): Q(G,A), then the group ends; a report in between
    // would have kept it.
    q.clear();
    m.on_igmp(3, report(kToIn, {}), t0 + 20s, q);
    m.on_timer(t0 + 20s, q);
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].sources, std::vector<Nla>{kS2});
    m.on_igmp(3, report(kIsIn, {kS2}), t0 + 21s, q);
    m.on_timer(t0 + 23s, q);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
    m.on_igmp(3, report(kToIn, {}), t0 + 30s, q);
    m.on_timer(t0 + 32s, q);
    EXPECT_TRUE(m.interfaces().at(3).groups.empty());
}

TEST(Membership, NonQuerierOnlyLowersSourceTimersWhenTheQuerierAsks) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    const Nla lower = *Nla::parse("10.0.0.1");
    m.on_igmp(3, parsed(ip_igmp(lower, v2(0x11, Nla::ipv4(0u), 100))), t0, q);
    m.on_igmp(3, report(kIsIn, {kS1}), t0, q);
    m.on_igmp(3, report(kBlock, {kS1}), t0 + 1s, q);  // not ours to ask
    m.on_timer(t0 + 5s, q);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    // The querier's Q(G,{S1}) with 1 s max response: 2 s left.
    IgmpQuery gsq{3, lower, kGroup, 1s, {kS1}};
    std::vector<std::uint8_t> packet(igmp_query_size(gsq));
    ASSERT_EQ(build_igmp_query(packet, gsq, IgmpTimers{}), packet.size());
    const IgmpMessage heard = parsed(packet);
    EXPECT_EQ(heard.query_sources, std::vector<Nla>{kS1});
    m.on_igmp(3, heard, t0 + 5s, q);
    m.on_timer(t0 + 7s, q);
    EXPECT_EQ(members(m, kS1, kGroup), kNone);
}

// An IGMPv3 query for `group` (None: general) with the S flag as given, QRV 2, `code`.
std::vector<std::uint8_t> v3_query(const Nla& group, bool suppress, std::uint8_t code,
                                   const std::vector<Nla>& sources = {}) {
    std::vector<std::uint8_t> m = {0x11, code, 0, 0};
    const Nla g = group.is_ipv4() ? group : Nla::ipv4(0u);
    m.insert(m.end(), g.address().begin(), g.address().end());
    m.insert(m.end(), {static_cast<std::uint8_t>((suppress ? 0x08 : 0) | 2), 125, 0,
                       static_cast<std::uint8_t>(sources.size())});
    for (const Nla& a : sources)
        m.insert(m.end(), a.address().begin(), a.address().end());
    return m;
}

// RFC 3376 §4.1.5, §6.6.1: a query with S set leaves the timers of other routers alone,
// whether it asks about the group or some of its sources; the election still runs.
TEST(Membership, QueryWithTheSuppressFlagLeavesTheGroupTimerAlone) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    const Nla lower = *Nla::parse("10.0.0.1");
    m.on_igmp(3, report(kIsEx, {}), t0, q);
    const Time gmi = t0 + IgmpTimers{}.group_membership_interval();
    ASSERT_EQ(m.interfaces().at(3).groups.at(kGroup).expires, gmi);

    const IgmpMessage sgq = parsed(ip_igmp(lower, v3_query(kGroup, true, 10, {kS1})));
    EXPECT_TRUE(sgq.suppress);
    EXPECT_EQ(sgq.query_sources, std::vector<Nla>{kS1});
    m.on_igmp(3, sgq, t0 + 1s, q);
    EXPECT_FALSE(m.interfaces().at(3).querier);  // the election ran
    EXPECT_EQ(m.interfaces().at(3).other_querier, lower);
    EXPECT_EQ(m.interfaces().at(3).groups.at(kGroup).expires, gmi);
    m.on_igmp(3, parsed(ip_igmp(lower, v3_query(kGroup, true, 10))), t0 + 1s, q);
    EXPECT_EQ(m.interfaces().at(3).groups.at(kGroup).expires, gmi);
    m.on_timer(t0 + 5s, q);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);

    // The same Q(G) without S: 2 x 1 s left.
    const IgmpMessage gq = parsed(ip_igmp(lower, v3_query(kGroup, false, 10)));
    EXPECT_FALSE(gq.suppress);
    m.on_igmp(3, gq, t0 + 5s, q);
    EXPECT_EQ(m.interfaces().at(3).groups.at(kGroup).expires, t0 + 7s);
    m.on_timer(t0 + 7s, q);
    EXPECT_EQ(members(m, kS2, kGroup), kNone);
}

// A host reporting ever new sources: a group learns kMaxLearntSources per interface, the
// rest are refused and counted; static sources come on top. A report that changes nothing
// wanted leaves version() alone (the daemon recomputes forwarding and joins when it moves).
TEST(Membership, LearntSourcesPerGroupAreCappedAndRepeatsDoNotMoveTheVersion) {
    Membership m{IgmpTimers{}};
    const Nla fixed = *Nla::parse("10.8.0.1");
    m.add_interface(3, kUs, true, {}, t0, {SourceGroup{fixed, kGroup}});
    std::vector<IgmpQuery> q;
    std::vector<Nla> many;
    for (std::uint32_t i = 0; i < Membership::kMaxLearntSources + 6; ++i)
        many.push_back(Nla::ipv4(0x0A090100u + i));  // 10.9.1.x
    m.on_igmp(3, report(kAllow, many), t0, q);
    EXPECT_EQ(m.interfaces().at(3).groups.at(kGroup).sources.size(),
              Membership::kMaxLearntSources + 1);
    EXPECT_EQ(m.sources_refused(), 6u);
    EXPECT_EQ(members(m, many[Membership::kMaxLearntSources - 1], kGroup), kThree);
    EXPECT_EQ(members(m, many[Membership::kMaxLearntSources], kGroup), kNone);
    EXPECT_EQ(members(m, fixed, kGroup), kThree);
    // A refreshing report (or a query of a higher-addressed router) does not move the
    // version; a new group does.
    const std::uint64_t version = m.version();
    m.on_igmp(3, report(kIsIn, {many[0]}), t0 + 10s, q);
    m.on_igmp(3, parsed(ip_igmp(*Nla::parse("10.0.0.200"), v3_query(kGroup, false, 10))), t0 + 11s,
              q);
    EXPECT_EQ(m.version(), version);
    m.on_igmp(3, report(kIsEx, {}, kOther), t0 + 12s, q);
    EXPECT_NE(m.version(), version);
    // Refused sources do not hold the group to its old state: a leave of the learnt ones
    // frees room for others.
    m.on_igmp(3, report(kToIn, {}), t0 + 20s, q);
    m.on_timer(t0 + 40s, q);
    m.on_igmp(3, report(kAllow, {many.back()}), t0 + 40s, q);
    EXPECT_EQ(members(m, many.back(), kGroup), kThree);
}

TEST(Membership, Igmpv2ReportIsAnySourceAndIgnoresBlocksWhileV2HostsAreThere) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_igmp(3, report(kIsIn, {kS1}), t0, q);
    EXPECT_EQ(members(m, kS2, kGroup), kNone);
    m.on_igmp(3, parsed(ip_igmp(*Nla::parse("10.0.0.21"), v2(0x16, kGroup))), t0 + 1s, q);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
    // Compatibility mode (§7.3.2): TO_EX {S2} is TO_EX {}, BLOCK is ignored.
    m.on_igmp(3, report(kToEx, {kS2}), t0 + 2s, q);
    m.on_igmp(3, report(kBlock, {kS2}), t0 + 2s, q);
    m.on_timer(t0 + 10s, q);
    EXPECT_EQ(members(m, kS2, kGroup), kThree);
}

TEST(Membership, StaticSourcesAreWantedForTheirSourceOnly) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, false, {}, t0, {SourceGroup{kS1, kGroup}});
    m.add_interface(4, kUs, false, {kGroup}, t0);
    EXPECT_EQ(members(m, kS1, kGroup), (std::vector<IfIndex>{3, 4}));
    EXPECT_EQ(members(m, kS2, kGroup), std::vector<IfIndex>{4});
    std::vector<IgmpQuery> q;
    // A learnt exclusion does not take away a static source.
    m.on_igmp(3, report(kIsEx, {kS1}), t0, q);
    EXPECT_EQ(members(m, kS1, kGroup), (std::vector<IfIndex>{3, 4}));
    m.on_timer(t0 + 1h, q);
    EXPECT_EQ(members(m, kS1, kGroup), (std::vector<IfIndex>{3, 4}));
    EXPECT_EQ(members(m, kS2, kGroup), std::vector<IfIndex>{4});
    m.set_static_groups(3, {});
    EXPECT_EQ(members(m, kS1, kGroup), std::vector<IfIndex>{4});
    EXPECT_FALSE(m.interfaces().at(3).groups.contains(kGroup));
}

// What the daemon joins upstream source-specific (Daemon::learnt_source_joins): a member
// of (S1, G) and an any-source member on the same link make the group EXCLUDE mode, and S1
// must still be asked for upstream (an SSM router upstream sends nothing otherwise), as must
// a static (S, G); an excluded source is not.
TEST(Membership, SourceSpecificJoinsStayInExcludeMode) {
    Membership m{IgmpTimers{}};
    const Nla fixed = *Nla::parse("10.8.0.1");
    const Nla kS3 = *Nla::parse("10.9.0.3");
    m.add_interface(3, kUs, true, {}, t0, {SourceGroup{fixed, kGroup}});
    std::vector<IgmpQuery> q;
    std::vector<std::pair<IfIndex, SourceGroup>> joins;
    const std::pair<IfIndex, SourceGroup> s1{3, {kS1, kGroup}}, st{3, {fixed, kGroup}};
    m.on_igmp(3, report(kIsIn, {kS1}), t0, q);
    m.source_specific(joins);
    EXPECT_EQ(joins, (std::vector{st, s1}));
    m.on_igmp(3, report(kIsEx, {kS3}), t0 + 1s, q);  // another host: any source but S3
    ASSERT_TRUE(m.interfaces().at(3).groups.at(kGroup).exclude);
    m.on_igmp(3, report(kIsIn, {kS1}), t0 + 2s, q);
    m.source_specific(joins);
    EXPECT_EQ(joins, (std::vector{st, s1}));
    EXPECT_EQ(members(m, kS3, kGroup), kNone);
    // The any-source member's next report deletes S1 from the requested sources (RFC 3376
    // §6.4.1: IS_EX deletes X-A) until the INCLUDE member reports again; S1 is wanted as
    // any source meanwhile (the daemon keeps its join while the link wants S1:
    // Daemon::update_source_wanted()). The static pair stays.
    m.on_igmp(3, report(kIsEx, {kS3}), t0 + 200s, q);
    m.source_specific(joins);
    EXPECT_EQ(joins, (std::vector{st}));
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    EXPECT_EQ(members(m, kS3, kGroup), kNone);
    m.on_igmp(3, report(kIsIn, {kS1}), t0 + 201s, q);
    m.source_specific(joins);
    EXPECT_EQ(joins, (std::vector{st, s1}));
}

// The daemon's inherited members at a restart (a made-up join, then query_group()): asked
// at once with group-specific queries; kept if a member answers, gone after the Last
// Member Query Time (2 x 1 s) if nobody does, not after 260 s.
TEST(Membership, MadeUpMembersAreAskedAtOnce) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    for (const Nla& g : {kGroup, kOther}) {
        IgmpMessage join;
        join.group = g;
        m.on_igmp(3, join, t0, q);
        m.query_group(3, g, t0);
    }
    EXPECT_EQ(m.interfaces().at(3).groups.at(kGroup).expires, t0 + 2s);
    m.on_timer(t0, q);
    EXPECT_EQ(
        std::count_if(q.begin(), q.end(), [](const IgmpQuery& x) { return x.group == kGroup; }), 1);
    m.on_igmp(3, report(kIsEx, {}), t0 + 500ms, q);  // a member of kGroup answers
    m.on_timer(t0 + 2s, q);
    EXPECT_EQ(members(m, kGroup), kThree);
    EXPECT_EQ(members(m, kOther), kNone);
}

// Inherited INCLUDE members (a made-up IS_IN record, then query_group()): asked at once with
// group-and-source-specific queries; a source a member reports again stays, the other goes
// after the Last Member Query Time.
TEST(Membership, MadeUpIncludeMembersAreAskedAboutTheirSources) {
    Membership m{IgmpTimers{}};
    m.add_interface(3, kUs, true, {}, t0);
    std::vector<IgmpQuery> q;
    m.on_igmp(3, report(kIsIn, {kS1, kS2}), t0, q);
    const std::uint64_t before = m.version();
    m.query_group(3, kGroup, t0);
    EXPECT_EQ(m.version(), before);  // still wanted until the queries go unanswered
    m.on_timer(t0, q);
    const auto asked =
        std::find_if(q.begin(), q.end(), [](const IgmpQuery& x) { return x.group == kGroup; });
    ASSERT_NE(asked, q.end());
    EXPECT_EQ(asked->sources, (std::vector<Nla>{kS1, kS2}));
    m.on_igmp(3, report(kIsIn, {kS1}), t0 + 500ms, q);  // S1's member answers
    m.on_timer(t0 + 2s, q);
    EXPECT_EQ(members(m, kS1, kGroup), kThree);
    EXPECT_EQ(members(m, kS2, kGroup), kNone);
}

TEST(Membership, GroupAndSourceQueryPacketCarriesItsSources) {
    const IgmpQuery query{3, kUs, kGroup, 1s, {kS1, kS2}};
    std::vector<std::uint8_t> b(igmp_query_size(query));
    ASSERT_EQ(b.size(), kIgmpQueryPacketSize + 8);
    ASSERT_EQ(build_igmp_query(b, query, IgmpTimers{}), b.size());
    EXPECT_EQ(Bytes(b.data() + 16, 4)[0], 239);  // to the group
    EXPECT_EQ(ones_complement_sum(Bytes(b.data() + 24, b.size() - 24)), 0xFFFF);
    auto m = parse_igmp(b);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->group, kGroup);
    EXPECT_EQ(m->query_sources, (std::vector<Nla>{kS1, kS2}));
    std::vector<std::uint8_t> small(kIgmpQueryPacketSize);
    EXPECT_EQ(build_igmp_query(small, query, IgmpTimers{}), 0u);
}

// The kernel fast path's table (fastpath_table.h) from this membership, as the daemon builds
// it (Daemon::group_members): each session's egress is where its source is wanted.
TEST(Membership, FastPathTableForwardsASessionOnlyWhereItsSourceIsWanted) {
    Membership m{IgmpTimers{}};
    m.add_interface(1, kUs, false, {}, t0);  // upstream
    m.add_interface(2, kUs, true, {}, t0);
    m.add_interface(3, kUs, true, {}, t0);
    m.add_interface(4, kUs, false, {kGroup}, t0);  // static, any source
    std::vector<IgmpQuery> q;
    m.on_igmp(2, report(kIsIn, {kS1}), t0, q);
    m.on_igmp(3, report(kIsEx, {}), t0, q);

    const Tsi from_s1{Gsi{{1, 2, 3, 4, 5, 1}}, 1001};
    const Tsi from_s2{Gsi{{1, 2, 3, 4, 5, 2}}, 1002};
    std::unordered_map<Tsi, router::Session> sessions;
    for (const auto& [tsi, source] : {std::pair{from_s1, kS1}, std::pair{from_s2, kS2}}) {
        router::Session& s = sessions[tsi];
        s.source = source;
        s.group = kGroup;
        s.upstream_interface = 1;
    }
    FastPathInputs in;
    in.sessions = &sessions;
    in.group_members = [&m](const Nla& source, const Nla& group, std::vector<IfIndex>& out) {
        m.members(source, group, out);
    };
    for (IfIndex i : {1u, 2u, 3u, 4u})
        in.attached[i] = FastPathInterface{{2, 0, 0, 0, 0, static_cast<std::uint8_t>(i)},
                                           static_cast<std::uint16_t>(i)};
    auto egress = [](const FastPathTable& t, const Tsi& tsi) {
        const fp_session& v = t.sessions.at(fastpath_key(tsi));
        std::vector<IfIndex> r;
        for (std::uint32_t i = 0; i < v.n_egress; ++i)
            r.push_back(v.egress[i].ifindex);
        return r;
    };
    const FastPathTable before = build_fastpath_table(in);
    EXPECT_EQ(egress(before, from_s1), (std::vector<IfIndex>{2, 3, 4}));
    EXPECT_EQ(egress(before, from_s2), (std::vector<IfIndex>{3, 4}));

    // Interface 2's member switches to S2: only the two sessions' entries change.
    m.on_igmp(2, report(kToIn, {kS2}), t0 + 1s, q);
    m.on_timer(t0 + 3s, q);  // S1's lowered timer (Q(G,{S1}) unanswered) ends
    in.previous = &before;
    const FastPathTable after = build_fastpath_table(in);
    EXPECT_EQ(egress(after, from_s1), (std::vector<IfIndex>{3, 4}));
    EXPECT_EQ(egress(after, from_s2), (std::vector<IfIndex>{2, 3, 4}));
    const FastPathDiff d = diff(before, after);
    EXPECT_EQ(d.session_upserts.size(), 2u);
    EXPECT_TRUE(d.session_erasures.empty());
}

}  // namespace
}  // namespace pgm::dataplane
