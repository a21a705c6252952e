// IGMP membership and querier (dataplane/membership.h) on a virtual clock: packets are
// built here byte by byte, as hosts and other routers send them.
#include <gtest/gtest.h>

#include <vector>

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

}  // namespace
}  // namespace pgm::dataplane
